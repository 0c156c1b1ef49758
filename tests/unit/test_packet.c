/*
 * tests/unit/test_packet.c — cmocka tests for protocol/packet.{h,c}: the 4-byte header,
 * logical-packet framing across arbitrary split reads and 16 MiB continuation packets,
 * the max_payload limit, length-encoded integers and strings at every size boundary,
 * the bounds-checked reader (every read past the end sets err) and the growable writer
 * (headers, several packets in one buffer, payload and hard-size limits).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "protocol/packet.h"

#define BIG (PROTO_MAX_PAYLOAD) /* 0xffffff */

/* Builds a wire buffer of physical packets with the given payload lengths (seq 0,1,...);
 * payload byte i of the logical packet is (uint8_t)(i * 7 + 3). Returns the buffer and
 * its size; *logical receives the concatenated payload when non-NULL. */
static uint8_t *build_packets(const uint32_t *lens, size_t n, size_t extra, size_t *wire,
                              uint8_t **logical, size_t *logical_len)
{
    size_t total = extra, plen = 0;
    for (size_t i = 0; i < n; i++) {
        total += PROTO_HDR_LEN + lens[i];
        plen += lens[i];
    }
    uint8_t *buf = malloc(total ? total : 1);
    uint8_t *lg = logical ? malloc(plen ? plen : 1) : NULL;
    assert_non_null(buf);
    size_t off = 0, li = 0;
    for (size_t i = 0; i < n; i++) {
        proto_put_u24(buf + off, lens[i]);
        buf[off + 3] = (uint8_t)i;
        off += PROTO_HDR_LEN;
        for (uint32_t k = 0; k < lens[i]; k++, li++) {
            uint8_t b = (uint8_t)(li * 7 + 3);
            buf[off + k] = b;
            if (lg)
                lg[li] = b;
        }
        off += lens[i];
    }
    memset(buf + off, 0xee, extra); /* bytes of a following packet */
    *wire = total;
    if (logical) {
        *logical = lg;
        *logical_len = plen;
    }
    return buf;
}

/* ---------------- header ---------------- */

static void test_hdr_peek_short(void **state)
{
    (void)state;
    uint8_t b[4] = {5, 0, 0, 9};
    proto_hdr h = {77, 77};
    for (size_t n = 0; n < 4; n++)
        assert_int_equal(proto_hdr_peek(b, n, &h), PROTO_AGAIN);
    assert_int_equal(proto_hdr_peek(b, 4, &h), PROTO_OK);
    assert_int_equal(h.len, 5);
    assert_int_equal(h.seq, 9);
}

static void test_hdr_write_roundtrip(void **state)
{
    (void)state;
    const uint32_t lens[] = {0, 1, 250, 251, 0xffff, 0x10000, 0xfffffe, 0xffffff};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint8_t b[8] = {0};
        proto_hdr h;
        proto_hdr_write(b, lens[i], (uint8_t)(i * 40 + 15));
        assert_int_equal(b[0], lens[i] & 0xff);
        assert_int_equal(b[1], (lens[i] >> 8) & 0xff);
        assert_int_equal(b[2], (lens[i] >> 16) & 0xff);
        assert_int_equal(proto_hdr_peek(b, 4, &h), PROTO_OK);
        assert_int_equal(h.len, lens[i]);
        assert_int_equal(h.seq, (uint8_t)(i * 40 + 15));
        assert_int_equal(b[4], 0); /* nothing written past the header */
    }
    uint8_t b[4];
    proto_hdr_write(b, 3, 255);
    assert_int_equal(b[3], 255);
}

static void test_fixed_int_helpers(void **state)
{
    (void)state;
    uint8_t b[8];
    proto_put_u16(b, 0xbeef);
    assert_int_equal(b[0], 0xef);
    assert_int_equal(b[1], 0xbe);
    assert_int_equal(proto_u16(b), 0xbeef);
    proto_put_u24(b, 0xabcdef);
    assert_memory_equal(b, "\xef\xcd\xab", 3);
    assert_int_equal(proto_u24(b), 0xabcdef);
    proto_put_u32(b, 0xfedcba98u);
    assert_memory_equal(b, "\x98\xba\xdc\xfe", 4);
    assert_int_equal(proto_u32(b), 0xfedcba98u);
}

/* ---------------- logical framing ---------------- */

/* Every prefix shorter than the logical packet is AGAIN; the whole packet (with or without
 * trailing bytes of the next one) is OK with the right lengths. */
static void check_frame_all_prefixes(const uint32_t *lens, size_t n)
{
    size_t wire, plen;
    uint8_t *lg;
    uint8_t *buf = build_packets(lens, n, 9, &wire, &lg, &plen);
    size_t body = wire - 9;
    for (size_t k = 0; k < body; k++) {
        size_t wl = 12345, pl = 12345;
        /* fresh copy of exactly k bytes so an over-read is visible to ASan */
        uint8_t *c = malloc(k ? k : 1);
        memcpy(c, buf, k);
        assert_int_equal(proto_frame_logical(c, k, 1u << 30, &wl, &pl), PROTO_AGAIN);
        free(c);
    }
    for (size_t k = body; k <= wire; k++) {
        size_t wl = 0, pl = 0;
        assert_int_equal(proto_frame_logical(buf, k, 1u << 30, &wl, &pl), PROTO_OK);
        assert_int_equal(wl, body);
        assert_int_equal(pl, plen);
    }
    uint8_t *dst = malloc(plen ? plen : 1);
    proto_frame_join(buf, body, dst);
    assert_memory_equal(dst, lg, plen);
    free(dst);
    free(lg);
    free(buf);
}

static void test_frame_small(void **state)
{
    (void)state;
    const uint32_t one[] = {17};
    check_frame_all_prefixes(one, 1);
    const uint32_t empty[] = {0};
    check_frame_all_prefixes(empty, 1);
    const uint32_t mid[] = {300};
    check_frame_all_prefixes(mid, 1);
}

/* Prefix lengths worth checking on a multi-megabyte logical packet. */
static void check_frame_big(const uint32_t *lens, size_t n)
{
    size_t wire, plen;
    uint8_t *lg;
    uint8_t *buf = build_packets(lens, n, 5, &wire, &lg, &plen);
    size_t body = wire - 5;
    /* interesting prefix lengths: around every header */
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        for (long d = -6; d <= 10; d++) {
            long k = (long)off + d;
            if (k < 0 || (size_t)k >= body)
                continue;
            size_t wl, pl;
            assert_int_equal(proto_frame_logical(buf, (size_t)k, (size_t)plen + 100, &wl, &pl),
                             PROTO_AGAIN);
        }
        off += PROTO_HDR_LEN + lens[i];
    }
    size_t wl, pl;
    assert_int_equal(proto_frame_logical(buf, body - 1, plen, &wl, &pl), PROTO_AGAIN);
    assert_int_equal(proto_frame_logical(buf, body, plen, &wl, &pl), PROTO_OK);
    assert_int_equal(wl, body);
    assert_int_equal(pl, plen);
    assert_int_equal(proto_frame_logical(buf, wire, plen, &wl, &pl), PROTO_OK);
    assert_int_equal(wl, body);
    uint8_t *dst = malloc(plen);
    proto_frame_join(buf, body, dst);
    assert_memory_equal(dst, lg, plen);
    free(dst);
    free(lg);
    free(buf);
}

static void test_frame_16m_then_empty(void **state)
{
    (void)state;
    const uint32_t lens[] = {BIG, 0};
    check_frame_big(lens, 2);
}

static void test_frame_16m_plus_n(void **state)
{
    (void)state;
    const uint32_t lens[] = {BIG, 7};
    check_frame_big(lens, 2);
    const uint32_t lens2[] = {BIG, BIG, 3};
    check_frame_big(lens2, 3);
    const uint32_t lens3[] = {BIG, BIG, 0};
    check_frame_big(lens3, 3);
}

/* Payload of exactly 0xfffffe is a complete single packet. */
static void test_frame_just_below_16m(void **state)
{
    (void)state;
    const uint32_t lens[] = {BIG - 1};
    check_frame_big(lens, 1);
}

static void test_frame_max_payload(void **state)
{
    (void)state;
    uint8_t h[4];
    size_t wl, pl;
    /* header alone already shows the payload is too big */
    proto_hdr_write(h, 100, 0);
    assert_int_equal(proto_frame_logical(h, 4, 99, &wl, &pl), PROTO_ERROR);
    assert_int_equal(proto_frame_logical(h, 4, 100, &wl, &pl), PROTO_AGAIN);
    proto_hdr_write(h, BIG, 0);
    assert_int_equal(proto_frame_logical(h, 4, BIG - 1, &wl, &pl), PROTO_ERROR);
    assert_int_equal(proto_frame_logical(h, 4, 1000, &wl, &pl), PROTO_ERROR);
    assert_int_equal(proto_frame_logical(h, 4, BIG, &wl, &pl), PROTO_AGAIN);

    /* exactly at the limit is fine */
    uint8_t p[4 + 100];
    memset(p, 'a', sizeof p);
    proto_hdr_write(p, 100, 0);
    assert_int_equal(proto_frame_logical(p, sizeof p, 100, &wl, &pl), PROTO_OK);
    assert_int_equal(pl, 100);

    /* continuation: the second header pushes the total over the limit; reported as soon as
     * that header is in the buffer, before its payload */
    const uint32_t lens[] = {BIG, 11};
    size_t wire;
    uint8_t *buf = build_packets(lens, 2, 0, &wire, NULL, NULL);
    size_t second_hdr_end = 4 + BIG + 4;
    assert_int_equal(proto_frame_logical(buf, second_hdr_end - 1, (size_t)BIG + 10, &wl, &pl),
                     PROTO_AGAIN);
    assert_int_equal(proto_frame_logical(buf, second_hdr_end, (size_t)BIG + 10, &wl, &pl),
                     PROTO_ERROR);
    assert_int_equal(proto_frame_logical(buf, wire, (size_t)BIG + 10, &wl, &pl), PROTO_ERROR);
    assert_int_equal(proto_frame_logical(buf, wire, (size_t)BIG + 11, &wl, &pl), PROTO_OK);
    assert_int_equal(pl, (size_t)BIG + 11);
    free(buf);

    /* a 0xffffff payload followed by an empty packet is exactly 0xffffff: allowed at BIG */
    const uint32_t lens0[] = {BIG, 0};
    buf = build_packets(lens0, 2, 0, &wire, NULL, NULL);
    assert_int_equal(proto_frame_logical(buf, wire, BIG, &wl, &pl), PROTO_OK);
    assert_int_equal(pl, BIG);
    assert_int_equal(wl, wire);
    free(buf);
}

/* ---------------- length-encoded integers ---------------- */

typedef struct {
    uint64_t v;          /* value */
    size_t size;         /* encoded size */
    uint8_t first;       /* first encoded byte */
} lenenc_case;

static const lenenc_case LENENC[] = {
    {0, 1, 0x00},
    {1, 1, 0x01},
    {250, 1, 0xfa},
    {251, 3, 0xfc},
    {252, 3, 0xfc},
    {0xffff, 3, 0xfc},
    {0x10000, 4, 0xfd},
    {0xffffff, 4, 0xfd},
    {0x1000000, 9, 0xfe},
    {0xffffffffull, 9, 0xfe},
    {0x100000000ull, 9, 0xfe},
    {0x123456789abcdef0ull, 9, 0xfe},
    {UINT64_MAX, 9, 0xfe},
};
#define NLENENC (sizeof LENENC / sizeof LENENC[0])

static void test_lenenc_size(void **state)
{
    (void)state;
    for (size_t i = 0; i < NLENENC; i++)
        assert_int_equal(proto_lenenc_size(LENENC[i].v), LENENC[i].size);
}

static void test_lenenc_write_read(void **state)
{
    (void)state;
    for (size_t i = 0; i < NLENENC; i++) {
        proto_writer w;
        proto_wr_init(&w);
        proto_wr_lenenc(&w, LENENC[i].v);
        assert_int_equal(w.err, 0);
        assert_int_equal(proto_wr_finish(&w, 0), 0);
        assert_int_equal(w.len, 4 + LENENC[i].size);
        const uint8_t *p = w.data + 4;
        assert_int_equal(p[0], LENENC[i].first);
        /* little-endian value bytes after the marker */
        for (size_t k = 1; k < LENENC[i].size; k++)
            assert_int_equal(p[k], (uint8_t)(LENENC[i].v >> (8 * (k - 1))));

        proto_reader r;
        int is_null = 0;
        proto_rd_init(&r, p, LENENC[i].size);
        assert_true(LENENC[i].v == proto_rd_lenenc(&r, &is_null));
        assert_int_equal(r.err, 0);
        assert_int_equal(is_null, 0);
        assert_int_equal(proto_rd_left(&r), 0);

        /* every truncation of the encoding is an error */
        for (size_t cut = 0; cut < LENENC[i].size; cut++) {
            uint8_t *c = malloc(cut ? cut : 1);
            memcpy(c, p, cut);
            proto_rd_init(&r, c, cut);
            assert_true(proto_rd_lenenc(&r, NULL) == 0);
            assert_int_not_equal(r.err, 0);
            free(c);
        }
        proto_wr_free(&w);
    }
}

/* Decoding accepts the non-minimal forms too (values are what the bytes say). */
static void test_lenenc_read_forms(void **state)
{
    (void)state;
    proto_reader r;
    const uint8_t a[] = {0xfc, 0x05, 0x00};
    proto_rd_init(&r, a, sizeof a);
    assert_int_equal(proto_rd_lenenc(&r, NULL), 5);
    assert_int_equal(r.err, 0);
    const uint8_t b[] = {0xfd, 0x01, 0x02, 0x03};
    proto_rd_init(&r, b, sizeof b);
    assert_int_equal(proto_rd_lenenc(&r, NULL), 0x030201);
    const uint8_t c[] = {0xfe, 1, 2, 3, 4, 5, 6, 7, 8, 0x99};
    proto_rd_init(&r, c, sizeof c);
    assert_true(proto_rd_lenenc(&r, NULL) == 0x0807060504030201ull);
    assert_int_equal(r.err, 0);
    assert_int_equal(proto_rd_left(&r), 1);
    assert_int_equal(proto_rd_u8(&r), 0x99);
}

static void test_lenenc_null_and_err(void **state)
{
    (void)state;
    proto_reader r;
    int is_null = 0;
    const uint8_t nul[] = {0xfb, 0x07};
    proto_rd_init(&r, nul, sizeof nul);
    assert_int_equal(proto_rd_lenenc(&r, &is_null), 0);
    assert_true(is_null);
    assert_int_equal(r.err, 0);
    assert_int_equal(proto_rd_left(&r), 1); /* the 0xfb byte was consumed */
    assert_int_equal(proto_rd_u8(&r), 7);

    const uint8_t ff[] = {0xff, 0x01, 0x02};
    proto_rd_init(&r, ff, sizeof ff);
    is_null = 0;
    assert_int_equal(proto_rd_lenenc(&r, &is_null), 0);
    assert_int_not_equal(r.err, 0);

    proto_rd_init(&r, ff, 0);
    assert_int_equal(proto_rd_lenenc(&r, &is_null), 0);
    assert_int_not_equal(r.err, 0);
}

/* ---------------- reader ---------------- */

static void test_reader_fixed_ints(void **state)
{
    (void)state;
    const uint8_t b[] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
                         0xcc, 0xdd, 0xee, 0xff, 0x01, 0x02, 0x03};
    proto_reader r;
    proto_rd_init(&r, b, sizeof b);
    assert_int_equal(proto_rd_left(&r), 18);
    assert_int_equal(proto_rd_u8(&r), 0x11);
    assert_int_equal(proto_rd_u16(&r), 0x3322);
    assert_int_equal(proto_rd_u24(&r), 0x665544);
    assert_int_equal(proto_rd_u32(&r), 0xaa998877u);
    assert_true(proto_rd_u64(&r) == 0x030201ffeeddccbbull);
    assert_int_equal(r.err, 0);
    assert_int_equal(proto_rd_left(&r), 0);
}

/* For each read primitive and each too-short buffer: returns 0, sets err, and every later
 * read returns 0 as well. */
static void test_reader_past_end(void **state)
{
    (void)state;
    const uint8_t src[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const size_t need[] = {1, 2, 3, 4, 8};
    for (size_t f = 0; f < 5; f++) {
        for (size_t n = 0; n < need[f]; n++) {
            uint8_t *c = malloc(n ? n : 1);
            memcpy(c, src, n);
            proto_reader r;
            proto_rd_init(&r, c, n);
            uint64_t v = 1;
            switch (f) {
            case 0: v = proto_rd_u8(&r); break;
            case 1: v = proto_rd_u16(&r); break;
            case 2: v = proto_rd_u24(&r); break;
            case 3: v = proto_rd_u32(&r); break;
            default: v = proto_rd_u64(&r); break;
            }
            assert_true(v == 0);
            assert_int_not_equal(r.err, 0);
            /* err is sticky; reads keep returning 0 */
            assert_int_equal(proto_rd_u8(&r), 0);
            assert_int_not_equal(r.err, 0);
            free(c);
        }
    }
}

static void test_reader_bytes_skip(void **state)
{
    (void)state;
    const uint8_t b[] = "abcdef";
    proto_reader r;
    proto_rd_init(&r, b, 6);
    const uint8_t *p = proto_rd_bytes(&r, 2);
    assert_non_null(p);
    assert_memory_equal(p, "ab", 2);
    proto_rd_skip(&r, 1);
    assert_int_equal(r.err, 0);
    assert_int_equal(proto_rd_left(&r), 3);
    assert_null(proto_rd_bytes(&r, 4));
    assert_int_not_equal(r.err, 0);

    proto_rd_init(&r, b, 6);
    proto_rd_skip(&r, 7);
    assert_int_not_equal(r.err, 0);

    proto_rd_init(&r, b, 6);
    proto_rd_skip(&r, 6);
    assert_int_equal(r.err, 0);
    assert_int_equal(proto_rd_left(&r), 0);
    proto_rd_skip(&r, 1);
    assert_int_not_equal(r.err, 0);

    /* a huge n must not wrap the pointer arithmetic */
    proto_rd_init(&r, b, 6);
    proto_rd_u8(&r);
    assert_null(proto_rd_bytes(&r, SIZE_MAX));
    assert_int_not_equal(r.err, 0);
    proto_rd_init(&r, b, 6);
    proto_rd_u8(&r);
    proto_rd_skip(&r, SIZE_MAX);
    assert_int_not_equal(r.err, 0);
}

static void test_reader_cstr(void **state)
{
    (void)state;
    const uint8_t b[] = {'r', 'o', 'o', 't', 0, 'x', 0, 0, 'n', 'o'};
    proto_reader r;
    size_t len = 99;
    proto_rd_init(&r, b, sizeof b);
    const uint8_t *s = proto_rd_cstr(&r, &len);
    assert_non_null(s);
    assert_int_equal(len, 4);
    assert_memory_equal(s, "root", 4);
    s = proto_rd_cstr(&r, &len);
    assert_int_equal(len, 1);
    assert_int_equal(s[0], 'x');
    s = proto_rd_cstr(&r, &len);
    assert_non_null(s);
    assert_int_equal(len, 0);
    assert_int_equal(r.err, 0);
    /* "no" without a NUL */
    s = proto_rd_cstr(&r, &len);
    assert_null(s);
    assert_int_not_equal(r.err, 0);

    proto_rd_init(&r, b, 0);
    assert_null(proto_rd_cstr(&r, &len));
    assert_int_not_equal(r.err, 0);
}

static void test_reader_lenenc_str(void **state)
{
    (void)state;
    const size_t lens[] = {0, 1, 250, 251, 0xffff, 0x10000, 0x10001};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint8_t *s = malloc(lens[i] + 1);
        for (size_t k = 0; k < lens[i]; k++)
            s[k] = (uint8_t)(k ^ 0x5a);
        proto_writer w;
        proto_wr_init(&w);
        proto_wr_lenenc_str(&w, s, lens[i]);
        proto_wr_u8(&w, 0x42);
        assert_int_equal(proto_wr_finish(&w, 1), 0);
        size_t plen = w.len - 4;
        assert_int_equal(plen, proto_lenenc_size(lens[i]) + lens[i] + 1);

        proto_reader r;
        size_t got = 12345;
        proto_rd_init(&r, w.data + 4, plen);
        const uint8_t *p = proto_rd_lenenc_str(&r, &got);
        assert_int_equal(r.err, 0);
        assert_int_equal(got, lens[i]);
        if (lens[i])
            assert_memory_equal(p, s, lens[i]);
        assert_int_equal(proto_rd_u8(&r), 0x42);
        assert_int_equal(proto_rd_left(&r), 0);

        /* truncated anywhere inside the string: error */
        size_t cuts[] = {0, 1, plen - 2};
        for (size_t c = 0; c < 3; c++) {
            if (cuts[c] >= plen - 1)
                continue;
            uint8_t *cp = malloc(cuts[c] ? cuts[c] : 1);
            memcpy(cp, w.data + 4, cuts[c]);
            proto_rd_init(&r, cp, cuts[c]);
            if (!(lens[i] == 0 && cuts[c] == 1)) {
                assert_null(proto_rd_lenenc_str(&r, &got));
                assert_int_not_equal(r.err, 0);
            }
            free(cp);
        }
        proto_wr_free(&w);
        free(s);
    }
}

static void test_reader_lenenc_str_len_overflow(void **state)
{
    (void)state;
    /* a length near 2^64 must not wrap the bounds check */
    const uint8_t b[] = {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'a', 'b'};
    proto_reader r;
    size_t len;
    proto_rd_init(&r, b, sizeof b);
    assert_null(proto_rd_lenenc_str(&r, &len));
    assert_int_not_equal(r.err, 0);
    const uint8_t c[] = {0xff, 'a'};
    proto_rd_init(&r, c, sizeof c);
    assert_null(proto_rd_lenenc_str(&r, &len));
    assert_int_not_equal(r.err, 0);
}

static void test_reader_rest(void **state)
{
    (void)state;
    const uint8_t b[] = "hello world";
    proto_reader r;
    size_t len = 0;
    proto_rd_init(&r, b, 11);
    proto_rd_skip(&r, 6);
    const uint8_t *p = proto_rd_rest(&r, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(p, "world", 5);
    assert_int_equal(proto_rd_left(&r), 0);
    assert_int_equal(r.err, 0);
    p = proto_rd_rest(&r, &len);
    assert_int_equal(len, 0);
    assert_int_equal(r.err, 0);
}

/* ---------------- writer ---------------- */

static void test_writer_basic(void **state)
{
    (void)state;
    proto_writer w;
    proto_wr_init(&w);
    assert_int_equal(w.err, 0);
    proto_wr_u8(&w, 0x03);
    proto_wr_u16(&w, 0x0102);
    proto_wr_u24(&w, 0x030405);
    proto_wr_u32(&w, 0x06070809);
    proto_wr_u64(&w, 0x1112131415161718ull);
    proto_wr_bytes(&w, "xy", 2);
    proto_wr_zeros(&w, 3);
    proto_wr_cstr(&w, "db");
    proto_wr_lenenc_str(&w, "abc", 3);
    assert_int_equal(proto_wr_finish(&w, 7), 0);
    static const uint8_t want[] = {
        30, 0, 0, 7,
        0x03, 0x02, 0x01, 0x05, 0x04, 0x03, 0x09, 0x08, 0x07, 0x06,
        0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,
        'x', 'y', 0, 0, 0, 'd', 'b', 0, 3, 'a', 'b', 'c'};
    assert_int_equal(w.len, sizeof want);
    assert_memory_equal(w.data, want, sizeof want);
    assert_int_equal(w.err, 0);
    proto_wr_free(&w);
}

static void test_writer_empty_packet(void **state)
{
    (void)state;
    proto_writer w;
    proto_wr_init(&w);
    assert_int_equal(proto_wr_finish(&w, 3), 0);
    assert_int_equal(w.len, 4);
    assert_memory_equal(w.data, "\0\0\0\3", 4);
    proto_wr_free(&w);
}

static void test_writer_next_packets(void **state)
{
    (void)state;
    proto_writer w;
    proto_wr_init(&w);
    proto_wr_cstr(&w, "one");
    assert_int_equal(proto_wr_finish(&w, 1), 0);
    proto_wr_next(&w);
    proto_wr_u8(&w, 0xfe);
    proto_wr_u16(&w, 0);
    proto_wr_u16(&w, 2);
    assert_int_equal(proto_wr_finish(&w, 2), 0);
    proto_wr_next(&w);
    assert_int_equal(proto_wr_finish(&w, 3), 0); /* empty third packet */
    static const uint8_t want[] = {4, 0, 0, 1, 'o', 'n', 'e', 0,
                                   5, 0, 0, 2, 0xfe, 0, 0, 2, 0,
                                   0, 0, 0, 3};
    assert_int_equal(w.len, sizeof want);
    assert_memory_equal(w.data, want, sizeof want);
    /* the buffer frames as three packets */
    size_t wl, pl;
    assert_int_equal(proto_frame_logical(w.data, w.len, 100, &wl, &pl), PROTO_OK);
    assert_int_equal(wl, 8);
    assert_int_equal(proto_frame_logical(w.data + 8, w.len - 8, 100, &wl, &pl), PROTO_OK);
    assert_int_equal(wl, 9);
    assert_int_equal(pl, 5);
    proto_wr_free(&w);
}

static void test_writer_reset(void **state)
{
    (void)state;
    proto_writer w;
    proto_wr_init(&w);
    proto_wr_zeros(&w, 1000);
    assert_int_equal(proto_wr_finish(&w, 1), 0);
    proto_wr_next(&w);
    proto_wr_u8(&w, 1);
    proto_wr_finish(&w, 2);
    proto_wr_reset(&w);
    proto_wr_u8(&w, 0x0e);
    assert_int_equal(proto_wr_finish(&w, 0), 0);
    assert_int_equal(w.len, 5);
    assert_memory_equal(w.data, "\1\0\0\0\x0e", 5);
    proto_wr_free(&w);
}

static void test_writer_finish_too_big(void **state)
{
    (void)state;
    proto_writer w;
    proto_wr_init(&w);
    proto_wr_zeros(&w, BIG - 1);
    assert_int_equal(w.err, 0);
    assert_int_equal(proto_wr_finish(&w, 0), 0);
    assert_int_equal(w.data[0], 0xfe);
    assert_int_equal(w.data[1], 0xff);
    assert_int_equal(w.data[2], 0xff);
    proto_wr_free(&w);

    proto_wr_init(&w);
    proto_wr_zeros(&w, BIG);
    assert_int_equal(proto_wr_finish(&w, 0), -1);
    assert_int_not_equal(w.err, 0);
    proto_wr_free(&w);

    proto_wr_init(&w);
    proto_wr_zeros(&w, BIG + 10);
    assert_int_equal(proto_wr_finish(&w, 0), -1);
    assert_int_not_equal(w.err, 0);
    proto_wr_free(&w);
}

static void test_writer_max(void **state)
{
    (void)state;
    proto_writer w;
    proto_wr_init(&w);
    w.max = 64;
    proto_wr_zeros(&w, 60); /* len 64: at the limit */
    assert_int_equal(w.err, 0);
    assert_int_equal(proto_wr_finish(&w, 0), 0);
    proto_wr_u8(&w, 1); /* len 65 */
    assert_int_not_equal(w.err, 0);
    assert_true(w.len <= 64);
    size_t len_at_err = w.len;
    proto_wr_bytes(&w, "more", 4); /* ignored */
    proto_wr_lenenc(&w, 1000);
    proto_wr_cstr(&w, "x");
    assert_int_equal(w.len, len_at_err);
    assert_int_equal(proto_wr_finish(&w, 0), -1);
    proto_wr_free(&w);

    /* a single big write over the limit */
    proto_wr_init(&w);
    w.max = 1000;
    proto_wr_bytes(&w, "ab", 2);
    uint8_t big[2000];
    memset(big, 1, sizeof big);
    proto_wr_bytes(&w, big, sizeof big);
    assert_int_not_equal(w.err, 0);
    assert_true(w.len <= 1000);
    assert_int_equal(proto_wr_finish(&w, 0), -1);
    proto_wr_free(&w);
}

/* max == 0 means 64 MiB. */
static void test_writer_default_max(void **state)
{
    (void)state;
    proto_writer w;
    proto_wr_init(&w);
    assert_int_equal(w.max, 0);
    for (int i = 0; i < 3; i++) {
        proto_wr_zeros(&w, BIG - 1);
        assert_int_equal(proto_wr_finish(&w, (uint8_t)i), 0);
        proto_wr_next(&w);
    }
    assert_int_equal(w.err, 0);
    /* fill up to exactly 64 MiB (len counts the headers): still fine */
    size_t limit = (size_t)64 << 20;
    proto_wr_zeros(&w, limit - w.len);
    assert_int_equal(w.err, 0);
    assert_int_equal(w.len, limit);
    proto_wr_u8(&w, 1); /* one byte more */
    assert_int_not_equal(w.err, 0);
    proto_wr_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hdr_peek_short),
        cmocka_unit_test(test_hdr_write_roundtrip),
        cmocka_unit_test(test_fixed_int_helpers),
        cmocka_unit_test(test_frame_small),
        cmocka_unit_test(test_frame_16m_then_empty),
        cmocka_unit_test(test_frame_16m_plus_n),
        cmocka_unit_test(test_frame_just_below_16m),
        cmocka_unit_test(test_frame_max_payload),
        cmocka_unit_test(test_lenenc_size),
        cmocka_unit_test(test_lenenc_write_read),
        cmocka_unit_test(test_lenenc_read_forms),
        cmocka_unit_test(test_lenenc_null_and_err),
        cmocka_unit_test(test_reader_fixed_ints),
        cmocka_unit_test(test_reader_past_end),
        cmocka_unit_test(test_reader_bytes_skip),
        cmocka_unit_test(test_reader_cstr),
        cmocka_unit_test(test_reader_lenenc_str),
        cmocka_unit_test(test_reader_lenenc_str_len_overflow),
        cmocka_unit_test(test_reader_rest),
        cmocka_unit_test(test_writer_basic),
        cmocka_unit_test(test_writer_empty_packet),
        cmocka_unit_test(test_writer_next_packets),
        cmocka_unit_test(test_writer_reset),
        cmocka_unit_test(test_writer_finish_too_big),
        cmocka_unit_test(test_writer_max),
        cmocka_unit_test(test_writer_default_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
