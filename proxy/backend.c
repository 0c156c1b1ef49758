/*
 * proxy/backend.c — backend connections (see backend.h): connect, log in, relay answers.
 * All state changes go through backend_set_state; every failure goes through
 * backend_fail, which tells the owner once and closes; memory is freed only in the
 * libuv close callback.
 */
#include "proxy/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/handshake.h"
#include "protocol/mysql_const.h"
#include "protocol/packet.h"
#include "protocol/response.h"
#include "proxy/log.h"
#include "proxy/pool.h"
#include "proxy/tls.h"
#include "proxy/worker.h"

/* Client capabilities that change what the server sends, so they must be the same on the
 * backend connection as the client negotiated with rwproxy. */
#define RELAY_CAPS                                                                        \
    (CLIENT_FOUND_ROWS | CLIENT_LONG_FLAG | CLIENT_NO_SCHEMA | CLIENT_ODBC |              \
     CLIENT_LOCAL_FILES | CLIENT_IGNORE_SPACE | CLIENT_INTERACTIVE | CLIENT_IGNORE_SIGPIPE | \
     CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS |           \
     CLIENT_SESSION_TRACK | CLIENT_DEPRECATE_EOF)
/* Of those, the ones without which answers would have another shape. */
#define SHAPE_CAPS (CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS | CLIENT_SESSION_TRACK | CLIENT_DEPRECATE_EOF)

#define LOGIN_MAX_PACKET (64u * 1024u)

static const char *const backend_state_names[] = {"connecting", "greeting", "tls", "auth",
                                                  "idle", "busy", "closing"};

#define BLOG(lvl, be, ...)                                                                  \
    do {                                                                                   \
        rwp_log_ctx ctx_ = {(be)->log_id, (be)->log_user, (be)->name};                     \
        LOG_AT(lvl, &ctx_, __VA_ARGS__);                                                   \
    } while (0)

static void start_reading(rwp_backend *be);

/* An answer paused for a slow client may end in the chunk that paused it: then nobody is left
 * to resume it (the client resumes only the backend of a running command), and the next
 * command on this connection, or the pool's check for a server-side close, would never read.
 * Idle connections therefore always read. */
static void unpause_idle(rwp_backend *be)
{
    be->paused = 0;
    start_reading(be);
}

static void backend_set_state(rwp_backend *be, rwp_backend_state st)
{
    if (be->state == st)
        return;
    BLOG(RWP_LOGL_DEBUG, be, "backend %s -> %s", backend_state_names[be->state],
         backend_state_names[st]);
    be->state = st;
    if (st == BE_IDLE && be->paused)
        unpause_idle(be);
}

static void backend_free(rwp_backend *be)
{
    rwp_inbuf_free(&be->in);
    rwp_tls_free(be->tls);
    free(be->login.attrs);
    free(be);
}

static void on_closed(uv_handle_t *h)
{
    rwp_backend *be = h->data;
    rwp_pool_closed(&be->worker->pool, be);
    if (be->worker->proxy->server_conns && be->server >= 0)
        atomic_fetch_sub(&be->worker->proxy->server_conns[be->server], 1);
    be->handle_closed = 1;
    if (be->resolving)
        uv_cancel((uv_req_t *)&be->resolve_req); /* on_resolved frees it */
    else
        backend_free(be);
}

static void backend_close_handle(rwp_backend *be)
{
    if (be->state == BE_CLOSING)
        return;
    backend_set_state(be, BE_CLOSING);
    uv_close((uv_handle_t *)&be->tcp, on_closed);
}

/* The one failure path: tell the owner (once), then close. */
static void backend_fail(rwp_backend *be, const uint8_t *err, size_t err_len, const char *reason)
{
    if (be->state == BE_CLOSING)
        return;
    BLOG(RWP_LOGL_INFO, be, "backend %s:%d failed: %s", be->host, be->port, reason);
    be->worker->stats.backend_failures += be->state < BE_IDLE;
    void *owner = be->owner;
    be->owner = NULL;
    if (owner)
        be->ops->failed(owner, be, err, err_len, reason);
    backend_close_handle(be);
}

static void fail_uv(rwp_backend *be, const char *what, int rc)
{
    char reason[300];
    snprintf(reason, sizeof reason, "%s %s:%d: %s", what, be->host, be->port, uv_strerror(rc));
    backend_fail(be, NULL, 0, reason);
}

static void on_written(uv_stream_t *s, int status)
{
    rwp_backend *be = s->data;
    if (status < 0 && status != UV_ECANCELED)
        fail_uv(be, "write to", status);
    else if (status == 0 && be->owner && be->ops->written)
        be->ops->written(be->owner, be);
}

/* TLS with the server failed: the one message says which server and why. */
static void fail_tls(rwp_backend *be)
{
    char reason[400];
    snprintf(reason, sizeof reason, "TLS with server %s (%s:%d) failed: %s", be->name, be->host,
             be->port, rwp_tls_error(be->tls));
    backend_fail(be, NULL, 0, reason);
}

static int send_bytes(rwp_backend *be, const uint8_t *p, size_t len)
{
    int rc = be->tls ? rwp_tls_write(be->tls, (uv_stream_t *)&be->tcp, p, len, on_written)
                     : rwp_write_copy((uv_stream_t *)&be->tcp, p, len, on_written);
    if (rc == UV_EPROTO && be->tls)
        fail_tls(be);
    else if (rc < 0)
        fail_uv(be, "write to", rc);
    return rc;
}

/* ---- login ---- */

static uint32_t login_caps(const rwp_backend *be, uint32_t server_caps)
{
    uint32_t caps = (be->login.caps & RELAY_CAPS & server_caps) | CLIENT_LONG_PASSWORD |
                    CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH |
                    CLIENT_TRANSACTIONS;
    caps |= server_caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA;
    if (be->login.want_session_track)
        caps |= server_caps & CLIENT_SESSION_TRACK;
    if (be->login.db[0])
        caps |= CLIENT_CONNECT_WITH_DB;
    if (be->login.attrs && (server_caps & CLIENT_CONNECT_ATTRS))
        caps |= CLIENT_CONNECT_ATTRS;
    return caps;
}

static void send_native_reply(rwp_backend *be, const uint8_t *scramble, uint8_t seq, int full_response)
{
    uint8_t reply[PROTO_SHA1_LEN];
    size_t reply_len = 0;
    if (be->login.has_password) {
        proto_native_scramble_h1(scramble, be->login.h1, reply);
        reply_len = sizeof reply;
    }
    proto_writer w;
    proto_wr_init(&w);
    if (full_response) {
        proto_handshake_params hp = {
            .capabilities = be->caps,
            .max_packet = 0x40000000u,
            .charset = be->login.charset,
            .user = be->login.user,
            .auth = reply,
            .auth_len = reply_len,
            .db = be->login.db[0] ? be->login.db : NULL,
            .plugin = PROTO_NATIVE_PLUGIN,
            .attrs = (be->caps & CLIENT_CONNECT_ATTRS) ? be->login.attrs : NULL,
            .attrs_len = (be->caps & CLIENT_CONNECT_ATTRS) ? be->login.attrs_len : 0,
        };
        proto_handshake_response_encode(&w, &hp, seq);
    } else {
        proto_wr_bytes(&w, reply, reply_len);
        proto_wr_finish(&w, seq);
    }
    if (w.err) {
        proto_wr_free(&w);
        backend_fail(be, NULL, 0, "cannot build login packet");
        return;
    }
    send_bytes(be, w.data, w.len);
    proto_wr_free(&w);
}

/* ---- TLS to the server ([server.NAME] tls = on) ---- */

/* The server's TLS context from the configuration in force, or NULL (plain). */
static struct ssl_ctx_st *server_tls_ctx(const rwp_backend *be)
{
    const rwp_config *cfg = be->worker->cfg;
    if (be->server < 0 || be->server >= cfg->nservers)
        return NULL;
    return cfg->servers[be->server].tls_ctx;
}

/* Send ciphertext the TLS engine produced on its own (handshake, alerts); 0 or -1 (failed). */
static int flush_tls(rwp_backend *be)
{
    int rc = rwp_tls_flush(be->tls, (uv_stream_t *)&be->tcp, on_written);
    if (rc < 0)
        fail_uv(be, "write to", rc);
    return rc;
}

/* The TLS handshake made progress: once it is done, log in over it. */
static void continue_tls_handshake(rwp_backend *be)
{
    int h = rwp_tls_handshake(be->tls);
    if (flush_tls(be) < 0)
        return;
    if (h < 0) {
        fail_tls(be);
        return;
    }
    if (h == 0)
        return;
    BLOG(RWP_LOGL_DEBUG, be, "TLS with %s:%d: %s, %s", be->host, be->port,
         rwp_tls_version(be->tls), rwp_tls_cipher(be->tls));
    backend_set_state(be, BE_AUTH);
    send_native_reply(be, be->scramble, be->tls_seq, 1);
}

/* After the greeting: the SSL request (the first 32 bytes of a HandshakeResponse41 with
 * CLIENT_SSL), then the TLS handshake; the real HandshakeResponse follows encrypted. */
static void start_tls(rwp_backend *be, uint32_t server_caps, uint8_t seq)
{
    const rwp_server_cfg *s = &be->worker->cfg->servers[be->server];
    if (!(server_caps & CLIENT_SSL)) {
        backend_fail(be, NULL, 0, "[server] tls = on, but the server does not offer SSL "
                                  "(is it started with ssl_cert and ssl_key?)");
        return;
    }
    be->caps |= CLIENT_SSL;
    proto_writer w;
    proto_wr_init(&w);
    proto_wr_u32(&w, be->caps);
    proto_wr_u32(&w, 0x40000000u);
    proto_wr_u8(&w, be->login.charset);
    proto_wr_zeros(&w, 23);
    proto_wr_finish(&w, seq);
    int rc = w.err ? -1 : send_bytes(be, w.data, w.len);
    proto_wr_free(&w);
    if (rc < 0) {
        if (be->state != BE_CLOSING)
            backend_fail(be, NULL, 0, "cannot send the SSL request");
        return;
    }
    be->tls = rwp_tls_new_client(s->tls_ctx, be->host, s->tls_verify);
    if (!be->tls) {
        backend_fail(be, NULL, 0, "cannot set up TLS (out of memory?)");
        return;
    }
    be->tls_seq = (uint8_t)(seq + 1);
    backend_set_state(be, BE_TLS);
    continue_tls_handshake(be);
}

static void handle_greeting(rwp_backend *be, const uint8_t *payload, size_t len, uint8_t seq)
{
    proto_greeting g;
    if (payload[0] == PKT_ERR) {
        backend_fail(be, payload, len, "server refused the connection");
        return;
    }
    if (proto_greeting_decode(payload, len, &g) != PROTO_OK) {
        backend_fail(be, NULL, 0, "malformed server handshake");
        return;
    }
    if (!(g.capabilities & CLIENT_PROTOCOL_41) || !(g.capabilities & CLIENT_SECURE_CONNECTION)) {
        backend_fail(be, NULL, 0, "server lacks PROTOCOL_41/SECURE_CONNECTION");
        return;
    }
    uint32_t missing = be->login.caps & SHAPE_CAPS & ~g.capabilities;
    if (missing) {
        char reason[96];
        snprintf(reason, sizeof reason, "server lacks capabilities 0x%08x the client uses", missing);
        backend_fail(be, NULL, 0, reason);
        return;
    }
    be->thread_id = g.connection_id;
    memcpy(be->scramble, g.scramble, sizeof be->scramble);
    be->caps = login_caps(be, g.capabilities);
    if (server_tls_ctx(be)) {
        start_tls(be, g.capabilities, (uint8_t)(seq + 1));
        return;
    }
    send_native_reply(be, g.scramble, (uint8_t)(seq + 1), 1);
    backend_set_state(be, BE_AUTH);
}

static void handle_auth_reply(rwp_backend *be, const uint8_t *payload, size_t len, uint8_t seq)
{
    if (payload[0] == PKT_OK) {
        backend_set_state(be, BE_IDLE);
        BLOG(RWP_LOGL_DEBUG, be, "logged in to %s:%d (thread %u)", be->host, be->port, be->thread_id);
        if (be->owner)
            be->ops->ready(be->owner, be, payload, len);
        return;
    }
    if (payload[0] == PKT_ERR) {
        backend_fail(be, payload, len, "server refused the login");
        return;
    }
    if (payload[0] == PKT_AUTH_SWITCH) {
        proto_auth_switch sw;
        if (proto_auth_switch_decode(payload, len, &sw) != PROTO_OK) {
            backend_fail(be, NULL, 0, "malformed auth switch request");
            return;
        }
        if (sw.plugin_len != strlen(PROTO_NATIVE_PLUGIN) ||
            memcmp(sw.plugin, PROTO_NATIVE_PLUGIN, sw.plugin_len) != 0 || sw.data_len < 20) {
            char reason[128];
            snprintf(reason, sizeof reason, "server asks for unsupported auth plugin '%.*s'",
                     (int)(sw.plugin_len > 64 ? 64 : sw.plugin_len), sw.plugin);
            backend_fail(be, NULL, 0, reason);
            return;
        }
        send_native_reply(be, sw.data, (uint8_t)(seq + 1), 0);
        return;
    }
    backend_fail(be, NULL, 0, "unexpected packet during login");
}

/* Parse the complete login packets in the input buffer. */
static void process_login_input(rwp_backend *be)
{
    while (be->state == BE_GREETING || be->state == BE_AUTH) {
        proto_hdr h;
        size_t avail = rwp_inbuf_len(&be->in);
        if (proto_hdr_peek(rwp_inbuf_head(&be->in), avail, &h) != PROTO_OK)
            return;
        if (h.len >= LOGIN_MAX_PACKET || h.len == 0) {
            backend_fail(be, NULL, 0, "bad packet length during login");
            return;
        }
        if (avail < PROTO_HDR_LEN + h.len)
            return;
        const uint8_t *payload = rwp_inbuf_head(&be->in) + PROTO_HDR_LEN;
        if (be->state == BE_GREETING)
            handle_greeting(be, payload, h.len, h.seq);
        else
            handle_auth_reply(be, payload, h.len, h.seq);
        if (be->state == BE_CLOSING)
            return;
        rwp_inbuf_consume(&be->in, PROTO_HDR_LEN + h.len);
    }
    rwp_inbuf_release_if_empty(&be->in);
}

/* ---- reading ---- */

static int backend_relaying(const rwp_backend *be)
{
    return be->state == BE_BUSY || be->state == BE_IDLE;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    rwp_backend *be = h->data;
    (void)suggested;
    if (be->tls || backend_relaying(be)) { /* with TLS every read is ciphertext for a chunk */
        rwp_chunk *ch = rwp_chunk_get(&be->worker->chunks);
        *buf = ch ? uv_buf_init((char *)ch->data, RWP_CHUNK_SIZE) : uv_buf_init(NULL, 0);
        return;
    }
    size_t avail = 0;
    uint8_t *p = rwp_inbuf_reserve(&be->in, 4096, &avail);
    *buf = p ? uv_buf_init((char *)p, (unsigned)avail) : uv_buf_init(NULL, 0);
}

static void on_walk_event(void *ctx, const proto_walk_event *ev)
{
    rwp_backend *be = ctx;
    if (be->owner && be->ops->event)
        be->ops->event(be->owner, be, ev);
}

/* Walk and hand over one chunk of answer bytes. */
static void relay_chunk(rwp_backend *be, rwp_chunk *ch, size_t n)
{
    if (be->state != BE_BUSY || be->walker.state == WALK_INFILE) {
        BLOG(RWP_LOGL_DEBUG, be, "unexpected %zu bytes (state %d, walker %d): %02x %02x %02x %02x %02x",
             n, be->state, be->walker.state, ch->data[0], ch->data[1], ch->data[2], ch->data[3], ch->data[4]);
        backend_fail(be, NULL, 0, "server sent data while no command was in flight");
        return;
    }
    size_t used = proto_walker_feed(&be->walker, ch->data, n);
    if (used > 0 && be->owner)
        be->ops->data(be->owner, be, ch, ch->data, used);
    if (be->state == BE_CLOSING)
        return;
    if (be->walker.state == WALK_ERROR) {
        backend_fail(be, NULL, 0, "malformed answer from server");
        return;
    }
    if (be->walker.state == WALK_DONE) {
        if (used < n) {
            backend_fail(be, NULL, 0, "server sent bytes past the end of an answer");
            return;
        }
        backend_set_state(be, BE_IDLE);
    }
    if ((be->walker.state == WALK_DONE || be->walker.state == WALK_INFILE) && be->owner)
        be->ops->answered(be->owner, be);
}

/* Decrypt into a fresh chunk (filled as far as the input allows) and relay it: > 0 bytes
 * relayed, 0 needs more input, < 0 failed (the backend is closing). */
static long relay_decrypted(rwp_backend *be)
{
    rwp_chunk *ch = rwp_chunk_get(&be->worker->chunks);
    if (!ch) {
        backend_fail(be, NULL, 0, "out of memory");
        return -1;
    }
    size_t fill = 0;
    long n = 0;
    while (fill < RWP_CHUNK_SIZE && (n = rwp_tls_read(be->tls, ch->data + fill, RWP_CHUNK_SIZE - fill)) > 0)
        fill += (size_t)n;
    if (fill > 0)
        relay_chunk(be, ch, fill);
    rwp_chunk_unref(ch);
    if (n < 0 && be->state != BE_CLOSING)
        fail_tls(be);
    return be->state == BE_CLOSING ? -1 : (long)fill;
}

/* Decrypt into the login-phase buffer and parse it: as relay_decrypted. */
static long login_decrypted(rwp_backend *be)
{
    size_t avail = 0;
    uint8_t *p = rwp_inbuf_reserve(&be->in, 4096, &avail);
    if (!p) {
        backend_fail(be, NULL, 0, "out of memory");
        return -1;
    }
    long n = rwp_tls_read(be->tls, p, avail);
    if (n < 0) {
        fail_tls(be);
        return -1;
    }
    if (n > 0) {
        rwp_inbuf_commit(&be->in, (size_t)n);
        process_login_input(be);
    }
    return be->state == BE_CLOSING ? -1 : n;
}

/* Ciphertext arrived: continue the handshake, then decrypt everything fed so far. */
static void tls_input(rwp_backend *be)
{
    if (be->state == BE_TLS) {
        continue_tls_handshake(be);
        if (be->state != BE_AUTH)
            return;
    }
    long n;
    do
        n = backend_relaying(be) ? relay_decrypted(be) : login_decrypted(be);
    while (n > 0);
    if (n == 0)
        flush_tls(be); /* TLS 1.3 post-handshake messages may want an answer */
}

/* A read with TLS: ciphertext in a chunk, always returned to the pool. */
static void on_tls_read(rwp_backend *be, ssize_t nread, const uv_buf_t *buf)
{
    rwp_chunk *ch = buf->base ? rwp_chunk_of(buf->base) : NULL;
    if (nread > 0 && be->state != BE_CLOSING) {
        if (rwp_tls_feed(be->tls, buf->base, (size_t)nread) != 0)
            fail_tls(be);
        else
            tls_input(be);
    } else if (nread < 0 && be->state != BE_CLOSING) {
        fail_uv(be, nread == UV_EOF ? "connection closed by" : "read from", (int)nread);
    }
    if (ch)
        rwp_chunk_unref(ch);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    rwp_backend *be = s->data;
    if (be->tls) {
        on_tls_read(be, nread, buf);
        return;
    }
    int is_chunk = backend_relaying(be) && buf->base != NULL;
    rwp_chunk *ch = is_chunk ? rwp_chunk_of(buf->base) : NULL;
    if (nread > 0 && be->state != BE_CLOSING) {
        if (ch)
            relay_chunk(be, ch, (size_t)nread);
        else {
            rwp_inbuf_commit(&be->in, (size_t)nread);
            process_login_input(be);
        }
    } else if (nread < 0 && be->state != BE_CLOSING) {
        fail_uv(be, nread == UV_EOF ? "connection closed by" : "read from", (int)nread);
    } else if (nread == UV_ENOBUFS) {
        backend_fail(be, NULL, 0, "out of memory");
    }
    if (ch)
        rwp_chunk_unref(ch);
}

static void start_reading(rwp_backend *be)
{
    if (!be->reading && !be->paused && be->state != BE_CLOSING) {
        int rc = uv_read_start((uv_stream_t *)&be->tcp, on_alloc, on_read);
        if (rc < 0) {
            fail_uv(be, "read from", rc);
            return;
        }
        be->reading = 1;
    }
}

static void on_connected(uv_connect_t *req, int status)
{
    rwp_backend *be = req->data;
    if (be->state == BE_CLOSING)
        return;
    if (status < 0) {
        fail_uv(be, "connect to", status);
        return;
    }
    uv_tcp_nodelay(&be->tcp, 1);
    backend_set_state(be, BE_GREETING);
    start_reading(be);
}

/* ---- public API ---- */

/* Start the TCP connect to addr; 0, or -1 after the failure path ran. */
static int start_connect(rwp_backend *be, const struct sockaddr *addr)
{
    int rc = uv_tcp_connect(&be->connect_req, &be->tcp, addr, on_connected);
    if (rc < 0) {
        fail_uv(be, "connect to", rc);
        return -1;
    }
    return 0;
}

/* The server's host name was looked up (on libuv's thread pool, off the loop). */
static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    rwp_backend *be = req->data;
    be->resolving = 0;
    if (be->handle_closed) {
        uv_freeaddrinfo(res);
        backend_free(be);
        return;
    }
    if (be->state == BE_CLOSING) {
        uv_freeaddrinfo(res);
        return;
    }
    if (status < 0 || !res) {
        uv_freeaddrinfo(res);
        char reason[300];
        snprintf(reason, sizeof reason, "cannot resolve %s: %s", be->host, uv_strerror(status));
        backend_fail(be, NULL, 0, reason);
        return;
    }
    start_connect(be, res->ai_addr);
    uv_freeaddrinfo(res);
}

rwp_backend *rwp_backend_open(rwp_worker *w, int server, const char *name, const char *host, int port,
                              const rwp_login *login, const rwp_backend_ops *ops, void *owner,
                              uint64_t log_id, const char *log_user)
{
    struct sockaddr_storage addr;
    int numeric = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) == 0 ||
                  uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) == 0;
    rwp_backend *be = calloc(1, sizeof *be);
    if (!be)
        return NULL;
    be->worker = w;
    be->server = server;
    be->opened_ms = uv_now(&w->loop);
    be->ops = ops;
    be->owner = owner;
    be->port = port;
    be->log_id = log_id;
    snprintf(be->log_user, sizeof be->log_user, "%s", log_user ? log_user : "");
    snprintf(be->name, sizeof be->name, "%s", name);
    snprintf(be->host, sizeof be->host, "%s", host);
    be->login = *login;
    be->login.attrs = NULL;
    if (login->attrs && login->attrs_len) {
        be->login.attrs = malloc(login->attrs_len);
        if (!be->login.attrs) {
            free(be);
            return NULL;
        }
        memcpy(be->login.attrs, login->attrs, login->attrs_len);
    }
    uv_tcp_init(&w->loop, &be->tcp);
    be->tcp.data = be;
    be->connect_req.data = be;
    w->stats.backend_connects++;
    rwp_pool_opened(&w->pool, be);
    if (w->proxy->server_conns && server >= 0)
        atomic_fetch_add(&w->proxy->server_conns[server], 1);
    int rc;
    if (numeric) {
        rc = uv_tcp_connect(&be->connect_req, &be->tcp, (const struct sockaddr *)&addr, on_connected);
    } else {
        /* a host name: looked up off the loop; "localhost" and /etc/hosts names included */
        char portstr[16];
        struct addrinfo hints;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        snprintf(portstr, sizeof portstr, "%d", port);
        be->resolve_req.data = be;
        rc = uv_getaddrinfo(&w->loop, &be->resolve_req, on_resolved, host, portstr, &hints);
        be->resolving = rc == 0;
    }
    if (rc < 0) {
        BLOG(RWP_LOGL_WARN, be, "connect to %s:%d: %s", host, port, uv_strerror(rc));
        be->owner = NULL;
        backend_close_handle(be);
        return NULL;
    }
    return be;
}

int rwp_backend_send_command(rwp_backend *be, const uint8_t *bytes, size_t len,
                             proto_resp_kind kind, int cursor)
{
    if (be->state != BE_IDLE)
        return -1;
    proto_walker_start(&be->walker, kind, be->caps, cursor, on_walk_event, be);
    if (kind != RESP_NONE)
        backend_set_state(be, BE_BUSY);
    return send_bytes(be, bytes, len) < 0 ? -1 : 0;
}

int rwp_backend_send_more(rwp_backend *be, const uint8_t *bytes, size_t len)
{
    if (be->state == BE_CLOSING)
        return -1;
    return send_bytes(be, bytes, len) < 0 ? -1 : 0;
}

void rwp_backend_infile_done(rwp_backend *be)
{
    if (be->state == BE_BUSY)
        proto_walker_infile_sent(&be->walker);
}

void rwp_backend_pause(rwp_backend *be)
{
    if (be->paused || be->state == BE_CLOSING)
        return;
    be->paused = 1;
    if (be->reading) {
        uv_read_stop((uv_stream_t *)&be->tcp);
        be->reading = 0;
    }
}

void rwp_backend_resume(rwp_backend *be)
{
    if (!be->paused || be->state == BE_CLOSING)
        return;
    be->paused = 0;
    if (be->state != BE_CONNECTING)
        start_reading(be);
}

size_t rwp_backend_queued(const rwp_backend *be) { return rwp_write_queued((const uv_stream_t *)&be->tcp); }

void rwp_backend_abort(rwp_backend *be, const char *reason) { backend_fail(be, NULL, 0, reason); }

void rwp_backend_close(rwp_backend *be)
{
    if (!be || be->state == BE_CLOSING)
        return;
    be->owner = NULL;
    if (be->state == BE_IDLE) {
        static const uint8_t quit[5] = {1, 0, 0, 0, COM_QUIT};
        if (be->tls)
            rwp_tls_write(be->tls, (uv_stream_t *)&be->tcp, quit, sizeof quit, NULL);
        else
            rwp_write_copy((uv_stream_t *)&be->tcp, quit, sizeof quit, NULL);
    }
    if (be->tls)
        rwp_tls_close_notify(be->tls, (uv_stream_t *)&be->tcp);
    backend_close_handle(be);
}

void rwp_backend_adopt(rwp_backend *be, const rwp_backend_ops *ops, void *owner, uint64_t log_id,
                       const char *log_user)
{
    be->ops = ops;
    be->owner = owner;
    be->log_id = log_id;
    snprintf(be->log_user, sizeof be->log_user, "%s", log_user ? log_user : "");
    if (be->paused)
        rwp_backend_resume(be);
}

int rwp_backend_change_user(rwp_backend *be, const rwp_login *login)
{
    if (be->state != BE_IDLE)
        return -1;
    snprintf(be->login.user, sizeof be->login.user, "%s", login->user);
    be->login.has_password = login->has_password;
    memcpy(be->login.h1, login->h1, sizeof be->login.h1);
    snprintf(be->login.db, sizeof be->login.db, "%s", login->db);
    be->login.charset = login->charset;
    uint8_t reply[PROTO_SHA1_LEN];
    size_t reply_len = 0;
    if (login->has_password) {
        proto_native_scramble_h1(be->scramble, login->h1, reply);
        reply_len = sizeof reply;
    }
    proto_writer w;
    proto_wr_init(&w);
    int rc = proto_change_user_encode(&w, be->caps, login->user, reply, reply_len, login->db,
                                      login->charset, PROTO_NATIVE_PLUGIN,
                                      be->login.attrs, be->login.attrs_len);
    if (rc != 0) {
        proto_wr_free(&w);
        backend_fail(be, NULL, 0, "cannot build COM_CHANGE_USER");
        return -1;
    }
    be->track_ready = 0;
    be->opened_ms = uv_now(&be->worker->loop); /* the login deadline counts from now */
    be->st_chain = 0;
    be->st_n = 0;
    be->st_dirty = 0;
    be->last_insert_id = 0;
    be->replayed = 0;
    backend_set_state(be, BE_AUTH);
    rc = send_bytes(be, w.data, w.len);
    proto_wr_free(&w);
    BLOG(RWP_LOGL_DEBUG, be, "COM_CHANGE_USER to %s on %s (thread %u)", login->user, be->name,
         be->thread_id);
    return rc < 0 ? -1 : 0;
}
