"""
tests/e2e/test_tomcat.py — rwproxy under a real Tomcat/JDBC application (issue 8).

A real Tomcat 10 (Debian's tomcat10, CATALINA_HOME=/usr/share/tomcat10) runs the example shop
of tests/e2e/tomcat/ (servlets compiled at test time against tomcat10's servlet API, deployed
exploded by tomcat/make-base.sh) in its own CATALINA_BASE on a free port. The shop gets its
connections from the JNDI DataSource java:comp/env/jdbc/app: Tomcat's DBCP2 pool over MariaDB
Connector/J (libmariadb-java) with a jdbc:mysql:// URL pointing at rwproxy (all routing
defaults: consistency = global), in front of a private sandbox (master + 2 replicas).
The test drives the shop over HTTP (urllib) and checks ON THE SERVERS DIRECTLY where each
statement ran: every statement of the shop starts with a tag comment ("e2e:insert-order",
"e2e:txn-read", "e2e:get", "e2e:list", "e2e:report", ...), and each server's general log (to
the table mysql.general_log, on for this module only) shows which server received which tag
from the app user.

Asserted:
- orders created in a transaction (insert order + lines, a read of the lines inside the
  transaction, update, commit): the inserts, the update and the in-transaction read ran on the
  master only; the rows are on the master;
- an order read right after its creation, usually on another pooled connection (the pool hands
  out idle connections oldest first), is always found with all its lines (read-your-writes);
- list and report reads, once the replicas have caught up, run on the replicas only;
- the same traffic from several client threads through two admin-port switchovers
  (`SWITCHOVER`, then `SWITCHOVER TO` the first master): no failed HTTP request (the shop
  itself answers 500 if the read inside an order transaction misses the lines it wrote),
  every order found right after creation, every order inserted exactly once and on the master
  in effect when it was sent (so the new master receives the writes after each switchover),
  every order on the final master;
- a long-lived pool (AGED_TXNS order transactions on every pooled connection, each wrapped by
  Connector/J in SET autocommit=0 / =1) still gets its list and report reads on the replicas,
  and a switchover is still a pause for it, not an error.

RWP_E2E_PROXY_EXTRA (optional): INI text appended to rwproxy's config, e.g. to watch the test
fail with "[routing]\nconsistency = eventual\n" (reads right after a write may then miss).

Owns: a temp dir (sandbox, rwproxy config and log, CATALINA_BASE), removed when every test
passed (unless RWP_KEEP_TMP is set); the sandbox servers, rwproxy and Tomcat processes it
starts, stopped by PID even on failure. No timing assertion: every wait is a bounded hang-guard.
"""
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pymysql
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "sandbox"))

import sandbox as sb  # noqa: E402

RWPROXY_BIN = os.environ.get("RWPROXY_BIN") or os.path.join(REPO, "build", "bin", "rwproxy")
CATALINA_HOME = "/usr/share/tomcat10"
MAKE_BASE = os.path.join(HERE, "tomcat", "make-base.sh")
DB = "test"
ADMIN_USER, ADMIN_PW = "admin", "admin_pw"

PAIRS = 200              # create + immediate read, one client
READS = 20               # list and report requests once the replicas caught up
CLIENTS = 4              # client threads during the switchover
BEFORE_SWITCH = 40       # orders created before the switchover starts
AFTER_SWITCH = 40        # orders created after it returned
AGED_TXNS = 300          # order transactions per pooled connection for the long-lived pool test
HTTP_TIMEOUT = 120       # seconds, per request (hang-guard)
TAG_RE = re.compile(r"e2e:([a-z-]+)")

KEEP = {"reason": None}  # set when a teardown found a problem: keep the temp dir


def tail(path, nbytes=6000):
    """The end of a text file ('' if missing)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - nbytes))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


# ======================================================================= processes

class Tomcat:
    """A Tomcat 10 started with `catalina.sh run` (which execs the JVM: the child's PID is
    Tomcat's) on a CATALINA_BASE made by make-base.sh."""

    def __init__(self, base, port):
        self.base = base                          # CATALINA_BASE
        self.port = port                          # HTTP port on 127.0.0.1
        self.url = "http://127.0.0.1:%d/shop" % port  # the shop's root URL
        self.console = os.path.join(base, "logs", "console.log")  # stdout+stderr of the JVM
        self.proc = None                          # subprocess.Popen

    def start(self):
        env = dict(os.environ, CATALINA_HOME=CATALINA_HOME, CATALINA_BASE=self.base,
                   CATALINA_TMPDIR=os.path.join(self.base, "temp"),
                   JAVA_OPTS="-Xmx256m -Djava.awt.headless=true")
        env.pop("CATALINA_PID", None)
        with open(self.console, "ab") as out:
            self.proc = subprocess.Popen([os.path.join(CATALINA_HOME, "bin", "catalina.sh"), "run"],
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, env=env, cwd=self.base,
                                         start_new_session=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=240):
        """Until GET /shop/orders?limit=1 answers 200 (the webapp deployed, its schema created
        through rwproxy); raise with the logs if Tomcat exits or the time runs out."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError("Tomcat exited (%s) during start-up\n%s" % (
                    self.proc.returncode, self.logs()))
            try:
                status, body = http_request("GET", self.url + "/orders?limit=1", timeout=10)
                if status == 200:
                    return
                last = (status, body)
            except OSError as e:
                last = e
            time.sleep(0.25)
        raise RuntimeError("the shop did not answer within %ds (last: %r)\n%s" % (
            timeout, last, self.logs()))

    def stop(self, timeout=30):
        """SIGTERM (Tomcat's shutdown hook stops it), then SIGKILL; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def logs(self, nbytes=4000):
        """The tails of every file in logs/ (for failure messages)."""
        d = os.path.join(self.base, "logs")
        parts = []
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            parts.append("--- %s:\n%s" % (name, tail(os.path.join(d, name), nbytes)))
        return "\n".join(parts) or "(no Tomcat logs)"


# ======================================================================= HTTP

def http_request(method, url, data=None, timeout=HTTP_TIMEOUT):
    """(status, parsed JSON body or text) of one request; connection errors raise OSError."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def order_lines(i):
    """The deterministic lines of the i-th order: 1 to 3 lines."""
    n = 1 + i % 3
    return ",".join("SKU-%d:%d:%d.%02d" % ((i + k) % 7, 1 + k, 1 + (i + k) % 20, (i * 7 + k) % 100)
                    for k in range(n)), n


class Shop:
    """The shop's HTTP endpoints."""

    def __init__(self, url):
        self.url = url  # http://127.0.0.1:PORT/shop

    def create(self, customer, lines):
        return http_request("POST", self.url + "/orders", {"customer": customer, "lines": lines})

    def get(self, oid):
        return http_request("GET", "%s/orders/%d" % (self.url, oid))

    def list(self, limit=50):
        return http_request("GET", "%s/orders?limit=%d" % (self.url, limit))

    def report(self):
        return http_request("GET", self.url + "/report")


# ======================================================================= general log

def glog_enable(servers):
    for s in servers:
        s.execute(["SET GLOBAL log_output = 'TABLE'", "SET GLOBAL general_log = ON"])


def glog_disable(servers):
    for s in servers:
        if s.alive():
            s.execute(["SET GLOBAL general_log = OFF", "SET SESSION sql_log_bin = 0",
                       "TRUNCATE TABLE mysql.general_log"])


def glog_reset(servers):
    """Empty every server's general log (never binlogged)."""
    for s in servers:
        s.execute(["SET SESSION sql_log_bin = 0", "TRUNCATE TABLE mysql.general_log"])


def glog_statements(server):
    """The app user's tagged statements in server's general log: [(tag, text)]."""
    rows = server.query("SELECT argument FROM mysql.general_log WHERE user_host LIKE 'app[%' "
                        "AND command_type = 'Query'")
    out = []
    for (arg,) in rows:
        text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
        m = TAG_RE.search(text)
        if m:
            out.append((m.group(1), text))
    return out


def glog_tags(servers):
    """{server name: Counter(tag -> statements)} for the app user's tagged statements."""
    return {s.name: collections.Counter(tag for tag, _ in glog_statements(s)) for s in servers}


def where(counts, tag):
    """{server name: count of tag} (for messages)."""
    return {name: c.get(tag, 0) for name, c in counts.items()}


# ======================================================================= fixtures

@pytest.fixture(scope="module")
def workdir(request):
    d = tempfile.mkdtemp(prefix="rwp-e2e-")
    yield d
    failed = request.session.testsfailed
    if failed or KEEP["reason"] or os.environ.get("RWP_KEEP_TMP"):
        sys.stderr.write("\ne2e: keeping %s for inspection\n" % d)
    else:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def box(workdir):
    b = sb.Sandbox(os.path.join(workdir, "sandbox"))
    try:
        b.start()
        glog_enable(b.servers)
        yield b
    finally:
        try:
            glog_disable(b.servers)
        except pymysql.err.MySQLError:
            pass
        b.stop()


@pytest.fixture(scope="module")
def proxy(box, workdir):
    if not os.path.exists(RWPROXY_BIN):
        pytest.fail("rwproxy binary not found at %s (set RWPROXY_BIN or run make)" % RWPROXY_BIN)
    cfg = os.path.join(workdir, "rwproxy.ini")
    # No metrics endpoint: its default port 9104 may belong to the `make run` rwproxy.
    extra = "[admin]\nmetrics_listen = off\n" + os.environ.get("RWP_E2E_PROXY_EXTRA", "")
    sb.write_proxy_config(cfg, box, sb.free_port(), sb.free_port(), extra=extra)
    proc = sb.ProxyProcess(RWPROXY_BIN, cfg, os.path.join(workdir, "rwproxy.log"))
    proc.start()
    try:
        yield proc
    finally:
        was_alive = proc.alive()
        rc = proc.stop(signal.SIGTERM)
        if not was_alive or rc != 0:
            KEEP["reason"] = "rwproxy exit %s" % rc
    assert was_alive and rc == 0, "rwproxy exited %s (alive at the end: %s); log tail:\n%s" % (
        rc, was_alive, tail(proc.log_path))


@pytest.fixture(scope="module")
def tomcat(proxy, workdir):
    for path, pkg in ((os.path.join(CATALINA_HOME, "bin", "catalina.sh"), "tomcat10"),
                      ("/usr/share/java/mariadb-java-client.jar", "libmariadb-java")):
        if not os.path.exists(path):
            pytest.fail("%s missing: install %s (make deps)" % (path, pkg), pytrace=False)
    base = os.path.join(workdir, "tomcat")
    port = sb.free_port()
    url = "jdbc:mysql://127.0.0.1:%d/%s?permitMysqlScheme" % (proxy.port, DB)
    p = subprocess.run(["bash", MAKE_BASE, base, str(port), url, "app", "app_pw"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, "make-base.sh failed:\n%s%s" % (p.stdout, p.stderr)
    tc = Tomcat(base, port)
    tc.start()
    try:
        tc.wait_ready()
        yield tc
    finally:
        rc = tc.stop()
        if rc not in (0, 143):
            KEEP["reason"] = "tomcat exit %s" % rc


@pytest.fixture(scope="module")
def shop(tomcat):
    return Shop(tomcat.url)


def diag(box, proxy, tomcat, extra=""):
    """Sandbox state, rwproxy's warnings/errors and log tail, Tomcat's logs."""
    log = tail(proxy.log_path, 20000)
    bad = [ln for ln in log.splitlines() if "WARN" in ln or "ERROR" in ln][-30:]
    return "\n".join([extra, "--- sandbox:", box.describe(),
                      "--- rwproxy warnings/errors (last 30):", "\n".join(bad) or "(none)",
                      "--- rwproxy log tail:", "\n".join(log.splitlines()[-40:]),
                      "--- tomcat:", tomcat.logs(2000)])


# ======================================================================= tests

def test_orders_written_on_master_and_read_back_at_once(box, proxy, tomcat, shop):
    """PAIRS orders, each read back by id right after its creation: always found, complete;
    inserts, update and the in-transaction read on the master only."""
    master = box.current_master()
    assert master is not None, box.describe()
    glog_reset(box.servers)
    missing, wrong, other_conn, lines_total, created, conns = [], [], 0, 0, {}, set()
    for i in range(PAIRS):
        lines, n = order_lines(i)
        st, o = shop.create("rw-%d" % i, lines)
        assert st == 201, diag(box, proxy, tomcat, "create #%d: HTTP %s %r" % (i, st, o))
        assert o["lines"] == n, o
        created[o["id"]] = o
        lines_total += n
        st, g = shop.get(o["id"])
        if st == 404:
            missing.append((i, o["id"]))
            continue
        assert st == 200, diag(box, proxy, tomcat, "read #%d: HTTP %s %r" % (i, st, g))
        if (g["customer"], len(g["lines"]), g["line_count"], g["total"]) != ("rw-%d" % i, n, n, o["total"]):
            wrong.append((i, o, g))
        other_conn += g["conn"] != o["conn"]
        conns.update((o["conn"], g["conn"]))
    counts = glog_tags(box.servers)
    print("E2E-METRIC pairs=%d read_on_other_pooled_connection=%d physical_connections=%d "
          "get_by_server=%s" % (PAIRS, other_conn, len(conns), where(counts, "get")))
    assert not missing and not wrong, diag(box, proxy, tomcat,
        "read-your-writes broken: %d of %d orders not found right after creation %s, %d "
        "incomplete %s" % (len(missing), PAIRS, missing[:10], len(wrong), wrong[:3]))
    # The pool hands out the oldest idle connection: the read came from another connection.
    assert other_conn >= PAIRS // 2, "only %d of %d reads used another pooled connection" % (
        other_conn, PAIRS)

    want = {"insert-order": PAIRS, "insert-line": lines_total, "update-total": PAIRS,
            "txn-read": PAIRS}
    for tag, n in want.items():
        got = where(counts, tag)
        assert got[master.name] == n and sum(got.values()) == n, diag(
            box, proxy, tomcat, "%s statements per server %s; want %d, all on the master %s"
            % (tag, got, n, master.name))
    assert sum(where(counts, "get").values()) == PAIRS, where(counts, "get")

    rows = master.query("SELECT id, customer, line_count, total FROM test.shop_orders "
                        "WHERE customer LIKE 'rw-%'")
    assert len(rows) == PAIRS, "master has %d rw- orders, want %d" % (len(rows), PAIRS)
    for oid, customer, n, total in rows:
        o = created[oid]
        assert (customer, n, "%.2f" % total) == (o["customer"], o["lines"], o["total"]), (oid, o)


def test_list_and_report_read_on_replicas(box, proxy, tomcat, shop):
    """Once the replicas have every order: list and report statements run on replicas only,
    and see every order."""
    master = box.current_master()
    box.wait_replicas_caught_up(master=master, replicas=[s for s in box.servers if s is not master])
    n_orders, newest = master.query("SELECT COUNT(*), MAX(id) FROM test.shop_orders")[0]
    glog_reset(box.servers)
    for _ in range(READS):
        st, lst = shop.list(limit=10)
        assert st == 200 and lst["orders"][0]["id"] == newest, (st, lst)
        st, rep = shop.report()
        assert st == 200 and rep["orders"] == n_orders, (st, rep)
    counts = glog_tags(box.servers)
    listed, reported = where(counts, "list"), where(counts, "report")
    print("E2E-METRIC list_by_server=%s report_by_server=%s" % (listed, reported))
    assert listed[master.name] == 0 and sum(listed.values()) == READS, diag(
        box, proxy, tomcat, "list reads per server %s: want %d, none on the master %s" % (
            listed, READS, master.name))
    assert reported[master.name] == 0 and sum(reported.values()) == 2 * READS, diag(
        box, proxy, tomcat, "report reads per server %s: want %d, none on the master %s" % (
            reported, 2 * READS, master.name))


Order = collections.namedtuple("Order", "id customer phase sent answered")
Switch = collections.namedtuple("Switch", "sent returned master info")


def expected_masters(order, first, switches):
    """The servers that may have run the order's insert: the master in effect when its POST
    was sent, or also the next one if a switchover started before the POST was answered (a
    write held during a switchover is released to the new master)."""
    k = sum(1 for sw in switches if sw.returned < order.sent)
    masters = [first] + [sw.master for sw in switches]
    if k < len(switches) and switches[k].sent < order.answered:
        return {masters[k].name, masters[k + 1].name}
    return {masters[k].name}


class Traffic:
    """CLIENTS threads, each looping: create an order, read it back at once, and every few
    rounds a list or a report. Every failed request is recorded, none is retried. Each order
    records the phase current when its request started ("before", "sw1", "sw2") and when its
    POST was sent and answered (time.monotonic())."""

    def __init__(self, shop):
        self.shop = shop                    # Shop
        self.stop = threading.Event()       # set to end the loops
        self.lock = threading.Lock()        # guards phase and the lists and counters below
        self.phase = "before"               # set by the test after each switchover
        self.created = []                   # [Order]
        self.errors = []                    # [(thread, what, status or exception, body)]
        self.missing = []                   # [(thread, order id)] not found right after creation
        self.requests = 0                   # requests sent
        self.threads = []                   # threading.Thread

    def set_phase(self, phase):
        with self.lock:
            self.phase = phase

    def count(self, phase):
        with self.lock:
            return sum(1 for o in self.created if o.phase == phase)

    def _call(self, fn, *args):
        """(status, body) of fn(*args); a connection error's exception as the status."""
        try:
            st, body = fn(*args)
        except OSError as e:
            st, body = e, None
        with self.lock:
            self.requests += 1
        return st, body

    def _fail(self, t, what, st, body):
        with self.lock:
            self.errors.append((t, what, st, body))

    def _run(self, t):
        for i in range(100000):  # bounded; stop is the normal end
            if self.stop.is_set():
                return
            with self.lock:
                phase = self.phase
            lines, n = order_lines(i)
            customer = "t%d-%d" % (t, i)
            t_sent = time.monotonic()
            st, o = self._call(self.shop.create, customer, lines)
            if st != 201:
                self._fail(t, "create", st, o)
                continue
            with self.lock:
                self.created.append(Order(o["id"], customer, phase, t_sent, time.monotonic()))
            st, g = self._call(self.shop.get, o["id"])
            if st == 404:
                with self.lock:
                    self.missing.append((t, o["id"]))
            elif st != 200 or len(g["lines"]) != n:
                self._fail(t, "get", st, g)
            if i % 3 == 0:
                st, body = self._call(self.shop.list)
                if st != 200:
                    self._fail(t, "list", st, body)
            if i % 5 == 0:
                st, body = self._call(self.shop.report)
                if st != 200:
                    self._fail(t, "report", st, body)

    def start(self):
        for t in range(CLIENTS):
            th = threading.Thread(target=self._run, args=(t,), daemon=True)
            th.start()
            self.threads.append(th)

    def wait_for(self, phase, n, timeout=300):
        """Until n orders of phase exist (or the threads died, or timeout); returns the count."""
        deadline = time.monotonic() + timeout
        while self.count(phase) < n and time.monotonic() < deadline:
            if not any(th.is_alive() for th in self.threads):
                break
            time.sleep(0.05)
        return self.count(phase)

    def finish(self):
        self.stop.set()
        for th in self.threads:
            th.join(timeout=HTTP_TIMEOUT + 30)
        return not any(th.is_alive() for th in self.threads)


def switchover(proxy, target=None):
    """SWITCHOVER [TO target] on the admin port; returns its OK info text."""
    c = pymysql.connect(host="127.0.0.1", port=proxy.admin_port, user=ADMIN_USER,
                        password=ADMIN_PW, connect_timeout=10, read_timeout=300)
    try:
        with c.cursor() as cur:
            cur.execute("SWITCHOVER" + (" TO " + target if target else ""))
            res = getattr(cur, "_result", None)
            msg = bytes(getattr(res, "message", b"") or b"")
            if msg and msg[0] == len(msg) - 1:  # the info is length-prefixed, as servers send it
                msg = msg[1:]
            return msg.decode("utf-8", "replace")
    finally:
        c.close()


def traffic_through_switchovers(box, proxy, tomcat, shop, targets):
    """CLIENTS threads of shop traffic through one SWITCHOVER per entry of targets (None: the
    best candidate, else TO that server), AFTER_SWITCH orders after each. Returns
    (problems, first master, [Switch], Traffic): problems lists what went wrong (failed requests,
    orders not found at once, orders not inserted exactly once on the master in effect when
    their POST was sent, or the next one if a switchover started before it was answered, orders
    missing on the final master), empty when all went well."""
    first = box.current_master()
    assert first is not None, box.describe()
    glog_reset(box.servers)
    traffic = Traffic(shop)
    traffic.start()
    switches = []  # [Switch]
    try:
        got = traffic.wait_for("before", BEFORE_SWITCH)
        assert got >= BEFORE_SWITCH, diag(box, proxy, tomcat, "only %d orders before the "
                                          "switchover, errors %r" % (got, traffic.errors[:5]))
        for k, target in enumerate(targets, 1):
            sent = time.monotonic()
            info = switchover(proxy, target)
            returned = time.monotonic()
            switches.append(Switch(sent, returned, box.current_master(), info))
            traffic.set_phase("sw%d" % k)
            got = traffic.wait_for("sw%d" % k, AFTER_SWITCH)
            assert got >= AFTER_SWITCH, diag(box, proxy, tomcat, "only %d orders after the "
                                             "switchover %r" % (got, info))
    finally:
        stopped = traffic.finish()
    assert stopped, "client threads still running after the stop"
    print("E2E-METRIC switchovers=%r requests=%d orders=%s" % (
        [(sw.info, "%.3f s" % (sw.returned - sw.sent), sw.master and sw.master.name)
         for sw in switches], traffic.requests,
        {p: traffic.count(p) for p in ["before"] + ["sw%d" % k for k in range(1, len(targets) + 1)]}))
    problems = []
    if traffic.errors or traffic.missing:
        problems.append("%d failed requests %r; %d orders not found right after creation %r" % (
            len(traffic.errors), traffic.errors[:10], len(traffic.missing), traffic.missing[:10]))
    if any(sw.master is None for sw in switches):
        problems.append("no single writable server after a switchover: %r" % (switches,))
        return problems, first, switches, traffic
    inserted = collections.defaultdict(list)  # customer -> [server name] that ran its insert
    for srv in box.servers:
        for tag, text in glog_statements(srv):
            m = re.search(r"'(t\d+-\d+)'", text)
            if tag == "insert-order" and m:
                inserted[m.group(1)].append(srv.name)
    wrong = []
    for o in traffic.created:
        want = expected_masters(o, first, switches)
        if len(inserted[o.customer]) != 1 or inserted[o.customer][0] not in want:
            wrong.append((o, inserted[o.customer], sorted(want)))
    if wrong:
        problems.append("%d of %d orders not inserted exactly once on the master in effect: %r" % (
            len(wrong), len(traffic.created), wrong[:10]))
    final = switches[-1].master
    ids = [o.id for o in traffic.created]
    have = final.query("SELECT COUNT(*) FROM test.shop_orders WHERE id IN (%s)" %
                       ",".join(str(i) for i in ids))[0][0]
    if have != len(ids):
        problems.append("the final master %s has %d of the %d orders created" % (
            final.name, have, len(ids)))
    return problems, first, switches, traffic


def test_switchover_under_traffic(box, proxy, tomcat, shop):
    """Shop traffic through two SWITCHOVERs (to the best candidate, then back to the first
    master): no failed request, every order found at once, every order inserted exactly once
    on the master in effect, every order on the final master."""
    first = box.current_master()
    problems, first, (sw1, sw2), _ = traffic_through_switchovers(
        box, proxy, tomcat, shop, [None, first.name])
    assert not problems, diag(box, proxy, tomcat, "during the switchovers: " + "\n".join(problems))
    assert sw1.master is not first, diag(
        box, proxy, tomcat, "after SWITCHOVER (%r) the writable server is still %s" % (
            sw1.info, first.name))
    assert sw2.master is first, diag(
        box, proxy, tomcat, "after SWITCHOVER TO %s (%r) the writable server is %s" % (
            first.name, sw2.info, sw2.master.name))


# Connector/J wraps every transaction in SET autocommit=0 / =1: the session history keeps only
# the newest of consecutive autocommit SETs (router/session.c rwr_is_autocommit_set), so a
# long-lived pooled connection is never pinned to the master by a history that grew too long.
def test_long_lived_pool_keeps_splitting(box, proxy, tomcat, shop):
    """A pool's connections live long: after AGED_TXNS order transactions on every pooled
    connection (Connector/J sends SET autocommit=0 / =1 around each), list and report reads
    still run on the replicas only, and a SWITCHOVER under traffic is still a pause, not an
    error."""
    per_conn = collections.Counter()  # physical connection id -> orders created on it
    for i in range(AGED_TXNS * 20):  # bounded; normally ends when every connection is aged
        st, o = shop.create("aged-%d" % i, "A-1:1:1.00")
        assert st == 201, diag(box, proxy, tomcat, "create aged-%d: HTTP %s %r" % (i, st, o))
        per_conn[o["conn"]] += 1
        if len(per_conn) >= 2 and min(per_conn.values()) >= AGED_TXNS:
            break
    print("E2E-METRIC aged_connections=%s" % dict(per_conn))
    assert min(per_conn.values()) >= AGED_TXNS, per_conn

    master = box.current_master()
    box.wait_replicas_caught_up(master=master, replicas=[s for s in box.servers if s is not master])
    glog_reset(box.servers)
    for _ in range(READS):
        for call in (shop.list, shop.report):
            st, body = call()
            assert st == 200, (st, body)
    counts = glog_tags(box.servers)
    listed, reported = where(counts, "list"), where(counts, "report")
    print("E2E-METRIC aged list_by_server=%s report_by_server=%s" % (listed, reported))
    problems = []
    if listed[master.name] or reported[master.name]:
        problems.append("after %d+ transactions per pooled connection, list reads per server %s "
                        "and report reads %s: some on the master %s (rwproxy pinned the sessions "
                        "to the master?)" % (AGED_TXNS, listed, reported, master.name))
    sw_problems, first, (sw1,), _ = traffic_through_switchovers(box, proxy, tomcat, shop, [None])
    problems += ["switchover with aged pooled connections: " + p for p in sw_problems]
    assert not problems, diag(box, proxy, tomcat, "\n".join(problems))
    assert sw1.master is not first, "after SWITCHOVER the writable server is still %s" % first.name
