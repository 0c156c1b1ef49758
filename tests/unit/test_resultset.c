/*
 * tests/unit/test_resultset.c — cmocka tests for protocol/resultset.{h,c}: a text result set
 * walked packet by packet (column count, ColumnDefinition41 fields, classic EOF after the
 * definitions and at the end, rows with NULL as 0xFB and long cells with a 0xFC length),
 * the CLIENT_DEPRECATE_EOF form (no EOF after the definitions, an OK with 0xFE header at the
 * end that proto_is_terminator and proto_ok_decode accept), sequence ids, an empty result,
 * and the refusal of a result without columns.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "protocol/mysql_const.h"
#include "protocol/packet.h"
#include "protocol/response.h"
#include "protocol/resultset.h"

/* Walks the packets of an encoded buffer. */
typedef struct {
    const uint8_t *p;   /* next packet header */
    const uint8_t *end; /* end of the buffer */
    uint8_t seq;        /* sequence id the next packet must have */
} pkt_iter;

/* The next packet's payload; checks its header and sequence id. */
static const uint8_t *next_pkt(pkt_iter *it, size_t *len)
{
    proto_hdr h;
    assert_true(it->p + PROTO_HDR_LEN <= it->end);
    assert_int_equal(proto_hdr_peek(it->p, (size_t)(it->end - it->p), &h), PROTO_OK);
    assert_true(it->p + PROTO_HDR_LEN + h.len <= it->end);
    assert_int_equal(h.seq, it->seq);
    it->seq++;
    const uint8_t *payload = it->p + PROTO_HDR_LEN;
    it->p += PROTO_HDR_LEN + h.len;
    *len = h.len;
    return payload;
}

/* Assert a length-encoded string equals want. */
static void expect_str(proto_reader *r, const char *want)
{
    size_t n = 0;
    const uint8_t *s = proto_rd_lenenc_str(r, &n);
    assert_false(r->err);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(s, want, n);
}

/* Check one ColumnDefinition41 payload. */
static void expect_column(const uint8_t *p, size_t len, const char *name, uint32_t min_length)
{
    proto_reader r;
    proto_rd_init(&r, p, len);
    expect_str(&r, "def");
    expect_str(&r, "");
    expect_str(&r, "");
    expect_str(&r, "");
    expect_str(&r, name);
    expect_str(&r, name);
    assert_int_equal(proto_rd_lenenc(&r, NULL), 0x0c);
    assert_int_equal(proto_rd_u16(&r), CHARSET_UTF8MB4_GENERAL_CI);
    assert_true(proto_rd_u32(&r) >= min_length);
    assert_int_equal(proto_rd_u8(&r), PROTO_TYPE_VAR_STRING);
    proto_rd_skip(&r, 5); /* flags, decimals, filler */
    assert_false(r.err);
    assert_int_equal(proto_rd_left(&r), 0);
}

static void expect_eof(const uint8_t *p, size_t len, uint16_t status)
{
    proto_eof e;
    assert_int_equal(proto_eof_decode(p, len, &e), PROTO_OK);
    assert_int_equal(e.status, status);
    assert_int_equal(e.warnings, 0);
}

/* A row payload: cells as strings, NULL for SQL NULL. */
static void expect_row(const uint8_t *p, size_t len, int ncols, const char *const *want)
{
    proto_reader r;
    proto_rd_init(&r, p, len);
    for (int c = 0; c < ncols; c++) {
        if (!want[c]) {
            int is_null = 0;
            proto_rd_lenenc(&r, &is_null);
            assert_true(is_null);
        } else {
            expect_str(&r, want[c]);
        }
    }
    assert_false(r.err);
    assert_int_equal(proto_rd_left(&r), 0);
}

static const char *const COLS[] = {"name", "value"};
static const char *const CELLS[] = {"uptime_s", "12", "detail", NULL};

static void test_classic_eof(void **state)
{
    (void)state;
    proto_writer w;
    proto_wr_init(&w);
    uint8_t seq = 1;
    assert_int_equal(proto_rs_encode(&w, &seq, 2, COLS, 2, CELLS, CLIENT_PROTOCOL_41, 0x0002), 0);
    assert_int_equal(seq, 1 + 1 + 2 + 1 + 2 + 1);
    pkt_iter it = {w.data, w.data + w.len, 1};
    size_t len;
    const uint8_t *p = next_pkt(&it, &len);
    assert_int_equal(len, 1);
    assert_int_equal(p[0], 2);
    p = next_pkt(&it, &len);
    expect_column(p, len, "name", 8 * 4);
    p = next_pkt(&it, &len);
    expect_column(p, len, "value", 5 * 4);
    p = next_pkt(&it, &len);
    expect_eof(p, len, 0x0002);
    p = next_pkt(&it, &len);
    expect_row(p, len, 2, CELLS);
    p = next_pkt(&it, &len);
    expect_row(p, len, 2, CELLS + 2);
    p = next_pkt(&it, &len);
    expect_eof(p, len, 0x0002);
    assert_ptr_equal(it.p, it.end);
    proto_wr_free(&w);
}

static void test_deprecate_eof(void **state)
{
    (void)state;
    uint32_t caps = CLIENT_PROTOCOL_41 | CLIENT_DEPRECATE_EOF | CLIENT_SESSION_TRACK;
    proto_writer w;
    proto_wr_init(&w);
    uint8_t seq = 1;
    assert_int_equal(proto_rs_encode(&w, &seq, 2, COLS, 1, CELLS, caps, 0x0002), 0);
    pkt_iter it = {w.data, w.data + w.len, 1};
    size_t len;
    const uint8_t *p = next_pkt(&it, &len);
    assert_int_equal(p[0], 2);
    p = next_pkt(&it, &len);
    expect_column(p, len, "name", 4);
    p = next_pkt(&it, &len);
    expect_column(p, len, "value", 4);
    p = next_pkt(&it, &len); /* no EOF: the row comes at once */
    expect_row(p, len, 2, CELLS);
    p = next_pkt(&it, &len);
    assert_true(proto_is_terminator(p, len, caps));
    proto_ok ok;
    assert_int_equal(proto_ok_decode(p, len, caps, &ok), PROTO_OK);
    assert_int_equal(ok.header, 0xfe);
    assert_int_equal(ok.status, 0x0002);
    assert_ptr_equal(it.p, it.end);
    assert_int_equal(seq, it.seq);
    proto_wr_free(&w);
}

static void test_empty_and_long_cells(void **state)
{
    (void)state;
    char *big = malloc(70000);
    memset(big, 'x', 69999);
    big[69999] = '\0';
    big[0] = (char)0xfe; /* a cell starting like an EOF marker is still a lenenc string */
    const char *cols[] = {"c"};
    const char *cells[] = {big, ""};
    proto_writer w;
    proto_wr_init(&w);
    uint8_t seq = 5;
    assert_int_equal(proto_rs_encode(&w, &seq, 1, cols, 2, cells, CLIENT_PROTOCOL_41, 0), 0);
    pkt_iter it = {w.data, w.data + w.len, 5};
    size_t len;
    next_pkt(&it, &len);
    const uint8_t *p = next_pkt(&it, &len);
    expect_column(p, len, "c", 69999u * 4);
    next_pkt(&it, &len); /* EOF */
    p = next_pkt(&it, &len);
    assert_int_equal(p[0], 0xfd); /* 3-byte length prefix */
    expect_row(p, len, 1, cells);
    p = next_pkt(&it, &len);
    expect_row(p, len, 1, cells + 1);
    p = next_pkt(&it, &len);
    expect_eof(p, len, 0);
    proto_wr_free(&w);

    proto_wr_init(&w);
    seq = 1;
    assert_int_equal(proto_rs_encode(&w, &seq, 1, cols, 0, NULL, CLIENT_DEPRECATE_EOF, 0), 0);
    assert_int_equal(seq, 4); /* count, one definition, terminator */
    proto_wr_free(&w);
    free(big);
}

static void test_no_columns_is_an_error(void **state)
{
    (void)state;
    proto_writer w;
    proto_wr_init(&w);
    uint8_t seq = 1;
    assert_int_equal(proto_rs_encode(&w, &seq, 0, NULL, 0, NULL, 0, 0), -1);
    proto_wr_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classic_eof),
        cmocka_unit_test(test_deprecate_eof),
        cmocka_unit_test(test_empty_and_long_cells),
        cmocka_unit_test(test_no_columns_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
