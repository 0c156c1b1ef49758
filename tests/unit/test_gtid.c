/*
 * tests/unit/test_gtid.c — GTID positions for read-your-writes (router/gtid.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "router/gtid.h"

static rwr_gtid_pos pos(const char *s)
{
    rwr_gtid_pos p;
    assert_int_equal(rwr_gtid_parse(s, strlen(s), &p), 0);
    return p;
}

static void test_parse_single_and_list(void **state)
{
    (void)state;
    rwr_gtid_pos p = pos("0-1-100");
    assert_int_equal(p.n, 1);
    assert_int_equal(p.g[0].domain, 0);
    assert_int_equal(p.g[0].server, 1);
    assert_int_equal(p.g[0].seq, 100);
    p = pos(" 0-1-100, 1-2-5 ");
    assert_int_equal(p.n, 2);
    assert_int_equal(p.g[1].domain, 1);
    assert_int_equal(p.g[1].seq, 5);
    p = pos("");
    assert_int_equal(p.n, 0);
    p = pos("0-1-18446744073709551615");
    assert_true(p.g[0].seq == UINT64_MAX);
}

static void test_parse_rejects_garbage(void **state)
{
    (void)state;
    const char *bad[] = {"0-1", "0-1-", "a-1-2", "0-1-2,", "0-1-2;1-1-1", "-1-1-1",
                         "0-1-18446744073709551616", "4294967296-1-1", "0 - 1 - 2", "0-1-2x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rwr_gtid_pos p;
        assert_int_equal(rwr_gtid_parse(bad[i], strlen(bad[i]), &p), -1);
    }
}

static void test_same_domain_keeps_highest(void **state)
{
    (void)state;
    rwr_gtid_pos p = pos("0-1-10,0-2-7");
    assert_int_equal(p.n, 1);
    assert_int_equal(p.g[0].seq, 10);
    rwr_gtid_pos q = pos("0-3-12,5-1-1");
    rwr_gtid_merge(&p, &q);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.g[0].seq, 12);
    assert_int_equal(p.g[0].server, 3);
}

static void test_reached(void **state)
{
    (void)state;
    rwr_gtid_pos at = pos("0-1-10,1-1-5");
    rwr_gtid_pos empty = pos("");
    assert_true(rwr_gtid_reached(&at, &empty));
    assert_true(rwr_gtid_reached(&at, &at));
    rwr_gtid_pos w = pos("0-1-10");
    assert_true(rwr_gtid_reached(&at, &w));
    w = pos("0-1-11");
    assert_false(rwr_gtid_reached(&at, &w));
    w = pos("2-1-1");
    assert_false(rwr_gtid_reached(&at, &w)); /* a domain the server has not seen */
    assert_false(rwr_gtid_reached(&empty, &at));
}

static void test_format_round_trip(void **state)
{
    (void)state;
    rwr_gtid_pos p = pos("0-1-100,7-3-42");
    char buf[128];
    size_t n = rwr_gtid_format(&p, buf, sizeof buf);
    assert_string_equal(buf, "0-1-100,7-3-42");
    assert_int_equal(n, strlen(buf));
    rwr_gtid_pos q = pos(buf);
    assert_memory_equal(&p, &q, sizeof p);
    char tiny[8];
    rwr_gtid_format(&p, tiny, sizeof tiny);
    assert_true(strlen(tiny) < sizeof tiny); /* truncated at an entry, terminated */
}

static void test_domain_limit(void **state)
{
    (void)state;
    char text[2048] = "";
    for (int i = 0; i < RWR_GTID_MAX_DOMAINS + 4; i++) {
        char one[32];
        snprintf(one, sizeof one, "%s%d-1-%d", i ? "," : "", i, i + 1);
        strcat(text, one);
    }
    rwr_gtid_pos p = pos(text);
    assert_int_equal(p.n, RWR_GTID_MAX_DOMAINS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_single_and_list),
        cmocka_unit_test(test_parse_rejects_garbage),
        cmocka_unit_test(test_same_domain_keeps_highest),
        cmocka_unit_test(test_reached),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_domain_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
