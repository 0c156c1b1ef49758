#!/usr/bin/env bash
# tests/e2e/tomcat/run-local.sh — runs the example shop webapp on a local Tomcat 10 against the
# `make run` sandbox: Tomcat's DBCP2 pool -> rwproxy on 127.0.0.1:6033 -> MariaDB master + 2
# replicas. For trying rwproxy with a real Tomcat/JDBC application by hand (README "Tomcat /
# JDBC"); tests/e2e/test_tomcat.py does the same on private ports and checks the routing.
#
#   tests/e2e/tomcat/run-local.sh [start]   build the webapp, start Tomcat, print the URL
#   tests/e2e/tomcat/run-local.sh stop      stop the Tomcat it started (by PID)
#   tests/e2e/tomcat/run-local.sh status
#
# Environment: TOMCAT_PORT (HTTP port, default 8089), RWPROXY_PORT (default 6033),
# TOMCAT_BASE (CATALINA_BASE, default sandbox/tomcat). Needs tomcat10, libmariadb-java and a
# JDK (make deps installs them). Tomcat's logs: $TOMCAT_BASE/logs/.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
PORT="${TOMCAT_PORT:-8089}"
PROXY_PORT="${RWPROXY_PORT:-6033}"
BASE="${TOMCAT_BASE:-$ROOT/sandbox/tomcat}"
PIDFILE="$BASE/tomcat.pid"
URL="http://127.0.0.1:$PORT/shop"
export CATALINA_HOME=/usr/share/tomcat10

# True if 127.0.0.1:$1 accepts TCP connections.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The PID of the Tomcat we started, if it still runs: still catalina.sh just after the start,
# then the JVM it execs with -Dcatalina.base=$BASE.
running_pid() {
  local pid args
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 0
  args="$(tr '\0' ' ' < "/proc/$pid/cmdline")"
  case "$args" in
    *"-Dcatalina.base=$BASE "*|*"$CATALINA_HOME/bin/catalina.sh run"*) echo "$pid" ;;
  esac
}

# HTTP status of GET $1 (000 when nothing answers).
http_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$1" || true
}

print_usage_hints() {
  cat <<TXT
The shop runs at $URL (Tomcat pid $(running_pid), CATALINA_BASE $BASE)
  curl -s -d customer=alice -d lines=A-1:2:9.99,B-2:1:5.00 $URL/orders   # create an order
  curl -s $URL/orders/1                                                  # read it back
  curl -s $URL/orders                                                    # newest orders
  curl -s $URL/report                                                    # sales report
Where the statements ran: bin/rwproxyctl -c configs/sandbox.ini status (queries per server)
Stop it: $0 stop   (Tomcat's logs: $BASE/logs/)
TXT
}

start() {
  if [ -n "$(running_pid)" ]; then
    print_usage_hints
    return 0
  fi
  if ! port_open "$PROXY_PORT"; then
    echo "run-local.sh: nothing listens on 127.0.0.1:$PROXY_PORT: start rwproxy and the sandbox with 'make run' first" >&2
    exit 1
  fi
  if port_open "$PORT"; then
    echo "run-local.sh: port $PORT is taken: pick another with TOMCAT_PORT=NNNN $0" >&2
    exit 1
  fi
  bash "$HERE/make-base.sh" "$BASE" "$PORT" \
    "jdbc:mysql://127.0.0.1:$PROXY_PORT/test?permitMysqlScheme" app app_pw
  # setsid: its own session, so closing this terminal does not stop it. catalina.sh run execs
  # the JVM, so $! is Tomcat's PID.
  CATALINA_BASE="$BASE" CATALINA_TMPDIR="$BASE/temp" JAVA_OPTS="-Xmx256m -Djava.awt.headless=true" \
    setsid "$CATALINA_HOME/bin/catalina.sh" run </dev/null >>"$BASE/logs/console.log" 2>&1 &
  echo "$!" > "$PIDFILE"
  echo "run-local.sh: Tomcat starting (pid $!), waiting for $URL ..."
  for _ in $(seq 1 240); do   # 120 s
    if [ "$(http_status "$URL/orders?limit=1")" = 200 ]; then
      print_usage_hints
      return 0
    fi
    if [ -z "$(running_pid)" ]; then
      break
    fi
    sleep 0.5
  done
  echo "run-local.sh: the shop did not come up; last lines of $BASE/logs/console.log:" >&2
  tail -n 40 "$BASE/logs/console.log" >&2
  stop
  exit 1
}

stop() {
  local pid
  pid="$(running_pid || true)"
  if [ -z "$pid" ]; then
    echo "run-local.sh: no Tomcat of ours is running"
    rm -f "$PIDFILE"
    return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 60); do   # 30 s, then SIGKILL
    [ -n "$(running_pid)" ] || break
    sleep 0.5
  done
  [ -n "$(running_pid)" ] && kill -KILL "$pid"
  rm -f "$PIDFILE"
  echo "run-local.sh: Tomcat (pid $pid) stopped"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status)
    if [ -n "$(running_pid)" ]; then print_usage_hints; else echo "not running"; exit 1; fi ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
