"""
tests/integration/test_rwproxyctl.py — the rwproxyctl CLI (cli/, docs/rwproxyctl.md) against
real MariaDB servers and a real rwproxy: `status` (table, exit code, --json checked against the
servers' real state), a wrong admin password, RWPROXY_ADMIN, `maintenance`, and both drills
end to end (`drill switchover --json`, `drill failover --yes --json`) with their reports
checked against what the test reads on the servers itself.

Owns: its own sandbox (master + 2 replicas in <session workdir>/ctl-sandbox, GTID + semi-sync
AFTER_SYNC: drills change the topology, so neither the shared sandbox nor the shared rwproxy is
used), the database test_drill (the drills' marker table), and one private rwproxy per test
(failover_util.start_proxy: interval_ms 250, failcount 3, no cooldown, hold_ms 8000), stopped by
PID after the test. Before every test the topology is restored (Sandbox.restore_topology).

The old master a failover drill stopped is restarted with --init-rpl-role=SLAVE (as in
test_failover.py) and the test waits for rwproxy to rejoin it, so the module ends with a sane
topology. Waits are bounded hang-guards; there is no timing assertion.
"""
import json
import os
import subprocess

import pytest

import sandbox as sb
from conftest import REPO
from failover_util import start_proxy, wait_until

RWPROXYCTL_BIN = os.environ.get("RWPROXYCTL_BIN") or os.path.join(REPO, "build", "bin",
                                                                  "rwproxyctl")
SCHEMA = "test_drill"  # app has every right on test_% only
DRILL_EXTRA = "[drill]\nschema = %s\ntable = markers\ninterval_ms = 5\n" % SCHEMA
RECOVER_ARGS = ["--init-rpl-role=SLAVE"]
CTL_TIMEOUT = 180  # hang-guard of one rwproxyctl run

_PROXIES = []  # rwproxy processes of the running test


# ======================================================================= fixtures

@pytest.fixture(scope="module")
def box(workdir):
    """This module's own sandbox; stopped at the end whatever happened."""
    b = sb.Sandbox(os.path.join(workdir, "ctl-sandbox"))
    try:
        b.start()
        yield b
    finally:
        for px in _PROXIES:
            px.stop()
        b.stop()


@pytest.fixture
def px(box, workdir):
    """A private rwproxy over the restored topology, seeing every server up; stopped after."""
    if not os.path.exists(RWPROXYCTL_BIN):
        pytest.fail("rwproxyctl not found at %s (set RWPROXYCTL_BIN or run make)" %
                    RWPROXYCTL_BIN, pytrace=False)
    try:
        box.restore_topology(timeout=60)
    except Exception as e:  # noqa: BLE001
        pytest.fail("could not restore the sandbox before the test: %r\n%s" % (
            e, box.describe()), pytrace=False)
    p = start_proxy(box, workdir, "ctl", extra=DRILL_EXTRA, registry=_PROXIES)
    p.config_path = p.proc.config_path
    p.admin_port = p.proc.admin_port

    def all_up():
        r = ctl(p, "servers", "--json")
        rows = json.loads(r.stdout)["servers"] if r.returncode == 0 else []
        return len(rows) == len(box.servers) and all(x["state"] == "up" for x in rows) and \
            sum(x["role"] == "master" for x in rows) == 1

    wait_until(all_up, 30, "rwproxy to see every server up", diag=lambda: p.tail())
    try:
        yield p
    finally:
        for q in _PROXIES:
            q.stop()
        del _PROXIES[:]


# ======================================================================= helpers

def ctl(p, *args, env=None, config=True, stdin=subprocess.DEVNULL):
    """Run rwproxyctl [-c p's config] args; returns the CompletedProcess (text)."""
    argv = [RWPROXYCTL_BIN] + (["-c", p.config_path] if config else []) + list(args)
    e = dict(os.environ)
    e.pop("RWPROXY_ADMIN", None)
    if env:
        e.update(env)
    return subprocess.run(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=CTL_TIMEOUT, env=e)


def ctl_json(p, *args):
    r = ctl(p, *args)
    assert r.returncode == 0, "rwproxyctl %s: exit %d\nstdout:\n%s\nstderr:\n%s" % (
        " ".join(args), r.returncode, r.stdout, r.stderr)
    return json.loads(r.stdout)


def server(box, name):
    return next(s for s in box.servers if s.name == name)


def one_error_line(r):
    """The run failed with exactly one line on stderr, starting with 'rwproxyctl: '."""
    assert r.returncode != 0, r
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rwproxyctl: "), repr(r.stderr)
    return lines[0]


def marker_ids(srv, lo, hi):
    rows = srv.query("SELECT id FROM %s.markers WHERE id BETWEEN %d AND %d" % (SCHEMA, lo, hi))
    return {r[0] for r in rows}


def check_drill_report(box, rep, kind):
    """What the report says against what the servers say, read directly."""
    assert rep["drill"] == kind and rep["ok"] is True, rep
    old, new = rep["old_master"]["name"], rep["new_master"]["name"]
    assert new and new != old, rep
    new_srv = server(box, new)
    # the new master really is writable, and the only writable server
    assert new_srv.is_writable()
    assert [s.name for s in box.writable_servers()] == [new]
    assert rep["writable_servers"] == 1
    # no acknowledged marker lost: every id the report counts as acknowledged is there
    assert rep["markers_missing"] == 0 and rep["missing_ids"] == []
    lo, hi = rep["first_marker_id"], rep["last_marker_id"]
    present = marker_ids(new_srv, lo, hi)
    assert rep["markers_acknowledged"] > 0
    assert rep["markers_acknowledged"] <= len(present) <= rep["markers_written"], (
        rep["markers_acknowledged"], len(present), rep["markers_written"])
    assert rep["markers_acknowledged"] + rep["failed_writes_committed"] == len(present)
    # timeline: numbers, in order
    for k in ("detected_at_ms", "promoted_at_ms", "first_write_accepted_at_ms",
              "write_pause_ms"):
        assert isinstance(rep[k], int), (k, rep[k])
    assert rep["detected_at_ms"] <= rep["promoted_at_ms"] <= rep["first_write_accepted_at_ms"]
    assert rep["event"]["type"] == kind and rep["event"]["to"] == new
    assert any(st["step"] == "promote " + new and st["ok"] == 1 for st in rep["event"]["steps"])
    # every server is in the report; replicas follow the new master
    by_name = {s["name"]: s for s in rep["servers"]}
    assert set(by_name) == {s.name for s in box.servers}
    assert by_name[new]["read_only"] == 0 and by_name[new]["role"] == "master"
    new_addr = "127.0.0.1:%d" % new_srv.port
    for s in box.servers:
        if s.name == new or not s.alive():
            continue
        assert by_name[s.name]["read_only"] == 1
        assert by_name[s.name]["source"] == new_addr, by_name[s.name]
        assert s.replicating_from(new_srv), s.describe()
    return old, new


# ======================================================================= tests

def test_status_json_matches_servers(box, px):
    rep = ctl_json(px, "status", "--json")
    master = box.current_master()
    assert rep["master"] == master.name and rep["ok"] is True
    assert rep["summary"]["servers"] == len(box.servers) == rep["summary"]["up"]
    assert rep["summary"]["readable"] == len(box.servers) - 1
    rows = {r["name"]: r for r in rep["servers"]}
    assert list(rows) == [s.name for s in box.servers]  # config order
    for s in box.servers:
        r = rows[s.name]
        assert r["address"] == "127.0.0.1:%d" % s.port
        assert r["state"] == "up"
        assert r["read_only"] == (0 if s.is_writable() else 1)  # a number, read directly
        assert isinstance(r["conns_in_use"], int) and isinstance(r["queries"], int)
        if s is master:
            assert r["role"] == "master" and r["source"] == "" and r["lag_s"] is None
        else:
            assert r["role"] == "replica"
            assert r["source"] == "127.0.0.1:%d" % master.port
            assert s.replicating_from(master)
            assert isinstance(r["lag_s"], int)


def test_status_table_and_exit_code(box, px):
    r = ctl(px, "status")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["name", "address", "role", "state"]
    for s in box.servers:
        assert any(ln.split()[0] == s.name for ln in lines[1:-1])
    # columns are aligned: every row's "role" column starts where its header does
    col = lines[0].index("role")
    for ln in lines[1:1 + len(box.servers)]:
        assert ln[col:].split()[0] in ("master", "replica"), ln
    assert lines[-1].startswith("master %s " % box.current_master().name), lines[-1]


def test_wrong_password_and_usage(box, px):
    r = ctl(px, "-p", "wrong", "status")
    line = one_error_line(r)
    assert r.returncode == 1 and r.stdout == ""
    assert "1045" in line
    # RWPROXY_ADMIN without a config file
    env = {"RWPROXY_ADMIN": "admin:admin_pw@127.0.0.1:%d" % px.admin_port}
    assert ctl(px, "status", env=env, config=False).returncode == 0
    env = {"RWPROXY_ADMIN": "admin:nope@127.0.0.1:%d" % px.admin_port}
    one_error_line(ctl(px, "servers", env=env, config=False))
    r = ctl(px, "no-such-command")
    one_error_line(r)
    assert r.returncode == 2


def test_maintenance(box, px):
    replica = [s for s in box.servers if s is not box.current_master()][-1]

    def state():
        rows = ctl_json(px, "servers", "--json")["servers"]
        return next(r for r in rows if r["name"] == replica.name)["state"]

    rep = ctl_json(px, "maintenance", replica.name, "on", "--json")
    assert rep["ok"] is True and "MAINTENANCE" in rep["command"]
    wait_until(lambda: state() == "maintenance", 10, "maintenance shown")
    st = ctl_json(px, "status", "--json")["summary"]
    assert st["maintenance"] == 1
    r = ctl(px, "maintenance", replica.name, "off")
    assert r.returncode == 0 and r.stdout.startswith("OK"), r
    wait_until(lambda: state() == "up", 10, "maintenance ended")
    r = ctl(px, "maintenance", "nosuchserver", "on")
    assert r.returncode == 1 and "nosuchserver" in one_error_line(r)
    assert ctl(px, "maintenance", replica.name).returncode == 2


def test_drill_switchover(box, px):
    before = box.current_master()
    r = ctl(px, "drill", "switchover", "--json")
    assert r.returncode == 0, "exit %d\n%s\n%s\n%s" % (r.returncode, r.stdout, r.stderr,
                                                      px.tail())
    rep = json.loads(r.stdout)
    old, new = check_drill_report(box, rep, "switchover")
    assert old == before.name
    # the old master is a replica of the new one, as the report says
    wait_until(lambda: before.replicating_from(server(box, new)), 30,
               "old master replicating from the new one", diag=box.describe)
    assert next(s for s in rep["servers"] if s["name"] == old)["read_only"] == 1


def test_drill_failover(box, px):
    before = box.current_master()
    # without --yes and without a terminal: refused, nothing stopped
    r = ctl(px, "drill", "failover")
    assert r.returncode == 2 and "--yes" in one_error_line(r)
    assert before.alive() and before.is_writable()

    r = ctl(px, "drill", "failover", "--yes", "--json")
    assert r.returncode == 0, "exit %d\n%s\n%s\n%s" % (r.returncode, r.stdout, r.stderr,
                                                      px.tail())
    rep = json.loads(r.stdout)
    wait_until(lambda: not before.alive(), 60, "the old master's process to end")
    old, new = check_drill_report(box, rep, "failover")
    assert old == before.name
    assert rep["unreachable_servers"] == 1
    gone = next(s for s in rep["servers"] if s["name"] == old)
    assert gone["reachable"] is False and gone["read_only"] is None
    # bring the old master back as the module's topology needs it: rwproxy rejoins it
    before.start_with_args(RECOVER_ARGS, read_only=True)
    new_srv = server(box, new)
    wait_until(lambda: before.replicating_from(new_srv), 60,
               "rwproxy to rejoin the old master under %s" % new,
               diag=lambda: box.describe() + "\n" + px.tail())
    st = ctl_json(px, "status", "--json")
    assert st["master"] == new
    assert [s.name for s in box.writable_servers()] == [new]
