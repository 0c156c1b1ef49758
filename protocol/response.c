/*
 * protocol/response.c — OK, ERR and EOF packets (decode and encode) and the iterator over
 * the session-state tracking block of an OK packet.
 */
#include "protocol/response.h"

#include <string.h>

#include "protocol/mysql_const.h"

#define EOF_MAX_PAYLOAD 9u /* a classic EOF payload is 5 bytes; rows starting 0xfe are >= 9 */

proto_status proto_ok_decode(const uint8_t *payload, size_t len, uint32_t caps, proto_ok *out)
{
    proto_reader r;
    memset(out, 0, sizeof *out);
    proto_rd_init(&r, payload, len);
    out->header = proto_rd_u8(&r);
    if (r.err || (out->header != PKT_OK && out->header != PKT_EOF))
        return PROTO_ERROR;
    out->affected_rows = proto_rd_lenenc(&r, NULL);
    out->last_insert_id = proto_rd_lenenc(&r, NULL);
    if (caps & CLIENT_PROTOCOL_41) {
        out->status_off = (size_t)(r.p - payload);
        out->status = proto_rd_u16(&r);
        out->warnings = proto_rd_u16(&r);
    }
    if (r.err)
        return PROTO_ERROR;
    if (proto_rd_left(&r) == 0)
        return PROTO_OK;
    /* servers write the info as a length-encoded string whatever the capabilities say */
    out->info = proto_rd_lenenc_str(&r, &out->info_len);
    if (caps & CLIENT_SESSION_TRACK) {
        if (!r.err && (out->status & SERVER_SESSION_STATE_CHANGED) && proto_rd_left(&r) > 0)
            out->track = proto_rd_lenenc_str(&r, &out->track_len);
    }
    return r.err ? PROTO_ERROR : PROTO_OK;
}

proto_status proto_err_decode(const uint8_t *payload, size_t len, proto_err *out)
{
    proto_reader r;
    memset(out, 0, sizeof *out);
    proto_rd_init(&r, payload, len);
    if (proto_rd_u8(&r) != PKT_ERR)
        return PROTO_ERROR;
    out->code = proto_rd_u16(&r);
    if (r.err || out->code == 0xffff)
        return PROTO_ERROR;
    memcpy(out->sqlstate, "HY000", 6);
    if (proto_rd_left(&r) >= 6 && r.p[0] == '#') {
        memcpy(out->sqlstate, r.p + 1, 5);
        out->sqlstate[5] = '\0';
        proto_rd_skip(&r, 6);
    }
    out->msg = proto_rd_rest(&r, &out->msg_len);
    return PROTO_OK;
}

proto_status proto_eof_decode(const uint8_t *payload, size_t len, proto_eof *out)
{
    memset(out, 0, sizeof *out);
    if (len < 1 || payload[0] != PKT_EOF || len >= EOF_MAX_PAYLOAD || (len > 1 && len < 5))
        return PROTO_ERROR;
    if (len >= 5) {
        out->warnings = proto_u16(payload + 1);
        out->status = proto_u16(payload + 3);
    }
    return PROTO_OK;
}

int proto_is_terminator(const uint8_t *payload, size_t len, uint32_t caps)
{
    if (len < 1 || payload[0] != PKT_EOF || len >= PROTO_MAX_PAYLOAD)
        return 0;
    if (caps & CLIENT_DEPRECATE_EOF)
        return 1;
    return len < EOF_MAX_PAYLOAD;
}

int proto_status_flags(const uint8_t *payload, size_t len, uint32_t caps)
{
    if (len < 1)
        return -1;
    if (payload[0] == PKT_EOF && len < EOF_MAX_PAYLOAD && !(caps & CLIENT_DEPRECATE_EOF)) {
        proto_eof e;
        return proto_eof_decode(payload, len, &e) == PROTO_OK && len >= 5 ? e.status : -1;
    }
    if (payload[0] == PKT_OK || payload[0] == PKT_EOF) {
        proto_ok ok;
        if (proto_ok_decode(payload, len, caps, &ok) == PROTO_OK)
            return ok.status;
        /* a captured prefix may be cut inside the info; read just the fixed part */
        proto_reader r;
        proto_rd_init(&r, payload, len);
        proto_rd_u8(&r);
        proto_rd_lenenc(&r, NULL);
        proto_rd_lenenc(&r, NULL);
        uint16_t st = proto_rd_u16(&r);
        return r.err ? -1 : st;
    }
    return -1;
}

int proto_ok_encode(proto_writer *w, uint8_t seq, uint64_t affected, uint64_t insert_id,
                    uint16_t status, uint16_t warnings, const char *info, uint32_t caps)
{
    size_t ilen = info ? strlen(info) : 0;
    proto_wr_u8(w, PKT_OK);
    proto_wr_lenenc(w, affected);
    proto_wr_lenenc(w, insert_id);
    proto_wr_u16(w, (uint16_t)(status & ~SERVER_SESSION_STATE_CHANGED));
    proto_wr_u16(w, warnings);
    if (caps & CLIENT_SESSION_TRACK) {
        if (ilen)
            proto_wr_lenenc_str(w, info, ilen);
    } else if (ilen) {
        proto_wr_lenenc_str(w, info, ilen);
    }
    return proto_wr_finish(w, seq);
}

int proto_err_encode(proto_writer *w, uint8_t seq, uint16_t code, const char *sqlstate,
                     const char *msg)
{
    proto_wr_u8(w, PKT_ERR);
    proto_wr_u16(w, code);
    proto_wr_u8(w, '#');
    char st[5] = {'H', 'Y', '0', '0', '0'};
    if (sqlstate && strlen(sqlstate) == 5)
        memcpy(st, sqlstate, 5);
    proto_wr_bytes(w, st, 5);
    size_t mlen = msg ? strlen(msg) : 0;
    if (mlen > 512)
        mlen = 512;
    proto_wr_bytes(w, msg, mlen);
    return proto_wr_finish(w, seq);
}

int proto_eof_encode(proto_writer *w, uint8_t seq, uint16_t warnings, uint16_t status)
{
    proto_wr_u8(w, PKT_EOF);
    proto_wr_u16(w, warnings);
    proto_wr_u16(w, status);
    return proto_wr_finish(w, seq);
}

void proto_track_begin(proto_track_iter *it, const uint8_t *block, size_t len)
{
    proto_rd_init(&it->r, block, len);
}

/* Decode the typed contents of one entry's data. */
static int track_decode_data(proto_track_entry *e)
{
    proto_reader r;
    proto_rd_init(&r, e->data, e->len);
    switch (e->type) {
    case SESSION_TRACK_SYSTEM_VARIABLES:
        e->name = proto_rd_lenenc_str(&r, &e->name_len);
        e->value = proto_rd_lenenc_str(&r, &e->value_len);
        break;
    case SESSION_TRACK_SCHEMA:
        e->name = proto_rd_lenenc_str(&r, &e->name_len);
        break;
    case SESSION_TRACK_GTIDS:
        proto_rd_u8(&r); /* encoding specification */
        e->value = proto_rd_lenenc_str(&r, &e->value_len);
        break;
    case SESSION_TRACK_STATE_CHANGE:
        e->value = e->data; /* MariaDB sends a bare "1", not a length-encoded string */
        e->value_len = e->len;
        break;
    case SESSION_TRACK_TRANSACTION_STATE:
    case SESSION_TRACK_TRANSACTION_CHARACTERISTICS:
        e->value = proto_rd_lenenc_str(&r, &e->value_len);
        break;
    default:
        break;
    }
    return r.err ? -1 : 0;
}

proto_status proto_track_next(proto_track_iter *it, proto_track_entry *e)
{
    memset(e, 0, sizeof *e);
    if (it->r.err)
        return PROTO_ERROR;
    if (proto_rd_left(&it->r) == 0)
        return PROTO_AGAIN;
    e->type = proto_rd_u8(&it->r);
    e->data = proto_rd_lenenc_str(&it->r, &e->len);
    if (it->r.err)
        return PROTO_ERROR;
    if (track_decode_data(e) != 0)
        return PROTO_ERROR;
    return PROTO_OK;
}
