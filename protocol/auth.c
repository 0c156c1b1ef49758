/*
 * protocol/auth.c — mysql_native_password: hashing, scrambling, checking a client's reply
 * and recovering SHA1(password) from it; caching_sha2_password's fast-path check and its
 * AuthMoreData / full-authentication packets. Uses OpenSSL's libcrypto for SHA1, SHA256 and
 * randomness.
 */
#include "protocol/auth.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

void proto_sha1(const void *data, size_t len, uint8_t out[PROTO_SHA1_LEN])
{
    unsigned int n = 0;
    EVP_Digest(data, len, out, &n, EVP_sha1(), NULL);
}

/* md(a || b) into out (out_len bytes, zeroed if OpenSSL runs out of memory). */
static void digest_two(const EVP_MD *md, size_t out_len, const uint8_t *a, size_t alen,
                       const uint8_t *b, size_t blen, uint8_t *out)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    if (!ctx) {
        memset(out, 0, out_len);
        return;
    }
    EVP_DigestInit_ex(ctx, md, NULL);
    EVP_DigestUpdate(ctx, a, alen);
    EVP_DigestUpdate(ctx, b, blen);
    EVP_DigestFinal_ex(ctx, out, &n);
    EVP_MD_CTX_free(ctx);
}

/* SHA1(a || b) */
static void sha1_two(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                     uint8_t out[PROTO_SHA1_LEN])
{
    digest_two(EVP_sha1(), PROTO_SHA1_LEN, a, alen, b, blen, out);
}

void proto_native_hash_password(const char *password, size_t len,
                                uint8_t h1[PROTO_SHA1_LEN], uint8_t h2[PROTO_SHA1_LEN])
{
    proto_sha1(password, len, h1);
    proto_sha1(h1, PROTO_SHA1_LEN, h2);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int proto_native_parse_hash(const char *text, uint8_t h2[PROTO_SHA1_LEN])
{
    if (!text || text[0] != '*' || strlen(text) != 41)
        return -1;
    for (int i = 0; i < PROTO_SHA1_LEN; i++) {
        int hi = hex_value(text[1 + 2 * i]), lo = hex_value(text[2 + 2 * i]);
        if (hi < 0 || lo < 0)
            return -1;
        h2[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

void proto_native_format_hash(const uint8_t h2[PROTO_SHA1_LEN], char out[42])
{
    static const char digits[] = "0123456789ABCDEF";
    out[0] = '*';
    for (int i = 0; i < PROTO_SHA1_LEN; i++) {
        out[1 + 2 * i] = digits[h2[i] >> 4];
        out[2 + 2 * i] = digits[h2[i] & 15];
    }
    out[41] = '\0';
}

void proto_native_scramble_h1(const uint8_t scramble[20], const uint8_t h1[PROTO_SHA1_LEN],
                              uint8_t reply[PROTO_SHA1_LEN])
{
    uint8_t h2[PROTO_SHA1_LEN], mask[PROTO_SHA1_LEN];
    proto_sha1(h1, PROTO_SHA1_LEN, h2);
    sha1_two(scramble, 20, h2, PROTO_SHA1_LEN, mask);
    for (int i = 0; i < PROTO_SHA1_LEN; i++)
        reply[i] = h1[i] ^ mask[i];
}

int proto_native_check(const uint8_t scramble[20], const uint8_t *reply, size_t reply_len,
                       const uint8_t h2[PROTO_SHA1_LEN], int has_password,
                       uint8_t h1_out[PROTO_SHA1_LEN])
{
    if (!has_password) {
        if (reply_len != 0)
            return -1;
        memset(h1_out, 0, PROTO_SHA1_LEN);
        return 0;
    }
    if (reply_len != PROTO_SHA1_LEN)
        return -1;
    uint8_t mask[PROTO_SHA1_LEN], h1[PROTO_SHA1_LEN], check[PROTO_SHA1_LEN];
    sha1_two(scramble, 20, h2, PROTO_SHA1_LEN, mask);
    for (int i = 0; i < PROTO_SHA1_LEN; i++)
        h1[i] = reply[i] ^ mask[i];
    proto_sha1(h1, PROTO_SHA1_LEN, check);
    if (proto_ct_memcmp(check, h2, PROTO_SHA1_LEN) != 0)
        return -1;
    memcpy(h1_out, h1, PROTO_SHA1_LEN);
    return 0;
}

int proto_random_scramble(uint8_t *buf, size_t n)
{
    if (RAND_bytes(buf, (int)n) != 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)(buf[i] & 0x7f);
        if (b == 0 || b == '$')
            b = (uint8_t)('A' + (buf[i] % 26));
        buf[i] = b;
    }
    return 0;
}

int proto_ct_memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    uint8_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (uint8_t)(x[i] ^ y[i]);
    return diff != 0;
}

/* ---- caching_sha2_password ---- */

void proto_sha256(const void *data, size_t len, uint8_t out[PROTO_SHA256_LEN])
{
    unsigned int n = 0;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

/* SHA256(a || b) */
static void sha256_two(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                       uint8_t out[PROTO_SHA256_LEN])
{
    digest_two(EVP_sha256(), PROTO_SHA256_LEN, a, alen, b, blen, out);
}

void proto_sha2_hash_password(const char *password, size_t len, uint8_t s2[PROTO_SHA256_LEN])
{
    uint8_t s1[PROTO_SHA256_LEN];
    proto_sha256(password, len, s1);
    proto_sha256(s1, sizeof s1, s2);
    memset(s1, 0, sizeof s1);
}

void proto_sha2_scramble(const char *password, size_t len, const uint8_t *nonce, size_t nonce_len,
                         uint8_t reply[PROTO_SHA256_LEN])
{
    uint8_t s1[PROTO_SHA256_LEN], s2[PROTO_SHA256_LEN], mask[PROTO_SHA256_LEN];
    proto_sha256(password, len, s1);
    proto_sha256(s1, sizeof s1, s2);
    sha256_two(s2, sizeof s2, nonce, nonce_len, mask);
    for (int i = 0; i < PROTO_SHA256_LEN; i++)
        reply[i] = s1[i] ^ mask[i];
    memset(s1, 0, sizeof s1);
}

int proto_sha2_reply_is_empty(const uint8_t *reply, size_t len)
{
    return len == 0 || (len == 1 && reply[0] == 0);
}

int proto_sha2_check(const uint8_t *nonce, size_t nonce_len, const uint8_t *reply,
                     size_t reply_len, const uint8_t s2[PROTO_SHA256_LEN], int has_password)
{
    if (!has_password)
        return proto_sha2_reply_is_empty(reply, reply_len) ? 0 : -1;
    if (reply_len != PROTO_SHA256_LEN)
        return -1;
    uint8_t mask[PROTO_SHA256_LEN], s1[PROTO_SHA256_LEN], check[PROTO_SHA256_LEN];
    sha256_two(s2, PROTO_SHA256_LEN, nonce, nonce_len, mask);
    for (int i = 0; i < PROTO_SHA256_LEN; i++)
        s1[i] = reply[i] ^ mask[i];
    proto_sha256(s1, sizeof s1, check);
    memset(s1, 0, sizeof s1);
    return proto_ct_memcmp(check, s2, PROTO_SHA256_LEN) == 0 ? 0 : -1;
}

int proto_auth_more_data_encode(proto_writer *w, const uint8_t *data, size_t len, uint8_t seq)
{
    proto_wr_u8(w, PROTO_AUTH_MORE_DATA);
    proto_wr_bytes(w, data, len);
    return proto_wr_finish(w, seq);
}

int proto_auth_more_data_decode(const uint8_t *payload, size_t len, const uint8_t **data,
                                size_t *data_len)
{
    if (len < 1 || payload[0] != PROTO_AUTH_MORE_DATA)
        return -1;
    *data = payload + 1;
    *data_len = len - 1;
    return 0;
}

proto_sha2_msg proto_sha2_full_reply_decode(const uint8_t *payload, size_t len, const char **pw,
                                            size_t *pw_len)
{
    *pw = NULL;
    *pw_len = 0;
    if (len == 1 && payload[0] == PROTO_SHA2_REQUEST_PUBKEY)
        return PROTO_SHA2_MSG_PUBKEY;
    size_t n = len;
    if (n > 0 && payload[n - 1] == 0)
        n--; /* the terminating NUL clients send */
    if (memchr(payload, 0, n))
        return PROTO_SHA2_MSG_BAD;
    *pw = (const char *)payload;
    *pw_len = n;
    return PROTO_SHA2_MSG_PASSWORD;
}

int proto_native_check_clear(const char *password, size_t len, const uint8_t h2[PROTO_SHA1_LEN],
                             int has_password, uint8_t h1_out[PROTO_SHA1_LEN])
{
    if (!has_password) {
        if (len != 0)
            return -1;
        memset(h1_out, 0, PROTO_SHA1_LEN);
        return 0;
    }
    uint8_t h1[PROTO_SHA1_LEN], check[PROTO_SHA1_LEN];
    proto_native_hash_password(password, len, h1, check);
    if (len == 0 || proto_ct_memcmp(check, h2, PROTO_SHA1_LEN) != 0) {
        memset(h1, 0, sizeof h1);
        return -1;
    }
    memcpy(h1_out, h1, PROTO_SHA1_LEN);
    memset(h1, 0, sizeof h1);
    return 0;
}
