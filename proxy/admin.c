/*
 * proxy/admin.c — the admin port's network side (see admin.h): its thread and libuv loop,
 * the listener, and each admin connection from greeting to close: HandshakeResponse41,
 * mysql_native_password against [admin] user/password (with an AuthSwitchRequest for
 * clients that start with another plugin), then one command at a time (COM_QUERY is run by
 * proxy/admin_cmd.c and answered here as a result set, OK or ERR; COM_PING, COM_INIT_DB,
 * COM_QUIT; anything else ERR 1047). Input is bounded (64 KiB login packets, 1 MiB
 * commands); a malformed or oversized packet closes that connection only.
 */
#include "proxy/admin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "protocol/auth.h"
#include "protocol/handshake.h"
#include "protocol/mysql_const.h"
#include "protocol/packet.h"
#include "protocol/response.h"
#include "protocol/resultset.h"
#include "proxy/admin_cmd.h"
#include "proxy/log.h"
#include "proxy/netio.h"
#include "proxy/worker.h"

/* What the admin port offers: plain protocol 4.1 with plugin auth; no SSL, compression,
 * multi-statements or LOCAL INFILE. CLIENT_MYSQL is set, so no MariaDB extension applies. */
#define ADM_CAPS                                                                             \
    (CLIENT_LONG_PASSWORD | CLIENT_FOUND_ROWS | CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB |   \
     CLIENT_NO_SCHEMA | CLIENT_ODBC | CLIENT_IGNORE_SPACE | CLIENT_PROTOCOL_41 |              \
     CLIENT_INTERACTIVE | CLIENT_IGNORE_SIGPIPE | CLIENT_TRANSACTIONS | CLIENT_RESERVED |     \
     CLIENT_SECURE_CONNECTION | CLIENT_MULTI_RESULTS | CLIENT_PLUGIN_AUTH |                   \
     CLIENT_CONNECT_ATTRS | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_DEPRECATE_EOF)

#define ADM_AUTH_MAX      (64u * 1024u)          /* largest login packet accepted */
#define ADM_CMD_MAX       (1024u * 1024u + 1u)   /* largest command: 1 MiB of text + command byte */
#define ADM_MAX_CONNS     64                     /* admin connections at once; more get ERR 1040 */
#define ADM_WRITE_HIGH    (4u * 1024u * 1024u)   /* stop reading while more than this is queued */
#define ADM_WRITE_LOW     (1u * 1024u * 1024u)   /* read again below this */
#define ADM_CLOSE_GUARD_MS 5000                  /* a close that cannot flush ends after this */
#define ADM_STATUS        SERVER_STATUS_AUTOCOMMIT /* status flags of every answer */

/* Where an admin connection is. */
typedef enum {
    ADM_HANDSHAKE,   /* greeting sent; waiting for the HandshakeResponse41 */
    ADM_AUTH_SWITCH, /* AuthSwitchRequest sent; waiting for the native password reply */
    ADM_READY,       /* logged in; waiting for the next command */
    ADM_CLOSING      /* shutting down / closing its handles; reads nothing more */
} adm_state;

static const char *const adm_state_names[] = {"handshake", "auth_switch", "ready", "closing"};

/* One admin connection (lives on the admin thread only). */
typedef struct adm_conn {
    rwp_admin *admin;            /* the owner */
    uv_tcp_t tcp;                /* the socket */
    uv_timer_t timer;            /* handshake timeout, then the close guard */
    uv_shutdown_t shutdown_req;  /* flushes queued answers before the close */
    int handles_open;            /* of tcp and timer, not yet closed (freed at 0) */
    adm_state state;             /* see adm_state */
    int reading;                 /* uv_read_start is in effect */
    rwp_inbuf in;                /* bytes received and not yet handled */
    uint64_t id;                 /* connection id shown in the greeting and CONNECTION_ID() */
    uint8_t scramble[PROTO_SCRAMBLE_LEN]; /* the challenge of this login */
    uint8_t auth_seq;            /* sequence id of our next login-phase packet */
    uint32_t caps;               /* capabilities both sides have */
    char user[PROTO_MAX_NAME + 1]; /* the user the client logs in as */
    char peer[64];               /* client address, for logs and messages */
    struct adm_conn *prev, *next; /* the admin's list of connections */
} adm_conn;

/* The admin port. */
struct rwp_admin {
    rwp_proxy *proxy;            /* configuration, topology, workers */
    rwp_monitor *monitor;        /* for SWITCHOVER, FAILOVER, SET SERVER, SHOW EVENTS */
    uv_loop_t loop;              /* the admin thread's own loop */
    uv_thread_t thread;          /* the admin thread */
    uv_tcp_t listener;           /* [admin] listen */
    uv_async_t stop_async;       /* rwp_admin_stop pokes the loop through this */
    adm_conn *conns;             /* open connections */
    int nconns;                  /* how many */
    uint64_t next_id;            /* last connection id given */
};

static void conn_process_input(adm_conn *c);

/* ------------------------------------------------------------- closing ---- */

static void set_state(adm_conn *c, adm_state st)
{
    if (c->state == st)
        return;
    log_debug("admin connection %llu (%s): %s -> %s", (unsigned long long)c->id, c->peer,
              adm_state_names[c->state], adm_state_names[st]);
    c->state = st;
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    adm_conn *c = h->data;
    if (--c->handles_open > 0)
        return;
    rwp_admin *a = c->admin;
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    a->nconns--;
    rwp_inbuf_free(&c->in);
    free(c);
}

static void close_handles(adm_conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&c->timer))
        uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void on_shutdown_done(uv_shutdown_t *req, int status)
{
    (void)status;
    close_handles(req->data);
}

static void on_close_guard(uv_timer_t *t) { close_handles(t->data); }

/* The one way out: stop reading, flush what is queued (bounded by a timer), close. */
static void conn_close(adm_conn *c, const char *reason)
{
    if (c->state == ADM_CLOSING)
        return;
    log_debug("admin connection %llu (%s) closes: %s", (unsigned long long)c->id, c->peer, reason);
    set_state(c, ADM_CLOSING);
    if (c->reading)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, on_close_guard, ADM_CLOSE_GUARD_MS, 0);
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown_done) != 0)
        close_handles(c);
}

/* ------------------------------------------------------------- writing ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void start_reading(adm_conn *c)
{
    if (!c->reading && c->state != ADM_CLOSING &&
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = 1;
}

static void on_written(uv_stream_t *s, int status)
{
    adm_conn *c = s->data;
    if (status < 0 && status != UV_ECANCELED) {
        conn_close(c, uv_strerror(status));
        return;
    }
    if (!c->reading && c->state == ADM_READY &&
        rwp_write_queued((uv_stream_t *)&c->tcp) < ADM_WRITE_LOW) {
        start_reading(c);
        conn_process_input(c);
    }
}

/* Send what w holds (its buffer passes on) and release w. */
static void send_writer(adm_conn *c, proto_writer *w)
{
    if (w->err) {
        proto_wr_free(w);
        conn_close(c, "cannot build an answer");
        return;
    }
    int rc = rwp_write_owned((uv_stream_t *)&c->tcp, w->data, w->len, on_written);
    w->data = NULL;
    proto_wr_free(w);
    if (rc < 0)
        conn_close(c, uv_strerror(rc));
}

static void send_ok(adm_conn *c, uint8_t seq, const char *info)
{
    proto_writer w;
    proto_wr_init(&w);
    proto_ok_encode(&w, seq, 0, 0, ADM_STATUS, 0, info, c->caps);
    send_writer(c, &w);
}

static void send_err(adm_conn *c, uint8_t seq, uint16_t code, const char *state, const char *msg)
{
    proto_writer w;
    proto_wr_init(&w);
    proto_err_encode(&w, seq, code, state, msg);
    send_writer(c, &w);
}

/* Tell the client why (an ERR packet), log it, close. */
static void conn_fail(adm_conn *c, uint8_t seq, uint16_t code, const char *state, const char *fmt,
                      ...) __attribute__((format(printf, 5, 6)));

static void conn_fail(adm_conn *c, uint8_t seq, uint16_t code, const char *state, const char *fmt,
                      ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->state == ADM_CLOSING)
        return;
    log_info("admin connection %llu (%s): error %u (%s): %s", (unsigned long long)c->id, c->peer,
             code, state, msg);
    send_err(c, seq, code, state, msg);
    conn_close(c, msg);
}

/* ------------------------------------------------------- authentication ---- */

/* The password check: the admin user, and the reply to our scramble. */
static int credentials_ok(adm_conn *c, const uint8_t *reply, size_t len)
{
    const rwp_config *cfg = rwp_adm_config(c->admin->proxy);
    uint8_t h1[PROTO_SHA1_LEN], h2[PROTO_SHA1_LEN], recovered[PROTO_SHA1_LEN];
    size_t plen = strlen(cfg->admin_password);
    proto_native_hash_password(cfg->admin_password, plen, h1, h2);
    int ok = strcmp(c->user, cfg->admin_user) == 0 &&
             proto_native_check(c->scramble, reply, len, h2, plen > 0, recovered) == 0;
    memset(h1, 0, sizeof h1);
    memset(recovered, 0, sizeof recovered);
    return ok;
}

static void verify_password(adm_conn *c, const uint8_t *reply, size_t len)
{
    if (!credentials_ok(c, reply, len)) {
        /* logged rate-limited, so not through conn_fail, which logs every call */
        char msg[512];
        rwp_log_ctx ctx = {0, c->user, NULL, c->peer};
        log_failed_login(&ctx, "admin port: access denied for '%s'@'%s' (using password: %s)",
                         c->user, c->peer, len > 0 ? "YES" : "NO");
        snprintf(msg, sizeof msg, "Access denied for user '%s'@'%s' (using password: %s)", c->user,
                 c->peer, len > 0 ? "YES" : "NO");
        send_err(c, c->auth_seq, ER_ACCESS_DENIED_ERROR, "28000", msg);
        conn_close(c, "access denied");
        return;
    }
    uv_timer_stop(&c->timer);
    send_ok(c, c->auth_seq, NULL);
    set_state(c, ADM_READY);
    log_debug("admin connection %llu: '%s' logged in from %s", (unsigned long long)c->id, c->user,
             c->peer);
}

static void send_auth_switch(adm_conn *c)
{
    proto_writer w;
    proto_wr_init(&w);
    proto_auth_switch_encode(&w, PROTO_NATIVE_PLUGIN, c->scramble, sizeof c->scramble, c->auth_seq);
    c->auth_seq++;
    send_writer(c, &w);
    set_state(c, ADM_AUTH_SWITCH);
}

static int is_native(const char *plugin, size_t len)
{
    return !plugin || len == 0 ||
           (len == strlen(PROTO_NATIVE_PLUGIN) && memcmp(plugin, PROTO_NATIVE_PLUGIN, len) == 0);
}

static void on_handshake_response(adm_conn *c, const uint8_t *payload, size_t len, uint8_t seq)
{
    proto_handshake_response r;
    c->auth_seq = (uint8_t)(seq + 1);
    if (proto_handshake_response_decode(payload, len, &r) != PROTO_OK || r.user_len >= sizeof c->user) {
        conn_fail(c, c->auth_seq, ER_HANDSHAKE_ERROR, "08S01", "Bad handshake");
        return;
    }
    if (r.is_ssl_request) {
        conn_fail(c, c->auth_seq, ER_HANDSHAKE_ERROR, "08S01", "SSL is not enabled on the admin port");
        return;
    }
    memcpy(c->user, r.user, r.user_len);
    c->user[r.user_len] = '\0';
    c->caps = r.capabilities & ADM_CAPS;
    if (!is_native(r.plugin, r.plugin_len)) {
        send_auth_switch(c);
        return;
    }
    verify_password(c, r.auth, r.auth_len);
}

/* ------------------------------------------------------------- commands ---- */

/* Encode a command's reply as the packets that answer it (sequence ids from 1). */
static void send_reply(adm_conn *c, rwp_adm_reply *r)
{
    proto_writer w;
    uint8_t seq = 1;
    if (r->kind == ADM_REPLY_TABLE && r->table.oom) {
        send_err(c, 1, ER_UNKNOWN_ERROR, "HY000", "rwproxy admin: out of memory");
        return;
    }
    if (r->kind == ADM_REPLY_OK) {
        send_ok(c, 1, r->msg);
        return;
    }
    if (r->kind == ADM_REPLY_ERR) {
        send_err(c, 1, r->code, r->sqlstate, r->msg);
        return;
    }
    proto_wr_init(&w);
    if (proto_rs_encode(&w, &seq, r->table.ncols, (const char *const *)r->table.cols,
                        r->table.nrows, (const char *const *)r->table.cells, c->caps,
                        ADM_STATUS) != 0) {
        proto_wr_free(&w);
        send_err(c, 1, ER_UNKNOWN_ERROR, "HY000", "rwproxy admin: the answer is too large");
        return;
    }
    send_writer(c, &w);
}

static void run_query(adm_conn *c, const uint8_t *text, size_t len)
{
    rwp_adm_ctx ctx = {c->admin->proxy, c->admin->monitor, c->id, c->user};
    rwp_adm_reply reply;
    log_debug("admin connection %llu: %.*s", (unsigned long long)c->id,
              (int)(len > 200 ? 200 : len), (const char *)text);
    rwp_adm_execute(&ctx, (const char *)text, len, &reply);
    send_reply(c, &reply);
    rwp_adm_reply_free(&reply);
}

static void on_command(adm_conn *c, const uint8_t *payload, size_t len)
{
    if (len == 0) {
        conn_fail(c, 1, ER_UNKNOWN_COM_ERROR, "08S01", "Empty command packet");
        return;
    }
    switch (payload[0]) {
    case COM_QUIT: conn_close(c, "COM_QUIT"); break;
    case COM_PING:
    case COM_INIT_DB: send_ok(c, 1, NULL); break;
    case COM_QUERY: run_query(c, payload + 1, len - 1); break;
    default: {
        char msg[96];
        snprintf(msg, sizeof msg, "Unknown command 0x%02x: the admin port answers COM_QUERY, "
                 "COM_PING, COM_INIT_DB and COM_QUIT", payload[0]);
        send_err(c, 1, ER_UNKNOWN_COM_ERROR, "08S01", msg);
    }
    }
}

/* --------------------------------------------------------------- reading ---- */

/* Handle the complete packet at the head of the input; 0 if one was handled. */
static int handle_next_packet(adm_conn *c)
{
    proto_hdr h;
    size_t avail = rwp_inbuf_len(&c->in);
    if (proto_hdr_peek(rwp_inbuf_head(&c->in), avail, &h) != PROTO_OK)
        return -1;
    size_t limit = c->state == ADM_READY ? ADM_CMD_MAX : ADM_AUTH_MAX;
    if (h.len > limit) {
        conn_fail(c, (uint8_t)(h.seq + 1), ER_NET_PACKET_TOO_LARGE, "08S01",
                  "Got a packet bigger than the admin port accepts (%zu bytes)", limit);
        return -1;
    }
    if (avail < PROTO_HDR_LEN + h.len)
        return -1;
    const uint8_t *payload = rwp_inbuf_head(&c->in) + PROTO_HDR_LEN;
    if (c->state == ADM_HANDSHAKE)
        on_handshake_response(c, payload, h.len, h.seq);
    else if (c->state == ADM_AUTH_SWITCH) {
        c->auth_seq = (uint8_t)(h.seq + 1);
        verify_password(c, payload, h.len);
    }
    else
        on_command(c, payload, h.len);
    rwp_inbuf_consume(&c->in, PROTO_HDR_LEN + h.len);
    return 0;
}

/* Run every complete packet buffered, one at a time; pause reading while the client does
 * not take its answers. */
static void conn_process_input(adm_conn *c)
{
    while (c->state != ADM_CLOSING && rwp_write_queued((uv_stream_t *)&c->tcp) <= ADM_WRITE_HIGH)
        if (handle_next_packet(c) != 0)
            break;
    if (c->state == ADM_CLOSING)
        return;
    if (rwp_write_queued((uv_stream_t *)&c->tcp) > ADM_WRITE_HIGH && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    rwp_inbuf_release_if_empty(&c->in);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    adm_conn *c = h->data;
    size_t avail = 0;
    (void)suggested;
    uint8_t *p = rwp_inbuf_reserve(&c->in, 16384, &avail);
    *buf = p ? uv_buf_init((char *)p, (unsigned)(avail > 65536 ? 65536 : avail)) : uv_buf_init(NULL, 0);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    adm_conn *c = s->data;
    (void)buf;
    if (c->state == ADM_CLOSING || nread == 0)
        return;
    if (nread < 0) {
        conn_close(c, nread == UV_EOF ? "client closed the connection" : uv_strerror((int)nread));
        return;
    }
    rwp_inbuf_commit(&c->in, (size_t)nread);
    conn_process_input(c);
}

/* ------------------------------------------------------------- accepting ---- */

static void on_handshake_timeout(uv_timer_t *t)
{
    adm_conn *c = t->data;
    conn_fail(c, c->auth_seq, ER_HANDSHAKE_ERROR, "08S01", "Handshake timeout");
}

static void send_greeting(adm_conn *c)
{
    proto_greeting g;
    proto_greeting_init(&g, "5.5.5-" RWP_ADMIN_VERSION, (uint32_t)c->id, c->scramble, ADM_CAPS,
                        ADM_STATUS);
    proto_writer w;
    proto_wr_init(&w);
    proto_greeting_encode(&w, &g);
    send_writer(c, &w);
}

static void peer_name(adm_conn *c) { rwp_peer_name(&c->tcp, c->peer, sizeof c->peer); }

static adm_conn *conn_new(rwp_admin *a)
{
    adm_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->admin = a;
    c->id = ++a->next_id;
    uv_tcp_init(&a->loop, &c->tcp);
    uv_timer_init(&a->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles_open = 2;
    c->next = a->conns;
    if (a->conns)
        a->conns->prev = c;
    a->conns = c;
    a->nconns++;
    return c;
}

/* Greet an accepted connection and wait for its login. */
static void conn_begin(adm_conn *c)
{
    const rwp_config *cfg = rwp_adm_config(c->admin->proxy);
    if (c->admin->nconns > ADM_MAX_CONNS) {
        conn_fail(c, 0, ER_CON_COUNT_ERROR, "08004", "Too many admin connections");
        return;
    }
    if (proto_random_scramble(c->scramble, sizeof c->scramble) != 0) {
        conn_fail(c, 0, ER_UNKNOWN_ERROR, "HY000", "rwproxy admin: random generator failed");
        return;
    }
    send_greeting(c);
    if (c->state == ADM_CLOSING)
        return;
    c->auth_seq = 1;
    int timeout = cfg->handshake_timeout_ms > 0 ? cfg->handshake_timeout_ms : 10000;
    uv_timer_start(&c->timer, on_handshake_timeout, (uint64_t)timeout, 0);
    start_reading(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    rwp_admin *a = server->data;
    if (status < 0) {
        log_warn("admin port: accept failed: %s", uv_strerror(status));
        return;
    }
    adm_conn *c = conn_new(a);
    if (!c)
        return;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        set_state(c, ADM_CLOSING);
        close_handles(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    peer_name(c);
    conn_begin(c);
}

/* ------------------------------------------------------------ the thread ---- */

static void on_stop(uv_async_t *h)
{
    rwp_admin *a = h->data;
    uv_close((uv_handle_t *)&a->listener, NULL);
    uv_close((uv_handle_t *)&a->stop_async, NULL);
    for (adm_conn *c = a->conns; c; c = c->next) {
        set_state(c, ADM_CLOSING);
        close_handles(c);
    }
}

static void admin_thread(void *arg)
{
    rwp_admin *a = arg;
    uv_run(&a->loop, UV_RUN_DEFAULT);
}

/* Bind and listen on host:port. Returns 0, or a negative libuv error. */
static int bind_listener(rwp_admin *a, const char *host, int port)
{
    char service[16];
    struct addrinfo hints = {0};
    uv_getaddrinfo_t req;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(service, sizeof service, "%d", port);
    int rc = uv_getaddrinfo(&a->loop, &req, NULL, host, service, &hints);
    if (rc != 0)
        return rc;
    rc = uv_tcp_bind(&a->listener, req.addrinfo->ai_addr, 0);
    uv_freeaddrinfo(req.addrinfo);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&a->listener, 64, on_connection);
    return rc;
}

/* Undo a start that failed after the loop was made. */
static void discard(rwp_admin *a)
{
    uv_close((uv_handle_t *)&a->listener, NULL);
    if (a->stop_async.data) /* set once uv_async_init succeeded */
        uv_close((uv_handle_t *)&a->stop_async, NULL);
    uv_run(&a->loop, UV_RUN_DEFAULT);
    uv_loop_close(&a->loop);
    free(a);
}

rwp_admin *rwp_admin_start(rwp_proxy *p, rwp_monitor *m, char *err, size_t errcap)
{
    const rwp_config *cfg = rwp_adm_config(p);
    rwp_admin *a = calloc(1, sizeof *a);
    if (!a || uv_loop_init(&a->loop) != 0) {
        snprintf(err, errcap, "admin port: out of memory");
        free(a);
        return NULL;
    }
    a->proxy = p;
    a->monitor = m;
    uv_tcp_init(&a->loop, &a->listener);
    a->listener.data = a;
    int rc = bind_listener(a, cfg->admin_host, cfg->admin_port);
    if (rc == 0 && (rc = uv_async_init(&a->loop, &a->stop_async, on_stop)) == 0)
        a->stop_async.data = a;
    if (rc == 0)
        rc = uv_thread_create(&a->thread, admin_thread, a);
    if (rc != 0) {
        snprintf(err, errcap, "cannot start the admin port on %s:%d: %s", cfg->admin_host,
                 cfg->admin_port, uv_strerror(rc));
        discard(a);
        return NULL;
    }
    log_info("admin port listening on %s:%d", cfg->admin_host, cfg->admin_port);
    return a;
}

void rwp_admin_stop(rwp_admin *a)
{
    if (!a)
        return;
    uv_async_send(&a->stop_async);
    uv_thread_join(&a->thread);
    uv_loop_close(&a->loop);
    free(a);
}
