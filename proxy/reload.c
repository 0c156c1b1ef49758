/*
 * proxy/reload.c — configuration reload (see reload.h). The new configuration is parsed and
 * validated whole by rwp_config_load; keys marked "restart" must not change; its servers are
 * aligned to the running slots (rwp_config_align_servers: servers may be added and removed,
 * not moved to another host or port; the current master cannot be removed); then every worker
 * adopts it on its own thread
 * (rwp_worker_call): new rule matcher, rule counters restarted, users, routing and limit
 * keys in force for the next statement; with users_from_backend the master's accounts are
 * loaded again (RELOAD waits for them); the monitor checks and acts with the new one from its
 * next round. The replaced configuration is kept until exit: nothing that still points into
 * it may see it freed.
 */
#include "proxy/reload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/log.h"
#include "proxy/monitor.h"
#include "proxy/pool.h"
#include "proxy/users.h"
#include "proxy/worker.h"
#include "router/rules.h"

#define ADOPT_TIMEOUT_MS 5000 /* how long one worker may take to adopt the new configuration */
#define USERS_RELOAD_TIMEOUT_MS 10000 /* how long RELOAD waits for the backend accounts */

/* Refuse removing the server that takes the writes now (a switchover must move them first). */
static int keeps_writer(rwp_proxy *p, const rwp_config *neu, char *why, size_t cap)
{
    rwp_topology *t = rwp_topo_acquire(&p->topo);
    int w = t ? t->writer : -1;
    rwp_topo_release(t);
    if (w < 0 || w >= neu->nservers || !neu->servers[w].removed)
        return 1;
    snprintf(why, cap, "[server.%s] is the master: switch over first (SWITCHOVER), then remove it",
             neu->servers[w].name);
    return 0;
}

/* Log each server the reload adds or removes. */
static void log_server_changes(const rwp_config *old, const rwp_config *neu)
{
    for (int i = 0; i < neu->nservers; i++) {
        int was = i < old->nservers && !old->servers[i].removed;
        int is = !neu->servers[i].removed;
        if (was != is)
            log_info("reload: [server.%s] %s:%d %s", neu->servers[i].name, neu->servers[i].host,
                     neu->servers[i].port, is ? "added" : "removed");
    }
}

/* On the worker's own thread: route with cfg from the next statement on. */
static void adopt_config(rwp_worker *w, void *arg)
{
    const rwp_config *cfg = arg;
    rwr_rule_matcher *m = cfg->ruleset ? rwr_rule_matcher_new(cfg->ruleset) : NULL;
    uint64_t *hits = calloc((size_t)cfg->nrules + 1, sizeof *hits);
    if ((cfg->ruleset && !m) || !hits) {
        rwr_rule_matcher_free(m);
        free(hits);
        log_error("worker %d: out of memory adopting the reloaded configuration", w->index);
        return;
    }
    rwr_rule_matcher_free(w->matcher);
    free(w->rule_hits);
    w->matcher = m;
    w->rule_hits = hits;
    w->cfg = cfg;
    for (int i = 0; i < cfg->nservers; i++)
        if (cfg->servers[i].removed)
            rwp_pool_flush_server(&w->pool, i); /* sessions drop theirs when idle (session.c) */
}

/* Keep old until exit. */
static int retire(rwp_proxy *p, const rwp_config *old)
{
    const rwp_config **r = realloc(p->retired, (size_t)(p->nretired + 1) * sizeof *r);
    if (!r)
        return -1;
    r[p->nretired++] = old;
    p->retired = r;
    return 0;
}

static int reload_locked(rwp_proxy *p, char *msg, size_t cap)
{
    char err[1024] = "", why[512] = "";
    const rwp_config *old = p->cfg;
    rwp_config *neu = rwp_config_load(old->path, err, sizeof err);
    if (!neu) {
        snprintf(msg, cap, "configuration not reloaded: %s", err);
        return -1;
    }
    if (rwp_config_restart_needed(old, neu, why, sizeof why)) {
        snprintf(msg, cap, "configuration not reloaded: %s needs a restart", why);
        rwp_config_free(neu);
        return -1;
    }
    if (rwp_config_align_servers(old, neu, why, sizeof why) != 0 || !keeps_writer(p, neu, why, sizeof why)) {
        snprintf(msg, cap, "configuration not reloaded: %s", why);
        rwp_config_free(neu);
        return -1;
    }
    if (retire(p, old) != 0) {
        snprintf(msg, cap, "configuration not reloaded: out of memory");
        rwp_config_free(neu);
        return -1;
    }
    int late = 0;
    for (int i = 0; i < p->nworkers; i++)
        if (rwp_worker_call(&p->workers[i], adopt_config, neu, ADOPT_TIMEOUT_MS) != 0)
            late++;
    p->cfg = neu;
    log_server_changes(old, neu);
    rwp_monitor_adopt_config(p->monitor, neu);
    rwp_log_set_level(neu->log_level);
    rwp_log_set_format(neu->log_format);
    snprintf(msg, cap, "configuration reloaded from %s (%d servers, %d users, %d rules)%s", neu->path,
             rwp_config_live_servers(neu), neu->nusers, neu->nrules,
             late ? "; some workers did not answer (shutting down?) and keep the previous one" : "");
    return 0;
}

/* With users_from_backend: load the master's accounts again and wait (bounded) for them, so
 * an account dropped before RELOAD no longer logs in once RELOAD has answered. */
static void reload_backend_users(rwp_proxy *p, char *msg, size_t cap)
{
    char umsg[300];
    if (!p->users)
        return;
    rwp_users_reload(p->users, USERS_RELOAD_TIMEOUT_MS, umsg, sizeof umsg);
    size_t used = strlen(msg);
    if (used < cap)
        snprintf(msg + used, cap - used, "; %s", umsg);
}

int rwp_proxy_reload(rwp_proxy *p, char *msg, size_t cap)
{
    pthread_mutex_lock(&p->reload_mu);
    int rc = reload_locked(p, msg, cap);
    int load_users = rc == 0 && p->cfg->users_from_backend;
    pthread_mutex_unlock(&p->reload_mu);
    if (load_users)
        reload_backend_users(p, msg, cap);
    if (rc == 0)
        log_info("%s", msg);
    else
        log_warn("%s", msg);
    return rc;
}

void rwp_proxy_free_retired(rwp_proxy *p)
{
    for (int i = 0; i < p->nretired; i++)
        rwp_config_free((rwp_config *)p->retired[i]);
    free(p->retired);
    p->retired = NULL;
    p->nretired = 0;
}
