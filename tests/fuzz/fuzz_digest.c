/*
 * tests/fuzz/fuzz_digest.c — statement digests (router/digest.h, rwr_digest) on arbitrary
 * statement text, with a roomy output buffer and with a small one (truncation).
 * Checks: the input is read from an exact-size buffer (no read past len); the result is
 * NUL-terminated at the returned length, shorter than cap; the hash is rwr_digest_hash of the
 * text written; the same input gives the same digest; only the first RWR_DIGEST_MAX_INPUT
 * bytes matter.
 * Input: byte 0 picks the small output size (1..64), the rest is the statement.
 */
#include "fuzz_common.h"

#include "router/digest.h"

#define BIG_CAP (4 * RWR_DIGEST_MAX_INPUT + 64)

static void one(const char *sql, size_t len, size_t cap, char *out, size_t *n, uint64_t *h)
{
    memset(out, 0x55, cap);
    *n = rwr_digest(sql, len, out, cap, h);
    FUZZ_CHECK(*n < cap);
    FUZZ_CHECK(out[*n] == '\0');
    FUZZ_CHECK(*h == rwr_digest_hash(out, *n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t small = 1 + data[0] % 64;
    size_t len = size - 1;
    char *sql = malloc(len ? len : 1);
    memcpy(sql, data + 1, len);

    static char big[BIG_CAP], big2[BIG_CAP];
    size_t n1, n2;
    uint64_t h1, h2;
    one(sql, len, BIG_CAP, big, &n1, &h1);
    one(sql, len, BIG_CAP, big2, &n2, &h2);
    FUZZ_CHECK(n1 == n2 && h1 == h2 && memcmp(big, big2, n1) == 0);

    /* a small, exact-size output buffer */
    char *out = malloc(small);
    size_t ns;
    uint64_t hs;
    one(sql, len, small, out, &ns, &hs);
    free(out);

    /* bytes past RWR_DIGEST_MAX_INPUT are ignored */
    if (len > RWR_DIGEST_MAX_INPUT) {
        one(sql, RWR_DIGEST_MAX_INPUT, BIG_CAP, big2, &n2, &h2);
        FUZZ_CHECK(n1 == n2 && h1 == h2 && memcmp(big, big2, n1) == 0);
    }
    free(sql);
    return 0;
}
