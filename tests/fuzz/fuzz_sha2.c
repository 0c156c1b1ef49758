/*
 * tests/fuzz/fuzz_sha2.c — protocol/auth.c's caching_sha2_password pieces on untrusted
 * input: proto_auth_more_data_decode (AuthMoreData), proto_sha2_full_reply_decode (what a
 * client sends after "perform full authentication"), proto_sha2_check with an arbitrary reply
 * and proto_native_check_clear with an arbitrary clear password.
 * Checks: returned pointers lie inside the payload; a password never contains a NUL; the
 * AuthMoreData encoder's output decodes back to the same data; the correct fast-path reply
 * for a password derived from the input always passes and a changed byte never does.
 * Input: byte 0 flags (bit 0 has_password), bytes 1-20 a nonce, then the payload.
 */
#include "fuzz_common.h"

#include "protocol/auth.h"
#include "protocol/packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 21)
        return 0;
    int has_password = data[0] & 1;
    const uint8_t *nonce = data + 1;
    size_t n = size - 21;
    uint8_t *pl = malloc(n ? n : 1); /* exact-size copy: ASan sees any overread */
    memcpy(pl, data + 21, n);

    const uint8_t *d = NULL;
    size_t dl = 0;
    if (proto_auth_more_data_decode(pl, n, &d, &dl) == 0)
        FUZZ_CHECK(n >= 1 && pl[0] == 0x01 && fuzz_within(d, dl, pl, n) && dl == n - 1);

    const char *pw = NULL;
    size_t pwl = 0;
    proto_sha2_msg m = proto_sha2_full_reply_decode(pl, n, &pw, &pwl);
    FUZZ_CHECK(m == PROTO_SHA2_MSG_BAD || m == PROTO_SHA2_MSG_PUBKEY || m == PROTO_SHA2_MSG_PASSWORD);
    if (m == PROTO_SHA2_MSG_PASSWORD) {
        FUZZ_CHECK(pwl == 0 || fuzz_within(pw, pwl, pl, n));
        FUZZ_CHECK(pwl == 0 || memchr(pw, 0, pwl) == NULL);
        uint8_t h1[PROTO_SHA1_LEN], h2[PROTO_SHA1_LEN], got[PROTO_SHA1_LEN];
        proto_native_hash_password(pw, pwl, h1, h2);
        if (pwl > 0) { /* an account with a password: its own password passes */
            FUZZ_CHECK(proto_native_check_clear(pw, pwl, h2, 1, got) == 0);
            FUZZ_CHECK(memcmp(got, h1, PROTO_SHA1_LEN) == 0);
        } else { /* an account without one: only the empty password */
            FUZZ_CHECK(proto_native_check_clear(pw, 0, h2, 0, got) == 0);
        }
    }

    /* AuthMoreData round trip */
    proto_writer w;
    proto_wr_init(&w);
    if (n <= 4096 && proto_auth_more_data_encode(&w, pl, n, 2) == 0) {
        FUZZ_CHECK(proto_auth_more_data_decode(w.data + PROTO_HDR_LEN, w.len - PROTO_HDR_LEN, &d, &dl) == 0);
        FUZZ_CHECK(dl == n && (n == 0 || memcmp(d, pl, n) == 0));
    }
    proto_wr_free(&w);

    /* the fast path: any reply against S2 of a password made from the input; the reply a
     * client computes for that password passes, with one bit changed it fails */
    uint8_t s2[PROTO_SHA256_LEN], good[PROTO_SHA256_LEN];
    proto_sha2_hash_password((const char *)pl, n, s2);
    int rc = proto_sha2_check(nonce, 20, pl, n, s2, has_password);
    FUZZ_CHECK(rc == 0 || rc == -1);
    proto_sha2_scramble((const char *)pl, n, nonce, 20, good);
    FUZZ_CHECK(proto_sha2_check(nonce, 20, good, sizeof good, s2, 1) == 0);
    good[n % PROTO_SHA256_LEN] ^= 0x01;
    FUZZ_CHECK(proto_sha2_check(nonce, 20, good, sizeof good, s2, 1) == -1);
    free(pl);
    return 0;
}
