/*
 * tests/unit/test_digest.c — cmocka tests for router/digest.{h,c}: a table of statements and
 * their digests (literals of every kind, IN lists, comments, whitespace, signs, identifiers
 * that look like numbers), the hash agreeing for equal digests and differing otherwise,
 * truncation to the output size, the 4 KiB input bound, and every prefix of every row
 * (no read past len).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/digest.h"

static const struct {
    const char *in;
    const char *want;
} cases[] = {
    {"SELECT 1", "SELECT ?"},
    {"select * from t where id = 42", "select * from t where id = ?"},
    {"SELECT  *\n\tFROM t   WHERE a='x' AND b=\"y\"", "SELECT * FROM t WHERE a=? AND b=?"},
    {"SELECT 'it''s', 'a\\'b', \"q\"\"q\"", "SELECT ?, ?, ?"},
    {"SELECT 1.5, .5, 1e10, 2.5E-3, 0x1F, 0b101, X'0F', x'ab', B'01', N'txt', _utf8mb4'abc'",
     "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"},
    {"SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN (...)"},
    {"SELECT * FROM t WHERE id IN (1,2,3,4,5,6) AND x in('a')", "SELECT * FROM t WHERE id IN (...) AND x in(...)"},
    {"SELECT * FROM t WHERE id NOT IN (?, ?)", "SELECT * FROM t WHERE id NOT IN (...)"},
    {"SELECT * FROM t WHERE id IN (SELECT id FROM u)", "SELECT * FROM t WHERE id IN (SELECT id FROM u)"},
    {"SELECT * FROM t WHERE id IN (a, 1)", "SELECT * FROM t WHERE id IN (a, ?)"},
    {"SELECT * FROM t WHERE id IN (-1, +2)", "SELECT * FROM t WHERE id IN (...)"},
    {"SELECT a FROM t -- trailing comment\nWHERE b = 1", "SELECT a FROM t WHERE b = ?"},
    {"SELECT a # hash comment\nFROM t", "SELECT a FROM t"},
    {"/* leading */ SELECT /*+ hint */ a /*! STRAIGHT_JOIN */ FROM t", "SELECT a FROM t"},
    {"SELECT a--1 FROM t", "SELECT a-? FROM t"},
    {"SELECT a FROM t;", "SELECT a FROM t"},
    {"  SELECT a FROM t ;  ", "SELECT a FROM t"},
    {"SELECT NULL, TRUE, false FROM t WHERE a IS NULL", "SELECT NULL, TRUE, false FROM t WHERE a IS NULL"},
    {"SELECT t1.c2, `weird 1`, 1abc FROM db1.t1", "SELECT t1.c2, `weird 1`, 1abc FROM db1.t1"},
    {"UPDATE t SET a = -5, b = a - 5, c = a-5 WHERE d >= 10", "UPDATE t SET a = ?, b = a - ?, c = a-? WHERE d >= ?"},
    {"SELECT @x := 5, @@session.sql_mode", "SELECT @x := ?, @@session.sql_mode"},
    {"INSERT INTO t VALUES (1, 'a'), (2, 'b')", "INSERT INTO t VALUES (?, ?), (?, ?)"},
    {"SELECT ? FROM t WHERE a = ? LIMIT ?", "SELECT ? FROM t WHERE a = ? LIMIT ?"},
    {"SELECT SLEEP(30)", "SELECT SLEEP(?)"},
    {"", ""},
    {"   ", ""},
    {"/* only a comment */", ""},
    {"SELECT 'unterminated", "SELECT ?"},
    {"SELECT a /* unterminated", "SELECT a"},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[512];
        uint64_t h = 0;
        size_t n = rwr_digest(cases[i].in, strlen(cases[i].in), out, sizeof out, &h);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("digest of [%s]\n   got [%s]\n  want [%s]", cases[i].in, out, cases[i].want);
        assert_int_equal(n, strlen(out));
        assert_true(h == rwr_digest_hash(out, n));
    }
}

static void test_same_and_different(void **state)
{
    (void)state;
    char a[256], b[256];
    uint64_t ha, hb;
    rwr_digest("SELECT * FROM t WHERE id = 1", 28, a, sizeof a, &ha);
    rwr_digest("SELECT *   FROM t WHERE id = 99999", 34, b, sizeof b, &hb);
    assert_string_equal(a, b);
    assert_true(ha == hb);
    rwr_digest("SELECT * FROM u WHERE id = 1", 28, b, sizeof b, &hb);
    assert_true(ha != hb);
    rwr_digest("SELECT * FROM t WHERE id IN (1)", 31, a, sizeof a, &ha);
    rwr_digest("SELECT * FROM t WHERE id IN (1,2,3,4,5,6,7,8)", 45, b, sizeof b, &hb);
    assert_string_equal(a, b);
    assert_true(ha == hb);
}

static void test_truncation(void **state)
{
    (void)state;
    char out[8];
    uint64_t h;
    size_t n = rwr_digest("SELECT abcdefgh FROM t", 22, out, sizeof out, &h);
    assert_int_equal(n, 7);
    assert_string_equal(out, "SELECT ");
    char one[1];
    n = rwr_digest("SELECT 1", 8, one, sizeof one, &h);
    assert_int_equal(n, 0);
    assert_string_equal(one, "");
}

static void test_input_bound(void **state)
{
    (void)state;
    size_t len = 1 << 20;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, 'a', len);
    memcpy(big, "SELECT ", 7);
    char *out = malloc(len);
    assert_non_null(out);
    uint64_t h;
    size_t n = rwr_digest(big, len, out, len, &h);
    assert_int_equal(n, RWR_DIGEST_MAX_INPUT);
    /* two statements that differ only after 4 KiB share a digest */
    big[len - 1] = 'b';
    uint64_t h2;
    rwr_digest(big, len, out, len, &h2);
    assert_true(h == h2);
    free(big);
    free(out);
}

/* Every prefix from an exact-size heap copy: ASan catches a read past len. */
static void test_prefixes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = strlen(cases[i].in);
        for (size_t k = 0; k <= len; k++) {
            char *p = malloc(k ? k : 1);
            assert_non_null(p);
            memcpy(p, cases[i].in, k);
            char out[512];
            uint64_t h;
            size_t n = rwr_digest(p, k, out, sizeof out, &h);
            assert_true(n < sizeof out);
            assert_int_equal(strlen(out), n);
            free(p);
        }
    }
}

static void test_random_bytes(void **state)
{
    (void)state;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int round = 0; round < 2000; round++) {
        char buf[300];
        size_t len = (size_t)(x % sizeof buf);
        for (size_t k = 0; k < len; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[k] = "'\"`()?,-+.0x1e #/*\n\\aIN@_"[x % 26];
        }
        char *p = malloc(len ? len : 1);
        assert_non_null(p);
        memcpy(p, buf, len);
        char out[64];
        uint64_t h;
        size_t n = rwr_digest(p, len, out, sizeof out, &h);
        assert_true(n < sizeof out);
        assert_int_equal(strlen(out), n);
        free(p);
        x += 0x9E3779B97F4A7C15ull;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_same_and_different),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_input_bound),
        cmocka_unit_test(test_prefixes),
        cmocka_unit_test(test_random_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
