/*
 * proxy/topology.h — the immutable topology snapshot the monitor publishes and the
 * workers read: every configured server with its last observed state, role, replication
 * position and lag, whether it may serve reads, which one is the writer, whether writes
 * are being held (failover or switchover in progress), and the version string to show
 * clients. Workers take a reference (a short mutex-protected pointer copy, never held
 * across I/O) and drop it when done; the monitor swaps in a new snapshot when anything
 * changes and pokes every registered listener (the workers' async handles) so held
 * writes are released and sessions re-pointed at once, not at the next poll.
 */
#ifndef RWP_TOPOLOGY_H
#define RWP_TOPOLOGY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* State of one server as rwproxy sees it. */
typedef enum {
    SRV_UNKNOWN = 0,  /* never checked yet */
    SRV_UP,           /* answers checks; a healthy master or replica */
    SRV_DOWN,         /* failed `failcount` consecutive checks (or never answered) */
    SRV_LAGGING,      /* a replica over max_lag_s behind, or its SQL/IO thread stopped */
    SRV_MAINTENANCE,  /* set by an operator: no new traffic */
    SRV_FENCED        /* an old master kept out after a failover (diverged or not yet rejoined) */
} rwp_srv_health;

/* Role of one server in the replication topology. */
typedef enum {
    ROLE_UNKNOWN = 0, /* not known yet (never answered) */
    ROLE_MASTER,      /* the writer rwproxy chose */
    ROLE_REPLICA,     /* replicates (has a slave connection configured) */
    ROLE_STANDALONE   /* neither: no replication configured and not the writer */
} rwp_srv_role;

#define RWP_GTID_TEXT 512 /* room for a GTID position list as text */

/* One server in a snapshot. */
typedef struct {
    char name[64];        /* config name (after "server.") */
    char host[256];       /* address */
    int port;             /* TCP port */
    int weight;           /* balancing weight */
    rwp_srv_health health;/* state (see rwp_srv_health) */
    rwp_srv_role role;    /* role (see rwp_srv_role) */
    int readable;         /* 1: may serve replica reads now (up, replicating, SQL thread on, lag <= max_lag_s) */
    int read_only;        /* @@read_only (-1 unknown) */
    uint32_t server_id;   /* @@server_id (0 unknown) */
    int lag_s;            /* Seconds_Behind_Master of a replica, -1 unknown/not a replica */
    int io_running;       /* replica IO thread running (Slave_IO_Running = Yes) */
    int sql_running;      /* replica SQL thread running (Slave_SQL_Running = Yes) */
    char source[280];     /* replica's Master_Host:Master_Port, "" if none */
    char gtid_current_pos[RWP_GTID_TEXT]; /* @@gtid_current_pos */
    char gtid_binlog_pos[RWP_GTID_TEXT];  /* @@gtid_binlog_pos */
    char gtid_io_pos[RWP_GTID_TEXT];      /* Gtid_IO_Pos of its slave connection, "" if none */
    char detail[256];     /* last check error, fencing reason or extra GTIDs; "" if none */
    int64_t checked_ms;   /* wall-clock ms of the last check (0 never) */
    int check_ms;         /* how long the last check took, ms */
    int removed;          /* 1: a reload removed it (its slot stays; health MAINTENANCE, never routed
                             to, not listed by the admin port) */
} rwp_topo_server;

/* A snapshot (immutable once published). */
typedef struct rwp_topology {
    atomic_int refs;          /* holders: the publisher's slot plus each acquirer */
    uint64_t generation;      /* increases with every publish */
    int writer;               /* index of the master in servers[], -1 if none (writes are held) */
    int writes_held;          /* 1: a switchover/failover is running: hold new writes even if writer >= 0 */
    int hold_ms;              /* how long a worker holds a write before ERR 1290 (hold_ms or switchover_hold_ms) */
    uint64_t failovers;       /* failovers + switchovers completed by this process */
    char version[96];         /* server version string for client greetings */
    int nservers;             /* entries in servers[] */
    rwp_topo_server servers[];/* in config order */
} rwp_topology;

#define RWP_TOPO_MAX_LISTENERS 64 /* workers that can ask to be poked on publish */

/* Called (on the publishing thread) after each publish; must be thread-safe (uv_async_send). */
typedef void (*rwp_topo_listener_fn)(void *arg);

/* The slot holding the current snapshot. */
typedef struct {
    pthread_mutex_t mu;       /* guards cur and the listener table */
    rwp_topology *cur;        /* current snapshot (the slot holds one reference) */
    rwp_topo_listener_fn listeners[RWP_TOPO_MAX_LISTENERS]; /* poked after each publish */
    void *listener_args[RWP_TOPO_MAX_LISTENERS];            /* their arguments */
    int nlisteners;           /* entries used */
} rwp_topo_slot;

rwp_topology *rwp_topology_new(int nservers);
void rwp_topo_slot_init(rwp_topo_slot *s);
void rwp_topo_slot_destroy(rwp_topo_slot *s);
/* Register a listener poked after every publish. Returns 0, or -1 if the table is full. */
int rwp_topo_listen(rwp_topo_slot *s, rwp_topo_listener_fn fn, void *arg);
/* Remove a listener (by fn and arg). */
void rwp_topo_unlisten(rwp_topo_slot *s, rwp_topo_listener_fn fn, void *arg);
/* Publish t (the slot takes over the caller's reference), then poke the listeners. */
void rwp_topo_publish(rwp_topo_slot *s, rwp_topology *t);
/* Current snapshot with a reference taken, or NULL if none yet. */
rwp_topology *rwp_topo_acquire(rwp_topo_slot *s);
void rwp_topo_release(rwp_topology *t);
/* Names for logs and status. */
const char *rwp_srv_health_name(rwp_srv_health h);
const char *rwp_srv_role_name(rwp_srv_role r);

#endif
