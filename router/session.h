/*
 * router/session.h — the routing state of one client session, pure policy: the
 * transaction state (as the servers' status flags report it, with the classifier's view
 * as the fast path), what pins the session to the master, the temporary tables it created,
 * and the ordered history of session commands that every backend connection of the session
 * must replay before it serves the session. No sockets: the proxy feeds it decisions and
 * status flags and asks it where the next statement goes.
 */
#ifndef RWR_SESSION_H
#define RWR_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "router/classify.h"

#define RWR_HISTORY_MAX_ENTRIES 512              /* beyond this the session is pinned to the master */
#define RWR_HISTORY_MAX_BYTES   (1024u * 1024u)  /* same, in bytes */
#define RWR_MAX_TEMP_TABLES     64               /* beyond this the session is pinned to the master */

/* One recorded session command: the complete packet the client sent (header with seq 0). */
typedef struct {
    uint8_t *pkt;   /* owned copy of header + payload */
    size_t len;     /* its length */
    uint64_t chain; /* hash of this entry and every one before it (never 0): two connections
                       that ran histories with equal chains are in the same session state */
} rwr_history_entry;

/* Where a statement goes, after session state and hints are taken into account. */
typedef enum {
    RWR_DEST_MASTER = 0,   /* the master */
    RWR_DEST_REPLICA,      /* any usable replica (the balancer chooses) */
    RWR_DEST_TRX_REPLICA,  /* the replica that holds the open READ ONLY transaction */
    RWR_DEST_SERVER,       /* a server named by a hint or rule */
    RWR_DEST_PREVIOUS      /* the server that ran the previous statement */
} rwr_dest;

typedef struct {
    /* transaction state */
    int autocommit;        /* SERVER_STATUS_AUTOCOMMIT as last reported (1 at login) */
    int in_trx;            /* SERVER_STATUS_IN_TRANS as last reported */
    int ro_trx_on_replica; /* a START TRANSACTION READ ONLY runs on a replica */
    int locked_tables;     /* LOCK TABLES in force: the master until UNLOCK TABLES */
    int uservars_on_master;/* server-side code (CALL, stored functions, triggers) may have set
                              user variables on the master: reads of @v go there */
    /* pinning */
    int pinned;            /* every statement goes to the master from now on */
    const char *pin_reason;/* why (static text) */
    /* temporary tables created by the session (names, unquoted) */
    char *temp[RWR_MAX_TEMP_TABLES];
    int ntemp;
    /* session command history */
    rwr_history_entry *hist; /* entries in order */
    size_t nhist;            /* entries in use */
    size_t hist_cap;         /* allocated entries */
    size_t hist_bytes;       /* total bytes held */
    uint64_t hist_generation;/* bumps on reset, so backends know their replay count is stale */
} rwr_session;

void rwr_session_init(rwr_session *s);
/* COM_CHANGE_USER / COM_RESET_CONNECTION: forget everything (history, temp tables, pins). */
void rwr_session_reset(rwr_session *s);
void rwr_session_free(rwr_session *s);

/* Record a session command (complete packet). Over the limits the session is pinned and the
 * entry is not kept. Returns 0 if recorded. */
int rwr_session_record(rwr_session *s, const uint8_t *pkt, size_t len);

/* The chain hash of a history ending with prev_chain (0: empty) extended by pkt. Never 0. */
uint64_t rwr_history_chain(uint64_t prev_chain, const uint8_t *pkt, size_t len);

/* Forget the newest history entry (it is being replaced by a newer value of the same
 * setting). */
void rwr_session_drop_last(rwr_session *s);

/* Is sql exactly one SET of autocommit (SET autocommit=1, SET @@session.autocommit = OFF,
 * SET SESSION autocommit=0; ...)? Connector/J sends these around every transaction: the
 * history keeps only the newest, so it does not grow with every transaction. */
int rwr_is_autocommit_set(const char *sql, size_t len);

/* Temporary tables. */
void rwr_session_temp_add(rwr_session *s, const char *name);
void rwr_session_temp_drop(rwr_session *s, const char *name);
int rwr_session_is_temp(void *session, const char *name, size_t len); /* rwr_is_temp_fn */

/* Pin the session to the master for good (until reset). */
void rwr_session_pin(rwr_session *s, const char *reason);

/* Is a transaction (or autocommit=0 pseudo-transaction) open, so statements must stay on
 * the transaction's server? */
int rwr_session_in_transaction(const rwr_session *s);

/*
 * Where the classified statement goes. reason is set to a static text. For RWR_DEST_SERVER
 * the name is in d->server. allow_replica_reads is 0 when no replica may serve reads (none
 * configured, or the caller knows none is usable): then replica reads become master reads.
 */
rwr_dest rwr_session_route(rwr_session *s, const rwr_decision *d, const char **reason);

/* Before the statement is sent: apply what its flags do to the session (pins, temp tables,
 * the READ ONLY transaction on a replica). */
void rwr_session_before(rwr_session *s, const rwr_decision *d, rwr_dest dest);

/* After the final OK/EOF of an answer from the server that holds the session's transaction
 * state (the master, or the replica of a READ ONLY transaction): the truth. */
void rwr_session_status(rwr_session *s, uint16_t status, int from_trx_replica);

#endif
