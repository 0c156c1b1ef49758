"""
tests/integration/test_pool.py — backend connection pooling and multiplexing ([pool]).

Owns: that session state never leaks between clients sharing a pooled backend connection
(schema, sql_mode, user variables, temporary tables, charset, isolation level), that a
session's own state follows it onto whichever pooled connection serves it, that state which
cannot move (transactions, temporary tables, GET_LOCK, prepared statements) keeps the session
on its connection, LAST_INSERT_ID() and FOUND_ROWS() across multiplexed statements, the
backend connection count staying bounded with many idle clients and at [server.NAME]
max_connections under load, and both multiplex = on and off.
Each test runs its own rwproxy (one worker thread, so sessions share one pool).
"""
import threading

import pymysql
import pytest

from conftest import APP_PW, APP_USER, HOST, pymysql_connect


def one(cur, sql):
    cur.execute(sql)
    return cur.fetchone()


def backend_threads(server, user=APP_USER):
    """Ids of the connections user has open on server (rwproxy's backend connections)."""
    rows = server.query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '%s'" % user)
    return {r[0] for r in rows}


def pools(proc):
    """SHOW POOLS through the admin port: {server: row dict} summed over workers."""
    c = pymysql.connect(host=HOST, port=proc.admin_port, user="admin", password="admin_pw",
                        connect_timeout=10)
    try:
        with c.cursor() as cur:
            cur.execute("SHOW POOLS")
            cols = [d[0] for d in cur.description]
            out = {}
            for row in cur.fetchall():
                r = dict(zip(cols, row))
                acc = out.setdefault(r["server"], {k: 0 for k in cols if k not in ("worker", "server")})
                for k in acc:
                    acc[k] += int(r[k] or 0)
            return out
    finally:
        c.close()


ALL_TO_MASTER = "[rule.all_to_master]\nmatch = .\nroute = master\n"


@pytest.fixture
def mux(proxy_factory):
    """A private rwproxy with one worker and multiplex on; a query rule sends every statement
    to the master, so every session shares the master's pool."""
    return proxy_factory(threads=1, extra=ALL_TO_MASTER + "[pool]\nmultiplex = on\n")


@pytest.fixture
def nomux(proxy_factory):
    return proxy_factory(threads=1, extra=ALL_TO_MASTER + "[pool]\nmultiplex = off\n")


def connect(proc, **kw):
    return pymysql_connect(proc.port, **kw)


CONNECTOR_J_STARTUP = (
    "SELECT @@session.auto_increment_increment AS auto_increment_increment, "
    "@@character_set_client AS character_set_client, @@character_set_connection AS "
    "character_set_connection, @@character_set_results AS character_set_results, "
    "@@character_set_server AS character_set_server, @@init_connect AS init_connect, "
    "@@interactive_timeout AS interactive_timeout, @@license AS license, "
    "@@lower_case_table_names AS lower_case_table_names, @@max_allowed_packet AS "
    "max_allowed_packet, @@net_write_timeout AS net_write_timeout, @@sql_mode AS sql_mode, "
    "@@system_time_zone AS system_time_zone, @@time_zone AS time_zone, @@tx_isolation AS "
    "transaction_isolation, @@wait_timeout AS wait_timeout")

STATE_SQL = ("SELECT DATABASE(), @@session.sql_mode, @leak, @@session.character_set_client, "
             "@@session.tx_isolation, @@session.autocommit")


def test_session_state_never_leaks_to_the_next_client(mux, sandbox):
    a = connect(mux)
    b = None
    try:
        with a.cursor() as cur:
            fresh = one(cur, STATE_SQL)
            cur.execute("USE information_schema")
            cur.execute("SET SESSION sql_mode = 'ANSI_QUOTES'")
            cur.execute("SET @leak = 'from a'")
            cur.execute("SET NAMES latin1")
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE")
            a_id = one(cur, "SELECT CONNECTION_ID()")[0]
            mine = one(cur, STATE_SQL)
        assert mine[0] == "information_schema" and mine[1] == "ANSI_QUOTES" and mine[2] == "from a"
        assert mine[3] == "latin1" and mine[4] == "SERIALIZABLE", mine
        # a is idle now: its backend went back to the pool; b gets it (one worker, one pool)
        b = connect(mux)
        with b.cursor() as cur:
            b_id = one(cur, "SELECT CONNECTION_ID()")[0]
            seen = one(cur, STATE_SQL)
        assert b_id == a_id, "b did not share a's pooled connection (%s vs %s): the test proves nothing" % (
            b_id, a_id)
        assert seen == fresh, "state leaked from a to b on a shared connection: %r (fresh %r)" % (seen, fresh)
        # a's state follows a onto whatever connection serves it now
        with a.cursor() as cur:
            again = one(cur, STATE_SQL)
        assert again == mine, "a lost its own session state: %r, was %r" % (again, mine)
    finally:
        a.close()
        if b:
            b.close()


def test_temporary_table_keeps_its_connection_and_never_leaks(mux):
    a = connect(mux)
    b = connect(mux)
    try:
        with a.cursor() as cur:
            cur.execute("CREATE TEMPORARY TABLE pool_tmp (x INT)")
            cur.execute("INSERT INTO pool_tmp VALUES (1), (2)")
            a_id = one(cur, "SELECT CONNECTION_ID()")[0]
        with b.cursor() as cur:
            b_id = one(cur, "SELECT CONNECTION_ID()")[0]
            with pytest.raises(pymysql.err.ProgrammingError) as ei:
                cur.execute("SELECT * FROM pool_tmp")
            assert ei.value.args[0] == 1146, ei.value
        assert b_id != a_id, "two sessions ran on one connection while one had a temporary table"
        with a.cursor() as cur:
            assert one(cur, "SELECT COUNT(*) FROM pool_tmp")[0] == 2
            assert one(cur, "SELECT CONNECTION_ID()")[0] == a_id
            cur.execute("DROP TEMPORARY TABLE pool_tmp")
    finally:
        a.close()
        b.close()


def test_transaction_keeps_its_connection(mux, sandbox):
    sandbox.master.query("CREATE TABLE IF NOT EXISTS test.pool_trx (id INT PRIMARY KEY, v INT)")
    sandbox.master.query("DELETE FROM test.pool_trx")
    a = connect(mux)
    b = connect(mux)
    try:
        with a.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("INSERT INTO pool_trx VALUES (1, 1)")
            a_id = one(cur, "SELECT CONNECTION_ID()")[0]
        with b.cursor() as cur:
            assert one(cur, "SELECT CONNECTION_ID()")[0] != a_id
            assert one(cur, "SELECT COUNT(*) FROM pool_trx")[0] == 0  # a's insert is not visible
        with a.cursor() as cur:
            assert one(cur, "SELECT CONNECTION_ID()")[0] == a_id
            assert one(cur, "SELECT COUNT(*) FROM pool_trx")[0] == 1
            cur.execute("ROLLBACK")
        with b.cursor() as cur:
            assert one(cur, "SELECT COUNT(*) FROM pool_trx")[0] == 0
    finally:
        a.close()
        b.close()


def test_user_lock_and_prepared_statements_keep_the_connection(mux):
    a = connect(mux)
    b = connect(mux)
    try:
        with a.cursor() as cur:
            assert one(cur, "SELECT GET_LOCK('pool_lock', 0)")[0] == 1
            a_id = one(cur, "SELECT CONNECTION_ID()")[0]
        with b.cursor() as cur:
            assert one(cur, "SELECT CONNECTION_ID()")[0] != a_id
            assert one(cur, "SELECT IS_USED_LOCK('pool_lock')")[0] == a_id
        with a.cursor() as cur:
            assert one(cur, "SELECT RELEASE_LOCK('pool_lock')")[0] == 1
    finally:
        a.close()
        b.close()


def test_last_insert_id_and_found_rows_follow_the_session(mux, sandbox):
    sandbox.master.query("CREATE TABLE IF NOT EXISTS test.pool_ai (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
    a = connect(mux)
    b = connect(mux)
    try:
        with a.cursor() as cur:
            cur.execute("INSERT INTO pool_ai (v) VALUES (1)")
            want = cur.lastrowid
        with b.cursor() as cur:  # b takes the connection a's insert ran on, and inserts too
            cur.execute("INSERT INTO pool_ai (v) VALUES (2)")
            b_want = cur.lastrowid
        assert b_want != want
        with a.cursor() as cur:
            assert one(cur, "SELECT LAST_INSERT_ID()")[0] == want
        with b.cursor() as cur:
            assert one(cur, "SELECT LAST_INSERT_ID()")[0] == b_want
        with a.cursor() as cur:
            cur.execute("SELECT SQL_CALC_FOUND_ROWS id FROM pool_ai LIMIT 1")
            cur.fetchall()
            total = sandbox.master.query("SELECT COUNT(*) FROM test.pool_ai")[0][0]
            assert one(cur, "SELECT FOUND_ROWS()")[0] == total
    finally:
        a.close()
        b.close()


def test_many_idle_clients_hold_few_backend_connections(mux, sandbox):
    before = len(backend_threads(sandbox.master))
    clients = []
    try:
        for _ in range(200):
            c = connect(mux)
            with c.cursor() as cur:
                # Connector/J's start-up query: @@ reads must not tie the session to its connection
                cur.execute(CONNECTOR_J_STARTUP)
                cur.execute("SELECT 1")
            clients.append(c)
        held = len(backend_threads(sandbox.master)) - before
        assert held <= 4, "200 idle clients hold %d backend connections on the master" % held
        # every client still works, one after the other
        for c in clients[::20]:
            with c.cursor() as cur:
                assert one(cur, "SELECT 2")[0] == 2
        p = pools(mux)
        assert p["db1"]["reused"] >= 150, p
    finally:
        for c in clients:
            c.close()


def test_max_connections_makes_statements_wait_not_fail(proxy_factory, sandbox):
    proc = proxy_factory(threads=1, extra=ALL_TO_MASTER + "[pool]\nmultiplex = on\n")
    # [server.db1] is written by the sandbox's config writer and cannot be repeated: put the
    # cap inside it and restart
    text = open(proc.config_path).read()
    proc.stop()
    text = text.replace("[server.db1]\n", "[server.db1]\nmax_connections = 3\n", 1)
    with open(proc.config_path, "w") as f:
        f.write(text)
    proc.start()
    errors = []
    peak = [0]
    stop = threading.Event()

    def worker():
        try:
            c = connect(proc, read_timeout=60)
            with c.cursor() as cur:
                for _ in range(40):
                    cur.execute("SELECT SLEEP(0.005), 1 FROM DUAL FOR UPDATE")
                    cur.fetchall()
            c.close()
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    def sampler():
        while not stop.is_set():
            peak[0] = max(peak[0], len(backend_threads(sandbox.master)))
            stop.wait(0.01)

    base = len(backend_threads(sandbox.master))
    s = threading.Thread(target=sampler)
    s.start()
    ts = [threading.Thread(target=worker) for _ in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    stop.set()
    s.join(10)
    assert not errors, errors[:3]
    assert peak[0] - base <= 3, "max_connections = 3 but %d backend connections were open" % (peak[0] - base)
    assert pools(proc)["db1"]["waiting"] == 0


def test_multiplex_off_keeps_connections_and_pools_them_at_the_end(nomux, sandbox):
    a = connect(nomux)
    try:
        with a.cursor() as cur:
            first = one(cur, "SELECT CONNECTION_ID()")[0]
            for _ in range(5):
                assert one(cur, "SELECT CONNECTION_ID()")[0] == first
        b = connect(nomux)
        with b.cursor() as cur:
            assert one(cur, "SELECT CONNECTION_ID()")[0] != first  # a still holds its own
        b.close()
    finally:
        a.close()
    # short-lived clients reuse pooled logins instead of opening a connection each
    opened_before = pools(nomux)["db1"]["opened"]
    for _ in range(30):
        c = connect(nomux)
        with c.cursor() as cur:
            cur.execute("SELECT 1")
        c.close()
    opened = pools(nomux)["db1"]["opened"] - opened_before
    assert opened <= 3, "30 short-lived clients opened %d backend connections" % opened


def test_pooled_connection_killed_on_the_server_is_not_handed_out(mux, sandbox):
    a = connect(mux)
    try:
        with a.cursor() as cur:
            victim = one(cur, "SELECT CONNECTION_ID()")[0]
        sandbox.master.query("KILL %d" % victim)  # the pooled, idle connection dies
        for _ in range(5):
            with a.cursor() as cur:
                assert one(cur, "SELECT 1")[0] == 1
                assert one(cur, "SELECT CONNECTION_ID()")[0] != victim
    finally:
        a.close()


def test_change_user_reset_with_other_user(mux, sandbox):
    """A connection pooled by one user serves another user only after COM_CHANGE_USER: the
    second user runs as itself."""
    sandbox.master.query("CREATE USER IF NOT EXISTS 'pool_u2'@'%' IDENTIFIED BY 'pw2'")
    sandbox.master.query("GRANT SELECT ON *.* TO 'pool_u2'@'%'")
    text = open(mux.config_path).read()
    mux.stop()
    with open(mux.config_path, "w") as f:
        f.write(text + "\n[user.pool_u2]\npassword = pw2\n")
    mux.start()
    sandbox.wait_replicas_caught_up(timeout=30)
    a = connect(mux)
    with a.cursor() as cur:
        a_id = one(cur, "SELECT CONNECTION_ID()")[0]
    a.close()
    # same client capabilities as a (a pooled connection keeps the capabilities it was opened with)
    u2 = pymysql_connect(mux.port, user="pool_u2", password="pw2")
    try:
        with u2.cursor() as cur:
            cid, who = one(cur, "SELECT CONNECTION_ID(), CURRENT_USER()")
        assert who.startswith("pool_u2@"), who
        assert cid == a_id, "the pooled connection was not reused (reset) for another user"
        with u2.cursor() as cur:
            with pytest.raises(pymysql.err.OperationalError):
                cur.execute("INSERT INTO test.pool_ai (v) VALUES (9)")
    finally:
        u2.close()
    assert APP_PW  # the app user is untouched
