"""
tests/integration/test_consistency.py — read-your-writes through rwproxy (shared/design/
routing.md, "Read-your-writes"): consistency = session (1000 INSERT-then-SELECT pairs on one
connection), global (1000 pairs with the SELECT on a second connection, and a pool-like
rotation over several connections), eventual (no wait, reads on replicas), and a replica whose
SQL thread is stopped (reads stay correct: they go to the other replica or the master).

Owns: its private rwproxy processes (consistency and causal_timeout_ms per test) and the table
rt_cons. Which server answered a read is read from the local marker table rwp_where (see
test_routing.py), in the same statement: `SELECT w.name, c.v FROM rwp_where w LEFT JOIN
rt_cons c ON c.id = ?` always returns one row, so a miss still names the server that missed.

The "most reads on replicas" assertions are routing assertions, not timing ones: with
semi-synchronous replication a replica has every commit by the time the master acknowledges
it, so a read that waits for the GTID finds it at once; a proxy that sends reads to the master
to be safe fails them.
"""
import pymysql
import pytest

from test_routing import Topology, install_markers, remove_markers, start_own_proxy, stop_own_proxy

PAIRS = 1000
READ = "SELECT w.name, c.v FROM rwp_where w LEFT JOIN rt_cons c ON c.id = %s"


@pytest.fixture(scope="module")
def topo(sandbox):
    t = Topology(sandbox)
    install_markers(t)
    yield t
    remove_markers(t)


@pytest.fixture(scope="module")
def proxies(sandbox, workdir, topo):
    """name -> OwnProxy, started on first use, stopped at the end of the module."""
    made = {}
    configs = {
        "session": "[routing]\nconsistency = session\n",
        "global": "[routing]\nconsistency = global\n",
        "eventual": "[routing]\nconsistency = eventual\n",
        "session-short": "[routing]\nconsistency = session\ncausal_timeout_ms = 300\n",
        "global-short": "[routing]\nconsistency = global\ncausal_timeout_ms = 300\n",
    }

    def get(name):
        if name not in made:
            made[name] = start_own_proxy(sandbox, workdir, "consistency-" + name, configs[name],
                                         topo=topo)
        made[name].mark()
        return made[name]

    yield get
    for px in made.values():
        stop_own_proxy(px)


@pytest.fixture
def table(sandbox, topo):
    """rt_cons, created directly on the master (replicated); dropped after."""
    topo.master.execute(["DROP TABLE IF EXISTS test.rt_cons",
                         "CREATE TABLE test.rt_cons (id INT PRIMARY KEY, v INT NOT NULL)"])
    topo.sync()
    yield "rt_cons"
    topo.master.execute("DROP TABLE IF EXISTS test.rt_cons")


class Tally:
    """Where the reads were answered, and the misses."""

    def __init__(self, topo):
        self.topo = topo    # Topology
        self.by_server = {}  # server name -> reads answered
        self.misses = []    # (pair index, server name, value seen)

    def read(self, cur, i):
        cur.execute(READ, (i,))
        rows = cur.fetchall()
        assert len(rows) == 1, rows
        name, v = rows[0]
        self.by_server[name] = self.by_server.get(name, 0) + 1
        if v != i:
            self.misses.append((i, name, v))

    def replica_share(self):
        total = sum(self.by_server.values())
        return sum(n for s, n in self.by_server.items() if s in self.topo.replica_names) / total

    def summary(self):
        return "reads per server %r, misses (pair, server, value) %r" % (
            self.by_server, self.misses[:20])


def connect(px):
    return px.connect(read_timeout=60)


def test_session_read_your_writes_one_connection(proxies, topo, table):
    px = proxies("session")
    t = Tally(topo)
    c = connect(px)
    try:
        with c.cursor() as cur:
            for i in range(PAIRS):
                cur.execute("INSERT INTO rt_cons VALUES (%s, %s)", (i, i))
                t.read(cur, i)
    finally:
        c.close()
    print("session, one connection:", t.summary())
    assert not t.misses, px.why("consistency=session: a read missed its own write: " + t.summary())
    assert t.replica_share() > 0.5, px.why("most reads went to the master: " + t.summary())


def test_global_read_your_writes_second_connection(proxies, topo, table):
    px = proxies("global")
    t = Tally(topo)
    a, b = connect(px), connect(px)
    try:
        with a.cursor() as wa, b.cursor() as rb:
            for i in range(PAIRS):
                wa.execute("INSERT INTO rt_cons VALUES (%s, %s)", (i, i))
                t.read(rb, i)
    finally:
        a.close()
        b.close()
    print("global, write on A, read on B:", t.summary())
    assert not t.misses, px.why("consistency=global: B missed A's committed write: " + t.summary())
    assert t.replica_share() > 0.5, px.why("most reads went to the master: " + t.summary())


def test_global_pool_rotation(proxies, topo, table):
    """Like a pool: 4 connections, each write on one, the read back on the next."""
    px = proxies("global")
    t = Tally(topo)
    pool = [connect(px) for _ in range(4)]
    try:
        curs = [c.cursor() for c in pool]
        for i in range(400):
            curs[i % 4].execute("INSERT INTO rt_cons VALUES (%s, %s)", (i, i))
            t.read(curs[(i + 1) % 4], i)
            if i % 50 == 49:  # a transaction now and then, committed on another connection
                w = curs[(i + 2) % 4]
                w.execute("BEGIN")
                w.execute("UPDATE rt_cons SET v = v WHERE id = %s", (i,))
                w.execute("INSERT INTO rt_cons VALUES (%s, %s)", (100000 + i, 100000 + i))
                w.execute("COMMIT")
                t.read(curs[(i + 3) % 4], 100000 + i)
    finally:
        for c in pool:
            c.close()
    print("global, 4-connection rotation:", t.summary())
    assert not t.misses, px.why("a pooled read missed a committed write: " + t.summary())
    assert t.replica_share() > 0.5, px.why("most reads went to the master: " + t.summary())


def test_eventual_reads_replicas_without_waiting(proxies, topo, table):
    px = proxies("eventual")
    t = Tally(topo)
    c = connect(px)
    try:
        with c.cursor() as cur:
            for i in range(200):
                cur.execute("INSERT INTO rt_cons VALUES (%s, %s)", (i, i))
                t.read(cur, i)  # may miss: eventual promises nothing here
        topo.sync()
        with c.cursor() as cur:
            cur.execute("SELECT COUNT(*), MAX(name) FROM rt_cons JOIN rwp_where")
            count, name = cur.fetchone()
    finally:
        c.close()
    print("eventual:", t.summary())
    assert count == 200 and name in topo.replica_names, px.why("after catching up: %r %r" % (count, name))
    replica_reads = sum(n for s, n in t.by_server.items() if s in topo.replica_names)
    assert replica_reads == 200, px.why("eventual sent reads to the master: " + t.summary())


@pytest.fixture
def delayed_replica(topo):
    """The last replica's SQL thread stopped (it receives but does not apply); restarted after."""
    r = topo.replicas[-1]
    r.execute("STOP SLAVE SQL_THREAD")
    try:
        yield r
    finally:
        r.execute("START SLAVE SQL_THREAD")
        topo.sync(timeout=120)


@pytest.mark.parametrize("mode", ["session-short", "global-short"])
def test_delayed_replica_reads_stay_correct(proxies, topo, table, delayed_replica, mode):
    px = proxies(mode)
    t = Tally(topo)
    a, b = connect(px), connect(px)
    reader = a if mode.startswith("session") else b
    try:
        with a.cursor() as wa, reader.cursor() as rd:
            for i in range(150):
                wa.execute("INSERT INTO rt_cons VALUES (%s, %s)", (i, i))
                t.read(rd, i)
        # new connections too: a fresh session must not land on the stale replica unchecked
        for i in range(150, 170):
            c = connect(px)
            try:
                with c.cursor() as cur:
                    cur.execute("INSERT INTO rt_cons VALUES (%s, %s)", (i, i))
                    t.read(cur, i)
            finally:
                c.close()
    finally:
        a.close()
        b.close()
    print("%s with %s stopped:" % (mode, delayed_replica.name), t.summary())
    assert not t.misses, px.why("%s (SQL thread stopped) served stale reads: %s" % (
        delayed_replica.name, t.summary()))


def test_eventual_with_delayed_replica_still_answers(proxies, topo, table, delayed_replica):
    """No promise about freshness, but no errors either."""
    px = proxies("eventual")
    c = connect(px)
    try:
        with c.cursor() as cur:
            for i in range(50):
                try:
                    cur.execute("INSERT INTO rt_cons VALUES (%s, %s)", (i, i))
                    cur.execute(READ, (i,))
                    assert len(cur.fetchall()) == 1
                except pymysql.MySQLError as e:
                    pytest.fail(px.why("eventual read with a stopped replica failed: %r" % e))
    finally:
        c.close()
