/*
 * proxy/log.h — the one logging macro family of rwproxy. Every line carries a timestamp,
 * the level, and for connection-scoped lines the connection id, user and backend, so one
 * client's story can be followed. Passwords and hashes are never passed to these macros.
 */
#ifndef RWP_LOG_H
#define RWP_LOG_H

#include <stdint.h>

enum { RWP_LOGL_ERROR = 0, RWP_LOGL_WARN = 1, RWP_LOGL_INFO = 2, RWP_LOGL_DEBUG = 3 };

/* Set the most verbose level that is printed (RWP_LOGL_*). Thread-safe. */
void rwp_log_set_level(int level);
int rwp_log_enabled(int level);

/* Connection context printed in front of a line: "c=<id> u=<user> b=<backend>". */
typedef struct {
    uint64_t id;          /* rwproxy connection id (0 = none) */
    const char *user;     /* client user name or NULL */
    const char *backend;  /* backend server name or NULL */
} rwp_log_ctx;

void rwp_log_emit(int level, const rwp_log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_AT(lvl, ctx, ...) \
    do { if (rwp_log_enabled(lvl)) rwp_log_emit((lvl), (ctx), __VA_ARGS__); } while (0)
#define log_error(...) LOG_AT(RWP_LOGL_ERROR, NULL, __VA_ARGS__)
#define log_warn(...)  LOG_AT(RWP_LOGL_WARN, NULL, __VA_ARGS__)
#define log_info(...)  LOG_AT(RWP_LOGL_INFO, NULL, __VA_ARGS__)
#define log_debug(...) LOG_AT(RWP_LOGL_DEBUG, NULL, __VA_ARGS__)

#endif
