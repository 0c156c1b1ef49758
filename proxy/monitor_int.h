/*
 * proxy/monitor_int.h — the monitor's internals shared by its files: the rwp_monitor and
 * per-server structs, and the functions one file offers the others. monitor.c is the
 * coordinator (rounds, states, writer choice, publishing, requests), mon_check.c the
 * checker threads, mon_sql.c the blocking SQL helpers, failover.c failover, switchover,
 * rejoin and the majority lock. Not for use outside the monitor.
 *
 * Ownership: fields marked (mu) are shared and guarded by rwp_monitor.mu; (checker) belong
 * to that server's checker thread; everything else belongs to the coordinator (the monitor
 * thread, or the starting thread before the monitor thread exists).
 */
#ifndef RWP_MONITOR_INT_H
#define RWP_MONITOR_INT_H

#include <mysql.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "proxy/config.h"
#include "proxy/mon_events.h"
#include "proxy/mon_logic.h"
#include "proxy/monitor.h"
#include "proxy/topology.h"

/* What a queued request asks for. */
typedef enum {
    MON_REQ_SWITCHOVER, /* planned switchover (target or best) */
    MON_REQ_FAILOVER    /* manual failover of a dead master */
} mon_req_kind;

/* A request queued for the coordinator (a blocking caller's lives on its stack). */
typedef struct mon_request {
    struct mon_request *next; /* (mu) next in the queue */
    mon_req_kind kind;        /* what to do */
    char target[64];          /* switchover target name, "" = best candidate */
    int detached;             /* 1: nobody waits; the coordinator frees it when done */
    int done;                 /* (mu) 1 when finished (the caller may then read rc and err) */
    int rc;                   /* 0 done, -1 failed */
    char err[256];            /* why it failed */
} mon_request;

typedef struct rwp_monitor rwp_monitor;

/* One configured server as the monitor keeps it. */
typedef struct {
    const rwp_server_cfg *_Atomic cfg; /* its configuration (swapped by a reload) */
    int index;                    /* position in config order */
    rwp_monitor *m;               /* back pointer for the checker thread */
    /* --- checker thread --- */
    pthread_t thread;             /* the checker thread */
    int thread_started;           /* 1 if thread must be joined */
    MYSQL *check_conn;            /* (checker) the checker's connection, NULL when closed */
    uint64_t seen_round;          /* (mu) last round the checker started */
    uint64_t done_round;          /* (mu) round of the last completed check */
    int busy;                     /* (mu) 1 while a check runs */
    int64_t busy_since_ms;        /* (mu) monotonic ms when that check began */
    uint64_t result_seq;          /* (mu) completed checks */
    rwp_obs result;               /* (mu) the last completed check */
    unsigned long check_conn_id;  /* (mu) server thread id of check_conn (0 none): not killed */
    int maint_want;               /* (mu) maintenance as the operator last set it */
    int removed;                  /* a reload removed it: not checked, never acted on, published
                                     as removed */
    int no_checks;                /* (mu) 1: removed, the checker answers rounds without checking */
    /* --- coordinator --- */
    uint64_t acct_seq;            /* result_seq already counted */
    uint64_t overdue_round;       /* round whose overdue check was counted as a failure */
    rwp_obs good;                 /* last successful check (good.ok = 1), zeroed if never */
    int answering;                /* 1 if the latest check succeeded */
    int fails;                    /* consecutive failed checks */
    int ever_up;                  /* 1 once it answered */
    int maintenance;              /* operator maintenance in force */
    int fenced;                   /* 1: an old master kept out (never given traffic or writes) */
    char fence_why[256];          /* why it is fenced ("old master, failed over to db2", "diverged: ...") */
    char diverged_pos[RWP_GTID_TEXT]; /* its gtid_binlog_pos when found diverged; rejoin waits for a change */
    int64_t next_rejoin_ms;       /* monotonic ms before which no rejoin is tried */
    int was_replica_of_master;    /* seen replicating from the current master (adoption evidence) */
    int64_t healthy_since_ms;     /* fenced: monotonic ms since it replicates from the master, 0 not */
    rwp_srv_health health;        /* state as last published */
    rwp_srv_role role;            /* role as last published */
    int readable;                 /* readable as last published */
    char detail[256];             /* last check error ("" when it answers) */
    int64_t checked_ms;           /* wall-clock ms of the last check taken (0 never) */
    int check_ms;                 /* how long that check took */
    MYSQL *act;                   /* connection for actions (promote, repoint, read_only) */
    MYSQL *lockc;                 /* connection holding GET_LOCK('rwproxy_failover') */
    int lock_held;                /* 1 while lockc holds the lock */
} mon_server;

struct rwp_monitor {
    const rwp_config *_Atomic cfg; /* configuration in force (outlives the monitor; a reload
                                      swaps it, read atomically by every thread) */
    rwp_topo_slot *slot;          /* where snapshots go */
    mon_server *srv;              /* one per server slot, slot order (room for RWP_MAX_SERVERS) */
    _Atomic int n;                /* slots in use in srv (only the coordinator changes it: a reload
                                     adds slots; entries below n are initialised first) */
    const rwp_config *pending_cfg;/* (mu) a reloaded configuration the coordinator adopts at the
                                     start of its next round, NULL none */
    pthread_t thread;             /* the coordinator thread */
    int thread_started;           /* 1 if thread must be joined */
    pthread_mutex_t mu;           /* guards the (mu) fields */
    pthread_cond_t work_cv;       /* checkers wait here for a new round or stop */
    pthread_cond_t coord_cv;      /* the coordinator waits here for results, requests, stop */
    pthread_cond_t req_cv;        /* blocking callers wait here for their request */
    uint64_t round;               /* (mu) current round; a checker runs when round > seen_round */
    int stop;                     /* (mu) 1: every thread ends */
    int wake;                     /* (mu) 1: start a round now (request or maintenance change) */
    mon_request *reqs;            /* (mu) queued requests, oldest first */
    /* --- coordinator state --- */
    int master;                   /* server followed as master, -1 none */
    int dead;                     /* 1: the master is confirmed dead (replicas agree) */
    int writes_held;              /* published writes_held */
    int hold_ms;                  /* published hold_ms */
    uint64_t failovers;           /* failovers + switchovers completed */
    int64_t last_failover_ms;     /* monotonic ms of the last failover (0 none): cooldown */
    int64_t next_try_ms;          /* monotonic ms before which no failover is retried (backoff) */
    char said[512];               /* last "why not" line logged about the master (logged once) */
    unsigned rng;                 /* rand_r state for backoff jitter */
    rwp_topology *last_pub;       /* reference to the last published snapshot */
    int64_t last_pub_ms;          /* monotonic ms of that publish */
    char version[96];             /* greeting version last published */
    /* --- events --- */
    pthread_mutex_t ev_mu;        /* guards ring, cur, cur_active */
    rwp_ev_ring ring;             /* finished events */
    uint64_t done[3];            /* events that succeeded: failovers, switchovers, rejoins (guarded by ev_mu) */
    rwp_mon_event cur;            /* the event running now */
    int cur_active;               /* 1 while cur is running */
    uint64_t next_event_id;       /* id of the next event */
};

/* ---- clocks (monitor.c) ---- */
int64_t mon_mono_ms(void);
int64_t mon_wall_ms(void);
/* A monotonic-clock deadline (ms) as the timespec our condition variables wait for. */
void mon_deadline_ts(int64_t mono_ms, struct timespec *ts);

/* ---- mon_sql.c: blocking SQL on one connection ---- */
/* Connect to s as the monitor user; read/write timeout read_s seconds. NULL + err on failure. */
MYSQL *mon_sql_connect(const rwp_config *cfg, const rwp_server_cfg *s, unsigned read_s,
                       char *err, size_t errcap);
/* Run one statement and discard any result. 0 ok, -1 with "errno: text" in err. */
int mon_sql_exec(MYSQL *c, const char *sql, char *err, size_t errcap);
/* First column of the first row as text ("" and *is_null = 1 for NULL/no row). 0 ok, -1 error. */
int mon_sql_value(MYSQL *c, const char *sql, char *out, size_t cap, int *is_null, char *err,
                  size_t errcap);
/* The health check queries: fills o (not ok/error/timestamps). 0 ok, -1 with o->error set. */
int mon_sql_observe(MYSQL *c, rwp_obs *o);
/* Just SHOW ALL SLAVES STATUS into o->nslaves / o->slave. 0 ok, -1 error (err). */
int mon_sql_slave_status(MYSQL *c, rwp_obs *o, char *err, size_t errcap);
/* 'text' quoted and escaped for SQL into out. */
void mon_sql_quote(MYSQL *c, const char *text, char *out, size_t cap);
/* Read timeout (s) for check connections: connect_timeout_ms rounded up. */
unsigned mon_sql_timeout_s(const rwp_config *cfg);

/* ---- mon_check.c: checker threads ---- */
/* Start one checker thread per server. 0 ok, -1 (threads started so far keep running). */
int mon_chk_start(rwp_monitor *m);
/* Start the checker thread of slot i (a slot a reload added). 0 ok, -1 not started. */
int mon_chk_start_one(rwp_monitor *m, int i);
/* Join every checker thread (m->stop must be set and work_cv broadcast). */
void mon_chk_join(rwp_monitor *m);
/* Start a round of checks and wait until every server answered it, or deadline (monotonic ms),
 * or stop. Returns the round number. */
uint64_t mon_chk_round(rwp_monitor *m, int64_t deadline_ms);

/* ---- monitor.c: coordinator services the failover code uses ---- */
/* Take the checkers' new results into the coordinator state (failcounts, good, answering). */
void mon_take_results(rwp_monitor *m);
/* A fresh round now (bounded by connect_timeout_ms), results taken. */
void mon_fresh_round(rwp_monitor *m);
/* Recompute states and publish if anything routing-relevant changed (force: publish anyway). */
void mon_publish(rwp_monitor *m, int force);
/* The coordinator's action connection to server i (opened if needed), or NULL (err set). */
MYSQL *mon_act(rwp_monitor *m, int i, char *err, size_t errcap);
/* Close the action connection of server i (after an error). */
void mon_act_close(rwp_monitor *m, int i);
/* Fill views[] (n entries) for the mon_logic decisions from the coordinator state. */
void mon_views(rwp_monitor *m, rwp_ml_server *views);
/* 1 if every answering replica of server i has its IO thread stopped (replicas agree it is dead). */
int mon_replicas_agree_dead(rwp_monitor *m, int i, char *who, size_t whocap);
/* Fence server i with a reason (logged). */
void mon_fence(rwp_monitor *m, int i, const char *why);
/* Follow server i as the master from now on (logs "monitor: master is now"). */
void mon_set_master(rwp_monitor *m, int i, const char *how);

/* ---- failover.c ---- */
/* Failover of the dead master (manual: operator asked, cooldown ignored). 0 promoted (or
 * adopted another instance's promotion), -1 not done (err says why). */
int mon_fo_failover(rwp_monitor *m, int manual, char *err, size_t errcap);
/* Switchover to the server named target ("" = best). 0 done, -1 failed and undone (err). */
int mon_fo_switchover(rwp_monitor *m, const char *target, char *err, size_t errcap);
/* Rejoin server i as a replica of the master (demote: it was a master, MASTER_DEMOTE_TO_SLAVE).
 * 0 replicating, -1 not (diverged: stays fenced with the reason). */
int mon_fo_rejoin(rwp_monitor *m, int i, int demote);
/* Release every failover lock held (monitor stop). */
void mon_fo_unlock_all(rwp_monitor *m);

#endif
