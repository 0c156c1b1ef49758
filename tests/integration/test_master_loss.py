"""
tests/integration/test_master_loss.py — what clients see when a server dies and rwproxy may
NOT fail over (auto_failover = off), on a private sandbox (the tests kill servers):

- with no master, autocommit writes are held for [failover] hold_ms and then answered
  ERR 1290 (HY000); the session survives and writes again once the master is back;
- a session with a transaction open on the dead master is closed with an error, not left
  pointing at a connection that no longer exists;
- reads keep working from the replicas meanwhile, and new clients can still log in;
- an autocommit read whose replica dies before any of its answer reached the client is
  sent to the other replica, and the client gets its rows;
- with no master, a causal read is served by the replica that has the session's write
  (known from the monitor's positions, or found after the other replica's wait timed out)
  instead of waiting for a master;
- a write whose connection to the master is still being made when the master is declared
  dead is held and answered 1290 like any other, not left without an answer.
"""
import os
import socket
import threading
import time

import pymysql
import pytest

import sandbox as sb
from conftest import RWPROXY_BIN, log_tail, pymysql_connect
from test_routing import start_own_proxy, stop_own_proxy

HOLD_MS = 1500
EXTRA = """
[proxy]
log_level = debug
[monitor]
interval_ms = 200
failcount = 2
auto_failover = off
auto_rejoin = off
[failover]
hold_ms = %d
""" % HOLD_MS


@pytest.fixture(scope="module")
def box(workdir):
    """A private master + 2 replicas, stopped at the end even on failure."""
    b = sb.Sandbox(os.path.join(workdir, "master-loss"))
    try:
        b.start()
        for s in b.servers:  # which server answered: a table the binlog never carries
            s.execute(["SET SESSION sql_log_bin = 0",
                       "CREATE TABLE IF NOT EXISTS test.ml_marker (name VARCHAR(16))",
                       "DELETE FROM test.ml_marker",
                       "INSERT INTO test.ml_marker VALUES ('%s')" % s.name])
        b.master.execute("CREATE TABLE IF NOT EXISTS test.ml_rows (id INT PRIMARY KEY)")
        b.wait_replicas_caught_up(timeout=30)
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="module")
def px(box, workdir):
    """rwproxy over the private sandbox; must still be alive (and exit 0) at the end."""
    cfg = os.path.join(workdir, "master-loss.ini")
    sb.write_proxy_config(cfg, box, sb.free_port(), sb.free_port(), extra=EXTRA)
    proc = sb.ProxyProcess(RWPROXY_BIN, cfg, os.path.join(workdir, "master-loss.log"))
    proc.start()
    try:
        yield proc
    finally:
        alive = proc.alive()
        rc = proc.stop()
        assert alive and rc == 0, "rwproxy exit %s; log:\n%s" % (rc, log_tail(proc.log_text()))


def wait_for(cond, timeout, what):
    """Poll cond() until true, or fail after timeout seconds."""
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.05)
    pytest.fail("timed out after %.0f s waiting for %s" % (timeout, what))


def admin_servers(admin_port):
    """SHOW SERVERS on an rwproxy's admin port, as dicts."""
    adm = pymysql.connect(host="127.0.0.1", port=admin_port, user="admin", password="admin_pw",
                          connect_timeout=5)
    try:
        with adm.cursor() as cur:
            cur.execute("SHOW SERVERS")
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]
    finally:
        adm.close()


def both_replicas_readable(px):
    """SHOW SERVERS on the admin port says both replicas get reads."""
    rows = admin_servers(px.admin_port)
    return sum(1 for r in rows if r["role"] == "replica" and str(r["readable"]) == "1") == 2


def master_seen_down(admin_port):
    """SHOW SERVERS on the admin port says db1 is not up."""
    return any(r["name"] == "db1" and r["state"] != "up" for r in admin_servers(admin_port))


def replicas_replicating(box):
    """Both replicas' IO threads connected (after a test restarted the master)."""
    for r in box.replicas:
        wait_for(lambda: (r.slave_status() or {}).get("Slave_IO_Running") == "Yes", 30,
                 "%s to replicate again" % r.name)


def new_client_reads(px, row_id):
    """(server name, row id or None) as a new client's causal read of ml_rows sees it."""
    fresh = pymysql_connect(px.port, read_timeout=30)
    try:
        with fresh.cursor() as cur:
            cur.execute("SELECT m.name, r.id FROM test.ml_marker m "
                        "LEFT JOIN test.ml_rows r ON r.id = %s", (row_id,))
            return cur.fetchone()
    finally:
        fresh.close()


def restore_master_and_stop(box, own):
    """End of a case with its own rwproxy: the master runs again and the proxy is stopped."""
    if not box.master.alive():
        box.master.start(read_only=False)
    stop_own_proxy(own)


def answered_by(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT name FROM test.ml_marker")
        return cur.fetchone()[0]


def test_no_master_holds_writes_then_1290(box, px):
    app = pymysql_connect(px.port)
    trx = pymysql_connect(px.port)
    with trx.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("INSERT INTO test.ml_rows VALUES (1)")
    with app.cursor() as cur:
        cur.execute("INSERT INTO test.ml_rows VALUES (2)")
    box.master.kill()
    try:
        # reads go on from the replicas while there is no master
        assert answered_by(app) in ("db2", "db3")
        # a write waits for hold_ms and is then refused with 1290; nothing was executed
        t0 = time.time()
        with pytest.raises(pymysql.err.MySQLError) as ei:
            with app.cursor() as cur:
                cur.execute("INSERT INTO test.ml_rows VALUES (3)")
        waited = time.time() - t0
        assert ei.value.args[0] == 1290, ei.value.args
        assert waited >= 1.0, "the write was refused at once (%.3f s), not held" % waited
        # the session survives: reads still work on it
        assert answered_by(app) in ("db2", "db3")
        # the session whose transaction was on the dead master is closed with an error
        with pytest.raises(pymysql.err.MySQLError) as ei:
            with trx.cursor() as cur:
                cur.execute("INSERT INTO test.ml_rows VALUES (4)")
        assert ei.value.args[0] in (1927, 2013, 2006), ei.value.args
        # a new client can log in and read while there is no master
        fresh = pymysql_connect(px.port)
        assert answered_by(fresh) in ("db2", "db3")
        fresh.close()
    finally:
        box.master.start(read_only=False)
    # the master is back: the surviving session writes again, once the monitor has seen it
    # (until then a write is held and may time out with 1290 again: retried here)
    end = time.time() + 30
    while True:
        try:
            with app.cursor() as cur:
                cur.execute("INSERT INTO test.ml_rows VALUES (5)")
            break
        except pymysql.err.OperationalError as e:
            if e.args[0] != 1290 or time.time() > end:
                raise
    rows = {r[0] for r in box.master.query("SELECT id FROM test.ml_rows")}
    assert {2, 5} <= rows and 1 not in rows and 3 not in rows, rows
    app.close()
    box.wait_replicas_caught_up(timeout=30)


def test_statement_lost_with_the_master_is_a_clean_error(box, px):
    """The mysql CLI (libmariadb) running a write when the master dies gets rwproxy's ERR with
    its message (a client-range code like 2013 would show as 2027 "malformed packet")."""
    import subprocess
    box.master.execute("CREATE TABLE IF NOT EXISTS test.ml_slow (v INT)")
    cli = subprocess.Popen(["mysql", "-h127.0.0.1", "-P%d" % px.port, "-uapp", "-papp_pw",
                            "--skip-reconnect", "test", "-e", "INSERT INTO ml_slow SELECT SLEEP(5)"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: box.master.query("SELECT COUNT(*) FROM information_schema.processlist "
                                          "WHERE info LIKE 'INSERT INTO ml_slow%'")[0][0] > 0,
                 10, "the INSERT to run on the master")
        box.master.kill()
        out = cli.communicate(timeout=30)[0].decode()
    finally:
        if cli.poll() is None:
            cli.kill()
        if not box.master.alive():
            box.master.start(read_only=False)
    assert "ERROR 1105" in out and "may or may not have been executed" in out, out
    wait_for(lambda: answered_by(pymysql_connect(px.port)) in ("db2", "db3"), 30, "reads again")


def test_read_retried_when_its_replica_dies(box, px):
    box.wait_replicas_caught_up(timeout=30)
    app = pymysql_connect(px.port)
    # after the master's return the replicas count as lagging until their IO threads reconnect
    wait_for(lambda: both_replicas_readable(px), 30, "both replicas readable (SHOW SERVERS)")
    result = {}

    def slow_read():
        try:
            with app.cursor() as cur:
                cur.execute("SELECT SLEEP(2) AS s, name FROM test.ml_marker")
                result["row"] = cur.fetchone()
        except Exception as e:  # noqa: BLE001 - the assertion below reports it
            result["error"] = repr(e)

    th = threading.Thread(target=slow_read)
    th.start()
    victim = None
    end = time.time() + 10
    while victim is None and time.time() < end:
        for r in box.replicas:
            rows = r.query("SELECT COUNT(*) FROM information_schema.processlist "
                           "WHERE info LIKE 'SELECT SLEEP(2)%'")
            if rows[0][0]:
                victim = r
        time.sleep(0.02)
    assert victim is not None, "the read never reached a replica"
    victim.kill()
    try:
        th.join(30)
        assert not th.is_alive(), "the read never finished"
        assert "error" not in result, result
        # another server answered: the other replica, or the master if rwproxy found no usable
        # replica at that instant
        assert result["row"][1] != victim.name, (result, victim.name)
        assert "retried" in px.log_text() or "not used for this session" in px.log_text()
    finally:
        victim.start(read_only=True)
        app.close()
    wait_for(lambda: (victim.slave_status() or {}).get("Slave_IO_Running") == "Yes", 30,
             "%s to replicate again" % victim.name)


def test_statement_ids_stay_unique_across_master_reconnect(box, px):
    """A statement prepared before the master connection was lost keeps its id; one prepared
    after it (the new connection numbers from 1 again) gets a different id, and both run."""
    import mysqlraw
    c = mysqlraw.connect("127.0.0.1", px.port)
    try:
        first = c.prepare("SELECT ? + 1")
        assert first.kind == "prepare", first
        box.master.kill()
        box.master.start(read_only=False)
        wait_for(lambda: answered_by(pymysql_connect(px.port)) in ("db1", "db2", "db3"), 30,
                 "the proxy to serve again")
        end = time.time() + 30
        while True:  # until the monitor has seen the master again (a held prepare times out)
            second = c.prepare("SELECT ? + 100")
            if second.kind == "prepare" or time.time() > end:
                break
            time.sleep(0.2)
        assert second.kind == "prepare", second
        assert second.stmt_id != first.stmt_id, (first.stmt_id, second.stmt_id)
        r1 = c.execute(first.stmt_id, [1])
        r2 = c.execute(second.stmt_id, [1])
        assert r1[0].values()[0][0] in (2, b"2"), r1
        assert r2[0].values()[0][0] in (101, b"101"), r2
    finally:
        c.close()
    box.wait_replicas_caught_up(timeout=30)


def test_causal_read_without_master_uses_the_replica_that_has_the_write(box, workdir):
    """Asynchronous replication may deliver a session's last write to one replica and not the
    other before the master dies. With no master to fall back to, a causal read (consistency
    = global, the default) must be served by the replica that has the write, for every new
    client: rwproxy knows it from the monitor's positions or finds it after the other
    replica's wait times out, instead of holding the read for a master and answering 1290.
    The replica left behind has weight 100, so that balancing alone would always pick it."""
    replicas_replicating(box)  # the master was restarted by the test before
    box.wait_replicas_caught_up(timeout=30)
    behind, ahead = box.replicas[-1], box.replicas[0]
    own = start_own_proxy(box, workdir, "master-loss-causal", EXTRA.replace(
        "[proxy]\nlog_level = debug\n", ""), server_keys={behind.name: {"weight": "100"}})
    # the replica left behind receives the write but cannot apply it: its SQL thread waits
    # for this table lock. It still counts as a healthy replica (a stopped SQL thread would
    # make the monitor take it out of the reads).
    lock = behind.connect()
    lock.cursor().execute("LOCK TABLES test.ml_rows WRITE")
    app = pymysql_connect(own.port)
    try:
        with app.cursor() as cur:
            cur.execute("INSERT INTO test.ml_rows VALUES (100)")
        master_pos = box.master.query("SELECT @@gtid_binlog_pos")[0][0]
        assert ahead.query("SELECT MASTER_GTID_WAIT(%s, 30)", args=(master_pos,))[0][0] == 0
        box.master.kill()
        for _ in range(4):
            assert new_client_reads(own, 100) == (ahead.name, 100), own.why("read after master loss")
    finally:
        app.close()
        lock.close()
        restore_master_and_stop(box, own)
    box.wait_replicas_caught_up(timeout=60)


def test_causal_read_without_master_tries_the_other_replica(box, workdir):
    """As above, but when the master dies neither replica has applied the write yet, so the
    monitor's positions cannot tell which one will: then one replica gets it. A new client's
    causal read goes to the other (weight 100) first; when its wait times out and there is no
    master, rwproxy tries the replica not tried yet, which has the write by then."""
    replicas_replicating(box)
    box.wait_replicas_caught_up(timeout=30)
    behind, ahead = box.replicas[-1], box.replicas[0]
    own = start_own_proxy(box, workdir, "master-loss-causal-retry", EXTRA.replace(
        "[proxy]\nlog_level = debug\n", "") + "[routing]\ncausal_timeout_ms = 300\n"
        # with multiplex off a session keeps the replica it logged in through, which would
        # decide the first pick instead of the weights
        "[pool]\nmultiplex = on\n",
        server_keys={behind.name: {"weight": "100"}})
    locks = {}
    for r in (behind, ahead):
        locks[r.name] = r.connect()
        locks[r.name].cursor().execute("LOCK TABLES test.ml_rows WRITE")
    app = pymysql_connect(own.port)
    try:
        with app.cursor() as cur:
            cur.execute("INSERT INTO test.ml_rows VALUES (200)")
        box.master.kill()
        wait_for(lambda: master_seen_down(own.proc.admin_port), 30, "the monitor to see db1 down")
        own.mark()
        locks.pop(ahead.name).close()  # the ahead replica applies the write now
        assert new_client_reads(own, 200) == (ahead.name, 200), own.why("read after master loss")
        assert "is behind and there is no master; trying %s" % ahead.name in own.proc.log_text(), \
            own.why("the read did not go through the other replica's wait")
    finally:
        app.close()
        for c in locks.values():
            c.close()
        restore_master_and_stop(box, own)
    box.wait_replicas_caught_up(timeout=60)


def test_write_connecting_to_the_master_when_it_is_declared_dead(box, workdir):
    """A write whose connection to the master is still being made when the monitor declares
    the master dead must be held like any other (then ERR 1290), not forgotten. The dead
    master's port is taken by a listener that accepts TCP but never greets, so the write's
    connection attempt is still pending when the topology changes; before the fix the
    statement got no answer at all."""
    replicas_replicating(box)
    # the write's own connection attempt must not time out before the monitor decides
    own = start_own_proxy(box, workdir, "master-loss-pending", EXTRA.replace(
        "[proxy]\nlog_level = debug\n", "[proxy]\nbackend_connect_timeout_ms = 60000\n"))
    app = pymysql_connect(own.port, read_timeout=30)
    mute = None
    try:
        with app.cursor() as cur:
            cur.execute("INSERT INTO test.ml_rows VALUES (300)")
        box.master.kill()
        mute = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        mute.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        mute.bind(("127.0.0.1", box.master.port))
        mute.listen(64)  # never accepts: connections wait for a greeting that never comes
        own.mark()
        t0 = time.time()
        with pytest.raises(pymysql.err.MySQLError) as ei:
            with app.cursor() as cur:
                cur.execute("INSERT INTO test.ml_rows VALUES (301)")
        assert ei.value.args[0] == 1290, own.why("write pending at master death: %r (after %.1f s)"
                                                 % (ei.value.args, time.time() - t0))
        assert "session follows the master: (none for now)" in own.proc.log_text()[own.mark_at:]
    finally:
        app.close()
        if mute is not None:
            mute.close()
        restore_master_and_stop(box, own)
    box.wait_replicas_caught_up(timeout=60)
