/*
 * proxy/admin_cmd.h — the admin port's commands, apart from the network: parse the text of
 * one COM_QUERY and run it, producing a reply (a table, an OK with info text, or an error
 * with code and SQLSTATE) that proxy/admin.c encodes. Runs on the admin thread and may
 * block (SWITCHOVER, FAILOVER, RELOAD, collecting statistics from the workers).
 */
#ifndef RWP_ADMIN_CMD_H
#define RWP_ADMIN_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/monitor.h"
#include "proxy/table.h"

typedef struct rwp_proxy rwp_proxy;

/* Server version of the admin port: the greeting shows it with MariaDB's "5.5.5-" prefix,
 * SELECT @@version and VERSION() without. */
#define RWP_ADMIN_VERSION "10.11.0-rwproxy-admin"

/* What one command answers. */
typedef enum {
    ADM_REPLY_OK,    /* OK packet; msg is its info text ("" for none) */
    ADM_REPLY_ERR,   /* ERR packet with code, sqlstate and msg */
    ADM_REPLY_TABLE  /* text result set from table */
} rwp_adm_reply_kind;

/* The answer to one command. */
typedef struct {
    rwp_adm_reply_kind kind; /* which packet(s) to send */
    uint16_t code;           /* ERR: error code */
    char sqlstate[6];        /* ERR: 5 characters + NUL */
    char msg[1024];          /* OK: info text; ERR: message */
    rwp_table table;         /* TABLE: the result (owned; freed by rwp_adm_reply_free) */
} rwp_adm_reply;

/* What a command may act on. */
typedef struct {
    rwp_proxy *proxy;        /* workers, configuration, topology */
    rwp_monitor *monitor;    /* switchover, failover, maintenance, events */
    uint64_t conn_id;        /* the admin connection's id (CONNECTION_ID()) */
    const char *user;        /* the admin user logged in */
} rwp_adm_ctx;

/* Run the command text sql[0..len) (not NUL-terminated; at most a few MiB) into *out, which
 * must be released with rwp_adm_reply_free. Never fails to fill *out. */
void rwp_adm_execute(const rwp_adm_ctx *ctx, const char *sql, size_t len, rwp_adm_reply *out);
void rwp_adm_reply_free(rwp_adm_reply *r);

/* The configuration in force (read under the reload lock: a reload may swap it). */
const rwp_config *rwp_adm_config(rwp_proxy *p);

#endif
