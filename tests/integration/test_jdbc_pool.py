"""
tests/integration/test_jdbc_pool.py — MariaDB Connector/J through rwproxy as a Tomcat-style
application uses it (tests/integration/java/JdbcPool.java): 8 pooled connections, 4 threads,
setAutoCommit(false) write transactions, setReadOnly(true) server-side prepared reads of the
rows just written on another pooled connection, the validation query
"SET STATEMENT max_statement_time=5 FOR SELECT 1" before every borrow.

Owns: its private rwproxy (all routing defaults: consistency = global, least_connections) and
the table jdbc_pool. Asserts zero errors, every row written read back (read-your-writes across
pooled connections), and reads landing on replicas (the validation query must not pin).
"""
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import HOST
from test_routing import Topology, install_markers, remove_markers, start_own_proxy, stop_own_proxy

JAVA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "java")
JDBC_JAR = "/usr/share/java/mariadb-java-client.jar"
THREADS, ROWS, TXNS = 4, 3, 100  # as in JdbcPool.java; TXNS per thread is passed to it


@pytest.fixture(scope="module")
def topo(sandbox):
    t = Topology(sandbox)
    install_markers(t)
    yield t
    remove_markers(t)


@pytest.fixture(scope="module")
def px(sandbox, workdir, topo):
    p = start_own_proxy(sandbox, workdir, "jdbc-pool", "", topo=topo)
    yield p
    stop_own_proxy(p)


@pytest.fixture(scope="module")
def pool_classes():
    if not shutil.which("javac") or not shutil.which("java"):
        pytest.skip("javac/java not installed")
    assert os.path.exists(JDBC_JAR), "MariaDB Connector/J missing: " + JDBC_JAR
    out = tempfile.mkdtemp(prefix="rwp-jdbcpool-")
    try:
        p = subprocess.run(["javac", "-encoding", "UTF-8", "-Xlint:all", "-cp", JDBC_JAR, "-d", out,
                            os.path.join(JAVA_DIR, "JdbcPool.java")],
                           capture_output=True, text=True, timeout=180)
        assert p.returncode == 0, "javac failed:\n" + p.stdout + p.stderr
        yield out
    finally:
        shutil.rmtree(out, ignore_errors=True)


@pytest.fixture
def table(topo):
    topo.master.execute(["DROP TABLE IF EXISTS test.jdbc_pool",
                         "CREATE TABLE test.jdbc_pool (thread INT, txn INT, k INT, payload VARCHAR(64),"
                         " PRIMARY KEY (thread, txn, k))"])
    topo.sync()
    yield
    topo.master.execute("DROP TABLE IF EXISTS test.jdbc_pool")


def parse(out):
    kv = {}
    for line in out.splitlines():
        key, sep, value = line.partition("=")
        if sep and key != "error_sample":
            kv[key] = value
    return kv


def test_tomcat_like_pool(px, topo, pool_classes, table):
    px.mark()
    url = ("jdbc:mysql://%s:%d/test?user=app&password=app_pw&permitMysqlScheme"
           "&useServerPrepStmts=true" % (HOST, px.port))
    p = subprocess.run(["java", "-Xmx256m", "-cp", pool_classes + os.pathsep + JDBC_JAR, "JdbcPool",
                        url, topo.master.name, str(TXNS)],
                       capture_output=True, text=True, timeout=600)
    print(p.stdout)
    kv = parse(p.stdout)
    report = "exit %d\nstdout:\n%s\nstderr (tail):\n%s" % (p.returncode, p.stdout, p.stderr[-3000:])
    assert kv.get("errors") == "0", px.why("JdbcPool had errors: " + report)
    want = THREADS * TXNS * ROWS
    assert int(kv["written"]) == want, px.why("rows written: " + report)
    assert int(kv["read_back"]) == want and kv["mismatches"] == "0", px.why(
        "a pooled read missed rows committed on another connection: " + report)
    assert int(kv["table_rows"]) == want, px.why("rows in the table: " + report)
    assert int(kv["replica_reads"]) > 0, px.why("no read-back landed on a replica: " + report)
    assert p.returncode == 0 and p.stdout.rstrip().endswith("END"), report
