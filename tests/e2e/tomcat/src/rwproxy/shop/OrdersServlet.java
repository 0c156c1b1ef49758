/*
 * tests/e2e/tomcat/src/rwproxy/shop/OrdersServlet.java — the order endpoints of the example
 * shop, mapped to /orders and /orders/*:
 *   POST /orders  customer=NAME&lines=SKU:QTY:PRICE,...   creates an order in one transaction:
 *                 insert the order, insert its lines, read the lines back INSIDE the transaction
 *                 (must see them all: rwproxy has to run it on the master), update the order's
 *                 total, commit. 201 {"id":..,"customer":..,"lines":..,"total":"..","conn":..}
 *   GET /orders/ID                                        one order and its lines (autocommit
 *                 read; 404 if not found)
 *   GET /orders?limit=N                                   the newest N orders (autocommit read)
 * Errors are JSON with status 400 (bad input) or 500 (SQL error, with SQLSTATE and code).
 * "conn" is the id of the physical pooled connection that served the request (Shop.physicalId).
 */
package rwproxy.shop;

import java.io.IOException;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

import javax.sql.DataSource;

import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

public class OrdersServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;
    private static final int MAX_LINES = 50;
    private static final int MAX_LIST = 500;

    private transient DataSource ds; // java:comp/env/jdbc/app

    /** One order line as posted. */
    private static final class Line {
        final String sku;       // article code
        final int qty;          // quantity, > 0
        final BigDecimal price; // unit price, >= 0

        Line(String sku, int qty, BigDecimal price) {
            this.sku = sku;
            this.qty = qty;
            this.price = price;
        }
    }

    @Override
    public void init() throws ServletException {
        ds = Shop.dataSource();
        try {
            Shop.createSchema(ds);
        } catch (SQLException e) {
            throw new ServletException("creating the shop tables failed: " + e.getMessage(), e);
        }
    }

    // ------------------------------------------------------------------ POST /orders

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String customer = req.getParameter("customer");
        List<Line> lines;
        try {
            lines = parseLines(req.getParameter("lines"));
        } catch (IllegalArgumentException e) {
            Shop.sendError(resp, 400, e.getMessage(), null);
            return;
        }
        if (customer == null || customer.isEmpty() || customer.length() > 64) {
            Shop.sendError(resp, 400, "customer: 1 to 64 characters", null);
            return;
        }
        try (Connection c = ds.getConnection()) {
            String json = createOrder(c, customer, lines);
            Shop.send(resp, 201, json);
        } catch (SQLException e) {
            log("create order failed", e);
            Shop.sendError(resp, 500, "create order: " + e.getMessage(), e);
        }
    }

    /** "SKU:QTY:PRICE,..." (default one line A-1:1:1.00). */
    private static List<Line> parseLines(String spec) {
        List<Line> out = new ArrayList<>();
        if (spec == null || spec.isEmpty()) {
            spec = "A-1:1:1.00";
        }
        for (String item : spec.split(",")) {
            String[] f = item.split(":");
            if (f.length != 3 || f[0].isEmpty() || f[0].length() > 32) {
                throw new IllegalArgumentException("lines: SKU:QTY:PRICE,... (bad item '" + item + "')");
            }
            try {
                int qty = Integer.parseInt(f[1]);
                BigDecimal price = new BigDecimal(f[2]);
                if (qty <= 0 || price.signum() < 0) {
                    throw new IllegalArgumentException("lines: qty > 0 and price >= 0 ('" + item + "')");
                }
                out.add(new Line(f[0], qty, price));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("lines: bad number in '" + item + "'");
            }
        }
        if (out.size() > MAX_LINES) {
            throw new IllegalArgumentException("lines: at most " + MAX_LINES);
        }
        return out;
    }

    /** The order transaction; returns the JSON answer. Rolls back on any failure. */
    private static String createOrder(Connection c, String customer, List<Line> lines) throws SQLException {
        c.setAutoCommit(false);
        try {
            long id = insertOrder(c, customer);
            insertLines(c, id, lines);
            Object[] seen = readLinesInTransaction(c, id);
            int seenLines = (Integer) seen[0];
            BigDecimal total = (BigDecimal) seen[1];
            if (seenLines != lines.size()) {
                throw new SQLException("the read inside the order transaction saw " + seenLines
                        + " lines of order " + id + ", the transaction wrote " + lines.size(), "HY000");
            }
            try (PreparedStatement ps = c.prepareStatement(
                    "/* e2e:update-total */ UPDATE shop_orders SET line_count = ?, total = ? WHERE id = ?")) {
                ps.setInt(1, seenLines);
                ps.setBigDecimal(2, total);
                ps.setLong(3, id);
                ps.executeUpdate();
            }
            c.commit();
            return "{\"id\":" + id + ",\"customer\":" + Shop.str(customer) + ",\"lines\":" + seenLines
                    + ",\"total\":" + Shop.str(total.toPlainString()) + ",\"conn\":" + Shop.physicalId(c) + "}";
        } catch (SQLException | RuntimeException e) {
            try {
                c.rollback();
            } catch (SQLException re) {
                e.addSuppressed(re);
            }
            throw e;
        } finally {
            c.setAutoCommit(true);
        }
    }

    private static long insertOrder(Connection c, String customer) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "/* e2e:insert-order */ INSERT INTO shop_orders (customer) VALUES (?)",
                Statement.RETURN_GENERATED_KEYS)) {
            ps.setString(1, customer);
            ps.executeUpdate();
            try (ResultSet keys = ps.getGeneratedKeys()) {
                if (!keys.next()) {
                    throw new SQLException("no generated key for the new order", "HY000");
                }
                return keys.getLong(1);
            }
        }
    }

    private static void insertLines(Connection c, long id, List<Line> lines) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("/* e2e:insert-line */ INSERT INTO shop_order_lines"
                + " (order_id, line_no, sku, qty, price) VALUES (?, ?, ?, ?, ?)")) {
            int no = 1;
            for (Line l : lines) {
                ps.setLong(1, id);
                ps.setInt(2, no++);
                ps.setString(3, l.sku);
                ps.setInt(4, l.qty);
                ps.setBigDecimal(5, l.price);
                ps.executeUpdate();
            }
        }
    }

    /** {line count, total} of order id as this transaction sees it. */
    private static Object[] readLinesInTransaction(Connection c, long id) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("/* e2e:txn-read */ SELECT COUNT(*),"
                + " COALESCE(SUM(qty * price), 0) FROM shop_order_lines WHERE order_id = ?")) {
            ps.setLong(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return new Object[] {rs.getInt(1), rs.getBigDecimal(2)};
            }
        }
    }

    // ------------------------------------------------------------------ GET

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String path = req.getPathInfo();
        try (Connection c = ds.getConnection()) {
            if (path == null || path.equals("/")) {
                listOrders(c, req, resp);
            } else {
                long id;
                try {
                    id = Long.parseLong(path.substring(1));
                } catch (NumberFormatException e) {
                    Shop.sendError(resp, 400, "order id must be a number", null);
                    return;
                }
                readOrder(c, id, resp);
            }
        } catch (SQLException e) {
            log("read failed", e);
            Shop.sendError(resp, 500, "read: " + e.getMessage(), e);
        }
    }

    private static void readOrder(Connection c, long id, HttpServletResponse resp)
            throws SQLException, IOException {
        StringBuilder lines = new StringBuilder();
        String head = null;
        try (PreparedStatement ps = c.prepareStatement("/* e2e:get */ SELECT o.customer, o.line_count,"
                + " o.total, l.line_no, l.sku, l.qty, l.price FROM shop_orders o"
                + " LEFT JOIN shop_order_lines l ON l.order_id = o.id WHERE o.id = ? ORDER BY l.line_no")) {
            ps.setLong(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    if (head == null) {
                        head = "{\"id\":" + id + ",\"customer\":" + Shop.str(rs.getString(1))
                                + ",\"line_count\":" + rs.getInt(2)
                                + ",\"total\":" + Shop.str(rs.getBigDecimal(3).toPlainString());
                    }
                    if (rs.getObject(4) != null) {
                        lines.append(lines.length() == 0 ? "" : ",").append("{\"line_no\":").append(rs.getInt(4))
                                .append(",\"sku\":").append(Shop.str(rs.getString(5)))
                                .append(",\"qty\":").append(rs.getInt(6))
                                .append(",\"price\":").append(Shop.str(rs.getBigDecimal(7).toPlainString()))
                                .append('}');
                    }
                }
            }
        }
        if (head == null) {
            Shop.sendError(resp, 404, "order " + id + " not found", null);
            return;
        }
        Shop.send(resp, 200, head + ",\"lines\":[" + lines + "],\"conn\":" + Shop.physicalId(c) + "}");
    }

    private static void listOrders(Connection c, HttpServletRequest req, HttpServletResponse resp)
            throws SQLException, IOException {
        int limit = 20;
        String l = req.getParameter("limit");
        if (l != null) {
            try {
                limit = Math.max(1, Math.min(MAX_LIST, Integer.parseInt(l)));
            } catch (NumberFormatException e) {
                Shop.sendError(resp, 400, "limit must be a number", null);
                return;
            }
        }
        StringBuilder out = new StringBuilder("{\"orders\":[");
        try (PreparedStatement ps = c.prepareStatement("/* e2e:list */ SELECT id, customer, line_count, total"
                + " FROM shop_orders ORDER BY id DESC LIMIT ?")) {
            ps.setInt(1, limit);
            try (ResultSet rs = ps.executeQuery()) {
                boolean first = true;
                while (rs.next()) {
                    out.append(first ? "" : ",").append("{\"id\":").append(rs.getLong(1))
                            .append(",\"customer\":").append(Shop.str(rs.getString(2)))
                            .append(",\"line_count\":").append(rs.getInt(3))
                            .append(",\"total\":").append(Shop.str(rs.getBigDecimal(4).toPlainString()))
                            .append('}');
                    first = false;
                }
            }
        }
        Shop.send(resp, 200, out.append("],\"conn\":").append(Shop.physicalId(c)).append('}').toString());
    }
}
