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
    t->hold_ms = 5000;
    t->nservers = nservers;
    return t;
}

void rwp_topo_slot_init(rwp_topo_slot *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
}

int rwp_topo_listen(rwp_topo_slot *s, rwp_topo_listener_fn fn, void *arg)
{
    pthread_mutex_lock(&s->mu);
    int rc = -1;
    if (s->nlisteners < RWP_TOPO_MAX_LISTENERS) {
        s->listeners[s->nlisteners] = fn;
        s->listener_args[s->nlisteners] = arg;
        s->nlisteners++;
        rc = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void rwp_topo_unlisten(rwp_topo_slot *s, rwp_topo_listener_fn fn, void *arg)
{
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->nlisteners; i++) {
        if (s->listeners[i] == fn && s->listener_args[i] == arg) {
            s->nlisteners--;
            s->listeners[i] = s->listeners[s->nlisteners];
            s->listener_args[i] = s->listener_args[s->nlisteners];
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
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
    /* Poke under the lock so a listener cannot be removed (and its handle freed) mid-call;
     * the callbacks only uv_async_send, which never blocks. */
    for (int i = 0; i < s->nlisteners; i++)
        s->listeners[i](s->listener_args[i]);
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

const char *rwp_srv_health_name(rwp_srv_health h)
{
    switch (h) {
    case SRV_UP: return "up";
    case SRV_DOWN: return "down";
    case SRV_LAGGING: return "lagging";
    case SRV_MAINTENANCE: return "maintenance";
    case SRV_FENCED: return "fenced";
    default: return "unknown";
    }
}

const char *rwp_srv_role_name(rwp_srv_role r)
{
    switch (r) {
    case ROLE_MASTER: return "master";
    case ROLE_REPLICA: return "replica";
    case ROLE_STANDALONE: return "standalone";
    default: return "unknown";
    }
}
