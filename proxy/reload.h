/*
 * proxy/reload.h — RELOAD (admin port) and SIGHUP: read the configuration file again into a
 * new structure, validate it whole, refuse it with the reason if it is invalid or changes
 * something only a restart can, else hand it to every worker on its own loop.
 */
#ifndef RWP_RELOAD_H
#define RWP_RELOAD_H

#include <stddef.h>

typedef struct rwp_proxy rwp_proxy;

/* Reload p's configuration file. Returns 0 with a summary in msg, or -1 with the reason (the
 * configuration in force stays). Call from a non-worker thread (main or admin). */
int rwp_proxy_reload(rwp_proxy *p, char *msg, size_t cap);
/* Free the configurations reloads replaced (at exit, after every thread stopped). */
void rwp_proxy_free_retired(rwp_proxy *p);

#endif
