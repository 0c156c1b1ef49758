/*
 * tests/unit/test_rules.c — cmocka tests for router/rules.{h,c}: evaluation order (order
 * field, ties in configuration order), first match wins, the user filter, block rules, error
 * messages for bad rules, case-insensitive and dot-all matching, deep copies of the specs,
 * binary and 1 MB inputs, the backtracking limit, and one matcher per thread sharing a ruleset.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/rules.h"

static rwr_rule_spec spec(const char *name, int order, const char *match, const char *user,
                          rwr_rule_action action, const char *server, const char *msg)
{
    rwr_rule_spec s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "%s", name);
    s.order = order;
    s.match = (char *)match;
    s.user = (char *)user;
    s.action = action;
    if (server)
        snprintf(s.server, sizeof s.server, "%s", server);
    s.block_msg = (char *)msg;
    return s;
}

static int match(const rwr_ruleset *rs, rwr_rule_matcher *m, const char *user, const char *sql)
{
    return rwr_rules_match(rs, m, user, sql, strlen(sql));
}

static void test_order_and_first_match(void **state)
{
    (void)state;
    rwr_rule_spec s[4];
    s[0] = spec("late", 30, "select", NULL, RWR_RULE_ROUTE_MASTER, NULL, NULL);
    s[1] = spec("early", 10, "from\\s+reports", NULL, RWR_RULE_ROUTE_REPLICA, NULL, NULL);
    s[2] = spec("tie_a", 20, "from", NULL, RWR_RULE_ROUTE_SERVER, "db3", NULL);
    s[3] = spec("tie_b", 20, "from", NULL, RWR_RULE_BLOCK, NULL, "no");
    char err[256];
    rwr_ruleset *rs = rwr_rules_compile(s, 4, err, sizeof err);
    assert_non_null(rs);
    assert_int_equal(rwr_rules_count(rs), 4);
    assert_string_equal(rwr_rules_get(rs, 0)->name, "early");
    assert_string_equal(rwr_rules_get(rs, 1)->name, "tie_a"); /* ties: configuration order */
    assert_string_equal(rwr_rules_get(rs, 2)->name, "tie_b");
    assert_string_equal(rwr_rules_get(rs, 3)->name, "late");
    assert_null(rwr_rules_get(rs, 4));
    assert_string_equal(rwr_rules_get(rs, 1)->server, "db3");
    rwr_rule_matcher *m = rwr_rule_matcher_new(rs);
    assert_non_null(m);
    assert_int_equal(match(rs, m, "app", "SELECT * FROM reports"), 0);
    assert_int_equal(match(rs, m, "app", "SELECT * FROM orders"), 1);
    assert_int_equal(match(rs, m, "app", "SELECT 1"), 3);
    assert_int_equal(match(rs, m, "app", "UPDATE t SET a = 1"), -1);
    rwr_rule_matcher_free(m);
    rwr_rules_free(rs);
}

static void test_user_filter(void **state)
{
    (void)state;
    rwr_rule_spec s[2];
    s[0] = spec("app_only", 1, "^select", "app", RWR_RULE_ROUTE_REPLICA, NULL, NULL);
    s[1] = spec("anyone", 2, "^select 2", NULL, RWR_RULE_ROUTE_MASTER, NULL, NULL);
    rwr_ruleset *rs = rwr_rules_compile(s, 2, NULL, 0);
    assert_non_null(rs);
    rwr_rule_matcher *m = rwr_rule_matcher_new(rs);
    assert_int_equal(match(rs, m, "app", "select 1"), 0);
    assert_int_equal(match(rs, m, "other", "select 1"), -1);
    assert_int_equal(match(rs, m, "App", "select 1"), -1); /* user names are case-sensitive */
    assert_int_equal(match(rs, m, NULL, "select 1"), -1);
    assert_int_equal(match(rs, m, NULL, "select 2"), 1);
    assert_int_equal(match(rs, m, "other", "select 2"), 1);
    assert_int_equal(match(rs, m, "app", "select 2"), 0);
    rwr_rule_matcher_free(m);
    rwr_rules_free(rs);
}

static void test_block_and_copies(void **state)
{
    (void)state;
    char pattern[32], user[16], msg[32];
    strcpy(pattern, "drop\\s+table");
    strcpy(user, "app");
    strcpy(msg, "DROP is not allowed");
    rwr_rule_spec s = spec("no_drop", 5, pattern, user, RWR_RULE_BLOCK, NULL, msg);
    rwr_ruleset *rs = rwr_rules_compile(&s, 1, NULL, 0);
    assert_non_null(rs);
    /* the ruleset owns copies: the caller's buffers may change or go away */
    memset(pattern, 'x', sizeof pattern - 1);
    memset(user, 0, sizeof user);
    memset(msg, 0, sizeof msg);
    const rwr_rule_spec *g = rwr_rules_get(rs, 0);
    assert_int_equal(g->action, RWR_RULE_BLOCK);
    assert_string_equal(g->block_msg, "DROP is not allowed");
    assert_string_equal(g->user, "app");
    assert_string_equal(g->match, "drop\\s+table");
    assert_ptr_not_equal(g->block_msg, msg);
    rwr_rule_matcher *m = rwr_rule_matcher_new(rs);
    assert_int_equal(match(rs, m, "app", "DROP   TABLE users"), 0);
    assert_int_equal(match(rs, m, "app", "drop\ttable x"), 0);
    rwr_rule_matcher_free(m);
    rwr_rules_free(rs);
}

static void test_errors(void **state)
{
    (void)state;
    char err[256];
    rwr_rule_spec s[2];
    s[0] = spec("good", 1, "ok", NULL, RWR_RULE_ROUTE_MASTER, NULL, NULL);
    s[1] = spec("broken", 2, "select (", NULL, RWR_RULE_ROUTE_MASTER, NULL, NULL);
    assert_null(rwr_rules_compile(s, 2, err, sizeof err));
    print_message("error: %s\n", err);
    assert_non_null(strstr(err, "rule 'broken'"));
    assert_non_null(strstr(err, "missing closing parenthesis"));
    assert_non_null(strstr(err, "offset 8"));
    s[1] = spec("badclass", 2, "[z-a]", NULL, RWR_RULE_ROUTE_MASTER, NULL, NULL);
    assert_null(rwr_rules_compile(s, 2, err, sizeof err));
    assert_non_null(strstr(err, "rule 'badclass'"));
    assert_non_null(strstr(err, "offset"));
    s[1] = spec("noserver", 2, "x", NULL, RWR_RULE_ROUTE_SERVER, NULL, NULL);
    assert_null(rwr_rules_compile(s, 2, err, sizeof err));
    assert_non_null(strstr(err, "rule 'noserver'"));
    assert_non_null(strstr(err, "server"));
    s[1] = spec("nomatch", 2, NULL, NULL, RWR_RULE_ROUTE_MASTER, NULL, NULL);
    assert_null(rwr_rules_compile(s, 2, err, sizeof err));
    assert_non_null(strstr(err, "rule 'nomatch'"));
    /* a tiny error buffer is truncated, not overrun */
    char small[8];
    s[1] = spec("broken", 2, "(", NULL, RWR_RULE_ROUTE_MASTER, NULL, NULL);
    assert_null(rwr_rules_compile(s, 2, small, sizeof small));
    assert_int_equal(strlen(small), sizeof small - 1);
}

static void test_case_and_dotall(void **state)
{
    (void)state;
    rwr_rule_spec s[2];
    s[0] = spec("ci", 1, "^SeLeCt\\s+.*FROM\\s+`?Big_Table", NULL, RWR_RULE_ROUTE_REPLICA, NULL, NULL);
    s[1] = spec("dot", 2, "a.b", NULL, RWR_RULE_ROUTE_MASTER, NULL, NULL);
    rwr_ruleset *rs = rwr_rules_compile(s, 2, NULL, 0);
    rwr_rule_matcher *m = rwr_rule_matcher_new(rs);
    assert_int_equal(match(rs, m, NULL, "select x\nfrom big_table"), 0);
    assert_int_equal(match(rs, m, NULL, "SELECT x FROM `BIG_TABLE`"), 0);
    assert_int_equal(match(rs, m, NULL, "x a\nb"), 1);
    assert_int_equal(match(rs, m, NULL, "nothing"), -1);
    rwr_rule_matcher_free(m);
    rwr_rules_free(rs);
}

static void test_binary_and_long_input(void **state)
{
    (void)state;
    rwr_rule_spec s[2];
    s[0] = spec("tail", 1, "from\\s+huge_table\\s*$", NULL, RWR_RULE_ROUTE_REPLICA, NULL, NULL);
    s[1] = spec("nul", 2, "x\\x00y", NULL, RWR_RULE_BLOCK, NULL, NULL);
    rwr_ruleset *rs = rwr_rules_compile(s, 2, NULL, 0);
    assert_non_null(rs);
    rwr_rule_matcher *m = rwr_rule_matcher_new(rs);
    size_t len = 1u << 20;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, 'a', len);
    memcpy(big, "SELECT ", 7);
    static const char tail[] = " FROM huge_table";
    memcpy(big + len - (sizeof tail - 1), tail, sizeof tail - 1);
    assert_int_equal(rwr_rules_match(rs, m, NULL, big, len), 0);
    big[len - 1] = 'X';
    assert_int_equal(rwr_rules_match(rs, m, NULL, big, len), -1);
    free(big);
    static const char bin[] = "\xff\xfe x\0y \x80";
    assert_int_equal(rwr_rules_match(rs, m, NULL, bin, sizeof bin - 1), 1);
    assert_int_equal(rwr_rules_match(rs, m, NULL, bin, 4), -1); /* len is respected */
    assert_int_equal(rwr_rules_match(rs, m, NULL, NULL, 0), -1);
    rwr_rule_matcher_free(m);
    rwr_rules_free(rs);
}

static void test_backtracking_limit(void **state)
{
    (void)state;
    rwr_rule_spec s[2];
    s[0] = spec("evil", 1, "^(a+)+$", NULL, RWR_RULE_BLOCK, NULL, NULL);
    s[1] = spec("after", 2, "b$", NULL, RWR_RULE_ROUTE_MASTER, NULL, NULL);
    rwr_ruleset *rs = rwr_rules_compile(s, 2, NULL, 0);
    rwr_rule_matcher *m = rwr_rule_matcher_new(rs);
    char text[64];
    memset(text, 'a', 40);
    strcpy(text + 40, "b");
    /* the evil pattern gives up at the match limit (no match), the next rule still runs */
    assert_int_equal(match(rs, m, NULL, text), 1);
    assert_true(rwr_rule_matcher_errors(m) >= 1);
    rwr_rule_matcher_free(m);
    rwr_rules_free(rs);
}

static void test_empty_ruleset(void **state)
{
    (void)state;
    rwr_ruleset *rs = rwr_rules_compile(NULL, 0, NULL, 0);
    assert_non_null(rs);
    assert_int_equal(rwr_rules_count(rs), 0);
    rwr_rule_matcher *m = rwr_rule_matcher_new(rs);
    assert_int_equal(match(rs, m, "app", "select 1"), -1);
    rwr_rule_matcher_free(m);
    rwr_rules_free(rs);
    rwr_rules_free(NULL);
    rwr_rule_matcher_free(NULL);
    assert_int_equal(rwr_rules_count(NULL), 0);
    assert_int_equal(rwr_rules_match(NULL, NULL, NULL, "x", 1), -1);
}

/* Work for one thread: its own matcher over the shared ruleset. */
typedef struct {
    const rwr_ruleset *rs; /* shared */
    int failures;          /* wrong answers seen */
} thread_job;

static void *thread_main(void *arg)
{
    thread_job *j = arg;
    rwr_rule_matcher *m = rwr_rule_matcher_new(j->rs);
    if (!m) {
        j->failures++;
        return NULL;
    }
    char sql[64];
    for (int i = 0; i < 20000; i++) {
        int want = i % 3 == 0 ? 0 : i % 3 == 1 ? 1 : -1;
        snprintf(sql, sizeof sql, "%s %d", want == 0 ? "SELECT" : want == 1 ? "insert into t" : "do", i);
        if (rwr_rules_match(j->rs, m, "app", sql, strlen(sql)) != want)
            j->failures++;
    }
    rwr_rule_matcher_free(m);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    rwr_rule_spec s[2];
    s[0] = spec("reads", 1, "^\\s*select\\b", NULL, RWR_RULE_ROUTE_REPLICA, NULL, NULL);
    s[1] = spec("writes", 2, "^\\s*insert\\b", "app", RWR_RULE_ROUTE_MASTER, NULL, NULL);
    rwr_ruleset *rs = rwr_rules_compile(s, 2, NULL, 0);
    assert_non_null(rs);
    pthread_t th[4];
    thread_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i].rs = rs;
        jobs[i].failures = 0;
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(jobs[i].failures, 0);
    }
    rwr_rules_free(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_first_match),
        cmocka_unit_test(test_user_filter),
        cmocka_unit_test(test_block_and_copies),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_case_and_dotall),
        cmocka_unit_test(test_binary_and_long_input),
        cmocka_unit_test(test_backtracking_limit),
        cmocka_unit_test(test_empty_ruleset),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
