#!/bin/bash
# configs/ha/check_rwproxy.sh — keepalived's health check of the local rwproxy (vrrp_script in
# configs/ha/keepalived.conf). Exit 0: this host may hold the virtual IP; exit 1: it must not.
#
# Healthy means all of:
#   1. the admin port answers `rwproxyctl status` (rwproxy runs and is not wedged);
#   2. rwproxy sees at least one server up — either it knows a master (exit 0 of
#      `rwproxyctl status`) or a failover is under way (exit 1 with "NO MASTER" but servers
#      up: the other rwproxy would see the same, so moving the address would not help);
#      a host cut off from every database server is unhealthy and gives the address away;
#   3. the client port accepts a TCP connection.
#
# Settings (environment, or edit the defaults):
#   RWPROXYCTL       rwproxyctl binary                 (default: rwproxyctl in PATH)
#   RWPROXY_CONFIG   rwproxy's configuration file      (default: /etc/rwproxy/rwproxy.ini)
#   RWPROXY_CLIENT   client address to probe host:port (default: 127.0.0.1 and the port of
#                    [proxy] listen in RWPROXY_CONFIG)
#   CHECK_TIMEOUT_S  longest time for each probe       (default: 4; keep below the
#                    vrrp_script timeout)
# Prints one line saying why when unhealthy (keepalived logs it with script logging on).
set -u

RWPROXYCTL="${RWPROXYCTL:-rwproxyctl}"
RWPROXY_CONFIG="${RWPROXY_CONFIG:-/etc/rwproxy/rwproxy.ini}"
CHECK_TIMEOUT_S="${CHECK_TIMEOUT_S:-4}"

# client_address: RWPROXY_CLIENT, or 127.0.0.1 and the port of [proxy] listen.
client_address() {
  if [ -n "${RWPROXY_CLIENT:-}" ]; then
    printf '%s\n' "$RWPROXY_CLIENT"
    return
  fi
  local port
  port="$(awk '
    /^[ \t]*\[/ { sec = $0; gsub(/[ \t\[\]]/, "", sec); next }
    sec == "proxy" && /^[ \t]*listen[ \t]*[=:]/ {
      v = $0; sub(/^[^=:]*[=:][ \t]*/, "", v); sub(/[ \t]+[;#].*$/, "", v);
      n = split(v, parts, ":"); print parts[n]; exit }' "$RWPROXY_CONFIG" 2>/dev/null)"
  printf '127.0.0.1:%s\n' "${port:-6033}"
}

unhealthy() {
  echo "check_rwproxy: unhealthy: $*"
  exit 1
}

out="$(timeout "$CHECK_TIMEOUT_S" "$RWPROXYCTL" -c "$RWPROXY_CONFIG" status 2>&1)"
rc=$?
summary="$(printf '%s\n' "$out" | tail -n 1)"
case "$rc" in
  0) ;;
  1)
    up="$(printf '%s\n' "$summary" | sed -n 's/^NO MASTER; .* \([0-9][0-9]*\) up,.*/\1/p')"
    [ -n "$up" ] || unhealthy "rwproxyctl status failed: $summary"
    [ "$up" -gt 0 ] || unhealthy "no database server is up: $summary"
    ;;
  124) unhealthy "rwproxyctl status did not answer within ${CHECK_TIMEOUT_S} s" ;;
  *) unhealthy "rwproxyctl status exited $rc: $summary" ;;
esac

addr="$(client_address)"
host="${addr%:*}"
port="${addr##*:}"
host="${host#[}"
host="${host%]}"
timeout "$CHECK_TIMEOUT_S" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null \
  || unhealthy "client port $addr does not accept connections"
exit 0
