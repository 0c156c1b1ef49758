#!/usr/bin/env bash
# scripts/deps.sh MODE — makes sure the Debian 12 packages rwproxy needs are installed.
#   MODE=build: compiler and libraries to build bin/rwproxy and the unit tests.
#   MODE=all:   also what `make test`, `make run`, `make bench` and `make fuzz` use (MariaDB
#               server and client, pytest, PyMySQL, Connector/J + a JDK, sysbench, HAProxy,
#               clang and its libFuzzer/sanitizer runtime, Tomcat 10 for `make test-e2e`,
#               pandoc, man-db, docker-compose, keepalived for `make man`/`check-compose`).
# Silent and exit 0 when everything is there. As root it installs what is missing
# (apt-get install, and apt-get update only if that fails); otherwise it prints the
# apt-get line and exits 1. Services the packages ship (mariadb, haproxy, tomcat10) are not started
# during the install: the sandbox runs its own servers on other ports.
set -euo pipefail

MODE="${1:-all}"
BUILD_PKGS=(gcc make libc6-dev libuv1-dev libmariadb-dev libmariadb-dev-compat libpcre2-dev
            libinih-dev libcmocka-dev libssl-dev)
TEST_PKGS=(mariadb-server mariadb-client python3-pytest python3-pymysql libmariadb-java
           sysbench haproxy mariadb-test valgrind openssl) # openssl: certificates (make run, test_tls)
FUZZ_PKGS=(clang libclang-rt-dev) # the runtime (libFuzzer, ASan) is only a Recommends of clang
E2E_PKGS=(tomcat10 libtomcat10-java) # make test-e2e: Tomcat 10 run from the test (own CATALINA_BASE)
# make man (pandoc), make check-compose (docker-compose), tests/integration/test_install.py
# (man -l, keepalived --config-test of configs/ha/keepalived.conf)
PKG_PKGS=(pandoc man-db docker-compose keepalived) # systemd-analyze: used when present

case "$MODE" in
  build) WANT=("${BUILD_PKGS[@]}") ;;
  all)
    WANT=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${FUZZ_PKGS[@]}" "${E2E_PKGS[@]}" "${PKG_PKGS[@]}")
    command -v javac >/dev/null 2>&1 || WANT+=(default-jdk-headless)
    ;;
  *) echo "usage: $0 build|all" >&2; exit 2 ;;
esac

# Prints the packages of "$@" that dpkg does not report as installed.
missing_packages() {
  local p status
  for p in "$@"; do
    status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
    [ "$status" = "install ok installed" ] || printf '%s\n' "$p"
  done
}

mapfile -t MISSING < <(missing_packages "${WANT[@]}")
[ "${#MISSING[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "missing packages: ${MISSING[*]}" >&2
  echo "run: sudo apt-get install -y ${MISSING[*]}" >&2
  exit 1
fi

# Keep maintainer scripts from starting mariadb/haproxy/tomcat10 (removed again on exit).
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$POLICY"
  chmod 755 "$POLICY"
  trap 'rm -f "$POLICY"' EXIT
fi

echo "deps.sh: installing ${MISSING[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_install() {
  apt-get install -y --no-install-recommends "${MISSING[@]}"
}
if ! apt_install; then
  apt-get update
  apt_install
fi

mapfile -t STILL < <(missing_packages "${MISSING[@]}")
if [ "${#STILL[@]}" -ne 0 ]; then
  echo "deps.sh: still missing after apt-get install: ${STILL[*]}" >&2
  exit 1
fi
