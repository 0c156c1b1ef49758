/*
 * tests/unit/test_failover.c — the monitor's pure decisions (proxy/mon_logic.c) and its event
 * history (proxy/mon_events.c): SHOW ALL SLAVES STATUS mapped by column name, candidate
 * choice from a set of server observations, GTID comparisons, the divergence prechecks of a
 * returning old master, the GTID named by a 1236 error, which writable server to follow, and
 * splitting a promotion_sql file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "proxy/mon_events.h"
#include "proxy/mon_logic.h"

/* ---- SHOW ALL SLAVES STATUS ---- */

static void test_slave_row_by_name(void **state)
{
    (void)state;
    /* columns in an unusual order, with ones we ignore and a NULL lag */
    const char *names[] = {"Connection_name", "Master_Port", "Exec_Master_Log_Pos", "Slave_IO_Running",
                           "Slave_SQL_Running", "Seconds_Behind_Master", "Master_Host",
                           "Gtid_IO_Pos", "Last_IO_Errno", "Last_IO_Error", "Master_Server_Id",
                           "Using_Gtid", "Last_SQL_Errno", "Last_SQL_Error"};
    const char *values[] = {"", "3306", "12345", "Connecting", "Yes", NULL, "db1.example",
                            "0-1-100,1-1-7", "2003", "error connecting", "1", "Slave_Pos", "0", ""};
    rwp_slave_status st;
    rwp_ml_slave_from_row(&st, names, values, 14);
    assert_string_equal(st.io_state, "Connecting");
    assert_int_equal(st.io_running, 0);
    assert_int_equal(st.sql_running, 1);
    assert_int_equal(st.lag_s, -1);
    assert_string_equal(st.master_host, "db1.example");
    assert_int_equal(st.master_port, 3306);
    assert_int_equal(st.master_server_id, 1);
    assert_int_equal(st.using_gtid, 1);
    assert_string_equal(st.gtid_io_pos, "0-1-100,1-1-7");
    assert_int_equal(st.last_io_errno, 2003);
    assert_string_equal(st.last_io_error, "error connecting");
}

static void test_slave_row_mysql_names_and_defaults(void **state)
{
    (void)state;
    const char *names[] = {"Replica_IO_Running", "Replica_SQL_Running", "Seconds_Behind_Source",
                           "Source_Host", "Source_Port", "Auto_Position"};
    const char *values[] = {"Yes", "No", "7", "10.0.0.1", "3307", "1"};
    rwp_slave_status st;
    rwp_ml_slave_from_row(&st, names, values, 6);
    assert_int_equal(st.io_running, 1);
    assert_int_equal(st.sql_running, 0);
    assert_int_equal(st.lag_s, 7);
    assert_string_equal(st.master_host, "10.0.0.1");
    assert_int_equal(st.master_port, 3307);
    assert_int_equal(st.using_gtid, 1);
    /* nothing given: lag unknown, the rest zero */
    rwp_ml_slave_from_row(&st, names, values, 0);
    assert_int_equal(st.lag_s, -1);
    assert_int_equal(st.io_running, 0);
    assert_string_equal(st.master_host, "");
    const char *no_gtid_n[] = {"Using_Gtid"};
    const char *no_gtid_v[] = {"No"};
    rwp_ml_slave_from_row(&st, no_gtid_n, no_gtid_v, 1);
    assert_int_equal(st.using_gtid, 0);
}

static void test_is_source(void **state)
{
    (void)state;
    rwp_slave_status st;
    memset(&st, 0, sizeof st);
    snprintf(st.master_host, sizeof st.master_host, "DB1");
    st.master_port = 3306;
    assert_true(rwp_ml_is_source(&st, "db1", 3306, 0));       /* by host:port, any case */
    assert_false(rwp_ml_is_source(&st, "db1", 3307, 0));
    st.master_server_id = 7;
    assert_true(rwp_ml_is_source(&st, "10.0.0.1", 3306, 7));  /* by server id when both known */
    assert_false(rwp_ml_is_source(&st, "db1", 3306, 8));
}

/* ---- candidate choice ---- */

#define N 4

/* A set of observations: server 0 is the (dead) master at db0:3306 with server_id 1. */
typedef struct {
    rwp_obs obs[N];
    rwp_ml_server s[N];
    char names[N][16];
    char hosts[N][16];
} fleet;

static void fleet_init(fleet *f)
{
    memset(f, 0, sizeof *f);
    for (int i = 0; i < N; i++) {
        snprintf(f->names[i], sizeof f->names[i], "db%d", i);
        snprintf(f->hosts[i], sizeof f->hosts[i], "h%d", i);
        rwp_obs *o = &f->obs[i];
        o->ok = 1;
        o->server_id = (uint32_t)i + 1;
        o->log_bin = 1;
        o->log_slave_updates = 1;
        o->read_only = i == 0 ? 0 : 1;
        if (i > 0) {
            o->nslaves = 1;
            snprintf(o->slave.master_host, sizeof o->slave.master_host, "h0");
            o->slave.master_port = 3306;
            o->slave.master_server_id = 1;
            o->slave.using_gtid = 1;
            o->slave.sql_running = 1;
            o->slave.lag_s = -1;
            snprintf(o->slave.gtid_io_pos, sizeof o->slave.gtid_io_pos, "0-1-100");
            snprintf(o->gtid_current_pos, sizeof o->gtid_current_pos, "0-1-100");
        }
        f->s[i].name = f->names[i];
        f->s[i].obs = o;
        f->s[i].answering = i != 0;
        f->s[i].host = f->hosts[i];
        f->s[i].port = 3306;
        f->s[i].usable = i != 0;
    }
    snprintf(f->obs[0].gtid_binlog_pos, sizeof f->obs[0].gtid_binlog_pos, "0-1-100");
}

static void set_io(fleet *f, int i, const char *io, const char *cur)
{
    snprintf(f->obs[i].slave.gtid_io_pos, sizeof f->obs[i].slave.gtid_io_pos, "%s", io);
    snprintf(f->obs[i].gtid_current_pos, sizeof f->obs[i].gtid_current_pos, "%s", cur);
}

static int pick(fleet *f, char *why, size_t cap)
{
    return rwp_ml_pick_candidate(f->s, N, 0, f->obs[0].gtid_binlog_pos, why, cap);
}

static void test_candidate_highest_received(void **state)
{
    (void)state;
    fleet f;
    char why[512];
    fleet_init(&f);
    set_io(&f, 1, "0-1-98", "0-1-98");
    set_io(&f, 2, "0-1-100", "0-1-97"); /* received most, applied less: still the best */
    set_io(&f, 3, "0-1-99", "0-1-99");
    assert_int_equal(pick(&f, why, sizeof why), 2);
}

static void test_candidate_ties(void **state)
{
    (void)state;
    fleet f;
    char why[512];
    fleet_init(&f);
    /* equal Gtid_IO_Pos: the higher gtid_current_pos (its own extra domain counts) */
    set_io(&f, 1, "0-1-100", "0-1-100");
    set_io(&f, 2, "0-1-100", "0-1-100,5-3-2");
    set_io(&f, 3, "0-1-100", "0-1-100");
    assert_int_equal(pick(&f, why, sizeof why), 2);
    /* all equal: config order */
    set_io(&f, 2, "0-1-100", "0-1-100");
    assert_int_equal(pick(&f, why, sizeof why), 1);
    /* only the master's domain of Gtid_IO_Pos counts */
    set_io(&f, 3, "0-1-100,9-9-500", "0-1-100");
    assert_int_equal(pick(&f, why, sizeof why), 1);
}

static void test_candidate_exclusions(void **state)
{
    (void)state;
    fleet f;
    char why[512];
    fleet_init(&f);
    set_io(&f, 1, "0-1-200", "0-1-200");
    set_io(&f, 2, "0-1-150", "0-1-150");
    set_io(&f, 3, "0-1-120", "0-1-120");
    f.s[1].promotion_never = 1;
    assert_int_equal(pick(&f, why, sizeof why), 2);
    assert_non_null(strstr(why, "db1: promotion = never"));
    f.obs[2].log_bin = 0;
    assert_int_equal(pick(&f, why, sizeof why), 3);
    assert_non_null(strstr(why, "db2: log_bin is off"));
    f.obs[3].slave.using_gtid = 0;
    assert_int_equal(pick(&f, why, sizeof why), -1);
    assert_non_null(strstr(why, "GTID"));
    fleet_init(&f);
    f.obs[1].slave.sql_running = 0;    /* cannot apply its relay log */
    f.s[2].usable = 0;                 /* down / maintenance / fenced */
    f.obs[3].slave.master_server_id = 9; /* replicates from someone else */
    assert_int_equal(pick(&f, why, sizeof why), -1);
    assert_non_null(strstr(why, "db1: SQL thread"));
    assert_non_null(strstr(why, "db2: not usable"));
    assert_non_null(strstr(why, "db3: not a replica of the master"));
}

static void test_gtid_compare(void **state)
{
    (void)state;
    assert_int_equal(rwp_ml_gtid_compare("0-1-5", "0-1-5", NULL), 0);
    assert_int_equal(rwp_ml_gtid_compare("0-1-6", "0-1-5", NULL), 1);
    assert_int_equal(rwp_ml_gtid_compare("0-1-5", "0-1-5,1-1-1", NULL), -1);
    /* neither reached the other: larger sum */
    assert_int_equal(rwp_ml_gtid_compare("0-1-9,1-1-1", "0-1-5,1-1-2", NULL), 1);
    /* restricted to the master's domains */
    assert_int_equal(rwp_ml_gtid_compare("0-1-5,7-1-90", "0-1-6", "0-1-1"), -1);
    assert_int_equal(rwp_ml_gtid_compare("garbage", "0-1-1", NULL), -1);
    assert_int_equal(rwp_ml_gtid_compare("", "", NULL), 0);
}

/* ---- divergence ---- */

static void test_diverged_precheck(void **state)
{
    (void)state;
    char extra[256];
    assert_int_equal(rwp_ml_diverged("0-1-100", "0-2-110", extra, sizeof extra), 0);
    assert_string_equal(extra, "");
    assert_int_equal(rwp_ml_diverged("0-1-100", "0-1-100", extra, sizeof extra), 0);
    assert_int_equal(rwp_ml_diverged("0-1-105", "0-2-103", extra, sizeof extra), 1);
    assert_string_equal(extra, "0-1-105");
    /* a domain the new master never saw, next to a fine one */
    assert_int_equal(rwp_ml_diverged("0-1-100,3-1-4", "0-2-120", extra, sizeof extra), 1);
    assert_string_equal(extra, "3-1-4");
    assert_int_equal(rwp_ml_diverged("", "0-2-1", extra, sizeof extra), 0);
    assert_int_equal(rwp_ml_diverged("x", "0-2-1", extra, sizeof extra), -1);
}

static void test_missing_from_binlog_state(void **state)
{
    (void)state;
    char extra[256];
    /* the new master took 0-2-101..105 after the failover; the old master's 0-1-101 (same
     * sequence range, written while cut off) is not in its history: the cheap precheck passes,
     * the binlog state does not */
    assert_int_equal(rwp_ml_diverged("0-1-101", "0-2-105", extra, sizeof extra), 0);
    assert_int_equal(rwp_ml_missing_from_state("0-1-101", "0-1-100,0-2-105", extra, sizeof extra), 1);
    assert_string_equal(extra, "0-1-101");
    /* a prefix: covered */
    assert_int_equal(rwp_ml_missing_from_state("0-1-100", "0-1-100,0-2-105", extra, sizeof extra), 0);
    assert_string_equal(extra, "");
    /* several domains, one missing server entry */
    assert_int_equal(rwp_ml_missing_from_state("0-1-100,1-3-9", "0-1-100,0-2-105,1-4-20",
                                               extra, sizeof extra), 1);
    assert_string_equal(extra, "1-3-9");
    assert_int_equal(rwp_ml_missing_from_state("0-1-1", "0-1-x", extra, sizeof extra), -1);
}

static void test_gtid_from_1236(void **state)
{
    (void)state;
    char g[64];
    assert_int_equal(rwp_ml_gtid_from_1236(
        "Got fatal error 1236 from master when reading data from binary log: 'Error: connecting "
        "slave requested to start from GTID 0-1-46, which is not in the master's binlog'",
        g, sizeof g), 0);
    assert_string_equal(g, "0-1-46");
    assert_int_equal(rwp_ml_gtid_from_1236("some other error", g, sizeof g), -1);
    assert_int_equal(rwp_ml_gtid_from_1236(NULL, g, sizeof g), -1);
}

/* ---- writer choice ---- */

static void make_writable(fleet *f, int i)
{
    f->obs[i].read_only = 0;
    f->obs[i].nslaves = 0;
}

static void point(fleet *f, int i, int to)
{
    f->obs[i].nslaves = 1;
    snprintf(f->obs[i].slave.master_host, sizeof f->obs[i].slave.master_host, "h%d", to);
    f->obs[i].slave.master_port = 3306;
    f->obs[i].slave.master_server_id = (uint32_t)to + 1;
}

static void test_writer_at_start_and_kept(void **state)
{
    (void)state;
    fleet f;
    fleet_init(&f);
    f.s[0].answering = f.s[0].usable = 1;
    assert_int_equal(rwp_ml_choose_writer(f.s, N, -1, NULL), 0);
    /* a second writable non-replica: the current one stays */
    make_writable(&f, 3);
    assert_int_equal(rwp_ml_choose_writer(f.s, N, 0, NULL), 0);
    /* at start, the one the others replicate from wins over config order */
    f.obs[0].nslaves = 0;
    point(&f, 1, 3);
    point(&f, 2, 3);
    assert_int_equal(rwp_ml_choose_writer(f.s, N, -1, NULL), 3);
}

static void test_writer_adoption(void **state)
{
    (void)state;
    fleet f;
    int was[N] = {0, 1, 1, 1};
    fleet_init(&f);          /* the master (0) does not answer */
    assert_int_equal(rwp_ml_choose_writer(f.s, N, 0, was), -1);
    /* another instance promoted db2 and repointed db1 and db3: follow it */
    make_writable(&f, 2);
    point(&f, 1, 2);
    point(&f, 3, 2);
    assert_int_equal(rwp_ml_choose_writer(f.s, N, 0, was), 2);
    /* writable but nobody replicates from it and it never was a replica of ours: not taken */
    fleet_init(&f);
    make_writable(&f, 3);
    int never[N] = {0, 1, 1, 0};
    assert_int_equal(rwp_ml_choose_writer(f.s, N, 0, never), -1);
    /* ... unless it was a replica of our master (promoted before anyone was repointed) */
    assert_int_equal(rwp_ml_choose_writer(f.s, N, 0, was), 3);
    /* a fenced or maintenance server is never followed */
    f.s[3].usable = 0;
    assert_int_equal(rwp_ml_choose_writer(f.s, N, 0, was), -1);
}

/* ---- promotion_sql ---- */

typedef struct {
    char out[8][128];
    int n;
} stmts;

static int collect(void *arg, const char *s, size_t len)
{
    stmts *st = arg;
    if (st->n < 8)
        snprintf(st->out[st->n++], sizeof st->out[0], "%.*s", (int)len, s);
    return 0;
}

static void test_split_sql(void **state)
{
    (void)state;
    stmts st = {.n = 0};
    const char *text = "-- promote\nSET GLOBAL event_scheduler = ON;\n"
                       "INSERT INTO t VALUES ('a;b', \"c;d\", `e;f`); # trailing; comment\n"
                       "/* block; */ ;;\n"
                       "UPDATE t SET x = 'it\\'s;'\n";
    assert_int_equal(rwp_ml_split_sql(text, collect, &st), 0);
    assert_int_equal(st.n, 3);
    assert_string_equal(st.out[0], "-- promote\nSET GLOBAL event_scheduler = ON");
    assert_string_equal(st.out[1], "INSERT INTO t VALUES ('a;b', \"c;d\", `e;f`)");
    assert_string_equal(st.out[2], "UPDATE t SET x = 'it\\'s;'");
    st.n = 0;
    assert_int_equal(rwp_ml_split_sql("  -- only a comment\n", collect, &st), 0);
    assert_int_equal(st.n, 0);
}

/* ---- event history ---- */

static void test_event_ring(void **state)
{
    (void)state;
    static rwp_ev_ring ring;
    static rwp_mon_event e, out[RWP_EV_HISTORY];
    memset(&ring, 0, sizeof ring);
    for (int i = 1; i <= RWP_EV_HISTORY + 5; i++) {
        rwp_ev_begin(&e, (uint64_t)i, "failover", "db1", 1000 * i);
        rwp_ev_step_add(&e, "lock", 1000 * i, 1, 1, "ok");
        rwp_ev_end(&e, 1, "promoted db2", 1000 * i + 30);
        rwp_ev_push(&ring, &e);
    }
    int n = rwp_ev_copy(&ring, out, RWP_EV_HISTORY);
    assert_int_equal(n, RWP_EV_HISTORY);
    assert_int_equal(out[0].id, 6);                      /* the oldest kept */
    assert_int_equal(out[n - 1].id, RWP_EV_HISTORY + 5); /* the newest last */
    assert_int_equal(rwp_ev_copy(&ring, out, 2), 2);
    assert_int_equal(out[1].id, RWP_EV_HISTORY + 5);
    assert_string_equal(out[1].steps[0].name, "lock");
    for (int i = 0; i < RWP_EV_MAX_STEPS + 3; i++)
        rwp_ev_step_add(&e, "repoint", 0, 0, 1, "");
    assert_int_equal(e.nsteps, RWP_EV_MAX_STEPS);
    assert_int_equal(e.steps_dropped, 4);
}

/* Lag and thread states decide "lagging" and "readable" (max_lag_s = 10). */
static void test_lag_rules(void **state)
{
    (void)state;
    rwp_slave_status st;
    memset(&st, 0, sizeof st);
    st.io_running = st.sql_running = 1;
    st.lag_s = 0;
    assert_false(rwp_ml_lagging(&st, 1, 10));
    assert_true(rwp_ml_readable(&st, 1, 10));
    st.lag_s = 10; /* at the limit: still fine */
    assert_false(rwp_ml_lagging(&st, 1, 10));
    assert_true(rwp_ml_readable(&st, 1, 10));
    st.lag_s = 11; /* over max_lag_s */
    assert_true(rwp_ml_lagging(&st, 1, 10));
    assert_false(rwp_ml_readable(&st, 1, 10));
    st.lag_s = 0;
    st.sql_running = 0; /* SQL thread stopped */
    assert_true(rwp_ml_lagging(&st, 1, 10));
    assert_false(rwp_ml_readable(&st, 1, 10));
    st.sql_running = 1;
    st.io_running = 0;
    st.lag_s = -1; /* IO thread stopped, lag NULL: lagging while its master answers */
    assert_true(rwp_ml_lagging(&st, 1, 10));
    assert_false(rwp_ml_readable(&st, 1, 10));
    /* the master is gone: the replica keeps serving what it has */
    assert_false(rwp_ml_lagging(&st, 0, 10));
    assert_true(rwp_ml_readable(&st, 0, 10));
    st.io_running = 1; /* IO running but lag unknown: not readable */
    assert_false(rwp_ml_readable(&st, 1, 10));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slave_row_by_name),
        cmocka_unit_test(test_slave_row_mysql_names_and_defaults),
        cmocka_unit_test(test_is_source),
        cmocka_unit_test(test_candidate_highest_received),
        cmocka_unit_test(test_candidate_ties),
        cmocka_unit_test(test_candidate_exclusions),
        cmocka_unit_test(test_gtid_compare),
        cmocka_unit_test(test_diverged_precheck),
        cmocka_unit_test(test_missing_from_binlog_state),
        cmocka_unit_test(test_gtid_from_1236),
        cmocka_unit_test(test_writer_at_start_and_kept),
        cmocka_unit_test(test_writer_adoption),
        cmocka_unit_test(test_split_sql),
        cmocka_unit_test(test_event_ring),
        cmocka_unit_test(test_lag_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
