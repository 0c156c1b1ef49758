/*
 * proxy/kill.c — client id registry and KILL (see kill.h).
 */
#include "proxy/kill.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/mysql_const.h"
#include "protocol/packet.h"
#include "proxy/client.h"
#include "proxy/log.h"
#include "proxy/worker.h"

/* ---- the registry ---- */

static rwp_client **bucket_of(rwp_worker *w, uint64_t id)
{
    uint64_t n = w->proxy->nworkers > 0 ? (uint64_t)w->proxy->nworkers : 1;
    return &w->reg[(id / n) % RWP_REG_BUCKETS];
}

/* The worker that owns id (NULL if id cannot be one of ours). */
static rwp_worker *owner_of(rwp_proxy *p, uint64_t id)
{
    if (!p->workers || p->nworkers <= 0 || id == 0)
        return NULL;
    return &p->workers[id % (uint64_t)p->nworkers];
}

void rwp_kill_register(rwp_client *c)
{
    rwp_worker *w = c->worker;
    pthread_mutex_lock(&w->reg_mu);
    rwp_client **b = bucket_of(w, c->id);
    c->reg_next = *b;
    *b = c;
    c->reg_user[0] = '\0';
    c->registered = 1;
    pthread_mutex_unlock(&w->reg_mu);
}

void rwp_kill_set_user(rwp_client *c)
{
    if (!c->registered)
        return;
    pthread_mutex_lock(&c->worker->reg_mu);
    snprintf(c->reg_user, sizeof c->reg_user, "%s", c->user);
    pthread_mutex_unlock(&c->worker->reg_mu);
}

void rwp_kill_unregister(rwp_client *c)
{
    if (!c->registered)
        return;
    rwp_worker *w = c->worker;
    pthread_mutex_lock(&w->reg_mu);
    for (rwp_client **pp = bucket_of(w, c->id); *pp; pp = &(*pp)->reg_next) {
        if (*pp == c) {
            *pp = c->reg_next;
            break;
        }
    }
    c->registered = 0;
    pthread_mutex_unlock(&w->reg_mu);
}

/* Under w->reg_mu: the registered client with this id, or NULL. */
static rwp_client *find_locked(rwp_worker *w, uint64_t id)
{
    for (rwp_client *c = *bucket_of(w, id); c; c = c->reg_next)
        if (c->id == id)
            return c;
    return NULL;
}

/* ---- on the target's worker ---- */

/* A short-lived connection that sends one KILL to a server and closes. */
typedef struct {
    char sql[64];        /* KILL [QUERY] <thread id> */
    char user[128];      /* for log lines (the backend keeps a pointer) */
    uint64_t id;         /* the client whose statement is killed */
} kill_conn;

static void kc_ready(void *owner, rwp_backend *be, const uint8_t *ok, size_t len)
{
    kill_conn *k = owner;
    (void)ok;
    (void)len;
    proto_writer w;
    proto_wr_init(&w);
    proto_wr_u8(&w, COM_QUERY);
    proto_wr_bytes(&w, k->sql, strlen(k->sql));
    if (proto_wr_finish(&w, 0) != 0 || rwp_backend_send_command(be, w.data, w.len, RESP_QUERY, 0) != 0) {
        proto_wr_free(&w);
        if (be->owner) {
            be->owner = NULL;
            free(k);
            rwp_backend_close(be);
        }
        return;
    }
    proto_wr_free(&w);
}

static void kc_failed(void *owner, rwp_backend *be, const uint8_t *err, size_t len, const char *reason)
{
    kill_conn *k = owner;
    (void)be;
    (void)err;
    (void)len;
    LOG_AT(RWP_LOGL_WARN, &((rwp_log_ctx){k->id, k->user, be->name, NULL}),
           "client %llu: could not send '%s' to %s: %s", (unsigned long long)k->id, k->sql,
           be->name, reason);
    free(k); /* the backend closes itself after this */
}

static void kc_data(void *owner, rwp_backend *be, rwp_chunk *ch, const uint8_t *p, size_t len)
{
    (void)owner, (void)be, (void)ch, (void)p, (void)len;
}

static void kc_event(void *owner, rwp_backend *be, const proto_walk_event *ev)
{
    kill_conn *k = owner;
    if (ev->type == WALK_EV_ERR)
        LOG_AT(RWP_LOGL_INFO, &((rwp_log_ctx){k->id, k->user, be->name, NULL}),
               "client %llu: '%s' on %s was refused", (unsigned long long)k->id, k->sql, be->name);
}

static void kc_answered(void *owner, rwp_backend *be)
{
    kill_conn *k = owner;
    LOG_AT(RWP_LOGL_DEBUG, &((rwp_log_ctx){k->id, k->user, be->name, NULL}),
           "client %llu: '%s' sent to %s", (unsigned long long)k->id, k->sql, be->name);
    free(k);
    rwp_backend_close(be); /* detaches the owner */
}

static void kc_written(void *owner, rwp_backend *be) { (void)owner, (void)be; }

static const rwp_backend_ops kill_ops = {
    .ready = kc_ready,
    .failed = kc_failed,
    .data = kc_data,
    .event = kc_event,
    .answered = kc_answered,
    .written = kc_written,
};

/* Stop the statement c is running on be: a new connection to be's server as c's user. */
static void kill_backend_statement(rwp_client *c, rwp_backend *be, int query_only)
{
    const rwp_config *cfg = c->worker->cfg;
    if (be->server < 0 || be->server >= cfg->nservers || be->thread_id == 0)
        return;
    kill_conn *k = calloc(1, sizeof *k);
    if (!k)
        return;
    snprintf(k->sql, sizeof k->sql, "KILL %s%u", query_only ? "QUERY " : "", be->thread_id);
    snprintf(k->user, sizeof k->user, "%s", c->user);
    k->id = c->id;
    const rwp_server_cfg *s = &cfg->servers[be->server];
    rwp_login login = {0};
    snprintf(login.user, sizeof login.user, "%s", c->user);
    login.has_password = c->has_password;
    memcpy(login.h1, c->h1, sizeof login.h1);
    login.charset = c->charset;
    login.caps = c->caps & ~(uint32_t)CLIENT_CONNECT_WITH_DB;
    if (!rwp_backend_open(c->worker, be->server, s->name, s->host, s->port, &login, &kill_ops, k,
                          c->id, k->user))
        free(k);
}

typedef struct {
    uint64_t id;      /* connection to kill */
    int query_only;   /* KILL QUERY */
    int found;        /* set by the worker: the client was there */
} kill_msg;

/* The backend running c's command now, or NULL. */
static rwp_backend *running_backend(rwp_client *c)
{
    if (c->state != CL_COMMAND || !c->cur.sent || c->cur.target < 0 || c->cur.target >= c->nservers)
        return NULL;
    rwp_backend *be = c->bes[c->cur.target];
    return be && be->state == BE_BUSY && !be->internal ? be : NULL;
}

static void kill_on_worker(rwp_worker *w, void *arg)
{
    kill_msg *m = arg;
    pthread_mutex_lock(&w->reg_mu);
    rwp_client *c = find_locked(w, m->id); /* safe to use: only this thread frees clients */
    pthread_mutex_unlock(&w->reg_mu);
    if (!c || c->state == CL_CLOSING)
        return;
    m->found = 1;
    w->stats.kills++;
    rwp_backend *be = running_backend(c);
    LOG_AT(RWP_LOGL_INFO, &((rwp_log_ctx){c->id, c->user, NULL, c->peer}), "client %llu (%s): %s",
           (unsigned long long)c->id, c->user, m->query_only ? "KILL QUERY" : "KILL CONNECTION");
    if (be)
        kill_backend_statement(c, be, m->query_only);
    if (m->query_only) {
        if (c->state == CL_COMMAND && c->cur.waiting && !c->cur.sent && c->cur.len > 0) {
            /* held for a master: it never ran; answer it as interrupted */
            rwp_inbuf_consume(&c->in, c->cur.len);
            c->cur.len = 0;
            rwp_client_send_err(c, 1, ER_QUERY_INTERRUPTED, "70100", "Query execution was interrupted");
            rwp_client_set_state(c, CL_IDLE);
            rwp_client_process_input(c);
        }
        return;
    }
    if (c->state == CL_COMMAND && c->relayed > 0)
        rwp_client_close(c, "killed"); /* mid-answer: an ERR packet would corrupt it */
    else
        rwp_client_fail(c, c->state == CL_COMMAND ? 1 : 0, ER_CONNECTION_KILLED, "70100",
                        "Connection was killed");
}

/* ---- requests ---- */

int rwp_kill_request(rwp_proxy *p, uint64_t id, const char *user, int query_only)
{
    rwp_worker *w = owner_of(p, id);
    if (!w)
        return -1;
    pthread_mutex_lock(&w->reg_mu);
    rwp_client *c = find_locked(w, id);
    int found = c && (!user || (c->reg_user[0] && strcmp(c->reg_user, user) == 0));
    pthread_mutex_unlock(&w->reg_mu);
    if (!found)
        return -1;
    kill_msg m = {id, query_only, 0};
    return rwp_worker_post(w, kill_on_worker, &m, sizeof m) == 0 ? 0 : -2;
}

int rwp_kill_session_now(rwp_proxy *p, uint64_t id, int timeout_ms)
{
    rwp_worker *w = owner_of(p, id);
    if (!w)
        return -1;
    kill_msg m = {id, 0, 0};
    if (rwp_worker_call(w, kill_on_worker, &m, timeout_ms) != 0)
        return -2;
    return m.found ? 0 : -1;
}

void rwp_kill_from_client(rwp_client *c)
{
    uint64_t id = c->cur.dec.kill_id;
    int query_only = c->cur.dec.kill_query;
    rwp_inbuf_consume(&c->in, c->cur.len);
    c->cur.len = 0;
    if (id == c->id && !query_only) {
        rwp_client_fail(c, 1, ER_CONNECTION_KILLED, "70100", "Connection was killed");
        return;
    }
    int rc = id == c->id ? 0 : rwp_kill_request(c->worker->proxy, id, c->user, query_only);
    if (rc == -1) {
        char msg[64];
        snprintf(msg, sizeof msg, "Unknown thread id: %llu", (unsigned long long)id);
        rwp_client_send_err(c, 1, ER_NO_SUCH_THREAD, "HY000", msg);
        return;
    }
    if (rc == -2) {
        rwp_client_send_err(c, 1, ER_UNKNOWN_ERROR, "HY000", "rwproxy: the connection's worker is shutting down");
        return;
    }
    uint16_t status = (uint16_t)((c->sess.autocommit ? SERVER_STATUS_AUTOCOMMIT : 0) |
                                 (c->sess.in_trx ? SERVER_STATUS_IN_TRANS : 0));
    rwp_client_send_ok(c, 1, status);
}
