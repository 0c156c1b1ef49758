"""
tests/integration/test_log_hygiene.py — what rwproxy's log says and never says.

- No secret in a debug log: rwproxy runs at log_level = debug with known passwords (a user
  with a clear-text `password`, one with `password_hash`, the monitor, replication and admin
  passwords); good and bad logins (PyMySQL, the mysql CLI, a raw protocol client),
  COM_CHANGE_USER good and bad, admin commands (SHOW CONFIG, SHOW SESSIONS, SHOW SERVERS, a bad
  admin login), RELOAD and a SWITCHOVER; then no password, no SHA1(password) or
  SHA1(SHA1(password)) in hex (either case, with or without '*'), no scramble rwproxy sent and
  no scrambled reply a client sent appears anywhere in the log bytes. Failed logins are logged
  at WARN with the user and the client address.
- A flood of 500 bad logins writes a bounded number of lines: every failed login is either a
  line or counted in a "suppressed K failed-login messages" line (exactly 501 with the login
  that closes the window), and the lines are at most 10 per started second of the flood.
- log_format = json: every line of the log is one JSON object with ts/level/msg, and the
  lines of one client session (its login, statements, backend connections, close) carry the
  connection id the client saw in the greeting; escaping holds for a hostile user name.
- RELOAD/SIGHUP switch the format both ways.

Owns: its own sandbox (<session workdir>/hyg-sandbox: the switchover changes the topology, so
neither the shared sandbox nor the shared rwproxy is used), the users hyg_clear and hyg_hash
and the table test.hyg on it, and one or more private rwproxy processes per test
(failover_util.start_proxy), stopped by PID after the test. Waits are bounded hang-guards;
no assertion depends on how long anything took except the flood's line bound, which grows
with the flood's measured duration (a rate limit is lines per second).
"""
import hashlib
import json
import math
import os
import re
import signal
import subprocess
import threading
import time

import pymysql
import pytest

import mysqlraw
import sandbox as sb
from conftest import HOST
from failover_util import start_proxy, wait_until

PW_CLEAR = "Clear-Pw-7fq2Lx"      # hyg_clear's password, in the config in clear text
PW_HASH = "Hash-Pw-9kT3vQ"        # hyg_hash's password; the config holds only its hash
PW_BAD = "Wrong-Pw-2zzXq"         # what the bad logins try
ADMIN_PW = "admin_pw"             # written by sandbox.write_proxy_config
SECRETS = [PW_CLEAR, PW_HASH, PW_BAD, ADMIN_PW, sb.PASSWORDS["monitor"], sb.PASSWORDS["repl"],
           sb.PASSWORDS["app"]]
LINES_PER_WINDOW = 10             # RWP_FAILED_LOGIN_LINES (proxy/log.h), per 1000 ms
FLOOD = 500                       # bad logins of the flood test

_PROXIES = []  # rwproxy processes of the running test


def sha1(b):
    return hashlib.sha1(b).digest()


def native_hash(pw):
    """The mysql_native_password hash as written in configs: '*' + SHA1(SHA1(pw)) in hex."""
    return "*" + sha1(sha1(pw.encode())).hex().upper()


USERS_EXTRA = ("[user.hyg_clear]\npassword = %s\n\n[user.hyg_hash]\npassword_hash = %s\n"
               % (PW_CLEAR, native_hash(PW_HASH)))


# ======================================================================= fixtures

@pytest.fixture(scope="module")
def box(workdir):
    """This module's own sandbox with the users hyg_clear and hyg_hash; always stopped."""
    b = sb.Sandbox(os.path.join(workdir, "hyg-sandbox"))
    try:
        b.start()
        m = b.current_master()
        stmts = []
        for user, pw in (("hyg_clear", PW_CLEAR), ("hyg_hash", PW_HASH)):
            for host in ("%", "localhost"):
                stmts += ["CREATE USER IF NOT EXISTS '%s'@'%s' IDENTIFIED BY '%s'" % (user, host, pw),
                          "GRANT ALL PRIVILEGES ON `test`.* TO '%s'@'%s'" % (user, host)]
        stmts.append("CREATE TABLE IF NOT EXISTS test.hyg (id INT AUTO_INCREMENT PRIMARY KEY, "
                     "v VARCHAR(64)) ENGINE=InnoDB")
        m.execute(stmts)
        b.wait_replicas_caught_up(master=m)
        yield b
    finally:
        for px in _PROXIES:
            px.stop()
        b.stop()


@pytest.fixture(autouse=True)
def topology(box):
    """Before: the topology restored. After: this test's rwproxy processes stopped."""
    try:
        box.restore_topology(timeout=60)
    except Exception as e:  # noqa: BLE001
        pytest.fail("could not restore the sandbox before the test: %r\n%s" % (
            e, box.describe()), pytrace=False)
    yield
    for px in _PROXIES:
        px.stop()
    del _PROXIES[:]


# ======================================================================= helpers

def own_proxy(box, workdir, name, log_level="debug", extra=""):
    return start_proxy(box, workdir, name, extra=USERS_EXTRA + extra, log_level=log_level,
                       registry=_PROXIES)


def admin_conn(px, password=ADMIN_PW):
    return pymysql.connect(host=HOST, port=px.proc.admin_port, user="admin", password=password,
                           autocommit=True, connect_timeout=10, read_timeout=120)


def admin_rows(px, sql):
    c = admin_conn(px)
    try:
        with c.cursor() as cur:
            cur.execute(sql)
            cols = [d[0] for d in cur.description] if cur.description else []
            return [dict(zip(cols, r)) for r in cur.fetchall()]
    finally:
        c.close()


def wait_all_up(px, box):
    def all_up():
        rows = admin_rows(px, "SHOW SERVERS")
        return (len(rows) == len(box.servers) and all(r["state"] == "up" for r in rows)
                and sum(r["role"] == "master" for r in rows) == 1)
    wait_until(all_up, 30, "rwproxy to see every server up", diag=lambda: px.tail())


def log_bytes(px):
    with open(px.proc.log_path, "rb") as f:
        return f.read()


def raw_login(px, user, password, db="test", seen=None):
    """A raw login; records the greeting's scramble and the reply sent in seen (a list).
    Returns (RawConn, Result); the caller closes the connection."""
    c = mysqlraw.RawConn(HOST, px.port, timeout=30)
    g = c.read_greeting()
    c.sock.sendall(c.handshake_response(user, password, db))
    res = c.read_auth_result()
    if seen is not None:
        seen += [g.salt, mysqlraw.native_scramble(password, g.salt)]
    return c, res


def bad_login(px, user, password, seen=None):
    c, res = raw_login(px, user, password, seen=seen)
    c.close()
    assert (res.kind, getattr(res, "code", None)) == ("err", 1045), res
    return res


def forbidden_needles(passwords, scrambles):
    """{needle bytes: what it is} that must not occur in the log."""
    out = {}
    for pw in passwords:
        h1 = sha1(pw.encode())
        h2 = sha1(h1)
        out[pw.encode()] = "password %r" % pw
        for name, h in (("SHA1", h1), ("SHA1(SHA1)", h2)):
            # '*' + hex contains the hex, so the bare hex in both cases covers every form
            out[h.hex().encode()] = "%s(%r) in lower-case hex" % (name, pw)
            out[h.hex().upper().encode()] = "%s(%r) in upper-case hex" % (name, pw)
            out[h] = "%s(%r) raw" % (name, pw)
    for s in scrambles:
        if len(s) >= 8:
            out[bytes(s)] = "a scramble or scrambled reply (raw)"
            out[bytes(s).hex().encode()] = "a scramble or scrambled reply (hex)"
            out[bytes(s).hex().upper().encode()] = "a scramble or scrambled reply (HEX)"
    return out


def mysql_cli(px, user, password, sql="SELECT 1"):
    return subprocess.run(["mysql", "-h", HOST, "-P", str(px.port), "-u", user,
                           "-p" + password, "--protocol=TCP", "test", "-N", "-e", sql],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60)


def denied_lines(text, user):
    return [ln for ln in text.splitlines()
            if "access denied for '%s'@'127.0.0.1'" % user in ln]


# ======================================================================= tests

def test_no_secret_in_debug_log(box, workdir):
    px = own_proxy(box, workdir, "hyg-debug")
    wait_all_up(px, box)
    seen = []  # scrambles and replies of the raw logins

    # good logins: PyMySQL, the mysql CLI, raw; statements through them
    for user, pw in (("hyg_clear", PW_CLEAR), ("hyg_hash", PW_HASH)):
        c = px.connect(user=user, password=pw, database="test")
        try:
            with c.cursor() as cur:
                cur.execute("INSERT INTO hyg (v) VALUES (%s)", (user,))
                cur.execute("SELECT COUNT(*) FROM hyg WHERE v = %s", (user,))
                assert cur.fetchone()[0] >= 1
        finally:
            c.close()
        r = mysql_cli(px, user, pw)
        assert r.returncode == 0 and r.stdout.strip() == "1", r
    c, res = raw_login(px, "hyg_clear", PW_CLEAR, seen=seen)
    try:
        assert res.kind == "ok", res
        # COM_CHANGE_USER to the hash user (good), back to hyg_clear with a bad password
        assert c.change_user("hyg_hash", PW_HASH, "test").kind == "ok"
        seen.append(mysqlraw.native_scramble(PW_HASH, c.greeting.salt))
        assert c.query1("SELECT CURRENT_USER()").values()[0][0].startswith(b"hyg_hash@")
        res = c.change_user("hyg_clear", PW_BAD, "test")
        seen.append(mysqlraw.native_scramble(PW_BAD, c.greeting.salt))
        assert (res.kind, res.code) == ("err", 1045), res
    finally:
        c.close()

    # bad logins: wrong password, unknown user, no password, the mysql CLI, the admin port
    bad_login(px, "hyg_clear", PW_BAD, seen)
    bad_login(px, "hyg_hash", PW_BAD, seen)
    bad_login(px, "hyg_nosuch", PW_BAD, seen)
    bad_login(px, "hyg_clear", "", seen)
    r = mysql_cli(px, "hyg_hash", PW_BAD)
    assert r.returncode != 0 and "1045" in r.stderr, r
    with pytest.raises(pymysql.err.OperationalError) as ei:
        admin_conn(px, password=PW_BAD)
    assert ei.value.args[0] == 1045

    # admin commands, RELOAD, a switchover
    old = box.current_master()
    config = admin_rows(px, "SHOW CONFIG")
    shown = json.dumps(config, default=str)
    for pw in SECRETS:
        assert pw not in shown, "SHOW CONFIG shows a password"
    assert native_hash(PW_HASH)[1:] not in shown.upper(), "SHOW CONFIG shows a hash"
    admin_rows(px, "SHOW SESSIONS")
    admin_rows(px, "SHOW STATS")
    c = admin_conn(px)
    try:
        with c.cursor() as cur:
            cur.execute("RELOAD")
            cur.execute("SWITCHOVER")
    finally:
        c.close()
    wait_until(lambda: len(box.writable_servers()) == 1 and box.writable_servers()[0] is not old,
               60, "a new writable master after SWITCHOVER", diag=lambda: px.tail())
    wait_all_up(px, box)
    c = px.connect(user="hyg_hash", password=PW_HASH, database="test")
    try:
        with c.cursor() as cur:
            cur.execute("INSERT INTO hyg (v) VALUES ('after switchover')")
    finally:
        c.close()
    assert px.stop() == 0

    log = log_bytes(px)
    text = log.decode("utf-8", "replace")
    assert "SWITCHOVER" in text and "configuration reloaded" in text, px.tail()
    assert re.search(r" DEBUG ", text), "the log is not at debug level"
    leaks = [(what, text[max(0, log.find(n) - 200):log.find(n) + 100])
             for n, what in forbidden_needles(SECRETS, seen).items() if n in log]
    assert not leaks, "secrets in the log:\n" + "\n".join("%s near: %r" % x for x in leaks[:5])

    # failed logins: WARN, user and address
    for user in ("hyg_clear", "hyg_hash", "hyg_nosuch"):
        lines = denied_lines(text, user)
        assert lines, "no failed-login line for %s:\n%s" % (user, px.tail())
        assert all(" WARN " in ln for ln in lines), lines
    assert any("admin port: access denied for 'admin'@'127.0.0.1'" in ln and " WARN " in ln
               for ln in text.splitlines()), "no failed admin login line"
    assert any("using password: NO" in ln for ln in denied_lines(text, "hyg_clear"))


def _flood_worker(px, n, errors):
    for _ in range(n):
        try:
            bad_login(px, "hyg_flood", PW_BAD)
        except Exception as e:  # noqa: BLE001 - reported by the test
            errors.append(repr(e))
            return


def test_failed_login_flood_is_rate_limited(box, workdir):
    px = own_proxy(box, workdir, "hyg-flood", log_level="info")
    wait_all_up(px, box)
    start = len(log_bytes(px))
    errors = []
    threads = [threading.Thread(target=_flood_worker, args=(px, FLOOD // 4, errors))
               for _ in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    elapsed = time.monotonic() - t0
    assert not any(t.is_alive() for t in threads), "flood threads hang"
    assert not errors, errors[:3]
    # one more failed login in a later window writes the summary of the last one
    time.sleep(1.2)
    bad_login(px, "hyg_flood", PW_BAD)

    def accounted():
        text = log_bytes(px)[start:].decode("utf-8", "replace")
        n = len(denied_lines(text, "hyg_flood"))
        k = sum(int(x) for x in re.findall(r"suppressed (\d+) failed-login messages", text))
        return (n, k, text) if n + k >= FLOOD + 1 else None
    n, k, text = wait_until(accounted, 20, "every failed login logged or counted",
                            diag=lambda: px.tail())
    assert n + k == FLOOD + 1, (n, k)
    windows = math.ceil(elapsed) + 2  # windows the flood can touch, and the closing login's
    assert n <= LINES_PER_WINDOW * windows, (
        "%d failed-login lines for %d logins in %.1f s" % (n, FLOOD + 1, elapsed))
    assert k > 0 or elapsed * LINES_PER_WINDOW >= FLOOD
    lines = text.splitlines()
    summaries = [ln for ln in lines if "suppressed" in ln]
    assert len(summaries) <= windows, summaries
    # nothing else is written per failed login at info level
    flood_lines = [ln for ln in lines if "hyg_flood" in ln]
    assert len(flood_lines) == n, [ln for ln in flood_lines if "access denied" not in ln][:5]
    assert len(lines) <= n + len(summaries) + 20, "%d lines written during the flood" % len(lines)
    stats = {r["name"]: r["value"] for r in admin_rows(px, "SHOW STATS")}
    assert int(stats["auth_failed"]) >= FLOOD + 1, stats


ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# Client-side lines of a session (backend connections may also sit in a pool between sessions).
SESSION_MSG = re.compile(r"^(client \w+ -> \w+$|closing client |client \S+ logged in|"
                         r"COM_\w+ -> |access denied for )")


def json_lines(px):
    """Every line of px's log parsed; fails naming the first line that is not JSON."""
    out = []
    for i, ln in enumerate(log_bytes(px).decode("utf-8").splitlines()):
        try:
            obj = json.loads(ln)
        except ValueError:
            pytest.fail("log line %d is not JSON: %r" % (i + 1, ln), pytrace=False)
        assert isinstance(obj, dict), ln
        assert ISO_MS.match(obj.get("ts", "")), ln
        assert obj.get("level") in ("error", "warn", "info", "debug"), ln
        assert isinstance(obj.get("msg"), str), ln
        out.append(obj)
    return out


def kill_running_statement(px, servers, victim, victim_id):
    """DO SLEEP(30) on victim, stopped by KILL QUERY from a second session of the same user
    once a server runs it."""
    box = {}

    def run():
        try:
            with victim.cursor() as cur:
                cur.execute("DO SLEEP(30)")
        except pymysql.err.MySQLError as e:
            box["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    sql = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'DO SLEEP(30)'"
    wait_until(lambda: any(s.query(sql)[0][0] > 0 for s in servers),
               20, "DO SLEEP(30) running on a server", diag=lambda: px.tail())
    killer = px.connect(user="hyg_clear", password=PW_CLEAR, database="test")
    try:
        with killer.cursor() as cur:
            cur.execute("KILL QUERY %d" % victim_id)
    finally:
        killer.close()
    t.join(25)
    assert not t.is_alive(), "DO SLEEP(30) was not stopped by KILL QUERY\n" + px.tail()


def test_json_log_lines_carry_the_connection_id(box, workdir):
    px = own_proxy(box, workdir, "hyg-json", extra="[proxy]\nlog_format = json\n")
    wait_all_up(px, box)
    c = px.connect(user="hyg_clear", password=PW_CLEAR, database="test")
    conn_id = c.thread_id()
    try:
        with c.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM hyg")
            cur.execute("BEGIN")
            cur.execute("INSERT INTO hyg (v) VALUES ('json')")
            cur.execute("COMMIT")
        kill_running_statement(px, box.servers, c, conn_id)
        with c.cursor() as cur:
            cur.execute("SELECT 1")
    finally:
        c.close()
    # a hostile user name: quote, newline, control byte, invalid UTF-8
    evil = b'ev"il\n\x01\xff'
    bad_login(px, evil, PW_BAD)

    def closed():
        return any(o.get("conn") == conn_id and o["msg"].startswith("closing client")
                   for o in json_lines(px))
    wait_until(closed, 20, "the session's close to be logged", diag=lambda: px.tail())
    objs = json_lines(px)
    mine = [o for o in objs if o.get("conn") == conn_id]
    msgs = [o["msg"] for o in mine]
    assert any("logged in" in m for m in msgs), msgs
    assert any(m.startswith("COM_QUERY -> ") for m in msgs), msgs
    assert any(m.startswith("closing client") for m in msgs), msgs
    assert any(o.get("backend") and m.startswith("backend ") for o, m in zip(mine, msgs)), msgs
    kills = [o for o in objs if o["msg"].startswith("client %d" % conn_id)]
    assert any("KILL QUERY" in o["msg"] for o in kills), [o["msg"] for o in objs][-40:]
    assert all(o.get("conn") == conn_id for o in kills), kills
    assert all(o.get("user") == "hyg_clear" for o in mine), [o for o in mine if
                                                             o.get("user") != "hyg_clear"][:3]
    assert any(o.get("peer") == "127.0.0.1" for o in mine), mine[:3]
    # every line about a client session says which one
    anonymous = [o for o in objs if SESSION_MSG.match(o["msg"]) and not o.get("conn")]
    assert not anonymous, anonymous[:5]
    denied = [o for o in objs if o["msg"].startswith("access denied for")]
    assert len(denied) == 1, denied
    d = denied[0]
    assert d["level"] == "warn" and d["peer"] == "127.0.0.1" and d["conn"] > 0, d
    assert d["user"] == 'ev"il\n\x01\ufffd', d
    assert PW_BAD not in json.dumps(objs)


def test_reload_switches_the_log_format(box, workdir):
    px = own_proxy(box, workdir, "hyg-reload", log_level="info")
    wait_all_up(px, box)
    path = px.proc.config_path
    with open(path) as f:
        original = f.read()
    assert not log_bytes(px).lstrip().startswith(b"{")

    with open(path, "w") as f:
        f.write(original + "\n[proxy]\nlog_format = json\n")
    start = len(log_bytes(px))
    px.signal(signal.SIGHUP)

    def reloaded(since, want_json):
        text = log_bytes(px)[since:].decode("utf-8", "replace")
        for ln in text.splitlines():
            if "configuration reloaded" in ln:
                return ln.startswith("{") == want_json and ln
        return None
    line = wait_until(lambda: reloaded(start, True), 20, "the reload logged as JSON",
                      diag=lambda: px.tail())
    assert json.loads(line)["level"] == "info"
    bad_login(px, "hyg_clear", PW_BAD)
    wait_until(lambda: b"access denied" in log_bytes(px)[start:], 20, "the failed login line")
    new = log_bytes(px)[start:].decode("utf-8").splitlines()
    at = next(i for i, ln in enumerate(new) if "configuration reloaded" in ln)
    for ln in new[at:]:
        json.loads(ln)
    denied = [json.loads(ln) for ln in new[at:] if "access denied" in ln]
    assert denied and denied[0]["user"] == "hyg_clear", new[at:]

    # and back to text through the admin port's RELOAD
    with open(path, "w") as f:
        f.write(original + "\n[proxy]\nlog_format = text\n")
    start = len(log_bytes(px))
    c = admin_conn(px)
    try:
        with c.cursor() as cur:
            cur.execute("RELOAD")
    finally:
        c.close()
    line = wait_until(lambda: reloaded(start, False), 20, "the reload logged as text",
                      diag=lambda: px.tail())
    assert " INFO " in line, line
    bad_login(px, "hyg_clear", PW_BAD)
    wait_until(lambda: b"access denied" in log_bytes(px)[start:], 20, "the failed login line")
    tail = log_bytes(px)[start:].decode("utf-8").splitlines()
    at = next(i for i, ln in enumerate(tail) if "configuration reloaded" in ln)
    assert not any(ln.startswith("{") for ln in tail[at:]), tail
    assert any("access denied" in ln for ln in tail[at:]), tail
