"""
tests/integration/test_auth_backend.py — `[proxy] users_from_backend = on`: rwproxy accepts
the master's accounts (mysql.global_priv, read as the [monitor] user) without any client
password in its configuration.

Covered: an account created on the master after rwproxy started logs in at the first try (the
failed lookup reloads the accounts and the login waits for that); a wrong password is refused
with 1045; host patterns are honoured for the client's address ('u'@'10.%' cannot log in from
127.0.0.1, 'u'@'127.0.0.1' can, each with its own password); a dropped account stops working
after RELOAD; locked accounts and accounts of other plugins are refused; a [user.NAME] section
wins over the account of the same name; reloads caused by failed logins are rate-limited
(users_refresh_interval_s) while RELOAD always reloads; a caching_sha2_password client of a
backend account (only a mysql_native_password hash is known) is switched to
mysql_native_password over plain TCP.

Every account a test creates is dropped at the end, even on failure.
"""
import hashlib
import os
import signal
import time

import pymysql
import pytest

import mysqlraw
import sandbox as sb
from conftest import HOST, RWPROXY_BIN

_SEQ = [0]


def start_proxy(sandbox, workdir, interval_s, extra=""):
    """A private rwproxy with users_from_backend = on and the given refresh interval."""
    if not os.path.exists(RWPROXY_BIN):
        pytest.fail("rwproxy binary not found at %s (run make)" % RWPROXY_BIN)
    _SEQ[0] += 1
    base = os.path.join(workdir, "auth-backend-%d" % _SEQ[0])
    sb.write_proxy_config(base + ".ini", sandbox, sb.free_port(), sb.free_port(), extra=extra)
    with open(base + ".ini") as f:
        text = f.read()
    text = text.replace("[proxy]\n", "[proxy]\nlog_level = debug\nusers_from_backend = on\n"
                        "users_refresh_interval_s = %d\n" % interval_s, 1)
    with open(base + ".ini", "w") as f:
        f.write(text)
    proc = sb.ProxyProcess(RWPROXY_BIN, base + ".ini", base + ".log")
    proc.start()
    # the start-up load must be over, so that accounts created from now on are new to rwproxy
    for _ in range(200):
        if "accounts loaded from" in proc.log_text():
            return proc
        time.sleep(0.05)
    proc.stop(signal.SIGKILL)
    pytest.fail("rwproxy never loaded the accounts; log tail:\n%s" % proc.log_text()[-3000:])


@pytest.fixture
def accounts(sandbox):
    """create(user, host, password, extra_sql='') makes an account on the master with rights
    on test.*; every one is dropped at teardown."""
    made = []

    def create(user, host, password, tail=""):
        made.append((user, host))
        sandbox.master.execute("DROP USER IF EXISTS '%s'@'%s'" % (user, host))
        spec = tail if password is None else "IDENTIFIED BY '%s' %s" % (password, tail)
        sandbox.master.execute("CREATE USER '%s'@'%s' %s" % (user, host, spec))
        sandbox.master.execute("GRANT ALL ON test.* TO '%s'@'%s'" % (user, host))

    yield create
    for user, host in made:
        try:
            sandbox.master.execute("DROP USER IF EXISTS '%s'@'%s'" % (user, host))
        except Exception:  # noqa: BLE001 - best effort cleanup
            pass


@pytest.fixture
def own_proxy(sandbox, workdir):
    """Factory of private rwproxy processes, stopped (SIGTERM, must exit 0) at teardown."""
    made = []

    def make(interval_s=0, extra=""):
        p = start_proxy(sandbox, workdir, interval_s, extra)
        made.append(p)
        return p

    yield make
    for p in made:
        alive = p.alive()
        rc = p.stop(signal.SIGTERM)
        assert alive and rc == 0, "rwproxy exit %s; log tail:\n%s" % (rc, p.log_text()[-3000:])


def login(port, user, password, **kw):
    """A PyMySQL connection through rwproxy (no schema: it must not matter)."""
    return pymysql.connect(host=HOST, port=port, user=user, password=password, database="test",
                           autocommit=True, connect_timeout=10, read_timeout=30, **kw)


def current_user(port, user, password):
    c = login(port, user, password)
    try:
        with c.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            return cur.fetchone()[0]
    finally:
        c.close()


def refused(port, user, password):
    """The login must fail with 1045; returns the message."""
    with pytest.raises(pymysql.err.OperationalError) as ei:
        login(port, user, password).close()
    assert ei.value.args[0] == 1045, ei.value.args
    return ei.value.args[1]


def admin_reload(proc):
    c = pymysql.connect(host=HOST, port=proc.admin_port, user="admin", password="admin_pw",
                        autocommit=True, connect_timeout=10, read_timeout=60)
    try:
        with c.cursor() as cur:
            cur.execute("RELOAD")
        return c._result.message.decode("utf-8", "replace") if c._result.message else ""
    finally:
        c.close()


def test_account_created_after_start_logs_in_at_first_try(own_proxy, accounts):
    proc = own_proxy(interval_s=0)
    accounts("bu_late", "%", "late_pw")  # after rwproxy loaded the accounts at start-up
    assert current_user(proc.port, "bu_late", "late_pw") == "bu_late@%"
    log = proc.log_text()
    assert "accounts loaded from" in log
    assert native_hash("late_pw")[1:] not in log.upper()  # no hash in the log (debug level)
    assert "late_pw" not in log


def native_hash(password):
    """PASSWORD(password) as MariaDB prints it."""
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()


def test_wrong_password_and_unknown_user_refused(own_proxy, accounts):
    proc = own_proxy(interval_s=0)
    accounts("bu_pw", "%", "right_pw")
    assert current_user(proc.port, "bu_pw", "right_pw") == "bu_pw@%"
    msg = refused(proc.port, "bu_pw", "wrong_pw")
    assert "Access denied for user 'bu_pw'" in msg, msg
    refused(proc.port, "bu_nobody", "x")
    assert current_user(proc.port, "bu_pw", "right_pw") == "bu_pw@%"


def test_host_patterns(own_proxy, accounts):
    proc = own_proxy(interval_s=0)
    accounts("bu_host", "10.%", "ten_pw")
    # only a 10.% account: nobody from 127.0.0.1, not even with its password
    refused(proc.port, "bu_host", "ten_pw")
    # the more specific 127.0.0.1 account, with its own password, is the one that applies
    accounts("bu_host", "127.0.0.1", "local_pw")
    assert admin_reload(proc)
    assert current_user(proc.port, "bu_host", "local_pw") == "bu_host@127.0.0.1"
    refused(proc.port, "bu_host", "ten_pw")


def test_netmask_account(own_proxy, accounts):
    proc = own_proxy(interval_s=0)
    accounts("bu_mask", "127.0.0.0/255.0.0.0", "mask_pw")
    assert current_user(proc.port, "bu_mask", "mask_pw") == "bu_mask@127.0.0.0/255.0.0.0"
    accounts("bu_mask2", "10.0.0.0/255.0.0.0", "mask_pw")
    refused(proc.port, "bu_mask2", "mask_pw")


def test_dropped_account_stops_after_reload(own_proxy, accounts, sandbox):
    proc = own_proxy(interval_s=0)
    accounts("bu_drop", "%", "drop_pw")
    assert current_user(proc.port, "bu_drop", "drop_pw") == "bu_drop@%"
    sandbox.master.execute("DROP USER 'bu_drop'@'%'")
    info = admin_reload(proc)
    assert "accounts loaded from" in info, info
    since = len(proc.log_text())
    refused(proc.port, "bu_drop", "drop_pw")
    # refused by rwproxy itself (its own log line), not by a server it logged into
    assert "access denied for 'bu_drop'" in proc.log_text()[since:]


def test_locked_and_other_plugin_accounts_refused(own_proxy, accounts, sandbox):
    proc = own_proxy(interval_s=0)
    accounts("bu_locked", "%", "lock_pw", "ACCOUNT LOCK")
    refused(proc.port, "bu_locked", "lock_pw")
    accounts("bu_sock", "%", None, "IDENTIFIED VIA unix_socket")
    refused(proc.port, "bu_sock", "")
    accounts("bu_exp", "%", "exp_pw", "PASSWORD EXPIRE")
    refused(proc.port, "bu_exp", "exp_pw")
    log = proc.log_text()
    assert "the account is locked" in log
    assert "the account uses unix_socket" in log
    assert "the password has expired" in log


def test_config_user_wins(own_proxy, accounts):
    proc = own_proxy(interval_s=0, extra="[user.bu_cfg]\npassword = cfg_pw\n")
    accounts("bu_cfg", "%", "backend_pw")
    # rwproxy checks the config's password: the backend one is refused before any server
    refused(proc.port, "bu_cfg", "backend_pw")


def test_failure_reloads_are_rate_limited(own_proxy, accounts):
    proc = own_proxy(interval_s=3600)
    accounts("bu_rate1", "%", "r1_pw")
    assert current_user(proc.port, "bu_rate1", "r1_pw") == "bu_rate1@%"  # the one reload
    accounts("bu_rate2", "%", "r2_pw")
    refused(proc.port, "bu_rate2", "r2_pw")  # within the interval: no second reload
    admin_reload(proc)  # RELOAD always reloads
    assert current_user(proc.port, "bu_rate2", "r2_pw") == "bu_rate2@%"


def test_caching_sha2_client_of_backend_account_is_switched(own_proxy, accounts):
    proc = own_proxy(interval_s=0)
    accounts("bu_sha2", "%", "sha2_pw")
    c = mysqlraw.RawConn(HOST, proc.port)
    try:
        res = c.login("bu_sha2", "sha2_pw", "test", plugin="caching_sha2_password")
        assert res.kind == "ok", res
        assert c.switched_to == "mysql_native_password"
        assert c.query1("SELECT CURRENT_USER()").values() == [(b"bu_sha2@%",)]
    finally:
        c.close()


def test_change_user_to_a_new_backend_account(own_proxy, accounts):
    """COM_CHANGE_USER runs the same checks: an account created after start-up is found by the
    reload its first failed lookup causes; caching_sha2 in COM_CHANGE_USER too; a wrong
    password is refused with 1045."""
    proc = own_proxy(interval_s=0)
    c = mysqlraw.RawConn(HOST, proc.port)
    try:
        assert c.login("app", "app_pw", "test").kind == "ok"
        accounts("bu_cu", "%", "cu_pw")
        res = c.change_user("bu_cu", "cu_pw")
        assert res.kind == "ok", res
        assert c.query1("SELECT CURRENT_USER()").values() == [(b"bu_cu@%",)]
        res = c.change_user("bu_cu", "cu_pw", plugin="caching_sha2_password")
        assert res.kind == "ok", res
        assert c.switched_to == "mysql_native_password"  # only the hash is known
        res = c.change_user("bu_cu", "wrong_pw")
        assert (res.kind, res.code, res.state) == ("err", 1045, "28000"), res
    finally:
        c.close()
