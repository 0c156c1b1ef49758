/*
 * proxy/mon_sql.c — the monitor's blocking SQL helpers (see monitor_int.h): connecting with
 * timeouts, running a statement, reading one value, and the health check itself (the
 * variables query and SHOW ALL SLAVES STATUS mapped by column name through mon_logic).
 * Only the monitor's own threads call these; never a worker loop.
 */
#include "proxy/monitor_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned mon_sql_timeout_s(const rwp_config *cfg)
{
    unsigned s = (unsigned)((cfg->monitor_connect_timeout_ms + 999) / 1000);
    return s ? s : 1;
}

static void set_err(MYSQL *c, char *err, size_t cap)
{
    if (cap)
        snprintf(err, cap, "%u: %s", mysql_errno(c), mysql_error(c));
}

MYSQL *mon_sql_connect(const rwp_config *cfg, const rwp_server_cfg *s, unsigned read_s,
                       char *err, size_t errcap)
{
    MYSQL *c = mysql_init(NULL);
    if (!c) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    /* libmariadb takes whole seconds: connect_timeout_ms rounded up. The read timeout also
     * bounds the handshake read of a server that accepts TCP but never answers. */
    unsigned connect_s = mon_sql_timeout_s(cfg);
    mysql_options(c, MYSQL_OPT_CONNECT_TIMEOUT, &connect_s);
    mysql_options(c, MYSQL_OPT_READ_TIMEOUT, &read_s);
    mysql_options(c, MYSQL_OPT_WRITE_TIMEOUT, &read_s);
    if (!mysql_real_connect(c, s->host, cfg->monitor_user, cfg->monitor_password, NULL,
                            (unsigned)s->port, NULL, 0)) {
        set_err(c, err, errcap);
        mysql_close(c);
        return NULL;
    }
    return c;
}

/* Drain every result of the last statement (there may be none). */
static void discard_results(MYSQL *c)
{
    do {
        MYSQL_RES *r = mysql_store_result(c);
        if (r)
            mysql_free_result(r);
    } while (mysql_next_result(c) == 0);
}

int mon_sql_exec(MYSQL *c, const char *sql, char *err, size_t errcap)
{
    if (mysql_query(c, sql) != 0) {
        set_err(c, err, errcap);
        return -1;
    }
    discard_results(c);
    return 0;
}

/* Run sql and take its result set: 0 with *res (NULL when the statement returns no rows),
 * -1 with err set. */
static int query_store(MYSQL *c, const char *sql, MYSQL_RES **res, char *err, size_t errcap)
{
    *res = NULL;
    if (mysql_query(c, sql) != 0) {
        set_err(c, err, errcap);
        return -1;
    }
    *res = mysql_store_result(c);
    if (!*res && mysql_errno(c)) {
        set_err(c, err, errcap);
        return -1;
    }
    return 0;
}

int mon_sql_value(MYSQL *c, const char *sql, char *out, size_t cap, int *is_null, char *err,
                  size_t errcap)
{
    int dummy;
    if (!is_null)
        is_null = &dummy;
    *is_null = 1;
    if (cap)
        out[0] = '\0';
    MYSQL_RES *r;
    if (query_store(c, sql, &r, err, errcap) != 0)
        return -1;
    if (!r)
        return 0;
    MYSQL_ROW row = mysql_fetch_row(r);
    if (row && mysql_num_fields(r) > 0 && row[0]) {
        snprintf(out, cap, "%s", row[0]);
        *is_null = 0;
    }
    mysql_free_result(r);
    discard_results(c);
    return 0;
}

void mon_sql_quote(MYSQL *c, const char *text, char *out, size_t cap)
{
    size_t len = strlen(text);
    char *tmp = malloc(len * 2 + 1);
    if (!tmp || cap < 3) {
        if (cap)
            out[0] = '\0';
        free(tmp);
        return;
    }
    mysql_real_escape_string(c, tmp, text, (unsigned long)len);
    snprintf(out, cap, "'%s'", tmp);
    free(tmp);
}

/* The variables of the check, in this column order (MySQL 8: @@gtid_executed for the
 * binlog and current positions, no gtid_slave_pos, log_replica_updates). */
#define CHECK_SQL                                                                         \
    "SELECT @@server_id, @@read_only, @@gtid_binlog_pos, @@gtid_current_pos, "           \
    "@@gtid_slave_pos, @@log_bin, @@log_slave_updates, @@gtid_strict_mode, @@version"

static void copy_col(char *dst, size_t cap, const char *v)
{
    snprintf(dst, cap, "%s", v ? v : "");
}

static int observe_vars(MYSQL *c, rwp_obs *o)
{
    if (mysql_query(c, CHECK_SQL) != 0) {
        set_err(c, o->error, sizeof o->error);
        return -1;
    }
    MYSQL_RES *r = mysql_store_result(c);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    if (!row || mysql_num_fields(r) < 9) {
        snprintf(o->error, sizeof o->error, "check query returned no row");
        if (r)
            mysql_free_result(r);
        return -1;
    }
    o->server_id = (uint32_t)strtoul(row[0] ? row[0] : "0", NULL, 10);
    o->read_only = row[1] ? atoi(row[1]) : 0;
    copy_col(o->gtid_binlog_pos, sizeof o->gtid_binlog_pos, row[2]);
    copy_col(o->gtid_current_pos, sizeof o->gtid_current_pos, row[3]);
    copy_col(o->gtid_slave_pos, sizeof o->gtid_slave_pos, row[4]);
    o->log_bin = row[5] ? atoi(row[5]) : 0;
    o->log_slave_updates = row[6] ? atoi(row[6]) : 0;
    o->gtid_strict_mode = row[7] ? atoi(row[7]) : 0;
    copy_col(o->version, sizeof o->version, row[8]);
    mysql_free_result(r);
    return 0;
}

/* Keep the default connection (Connection_name = ''), else the first one. */
static void take_slave_row(rwp_obs *o, MYSQL_RES *r, MYSQL_ROW row)
{
    unsigned nf = mysql_num_fields(r);
    MYSQL_FIELD *f = mysql_fetch_fields(r);
    const char *names[256];
    const char *values[256];
    int n = nf < 256 ? (int)nf : 256;
    for (int i = 0; i < n; i++) {
        names[i] = f[i].name;
        values[i] = row[i];
    }
    rwp_slave_status st;
    rwp_ml_slave_from_row(&st, names, values, n);
    if (o->nslaves == 0 || st.connection_name[0] == '\0')
        o->slave = st;
    o->nslaves++;
}

int mon_sql_slave_status(MYSQL *c, rwp_obs *o, char *err, size_t errcap)
{
    /* MySQL 8: SHOW REPLICA STATUS (one row per channel). */
    o->nslaves = 0;
    memset(&o->slave, 0, sizeof o->slave);
    o->slave.lag_s = -1;
    MYSQL_RES *r;
    if (query_store(c, "SHOW ALL SLAVES STATUS", &r, err, errcap) != 0)
        return -1;
    if (!r)
        return 0;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(r)) != NULL)
        take_slave_row(o, r, row);
    mysql_free_result(r);
    return 0;
}

int mon_sql_observe(MYSQL *c, rwp_obs *o)
{
    if (observe_vars(c, o) != 0)
        return -1;
    return mon_sql_slave_status(c, o, o->error, sizeof o->error);
}
