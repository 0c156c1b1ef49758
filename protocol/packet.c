/*
 * protocol/packet.c — packet framing (4-byte headers, 0xffffff continuation), the
 * bounds-checked payload reader and the growable packet writer. Pure: no I/O.
 */
#include "protocol/packet.h"

#include <stdlib.h>
#include <string.h>

#define WR_DEFAULT_MAX (64u * 1024u * 1024u)

proto_status proto_hdr_peek(const uint8_t *buf, size_t len, proto_hdr *out)
{
    if (len < PROTO_HDR_LEN)
        return PROTO_AGAIN;
    out->len = proto_u24(buf);
    out->seq = buf[3];
    return PROTO_OK;
}

void proto_hdr_write(uint8_t *dst, uint32_t payload_len, uint8_t seq)
{
    proto_put_u24(dst, payload_len);
    dst[3] = seq;
}

proto_status proto_frame_logical(const uint8_t *buf, size_t len, size_t max_payload,
                                 size_t *wire_len, size_t *payload_len)
{
    size_t off = 0, total = 0;
    for (;;) {
        if (len - off < PROTO_HDR_LEN)
            return PROTO_AGAIN;
        uint32_t plen = proto_u24(buf + off);
        total += plen;
        if (total > max_payload)
            return PROTO_ERROR;
        if (len - off - PROTO_HDR_LEN < plen)
            return PROTO_AGAIN;
        off += PROTO_HDR_LEN + plen;
        if (plen < PROTO_MAX_PAYLOAD)
            break;
    }
    *wire_len = off;
    *payload_len = total;
    return PROTO_OK;
}

void proto_frame_join(const uint8_t *buf, size_t wire_len, uint8_t *dst)
{
    size_t off = 0;
    while (off + PROTO_HDR_LEN <= wire_len) {
        uint32_t plen = proto_u24(buf + off);
        memcpy(dst, buf + off + PROTO_HDR_LEN, plen);
        dst += plen;
        off += PROTO_HDR_LEN + plen;
        if (plen < PROTO_MAX_PAYLOAD)
            break;
    }
}

size_t proto_lenenc_size(uint64_t v)
{
    if (v < 251)
        return 1;
    if (v <= 0xffff)
        return 3;
    if (v <= 0xffffff)
        return 4;
    return 9;
}

/* ---- reader ---- */

void proto_rd_init(proto_reader *r, const uint8_t *buf, size_t len)
{
    r->p = buf;
    r->end = buf + len;
    r->err = 0;
}

size_t proto_rd_left(const proto_reader *r)
{
    return r->err ? 0 : (size_t)(r->end - r->p);
}

/* Reserve n bytes: returns their start, or NULL (and sets err) if not available. */
static const uint8_t *rd_take(proto_reader *r, size_t n)
{
    if (r->err || (size_t)(r->end - r->p) < n) {
        r->err = 1;
        return NULL;
    }
    const uint8_t *at = r->p;
    r->p += n;
    return at;
}

uint8_t proto_rd_u8(proto_reader *r)
{
    const uint8_t *p = rd_take(r, 1);
    return p ? p[0] : 0;
}

uint16_t proto_rd_u16(proto_reader *r)
{
    const uint8_t *p = rd_take(r, 2);
    return p ? proto_u16(p) : 0;
}

uint32_t proto_rd_u24(proto_reader *r)
{
    const uint8_t *p = rd_take(r, 3);
    return p ? proto_u24(p) : 0;
}

uint32_t proto_rd_u32(proto_reader *r)
{
    const uint8_t *p = rd_take(r, 4);
    return p ? proto_u32(p) : 0;
}

uint64_t proto_rd_u64(proto_reader *r)
{
    const uint8_t *p = rd_take(r, 8);
    return p ? (uint64_t)proto_u32(p) | ((uint64_t)proto_u32(p + 4) << 32) : 0;
}

uint64_t proto_rd_lenenc(proto_reader *r, int *is_null)
{
    if (is_null)
        *is_null = 0;
    uint8_t first = proto_rd_u8(r);
    if (r->err)
        return 0;
    switch (first) {
    case 0xfb:
        if (is_null)
            *is_null = 1;
        else
            r->err = 1;
        return 0;
    case 0xfc:
        return proto_rd_u16(r);
    case 0xfd:
        return proto_rd_u24(r);
    case 0xfe:
        return proto_rd_u64(r);
    case 0xff:
        r->err = 1;
        return 0;
    default:
        return first;
    }
}

void proto_rd_skip(proto_reader *r, size_t n)
{
    (void)rd_take(r, n);
}

const uint8_t *proto_rd_bytes(proto_reader *r, size_t n)
{
    return rd_take(r, n);
}

const uint8_t *proto_rd_lenenc_str(proto_reader *r, size_t *len)
{
    uint64_t n = proto_rd_lenenc(r, NULL);
    *len = 0;
    if (r->err)
        return NULL;
    if (n > (uint64_t)(r->end - r->p)) {
        r->err = 1;
        return NULL;
    }
    *len = (size_t)n;
    return rd_take(r, (size_t)n);
}

const uint8_t *proto_rd_cstr(proto_reader *r, size_t *len)
{
    *len = 0;
    if (r->err)
        return NULL;
    const uint8_t *nul = memchr(r->p, 0, (size_t)(r->end - r->p));
    if (!nul) {
        r->err = 1;
        return NULL;
    }
    const uint8_t *s = r->p;
    *len = (size_t)(nul - s);
    r->p = nul + 1;
    return s;
}

const uint8_t *proto_rd_rest(proto_reader *r, size_t *len)
{
    *len = 0;
    if (r->err)
        return NULL;
    const uint8_t *s = r->p;
    *len = (size_t)(r->end - r->p);
    r->p = r->end;
    return s;
}

/* ---- writer ---- */

/* Make room for n more bytes; sets err on failure or over the limit. */
static int wr_reserve(proto_writer *w, size_t n)
{
    if (w->err)
        return -1;
    size_t max = w->max ? w->max : WR_DEFAULT_MAX;
    if (n > max || w->len > max - n) {
        w->err = 1;
        return -1;
    }
    if (w->len + n <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + n)
        cap *= 2;
    uint8_t *d = realloc(w->data, cap);
    if (!d) {
        w->err = 1;
        return -1;
    }
    w->data = d;
    w->cap = cap;
    return 0;
}

void proto_wr_init(proto_writer *w)
{
    memset(w, 0, sizeof *w);
    proto_wr_zeros(w, PROTO_HDR_LEN);
}

void proto_wr_free(proto_writer *w)
{
    free(w->data);
    memset(w, 0, sizeof *w);
}

void proto_wr_reset(proto_writer *w)
{
    w->len = 0;
    w->pkt = 0;
    w->err = 0;
    proto_wr_zeros(w, PROTO_HDR_LEN);
}

void proto_wr_bytes(proto_writer *w, const void *p, size_t n)
{
    if (n == 0 || wr_reserve(w, n) != 0)
        return;
    memcpy(w->data + w->len, p, n);
    w->len += n;
}

void proto_wr_zeros(proto_writer *w, size_t n)
{
    if (n == 0 || wr_reserve(w, n) != 0)
        return;
    memset(w->data + w->len, 0, n);
    w->len += n;
}

void proto_wr_u8(proto_writer *w, uint8_t v)
{
    proto_wr_bytes(w, &v, 1);
}

void proto_wr_u16(proto_writer *w, uint16_t v)
{
    uint8_t b[2];
    proto_put_u16(b, v);
    proto_wr_bytes(w, b, 2);
}

void proto_wr_u24(proto_writer *w, uint32_t v)
{
    uint8_t b[3];
    proto_put_u24(b, v);
    proto_wr_bytes(w, b, 3);
}

void proto_wr_u32(proto_writer *w, uint32_t v)
{
    uint8_t b[4];
    proto_put_u32(b, v);
    proto_wr_bytes(w, b, 4);
}

void proto_wr_u64(proto_writer *w, uint64_t v)
{
    proto_wr_u32(w, (uint32_t)v);
    proto_wr_u32(w, (uint32_t)(v >> 32));
}

void proto_wr_lenenc(proto_writer *w, uint64_t v)
{
    if (v < 251) {
        proto_wr_u8(w, (uint8_t)v);
    } else if (v <= 0xffff) {
        proto_wr_u8(w, 0xfc);
        proto_wr_u16(w, (uint16_t)v);
    } else if (v <= 0xffffff) {
        proto_wr_u8(w, 0xfd);
        proto_wr_u24(w, (uint32_t)v);
    } else {
        proto_wr_u8(w, 0xfe);
        proto_wr_u64(w, v);
    }
}

void proto_wr_lenenc_str(proto_writer *w, const void *p, size_t n)
{
    proto_wr_lenenc(w, n);
    proto_wr_bytes(w, p, n);
}

void proto_wr_cstr(proto_writer *w, const char *s)
{
    proto_wr_bytes(w, s, strlen(s) + 1);
}

int proto_wr_finish(proto_writer *w, uint8_t seq)
{
    if (w->err)
        return -1;
    size_t payload = w->len - w->pkt - PROTO_HDR_LEN;
    if (payload >= PROTO_MAX_PAYLOAD) {
        w->err = 1;
        return -1;
    }
    proto_hdr_write(w->data + w->pkt, (uint32_t)payload, seq);
    return 0;
}

void proto_wr_next(proto_writer *w)
{
    w->pkt = w->len;
    proto_wr_zeros(w, PROTO_HDR_LEN);
}
