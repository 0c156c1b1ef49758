/*
 * proxy/pool.c — a worker's backend connection pool (see pool.h): idle lists per server,
 * the choice of the connection that needs the least work for a session, idle and wait
 * timeouts, and the per-worker share of each server's max_connections.
 */
#include "proxy/pool.h"

#include <stdlib.h>
#include <string.h>

#include "proxy/backend.h"
#include "proxy/client.h"
#include "proxy/log.h"
#include "proxy/worker.h"

#define TAKE_SCAN_MAX 64 /* idle connections looked at for the best state match */

static const rwp_backend_ops pool_ops;

int rwp_pool_init(rwp_pool *p, rwp_worker *w, int nservers)
{
    memset(p, 0, sizeof *p);
    p->worker = w;
    p->nservers = nservers;
    p->srv = calloc((size_t)(nservers > 0 ? nservers : 1), sizeof *p->srv);
    return p->srv ? 0 : -1;
}

static void unlink_idle(rwp_pool *p, rwp_backend *be)
{
    if (!be->in_pool)
        return;
    rwp_pool_server *s = &p->srv[be->server];
    if (be->pool_prev)
        be->pool_prev->pool_next = be->pool_next;
    else
        s->idle = be->pool_next;
    if (be->pool_next)
        be->pool_next->pool_prev = be->pool_prev;
    else
        s->idle_tail = be->pool_prev;
    be->pool_prev = be->pool_next = NULL;
    be->in_pool = 0;
    s->nidle--;
}

/* Close a pooled connection (it leaves the list first). */
static void close_idle(rwp_pool *p, rwp_backend *be)
{
    unlink_idle(p, be);
    rwp_backend_close(be);
}

void rwp_pool_free(rwp_pool *p)
{
    for (int i = 0; i < p->nservers; i++)
        while (p->srv[i].idle)
            close_idle(p, p->srv[i].idle);
    free(p->srv);
    p->srv = NULL;
    p->nservers = 0;
}

void rwp_pool_opened(rwp_pool *p, rwp_backend *be)
{
    if (be->server >= 0 && be->server < p->nservers)
        p->srv[be->server].open++;
}

/* Wake the oldest session waiting for server (a connection came free or may be opened). */
static void wake_waiter(rwp_pool *p, int server)
{
    rwp_client *c = p->srv[server].wait_head;
    if (!c)
        return;
    rwp_pool_unwait(p, c);
    rwp_session_pool_wake(c);
}

void rwp_pool_closed(rwp_pool *p, rwp_backend *be)
{
    if (be->server < 0 || be->server >= p->nservers)
        return;
    unlink_idle(p, be);
    p->srv[be->server].open--;
    wake_waiter(p, be->server);
}

int rwp_pool_may_open(const rwp_pool *p, int server)
{
    const rwp_worker *w = p->worker;
    int max = w->cfg->servers[server].max_connections;
    if (max <= 0 || !w->cfg->pool_multiplex)
        return 1; /* without multiplexing the limit steers replica choice only (session.c) */
    int n = w->proxy->nworkers > 0 ? w->proxy->nworkers : 1;
    int share = max / n; /* rounded down: the workers together never exceed max */
    return p->srv[server].open < (share > 0 ? share : 1);
}

/* Is be logged in as the session would log in (user, password, schema, charset)? */
static int same_identity(const rwp_backend *be, const rwp_pool_want *want)
{
    const rwp_login *l = &be->login;
    if (strcmp(l->user, want->user) != 0 || strcmp(l->db, want->db) != 0 ||
        l->charset != want->charset)
        return 0;
    if (!want->h1)
        return !l->has_password;
    return l->has_password && memcmp(l->h1, want->h1, sizeof l->h1) == 0;
}

/* How many of the session's history entries be has already run (-1: its state is not a
 * prefix of the session's). */
static long state_prefix(const rwp_backend *be, const rwp_pool_want *want)
{
    if (be->st_dirty)
        return -1;
    if (want->next_chain && be->st_n == want->nhist + 1 && be->st_chain == want->next_chain)
        return (long)want->nhist;
    if (be->st_n > want->nhist)
        return -1;
    if (be->st_n == 0)
        return 0;
    return want->hist[be->st_n - 1].chain == be->st_chain ? (long)be->st_n : -1;
}

rwp_backend *rwp_pool_take(rwp_pool *p, int server, const rwp_pool_want *want, long *replay_from)
{
    rwp_pool_server *s = &p->srv[server];
    rwp_backend *best = NULL, *any = NULL;
    long best_n = -1;
    int scanned = 0;
    for (rwp_backend *be = s->idle; be && scanned < TAKE_SCAN_MAX; be = be->pool_next, scanned++) {
        if (be->login.caps != want->caps || be->login.want_session_track != want->want_session_track)
            continue;
        if (!any)
            any = be;
        if (!same_identity(be, want))
            continue;
        long n = state_prefix(be, want);
        if (n > best_n) {
            best = be;
            best_n = n;
            if ((size_t)n == want->nhist)
                break; /* exactly the session's state */
        }
    }
    rwp_backend *be = best ? best : any;
    if (!be)
        return NULL;
    unlink_idle(p, be);
    be->lease++;
    *replay_from = best ? best_n : -1;
    if (best && (size_t)best_n < want->nhist)
        s->stats.replayed++;
    if (best)
        s->stats.reused++;
    else
        s->stats.reset++;
    return be;
}

int rwp_pool_has_identity(const rwp_pool *p, int server, const rwp_pool_want *want)
{
    int scanned = 0;
    for (const rwp_backend *be = p->srv[server].idle; be && scanned < TAKE_SCAN_MAX;
         be = be->pool_next, scanned++)
        if (be->login.caps == want->caps && be->login.want_session_track == want->want_session_track &&
            same_identity(be, want))
            return 1;
    return 0;
}

rwp_backend *rwp_pool_reclaim(rwp_pool *p, int server, uint64_t owner, uint64_t lease)
{
    int scanned = 0;
    for (rwp_backend *be = p->srv[server].idle; be && scanned < TAKE_SCAN_MAX;
         be = be->pool_next, scanned++) {
        if (be->last_owner == owner && be->lease == lease) {
            unlink_idle(p, be);
            be->lease++;
            p->srv[server].stats.reused++;
            return be;
        }
    }
    return NULL;
}

/* The per-worker share of [pool] max_idle for one server. */
static int idle_share(const rwp_pool *p)
{
    const rwp_worker *w = p->worker;
    int n = w->proxy->nworkers > 0 ? w->proxy->nworkers : 1;
    return (w->cfg->pool_max_idle + n - 1) / n;
}

/* Put be at the front of its server's idle list (most recently used first). */
static void push_idle(rwp_pool *p, rwp_backend *be)
{
    rwp_pool_server *s = &p->srv[be->server];
    be->in_pool = 1;
    be->pool_prev = NULL;
    be->pool_next = s->idle;
    if (s->idle)
        s->idle->pool_prev = be;
    else
        s->idle_tail = be;
    s->idle = be;
    s->nidle++;
    be->pooled_ms = uv_now(&p->worker->loop);
}

void rwp_pool_put(rwp_pool *p, rwp_backend *be, uint64_t chain, size_t n, int dirty)
{
    rwp_pool_server *s = &p->srv[be->server];
    s->stats.released++;
    if (be->state != BE_IDLE || be->internal || p->worker->draining) {
        rwp_backend_close(be);
        return;
    }
    be->st_chain = chain;
    be->st_n = n;
    be->st_dirty = dirty;
    rwp_backend_adopt(be, &pool_ops, p, 0, NULL);
    if (s->wait_head) {
        /* someone waits for this server: the connection goes straight to them */
        push_idle(p, be);
        wake_waiter(p, be->server);
        return;
    }
    if (s->nidle >= idle_share(p)) {
        s->stats.overflow++;
        if (!s->idle_tail || idle_share(p) == 0) {
            rwp_backend_close(be);
            return;
        }
        close_idle(p, s->idle_tail); /* keep the warm ones */
    }
    push_idle(p, be);
}

void rwp_pool_flush_server(rwp_pool *p, int server)
{
    if (server < 0 || server >= p->nservers)
        return;
    while (p->srv[server].idle)
        close_idle(p, p->srv[server].idle);
}

void rwp_pool_tick(rwp_pool *p, uint64_t now)
{
    const rwp_config *cfg = p->worker->cfg;
    uint64_t idle_ms = (uint64_t)cfg->pool_idle_timeout_s * 1000;
    uint64_t wait_ms = (uint64_t)cfg->pool_wait_timeout_ms;
    for (int i = 0; i < p->nservers; i++) {
        rwp_pool_server *s = &p->srv[i];
        while (s->idle_tail && now - s->idle_tail->pooled_ms >= idle_ms) {
            s->stats.expired++;
            close_idle(p, s->idle_tail);
        }
        while (s->wait_head && now - s->wait_head->pool_wait_ms >= wait_ms) {
            rwp_client *c = s->wait_head;
            rwp_pool_unwait(p, c);
            s->stats.wait_timeouts++;
            rwp_session_pool_timeout(c, now - c->pool_wait_ms);
        }
    }
}

void rwp_pool_wait(rwp_pool *p, rwp_client *c, int server)
{
    if (c->pool_wait_server >= 0)
        return;
    rwp_pool_server *s = &p->srv[server];
    c->pool_wait_server = server;
    c->pool_wait_ms = uv_now(&p->worker->loop);
    c->pool_wait_next = NULL;
    c->pool_wait_prev = s->wait_tail;
    if (s->wait_tail)
        s->wait_tail->pool_wait_next = c;
    else
        s->wait_head = c;
    s->wait_tail = c;
    s->nwait++;
    s->stats.waits++;
}

void rwp_pool_unwait(rwp_pool *p, rwp_client *c)
{
    int server = c->pool_wait_server;
    if (server < 0 || server >= p->nservers)
        return;
    rwp_pool_server *s = &p->srv[server];
    if (c->pool_wait_prev)
        c->pool_wait_prev->pool_wait_next = c->pool_wait_next;
    else
        s->wait_head = c->pool_wait_next;
    if (c->pool_wait_next)
        c->pool_wait_next->pool_wait_prev = c->pool_wait_prev;
    else
        s->wait_tail = c->pool_wait_prev;
    c->pool_wait_next = c->pool_wait_prev = NULL;
    c->pool_wait_server = -1;
    s->nwait--;
}

/* ---- callbacks of idle pooled connections ---- */

static void pooled_failed(void *owner, rwp_backend *be, const uint8_t *err, size_t len,
                          const char *reason)
{
    (void)err;
    (void)len;
    (void)reason;
    unlink_idle(owner, be); /* the backend closes itself after this */
}

static void pooled_ignore(void *owner, rwp_backend *be) { (void)owner; (void)be; }

static const rwp_backend_ops pool_ops = {
    .ready = NULL,
    .failed = pooled_failed,
    .data = NULL,
    .event = NULL,
    .answered = pooled_ignore,
    .written = pooled_ignore,
};
