/*
 * tests/integration/java/AdminJdbc.java — Connector/J against rwproxy's admin port: log in,
 * run each SHOW command given on the command line, print "COMMAND<TAB>columns<TAB>rows" per
 * command (columns comma-separated), then "SERVER<TAB>name<TAB>role<TAB>state" for SHOW
 * SERVERS rows. Usage: java AdminJdbc URL USER PASSWORD COMMAND...
 */
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.Statement;

public final class AdminJdbc {
    private AdminJdbc() {
    }

    public static void main(String[] args) throws Exception {
        try (Connection c = DriverManager.getConnection(args[0], args[1], args[2]);
             Statement st = c.createStatement()) {
            for (int i = 3; i < args.length; i++) {
                try (ResultSet rs = st.executeQuery(args[i])) {
                    ResultSetMetaData md = rs.getMetaData();
                    StringBuilder cols = new StringBuilder();
                    for (int k = 1; k <= md.getColumnCount(); k++) {
                        cols.append(k > 1 ? "," : "").append(md.getColumnLabel(k));
                    }
                    int rows = 0;
                    while (rs.next()) {
                        rows++;
                        if (args[i].equalsIgnoreCase("SHOW SERVERS")) {
                            System.out.println("SERVER\t" + rs.getString("name") + "\t"
                                               + rs.getString("role") + "\t" + rs.getString("state"));
                        }
                    }
                    System.out.println(args[i] + "\t" + cols + "\t" + rows);
                }
            }
        }
    }
}
