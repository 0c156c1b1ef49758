"""
tests/integration/test_admin.py — the admin port (docs/admin.md) from outside, through PyMySQL,
the stock `mysql` client in batch mode and raw protocol packets (tests/integration/mysqlraw.py).

Owns: the column contract of every SHOW command (exact names, in order, through both clients),
SHOW SERVERS / SHOW CONFIG values checked against the sandbox's real state, the login (right
password, wrong password or user -> 1045, a client starting with another auth plugin), what
drivers send at connect (SELECT @@variables, SET, COM_PING, COM_INIT_DB), errors (unknown
command 1064, unknown server 1105, unknown session 1094, unsupported command byte 1047) and
malformed input (bad handshake, oversized packet: that connection only is closed).
State-changing commands (SET SERVER ... MAINTENANCE moving reads away, RELOAD, RESET DIGESTS,
KILL SESSION, FAILOVER refused while the master is up) run against a private rwproxy; the
shared sandbox is never switched over here.
"""
import datetime
import os
import random
import socket
import struct
import subprocess
import time

import pymysql
import pytest

import mysqlraw
from conftest import HOST, pymysql_connect
from test_routing import Topology, install_markers, remove_markers, start_own_proxy, stop_own_proxy

ADMIN_USER, ADMIN_PW = "admin", "admin_pw"

# The public column contract of docs/admin.md.
COLUMNS = {
    "SHOW SERVERS": ["name", "address", "role", "state", "read_only", "lag_s", "readable",
                     "source", "gtid_current_pos", "last_check", "last_check_at", "check_ms",
                     "conns_in_use", "conns_idle", "queries", "errors", "avg_latency_ms",
                     "detail"],
    "SHOW POOLS": ["worker", "server", "in_use", "idle", "opened", "failed", "waiting", "reused",
                   "reset", "released", "expired", "wait_timeouts"],
    "SHOW SESSIONS": ["id", "user", "client", "schema", "state", "backends", "statement",
                      "age_s"],
    "SHOW STATS": ["name", "value"],
    "SHOW DIGESTS": ["digest", "count", "total_ms", "min_ms", "max_ms", "rows", "master",
                     "replica"],
    "SHOW RULES": ["name", "order", "match", "user", "action", "hits"],
    "SHOW EVENTS": ["event", "type", "from", "to", "started_at", "event_ms", "outcome", "step",
                    "step_at", "step_ms", "ok", "result"],
    "SHOW CONFIG": ["section", "key", "value"],
}
STATS_NAMES = ["uptime_s", "connections_accepted", "connections_refused", "connections_current",
               "auth_failed", "queries", "queries_master", "queries_replica", "reads_retried",
               "writes_held", "writes_held_timeout", "sessions_lost", "bytes_in", "bytes_out",
               "backend_connects", "backend_failures", "failovers", "switchovers", "rejoins"]
MYSQL_CLI = "/usr/bin/mysql" if os.path.exists("/usr/bin/mysql") else "mariadb"
RULES = """
[rule.adm_block]
order = 10
match = ^SELECT 'adm-blocked'
block = "blocked by the admin test rule"

[rule.adm_master]
order = 5
match = adm_to_master
route = master
"""


# ================================================================= helpers

def admin(port, password=ADMIN_PW, user=ADMIN_USER, **kw):
    """A PyMySQL connection to an admin port (autocommit: PyMySQL then sends SET AUTOCOMMIT)."""
    return pymysql.connect(host=HOST, port=port, user=user, password=password, autocommit=True,
                           charset="utf8mb4", connect_timeout=10, read_timeout=60, **kw)


def query(port, sql):
    """(column names, rows as lists of str/None) of one admin command through PyMySQL."""
    c = admin(port)
    try:
        with c.cursor() as cur:
            cur.execute(sql)
            cols = [d[0] for d in cur.description] if cur.description else []
            return cols, [list(r) for r in cur.fetchall()]
    finally:
        c.close()


def rows_as_dicts(cols, rows):
    return [dict(zip(cols, r)) for r in rows]


def execute(port, sql):
    """Run an admin command expected to answer OK; returns the info text."""
    c = admin(port)
    try:
        with c.cursor() as cur:
            cur.execute(sql)
            assert cur.description is None, "%s answered a result set" % sql
        return c._result.message.decode("utf-8", "replace") if c._result.message else ""
    finally:
        c.close()


def admin_error(port, sql):
    """(code, message) of an admin command expected to fail."""
    c = admin(port)
    try:
        with c.cursor() as cur:
            with pytest.raises(pymysql.err.MySQLError) as ei:
                cur.execute(sql)
        return ei.value.args[0], ei.value.args[1]
    finally:
        c.close()


def cli(port, sql, password=ADMIN_PW, user=ADMIN_USER, *options):
    """The mysql client in batch mode: CompletedProcess (stdout: tab-separated, header first)."""
    return subprocess.run([MYSQL_CLI, "-h" + HOST, "-P%d" % port, "-u" + user, "-p" + password,
                           "--batch"] + list(options) + ["-e", sql],
                          capture_output=True, text=True, timeout=60)


def cli_columns(port, sql):
    """Column names of a result through the mysql client: with --column-type-info, batch
    mode prints the header line even for an empty result (where it prints nothing without)."""
    r = cli(port, sql, ADMIN_PW, ADMIN_USER, "--column-type-info")
    assert r.returncode == 0, "mysql -e %r failed: %s" % (sql, r.stderr)
    return r.stdout.split("\n")[0].split("\t")


def cli_query(port, sql):
    """(column names, rows) of a command through the mysql client ("NULL" -> None)."""
    r = cli(port, sql)
    assert r.returncode == 0, "mysql -e %r failed: %s" % (sql, r.stderr)
    lines = r.stdout.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        return cli_columns(port, sql), []
    cols = lines[0].split("\t")
    rows = [[None if v == "NULL" else v for v in ln.split("\t")] for ln in lines[1:]]
    return cols, rows


def admin_port(px):
    return px.proc.admin_port


def parse_utc(text):
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc)


def wait_for(fn, timeout=10, what="condition"):
    """Poll fn() until it returns a true value; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(0.05)


# ================================================================= fixtures

@pytest.fixture(scope="module")
def shared_admin(proxy):
    """The admin port of the shared rwproxy."""
    return proxy.proc.admin_port


@pytest.fixture(scope="module")
def adm_topo(sandbox):
    t = Topology(sandbox)
    install_markers(t)
    yield t
    remove_markers(t)


@pytest.fixture(scope="module")
def own(sandbox, workdir, adm_topo):
    """A private rwproxy (consistency = eventual, two query rules) for state-changing commands."""
    px = start_own_proxy(sandbox, workdir, "admin", "[routing]\nconsistency = eventual\n" + RULES,
                         topo=adm_topo)
    yield px
    stop_own_proxy(px)


# ============================================================ column contract

@pytest.mark.parametrize("command", sorted(COLUMNS))
def test_columns_through_pymysql_and_cli(shared_admin, command):
    cols, _ = query(shared_admin, command)
    assert cols == COLUMNS[command]
    cli_cols, _ = cli_query(shared_admin, command.lower() + ";")
    assert cli_cols == COLUMNS[command]


# ============================================================ SHOW SERVERS

def check_server_rows(rows, sandbox):
    """SHOW SERVERS rows against the sandbox: order, address, role, read_only, source."""
    master = sandbox.current_master()
    assert master is not None, sandbox.describe()
    assert [r["name"] for r in rows] == [s.name for s in sandbox.servers]
    for r, s in zip(rows, sandbox.servers):
        assert r["address"] == "127.0.0.1:%d" % s.port
        assert r["state"] == "up", r
        assert r["last_check"] == "ok", r
        checked = parse_utc(r["last_check_at"])
        age = (datetime.datetime.now(datetime.timezone.utc) - checked).total_seconds()
        assert -2 < age < 30, r
        assert int(r["check_ms"]) >= 0
        for k in ("conns_in_use", "conns_idle", "queries", "errors"):
            assert int(r[k]) >= 0, r
        assert r["read_only"] == str(int(s.var("read_only"))), r
        if s is master:
            assert (r["role"], r["source"], r["lag_s"], r["readable"]) == ("master", "", None, "0"), r
        else:
            assert r["role"] == "replica" and r["readable"] == "1", r
            assert r["source"] == "127.0.0.1:%d" % master.port, r
            assert int(r["lag_s"]) >= 0, r


def test_show_servers_matches_the_sandbox(shared_admin, sandbox, proxy_conn):
    with proxy_conn().cursor() as cur:  # some traffic, so the counters are real numbers
        for _ in range(3):
            cur.execute("SELECT 1")
    cols, rows = query(shared_admin, "SHOW SERVERS")
    check_server_rows(rows_as_dicts(cols, rows), sandbox)
    cli_cols, cli_rows = cli_query(shared_admin, "SHOW SERVERS")
    check_server_rows(rows_as_dicts(cli_cols, cli_rows), sandbox)


def test_show_servers_gtid_is_the_servers_own(shared_admin, sandbox):
    """gtid_current_pos of every server equals its own @@gtid_current_pos (the monitor's
    snapshot is at most one check interval old, so wait for it to agree)."""
    sandbox.wait_replicas_caught_up(timeout=30)
    want = {s.name: s.var("gtid_current_pos") for s in sandbox.servers}

    def agree():
        cols, rows = query(shared_admin, "SHOW SERVERS")
        got = {r["name"]: r["gtid_current_pos"] for r in rows_as_dicts(cols, rows)}
        return got if got == want else None
    wait_for(agree, 10, "SHOW SERVERS gtid_current_pos == each server's own: %r" % want)


# ============================================================ other SHOW commands

def test_show_config_masks_secrets(shared_admin, sandbox, proxy):
    cols, rows = query(shared_admin, "SHOW CONFIG")
    cfg = {(r[0], r[1]): r[2] for r in rows}
    assert cfg[("proxy", "listen")] == "127.0.0.1:%d" % proxy.port
    assert cfg[("admin", "listen")] == "127.0.0.1:%d" % shared_admin
    assert cfg[("admin", "user")] == "admin"
    for key in [("admin", "password"), ("monitor", "password"), ("replication", "password"),
                ("user.app", "password")]:
        assert cfg[key] == "********", key
    for s in sandbox.servers:
        assert cfg[("server.%s" % s.name, "port")] == str(s.port)
        assert cfg[("server.%s" % s.name, "host")] == "127.0.0.1"
    text = "\n".join("\t".join(str(v) for v in r) for r in rows)
    for secret in (ADMIN_PW, "app_pw", "repl_pw", "monitor_pw"):
        assert secret not in text
    assert cli_query(shared_admin, "SHOW CONFIG")[1] == rows


def test_show_stats_names(shared_admin):
    for cols, rows in (query(shared_admin, "SHOW STATS"), cli_query(shared_admin, "SHOW STATS")):
        names = [r[0] for r in rows]  # docs/admin.md's names, in order; later ones may follow
        assert [n for n in names if n in STATS_NAMES] == STATS_NAMES, names
        assert all(int(r[1]) >= 0 for r in rows if r[0] in STATS_NAMES), rows


def test_show_sessions_lists_a_client(shared_admin, proxy_conn):
    c = proxy_conn()
    with c.cursor() as cur:
        cur.execute("SELECT 1")
    cols, rows = query(shared_admin, "SHOW SESSIONS")
    mine = [r for r in rows_as_dicts(cols, rows) if r["id"] == str(c.thread_id())]
    assert len(mine) == 1, rows
    assert (mine[0]["user"], mine[0]["schema"]) == ("app", "test")
    assert mine[0]["client"].startswith("127.0.0.1")


def test_show_pools_rows(shared_admin, sandbox):
    cols, rows = query(shared_admin, "SHOW POOLS")
    names = {s.name for s in sandbox.servers}
    for r in rows_as_dicts(cols, rows):
        assert r["server"] in names and int(r["worker"]) >= 0, r
        assert all(int(r[k]) >= 0 for k in ("in_use", "idle", "opened", "failed", "waiting", "reused",
                                             "reset", "released", "expired", "wait_timeouts")), r


def test_show_digests_records_a_statement(shared_admin, proxy_conn):
    with proxy_conn().cursor() as cur:
        cur.execute("SELECT 4242 AS adm_digest_probe")
        cur.execute("SELECT 1 AS adm_digest_rows UNION ALL SELECT 2 UNION ALL SELECT 3")
    cols, rows = query(shared_admin, "SHOW DIGESTS")
    hits = [r for r in rows_as_dicts(cols, rows) if "adm_digest_probe" in r["digest"]]
    assert hits and "4242" not in hits[0]["digest"], rows
    assert int(hits[0]["count"]) >= 1
    three = [r for r in rows_as_dicts(cols, rows) if "adm_digest_rows" in r["digest"]]
    assert three and int(three[0]["rows"]) == 3 * int(three[0]["count"]), three


def test_show_events_rows_are_well_formed(shared_admin):
    cols, rows = query(shared_admin, "SHOW EVENTS")
    for r in rows_as_dicts(cols, rows):
        assert r["type"] in ("failover", "switchover", "rejoin"), r
        assert r["ok"] in (None, "0", "1"), r
        parse_utc(r["started_at"])


# ============================================================ login and driver chatter

def test_wrong_password_or_user_is_1045(shared_admin):
    for user, pw in ((ADMIN_USER, "wrong"), ("nobody", ADMIN_PW), (ADMIN_USER, "")):
        with pytest.raises(pymysql.err.OperationalError) as ei:
            admin(shared_admin, password=pw, user=user)
        assert ei.value.args[0] == 1045, ei.value
    r = cli(shared_admin, "SHOW SERVERS", password="wrong")
    assert r.returncode != 0 and "1045" in r.stderr and "28000" in r.stderr, r.stderr
    query(shared_admin, "SELECT 1")  # the port still serves


def test_client_starting_with_another_plugin_is_switched(shared_admin):
    c = mysqlraw.RawConn(HOST, shared_admin)
    try:
        res = c.login(ADMIN_USER, ADMIN_PW, None, plugin="caching_sha2_password")
        assert res.kind == "ok", res
        assert c.switched_to == "mysql_native_password"
        assert c.query1("SELECT 1").values() == [(b"1",)]
    finally:
        c.close()


@pytest.mark.parametrize("deprecate_eof", [True, False])
def test_result_set_in_both_eof_modes(shared_admin, deprecate_eof):
    c = mysqlraw.connect(HOST, shared_admin, user=ADMIN_USER, password=ADMIN_PW, db=None,
                         deprecate_eof=deprecate_eof)
    try:
        res = c.query1("SHOW CONFIG")
        assert res.kind == "rs"
        assert [col.name.decode() for col in res.columns] == COLUMNS["SHOW CONFIG"]
        assert (b"admin", b"user", b"admin") in res.values()
        assert c.query1("SELECT @@nonexistent_var").values() == [(None,)]
    finally:
        c.close()


def test_what_drivers_send_at_connect(shared_admin):
    c = admin(shared_admin)
    try:
        with c.cursor() as cur:
            cur.execute("select @@version_comment limit 1")
            assert cur.fetchall() == (("rwproxy admin port",),)
            cur.execute("SELECT  @@max_allowed_packet , @@system_time_zone, @@time_zone, "
                        "@@auto_increment_increment")
            assert [d[0] for d in cur.description] == ["@@max_allowed_packet",
                                                       "@@system_time_zone", "@@time_zone",
                                                       "@@auto_increment_increment"]
            assert cur.fetchall() == (("1048576", "UTC", "SYSTEM", "1"),)
            cur.execute("/* mysql-connector-j */ SELECT @@session.auto_increment_increment AS "
                        "auto_increment_increment, @@character_set_client AS "
                        "character_set_client, @@no_such_thing AS x")
            assert [d[0] for d in cur.description] == ["auto_increment_increment",
                                                       "character_set_client", "x"]
            assert cur.fetchall() == (("1", "utf8mb4", None),)
            cur.execute("SELECT 1")
            assert cur.fetchall() == (("1",),)
            cur.execute("select @@version_comment limit 0")
            assert cur.fetchall() == ()
            for stmt in ("SET NAMES utf8mb4", "SET autocommit=1",
                         "SET character_set_results = NULL, sql_mode = 'STRICT_TRANS_TABLES'"):
                cur.execute(stmt)
                assert cur.description is None
        c.ping(reconnect=False)
        c.select_db("anything")
    finally:
        c.close()
    r = cli(shared_admin, "select @@version_comment limit 1")
    assert r.returncode == 0 and r.stdout.split("\n")[1] == "rwproxy admin port", r


def test_command_errors_keep_the_connection(shared_admin):
    c = admin(shared_admin)
    try:
        with c.cursor() as cur:
            cases = [("SHOW NOTHING", 1064, "SHOW SERVERS"), ("", 1065, "empty"),
                     ("SET SERVER nosuch MAINTENANCE", 1105, "unknown server 'nosuch'"),
                     ("SET SERVER db1 SIDEWAYS", 1064, "MAINTENANCE | ONLINE"),
                     ("SWITCHOVER TO nosuch", 1105, "unknown server 'nosuch'"),
                     ("SWITCHOVER db2", 1064, "SWITCHOVER [TO name]"),
                     ("KILL SESSION abc", 1064, "not a session id"),
                     ("SELECT * FROM mysql.user", 1064, "@@variables")]
            for sql, code, text in cases:
                with pytest.raises(pymysql.err.MySQLError) as ei:
                    cur.execute(sql)
                assert ei.value.args[0] == code and text in ei.value.args[1], (sql, ei.value)
            cur.execute("  show   servers ; ")
            assert len(cur.fetchall()) == 3
    finally:
        c.close()
    r = cli(shared_admin, "SHOW NOTHING")
    assert r.returncode != 0 and "1064" in r.stderr and "42000" in r.stderr, r.stderr
    r = cli(shared_admin, "SWITCHOVER TO nosuch")
    assert r.returncode != 0 and "1105" in r.stderr and "nosuch" in r.stderr, r.stderr


def test_unsupported_command_byte_is_1047(shared_admin):
    c = mysqlraw.connect(HOST, shared_admin, user=ADMIN_USER, password=ADMIN_PW, db=None)
    try:
        c.send_command(0x16, b"SELECT 1")  # COM_STMT_PREPARE
        res = c.read_one_result()
        assert (res.kind, res.code, res.state) == ("err", 1047, "08S01"), res
        assert c.query1("SELECT 1").values() == [(b"1",)]
    finally:
        c.close()


# ============================================================ malformed input

def raw_socket(port):
    s = socket.create_connection((HOST, port), timeout=10)
    greeting = s.recv(65536)
    assert greeting[4] == 10, greeting
    return s


def read_until_closed(s):
    got = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return got
        if not chunk:
            return got
        got += chunk


def test_malformed_packets_close_only_that_connection(shared_admin):
    s = raw_socket(shared_admin)
    s.sendall(struct.pack("<I", 5)[:3] + b"\x01" + b"\x00\x01\x02\x03\x04")  # truncated login
    got = read_until_closed(s)
    assert got[4] == 0xFF and struct.unpack("<H", got[5:7])[0] == 1043, got
    s.close()

    c = mysqlraw.connect(HOST, shared_admin, user=ADMIN_USER, password=ADMIN_PW, db=None)
    c.sock.sendall((2 * 1024 * 1024).to_bytes(3, "little") + b"\x00" + b"\x03SHOW")
    got = c.wait_closed()
    assert got[4] == 0xFF and struct.unpack("<H", got[5:7])[0] == 1153, got
    c.close()

    s = raw_socket(shared_admin)
    s.sendall(b"\xff\xff\xff\x01" + b"x" * 1000)  # a login packet claiming 16 MiB
    got = read_until_closed(s)
    assert got[4] == 0xFF and struct.unpack("<H", got[5:7])[0] == 1153, got
    s.close()
    assert query(shared_admin, "SELECT 1")[1] == [["1"]]


def test_garbage_commands_get_answers(shared_admin):
    """Random and hostile command texts: every one gets an answer, the connection survives."""
    rnd = random.Random(5)
    texts = [b"SELECT '", b"SELECT /* unterminated", b"SHOW SERVERS\x00; RELOAD", b"SET",
             b"SELECT " + b",".join([b"1"] * 65), b"SELECT @@", b"SELECT ((((", b"KILL SESSION",
             b"KILL SESSION 99999999999999999999999", b"-- only a comment", b";;;", b"\xff\xfe",
             b"SELECT 1 LIMIT", b"SELECT 'a' AS", b"SELECT 1 AS ``", b"x" * (1024 * 1024)]
    texts += [bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200))) for _ in range(150)]
    c = mysqlraw.connect(HOST, shared_admin, user=ADMIN_USER, password=ADMIN_PW, db=None)
    try:
        for t in texts:
            res = c.query(t)
            assert len(res) == 1 and res[0].kind in ("ok", "err", "rs"), (t[:40], res)
        assert c.query1("SELECT 1").values() == [(b"1",)]
    finally:
        c.close()


# ============================================================ private proxy: actions

def test_show_rules_lists_the_configured_rules(own):
    cols, rows = query(admin_port(own), "SHOW RULES")
    got = rows_as_dicts(cols, rows)
    assert [(r["name"], r["order"], r["user"], r["action"]) for r in got] == [
        ("adm_master", "5", "", "route master"), ("adm_block", "10", "", "block")]
    assert got[1]["match"] == "^SELECT 'adm-blocked'"
    assert all(int(r["hits"]) >= 0 for r in got)
    assert cli_query(admin_port(own), "SHOW RULES")[1] == rows


def test_show_rules_counts_hits(own):
    c = own.connect()
    try:
        with c.cursor() as cur:
            for _ in range(3):
                with pytest.raises(pymysql.err.MySQLError):
                    cur.execute("SELECT 'adm-blocked'")
    finally:
        c.close()
    cols, rows = query(admin_port(own), "SHOW RULES")
    hits = {r["name"]: int(r["hits"]) for r in rows_as_dicts(cols, rows)}
    assert hits["adm_block"] >= 3, hits


def server_row(px, name):
    cols, rows = query(admin_port(px), "SHOW SERVERS")
    return [r for r in rows_as_dicts(cols, rows) if r["name"] == name][0]


def reads_from(px, n):
    """Which servers answered n autocommit reads, each on a new connection."""
    seen = []
    for _ in range(n):
        c = px.connect()
        try:
            with c.cursor() as cur:
                cur.execute("SELECT name FROM rwp_where")
                seen.append(cur.fetchone()[0])
        finally:
            c.close()
    return seen


def test_maintenance_moves_reads_away(own, adm_topo):
    port = admin_port(own)
    target = adm_topo.replicas[0].name
    other = adm_topo.replicas[1].name
    assert set(reads_from(own, 6)) <= adm_topo.replica_names
    info = execute(port, "SET SERVER %s MAINTENANCE" % target)
    assert "maintenance" in info, info
    row = server_row(own, target)
    assert (row["state"], row["readable"]) == ("maintenance", "0"), row
    wait_for(lambda: target not in reads_from(own, 3), 5, "reads leave %s" % target)
    seen = reads_from(own, 12)
    assert target not in seen and other in seen, seen
    cli_cols, cli_rows = cli_query(port, "SHOW SERVERS")
    assert [r["state"] for r in rows_as_dicts(cli_cols, cli_rows) if r["name"] == target] == [
        "maintenance"]
    r = cli(port, "SET SERVER %s ONLINE" % target)
    assert r.returncode == 0, r.stderr
    row = wait_for(lambda: (lambda x: x if x["state"] == "up" else None)(server_row(own, target)),
                   10, "%s back up" % target)
    assert row["readable"] == "1", row


def test_failover_refused_while_the_master_is_up(own, adm_topo):
    code, msg = admin_error(admin_port(own), "FAILOVER")
    assert code == 1105 and msg, msg
    assert server_row(own, adm_topo.master.name)["role"] == "master"
    r = cli(admin_port(own), "FAILOVER")
    assert r.returncode != 0 and "1105" in r.stderr, r.stderr


def test_kill_session(own):
    c = own.connect()
    port = admin_port(own)
    try:
        info = execute(port, "KILL SESSION %d" % c.thread_id())
        assert str(c.thread_id()) in info
        with pytest.raises(pymysql.err.MySQLError) as ei:
            with c.cursor() as cur:
                cur.execute("SELECT 1")
        assert ei.value.args[0] in (1927, 2013, 2006), ei.value
    finally:
        c.close()
    code, _ = admin_error(port, "KILL SESSION 987654321")
    assert code == 1094
    r = cli(port, "KILL SESSION 987654322")
    assert r.returncode != 0 and "1094" in r.stderr, r.stderr


def test_reset_digests(own):
    c = own.connect()
    try:
        with c.cursor() as cur:
            cur.execute("SELECT 77 AS adm_reset_probe")
    finally:
        c.close()
    port = admin_port(own)
    assert any("adm_reset_probe" in r[0] for r in query(port, "SHOW DIGESTS")[1])
    execute(port, "RESET DIGESTS")
    assert cli(port, "RESET DIGESTS").returncode == 0
    assert not any("adm_reset_probe" in r[0] for r in query(port, "SHOW DIGESTS")[1])


def test_reload_valid_and_invalid(own):
    port = admin_port(own)
    path = own.proc.config_path
    with open(path) as f:
        original = f.read()
    try:
        with open(path, "w") as f:
            f.write(original + "\n[limits]\nclient_idle_timeout_s = 4321\n")
        info = execute(port, "RELOAD")
        assert "reloaded" in info, info
        cfg = {(r[0], r[1]): r[2] for r in query(port, "SHOW CONFIG")[1]}
        assert cfg[("limits", "client_idle_timeout_s")] == "4321"
        with open(path, "w") as f:
            f.write(original + "\n[limits]\nclient_idle_timeout_s = banana\n")
        code, msg = admin_error(port, "RELOAD")
        assert code == 1105 and "client_idle_timeout_s" in msg, msg
        r = cli(port, "RELOAD")
        assert r.returncode != 0 and "1105" in r.stderr, r.stderr
        cfg = {(r[0], r[1]): r[2] for r in query(port, "SHOW CONFIG")[1]}
        assert cfg[("limits", "client_idle_timeout_s")] == "4321"
    finally:
        with open(path, "w") as f:
            f.write(original)
        execute(port, "RELOAD")


# ================================================================= Connector/J

JDBC_JAR = "/usr/share/java/mariadb-java-client.jar"


def test_connector_j_reads_every_show_command(shared_admin, sandbox, tmp_path):
    """MariaDB Connector/J 2.7 logs into the admin port and reads each SHOW command with the
    documented columns; SHOW SERVERS names every sandbox server."""
    import shutil
    if not shutil.which("javac") or not shutil.which("java"):
        pytest.skip("javac/java not installed")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "java", "AdminJdbc.java")
    p = subprocess.run(["javac", "-encoding", "UTF-8", "-cp", JDBC_JAR, "-d", str(tmp_path), src],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    url = "jdbc:mariadb://%s:%d/" % (HOST, shared_admin)
    p = subprocess.run(["java", "-Xmx128m", "-cp", str(tmp_path) + os.pathsep + JDBC_JAR,
                        "AdminJdbc", url, ADMIN_USER, ADMIN_PW] + list(COLUMNS),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    seen = {}
    servers = []
    for line in p.stdout.splitlines():
        parts = line.split("\t")
        if parts[0] == "SERVER":
            servers.append(parts[1])
        elif len(parts) == 3:
            seen[parts[0]] = parts[1].split(",")
    for cmd, cols in COLUMNS.items():
        assert seen.get(cmd) == cols, (cmd, seen.get(cmd), p.stdout)
    assert servers == [s.name for s in sandbox.servers], p.stdout
