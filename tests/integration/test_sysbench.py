"""
tests/integration/test_sysbench.py — sysbench's OLTP workloads through rwproxy with zero
errors: oltp_read_write and oltp_read_only, with transactions and with --skip-trx=on (the
autocommit form, whose reads are split to the replicas). sysbench drives libmariadb with
server-side prepared statements, so this also exercises prepare-on-demand on the replicas.

Owns: its private rwproxy (routing defaults: consistency = global) and the sbtest* tables in
the database sbtest_rwp. Counts events, not time: no timing assertion anywhere.
"""
import re
import shutil
import subprocess

import pytest

from test_routing import Topology, counters, deltas, start_own_proxy, stop_own_proxy

SYSBENCH = shutil.which("sysbench")
DB = "test_sbtest_rwp"  # app has rights on test_%
COMMON = ["--mysql-host=127.0.0.1", "--mysql-user=app", "--mysql-password=app_pw",
          "--mysql-db=" + DB, "--tables=2", "--table-size=2000", "--db-driver=mysql"]

pytestmark = pytest.mark.skipif(not SYSBENCH, reason="sysbench not installed")


@pytest.fixture(scope="module")
def topo(sandbox):
    return Topology(sandbox)


@pytest.fixture(scope="module")
def px(sandbox, workdir, topo):
    topo.master.execute(["CREATE DATABASE IF NOT EXISTS " + DB])
    p = start_own_proxy(sandbox, workdir, "sysbench", "", topo=topo)
    yield p
    stop_own_proxy(p)
    topo.master.execute(["DROP DATABASE IF EXISTS " + DB])


def sysbench(px, *args, timeout=300):
    cmd = [SYSBENCH] + list(args) + COMMON + ["--mysql-port=%d" % px.port]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, "sysbench failed (%d):\n%s\n%s\n%s" % (
        p.returncode, " ".join(cmd), p.stdout[-3000:], p.stderr[-3000:])
    return p.stdout


def errors_in(report):
    """(errors, reconnects) from sysbench's summary."""
    e = re.search(r"ignored errors:\s+(\d+)", report)
    r = re.search(r"reconnects:\s+(\d+)", report)
    assert e and r, "no summary in sysbench output:\n" + report
    return int(e.group(1)), int(r.group(1))


@pytest.fixture(scope="module")
def prepared(px):
    sysbench(px, "oltp_read_write", "cleanup")
    sysbench(px, "oltp_read_write", "prepare")
    yield
    sysbench(px, "oltp_read_write", "cleanup")


@pytest.mark.parametrize("workload,extra", [
    ("oltp_read_write", []),
    ("oltp_read_write", ["--skip-trx=on"]),
    ("oltp_read_only", []),
    ("oltp_read_only", ["--skip-trx=on"]),
])
def test_oltp_without_errors(px, prepared, topo, workload, extra):
    before = counters(topo, "Com_stmt_execute")
    # Without transactions, concurrent threads of oltp_read_write race on DELETE+INSERT of the
    # same random id (1062 on a direct connection too): that variant runs one thread.
    threads = 1 if workload == "oltp_read_write" and extra else 4
    report = sysbench(px, workload, "run", "--threads=%d" % threads, "--events=400", "--time=0",
                      *extra)
    # sysbench exits non-zero on any real error. The "ignored errors" it counts are the
    # deadlocks (1213) and lock-wait timeouts of concurrent transactions that it retries, which
    # a direct connection gets as well; none may come with a lost connection.
    ignored, reconnects = errors_in(report)
    assert reconnects == 0, report
    if workload != "oltp_read_write" or extra:  # no concurrent write transactions: no retries
        assert ignored == 0, report
    m = re.search(r"transactions:\s+(\d+)", report)
    assert m and int(m.group(1)) == 400, report
    executed = deltas(before, counters(topo, "Com_stmt_execute"))
    on_replicas = sum(executed[s.name] for s in topo.replicas)
    if "--skip-trx=on" in extra:
        # autocommit reads are split: the replicas must have served some of them
        assert on_replicas > 0, executed
    elif workload == "oltp_read_write":
        # every statement is inside BEGIN ... COMMIT: all on the master
        assert on_replicas == 0, executed
