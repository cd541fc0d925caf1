#!/usr/bin/env bash
# npm test: lints (npm run lint: typecheck, layering rules, unused dependencies and files), installs
# what the tests need (Debian packages), starts a real Samba AD domain controller, runs every test with
# node's test runner, and stops everything again — also when a test fails.
# Redis servers are started by the tests themselves (test/helpers/redis.ts), one per test file.
#
#   OPENFED_TEST_AD_DIR   where the throwaway domain lives (default /tmp/openfed-samba-ad)
#   OPENFED_TEST_KEEP_AD  1 = leave the DC running afterwards (quicker reruns while developing)
#   OPENFED_TEST_FILES    run only these test files (space-separated) instead of all of them
#   OPENFED_TEST_LINT     0 = skip the lint step (CI never does)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

AD_DIR=${OPENFED_TEST_AD_DIR:-/tmp/openfed-samba-ad}
RUN_DIR=.test-run
mkdir -p "$RUN_DIR"
log() { echo "[test] $*" >&2; }

# --------------------------------------------------------------------------- lint
# package.json "lint": tsc, then depcruise (.dependency-cruiser.cjs), then knip (knip.jsonc); the
# first that fails stops it, and its report is the end of the output.
if [ "${OPENFED_TEST_LINT:-1}" != 0 ]; then
  log "lint: npm run lint"
  if ! npm run --silent lint 2>&1 | tee "$RUN_DIR/lint.txt"; then
    if grep -q 'error TS[0-9]' "$RUN_DIR/lint.txt"; then
      what="typecheck (tsc -p tsconfig.json --noEmit)"
    elif grep -q 'dependency violations' "$RUN_DIR/lint.txt"; then
      what="layering rules (depcruise src, rules in .dependency-cruiser.cjs)"
    else
      what="unused or unlisted dependencies, or unused files (knip, settings in knip.jsonc)"
    fi
    log "lint failed: $what — see above (also in $RUN_DIR/lint.txt); no test was run"
    exit 1
  fi
fi

# --------------------------------------------------------------------------- Debian packages
# (samba-ad.sh installs the Samba packages itself.)
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v xmlsec1 >/dev/null 2>&1 || need+=(xmlsec1)
command -v ss >/dev/null 2>&1 || need+=(iproute2)
# MSAL for Python reads the MEX document in test/protocols/wstrust/mex.test.ts; Debian's package serves Debian's python3.
/usr/bin/python3 -c 'import msal' >/dev/null 2>&1 || need+=(python3-msal)
# Kerberos (issue #14): kinit for the tests' tickets, Python clients for windowstransport, and what
# the optional `kerberos` addon compiles against (the GSSAPI headers, a C++ toolchain).
command -v kinit >/dev/null 2>&1 || need+=(krb5-user)
[ -e /usr/include/gssapi/gssapi.h ] || need+=(libkrb5-dev)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
/usr/bin/python3 -c 'import requests_kerberos' >/dev/null 2>&1 || need+=(python3-requests-kerberos)
/usr/bin/python3 -c 'import gssapi' >/dev/null 2>&1 || need+=(python3-gssapi)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { log "missing packages ${need[*]}: run as root or install them"; exit 1; }
  log "installing ${need[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update -qq >"$RUN_DIR/apt.log" 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    "${need[@]}" >>"$RUN_DIR/apt.log" 2>&1 || { tail -20 "$RUN_DIR/apt.log" >&2; exit 1; }
fi

# --------------------------------------------------------------------------- kerberos addon
# An optional dependency: an `npm ci` that ran before libkrb5-dev was installed (a fresh CI machine)
# dropped it without failing. The Kerberos tests need it, so build it now, at the locked version,
# without touching package.json or the lockfile (--foreground-scripts: the compiler's errors go to the log).
if ! node -e "require('kerberos')" >/dev/null 2>&1; then
  kerberos_version=$(node -p "require('./package-lock.json').packages['node_modules/kerberos'].version")
  log "building the optional kerberos addon ($kerberos_version)"
  if [ -d node_modules/kerberos ]; then
    npm rebuild --foreground-scripts kerberos >"$RUN_DIR/kerberos-addon.log" 2>&1 || true
  else
    npm install --no-save --no-audit --no-fund --foreground-scripts "kerberos@$kerberos_version" >"$RUN_DIR/kerberos-addon.log" 2>&1 || true
  fi
  # npm reports a failed optional build as success: loading it is the only real check.
  if ! node -e "require('kerberos')" >>"$RUN_DIR/kerberos-addon.log" 2>&1; then
    tail -30 "$RUN_DIR/kerberos-addon.log" >&2
    log "the kerberos addon does not build or load (needs libkrb5-dev, g++, make): see $RUN_DIR/kerberos-addon.log"
    exit 1
  fi
fi

# --------------------------------------------------------------------------- Samba AD DC
cleanup() {
  if [ "${OPENFED_TEST_KEEP_AD:-0}" != 1 ]; then
    bash test/setup/samba-ad-stop.sh "$AD_DIR" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
bash test/setup/samba-ad.sh "$AD_DIR"
export OPENFED_TEST_AD_ENV="$AD_DIR/ad.env"

# --------------------------------------------------------------------------- tests
if [ -n "${OPENFED_TEST_FILES:-}" ]; then
  read -r -a files <<<"$OPENFED_TEST_FILES"
else
  mapfile -t files < <(find test -name '*.test.ts' | sort)
fi
[ ${#files[@]} -gt 0 ] || { log "no test files found"; exit 1; }

set +e
# One file at a time: the directory tests share one DC (lockout counters, connection counts).
# No --test-force-exit: on Node 20 it can end a file before its last results reach the reporter.
node --import tsx --test --test-concurrency=1 --test-timeout=300000 \
  --test-reporter=spec "${files[@]}" 2>&1 | tee "$RUN_DIR/results.txt"
status=${PIPESTATUS[0]}
set -e

# The spec reporter closes with "ℹ tests N", "ℹ pass N", "ℹ fail N".
count() { sed -n "s/^ℹ $1 \([0-9]*\)$/\1/p" "$RUN_DIR/results.txt" | tail -1; }
total=$(count tests)
passed=$(count pass)
failed=$(count fail)
echo "${passed:-0} passed, ${failed:-0} failed"
if [ "${total:-0}" -eq 0 ]; then
  log "no test ran: treating as a failure"
  exit 1
fi
exit "$status"
