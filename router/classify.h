/*
 * router/classify.h — the pure SQL statement classifier of rwproxy's router.
 * Owns: the tokenizer (comments of every kind, executable comments, strings, quoted
 * identifiers), routing hints in leading comments, and the decision "where does this
 * statement go and what does it do to the session" (rwr_decision). No I/O, no allocation,
 * no global mutable state: safe to call from any thread. Work is linear in the input.
 */
#ifndef RWR_CLASSIFY_H
#define RWR_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

/* Where a statement should go, before session/health considerations. */
typedef enum {
    RWR_MASTER = 0, /* the master */
    RWR_REPLICA,    /* any replica (within max_lag) */
    RWR_SERVER,     /* hint server=NAME: the named server (rwr_decision.server) */
    RWR_PREVIOUS    /* the server that ran the previous statement (FOUND_ROWS(), SHOW WARNINGS) */
} rwr_target;

/* flags: what the statement does to session/transaction state */
#define RWR_F_WRITE            (1u<<0)  /* modifies data/schema (DML, DDL, CALL, GRANT, FLUSH, ...) */
#define RWR_F_TRX_BEGIN        (1u<<1)  /* BEGIN / START TRANSACTION [READ WRITE] / BEGIN WORK / XA START */
#define RWR_F_TRX_BEGIN_RO     (1u<<2)  /* START TRANSACTION READ ONLY */
#define RWR_F_TRX_END          (1u<<3)  /* COMMIT / ROLLBACK (not ROLLBACK TO SAVEPOINT), XA COMMIT/ROLLBACK */
#define RWR_F_TRX_CHAIN        (1u<<4)  /* ... AND CHAIN */
#define RWR_F_AUTOCOMMIT_OFF   (1u<<5)  /* SET autocommit=0 / OFF (any session spelling, also in a multi-var SET) */
#define RWR_F_AUTOCOMMIT_ON    (1u<<6)  /* SET autocommit=1 / ON */
#define RWR_F_IMPLICIT_COMMIT  (1u<<7)  /* DDL and other statements that commit implicitly (also BEGIN) */
#define RWR_F_LOCK_TABLES      (1u<<8)  /* LOCK TABLES */
#define RWR_F_UNLOCK_TABLES    (1u<<9)  /* UNLOCK TABLES */
#define RWR_F_XA               (1u<<10) /* XA ... */
#define RWR_F_MULTI            (1u<<11) /* more than one statement in the text */
#define RWR_F_SESSION          (1u<<12) /* session state to replay on every backend: USE, SET NAMES/CHARACTER SET,
                                           SET [SESSION] var, SET @uservar, SET SESSION TRANSACTION, SET ROLE */
#define RWR_F_USER_VAR_WRITE   (1u<<13) /* assigns a user variable (SET @v=, SELECT @v:=, SELECT ... INTO @v) */
#define RWR_F_TEMP_CREATE      (1u<<14) /* CREATE TEMPORARY TABLE name -> temp_name */
#define RWR_F_TEMP_DROP        (1u<<15) /* DROP TEMPORARY TABLE name(s), or DROP TABLE of a name is_temp knows */
#define RWR_F_USE_DB           (1u<<16) /* USE db -> db */
#define RWR_F_CALC_FOUND_ROWS  (1u<<17) /* SELECT SQL_CALC_FOUND_ROWS */
#define RWR_F_PREPARE_SQL      (1u<<18) /* SQL-level PREPARE/EXECUTE/DEALLOCATE/EXECUTE IMMEDIATE */
#define RWR_F_PIN_MASTER       (1u<<19) /* keep the whole session on the master from now on */
#define RWR_F_SET_STATEMENT    (1u<<20) /* SET STATEMENT ... FOR <stmt>: classified as <stmt>; not session state */
#define RWR_F_READ             (1u<<21) /* read-only statement without side effects (target may still be master) */
#define RWR_F_KILL             (1u<<22) /* KILL [CONNECTION|QUERY] <id> -> kill_id, kill_query */
#define RWR_F_RELEASE          (1u<<23) /* COMMIT/ROLLBACK ... RELEASE: the server closes the connection */
#define RWR_F_USER_VAR_READ    (1u<<24) /* reads a user variable (@v) */

/* The classifier's answer for one COM_QUERY text. */
typedef struct {
    rwr_target target;        /* where it should go (before session/health considerations) */
    const char *reason;       /* static short text, e.g. "write", "select for update", "hint master" */
    unsigned flags;           /* RWR_F_* */
    char server[64];          /* RWR_SERVER: the hinted server name (NUL-terminated) */
    int hint;                 /* 0 none, 1 master, 2 replica, 3 server (recorded even if not applied) */
    char db[256];             /* RWR_F_USE_DB: the schema (unquoted) */
    char temp_name[256];      /* RWR_F_TEMP_CREATE/DROP: first table name (unquoted, without schema) */
    char keyword[32];         /* first keyword, uppercased (for counters/logs); "" when none */
    uint64_t kill_id;         /* RWR_F_KILL: the connection id named by KILL */
    int kill_query;           /* RWR_F_KILL: 1 for KILL QUERY (statement only), 0 for the connection */
} rwr_decision;

/* Callback: is `name` (len bytes, unquoted) a temporary table of this session? May be NULL. */
typedef int (*rwr_is_temp_fn)(void *ctx, const char *name, size_t len);

/* Classifies sql[0..len) (any bytes, NULs allowed; never read past len). Fills *out entirely. */
void rwr_classify(const char *sql, size_t len, rwr_is_temp_fn is_temp, void *ctx, rwr_decision *out);

/* Self-check for tests: 1 when the built-in function table is sorted and unique. */
int rwr_classify_table_ok(void);

#endif
