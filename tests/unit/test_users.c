/*
 * tests/unit/test_users.c — cmocka tests of proxy/users_match.c: host wildcards and escapes,
 * exact IPv4/IPv6 addresses, localhost and loopback as one, netmasks, IPv4-mapped clients,
 * specificity, the order accounts are tried in (most specific host, then named user before
 * anonymous), the lookup a login makes, and mysql.global_priv rows turned into accounts
 * (plugins, hashes, empty passwords, locked and expired accounts); and proxy/users.c's
 * credentials of [user.NAME] sections (the caching_sha2 digest computed at config load).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "protocol/auth.h"
#include "proxy/config.h"
#include "proxy/users.h"
#include "proxy/users_match.h"

#define HASH_APP_PW "*95BE1A04B76EE9AB97CEE8436421F2D15539B738" /* PASSWORD('app_pw') */

static void test_wild_match(void **state)
{
    (void)state;
    assert_true(rwp_host_wild_match("%", "10.1.2.3"));
    assert_true(rwp_host_wild_match("%", ""));
    assert_true(rwp_host_wild_match("10.%", "10.1.2.3"));
    assert_false(rwp_host_wild_match("10.%", "110.1.2.3"));
    assert_true(rwp_host_wild_match("10.1.2._", "10.1.2.3"));
    assert_false(rwp_host_wild_match("10.1.2._", "10.1.2.33"));
    assert_true(rwp_host_wild_match("%.example.com", "db.EXAMPLE.com"));
    assert_true(rwp_host_wild_match("a%b%c", "aXXbYYbZc"));
    assert_false(rwp_host_wild_match("a%b%c", "aXXbYYbZ"));
    assert_true(rwp_host_wild_match("a\\_b", "a_b"));
    assert_false(rwp_host_wild_match("a\\_b", "axb"));
    assert_true(rwp_host_wild_match("a\\%", "a%"));
    assert_false(rwp_host_wild_match("a\\%", "ab"));
    assert_true(rwp_host_wild_match("%%%", "x"));
    assert_false(rwp_host_wild_match("", "x"));
    assert_true(rwp_host_wild_match("", ""));
    /* many wildcards against a long text stays linear enough to finish */
    char text[300];
    memset(text, 'a', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    assert_false(rwp_host_wild_match("%a%a%a%a%a%a%a%a%a%a%b", text));
}

static void test_specificity(void **state)
{
    (void)state;
    assert_int_equal(rwp_host_specificity(""), 0);
    assert_int_equal(rwp_host_specificity("%"), 1);
    assert_int_equal(rwp_host_specificity("%x"), 2);
    assert_int_equal(rwp_host_specificity("10.%"), 5);
    assert_int_equal(rwp_host_specificity("10.0.%"), 7);
    assert_int_equal(rwp_host_specificity("10.0.0._"), 9);
    assert_int_equal(rwp_host_specificity("10.0.0.1"), 128);
    assert_int_equal(rwp_host_specificity("localhost"), 128);
    assert_int_equal(rwp_host_specificity("10.0.0.0/255.0.0.0"), 128);
    assert_int_equal(rwp_host_specificity("a\\%b"), 128); /* an escaped % is a literal */
    assert_true(rwp_host_specificity("10.0.%") > rwp_host_specificity("10.%"));
}

static void test_host_matches(void **state)
{
    (void)state;
    assert_true(rwp_host_matches("%", "192.168.1.5"));
    assert_true(rwp_host_matches("10.%", "10.9.8.7"));
    assert_false(rwp_host_matches("10.%", "127.0.0.1"));
    assert_true(rwp_host_matches("192.168.1.5", "192.168.1.5"));
    assert_false(rwp_host_matches("192.168.1.5", "192.168.1.50"));
    /* IPv4-mapped IPv6 clients are their IPv4 address */
    assert_true(rwp_host_matches("192.168.1.5", "::ffff:192.168.1.5"));
    assert_true(rwp_host_matches("10.%", "::ffff:10.0.0.1"));
    /* IPv6 written two ways */
    assert_true(rwp_host_matches("2001:db8::1", "2001:0db8:0:0:0:0:0:1"));
    assert_false(rwp_host_matches("2001:db8::1", "2001:db8::2"));
    /* loopback: localhost, 127.0.0.1 and ::1 are one */
    assert_true(rwp_host_matches("localhost", "127.0.0.1"));
    assert_true(rwp_host_matches("LOCALHOST", "::1"));
    assert_true(rwp_host_matches("127.0.0.1", "::1"));
    assert_true(rwp_host_matches("::1", "127.0.0.1"));
    assert_true(rwp_host_matches("localhost", "::ffff:127.0.0.1"));
    assert_true(rwp_host_matches("local%", "127.0.0.1"));
    assert_false(rwp_host_matches("localhost", "10.0.0.1"));
    assert_false(rwp_host_matches("127.0.0.1", "10.0.0.1"));
    /* netmasks */
    assert_true(rwp_host_matches("10.0.0.0/255.0.0.0", "10.200.3.4"));
    assert_false(rwp_host_matches("10.0.0.0/255.0.0.0", "11.0.0.1"));
    assert_true(rwp_host_matches("192.168.4.0/255.255.255.0", "192.168.4.77"));
    assert_false(rwp_host_matches("192.168.4.0/255.255.255.0", "192.168.5.77"));
    assert_false(rwp_host_matches("10.0.0.0/255.0.0.0", "::1"));
    /* no name resolution: a host name other than localhost never matches an address */
    assert_false(rwp_host_matches("db.example.com", "10.0.0.1"));
}

static rwp_account acct(const char *user, const char *host)
{
    rwp_account a;
    memset(&a, 0, sizeof a);
    snprintf(a.user, sizeof a.user, "%s", user);
    snprintf(a.host, sizeof a.host, "%s", host);
    rwp_account_set_auth(&a, "mysql_native_password", HASH_APP_PW, 0, 0);
    return a;
}

static void test_sort_and_find(void **state)
{
    (void)state;
    rwp_account a[] = {
        acct("u", "%"), acct("", "localhost"), acct("u", "10.%"), acct("u", "10.0.%"),
        acct("u", "127.0.0.1"), acct("u", "localhost"), acct("v", "%"), acct("", "%"),
        acct("u", "10.1.2.3"),
    };
    size_t n = sizeof a / sizeof a[0];
    rwp_accounts_sort(a, n);
    /* most specific hosts first; named user before anonymous; localhost before 127.0.0.1 */
    assert_string_equal(a[0].host, "localhost");
    assert_string_equal(a[0].user, "u");
    assert_true(a[n - 1].sort == 1 && a[n - 1].user[0] == '\0');
    for (size_t i = 1; i < n; i++)
        assert_true(rwp_account_cmp(&a[i - 1], &a[i]) < 0);

    const rwp_account *f = rwp_accounts_find(a, n, "u", "10.1.2.3");
    assert_non_null(f);
    assert_string_equal(f->host, "10.1.2.3");
    f = rwp_accounts_find(a, n, "u", "10.0.5.5");
    assert_string_equal(f->host, "10.0.%");
    f = rwp_accounts_find(a, n, "u", "10.7.5.5");
    assert_string_equal(f->host, "10.%");
    f = rwp_accounts_find(a, n, "u", "192.168.0.1");
    assert_string_equal(f->host, "%");
    assert_string_equal(f->user, "u");
    f = rwp_accounts_find(a, n, "u", "127.0.0.1");
    assert_string_equal(f->host, "localhost");
    assert_string_equal(f->user, "u");
    /* another user: its own '%' account, not an anonymous one */
    f = rwp_accounts_find(a, n, "v", "192.168.0.1");
    assert_string_equal(f->user, "v");
    /* the sort is by host first: from loopback the anonymous ''@'localhost' wins over v@'%' */
    f = rwp_accounts_find(a, n, "v", "127.0.0.1");
    assert_string_equal(f->user, "");
    assert_string_equal(f->host, "localhost");
    /* an unknown user from elsewhere gets the anonymous ''@'%' */
    f = rwp_accounts_find(a, n, "w", "192.168.0.1");
    assert_string_equal(f->user, "");
    assert_string_equal(f->host, "%");
}

static void test_host_restricted(void **state)
{
    (void)state;
    rwp_account a[] = {acct("hu", "10.%")};
    rwp_accounts_sort(a, 1);
    assert_null(rwp_accounts_find(a, 1, "hu", "127.0.0.1"));
    assert_non_null(rwp_accounts_find(a, 1, "hu", "10.0.0.9"));
    assert_null(rwp_accounts_find(a, 1, "other", "10.0.0.9"));
    assert_null(rwp_accounts_find(NULL, 0, "hu", "10.0.0.9"));
}

static void test_set_auth(void **state)
{
    (void)state;
    rwp_account a;
    memset(&a, 0, sizeof a);
    rwp_account_set_auth(&a, "mysql_native_password", HASH_APP_PW, 0, 0);
    assert_true(a.usable);
    assert_true(a.has_password);
    assert_int_equal(a.h2[0], 0x95);
    assert_int_equal(a.h2[19], 0x38);
    rwp_account_set_auth(&a, "", "", 0, 0); /* no plugin, no password */
    assert_true(a.usable);
    assert_false(a.has_password);
    rwp_account_set_auth(&a, NULL, HASH_APP_PW, 0, 0);
    assert_true(a.usable);
    rwp_account_set_auth(&a, "unix_socket", "", 0, 0);
    assert_false(a.usable);
    assert_non_null(strstr(a.why, "unix_socket"));
    rwp_account_set_auth(&a, "ed25519", "ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY", 0, 0);
    assert_false(a.usable);
    assert_non_null(strstr(a.why, "ed25519"));
    rwp_account_set_auth(&a, "mysql_native_password", "invalid", 0, 0); /* root's unix_socket OR ... */
    assert_false(a.usable);
    rwp_account_set_auth(&a, "mysql_native_password", HASH_APP_PW, 1, 0);
    assert_false(a.usable);
    assert_non_null(strstr(a.why, "locked"));
    rwp_account_set_auth(&a, "mysql_native_password", HASH_APP_PW, 0, 1);
    assert_false(a.usable);
    assert_non_null(strstr(a.why, "expired"));
    assert_false(a.has_password);
}

static void test_config_credentials(void **state)
{
    (void)state;
    char err[512] = "";
    rwp_config *cfg = rwp_config_parse_string(
        "[monitor]\nuser = monitor\n[server.db1]\nhost = 127.0.0.1\n"
        "[proxy]\nusers_from_backend = on\n"
        "[user.clear]\npassword = app_pw\nmax_connections = 7\n"
        "[user.hashed]\npassword_hash = " HASH_APP_PW "\n"
        "[user.nopw]\npassword =\n",
        "t.ini", err, sizeof err);
    if (!cfg)
        fail_msg("%s", err);
    assert_int_equal(cfg->users_from_backend, 1);
    assert_int_equal(cfg->users_refresh_interval_s, 5);
    rwp_cred cred;
    char why[128];
    uint8_t s2[32], h1[20], h2[20];
    proto_sha2_hash_password("app_pw", 6, s2);
    proto_native_hash_password("app_pw", 6, h1, h2);
    assert_int_equal(rwp_users_lookup(NULL, cfg, "clear", "10.0.0.1", &cred, why, sizeof why), RWP_CRED_OK);
    assert_true(cred.has_clear && cred.has_password && !cred.from_backend);
    assert_memory_equal(cred.sha2, s2, 32);
    assert_memory_equal(cred.h1, h1, 20);
    assert_memory_equal(cred.h2, h2, 20);
    assert_int_equal(cred.max_connections, 7);
    assert_int_equal(rwp_users_lookup(NULL, cfg, "hashed", "10.0.0.1", &cred, why, sizeof why), RWP_CRED_OK);
    assert_false(cred.has_clear);
    assert_true(cred.has_password);
    assert_memory_equal(cred.h2, h2, 20);
    assert_int_equal(rwp_users_lookup(NULL, cfg, "nopw", "10.0.0.1", &cred, why, sizeof why), RWP_CRED_OK);
    assert_true(cred.has_clear);
    assert_false(cred.has_password);
    /* no loader (or nothing loaded): an unknown user is unknown */
    assert_int_equal(rwp_users_lookup(NULL, cfg, "other", "10.0.0.1", &cred, why, sizeof why), RWP_CRED_NONE);
    uint64_t gen = 0;
    assert_int_equal(rwp_users_refresh_after_failure(NULL, cfg, &gen), 0);
    rwp_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wild_match),
        cmocka_unit_test(test_specificity),
        cmocka_unit_test(test_host_matches),
        cmocka_unit_test(test_sort_and_find),
        cmocka_unit_test(test_host_restricted),
        cmocka_unit_test(test_set_auth),
        cmocka_unit_test(test_config_credentials),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
