/*
 * proxy/metrics.c — the Prometheus endpoint (see metrics.h): a listener on its own loop and
 * thread, one short-lived connection per scrape, and the rendering of the exposition text.
 */
#include "proxy/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "proxy/log.h"
#include "proxy/netio.h"
#include "proxy/stats.h"
#include "proxy/table.h"
#include "proxy/topology.h"
#include "proxy/worker.h"

#define REQUEST_MAX 8192      /* bytes of a request (line + headers) accepted */
#define REQUEST_TIMEOUT_MS 5000 /* a connection that has not been answered by then is closed */
#define MAX_CONNS 64          /* connections at once; more are closed at accept */

struct rwp_metrics {
    rwp_proxy *proxy;       /* what is measured */
    uv_loop_t loop;         /* the endpoint's own loop */
    uv_tcp_t server;        /* listening socket */
    uv_async_t stop_async;  /* rwp_metrics_stop pokes it */
    uv_thread_t thread;     /* runs loop */
    int nconns;             /* open connections */
};

/* One HTTP connection: read a request, answer it, close. */
typedef struct {
    uv_tcp_t tcp;           /* the socket (data = this) */
    uv_timer_t timer;       /* REQUEST_TIMEOUT_MS guard */
    uv_write_t wr;          /* the answer's write */
    rwp_metrics *m;         /* owner */
    int handles;            /* tcp + timer still open */
    int answered;           /* an answer was queued: ignore further input */
    size_t len;             /* bytes in req */
    char req[REQUEST_MAX];  /* the request so far */
    char *resp;             /* the answer being written (owned) */
} http_conn;

/* ---- a growable text buffer ---- */

typedef struct {
    char *data; /* text (NUL-terminated) */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
    int oom;    /* an allocation failed */
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->data && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->oom = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
}

/* A label value with \, " and newlines escaped (names come from the config). */
static const char *label(const char *s, char *buf, size_t cap)
{
    size_t o = 0;
    for (; *s && o + 3 < cap; s++) {
        if (*s == '\\' || *s == '"') {
            buf[o++] = '\\';
            buf[o++] = *s;
        } else if (*s == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else {
            buf[o++] = *s;
        }
    }
    buf[o] = '\0';
    return buf;
}

static void head(sbuf *b, const char *name, const char *type, const char *help)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ---- rendering ---- */

/* SHOW STATS rows exported as metrics. */
static const struct {
    const char *stat;   /* SHOW STATS name */
    const char *metric; /* metric name */
    const char *type;   /* counter or gauge */
    const char *help;   /* HELP text */
} global_metrics[] = {
    {"uptime_s", "rwproxy_uptime_seconds", "gauge", "Seconds since rwproxy started."},
    {"connections_current", "rwproxy_client_connections", "gauge", "Client connections open now."},
    {"connections_accepted", "rwproxy_connections_accepted_total", "counter", "Client connections accepted."},
    {"connections_refused", "rwproxy_connections_refused_total", "counter", "Client connections refused (limits, shutdown)."},
    {"auth_failed", "rwproxy_auth_failed_total", "counter", "Failed client logins."},
    {"writes_held", "rwproxy_writes_held_total", "counter", "Commands held while there was no master (failover, switchover)."},
    {"writes_held_timeout", "rwproxy_writes_held_timeout_total", "counter", "Held commands answered ERR 1290 after the hold time."},
    {"reads_retried", "rwproxy_reads_retried_total", "counter", "Reads sent again to another server after theirs failed."},
    {"sessions_lost", "rwproxy_sessions_lost_total", "counter", "Sessions closed because the master they were bound to went away."},
    {"bytes_in", "rwproxy_client_bytes_received_total", "counter", "Bytes read from clients."},
    {"bytes_out", "rwproxy_client_bytes_sent_total", "counter", "Bytes written to clients."},
    {"backend_connects", "rwproxy_backend_connects_total", "counter", "Backend connections opened."},
    {"backend_failures", "rwproxy_backend_connect_failures_total", "counter", "Backend connections that failed to open or log in."},
    {"failovers", "rwproxy_failovers_total", "counter", "Failovers and switchovers completed by this process."},
};

static void render_global(sbuf *b, rwp_proxy *p)
{
    rwp_table t;
    char err[256];
    if (rwp_stats_global(p, &t, err, sizeof err) != 0) {
        rwp_table_free(&t);
        return;
    }
    for (size_t i = 0; i < sizeof global_metrics / sizeof global_metrics[0]; i++) {
        for (size_t r = 0; r < t.nrows; r++) {
            const char *name = rwp_table_cell(&t, r, 0), *value = rwp_table_cell(&t, r, 1);
            if (!name || !value || strcmp(name, global_metrics[i].stat) != 0)
                continue;
            head(b, global_metrics[i].metric, global_metrics[i].type, global_metrics[i].help);
            sb_printf(b, "%s %s\n", global_metrics[i].metric, value);
        }
    }
    rwp_table_free(&t);
}

/* The first server from index i on that is listed (a reload removed ones keep their slot
 * in the topology but get no series), or t->nservers. */
static int listed_from(const rwp_topology *t, int i)
{
    while (i < t->nservers && t->servers[i].removed)
        i++;
    return i;
}

static void render_servers(sbuf *b, rwp_proxy *p)
{
    rwp_topology *t = rwp_topo_acquire(&p->topo);
    if (!t)
        return;
    int n = t->nservers;
    rwp_server_totals *x = calloc((size_t)n + 1, sizeof *x);
    char err[256];
    if (!x || rwp_stats_servers(p, x, n, err, sizeof err) != 0) {
        free(x);
        x = NULL;
    }
    char lb[200];
    static const rwp_srv_role roles[] = {ROLE_MASTER, ROLE_REPLICA, ROLE_STANDALONE, ROLE_UNKNOWN};

    head(b, "rwproxy_server_up", "gauge", "1 if the server answers the monitor's checks.");
    for (int i = listed_from(t, 0); i < n; i = listed_from(t, i + 1)) {
        rwp_srv_health h = t->servers[i].health;
        sb_printf(b, "rwproxy_server_up{server=\"%s\"} %d\n", label(t->servers[i].name, lb, sizeof lb),
                  h != SRV_DOWN && h != SRV_UNKNOWN);
    }
    head(b, "rwproxy_server_role", "gauge", "1 for the server's current role (master, replica, standalone, unknown).");
    for (int i = listed_from(t, 0); i < n; i = listed_from(t, i + 1))
        for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++)
            sb_printf(b, "rwproxy_server_role{server=\"%s\",role=\"%s\"} %d\n",
                      label(t->servers[i].name, lb, sizeof lb), rwp_srv_role_name(roles[r]),
                      t->servers[i].role == roles[r]);
    head(b, "rwproxy_server_lag_seconds", "gauge", "Replication lag (Seconds_Behind_Master); NaN if unknown or not a replica.");
    for (int i = listed_from(t, 0); i < n; i = listed_from(t, i + 1)) {
        if (t->servers[i].lag_s >= 0)
            sb_printf(b, "rwproxy_server_lag_seconds{server=\"%s\"} %d\n", label(t->servers[i].name, lb, sizeof lb),
                      t->servers[i].lag_s);
        else
            sb_printf(b, "rwproxy_server_lag_seconds{server=\"%s\"} NaN\n", label(t->servers[i].name, lb, sizeof lb));
    }
    head(b, "rwproxy_server_readable", "gauge", "1 if the server gets replica reads now.");
    for (int i = listed_from(t, 0); i < n; i = listed_from(t, i + 1))
        sb_printf(b, "rwproxy_server_readable{server=\"%s\"} %d\n", label(t->servers[i].name, lb, sizeof lb),
                  t->servers[i].readable ? 1 : 0);
    if (x) {
        head(b, "rwproxy_backend_connections", "gauge", "Backend connections to the server, held by a session (in_use) or idle in the pool.");
        for (int i = listed_from(t, 0); i < n; i = listed_from(t, i + 1)) {
            label(t->servers[i].name, lb, sizeof lb);
            sb_printf(b, "rwproxy_backend_connections{server=\"%s\",state=\"in_use\"} %llu\n", lb,
                      (unsigned long long)x[i].conns_in_use);
            sb_printf(b, "rwproxy_backend_connections{server=\"%s\",state=\"idle\"} %llu\n", lb,
                      (unsigned long long)x[i].conns_idle);
        }
        head(b, "rwproxy_pool_takes_total", "counter", "Connections taken from the pool: in the session's state (reused) or reset with COM_CHANGE_USER (reset).");
        for (int i = listed_from(t, 0); i < n; i = listed_from(t, i + 1)) {
            label(t->servers[i].name, lb, sizeof lb);
            sb_printf(b, "rwproxy_pool_takes_total{server=\"%s\",kind=\"reused\"} %llu\n", lb,
                      (unsigned long long)x[i].pool_reused);
            sb_printf(b, "rwproxy_pool_takes_total{server=\"%s\",kind=\"reset\"} %llu\n", lb,
                      (unsigned long long)x[i].pool_reset);
        }
        head(b, "rwproxy_pool_waiting", "gauge", "Statements waiting for a connection to the server (at its max_connections).");
        for (int i = listed_from(t, 0); i < n; i = listed_from(t, i + 1))
            sb_printf(b, "rwproxy_pool_waiting{server=\"%s\"} %llu\n", label(t->servers[i].name, lb, sizeof lb),
                      (unsigned long long)x[i].pool_waiting);
        head(b, "rwproxy_pool_wait_timeouts_total", "counter", "Statements answered ERR 1040 after waiting [pool] wait_timeout_ms for a connection.");
        for (int i = listed_from(t, 0); i < n; i = listed_from(t, i + 1))
            sb_printf(b, "rwproxy_pool_wait_timeouts_total{server=\"%s\"} %llu\n", label(t->servers[i].name, lb, sizeof lb),
                      (unsigned long long)x[i].pool_wait_timeouts);
        head(b, "rwproxy_queries_total", "counter", "Client commands sent to the server, as the session's master or not (replica).");
        for (int i = listed_from(t, 0); i < n; i = listed_from(t, i + 1)) {
            label(t->servers[i].name, lb, sizeof lb);
            sb_printf(b, "rwproxy_queries_total{server=\"%s\",dest=\"master\"} %llu\n", lb,
                      (unsigned long long)(x[i].queries - x[i].reads));
            sb_printf(b, "rwproxy_queries_total{server=\"%s\",dest=\"replica\"} %llu\n", lb,
                      (unsigned long long)x[i].reads);
        }
        head(b, "rwproxy_query_errors_total", "counter", "Answers from the server that were ERR.");
        for (int i = listed_from(t, 0); i < n; i = listed_from(t, i + 1))
            sb_printf(b, "rwproxy_query_errors_total{server=\"%s\"} %llu\n", label(t->servers[i].name, lb, sizeof lb),
                      (unsigned long long)x[i].errors);
        static const uint64_t bounds[] = RWP_STATS_BUCKET_BOUNDS_US;
        head(b, "rwproxy_query_duration_seconds", "histogram", "Time from sending a command to the server to its complete answer.");
        for (int i = listed_from(t, 0); i < n; i = listed_from(t, i + 1)) {
            label(t->servers[i].name, lb, sizeof lb);
            uint64_t cum = 0;
            for (size_t k = 0; k < RWP_LAT_BUCKETS; k++) {
                cum += x[i].latency_buckets[k];
                if (k < sizeof bounds / sizeof bounds[0])
                    sb_printf(b, "rwproxy_query_duration_seconds_bucket{server=\"%s\",le=\"%g\"} %llu\n", lb,
                              bounds[k] / 1e6, (unsigned long long)cum);
                else
                    sb_printf(b, "rwproxy_query_duration_seconds_bucket{server=\"%s\",le=\"+Inf\"} %llu\n", lb,
                              (unsigned long long)cum);
            }
            sb_printf(b, "rwproxy_query_duration_seconds_sum{server=\"%s\"} %.6f\n", lb,
                      x[i].latency_us_total / 1e6);
            sb_printf(b, "rwproxy_query_duration_seconds_count{server=\"%s\"} %llu\n", lb,
                      (unsigned long long)x[i].latency_count);
        }
    }
    head(b, "rwproxy_writes_blocked", "gauge", "1 while writes are held (no master, or a switchover is running).");
    sb_printf(b, "rwproxy_writes_blocked %d\n", t->writer < 0 || t->writes_held);
    free(x);
    rwp_topo_release(t);
}

char *rwp_metrics_render(rwp_proxy *p, size_t *len)
{
    sbuf b = {0};
    head(&b, "rwproxy_up", "gauge", "1 while rwproxy runs.");
    sb_printf(&b, "rwproxy_up 1\n");
    render_global(&b, p);
    render_servers(&b, p);
    if (b.oom) {
        free(b.data);
        return NULL;
    }
    *len = b.len;
    return b.data;
}

/* ---- HTTP ---- */

static void on_conn_closed(uv_handle_t *h)
{
    http_conn *hc = h->data;
    if (--hc->handles > 0)
        return;
    hc->m->nconns--;
    free(hc->resp);
    free(hc);
}

static void conn_close(http_conn *hc)
{
    if (!uv_is_closing((uv_handle_t *)&hc->tcp))
        uv_close((uv_handle_t *)&hc->tcp, on_conn_closed);
    if (!uv_is_closing((uv_handle_t *)&hc->timer))
        uv_close((uv_handle_t *)&hc->timer, on_conn_closed);
}

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    conn_close(req->data);
}

static void respond(http_conn *hc, int code, const char *reason, const char *ctype, const char *body,
                    size_t blen)
{
    hc->answered = 1;
    uv_read_stop((uv_stream_t *)&hc->tcp);
    char hdr[256];
    int hl = snprintf(hdr, sizeof hdr,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                      code, reason, ctype, blen);
    hc->resp = malloc((size_t)hl + blen);
    if (!hc->resp) {
        conn_close(hc);
        return;
    }
    memcpy(hc->resp, hdr, (size_t)hl);
    if (blen)
        memcpy(hc->resp + hl, body, blen);
    uv_buf_t buf = uv_buf_init(hc->resp, (unsigned)((size_t)hl + blen));
    hc->wr.data = hc;
    if (uv_write(&hc->wr, (uv_stream_t *)&hc->tcp, &buf, 1, on_written) != 0)
        conn_close(hc);
}

/* A complete request head is in hc->req: answer it. */
static void handle_request(http_conn *hc)
{
    char *line_end = strpbrk(hc->req, "\r\n");
    if (line_end)
        *line_end = '\0';
    char method[16] = "", path[512] = "", version[16] = "";
    if (sscanf(hc->req, "%15s %511s %15s", method, path, version) < 2) {
        static const char msg[] = "bad request\n";
        respond(hc, 400, "Bad Request", "text/plain", msg, sizeof msg - 1);
        return;
    }
    char *q = strchr(path, '?');
    if (q)
        *q = '\0';
    int head_only = strcmp(method, "HEAD") == 0;
    if (strcmp(method, "GET") != 0 && !head_only) {
        static const char msg[] = "method not allowed\n";
        respond(hc, 405, "Method Not Allowed", "text/plain", msg, sizeof msg - 1);
        return;
    }
    if (strcmp(path, "/metrics") != 0) {
        static const char msg[] = "not found: rwproxy serves /metrics\n";
        respond(hc, 404, "Not Found", "text/plain", msg, sizeof msg - 1);
        return;
    }
    size_t len = 0;
    char *body = rwp_metrics_render(hc->m->proxy, &len);
    if (!body) {
        static const char msg[] = "out of memory\n";
        respond(hc, 500, "Internal Server Error", "text/plain", msg, sizeof msg - 1);
        return;
    }
    respond(hc, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, head_only ? 0 : len);
    free(body);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    http_conn *hc = h->data;
    (void)suggested;
    *buf = uv_buf_init(hc->req + hc->len, (unsigned)(sizeof hc->req - 1 - hc->len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    http_conn *hc = s->data;
    (void)buf;
    if (hc->answered)
        return;
    if (nread < 0) {
        conn_close(hc);
        return;
    }
    hc->len += (size_t)nread;
    hc->req[hc->len] = '\0';
    if (strstr(hc->req, "\r\n\r\n") || strstr(hc->req, "\n\n")) {
        handle_request(hc);
        return;
    }
    if (hc->len >= sizeof hc->req - 1) {
        static const char msg[] = "request too large\n";
        respond(hc, 431, "Request Header Fields Too Large", "text/plain", msg, sizeof msg - 1);
    }
}

static void on_timeout(uv_timer_t *t) { conn_close(t->data); }

static void on_connection(uv_stream_t *server, int status)
{
    rwp_metrics *m = server->data;
    if (status < 0)
        return;
    http_conn *hc = calloc(1, sizeof *hc);
    if (!hc)
        return;
    hc->m = m;
    uv_tcp_init(&m->loop, &hc->tcp);
    uv_timer_init(&m->loop, &hc->timer);
    hc->tcp.data = hc;
    hc->timer.data = hc;
    hc->handles = 2;
    m->nconns++;
    if (uv_accept(server, (uv_stream_t *)&hc->tcp) != 0 || m->nconns > MAX_CONNS) {
        conn_close(hc);
        return;
    }
    uv_timer_start(&hc->timer, on_timeout, REQUEST_TIMEOUT_MS, 0);
    if (uv_read_start((uv_stream_t *)&hc->tcp, on_alloc, on_read) != 0)
        conn_close(hc);
}

/* ---- life cycle ---- */

/* uv_walk callback at stop: the listener and the async close plainly, connections their way. */
static void close_any(uv_handle_t *h, void *arg)
{
    rwp_metrics *m = arg;
    if (uv_is_closing(h))
        return;
    if (h == (uv_handle_t *)&m->server || h == (uv_handle_t *)&m->stop_async)
        uv_close(h, NULL);
    else
        conn_close(h->data);
}

static void on_stop(uv_async_t *a)
{
    rwp_metrics *m = a->data;
    uv_walk(&m->loop, close_any, m);
}

static void metrics_main(void *arg)
{
    rwp_metrics *m = arg;
    uv_run(&m->loop, UV_RUN_DEFAULT);
}

rwp_metrics *rwp_metrics_start(rwp_proxy *p, const char *host, int port, char *err, size_t cap)
{
    struct sockaddr_storage addr;
    socklen_t addrlen;
    if (rwp_resolve_listen(host, port, &addr, &addrlen) != 0) {
        snprintf(err, cap, "metrics_listen %s:%d: cannot resolve the host", host, port);
        return NULL;
    }
    rwp_metrics *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    m->proxy = p;
    int rc = uv_loop_init(&m->loop);
    if (rc == 0) {
        uv_tcp_init(&m->loop, &m->server);
        m->server.data = m;
        rc = uv_tcp_bind(&m->server, (const struct sockaddr *)&addr, 0);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)&m->server, 128, on_connection);
    }
    if (rc == 0) {
        uv_async_init(&m->loop, &m->stop_async, on_stop);
        m->stop_async.data = m;
        rc = uv_thread_create(&m->thread, metrics_main, m);
    }
    if (rc != 0) {
        snprintf(err, cap, "metrics_listen %s:%d: %s", host, port, uv_strerror(rc));
        uv_walk(&m->loop, close_any, m);
        uv_run(&m->loop, UV_RUN_DEFAULT);
        uv_loop_close(&m->loop);
        free(m);
        return NULL;
    }
    log_info("metrics: serving http://%s:%d/metrics", host, port);
    return m;
}

void rwp_metrics_stop(rwp_metrics *m)
{
    if (!m)
        return;
    uv_async_send(&m->stop_async);
    uv_thread_join(&m->thread);
    uv_run(&m->loop, UV_RUN_NOWAIT);
    if (uv_loop_close(&m->loop) != 0)
        log_warn("metrics: loop closed with handles still open");
    free(m);
}
