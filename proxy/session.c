/*
 * proxy/session.c — where each client command goes and how it gets there. Owns the
 * routing of a session: classification (router/classify), the session state machine
 * (router/session), the choice of a replica (balance, weights, per-server limits, servers
 * that failed for this session), lazily opened backend connections brought up to date by
 * replaying the session history, prepared statements mapped to per-backend ids and
 * prepared lazily where they execute, and what an answer changes in the session.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "protocol/mysql_const.h"
#include "protocol/packet.h"
#include "protocol/response.h"
#include "proxy/client.h"
#include "proxy/kill.h"
#include "proxy/log.h"
#include "proxy/pool.h"
#include "proxy/stats.h"
#include "proxy/worker.h"

#define SLOG(lvl, c, be, ...)                                                               \
    do {                                                                                   \
        rwp_log_ctx ctx_ = {(c)->id, (c)->user, (be) ? (be)->name : NULL, (c)->peer};      \
        LOG_AT(lvl, &ctx_, __VA_ARGS__);                                                   \
    } while (0)

/* ---- life cycle ---- */

void rwp_session_init(rwp_client *c, int nservers)
{
    c->nservers = nservers;
    c->bes = calloc((size_t)nservers, sizeof *c->bes);
    c->srv_failed = calloc((size_t)nservers, 1);
    c->master = -1;
    c->prev_server = -1;
    c->last_replica = -1;
    c->trx_replica = -1;
    c->cur.target = -1;
    c->pool_wait_server = -1;
    rwr_session_init(&c->sess);
    c->track_gtid = c->worker->cfg->consistency != RWP_CONSISTENCY_EVENTUAL;
}

/* Grow *arr from old to n elements of elem bytes, the new tail zeroed. 0, or -1 (then *arr
 * is unchanged). */
static int grow_zeroed(void **arr, size_t old, size_t n, size_t elem)
{
    uint8_t *p = realloc(*arr, n * elem);
    if (!p)
        return -1;
    memset(p + old * elem, 0, (n - old) * elem);
    *arr = p;
    return 0;
}

/* A reload added server slots: grow the session's per-server arrays (and each statement's)
 * to n, the new tail zeroed. On failure the session keeps its slots and, for now, does not
 * use the new servers (every index is checked against c->nservers). */
static void session_grow(rwp_client *c, int n)
{
    size_t old = (size_t)c->nservers, want = (size_t)n;
    int ok = grow_zeroed((void **)&c->bes, old, want, sizeof *c->bes) == 0 &&
             grow_zeroed((void **)&c->srv_failed, old, want, 1) == 0;
    for (rwp_stmt *st = c->stmts; st && ok; st = st->next)
        ok = grow_zeroed((void **)&st->be_id, old, want, sizeof *st->be_id) == 0 &&
             grow_zeroed((void **)&st->be_typed, old, want, 1) == 0;
    if (ok)
        c->nservers = n;
}

/* Did a reload remove server i? (Its slot stays; sessions let go of their connection to it.) */
static int server_removed(const rwp_client *c, int i)
{
    return rwp_worker_server_removed(c->worker, c->worker->topo, i);
}

static void drop_backend(rwp_client *c, int idx);

/* Close the session's connections to servers a reload removed once nothing needs them: not
 * the statement running on one, a transaction on it or an internal step; the statements
 * prepared there are prepared again where they run next. */
static void drop_removed_backends(rwp_client *c)
{
    for (int i = 0; i < c->nservers; i++) {
        const rwp_backend *be = c->bes[i];
        if (!be || !server_removed(c, i) || i == c->master || i == c->trx_replica ||
            be->state != BE_IDLE || be->internal)
            continue;
        if (c->state == CL_COMMAND && c->cur.target == i)
            continue;
        drop_backend(c, i);
    }
}

static void stmt_free(rwp_stmt *s)
{
    free(s->digest);
    free(s->sql);
    free(s->types);
    free(s->be_id);
    free(s->be_typed);
    free(s);
}

static void free_stmts(rwp_client *c)
{
    rwp_stmt *s = c->stmts;
    while (s) {
        rwp_stmt *next = s->next;
        stmt_free(s);
        s = next;
    }
    c->stmts = NULL;
    c->last_prepared = 0;
}

void rwp_session_free(rwp_client *c)
{
    rwp_pool_unwait(&c->worker->pool, c);
    for (int i = 0; i < c->nrw; i++)
        free(c->rw[i].pkt);
    c->nrw = 0;
    free_stmts(c);
    rwr_session_free(&c->sess);
    free(c->bes);
    free(c->srv_failed);
    c->bes = NULL;
    c->srv_failed = NULL;
    c->nservers = 0;
}

void rwp_session_reset(rwp_client *c, int keep_master)
{
    for (int i = 0; i < c->nservers; i++) {
        if (c->bes[i] && !(keep_master && i == c->master)) {
            rwp_backend_close(c->bes[i]);
            c->bes[i] = NULL;
        }
        c->srv_failed[i] = 0;
    }
    if (keep_master && c->master >= 0 && c->bes[c->master])
        c->bes[c->master]->replayed = 0;
    free_stmts(c);
    rwr_session_reset(&c->sess);
    c->prev_server = -1;
    c->trx_replica = -1;
}

/* ---- prepared statements ---- */

static rwp_stmt *stmt_find(rwp_client *c, uint32_t id)
{
    if (id == STMT_ID_LAST_PREPARED)
        id = c->last_prepared;
    for (rwp_stmt *s = c->stmts; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

static void stmt_unlink(rwp_client *c, rwp_stmt *st)
{
    for (rwp_stmt **pp = &c->stmts; *pp; pp = &(*pp)->next) {
        if (*pp == st) {
            *pp = st->next;
            return;
        }
    }
}

/* A backend connection is gone: the statements prepared on it are too. */
static void stmts_forget_server(rwp_client *c, int idx)
{
    for (rwp_stmt *s = c->stmts; s; s = s->next) {
        s->be_id[idx] = 0;
        s->be_typed[idx] = 0;
        if (s->exec_server == idx)
            s->exec_server = -1;
    }
}

/* Register a statement the client prepared (on server idx, which answered with
 * cur.prepared_id; the client was given cur.client_stmt_id). */
static void stmt_register(rwp_client *c, int idx, const uint8_t *sql, size_t sql_len)
{
    rwp_stmt *s = calloc(1, sizeof *s);
    if (!s)
        return;
    s->be_id = calloc((size_t)c->nservers, sizeof *s->be_id);
    s->be_typed = calloc((size_t)c->nservers, 1);
    s->sql = malloc(sql_len ? sql_len : 1);
    if (!s->be_id || !s->be_typed || !s->sql) {
        stmt_free(s);
        return;
    }
    memcpy(s->sql, sql, sql_len);
    s->sql_len = sql_len;
    s->id = c->cur.client_stmt_id;
    s->dec = c->cur.dec;
    s->nparams = c->cur.prepared_params;
    s->be_id[idx] = c->cur.prepared_id;
    s->exec_server = -1;
    s->next = c->stmts;
    c->stmts = s;
    c->last_prepared = s->id;
}

/* The id the client gets for a statement the server numbered server_id: the same number
 * unless a statement of the session already has it (the master moved since, and the new
 * one counts from 1 again) — then the next free one. */
static uint32_t client_stmt_id(rwp_client *c, uint32_t server_id)
{
    uint32_t id = server_id;
    while (id == 0 || id == STMT_ID_LAST_PREPARED || stmt_find(c, id))
        id++;
    return id;
}

/* Give the client its id in the prepare-OK being relayed (a replacement packet). Returns 0,
 * or -1 if the packet is not whole in this read (the session cannot go on consistently). */
static int rewrite_prepare_ok(rwp_client *c, const proto_walk_event *ev, uint32_t id)
{
    size_t wire = PROTO_HDR_LEN + (size_t)ev->payload_len;
    if (ev->end_off < wire || ev->captured < ev->payload_len || c->nrw == RWP_MAX_REWRITES)
        return -1;
    uint8_t *pkt = malloc(wire);
    if (!pkt)
        return -1;
    proto_hdr_write(pkt, ev->payload_len, ev->seq);
    memcpy(pkt + PROTO_HDR_LEN, ev->payload, ev->payload_len);
    proto_put_u32(pkt + PROTO_HDR_LEN + 1, id);
    rwp_rewrite *r = &c->rw[c->nrw++];
    r->start = ev->end_off - wire;
    r->end = ev->end_off;
    r->pkt = pkt;
    r->len = wire;
    return 0;
}

/* Does the command in flight need its statement prepared on server idx first? */
static int stmt_needs_prepare(const rwp_client *c, int idx)
{
    const rwp_stmt *s = c->cur.stmt;
    return s && c->cur.cmd != COM_STMT_CLOSE && s->be_id[idx] == 0;
}

static int follow_writer(rwp_client *c);
static int master_usable(const rwp_client *c);
static void hold_command(rwp_client *c);

/* ---- choosing a server ---- */

static uint64_t next_random(rwp_worker *w)
{
    uint64_t x = w->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    w->rng = x;
    return x;
}

/* May server i serve reads for this session now? With cur.require_caught_up set, only
 * replicas known to have reached the causal position qualify. */
static int replica_usable(const rwp_client *c, const rwp_topology *t, int i)
{
    if (c->cur.require_caught_up && !rwr_gtid_reached(&c->worker->known[i], &c->cur.want))
        return 0;
    if ((c->cur.causal_tried >> i) & 1)
        return 0;
    const rwp_config *cfg = c->worker->cfg;
    if (i == t->writer || i == c->master || !t->servers[i].readable || c->srv_failed[i])
        return 0;
    if (cfg->servers[i].weight <= 0 || cfg->servers[i].removed)
        return 0;
    /* at its max_connections: without multiplexing, new sessions read elsewhere; with it, a
     * statement waits for one of the server's connections to come free */
    int max = cfg->servers[i].max_connections;
    if (max > 0 && !cfg->pool_multiplex && !c->bes[i] &&
        atomic_load(&c->worker->proxy->server_conns[i]) >= max)
        return 0;
    return 1;
}

/* least_connections: keep the replica the session already uses; else the one with the
 * fewest connections per unit of weight. */
static int pick_least_connections(rwp_client *c, const rwp_topology *t)
{
    const rwp_config *cfg = c->worker->cfg;
    int best = -1;
    long best_conns = 0, best_weight = 1;
    int n = t->nservers < c->nservers ? t->nservers : c->nservers;
    uint32_t start = c->worker->rr_next++; /* ties go round the replicas */
    for (int k = 0; k < n; k++) {
        int i = (int)((start + (uint32_t)k) % (uint32_t)n);
        if (!replica_usable(c, t, i))
            continue;
        if (c->bes[i] || i == c->last_replica)
            return i;
        long conns = atomic_load(&c->worker->proxy->server_conns[i]);
        long weight = cfg->servers[i].weight;
        if (best < 0 || conns * best_weight < best_conns * weight) {
            best = i;
            best_conns = conns;
            best_weight = weight;
        }
    }
    return best;
}

static int pick_round_robin(rwp_client *c, const rwp_topology *t)
{
    int n = t->nservers < c->nservers ? t->nservers : c->nservers;
    for (int k = 0; k < n; k++) {
        int i = (int)((c->worker->rr_next + (uint32_t)k) % (uint32_t)n);
        if (replica_usable(c, t, i)) {
            c->worker->rr_next = (uint32_t)i + 1;
            return i;
        }
    }
    return -1;
}

static int pick_weighted(rwp_client *c, const rwp_topology *t)
{
    const rwp_config *cfg = c->worker->cfg;
    long total = 0;
    int n = t->nservers < c->nservers ? t->nservers : c->nservers;
    for (int i = 0; i < n; i++)
        if (replica_usable(c, t, i))
            total += cfg->servers[i].weight;
    if (total <= 0)
        return -1;
    long r = (long)(next_random(c->worker) % (uint64_t)total);
    for (int i = 0; i < n; i++) {
        if (!replica_usable(c, t, i))
            continue;
        r -= cfg->servers[i].weight;
        if (r < 0)
            return i;
    }
    return -1;
}

static int pick_by_balance(rwp_client *c, const rwp_topology *t)
{
    switch (c->worker->cfg->balance) {
    case RWP_BALANCE_ROUND_ROBIN:
        return pick_round_robin(c, t);
    case RWP_BALANCE_WEIGHTED:
        return pick_weighted(c, t);
    default:
        return pick_least_connections(c, t);
    }
}

static void causal_position(rwp_client *c, rwr_gtid_pos *want);

/* A replica for a read, or -1 if none is usable: among those known to have reached the
 * session's causal position if there are any (no wait needed), else among all. */
static int pick_replica(rwp_client *c)
{
    const rwp_topology *t = c->worker->topo;
    if (!t)
        return -1;
    if (!c->cur.causal_checked) {
        causal_position(c, &c->cur.want);
        c->cur.want_known = 1;
    }
    int idx = -1;
    if (c->cur.want.n > 0) {
        c->cur.require_caught_up = 1;
        idx = pick_by_balance(c, t);
        c->cur.require_caught_up = 0;
    }
    if (idx < 0)
        idx = pick_by_balance(c, t);
    return idx;
}

/* The server a hint or rule names, if it is up. */
static int named_server(rwp_client *c, const char *name)
{
    const rwp_config *cfg = c->worker->cfg;
    const rwp_server_cfg *s = rwp_config_find_server(cfg, name);
    if (!s)
        return -1;
    int idx = (int)(s - cfg->servers);
    const rwp_topology *t = c->worker->topo;
    int up = t && idx < t->nservers && !c->srv_failed[idx] &&
             (t->servers[idx].health == SRV_UP || t->servers[idx].health == SRV_LAGGING);
    return up ? idx : -1;
}

/* A connection taken from the pool becomes the session's connection to server idx. */
static void hold_pooled(rwp_client *c, int idx, rwp_backend *be)
{
    rwp_backend_adopt(be, &rwp_client_backend_ops, c, c->id, c->user);
    be->last_owner = c->id;
    c->bes[idx] = be;
}

/* The connection that ran the previous statement went back to the pool: take it again if
 * no other session has used it since. Returns 1 if c->bes[idx] is that connection. */
static int reclaim_previous(rwp_client *c, int idx)
{
    rwp_backend *be = rwp_pool_reclaim(&c->worker->pool, idx, c->id, c->prev_lease);
    SLOG(RWP_LOGL_DEBUG, c, be, "reclaim %d lease %llu: %s", idx, (unsigned long long)c->prev_lease, be ? "yes" : "no");
    if (!be)
        return 0;
    hold_pooled(c, idx, be);
    be->replayed = be->st_n <= c->sess.nhist ? be->st_n : c->sess.nhist;
    return 1;
}

/* Turn a routing destination into a server index (falling back to the master). */
static int resolve_target(rwp_client *c, rwr_dest dest)
{
    int idx = -1;
    switch (dest) {
    case RWR_DEST_REPLICA:
        idx = pick_replica(c);
        if (idx < 0)
            c->cur.reason = "no usable replica";
        break;
    case RWR_DEST_TRX_REPLICA:
        idx = c->trx_replica;
        break;
    case RWR_DEST_SERVER:
        idx = named_server(c, c->cur.dec.server);
        if (idx < 0)
            c->cur.reason = "named server unknown or down";
        break;
    case RWR_DEST_PREVIOUS:
        idx = c->prev_server;
        if (idx >= 0 && !c->bes[idx] && !reclaim_previous(c, idx))
            idx = -1;
        break;
    default:
        break;
    }
    return idx >= 0 ? idx : c->master;
}

/* ---- sending ---- */

/* Send one of rwproxy's own commands on be; its answer is walked but not relayed. */
static void send_internal(rwp_client *c, rwp_backend *be, int purpose, const uint8_t *pkt, size_t len)
{
    static const char *const purposes[] = {"none", "replay", "prepare", "gtid wait", "track", "close",
                                            "insert id"};
    SLOG(RWP_LOGL_DEBUG, c, be, "internal %s on %s", purposes[purpose], be->name);
    be->internal = purpose;
    be->internal_err = 0;
    be->internal_stmt_id = 0;
    proto_resp_kind kind = proto_command_response_kind(pkt[PROTO_HDR_LEN]);
    rwp_backend_send_command(be, pkt, len, kind, 0);
}

static void send_internal_prepare(rwp_client *c, rwp_backend *be, const rwp_stmt *s)
{
    proto_writer w;
    proto_wr_init(&w);
    proto_wr_u8(&w, COM_STMT_PREPARE);
    proto_wr_bytes(&w, s->sql, s->sql_len);
    if (proto_wr_finish(&w, 0) != 0) {
        proto_wr_free(&w);
        rwp_client_fail(c, 1, ER_UNKNOWN_ERROR, "HY000", "rwproxy: cannot build a prepare packet");
        return;
    }
    send_internal(c, be, RWP_INT_PREPARE, w.data, w.len);
    proto_wr_free(&w);
}

/*
 * A COM_STMT_EXECUTE rebuilt for server idx: the backend's statement id, and the parameter
 * types if this backend has not received them yet (the client sends them only once).
 * Returns a heap packet, or NULL if the original can be sent with just the id patched.
 */
static uint8_t *rebuild_execute(rwp_client *c, rwp_stmt *s, int idx, const uint8_t *pkt,
                                size_t len, size_t *out_len)
{
    const uint8_t *p = pkt + PROTO_HDR_LEN;
    size_t plen = len - PROTO_HDR_LEN;
    size_t fixed = 1 + 4 + 1 + 4;
    size_t nullmap = ((size_t)s->nparams + 7) / 8;
    (void)c;
    if (s->nparams == 0 || plen < fixed + nullmap + 1)
        return NULL;
    int bound = p[fixed + nullmap] != 0;
    if (bound) {
        size_t tlen = 2u * s->nparams;
        if (plen < fixed + nullmap + 1 + tlen)
            return NULL;
        uint8_t *types = realloc(s->types, tlen);
        if (types) {
            memcpy(types, p + fixed + nullmap + 1, tlen);
            s->types = types;
        }
        s->be_typed[idx] = 1;
        return NULL;
    }
    if (s->be_typed[idx] || !s->types)
        return NULL;
    size_t tlen = 2u * s->nparams;
    size_t nplen = plen + tlen;
    if (nplen >= PROTO_MAX_PAYLOAD)
        return NULL;
    uint8_t *out = malloc(PROTO_HDR_LEN + nplen);
    if (!out)
        return NULL;
    size_t head = fixed + nullmap;
    proto_hdr_write(out, (uint32_t)nplen, 0);
    memcpy(out + PROTO_HDR_LEN, p, head);
    out[PROTO_HDR_LEN + head] = 1;
    memcpy(out + PROTO_HDR_LEN + head + 1, s->types, tlen);
    memcpy(out + PROTO_HDR_LEN + head + 1 + tlen, p + head + 1, plen - head - 1);
    s->be_typed[idx] = 1;
    *out_len = PROTO_HDR_LEN + nplen;
    return out;
}

/* Send the client's command itself to be (with statement ids mapped for this backend). */
static void send_client_command(rwp_client *c, rwp_backend *be)
{
    int idx = c->cur.target;
    const uint8_t *pkt = rwp_inbuf_head(&c->in);
    size_t len = c->cur.len;
    uint32_t plen = proto_u24(pkt);
    uint8_t *heap = NULL;
    proto_resp_kind kind = proto_command_response_kind(c->cur.cmd);
    int cursor = c->cur.cmd == COM_STMT_EXECUTE && plen > 5 && (pkt[PROTO_HDR_LEN + 5] & CURSOR_TYPE_READ_ONLY);
    rwp_stmt *s = c->cur.stmt;
    if (s && c->cur.cmd == COM_STMT_EXECUTE)
        heap = rebuild_execute(c, s, idx, pkt, len, &len);
    if (heap)
        proto_put_u32(heap + PROTO_HDR_LEN + 1, s->be_id[idx]);
    else if (s) /* the statement id this backend knows, patched in place (no copy) */
        proto_put_u32(rwp_inbuf_head(&c->in) + PROTO_HDR_LEN + 1, s->be_id[idx]);
    c->cur.sent = 1;
    c->relayed = 0;
    rwp_server_stats *st = &c->worker->server_stats[idx];
    st->queries++;
    if (c->cur.dest == RWR_DEST_REPLICA && idx != c->master) {
        st->reads++;
        c->last_replica = idx;
    }
    if (idx != c->master)
        st->on_replica++;
    c->cur.sent_ns = kind != RESP_NONE ? uv_hrtime() : 0;
    if (plen == PROTO_MAX_PAYLOAD) {
        c->stream = STREAM_CONT; /* the rest follows as the client sends it */
        c->stream_left = 0;
    }
    if (s && c->cur.cmd == COM_STMT_EXECUTE) {
        s->exec_server = idx;
        s->long_data = 0;
    }
    int rc = rwp_backend_send_command(be, heap ? heap : pkt, len, kind, cursor);
    free(heap);
    if (rc != 0 || c->state != CL_COMMAND)
        return; /* the backend failed; its failure path has dealt with the client */
    if (c->stream != STREAM_NONE || kind == RESP_NONE) {
        rwp_inbuf_consume(&c->in, c->cur.len); /* no retry possible once streaming */
        c->cur.len = 0;
    }
    if (kind == RESP_NONE && c->stream == STREAM_NONE)
        rwp_session_answered(c, be);
}

/* ---- read-your-writes: last_gtid tracking, causal waits, OK rewriting ---- */

static const char TRACK_SQL[] =
    "SET session_track_system_variables = CONCAT_WS(',', NULLIF(@@session_track_system_variables, ''), 'last_gtid')";

/* Send the SQL text as one of rwproxy's own COM_QUERY commands on be. */
static void send_internal_query(rwp_client *c, rwp_backend *be, int purpose, const char *sql)
{
    proto_writer w;
    proto_wr_init(&w);
    proto_wr_u8(&w, COM_QUERY);
    proto_wr_bytes(&w, sql, strlen(sql));
    if (proto_wr_finish(&w, 0) != 0) {
        proto_wr_free(&w);
        rwp_client_fail(c, 1, ER_UNKNOWN_ERROR, "HY000", "rwproxy: cannot build a query packet");
        return;
    }
    send_internal(c, be, purpose, w.data, w.len);
    proto_wr_free(&w);
}

/* The position a replica must have reached before it serves this session's read. */
static void causal_position(rwp_client *c, rwr_gtid_pos *want)
{
    memset(want, 0, sizeof *want);
    switch (c->worker->cfg->consistency) {
    case RWP_CONSISTENCY_SESSION:
        *want = c->gtid;
        break;
    case RWP_CONSISTENCY_GLOBAL:
        pthread_mutex_lock(&c->worker->proxy->gtid_mu);
        *want = c->worker->proxy->gtid;
        pthread_mutex_unlock(&c->worker->proxy->gtid_mu);
        rwr_gtid_merge(want, &c->gtid);
        break;
    default:
        break;
    }
}

/* Must the replica wait before serving the command in flight? */
static int needs_causal_wait(rwp_client *c, int idx)
{
    if (c->cur.causal_checked || idx == c->master || c->cur.cmd == COM_STMT_FETCH ||
        (c->cur.dest != RWR_DEST_REPLICA && c->cur.dest != RWR_DEST_SERVER))
        return 0;
    c->cur.causal_checked = 1;
    if (!c->cur.want_known)
        causal_position(c, &c->cur.want);
    if (c->cur.want.n == 0 || rwr_gtid_reached(&c->worker->known[idx], &c->cur.want))
        return 0;
    return 1;
}

/* MASTER_GTID_WAIT ahead of the read: OK if the replica caught up in time, ERR if not. */
static void send_causal_wait(rwp_client *c, rwp_backend *be)
{
    char pos[RWR_GTID_MAX_DOMAINS * 48];
    char sql[sizeof pos + 256];
    rwr_gtid_format(&c->cur.want, pos, sizeof pos);
    int ms = c->worker->cfg->causal_timeout_ms > 0 ? c->worker->cfg->causal_timeout_ms : 1000;
    snprintf(sql, sizeof sql,
             "BEGIN NOT ATOMIC IF MASTER_GTID_WAIT('%s', %d.%03d) <> 0 THEN "
             "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'rwproxy: causal read timeout'; END IF; END",
             pos, ms / 1000, ms % 1000);
    c->worker->server_stats[be->server].causal_waits++;
    send_internal_query(c, be, RWP_INT_GTID_WAIT, sql);
}

/* last_gtid reported by the master: the session's and the process's newest write. */
static void note_gtid(rwp_client *c, const uint8_t *value, size_t len)
{
    rwr_gtid_pos p;
    if (len == 0 || rwr_gtid_parse((const char *)value, len, &p) != 0 || p.n == 0)
        return;
    rwr_gtid_merge(&c->gtid, &p);
    pthread_mutex_lock(&c->worker->proxy->gtid_mu);
    rwr_gtid_merge(&c->worker->proxy->gtid, &p);
    pthread_mutex_unlock(&c->worker->proxy->gtid_mu);
    rwr_gtid_merge(&c->worker->known[c->master], &p);
}

static int is_last_gtid(const proto_track_entry *e)
{
    return e->type == SESSION_TRACK_SYSTEM_VARIABLES && e->name_len == 9 &&
           memcmp(e->name, "last_gtid", 9) == 0;
}

/* Read last_gtid out of a session-track block; returns 1 if the block has entries the
 * client must not see (last_gtid it did not ask for). */
static int scan_track(rwp_client *c, const uint8_t *block, size_t len, int from_master)
{
    proto_track_iter it;
    proto_track_entry e;
    int hide = 0;
    proto_track_begin(&it, block, len);
    while (proto_track_next(&it, &e) == PROTO_OK) {
        if (!is_last_gtid(&e))
            continue;
        if (from_master)
            note_gtid(c, e.value, e.value_len);
        if (!c->client_wants_gtid)
            hide = 1;
    }
    return hide;
}

/* The OK packet as the client must see it: its own capabilities, and only the tracked
 * state it asked for. Appends the packet (header with seq) to w. */
static void rebuild_ok(rwp_client *c, const proto_ok *ok, uint8_t seq, proto_writer *w)
{
    proto_writer block;
    proto_wr_init(&block);
    int keep_block = 0;
    if ((c->caps & CLIENT_SESSION_TRACK) && ok->track) {
        proto_track_iter it;
        proto_track_entry e;
        proto_track_begin(&it, ok->track, ok->track_len);
        while (proto_track_next(&it, &e) == PROTO_OK) {
            if (is_last_gtid(&e) && !c->client_wants_gtid)
                continue;
            proto_wr_u8(&block, e.type);
            proto_wr_lenenc_str(&block, e.data, e.len);
            keep_block = 1;
        }
    }
    uint16_t status = ok->status;
    if (!keep_block)
        status &= (uint16_t)~SERVER_SESSION_STATE_CHANGED;
    proto_wr_u8(w, ok->header);
    proto_wr_lenenc(w, ok->affected_rows);
    proto_wr_lenenc(w, ok->last_insert_id);
    proto_wr_u16(w, status);
    proto_wr_u16(w, ok->warnings);
    /* servers write the info length-encoded with or without CLIENT_SESSION_TRACK */
    if (ok->info_len || keep_block)
        proto_wr_lenenc_str(w, ok->info, ok->info_len);
    if (keep_block)
        proto_wr_lenenc_str(w, block.data + PROTO_HDR_LEN, block.len - PROTO_HDR_LEN);
    proto_wr_free(&block);
    proto_wr_finish(w, seq);
}

/* An OK (or OK-style terminator) of a relayed answer: note last_gtid, and rewrite it when
 * the client must not see it as the server sent it. */
static void inspect_ok(rwp_client *c, rwp_backend *be, const proto_walk_event *ev, const proto_ok *ok)
{
    if (!(be->caps & CLIENT_SESSION_TRACK))
        return;
    int hide = ok->track ? scan_track(c, ok->track, ok->track_len, be->server == c->master) : 0;
    int reshape = !(c->caps & CLIENT_SESSION_TRACK) && ok->track;
    if (!hide && !reshape)
        return;
    size_t wire = PROTO_HDR_LEN + (size_t)ev->payload_len;
    if (ev->end_off < wire || c->nrw == RWP_MAX_REWRITES) {
        SLOG(RWP_LOGL_DEBUG, c, be, "an OK packet split across reads is relayed unchanged");
        return;
    }
    proto_writer w;
    proto_wr_init(&w);
    rebuild_ok(c, ok, ev->seq, &w);
    if (w.err) {
        proto_wr_free(&w);
        return;
    }
    rwp_rewrite *r = &c->rw[c->nrw++];
    r->start = ev->end_off - wire;
    r->end = ev->end_off;
    r->pkt = w.data;
    r->len = w.len;
}

/* Does the client's own SET touch session tracking (so ours must be set up again)? */
static void note_client_tracking(rwp_client *c, const uint8_t *sql, size_t len)
{
    static const char key[] = "session_track_system_variables";
    size_t klen = sizeof key - 1;
    for (size_t i = 0; i + klen <= len; i++) {
        if (strncasecmp((const char *)sql + i, key, klen) != 0)
            continue;
        for (size_t j = i + klen; j + 9 <= len; j++)
            if (strncasecmp((const char *)sql + j, "last_gtid", 9) == 0 || sql[j] == '*')
                c->client_wants_gtid = 1;
        for (int s = 0; s < c->nservers; s++)
            if (c->bes[s])
                c->bes[s]->track_ready = 0;
        return;
    }
}

int rwp_session_relay(rwp_client *c, rwp_chunk *ch, const uint8_t *p, size_t len, rwp_write_done_fn done)
{
    size_t off = 0;
    int rc = 0;
    for (int i = 0; i < c->nrw && rc == 0; i++) {
        rwp_rewrite *r = &c->rw[i];
        if (r->start > off && r->start <= len)
            rc = rwp_client_write_chunk(c, ch, p + off, r->start - off, done);
        if (rc == 0) {
            rc = rwp_client_write_owned(c, r->pkt, r->len, done);
            r->pkt = NULL;
        }
        off = r->end;
    }
    for (int i = 0; i < c->nrw; i++)
        free(c->rw[i].pkt);
    c->nrw = 0;
    if (rc == 0 && off < len)
        rc = rwp_client_write_chunk(c, ch, p + off, len - off, done);
    return rc;
}

/* Is be behind the session history? */
static int needs_replay(const rwp_client *c, const rwp_backend *be)
{
    return be->replayed < c->sess.nhist;
}

/* ---- the master moving (failover, switchover) and commands held for it ---- */

int rwp_session_bound_to_master(const rwp_client *c)
{
    const rwr_session *s = &c->sess;
    return (s->in_trx && !s->ro_trx_on_replica) || s->locked_tables || s->ntemp > 0 || s->pinned;
}

/* May a command for the master go out now? Not while there is none, nor while a switchover
 * holds writes — except inside a transaction already running there, which must finish. */
static int master_usable(const rwp_client *c)
{
    const rwp_topology *t = c->worker->topo;
    if (c->master < 0 || !t || t->writer != c->master)
        return 0;
    if (!t->writes_held)
        return 1;
    return c->bes[c->master] && rwp_session_bound_to_master(c);
}

/* The command waits for a master; the worker's tick and the next topology release it or,
 * after the hold time, answer ERR 1290. */
static void hold_command(rwp_client *c)
{
    if (c->cur.waiting)
        return;
    if (c->cur.len > 0 && proto_u24(rwp_inbuf_head(&c->in)) == PROTO_MAX_PAYLOAD) {
        /* its continuation packets are on their way: it cannot wait in the buffer */
        rwp_client_fail(c, 1, ER_OPTION_PREVENTS_STATEMENT, "HY000",
                        "rwproxy: no master is available for a multi-packet statement");
        return;
    }
    c->cur.waiting = 1;
    uint64_t now = uv_now(&c->worker->loop);
    rwp_client_may_retry(c, now); /* paces reconnects to a master that refuses them */
    if (!c->cur.held_ms) {
        c->cur.held_ms = now ? now : 1;
        c->worker->stats.writes_held++;
        SLOG(RWP_LOGL_DEBUG, c, (rwp_backend *)NULL, "%s waits for a master",
             proto_command_name(c->cur.cmd));
    }
}

/* The hold time is over and there is still no master: the statement was not run. */
static void fail_held_command(rwp_client *c, uint64_t waited)
{
    c->worker->stats.held_timeouts++;
    int answered = proto_command_response_kind(c->cur.cmd) != RESP_NONE;
    if (c->cur.len > 0)
        rwp_inbuf_consume(&c->in, c->cur.len);
    c->cur.len = 0;
    SLOG(RWP_LOGL_INFO, c, (rwp_backend *)NULL, "%s waited %llu ms for a master: ERR 1290",
         proto_command_name(c->cur.cmd), (unsigned long long)waited);
    if (answered) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "rwproxy: no master is available (failover or switchover in progress); the "
                 "statement was not executed after waiting %llu ms", (unsigned long long)waited);
        rwp_client_send_err(c, 1, ER_OPTION_PREVENTS_STATEMENT, "HY000", msg);
    }
    rwp_client_set_state(c, CL_IDLE);
    rwp_client_process_input(c);
}

/* Drop the session's connection to server idx (the statements prepared there go with it). */
static void drop_backend(rwp_client *c, int idx)
{
    rwp_backend *be = c->bes[idx];
    c->bes[idx] = NULL;
    rwp_backend_close(be);
    stmts_forget_server(c, idx);
    if (c->prev_server == idx)
        c->prev_server = -1;
}

/* The topology names another writer (or none): move the session to it, unless something
 * lives only on the old master's connection — then the session cannot go on. Returns -1 if
 * the session was closed. A statement running on the old master finishes first. */
static int follow_writer(rwp_client *c)
{
    const rwp_topology *t = c->worker->topo;
    int writer = t ? t->writer : -1;
    int old = c->master;
    if (writer == old || c->state == CL_CLOSING)
        return 0;
    if (old >= 0 && c->state == CL_COMMAND && c->cur.sent && c->cur.target == old)
        return 0;
    if (old >= 0 && c->bes[old] && rwp_session_bound_to_master(c)) {
        c->worker->stats.sessions_lost++;
        rwp_client_fail(c, 1, ER_CONNECTION_KILLED, "70100",
                        "rwproxy: the master changed (failover or switchover) while this session had "
                        "a transaction, LOCK TABLES, temporary tables or pinned state on it; reconnect");
        return -1;
    }
    if (old >= 0 && c->bes[old]) {
        /* a statement whose connection to the old master is still being made (a retry) would
         * lose it without a word: it waits for the new master instead */
        int pending = c->state == CL_COMMAND && !c->cur.sent && c->cur.target == old;
        drop_backend(c, old);
        if (pending) {
            c->cur.for_master = 1;
            hold_command(c);
        }
    }
    if (writer >= 0 && c->bes[writer] && c->bes[writer]->state == BE_IDLE)
        drop_backend(c, writer); /* a replica connection: the master's tracks last_gtid */
    if (writer >= 0)
        c->srv_failed[writer] = 0;
    c->master = writer;
    SLOG(RWP_LOGL_DEBUG, c, (rwp_backend *)NULL, "session follows the master: %s",
         writer >= 0 ? c->worker->cfg->servers[writer].name : "(none for now)");
    return 0;
}

/* A replica read in flight on a server the monitor now calls down (it hangs, or died without
 * a reset): fail that connection so the read is sent elsewhere. Returns 1 if it did. */
static int abort_read_on_down_server(rwp_client *c)
{
    const rwp_topology *t = c->worker->topo;
    int idx = c->cur.target;
    if (!t || idx < 0 || idx >= t->nservers || idx == c->master || idx == c->trx_replica ||
        t->servers[idx].health != SRV_DOWN || !c->bes[idx])
        return 0;
    if (c->cur.sent && (c->relayed > 0 || c->cur.len == 0 || c->stream != STREAM_NONE))
        return 0; /* part of the answer reached the client: the backend's own failure ends it */
    rwp_backend_abort(c->bes[idx], "the monitor marked the server down");
    return 1;
}

int rwp_session_recheck(rwp_client *c, uint64_t now)
{
    if (follow_writer(c) != 0)
        return -1;
    if (c->worker->cfg->nremoved)
        drop_removed_backends(c);
    if (c->state != CL_COMMAND || abort_read_on_down_server(c))
        return 0;
    if (c->pool_wait_server >= 0 && !c->cur.sent && c->cur.for_master &&
        c->pool_wait_server != c->master) {
        /* it waited for a connection to the old master: the new one serves it */
        rwp_pool_unwait(&c->worker->pool, c);
        rwp_session_dispatch(c);
        return 0;
    }
    const rwp_topology *tw = c->worker->topo;
    int ws = c->pool_wait_server;
    if (ws >= 0 && !c->cur.sent && !c->cur.for_master && tw && ws < tw->nservers &&
        tw->servers[ws].health != SRV_UP && tw->servers[ws].health != SRV_LAGGING) {
        /* a read waiting for a connection to a replica that went down: another server */
        rwp_pool_unwait(&c->worker->pool, c);
        c->cur.target = resolve_target(c, c->cur.dest == RWR_DEST_REPLICA ? RWR_DEST_REPLICA
                                                                           : RWR_DEST_MASTER);
        c->cur.for_master = c->cur.target == c->master;
        rwp_session_dispatch(c);
        return 0;
    }
    if (!c->cur.waiting || c->cur.sent)
        return 0;
    if (c->cur.for_master)
        c->cur.target = c->master;
    if (c->cur.target >= 0 && (c->cur.target != c->master || master_usable(c))) {
        if (rwp_client_may_retry(c, now)) {
            c->cur.waiting = 0;
            rwp_session_dispatch(c);
            return 0;
        }
    }
    const rwp_topology *t = c->worker->topo;
    uint64_t hold = (uint64_t)(t ? t->hold_ms : c->worker->cfg->hold_ms);
    if (now - c->cur.held_ms >= hold)
        fail_held_command(c, now - c->cur.held_ms);
    return 0;
}

/* Does the statement about to run on be read LAST_INSERT_ID() (or @@identity), and was the
 * session's value made on another connection? Then be gets it first. */
static int needs_insert_id(const rwp_client *c, const rwp_backend *be)
{
    if (c->last_insert_id == be->last_insert_id || c->cur.cmd != COM_QUERY || c->cur.len == 0)
        return 0;
    const char *sql = (const char *)rwp_inbuf_head(&c->in) + PROTO_HDR_LEN + 1;
    size_t len = c->cur.len - PROTO_HDR_LEN - 1;
    static const char *const keys[] = {"insert_id", "identity"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        size_t kl = strlen(keys[k]);
        for (size_t i = 0; i + kl <= len; i++)
            if ((sql[i] | 0x20) == keys[k][0] && strncasecmp(sql + i, keys[k], kl) == 0)
                return 1;
    }
    return 0;
}

void rwp_session_dispatch(rwp_client *c)
{
    if (c->state != CL_COMMAND || c->cur.sent)
        return;
    if (c->cur.for_master)
        c->cur.target = c->master;
    int idx = c->cur.target;
    if (idx < 0 || (idx == c->master && !master_usable(c))) {
        hold_command(c);
        return;
    }
    c->cur.waiting = 0;
    rwp_backend *be = c->bes[idx];
    if (!be) {
        switch (rwp_session_attach(c, idx)) {
        case RWP_ATTACH_READY:
            be = c->bes[idx];
            break;
        case RWP_ATTACH_FAILED:
            if (!rwp_session_backend_failed(c, idx, "cannot connect"))
                rwp_client_fail(c, 1, ER_UNKNOWN_ERROR, "HY000", "rwproxy: cannot connect to server %s",
                                c->worker->cfg->servers[idx].name);
            return;
        default:
            return; /* be_ready, or the pool's wake-up, calls back */
        }
    }
    if (be->state != BE_IDLE)
        return;
    if (needs_replay(c, be)) {
        const rwr_history_entry *h = &c->sess.hist[be->replayed];
        send_internal(c, be, RWP_INT_REPLAY, h->pkt, h->len);
        return;
    }
    if (idx == c->master && c->track_gtid && !be->track_ready) {
        send_internal_query(c, be, RWP_INT_TRACK, TRACK_SQL);
        return;
    }
    if (needs_causal_wait(c, idx)) {
        send_causal_wait(c, be);
        return;
    }
    if (stmt_needs_prepare(c, idx)) {
        send_internal_prepare(c, be, c->cur.stmt);
        return;
    }
    if (needs_insert_id(c, be)) {
        char sql[64];
        snprintf(sql, sizeof sql, "SET LAST_INSERT_ID = %llu", (unsigned long long)c->last_insert_id);
        send_internal_query(c, be, RWP_INT_INSERT_ID, sql);
        return;
    }
    send_client_command(c, be);
}

/* ---- starting a command ---- */

/* Route a classified statement: session state, then the destination's server. */
static void route_statement(rwp_client *c)
{
    const char *reason = NULL;
    rwr_dest dest = rwr_session_route(&c->sess, &c->cur.dec, &reason);
    c->cur.dest = dest;
    c->cur.reason = reason;
    rwr_session_before(&c->sess, &c->cur.dec, dest);
    c->cur.target = resolve_target(c, dest);
    if ((c->cur.dec.flags & RWR_F_TRX_BEGIN_RO) && dest == RWR_DEST_REPLICA) {
        if (c->cur.target != c->master)
            c->trx_replica = c->cur.target;
        else
            c->sess.ro_trx_on_replica = 0; /* no replica: the master holds it */
    }
}

static void classify_query(rwp_client *c, const uint8_t *sql, size_t len)
{
    rwr_classify((const char *)sql, len, rwr_session_is_temp, &c->sess, &c->cur.dec);
    if (c->cur.dec.flags & RWR_F_CALC_FOUND_ROWS)
        c->cur.keep_backend = 1; /* FOUND_ROWS() follows on the same connection */
    if (!strcmp(c->cur.dec.keyword, "CALL"))
        c->hold_master = 1; /* the procedure may leave state no history can replay */
    if ((c->cur.dec.flags & RWR_F_MULTI) && (c->cur.dec.flags & RWR_F_SESSION)) {
        rwr_session_pin(&c->sess, "multi-statement with session state");
        c->cur.dec.flags &= ~RWR_F_SESSION;
    }
    c->cur.session_cmd = (c->cur.dec.flags & RWR_F_SESSION) != 0;
}

/* Query rules: returns -1 if a rule blocked the statement (ERR sent, command consumed). */
static int apply_rules(rwp_client *c, const uint8_t *sql, size_t len)
{
    const rwr_ruleset *rs = c->worker->cfg->ruleset;
    if (!rs || !c->worker->matcher)
        return 0;
    int i = rwr_rules_match(rs, c->worker->matcher, c->user, (const char *)sql, len);
    if (i < 0)
        return 0;
    const rwr_rule_spec *r = rwr_rules_get(rs, (size_t)i);
    c->worker->rule_hits[i]++;
    SLOG(RWP_LOGL_DEBUG, c, (rwp_backend *)NULL, "query rule %s matched", r->name);
    rwr_decision *d = &c->cur.dec;
    switch (r->action) {
    case RWR_RULE_BLOCK:
        rwp_inbuf_consume(&c->in, c->cur.len);
        rwp_client_send_err(c, 1, ER_BLOCKED_BY_RULE, "42000",
                            r->block_msg ? r->block_msg : "Statement blocked by an rwproxy query rule");
        return -1;
    case RWR_RULE_ROUTE_MASTER:
        d->target = RWR_MASTER;
        d->hint = 1;
        break;
    case RWR_RULE_ROUTE_REPLICA:
        d->target = RWR_REPLICA;
        d->hint = 2;
        break;
    case RWR_RULE_ROUTE_SERVER:
        d->target = RWR_SERVER;
        d->hint = 3;
        snprintf(d->server, sizeof d->server, "%s", r->server);
        break;
    }
    d->reason = "query rule";
    return 0;
}

/* A plain decision: the master, for a reason. */
static void decide_master(rwp_client *c, const char *reason)
{
    memset(&c->cur.dec, 0, sizeof c->cur.dec);
    c->cur.dec.target = RWR_MASTER;
    c->cur.dec.reason = reason;
}

/* Statement commands other than execute: they follow the statement's last execution. */
static void start_stmt_followup(rwp_client *c, rwp_stmt *s)
{
    int idx = s->exec_server >= 0 && c->bes[s->exec_server] ? s->exec_server : c->master;
    if (c->cur.cmd == COM_STMT_SEND_LONG_DATA) {
        idx = c->master;
        s->long_data = 1;
    }
    if (c->cur.cmd == COM_STMT_RESET)
        s->long_data = 0;
    c->cur.target = idx;
    c->cur.reason = "follows the statement";
}

/* COM_STMT_CLOSE: close on every backend that prepared it; no answer. */
static void close_statement(rwp_client *c, rwp_stmt *s)
{
    for (int i = 0; i < c->nservers; i++) {
        rwp_backend *be = c->bes[i];
        if (!s->be_id[i] || !be || be->state != BE_IDLE)
            continue;
        uint8_t pkt[PROTO_HDR_LEN + 5];
        proto_hdr_write(pkt, 5, 0);
        pkt[PROTO_HDR_LEN] = COM_STMT_CLOSE;
        proto_put_u32(pkt + PROTO_HDR_LEN + 1, s->be_id[i]);
        rwp_backend_send_command(be, pkt, sizeof pkt, RESP_NONE, 0);
        if (c->state == CL_CLOSING)
            return;
    }
    stmt_unlink(c, s);
    stmt_free(s);
}

/* Statement commands: find the statement; returns -1 if the command was answered here. */
static int start_stmt_command(rwp_client *c, const uint8_t *payload, uint32_t len)
{
    uint32_t id = len >= 5 ? proto_u32(payload + 1) : 0;
    rwp_stmt *s = stmt_find(c, id);
    if (!s) {
        rwp_inbuf_consume(&c->in, c->cur.len);
        if (c->cur.cmd != COM_STMT_CLOSE && c->cur.cmd != COM_STMT_SEND_LONG_DATA) {
            /* the server's own wording, so clients see what a direct connection shows */
            const char *fn = c->cur.cmd == COM_STMT_EXECUTE ? "mysqld_stmt_execute"
                             : c->cur.cmd == COM_STMT_FETCH ? "mysqld_stmt_fetch"
                                                            : "mysqld_stmt_reset";
            char msg[96];
            snprintf(msg, sizeof msg, "Unknown prepared statement handler (%u) given to %s", id, fn);
            rwp_client_send_err(c, 1, ER_UNKNOWN_STMT_HANDLER, "HY000", msg);
        }
        return -1;
    }
    c->cur.stmt = s;
    if (c->cur.cmd == COM_STMT_CLOSE) {
        rwp_inbuf_consume(&c->in, c->cur.len);
        close_statement(c, s);
        return -1;
    }
    if (c->cur.cmd != COM_STMT_EXECUTE) {
        start_stmt_followup(c, s);
        return 0;
    }
    c->cur.dec = s->dec;
    if (s->long_data) {
        c->cur.target = c->master;
        c->cur.reason = "statement has long data on the master";
        return 0;
    }
    route_statement(c);
    return 0;
}

void rwp_session_start_command(rwp_client *c, const uint8_t *pkt, uint32_t len)
{
    const uint8_t *payload = pkt + PROTO_HDR_LEN;
    memset(&c->cur, 0, sizeof c->cur);
    c->cur.cmd = payload[0];
    c->cur.len = PROTO_HDR_LEN + (size_t)len;
    if (c->nservers < c->worker->cfg->nservers)
        session_grow(c, c->worker->cfg->nservers); /* a reload added servers */
    if (follow_writer(c) != 0)
        return;
    if (c->worker->cfg->nremoved)
        drop_removed_backends(c);
    c->cur.target = c->master;
    decide_master(c, proto_command_name(c->cur.cmd));
    switch (c->cur.cmd) {
    case COM_QUERY:
        classify_query(c, payload + 1, len - 1);
        if (apply_rules(c, payload + 1, len - 1) != 0)
            return;
        if ((c->cur.dec.flags & RWR_F_KILL) && !(c->cur.dec.flags & RWR_F_MULTI)) {
            rwp_kill_from_client(c); /* rwproxy's own connection ids: answered here */
            return;
        }
        route_statement(c);
        break;
    case COM_INIT_DB:
    case COM_SET_OPTION:
        c->cur.dec.flags = RWR_F_SESSION;
        c->cur.session_cmd = 1;
        route_statement(c);
        break;
    case COM_STMT_PREPARE:
        classify_query(c, payload + 1, len - 1);
        if (apply_rules(c, payload + 1, len - 1) != 0)
            return;
        c->cur.session_cmd = 0;
        c->cur.target = c->master; /* the client gets the master's answer and ids */
        break;
    case COM_STMT_EXECUTE:
    case COM_STMT_FETCH:
    case COM_STMT_RESET:
    case COM_STMT_SEND_LONG_DATA:
    case COM_STMT_CLOSE:
        if (start_stmt_command(c, payload, len) != 0)
            return;
        break;
    default:
        /* PING, STATISTICS, FIELD_LIST, RESET_CONNECTION, REFRESH, DEBUG: the master, except
         * inside a READ ONLY transaction on a replica, whose connection is the session's now */
        if (c->sess.ro_trx_on_replica && c->trx_replica >= 0 && c->cur.cmd != COM_RESET_CONNECTION)
            c->cur.target = c->trx_replica;
        break;
    }
    c->cur.for_master = c->cur.target == c->master;
    SLOG(RWP_LOGL_DEBUG, c, c->cur.target >= 0 ? c->bes[c->cur.target] : NULL, "%s -> %s (%s)",
         proto_command_name(c->cur.cmd),
         c->cur.target >= 0 ? c->worker->cfg->servers[c->cur.target].name : "(master, none now)",
         c->cur.reason ? c->cur.reason : "");
    rwp_client_set_state(c, CL_COMMAND);
    rwp_session_dispatch(c);
}

/* ---- answers ---- */

/* Warnings and the insert id of an OK or EOF packet: a statement with warnings keeps its
 * connection for the next statement (SHOW WARNINGS); an insert id is the session's
 * LAST_INSERT_ID() from now on. */
static void note_ok_counts(rwp_client *c, rwp_backend *be, const proto_ok *ok)
{
    if (ok->warnings > 0)
        c->cur.keep_backend = 1;
    if (ok->last_insert_id) {
        c->last_insert_id = ok->last_insert_id;
        be->last_insert_id = ok->last_insert_id;
    }
}

/* An OK or EOF event of the answer, decoded once for everything that reads it: the warnings
 * and insert id, then last_gtid and the OK's rewriting. A classic EOF has only warnings. */
static void handle_ok_event(rwp_client *c, rwp_backend *be, const proto_walk_event *ev)
{
    if (ev->captured < ev->payload_len || ev->captured == 0)
        return;
    if (ev->payload[0] == PKT_EOF && !(be->caps & CLIENT_DEPRECATE_EOF)) {
        if (ev->captured >= 3 && proto_u16(ev->payload + 1) > 0)
            c->cur.keep_backend = 1;
        return;
    }
    proto_ok ok;
    if (proto_ok_decode(ev->payload, ev->captured, be->caps, &ok) != PROTO_OK)
        return;
    note_ok_counts(c, be, &ok);
    inspect_ok(c, be, ev, &ok);
}

void rwp_session_event(rwp_client *c, rwp_backend *be, const proto_walk_event *ev)
{
    if (be->internal) {
        if (ev->type == WALK_EV_ERR)
            be->internal_err = 1;
        else if (ev->type == WALK_EV_PREPARE_OK && ev->captured >= 5)
            be->internal_stmt_id = proto_u32(ev->payload + 1);
        return;
    }
    if (c->state != CL_COMMAND || be->server != c->cur.target)
        return;
    switch (ev->type) {
    case WALK_EV_ERR:
        c->cur.got_err = 1;
        c->cur.keep_backend = 1; /* SHOW ERRORS / SHOW WARNINGS may follow */
        break;
    case WALK_EV_PREPARE_OK:
        if (ev->captured >= 9) {
            c->cur.prepared_id = proto_u32(ev->payload + 1);
            c->cur.prepared_params = proto_u16(ev->payload + 7);
            c->cur.client_stmt_id = client_stmt_id(c, c->cur.prepared_id);
            if (c->cur.client_stmt_id != c->cur.prepared_id &&
                rewrite_prepare_ok(c, ev, c->cur.client_stmt_id) != 0)
                rwp_client_close(c, "cannot renumber a prepared statement split across reads");
        }
        break;
    case WALK_EV_OK:
    case WALK_EV_EOF:
        handle_ok_event(c, be, ev);
        if (ev->last) {
            c->cur.final_status = ev->status;
            c->cur.have_status = 1;
        }
        break;
    default:
        break;
    }
}

/* A backend cannot serve this session (failed, or could not replay its state): drop it and
 * send the command in flight elsewhere. Returns 1 if the session goes on. */
static int abandon_backend(rwp_client *c, int idx, const char *why)
{
    rwp_backend *be = c->bes[idx];
    SLOG(RWP_LOGL_WARN, c, be, "server %s is not used for this session: %s",
         c->worker->cfg->servers[idx].name, why);
    if (be) {
        c->bes[idx] = NULL;
        rwp_backend_close(be);
    }
    stmts_forget_server(c, idx);
    if (idx == c->master && !rwp_session_bound_to_master(c)) {
        /* nothing lives only there: the next command for the master reconnects (and waits
         * for a new master if this one is gone) */
        if (c->state == CL_COMMAND && c->cur.target == idx && !c->cur.sent)
            hold_command(c);
        return 1;
    }
    if (idx == c->master || idx == c->trx_replica)
        return 0;
    c->srv_failed[idx] = 1;
    if (c->prev_server == idx)
        c->prev_server = -1;
    if (c->state == CL_COMMAND && c->cur.target == idx && !c->cur.sent) {
        c->cur.target = resolve_target(c, c->cur.dest == RWR_DEST_REPLICA ? RWR_DEST_REPLICA
                                                                           : RWR_DEST_MASTER);
        rwp_session_dispatch(c);
    }
    return 1;
}

int rwp_session_backend_failed(rwp_client *c, int idx, const char *reason)
{
    if (idx < 0 || idx >= c->nservers)
        return 0;
    int in_flight = c->state == CL_COMMAND && c->cur.target == idx;
    if (in_flight && c->cur.sent) {
        /* the command itself reached the server: retry a read elsewhere only if nothing of
         * its answer reached the client and its bytes are still here */
        if (c->relayed > 0 || c->cur.len == 0 || c->stream != STREAM_NONE ||
            idx == c->master || idx == c->trx_replica)
            return 0;
        c->cur.sent = 0;
        c->cur.got_err = 0;
        c->cur.have_status = 0;
        c->worker->stats.reads_retried++;
    }
    c->bes[idx] = NULL;
    return abandon_backend(c, idx, reason);
}

/* Remember the session's current schema. */
static void copy_schema(rwp_client *c, const uint8_t *name, size_t len)
{
    if (c->cur.len == 0 || len >= sizeof c->cur_db)
        return;
    memcpy(c->cur_db, name, len);
    c->cur_db[len] = '\0';
}

/* COM_RESET_CONNECTION keeps the current schema on the server: new backends must get it too. */
static void keep_schema_after_reset(rwp_client *c, rwp_backend *be)
{
    if (!c->cur_db[0] || strcmp(c->cur_db, c->db) == 0)
        return;
    uint8_t pkt[PROTO_HDR_LEN + 1 + sizeof c->cur_db];
    size_t n = strlen(c->cur_db);
    proto_hdr_write(pkt, (uint32_t)(n + 1), 0);
    pkt[PROTO_HDR_LEN] = COM_INIT_DB;
    memcpy(pkt + PROTO_HDR_LEN + 1, c->cur_db, n);
    if (rwr_session_record(&c->sess, pkt, PROTO_HDR_LEN + 1 + n) == 0)
        be->replayed = c->sess.nhist;
}

/* Is the history entry / packet one SET of autocommit and nothing else? */
static int packet_sets_autocommit(const uint8_t *pkt, size_t len)
{
    return len > PROTO_HDR_LEN + 1 && pkt[PROTO_HDR_LEN] == COM_QUERY &&
           rwr_is_autocommit_set((const char *)pkt + PROTO_HDR_LEN + 1, len - PROTO_HDR_LEN - 1);
}

/* A SET autocommit following another one replaces it in the history (Connector/J sends one
 * before and after every transaction; the history must not grow with them). Connections that
 * ran the old entry must run the new one. */
static void replace_autocommit_entry(rwp_client *c, const uint8_t *pkt, size_t len)
{
    rwr_session *s = &c->sess;
    if (s->nhist == 0 || !packet_sets_autocommit(pkt, len) ||
        !packet_sets_autocommit(s->hist[s->nhist - 1].pkt, s->hist[s->nhist - 1].len))
        return;
    rwr_session_drop_last(s);
    for (int i = 0; i < c->nservers; i++)
        if (c->bes[i] && c->bes[i]->replayed > s->nhist)
            c->bes[i]->replayed = s->nhist;
}

/* What a finished answer changes in the session. */
static void apply_answer(rwp_client *c, rwp_backend *be)
{
    int idx = c->cur.target;
    const uint8_t *pkt = rwp_inbuf_head(&c->in);
    if (c->cur.have_status && (idx == c->master || idx == c->trx_replica))
        rwr_session_status(&c->sess, c->cur.final_status,
                           idx == c->trx_replica && c->sess.ro_trx_on_replica);
    if (!c->sess.ro_trx_on_replica)
        c->trx_replica = -1;
    if (c->cur.got_err) {
        c->worker->server_stats[idx].errors++;
        if (c->cur.cmd == COM_QUERY && (c->cur.dec.flags & RWR_F_TRX_BEGIN_RO) && idx == c->trx_replica &&
            !c->sess.in_trx) {
            c->sess.ro_trx_on_replica = 0;
            c->trx_replica = -1;
        }
        return;
    }
    if (c->cur.session_cmd) {
        if (c->cur.cmd == COM_QUERY && c->cur.len > PROTO_HDR_LEN + 1)
            note_client_tracking(c, pkt + PROTO_HDR_LEN + 1, c->cur.len - PROTO_HDR_LEN - 1);
        if (c->cur.len > 0)
            replace_autocommit_entry(c, pkt, c->cur.len);
        if (c->cur.len > 0 && rwr_session_record(&c->sess, pkt, c->cur.len) == 0)
            be->replayed = c->sess.nhist;
        else if (c->cur.len == 0)
            rwr_session_pin(&c->sess, "session command too large to replay");
    }
    switch (c->cur.cmd) {
    case COM_RESET_CONNECTION:
        rwp_session_reset(c, 1);
        be->track_ready = 0;    /* the server reset session_track_system_variables too */
        be->last_insert_id = 0; /* and LAST_INSERT_ID() */
        c->last_insert_id = 0;
        keep_schema_after_reset(c, be);
        break;
    case COM_INIT_DB:
        copy_schema(c, pkt + PROTO_HDR_LEN + 1, c->cur.len - PROTO_HDR_LEN - 1);
        break;
    case COM_QUERY:
        if (c->cur.dec.flags & RWR_F_USE_DB)
            copy_schema(c, (const uint8_t *)c->cur.dec.db, strlen(c->cur.dec.db));
        break;
    case COM_STMT_PREPARE:
        if (c->cur.prepared_id && c->cur.len > PROTO_HDR_LEN + 1)
            stmt_register(c, idx, pkt + PROTO_HDR_LEN + 1, c->cur.len - PROTO_HDR_LEN - 1);
        break;
    default:
        break;
    }
}

/* A replica did not reach the causal position in time. The read goes to the master; with
 * no master (it died and nobody was promoted yet) another replica may still have the
 * session's writes (asynchronous replication delivers to each replica on its own), so the
 * others are tried, each with its own wait, before the read waits for a master. */
static void causal_wait_failed(rwp_client *c, int idx)
{
    const rwp_topology *t = c->worker->topo;
    const char *name = c->worker->cfg->servers[idx].name;
    c->cur.causal_tried |= 1ull << idx;
    int other = t && t->writer < 0 && c->cur.dest == RWR_DEST_REPLICA ? pick_replica(c) : -1;
    if (other >= 0) {
        SLOG(RWP_LOGL_DEBUG, c, (rwp_backend *)NULL, "causal read: %s is behind and there is no "
             "master; trying %s", name, c->worker->cfg->servers[other].name);
        c->cur.target = other;
        c->cur.causal_checked = 0; /* the next replica waits too */
        return;
    }
    SLOG(RWP_LOGL_DEBUG, c, (rwp_backend *)NULL, "causal read: %s is behind; reading from the master",
         name);
    c->cur.target = c->master;
    c->cur.reason = "replica behind (causal read)";
}

/* An internal step finished on be: record it and go on with the command in flight. */
static void internal_done(rwp_client *c, rwp_backend *be)
{
    int purpose = be->internal;
    int failed = be->internal_err;
    int idx = be->server;
    be->internal = RWP_INT_NONE;
    if (purpose == RWP_INT_REPLAY && !failed)
        be->replayed++;
    if (purpose == RWP_INT_PREPARE && !failed && be->internal_stmt_id && c->cur.stmt)
        c->cur.stmt->be_id[idx] = be->internal_stmt_id;
    if (purpose == RWP_INT_TRACK) {
        be->track_ready = 1; /* even if refused: reads then fall back to waiting on nothing */
        if (failed)
            SLOG(RWP_LOGL_WARN, c, be, "cannot track last_gtid on %s: read-your-writes is off for this session",
                 c->worker->cfg->servers[idx].name);
        rwp_session_dispatch(c);
        return;
    }
    if (purpose == RWP_INT_GTID_WAIT) {
        if (failed) {
            c->worker->server_stats[idx].causal_timeouts++;
            causal_wait_failed(c, idx);
        } else {
            rwr_gtid_merge(&c->worker->known[idx], &c->cur.want);
        }
        rwp_session_dispatch(c);
        return;
    }
    if (purpose == RWP_INT_INSERT_ID) {
        be->last_insert_id = c->last_insert_id; /* even if refused: tried once */
        rwp_session_dispatch(c);
        return;
    }
    if (failed || (purpose == RWP_INT_PREPARE && !be->internal_stmt_id)) {
        const char *why = purpose == RWP_INT_REPLAY ? "replaying the session state failed"
                                                     : "preparing the statement failed";
        if (!abandon_backend(c, idx, why))
            rwp_client_fail(c, 1, ER_UNKNOWN_ERROR, "HY000", "rwproxy: %s on the master", why);
        return;
    }
    rwp_session_dispatch(c);
}

/* The command's answer is complete: its latency and digest. One clock read; the digest is
 * normalised into the worker's scratch buffer (an allocation only for a new digest). */
static void record_answer(rwp_client *c)
{
    if (!c->cur.sent_ns)
        return;
    rwp_worker *w = c->worker;
    uint64_t us = (uv_hrtime() - c->cur.sent_ns) / 1000;
    c->cur.sent_ns = 0;
    rwp_server_stats *st = &w->server_stats[c->cur.target];
    const rwp_backend *be = c->bes[c->cur.target];
    uint64_t rows = be ? be->walker.rows : 0;
    st->latency_us_total += us;
    st->latency_count++;
    st->latency_buckets[rwp_stats_lat_bucket(us)]++;
    const char *sql = NULL;
    size_t len = 0;
    if (c->cur.cmd == COM_QUERY && c->cur.len > PROTO_HDR_LEN + 1) {
        sql = (const char *)rwp_inbuf_head(&c->in) + PROTO_HDR_LEN + 1;
        len = c->cur.len - PROTO_HDR_LEN - 1;
    } else if (c->cur.cmd == COM_STMT_EXECUTE && c->cur.stmt) {
        /* a prepared statement is normalised once, at its first execution */
        rwp_stmt *s = c->cur.stmt;
        if (!s->digest) {
            size_t n = rwr_digest(s->sql, s->sql_len, w->digest_buf, sizeof w->digest_buf, &s->digest_hash);
            s->digest = malloc(n + 1);
            if (s->digest) {
                memcpy(s->digest, w->digest_buf, n + 1);
                s->digest_len = n;
            }
        }
        if (s->digest)
            rwp_digests_add(&w->digests, s->digest_hash, s->digest, s->digest_len, us, rows,
                            c->cur.target == c->master);
    }
    if (sql)
        rwp_digests_record(&w->digests, w->digest_buf, sizeof w->digest_buf, sql, len, us, rows,
                           c->cur.target == c->master);
}

void rwp_session_answered(rwp_client *c, rwp_backend *be)
{
    if (be->internal) {
        internal_done(c, be);
        return;
    }
    if (c->state != CL_COMMAND || be->server != c->cur.target || be->state != BE_IDLE)
        return;
    record_answer(c);
    apply_answer(c, be);
    if (c->state != CL_COMMAND)
        return;
    c->prev_server = c->cur.target;
    if (c->cur.len > 0)
        rwp_inbuf_consume(&c->in, c->cur.len);
    c->cur.len = 0;
    c->stream = STREAM_NONE;
    rwp_client_set_state(c, CL_IDLE);
    if (c->worker->cfg->pool_multiplex)
        rwp_session_release_backends(c, 0);
    rwp_client_process_input(c);
}

/* ---- the pool: attaching and releasing connections ---- */

/* What the session asks of a pooled connection to server idx. */
static void pool_want(const rwp_client *c, int idx, rwp_pool_want *want)
{
    want->user = c->user;
    want->h1 = c->has_password ? c->h1 : NULL;
    want->db = c->db;
    want->charset = c->charset;
    want->caps = c->caps;
    want->want_session_track = c->track_gtid && idx == c->master;
    want->hist = c->sess.hist;
    want->nhist = c->sess.nhist;
    want->next_chain = 0;
    if (c->state == CL_COMMAND && c->cur.session_cmd && c->cur.len > 0 &&
        !(c->cur.dec.flags & RWR_F_USER_VAR_READ)) {
        uint64_t prev = c->sess.nhist ? c->sess.hist[c->sess.nhist - 1].chain : 0;
        want->next_chain = rwr_history_chain(prev, rwp_inbuf_head(&c->in), c->cur.len);
    }
}

int rwp_session_login_known_good(rwp_client *c, int idx)
{
    rwp_pool_want want;
    pool_want(c, idx, &want);
    return rwp_pool_has_identity(&c->worker->pool, idx, &want);
}

rwp_attach_result rwp_session_attach(rwp_client *c, int idx)
{
    rwp_pool *pool = &c->worker->pool;
    rwp_pool_want want;
    pool_want(c, idx, &want);
    long from = -1;
    rwp_backend *be = rwp_pool_take(pool, idx, &want, &from);
    if (be) {
        hold_pooled(c, idx, be);
        if (from >= 0) {
            be->replayed = (size_t)from;
            return RWP_ATTACH_READY;
        }
        rwp_login login;
        rwp_client_login_params(c, idx, &login);
        rwp_backend_change_user(be, &login); /* on failure its failed callback has run */
        return RWP_ATTACH_PENDING;
    }
    if (!rwp_pool_may_open(pool, idx)) {
        if (pool->srv[idx].idle) /* idle but unfit (other capabilities): make room */
            rwp_pool_flush_server(pool, idx);
        rwp_pool_wait(pool, c, idx);
        SLOG(RWP_LOGL_DEBUG, c, (rwp_backend *)NULL, "waits for a connection to %s (max_connections)",
             c->worker->cfg->servers[idx].name);
        return RWP_ATTACH_WAIT;
    }
    return rwp_client_open_backend(c, idx) == 0 ? RWP_ATTACH_PENDING : RWP_ATTACH_FAILED;
}

/* Are statements of the session prepared on its connection to server i? */
static int has_statements(const rwp_client *c, int i)
{
    for (const rwp_stmt *st = c->stmts; st; st = st->next)
        if (st->be_id[i])
            return 1;
    return 0;
}

/* Send COM_STMT_CLOSE (no answer) for every statement of the session prepared on its
 * connection to server i. */
static void close_statements_on(rwp_client *c, int i)
{
    for (rwp_stmt *st = c->stmts; st && c->bes[i]; st = st->next) {
        if (!st->be_id[i])
            continue;
        uint8_t pkt[PROTO_HDR_LEN + 5];
        proto_hdr_write(pkt, 5, 0);
        pkt[PROTO_HDR_LEN] = COM_STMT_CLOSE;
        proto_put_u32(pkt + PROTO_HDR_LEN + 1, st->be_id[i]);
        if (rwp_backend_send_command(c->bes[i], pkt, sizeof pkt, RESP_NONE, 0) != 0)
            return;
        st->be_id[i] = 0;
    }
}

/* Must the session keep its connection to server i after the command that just finished? */
static int must_keep_backend(const rwp_client *c, int i)
{
    const rwp_backend *be = c->bes[i];
    if (be->state != BE_IDLE || be->internal) /* an idle connection is never paused */
        return 1;
    if (c->cur.keep_backend && i == c->cur.target)
        return 1;
    if (i == c->master && (rwp_session_bound_to_master(c) || c->hold_master))
        return 1;
    if (i == c->trx_replica && c->sess.ro_trx_on_replica)
        return 1;
    return has_statements(c, i);
}

/* Could a connection of an ending session serve another one after a reset? Not with a
 * transaction, locks or pinned state on it: closing it is what releases those at once. */
static int reusable_after_end(const rwp_client *c, int i)
{
    const rwp_backend *be = c->bes[i];
    if (be->state != BE_IDLE || be->internal)
        return 0;
    if (i == c->master && rwp_session_bound_to_master(c))
        return 0;
    return !(i == c->trx_replica && c->sess.ro_trx_on_replica);
}

void rwp_session_release_backends(rwp_client *c, int final)
{
    if (final)
        rwp_pool_unwait(&c->worker->pool, c);
    for (int i = 0; i < c->nservers; i++) {
        rwp_backend *be = c->bes[i];
        if (!be)
            continue;
        if (final ? !reusable_after_end(c, i) : must_keep_backend(c, i)) {
            if (final) {
                c->bes[i] = NULL;
                rwp_backend_close(be);
            }
            continue;
        }
        if (server_removed(c, i)) { /* a reload removed it: not pooled */
            drop_backend(c, i);
            continue;
        }
        size_t n = be->replayed <= c->sess.nhist ? be->replayed : 0;
        uint64_t chain = n ? c->sess.hist[n - 1].chain : 0;
        if (final)
            close_statements_on(c, i); /* the server frees them; the connection stays clean */
        int dirty = final && ((i == c->master && c->hold_master) || be->replayed > c->sess.nhist);
        c->bes[i] = NULL;
        if (i == c->prev_server) /* FOUND_ROWS(), SHOW WARNINGS may want it back */
            c->prev_lease = be->lease;
        rwp_pool_put(&c->worker->pool, be, chain, n, dirty);
    }
}

void rwp_session_pool_wake(rwp_client *c)
{
    if (c->state == CL_CONNECTING)
        rwp_client_retry_login(c);
    else if (c->state == CL_COMMAND && !c->cur.sent)
        rwp_session_dispatch(c);
}

void rwp_session_pool_timeout(rwp_client *c, uint64_t waited_ms)
{
    if (c->state == CL_CONNECTING) {
        rwp_client_fail(c, c->auth_seq, ER_CON_COUNT_ERROR, "08004",
                        "rwproxy: no connection to the server came free within %llu ms "
                        "([server] max_connections)", (unsigned long long)waited_ms);
        return;
    }
    if (c->state != CL_COMMAND || c->cur.sent)
        return;
    SLOG(RWP_LOGL_INFO, c, (rwp_backend *)NULL, "%s waited %llu ms for a backend connection: ERR 1040",
         proto_command_name(c->cur.cmd), (unsigned long long)waited_ms);
    if (c->cur.len > 0)
        rwp_inbuf_consume(&c->in, c->cur.len);
    c->cur.len = 0;
    if (proto_command_response_kind(c->cur.cmd) != RESP_NONE)
        rwp_client_send_err(c, 1, ER_CON_COUNT_ERROR, "08004",
                            "rwproxy: too many connections to the server; no backend connection came "
                            "free within [pool] wait_timeout_ms; the statement was not executed");
    rwp_client_set_state(c, CL_IDLE);
    rwp_client_process_input(c);
}
