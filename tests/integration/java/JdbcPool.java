/*
 * tests/integration/java/JdbcPool.java — a Tomcat-like JDBC workload for rwproxy's
 * read/write splitting, driven by test_jdbc_pool.py.
 *
 * A hand-made pool (no pool library): 8 java.sql.Connection in a BlockingQueue, shared by 4
 * threads. Every borrow runs the validation query "SET STATEMENT max_statement_time=5 FOR
 * SELECT 1" first (as DBCP/Tomcat do); every return resets the connection (rollback if a
 * transaction is open, autocommit on, read-only off). Each thread repeats:
 *   - a write transaction on one borrowed connection: setAutoCommit(false), ROWS inserts
 *     through a server-side prepared statement, commit;
 *   - a read-back on another borrowed connection: setReadOnly(true), a server-side prepared
 *     SELECT that counts the rows just written and names the server that answered (from the
 *     local marker table rwp_where, see test_routing.py).
 * The pool hands connections out in turn, so the read almost always runs on a different
 * connection than the write: what consistency = global is for.
 *
 * Arguments: JDBC URL, the master's server name (e.g. db1), transactions per thread.
 * Output: "key=value" lines ending with "END"; exit 0 when there was no error and every
 * read saw every row of its transaction.
 */
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

public class JdbcPool {
    private static final int POOL_SIZE = 8;
    private static final int THREADS = 4;
    private static final int ROWS = 3;
    private static final String VALIDATION = "SET STATEMENT max_statement_time=5 FOR SELECT 1";
    private static final String INSERT =
        "INSERT INTO jdbc_pool (thread, txn, k, payload) VALUES (?, ?, ?, ?)";
    private static final String READ_BACK =
        "SELECT COUNT(p.k), MAX(w.name) FROM rwp_where w "
        + "LEFT JOIN jdbc_pool p ON p.thread = ? AND p.txn = ?";

    /** The pool: idle connections, made once. */
    private final BlockingQueue<Connection> idle = new ArrayBlockingQueue<>(POOL_SIZE);
    /** The JDBC URL every connection is opened with. */
    private final String url;
    /** The master's server name: reads answered by any other server were on a replica. */
    private final String masterName;
    /** Rows committed by the write transactions. */
    private final AtomicLong written = new AtomicLong();
    /** Rows the read-backs counted. */
    private final AtomicLong readBack = new AtomicLong();
    /** Read-backs that saw fewer rows than their transaction wrote. */
    private final AtomicLong mismatches = new AtomicLong();
    /** SQLExceptions of any kind. */
    private final AtomicLong errors = new AtomicLong();
    /** Read-backs answered by a server other than the master. */
    private final AtomicLong replicaReads = new AtomicLong();
    /** Read-backs per answering server. */
    private final Map<String, Long> readsByServer = new TreeMap<>();
    /** The first error messages, for the report. */
    private final List<String> errorSamples = new ArrayList<>();

    private JdbcPool(String url, String masterName) {
        this.url = url;
        this.masterName = masterName;
    }

    private void error(String where, SQLException e) {
        errors.incrementAndGet();
        synchronized (errorSamples) {
            if (errorSamples.size() < 10)
                errorSamples.add(where + ": " + e.getErrorCode() + " " + e.getSQLState() + " "
                                 + e.getMessage());
        }
    }

    private void fill() throws SQLException {
        for (int i = 0; i < POOL_SIZE; i++)
            idle.add(DriverManager.getConnection(url));
    }

    /** Takes an idle connection and validates it; a broken one is replaced. */
    private Connection borrow() throws SQLException, InterruptedException {
        Connection c = idle.poll(60, TimeUnit.SECONDS);
        if (c == null)
            throw new SQLException("pool exhausted for 60 s");
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(VALIDATION)) {
            if (!rs.next() || rs.getInt(1) != 1)
                throw new SQLException("validation query returned no 1");
            return c;
        } catch (SQLException e) {
            error("validation", e);
            try {
                c.close();
            } catch (SQLException ignored) {
                // already broken
            }
            return DriverManager.getConnection(url);
        }
    }

    /** Resets a connection as a pool does and puts it back. */
    private void giveBack(Connection c) throws InterruptedException {
        try {
            if (!c.getAutoCommit()) {
                c.rollback();
                c.setAutoCommit(true);
            }
            if (c.isReadOnly())
                c.setReadOnly(false);
        } catch (SQLException e) {
            error("reset", e);
        }
        idle.put(c);
    }

    private void writeTxn(int thread, int txn) throws SQLException, InterruptedException {
        Connection c = borrow();
        try {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement(INSERT)) {
                for (int k = 0; k < ROWS; k++) {
                    ps.setInt(1, thread);
                    ps.setInt(2, txn);
                    ps.setInt(3, k);
                    ps.setString(4, "t" + thread + "-" + txn + "-" + k);
                    ps.executeUpdate();
                }
            }
            c.commit();
            written.addAndGet(ROWS);
        } catch (SQLException e) {
            error("write t" + thread + " txn " + txn, e);
            try {
                c.rollback();
            } catch (SQLException ignored) {
                // reported above
            }
        } finally {
            giveBack(c);
        }
    }

    private void readBack(int thread, int txn) throws SQLException, InterruptedException {
        Connection c = borrow();
        try {
            c.setReadOnly(true);
            try (PreparedStatement ps = c.prepareStatement(READ_BACK)) {
                ps.setInt(1, thread);
                ps.setInt(2, txn);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    int n = rs.getInt(1);
                    String server = rs.getString(2);
                    readBack.addAndGet(n);
                    if (n != ROWS)
                        mismatches.incrementAndGet();
                    if (!masterName.equals(server))
                        replicaReads.incrementAndGet();
                    synchronized (readsByServer) {
                        readsByServer.merge(server, 1L, Long::sum);
                    }
                }
            }
        } catch (SQLException e) {
            error("read t" + thread + " txn " + txn, e);
        } finally {
            giveBack(c);
        }
    }

    private void work(int thread, int txns) {
        try {
            for (int t = 0; t < txns; t++) {
                writeTxn(thread, t);
                readBack(thread, t);
            }
        } catch (SQLException e) {
            error("thread " + thread, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private long countAll() throws SQLException, InterruptedException {
        Connection c = borrow();
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT COUNT(*) FROM jdbc_pool")) {
            rs.next();
            return rs.getLong(1);
        } finally {
            giveBack(c);
        }
    }

    private void closeAll() {
        for (Connection c : idle) {
            try {
                c.close();
            } catch (SQLException ignored) {
                // closing anyway
            }
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: JdbcPool JDBC_URL MASTER_NAME TXNS_PER_THREAD");
            System.exit(2);
        }
        JdbcPool pool = new JdbcPool(args[0], args[1]);
        int txns = Integer.parseInt(args[2]);
        pool.fill();
        Thread[] threads = new Thread[THREADS];
        for (int i = 0; i < THREADS; i++) {
            final int id = i;
            threads[i] = new Thread(() -> pool.work(id, txns), "worker-" + i);
            threads[i].start();
        }
        for (Thread t : threads)
            t.join();
        long total = -1;
        try {
            total = pool.countAll();
        } catch (SQLException e) {
            pool.error("count", e);
        }
        pool.closeAll();
        System.out.println("written=" + pool.written.get());
        System.out.println("read_back=" + pool.readBack.get());
        System.out.println("table_rows=" + total);
        System.out.println("mismatches=" + pool.mismatches.get());
        System.out.println("errors=" + pool.errors.get());
        System.out.println("replica_reads=" + pool.replicaReads.get());
        System.out.println("reads_by_server=" + pool.readsByServer);
        for (String s : pool.errorSamples)
            System.out.println("error_sample=" + s);
        System.out.println("END");
        boolean good = pool.errors.get() == 0 && pool.mismatches.get() == 0
            && pool.written.get() == pool.readBack.get() && total == pool.written.get();
        System.exit(good ? 0 : 1);
    }
}
