#!/usr/bin/env bash
# Starts a throw-away Samba 4 Active Directory domain controller on loopback for the directory
# tests, seeded with one user per account state the tests exercise, and writes DIR/ad.env. Its KDC
# serves the Kerberos tests: the STS's SPN on a service account, its keytab and a krb5.conf in DIR.
#
#   sudo bash test/setup/samba-ad.sh [DIR]        DIR defaults to /tmp/openfed-samba-ad
#   sudo bash test/setup/samba-ad-stop.sh [DIR] [--purge]
#
# Everything lives under DIR: databases, smb.conf, pid file, logs, TLS material, keytab, krb5.conf,
# ad.env. Nothing is written to /etc/samba, /var/lib/samba or /etc/krb5.conf. A DC already running
# from DIR is stopped and replaced by a fresh one, so every test run starts from a known state.
#
# Knobs (environment, all optional):
#   OPENFED_AD_TEMPLATE   tarball of a provisioned+seeded DIR. Default: one per ISO week and version
#                         of this script in /tmp: seeded passwords expire after AD's default
#                         maxPwdAge of 42 days, and a changed seed must not reuse an old template.
#                         When it exists, start takes ~2 s instead of ~15 s. "none" disables it.
#   OPENFED_AD_WAIT_SECS  readiness timeout (default 90)
set -euo pipefail

DIR=${1:-/tmp/openfed-samba-ad}
REALM=CORP.EXAMPLE.TEST
DNS_DOMAIN=${REALM,,}
NETBIOS=CORP
SECOND_SUFFIX=contoso.test
DC_HOST=dc1
# The STS's Kerberos identity: browsers ask the KDC for HTTP/<the host name they connect to>.
STS_HOST=sts.$DNS_DOMAIN
SPN=HTTP/$STS_HOST
HTTP_SVC=svc-sts-http
HTTP_SVC_PASSWORD='H77p-0penFed-Passw0rd!'
ADMIN_PASSWORD='Adm1n-0penFed-Passw0rd!'
IP=127.0.0.1 # Samba's LDAP ports (389/636/3268/3269) are fixed, so one DC per host
BASE_DN="DC=${DNS_DOMAIN//./,DC=}"
TEMPLATE=${OPENFED_AD_TEMPLATE:-/tmp/openfed-samba-ad-template-$(date +%G-W%V)-$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-8).tgz}
WAIT_SECS=${OPENFED_AD_WAIT_SECS:-90}
CONF="$DIR/etc/smb.conf"
PIDFILE="$DIR/run/samba.pid"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Samba's python bindings are in Debian's interpreter, not in a pyenv/venv python that may come first.
PY=/usr/bin/python3

T0=$EPOCHREALTIME
log() { printf '[samba-ad %5.1fs] %s\n' "$(awk "BEGIN{print $EPOCHREALTIME-$T0}")" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root: samba binds privileged ports"
case "$DIR" in /|/etc*|/usr*|/var*|/home|"") die "refusing DIR=$DIR" ;; esac

# ------------------------------------------------------------------------------------ packages
missing=()
# samba-ad-provision holds the schema LDIFs and is only a Recommends of samba-ad-dc: without it
# provisioning fails with "AD_DS_Attributes__Windows_Server_2012_R2.ldf not found".
for p in samba samba-ad-dc samba-ad-provision samba-dsdb-modules samba-common-bin python3-samba \
  winbind ldb-tools ldap-utils openssl krb5-user; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  # Older releases lack the split samba-ad-* packages; install only what the archive has.
  available=()
  for p in "${missing[@]}"; do apt-cache show "$p" >/dev/null 2>&1 && available+=("$p"); done
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${available[@]}" >/tmp/openfed-samba-apt.log 2>&1 ||
    { tail -20 /tmp/openfed-samba-apt.log >&2; die "apt-get install failed"; }
  # On a systemd runner the packages start their own daemons, which would hold our ports.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl stop samba-ad-dc smbd nmbd winbind 2>/dev/null || true
  fi
fi

# ------------------------------------------------------------------------------------ old instance
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  log "a DC is already running from $DIR; replacing it"
  bash "$HERE/samba-ad-stop.sh" "$DIR"
fi
port_open() { (exec 3<>"/dev/tcp/$IP/$1") 2>/dev/null; }
for port in 389 636 3268 88; do
  port_open $port && die "port $port is taken by something else (another DC or slapd?)"
done

# ------------------------------------------------------------------------------------ provision
make_tls() {
  # Samba's auto-generated certificate has no subjectAltName, so a client that verifies the host
  # name (as OpenFed does) could not connect to 127.0.0.1. Our own CA lets tests verify for real.
  mkdir -p "$DIR/tls" && cd "$DIR/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -keyout ca.key -out ca.pem \
    -subj "/O=OpenFed test/CN=OpenFed test AD CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -sha256 -keyout key.pem -out dc.csr \
    -subj "/O=OpenFed test/CN=$DC_HOST.$DNS_DOMAIN" 2>/dev/null
  cat >dc.ext <<EOF
subjectAltName=DNS:$DC_HOST.$DNS_DOMAIN,DNS:$DNS_DOMAIN,DNS:localhost,IP:127.0.0.1,IP:::1
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment
basicConstraints=CA:FALSE
EOF
  openssl x509 -req -sha256 -days 825 -in dc.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out cert.pem -extfile dc.ext 2>/dev/null
  # An unrelated CA, for the test that a DC certificate from the wrong issuer fails closed.
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -keyout other-ca.key -out other-ca.pem \
    -subj "/O=OpenFed test/CN=Unrelated CA" 2>/dev/null
  chmod 600 key.pem ca.key other-ca.key # samba refuses a world-readable key
  rm -f dc.csr dc.ext
  cd - >/dev/null
}

provision() {
  log "provisioning $REALM into $DIR (~10-20 s)"
  rm -rf "$DIR" && mkdir -p "$DIR"/{run,log}
  make_tls
  # Only the services LDAP tests need (no smbd, nbt, rpc, dns, winbind): starts in ~1 s and uses a
  # third of the memory. The kdc stays so Kerberos work can reuse this DC.
  samba-tool domain provision --targetdir="$DIR" \
    --realm="$REALM" --domain="$NETBIOS" --host-name="$DC_HOST" --server-role=dc \
    --dns-backend=NONE --use-rfc2307 --adminpass="$ADMIN_PASSWORD" \
    --option="interfaces = lo" --option="bind interfaces only = yes" \
    --option="server services = ldap, cldap, kdc, drepl, kcc" \
    --option="pid directory = $DIR/run" --option="log file = $DIR/log/samba.log" \
    --option="tls enabled = yes" --option="tls keyfile = $DIR/tls/key.pem" \
    --option="tls certfile = $DIR/tls/cert.pem" --option="tls cafile = $DIR/tls/ca.pem" \
    --option="dns update command = /bin/true" --option="spn update command = /bin/true" \
    >"$DIR/log/provision.log" 2>&1 || { tail -30 "$DIR/log/provision.log" >&2; die "provision failed"; }
  # Provision drops this option from the smb.conf it writes. Without it a simple bind on plain
  # ldap://389 fails with "BindSimple: Transport encryption required" (resultCode 8), and the
  # tests need plain LDAP next to LDAPS and StartTLS.
  sed -i '/^\[global\]/a\\tldap server require strong auth = no' "$CONF"
  grep -q 'ldap server require strong auth = no' "$CONF" || die "could not patch $CONF"
}

restore_template() {
  log "restoring $TEMPLATE"
  rm -rf "$DIR" && mkdir -p "$DIR"
  tar -xzf "$TEMPLATE" -C "$DIR"
  # The template may have been built in another directory: rewrite its absolute paths.
  local old
  old=$(sed -n 's|^[[:space:]]*pid directory = \(.*\)/run$|\1|p' "$CONF")
  [ -n "$old" ] && [ "$old" != "$DIR" ] && sed -i "s|$old|$DIR|g" "$CONF"
  mkdir -p "$DIR"/{run,log}
  rm -f "$DIR"/run/*.pid
}

# ------------------------------------------------------------------------------------ start
ldap_up() { ldapsearch -x -H "ldap://$IP:389" -s base -b '' -LLL -o nettimeout=2 dn >/dev/null 2>&1; }
ldaps_up() { LDAPTLS_CACERT="$DIR/tls/ca.pem" ldapsearch -x -H "ldaps://$IP:636" -s base -b '' -LLL -o nettimeout=2 dn >/dev/null 2>&1; }
start_samba() {
  samba -s "$CONF" -D
  local deadline=$(($(date +%s) + WAIT_SECS))
  until ldap_up && ldaps_up && port_open 88; do
    if [ -f "$PIDFILE" ] && ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      tail -30 "$DIR/log/samba.log" >&2 || true
      die "samba exited while starting"
    fi
    [ "$(date +%s)" -lt "$deadline" ] || { tail -30 "$DIR/log/samba.log" >&2 || true; die "LDAP not ready after ${WAIT_SECS}s"; }
    sleep 0.1
  done
  log "samba answering LDAP, LDAPS and Kerberos (pid $(cat "$PIDFILE"))"
}

# ------------------------------------------------------------------------------------ seed
# Seeded accounts: "role sAMAccountName password". ad.env publishes them under the role, so tests
# name what they need ("the disabled user"), not who happens to be disabled.
USERS=(
  "SVC svc-openfed Svc-0penFed-Passw0rd!"
  "NORMAL alice Al1ce-Passw0rd!"
  "SECOND_SUFFIX bob B0b-Passw0rd!"
  "MUST_CHANGE carol Car0l-Passw0rd!"
  "DISABLED dave Dav3-Passw0rd!"
  "PWD_EXPIRED erin Er1n-Passw0rd!"
  "ACCOUNT_EXPIRED frank Fr4nk-Passw0rd!"
  "LOCKOUT grace Gr4ce-Passw0rd!"
  "ALT_LOGIN heidi He1di-Passw0rd!"
  "WRONG_PW judy Jud7-Passw0rd!"
  "NO_UPN kim K1m-Passw0rd!"
  "ESCAPING o(brien) 0-Brien-Passw0rd!"
)

seed() {
  log "seeding users, groups and policy"
  SEED_USERS=$(printf '%s\n' "${USERS[@]}") CONF="$CONF" SECOND_SUFFIX="$SECOND_SUFFIX" \
    HTTP_SVC="$HTTP_SVC" HTTP_SVC_PASSWORD="$HTTP_SVC_PASSWORD" SPN="$SPN" "$PY" - <<'PYEOF'
# One python process over Samba's own SamDB API (what samba-tool uses): ~2 s for everything,
# against ~0.5 s per samba-tool call.
import os, sys, time, uuid
import ldb
from samba.samdb import SamDB
from samba.auth import system_session
from samba.param import LoadParm

lp = LoadParm(); lp.load(os.environ["CONF"])
db = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
D = db.domain_dn()
dns = lp.get("realm").lower()
second = os.environ["SECOND_SUFFIX"]
pw = {}
for line in os.environ["SEED_USERS"].split("\n"):
    if line.strip():
        role, sam, password = line.split(" ", 2)
        pw[sam] = password

def replace(dn, controls=None, **attrs):
    m = ldb.Message(); m.dn = ldb.Dn(db, dn)
    for k, v in attrs.items():
        m[k] = ldb.MessageElement(v, ldb.FLAG_MOD_REPLACE, k)
    db.modify(m, controls=controls or [])

def filetime(unix):  # 100 ns ticks since 1601-01-01
    return str(int((unix + 11644473600) * 10**7))

# Lockout after 5 bad passwords (AD's default is "never", tests need 775). minPwdAge 0 lets tests
# change passwords at once. maxPwdAge keeps its 42-day default, hence the weekly template.
replace(D, lockoutThreshold="5", lockoutDuration=str(-5 * 60 * 10**7),
        lockOutObservationWindow=str(-5 * 60 * 10**7), minPwdAge="0")
# A second UPN suffix in the forest, as for a Microsoft 365 federated domain.
replace("CN=Partitions,CN=Configuration," + D, uPNSuffixes=[second])

for ou in ("People", "Groups", "Service Accounts"):
    db.create_ou("OU=%s,%s" % (ou, D))

def user(sam, ou="OU=People", **kw):
    db.newuser(sam, pw[sam], useusernameascn=True, userou=ou, **kw)
    return "CN=%s,%s,%s" % (sam, ou, D)

user("svc-openfed", ou="OU=Service Accounts", description="OpenFed directory lookups")
db.setexpiry("(sAMAccountName=svc-openfed)", 0, no_expiry_req=True)

# The account holding the STS's SPN, as setspn puts it on a Windows service account. Without
# msDS-SupportedEncryptionTypes (24 = AES128 + AES256) the exported keytab holds only RC4 keys.
http_svc = os.environ["HTTP_SVC"]
db.newuser(http_svc, os.environ["HTTP_SVC_PASSWORD"], useusernameascn=True, userou="OU=Service Accounts",
           description="SPN holder for the OpenFed STS")
db.setexpiry("(sAMAccountName=%s)" % http_svc, 0, no_expiry_req=True)
replace("CN=%s,OU=Service Accounts,%s" % (http_svc, D), servicePrincipalName=[os.environ["SPN"]],
        **{"msDS-SupportedEncryptionTypes": "24"})

alice = user("alice", givenname="Alice", surname="Anders", mailaddress="alice@" + dns,
             department="Sales", jobtitle="Account Manager")
replace(alice, displayName="Alice Anders",
        **{"mS-DS-ConsistencyGuid": uuid.UUID("0b5b2a9c-6f1e-4a59-9a0e-3f1c2d4e5f60").bytes_le})

# bob: explicit UPN in the second suffix and no ConsistencyGuid; bob@<dns domain> is his implicit UPN.
bob = user("bob", givenname="Bob", surname="Brown", mailaddress="bob@" + second)
replace(bob, userPrincipalName="bob@" + second, displayName="Bob Brown")

user("carol", force_password_change_at_next_login_req=True)            # pwdLastSet=0 -> 773
user("dave"); db.disable_account("(sAMAccountName=dave)")               # -> 533
erin = user("erin")                                                     # -> 532, below
frank = user("frank"); replace(frank, accountExpires=filetime(time.time() - 86400))  # -> 701
user("grace")                                                           # locked out by the tests -> 775
heidi = user("heidi", givenname="Heidi", surname="Hopper", mailaddress="h.hopper@mail." + second)
user("judy")                                                            # takes the wrong-password tests
obrien = user("o(brien)", givenname="Owen", surname="O'Brien")
# kim has no userPrincipalName at all, like accounts migrated from NT4: only the implicit UPN works.
kim = user("kim")
m = ldb.Message(); m.dn = ldb.Dn(db, kim)
m["userPrincipalName"] = ldb.MessageElement([], ldb.FLAG_MOD_DELETE, "userPrincipalName")
db.modify(m)

# pwdLastSet accepts only 0 and -1 over LDAP. Samba's local-only BYPASS_LAST_SET control on the
# local sam.ldb lets us age erin's password past maxPwdAge (42 days) instead.
replace(erin, controls=["local_oid:1.3.6.1.4.1.7165.4.3.20:0"],
        pwdLastSet=filetime(time.time() - 60 * 86400))

# OpenFed-Users > Sales > EU-Sales > alice, to prove membership is transitive; bob sits in
# OpenFed-Users directly. Newsletter is a distribution group: inChain sees it, tokenGroups must not.
for g in ("OpenFed-Users", "Sales", "EU-Sales"):
    db.newgroup(g, groupou="OU=Groups", description="OpenFed test group")
db.newgroup("Newsletter", groupou="OU=Groups", grouptype=0x2, description="distribution group")
db.add_remove_group_members("EU-Sales", ["alice"], add_members_operation=True)
db.add_remove_group_members("Sales", ["EU-Sales"], add_members_operation=True)
db.add_remove_group_members("OpenFed-Users", ["Sales", "bob"], add_members_operation=True)
db.add_remove_group_members("Newsletter", ["alice"], add_members_operation=True)
PYEOF
  # The keys OpenFed accepts tickets with, as ktpass or exportkeytab hands them to an admin.
  samba-tool domain exportkeytab "$DIR/sts-http.keytab" -s "$CONF" --principal="$SPN" >"$DIR/log/exportkeytab.log" 2>&1 ||
    { cat "$DIR/log/exportkeytab.log" >&2; die "exportkeytab $SPN failed"; }
}

write_krb5_conf() {
  # Provision's private/krb5.conf finds the KDC through DNS SRV records, and this DC serves no DNS.
  # No reverse or canonicalising lookups either: the tests connect to 127.0.0.1 under the STS name.
  cat >"$DIR/krb5.conf" <<EOF
[libdefaults]
    default_realm = $REALM
    dns_lookup_realm = false
    dns_lookup_kdc = false
    rdns = false
    dns_canonicalize_hostname = false
    udp_preference_limit = 0
[realms]
    $REALM = {
        kdc = $IP:88
        kpasswd_server = $IP:464
        default_domain = $DNS_DOMAIN
    }
[domain_realm]
    .$DNS_DOMAIN = $REALM
    $DNS_DOMAIN = $REALM
EOF
}

save_template() {
  # A consistent copy needs a stopped DC.
  bash "$HERE/samba-ad-stop.sh" "$DIR"
  tar -czf "$TEMPLATE.tmp" -C "$DIR" --exclude='./run/*' --exclude='./log/*' --exclude='./msg.sock' \
    --exclude='./private/ldapi' --exclude='./private/ldap_priv' . 2>/dev/null
  mv "$TEMPLATE.tmp" "$TEMPLATE"
  if [ -z "${OPENFED_AD_TEMPLATE:-}" ]; then # default templates of other weeks/versions are stale
    find /tmp -maxdepth 1 -name 'openfed-samba-ad-template-*.tgz' ! -path "$TEMPLATE" -delete
  fi
  log "saved template $TEMPLATE ($(du -h "$TEMPLATE" | cut -f1))"
}

if [ "$TEMPLATE" != none ] && [ -f "$TEMPLATE" ]; then
  restore_template
  start_samba
else
  provision
  start_samba
  seed
  if [ "$TEMPLATE" != none ]; then
    save_template
    start_samba
  fi
fi

write_krb5_conf

# ------------------------------------------------------------------------------------ ad.env
# KEY='VALUE' lines, readable by `set -a; . ad.env`, node --env-file and test/helpers/ad.ts.
{
  echo "AD_DIR='$DIR'"
  echo "AD_REALM='$REALM'"
  echo "AD_DNS_DOMAIN='$DNS_DOMAIN'"
  echo "AD_NETBIOS_DOMAIN='$NETBIOS'"
  echo "AD_SECOND_UPN_SUFFIX='$SECOND_SUFFIX'"
  echo "AD_LDAP_URL='ldap://$IP:389'"
  echo "AD_LDAPS_URL='ldaps://$IP:636'"
  echo "AD_BASE_DN='$BASE_DN'"
  echo "AD_PEOPLE_DN='OU=People,$BASE_DN'"
  echo "AD_GROUPS_DN='OU=Groups,$BASE_DN'"
  echo "AD_CA_FILE='$DIR/tls/ca.pem'"
  echo "AD_OTHER_CA_FILE='$DIR/tls/other-ca.pem'"
  echo "AD_ADMIN_DN='CN=Administrator,CN=Users,$BASE_DN'"
  echo "AD_ADMIN_PASSWORD='$ADMIN_PASSWORD'"
  echo "AD_SVC_DN='CN=svc-openfed,OU=Service Accounts,$BASE_DN'"
  for u in "${USERS[@]}"; do
    read -r role sam password <<<"$u"
    echo "AD_USER_${role}_SAM='$sam'"
    echo "AD_USER_${role}_PASSWORD='$password'"
  done
  echo "AD_STS_HOST='$STS_HOST'"
  echo "AD_SPN='$SPN'"
  echo "AD_SPN_ACCOUNT_DN='CN=$HTTP_SVC,OU=Service Accounts,$BASE_DN'"
  echo "AD_KEYTAB='$DIR/sts-http.keytab'"
  echo "KRB5_CONFIG='$DIR/krb5.conf'"
  echo "AD_SAMBA_CONF='$CONF'"
  echo "AD_SAMBA_PID='$(cat "$PIDFILE")'"
} >"$DIR/ad.env"
chmod 644 "$DIR/ad.env" # throw-away lab passwords; other test users on this host read it

log "ready: $DIR/ad.env (LDAP ldap://$IP:389, LDAPS ldaps://$IP:636, CA $DIR/tls/ca.pem, KDC $IP:88)"
