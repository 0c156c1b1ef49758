/*
 * tests/unit/test_log.c — cmocka tests for proxy/log.{h,c}: JSON string escaping (quotes,
 * backslash, control characters, valid UTF-8 kept, every kind of invalid UTF-8 replaced),
 * escaping cut only at whole units, the text and JSON line layouts with and without a
 * connection context, JSON lines that stay valid objects at every line size, the rate
 * limiter's windows and counts (also from several threads, and handed over by a timer's
 * expire), and the written lines of rwp_log_emit / rwp_log_limited / rwp_log_limit_flush
 * (stderr redirected to a temporary file).
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
#include <unistd.h>

#include "proxy/log.h"

/* ---- a small checker for the flat JSON objects rwproxy writes ---- */

static const char *skip_json_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    while (*p && *p != '"') {
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                        return NULL;
                p += 5;
                continue;
            }
            if (!*p || !strchr("\"\\/bfnrt", *p))
                return NULL;
        }
        p++;
    }
    return *p == '"' ? p + 1 : NULL;
}

/* 1 if line is exactly one object of string and unsigned integer members, then "\n". */
static int is_flat_json_line(const char *line)
{
    const char *p = line;
    if (*p++ != '{')
        return 0;
    for (int first = 1;; first = 0) {
        if (*p == '}' && first)
            break;
        if (!(p = skip_json_string(p)) || *p++ != ':')
            return 0;
        if (*p == '"') {
            if (!(p = skip_json_string(p)))
                return 0;
        } else {
            if (*p < '0' || *p > '9')
                return 0;
            while (*p >= '0' && *p <= '9')
                p++;
        }
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p != '}')
            return 0;
        break;
    }
    return p[1] == '\n' && p[2] == '\0';
}

/* ---- JSON escaping ---- */

static const struct {
    const char *in;   /* bytes to escape */
    const char *want; /* inside of the JSON string */
} escapes[] = {
    {"", ""},
    {"plain text 123", "plain text 123"},
    {"a\"b\\c/d", "a\\\"b\\\\c/d"},
    {"\n\r\t\b\f", "\\n\\r\\t\\b\\f"},
    {"\x01\x1f\x7f", "\\u0001\\u001f\\u007f"},
    {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
    {"\xef\xbf\xbf\xf4\x8f\xbf\xbf", "\xef\xbf\xbf\xf4\x8f\xbf\xbf"}, /* U+FFFF, U+10FFFF */
    {"\xff", "\\ufffd"},
    {"\x80x", "\\ufffdx"},                                 /* lone continuation byte */
    {"\xc3", "\\ufffd"},                                   /* cut at the end */
    {"a\xe2\x82", "a\\ufffd\\ufffd"},                      /* cut 3-byte sequence */
    {"\xc3(", "\\ufffd("},                                 /* bad continuation */
    {"\xc0\xaf", "\\ufffd\\ufffd"},                        /* overlong 2-byte */
    {"\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd"},             /* overlong 3-byte */
    {"\xf0\x80\x80\xaf", "\\ufffd\\ufffd\\ufffd\\ufffd"},  /* overlong 4-byte */
    {"\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"},             /* UTF-16 surrogate */
    {"\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"},  /* above U+10FFFF */
    {"\xf8\x88\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"},
};

static void test_json_escape_table(void **state)
{
    (void)state;
    char out[256];
    for (size_t i = 0; i < sizeof escapes / sizeof escapes[0]; i++) {
        size_t n = rwp_log_json_escape(out, sizeof out, escapes[i].in);
        assert_string_equal(out, escapes[i].want);
        assert_int_equal(n, strlen(escapes[i].want));
    }
    assert_int_equal(rwp_log_json_escape(out, sizeof out, NULL), 0);
    assert_string_equal(out, "");
}

/* A cut output is the whole escaping of some prefix of the input: never half an escape or
 * half a UTF-8 sequence. */
static void test_json_escape_cuts_whole_units(void **state)
{
    (void)state;
    const char *in = "x\"\\\n\x01\xc3\xa9\xe2\x82\xac\xff\xf0\x9f\x98\x80 end";
    char full[256], out[256], pre[256], inpre[64];
    size_t fn = rwp_log_json_escape(full, sizeof full, in);
    for (size_t cap = 1; cap <= fn + 1; cap++) {
        size_t n = rwp_log_json_escape(out, cap, in);
        assert_true(n <= cap - 1);
        assert_int_equal(strlen(out), n);
        assert_memory_equal(out, full, n);
        int found = 0;
        for (size_t k = 0; k <= strlen(in) && !found; k++) {
            memcpy(inpre, in, k);
            inpre[k] = '\0';
            rwp_log_json_escape(pre, sizeof pre, inpre);
            found = strcmp(pre, out) == 0;
        }
        assert_true(found);
    }
    assert_int_equal(rwp_log_json_escape(out, 0, in), 0);
}

/* ---- line layouts ---- */

static const struct timespec TS = {1764123356, 123456789}; /* 2025-11-26T02:15:56.123Z */

static void test_text_layout(void **state)
{
    (void)state;
    char line[512];
    rwp_log_ctx ctx = {42, "app", "db1", "127.0.0.1:5000"};
    size_t n = rwp_log_format_line(line, sizeof line, RWP_LOG_TEXT, RWP_LOGL_WARN, &TS, &ctx, "hello");
    assert_string_equal(line, "2025-11-26T02:15:56.123Z WARN  c=42 u=app b=db1 hello\n");
    assert_int_equal(n, strlen(line));
    rwp_log_format_line(line, sizeof line, RWP_LOG_TEXT, RWP_LOGL_INFO, &TS, NULL, "started");
    assert_string_equal(line, "2025-11-26T02:15:56.123Z INFO  started\n");
    rwp_log_ctx bare = {7, "", NULL, NULL};
    rwp_log_format_line(line, sizeof line, RWP_LOG_TEXT, RWP_LOGL_DEBUG, &TS, &bare, "x");
    assert_string_equal(line, "2025-11-26T02:15:56.123Z DEBUG c=7 u=- b=- x\n");
    /* a user name or message cannot start a forged line */
    rwp_log_ctx evil = {1, "a\nb", NULL, NULL};
    rwp_log_format_line(line, sizeof line, RWP_LOG_TEXT, RWP_LOGL_ERROR, &TS, &evil, "m\r\n2025 x");
    assert_string_equal(line, "2025-11-26T02:15:56.123Z ERROR c=1 u=a\\x0ab b=- m\\x0d\\x0a2025 x\n");
}

static void test_json_layout(void **state)
{
    (void)state;
    char line[512];
    rwp_log_ctx ctx = {42, "app", "db1", "127.0.0.1:5000"};
    size_t n = rwp_log_format_line(line, sizeof line, RWP_LOG_JSON, RWP_LOGL_WARN, &TS, &ctx, "say \"hi\"");
    assert_string_equal(line, "{\"ts\":\"2025-11-26T02:15:56.123Z\",\"level\":\"warn\",\"conn\":42,"
                              "\"user\":\"app\",\"backend\":\"db1\",\"peer\":\"127.0.0.1:5000\","
                              "\"msg\":\"say \\\"hi\\\"\"}\n");
    assert_int_equal(n, strlen(line));
    assert_true(is_flat_json_line(line));
    rwp_log_format_line(line, sizeof line, RWP_LOG_JSON, RWP_LOGL_ERROR, &TS, NULL, "");
    assert_string_equal(line, "{\"ts\":\"2025-11-26T02:15:56.123Z\",\"level\":\"error\",\"msg\":\"\"}\n");
    rwp_log_ctx part = {0, "bob\xff", NULL, ""};
    rwp_log_format_line(line, sizeof line, RWP_LOG_JSON, RWP_LOGL_DEBUG, &TS, &part, "a\tb");
    assert_string_equal(line, "{\"ts\":\"2025-11-26T02:15:56.123Z\",\"level\":\"debug\","
                              "\"user\":\"bob\\ufffd\",\"msg\":\"a\\tb\"}\n");
    assert_true(is_flat_json_line(line));
    assert_false(is_flat_json_line("{\"a\":\"b\\\"}\n")); /* the checker itself can fail */
}

/* Every line size from the smallest allowed up: a valid object, the message cut. */
static void test_json_lines_stay_valid_when_cut(void **state)
{
    (void)state;
    char msg[1200], line[1400];
    size_t m = 0;
    while (m + 8 < sizeof msg) {
        static const char piece[] = "q\"\\\n\xc3\xa9\xff\x01";
        memcpy(msg + m, piece, sizeof piece - 1);
        m += sizeof piece - 1;
    }
    msg[m] = '\0';
    char user[300];
    memset(user, '"', sizeof user - 1);
    user[sizeof user - 1] = '\0';
    rwp_log_ctx ctx = {99, user, "db2", "[::1]:4000"};
    for (size_t cap = 128; cap <= sizeof line; cap++) {
        size_t n = rwp_log_format_line(line, cap, RWP_LOG_JSON, RWP_LOGL_INFO, &TS, &ctx, msg);
        assert_true(n < cap);
        assert_int_equal(strlen(line), n);
        if (!is_flat_json_line(line))
            fail_msg("cap %zu: not a JSON line: %s", cap, line);
        n = rwp_log_format_line(line, cap, RWP_LOG_TEXT, RWP_LOGL_INFO, &TS, &ctx, msg);
        assert_true(n < cap && line[n - 1] == '\n' && strchr(line, '\n') == line + n - 1);
    }
    assert_int_equal(rwp_log_format_line(line, 100, RWP_LOG_JSON, RWP_LOGL_INFO, &TS, &ctx, "x"), 0);
}

/* ---- rate limiter ---- */

static void test_limit_windows(void **state)
{
    (void)state;
    rwp_log_limit l = RWP_LOG_LIMIT_INIT(3, 1000, "test");
    uint64_t ended = 99;
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        ok += rwp_log_limit_take(&l, 5000, &ended);
        assert_int_equal(ended, 0);
    }
    assert_int_equal(ok, 3);
    assert_int_equal(rwp_log_limit_take(&l, 5999, &ended), 0); /* same window */
    assert_int_equal(ended, 0);
    assert_int_equal(rwp_log_limit_take(&l, 6000, &ended), 1); /* next window */
    assert_int_equal(ended, 6);
    assert_int_equal(rwp_log_limit_take(&l, 6500, &ended), 1);
    assert_int_equal(rwp_log_limit_take(&l, 6900, &ended), 1);
    assert_int_equal(rwp_log_limit_take(&l, 6999, &ended), 0);
    assert_int_equal(ended, 0);
    assert_int_equal(rwp_log_limit_take(&l, 9000, &ended), 1); /* a window later */
    assert_int_equal(ended, 1);
    assert_int_equal(rwp_log_limit_take(&l, 20000, &ended), 1);
    assert_int_equal(ended, 0); /* nothing was dropped */
    assert_int_equal(rwp_log_limit_take(&l, 100, &ended), 1); /* a clock going back restarts */
    pthread_mutex_destroy(&l.mu);
}

/* A window's count handed over by expire (a timer) is not reported again by the next line. */
static void test_limit_expire(void **state)
{
    (void)state;
    rwp_log_limit l = RWP_LOG_LIMIT_INIT(2, 1000, "test");
    uint64_t ended;
    assert_int_equal(rwp_log_limit_expire(&l, 0), 0); /* nothing started */
    for (int i = 0; i < 5; i++)
        rwp_log_limit_take(&l, 1000, &ended);
    assert_int_equal(rwp_log_limit_expire(&l, 1999), 0); /* still running */
    assert_int_equal(rwp_log_limit_expire(&l, 2000), 3);
    assert_int_equal(rwp_log_limit_expire(&l, 2001), 0); /* handed over once */
    assert_int_equal(rwp_log_limit_take(&l, 2002, &ended), 1);
    assert_int_equal(ended, 0);
    assert_int_equal(rwp_log_limit_take(&l, 2003, &ended), 1);
    assert_int_equal(rwp_log_limit_take(&l, 2004, &ended), 0);
    assert_int_equal(rwp_log_limit_expire(&l, 2500), 0);    /* the new window runs from 2002 */
    assert_int_equal(rwp_log_limit_expire(&l, 3002), 1);
    /* a window that dropped nothing is left alone */
    assert_int_equal(rwp_log_limit_take(&l, 5000, &ended), 1);
    assert_int_equal(rwp_log_limit_expire(&l, 9000), 0);
    assert_int_equal(rwp_log_limit_take(&l, 9001, &ended), 1);
    assert_int_equal(ended, 0);
    pthread_mutex_destroy(&l.mu);
}

typedef struct {
    rwp_log_limit *l; /* shared limiter */
    int ok;           /* lines this thread was allowed */
} take_arg;

static void *take_many(void *arg)
{
    take_arg *a = arg;
    uint64_t ended;
    for (int i = 0; i < 5000; i++)
        a->ok += rwp_log_limit_take(a->l, 1000, &ended);
    return NULL;
}

static void test_limit_threads(void **state)
{
    (void)state;
    rwp_log_limit l = RWP_LOG_LIMIT_INIT(10, 1000, "test");
    pthread_t th[4];
    take_arg args[4] = {{&l, 0}, {&l, 0}, {&l, 0}, {&l, 0}};
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, take_many, &args[i]), 0);
    int ok = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ok += args[i].ok;
    }
    assert_int_equal(ok, 10);
    assert_int_equal(l.suppressed, 4 * 5000 - 10);
    pthread_mutex_destroy(&l.mu);
}

/* ---- written lines ---- */

/* Sends stderr to a temporary file until capture_end, which returns what was written. */
static void capture_begin(int *saved, FILE **f)
{
    *f = tmpfile();
    assert_non_null(*f);
    fflush(stderr);
    *saved = dup(STDERR_FILENO);
    assert_true(*saved >= 0);
    assert_true(dup2(fileno(*f), STDERR_FILENO) >= 0);
}

static char *capture_end(int saved, FILE *f)
{
    dup2(saved, STDERR_FILENO);
    close(saved);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = calloc((size_t)n + 1, 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

static int count_lines(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void test_emit_levels_and_formats(void **state)
{
    (void)state;
    int saved;
    FILE *f;
    capture_begin(&saved, &f);
    rwp_log_set_level(RWP_LOGL_WARN);
    rwp_log_set_format(RWP_LOG_TEXT);
    log_info("not written");
    log_warn("text %d", 1);
    rwp_log_set_format(RWP_LOG_JSON);
    rwp_log_ctx ctx = {5, "u\"1", NULL, "1.2.3.4:5"};
    LOG_AT(RWP_LOGL_ERROR, &ctx, "json %s", "two");
    rwp_log_set_format(7); /* anything else is text */
    assert_int_equal(rwp_log_get_format(), RWP_LOG_TEXT);
    char *out = capture_end(saved, f);
    rwp_log_set_level(RWP_LOGL_INFO);
    assert_null(strstr(out, "not written"));
    char *second = strchr(out, '\n');
    assert_non_null(second);
    assert_non_null(strstr(out, " WARN  text 1\n"));
    second++;
    assert_true(is_flat_json_line(second));
    assert_non_null(strstr(second, "\"level\":\"error\",\"conn\":5,\"user\":\"u\\\"1\",\"peer\":\"1.2.3.4:5\",\"msg\":\"json two\"}"));
    free(out);
}

static void test_limited_lines_and_summary(void **state)
{
    (void)state;
    rwp_log_limit l = RWP_LOG_LIMIT_INIT(2, 600000, "test-flood"); /* one long window */
    int saved;
    FILE *f;
    capture_begin(&saved, &f);
    rwp_log_set_format(RWP_LOG_TEXT);
    rwp_log_ctx ctx = {3, "eve", NULL, "10.0.0.1:1"};
    for (int i = 0; i < 10; i++)
        rwp_log_limited(&l, RWP_LOGL_WARN, &ctx, "flood line %d", i);
    l.window_start_ms -= 600000; /* as if the window had ended */
    rwp_log_limited(&l, RWP_LOGL_WARN, &ctx, "flood line %d", 10);
    for (int i = 11; i < 14; i++)
        rwp_log_limited(&l, RWP_LOGL_WARN, &ctx, "flood line %d", i);
    rwp_log_limit_flush(&l, RWP_LOGL_WARN); /* window still running: nothing */
    l.window_start_ms -= 600000;
    rwp_log_limit_flush(&l, RWP_LOGL_WARN); /* over: the summary of lines 12 and 13 */
    rwp_log_limit_flush(&l, RWP_LOGL_WARN); /* once */
    char *out = capture_end(saved, f);
    assert_non_null(strstr(out, "flood line 11\n"));
    assert_non_null(strstr(out, "suppressed 2 test-flood messages"));
    assert_int_equal(count_lines(out, "\n"), 6);
    assert_int_equal(count_lines(out, "flood line"), 4);
    assert_non_null(strstr(out, "c=3 u=eve b=- flood line 0\n"));
    assert_non_null(strstr(out, "flood line 1\n"));
    assert_non_null(strstr(out, "flood line 10\n"));
    const char *sum = strstr(out, "suppressed 8 test-flood messages");
    assert_non_null(sum);
    assert_true(sum < strstr(out, "flood line 10")); /* the summary comes first */
    free(out);
    pthread_mutex_destroy(&l.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_escape_table),
        cmocka_unit_test(test_json_escape_cuts_whole_units),
        cmocka_unit_test(test_text_layout),
        cmocka_unit_test(test_json_layout),
        cmocka_unit_test(test_json_lines_stay_valid_when_cut),
        cmocka_unit_test(test_limit_windows),
        cmocka_unit_test(test_limit_expire),
        cmocka_unit_test(test_limit_threads),
        cmocka_unit_test(test_emit_levels_and_formats),
        cmocka_unit_test(test_limited_lines_and_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
