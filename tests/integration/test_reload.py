"""
tests/integration/test_reload.py — configuration reload on SIGHUP (the admin port's RELOAD
runs the same code): a valid file takes effect for the next statement without dropping
anyone, an invalid one is refused with the reason and the old configuration stays, a change
that needs a restart (a restart key, a server's host or port) is refused, and clients running
queries meanwhile see no error.
"""
import os
import signal
import threading
import time

import pymysql
import pytest

import sandbox as sb
from conftest import pymysql_connect
from test_routing import start_own_proxy, stop_own_proxy

RULE = """
[rule.no_drop_marker]
match = ^SELECT 'reload-blocked'
block = "blocked after reload"
"""


def wait_log(px, text, since, timeout=10):
    """Wait until the proxy log (after offset since) contains text."""
    end = time.time() + timeout
    while time.time() < end:
        if text in px.proc.log_text()[since:]:
            return
        time.sleep(0.05)
    pytest.fail("log never said %r; tail:\n%s" % (text, px.proc.log_text()[-3000:]))


def hup(px, config_text):
    """Write config_text as the proxy's config and send SIGHUP; returns the log offset."""
    since = len(px.proc.log_text())
    with open(px.proc.config_path, "w") as f:
        f.write(config_text)
    os.kill(px.proc.proc.pid, signal.SIGHUP)
    return since


def blocked(conn):
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 'reload-blocked'")
        return False
    except pymysql.err.MySQLError as e:
        assert e.args[0] == 1148, e.args
        return True


def test_reload_valid_invalid_and_restart_keys(sandbox, workdir):
    px = start_own_proxy(sandbox, workdir, "reload")
    errors, stop = [], threading.Event()

    def reader():  # clients running all along must never see an error
        conn = pymysql_connect(px.port)
        while not stop.is_set():
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT COUNT(*) FROM information_schema.tables")
                    cur.fetchall()
            except Exception as e:  # noqa: BLE001 - reported by the assertion
                errors.append(repr(e))
                conn = pymysql_connect(px.port)
        conn.close()

    th = threading.Thread(target=reader)
    th.start()
    try:
        original = open(px.proc.config_path).read()
        conn = pymysql_connect(px.port)
        assert not blocked(conn)
        # valid: the new rule applies to the next statement of an existing session
        since = hup(px, original + RULE)
        wait_log(px, "configuration reloaded", since)
        assert blocked(conn)
        # invalid: refused with the reason, the rule stays in force
        since = hup(px, original + RULE + "\n[proxy]\nthreads = banana\n")
        wait_log(px, "configuration not reloaded", since)
        assert "threads" in px.proc.log_text()[since:]
        assert blocked(conn)
        # a key that needs a restart: refused
        since = hup(px, original.replace("threads = 2", "threads = 3") + RULE)
        wait_log(px, "needs a restart", since)
        assert blocked(conn)
        # a server moved to another port: refused (servers may be added and removed by a
        # reload, tests/integration/test_reload_servers.py, but not moved)
        replica = [x for x in sandbox.servers if x is not sandbox.master][0]
        moved = original.replace("port = %d\n" % replica.port, "port = %d\n" % sb.free_port())
        assert moved != original
        since = hup(px, moved + RULE)
        wait_log(px, "changed its host or port", since)
        assert blocked(conn)
        # back to the original: the rule is gone again
        since = hup(px, original)
        wait_log(px, "configuration reloaded", since)
        assert not blocked(conn)
        conn.close()
    finally:
        stop.set()
        th.join(30)
        stop_own_proxy(px)
    assert not errors, errors[:5]


def admin_query(px, sql):
    """One admin-port statement; returns (rows, None) or (None, error)."""
    c = pymysql.connect(host="127.0.0.1", port=px.proc.admin_port, user="admin",
                        password="admin_pw", connect_timeout=10, read_timeout=60)
    try:
        with c.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall(), None
    except pymysql.err.MySQLError as e:
        return None, e
    finally:
        c.close()


def test_reload_reaches_the_monitor(sandbox, workdir):
    """The monitor acts with the reloaded configuration: with every replica set to
    promotion = never by a reload, a SWITCHOVER finds no candidate (and the topology stays);
    reloaded back, the monitor's view of the servers is the original one again."""
    px = start_own_proxy(sandbox, workdir, "reload-monitor")
    try:
        original = open(px.proc.config_path).read()
        never = original
        for s in sandbox.servers:
            if s is not sandbox.master:
                never = never.replace("[server.%s]\n" % s.name,
                                      "[server.%s]\npromotion = never\n" % s.name)
        assert never != original
        since = hup(px, never)
        wait_log(px, "configuration reloaded", since)
        rows, err = admin_query(px, "SWITCHOVER")
        assert err is not None, "SWITCHOVER promoted a server the reloaded config says never: %r" % (rows,)
        assert "no candidate" in str(err), err
        assert sandbox.master.query("SELECT @@read_only")[0][0] == 0  # nothing moved
        since = hup(px, original)
        wait_log(px, "configuration reloaded", since)
        rows, err = admin_query(px, "SHOW SERVERS")
        assert err is None and len(rows) == len(sandbox.servers), (rows, err)
    finally:
        stop_own_proxy(px)
