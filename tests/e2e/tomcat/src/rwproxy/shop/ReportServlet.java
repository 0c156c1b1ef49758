/*
 * tests/e2e/tomcat/src/rwproxy/shop/ReportServlet.java — GET /report: the shop's sales report,
 * two autocommit aggregate reads (rwproxy sends them to a replica): per SKU the number of
 * orders, units and revenue, and the overall order count and revenue.
 *   {"orders":N,"revenue":"..","skus":[{"sku":..,"orders":..,"units":..,"revenue":".."},..],"conn":..}
 */
package rwproxy.shop;

import java.io.IOException;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

import javax.sql.DataSource;

import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

public class ReportServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    private transient DataSource ds; // java:comp/env/jdbc/app

    @Override
    public void init() throws ServletException {
        ds = Shop.dataSource();
    }

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            StringBuilder out = new StringBuilder("{");
            try (ResultSet rs = st.executeQuery("/* e2e:report */ SELECT COUNT(*), COALESCE(SUM(total), 0)"
                    + " FROM shop_orders")) {
                rs.next();
                out.append("\"orders\":").append(rs.getLong(1))
                        .append(",\"revenue\":").append(Shop.str(rs.getBigDecimal(2).toPlainString()));
            }
            out.append(",\"skus\":[");
            try (ResultSet rs = st.executeQuery("/* e2e:report */ SELECT sku, COUNT(DISTINCT order_id),"
                    + " SUM(qty), SUM(qty * price) FROM shop_order_lines GROUP BY sku ORDER BY sku")) {
                boolean first = true;
                while (rs.next()) {
                    out.append(first ? "" : ",").append("{\"sku\":").append(Shop.str(rs.getString(1)))
                            .append(",\"orders\":").append(rs.getLong(2))
                            .append(",\"units\":").append(rs.getLong(3))
                            .append(",\"revenue\":").append(Shop.str(rs.getBigDecimal(4).toPlainString()))
                            .append('}');
                    first = false;
                }
            }
            out.append("],\"conn\":").append(Shop.physicalId(c)).append('}');
            Shop.send(resp, 200, out.toString());
        } catch (SQLException e) {
            log("report failed", e);
            Shop.sendError(resp, 500, "report: " + e.getMessage(), e);
        }
    }
}
