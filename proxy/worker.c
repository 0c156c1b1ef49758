/*
 * proxy/worker.c — worker threads (see worker.h): the listener, the loop, and graceful
 * shutdown (stop accepting, let running commands finish up to shutdown_timeout_ms, then
 * close what is left and end the loop).
 */
#include "proxy/worker.h"

#include <errno.h>
#include <stdlib.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/client.h"
#include "proxy/log.h"

#define MAX_FREE_CHUNKS 256
#define LISTEN_BACKLOG 1024

/* A listening socket with SO_REUSEPORT, so every worker can bind the same address. */
static int open_listen_socket(const char *host, int port, int *fd_out)
{
    struct addrinfo hints = {0}, *res = NULL;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0)
        return UV_EINVAL;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
        int err = -errno;
        close(fd);
        freeaddrinfo(res);
        return err;
    }
    freeaddrinfo(res);
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
    w->known = calloc((size_t)p->cfg->nservers, sizeof *w->known);
    w->server_stats = calloc((size_t)p->cfg->nservers, sizeof *w->server_stats);
    w->rule_hits = calloc((size_t)p->cfg->nrules + 1, sizeof *w->rule_hits);
    if (p->cfg->ruleset)
        w->matcher = rwr_rule_matcher_new(p->cfg->ruleset);
    if (!w->known || !w->server_stats || !w->rule_hits || (p->cfg->ruleset && !w->matcher))
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

/* Take the current snapshot if it is newer than ours. Returns 1 if it changed. */
static int refresh_topology(rwp_worker *w)
{
    rwp_topology *t = rwp_topo_acquire(&w->proxy->topo);
    if (!t || t == w->topo) {
        rwp_topo_release(t);
        return 0;
    }
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
}

/* Everything is closed: end the loop by closing the worker's own handles. */
static void finish_if_empty(rwp_worker *w)
{
    if (!w->draining || w->nclients > 0)
        return;
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
