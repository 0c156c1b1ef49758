"""
tests/integration/test_lifecycle.py — rwproxy's process life: graceful stop on SIGTERM/SIGINT
(idle clients closed, a running statement's result still delivered, exit 0), `--check` of a
good and a bad configuration (exit 0 / 2, the message names file:line and the key), and
threads=1 / threads=4 each serving 20 concurrent clients.

Every test here starts its OWN rwproxy (proxy_factory), never the shared one.
"""
import signal
import subprocess
import threading
import time

import pymysql
import pytest

import sandbox as sb
from conftest import RWPROXY_BIN, log_tail, pymysql_connect


def wait_statement_running(server, text, timeout=30.0):
    """Poll the master's processlist until a statement starting with text runs (hang guard)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = server.query("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                         "WHERE USER = 'app' AND INFO LIKE %s", args=(text + "%",))[0][0]
        if n:
            return
        time.sleep(0.02)
    pytest.fail("statement %r never showed up on the master" % text)


def assert_dead(conn):
    """The connection was closed by the proxy: the next query fails."""
    with pytest.raises((pymysql.err.OperationalError, pymysql.err.InterfaceError)):
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchall()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_with_idle_connection(proxy_factory, sig):
    proc = proxy_factory()
    idle = pymysql_connect(proc.port)
    try:
        with idle.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchall() == ((1,),)
        rc = proc.stop(sig, timeout=30)
        assert rc == 0, "exit %s after %s; log tail:\n%s" % (rc, sig.name, log_tail(proc.log_text()))
        assert_dead(idle)
    finally:
        idle.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_lets_running_statement_finish(proxy_factory, sandbox, sig):
    proc = proxy_factory()
    busy = pymysql_connect(proc.port)
    idle = pymysql_connect(proc.port)
    result = {}

    def run():
        try:
            with busy.cursor() as cur:
                cur.execute("/* rwproxy:master */ SELECT SLEEP(2), 'done'")
                result["rows"] = cur.fetchall()
        except Exception as e:  # noqa: BLE001
            result["error"] = e

    t = threading.Thread(target=run)
    try:
        t.start()
        wait_statement_running(sandbox.master, "/* rwproxy:master */ SELECT SLEEP(2)")
        rc = proc.stop(sig, timeout=30)
        t.join(timeout=60)
        assert not t.is_alive(), "the client never got its answer"
        assert result.get("rows") == ((0, "done"),), (result, log_tail(proc.log_text()))
        assert rc == 0, "exit %s after %s; log tail:\n%s" % (rc, sig.name, log_tail(proc.log_text()))
        assert_dead(idle)
        assert_dead(busy)
    finally:
        t.join(timeout=60)
        busy.close()
        idle.close()


def test_stop_before_any_client(proxy_factory):
    proc = proxy_factory()
    assert proc.stop(signal.SIGTERM, timeout=30) == 0, log_tail(proc.log_text())


# ------------------------------------------------------------------ --check

def run_check(path):
    p = subprocess.run([RWPROXY_BIN, "--check", "--config", path], capture_output=True,
                       text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def write_config(sandbox, path):
    return sb.write_proxy_config(path, sandbox, sb.free_port(), sb.free_port())


def insert_after(path, anchor, line):
    """Insert a line after the first line equal to anchor; return its 1-based number."""
    with open(path) as f:
        lines = f.read().split("\n")
    idx = lines.index(anchor) + 1
    lines.insert(idx, line)
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return idx + 1


def test_check_good_config(sandbox, tmp_path):
    path = write_config(sandbox, str(tmp_path / "good.ini"))
    rc, out = run_check(path)
    assert rc == 0, out


@pytest.mark.parametrize("anchor,line,needle", [
    ("[proxy]", "frobnicate = yes", "frobnicate"),
    ("[monitor]", "pasword = typo", "pasword"),
    ("[server.db2]", "colour = blue", "colour"),
])
def test_check_unknown_key(sandbox, tmp_path, anchor, line, needle):
    path = write_config(sandbox, str(tmp_path / "bad.ini"))
    lineno = insert_after(path, anchor, line)
    rc, out = run_check(path)
    assert rc == 2, out
    assert "%s:%d" % (path, lineno) in out, "message does not name file:line (%s:%d): %s" % (
        path, lineno, out)
    assert needle in out, out


@pytest.mark.parametrize("anchor,line,needle", [
    ("[proxy]", "threads = many", "threads"),
    ("[server.db1]", "[bogus_section]", "bogus_section"),
])
def test_check_bad_value_or_section(sandbox, tmp_path, anchor, line, needle):
    path = write_config(sandbox, str(tmp_path / "bad.ini"))
    lineno = insert_after(path, anchor, line)
    rc, out = run_check(path)
    assert rc == 2, out
    assert "%s:%d" % (path, lineno) in out, out
    assert needle in out, out


def test_check_missing_file(tmp_path):
    rc, out = run_check(str(tmp_path / "does-not-exist.ini"))
    assert rc == 2, out
    assert "does-not-exist.ini" in out


def test_bad_config_refuses_to_start(sandbox, tmp_path):
    path = write_config(sandbox, str(tmp_path / "bad.ini"))
    insert_after(path, "[proxy]", "frobnicate = yes")
    p = subprocess.run([RWPROXY_BIN, "--config", path], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "frobnicate" in p.stdout + p.stderr


# ------------------------------------------------------------------ worker threads

@pytest.mark.parametrize("threads", [1, 4])
def test_threads_serve_20_concurrent_clients(proxy_factory, sandbox, threads):
    proc = proxy_factory(threads=threads)
    table = "lc_threads_%d" % threads
    setup = pymysql_connect(sandbox.master.port)
    try:
        with setup.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS %s" % table)
            cur.execute("CREATE TABLE %s (id INT AUTO_INCREMENT PRIMARY KEY, client INT, j INT)" % table)
    finally:
        setup.close()
    nclients, nqueries = 20, 20
    errors = []
    barrier = threading.Barrier(nclients, timeout=60)

    def client(k):
        try:
            c = pymysql_connect(proc.port)
            try:
                barrier.wait()  # all 20 connected before any works
                with c.cursor() as cur:
                    cur.execute("SET @k = %s", (k,))
                    for j in range(nqueries):
                        cur.execute("INSERT INTO " + table + " (client, j) VALUES (@k, %s)", (j,))
                        cur.execute("SELECT @k, %s, REPEAT('x', %s)", (j, j * 100))
                        assert cur.fetchall() == ((k, j, "x" * (j * 100)),)
            finally:
                c.close()
        except Exception as e:  # noqa: BLE001
            errors.append((k, repr(e)))

    workers = [threading.Thread(target=client, args=(k,)) for k in range(nclients)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in workers), "clients hung"
    assert not errors, (errors, log_tail(proc.log_text()))
    got = sandbox.master.query("SELECT COUNT(*), COUNT(DISTINCT client) FROM test.%s" % table)
    assert got == [(nclients * nqueries, nclients)]
    rc = proc.stop(signal.SIGTERM, timeout=30)
    assert rc == 0, log_tail(proc.log_text())
