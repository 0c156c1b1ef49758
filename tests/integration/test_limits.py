"""
tests/integration/test_limits.py — the [limits] section and [user.NAME] max_connections, each
triggered on a private rwproxy and answered with its error while another client keeps
working: max_client_connections (ERR 1040), a user's max_connections (ERR 1203),
client_idle_timeout_s (ERR 4031, then the close), max_packet_size (ERR 1153, single packet, a
multi-packet statement over 16 MiB and one of 64 MiB), worker_buffer_limit (ERR 1041 for a client
in the middle of a packet that pushes its worker over the limit), handshake_timeout_ms against
a client that sends its login one byte at a time, and writeq_high_water / writeq_low_water
against a client that reads its results slowly.
"""
import os
import socket
import time

import pymysql
import pytest

import mysqlraw

from conftest import HOST, pymysql_connect
from test_routing import start_own_proxy, stop_own_proxy


def own_proxy(sandbox, workdir, name, limits="", user_keys=""):
    """A private proxy with extra [limits] keys and keys for [user.app]."""
    px = start_own_proxy(sandbox, workdir, name, "[limits]\n" + limits if limits else "")
    if user_keys:
        path = px.proc.config_path
        text = open(path).read().replace("[user.app]\n", "[user.app]\n" + user_keys + "\n", 1)
        with open(path, "w") as f:
            f.write(text)
        px.proc.stop()
        px.proc.start()
    return px


def still_serves(px):
    c = pymysql_connect(px.port)
    with c.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchall() == ((1,),)
    c.close()


def rss_kib(pid):
    """VmRSS of pid in KiB, or None under AddressSanitizer (make asan sets ASAN_OPTIONS): its
    shadow memory and quarantine of freed blocks make RSS say nothing about rwproxy's own use."""
    if os.environ.get("ASAN_OPTIONS"):
        return None
    with open("/proc/%d/status" % pid) as f:
        return int([line for line in f if line.startswith("VmRSS")][0].split()[1])


def error_code(fn):
    with pytest.raises(pymysql.err.MySQLError) as ei:
        fn()
    return ei.value.args[0]


def test_max_client_connections(sandbox, workdir):
    px = own_proxy(sandbox, workdir, "limit-clients", "max_client_connections = 3\n")
    try:
        held = [pymysql_connect(px.port) for _ in range(3)]
        assert error_code(lambda: pymysql_connect(px.port)) == 1040
        with held[0].cursor() as cur:  # the others keep working
            cur.execute("SELECT 1")
        held.pop().close()
        time.sleep(0.2)
        still_serves(px)
        for c in held:
            c.close()
    finally:
        stop_own_proxy(px)


def test_user_max_connections(sandbox, workdir):
    px = own_proxy(sandbox, workdir, "limit-user", user_keys="max_connections = 2")
    try:
        a, b = pymysql_connect(px.port), pymysql_connect(px.port)
        assert error_code(lambda: pymysql_connect(px.port)) == 1203
        with a.cursor() as cur:
            cur.execute("SELECT 1")
        b.close()
        time.sleep(0.2)
        c = pymysql_connect(px.port)  # a slot is free again
        c.close()
        a.close()
    finally:
        stop_own_proxy(px)


def test_client_idle_timeout(sandbox, workdir):
    px = own_proxy(sandbox, workdir, "limit-idle", "client_idle_timeout_s = 1\n")
    try:
        idle, busy = pymysql_connect(px.port), pymysql_connect(px.port)
        end = time.time() + 2.5
        while time.time() < end:  # busy stays active; idle says nothing
            with busy.cursor() as cur:
                cur.execute("SELECT 1")
            time.sleep(0.3)
        code = error_code(lambda: idle.cursor().execute("SELECT 1"))
        assert code in (4031, 2013, 2006), code
        with busy.cursor() as cur:
            cur.execute("SELECT 1")
        busy.close()
        assert "inactivity" in px.proc.log_text()
    finally:
        stop_own_proxy(px)


def test_max_packet_size(sandbox, workdir):
    px = own_proxy(sandbox, workdir, "limit-packet", "max_packet_size = 20M\n")
    try:
        other = pymysql_connect(px.port)
        small = pymysql_connect(px.port)
        with small.cursor() as cur:  # 1 MiB: fine
            cur.execute("SELECT LENGTH(%s)", ("x" * (1 << 20),))
            assert cur.fetchone()[0] == 1 << 20
        big = pymysql_connect(px.port)  # 24 MiB: continuation packets over the limit
        assert error_code(lambda: big.cursor().execute("SELECT LENGTH(%s)", ("y" * (24 << 20),))) \
            in (1153, 2013, 2006)
        huge = pymysql_connect(px.port)  # 64 MiB: four full continuation packets and more
        assert error_code(lambda: huge.cursor().execute("SELECT LENGTH(%s)", ("w" * (64 << 20),))) \
            in (1153, 2013, 2006)
        rss_kb = rss_kib(px.proc.pid)
        assert rss_kb is None or rss_kb < 64 * 1024, \
            "rwproxy holds %d KiB after a refused 64 MiB statement" % rss_kb
        with other.cursor() as cur:
            cur.execute("SELECT 1")
        other.close()
        small.close()
        still_serves(px)
    finally:
        stop_own_proxy(px)
    px = own_proxy(sandbox, workdir, "limit-packet-small", "max_packet_size = 64K\n")
    try:
        c = pymysql_connect(px.port)
        assert error_code(lambda: c.cursor().execute("SELECT %s", ("z" * 100000,))) == 1153
        still_serves(px)
    finally:
        stop_own_proxy(px)


def test_handshake_timeout_cuts_a_slow_login(sandbox, workdir):
    px = own_proxy(sandbox, workdir, "limit-slowloris", "handshake_timeout_ms = 500\n")
    try:
        s = socket.create_connection(("127.0.0.1", px.port), timeout=10)
        s.recv(4096)  # greeting
        # a plausible HandshakeResponse41, one byte every 100 ms: it would take ~6 s
        payload = bytes(32) + b"app\x00" + bytes(21)
        packet = len(payload).to_bytes(3, "little") + b"\x01" + payload
        closed = False
        for i in range(len(packet)):
            try:
                s.sendall(packet[i:i + 1])
            except OSError:
                closed = True
                break
            s.settimeout(0.1)
            try:
                data = s.recv(4096)
                if data == b"" or data[4:5] == b"\xff":
                    closed = True
                    break
            except socket.timeout:
                pass
        s.close()
        assert closed, "the slow login was never cut off"
        still_serves(px)
    finally:
        stop_own_proxy(px)


def test_worker_buffer_limit(sandbox, workdir):
    """[limits] worker_buffer_limit: a client in the middle of an 8 MiB statement that pushes
    its worker's client buffers over 1 MiB gets ERR 1041 and is disconnected; the proxy's
    memory stays bounded and other clients keep working."""
    import mysqlraw
    px = start_own_proxy(sandbox, workdir, "limit-buffers",
                         "[limits]\nworker_buffer_limit = 1M\n", threads=1)
    try:
        other = pymysql_connect(px.port)
        hog = mysqlraw.connect("127.0.0.1", px.port)
        payload_len = 8 << 20
        # COM_QUERY header claiming 8 MiB, then part of it, in pieces
        hog.sock.sendall(payload_len.to_bytes(3, "little") + b"\x00" + b"\x03")
        sent, got_err = 0, None
        chunk = b"x" * 65536
        try:
            while sent < 6 << 20:
                hog.sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the proxy closed it
        hog.sock.settimeout(10)
        hog.seq = 1  # the answer to the command
        try:
            pkt = hog.read_packet()
            got_err = pkt
        except Exception as e:  # noqa: BLE001 - closed without a packet would fail below
            got_err = e
        assert isinstance(got_err, (bytes, bytearray)) and got_err[0] == 0xFF, got_err
        assert int.from_bytes(got_err[1:3], "little") == 1041, got_err
        with other.cursor() as cur:  # the others keep working
            cur.execute("SELECT 1")
            assert cur.fetchall() == ((1,),)
        other.close()
        still_serves(px)
        # the memory stays bounded (RSS, where it means something)
        rss_kb = rss_kib(px.proc.pid)
        assert rss_kb is None or rss_kb < 64 * 1024, rss_kb
    finally:
        stop_own_proxy(px)


class SlowSocket:
    """A socket whose reader takes at most 16 KiB a millisecond: a client slower than the
    server, so rwproxy's queue towards it fills and the answer is paused and resumed."""

    def __init__(self, sock):
        self.sock = sock

    def recv(self, n):
        time.sleep(0.001)
        return self.sock.recv(min(n, 16384))

    def __getattr__(self, name):
        return getattr(self.sock, name)


def big_then_small(c, letter, rounds, base, step):
    """Per round: a big answer read slowly, then a small statement that must be answered."""
    for i in rounds:
        size = base + i * step
        rs = c.query1("SELECT REPEAT('%s', %d), %d" % (letter, size, i))
        assert [tuple(r) for r in rs.values()] == [(letter.encode() * size, str(i).encode())]
        assert c.query1("SELECT %d + 1" % i).values()[0][0] == str(i + 1).encode()


def test_write_queue_marks_slow_reader(sandbox, workdir):
    """With writeq_high_water = 1 every answer chunk that cannot be written at once pauses the
    server connection, including the chunk that ends an answer. Each big answer to a slow
    reader is followed by a small statement on the same connection (a transaction keeps it):
    it must be answered, i.e. a connection paused at the end of an answer reads again. This
    hung before the fix (found as a Connector/J streaming read after a 17 MiB BLOB in CI)."""
    px = own_proxy(sandbox, workdir, "writeq",
                   "writeq_high_water = 1\nwriteq_low_water = 1\nclient_sndbuf = 4096\n")
    try:
        # small kernel buffers on both ends (client_sndbuf, the client's window), so that most
        # chunks of 64 KiB, the last one of an answer too, cannot be written at once
        c = mysqlraw.connect(HOST, px.port, timeout=20, rcvbuf=4096)
        try:
            c.sock = SlowSocket(c.sock)
            assert c.query1("BEGIN").kind == "ok"
            big_then_small(c, "x", range(12), 300000, 70001)
            assert c.query1("COMMIT").kind == "ok"
            # autocommit reads go to the replicas: the connection of each is released or kept
            # (multiplex off) after the answer, and the next read may take it again
            big_then_small(c, "y", range(8), 400000, 90001)
        finally:
            c.close()
        still_serves(px)
    finally:
        stop_own_proxy(px)
