/*
 * tests/unit/test_config.c — cmocka tests of proxy/config.c: a full valid file, defaults,
 * every class of error (each naming file, line, section and key), password and
 * password_hash handling, lookups, the dump (passwords hidden), restart_needed, the reload's
 * server slot alignment, the key
 * table's own consistency, and that docs/config.md and the shipped configs/ files agree
 * with the table (checked when the test runs from the repository root, as `make unit` does).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "proxy/config.h"
#include "proxy/log.h"

#include <limits.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The smallest valid file: lines 1-4. Tests append to it, so their lines start at 5. */
#define MINIMAL "[monitor]\nuser = monitor\n[server.db1]\nhost = 127.0.0.1\n"

static char err[1024]; /* error text of the last parse */

static rwp_config *parse(const char *text)
{
    err[0] = '\0';
    return rwp_config_parse_string(text, "t.ini", err, sizeof err);
}

/* Parsing text must fail with an error containing want. */
static void expect_error(const char *text, const char *want)
{
    rwp_config *c = parse(text);
    if (c || !strstr(err, want))
        fail_msg("input:\n%s\nwanted error containing \"%s\", got %s \"%s\"", text, want,
                 c ? "success" : "error", err);
    rwp_config_free(c);
}

/* MINIMAL followed by extra must fail with want. */
static void expect_error_after_minimal(const char *extra, const char *want)
{
    char text[8192];
    snprintf(text, sizeof text, "%s%s", MINIMAL, extra);
    expect_error(text, want);
}

static rwp_config *parse_ok(const char *text)
{
    rwp_config *c = parse(text);
    if (!c)
        fail_msg("unexpected error: %s\ninput:\n%s", err, text);
    return c;
}

static rwp_config *parse_minimal_plus(const char *extra)
{
    static char text[8192];
    snprintf(text, sizeof text, "%s%s", MINIMAL, extra);
    return parse_ok(text);
}

static const char FULL[] =
    "; a full configuration\n"
    "[proxy]\n"
    "listen = 0.0.0.0:7033        ; inline comment\n"
    "threads = 4                  # hash comment\n"
    "log_level = debug\n"
    "shutdown_timeout_ms = 2500\n"
    "[admin]\n"
    "listen = [::1]:7032\n"
    "user = boss\n"
    "password = admin_pw\n"
    "[monitor]\n"
    "user = monitor\n"
    "password = monitor_pw\n"
    "interval_ms = 250\n"
    "connect_timeout_ms = 800\n"
    "failcount = 5\n"
    "auto_failover = off\n"
    "auto_rejoin = no\n"
    "enforce_read_only = FALSE\n"
    "failover_cooldown_s = 120\n"
    "[replication]\n"
    "user = repl\n"
    "password = repl_pw\n"
    "[failover]\n"
    "hold_ms = 3000\n"
    "switchover_hold_ms = 4000\n"
    "[routing]\n"
    "max_lag_s = 3\n"
    "balance = weighted\n"
    "consistency = session\n"
    "causal_timeout_ms = 200\n"
    "[limits]\n"
    "max_client_connections = 500\n"
    "handshake_timeout_ms = 3000\n"
    "max_packet_size = 16M\n"
    "client_idle_timeout_s = 3600\n"
    "[server.db1]\n"
    "host = 10.0.0.1\n"
    "port = 3307\n"
    "weight = 3\n"
    "max_connections = 100\n"
    "[server.db-2]\n"
    "host = db2.example.com\n"
    "promotion = never\n"
    "[server.db_3]\n"
    "host = [fd00::3]\n"
    "[user.app]\n"
    "password = app_pw\n"
    "max_connections = 50\n"
    "[user.hashed]\n"
    "password_hash = *2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19\n"
    "[user.nopw]\n"
    "password =\n";

static void test_full_config(void **state)
{
    (void)state;
    rwp_config *c = parse_ok(FULL);
    assert_string_equal(c->path, "t.ini");
    assert_string_equal(c->listen_host, "0.0.0.0");
    assert_int_equal(c->listen_port, 7033);
    assert_int_equal(c->threads, 4);
    assert_int_equal(c->log_level, RWP_LOGL_DEBUG);
    assert_int_equal(c->shutdown_timeout_ms, 2500);
    assert_string_equal(c->admin_host, "::1");
    assert_int_equal(c->admin_port, 7032);
    assert_string_equal(c->admin_user, "boss");
    assert_string_equal(c->admin_password, "admin_pw");
    assert_string_equal(c->monitor_user, "monitor");
    assert_string_equal(c->monitor_password, "monitor_pw");
    assert_int_equal(c->monitor_interval_ms, 250);
    assert_int_equal(c->monitor_connect_timeout_ms, 800);
    assert_int_equal(c->monitor_failcount, 5);
    assert_int_equal(c->auto_failover, 0);
    assert_int_equal(c->auto_rejoin, 0);
    assert_int_equal(c->enforce_read_only, 0);
    assert_int_equal(c->failover_cooldown_s, 120);
    assert_string_equal(c->repl_user, "repl");
    assert_string_equal(c->repl_password, "repl_pw");
    assert_int_equal(c->hold_ms, 3000);
    assert_int_equal(c->switchover_hold_ms, 4000);
    assert_string_equal(c->promotion_sql, "");
    assert_int_equal(c->max_lag_s, 3);
    assert_int_equal(c->balance, RWP_BALANCE_WEIGHTED);
    assert_int_equal(c->consistency, RWP_CONSISTENCY_SESSION);
    assert_int_equal(c->causal_timeout_ms, 200);
    assert_int_equal(c->max_client_connections, 500);
    assert_int_equal(c->handshake_timeout_ms, 3000);
    assert_true(c->max_packet_size == 16 * 1024 * 1024);
    assert_int_equal(c->client_idle_timeout_s, 3600);

    assert_int_equal(c->nservers, 3);
    assert_string_equal(c->servers[0].name, "db1");
    assert_string_equal(c->servers[0].host, "10.0.0.1");
    assert_int_equal(c->servers[0].port, 3307);
    assert_int_equal(c->servers[0].weight, 3);
    assert_int_equal(c->servers[0].max_connections, 100);
    assert_int_equal(c->servers[0].promotion_never, 0);
    assert_string_equal(c->servers[1].name, "db-2");
    assert_string_equal(c->servers[1].host, "db2.example.com");
    assert_int_equal(c->servers[1].port, 3306);
    assert_int_equal(c->servers[1].promotion_never, 1);
    assert_string_equal(c->servers[2].name, "db_3");
    assert_string_equal(c->servers[2].host, "fd00::3");

    assert_int_equal(c->nusers, 3);
    const rwp_user_cfg *u = rwp_config_find_user(c, "app", 3);
    assert_non_null(u);
    assert_int_equal(u->max_connections, 50);
    assert_int_equal(u->has_password, 1);
    assert_int_equal(u->has_h1, 1);
    assert_string_equal(u->password, "app_pw");
    rwp_config_free(c);
}

static void test_defaults(void **state)
{
    (void)state;
    rwp_config *c = parse_ok(MINIMAL);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    assert_string_equal(c->listen_host, "127.0.0.1");
    assert_int_equal(c->listen_port, 6033);
    assert_int_equal(c->threads, ncpu < 1 ? 1 : (ncpu > 256 ? 256 : ncpu));
    assert_int_equal(c->log_level, RWP_LOGL_INFO);
    assert_int_equal(c->shutdown_timeout_ms, 10000);
    assert_string_equal(c->admin_host, "127.0.0.1");
    assert_int_equal(c->admin_port, 6032);
    assert_string_equal(c->admin_user, "admin");
    assert_string_equal(c->admin_password, "");
    assert_string_equal(c->monitor_password, "");
    assert_int_equal(c->monitor_interval_ms, 500);
    assert_int_equal(c->monitor_connect_timeout_ms, 1000);
    assert_int_equal(c->monitor_failcount, 3);
    assert_int_equal(c->auto_failover, 1);
    assert_int_equal(c->auto_rejoin, 1);
    assert_int_equal(c->enforce_read_only, 1);
    assert_int_equal(c->failover_cooldown_s, 60);
    assert_string_equal(c->repl_user, "");
    assert_int_equal(c->hold_ms, 5000);
    assert_int_equal(c->switchover_hold_ms, 5000);
    assert_string_equal(c->promotion_sql, "");
    assert_int_equal(c->max_lag_s, 10);
    assert_int_equal(c->balance, RWP_BALANCE_LEAST_CONN);
    assert_int_equal(c->consistency, RWP_CONSISTENCY_GLOBAL);
    assert_int_equal(c->causal_timeout_ms, 1000);
    assert_int_equal(c->max_client_connections, 10000);
    assert_int_equal(c->handshake_timeout_ms, 10000);
    assert_true(c->max_packet_size == 1073741824LL);
    assert_int_equal(c->client_idle_timeout_s, 0);
    assert_int_equal(c->nservers, 1);
    assert_int_equal(c->servers[0].port, 3306);
    assert_int_equal(c->servers[0].weight, 1);
    assert_int_equal(c->servers[0].max_connections, 0);
    assert_int_equal(c->servers[0].promotion_never, 0);
    assert_int_equal(c->nusers, 0);
    rwp_config_free(c);
}

/* Every default in the table is a valid value and is what the dump shows when unset. */
static void check_default_row(void *ctx, const char *section, const char *key, const char *value)
{
    (void)ctx;
    size_t n;
    const rwp_config_key *keys = rwp_config_keys(&n);
    const char *tsection = !strncmp(section, "server.", 7) ? "server.NAME"
                           : !strncmp(section, "user.", 5) ? "user.NAME" : section;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(keys[i].section, tsection) && !strcmp(keys[i].key, key)) {
            if (keys[i].def && strcmp(keys[i].def, value))
                fail_msg("%s.%s: default '%s' but dump shows '%s'", section, key, keys[i].def, value);
            return;
        }
    fail_msg("dump shows %s.%s, not in the table", section, key);
}

static void test_defaults_match_table(void **state)
{
    (void)state;
    rwp_config *c = parse_ok(MINIMAL "[user.u]\npassword_hash = *2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19\n");
    rwp_config_dump(c, check_default_row, NULL);
    rwp_config_free(c);
}

static void test_key_table(void **state)
{
    (void)state;
    size_t n;
    const rwp_config_key *keys = rwp_config_keys(&n);
    assert_true(n >= 36);
    for (size_t i = 0; i < n; i++) {
        const rwp_config_key *k = &keys[i];
        assert_non_null(k->section);
        assert_non_null(k->key);
        assert_non_null(k->type);
        assert_true(k->doc && strlen(k->doc) > 10);
        if (k->kind == RWP_CK_INT)
            assert_true(k->min <= k->max && k->max <= INT_MAX && k->min >= INT_MIN);
        int restart = (!strcmp(k->section, "proxy") && !strcmp(k->key, "listen")) ||
                      (!strcmp(k->section, "proxy") && !strcmp(k->key, "threads")) ||
                      (!strcmp(k->section, "admin") && !strcmp(k->key, "listen")) ||
                      (!strcmp(k->section, "admin") && !strcmp(k->key, "metrics_listen"));
        assert_int_equal(k->reloadable, !restart);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(keys[j].section, k->section) && !strcmp(keys[j].key, k->key))
                fail_msg("%s.%s twice in the table", k->section, k->key);
    }
}

/* ---- values ---- */

static void test_booleans(void **state)
{
    (void)state;
    const char *on[] = {"on", "yes", "true", "1", "ON", "True"};
    const char *off[] = {"off", "no", "false", "0", "Off", "NO"};
    for (size_t i = 0; i < 6; i++) {
        char text[512];
        snprintf(text, sizeof text, "[monitor]\nuser = m\nauto_failover = %s\n[server.a]\nhost = h\n", on[i]);
        rwp_config *c = parse_ok(text);
        assert_int_equal(c->auto_failover, 1);
        rwp_config_free(c);
        snprintf(text, sizeof text, "[monitor]\nuser = m\nauto_failover = %s\n[server.a]\nhost = h\n", off[i]);
        c = parse_ok(text);
        assert_int_equal(c->auto_failover, 0);
        rwp_config_free(c);
    }
    expect_error("[monitor]\nuser = m\nauto_rejoin = maybe\n[server.a]\nhost = h\n",
                 "t.ini:3: [monitor] auto_rejoin: 'maybe': expected on/off");
    expect_error("[monitor]\nuser = m\nauto_rejoin =\n[server.a]\nhost = h\n",
                 "t.ini:3: [monitor] auto_rejoin: ");
}

static void test_sizes(void **state)
{
    (void)state;
    struct { const char *in; long long want; } ok[] = {
        {"1024", 1024}, {"4K", 4096}, {"4k", 4096}, {"16M", 16777216}, {"1G", 1073741824},
        {"1073741824", 1073741824}};
    char extra[128];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(extra, sizeof extra, "[limits]\nmax_packet_size = %s\n", ok[i].in);
        rwp_config *c = parse_minimal_plus(extra);
        assert_true(c->max_packet_size == ok[i].want);
        rwp_config_free(c);
    }
    expect_error_after_minimal("[limits]\nmax_packet_size = 2G\n",
                               "t.ini:6: [limits] max_packet_size: 2147483648 is out of range (1024..1073741824)");
    expect_error_after_minimal("[limits]\nmax_packet_size = 512\n", "out of range");
    expect_error_after_minimal("[limits]\nmax_packet_size = 1T\n",
                               "t.ini:6: [limits] max_packet_size: '1T': not a size");
    expect_error_after_minimal("[limits]\nmax_packet_size = M\n", "not a size");
    expect_error_after_minimal("[limits]\nmax_packet_size = -1K\n", "not a size");
    expect_error_after_minimal("[limits]\nmax_packet_size = 99999999999999999999G\n", "not a size");
}

/* The write-queue water marks: defaults, both set, and low above high refused. */
static void test_write_queue_marks(void **state)
{
    (void)state;
    rwp_config *c = parse_minimal_plus("");
    assert_true(c->writeq_high_water == 4194304 && c->writeq_low_water == 1048576);
    rwp_config_free(c);
    c = parse_minimal_plus("[limits]\nwriteq_high_water = 1\nwriteq_low_water = 1\n");
    assert_true(c->writeq_high_water == 1 && c->writeq_low_water == 1);
    rwp_config_free(c);
    expect_error_after_minimal("[limits]\nwriteq_high_water = 64K\nwriteq_low_water = 1M\n",
                               "t.ini:7: [limits] writeq_low_water: larger than writeq_high_water (65536)");
    expect_error_after_minimal("[limits]\nwriteq_low_water = 0\n", "out of range");
}

static void test_listen_forms(void **state)
{
    (void)state;
    rwp_config *c = parse_minimal_plus("[proxy]\nlisten = [::1]:7000\n[admin]\nlisten = localhost:7001\n");
    assert_string_equal(c->listen_host, "::1");
    assert_int_equal(c->listen_port, 7000);
    assert_string_equal(c->admin_host, "localhost");
    assert_int_equal(c->admin_port, 7001);
    rwp_config_free(c);

    expect_error_after_minimal("[proxy]\nlisten = 127.0.0.1\n",
                               "t.ini:6: [proxy] listen: '127.0.0.1': expected host:port");
    expect_error_after_minimal("[proxy]\nlisten = ::1:6033\n", "needs brackets");
    expect_error_after_minimal("[proxy]\nlisten = [::1]6033\n", "expected [IPv6-address]:port");
    expect_error_after_minimal("[proxy]\nlisten = [zz]:6033\n", "invalid IPv6 address");
    expect_error_after_minimal("[proxy]\nlisten = :6033\n", "invalid host");
    expect_error_after_minimal("[proxy]\nlisten = 127.0.0.1:0\n", "port must be 1..65535");
    expect_error_after_minimal("[proxy]\nlisten = 127.0.0.1:65536\n", "port must be 1..65535");
    expect_error_after_minimal("[proxy]\nlisten = 127.0.0.1:x\n", "port must be 1..65535");
    expect_error_after_minimal("[admin]\nlisten = 127.0.0.1:\n", "t.ini:6: [admin] listen:");
    expect_error_after_minimal("[admin]\nlisten = 127.0.0.1:6033\n",
                               "t.ini:6: [admin] listen: same port as [proxy] listen (6033)");
    expect_error_after_minimal("[proxy]\nlisten = 0.0.0.0:6032\n", "same port as [proxy] listen");
}

/* ---- errors ---- */

static void test_error_unknown_section_and_key(void **state)
{
    (void)state;
    expect_error_after_minimal("[bogus]\nx = 1\n", "t.ini:5: [bogus]: unknown section (expected one of proxy, admin");
    expect_error_after_minimal("[server]\nhost = x\n", "t.ini:5: [server]: unknown section");
    expect_error_after_minimal("[proxy]\nlisten_port = 1\n", "t.ini:6: [proxy] listen_port: unknown key");
    expect_error_after_minimal("[server.db2]\nhost = h\nweigth = 2\n", "t.ini:7: [server.db2] weigth: unknown key");
    expect_error_after_minimal("[user.u]\npassword = x\nhost = h\n", "t.ini:7: [user.u] host: unknown key");
    expect_error("x = 1\n" MINIMAL, "t.ini:1: key 'x' outside of any section");
}

static void test_error_bad_int_and_range(void **state)
{
    (void)state;
    expect_error_after_minimal("[proxy]\nthreads = abc\n", "t.ini:6: [proxy] threads: 'abc': not an integer");
    expect_error_after_minimal("[proxy]\nthreads = 4x\n", "'4x': not an integer");
    expect_error_after_minimal("[proxy]\nthreads = 4.0\n", "not an integer");
    expect_error_after_minimal("[proxy]\nthreads =\n", "t.ini:6: [proxy] threads: '': not an integer");
    expect_error_after_minimal("[proxy]\nthreads = 0\n", "t.ini:6: [proxy] threads: 0 is out of range (1..256)");
    expect_error_after_minimal("[proxy]\nthreads = 257\n", "257 is out of range (1..256)");
    expect_error_after_minimal("[proxy]\nthreads = 99999999999999999999\n", "not an integer");
    expect_error_after_minimal("[server.db2]\nhost = h\nport = 70000\n",
                               "t.ini:7: [server.db2] port: 70000 is out of range (1..65535)");
    expect_error_after_minimal("[server.db2]\nhost = h\nweight = 1001\n", "out of range (0..1000)");
    expect_error_after_minimal("[server.db2]\nhost = h\nweight = -1\n", "out of range (0..1000)");
    expect_error_after_minimal("[routing]\nbalance = random\n",
                               "t.ini:6: [routing] balance: 'random': expected one of least_connections|round_robin|weighted");
    expect_error_after_minimal("[proxy]\nlog_level = verbose\n", "expected one of error|warn|info|debug");
    expect_error_after_minimal("[server.db2]\nhost = h\npromotion = sometimes\n", "expected one of always|never");
}

static void test_error_servers(void **state)
{
    (void)state;
    expect_error("[monitor]\nuser = m\n", "t.ini:0: no [server.NAME] section");
    expect_error("[monitor]\nuser = m\n[server.db1]\nport = 3306\n",
                 "t.ini:3: [server.db1] host: missing (required)");
    expect_error("[monitor]\nuser = m\n[server.db1]\n", "t.ini:3: [server.db1] host: missing (required)");
    expect_error_after_minimal("[server.db1]\nhost = other\n", "t.ini:5: [server.db1]: duplicate server (first on line 3)");
    expect_error_after_minimal("[server.db2]\nhost = 127.0.0.1\nport = 3306\n",
                               "t.ini:5: [server.db2] host: same host and port as [server.db1]");
    expect_error_after_minimal("[server.db2]\nhost = bad host\n", "t.ini:6: [server.db2] host: 'bad host': invalid host");
    expect_error_after_minimal("[server.db2]\nhost =\n", "t.ini:6: [server.db2] host: must not be empty");
    /* more than RWP_MAX_SERVERS */
    char text[16384];
    size_t n = (size_t)snprintf(text, sizeof text, "[monitor]\nuser = m\n");
    for (int i = 0; i <= RWP_MAX_SERVERS; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "[server.s%d]\nhost = h%d\n", i, i);
    expect_error(text, "too many servers (max 64)");
}

static void test_error_section_names(void **state)
{
    (void)state;
    expect_error_after_minimal("[server.]\nhost = h\n", "t.ini:5: [server.]: invalid name ''");
    expect_error_after_minimal("[server.a.b]\nhost = h\n", "invalid name 'a.b'");
    expect_error_after_minimal("[user.bad name]\npassword = x\n", "invalid name 'bad name'");
    expect_error_after_minimal("[server.a+b]\nhost = h\n", "invalid name");
    char text[512], name[70];
    memset(name, 'n', 64);
    name[64] = '\0';
    snprintf(text, sizeof text, "[server.%s]\nhost = h\n", name);
    expect_error_after_minimal(text, "invalid name");
    name[63] = '\0'; /* 63 characters is fine */
    snprintf(text, sizeof text, "[server.%s]\nhost = h\n", name);
    rwp_config *c = parse_minimal_plus(text);
    assert_non_null(rwp_config_find_server(c, name));
    rwp_config_free(c);
    expect_error_after_minimal("[proxy\n", "t.ini:5: section header without ']'");
    expect_error_after_minimal("[proxy] junk\n", "t.ini:5: unexpected text after ']'");
    rwp_config *c2 = parse_minimal_plus("[ proxy ] ; spaces inside are fine\nthreads = 3\n");
    assert_int_equal(c2->threads, 3);
    rwp_config_free(c2);
}

static void test_error_duplicates(void **state)
{
    (void)state;
    expect_error_after_minimal("[proxy]\nthreads = 2\nthreads = 3\n",
                               "t.ini:7: [proxy] threads: duplicate key (first set on line 6)");
    /* a repeated fixed section merges into the first; a key in both is a duplicate */
    expect_error_after_minimal("[proxy]\nthreads = 2\n[proxy]\nthreads = 3\n",
                               "t.ini:8: [proxy] threads: duplicate key (first set on line 6)");
    rwp_config *c = parse_minimal_plus("[proxy]\nthreads = 2\n[routing]\n[proxy]\nlog_level = warn\n"
                                       "[monitor]\nfailcount = 7\n");
    assert_int_equal(c->threads, 2);
    assert_int_equal(c->log_level, RWP_LOGL_WARN);
    assert_int_equal(c->monitor_failcount, 7);
    assert_string_equal(c->monitor_user, "monitor");
    rwp_config_free(c);
    expect_error("[monitor]\npassword = x\n[server.db1]\nhost = h\n[monitor]\nuser =\n",
                 "t.ini:6: [monitor] user: must not be empty");
    expect_error_after_minimal("[user.app]\npassword = a\n[user.zz]\npassword = b\n[user.app]\npassword = c\n",
                               "t.ini:9: [user.app]: duplicate user (first on line 5)");
    expect_error_after_minimal("[server.db2]\nhost = h\nhost = i\n", "t.ini:7: [server.db2] host: duplicate key");
}

static void test_rules(void **state)
{
    (void)state;
    rwp_config *c = parse_minimal_plus("[rule.reports]\norder = 10\nmatch = ^SELECT .* FROM reports\n"
                                       "user = app\nroute = replica\n"
                                       "[rule.nope]\nmatch = DROP\nblock = \"no drops here\"\n"
                                       "[rule.pin]\nmatch = x\nroute = server.db1\n");
    assert_int_equal(c->nrules, 3);
    assert_non_null(c->ruleset);
    assert_string_equal(c->rules[0].name, "reports");
    assert_int_equal(c->rules[0].order, 10);
    assert_string_equal(c->rules[0].user, "app");
    assert_string_equal(c->rules[1].block, "no drops here");
    assert_int_equal(c->rules[2].order, 100);
    rwp_config_free(c);
    c = parse_minimal_plus("");
    assert_int_equal(c->nrules, 0);
    assert_null(c->ruleset);
    rwp_config_free(c);
    expect_error_after_minimal("[rule.a]\nmatch = x\n", "t.ini:5: [rule.a]: give either route or block");
    expect_error_after_minimal("[rule.a]\nmatch = x\nroute = master\nblock = b\n", "give either route or block");
    expect_error_after_minimal("[rule.a]\nroute = master\n", "[rule.a] match: missing");
    expect_error_after_minimal("[rule.a]\nmatch = x\nroute = server.zz\n", "[rule.a] route: no [server.zz] section");
    expect_error_after_minimal("[rule.a]\nmatch = x\nroute = elsewhere\n", "[rule.a] route:");
    expect_error_after_minimal("[rule.broken]\nmatch = (unclosed\nroute = master\n",
                               "t.ini:5: rule 'broken': bad pattern");
    expect_error_after_minimal("[rule.a]\nmatch = x\nroute = master\n[rule.a]\nmatch = y\nroute = master\n",
                               "duplicate rule");
    expect_error_after_minimal("[rule.a]\nmatch = x\nroute = master\nbogus = 1\n", "[rule.a] bogus: unknown key");
}

static void test_error_users(void **state)
{
    (void)state;
    expect_error_after_minimal("[user.app]\npassword = secret1\npassword_hash = *2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19\n",
                               "t.ini:7: [user.app] password_hash: both password and password_hash are set");
    expect_error_after_minimal("[user.app]\nmax_connections = 3\n",
                               "t.ini:5: [user.app] password: missing (password or password_hash is required)");
    expect_error_after_minimal("[user.app]\npassword_hash = *2470C0C06DEE42FD1618BB99005ADCA2EC9D1E1\n",
                               "t.ini:6: [user.app] password_hash: expected '*' followed by 40 hex digits");
    expect_error_after_minimal("[user.app]\npassword_hash = 2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19\n",
                               "expected '*' followed by 40 hex digits");
    expect_error_after_minimal("[user.app]\npassword_hash = *2470C0C06DEE42FD1618BB99005ADCA2EC9D1EZZ\n",
                               "expected '*' followed by 40 hex digits");
    expect_error_after_minimal("[user.app]\npassword_hash =\n", "expected '*' followed by 40 hex digits");
    /* the secret never appears in the message */
    rwp_config *c = parse_minimal_plus("");
    rwp_config_free(c);
    assert_null(parse(MINIMAL "[user.app]\npassword = secret1\npassword_hash = *2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19\n"));
    assert_null(strstr(err, "secret1"));
    assert_null(strstr(err, "2470C0C0"));
}

static void test_error_monitor_user(void **state)
{
    (void)state;
    expect_error("[server.db1]\nhost = h\n", "t.ini:0: [monitor] user: missing (required; no [monitor] section)");
    expect_error("[monitor]\npassword = x\n[server.db1]\nhost = h\n", "t.ini:1: [monitor] user: missing (required)");
    expect_error("[monitor]\nuser =\n[server.db1]\nhost = h\n", "t.ini:2: [monitor] user: must not be empty");
}

static void test_error_syntax(void **state)
{
    (void)state;
    expect_error_after_minimal("[proxy]\nthreads\n", "t.ini:6: syntax error");
    /* Debian's libinih allows multi-line values; an indented line is not a continuation here */
    expect_error_after_minimal("[server.db2]\nhost = a\n   b\n", "t.ini:7: syntax error");
    char text[1024], longv[400];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    snprintf(text, sizeof text, "[replication]\nuser = %s\n", longv);
    expect_error_after_minimal(text, "t.ini:6: line too long");
    /* several errors: the first is shown, the rest counted */
    expect_error_after_minimal("[proxy]\nthreads = 0\nbogus = 1\n[nope]\n",
                               "t.ini:6: [proxy] threads: 0 is out of range (1..256) (and 2 more errors)");
}

static void test_error_file(void **state)
{
    (void)state;
    assert_null(rwp_config_load("/nonexistent/rwproxy.ini", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/rwproxy.ini:0: cannot open: "));
    char path[] = "/tmp/rwp_test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "[proxy]\0\n", 9), 9);
    close(fd);
    assert_null(rwp_config_load(path, err, sizeof err));
    assert_non_null(strstr(err, ":0: file contains a NUL byte"));
    unlink(path);
}

/* ---- formats accepted ---- */

static void test_comments_crlf_bom(void **state)
{
    (void)state;
    rwp_config *c = parse_ok("\xEF\xBB\xBF; comment\r\n# another\r\n[monitor]\r\n  user = mon ; c\r\n"
                             "password = p;w # c\r\n[server.db1]\r\nhost = h\r\n\r\n");
    assert_string_equal(c->monitor_user, "mon");
    assert_string_equal(c->monitor_password, "p;w");
    assert_string_equal(c->servers[0].host, "h");
    rwp_config_free(c);
}

static void test_promotion_sql_path(void **state)
{
    (void)state;
    char dir[] = "/tmp/rwp_test_cfgdir_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sql[256], ini[256], text[512];
    snprintf(sql, sizeof sql, "%s/promote.sql", dir);
    snprintf(ini, sizeof ini, "%s/rwproxy.ini", dir);
    FILE *f = fopen(sql, "w");
    assert_non_null(f);
    fputs("SET GLOBAL event_scheduler = ON;\n", f);
    fclose(f);
    snprintf(text, sizeof text, "%s[failover]\npromotion_sql = promote.sql\n", MINIMAL);
    f = fopen(ini, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    rwp_config *c = rwp_config_load(ini, err, sizeof err);
    if (!c)
        fail_msg("%s", err);
    assert_string_equal(c->promotion_sql, sql);
    assert_string_equal(c->path, ini);
    rwp_config_free(c);
    expect_error_after_minimal("[failover]\npromotion_sql = /nonexistent/p.sql\n",
                               "t.ini:6: [failover] promotion_sql: cannot read '/nonexistent/p.sql'");
    unlink(sql);
    unlink(ini);
    rmdir(dir);
}

/* ---- passwords ---- */

static void test_password_hashes(void **state)
{
    (void)state;
    rwp_config *c = parse_minimal_plus(
        "[user.clear]\npassword = password\n"
        "[user.hashed]\npassword_hash = *2470c0c06dee42fd1618bb99005adca2ec9d1e19\n"
        "[user.empty]\npassword =\n");
    static const uint8_t h2_password[20] = {0x24, 0x70, 0xC0, 0xC0, 0x6D, 0xEE, 0x42, 0xFD, 0x16, 0x18,
                                            0xBB, 0x99, 0x00, 0x5A, 0xDC, 0xA2, 0xEC, 0x9D, 0x1E, 0x19};
    uint8_t h1[20];
    SHA1((const unsigned char *)"password", 8, h1);

    const rwp_user_cfg *u = rwp_config_find_user(c, "clear", 5);
    assert_non_null(u);
    assert_int_equal(u->has_password, 1);
    assert_int_equal(u->has_h1, 1);
    assert_memory_equal(u->h1, h1, 20);
    assert_memory_equal(u->h2, h2_password, 20);

    u = rwp_config_find_user(c, "hashed", 6);
    assert_non_null(u);
    assert_int_equal(u->has_password, 1);
    assert_int_equal(u->has_h1, 0);
    assert_string_equal(u->password, "");
    assert_memory_equal(u->h2, h2_password, 20);

    static const uint8_t zero[20] = {0};
    u = rwp_config_find_user(c, "empty", 5);
    assert_non_null(u);
    assert_int_equal(u->has_password, 0);
    assert_memory_equal(u->h2, zero, 20);
    rwp_config_free(c);
}

static void test_find_user_and_server(void **state)
{
    (void)state;
    rwp_config *c = parse_minimal_plus("[user.zed]\npassword = a\n[user.app]\npassword = b\n"
                                       "[user.app2]\npassword = c\n[user.m]\npassword = d\n"
                                       "[server.db2]\nhost = h2\n");
    assert_int_equal(c->nusers, 4);
    const char *buf = "app2xyz"; /* not NUL-terminated at the name's end */
    const rwp_user_cfg *u = rwp_config_find_user(c, buf, 4);
    assert_non_null(u);
    assert_string_equal(u->name, "app2");
    u = rwp_config_find_user(c, buf, 3);
    assert_non_null(u);
    assert_string_equal(u->name, "app");
    assert_non_null(rwp_config_find_user(c, "zed", 3));
    assert_non_null(rwp_config_find_user(c, "m", 1));
    assert_null(rwp_config_find_user(c, "ap", 2));
    assert_null(rwp_config_find_user(c, "", 0));
    assert_null(rwp_config_find_user(c, "zzz", 3));
    assert_null(rwp_config_find_user(NULL, "app", 3));
    assert_string_equal(rwp_config_find_server(c, "db2")->host, "h2");
    assert_string_equal(rwp_config_find_server(c, "db1")->host, "127.0.0.1");
    assert_null(rwp_config_find_server(c, "db3"));
    /* servers keep file order */
    assert_string_equal(c->servers[0].name, "db1");
    assert_string_equal(c->servers[1].name, "db2");
    rwp_config_free(c);
}

/* ---- dump and reload ---- */

typedef struct {
    char text[16384]; /* "section.key = value\n" lines */
    size_t len;       /* used bytes */
} dump_buf;

static void collect(void *ctx, const char *section, const char *key, const char *value)
{
    dump_buf *d = ctx;
    int n = snprintf(d->text + d->len, sizeof d->text - d->len, "%s.%s = %s\n", section, key, value);
    assert_true(n > 0 && (size_t)n < sizeof d->text - d->len);
    d->len += (size_t)n;
}

static void test_dump_hides_passwords(void **state)
{
    (void)state;
    rwp_config *c = parse_ok(FULL);
    dump_buf *d = calloc(1, sizeof *d);
    assert_non_null(d);
    rwp_config_dump(c, collect, d);
    const char *secrets[] = {"admin_pw", "monitor_pw", "repl_pw", "app_pw", "2470C0C0", "2470c0c0"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strstr(d->text, secrets[i]))
            fail_msg("dump shows %s:\n%s", secrets[i], d->text);
    const char *want[] = {
        "proxy.listen = 0.0.0.0:7033\n", "proxy.threads = 4\n", "proxy.log_level = debug\n",
        "admin.listen = [::1]:7032\n", "admin.password = ***\n", "monitor.password = ***\n",
        "monitor.auto_failover = off\n", "replication.password = ***\n",
        "routing.balance = weighted\n", "routing.consistency = session\n",
        "limits.max_packet_size = 16777216\n", "server.db1.host = 10.0.0.1\n",
        "server.db-2.promotion = never\n", "server.db_3.host = fd00::3\n",
        "user.app.password = ***\n", "user.app.password_hash = \n", "user.hashed.password = \n",
        "user.hashed.password_hash = ***\n", "user.nopw.password = \n"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(d->text, want[i]))
            fail_msg("dump lacks '%s':\n%s", want[i], d->text);
    free(d);
    rwp_config_free(c);
}

/* Only listen, threads and admin listen need a restart; everything else reloads. */
static void test_restart_needed(void **state)
{
    (void)state;
    char why[64];
    rwp_config *a = parse_minimal_plus("[proxy]\nthreads = 2\n");
    rwp_config *b = parse_minimal_plus("[proxy]\nthreads = 2\nlog_level = debug\n[routing]\nmax_lag_s = 1\n"
                                       "[server.db2]\nhost = h\n[user.x]\npassword = p\n");
    assert_int_equal(rwp_config_restart_needed(a, b, why, sizeof why), 0);
    assert_string_equal(why, "");
    rwp_config_free(b);

    b = parse_minimal_plus("[proxy]\nthreads = 3\n");
    assert_int_equal(rwp_config_restart_needed(a, b, why, sizeof why), 1);
    assert_string_equal(why, "proxy.threads");
    rwp_config_free(b);

    b = parse_minimal_plus("[proxy]\nthreads = 2\nlisten = 127.0.0.1:7777\n");
    assert_int_equal(rwp_config_restart_needed(a, b, why, sizeof why), 1);
    assert_string_equal(why, "proxy.listen");
    rwp_config_free(b);

    b = parse_minimal_plus("[proxy]\nthreads = 2\n[admin]\nlisten = 127.0.0.2:6032\n");
    assert_int_equal(rwp_config_restart_needed(a, b, why, sizeof why), 1);
    assert_string_equal(why, "admin.listen");
    assert_int_equal(rwp_config_restart_needed(a, b, NULL, 0), 1);
    rwp_config_free(b);
    rwp_config_free(a);
}

/* Reload alignment: a kept name keeps its slot, a removed one leaves a placeholder, a new one
 * takes a new slot at the end, a re-added one its old slot; host/port changes are refused. */
static void test_align_servers(void **state)
{
    (void)state;
    char why[512];
    rwp_config *a = parse_minimal_plus("[server.db2]\nhost = h2\n[server.db3]\nhost = h3\n");
    rwp_config *b = parse_minimal_plus("[server.db3]\nhost = h3\nweight = 7\n[server.db4]\nhost = h4\n");
    assert_int_equal(rwp_config_align_servers(a, b, why, sizeof why), 0);
    assert_int_equal(b->nservers, 4);
    assert_string_equal(b->servers[0].name, "db1");
    assert_string_equal(b->servers[1].name, "db2");
    assert_int_equal(b->servers[1].removed, 1);
    assert_string_equal(b->servers[1].host, "h2");
    assert_string_equal(b->servers[2].name, "db3");
    assert_int_equal(b->servers[2].weight, 7);
    assert_int_equal(b->servers[2].removed, 0);
    assert_string_equal(b->servers[3].name, "db4");
    assert_null(rwp_config_find_server(b, "db2"));
    assert_ptr_equal(rwp_config_find_server(b, "db4"), &b->servers[3]);
    assert_int_equal(rwp_config_live_servers(b), 3);

    /* db2 comes back (to its old slot, even on another host), db4 goes */
    rwp_config *c = parse_minimal_plus("[server.db2]\nhost = h2b\n[server.db3]\nhost = h3\n");
    assert_int_equal(rwp_config_align_servers(b, c, why, sizeof why), 0);
    assert_int_equal(c->nservers, 4);
    assert_string_equal(c->servers[1].name, "db2");
    assert_int_equal(c->servers[1].removed, 0);
    assert_string_equal(c->servers[1].host, "h2b");
    assert_int_equal(c->servers[3].removed, 1);
    assert_string_equal(c->servers[3].name, "db4");

    /* a kept server on another host or port needs a restart; the new config is left as parsed */
    rwp_config *d = parse("[monitor]\nuser = monitor\n[server.db1]\nhost = 127.0.0.2\n");
    assert_non_null(d);
    assert_int_equal(rwp_config_align_servers(c, d, why, sizeof why), -1);
    assert_non_null(strstr(why, "[server.db1] changed its host or port"));
    assert_int_equal(d->nservers, 1);
    rwp_config_free(d);
    d = parse_minimal_plus("[server.db3]\nhost = h3\nport = 3307\n");
    assert_int_equal(rwp_config_align_servers(c, d, why, sizeof why), -1);
    assert_non_null(strstr(why, "[server.db3]"));
    rwp_config_free(d);
    rwp_config_free(c);
    rwp_config_free(b);
    rwp_config_free(a);
}

/* Slots are never reused by another name: past RWP_MAX_SERVERS a restart is needed. */
static void test_align_servers_full(void **state)
{
    (void)state;
    static char text[RWP_MAX_SERVERS * 48 + 64];
    size_t len = (size_t)snprintf(text, sizeof text, "[monitor]\nuser = monitor\n");
    for (int i = 0; i < RWP_MAX_SERVERS; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "[server.s%d]\nhost = h%d\n", i, i);
    rwp_config *a = parse_ok(text);
    rwp_config *b = parse_ok("[monitor]\nuser = monitor\n[server.s0]\nhost = h0\n");
    char why[512];
    assert_int_equal(rwp_config_align_servers(a, b, why, sizeof why), 0);
    assert_int_equal(b->nservers, RWP_MAX_SERVERS);
    assert_int_equal(rwp_config_live_servers(b), 1);
    rwp_config *c = parse_ok("[monitor]\nuser = monitor\n[server.s0]\nhost = h0\n[server.new]\nhost = n\n");
    assert_int_equal(rwp_config_align_servers(b, c, why, sizeof why), -1);
    assert_non_null(strstr(why, "too many servers since start"));
    rwp_config_free(c);
    c = parse_ok("[monitor]\nuser = monitor\n[server.s0]\nhost = h0\n[server.s5]\nhost = h5\n");
    assert_int_equal(rwp_config_align_servers(b, c, why, sizeof why), 0); /* its old slot */
    assert_int_equal(c->servers[5].removed, 0);
    rwp_config_free(c);
    rwp_config_free(b);
    rwp_config_free(a);
}

/* ---- repository files (skipped when not run from the repository root) ---- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

static void test_docs_list_every_key(void **state)
{
    (void)state;
    char *doc = slurp("docs/config.md");
    if (!doc)
        skip();
    size_t n;
    const rwp_config_key *keys = rwp_config_keys(&n);
    char row[160];
    for (size_t i = 0; i < n; i++) {
        /* every key has a table row "| `key` | type | default | reload |" under its section */
        snprintf(row, sizeof row, "[%s]", keys[i].section);
        char *sec = strstr(doc, row);
        if (!sec)
            fail_msg("docs/config.md has no heading for [%s]", keys[i].section);
        snprintf(row, sizeof row, "| `%s` |", keys[i].key);
        if (!strstr(sec, row))
            fail_msg("docs/config.md lacks key %s.%s", keys[i].section, keys[i].key);
    }
    free(doc);
}

static void test_shipped_configs_are_valid(void **state)
{
    (void)state;
    const char *files[] = {"configs/sandbox.ini", "configs/example.ini"};
    int found = 0;
    for (size_t i = 0; i < 2; i++) {
        if (access(files[i], R_OK) != 0)
            continue;
        found++;
        rwp_config *c = rwp_config_load(files[i], err, sizeof err);
        if (!c)
            fail_msg("%s", err);
        rwp_config_free(c);
    }
    if (!found)
        skip();
}

static void test_sandbox_config_values(void **state)
{
    (void)state;
    if (access("configs/sandbox.ini", R_OK) != 0)
        skip();
    rwp_config *c = rwp_config_load("configs/sandbox.ini", err, sizeof err);
    if (!c)
        fail_msg("%s", err);
    assert_int_equal(c->listen_port, 6033);
    assert_int_equal(c->admin_port, 6032);
    assert_int_equal(c->threads, 2);
    assert_string_equal(c->admin_password, "admin_pw");
    assert_string_equal(c->monitor_user, "monitor");
    assert_string_equal(c->repl_user, "repl");
    assert_int_equal(c->nservers, 3);
    assert_int_equal(c->servers[0].port, 23306);
    assert_int_equal(c->servers[2].port, 23308);
    assert_non_null(rwp_config_find_user(c, "app", 3));
    rwp_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_defaults_match_table),
        cmocka_unit_test(test_key_table),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_write_queue_marks),
        cmocka_unit_test(test_listen_forms),
        cmocka_unit_test(test_error_unknown_section_and_key),
        cmocka_unit_test(test_error_bad_int_and_range),
        cmocka_unit_test(test_error_servers),
        cmocka_unit_test(test_error_section_names),
        cmocka_unit_test(test_error_duplicates),
        cmocka_unit_test(test_error_users),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_error_monitor_user),
        cmocka_unit_test(test_error_syntax),
        cmocka_unit_test(test_error_file),
        cmocka_unit_test(test_comments_crlf_bom),
        cmocka_unit_test(test_promotion_sql_path),
        cmocka_unit_test(test_password_hashes),
        cmocka_unit_test(test_find_user_and_server),
        cmocka_unit_test(test_dump_hides_passwords),
        cmocka_unit_test(test_restart_needed),
        cmocka_unit_test(test_align_servers),
        cmocka_unit_test(test_align_servers_full),
        cmocka_unit_test(test_docs_list_every_key),
        cmocka_unit_test(test_shipped_configs_are_valid),
        cmocka_unit_test(test_sandbox_config_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
