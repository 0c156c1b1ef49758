/*
 * protocol/walker.h — resumable response walker. Fed the raw byte stream a server sends
 * in answer to one command (in arbitrary slices, as reads deliver it), it finds packet
 * boundaries (including 0xffffff continuation packets), follows the shape of the response
 * (OK / ERR / result sets with or without EOF packets / multi-results / LOCAL INFILE /
 * prepare answers / cursors / fetch), and says exactly where the response ends. It copies
 * only a bounded prefix of packets that may be OK/EOF/ERR, so a relay can forward the
 * bytes from the buffers they arrived in.
 */
#ifndef RWP_WALKER_H
#define RWP_WALKER_H

#include <stddef.h>
#include <stdint.h>
#include "packet.h"

/* How a command is answered. */
typedef enum {
    RESP_NONE = 0,     /* no answer at all (COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA, COM_QUIT) */
    RESP_SINGLE,       /* exactly one packet: OK, ERR or EOF (PING, INIT_DB, SET_OPTION,
                          RESET_CONNECTION, STMT_RESET, REFRESH, PROCESS_KILL, ...) */
    RESP_STRING,       /* one packet of text, or ERR (COM_STATISTICS) */
    RESP_QUERY,        /* COM_QUERY: OK | ERR | LOCAL INFILE | text result sets, multi-results */
    RESP_FIELD_LIST,   /* COM_FIELD_LIST: column definitions then EOF, or ERR */
    RESP_PREPARE,      /* COM_STMT_PREPARE: prepare-OK + param and column definitions, or ERR */
    RESP_EXECUTE,      /* COM_STMT_EXECUTE / COM_STMT_BULK_EXECUTE: OK | ERR | binary result
                          sets (multi-results with PS_MULTI_RESULTS), cursor opened */
    RESP_FETCH         /* COM_STMT_FETCH: binary rows then EOF/terminator, or ERR */
} proto_resp_kind;

/* How the server answers command byte cmd (RESP_SINGLE for unknown commands: the server
 * answers those with one ERR packet). */
proto_resp_kind proto_command_response_kind(uint8_t cmd);

/* Name of a command byte ("COM_QUERY", ...) or "COM_UNKNOWN". */
const char *proto_command_name(uint8_t cmd);

#define PROTO_WALK_CAPTURE 4096 /* bytes of a candidate OK/EOF/ERR payload copied for decoding */

/* What the walker reports about a packet it finished. */
typedef enum {
    WALK_EV_OK = 1,        /* an OK packet (0x00) ending a statement (payload captured) */
    WALK_EV_ERR,           /* an ERR packet: the response ends */
    WALK_EV_EOF,           /* an EOF / 0xfe terminator (after columns or after rows) */
    WALK_EV_INFILE,        /* 0xfb LOCAL INFILE request: the caller must now relay the client's
                              file packets to the server, then call proto_walker_infile_sent */
    WALK_EV_PREPARE_OK,    /* the first packet of a successful COM_STMT_PREPARE answer */
    WALK_EV_STRING         /* the single packet of a RESP_STRING answer */
} proto_walk_event_type;

typedef struct {
    proto_walk_event_type type;
    const uint8_t *payload;  /* captured payload (up to PROTO_WALK_CAPTURE bytes), contiguous */
    size_t captured;         /* bytes in payload */
    uint32_t payload_len;    /* the packet's real payload length */
    uint8_t seq;             /* its sequence id */
    size_t end_off;          /* offset in the current feed buffer just past the packet */
    uint16_t status;         /* status flags for OK/EOF (0 if not decodable) */
    int last;                /* 1 if this packet ends the whole response */
} proto_walk_event;

typedef void (*proto_walk_cb)(void *ctx, const proto_walk_event *ev);

/* Internal states (exposed for debugging and tests). */
typedef enum {
    WALK_FIRST = 0,        /* expecting the first packet of a (next) result */
    WALK_COLUMNS,          /* column definitions (cols_left more) */
    WALK_COLUMNS_EOF,      /* the EOF after column definitions (no DEPRECATE_EOF) */
    WALK_ROWS,             /* rows until a terminator */
    WALK_PREP_PARAMS,      /* prepare: parameter definitions (params_left more) */
    WALK_PREP_PARAMS_EOF,  /* prepare: EOF after parameter definitions */
    WALK_PREP_COLUMNS,     /* prepare: column definitions */
    WALK_PREP_COLUMNS_EOF, /* prepare: EOF after column definitions */
    WALK_FIELDS,           /* COM_FIELD_LIST: column definitions until EOF */
    WALK_INFILE,           /* waiting for the caller to send the file; no server bytes expected */
    WALK_DONE,             /* response complete */
    WALK_ERROR             /* malformed stream */
} proto_walk_state;

typedef struct {
    proto_resp_kind kind;   /* what is being walked */
    uint32_t caps;          /* negotiated capabilities (DEPRECATE_EOF, PROTOCOL_41, ...) */
    int cursor;             /* RESP_EXECUTE with a cursor requested */
    proto_walk_state state; /* where in the response we are */
    uint64_t cols_left;     /* column definitions still to come */
    uint64_t params_left;   /* parameter definitions still to come (prepare) */
    uint64_t prep_columns;  /* column count announced by prepare-OK */
    /* current packet assembly */
    uint8_t hdr[PROTO_HDR_LEN]; /* header bytes being gathered */
    size_t hdr_have;        /* header bytes gathered so far */
    uint32_t pkt_len;       /* payload length of the current packet */
    uint32_t pkt_have;      /* payload bytes of it seen so far */
    uint8_t pkt_seq;        /* its sequence id */
    int in_continuation;    /* the current packet continues a 0xffffff one (not a new header) */
    uint64_t logical_len;   /* payload bytes of the current logical packet so far */
    uint8_t first_byte;     /* first payload byte of the logical packet */
    int capturing;          /* copying this packet's payload into cap */
    size_t cap_len;         /* bytes in cap */
    uint8_t cap[PROTO_WALK_CAPTURE]; /* captured payload prefix */
    /* results */
    uint16_t last_status;   /* status flags of the last OK/EOF seen */
    int got_err;            /* the response ended with ERR */
    uint64_t packets;       /* packets walked (logical) */
    uint64_t bytes;         /* bytes walked */
    uint64_t rows;          /* result-set rows walked (all results of the answer) */
    proto_walk_cb cb;       /* optional event callback */
    void *cb_ctx;           /* its context */
} proto_walker;

/* Start walking the answer to one command. */
void proto_walker_start(proto_walker *w, proto_resp_kind kind, uint32_t caps, int cursor,
                        proto_walk_cb cb, void *cb_ctx);

/*
 * Feed the next slice of server bytes. Returns how many bytes belong to this response
 * (<= len); stops right after the last byte of the response (state WALK_DONE), right after a
 * LOCAL INFILE request (state WALK_INFILE), or at a malformed packet (state WALK_ERROR).
 */
size_t proto_walker_feed(proto_walker *w, const uint8_t *buf, size_t len);

/* After the client's file (ending with an empty packet) was relayed: expect the OK/ERR. */
void proto_walker_infile_sent(proto_walker *w);

static inline int proto_walker_done(const proto_walker *w) { return w->state == WALK_DONE; }

#endif
