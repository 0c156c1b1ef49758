/*
 * proxy/users_match.h — MySQL account matching, pure (no threads, no sockets, no libuv):
 * host patterns ('%' and '_' wildcards with '\' escapes, exact IPv4/IPv6 addresses,
 * "localhost" and the loopback addresses as one, IPv4 netmasks "10.0.0.0/255.0.0.0"),
 * host specificity, the order accounts are tried in (most specific host first, then a named
 * user before the anonymous one), finding the account a client logs in as, and turning a
 * row of mysql.global_priv (plugin, authentication_string, locked, expired) into an account
 * rwproxy can check a mysql_native_password reply against.
 *
 * Host names other than "localhost" are never resolved (as with the servers'
 * skip-name-resolve): a pattern is compared with the client's IP address text.
 */
#ifndef RWP_USERS_MATCH_H
#define RWP_USERS_MATCH_H

#include <stddef.h>
#include <stdint.h>

#define RWP_ACCOUNT_USER_MAX 128 /* bytes of a user name (MariaDB: 128 characters max is plenty) */
#define RWP_ACCOUNT_HOST_MAX 256 /* bytes of a host pattern */

/* One account ('user'@'host') as loaded from the master. */
typedef struct {
    char user[RWP_ACCOUNT_USER_MAX]; /* user name; "" = the anonymous account (any user) */
    char host[RWP_ACCOUNT_HOST_MAX]; /* host pattern as stored in mysql.global_priv.Host */
    int sort;                        /* host specificity (rwp_host_specificity), higher first */
    int usable;                      /* 1: mysql_native_password with a valid hash, not locked or expired */
    char why[80];                    /* why it is not usable ("" when usable), for the log */
    int has_password;                /* 0: the account has an empty password */
    uint8_t h2[20];                  /* SHA1(SHA1(password)) when has_password */
} rwp_account;

/* How specific a host pattern is: 128 for a pattern without wildcards, else 2 + the position
 * of the first wildcard (capped at 127), 1 for "%" alone, 0 for "". */
int rwp_host_specificity(const char *pattern);

/* Does text match the wildcard pattern ('%' any run, '_' one character, '\' escapes the next
 * character)? Case-insensitive (ASCII). 1 or 0. */
int rwp_host_wild_match(const char *pattern, const char *text);

/* Does the account host pattern admit a client at address ip (IPv4 or IPv6 text, as the
 * socket reports it; "::ffff:a.b.c.d" counts as a.b.c.d)? A loopback client also matches
 * "localhost", "127.0.0.1" and "::1". 1 or 0. */
int rwp_host_matches(const char *pattern, const char *ip);

/* qsort comparator: the order accounts are tried in. */
int rwp_account_cmp(const void *a, const void *b);
/* Sort accounts into that order (fills each ->sort first). */
void rwp_accounts_sort(rwp_account *a, size_t n);

/* The account a client named user at ip logs in as (the first in sorted order whose user is
 * user or "" and whose host admits ip), or NULL if none. */
const rwp_account *rwp_accounts_find(const rwp_account *a, size_t n, const char *user,
                                     const char *ip);

/*
 * Fill the authentication part of an account from a mysql.global_priv row: plugin (NULL or
 * "" = mysql_native_password), auth (authentication_string: "" = no password, or "*"+40 hex),
 * locked (account_locked), expired (password_last_changed = 0 / password_expired). Sets
 * usable, why, has_password and h2.
 */
void rwp_account_set_auth(rwp_account *a, const char *plugin, const char *auth, int locked,
                          int expired);

#endif
