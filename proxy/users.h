/*
 * proxy/users.h — who may log in: the credentials a login is checked against, from a
 * [user.NAME] section or (with [proxy] users_from_backend = on) from the master's accounts.
 *
 * Owns the backend account loader: a thread that reads mysql.global_priv from the master
 * (else any server that answers) as the [monitor] user with libmysqlclient, builds an
 * immutable, sorted account table (proxy/users_match.h) and swaps it in under a small mutex
 * that logins take for one lookup (logins are not the hot path). Loads happen at start-up, on
 * RELOAD / SIGHUP, and after a failed login (unknown user or wrong password) at most once per
 * [proxy] users_refresh_interval_s; a failing login may wait (bounded) for that load so that
 * an account created seconds ago logs in at the first try. Hashes are never logged.
 */
#ifndef RWP_USERS_H
#define RWP_USERS_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/config.h"

typedef struct rwp_proxy rwp_proxy;
typedef struct rwp_users rwp_users;

/* What a login is checked against. */
typedef struct {
    int has_password;        /* 0: empty password */
    uint8_t h2[20];          /* SHA1(SHA1(password)) (mysql_native_password) */
    int has_clear;           /* 1: the password is known (clear text in the config): h1 and sha2 are set */
    uint8_t h1[20];          /* SHA1(password) when has_clear */
    uint8_t sha2[32];        /* SHA256(SHA256(password)) when has_clear (caching_sha2 fast path) */
    int max_connections;     /* client connections the user may have (0 = unlimited) */
    int from_backend;        /* 1: a backend account, 0: a [user.NAME] section */
    char account[400];       /* "'user'@'host'" of the backend account ("" for config users) */
} rwp_cred;

/* Outcome of a lookup. */
typedef enum {
    RWP_CRED_NONE = 0,       /* no such user (for this client address) */
    RWP_CRED_OK = 1,         /* *cred filled */
    RWP_CRED_REFUSED = 2     /* the account exists but cannot log in through rwproxy (why says why) */
} rwp_cred_status;

/* Start the loader thread (it loads at once when cfg has users_from_backend = on). NULL if
 * the thread cannot start. */
rwp_users *rwp_users_start(rwp_proxy *p);
/* Stop the thread (a load in progress finishes first, bounded by the monitor timeouts) and
 * free everything. NULL is fine. */
void rwp_users_stop(rwp_users *u);

/* The credentials of user for a client at ip: the [user.NAME] section of cfg if there is one,
 * else (cfg->users_from_backend) the most specific backend account. why (may be NULL) gets
 * the reason of a RWP_CRED_REFUSED. Thread-safe. */
rwp_cred_status rwp_users_lookup(rwp_users *u, const rwp_config *cfg, const char *user,
                                 const char *ip, rwp_cred *cred, char *why, size_t whycap);

/* A login failed (unknown user or wrong password): ask for a load of the backend accounts,
 * at most once per cfg->users_refresh_interval_s. Returns 1 with *wait_gen set when a load
 * the login may wait for is queued or running (wait until rwp_users_done() >= *wait_gen);
 * 0 when there is none (disabled, or rate-limited with no load pending). Thread-safe. */
int rwp_users_refresh_after_failure(rwp_users *u, const rwp_config *cfg, uint64_t *wait_gen);
/* The generation of the last finished load (successful or not). Thread-safe, lock-free. */
uint64_t rwp_users_done(rwp_users *u);

/* RELOAD / SIGHUP: load now and wait up to timeout_ms for the result. Writes a summary
 * ("12 accounts loaded from db1") or the reason into msg. Returns the number of accounts,
 * or -1 (disabled, failed or timed out). Not from a worker thread. */
int rwp_users_reload(rwp_users *u, int timeout_ms, char *msg, size_t cap);

#endif
