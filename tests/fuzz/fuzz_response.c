/*
 * tests/fuzz/fuzz_response.c — the generic response packets a backend sends: proto_ok_decode
 * (including the 0xfe-header OK that ends a result set and its session-track block, walked with
 * proto_track_begin/next), proto_err_decode, proto_eof_decode, proto_is_terminator and
 * proto_status_flags, all run on every input under the capabilities the input chooses.
 * Checks: pointers inside the payload, status_off pointing at the status bytes, sqlstate
 * terminated, agreement between proto_status_flags and the decoders, and that an OK
 * re-encoded with proto_ok_encode decodes to the same numbers and info.
 * The raw payload is also walked as a session-track block, and every entry value is handed
 * to rwr_gtid_parse as proxy/session.c does with last_gtid.
 * Input: 4 bytes of negotiated capabilities (little-endian), then the payload.
 */
#include "fuzz_common.h"

#include "protocol/mysql_const.h"
#include "protocol/response.h"
#include "router/gtid.h"

static void walk_track(const uint8_t *block, size_t len)
{
    proto_track_iter it;
    proto_track_entry e;
    proto_status st;
    size_t n = 0;
    proto_track_begin(&it, block, len);
    while ((st = proto_track_next(&it, &e)) == PROTO_OK) {
        FUZZ_CHECK(fuzz_within(e.data, e.len, block, len));
        FUZZ_CHECK(fuzz_within(e.name, e.name_len, block, len));
        FUZZ_CHECK(fuzz_within(e.value, e.value_len, block, len));
        FUZZ_CHECK(++n <= len); /* every entry takes at least 2 bytes */
        /* what proxy/session.c does with a GTID (or last_gtid) entry */
        if (e.value && e.value_len) {
            rwr_gtid_pos pos;
            (void)rwr_gtid_parse((const char *)e.value, e.value_len, &pos);
        }
    }
    FUZZ_CHECK(st == PROTO_AGAIN || st == PROTO_ERROR);
}

static void check_ok(const uint8_t *pl, size_t len, uint32_t caps)
{
    proto_ok ok;
    if (proto_ok_decode(pl, len, caps, &ok) != PROTO_OK)
        return;
    FUZZ_CHECK(len >= 1 && (ok.header == PKT_OK || ok.header == PKT_EOF) && ok.header == pl[0]);
    if (caps & CLIENT_PROTOCOL_41) {
        FUZZ_CHECK(ok.status_off + 4 <= len);
        FUZZ_CHECK(proto_u16(pl + ok.status_off) == ok.status);
        FUZZ_CHECK(proto_u16(pl + ok.status_off + 2) == ok.warnings);
    }
    FUZZ_CHECK(fuzz_within(ok.info, ok.info_len, pl, len));
    if (ok.track) {
        FUZZ_CHECK(caps & CLIENT_SESSION_TRACK);
        FUZZ_CHECK(ok.status & SERVER_SESSION_STATE_CHANGED);
        FUZZ_CHECK(fuzz_within(ok.track, ok.track_len, pl, len));
        walk_track(ok.track, ok.track_len);
    }
    /* proto_status_flags must agree with a successful decode of an OK-shaped packet */
    int sf = proto_status_flags(pl, len, caps);
    int eof_shaped = pl[0] == PKT_EOF && len < 9 && !(caps & CLIENT_DEPRECATE_EOF);
    if (!eof_shaped && (caps & CLIENT_PROTOCOL_41))
        FUZZ_CHECK(sf == ok.status);

    /* round trip of the numbers and the info (our encoder never writes a track block) */
    if (!(caps & CLIENT_PROTOCOL_41) || ok.header != PKT_OK)
        return;
    char *info = fuzz_strndup(ok.info ? ok.info : (const uint8_t *)"", ok.info_len);
    if (strlen(info) == ok.info_len) {
        proto_writer w;
        proto_wr_init(&w);
        FUZZ_CHECK(proto_ok_encode(&w, 1, ok.affected_rows, ok.last_insert_id, ok.status,
                                   ok.warnings, info, caps) == 0);
        proto_ok o2;
        size_t n = w.len - PROTO_HDR_LEN;
        FUZZ_CHECK(proto_ok_decode(w.data + PROTO_HDR_LEN, n, caps, &o2) == PROTO_OK);
        FUZZ_CHECK(o2.affected_rows == ok.affected_rows && o2.last_insert_id == ok.last_insert_id);
        FUZZ_CHECK(o2.status == (ok.status & ~SERVER_SESSION_STATE_CHANGED));
        FUZZ_CHECK(o2.warnings == ok.warnings);
        FUZZ_CHECK(o2.info_len == ok.info_len && (ok.info_len == 0 || memcmp(o2.info, ok.info, ok.info_len) == 0));
        FUZZ_CHECK(o2.track == NULL);
        proto_wr_free(&w);
    }
    free(info);
}

static void check_err(const uint8_t *pl, size_t len)
{
    proto_err e;
    if (proto_err_decode(pl, len, &e) != PROTO_OK)
        return;
    FUZZ_CHECK(len >= 3 && pl[0] == PKT_ERR && e.code != 0xffff);
    FUZZ_CHECK(e.sqlstate[5] == '\0');
    FUZZ_CHECK(fuzz_within(e.msg, e.msg_len, pl, len));
    /* re-encode (bounded message, no NULs) and decode again */
    char *msg = fuzz_strndup(e.msg ? e.msg : (const uint8_t *)"", e.msg_len);
    if (strlen(msg) == e.msg_len && e.msg_len <= 512 && strlen(e.sqlstate) == 5) {
        proto_writer w;
        proto_wr_init(&w);
        FUZZ_CHECK(proto_err_encode(&w, 1, e.code, e.sqlstate, msg) == 0);
        proto_err e2;
        FUZZ_CHECK(proto_err_decode(w.data + PROTO_HDR_LEN, w.len - PROTO_HDR_LEN, &e2) == PROTO_OK);
        FUZZ_CHECK(e2.code == e.code && strcmp(e2.sqlstate, e.sqlstate) == 0);
        FUZZ_CHECK(e2.msg_len == e.msg_len && (e.msg_len == 0 || memcmp(e2.msg, e.msg, e.msg_len) == 0));
        proto_wr_free(&w);
    }
    free(msg);
}

static void check_eof(const uint8_t *pl, size_t len, uint32_t caps)
{
    proto_eof e;
    int term = proto_is_terminator(pl, len, caps);
    FUZZ_CHECK(term == 0 || term == 1);
    if (term)
        FUZZ_CHECK(pl[0] == PKT_EOF);
    if (proto_eof_decode(pl, len, &e) != PROTO_OK)
        return;
    FUZZ_CHECK(len >= 1 && len < 9 && pl[0] == PKT_EOF);
    FUZZ_CHECK(proto_is_terminator(pl, len, caps) == 1);
    if (len >= 5 && !(caps & CLIENT_DEPRECATE_EOF))
        FUZZ_CHECK(proto_status_flags(pl, len, caps) == e.status);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    uint32_t caps;
    size_t len;
    uint8_t *pl = fuzz_caps_and_payload(data, size, &caps, &len);
    if (!pl)
        return 0;
    check_ok(pl, len, caps);
    check_err(pl, len);
    check_eof(pl, len, caps);
    int sf = proto_status_flags(pl, len, caps);
    FUZZ_CHECK(sf >= -1 && sf <= 0xffff);
    /* a session-track block straight from the input, as proxy/session.c walks it */
    walk_track(pl, len);
    free(pl);
    return 0;
}
