#!/bin/bash
# packaging/install.sh install|uninstall — what `make install` and `make uninstall` do.
# Environment (the Makefile passes it): BUILD (build tree holding bin/ and man/), PREFIX
# (default /usr/local), DESTDIR (staging root, default none), SYSCONFDIR (default /etc when
# PREFIX is /usr, else PREFIX/etc).
#
# Installs:
#   PREFIX/bin/rwproxy, PREFIX/bin/rwproxyctl
#   PREFIX/share/man/man1/rwproxy.1, rwproxyctl.1; PREFIX/share/man/man5/rwproxy.ini.5
#   PREFIX/lib/systemd/system/rwproxy.service (paths adjusted to PREFIX and SYSCONFDIR)
#   PREFIX/lib/sysusers.d/rwproxy.conf (the rwproxy system user, for systemd-sysusers)
#   SYSCONFDIR/rwproxy/rwproxy.ini.example (configs/production.ini, always refreshed) and
#   SYSCONFDIR/rwproxy/rwproxy.ini (the same, mode 640, only if there is none yet)
# Without DESTDIR and as root it also creates the rwproxy user (systemd-sysusers) and gives
# a newly installed rwproxy.ini to group rwproxy. Uninstall removes all but the
# configuration folder, which holds the operator's file.
set -euo pipefail

ACTION="${1:-}"
BUILD="${BUILD:-build}"
PREFIX="${PREFIX:-/usr/local}"
DESTDIR="${DESTDIR:-}"
if [ -z "${SYSCONFDIR:-}" ]; then
  if [ "$PREFIX" = /usr ]; then SYSCONFDIR=/etc; else SYSCONFDIR="$PREFIX/etc"; fi
fi
BINDIR="$PREFIX/bin"
MANDIR="$PREFIX/share/man"
UNITDIR="$PREFIX/lib/systemd/system"
SYSUSERSDIR="$PREFIX/lib/sysusers.d"
CONFDIR="$SYSCONFDIR/rwproxy"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

MAN_PAGES=(man1/rwproxy.1 man1/rwproxyctl.1 man5/rwproxy.ini.5)

# The unit with the installation's paths instead of /usr/bin and /etc/rwproxy.
unit_text() {
  sed -e "s|/usr/bin/rwproxy|$BINDIR/rwproxy|g" -e "s|/etc/rwproxy/|$CONFDIR/|g" \
    packaging/rwproxy.service
}

do_install() {
  local page
  for f in "$BUILD/bin/rwproxy" "$BUILD/bin/rwproxyctl"; do
    [ -x "$f" ] || { echo "install.sh: $f missing: run make first" >&2; exit 1; }
  done
  install -d "$DESTDIR$BINDIR" "$DESTDIR$MANDIR/man1" "$DESTDIR$MANDIR/man5" \
    "$DESTDIR$UNITDIR" "$DESTDIR$SYSUSERSDIR" "$DESTDIR$CONFDIR"
  install -m 755 "$BUILD/bin/rwproxy" "$BUILD/bin/rwproxyctl" "$DESTDIR$BINDIR/"
  for page in "${MAN_PAGES[@]}"; do
    [ -f "$BUILD/man/${page#*/}" ] || { echo "install.sh: $BUILD/man/${page#*/} missing: run make man" >&2; exit 1; }
    install -m 644 "$BUILD/man/${page#*/}" "$DESTDIR$MANDIR/$page"
  done
  unit_text > "$DESTDIR$UNITDIR/rwproxy.service.tmp"
  chmod 644 "$DESTDIR$UNITDIR/rwproxy.service.tmp"
  mv -f "$DESTDIR$UNITDIR/rwproxy.service.tmp" "$DESTDIR$UNITDIR/rwproxy.service"
  install -m 644 packaging/rwproxy.sysusers "$DESTDIR$SYSUSERSDIR/rwproxy.conf"
  install -m 644 configs/production.ini "$DESTDIR$CONFDIR/rwproxy.ini.example"
  local conf="$DESTDIR$CONFDIR/rwproxy.ini" fresh=0
  if [ -e "$conf" ]; then
    echo "install.sh: kept the existing $conf (the new example is rwproxy.ini.example)"
  else
    install -m 640 configs/production.ini "$conf"
    fresh=1
  fi
  if [ -z "$DESTDIR" ] && [ "$(id -u)" -eq 0 ]; then
    if command -v systemd-sysusers >/dev/null 2>&1; then
      systemd-sysusers "$SYSUSERSDIR/rwproxy.conf" || true
    fi
    if [ "$fresh" = 1 ] && getent group rwproxy >/dev/null; then
      chgrp rwproxy "$conf"
    fi
  fi
  echo "installed rwproxy into $DESTDIR$PREFIX (configuration: $DESTDIR$CONFDIR/rwproxy.ini)"
}

do_uninstall() {
  local page
  rm -f "$DESTDIR$BINDIR/rwproxy" "$DESTDIR$BINDIR/rwproxyctl" \
    "$DESTDIR$UNITDIR/rwproxy.service" "$DESTDIR$SYSUSERSDIR/rwproxy.conf"
  for page in "${MAN_PAGES[@]}"; do
    rm -f "$DESTDIR$MANDIR/$page"
  done
  echo "uninstalled rwproxy from $DESTDIR$PREFIX; kept $DESTDIR$CONFDIR (your configuration)"
}

case "$ACTION" in
  install) do_install ;;
  uninstall) do_uninstall ;;
  *) echo "usage: $0 install|uninstall" >&2; exit 2 ;;
esac
