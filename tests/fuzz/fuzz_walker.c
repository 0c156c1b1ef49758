/*
 * tests/fuzz/fuzz_walker.c — the resumable response walker (protocol/walker.h) over arbitrary
 * server byte streams: every response kind, arbitrary negotiated capabilities, cursor on/off,
 * LOCAL INFILE answered (proto_walker_infile_sent) and random slicing of the stream.
 *
 * Each input is walked twice: once in random slices (1..64 bytes, or bigger, from a PRNG
 * seeded by the input) and once one segment per call. Both walks must agree on everything
 * (bytes consumed, final state, packets, rows, last status, and every event: type, sequence
 * id, payload length, captured bytes, status, `last`, absolute end offset). Per call: the
 * walker never consumes more than it is given, stops early only in DONE/INFILE/ERROR, events
 * point inside the current buffer, the capture is bounded, `last` matches the state.
 *
 * Input: byte 0 response kind (mod 8; also fed to proto_command_response_kind/name),
 * bytes 1-4 capabilities (little-endian), byte 5 flags (bit 0 cursor, bit 1 "expand":
 * headers announcing 0xffffff bytes get their payload padded with zeros to the full
 * 16 MiB - 1, so continuation packets are exercised without 16 MiB inputs), bytes 6-7
 * slicing seed, then the server's byte stream.
 */
#include "fuzz_common.h"

#include "protocol/mysql_const.h"
#include "protocol/response.h"
#include "protocol/walker.h"

#define MAX_SEGS   4096
#define MAX_EVENTS 512
#define ZERO_CHUNK 65536u
#define MAX_BIG    3

static uint8_t zeros[ZERO_CHUNK];

typedef struct {
    const uint8_t *p; /* NULL: len zero bytes of filler */
    size_t len;
} seg;

typedef struct {
    int type;
    uint8_t seq;
    uint32_t payload_len;
    size_t captured;
    uint64_t cap_hash;
    uint16_t status;
    int last;
    uint64_t abs_end;
} ev_rec;

typedef struct {
    proto_walker w;
    const uint8_t *cur;    /* buffer of the current feed call */
    size_t cur_len;        /* its length */
    uint64_t cur_base;     /* absolute offset of cur[0] */
    ev_rec ev[MAX_EVENTS];
    size_t nev;            /* events seen (may exceed MAX_EVENTS; only the first are kept) */
    uint64_t consumed;
} run_state;

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void on_event(void *ctx, const proto_walk_event *ev)
{
    run_state *rs = ctx;
    FUZZ_CHECK(ev->type >= WALK_EV_OK && ev->type <= WALK_EV_STRING);
    FUZZ_CHECK(ev->captured <= PROTO_WALK_CAPTURE);
    FUZZ_CHECK(ev->captured <= ev->payload_len);
    FUZZ_CHECK(ev->payload == rs->w.cap);
    FUZZ_CHECK(ev->end_off >= 1 && ev->end_off <= rs->cur_len);
    FUZZ_CHECK(ev->last == (rs->w.state == WALK_DONE));
    if (ev->type == WALK_EV_ERR)
        FUZZ_CHECK(ev->captured >= 1 && ev->payload[0] == PKT_ERR);
    if (rs->nev < MAX_EVENTS) {
        ev_rec *r = &rs->ev[rs->nev];
        r->type = ev->type;
        r->seq = ev->seq;
        r->payload_len = ev->payload_len;
        r->captured = ev->captured;
        r->cap_hash = hash_bytes(ev->payload, ev->captured);
        r->status = ev->status;
        r->last = ev->last;
        r->abs_end = rs->cur_base + ev->end_off;
    }
    rs->nev++;
}

static int terminal(const proto_walker *w)
{
    return w->state == WALK_DONE || w->state == WALK_ERROR;
}

/* Feed one buffer (already an exact-size copy); returns 1 when the walk is over. */
static int feed_one(run_state *rs, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        rs->cur = buf + off;
        rs->cur_len = len - off;
        rs->cur_base = rs->consumed;
        size_t used = proto_walker_feed(&rs->w, buf + off, len - off);
        FUZZ_CHECK(used <= len - off);
        off += used;
        rs->consumed += used;
        FUZZ_CHECK(rs->w.bytes == rs->consumed);
        if (rs->w.state == WALK_INFILE) {
            proto_walker_infile_sent(&rs->w); /* the client's file went to the server */
            FUZZ_CHECK(rs->w.state == WALK_FIRST);
            continue;
        }
        if (terminal(&rs->w))
            return 1;
        FUZZ_CHECK(off == len); /* not over and not stopped: it took everything */
    }
    return 0;
}

static void run(run_state *rs, proto_resp_kind kind, uint32_t caps, int cursor, const seg *segs,
                size_t nsegs, int sliced, uint32_t seed)
{
    memset(rs, 0, sizeof *rs);
    proto_walker_start(&rs->w, kind, caps, cursor, on_event, rs);
    if (terminal(&rs->w))
        return;
    for (size_t i = 0; i < nsegs; i++) {
        size_t off = 0;
        while (off < segs[i].len) {
            size_t n = segs[i].len - off;
            if (sliced) {
                uint32_t r = fuzz_rand(&seed);
                size_t lim = (r & 3) == 0 ? 1 + (r >> 8) % 4096 : 1 + (r >> 8) % 64;
                if (!segs[i].p)
                    lim = 1 + (r >> 4) % ZERO_CHUNK; /* filler: big slices, 16 MiB is a lot */
                if (n > lim)
                    n = lim;
            }
            int over;
            if (segs[i].p) {
                uint8_t *copy = malloc(n);
                memcpy(copy, segs[i].p + off, n);
                over = feed_one(rs, copy, n);
                free(copy);
            } else {
                if (n > ZERO_CHUNK)
                    n = ZERO_CHUNK;
                over = feed_one(rs, zeros, n);
            }
            off += n;
            if (over)
                goto done;
        }
    }
done:
    if (terminal(&rs->w)) {
        static const uint8_t more[1] = {0};
        FUZZ_CHECK(proto_walker_feed(&rs->w, more, 1) == 0);
    }
}

/* Split the stream into segments; in expand mode pad 0xffffff-byte packets with zeros. */
static size_t make_segments(const uint8_t *s, size_t n, int expand, seg *segs)
{
    size_t nsegs = 0, off = 0;
    int big = 0;
    if (!expand) {
        if (n) {
            segs[0].p = s;
            segs[0].len = n;
            return 1;
        }
        return 0;
    }
    while (off < n && nsegs + 3 <= MAX_SEGS) {
        if (n - off < PROTO_HDR_LEN) {
            segs[nsegs++] = (seg){s + off, n - off};
            break;
        }
        uint32_t plen = proto_u24(s + off);
        segs[nsegs++] = (seg){s + off, PROTO_HDR_LEN};
        off += PROTO_HDR_LEN;
        size_t take = plen;
        if (plen == PROTO_MAX_PAYLOAD && big < MAX_BIG) {
            big++;
            take = n - off < 16 ? n - off : 16; /* the start of the payload from the input */
            if (take)
                segs[nsegs++] = (seg){s + off, take};
            segs[nsegs++] = (seg){NULL, PROTO_MAX_PAYLOAD - take};
            off += take;
            continue;
        }
        if (take > n - off)
            take = n - off;
        if (take)
            segs[nsegs++] = (seg){s + off, take};
        off += take;
    }
    return nsegs;
}

static run_state A, B;
static seg segs[MAX_SEGS];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    proto_resp_kind kind = (proto_resp_kind)(data[0] % 8);
    FUZZ_CHECK(proto_command_name(data[0]) != NULL);
    proto_resp_kind ck = proto_command_response_kind(data[0]);
    FUZZ_CHECK(ck >= RESP_NONE && ck <= RESP_FETCH);
    uint32_t caps = fuzz_u32(data + 1, 4);
    int cursor = data[5] & 1;
    int expand = (data[5] >> 1) & 1;
    uint32_t seed = (uint32_t)data[6] | ((uint32_t)data[7] << 8) | 0x10000u;
    size_t nsegs = make_segments(data + 8, size - 8, expand, segs);

    run(&A, kind, caps, cursor, segs, nsegs, 1, seed);
    run(&B, kind, caps, cursor, segs, nsegs, 0, seed);

    FUZZ_CHECK(A.consumed == B.consumed);
    FUZZ_CHECK(A.w.state == B.w.state);
    FUZZ_CHECK(A.w.packets == B.w.packets && A.w.rows == B.w.rows);
    FUZZ_CHECK(A.w.last_status == B.w.last_status && A.w.got_err == B.w.got_err);
    FUZZ_CHECK(A.nev == B.nev);
    for (size_t i = 0; i < A.nev && i < MAX_EVENTS; i++) {
        const ev_rec *x = &A.ev[i], *y = &B.ev[i];
        FUZZ_CHECK(x->type == y->type && x->seq == y->seq && x->payload_len == y->payload_len);
        FUZZ_CHECK(x->captured == y->captured && x->cap_hash == y->cap_hash);
        FUZZ_CHECK(x->status == y->status && x->last == y->last && x->abs_end == y->abs_end);
    }
    if (A.w.state == WALK_DONE && A.w.got_err)
        FUZZ_CHECK(A.nev > 0);
    return 0;
}
