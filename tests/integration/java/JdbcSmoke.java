/*
 * tests/integration/java/JdbcSmoke.java — a MariaDB Connector/J smoke program for the
 * integration suite. It runs the same JDBC work twice (client-side prepared statements, then
 * useServerPrepStmts=true) against the URL given as its only argument and prints a
 * deterministic transcript, one line per result, ending with "END". test_clients.py runs it
 * through rwproxy and directly against the master and requires identical transcripts.
 *
 * Covers: prepared statements, getGeneratedKeys, batch inserts (Connector/J pipelines or bulks
 * them), setAutoCommit(false) with commit and rollback, a 17 MiB BLOB round trip, a streamed
 * 100k-row result (setFetchSize(Integer.MIN_VALUE)), utf8mb4 strings, a CALL with several
 * result sets, metadata and an SQL error.
 */
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.sql.CallableStatement;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;

public class JdbcSmoke {
    private static final String[] TEXTS = {
        "plain ascii", "\uD83D\uDE00 emoji", "\u4E2D\u6587\u5B57\u7B26", "\u00DCn\u00EFc\u00F6d\u00E9",
        "\uD83D\uDC4D\uD83C\uDFFD thumbs", "quote ' and \" and \\ backslash", ""
    };
    private static final int BLOB_SIZE = 17 * 1024 * 1024 + 7;
    private static final int BATCH = 500;

    private static void out(String s) {
        System.out.println(s);
    }

    /** Non-ASCII as \\uXXXX so the transcript does not depend on the terminal encoding. */
    private static String esc(String s) {
        if (s == null)
            return "NULL";
        StringBuilder b = new StringBuilder();
        for (char ch : s.toCharArray()) {
            if (ch >= 32 && ch < 127)
                b.append(ch);
            else
                b.append(String.format("\\u%04x", (int) ch));
        }
        return b.toString();
    }

    private static String hex(byte[] d) {
        StringBuilder b = new StringBuilder();
        for (byte x : d)
            b.append(String.format("%02x", x & 0xff));
        return b.toString();
    }

    private static String sha256(byte[] d) throws Exception {
        return hex(MessageDigest.getInstance("SHA-256").digest(d));
    }

    private static String row(ResultSet rs) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        StringBuilder b = new StringBuilder();
        for (int i = 1; i <= md.getColumnCount(); i++) {
            if (i > 1)
                b.append(" | ");
            b.append(esc(rs.getString(i)));
        }
        return b.toString();
    }

    private static void printResult(String tag, ResultSet rs) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        StringBuilder cols = new StringBuilder();
        for (int i = 1; i <= md.getColumnCount(); i++)
            cols.append(md.getColumnLabel(i)).append(':').append(md.getColumnTypeName(i)).append(' ');
        out(tag + " columns " + cols.toString().trim());
        int n = 0;
        while (rs.next()) {
            out(tag + " row " + row(rs));
            n++;
        }
        out(tag + " rows=" + n);
    }

    private static void exec(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    private static long count(Connection c, String table) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT COUNT(*) FROM " + table)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static void setup(Connection c) throws SQLException {
        exec(c, "DROP TABLE IF EXISTS jdbc_t");
        exec(c, "CREATE TABLE jdbc_t (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) "
                + "CHARACTER SET utf8mb4, n INT, amount DECIMAL(10,2), ts DATETIME)");
        exec(c, "DROP TABLE IF EXISTS jdbc_blob");
        exec(c, "CREATE TABLE jdbc_blob (id INT PRIMARY KEY, b LONGBLOB)");
        exec(c, "DROP PROCEDURE IF EXISTS jdbc_p");
        exec(c, "CREATE PROCEDURE jdbc_p(IN x INT) BEGIN "
                + "SELECT x AS a, 'first' AS which; "
                + "SELECT x * 2 AS b, name FROM jdbc_t WHERE id <= 2 ORDER BY id; END");
    }

    private static void generatedKeys(Connection c, String p) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "INSERT INTO jdbc_t (name, n, amount, ts) VALUES (?, ?, ?, '2024-01-02 03:04:05')",
                Statement.RETURN_GENERATED_KEYS)) {
            for (int i = 0; i < 3; i++) {
                ps.setString(1, "key-" + i);
                ps.setInt(2, i * 10);
                ps.setBigDecimal(3, new java.math.BigDecimal("12.3" + i));
                int n = ps.executeUpdate();
                try (ResultSet k = ps.getGeneratedKeys()) {
                    k.next();
                    out(p + " insert updated=" + n + " key=" + k.getLong(1));
                }
            }
        }
    }

    private static void batch(Connection c, String p) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO jdbc_t (name, n) VALUES (?, ?)")) {
            for (int i = 0; i < BATCH; i++) {
                ps.setString(1, "batch-" + i);
                ps.setInt(2, i);
                ps.addBatch();
            }
            int[] r = ps.executeBatch();
            boolean ok = true;
            for (int x : r)
                ok &= (x == 1 || x == Statement.SUCCESS_NO_INFO);
            out(p + " batch size=" + r.length + " ok=" + ok);
        }
        try (Statement st = c.createStatement()) {
            for (int i = 0; i < 20; i++)
                st.addBatch("UPDATE jdbc_t SET n = n + 1000 WHERE name = 'batch-" + i + "'");
            int[] r = st.executeBatch();
            int sum = 0;
            for (int x : r)
                sum += x;
            out(p + " statement batch size=" + r.length + " sum=" + sum);
        }
        out(p + " count after batch=" + count(c, "jdbc_t"));
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT SUM(n), MAX(id) FROM jdbc_t")) {
            rs.next();
            out(p + " sum/max " + row(rs));
        }
    }

    private static void selects(Connection c, String p) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT id, name, n, amount, ts, ? AS param FROM jdbc_t WHERE n BETWEEN ? AND ? ORDER BY id")) {
            ps.setString(1, "p\u00E9");
            ps.setInt(2, 5);
            ps.setInt(3, 25);
            try (ResultSet rs = ps.executeQuery()) {
                printResult(p + " select", rs);
            }
            ps.setNull(1, java.sql.Types.VARCHAR);
            ps.setInt(2, 1000);
            ps.setInt(3, 1003);
            try (ResultSet rs = ps.executeQuery()) {
                printResult(p + " select2", rs);
            }
        }
    }

    private static void unicode(Connection c, String p) throws SQLException {
        try (PreparedStatement ins = c.prepareStatement("INSERT INTO jdbc_t (id, name) VALUES (?, ?)")) {
            for (int i = 0; i < TEXTS.length; i++) {
                ins.setInt(1, 10000 + i);
                ins.setString(2, TEXTS[i]);
                ins.executeUpdate();
            }
        }
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT id, name, CHAR_LENGTH(name), HEX(name) FROM jdbc_t WHERE id >= 10000 ORDER BY id")) {
            int i = 0;
            while (rs.next()) {
                String got = rs.getString(2);
                out(p + " utf8 " + row(rs) + " roundtrip=" + TEXTS[i].equals(got)
                        + " bytes=" + hex(got.getBytes(StandardCharsets.UTF_8)));
                i++;
            }
        }
    }

    private static void transactions(Connection c, Connection other, String p) throws SQLException {
        c.setAutoCommit(false);
        exec(c, "INSERT INTO jdbc_t (id, name) VALUES (20001, 'tx-rolled-back')");
        out(p + " tx other sees uncommitted=" + count(other, "jdbc_t WHERE id = 20001"));
        c.rollback();
        out(p + " tx after rollback=" + count(c, "jdbc_t WHERE id = 20001"));
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO jdbc_t (id, name) VALUES (?, ?)")) {
            ps.setInt(1, 20002);
            ps.setString(2, "tx-committed");
            ps.executeUpdate();
        }
        c.commit();
        out(p + " tx other sees committed=" + count(other, "jdbc_t WHERE id = 20002"));
        c.setAutoCommit(true);
        out(p + " autocommit=" + c.getAutoCommit());
    }

    private static void blob(Connection c, String p) throws Exception {
        byte[] data = new byte[BLOB_SIZE];
        for (int i = 0; i < data.length; i++)
            data[i] = (byte) ((i * 31 + (i >> 12)) & 0xff);
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO jdbc_blob (id, b) VALUES (1, ?)")) {
            ps.setBytes(1, data);
            out(p + " blob insert=" + ps.executeUpdate());
        }
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT b, LENGTH(b), SHA2(b, 256) FROM jdbc_blob WHERE id = 1")) {
            rs.next();
            byte[] got = rs.getBytes(1);
            out(p + " blob length=" + got.length + " sha256=" + sha256(got) + " server=" + rs.getLong(2)
                    + "/" + rs.getString(3) + " equal=" + java.util.Arrays.equals(data, got));
        }
    }

    private static void streaming(Connection c, String p) throws SQLException {
        try (Statement st = c.createStatement(ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_READ_ONLY)) {
            st.setFetchSize(Integer.MIN_VALUE);
            long n = 0, sum = 0, len = 0;
            try (ResultSet rs = st.executeQuery("SELECT seq, CONCAT('r', seq) FROM seq_1_to_100000")) {
                while (rs.next()) {
                    n++;
                    sum += rs.getLong(1);
                    len += rs.getString(2).length();
                }
            }
            out(p + " stream count=" + n + " sum=" + sum + " chars=" + len);
        }
        out(p + " after stream count=" + count(c, "jdbc_t"));
    }

    private static void call(Connection c, String p) throws SQLException {
        try (CallableStatement cs = c.prepareCall("{call jdbc_p(?)}")) {
            cs.setInt(1, 21);
            boolean isRs = cs.execute();
            int k = 0;
            while (true) {
                if (isRs) {
                    try (ResultSet rs = cs.getResultSet()) {
                        printResult(p + " call result " + k, rs);
                    }
                } else {
                    int u = cs.getUpdateCount();
                    if (u == -1)
                        break;
                    out(p + " call update count " + u);
                }
                k++;
                isRs = cs.getMoreResults();
            }
        }
        try (Statement st = c.createStatement()) {
            boolean isRs = st.execute("CALL jdbc_p(4)");
            int k = 0;
            while (isRs || st.getUpdateCount() != -1) {
                if (isRs)
                    try (ResultSet rs = st.getResultSet()) {
                        printResult(p + " stmt call " + k, rs);
                    }
                k++;
                isRs = st.getMoreResults();
            }
        }
    }

    private static void errors(Connection c, String p) {
        try (Statement st = c.createStatement()) {
            st.executeQuery("SELECT * FROM jdbc_no_such_table");
            out(p + " error: none");
        } catch (SQLException e) {
            out(p + " error code=" + e.getErrorCode() + " state=" + e.getSQLState());
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO jdbc_t (id, name) VALUES (?, ?)")) {
            ps.setInt(1, 20002);
            ps.setString(2, "duplicate");
            ps.executeUpdate();
            out(p + " duplicate: none");
        } catch (SQLException e) {
            out(p + " duplicate code=" + e.getErrorCode() + " state=" + e.getSQLState());
        }
    }

    private static void pass(String url, String p) throws Exception {
        try (Connection c = DriverManager.getConnection(url); Connection other = DriverManager.getConnection(url)) {
            out(p + " connected valid=" + c.isValid(5) + " catalog=" + c.getCatalog());
            setup(c);
            generatedKeys(c, p);
            batch(c, p);
            selects(c, p);
            unicode(c, p);
            transactions(c, other, p);
            blob(c, p);
            streaming(c, p);
            call(c, p);
            errors(c, p);
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(
                    "SELECT COUNT(*), SUM(n), SUM(CHAR_LENGTH(name)) FROM jdbc_t")) {
                rs.next();
                out(p + " final " + row(rs));
            }
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: JdbcSmoke JDBC_URL");
            System.exit(2);
        }
        pass(args[0] + "&useServerPrepStmts=false", "client");
        pass(args[0] + "&useServerPrepStmts=true", "server");
        out("END");
    }
}
