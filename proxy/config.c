/*
 * proxy/config.c — parses and validates rwproxy's INI configuration. Owns the key table
 * (every key's section, type, default, reloadability, doc and storage), the inih-driven
 * parser, the whole-file validation, the dump behind SHOW CONFIG, user/server lookups and
 * the restart-needed check for reloads.
 *
 * inih is driven through ini_parse_stream() with our own line reader (for files and strings
 * alike) because the reader sees every raw line: it counts lines (Debian's libinih is built
 * without INI_HANDLER_LINENO), tracks section headers itself (inih truncates section names
 * to 49 characters and never reports empty sections), strips leading whitespace (so inih's
 * multi-line continuation, on in Debian's build, never applies) and rejects lines too long
 * for inih's fixed line buffer instead of letting it split them.
 *
 * Passwords never appear in error messages or dumps; buffers that held them are wiped.
 */
#include "proxy/config.h"

#include "protocol/auth.h"
#include "router/rules.h"
#include "proxy/log.h"
#include "proxy/tls.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>

#define CONFIG_MAX_FILE (16 * 1024 * 1024) /* largest configuration file read */
#define FSIZE(type, field) sizeof(((type *)0)->field)

/* Rows for each storage kind: positional rwp_config_key initialisers. */
#define K_LISTEN(sec, name, field_h, field_p, def, rel, doc)                                  \
    {sec, name, "host:port", def, rel, doc, RWP_CK_LISTEN, offsetof(rwp_config, field_h),   \
     offsetof(rwp_config, field_p), FSIZE(rwp_config, field_h), 1, 65535, 0}
/* A listen address that may also be "off" (min 0). */
#define K_LISTEN_OFF(sec, name, field_h, field_p, def, rel, doc)                              \
    {sec, name, "host:port|off", def, rel, doc, RWP_CK_LISTEN, offsetof(rwp_config, field_h), \
     offsetof(rwp_config, field_p), FSIZE(rwp_config, field_h), 0, 65535, 0}
#define K_INT(sec, name, st, field, def, lo, hi, doc) \
    {sec, name, "integer", def, 1, doc, RWP_CK_INT, offsetof(st, field), 0, sizeof(int), lo, hi, 0}
#define K_BOOL(sec, name, field, def, doc) \
    {sec, name, "boolean", def, 1, doc, RWP_CK_BOOL, offsetof(rwp_config, field), 0, sizeof(int), \
     0, 1, 0}
#define K_ENUM(sec, name, st, field, choices, def, doc) \
    {sec, name, choices, def, 1, doc, RWP_CK_ENUM, offsetof(st, field), 0, sizeof(int), 0, 0, 0}
#define K_STR(sec, name, kind, type, st, field, def, minlen, req, doc) \
    {sec, name, type, def, 1, doc, kind, offsetof(st, field), 0, FSIZE(st, field), minlen, 0, req}

static const rwp_config_key key_table[] = {
    K_LISTEN("proxy", "listen", listen_host, listen_port, "127.0.0.1:6033", 0,
             "address clients connect to: host:port or [IPv6]:port"),
    {"proxy", "threads", "integer", NULL, 0,
     "worker threads, each with its own event loop and listener (1..256); default: the number "
     "of online CPUs",
     RWP_CK_INT, offsetof(rwp_config, threads), 0, sizeof(int), 1, 256, 0},
    K_ENUM("proxy", "log_level", rwp_config, log_level, "error|warn|info|debug", "info",
           "most verbose log level written to stderr"),
    K_ENUM("proxy", "log_format", rwp_config, log_format, "text|json", "text",
           "log line layout: text, or json (one object per line with ts, level, msg, conn, user, "
           "backend, peer)"),
    K_INT("proxy", "backend_connect_timeout_ms", rwp_config, backend_connect_timeout_ms, "3000", 100, 600000,
          "how long opening and logging into a backend connection may take"),
    K_BOOL("proxy", "users_from_backend", users_from_backend, "off",
           "also accept the accounts of the master's mysql.global_priv (mysql_native_password "
           "hashes, host patterns), read as the [monitor] user; [user.NAME] sections win"),
    K_INT("proxy", "users_refresh_interval_s", rwp_config, users_refresh_interval_s, "5", 0, 86400,
          "with users_from_backend: least time between two reloads of the accounts caused by "
          "failed logins (unknown user or wrong password); RELOAD always reloads them"),
    K_INT("proxy", "shutdown_timeout_ms", rwp_config, shutdown_timeout_ms, "10000", 1, 3600000,
          "on SIGTERM/SIGINT, how long running statements may finish before connections are "
          "closed"),
    K_LISTEN("admin", "listen", admin_host, admin_port, "127.0.0.1:6032", 0,
             "address of the admin port (MySQL protocol)"),
    K_STR("admin", "user", RWP_CK_STRING, "string", rwp_config, admin_user, "admin", 1, 0,
          "user name for the admin port"),
    K_STR("admin", "password", RWP_CK_PASSWORD, "password", rwp_config, admin_password, "", 0, 0,
          "password for the admin port; empty means no password — set one"),
    K_LISTEN_OFF("admin", "metrics_listen", metrics_host, metrics_port, "127.0.0.1:9104", 0,
                 "address of the Prometheus endpoint (HTTP GET /metrics), or off"),
    K_STR("monitor", "user", RWP_CK_STRING, "string", rwp_config, monitor_user, NULL, 1, 1,
          "user the monitor logs into every server with (required; its privileges: see "
          "docs/config.md)"),
    K_STR("monitor", "password", RWP_CK_PASSWORD, "password", rwp_config, monitor_password, "", 0,
          0, "password of the monitor user"),
    K_INT("monitor", "interval_ms", rwp_config, monitor_interval_ms, "500", 100, 3600000,
          "time between two checks of every server"),
    K_INT("monitor", "connect_timeout_ms", rwp_config, monitor_connect_timeout_ms, "1000", 100,
          600000, "connect and read timeout of the monitor's connections"),
    K_INT("monitor", "failcount", rwp_config, monitor_failcount, "3", 1, 1000,
          "consecutive failed checks before a server is down (and a master suspect)"),
    K_BOOL("monitor", "auto_failover", auto_failover, "on",
           "promote a replica automatically when the master is dead"),
    K_BOOL("monitor", "auto_rejoin", auto_rejoin, "on",
           "make a returning old master a replica of the new one when its GTIDs allow it"),
    K_BOOL("monitor", "enforce_read_only", enforce_read_only, "on",
           "set read_only=1 on any server other than the master found writable"),
    K_INT("monitor", "failover_cooldown_s", rwp_config, failover_cooldown_s, "60", 0, 86400,
          "no second automatic failover within this many seconds of the last one"),
    K_STR("replication", "user", RWP_CK_STRING, "string", rwp_config, repl_user, "", 0, 0,
          "user replicas log into the master with (CHANGE MASTER TO ... MASTER_USER) after a "
          "failover or switchover"),
    K_STR("replication", "password", RWP_CK_PASSWORD, "password", rwp_config, repl_password, "",
          0, 0, "password of the replication user"),
    K_INT("failover", "hold_ms", rwp_config, hold_ms, "5000", 0, 600000,
          "while there is no master, hold writes this long before answering ERR 1290"),
    K_INT("failover", "switchover_hold_ms", rwp_config, switchover_hold_ms, "5000", 0, 600000,
          "during a switchover, hold new writes this long for the new master"),
    K_BOOL("failover", "majority_lock", majority_lock, "on",
           "take GET_LOCK('rwproxy_failover') on a majority of all servers before promoting; "
           "off: on every server that answers (only for a single rwproxy over two servers)"),
    K_INT("failover", "catchup_timeout_ms", rwp_config, catchup_timeout_ms, "10000", 0, 3600000,
          "longest wait for the server being promoted to apply what it received (failover) or "
          "to reach the old master's position (switchover) before the attempt is abandoned"),
    K_STR("failover", "promotion_sql", RWP_CK_PATH, "path", rwp_config, promotion_sql, "", 0, 0,
          "file of SQL statements run on a server being promoted (relative to the config "
          "file's folder); empty: none"),
    K_INT("routing", "max_lag_s", rwp_config, max_lag_s, "10", 0, 86400,
          "replicas more than this many seconds behind get no reads"),
    K_ENUM("routing", "balance", rwp_config, balance, "least_connections|round_robin|weighted",
           "least_connections", "how reads are spread over the usable replicas"),
    K_ENUM("routing", "consistency", rwp_config, consistency, "eventual|session|global", "global",
           "read-your-writes: global (every write through this rwproxy), session (the "
           "client's own), eventual (none)"),
    K_INT("routing", "causal_timeout_ms", rwp_config, causal_timeout_ms, "1000", 0, 600000,
          "longest wait for a replica to catch up (MASTER_GTID_WAIT) before reading from the "
          "master"),
    K_INT("limits", "max_client_connections", rwp_config, max_client_connections, "10000", 0,
          1000000, "client connections accepted at once (0 = unlimited); more get ERR 1040"),
    K_INT("limits", "handshake_timeout_ms", rwp_config, handshake_timeout_ms, "10000", 100,
          3600000, "a client that has not logged in within this time is disconnected"),
    {"limits", "max_packet_size", "size", "1073741824", 1,
     "largest client packet (statement) accepted; bytes, or with a K, M or G suffix (1024..1G)",
     RWP_CK_SIZE, offsetof(rwp_config, max_packet_size), 0, sizeof(int64_t), 1024, 1073741824, 0},
    {"limits", "worker_buffer_limit", "size", "536870912", 1,
     "memory one worker thread may hold in client input buffers (partly received packets, "
     "pipelined commands); over it, a client in the middle of a packet that needs more gets "
     "ERR 1041 and is disconnected (1M..64G)",
     RWP_CK_SIZE, offsetof(rwp_config, worker_buffer_limit), 0, sizeof(int64_t), 1048576,
     68719476736LL, 0},
    {"limits", "writeq_high_water", "size", "4194304", 1,
     "bytes queued for a slow peer (a client not reading its result, a server not reading a "
     "LOAD DATA or long statement) above which rwproxy stops reading from the other side "
     "(1..1G)",
     RWP_CK_SIZE, offsetof(rwp_config, writeq_high_water), 0, sizeof(int64_t), 1, 1073741824, 0},
    {"limits", "writeq_low_water", "size", "1048576", 1,
     "reading from the other side resumes when the queue is below this (1..writeq_high_water)",
     RWP_CK_SIZE, offsetof(rwp_config, writeq_low_water), 0, sizeof(int64_t), 1, 1073741824, 0},
    {"limits", "client_sndbuf", "size", "0", 1,
     "kernel send buffer (SO_SNDBUF) of each client connection; 0: the kernel sizes it "
     "(0..64M; applies to clients connecting after a reload)",
     RWP_CK_SIZE, offsetof(rwp_config, client_sndbuf), 0, sizeof(int64_t), 0, 67108864, 0},
    K_INT("limits", "client_idle_timeout_s", rwp_config, client_idle_timeout_s, "0", 0, 31536000,
          "close client connections idle this long (0 = never)"),
    K_BOOL("pool", "multiplex", pool_multiplex, "on",
           "a session holds a backend connection only while it must (transaction, result being "
           "relayed, LOCK TABLES, temporary tables, user locks, prepared statements, pinned "
           "state); otherwise it goes back to the pool after each statement. off: a session "
           "keeps its connections until it ends (they are pooled then)"),
    K_INT("pool", "max_idle", rwp_config, pool_max_idle, "64", 0, 100000,
          "idle backend connections kept per server for reuse (shared out over the worker "
          "threads); more are closed"),
    K_INT("pool", "idle_timeout_s", rwp_config, pool_idle_timeout_s, "300", 1, 86400,
          "a pooled connection idle this long is closed"),
    K_INT("pool", "wait_timeout_ms", rwp_config, pool_wait_timeout_ms, "10000", 0, 3600000,
          "with multiplex on, a statement for a server at its [server.NAME] max_connections "
          "waits this long for a connection to come free, then gets ERR 1040"),
    K_STR("tls", "cert", RWP_CK_PATH, "path", rwp_config, tls_cert, "", 0, 0,
          "certificate chain (PEM) rwproxy shows clients (relative to the config file's folder); "
          "with key, the greeting offers TLS (CLIENT_SSL); empty: no TLS for clients"),
    K_STR("tls", "key", RWP_CK_PATH, "path", rwp_config, tls_key, "", 0, 0,
          "private key of cert (PEM, without passphrase; relative to the config file's folder)"),
    K_STR("tls", "ca", RWP_CK_PATH, "path", rwp_config, tls_ca, "", 0, 0,
          "CA certificates (PEM): clients that use TLS must present a certificate signed by one "
          "of them; empty: no client certificate is asked for"),
    K_BOOL("tls", "require", tls_require, "off",
           "refuse clients that did not switch to TLS: ERR 1045 (28000) after their login packet"),
    K_STR("tls", "ciphers", RWP_CK_STRING, "string", rwp_config, tls_ciphers, "", 0, 0,
          "OpenSSL cipher list for TLS 1.2 (TLS 1.3 keeps OpenSSL's suites); empty: OpenSSL's "
          "default"),
    K_ENUM("tls", "min_version", rwp_config, tls_min_version, "TLSv1.2|TLSv1.3", "TLSv1.2",
           "lowest TLS version accepted from clients"),
    K_STR("drill", "user", RWP_CK_STRING, "string", rwp_config, drill_user, "", 0, 0,
          "application user rwproxyctl drills write markers through rwproxy with; empty: the "
          "first [user.NAME] with a clear-text password"),
    K_STR("drill", "password", RWP_CK_PASSWORD, "password", rwp_config, drill_password, "", 0, 0,
          "password of the drill user (empty with an empty user: that [user.NAME]'s password)"),
    K_STR("drill", "schema", RWP_CK_STRING, "string", rwp_config, drill_schema, "rwproxy_drill",
          1, 0, "database of the marker table (created through rwproxy if missing)"),
    K_STR("drill", "table", RWP_CK_STRING, "string", rwp_config, drill_table, "markers", 1, 0,
          "marker table (id BIGINT PRIMARY KEY, at DATETIME(6); created if missing)"),
    K_INT("drill", "interval_ms", rwp_config, drill_interval_ms, "5", 0, 60000,
          "time between two marker writes of a drill"),
    K_STR("drill", "stop_command", RWP_CK_STRING, "string", rwp_config, drill_stop_command, "", 0,
          0, "shell command (/bin/sh -c) that stops the master for drill failover; empty: SQL "
          "SHUTDOWN as the [monitor] user"),
    K_STR("server.NAME", "host", RWP_CK_HOST, "host", rwp_server_cfg, host, NULL, 1, 1,
          "host name or IP address of the server (required)"),
    K_INT("server.NAME", "port", rwp_server_cfg, port, "3306", 1, 65535, "TCP port of the server"),
    K_INT("server.NAME", "weight", rwp_server_cfg, weight, "1", 0, 1000,
          "relative share of reads when balance = weighted"),
    K_INT("server.NAME", "max_connections", rwp_server_cfg, max_connections, "0", 0, 1000000,
          "backend connections rwproxy opens to it at most (0 = unlimited)"),
    K_ENUM("server.NAME", "promotion", rwp_server_cfg, promotion_never, "always|never", "always",
           "never: failover and switchover never promote this server"),
    {"server.NAME", "tls", "boolean", "off", 1,
     "rwproxy's connections to this server use TLS (SSL request, then the login encrypted); "
     "off: plain",
     RWP_CK_BOOL, offsetof(rwp_server_cfg, tls), 0, sizeof(int), 0, 1, 0},
    K_STR("server.NAME", "tls_ca", RWP_CK_PATH, "path", rwp_server_cfg, tls_ca, "", 0, 0,
          "CA certificates (PEM) the server's certificate must be signed by (relative to the "
          "config file's folder); needs tls = on"),
    {"server.NAME", "tls_verify", "boolean", NULL, 1,
     "check the server's certificate chain and that it names host (DNS name or IP address); "
     "default: on when tls_ca is set, else off (on without tls_ca: the system's CAs)",
     RWP_CK_BOOL, offsetof(rwp_server_cfg, tls_verify), 0, sizeof(int), 0, 1, 0},
    {"user.NAME", "password", "password", NULL, 1,
     "clear-text password of the client user (empty: no password); give this or password_hash",
     RWP_CK_USER_PASSWORD, offsetof(rwp_user_cfg, password), 0, FSIZE(rwp_user_cfg, password), 0,
     0, 0},
    {"user.NAME", "password_hash", "hash", NULL, 1,
     "mysql_native_password hash: '*' and 40 hex digits, as in mysql.user / PASSWORD('...')",
     RWP_CK_USER_HASH, offsetof(rwp_user_cfg, h2), 0, FSIZE(rwp_user_cfg, h2), 0, 0, 0},
    K_INT("user.NAME", "max_connections", rwp_user_cfg, max_connections, "0", 0, 1000000,
          "client connections this user may have at once (0 = unlimited)"),
    K_INT("rule.NAME", "order", rwp_rule_cfg, order, "100", -1000000, 1000000,
          "rules are tried in this order (lower first; equal orders in file order); the first "
          "match wins"),
    K_STR("rule.NAME", "match", RWP_CK_STRING, "regex", rwp_rule_cfg, match, NULL, 1, 1,
          "PCRE2 pattern, case-insensitive, matched against the statement text (required)"),
    K_STR("rule.NAME", "user", RWP_CK_STRING, "string", rwp_rule_cfg, user, "", 0, 0,
          "apply the rule only to this client user; empty: every user"),
    K_STR("rule.NAME", "route", RWP_CK_STRING, "master|replica|server.NAME", rwp_rule_cfg, route,
          "", 0, 0, "send matching statements there (give route or block, not both)"),
    K_STR("rule.NAME", "block", RWP_CK_STRING, "string", rwp_rule_cfg, block, "", 0, 0,
          "refuse matching statements with ERR 1148 (42000) and this text; double quotes around "
          "it are removed"),
};

#define NKEYS (sizeof key_table / sizeof key_table[0])

/* The enums map straight onto the order of the words in the table's choices. */
_Static_assert(RWP_LOGL_ERROR == 0 && RWP_LOGL_DEBUG == 3,
               "log_level order: error|warn|info|debug");
_Static_assert(RWP_LOG_TEXT == 0 && RWP_LOG_JSON == 1, "log_format order: text|json");
_Static_assert(RWP_BALANCE_WEIGHTED == 2, "balance order: least_connections|round_robin|weighted");
_Static_assert(RWP_CONSISTENCY_GLOBAL == 2, "consistency order: eventual|session|global");
_Static_assert(RWP_TLS_MIN_12 == 0 && RWP_TLS_MIN_13 == 1, "min_version order: TLSv1.2|TLSv1.3");

static const char SERVER_SECTION[] = "server.NAME"; /* table section of [server.X] keys */
static const char USER_SECTION[] = "user.NAME";     /* table section of [user.X] keys */
static const char RULE_SECTION[] = "rule.NAME";     /* table section of [rule.X] keys */

const rwp_config_key *rwp_config_keys(size_t *n)
{
    if (n)
        *n = NKEYS;
    return key_table;
}

/* ---------------------------------------------------------------- value parsers ---- */

/* Strict decimal integer: the whole string, no blanks. */
static int parse_int64(const char *v, long long *out)
{
    if (!*v || isspace((unsigned char)*v))
        return -1;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0')
        return -1;
    *out = x;
    return 0;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"on", "yes", "true", "1"};
    static const char *const no[] = {"off", "no", "false", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i]))
            return *out = 1, 0;
        if (!strcasecmp(v, no[i]))
            return *out = 0, 0;
    }
    return -1;
}

/* Index of v among the '|'-separated words of choices, or -1. */
static int parse_enum(const char *choices, const char *v)
{
    size_t vlen = strlen(v);
    int idx = 0;
    for (const char *p = choices; *p; idx++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == vlen && vlen > 0 && !strncasecmp(p, v, n))
            return idx;
        if (!bar)
            break;
        p = bar + 1;
    }
    return -1;
}

/* The idx-th word of choices into buf. */
static void enum_name(const char *choices, int idx, char *buf, size_t len)
{
    const char *p = choices;
    for (int i = 0; i < idx && p; i++) {
        p = strchr(p, '|');
        if (p)
            p++;
    }
    if (!p) {
        snprintf(buf, len, "%d", idx);
        return;
    }
    const char *bar = strchr(p, '|');
    int n = bar ? (int)(bar - p) : (int)strlen(p);
    snprintf(buf, len, "%.*s", n, p);
}

/* Bytes with an optional K/M/G (x1024) suffix. */
static int parse_size(const char *v, long long *out)
{
    size_t n = strlen(v);
    long long mult = 1;
    char num[32];
    if (n == 0 || n >= sizeof num)
        return -1;
    switch (v[n - 1]) {
    case 'k': case 'K': mult = 1024LL; n--; break;
    case 'm': case 'M': mult = 1024LL * 1024; n--; break;
    case 'g': case 'G': mult = 1024LL * 1024 * 1024; n--; break;
    default: break;
    }
    memcpy(num, v, n);
    num[n] = '\0';
    long long x;
    if (parse_int64(num, &x) != 0 || x < 0 || x > LLONG_MAX / mult)
        return -1;
    *out = x * mult;
    return 0;
}

/* A host name or address: non-empty, printable, no blanks, brackets or slashes. */
static int valid_host(const char *h, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (ch <= ' ' || ch >= 0x7f || strchr("[]/\\\"'", ch))
            return 0;
    }
    return 1;
}

static int parse_port(const char *s, int *port)
{
    long long x;
    if (parse_int64(s, &x) != 0 || x < 1 || x > 65535)
        return -1;
    *port = (int)x;
    return 0;
}

/* "host:port" or "[v6]:port". Returns 0 or -1 with a message. */
static int parse_listen(const char *v, char *host, size_t hostsz, int *port, char *msg, size_t mlen)
{
    const char *h = v, *hend, *portstr;
    if (*v == '[') {
        h = v + 1;
        hend = strchr(h, ']');
        if (!hend || hend[1] != ':')
            return snprintf(msg, mlen, "'%.64s': expected [IPv6-address]:port", v), -1;
        portstr = hend + 2;
    } else {
        hend = strrchr(v, ':');
        if (!hend)
            return snprintf(msg, mlen, "'%.64s': expected host:port", v), -1;
        if (memchr(v, ':', (size_t)(hend - v)))
            return snprintf(msg, mlen, "'%.64s': an IPv6 address needs brackets: [::1]:6033",
                            v), -1;
        portstr = hend + 1;
    }
    size_t hlen = (size_t)(hend - h);
    char tmp[256];
    if (!valid_host(h, hlen) || hlen >= hostsz || hlen >= sizeof tmp)
        return snprintf(msg, mlen, "'%.64s': invalid host", v), -1;
    memcpy(tmp, h, hlen);
    tmp[hlen] = '\0';
    struct in6_addr a6;
    if (*v == '[' && inet_pton(AF_INET6, tmp, &a6) != 1)
        return snprintf(msg, mlen, "'%.64s': invalid IPv6 address", v), -1;
    if (parse_port(portstr, port) != 0)
        return snprintf(msg, mlen, "'%.64s': port must be 1..65535", v), -1;
    memcpy(host, tmp, hlen + 1);
    return 0;
}

/* ------------------------------------------------------------ setting a key ---- */

/* Folder of the config file ("" if none) joined with a relative path. */
static int resolve_path(const char *cfgname, const char *v, char *out, size_t len)
{
    const char *slash = cfgname ? strrchr(cfgname, '/') : NULL;
    int n;
    if (v[0] == '/' || !slash)
        n = snprintf(out, len, "%s", v);
    else
        n = snprintf(out, len, "%.*s/%s", (int)(slash - cfgname), cfgname, v);
    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

static int set_path(const rwp_config_key *k, char *field, const char *v, const char *cfgname,
                    char *msg, size_t mlen)
{
    if (!*v) {
        field[0] = '\0';
        return 0;
    }
    char path[1024];
    if (resolve_path(cfgname, v, path, sizeof path) != 0 || strlen(path) >= k->size)
        return snprintf(msg, mlen, "path too long (max %zu characters)", k->size - 1), -1;
    if (access(path, R_OK) != 0)
        return snprintf(msg, mlen, "cannot read '%.200s': %s", path, strerror(errno)), -1;
    memcpy(field, path, strlen(path) + 1);
    return 0;
}

static int set_string(const rwp_config_key *k, char *field, const char *v, char *msg, size_t mlen)
{
    size_t n = strlen(v);
    if (n >= k->size)
        return snprintf(msg, mlen, "too long (max %zu characters)", k->size - 1), -1;
    if ((int64_t)n < k->min)
        return snprintf(msg, mlen, "must not be empty"), -1;
    if (k->kind == RWP_CK_HOST) {
        if (n >= 2 && v[0] == '[' && v[n - 1] == ']') {
            v++;
            n -= 2;
        }
        if (!valid_host(v, n))
            return snprintf(msg, mlen, "'%.64s': invalid host name or address", v), -1;
    }
    memcpy(field, v, n);
    field[n] = '\0';
    return 0;
}

static int set_user_password(rwp_user_cfg *u, const rwp_config_key *k, const char *v, char *msg,
                             size_t mlen)
{
    size_t n = strlen(v);
    if (n >= k->size)
        return snprintf(msg, mlen, "too long (max %zu characters)", k->size - 1), -1;
    memcpy(u->password, v, n + 1);
    u->has_h1 = 1;
    u->has_password = n > 0;
    memset(u->h1, 0, sizeof u->h1);
    memset(u->h2, 0, sizeof u->h2);
    memset(u->sha2, 0, sizeof u->sha2);
    if (n > 0) {
        proto_native_hash_password(v, n, u->h1, u->h2);
        proto_sha2_hash_password(v, n, u->sha2);
    }
    return 0;
}

static int set_user_hash(rwp_user_cfg *u, const char *v, char *msg, size_t mlen)
{
    if (proto_native_parse_hash(v, u->h2) != 0)
        return snprintf(msg, mlen, "expected '*' followed by 40 hex digits"), -1;
    u->has_password = 1;
    u->has_h1 = 0;
    u->password[0] = '\0';
    memset(u->h1, 0, sizeof u->h1);
    memset(u->sha2, 0, sizeof u->sha2);
    return 0;
}

static int set_number(const rwp_config_key *k, void *field, const char *v, char *msg, size_t mlen)
{
    long long x;
    int bad = k->kind == RWP_CK_SIZE ? parse_size(v, &x) : parse_int64(v, &x);
    if (bad)
        return snprintf(msg, mlen, "'%.64s': not %s", v,
                        k->kind == RWP_CK_SIZE ? "a size (bytes, or a number with K, M or G)"
                                               : "an integer"), -1;
    if (x < k->min || x > k->max)
        return snprintf(msg, mlen, "%lld is out of range (%lld..%lld)", x, (long long)k->min,
                        (long long)k->max), -1;
    if (k->kind == RWP_CK_SIZE)
        *(int64_t *)field = (int64_t)x;
    else
        *(int *)field = (int)x;
    return 0;
}

/* Parse v for key k into obj (rwp_config, rwp_server_cfg or rwp_user_cfg). 0 or -1 + msg. */
static int set_value(const rwp_config_key *k, void *obj, const char *v, const char *cfgname,
                     char *msg, size_t mlen)
{
    char *field = (char *)obj + k->off;
    switch (k->kind) {
    case RWP_CK_LISTEN:
        if (k->min == 0 && (!*v || !strcasecmp(v, "off"))) { /* a listener that may be off */
            field[0] = '\0';
            *(int *)((char *)obj + k->off2) = 0;
            return 0;
        }
        return parse_listen(v, field, k->size, (int *)((char *)obj + k->off2), msg, mlen);
    case RWP_CK_INT:
    case RWP_CK_SIZE:
        return set_number(k, field, v, msg, mlen);
    case RWP_CK_BOOL:
        if (parse_bool(v, (int *)field) != 0)
            return snprintf(msg, mlen, "'%.64s': expected on/off, yes/no, true/false or 1/0",
                            v), -1;
        return 0;
    case RWP_CK_ENUM: {
        int idx = parse_enum(k->type, v);
        if (idx < 0)
            return snprintf(msg, mlen, "'%.64s': expected one of %s", v, k->type), -1;
        *(int *)field = idx;
        return 0;
    }
    case RWP_CK_PATH:
        return set_path(k, field, v, cfgname, msg, mlen);
    case RWP_CK_USER_PASSWORD:
        return set_user_password(obj, k, v, msg, mlen);
    case RWP_CK_USER_HASH:
        return set_user_hash(obj, v, msg, mlen);
    default:
        return set_string(k, field, v, msg, mlen);
    }
}

/* Apply the defaults of every key of one table section to obj. */
static void apply_defaults(const char *section, void *obj)
{
    char msg[256];
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(key_table[i].section, section) && key_table[i].def)
            (void)set_value(&key_table[i], obj, key_table[i].def, NULL, msg, sizeof msg);
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > 256 ? 256 : (int)n);
}

/* ------------------------------------------------------------ formatting ---- */

void rwp_config_format_value(const rwp_config_key *k, const void *obj, char *buf, size_t len)
{
    const char *field = (const char *)obj + k->off;
    const rwp_user_cfg *u = obj;
    switch (k->kind) {
    case RWP_CK_LISTEN: {
        int port = *(const int *)((const char *)obj + k->off2);
        if (port == 0)
            snprintf(buf, len, "off");
        else if (strchr(field, ':'))
            snprintf(buf, len, "[%s]:%d", field, port);
        else
            snprintf(buf, len, "%s:%d", field, port);
        break;
    }
    case RWP_CK_INT: snprintf(buf, len, "%d", *(const int *)field); break;
    case RWP_CK_SIZE: snprintf(buf, len, "%lld", (long long)*(const int64_t *)field); break;
    case RWP_CK_BOOL: snprintf(buf, len, "%s", *(const int *)field ? "on" : "off"); break;
    case RWP_CK_ENUM: enum_name(k->type, *(const int *)field, buf, len); break;
    case RWP_CK_PASSWORD: snprintf(buf, len, "%s", *field ? "***" : ""); break;
    case RWP_CK_USER_PASSWORD:
        snprintf(buf, len, "%s", u->has_h1 && u->has_password ? "***" : "");
        break;
    case RWP_CK_USER_HASH: snprintf(buf, len, "%s", u->has_h1 ? "" : "***"); break;
    default: snprintf(buf, len, "%s", field); break;
    }
}

/* ------------------------------------------------------------ parse state ---- */

typedef enum {
    SEC_FIXED,  /* one of the fixed sections ([proxy], [admin], ...) */
    SEC_SERVER, /* [server.NAME] */
    SEC_USER,   /* [user.NAME] */
    SEC_RULE,   /* [rule.NAME] */
    SEC_BAD     /* unusable (error reported); its keys are skipped */
} sec_kind;

/* One section header seen in the file. */
typedef struct {
    sec_kind kind;         /* what it is */
    char name[200];        /* name between the brackets, trimmed */
    const char *tsection;  /* key_table section its keys belong to */
    int line;              /* line of the header */
    int index;             /* index into servers / users */
    int first;             /* index in secs of the first section of this name (fixed ones) */
    int key_lines[NKEYS];  /* line where each table key was set (0 = not set) */
} sec_meta;

/* Everything one parse needs; the reader and the handler share it. */
typedef struct {
    rwp_config *cfg;       /* configuration being filled */
    const char *file;      /* file name for messages */
    const char *text;      /* input not yet read */
    int line;              /* number of the line last handed to inih */
    int line_is_key;       /* that line should reach the key handler */
    int handler_called;    /* the key handler ran for that line */
    sec_meta *secs;        /* every section header, in file order */
    int nsecs;             /* used entries of secs */
    int capsecs;           /* allocated entries of secs */
    int cur;               /* index of the current section in secs, -1 before any */
    int ucap;              /* allocated entries of cfg->users */
    int nerrors;           /* errors found */
    int oom;               /* an allocation failed */
    char *err;             /* caller's error buffer (first error) */
    size_t errlen;         /* its size */
} parse_state;

static void perr(parse_state *ps, int line, const char *section, const char *key,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Record an error; the first one is written to ps->err as "FILE:LINE: [section] key: msg". */
static void perr(parse_state *ps, int line, const char *section, const char *key,
                 const char *fmt, ...)
{
    if (ps->nerrors++ > 0 || !ps->err || ps->errlen == 0)
        return;
    int n = snprintf(ps->err, ps->errlen, "%s:%d: ", ps->file, line);
    if (section && key && n >= 0 && (size_t)n < ps->errlen)
        n += snprintf(ps->err + n, ps->errlen - (size_t)n, "[%s] %s: ", section, key);
    else if (section && n >= 0 && (size_t)n < ps->errlen)
        n += snprintf(ps->err + n, ps->errlen - (size_t)n, "[%s]: ", section);
    if (n >= 0 && (size_t)n < ps->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
}

static int is_fixed_section(const char *name)
{
    if (!strcmp(name, SERVER_SECTION) || !strcmp(name, USER_SECTION) || !strcmp(name, RULE_SECTION))
        return 0;
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(key_table[i].section, name))
            return 1;
    return 0;
}

/* NAME of [server.NAME] / [user.NAME]: 1..63 of [A-Za-z0-9_-]. */
static int valid_entry_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > RWP_CONFIG_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
            return 0;
    return 1;
}

static sec_meta *push_section(parse_state *ps, const char *name, int line)
{
    if (ps->nsecs == ps->capsecs) {
        int cap = ps->capsecs ? ps->capsecs * 2 : 16;
        sec_meta *s = realloc(ps->secs, (size_t)cap * sizeof *s);
        if (!s)
            return NULL;
        ps->secs = s;
        ps->capsecs = cap;
    }
    sec_meta *m = &ps->secs[ps->nsecs];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->line = line;
    m->kind = SEC_BAD;
    ps->cur = ps->nsecs++;
    return m;
}

static const sec_meta *find_section(const parse_state *ps, sec_kind kind, const char *name)
{
    for (int i = 0; i < ps->nsecs; i++)
        if (ps->secs[i].kind == kind && !strcmp(ps->secs[i].name, name))
            return &ps->secs[i];
    return NULL;
}

/* A fixed section may be repeated: its keys then merge into the first one's (and a key
 * given in both is a duplicate). */
static void open_fixed(parse_state *ps, sec_meta *m)
{
    const sec_meta *prev = find_section(ps, SEC_FIXED, m->name);
    m->first = prev ? (int)(prev - ps->secs) : ps->cur;
    m->kind = SEC_FIXED;
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(key_table[i].section, m->name))
            m->tsection = key_table[i].section;
}

static void open_server(parse_state *ps, sec_meta *m, const char *sname)
{
    rwp_config *c = ps->cfg;
    for (int i = 0; i < c->nservers; i++)
        if (!strcmp(c->servers[i].name, sname)) {
            const sec_meta *prev = find_section(ps, SEC_SERVER, m->name);
            perr(ps, m->line, m->name, NULL, "duplicate server (first on line %d)",
                 prev ? prev->line : 0);
            return;
        }
    if (c->nservers >= RWP_MAX_SERVERS) {
        perr(ps, m->line, m->name, NULL, "too many servers (max %d)", RWP_MAX_SERVERS);
        return;
    }
    rwp_server_cfg *s = &c->servers[c->nservers];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", sname);
    apply_defaults(SERVER_SECTION, s);
    m->kind = SEC_SERVER;
    m->tsection = SERVER_SECTION;
    m->index = c->nservers++;
}

static void open_user(parse_state *ps, sec_meta *m, const char *uname)
{
    rwp_config *c = ps->cfg;
    if (c->nusers == ps->ucap) {
        int cap = ps->ucap ? ps->ucap * 2 : 8;
        rwp_user_cfg *u = realloc(c->users, (size_t)cap * sizeof *u);
        if (!u) {
            ps->oom = 1;
            return;
        }
        c->users = u;
        ps->ucap = cap;
    }
    rwp_user_cfg *u = &c->users[c->nusers];
    memset(u, 0, sizeof *u);
    snprintf(u->name, sizeof u->name, "%s", uname);
    apply_defaults(USER_SECTION, u);
    m->kind = SEC_USER;
    m->tsection = USER_SECTION;
    m->index = c->nusers++;
}

static void open_rule(parse_state *ps, sec_meta *m, const char *rname)
{
    rwp_config *c = ps->cfg;
    for (int i = 0; i < c->nrules; i++)
        if (!strcmp(c->rules[i].name, rname)) {
            perr(ps, m->line, m->name, NULL, "duplicate rule (first on line %d)", c->rules[i].line);
            return;
        }
    if (c->nrules >= RWP_MAX_RULES) {
        perr(ps, m->line, m->name, NULL, "too many rules (max %d)", RWP_MAX_RULES);
        return;
    }
    rwp_rule_cfg *r = &c->rules[c->nrules];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", rname);
    r->line = m->line;
    apply_defaults(RULE_SECTION, r);
    m->kind = SEC_RULE;
    m->tsection = RULE_SECTION;
    m->index = c->nrules++;
}

static void known_sections(char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < NKEYS && n < len; i++) {
        if (i > 0 && !strcmp(key_table[i].section, key_table[i - 1].section))
            continue;
        int w = snprintf(buf + n, len - n, "%s%s", n ? ", " : "", key_table[i].section);
        n += w > 0 ? (size_t)w : 0;
    }
}

/* Classify the name of a section header and open it. */
static void open_section(parse_state *ps, sec_meta *m)
{
    int server = !strncmp(m->name, "server.", 7), user = !strncmp(m->name, "user.", 5);
    int rule = !strncmp(m->name, "rule.", 5);
    const char *entry = m->name + (server ? 7 : 5);
    if (is_fixed_section(m->name)) {
        open_fixed(ps, m);
    } else if ((server || user || rule) && !valid_entry_name(entry)) {
        perr(ps, m->line, m->name, NULL, "invalid name '%s' (1..63 characters of A-Z a-z 0-9 _ -)",
             entry);
    } else if (server) {
        open_server(ps, m, entry);
    } else if (user) {
        open_user(ps, m, entry);
    } else if (rule) {
        open_rule(ps, m, entry);
    } else {
        char known[256];
        known_sections(known, sizeof known);
        perr(ps, m->line, m->name, NULL, "unknown section (expected one of %s)", known);
    }
}

static int is_comment_start(char ch) { return ch == ';' || ch == '#'; }

/* A "[...]" line (leading blanks already gone). */
static void on_section_line(parse_state *ps, const char *line)
{
    const char *close = strchr(line, ']');
    const char *rest = close ? close + 1 : NULL;
    while (rest && isspace((unsigned char)*rest))
        rest++;
    const char *b = line + 1, *e = close ? close : line + strlen(line);
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    char name[200];
    snprintf(name, sizeof name, "%.*s", (int)(e - b), b);
    sec_meta *m = push_section(ps, name, ps->line);
    if (!m) {
        ps->oom = 1;
        return;
    }
    if (!close)
        perr(ps, ps->line, NULL, NULL, "section header without ']'");
    else if (*rest && !is_comment_start(*rest))
        perr(ps, ps->line, NULL, NULL, "unexpected text after ']'");
    else
        open_section(ps, m);
}

/* The previous line was "key = value"-shaped text inih did not accept. */
static void finish_line(parse_state *ps)
{
    if (ps->line_is_key && !ps->handler_called)
        perr(ps, ps->line, NULL, NULL,
             "syntax error: expected 'key = value', '[section]' or a comment");
    ps->line_is_key = 0;
    ps->handler_called = 0;
}

/* inih's fgets-style reader: hands inih one line at a time, leading blanks removed. */
static char *read_line(char *str, int num, void *stream)
{
    parse_state *ps = stream;
    finish_line(ps);
    if (!*ps->text)
        return NULL;
    const char *p = ps->text, *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    ps->text = p + len + (nl ? 1 : 0);
    ps->line++;
    if (ps->line == 1 && len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
        p += 3, len -= 3;
    while (len > 0 && isspace((unsigned char)*p))
        p++, len--;
    while (len > 0 && isspace((unsigned char)p[len - 1]))
        len--;
    str[0] = '\0';
    if (num < 2 || len > (size_t)num - 2) {
        perr(ps, ps->line, NULL, NULL, "line too long (max %d characters)", num - 2);
        return str;
    }
    memcpy(str, p, len);
    str[len] = '\0';
    if (str[0] == '[')
        on_section_line(ps, str);
    else if (str[0] && !is_comment_start(str[0]))
        ps->line_is_key = 1;
    return str;
}

static const rwp_config_key *find_key(const char *tsection, const char *name, size_t *idx)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(key_table[i].section, tsection) && !strcmp(key_table[i].key, name)) {
            *idx = i;
            return &key_table[i];
        }
    return NULL;
}

/* Cut an inline "#" comment (one preceded by a blank) and trailing blanks. */
static void strip_hash_comment(char *v)
{
    for (char *p = v; *p; p++)
        if (*p == '#' && p > v && isspace((unsigned char)p[-1])) {
            *p = '\0';
            break;
        }
    size_t n = strlen(v);
    while (n > 0 && isspace((unsigned char)v[n - 1]))
        v[--n] = '\0';
}

static void *section_object(parse_state *ps, const sec_meta *m)
{
    if (m->kind == SEC_SERVER)
        return &ps->cfg->servers[m->index];
    if (m->kind == SEC_USER)
        return &ps->cfg->users[m->index];
    if (m->kind == SEC_RULE)
        return &ps->cfg->rules[m->index];
    return ps->cfg;
}

/* inih's handler: one "key = value" of the current line. Always continues. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
    parse_state *ps = user;
    (void)section; /* inih's copy may be truncated; ours is ps->secs[ps->cur] */
    ps->handler_called = 1;
    if (ps->cur < 0) {
        perr(ps, ps->line, NULL, NULL, "key '%.64s' outside of any section", name);
        return 1;
    }
    sec_meta *m = &ps->secs[ps->cur];
    if (m->kind == SEC_BAD)
        return 1;
    int *key_lines = ps->secs[m->kind == SEC_FIXED ? m->first : ps->cur].key_lines;
    size_t idx;
    const rwp_config_key *k = find_key(m->tsection, name, &idx);
    if (!k) {
        perr(ps, ps->line, m->name, name, "unknown key");
        return 1;
    }
    if (key_lines[idx]) {
        perr(ps, ps->line, m->name, name, "duplicate key (first set on line %d)",
             key_lines[idx]);
        return 1;
    }
    key_lines[idx] = ps->line;
    char v[512], msg[512];
    snprintf(v, sizeof v, "%s", value ? value : "");
    strip_hash_comment(v);
    if (set_value(k, section_object(ps, m), v, ps->file, msg, sizeof msg) != 0)
        perr(ps, ps->line, m->name, name, "%s", msg);
    explicit_bzero(v, sizeof v);
    return 1;
}

/* ------------------------------------------------------------ validation ---- */

static size_t key_index(const char *tsection, const char *key)
{
    size_t idx = NKEYS;
    find_key(tsection, key, &idx);
    return idx;
}

/* Required keys of one section (fixed, server or user). */
static void check_required(parse_state *ps, const sec_meta *m)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(key_table[i].section, m->tsection) && key_table[i].required && !m->key_lines[i])
            perr(ps, m->line, m->name, key_table[i].key, "missing (required)");
}

/* Required keys of fixed sections that do not appear at all. */
static void check_missing_fixed(parse_state *ps)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const rwp_config_key *k = &key_table[i];
        if (!k->required || !is_fixed_section(k->section) ||
            find_section(ps, SEC_FIXED, k->section))
            continue;
        perr(ps, 0, k->section, k->key, "missing (required; no [%s] section)", k->section);
    }
}

static void check_user(parse_state *ps, const sec_meta *m)
{
    int lp = m->key_lines[key_index(USER_SECTION, "password")];
    int lh = m->key_lines[key_index(USER_SECTION, "password_hash")];
    if (lp && lh)
        perr(ps, lp > lh ? lp : lh, m->name, lp > lh ? "password" : "password_hash",
             "both password and password_hash are set (give one)");
    else if (!lp && !lh)
        perr(ps, m->line, m->name, "password", "missing (password or password_hash is required)");
}

static int is_wildcard(const char *h) { return !strcmp(h, "0.0.0.0") || !strcmp(h, "::"); }

static void check_listeners(parse_state *ps)
{
    const rwp_config *c = ps->cfg;
    if (c->listen_port != c->admin_port)
        return;
    if (strcmp(c->listen_host, c->admin_host) && !is_wildcard(c->listen_host) &&
        !is_wildcard(c->admin_host))
        return;
    const sec_meta *m = find_section(ps, SEC_FIXED, "admin");
    size_t i = key_index("admin", "listen");
    perr(ps, m && i < NKEYS ? m->key_lines[i] : 0, "admin", "listen",
         "same port as [proxy] listen (%d)", c->listen_port);
}

static void check_write_queue(parse_state *ps)
{
    const rwp_config *c = ps->cfg;
    if (c->writeq_low_water <= c->writeq_high_water)
        return;
    const sec_meta *m = find_section(ps, SEC_FIXED, "limits");
    size_t i = key_index("limits", "writeq_low_water");
    perr(ps, m && i < NKEYS ? m->key_lines[i] : 0, "limits", "writeq_low_water",
         "larger than writeq_high_water (%lld)", (long long)c->writeq_high_water);
}

static void check_server_addresses(parse_state *ps, const sec_meta *m)
{
    const rwp_config *c = ps->cfg;
    const rwp_server_cfg *s = &c->servers[m->index];
    for (int j = 0; j < m->index; j++)
        if (c->servers[j].port == s->port && !strcmp(c->servers[j].host, s->host) && s->host[0]) {
            perr(ps, m->line, m->name, "host", "same host and port as [server.%s]",
                 c->servers[j].name);
            return;
        }
}

static int cmp_user(const void *a, const void *b)
{
    return strcmp(((const rwp_user_cfg *)a)->name, ((const rwp_user_cfg *)b)->name);
}

/* Sort users by name (for binary search) and report the duplicates. */
static void sort_users(parse_state *ps)
{
    rwp_config *c = ps->cfg;
    if (c->nusers < 2)
        return;
    qsort(c->users, (size_t)c->nusers, sizeof *c->users, cmp_user);
    for (int i = 1; i < c->nusers; i++) {
        if (strcmp(c->users[i - 1].name, c->users[i].name))
            continue;
        char name[140];
        snprintf(name, sizeof name, "user.%s", c->users[i].name);
        const sec_meta *first = find_section(ps, SEC_USER, name);
        int second = 0;
        for (int j = ps->nsecs - 1; j >= 0 && !second; j--)
            if (ps->secs[j].kind == SEC_USER && !strcmp(ps->secs[j].name, name))
                second = ps->secs[j].line;
        perr(ps, second, name, NULL, "duplicate user (first on line %d)", first ? first->line : 0);
    }
}

/* Remove one pair of double quotes around a value. */
static void unquote(char *v)
{
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        memmove(v, v + 1, n - 2);
        v[n - 2] = '\0';
    }
}

/* A rule needs exactly one of route/block, and a route that names something real. */
static void check_rule(parse_state *ps, const sec_meta *m)
{
    rwp_rule_cfg *r = &ps->cfg->rules[m->index];
    unquote(r->block);
    unquote(r->match);
    if (!r->route[0] == !r->block[0]) {
        perr(ps, m->line, m->name, NULL, "give either route or block");
        return;
    }
    if (!r->route[0] || !strcmp(r->route, "master") || !strcmp(r->route, "replica"))
        return;
    if (strncmp(r->route, "server.", 7) != 0) {
        perr(ps, m->line, m->name, "route", "'%s': expected master, replica or server.NAME", r->route);
        return;
    }
    for (int i = 0; i < ps->cfg->nservers; i++)
        if (!strcmp(ps->cfg->servers[i].name, r->route + 7))
            return;
    perr(ps, m->line, m->name, "route", "no [%s] section", r->route);
}

/* Compile the rules once the file is valid (PCRE2 errors name the rule). */
static void compile_rules(parse_state *ps)
{
    rwp_config *c = ps->cfg;
    if (c->nrules == 0 || ps->nerrors)
        return;
    rwr_rule_spec *specs = calloc((size_t)c->nrules, sizeof *specs);
    if (!specs) {
        ps->oom = 1;
        return;
    }
    for (int i = 0; i < c->nrules; i++) {
        const rwp_rule_cfg *r = &c->rules[i];
        rwr_rule_spec *sp = &specs[i];
        snprintf(sp->name, sizeof sp->name, "%s", r->name);
        sp->order = r->order;
        sp->match = (char *)r->match;
        sp->user = r->user[0] ? (char *)r->user : NULL;
        if (r->block[0]) {
            sp->action = RWR_RULE_BLOCK;
            sp->block_msg = (char *)r->block;
        } else if (!strcmp(r->route, "master")) {
            sp->action = RWR_RULE_ROUTE_MASTER;
        } else if (!strcmp(r->route, "replica")) {
            sp->action = RWR_RULE_ROUTE_REPLICA;
        } else {
            sp->action = RWR_RULE_ROUTE_SERVER;
            snprintf(sp->server, sizeof sp->server, "%s", r->route + 7);
        }
    }
    char msg[256];
    c->ruleset = rwr_rules_compile(specs, (size_t)c->nrules, msg, sizeof msg);
    free(specs);
    if (!c->ruleset) {
        int line = 0;
        for (int i = 0; i < c->nrules; i++)
            if (strstr(msg, c->rules[i].name))
                line = c->rules[i].line;
        perr(ps, line, NULL, NULL, "%s", msg);
    }
}

/* The line a key of a section was set on (0 if not set or no such section). */
static int key_line(const sec_meta *m, const char *tsection, const char *key)
{
    size_t i = key_index(tsection, key);
    return m && i < NKEYS ? m->key_lines[i] : 0;
}

/* [tls]: cert and key go together; build the clients' TLS context (proxy/tls.c) so that a
 * bad certificate or key is a configuration error at start, --check and reload. */
static void check_tls(parse_state *ps)
{
    rwp_config *c = ps->cfg;
    const sec_meta *m = find_section(ps, SEC_FIXED, "tls");
    if (!c->tls_cert[0] != !c->tls_key[0]) {
        perr(ps, m ? m->line : 0, "tls", c->tls_cert[0] ? "key" : "cert",
             "missing (cert and key go together)");
        return;
    }
    if (!c->tls_cert[0]) {
        if (c->tls_require || c->tls_ca[0])
            perr(ps, key_line(m, "tls", c->tls_require ? "require" : "ca"), "tls",
                 c->tls_require ? "require" : "ca", "needs cert and key");
        return;
    }
    if (ps->nerrors)
        return;
    char msg[512];
    const char *bad = "cert";
    c->tls_ctx = rwp_tls_server_ctx(c->tls_cert, c->tls_key, c->tls_ca, c->tls_ciphers,
                                    c->tls_min_version, &bad, msg, sizeof msg);
    if (!c->tls_ctx)
        perr(ps, key_line(m, "tls", bad), "tls", bad, "%s", msg);
}

/* [server.NAME] tls*: tls_verify defaults to on with tls_ca; build the server's context. */
static void check_server_tls(parse_state *ps, const sec_meta *m)
{
    rwp_server_cfg *s = &ps->cfg->servers[m->index];
    if (!key_line(m, SERVER_SECTION, "tls_verify"))
        s->tls_verify = s->tls_ca[0] != '\0';
    if (!s->tls) {
        if (s->tls_ca[0] || key_line(m, SERVER_SECTION, "tls_verify"))
            perr(ps, key_line(m, SERVER_SECTION, s->tls_ca[0] ? "tls_ca" : "tls_verify"), m->name,
                 s->tls_ca[0] ? "tls_ca" : "tls_verify", "needs tls = on");
        return;
    }
    char msg[512];
    s->tls_ctx = rwp_tls_backend_ctx(s->tls_ca, s->tls_verify, msg, sizeof msg);
    if (!s->tls_ctx)
        perr(ps, key_line(m, SERVER_SECTION, "tls_ca"), m->name, "tls_ca", "%s", msg);
}

static void validate(parse_state *ps)
{
    for (int i = 0; i < ps->nsecs; i++) {
        const sec_meta *m = &ps->secs[i];
        if (m->kind == SEC_BAD || (m->kind == SEC_FIXED && m->first != i))
            continue;
        check_required(ps, m);
        if (m->kind == SEC_USER)
            check_user(ps, m);
        if (m->kind == SEC_SERVER) {
            check_server_addresses(ps, m);
            check_server_tls(ps, m);
        }
        if (m->kind == SEC_RULE)
            check_rule(ps, m);
    }
    check_missing_fixed(ps);
    if (ps->cfg->nservers == 0)
        perr(ps, 0, NULL, NULL, "no [server.NAME] section");
    check_listeners(ps);
    check_write_queue(ps);
    sort_users(ps);
    compile_rules(ps);
    check_tls(ps);
}

/* ------------------------------------------------------------ load / free ---- */

static rwp_config *config_new(const char *name)
{
    rwp_config *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->path = strdup(name ? name : "(string)");
    c->servers = calloc(RWP_MAX_SERVERS, sizeof *c->servers);
    c->rules = calloc(RWP_MAX_RULES, sizeof *c->rules);
    if (!c->path || !c->servers || !c->rules) {
        rwp_config_free(c);
        return NULL;
    }
    for (size_t i = 0; i < NKEYS; i++)
        if (is_fixed_section(key_table[i].section) &&
            (i == 0 || strcmp(key_table[i].section, key_table[i - 1].section)))
            apply_defaults(key_table[i].section, c);
    c->threads = online_cpus();
    return c;
}

void rwp_config_free(rwp_config *c)
{
    if (!c)
        return;
    if (c->users)
        explicit_bzero(c->users, (size_t)c->nusers * sizeof *c->users);
    free(c->users);
    rwp_tls_ctx_free(c->tls_ctx);
    for (int i = 0; c->servers && i < c->nservers; i++)
        rwp_tls_ctx_free(c->servers[i].tls_ctx);
    free(c->servers);
    free(c->rules);
    rwr_rules_free(c->ruleset);
    free(c->path);
    explicit_bzero(c, sizeof *c);
    free(c);
}

static void finish_error(parse_state *ps)
{
    if (ps->oom) {
        snprintf(ps->err, ps->errlen, "%s: out of memory", ps->file);
        return;
    }
    if (ps->nerrors > 1 && ps->err && ps->errlen > 0) {
        size_t n = strlen(ps->err);
        snprintf(ps->err + n, ps->errlen - n, " (and %d more error%s)", ps->nerrors - 1,
                 ps->nerrors > 2 ? "s" : "");
    }
}

rwp_config *rwp_config_parse_string(const char *text, const char *name, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || errlen == 0)
        err = dummy, errlen = sizeof dummy;
    err[0] = '\0';
    rwp_config *c = config_new(name);
    if (!c) {
        snprintf(err, errlen, "%s: out of memory", name ? name : "(string)");
        return NULL;
    }
    parse_state ps = {.cfg = c, .file = c->path, .text = text ? text : "", .cur = -1,
                      .err = err, .errlen = errlen};
    int rc = ini_parse_stream(read_line, &ps, on_key, &ps);
    if (rc == -2)
        ps.oom = 1;
    else if (rc > 0 && ps.nerrors == 0)
        perr(&ps, rc, NULL, NULL, "syntax error");
    if (!ps.oom)
        validate(&ps);
    free(ps.secs);
    if (ps.nerrors == 0 && !ps.oom)
        return c;
    finish_error(&ps);
    rwp_config_free(c);
    return NULL;
}

/* Whole file into a NUL-terminated buffer; NULL + err on failure. */
static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s:0: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 == cap) {
            char *nb = cap >= CONFIG_MAX_FILE ? NULL : malloc(cap * 2);
            if (nb)
                memcpy(nb, buf, len);
            explicit_bzero(buf, cap);
            free(buf);
            buf = nb;
            cap *= 2;
            if (!buf)
                break;
        }
        size_t got = fread(buf + len, 1, cap - 1 - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (!buf || rerr) {
        snprintf(err, errlen, "%s:0: %s", path, !buf ? "too large or out of memory" : "read error");
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        snprintf(err, errlen, "%s:0: file contains a NUL byte (not a text file?)", path);
        explicit_bzero(buf, len);
        free(buf);
        return NULL;
    }
    return buf;
}

rwp_config *rwp_config_load(const char *path, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || errlen == 0)
        err = dummy, errlen = sizeof dummy;
    err[0] = '\0';
    if (!path) {
        snprintf(err, errlen, "no configuration file given");
        return NULL;
    }
    char *text = read_file(path, err, errlen);
    if (!text)
        return NULL;
    rwp_config *c = rwp_config_parse_string(text, path, err, errlen);
    explicit_bzero(text, strlen(text));
    free(text);
    return c;
}

/* ------------------------------------------------------------ lookups ---- */

const rwp_user_cfg *rwp_config_find_user(const rwp_config *c, const char *name, size_t len)
{
    if (!c || !name)
        return NULL;
    int lo = 0, hi = c->nusers - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const char *un = c->users[mid].name;
        size_t ulen = strlen(un);
        int r = memcmp(name, un, len < ulen ? len : ulen);
        if (r == 0)
            r = len < ulen ? -1 : (len > ulen ? 1 : 0);
        if (r == 0)
            return &c->users[mid];
        if (r < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

const rwp_server_cfg *rwp_config_find_server(const rwp_config *c, const char *name)
{
    if (!c || !name)
        return NULL;
    for (int i = 0; i < c->nservers; i++)
        if (!c->servers[i].removed && !strcmp(c->servers[i].name, name))
            return &c->servers[i];
    return NULL;
}

int rwp_config_live_servers(const rwp_config *c)
{
    return c ? c->nservers - c->nremoved : 0;
}

/* The index of neu's server named name, or -1 (neu not aligned yet: no placeholders). */
static int server_index(const rwp_config *c, const char *name)
{
    for (int i = 0; i < c->nservers; i++)
        if (!strcmp(c->servers[i].name, name))
            return i;
    return -1;
}

/* The slot of a removed server: name, host and port kept for logs and the admin port. */
static void make_placeholder(rwp_server_cfg *out, const rwp_server_cfg *was)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", was->name);
    snprintf(out->host, sizeof out->host, "%s", was->host);
    out->port = was->port;
    out->removed = 1;
}

/* Fill slots[] from old's slots; placed[j] = 1 for every neu server given its old slot. */
static int keep_old_slots(const rwp_config *old, const rwp_config *neu, rwp_server_cfg *slots,
                          char *placed, char *why, size_t cap)
{
    for (int i = 0; i < old->nservers; i++) {
        const rwp_server_cfg *o = &old->servers[i];
        int j = server_index(neu, o->name);
        if (j < 0) {
            make_placeholder(&slots[i], o);
            continue;
        }
        const rwp_server_cfg *n = &neu->servers[j];
        if (!o->removed && (strcmp(o->host, n->host) != 0 || o->port != n->port)) {
            snprintf(why, cap, "[server.%s] changed its host or port (%s:%d -> %s:%d): that needs a "
                     "restart (or remove it in one reload and add it under a new name)",
                     o->name, o->host, o->port, n->host, n->port);
            return -1;
        }
        slots[i] = *n;
        placed[j] = 1;
    }
    return 0;
}

int rwp_config_align_servers(const rwp_config *old, rwp_config *neu, char *why, size_t cap)
{
    rwp_server_cfg *slots = calloc(RWP_MAX_SERVERS, sizeof *slots);
    char placed[RWP_MAX_SERVERS] = {0};
    if (!slots) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    int used = old->nservers;
    int rc = keep_old_slots(old, neu, slots, placed, why, cap);
    for (int j = 0; rc == 0 && j < neu->nservers; j++) {
        if (placed[j])
            continue;
        if (used >= RWP_MAX_SERVERS) {
            snprintf(why, cap, "too many servers since start (%d slots, removed ones included; "
                     "max %d): restart to add [server.%s]", used + 1, RWP_MAX_SERVERS,
                     neu->servers[j].name);
            rc = -1;
            break;
        }
        slots[used++] = neu->servers[j];
    }
    int live = 0;
    for (int i = 0; rc == 0 && i < used; i++)
        live += !slots[i].removed;
    if (rc == 0 && live == 0) {
        snprintf(why, cap, "no server would be left");
        rc = -1;
    }
    if (rc != 0) {
        free(slots); /* the TLS contexts still belong to neu->servers */
        return -1;
    }
    free(neu->servers); /* every entry moved into slots (TLS contexts with them) */
    neu->servers = slots;
    neu->nservers = used;
    neu->nremoved = used - live;
    return 0;
}

/* ------------------------------------------------------------ dump / reload ---- */

static void dump_section(const char *tsection, const char *section, const void *obj,
                         void (*emit)(void *, const char *, const char *, const char *), void *ctx)
{
    char value[1100];
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(key_table[i].section, tsection))
            continue;
        rwp_config_format_value(&key_table[i], obj, value, sizeof value);
        emit(ctx, section, key_table[i].key, value);
    }
}

void rwp_config_dump(const rwp_config *c,
                     void (*emit)(void *ctx, const char *section, const char *key, const char *value),
                     void *ctx)
{
    if (!c || !emit)
        return;
    for (size_t i = 0; i < NKEYS; i++)
        if (is_fixed_section(key_table[i].section) &&
            (i == 0 || strcmp(key_table[i].section, key_table[i - 1].section)))
            dump_section(key_table[i].section, key_table[i].section, c, emit, ctx);
    char section[200];
    for (int i = 0; i < c->nservers; i++) {
        if (c->servers[i].removed)
            continue;
        snprintf(section, sizeof section, "server.%s", c->servers[i].name);
        dump_section(SERVER_SECTION, section, &c->servers[i], emit, ctx);
    }
    for (int i = 0; i < c->nusers; i++) {
        snprintf(section, sizeof section, "user.%s", c->users[i].name);
        dump_section(USER_SECTION, section, &c->users[i], emit, ctx);
    }
}

int rwp_config_restart_needed(const rwp_config *old, const rwp_config *neu, char *why, size_t whylen)
{
    char a[1100], b[1100];
    for (size_t i = 0; i < NKEYS; i++) {
        const rwp_config_key *k = &key_table[i];
        if (k->reloadable || !is_fixed_section(k->section))
            continue;
        rwp_config_format_value(k, old, a, sizeof a);
        rwp_config_format_value(k, neu, b, sizeof b);
        if (strcmp(a, b)) {
            if (why && whylen)
                snprintf(why, whylen, "%s.%s", k->section, k->key);
            return 1;
        }
    }
    if (why && whylen)
        why[0] = '\0';
    return 0;
}
