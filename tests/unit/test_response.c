/*
 * tests/unit/test_response.c — cmocka tests for protocol/response.{h,c}: OK, ERR and EOF
 * decoding (real MariaDB 10.11 packets captured with and without CLIENT_DEPRECATE_EOF and
 * CLIENT_SESSION_TRACK), session-track entries (system variables, schema, GTIDs, state
 * change, transaction state), encode -> decode round trips, result-set terminator detection
 * (a 0xfe-starting big row is not an EOF) and status-flag extraction.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/response.h"
#include "protocol/mysql_const.h"

/* A payload decoded from hex into a heap block of exactly its size (header stripped when
 * the hex is a whole packet). */
typedef struct {
    uint8_t *p;  /* payload */
    size_t len;  /* payload length */
    uint8_t seq; /* sequence id of the packet */
} payload;

static payload pkt_from_hex(const char *hex)
{
    size_t n = strlen(hex) / 2;
    uint8_t *all = malloc(n);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        all[i] = (uint8_t)v;
    }
    assert_true(n >= 4);
    assert_int_equal(proto_u24(all), n - 4);
    payload out;
    out.len = n - 4;
    out.seq = all[3];
    out.p = malloc(out.len ? out.len : 1);
    memcpy(out.p, all + 4, out.len);
    free(all);
    return out;
}

static int mem_is(const uint8_t *p, size_t len, const char *s)
{
    return len == strlen(s) && (len == 0 || memcmp(p, s, len) == 0);
}

#define CAPS_OLD   (CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS | CLIENT_MULTI_RESULTS)
#define CAPS_TRACK (CAPS_OLD | CLIENT_SESSION_TRACK | CLIENT_DEPRECATE_EOF)

/* ---- real packets from MariaDB 10.11.19 ---- */
/* UPDATE answer, client without SESSION_TRACK */
#define OK_UPDATE "300000010000000200000028526f7773206d6174636865643a203120204368616e6765643a2030" \
                  "20205761726e696e67733a2030"
/* INSERT of 3 rows */
#define OK_INSERT "2e00000100030002000000265265636f7264733a203320204475706c6963617465733a20302020" \
                  "5761726e696e67733a2030"
/* COM_PING */
#define OK_PING "0700000100000002000000"
/* SET time_zone with session_track_system_variables='autocommit,time_zone' and
 * session_track_state_change=1 */
#define OK_TRACK_TZ "1f00000100000002400000001600110974696d655f7a6f6e65062b30313a3030020131"
/* USE mysql with session_track_schema=1 */
#define OK_TRACK_USE "1400000100000002400000000b0106056d7973716c020131"
/* SET session_track_... itself: only the state-change entry */
#define OK_TRACK_STATE "0c000001000000024000000003020131"
/* login OK to a client asking for db test (schema tracked by default) */
#define OK_LOGIN_SCHEMA "1000000200000002400000000701050474657374"
/* Connector/J's first SET: autocommit tracked */
#define OK_JDBC_AUTOCOMMIT "19000001000000024000000010000e0a6175746f636f6d6d6974024f4e"
/* LOAD DATA LOCAL INFILE result */
#define OK_INFILE "37000004000200020000002f5265636f7264733a2032202044656c657465643a20302020536b6970" \
                  "7065643a203020205761726e696e67733a2030"
/* SELECT from a missing table */
#define ERR_NO_TABLE "2f000001ff7a042334325330325461626c652027746573742e6e6f6e6578697374656e7427" \
                     "20646f65736e2774206578697374"
/* classic EOF after rows (status AUTOCOMMIT | NO_INDEX_USED) */
#define EOF_ROWS "05000004fe00002200"
/* DEPRECATE_EOF terminator after rows */
#define TERM_ROWS "07000007fe000022000000"
/* EOF with SERVER_MORE_RESULTS_EXISTS (CALL) */
#define EOF_MORE "05000005fe00000a00"

/* ================= OK ================= */

static void test_ok_real_no_track(void **state)
{
    (void)state;
    payload pl = pkt_from_hex(OK_UPDATE);
    proto_ok ok;
    memset(&ok, 0x5a, sizeof ok);
    assert_int_equal(proto_ok_decode(pl.p, pl.len, CAPS_OLD, &ok), PROTO_OK);
    assert_int_equal(ok.header, 0);
    assert_true(ok.affected_rows == 0);
    assert_true(ok.last_insert_id == 0);
    assert_int_equal(ok.status, SERVER_STATUS_AUTOCOMMIT);
    assert_int_equal(ok.status_off, 3);
    assert_int_equal(ok.warnings, 0);
    assert_null(ok.track);
    assert_int_equal(ok.track_len, 0);
    /* real servers write the info as a length-encoded string even without SESSION_TRACK
     * (the 0x28 byte before the text above), and libmariadb reads it so */
    assert_true(mem_is(ok.info, ok.info_len, "Rows matched: 1  Changed: 0  Warnings: 0"));
    free(pl.p);

    pl = pkt_from_hex(OK_INSERT);
    assert_int_equal(proto_ok_decode(pl.p, pl.len, CAPS_OLD, &ok), PROTO_OK);
    assert_true(ok.affected_rows == 3);
    assert_int_equal(ok.status, SERVER_STATUS_AUTOCOMMIT);
    assert_true(mem_is(ok.info, ok.info_len, "Records: 3  Duplicates: 0  Warnings: 0"));
    free(pl.p);

    pl = pkt_from_hex(OK_PING);
    assert_int_equal(proto_ok_decode(pl.p, pl.len, CAPS_OLD, &ok), PROTO_OK);
    assert_int_equal(ok.status, SERVER_STATUS_AUTOCOMMIT);
    assert_int_equal(ok.info_len, 0);
    /* the same packet under SESSION_TRACK (nothing after the warnings) */
    assert_int_equal(proto_ok_decode(pl.p, pl.len, CAPS_TRACK, &ok), PROTO_OK);
    assert_int_equal(ok.info_len, 0);
    assert_null(ok.track);
    free(pl.p);

    pl = pkt_from_hex(OK_INFILE);
    assert_int_equal(proto_ok_decode(pl.p, pl.len, CAPS_TRACK, &ok), PROTO_OK);
    assert_true(ok.affected_rows == 2);
    assert_true(mem_is(ok.info, ok.info_len, "Records: 2  Deleted: 0  Skipped: 0  Warnings: 0"));
    assert_null(ok.track);
    free(pl.p);
}

static void test_ok_real_track_sysvar(void **state)
{
    (void)state;
    payload pl = pkt_from_hex(OK_TRACK_TZ);
    proto_ok ok;
    assert_int_equal(proto_ok_decode(pl.p, pl.len, CAPS_TRACK, &ok), PROTO_OK);
    assert_int_equal(ok.header, 0);
    assert_int_equal(ok.status, SERVER_STATUS_AUTOCOMMIT | SERVER_SESSION_STATE_CHANGED);
    assert_int_equal(ok.status_off, 3);
    assert_int_equal(ok.info_len, 0);
    assert_non_null(ok.track);
    assert_int_equal(ok.track_len, 22);
    assert_true(ok.track >= pl.p && ok.track + ok.track_len == pl.p + pl.len);

    proto_track_iter it;
    proto_track_entry e;
    proto_track_begin(&it, ok.track, ok.track_len);
    assert_int_equal(proto_track_next(&it, &e), PROTO_OK);
    assert_int_equal(e.type, SESSION_TRACK_SYSTEM_VARIABLES);
    assert_int_equal(e.len, 17);
    assert_true(mem_is(e.name, e.name_len, "time_zone"));
    assert_true(mem_is(e.value, e.value_len, "+01:00"));
    assert_int_equal(proto_track_next(&it, &e), PROTO_OK);
    /* MariaDB/MySQL write the state-change entry as length 1, then '1' itself (no inner
     * length byte): the bytes above are "02 01 31" */
    assert_int_equal(e.type, SESSION_TRACK_STATE_CHANGE);
    assert_int_equal(e.len, 1);
    assert_int_equal(e.data[0], '1');
    assert_true(mem_is(e.value, e.value_len, "1"));
    assert_int_equal(proto_track_next(&it, &e), PROTO_AGAIN);
    assert_int_equal(proto_track_next(&it, &e), PROTO_AGAIN);
    free(pl.p);

    pl = pkt_from_hex(OK_JDBC_AUTOCOMMIT);
    assert_int_equal(proto_ok_decode(pl.p, pl.len, CAPS_TRACK, &ok), PROTO_OK);
    proto_track_begin(&it, ok.track, ok.track_len);
    assert_int_equal(proto_track_next(&it, &e), PROTO_OK);
    assert_int_equal(e.type, SESSION_TRACK_SYSTEM_VARIABLES);
    assert_true(mem_is(e.name, e.name_len, "autocommit"));
    assert_true(mem_is(e.value, e.value_len, "ON"));
    assert_int_equal(proto_track_next(&it, &e), PROTO_AGAIN);
    free(pl.p);
}

static void test_ok_real_track_schema(void **state)
{
    (void)state;
    const char *hex[] = {OK_TRACK_USE, OK_LOGIN_SCHEMA};
    const char *schema[] = {"mysql", "test"};
    for (int i = 0; i < 2; i++) {
        payload pl = pkt_from_hex(hex[i]);
        proto_ok ok;
        assert_int_equal(proto_ok_decode(pl.p, pl.len, CAPS_TRACK, &ok), PROTO_OK);
        assert_true(ok.status & SERVER_SESSION_STATE_CHANGED);
        proto_track_iter it;
        proto_track_entry e;
        proto_track_begin(&it, ok.track, ok.track_len);
        assert_int_equal(proto_track_next(&it, &e), PROTO_OK);
        assert_int_equal(e.type, SESSION_TRACK_SCHEMA);
        assert_true(mem_is(e.name, e.name_len, schema[i]));
        if (i == 0) {
            assert_int_equal(proto_track_next(&it, &e), PROTO_OK);
            assert_int_equal(e.type, SESSION_TRACK_STATE_CHANGE);
        }
        assert_int_equal(proto_track_next(&it, &e), PROTO_AGAIN);
        free(pl.p);
    }
    payload pl = pkt_from_hex(OK_TRACK_STATE);
    proto_ok ok;
    assert_int_equal(proto_ok_decode(pl.p, pl.len, CAPS_TRACK, &ok), PROTO_OK);
    assert_int_equal(ok.track_len, 3);
    proto_track_iter it;
    proto_track_entry e;
    proto_track_begin(&it, ok.track, ok.track_len);
    assert_int_equal(proto_track_next(&it, &e), PROTO_OK);
    assert_int_equal(e.type, SESSION_TRACK_STATE_CHANGE);
    assert_int_equal(e.len, 1);
    assert_true(mem_is(e.value, e.value_len, "1"));
    assert_int_equal(proto_track_next(&it, &e), PROTO_AGAIN);
    free(pl.p);
}

/* Builds a session-track block with every entry type (MySQL documentation layouts). */
static void build_track_block(proto_writer *w)
{
    proto_writer d;
    /* system variable: lenenc name, lenenc value */
    proto_wr_u8(w, SESSION_TRACK_SYSTEM_VARIABLES);
    proto_wr_init(&d);
    proto_wr_lenenc_str(&d, "last_gtid", 9);
    proto_wr_lenenc_str(&d, "0-1-42", 6);
    proto_wr_lenenc_str(w, d.data + 4, d.len - 4);
    proto_wr_free(&d);
    /* schema: lenenc name */
    proto_wr_u8(w, SESSION_TRACK_SCHEMA);
    proto_wr_lenenc(w, 5);
    proto_wr_lenenc_str(w, "shop", 4);
    /* gtids: encoding-specification byte, lenenc gtid set */
    proto_wr_u8(w, SESSION_TRACK_GTIDS);
    proto_wr_lenenc(w, 1 + 1 + 38);
    proto_wr_u8(w, 0);
    proto_wr_lenenc_str(w, "3e11fa47-71ca-11e1-9e33-c80aa9429562:5", 38);
    /* transaction state: lenenc 8-character string */
    proto_wr_u8(w, SESSION_TRACK_TRANSACTION_STATE);
    proto_wr_lenenc(w, 9);
    proto_wr_lenenc_str(w, "T_______", 8);
    /* state change: entry length 1, then '1' (as servers send it: 02 01 31) */
    proto_wr_u8(w, SESSION_TRACK_STATE_CHANGE);
    proto_wr_lenenc(w, 1);
    proto_wr_u8(w, '1');
    /* transaction characteristics: left undecoded */
    proto_wr_u8(w, SESSION_TRACK_TRANSACTION_CHARACTERISTICS);
    proto_wr_lenenc(w, 19);
    proto_wr_lenenc_str(w, "START TRANSACTION;", 18);
    /* an unknown future type with arbitrary data */
    proto_wr_u8(w, 0x42);
    proto_wr_lenenc(w, 3);
    proto_wr_bytes(w, "\x01\x02\x03", 3);
}

static void check_track_block(const uint8_t *block, size_t len)
{
    proto_track_iter it;
    proto_track_entry e;
    proto_track_begin(&it, block, len);

    assert_int_equal(proto_track_next(&it, &e), PROTO_OK);
    assert_int_equal(e.type, SESSION_TRACK_SYSTEM_VARIABLES);
    assert_int_equal(e.len, 17);
    assert_true(mem_is(e.name, e.name_len, "last_gtid"));
    assert_true(mem_is(e.value, e.value_len, "0-1-42"));

    assert_int_equal(proto_track_next(&it, &e), PROTO_OK);
    assert_int_equal(e.type, SESSION_TRACK_SCHEMA);
    assert_int_equal(e.len, 5);
    assert_true(mem_is(e.name, e.name_len, "shop"));

    assert_int_equal(proto_track_next(&it, &e), PROTO_OK);
    assert_int_equal(e.type, SESSION_TRACK_GTIDS);
    assert_int_equal(e.len, 40);
    assert_true(mem_is(e.value, e.value_len, "3e11fa47-71ca-11e1-9e33-c80aa9429562:5"));

    assert_int_equal(proto_track_next(&it, &e), PROTO_OK);
    assert_int_equal(e.type, SESSION_TRACK_TRANSACTION_STATE);
    assert_true(mem_is(e.value, e.value_len, "T_______"));

    assert_int_equal(proto_track_next(&it, &e), PROTO_OK);
    assert_int_equal(e.type, SESSION_TRACK_STATE_CHANGE);
    assert_int_equal(e.len, 1);
    assert_true(mem_is(e.value, e.value_len, "1"));

    assert_int_equal(proto_track_next(&it, &e), PROTO_OK);
    assert_int_equal(e.type, SESSION_TRACK_TRANSACTION_CHARACTERISTICS);
    assert_int_equal(e.len, 19);
    assert_int_equal(e.data[0], 18);
    assert_memory_equal(e.data + 1, "START TRANSACTION;", 18);

    assert_int_equal(proto_track_next(&it, &e), PROTO_OK);
    assert_int_equal(e.type, 0x42);
    assert_int_equal(e.len, 3);
    assert_memory_equal(e.data, "\x01\x02\x03", 3);
    assert_int_equal(e.name_len, 0);
    assert_int_equal(e.value_len, 0);

    assert_int_equal(proto_track_next(&it, &e), PROTO_AGAIN);
}

static void test_track_all_types(void **state)
{
    (void)state;
    /* an OK packet carrying the block */
    proto_writer b;
    proto_wr_init(&b);
    build_track_block(&b);
    size_t blen = b.len - 4;

    proto_writer w;
    proto_wr_init(&w);
    proto_wr_u8(&w, 0);
    proto_wr_lenenc(&w, 1);
    proto_wr_lenenc(&w, 0x10000);
    proto_wr_u16(&w, SERVER_STATUS_IN_TRANS | SERVER_SESSION_STATE_CHANGED);
    proto_wr_u16(&w, 1);
    proto_wr_lenenc_str(&w, "info!", 5);
    proto_wr_lenenc_str(&w, b.data + 4, blen);
    assert_int_equal(proto_wr_finish(&w, 1), 0);

    proto_ok ok;
    assert_int_equal(proto_ok_decode(w.data + 4, w.len - 4, CAPS_TRACK, &ok), PROTO_OK);
    assert_true(ok.affected_rows == 1);
    assert_true(ok.last_insert_id == 0x10000);
    assert_int_equal(ok.status_off, 1 + 1 + 4);
    assert_int_equal(ok.status, SERVER_STATUS_IN_TRANS | SERVER_SESSION_STATE_CHANGED);
    assert_int_equal(ok.warnings, 1);
    assert_true(mem_is(ok.info, ok.info_len, "info!"));
    assert_int_equal(ok.track_len, blen);
    check_track_block(ok.track, ok.track_len);
    proto_wr_free(&w);

    /* the same block iterated directly */
    check_track_block(b.data + 4, blen);
    proto_wr_free(&b);
}

static void test_track_malformed(void **state)
{
    (void)state;
    proto_track_iter it;
    proto_track_entry e;
    /* empty block: at the end at once */
    proto_track_begin(&it, (const uint8_t *)"", 0);
    assert_int_equal(proto_track_next(&it, &e), PROTO_AGAIN);
    /* entry length runs past the block */
    const uint8_t a[] = {0x01, 0x05, 0x03, 'a', 'b'};
    proto_track_begin(&it, a, sizeof a);
    assert_int_equal(proto_track_next(&it, &e), PROTO_ERROR);
    /* type byte only */
    const uint8_t b[] = {0x00};
    proto_track_begin(&it, b, sizeof b);
    assert_int_equal(proto_track_next(&it, &e), PROTO_ERROR);
    /* system variable whose value length runs past the entry (but not the block) */
    const uint8_t c[] = {0x00, 0x04, 0x01, 'x', 0x09, 'y', 0x02, 0x01, '1'};
    proto_track_begin(&it, c, sizeof c);
    assert_int_equal(proto_track_next(&it, &e), PROTO_ERROR);
    /* schema whose name length runs past the entry */
    const uint8_t d[] = {0x01, 0x02, 0x05, 'a', 0x02, 0x01, '1'};
    proto_track_begin(&it, d, sizeof d);
    assert_int_equal(proto_track_next(&it, &e), PROTO_ERROR);
    /* a good entry then a bad one */
    const uint8_t f[] = {0x02, 0x01, '1', 0x01, 0x7f, 0x00};
    proto_track_begin(&it, f, sizeof f);
    assert_int_equal(proto_track_next(&it, &e), PROTO_OK);
    assert_int_equal(proto_track_next(&it, &e), PROTO_ERROR);
    /* every truncation of a good block: never OK past the cut, never crashes */
    proto_writer w;
    proto_wr_init(&w);
    build_track_block(&w);
    size_t blen = w.len - 4;
    for (size_t cut = 0; cut < blen; cut++) {
        uint8_t *cp = malloc(cut ? cut : 1);
        memcpy(cp, w.data + 4, cut);
        proto_track_begin(&it, cp, cut);
        proto_status st;
        int guard = 0;
        while ((st = proto_track_next(&it, &e)) == PROTO_OK) {
            assert_true(e.data >= cp && e.data + e.len <= cp + cut);
            assert_true(++guard < 100);
        }
        /* the truncated block ends in the middle of an entry, or exactly between two */
        (void)st;
        free(cp);
    }
    proto_wr_free(&w);
}

static void test_ok_malformed(void **state)
{
    (void)state;
    proto_ok ok;
    /* every truncation of a full OK with a track block is an error (or a shorter valid OK
     * only where the remaining fields are optional) */
    payload pl = pkt_from_hex(OK_TRACK_TZ);
    for (size_t cut = 0; cut < pl.len; cut++) {
        uint8_t *c = malloc(cut ? cut : 1);
        memcpy(c, pl.p, cut);
        proto_status st = proto_ok_decode(c, cut, CAPS_TRACK, &ok);
        if (cut < 7 || cut > 8) /* before warnings end, or inside the announced track block */
            assert_int_not_equal(st, PROTO_OK);
        free(c);
    }
    free(pl.p);
    /* not an OK packet */
    const uint8_t err[] = {0xff, 0x15, 0x04, '#', '2', '8', '0', '0', '0', 'x'};
    assert_int_not_equal(proto_ok_decode(err, sizeof err, CAPS_TRACK, &ok), PROTO_OK);
    /* info length past the end */
    const uint8_t bad_info[] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x10, 'a'};
    assert_int_not_equal(proto_ok_decode(bad_info, sizeof bad_info, CAPS_TRACK, &ok), PROTO_OK);
    /* track block length past the end */
    const uint8_t bad_track[] = {0x00, 0x00, 0x00, 0x02, 0x40, 0x00, 0x00, 0x00, 0x20, 0x01};
    assert_int_not_equal(proto_ok_decode(bad_track, sizeof bad_track, CAPS_TRACK, &ok), PROTO_OK);
    /* 0xff as an affected-rows lenenc */
    const uint8_t bad_len[] = {0x00, 0xff, 0x00, 0x02, 0x00, 0x00, 0x00};
    assert_int_not_equal(proto_ok_decode(bad_len, sizeof bad_len, CAPS_OLD, &ok), PROTO_OK);
}

/* 0xfe-headed OK that ends a result set under DEPRECATE_EOF */
static void test_ok_fe_header(void **state)
{
    (void)state;
    payload pl = pkt_from_hex(TERM_ROWS);
    proto_ok ok;
    assert_int_equal(proto_ok_decode(pl.p, pl.len, CAPS_TRACK, &ok), PROTO_OK);
    assert_int_equal(ok.header, 0xfe);
    assert_int_equal(ok.status, 0x22);
    assert_int_equal(ok.status_off, 3);
    free(pl.p);
}

static void test_ok_encode_roundtrip(void **state)
{
    (void)state;
    const uint32_t caps_list[] = {CAPS_OLD, CAPS_TRACK};
    const char *infos[] = {"", "hello", "Rows matched: 1  Changed: 1  Warnings: 0"};
    const uint64_t aff[] = {0, 250, 251, 0x10000, 0x1000000, UINT64_MAX - 1};
    for (size_t c = 0; c < 2; c++) {
        for (size_t i = 0; i < 3; i++) {
            for (size_t a = 0; a < 6; a++) {
                proto_writer w;
                proto_wr_init(&w);
                assert_int_equal(proto_ok_encode(&w, 3, aff[a], aff[5 - a], 0x0023, 7, infos[i],
                                                 caps_list[c]),
                                 0);
                assert_int_equal(proto_u24(w.data), w.len - 4);
                assert_int_equal(w.data[3], 3);
                assert_int_equal(w.data[4], 0x00);
                proto_ok ok;
                assert_int_equal(proto_ok_decode(w.data + 4, w.len - 4, caps_list[c], &ok),
                                 PROTO_OK);
                assert_true(ok.affected_rows == aff[a]);
                assert_true(ok.last_insert_id == aff[5 - a]);
                assert_int_equal(ok.status, 0x0023);
                assert_int_equal(ok.warnings, 7);
                assert_int_equal(proto_u16(w.data + 4 + ok.status_off), 0x0023);
                assert_true(mem_is(ok.info, ok.info_len, infos[i]));
                assert_null(ok.track);
                assert_int_equal(proto_status_flags(w.data + 4, w.len - 4, caps_list[c]), 0x0023);
                proto_wr_free(&w);
            }
        }
    }
}

/* The simplest OK is what a real server sends for COM_PING. */
static void test_ok_encode_bytes(void **state)
{
    (void)state;
    proto_writer w;
    proto_wr_init(&w);
    assert_int_equal(proto_ok_encode(&w, 1, 0, 0, SERVER_STATUS_AUTOCOMMIT, 0, "", CAPS_TRACK), 0);
    assert_true(w.len == 11 || (w.len == 12 && w.data[11] == 0));
    assert_memory_equal(w.data + 4, "\x00\x00\x00\x02\x00\x00\x00", 7);
    assert_int_equal(w.data[0], w.len - 4);
    proto_wr_free(&w);

    /* the info is length-encoded with or without SESSION_TRACK, as servers write it */
    const uint32_t caps_list[] = {CAPS_OLD, CAPS_TRACK};
    for (int c = 0; c < 2; c++) {
        proto_wr_init(&w);
        assert_int_equal(proto_ok_encode(&w, 1, 1, 0, SERVER_STATUS_AUTOCOMMIT, 0, "hello",
                                         caps_list[c]),
                         0);
        assert_int_equal(w.len, 4 + 7 + 6);
        assert_memory_equal(w.data + 4, "\x00\x01\x00\x02\x00\x00\x00\x05hello", 13);
        proto_wr_free(&w);
    }
}

/* ================= ERR ================= */

static void test_err_real(void **state)
{
    (void)state;
    payload pl = pkt_from_hex(ERR_NO_TABLE);
    proto_err e;
    memset(&e, 0x5a, sizeof e);
    assert_int_equal(proto_err_decode(pl.p, pl.len, &e), PROTO_OK);
    assert_int_equal(e.code, 1146);
    assert_string_equal(e.sqlstate, "42S02");
    assert_true(mem_is(e.msg, e.msg_len, "Table 'test.nonexistent' doesn't exist"));
    free(pl.p);
}

static void test_err_without_sqlstate(void **state)
{
    (void)state;
    /* what a server sends before it knows the client speaks 4.1 (e.g. host blocked) */
    const char *msg = "Host '10.1.2.3' is not allowed to connect to this MariaDB server";
    uint8_t buf[128];
    buf[0] = 0xff;
    proto_put_u16(buf + 1, 1130);
    memcpy(buf + 3, msg, strlen(msg));
    size_t len = 3 + strlen(msg);
    proto_err e;
    assert_int_equal(proto_err_decode(buf, len, &e), PROTO_OK);
    assert_int_equal(e.code, 1130);
    assert_string_equal(e.sqlstate, "HY000");
    assert_true(mem_is(e.msg, e.msg_len, msg));
    /* no message at all */
    assert_int_equal(proto_err_decode(buf, 3, &e), PROTO_OK);
    assert_int_equal(e.code, 1130);
    assert_string_equal(e.sqlstate, "HY000");
    assert_int_equal(e.msg_len, 0);
    /* '#' + sqlstate and an empty message */
    memcpy(buf + 3, "#08S01", 6);
    assert_int_equal(proto_err_decode(buf, 9, &e), PROTO_OK);
    assert_string_equal(e.sqlstate, "08S01");
    assert_int_equal(e.msg_len, 0);
}

static void test_err_bad(void **state)
{
    (void)state;
    proto_err e;
    /* progress report packet */
    const uint8_t prog[] = {0xff, 0xff, 0xff, 0x01, 0x01, 0x02, 0x10, 0x27, 0x00, 0x04, 's', 't',
                            'a', 'g'};
    assert_int_equal(proto_err_decode(prog, sizeof prog, &e), PROTO_ERROR);
    /* truncated */
    const uint8_t t1[] = {0xff};
    const uint8_t t2[] = {0xff, 0x7a};
    assert_int_not_equal(proto_err_decode(t1, 1, &e), PROTO_OK);
    assert_int_not_equal(proto_err_decode(t2, 2, &e), PROTO_OK);
    assert_int_not_equal(proto_err_decode(t2, 0, &e), PROTO_OK);
    /* '#' with a short sqlstate: refused, or read as a plain message; never over-read */
    const uint8_t t3[] = {0xff, 0x7a, 0x04, '#', '4', '2'};
    uint8_t *c = malloc(sizeof t3);
    memcpy(c, t3, sizeof t3);
    if (proto_err_decode(c, sizeof t3, &e) == PROTO_OK) {
        assert_int_equal(e.code, 1146);
        assert_true(e.msg + e.msg_len <= c + sizeof t3);
    }
    free(c);
    /* not an ERR */
    const uint8_t ok[] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00};
    assert_int_not_equal(proto_err_decode(ok, sizeof ok, &e), PROTO_OK);
}

static void test_err_encode(void **state)
{
    (void)state;
    proto_writer w;
    proto_wr_init(&w);
    assert_int_equal(proto_err_encode(&w, 2, ER_ACCESS_DENIED_ERROR, "28000",
                                      "Access denied for user 'app'@'127.0.0.1' (using password: YES)"),
                     0);
    const char *msg = "Access denied for user 'app'@'127.0.0.1' (using password: YES)";
    size_t plen = 1 + 2 + 6 + strlen(msg);
    assert_int_equal(w.len, 4 + plen);
    assert_int_equal(proto_u24(w.data), plen);
    assert_int_equal(w.data[3], 2);
    assert_memory_equal(w.data + 4, "\xff\x15\x04#28000", 9);
    assert_memory_equal(w.data + 13, msg, strlen(msg));
    proto_err e;
    assert_int_equal(proto_err_decode(w.data + 4, plen, &e), PROTO_OK);
    assert_int_equal(e.code, 1045);
    assert_string_equal(e.sqlstate, "28000");
    assert_true(mem_is(e.msg, e.msg_len, msg));
    proto_wr_free(&w);

    proto_wr_init(&w);
    assert_int_equal(proto_err_encode(&w, 1, ER_OPTION_PREVENTS_STATEMENT, "HY000", ""), 0);
    assert_int_equal(w.len, 4 + 9);
    assert_memory_equal(w.data + 4, "\xff\x0a\x05#HY000", 9);
    proto_wr_free(&w);
}

/* ================= EOF ================= */

static void test_eof(void **state)
{
    (void)state;
    payload pl = pkt_from_hex(EOF_ROWS);
    proto_eof e;
    assert_int_equal(proto_eof_decode(pl.p, pl.len, &e), PROTO_OK);
    assert_int_equal(e.warnings, 0);
    assert_int_equal(e.status, 0x22);
    free(pl.p);
    pl = pkt_from_hex(EOF_MORE);
    assert_int_equal(proto_eof_decode(pl.p, pl.len, &e), PROTO_OK);
    assert_int_equal(e.status, SERVER_MORE_RESULTS_EXISTS | SERVER_STATUS_AUTOCOMMIT);
    for (size_t cut = 0; cut < pl.len; cut++) {
        uint8_t *c = malloc(cut ? cut : 1);
        memcpy(c, pl.p, cut);
        /* a lone 0xfe is a pre-4.1 EOF; 2..4 bytes is a broken one */
        if (cut == 0 || (cut >= 2 && cut < 5))
            assert_int_not_equal(proto_eof_decode(c, cut, &e), PROTO_OK);
        free(c);
    }
    free(pl.p);
    const uint8_t notfe[] = {0x00, 0x00, 0x00, 0x02, 0x00};
    assert_int_not_equal(proto_eof_decode(notfe, sizeof notfe, &e), PROTO_OK);

    proto_writer w;
    proto_wr_init(&w);
    assert_int_equal(proto_eof_encode(&w, 5, 3, 0x000a), 0);
    assert_int_equal(w.len, 9);
    assert_memory_equal(w.data, "\x05\x00\x00\x05\xfe\x03\x00\x0a\x00", 9);
    assert_int_equal(proto_eof_decode(w.data + 4, 5, &e), PROTO_OK);
    assert_int_equal(e.warnings, 3);
    assert_int_equal(e.status, 0x000a);
    proto_wr_free(&w);
}

/* ================= terminators and status flags ================= */

static void test_is_terminator(void **state)
{
    (void)state;
    const uint32_t eof = CAPS_OLD, deof = CAPS_TRACK;
    uint8_t *big = calloc(PROTO_MAX_PAYLOAD, 1);
    big[0] = 0xfe;
    /* classic EOF */
    assert_true(proto_is_terminator((const uint8_t *)"\xfe\x00\x00\x02\x00", 5, eof));
    assert_true(proto_is_terminator((const uint8_t *)"\xfe", 1, eof));
    assert_true(proto_is_terminator(big, 8, eof));
    /* 9+ bytes starting with 0xfe is a row without DEPRECATE_EOF */
    assert_false(proto_is_terminator(big, 9, eof));
    assert_false(proto_is_terminator(big, 100, eof));
    /* OK-style terminator under DEPRECATE_EOF, of any size below 0xffffff */
    assert_true(proto_is_terminator((const uint8_t *)"\xfe\x00\x00\x22\x00\x00\x00", 7, deof));
    assert_true(proto_is_terminator(big, 9, deof));
    assert_true(proto_is_terminator(big, 1000, deof));
    assert_true(proto_is_terminator(big, PROTO_MAX_PAYLOAD - 1, deof));
    /* a 0xffffff-byte payload starting with 0xfe is a big row (continued), never EOF */
    assert_false(proto_is_terminator(big, PROTO_MAX_PAYLOAD, deof));
    assert_false(proto_is_terminator(big, PROTO_MAX_PAYLOAD, eof));
    /* other first bytes */
    assert_false(proto_is_terminator((const uint8_t *)"\x00\x00\x00\x02\x00\x00\x00", 7, deof));
    assert_false(proto_is_terminator((const uint8_t *)"\x00\x00\x00\x02\x00\x00\x00", 7, eof));
    assert_false(proto_is_terminator((const uint8_t *)"\xff\x15\x04", 3, eof));
    assert_false(proto_is_terminator((const uint8_t *)"\xfb", 1, eof));
    assert_false(proto_is_terminator((const uint8_t *)"\x01\x31", 2, deof));
    assert_false(proto_is_terminator(big, 0, eof));
    assert_false(proto_is_terminator(big, 0, deof));
    free(big);
}

static void test_status_flags(void **state)
{
    (void)state;
    payload pl = pkt_from_hex(EOF_MORE);
    assert_int_equal(proto_status_flags(pl.p, pl.len, CAPS_OLD), 0x000a);
    free(pl.p);
    pl = pkt_from_hex(TERM_ROWS);
    assert_int_equal(proto_status_flags(pl.p, pl.len, CAPS_TRACK), 0x0022);
    free(pl.p);
    pl = pkt_from_hex(OK_TRACK_TZ);
    assert_int_equal(proto_status_flags(pl.p, pl.len, CAPS_TRACK), 0x4002);
    free(pl.p);
    pl = pkt_from_hex(OK_UPDATE);
    assert_int_equal(proto_status_flags(pl.p, pl.len, CAPS_OLD), 0x0002);
    free(pl.p);
    /* status behind multi-byte lenencs */
    const uint8_t ok[] = {0x00, 0xfc, 0x00, 0x01, 0xfd, 0x01, 0x02, 0x03, 0x01, 0x20, 0x00, 0x00};
    assert_int_equal(proto_status_flags(ok, sizeof ok, CAPS_OLD), 0x2001);
    /* unreadable */
    assert_int_equal(proto_status_flags(ok, 3, CAPS_OLD), -1);
    assert_int_equal(proto_status_flags(ok, 0, CAPS_OLD), -1);
    assert_int_equal(proto_status_flags((const uint8_t *)"\xfe\x00", 2, CAPS_OLD), -1);
    pl = pkt_from_hex(ERR_NO_TABLE);
    assert_int_equal(proto_status_flags(pl.p, pl.len, CAPS_OLD), -1);
    free(pl.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_real_no_track),
        cmocka_unit_test(test_ok_real_track_sysvar),
        cmocka_unit_test(test_ok_real_track_schema),
        cmocka_unit_test(test_track_all_types),
        cmocka_unit_test(test_track_malformed),
        cmocka_unit_test(test_ok_malformed),
        cmocka_unit_test(test_ok_fe_header),
        cmocka_unit_test(test_ok_encode_roundtrip),
        cmocka_unit_test(test_ok_encode_bytes),
        cmocka_unit_test(test_err_real),
        cmocka_unit_test(test_err_without_sqlstate),
        cmocka_unit_test(test_err_bad),
        cmocka_unit_test(test_err_encode),
        cmocka_unit_test(test_eof),
        cmocka_unit_test(test_is_terminator),
        cmocka_unit_test(test_status_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
