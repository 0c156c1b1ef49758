"""
tests/integration/test_stats.py — KILL on the normal port and the Prometheus endpoint.

Owns: a private rwproxy (2 workers, /metrics on a free port, a second client user) and the
tests of a client's `KILL QUERY id` / `KILL id` / `KILL CONNECTION id` with rwproxy
connection ids (what PyMySQL's thread_id() shows): a running SELECT SLEEP(30) stops at once
and the session goes on; KILL closes the target; another user's id and unknown ids get
ERR 1094. Then /metrics: every line parses, every name starts with rwproxy_, counters move
with queries, other paths get 404.
"""
import re
import threading
import time
import urllib.error
import urllib.request

import pymysql
import pytest

import sandbox as sb
from conftest import HOST
from test_routing import start_own_proxy, stop_own_proxy

OTHER_USER, OTHER_PW = "stats_other", "stats_other_pw"


@pytest.fixture(scope="module")
def other_user(sandbox):
    """A second client user on the servers (created through the master, replicated)."""
    c = pymysql.connect(host=HOST, port=sandbox.master.port, user="monitor",
                        password=sb.PASSWORDS["monitor"], autocommit=True)
    with c.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s'" % (OTHER_USER, OTHER_PW))
        cur.execute("GRANT ALL PRIVILEGES ON `test`.* TO '%s'@'%%'" % OTHER_USER)
    sandbox.wait_replicas_caught_up()
    yield OTHER_USER
    with c.cursor() as cur:
        cur.execute("DROP USER IF EXISTS '%s'@'%%'" % OTHER_USER)
    c.close()


@pytest.fixture(scope="module")
def px(sandbox, workdir, other_user):
    metrics_port = sb.free_port()
    extra = ("[admin]\nmetrics_listen = 127.0.0.1:%d\n\n[user.%s]\npassword = %s\n"
             % (metrics_port, other_user, OTHER_PW))
    p = start_own_proxy(sandbox, workdir, "stats", extra=extra, threads=2)
    p.metrics_url = "http://127.0.0.1:%d" % metrics_port
    yield p
    assert stop_own_proxy(p) == 0


def run_in_thread(fn):
    """Run fn() in a thread; returns (thread, box) where box gets 'result' or 'error'."""
    box = {}

    def target():
        try:
            box["result"] = fn()
        except Exception as e:  # noqa: BLE001 - handed to the test
            box["error"] = e
        box["done_at"] = time.monotonic()

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, box


def start_sleep(conn, seconds=30):
    def q():
        with conn.cursor() as cur:
            cur.execute("SELECT SLEEP(%d)" % seconds)
            return cur.fetchall()
    return run_in_thread(q)


def wait_running(px, target_id, timeout=10.0):
    """Give the statement time to reach its server (there is no rwproxy-side view without
    the admin port: wait until the log shows the command was routed, else a fixed pause)."""
    time.sleep(0.5)


def err_code(e):
    return e.args[0] if getattr(e, "args", None) else None


# ---- KILL ----

@pytest.mark.parametrize("kill_sql", ["KILL QUERY %d", "KILL QUERY  %d ;"])
def test_kill_query_stops_a_running_statement(px, kill_sql):
    victim = px.connect()
    killer = px.connect()
    try:
        vid = victim.thread_id()
        t0 = time.monotonic()
        t, box = start_sleep(victim)
        wait_running(px, vid)
        with killer.cursor() as cur:
            cur.execute(kill_sql % vid)
        t.join(15)
        assert not t.is_alive(), px.why("SELECT SLEEP(30) still runs 15 s after KILL QUERY")
        assert box["done_at"] - t0 < 10, px.why("the statement was not stopped quickly")
        if "error" in box:
            assert err_code(box["error"]) == 1317, px.why("unexpected error %r" % box["error"])
        else:
            assert box["result"] == ((1,),), px.why("an interrupted SLEEP returns 1: %r" % box)
        with victim.cursor() as cur:  # the session goes on
            cur.execute("SELECT 7")
            assert cur.fetchall() == ((7,),)
    finally:
        victim.close()
        killer.close()


def test_kill_query_of_a_write_on_the_master(px):
    victim = px.connect()
    killer = px.connect()
    try:
        vid = victim.thread_id()

        def q():
            with victim.cursor() as cur:
                cur.execute("DO SLEEP(30)")  # not a plain SELECT: goes to the master
        t0 = time.monotonic()
        t, box = run_in_thread(q)
        wait_running(px, vid)
        with killer.cursor() as cur:
            cur.execute("KILL QUERY %d" % vid)
        t.join(15)
        assert not t.is_alive() and box["done_at"] - t0 < 10, px.why("DO SLEEP(30) was not stopped")
        with victim.cursor() as cur:
            cur.execute("SELECT 8")
            assert cur.fetchall() == ((8,),)
    finally:
        victim.close()
        killer.close()


def test_kill_query_of_an_idle_session_is_ok(px):
    victim = px.connect()
    killer = px.connect()
    try:
        with killer.cursor() as cur:
            cur.execute("KILL QUERY %d" % victim.thread_id())
        with victim.cursor() as cur:
            cur.execute("SELECT 9")
            assert cur.fetchall() == ((9,),)
    finally:
        victim.close()
        killer.close()


@pytest.mark.parametrize("kill_sql", ["KILL %d", "KILL CONNECTION %d"])
def test_kill_closes_the_connection(px, kill_sql):
    victim = px.connect()
    killer = px.connect()
    try:
        with killer.cursor() as cur:
            cur.execute(kill_sql % victim.thread_id())
        deadline = time.monotonic() + 5
        with pytest.raises(pymysql.err.OperationalError) as ei:
            while time.monotonic() < deadline:
                with victim.cursor() as cur:
                    cur.execute("SELECT 1")
                time.sleep(0.05)
        assert err_code(ei.value) in (1927, 2013, 2006), ei.value
        with killer.cursor() as cur:  # the killer goes on
            cur.execute("SELECT 2")
            assert cur.fetchall() == ((2,),)
    finally:
        killer.close()


def test_kill_connection_during_a_statement(px):
    victim = px.connect()
    killer = px.connect()
    try:
        t0 = time.monotonic()
        t, box = start_sleep(victim)
        wait_running(px, victim.thread_id())
        with killer.cursor() as cur:
            cur.execute("KILL %d" % victim.thread_id())
        t.join(10)
        assert not t.is_alive() and box["done_at"] - t0 < 8, px.why("the client was not closed")
        assert "error" in box and err_code(box["error"]) in (1927, 2013), box
    finally:
        killer.close()


def test_kill_own_connection(px):
    c = px.connect()
    with pytest.raises(pymysql.err.OperationalError) as ei:
        with c.cursor() as cur:
            cur.execute("KILL %d" % c.thread_id())
    assert err_code(ei.value) in (1927, 2013), ei.value


def test_kill_unknown_id(px):
    c = px.connect()
    try:
        for sql in ("KILL QUERY 987654321", "KILL 987654320", "KILL CONNECTION 987654322"):
            with pytest.raises(pymysql.err.MySQLError) as ei:
                with c.cursor() as cur:
                    cur.execute(sql)
            assert err_code(ei.value) == 1094, ei.value
            assert "Unknown thread id" in str(ei.value)
        with c.cursor() as cur:
            cur.execute("SELECT 3")
            assert cur.fetchall() == ((3,),)
    finally:
        c.close()


def test_kill_of_another_users_connection_is_refused(px, other_user):
    victim = px.connect()
    other = px.connect(user=other_user, password=OTHER_PW)
    try:
        vid = victim.thread_id()
        for sql in ("KILL QUERY %d", "KILL %d"):
            with pytest.raises(pymysql.err.MySQLError) as ei:
                with other.cursor() as cur:
                    cur.execute(sql % vid)
            assert err_code(ei.value) == 1094, ei.value
        with victim.cursor() as cur:  # untouched
            cur.execute("SELECT 4")
            assert cur.fetchall() == ((4,),)
    finally:
        victim.close()
        other.close()


def test_kill_works_across_workers(px):
    """Ids interleave the workers: with 8 victims both workers own some."""
    victims = [px.connect() for _ in range(8)]
    killer = px.connect()
    try:
        workers = {v.thread_id() % 2 for v in victims}
        assert workers == {0, 1}, "all victims on one worker: %r" % [v.thread_id() for v in victims]
        for v in victims:
            with killer.cursor() as cur:
                cur.execute("KILL %d" % v.thread_id())
        time.sleep(0.3)
        for v in victims:
            with pytest.raises(pymysql.err.OperationalError):
                with v.cursor() as cur:
                    cur.execute("SELECT 1")
    finally:
        killer.close()


# ---- /metrics ----

LINE = re.compile(r'^(rwproxy_[a-zA-Z0-9_]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
                  r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(px):
    with urllib.request.urlopen(px.metrics_url + "/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    samples = {}
    types = {}
    for ln in text.splitlines():
        if not ln:
            continue
        if ln.startswith("#"):
            parts = ln.split(" ", 3)
            assert parts[1] in ("HELP", "TYPE"), ln
            assert parts[2].startswith("rwproxy_"), ln
            if parts[1] == "TYPE":
                assert parts[3] in ("counter", "gauge", "histogram"), ln
                types[parts[2]] = parts[3]
            continue
        m = LINE.match(ln)
        assert m, "unparsable metrics line: %r" % ln
        labels = tuple(sorted(LABEL.findall(m.group(3) or "")))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples, types


def total(samples, name, **want):
    return sum(v for (n, labels), v in samples.items()
               if n == name and all((k, str(x)) in labels for k, x in want.items()))


def test_metrics_parse_and_cover_the_servers(px, sandbox):
    samples, types = scrape(px)
    names = {n for n, _ in samples}
    for n in ("rwproxy_up", "rwproxy_uptime_seconds", "rwproxy_client_connections",
              "rwproxy_connections_accepted_total", "rwproxy_failovers_total",
              "rwproxy_writes_held_total", "rwproxy_reads_retried_total", "rwproxy_server_up",
              "rwproxy_server_role", "rwproxy_server_lag_seconds", "rwproxy_server_readable",
              "rwproxy_backend_connections", "rwproxy_queries_total", "rwproxy_query_errors_total",
              "rwproxy_query_duration_seconds_bucket", "rwproxy_query_duration_seconds_sum",
              "rwproxy_query_duration_seconds_count"):
        assert n in names, "%s missing from /metrics" % n
    assert types["rwproxy_query_duration_seconds"] == "histogram"
    assert samples[("rwproxy_up", ())] == 1
    for s in sandbox.servers:
        assert ("rwproxy_server_up", (("server", s.name),)) in samples
        assert total(samples, "rwproxy_server_role", server=s.name) == 1  # exactly one role
    assert total(samples, "rwproxy_server_role", role="master") == 1
    # histogram buckets are cumulative and end with +Inf == count
    for s in sandbox.servers:
        buckets = sorted(((float(dict(l)["le"]), v) for (n, l), v in samples.items()
                          if n == "rwproxy_query_duration_seconds_bucket" and dict(l)["server"] == s.name))
        assert buckets and buckets[-1][0] == float("inf")
        assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))
        assert buckets[-1][1] == samples[("rwproxy_query_duration_seconds_count", (("server", s.name),))]


def test_metrics_counters_follow_queries(px):
    before, _ = scrape(px)
    c = px.connect()
    try:
        with c.cursor() as cur:
            for i in range(20):
                cur.execute("SELECT %d" % i)  # replica reads
                cur.fetchall()
            cur.execute("CREATE TABLE IF NOT EXISTS stats_t (id INT PRIMARY KEY, v INT)")
            for i in range(5):
                cur.execute("REPLACE INTO stats_t VALUES (%d, %d)" % (i, i))
            with pytest.raises(pymysql.err.ProgrammingError):
                cur.execute("SELECT * FROM no_such_table_here")
    finally:
        c.close()
    after, _ = scrape(px)
    q = lambda s, **kw: total(s, "rwproxy_queries_total", **kw)  # noqa: E731
    assert q(after) - q(before) >= 26
    assert q(after, dest="replica") - q(before, dest="replica") >= 20
    assert q(after, dest="master") - q(before, dest="master") >= 6
    assert total(after, "rwproxy_query_errors_total") - total(before, "rwproxy_query_errors_total") >= 1
    count = lambda s: total(s, "rwproxy_query_duration_seconds_count")  # noqa: E731
    assert count(after) - count(before) >= 26
    assert total(after, "rwproxy_connections_accepted_total") > total(before, "rwproxy_connections_accepted_total")
    assert total(after, "rwproxy_client_bytes_received_total") > total(before, "rwproxy_client_bytes_received_total")


def test_metrics_other_paths_404(px):
    for path in ("/", "/metricsx", "/admin", "/metrics/extra"):
        with pytest.raises(urllib.error.HTTPError) as ei:
            urllib.request.urlopen(px.metrics_url + path, timeout=10)
        assert ei.value.code == 404, path
    req = urllib.request.Request(px.metrics_url + "/metrics", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(req, timeout=10)
    assert ei.value.code == 405


def test_metrics_bounded_request_and_slow_client(px):
    import socket
    port = int(px.metrics_url.rsplit(":", 1)[1])
    s = socket.create_connection((HOST, port), timeout=10)
    s.sendall(b"GET /metrics HTTP/1.1\r\nX-Junk: " + b"a" * 20000)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    s.close()
    assert data == b"" or data.startswith(b"HTTP/1.1 431"), data[:100]
    # a client that sends nothing is closed after the request timeout
    s = socket.create_connection((HOST, port), timeout=10)
    t0 = time.monotonic()
    assert s.recv(100) == b""
    assert time.monotonic() - t0 < 8
    s.close()
    samples, _ = scrape(px)  # still serving
    assert samples[("rwproxy_up", ())] == 1


# ---- what the admin port shows from proxy/stats.c (skipped while there is no admin port) ----

@pytest.fixture
def admin(px):
    try:
        c = pymysql.connect(host=HOST, port=px.proc.admin_port, user="admin", password="admin_pw",
                            connect_timeout=5, autocommit=True)
    except pymysql.err.MySQLError as e:
        pytest.skip("admin port not available: %s" % e)
    yield c
    c.close()


def admin_rows(admin, sql):
    with admin.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_admin_digests(px, admin):
    admin_rows(admin, "RESET DIGESTS")
    c = px.connect()
    try:
        with c.cursor() as cur:
            for i in range(7):
                cur.execute("SELECT id FROM (SELECT 1 AS id, 'x' AS v) d WHERE id IN (%d, %d, 3)  AND v = 'x%d'"
                            % (i, i + 1, i))
                cur.fetchall()
    finally:
        c.close()
    rows = admin_rows(admin, "SHOW DIGESTS")
    want = "SELECT id FROM (SELECT ? AS id, ? AS v) d WHERE id IN (...) AND v = ?"
    mine = [r for r in rows if r["digest"] == want]
    assert mine, rows
    r = mine[0]
    assert int(r["count"]) == 7
    assert int(r["replica"]) + int(r["master"]) == 7
    assert float(r["min_ms"]) <= float(r["max_ms"]) <= float(r["total_ms"])
    admin_rows(admin, "RESET DIGESTS")
    assert not [r for r in admin_rows(admin, "SHOW DIGESTS") if r["digest"] == want]


def test_admin_sessions_pools_stats_kill(px, admin):
    c = px.connect()
    try:
        cid = c.thread_id()
        t, box = start_sleep(c, 3)
        time.sleep(0.5)
        sessions = {int(r["id"]): r for r in admin_rows(admin, "SHOW SESSIONS")}
        assert cid in sessions, sessions
        s = sessions[cid]
        assert s["user"] == "app" and s["schema"] == "test"
        assert s["state"] == "query" and s["statement"] == "SELECT SLEEP(3)", s
        assert s["backends"], s
        t.join(10)
        pools = admin_rows(admin, "SHOW POOLS")
        assert {r["worker"] for r in pools} == {"0", "1"}
        assert sum(int(r["opened"]) for r in pools) >= 1
        stats = {r["name"]: r["value"] for r in admin_rows(admin, "SHOW STATS")}
        for k in ("uptime_s", "connections_accepted", "queries", "queries_master",
                  "queries_replica", "bytes_in", "bytes_out"):
            assert k in stats and int(stats[k]) >= 0, (k, stats)
        assert int(stats["queries_replica"]) > 0
        admin_rows(admin, "KILL SESSION %d" % cid)
        with pytest.raises(pymysql.err.OperationalError):
            with c.cursor() as cur:
                cur.execute("SELECT 1")
        with pytest.raises(pymysql.err.MySQLError) as ei:
            admin_rows(admin, "KILL SESSION 987654321")
        assert err_code(ei.value) == 1094
    finally:
        c.close()
