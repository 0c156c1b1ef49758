/*
 * cli/rwproxyctl.c — the rwproxyctl command: arguments, and the commands that are one
 * statement on the admin port (status, servers, sessions, digests, events, pools, stats,
 * rules, config, maintenance, switchover, failover, reload, kill). The drills live in
 * cli/drill.c. Usage: docs/rwproxyctl.md.
 *
 * Output goes to stdout (a table, or a JSON document with --json); errors are one line on
 * stderr ("rwproxyctl: ...") with exit status 1 (failure) or 2 (usage).
 */
#include "cli/ctl.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char USAGE[] =
    "usage: rwproxyctl [-h host] [-P port] [-u user] [-p password | --password-file F]\n"
    "                  [-c FILE] COMMAND [args] [--json]\n"
    "commands:\n"
    "  status                      servers and health, one-line summary (exit 1: no master)\n"
    "  servers | sessions | digests | events | pools | stats | rules | config\n"
    "                              SHOW <that> on the admin port, as a table\n"
    "  maintenance NAME on|off     SET SERVER NAME MAINTENANCE | ONLINE\n"
    "  switchover [--to NAME]      planned switchover (to NAME, or the best candidate)\n"
    "  failover                    manual failover (only when the master is down)\n"
    "  reload                      re-read rwproxy's configuration file\n"
    "  kill ID                     close client session ID\n"
    "  drill switchover [--to NAME] [--timeout S] [--proxy HOST:PORT]\n"
    "  drill failover [--yes] [--timeout S] [--proxy HOST:PORT]\n"
    "                              rehearse an event while writing markers; report\n"
    "defaults: -c FILE's [admin] section, else RWPROXY_ADMIN=user:password@host:port,\n"
    "          else admin@127.0.0.1:6032 without a password. See docs/rwproxyctl.md.\n";

static int usage_error(const char *fmt, const char *arg)
{
    char msg[512];
    snprintf(msg, sizeof msg, fmt, arg ? arg : "");
    ctl_err("%s (rwproxyctl --help)", msg);
    return CTL_EXIT_USAGE;
}

static int read_password_file(const char *path, char *out, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        ctl_err("%s: %s", path, strerror(errno));
        return -1;
    }
    if (!fgets(out, (int)len, f))
        out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

/* ---- generic SHOW commands ---- */

static int run_show(const ctl_opts *o, const char *sql, const char *key,
                    const char *const *cols)
{
    char err[1024];
    ctl_rs rs;
    MYSQL *c = ctl_admin_connect(o, 30, err, sizeof err);
    if (!c) {
        ctl_err("%s", err);
        return CTL_EXIT_FAIL;
    }
    if (ctl_query(c, sql, &rs, err, sizeof err) != 0) {
        ctl_err("%s: %s", sql, err);
        mysql_close(c);
        return CTL_EXIT_FAIL;
    }
    mysql_close(c);
    if (o->json) {
        printf("{");
        ctl_json_str(stdout, key);
        printf(": ");
        ctl_json_rows(stdout, &rs);
        printf("}\n");
    } else {
        ctl_table_print(stdout, &rs, cols);
    }
    ctl_rs_free(&rs);
    return CTL_EXIT_OK;
}

/* ---- status ---- */

static int cmd_status(const ctl_opts *o)
{
    static const char *const cols[] = {
        "name", "address", "role", "state", "read_only", "lag_s", "readable", "source",
        "conns_in_use", "conns_idle", "queries", "errors", "avg_latency_ms", "last_check", NULL};
    static const char *const states[] = {"up", "down", "lagging", "maintenance", "fenced",
                                         "unknown"};
    char err[1024];
    ctl_rs rs;
    MYSQL *c = ctl_admin_connect(o, 30, err, sizeof err);
    if (!c) {
        ctl_err("%s", err);
        return CTL_EXIT_FAIL;
    }
    if (ctl_query(c, "SHOW SERVERS", &rs, err, sizeof err) != 0) {
        ctl_err("SHOW SERVERS: %s", err);
        mysql_close(c);
        return CTL_EXIT_FAIL;
    }
    mysql_close(c);
    int count[6] = {0}, readable = 0, master = -1, nmasters = 0;
    long max_lag = -1;
    for (int r = 0; r < rs.nrows; r++) {
        const char *st = ctl_rs_str(&rs, r, "state");
        for (int k = 0; k < 6; k++)
            if (!strcasecmp(st, states[k]))
                count[k]++;
        if (!strcasecmp(ctl_rs_str(&rs, r, "role"), "master")) {
            nmasters++;
            if (master < 0)
                master = r;
        }
        if (!strcmp(ctl_rs_str(&rs, r, "readable"), "1"))
            readable++;
        const char *lag = ctl_rs_get(&rs, r, "lag_s");
        if (lag && ctl_is_json_number(lag) && atol(lag) > max_lag)
            max_lag = atol(lag);
    }
    char summary[512], lagtxt[64] = "";
    if (max_lag >= 0)
        snprintf(lagtxt, sizeof lagtxt, ", max lag %ld s", max_lag);
    if (master >= 0)
        snprintf(summary, sizeof summary, "master %s (%s); %d server%s: %d up, %d down, "
                 "%d lagging, %d maintenance, %d fenced; %d readable%s%s",
                 ctl_rs_str(&rs, master, "name"), ctl_rs_str(&rs, master, "address"), rs.nrows,
                 rs.nrows == 1 ? "" : "s", count[0], count[1], count[2], count[3], count[4],
                 readable, lagtxt, nmasters > 1 ? "; SEVERAL MASTERS" : "");
    else
        snprintf(summary, sizeof summary, "NO MASTER; %d server%s: %d up, %d down, %d lagging, "
                 "%d maintenance, %d fenced; %d readable%s", rs.nrows, rs.nrows == 1 ? "" : "s",
                 count[0], count[1], count[2], count[3], count[4], readable, lagtxt);
    if (o->json) {
        printf("{\"master\": ");
        ctl_json_str(stdout, master >= 0 ? ctl_rs_str(&rs, master, "name") : NULL);
        printf(", \"ok\": %s, \"summary\": {\"servers\": %d", master >= 0 ? "true" : "false",
               rs.nrows);
        for (int k = 0; k < 6; k++)
            printf(", \"%s\": %d", states[k], count[k]);
        printf(", \"readable\": %d, \"masters\": %d, \"max_lag_s\": ", readable, nmasters);
        if (max_lag >= 0)
            printf("%ld", max_lag);
        else
            printf("null");
        printf(", \"text\": ");
        ctl_json_str(stdout, summary);
        printf("},\n \"servers\": ");
        ctl_json_rows(stdout, &rs);
        printf("}\n");
    } else {
        ctl_table_print(stdout, &rs, cols);
        printf("%s\n", summary);
    }
    ctl_rs_free(&rs);
    return master >= 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}

/* ---- actions: one statement answered by OK or ERR ---- */

static int run_action(const ctl_opts *o, const char *sql, int read_timeout_s)
{
    char err[1024];
    MYSQL *c = ctl_admin_connect(o, read_timeout_s, err, sizeof err);
    if (!c) {
        ctl_err("%s", err);
        return CTL_EXIT_FAIL;
    }
    ctl_rs rs;
    int64_t t0 = ctl_mono_us();
    if (ctl_query(c, sql, &rs, err, sizeof err) != 0) {
        ctl_err("%s: %s", sql, err);
        mysql_close(c);
        return CTL_EXIT_FAIL;
    }
    long ms = (long)((ctl_mono_us() - t0) / 1000);
    const char *info = mysql_info(c);
    char infobuf[1024];
    snprintf(infobuf, sizeof infobuf, "%s", info ? info : "");
    mysql_close(c);
    if (o->json) {
        printf("{\"command\": ");
        ctl_json_str(stdout, sql);
        printf(", \"ok\": true, \"info\": ");
        ctl_json_str(stdout, infobuf);
        printf(", \"ms\": %ld", ms);
        if (rs.ncols) {
            printf(", \"rows\": ");
            ctl_json_rows(stdout, &rs);
        }
        printf("}\n");
    } else {
        printf("OK: %s%s(%ld ms)\n", infobuf, infobuf[0] ? " " : "", ms);
        if (rs.ncols)
            ctl_table_print(stdout, &rs, NULL);
    }
    ctl_rs_free(&rs);
    return CTL_EXIT_OK;
}

static int valid_name(const char *s)
{
    if (!*s || strlen(s) > 63)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return 0;
    return 1;
}

static int dispatch(ctl_opts *o)
{
    const char *cmd = o->command;
    char sql[256];
    struct { const char *name, *sql; } shows[] = {
        {"servers", "SHOW SERVERS"}, {"sessions", "SHOW SESSIONS"}, {"digests", "SHOW DIGESTS"},
        {"events", "SHOW EVENTS"},   {"pools", "SHOW POOLS"},       {"stats", "SHOW STATS"},
        {"rules", "SHOW RULES"},     {"config", "SHOW CONFIG"}};
    for (size_t i = 0; i < sizeof shows / sizeof shows[0]; i++)
        if (!strcmp(cmd, shows[i].name)) {
            if (o->nargs)
                return usage_error("%s takes no arguments", cmd);
            return run_show(o, shows[i].sql, shows[i].name, NULL);
        }
    if (!strcmp(cmd, "status")) {
        if (o->nargs)
            return usage_error("status takes no arguments", NULL);
        return cmd_status(o);
    }
    if (!strcmp(cmd, "maintenance")) {
        if (o->nargs != 2 || (strcasecmp(o->args[1], "on") && strcasecmp(o->args[1], "off")))
            return usage_error("usage: maintenance NAME on|off", NULL);
        if (!valid_name(o->args[0]))
            return usage_error("bad server name %s", o->args[0]);
        snprintf(sql, sizeof sql, "SET SERVER %s %s", o->args[0],
                 strcasecmp(o->args[1], "on") ? "ONLINE" : "MAINTENANCE");
        return run_action(o, sql, 60);
    }
    if (!strcmp(cmd, "switchover")) {
        if (o->nargs)
            return usage_error("usage: switchover [--to NAME]", NULL);
        if (o->to && !valid_name(o->to))
            return usage_error("bad server name %s", o->to);
        if (o->to)
            snprintf(sql, sizeof sql, "SWITCHOVER TO %s", o->to);
        else
            snprintf(sql, sizeof sql, "SWITCHOVER");
        return run_action(o, sql, 300);
    }
    if (!strcmp(cmd, "failover") || !strcmp(cmd, "reload")) {
        if (o->nargs)
            return usage_error("%s takes no arguments", cmd);
        return run_action(o, !strcmp(cmd, "failover") ? "FAILOVER" : "RELOAD", 300);
    }
    if (!strcmp(cmd, "kill")) {
        if (o->nargs != 1 || strspn(o->args[0], "0123456789") != strlen(o->args[0]) ||
            !o->args[0][0] || strlen(o->args[0]) > 19)
            return usage_error("usage: kill SESSION_ID", NULL);
        snprintf(sql, sizeof sql, "KILL SESSION %s", o->args[0]);
        return run_action(o, sql, 60);
    }
    if (!strcmp(cmd, "drill")) {
        if (o->nargs != 1 ||
            (strcmp(o->args[0], "switchover") && strcmp(o->args[0], "failover")))
            return usage_error("usage: drill switchover|failover", NULL);
        return ctl_drill(o);
    }
    return usage_error("unknown command %s", cmd);
}

/* The value of a short option: "-Xvalue" or "-X value" (NULL if missing). */
static const char *optval(int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (a[2])
        return a + 2;
    return *i + 1 < argc ? argv[++*i] : NULL;
}

/* The value of an option (-hVALUE or -h VALUE) copied into dst; 0, or -1 if it is missing. */
static int take_text(int argc, char **argv, int *i, char *dst, size_t cap)
{
    const char *v = optval(argc, argv, i);
    if (!v)
        return -1;
    snprintf(dst, cap, "%s", v);
    return 0;
}

int main(int argc, char **argv)
{
    static ctl_opts o;
    int set_host = 0, set_port = 0, set_user = 0, set_pw = 0;
    const char *pwfile = NULL, *proxy_arg = NULL;
    o.timeout_s = 60;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-?")) {
            fputs(USAGE, stdout);
            return CTL_EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            o.json = 1;
        } else if (!strcmp(a, "--yes") || !strcmp(a, "-y")) {
            o.yes = 1;
        } else if (!strcmp(a, "--to") || !strncmp(a, "--to=", 5)) {
            o.to = a[4] == '=' ? a + 5 : (i + 1 < argc ? argv[++i] : NULL);
            if (!o.to)
                return usage_error("--to needs a server name", NULL);
        } else if (!strcmp(a, "--timeout") || !strncmp(a, "--timeout=", 10)) {
            const char *v = a[9] == '=' ? a + 10 : (i + 1 < argc ? argv[++i] : NULL);
            char *end;
            long t = v ? strtol(v, &end, 10) : 0;
            if (!v || *end || t < 1 || t > 86400)
                return usage_error("--timeout needs seconds (1..86400)", NULL);
            o.timeout_s = (int)t;
        } else if (!strcmp(a, "--proxy") || !strncmp(a, "--proxy=", 8)) {
            const char *v = a[7] == '=' ? a + 8 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v)
                return usage_error("--proxy needs host:port", NULL);
            proxy_arg = v; /* applied after the config file */
        } else if (!strcmp(a, "--password-file") || !strncmp(a, "--password-file=", 16)) {
            pwfile = a[15] == '=' ? a + 16 : (i + 1 < argc ? argv[++i] : NULL);
            if (!pwfile)
                return usage_error("--password-file needs a file", NULL);
        } else if (!strcmp(a, "--config") || !strncmp(a, "-c", 2)) {
            const char *v = !strcmp(a, "--config") || !strcmp(a, "-c")
                                ? (i + 1 < argc ? argv[++i] : NULL)
                                : a + 2;
            if (!v)
                return usage_error("-c needs a file", NULL);
            snprintf(o.config_path, sizeof o.config_path, "%s", v);
        } else if (!strncmp(a, "-h", 2)) {
            if (take_text(argc, argv, &i, o.host, sizeof o.host) != 0)
                return usage_error("-h needs a host", NULL);
            set_host = 1;
        } else if (!strncmp(a, "-P", 2)) {
            const char *v = optval(argc, argv, &i);
            char *end;
            long p = v ? strtol(v, &end, 10) : 0;
            if (!v || *end || p < 1 || p > 65535)
                return usage_error("-P needs a port (1..65535)", NULL);
            o.port = (int)p;
            set_port = 1;
        } else if (!strncmp(a, "-u", 2)) {
            if (take_text(argc, argv, &i, o.user, sizeof o.user) != 0)
                return usage_error("-u needs a user", NULL);
            set_user = 1;
        } else if (!strncmp(a, "-p", 2)) {
            if (take_text(argc, argv, &i, o.password, sizeof o.password) != 0)
                return usage_error("-p needs a password", NULL);
            set_pw = 1;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option %s", a);
        } else if (!o.command) {
            o.command = a;
        } else if (o.nargs < CTL_MAX_ARGS) {
            o.args[o.nargs++] = a;
        } else {
            return usage_error("too many arguments", NULL);
        }
    }
    if (!o.command) {
        fputs(USAGE, stderr);
        return CTL_EXIT_USAGE;
    }
    if (pwfile) {
        if (set_pw)
            return usage_error("give -p or --password-file, not both", NULL);
        if (read_password_file(pwfile, o.password, sizeof o.password) != 0)
            return CTL_EXIT_FAIL;
        set_pw = 1;
    }
    if (o.to && strcmp(o.command, "switchover") && strcmp(o.command, "drill"))
        return usage_error("--to is for switchover", NULL);
    if (ctl_conf_load(&o, set_host, set_port, set_user, set_pw) != 0)
        return CTL_EXIT_FAIL;
    if (proxy_arg &&
        ctl_parse_hostport(proxy_arg, o.proxy_host, sizeof o.proxy_host, &o.proxy_port) != 0)
        return usage_error("--proxy %s: expected host:port", proxy_arg);
    if (mysql_library_init(0, NULL, NULL) != 0) {
        ctl_err("cannot initialise libmysqlclient");
        return CTL_EXIT_FAIL;
    }
    int rc = dispatch(&o);
    mysql_library_end();
    memset(o.password, 0, sizeof o.password);
    return rc;
}
