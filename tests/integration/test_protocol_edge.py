"""
tests/integration/test_protocol_edge.py — protocol edges through rwproxy: pipelined clients
(login + 50 queries in one write; pipelined prepare + execute with statement id 0xFFFFFFFF),
authentication failures (ERR 1045/28000 then close), malformed handshakes and packets (ERR or
close, and the proxy keeps serving), 200 simultaneous idle connections, a client that never
speaks, and a client that starts with caching_sha2_password (fast path).
"""
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import mysqlraw
from conftest import HOST, pymysql_connect


def raw(port, **kw):
    return mysqlraw.connect(HOST, port, **kw)


def both(endpoints, scenario):
    return scenario(endpoints["direct"]), scenario(endpoints["proxy"])


def assert_same(direct, through):
    for i, (d, p) in enumerate(zip(direct, through)):
        assert p == d, "step %d differs:\n direct=%r\n proxy =%r" % (i, d, p)
    assert len(through) == len(direct)


def still_serves(port):
    """A fresh client logs in and gets SELECT 1 (proves the proxy survived)."""
    with raw(port) as c:
        assert c.query1("SELECT 1").values() == [(b"1",)]


# ------------------------------------------------------------------ pipelining

def pipelined_login_and_queries(port, n=50, deprecate_eof=True):
    c = mysqlraw.RawConn(HOST, port)
    try:
        c.read_greeting()
        data = c.handshake_response("app", "app_pw", "test", deprecate_eof=deprecate_eof)
        queries = ["SELECT %d AS i, REPEAT('x', %d) AS s" % (i, i * 7) for i in range(n)]
        queries[10] = "SELECT * FROM no_such_table_pipe"  # an error in the middle
        queries[20] = "SELECT 1 AS a; SELECT 2 AS b"      # a multi-result answer
        queries[30] = "SET @pipe = 30"
        queries[31] = "SELECT @pipe"
        data += b"".join(c.command_bytes(mysqlraw.COM_QUERY, q) for q in queries)
        c.sock.sendall(data)  # one write: login + every query
        login = c.read_auth_result()
        assert login.kind == "ok", login
        out = []
        for _ in queries:
            c.expect_next_answer()
            out.append([r.summary() for r in c.read_response()])
        return out
    finally:
        c.close()


@pytest.mark.parametrize("deprecate_eof", [True, False], ids=["deprecate_eof", "classic_eof"])
def test_pipelined_login_and_50_queries(endpoints, deprecate_eof):
    direct, through = both(endpoints, lambda p: pipelined_login_and_queries(p, 50, deprecate_eof))
    assert_same(direct, through)
    assert through[10][0][:2] == ("err", 1146)
    assert len(through[20]) == 2
    assert through[31][0][2] == [b"\x0230"]
    assert through[49][0][2] == [b"\x0249" + mysqlraw.lenenc_str(b"x" * 343)]


def pipelined_mixed(port):
    """Several command kinds in one write after login."""
    c = raw(port)
    try:
        cmds = [c.command_bytes(mysqlraw.COM_PING),
                c.command_bytes(mysqlraw.COM_INIT_DB, "test"),
                c.command_bytes(mysqlraw.COM_QUERY, "SELECT 'q1'"),
                c.command_bytes(mysqlraw.COM_STMT_PREPARE, "SELECT CONCAT(?, '!') AS v"),
                c.command_bytes(mysqlraw.COM_QUERY, "SELECT 'q2'"),
                c.command_bytes(mysqlraw.COM_RESET_CONNECTION),
                c.command_bytes(mysqlraw.COM_QUERY, "SELECT 'q3'")]
        c.sock.sendall(b"".join(cmds))
        out = []
        c.expect_next_answer()
        out.append(c.read_one_result().summary())
        c.expect_next_answer()
        out.append(c.read_one_result().summary())
        c.expect_next_answer()
        out.append([r.summary() for r in c.read_response()])
        c.expect_next_answer()
        prep = c.read_prepare()
        out.append(prep.summary())
        c.expect_next_answer()
        out.append([r.summary() for r in c.read_response()])
        c.expect_next_answer()
        out.append(c.read_one_result().summary())
        c.expect_next_answer()
        out.append([r.summary() for r in c.read_response()])
        out.append(c.ping().summary())
        return out
    finally:
        c.close()


def test_pipelined_mixed_commands(endpoints):
    direct, through = both(endpoints, pipelined_mixed)
    assert_same(direct, through)


def pipelined_big_then_quit(port):
    """One write: a 17 MiB query, a 100k-row query, a small one and COM_QUIT. (Nothing may
    follow COM_QUIT: the server closes with unread bytes, which resets the connection.)"""
    big = b"SELECT LENGTH('" + b"q" * (17 * 1024 * 1024) + b"')"
    c = raw(port, timeout=120)
    try:
        data = c.command_bytes(mysqlraw.COM_QUERY, big)
        data += c.command_bytes(mysqlraw.COM_QUERY, "SELECT seq FROM seq_1_to_100000")
        data += c.command_bytes(mysqlraw.COM_QUERY, "SELECT 'small'")
        data += c.command_bytes(mysqlraw.COM_QUIT)
        c.sock.sendall(data)
        out = []
        c.expect_next_answer(2)  # the 17 MiB command took two packets
        out.append(c.query_result_values())
        c.expect_next_answer()
        rs = c.read_response()
        out.append((len(rs[0].rows), rs[0].rows[-1]))
        c.expect_next_answer()
        out.append(c.query_result_values())
        out.append(c.wait_closed())
        return out
    finally:
        c.close()


def test_pipelined_big_packets_and_quit(endpoints):
    direct, through = both(endpoints, pipelined_big_then_quit)
    assert through == direct
    assert through[0] == [(b"17825792",)]
    assert through[1] == (100000, b"\x06100000")
    assert through[3] == b""


def pipelined_prepare_execute(port, deprecate_eof):
    """PREPARE then EXECUTE(0xFFFFFFFF) [then another EXECUTE by id] in one write."""
    c = raw(port, deprecate_eof=deprecate_eof)
    try:
        data = c.command_bytes(mysqlraw.COM_STMT_PREPARE, "SELECT ? AS a, CONCAT(?, 'x') AS b")
        data += c.command_bytes(mysqlraw.COM_STMT_EXECUTE,
                                mysqlraw.execute_payload(mysqlraw.STMT_ID_LAST_PREPARED, [5, "s"]))
        data += c.command_bytes(mysqlraw.COM_QUERY, "SELECT 'after'")
        c.sock.sendall(data)
        c.expect_next_answer()
        prep = c.read_prepare()
        c.expect_next_answer()
        ex = c.read_response(binary=True)
        c.expect_next_answer()
        after = c.read_response()
        out = [prep.summary(), [r.summary() for r in ex], [r.summary() for r in after]]
        if prep.kind == "prepare":
            out.append([r.summary() for r in c.execute(prep.stmt_id, [6, "t"])])
            # 0xFFFFFFFF again, not pipelined: still "the last prepared"
            out.append([r.summary() for r in c.execute(mysqlraw.STMT_ID_LAST_PREPARED, [7, "u"])])
            c.stmt_close(prep.stmt_id)
        out.append(c.query1("SELECT 'end'").values())
        return out, ex
    finally:
        c.close()


@pytest.mark.parametrize("deprecate_eof", [True, False], ids=["deprecate_eof", "classic_eof"])
def test_pipelined_prepare_execute_last_statement_id(endpoints, deprecate_eof):
    direct, dex = pipelined_prepare_execute(endpoints["direct"], deprecate_eof)
    if dex[0].kind == "err":
        pytest.skip("the server does not support statement id 0xFFFFFFFF: %r" % dex[0])
    through, pex = pipelined_prepare_execute(endpoints["proxy"], deprecate_eof)
    assert_same(direct, through)
    assert pex[0].values() == [(5, b"sx")]


# ------------------------------------------------------------------ authentication failures

@pytest.mark.parametrize("user,password", [("app", "wrong_pw"), ("app", ""),
                                           ("no_such_user", "app_pw"), ("monitor", "bad")])
def test_access_denied_then_closed(endpoints, user, password):
    c = mysqlraw.RawConn(HOST, endpoints["proxy"])
    try:
        res = c.login(user, password, "test")
        assert res.kind == "err", res
        assert (res.code, res.state) == (1045, "28000"), res
        assert c.wait_closed() == b""
    finally:
        c.close()
    d = mysqlraw.RawConn(HOST, endpoints["direct"])
    try:
        dres = d.login(user, password, "test")
        assert (dres.code, dres.state) == (1045, "28000")
    finally:
        d.close()
    still_serves(endpoints["proxy"])


def test_login_unknown_database(endpoints):
    def scenario(port):
        c = mysqlraw.RawConn(HOST, port)
        try:
            res = c.login("app", "app_pw", "test_no_such_db_login")
            return res.summary()
        finally:
            c.close()
    direct, through = both(endpoints, scenario)
    assert through[:3] == direct[:3] == ("err", 1049, "42000")


# ------------------------------------------------------------------ malformed input

def greeting_then(port, payload_bytes, close_write=False):
    """Read the greeting, send bytes, return (answer packets before close, closed?)."""
    s = socket.create_connection((HOST, port), timeout=30)
    try:
        c = mysqlraw.RawConn.__new__(mysqlraw.RawConn)
        c.sock, c.buf, c.seq, c.strict_seq, c.caps, c.closed = s, bytearray(), 0, False, 0, False
        c.read_greeting()
        s.sendall(payload_bytes)
        if close_write:
            s.shutdown(socket.SHUT_WR)
        got = c.wait_closed()
        return got
    finally:
        s.close()


def frame(payload, seq=1):
    return len(payload).to_bytes(3, "little") + bytes([seq]) + payload


def valid_response_prefix():
    caps = mysqlraw.BASE_CAPS | mysqlraw.CLIENT_DEPRECATE_EOF
    return struct.pack("<IIB", caps, 1 << 24, 45) + b"\x00" * 23


MALFORMED = {
    "garbage_packet": frame(b"hello, this is not a handshake response"),
    "tiny_packet": frame(b"\x01"),
    "empty_packet": frame(b""),
    "truncated_response": frame(valid_response_prefix()[:20]),
    "no_user_terminator": frame(valid_response_prefix() + b"app"),
    "auth_len_huge_lenenc": frame(valid_response_prefix() + b"app\x00\xfe" + b"\xff" * 8),
    "auth_len_beyond_packet": frame(valid_response_prefix() + b"app\x00\xfc\xff\x7f" + b"x" * 10),
    "attrs_len_beyond_packet": frame(valid_response_prefix() + b"app\x00\x00test\x00"
                                     b"mysql_native_password\x00\xfd\xff\xff\x00ab"),
    "ssl_request_without_tls": ("close_write", frame(struct.pack("<IIB", mysqlraw.BASE_CAPS | mysqlraw.CLIENT_SSL,
                                                 1 << 24, 45) + b"\x00" * 23)),
    "wrong_sequence_id": frame(b"\x00" * 40, seq=7),
    # the first 4 bytes announce ~11 MB that never come: the client also closes its side
    "random_bytes": ("close_write", bytes((i * 197 + 13) % 256 for i in range(3000))),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_handshake(proxy, name):
    data = MALFORMED[name]
    close_write = isinstance(data, tuple)
    got = greeting_then(proxy.port, data[1] if close_write else data, close_write=close_write)
    # Either closed silently or one ERR packet, then closed.
    if got:
        assert got[4:5] == b"\xff", "expected an ERR packet or a close, got %r" % got[:64]
    still_serves(proxy.port)


def test_header_claims_16mib_then_close_before_login(proxy):
    with socket.create_connection((HOST, proxy.port), timeout=30) as s:
        s.recv(4096)
        s.sendall(b"\xff\xff\xff\x01" + b"x" * 100)
    still_serves(proxy.port)
    with socket.create_connection((HOST, proxy.port), timeout=30) as s:  # not even the greeting read
        s.sendall(b"\xff\xff\xff\x00")
    still_serves(proxy.port)


def test_header_claims_16mib_then_close_after_login(proxy):
    for tail in (b"", b"\x03SELECT " + b"1" * 5000):
        c = raw(proxy.port)
        c.query1("SELECT 1")
        c.sock.sendall(b"\xff\xff\xff\x00" + tail)
        c.close()
        still_serves(proxy.port)
    # and a continuation chain that stops in the middle (two full packets, then close)
    c = raw(proxy.port)
    chunk = b"\x03SELECT '" + b"a" * (mysqlraw.MAX_PAYLOAD - 9)
    c.sock.sendall(b"\xff\xff\xff\x00" + chunk + b"\xff\xff\xff\x01" + b"b" * mysqlraw.MAX_PAYLOAD)
    c.close()
    still_serves(proxy.port)


def test_garbage_in_command_phase_then_more(proxy):
    """Odd command packets: empty payload, a wrong sequence id; then the connection still works
    or is closed — never a crash."""
    c = raw(proxy.port)
    try:
        c.sock.sendall(b"\x00\x00\x00\x00")  # empty command packet
        c.seq = 1
        try:
            res = c.read_one_result()
            assert res.kind == "err", res
            c.strict_seq = False
            assert c.query1("SELECT 5").values() == [(b"5",)]
        except mysqlraw.ConnectionClosed:
            pass
    finally:
        c.close()
    still_serves(proxy.port)


# ------------------------------------------------------------------ many clients, silent clients

def test_200_idle_connections(proxy):
    n = 200

    def open_one(i):
        return pymysql_connect(proxy.port, connect_timeout=30)

    conns = []
    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            conns = list(pool.map(open_one, range(n)))
        assert len(conns) == n
        for i, c in enumerate(conns):
            with c.cursor() as cur:
                cur.execute("SELECT 1, %s", (i,))
                assert cur.fetchall() == ((1, i),)
                cur.execute("SET @me = %s", (i,))
        for i, c in enumerate(conns):  # every session kept its own state
            with c.cursor() as cur:
                cur.execute("SELECT @me")
                assert cur.fetchall() == ((i,),), "client %d sees another session's variable" % i
    finally:
        for c in conns:
            c.close()
    still_serves(proxy.port)


def test_silent_client_does_not_block_others(proxy):
    silent = [socket.create_connection((HOST, proxy.port), timeout=30) for _ in range(3)]
    try:
        silent[0].recv(4096)  # reads the greeting, says nothing
        # silent[1] never reads; silent[2] sends half a header
        silent[2].sendall(b"\x20\x00")
        errors = []

        def worker(k):
            try:
                for j in range(5):
                    with raw(proxy.port) as c:
                        assert c.query1("SELECT %d" % (k * 10 + j)).values() == [(b"%d" % (k * 10 + j),)]
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), "clients hung while a silent client was connected"
        assert not errors, errors
    finally:
        for s in silent:
            s.close()


# ------------------------------------------------------------------ auth plugin switch

def test_caching_sha2_client_fast_path(endpoints):
    """app has a clear-text password in the config: caching_sha2_password's fast path (no
    switch); more in test_caching_sha2.py."""
    c = mysqlraw.RawConn(HOST, endpoints["proxy"])
    try:
        res = c.login("app", "app_pw", "test", plugin="caching_sha2_password")
        assert res.kind == "ok", res
        assert c.switched_to is None
        assert c.query1("SELECT CURRENT_USER(), DATABASE()").values() == [(b"app@%", b"test")]
    finally:
        c.close()
    # wrong password after the switch: still 1045
    c = mysqlraw.RawConn(HOST, endpoints["proxy"])
    try:
        res = c.login("app", "nope", "test", plugin="caching_sha2_password")
        assert (res.kind, res.code, res.state) == ("err", 1045, "28000"), res
    finally:
        c.close()


def test_login_without_db_and_without_plugin_auth(endpoints):
    """Old-style clients: no CONNECT_WITH_DB, no PLUGIN_AUTH, no CONNECT_ATTRS, no lenenc auth."""
    caps = (mysqlraw.CLIENT_LONG_PASSWORD | mysqlraw.CLIENT_PROTOCOL_41
            | mysqlraw.CLIENT_SECURE_CONNECTION | mysqlraw.CLIENT_TRANSACTIONS
            | mysqlraw.CLIENT_MULTI_RESULTS)

    def scenario(port):
        with raw(port, db=None, caps=caps, deprecate_eof=False) as c:
            return [c.query1("SELECT DATABASE(), 1").values(),
                    c.init_db("test").summary(),
                    c.query1("SELECT DATABASE()").values()]
    direct, through = both(endpoints, scenario)
    assert through == direct
    assert through[0] == [(None, b"1")]


# ------------------------------------------------------------------ greeting, capabilities

def test_greeting(proxy):
    greetings = []
    for _ in range(2):
        c = mysqlraw.RawConn(HOST, proxy.port)
        try:
            greetings.append(c.read_greeting())
        finally:
            c.close()
    g = greetings[0]
    assert g.protocol == 10
    assert g.server_version, "empty server version"
    need = mysqlraw.CLIENT_PROTOCOL_41 | mysqlraw.CLIENT_SECURE_CONNECTION | mysqlraw.CLIENT_PLUGIN_AUTH
    assert g.caps & need == need, hex(g.caps)
    assert not g.caps & 0x20, "CLIENT_COMPRESS advertised but compression is not implemented"
    assert g.plugin == "mysql_native_password"
    assert len(g.salt) == 20 and b"\x00" not in g.salt
    assert greetings[0].salt != greetings[1].salt, "two greetings with the same scramble"
    assert greetings[0].conn_id != greetings[1].conn_id, "two connections with the same id"


def test_found_rows_capability_is_honoured(endpoints):
    """CLIENT_FOUND_ROWS changes what UPDATE reports: it must reach the backend session."""
    with raw(endpoints["direct"]) as c:
        c.query("DROP TABLE IF EXISTS fr_t")
        c.query("CREATE TABLE fr_t (x INT)")
        c.query("INSERT INTO fr_t VALUES (1), (2), (3)")

    def scenario(port):
        out = []
        for caps in (mysqlraw.BASE_CAPS, mysqlraw.BASE_CAPS | mysqlraw.CLIENT_FOUND_ROWS):
            with raw(port, caps=caps) as c:
                out.append(c.query1("UPDATE fr_t SET x = x").affected)
        return out
    direct, through = both(endpoints, scenario)
    assert through == direct == [0, 3]


@pytest.mark.parametrize("charset_id,collation", [(8, "latin1_swedish_ci"), (33, "utf8mb3_general_ci"),
                                                  (45, "utf8mb4_general_ci"),
                                                  (224, "utf8mb4_unicode_ci"), (63, "binary")])
def test_handshake_charset_reaches_backend(endpoints, charset_id, collation):
    def scenario(port):
        with raw(port, charset=charset_id) as c:
            return c.query1("SELECT @@collation_connection, @@character_set_client, "
                            "@@character_set_results").values()
    direct, through = both(endpoints, scenario)
    assert through == direct
    assert through[0][0] == collation.encode()


def test_session_track_data_same_as_direct(endpoints):
    """A client that asked for CLIENT_SESSION_TRACK gets the same tracking data and flags."""
    stmts = ["SET @@session_track_system_variables = 'autocommit,time_zone'",
             "SET time_zone = '+01:00'", "SET session_track_schema = 1", "USE test",
             "SET session_track_state_change = 1", "SET @u = 1", "BEGIN", "SELECT 1",
             "COMMIT", "SET autocommit = 0", "SET autocommit = 1"]

    def scenario(port):
        out = []
        with raw(port, caps=mysqlraw.BASE_CAPS | mysqlraw.CLIENT_SESSION_TRACK) as c:
            for s in stmts:
                for r in c.query(s):
                    out.append((s, r.kind, r.status & ~0x30, r.info))
        return out
    direct, through = both(endpoints, scenario)
    assert_same(direct, through)
    assert any(b"time_zone" in info for _, _, _, info in through)


def test_client_without_session_track_gets_no_tracking_data(endpoints):
    def scenario(port):
        with raw(port) as c:
            return [(r.kind, r.info) for s in ("SET time_zone = '+02:00'", "USE test", "BEGIN", "COMMIT")
                    for r in c.query(s)]
    direct, through = both(endpoints, scenario)
    assert through == direct
    assert all(info == b"" for _, info in through)


# ------------------------------------------------------------------ errors inside results

@pytest.mark.parametrize("deprecate_eof", [True, False], ids=["deprecate_eof", "classic_eof"])
def test_error_after_rows(endpoints, deprecate_eof):
    """An ERR that ends a result set after rows were sent; the connection stays usable."""
    sql = ("SELECT x.seq, (SELECT y.seq FROM seq_1_to_2 y WHERE y.seq <= IF(x.seq = 50000, 2, 1)) "
           "FROM seq_1_to_100000 x")

    def scenario(port):
        with raw(port, deprecate_eof=deprecate_eof) as c:
            return [[r.summary()[:3] for r in c.query(sql)], c.query1("SELECT 'ok'").values()]
    direct, through = both(endpoints, scenario)
    assert through == direct
    assert through[0][-1] == ("err", 1242, "21000")


# ------------------------------------------------------------------ backpressure, disconnects

def proc_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def app_query_state(server, like):
    rows = server.query("SELECT COMMAND, STATE FROM information_schema.PROCESSLIST "
                        "WHERE USER = 'app' AND INFO LIKE %s", args=(like,))
    return rows[0] if rows else None


def test_slow_reader_backpressure_then_disconnect(proxy, sandbox):
    """A client that stops reading a 250 MB result: rwproxy stops reading the backend (the
    server stays blocked writing) instead of buffering it; when the client goes away the
    backend statement ends too."""
    # the hint keeps the read on the master, where the test watches it
    sql = "/* rwproxy:master */ SELECT seq, REPEAT('x', 1000) FROM seq_1_to_250000 /* rwp-backpressure */"
    like = "%rwp-backpressure%"
    pid = proxy.proc.pid
    before = proc_rss_kib(pid)
    c = raw(proxy.port)
    try:
        c.send_command(mysqlraw.COM_QUERY, sql)
        for _ in range(600):  # hang guard: until the statement runs on the master
            if app_query_state(sandbox.master, like):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the statement never showed up on the master")
        time.sleep(3)  # give a buffering proxy the chance to swallow the whole result
        state = app_query_state(sandbox.master, like)
        assert state is not None, "the server finished sending 250 MB nobody read: rwproxy buffered it"
        grown = proc_rss_kib(pid) - before
        assert grown < 100 * 1024, "rwproxy grew by %d KiB holding an unread result" % grown
    finally:
        c.close()
    for _ in range(1200):  # hang guard: the backend statement must end once the client left
        if app_query_state(sandbox.master, like) is None:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the backend kept running the statement of a client that disconnected")
    still_serves(proxy.port)


def test_client_disconnects_during_statement(proxy, sandbox):
    """The client leaves while its statement runs; other clients are unaffected."""
    c = raw(proxy.port)
    c.send_command(mysqlraw.COM_QUERY, "/* rwproxy:master */ SELECT SLEEP(1) /* rwp-leaver */")
    for _ in range(600):
        if app_query_state(sandbox.master, "%rwp-leaver%"):
            break
        time.sleep(0.05)
    c.close()
    still_serves(proxy.port)
    for _ in range(1200):  # hang guard
        if app_query_state(sandbox.master, "%rwp-leaver%") is None:
            break
        time.sleep(0.05)
    still_serves(proxy.port)
