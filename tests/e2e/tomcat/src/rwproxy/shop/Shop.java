/*
 * tests/e2e/tomcat/src/rwproxy/shop/Shop.java — what the shop servlets share: the JNDI
 * DataSource java:comp/env/jdbc/app (Tomcat's DBCP2 pool over MariaDB Connector/J, declared in
 * META-INF/context.xml and pointing at rwproxy), the schema (created through the pool when the
 * webapp starts), hand-written JSON output, and the identity of the physical JDBC connection a
 * request borrowed (so a test can tell whether two requests used different pooled connections).
 *
 * Every statement starts with a comment tag such as "e2e:insert-order": the end-to-end test finds
 * the tags in each MariaDB server's general log to tell which server ran which statement.
 */
package rwproxy.shop;

import java.io.IOException;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;

import javax.naming.InitialContext;
import javax.naming.NamingException;
import javax.sql.DataSource;

import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletResponse;

final class Shop {
    static final String JNDI_NAME = "java:comp/env/jdbc/app";

    static final String[] SCHEMA = {
        "/* e2e:schema */ CREATE TABLE IF NOT EXISTS shop_orders ("
            + " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
            + " customer VARCHAR(64) NOT NULL,"
            + " line_count INT NOT NULL DEFAULT 0,"
            + " total DECIMAL(14,2) NOT NULL DEFAULT 0,"
            + " created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
            + " KEY (customer)) ENGINE=InnoDB",
        "/* e2e:schema */ CREATE TABLE IF NOT EXISTS shop_order_lines ("
            + " order_id BIGINT NOT NULL,"
            + " line_no INT NOT NULL,"
            + " sku VARCHAR(32) NOT NULL,"
            + " qty INT NOT NULL,"
            + " price DECIMAL(10,2) NOT NULL,"
            + " PRIMARY KEY (order_id, line_no), KEY (sku)) ENGINE=InnoDB",
    };

    private Shop() {
    }

    /** The container's pooled DataSource. */
    static DataSource dataSource() throws ServletException {
        try {
            return (DataSource) new InitialContext().lookup(JNDI_NAME);
        } catch (NamingException e) {
            throw new ServletException("JNDI lookup of " + JNDI_NAME + " failed", e);
        }
    }

    /** Creates the two tables if they do not exist (DDL: rwproxy sends it to the master). */
    static void createSchema(DataSource ds) throws SQLException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            for (String sql : SCHEMA) {
                st.execute(sql);
            }
        }
    }

    /**
     * An id of the physical Connector/J connection behind a pooled one (stable while pooled),
     * or 0 if the pool does not let us reach it (never the wrapper's identity: the pool makes a
     * new wrapper for every borrow, which would make every request look like another connection).
     */
    static int physicalId(Connection c) {
        try {
            return System.identityHashCode(c.unwrap(org.mariadb.jdbc.MariaDbConnection.class));
        } catch (SQLException e) {
            return 0;
        }
    }

    /** s as a JSON string literal. */
    static String str(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            switch (ch) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (ch < 0x20) {
                        b.append(String.format("\\u%04x", (int) ch));
                    } else {
                        b.append(ch);
                    }
            }
        }
        return b.append('"').toString();
    }

    /** Writes a JSON body with the given HTTP status. */
    static void send(HttpServletResponse resp, int status, String json) throws IOException {
        resp.setStatus(status);
        resp.setContentType("application/json");
        resp.setCharacterEncoding("UTF-8");
        resp.getWriter().write(json);
        resp.getWriter().write('\n');
    }

    /** A JSON error body: {"error": message, "sqlstate": ..., "code": ...}. */
    static void sendError(HttpServletResponse resp, int status, String message, SQLException e)
            throws IOException {
        String body = "{\"error\":" + str(message);
        if (e != null) {
            body += ",\"sqlstate\":" + str(e.getSQLState()) + ",\"code\":" + e.getErrorCode();
        }
        send(resp, status, body + "}");
    }
}
