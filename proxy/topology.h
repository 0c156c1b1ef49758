/*
 * proxy/topology.h — the immutable topology snapshot the monitor publishes and the
 * workers read: every configured server with its last observed health and role, which
 * one is the writer, and the version string to show clients. Workers take a reference
 * (a short mutex-protected pointer copy, never held across I/O) and drop it when done;
 * the monitor swaps in a new snapshot when anything changes.
 */
#ifndef RWP_TOPOLOGY_H
#define RWP_TOPOLOGY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* Health of one server as last observed. */
typedef enum {
    SRV_UNKNOWN = 0, /* never checked yet */
    SRV_UP,          /* answered the last check */
    SRV_DOWN         /* failed the last check */
} rwp_srv_health;

/* One server in a snapshot. */
typedef struct {
    char name[64];       /* config name (after "server.") */
    char host[256];      /* address */
    int port;            /* TCP port */
    int weight;          /* balancing weight */
    rwp_srv_health health; /* last check result */
    int read_only;       /* @@read_only (-1 unknown) */
    uint32_t server_id;  /* @@server_id (0 unknown) */
} rwp_topo_server;

/* A snapshot (immutable once published). */
typedef struct rwp_topology {
    atomic_int refs;          /* holders: the publisher's slot plus each acquirer */
    uint64_t generation;      /* increases with every publish */
    int writer;               /* index of the master in servers[], -1 if none */
    char version[96];         /* server version string for client greetings */
    int nservers;             /* entries in servers[] */
    rwp_topo_server servers[]; /* in config order */
} rwp_topology;

/* The slot holding the current snapshot. */
typedef struct {
    pthread_mutex_t mu;       /* guards cur (held only to copy the pointer) */
    rwp_topology *cur;        /* current snapshot (the slot holds one reference) */
} rwp_topo_slot;

rwp_topology *rwp_topology_new(int nservers);
void rwp_topo_slot_init(rwp_topo_slot *s);
void rwp_topo_slot_destroy(rwp_topo_slot *s);
/* Publish t (the slot takes over the caller's reference). */
void rwp_topo_publish(rwp_topo_slot *s, rwp_topology *t);
/* Current snapshot with a reference taken, or NULL if none yet. */
rwp_topology *rwp_topo_acquire(rwp_topo_slot *s);
void rwp_topo_release(rwp_topology *t);

#endif
