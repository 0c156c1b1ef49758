"""
tests/integration/test_tls.py — TLS on both sides of rwproxy, with certificates made by the
openssl CLI in the test's temp dir (a CA, a server certificate it signs for IP 127.0.0.1 and
localhost, and an unrelated second CA).

Client side ([tls] cert/key on private rwproxy processes over the session's sandbox): the
mariadb CLI with --ssl-verify-server-cert (its status shows the cipher), PyMySQL with
ssl={'ca': ...} (the socket is an SSLSocket), Connector/J with useSSL=true and serverSslCert
(JdbcSmoke's whole workload, through a proxy with require = on), `require = on` refusing a
plain client with 1045 while TLS clients work, a several-MiB result and a 20 MiB insert relayed
intact (checksums), and a client that sends garbage instead of a ClientHello being closed while
others keep working.

Backend side ([server.NAME] tls = on): a one-server sandbox of this module's own started with
ssl_cert/ssl_key; `SHOW STATUS LIKE 'Ssl_cipher'` sent through rwproxy runs on rwproxy's
backend connection and must name a cipher; large answers and a 20 MiB insert relayed from /
to it intact; a wrong tls_ca fails the login with a clear error to the client.

Configuration: a bad certificate, a key that does not match it, cert without key, and
tls_ca without tls are refused by --check with the reason.
"""
import hashlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import pymysql
import pytest

import sandbox as sb
from conftest import HOST, RWPROXY_BIN, pymysql_connect

MYSQL_CLI = shutil.which("mariadb") or shutil.which("mysql")
OPENSSL = shutil.which("openssl")
JAVA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "java")
JDBC_JAR = "/usr/share/java/mariadb-java-client.jar"


# ---------------------------------------------------------------- certificates ----

def _openssl(*args, cwd):
    p = subprocess.run([OPENSSL] + list(args), cwd=cwd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "openssl %s failed:\n%s%s" % (" ".join(args), p.stdout, p.stderr)


@pytest.fixture(scope="module")
def certs():
    """{'ca', 'cert', 'key', 'other_ca'}: paths in a temp dir removed at the end."""
    if not OPENSSL:
        pytest.fail("the openssl CLI is missing (Debian package openssl; scripts/deps.sh)")
    d = tempfile.mkdtemp(prefix="rwp-tls-")
    try:
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                 "-subj", "/CN=rwproxy test CA", "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                 "-keyout", "server.key", "-out", "server.csr", cwd=d)
        with open(os.path.join(d, "ext.cnf"), "w") as f:
            f.write("subjectAltName = IP:127.0.0.1, DNS:localhost\n"
                    "basicConstraints = CA:FALSE\nkeyUsage = digitalSignature, keyEncipherment\n"
                    "extendedKeyUsage = serverAuth\n")
        _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "3650", "-extfile", "ext.cnf", "-out", "server.crt",
                 cwd=d)
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=app",
                 "-keyout", "client.key", "-out", "client.csr", cwd=d)
        with open(os.path.join(d, "client.cnf"), "w") as f:
            f.write("basicConstraints = CA:FALSE\nextendedKeyUsage = clientAuth\n")
        _openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "3650", "-extfile", "client.cnf",
                 "-out", "client.crt", cwd=d)
        # signed by the CA, but for another name: host verification must refuse it
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=db.example.invalid",
                 "-keyout", "misnamed.key", "-out", "misnamed.csr", cwd=d)
        with open(os.path.join(d, "misnamed.cnf"), "w") as f:
            f.write("subjectAltName = DNS:db.example.invalid\nbasicConstraints = CA:FALSE\n"
                    "extendedKeyUsage = serverAuth\n")
        _openssl("x509", "-req", "-in", "misnamed.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "3650", "-extfile", "misnamed.cnf",
                 "-out", "misnamed.crt", cwd=d)
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                 "-subj", "/CN=some other CA", "-keyout", "other.key", "-out", "other_ca.crt",
                 cwd=d)
        yield {"dir": d, "ca": os.path.join(d, "ca.crt"), "cert": os.path.join(d, "server.crt"),
               "key": os.path.join(d, "server.key"), "other_ca": os.path.join(d, "other_ca.crt"),
               "other_key": os.path.join(d, "other.key"),
               "client_cert": os.path.join(d, "client.crt"),
               "client_key": os.path.join(d, "client.key"),
               "misnamed_cert": os.path.join(d, "misnamed.crt"),
               "misnamed_key": os.path.join(d, "misnamed.key")}
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- private proxies ----

def _add_server_keys(path, server_keys):
    """Insert key = value lines after the [server.NAME] headers of an INI file."""
    with open(path) as f:
        lines = f.read().split("\n")
    out = []
    for line in lines:
        out.append(line)
        name = line.strip()[len("[server."):-1] if line.strip().startswith("[server.") else None
        if name in server_keys:
            out += ["%s = %s" % kv for kv in server_keys[name].items()]
    with open(path, "w") as f:
        f.write("\n".join(out))


class Proxy:
    """A private rwproxy of this module."""

    def __init__(self, box, workdir, name, extra="", server_keys=None):
        base = os.path.join(workdir, "tls-%s-%d" % (name, sb.free_port()))
        sb.write_proxy_config(base + ".ini", box, sb.free_port(), sb.free_port(),
                              extra="[proxy]\nlog_level = debug\n" + extra)
        if server_keys:
            _add_server_keys(base + ".ini", server_keys)
        self.proc = sb.ProxyProcess(RWPROXY_BIN, base + ".ini", base + ".log")
        self.proc.start()
        self.port = self.proc.port

    def log_tail(self, n=40):
        return "\n".join(self.proc.log_text().splitlines()[-n:])

    def stop(self):
        was_alive = self.proc.alive()
        rc = self.proc.stop(signal.SIGTERM)
        assert was_alive, "rwproxy died during the test; log:\n" + self.log_tail()
        assert rc == 0, "rwproxy exited %s on SIGTERM; log:\n%s" % (rc, self.log_tail())


def tls_section(certs, **keys):
    lines = ["[tls]", "cert = " + certs["cert"], "key = " + certs["key"]]
    lines += ["%s = %s" % kv for kv in keys.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def tls_proxy(sandbox, workdir, certs):
    """TLS offered, not required."""
    px = Proxy(sandbox, workdir, "offer", tls_section(certs))
    yield px
    px.stop()


@pytest.fixture(scope="module")
def strict_proxy(sandbox, workdir, certs):
    """TLS required."""
    px = Proxy(sandbox, workdir, "require", tls_section(certs, require="on"))
    yield px
    px.stop()


def tls_conn(port, certs, **kw):
    return pymysql_connect(port, ssl={"ca": certs["ca"], "check_hostname": True}, **kw)


def assert_encrypted(conn):
    assert isinstance(conn._sock, ssl.SSLSocket), "PyMySQL did not switch to TLS"
    assert conn._sock.version() in ("TLSv1.2", "TLSv1.3"), conn._sock.version()


def one(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()


# ---------------------------------------------------------------- client side ----

def test_greeting_offers_ssl_only_with_cert(proxy, tls_proxy):
    for port, want in ((proxy.port, False), (tls_proxy.port, True)):
        s = socket.create_connection((HOST, port), timeout=10)
        try:
            greeting = s.recv(4096)
        finally:
            s.close()
        payload = greeting[4:]
        ver_end = payload.index(b"\x00", 1)
        caps_low = int.from_bytes(payload[ver_end + 1 + 4 + 8 + 1:][:2], "little")
        assert bool(caps_low & 0x0800) == want, (port, hex(caps_low))


def test_mysql_cli_verifies_and_shows_cipher(tls_proxy, certs):
    if not MYSQL_CLI:
        pytest.skip("no mariadb/mysql client")
    p = subprocess.run([MYSQL_CLI, "-h", HOST, "-P", str(tls_proxy.port), "-uapp", "-papp_pw",
                        "--ssl", "--ssl-ca=" + certs["ca"], "--ssl-verify-server-cert", "test",
                        "-e", "status; SELECT 40 + 2 AS answer"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr + tls_proxy.log_tail()
    ssl_lines = [ln for ln in p.stdout.splitlines() if ln.strip().startswith("SSL:")]
    assert ssl_lines and "Cipher in use" in ssl_lines[0], p.stdout
    assert "42" in p.stdout.split()


def test_mysql_cli_rejects_a_certificate_of_another_ca(tls_proxy, certs):
    """The client's check is real: the same proxy fails verification against the wrong CA."""
    if not MYSQL_CLI:
        pytest.skip("no mariadb/mysql client")
    p = subprocess.run([MYSQL_CLI, "-h", HOST, "-P", str(tls_proxy.port), "-uapp", "-papp_pw",
                        "--ssl", "--ssl-ca=" + certs["other_ca"], "--ssl-verify-server-cert",
                        "test", "-e", "SELECT 1"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0, p.stdout
    assert "SSL" in p.stderr or "TLS" in p.stderr or "certificate" in p.stderr, p.stderr


def test_plain_client_still_works_when_not_required(tls_proxy):
    c = pymysql_connect(tls_proxy.port)
    try:
        assert not isinstance(c._sock, ssl.SSLSocket)
        assert one(c, "SELECT 7") == (7,)
    finally:
        c.close()


def test_pymysql_tls_large_result_and_insert(tls_proxy, certs):
    c = tls_conn(tls_proxy.port, certs, read_timeout=300, write_timeout=300)
    try:
        assert_encrypted(c)
        with c.cursor() as cur:
            # ~7.5 MB of rows: every byte must arrive as the server made it
            cur.execute("SELECT seq, SHA2(seq, 256) FROM seq_1_to_100000")
            rows = cur.fetchall()
            assert len(rows) == 100000
            bad = [r for r in rows if r[1] != hashlib.sha256(str(r[0]).encode()).hexdigest()]
            assert not bad, bad[:3]
            # 20 MiB in one statement (over 16 MiB: continuation packets), and back
            blob = os.urandom(20 * 1024 * 1024)
            cur.execute("DROP TABLE IF EXISTS test.tls_blob")
            cur.execute("CREATE TABLE test.tls_blob (id INT PRIMARY KEY, b LONGBLOB)")
            cur.execute("INSERT INTO test.tls_blob VALUES (1, %s)", (blob,))
            cur.execute("SELECT LENGTH(b), SHA2(b, 256) FROM test.tls_blob /* rwproxy:master */")
            assert cur.fetchone() == (len(blob), hashlib.sha256(blob).hexdigest())
            cur.execute("SELECT b FROM test.tls_blob /* rwproxy:master */")
            got = cur.fetchone()[0]
            assert hashlib.sha256(got).hexdigest() == hashlib.sha256(blob).hexdigest()
            cur.execute("DROP TABLE test.tls_blob")
    finally:
        c.close()


def test_require_refuses_plain_clients(strict_proxy, certs):
    with pytest.raises(pymysql.err.OperationalError) as ei:
        pymysql_connect(strict_proxy.port)
    assert ei.value.args[0] == 1045, ei.value.args
    assert "requires TLS" in ei.value.args[1], ei.value.args
    c = tls_conn(strict_proxy.port, certs)
    try:
        assert_encrypted(c)
        assert one(c, "SELECT 1") == (1,)
    finally:
        c.close()


def test_mysql_cli_without_ssl_is_refused_when_required(strict_proxy):
    if not MYSQL_CLI:
        pytest.skip("no mariadb/mysql client")
    p = subprocess.run([MYSQL_CLI, "-h", HOST, "-P", str(strict_proxy.port), "-uapp", "-papp_pw",
                        "--skip-ssl", "test", "-e", "SELECT 1"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "1045" in p.stderr and "requires TLS" in p.stderr, p.stderr


def _ssl_request(greeting):
    """The 32-byte SSL request (HandshakeResponse41 with CLIENT_SSL and nothing else), seq 1."""
    caps = 0x00000200 | 0x00008000 | 0x00000800 | 0x00080000 | 0x00000001  # 41, secure, SSL, plugin auth
    payload = caps.to_bytes(4, "little") + (16 * 1024 * 1024).to_bytes(4, "little") + b"\x2d" + bytes(23)
    return len(payload).to_bytes(3, "little") + b"\x01" + payload


def _closed_by_peer(s, limit_s=20):
    """True once the peer closed (EOF or reset) within limit_s."""
    s.settimeout(0.5)
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            data = s.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            return True
        if data == b"":
            return True
    return False


def test_garbage_instead_of_client_hello_is_closed(tls_proxy, certs):
    held = tls_conn(tls_proxy.port, certs)  # a TLS client in the middle of its session
    try:
        s = socket.create_connection((HOST, tls_proxy.port), timeout=10)
        try:
            greeting = s.recv(4096)
            s.sendall(_ssl_request(greeting) + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(300))
            assert _closed_by_peer(s), "rwproxy kept a connection that sent garbage for TLS"
        finally:
            s.close()
        # an SSL request followed by a truncated ClientHello record, then silence: the
        # handshake timeout ends it; here we only close and check nothing broke
        s = socket.create_connection((HOST, tls_proxy.port), timeout=10)
        s.recv(4096)
        s.sendall(_ssl_request(b"") + b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        s.close()
        assert one(held, "SELECT 5") == (5,)
        c = tls_conn(tls_proxy.port, certs)
        assert_encrypted(c)
        assert one(c, "SELECT 6") == (6,)
        c.close()
    finally:
        held.close()
    assert tls_proxy.proc.alive()


def test_client_certificates_with_ca(sandbox, workdir, certs):
    """[tls] ca: a TLS client must present a certificate the CA signed; plain clients are
    not affected (require is off)."""
    px = Proxy(sandbox, workdir, "client-ca", tls_section(certs, ca=certs["ca"]))
    try:
        c = pymysql_connect(px.port, ssl={"ca": certs["ca"], "cert": certs["client_cert"],
                                          "key": certs["client_key"]})
        try:
            assert_encrypted(c)
            assert one(c, "SELECT 11") == (11,)
        finally:
            c.close()
        with pytest.raises(pymysql.err.OperationalError):
            pymysql_connect(px.port, ssl={"ca": certs["ca"]})  # no client certificate
        with pytest.raises(pymysql.err.OperationalError):  # one the CA did not sign
            pymysql_connect(px.port, ssl={"ca": certs["ca"], "cert": certs["other_ca"],
                                          "key": certs["other_key"]})
        c = pymysql_connect(px.port)
        assert one(c, "SELECT 12") == (12,)
        c.close()
    finally:
        px.stop()


def _offers_ssl(port):
    s = socket.create_connection((HOST, port), timeout=10)
    try:
        payload = s.recv(4096)[4:]
    finally:
        s.close()
    ver_end = payload.index(b"\x00", 1)
    return bool(int.from_bytes(payload[ver_end + 14:ver_end + 16], "little") & 0x0800)


def _reload(px, text, want):
    """Write the proxy's config, SIGHUP, wait for the log line want (bounded)."""
    since = len(px.proc.log_text())
    with open(px.proc.config_path, "w") as f:
        f.write(text)
    os.kill(px.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 20
    while want not in px.proc.log_text()[since:]:
        assert time.monotonic() < deadline, "no '%s' in the log:\n%s" % (want, px.log_tail())
        time.sleep(0.05)
    return px.proc.log_text()[since:]


def test_reload_turns_tls_on_and_refuses_a_bad_certificate(sandbox, workdir, certs):
    px = Proxy(sandbox, workdir, "reload")
    try:
        plain_text = open(px.proc.config_path).read()
        assert not _offers_ssl(px.port)
        held = pymysql_connect(px.port)  # a plain session across the reloads
        _reload(px, plain_text + "\n" + tls_section(certs), "configuration reloaded")
        assert _offers_ssl(px.port)
        c = tls_conn(px.port, certs)
        assert_encrypted(c)
        assert one(c, "SELECT 21") == (21,)
        log = _reload(px, plain_text + "\n[tls]\ncert = %s\nkey = %s\n" % (certs["cert"], certs["other_key"]),
                      "configuration not reloaded")
        assert "does not match" in log, log
        assert _offers_ssl(px.port)  # the previous configuration stays
        assert one(c, "SELECT 22") == (22,)
        c.close()
        c = tls_conn(px.port, certs)
        assert one(c, "SELECT 23") == (23,)
        c.close()
        assert one(held, "SELECT 24") == (24,)
        held.close()
    finally:
        px.stop()


@pytest.fixture(scope="module")
def jdbc_classes():
    if not shutil.which("javac") or not shutil.which("java"):
        pytest.skip("javac/java not installed")
    assert os.path.exists(JDBC_JAR), "MariaDB Connector/J missing: " + JDBC_JAR
    out = tempfile.mkdtemp(prefix="rwp-tls-java-")
    try:
        p = subprocess.run(["javac", "-encoding", "UTF-8", "-cp", JDBC_JAR, "-d", out,
                            os.path.join(JAVA_DIR, "JdbcSmoke.java")],
                           capture_output=True, text=True, timeout=180)
        assert p.returncode == 0, "javac failed:\n" + p.stdout + p.stderr
        yield out
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_connector_j_over_tls(strict_proxy, certs, jdbc_classes):
    """JdbcSmoke's whole workload (17 MiB BLOB, 100k streamed rows, batches, CALL) with
    useSSL=true and the CA as serverSslCert; the proxy requires TLS, so success means TLS."""
    url = ("jdbc:mysql://%s:%d/test?user=app&password=app_pw&permitMysqlScheme&useSSL=true"
           "&serverSslCert=%s" % (HOST, strict_proxy.port, certs["ca"]))
    p = subprocess.run(["java", "-Xmx512m", "-Dfile.encoding=UTF-8", "-cp",
                        jdbc_classes + os.pathsep + JDBC_JAR, "JdbcSmoke", url],
                       capture_output=True, timeout=300)
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0, out[-3000:] + err[-3000:] + strict_proxy.log_tail()
    lines = out.splitlines()
    assert len(lines) > 50 and lines[-1] == "END", out[-2000:]


# ---------------------------------------------------------------- backend side ----

def server_tls_args(cert, key, ca):
    return ["--ssl-cert=" + cert, "--ssl-key=" + key, "--ssl-ca=" + ca]


@pytest.fixture(scope="module")
def tls_server(workdir, certs):
    """One MariaDB server (a master without replicas) of this module's own, with TLS."""
    box = sb.Sandbox(os.path.join(workdir, "tls-sandbox"), nreplicas=0)
    box.master.extra_args = server_tls_args(certs["cert"], certs["key"], certs["ca"])
    try:
        box.start()
        have = box.master.query("SHOW GLOBAL VARIABLES LIKE 'have_ssl'")
        assert have and have[0][1] == "YES", have
        yield box
    finally:
        box.stop()


@pytest.fixture(scope="module")
def backend_tls_proxy(tls_server, workdir, certs):
    px = Proxy(tls_server, workdir, "backend",
               server_keys={"db1": {"tls": "on", "tls_ca": certs["ca"]}})
    yield px
    px.stop()


def test_backend_sessions_are_encrypted(backend_tls_proxy, tls_server):
    c = pymysql_connect(backend_tls_proxy.port, read_timeout=300, write_timeout=300)
    try:
        cipher = one(c, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        assert cipher and cipher[1], "rwproxy's backend connection is not encrypted: %r" % (cipher,)
        version = one(c, "SHOW SESSION STATUS LIKE 'Ssl_version'")
        assert version[1] in ("TLSv1.2", "TLSv1.3"), version
        # the monitor's connection is plain: the server sees both kinds
        direct = tls_server.master.connect(user="app", password="app_pw", database="test")
        try:
            assert one(direct, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")[1] == ""
        finally:
            direct.close()
        with c.cursor() as cur:
            cur.execute("SELECT seq, SHA2(seq, 256) FROM seq_1_to_100000")
            rows = cur.fetchall()
            assert len(rows) == 100000
            assert all(r[1] == hashlib.sha256(str(r[0]).encode()).hexdigest() for r in rows)
            blob = os.urandom(20 * 1024 * 1024)
            cur.execute("DROP TABLE IF EXISTS test.tls_be_blob")
            cur.execute("CREATE TABLE test.tls_be_blob (id INT PRIMARY KEY, b LONGBLOB)")
            cur.execute("INSERT INTO test.tls_be_blob VALUES (1, %s)", (blob,))
            cur.execute("SELECT b FROM test.tls_be_blob")
            got = cur.fetchone()[0]
            assert hashlib.sha256(got).hexdigest() == hashlib.sha256(blob).hexdigest()
            cur.execute("DROP TABLE test.tls_be_blob")
    finally:
        c.close()


def test_backend_tls_with_tls_clients_too(backend_tls_proxy, tls_server, workdir, certs):
    """TLS on both sides of one proxy."""
    px = Proxy(tls_server, workdir, "both", tls_section(certs, require="on"),
               server_keys={"db1": {"tls": "on", "tls_ca": certs["ca"]}})
    try:
        c = tls_conn(px.port, certs)
        try:
            assert_encrypted(c)
            assert one(c, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")[1]
        finally:
            c.close()
    finally:
        px.stop()


def test_backend_wrong_ca_fails_the_login_clearly(tls_server, workdir, certs):
    px = Proxy(tls_server, workdir, "wrong-ca", "[failover]\nhold_ms = 300\n",
               server_keys={"db1": {"tls": "on", "tls_ca": certs["other_ca"]}})
    try:
        with pytest.raises(pymysql.err.MySQLError) as ei:
            pymysql_connect(px.port)
        msg = str(ei.value.args)
        assert "certificate verify failed" in msg, msg + "\n" + px.log_tail()
        assert "db1" in msg, msg
    finally:
        px.stop()


def test_backend_host_verification(tls_server, workdir, certs):
    """The server shows a certificate the CA signed for another name: tls_verify (on with
    tls_ca) refuses it; tls_verify = off encrypts without checking."""
    srv = tls_server.master
    srv.stop()
    srv.extra_args = server_tls_args(certs["misnamed_cert"], certs["misnamed_key"], certs["ca"])
    try:
        srv.start()
        strict = Proxy(tls_server, workdir, "misnamed", "[failover]\nhold_ms = 300\n",
                       server_keys={"db1": {"tls": "on", "tls_ca": certs["ca"]}})
        try:
            with pytest.raises(pymysql.err.MySQLError) as ei:
                pymysql_connect(strict.port)
            assert "IP address mismatch" in str(ei.value.args), ei.value.args
        finally:
            strict.stop()
        lax = Proxy(tls_server, workdir, "no-verify", "",
                    server_keys={"db1": {"tls": "on", "tls_ca": certs["other_ca"],
                                         "tls_verify": "off"}})
        try:
            c = pymysql_connect(lax.port)
            assert one(c, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")[1]
            c.close()
        finally:
            lax.stop()
    finally:
        srv.stop()
        srv.extra_args = server_tls_args(certs["cert"], certs["key"], certs["ca"])
        srv.start()


def test_backend_tls_against_a_server_without_ssl(sandbox, workdir):
    """tls = on towards a server that does not offer SSL: refused with the reason."""
    px = Proxy(sandbox, workdir, "no-ssl-server", "[failover]\nhold_ms = 300\n",
               server_keys={s.name: {"tls": "on"} for s in sandbox.servers})
    try:
        with pytest.raises(pymysql.err.MySQLError) as ei:
            pymysql_connect(px.port)
        assert "does not offer SSL" in str(ei.value.args), ei.value.args
    finally:
        px.stop()


# ---------------------------------------------------------------- configuration ----

def _check(workdir, sandbox, extra, server_keys=None):
    path = os.path.join(workdir, "tls-check-%d.ini" % sb.free_port())
    sb.write_proxy_config(path, sandbox, sb.free_port(), sb.free_port(), extra=extra)
    if server_keys:
        _add_server_keys(path, server_keys)
    p = subprocess.run([RWPROXY_BIN, "--check", "--config", path], capture_output=True,
                       text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def test_check_validates_tls_files(sandbox, workdir, certs):
    rc, out = _check(workdir, sandbox, tls_section(certs, min_version="TLSv1.3"))
    assert rc == 0, out
    rc, out = _check(workdir, sandbox, "[tls]\ncert = %s\nkey = %s\n" % (certs["cert"], certs["other_key"]))
    assert rc == 2 and "does not match" in out and "key:" in out, out
    rc, out = _check(workdir, sandbox, "[tls]\ncert = %s\nkey = %s\n" % (certs["key"], certs["key"]))
    assert rc == 2 and "cannot load certificate" in out, out
    rc, out = _check(workdir, sandbox, "[tls]\ncert = %s\n" % certs["cert"])
    assert rc == 2 and "cert and key go together" in out, out
    rc, out = _check(workdir, sandbox, "[tls]\nrequire = on\n")
    assert rc == 2 and "needs cert and key" in out, out
    rc, out = _check(workdir, sandbox, "[tls]\ncert = /nonexistent/x.crt\nkey = %s\n" % certs["key"])
    assert rc == 2 and "cannot read" in out, out
    rc, out = _check(workdir, sandbox, tls_section(certs, ciphers="NO-SUCH-CIPHER"))
    assert rc == 2 and "cipher" in out, out
    rc, out = _check(workdir, sandbox, "", {"db1": {"tls_ca": certs["ca"]}})
    assert rc == 2 and "needs tls = on" in out, out
    rc, out = _check(workdir, sandbox, "", {"db1": {"tls": "on", "tls_ca": certs["key"]}})
    assert rc == 2 and "CA file" in out, out
