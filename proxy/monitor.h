/*
 * proxy/monitor.h — the monitor: a coordinator thread plus one checker thread per server.
 * The checkers run the health check of their server in parallel with blocking
 * libmysqlclient calls (as the [monitor] user, with connect/read/write timeouts), so a
 * server that accepts TCP but never answers delays nobody else; the coordinator turns
 * their observations into states, roles and the writer, detects a dead master (only when
 * the replicas agree), runs failover, switchover and rejoin of a fenced old master, and
 * publishes what it decided as an immutable topology snapshot. Nothing here runs on a
 * worker loop.
 *
 * Threading contract: rwp_monitor_start/stop are called by the main thread (once each).
 * Every other function here is thread-safe and may be called from any thread except the
 * monitor's own threads; rwp_monitor_switchover and rwp_monitor_failover block until the
 * coordinator has finished the request (never call them from a worker loop).
 */
#ifndef RWP_MONITOR_H
#define RWP_MONITOR_H

#include <stddef.h>

#include "proxy/config.h"
#include "proxy/mon_events.h"
#include "proxy/topology.h"

typedef struct rwp_monitor rwp_monitor;

/* Start the monitor over cfg's servers, publishing into slot. cfg must outlive it.
 * Runs one full round of checks before returning (so the first clients see a topology). */
rwp_monitor *rwp_monitor_start(const rwp_config *cfg, rwp_topo_slot *slot);
/* Stop and join every thread, release the failover locks and free everything. NULL is fine. */
void rwp_monitor_stop(rwp_monitor *m);
/* A reload: check and act with cfg from the next round on (interval, failcount, timeouts,
 * failover keys, promotion of each server), which starts at once. cfg's servers are aligned
 * to the running slots (rwp_config_align_servers): the coordinator starts a checker thread
 * for each added slot and stops checking and acting on removed ones (published with
 * removed = 1, health maintenance). Only queues cfg under the mutex; cfg outlives the
 * monitor. NULL m is fine. */
void rwp_monitor_adopt_config(rwp_monitor *m, const rwp_config *cfg);

/* Put the server named name into maintenance (on = 1: no new traffic, never promoted or
 * repointed) or take it out (on = 0). Applied at the next round, which starts at once.
 * Returns 0, or -1 if no server has that name. */
int rwp_monitor_set_maintenance(rwp_monitor *m, const char *name, int on);

/* Planned switchover to target (a server name; NULL = the best candidate). Blocks until it
 * has finished: returns 0 when target is the new master, -1 with the reason in err (the old
 * master then keeps the writes). */
int rwp_monitor_switchover(rwp_monitor *m, const char *target, char *err, size_t errcap);
/* The same without waiting (e.g. from a SIGUSR2 handler on the main loop); the outcome is
 * logged and kept in the event history. */
void rwp_monitor_request_switchover(rwp_monitor *m, const char *target);

/* Manual failover: allowed only when the master is down and the replicas agree it is
 * dead; ignores auto_failover = off and failover_cooldown_s. Blocks like switchover. */
int rwp_monitor_failover(rwp_monitor *m, char *err, size_t errcap);
/* The same without waiting. */
void rwp_monitor_request_failover(rwp_monitor *m);

/* Copy the newest events (failovers, switchovers, rejoins; the one running, if any, last)
 * oldest first into out (at most cap); returns how many were copied. */
int rwp_monitor_events(rwp_monitor *m, rwp_mon_event *out, int cap);
/* Successful failovers, switchovers and rejoins since start (thread-safe). */
void rwp_monitor_counts(rwp_monitor *m, uint64_t *failovers, uint64_t *switchovers, uint64_t *rejoins);

#endif
