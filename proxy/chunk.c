/*
 * proxy/chunk.c — the per-worker chunk pool (see chunk.h).
 */
#include "proxy/chunk.h"

#include <stddef.h>
#include <stdlib.h>

void rwp_chunk_pool_init(rwp_chunk_pool *p, size_t max_free)
{
    p->free_list = NULL;
    p->free_count = 0;
    p->max_free = max_free;
    p->live = 0;
}

void rwp_chunk_pool_destroy(rwp_chunk_pool *p)
{
    while (p->free_list) {
        rwp_chunk *c = p->free_list;
        p->free_list = c->next_free;
        free(c);
    }
    p->free_count = 0;
}

rwp_chunk *rwp_chunk_get(rwp_chunk_pool *p)
{
    rwp_chunk *c = p->free_list;
    if (c) {
        p->free_list = c->next_free;
        p->free_count--;
    } else {
        c = malloc(sizeof *c);
        if (!c)
            return NULL;
    }
    c->next_free = NULL;
    c->pool = p;
    c->refs = 1;
    p->live++;
    return c;
}

void rwp_chunk_ref(rwp_chunk *c) { c->refs++; }

void rwp_chunk_unref(rwp_chunk *c)
{
    if (--c->refs > 0)
        return;
    rwp_chunk_pool *p = c->pool;
    p->live--;
    if (p->free_count < p->max_free) {
        c->next_free = p->free_list;
        p->free_list = c;
        p->free_count++;
    } else {
        free(c);
    }
}

rwp_chunk *rwp_chunk_of(const void *p)
{
    return (rwp_chunk *)(void *)((const uint8_t *)p - offsetof(rwp_chunk, data));
}
