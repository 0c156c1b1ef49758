/*
 * tests/fuzz/fuzz_frame.c — packet framing: proto_hdr_peek, proto_frame_logical (a logical
 * packet over several physical ones after 0xffffff-byte payloads, with a max_payload limit)
 * and proto_frame_join, as a client/backend read loop uses them over a buffer of packets.
 * Each result is checked against a straightforward reference framer in this file: the same
 * AGAIN/OK/ERROR answer, wire and payload lengths, and the joined payload equal to the
 * concatenation of the physical payloads.
 *
 * Input: byte 0 picks max_payload (0, 1, 16, 255, 4096, 0xfffffe, 0xffffff, 0x1000000,
 * 64 MiB, SIZE_MAX), byte 1 flags (bit 0: prefix the buffer with a real 0xffffff-byte
 * physical packet of zeros, so the following bytes are its continuation), then the bytes.
 * The big prefix lives in a buffer allocated once; the bytes after the used part are
 * ASan-poisoned, so reads past the buffer are still caught.
 */
#include "fuzz_common.h"

#include <sanitizer/asan_interface.h>

#include "protocol/packet.h"

#define BIG_PREFIX (PROTO_HDR_LEN + PROTO_MAX_PAYLOAD)
#define MAX_TAIL   (1u << 20)

static const size_t MAXES[] = {0, 1, 16, 255, 4096, 0xfffffe, 0xffffff, 0x1000000,
                               64u << 20, (size_t)-1};

/* Reference framer: same contract as proto_frame_logical. */
static proto_status ref_frame(const uint8_t *buf, size_t len, size_t max, size_t *wire, size_t *plen)
{
    size_t off = 0, total = 0;
    for (;;) {
        if (off + 4 > len)
            return PROTO_AGAIN;
        size_t n = (size_t)buf[off] | ((size_t)buf[off + 1] << 8) | ((size_t)buf[off + 2] << 16);
        total += n;
        if (total > max)
            return PROTO_ERROR;
        if (off + 4 + n > len)
            return PROTO_AGAIN;
        off += 4 + n;
        if (n != 0xffffff)
            break;
    }
    *wire = off;
    *plen = total;
    return PROTO_OK;
}

static uint8_t *big, *big_dst;

/* Compare n joined bytes; the 16 MiB zero prefix is sampled (head and tail), not scanned. */
static int same(const uint8_t *a, const uint8_t *b, size_t n)
{
    if (n <= 8192)
        return memcmp(a, b, n) == 0;
    return memcmp(a, b, 4096) == 0 && memcmp(a + n - 4096, b + n - 4096, 4096) == 0;
}

static void check_join(const uint8_t *buf, size_t wire, size_t plen)
{
    /* small payloads: an exact-size heap buffer; big ones: a buffer allocated once whose
     * bytes past plen are poisoned (both catch a write past the payload) */
    uint8_t *dst;
    if (plen <= MAX_TAIL) {
        dst = malloc(plen ? plen : 1);
    } else {
        FUZZ_CHECK(plen <= BIG_PREFIX + MAX_TAIL);
        if (!big_dst && !(big_dst = malloc(BIG_PREFIX + MAX_TAIL)))
            abort();
        ASAN_UNPOISON_MEMORY_REGION(big_dst, BIG_PREFIX + MAX_TAIL);
        ASAN_POISON_MEMORY_REGION(big_dst + plen, BIG_PREFIX + MAX_TAIL - plen);
        dst = big_dst;
    }
    proto_frame_join(buf, wire, dst);
    size_t off = 0, at = 0;
    while (off < wire) {
        size_t n = proto_u24(buf + off);
        FUZZ_CHECK(at + n <= plen);
        FUZZ_CHECK(n == 0 || same(dst + at, buf + off + 4, n));
        at += n;
        off += 4 + n;
    }
    FUZZ_CHECK(off == wire && at == plen);
    if (dst != big_dst)
        free(dst);
}

static void walk(const uint8_t *buf, size_t len, size_t max)
{
    size_t off = 0;
    while (off < len) {
        proto_hdr h;
        proto_status hs = proto_hdr_peek(buf + off, len - off, &h);
        FUZZ_CHECK(hs == (len - off < 4 ? PROTO_AGAIN : PROTO_OK));
        if (hs == PROTO_OK)
            FUZZ_CHECK(h.len == proto_u24(buf + off) && h.seq == buf[off + 3]);
        size_t wire = 0, plen = 0, rw = 0, rp = 0;
        proto_status st = proto_frame_logical(buf + off, len - off, max, &wire, &plen);
        proto_status rst = ref_frame(buf + off, len - off, max, &rw, &rp);
        FUZZ_CHECK(st == rst);
        if (st != PROTO_OK)
            break;
        FUZZ_CHECK(wire == rw && plen == rp);
        FUZZ_CHECK(wire >= 4 && wire <= len - off && plen <= max);
        check_join(buf + off, wire, plen);
        off += wire;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size - 2 > MAX_TAIL)
        return 0;
    size_t max = MAXES[data[0] % (sizeof MAXES / sizeof MAXES[0])];
    const uint8_t *tail = data + 2;
    size_t n = size - 2;
    if (data[1] & 1) {
        if (!big) {
            big = malloc(BIG_PREFIX + MAX_TAIL);
            if (!big)
                abort();
            proto_hdr_write(big, PROTO_MAX_PAYLOAD, 0);
            memset(big + PROTO_HDR_LEN, 0, PROTO_MAX_PAYLOAD);
        }
        ASAN_UNPOISON_MEMORY_REGION(big + BIG_PREFIX, MAX_TAIL);
        memcpy(big + BIG_PREFIX, tail, n);
        ASAN_POISON_MEMORY_REGION(big + BIG_PREFIX + n, MAX_TAIL - n);
        walk(big, BIG_PREFIX + n, max);
    } else {
        uint8_t *buf = malloc(n ? n : 1);
        memcpy(buf, tail, n);
        walk(buf, n, max);
        free(buf);
    }
    return 0;
}
