/*
 * proxy/chunk.h — reference-counted read buffers from a bounded per-worker free list.
 * A backend read lands in a chunk; the bytes are then forwarded to the client straight
 * from that chunk (each pending write holds a reference), so answers are relayed without
 * copying. Only the worker thread that owns the pool touches it.
 */
#ifndef RWP_CHUNK_H
#define RWP_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#define RWP_CHUNK_SIZE (64u * 1024u) /* bytes of payload per chunk */

typedef struct rwp_chunk_pool rwp_chunk_pool;

/* One buffer. */
typedef struct rwp_chunk {
    struct rwp_chunk *next_free;  /* link in the pool's free list */
    rwp_chunk_pool *pool;         /* pool it returns to */
    uint32_t refs;                /* owners: the reader plus each pending write */
    uint8_t data[RWP_CHUNK_SIZE]; /* the bytes */
} rwp_chunk;

/* A worker's pool. */
struct rwp_chunk_pool {
    rwp_chunk *free_list;  /* chunks ready for reuse */
    size_t free_count;     /* chunks on free_list */
    size_t max_free;       /* free_list never grows past this; extra chunks are freed */
    size_t live;           /* chunks handed out and not yet returned */
};

void rwp_chunk_pool_init(rwp_chunk_pool *p, size_t max_free);
void rwp_chunk_pool_destroy(rwp_chunk_pool *p);
/* A chunk with refs = 1, or NULL if out of memory. */
rwp_chunk *rwp_chunk_get(rwp_chunk_pool *p);
void rwp_chunk_ref(rwp_chunk *c);
/* Drop a reference; the last one returns the chunk to its pool. */
void rwp_chunk_unref(rwp_chunk *c);
/* The chunk whose data[] contains p (p must point into a chunk's data). */
rwp_chunk *rwp_chunk_of(const void *p);

#endif
