/**
 * Facts about the Samba AD DC started by test/setup/samba-ad.sh, read from its ad.env, plus the
 * administrator chores tests need (unlock an account, read badPwdCount) and Kerberos tickets for
 * seeded users (kinit).
 *
 * A missing ad.env THROWS: a directory test that quietly skips when there is no DC is a test that
 * cannot fail. Start the DC first:  sudo bash test/setup/samba-ad.sh
 *
 * The admin chores use the OpenLDAP command-line tools (installed by the setup script) rather than
 * ldapts, so src/directory/ stays the only code that uses the LDAP library.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LdapConfig } from '../../src/config/schema.js';

const run = promisify(execFile);

export const AD_ENV_DEFAULT = '/tmp/openfed-samba-ad/ad.env';

/** The seeded accounts, by the account state they exist for. */
export type AdRole =
  | 'SVC'
  | 'NORMAL'
  | 'SECOND_SUFFIX'
  | 'MUST_CHANGE'
  | 'DISABLED'
  | 'PWD_EXPIRED'
  | 'ACCOUNT_EXPIRED'
  | 'LOCKOUT'
  | 'ALT_LOGIN'
  | 'WRONG_PW'
  | 'NO_UPN'
  | 'ESCAPING';

const ROLES: readonly AdRole[] = [
  'SVC',
  'NORMAL',
  'SECOND_SUFFIX',
  'MUST_CHANGE',
  'DISABLED',
  'PWD_EXPIRED',
  'ACCOUNT_EXPIRED',
  'LOCKOUT',
  'ALT_LOGIN',
  'WRONG_PW',
  'NO_UPN',
  'ESCAPING',
];

export interface AdUser {
  sam: string;
  password: string;
  /** DN as seeded: CN=<sam> in OU=People (OU=Service Accounts for SVC). */
  dn: string;
}

export interface AdFacts {
  envFile: string;
  dir: string;
  /** Kerberos realm: the DNS domain in capitals. */
  realm: string;
  dnsDomain: string;
  netbiosDomain: string;
  secondUpnSuffix: string;
  ldapUrl: string;
  ldapsUrl: string;
  baseDn: string;
  peopleDn: string;
  groupsDn: string;
  caFile: string;
  /** A CA that did not issue the DC certificate. */
  otherCaFile: string;
  adminDn: string;
  adminPassword: string;
  svcDn: string;
  users: Record<AdRole, AdUser>;
  /** The STS host name the SPN is registered for (sts.<dns domain>); tests resolve it to 127.0.0.1. */
  stsHost: string;
  /** HTTP/<stsHost>, without the realm. */
  spn: string;
  /** The service account that holds the SPN (its msDS-KeyVersionNumber is the keytab's kvno). */
  spnAccountDn: string;
  /** The SPN's keys, as samba-tool domain exportkeytab wrote them. */
  keytab: string;
  /** A krb5.conf naming the loopback KDC, with no DNS lookups: give it as KRB5_CONFIG. */
  krb5Config: string;
}

/** Reads ad.env from $OPENFED_TEST_AD_ENV or the default path; throws when it is not there. */
export function loadAdFacts(envFile = process.env.OPENFED_TEST_AD_ENV ?? AD_ENV_DEFAULT): AdFacts {
  if (!existsSync(envFile)) {
    throw new Error(
      `${envFile} not found: start the test domain controller first with "sudo bash test/setup/samba-ad.sh" ` +
        '(or point OPENFED_TEST_AD_ENV at its ad.env)',
    );
  }
  const env = new Map<string, string>();
  for (const line of readFileSync(envFile, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)='(.*)'$/.exec(line);
    if (m) env.set(m[1]!, m[2]!);
  }
  const get = (key: string): string => {
    const value = env.get(key);
    if (value === undefined) throw new Error(`${envFile} lacks ${key}: re-run test/setup/samba-ad.sh`);
    return value;
  };
  const peopleDn = get('AD_PEOPLE_DN');
  const svcDn = get('AD_SVC_DN');
  const users = {} as Record<AdRole, AdUser>;
  for (const role of ROLES) {
    const sam = get(`AD_USER_${role}_SAM`);
    users[role] = { sam, password: get(`AD_USER_${role}_PASSWORD`), dn: role === 'SVC' ? svcDn : `CN=${sam},${peopleDn}` };
  }
  return {
    envFile,
    dir: get('AD_DIR'),
    realm: get('AD_REALM'),
    dnsDomain: get('AD_DNS_DOMAIN'),
    netbiosDomain: get('AD_NETBIOS_DOMAIN'),
    secondUpnSuffix: get('AD_SECOND_UPN_SUFFIX'),
    ldapUrl: get('AD_LDAP_URL'),
    ldapsUrl: get('AD_LDAPS_URL'),
    baseDn: get('AD_BASE_DN'),
    peopleDn,
    groupsDn: get('AD_GROUPS_DN'),
    caFile: get('AD_CA_FILE'),
    otherCaFile: get('AD_OTHER_CA_FILE'),
    adminDn: get('AD_ADMIN_DN'),
    adminPassword: get('AD_ADMIN_PASSWORD'),
    svcDn,
    users,
    stsHost: get('AD_STS_HOST'),
    spn: get('AD_SPN'),
    spnAccountDn: get('AD_SPN_ACCOUNT_DN'),
    keytab: get('AD_KEYTAB'),
    krb5Config: get('KRB5_CONFIG'),
  };
}

/**
 * A complete LdapConfig (defaults filled in as the schema would) for the test DC: plain LDAP,
 * service account, CA file. Override what a test is about.
 */
export function ldapConfig(ad: AdFacts, overrides: Partial<LdapConfig> = {}): LdapConfig {
  return {
    urls: [ad.ldapUrl],
    startTls: false,
    caFile: ad.caFile,
    rejectUnauthorized: true,
    connectTimeoutMs: 3000,
    timeoutMs: 5000,
    maxConcurrentBinds: 8,
    baseDn: ad.baseDn,
    bindDn: ad.svcDn,
    bindPassword: ad.users.SVC.password,
    groupLookup: 'tokenGroups',
    extraAttributes: [],
    ...overrides,
  };
}

/** ldapsearch/ldapmodify as Administrator over LDAPS, verifying the DC certificate. */
async function asAdmin(ad: AdFacts, tool: 'ldapsearch' | 'ldapmodify' | 'ldapdelete', args: string[], input?: string): Promise<string> {
  const child = run(tool, ['-x', '-H', ad.ldapsUrl, '-D', ad.adminDn, '-w', ad.adminPassword, '-o', 'nettimeout=5', ...args], {
    env: { ...process.env, LDAPTLS_CACERT: ad.caFile, LDAPTLS_REQCERT: 'demand' },
  });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  return (await child).stdout;
}

/** Applies LDIF records (changetype add, modify or delete) as Administrator: how a test seeds its own entries. */
export async function applyLdifAsAdmin(ad: AdFacts, ldif: string): Promise<void> {
  await asAdmin(ad, 'ldapmodify', [], ldif);
}

/** Deletes an entry and everything below it, as Administrator; an entry already gone is no error. */
export async function deleteTreeAsAdmin(ad: AdFacts, dn: string): Promise<void> {
  await asAdmin(ad, 'ldapdelete', ['-r', dn]).catch((err: { stderr?: string }) => {
    if (!/No such object/i.test(err.stderr ?? '')) throw err;
  });
}

/**
 * Unlocks an account and clears its bad-password count the AD way: lockoutTime=0. Tests that type
 * wrong passwords call this afterwards, so re-runs within the lockout window start clean.
 */
export async function unlockUser(ad: AdFacts, role: AdRole): Promise<void> {
  const { dn } = ad.users[role];
  await asAdmin(ad, 'ldapmodify', [], `dn: ${dn}\nchangetype: modify\nreplace: lockoutTime\nlockoutTime: 0\n-\n`);
}

/** The DC's bad-password counter of an account. */
export async function badPwdCount(ad: AdFacts, role: AdRole): Promise<number> {
  const { dn } = ad.users[role];
  const out = await asAdmin(ad, 'ldapsearch', ['-LLL', '-s', 'base', '-b', dn, '(objectClass=*)', 'badPwdCount']);
  const m = /^badPwdCount: (\d+)$/m.exec(out);
  return m ? Number(m[1]) : 0;
}

/**
 * ESTABLISHED TCP connections from THIS process to LDAP/LDAPS ports, as the kernel sees them
 * (`ss -p` names the owning pid, so other test processes using the same DC do not count).
 */
export async function openLdapConnections(): Promise<number> {
  const { stdout } = await run('ss', ['-Htnp', 'state', 'established', '( dport = :389 or dport = :636 )']);
  return stdout.split('\n').filter((line) => line.includes(`pid=${process.pid},`)).length;
}

/** One attribute's first value as the DC stores it (binary-safe), read as Administrator. */
export async function readAttribute(ad: AdFacts, dn: string, attribute: string): Promise<Buffer | undefined> {
  const out = await asAdmin(ad, 'ldapsearch', ['-LLL', '-o', 'ldif-wrap=no', '-s', 'base', '-b', dn, '(objectClass=*)', attribute]);
  for (const line of out.split('\n')) {
    const m = /^([^:]+)(::?) ?(.*)$/.exec(line);
    if (m && m[1]!.toLowerCase() === attribute.toLowerCase()) {
      return m[2] === '::' ? Buffer.from(m[3]!, 'base64') : Buffer.from(m[3]!, 'utf8');
    }
  }
  return undefined;
}

export interface KerberosTicket {
  /** FILE:<path> of the private ticket cache. */
  ccache: string;
  /** KRB5_CONFIG and KRB5CCNAME, to add to a child process's environment (curl, chromium, python). */
  env: Record<string, string>;
  /** kdestroy, and the cache's directory removed. */
  destroy(): Promise<void>;
}

/**
 * A TGT for a seeded user (<sam>@<REALM>) in a ticket cache of its own, so tests never share or touch
 * the machine's default cache. The password goes on kinit's stdin, never on a command line. kinit's
 * refusal (a disabled or expired account: "credentials have been revoked") rejects with its stderr.
 */
export async function kinit(ad: AdFacts, role: AdRole): Promise<KerberosTicket> {
  const dir = mkdtempSync(join(tmpdir(), 'openfed-krb5cc-'));
  const ccache = `FILE:${join(dir, 'krb5cc')}`;
  const env = { KRB5_CONFIG: ad.krb5Config, KRB5CCNAME: ccache };
  const { sam, password } = ad.users[role];
  try {
    const child = run('kinit', [`${sam}@${ad.realm}`], { env: { ...process.env, ...env }, timeout: 15_000 });
    child.child.stdin?.end(`${password}\n`);
    await child;
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`kinit ${sam}@${ad.realm} failed: ${stderr || (err as Error).message}`, { cause: err });
  }
  return {
    ccache,
    env,
    async destroy() {
      await run('kdestroy', ['-q'], { env: { ...process.env, ...env } }).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
