/*
 * proxy/monitor.c — the monitor thread (see monitor.h). Owns one libmysqlclient
 * connection per server, reopened when it fails.
 */
#include "proxy/monitor.h"

#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/log.h"

/* What the monitor keeps per server between checks. */
typedef struct {
    const rwp_server_cfg *cfg; /* the server's configuration */
    MYSQL *conn;               /* open connection, or NULL */
    rwp_srv_health health;     /* last result */
    int read_only;             /* last @@read_only, -1 unknown */
    unsigned server_id;        /* last @@server_id */
    char version[80];          /* last @@version */
} mon_server;

struct rwp_monitor {
    const rwp_config *cfg;     /* configuration in force */
    rwp_topo_slot *slot;       /* where snapshots go */
    mon_server *servers;       /* one per configured server */
    int nservers;              /* entries in servers */
    int writer;                /* index of the chosen master, -1 none */
    pthread_t thread;          /* the monitor thread */
    pthread_mutex_t mu;        /* guards stop + wakes the sleep */
    pthread_cond_t cv;         /* signalled to stop early */
    int stop;                  /* set to end the thread */
};

static void close_conn(mon_server *s)
{
    if (s->conn)
        mysql_close(s->conn);
    s->conn = NULL;
}

static MYSQL *open_conn(const rwp_monitor *m, const mon_server *s)
{
    MYSQL *c = mysql_init(NULL);
    if (!c)
        return NULL;
    unsigned timeout_s = (unsigned)((m->cfg->monitor_connect_timeout_ms + 999) / 1000);
    if (timeout_s == 0)
        timeout_s = 1;
    mysql_options(c, MYSQL_OPT_CONNECT_TIMEOUT, &timeout_s);
    mysql_options(c, MYSQL_OPT_READ_TIMEOUT, &timeout_s);
    mysql_options(c, MYSQL_OPT_WRITE_TIMEOUT, &timeout_s);
    if (!mysql_real_connect(c, s->cfg->host, m->cfg->monitor_user, m->cfg->monitor_password, NULL,
                            (unsigned)s->cfg->port, NULL, 0)) {
        log_debug("monitor: %s (%s:%d): connect failed: %s", s->cfg->name, s->cfg->host,
                  s->cfg->port, mysql_error(c));
        mysql_close(c);
        return NULL;
    }
    return c;
}

/* One check of one server: returns 0 if it answered. */
static int check_server(rwp_monitor *m, mon_server *s)
{
    if (!s->conn)
        s->conn = open_conn(m, s);
    if (!s->conn)
        return -1;
    if (mysql_query(s->conn, "SELECT @@read_only, @@server_id, @@version") != 0) {
        log_debug("monitor: %s: check failed: %s", s->cfg->name, mysql_error(s->conn));
        close_conn(s);
        return -1;
    }
    MYSQL_RES *res = mysql_store_result(s->conn);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    if (!row || !row[0] || !row[1] || !row[2]) {
        if (res)
            mysql_free_result(res);
        close_conn(s);
        return -1;
    }
    s->read_only = atoi(row[0]);
    s->server_id = (unsigned)strtoul(row[1], NULL, 10);
    snprintf(s->version, sizeof s->version, "%s", row[2]);
    mysql_free_result(res);
    return 0;
}

/* Keep the current writer while it is up and writable; else the first writable server. */
static int choose_writer(const rwp_monitor *m)
{
    if (m->writer >= 0 && m->servers[m->writer].health == SRV_UP &&
        m->servers[m->writer].read_only == 0)
        return m->writer;
    for (int i = 0; i < m->nservers; i++)
        if (m->servers[i].health == SRV_UP && m->servers[i].read_only == 0)
            return i;
    return -1;
}

/* The greeting version: MariaDB 10+ is announced with the "5.5.5-" prefix its own servers use. */
static void greeting_version(const char *v, char *out, size_t cap)
{
    if (strstr(v, "MariaDB") && strncmp(v, "5.5.5-", 6) != 0)
        snprintf(out, cap, "5.5.5-%s", v);
    else
        snprintf(out, cap, "%s", v);
}

static int snapshot_differs(const rwp_topology *old, const rwp_monitor *m, int writer)
{
    if (!old || old->writer != writer)
        return 1;
    for (int i = 0; i < m->nservers; i++) {
        const mon_server *s = &m->servers[i];
        if (old->servers[i].health != s->health || old->servers[i].read_only != s->read_only ||
            old->servers[i].server_id != s->server_id)
            return 1;
    }
    return 0;
}

static void publish(rwp_monitor *m, int writer)
{
    rwp_topology *old = rwp_topo_acquire(m->slot);
    int changed = snapshot_differs(old, m, writer);
    char prev_version[96] = "";
    if (old)
        snprintf(prev_version, sizeof prev_version, "%s", old->version);
    rwp_topo_release(old);
    if (!changed)
        return;
    rwp_topology *t = rwp_topology_new(m->nservers);
    if (!t)
        return;
    t->writer = writer;
    for (int i = 0; i < m->nservers; i++) {
        const mon_server *s = &m->servers[i];
        rwp_topo_server *ts = &t->servers[i];
        snprintf(ts->name, sizeof ts->name, "%s", s->cfg->name);
        snprintf(ts->host, sizeof ts->host, "%s", s->cfg->host);
        ts->port = s->cfg->port;
        ts->weight = s->cfg->weight;
        ts->health = s->health;
        ts->read_only = s->read_only;
        ts->server_id = s->server_id;
    }
    if (writer >= 0)
        greeting_version(m->servers[writer].version, t->version, sizeof t->version);
    else if (prev_version[0])
        snprintf(t->version, sizeof t->version, "%s", prev_version);
    else
        snprintf(t->version, sizeof t->version, "5.5.5-10.11.0-MariaDB-rwproxy");
    if (writer != m->writer)
        log_info("monitor: master is now %s", writer >= 0 ? m->servers[writer].cfg->name : "(none)");
    m->writer = writer;
    rwp_topo_publish(m->slot, t);
}

static void check_all(rwp_monitor *m)
{
    for (int i = 0; i < m->nservers; i++) {
        mon_server *s = &m->servers[i];
        rwp_srv_health before = s->health;
        s->health = check_server(m, s) == 0 ? SRV_UP : SRV_DOWN;
        if (s->health != before)
            log_info("monitor: %s (%s:%d) is %s", s->cfg->name, s->cfg->host, s->cfg->port,
                     s->health == SRV_UP ? "up" : "down");
    }
    publish(m, choose_writer(m));
}

/* Sleep for the check interval, waking early on stop. Returns 1 if asked to stop. */
static int wait_interval(rwp_monitor *m)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long ms = m->cfg->monitor_interval_ms > 0 ? m->cfg->monitor_interval_ms : 500;
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->mu);
    while (!m->stop && pthread_cond_timedwait(&m->cv, &m->mu, &until) == 0) {
    }
    int stop = m->stop;
    pthread_mutex_unlock(&m->mu);
    return stop;
}

static void *monitor_main(void *arg)
{
    rwp_monitor *m = arg;
    mysql_thread_init();
    while (!wait_interval(m))
        check_all(m);
    for (int i = 0; i < m->nservers; i++)
        close_conn(&m->servers[i]);
    mysql_thread_end();
    return NULL;
}

rwp_monitor *rwp_monitor_start(const rwp_config *cfg, rwp_topo_slot *slot)
{
    rwp_monitor *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cfg = cfg;
    m->slot = slot;
    m->nservers = cfg->nservers;
    m->writer = -1;
    m->servers = calloc((size_t)cfg->nservers, sizeof *m->servers);
    if (!m->servers) {
        free(m);
        return NULL;
    }
    for (int i = 0; i < cfg->nservers; i++) {
        m->servers[i].cfg = &cfg->servers[i];
        m->servers[i].read_only = -1;
    }
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    check_all(m);
    if (pthread_create(&m->thread, NULL, monitor_main, m) != 0) {
        for (int i = 0; i < m->nservers; i++)
            close_conn(&m->servers[i]);
        free(m->servers);
        free(m);
        return NULL;
    }
    return m;
}

void rwp_monitor_stop(rwp_monitor *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->stop = 1;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    free(m->servers);
    free(m);
}
