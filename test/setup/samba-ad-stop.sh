#!/usr/bin/env bash
# Stops the Samba AD DC that test/setup/samba-ad.sh started from DIR.
#
#   sudo bash test/setup/samba-ad-stop.sh [DIR] [--purge]     DIR defaults to /tmp/openfed-samba-ad
#
# Only this instance's processes are signalled: the master from DIR's pid file, its process group
# (samba -D calls setsid, so the group is the whole instance) and any process whose command line
# names DIR's smb.conf. Never anything matched by name alone. --purge also deletes DIR.
set -uo pipefail

DIR=/tmp/openfed-samba-ad
PURGE=0
for arg in "$@"; do
  case "$arg" in --purge) PURGE=1 ;; *) DIR=$arg ;; esac
done
CONF="$DIR/etc/smb.conf"
PIDFILE="$DIR/run/samba.pid"
log() { echo "[samba-ad-stop] $*" >&2; }

instance_pids() {
  local master=$1 pid
  if [ -n "$master" ]; then
    ps -eo pid=,pgid= | awk -v g="$master" '$2 == g { print $1 }'
  fi
  for pid in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$pid/cmdline" | grep -qF -- "$CONF" && echo "${pid#/proc/}"
  done
  return 0
}

master=""
[ -f "$PIDFILE" ] && master=$(cat "$PIDFILE" 2>/dev/null)
if [ -n "$master" ] && kill -0 "$master" 2>/dev/null; then
  log "stopping samba $master ($DIR)"
  kill -TERM "$master" 2>/dev/null
  for _ in $(seq 100); do # a clean shutdown takes 1-4 s
    [ -z "$(instance_pids "$master")" ] && break
    sleep 0.1
  done
fi
leftover=$(instance_pids "$master" | sort -u | tr '\n' ' ')
if [ -n "${leftover// /}" ]; then
  log "killing leftovers: $leftover"
  # shellcheck disable=SC2086
  kill -KILL $leftover 2>/dev/null
  sleep 0.2
fi
rm -f "$DIR"/run/*.pid 2>/dev/null

if [ "$PURGE" = 1 ]; then
  case "$DIR" in /|/etc*|/usr*|/var*|/home|"") log "refusing to purge $DIR" ;; *) rm -rf "$DIR" && log "purged $DIR" ;; esac
fi
log "stopped"
