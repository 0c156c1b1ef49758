#!/usr/bin/env bash
# scripts/run.sh — `make run`: installs missing packages, builds, starts the MariaDB sandbox
# (db1 master 23306, db2/db3 replicas 23307/23308, in ./sandbox) and rwproxy in the
# background (pid in sandbox/rwproxy.pid, log in sandbox/rwproxy.log), then prints how to
# connect. Running it again while everything runs changes nothing. `make stop` undoes it.
#
# TLS: a self-signed certificate for 127.0.0.1/localhost is made once in sandbox/tls/, and
# rwproxy runs with sandbox/rwproxy.ini = configs/sandbox.ini plus a [tls] section naming it
# (written again on every run; configs/sandbox.ini itself names no files that a fresh clone
# lacks, so `make check-config` works anywhere). Edit configs/sandbox.ini, run `make run`
# again, then RELOAD (or SIGHUP) applies the change.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY=/usr/bin/python3
SANDBOX=sandbox
CONFIG=configs/sandbox.ini
RUN_CONFIG="$SANDBOX/rwproxy.ini"
TLS_DIR="$SANDBOX/tls"
PIDFILE="$SANDBOX/rwproxy.pid"
LOG="$SANDBOX/rwproxy.log"

# The port of `listen = host:port` in section $1 of $CONFIG (default $2).
config_port() {
  local port
  port="$(awk -v want="[$1]" '
    /^[ \t]*\[/ { gsub(/[ \t]/, ""); insec = ($0 == want); next }
    insec && /^[ \t]*listen[ \t]*=/ { sub(/[;#].*/, ""); n = split($0, a, ":"); gsub(/[ \t]/, "", a[n]); print a[n]; exit }
  ' "$CONFIG" 2>/dev/null || true)"
  echo "${port:-$2}"
}

# True if $1 is a live rwproxy process.
is_rwproxy() {
  [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -q rwproxy
}

# True if 127.0.0.1:$1 accepts TCP connections.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

bash scripts/deps.sh all
"${MAKE:-make}" -C "$ROOT" all
"$PY" tests/sandbox/sandbox.py start --dir "$SANDBOX" --ports 23306,23307,23308

# A self-signed certificate for the sandbox (once), and the configuration rwproxy runs with.
make_tls() {
  mkdir -p "$TLS_DIR"
  if [ ! -s "$TLS_DIR/rwproxy.crt" ] || [ ! -s "$TLS_DIR/rwproxy.key" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=rwproxy-sandbox \
      -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
      -keyout "$TLS_DIR/rwproxy.key" -out "$TLS_DIR/rwproxy.crt" 2>/dev/null
    chmod 600 "$TLS_DIR/rwproxy.key"
  fi
  {
    echo "; written by scripts/run.sh from $CONFIG: edit that file, not this one"
    cat "$CONFIG"
    printf '\n[tls]\n; added by scripts/run.sh (paths relative to this file)\n'
    printf 'cert = tls/rwproxy.crt\nkey = tls/rwproxy.key\nrequire = off\n'
  } > "$RUN_CONFIG.tmp"
  mv -f "$RUN_CONFIG.tmp" "$RUN_CONFIG"
}
make_tls

PORT="$(config_port proxy 6033)"
ADMIN_PORT="$(config_port admin 6032)"
PID="$(cat "$PIDFILE" 2>/dev/null || true)"
if is_rwproxy "$PID"; then
  echo "rwproxy already running (pid $PID)"
else
  # setsid: its own session, so closing this terminal does not stop it.
  setsid bin/rwproxy --config "$RUN_CONFIG" </dev/null >>"$LOG" 2>&1 &
  PID=$!
  echo "$PID" > "$PIDFILE"
  for _ in $(seq 1 200); do   # 20 s
    port_open "$PORT" && break
    if ! kill -0 "$PID" 2>/dev/null; then
      echo "rwproxy exited during start-up; last lines of $LOG:" >&2
      tail -n 30 "$LOG" >&2
      rm -f "$PIDFILE"
      exit 1
    fi
    sleep 0.1
  done
  if ! port_open "$PORT"; then
    echo "rwproxy (pid $PID) does not accept on 127.0.0.1:$PORT after 20 s; last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2
    exit 1
  fi
  echo "rwproxy started (pid $PID)"
fi

cat <<EOF

rwproxy listens on 127.0.0.1:$PORT (admin port $ADMIN_PORT).
  mysql -h127.0.0.1 -P$PORT -uapp -papp_pw test
  With TLS:             mysql -h127.0.0.1 -P$PORT -uapp -papp_pw --ssl --ssl-ca=$TLS_DIR/rwproxy.crt --ssl-verify-server-cert test
  JDBC: jdbc:mysql://127.0.0.1:$PORT/test?user=app&password=app_pw&permitMysqlScheme
        (or jdbc:mariadb://127.0.0.1:$PORT/test?user=app&password=app_pw)
  The master directly:  mysql -h127.0.0.1 -P23306 -uapp -papp_pw test
  Replicas directly:    ports 23307, 23308
  Health and switchover: bin/rwproxyctl -c configs/sandbox.ini status   (also: switchover, drill switchover)
  Admin port:           mysql -h127.0.0.1 -P$ADMIN_PORT -uadmin -padmin_pw -e 'SHOW SERVERS'
  Sandbox status:       $PY tests/sandbox/sandbox.py status --dir $SANDBOX
  rwproxy log:          $LOG
  rwproxy config:       $RUN_CONFIG (= $CONFIG + [tls]; edit $CONFIG, make run, then RELOAD)
  Stop everything:      make stop
EOF
