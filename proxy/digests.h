/*
 * proxy/digests.h — a bounded table of statement digests (router/digest.h) with what was
 * measured for each: count, total/min/max latency, rows, where it was routed. Each worker
 * records into its own table on its own thread (no locks); the admin side merges copies of
 * every worker's table into one of its own (rwp_worker_call) for SHOW DIGESTS.
 * Open addressing on the 64-bit hash; an entry's text is allocated once, when the digest is
 * first seen; when the table holds its maximum, new digests are not recorded (counted in
 * dropped) until RESET DIGESTS.
 */
#ifndef RWP_DIGESTS_H
#define RWP_DIGESTS_H

#include <stddef.h>
#include <stdint.h>

#include "router/digest.h"

#define RWP_DIGESTS_MAX 1024 /* digests a worker keeps */

typedef struct {
    uint64_t hash;      /* rwr_digest hash (0 = free slot; a real 0 hash is stored as 1) */
    char *text;         /* normalised text (owned) */
    uint64_t count;     /* executions measured */
    uint64_t total_us;  /* their total latency */
    uint64_t min_us;    /* fastest */
    uint64_t max_us;    /* slowest */
    uint64_t rows;      /* rows sent to clients (0 until the walker counts rows) */
    uint64_t master;    /* executions on the session's master */
    uint64_t replica;   /* executions elsewhere (replicas, named servers) */
} rwp_digest_entry;

typedef struct {
    rwp_digest_entry *slots; /* nslots entries (allocated at the first record) */
    size_t nslots;           /* power of two, twice max */
    size_t used;             /* entries in use */
    size_t max;              /* most entries kept */
    uint64_t dropped;        /* executions of digests not recorded because the table was full */
} rwp_digests;

void rwp_digests_init(rwp_digests *t, size_t max);
void rwp_digests_free(rwp_digests *t);
/* Forget every entry (RESET DIGESTS). */
void rwp_digests_reset(rwp_digests *t);
/* Add one execution to the entry of an already normalised digest (text, len, hash). */
void rwp_digests_add(rwp_digests *t, uint64_t hash, const char *text, size_t len, uint64_t us,
                     uint64_t rows, int on_master);
/* Normalise sql into scratch (cap bytes) and add one execution to its entry. */
void rwp_digests_record(rwp_digests *t, char *scratch, size_t cap, const char *sql, size_t len,
                        uint64_t us, uint64_t rows, int on_master);
/* Add entry e (from another table) into t, summing with an equal digest. 0, or -1 if full or
 * out of memory. */
int rwp_digests_merge(rwp_digests *t, const rwp_digest_entry *e);

#endif
