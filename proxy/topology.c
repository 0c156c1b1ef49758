/*
 * proxy/topology.c — reference-counted topology snapshots (see topology.h).
 */
#include "proxy/topology.h"

#include <stdlib.h>
#include <string.h>

rwp_topology *rwp_topology_new(int nservers)
{
    rwp_topology *t = calloc(1, sizeof *t + (size_t)nservers * sizeof(rwp_topo_server));
    if (!t)
        return NULL;
    atomic_init(&t->refs, 1);
    t->writer = -1;
    t->nservers = nservers;
    return t;
}

void rwp_topo_slot_init(rwp_topo_slot *s)
{
    pthread_mutex_init(&s->mu, NULL);
    s->cur = NULL;
}

void rwp_topo_slot_destroy(rwp_topo_slot *s)
{
    if (s->cur)
        rwp_topo_release(s->cur);
    s->cur = NULL;
    pthread_mutex_destroy(&s->mu);
}

void rwp_topo_publish(rwp_topo_slot *s, rwp_topology *t)
{
    pthread_mutex_lock(&s->mu);
    rwp_topology *old = s->cur;
    if (old)
        t->generation = old->generation + 1;
    s->cur = t;
    pthread_mutex_unlock(&s->mu);
    if (old)
        rwp_topo_release(old);
}

rwp_topology *rwp_topo_acquire(rwp_topo_slot *s)
{
    pthread_mutex_lock(&s->mu);
    rwp_topology *t = s->cur;
    if (t)
        atomic_fetch_add(&t->refs, 1);
    pthread_mutex_unlock(&s->mu);
    return t;
}

void rwp_topo_release(rwp_topology *t)
{
    if (t && atomic_fetch_sub(&t->refs, 1) == 1)
        free(t);
}
