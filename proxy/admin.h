/*
 * proxy/admin.h — the admin port ([admin] listen): a MySQL-protocol listener on its own
 * thread and libuv loop, for operators, rwproxyctl and monitoring scripts. It authenticates
 * [admin] user/password (mysql_native_password) and answers the commands of docs/admin.md
 * (SHOW SERVERS, SWITCHOVER, RELOAD, ...) with text result sets, OK or ERR.
 *
 * Threading: one admin thread runs every admin connection and executes one command at a
 * time, to completion, on that thread. Commands that block (SWITCHOVER, FAILOVER, RELOAD, the
 * SHOW commands that collect from the workers) therefore delay the other admin connections
 * (they queue in the kernel and are served afterwards) but never a worker: the admin thread
 * is not a worker and only reaches the workers and the monitor through their thread-safe
 * calls (proxy/stats.h, proxy/monitor.h, proxy/reload.h).
 */
#ifndef RWP_ADMIN_H
#define RWP_ADMIN_H

#include <stddef.h>

#include "proxy/monitor.h"

typedef struct rwp_proxy rwp_proxy;
typedef struct rwp_admin rwp_admin;

/* Bind [admin] listen of p's configuration and start the admin thread. Returns NULL with the
 * reason in err if the address cannot be bound or the thread cannot start. p and m must
 * outlive the admin port (stop it before stopping the monitor). */
rwp_admin *rwp_admin_start(rwp_proxy *p, rwp_monitor *m, char *err, size_t errcap);
/* Close the listener and every admin connection, join the thread and free everything.
 * Call once, from any thread but the admin thread; NULL is fine. A command running at that
 * moment finishes first. */
void rwp_admin_stop(rwp_admin *a);

#endif
