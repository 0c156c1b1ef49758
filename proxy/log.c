/*
 * proxy/log.c — writes log lines to stderr, one write(2) per line so lines from worker
 * threads never interleave. Owns the process-wide verbosity and line format (atomics, set at
 * start-up and on reload), the text and JSON line layouts with their escaping, and the
 * rate limiters (rwp_log_limit) for lines a client can provoke at will.
 *
 * Text: "<ts> <LEVEL> c=<id> u=<user> b=<backend> <msg>", control bytes shown as \xNN so a
 * user name cannot forge lines. JSON: {"ts":..,"level":..,"conn":..,"user":..,"backend":..,
 * "peer":..,"msg":..} with the connection members only when set.
 */
#include "proxy/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_MSG_MAX  2048 /* longest message (after printf formatting) */
#define LOG_LINE_MAX 8192 /* longest line written (JSON escaping may grow a message 6 times) */
#define LINE_TAIL    4    /* room kept for the end of a line: "}\n" or "\n", and the NUL */

static atomic_int log_level = RWP_LOGL_INFO;   /* most verbose level printed */
static atomic_int log_format = RWP_LOG_TEXT;   /* RWP_LOG_TEXT or RWP_LOG_JSON */

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
static const char *const json_level_names[] = {"error", "warn", "info", "debug"};

rwp_log_limit rwp_failed_login_limit =
    RWP_LOG_LIMIT_INIT(RWP_FAILED_LOGIN_LINES, RWP_FAILED_LOGIN_WINDOW_MS, "failed-login");

void rwp_log_set_level(int level) { atomic_store(&log_level, level); }

int rwp_log_enabled(int level) { return level <= atomic_load_explicit(&log_level, memory_order_relaxed); }

void rwp_log_set_format(int format) { atomic_store(&log_format, format == RWP_LOG_JSON ? RWP_LOG_JSON : RWP_LOG_TEXT); }

int rwp_log_get_format(void) { return atomic_load_explicit(&log_format, memory_order_relaxed); }

/* ---------------------------------------------------------------- JSON escaping ---- */

/* Length of the valid UTF-8 sequence of 2..4 bytes at s, or 0 if it is not one (overlong
 * forms, surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_sequence_len(const unsigned char *s)
{
    unsigned char b = s[0];
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    size_t n;
    if (b >= 0xC2 && b <= 0xDF) {
        n = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        n = 3;
        if (b == 0xE0)
            lo = 0xA0; /* no overlong 3-byte forms */
        else if (b == 0xED)
            hi = 0x9F; /* no UTF-16 surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        n = 4;
        if (b == 0xF0)
            lo = 0x90; /* no overlong 4-byte forms */
        else if (b == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* The JSON form of the ASCII byte c into esc (NUL-terminated); its length. */
static size_t json_escape_ascii(unsigned char c, char esc[8])
{
    switch (c) {
    case '"': return (size_t)snprintf(esc, 8, "\\\"");
    case '\\': return (size_t)snprintf(esc, 8, "\\\\");
    case '\n': return (size_t)snprintf(esc, 8, "\\n");
    case '\r': return (size_t)snprintf(esc, 8, "\\r");
    case '\t': return (size_t)snprintf(esc, 8, "\\t");
    case '\b': return (size_t)snprintf(esc, 8, "\\b");
    case '\f': return (size_t)snprintf(esc, 8, "\\f");
    default: break;
    }
    if (c < 0x20 || c == 0x7f)
        return (size_t)snprintf(esc, 8, "\\u%04x", c);
    esc[0] = (char)c;
    esc[1] = '\0';
    return 1;
}

size_t rwp_log_json_escape(char *out, size_t cap, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t len = 0;
    if (cap == 0)
        return 0;
    while (*p) {
        char esc[8];
        const char *unit = esc;
        size_t n, adv;
        if (*p < 0x80) {
            n = json_escape_ascii(*p, esc);
            adv = 1;
        } else if ((adv = utf8_sequence_len(p)) > 0) {
            unit = (const char *)p;
            n = adv;
        } else {
            n = (size_t)snprintf(esc, sizeof esc, "\\ufffd");
            adv = 1;
        }
        if (len + n > cap - 1)
            break; /* never a cut escape or a cut UTF-8 sequence */
        memcpy(out + len, unit, n);
        len += n;
        p += adv;
    }
    out[len] = '\0';
    return len;
}

/* ---------------------------------------------------------------- line layout ---- */

/* A line being built: the body may grow up to lim; the tail (LINE_TAIL bytes) stays free. */
typedef struct {
    char *p;    /* the line */
    size_t len; /* bytes written */
    size_t lim; /* bytes the body may use */
} line_buf;

/* Appends all of s, or nothing if it does not fit. */
static int put_whole(line_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (n > b->lim - b->len)
        return -1;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

/* Appends s as far as it fits, control bytes as \xNN (never cut). */
static void put_text_safe(line_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p < 0x20 || *p == 0x7f)
            snprintf(esc, sizeof esc, "\\x%02x", *p);
        else
            esc[0] = (char)*p, esc[1] = '\0';
        if (put_whole(b, esc) != 0)
            return;
    }
}

/* ,"key":"<escaped val>" — the value cut if needed, the member skipped if not even its
 * name fits. */
static void put_json_member(line_buf *b, const char *key, const char *val)
{
    char head[32];
    snprintf(head, sizeof head, ",\"%s\":\"", key);
    if (strlen(head) + 1 > b->lim - b->len)
        return;
    put_whole(b, head);
    size_t room = b->lim - b->len - 1; /* the closing quote */
    b->len += rwp_log_json_escape(b->p + b->len, room + 1, val);
    put_whole(b, "\"");
}

static void format_ts(char out[64], const struct timespec *ts)
{
    struct tm tm;
    gmtime_r(&ts->tv_sec, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(ts->tv_nsec / 1000000));
}

static int has_text(const char *s) { return s && s[0]; }

static void format_text(line_buf *b, int level, const char *ts, const rwp_log_ctx *ctx, const char *msg)
{
    char head[96];
    snprintf(head, sizeof head, "%s %-5s ", ts, level_names[level & 3]);
    put_whole(b, head);
    if (ctx) {
        char id[32];
        snprintf(id, sizeof id, "c=%llu u=", (unsigned long long)ctx->id);
        put_whole(b, id);
        put_text_safe(b, has_text(ctx->user) ? ctx->user : "-");
        put_whole(b, " b=");
        put_text_safe(b, has_text(ctx->backend) ? ctx->backend : "-");
        put_whole(b, " ");
    }
    put_text_safe(b, msg);
    b->p[b->len++] = '\n'; /* within the tail */
}

static void format_json(line_buf *b, int level, const char *ts, const rwp_log_ctx *ctx, const char *msg)
{
    char head[160];
    snprintf(head, sizeof head, "{\"ts\":\"%s\",\"level\":\"%s\"", ts, json_level_names[level & 3]);
    put_whole(b, head);
    if (ctx && ctx->id) {
        char id[40];
        snprintf(id, sizeof id, ",\"conn\":%llu", (unsigned long long)ctx->id);
        put_whole(b, id);
    }
    if (ctx && has_text(ctx->user))
        put_json_member(b, "user", ctx->user);
    if (ctx && has_text(ctx->backend))
        put_json_member(b, "backend", ctx->backend);
    if (ctx && has_text(ctx->peer))
        put_json_member(b, "peer", ctx->peer);
    put_json_member(b, "msg", msg ? msg : "");
    b->p[b->len++] = '}'; /* within the tail */
    b->p[b->len++] = '\n';
}

size_t rwp_log_format_line(char *out, size_t cap, int format, int level,
                           const struct timespec *ts, const rwp_log_ctx *ctx, const char *msg)
{
    char when[64];
    if (cap < 128) {
        if (cap > 0)
            out[0] = '\0';
        return 0;
    }
    format_ts(when, ts);
    line_buf b = {out, 0, cap - LINE_TAIL};
    if (format == RWP_LOG_JSON)
        format_json(&b, level, when, ctx, msg ? msg : "");
    else
        format_text(&b, level, when, ctx, msg ? msg : "");
    out[b.len] = '\0';
    return b.len;
}

/* ---------------------------------------------------------------- writing ---- */

static void emit_v(int level, const rwp_log_ctx *ctx, const char *fmt, va_list ap)
{
    char msg[LOG_MSG_MAX], line[LOG_LINE_MAX];
    struct timespec ts;
    if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
        msg[0] = '\0';
    clock_gettime(CLOCK_REALTIME, &ts);
    size_t n = rwp_log_format_line(line, sizeof line, rwp_log_get_format(), level, &ts, ctx, msg);
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}

void rwp_log_emit(int level, const rwp_log_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit_v(level, ctx, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- rate limits ---- */

int rwp_log_limit_take(rwp_log_limit *l, uint64_t now_ms, uint64_t *ended_suppressed)
{
    pthread_mutex_lock(&l->mu);
    *ended_suppressed = 0;
    if (!l->started || now_ms < l->window_start_ms ||
        now_ms - l->window_start_ms >= (uint64_t)l->window_ms) {
        *ended_suppressed = l->suppressed;
        l->started = 1;
        l->window_start_ms = now_ms;
        l->used = 0;
        l->suppressed = 0;
    }
    int ok = l->used < l->per_window;
    if (ok)
        l->used++;
    else
        l->suppressed++;
    pthread_mutex_unlock(&l->mu);
    return ok;
}

uint64_t rwp_log_limit_expire(rwp_log_limit *l, uint64_t now_ms)
{
    uint64_t n = 0;
    pthread_mutex_lock(&l->mu);
    if (l->started && l->suppressed > 0 &&
        (now_ms < l->window_start_ms || now_ms - l->window_start_ms >= (uint64_t)l->window_ms)) {
        n = l->suppressed;
        l->started = 0; /* the next line opens a new window */
        l->used = 0;
        l->suppressed = 0;
    }
    pthread_mutex_unlock(&l->mu);
    return n;
}

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void write_summary(const rwp_log_limit *l, int level, uint64_t dropped)
{
    rwp_log_emit(level, NULL, "suppressed %llu %s messages (at most %d per %d ms are logged)",
                 (unsigned long long)dropped, l->what, l->per_window, l->window_ms);
}

void rwp_log_limit_flush(rwp_log_limit *l, int level)
{
    uint64_t dropped = rwp_log_limit_expire(l, monotonic_ms());
    if (dropped > 0 && rwp_log_enabled(level))
        write_summary(l, level, dropped);
}

void rwp_log_limited(rwp_log_limit *l, int level, const rwp_log_ctx *ctx, const char *fmt, ...)
{
    uint64_t ended = 0;
    int ok = rwp_log_limit_take(l, monotonic_ms(), &ended);
    if (ended > 0)
        write_summary(l, level, ended);
    if (!ok)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit_v(level, ctx, fmt, ap);
    va_end(ap);
}
