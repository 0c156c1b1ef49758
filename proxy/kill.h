/*
 * proxy/kill.h — the process-wide registry of live client connection ids, and KILL: a
 * client's `KILL [QUERY|CONNECTION] id` on the normal port (same user only) and the admin's
 * `KILL SESSION id` (any user). Ids interleave the workers (id % nworkers is the owner), so
 * each worker keeps its own share of the registry under its own mutex, written on accept,
 * login and close only. A kill is posted to the owning worker's loop (never waited for);
 * there, KILL QUERY stops the running statement on its server through a short-lived
 * connection with the target client's own credentials (`KILL QUERY <backend thread id>`),
 * and KILL CONNECTION closes the client with ERR 1927 (and kills its running statement too).
 */
#ifndef RWP_KILL_H
#define RWP_KILL_H

#include <stddef.h>
#include <stdint.h>

typedef struct rwp_client rwp_client;
typedef struct rwp_proxy rwp_proxy;

#define ER_NO_SUCH_THREAD 1094 /* HY000 Unknown thread id: %lu */

/* On the owning worker's thread: a client was created / logged in (or changed user) /
 * is being freed. */
void rwp_kill_register(rwp_client *c);
void rwp_kill_set_user(rwp_client *c);
void rwp_kill_unregister(rwp_client *c);

/* The client's command at the input head is a KILL statement (RWR_F_KILL in cur.dec):
 * consume it and answer OK (posted to the target's worker) or ERR 1094. */
void rwp_kill_from_client(rwp_client *c);

/*
 * Any thread. Ask the worker owning connection id to kill it: query_only stops its running
 * statement, else the connection is closed. With user non-NULL, only a client logged in as
 * that user counts. Returns 0 if posted, -1 if there is no such client (for that user), -2 if
 * the owning worker is shutting down or its queue is full.
 */
int rwp_kill_request(rwp_proxy *p, uint64_t id, const char *user, int query_only);

/* A non-worker thread (the admin's KILL SESSION): close connection id (any user) and wait
 * until its worker has done it. 0, -1 no such client, -2 its worker did not answer. */
int rwp_kill_session_now(rwp_proxy *p, uint64_t id, int timeout_ms);

#endif
