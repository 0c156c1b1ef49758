"""
tests/integration/conftest.py — shared fixtures of the integration suite.

Owns: the session's MariaDB sandbox (master + 2 replicas in a temp dir, free ports, stopped at
the end even on failure, the dir removed when every test passed), the shared rwproxy process
(started once, stopped with SIGTERM at the end and required to exit 0), connection factories
(`direct_conn` to the master, `proxy_conn` through rwproxy, PyMySQL), and the after-each-test
check that the shared proxy is alive and still serves a fresh client.
"""
import itertools
import os
import shutil
import signal
import sys
import tempfile

import pymysql
import pytest
from pymysql.constants import CLIENT

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "sandbox"))
sys.path.insert(0, HERE)

import sandbox as sb  # noqa: E402

RWPROXY_BIN = os.environ.get("RWPROXY_BIN") or os.path.join(REPO, "build", "bin", "rwproxy")
HOST = "127.0.0.1"
APP_USER, APP_PW, APP_DB = "app", "app_pw", "test"
KEEP_WORKDIR = {"reason": None}  # set when a session fixture's teardown found a failure


def log_tail(text, n=60):
    """Last n lines of a log text."""
    return "\n".join(text.splitlines()[-n:])


def pymysql_connect(port, **kw):
    """A PyMySQL connection as app to test with the suite's defaults (kw overrides)."""
    args = dict(host=HOST, port=port, user=APP_USER, password=APP_PW, database=APP_DB,
                autocommit=True, local_infile=True, client_flag=CLIENT.MULTI_STATEMENTS,
                charset="utf8mb4", connect_timeout=10, read_timeout=120, write_timeout=120,
                max_allowed_packet=64 * 1024 * 1024)
    args.update(kw)
    return pymysql.connect(**args)


@pytest.fixture(scope="session")
def workdir(request):
    """Session temp dir (sandbox, configs, logs); removed only if no test failed
    (and RWP_KEEP_TMP is not set)."""
    d = tempfile.mkdtemp(prefix="rwp-")
    yield d
    if (request.session.testsfailed == 0 and not KEEP_WORKDIR["reason"]
            and not os.environ.get("RWP_KEEP_TMP")):
        shutil.rmtree(d, ignore_errors=True)
    else:
        sys.stderr.write("\nintegration: keeping %s for inspection\n" % d)


@pytest.fixture(scope="session")
def sandbox(workdir):
    """Master + 2 replicas, started once per session; always stopped."""
    box = sb.Sandbox(os.path.join(workdir, "sandbox"))
    try:
        box.start()
        yield box
    finally:
        box.stop()


class SharedProxy:
    """The session's rwproxy and what the tests need to know about it."""

    def __init__(self, proc, config_path):
        self.proc = proc                # sandbox.ProxyProcess
        self.config_path = config_path  # its INI file
        self.port = proc.port           # client port

    def alive(self):
        return self.proc.alive()

    def log(self):
        return self.proc.log_text()

    def check_alive(self):
        """Fail (with the log tail) if the proxy died."""
        if not self.proc.alive():
            pytest.fail("rwproxy died (exit code %s); log tail:\n%s" % (
                self.proc.proc.returncode, log_tail(self.log())), pytrace=False)


def start_proxy(sandbox, workdir, name, threads=2, extra=""):
    """A new rwproxy process on free ports with its own config and log."""
    if not os.path.exists(RWPROXY_BIN):
        pytest.fail("rwproxy binary not found at %s (set RWPROXY_BIN or run make)" % RWPROXY_BIN)
    cfg = os.path.join(workdir, name + ".ini")
    sb.write_proxy_config(cfg, sandbox, sb.free_port(), sb.free_port(), threads=threads,
                          extra=extra)
    proc = sb.ProxyProcess(RWPROXY_BIN, cfg, os.path.join(workdir, name + ".log"))
    proc.start()
    return proc


@pytest.fixture(scope="session")
def proxy(sandbox, workdir):
    """The shared rwproxy; at the end SIGTERM must make it exit 0."""
    proc = start_proxy(sandbox, workdir, "rwproxy")
    shared = SharedProxy(proc, proc.config_path)
    try:
        yield shared
    finally:
        was_alive = proc.alive()
        rc = proc.stop(signal.SIGTERM)
        if not was_alive or rc != 0:
            KEEP_WORKDIR["reason"] = "rwproxy exit %s" % rc
    assert was_alive, "rwproxy had died before the end of the session (exit %s); log tail:\n%s" % (
        rc, log_tail(proc.log_text()))
    assert rc == 0, "rwproxy exited %s on SIGTERM; log tail:\n%s" % (rc, log_tail(proc.log_text()))


class ConnFactory:
    """Makes PyMySQL connections to one port; closes them all at teardown."""

    def __init__(self, port):
        self.port = port  # target port
        self.conns = []   # connections made

    def __call__(self, **kw):
        c = pymysql_connect(self.port, **kw)
        self.conns.append(c)
        return c

    def close_all(self):
        for c in self.conns:
            try:
                c.close()
            except Exception:
                pass


@pytest.fixture
def direct_conn(sandbox):
    """Factory: PyMySQL connection straight to the master."""
    f = ConnFactory(sandbox.master.port)
    yield f
    f.close_all()


@pytest.fixture
def proxy_conn(proxy):
    """Factory: PyMySQL connection through the shared rwproxy."""
    f = ConnFactory(proxy.port)
    yield f
    f.close_all()


@pytest.fixture(autouse=True)
def proxy_still_serves(request):
    """Around every test that uses the shared proxy: it is alive before (else the test fails
    with the log tail), and after it, it is alive and answers a new client."""
    uses_proxy = "proxy" in request.fixturenames
    if uses_proxy:
        request.getfixturevalue("proxy").check_alive()
    yield
    if not uses_proxy:
        return
    shared = request.getfixturevalue("proxy")
    shared.check_alive()
    try:
        c = pymysql_connect(shared.port, read_timeout=30)
        try:
            with c.cursor() as cur:
                cur.execute("SELECT 1")
                got = cur.fetchall()
        finally:
            c.close()
    except Exception as e:  # noqa: BLE001 - report whatever broke
        shared.check_alive()
        pytest.fail("rwproxy no longer serves a new client after this test: %r; log tail:\n%s" % (
            e, log_tail(shared.log())), pytrace=False)
    assert got == ((1,),), got


@pytest.fixture
def endpoints(sandbox, proxy):
    """{'direct': master port, 'proxy': proxy port, 'sync': wait for the replicas} for
    compare-both tests. Writes made directly on the master bypass rwproxy's read-your-writes
    tracking, so tests wait for replication before reading through rwproxy."""
    return {"direct": sandbox.master.port, "proxy": proxy.port,
            "sync": lambda: sandbox.wait_replicas_caught_up(timeout=30)}


_OWN_PROXY_SEQ = itertools.count(1)


@pytest.fixture
def proxy_factory(sandbox, workdir):
    """Factory for private rwproxy processes (test_lifecycle); any left running is killed."""
    made = []

    def make(threads=2, extra=""):
        name = "rwproxy-own-%d" % next(_OWN_PROXY_SEQ)
        proc = start_proxy(sandbox, workdir, name, threads=threads, extra=extra)
        made.append(proc)
        return proc

    yield make
    for proc in made:
        if proc.alive():
            proc.stop(signal.SIGKILL)
