/*
 * proxy/client.h — one client connection: rwproxy's side of the MySQL handshake (greeting,
 * authentication against [user.*], auth switch), then commands read in order from the
 * client's byte stream (pipelined commands wait in the input buffer), each sent to the
 * backend and its answer relayed back, with backpressure both ways. One struct, one
 * state enum, one state-change function, one way out (client_fail / client_close).
 */
#ifndef RWP_CLIENT_H
#define RWP_CLIENT_H

#include <stdint.h>
#include <uv.h>

#include "protocol/auth.h"
#include "proxy/backend.h"
#include "proxy/netio.h"

typedef struct rwp_worker rwp_worker;

/* Client connection states. */
typedef enum {
    CL_HANDSHAKE = 0, /* greeting sent; waiting for the HandshakeResponse41 */
    CL_AUTH_SWITCH,   /* AuthSwitchRequest sent (login or COM_CHANGE_USER); waiting for the reply */
    CL_CONNECTING,    /* authenticated; logging into the backend, the client waits for OK/ERR */
    CL_IDLE,          /* ready: the next command in the input buffer may start */
    CL_COMMAND,       /* a command is at the backend; its answer is being relayed */
    CL_CLOSING        /* on the way out: queued bytes flushed, then handles closed */
} rwp_client_state;

/* Bytes of a command that are streamed to the backend as they arrive. */
typedef enum {
    STREAM_NONE = 0,  /* nothing to stream */
    STREAM_CONT,      /* continuation packets of a command of 16 MiB or more */
    STREAM_INFILE     /* LOCAL INFILE file packets, up to the empty packet */
} rwp_stream_mode;

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
    char db[256];              /* schema asked for at login / change user */
    uint8_t charset;           /* client collation id */
    uint32_t caps;             /* capabilities negotiated with the client */
    uint8_t scramble[20];      /* the scramble of our greeting */
    int has_password;          /* the user has a password */
    uint8_t h1[PROTO_SHA1_LEN];/* SHA1(password), recovered at login, for backend logins */
    uint8_t *attrs;            /* client's connect attributes (owned copy) or NULL */
    size_t attrs_len;          /* their length */
    uint8_t auth_seq;          /* sequence id of the next packet we send during auth */
    int in_change_user;        /* the auth exchange belongs to COM_CHANGE_USER */
    rwp_inbuf in;              /* bytes received and not yet consumed */
    int read_paused;           /* uv_read_stop for backpressure */
    int reading;               /* uv_read_start active */
    rwp_backend *be;           /* the backend connection (the master), or NULL */
    uint8_t cmd;               /* command in flight */
    uint64_t relayed;          /* answer bytes relayed for the command in flight */
    rwp_stream_mode stream;    /* what is being streamed to the backend */
    size_t stream_left;        /* bytes of the current streamed packet still to forward */
    int stream_last;           /* the current streamed packet is the last one */
    int draining;              /* shutdown: close once idle */
    int counted;               /* counted in the process-wide client total */
};

typedef struct rwp_client rwp_client;

/* Accept a pending connection on the worker's listener. */
void rwp_client_accept(rwp_worker *w);
/* Shutdown: close now if idle, else once the command in flight finishes. */
void rwp_client_drain(rwp_client *c);
/* Close at once (drain deadline passed). */
void rwp_client_abort(rwp_client *c, const char *reason);

#endif
