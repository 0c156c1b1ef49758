"""
tests/integration/test_failover.py — issue 4 seen from outside: the monitor, automatic
failover, old-master rejoin and fencing, no failover when only rwproxy's path to the master is
cut, switchover under load, two rwproxy instances, and reads moving off a frozen or lagging
replica (shared/design/failover.md).

Owns: its own sandbox (master + 2 replicas in <session workdir>/failover-sandbox, GTID +
semi-sync AFTER_SYNC, independent of the shared `sandbox` fixture because these tests kill and
re-point servers), the tables test.fo_writes / test.fo_marks, the database test_fo_sb
(sysbench), the local marker table test.rwp_fo_where, and private rwproxy processes with
interval_ms = 250, failcount = 3, failover_cooldown_s = 0, connect_timeout_ms = 1000,
hold_ms = 8000.

Before every test the topology is restored (Sandbox.restore_topology: all servers running,
exactly one writable master, the others replicating from it); every rwproxy a test started is
stopped by PID after it, every SIGSTOPped server continued.

No timing assertion anywhere: waits are bounded hang-guards only. Timings are printed as
`FAILOVER-METRIC ...` lines (pytest -s shows them): per kill run the write unavailability
(kill -> first acknowledged write sent after it) and the gap between the last ack before and
the first after, the switchover write pause, the read latency while a replica is frozen.

A killed master is restarted with --init-rpl-role=SLAVE: MariaDB's semi-sync crash recovery
then rolls back and truncates binlogged transactions that no replica acknowledged (the one in
flight at the kill), so the restarted server's GTID history is a prefix of the new master's
and rwproxy may rejoin it (a server restarted without it can legitimately be diverged).
"""
import collections
import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pymysql
import pytest

import sandbox as sb
from failover_util import (FAILCOUNT, HOLD_MS, INTERVAL_MS, SeqWriter, TcpRelay, TxWriter,
                           groups_on, half_groups, ids_on, install_where_markers, metric,
                           percentile, promotion_claims, read_who, remove_where_markers,
                           start_proxy, wait_until)

TABLE = "test.fo_writes"
MARKS = "test.fo_marks"
TXT = "test.fo_tx"  # two rows per transaction (TxWriter)
SB_DB = "test_fo_sb"  # app has rights on test_%
SYSBENCH = shutil.which("sysbench")
RECOVER_ARGS = ["--init-rpl-role=SLAVE"]
# Long enough for rwproxy to have declared the master dead and acted several times over.
OBSERVE_S = (FAILCOUNT + 4) * INTERVAL_MS / 1000.0 + 3.0
READS_EXTRA = "[routing]\nconsistency = eventual\nbalance = round_robin\n"

_PROXIES = []  # rwproxy processes started by the running test (stopped after it)


# ======================================================================= fixtures

@pytest.fixture(scope="module")
def box(workdir):
    """This module's own sandbox; SIGCONT + stopped at the end whatever happened."""
    b = sb.Sandbox(os.path.join(workdir, "failover-sandbox"))
    try:
        b.start()
        m = b.current_master()
        m.execute(["CREATE TABLE IF NOT EXISTS %s (id BIGINT NOT NULL PRIMARY KEY, "
                   "at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB" % TABLE,
                   "CREATE TABLE IF NOT EXISTS %s (id BIGINT NOT NULL PRIMARY KEY, "
                   "at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB" % MARKS,
                   "CREATE TABLE IF NOT EXISTS %s (id BIGINT NOT NULL PRIMARY KEY, "
                   "grp BIGINT NOT NULL, KEY (grp)) ENGINE=InnoDB" % TXT])
        b.wait_replicas_caught_up(master=m)
        yield b
    finally:
        for s in b.servers:
            if s.pid and s.alive():
                os.kill(s.pid, signal.SIGCONT)
        for px in _PROXIES:
            px.stop()
        b.stop()


@pytest.fixture(autouse=True)
def master(box):
    """Before: the topology restored; yields its master. After: this test's rwproxy
    processes stopped (by PID) and any frozen server continued."""
    try:
        m = box.restore_topology(timeout=60)
    except Exception as e:  # noqa: BLE001
        pytest.fail("could not restore the failover sandbox before the test (an earlier test "
                    "left it broken): %r\n%s" % (e, box.describe()), pytrace=False)
    yield m
    for px in _PROXIES:
        px.stop()
    del _PROXIES[:]
    for s in box.servers:
        if s.pid and s.alive():
            os.kill(s.pid, signal.SIGCONT)


# ======================================================================= helpers

def diag(box, *proxies, extra=""):
    """Sandbox state and the rwproxy log tails, for failure messages."""
    parts = ["--- sandbox:", box.describe()]
    parts += [px.tail() for px in proxies]
    if extra:
        parts.append(extra)
    return "\n".join(parts)


def others_of(box, m):
    return [s for s in box.servers if s is not m]


def promoted(box, old):
    """The new master if the topology settled after losing old: exactly one writable
    server (not old), every other running server (old included, if running) replicating from
    it. Else None."""
    w = box.writable_servers()
    if len(w) != 1 or w[0] is old:
        return None
    new = w[0]
    for s in box.servers:
        if s is new or not s.alive():
            continue
        if not s.replicating_from(new):
            return None
    return new


def write_through(px, wid, table=TABLE, timeout=40):
    """Insert id wid through px, retrying (new connection each time) until it succeeds;
    bounded. Returns seconds it took."""
    t0 = time.monotonic()
    last = []

    def attempt():
        c = px.connect()
        try:
            with c.cursor() as cur:
                cur.execute("INSERT INTO %s (id) VALUES (%d) ON DUPLICATE KEY UPDATE id = id"
                            % (table, wid))
            return True
        except pymysql.err.MySQLError as e:
            last.append(e)
            raise
        finally:
            c.close()

    wait_until(attempt, timeout, "a write (id %d) through rwproxy %s to succeed" % (wid, px.name),
               interval=0.1, diag=lambda: px.tail())
    return time.monotonic() - t0


def check_one_writable(box, expected, proxies=()):
    w = box.writable_servers()
    assert w == [expected], "expected exactly one writable server (%s), got %s\n%s" % (
        expected.name, [s.name for s in w], diag(box, *proxies))


def observe_stable(box, master, seconds, proxies=(), what=""):
    """For seconds, poll that master stays the only writable server and every other running
    server replicates from it."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        w = box.writable_servers()
        assert w == [master], "%s: writable servers %s (expected only %s)\n%s" % (
            what, [s.name for s in w], master.name, diag(box, *proxies))
        for s in box.servers:
            if s is not master and s.alive():
                assert s.replicating_from(master), "%s: %s does not replicate from %s\n%s" % (
                    what, s.name, master.name, diag(box, *proxies))
        time.sleep(0.1)


def rejoin_old_master(box, old, new, px, timeout=60):
    """Restart the killed old master (read-only, semi-sync crash recovery) and wait until
    rwproxy made it a replica of new. Returns (seconds from the start command to
    replicating, whether rwproxy logged the rejoin as finished). Then lets rwproxy finish its
    own rejoin checks (its log says so, or 3 s), so that the next kill measures a failover
    from a settled state."""
    mark = len(px.log())
    t0 = time.monotonic()
    old.start_with_args(RECOVER_ARGS, read_only=True)
    wait_until(lambda: old.replicating_from(new), timeout,
               "rwproxy to rejoin the restarted old master %s as a replica of %s" % (
                   old.name, new.name),
               diag=lambda: diag(box, px, extra="--- %s error log tail:\n%s" % (
                   old.name, sb._tail(old.errlog, 1500))))
    took = time.monotonic() - t0
    assert not old.is_writable(), "rejoined old master %s is writable\n%s" % (
        old.name, diag(box, px))
    rx = re.compile(r"\b%s\b.*(no longer fenced|rejoin(ed)?:? done|now replicates)|"
                    r"rejoin(ed)?:? done.*\b%s\b" % (old.name, old.name), re.I)
    logged = False
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if any(rx.search(ln) for ln in px.log()[mark:].splitlines()):
            logged = True
            break
        time.sleep(0.05)
    if not logged:
        time.sleep(3)
    return took, logged


def gtids_added(before, after):
    """GTIDs (domain-server-seq) of the position after that are not in the position before."""
    b = {g.split("-")[0]: g for g in before.split(",") if g}
    return [g for g in after.split(",") if g and b.get(g.split("-")[0]) != g]


# ======================================================================= 1. kill the master

def resumed_after(w, t_kill):
    """The first acknowledged write sent after the writer's first failure after t_kill (or
    after t_kill if none failed), or None."""
    fails = [x for x in w.failed() if x.t_done > t_kill]
    t0 = fails[0].t_done if fails else t_kill
    acks = [x for x in w.acked() if x.t_send > t0]
    return acks[0] if acks else None


def test_kill_master_failover_5_runs(box, master, workdir):
    """SIGKILL of the master while a writer inserts sequential ids through rwproxy in
    autocommit, 5 times in a row (each run kills whoever is master then): writes resume,
    every acknowledged id is on the new master, exactly one server is writable, the surviving
    replica replicates from the new master; the killed server, restarted, is rejoined by
    rwproxy as a replica of the new master (test_old_master_rejoins, folded in)."""
    px = start_proxy(box, workdir, "fo-kill", registry=_PROXIES)
    write_through(px, 1)
    results = []
    for run in range(1, 6):
        m = box.current_master()
        assert m is not None, "run %d: no single writable server\n%s" % (run, diag(box, px))
        for r in others_of(box, m):
            box.wait_replicating_from(r, m, 30)
        base = run * 1000000
        w = SeqWriter(px.port, TABLE, base).start()
        tw = TxWriter(px.port, TXT, base, pause=0.005).start()
        try:
            wait_until(lambda: len(w.acked()) >= 50, 30,
                       "run %d: 50 writes acknowledged through rwproxy before the kill" % run,
                       diag=lambda: diag(box, px, extra=w.error_summary()))
            t_kill = time.monotonic()
            m.kill()
            first = wait_until(lambda: (w.acked_after(t_kill) or [None])[0], 60,
                               "run %d: a write acknowledged after SIGKILL of %s" % (run, m.name),
                               diag=lambda: diag(box, px, extra=w.error_summary()))
            time.sleep(0.3)  # a few more writes on the new master
        finally:
            ended = w.stop()
            ended = tw.stop() and ended
        assert ended, "run %d: a writer thread hung in a statement\n%s" % (run, diag(box, px))
        new = wait_until(lambda: promoted(box, m), 30,
                         "run %d: one writable server with the surviving replica replicating "
                         "from it" % run, diag=lambda: diag(box, px))
        check_one_writable(box, new, [px])
        # a write sent just after t_kill can still be acknowledged by the old master before
        # the signal lands: writes resume with the first acknowledgement of a write sent
        # after the writer saw the master's death (its first failure after the kill)
        first = resumed_after(w, t_kill) or first
        before = w.last_ack_before(t_kill)
        acked = {x.id for x in w.acked()}
        present = ids_on(new, TABLE, base, base + 999999)
        lost = sorted(acked - present)
        in_doubt = [x.id for x in w.failed()]
        committed_unacked = sorted(set(in_doubt) & present)
        halves = half_groups(new, TXT, base, base + 999999)
        tx_acked = {x.id for x in tw.acked()}
        tx_lost = sorted(tx_acked - groups_on(new, TXT, base, base + 999999))
        res = dict(run=run, old=m.name, new=new.name, acked=len(acked),
                   tx_acked=len(tx_acked), tx_errors=len(tw.failed()),
                   errors=len(in_doubt), lost=len(lost),
                   unavailable_s=first.t_done - t_kill,
                   ack_gap_s=first.t_done - (before.t_done if before else t_kill),
                   unacked_committed=len(committed_unacked))
        assert not lost, "run %d: %d acknowledged ids missing on the new master %s: %s\n%s" % (
            run, len(lost), new.name, lost[:20], diag(box, px, extra=w.error_summary()))
        assert not halves, ("run %d: transactions applied by half on the new master %s "
                            "({grp: rows}): %s\n%s" % (run, new.name, halves,
                                                       diag(box, px, extra=tw.error_summary())))
        assert not tx_lost, "run %d: %d acknowledged transactions missing on %s: %s" % (
            run, len(tx_lost), new.name, tx_lost[:20])
        res["rejoin_s"], res["rejoin_logged"] = rejoin_old_master(box, m, new, px)
        box._wait_semisync_clients(new, 2, 30)
        results.append(res)
        metric("run=%(run)d unavailable_s=%(unavailable_s).3f ack_gap_s=%(ack_gap_s).3f "
               "acked=%(acked)d errors=%(errors)d lost=%(lost)d "
               "unacked_but_committed=%(unacked_committed)d tx_acked=%(tx_acked)d "
               "tx_errors=%(tx_errors)d old_master=%(old)s new_master=%(new)s "
               "rejoin_s=%(rejoin_s).3f rejoin_logged=%(rejoin_logged)s" % res)
        assert px.alive(), px.tail()
    ua = [r["unavailable_s"] for r in results]
    metric("kill_summary runs=%d unavailable_s_min=%.3f max=%.3f mean=%.3f lost_total=%d" % (
        len(ua), min(ua), max(ua), sum(ua) / len(ua), sum(r["lost"] for r in results)))


# ======================================================================= 2. diverged old master

def test_diverged_old_master_stays_fenced(box, master, workdir):
    """An old master that took a write while cut off (GTID history no longer a prefix of the
    new master's) comes back writable: rwproxy sets it read_only=1, does not make it
    replicate, logs a warning naming the extra GTID, and keeps routing writes to the new
    master."""
    m = master
    px = start_proxy(box, workdir, "fo-diverge", registry=_PROXIES)
    write_through(px, 7000001)
    m.kill()
    new = wait_until(lambda: promoted(box, m), 60, "a promotion after SIGKILL of %s" % m.name,
                     diag=lambda: diag(box, px))
    for i in range(2, 6):  # the new master's own history moves on
        write_through(px, 7000000 + i)
    pos_before = pos_after = None
    try:
        # Cut off: the old master on a port no rwproxy knows, writable, not replicating.
        m.start_detached(sb.free_port(), read_only=False, args=RECOVER_ARGS)
        try:
            pos_before = m.var("gtid_binlog_pos")
            m.execute("INSERT INTO %s (id) VALUES (-4242)" % TABLE)
            pos_after = m.var("gtid_binlog_pos")
        finally:
            m.stop_detached()
        extra = gtids_added(pos_before, pos_after)
        assert extra, "the detached write made no GTID (%r -> %r)" % (pos_before, pos_after)
        mark = len(px.log())
        # Back on its real port, as its own (master) configuration would start it: writable.
        m.start(read_only=False)
        t0 = time.monotonic()
        wait_until(lambda: not m.is_writable(), 30,
                   "rwproxy to set the returning diverged old master %s read_only=1" % m.name,
                   diag=lambda: diag(box, px))
        lines = wait_until(
            lambda: [ln for ln in px.log()[mark:].splitlines()
                     if re.search(r"diverg", ln, re.I) and any(g in ln for g in extra)], 30,
            "a log line saying %s diverged and naming the extra GTID(s) %s" % (m.name, extra),
            diag=lambda: diag(box, px))
        # Watch it for a while: never writable, never replicating.
        while time.monotonic() - t0 < OBSERVE_S:
            assert not m.is_writable(), "diverged %s became writable\n%s" % (m.name, diag(box, px))
            st = m.slave_status()
            assert not (st and st["Slave_IO_Running"] == "Yes"), \
                "diverged %s was made to replicate\n%s" % (m.name, diag(box, px))
            time.sleep(0.1)
        assert m.query("SELECT COUNT(*) FROM %s WHERE id = -4242" % TABLE)[0][0] == 1, \
            "the diverged write vanished from %s" % m.name
        # Writes still go to the new master, not to the fenced one.
        write_through(px, 7000100)
        assert 7000100 in ids_on(new, TABLE, 7000100, 7000100), diag(box, px)
        assert 7000100 not in ids_on(m, TABLE, 7000100, 7000100), \
            "a write through rwproxy reached the fenced old master\n%s" % diag(box, px)
        check_one_writable(box, new, [px])
        metric("diverged extra_gtids=%s fenced_log=%r" % (",".join(extra), lines[0][-200:]))
    finally:
        px.stop()
        # Repair: undo the diverged write, forget the extra GTIDs, replicate from the new
        # master again (restore_topology before the next test checks it replicates).
        if pos_before is not None and m.alive():
            m.execute(["STOP ALL SLAVES", "RESET SLAVE ALL", "SET SESSION sql_log_bin = 0",
                       "DELETE FROM %s WHERE id = -4242" % TABLE, "RESET MASTER",
                       "SET GLOBAL gtid_slave_pos = '%s'" % pos_before])
            m.point_to(new, use_gtid="slave_pos")
        # (a server left stopped is started and re-pointed by restore_topology)


# ======================================================================= 3. proxy path cut

def test_cut_proxy_path_no_failover(box, master, workdir):
    """rwproxy reaches the master through a TCP relay; the replicas replicate from it
    directly. Stopping the relay (only rwproxy is cut off) must not cause a failover: the
    replicas still receive from the master, so rwproxy is the one cut off. Writes meanwhile
    are held and answered ERR 1290; after the relay is back, writes work again."""
    m = master
    relay = TcpRelay(m.port).start()
    try:
        servers = [(s.name, relay.port if s is m else s.port) for s in box.servers]
        px = start_proxy(box, workdir, "fo-cut", servers=servers, registry=_PROXIES)
        write_through(px, 8000001)
        held = {}

        def held_write():
            t0 = time.monotonic()
            try:
                c = px.connect(read_timeout=HOLD_MS / 1000.0 + 30)
                try:
                    with c.cursor() as cur:
                        cur.execute("INSERT INTO %s (id) VALUES (8000002)" % TABLE)
                    held["result"] = "ok"
                finally:
                    c.close()
            except Exception as e:  # noqa: BLE001
                held["result"] = e
            held["seconds"] = time.monotonic() - t0

        relay.stop()
        t_cut = time.monotonic()
        time.sleep(FAILCOUNT * INTERVAL_MS / 1000.0 + 1.0)  # rwproxy has seen the master fail
        th = threading.Thread(target=held_write, daemon=True)
        th.start()
        while time.monotonic() - t_cut < OBSERVE_S:
            w = box.writable_servers()
            assert w == [m], "only rwproxy's path was cut, yet writable servers are %s\n%s" % (
                [s.name for s in w], diag(box, px))
            for r in others_of(box, m):
                assert r.replicating_from(m), "%s stopped replicating from %s\n%s" % (
                    r.name, m.name, diag(box, px))
            time.sleep(0.1)
        th.join(timeout=HOLD_MS / 1000.0 + 40)
        assert not th.is_alive(), "a write while the path was cut hung\n" + px.tail()
        res = held.get("result")
        metric("cut_path held_write_s=%.3f result=%r" % (held.get("seconds", -1), res))
        observe_stable(box, m, 0.5, [px], "after the cut")
        relay.start()
        took = write_through(px, 8000003)
        metric("cut_path writes_back_after_relay_restart_s=%.3f" % took)
        assert 8000003 in ids_on(m, TABLE, 8000003, 8000003), diag(box, px)
        observe_stable(box, m, 0.5, [px], "after the relay came back")
        assert isinstance(res, pymysql.err.MySQLError) and res.args[0] == 1290, (
            "a write while there was no reachable master should be held up to hold_ms and then "
            "get ERR 1290; got %r after %.3fs\n%s" % (res, held.get("seconds", -1), px.tail()))
    finally:
        for px in _PROXIES:
            px.stop()
        relay.stop()


# ======================================================================= 4. switchover

def _sysbench(port, *args, timeout=180):
    cmd = [SYSBENCH] + list(args) + [
        "--mysql-host=127.0.0.1", "--mysql-port=%d" % port, "--mysql-user=app",
        "--mysql-password=app_pw", "--mysql-db=" + SB_DB, "--tables=2", "--table-size=2000",
        "--db-driver=mysql"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, "sysbench failed (%d):\n%s\n%s\n%s" % (
        p.returncode, " ".join(cmd), p.stdout[-3000:], p.stderr[-3000:])
    return p.stdout


@pytest.mark.skipif(not SYSBENCH, reason="sysbench not installed")
def test_switchover_under_sysbench(box, master, workdir):
    """SIGUSR2 to rwproxy while sysbench oltp_read_write (4 threads) and a marker writer (a row
    every ~5 ms, autocommit) run through it: sysbench ends with exit 0 and no reconnects, the
    marker writer sees a pause but no error and no acknowledged marker is lost; afterwards a
    replica is the only writable server, the old master and the other replica replicate
    from it. Reports the longest marker write pause."""
    m = master
    m.execute("CREATE DATABASE IF NOT EXISTS " + SB_DB)
    box.wait_replicas_caught_up(master=m, replicas=others_of(box, m))
    px = start_proxy(box, workdir, "fo-switch", registry=_PROXIES)
    out_path = os.path.join(workdir, "fo-switch-sysbench.out")
    proc = None
    marks = tw = None
    tx_base = 50000000
    try:
        _sysbench(px.port, "oltp_read_write", "cleanup")
        _sysbench(px.port, "oltp_read_write", "prepare")
        marks = SeqWriter(px.port, MARKS, 1, pause=0.005).start()
        tw = TxWriter(px.port, TXT, tx_base, pause=0.005).start()
        with open(out_path, "w") as out:
            # Deadlocks (1213) of concurrent transactions are retried by sysbench (a direct
            # connection gets them too); any other error, e.g. 1290 or a lost connection, is
            # fatal and makes sysbench exit non-zero.
            proc = subprocess.Popen(
                [SYSBENCH, "oltp_read_write", "run", "--threads=4", "--time=20", "--events=0",
                 "--report-interval=1", "--mysql-ignore-errors=1213",
                 "--mysql-host=127.0.0.1", "--mysql-port=%d" % px.port, "--mysql-user=app",
                 "--mysql-password=app_pw", "--mysql-db=" + SB_DB, "--tables=2",
                 "--table-size=2000", "--db-driver=mysql"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        time.sleep(5)
        assert proc.poll() is None, "sysbench ended early:\n" + open(out_path).read()[-3000:]
        t_sig = time.monotonic()
        px.signal(signal.SIGUSR2)
        new = wait_until(lambda: promoted(box, m), 60,
                         "switchover (SIGUSR2): a replica the only writable server, the old "
                         "master %s replicating from it" % m.name,
                         diag=lambda: diag(box, px))
        t_switched = time.monotonic()
        try:
            rc = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            rc = None
        t_end = time.monotonic()
        marks.stop()
        tw.stop()
        report = open(out_path).read()
        assert rc == 0, "sysbench exit %s during the switchover:\n%s\n%s" % (
            rc, report[-4000:], diag(box, px))
        ign = re.search(r"ignored errors:\s+(\d+)", report)
        rec = re.search(r"reconnects:\s+(\d+)", report)
        assert ign and rec, "no summary in sysbench output:\n" + report[-3000:]
        assert int(rec.group(1)) == 0, report[-3000:]
        tps = [float(x) for x in re.findall(r"\]\s+thds:\s+\d+\s+tps:\s+([\d.]+)", report)]
        pause, pause_end = marks.max_ack_gap(t_sig - 1.0, t_end)
        zero_s = sum(1 for x in tps if x == 0)
        metric("switchover_pause_ms=%.1f promoted_seen_after_s=%.3f marker_acks=%d "
               "marker_errors=%d tx_acked=%d tx_errors=%d sysbench_deadlock_retries=%s "
               "sysbench_min_tps=%s sysbench_zero_tps_seconds=%d old_master=%s new_master=%s" % (
                   pause * 1000, t_switched - t_sig, len(marks.acked()), len(marks.failed()),
                   len(tw.acked()), len(tw.failed()), ign.group(1), min(tps) if tps else "?",
                   zero_s, m.name, new.name))
        assert not marks.failed(), ("autocommit marker writes must see a pause, not an error: %s\n%s"
                                    % (marks.error_summary(), px.tail()))
        acked = {x.id for x in marks.acked()}
        lost = sorted(acked - ids_on(new, MARKS, 1, marks.next_id))
        assert not lost, "%d acknowledged markers missing on %s: %s" % (len(lost), new.name,
                                                                         lost[:20])
        # A transaction open on the old master is rolled back or completed, never applied by
        # half on the new one; what was acknowledged is there.
        halves = half_groups(new, TXT, tx_base, tx_base + 999999)
        assert not halves, ("transactions applied by half on %s ({grp: rows}): %s\n%s" % (
            new.name, halves, diag(box, px, extra=tw.error_summary())))
        tx_lost = sorted({x.id for x in tw.acked()} - groups_on(new, TXT, tx_base,
                                                                tx_base + 999999))
        assert not tx_lost, "%d acknowledged transactions missing on %s: %s" % (
            len(tx_lost), new.name, tx_lost[:20])
        # sysbench's DELETE + INSERT of one id per transaction keep the row counts.
        for t in ("sbtest1", "sbtest2"):
            n = new.query("SELECT COUNT(*) FROM %s.%s" % (SB_DB, t))[0][0]
            assert n == 2000, "%s.%s has %d rows on %s after the switchover (2000 before)" % (
                SB_DB, t, n, new.name)
        check_one_writable(box, new, [px])
        for s in others_of(box, new):
            assert s.replicating_from(new), "%s does not replicate from %s\n%s" % (
                s.name, new.name, diag(box, px))
        # every server holds the same data
        box.wait_replicas_caught_up(master=new, replicas=others_of(box, new))
        sums = {s.name: s.query("CHECKSUM TABLE %s.sbtest1, %s.sbtest2, %s" % (
            SB_DB, SB_DB, TXT)) for s in box.servers}
        assert len({tuple(v) for v in sums.values()}) == 1, "servers differ: %s" % sums
    finally:
        if marks is not None:
            marks.stop()
        if tw is not None:
            tw.stop()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for p in _PROXIES:
            p.stop()
        cur = box.current_master()
        if cur is not None:
            cur.execute(["DROP DATABASE IF EXISTS " + SB_DB, "DELETE FROM " + MARKS])


# ======================================================================= 5. two proxies

def test_two_proxies_one_promotion(box, master, workdir):
    """Two rwproxy instances on the same servers, master killed: exactly one promotion (one
    writable server, the other replica replicating from it, stable for a while), both route
    writes to the new master, and only one of them logs that it promoted."""
    m = master
    pa = start_proxy(box, workdir, "fo-two-a", registry=_PROXIES)
    pb = start_proxy(box, workdir, "fo-two-b", registry=_PROXIES)
    write_through(pa, 9000001)
    write_through(pb, 9000002)
    ma, mb = len(pa.log()), len(pb.log())
    t_kill = time.monotonic()
    m.kill()
    new = wait_until(lambda: promoted(box, m), 60, "a promotion after SIGKILL of %s" % m.name,
                     diag=lambda: diag(box, pa, pb))
    t_prom = time.monotonic()
    observe_stable(box, new, OBSERVE_S, [pa, pb], "after the promotion")
    ta = write_through(pa, 9000003)
    tb = write_through(pb, 9000004)
    got = ids_on(new, TABLE, 9000003, 9000004)
    assert got == {9000003, 9000004}, "writes through the two proxies on %s: %s\n%s" % (
        new.name, sorted(got), diag(box, pa, pb))
    ca, cb = promotion_claims(pa, ma), promotion_claims(pb, mb)
    metric("two_proxies promotion_seen_after_s=%.3f new_master=%s claims_a=%d claims_b=%d "
           "write_a_s=%.3f write_b_s=%.3f" % (t_prom - t_kill, new.name, len(ca), len(cb), ta, tb))
    assert bool(ca) != bool(cb), (
        "exactly one rwproxy should say it promoted; lines with 'promot' claiming it:\n"
        "A: %s\nB: %s\n%s" % (ca[-5:], cb[-5:], diag(box, pa, pb)))
    for p in (pa, pb):
        assert p.alive(), p.tail()


# ======================================================================= 6. frozen replica

READ_GUARD_S = 20  # hang-guard of one read (pymysql read_timeout)


def _reads(px, n, long_conn=None, deadline=None):
    """n autocommit marker reads (fewer if the monotonic deadline passes): short
    connections, plus one on long_conn each round if given. Returns [(name, seconds, kind)]
    and the errors [(kind, repr)]."""
    out, errors = [], []
    for _ in range(n):
        if deadline is not None and time.monotonic() > deadline:
            break
        try:
            c = px.connect(read_timeout=READ_GUARD_S)
            try:
                name, dt = read_who(c)
                out.append((name, dt, "short"))
            finally:
                c.close()
        except Exception as e:  # noqa: BLE001
            errors.append(("short", repr(e)))
        if long_conn is not None:
            try:
                name, dt = read_who(long_conn[0])
                out.append((name, dt, "long"))
            except Exception as e:  # noqa: BLE001
                errors.append(("long", repr(e)))
                try:
                    long_conn[0].close()
                except Exception:  # noqa: BLE001
                    pass
                long_conn[0] = px.connect(read_timeout=READ_GUARD_S)
    return out, errors


def _ms(v):
    return "?" if v is None else "%.2f" % v


def _wait_reads_reach(px, box, name, timeout, what):
    def seen():
        got, _ = _reads(px, 4)
        return any(n == name for n, _, _ in got)
    wait_until(seen, timeout, what, interval=0.05, diag=lambda: diag(box, px))


@contextlib.contextmanager
def reads_proxy(box, workdir, name):
    """A private proxy for read-placement tests (marker tables installed) and one long-lived
    connection through it, as [conn] so a test may replace it; all removed at the end."""
    install_where_markers(box)
    px = start_proxy(box, workdir, name, extra=READS_EXTRA, log_level="debug",
                     registry=_PROXIES)
    long_conn = [px.connect(read_timeout=READ_GUARD_S)]
    try:
        yield px, long_conn
    finally:
        try:
            long_conn[0].close()
        except Exception:  # noqa: BLE001
            pass
        px.stop()
        remove_where_markers(box)


def test_sigstop_replica_reads_move(box, master, workdir):
    """A replica frozen with SIGSTOP (accepts TCP, never answers): autocommit reads through
    rwproxy, on short connections and on one long-lived connection, keep working and are
    answered by the other replica; per-read latency is reported. After SIGCONT the replica
    gets reads again."""
    m = master
    victim, other = others_of(box, m)
    with reads_proxy(box, workdir, "fo-sigstop") as (px, long_conn):
        _wait_reads_reach(px, box, victim.name, 20, "reads reaching %s before" % victim.name)
        _wait_reads_reach(px, box, other.name, 20, "reads reaching %s before" % other.name)
        base, _ = _reads(px, 20, long_conn)
        got, errors = [], []
        os.kill(victim.pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            while time.monotonic() - t0 < OBSERVE_S + 2:
                g, e = _reads(px, 5, long_conn, deadline=t0 + OBSERVE_S + 2)
                got += g
                errors += e
        finally:
            # before anything queries the servers (a diagnostic would hang on a frozen one)
            os.kill(victim.pid, signal.SIGCONT)
        lat = [dt * 1000 for _, dt, _ in got]
        by = collections.Counter(n for n, _, _ in got)
        metric("sigstop_read_p50_ms=%s p99_ms=%s max_ms=%s reads=%d errors=%d "
               "baseline_p50_ms=%s by_server=%s" % (
                   _ms(percentile(lat, 50)), _ms(percentile(lat, 99)),
                   _ms(max(lat) if lat else None), len(lat), len(errors),
                   _ms(percentile([dt * 1000 for _, dt, _ in base], 50)), dict(by)))
        assert not errors, "reads failed while %s was frozen: %s\n%s" % (
            victim.name, errors[:5], diag(box, px))
        assert set(by) == {other.name}, (
            "reads while %s was frozen were answered by %s (expected only %s)\n%s" % (
                victim.name, dict(by), other.name, diag(box, px)))
        t_cont = time.monotonic()
        _wait_reads_reach(px, box, victim.name, 30,
                          "reads reaching %s again after SIGCONT" % victim.name)
        metric("sigstop_reads_back_after_sigcont_s=%.3f" % (time.monotonic() - t_cont))


# ======================================================================= 7. lagging replica

def test_lagging_replica_gets_no_reads(box, master, workdir):
    """A replica with its SQL thread stopped (and writes going on) gets no reads; once its
    SQL thread runs again and it has caught up, it gets reads again."""
    m = master
    lagger, other = others_of(box, m)
    with reads_proxy(box, workdir, "fo-lag") as (px, long_conn):
        _wait_reads_reach(px, box, lagger.name, 20, "reads reaching %s before" % lagger.name)
        lagger.execute("STOP SLAVE SQL_THREAD")
        try:
            t0 = time.monotonic()
            for i in range(1, 21):
                write_through(px, 9500000 + i)

            def only_other():
                got, errs = _reads(px, 10)
                return not errs and all(n == other.name for n, _, _ in got)
            wait_until(only_other, 20,
                       "10 consecutive reads answered by %s once %s's SQL thread stopped" % (
                           other.name, lagger.name), diag=lambda: diag(box, px))
            metric("lag_reads_moved_after_s=%.3f" % (time.monotonic() - t0))
            got, errors = _reads(px, 40, long_conn)
            by = collections.Counter(n for n, _, _ in got)
            assert not errors, "reads failed: %s\n%s" % (errors[:5], diag(box, px))
            assert set(by) == {other.name}, (
                "reads while %s's SQL thread was stopped went to %s\n%s" % (
                    lagger.name, dict(by), diag(box, px)))
        finally:
            lagger.execute("START SLAVE SQL_THREAD")
        t_start = time.monotonic()
        _wait_reads_reach(px, box, lagger.name, 30,
                          "reads reaching %s again after START SLAVE SQL_THREAD" % lagger.name)
        metric("lag_reads_back_after_s=%.3f" % (time.monotonic() - t_start))
        assert 9500020 in ids_on(lagger, TABLE, 9500020, 9500020), \
            "%s serves reads again but has not applied the writes\n%s" % (lagger.name,
                                                                          diag(box, px))
