/*
 * proxy/pool.h — a worker's pool of backend connections. Owns the idle connections of each
 * server (most recently used first), the count of every connection the worker has open to
 * each server (for [server.NAME] max_connections, shared out over the workers), and the queue
 * of client sessions waiting for a connection to a server at that limit. Chooses which idle
 * connection serves a session: one already in the session's state (same user, schema,
 * charset, capabilities, and a prefix of its session history) is reused as it is; any other
 * is reset in place with COM_CHANGE_USER by the caller. Runs on the worker's loop only.
 */
#ifndef RWP_POOL_H
#define RWP_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "router/session.h"

typedef struct rwp_backend rwp_backend;
typedef struct rwp_worker rwp_worker;
typedef struct rwp_client rwp_client;

/* Counters of one server's connections (SHOW POOLS, /metrics). */
typedef struct {
    uint64_t reused;          /* connections taken from the pool as they were */
    uint64_t replayed;        /* of those, with part of the session history replayed */
    uint64_t reset;           /* connections taken from the pool and reset (COM_CHANGE_USER) */
    uint64_t released;        /* connections given back by sessions (multiplexing, session end) */
    uint64_t expired;         /* pooled connections closed after idle_timeout_s */
    uint64_t overflow;        /* connections closed because max_idle was reached */
    uint64_t waits;           /* statements that waited for a connection (max_connections) */
    uint64_t wait_timeouts;   /* of those, answered ERR 1040 */
} rwp_pool_stats;

/* One server's share of the pool. */
typedef struct {
    rwp_backend *idle;        /* idle connections, most recently pooled first */
    rwp_backend *idle_tail;   /* the least recently pooled (closed first) */
    int nidle;                /* how many */
    int open;                 /* connections this worker has open to the server (any state) */
    rwp_client *wait_head;    /* sessions waiting for a connection (oldest first) */
    rwp_client *wait_tail;    /* newest waiter */
    int nwait;                /* how many */
    rwp_pool_stats stats;     /* counters of this server's connections */
} rwp_pool_server;


typedef struct {
    rwp_worker *worker;       /* owner */
    rwp_pool_server *srv;     /* per configured server */
    int nservers;             /* entries in srv */
} rwp_pool;

/* What a session needs of a connection to reuse it without a reset. */
typedef struct {
    const char *user;         /* logged in as this user */
    const uint8_t *h1;        /* with this SHA1(password) (NULL: no password) */
    const char *db;           /* the session's login schema */
    uint8_t charset;          /* collation id */
    uint32_t caps;            /* client capabilities the connection was opened with */
    int want_session_track;   /* opened asking for session tracking */
    const rwr_history_entry *hist; /* the session's history */
    size_t nhist;             /* its length */
    uint64_t next_chain;      /* chain of the history with the idempotent session command about
                                 to run appended (0: none): a connection already in that state
                                 serves too (running the command again changes nothing) */
} rwp_pool_want;

int rwp_pool_init(rwp_pool *p, rwp_worker *w, int nservers);
/* Close every idle connection and free the pool (worker shutdown). */
void rwp_pool_free(rwp_pool *p);

/* Connection accounting, from backend.c: opened, and closed (handle gone). */
void rwp_pool_opened(rwp_pool *p, rwp_backend *be);
void rwp_pool_closed(rwp_pool *p, rwp_backend *be);

/*
 * Take an idle connection to server for a session. Returns NULL if none is compatible
 * (same capabilities). *replay_from is set to how many history entries the connection
 * already ran (it serves the session after replaying the rest), or to -1 if it must be
 * reset with COM_CHANGE_USER first.
 */
rwp_backend *rwp_pool_take(rwp_pool *p, int server, const rwp_pool_want *want, long *replay_from);
/* Is an idle connection to server logged in with the session's identity (user, password,
 * schema, charset, capabilities)? Then the login is known to work there. */
int rwp_pool_has_identity(const rwp_pool *p, int server, const rwp_pool_want *want);
/* Take back the connection a session gave up after its previous statement, if no other
 * session has used it since (FOUND_ROWS(), SHOW WARNINGS about that statement), else NULL. */
rwp_backend *rwp_pool_reclaim(rwp_pool *p, int server, uint64_t owner, uint64_t lease);
/* Give a connection back: idle, its state described by chain/n (dirty: unknown). It is
 * closed instead if the pool is full or closing; a waiting session is woken. */
void rwp_pool_put(rwp_pool *p, rwp_backend *be, uint64_t chain, size_t n, int dirty);
/* May this worker open another connection to server ([server.NAME] max_connections)? */
int rwp_pool_may_open(const rwp_pool *p, int server);
/* Close the idle connections of one server (it went down, or the master moved). */
void rwp_pool_flush_server(rwp_pool *p, int server);
/* Idle timeouts and waiters' timeouts; from the worker's tick. */
void rwp_pool_tick(rwp_pool *p, uint64_t now);

/* Sessions waiting for a connection to a server at its limit. */
void rwp_pool_wait(rwp_pool *p, rwp_client *c, int server);
void rwp_pool_unwait(rwp_pool *p, rwp_client *c);

#endif
