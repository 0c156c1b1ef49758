/*
 * tests/unit/test_walker.c — cmocka tests for protocol/walker.{h,c}, the resumable response
 * walker. Every scenario (synthetic, and real answers captured from MariaDB 10.11.19 with
 * and without CLIENT_DEPRECATE_EOF) is fed whole, split at every byte, split at every pair
 * of bytes (small streams), byte by byte and in pseudo-random slices, with and without
 * bytes of the next response after it. Each run must report the same events (type, last
 * flag, status, sequence id, captured payload, absolute end offset), stop exactly at the end
 * of the response (or right after a LOCAL INFILE request) and walk the same byte count.
 * Covers OK, ERR, text and binary result sets, multi-results (CALL, multi-statements),
 * LOCAL INFILE, prepare answers, cursors, fetch, field list, statistics, 16 MiB rows with
 * continuation packets (a 0xfe-starting big row is not an EOF), and malformed streams.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/walker.h"
#include "protocol/mysql_const.h"

#define CAPS_EOF                                                                          \
    (CLIENT_LONG_FLAG | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION | \
     CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS |            \
     CLIENT_PLUGIN_AUTH | CLIENT_LOCAL_FILES)
#define CAPS_DEOF (CAPS_EOF | CLIENT_DEPRECATE_EOF | CLIENT_SESSION_TRACK)
#define IS_DEOF(caps) (((caps) & CLIENT_DEPRECATE_EOF) != 0)

#define ST_AC   SERVER_STATUS_AUTOCOMMIT
#define ST_MORE SERVER_MORE_RESULTS_EXISTS
#define MAXEV   64
#define BIG     PROTO_MAX_PAYLOAD

/* ================= byte builder ================= */

/* A growable byte buffer used to build payloads and streams. */
typedef struct {
    uint8_t *d; /* bytes */
    size_t len; /* used */
    size_t cap; /* allocated */
} bytes;

static void bb_need(bytes *b, size_t n)
{
    if (b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    b->d = realloc(b->d, cap);
    assert_non_null(b->d);
    b->cap = cap;
}

static void bb_put(bytes *b, const void *p, size_t n)
{
    bb_need(b, n);
    if (n)
        memcpy(b->d + b->len, p, n);
    b->len += n;
}

static void bb_u8(bytes *b, uint8_t v) { bb_put(b, &v, 1); }

static void bb_uint(bytes *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        bb_u8(b, (uint8_t)(v >> (8 * i)));
}

static void bb_lenenc(bytes *b, uint64_t v)
{
    if (v < 251) {
        bb_u8(b, (uint8_t)v);
    } else if (v <= 0xffff) {
        bb_u8(b, 0xfc);
        bb_uint(b, v, 2);
    } else if (v <= 0xffffff) {
        bb_u8(b, 0xfd);
        bb_uint(b, v, 3);
    } else {
        bb_u8(b, 0xfe);
        bb_uint(b, v, 8);
    }
}

static void bb_lstr(bytes *b, const char *s)
{
    bb_lenenc(b, strlen(s));
    bb_put(b, s, strlen(s));
}

static void bb_free(bytes *b)
{
    free(b->d);
    memset(b, 0, sizeof *b);
}

/* ================= payloads ================= */

static void p_ok(bytes *b, uint64_t affected, uint16_t status, const char *info)
{
    bb_u8(b, 0x00);
    bb_lenenc(b, affected);
    bb_lenenc(b, 0);
    bb_uint(b, status, 2);
    bb_uint(b, 0, 2);
    if (info)
        bb_lstr(b, info);
}

static void p_err(bytes *b, uint16_t code, const char *state, const char *msg)
{
    bb_u8(b, 0xff);
    bb_uint(b, code, 2);
    bb_u8(b, '#');
    bb_put(b, state, 5);
    bb_put(b, msg, strlen(msg));
}

/* classic EOF */
static void p_eof(bytes *b, uint16_t status)
{
    bb_u8(b, 0xfe);
    bb_uint(b, 0, 2);
    bb_uint(b, status, 2);
}

/* OK-style terminator (DEPRECATE_EOF) */
static void p_term(bytes *b, uint16_t status)
{
    bb_u8(b, 0xfe);
    bb_lenenc(b, 0);
    bb_lenenc(b, 0);
    bb_uint(b, status, 2);
    bb_uint(b, 0, 2);
}

static void p_coldef(bytes *b, const char *name)
{
    bb_lstr(b, "def");
    bb_lstr(b, "test");
    bb_lstr(b, "t");
    bb_lstr(b, "t");
    bb_lstr(b, name);
    bb_lstr(b, name);
    bb_u8(b, 0x0c);
    bb_uint(b, 45, 2);
    bb_uint(b, 80, 4);
    bb_u8(b, 0xfd); /* VAR_STRING */
    bb_uint(b, 0, 2);
    bb_u8(b, 0);
    bb_uint(b, 0, 2);
}

static void p_prep_ok(bytes *b, uint32_t id, uint16_t cols, uint16_t params)
{
    bb_u8(b, 0x00);
    bb_uint(b, id, 4);
    bb_uint(b, cols, 2);
    bb_uint(b, params, 2);
    bb_u8(b, 0);
    bb_uint(b, 0, 2);
}

/* ================= scenarios ================= */

/* An event the walker must report. */
typedef struct {
    int type;             /* proto_walk_event_type */
    int last;             /* expected last flag */
    int status;           /* expected status, or -1 to skip */
    size_t end;           /* absolute offset just past the packet */
    uint8_t seq;          /* its sequence id */
    uint32_t payload_len; /* its payload length */
} want_ev;

/* A response stream and everything the walker must say about it. */
typedef struct {
    char name[96];          /* for failure messages */
    proto_resp_kind kind;   /* walker kind */
    uint32_t caps;          /* negotiated capabilities */
    int cursor;             /* cursor requested (execute) */
    bytes s;                /* the stream (response, maybe followed by other bytes) */
    size_t resp_len;        /* bytes that belong to the response */
    size_t infile_at;       /* offset just past a LOCAL INFILE request, or 0 */
    int expect_error;       /* malformed: WALK_ERROR expected */
    uint8_t seq;            /* next sequence id for built packets */
    uint64_t logical;       /* logical packets built */
    want_ev ev[MAXEV];      /* expected events */
    int nev;                /* their count */
    size_t last_end;        /* end offset of the last packet built */
    uint32_t last_len;      /* its payload length */
    uint8_t last_seq;       /* its sequence id */
} scenario;

static void sc_init(scenario *sc, const char *name, proto_resp_kind kind, uint32_t caps, int cursor)
{
    memset(sc, 0, sizeof *sc);
    snprintf(sc->name, sizeof sc->name, "%s/%s", name, IS_DEOF(caps) ? "deprecate_eof" : "eof");
    sc->kind = kind;
    sc->caps = caps;
    sc->cursor = cursor;
    sc->seq = 1;
}

/* Appends one logical packet (split into 0xffffff-byte physical packets as needed). */
static void sc_pkt(scenario *sc, const bytes *payload)
{
    size_t off = 0, left = payload->len;
    sc->last_seq = sc->seq;
    for (;;) {
        size_t n = left < BIG ? left : BIG;
        uint8_t h[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), sc->seq++};
        bb_put(&sc->s, h, 4);
        bb_put(&sc->s, payload->d + off, n);
        off += n;
        left -= n;
        if (n < BIG)
            break;
    }
    sc->logical++;
    sc->last_end = sc->s.len;
    sc->last_len = (uint32_t)payload->len;
    sc->resp_len = sc->s.len;
}

/* Expects an event for the packet just added. */
static void sc_want(scenario *sc, int type, int last, int status)
{
    assert_true(sc->nev < MAXEV);
    want_ev *e = &sc->ev[sc->nev++];
    e->type = type;
    e->last = last;
    e->status = status;
    e->end = sc->last_end;
    e->seq = sc->last_seq;
    e->payload_len = sc->last_len;
}

/* Builds a payload with f and appends it as a packet. */
#define ADD(sc, call)            \
    do {                         \
        bytes b_ = {0};          \
        bytes *b = &b_;          \
        call;                    \
        sc_pkt((sc), b);         \
        bb_free(b);              \
    } while (0)

static void add_ok(scenario *sc, uint64_t affected, uint16_t status, int last)
{
    ADD(sc, p_ok(b, affected, status, NULL));
    sc_want(sc, WALK_EV_OK, last, status);
}

static void add_err(scenario *sc, uint16_t code, const char *msg)
{
    ADD(sc, p_err(b, code, "HY000", msg));
    sc_want(sc, WALK_EV_ERR, 1, -1);
}

/* The terminator for the negotiated capabilities. */
static void add_end(scenario *sc, uint16_t status, int last)
{
    if (IS_DEOF(sc->caps))
        ADD(sc, p_term(b, status));
    else
        ADD(sc, p_eof(b, status));
    sc_want(sc, WALK_EV_EOF, last, status);
}

static void add_cols(scenario *sc, int ncols, uint16_t status, int eof_after)
{
    ADD(sc, bb_lenenc(b, (uint64_t)ncols));
    for (int i = 0; i < ncols; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        ADD(sc, p_coldef(b, name));
    }
    if (eof_after && !IS_DEOF(sc->caps)) {
        ADD(sc, p_eof(b, status));
        sc_want(sc, WALK_EV_EOF, 0, status);
    }
}

/* Text rows whose first bytes look like other packets: NULL (0xfb), "" (0x00), and
 * ordinary values. */
static void add_text_rows(scenario *sc, int ncols, int nrows)
{
    for (int r = 0; r < nrows; r++) {
        bytes b = {0};
        for (int c = 0; c < ncols; c++) {
            if (c == 0 && r % 3 == 1)
                bb_u8(&b, 0xfb); /* NULL */
            else if (c == 0 && r % 3 == 2)
                bb_lenenc(&b, 0); /* "" */
            else
                bb_lstr(&b, "val");
        }
        sc_pkt(sc, &b);
        bb_free(&b);
    }
}

/* Binary rows: 0x00 header, NULL bitmap, one lenenc string per column. */
static void add_bin_rows(scenario *sc, int ncols, int nrows)
{
    for (int r = 0; r < nrows; r++) {
        bytes b = {0};
        bb_u8(&b, 0x00);
        for (int i = 0; i < (ncols + 7 + 2) / 8; i++)
            bb_u8(&b, 0);
        for (int c = 0; c < ncols; c++)
            bb_lstr(&b, "v");
        sc_pkt(sc, &b);
        bb_free(&b);
    }
}

/* A whole text result set ending with status (last if no MORE_RESULTS). */
static void add_resultset(scenario *sc, int ncols, int nrows, uint16_t status)
{
    add_cols(sc, ncols, status, 1);
    add_text_rows(sc, ncols, nrows);
    add_end(sc, status, !(status & ST_MORE));
}

/* ================= the runner ================= */

/* What the callback saw. */
typedef struct {
    const scenario *sc;   /* scenario being walked */
    size_t base;          /* absolute offset of the current feed buffer */
    size_t feed_len;      /* length of the current feed buffer */
    int n;                /* events recorded */
    struct {
        int type;             /* event type */
        int last;             /* last flag */
        int status;           /* status flags */
        size_t end;           /* absolute offset just past the packet */
        uint8_t seq;          /* sequence id */
        uint32_t payload_len; /* payload length */
    } ev[MAXEV];              /* events in order */
    char err[256];        /* first inconsistency seen inside the callback */
} recorder;

static void on_event(void *ctx, const proto_walk_event *ev)
{
    recorder *rec = ctx;
    if (ev->end_off > rec->feed_len && !rec->err[0])
        snprintf(rec->err, sizeof rec->err, "end_off %zu > feed length %zu", ev->end_off,
                 rec->feed_len);
    size_t end = rec->base + ev->end_off;
    /* the captured prefix is the packet's payload (single physical packets) */
    size_t want_cap = ev->payload_len < PROTO_WALK_CAPTURE ? ev->payload_len : PROTO_WALK_CAPTURE;
    if (ev->payload_len < BIG && end >= ev->payload_len && end <= rec->sc->s.len &&
        !rec->err[0]) {
        const uint8_t *src = rec->sc->s.d + end - ev->payload_len;
        if (ev->captured != want_cap)
            snprintf(rec->err, sizeof rec->err, "event %d: captured %zu, want %zu", rec->n,
                     ev->captured, want_cap);
        else if (want_cap && (ev->payload == NULL || memcmp(ev->payload, src, want_cap) != 0))
            snprintf(rec->err, sizeof rec->err, "event %d: captured bytes differ", rec->n);
    }
    if (rec->n >= MAXEV) {
        snprintf(rec->err, sizeof rec->err, "too many events");
        return;
    }
    rec->ev[rec->n].type = (int)ev->type;
    rec->ev[rec->n].last = ev->last;
    rec->ev[rec->n].status = ev->status;
    rec->ev[rec->n].end = end;
    rec->ev[rec->n].seq = ev->seq;
    rec->ev[rec->n].payload_len = ev->payload_len;
    rec->n++;
}

/* Slicing strategies. */
typedef enum { SL_WHOLE, SL_CUTS, SL_FIXED, SL_RANDOM } slice_mode;

typedef struct {
    slice_mode mode;   /* strategy */
    size_t cuts[2];    /* SL_CUTS: absolute cut points (ascending; 0 = unused) */
    size_t ncuts;      /* how many */
    size_t fixed;      /* SL_FIXED: chunk size */
    uint32_t rng;      /* SL_RANDOM: LCG state */
    size_t maxrand;    /* SL_RANDOM: largest chunk */
} slicer;

static size_t next_chunk(slicer *sl, size_t pos, size_t total)
{
    size_t left = total - pos;
    switch (sl->mode) {
    case SL_WHOLE:
        return left;
    case SL_CUTS:
        for (size_t i = 0; i < sl->ncuts; i++)
            if (sl->cuts[i] > pos)
                return sl->cuts[i] - pos;
        return left;
    case SL_FIXED:
        return sl->fixed < left ? sl->fixed : left;
    default: {
        sl->rng = sl->rng * 1103515245u + 12345u;
        size_t n = 1 + (sl->rng >> 8) % sl->maxrand;
        return n < left ? n : left;
    }
    }
}

static void describe(char *out, size_t cap, const scenario *sc, const slicer *sl)
{
    switch (sl->mode) {
    case SL_WHOLE: snprintf(out, cap, "%s [whole]", sc->name); break;
    case SL_CUTS:
        snprintf(out, cap, "%s [cuts %zu %zu]", sc->name, sl->cuts[0], sl->ncuts > 1 ? sl->cuts[1] : 0);
        break;
    case SL_FIXED: snprintf(out, cap, "%s [chunks of %zu]", sc->name, sl->fixed); break;
    default: snprintf(out, cap, "%s [random]", sc->name); break;
    }
}

static const char *state_name(proto_walk_state s)
{
    static const char *names[] = {"FIRST", "COLUMNS", "COLUMNS_EOF", "ROWS", "PREP_PARAMS",
                                  "PREP_PARAMS_EOF", "PREP_COLUMNS", "PREP_COLUMNS_EOF",
                                  "FIELDS", "INFILE", "DONE", "ERROR"};
    return (unsigned)s < 12 ? names[s] : "?";
}

/* Walks sc once with the given slicing (copy: feed each slice from its own heap block, so
 * ASan sees reads past it) and fails the test with a description on any difference. */
static void walk_once(const scenario *sc, slicer sl, int copy)
{
    static proto_walker w; /* large; static keeps it off the stack */
    recorder *rec = calloc(1, sizeof *rec);
    char what[200];
    describe(what, sizeof what, sc, &sl);
    rec->sc = sc;
    proto_walker_start(&w, sc->kind, sc->caps, sc->cursor, on_event, rec);
    size_t pos = 0, total = sc->s.len;
    int infile_seen = 0, stopped = 0;
    while (pos < total && !stopped) {
        size_t clen = next_chunk(&sl, pos, total);
        uint8_t *chunk = sc->s.d + pos;
        if (copy) {
            chunk = malloc(clen);
            memcpy(chunk, sc->s.d + pos, clen);
        }
        size_t off = 0;
        while (off < clen) {
            rec->base = pos + off;
            rec->feed_len = clen - off;
            size_t n = proto_walker_feed(&w, chunk + off, clen - off);
            if (n > clen - off)
                fail_msg("%s: feed returned %zu > %zu", what, n, clen - off);
            off += n;
            if (w.state == WALK_INFILE) {
                if (sc->infile_at == 0 || pos + off != sc->infile_at || infile_seen)
                    fail_msg("%s: stopped for INFILE at %zu (expected %zu)", what, pos + off,
                             sc->infile_at);
                if (off < clen) {
                    rec->base = pos + off;
                    rec->feed_len = clen - off;
                    size_t again = proto_walker_feed(&w, chunk + off, clen - off);
                    if (again != 0 || w.state != WALK_INFILE)
                        fail_msg("%s: feed in WALK_INFILE consumed %zu (state %s)", what, again,
                                 state_name(w.state));
                }
                infile_seen = 1;
                proto_walker_infile_sent(&w);
                continue;
            }
            if (w.state == WALK_DONE || w.state == WALK_ERROR) {
                stopped = 1;
                break;
            }
            if (off != clen)
                fail_msg("%s: feed consumed %zu of %zu bytes at %zu but state is %s", what, n,
                         clen - (off - n), pos + off - n, state_name(w.state));
        }
        if (copy)
            free(chunk);
        pos += off;
        if (stopped)
            break;
    }
    if (rec->err[0])
        fail_msg("%s: %s", what, rec->err);
    if (sc->expect_error) {
        if (w.state != WALK_ERROR)
            fail_msg("%s: malformed stream ended in state %s, not ERROR", what, state_name(w.state));
        free(rec);
        return;
    }
    if (w.state != WALK_DONE)
        fail_msg("%s: ended in state %s after %zu/%zu bytes", what, state_name(w.state), pos,
                 total);
    if (pos != sc->resp_len)
        fail_msg("%s: response ended at %zu, expected %zu", what, pos, sc->resp_len);
    if (sc->infile_at && !infile_seen)
        fail_msg("%s: no stop for LOCAL INFILE", what);
    if (w.bytes != sc->resp_len)
        fail_msg("%s: walker.bytes %llu, expected %zu", what, (unsigned long long)w.bytes,
                 sc->resp_len);
    if (sc->logical && w.packets != sc->logical)
        fail_msg("%s: walker.packets %llu, expected %llu", what, (unsigned long long)w.packets,
                 (unsigned long long)sc->logical);
    assert_true(proto_walker_done(&w));
    /* the walker takes nothing more once done */
    if (pos < total) {
        size_t more = proto_walker_feed(&w, sc->s.d + pos, total - pos);
        if (more != 0)
            fail_msg("%s: feed after DONE consumed %zu", what, more);
    }
    /* events */
    if (rec->n != sc->nev)
        fail_msg("%s: %d events, expected %d", what, rec->n, sc->nev);
    for (int i = 0; i < sc->nev; i++) {
        const want_ev *e = &sc->ev[i];
        if (rec->ev[i].type != e->type || rec->ev[i].last != e->last ||
            (e->status >= 0 && rec->ev[i].status != e->status) || rec->ev[i].end != e->end)
            fail_msg("%s: event %d is type %d last %d status 0x%x end %zu; expected type %d "
                     "last %d status 0x%x end %zu",
                     what, i, rec->ev[i].type, rec->ev[i].last, rec->ev[i].status, rec->ev[i].end,
                     e->type, e->last, e->status, e->end);
        if (e->payload_len < BIG &&
            (rec->ev[i].seq != e->seq || rec->ev[i].payload_len != e->payload_len))
            fail_msg("%s: event %d seq %u len %u; expected seq %u len %u", what, i,
                     rec->ev[i].seq, rec->ev[i].payload_len, e->seq, e->payload_len);
    }
    const want_ev *lastev = sc->nev ? &sc->ev[sc->nev - 1] : NULL;
    if (lastev) {
        int ended_err = lastev->type == WALK_EV_ERR;
        if (!!w.got_err != ended_err)
            fail_msg("%s: got_err %d", what, w.got_err);
        if ((lastev->type == WALK_EV_OK || lastev->type == WALK_EV_EOF) && lastev->status >= 0 &&
            w.last_status != lastev->status)
            fail_msg("%s: last_status 0x%x, expected 0x%x", what, w.last_status, lastev->status);
    }
    free(rec);
}

/* Every slicing of a small stream. */
static void walk_all(const scenario *sc)
{
    size_t n = sc->s.len;
    slicer sl = {.mode = SL_WHOLE};
    walk_once(sc, sl, 1);
    for (size_t k = 1; k < n; k++) {
        slicer c = {.mode = SL_CUTS, .cuts = {k, 0}, .ncuts = 1};
        walk_once(sc, c, 1);
    }
    if (n <= 400) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = i + 1; j < n; j++) {
                slicer c = {.mode = SL_CUTS, .cuts = {i, j}, .ncuts = 2};
                walk_once(sc, c, 1);
            }
    }
    const size_t fixed[] = {1, 2, 3, 4, 5, 7, 13};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        slicer c = {.mode = SL_FIXED, .fixed = fixed[i]};
        walk_once(sc, c, 1);
    }
    for (uint32_t seed = 1; seed <= 30; seed++) {
        slicer c = {.mode = SL_RANDOM, .rng = seed, .maxrand = 1 + seed % 23};
        walk_once(sc, c, 1);
    }
}

/* The same scenario followed by the first bytes of the next answer. */
static void walk_with_trailer(scenario *sc)
{
    walk_all(sc);
    if (sc->expect_error)
        return;
    static const uint8_t next[] = {0x07, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00,
                                   0x00, 0x01, 0x00, 0x00, 0x01, 0x02};
    size_t keep = sc->s.len;
    bb_put(&sc->s, next, sizeof next);
    char name[96];
    memcpy(name, sc->name, sizeof name);
    snprintf(sc->name, sizeof sc->name, "%.80s+trailer", name);
    walk_all(sc);
    sc->s.len = keep;
    memcpy(sc->name, name, sizeof name);
}

static void sc_free(scenario *sc)
{
    bb_free(&sc->s);
}

static const uint32_t BOTH_CAPS[] = {CAPS_EOF, CAPS_DEOF};

/* ---- answers captured from MariaDB 10.11.19: RE_* without, RD_* with CLIENT_DEPRECATE_EOF ---- */
static const char RE_Q_SELECT[] =
    "010000010220000002036465660474657374017401740269640269640c3f000b0000000303500000001e0000"
    "0303646566047465737401740174017601760c2d0050000000fd000000000005000004fe0000220004000005"
    "013101610400000601320162030000070133fb05000008fe00002200";
static const char RE_Q_OK[] =
    "300000010000000200000028526f7773206d6174636865643a203120204368616e6765643a20302020576172"
    "6e696e67733a2030";
static const char RE_Q_ERR[] =
    "2f000001ff7a042334325330325461626c652027746573742e6e6f6e6578697374656e742720646f65736e27"
    "74206578697374";
static const char RE_Q_CALL[] =
    "010000010117000002036465660000000178000c3f000100000003810000000005000003fe00000a00020000"
    "04013105000005fe00000a00010000060217000007036465660000000179000c3f0001000000038100000000"
    "1700000803646566000000017a000c3f000100000003810000000005000009fe00000a000400000a01320133"
    "0500000bfe00000a000700000c00000002000000";
static const char RE_Q_MULTI[] =
    "010000010117000002036465660000000131000c3f000100000003810000000005000003fe00000a00020000"
    "04013105000005fe00000a00300000060000000a00000028526f7773206d6174636865643a20312020436861"
    "6e6765643a203020205761726e696e67733a2030010000070117000008036465660000000132000c3f000100"
    "000003810000000005000009fe000002000200000a01320500000bfe00000200";
static const char RE_Q_TRACK2[] =
    "0700000100000002000000";
static const char RE_FIELD_LIST[] =
    "22000001036465660474657374017401740269640269640c3f000b00000003035000000001301f0000020364"
    "6566047465737401740174017601760c2d0050000000fd0000000000fb05000003fe00000200";
static const char RE_STATISTICS[] =
    "71000001557074696d653a2033352020546872656164733a203120205175657374696f6e733a203232202053"
    "6c6f7720717565726965733a203020204f70656e733a20323220204f70656e207461626c65733a2031352020"
    "5175657269657320706572207365636f6e64206176673a20302e363238";
static const char RE_PREP2[] =
    "0c0000010001000000030002000000001700000203646566000000013f000c3f000000000006800000000017"
    "00000303646566000000013f000c3f000000000006800000000005000004fe00000200170000050364656600"
    "0000013f000c3f000000000006800000000020000006036465660474657374017401740269640269640c3f00"
    "0b0000000303500000001e00000703646566047465737401740174017601760c2d0050000000fd0000000000"
    "05000008fe00000200";
static const char RE_PREP0[] =
    "0c000001000200000000000000000000";
static const char RE_EXEC[] =
    "01000001031700000203646566000000013f000c3f0015000000088100000000200000030364656604746573"
    "74017401740269640269640c3f000b0000000303500000001e00000403646566047465737401740174017601"
    "760c2d0050000000fd000000000005000005fe00000200100000060000050000000000000001000000016110"
    "000007000005000000000000000200000001620e000008001005000000000000000300000005000009fe0000"
    "0200";
static const char RE_EXEC_CURSOR[] =
    "01000001031800000203646566000000013f013f0c3f00150000000801000000002000000303646566047465"
    "7374017401740269640269640c3f000b0000000301100000001e000004036465660474657374017401740176"
    "01760c2d0050000000fd000000000005000005fe00004200";
static const char RE_FETCH[] =
    "1000000100000500000000000000010000000161100000020000050000000000000002000000016205000003"
    "fe00004200";
static const char RE_FETCH2[] =
    "0e000001001005000000000000000300000005000002fe00008200";
static const char RE_EXEC0[] =
    "0700000100000002000000";
static const char RE_INFILE_REQ[] =
    "06000001fb782e637376";
static const char RE_INFILE_OK[] =
    "37000004000200020000002f5265636f7264733a2032202044656c657465643a20302020536b69707065643a"
    "203020205761726e696e67733a2030";
static const char RE_PING[] =
    "0700000100000002000000";
static const char RD_Q_SELECT[] =
    "010000010220000002036465660474657374017401740269640269640c3f000b0000000303500000001e0000"
    "0303646566047465737401740174017601760c2d0050000000fd000000000004000004013101610400000501"
    "320162030000060133fb07000007fe000022000000";
static const char RD_Q_OK[] =
    "300000010000000200000028526f7773206d6174636865643a203120204368616e6765643a20302020576172"
    "6e696e67733a2030";
static const char RD_Q_ERR[] =
    "2f000001ff7a042334325330325461626c652027746573742e6e6f6e6578697374656e742720646f65736e27"
    "74206578697374";
static const char RD_Q_CALL[] =
    "010000010117000002036465660000000178000c3f000100000003810000000002000003013107000004fe00"
    "000a000000010000050217000006036465660000000179000c3f000100000003810000000017000007036465"
    "66000000017a000c3f0001000000038100000000040000080132013307000009fe00000a0000000700000a00"
    "000002000000";
static const char RD_Q_MULTI[] =
    "010000010117000002036465660000000131000c3f000100000003810000000002000003013107000004fe00"
    "000a000000300000050000000a00000028526f7773206d6174636865643a203120204368616e6765643a2030"
    "20205761726e696e67733a2030010000060117000007036465660000000132000c3f00010000000381000000"
    "0002000008013207000009fe000002000000";
static const char RD_Q_TRACK2[] =
    "1f00000100000002400000001600110974696d655f7a6f6e65062b30313a3030020131";
static const char RD_FIELD_LIST[] =
    "22000001036465660474657374017401740269640269640c3f000b00000003035000000001301f0000020364"
    "6566047465737401740174017601760c2d0050000000fd0000000000fb07000003fe000002000000";
static const char RD_STATISTICS[] =
    "71000001557074696d653a2034362020546872656164733a203120205175657374696f6e733a203439202053"
    "6c6f7720717565726965733a203020204f70656e733a20323320204f70656e207461626c65733a2031352020"
    "5175657269657320706572207365636f6e64206176673a20312e303635";
static const char RD_PREP2[] =
    "0c0000010003000000030002000000001700000203646566000000013f000c3f000000000006800000000017"
    "00000303646566000000013f000c3f00000000000680000000001700000403646566000000013f000c3f0000"
    "00000006800000000020000005036465660474657374017401740269640269640c3f000b0000000303500000"
    "001e00000603646566047465737401740174017601760c2d0050000000fd0000000000";
static const char RD_PREP0[] =
    "0c000001000400000000000000000000";
static const char RD_EXEC[] =
    "01000001031700000203646566000000013f000c3f0015000000088100000000200000030364656604746573"
    "74017401740269640269640c3f000b0000000303500000001e00000403646566047465737401740174017601"
    "760c2d0050000000fd0000000000100000050000050000000000000001000000016110000006000005000000"
    "000000000200000001620e000007001005000000000000000300000007000008fe000002000000";
static const char RD_EXEC_CURSOR[] =
    "01000001031800000203646566000000013f013f0c3f00150000000801000000002000000303646566047465"
    "7374017401740269640269640c3f000b0000000301100000001e000004036465660474657374017401740176"
    "01760c2d0050000000fd000000000007000005fe000042000000";
static const char RD_FETCH[] =
    "1000000100000500000000000000010000000161100000020000050000000000000002000000016207000003"
    "fe000042000000";
static const char RD_FETCH2[] =
    "0e000001001005000000000000000300000007000002fe000082000000";
static const char RD_EXEC0[] =
    "0700000100000002000000";
static const char RD_INFILE_REQ[] =
    "06000001fb782e637376";
static const char RD_INFILE_OK[] =
    "37000004000200020000002f5265636f7264733a2032202044656c657465643a20302020536b69707065643a"
    "203020205761726e696e67733a2030";
static const char RD_PING[] =
    "0700000100000002000000";

/* ================= synthetic scenarios ================= */

static void test_ok(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        scenario sc;
        sc_init(&sc, "ok", RESP_QUERY, BOTH_CAPS[c], 0);
        add_ok(&sc, 1, ST_AC | SERVER_STATUS_IN_TRANS, 1);
        walk_with_trailer(&sc);
        sc_free(&sc);

        /* an OK with info and session-track data */
        sc_init(&sc, "ok_track", RESP_QUERY, BOTH_CAPS[c], 0);
        ADD(&sc, {
            p_ok(b, 0, ST_AC | SERVER_SESSION_STATE_CHANGED, "");
            bb_lstr(b, "\x01\x05\x04test");
        });
        sc_want(&sc, WALK_EV_OK, 1, ST_AC | SERVER_SESSION_STATE_CHANGED);
        walk_with_trailer(&sc);
        sc_free(&sc);
    }
}

/* Every kind of answer can be a single ERR. */
static void test_err_every_kind(void **state)
{
    (void)state;
    const proto_resp_kind kinds[] = {RESP_SINGLE, RESP_STRING, RESP_QUERY, RESP_FIELD_LIST,
                                     RESP_PREPARE, RESP_EXECUTE, RESP_FETCH};
    for (int c = 0; c < 2; c++) {
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            scenario sc;
            char name[32];
            snprintf(name, sizeof name, "err_kind%d", (int)kinds[k]);
            sc_init(&sc, name, kinds[k], BOTH_CAPS[c], kinds[k] == RESP_EXECUTE);
            add_err(&sc, 1146, "Table 'test.nope' doesn't exist");
            walk_with_trailer(&sc);
            sc_free(&sc);
        }
    }
}

static void test_text_resultset(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        scenario sc;
        sc_init(&sc, "rs_3x5", RESP_QUERY, BOTH_CAPS[c], 0);
        add_resultset(&sc, 3, 5, ST_AC | SERVER_QUERY_NO_INDEX_USED);
        walk_with_trailer(&sc);
        sc_free(&sc);

        sc_init(&sc, "rs_empty", RESP_QUERY, BOTH_CAPS[c], 0);
        add_resultset(&sc, 2, 0, ST_AC);
        walk_with_trailer(&sc);
        sc_free(&sc);

        /* 251 columns: the column count is a 3-byte lenenc (fc fb 00) */
        sc_init(&sc, "rs_251cols", RESP_QUERY, BOTH_CAPS[c], 0);
        add_resultset(&sc, 251, 2, ST_AC);
        assert_int_equal(sc.s.d[4], 0xfc);
        assert_int_equal(sc.s.d[5], 0xfb);
        walk_with_trailer(&sc);
        sc_free(&sc);
    }
}

/* The walker counts the rows of every result of an answer (SHOW DIGESTS reports them). */
static void test_counts_rows(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        scenario sc;
        sc_init(&sc, "rows_count", RESP_QUERY, BOTH_CAPS[c], 0);
        add_resultset(&sc, 3, 5, ST_AC | SERVER_MORE_RESULTS_EXISTS);
        add_resultset(&sc, 1, 2, ST_AC);
        proto_walker w;
        proto_walker_start(&w, RESP_QUERY, BOTH_CAPS[c], 0, NULL, NULL);
        assert_int_equal(proto_walker_feed(&w, sc.s.d, sc.s.len), sc.s.len);
        assert_true(proto_walker_done(&w));
        assert_int_equal(w.rows, 7);
        proto_walker_start(&w, RESP_QUERY, BOTH_CAPS[c], 0, NULL, NULL);
        assert_int_equal(w.rows, 0);
        sc_free(&sc);
    }
}

/* A statement killed while sending rows ends with ERR. */
static void test_rows_then_err(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        scenario sc;
        sc_init(&sc, "rows_err", RESP_QUERY, BOTH_CAPS[c], 0);
        add_cols(&sc, 2, ST_AC, 1);
        add_text_rows(&sc, 2, 3);
        add_err(&sc, 1317, "Query execution was interrupted");
        walk_with_trailer(&sc);
        sc_free(&sc);
    }
}

/* CALL: two result sets, each announcing more, then the final OK. */
static void test_multi_call(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        scenario sc;
        sc_init(&sc, "call", RESP_QUERY, BOTH_CAPS[c], 0);
        add_resultset(&sc, 1, 1, ST_AC | ST_MORE);
        add_resultset(&sc, 2, 2, ST_AC | ST_MORE);
        add_ok(&sc, 0, ST_AC, 1);
        walk_with_trailer(&sc);
        sc_free(&sc);
    }
}

/* Multi-statement COM_QUERY: result sets and OKs chained by MORE_RESULTS. */
static void test_multi_statements(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        scenario sc;
        sc_init(&sc, "multi_rs_ok_ok_err", RESP_QUERY, BOTH_CAPS[c], 0);
        add_resultset(&sc, 1, 2, ST_AC | ST_MORE);
        add_ok(&sc, 1, ST_AC | ST_MORE, 0);
        add_ok(&sc, 2, ST_AC | ST_MORE | SERVER_STATUS_IN_TRANS, 0);
        add_err(&sc, 1062, "Duplicate entry '1' for key 'PRIMARY'");
        walk_with_trailer(&sc);
        sc_free(&sc);

        sc_init(&sc, "multi_ok_rs", RESP_QUERY, BOTH_CAPS[c], 0);
        add_ok(&sc, 0, ST_AC | ST_MORE, 0);
        add_resultset(&sc, 2, 1, ST_AC);
        walk_with_trailer(&sc);
        sc_free(&sc);

        sc_init(&sc, "multi_rs_empty_rs", RESP_QUERY, BOTH_CAPS[c], 0);
        add_resultset(&sc, 1, 0, ST_AC | ST_MORE);
        add_resultset(&sc, 1, 0, ST_AC);
        walk_with_trailer(&sc);
        sc_free(&sc);
    }
}

static void add_infile(scenario *sc)
{
    ADD(sc, {
        bb_u8(b, PKT_LOCAL_INFILE);
        bb_put(b, "/tmp/data.csv", 13);
    });
    sc_want(sc, WALK_EV_INFILE, 0, -1);
    sc->infile_at = sc->last_end;
    sc->seq += 2; /* the client sent one file packet and the empty one */
}

static void test_local_infile(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        scenario sc;
        sc_init(&sc, "infile_ok", RESP_QUERY, BOTH_CAPS[c], 0);
        add_infile(&sc);
        add_ok(&sc, 2, ST_AC, 1);
        walk_with_trailer(&sc);
        sc_free(&sc);

        sc_init(&sc, "infile_err", RESP_QUERY, BOTH_CAPS[c], 0);
        add_infile(&sc);
        add_err(&sc, 1148, "The used command is not allowed with this MariaDB version");
        walk_with_trailer(&sc);
        sc_free(&sc);

        /* "SELECT 1; LOAD DATA LOCAL INFILE ...": a result set, then the request */
        sc_init(&sc, "rs_infile_ok", RESP_QUERY, BOTH_CAPS[c], 0);
        add_resultset(&sc, 1, 1, ST_AC | ST_MORE);
        add_infile(&sc);
        add_ok(&sc, 3, ST_AC, 1);
        walk_with_trailer(&sc);
        sc_free(&sc);
    }
}

/* A null-first-column row (0xfb) in a result set is a row, not a LOCAL INFILE request. */
static void test_row_starting_fb(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        scenario sc;
        sc_init(&sc, "row_fb", RESP_QUERY, BOTH_CAPS[c], 0);
        add_cols(&sc, 1, ST_AC, 1);
        ADD(&sc, bb_u8(b, 0xfb));
        ADD(&sc, bb_u8(b, 0xfb));
        add_end(&sc, ST_AC, 1);
        walk_with_trailer(&sc);
        sc_free(&sc);
    }
}

static void add_params(scenario *sc, int n, uint16_t status, int last)
{
    for (int i = 0; i < n; i++)
        ADD(sc, p_coldef(b, "?"));
    if (!IS_DEOF(sc->caps)) {
        ADD(sc, p_eof(b, status));
        sc_want(sc, WALK_EV_EOF, last, status);
    }
}

static void prepare_case(uint32_t caps, uint16_t params, uint16_t cols)
{
    scenario sc;
    char name[48];
    snprintf(name, sizeof name, "prepare_%up_%uc", params, cols);
    sc_init(&sc, name, RESP_PREPARE, caps, 0);
    ADD(&sc, p_prep_ok(b, 7, cols, params));
    sc_want(&sc, WALK_EV_PREPARE_OK, params == 0 && cols == 0, -1);
    if (params)
        add_params(&sc, params, ST_AC, cols == 0);
    if (cols)
        add_params(&sc, cols, ST_AC, 1);
    walk_with_trailer(&sc);
    sc_free(&sc);
}

static void test_prepare(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        prepare_case(BOTH_CAPS[c], 2, 3);
        prepare_case(BOTH_CAPS[c], 0, 0);
        prepare_case(BOTH_CAPS[c], 1, 0);
        prepare_case(BOTH_CAPS[c], 0, 2);
        prepare_case(BOTH_CAPS[c], 300, 1); /* param count over 255 */
    }
}

static void test_execute_binary(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        scenario sc;
        sc_init(&sc, "exec_rs", RESP_EXECUTE, BOTH_CAPS[c], 0);
        add_cols(&sc, 2, ST_AC, 1);
        add_bin_rows(&sc, 2, 3); /* rows start with 0x00: not OK packets */
        add_end(&sc, ST_AC, 1);
        walk_with_trailer(&sc);
        sc_free(&sc);

        sc_init(&sc, "exec_ok", RESP_EXECUTE, BOTH_CAPS[c], 0);
        add_ok(&sc, 5, ST_AC, 1);
        walk_with_trailer(&sc);
        sc_free(&sc);

        /* a prepared CALL: binary result set announcing more, then OK */
        sc_init(&sc, "exec_call", RESP_EXECUTE, BOTH_CAPS[c], 0);
        add_cols(&sc, 1, ST_AC | ST_MORE, 1);
        add_bin_rows(&sc, 1, 2);
        add_end(&sc, ST_AC | ST_MORE | SERVER_PS_OUT_PARAMS, 0);
        add_ok(&sc, 0, ST_AC, 1);
        walk_with_trailer(&sc);
        sc_free(&sc);
    }
}

static void test_execute_cursor(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        /* cursor opened: column definitions, then a terminator with CURSOR_EXISTS; no rows */
        scenario sc;
        sc_init(&sc, "exec_cursor", RESP_EXECUTE, BOTH_CAPS[c], 1);
        add_cols(&sc, 3, 0, 0);
        add_end(&sc, ST_AC | SERVER_STATUS_CURSOR_EXISTS, 1);
        walk_with_trailer(&sc);
        sc_free(&sc);

        /* cursor asked for, statement returned no result set */
        sc_init(&sc, "exec_cursor_ok", RESP_EXECUTE, BOTH_CAPS[c], 1);
        add_ok(&sc, 1, ST_AC, 1);
        walk_with_trailer(&sc);
        sc_free(&sc);

        /* cursor asked for but not opened by the server: the rows come at once */
        sc_init(&sc, "exec_cursor_not_opened", RESP_EXECUTE, BOTH_CAPS[c], 1);
        add_cols(&sc, 1, ST_AC, 1);
        add_bin_rows(&sc, 1, 2);
        add_end(&sc, ST_AC, 1);
        walk_with_trailer(&sc);
        sc_free(&sc);
    }
}

static void test_fetch(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        scenario sc;
        sc_init(&sc, "fetch", RESP_FETCH, BOTH_CAPS[c], 0);
        add_bin_rows(&sc, 2, 3);
        add_end(&sc, ST_AC | SERVER_STATUS_CURSOR_EXISTS, 1);
        walk_with_trailer(&sc);
        sc_free(&sc);

        sc_init(&sc, "fetch_last", RESP_FETCH, BOTH_CAPS[c], 0);
        add_bin_rows(&sc, 2, 1);
        add_end(&sc, ST_AC | SERVER_STATUS_LAST_ROW_SENT, 1);
        walk_with_trailer(&sc);
        sc_free(&sc);

        sc_init(&sc, "fetch_none", RESP_FETCH, BOTH_CAPS[c], 0);
        add_end(&sc, ST_AC | SERVER_STATUS_LAST_ROW_SENT, 1);
        walk_with_trailer(&sc);
        sc_free(&sc);
    }
}

static void test_field_list(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        scenario sc;
        sc_init(&sc, "field_list", RESP_FIELD_LIST, BOTH_CAPS[c], 0);
        for (int i = 0; i < 3; i++)
            ADD(&sc, {
                p_coldef(b, "col");
                bb_u8(b, 0xfb); /* default value: NULL */
            });
        add_end(&sc, ST_AC, 1);
        walk_with_trailer(&sc);
        sc_free(&sc);

        sc_init(&sc, "field_list_empty", RESP_FIELD_LIST, BOTH_CAPS[c], 0);
        add_end(&sc, ST_AC, 1);
        walk_with_trailer(&sc);
        sc_free(&sc);
    }
}

static void test_statistics(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        scenario sc;
        sc_init(&sc, "statistics", RESP_STRING, BOTH_CAPS[c], 0);
        ADD(&sc, bb_put(b, "Uptime: 35  Threads: 1  Questions: 22  Slow queries: 0", 55));
        sc_want(&sc, WALK_EV_STRING, 1, -1);
        walk_with_trailer(&sc);
        sc_free(&sc);
    }
}

static void test_single(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        scenario sc;
        sc_init(&sc, "single_ok", RESP_SINGLE, BOTH_CAPS[c], 0);
        add_ok(&sc, 0, ST_AC, 1);
        walk_with_trailer(&sc);
        sc_free(&sc);

        /* COM_DEBUG / COM_SHUTDOWN on old servers answer with an EOF */
        sc_init(&sc, "single_eof", RESP_SINGLE, BOTH_CAPS[c], 0);
        ADD(&sc, p_eof(b, ST_AC));
        sc_want(&sc, WALK_EV_EOF, 1, ST_AC);
        walk_with_trailer(&sc);
        sc_free(&sc);
    }
}

static void test_none(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        scenario sc;
        sc_init(&sc, "none", RESP_NONE, BOTH_CAPS[c], 0);
        /* only bytes of a later answer: none of them belongs to this command */
        static const uint8_t next[] = {0x07, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00};
        bb_put(&sc.s, next, sizeof next);
        sc.resp_len = 0;
        walk_all(&sc);
        sc_free(&sc);
    }
}

/* An ERR with a message longer than the capture: the first 4096 bytes are captured. */
static void test_long_err_capture(void **state)
{
    (void)state;
    char *msg = malloc(5001);
    for (int i = 0; i < 5000; i++)
        msg[i] = (char)('a' + i % 26);
    msg[5000] = 0;
    scenario sc;
    sc_init(&sc, "long_err", RESP_QUERY, CAPS_DEOF, 0);
    add_err(&sc, 1064, msg);
    slicer whole = {.mode = SL_WHOLE};
    walk_once(&sc, whole, 1);
    for (size_t k = 1; k < sc.s.len; k += 7) {
        slicer cut = {.mode = SL_CUTS, .cuts = {k, 0}, .ncuts = 1};
        walk_once(&sc, cut, 1);
    }
    slicer bytewise = {.mode = SL_FIXED, .fixed = 1};
    walk_once(&sc, bytewise, 1);
    sc_free(&sc);
    free(msg);
}

/* ================= 16 MiB rows ================= */

/* Walks a big stream: whole, byte by byte, fixed and random chunks, and cuts around
 * every physical header (no per-chunk copies). */
static void walk_big(const scenario *sc)
{
    slicer whole = {.mode = SL_WHOLE};
    walk_once(sc, whole, 0);
    const size_t fixed[] = {1, 4093, 65536, 1000003};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        slicer f = {.mode = SL_FIXED, .fixed = fixed[i]};
        walk_once(sc, f, 0);
    }
    for (uint32_t seed = 1; seed <= 3; seed++) {
        slicer r = {.mode = SL_RANDOM, .rng = seed, .maxrand = 3000000};
        walk_once(sc, r, 0);
    }
    /* cuts around each header */
    size_t off = 0;
    while (off + 4 <= sc->s.len) {
        size_t plen = proto_u24(sc->s.d + off);
        for (long d = -6; d <= 12; d++) {
            long k = (long)off + d;
            if (k <= 0 || (size_t)k >= sc->s.len)
                continue;
            slicer c = {.mode = SL_CUTS, .cuts = {(size_t)k, 0}, .ncuts = 1};
            walk_once(sc, c, 0);
        }
        off += 4 + plen;
    }
}

/* A text row of exactly 0xffffff + extra bytes whose first column is a string with an
 * 8-byte length (0xfe + 8 bytes; minimal for extra >= 10, padded below that), so the row
 * starts with 0xfe; the continuation packet holds `tail`. */
static void add_big_text_row(scenario *sc, const uint8_t *tail, size_t extra)
{
    bytes b = {0};
    size_t total = (size_t)BIG + extra;
    bb_need(&b, total);
    bb_u8(&b, 0xfe);
    bb_uint(&b, total - 9, 8);
    size_t fill = total - 9 - extra;
    memset(b.d + b.len, 'x', fill);
    b.len += fill;
    bb_put(&b, tail, extra);
    sc_pkt(sc, &b);
    bb_free(&b);
}

static void test_big_text_row(void **state)
{
    (void)state;
    /* continuation packets that look like an EOF, an OK terminator, an ERR, or are empty */
    static const uint8_t eof_like[] = {0xfe, 0x00, 0x00, 0x02, 0x00};
    static const uint8_t ok_like[] = {0xfe, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00};
    static const uint8_t err_like[] = {0xff, 0x15, 0x04, '#', '2', '8', '0', '0', '0'};
    static const uint8_t ok16[] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x08,
                                   'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'};
    const uint8_t *tails[] = {NULL, eof_like, ok_like, err_like, ok16};
    const size_t tail_len[] = {0, sizeof eof_like, sizeof ok_like, sizeof err_like, sizeof ok16};
    for (int c = 0; c < 2; c++) {
        for (int t = 0; t < 5; t++) {
            scenario sc;
            char name[40];
            snprintf(name, sizeof name, "big_row_plus_%zu", tail_len[t]);
            sc_init(&sc, name, RESP_QUERY, BOTH_CAPS[c], 0);
            add_cols(&sc, 1, ST_AC, 1);
            add_big_text_row(&sc, tails[t], tail_len[t]);
            add_text_rows(&sc, 1, 1);
            add_end(&sc, ST_AC, 1);
            walk_big(&sc);
            /* and followed by the next answer's bytes */
            static const uint8_t next[] = {0x07, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00};
            bb_put(&sc.s, next, sizeof next);
            slicer whole = {.mode = SL_WHOLE};
            walk_once(&sc, whole, 0);
            slicer f = {.mode = SL_FIXED, .fixed = 65521};
            walk_once(&sc, f, 0);
            sc_free(&sc);
        }
    }
}

/* Two full 0xffffff packets and a tail: a 32 MiB row. */
static void test_huge_text_row(void **state)
{
    (void)state;
    scenario sc;
    sc_init(&sc, "row_32m", RESP_QUERY, CAPS_DEOF, 0);
    add_cols(&sc, 1, ST_AC, 1);
    bytes b = {0};
    size_t total = 2 * (size_t)BIG + 3;
    bb_need(&b, total);
    bb_lenenc(&b, total - 9);
    memset(b.d + b.len, 'y', total - b.len);
    b.len = total;
    b.d[BIG] = 0xfe;     /* first byte of the second physical packet */
    b.d[2 * BIG] = 0xfe; /* first byte of the third */
    sc_pkt(&sc, &b);
    bb_free(&b);
    add_end(&sc, ST_AC, 1);
    slicer whole = {.mode = SL_WHOLE};
    walk_once(&sc, whole, 0);
    slicer f = {.mode = SL_FIXED, .fixed = 1};
    walk_once(&sc, f, 0);
    slicer g = {.mode = SL_FIXED, .fixed = 4099};
    walk_once(&sc, g, 0);
    sc_free(&sc);
}

/* Binary row of 0xffffff + 7 bytes starting with 0x00 whose continuation looks like an
 * OK-style terminator. */
static void test_big_binary_row(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        scenario sc;
        sc_init(&sc, "big_binary_row", RESP_EXECUTE, BOTH_CAPS[c], 0);
        add_cols(&sc, 1, ST_AC, 1);
        bytes b = {0};
        size_t total = (size_t)BIG + 7;
        bb_need(&b, total);
        bb_u8(&b, 0x00);
        bb_u8(&b, 0x00);
        bb_lenenc(&b, total - 11);
        memset(b.d + b.len, 'z', total - b.len);
        b.len = total;
        memcpy(b.d + BIG, "\xfe\x00\x00\x02\x00\x00\x00", 7);
        sc_pkt(&sc, &b);
        bb_free(&b);
        add_bin_rows(&sc, 1, 1);
        add_end(&sc, ST_AC, 1);
        walk_big(&sc);
        sc_free(&sc);
    }
}

/* ================= malformed streams ================= */

static void malformed(const char *name, proto_resp_kind kind, const uint8_t *bytes_, size_t n)
{
    for (int c = 0; c < 2; c++) {
        scenario sc;
        sc_init(&sc, name, kind, BOTH_CAPS[c], 0);
        bb_put(&sc.s, bytes_, n);
        sc.expect_error = 1;
        walk_all(&sc);
        sc_free(&sc);
    }
}

static void test_malformed(void **state)
{
    (void)state;
    /* an empty first packet */
    static const uint8_t empty[] = {0x00, 0x00, 0x00, 0x01, 0x07, 0x00, 0x00, 0x02, 0x00, 0x00,
                                    0x00, 0x02, 0x00, 0x00, 0x00};
    malformed("empty_first", RESP_QUERY, empty, sizeof empty);
    /* a column count whose lenenc runs past its packet */
    static const uint8_t cc[] = {0x02, 0x00, 0x00, 0x01, 0xfc, 0x01, 0x05, 0x00, 0x00, 0x02,
                                 0xfe, 0x00, 0x00, 0x02, 0x00};
    malformed("bad_column_count", RESP_QUERY, cc, sizeof cc);
    /* a prepare-OK cut short */
    static const uint8_t prep[] = {0x04, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00};
    malformed("short_prepare_ok", RESP_PREPARE, prep, sizeof prep);
}

/* ================= real answers captured from MariaDB 10.11.19 ================= */

/* One expected event of a captured answer: the packet index it ends with. */
typedef struct {
    int pkt;    /* index of the (physical) packet, -1 ends the list */
    int type;   /* event type */
    int last;   /* last flag */
    int status; /* status, or -1 */
} real_ev;

typedef struct {
    const char *name;      /* command */
    const char *hex;       /* server bytes */
    const char *hex2;      /* after LOCAL INFILE: the server's answer, or NULL */
    proto_resp_kind kind;  /* how the command is answered */
    uint32_t caps;         /* client capabilities used for the capture */
    int cursor;            /* cursor requested */
    real_ev ev[8];         /* expected events */
} real_case;

#define E_OK  WALK_EV_OK
#define E_ERR WALK_EV_ERR
#define E_EOF WALK_EV_EOF
#define E_INF WALK_EV_INFILE
#define E_PRE WALK_EV_PREPARE_OK
#define E_STR WALK_EV_STRING
#define END {-1, 0, 0, 0}

static const real_case REAL[] = {
    /* without DEPRECATE_EOF */
    {"select", RE_Q_SELECT, NULL, RESP_QUERY, CAPS_EOF, 0,
     {{3, E_EOF, 0, 0x22}, {7, E_EOF, 1, 0x22}, END}},
    {"update", RE_Q_OK, NULL, RESP_QUERY, CAPS_EOF, 0, {{0, E_OK, 1, 0x02}, END}},
    {"error", RE_Q_ERR, NULL, RESP_QUERY, CAPS_EOF, 0, {{0, E_ERR, 1, -1}, END}},
    {"call", RE_Q_CALL, NULL, RESP_QUERY, CAPS_EOF, 0,
     {{2, E_EOF, 0, 0x0a}, {4, E_EOF, 0, 0x0a}, {8, E_EOF, 0, 0x0a}, {10, E_EOF, 0, 0x0a},
      {11, E_OK, 1, 0x02}, END}},
    {"multi", RE_Q_MULTI, NULL, RESP_QUERY, CAPS_EOF, 0,
     {{2, E_EOF, 0, 0x0a}, {4, E_EOF, 0, 0x0a}, {5, E_OK, 0, 0x0a}, {8, E_EOF, 0, 0x02},
      {10, E_EOF, 1, 0x02}, END}},
    {"field_list", RE_FIELD_LIST, NULL, RESP_FIELD_LIST, CAPS_EOF, 0, {{2, E_EOF, 1, 0x02}, END}},
    {"statistics", RE_STATISTICS, NULL, RESP_STRING, CAPS_EOF, 0, {{0, E_STR, 1, -1}, END}},
    {"prepare", RE_PREP2, NULL, RESP_PREPARE, CAPS_EOF, 0,
     {{0, E_PRE, 0, -1}, {3, E_EOF, 0, 0x02}, {7, E_EOF, 1, 0x02}, END}},
    {"prepare0", RE_PREP0, NULL, RESP_PREPARE, CAPS_EOF, 0, {{0, E_PRE, 1, -1}, END}},
    {"execute", RE_EXEC, NULL, RESP_EXECUTE, CAPS_EOF, 0,
     {{4, E_EOF, 0, 0x02}, {8, E_EOF, 1, 0x02}, END}},
    {"execute_cursor", RE_EXEC_CURSOR, NULL, RESP_EXECUTE, CAPS_EOF, 1,
     {{4, E_EOF, 1, 0x42}, END}},
    {"fetch", RE_FETCH, NULL, RESP_FETCH, CAPS_EOF, 0, {{2, E_EOF, 1, 0x42}, END}},
    {"fetch_last", RE_FETCH2, NULL, RESP_FETCH, CAPS_EOF, 0, {{1, E_EOF, 1, 0x82}, END}},
    {"execute_do", RE_EXEC0, NULL, RESP_EXECUTE, CAPS_EOF, 0, {{0, E_OK, 1, 0x02}, END}},
    {"load_data_local", RE_INFILE_REQ, RE_INFILE_OK, RESP_QUERY, CAPS_EOF, 0,
     {{0, E_INF, 0, -1}, {1, E_OK, 1, 0x02}, END}},
    {"ping", RE_PING, NULL, RESP_SINGLE, CAPS_EOF, 0, {{0, E_OK, 1, 0x02}, END}},
    {"set_untracked", RE_Q_TRACK2, NULL, RESP_QUERY, CAPS_EOF, 0, {{0, E_OK, 1, 0x02}, END}},
    /* with DEPRECATE_EOF and SESSION_TRACK */
    {"select", RD_Q_SELECT, NULL, RESP_QUERY, CAPS_DEOF, 0, {{6, E_EOF, 1, 0x22}, END}},
    {"update", RD_Q_OK, NULL, RESP_QUERY, CAPS_DEOF, 0, {{0, E_OK, 1, 0x02}, END}},
    {"error", RD_Q_ERR, NULL, RESP_QUERY, CAPS_DEOF, 0, {{0, E_ERR, 1, -1}, END}},
    {"call", RD_Q_CALL, NULL, RESP_QUERY, CAPS_DEOF, 0,
     {{3, E_EOF, 0, 0x0a}, {8, E_EOF, 0, 0x0a}, {9, E_OK, 1, 0x02}, END}},
    {"multi", RD_Q_MULTI, NULL, RESP_QUERY, CAPS_DEOF, 0,
     {{3, E_EOF, 0, 0x0a}, {4, E_OK, 0, 0x0a}, {8, E_EOF, 1, 0x02}, END}},
    {"set_tracked", RD_Q_TRACK2, NULL, RESP_QUERY, CAPS_DEOF, 0, {{0, E_OK, 1, 0x4002}, END}},
    {"field_list", RD_FIELD_LIST, NULL, RESP_FIELD_LIST, CAPS_DEOF, 0, {{2, E_EOF, 1, 0x02}, END}},
    {"statistics", RD_STATISTICS, NULL, RESP_STRING, CAPS_DEOF, 0, {{0, E_STR, 1, -1}, END}},
    {"prepare", RD_PREP2, NULL, RESP_PREPARE, CAPS_DEOF, 0, {{0, E_PRE, 0, -1}, END}},
    {"prepare0", RD_PREP0, NULL, RESP_PREPARE, CAPS_DEOF, 0, {{0, E_PRE, 1, -1}, END}},
    {"execute", RD_EXEC, NULL, RESP_EXECUTE, CAPS_DEOF, 0, {{7, E_EOF, 1, 0x02}, END}},
    {"execute_cursor", RD_EXEC_CURSOR, NULL, RESP_EXECUTE, CAPS_DEOF, 1,
     {{4, E_EOF, 1, 0x42}, END}},
    {"fetch", RD_FETCH, NULL, RESP_FETCH, CAPS_DEOF, 0, {{2, E_EOF, 1, 0x42}, END}},
    {"fetch_last", RD_FETCH2, NULL, RESP_FETCH, CAPS_DEOF, 0, {{1, E_EOF, 1, 0x82}, END}},
    {"load_data_local", RD_INFILE_REQ, RD_INFILE_OK, RESP_QUERY, CAPS_DEOF, 0,
     {{0, E_INF, 0, -1}, {1, E_OK, 1, 0x02}, END}},
    {"execute_do", RD_EXEC0, NULL, RESP_EXECUTE, CAPS_DEOF, 0, {{0, E_OK, 1, 0x02}, END}},
    {"ping", RD_PING, NULL, RESP_SINGLE, CAPS_DEOF, 0, {{0, E_OK, 1, 0x02}, END}},
};

static void add_hex(bytes *b, const char *hex)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        bb_u8(b, (uint8_t)v);
    }
}

static void test_real_answers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof REAL / sizeof REAL[0]; i++) {
        const real_case *rc = &REAL[i];
        scenario sc;
        char name[64];
        snprintf(name, sizeof name, "real_%s", rc->name);
        sc_init(&sc, name, rc->kind, rc->caps, rc->cursor);
        add_hex(&sc.s, rc->hex);
        size_t first_len = sc.s.len;
        if (rc->hex2)
            add_hex(&sc.s, rc->hex2);
        sc.resp_len = sc.s.len;
        /* packet table */
        size_t ends[64];
        uint8_t seqs[64];
        uint32_t lens[64];
        int np = 0;
        for (size_t off = 0; off < sc.s.len; np++) {
            assert_true(np < 64);
            lens[np] = proto_u24(sc.s.d + off);
            seqs[np] = sc.s.d[off + 3];
            off += 4 + lens[np];
            ends[np] = off;
            assert_true(off <= sc.s.len);
        }
        sc.logical = (uint64_t)np;
        if (rc->hex2)
            sc.infile_at = first_len;
        for (const real_ev *e = rc->ev; e->pkt >= 0; e++) {
            assert_true(e->pkt < np);
            want_ev *w = &sc.ev[sc.nev++];
            w->type = e->type;
            w->last = e->last;
            w->status = e->status;
            w->end = ends[e->pkt];
            w->seq = seqs[e->pkt];
            w->payload_len = lens[e->pkt];
        }
        walk_with_trailer(&sc);
        sc_free(&sc);
    }
}

/* Empty feeds change nothing, before and after the end. */
static void test_feed_empty(void **state)
{
    (void)state;
    static proto_walker w;
    const uint8_t ok[] = {0x07, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00};
    proto_walker_start(&w, RESP_QUERY, CAPS_DEOF, 0, NULL, NULL);
    assert_int_equal(proto_walker_feed(&w, ok, 0), 0);
    assert_int_equal(w.state, WALK_FIRST);
    assert_int_equal(proto_walker_feed(&w, ok, 3), 3);
    assert_int_equal(proto_walker_feed(&w, ok + 3, 0), 0);
    assert_int_equal(proto_walker_feed(&w, ok + 3, 8), 8);
    assert_true(proto_walker_done(&w));
    assert_int_equal(w.last_status, ST_AC);
    assert_int_equal(proto_walker_feed(&w, ok, 0), 0);
    assert_int_equal(proto_walker_feed(&w, ok, sizeof ok), 0);
    /* a walker can be restarted for the next command */
    proto_walker_start(&w, RESP_SINGLE, CAPS_DEOF, 0, NULL, NULL);
    assert_int_equal(proto_walker_feed(&w, ok, sizeof ok), sizeof ok);
    assert_true(proto_walker_done(&w));
    assert_int_equal(w.got_err, 0);
    assert_true(w.bytes == sizeof ok);
    assert_true(w.packets == 1);
}

/* ================= command table ================= */

static void test_command_kinds(void **state)
{
    (void)state;
    assert_int_equal(proto_command_response_kind(COM_QUERY), RESP_QUERY);
    assert_int_equal(proto_command_response_kind(COM_STMT_PREPARE), RESP_PREPARE);
    assert_int_equal(proto_command_response_kind(COM_STMT_EXECUTE), RESP_EXECUTE);
    assert_int_equal(proto_command_response_kind(COM_STMT_BULK_EXECUTE), RESP_EXECUTE);
    assert_int_equal(proto_command_response_kind(COM_STMT_FETCH), RESP_FETCH);
    assert_int_equal(proto_command_response_kind(COM_FIELD_LIST), RESP_FIELD_LIST);
    assert_int_equal(proto_command_response_kind(COM_STATISTICS), RESP_STRING);
    assert_int_equal(proto_command_response_kind(COM_STMT_CLOSE), RESP_NONE);
    assert_int_equal(proto_command_response_kind(COM_STMT_SEND_LONG_DATA), RESP_NONE);
    assert_int_equal(proto_command_response_kind(COM_QUIT), RESP_NONE);
    const uint8_t single[] = {COM_PING, COM_INIT_DB, COM_SET_OPTION, COM_RESET_CONNECTION,
                              COM_STMT_RESET, COM_REFRESH, COM_PROCESS_KILL};
    for (size_t i = 0; i < sizeof single; i++)
        assert_int_equal(proto_command_response_kind(single[i]), RESP_SINGLE);
    /* unknown commands are answered with one ERR */
    assert_int_equal(proto_command_response_kind(0x77), RESP_SINGLE);
    assert_int_equal(proto_command_response_kind(0xee), RESP_SINGLE);

    assert_string_equal(proto_command_name(COM_QUERY), "COM_QUERY");
    assert_string_equal(proto_command_name(COM_STMT_PREPARE), "COM_STMT_PREPARE");
    assert_string_equal(proto_command_name(COM_PING), "COM_PING");
    assert_string_equal(proto_command_name(COM_CHANGE_USER), "COM_CHANGE_USER");
    assert_string_equal(proto_command_name(COM_STMT_BULK_EXECUTE), "COM_STMT_BULK_EXECUTE");
    assert_string_equal(proto_command_name(0x77), "COM_UNKNOWN");
    for (int c = 0; c < 256; c++)
        assert_non_null(proto_command_name((uint8_t)c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_kinds),
        cmocka_unit_test(test_feed_empty),
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_err_every_kind),
        cmocka_unit_test(test_text_resultset),
        cmocka_unit_test(test_counts_rows),
        cmocka_unit_test(test_rows_then_err),
        cmocka_unit_test(test_multi_call),
        cmocka_unit_test(test_multi_statements),
        cmocka_unit_test(test_local_infile),
        cmocka_unit_test(test_row_starting_fb),
        cmocka_unit_test(test_prepare),
        cmocka_unit_test(test_execute_binary),
        cmocka_unit_test(test_execute_cursor),
        cmocka_unit_test(test_fetch),
        cmocka_unit_test(test_field_list),
        cmocka_unit_test(test_statistics),
        cmocka_unit_test(test_single),
        cmocka_unit_test(test_none),
        cmocka_unit_test(test_long_err_capture),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_real_answers),
        cmocka_unit_test(test_big_text_row),
        cmocka_unit_test(test_huge_text_row),
        cmocka_unit_test(test_big_binary_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
