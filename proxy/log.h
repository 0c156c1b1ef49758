/*
 * proxy/log.h — the one logging macro family of rwproxy. Every line carries a timestamp,
 * the level, and for connection-scoped lines the connection id, user and backend, so one
 * client's story can be followed. Lines are plain text or one JSON object per line
 * ([proxy] log_format). Passwords and hashes are never passed to these macros.
 *
 * Also owns the rate limiters for lines an attacker can provoke at will (failed logins): at
 * most a fixed number of such lines per window, and one "suppressed K ..." summary for the
 * rest, so a password-guessing flood cannot fill the disk.
 */
#ifndef RWP_LOG_H
#define RWP_LOG_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum { RWP_LOGL_ERROR = 0, RWP_LOGL_WARN = 1, RWP_LOGL_INFO = 2, RWP_LOGL_DEBUG = 3 };

/* Line formats ([proxy] log_format, in the order of its choices text|json). */
enum { RWP_LOG_TEXT = 0, RWP_LOG_JSON = 1 };

/* Set the most verbose level that is printed (RWP_LOGL_*). Thread-safe. */
void rwp_log_set_level(int level);
int rwp_log_enabled(int level);

/* Set the line format (RWP_LOG_TEXT or RWP_LOG_JSON). Thread-safe; applies to the next line. */
void rwp_log_set_format(int format);
int rwp_log_get_format(void);

/* Connection context of a line. Text: "c=<id> u=<user> b=<backend>" in front of the message;
 * JSON: the members conn, user, backend and peer, each only when set. */
typedef struct {
    uint64_t id;          /* rwproxy connection id (0 = none) */
    const char *user;     /* client user name or NULL */
    const char *backend;  /* backend server name or NULL */
    const char *peer;     /* client address "host:port" or NULL (JSON member "peer" only) */
} rwp_log_ctx;

void rwp_log_emit(int level, const rwp_log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_AT(lvl, ctx, ...) \
    do { if (rwp_log_enabled(lvl)) rwp_log_emit((lvl), (ctx), __VA_ARGS__); } while (0)
#define log_error(...) LOG_AT(RWP_LOGL_ERROR, NULL, __VA_ARGS__)
#define log_warn(...)  LOG_AT(RWP_LOGL_WARN, NULL, __VA_ARGS__)
#define log_info(...)  LOG_AT(RWP_LOGL_INFO, NULL, __VA_ARGS__)
#define log_debug(...) LOG_AT(RWP_LOGL_DEBUG, NULL, __VA_ARGS__)

/* ---- formatting, pure (exposed for tests/unit/test_log.c) ---- */

/* Writes s as the inside of a JSON string into out (at most cap-1 bytes, NUL-terminated):
 * quote, backslash and control characters escaped, valid UTF-8 kept, every byte of an
 * invalid UTF-8 sequence replaced by \ufffd. Stops before an escape that would not fit, so
 * the output is always valid. Returns the number of bytes written. */
size_t rwp_log_json_escape(char *out, size_t cap, const char *s);

/* Formats one whole line (ending in '\n', NUL-terminated, at most cap-1 bytes) for a message
 * that is already formatted. A message too long for the line is cut; a JSON line stays a
 * valid object. Returns the length (without the NUL). cap must be at least 128. */
size_t rwp_log_format_line(char *out, size_t cap, int format, int level,
                           const struct timespec *ts, const rwp_log_ctx *ctx, const char *msg);

/* ---- rate-limited lines ---- */

/* A fixed window: at most per_window lines every window_ms; the others are counted and
 * reported by one summary line written before the first line of a later window. */
typedef struct {
    pthread_mutex_t mu;       /* guards the members below (lines come from every thread) */
    int per_window;           /* lines let through per window */
    int window_ms;            /* window length */
    const char *what;         /* what is counted, for the summary: "failed-login" */
    int started;              /* a window has begun */
    uint64_t window_start_ms; /* CLOCK_MONOTONIC ms when the current window began */
    int used;                 /* lines let through in the current window */
    uint64_t suppressed;      /* lines dropped in the current window */
} rwp_log_limit;

#define RWP_LOG_LIMIT_INIT(per_window, window_ms, what) \
    {PTHREAD_MUTEX_INITIALIZER, (per_window), (window_ms), (what), 0, 0, 0, 0}

/* The decision, with the clock given: 1 if a line may be written now, 0 if it is dropped
 * (and counted). *ended_suppressed is set to the lines dropped in the window that ended
 * with this call (0 if none ended or none were dropped): the caller writes that summary. */
int rwp_log_limit_take(rwp_log_limit *l, uint64_t now_ms, uint64_t *ended_suppressed);

/* Ends l's window if it is over (with the clock given) and returns the lines it dropped, for
 * a summary now rather than with the next line; 0 if the window still runs or dropped none. */
uint64_t rwp_log_limit_expire(rwp_log_limit *l, uint64_t now_ms);

/* Writes the summary of l's window if it is over (meant for a periodic timer, e.g. a worker's
 * tick, so a flood's last count is not held until the next line). */
void rwp_log_limit_flush(rwp_log_limit *l, int level);

/* Writes the line if l allows it (and first the summary of a window that ended). */
void rwp_log_limited(rwp_log_limit *l, int level, const rwp_log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Failed logins on the client and admin ports, per process. */
#define RWP_FAILED_LOGIN_LINES   10   /* failed-login lines per window */
#define RWP_FAILED_LOGIN_WINDOW_MS 1000
extern rwp_log_limit rwp_failed_login_limit;

/* A failed login: warn, with whatever the ctx carries; never a password, scramble or hash. */
#define log_failed_login(ctx, ...)                                                          \
    do {                                                                                    \
        if (rwp_log_enabled(RWP_LOGL_WARN))                                                 \
            rwp_log_limited(&rwp_failed_login_limit, RWP_LOGL_WARN, (ctx), __VA_ARGS__);    \
    } while (0)

#endif
