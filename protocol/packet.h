/*
 * protocol/packet.h — packet framing and primitive encodings of the MySQL protocol.
 * Owns: the 4-byte packet header (3-byte length, 1-byte sequence id), the
 * bounds-checked reader over a payload (fixed ints, length-encoded ints and strings,
 * NUL-terminated strings), and the growable writer used to build packets.
 * Pure and I/O-free: callers hand in bytes and get bytes back.
 */
#ifndef RWP_PACKET_H
#define RWP_PACKET_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_HDR_LEN      4u
#define PROTO_MAX_PAYLOAD  0xffffffu /* a payload of exactly this size continues in the next packet */

/* Result of incremental parsing: more bytes are needed, done, or malformed input. */
typedef enum {
    PROTO_AGAIN = 0,  /* not enough bytes yet; nothing consumed */
    PROTO_OK = 1,     /* parsed */
    PROTO_ERROR = -1  /* malformed or over a limit */
} proto_status;

/* A decoded packet header. */
typedef struct {
    uint32_t len; /* payload length, 0 .. 0xffffff */
    uint8_t seq;  /* sequence id */
} proto_hdr;

/* Peek at a header: PROTO_AGAIN if fewer than 4 bytes, else PROTO_OK. Consumes nothing. */
proto_status proto_hdr_peek(const uint8_t *buf, size_t len, proto_hdr *out);
/* Write a 4-byte header at dst. */
void proto_hdr_write(uint8_t *dst, uint32_t payload_len, uint8_t seq);

/*
 * Frame splitter for a whole logical packet that may span several physical packets
 * (continuation after a 0xffffff-byte payload). Returns PROTO_AGAIN until every physical
 * packet of the logical packet is in buf; then PROTO_OK with *wire_len = total bytes
 * (headers included) and *payload_len = sum of payload lengths. PROTO_ERROR if the logical
 * payload would exceed max_payload (checked as soon as the headers show it).
 */
proto_status proto_frame_logical(const uint8_t *buf, size_t len, size_t max_payload,
                                 size_t *wire_len, size_t *payload_len);
/* Copy the payload of a complete logical packet (as found by proto_frame_logical) into dst,
 * dropping the inner headers. dst must have room for payload_len bytes. */
void proto_frame_join(const uint8_t *buf, size_t wire_len, uint8_t *dst);

/* ---- little-endian fixed-width ints ---- */
static inline uint16_t proto_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t proto_u24(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16); }
static inline uint32_t proto_u32(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24); }
static inline void proto_put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void proto_put_u24(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); }
static inline void proto_put_u32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24); }

/* Bytes needed to encode v as a length-encoded integer (1, 3, 4 or 9). */
size_t proto_lenenc_size(uint64_t v);

/* ---- bounds-checked reader over one payload ----
 * Every read past the end sets err and returns 0/NULL; callers check err once at the end. */
typedef struct {
    const uint8_t *p;   /* next unread byte */
    const uint8_t *end; /* one past the last byte */
    int err;            /* set on any out-of-bounds or malformed read */
} proto_reader;

void proto_rd_init(proto_reader *r, const uint8_t *buf, size_t len);
size_t proto_rd_left(const proto_reader *r);
uint8_t proto_rd_u8(proto_reader *r);
uint16_t proto_rd_u16(proto_reader *r);
uint32_t proto_rd_u24(proto_reader *r);
uint32_t proto_rd_u32(proto_reader *r);
uint64_t proto_rd_u64(proto_reader *r);
/* Length-encoded integer. 0xfb sets *is_null (if non-NULL) and returns 0; 0xff is an error. */
uint64_t proto_rd_lenenc(proto_reader *r, int *is_null);
/* Skip n bytes. */
void proto_rd_skip(proto_reader *r, size_t n);
/* Fixed-length bytes: returns a pointer into the payload (not copied). */
const uint8_t *proto_rd_bytes(proto_reader *r, size_t n);
/* Length-encoded string: pointer into the payload, *len set. */
const uint8_t *proto_rd_lenenc_str(proto_reader *r, size_t *len);
/* NUL-terminated string: pointer into the payload, *len excludes the NUL; error if no NUL. */
const uint8_t *proto_rd_cstr(proto_reader *r, size_t *len);
/* The rest of the payload. */
const uint8_t *proto_rd_rest(proto_reader *r, size_t *len);

/* ---- growable writer used to build packets ----
 * A writer starts with room reserved for a 4-byte header; proto_wr_finish writes it.
 * On allocation failure or going past max, err is set and further writes are ignored. */
typedef struct {
    uint8_t *data; /* heap buffer (owned) */
    size_t len;    /* bytes written, header included */
    size_t cap;    /* allocated size */
    size_t max;    /* hard limit on len (0 = 64 MiB) */
    size_t pkt;    /* offset of the header of the packet being written */
    int err;       /* set on allocation failure or limit */
} proto_writer;

void proto_wr_init(proto_writer *w);           /* empty; reserves the header */
void proto_wr_free(proto_writer *w);           /* frees data */
void proto_wr_reset(proto_writer *w);          /* back to an empty packet; keeps memory */
void proto_wr_u8(proto_writer *w, uint8_t v);
void proto_wr_u16(proto_writer *w, uint16_t v);
void proto_wr_u24(proto_writer *w, uint32_t v);
void proto_wr_u32(proto_writer *w, uint32_t v);
void proto_wr_u64(proto_writer *w, uint64_t v);
void proto_wr_lenenc(proto_writer *w, uint64_t v);
void proto_wr_bytes(proto_writer *w, const void *p, size_t n);
void proto_wr_zeros(proto_writer *w, size_t n);
void proto_wr_lenenc_str(proto_writer *w, const void *p, size_t n);
void proto_wr_cstr(proto_writer *w, const char *s); /* bytes + NUL */
/* Write the header of the packet being written (payload = len - pkt - 4, which must be
 * < 0xffffff, else err) with seq. Returns 0, or -1 if err is set. */
int proto_wr_finish(proto_writer *w, uint8_t seq);
/* Start another packet after the current (finished) one, in the same buffer: reserves a new
 * header. Used to build several packets (e.g. a result set) into one write. */
void proto_wr_next(proto_writer *w);

#endif
