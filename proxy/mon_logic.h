/*
 * proxy/mon_logic.h — the pure decisions of the monitor, kept free of sockets, threads and
 * libmysqlclient so unit tests can drive them: what one check of a server observed
 * (rwp_obs, including its slave connection as SHOW ALL SLAVES STATUS reports it, mapped by
 * column name), whether one server replicates from another, which replica a failover
 * promotes, whether a returning old master's GTID history is a prefix of the new master's
 * (the cheap precheck before MariaDB is asked), which writable server to follow, and
 * splitting a promotion_sql file into statements. Prefix rwp_ml_.
 */
#ifndef RWP_MON_LOGIC_H
#define RWP_MON_LOGIC_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/topology.h"

/* One slave connection as SHOW ALL SLAVES STATUS shows it (MySQL 8: SHOW REPLICA STATUS). */
typedef struct {
    char connection_name[64];     /* Connection_name ("" = the default connection; MySQL: Channel_Name) */
    char io_state[16];            /* Slave_IO_Running: "Yes", "No", "Connecting" (MySQL: Replica_IO_Running) */
    int io_running;               /* 1 if Slave_IO_Running = Yes */
    int sql_running;              /* 1 if Slave_SQL_Running = Yes (MySQL: Replica_SQL_Running) */
    int lag_s;                    /* Seconds_Behind_Master, -1 when NULL (MySQL: Seconds_Behind_Source) */
    char master_host[256];        /* Master_Host (MySQL: Source_Host) */
    int master_port;              /* Master_Port (MySQL: Source_Port), 0 unknown */
    uint32_t master_server_id;    /* Master_Server_Id of the last master it reached, 0 unknown */
    int using_gtid;               /* 1 if Using_Gtid is Slave_Pos/Current_Pos (MySQL: Auto_Position = 1) */
    char gtid_io_pos[RWP_GTID_TEXT]; /* Gtid_IO_Pos: received GTIDs (MySQL: Retrieved_Gtid_Set) */
    int last_io_errno;            /* Last_IO_Errno (1236: the master lacks the GTID asked for) */
    char last_io_error[256];      /* Last_IO_Error */
    int last_sql_errno;           /* Last_SQL_Errno */
    char last_sql_error[256];     /* Last_SQL_Error */
} rwp_slave_status;

/* What one check of one server saw. */
typedef struct {
    int ok;                       /* 1 if the server answered every query of the check */
    char error[256];              /* why not (connect or query error), "" when ok */
    uint32_t server_id;           /* @@server_id */
    int read_only;                /* @@read_only (0/1) */
    int log_bin;                  /* @@log_bin */
    int log_slave_updates;        /* @@log_slave_updates (MySQL: log_replica_updates) */
    int gtid_strict_mode;         /* @@gtid_strict_mode (MySQL: no equivalent; enforce_gtid_consistency) */
    char gtid_binlog_pos[RWP_GTID_TEXT];  /* @@gtid_binlog_pos (MySQL: @@gtid_executed) */
    char gtid_current_pos[RWP_GTID_TEXT]; /* @@gtid_current_pos (MySQL: @@gtid_executed) */
    char gtid_slave_pos[RWP_GTID_TEXT];   /* @@gtid_slave_pos (MySQL: no equivalent) */
    char version[96];             /* @@version */
    int nslaves;                  /* slave connections configured (rows of SHOW ALL SLAVES STATUS) */
    rwp_slave_status slave;       /* the default connection, else the first one (valid if nslaves) */
    int64_t checked_ms;           /* wall-clock ms when the check ended */
    int check_ms;                 /* how long the check took */
} rwp_obs;

/* Fill *out from one row of SHOW ALL SLAVES STATUS given as column names and values (a NULL
 * value is SQL NULL). Columns are found by name, case-insensitively; unknown ones are
 * ignored, missing ones leave their defaults (lag -1, everything else 0/""). */
void rwp_ml_slave_from_row(rwp_slave_status *out, const char *const *names,
                           const char *const *values, int ncols);

/* Does a server whose slave connection is r replicate from the server at host:port whose
 * @@server_id is server_id (0 = unknown)? Matches Master_Server_Id when both are known,
 * else Master_Host/Master_Port (hosts compared case-insensitively). */
int rwp_ml_is_source(const rwp_slave_status *r, const char *host, int port, uint32_t server_id);

/* One server as candidate choice and writer choice see it. */
typedef struct {
    const char *name;             /* config name (for messages) */
    const rwp_obs *obs;           /* its last successful observation, or NULL if it never answered */
    int answering;                /* 1 if its latest check succeeded (obs is current) */
    const char *host;             /* configured host (what CHANGE MASTER would use) */
    int port;                     /* configured port */
    int usable;                   /* 1 if it may take part: answering, not maintenance, not fenced */
    int promotion_never;          /* 1 if the config forbids promoting it */
} rwp_ml_server;

/* Compare two positions in the given domains (all domains of a and b when domains is NULL
 * or empty): 1 if a is ahead, -1 if b is, 0 if equal. A position that has reached the other
 * in every domain wins; otherwise the larger sum of sequence numbers. Unparsable text
 * counts as empty. */
int rwp_ml_gtid_compare(const char *a, const char *b, const char *domains);

/* The replica a failover (or switchover) should promote when `master` is gone: among the
 * usable replicas of master that may be promoted, have log_bin on, replicate with GTID and
 * have their SQL thread running — the highest Gtid_IO_Pos in the master's domains (the
 * domains of master_gtid, the master's last known gtid_binlog_pos), then the highest
 * gtid_current_pos, then the first in order. Returns its index or -1; why says what ruled
 * the others out (for the log). */
int rwp_ml_pick_candidate(const rwp_ml_server *s, int n, int master, const char *master_gtid,
                          char *why, size_t whycap);

/* Precheck of a returning old master: is its history (its gtid_binlog_pos, `old_pos`) not a
 * prefix of the new master's (its gtid_current_pos, `new_pos`)? Returns 1 and writes the
 * GTIDs the new master lacks ("0-1-105,1-1-7") into extra when some domain of old_pos has a
 * higher sequence number than new_pos has (or a domain new_pos lacks); 0 when the precheck
 * passes (MariaDB still decides the rest: same sequence number, other server id); -1 when
 * either text is unparsable. */
int rwp_ml_diverged(const char *old_pos, const char *new_pos, char *extra, size_t cap);

/* Exact-per-server precheck: is every GTID of old_pos (a gtid_binlog_pos: the last GTID per
 * domain) on the new master, judged by new_state (its @@gtid_binlog_state: the last GTID of
 * every domain-server pair it has binlogged)? A GTID d-s-n is covered when new_state has
 * d-s-m with m >= n (sequence numbers only grow within a domain). Returns 1 and the uncovered
 * GTIDs in extra, 0 when every one is covered, -1 when either text is unparsable. This
 * catches a diverged write with a sequence number the new master has also reached. */
int rwp_ml_missing_from_state(const char *old_pos, const char *new_state, char *extra, size_t cap);

/* The GTID named by a 1236 error text ("... start from GTID 0-1-105, which is not in the
 * master's binlog"), copied into out; 0 if found, -1 if the text names none. */
int rwp_ml_gtid_from_1236(const char *error, char *out, size_t cap);

/* Which server to follow as writer (index or -1). `current` is the writer followed so far
 * (-1 none). The current writer stays while it answers, is writable and is no replica.
 * Otherwise the usable writable non-replica that the most other servers replicate from,
 * ties to the first in order; when current >= 0 (a writer was known and is gone), one that
 * no server replicates from is not taken (it may be a stray writable server, not a
 * promotion), unless it was promoted from a replica of current (was_replica_of_current). */
int rwp_ml_choose_writer(const rwp_ml_server *s, int n, int current,
                         const int *was_replica_of_current);

/* Is a replica with slave connection st lagging (no reads until healthy)? Its SQL thread
 * stopped, lag over max_lag_s, or its IO thread stopped while its master answers. */
int rwp_ml_lagging(const rwp_slave_status *st, int master_answers, int max_lag_s);

/* May an up, answering replica of the current master with slave connection st serve reads?
 * SQL thread running and lag known and <= max_lag_s; while the master does not answer (its
 * replicas' lag is NULL then) a replica whose IO thread stopped keeps serving what it has. */
int rwp_ml_readable(const rwp_slave_status *st, int master_answers, int max_lag_s);

/* Split SQL text into statements at ';' outside quotes, backticks and comments; calls fn for
 * each non-blank statement (without the ';', trimmed). Stops and returns fn's value when it
 * is not 0; returns 0 after the last one. */
int rwp_ml_split_sql(const char *text, int (*fn)(void *arg, const char *stmt, size_t len),
                     void *arg);

#endif
