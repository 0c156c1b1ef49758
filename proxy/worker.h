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
#include "proxy/digests.h"
#include "proxy/pool.h"
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
    uint64_t bytes_in;        /* bytes read from clients */
    uint64_t bytes_out;       /* bytes written to clients (relayed answers and rwproxy's own packets) */
    uint64_t kills;           /* KILL requests carried out on this worker's clients */
} rwp_worker_stats;

#define RWP_LAT_BUCKETS 12 /* latency histogram buckets (bounds: proxy/stats.h) */

/* Per-server counters of one worker (summed over workers by the admin port). */
typedef struct {
    uint64_t queries;         /* client commands sent to this server */
    uint64_t reads;           /* of those, statements routed as replica reads */
    uint64_t errors;          /* answers that were ERR */
    uint64_t causal_waits;    /* MASTER_GTID_WAIT sent ahead of a read */
    uint64_t causal_timeouts; /* waits that timed out (the read went to the master) */
    uint64_t on_replica;      /* of queries, sent to it while it was not the session's master */
    uint64_t latency_us_total;/* sum of command latencies (sent to complete answer), µs */
    uint64_t latency_count;   /* commands measured (those that have an answer) */
    uint64_t latency_buckets[RWP_LAT_BUCKETS]; /* histogram of those latencies */
    uint64_t be_opened;       /* backend connections opened to it for sessions */
    uint64_t be_failed;       /* of those, failed before the login completed */
} rwp_server_stats;

struct rwp_worker_job;

#define RWP_REG_BUCKETS 256 /* buckets of a worker's share of the client id registry */

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
    /* cross-thread calls (rwp_worker_call, rwp_worker_post): guarded by jobs_mu */
    pthread_mutex_t jobs_mu;   /* guards the job list and jobs_open */
    pthread_cond_t jobs_cv;    /* broadcast when a called job finished (or was dropped) */
    struct rwp_worker_job *jobs, *jobs_tail; /* queued jobs, oldest first */
    size_t njobs_posted;       /* posted (asynchronous) jobs queued, bounded */
    int jobs_open;             /* jobs_async is live: jobs may be queued */
    uv_async_t jobs_async;     /* pokes the loop to run the queued jobs */
    /* this worker's share of the client id registry (ids are id % nworkers == index) */
    pthread_mutex_t reg_mu;    /* guards reg (other workers and the admin look ids up) */
    rwp_client *reg[RWP_REG_BUCKETS]; /* live clients by id, chained through reg_next */
    rwp_digests digests;       /* statement digests of this worker's clients */
    rwp_pool pool;             /* idle backend connections, per-server counts and waiters */
    size_t client_in_bytes;    /* bytes allocated for its clients' input buffers ([limits] worker_buffer_limit) */
    char digest_buf[RWR_DIGEST_MAX_INPUT + 1]; /* scratch for normalising one statement */
    uint64_t start_ns;         /* uv_hrtime() at init (uptime) */
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
    pthread_mutex_t users_mu;  /* guards user_conns */
    struct rwp_user_conns *user_conns; /* client connections per user name (per-user limit) */
    pthread_mutex_t reload_mu; /* one reload at a time (admin RELOAD, SIGHUP) */
    struct rwp_users *users;   /* the backend account loader (proxy/users.h), or NULL */
    struct rwp_monitor *monitor; /* the monitor (reloads hand it the new configuration) */
    const rwp_config **retired;/* configurations replaced by reloads, freed at exit */
    int nretired;              /* entries in retired */
};

#define RWP_TICK_MS 50 /* period of the worker's housekeeping tick */

/* Count a logged-in client of user against its max_connections (0 = unlimited). Returns 0,
 * or -1 if the user already has max connections (nothing counted). Thread-safe. */
int rwp_user_conn_take(rwp_proxy *p, const char *user, int max);
/* Forget one connection of user (a client that rwp_user_conn_take counted went away). */
void rwp_user_conn_release(rwp_proxy *p, const char *user);
/* Free the per-user table (at exit). */
void rwp_user_conns_free(rwp_proxy *p);

/* Bind this worker's listener. Returns 0 or a negative libuv error. Called on the main thread
 * before the worker thread starts, so a bind failure stops start-up with a clear message. */
int rwp_worker_init(rwp_worker *w, rwp_proxy *p, int index);
int rwp_worker_start(rwp_worker *w);
/* Ask the worker to stop accepting and finish (thread-safe). */
void rwp_worker_request_stop(rwp_worker *w);
/* Wait for the worker thread and free its resources. */
void rwp_worker_join(rwp_worker *w);

/*
 * Run fn(w, arg) on w's loop and wait for it (from a non-worker thread only: the admin port,
 * /metrics, reload). Returns 0 once fn ran; -1 if the worker is not running or shutting down,
 * or if timeout_ms passed before fn started (fn then never runs, so arg may live on the
 * caller's stack). A fn that already started is waited for to the end.
 */
int rwp_worker_call(rwp_worker *w, void (*fn)(rwp_worker *, void *), void *arg, int timeout_ms);
/* Queue fn on w's loop without waiting (any thread, workers included): data (len bytes) is
 * copied and fn gets the copy, freed after it ran. Returns 0, or -1 if w is shutting down or
 * too many posts are queued. */
int rwp_worker_post(rwp_worker *w, void (*fn)(rwp_worker *, void *), const void *data, size_t len);

/* Did a reload remove server i (in the worker's configuration or the monitor's snapshot t,
 * which may be NULL)? Its slot stays; nothing new goes to it. */
int rwp_worker_server_removed(const rwp_worker *w, const rwp_topology *t, int i);

/* A new connection id, unique across workers. */
uint64_t rwp_worker_next_id(rwp_worker *w);
/* Called by the client code when a client is fully closed (to finish a drain). */
void rwp_worker_client_gone(rwp_worker *w);

#endif
