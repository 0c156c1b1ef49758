/*
 * proxy/worker.c — worker threads (see worker.h): the listener, the loop, and graceful
 * shutdown (stop accepting, let running commands finish up to shutdown_timeout_ms, then
 * close what is left and end the loop).
 */
#include "proxy/worker.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proxy/client.h"
#include "proxy/log.h"

#define MAX_FREE_CHUNKS 256
#define LISTEN_BACKLOG 1024
#define MAX_POSTED_JOBS 4096 /* asynchronous jobs queued on one worker at most */

/* A function to run on a worker's loop, queued by another thread. */
typedef enum {
    JOB_QUEUED = 0, /* in the worker's list */
    JOB_RUNNING,    /* taken by the worker, fn running */
    JOB_DONE        /* fn ran (rc 0), or the worker stopped first (rc -1) */
} job_state;

typedef struct rwp_worker_job {
    void (*fn)(rwp_worker *, void *); /* what to run */
    void *arg;                  /* its argument */
    job_state state;            /* see job_state (guarded by jobs_mu) */
    int rc;                     /* result for the caller */
    int posted;                 /* heap job of rwp_worker_post: freed by the worker */
    struct rwp_worker_job *next;/* the worker's list */
} rwp_worker_job;

/* A listening socket with SO_REUSEPORT, so every worker can bind the same address. */
static int open_listen_socket(const char *host, int port, int *fd_out)
{
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int rc = rwp_resolve_listen(host, port, &addr, &addrlen);
    if (rc != 0)
        return rc;
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&addr, addrlen) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    *fd_out = fd;
    return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
    rwp_worker *w = server->data;
    if (status < 0) {
        log_warn("worker %d: accept: %s", w->index, uv_strerror(status));
        return;
    }
    rwp_client_accept(w);
}

int rwp_worker_init(rwp_worker *w, rwp_proxy *p, int index)
{
    memset(w, 0, sizeof *w);
    w->index = index;
    w->proxy = p;
    w->cfg = p->cfg;
    w->rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)(index + 1) * 0x100000001B3ull) ^ (uint64_t)uv_hrtime();
    rwp_chunk_pool_init(&w->chunks, MAX_FREE_CHUNKS);
    /* per-server arrays sized for every slot a reload may add (server indexes never move) */
    w->known = calloc(RWP_MAX_SERVERS, sizeof *w->known);
    w->server_stats = calloc(RWP_MAX_SERVERS, sizeof *w->server_stats);
    w->rule_hits = calloc((size_t)p->cfg->nrules + 1, sizeof *w->rule_hits);
    if (p->cfg->ruleset)
        w->matcher = rwr_rule_matcher_new(p->cfg->ruleset);
    w->start_ns = uv_hrtime();
    rwp_digests_init(&w->digests, RWP_DIGESTS_MAX);
    int pool_rc = rwp_pool_init(&w->pool, w, RWP_MAX_SERVERS);
    /* the mutexes stay valid until exit: the admin side may still look ids up or try a call
     * while a worker shuts down */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->jobs_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->jobs_mu, NULL);
    pthread_mutex_init(&w->reg_mu, NULL);
    if (!w->known || !w->server_stats || !w->rule_hits || (p->cfg->ruleset && !w->matcher) ||
        pool_rc != 0)
        return UV_ENOMEM;
    int rc = uv_loop_init(&w->loop);
    if (rc < 0)
        return rc;
    int fd = -1;
    rc = open_listen_socket(p->cfg->listen_host, p->cfg->listen_port, &fd);
    if (rc < 0)
        return rc;
    uv_tcp_init(&w->loop, &w->listener);
    w->listener.data = w;
    rc = uv_tcp_open(&w->listener, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&w->listener, LISTEN_BACKLOG, on_connection);
    w->listening = 1;
    return rc;
}

static void close_if_open(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Topology listener: runs on the monitor's thread, only pokes the worker's loop. */
static void poke_worker(void *arg)
{
    rwp_worker *w = arg;
    uv_async_send(&w->topo_async);
}

/* Every client looks at the world again: held commands, master moves, dead servers. */
static void recheck_clients(rwp_worker *w)
{
    uint64_t now = uv_now(&w->loop);
    rwp_client *next;
    for (rwp_client *c = w->clients; c; c = next) {
        next = c->next;
        rwp_client_tick(c, now);
    }
}

int rwp_worker_server_removed(const rwp_worker *w, const rwp_topology *t, int i)
{
    return (t && i < t->nservers && t->servers[i].removed) ||
           (i < w->cfg->nservers && w->cfg->servers[i].removed);
}

/* Pooled connections to a server that is not up any more, or to every server when the master
 * moved (its connections track last_gtid; the others' do not), are closed. */
static void refresh_pools(rwp_worker *w, const rwp_topology *old, const rwp_topology *t)
{
    int moved = old && old->writer != t->writer;
    for (int i = 0; i < t->nservers && i < w->pool.nservers; i++) {
        int health = t->servers[i].health;
        if (moved || rwp_worker_server_removed(w, t, i) || (health != SRV_UP && health != SRV_LAGGING))
            rwp_pool_flush_server(&w->pool, i);
    }
}

/* What the monitor read of each server's @@gtid_current_pos is applied there for good: causal
 * reads may pick those replicas without a MASTER_GTID_WAIT, whichever worker learned it. */
static void learn_positions(rwp_worker *w, const rwp_topology *t)
{
    for (int i = 0; i < t->nservers && i < RWP_MAX_SERVERS; i++) {
        const char *text = t->servers[i].gtid_current_pos;
        rwr_gtid_pos at;
        if (text[0] && rwr_gtid_parse(text, strlen(text), &at) == 0)
            rwr_gtid_merge(&w->known[i], &at);
    }
}

/* Take the current snapshot if it is newer than ours. Returns 1 if it changed. */
static int refresh_topology(rwp_worker *w)
{
    rwp_topology *t = rwp_topo_acquire(&w->proxy->topo);
    if (!t || t == w->topo) {
        rwp_topo_release(t);
        return 0;
    }
    refresh_pools(w, w->topo, t);
    learn_positions(w, t);
    rwp_topo_release(w->topo);
    w->topo = t;
    return 1;
}

/* A new snapshot was published: route with it from now on. */
static void on_topology(uv_async_t *a)
{
    rwp_worker *w = a->data;
    if (refresh_topology(w))
        recheck_clients(w);
}

static void on_tick(uv_timer_t *t)
{
    rwp_worker *w = t->data;
    refresh_topology(w);
    recheck_clients(w);
    rwp_pool_tick(&w->pool, uv_now(&w->loop));
    if (w->index == 0) /* the "suppressed N failed-login messages" line, once the flood stops */
        rwp_log_limit_flush(&rwp_failed_login_limit, RWP_LOGL_WARN);
}

/* ---- jobs from other threads ---- */

static void job_unlink(rwp_worker *w, rwp_worker_job *j)
{
    rwp_worker_job *prev = NULL;
    for (rwp_worker_job *x = w->jobs; x; prev = x, x = x->next) {
        if (x != j)
            continue;
        if (prev)
            prev->next = x->next;
        else
            w->jobs = x->next;
        if (w->jobs_tail == x)
            w->jobs_tail = prev;
        return;
    }
}

/* Queue j and poke the loop; -1 if the worker takes no jobs (not started or stopping). */
static int job_queue_locked(rwp_worker *w, rwp_worker_job *j)
{
    if (!w->jobs_open)
        return -1;
    j->next = NULL;
    if (w->jobs_tail)
        w->jobs_tail->next = j;
    else
        w->jobs = j;
    w->jobs_tail = j;
    uv_async_send(&w->jobs_async); /* under jobs_mu: the handle cannot be closing */
    return 0;
}

static void on_jobs(uv_async_t *a)
{
    rwp_worker *w = a->data;
    pthread_mutex_lock(&w->jobs_mu);
    rwp_worker_job *j;
    while ((j = w->jobs) != NULL) {
        w->jobs = j->next;
        if (!w->jobs)
            w->jobs_tail = NULL;
        j->state = JOB_RUNNING;
        pthread_mutex_unlock(&w->jobs_mu);
        j->fn(w, j->arg);
        pthread_mutex_lock(&w->jobs_mu);
        if (j->posted) {
            w->njobs_posted--;
            free(j);
        } else {
            j->rc = 0;
            j->state = JOB_DONE; /* the caller may return (and its stack go) from here on */
            pthread_cond_broadcast(&w->jobs_cv);
        }
    }
    pthread_mutex_unlock(&w->jobs_mu);
}

/* The loop is ending: refuse new jobs and drop the queued ones (callers get -1). */
static void close_jobs(rwp_worker *w)
{
    pthread_mutex_lock(&w->jobs_mu);
    if (!w->jobs_open) {
        pthread_mutex_unlock(&w->jobs_mu);
        return;
    }
    w->jobs_open = 0;
    rwp_worker_job *j = w->jobs;
    w->jobs = w->jobs_tail = NULL;
    while (j) {
        rwp_worker_job *next = j->next;
        if (j->posted) {
            free(j);
        } else {
            j->rc = -1;
            j->state = JOB_DONE;
        }
        j = next;
    }
    w->njobs_posted = 0;
    pthread_cond_broadcast(&w->jobs_cv);
    uv_close((uv_handle_t *)&w->jobs_async, NULL);
    pthread_mutex_unlock(&w->jobs_mu);
}

int rwp_worker_call(rwp_worker *w, void (*fn)(rwp_worker *, void *), void *arg, int timeout_ms)
{
    rwp_worker_job j = {.fn = fn, .arg = arg, .state = JOB_QUEUED};
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->jobs_mu);
    if (job_queue_locked(w, &j) != 0) {
        pthread_mutex_unlock(&w->jobs_mu);
        return -1;
    }
    while (j.state != JOB_DONE) {
        if (j.state == JOB_RUNNING) {
            pthread_cond_wait(&w->jobs_cv, &w->jobs_mu);
            continue;
        }
        if (pthread_cond_timedwait(&w->jobs_cv, &w->jobs_mu, &deadline) == ETIMEDOUT &&
            j.state == JOB_QUEUED) {
            job_unlink(w, &j); /* withdrawn: fn will not run */
            pthread_mutex_unlock(&w->jobs_mu);
            return -1;
        }
    }
    int rc = j.rc;
    pthread_mutex_unlock(&w->jobs_mu);
    return rc;
}

int rwp_worker_post(rwp_worker *w, void (*fn)(rwp_worker *, void *), const void *data, size_t len)
{
    rwp_worker_job *j = malloc(sizeof *j + len);
    if (!j)
        return -1;
    memset(j, 0, sizeof *j);
    j->fn = fn;
    j->arg = j + 1;
    j->posted = 1;
    if (len)
        memcpy(j + 1, data, len);
    pthread_mutex_lock(&w->jobs_mu);
    int rc = w->njobs_posted < MAX_POSTED_JOBS ? job_queue_locked(w, j) : -1;
    if (rc == 0)
        w->njobs_posted++;
    pthread_mutex_unlock(&w->jobs_mu);
    if (rc != 0)
        free(j);
    return rc;
}

/* Everything is closed: end the loop by closing the worker's own handles. */
static void finish_if_empty(rwp_worker *w)
{
    if (!w->draining || w->nclients > 0)
        return;
    for (int i = 0; i < w->pool.nservers; i++)
        rwp_pool_flush_server(&w->pool, i);
    close_jobs(w);
    rwp_topo_unlisten(&w->proxy->topo, poke_worker, w);
    close_if_open((uv_handle_t *)&w->drain_timer);
    close_if_open((uv_handle_t *)&w->wakeup);
    close_if_open((uv_handle_t *)&w->topo_async);
    close_if_open((uv_handle_t *)&w->tick);
}

static void on_drain_deadline(uv_timer_t *t)
{
    rwp_worker *w = t->data;
    log_warn("worker %d: shutdown deadline reached, closing %zu connections", w->index, w->nclients);
    for (rwp_client *c = w->clients; c; c = c->next)
        rwp_client_abort(c, "shutdown deadline");
}

static void begin_drain(rwp_worker *w)
{
    if (w->draining)
        return;
    w->draining = 1;
    if (w->listening) {
        close_if_open((uv_handle_t *)&w->listener);
        w->listening = 0;
    }
    int ms = w->cfg->shutdown_timeout_ms > 0 ? w->cfg->shutdown_timeout_ms : 10000;
    uv_timer_start(&w->drain_timer, on_drain_deadline, (uint64_t)ms, 0);
    rwp_client *next;
    for (rwp_client *c = w->clients; c; c = next) {
        next = c->next;
        rwp_client_drain(c);
    }
    finish_if_empty(w);
}

static void on_wakeup(uv_async_t *a)
{
    rwp_worker *w = a->data;
    if (atomic_load(&w->stop_requested))
        begin_drain(w);
}

static void worker_main(void *arg)
{
    rwp_worker *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

int rwp_worker_start(rwp_worker *w)
{
    uv_async_init(&w->loop, &w->wakeup, on_wakeup);
    w->wakeup.data = w;
    uv_timer_init(&w->loop, &w->drain_timer);
    w->drain_timer.data = w;
    uv_async_init(&w->loop, &w->topo_async, on_topology);
    w->topo_async.data = w;
    uv_timer_init(&w->loop, &w->tick);
    w->tick.data = w;
    uv_timer_start(&w->tick, on_tick, RWP_TICK_MS, RWP_TICK_MS);
    uv_async_init(&w->loop, &w->jobs_async, on_jobs);
    w->jobs_async.data = w;
    pthread_mutex_lock(&w->jobs_mu);
    w->jobs_open = 1;
    pthread_mutex_unlock(&w->jobs_mu);
    w->topo = rwp_topo_acquire(&w->proxy->topo);
    if (rwp_topo_listen(&w->proxy->topo, poke_worker, w) != 0)
        log_warn("worker %d: too many topology listeners; it follows changes on its tick only", w->index);
    return uv_thread_create(&w->thread, worker_main, w);
}

void rwp_worker_request_stop(rwp_worker *w)
{
    atomic_store(&w->stop_requested, 1);
    uv_async_send(&w->wakeup);
}

void rwp_worker_join(rwp_worker *w)
{
    uv_thread_join(&w->thread);
    uv_run(&w->loop, UV_RUN_NOWAIT); /* run the last close callbacks */
    if (uv_loop_close(&w->loop) != 0)
        log_warn("worker %d: loop closed with handles still open", w->index);
    rwp_chunk_pool_destroy(&w->chunks);
    rwp_topo_release(w->topo);
    w->topo = NULL;
    free(w->known);
    free(w->server_stats);
    free(w->rule_hits);
    rwr_rule_matcher_free(w->matcher);
    rwp_digests_free(&w->digests);
    rwp_pool_free(&w->pool);
    w->known = NULL;
    w->server_stats = NULL;
    w->rule_hits = NULL;
    w->matcher = NULL;
}

uint64_t rwp_worker_next_id(rwp_worker *w)
{
    uint64_t n = (uint64_t)w->proxy->nworkers;
    return ++w->next_seq * n + (uint64_t)w->index;
}

void rwp_worker_client_gone(rwp_worker *w) { finish_if_empty(w); }

/* ---- client connections per user (the [user.NAME] max_connections limit) ---- */

/* One user's count; a short list (one entry per user name seen), searched under users_mu. */
struct rwp_user_conns {
    char name[128];                /* user name */
    int n;                         /* client connections counted for it */
    struct rwp_user_conns *next;   /* next user */
};

static struct rwp_user_conns *user_entry(rwp_proxy *p, const char *user, int create)
{
    for (struct rwp_user_conns *u = p->user_conns; u; u = u->next)
        if (strcmp(u->name, user) == 0)
            return u;
    if (!create)
        return NULL;
    struct rwp_user_conns *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    snprintf(u->name, sizeof u->name, "%s", user);
    u->next = p->user_conns;
    p->user_conns = u;
    return u;
}

int rwp_user_conn_take(rwp_proxy *p, const char *user, int max)
{
    pthread_mutex_lock(&p->users_mu);
    struct rwp_user_conns *u = user_entry(p, user, 1);
    int rc = -1;
    if (u && (max <= 0 || u->n < max)) {
        u->n++;
        rc = 0;
    }
    pthread_mutex_unlock(&p->users_mu);
    return rc;
}

void rwp_user_conn_release(rwp_proxy *p, const char *user)
{
    pthread_mutex_lock(&p->users_mu);
    struct rwp_user_conns *u = user_entry(p, user, 0);
    if (u && u->n > 0)
        u->n--;
    pthread_mutex_unlock(&p->users_mu);
}

void rwp_user_conns_free(rwp_proxy *p)
{
    while (p->user_conns) {
        struct rwp_user_conns *u = p->user_conns;
        p->user_conns = u->next;
        free(u);
    }
}
