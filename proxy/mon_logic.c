/*
 * proxy/mon_logic.c — the monitor's pure decisions (see mon_logic.h): no I/O, no threads,
 * no libmysqlclient; GTID arithmetic comes from router/gtid.h.
 */
#include "proxy/mon_logic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "router/gtid.h"

/* ---- SHOW ALL SLAVES STATUS ---- */

static void copy_text(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static int is_yes(const char *v)
{
    return v && strcasecmp(v, "Yes") == 0;
}

static int int_or(const char *v, int dflt)
{
    return v && *v ? atoi(v) : dflt;
}

/* Store one column (by name) into out; columns we do not use are ignored. The MySQL 8
 * spelling (SHOW REPLICA STATUS) is accepted next to MariaDB's. */
static void slave_column(rwp_slave_status *out, const char *name, const char *v)
{
    if (!strcasecmp(name, "Connection_name") || !strcasecmp(name, "Channel_Name"))
        copy_text(out->connection_name, sizeof out->connection_name, v);
    else if (!strcasecmp(name, "Slave_IO_Running") || !strcasecmp(name, "Replica_IO_Running")) {
        copy_text(out->io_state, sizeof out->io_state, v);
        out->io_running = is_yes(v);
    } else if (!strcasecmp(name, "Slave_SQL_Running") || !strcasecmp(name, "Replica_SQL_Running"))
        out->sql_running = is_yes(v);
    else if (!strcasecmp(name, "Seconds_Behind_Master") || !strcasecmp(name, "Seconds_Behind_Source"))
        out->lag_s = int_or(v, -1);
    else if (!strcasecmp(name, "Master_Host") || !strcasecmp(name, "Source_Host"))
        copy_text(out->master_host, sizeof out->master_host, v);
    else if (!strcasecmp(name, "Master_Port") || !strcasecmp(name, "Source_Port"))
        out->master_port = int_or(v, 0);
    else if (!strcasecmp(name, "Master_Server_Id") || !strcasecmp(name, "Source_Server_Id"))
        out->master_server_id = (uint32_t)strtoul(v ? v : "0", NULL, 10);
    else if (!strcasecmp(name, "Using_Gtid"))
        out->using_gtid = v && (!strcasecmp(v, "Slave_Pos") || !strcasecmp(v, "Current_Pos"));
    else if (!strcasecmp(name, "Auto_Position"))
        out->using_gtid = int_or(v, 0) == 1;
    else if (!strcasecmp(name, "Gtid_IO_Pos") || !strcasecmp(name, "Retrieved_Gtid_Set"))
        copy_text(out->gtid_io_pos, sizeof out->gtid_io_pos, v);
    else if (!strcasecmp(name, "Last_IO_Errno"))
        out->last_io_errno = int_or(v, 0);
    else if (!strcasecmp(name, "Last_IO_Error"))
        copy_text(out->last_io_error, sizeof out->last_io_error, v);
    else if (!strcasecmp(name, "Last_SQL_Errno"))
        out->last_sql_errno = int_or(v, 0);
    else if (!strcasecmp(name, "Last_SQL_Error"))
        copy_text(out->last_sql_error, sizeof out->last_sql_error, v);
}

void rwp_ml_slave_from_row(rwp_slave_status *out, const char *const *names,
                           const char *const *values, int ncols)
{
    memset(out, 0, sizeof *out);
    out->lag_s = -1;
    for (int i = 0; i < ncols; i++)
        if (names[i])
            slave_column(out, names[i], values[i]);
}

int rwp_ml_is_source(const rwp_slave_status *r, const char *host, int port, uint32_t server_id)
{
    if (r->master_server_id != 0 && server_id != 0)
        return r->master_server_id == server_id;
    return r->master_port == port && host && strcasecmp(r->master_host, host) == 0;
}

/* ---- GTID comparisons ---- */

static rwr_gtid_pos parse_or_empty(const char *text)
{
    rwr_gtid_pos p;
    if (!text || rwr_gtid_parse(text, strlen(text), &p) != 0)
        memset(&p, 0, sizeof p);
    return p;
}

static int has_domain(const rwr_gtid_pos *p, uint32_t domain)
{
    for (int i = 0; i < p->n; i++)
        if (p->g[i].domain == domain)
            return 1;
    return 0;
}

/* Keep only the domains listed in dom. */
static void keep_domains(rwr_gtid_pos *p, const rwr_gtid_pos *dom)
{
    int k = 0;
    for (int i = 0; i < p->n; i++)
        if (has_domain(dom, p->g[i].domain))
            p->g[k++] = p->g[i];
    p->n = k;
}

static uint64_t seq_sum(const rwr_gtid_pos *p)
{
    uint64_t s = 0;
    for (int i = 0; i < p->n; i++)
        s += p->g[i].seq;
    return s;
}

int rwp_ml_gtid_compare(const char *a, const char *b, const char *domains)
{
    rwr_gtid_pos pa = parse_or_empty(a), pb = parse_or_empty(b);
    rwr_gtid_pos dom = parse_or_empty(domains);
    if (dom.n > 0) {
        keep_domains(&pa, &dom);
        keep_domains(&pb, &dom);
    }
    int a_reached_b = rwr_gtid_reached(&pa, &pb), b_reached_a = rwr_gtid_reached(&pb, &pa);
    if (a_reached_b && b_reached_a)
        return 0;
    if (a_reached_b)
        return 1;
    if (b_reached_a)
        return -1;
    uint64_t sa = seq_sum(&pa), sb = seq_sum(&pb);
    return sa > sb ? 1 : sa < sb ? -1 : 0;
}

/* ---- candidate choice ---- */

static void add_why(char *why, size_t cap, const char *name, const char *reason)
{
    size_t len = strlen(why);
    if (len < cap)
        snprintf(why + len, cap - len, "%s%s: %s", len ? "; " : "", name, reason);
}

/* Why server i cannot be promoted in place of master (NULL if it can). */
static const char *unpromotable(const rwp_ml_server *s, int i, int master)
{
    const rwp_ml_server *m = &s[master];
    const rwp_obs *o = s[i].obs;
    if (!o || !o->nslaves || !rwp_ml_is_source(&o->slave, m->host, m->port,
                                                m->obs ? m->obs->server_id : 0))
        return "not a replica of the master";
    if (!s[i].usable)
        return "not usable (down, maintenance or fenced)";
    if (s[i].promotion_never)
        return "promotion = never";
    if (!o->log_bin)
        return "log_bin is off";
    if (!o->slave.using_gtid)
        return "does not replicate with GTID";
    if (!o->slave.sql_running)
        return "SQL thread not running (relay log cannot be applied)";
    return NULL;
}

/* 1 if replica i is a better candidate than replica best. */
static int better_candidate(const rwp_ml_server *s, int i, int best, const char *master_gtid)
{
    int c = rwp_ml_gtid_compare(s[i].obs->slave.gtid_io_pos, s[best].obs->slave.gtid_io_pos,
                                master_gtid);
    if (c == 0)
        c = rwp_ml_gtid_compare(s[i].obs->gtid_current_pos, s[best].obs->gtid_current_pos, NULL);
    return c > 0; /* equal: the earlier one (config order) stays */
}

int rwp_ml_pick_candidate(const rwp_ml_server *s, int n, int master, const char *master_gtid,
                          char *why, size_t whycap)
{
    int best = -1;
    if (whycap)
        why[0] = '\0';
    if (master < 0 || master >= n)
        return -1;
    for (int i = 0; i < n; i++) {
        if (i == master)
            continue;
        const char *no = unpromotable(s, i, master);
        if (no) {
            add_why(why, whycap, s[i].name ? s[i].name : "?", no);
            continue;
        }
        if (best < 0 || better_candidate(s, i, best, master_gtid))
            best = i;
    }
    return best;
}

/* ---- divergence ---- */

static void append_gtid(char *buf, size_t cap, const rwr_gtid *g)
{
    size_t len = strlen(buf);
    if (len < cap)
        snprintf(buf + len, cap - len, "%s%u-%u-%llu", len ? "," : "", g->domain, g->server,
                 (unsigned long long)g->seq);
}

int rwp_ml_diverged(const char *old_pos, const char *new_pos, char *extra, size_t cap)
{
    rwr_gtid_pos po, pn;
    if (cap)
        extra[0] = '\0';
    if (!old_pos || !new_pos || rwr_gtid_parse(old_pos, strlen(old_pos), &po) != 0 ||
        rwr_gtid_parse(new_pos, strlen(new_pos), &pn) != 0)
        return -1;
    int diverged = 0;
    for (int i = 0; i < po.n; i++) {
        uint64_t have = 0;
        for (int j = 0; j < pn.n; j++)
            if (pn.g[j].domain == po.g[i].domain)
                have = pn.g[j].seq;
        if (po.g[i].seq > have) {
            diverged = 1;
            if (cap)
                append_gtid(extra, cap, &po.g[i]);
        }
    }
    return diverged;
}

/* Highest sequence number new_state has for (domain, server); -1 unparsable, 0 with *found = 0
 * when the pair is absent. */
static int state_seq(const char *state, uint32_t domain, uint32_t server, uint64_t *seq, int *found)
{
    const char *p = state;
    *found = 0;
    *seq = 0;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        rwr_gtid_pos one;
        if (rwr_gtid_parse(p, len, &one) != 0)
            return -1;
        if (one.n == 1 && one.g[0].domain == domain && one.g[0].server == server &&
            (!*found || one.g[0].seq > *seq)) {
            *seq = one.g[0].seq;
            *found = 1;
        }
        p += len + (comma ? 1 : 0);
    }
    return 0;
}

int rwp_ml_missing_from_state(const char *old_pos, const char *new_state, char *extra, size_t cap)
{
    rwr_gtid_pos po;
    if (cap)
        extra[0] = '\0';
    if (!old_pos || !new_state || rwr_gtid_parse(old_pos, strlen(old_pos), &po) != 0)
        return -1;
    int missing = 0;
    for (int i = 0; i < po.n; i++) {
        uint64_t seq;
        int found;
        if (state_seq(new_state, po.g[i].domain, po.g[i].server, &seq, &found) != 0)
            return -1;
        if (!found || seq < po.g[i].seq) {
            missing = 1;
            if (cap)
                append_gtid(extra, cap, &po.g[i]);
        }
    }
    return missing;
}

int rwp_ml_gtid_from_1236(const char *error, char *out, size_t cap)
{
    const char *p = error ? strstr(error, "GTID ") : NULL;
    if (cap)
        out[0] = '\0';
    if (!p)
        return -1;
    p += 5;
    size_t n = strspn(p, "0123456789-");
    if (n == 0 || n >= cap)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

/* ---- writer choice ---- */

static int answering(const rwp_ml_server *s)
{
    return s->answering && s->obs;
}

static int writable_non_replica(const rwp_ml_server *s)
{
    return answering(s) && s->obs->read_only == 0 && s->obs->nslaves == 0;
}

/* How many answering servers other than i replicate from i. */
static int replicated_from(const rwp_ml_server *s, int n, int i)
{
    int count = 0;
    for (int j = 0; j < n; j++)
        if (j != i && answering(&s[j]) && s[j].obs->nslaves &&
            rwp_ml_is_source(&s[j].obs->slave, s[i].host, s[i].port, s[i].obs->server_id))
            count++;
    return count;
}

int rwp_ml_choose_writer(const rwp_ml_server *s, int n, int current,
                         const int *was_replica_of_current)
{
    if (current >= 0 && current < n && writable_non_replica(&s[current]))
        return current;
    int best = -1, best_count = -1;
    for (int i = 0; i < n; i++) {
        if (i == current || !s[i].usable || !writable_non_replica(&s[i]))
            continue;
        int count = replicated_from(s, n, i);
        int promoted = was_replica_of_current && was_replica_of_current[i];
        if (current >= 0 && count == 0 && !promoted)
            continue;
        if (count > best_count) {
            best = i;
            best_count = count;
        }
    }
    return best;
}

/* ---- promotion_sql ---- */

/* Splitter state: position and whether the current statement has code (not only comments). */
typedef struct {
    const char *p;        /* next character */
    int has_code;         /* current statement has something other than blanks and comments */
} split_state;

/* Skip a quoted string starting at *p (the opening quote); backslash escapes. */
static const char *skip_quoted(const char *p)
{
    char q = *p++;
    while (*p && *p != q) {
        if (*p == '\\' && q != '`' && p[1])
            p++;
        p++;
    }
    return *p ? p + 1 : p;
}

/* Skip a comment at p if there is one; returns p unchanged when there is none. */
static const char *skip_comment(const char *p)
{
    if (*p == '#' || (p[0] == '-' && p[1] == '-' && (p[2] == ' ' || p[2] == '\t' ||
                                                     p[2] == '\n' || p[2] == '\0'))) {
        while (*p && *p != '\n')
            p++;
        return p;
    }
    if (p[0] == '/' && p[1] == '*') {
        const char *end = strstr(p + 2, "*/");
        return end ? end + 2 : p + strlen(p);
    }
    return p;
}

static int emit_statement(const char *start, const char *end,
                          int (*fn)(void *, const char *, size_t), void *arg)
{
    while (start < end && strchr(" \t\r\n", *start))
        start++;
    while (end > start && strchr(" \t\r\n", end[-1]))
        end--;
    return fn(arg, start, (size_t)(end - start));
}

int rwp_ml_split_sql(const char *text, int (*fn)(void *arg, const char *stmt, size_t len),
                     void *arg)
{
    split_state st = {text, 0};
    const char *start = text;
    while (*st.p) {
        const char *after = skip_comment(st.p);
        if (after != st.p) {
            st.p = after;
            continue;
        }
        char c = *st.p;
        if (c == ';') {
            if (st.has_code) {
                int rc = emit_statement(start, st.p, fn, arg);
                if (rc)
                    return rc;
            }
            st.p++;
            start = st.p;
            st.has_code = 0;
            continue;
        }
        if (c == '\'' || c == '"' || c == '`') {
            st.p = skip_quoted(st.p);
            st.has_code = 1;
            continue;
        }
        if (!strchr(" \t\r\n", c))
            st.has_code = 1;
        st.p++;
    }
    return st.has_code ? emit_statement(start, st.p, fn, arg) : 0;
}

int rwp_ml_lagging(const rwp_slave_status *st, int master_answers, int max_lag_s)
{
    if (!st->sql_running || st->lag_s > max_lag_s)
        return 1;
    return !st->io_running && master_answers;
}

int rwp_ml_readable(const rwp_slave_status *st, int master_answers, int max_lag_s)
{
    if (!st->sql_running)
        return 0;
    if (st->lag_s < 0)
        return !st->io_running && !master_answers;
    return st->lag_s <= max_lag_s;
}
