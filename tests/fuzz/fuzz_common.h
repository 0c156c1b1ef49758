/*
 * tests/fuzz/fuzz_common.h — helpers shared by the libFuzzer targets in tests/fuzz/.
 * Each fuzz_<name>.c defines LLVMFuzzerTestOneInput; a broken invariant calls FUZZ_CHECK,
 * which prints the condition and aborts, so libFuzzer records the input as a crash.
 */
#ifndef RWP_FUZZ_COMMON_H
#define RWP_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);  \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* Is [p, p+n) inside [base, base+len)? (n == 0 with p == NULL counts as inside.) */
static inline int fuzz_within(const void *p, size_t n, const void *base, size_t len)
{
    const uint8_t *q = p, *b = base;
    if (!q)
        return n == 0;
    return q >= b && q <= b + len && n <= (size_t)(b + len - q);
}

/* Little-endian u32 from the first 4 bytes (0-padded when fewer). */
static inline uint32_t fuzz_u32(const uint8_t *d, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < 4 && i < n; i++)
        v |= (uint32_t)d[i] << (8 * i);
    return v;
}

/* Split an input of at least 4 bytes into capability flags (the first 4 bytes) and an
 * exact-size heap copy of the rest, so that reads past the payload hit the ASan redzone.
 * The caller frees the copy. */
static inline uint8_t *fuzz_caps_and_payload(const uint8_t *d, size_t n, uint32_t *caps, size_t *len)
{
    *caps = fuzz_u32(d, 4);
    *len = n - 4;
    uint8_t *pl = malloc(*len ? *len : 1);
    if (pl)
        memcpy(pl, d + 4, *len);
    return pl;
}

/* Tiny deterministic PRNG (xorshift32) for slicing decisions derived from the input. */
static inline uint32_t fuzz_rand(uint32_t *s)
{
    uint32_t x = *s ? *s : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

/* A heap copy of n bytes plus a NUL (for functions that need a C string). */
static inline char *fuzz_strndup(const uint8_t *d, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, d, n);
    s[n] = '\0';
    return s;
}

#endif
