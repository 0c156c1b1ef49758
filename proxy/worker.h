/*
 * proxy/worker.h — a worker: one thread running one libuv loop with its own listening
 * socket (SO_REUSEPORT spreads new connections over the workers), its own clients and
 * backend connections, its own buffer pool and counters. Nothing in here is touched by
 * another thread except through the wake-up async handle.
 */
#ifndef RWP_WORKER_H
#define RWP_WORKER_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "proxy/chunk.h"
#include "proxy/config.h"
#include "proxy/topology.h"
#include "router/gtid.h"
#include "router/rules.h"

typedef struct rwp_client rwp_client;
typedef struct rwp_proxy rwp_proxy;

/* Counters of one worker (read by the admin port through its own snapshot later). */
typedef struct {
    uint64_t accepted;        /* client connections accepted */
    uint64_t refused;         /* client connections refused (limits, shutdown) */
    uint64_t auth_failed;     /* failed client logins */
    uint64_t queries;         /* client commands relayed */
    uint64_t backend_connects;/* backend connections opened */
    uint64_t backend_failures;/* backend connections that failed to open or log in */
    uint64_t writes_held;     /* commands for the master held while there was none (or a switchover ran) */
    uint64_t held_timeouts;   /* of those, answered ERR 1290 after the hold time */
    uint64_t reads_retried;   /* reads sent again to another server after theirs failed */
    uint64_t sessions_lost;   /* sessions closed because the master they were bound to went away */
} rwp_worker_stats;

/* Per-server counters of one worker (summed over workers by the admin port). */
typedef struct {
    uint64_t queries;         /* client commands sent to this server */
    uint64_t reads;           /* of those, statements routed as replica reads */
    uint64_t errors;          /* answers that were ERR */
    uint64_t causal_waits;    /* MASTER_GTID_WAIT sent ahead of a read */
    uint64_t causal_timeouts; /* waits that timed out (the read went to the master) */
} rwp_server_stats;

typedef struct rwp_worker {
    int index;                 /* 0 .. nworkers-1 */
    rwp_proxy *proxy;          /* the process-wide owner (immutable parts only) */
    const rwp_config *cfg;     /* configuration in force for this worker */
    uv_loop_t loop;            /* this worker's event loop */
    uv_thread_t thread;        /* its thread */
    uv_tcp_t listener;         /* its SO_REUSEPORT listening socket */
    int listening;             /* listener is open */
    uv_async_t wakeup;         /* other threads poke the worker through this */
    uv_timer_t drain_timer;    /* bounds graceful shutdown */
    uv_async_t topo_async;     /* the monitor pokes it after publishing a topology */
    uv_timer_t tick;           /* every RWP_TICK_MS: held commands, connect timeouts */
    rwp_topology *topo;        /* the snapshot this worker routes with (one reference held) */
    atomic_int stop_requested; /* set by the main thread before poking wakeup */
    int draining;              /* shutdown in progress: no new clients, close idle ones */
    rwp_chunk_pool chunks;     /* read buffers for backend answers */
    rwp_client *clients;       /* all live clients (doubly linked) */
    size_t nclients;           /* how many */
    uint64_t next_seq;         /* per-worker connection counter (ids interleave workers) */
    uint32_t rr_next;          /* round-robin position for replica choice */
    uint64_t rng;              /* xorshift state for weighted replica choice */
    rwr_gtid_pos *known;       /* per server: a GTID position it is known to have reached */
    rwp_worker_stats stats;    /* counters */
    rwp_server_stats *server_stats; /* per configured server: what this worker routed there */
    uint64_t *rule_hits;       /* per rule (evaluation order): statements it matched */
    rwr_rule_matcher *matcher; /* PCRE2 scratch for the rules (NULL without rules) */
    uint8_t scratch[16384];    /* per-worker scratch for building small packets */
} rwp_worker;

/* The process: configuration, topology slot, workers. */
struct rwp_proxy {
    const rwp_config *cfg;     /* configuration in force */
    rwp_topo_slot topo;        /* current topology snapshot */
    rwp_worker *workers;       /* nworkers workers */
    int nworkers;              /* how many */
    atomic_size_t nclients;    /* client connections across all workers (for the limit) */
    atomic_int *server_conns;  /* per configured server: backend connections open to it */
    pthread_mutex_t gtid_mu;   /* guards gtid */
    rwr_gtid_pos gtid;         /* newest write committed through this rwproxy (consistency=global) */
};

#define RWP_TICK_MS 50 /* period of the worker's housekeeping tick */

/* Bind this worker's listener. Returns 0 or a negative libuv error. Called on the main thread
 * before the worker thread starts, so a bind failure stops start-up with a clear message. */
int rwp_worker_init(rwp_worker *w, rwp_proxy *p, int index);
int rwp_worker_start(rwp_worker *w);
/* Ask the worker to stop accepting and finish (thread-safe). */
void rwp_worker_request_stop(rwp_worker *w);
/* Wait for the worker thread and free its resources. */
void rwp_worker_join(rwp_worker *w);

/* A new connection id, unique across workers. */
uint64_t rwp_worker_next_id(rwp_worker *w);
/* Called by the client code when a client is fully closed (to finish a drain). */
void rwp_worker_client_gone(rwp_worker *w);

#endif
