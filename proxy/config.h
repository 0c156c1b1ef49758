/*
 * proxy/config.h — rwproxy's configuration: the INI file parsed (with inih) into a new,
 * immutable rwp_config that is validated whole before anyone uses it. Owns the table of
 * every key (section, name, type, default, reloadable, doc) that drives the parser, the
 * validation, the dump behind SHOW CONFIG and docs/config.md; lookups of users and servers;
 * deciding whether a reload needs a restart.
 *
 * A configuration is never modified after it is returned: a reload parses a new one and the
 * caller swaps the pointer. Passwords are kept for logging into servers but never logged
 * and never dumped (rwp_config_dump shows "***").
 */
#ifndef RWP_CONFIG_H
#define RWP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct ssl_ctx_st; /* OpenSSL's SSL_CTX (proxy/tls.h builds them) */

#define RWP_MAX_SERVERS 64    /* most [server.NAME] sections a file may have */
_Static_assert(RWP_MAX_SERVERS <= 64, "per-command server sets are one uint64_t bit per server");
#define RWP_CONFIG_NAME_MAX 63 /* longest NAME in [server.NAME] / [user.NAME] */

/* One [server.NAME] section. */
typedef struct {
    char name[64];        /* NAME after "server." (1..63 of [A-Za-z0-9_-]) */
    char host[256];       /* host name or IP address (IPv6 without brackets) */
    int port;             /* TCP port (default 3306) */
    int weight;           /* share of reads with balance = weighted (0..1000, default 1) */
    int max_connections;  /* backend connections rwproxy may open to it (0 = unlimited) */
    int promotion_never;  /* 1 if promotion = never: failover never promotes this server */
    /* TLS to this server (proxy/tls.c) */
    int tls;              /* tls = on: rwproxy's connections to it use TLS */
    char tls_ca[1024];    /* tls_ca: CA file its certificate is checked against ("" = none) */
    int tls_verify;       /* tls_verify: check its certificate and host (default: on with tls_ca) */
    struct ssl_ctx_st *tls_ctx; /* built at validation when tls = on (owned), else NULL */
    int removed;          /* 1: a placeholder keeping the slot of a server a reload removed
                             (name, host, port only; never routed to, checked or listed) */
} rwp_server_cfg;

/* One [user.NAME] section: a client user rwproxy authenticates itself. */
typedef struct {
    char name[128];       /* NAME after "user." — the MySQL user name */
    int has_password;     /* 0 if the user has an empty password (h1/h2 all zero) */
    char password[256];   /* clear-text password from "password" ("" with password_hash) */
    uint8_t h2[20];       /* SHA1(SHA1(password)), what mysql.user stores as "*HEX" */
    int has_h1;           /* 1 if h1 is known (clear "password" given, even empty) */
    uint8_t h1[20];       /* SHA1(password) when has_h1 (zero if the password is empty) */
    uint8_t sha2[32];     /* SHA256(SHA256(password)) when has_h1: caching_sha2_password's fast path */
    int max_connections;  /* client connections allowed for this user (0 = unlimited) */
} rwp_user_cfg;

#define RWP_MAX_RULES 256     /* most [rule.NAME] sections a file may have */

/* One [rule.NAME] section: a query rule (PCRE2), compiled into rwp_config.ruleset. */
typedef struct {
    char name[64];        /* NAME after "rule." */
    int order;            /* evaluation order (lower first; ties in file order) */
    char match[192];      /* PCRE2 pattern, matched case-insensitively against the statement */
    char user[128];       /* only for this client user ("" = every user) */
    char route[80];       /* master | replica | server.NAME ("" when block is given) */
    char block[192];      /* refuse matching statements with ERR 1148 and this text */
    int line;             /* line of the section header (for messages) */
} rwp_rule_cfg;

struct rwr_ruleset;

/* The whole configuration. Strings are NUL-terminated; see docs/config.md for each key. */
typedef struct rwp_config {
    char *path;                     /* file it was read from (or the name given to parse_string) */
    char listen_host[256];          /* [proxy] listen: host clients connect to */
    int listen_port;                /* [proxy] listen: port */
    int threads;                    /* [proxy] threads: worker loops (1..256) */
    int log_level;                  /* [proxy] log_level: RWP_LOGL_* (0 error .. 3 debug) */
    int log_format;                 /* [proxy] log_format: RWP_LOG_TEXT or RWP_LOG_JSON */
    int shutdown_timeout_ms;        /* [proxy] shutdown_timeout_ms: drain time on SIGTERM */
    int backend_connect_timeout_ms; /* [proxy] backend_connect_timeout_ms: connect + login of a backend connection */
    int users_from_backend;         /* [proxy] users_from_backend: bool; accounts loaded from the master's mysql.global_priv */
    int users_refresh_interval_s;   /* [proxy] users_refresh_interval_s: least time between two refreshes caused by failed logins */
    char admin_host[256];           /* [admin] listen: host of the admin port */
    int admin_port;                 /* [admin] listen: port of the admin port */
    char admin_user[128];           /* [admin] user */
    char admin_password[256];       /* [admin] password ("" = none) */
    char metrics_host[256];         /* [admin] metrics_listen: host of /metrics ("" = off) */
    int metrics_port;               /* [admin] metrics_listen: port (0 = off) */
    char monitor_user[128];         /* [monitor] user (required) */
    char monitor_password[256];     /* [monitor] password */
    int monitor_interval_ms;        /* [monitor] interval_ms: time between checks */
    int monitor_connect_timeout_ms; /* [monitor] connect_timeout_ms */
    int monitor_failcount;          /* [monitor] failcount: failed checks before "down" */
    int auto_failover;              /* [monitor] auto_failover: bool */
    int auto_rejoin;                /* [monitor] auto_rejoin: bool */
    int enforce_read_only;          /* [monitor] enforce_read_only: bool */
    int failover_cooldown_s;        /* [monitor] failover_cooldown_s: anti-flapping */
    char repl_user[128];            /* [replication] user for CHANGE MASTER TO */
    char repl_password[256];        /* [replication] password */
    int hold_ms;                    /* [failover] hold_ms: writes held while no master */
    int switchover_hold_ms;         /* [failover] switchover_hold_ms */
    int majority_lock;              /* [failover] majority_lock: bool; off = the servers that answer suffice */
    int catchup_timeout_ms;         /* [failover] catchup_timeout_ms: MASTER_GTID_WAIT bound when promoting */
    char promotion_sql[1024];       /* [failover] promotion_sql: SQL file for promotions ("" = none) */
    int max_lag_s;                  /* [routing] max_lag_s: replicas further behind get no reads */
    int balance;                    /* [routing] balance: RWP_BALANCE_* */
    int consistency;                /* [routing] consistency: RWP_CONSISTENCY_* */
    int causal_timeout_ms;          /* [routing] causal_timeout_ms: MASTER_GTID_WAIT timeout */
    int max_client_connections;     /* [limits] max_client_connections (0 = unlimited) */
    int handshake_timeout_ms;       /* [limits] handshake_timeout_ms */
    int64_t max_packet_size;        /* [limits] max_packet_size in bytes */
    int client_idle_timeout_s;      /* [limits] client_idle_timeout_s (0 = never) */
    int64_t worker_buffer_limit;    /* [limits] worker_buffer_limit: client input buffers of one worker, bytes */
    int64_t writeq_high_water;      /* [limits] writeq_high_water: pause the other side above this queue, bytes */
    int64_t writeq_low_water;       /* [limits] writeq_low_water: resume it below this, bytes */
    int64_t client_sndbuf;          /* [limits] client_sndbuf: SO_SNDBUF of client sockets, bytes (0 = kernel's) */
    /* [tls]: TLS for clients (proxy/tls.c) */
    char tls_cert[1024];            /* [tls] cert: certificate chain file, PEM ("" = no TLS) */
    char tls_key[1024];             /* [tls] key: its private key, PEM */
    char tls_ca[1024];              /* [tls] ca: TLS clients must present a certificate signed by it ("" = none asked) */
    int tls_require;                /* [tls] require: bool; plain clients are refused (1045) */
    char tls_ciphers[512];          /* [tls] ciphers: TLS 1.2 cipher list ("" = OpenSSL's default) */
    int tls_min_version;            /* [tls] min_version: RWP_TLS_MIN_* */
    struct ssl_ctx_st *tls_ctx;     /* built from [tls] at validation when cert is set (owned), else NULL */
    int pool_multiplex;             /* [pool] multiplex: sessions hold backends only while they must */
    int pool_max_idle;              /* [pool] max_idle: idle pooled connections kept per server */
    int pool_idle_timeout_s;        /* [pool] idle_timeout_s: pooled connections idle longer are closed */
    int pool_wait_timeout_ms;       /* [pool] wait_timeout_ms: longest wait for a connection at a server's max_connections */
    char drill_user[128];           /* [drill] user: application user of rwproxyctl drills ("" = first [user.NAME] with a clear password) */
    char drill_password[256];       /* [drill] password of that user */
    char drill_schema[65];          /* [drill] schema of the marker table (default rwproxy_drill) */
    char drill_table[65];           /* [drill] table the drill writes markers into (default markers) */
    int drill_interval_ms;          /* [drill] interval_ms: time between two marker writes */
    char drill_stop_command[1024];  /* [drill] stop_command: shell command stopping the master ("" = SQL SHUTDOWN) */
    rwp_server_cfg *servers;        /* [server.NAME] sections in file order; after a reload in slot
                                       order (rwp_config_align_servers), room for RWP_MAX_SERVERS */
    int nservers;                   /* number of servers (1..RWP_MAX_SERVERS), removed placeholders included */
    int nremoved;                   /* of those, removed placeholders (0 unless a reload removed some) */
    rwp_user_cfg *users;            /* [user.NAME] sections, sorted by name */
    int nusers;                     /* number of users */
    rwp_rule_cfg *rules;            /* [rule.NAME] sections in file order */
    int nrules;                     /* number of rules */
    struct rwr_ruleset *ruleset;    /* the rules compiled (NULL when there are none) */
} rwp_config;

enum { RWP_BALANCE_LEAST_CONN, RWP_BALANCE_ROUND_ROBIN, RWP_BALANCE_WEIGHTED };
enum { RWP_CONSISTENCY_EVENTUAL, RWP_CONSISTENCY_SESSION, RWP_CONSISTENCY_GLOBAL };

/* Read and validate a file. Returns NULL and writes "FILE:LINE: [section] key: message"
 * into err on failure (the first error, with a count of the others). */
rwp_config *rwp_config_load(const char *path, char *err, size_t errlen);
/* The same from text in memory; name stands for the file name in messages and in ->path. */
rwp_config *rwp_config_parse_string(const char *text, const char *name, char *err, size_t errlen);
/* Free a configuration (passwords are wiped first). NULL is fine. */
void rwp_config_free(rwp_config *c);

/* The user named by name[0..len) (not NUL-terminated), or NULL. Binary search. */
const rwp_user_cfg *rwp_config_find_user(const rwp_config *c, const char *name, size_t len);
/* The server named name, or NULL (removed placeholders are not found). */
const rwp_server_cfg *rwp_config_find_server(const rwp_config *c, const char *name);

/* How a key's value is parsed and where it is stored (rwp_config_key.kind). */
enum {
    RWP_CK_LISTEN,        /* "host:port" or "[v6]:port" -> char[off] host, int port at off2 */
    RWP_CK_INT,           /* decimal integer in min..max -> int */
    RWP_CK_SIZE,          /* bytes with optional K/M/G suffix in min..max -> int64_t */
    RWP_CK_BOOL,          /* on/off/yes/no/true/false/1/0 -> int 0/1 */
    RWP_CK_ENUM,          /* one of the '|'-separated words in type -> int (its index) */
    RWP_CK_STRING,        /* text, shorter than size -> char[size] */
    RWP_CK_PASSWORD,      /* like STRING but never echoed or dumped */
    RWP_CK_HOST,          /* host name or address, brackets stripped -> char[size] */
    RWP_CK_PATH,          /* readable file, relative to the config file's folder -> char[size] */
    RWP_CK_USER_PASSWORD, /* [user.NAME] password: fills password, h1, h2, has_* */
    RWP_CK_USER_HASH      /* [user.NAME] password_hash: "*" + 40 hex -> h2 */
};

/* One row of the key table: section, key, type, default, reloadable, doc, and how to parse.
 * section is "proxy", "admin", ..., or "server.NAME" / "user.NAME" for the repeated ones. */
typedef struct {
    const char *section;  /* section name ("server.NAME" / "user.NAME" for repeated sections) */
    const char *key;      /* key name */
    const char *type;     /* "host:port", "integer", "size", "boolean", "string", "password",
                             "host", "path", "hash", or the choices "a|b|c" of an enum */
    const char *def;      /* default as it would be written in the file; NULL = none
                             (required, computed, or empty — the doc says which) */
    int reloadable;       /* 1 if a reload applies it, 0 if it needs a restart */
    const char *doc;      /* one-line description */
    int kind;             /* RWP_CK_*: parser and storage */
    size_t off;           /* offset of the field in rwp_config / rwp_server_cfg / rwp_user_cfg */
    size_t off2;          /* RWP_CK_LISTEN: offset of the port field */
    size_t size;          /* size of the char array field (strings) */
    int64_t min;          /* smallest accepted integer / size; strings: shortest length */
    int64_t max;          /* largest accepted integer / size */
    int required;         /* 1 if the section is invalid without this key */
} rwp_config_key;

/* The key table (n rows, in documentation order). */
const rwp_config_key *rwp_config_keys(size_t *n);

/* Print the effective configuration, one call per key ("server.db1", "host", "10.0.0.1");
 * passwords and password hashes are given as "***" ("" if empty). */
void rwp_config_dump(const rwp_config *c,
                     void (*emit)(void *ctx, const char *section, const char *key, const char *value),
                     void *ctx);

/* Format one key's effective value (as the dump shows it) into buf. obj is the rwp_config for
 * the fixed sections, the rwp_server_cfg / rwp_user_cfg for repeated ones. */
void rwp_config_format_value(const rwp_config_key *k, const void *obj, char *buf, size_t len);

/* A reload: rearrange neu's servers into the running configuration's slots, so that a server
 * index means the same server for the whole process lifetime. A name in both keeps its slot;
 * a name only in old keeps its slot as a placeholder (removed = 1, name/host/port copied); a
 * new name takes its old slot if it was removed earlier, else a new slot at the end. Returns
 * 0, or -1 with the reason in why (neu unchanged) if a kept server's host or port changed,
 * more than RWP_MAX_SERVERS slots would be needed, or no server would be left. */
int rwp_config_align_servers(const rwp_config *old, rwp_config *neu, char *why, size_t cap);
/* Servers of c that are not removed placeholders. */
int rwp_config_live_servers(const rwp_config *c);

/* 1 if going from old to neu needs a restart (a key with reloadable = 0 changed: [proxy]
 * listen, [proxy] threads, [admin] listen); writes the first such key ("proxy.listen") into
 * why. 0 if a reload can apply neu. */
int rwp_config_restart_needed(const rwp_config *old, const rwp_config *neu, char *why, size_t whylen);

#endif
