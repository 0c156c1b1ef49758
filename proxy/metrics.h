/*
 * proxy/metrics.h — the Prometheus endpoint ([admin] metrics_listen): its own thread and
 * libuv loop, a minimal HTTP/1.0-1.1 responder. `GET /metrics` answers 200 with the text
 * exposition format (version 0.0.4), every metric named rwproxy_*; any other request gets
 * 404 (405 for other methods). One request per connection (Connection: close); requests
 * over 8 KiB or slower than 5 s are dropped. Values come from proxy/stats.c (which visits
 * the workers) and the topology snapshot.
 */
#ifndef RWP_METRICS_H
#define RWP_METRICS_H

#include <stddef.h>

typedef struct rwp_proxy rwp_proxy;
typedef struct rwp_metrics rwp_metrics;

/* Listen on host:port and serve from a new thread. Returns the handle, or NULL with err set
 * (bind failure, out of memory). */
rwp_metrics *rwp_metrics_start(rwp_proxy *p, const char *host, int port, char *err, size_t cap);
/* Stop serving, join the thread, free. NULL is ignored. */
void rwp_metrics_stop(rwp_metrics *m);

/* The exposition text (what GET /metrics answers), malloc'd; NULL on failure. Any
 * non-worker thread. */
char *rwp_metrics_render(rwp_proxy *p, size_t *len);

#endif
