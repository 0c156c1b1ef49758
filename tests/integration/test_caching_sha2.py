"""
tests/integration/test_caching_sha2.py — caching_sha2_password towards clients (MySQL 8 style).

A private rwproxy with TLS offered ([tls] cert/key, a self-signed certificate made with the
openssl CLI) and three users: `app` (clear-text password in the config: the fast path is
possible), `sha2_hashed` (only a password_hash: no fast path) and `sha2_nopw` (empty password).

Covered, with the bytes checked through tests/integration/mysqlraw.py and with a real client
(the mariadb CLI with --default-auth=caching_sha2_password, libmariadb's caching_sha2 plugin):
- fast path: the client's 32-byte scramble is checked, 0x01 0x03 then OK; an empty password;
- full authentication over plain TCP is refused with ERR 1045 (28000) and the clear message
  at once (no 0x01 0x04, so no client sends its password unencrypted), which the mariadb CLI
  shows;
- a password_hash user over plain TCP is switched to mysql_native_password;
- full authentication over TLS: the password in clear is checked against the hash (and gives
  rwproxy SHA1(password) for the servers); a wrong one is refused with 1045.
"""
import hashlib
import os
import shutil
import signal
import ssl
import struct
import subprocess
import tempfile

import pytest

import mysqlraw
import sandbox as sb
from conftest import HOST, RWPROXY_BIN

MYSQL_CLI = shutil.which("mariadb") or shutil.which("mysql")
OPENSSL = shutil.which("openssl")
NEEDS_TLS = ("caching_sha2_password full authentication requires TLS; connect with --ssl or "
             "use mysql_native_password")


def native_hash(password):
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()


@pytest.fixture(scope="module")
def cert_pair():
    """(cert, key) of a self-signed certificate for 127.0.0.1, in a temp dir."""
    if not OPENSSL:
        pytest.fail("the openssl CLI is missing (Debian package openssl; scripts/deps.sh)")
    d = tempfile.mkdtemp(prefix="rwp-sha2-")
    try:
        p = subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName = IP:127.0.0.1",
                            "-keyout", "key.pem", "-out", "cert.pem"],
                           cwd=d, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        yield os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def sha2_users(sandbox):
    """The test's accounts on the master; dropped at the end."""
    users = {"sha2_hashed": "hashed_pw", "sha2_nopw": None}
    for user, pw in users.items():
        sandbox.master.execute("DROP USER IF EXISTS '%s'@'%%'" % user)
        sandbox.master.execute("CREATE USER '%s'@'%%'%s" % (
            user, " IDENTIFIED BY '%s'" % pw if pw else ""))
        sandbox.master.execute("GRANT ALL ON test.* TO '%s'@'%%'" % user)
    yield users
    for user in users:
        try:
            sandbox.master.execute("DROP USER IF EXISTS '%s'@'%%'" % user)
        except Exception:  # noqa: BLE001 - best effort cleanup
            pass


@pytest.fixture(scope="module")
def px(sandbox, workdir, cert_pair, sha2_users):
    """The module's rwproxy (TLS offered, not required)."""
    cert, key = cert_pair
    base = os.path.join(workdir, "sha2-%d" % sb.free_port())
    extra = ("[proxy]\nlog_level = debug\n"
             "[tls]\ncert = %s\nkey = %s\n"
             "[user.sha2_hashed]\npassword_hash = %s\n"
             "[user.sha2_nopw]\npassword =\n" % (cert, key, native_hash("hashed_pw")))
    sb.write_proxy_config(base + ".ini", sandbox, sb.free_port(), sb.free_port(), extra=extra)
    proc = sb.ProxyProcess(RWPROXY_BIN, base + ".ini", base + ".log")
    proc.start()
    yield proc
    alive = proc.alive()
    rc = proc.stop(signal.SIGTERM)
    assert alive and rc == 0, "rwproxy exit %s; log tail:\n%s" % (rc, proc.log_text()[-3000:])


def raw_start(port, user, password, auth_data=None):
    """Greeting read and a caching_sha2_password HandshakeResponse sent; the RawConn."""
    c = mysqlraw.RawConn(HOST, port)
    c.read_greeting()
    c.sock.sendall(c.handshake_response(user, password, "test", plugin="caching_sha2_password",
                                        auth_data=auth_data))
    return c


def cli(port, user, password, *args):
    """The mariadb CLI speaking caching_sha2_password from the start; CompletedProcess. It
    uses TLS whenever the server offers it unless told --skip-ssl (plain TCP) or --ssl."""
    if not MYSQL_CLI:
        pytest.fail("the mariadb client is missing (Debian package mariadb-client)")
    cmd = [MYSQL_CLI, "--no-defaults", "-h", HOST, "-P", str(port), "-u", user,
           "--default-auth=caching_sha2_password", "-N", "-B", "test"]
    if password:
        cmd.insert(-1, "-p" + password)
    cmd[-1:-1] = list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_fast_path_packets(px):
    c = raw_start(px.port, "app", "app_pw")
    try:
        assert c.read_packet() == b"\x01\x03"  # fast auth success
        ok = c.read_packet()
        assert ok[:1] == b"\x00", ok
        assert c.query1("SELECT CURRENT_USER()").values() == [(b"app@%",)]
    finally:
        c.close()


def test_fast_path_empty_password(px):
    for auth in (b"", b"\x00"):  # clients send either for an empty password
        c = raw_start(px.port, "sha2_nopw", "", auth_data=auth)
        try:
            assert c.read_packet() == b"\x01\x03"
            assert c.read_packet()[:1] == b"\x00"
            assert c.query1("SELECT CURRENT_USER()").values() == [(b"sha2_nopw@%",)]
        finally:
            c.close()


def test_fast_path_with_the_mariadb_client(px):
    since = len(px.log_text())
    r = cli(px.port, "app", "app_pw", "--skip-ssl", "-e", "SELECT CURRENT_USER()")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "app@%"
    assert "caching_sha2_password fast path accepted" in px.log_text()[since:]
    # a wrong password fails the fast path; full authentication then needs TLS
    r = cli(px.port, "app", "not_app_pw", "--skip-ssl", "-e", "SELECT 1")
    assert r.returncode != 0
    assert "1045" in r.stderr and NEEDS_TLS in r.stderr, r.stderr


def test_full_auth_refused_over_plain_tcp(px):
    """A fast-path reply that does not match needs full authentication: over plain TCP rwproxy
    answers ERR 1045 at once, never 0x01 0x04, so no client sends its password unencrypted."""
    for auth in (bytes(32), mysqlraw.sha2_scramble("not_app_pw", b"\x00" * 20)):
        c = raw_start(px.port, "app", "app_pw", auth_data=auth)
        try:
            err = mysqlraw.parse_err(c.read_packet())
            assert (err.code, err.state, err.message) == (1045, "28000", NEEDS_TLS), err
        finally:
            c.close()


def test_hash_only_user_switched_to_native_over_plain_tcp(px):
    c = mysqlraw.RawConn(HOST, px.port)
    try:
        res = c.login("sha2_hashed", "hashed_pw", "test", plugin="caching_sha2_password")
        assert res.kind == "ok", res
        assert c.switched_to == "mysql_native_password"
        assert c.query1("SELECT CURRENT_USER()").values() == [(b"sha2_hashed@%",)]
    finally:
        c.close()
    r = cli(px.port, "sha2_hashed", "hashed_pw", "--skip-ssl", "-e", "SELECT CURRENT_USER()")
    assert r.returncode == 0 and r.stdout.strip() == "sha2_hashed@%", r.stderr


def test_full_auth_over_tls(px):
    since = len(px.log_text())
    r = cli(px.port, "sha2_hashed", "hashed_pw", "--ssl", "-e", "SELECT CURRENT_USER()")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "sha2_hashed@%"
    log = px.log_text()[since:]
    assert "caching_sha2_password full authentication over TLS accepted" in log, log[-3000:]
    # wrong password over TLS: the clear password is checked and refused
    r = cli(px.port, "sha2_hashed", "not_hashed_pw", "--ssl", "-e", "SELECT 1")
    assert r.returncode != 0
    assert "1045" in r.stderr and "Access denied for user 'sha2_hashed'" in r.stderr, r.stderr
    # a clear-text config user with a wrong password: fast path fails, full auth over TLS
    r = cli(px.port, "app", "not_app_pw", "--ssl", "-e", "SELECT 1")
    assert r.returncode != 0
    assert "Access denied for user 'app'" in r.stderr, r.stderr
    # and with the right one over TLS the fast path is used
    r = cli(px.port, "app", "app_pw", "--ssl", "-e", "SELECT CURRENT_USER()")
    assert r.returncode == 0 and r.stdout.strip() == "app@%", r.stderr


def raw_tls_start(port, user, password, auth_data):
    """Greeting, SSLRequest, TLS handshake (no certificate check: the test's own self-signed
    one), then a caching_sha2_password HandshakeResponse (seq 2); the RawConn over TLS."""
    c = mysqlraw.RawConn(HOST, port)
    g = c.read_greeting()
    assert g.caps & mysqlraw.CLIENT_SSL, "rwproxy does not offer TLS"
    caps = (mysqlraw.BASE_CAPS | mysqlraw.CLIENT_SSL | mysqlraw.CLIENT_DEPRECATE_EOF) & (
        g.caps | mysqlraw.CLIENT_LONG_PASSWORD)
    ssl_request = struct.pack("<IIB", caps, 1 << 30, mysqlraw.CHARSET_UTF8MB4) + b"\x00" * 23
    c.sock.sendall(mysqlraw.RawConn.frame(ssl_request, 1)[0])
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c.sock = ctx.wrap_socket(c.sock, server_hostname=None)
    framed = c.handshake_response(user, password, "test", caps=caps & ~mysqlraw.CLIENT_SSL,
                                  plugin="caching_sha2_password", auth_data=auth_data)
    c.sock.sendall(mysqlraw.RawConn.frame(framed[4:], 2)[0])
    c.seq = 3
    return c


def test_full_auth_packets_over_tls(px):
    # a hash-only user: its 32-byte fast-path reply cannot be checked -> 0x01 0x04, then the
    # password in clear (NUL-terminated) over TLS -> OK
    c = raw_tls_start(px.port, "sha2_hashed", "hashed_pw", bytes(32))
    try:
        assert c.read_packet() == b"\x01\x04"
        c.write_packet(b"hashed_pw\x00", c.seq)
        ok = c.read_packet()
        assert ok[:1] == b"\x00", ok
        assert c.query1("SELECT CURRENT_USER()").values() == [(b"sha2_hashed@%",)]
    finally:
        c.close()
    # the same, but the client asks for the RSA key instead: refused with the reason
    c = raw_tls_start(px.port, "sha2_hashed", "hashed_pw", bytes(32))
    try:
        assert c.read_packet() == b"\x01\x04"
        c.write_packet(b"\x02", c.seq)
        err = mysqlraw.parse_err(c.read_packet())
        assert (err.code, err.state) == (1045, "28000"), err
        assert "RSA key exchange is not supported" in err.message, err
    finally:
        c.close()
    # a wrong clear password over TLS: access denied
    c = raw_tls_start(px.port, "sha2_hashed", "hashed_pw", bytes(32))
    try:
        assert c.read_packet() == b"\x01\x04"
        c.write_packet(b"wrong\x00", c.seq)
        err = mysqlraw.parse_err(c.read_packet())
        assert (err.code, err.state) == (1045, "28000"), err
        assert "Access denied for user 'sha2_hashed'" in err.message, err
    finally:
        c.close()
