/*
 * proxy/stats.c — what the admin port and /metrics read from the workers (see stats.h).
 * Each function runs on the caller's (admin or metrics) thread and visits every worker
 * with rwp_worker_call: the visit runs on the worker's own loop, so it reads the worker's
 * counters, clients and digests without locks while the caller waits (bounded). A worker
 * that is shutting down is skipped.
 */
#include "proxy/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/mysql_const.h"
#include "protocol/walker.h"
#include "proxy/client.h"
#include "proxy/kill.h"
#include "proxy/worker.h"

#define STATS_CALL_TIMEOUT_MS 2000 /* longest wait for one worker's answer */
#define STATEMENT_SHOWN 100        /* bytes of the statement SHOW SESSIONS shows */

_Static_assert(sizeof(((rwp_server_totals *)0)->latency_buckets) ==
                   sizeof(((rwp_server_stats *)0)->latency_buckets),
               "stats.h and worker.h histogram sizes differ");

/* Visit every worker; 0 if at least one answered (or there are none), else -1 + err. */
static int visit_workers(rwp_proxy *p, void (*fn)(rwp_worker *, void *), void *arg, char *err,
                         size_t cap)
{
    int answered = 0;
    for (int i = 0; i < p->nworkers; i++)
        if (rwp_worker_call(&p->workers[i], fn, arg, STATS_CALL_TIMEOUT_MS) == 0)
            answered++;
    if (answered == 0 && p->nworkers > 0) {
        snprintf(err, cap, "no worker answered (shutting down?)");
        return -1;
    }
    return 0;
}

/* Backend connections of w per server: held by a session now / idle in the pool. */
static void count_backends(rwp_worker *w, uint64_t *in_use, uint64_t *idle, int n)
{
    for (rwp_client *c = w->clients; c; c = c->next) {
        for (int i = 0; i < c->nservers && i < n; i++) {
            rwp_backend *be = c->bes ? c->bes[i] : NULL;
            if (be && be->state != BE_CLOSING)
                in_use[i]++;
        }
    }
    for (int i = 0; i < n && i < w->pool.nservers; i++)
        idle[i] += (uint64_t)w->pool.srv[i].nidle;
}

/* ---- SHOW SERVERS, /metrics ---- */

typedef struct {
    rwp_server_totals *totals; /* the caller's array */
    int n;                     /* its entries */
    uint64_t *in_use, *idle;   /* scratch, n each */
} servers_visit;

static void visit_servers(rwp_worker *w, void *arg)
{
    servers_visit *v = arg;
    int n = v->n < w->cfg->nservers ? v->n : w->cfg->nservers;
    memset(v->in_use, 0, (size_t)v->n * sizeof *v->in_use);
    memset(v->idle, 0, (size_t)v->n * sizeof *v->idle);
    count_backends(w, v->in_use, v->idle, n);
    for (int i = 0; i < n; i++) {
        const rwp_server_stats *s = &w->server_stats[i];
        rwp_server_totals *t = &v->totals[i];
        t->conns_in_use += v->in_use[i];
        t->conns_idle += v->idle[i];
        if (i < w->pool.nservers) {
            const rwp_pool_server *ps = &w->pool.srv[i];
            t->pool_reused += ps->stats.reused;
            t->pool_reset += ps->stats.reset;
            t->pool_waiting += (uint64_t)ps->nwait;
            t->pool_wait_timeouts += ps->stats.wait_timeouts;
        }
        t->queries += s->queries;
        t->reads += s->on_replica;
        t->errors += s->errors;
        t->latency_us_total += s->latency_us_total;
        t->latency_count += s->latency_count;
        for (int b = 0; b < RWP_LAT_BUCKETS; b++)
            t->latency_buckets[b] += s->latency_buckets[b];
    }
}

int rwp_stats_servers(rwp_proxy *p, rwp_server_totals *totals, int nservers, char *err, size_t cap)
{
    if (nservers <= 0)
        return 0;
    memset(totals, 0, (size_t)nservers * sizeof *totals);
    servers_visit v = {totals, nservers, calloc((size_t)nservers, sizeof(uint64_t)),
                       calloc((size_t)nservers, sizeof(uint64_t))};
    int rc = -1;
    if (!v.in_use || !v.idle)
        snprintf(err, cap, "out of memory");
    else
        rc = visit_workers(p, visit_servers, &v, err, cap);
    free(v.in_use);
    free(v.idle);
    return rc;
}

/* ---- SHOW POOLS ---- */

typedef struct {
    rwp_table *out; /* rows appended by each worker */
} table_visit;

static void visit_pools(rwp_worker *w, void *arg)
{
    table_visit *v = arg;
    int n = w->cfg->nservers;
    uint64_t *in_use = calloc((size_t)n + 1, sizeof *in_use);
    uint64_t *idle = calloc((size_t)n + 1, sizeof *idle);
    if (!in_use || !idle) {
        v->out->oom = 1;
    } else {
        count_backends(w, in_use, idle, n);
        for (int i = 0; i < n; i++) {
            if (w->cfg->servers[i].removed)
                continue; /* a reload removed it: not listed */
            long r = rwp_table_add_row(v->out);
            if (r < 0)
                break;
            const rwp_server_stats *s = &w->server_stats[i];
            rwp_table_setf(v->out, r, 0, "%d", w->index);
            rwp_table_setf(v->out, r, 1, "%s", w->cfg->servers[i].name);
            rwp_table_setf(v->out, r, 2, "%llu", (unsigned long long)in_use[i]);
            rwp_table_setf(v->out, r, 3, "%llu", (unsigned long long)idle[i]);
            rwp_table_setf(v->out, r, 4, "%llu", (unsigned long long)s->be_opened);
            rwp_table_setf(v->out, r, 5, "%llu", (unsigned long long)s->be_failed);
            static const rwp_pool_server none;
            const rwp_pool_server *ps = i < w->pool.nservers ? &w->pool.srv[i] : &none;
            rwp_table_setf(v->out, r, 6, "%d", ps->nwait);
            rwp_table_setf(v->out, r, 7, "%llu", (unsigned long long)ps->stats.reused);
            rwp_table_setf(v->out, r, 8, "%llu", (unsigned long long)ps->stats.reset);
            rwp_table_setf(v->out, r, 9, "%llu", (unsigned long long)ps->stats.released);
            rwp_table_setf(v->out, r, 10, "%llu", (unsigned long long)ps->stats.expired);
            rwp_table_setf(v->out, r, 11, "%llu", (unsigned long long)ps->stats.wait_timeouts);
        }
    }
    free(in_use);
    free(idle);
}

int rwp_stats_pools(rwp_proxy *p, rwp_table *out, char *err, size_t cap)
{
    static const char *const cols[] = {"worker", "server", "in_use", "idle", "opened", "failed",
                                       "waiting", "reused", "reset", "released", "expired",
                                       "wait_timeouts"};
    if (rwp_table_init(out, 12, cols) != 0) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    table_visit v = {out};
    return visit_workers(p, visit_pools, &v, err, cap);
}

/* ---- SHOW SESSIONS ---- */

static const char *session_state(const rwp_client *c)
{
    switch (c->state) {
    case CL_HANDSHAKE:
    case CL_AUTH_SWITCH:
    case CL_CONNECTING:
        return "login";
    case CL_IDLE:
        return c->sess.in_trx ? "in transaction" : "idle";
    case CL_COMMAND:
        return c->cur.waiting ? "held" : "query";
    default:
        return "closing";
    }
}

/* The command in flight as text (first STATEMENT_SHOWN bytes, printable, whole UTF-8). */
static void session_statement(const rwp_client *c, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (c->state != CL_COMMAND)
        return;
    const uint8_t *sql = NULL;
    size_t len = 0;
    if (c->cur.cmd == COM_QUERY && c->cur.len > PROTO_HDR_LEN + 1) {
        sql = rwp_inbuf_head(&c->in) + PROTO_HDR_LEN + 1;
        len = c->cur.len - PROTO_HDR_LEN - 1;
    } else if ((c->cur.cmd == COM_STMT_EXECUTE || c->cur.cmd == COM_STMT_PREPARE) && c->cur.stmt) {
        sql = (const uint8_t *)c->cur.stmt->sql;
        len = c->cur.stmt->sql_len;
    } else {
        snprintf(buf, cap, "%s", proto_command_name(c->cur.cmd));
        return;
    }
    size_t full = len;
    if (len > STATEMENT_SHOWN)
        len = STATEMENT_SHOWN;
    if (len >= cap)
        len = cap - 1;
    while (len > 0 && len < full && (sql[len] & 0xC0) == 0x80)
        len--; /* do not cut a UTF-8 character */
    for (size_t i = 0; i < len; i++)
        buf[i] = sql[i] < 0x20 || sql[i] == 0x7f ? ' ' : (char)sql[i];
    buf[len] = '\0';
}

static void visit_sessions(rwp_worker *w, void *arg)
{
    table_visit *v = arg;
    uint64_t now = uv_now(&w->loop);
    for (rwp_client *c = w->clients; c; c = c->next) {
        long r = rwp_table_add_row(v->out);
        if (r < 0)
            return;
        char backends[512] = "", stmt[STATEMENT_SHOWN + 1];
        size_t off = 0;
        for (int i = 0; i < c->nservers && c->bes; i++) {
            if (!c->bes[i] || off >= sizeof backends)
                continue;
            int k = snprintf(backends + off, sizeof backends - off, "%s%s", off ? "," : "",
                             w->cfg->servers[i].name);
            off += k > 0 ? (size_t)k : 0;
        }
        session_statement(c, stmt, sizeof stmt);
        rwp_table_setf(v->out, r, 0, "%llu", (unsigned long long)c->id);
        rwp_table_setf(v->out, r, 1, "%s", c->user);
        rwp_table_setf(v->out, r, 2, "%s", c->peer);
        rwp_table_setf(v->out, r, 3, "%s", c->cur_db);
        rwp_table_setf(v->out, r, 4, "%s", session_state(c));
        rwp_table_setf(v->out, r, 5, "%s", backends);
        rwp_table_setf(v->out, r, 6, "%s", stmt);
        rwp_table_setf(v->out, r, 7, "%llu",
                       (unsigned long long)(now > c->accepted_ms ? (now - c->accepted_ms) / 1000 : 0));
    }
}

int rwp_stats_sessions(rwp_proxy *p, rwp_table *out, char *err, size_t cap)
{
    static const char *const cols[] = {"id",       "user",      "client", "schema",
                                       "state",    "backends",  "statement", "age_s"};
    if (rwp_table_init(out, 8, cols) != 0) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    table_visit v = {out};
    return visit_workers(p, visit_sessions, &v, err, cap);
}

/* ---- SHOW STATS ---- */

typedef struct {
    rwp_worker_stats sum;     /* worker counters summed */
    uint64_t queries_master;  /* commands sent to a session's master */
    uint64_t queries_replica; /* commands sent elsewhere */
} global_visit;

static void visit_global(rwp_worker *w, void *arg)
{
    global_visit *v = arg;
    const rwp_worker_stats *s = &w->stats;
    rwp_worker_stats *t = &v->sum;
    t->accepted += s->accepted;
    t->refused += s->refused;
    t->auth_failed += s->auth_failed;
    t->queries += s->queries;
    t->backend_connects += s->backend_connects;
    t->backend_failures += s->backend_failures;
    t->writes_held += s->writes_held;
    t->held_timeouts += s->held_timeouts;
    t->reads_retried += s->reads_retried;
    t->sessions_lost += s->sessions_lost;
    t->bytes_in += s->bytes_in;
    t->bytes_out += s->bytes_out;
    t->kills += s->kills;
    for (int i = 0; i < w->cfg->nservers; i++) {
        v->queries_master += w->server_stats[i].queries - w->server_stats[i].on_replica;
        v->queries_replica += w->server_stats[i].on_replica;
    }
}

static void stat_row(rwp_table *t, const char *name, uint64_t value)
{
    long r = rwp_table_add_row(t);
    rwp_table_setf(t, r, 0, "%s", name);
    rwp_table_setf(t, r, 1, "%llu", (unsigned long long)value);
}

int rwp_stats_global(rwp_proxy *p, rwp_table *out, char *err, size_t cap)
{
    static const char *const cols[] = {"name", "value"};
    if (rwp_table_init(out, 2, cols) != 0) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    global_visit v;
    memset(&v, 0, sizeof v);
    if (visit_workers(p, visit_global, &v, err, cap) != 0)
        return -1;
    uint64_t start = p->nworkers > 0 ? p->workers[0].start_ns : 0;
    rwp_topology *topo = rwp_topo_acquire(&p->topo);
    stat_row(out, "uptime_s", start ? (uv_hrtime() - start) / 1000000000ull : 0);
    stat_row(out, "connections_accepted", v.sum.accepted);
    stat_row(out, "connections_refused", v.sum.refused);
    stat_row(out, "connections_current", atomic_load(&p->nclients));
    stat_row(out, "auth_failed", v.sum.auth_failed);
    stat_row(out, "queries", v.sum.queries);
    stat_row(out, "queries_master", v.queries_master);
    stat_row(out, "queries_replica", v.queries_replica);
    stat_row(out, "reads_retried", v.sum.reads_retried);
    stat_row(out, "writes_held", v.sum.writes_held);
    stat_row(out, "writes_held_timeout", v.sum.held_timeouts);
    stat_row(out, "sessions_lost", v.sum.sessions_lost);
    stat_row(out, "bytes_in", v.sum.bytes_in);
    stat_row(out, "bytes_out", v.sum.bytes_out);
    stat_row(out, "backend_connects", v.sum.backend_connects);
    stat_row(out, "backend_failures", v.sum.backend_failures);
    /* failovers, switchovers and rejoins are the monitor's: the admin port fills them in */
    stat_row(out, "failovers", topo ? topo->failovers : 0);
    long r = rwp_table_add_row(out);
    rwp_table_setf(out, r, 0, "switchovers");
    r = rwp_table_add_row(out);
    rwp_table_setf(out, r, 0, "rejoins");
    stat_row(out, "kills", v.sum.kills);
    rwp_topo_release(topo);
    return 0;
}

/* ---- SHOW DIGESTS, RESET DIGESTS ---- */

typedef struct {
    rwp_digests merged; /* every worker's entries, summed by digest */
} digests_visit;

static void visit_digests(rwp_worker *w, void *arg)
{
    digests_visit *v = arg;
    for (size_t i = 0; i < w->digests.nslots; i++)
        if (w->digests.slots[i].hash)
            rwp_digests_merge(&v->merged, &w->digests.slots[i]);
    v->merged.dropped += w->digests.dropped;
}

static int by_total_desc(const void *a, const void *b)
{
    const rwp_digest_entry *x = *(rwp_digest_entry *const *)a, *y = *(rwp_digest_entry *const *)b;
    return x->total_us < y->total_us ? 1 : x->total_us > y->total_us ? -1 : strcmp(x->text, y->text);
}

int rwp_stats_digests(rwp_proxy *p, rwp_table *out, char *err, size_t cap)
{
    static const char *const cols[] = {"digest", "count", "total_ms", "min_ms",
                                       "max_ms", "rows",  "master",   "replica"};
    if (rwp_table_init(out, 8, cols) != 0) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    digests_visit v;
    /* room for every worker's maximum: nothing is lost in the merge */
    rwp_digests_init(&v.merged, RWP_DIGESTS_MAX * (size_t)(p->nworkers > 0 ? p->nworkers : 1));
    int rc = visit_workers(p, visit_digests, &v, err, cap);
    rwp_digest_entry **list = rc == 0 ? calloc(v.merged.used + 1, sizeof *list) : NULL;
    size_t n = 0;
    if (rc == 0 && !list) {
        snprintf(err, cap, "out of memory");
        rc = -1;
    }
    for (size_t i = 0; list && i < v.merged.nslots; i++)
        if (v.merged.slots[i].hash)
            list[n++] = &v.merged.slots[i];
    if (list)
        qsort(list, n, sizeof *list, by_total_desc);
    for (size_t i = 0; i < n; i++) {
        const rwp_digest_entry *e = list[i];
        long r = rwp_table_add_row(out);
        if (r < 0)
            break;
        rwp_table_setf(out, r, 0, "%s", e->text);
        rwp_table_setf(out, r, 1, "%llu", (unsigned long long)e->count);
        rwp_table_setf(out, r, 2, "%.3f", e->total_us / 1000.0);
        rwp_table_setf(out, r, 3, "%.3f", e->min_us / 1000.0);
        rwp_table_setf(out, r, 4, "%.3f", e->max_us / 1000.0);
        rwp_table_setf(out, r, 5, "%llu", (unsigned long long)e->rows);
        rwp_table_setf(out, r, 6, "%llu", (unsigned long long)e->master);
        rwp_table_setf(out, r, 7, "%llu", (unsigned long long)e->replica);
    }
    free(list);
    rwp_digests_free(&v.merged);
    return rc;
}

static void visit_reset_digests(rwp_worker *w, void *arg)
{
    (void)arg;
    rwp_digests_reset(&w->digests);
}

int rwp_stats_reset_digests(rwp_proxy *p, char *err, size_t cap)
{
    return visit_workers(p, visit_reset_digests, NULL, err, cap);
}

/* ---- KILL SESSION, SHOW RULES ---- */

int rwp_stats_kill_session(rwp_proxy *p, uint64_t id, char *err, size_t cap)
{
    int rc = rwp_kill_session_now(p, id, STATS_CALL_TIMEOUT_MS);
    if (rc == -1)
        snprintf(err, cap, "Unknown session id: %llu", (unsigned long long)id);
    else if (rc != 0)
        snprintf(err, cap, "session %llu: its worker is shutting down", (unsigned long long)id);
    return rc == 0 ? 0 : -1;
}

typedef struct {
    uint64_t *hits; /* the caller's array */
    int n;          /* its entries */
} rules_visit;

static void visit_rules(rwp_worker *w, void *arg)
{
    rules_visit *v = arg;
    int n = v->n < w->cfg->nrules ? v->n : w->cfg->nrules;
    for (int i = 0; i < n && w->rule_hits; i++)
        v->hits[i] += w->rule_hits[i];
}

int rwp_stats_rule_hits(rwp_proxy *p, uint64_t *hits, int n, char *err, size_t cap)
{
    if (n <= 0)
        return 0;
    memset(hits, 0, (size_t)n * sizeof *hits);
    rules_visit v = {hits, n};
    return visit_workers(p, visit_rules, &v, err, cap);
}
