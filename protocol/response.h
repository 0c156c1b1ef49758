/*
 * protocol/response.h — generic response packets: OK, ERR, EOF (and the OK-with-0xfe
 * header that ends a result set under CLIENT_DEPRECATE_EOF), with session-state tracking
 * data. Decoders read a payload; encoders append complete packets to a proto_writer.
 */
#ifndef RWP_RESPONSE_H
#define RWP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>
#include "packet.h"

/* A decoded OK packet (header 0x00, or 0xfe when it terminates a result set). */
typedef struct {
    uint8_t header;             /* 0x00 or 0xfe */
    uint64_t affected_rows;
    uint64_t last_insert_id;
    uint16_t status;            /* server status flags */
    size_t status_off;          /* offset of the 2 status bytes in the payload (for patching) */
    uint16_t warnings;
    const uint8_t *info;        /* human-readable info (points into payload) */
    size_t info_len;
    const uint8_t *track;       /* session state info block, without its lenenc length; NULL if none */
    size_t track_len;
} proto_ok;

/* Decode an OK payload. caps are the negotiated capabilities (PROTOCOL_41, SESSION_TRACK). */
proto_status proto_ok_decode(const uint8_t *payload, size_t len, uint32_t caps, proto_ok *out);

/* A decoded ERR packet. */
typedef struct {
    uint16_t code;              /* error code */
    char sqlstate[6];           /* 5 chars + NUL; "HY000" if the packet has no '#' marker */
    const uint8_t *msg;         /* points into payload */
    size_t msg_len;
} proto_err;

/* Decode an ERR payload (0xff). Progress packets (code 0xffff) are reported as PROTO_ERROR. */
proto_status proto_err_decode(const uint8_t *payload, size_t len, proto_err *out);

/* A decoded classic EOF packet (0xfe, payload < 9 bytes). */
typedef struct {
    uint16_t warnings;
    uint16_t status;
} proto_eof;

proto_status proto_eof_decode(const uint8_t *payload, size_t len, proto_eof *out);

/* Is this payload a result-set terminator (EOF, or OK with 0xfe header under DEPRECATE_EOF)?
 * 0xfe header and payload length < 0xffffff (and < 9 without DEPRECATE_EOF). */
int proto_is_terminator(const uint8_t *payload, size_t len, uint32_t caps);

/* Status flags of a terminator or OK payload, or -1 if it cannot be read. */
int proto_status_flags(const uint8_t *payload, size_t len, uint32_t caps);

/* Append an OK packet. */
int proto_ok_encode(proto_writer *w, uint8_t seq, uint64_t affected, uint64_t insert_id,
                    uint16_t status, uint16_t warnings, const char *info, uint32_t caps);
/* Append an ERR packet; sqlstate is 5 characters; msg is printf-free plain text. */
int proto_err_encode(proto_writer *w, uint8_t seq, uint16_t code, const char *sqlstate,
                     const char *msg);
/* Append a classic EOF packet. */
int proto_eof_encode(proto_writer *w, uint8_t seq, uint16_t warnings, uint16_t status);

/* ---- session-state tracking (the block after the OK's info when
 *      SERVER_SESSION_STATE_CHANGED is set) ---- */
typedef struct {
    uint8_t type;               /* SESSION_TRACK_* */
    const uint8_t *data;        /* the entry's data (points into the block) */
    size_t len;
    /* decoded for SYSTEM_VARIABLES (name/value), SCHEMA (name), GTIDS (value),
     * TRANSACTION_STATE (value), STATE_CHANGE (value "1"/"0"); others leave them empty */
    const uint8_t *name;
    size_t name_len;
    const uint8_t *value;
    size_t value_len;
} proto_track_entry;

/* Iterator over a session-track block. */
typedef struct {
    proto_reader r;             /* position in the block */
} proto_track_iter;

void proto_track_begin(proto_track_iter *it, const uint8_t *block, size_t len);
/* PROTO_OK with the next entry, PROTO_AGAIN at the end, PROTO_ERROR if malformed. */
proto_status proto_track_next(proto_track_iter *it, proto_track_entry *e);

#endif
