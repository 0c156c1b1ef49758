/*
 * proxy/monitor.h — the monitor thread. It checks every configured server with blocking
 * libmysqlclient calls (as the [monitor] user, with connect/read timeouts), never on a
 * worker loop, and publishes what it saw as an immutable topology snapshot. In this
 * version it finds the master (the one server with read_only = 0, keeping the current one
 * while it stays writable) and the version string clients are shown; health states,
 * failover and switchover build on it.
 */
#ifndef RWP_MONITOR_H
#define RWP_MONITOR_H

#include <pthread.h>
#include <stdatomic.h>

#include "proxy/config.h"
#include "proxy/topology.h"

typedef struct rwp_monitor rwp_monitor;

/* Start the monitor thread over cfg's servers, publishing into slot. cfg must outlive it.
 * Runs one full check before returning (so the first clients see a topology). */
rwp_monitor *rwp_monitor_start(const rwp_config *cfg, rwp_topo_slot *slot);
/* Stop the thread and free everything. */
void rwp_monitor_stop(rwp_monitor *m);

#endif
