/*
 * tests/unit/test_auth.c — cmocka tests for protocol/auth.{h,c}: SHA1, mysql_native_password
 * hashes (against MariaDB's PASSWORD() output), scrambles against vectors computed
 * independently with Python's hashlib, checking a reply and recovering H1 (including a
 * real reply captured from the MariaDB command-line client), the "*HEX" hash text format,
 * the random scramble alphabet and the constant-time comparison; caching_sha2_password's
 * SHA256 scramble and fast-path check (vectors from hashlib), AuthMoreData packets, the
 * client's packet after "perform full authentication" and the clear-password check.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/auth.h"

/* Decodes hex text (even length, no separators) into out; returns the byte count. */
static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* Precomputed with: python3 -c "import hashlib; ..." */
#define H1_APP_PW "478f036cc2368187be39461c736d70be6a84f1ef"   /* SHA1('app_pw') */
#define H2_APP_PW "95be1a04b76ee9ab97cee8436421f2d15539b738"   /* SHA1(SHA1('app_pw')) */
#define PASSWORD_APP_PW "*95BE1A04B76EE9AB97CEE8436421F2D15539B738" /* MariaDB PASSWORD('app_pw') */
/* reply for password app_pw and scramble bytes 1..20 */
#define REPLY_APP_PW_1_20 "8bb2dd0d2a7411fea31ad816d01e681069f63a43"
/* reply for password secret and scramble "abcdefghijklmnopqrst" */
#define REPLY_SECRET_ABC "8817c50fa779daef010ee7577825b0847df9842e"
#define PASSWORD_SECRET "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"
/* 'pä ss' in UTF-8 */
#define PASSWORD_UTF8 "*EA356A4935F479BEA9775E2D7DC1DFB68568D0B7"

/* A real exchange: MariaDB 10.11.19's greeting scramble and the reply the `mariadb` client
 * (libmariadb 3.3) sent for user app / password app_pw. */
#define REAL_SCRAMBLE "735c536c455559417652736d4b6d642c4e256a6a" /* "s\\SlEUYAvRsmKmd,N%jj" */
#define REAL_REPLY "1c099745e76c200992d38a140ca972273e4b428f"
/* Connector/J 2.7 against another greeting (its scramble contains a '$') */
#define REAL_SCRAMBLE_J "215f3d505c5b38432a465f2f694457672479582c"
#define REAL_REPLY_J "3783b5e9b1be92dccd89c46108c0fa30dc0d2748"

static void test_sha1_vectors(void **state)
{
    (void)state;
    uint8_t out[20], want[20];
    proto_sha1("", 0, out);
    unhex("da39a3ee5e6b4b0d3255bfef95601890afd80709", want);
    assert_memory_equal(out, want, 20);
    proto_sha1("abc", 3, out);
    unhex("a9993e364706816aba3e25717850c26c9cd0d89d", want);
    assert_memory_equal(out, want, 20);
    char *m = malloc(1000000);
    memset(m, 'a', 1000000);
    proto_sha1(m, 1000000, out);
    unhex("34aa973cd4c4daa4f61eeb2bdbad27316534016f", want);
    assert_memory_equal(out, want, 20);
    free(m);
}

static void test_hash_password(void **state)
{
    (void)state;
    uint8_t h1[20], h2[20], w1[20], w2[20];
    char text[42];
    proto_native_hash_password("app_pw", 6, h1, h2);
    unhex(H1_APP_PW, w1);
    unhex(H2_APP_PW, w2);
    assert_memory_equal(h1, w1, 20);
    assert_memory_equal(h2, w2, 20);
    memset(text, 'Z', sizeof text);
    proto_native_format_hash(h2, text);
    assert_string_equal(text, PASSWORD_APP_PW);

    proto_native_hash_password("secret", 6, h1, h2);
    proto_native_format_hash(h2, text);
    assert_string_equal(text, PASSWORD_SECRET);

    /* the length is honoured (not strlen) and bytes are taken as they are */
    proto_native_hash_password("p\xc3\xa4 ssXXXX", 6, h1, h2);
    proto_native_format_hash(h2, text);
    assert_string_equal(text, PASSWORD_UTF8);
}

static void test_parse_format_roundtrip(void **state)
{
    (void)state;
    uint8_t h2[20], w2[20];
    char text[42];
    unhex(H2_APP_PW, w2);
    assert_int_equal(proto_native_parse_hash(PASSWORD_APP_PW, h2), 0);
    assert_memory_equal(h2, w2, 20);
    /* lower case accepted */
    memset(h2, 0, 20);
    assert_int_equal(proto_native_parse_hash("*95be1a04b76ee9ab97cee8436421f2d15539b738", h2), 0);
    assert_memory_equal(h2, w2, 20);
    proto_native_format_hash(h2, text);
    assert_string_equal(text, PASSWORD_APP_PW);

    /* every byte value survives format -> parse */
    uint8_t all[20], back[20];
    for (int base = 0; base < 256; base += 20) {
        for (int i = 0; i < 20; i++)
            all[i] = (uint8_t)(base + i);
        proto_native_format_hash(all, text);
        assert_int_equal(strlen(text), 41);
        assert_int_equal(text[0], '*');
        for (int i = 1; i < 41; i++)
            assert_true((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'A' && text[i] <= 'F'));
        assert_int_equal(proto_native_parse_hash(text, back), 0);
        assert_memory_equal(back, all, 20);
    }
}

static void test_parse_bad(void **state)
{
    (void)state;
    uint8_t h2[20];
    const char *bad[] = {
        "",
        "*",
        "95BE1A04B76EE9AB97CEE8436421F2D15539B738",   /* no star */
        "95BE1A04B76EE9AB97CEE8436421F2D15539B7388",  /* no star, 41 chars */
        "*95BE1A04B76EE9AB97CEE8436421F2D15539B73",   /* 39 hex */
        "*95BE1A04B76EE9AB97CEE8436421F2D15539B7380", /* 41 hex */
        "*95BE1A04B76EE9AB97CEE8436421F2D15539B73G",  /* not hex */
        "*95BE1A04B76EE9AB97CEE8436421F2D15539B73 ",  /* space */
        "*95BE1A04B76EE9AB97CEE8436421F2D15539B738\n",
        " *95BE1A04B76EE9AB97CEE8436421F2D15539B738",
        "#95BE1A04B76EE9AB97CEE8436421F2D15539B738",
        "*95BE1A04B76EE9AB97CEE8436421F2D15539B7-8",
        "*0x5BE1A04B76EE9AB97CEE8436421F2D15539B738",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(proto_native_parse_hash(bad[i], h2), -1);
}

static void test_scramble_vectors(void **state)
{
    (void)state;
    uint8_t scr[20], h1[20], h2[20], reply[20], want[20];
    for (int i = 0; i < 20; i++)
        scr[i] = (uint8_t)(i + 1);
    proto_native_hash_password("app_pw", 6, h1, h2);
    proto_native_scramble_h1(scr, h1, reply);
    unhex(REPLY_APP_PW_1_20, want);
    assert_memory_equal(reply, want, 20);

    memcpy(scr, "abcdefghijklmnopqrst", 20);
    proto_native_hash_password("secret", 6, h1, h2);
    proto_native_scramble_h1(scr, h1, reply);
    unhex(REPLY_SECRET_ABC, want);
    assert_memory_equal(reply, want, 20);
}

static void test_check_good_and_recover_h1(void **state)
{
    (void)state;
    uint8_t scr[20], h1[20], h2[20], reply[20], got[20], w1[20];
    for (int i = 0; i < 20; i++)
        scr[i] = (uint8_t)(i + 1);
    unhex(REPLY_APP_PW_1_20, reply);
    assert_int_equal(proto_native_parse_hash(PASSWORD_APP_PW, h2), 0);
    memset(got, 0, 20);
    assert_int_equal(proto_native_check(scr, reply, 20, h2, 1, got), 0);
    unhex(H1_APP_PW, w1);
    assert_memory_equal(got, w1, 20);

    /* the recovered H1 answers another scramble like the password would */
    uint8_t scr2[20], r_from_h1[20], r_from_pw[20];
    memcpy(scr2, "ZYXWVUTSRQPONMLKJIHG", 20);
    proto_native_scramble_h1(scr2, got, r_from_h1);
    proto_native_hash_password("app_pw", 6, h1, h2);
    proto_native_scramble_h1(scr2, h1, r_from_pw);
    assert_memory_equal(r_from_h1, r_from_pw, 20);
}

static void test_check_real_client_reply(void **state)
{
    (void)state;
    uint8_t scr[20], reply[20], h2[20], got[20], w1[20];
    unhex(H1_APP_PW, w1);
    assert_int_equal(proto_native_parse_hash(PASSWORD_APP_PW, h2), 0);

    unhex(REAL_SCRAMBLE, scr);
    unhex(REAL_REPLY, reply);
    assert_int_equal(proto_native_check(scr, reply, 20, h2, 1, got), 0);
    assert_memory_equal(got, w1, 20);

    unhex(REAL_SCRAMBLE_J, scr);
    unhex(REAL_REPLY_J, reply);
    assert_int_equal(proto_native_check(scr, reply, 20, h2, 1, got), 0);
    assert_memory_equal(got, w1, 20);

    /* the reply is bound to its scramble */
    unhex(REAL_SCRAMBLE, scr);
    assert_int_equal(proto_native_check(scr, reply, 20, h2, 1, got), -1);
}

static void test_check_wrong(void **state)
{
    (void)state;
    uint8_t scr[20], reply[20], h2[20], got[20], h1[20];
    for (int i = 0; i < 20; i++)
        scr[i] = (uint8_t)(i + 1);
    assert_int_equal(proto_native_parse_hash(PASSWORD_APP_PW, h2), 0);
    unhex(REPLY_APP_PW_1_20, reply);

    /* every single-bit flip of the reply fails */
    for (int i = 0; i < 20; i++) {
        for (int b = 0; b < 8; b++) {
            uint8_t r2[20];
            memcpy(r2, reply, 20);
            r2[i] ^= (uint8_t)(1u << b);
            assert_int_equal(proto_native_check(scr, r2, 20, h2, 1, got), -1);
        }
    }
    /* another password */
    uint8_t h2s[20];
    proto_native_hash_password("secret", 6, h1, h2s);
    assert_int_equal(proto_native_check(scr, reply, 20, h2s, 1, got), -1);
    /* another scramble */
    scr[0] ^= 1;
    assert_int_equal(proto_native_check(scr, reply, 20, h2, 1, got), -1);
    scr[0] ^= 1;
    /* wrong lengths */
    uint8_t longer[21];
    memcpy(longer, reply, 20);
    longer[20] = 0;
    assert_int_equal(proto_native_check(scr, reply, 19, h2, 1, got), -1);
    assert_int_equal(proto_native_check(scr, longer, 21, h2, 1, got), -1);
    assert_int_equal(proto_native_check(scr, reply, 1, h2, 1, got), -1);
}

static void test_check_empty_password(void **state)
{
    (void)state;
    uint8_t scr[20], h2[20], got[20], reply[20];
    memset(h2, 0, 20);
    for (int i = 0; i < 20; i++)
        scr[i] = (uint8_t)(i + 1);
    /* user without password, client sends nothing: accepted */
    assert_int_equal(proto_native_check(scr, (const uint8_t *)"", 0, h2, 0, got), 0);
    /* user with a password, client sends nothing: refused */
    assert_int_equal(proto_native_parse_hash(PASSWORD_APP_PW, h2), 0);
    assert_int_equal(proto_native_check(scr, (const uint8_t *)"", 0, h2, 1, got), -1);
    /* user without password, client sends a 20-byte reply: refused (wrong password) */
    memset(h2, 0, 20);
    unhex(REPLY_APP_PW_1_20, reply);
    assert_int_equal(proto_native_check(scr, reply, 20, h2, 0, got), -1);
}

static void test_random_scramble(void **state)
{
    (void)state;
    uint8_t a[20], b[20];
    int counts[256] = {0};
    for (int round = 0; round < 5000; round++) {
        assert_int_equal(proto_random_scramble(a, 20), 0);
        for (int i = 0; i < 20; i++) {
            assert_true(a[i] >= 1 && a[i] <= 127);
            assert_int_not_equal(a[i], '$');
            counts[a[i]]++;
        }
    }
    /* it is random: two draws differ, and a good spread of values appears */
    assert_int_equal(proto_random_scramble(a, 20), 0);
    assert_int_equal(proto_random_scramble(b, 20), 0);
    assert_memory_not_equal(a, b, 20);
    int distinct = 0;
    for (int v = 0; v < 256; v++)
        distinct += counts[v] > 0;
    assert_true(distinct > 100);
    /* other sizes, and bytes past n untouched */
    uint8_t big[101];
    memset(big, 0, sizeof big);
    assert_int_equal(proto_random_scramble(big, 100), 0);
    for (int i = 0; i < 100; i++)
        assert_true(big[i] >= 1 && big[i] <= 127 && big[i] != '$');
    assert_int_equal(big[100], 0);
    assert_int_equal(proto_random_scramble(big, 0), 0);
}

static void test_ct_memcmp(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    for (int i = 0; i < 32; i++)
        a[i] = b[i] = (uint8_t)(i * 13);
    assert_int_equal(proto_ct_memcmp(a, b, 32), 0);
    assert_int_equal(proto_ct_memcmp(a, b, 0), 0);
    for (int i = 0; i < 32; i++) {
        b[i] ^= 0x80;
        assert_int_not_equal(proto_ct_memcmp(a, b, 32), 0);
        b[i] ^= 0x80;
        b[i] ^= 0x01;
        assert_int_not_equal(proto_ct_memcmp(a, b, 32), 0);
        b[i] ^= 0x01;
    }
}

/* ---- caching_sha2_password (vectors from Python's hashlib) ---- */
#define SHA256_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define S2_APP_PW "70d704fdb79ed76adb5ce50094c6f4eb0bd3c17d4c192702e6d8e2e0798a26de"
#define S2_SECRET "3881219d087dd9c634373fd33dfa33a2cb6bfc6c520b64b8bb60ef2ceb534ae7"
/* S1 XOR SHA256(S2 || nonce) for app_pw and nonce bytes 1..20 */
#define SHA2_REPLY_APP_PW_1_20 "cf98a6d7b6fd67e9f6e4a5d82c104022ff9c3a394a884e5adcb2c37d2c3be94b"
/* for secret and nonce "abcdefghijklmnopqrst" */
#define SHA2_REPLY_SECRET_ABC "c76e2898612a4cf042c77fa8c4702c4c64c0c2c557c53c4d75595aaa6abae809"

static void nonce_1_20(uint8_t n[20])
{
    for (int i = 0; i < 20; i++)
        n[i] = (uint8_t)(i + 1);
}

static void test_sha256_vector(void **state)
{
    (void)state;
    uint8_t want[32], got[32];
    unhex(SHA256_ABC, want);
    proto_sha256("abc", 3, got);
    assert_memory_equal(got, want, 32);
}

static void test_sha2_hash_password(void **state)
{
    (void)state;
    uint8_t want[32], got[32];
    unhex(S2_APP_PW, want);
    proto_sha2_hash_password("app_pw", 6, got);
    assert_memory_equal(got, want, 32);
    unhex(S2_SECRET, want);
    proto_sha2_hash_password("secret", 6, got);
    assert_memory_equal(got, want, 32);
}

static void test_sha2_scramble_vectors(void **state)
{
    (void)state;
    uint8_t nonce[20], want[32], got[32];
    nonce_1_20(nonce);
    unhex(SHA2_REPLY_APP_PW_1_20, want);
    proto_sha2_scramble("app_pw", 6, nonce, 20, got);
    assert_memory_equal(got, want, 32);
    unhex(SHA2_REPLY_SECRET_ABC, want);
    proto_sha2_scramble("secret", 6, (const uint8_t *)"abcdefghijklmnopqrst", 20, got);
    assert_memory_equal(got, want, 32);
}

static void test_sha2_check(void **state)
{
    (void)state;
    uint8_t nonce[20], s2[32], reply[32];
    nonce_1_20(nonce);
    unhex(S2_APP_PW, s2);
    unhex(SHA2_REPLY_APP_PW_1_20, reply);
    assert_int_equal(proto_sha2_check(nonce, 20, reply, 32, s2, 1), 0);
    /* one bit off, a different nonce, a short reply, an empty reply: refused */
    reply[7] ^= 1;
    assert_int_equal(proto_sha2_check(nonce, 20, reply, 32, s2, 1), -1);
    reply[7] ^= 1;
    nonce[0] ^= 1;
    assert_int_equal(proto_sha2_check(nonce, 20, reply, 32, s2, 1), -1);
    nonce[0] ^= 1;
    assert_int_equal(proto_sha2_check(nonce, 20, reply, 31, s2, 1), -1);
    assert_int_equal(proto_sha2_check(nonce, 20, reply, 0, s2, 1), -1);
    /* the reply for another password */
    proto_sha2_scramble("app_pw2", 7, nonce, 20, reply);
    assert_int_equal(proto_sha2_check(nonce, 20, reply, 32, s2, 1), -1);
}

static void test_sha2_check_empty_password(void **state)
{
    (void)state;
    uint8_t nonce[20], zero[32] = {0}, reply[32];
    const uint8_t nul = 0;
    nonce_1_20(nonce);
    assert_true(proto_sha2_reply_is_empty(NULL, 0));
    assert_true(proto_sha2_reply_is_empty(&nul, 1));
    assert_int_equal(proto_sha2_check(nonce, 20, NULL, 0, zero, 0), 0);
    assert_int_equal(proto_sha2_check(nonce, 20, &nul, 1, zero, 0), 0);
    proto_sha2_scramble("x", 1, nonce, 20, reply);
    assert_int_equal(proto_sha2_check(nonce, 20, reply, 32, zero, 0), -1);
}

static void test_auth_more_data(void **state)
{
    (void)state;
    proto_writer w;
    proto_wr_init(&w);
    const uint8_t ok = PROTO_SHA2_FAST_AUTH_OK;
    assert_int_equal(proto_auth_more_data_encode(&w, &ok, 1, 2), 0);
    const uint8_t want[] = {2, 0, 0, 2, 0x01, 0x03};
    assert_int_equal(w.len, sizeof want);
    assert_memory_equal(w.data, want, sizeof want);
    const uint8_t *d = NULL;
    size_t dl = 0;
    assert_int_equal(proto_auth_more_data_decode(w.data + 4, w.len - 4, &d, &dl), 0);
    assert_int_equal(dl, 1);
    assert_int_equal(d[0], PROTO_SHA2_FAST_AUTH_OK);
    proto_wr_free(&w);
    const uint8_t err[] = {0xff, 0x15, 0x04};
    assert_int_equal(proto_auth_more_data_decode(err, sizeof err, &d, &dl), -1);
    assert_int_equal(proto_auth_more_data_decode(err, 0, &d, &dl), -1);
}

static void test_sha2_full_reply(void **state)
{
    (void)state;
    const char *pw = NULL;
    size_t n = 99;
    const uint8_t pub[] = {0x02};
    assert_int_equal(proto_sha2_full_reply_decode(pub, 1, &pw, &n), PROTO_SHA2_MSG_PUBKEY);
    /* the password "\x02" is sent with its NUL: a password, not a key request */
    const uint8_t two[] = {0x02, 0x00};
    assert_int_equal(proto_sha2_full_reply_decode(two, 2, &pw, &n), PROTO_SHA2_MSG_PASSWORD);
    assert_int_equal(n, 1);
    assert_int_equal(pw[0], 0x02);
    const uint8_t secret[] = "secret"; /* 7 bytes with the NUL */
    assert_int_equal(proto_sha2_full_reply_decode(secret, 7, &pw, &n), PROTO_SHA2_MSG_PASSWORD);
    assert_int_equal(n, 6);
    assert_memory_equal(pw, "secret", 6);
    assert_int_equal(proto_sha2_full_reply_decode(secret, 6, &pw, &n), PROTO_SHA2_MSG_PASSWORD);
    assert_int_equal(n, 6);
    const uint8_t empty[] = {0x00};
    assert_int_equal(proto_sha2_full_reply_decode(empty, 1, &pw, &n), PROTO_SHA2_MSG_PASSWORD);
    assert_int_equal(n, 0);
    const uint8_t inner_nul[] = {'a', 0, 'b', 0};
    assert_int_equal(proto_sha2_full_reply_decode(inner_nul, 4, &pw, &n), PROTO_SHA2_MSG_BAD);
}

static void test_native_check_clear(void **state)
{
    (void)state;
    uint8_t h2[20], want_h1[20], h1[20];
    unhex(H2_APP_PW, h2);
    unhex(H1_APP_PW, want_h1);
    assert_int_equal(proto_native_check_clear("app_pw", 6, h2, 1, h1), 0);
    assert_memory_equal(h1, want_h1, 20);
    assert_int_equal(proto_native_check_clear("app_pX", 6, h2, 1, h1), -1);
    assert_int_equal(proto_native_check_clear("", 0, h2, 1, h1), -1);
    uint8_t zero[20] = {0};
    assert_int_equal(proto_native_check_clear("", 0, zero, 0, h1), 0);
    assert_memory_equal(h1, zero, 20);
    assert_int_equal(proto_native_check_clear("x", 1, zero, 0, h1), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1_vectors),
        cmocka_unit_test(test_hash_password),
        cmocka_unit_test(test_parse_format_roundtrip),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_scramble_vectors),
        cmocka_unit_test(test_check_good_and_recover_h1),
        cmocka_unit_test(test_check_real_client_reply),
        cmocka_unit_test(test_check_wrong),
        cmocka_unit_test(test_check_empty_password),
        cmocka_unit_test(test_random_scramble),
        cmocka_unit_test(test_ct_memcmp),
        cmocka_unit_test(test_sha256_vector),
        cmocka_unit_test(test_sha2_hash_password),
        cmocka_unit_test(test_sha2_scramble_vectors),
        cmocka_unit_test(test_sha2_check),
        cmocka_unit_test(test_sha2_check_empty_password),
        cmocka_unit_test(test_auth_more_data),
        cmocka_unit_test(test_sha2_full_reply),
        cmocka_unit_test(test_native_check_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
