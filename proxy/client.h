/*
 * proxy/client.h — one client connection: rwproxy's side of the MySQL handshake (greeting,
 * authentication against [user.*], auth switch), then commands read in order from the
 * client's byte stream (pipelined commands wait in the input buffer). Each command is
 * routed (proxy/session.c) to the master or a replica; the session's backend connections
 * are opened lazily, brought up to date with the session's history, and their answers are
 * relayed back with backpressure both ways. One struct, one state enum, one state-change
 * function, one way out (rwp_client_fail / rwp_client_close).
 */
#ifndef RWP_CLIENT_H
#define RWP_CLIENT_H

#include <stdint.h>
#include <uv.h>

#include "protocol/auth.h"
#include "protocol/walker.h"
#include "proxy/backend.h"
#include "proxy/netio.h"
#include "router/classify.h"
#include "router/gtid.h"
#include "router/session.h"

typedef struct rwp_worker rwp_worker;

/* Client connection states. */
typedef enum {
    CL_HANDSHAKE = 0, /* greeting sent; waiting for the HandshakeResponse41 */
    CL_AUTH_SWITCH,   /* AuthSwitchRequest sent (login or COM_CHANGE_USER); waiting for the reply */
    CL_CONNECTING,    /* authenticated; logging into the master, the client waits for OK/ERR */
    CL_IDLE,          /* ready: the next command in the input buffer may start */
    CL_COMMAND,       /* a command is being prepared on / run by a backend; its answer relayed */
    CL_CLOSING        /* on the way out: queued bytes flushed, then handles closed */
} rwp_client_state;

/* Bytes of a command that are streamed to the backend as they arrive. */
typedef enum {
    STREAM_NONE = 0,  /* nothing to stream */
    STREAM_CONT,      /* continuation packets of a command of 16 MiB or more */
    STREAM_INFILE     /* LOCAL INFILE file packets, up to the empty packet */
} rwp_stream_mode;

/* A prepared statement as the client sees it, and where it is prepared. */
typedef struct rwp_stmt {
    uint32_t id;             /* the id the client uses (the master's id at prepare time) */
    char *sql;               /* the statement text (owned) */
    size_t sql_len;          /* its length */
    rwr_decision dec;        /* classification at prepare time */
    uint16_t nparams;        /* parameters */
    uint8_t *types;          /* 2*nparams bytes of types from the last execute that sent them */
    uint32_t *be_id;         /* per server: the backend's statement id, 0 = not prepared there */
    uint8_t *be_typed;       /* per server: the backend has received parameter types */
    int exec_server;         /* server of the last execution (FETCH/RESET follow it), -1 none */
    int long_data;           /* SEND_LONG_DATA went to the master since the last execute */
    char *digest;            /* its normalised text (router/digest), made at the first execute, or NULL */
    size_t digest_len;       /* its length */
    uint64_t digest_hash;    /* its hash */
    struct rwp_stmt *next;   /* the client's list */
} rwp_stmt;

#define RWP_MAX_REWRITES 8 /* OK packets of one read buffer that can be rewritten */

/* An OK packet of the current read buffer replaced before it reaches the client. */
typedef struct {
    size_t start;            /* offset of its header in the buffer */
    size_t end;              /* offset just past it */
    uint8_t *pkt;            /* the replacement (header included), owned */
    size_t len;              /* its length */
} rwp_rewrite;

/* What the command in flight is, once routed. */
typedef struct {
    uint8_t cmd;             /* command byte */
    size_t len;              /* bytes of its first packet (header included) still in the input buffer; 0 once consumed */
    rwr_decision dec;        /* classification (COM_QUERY / statement) */
    rwr_dest dest;           /* routing destination */
    const char *reason;      /* why (static text) */
    int target;              /* server index that runs it */
    int session_cmd;         /* record in the history if it succeeds */
    rwp_stmt *stmt;          /* statement of a COM_STMT_* command, or NULL */
    int sent;                /* the command itself has been sent */
    int causal_checked;      /* read-your-writes has been taken care of */
    rwr_gtid_pos want;       /* position a replica must have reached to serve it */
    int want_known;          /* want has been computed */
    int require_caught_up;   /* replica choice: only replicas known to be at want */
    uint64_t causal_tried;   /* bit i: replica i did not reach want in time for this command
                                (one bit per server: RWP_MAX_SERVERS <= 64) */
    int got_err;             /* its answer contained an ERR */
    uint16_t final_status;   /* status flags of the final OK/EOF */
    int have_status;         /* final_status is set */
    int keep_backend;        /* its answer had warnings or an error, or it used SQL_CALC_FOUND_ROWS:
                                the connection stays with the session for the next statement */
    uint32_t prepared_id;    /* COM_STMT_PREPARE: the id in the prepare-OK */
    uint32_t client_stmt_id; /* the id the client was given for it (prepared_id unless taken) */
    uint16_t prepared_params;/* its parameter count */
    int for_master;          /* routed to the session's master (follows it if the master moves) */
    uint64_t held_ms;        /* loop time it first waited for a master (0 = never); the hold time counts from it */
    int waiting;             /* it waits for a master now (released by the tick or a new topology) */
    uint64_t sent_ns;        /* uv_hrtime() when the command was sent (0: not measured) */
} rwp_command;

struct rwp_client {
    uv_tcp_t tcp;              /* the socket (tcp.data = this) */
    uv_timer_t timer;          /* handshake timeout, then the close guard */
    uv_shutdown_t shutdown_req;/* flushes queued bytes before close */
    int handles_open;          /* tcp + timer still open; freed when 0 */
    rwp_worker *worker;        /* owning worker */
    struct rwp_client *prev;   /* worker's client list */
    struct rwp_client *next;   /* worker's client list */
    rwp_client_state state;    /* see rwp_client_state */
    uint64_t id;               /* rwproxy connection id (the one in our greeting) */
    char peer[64];             /* client address, for messages and logs */
    char user[128];            /* authenticated user ("" before) */
    char db[256];              /* schema asked for at login / change user (new backends log in with it) */
    char cur_db[256];          /* the session's current schema (after USE / COM_INIT_DB) */
    uint8_t charset;           /* client collation id */
    uint32_t caps;             /* capabilities negotiated with the client */
    uint8_t scramble[20];      /* the scramble of our greeting */
    int has_password;          /* the user has a password */
    uint8_t h1[PROTO_SHA1_LEN];/* SHA1(password), recovered at login, for backend logins */
    uint8_t *attrs;            /* client's connect attributes (owned copy) or NULL */
    size_t attrs_len;          /* their length */
    uint8_t auth_seq;          /* sequence id of the next packet we send during auth */
    int in_change_user;        /* the auth exchange belongs to COM_CHANGE_USER */
    int auth_step;             /* what the client's next auth packet is (AUTH_STEP_* in client.c) */
    uint64_t users_wait_gen;   /* the login waits for this load of the backend accounts (0 = not waiting) */
    uint64_t users_wait_ms;    /* loop time that wait began */
    int users_waited;          /* this login already waited once (never twice) */
    int auth_wait_step;        /* which check the kept reply is for (AUTH_STEP_*) */
    uint8_t auth_reply[64];    /* the client's scramble reply kept during that wait (wiped after) */
    size_t auth_reply_len;     /* its length */
    rwp_inbuf in;              /* bytes received and not yet consumed (decrypted ones with TLS) */
    struct rwp_tls *tls;       /* TLS engine once the client sent the SSL request (proxy/tls.h), else NULL */
    int read_paused;           /* uv_read_stop for backpressure */
    int reading;               /* uv_read_start active */
    /* backends of the session, one slot per configured server */
    rwp_backend **bes;         /* bes[i]: connection to server i, or NULL */
    uint8_t *srv_failed;       /* srv_failed[i]: server i failed for this session (not retried) */
    int nservers;              /* slots in bes / srv_failed */
    int master;                /* server index of the session's master (-1: none now; commands for it wait) */
    uint64_t login_held_ms;    /* CL_CONNECTING: loop time the login started waiting for a server (0 = not) */
    char login_why[160];       /* why the held login could not go through yet (for its final ERR) */
    uint64_t retry_ms;         /* loop time of the last attempt to reach a server for a held login/command */
    uint64_t retry_gen;        /* topology generation at that attempt */
    int prev_server;           /* server that ran the previous statement (-1) */
    int last_replica;          /* replica that served the session's last read (-1): least_connections
                                  keeps the session there while it is usable (monotonic reads) */
    int trx_replica;           /* server holding a READ ONLY transaction (-1) */
    rwr_session sess;          /* routing state: transaction, pins, temp tables, history */
    rwp_stmt *stmts;           /* prepared statements */
    uint32_t last_prepared;    /* client id of the last prepared statement (for id 0xffffffff) */
    rwp_command cur;           /* the command in flight (state CL_COMMAND) */
    rwr_gtid_pos gtid;         /* the session's own last committed write (from last_gtid) */
    int track_gtid;            /* master connections track last_gtid (consistency != eventual) */
    int client_wants_gtid;     /* the client asked for last_gtid tracking itself */
    rwp_rewrite rw[RWP_MAX_REWRITES]; /* OK packets to replace in the buffer being relayed */
    int nrw;                   /* entries in rw */
    uint64_t relayed;          /* answer bytes relayed for the command in flight */
    rwp_stream_mode stream;    /* what is being streamed to the backend */
    size_t stream_left;        /* bytes of the current streamed packet still to forward */
    int stream_last;           /* the current streamed packet is the last one */
    int draining;              /* shutdown: close once idle */
    int counted;               /* counted in the process-wide client total */
    char counted_user[128];    /* the user counted against its max_connections ("" = none) */
    uint64_t last_active_ms;   /* loop time the last command finished (idle timeout) */
    uint64_t stream_total;     /* bytes of continuation packets of the command streamed so far */
    uint64_t accepted_ms;      /* loop time of the accept (SHOW SESSIONS age) */
    /* the client id registry (proxy/kill.c): guarded by the worker's reg_mu */
    struct rwp_client *reg_next;/* next in the registry bucket */
    char reg_user[128];        /* the user others' KILL is checked against ("" before login) */
    int registered;            /* in the registry */
    /* connection pool and multiplexing (proxy/pool.c) */
    int pool_wait_server;      /* server whose pool the session waits on (-1: none) */
    uint64_t pool_wait_ms;     /* loop time the wait began */
    struct rwp_client *pool_wait_next; /* that server's wait queue */
    struct rwp_client *pool_wait_prev; /* that server's wait queue */
    int hold_master;           /* server-side code (CALL) may have left state on the master
                                  connection that cannot be replayed: keep it */
    uint64_t last_insert_id;   /* LAST_INSERT_ID() of the session, from its OK packets */
    size_t in_accounted;       /* bytes of in's buffer counted in the worker's client_in_bytes */
    int in_denied;             /* its buffer could not grow: the worker is at worker_buffer_limit */
    uint64_t prev_lease;       /* lease of the connection that ran the previous statement, given back
                                  to the pool (reclaimed for FOUND_ROWS(), SHOW WARNINGS) */
};

typedef struct rwp_client rwp_client;

/* Accept a pending connection on the worker's listener. */
void rwp_client_accept(rwp_worker *w);
/* Shutdown: close now if idle, else once the command in flight finishes. */
void rwp_client_drain(rwp_client *c);
/* Close at once (drain deadline passed). */
void rwp_client_abort(rwp_client *c, const char *reason);

/* ---- shared between client.c (connection) and session.c (routing) ---- */
void rwp_client_set_state(rwp_client *c, rwp_client_state st);
void rwp_client_close(rwp_client *c, const char *reason);
void rwp_client_fail(rwp_client *c, uint8_t seq, uint16_t code, const char *sqlstate,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void rwp_client_send_err(rwp_client *c, uint8_t seq, uint16_t code, const char *sqlstate, const char *msg);
void rwp_client_send_ok(rwp_client *c, uint8_t seq, uint16_t status);
/* Every byte for the client goes through these two: encrypted when the client uses TLS,
 * otherwise written as is (the chunk referenced until written; heap owned by the call). */
int rwp_client_write_chunk(rwp_client *c, rwp_chunk *ch, const uint8_t *p, size_t len, rwp_write_done_fn done);
int rwp_client_write_owned(rwp_client *c, uint8_t *heap, size_t len, rwp_write_done_fn done);
void rwp_client_process_input(rwp_client *c);
void rwp_client_pause_reading(rwp_client *c);
/* Housekeeping, from the worker's tick and after each new topology: connect timeouts, held
 * logins and commands, the master moving, servers going down. */
void rwp_client_tick(rwp_client *c, uint64_t now);
/* Open the session's connection to server idx (login with the client's credentials). */
int rwp_client_open_backend(rwp_client *c, int idx);
/* What the session's connections to server idx log in with. */
void rwp_client_login_params(const rwp_client *c, int idx, rwp_login *login);
/* A login waiting for a pooled connection: try again. */
void rwp_client_retry_login(rwp_client *c);
extern const rwp_backend_ops rwp_client_backend_ops;

/* session.c */
void rwp_session_init(rwp_client *c, int nservers);
void rwp_session_free(rwp_client *c);
/* Start the command whose first packet (complete, len payload bytes) is at the input head. */
void rwp_session_start_command(rwp_client *c, const uint8_t *pkt, uint32_t len);
/* Continue the command in flight (a backend became ready or finished an internal step). */
void rwp_session_dispatch(rwp_client *c);
/* A backend of the session finished answering (real or internal command). */
void rwp_session_answered(rwp_client *c, rwp_backend *be);
/* Relay bytes of the current answer, replacing the OK packets rewritten for the client. */
int rwp_session_relay(rwp_client *c, rwp_chunk *ch, const uint8_t *p, size_t len, rwp_write_done_fn done);
/* A walker event from a backend of the session. */
void rwp_session_event(rwp_client *c, rwp_backend *be, const proto_walk_event *ev);
/* Give a backend connection to the session for server idx: from the pool (reset or brought
 * up to date as needed) or newly opened. See rwp_attach_result. */
typedef enum {
    RWP_ATTACH_READY = 0,  /* c->bes[idx] is idle and in the session's state */
    RWP_ATTACH_PENDING,    /* c->bes[idx] is logging in or being reset: its ready callback follows */
    RWP_ATTACH_WAIT,       /* the server is at max_connections: the session was queued */
    RWP_ATTACH_FAILED      /* no connection could be opened */
} rwp_attach_result;
rwp_attach_result rwp_session_attach(rwp_client *c, int idx);
/* Does the pool already hold a connection to server idx logged in as this session would log
 * in (so the login needs no backend round trip: multiplexing takes one when it is needed)? */
int rwp_session_login_known_good(rwp_client *c, int idx);
/* Give the session's idle backends back to the pool where nothing ties them to it
 * (multiplexing), or all of them that can be reused (final: the session ends). */
void rwp_session_release_backends(rwp_client *c, int final);
/* The pool woke a session waiting for a connection, or its wait timed out. */
void rwp_session_pool_wake(rwp_client *c);
void rwp_session_pool_timeout(rwp_client *c, uint64_t waited_ms);
/* The login of the session completed on a backend (status: its status flags). */
void rwp_client_login_done(rwp_client *c, uint16_t status);
/* A backend of the session failed; returns 1 if the session recovered (the client goes on). */
int rwp_session_backend_failed(rwp_client *c, int idx, const char *reason);
/* Follow the topology (master moves, held commands, reads on dead servers); 0, or -1 if the
 * session was closed. */
int rwp_session_recheck(rwp_client *c, uint64_t now);
/* May a held login or command try to reach a server again now? (The topology changed, or
 * RWP_RETRY_MS passed since the last attempt.) Records the attempt when it says yes. */
int rwp_client_may_retry(rwp_client *c, uint64_t now);
#define RWP_RETRY_MS 250
/* Is the session's state (transaction, LOCK TABLES, temporary tables, pinned state) only on
 * its master connection? */
int rwp_session_bound_to_master(const rwp_client *c);
/* COM_CHANGE_USER / COM_RESET_CONNECTION: forget the session (history, statements, replicas). */
void rwp_session_reset(rwp_client *c, int keep_master);

#endif
