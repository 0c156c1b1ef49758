/*
 * cli/ctl_sql.c — rwproxyctl's connections (libmysqlclient over TCP with connect/read/write
 * timeouts), result sets read whole into ctl_rs, and the clocks and time formats the
 * reports use.
 */
#include "cli/ctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

MYSQL *ctl_connect(const char *host, int port, const char *user, const char *password,
                   int connect_timeout_s, int read_timeout_s, char *err, size_t errlen)
{
    MYSQL *c = mysql_init(NULL);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    unsigned int proto = MYSQL_PROTOCOL_TCP;
    unsigned int cto = (unsigned)connect_timeout_s, rto = (unsigned)read_timeout_s;
    mysql_options(c, MYSQL_OPT_PROTOCOL, &proto);
    mysql_options(c, MYSQL_OPT_CONNECT_TIMEOUT, &cto);
    mysql_options(c, MYSQL_OPT_READ_TIMEOUT, &rto);
    mysql_options(c, MYSQL_OPT_WRITE_TIMEOUT, &rto);
    if (!mysql_real_connect(c, host, user, password, NULL, (unsigned)port, NULL, 0)) {
        snprintf(err, errlen, "%s (%u)", mysql_error(c), mysql_errno(c));
        mysql_close(c);
        return NULL;
    }
    return c;
}

MYSQL *ctl_admin_connect(const ctl_opts *o, int read_timeout_s, char *err, size_t errlen)
{
    char e[512];
    MYSQL *c = ctl_connect(o->host, o->port, o->user, o->password, 5, read_timeout_s, e, sizeof e);
    if (!c)
        snprintf(err, errlen, "cannot connect to the admin port %s:%d as %s: %s", o->host,
                 o->port, o->user, e);
    return c;
}

static int type_numeric(enum enum_field_types t)
{
    switch (t) {
    case MYSQL_TYPE_TINY: case MYSQL_TYPE_SHORT: case MYSQL_TYPE_LONG: case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONGLONG: case MYSQL_TYPE_FLOAT: case MYSQL_TYPE_DOUBLE:
    case MYSQL_TYPE_DECIMAL: case MYSQL_TYPE_NEWDECIMAL:
        return 1;
    default:
        return 0;
    }
}

int ctl_query(MYSQL *c, const char *sql, ctl_rs *rs, char *err, size_t errlen)
{
    memset(rs, 0, sizeof *rs);
    if (mysql_query(c, sql) != 0) {
        snprintf(err, errlen, "%s (%u)", mysql_error(c), mysql_errno(c));
        return -1;
    }
    MYSQL_RES *res = mysql_store_result(c);
    if (!res) {
        if (mysql_field_count(c) != 0) {
            snprintf(err, errlen, "%s (%u)", mysql_error(c), mysql_errno(c));
            return -1;
        }
        while (mysql_next_result(c) == 0) /* drain any further results */
            mysql_free_result(mysql_store_result(c));
        return 0;
    }
    int nc = (int)mysql_num_fields(res);
    MYSQL_FIELD *f = mysql_fetch_fields(res);
    rs->ncols = nc;
    rs->cols = calloc((size_t)nc + 1, sizeof *rs->cols);
    rs->numeric = calloc((size_t)nc + 1, sizeof *rs->numeric);
    uint64_t nr = mysql_num_rows(res);
    rs->rows = calloc((size_t)nr + 1, sizeof *rs->rows);
    if (!rs->cols || !rs->numeric || !rs->rows)
        goto oom;
    for (int i = 0; i < nc; i++) {
        rs->cols[i] = strdup(f[i].name);
        if (!rs->cols[i])
            goto oom;
        rs->numeric[i] = type_numeric(f[i].type);
    }
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res))) {
        unsigned long *len = mysql_fetch_lengths(res);
        char **r = calloc((size_t)nc + 1, sizeof *r);
        if (!r)
            goto oom;
        rs->rows[rs->nrows++] = r;
        for (int i = 0; i < nc; i++) {
            if (!row[i])
                continue;
            r[i] = malloc(len[i] + 1);
            if (!r[i])
                goto oom;
            memcpy(r[i], row[i], len[i]);
            r[i][len[i]] = '\0';
        }
    }
    mysql_free_result(res);
    while (mysql_next_result(c) == 0)
        mysql_free_result(mysql_store_result(c));
    return 0;
oom:
    mysql_free_result(res);
    ctl_rs_free(rs);
    snprintf(err, errlen, "out of memory");
    return -1;
}

void ctl_rs_free(ctl_rs *rs)
{
    for (int r = 0; r < rs->nrows; r++) {
        for (int i = 0; i < rs->ncols; i++)
            free(rs->rows[r][i]);
        free(rs->rows[r]);
    }
    for (int i = 0; i < rs->ncols && rs->cols; i++)
        free(rs->cols[i]);
    free(rs->rows);
    free(rs->cols);
    free(rs->numeric);
    memset(rs, 0, sizeof *rs);
}

int ctl_rs_col(const ctl_rs *rs, const char *name)
{
    for (int i = 0; i < rs->ncols; i++)
        if (!strcasecmp(rs->cols[i], name))
            return i;
    return -1;
}

const char *ctl_rs_get(const ctl_rs *rs, int r, const char *name)
{
    int c = ctl_rs_col(rs, name);
    if (c < 0 || r < 0 || r >= rs->nrows)
        return NULL;
    return rs->rows[r][c];
}

const char *ctl_rs_str(const ctl_rs *rs, int r, const char *name)
{
    const char *v = ctl_rs_get(rs, r, name);
    return v ? v : "";
}

int64_t ctl_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t ctl_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ctl_parse_time_ms(const char *s)
{
    if (!s || !*s)
        return -1;
    if (strspn(s, "0123456789") == strlen(s)) /* epoch ms */
        return strtoll(s, NULL, 10);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
    if (!p)
        p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    int64_t ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
        for (; digits < 3; digits++)
            ms *= 10;
    }
    return (int64_t)timegm(&tm) * 1000 + ms;
}

void ctl_fmt_time_ms(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char b[64];
    strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03d", b, (int)(ms % 1000));
}
