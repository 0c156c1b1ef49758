#!/usr/bin/env bash
# scripts/stop.sh — `make stop`: stops what `make run` started, by PID only: rwproxy
# (sandbox/rwproxy.pid; SIGTERM, up to 15 s, then SIGKILL) and then the MariaDB sandbox
# (sandbox/sandbox.json). Harmless when nothing runs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SANDBOX=sandbox
PIDFILE="$SANDBOX/rwproxy.pid"

# True if $1 is a live (not zombie) rwproxy process.
is_rwproxy() {
  [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] || return 1
  local state
  state="$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null || true)"
  [ "$state" != "Z" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -q rwproxy
}

PID="$(cat "$PIDFILE" 2>/dev/null || true)"
if is_rwproxy "$PID"; then
  kill -TERM "$PID" 2>/dev/null || true
  for _ in $(seq 1 150); do   # 15 s
    is_rwproxy "$PID" || break
    sleep 0.1
  done
  if is_rwproxy "$PID"; then
    echo "rwproxy (pid $PID) still running after 15 s: SIGKILL"
    kill -KILL "$PID" 2>/dev/null || true
  fi
  echo "rwproxy (pid $PID) stopped"
fi
rm -f "$PIDFILE"

if [ -f "$SANDBOX/sandbox.json" ]; then
  /usr/bin/python3 tests/sandbox/sandbox.py stop --dir "$SANDBOX"
fi
