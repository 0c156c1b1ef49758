/*
 * tests/fuzz/fuzz_auth.c — protocol/auth.c on untrusted input: proto_native_check with an
 * arbitrary client reply (any length) against a stored hash, and proto_native_parse_hash on
 * arbitrary text (password hashes come from the backend's mysql.user when
 * users_from_backend is on), with proto_native_format_hash as its round trip.
 * Checks: a parsed hash formats back to the same text (uppercased); a reply that passes the
 * check really is the scramble of the recovered H1 and SHA1(H1) == H2; the correct reply for
 * a password derived from the input always passes.
 *
 * Input: byte 0 flags (bit 0 has_password), bytes 1-20 scramble, then text: up to the first
 * NUL is tried as a "*HEX" hash, everything after byte 20 is the client's reply.
 */
#include "fuzz_common.h"

#include <ctype.h>

#include "protocol/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 21)
        return 0;
    int has_password = data[0] & 1;
    const uint8_t *scramble = data + 1;
    const uint8_t *rest = data + 21;
    size_t n = size - 21;

    /* the hash text */
    char *text = fuzz_strndup(rest, n);
    uint8_t h2[PROTO_SHA1_LEN];
    int parsed = proto_native_parse_hash(text, h2) == 0;
    if (parsed) {
        char out[42];
        proto_native_format_hash(h2, out);
        FUZZ_CHECK(out[41] == '\0' && strlen(text) == 41);
        for (size_t i = 0; i < 41; i++)
            FUZZ_CHECK(out[i] == toupper((unsigned char)text[i]));
    } else {
        /* the hash of the input as a password */
        uint8_t h1[PROTO_SHA1_LEN];
        proto_native_hash_password((const char *)rest, n, h1, h2);
        uint8_t good[PROTO_SHA1_LEN], got[PROTO_SHA1_LEN];
        proto_native_scramble_h1(scramble, h1, good);
        FUZZ_CHECK(proto_native_check(scramble, good, sizeof good, h2, 1, got) == 0);
        FUZZ_CHECK(memcmp(got, h1, PROTO_SHA1_LEN) == 0);
    }
    free(text);

    /* the reply (exact-size copy) */
    uint8_t *reply = malloc(n ? n : 1);
    memcpy(reply, rest, n);
    uint8_t h1[PROTO_SHA1_LEN];
    int rc = proto_native_check(scramble, n ? reply : NULL, n, h2, has_password, h1);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == 0 && has_password) {
        FUZZ_CHECK(n == PROTO_SHA1_LEN);
        uint8_t again[PROTO_SHA1_LEN], hh[PROTO_SHA1_LEN];
        proto_native_scramble_h1(scramble, h1, again);
        FUZZ_CHECK(memcmp(again, reply, PROTO_SHA1_LEN) == 0);
        proto_sha1(h1, PROTO_SHA1_LEN, hh);
        FUZZ_CHECK(proto_ct_memcmp(hh, h2, PROTO_SHA1_LEN) == 0);
    }
    free(reply);
    return 0;
}
