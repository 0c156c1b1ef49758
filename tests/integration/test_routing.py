"""
tests/integration/test_routing.py — read/write splitting seen from outside: every row of the
destination table of shared/design/routing.md and every session-state item, through rwproxy
processes of this module's own (log_level = debug, consistency = eventual unless a test says
otherwise), each statement's destination checked by which server answered.

Owns: the observation helpers that test_consistency.py, test_prepared_routing.py,
test_jdbc_pool.py and test_mysqltest.py import from here (sandbox topology, marker tables,
starting/stopping private rwproxy processes, status counters, backend sockets of a process,
routing-log excerpts for failure messages), and the routing tests themselves.

How a test knows which server ran a statement:
- (not `@@server_id`: rwproxy sends reads of server-specific variables to the master, so
  that a client sees what it would see on the master alone; test_server_identity_reads);
- marker tables created locally on each server with sql_log_bin = 0 (never replicated):
  `rwp_where(name)` holds the server's own name on every server; `rwp_on_master` exists only on
  the master and `rwp_on_replica` only on the replicas, so DESCRIBE / EXPLAIN / SHOW / DO on
  them succeed only where the statement ran;
- the servers' own Com_* counters read directly before and after (rwproxy's monitor only runs
  SELECTs; note that replicas count applied row events as Com_insert/update/delete, but not
  as Com_replace, Com_insert_select, Com_select or Com_show_*);
- the app user has no SUPER / READ_ONLY ADMIN, so any write it sends to a replica fails with
  1290: a write that succeeds ran on the master.
On failure, the assertion message carries the rwproxy log lines of the test ("COM_QUERY -> db2
(reason)") so a reader can tell a proxy bug from a test bug.
"""
import itertools
import os
import re
import signal
import socket
import tempfile

import pymysql
import pytest

import mysqlraw
import sandbox as sb
from conftest import HOST, RWPROXY_BIN, pymysql_connect

LOG_DEBUG = "[proxy]\nlog_level = debug\n"
MONITOR_USER = "[user.monitor]\npassword = monitor_pw\n"


# ======================================================================= shared helpers

class Topology:
    """The sandbox as it is now: which server is the master, which are replicas."""

    def __init__(self, sandbox):
        self.sandbox = sandbox      # sb.Sandbox
        self.master = None          # sb.Server with read_only = 0
        self.replicas = []          # sb.Server replicating and running
        problems = []
        for s in sandbox.servers:
            if not s.alive():
                problems.append("%s is not running" % s.name)
                continue
            st = s.slave_status()
            if st is None:
                if int(s.var("read_only")) == 0:
                    self.master = s if self.master is None else problems.append("two masters")
                continue
            if st["Slave_IO_Running"] != "Yes" or st["Slave_SQL_Running"] != "Yes":
                problems.append("%s replication not running: %r %r" % (
                    s.name, st.get("Last_IO_Error"), st.get("Last_SQL_Error")))
                continue
            self.replicas.append(s)
        if self.master is None:
            problems.append("no writable server")
        if len(self.replicas) < 2:
            problems.append("fewer than 2 running replicas")
        if problems:
            pytest.fail("sandbox is not master + 2 replicas (not an rwproxy result; "
                        "an earlier test left it so): " + "; ".join(problems), pytrace=False)
        self.servers = [self.master] + self.replicas              # master first
        self.by_name = {s.name: s for s in self.servers}           # name -> Server
        self.replica_names = {s.name for s in self.replicas}       # the replicas' names

    def sync(self, timeout=60):
        """Wait until both replicas applied everything the master has."""
        self.sandbox.wait_replicas_caught_up(timeout=timeout, master=self.master,
                                             replicas=self.replicas)


MARKER_SQL = {
    "common": ["DROP TABLE IF EXISTS test.rwp_where",
               "CREATE TABLE test.rwp_where (name VARCHAR(16) NOT NULL) ENGINE=InnoDB"],
    "master": ["DROP TABLE IF EXISTS test.rwp_on_master",
               "CREATE TABLE test.rwp_on_master (id INT) ENGINE=InnoDB"],
    "replica": ["DROP TABLE IF EXISTS test.rwp_on_replica",
                "CREATE TABLE test.rwp_on_replica (id INT) ENGINE=InnoDB"],
}


def install_markers(topo):
    """Local, unreplicated marker tables on every server (see the module docstring)."""
    for s in topo.servers:
        role = "master" if s is topo.master else "replica"
        stmts = ["SET SESSION sql_log_bin = 0"] + MARKER_SQL["common"] + MARKER_SQL[role]
        stmts.append("INSERT INTO test.rwp_where VALUES ('%s')" % s.name)
        s.execute(stmts)


def remove_markers(topo):
    for s in topo.servers:
        if s.alive():
            s.execute(["SET SESSION sql_log_bin = 0", "DROP TABLE IF EXISTS test.rwp_where",
                       "DROP TABLE IF EXISTS test.rwp_on_master",
                       "DROP TABLE IF EXISTS test.rwp_on_replica"])


def status(server, name):
    """One global status counter of a server, read directly."""
    rows = server.query("SHOW GLOBAL STATUS LIKE %s", args=(name,))
    return int(rows[0][1]) if rows else 0


def counters(topo, name):
    """{server name: counter} for every server."""
    return {s.name: status(s, name) for s in topo.servers}


def deltas(before, after):
    return {k: after[k] - before[k] for k in before}


class _Endpoint:
    """What write_proxy_config needs of a server (name, port)."""

    def __init__(self, name, port):
        self.name = name  # section name after "server."
        self.port = port  # TCP port on 127.0.0.1


class _Box:
    """What write_proxy_config needs of a sandbox: a list of servers."""

    def __init__(self, servers):
        self.servers = servers  # [_Endpoint or sb.Server]


def _add_server_keys(path, server_keys):
    """Insert key = value lines into existing [server.NAME] sections of an INI file."""
    with open(path) as f:
        lines = f.read().split("\n")
    out = []
    for line in lines:
        out.append(line)
        m = re.match(r"^\[server\.([A-Za-z0-9_-]+)\]$", line.strip())
        if m and m.group(1) in server_keys:
            out += ["%s = %s" % kv for kv in server_keys[m.group(1)].items()]
    with open(path, "w") as f:
        f.write("\n".join(out))


_PROXY_SEQ = itertools.count(1)


class OwnProxy:
    """A private rwproxy for a module: its process, topology, and log offsets for diagnosis."""

    def __init__(self, proc, topo):
        self.proc = proc          # sb.ProxyProcess
        self.topo = topo          # Topology
        self.port = proc.port     # client port
        self.mark_at = 0          # log offset at the start of the current test

    def connect(self, **kw):
        return pymysql_connect(self.port, **kw)

    def raw(self, user="app", password="app_pw", db="test", **kw):
        """A logged-in mysqlraw.RawConn with TCP_NODELAY (COM_STMT_CLOSE has no answer: with
        Nagle on, the next command would wait ~40 ms for the delayed ACK)."""
        c = mysqlraw.connect(HOST, self.port, user=user, password=password, db=db, **kw)
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return c

    def mark(self):
        self.mark_at = len(self.proc.log_text())

    def routing_log(self, n=60):
        """The routing decisions logged since mark() (lines naming a COM_ command)."""
        text = self.proc.log_text()[self.mark_at:]
        lines = [ln for ln in text.splitlines() if "COM_" in ln or "ERROR" in ln or "WARN" in ln]
        return "\n".join(lines[-n:]) or "(no routing lines logged since the test started)"

    def why(self, msg):
        """An assertion message: msg plus what rwproxy logged (alive or not)."""
        state = "alive" if self.proc.alive() else "DEAD (exit %s)" % self.proc.proc.returncode
        return "%s\n--- rwproxy %s (%s), routing log of this test:\n%s" % (
            msg, self.proc.config_path, state, self.routing_log())


def start_own_proxy(sandbox, workdir, name, extra="", servers=None, server_keys=None,
                    threads=2, topo=None):
    """Start a private rwproxy (config and log in workdir); servers: [(name, port)] to list
    instead of the sandbox's; server_keys: {server name: {key: value}} for [server.NAME]."""
    if not os.path.exists(RWPROXY_BIN):
        pytest.fail("rwproxy binary not found at %s (run make)" % RWPROXY_BIN)
    base = os.path.join(workdir, "%s-%d" % (name, next(_PROXY_SEQ)))
    box = sandbox if servers is None else _Box([_Endpoint(n, p) for n, p in servers])
    sb.write_proxy_config(base + ".ini", box, sb.free_port(), sb.free_port(), threads=threads,
                          extra=LOG_DEBUG + extra)
    if server_keys:
        _add_server_keys(base + ".ini", server_keys)
    proc = sb.ProxyProcess(RWPROXY_BIN, base + ".ini", base + ".log")
    proc.start()
    return OwnProxy(proc, topo or Topology(sandbox))


def stop_own_proxy(px):
    """SIGTERM; fail (at teardown) if it had died before."""
    was_alive = px.proc.alive()
    rc = px.proc.stop(signal.SIGTERM)
    assert was_alive, px.why("rwproxy died during the module (exit %s)" % rc)
    return rc


def backend_sockets(pid, port):
    """Local ports of the established TCP connections process pid has to 127.0.0.1:port."""
    return [local for local, remote in sb.established_sockets(pid) if remote == port]


def one(cur, sql, args=None):
    """First row of a statement's result."""
    cur.execute(sql, args)
    return cur.fetchone()


WHO = "SELECT name FROM rwp_where"


def who(cur, sql=WHO):
    """The name of the server that ran sql: its last column, read from the local marker
    table rwp_where (e.g. "SELECT x, name FROM rwp_where")."""
    return one(cur, sql)[-1]


# ======================================================================= fixtures

@pytest.fixture(scope="module")
def topo(sandbox):
    t = Topology(sandbox)
    install_markers(t)
    yield t
    remove_markers(t)


def _module_proxy(sandbox, workdir, topo, name, extra="", **kw):
    px = start_own_proxy(sandbox, workdir, name, extra, topo=topo, **kw)
    _ALL_PROXIES.append(px)
    return px


_ALL_PROXIES = []  # this module's proxies (marked at the start of every test)


@pytest.fixture(autouse=True)
def _mark_logs(topo):
    """Every test starts with the replicas caught up and a fresh log mark on each proxy."""
    topo.sync()
    for px in _ALL_PROXIES:
        if px.proc.alive():
            px.mark()
    yield


@pytest.fixture(scope="module")
def ev(sandbox, workdir, topo):
    """consistency = eventual, default balance (least_connections); monitor user allowed."""
    px = _module_proxy(sandbox, workdir, topo, "routing-eventual",
                       "[routing]\nconsistency = eventual\n" + MONITOR_USER)
    yield px
    stop_own_proxy(px)


@pytest.fixture(scope="module")
def gl(sandbox, workdir, topo):
    """All defaults (consistency = global, least_connections)."""
    px = _module_proxy(sandbox, workdir, topo, "routing-global", MONITOR_USER)
    yield px
    stop_own_proxy(px)


@pytest.fixture(scope="module")
def rr(sandbox, workdir, topo):
    """balance = round_robin, consistency = eventual."""
    px = _module_proxy(sandbox, workdir, topo, "routing-rr",
                       "[routing]\nbalance = round_robin\nconsistency = eventual\n" + MONITOR_USER)
    yield px
    stop_own_proxy(px)


@pytest.fixture(params=["ev", "gl"], ids=["eventual", "global"])
def anyp(request):
    """The eventual and the default (global) proxy, one after the other."""
    return request.getfixturevalue(request.param)


class _Conns:
    """Factory of connections to an OwnProxy; close_all() closes every one made."""

    def __init__(self):
        self.made = []  # connections made

    def __call__(self, px, **kw):
        c = px.connect(**kw)
        self.made.append(c)
        return c

    def close_all(self):
        for c in self.made:
            try:
                c.close()
            except Exception:
                pass
        self.made = []


@pytest.fixture
def conns():
    f = _Conns()
    yield f
    f.close_all()


# ======================================================================= autocommit reads

REPLICA_READS = [
    # (id, sql, check): "where" -> the first column is a replica's name; "ok" -> it succeeded
    # (it names a table that exists on the replicas only); "show_replica_table" -> SHOW TABLES
    # lists the replica-only table
    ("select", "SELECT name FROM rwp_where", "where"),
    ("block_comment", "/* hello */ SELECT name FROM rwp_where", "where"),
    ("dash_comment", "-- hello\nSELECT name FROM rwp_where", "where"),
    ("hash_comment", "# hello\nSELECT name FROM rwp_where", "where"),
    ("exec_comment_inside", "SELECT /*!40001 SQL_NO_CACHE */ name FROM rwp_where", "where"),
    ("parenthesised", "(SELECT name FROM rwp_where)", "where"),
    ("with_cte", "WITH w AS (SELECT name FROM rwp_where) SELECT name FROM w", "where"),
    ("union", "SELECT name FROM rwp_where UNION SELECT name FROM rwp_where", "where"),
    ("lowercase", "select name from rwp_where", "where"),
    ("string_with_keywords", "SELECT name FROM rwp_where WHERE 'INSERT; FOR UPDATE' <> ''", "where"),
    ("show_tables", "SHOW TABLES LIKE 'rwp\\_on\\_%'", "show_replica_table"),
    ("show_create", "SHOW CREATE TABLE rwp_on_replica", "ok"),
    ("show_columns", "SHOW COLUMNS FROM rwp_on_replica", "ok"),
    ("describe", "DESCRIBE rwp_on_replica", "ok"),
    ("desc", "DESC rwp_on_replica", "ok"),
    ("explain_table", "EXPLAIN rwp_on_replica", "ok"),
    ("explain_select", "EXPLAIN SELECT * FROM rwp_on_replica", "ok"),
    ("do", "DO (SELECT COUNT(*) FROM rwp_on_replica)", "ok"),
]


@pytest.mark.parametrize("sql,check", [r[1:] for r in REPLICA_READS], ids=[r[0] for r in REPLICA_READS])
def test_autocommit_read_goes_to_a_replica(anyp, conns, sql, check):
    c = conns(anyp)
    topo = anyp.topo
    with c.cursor() as cur:
        for _ in range(3):  # the same statement several times: every answer from a replica
            try:
                cur.execute(sql)
            except pymysql.MySQLError as e:
                pytest.fail(anyp.why("%r failed: %r (1146 on rwp_on_replica means it ran on the "
                                     "master)" % (sql, e)))
            rows = cur.fetchall()
            if check == "where":
                assert rows[0][0] in topo.replica_names, anyp.why("%r answered by %s" % (sql, rows))
            elif check == "show_replica_table":
                assert rows == (("rwp_on_replica",),), anyp.why("%r -> %r" % (sql, rows))


def test_server_identity_reads_answer_as_the_master(anyp, conns, topo):
    """The one rule: server-specific values (@@server_id, @@port, read_only, SHOW VARIABLES)
    are what the master says, never a replica's."""
    c = conns(anyp)
    with c.cursor() as cur:
        for _ in range(3):
            got = one(cur, "SELECT @@server_id, @@port, @@global.read_only")
            assert got == (topo.master.server_id, topo.master.port, 0), anyp.why(
                "server identity through rwproxy: %r (the master is %s)" % (got, topo.master))
            got = one(cur, "SHOW VARIABLES LIKE 'server_id'")
            assert int(got[1]) == topo.master.server_id, anyp.why("SHOW VARIABLES: %r" % (got,))
            assert who(cur) in topo.replica_names, anyp.why("plain reads pinned to the master")


def test_show_master_status_goes_to_master(ev, conns):
    """SHOW MASTER STATUS is the exception among SHOWs (monitor user: needs BINLOG MONITOR)."""
    topo = ev.topo
    c = conns(ev, user="monitor", password="monitor_pw")
    before = counters(topo, "Com_show_binlog_status")
    with c.cursor() as cur:
        for _ in range(10):
            cur.execute("SHOW MASTER STATUS")
            cur.fetchall()
    d = deltas(before, counters(topo, "Com_show_binlog_status"))
    assert d[topo.master.name] >= 10, ev.why("SHOW MASTER STATUS counts per server: %r" % d)


def test_read_only_transaction_uses_one_replica(ev, conns):
    topo = ev.topo
    c = conns(ev)
    with c.cursor() as cur:
        for _ in range(5):
            cur.execute("START TRANSACTION READ ONLY")
            ids = [who(cur) for _ in range(8)]
            cur.execute("COMMIT")
            assert len(set(ids)) == 1 and ids[0] in topo.replica_names, ev.why(
                "READ ONLY transaction answered by %r" % ids)
        # a write inside a READ ONLY transaction is refused (1792 on the master)
        cur.execute("START TRANSACTION READ ONLY")
        with pytest.raises(pymysql.MySQLError) as ei:
            cur.execute("INSERT INTO rwp_where VALUES ('x')")
        cur.execute("ROLLBACK")
        assert ei.value.args[0] in (1792, 1290), ev.why("write in READ ONLY trx: %r" % ei.value)


# ======================================================================= writes

@pytest.fixture
def wtable(ev, conns, topo):
    """Table rt_w created through rwproxy (so it exists everywhere); dropped after."""
    c = conns(ev)
    with c.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS rt_w")
        cur.execute("CREATE TABLE rt_w (id INT AUTO_INCREMENT PRIMARY KEY, v INT, s VARCHAR(32))")
    topo.sync()
    yield "rt_w"
    conns.close_all()  # a test's open transaction or LOCK TABLES must not block the DROP
    c = ev.connect()
    try:
        with c.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS rt_w")
    finally:
        c.close()


def test_dml_goes_to_master(ev, conns, wtable):
    topo = ev.topo
    names = ["Com_insert", "Com_update", "Com_delete", "Com_replace", "Com_insert_select"]
    before = {n: counters(topo, n) for n in names}
    c = conns(ev)
    with c.cursor() as cur:
        for i in range(20):
            cur.execute("INSERT INTO rt_w (v) VALUES (%s)", (i,))
        for i in range(5):
            cur.execute("UPDATE rt_w SET v = v + 100 WHERE v = %s", (i,))
            cur.execute("DELETE FROM rt_w WHERE v = %s", (i + 10,))
            cur.execute("REPLACE INTO rt_w (id, v) VALUES (%s, 7)", (1000 + i,))
        cur.execute("INSERT INTO rt_w (v) SELECT v FROM rt_w WHERE v > 100")
        cur.execute("  /* leading comment */ insert into rt_w (v) values (-1)")
    after = {n: counters(topo, n) for n in names}
    d = {n: deltas(before[n], after[n]) for n in names}
    m = topo.master.name
    assert d["Com_insert"][m] == 21 and d["Com_update"][m] == 5 and d["Com_delete"][m] == 5 \
        and d["Com_replace"][m] == 5 and d["Com_insert_select"][m] == 1, ev.why("counters %r" % d)
    # Replicas apply the master's row events, which MariaDB counts as Com_insert/update/delete
    # there too; REPLACE and INSERT ... SELECT arrive as plain row events, so their own
    # counters stay 0 on a replica unless the statement itself ran there.
    for r in topo.replicas:
        assert d["Com_replace"][r.name] == 0 and d["Com_insert_select"][r.name] == 0, \
            ev.why("a replica ran DML statements: %r" % d)
    got = topo.master.query("SELECT COUNT(*) FROM test.rt_w")[0][0]
    assert got == 20 - 5 + 5 + 4 + 1, got  # inserts, deletes, replaces, INSERT ... SELECT (v 101..104), -1


def test_ddl_and_admin_statements_go_to_master(ev, conns, wtable):
    """Each would fail with 1290 (or 1227) for app on a read-only replica."""
    topo = ev.topo
    c = conns(ev)
    stmts = [
        "CREATE TABLE rt_ddl (a INT)", "ALTER TABLE rt_ddl ADD COLUMN b INT",
        "CREATE INDEX rt_i ON rt_ddl (b)", "RENAME TABLE rt_ddl TO rt_ddl2",
        "TRUNCATE TABLE rt_ddl2", "CREATE VIEW rt_v AS SELECT a FROM rt_ddl2",
        "DROP VIEW rt_v", "DROP TABLE rt_ddl2",
        "CREATE PROCEDURE rt_p_ins() BEGIN INSERT INTO rt_w (v) VALUES (555); "
        "SELECT name FROM rwp_where; END",
    ]
    an_before = counters(topo, "Com_analyze")
    op_before = counters(topo, "Com_optimize")
    with c.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS rt_ddl, rt_ddl2")
        cur.execute("DROP VIEW IF EXISTS rt_v")
        cur.execute("DROP PROCEDURE IF EXISTS rt_p_ins")
        for s in stmts:
            try:
                cur.execute(s)
            except pymysql.MySQLError as e:
                pytest.fail(ev.why("%r failed through rwproxy: %r" % (s, e)))
        # CALL: master (its SELECT reads the master's marker)
        cur.execute("CALL rt_p_ins()")
        assert cur.fetchall() == ((topo.master.name,),), ev.why("CALL answered elsewhere")
        while cur.nextset():
            pass
        cur.execute("ANALYZE TABLE rt_w")
        cur.fetchall()
        cur.execute("OPTIMIZE TABLE rt_w")
        cur.fetchall()
        cur.execute("DROP PROCEDURE rt_p_ins")
    assert topo.master.query("SELECT COUNT(*) FROM test.rt_w WHERE v = 555")[0][0] == 1
    m = topo.master.name
    assert deltas(an_before, counters(topo, "Com_analyze"))[m] >= 1, ev.why("ANALYZE not on master")
    assert deltas(op_before, counters(topo, "Com_optimize"))[m] >= 1, ev.why("OPTIMIZE not on master")


def test_load_data_local_goes_to_master(ev, conns, wtable):
    topo = ev.topo
    fd, path = tempfile.mkstemp(prefix="rt-load-", suffix=".tsv")
    try:
        with os.fdopen(fd, "w") as f:
            f.write("".join("%d\tline%d\n" % (i, i) for i in range(300)))
        c = conns(ev)
        with c.cursor() as cur:
            try:
                n = cur.execute("LOAD DATA LOCAL INFILE %s INTO TABLE rt_w (v, s)", (path,))
            except pymysql.MySQLError as e:
                pytest.fail(ev.why("LOAD DATA LOCAL failed: %r" % e))
        assert n == 300
        assert topo.master.query("SELECT COUNT(*) FROM test.rt_w")[0][0] == 300
    finally:
        os.unlink(path)


def test_lock_tables_pins_to_master(ev, conns, wtable):
    topo = ev.topo
    c = conns(ev)
    with c.cursor() as cur:
        cur.execute("LOCK TABLES rt_w WRITE")
        try:
            cur.execute("INSERT INTO rt_w (v) VALUES (1)")
            for _ in range(3):
                assert one(cur, "SELECT COUNT(*) FROM rt_w")[0] == 1, ev.why("read under LOCK TABLES")
                # on the master a table not locked is an error (1100): the client must see it too
                with pytest.raises(pymysql.MySQLError) as ei:
                    cur.execute(WHO)
                assert ei.value.args[0] == 1100, ev.why(
                    "read of an unlocked table under LOCK TABLES: want 1100 as on the master, "
                    "got %r" % (ei.value.args,))
        finally:
            cur.execute("UNLOCK TABLES")
        topo.sync()
        assert who(cur) in topo.replica_names, ev.why("after UNLOCK TABLES reads stayed on master")


def test_xa_transaction_goes_to_master(ev, conns, wtable):
    topo = ev.topo
    c = conns(ev)
    with c.cursor() as cur:
        cur.execute("XA START 'rt_xa1'")
        cur.execute("INSERT INTO rt_w (v) VALUES (42)")
        assert who(cur) == topo.master.name, ev.why("read inside XA left the master")
        cur.execute("XA END 'rt_xa1'")
        cur.execute("XA PREPARE 'rt_xa1'")
        cur.execute("XA COMMIT 'rt_xa1'")
        topo.sync()
        assert who(cur) in topo.replica_names, ev.why("after XA COMMIT reads stayed on master")
    assert topo.master.query("SELECT COUNT(*) FROM test.rt_w WHERE v = 42")[0][0] == 1


# ======================================================================= transactions

@pytest.mark.parametrize("begin,end", [
    ("BEGIN", "COMMIT"), ("START TRANSACTION", "ROLLBACK"), ("START TRANSACTION READ WRITE", "COMMIT"),
    ("BEGIN WORK", "COMMIT WORK"), ("START TRANSACTION WITH CONSISTENT SNAPSHOT", "COMMIT"),
    ("/* c */ begin", "rollback work"),
])
def test_transaction_pinned_to_master(anyp, conns, wtable, begin, end):
    topo = anyp.topo
    c = conns(anyp)
    with c.cursor() as cur:
        cur.execute(begin)
        assert c.server_status & mysqlraw.SERVER_STATUS_IN_TRANS, "IN_TRANS not set after " + begin
        assert who(cur) == topo.master.name, anyp.why("first read after %r not on master" % begin)
        cur.execute("INSERT INTO rt_w (v) VALUES (1)")
        for _ in range(3):
            assert who(cur) == topo.master.name, anyp.why("read inside %r left the master" % begin)
            assert one(cur, "SELECT COUNT(*) FROM rt_w WHERE v = 1")[0] == 1, "own insert not seen"
        cur.execute(end)
        assert not c.server_status & mysqlraw.SERVER_STATUS_IN_TRANS
        topo.sync()  # global consistency: the replica has the commit, no causal wait needed
        assert who(cur) in topo.replica_names, anyp.why("after %r reads stayed on master" % end)


def test_read_only_begin_without_writes_is_still_master(ev, conns):
    """BEGIN (read-write) with only SELECTs inside: still pinned to the master."""
    topo = ev.topo
    c = conns(ev)
    with c.cursor() as cur:
        cur.execute("BEGIN")
        ids = {who(cur) for _ in range(5)}
        cur.execute("COMMIT")
    assert ids == {topo.master.name}, ev.why("reads in BEGIN answered by %r" % ids)


@pytest.mark.parametrize("off,on", [
    ("SET autocommit=0", "SET autocommit=1"), ("SET SESSION autocommit = OFF", "SET SESSION autocommit = ON"),
    ("SET @@autocommit = 0", "SET @@session.autocommit = 1"), ("pymysql", "pymysql"),
    ("SET autocommit=0, @rt_ac = 1", "SET @rt_ac = 2, autocommit=1"),
])
def test_autocommit_off_pins_until_back_on(anyp, conns, wtable, off, on):
    topo = anyp.topo
    c = conns(anyp)
    with c.cursor() as cur:
        c.autocommit(False) if off == "pymysql" else cur.execute(off)
        assert not c.server_status & mysqlraw.SERVER_STATUS_AUTOCOMMIT
        assert who(cur) == topo.master.name, anyp.why("read after %r not on master" % off)
        cur.execute("INSERT INTO rt_w (v) VALUES (2)")
        cur.execute("COMMIT")
        # still autocommit=0 after COMMIT: a new transaction starts with the next statement
        ids = {who(cur) for _ in range(3)}
        assert ids == {topo.master.name}, anyp.why("after COMMIT with autocommit=0: %r" % ids)
        cur.execute("ROLLBACK")
        c.autocommit(True) if on == "pymysql" else cur.execute(on)
        topo.sync()
        assert c.server_status & mysqlraw.SERVER_STATUS_AUTOCOMMIT
        assert who(cur) in topo.replica_names, anyp.why("after %r reads stayed on master" % on)


# ======================================================================= master-only reads

@pytest.mark.parametrize("suffix", ["FOR UPDATE", "LOCK IN SHARE MODE", "FOR UPDATE NOWAIT",
                                    "FOR UPDATE SKIP LOCKED"])
def test_locking_reads_go_to_master(anyp, conns, suffix):
    topo = anyp.topo
    c = conns(anyp)
    with c.cursor() as cur:
        for _ in range(3):
            got = who(cur, "SELECT name FROM rwp_where " + suffix)
            assert got == topo.master.name, anyp.why("SELECT ... %s answered by %s" % (suffix, got))


def test_for_share_same_answer_as_master(ev, conns, direct_conn):
    """MariaDB 10.11 has no FOR SHARE: through rwproxy the same answer as on the master."""
    answers = []
    for c in (direct_conn(), conns(ev)):
        with c.cursor() as cur:
            try:
                cur.execute("SELECT name FROM rwp_where FOR SHARE")
                answers.append(("rows", cur.fetchall()))
            except pymysql.MySQLError as e:
                answers.append(("err", e.args[0]))
    assert answers[1] == answers[0], ev.why("master directly %r, through rwproxy %r" % tuple(answers))


@pytest.fixture
def itable(ev, conns, topo):
    c = conns(ev)
    with c.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS rt_ai")
        cur.execute("CREATE TABLE rt_ai (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
        cur.executemany("INSERT INTO rt_ai (v) VALUES (%s)", [(i,) for i in range(7)])
    topo.sync()
    yield "rt_ai"
    conns.close_all()
    c = ev.connect()
    try:
        with c.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS rt_ai")
    finally:
        c.close()


def test_last_insert_id_and_identity(anyp, conns, itable):
    topo = anyp.topo
    c = conns(anyp)
    with c.cursor() as cur:
        cur.execute("INSERT INTO rt_ai (v) VALUES (100)")
        new_id = cur.lastrowid
        assert new_id > 7
        topo.sync()
        assert who(cur) in topo.replica_names, anyp.why("plain read after a write not on a replica")
        assert one(cur, "SELECT LAST_INSERT_ID()")[0] == new_id, anyp.why("LAST_INSERT_ID wrong")
        assert one(cur, "SELECT @@identity")[0] == new_id, anyp.why("@@identity wrong")
        assert one(cur, "SELECT @@last_insert_id")[0] == new_id, anyp.why("@@last_insert_id wrong")
        got = one(cur, "SELECT LAST_INSERT_ID(), name FROM rwp_where")
        assert got == (new_id, topo.master.name), anyp.why("LAST_INSERT_ID() with the marker: %r" % (got,))


def test_found_rows_after_calc_found_rows(anyp, conns, itable):
    c = conns(anyp)
    with c.cursor() as cur:
        for limit in (2, 3, 5):
            cur.execute("SELECT SQL_CALC_FOUND_ROWS id FROM rt_ai ORDER BY id LIMIT %d" % limit)
            assert len(cur.fetchall()) == limit
            got = one(cur, "SELECT FOUND_ROWS()")[0]
            assert got == 7, anyp.why("FOUND_ROWS() after SQL_CALC_FOUND_ROWS LIMIT %d = %r, want 7"
                                      % (limit, got))
        cur.execute("SELECT id FROM rt_ai WHERE v < 4")
        assert len(cur.fetchall()) == 4
        got = one(cur, "SELECT FOUND_ROWS()")[0]
        assert got == 4, anyp.why("FOUND_ROWS() after a plain 4-row SELECT = %r" % got)


def test_row_count(anyp, conns, itable):
    c = conns(anyp)
    with c.cursor() as cur:
        cur.execute("UPDATE rt_ai SET v = v + 1000 WHERE v < 3")
        got = one(cur, "SELECT ROW_COUNT()")[0]
        assert got == 3, anyp.why("ROW_COUNT() after updating 3 rows = %r" % got)
        cur.execute("DELETE FROM rt_ai WHERE v >= 1000")
        got = one(cur, "SELECT ROW_COUNT(), name FROM rwp_where")
        assert got == (3, anyp.topo.master.name), anyp.why("ROW_COUNT() with the marker: %r" % (got,))


def test_named_locks(anyp, conns):
    topo = anyp.topo
    c = conns(anyp)
    lock = "rt_lock_%s" % anyp.port
    held = lambda: topo.master.query("SELECT IS_USED_LOCK(%s)", args=(lock,))[0][0]  # noqa: E731
    with c.cursor() as cur:
        got = one(cur, "SELECT GET_LOCK(%s, 5), name FROM rwp_where", (lock,))
        assert got == (1, topo.master.name), anyp.why("GET_LOCK answered %r" % (got,))
        assert held() is not None, "the lock is not held on the master"
        assert one(cur, "SELECT IS_USED_LOCK(%s) = CONNECTION_ID()", (lock,))[0] == 1, \
            anyp.why("IS_USED_LOCK did not see the session's own lock")
        assert one(cur, "SELECT IS_FREE_LOCK(%s)", (lock,))[0] == 0, anyp.why("IS_FREE_LOCK")
        assert one(cur, "SELECT RELEASE_LOCK(%s)", (lock,))[0] == 1, anyp.why("RELEASE_LOCK")
        assert held() is None, "the lock is still held on the master"
        cur.execute("DO GET_LOCK(%s, 5)", (lock,))
        assert held() is not None, anyp.why("DO GET_LOCK did not run on the master")
        cur.execute("DO RELEASE_LOCK(%s)", (lock,))
        assert held() is None, anyp.why("DO RELEASE_LOCK did not run on the master")


def test_sequences(anyp, conns, topo):
    c = conns(anyp)
    with c.cursor() as cur:
        cur.execute("DROP SEQUENCE IF EXISTS rt_seq")
        cur.execute("CREATE SEQUENCE rt_seq START WITH 1 INCREMENT BY 1")
        try:
            assert one(cur, "SELECT NEXTVAL(rt_seq)")[0] == 1, anyp.why("NEXTVAL")
            assert one(cur, "SELECT NEXT VALUE FOR rt_seq, name FROM rwp_where") == (2, topo.master.name), \
                anyp.why("NEXT VALUE FOR")
            assert one(cur, "SELECT LASTVAL(rt_seq)")[0] == 2, anyp.why("LASTVAL (NULL on a replica)")
            assert one(cur, "SELECT PREVIOUS VALUE FOR rt_seq")[0] == 2, anyp.why("PREVIOUS VALUE FOR")
            assert one(cur, "SELECT SETVAL(rt_seq, 100)")[0] == 100, anyp.why("SETVAL")
            assert one(cur, "SELECT NEXTVAL(rt_seq)")[0] == 101, anyp.why("NEXTVAL after SETVAL")
        finally:
            cur.execute("DROP SEQUENCE IF EXISTS rt_seq")


def test_stored_functions_go_to_master(anyp, conns, itable):
    """Functions are created by root directly on the master (app may not create routines with
    binary logging on: 1419); SQL SECURITY INVOKER, so app's call on a replica would be 1290."""
    topo = anyp.topo
    topo.master.execute([
        "DROP FUNCTION IF EXISTS test.rt_f_ins", "DROP FUNCTION IF EXISTS test.rt_f_pure",
        "CREATE FUNCTION test.rt_f_ins(x INT) RETURNS INT DETERMINISTIC MODIFIES SQL DATA "
        "SQL SECURITY INVOKER "
        "BEGIN INSERT INTO test.rt_ai (v) VALUES (x); RETURN x + 1; END",
        "CREATE FUNCTION test.rt_f_pure() RETURNS INT DETERMINISTIC NO SQL SQL SECURITY INVOKER "
        "RETURN 42"])
    topo.sync()
    c = conns(anyp)
    try:
        with c.cursor() as cur:
            for sql in ("SELECT rt_f_ins(5000)", "SELECT test.rt_f_ins(5000)",
                        "SELECT name FROM rwp_where WHERE rt_f_ins(5000) > 0"):
                try:
                    cur.execute(sql)
                    rows = cur.fetchall()
                except pymysql.MySQLError as e:
                    pytest.fail(anyp.why("%r failed (1290: it ran on a replica): %r" % (sql, e)))
            assert rows == ((topo.master.name,),), anyp.why("function in WHERE answered %r" % (rows,))
            got = topo.master.query("SELECT COUNT(*) FROM test.rt_ai WHERE v = 5000")[0][0]
            assert got >= 3, anyp.why("the function's inserts are not on the master (%d)" % got)
            got = one(cur, "SELECT rt_f_pure(), name FROM rwp_where")
            assert got == (42, topo.master.name), anyp.why("stored function read answered %r" % (got,))
    finally:
        topo.master.execute(["DROP FUNCTION IF EXISTS test.rt_f_ins",
                             "DROP FUNCTION IF EXISTS test.rt_f_pure"])


def test_select_into_and_assignment_go_to_master(anyp, conns):
    topo = anyp.topo
    m = topo.master.name
    c = conns(anyp)
    with c.cursor() as cur:
        cur.execute("SELECT name INTO @rt_into FROM rwp_where")
        cur.execute("SELECT name FROM rwp_where INTO @rt_into2")
        assert one(cur, "SELECT @rt_asg := name FROM rwp_where")[0] == m, anyp.why("@v := ran elsewhere")
        # read back on the same session, wherever that goes (the design allows keeping the
        # session on the master once it assigned user variables it cannot replay)
        for _ in range(4):
            got = one(cur, "SELECT @rt_into, @rt_into2, @rt_asg")
            assert got == (m, m, m), anyp.why("user variables read back as %r, want %s" % (got, m))


def test_user_variables_set_by_server_side_code(anyp, conns, wtable):
    """User variables assigned where rwproxy cannot see it: a CALL's OUT parameter, a SET
    inside a procedure, a trigger. The client must read the master's values (the mysqltest
    files create_drop_procedure, func_concat, stack and create_drop_trigger do this)."""
    topo = anyp.topo
    topo.master.execute([
        "DROP PROCEDURE IF EXISTS test.rt_p_out", "DROP PROCEDURE IF EXISTS test.rt_p_set",
        "CREATE PROCEDURE test.rt_p_out(OUT n INT) SELECT COUNT(*) INTO n FROM test.rt_w",
        "CREATE PROCEDURE test.rt_p_set() SET @rt_inside = CONCAT('set inside ', @rt_arg)",
        "CREATE TRIGGER test.rt_w_trg BEFORE INSERT ON test.rt_w FOR EACH ROW "
        "SET @rt_trg = IFNULL(@rt_trg, 0) + NEW.v"])
    topo.sync()
    c = conns(anyp)
    try:
        with c.cursor() as cur:
            cur.execute("INSERT INTO rt_w (v) VALUES (0), (0), (0)")
            cur.execute("SET @rt_out = 99")
            cur.execute("CALL rt_p_out(@rt_out)")
            got = one(cur, "SELECT @rt_out")[0]
            assert got == 3, anyp.why("OUT parameter read back as %r, want 3 (the master's)" % got)
            cur.execute("SET @rt_arg = 'x'")
            cur.execute("CALL rt_p_set()")
            got = one(cur, "SELECT @rt_inside")[0]
            assert got == "set inside x", anyp.why("variable SET inside a procedure read back as %r" % got)
            cur.execute("SET @rt_trg = 0")
            cur.execute("INSERT INTO rt_w (v) VALUES (10), (20), (30)")
            got = one(cur, "SELECT @rt_trg")[0]
            assert got == 60, anyp.why("variable SET by a trigger read back as %r, want 60" % got)
    finally:
        topo.master.execute(["DROP PROCEDURE IF EXISTS test.rt_p_out",
                             "DROP PROCEDURE IF EXISTS test.rt_p_set",
                             "DROP TRIGGER IF EXISTS test.rt_w_trg"])


def test_temporary_tables(anyp, conns, topo):
    c = conns(anyp)
    with c.cursor() as cur:
        cur.execute("CREATE TEMPORARY TABLE rt_tmp (a INT)")
        cur.execute("INSERT INTO rt_tmp VALUES (1), (2), (3)")
        for sql in ("SELECT COUNT(*) FROM rt_tmp", "SELECT COUNT(*) FROM test.rt_tmp",
                    "SELECT COUNT(*) FROM `rt_tmp`", "select count(*) from rt_tmp",
                    "SELECT COUNT(*) FROM rwp_where JOIN rt_tmp", "(SELECT COUNT(*) FROM rt_tmp)"):
            try:
                got = one(cur, sql)[0]
            except pymysql.MySQLError as e:
                pytest.fail(anyp.why("%r: %r (1146: the read left the master)" % (sql, e)))
            assert got == 3, anyp.why("%r -> %r" % (sql, got))
        assert who(cur, "SELECT name FROM rwp_where JOIN rt_tmp LIMIT 1") == topo.master.name
        cur.execute("CREATE TEMPORARY TABLE rt_tmp2 AS SELECT a * 10 AS b FROM rt_tmp")
        assert one(cur, "SELECT SUM(b) FROM rt_tmp2")[0] == 60, anyp.why("CREATE ... AS SELECT temp")
        cur.execute("DROP TEMPORARY TABLE rt_tmp")
        cur.execute("DROP TABLE rt_tmp2")
        topo.sync()
        ids = {who(cur) for _ in range(3)}
        assert ids <= topo.replica_names, anyp.why("after dropping the temp tables reads stay on %r" % ids)
        assert who(cur) in topo.replica_names, anyp.why("marker read not on a replica")


def test_temporary_table_shadowing_a_real_table(ev, conns, topo):
    """A temp table with the name of a real table hides it: reads of that name -> master."""
    c = conns(ev)
    with c.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS rt_shadow")
        cur.execute("CREATE TABLE rt_shadow (a INT)")
        cur.execute("INSERT INTO rt_shadow VALUES (1)")
        topo.sync()
        cur.execute("CREATE TEMPORARY TABLE rt_shadow (a INT)")
        try:
            got = one(cur, "SELECT COUNT(*) FROM rt_shadow")[0]
            assert got == 0, ev.why("read the real rt_shadow (replica?) instead of the temp table")
        finally:
            cur.execute("DROP TEMPORARY TABLE IF EXISTS rt_shadow")
            assert one(cur, "SELECT COUNT(*) FROM rt_shadow")[0] == 1
            cur.execute("DROP TABLE IF EXISTS rt_shadow")


def test_multi_statement_goes_to_master(anyp, conns):
    topo = anyp.topo
    c = conns(anyp)
    with c.cursor() as cur:
        cur.execute("SELECT 1; SELECT name FROM rwp_where")
        assert cur.fetchall() == ((1,),)
        assert cur.nextset()
        got = cur.fetchall()
        assert got == ((topo.master.name,),), anyp.why("second statement of 'a; b' answered %r" % (got,))
        assert not cur.nextset()
        cur.execute("SELECT name FROM rwp_where; SELECT name FROM rwp_where")
        assert cur.fetchall() == ((topo.master.name,),), anyp.why("multi-statement not on master")
        cur.nextset()
        assert who(cur) in topo.replica_names, anyp.why("a multi-statement pinned the session")


def test_set_statement_for_select(anyp, conns, direct_conn):
    topo = anyp.topo
    c = conns(anyp)
    with direct_conn().cursor() as dcur:
        default_mst = one(dcur, "SELECT @@max_statement_time")[0]
    with c.cursor() as cur:
        for _ in range(3):
            got = who(cur, "SET STATEMENT max_statement_time=5 FOR SELECT name FROM rwp_where")
            assert got in topo.replica_names, anyp.why("SET STATEMENT ... FOR SELECT answered by %r" % got)
            assert who(cur) in topo.replica_names, anyp.why("SET STATEMENT ... FOR SELECT pinned")
            assert one(cur, "SELECT @@max_statement_time")[0] == default_mst, \
                anyp.why("SET STATEMENT leaked into the session")
        got = one(cur, "SET STATEMENT max_statement_time=5 FOR SELECT 1")
        assert got == (1,)
        got = who(cur, "SET STATEMENT max_statement_time=5 FOR SELECT name FROM rwp_where FOR UPDATE")
        assert got == topo.master.name, anyp.why("SET STATEMENT ... FOR SELECT ... FOR UPDATE on %r" % got)


def test_set_statement_for_write_goes_to_master(ev, conns, wtable):
    c = conns(ev)
    with c.cursor() as cur:
        try:
            cur.execute("SET STATEMENT sql_mode='' FOR INSERT INTO rt_w (v) VALUES (9)")
        except pymysql.MySQLError as e:
            pytest.fail(ev.why("SET STATEMENT ... FOR INSERT: %r" % e))
    assert ev.topo.master.query("SELECT COUNT(*) FROM test.rt_w WHERE v = 9")[0][0] == 1


def test_show_warnings_follow_the_previous_statement(anyp, conns, wtable):
    """SHOW WARNINGS / @@warning_count describe the statement before, wherever it ran."""
    c = conns(anyp)
    with c.cursor() as cur:
        cur.execute("INSERT IGNORE INTO rt_w (id, v) VALUES (1, 1), (1, 2)")  # on the master
        cur.execute("SHOW WARNINGS")
        got = [r[1] for r in cur.fetchall()]
        assert got == [1062], anyp.why("SHOW WARNINGS after a duplicate INSERT IGNORE: %r" % got)
        cur.execute("SELECT CAST('12abc' AS INT)")  # a read with a warning (on a replica)
        cur.fetchall()
        assert one(cur, "SELECT @@warning_count")[0] == 1, anyp.why("@@warning_count after a read")
        cur.execute("SELECT CAST('12abc' AS INT)")
        cur.fetchall()
        cur.execute("SHOW WARNINGS")
        got = [r[1] for r in cur.fetchall()]
        assert got == [1292], anyp.why("SHOW WARNINGS after a read with a warning: %r" % got)


# ======================================================================= hints

def test_hints(anyp, conns, wtable):
    topo = anyp.topo
    r1 = topo.replicas[0]
    r2 = topo.replicas[1]
    cases = [
        ("/* rwproxy:master */ SELECT name FROM rwp_where", {topo.master.name}),
        ("/*rwproxy:master*/SELECT name FROM rwp_where", {topo.master.name}),
        ("  /* first */ /* rwproxy:master */ SELECT name FROM rwp_where", {topo.master.name}),
        ("/* rwproxy:replica */ SELECT name FROM rwp_where", topo.replica_names),
        ("/* rwproxy:server=%s */ SELECT name FROM rwp_where" % r1.name, {r1.name}),
        ("/* rwproxy:server=%s */ SELECT name FROM rwp_where" % r2.name, {r2.name}),
        ("/* rwproxy:server=%s */ SELECT name FROM rwp_where" % topo.master.name, {topo.master.name}),
    ]
    c = conns(anyp)
    with c.cursor() as cur:
        for sql, want in cases:
            for _ in range(3):
                got = who(cur, sql)
                assert got in want, anyp.why("%r answered by %s, want %s" % (
                    sql, got, sorted(want)))
        cur.execute("BEGIN")
        cur.execute("INSERT INTO rt_w (v) VALUES (77)")
        got = who(cur, "/* rwproxy:replica */ SELECT name FROM rwp_where")
        assert got == topo.master.name, anyp.why("replica hint obeyed inside a write transaction")
        assert one(cur, "/* rwproxy:replica */ SELECT COUNT(*) FROM rt_w WHERE v = 77")[0] == 1
        cur.execute("COMMIT")


# ======================================================================= rules

RULES = """
[rule.rt_late]
order = 50
match = rule_order_check
block = this rule must lose against rt_early
[rule.rt_early]
order = 5
match = rule_order_check
route = master
[rule.rt_to_master]
order = 10
match = ^SELECT .*rule_to_master
route = master
[rule.rt_to_server]
order = 20
match = ^SELECT .*rule_to_server
route = server.%(server)s
[rule.rt_to_replica]
order = 25
match = rule_to_replica
route = replica
[rule.rt_block]
order = 30
match = ^SELECT .* FROM rt_reports
block = reports are disabled
[rule.rt_user]
order = 40
match = rule_monitor_only
user = monitor
block = monitor may not run this
"""


@pytest.fixture(scope="module")
def rules_px(sandbox, workdir, topo):
    px = _module_proxy(sandbox, workdir, topo, "routing-rules",
                       "[routing]\nconsistency = eventual\n" + MONITOR_USER
                       + RULES % {"server": topo.replicas[1].name})
    yield px
    stop_own_proxy(px)


def test_rules_route_and_block(rules_px, conns):
    px = rules_px
    topo = px.topo
    target = topo.replicas[1]
    c = conns(px)
    with c.cursor() as cur:
        for _ in range(3):
            got = who(cur, "SELECT 'rule_to_master', name FROM rwp_where")
            assert got == topo.master.name, px.why("route = master rule: answered by %s" % got)
            got = who(cur, "select 'RULE_TO_MASTER', name FROM rwp_where")  # case-insensitive
            assert got == topo.master.name, px.why("case-insensitive match: answered by %s" % got)
            got = who(cur, "SELECT 'rule_to_server', name FROM rwp_where")
            assert got == target.name, px.why("route = server.%s: answered by %s" % (
                target.name, got))
            got = who(cur, "SELECT 'rule_order_check', name FROM rwp_where")
            assert got == topo.master.name, px.why("rule order: answered by %s" % got)
            # LAST_INSERT_ID() alone would go to the master: the rule decides instead
            got = who(cur, "SELECT LAST_INSERT_ID(), 'rule_to_replica', name FROM rwp_where")
            assert got in topo.replica_names, px.why("route = replica: answered by %s" % got)
            got = who(cur, "SELECT 'rule_monitor_only', name FROM rwp_where")  # rule is for monitor only
            assert got in topo.replica_names, px.why("user-restricted rule applied to app")
            with pytest.raises(pymysql.MySQLError) as ei:
                cur.execute("SELECT * FROM rt_reports WHERE 1")
            assert ei.value.args[0] == 1148 and "reports are disabled" in ei.value.args[1], \
                px.why("block rule answered %r" % (ei.value.args,))
            assert who(cur) in topo.replica_names, px.why("connection unusable after a blocked statement")
    m = conns(px, user="monitor", password="monitor_pw")
    with m.cursor() as cur:
        with pytest.raises(pymysql.MySQLError) as ei:
            cur.execute("SELECT 'rule_monitor_only'")
        assert ei.value.args[0] == 1148 and "monitor may not run this" in ei.value.args[1], \
            px.why("user rule for monitor answered %r" % (ei.value.args,))


# ======================================================================= no usable replica

def test_no_usable_replica_reads_on_master(sandbox, workdir, topo):
    dead_port = sb.free_port()
    px = start_own_proxy(sandbox, workdir, "routing-dead-replica",
                         "[routing]\nconsistency = eventual\n",
                         servers=[(topo.master.name, topo.master.port), ("deadrep", dead_port)],
                         topo=topo)
    try:
        px.mark()
        for _ in range(5):
            c = px.connect()
            try:
                with c.cursor() as cur:
                    for _ in range(4):
                        try:
                            got = who(cur)
                        except pymysql.MySQLError as e:
                            pytest.fail(px.why("read with no usable replica failed: %r" % e))
                        assert got == topo.master.name, px.why("read answered by %r" % got)
                    cur.execute("DO 1")
            finally:
                c.close()
    finally:
        stop_own_proxy(px)


# ======================================================================= session state

def state_script(cur, db):
    """Session state commands, then what a read sees (the answering server's name last)."""
    cur.execute("SET NAMES latin1")
    cur.execute("SET sql_mode = 'ANSI_QUOTES,NO_ENGINE_SUBSTITUTION'")
    cur.execute("SET time_zone = '+05:00'")
    cur.execute("SET @rt_uv = 'hello', @rt_n = 42")
    cur.execute("SET SESSION group_concat_max_len = 7")
    cur.execute("USE " + db)
    return ("SELECT @@character_set_client, @@character_set_results, @@collation_connection, "
            "@@sql_mode, @@time_zone, @rt_uv, @rt_n, DATABASE(), @@group_concat_max_len, "
            "GROUP_CONCAT('abcdef', 'ghijkl'), name FROM test.rwp_where")


STATE_DB = "test_rwp_state"


@pytest.fixture(scope="module")
def state_db(ev, topo):
    c = ev.connect()
    with c.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS " + STATE_DB)
    topo.sync()
    yield STATE_DB
    with c.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS " + STATE_DB)
    c.close()


@pytest.mark.parametrize("pxname", ["ev", "rr", "gl"])
def test_session_state_follows_to_replicas(request, conns, direct_conn, state_db, pxname):
    px = request.getfixturevalue(pxname)
    topo = px.topo
    with direct_conn().cursor() as dcur:
        sql = state_script(dcur, state_db)
        want = one(dcur, sql)[:-1]
    c = conns(px)
    with c.cursor() as cur:
        sql = state_script(cur, state_db)
        ids = set()
        for _ in range(10):
            row = one(cur, sql)
            ids.add(row[-1])
            assert row[:-1] == want, px.why("%s answered with session state %r, the master directly "
                                            "%r" % (row[-1], row[:-1], want))
        assert ids <= topo.replica_names, px.why("state reads answered by %r" % ids)
        if pxname == "rr":
            assert ids == topo.replica_names, px.why("round_robin used only %r" % ids)
        c.select_db("test")  # COM_INIT_DB
        assert one(cur, "SELECT DATABASE(), name FROM test.rwp_where")[0] == "test", px.why("COM_INIT_DB not replayed")


def raw_state_transcript(conn, with_change_user):
    """Session state set, then reset by COM_CHANGE_USER or COM_RESET_CONNECTION; the values
    seen after each step (the answering server kept apart)."""
    q = ("SELECT @@character_set_client, @@sql_mode, @@time_zone, @rt_uv, DATABASE(), "
         "CURRENT_USER(), @@autocommit, name FROM test.rwp_where")
    out, ids = [], []

    def look(tag):
        res = conn.query1(q)
        assert res.kind == "rs", (tag, res)
        row = res.values()[0]
        out.append((tag,) + tuple(row[:-1]))
        ids.append((tag, row[-1].decode()))

    for s in ("SET NAMES latin1", "SET sql_mode = 'ANSI_QUOTES'", "SET time_zone = '+03:00'",
              "SET @rt_uv = 'before reset'", "USE " + STATE_DB,
              "CREATE TEMPORARY TABLE rt_reset_tmp (a INT)"):
        res = conn.query1(s)
        assert res.kind == "ok", (s, res)
    look("set")
    if with_change_user:
        res = conn.change_user("monitor", "monitor_pw", db="test")
    else:
        res = conn.reset_connection()
    assert res.kind == "ok", res
    look("after")
    res = conn.query1("SELECT COUNT(*) FROM rt_reset_tmp")
    out.append(("temp table after reset", res.kind, res.code))
    look("again")
    return out, ids


@pytest.mark.parametrize("with_change_user", [True, False], ids=["change_user", "reset_connection"])
def test_change_user_and_reset_connection_reset_state(ev, topo, sandbox, state_db, with_change_user):
    d = mysqlraw.connect(HOST, topo.master.port)
    try:
        want, _ = raw_state_transcript(d, with_change_user)
    finally:
        d.close()
    c = ev.raw()
    try:
        got, ids = raw_state_transcript(c, with_change_user)
    finally:
        c.close()
    for i, (w, g) in enumerate(zip(want, got)):
        assert g == w, ev.why("step %d differs: master directly %r, through rwproxy %r" % (i, w, g))
    assert len(got) == len(want)
    after = [name for tag, name in ids if tag != "set"]
    assert set(after) <= topo.replica_names, ev.why("reads after the reset answered by %r" % ids)


# ======================================================================= balancing

def test_least_connections_spreads_new_connections(ev, topo):
    """200 client connections held open, each reading once: both replicas, never the master."""
    before = counters(topo, "Com_select")
    held, seen = [], {}
    try:
        for _ in range(200):
            c = ev.connect()
            held.append(c)
            with c.cursor() as cur:
                got = who(cur)
            seen[got] = seen.get(got, 0) + 1
    finally:
        for c in held:
            c.close()
    d = deltas(before, counters(topo, "Com_select"))
    assert set(seen) == topo.replica_names, ev.why("reads per server %r" % seen)
    assert sum(d[r.name] for r in topo.replicas) >= 200, ev.why("Com_select deltas %r" % d)
    # the master's counter moves only with monitor checks (generous bound: not a timing check)
    assert d[topo.master.name] < 100, ev.why("Com_select deltas %r" % d)


def test_least_connections_spreads_short_connections(ev, topo):
    """200 connections one after the other (connect, read, close, as a PHP or CGI app does):
    ties between equally loaded replicas must not always go to the same one."""
    seen = {}
    for _ in range(200):
        c = ev.connect()
        try:
            with c.cursor() as cur:
                got = who(cur)
        finally:
            c.close()
        seen[got] = seen.get(got, 0) + 1
    assert set(seen) == topo.replica_names, ev.why(
        "200 short connections read from %r (least_connections ties always broken the same way?)"
        % seen)


def test_least_connections_keeps_a_session_on_its_replica(ev, conns):
    c = conns(ev)
    with c.cursor() as cur:
        ids = [who(cur) for _ in range(30)]
    assert len(set(ids)) == 1 and ids[0] in ev.topo.replica_names, ev.why("one session read from %r" % ids)


def test_round_robin_alternates(rr, conns):
    topo = rr.topo
    c = conns(rr)
    with c.cursor() as cur:
        ids = [who(cur) for _ in range(20)]
    assert set(ids) == topo.replica_names, rr.why("round_robin reads: %r" % ids)
    changes = sum(1 for a, b in zip(ids, ids[1:]) if a != b)
    assert changes == len(ids) - 1, rr.why("round_robin with 2 replicas did not alternate: %r" % ids)


def test_weighted_balance(sandbox, workdir, topo):
    light, heavy = topo.replicas[0], topo.replicas[1]
    px = start_own_proxy(sandbox, workdir, "routing-weighted",
                         "[routing]\nbalance = weighted\nconsistency = eventual\n",
                         server_keys={light.name: {"weight": 1}, heavy.name: {"weight": 3}},
                         topo=topo)
    try:
        px.mark()
        c = px.connect()
        try:
            with c.cursor() as cur:
                ids = [who(cur) for _ in range(200)]
        finally:
            c.close()
        n = {s.name: ids.count(s.name) for s in topo.servers}
        assert n[topo.master.name] == 0, px.why("weighted sent reads to the master: %r" % n)
        assert n[light.name] > 0 and n[heavy.name] > 0, px.why("weighted used one replica: %r" % n)
        assert n[heavy.name] > n[light.name], px.why("weight 3 got fewer reads than weight 1: %r" % n)
    finally:
        stop_own_proxy(px)


def test_max_connections_per_server(sandbox, workdir, topo):
    capped, other = topo.replicas[1], topo.replicas[0]
    px = start_own_proxy(sandbox, workdir, "routing-maxconn",
                         "[routing]\nconsistency = eventual\n",
                         server_keys={capped.name: {"max_connections": 2}}, topo=topo)
    held = []
    try:
        px.mark()
        seen = []
        for _ in range(10):
            c = px.connect()
            held.append(c)
            with c.cursor() as cur:
                try:
                    seen.append(who(cur))
                except pymysql.MySQLError as e:
                    pytest.fail(px.why("read failed with %s capped: %r" % (capped.name, e)))
        # rwproxy's sockets to the capped server that its PROCESSLIST shows as app (not
        # the monitor thread's own connection)
        ours = set(backend_sockets(px.proc.pid, capped.port))
        procs = capped.query("SELECT HOST FROM information_schema.PROCESSLIST WHERE USER = 'app'")
        mine = [h for (h,) in procs if int(h.rsplit(":", 1)[1]) in ours]
        assert len(mine) <= 2, px.why("rwproxy has %d app connections on %s (max_connections = 2): %r"
                                      % (len(mine), capped.name, mine))
        assert all(s in topo.replica_names for s in seen), px.why("answers: %r" % seen)
        if os.environ.get("RWPROXY_TEST_MULTIPLEX") == "off":
            # sessions keep their connections: the capped replica takes at most 2 of them
            assert seen.count(capped.name) <= 2, px.why("answers: %r" % seen)
            assert seen.count(other.name) >= 8, px.why("answers: %r" % seen)
    finally:
        for c in held:
            c.close()
        stop_own_proxy(px)
