/*
 * proxy/log.c — writes log lines to stderr, one write(2) per line so lines from worker
 * threads never interleave. Owns the process-wide verbosity (an atomic, set at start-up
 * and on reload).
 */
#include "proxy/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = RWP_LOGL_INFO; /* most verbose level printed */

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void rwp_log_set_level(int level) { atomic_store(&log_level, level); }

int rwp_log_enabled(int level) { return level <= atomic_load_explicit(&log_level, memory_order_relaxed); }

static size_t format_prefix(char *buf, size_t cap, int level, const rwp_log_ctx *ctx)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level & 3]);
    if (ctx && n > 0 && (size_t)n < cap) {
        n += snprintf(buf + n, cap - (size_t)n, "c=%llu u=%s b=%s ", (unsigned long long)ctx->id,
                      ctx->user && ctx->user[0] ? ctx->user : "-",
                      ctx->backend && ctx->backend[0] ? ctx->backend : "-");
    }
    return n < 0 ? 0 : ((size_t)n < cap ? (size_t)n : cap - 1);
}

void rwp_log_emit(int level, const rwp_log_ctx *ctx, const char *fmt, ...)
{
    char line[2048];
    size_t n = format_prefix(line, sizeof line, level, ctx);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += (size_t)m < sizeof line - n - 1 ? (size_t)m : sizeof line - n - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
