"""
tests/integration/test_commands.py — every command rwproxy relays, sent with the raw client
(and PyMySQL where it has the command), compared with the same exchange against the master:
COM_PING, COM_INIT_DB, COM_QUIT, COM_FIELD_LIST, COM_STATISTICS, COM_SET_OPTION,
COM_RESET_CONNECTION, COM_CHANGE_USER, COM_STMT_* (prepare, execute, cursor fetch, send long
data, reset, close), LOAD DATA LOCAL INFILE, unknown command bytes, multi-statements and
multi-result CALL with and without CLIENT_DEPRECATE_EOF, and packets over 16 MiB.
"""
import hashlib
import os
import time

import pymysql
import pytest

import mysqlraw
from mysqlraw import LongData
from conftest import HOST

EOF_MODES = pytest.mark.parametrize("deprecate_eof", [True, False], ids=["deprecate_eof", "classic_eof"])


def raw(port, **kw):
    return mysqlraw.connect(HOST, port, **kw)


def both(endpoints, scenario):
    """scenario(port) against the master, then through rwproxy."""
    direct = scenario(endpoints["direct"])
    endpoints["sync"]()  # the direct run wrote behind rwproxy's back: let the replicas catch up
    return direct, scenario(endpoints["proxy"])


def assert_same(direct, through):
    for i, (d, p) in enumerate(zip(direct, through)):
        assert p == d, "step %d differs:\n direct=%r\n proxy =%r" % (i, d, p)
    assert len(through) == len(direct)


def summaries(results):
    return [r.summary() for r in results]


def setup_sql(endpoints, *stmts):
    c = raw(endpoints["direct"])
    try:
        for s in stmts:
            res = c.query(s)
            assert res[-1].kind != "err", (s, res)
    finally:
        c.close()
    endpoints["sync"]()


# ------------------------------------------------------------------ simple commands

@EOF_MODES
def test_ping(endpoints, proxy_conn, deprecate_eof):
    def scenario(port):
        with raw(port, deprecate_eof=deprecate_eof) as c:
            return [c.ping().summary() for _ in range(3)] + [c.query1("SELECT 1").values()]
    direct, through = both(endpoints, scenario)
    assert_same(direct, through)
    assert through[0][0] == "ok"
    conn = proxy_conn()
    conn.ping(reconnect=False)
    conn.ping(reconnect=False)


def test_init_db(endpoints, proxy_conn):
    setup_sql(endpoints, "CREATE DATABASE IF NOT EXISTS test_cmd_other",
              "CREATE TABLE IF NOT EXISTS test_cmd_other.marker (x INT)",
              "DELETE FROM test_cmd_other.marker", "INSERT INTO test_cmd_other.marker VALUES (7)")

    def scenario(port):
        with raw(port) as c:
            out = [c.init_db("test").summary(),
                   c.query1("SELECT DATABASE()").values(),
                   c.init_db("test_no_such_db_rwp").summary(),
                   c.query1("SELECT DATABASE()").values(),
                   c.init_db("test_cmd_other").summary(),
                   c.query1("SELECT DATABASE(), (SELECT x FROM marker)").values(),
                   c.init_db("mysql").summary(),  # no privilege: 1044
                   c.query1("SELECT DATABASE()").values()]
        return out
    direct, through = both(endpoints, scenario)
    assert_same(direct, through)
    assert through[2][:3] == ("err", 1049, "42000")
    assert through[5] == [(b"test_cmd_other", b"7")]
    assert through[6][0] == "err"

    conn = proxy_conn()
    conn.select_db("test_cmd_other")
    with conn.cursor() as cur:
        cur.execute("SELECT DATABASE()")
        assert cur.fetchall() == (("test_cmd_other",),)
    with pytest.raises(pymysql.err.OperationalError) as e:
        conn.select_db("test_no_such_db_rwp")
    assert e.value.args[0] == 1049


def test_quit(endpoints, proxy_conn):
    def scenario(port):
        c = raw(port)
        c.query1("SELECT 1")
        rest = c.quit()
        c.close()
        return rest, c.closed
    direct, through = both(endpoints, scenario)
    assert through == direct == (b"", True)
    proxy_conn().close()  # PyMySQL sends COM_QUIT too


def test_field_list(endpoints):
    setup_sql(endpoints, "DROP TABLE IF EXISTS fl_t",
              "CREATE TABLE fl_t (id INT PRIMARY KEY, name VARCHAR(20) DEFAULT 'x', "
              "nick VARCHAR(20), b BLOB, d DECIMAL(6,2) DEFAULT 1.5)")

    def scenario(port):
        out = []
        for eof in (True, False):
            with raw(port, deprecate_eof=eof) as c:
                out.append(c.field_list("fl_t").summary())
                out.append(c.field_list("fl_t", "n%").summary())
                out.append(c.field_list("no_such_table_fl").summary())
                out.append(c.query1("SELECT 'still'").values())
        return out
    direct, through = both(endpoints, scenario)
    assert_same(direct, through)
    assert len(through[0][1]) == 5 and len(through[1][1]) == 2
    assert through[2][:2] == ("err", 1146)


def test_statistics(endpoints):
    def scenario(port):
        with raw(port) as c:
            s = c.statistics()
            return s.text.split(":")[0], c.query1("SELECT 2").values()
    direct, through = both(endpoints, scenario)
    assert through == direct
    assert through[0] == "Uptime"


@EOF_MODES
def test_set_option_multi_statements(endpoints, deprecate_eof):
    def scenario(port):
        with raw(port, deprecate_eof=deprecate_eof) as c:
            out = [summaries(c.query("SELECT 1; SELECT 2"))]
            out.append(c.set_option(mysqlraw.MYSQL_OPTION_MULTI_STATEMENTS_OFF).summary())
            out.append(summaries(c.query("SELECT 1; SELECT 2")))
            out.append(summaries(c.query("SELECT 3")))
            out.append(c.set_option(mysqlraw.MYSQL_OPTION_MULTI_STATEMENTS_ON).summary())
            out.append(summaries(c.query("SELECT 1; SELECT 2")))
            out.append(c.set_option(7).summary())  # unknown option: ERR
            out.append(c.ping().summary())
        return out
    direct, through = both(endpoints, scenario)
    assert_same(direct, through)
    assert len(through[0]) == 2 and through[2][-1][:2] == ("err", 1064) and len(through[5]) == 2


@EOF_MODES
def test_reset_connection(endpoints, deprecate_eof):
    def scenario(port):
        with raw(port, deprecate_eof=deprecate_eof) as c:
            out = [summaries(c.query("SET @v = 42, @@session.sql_mode = 'ANSI_QUOTES'")),
                   summaries(c.query("CREATE TEMPORARY TABLE rc_tmp (x INT)")),
                   c.query1("SELECT @v, @@session.sql_mode").values(),
                   c.reset_connection().summary(),
                   c.query1("SELECT @v, @@session.sql_mode = @@global.sql_mode").values(),
                   summaries(c.query("SELECT * FROM rc_tmp")),
                   c.query1("SELECT DATABASE()").values()]
        return out
    direct, through = both(endpoints, scenario)
    assert_same(direct, through)
    assert through[2] == [(b"42", b"ANSI_QUOTES")]
    assert through[3][0] == "ok"
    assert through[4] == [(None, b"1")]
    assert through[5][0][:2] == ("err", 1146)


def test_change_user(endpoints):
    def scenario(port):
        c = raw(port)
        try:
            out = [summaries(c.query("SET @v = 'before'")),
                   c.change_user("app", "app_pw", "test").summary(),
                   c.query1("SELECT @v, CURRENT_USER(), DATABASE()").values(),
                   c.change_user("app", "app_pw", "").summary(),
                   c.query1("SELECT DATABASE()").values(),
                   c.change_user("app", "wrong_pw", "test").summary()]
        finally:
            c.close()
        with raw(port) as c2:
            out.append(c2.change_user("no_such_user_rwp", "x", "test").summary())
        return out
    direct, through = both(endpoints, scenario)
    assert through[:5] == direct[:5]
    assert through[1][0] == "ok"
    assert through[2] == [(None, b"app@%", b"test")]
    assert through[4] == [(None,)]
    for step in (5, 6):
        assert through[step][:3] == ("err", 1045, "28000"), through[step]
        assert direct[step][:3] == ("err", 1045, "28000"), direct[step]


def test_change_user_then_keeps_working(proxy):
    """After a successful change user the connection serves queries and statements again."""
    with raw(proxy.port) as c:
        st = c.prepare("SELECT ? + 1")
        assert st.kind == "prepare"
        assert c.change_user("app", "app_pw", "test").kind == "ok"
        # statements are gone after change user
        res = c.execute(st.stmt_id, [1])
        assert res[0].kind == "err" and res[0].code == 1243
        st2 = c.prepare("SELECT CONCAT('v', ?)")
        assert c.execute(st2.stmt_id, [41])[0].values() == [(b"v41",)]
        assert c.query1("SELECT CURRENT_USER()").values() == [(b"app@%",)]


# ------------------------------------------------------------------ prepared statements

@EOF_MODES
def test_stmt_prepare_execute_close_reset_long_data(endpoints, deprecate_eof):
    setup_sql(endpoints, "DROP TABLE IF EXISTS ps_ld",
              "CREATE TABLE ps_ld (id INT PRIMARY KEY, t TEXT, b LONGBLOB)")

    def scenario(port):
        out = []
        with raw(port, deprecate_eof=deprecate_eof) as c:
            c.query("DELETE FROM ps_ld")
            ins = c.prepare("INSERT INTO ps_ld VALUES (?, ?, ?)")
            out.append(ins.summary())
            # long data: two chunks for t, three for b (one chunk of 1 MiB)
            c.send_long_data(ins.stmt_id, 1, "hello ")
            c.send_long_data(ins.stmt_id, 1, "world 😀")
            c.send_long_data(ins.stmt_id, 2, bytes(range(256)))
            c.send_long_data(ins.stmt_id, 2, b"\x00" * (1 << 20))
            c.send_long_data(ins.stmt_id, 2, b"end")
            out.append(summaries(c.execute(ins.stmt_id, [1, LongData(), LongData()])))
            # reset discards long data sent but not executed
            c.send_long_data(ins.stmt_id, 1, "discarded")
            out.append(c.stmt_reset(ins.stmt_id).summary())
            out.append(summaries(c.execute(ins.stmt_id, [2, "plain", b"bin\x00"])))
            out.append(summaries(c.execute(ins.stmt_id, [2, "dup", None])))  # duplicate key
            out.append(c.stmt_reset(0x7777).summary())  # unknown statement
            sel = c.prepare("SELECT id, t, LENGTH(b), MD5(b) FROM ps_ld WHERE id > ? ORDER BY id")
            out.append(sel.summary())
            res = c.execute(sel.stmt_id, [0])
            out.append(summaries(res))
            out.append(res[0].values())
            # a read-only cursor and COM_STMT_FETCH
            cur = c.prepare("SELECT seq, CONCAT('v', seq) FROM seq_1_to_25")
            res = c.execute(cur.stmt_id, [], flags=mysqlraw.CURSOR_TYPE_READ_ONLY)
            out.append(summaries(res))
            rows = []
            for _ in range(10):
                f = c.fetch(cur.stmt_id, 10, res[0].columns)
                out.append(f.summary() if f.kind != "rs" else ("fetch", len(f.rows), f.status & 0x80))
                if f.kind != "rs":
                    break
                rows += f.values()
                if f.status & mysqlraw.SERVER_STATUS_LAST_ROW_SENT:
                    break
            out.append(rows)
            for st in (ins, sel, cur):
                c.stmt_close(st.stmt_id)
            out.append(summaries(c.execute(sel.stmt_id, [0])))  # closed: ERR 1243
            out.append(c.query1("SELECT 'alive'").values())
        return out

    direct, through = both(endpoints, scenario)
    assert_same(direct, through)
    expect_md5 = hashlib.md5(bytes(range(256)) + b"\x00" * (1 << 20) + b"end").hexdigest().encode()
    rows = through[8]
    assert rows[0] == (1, "hello world 😀".encode(), 256 + (1 << 20) + 3, expect_md5)
    assert rows[1][:3] == (2, b"plain", 4)
    assert through[-3] == [(i, b"v%d" % i) for i in range(1, 26)]
    assert through[-2][0][:2] == ("err", 1243)


# ------------------------------------------------------------------ LOAD DATA LOCAL INFILE

def test_load_data_local_infile(endpoints, direct_conn, proxy_conn, tmp_path):
    path = tmp_path / "rows.tsv"
    with open(path, "w", encoding="utf-8") as f:
        for i in range(1, 10001):
            f.write("%d\tname-%d-%s\t%s\n" % (i, i, "é" * (i % 5), "\\N" if i % 10 == 0 else i * 3))
    expected_sum = 10000 * 10001 // 2

    def scenario(factory):
        c = factory()
        with c.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS ld_t")
            cur.execute("CREATE TABLE ld_t (id INT PRIMARY KEY, name VARCHAR(40), v INT)")
            n = cur.execute("LOAD DATA LOCAL INFILE %s INTO TABLE ld_t CHARACTER SET utf8mb4 "
                            "FIELDS TERMINATED BY '\\t'", (str(path),))
            cur.execute("SELECT COUNT(*), SUM(id), COUNT(v), "
                        "MD5(GROUP_CONCAT(id, name, IFNULL(v, 'null') ORDER BY id SEPARATOR ','))"
                        " FROM ld_t")
            stats = cur.fetchall()
            cur.execute("SELECT 'after'")
            after = cur.fetchall()
        return n, stats, after

    direct = scenario(direct_conn)
    through = scenario(proxy_conn)
    assert through == direct
    assert through[0] == 10000
    assert through[1][0][:3] == (10000, expected_sum, 9000)


@EOF_MODES
def test_load_data_local_infile_raw(endpoints, deprecate_eof):
    """The raw client answers the 0xFB request itself: a file, an empty file, a missing file."""
    setup_sql(endpoints, "DROP TABLE IF EXISTS ld_raw",
              "CREATE TABLE ld_raw (a INT, b VARCHAR(20))")
    data = b"".join(b"%d,row%d\n" % (i, i) for i in range(2000))

    def scenario(port):
        with raw(port, deprecate_eof=deprecate_eof) as c:
            c.infile_data = {b"/tmp/rwp-a.csv": data, b"/tmp/rwp-empty.csv": b""}
            c.query("DELETE FROM ld_raw")  # not recorded: the count depends on the previous run
            out = []
            for name in ("/tmp/rwp-a.csv", "/tmp/rwp-empty.csv"):
                out.append(summaries(c.query("LOAD DATA LOCAL INFILE '%s' INTO TABLE ld_raw "
                                             "FIELDS TERMINATED BY ','" % name)))
            out.append(c.query1("SELECT COUNT(*), SUM(a) FROM ld_raw").values())
        return out
    direct, through = both(endpoints, scenario)
    assert_same(direct, through)
    assert through[-1] == [(b"2000", str(sum(range(2000))).encode())]


# ------------------------------------------------------------------ unknown commands

@pytest.mark.parametrize("cmd", [0x30, 0x7f, 0xee, 0x1d, 0x08])
def test_unknown_or_refused_command(endpoints, proxy, cmd):
    """Commands rwproxy does not relay get an ERR packet; the connection stays usable.

    0x1f is COM_RESET_CONNECTION (a real command), so the unknown bytes here are 0x30, 0x7f,
    0xee; 0x1d (COM_DAEMON) and 0x08 (COM_SHUTDOWN) must never reach a backend."""
    with raw(proxy.port) as c:
        c.send_command(cmd, b"\x00\x01junk")
        res = c.read_one_result()
        assert res.kind == "err", res
        if cmd not in (0x08,):
            assert res.code == 1047, res
        assert c.query1("SELECT 1").values() == [(b"1",)]
        assert c.ping().kind == "ok"
    with raw(endpoints["direct"]) as d:  # the server itself also answers ERR
        d.send_command(0x30 if cmd == 0x08 else cmd, b"\x00\x01junk")
        assert d.read_one_result().kind == "err"


# ------------------------------------------------------------------ multi-statements, CALL

MULTI = ("SELECT 1 AS a; SELECT 'x' AS b, NULL AS c; INSERT INTO ms_t VALUES (1), (2); "
         "UPDATE ms_t SET x = x * 10; SELECT * FROM ms_t ORDER BY x; DO 1")


@EOF_MODES
def test_multi_statements_and_call(endpoints, deprecate_eof):
    setup_sql(endpoints, "DROP TABLE IF EXISTS ms_t", "CREATE TABLE ms_t (x INT)",
              "DROP PROCEDURE IF EXISTS ms_p",
              "CREATE PROCEDURE ms_p(IN k INT) BEGIN SELECT k AS first; "
              "SELECT x, k FROM ms_t ORDER BY x; INSERT INTO ms_t VALUES (k); END",
              "DROP PROCEDURE IF EXISTS ms_empty",
              "CREATE PROCEDURE ms_empty() BEGIN DECLARE v INT DEFAULT 0; SET v = 1; END")

    def scenario(port):
        out = []
        with raw(port, deprecate_eof=deprecate_eof) as c:
            c.query("DELETE FROM ms_t")  # not recorded: the count depends on the previous run
            out.append(summaries(c.query(MULTI)))
            out.append(summaries(c.query("CALL ms_p(5)")))
            out.append(summaries(c.query("CALL ms_p(6); SELECT COUNT(*) FROM ms_t; CALL ms_empty()")))
            out.append(summaries(c.query("SELECT 1; SELECT * FROM no_such_ms; SELECT 3")))
            out.append(summaries(c.query("SELECT 'usable after error'")))
            st = c.prepare("CALL ms_p(?)")
            out.append(st.summary())
            out.append(summaries(c.execute(st.stmt_id, [7])))
            out.append(summaries(c.query("SELECT COUNT(*) FROM ms_t")))
        return out

    direct, through = both(endpoints, scenario)
    assert_same(direct, through)
    multi = through[0]
    assert [r[0] for r in multi] == ["rs", "rs", "ok", "ok", "rs", "ok"]
    call = through[1]
    assert [r[0] for r in call] == ["rs", "rs", "ok"]
    assert [r[0] for r in through[3]] == ["rs", "err"]
    assert [r[0] for r in through[6]] == ["rs", "rs", "ok"]


# ------------------------------------------------------------------ big packets

def test_packet_over_16mib(endpoints, sandbox):
    size = 17 * 1024 * 1024
    value = (b"0123456789abcdefghijklmnopqrstuvwxyz" * (size // 36 + 1))[:size]
    digest = hashlib.md5(value).hexdigest().encode()

    def scenario(port):
        with raw(port, timeout=120) as c:
            c.query("DROP TABLE IF EXISTS big_t")  # not recorded: warns only if it did not exist
            out = [summaries(c.query("CREATE TABLE big_t (id INT PRIMARY KEY, v LONGTEXT)"))]
            out.append(summaries(c.query(b"INSERT INTO big_t VALUES (1, '" + value + b"')")))
            out.append(c.query1("SELECT LENGTH(v), MD5(v) FROM big_t").values())
            res = c.query1("SELECT v FROM big_t WHERE id = 1")  # a 17 MiB row back
            out.append(hashlib.md5(res.values()[0][0]).hexdigest().encode())
            # A command payload of exactly 0xFFFFFF bytes (followed by an empty packet).
            filler = mysqlraw.MAX_PAYLOAD - 1 - len(b"SELECT LENGTH('')")
            q = b"SELECT LENGTH('" + b"y" * filler + b"')"
            assert len(q) + 1 == mysqlraw.MAX_PAYLOAD
            out.append(c.query1(q).values())
            # A row payload of exactly 0xFFFFFF bytes (lenenc prefix 4 bytes + data).
            n = mysqlraw.MAX_PAYLOAD - 4
            res = c.query1("SELECT REPEAT('z', %d)" % n)
            out.append((len(res.rows[0]), res.values()[0][0] == b"z" * n))
            out.append(c.query1("SELECT 'small after big'").values())
        return out

    direct, through = both(endpoints, scenario)
    assert_same(direct, through)
    assert through[2] == [(str(size).encode(), digest)]
    assert through[3] == digest
    assert through[5] == (mysqlraw.MAX_PAYLOAD, True)
    assert sandbox.master.query("SELECT LENGTH(v) FROM test.big_t") == [(size,)]


# ------------------------------------------------------------------ statement leaks

def prepared_count(server):
    return int(server.query("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'")[0][1])


def test_closed_statements_do_not_leak_on_backend(proxy, sandbox):
    base = prepared_count(sandbox.master)
    with raw(proxy.port) as c:
        for i in range(300):
            st = c.prepare("SELECT ? + %d" % i)
            assert st.kind == "prepare", st
            c.stmt_close(st.stmt_id)
        assert c.ping().kind == "ok"  # the closes were processed before this answer
        assert prepared_count(sandbox.master) == base, "COM_STMT_CLOSE did not reach the backend"
        for i in range(50):
            assert c.prepare("SELECT %d" % i).kind == "prepare"
        assert prepared_count(sandbox.master) == base + 50
    for _ in range(600):  # hang guard: the backend session ends with the client's
        if prepared_count(sandbox.master) == base:
            break
        time.sleep(0.05)
    assert prepared_count(sandbox.master) == base, "statements of a closed client stay prepared"
