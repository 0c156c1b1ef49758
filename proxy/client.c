/*
 * proxy/client.c — client connections (see client.h). Owns the client side of the
 * protocol: greeting, authentication (mysql_native_password, auth switch for clients that
 * start with another plugin, password_hash users), COM_CHANGE_USER, the ordered command
 * loop over the input buffer, relaying answers from the session's backends, LOCAL INFILE
 * and >16 MiB streaming, backpressure, and the single failure/close path. Where each
 * command goes is proxy/session.c's business.
 */
#include "proxy/client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/handshake.h"
#include "protocol/mysql_const.h"
#include "protocol/packet.h"
#include "protocol/response.h"
#include "proxy/kill.h"
#include "proxy/log.h"
#include "proxy/tls.h"
#include "proxy/users.h"
#include "proxy/worker.h"

/* What rwproxy offers clients: everything it relays faithfully. CLIENT_MYSQL (bit 0) is set,
 * so no MariaDB extended capability (bulk execute, progress, metadata cache) is offered. */
#define OFFERED_CAPS                                                                           \
    (CLIENT_LONG_PASSWORD | CLIENT_FOUND_ROWS | CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB |     \
     CLIENT_NO_SCHEMA | CLIENT_ODBC | CLIENT_LOCAL_FILES | CLIENT_IGNORE_SPACE |                \
     CLIENT_PROTOCOL_41 | CLIENT_INTERACTIVE | CLIENT_IGNORE_SIGPIPE | CLIENT_TRANSACTIONS |    \
     CLIENT_RESERVED | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS |                     \
     CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS | CLIENT_PLUGIN_AUTH |                      \
     CLIENT_CONNECT_ATTRS | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_SESSION_TRACK |     \
     CLIENT_DEPRECATE_EOF)

#define AUTH_MAX_PACKET     (64u * 1024u)       /* login packets larger than this are refused */
#define PIPELINE_MAX_BUFFER (1u * 1024u * 1024u) /* stop reading pipelined commands above this */
#define CLOSE_GUARD_MS      5000                 /* a close that cannot flush ends after this */

static const char *const client_state_names[] = {"handshake", "auth_switch", "connecting",
                                                 "idle", "command", "closing"};

#define CLOG(lvl, c, ...)                                                                    \
    do {                                                                                    \
        rwp_backend *be_ = current_backend(c);                                              \
        rwp_log_ctx ctx_ = {(c)->id, (c)->user, be_ ? be_->name : NULL, (c)->peer};         \
        LOG_AT(lvl, &ctx_, __VA_ARGS__);                                                    \
    } while (0)

static void start_backend_login(rwp_client *c);
static void account_input(rwp_client *c);
static void uncount_user(rwp_client *c);
static void packet_too_large(rwp_client *c);

/* The backend serving the command in flight, or NULL. */
static rwp_backend *current_backend(const rwp_client *c)
{
    if (c->state != CL_COMMAND || c->cur.target < 0 || c->cur.target >= c->nservers)
        return NULL;
    return c->bes[c->cur.target];
}

/* [limits] writeq_high_water / writeq_low_water: above the first, the side feeding a slow
 * peer stops being read; below the second, it is read again. */
static size_t high_water(const rwp_client *c) { return (size_t)c->worker->cfg->writeq_high_water; }
static size_t low_water(const rwp_client *c) { return (size_t)c->worker->cfg->writeq_low_water; }

void rwp_client_set_state(rwp_client *c, rwp_client_state st)
{
    if (c->state == st)
        return;
    CLOG(RWP_LOGL_DEBUG, c, "client %s -> %s", client_state_names[c->state], client_state_names[st]);
    c->state = st;
    if (st == CL_IDLE)
        c->last_active_ms = uv_now(&c->worker->loop);
}

/* ---- writing to the client ---- */

static void resume_backend_if_drained(rwp_client *c)
{
    rwp_backend *be = current_backend(c);
    if (be && be->paused && rwp_write_queued((uv_stream_t *)&c->tcp) < low_water(c))
        rwp_backend_resume(be);
}

static void on_client_written(uv_stream_t *s, int status)
{
    rwp_client *c = s->data;
    if (status < 0 && status != UV_ECANCELED) {
        rwp_client_close(c, uv_strerror(status));
        return;
    }
    resume_backend_if_drained(c);
}

int rwp_client_write_chunk(rwp_client *c, rwp_chunk *ch, const uint8_t *p, size_t len, rwp_write_done_fn done)
{
    if (c->tls)
        return rwp_tls_write(c->tls, (uv_stream_t *)&c->tcp, p, len, done);
    return rwp_write_chunk((uv_stream_t *)&c->tcp, ch, p, len, done);
}

int rwp_client_write_owned(rwp_client *c, uint8_t *heap, size_t len, rwp_write_done_fn done)
{
    if (c->tls) {
        int rc = rwp_tls_write(c->tls, (uv_stream_t *)&c->tcp, heap, len, done);
        free(heap);
        return rc;
    }
    return rwp_write_owned((uv_stream_t *)&c->tcp, heap, len, done);
}

/* Send a packet built in w (ownership of its buffer passes on). */
static void send_writer(rwp_client *c, proto_writer *w)
{
    if (w->err) {
        proto_wr_free(w);
        rwp_client_close(c, "cannot build a packet");
        return;
    }
    c->worker->stats.bytes_out += w->len;
    int rc = rwp_client_write_owned(c, w->data, w->len, on_client_written);
    w->data = NULL;
    proto_wr_free(w);
    if (rc < 0)
        rwp_client_close(c, uv_strerror(rc));
}

void rwp_client_send_err(rwp_client *c, uint8_t seq, uint16_t code, const char *sqlstate, const char *msg)
{
    proto_writer w;
    proto_wr_init(&w);
    proto_err_encode(&w, seq, code, sqlstate, msg);
    send_writer(c, &w);
}

void rwp_client_send_ok(rwp_client *c, uint8_t seq, uint16_t status)
{
    proto_writer w;
    proto_wr_init(&w);
    proto_ok_encode(&w, seq, 0, 0, status, 0, NULL, c->caps);
    send_writer(c, &w);
}

/* ---- closing ---- */

static void on_handle_closed(uv_handle_t *h)
{
    rwp_client *c = h->data;
    if (--c->handles_open > 0)
        return;
    rwp_worker *w = c->worker;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nclients--;
    if (c->counted)
        atomic_fetch_sub(&w->proxy->nclients, 1);
    uncount_user(c);
    rwp_kill_unregister(c);
    rwp_inbuf_free(&c->in);
    account_input(c);
    rwp_tls_free(c->tls);
    rwp_session_free(c);
    free(c->attrs);
    free(c);
    rwp_worker_client_gone(w);
}

static void close_handles(rwp_client *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&c->timer))
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_shutdown_done(uv_shutdown_t *req, int status)
{
    (void)status;
    close_handles(req->data);
}

static void on_close_guard(uv_timer_t *t) { close_handles(t->data); }

/* The session ends: its connections go back to the pool where they can serve others, the
 * rest are closed. */
static void release_backends(rwp_client *c)
{
    rwp_session_release_backends(c, 1);
}

/* The one way out: flush what is queued (bounded by a guard timer), then close. */
void rwp_client_close(rwp_client *c, const char *reason)
{
    if (c->state == CL_CLOSING)
        return;
    CLOG(RWP_LOGL_DEBUG, c, "closing client %s: %s", c->peer, reason);
    release_backends(c);
    rwp_client_set_state(c, CL_CLOSING);
    if (c->reading)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, on_close_guard, CLOSE_GUARD_MS, 0);
    c->shutdown_req.data = c;
    if (c->tls)
        rwp_tls_close_notify(c->tls, (uv_stream_t *)&c->tcp);
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown_done) < 0)
        close_handles(c);
}

/* Tell the client what went wrong (a proper ERR packet), log it once, close. */
void rwp_client_fail(rwp_client *c, uint8_t seq, uint16_t code, const char *sqlstate,
                     const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->state == CL_CLOSING)
        return;
    CLOG(RWP_LOGL_INFO, c, "client %s: error %u (%s): %s", c->peer, code, sqlstate, msg);
    rwp_client_send_err(c, seq, code, sqlstate, msg);
    rwp_client_close(c, msg);
}

/* ---- reading from the client ---- */

/* Keep the worker's total of client input buffer bytes up to date with c's buffer. */
static void account_input(rwp_client *c)
{
    size_t cap = c->in.data ? c->in.cap : 0;
    c->worker->client_in_bytes += cap - c->in_accounted;
    c->in_accounted = cap;
}

/* Is the worker over [limits] worker_buffer_limit while c is in the middle of a packet (it
 * would need more memory to finish it)? Such a client is cut off; others go on. */
static int input_over_budget(const rwp_client *c)
{
    int64_t limit = c->worker->cfg->worker_buffer_limit;
    return limit > 0 && rwp_inbuf_len(&c->in) > 0 && (int64_t)c->worker->client_in_bytes > limit;
}

static void on_client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    rwp_client *c = h->data;
    size_t avail = 0;
    (void)suggested;
    if (input_over_budget(c)) {
        c->in_denied = 1;
        *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS to on_client_read */
        return;
    }
    if (c->tls) { /* ciphertext goes to a pooled chunk, plaintext to c->in */
        rwp_chunk *ch = rwp_chunk_get(&c->worker->chunks);
        *buf = ch ? uv_buf_init((char *)ch->data, RWP_CHUNK_SIZE) : uv_buf_init(NULL, 0);
        return;
    }
    uint8_t *p = rwp_inbuf_reserve(&c->in, 16384, &avail);
    account_input(c);
    *buf = p ? uv_buf_init((char *)p, (unsigned)(avail > 65536 ? 65536 : avail)) : uv_buf_init(NULL, 0);
}

void rwp_client_pause_reading(rwp_client *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    c->read_paused = 1;
}

static void on_client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void resume_reading(rwp_client *c)
{
    c->read_paused = 0;
    if (!c->reading && c->state != CL_CLOSING) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_client_alloc, on_client_read) == 0)
            c->reading = 1;
    }
}

/* Decrypt what the TLS engine holds into c->in and send what it produced (handshake
 * messages, alerts). 0, or -1 if the client was closed (a failed handshake: just closed). */
static int tls_pull(rwp_client *c)
{
    int rc = rwp_tls_read_all(c->tls, &c->in);
    int wrc = rwp_tls_flush(c->tls, (uv_stream_t *)&c->tcp, on_client_written);
    if (rc == RWP_TLS_EOF) {
        rwp_client_close(c, "client closed the TLS session");
        return -1;
    }
    if (rc < 0) {
        CLOG(RWP_LOGL_INFO, c, "client %s: %s", c->peer, rwp_tls_error(c->tls));
        rwp_client_close(c, rwp_tls_error(c->tls));
        return -1;
    }
    if (wrc < 0) {
        rwp_client_close(c, uv_strerror(wrc));
        return -1;
    }
    return 0;
}

/* Right after the SSL request: bytes already read behind it are the start of the TLS
 * handshake. 0 (the loop goes on with whatever plaintext came out), or -1 if closed. */
static int tls_takeover(rwp_client *c)
{
    size_t n = rwp_inbuf_len(&c->in);
    if (n > 0 && rwp_tls_feed(c->tls, rwp_inbuf_head(&c->in), n) != 0) {
        rwp_client_close(c, rwp_tls_error(c->tls));
        return -1;
    }
    rwp_inbuf_consume(&c->in, n);
    return tls_pull(c);
}

/* A read on a TLS connection: ciphertext in a chunk (always returned to the pool). */
static void on_client_tls_read(rwp_client *c, ssize_t nread, const uv_buf_t *buf)
{
    rwp_chunk *ch = buf->base ? rwp_chunk_of(buf->base) : NULL;
    int go_on = 0;
    if (c->state != CL_CLOSING && nread < 0) {
        rwp_client_close(c, nread == UV_EOF ? "client closed the connection" : uv_strerror((int)nread));
    } else if (c->state != CL_CLOSING && nread > 0) {
        c->worker->stats.bytes_in += (uint64_t)nread;
        if (rwp_tls_feed(c->tls, buf->base, (size_t)nread) != 0)
            rwp_client_close(c, rwp_tls_error(c->tls));
        else
            go_on = tls_pull(c) == 0;
    }
    if (ch)
        rwp_chunk_unref(ch);
    if (go_on)
        rwp_client_process_input(c);
}

/* The worker's client buffers are at [limits] worker_buffer_limit and this client needs more
 * to finish a packet: ERR 1041, then the close (its stream cannot be resumed mid-packet). */
static void buffers_exhausted(rwp_client *c)
{
    rwp_client_fail(c, 1, ER_OUT_OF_RESOURCES, "HY000",
                    "rwproxy: out of memory for client buffers on this worker ([limits] "
                    "worker_buffer_limit = %lld bytes); the statement was not executed",
                    (long long)c->worker->cfg->worker_buffer_limit);
}

static void on_client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    rwp_client *c = s->data;
    if (nread == UV_ENOBUFS && c->in_denied) {
        if (c->state != CL_CLOSING)
            buffers_exhausted(c);
        return;
    }
    if (c->tls) {
        on_client_tls_read(c, nread, buf);
        return;
    }
    if (c->state == CL_CLOSING)
        return;
    if (nread < 0) {
        rwp_client_close(c, nread == UV_EOF ? "client closed the connection" : uv_strerror((int)nread));
        return;
    }
    c->worker->stats.bytes_in += (uint64_t)nread;
    rwp_inbuf_commit(&c->in, (size_t)nread);
    rwp_client_process_input(c);
}

/* ---- authentication ---- */

/* A failed login: logged rate-limited (a guessing flood must not fill the disk), so the ERR
 * is sent here rather than through rwp_client_fail, which logs every call. */
static void deny_access(rwp_client *c, int used_password)
{
    char msg[512];
    if (c->state == CL_CLOSING)
        return;
    c->worker->stats.auth_failed++;
    rwp_log_ctx ctx = {c->id, c->user, NULL, c->peer};
    log_failed_login(&ctx, "access denied for '%s'@'%s' (using password: %s)", c->user, c->peer,
                     used_password ? "YES" : "NO");
    snprintf(msg, sizeof msg, "Access denied for user '%s'@'%s' (using password: %s)", c->user,
             c->peer, used_password ? "YES" : "NO");
    rwp_client_send_err(c, c->auth_seq, ER_ACCESS_DENIED_ERROR, "28000", msg);
    rwp_client_close(c, "access denied");
}

/* Stop counting the client against its user's limit (close, COM_CHANGE_USER). */
static void uncount_user(rwp_client *c)
{
    if (c->counted_user[0])
        rwp_user_conn_release(c->worker->proxy, c->counted_user);
    c->counted_user[0] = '\0';
}

/* Count the authenticated client against its user's max_connections; 0 (and ERR 1203) if over. */
static int count_user(rwp_client *c, int max_connections)
{
    uncount_user(c);
    if (rwp_user_conn_take(c->worker->proxy, c->user, max_connections) != 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "User %.64s already has more than 'max_user_connections' active connections",
                 c->user);
        rwp_client_fail(c, c->auth_seq, ER_TOO_MANY_USER_CONNECTIONS, "42000", "%s", msg);
        return 0;
    }
    snprintf(c->counted_user, sizeof c->counted_user, "%s", c->user);
    return 1;
}

/* What the client's next authentication packet is (rwp_client.auth_step). */
enum {
    AUTH_STEP_NATIVE = 0,   /* a mysql_native_password reply to our scramble */
    AUTH_STEP_SHA2_FAST,    /* a caching_sha2_password fast-path reply (32 bytes or empty) */
    AUTH_STEP_SHA2_FULL     /* after 0x01 0x04: the password in clear (TLS) or 0x02 (RSA key) */
};

#define USERS_WAIT_MS 5000 /* longest wait of a failed login for a reload of the backend accounts */

#define SHA2_NEEDS_TLS_MSG                                                                      \
    "caching_sha2_password full authentication requires TLS; connect with --ssl or use "       \
    "mysql_native_password"

#define SHA2_NO_RSA_MSG \
    "caching_sha2_password RSA key exchange is not supported by rwproxy; send the password over TLS"

/* Is the client's connection encrypted (TLS established)? */
static int client_is_tls(const rwp_client *c)
{
    return c->tls != NULL && rwp_tls_established(c->tls);
}

static void send_auth_switch(rwp_client *c);
static void send_auth_switch_to(rwp_client *c, const char *plugin, int step);
static void check_login(rwp_client *c, int step, const uint8_t *reply, size_t len);

/* The credentials of c->user for the client's address (config user, else backend account). */
static rwp_cred_status find_cred(rwp_client *c, rwp_cred *cred)
{
    char why[300];
    rwp_cred_status st = rwp_users_lookup(c->worker->proxy->users, c->worker->cfg, c->user,
                                          c->peer, cred, why, sizeof why);
    if (st == RWP_CRED_REFUSED) { /* rate-limited like every failed-login line */
        rwp_log_ctx ctx = {c->id, c->user, NULL, c->peer};
        log_failed_login(&ctx, "login of '%s'@'%s' refused: %s", c->user, c->peer, why);
    }
    return st;
}

/* The login failed on what rwproxy knows: with users_from_backend, wait (once, bounded) for
 * a reload of the master's accounts and check the kept reply again. 1 if it waits. */
static int wait_for_users(rwp_client *c, int step, const uint8_t *reply, size_t len)
{
    uint64_t gen = 0;
    if (c->users_waited || len > sizeof c->auth_reply ||
        !rwp_users_refresh_after_failure(c->worker->proxy->users, c->worker->cfg, &gen))
        return 0;
    memcpy(c->auth_reply, reply, len);
    c->auth_reply_len = len;
    c->auth_wait_step = step;
    c->users_wait_gen = gen;
    c->users_wait_ms = uv_now(&c->worker->loop);
    c->users_waited = 1;
    rwp_client_set_state(c, CL_CONNECTING); /* reads nothing more until the wait ends */
    return 1;
}

/* From the tick: the reload finished (or the wait is over): check the kept reply again. */
static void users_wait_tick(rwp_client *c, uint64_t now)
{
    if (rwp_users_done(c->worker->proxy->users) < c->users_wait_gen &&
        now - c->users_wait_ms < USERS_WAIT_MS)
        return;
    uint8_t reply[sizeof c->auth_reply];
    size_t len = c->auth_reply_len;
    memcpy(reply, c->auth_reply, len);
    explicit_bzero(c->auth_reply, sizeof c->auth_reply);
    c->users_wait_gen = 0;
    check_login(c, c->auth_wait_step, reply, len);
    explicit_bzero(reply, sizeof reply);
}

/* Authenticated: count the user, then log into a server. */
static void login_accepted(rwp_client *c, const rwp_cred *cred)
{
    c->has_password = cred->has_password;
    if (cred->from_backend)
        CLOG(RWP_LOGL_DEBUG, c, "%s logs in as the backend account %s", c->peer, cred->account);
    if (!count_user(c, cred->max_connections))
        return;
    start_backend_login(c);
}

/* Send an AuthMoreData packet (0x01 + one status byte). */
static void send_more_data(rwp_client *c, uint8_t status)
{
    proto_writer w;
    proto_wr_init(&w);
    proto_auth_more_data_encode(&w, &status, 1, c->auth_seq);
    c->auth_seq++;
    send_writer(c, &w);
}

static void refuse_full_auth(rwp_client *c);

/* caching_sha2_password "perform full authentication": the client's next packet is its
 * password in clear (accepted over TLS only) or a request for the RSA key. Over plain TCP
 * the ERR comes at once instead: the client never gets to send its password unencrypted,
 * and every client shows the reason (libmariadb hides an ERR that answers its key request). */
static void ask_full_auth(rwp_client *c)
{
    if (!client_is_tls(c)) {
        refuse_full_auth(c);
        return;
    }
    send_more_data(c, PROTO_SHA2_FULL_AUTH);
    c->auth_step = AUTH_STEP_SHA2_FULL;
    rwp_client_set_state(c, CL_AUTH_SWITCH);
}

/* Full authentication over plain TCP (or an RSA key request): refused with a clear ERR. */
static void refuse_full_auth(rwp_client *c)
{
    c->worker->stats.auth_failed++;
    rwp_log_ctx ctx = {c->id, c->user, NULL, c->peer};
    log_failed_login(&ctx, "caching_sha2_password full authentication of '%s'@'%s' refused: %s",
                     c->user, c->peer, client_is_tls(c) ? "RSA key exchange is not supported" : "no TLS");
    rwp_client_send_err(c, c->auth_seq, ER_ACCESS_DENIED_ERROR, "28000",
                        client_is_tls(c) ? SHA2_NO_RSA_MSG : SHA2_NEEDS_TLS_MSG);
    rwp_client_close(c, "caching_sha2_password full authentication without TLS");
}

/* A caching_sha2_password fast-path reply: accepted when the clear password is known;
 * otherwise full authentication over TLS, or a switch to mysql_native_password. */
static void check_sha2_fast(rwp_client *c, const rwp_cred *cred, const uint8_t *reply, size_t len)
{
    int switched = c->auth_step == AUTH_STEP_SHA2_FAST; /* the client has had our scramble for it */
    if (!switched && cred->has_password && len != PROTO_SHA256_LEN && (cred->has_clear || client_is_tls(c))) {
        /* Our greeting named mysql_native_password, so libmariadb / libmysqlclient sent an
         * empty placeholder: hand the scramble to its caching_sha2_password plugin. */
        send_auth_switch_to(c, PROTO_CACHING_SHA2_PLUGIN, AUTH_STEP_SHA2_FAST);
        return;
    }
    if (cred->has_clear) {
        if (proto_sha2_check(c->scramble, sizeof c->scramble, reply, len, cred->sha2,
                             cred->has_password) != 0) {
            ask_full_auth(c); /* as MySQL does: the password may still be right in clear */
            return;
        }
        memcpy(c->h1, cred->h1, sizeof c->h1);
        CLOG(RWP_LOGL_DEBUG, c, "caching_sha2_password fast path accepted for %s", c->peer);
        send_more_data(c, PROTO_SHA2_FAST_AUTH_OK);
        login_accepted(c, cred);
        return;
    }
    if (client_is_tls(c))
        ask_full_auth(c); /* the clear password gives both the check and SHA1(password) */
    else
        send_auth_switch(c); /* only a mysql_native_password hash is known */
}

/* Check the client's reply for step against what is known about c->user. */
static void check_login(rwp_client *c, int step, const uint8_t *reply, size_t len)
{
    rwp_cred cred;
    rwp_cred_status st = find_cred(c, &cred);
    if (st == RWP_CRED_NONE && wait_for_users(c, step, reply, len))
        return;
    if (st != RWP_CRED_OK) {
        deny_access(c, len > 0);
        return;
    }
    if (step == AUTH_STEP_SHA2_FAST) {
        check_sha2_fast(c, &cred, reply, len);
        return;
    }
    if (proto_native_check(c->scramble, reply, len, cred.h2, cred.has_password, c->h1) != 0) {
        if (!cred.from_backend || !wait_for_users(c, step, reply, len))
            deny_access(c, len > 0); /* a backend account's password may have changed: reload once */
        return;
    }
    login_accepted(c, &cred);
}

/* The client's packet after "perform full authentication". */
static void check_sha2_full(rwp_client *c, const uint8_t *payload, size_t len)
{
    const char *pw = NULL;
    size_t pw_len = 0;
    proto_sha2_msg m = proto_sha2_full_reply_decode(payload, len, &pw, &pw_len);
    if (m == PROTO_SHA2_MSG_PUBKEY || !client_is_tls(c)) {
        refuse_full_auth(c); /* a clear password over plain TCP is not even looked at */
        return;
    }
    rwp_cred cred;
    if (m != PROTO_SHA2_MSG_PASSWORD || find_cred(c, &cred) != RWP_CRED_OK ||
        proto_native_check_clear(pw, pw_len, cred.h2, cred.has_password, c->h1) != 0) {
        deny_access(c, 1);
        return;
    }
    CLOG(RWP_LOGL_DEBUG, c, "caching_sha2_password full authentication over TLS accepted for %s",
         c->peer);
    login_accepted(c, &cred);
}

/* Ask the client to answer our scramble with plugin; its reply is then checked as step. */
static void send_auth_switch_to(rwp_client *c, const char *plugin, int step)
{
    proto_writer w;
    proto_wr_init(&w);
    proto_auth_switch_encode(&w, plugin, c->scramble, sizeof c->scramble, c->auth_seq);
    c->auth_seq++;
    send_writer(c, &w);
    c->auth_step = step;
    rwp_client_set_state(c, CL_AUTH_SWITCH);
}

/* Ask the client to answer our scramble with mysql_native_password. */
static void send_auth_switch(rwp_client *c)
{
    send_auth_switch_to(c, PROTO_NATIVE_PLUGIN, AUTH_STEP_NATIVE);
}

static int is_plugin(const char *name, size_t len, const char *want)
{
    return name != NULL && len == strlen(want) && memcmp(name, want, len) == 0;
}

static int is_native_plugin(const char *name, size_t len)
{
    return name == NULL || len == 0 || is_plugin(name, len, PROTO_NATIVE_PLUGIN);
}

static int copy_name(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        return -1;
    memcpy(dst, src ? src : "", len);
    dst[len] = '\0';
    return 0;
}

static int keep_attrs(rwp_client *c, const uint8_t *attrs, size_t len)
{
    free(c->attrs);
    c->attrs = NULL;
    c->attrs_len = 0;
    if (!attrs || len == 0)
        return 0;
    c->attrs = malloc(len);
    if (!c->attrs)
        return -1;
    memcpy(c->attrs, attrs, len);
    c->attrs_len = len;
    return 0;
}

/* Authenticate the user named in a login or COM_CHANGE_USER: mysql_native_password and
 * caching_sha2_password replies are checked as they come; any other plugin is switched to
 * mysql_native_password. */
static void authenticate(rwp_client *c, const char *plugin, size_t plugin_len,
                         const uint8_t *auth, size_t auth_len)
{
    c->users_waited = 0;
    c->auth_step = AUTH_STEP_NATIVE;
    if (is_plugin(plugin, plugin_len, PROTO_CACHING_SHA2_PLUGIN)) {
        check_login(c, AUTH_STEP_SHA2_FAST, auth, auth_len);
        return;
    }
    if (!is_native_plugin(plugin, plugin_len)) {
        rwp_cred cred;
        if (find_cred(c, &cred) == RWP_CRED_REFUSED) {
            deny_access(c, auth_len > 0);
            return;
        }
        send_auth_switch(c);
        return;
    }
    check_login(c, AUTH_STEP_NATIVE, auth, auth_len);
}

/* The client sent the SSL request: a TLS handshake follows on the same socket, then its
 * real HandshakeResponse, encrypted (tls_takeover hands the bytes over). */
static void start_tls(rwp_client *c)
{
    struct ssl_ctx_st *ctx = c->worker->cfg->tls_ctx;
    if (!ctx || c->tls) {
        rwp_client_fail(c, c->auth_seq, ER_HANDSHAKE_ERROR, "08S01",
                        ctx ? "Bad handshake" : "SSL is not enabled on this rwproxy listener");
        return;
    }
    c->tls = rwp_tls_new_server(ctx);
    if (!c->tls)
        rwp_client_fail(c, c->auth_seq, ER_UNKNOWN_ERROR, "HY000", "rwproxy: out of memory");
}

static void handle_handshake_response(rwp_client *c, const uint8_t *payload, size_t len, uint8_t seq)
{
    proto_handshake_response r;
    c->auth_seq = (uint8_t)(seq + 1);
    if (proto_handshake_response_decode(payload, len, &r) != PROTO_OK) {
        rwp_client_fail(c, c->auth_seq, ER_HANDSHAKE_ERROR, "08S01", "Bad handshake");
        return;
    }
    if (r.is_ssl_request) {
        start_tls(c);
        return;
    }
    if (copy_name(c->user, sizeof c->user, r.user, r.user_len) != 0 ||
        copy_name(c->db, sizeof c->db, r.db, r.db ? r.db_len : 0) != 0 ||
        keep_attrs(c, r.attrs, r.attrs_len) != 0) {
        rwp_client_fail(c, c->auth_seq, ER_HANDSHAKE_ERROR, "08S01", "Bad handshake");
        return;
    }
    if (!c->tls && c->worker->cfg->tls_require) {
        rwp_client_fail(c, c->auth_seq, ER_ACCESS_DENIED_ERROR, "28000",
                        "rwproxy requires TLS (SSL); connect with --ssl");
        return;
    }
    c->caps = r.capabilities & OFFERED_CAPS;
    c->charset = r.charset;
    authenticate(c, r.plugin, r.plugin_len, r.auth, r.auth_len);
}

static void handle_auth_switch_reply(rwp_client *c, const uint8_t *payload, size_t len, uint8_t seq)
{
    c->auth_seq = (uint8_t)(seq + 1);
    if (c->auth_step == AUTH_STEP_SHA2_FULL)
        check_sha2_full(c, payload, len);
    else
        check_login(c, c->auth_step, payload, len);
}

/* ---- backend connections of the session ---- */

void rwp_client_login_params(const rwp_client *c, int idx, rwp_login *login)
{
    memset(login, 0, sizeof *login);
    snprintf(login->user, sizeof login->user, "%s", c->user);
    login->has_password = c->has_password;
    memcpy(login->h1, c->h1, sizeof login->h1);
    snprintf(login->db, sizeof login->db, "%s", c->db);
    login->charset = c->charset;
    login->caps = c->caps;
    login->attrs = c->attrs;
    login->attrs_len = c->attrs_len;
    login->want_session_track = c->track_gtid && idx == c->master;
}

int rwp_client_open_backend(rwp_client *c, int idx)
{
    const rwp_config *cfg = c->worker->cfg;
    if (idx < 0 || idx >= c->nservers || idx >= cfg->nservers)
        return -1;
    const rwp_server_cfg *s = &cfg->servers[idx];
    rwp_login login;
    rwp_client_login_params(c, idx, &login);
    c->worker->server_stats[idx].be_opened++;
    c->bes[idx] = rwp_backend_open(c->worker, idx, s->name, s->host, s->port, &login,
                                   &rwp_client_backend_ops, c, c->id, c->user);
    if (c->bes[idx])
        c->bes[idx]->last_owner = c->id;
    return c->bes[idx] ? 0 : -1;
}

/* The server a login goes through: the master, or while there is none (failover) any
 * server that answers checks, so reads keep working; -1 if none. */
static int login_server(const rwp_client *c)
{
    const rwp_topology *t = c->worker->topo;
    if (!t)
        return -1;
    if (t->writer >= 0 && t->writer < c->nservers)
        return t->writer;
    for (int i = 0; i < t->nservers && i < c->nservers; i++)
        if ((t->servers[i].health == SRV_UP || t->servers[i].health == SRV_LAGGING) &&
            !rwp_worker_server_removed(c->worker, t, i))
            return i;
    return -1;
}

/* No server for the login yet: wait (the tick retries) up to the hold time. */
static void hold_login(rwp_client *c, const char *why)
{
    snprintf(c->login_why, sizeof c->login_why, "%s", why);
    if (!c->login_held_ms) {
        c->login_held_ms = uv_now(&c->worker->loop);
        rwp_client_may_retry(c, c->login_held_ms);
        CLOG(RWP_LOGL_INFO, c, "login of %s waits for a server: %s", c->peer, why);
    }
}

static void on_pooled_login(uv_timer_t *t)
{
    rwp_client *c = t->data;
    if (c->state == CL_CONNECTING)
        rwp_client_login_done(c, SERVER_STATUS_AUTOCOMMIT);
}

/* Log into a server after the client authenticated (login or COM_CHANGE_USER): the master
 * becomes the session's master; a replica only carries the login while there is no master. */
static void start_backend_login(rwp_client *c)
{
    rwp_client_set_state(c, CL_CONNECTING);
    int idx = login_server(c);
    if (idx < 0) {
        hold_login(c, "no server is available");
        return;
    }
    const rwp_topology *t = c->worker->topo;
    c->master = t->writer == idx ? idx : -1;
    if (c->worker->cfg->pool_multiplex && rwp_session_login_known_good(c, idx)) {
        /* the pool proves this login works there; the first statement takes a connection */
        uv_timer_stop(&c->timer);
        uv_timer_start(&c->timer, on_pooled_login, 0, 0);
        return;
    }
    switch (rwp_session_attach(c, idx)) {
    case RWP_ATTACH_READY:
        /* a pooled connection already logged in as this client would be: the login ends on
         * the next turn of the loop, once the packet being handled has left the buffer */
        uv_timer_stop(&c->timer);
        uv_timer_start(&c->timer, on_pooled_login, 0, 0);
        break;
    case RWP_ATTACH_FAILED:
        hold_login(c, "cannot open a connection (out of file descriptors or memory?)");
        break;
    default:
        break; /* be_ready, or the pool's wake-up, calls back */
    }
}

void rwp_client_retry_login(rwp_client *c)
{
    if (c->state == CL_CONNECTING)
        start_backend_login(c);
}

int rwp_client_may_retry(rwp_client *c, uint64_t now)
{
    const rwp_topology *t = c->worker->topo;
    uint64_t gen = t ? t->generation : 0;
    if (gen == c->retry_gen && now - c->retry_ms < RWP_RETRY_MS)
        return 0;
    c->retry_gen = gen;
    c->retry_ms = now;
    return 1;
}

/* A held login: try again, or give up after the hold time. */
static void retry_login(rwp_client *c, uint64_t now)
{
    const rwp_topology *t = c->worker->topo;
    uint64_t hold = (uint64_t)(t ? t->hold_ms : c->worker->cfg->hold_ms);
    for (int i = 0; i < c->nservers; i++)
        if (c->bes[i])
            return; /* a login is on its way */
    if (now - c->login_held_ms >= hold) {
        rwp_client_fail(c, c->auth_seq, ER_OPTION_PREVENTS_STATEMENT, "HY000",
                        "rwproxy: no server took the login within %llu ms (last: %s)",
                        (unsigned long long)(now - c->login_held_ms), c->login_why);
        return;
    }
    if (rwp_client_may_retry(c, now))
        start_backend_login(c);
}

static void be_ready(void *owner, rwp_backend *be, const uint8_t *ok, size_t len)
{
    rwp_client *c = owner;
    if (c->state != CL_CONNECTING) {
        rwp_session_dispatch(c); /* a connection opened for the command in flight */
        return;
    }
    uint16_t status = SERVER_STATUS_AUTOCOMMIT;
    int flags = proto_status_flags(ok, len, be->caps);
    if (flags >= 0)
        status = (uint16_t)(flags & ~SERVER_SESSION_STATE_CHANGED);
    rwp_client_login_done(c, status);
}

void rwp_client_login_done(rwp_client *c, uint16_t status)
{
    uv_timer_stop(&c->timer);
    c->login_held_ms = 0;
    rwp_client_send_ok(c, c->auth_seq, status);
    if (!c->in_change_user)
        CLOG(RWP_LOGL_DEBUG, c, "client %s logged in", c->peer);
    rwp_kill_set_user(c);
    c->in_change_user = 0;
    snprintf(c->cur_db, sizeof c->cur_db, "%s", c->db);
    rwp_client_set_state(c, CL_IDLE);
    if (c->worker->cfg->pool_multiplex)
        rwp_session_release_backends(c, 0);
    rwp_client_process_input(c);
}

/* Forward a server's ERR payload to the client with our sequence id. */
static void forward_err_payload(rwp_client *c, uint8_t seq, const uint8_t *payload, size_t len)
{
    proto_err e;
    char msg[512];
    if (proto_err_decode(payload, len, &e) != PROTO_OK) {
        rwp_client_send_err(c, seq, ER_UNKNOWN_ERROR, "HY000", "rwproxy: malformed error from server");
        return;
    }
    snprintf(msg, sizeof msg, "%.*s", (int)(e.msg_len > 500 ? 500 : e.msg_len), (const char *)e.msg);
    rwp_client_send_err(c, seq, e.code, e.sqlstate, msg);
}

/* The in-flight command died with its master connection: the statement may or may not have
 * run, so it is never retried; the client hears so and the session goes on. */
static void fail_command_lost_master(rwp_client *c, const char *reason)
{
    CLOG(RWP_LOGL_INFO, c, "client %s: lost the master during a statement: %s", c->peer, reason);
    if (c->cur.len > 0)
        rwp_inbuf_consume(&c->in, c->cur.len);
    c->cur.len = 0;
    c->worker->server_stats[c->cur.target].errors++;
    rwp_client_send_err(c, 1, ER_UNKNOWN_ERROR, "HY000",
                        "rwproxy: lost connection to the master during the statement; it may or may not have been executed");
    rwp_client_set_state(c, CL_IDLE);
    rwp_client_process_input(c);
}

static void be_failed(void *owner, rwp_backend *be, const uint8_t *err, size_t len, const char *reason)
{
    rwp_client *c = owner;
    int idx = be->server;
    int was_current = current_backend(c) == be;
    int was_master = idx == c->master;
    if (idx >= 0 && idx < c->nservers && be->state < BE_IDLE)
        c->worker->server_stats[idx].be_failed++;
    if (idx >= 0 && idx < c->nservers && c->bes[idx] == be)
        c->bes[idx] = NULL;
    if (c->state == CL_CONNECTING) {
        if (err) {
            CLOG(RWP_LOGL_INFO, c, "backend refused the login of %s: %s", c->peer, reason);
            forward_err_payload(c, c->auth_seq, err, len);
            rwp_client_close(c, reason);
        } else {
            hold_login(c, reason); /* the tick retries, on the new master if it moved */
        }
        return;
    }
    int bound = was_master && rwp_session_bound_to_master(c);
    if (c->state == CL_CLOSING || (!bound && rwp_session_backend_failed(c, idx, reason)))
        return;
    if (was_current && c->relayed == 0 && c->stream == STREAM_NONE && was_master && !bound) {
        fail_command_lost_master(c, reason);
        return;
    }
    if (was_current && c->relayed == 0 && c->stream == STREAM_NONE) {
        rwp_client_fail(c, 1, ER_UNKNOWN_ERROR, "HY000",
                        "rwproxy: lost connection to the server during the query: %s", reason);
        return;
    }
    if (!was_current && bound) {
        c->worker->stats.sessions_lost++;
        rwp_client_fail(c, 1, ER_CONNECTION_KILLED, "70100",
                        "rwproxy: the connection to the master was lost while this session had a "
                        "transaction or session state on it: %s", reason);
        return;
    }
    /* Mid-answer: the outcome is unknown and the client is mid-packet; only a close is honest. */
    rwp_client_close(c, reason);
}

/* A backend of the session took too long to connect and log in: fail it like a lost one. */
static void check_backend_timeouts(rwp_client *c, uint64_t now)
{
    uint64_t limit = (uint64_t)c->worker->cfg->backend_connect_timeout_ms;
    for (int i = 0; i < c->nservers && c->state != CL_CLOSING; i++) {
        rwp_backend *be = c->bes[i];
        if (!be || be->state >= BE_IDLE || now - be->opened_ms < limit)
            continue;
        CLOG(RWP_LOGL_WARN, c, "server %s did not complete the login within %llu ms", be->name,
             (unsigned long long)limit);
        rwp_backend_abort(be, "connect timed out");
    }
}

/* Idle (between commands) for longer than [limits] client_idle_timeout_s? */
static int idle_too_long(const rwp_client *c, uint64_t now)
{
    int limit_s = c->worker->cfg->client_idle_timeout_s;
    return limit_s > 0 && now - c->last_active_ms >= (uint64_t)limit_s * 1000;
}

void rwp_client_tick(rwp_client *c, uint64_t now)
{
    if (c->state == CL_CLOSING)
        return;
    check_backend_timeouts(c, now);
    if (c->state == CL_CONNECTING && c->users_wait_gen) {
        users_wait_tick(c, now);
        return;
    }
    if (c->state == CL_CONNECTING && c->login_held_ms) {
        retry_login(c, now);
        return;
    }
    if (c->state == CL_IDLE && idle_too_long(c, now)) {
        rwp_client_fail(c, 1, ER_CLIENT_INTERACTION_TIMEOUT, "HY000",
                        "The client was disconnected by rwproxy because of inactivity "
                        "([limits] client_idle_timeout_s = %d)", c->worker->cfg->client_idle_timeout_s);
        return;
    }
    if (c->state == CL_IDLE || c->state == CL_COMMAND)
        rwp_session_recheck(c, now);
}

static void be_data(void *owner, rwp_backend *be, rwp_chunk *ch, const uint8_t *p, size_t len)
{
    rwp_client *c = owner;
    if (c->state == CL_CLOSING || be->internal || current_backend(c) != be)
        return; /* answers to rwproxy's own commands are not relayed */
    c->relayed += len;
    c->worker->stats.bytes_out += len;
    int rc = c->nrw ? rwp_session_relay(c, ch, p, len, on_client_written)
                    : rwp_client_write_chunk(c, ch, p, len, on_client_written);
    if (rc < 0) {
        rwp_client_close(c, uv_strerror(rc));
        return;
    }
    if (rwp_write_queued((uv_stream_t *)&c->tcp) > high_water(c))
        rwp_backend_pause(be);
}

static void be_event(void *owner, rwp_backend *be, const proto_walk_event *ev)
{
    rwp_client *c = owner;
    if (c->state == CL_CLOSING)
        return;
    if (ev->type == WALK_EV_INFILE && !be->internal) {
        if (c->cur.len > 0) { /* the command leaves the buffer: the file follows it */
            rwp_inbuf_consume(&c->in, c->cur.len);
            c->cur.len = 0;
        }
        c->stream = STREAM_INFILE;
        c->stream_left = 0;
        c->stream_last = 0;
    }
    rwp_session_event(c, be, ev);
}

static void be_answered(void *owner, rwp_backend *be)
{
    rwp_client *c = owner;
    if (c->state == CL_CLOSING)
        return;
    if (be->walker.state == WALK_INFILE && !be->internal) {
        rwp_client_process_input(c); /* stream the file */
        return;
    }
    rwp_session_answered(c, be);
}

static void be_written(void *owner, rwp_backend *be)
{
    rwp_client *c = owner;
    if (c->read_paused && c->stream != STREAM_NONE && current_backend(c) == be &&
        rwp_backend_queued(be) < low_water(c)) {
        resume_reading(c);
        rwp_client_process_input(c);
    }
}

const rwp_backend_ops rwp_client_backend_ops = {
    .ready = be_ready,
    .failed = be_failed,
    .data = be_data,
    .event = be_event,
    .answered = be_answered,
    .written = be_written,
};

/* ---- commands ---- */

/* Commands rwproxy runs. Others get ERR 1047 and the connection stays. */
static int command_is_supported(uint8_t cmd)
{
    switch (cmd) {
    case COM_QUERY: case COM_INIT_DB: case COM_FIELD_LIST: case COM_STATISTICS:
    case COM_PING: case COM_SET_OPTION: case COM_RESET_CONNECTION: case COM_REFRESH:
    case COM_DEBUG:
    case COM_STMT_PREPARE: case COM_STMT_EXECUTE: case COM_STMT_SEND_LONG_DATA:
    case COM_STMT_CLOSE: case COM_STMT_RESET: case COM_STMT_FETCH:
        return 1;
    default:
        return 0;
    }
}

static void handle_change_user(rwp_client *c, const uint8_t *payload, size_t len)
{
    proto_change_user cu;
    c->auth_seq = 1;
    c->in_change_user = 1;
    if (proto_change_user_decode(payload, len, c->caps, &cu) != PROTO_OK ||
        copy_name(c->user, sizeof c->user, cu.user, cu.user_len) != 0 ||
        copy_name(c->db, sizeof c->db, cu.db, cu.db_len) != 0 ||
        keep_attrs(c, cu.attrs, cu.attrs_len) != 0) {
        rwp_client_fail(c, 1, ER_UNKNOWN_COM_ERROR, "08S01", "Malformed COM_CHANGE_USER packet");
        return;
    }
    if (cu.charset)
        c->charset = (uint8_t)cu.charset;
    rwp_session_reset(c, 0); /* closes every backend of the old session */
    rwp_client_set_state(c, CL_CONNECTING);
    authenticate(c, cu.plugin, cu.plugin_len, cu.auth, cu.auth_len);
}

/* Continue streaming continuation or LOCAL INFILE packets to the backend. */
static void stream_to_backend(rwp_client *c)
{
    rwp_backend *be;
    while (c->stream != STREAM_NONE && (be = current_backend(c)) != NULL) {
        size_t avail = rwp_inbuf_len(&c->in);
        if (c->stream_left == 0) {
            proto_hdr h;
            if (proto_hdr_peek(rwp_inbuf_head(&c->in), avail, &h) != PROTO_OK)
                return;
            c->stream_left = PROTO_HDR_LEN + h.len;
            c->stream_last = c->stream == STREAM_CONT ? h.len < PROTO_MAX_PAYLOAD : h.len == 0;
            c->stream_total += h.len;
            if (c->stream == STREAM_CONT &&
                (int64_t)(PROTO_MAX_PAYLOAD + c->stream_total) > c->worker->cfg->max_packet_size) {
                packet_too_large(c);
                return;
            }
        }
        if (avail == 0)
            return;
        size_t n = avail < c->stream_left ? avail : c->stream_left;
        if (rwp_backend_send_more(be, rwp_inbuf_head(&c->in), n) != 0)
            return;
        rwp_inbuf_consume(&c->in, n);
        c->stream_left -= n;
        if ((be = current_backend(c)) != NULL && rwp_backend_queued(be) > high_water(c))
            rwp_client_pause_reading(c);
        if (c->stream_left > 0 || !c->stream_last)
            continue;
        int infile = c->stream == STREAM_INFILE;
        c->stream = STREAM_NONE;
        if (!be)
            return;
        if (infile)
            rwp_backend_infile_done(be);
        else if (be->state == BE_IDLE)
            rwp_session_answered(c, be); /* a streamed command without an answer */
    }
}

/* Start the command whose first packet (complete) is at the head of the input buffer. */
static void start_command(rwp_client *c, const uint8_t *pkt, uint32_t len)
{
    const uint8_t *payload = pkt + PROTO_HDR_LEN;
    if (len == 0) {
        rwp_inbuf_consume(&c->in, PROTO_HDR_LEN);
        rwp_client_send_err(c, 1, ER_UNKNOWN_COM_ERROR, "08S01", "Empty command packet");
        return;
    }
    uint8_t cmd = payload[0];
    if (cmd == COM_QUIT) {
        rwp_client_close(c, "COM_QUIT");
        return;
    }
    if (cmd == COM_CHANGE_USER) {
        handle_change_user(c, payload, len);
        rwp_inbuf_consume(&c->in, PROTO_HDR_LEN + len);
        return;
    }
    if (!command_is_supported(cmd)) {
        rwp_inbuf_consume(&c->in, PROTO_HDR_LEN + len);
        CLOG(RWP_LOGL_INFO, c, "unknown or unsupported command 0x%02x from %s", cmd, c->peer);
        rwp_client_send_err(c, 1, ER_UNKNOWN_COM_ERROR, "08S01", "Unknown command");
        return;
    }
    c->relayed = 0;
    c->worker->stats.queries++;
    rwp_session_start_command(c, pkt, len);
}

/* Handle one complete login-phase packet; returns 0 if it was consumed. */
static int process_auth_packet(rwp_client *c)
{
    proto_hdr h;
    size_t avail = rwp_inbuf_len(&c->in);
    if (proto_hdr_peek(rwp_inbuf_head(&c->in), avail, &h) != PROTO_OK)
        return -1;
    if (h.len >= AUTH_MAX_PACKET) {
        rwp_client_fail(c, (uint8_t)(h.seq + 1), ER_HANDSHAKE_ERROR, "08S01", "Bad handshake");
        return -1;
    }
    if (avail < PROTO_HDR_LEN + h.len)
        return -1;
    const uint8_t *payload = rwp_inbuf_head(&c->in) + PROTO_HDR_LEN;
    int was_plain = !c->tls;
    if (c->state == CL_HANDSHAKE)
        handle_handshake_response(c, payload, h.len, h.seq);
    else
        handle_auth_switch_reply(c, payload, h.len, h.seq);
    rwp_inbuf_consume(&c->in, PROTO_HDR_LEN + h.len);
    if (was_plain && c->tls && c->state != CL_CLOSING)
        return tls_takeover(c);
    return 0;
}

/* A client packet over [limits] max_packet_size: ERR 1153, and the connection closes (its
 * stream cannot be resynchronised). */
static void packet_too_large(rwp_client *c)
{
    rwp_client_fail(c, 1, ER_NET_PACKET_TOO_LARGE, "08S01",
                    "Got a packet bigger than 'max_allowed_packet' bytes ([limits] max_packet_size = %lld)",
                    (long long)c->worker->cfg->max_packet_size);
}

/* Handle the next command at the head of the input buffer; returns 0 if one was started. */
static int process_next_command(rwp_client *c)
{
    proto_hdr h;
    size_t avail = rwp_inbuf_len(&c->in);
    if (proto_hdr_peek(rwp_inbuf_head(&c->in), avail, &h) != PROTO_OK)
        return -1;
    if ((int64_t)h.len > c->worker->cfg->max_packet_size) {
        packet_too_large(c);
        return -1;
    }
    if (avail < PROTO_HDR_LEN + h.len)
        return -1;
    c->stream_total = 0;
    start_command(c, rwp_inbuf_head(&c->in), h.len);
    return 0;
}

/* Run whatever the buffered input allows in the current state, in order. */
void rwp_client_process_input(rwp_client *c)
{
    for (;;) {
        if (c->state == CL_CLOSING)
            return;
        if (c->stream != STREAM_NONE) {
            stream_to_backend(c);
            if (c->stream != STREAM_NONE)
                break;
            continue;
        }
        int progressed = -1;
        if (c->state == CL_HANDSHAKE || c->state == CL_AUTH_SWITCH)
            progressed = process_auth_packet(c);
        else if (c->state == CL_IDLE)
            progressed = process_next_command(c);
        if (progressed != 0)
            break;
    }
    if (c->state == CL_CLOSING)
        return;
    if (c->state == CL_IDLE && c->draining && rwp_inbuf_len(&c->in) == 0) {
        rwp_client_close(c, "shutdown");
        return;
    }
    /* Bound what pipelining clients may queue while a command runs. */
    size_t pending = rwp_inbuf_len(&c->in);
    int waiting_for_answer = c->state == CL_COMMAND && c->stream == STREAM_NONE;
    rwp_backend *be = current_backend(c);
    if (waiting_for_answer && pending > PIPELINE_MAX_BUFFER)
        rwp_client_pause_reading(c);
    else if (c->read_paused && !(c->stream != STREAM_NONE && be && rwp_backend_queued(be) > high_water(c)))
        resume_reading(c);
    if (c->state == CL_IDLE || pending == 0)
        rwp_inbuf_release_if_empty(&c->in);
    account_input(c);
}

/* ---- accepting ---- */

static void on_handshake_timeout(uv_timer_t *t)
{
    rwp_client *c = t->data;
    rwp_client_fail(c, c->auth_seq, ER_HANDSHAKE_ERROR, "08S01", "Handshake timeout");
}

static void send_greeting(rwp_client *c)
{
    proto_greeting g;
    const rwp_topology *t = c->worker->topo;
    proto_greeting_init(&g, t && t->version[0] ? t->version : "5.5.5-10.11.0-MariaDB-rwproxy",
                        (uint32_t)c->id, c->scramble,
                        OFFERED_CAPS | (c->worker->cfg->tls_ctx ? CLIENT_SSL : 0), SERVER_STATUS_AUTOCOMMIT);
    proto_writer w;
    proto_wr_init(&w);
    proto_greeting_encode(&w, &g);
    send_writer(c, &w);
}

static void peer_name(rwp_client *c) { rwp_peer_name(&c->tcp, c->peer, sizeof c->peer); }

static rwp_client *client_new(rwp_worker *w)
{
    rwp_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->worker = w;
    c->id = rwp_worker_next_id(w);
    uv_tcp_init(&w->loop, &c->tcp);
    uv_timer_init(&w->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles_open = 2;
    c->accepted_ms = uv_now(&w->loop);
    rwp_session_init(c, w->cfg->nservers);
    rwp_kill_register(c);
    c->next = w->clients;
    if (w->clients)
        w->clients->prev = c;
    w->clients = c;
    w->nclients++;
    return c;
}

void rwp_client_accept(rwp_worker *w)
{
    rwp_client *c = client_new(w);
    if (!c)
        return;
    int no_memory = !c->bes || !c->srv_failed;
    if (uv_accept((uv_stream_t *)&w->listener, (uv_stream_t *)&c->tcp) != 0) {
        rwp_client_set_state(c, CL_CLOSING);
        close_handles(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    int sndbuf = (int)w->cfg->client_sndbuf; /* 0: the kernel sizes it */
    if (sndbuf > 0)
        uv_send_buffer_size((uv_handle_t *)&c->tcp, &sndbuf);
    peer_name(c);
    w->stats.accepted++;
    size_t total = atomic_fetch_add(&w->proxy->nclients, 1) + 1;
    c->counted = 1;
    if (w->draining) {
        w->stats.refused++;
        rwp_client_fail(c, 0, 1053, "08S01", "Server shutdown in progress");
        return;
    }
    if (w->cfg->max_client_connections > 0 && total > (size_t)w->cfg->max_client_connections) {
        w->stats.refused++;
        rwp_client_fail(c, 0, ER_CON_COUNT_ERROR, "08004", "Too many connections");
        return;
    }
    if (no_memory) {
        rwp_client_fail(c, 0, ER_UNKNOWN_ERROR, "HY000", "rwproxy: out of memory");
        return;
    }
    if (proto_random_scramble(c->scramble, sizeof c->scramble) != 0) {
        rwp_client_fail(c, 0, ER_UNKNOWN_ERROR, "HY000", "rwproxy: random generator failed");
        return;
    }
    send_greeting(c);
    if (c->state == CL_CLOSING)
        return;
    c->auth_seq = 1;
    int timeout = w->cfg->handshake_timeout_ms > 0 ? w->cfg->handshake_timeout_ms : 10000;
    uv_timer_start(&c->timer, on_handshake_timeout, (uint64_t)timeout, 0);
    resume_reading(c);
}

void rwp_client_drain(rwp_client *c)
{
    c->draining = 1;
    if (c->state == CL_IDLE && rwp_inbuf_len(&c->in) == 0)
        rwp_client_close(c, "shutdown");
    else if (c->state == CL_HANDSHAKE || c->state == CL_AUTH_SWITCH)
        rwp_client_close(c, "shutdown");
}

void rwp_client_abort(rwp_client *c, const char *reason)
{
    if (c->state == CL_CLOSING)
        close_handles(c);
    else
        rwp_client_close(c, reason);
}
