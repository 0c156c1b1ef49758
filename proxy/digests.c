/*
 * proxy/digests.c — per-worker statement digest tables (see digests.h).
 */
#include "proxy/digests.h"

#include <stdlib.h>
#include <string.h>

void rwp_digests_init(rwp_digests *t, size_t max)
{
    memset(t, 0, sizeof *t);
    t->max = max ? max : RWP_DIGESTS_MAX;
}

void rwp_digests_reset(rwp_digests *t)
{
    for (size_t i = 0; i < t->nslots; i++)
        free(t->slots[i].text);
    if (t->slots)
        memset(t->slots, 0, t->nslots * sizeof *t->slots);
    t->used = 0;
    t->dropped = 0;
}

void rwp_digests_free(rwp_digests *t)
{
    rwp_digests_reset(t);
    free(t->slots);
    t->slots = NULL;
    t->nslots = 0;
}

/* The entry for (hash, text), inserted empty if new; NULL if the table is full or out of
 * memory. */
static rwp_digest_entry *lookup(rwp_digests *t, uint64_t hash, const char *text, size_t len)
{
    if (!t->slots) {
        size_t n = 16;
        while (n < 2 * t->max)
            n <<= 1;
        t->slots = calloc(n, sizeof *t->slots);
        if (!t->slots)
            return NULL;
        t->nslots = n;
    }
    if (hash == 0)
        hash = 1;
    size_t mask = t->nslots - 1;
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        rwp_digest_entry *e = &t->slots[i];
        if (e->hash == hash && strncmp(e->text, text, len) == 0 && e->text[len] == '\0')
            return e;
        if (e->hash != 0)
            continue;
        if (t->used >= t->max)
            return NULL;
        e->text = malloc(len + 1);
        if (!e->text)
            return NULL;
        memcpy(e->text, text, len);
        e->text[len] = '\0';
        e->hash = hash;
        t->used++;
        return e;
    }
}

static void add(rwp_digest_entry *e, uint64_t count, uint64_t total, uint64_t min, uint64_t max,
                uint64_t rows, uint64_t master, uint64_t replica)
{
    if (e->count == 0 || min < e->min_us)
        e->min_us = min;
    if (max > e->max_us)
        e->max_us = max;
    e->count += count;
    e->total_us += total;
    e->rows += rows;
    e->master += master;
    e->replica += replica;
}

void rwp_digests_record(rwp_digests *t, char *scratch, size_t cap, const char *sql, size_t len,
                        uint64_t us, uint64_t rows, int on_master)
{
    uint64_t hash;
    size_t n = rwr_digest(sql, len, scratch, cap, &hash);
    rwp_digests_add(t, hash, scratch, n, us, rows, on_master);
}

void rwp_digests_add(rwp_digests *t, uint64_t hash, const char *text, size_t len, uint64_t us,
                     uint64_t rows, int on_master)
{
    rwp_digest_entry *e = lookup(t, hash, text, len);
    if (!e) {
        t->dropped++;
        return;
    }
    add(e, 1, us, us, us, rows, on_master != 0, on_master == 0);
}

int rwp_digests_merge(rwp_digests *t, const rwp_digest_entry *src)
{
    if (src->count == 0)
        return 0;
    rwp_digest_entry *e = lookup(t, src->hash, src->text, strlen(src->text));
    if (!e)
        return -1;
    add(e, src->count, src->total_us, src->min_us, src->max_us, src->rows, src->master, src->replica);
    return 0;
}
