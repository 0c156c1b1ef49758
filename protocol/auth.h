/*
 * protocol/auth.h — authentication scrambles (mysql_native_password), computed with
 * OpenSSL's libcrypto. Owns: the scramble a client sends, checking it against a stored
 * password hash, and recovering SHA1(password) from a client's reply so rwproxy can log
 * into backends without knowing the clear-text password.
 *
 * Notation: H1 = SHA1(password), H2 = SHA1(H1) (what mysql.user stores as "*HEX(H2)"),
 * reply = H1 XOR SHA1(scramble || H2).
 *
 * Also owns caching_sha2_password's server side, pure: S1 = SHA256(password),
 * S2 = SHA256(S1) (what a server caches), fast-path reply = S1 XOR SHA256(S2 || scramble);
 * the AuthMoreData packets (0x01 + data: 0x03 fast auth success, 0x04 perform full
 * authentication) and the client's packet after 0x04 (0x02 = request the RSA public key,
 * else the password in clear, NUL-terminated).
 */
#ifndef RWP_AUTH_H
#define RWP_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/packet.h"

#define PROTO_SHA1_LEN 20
#define PROTO_NATIVE_PLUGIN "mysql_native_password"
#define PROTO_CACHING_SHA2_PLUGIN "caching_sha2_password"

/* SHA1 of a buffer. */
void proto_sha1(const void *data, size_t len, uint8_t out[PROTO_SHA1_LEN]);

/* H1 and H2 from a clear-text password. */
void proto_native_hash_password(const char *password, size_t len,
                                uint8_t h1[PROTO_SHA1_LEN], uint8_t h2[PROTO_SHA1_LEN]);

/* Parse "*" + 40 hex digits (case-insensitive) into H2. Returns 0, or -1 if malformed. */
int proto_native_parse_hash(const char *text, uint8_t h2[PROTO_SHA1_LEN]);
/* Format H2 as "*" + 40 uppercase hex + NUL (42 bytes). */
void proto_native_format_hash(const uint8_t h2[PROTO_SHA1_LEN], char out[42]);

/* The 20-byte reply a client sends for scramble, given H1. */
void proto_native_scramble_h1(const uint8_t scramble[20], const uint8_t h1[PROTO_SHA1_LEN],
                              uint8_t reply[PROTO_SHA1_LEN]);

/*
 * Check a client's reply against the stored H2. On success returns 0 and writes the
 * recovered H1 (usable with proto_native_scramble_h1 for another scramble); returns -1 if
 * the password is wrong or reply_len != 20. An empty reply matches only an empty password
 * (H2 all zero means "no password" to the caller; it passes has_password = 0).
 */
int proto_native_check(const uint8_t scramble[20], const uint8_t *reply, size_t reply_len,
                       const uint8_t h2[PROTO_SHA1_LEN], int has_password,
                       uint8_t h1_out[PROTO_SHA1_LEN]);

/* Fill buf with n random printable-safe scramble bytes (1..127, never NUL or '$'),
 * from OpenSSL's RAND_bytes. Returns 0, or -1 if the RNG failed. */
int proto_random_scramble(uint8_t *buf, size_t n);

/* Constant-time comparison of n bytes: 0 if equal. */
int proto_ct_memcmp(const void *a, const void *b, size_t n);

/* ---- caching_sha2_password ---- */

#define PROTO_SHA256_LEN 32
#define PROTO_SHA2_REQUEST_PUBKEY 0x02 /* client -> server after 0x04: send me your RSA key */
#define PROTO_SHA2_FAST_AUTH_OK   0x03 /* server -> client: fast path accepted, OK follows */
#define PROTO_SHA2_FULL_AUTH      0x04 /* server -> client: send the password (TLS) */
#define PROTO_AUTH_MORE_DATA      0x01 /* first byte of an AuthMoreData packet */

/* SHA256 of a buffer. */
void proto_sha256(const void *data, size_t len, uint8_t out[PROTO_SHA256_LEN]);

/* S2 = SHA256(SHA256(password)), what the fast path is checked against. */
void proto_sha2_hash_password(const char *password, size_t len, uint8_t s2[PROTO_SHA256_LEN]);

/* The 32-byte fast-path reply a client sends for password and scramble (nonce, 20 bytes). */
void proto_sha2_scramble(const char *password, size_t len, const uint8_t *nonce, size_t nonce_len,
                         uint8_t reply[PROTO_SHA256_LEN]);

/* Is a caching_sha2_password reply the "no password" one (empty, or one NUL byte)? */
int proto_sha2_reply_is_empty(const uint8_t *reply, size_t len);

/*
 * Check a fast-path reply against S2: 0 if it proves the password, -1 if not (wrong
 * password, or reply_len is neither 32 nor an empty reply). has_password = 0 means the
 * account has an empty password: only an empty reply matches.
 */
int proto_sha2_check(const uint8_t *nonce, size_t nonce_len, const uint8_t *reply,
                     size_t reply_len, const uint8_t s2[PROTO_SHA256_LEN], int has_password);

/* Encode an AuthMoreData packet (0x01 + data) with sequence id seq. Returns 0 or -1. */
int proto_auth_more_data_encode(proto_writer *w, const uint8_t *data, size_t len, uint8_t seq);
/* Decode an AuthMoreData payload: 0 with *data and *data_len pointing after the 0x01, or -1. */
int proto_auth_more_data_decode(const uint8_t *payload, size_t len, const uint8_t **data,
                                size_t *data_len);

/* What a client sent after "perform full authentication". */
typedef enum {
    PROTO_SHA2_MSG_BAD = -1,    /* malformed (a NUL inside the password) */
    PROTO_SHA2_MSG_PUBKEY = 0,  /* 0x02 alone: it asks for the RSA public key */
    PROTO_SHA2_MSG_PASSWORD = 1 /* the password in clear (trailing NUL removed) */
} proto_sha2_msg;

/* Classify the client's packet after 0x04; for a password, *pw and *pw_len point into payload. */
proto_sha2_msg proto_sha2_full_reply_decode(const uint8_t *payload, size_t len, const char **pw,
                                            size_t *pw_len);

/* Check a clear-text password against the stored H2 (mysql_native_password hash): 0 and H1
 * written on success, -1 if wrong. has_password = 0: only an empty password matches. */
int proto_native_check_clear(const char *password, size_t len, const uint8_t h2[PROTO_SHA1_LEN],
                             int has_password, uint8_t h1_out[PROTO_SHA1_LEN]);

#endif
