/*
 * proxy/netio.c — input buffers and try-then-queue writes (see netio.h).
 */
#include "proxy/netio.h"

#include <stdlib.h>
#include <netdb.h>
#include <string.h>

#define INBUF_MIN 4096u

uint8_t *rwp_inbuf_reserve(rwp_inbuf *b, size_t want, size_t *avail)
{
    if (b->start > 0 && b->start == b->end) {
        b->start = b->end = 0;
    }
    if (b->cap - b->end < want && b->start > 0) {
        size_t n = b->end - b->start;
        memmove(b->data, b->data + b->start, n);
        b->start = 0;
        b->end = n;
    }
    if (b->cap - b->end < want) {
        size_t ncap = b->cap ? b->cap : INBUF_MIN;
        while (ncap - b->end < want)
            ncap *= 2;
        uint8_t *nd = realloc(b->data, ncap);
        if (!nd)
            return NULL;
        b->data = nd;
        b->cap = ncap;
    }
    *avail = b->cap - b->end;
    return b->data + b->end;
}

void rwp_inbuf_commit(rwp_inbuf *b, size_t n) { b->end += n; }

void rwp_inbuf_consume(rwp_inbuf *b, size_t n)
{
    b->start += n;
    if (b->start >= b->end)
        b->start = b->end = 0;
}

int rwp_inbuf_append(rwp_inbuf *b, const void *p, size_t n)
{
    size_t avail;
    uint8_t *dst = rwp_inbuf_reserve(b, n, &avail);
    if (!dst)
        return -1;
    memcpy(dst, p, n);
    b->end += n;
    return 0;
}

void rwp_inbuf_release_if_empty(rwp_inbuf *b)
{
    if (b->data && b->start == b->end) {
        free(b->data);
        b->data = NULL;
        b->start = b->end = b->cap = 0;
    }
}

void rwp_inbuf_free(rwp_inbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->start = b->end = b->cap = 0;
}

/* A queued write: what it holds until libuv reports completion. */
typedef struct {
    uv_write_t req;          /* libuv request (req.data unused) */
    rwp_chunk *chunk;        /* referenced chunk, or NULL */
    uint8_t *heap;           /* owned heap bytes, or NULL */
    rwp_write_done_fn done;  /* owner notification, or NULL */
} rwp_wreq;

static void on_write_done(uv_write_t *req, int status)
{
    rwp_wreq *w = (rwp_wreq *)req;
    uv_stream_t *s = req->handle;
    if (w->chunk)
        rwp_chunk_unref(w->chunk);
    free(w->heap);
    rwp_write_done_fn done = w->done;
    free(w);
    if (done)
        done(s, status);
}

/* Try to write now; returns bytes written (>= 0) or a negative error (not EAGAIN). */
static ssize_t try_write_now(uv_stream_t *s, const uint8_t *p, size_t len)
{
    if (uv_stream_get_write_queue_size(s) > 0)
        return 0;
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
    int n = uv_try_write(s, &b, 1);
    if (n == UV_EAGAIN || n == UV_ENOSYS)
        return 0;
    return n;
}

static int queue_write(uv_stream_t *s, rwp_chunk *ch, uint8_t *heap, const uint8_t *p, size_t len,
                       rwp_write_done_fn done)
{
    rwp_wreq *w = malloc(sizeof *w);
    if (!w) {
        free(heap);
        return UV_ENOMEM;
    }
    w->chunk = ch;
    w->heap = heap;
    w->done = done;
    if (ch)
        rwp_chunk_ref(ch);
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
    int rc = uv_write(&w->req, s, &b, 1, on_write_done);
    if (rc < 0) {
        if (ch)
            rwp_chunk_unref(ch);
        free(heap);
        free(w);
    }
    return rc;
}

int rwp_write_chunk(uv_stream_t *s, rwp_chunk *ch, const uint8_t *p, size_t len, rwp_write_done_fn done)
{
    ssize_t n = try_write_now(s, p, len);
    if (n < 0)
        return (int)n;
    if ((size_t)n == len)
        return 0;
    return queue_write(s, ch, NULL, p + n, len - (size_t)n, done);
}

int rwp_write_copy(uv_stream_t *s, const void *p, size_t len, rwp_write_done_fn done)
{
    ssize_t n = try_write_now(s, p, len);
    if (n < 0)
        return (int)n;
    if ((size_t)n == len)
        return 0;
    size_t rest = len - (size_t)n;
    uint8_t *copy = malloc(rest);
    if (!copy)
        return UV_ENOMEM;
    memcpy(copy, (const uint8_t *)p + n, rest);
    return queue_write(s, NULL, copy, copy, rest, done);
}

int rwp_write_owned(uv_stream_t *s, uint8_t *heap, size_t len, rwp_write_done_fn done)
{
    ssize_t n = try_write_now(s, heap, len);
    if (n < 0) {
        free(heap);
        return (int)n;
    }
    if ((size_t)n == len) {
        free(heap);
        return 0;
    }
    return queue_write(s, NULL, heap, heap + n, len - (size_t)n, done);
}

void rwp_peer_name(uv_tcp_t *tcp, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    snprintf(out, cap, "unknown");
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&ss, out, cap);
    else if (ss.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&ss, out, cap);
}

int rwp_resolve_listen(const char *host, int port, struct sockaddr_storage *out, socklen_t *outlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (getaddrinfo(host, portstr, &hints, &res) != 0 || !res || res->ai_addrlen > sizeof *out) {
        if (res)
            freeaddrinfo(res);
        return UV_EINVAL;
    }
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *outlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}
