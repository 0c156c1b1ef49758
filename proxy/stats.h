/*
 * proxy/stats.h — what the admin port and /metrics read from the workers. Every function
 * runs on the caller's thread (the admin or metrics thread, never a worker), collects from
 * each worker by running a callback on that worker's loop (rwp_worker_call) and waiting for
 * it (bounded), and fills a table whose columns are those of docs/admin.md. Each returns 0,
 * or -1 with err set.
 */
#ifndef RWP_STATS_H
#define RWP_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/table.h"

typedef struct rwp_proxy rwp_proxy;

/* Per configured server, summed over the workers (SHOW SERVERS and /metrics). */
typedef struct {
    uint64_t conns_in_use;     /* backend connections held by a session now */
    uint64_t conns_idle;       /* idle in the pool */
    uint64_t pool_reused;      /* connections taken from the pool in the session's state */
    uint64_t pool_reset;       /* connections taken from the pool and reset (COM_CHANGE_USER) */
    uint64_t pool_waiting;     /* statements waiting for a connection now (max_connections) */
    uint64_t pool_wait_timeouts; /* statements answered ERR 1040 after [pool] wait_timeout_ms */
    uint64_t queries;          /* client commands sent to it */
    uint64_t reads;            /* of those, replica reads */
    uint64_t errors;           /* answers that were ERR */
    uint64_t latency_us_total; /* sum of command latencies (send to complete answer), µs */
    uint64_t latency_count;    /* commands measured */
    uint64_t latency_buckets[12]; /* histogram: <=0.5,1,2,5,10,25,50,100,250,500,1000 ms, +Inf */
} rwp_server_totals;

/* Fill totals[nservers] (zeroed first). */
int rwp_stats_servers(rwp_proxy *p, rwp_server_totals *totals, int nservers, char *err, size_t cap);
/* SHOW POOLS, SHOW SESSIONS, SHOW STATS, SHOW DIGESTS. */
int rwp_stats_pools(rwp_proxy *p, rwp_table *out, char *err, size_t cap);
int rwp_stats_sessions(rwp_proxy *p, rwp_table *out, char *err, size_t cap);
int rwp_stats_global(rwp_proxy *p, rwp_table *out, char *err, size_t cap);
int rwp_stats_digests(rwp_proxy *p, rwp_table *out, char *err, size_t cap);
/* RESET DIGESTS. */
int rwp_stats_reset_digests(rwp_proxy *p, char *err, size_t cap);
/* KILL SESSION id: 0 closed, -1 unknown id (err says so). */
int rwp_stats_kill_session(rwp_proxy *p, uint64_t id, char *err, size_t cap);
/* SHOW RULES: hits[i] = statements rule i (evaluation order) matched, summed over the
 * workers, for i < n (the rules of the configuration in force; zeroed first). */
int rwp_stats_rule_hits(rwp_proxy *p, uint64_t *hits, int n, char *err, size_t cap);

/* Upper bounds of the latency histogram buckets, µs (the last bucket is +Inf). */
#define RWP_STATS_BUCKET_BOUNDS_US \
    {500, 1000, 2000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000}

/* The histogram bucket of a latency (on the worker's hot path: a few compares). */
static inline int rwp_stats_lat_bucket(uint64_t us)
{
    static const uint64_t bounds[] = RWP_STATS_BUCKET_BOUNDS_US;
    int i = 0;
    while (i < (int)(sizeof bounds / sizeof bounds[0]) && us > bounds[i])
        i++;
    return i;
}

#endif
