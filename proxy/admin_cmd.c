/*
 * proxy/admin_cmd.c — the admin port's commands (see admin_cmd.h and docs/admin.md): the
 * text is cleaned (comments, blanks, trailing ';'), split into words and looked up in a
 * table of commands; SELECT (of @@variables and literals, for drivers) and SET (accepted and
 * ignored, for drivers) have their own small parsers. The SHOW commands build tables from
 * the topology snapshot, the monitor's event history, the configuration and the workers'
 * statistics (proxy/stats.h); the actions call the monitor, the reload and the statistics
 * module, and answer OK with what happened or ERR with why not.
 */
#include "proxy/admin_cmd.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "protocol/mysql_const.h"
#include "proxy/log.h"
#include "proxy/reload.h"
#include "proxy/stats.h"
#include "proxy/worker.h"
#include "router/rules.h"

#define MAX_WORDS 16            /* words of a command kept (more are only counted) */
#define MAX_SELECT_ITEMS 64     /* expressions in one SELECT */
#define APPLY_WAIT_MS 5000      /* longest wait for the monitor to apply a maintenance change */
#define ER_EMPTY_QUERY 1065     /* 42000 */
#define ER_PARSE_ERROR 1064     /* 42000 */
#define ER_NO_SUCH_THREAD 1094  /* HY000 */
#define MASK "********"         /* what SHOW CONFIG shows for a password or hash */

/* ---------------------------------------------------------------- replies ---- */

static void reply_ok(rwp_adm_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply_err(rwp_adm_reply *r, uint16_t code, const char *state, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void reply_ok(rwp_adm_reply *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->kind = ADM_REPLY_OK;
}

static void reply_err(rwp_adm_reply *r, uint16_t code, const char *state, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    rwp_table_free(&r->table);
    r->kind = ADM_REPLY_ERR;
    r->code = code;
    snprintf(r->sqlstate, sizeof r->sqlstate, "%s", state);
}

/* Start a table reply with these columns. Returns 0, or -1 (ERR set) without memory. */
static int reply_table(rwp_adm_reply *r, int ncols, const char *const *cols)
{
    r->kind = ADM_REPLY_TABLE;
    if (rwp_table_init(&r->table, ncols, cols) != 0) {
        reply_err(r, ER_UNKNOWN_ERROR, "HY000", "rwproxy admin: out of memory");
        return -1;
    }
    return 0;
}

void rwp_adm_reply_free(rwp_adm_reply *r)
{
    rwp_table_free(&r->table);
}

const rwp_config *rwp_adm_config(rwp_proxy *p)
{
    pthread_mutex_lock(&p->reload_mu);
    const rwp_config *c = p->cfg;
    pthread_mutex_unlock(&p->reload_mu);
    return c;
}

/* ------------------------------------------------------- cell formatting ---- */

/* "YYYY-MM-DD HH:MM:SS.mmm" UTC of a wall-clock time in ms; NULL cell when 0. */
static void set_time(rwp_table *t, long row, int col, int64_t ms)
{
    if (ms <= 0) {
        rwp_table_set_null(t, row, col);
        return;
    }
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char buf[32];
    gmtime_r(&secs, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    rwp_table_setf(t, row, col, "%s.%03d", buf, (int)(ms % 1000));
}

static void set_str(rwp_table *t, long row, int col, const char *s)
{
    rwp_table_setf(t, row, col, "%s", s ? s : "");
}

static void set_u64(rwp_table *t, long row, int col, uint64_t v)
{
    rwp_table_setf(t, row, col, "%llu", (unsigned long long)v);
}

/* host:port, with brackets around an IPv6 address. */
static void set_address(rwp_table *t, long row, int col, const char *host, int port)
{
    rwp_table_setf(t, row, col, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

/* ----------------------------------------------------------- SHOW SERVERS ---- */

static const char *const SERVER_COLS[] = {
    "name", "address", "role", "state", "read_only", "lag_s", "readable", "source",
    "gtid_current_pos", "last_check", "last_check_at", "check_ms", "conns_in_use", "conns_idle",
    "queries", "errors", "avg_latency_ms", "detail"};
enum {
    SC_NAME, SC_ADDRESS, SC_ROLE, SC_STATE, SC_READ_ONLY, SC_LAG, SC_READABLE, SC_SOURCE,
    SC_GTID, SC_LAST_CHECK, SC_LAST_CHECK_AT, SC_CHECK_MS, SC_IN_USE, SC_IDLE, SC_QUERIES,
    SC_ERRORS, SC_LATENCY, SC_DETAIL, SC_NCOLS
};
_Static_assert(SC_NCOLS == sizeof SERVER_COLS / sizeof SERVER_COLS[0], "SHOW SERVERS columns");

/* "ok", or what the last check found wrong. The monitor keeps the last check error in
 * detail (cleared when a check succeeds) unless the server is fenced (then detail is the
 * fencing reason). */
static const char *last_check_text(const rwp_topo_server *s)
{
    if (s->checked_ms <= 0)
        return "not checked yet";
    if (s->health == SRV_DOWN)
        return s->detail[0] ? s->detail : "failed";
    if (s->health != SRV_FENCED && s->detail[0])
        return s->detail;
    return "ok";
}

/* The monitor's view of one server: the first twelve columns and detail. */
static void server_state_cells(rwp_table *t, long r, const rwp_topo_server *s)
{
    set_str(t, r, SC_NAME, s->name);
    set_address(t, r, SC_ADDRESS, s->host, s->port);
    set_str(t, r, SC_ROLE, rwp_srv_role_name(s->role));
    set_str(t, r, SC_STATE, rwp_srv_health_name(s->health));
    if (s->read_only >= 0)
        rwp_table_setf(t, r, SC_READ_ONLY, "%d", s->read_only ? 1 : 0);
    if (s->lag_s >= 0 && s->role == ROLE_REPLICA)
        rwp_table_setf(t, r, SC_LAG, "%d", s->lag_s);
    rwp_table_setf(t, r, SC_READABLE, "%d", s->readable ? 1 : 0);
    set_str(t, r, SC_SOURCE, s->source);
    set_str(t, r, SC_GTID, s->gtid_current_pos);
    set_str(t, r, SC_LAST_CHECK, last_check_text(s));
    set_time(t, r, SC_LAST_CHECK_AT, s->checked_ms);
    if (s->checked_ms > 0)
        rwp_table_setf(t, r, SC_CHECK_MS, "%d", s->check_ms);
    set_str(t, r, SC_DETAIL, s->detail);
}

/* The workers' counters of one server (NULL cells when they could not be collected). */
static void server_counter_cells(rwp_table *t, long r, const rwp_server_totals *x)
{
    if (!x)
        return;
    set_u64(t, r, SC_IN_USE, x->conns_in_use);
    set_u64(t, r, SC_IDLE, x->conns_idle);
    set_u64(t, r, SC_QUERIES, x->queries);
    set_u64(t, r, SC_ERRORS, x->errors);
    if (x->latency_count > 0)
        rwp_table_setf(t, r, SC_LATENCY, "%.3f",
                       (double)x->latency_us_total / (double)x->latency_count / 1000.0);
}

static void show_servers(const rwp_adm_ctx *ctx, rwp_adm_reply *out)
{
    rwp_topology *topo = rwp_topo_acquire(&ctx->proxy->topo);
    if (!topo) {
        reply_err(out, ER_UNKNOWN_ERROR, "HY000", "the monitor has not published a topology yet");
        return;
    }
    char err[256] = "";
    rwp_server_totals *totals = calloc((size_t)topo->nservers + 1, sizeof *totals);
    if (totals && rwp_stats_servers(ctx->proxy, totals, topo->nservers, err, sizeof err) != 0) {
        log_warn("admin: SHOW SERVERS without the workers' counters: %s", err);
        free(totals);
        totals = NULL;
    }
    if (reply_table(out, SC_NCOLS, SERVER_COLS) == 0) {
        for (int i = 0; i < topo->nservers; i++) {
            if (topo->servers[i].removed)
                continue; /* a reload removed it: its slot is kept, not listed */
            long r = rwp_table_add_row(&out->table);
            server_state_cells(&out->table, r, &topo->servers[i]);
            server_counter_cells(&out->table, r, totals ? &totals[i] : NULL);
        }
    }
    free(totals);
    rwp_topo_release(topo);
}

/* ------------------------------------------------------------ SHOW EVENTS ---- */

static const char *const EVENT_COLS[] = {"event", "type", "from", "to", "started_at",
                                         "event_ms", "outcome", "step", "step_at", "step_ms",
                                         "ok", "result"};
enum { EC_EVENT, EC_TYPE, EC_FROM, EC_TO, EC_STARTED, EC_EVENT_MS, EC_OUTCOME, EC_STEP,
       EC_STEP_AT, EC_STEP_MS, EC_OK, EC_RESULT, EC_NCOLS };
_Static_assert(EC_NCOLS == sizeof EVENT_COLS / sizeof EVENT_COLS[0], "SHOW EVENTS columns");

/* A row with the event's own columns filled (step columns NULL). */
static long event_row(rwp_table *t, const rwp_mon_event *e)
{
    long r = rwp_table_add_row(t);
    set_u64(t, r, EC_EVENT, e->id);
    set_str(t, r, EC_TYPE, e->type);
    set_str(t, r, EC_FROM, e->from);
    set_str(t, r, EC_TO, e->to);
    set_time(t, r, EC_STARTED, e->start_ms);
    if (e->end_ms > 0)
        rwp_table_setf(t, r, EC_EVENT_MS, "%lld", (long long)(e->end_ms - e->start_ms));
    set_str(t, r, EC_OUTCOME, e->outcome[0] || e->end_ms > 0 ? e->outcome : "running");
    return r;
}

static void event_rows(rwp_table *t, const rwp_mon_event *e)
{
    if (e->nsteps == 0)
        event_row(t, e);
    for (int i = 0; i < e->nsteps && i < RWP_EV_MAX_STEPS; i++) {
        const rwp_ev_step *s = &e->steps[i];
        long r = event_row(t, e);
        set_str(t, r, EC_STEP, s->name);
        set_time(t, r, EC_STEP_AT, s->at_ms);
        rwp_table_setf(t, r, EC_STEP_MS, "%d", s->dur_ms);
        rwp_table_setf(t, r, EC_OK, "%d", s->ok ? 1 : 0);
        set_str(t, r, EC_RESULT, s->result);
    }
    if (e->steps_dropped > 0) {
        long r = event_row(t, e);
        rwp_table_setf(t, r, EC_STEP, "(%d more steps not kept)", e->steps_dropped);
    }
}

/* The monitor's event history, oldest first, into a heap array; returns the count or -1. */
static int copy_events(rwp_monitor *m, rwp_mon_event **out)
{
    *out = calloc(RWP_EV_HISTORY, sizeof **out);
    if (!*out)
        return -1;
    return rwp_monitor_events(m, *out, RWP_EV_HISTORY);
}

static void show_events(const rwp_adm_ctx *ctx, rwp_adm_reply *out)
{
    rwp_mon_event *ev;
    int n = copy_events(ctx->monitor, &ev);
    if (n < 0) {
        reply_err(out, ER_UNKNOWN_ERROR, "HY000", "rwproxy admin: out of memory");
        return;
    }
    if (reply_table(out, EC_NCOLS, EVENT_COLS) == 0)
        for (int i = 0; i < n; i++)
            event_rows(&out->table, &ev[i]);
    free(ev);
}

/* ------------------------------------------------------------- SHOW RULES ---- */

static const char *const RULE_COLS[] = {"name", "order", "match", "user", "action", "hits"};

static void rule_action(const rwr_rule_spec *s, char *buf, size_t len)
{
    switch (s->action) {
    case RWR_RULE_ROUTE_MASTER: snprintf(buf, len, "route master"); break;
    case RWR_RULE_ROUTE_REPLICA: snprintf(buf, len, "route replica"); break;
    case RWR_RULE_ROUTE_SERVER: snprintf(buf, len, "route server.%s", s->server); break;
    default: snprintf(buf, len, "block"); break;
    }
}

static void rule_row(rwp_table *t, const rwr_rule_spec *s, const uint64_t *hits)
{
    char action[96];
    long r = rwp_table_add_row(t);
    rule_action(s, action, sizeof action);
    set_str(t, r, 0, s->name);
    rwp_table_setf(t, r, 1, "%d", s->order);
    set_str(t, r, 2, s->match);
    set_str(t, r, 3, s->user);
    set_str(t, r, 4, action);
    if (hits)
        set_u64(t, r, 5, *hits);
}

static void show_rules(const rwp_adm_ctx *ctx, rwp_adm_reply *out)
{
    const rwp_config *cfg = rwp_adm_config(ctx->proxy);
    size_t n = cfg->ruleset ? rwr_rules_count(cfg->ruleset) : 0;
    uint64_t *hits = calloc(n + 1, sizeof *hits);
    char err[256] = "";
    if (hits && rwp_stats_rule_hits(ctx->proxy, hits, (int)n, err, sizeof err) != 0) {
        log_warn("admin: SHOW RULES without hit counts: %s", err);
        free(hits);
        hits = NULL;
    }
    if (reply_table(out, 6, RULE_COLS) == 0)
        for (size_t i = 0; i < n; i++)
            rule_row(&out->table, rwr_rules_get(cfg->ruleset, i), hits ? &hits[i] : NULL);
    free(hits);
}

/* ------------------------------------------------------------ SHOW CONFIG ---- */

static const char *const CONFIG_COLS[] = {"section", "key", "value"};

static int is_secret(const rwp_config_key *k)
{
    return k->kind == RWP_CK_PASSWORD || k->kind == RWP_CK_USER_PASSWORD ||
           k->kind == RWP_CK_USER_HASH;
}

/* One row per key of table section tsection, for the section named section of obj. */
static void config_rows(rwp_table *t, const char *tsection, const char *section, const void *obj)
{
    size_t n;
    const rwp_config_key *keys = rwp_config_keys(&n);
    char value[1100];
    for (size_t i = 0; i < n; i++) {
        if (strcmp(keys[i].section, tsection) != 0)
            continue;
        rwp_config_format_value(&keys[i], obj, value, sizeof value);
        long r = rwp_table_add_row(t);
        set_str(t, r, 0, section);
        set_str(t, r, 1, keys[i].key);
        set_str(t, r, 2, is_secret(&keys[i]) && value[0] ? MASK : value);
    }
}

/* The fixed sections ([proxy], [admin], ...) in the key table's order. */
static void config_fixed_rows(rwp_table *t, const rwp_config *c)
{
    size_t n;
    const rwp_config_key *keys = rwp_config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        const char *sec = keys[i].section;
        int repeated = strchr(sec, '.') != NULL;
        if (!repeated && (i == 0 || strcmp(sec, keys[i - 1].section) != 0))
            config_rows(t, sec, sec, c);
    }
}

static void show_config(const rwp_adm_ctx *ctx, rwp_adm_reply *out)
{
    const rwp_config *c = rwp_adm_config(ctx->proxy);
    char section[200];
    if (reply_table(out, 3, CONFIG_COLS) != 0)
        return;
    config_fixed_rows(&out->table, c);
    for (int i = 0; i < c->nservers; i++) {
        if (c->servers[i].removed)
            continue;
        snprintf(section, sizeof section, "server.%s", c->servers[i].name);
        config_rows(&out->table, "server.NAME", section, &c->servers[i]);
    }
    for (int i = 0; i < c->nusers; i++) {
        snprintf(section, sizeof section, "user.%s", c->users[i].name);
        config_rows(&out->table, "user.NAME", section, &c->users[i]);
    }
    for (int i = 0; i < c->nrules; i++) {
        snprintf(section, sizeof section, "rule.%s", c->rules[i].name);
        config_rows(&out->table, "rule.NAME", section, &c->rules[i]);
    }
}

/* ------------------------------------------- SHOW POOLS/SESSIONS/STATS/DIGESTS ---- */

typedef int (*stats_table_fn)(rwp_proxy *p, rwp_table *out, char *err, size_t cap);

static void stats_table(const rwp_adm_ctx *ctx, rwp_adm_reply *out, stats_table_fn fn)
{
    char err[512] = "";
    memset(&out->table, 0, sizeof out->table);
    out->kind = ADM_REPLY_TABLE;
    if (fn(ctx->proxy, &out->table, err, sizeof err) != 0)
        reply_err(out, ER_UNKNOWN_ERROR, "HY000", "%s", err[0] ? err : "statistics unavailable");
}

static void show_pools(const rwp_adm_ctx *ctx, rwp_adm_reply *out) { stats_table(ctx, out, rwp_stats_pools); }
static void show_sessions(const rwp_adm_ctx *ctx, rwp_adm_reply *out) { stats_table(ctx, out, rwp_stats_sessions); }
/* The event counters the monitor keeps (the workers' statistics cannot know them). */
static void fill_event_counts(const rwp_adm_ctx *ctx, rwp_table *t)
{
    uint64_t n[3];
    static const char *const names[3] = {"failovers", "switchovers", "rejoins"};
    rwp_monitor_counts(ctx->monitor, &n[0], &n[1], &n[2]);
    for (size_t r = 0; r < t->nrows; r++)
        for (int k = 0; k < 3; k++)
            if (rwp_table_cell(t, r, 0) && strcmp(rwp_table_cell(t, r, 0), names[k]) == 0)
                rwp_table_setf(t, (long)r, 1, "%llu", (unsigned long long)n[k]);
}

static void show_stats(const rwp_adm_ctx *ctx, rwp_adm_reply *out)
{
    stats_table(ctx, out, rwp_stats_global);
    if (out->kind == ADM_REPLY_TABLE && ctx->monitor)
        fill_event_counts(ctx, &out->table);
}
static void show_digests(const rwp_adm_ctx *ctx, rwp_adm_reply *out) { stats_table(ctx, out, rwp_stats_digests); }

/* ------------------------------------------------------------------ actions ---- */

/* A command's words after its keywords (args[0..nargs)). */
typedef struct {
    char **args; /* words, quotes and backticks removed */
    int nargs;   /* how many */
} adm_args;

static void reset_digests(const rwp_adm_ctx *ctx, rwp_adm_reply *out)
{
    char err[512] = "";
    if (rwp_stats_reset_digests(ctx->proxy, err, sizeof err) != 0)
        reply_err(out, ER_UNKNOWN_ERROR, "HY000", "%s", err);
    else
        reply_ok(out, "digests reset");
}

/* Index of server name in the configuration, or -1 (ERR set). */
static int known_server(const rwp_adm_ctx *ctx, const char *name, rwp_adm_reply *out)
{
    const rwp_config *c = rwp_adm_config(ctx->proxy);
    for (int i = 0; i < c->nservers; i++)
        if (!c->servers[i].removed && strcmp(c->servers[i].name, name) == 0)
            return i;
    reply_err(out, ER_UNKNOWN_ERROR, "HY000", "unknown server '%.64s' (SHOW SERVERS lists them)",
              name);
    return -1;
}

/* Has the published topology applied maintenance on (1) / off (0) to server idx? */
static int maintenance_applied(rwp_proxy *p, int idx, int on)
{
    rwp_topology *t = rwp_topo_acquire(&p->topo);
    int done = 0;
    if (t && idx < t->nservers)
        done = (t->servers[idx].health == SRV_MAINTENANCE) == (on != 0);
    rwp_topo_release(t);
    return done;
}

/* Wait (bounded) until the monitor has published the change. Returns 1 if it has. */
static int wait_maintenance(rwp_proxy *p, int idx, int on)
{
    for (int waited = 0; waited < APPLY_WAIT_MS; waited += 10) {
        if (maintenance_applied(p, idx, on))
            return 1;
        usleep(10 * 1000);
    }
    return maintenance_applied(p, idx, on);
}

static void set_server(const rwp_adm_ctx *ctx, const adm_args *a, rwp_adm_reply *out)
{
    const char *name = a->args[0], *mode = a->args[1];
    int on = strcasecmp(mode, "MAINTENANCE") == 0;
    if (!on && strcasecmp(mode, "ONLINE") != 0) {
        reply_err(out, ER_PARSE_ERROR, "42000",
                  "SET SERVER name MAINTENANCE | ONLINE: '%.64s' is neither", mode);
        return;
    }
    int idx = known_server(ctx, name, out);
    if (idx < 0)
        return;
    log_info("admin: %s: SET SERVER %s %s", ctx->user, name, on ? "MAINTENANCE" : "ONLINE");
    if (rwp_monitor_set_maintenance(ctx->monitor, name, on) != 0) {
        reply_err(out, ER_UNKNOWN_ERROR, "HY000", "unknown server '%.64s'", name);
        return;
    }
    if (!wait_maintenance(ctx->proxy, idx, on))
        reply_ok(out, "server %s: %s requested; the monitor applies it at its next round", name,
                 on ? "maintenance" : "online");
    else if (on)
        reply_ok(out, "server %s is in maintenance: no new queries, running ones finish", name);
    else
        reply_ok(out, "server %s is out of maintenance", name);
}

/* "promoted db2 (850 ms)" from the newest event of this type, or "" if none. */
static void last_outcome(rwp_monitor *m, const char *type, char *buf, size_t len)
{
    rwp_mon_event *ev;
    int n = copy_events(m, &ev);
    buf[0] = '\0';
    for (int i = n - 1; i >= 0; i--) {
        if (strcmp(ev[i].type, type) != 0)
            continue;
        snprintf(buf, len, "%s (%lld ms)", ev[i].outcome,
                 (long long)(ev[i].end_ms - ev[i].start_ms));
        break;
    }
    free(ev);
}

static void switchover(const rwp_adm_ctx *ctx, const adm_args *a, rwp_adm_reply *out)
{
    const char *target = NULL;
    if (a->nargs == 2 && strcasecmp(a->args[0], "TO") == 0)
        target = a->args[1];
    else if (a->nargs != 0) {
        reply_err(out, ER_PARSE_ERROR, "42000", "usage: SWITCHOVER [TO name]");
        return;
    }
    if (target && known_server(ctx, target, out) < 0)
        return;
    char err[512] = "", outcome[400];
    log_info("admin: %s: SWITCHOVER%s%s", ctx->user, target ? " TO " : "", target ? target : "");
    if (rwp_monitor_switchover(ctx->monitor, target, err, sizeof err) != 0) {
        reply_err(out, ER_UNKNOWN_ERROR, "HY000", "switchover failed, the master is unchanged: %s",
                  err);
        return;
    }
    last_outcome(ctx->monitor, "switchover", outcome, sizeof outcome);
    reply_ok(out, "switchover done: %s", outcome[0] ? outcome : "new master in place");
}

static void failover(const rwp_adm_ctx *ctx, rwp_adm_reply *out)
{
    char err[512] = "", outcome[400];
    log_info("admin: %s: FAILOVER", ctx->user);
    if (rwp_monitor_failover(ctx->monitor, err, sizeof err) != 0) {
        reply_err(out, ER_UNKNOWN_ERROR, "HY000", "failover not done: %s", err);
        return;
    }
    last_outcome(ctx->monitor, "failover", outcome, sizeof outcome);
    reply_ok(out, "failover done: %s", outcome[0] ? outcome : "new master in place");
}

static void reload(const rwp_adm_ctx *ctx, rwp_adm_reply *out)
{
    char msg[1000] = "";
    log_info("admin: %s: RELOAD", ctx->user);
    if (rwp_proxy_reload(ctx->proxy, msg, sizeof msg) != 0)
        reply_err(out, ER_UNKNOWN_ERROR, "HY000", "%s", msg[0] ? msg : "reload refused");
    else
        reply_ok(out, "%s", msg);
}

/* A whole decimal number without sign or blanks. */
static int parse_id(const char *s, uint64_t *out)
{
    char *end;
    if (!isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static void kill_session(const rwp_adm_ctx *ctx, const adm_args *a, rwp_adm_reply *out)
{
    uint64_t id;
    char err[512] = "";
    if (parse_id(a->args[0], &id) != 0) {
        reply_err(out, ER_PARSE_ERROR, "42000", "KILL SESSION id: '%.64s' is not a session id",
                  a->args[0]);
        return;
    }
    log_info("admin: %s: KILL SESSION %llu", ctx->user, (unsigned long long)id);
    if (rwp_stats_kill_session(ctx->proxy, id, err, sizeof err) != 0)
        reply_err(out, ER_NO_SUCH_THREAD, "HY000", "%s",
                  err[0] ? err : "Unknown session id");
    else
        reply_ok(out, "session %llu closed", (unsigned long long)id);
}

/* ---------------------------------------------------------------- SELECT ---- */

/* Values of the @@variables drivers read at connect time; others are NULL. */
static const struct {
    const char *name;  /* variable name, lower case */
    const char *value; /* what SELECT @@name shows */
} ADM_VARS[] = {
    {"version_comment", "rwproxy admin port"},
    {"version", RWP_ADMIN_VERSION},
    {"max_allowed_packet", "1048576"},
    {"system_time_zone", "UTC"},
    {"time_zone", "SYSTEM"},
    {"auto_increment_increment", "1"},
    {"autocommit", "1"},
    {"character_set_client", "utf8mb4"},
    {"character_set_connection", "utf8mb4"},
    {"character_set_results", "utf8mb4"},
    {"character_set_server", "utf8mb4"},
    {"collation_connection", "utf8mb4_general_ci"},
    {"collation_server", "utf8mb4_general_ci"},
    {"sql_mode", ""},
    {"lower_case_table_names", "0"},
    {"net_write_timeout", "60"},
    {"net_buffer_length", "16384"},
    {"wait_timeout", "28800"},
    {"interactive_timeout", "28800"},
    {"tx_isolation", "REPEATABLE-READ"},
    {"transaction_isolation", "REPEATABLE-READ"},
    {"tx_read_only", "0"},
    {"transaction_read_only", "0"},
    {"query_cache_size", "0"},
    {"query_cache_type", "OFF"},
    {"performance_schema", "0"},
    {"license", "GPL"},
    {"init_connect", ""},
};

/* Value of @@name (prefixes session./global./local. ignored), or NULL if unknown. */
static const char *var_value(const char *name)
{
    static const char *const scopes[] = {"session.", "global.", "local."};
    for (size_t i = 0; i < sizeof scopes / sizeof scopes[0]; i++)
        if (strncasecmp(name, scopes[i], strlen(scopes[i])) == 0)
            name += strlen(scopes[i]);
    for (size_t i = 0; i < sizeof ADM_VARS / sizeof ADM_VARS[0]; i++)
        if (strcasecmp(name, ADM_VARS[i].name) == 0)
            return ADM_VARS[i].value;
    return NULL;
}

static int is_integer(const char *s)
{
    if (*s == '-')
        s++;
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

/* A quoted literal 'text' / "text" (no escapes): writes its text into buf. */
static int quoted_literal(const char *s, char *buf, size_t len)
{
    size_t n = strlen(s);
    if (n < 2 || (s[0] != '\'' && s[0] != '"') || s[n - 1] != s[0] || memchr(s + 1, s[0], n - 2))
        return 0;
    snprintf(buf, len, "%.*s", (int)(n - 2), s + 1);
    return 1;
}

/* Evaluate one select expression into *val (NULL = SQL NULL). Returns 0, or -1 if it is not
 * one the admin port knows. buf holds computed text. */
static int eval_expr(const rwp_adm_ctx *ctx, const char *e, const char **val, char *buf, size_t len)
{
    *val = NULL;
    if (e[0] == '@' && e[1] == '@') {
        *val = var_value(e + 2);
        return 0;
    }
    if (is_integer(e)) {
        *val = e;
        return 0;
    }
    if (quoted_literal(e, buf, len)) {
        *val = buf;
        return 0;
    }
    if (!strcasecmp(e, "DATABASE()") || !strcasecmp(e, "SCHEMA()"))
        return 0;
    if (!strcasecmp(e, "VERSION()")) {
        *val = RWP_ADMIN_VERSION;
    } else if (!strcasecmp(e, "CONNECTION_ID()")) {
        snprintf(buf, len, "%llu", (unsigned long long)ctx->conn_id);
        *val = buf;
    } else if (!strcasecmp(e, "USER()") || !strcasecmp(e, "CURRENT_USER()")) {
        snprintf(buf, len, "%s@rwproxy", ctx->user);
        *val = buf;
    }
    return *val ? 0 : -1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Remove a trailing "LIMIT n"; *limit gets n (-1 if there was none). */
static void strip_limit(char *s, long *limit)
{
    *limit = -1;
    char *end = s + strlen(s);
    char *p = end;
    while (p > s && isdigit((unsigned char)p[-1]))
        p--;
    if (p == end || p == s || !isspace((unsigned char)p[-1]))
        return;
    char *q = p;
    while (q > s && isspace((unsigned char)q[-1]))
        q--;
    if (q - s < 6 || strncasecmp(q - 5, "LIMIT", 5) != 0 || !isspace((unsigned char)q[-6]))
        return;
    *limit = strtol(p, NULL, 10);
    q[-5] = '\0';
}

/* Split a select list at top-level commas (outside quotes and parentheses), in place. */
static int split_items(char *s, char **items, int max)
{
    int n = 0, depth = 0;
    char quote = 0;
    items[n++] = s;
    for (char *p = s; *p; p++) {
        if (quote) {
            quote = *p == quote ? 0 : quote;
        } else if (*p == '\'' || *p == '"' || *p == '`') {
            quote = *p;
        } else if (*p == '(' || *p == ')') {
            depth += *p == '(' ? 1 : -1;
        } else if (*p == ',' && depth == 0) {
            if (n == max)
                return -1;
            *p = '\0';
            items[n++] = p + 1;
        }
    }
    return n;
}

/* Split "expr AS alias" (in place): returns the alias without quotes, or NULL. */
static char *split_alias(char *item)
{
    size_t n = strlen(item);
    for (size_t i = n; i >= 4; i--) {
        char *p = item + i - 4;
        if (isspace((unsigned char)p[0]) && strncasecmp(p + 1, "AS", 2) == 0 &&
            isspace((unsigned char)p[3])) {
            *p = '\0';
            char *alias = trim(p + 4);
            size_t an = strlen(alias);
            if (an >= 2 && strchr("`'\"", alias[0]) && alias[an - 1] == alias[0]) {
                alias[an - 1] = '\0';
                alias++;
            }
            return alias;
        }
    }
    return NULL;
}

/* One row of select expressions into a table. list is modified. */
static void select_row(const rwp_adm_ctx *ctx, char *list, long limit, rwp_adm_reply *out)
{
    char *items[MAX_SELECT_ITEMS], *names[MAX_SELECT_ITEMS] = {0};
    const char *vals[MAX_SELECT_ITEMS] = {0};
    char bufs[MAX_SELECT_ITEMS][128];
    int n = split_items(list, items, MAX_SELECT_ITEMS);
    if (n < 0) {
        reply_err(out, ER_PARSE_ERROR, "42000", "too many expressions in SELECT");
        return;
    }
    for (int i = 0; i < n; i++) {
        char *alias = split_alias(items[i]);
        items[i] = trim(items[i]);
        names[i] = alias ? alias : items[i];
        if (!items[i][0] || eval_expr(ctx, items[i], &vals[i], bufs[i], sizeof bufs[i]) != 0) {
            reply_err(out, ER_PARSE_ERROR, "42000",
                      "the admin port answers SELECT of @@variables, literals, VERSION(), "
                      "DATABASE(), CONNECTION_ID() and USER() only; not '%.64s'", items[i]);
            return;
        }
    }
    if (reply_table(out, n, (const char *const *)names) != 0 || limit == 0)
        return;
    long r = rwp_table_add_row(&out->table);
    for (int i = 0; i < n; i++)
        if (vals[i])
            set_str(&out->table, r, i, vals[i]);
}

static void run_select(const rwp_adm_ctx *ctx, char *text, rwp_adm_reply *out)
{
    long limit;
    char *list = trim(text + 6);
    strip_limit(list, &limit);
    list = trim(list);
    if (!list[0]) {
        reply_err(out, ER_PARSE_ERROR, "42000", "SELECT of what?");
        return;
    }
    select_row(ctx, list, limit, out);
}

/* ---------------------------------------------------------------- parsing ---- */

/* Copy the statement without comments (/ * * /, -- and #, outside quotes) into dst (room
 * for len + 1 bytes). Returns -1 if it holds a NUL byte. */
static int strip_comments(const char *src, size_t len, char *dst)
{
    size_t o = 0;
    char quote = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = src[i];
        if (ch == '\0')
            return -1;
        if (quote) {
            quote = ch == quote ? 0 : quote;
        } else if (ch == '\'' || ch == '"' || ch == '`') {
            quote = ch;
        } else if (ch == '/' && i + 1 < len && src[i + 1] == '*') {
            const char *close = memmem(src + i + 2, len - i - 2, "*/", 2);
            i = close ? (size_t)(close - src) + 1 : len;
            ch = ' ';
        } else if (ch == '#' || (ch == '-' && i + 2 < len && src[i + 1] == '-' &&
                                 isspace((unsigned char)src[i + 2]))) {
            while (i + 1 < len && src[i + 1] != '\n')
                i++;
            ch = ' ';
        }
        dst[o++] = ch;
    }
    dst[o] = '\0';
    return 0;
}

/* Trim blanks and trailing ';' in place. */
static char *clean_text(char *s)
{
    s = trim(s);
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ';' || isspace((unsigned char)s[n - 1])))
        s[--n] = '\0';
    return s;
}

/* Remove surrounding quotes or backticks of a word, in place. */
static char *unquote(char *w)
{
    size_t n = strlen(w);
    if (n >= 2 && strchr("`'\"", w[0]) && w[n - 1] == w[0]) {
        w[n - 1] = '\0';
        return w + 1;
    }
    return w;
}

/* Split s at blanks (in place) into words[0..MAX_WORDS); returns the number of words. */
static int split_words(char *s, char **words)
{
    int n = 0;
    char *save = NULL;
    for (char *w = strtok_r(s, " \t\r\n\f\v", &save); w; w = strtok_r(NULL, " \t\r\n\f\v", &save)) {
        if (n < MAX_WORDS)
            words[n] = unquote(w);
        n++;
    }
    return n;
}

/* ---------------------------------------------------------------- dispatch ---- */

/* A command of the table. */
typedef struct {
    const char *keywords; /* e.g. "SHOW SERVERS": matched case-insensitively, word by word */
    int nkeywords;        /* words in keywords */
    int min_args, max_args; /* words allowed after the keywords */
    void (*run)(const rwp_adm_ctx *ctx, rwp_adm_reply *out);                     /* no args */
    void (*run_args)(const rwp_adm_ctx *ctx, const adm_args *a, rwp_adm_reply *out); /* args */
    const char *usage;    /* shown when the words after the keywords are wrong */
} adm_command;

static void accept_set(const rwp_adm_ctx *ctx, const adm_args *a, rwp_adm_reply *out)
{
    (void)ctx, (void)a;
    reply_ok(out, "%s", "");
}

static void accept_use(const rwp_adm_ctx *ctx, const adm_args *a, rwp_adm_reply *out)
{
    (void)ctx, (void)a;
    reply_ok(out, "%s", "");
}

static const adm_command COMMANDS[] = {
    {"SHOW SERVERS", 2, 0, 0, show_servers, NULL, "SHOW SERVERS"},
    {"SHOW POOLS", 2, 0, 0, show_pools, NULL, "SHOW POOLS"},
    {"SHOW SESSIONS", 2, 0, 0, show_sessions, NULL, "SHOW SESSIONS"},
    {"SHOW STATS", 2, 0, 0, show_stats, NULL, "SHOW STATS"},
    {"SHOW DIGESTS", 2, 0, 0, show_digests, NULL, "SHOW DIGESTS"},
    {"SHOW RULES", 2, 0, 0, show_rules, NULL, "SHOW RULES"},
    {"SHOW EVENTS", 2, 0, 0, show_events, NULL, "SHOW EVENTS"},
    {"SHOW CONFIG", 2, 0, 0, show_config, NULL, "SHOW CONFIG"},
    {"RESET DIGESTS", 2, 0, 0, reset_digests, NULL, "RESET DIGESTS"},
    {"SET SERVER", 2, 2, 2, NULL, set_server, "SET SERVER name MAINTENANCE | ONLINE"},
    {"SET", 1, 0, INT_MAX, NULL, accept_set, "SET ..."},
    {"USE", 1, 1, 1, NULL, accept_use, "USE schema"},
    {"SWITCHOVER", 1, 0, 2, NULL, switchover, "SWITCHOVER [TO name]"},
    {"FAILOVER", 1, 0, 0, failover, NULL, "FAILOVER"},
    {"RELOAD", 1, 0, 0, reload, NULL, "RELOAD"},
    {"KILL SESSION", 2, 1, 1, NULL, kill_session, "KILL SESSION id"},
};

#define HELP_TEXT                                                                              \
    "the admin commands are SHOW SERVERS | POOLS | SESSIONS | STATS | DIGESTS | RULES | EVENTS " \
    "| CONFIG, RESET DIGESTS, SET SERVER name MAINTENANCE | ONLINE, SWITCHOVER [TO name], "     \
    "FAILOVER, RELOAD, KILL SESSION id (docs/admin.md)"

/* Do the first words match the command's keywords? */
static int keywords_match(const adm_command *c, char **words, int nwords)
{
    char kw[64];
    char *save = NULL;
    int i = 0;
    if (nwords < c->nkeywords)
        return 0;
    snprintf(kw, sizeof kw, "%s", c->keywords);
    for (char *k = strtok_r(kw, " ", &save); k; k = strtok_r(NULL, " ", &save), i++)
        if (strcasecmp(k, words[i]) != 0)
            return 0;
    return 1;
}

static void run_command(const rwp_adm_ctx *ctx, const adm_command *c, char **words, int nwords,
                        rwp_adm_reply *out)
{
    int nargs = nwords - c->nkeywords;
    if (nargs < c->min_args || nargs > c->max_args) {
        reply_err(out, ER_PARSE_ERROR, "42000", "usage: %s", c->usage);
        return;
    }
    /* words beyond MAX_WORDS are counted, not kept (only SET takes that many, and ignores them) */
    adm_args a = {words + c->nkeywords, nwords > MAX_WORDS ? MAX_WORDS - c->nkeywords : nargs};
    if (c->run)
        c->run(ctx, out);
    else
        c->run_args(ctx, &a, out);
}

static void dispatch(const rwp_adm_ctx *ctx, char *text, rwp_adm_reply *out)
{
    char *words[MAX_WORDS];
    char shown[80];
    snprintf(shown, sizeof shown, "%s", text);
    if (strncasecmp(text, "SELECT", 6) == 0 && (isspace((unsigned char)text[6]) || !text[6])) {
        run_select(ctx, text, out);
        return;
    }
    int n = split_words(text, words);
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
        if (keywords_match(&COMMANDS[i], words, n < MAX_WORDS ? n : MAX_WORDS)) {
            run_command(ctx, &COMMANDS[i], words, n, out);
            return;
        }
    }
    reply_err(out, ER_PARSE_ERROR, "42000", "unknown admin command '%s'; " HELP_TEXT, shown);
}

void rwp_adm_execute(const rwp_adm_ctx *ctx, const char *sql, size_t len, rwp_adm_reply *out)
{
    memset(out, 0, sizeof *out);
    char *text = malloc(len + 1);
    if (!text) {
        reply_err(out, ER_UNKNOWN_ERROR, "HY000", "rwproxy admin: out of memory");
        return;
    }
    if (strip_comments(sql, len, text) != 0) {
        reply_err(out, ER_PARSE_ERROR, "42000", "the command holds a NUL byte");
    } else {
        char *s = clean_text(text);
        if (!s[0])
            reply_err(out, ER_EMPTY_QUERY, "42000", "Query was empty");
        else
            dispatch(ctx, s, out);
    }
    free(text);
}
