/*
 * proxy/users_match.c — MySQL account matching, pure (see users_match.h): host patterns,
 * specificity, the order accounts are tried in, the lookup, and a mysql.global_priv row's
 * authentication turned into an account rwproxy can check.
 */
#include "proxy/users_match.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "protocol/auth.h"

int rwp_host_specificity(const char *pattern)
{
    for (size_t i = 0; pattern[i]; i++) {
        if (pattern[i] == '\\' && pattern[i + 1]) {
            i++;
            continue;
        }
        if (pattern[i] != '%' && pattern[i] != '_')
            continue;
        if (i == 0 && pattern[0] == '%' && pattern[1] == '\0')
            return 1;
        return i + 2 > 127 ? 127 : (int)i + 2;
    }
    return pattern[0] ? 128 : 0;
}

/* Does the pattern token at p (a literal, an escaped literal or '_') match character t?
 * Writes the token's length into *len. '%' is handled by the caller. */
static int token_matches(const char *p, char t, size_t *len)
{
    if (p[0] == '\\' && p[1]) {
        *len = 2;
        return tolower((unsigned char)p[1]) == tolower((unsigned char)t);
    }
    *len = 1;
    return p[0] == '_' || tolower((unsigned char)p[0]) == tolower((unsigned char)t);
}

int rwp_host_wild_match(const char *pattern, const char *text)
{
    const char *p = pattern, *t = text;
    const char *star_p = NULL, *star_t = NULL; /* where to resume after the last '%' */
    while (*t) {
        size_t len = 0;
        if (*p == '%') {
            star_p = ++p;
            star_t = t;
            continue;
        }
        if (*p && token_matches(p, *t, &len)) {
            p += len;
            t++;
            continue;
        }
        if (!star_p)
            return 0;
        p = star_p; /* let the last '%' swallow one more character */
        t = ++star_t;
    }
    while (*p == '%')
        p++;
    return *p == '\0';
}

/* The client's address without an IPv4-mapped IPv6 prefix, into out. */
static void normalise_ip(const char *ip, char *out, size_t cap)
{
    if (!strncasecmp(ip, "::ffff:", 7) && strchr(ip + 7, '.'))
        ip += 7;
    snprintf(out, cap, "%s", ip);
}

static int is_loopback(const char *ip)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, ip, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, ip, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* "net/mask" with two IPv4 addresses: 1 if ip is in it, 0 if not, -1 if pattern is not
 * of that form. */
static int netmask_match(const char *pattern, const char *ip)
{
    const char *slash = strchr(pattern, '/');
    char net_text[64];
    struct in_addr net, mask, addr;
    if (!slash || (size_t)(slash - pattern) >= sizeof net_text)
        return -1;
    memcpy(net_text, pattern, (size_t)(slash - pattern));
    net_text[slash - pattern] = '\0';
    if (inet_pton(AF_INET, net_text, &net) != 1 || inet_pton(AF_INET, slash + 1, &mask) != 1)
        return -1;
    if (inet_pton(AF_INET, ip, &addr) != 1)
        return 0;
    return (addr.s_addr & mask.s_addr) == net.s_addr;
}

/* Are a and b the same address (IPv4 or IPv6, any spelling)? -1 if either is not one. */
static int same_address(const char *a, const char *b)
{
    uint8_t x[16], y[16];
    if (inet_pton(AF_INET, a, x) == 1)
        return inet_pton(AF_INET, b, y) == 1 ? !memcmp(x, y, 4) : (inet_pton(AF_INET6, b, y) == 1 ? 0 : -1);
    if (inet_pton(AF_INET6, a, x) == 1)
        return inet_pton(AF_INET6, b, y) == 1 ? !memcmp(x, y, 16) : (inet_pton(AF_INET, b, y) == 1 ? 0 : -1);
    return -1;
}

/* Does pattern admit the host text name (an address or "localhost")? */
static int pattern_admits(const char *pattern, const char *name)
{
    if (rwp_host_specificity(pattern) == 128) {
        int same = same_address(pattern, name);
        if (same >= 0)
            return same;
    }
    return rwp_host_wild_match(pattern, name);
}

int rwp_host_matches(const char *pattern, const char *ip)
{
    char addr[64];
    normalise_ip(ip, addr, sizeof addr);
    int nm = netmask_match(pattern, addr);
    if (nm >= 0)
        return nm;
    if (pattern_admits(pattern, addr))
        return 1;
    if (!is_loopback(addr))
        return 0;
    static const char *const loopback_names[] = {"localhost", "127.0.0.1", "::1"};
    for (size_t i = 0; i < sizeof loopback_names / sizeof loopback_names[0]; i++)
        if (pattern_admits(pattern, loopback_names[i]))
            return 1;
    return 0;
}

int rwp_account_cmp(const void *pa, const void *pb)
{
    const rwp_account *a = pa, *b = pb;
    if (a->sort != b->sort)
        return a->sort > b->sort ? -1 : 1;
    int anon_a = a->user[0] == '\0', anon_b = b->user[0] == '\0';
    if (anon_a != anon_b)
        return anon_a - anon_b; /* a named user before the anonymous one */
    int local_a = !strcasecmp(a->host, "localhost"), local_b = !strcasecmp(b->host, "localhost");
    if (local_a != local_b)
        return local_b - local_a; /* "localhost" before the loopback addresses */
    int c = strcmp(a->host, b->host);
    return c ? c : strcmp(a->user, b->user);
}

void rwp_accounts_sort(rwp_account *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a[i].sort = rwp_host_specificity(a[i].host);
    if (n > 1)
        qsort(a, n, sizeof *a, rwp_account_cmp);
}

const rwp_account *rwp_accounts_find(const rwp_account *a, size_t n, const char *user,
                                     const char *ip)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].user[0] && strcmp(a[i].user, user) != 0)
            continue;
        if (rwp_host_matches(a[i].host, ip))
            return &a[i];
    }
    return NULL;
}

void rwp_account_set_auth(rwp_account *a, const char *plugin, const char *auth, int locked,
                          int expired)
{
    a->usable = 0;
    a->has_password = 0;
    memset(a->h2, 0, sizeof a->h2);
    if (plugin && plugin[0] && strcmp(plugin, PROTO_NATIVE_PLUGIN) != 0) {
        snprintf(a->why, sizeof a->why, "the account uses %.40s", plugin);
        return;
    }
    if (auth && auth[0] && proto_native_parse_hash(auth, a->h2) != 0) {
        snprintf(a->why, sizeof a->why, "no usable mysql_native_password hash");
        return;
    }
    if (locked) {
        snprintf(a->why, sizeof a->why, "the account is locked");
        return;
    }
    if (expired) {
        snprintf(a->why, sizeof a->why, "the password has expired");
        return;
    }
    a->has_password = auth && auth[0];
    a->usable = 1;
    a->why[0] = '\0';
}
