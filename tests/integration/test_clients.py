"""
tests/integration/test_clients.py — real clients get the same answers through rwproxy as from
the master directly: the mariadb/mysql CLI, PyMySQL (DDL/DML, utf8mb4, binary, NULLs, a
streamed 100k-row result, a 17 MiB BLOB, transactions), server-side prepared statements through
the raw client, and MariaDB Connector/J (tests/integration/java/JdbcSmoke.java).

Each scenario runs once against the master and once through the shared rwproxy (it recreates
its own tables first, so both runs start from the same state) and the transcripts must match.
"""
import hashlib
import os
import shutil
import subprocess
import tempfile

import pymysql
import pymysql.cursors
import pytest

import mysqlraw
from conftest import HOST, log_tail

MYSQL_CLI = shutil.which("mariadb") or shutil.which("mysql")
JAVA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "java")
JDBC_JAR = "/usr/share/java/mariadb-java-client.jar"


def both(endpoints, scenario):
    """Run scenario(port) against the master, then through the proxy; return both results."""
    direct = scenario(endpoints["direct"])
    endpoints["sync"]()  # the direct run wrote behind rwproxy's back: let the replicas catch up
    through = scenario(endpoints["proxy"])
    return direct, through


def assert_same(direct, through):
    """Compare transcripts item by item so a failure points at the first difference."""
    if isinstance(direct, list) and isinstance(through, list):
        for i, (d, p) in enumerate(zip(direct, through)):
            assert p == d, "item %d differs: direct=%r proxy=%r" % (i, d, p)
        assert len(through) == len(direct), "direct had %d items, proxy %d" % (
            len(direct), len(through))
    assert through == direct


# ------------------------------------------------------------------ mysql command-line client

def run_cli(port, script, extra=()):
    cmd = [MYSQL_CLI, "--no-defaults", "-h", HOST, "-P", str(port), "-uapp", "-papp_pw",
           "--default-character-set=utf8mb4", "-N", "-B"] + list(extra) + ["test", "-e", script]
    p = subprocess.run(cmd, capture_output=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


CLI_SETUP = """
DROP TABLE IF EXISTS cli_t;
CREATE TABLE cli_t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(50), n DECIMAL(10,2));
INSERT INTO cli_t (v, n) VALUES ('alpha', 1.50), ('beta', NULL), (NULL, -3), ('😀', 0);
DROP PROCEDURE IF EXISTS cli_p2;
DELIMITER //
CREATE PROCEDURE cli_p2(IN k INT)
BEGIN
  SELECT id, v FROM cli_t WHERE id <= k ORDER BY id;
  SELECT COUNT(*) AS c, SUM(n) AS s FROM cli_t;
END//
DELIMITER ;
"""

CLI_SCRIPTS = {
    "select": "SELECT 1; SELECT 'a' AS x, NULL AS y, 3.14 AS z; SELECT @@version LIKE '%MariaDB%'",
    "dml": CLI_SETUP + """
SELECT * FROM cli_t ORDER BY id;
UPDATE cli_t SET v = 'BETA' WHERE id = 2;
SELECT ROW_COUNT();
DELETE FROM cli_t WHERE v IS NULL;
SELECT id, v, n FROM cli_t ORDER BY id;
SELECT LAST_INSERT_ID();
""",
    "multi_statement": """
DELIMITER //
SELECT 1 AS a; SELECT 'two' AS b, 2 AS c; SELECT NULL AS d//
DELIMITER ;
SELECT 'after'
""",
    "call_two_results": CLI_SETUP + "CALL cli_p2(2); SELECT 'after call';",
    "utf8mb4": "SELECT '😀', '中文字符', 'Ünïcödé', CHAR_LENGTH('😀中'), HEX('😀')",
    "error": "SELECT 1; SELECT * FROM no_such_table_cli; SELECT 2",
    "use_and_show": "USE test; SHOW TABLES LIKE 'cli\\_%'; SELECT DATABASE()",
}


@pytest.mark.skipif(not MYSQL_CLI, reason="no mariadb/mysql command-line client")
@pytest.mark.parametrize("name", sorted(CLI_SCRIPTS))
def test_cli_same_output(endpoints, name):
    script = CLI_SCRIPTS[name]
    direct, through = both(endpoints, lambda port: run_cli(port, script))
    assert through[0] == direct[0], "exit codes differ: direct %r, proxy %r; proxy stderr: %s" % (
        direct[0], through[0], through[2].decode(errors="replace"))
    assert through[1] == direct[1]
    assert through[2] == direct[2]
    if name != "error":
        assert direct[0] == 0, direct[2]
        assert direct[1].strip(), "the script printed nothing"
    else:
        assert direct[0] == 1 and b"1146" in direct[2]


@pytest.mark.skipif(not MYSQL_CLI, reason="no mariadb/mysql command-line client")
def test_cli_table_output_and_warnings(endpoints):
    """Table mode (-t) prints metadata-derived widths; --show-warnings reads SHOW WARNINGS."""
    script = "SELECT CAST('12abc' AS INT) AS n, 'x' AS s; SELECT 1/0"
    direct, through = both(endpoints, lambda port: run_cli(port, script, ["-t", "--show-warnings"]))
    assert through == direct
    assert b"Warning" in direct[1] or b"Warning" in direct[2]


# ------------------------------------------------------------------ PyMySQL

def transcript_of(cur, sql, args=None):
    """Execute and describe what the client saw."""
    n = cur.execute(sql, args)
    desc = [(d[0], d[1]) for d in cur.description] if cur.description else None
    return (sql[:60], n, desc, cur.fetchall() if cur.description else None, cur.lastrowid)


def test_pymysql_ddl_dml(endpoints, direct_conn, proxy_conn):
    def scenario(port):
        factory = direct_conn if port == endpoints["direct"] else proxy_conn
        c = factory()
        out = []
        with c.cursor() as cur:
            out.append(transcript_of(cur, "DROP TABLE IF EXISTS py_t"))
            out.append(transcript_of(cur, "CREATE TABLE py_t (id INT AUTO_INCREMENT PRIMARY KEY, "
                                          "name VARCHAR(40) NOT NULL, qty INT, price DECIMAL(8,3), "
                                          "made DATETIME(3), flag BOOL, f DOUBLE, UNIQUE(name))"))
            out.append(transcript_of(cur, "INSERT INTO py_t (name, qty, price, made, flag, f) "
                                          "VALUES (%s, %s, %s, %s, %s, %s)",
                                     ("apple", 3, "1.250", "2024-02-29 12:34:56.789", True, 0.5)))
            n = cur.executemany("INSERT INTO py_t (name, qty) VALUES (%s, %s)",
                                [("pear", 1), ("plum", None), ("fig", 7)])
            out.append(("executemany", n, cur.lastrowid))
            out.append(transcript_of(cur, "UPDATE py_t SET qty = qty + 1 WHERE qty IS NOT NULL"))
            out.append(transcript_of(cur, "INSERT INTO py_t (name, qty) VALUES ('fig', 0) "
                                          "ON DUPLICATE KEY UPDATE qty = qty * 10"))
            out.append(transcript_of(cur, "DELETE FROM py_t WHERE name = 'pear'"))
            out.append(transcript_of(cur, "SELECT * FROM py_t ORDER BY id"))
            out.append(transcript_of(cur, "ALTER TABLE py_t ADD COLUMN note TEXT DEFAULT 'n/a'"))
            out.append(transcript_of(cur, "SELECT id, note FROM py_t ORDER BY id"))
            out.append(transcript_of(cur, "SHOW WARNINGS"))
            try:
                cur.execute("INSERT INTO py_t (name) VALUES ('apple')")
                out.append("no error")
            except pymysql.err.IntegrityError as e:
                out.append(("IntegrityError", e.args))
            out.append(transcript_of(cur, "SELECT COUNT(*), SUM(qty) FROM py_t"))
        return out

    direct, through = both(endpoints, scenario)
    assert_same(direct, through)
    assert direct[-1][3][0][0] == 3


UNICODE_VALUES = ["😀", "中文字符", "日本語のテキスト", "한국어", "Ünïcödé ß", "emoji mix 😀👍🏽🇫🇷",
                  "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "", "'quote\" back\\slash"]


def test_pymysql_utf8mb4(endpoints, direct_conn, proxy_conn):
    def scenario(port):
        factory = direct_conn if port == endpoints["direct"] else proxy_conn
        c = factory(charset="utf8mb4")
        with c.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS py_u")
            cur.execute("CREATE TABLE py_u (id INT PRIMARY KEY, s VARCHAR(100) "
                        "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci)")
            cur.executemany("INSERT INTO py_u VALUES (%s, %s)", list(enumerate(UNICODE_VALUES)))
            cur.execute("SELECT id, s, CHAR_LENGTH(s), HEX(s) FROM py_u ORDER BY id")
            rows = cur.fetchall()
            cur.execute("SELECT %s, %s", ("😀", "中文"))
            lit = cur.fetchall()
            cur.execute("SELECT @@character_set_client, @@character_set_results, "
                        "@@character_set_connection")
            cs = cur.fetchall()
        return rows, lit, cs

    direct, through = both(endpoints, scenario)
    assert through == direct
    rows, lit, cs = through
    assert [r[1] for r in rows] == UNICODE_VALUES
    assert lit == (("😀", "中文"),)
    assert cs == (("utf8mb4", "utf8mb4", "utf8mb4"),)


def test_pymysql_binary_and_nulls(endpoints, direct_conn, proxy_conn):
    allbytes = bytes(range(256))

    def scenario(port):
        factory = direct_conn if port == endpoints["direct"] else proxy_conn
        c = factory()
        with c.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS py_b")
            cur.execute("CREATE TABLE py_b (id INT PRIMARY KEY, b BLOB, vb VARBINARY(300), "
                        "i INT, d DATE, t TEXT, dec1 DECIMAL(5,2), f FLOAT, j JSON)")
            cur.execute("INSERT INTO py_b VALUES (%s, %s, %s, 1, '2020-01-02', 'x', 1.5, 2.5, '{}')",
                        (1, allbytes, allbytes[::-1]))
            cur.execute("INSERT INTO py_b VALUES (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
            cur.execute("INSERT INTO py_b (id, b) VALUES (3, %s)", (allbytes * 64,))
            cur.execute("SELECT * FROM py_b ORDER BY id")
            rows = cur.fetchall()
            cur.execute("SELECT id, HEX(b), LENGTH(b), MD5(b) FROM py_b ORDER BY id")
            hexes = cur.fetchall()
            cur.execute("SELECT NULL, NULL IS NULL, COALESCE(NULL, NULL), CAST(NULL AS BINARY)")
            nulls = cur.fetchall()
        return rows, hexes, nulls

    direct, through = both(endpoints, scenario)
    assert through == direct
    rows, hexes, nulls = through
    assert rows[0][1] == allbytes and rows[0][2] == allbytes[::-1]
    assert rows[1][1:] == (None,) * 8
    assert rows[2][1] == allbytes * 64
    assert hexes[0][1] == allbytes.hex().upper()
    assert nulls == ((None, 1, None, None),)


def stream_rows(port, sql):
    """Stream a result with SSCursor; return (count, sum of col 0, sha256 of all rows)."""
    c = pymysql.connect(host=HOST, port=port, user="app", password="app_pw", database="test",
                        charset="utf8mb4", autocommit=True, read_timeout=120,
                        cursorclass=pymysql.cursors.SSCursor)
    try:
        h = hashlib.sha256()
        n = total = 0
        with c.cursor() as cur:
            cur.execute(sql)
            for row in cur.fetchall_unbuffered():
                n += 1
                total += row[0]
                h.update(repr(row).encode())
        with c.cursor() as cur:  # the connection is usable after the stream
            cur.execute("SELECT 'after'")
            after = tuple(cur.fetchall())
        return n, total, h.hexdigest(), after
    finally:
        c.close()


def test_pymysql_large_streamed_result(endpoints):
    sql = ("SELECT seq, CONCAT('row-', seq, '-', REPEAT('x', seq % 50)), seq * 1.5, "
           "IF(seq % 7 = 0, NULL, seq) FROM seq_1_to_100000")
    direct, through = both(endpoints, lambda port: stream_rows(port, sql))
    assert through == direct
    assert through[0] == 100000
    assert through[1] == 100000 * 100001 // 2
    assert through[3] == (("after",),)


def test_pymysql_17mib_blob(endpoints, sandbox, proxy_conn):
    size = 17 * 1024 * 1024 + 123
    pattern = hashlib.sha256(b"rwproxy").digest()
    blob = (bytes(range(256)) + pattern) * (size // 288 + 1)
    blob = blob[:size]
    digest = hashlib.sha256(blob).hexdigest()
    c = proxy_conn()
    with c.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS py_big")
        cur.execute("CREATE TABLE py_big (id INT PRIMARY KEY, b LONGBLOB)")
        cur.execute("INSERT INTO py_big VALUES (1, %s)", (blob,))
        assert cur.rowcount == 1
        cur.execute("SELECT LENGTH(b), SHA2(b, 256) FROM py_big WHERE id = 1")
        assert cur.fetchall() == ((size, digest),)
        cur.execute("SELECT b FROM py_big WHERE id = 1")
        got = cur.fetchall()[0][0]
    assert len(got) == size and hashlib.sha256(got).hexdigest() == digest
    # What was stored, read from the master directly.
    assert sandbox.master.query("SELECT LENGTH(b), SHA2(b, 256) FROM test.py_big") == [(size, digest)]


def raw_prepared_scenario(port, deprecate_eof):
    out = []
    c = mysqlraw.connect(HOST, port, deprecate_eof=deprecate_eof)
    try:
        c.query1("DROP TABLE IF EXISTS ps_t")  # not recorded: warns only if it existed
        out.append(c.query1("CREATE TABLE ps_t (id INT AUTO_INCREMENT PRIMARY KEY, s VARCHAR(50), "
                            "n BIGINT, d DOUBLE, b BLOB)").summary())
        ins = c.prepare("INSERT INTO ps_t (s, n, d, b) VALUES (?, ?, ?, ?)")
        out.append(ins.summary())
        assert ins.kind == "prepare", ins
        for i, args in enumerate([("a", 1, 1.5, b"\x00\xff"), ("😀", -2, None, None),
                                  (None, 2 ** 62, 0.0, bytes(range(256)))]):
            out.append([r.summary() for r in c.execute(ins.stmt_id, args)])
        sel = c.prepare("SELECT id, s, n, d, b, ? AS p FROM ps_t WHERE id >= ? ORDER BY id")
        out.append(sel.summary())
        for args in [("x", 1), (None, 2), (12345, 3)]:
            res = c.execute(sel.stmt_id, args)
            out.append([r.summary() for r in res])
            out.append(res[0].values())
        c.stmt_close(ins.stmt_id)
        c.stmt_close(sel.stmt_id)
        out.append(c.query1("SELECT COUNT(*) FROM ps_t").values())
        out.append(c.prepare("SELECT * FROM no_such_table_ps").summary())
        out.append(c.ping().summary())
    finally:
        c.close()
    return out


@pytest.mark.parametrize("deprecate_eof", [True, False], ids=["deprecate_eof", "classic_eof"])
def test_server_side_prepared_statements(endpoints, deprecate_eof):
    direct, through = both(endpoints, lambda port: raw_prepared_scenario(port, deprecate_eof))
    assert_same(direct, through)
    assert through[-3] == [(b"3",)]
    assert through[-2][0] == "err" and through[-2][1] == 1146


def test_transactions_visible_on_second_connection(proxy_conn, direct_conn):
    for factory in (direct_conn, proxy_conn):
        writer = factory(autocommit=False)
        reader = factory()
        with writer.cursor() as w, reader.cursor() as r:
            w.execute("DROP TABLE IF EXISTS py_tx")
            w.execute("CREATE TABLE py_tx (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
            writer.commit()
            w.execute("INSERT INTO py_tx VALUES (1, 10)")
            r.execute("SELECT COUNT(*) FROM py_tx")
            assert r.fetchall() == ((0,),), "uncommitted row visible to another connection"
            writer.rollback()
            w.execute("SELECT COUNT(*) FROM py_tx")
            assert w.fetchall() == ((0,),)
            w.execute("INSERT INTO py_tx VALUES (2, 20)")
            w.execute("UPDATE py_tx SET v = v + 1 WHERE id = 2")
            writer.commit()
            r.execute("SELECT id, v FROM py_tx")
            assert r.fetchall() == ((2, 21),)
            # explicit BEGIN / ROLLBACK on an autocommit connection
            r.execute("BEGIN")
            r.execute("DELETE FROM py_tx")
            r.execute("ROLLBACK")
            r.execute("SELECT COUNT(*) FROM py_tx")
            assert r.fetchall() == ((1,),)
            # status flags: the driver's view of the transaction
            r.execute("START TRANSACTION")
            assert reader.server_status & mysqlraw.SERVER_STATUS_IN_TRANS
            r.execute("COMMIT")
            assert not reader.server_status & mysqlraw.SERVER_STATUS_IN_TRANS
            assert reader.server_status & mysqlraw.SERVER_STATUS_AUTOCOMMIT


# ------------------------------------------------------------------ Java (Connector/J)

@pytest.fixture(scope="module")
def jdbc_classes():
    if not shutil.which("javac") or not shutil.which("java"):
        pytest.skip("javac/java not installed")
    assert os.path.exists(JDBC_JAR), "MariaDB Connector/J missing: " + JDBC_JAR
    out = tempfile.mkdtemp(prefix="rwp-java-")
    try:
        p = subprocess.run(["javac", "-encoding", "UTF-8", "-cp", JDBC_JAR, "-d", out,
                            os.path.join(JAVA_DIR, "JdbcSmoke.java")],
                           capture_output=True, text=True, timeout=180)
        assert p.returncode == 0, "javac failed:\n" + p.stdout + p.stderr
        yield out
    finally:
        shutil.rmtree(out, ignore_errors=True)


def hang_report(proc, proxy):
    """What a hung JdbcSmoke was waiting for: its Java stacks, rwproxy's sessions and pools,
    and the tail of rwproxy's log. Every part is best effort."""
    parts = []
    jstack = shutil.which("jstack")
    if jstack:
        try:
            js = subprocess.run([jstack, str(proc.pid)], capture_output=True, text=True, timeout=60)
            main = [b for b in js.stdout.split("\n\n") if b.startswith('"main"')]
            parts.append("java main thread:\n" + ("\n".join(main) or js.stdout[-4000:]))
        except (subprocess.SubprocessError, OSError) as e:
            parts.append("jstack failed: %r" % e)
    if proxy is not None:
        for sql in ("SHOW SESSIONS", "SHOW POOLS", "SHOW SERVERS"):
            try:
                c = pymysql.connect(host=HOST, port=proxy.proc.admin_port, user="admin",
                                    password="admin_pw", connect_timeout=10, read_timeout=30)
                try:
                    with c.cursor() as cur:
                        cur.execute(sql)
                        parts.append(sql + ":\n" + "\n".join(repr(r) for r in cur.fetchall()))
                finally:
                    c.close()
            except pymysql.err.MySQLError as e:
                parts.append("%s failed: %r" % (sql, e))
        parts.append("rwproxy log tail:\n" + log_tail(proxy.proc.log_text(), 80))
    return "\n\n".join(parts)


def run_jdbc(classes, port, proxy=None):
    """Run JdbcSmoke against port; (exit code, stdout, stderr). A run that does not finish in
    240 s fails the test with where it stood (see hang_report)."""
    url = "jdbc:mysql://%s:%d/test?user=app&password=app_pw&permitMysqlScheme" % (HOST, port)
    proc = subprocess.Popen(["java", "-Xmx512m", "-Dfile.encoding=UTF-8", "-cp",
                             classes + os.pathsep + JDBC_JAR, "JdbcSmoke", url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        report = hang_report(proc, proxy)
        proc.kill()
        out, err = proc.communicate()
        pytest.fail("JdbcSmoke on port %d did not finish in 240 s; its output ends with:\n%s\n%s\n\n%s"
                    % (port, out.decode("utf-8", "replace")[-1500:],
                       err.decode("utf-8", "replace")[-1500:], report))
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def test_jdbc_same_transcript(endpoints, jdbc_classes, proxy):
    rc_p, out_p, err_p = run_jdbc(jdbc_classes, endpoints["proxy"], proxy)
    rc_d, out_d, err_d = run_jdbc(jdbc_classes, endpoints["direct"])
    assert rc_d == 0, "JdbcSmoke failed against the master itself:\n" + out_d + err_d
    assert rc_p == 0, "JdbcSmoke failed through rwproxy:\n" + out_p[-3000:] + err_p[-3000:]
    lines_p, lines_d = out_p.splitlines(), out_d.splitlines()
    for i, (d, p) in enumerate(zip(lines_d, lines_p)):
        assert p == d, "transcript line %d differs:\n direct: %s\n proxy:  %s" % (i + 1, d, p)
    assert len(lines_p) == len(lines_d)
    assert len(lines_d) > 50, "transcript too short:\n" + out_d
    assert lines_d[-1] == "END"
