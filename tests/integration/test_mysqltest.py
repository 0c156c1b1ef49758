"""
tests/integration/test_mysqltest.py — MariaDB's own mysqltest files run through rwproxy with
read/write splitting on (consistency = global, default balance): each file in
mysqltest_files.txt (chosen because it passes directly against the sandbox master; how: see
that file) must pass unchanged. The files write and read back at once, on one connection, so
they test routing, session state and read-your-writes together.

Owns: its private rwproxy (with [user.monitor]: the files need DDL privileges the app user
lacks), the clean-up between files (objects and databases a file left in `test` are dropped
directly on the master, so one failure does not cascade), and the check at the end that reads
reached the replicas and that replication is still healthy.
"""
import os
import re
import shutil
import subprocess

import pytest

from test_routing import MONITOR_USER, Topology, start_own_proxy, stop_own_proxy

HERE = os.path.dirname(os.path.abspath(__file__))
MTR_DIR = "/usr/share/mysql/mysql-test"
MYSQLTEST = shutil.which("mariadb-test") or shutil.which("mysqltest")


def load_files():
    with open(os.path.join(HERE, "mysqltest_files.txt")) as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]


FILES = load_files()


@pytest.fixture(scope="module")
def topo(sandbox):
    return Topology(sandbox)


@pytest.fixture(scope="module")
def mtr_px(sandbox, workdir, topo):
    if not MYSQLTEST or not os.path.isdir(os.path.join(MTR_DIR, "main")):
        pytest.skip("mysqltest / mariadb-test files not installed (Debian package mariadb-test)")
    px = start_own_proxy(sandbox, workdir, "mysqltest", MONITOR_USER, topo=topo)
    yield px
    stop_own_proxy(px)


def snapshot(master):
    """What exists before the files run: databases, and objects of `test`."""
    dbs = {r[0] for r in master.query("SHOW DATABASES")}
    objs = set(master.query(
        "SELECT 'TABLE', TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA='test'"
        " UNION ALL SELECT 'ROUTINE', ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES"
        " WHERE ROUTINE_SCHEMA='test'"))
    return dbs, objs


@pytest.fixture(scope="module")
def baseline(topo, mtr_px):
    return snapshot(topo.master)


def clean(topo, baseline):
    """Drop (on the master, replicated) what a previous file left behind."""
    dbs0, objs0 = baseline
    dbs, objs = snapshot(topo.master)
    stmts = ["SET SESSION foreign_key_checks = 0"]
    for db in sorted(dbs - dbs0):
        stmts.append("DROP DATABASE IF EXISTS `%s`" % db)
    for kind, name, sub in sorted(objs - objs0):
        if name.startswith("rwp_"):
            continue
        if kind == "ROUTINE":
            stmts.append("DROP %s IF EXISTS test.`%s`" % (sub, name))
        elif sub == "VIEW":
            stmts.append("DROP VIEW IF EXISTS test.`%s`" % name)
        elif sub == "SEQUENCE":
            stmts.append("DROP SEQUENCE IF EXISTS test.`%s`" % name)
        else:
            stmts.append("DROP TABLE IF EXISTS test.`%s`" % name)
    if len(stmts) > 1:
        topo.master.execute(stmts)
        topo.sync()


@pytest.mark.parametrize("name", FILES)
def test_mysqltest_file(mtr_px, topo, baseline, name, tmp_path):
    test_file = os.path.join(MTR_DIR, "main", name + ".test")
    result_file = os.path.join(MTR_DIR, "main", name + ".result")
    assert os.path.exists(test_file) and os.path.exists(result_file), "missing " + test_file
    clean(topo, baseline)
    mtr_px.mark()
    # mysqltest writes NAME.reject beside the result file: use a copy in the temp dir
    result_copy = os.path.join(str(tmp_path), name + ".result")
    shutil.copyfile(result_file, result_copy)
    cmd = [MYSQLTEST, "--host=127.0.0.1", "--port=%d" % mtr_px.port, "--user=monitor",
           "--password=monitor_pw", "--database=test", "--basedir=" + MTR_DIR,
           "--test-file=" + test_file, "--result-file=" + result_copy,
           "--tmpdir=%s" % tmp_path, "--logdir=%s" % tmp_path, "--max-connect-retries=2"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    except subprocess.TimeoutExpired:
        pytest.fail(mtr_px.why("%s did not finish in 120 s through rwproxy" % name))
    out = (p.stdout + p.stderr)[-4000:]
    assert p.returncode == 0, mtr_px.why("%s failed through rwproxy (exit %d); mysqltest said:\n%s"
                                         % (name, p.returncode, out))


def test_mysqltest_reads_reached_replicas_and_replication_is_healthy(mtr_px, topo, baseline, sandbox):
    """After the files: some of their statements were served by replicas (else the run proved
    nothing about splitting), and both replicas still replicate."""
    clean(topo, baseline)
    log = mtr_px.proc.log_text()
    routed = re.findall(r"COM_\w+ -> (\w+) \(", log)
    if not routed:
        pytest.skip("rwproxy's log has no 'COM_... -> server (reason)' lines to count")
    by_server = {}
    for s in routed:
        by_server[s] = by_server.get(s, 0) + 1
    print("mysqltest statements per server:", by_server)
    on_replicas = sum(n for s, n in by_server.items() if s in topo.replica_names)
    assert on_replicas > 0, mtr_px.why("no mysqltest statement reached a replica: %r" % by_server)
    Topology(sandbox)  # fails if a replica stopped replicating
    topo.sync()
