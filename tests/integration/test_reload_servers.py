"""
tests/integration/test_reload_servers.py — servers added and removed by a configuration reload
(RELOAD on the admin port / SIGHUP) take effect live, without dropping anyone.

Owns its own sandbox (master db1 + replicas db2, db3, independent of the shared `sandbox`
fixture) and private rwproxy processes (stopped by PID after each test). The proxy starts with
only db1 + db2 listed (balance = round_robin, so one session's reads visit every readable
replica); reloads then add db3, remove db2, try to remove the master (refused, nothing
changes) and add db2 back. Throughout, one client session opened before the first reload runs
autocommit reads and a prepared statement in a loop and must never see an error.

Which server answered is told by a local unreplicated marker table (failover_util's
test.rwp_fo_where); that nothing reaches a removed server is
checked on the server itself (its Com_select counter, PROCESSLIST). Waits are bounded
hang-guards only; no timing is asserted.
"""
import os
import re
import signal
import threading

import pytest

import mysqlraw
from test_reload import admin_query as admin
import sandbox as sb
from failover_util import (WHO_SQL, install_where_markers, remove_where_markers, start_proxy,
                           wait_until)

_PROXIES = []  # rwproxy processes the running test started (stopped after it)
ROUTING = "[routing]\nbalance = round_robin\n"


@pytest.fixture(scope="module")
def box(workdir):
    """This module's own sandbox; always stopped."""
    b = sb.Sandbox(os.path.join(workdir, "reload-servers-sandbox"))
    try:
        b.start()
        install_where_markers(b)
        yield b
        remove_where_markers(b)
    finally:
        b.stop()


@pytest.fixture(autouse=True)
def stop_proxies():
    """After each test: its rwproxy processes stopped by PID; each must exit 0."""
    yield
    codes = {px.name: px.stop() for px in _PROXIES}
    del _PROXIES[:]
    assert all(rc == 0 for rc in codes.values()), codes


def listed(px):
    """{name: (state, readable)} of SHOW SERVERS."""
    rows, err = admin(px, "SHOW SERVERS")
    assert err is None, err
    return {r[0]: (r[3], r[6]) for r in rows}


def server_section(s):
    return "[server.%s]\nhost = 127.0.0.1\nport = %d\n\n" % (s.name, s.port)


def set_servers(px, servers):
    """Rewrite the proxy's config file listing exactly servers (others unchanged)."""
    text = open(px.proc.config_path).read()
    text = re.sub(r"\[server\.[^\]]+\]\nhost = [^\n]*\nport = \d+\n\n", "", text)
    sections = "".join(server_section(s) for s in servers)
    text = text.replace("[user.app]", sections + "[user.app]", 1)
    with open(px.proc.config_path, "w") as f:
        f.write(text)


def reload(px, servers):
    set_servers(px, servers)
    return admin(px, "RELOAD")


def com_select(server):
    return int(server.query("SHOW GLOBAL STATUS LIKE 'Com_select'")[0][1])


def app_connections(server):
    """Connections of rwproxy's application user and of its monitor user on server."""
    rows = server.query("SHOW FULL PROCESSLIST")
    return [r for r in rows if r[1] in ("app", "monitor")]


class Client(threading.Thread):
    """One session opened before the reloads: autocommit reads and a prepared statement in a
    loop; records the server that answered each one and every error."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.conn = mysqlraw.RawConn("127.0.0.1", port, timeout=30)
        self.conn.login()
        st = self.conn.prepare(WHO_SQL + " WHERE ? = 0")
        assert st.kind == "prepare", st
        self.stmt = st.stmt_id
        self.names = []      # (kind, server name) per answered statement, in order
        self.errors = []     # what went wrong
        self.stop = threading.Event()

    def one(self, kind, res):
        if len(res) != 1 or res[0].kind != "rs":
            self.errors.append("%s answered %r" % (kind, res))
            return
        v = res[0].values()[0][0]
        self.names.append((kind, v.decode() if isinstance(v, bytes) else v))

    def run(self):
        try:
            while not self.stop.is_set():
                self.one("query", self.conn.query(WHO_SQL))
                self.one("execute", self.conn.execute(self.stmt, [0]))
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(e))

    def seen_since(self, mark):
        return {n for _, n in self.names[mark:]}

    def finish(self):
        self.stop.set()
        self.join(30)
        assert not self.is_alive(), "the client thread hangs"
        self.conn.quit()


def proxy_over_two(box, workdir, name):
    """An rwproxy configured with the master and db2 only (db3 is added later by the test),
    once db2 gets reads."""
    m, db2 = box.servers[0], box.servers[1]
    px = start_proxy(box, workdir, name, extra=ROUTING,
                     servers=[(m.name, m.port), (db2.name, db2.port)], registry=_PROXIES)
    wait_until(lambda: listed(px).get(db2.name, ("", ""))[1] == "1", 30, "db2 readable",
               diag=px.tail)
    return px


def test_servers_added_and_removed_live(box, workdir):
    m, db2, db3 = box.servers
    px = proxy_over_two(box, workdir, "reload-servers")
    assert set(listed(px)) == {m.name, db2.name}
    cl = Client(px.port)
    cl.start()
    try:
        wait_until(lambda: db2.name in cl.seen_since(0) or cl.errors, 30, "reads on db2")
        # add db3: listed, checked, and the running session's reads reach it
        rows, err = reload(px, [m, db2, db3])
        assert err is None, err
        wait_until(lambda: listed(px).get(db3.name, ("", ""))[1] == "1", 30, "db3 readable",
                   diag=px.tail)
        mark = len(cl.names)
        wait_until(lambda: db3.name in cl.seen_since(mark) or cl.errors, 30,
                   "the old session's reads on db3", diag=px.tail)
        fresh = mysqlraw.RawConn("127.0.0.1", px.port, timeout=30)
        fresh.login()
        got = set()

        def fresh_read():
            got.add(fresh.query(WHO_SQL)[0].values()[0][0].decode())
            return db3.name in got

        wait_until(fresh_read, 30, "a new session's reads on db3", diag=px.tail)
        fresh.quit()
        assert got <= {db2.name, db3.name}, got

        # a read-only transaction running on db2 when it is removed finishes there
        trx = mysqlraw.RawConn("127.0.0.1", px.port, timeout=30)
        trx.login()

        def trx_on_db2():
            assert trx.query1("START TRANSACTION READ ONLY").kind == "ok"
            if trx.query(WHO_SQL)[0].values()[0][0].decode() == db2.name:
                return True
            assert trx.query1("COMMIT").kind == "ok"
            return False

        wait_until(trx_on_db2, 30, "a read-only transaction on db2", diag=px.tail)

        # remove db2: unlisted, its connections closed, nothing reaches it any more
        assert [r for r in app_connections(db2) if r[1] == "app"], "no session used db2 yet"
        rows, err = reload(px, [m, db3])
        assert err is None, err
        assert trx.query(WHO_SQL)[0].values()[0][0].decode() == db2.name  # same transaction
        assert trx.query1("COMMIT").kind == "ok"
        assert trx.query(WHO_SQL)[0].values()[0][0].decode() == db3.name
        trx.quit()
        wait_until(lambda: db2.name not in listed(px), 30, "db2 no longer listed")
        rows, err = admin(px, "SHOW POOLS")
        assert err is None and rows and db2.name not in {r[1] for r in rows}, (rows, err)
        rows, err = admin(px, "SHOW CONFIG")
        assert err is None and "server." + db3.name in {r[0] for r in rows}, (rows, err)
        assert "server." + db2.name not in {r[0] for r in rows}, rows
        wait_until(lambda: not app_connections(db2), 30, "no rwproxy connection left on db2",
                   diag=lambda: "%r\n%s" % (app_connections(db2), px.tail()))
        before = com_select(db2)
        mark = len(cl.names)
        wait_until(lambda: len(cl.names) >= mark + 100 or cl.errors, 60, "100 more statements")
        assert db2.name not in cl.seen_since(mark), "a statement reached removed db2"
        assert cl.seen_since(mark) == {db3.name}, cl.seen_since(mark)
        assert com_select(db2) == before, "db2 executed SELECTs after its removal"
        assert not app_connections(db2), app_connections(db2)

        # removing the master is refused with the reason; nothing changes
        rows, err = reload(px, [db3])
        assert err is not None and "switch over first" in str(err), (rows, err)
        assert set(listed(px)) == {m.name, db3.name}

        # db2 comes back
        rows, err = reload(px, [m, db2, db3])
        assert err is None, err
        wait_until(lambda: listed(px).get(db2.name, ("", ""))[1] == "1", 30,
                   "db2 readable again", diag=px.tail)
        mark = len(cl.names)
        wait_until(lambda: db2.name in cl.seen_since(mark) or cl.errors, 30,
                   "the old session's reads on db2 again", diag=px.tail)
    finally:
        cl.finish()
    assert not cl.errors, cl.errors[:5]
    assert any(k == "execute" for k, _ in cl.names)
    assert px.alive()


def test_sighup_adds_a_server_and_host_change_is_refused(box, workdir):
    m, db2, db3 = box.servers
    px = proxy_over_two(box, workdir, "reload-servers-hup")
    since = len(px.log())
    set_servers(px, [m, db2, db3])
    px.signal(signal.SIGHUP)
    wait_until(lambda: "configuration reloaded" in px.log()[since:], 30, "SIGHUP reload",
               diag=px.tail)
    wait_until(lambda: db3.name in listed(px), 30, "db3 listed", diag=px.tail)
    # the same name on another port needs a restart
    text = open(px.proc.config_path).read()
    moved = text.replace("port = %d\n" % db3.port, "port = %d\n" % sb.free_port())
    assert moved != text
    with open(px.proc.config_path, "w") as f:
        f.write(moved)
    rows, err = admin(px, "RELOAD")
    assert err is not None and "changed its host or port" in str(err), (rows, err)
    assert set(listed(px)) == {m.name, db2.name, db3.name}
