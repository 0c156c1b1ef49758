"""
tests/integration/test_prepared_routing.py — server-side prepared statements under read/write
splitting (shared/design/routing.md: "classified at prepare time; COM_STMT_EXECUTE goes where
its SQL would go; SEND_LONG_DATA, RESET, FETCH go to the server that holds that execution";
session state: "close them on the backend when the client closes them").

Owns: its private rwproxy (consistency = eventual, and one with the default global) and the
table rt_ps. Uses the raw protocol client tests/integration/mysqlraw.py. Which server ran an
execution is read from the local marker table rwp_where (see test_routing.py); a prepared
write that reached a replica would fail with 1290 (app has no READ_ONLY ADMIN).
"""
import hashlib
import struct

import pytest

import mysqlraw
from mysqlraw import LongData
from test_routing import (Topology, install_markers, remove_markers, start_own_proxy,
                          status, stop_own_proxy)


@pytest.fixture(scope="module")
def topo(sandbox):
    t = Topology(sandbox)
    install_markers(t)
    yield t
    remove_markers(t)


@pytest.fixture(scope="module")
def px(sandbox, workdir, topo):
    p = start_own_proxy(sandbox, workdir, "prepared-eventual", "[routing]\nconsistency = eventual\n",
                        topo=topo)
    yield p
    stop_own_proxy(p)


@pytest.fixture(scope="module")
def gpx(sandbox, workdir, topo):
    p = start_own_proxy(sandbox, workdir, "prepared-global", "", topo=topo)
    yield p
    stop_own_proxy(p)


@pytest.fixture(autouse=True)
def _fresh(topo, request):
    topo.master.execute(["DROP TABLE IF EXISTS test.rt_ps",
                         "CREATE TABLE test.rt_ps (id INT AUTO_INCREMENT PRIMARY KEY, v INT, "
                         "b LONGBLOB)"])
    topo.sync()
    for name in ("px", "gpx"):
        if name in request.fixturenames:
            request.getfixturevalue(name).mark()
    yield
    topo.master.execute("DROP TABLE IF EXISTS test.rt_ps")


def ok(p, res, what):
    """res is a single OK (or a list holding one)."""
    r = res[0] if isinstance(res, list) else res
    assert r.kind == "ok", p.why("%s answered %r" % (what, r))
    return r


def rows_of(p, res, what):
    assert len(res) == 1 and res[0].kind == "rs", p.why("%s answered %r" % (what, res))
    return res[0].values()


def prepared(p, c, sql):
    st = c.prepare(sql)
    assert st.kind == "prepare", p.why("PREPARE %r answered %r" % (sql, st))
    return st


def test_prepared_select_on_replica_insert_on_master(px, topo):
    with px.raw() as c:
        sel = prepared(px, c, "SELECT name FROM rwp_where WHERE 1 = ?")
        ins = prepared(px, c, "INSERT INTO rt_ps (v) VALUES (?)")
        lock = prepared(px, c, "SELECT name FROM rwp_where FOR UPDATE")
        for i in range(5):
            got = rows_of(px, c.execute(sel.stmt_id, [1]), "EXECUTE select")
            assert got[0][0].decode() in topo.replica_names, px.why("prepared SELECT ran on %r" % got)
            ok(px, c.execute(ins.stmt_id, [i]), "EXECUTE insert (1290: it ran on a replica)")
            got = rows_of(px, c.execute(lock.stmt_id, []), "EXECUTE select for update")
            assert got == [(topo.master.name.encode(),)], px.why("prepared FOR UPDATE ran on %r" % got)
        # inside a transaction the prepared SELECT runs on the master
        ok(px, c.query1("BEGIN"), "BEGIN")
        got = rows_of(px, c.execute(sel.stmt_id, [1]), "EXECUTE select in trx")
        assert got == [(topo.master.name.encode(),)], px.why("prepared SELECT in a trx ran on %r" % got)
        ok(px, c.query1("COMMIT"), "COMMIT")
        topo.sync()
        got = rows_of(px, c.execute(sel.stmt_id, [1]), "EXECUTE select after trx")
        assert got[0][0].decode() in topo.replica_names, px.why("after COMMIT the SELECT ran on %r" % got)
        for st in (sel, ins, lock):
            c.stmt_close(st.stmt_id)
        assert c.ping().kind == "ok"
    assert topo.master.query("SELECT COUNT(*) FROM test.rt_ps")[0][0] == 5


@pytest.mark.parametrize("kind", ["select", "insert"])
def test_pipelined_prepare_and_execute_last_prepared(px, topo, kind):
    """PREPARE and EXECUTE(stmt id 0xFFFFFFFF) in one write, as Connector/J pipelines them."""
    sql = {"select": "SELECT name FROM rwp_where WHERE ? > 0",
           "insert": "INSERT INTO rt_ps (v) VALUES (?)"}[kind]
    with px.raw() as c:
        for round_ in range(3):
            data = c.command_bytes(mysqlraw.COM_STMT_PREPARE, sql)
            data += c.command_bytes(mysqlraw.COM_STMT_EXECUTE,
                                    mysqlraw.execute_payload(mysqlraw.STMT_ID_LAST_PREPARED, [7]))
            c.sock.sendall(data)
            c.expect_next_answer()
            st = c.read_prepare()
            assert st.kind == "prepare", px.why("pipelined PREPARE answered %r" % st)
            c.expect_next_answer()
            res = c.read_response(binary=True)
            if kind == "select":
                got = rows_of(px, res, "pipelined EXECUTE(-1)")
                assert got[0][0].decode() in topo.replica_names, px.why("EXECUTE(-1) ran on %r" % got)
            else:
                ok(px, res, "pipelined EXECUTE(-1) insert")
            c.stmt_close(st.stmt_id)
        assert c.ping().kind == "ok"
    if kind == "insert":
        assert topo.master.query("SELECT COUNT(*) FROM test.rt_ps WHERE v = 7")[0][0] == 3


def test_send_long_data_follows_the_execution(px, topo):
    chunks = [b"a" * 70000, bytes(range(256)) * 100, b"end"]
    blob = b"".join(chunks)
    with px.raw() as c:
        # a read: the long data must reach the replica that executes it
        sel = prepared(px, c, "SELECT LENGTH(?), name FROM rwp_where")
        for _ in range(3):
            for ch in chunks:
                c.send_long_data(sel.stmt_id, 0, ch)
            got = rows_of(px, c.execute(sel.stmt_id, [LongData()]), "EXECUTE with long data (read)")
            # any server may run it (rwproxy may keep long data on the master), with every chunk
            assert got[0][0] == len(blob), px.why("long data lost on the way to %r" % got)
        # a write: on the master, with every chunk
        ins = prepared(px, c, "INSERT INTO rt_ps (v, b) VALUES (?, ?)")
        for ch in chunks:
            c.send_long_data(ins.stmt_id, 1, ch)
        ok(px, c.execute(ins.stmt_id, [1, LongData()]), "EXECUTE insert with long data")
        # COM_STMT_RESET discards long data sent but not executed
        c.send_long_data(ins.stmt_id, 1, b"discarded")
        ok(px, c.stmt_reset(ins.stmt_id), "COM_STMT_RESET")
        ok(px, c.execute(ins.stmt_id, [2, b"plain"]), "EXECUTE insert after reset")
        c.stmt_close(sel.stmt_id)
        c.stmt_close(ins.stmt_id)
    got = topo.master.query("SELECT v, LENGTH(b), MD5(b) FROM test.rt_ps ORDER BY v")
    assert got == [(1, len(blob), hashlib.md5(blob).hexdigest()), (2, 5, hashlib.md5(b"plain").hexdigest())], got


def test_cursor_fetch_follows_the_execution(px, topo):
    with px.raw() as c:
        cur = prepared(px, c, "SELECT s.seq, w.name FROM seq_1_to_50 s JOIN rwp_where w ORDER BY s.seq")
        for _ in range(2):
            res = c.execute(cur.stmt_id, [], flags=mysqlraw.CURSOR_TYPE_READ_ONLY)
            assert len(res) == 1 and res[0].kind == "rs", px.why("EXECUTE with cursor answered %r" % res)
            assert res[0].status & mysqlraw.SERVER_STATUS_CURSOR_EXISTS, px.why("no cursor opened")
            rows = []
            for _ in range(20):
                f = c.fetch(cur.stmt_id, 7, res[0].columns)
                assert f.kind == "rs", px.why("COM_STMT_FETCH answered %r" % f)
                rows += f.values()
                if f.status & mysqlraw.SERVER_STATUS_LAST_ROW_SENT:
                    break
            assert [r[0] for r in rows] == list(range(1, 51)), px.why("fetched %r" % rows[:5])
            names = {r[1].decode() for r in rows}
            assert len(names) == 1 and names <= topo.replica_names, px.why("cursor rows from %r" % names)
            ok(px, c.stmt_reset(cur.stmt_id), "COM_STMT_RESET of the cursor")
        c.stmt_close(cur.stmt_id)
        assert c.ping().kind == "ok"


def prepared_counts(topo):
    return {s.name: status(s, "Prepared_stmt_count") for s in topo.servers}


@pytest.mark.parametrize("pxname", ["px", "gpx"], ids=["eventual", "global"])
def test_prepare_close_cycles_do_not_leak(request, topo, pxname):
    px = request.getfixturevalue(pxname)
    px.mark()
    before = prepared_counts(topo)
    with px.raw() as c:
        # sanity: statements left open are counted on the backends that executed them
        open_ = [prepared(px, c, "SELECT name, ? FROM rwp_where") for _ in range(10)]
        for st in open_:
            rows_of(px, c.execute(st.stmt_id, [1]), "EXECUTE")
        during = prepared_counts(topo)
        grew = sum(during.values()) - sum(before.values())
        assert grew >= 10, px.why("10 open statements not visible in Prepared_stmt_count: "
                                  "before %r, during %r" % (before, during))
        for st in open_:
            c.stmt_close(st.stmt_id)
        for i in range(500):
            sel = prepared(px, c, "SELECT name FROM rwp_where WHERE ? >= 0")
            rows_of(px, c.execute(sel.stmt_id, [i]), "EXECUTE select")
            c.stmt_close(sel.stmt_id)
            ins = prepared(px, c, "INSERT INTO rt_ps (v) VALUES (?)")
            ok(px, c.execute(ins.stmt_id, [i]), "EXECUTE insert")
            c.stmt_close(ins.stmt_id)
        assert c.ping().kind == "ok"
        after = prepared_counts(topo)  # the client connection still open
    leaked = {k: after[k] - before[k] for k in before}
    assert all(v <= 2 for v in leaked.values()), px.why(
        "Prepared_stmt_count grew over 500 prepare/close cycles: before %r, after %r" % (before, after))


def test_unknown_statement_id_is_an_error_not_a_crash(px):
    with px.raw() as c:
        res = c.execute(0x7777, [])
        assert res[0].kind == "err" and res[0].code == 1243, px.why("EXECUTE unknown id: %r" % res)
        c.send_command(mysqlraw.COM_STMT_FETCH, struct.pack("<II", 0x7777, 1))
        f = c.read_one_result()
        assert f.kind == "err", px.why("FETCH unknown id: %r" % f)
        assert c.ping().kind == "ok"
