/*
 * tests/fuzz/fuzz_resultset.c — round trip of the text result-set encoder (protocol/resultset.c,
 * proto_rs_encode) through the decoders: the bytes it writes are walked by the response walker
 * (RESP_QUERY, with the same capabilities) and decoded packet by packet with
 * proto_frame_logical, the payload reader, proto_eof_decode / proto_ok_decode.
 * Checks: the walker ends exactly at the end of the buffer with the right row count and
 * terminator status; sequence ids run from the start value; the column count, every column
 * definition (catalog "def", names, charset 45, VAR_STRING) and every cell (NULL or bytes)
 * decode to what was encoded; the writer's size limit fails cleanly.
 *
 * Input: byte 0 flags (bit 0 CLIENT_DEPRECATE_EOF, bit 1 a small writer limit), bytes 1-2
 * status, byte 3 first sequence id, byte 4 column count (1..8), then NUL-separated strings:
 * the column names, then the cells row by row (a lone 0x01 is SQL NULL; a partial last row is
 * dropped).
 */
#include "fuzz_common.h"

#include "protocol/mysql_const.h"
#include "protocol/packet.h"
#include "protocol/response.h"
#include "protocol/resultset.h"
#include "protocol/walker.h"

#define MAX_STRINGS 4096

static size_t events;

static void on_event(void *ctx, const proto_walk_event *ev)
{
    (void)ctx;
    FUZZ_CHECK(ev->type == WALK_EV_EOF);
    events++;
}

static const uint8_t *next_payload(const uint8_t *buf, size_t len, size_t *off, size_t *plen,
                                   uint8_t want_seq)
{
    size_t wire = 0;
    FUZZ_CHECK(proto_frame_logical(buf + *off, len - *off, PROTO_MAX_PAYLOAD, &wire, plen) == PROTO_OK);
    FUZZ_CHECK(buf[*off + 3] == want_seq);
    const uint8_t *p = buf + *off + PROTO_HDR_LEN;
    *off += wire;
    return p;
}

static void expect_str(proto_reader *r, const char *s)
{
    size_t n = 0;
    const uint8_t *p = proto_rd_lenenc_str(r, &n);
    FUZZ_CHECK(!r->err && n == strlen(s) && (n == 0 || memcmp(p, s, n) == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    uint32_t caps = CLIENT_PROTOCOL_41 | ((data[0] & 1) ? CLIENT_DEPRECATE_EOF : 0);
    int small = (data[0] >> 1) & 1;
    uint16_t status = (uint16_t)(data[1] | (data[2] << 8));
    uint8_t seq0 = data[3];
    int ncols = 1 + data[4] % 8;

    /* split the rest into strings */
    static const char *strs[MAX_STRINGS];
    char *text = fuzz_strndup(data + 5, size - 5);
    size_t nstr = 0;
    for (char *p = text, *end = text + (size - 5); p <= end && nstr < MAX_STRINGS;) {
        char *z = memchr(p, 0, (size_t)(end - p) + 1);
        strs[nstr++] = (z - p == 1 && p[0] == 1) ? NULL : p;
        p = z + 1;
    }
    if (nstr < (size_t)ncols) {
        free(text);
        return 0;
    }
    for (int c = 0; c < ncols; c++)
        if (!strs[c])
            strs[c] = ""; /* column names are never NULL */
    const char *const *cols = strs;
    const char *const *cells = strs + ncols;
    size_t nrows = (nstr - (size_t)ncols) / (size_t)ncols;

    proto_writer w;
    proto_wr_init(&w);
    if (small)
        w.max = 64 + (size_t)data[1];
    uint8_t seq = seq0;
    int rc = proto_rs_encode(&w, &seq, ncols, cols, nrows, cells, caps, status);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK((rc != 0) == (w.err != 0));
    if (rc != 0) {
        FUZZ_CHECK(small); /* only the tiny limit may fail */
        FUZZ_CHECK(w.len <= w.max);
        proto_wr_free(&w);
        free(text);
        return 0;
    }
    size_t expect_pkts = 1 + (size_t)ncols + nrows + 1 + ((caps & CLIENT_DEPRECATE_EOF) ? 0 : 1);
    FUZZ_CHECK(seq == (uint8_t)(seq0 + expect_pkts));

    /* the walker must find exactly this response */
    uint8_t *buf = malloc(w.len);
    memcpy(buf, w.data, w.len);
    proto_walker wk;
    events = 0;
    proto_walker_start(&wk, RESP_QUERY, caps, 0, on_event, NULL);
    size_t used = proto_walker_feed(&wk, buf, w.len);
    uint16_t want_status = (caps & CLIENT_DEPRECATE_EOF) ? (uint16_t)(status & ~SERVER_SESSION_STATE_CHANGED)
                                                         : status;
    /* with SERVER_MORE_RESULTS_EXISTS in the terminator the walker waits for the next result */
    FUZZ_CHECK(used == w.len);
    FUZZ_CHECK(wk.state == ((want_status & SERVER_MORE_RESULTS_EXISTS) ? WALK_FIRST : WALK_DONE));
    FUZZ_CHECK(wk.rows == nrows && wk.packets == expect_pkts && !wk.got_err);
    FUZZ_CHECK(wk.last_status == want_status);
    FUZZ_CHECK(events == ((caps & CLIENT_DEPRECATE_EOF) ? 1u : 2u)); /* EOF(s) only */

    /* decode every packet */
    size_t off = 0, plen = 0;
    uint8_t s = seq0;
    proto_reader r;
    const uint8_t *p = next_payload(buf, w.len, &off, &plen, s++);
    proto_rd_init(&r, p, plen);
    FUZZ_CHECK(proto_rd_lenenc(&r, NULL) == (uint64_t)ncols && proto_rd_left(&r) == 0);
    for (int c = 0; c < ncols; c++) {
        p = next_payload(buf, w.len, &off, &plen, s++);
        proto_rd_init(&r, p, plen);
        expect_str(&r, "def");
        expect_str(&r, "");
        expect_str(&r, "");
        expect_str(&r, "");
        expect_str(&r, cols[c]);
        expect_str(&r, cols[c]);
        FUZZ_CHECK(proto_rd_lenenc(&r, NULL) == 0x0c);
        FUZZ_CHECK(proto_rd_u16(&r) == CHARSET_UTF8MB4_GENERAL_CI);
        uint32_t dlen = proto_rd_u32(&r);
        FUZZ_CHECK(dlen >= 4 && (dlen >= 4 * strlen(cols[c]) || dlen == 0xffffff));
        FUZZ_CHECK(proto_rd_u8(&r) == PROTO_TYPE_VAR_STRING);
        proto_rd_skip(&r, 5);
        FUZZ_CHECK(!r.err && proto_rd_left(&r) == 0);
    }
    if (!(caps & CLIENT_DEPRECATE_EOF)) {
        p = next_payload(buf, w.len, &off, &plen, s++);
        proto_eof e;
        FUZZ_CHECK(proto_eof_decode(p, plen, &e) == PROTO_OK && e.status == status);
    }
    for (size_t row = 0; row < nrows; row++) {
        p = next_payload(buf, w.len, &off, &plen, s++);
        FUZZ_CHECK(!proto_is_terminator(p, plen, caps));
        proto_rd_init(&r, p, plen);
        for (int c = 0; c < ncols; c++) {
            const char *cell = cells[row * (size_t)ncols + (size_t)c];
            int is_null = 0;
            if (!cell) {
                (void)proto_rd_lenenc(&r, &is_null);
                FUZZ_CHECK(!r.err && is_null);
            } else {
                expect_str(&r, cell);
            }
        }
        FUZZ_CHECK(proto_rd_left(&r) == 0 && !r.err);
    }
    p = next_payload(buf, w.len, &off, &plen, s++);
    FUZZ_CHECK(proto_is_terminator(p, plen, caps));
    FUZZ_CHECK(proto_status_flags(p, plen, caps) == want_status);
    if (caps & CLIENT_DEPRECATE_EOF) {
        proto_ok ok;
        FUZZ_CHECK(proto_ok_decode(p, plen, caps, &ok) == PROTO_OK && ok.header == PKT_EOF);
    }
    FUZZ_CHECK(off == w.len);

    free(buf);
    proto_wr_free(&w);
    free(text);
    return 0;
}
