/*
 * proxy/backend.h — one connection from rwproxy to a MariaDB/MySQL server, on a worker's
 * loop: TCP connect, rwproxy's own login (HandshakeResponse41 with the client's user,
 * schema, charset and capabilities, mysql_native_password computed from SHA1(password)),
 * then commands whose answers are walked with the protocol walker and handed to the owner
 * chunk by chunk, so they can be forwarded without copying.
 */
#ifndef RWP_BACKEND_H
#define RWP_BACKEND_H

#include <stdint.h>
#include <uv.h>

#include "protocol/auth.h"
#include "protocol/walker.h"
#include "proxy/chunk.h"
#include "proxy/netio.h"

typedef struct rwp_worker rwp_worker;
typedef struct rwp_backend rwp_backend;

/* Purposes of commands rwproxy sends on its own (their answers are not relayed). */
enum {
    RWP_INT_NONE = 0,    /* a client's command */
    RWP_INT_REPLAY,      /* replaying a session history entry */
    RWP_INT_PREPARE,     /* preparing a statement lazily on this server */
    RWP_INT_GTID_WAIT,   /* waiting for a GTID before a causal read */
    RWP_INT_TRACK,       /* setting up session tracking of last_gtid */
    RWP_INT_CLOSE,       /* closing a statement (no answer) */
    RWP_INT_INSERT_ID    /* restoring the session's LAST_INSERT_ID() on a pooled connection */
};

/* Backend connection states. */
typedef enum {
    BE_CONNECTING = 0, /* TCP connect in progress */
    BE_GREETING,       /* connected; waiting for the server's handshake */
    BE_TLS,            /* SSL request sent ([server.NAME] tls = on); TLS handshake in progress */
    BE_AUTH,           /* HandshakeResponse sent; waiting for OK / ERR / auth switch */
    BE_IDLE,           /* logged in, no command in flight */
    BE_BUSY,           /* a command was sent; its answer is being walked and relayed */
    BE_CLOSING         /* uv_close called; freed in the close callback */
} rwp_backend_state;

/* How a backend reports to whoever owns it (a client session). */
typedef struct {
    /* Login finished: ok_payload is the server's OK packet payload. */
    void (*ready)(void *owner, rwp_backend *be, const uint8_t *ok_payload, size_t len);
    /* The connection failed or was lost. If the server sent an ERR (login refused), err_payload
     * is its payload, else NULL and reason says what happened. The backend closes itself
     * right after this call; the owner must drop its pointer. */
    void (*failed)(void *owner, rwp_backend *be, const uint8_t *err_payload, size_t len,
                   const char *reason);
    /* Bytes of the current answer, to relay. ch is referenced for as long as the callee
     * needs it (rwp_chunk_ref). */
    void (*data)(void *owner, rwp_backend *be, rwp_chunk *ch, const uint8_t *p, size_t len);
    /* A walker event of the current answer (LOCAL INFILE request, final OK/EOF/ERR, ...). */
    void (*event)(void *owner, rwp_backend *be, const proto_walk_event *ev);
    /* The current answer is complete (the backend is BE_IDLE again), or it asked for the
     * LOCAL INFILE file (walker state WALK_INFILE; the backend stays BE_BUSY). */
    void (*answered)(void *owner, rwp_backend *be);
    /* A queued write to the server completed (the owner may resume reading its side). */
    void (*written)(void *owner, rwp_backend *be);
} rwp_backend_ops;

/* What a backend logs in with. */
typedef struct {
    char user[128];            /* user name */
    int has_password;          /* 0: empty password */
    uint8_t h1[PROTO_SHA1_LEN];/* SHA1(password) */
    char db[256];              /* schema, "" for none */
    uint8_t charset;           /* collation id */
    uint32_t caps;             /* capabilities negotiated with the client */
    uint8_t *attrs;            /* connect attributes block (owned copy) or NULL */
    size_t attrs_len;          /* its length */
    int want_session_track;    /* ask for CLIENT_SESSION_TRACK even if the client did not */
} rwp_login;

struct rwp_backend {
    uv_tcp_t tcp;              /* the socket (tcp.data = this) */
    uv_connect_t connect_req;  /* pending connect */
    uv_getaddrinfo_t resolve_req; /* pending name lookup (server host is not an IP address) */
    int resolving;             /* resolve_req is pending (the struct outlives the handle until it ends) */
    int handle_closed;         /* the socket handle is closed: free when the lookup ends */
    rwp_worker *worker;        /* owning worker */
    rwp_backend_state state;   /* see rwp_backend_state */
    char name[64];             /* server name from the config */
    char host[256];            /* server address */
    int port;                  /* server port */
    const rwp_backend_ops *ops;/* owner callbacks */
    void *owner;               /* owner (NULL once detached) */
    rwp_login login;           /* login parameters */
    uint32_t caps;             /* capabilities in force on this connection */
    uint32_t thread_id;        /* the server's connection id */
    uint8_t next_seq;          /* next sequence id during login */
    rwp_inbuf in;              /* login-phase input */
    proto_walker walker;       /* walks the answer of the command in flight */
    int reading;               /* uv_read_start active */
    int paused;                /* reads paused for backpressure */
    int server;                /* index of the server in the configuration / topology */
    size_t replayed;           /* entries of the owner's session history this connection has run */
    int internal;              /* the command in flight is rwproxy's own (RWP_INT_*): answer not relayed */
    int internal_err;          /* that internal command was answered with ERR */
    uint32_t internal_stmt_id; /* statement id from an internal prepare */
    int track_ready;           /* last_gtid session tracking is set up on this connection */
    uint64_t opened_ms;        /* loop time the connection was opened (connect timeout) */
    uint64_t log_id;           /* owner's connection id for log lines */
    char log_user[64];         /* owner's user for log lines (a copy: the owner may go first) */
    /* TLS to the server (proxy/tls.h) */
    struct rwp_tls *tls;       /* TLS engine from the SSL request on, else NULL (plain) */
    uint8_t tls_seq;           /* sequence id of the HandshakeResponse sent once TLS is up */
    /* connection pool (proxy/pool.c) */
    uint8_t scramble[20];      /* the server's greeting scramble (COM_CHANGE_USER answers it) */
    uint64_t st_chain;         /* session state it carries: chain hash of the history it ran (0: none) */
    size_t st_n;               /* how many history entries that is */
    int st_dirty;              /* state unknown (left by a session mid-way): reset before reuse */
    uint64_t last_insert_id;   /* LAST_INSERT_ID() on this connection, as its OK packets told */
    int in_pool;               /* idle in its worker's pool */
    uint64_t lease;            /* times it was handed to a session (a session's claim on it) */
    uint64_t last_owner;       /* connection id of the session it served last (0: none) */
    uint64_t pooled_ms;        /* loop time it went into the pool */
    struct rwp_backend *pool_prev; /* pool list (most recently pooled first) */
    struct rwp_backend *pool_next; /* pool list */
};

/* Open a connection; the owner's callbacks report the outcome. login->attrs is copied. */
rwp_backend *rwp_backend_open(rwp_worker *w, int server, const char *name, const char *host, int port,
                              const rwp_login *login, const rwp_backend_ops *ops, void *owner,
                              uint64_t log_id, const char *log_user);
/* Send a command (complete bytes, header included) and start walking its answer. */
int rwp_backend_send_command(rwp_backend *be, const uint8_t *bytes, size_t len,
                             proto_resp_kind kind, int cursor);
/* Send more bytes of the command in flight (continuation packets, LOCAL INFILE data). */
int rwp_backend_send_more(rwp_backend *be, const uint8_t *bytes, size_t len);
/* The LOCAL INFILE file has been sent completely: expect the final OK/ERR. */
void rwp_backend_infile_done(rwp_backend *be);
/* Stop / resume reading answers (backpressure from the client side). */
void rwp_backend_pause(rwp_backend *be);
void rwp_backend_resume(rwp_backend *be);
/* Bytes waiting in libuv to be sent to the server. */
size_t rwp_backend_queued(const rwp_backend *be);
/* Fail the connection as if it broke (the owner's failed callback runs), then close it. */
void rwp_backend_abort(rwp_backend *be, const char *reason);
/* Detach the owner and close (sending COM_QUIT if idle). Safe in any state. */
void rwp_backend_close(rwp_backend *be);
/* Hand an idle connection to a new owner (pool <-> session). */
void rwp_backend_adopt(rwp_backend *be, const rwp_backend_ops *ops, void *owner, uint64_t log_id,
                       const char *log_user);
/* Reset an idle connection in place with COM_CHANGE_USER to login's user, schema and charset
 * (its capabilities stay): everything of the previous session goes (transaction, variables,
 * temporary tables, locks, prepared statements). The owner's ready or failed callback reports
 * the outcome. Returns 0, or -1 (the failed callback ran). */
int rwp_backend_change_user(rwp_backend *be, const rwp_login *login);

#endif
