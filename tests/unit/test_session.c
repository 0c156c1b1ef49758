/*
 * tests/unit/test_session.c — the routing state of a session (router/session.c):
 * transaction tracking from status flags, READ ONLY transactions on a replica, pins,
 * temporary tables, the session command history and its limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "router/session.h"

#define IN_TRANS   0x0001
#define AUTOCOMMIT 0x0002

static rwr_decision decision(rwr_target t, unsigned flags)
{
    rwr_decision d;
    memset(&d, 0, sizeof d);
    d.target = t;
    d.flags = flags;
    d.reason = "test";
    return d;
}

static rwr_dest route(rwr_session *s, rwr_target t, unsigned flags)
{
    const char *why = NULL;
    rwr_decision d = decision(t, flags);
    rwr_dest dest = rwr_session_route(s, &d, &why);
    assert_non_null(why);
    rwr_session_before(s, &d, dest);
    return dest;
}

static void test_autocommit_reads_go_to_replicas(void **state)
{
    (void)state;
    rwr_session s;
    rwr_session_init(&s);
    assert_int_equal(route(&s, RWR_REPLICA, RWR_F_READ), RWR_DEST_REPLICA);
    assert_int_equal(route(&s, RWR_MASTER, RWR_F_WRITE), RWR_DEST_MASTER);
    assert_int_equal(route(&s, RWR_PREVIOUS, 0), RWR_DEST_PREVIOUS);
    assert_int_equal(route(&s, RWR_SERVER, 0), RWR_DEST_SERVER);
    rwr_session_free(&s);
}

static void test_transaction_pins_to_master_until_status_says_done(void **state)
{
    (void)state;
    rwr_session s;
    rwr_session_init(&s);
    assert_int_equal(route(&s, RWR_MASTER, RWR_F_TRX_BEGIN), RWR_DEST_MASTER);
    rwr_session_status(&s, IN_TRANS | AUTOCOMMIT, 0);
    assert_true(rwr_session_in_transaction(&s));
    assert_int_equal(route(&s, RWR_REPLICA, RWR_F_READ), RWR_DEST_MASTER);
    /* a replica hint is ignored inside a transaction */
    rwr_decision d = decision(RWR_REPLICA, RWR_F_READ);
    d.hint = 2;
    const char *why;
    assert_int_equal(rwr_session_route(&s, &d, &why), RWR_DEST_MASTER);
    rwr_session_status(&s, AUTOCOMMIT, 0); /* COMMIT answered */
    assert_false(rwr_session_in_transaction(&s));
    assert_int_equal(route(&s, RWR_REPLICA, RWR_F_READ), RWR_DEST_REPLICA);
    rwr_session_free(&s);
}

static void test_autocommit_off_keeps_master(void **state)
{
    (void)state;
    rwr_session s;
    rwr_session_init(&s);
    rwr_session_status(&s, 0, 0); /* SET autocommit=0 answered: no AUTOCOMMIT flag */
    assert_int_equal(route(&s, RWR_REPLICA, RWR_F_READ), RWR_DEST_MASTER);
    rwr_session_status(&s, AUTOCOMMIT, 0);
    assert_int_equal(route(&s, RWR_REPLICA, RWR_F_READ), RWR_DEST_REPLICA);
    rwr_session_free(&s);
}

static void test_read_only_transaction_on_one_replica(void **state)
{
    (void)state;
    rwr_session s;
    rwr_session_init(&s);
    assert_int_equal(route(&s, RWR_MASTER, RWR_F_TRX_BEGIN | RWR_F_TRX_BEGIN_RO), RWR_DEST_REPLICA);
    assert_true(s.ro_trx_on_replica);
    rwr_session_status(&s, IN_TRANS | AUTOCOMMIT, 1);
    assert_int_equal(route(&s, RWR_REPLICA, RWR_F_READ), RWR_DEST_TRX_REPLICA);
    assert_int_equal(route(&s, RWR_MASTER, RWR_F_SESSION), RWR_DEST_TRX_REPLICA);
    /* the master's flags do not end the replica's transaction */
    rwr_session_status(&s, AUTOCOMMIT, 0);
    assert_true(s.ro_trx_on_replica);
    assert_int_equal(route(&s, RWR_MASTER, RWR_F_TRX_END), RWR_DEST_TRX_REPLICA);
    rwr_session_status(&s, AUTOCOMMIT, 1);
    assert_false(s.ro_trx_on_replica);
    assert_int_equal(route(&s, RWR_REPLICA, RWR_F_READ), RWR_DEST_REPLICA);
    rwr_session_free(&s);
}

static void test_pins(void **state)
{
    (void)state;
    rwr_session s;
    rwr_session_init(&s);
    /* LOCK TABLES holds the session on the master until UNLOCK TABLES */
    assert_int_equal(route(&s, RWR_MASTER, RWR_F_PIN_MASTER | RWR_F_LOCK_TABLES), RWR_DEST_MASTER);
    assert_false(s.pinned);
    assert_int_equal(route(&s, RWR_REPLICA, RWR_F_READ), RWR_DEST_MASTER);
    assert_int_equal(route(&s, RWR_MASTER, RWR_F_UNLOCK_TABLES), RWR_DEST_MASTER);
    assert_int_equal(route(&s, RWR_REPLICA, RWR_F_READ), RWR_DEST_REPLICA);
    /* GET_LOCK and the like pin for good */
    assert_int_equal(route(&s, RWR_MASTER, RWR_F_PIN_MASTER), RWR_DEST_MASTER);
    assert_true(s.pinned);
    assert_int_equal(route(&s, RWR_REPLICA, RWR_F_READ), RWR_DEST_MASTER);
    rwr_session_reset(&s);
    assert_false(s.pinned);
    assert_int_equal(route(&s, RWR_REPLICA, RWR_F_READ), RWR_DEST_REPLICA);
    /* SELECT @v := ... pins; SET @v = ... is replayed instead */
    assert_int_equal(route(&s, RWR_MASTER, RWR_F_USER_VAR_WRITE | RWR_F_SESSION), RWR_DEST_MASTER);
    assert_false(s.pinned);
    route(&s, RWR_MASTER, RWR_F_USER_VAR_WRITE);
    assert_true(s.pinned);
    rwr_session_free(&s);
}

static void test_user_variables_after_server_side_code(void **state)
{
    (void)state;
    rwr_session s;
    rwr_session_init(&s);
    assert_int_equal(route(&s, RWR_REPLICA, RWR_F_READ | RWR_F_USER_VAR_READ), RWR_DEST_REPLICA);
    route(&s, RWR_MASTER, RWR_F_SESSION | RWR_F_USER_VAR_WRITE); /* SET @v = 1: replayed */
    assert_int_equal(route(&s, RWR_REPLICA, RWR_F_READ | RWR_F_USER_VAR_READ), RWR_DEST_REPLICA);
    route(&s, RWR_MASTER, RWR_F_WRITE); /* CALL p(@v), or a write whose trigger sets @v */
    assert_int_equal(route(&s, RWR_REPLICA, RWR_F_READ | RWR_F_USER_VAR_READ), RWR_DEST_MASTER);
    assert_int_equal(route(&s, RWR_REPLICA, RWR_F_READ), RWR_DEST_REPLICA);
    rwr_session_free(&s);
}

static void test_temporary_tables(void **state)
{
    (void)state;
    rwr_session s;
    rwr_session_init(&s);
    rwr_decision d = decision(RWR_MASTER, RWR_F_TEMP_CREATE | RWR_F_WRITE);
    strcpy(d.temp_name, "Tmp1");
    const char *why;
    rwr_session_before(&s, &d, rwr_session_route(&s, &d, &why));
    assert_true(rwr_session_is_temp(&s, "tmp1", 4));
    assert_false(rwr_session_is_temp(&s, "tmp", 3));
    d = decision(RWR_MASTER, RWR_F_TEMP_DROP);
    strcpy(d.temp_name, "tmp1");
    rwr_session_before(&s, &d, RWR_DEST_MASTER);
    assert_false(rwr_session_is_temp(&s, "tmp1", 4));
    for (int i = 0; i <= RWR_MAX_TEMP_TABLES; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        rwr_session_temp_add(&s, name);
    }
    assert_true(s.pinned); /* too many to track: the master it is */
    rwr_session_free(&s);
}

static void test_history_records_and_limits(void **state)
{
    (void)state;
    rwr_session s;
    rwr_session_init(&s);
    uint8_t pkt[] = {4, 0, 0, 0, 3, 'S', 'E', 'T'};
    assert_int_equal(rwr_session_record(&s, pkt, sizeof pkt), 0);
    assert_int_equal(s.nhist, 1);
    assert_memory_equal(s.hist[0].pkt, pkt, sizeof pkt);
    for (int i = 1; i < RWR_HISTORY_MAX_ENTRIES; i++)
        assert_int_equal(rwr_session_record(&s, pkt, sizeof pkt), 0);
    assert_false(s.pinned);
    assert_int_equal(rwr_session_record(&s, pkt, sizeof pkt), -1);
    assert_true(s.pinned);
    uint64_t gen = s.hist_generation;
    rwr_session_reset(&s);
    assert_int_equal(s.nhist, 0);
    assert_int_equal(s.hist_generation, gen + 1);
    static uint8_t big[RWR_HISTORY_MAX_BYTES + 1];
    assert_int_equal(rwr_session_record(&s, big, sizeof big), -1);
    assert_true(s.pinned);
    rwr_session_free(&s);
}

/* Two sessions that ran the same session commands have equal chains at every step (a pooled
 * connection in one's state serves the other without replay); any difference in content or
 * order gives another chain from there on. */
static void test_history_chain(void **state)
{
    (void)state;
    static const uint8_t a[] = {0x13, 0, 0, 0, 0x03, 'S', 'E', 'T', ' ', 'N', 'A', 'M', 'E', 'S', ' ',
                                'u', 't', 'f', '8', 'm', 'b', '4', ' '};
    static const uint8_t b[] = {0x0d, 0, 0, 0, 0x03, 'S', 'E', 'T', ' ', '@', 'x', ' ', '=', ' ', '1',
                                ' ', ' '};
    rwr_session s1, s2, s3;
    rwr_session_init(&s1);
    rwr_session_init(&s2);
    rwr_session_init(&s3);
    assert_int_equal(rwr_session_record(&s1, a, sizeof a), 0);
    assert_int_equal(rwr_session_record(&s1, b, sizeof b), 0);
    assert_int_equal(rwr_session_record(&s2, a, sizeof a), 0);
    assert_int_equal(rwr_session_record(&s2, b, sizeof b), 0);
    assert_int_equal(rwr_session_record(&s3, b, sizeof b), 0);
    assert_int_equal(rwr_session_record(&s3, a, sizeof a), 0);
    assert_true(s1.hist[0].chain != 0 && s1.hist[1].chain != 0);
    assert_true(s1.hist[0].chain == s2.hist[0].chain);
    assert_true(s1.hist[1].chain == s2.hist[1].chain);
    assert_true(s1.hist[0].chain != s1.hist[1].chain);
    assert_true(s3.hist[1].chain != s1.hist[1].chain); /* same entries, other order */
    assert_true(s3.hist[0].chain != s1.hist[0].chain);
    assert_true(rwr_history_chain(0, a, sizeof a) == s1.hist[0].chain);
    assert_true(rwr_history_chain(s1.hist[0].chain, b, sizeof b) == s1.hist[1].chain);
    rwr_session_free(&s1);
    rwr_session_free(&s2);
    rwr_session_free(&s3);
}

static void test_autocommit_set_detection(void **state)
{
    (void)state;
    static const char *const yes[] = {"SET autocommit=0", "set autocommit = 1", "SET @@session.autocommit=ON",
                                      "SET @@autocommit = off;", "SET SESSION autocommit=true", "  SET autocommit=FALSE ; "};
    static const char *const no[] = {"SET autocommit=0, sql_mode=''", "SET autocommit=@x", "SET autocommitx=1",
                                     "SET GLOBAL autocommit=1", "SELECT 1", "SET autocommit=10", "SET autocommit=0; SELECT 1",
                                     "SETautocommit=1", "SET autocommit=onx", ""};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        assert_true(rwr_is_autocommit_set(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(rwr_is_autocommit_set(no[i], strlen(no[i])));
    /* the history keeps one entry: drop_last forgets the newest */
    rwr_session s;
    rwr_session_init(&s);
    static const uint8_t p[] = {0x11, 0, 0, 0, 0x03, 'S', 'E', 'T', ' ', 'a', 'u', 't', 'o', 'c', 'o', 'm', 'm', 'i', 't', '=', '0'};
    assert_int_equal(rwr_session_record(&s, p, sizeof p), 0);
    rwr_session_drop_last(&s);
    assert_int_equal(s.nhist, 0);
    assert_int_equal(s.hist_bytes, 0);
    rwr_session_drop_last(&s); /* empty: nothing happens */
    rwr_session_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_autocommit_reads_go_to_replicas),
        cmocka_unit_test(test_transaction_pins_to_master_until_status_says_done),
        cmocka_unit_test(test_autocommit_off_keeps_master),
        cmocka_unit_test(test_read_only_transaction_on_one_replica),
        cmocka_unit_test(test_pins),
        cmocka_unit_test(test_temporary_tables),
        cmocka_unit_test(test_history_records_and_limits),
        cmocka_unit_test(test_history_chain),
        cmocka_unit_test(test_autocommit_set_detection),
        cmocka_unit_test(test_user_variables_after_server_side_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
