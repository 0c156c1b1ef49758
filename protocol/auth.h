/*
 * protocol/auth.h — authentication scrambles (mysql_native_password), computed with
 * OpenSSL's libcrypto. Owns: the scramble a client sends, checking it against a stored
 * password hash, and recovering SHA1(password) from a client's reply so rwproxy can log
 * into backends without knowing the clear-text password.
 *
 * Notation: H1 = SHA1(password), H2 = SHA1(H1) (what mysql.user stores as "*HEX(H2)"),
 * reply = H1 XOR SHA1(scramble || H2).
 */
#ifndef RWP_AUTH_H
#define RWP_AUTH_H

#include <stddef.h>
#include <stdint.h>

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

#endif
