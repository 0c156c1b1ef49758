"""
tests/integration/failover_util.py — helpers of test_failover.py: bounded waits, private
rwproxy processes with failover settings, a TCP relay that can cut rwproxy's path to one
server, writer threads that record every acknowledged id with its timestamps, a reader that
records which server answered and how long it took, log greps, and the metric lines
(`FAILOVER-METRIC ...`, shown with pytest -s).

Everything here is bounded in time and stops what it starts (threads joined with a timeout,
sockets closed, processes stopped by PID).
"""
import itertools
import os
import re
import signal
import socket
import sys
import threading
import time

import pymysql

import sandbox as sb
from conftest import HOST, RWPROXY_BIN, log_tail, pymysql_connect

METRIC = "FAILOVER-METRIC"

# Monitor settings of the failover tests (the brief: 250 ms checks, 3 failures, no cooldown).
INTERVAL_MS = 250
FAILCOUNT = 3
MONITOR_EXTRA = ("[monitor]\ninterval_ms = %d\nconnect_timeout_ms = 1000\nfailcount = %d\n"
                 "auto_failover = on\nauto_rejoin = on\nenforce_read_only = on\n"
                 "failover_cooldown_s = 0\n" % (INTERVAL_MS, FAILCOUNT))
HOLD_MS = 8000
FAILOVER_EXTRA = "[failover]\nhold_ms = %d\nswitchover_hold_ms = %d\n" % (HOLD_MS, HOLD_MS)


def metric(text):
    """Print one metric line (visible with pytest -s; also kept in the captured stdout)."""
    line = "%s %s" % (METRIC, text)
    print(line)
    sys.stdout.flush()
    return line


def wait_until(pred, timeout, what, interval=0.05, diag=None):
    """Poll pred() until it returns a true value (returned); after timeout seconds raise
    AssertionError naming what, plus diag() if given. Exceptions of pred count as false
    (the last one is reported)."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - servers may be down/restarting while polled
            last_exc = e
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    msg = "gave up after %ss waiting for %s" % (timeout, what)
    if last_exc is not None:
        msg += " (last error: %r)" % (last_exc,)
    if diag is not None:
        try:
            msg += "\n" + diag()
        except Exception as e:  # noqa: BLE001
            msg += "\n(diagnostics failed: %r)" % (e,)
    raise AssertionError(msg)


# ======================================================================= rwproxy

class _Endpoint:
    """What write_proxy_config needs of a server: a name and a port."""

    def __init__(self, name, port):
        self.name = name  # section name after "server."
        self.port = port  # TCP port rwproxy connects to


class _Box:
    def __init__(self, servers):
        self.servers = servers  # [_Endpoint or sb.Server]


_SEQ = itertools.count(1)


class FoProxy:
    """A private rwproxy process of the failover tests."""

    def __init__(self, proc, name):
        self.proc = proc        # sb.ProxyProcess
        self.name = name        # label for messages
        self.port = proc.port   # client port
        self.pid = proc.pid     # process id (signals go here)

    def connect(self, **kw):
        kw.setdefault("connect_timeout", 5)
        kw.setdefault("read_timeout", 30)
        kw.setdefault("write_timeout", 30)
        return pymysql_connect(self.port, **kw)

    def alive(self):
        return self.proc.alive()

    def log(self):
        return self.proc.log_text()

    def tail(self, n=80):
        state = "alive" if self.alive() else "DEAD (exit %s)" % self.proc.proc.returncode
        return "--- rwproxy %s (%s, log %s), last %d lines:\n%s" % (
            self.name, state, self.proc.log_path, n, log_tail(self.log(), n))

    def signal(self, sig):
        os.kill(self.pid, sig)

    def stop(self):
        """SIGTERM (SIGKILL after 15 s); returns the exit code."""
        return self.proc.stop(signal.SIGTERM)


def start_proxy(box, workdir, name, extra="", servers=None, log_level="info", threads=2,
                registry=None):
    """Start rwproxy for the sandbox box (or for servers = [(name, port)]) with the failover
    monitor settings plus extra; registry: a list the caller's fixture stops at teardown."""
    if not os.path.exists(RWPROXY_BIN):
        raise AssertionError("rwproxy binary not found at %s (run make)" % RWPROXY_BIN)
    base = os.path.join(workdir, "%s-%d" % (name, next(_SEQ)))
    target = box if servers is None else _Box([_Endpoint(n, p) for n, p in servers])
    text = ("[proxy]\nlog_level = %s\n" % log_level) + MONITOR_EXTRA + FAILOVER_EXTRA + extra
    sb.write_proxy_config(base + ".ini", target, sb.free_port(), sb.free_port(), threads=threads,
                          extra=text)
    proc = sb.ProxyProcess(RWPROXY_BIN, base + ".ini", base + ".log")
    px = FoProxy(proc, name)
    if registry is not None:
        registry.append(px)
    proc.start()
    px.pid = proc.pid
    return px


def log_lines(px, pattern, since=0):
    """Lines of px's log (from byte offset since) matching the regex pattern (case-insensitive)."""
    rx = re.compile(pattern, re.I)
    return [ln for ln in px.log()[since:].splitlines() if rx.search(ln)]


# Log lines that mention a promotion without claiming to have done it.
_NOT_MINE = re.compile(r"another|other (rwproxy|instance|proxy)|observ|follow|not |n't|"
                       r"skip|cannot|refus|elsewhere|without|no majority|no candidate|would",
                       re.I)


def promotion_claims(px, since=0):
    """Lines where px says it promoted (or is promoting) a server itself (loose grep:
    'promot' without words of another instance, a lock or a refusal)."""
    return [ln for ln in log_lines(px, r"promot", since) if not _NOT_MINE.search(ln)]


# ======================================================================= TCP relay

class TcpRelay:
    """Forwards 127.0.0.1:port to 127.0.0.1:target (threads). stop() closes the listener and
    every relayed connection; start() listens again on the same port."""

    def __init__(self, target_port, port=None):
        self.target_port = target_port    # the real server's port
        self.port = port or sb.free_port()  # where rwproxy connects
        self._lsock = None                # listening socket while running
        self._thread = None               # accept thread
        self._running = False             # accept loop flag
        self._lock = threading.Lock()     # guards _conns
        self._conns = set()               # open sockets (both sides of every relayed link)
        self._threads = []                # pump threads
        self.accepted = 0                 # connections accepted over the relay's life

    def start(self, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                ls.bind((HOST, self.port))
                break
            except OSError:
                ls.close()
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)
        ls.listen(128)
        ls.settimeout(0.1)
        self._lsock = ls
        self._running = True
        self._thread = threading.Thread(target=self._accept_loop, name="relay-accept",
                                        daemon=True)
        self._thread.start()
        return self

    def _accept_loop(self):
        ls = self._lsock
        while self._running:
            try:
                client, _ = ls.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            self.accepted += 1
            try:
                upstream = socket.create_connection((HOST, self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if not self._running:
                    client.close()
                    upstream.close()
                    break
                self._conns.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                t = threading.Thread(target=self._pump, args=(a, b), name="relay-pump",
                                     daemon=True)
                self._threads.append(t)
                t.start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        """Close the listener and every relayed connection; join the threads (bounded)."""
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._lsock is not None:
            self._lsock.close()
            self._lsock = None
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=5)
        self._threads = [t for t in self._threads if t.is_alive()]
        for s in conns:
            try:
                s.close()
            except OSError:
                pass


# ======================================================================= writers

class Write:
    """One attempted write: id, send and completion times (monotonic), ok, error."""
    __slots__ = ("id", "t_send", "t_done", "ok", "err")

    def __init__(self, wid, t_send, t_done, ok, err):
        self.id, self.t_send, self.t_done, self.ok, self.err = wid, t_send, t_done, ok, err


class SeqWriter:
    """A thread inserting sequential ids (INSERT INTO table(id) VALUES (n)) through one
    autocommit connection to port, reconnecting on error; every attempt is recorded.
    pause: seconds to sleep between writes (0: as fast as possible)."""

    def __init__(self, port, table, first_id, pause=0.0, read_timeout=30):
        self.port = port                # rwproxy client port
        self.table = table              # e.g. "test.fo_writes"
        self.next_id = first_id         # next id to try
        self.first_id = first_id        # first id of this writer
        self.pause = pause              # sleep between writes
        self.read_timeout = read_timeout  # hang-guard of one statement
        self.writes = []                # [Write], in order
        self.connects = 0               # successful (re)connections
        self.connect_errors = []        # (time, repr) of failed connection attempts
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="seq-writer", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _connect(self):
        while not self._stop.is_set():
            try:
                c = pymysql_connect(self.port, connect_timeout=5, read_timeout=self.read_timeout,
                                    write_timeout=self.read_timeout)
                self.connects += 1
                return c
            except Exception as e:  # noqa: BLE001
                self.connect_errors.append((time.monotonic(), repr(e)))
                time.sleep(0.02)
        return None

    def _run(self):
        conn = None
        while not self._stop.is_set():
            if conn is None:
                conn = self._connect()
                if conn is None:
                    break
            wid = self.next_id
            self.next_id += 1
            t0 = time.monotonic()
            try:
                self._write(conn, wid)
                self.writes.append(Write(wid, t0, time.monotonic(), True, None))
            except Exception as e:  # noqa: BLE001 - every failure is recorded, then reconnect
                code = e.args[0] if isinstance(e, pymysql.err.MySQLError) and e.args else None
                self.writes.append(Write(wid, t0, time.monotonic(), False, (code, str(e))))
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass
                conn = None
            if self.pause:
                self._stop.wait(self.pause)
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass

    def _write(self, conn, wid):
        with conn.cursor() as cur:
            cur.execute("INSERT INTO %s (id) VALUES (%d)" % (self.table, wid))

    def stop(self, timeout=40):
        """Stop and join (bounded by the statement hang-guard); True if the thread ended."""
        self._stop.set()
        self._thread.join(timeout=timeout)
        return not self._thread.is_alive()

    # ---- views ----
    def acked(self):
        return [w for w in self.writes if w.ok]

    def failed(self):
        return [w for w in self.writes if not w.ok]

    def acked_after(self, t):
        """Acknowledged writes sent after monotonic time t."""
        return [w for w in self.writes if w.ok and w.t_send > t]

    def last_ack_before(self, t):
        prev = [w for w in self.writes if w.ok and w.t_done <= t]
        return prev[-1] if prev else None

    def max_ack_gap(self, t_from=None, t_to=None):
        """(longest gap in seconds between consecutive acknowledgements, time it ended)
        within [t_from, t_to] (None: unbounded)."""
        acks = [w.t_done for w in self.writes if w.ok
                and (t_from is None or w.t_done >= t_from) and (t_to is None or w.t_done <= t_to)]
        best, at = 0.0, None
        for a, b in zip(acks, acks[1:]):
            if b - a > best:
                best, at = b - a, b
        return best, at

    def error_summary(self, n=8):
        errs = self.failed()
        return "%d failed writes; first ones: %s" % (
            len(errs), "; ".join("id=%d %r" % (w.id, w.err) for w in errs[:n]))


class TxWriter(SeqWriter):
    """Like SeqWriter, but each write is a two-statement transaction: BEGIN; INSERT
    (2n, grp n); (in_trx_pause); INSERT (2n+1, grp n); COMMIT. A group with one row only on
    a server is a transaction applied by half (e.g. its session silently moved to another
    server in the middle)."""

    def __init__(self, port, table, first_id, pause=0.0, in_trx_pause=0.002, read_timeout=30):
        super().__init__(port, table, first_id, pause=pause, read_timeout=read_timeout)
        self.in_trx_pause = in_trx_pause  # sleep between the two inserts

    def _write(self, conn, wid):
        with conn.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("INSERT INTO %s (id, grp) VALUES (%d, %d)" % (self.table, 2 * wid, wid))
            if self.in_trx_pause:
                time.sleep(self.in_trx_pause)
            cur.execute("INSERT INTO %s (id, grp) VALUES (%d, %d)" % (self.table, 2 * wid + 1,
                                                                      wid))
            cur.execute("COMMIT")


def half_groups(server, table, lo, hi):
    """Groups in [lo, hi] of a TxWriter table with other than 2 rows on server: {grp: n}."""
    rows = server.query("SELECT grp, COUNT(*) FROM %s WHERE grp BETWEEN %d AND %d GROUP BY grp "
                        "HAVING COUNT(*) <> 2" % (table, lo, hi))
    return {r[0]: r[1] for r in rows}


def groups_on(server, table, lo, hi):
    rows = server.query("SELECT DISTINCT grp FROM %s WHERE grp BETWEEN %d AND %d" % (
        table, lo, hi))
    return {r[0] for r in rows}


def ids_on(server, table, lo, hi):
    """Set of ids in [lo, hi] of table, read directly on server (root over the socket)."""
    rows = server.query("SELECT id FROM %s WHERE id BETWEEN %d AND %d" % (table, lo, hi))
    return {r[0] for r in rows}


# ======================================================================= readers

WHO_SQL = "SELECT name FROM test.rwp_fo_where"


def install_where_markers(box):
    """On every running server, a local unreplicated table test.rwp_fo_where holding the
    server's name (sql_log_bin = 0): a read of it tells which server answered."""
    for s in box.servers:
        if s.alive():
            s.execute(["SET SESSION sql_log_bin = 0", "DROP TABLE IF EXISTS test.rwp_fo_where",
                       "CREATE TABLE test.rwp_fo_where (name VARCHAR(16) NOT NULL) ENGINE=InnoDB",
                       "INSERT INTO test.rwp_fo_where VALUES ('%s')" % s.name])


def remove_where_markers(box):
    for s in box.servers:
        if s.alive():
            try:
                s.execute(["SET SESSION sql_log_bin = 0",
                           "DROP TABLE IF EXISTS test.rwp_fo_where"])
            except pymysql.err.MySQLError:
                pass


def read_who(conn):
    """(name of the server that answered WHO_SQL, seconds it took)."""
    t0 = time.monotonic()
    with conn.cursor() as cur:
        cur.execute(WHO_SQL)
        row = cur.fetchone()
    return row[0], time.monotonic() - t0


def percentile(values, p):
    """The p-th percentile (0..100) of values (nearest rank); None if empty."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]
