/*
 * proxy/netio.h — the small pieces of socket I/O shared by client and backend
 * connections: a growable input buffer with read/parse cursors, and writes that try
 * uv_try_write first and queue only what the kernel did not take (holding a reference to
 * the chunk, or owning a heap copy, until libuv is done with it).
 */
#ifndef RWP_NETIO_H
#define RWP_NETIO_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proxy/chunk.h"

/* Growable input buffer: bytes [start, end) are received and not yet consumed. */
typedef struct {
    uint8_t *data; /* heap buffer (owned), NULL when empty and released */
    size_t start;  /* first unconsumed byte */
    size_t end;    /* one past the last received byte */
    size_t cap;    /* allocated size */
} rwp_inbuf;

static inline size_t rwp_inbuf_len(const rwp_inbuf *b) { return b->end - b->start; }
static inline uint8_t *rwp_inbuf_head(const rwp_inbuf *b) { return b->data + b->start; }
/* Make room for at least want more bytes at the end (compacting or growing); returns the
 * free space, or NULL on allocation failure. *avail gets the free size. */
uint8_t *rwp_inbuf_reserve(rwp_inbuf *b, size_t want, size_t *avail);
void rwp_inbuf_commit(rwp_inbuf *b, size_t n);  /* n bytes were written at the end */
void rwp_inbuf_consume(rwp_inbuf *b, size_t n); /* drop n bytes from the front */
int rwp_inbuf_append(rwp_inbuf *b, const void *p, size_t n); /* 0 or -1 (no memory) */
/* Free the memory if nothing is buffered (idle connections hold no buffer). */
void rwp_inbuf_release_if_empty(rwp_inbuf *b);
void rwp_inbuf_free(rwp_inbuf *b);

/* Called when a queued write finishes (status < 0 on error), with the stream's owner. */
/* Resolve host:port for a listening socket (numeric port, passive). Returns 0 with the first
 * address in *out / *outlen, or UV_EINVAL. */
int rwp_resolve_listen(const char *host, int port, struct sockaddr_storage *out, socklen_t *outlen);

/* The peer address of a connected socket as text ("unknown" if it cannot be had). */
void rwp_peer_name(uv_tcp_t *tcp, char *out, size_t cap);

typedef void (*rwp_write_done_fn)(uv_stream_t *stream, int status);

/* Write bytes from a chunk; the chunk is referenced until the write completes.
 * Returns 0 or a negative libuv error. done may be NULL. */
int rwp_write_chunk(uv_stream_t *s, rwp_chunk *ch, const uint8_t *p, size_t len, rwp_write_done_fn done);
/* Write bytes that the caller keeps no hold of: they are copied if they cannot go out now. */
int rwp_write_copy(uv_stream_t *s, const void *p, size_t len, rwp_write_done_fn done);
/* Write a heap buffer whose ownership passes to this call (freed when written). */
int rwp_write_owned(uv_stream_t *s, uint8_t *heap, size_t len, rwp_write_done_fn done);

/* Bytes queued in libuv for s (not yet taken by the kernel). */
static inline size_t rwp_write_queued(const uv_stream_t *s) { return uv_stream_get_write_queue_size(s); }

#endif
