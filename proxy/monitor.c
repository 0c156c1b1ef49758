/*
 * proxy/monitor.c — the monitor's coordinator (see monitor.h): every interval_ms it starts
 * a round of parallel checks (mon_check.c), takes the results into per-server failcounts,
 * decides states, roles and which server is the master (keeping the current one, adopting
 * a promotion made elsewhere, or declaring the master dead only when its replicas agree),
 * sets stray writable servers read-only, starts failover and rejoin (failover.c), serves
 * queued switchover/failover requests, and publishes a topology snapshot when anything
 * routing-relevant changed (and at least every 2 s); adopts a reloaded configuration at the
 * start of a round (servers added: checker threads started; removed: left alone). All of it
 * runs on the monitor thread; the public functions only queue work or flip flags under the
 * mutex.
 */
#include "proxy/monitor_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy/log.h"

#define REPUBLISH_MS 2000 /* publish at least this often so positions and lag stay fresh */
#define DEFAULT_VERSION "5.5.5-10.11.0-MariaDB-rwproxy"
#define UNFENCE_AFTER_MS 500 /* a fenced server replicating this long from the master is let in */

/* ---- clocks ---- */

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mon_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

int64_t mon_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

void mon_deadline_ts(int64_t mono_ms, struct timespec *ts)
{
    ts->tv_sec = (time_t)(mono_ms / 1000);
    ts->tv_nsec = (long)(mono_ms % 1000) * 1000000L;
}

/* ---- small helpers ---- */

static const char *srv_name(const rwp_monitor *m, int i)
{
    return i >= 0 && i < m->n ? m->srv[i].cfg->name : "(none)";
}

/* Log a warning about the master's situation once (until the situation text changes). */
static void say_once(rwp_monitor *m, const char *text)
{
    if (strcmp(m->said, text) == 0)
        return;
    snprintf(m->said, sizeof m->said, "%s", text);
    log_warn("%s", text);
}

/* The index of our server that s's slave connection replicates from, or -1. */
static int source_index(const rwp_monitor *m, const rwp_slave_status *st)
{
    for (int j = 0; j < m->n; j++)
        if (rwp_ml_is_source(st, m->srv[j].cfg->host, m->srv[j].cfg->port,
                             m->srv[j].good.server_id))
            return j;
    return -1;
}

/* Does answering server i replicate from server j (configured; threads not checked)? */
static int replicates_from(const rwp_monitor *m, int i, int j)
{
    const mon_server *s = &m->srv[i];
    return s->answering && s->good.nslaves &&
           rwp_ml_is_source(&s->good.slave, m->srv[j].cfg->host, m->srv[j].cfg->port,
                            m->srv[j].good.server_id);
}

/* ---- results ---- */

static void apply_result(mon_server *s, const rwp_obs *o)
{
    s->checked_ms = o->checked_ms;
    s->check_ms = o->check_ms;
    if (o->ok) {
        s->good = *o;
        s->answering = 1;
        s->fails = 0;
        s->ever_up = 1;
        s->detail[0] = '\0';
        return;
    }
    s->answering = 0;
    s->fails++;
    snprintf(s->detail, sizeof s->detail, "%s", o->error);
}

/* A check running longer than connect_timeout_ms counts as failed, once per round; once a
 * server has failed, a check still unanswered after one interval does too (a hung server,
 * e.g. SIGSTOPped, then reaches failcount in about connect_timeout_ms + failcount intervals,
 * not failcount connect timeouts). */
static void count_overdue(rwp_monitor *m, mon_server *s, int64_t now, uint64_t round)
{
    int limit = s->fails > 0 ? m->cfg->monitor_interval_ms : m->cfg->monitor_connect_timeout_ms;
    if (!s->busy || now - s->busy_since_ms <= limit || s->overdue_round == round)
        return;
    s->overdue_round = round;
    s->answering = 0;
    s->fails++;
    snprintf(s->detail, sizeof s->detail, "check timed out (no answer for %lld ms)",
             (long long)(now - s->busy_since_ms));
}

void mon_take_results(rwp_monitor *m)
{
    int64_t now = mon_mono_ms();
    rwp_obs *fresh = malloc(sizeof *fresh);
    if (!fresh)
        return;
    for (int i = 0; i < m->n; i++) {
        mon_server *s = &m->srv[i];
        int have = 0;
        pthread_mutex_lock(&m->mu);
        s->maintenance = s->maint_want || s->removed;
        if (s->removed) {
            s->acct_seq = s->result_seq;
            s->answering = 0;
        } else if (s->result_seq > s->acct_seq) {
            *fresh = s->result;
            s->acct_seq = s->result_seq;
            have = 1;
        } else {
            count_overdue(m, s, now, m->round);
        }
        pthread_mutex_unlock(&m->mu);
        if (have)
            apply_result(s, fresh);
    }
    free(fresh);
}

void mon_fresh_round(rwp_monitor *m)
{
    mon_chk_round(m, mon_mono_ms() + m->cfg->monitor_connect_timeout_ms);
    mon_take_results(m);
}

/* ---- states ---- */

static int replica_lagging(const rwp_monitor *m, const mon_server *s)
{
    const rwp_slave_status *st = &s->good.slave;
    if (!s->good.nslaves)
        return 0;
    int src = source_index(m, st);
    return rwp_ml_lagging(st, src < 0 || m->srv[src].answering, m->cfg->max_lag_s);
}

static rwp_srv_health health_of(const rwp_monitor *m, const mon_server *s)
{
    if (s->maintenance)
        return SRV_MAINTENANCE;
    if (s->fenced)
        return SRV_FENCED;
    if (!s->ever_up)
        return s->fails > 0 ? SRV_DOWN : SRV_UNKNOWN;
    if (s->fails >= m->cfg->monitor_failcount)
        return SRV_DOWN;
    return replica_lagging(m, s) ? SRV_LAGGING : SRV_UP;
}

static rwp_srv_role role_of(const rwp_monitor *m, const mon_server *s)
{
    if (s->index == m->master)
        return ROLE_MASTER;
    if (!s->ever_up)
        return ROLE_UNKNOWN;
    return s->good.nslaves ? ROLE_REPLICA : ROLE_STANDALONE;
}

/* Up, answering, a replica of the master with its SQL thread on and lag known and small.
 * While the master does not answer, its replicas' IO threads stop and their lag becomes
 * unknown (NULL), yet they hold everything it sent: they stay readable then. */
static int readable_of(const rwp_monitor *m, const mon_server *s)
{
    const rwp_slave_status *st = &s->good.slave;
    if (s->health != SRV_UP || !s->answering || m->master < 0 || s->index == m->master ||
        !replicates_from(m, s->index, m->master))
        return 0;
    return rwp_ml_readable(st, m->srv[m->master].answering, m->cfg->max_lag_s);
}

static void update_states(rwp_monitor *m)
{
    for (int i = 0; i < m->n; i++) {
        mon_server *s = &m->srv[i];
        rwp_srv_health h = health_of(m, s);
        if (h != s->health && !s->removed) {
            const char *why = s->fenced ? s->fence_why : s->detail;
            log_info("monitor: %s (%s:%d) is %s%s%s", s->cfg->name, s->cfg->host, s->cfg->port,
                     rwp_srv_health_name(h), why[0] ? ": " : "", why);
        }
        s->health = h;
        s->role = role_of(m, s);
        s->readable = readable_of(m, s);
    }
}

/* The writer workers may send writes to now, or -1 (they hold them). */
static int published_writer(const rwp_monitor *m)
{
    if (m->master < 0 || m->dead)
        return -1;
    const mon_server *s = &m->srv[m->master];
    if (s->maintenance || s->fenced || !s->ever_up)
        return -1;
    if (s->answering && (s->good.read_only != 0 || s->good.nslaves))
        return -1; /* went read-only or became a replica and nobody took over */
    return m->master; /* also while suspect or while rwproxy is cut off from it */
}

/* ---- publishing ---- */

/* The greeting version: MariaDB 10+ is announced with the "5.5.5-" prefix its own servers use. */
static void greeting_version(const char *v, char *out, size_t cap)
{
    if (strstr(v, "MariaDB") && strncmp(v, "5.5.5-", 6) != 0)
        snprintf(out, cap, "5.5.5-%.80s", v);
    else
        snprintf(out, cap, "%s", v);
}

static void fill_server(const mon_server *s, rwp_topo_server *ts)
{
    const rwp_obs *g = &s->good;
    snprintf(ts->name, sizeof ts->name, "%s", s->cfg->name);
    snprintf(ts->host, sizeof ts->host, "%s", s->cfg->host);
    ts->port = s->cfg->port;
    ts->weight = s->cfg->weight;
    ts->health = s->health;
    ts->role = s->role;
    ts->readable = s->readable;
    ts->read_only = s->ever_up ? g->read_only : -1;
    ts->server_id = g->server_id;
    ts->lag_s = g->nslaves ? g->slave.lag_s : -1;
    ts->io_running = g->nslaves ? g->slave.io_running : 0;
    ts->sql_running = g->nslaves ? g->slave.sql_running : 0;
    if (g->nslaves)
        snprintf(ts->source, sizeof ts->source, "%s:%d", g->slave.master_host, g->slave.master_port);
    snprintf(ts->gtid_current_pos, sizeof ts->gtid_current_pos, "%s", g->gtid_current_pos);
    snprintf(ts->gtid_binlog_pos, sizeof ts->gtid_binlog_pos, "%s", g->gtid_binlog_pos);
    snprintf(ts->gtid_io_pos, sizeof ts->gtid_io_pos, "%s", g->nslaves ? g->slave.gtid_io_pos : "");
    snprintf(ts->detail, sizeof ts->detail, "%s", s->fenced ? s->fence_why : s->detail);
    ts->checked_ms = s->checked_ms;
    ts->check_ms = s->check_ms;
    ts->removed = s->removed;
}

static rwp_topology *build_snapshot(const rwp_monitor *m)
{
    rwp_topology *t = rwp_topology_new(m->n);
    if (!t)
        return NULL;
    t->writer = published_writer(m);
    t->writes_held = m->writes_held;
    t->hold_ms = m->hold_ms;
    t->failovers = m->failovers;
    if (t->writer >= 0 && m->srv[t->writer].good.version[0])
        greeting_version(m->srv[t->writer].good.version, t->version, sizeof t->version);
    else
        snprintf(t->version, sizeof t->version, "%s", m->version[0] ? m->version : DEFAULT_VERSION);
    for (int i = 0; i < m->n; i++)
        fill_server(&m->srv[i], &t->servers[i]);
    return t;
}

/* 1 if the snapshots differ in anything a worker routes by. */
static int routing_differs(const rwp_topology *a, const rwp_topology *b)
{
    if (a->nservers != b->nservers)
        return 1;
    if (a->writer != b->writer || a->writes_held != b->writes_held || a->hold_ms != b->hold_ms ||
        a->failovers != b->failovers || strcmp(a->version, b->version) != 0)
        return 1;
    for (int i = 0; i < a->nservers; i++) {
        const rwp_topo_server *x = &a->servers[i], *y = &b->servers[i];
        if (x->health != y->health || x->role != y->role || x->readable != y->readable ||
            x->read_only != y->read_only || x->server_id != y->server_id || x->removed != y->removed)
            return 1;
    }
    return 0;
}

static void log_writer_change(const rwp_monitor *m, const rwp_topology *old, const rwp_topology *t)
{
    if (old && old->writer == t->writer && (old->writes_held == t->writes_held || t->writer < 0))
        return;
    if (t->writer < 0)
        log_info("monitor: writer is now none: writes are held up to %d ms", t->hold_ms);
    else if (t->writes_held)
        log_info("monitor: writer is %s, new writes held up to %d ms", srv_name(m, t->writer),
                 t->hold_ms);
    else
        log_info("monitor: writer is now %s", srv_name(m, t->writer));
}

void mon_publish(rwp_monitor *m, int force)
{
    update_states(m);
    rwp_topology *t = build_snapshot(m);
    if (!t)
        return;
    int64_t now = mon_mono_ms();
    if (!force && m->last_pub && !routing_differs(m->last_pub, t) &&
        now - m->last_pub_ms < REPUBLISH_MS) {
        rwp_topo_release(t);
        return;
    }
    log_writer_change(m, m->last_pub, t);
    snprintf(m->version, sizeof m->version, "%s", t->version);
    atomic_fetch_add(&t->refs, 1); /* keep one reference as last_pub */
    rwp_topo_publish(m->slot, t);
    rwp_topo_release(m->last_pub);
    m->last_pub = t;
    m->last_pub_ms = now;
}

/* ---- connections for actions ---- */

MYSQL *mon_act(rwp_monitor *m, int i, char *err, size_t errcap)
{
    mon_server *s = &m->srv[i];
    if (s->act && mysql_ping(s->act) != 0) {
        /* the server restarted (or the connection idled out) since the last action */
        mysql_close(s->act);
        s->act = NULL;
    }
    if (!s->act)  /* +2 s: MASTER_GTID_WAIT runs in slices of at most 1 s */
        s->act = mon_sql_connect(m->cfg, s->cfg, mon_sql_timeout_s(m->cfg) + 2, err, errcap);
    return s->act;
}

void mon_act_close(rwp_monitor *m, int i)
{
    if (m->srv[i].act)
        mysql_close(m->srv[i].act);
    m->srv[i].act = NULL;
}

/* ---- master decisions ---- */

void mon_views(rwp_monitor *m, rwp_ml_server *views)
{
    for (int i = 0; i < m->n; i++) {
        mon_server *s = &m->srv[i];
        views[i].name = s->cfg->name;
        views[i].obs = s->ever_up ? &s->good : NULL;
        views[i].answering = s->answering;
        views[i].host = s->cfg->host;
        views[i].port = s->cfg->port;
        views[i].usable = s->answering && !s->maintenance && !s->fenced;
        views[i].promotion_never = s->cfg->promotion_never;
    }
}

int mon_replicas_agree_dead(rwp_monitor *m, int i, char *who, size_t whocap)
{
    int agree = 1;
    if (whocap)
        who[0] = '\0';
    for (int j = 0; j < m->n; j++) {
        if (j == i || !replicates_from(m, j, i) || !m->srv[j].good.slave.io_running)
            continue;
        agree = 0;
        size_t len = strlen(who);
        if (len < whocap)
            snprintf(who + len, whocap - len, "%s%s", len ? ", " : "", m->srv[j].cfg->name);
    }
    return agree;
}

void mon_fence(rwp_monitor *m, int i, const char *why)
{
    mon_server *s = &m->srv[i];
    s->fenced = 1;
    snprintf(s->fence_why, sizeof s->fence_why, "%s", why);
    log_warn("monitor: %s (%s:%d) is fenced: %s", s->cfg->name, s->cfg->host, s->cfg->port, why);
}

void mon_set_master(rwp_monitor *m, int i, const char *how)
{
    log_info("monitor: master is now %s (%s)", srv_name(m, i), how);
    m->master = i;
    m->dead = 0;
    m->said[0] = '\0';
    for (int j = 0; j < m->n; j++)
        m->srv[j].was_replica_of_master = 0;
}

/* Remember which servers replicate from the master (evidence for adopting a promotion). */
static void track_replicas_of_master(rwp_monitor *m)
{
    if (m->master < 0)
        return;
    for (int i = 0; i < m->n; i++)
        if (i != m->master && replicates_from(m, i, m->master))
            m->srv[i].was_replica_of_master = 1;
}

/* The master stopped answering: suspect, cut off, or dead (replicas agree). */
static void judge_silent_master(rwp_monitor *m)
{
    mon_server *s = &m->srv[m->master];
    char who[256], text[320];
    if (s->fails < m->cfg->monitor_failcount)
        return; /* suspect: keep it */
    if (!mon_replicas_agree_dead(m, m->master, who, sizeof who)) {
        snprintf(text, sizeof text, "monitor: master %s does not answer but %.120s still replicates "
                 "from it: rwproxy is cut off, not failing over", s->cfg->name, who);
        say_once(m, text);
        m->dead = 0;
        return;
    }
    if (!m->dead)
        log_warn("monitor: master %s is dead: down and no replica receives from it",
                 s->cfg->name);
    m->dead = 1;
}

static void decide_master(rwp_monitor *m)
{
    rwp_ml_server *v = calloc((size_t)m->n, sizeof *v);
    int *was = calloc((size_t)m->n, sizeof *was);
    if (!v || !was) {
        free(v);
        free(was);
        return;
    }
    mon_views(m, v);
    for (int i = 0; i < m->n; i++)
        was[i] = m->srv[i].was_replica_of_master;
    int cur = m->master;
    int w = rwp_ml_choose_writer(v, m->n, cur, cur >= 0 ? was : NULL);
    free(v);
    free(was);
    if (cur < 0) {
        if (w >= 0)
            mon_set_master(m, w, "writable and not a replica");
        return;
    }
    if (w == cur) {
        if (m->dead)
            log_info("monitor: master %s answers again", srv_name(m, cur));
        m->dead = 0;
        m->said[0] = '\0';
        return;
    }
    if (w >= 0) {
        if (!m->srv[cur].answering)
            mon_fence(m, cur, "old master; a new master was chosen elsewhere while it was down");
        mon_set_master(m, w, "chosen elsewhere (another rwproxy or an operator): following it");
        return;
    }
    if (m->srv[cur].answering) {
        char text[320];
        snprintf(text, sizeof text, "monitor: master %s is read-only or a replica and no other "
                 "server took over: writes are held", srv_name(m, cur));
        say_once(m, text);
        m->dead = 0;
        return;
    }
    judge_silent_master(m);
}

/* ---- read_only enforcement ---- */

static void set_read_only(rwp_monitor *m, int i)
{
    char err[256];
    MYSQL *c = mon_act(m, i, err, sizeof err);
    if (c && mon_sql_exec(c, "SET GLOBAL read_only = 1", err, sizeof err) == 0) {
        m->srv[i].good.read_only = 1;
        return;
    }
    log_warn("monitor: %s: SET GLOBAL read_only = 1 failed: %s", srv_name(m, i), err);
    mon_act_close(m, i);
}

static void enforce_read_only(rwp_monitor *m)
{
    if (!m->cfg->enforce_read_only)
        return;
    int healthy = m->master >= 0 && published_writer(m) == m->master &&
                  m->srv[m->master].answering;
    for (int i = 0; i < m->n; i++) {
        mon_server *s = &m->srv[i];
        if (i == m->master || !s->answering || s->maintenance || s->good.read_only != 0)
            continue;
        if (s->fenced)
            log_warn("monitor: %s (fenced) answers and is writable: setting read_only=1",
                     s->cfg->name);
        else if (healthy)
            log_warn("monitor: %s is writable but %s is the master: setting read_only=1",
                     s->cfg->name, srv_name(m, m->master));
        else
            continue; /* no healthy master: a promotion may be under way elsewhere */
        set_read_only(m, i);
    }
}

/* ---- failover and rejoin triggers ---- */

/* Is there a replica to promote (or a promotion made elsewhere to follow)? Says why not
 * once, so a failover that cannot happen is not started (and logged) every round. */
static int failover_possible(rwp_monitor *m)
{
    char why[512], text[sizeof m->said];
    rwp_ml_server *v = calloc((size_t)m->n, sizeof *v);
    if (!v)
        return 0;
    mon_views(m, v);
    int c = rwp_ml_pick_candidate(v, m->n, m->master, m->srv[m->master].good.gtid_binlog_pos,
                                  why, sizeof why);
    free(v);
    if (c >= 0)
        return 1;
    snprintf(text, sizeof text, "monitor: master %.64s is dead and there is no candidate: %.300s; "
             "writes are held", srv_name(m, m->master), why);
    say_once(m, text);
    return 0;
}

static void maybe_failover(rwp_monitor *m)
{
    if (!m->dead)
        return;
    char text[320], err[256];
    int64_t now = mon_mono_ms();
    int64_t cool_ms = (int64_t)m->cfg->failover_cooldown_s * 1000;
    if (!m->cfg->auto_failover) {
        snprintf(text, sizeof text, "monitor: master %s is dead; auto_failover is off: writes "
                 "are held until it returns or an operator fails over", srv_name(m, m->master));
        say_once(m, text);
        return;
    }
    if (m->last_failover_ms && cool_ms && now - m->last_failover_ms < cool_ms) {
        snprintf(text, sizeof text, "monitor: master %s is dead; no failover within "
                 "failover_cooldown_s of the last one (%lld s left): writes are held",
                 srv_name(m, m->master), (long long)((cool_ms - (now - m->last_failover_ms)) / 1000));
        say_once(m, text);
        return;
    }
    if (now < m->next_try_ms || !failover_possible(m))
        return;
    if (mon_fo_failover(m, 0, err, sizeof err) != 0) {
        snprintf(text, sizeof text, "monitor: master %s is dead; failover not done: %.200s",
                 srv_name(m, m->master), err);
        say_once(m, text);
    }
}

/* Does server i replicate from server w with both threads running? */
static int replicates_healthily(const rwp_monitor *m, int i, int w)
{
    const rwp_slave_status *st = &m->srv[i].good.slave;
    return replicates_from(m, i, w) && st->io_running && st->sql_running &&
           st->last_io_errno == 0;
}

/* A replica left pointing at a fenced or dead server (it was down during a failover). */
static int stray_replica(const rwp_monitor *m, int i)
{
    const mon_server *s = &m->srv[i];
    if (s->fenced || !s->good.nslaves)
        return 0;
    int src = source_index(m, &s->good.slave);
    return src >= 0 && src != m->master &&
           (m->srv[src].fenced || m->srv[src].fails >= m->cfg->monitor_failcount);
}

/* Should rejoin be tried on server i now? */
static int rejoin_wanted(const rwp_monitor *m, int i, int64_t now)
{
    const mon_server *s = &m->srv[i];
    if (!m->cfg->auto_rejoin || now < s->next_rejoin_ms || s->maintenance || !s->answering)
        return 0;
    if (s->diverged_pos[0] && strcmp(s->diverged_pos, s->good.gtid_binlog_pos) == 0)
        return 0; /* found diverged and unchanged since: an operator must act */
    if (s->fenced)
        return !replicates_from(m, i, m->master); /* already pointed at it: let it catch up */
    return stray_replica(m, i);
}

static void maybe_rejoin(rwp_monitor *m)
{
    int w = m->master;
    if (w < 0 || published_writer(m) != w || !m->srv[w].answering)
        return;
    int64_t now = mon_mono_ms();
    for (int i = 0; i < m->n; i++) {
        mon_server *s = &m->srv[i];
        if (i == w)
            continue;
        s->healthy_since_ms = s->fenced && !s->maintenance && replicates_healthily(m, i, w)
                              ? (s->healthy_since_ms ? s->healthy_since_ms : now) : 0;
        /* replicating for a while: a GTID error (1236) would have shown by then */
        if (s->healthy_since_ms && now - s->healthy_since_ms >= UNFENCE_AFTER_MS) {
            s->healthy_since_ms = 0;
            s->fenced = 0;
            s->fence_why[0] = '\0';
            s->diverged_pos[0] = '\0';
            log_info("monitor: %s replicates from %s: no longer fenced", s->cfg->name,
                     srv_name(m, w));
            continue;
        }
        if (!rejoin_wanted(m, i, now))
            continue;
        if (mon_fo_rejoin(m, i, s->fenced) != 0)
            s->next_rejoin_ms = mon_mono_ms() + 2000 + (int64_t)(rand_r(&m->rng) % 1000);
        return; /* one rejoin per round: it blocks */
    }
}

/* ---- requests ---- */

static int manual_failover(rwp_monitor *m, char *err, size_t errcap)
{
    char who[256];
    if (m->master < 0) {
        snprintf(err, errcap, "no master is known");
        return -1;
    }
    mon_server *s = &m->srv[m->master];
    if (s->answering || s->fails < m->cfg->monitor_failcount) {
        snprintf(err, errcap, "master %s is not down", s->cfg->name);
        return -1;
    }
    if (!mon_replicas_agree_dead(m, m->master, who, sizeof who)) {
        snprintf(err, errcap, "%.120s still replicates from master %.60s: not failing over", who,
                 s->cfg->name);
        return -1;
    }
    m->dead = 1;
    return mon_fo_failover(m, 1, err, errcap);
}

static void finish_request(rwp_monitor *m, mon_request *r, int rc, const char *err)
{
    pthread_mutex_lock(&m->mu);
    r->rc = rc;
    snprintf(r->err, sizeof r->err, "%s", rc ? err : "");
    r->done = 1;
    int detached = r->detached;
    pthread_cond_broadcast(&m->req_cv);
    pthread_mutex_unlock(&m->mu);
    if (detached)
        free(r);
}

static void serve_requests(rwp_monitor *m)
{
    for (;;) {
        pthread_mutex_lock(&m->mu);
        mon_request *r = m->stop ? NULL : m->reqs;
        if (r)
            m->reqs = r->next;
        pthread_mutex_unlock(&m->mu);
        if (!r)
            return;
        char err[256] = "";
        int rc = r->kind == MON_REQ_SWITCHOVER ? mon_fo_switchover(m, r->target, err, sizeof err)
                                               : manual_failover(m, err, sizeof err);
        if (rc)
            log_warn("monitor: %s request failed: %s",
                     r->kind == MON_REQ_SWITCHOVER ? "switchover" : "failover", err);
        finish_request(m, r, rc, err);
    }
}

/* Fail every queued request (stop). */
static void fail_requests(rwp_monitor *m)
{
    for (;;) {
        pthread_mutex_lock(&m->mu);
        mon_request *r = m->reqs;
        if (r)
            m->reqs = r->next;
        pthread_mutex_unlock(&m->mu);
        if (!r)
            return;
        finish_request(m, r, -1, "the monitor is stopping");
    }
}

/* ---- the coordinator loop ---- */

static void evaluate(rwp_monitor *m)
{
    track_replicas_of_master(m);
    decide_master(m);
    enforce_read_only(m);
    mon_publish(m, 0); /* a dead master's writer = -1 goes out before any long action */
    maybe_failover(m);
    maybe_rejoin(m);
    mon_publish(m, 0);
}

static int stopping(rwp_monitor *m)
{
    pthread_mutex_lock(&m->mu);
    int stop = m->stop;
    pthread_mutex_unlock(&m->mu);
    return stop;
}

/* Sleep until deadline (monotonic ms), waking early for stop, a request or maintenance. */
static void sleep_until(rwp_monitor *m, int64_t deadline)
{
    struct timespec ts;
    mon_deadline_ts(deadline, &ts);
    pthread_mutex_lock(&m->mu);
    while (!m->stop && !m->wake && mon_mono_ms() < deadline)
        pthread_cond_timedwait(&m->coord_cv, &m->mu, &ts);
    m->wake = 0;
    pthread_mutex_unlock(&m->mu);
}

/* ---- reload ---- */

/* A slot a reload added (or a removed one added again): state as if never checked. */
static void reset_slot(rwp_monitor *m, int i, const rwp_server_cfg *cfg)
{
    mon_server *s = &m->srv[i];
    s->cfg = cfg;
    pthread_mutex_lock(&m->mu);
    s->acct_seq = s->result_seq; /* a result from before the removal is stale */
    s->maint_want = 0;
    s->no_checks = 0;
    pthread_mutex_unlock(&m->mu);
    s->index = i;
    s->m = m;
    memset(&s->good, 0, sizeof s->good);
    s->good.read_only = -1;
    s->answering = s->fails = s->ever_up = s->maintenance = s->fenced = 0;
    s->fence_why[0] = s->diverged_pos[0] = s->detail[0] = '\0';
    s->was_replica_of_master = 0;
    s->healthy_since_ms = s->next_rejoin_ms = 0;
    s->health = SRV_UNKNOWN;
    s->role = ROLE_UNKNOWN;
    s->readable = 0;
    s->checked_ms = 0;
    s->removed = 0;
}

/* Slot i was removed by a reload: drop every connection the coordinator keeps to it. */
static void retire_slot(rwp_monitor *m, int i)
{
    mon_server *s = &m->srv[i];
    pthread_mutex_lock(&m->mu);
    s->no_checks = 1;
    pthread_mutex_unlock(&m->mu);
    s->removed = 1;
    s->answering = 0;
    s->fenced = 0;
    s->fence_why[0] = '\0';
    mon_act_close(m, i);
    if (s->lockc && !s->lock_held) {
        mysql_close(s->lockc);
        s->lockc = NULL;
    }
}

/* Take a reloaded configuration (slots aligned by rwp_config_align_servers): new slots get a
 * checker thread, removed ones stop being checked and acted on. */
static void adopt_pending(rwp_monitor *m)
{
    pthread_mutex_lock(&m->mu);
    const rwp_config *cfg = m->pending_cfg;
    m->pending_cfg = NULL;
    pthread_mutex_unlock(&m->mu);
    if (!cfg)
        return;
    int old_n = m->n;
    int n = cfg->nservers < RWP_MAX_SERVERS ? cfg->nservers : RWP_MAX_SERVERS;
    for (int i = 0; i < old_n && i < n; i++) {
        const rwp_server_cfg *sc = &cfg->servers[i];
        if (sc->removed && !m->srv[i].removed && i == m->master) /* promoted since RELOAD checked */
            log_warn("monitor: %s was removed but is the master now: still checked and followed; "
                     "switch over, then reload again", sc->name);
        else if (sc->removed && !m->srv[i].removed)
            retire_slot(m, i);
        else if (!sc->removed && m->srv[i].removed)
            reset_slot(m, i, sc);
        m->srv[i].cfg = sc;
    }
    for (int i = old_n; i < n; i++)
        reset_slot(m, i, &cfg->servers[i]);
    m->cfg = cfg;
    for (int i = old_n; i < n; i++) {
        if (mon_chk_start_one(m, i) != 0)
            break; /* this slot and the ones after it stay unused */
        m->n = i + 1; /* visible only once initialised and checked by its thread */
    }
}

static void *coordinator_main(void *arg)
{
    rwp_monitor *m = arg;
    mysql_thread_init();
    while (!stopping(m)) {
        adopt_pending(m);
        int64_t start = mon_mono_ms();
        int64_t next = start + m->cfg->monitor_interval_ms;
        mon_chk_round(m, next);
        if (stopping(m))
            break;
        mon_take_results(m);
        evaluate(m);
        serve_requests(m);
        sleep_until(m, next);
    }
    mon_fo_unlock_all(m);
    for (int i = 0; i < m->n; i++)
        mon_act_close(m, i);
    mysql_thread_end();
    return NULL;
}

/* ---- start / stop ---- */

static void init_sync(rwp_monitor *m)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->ev_mu, NULL);
    pthread_cond_init(&m->work_cv, &ca);
    pthread_cond_init(&m->coord_cv, &ca);
    pthread_cond_init(&m->req_cv, &ca);
    pthread_condattr_destroy(&ca);
}

static void destroy(rwp_monitor *m)
{
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->ev_mu);
    pthread_cond_destroy(&m->work_cv);
    pthread_cond_destroy(&m->coord_cv);
    pthread_cond_destroy(&m->req_cv);
    rwp_topo_release(m->last_pub);
    free(m->srv);
    free(m);
}

/* End the checker threads (and the coordinator if it runs), then free m. */
static void shut_down(rwp_monitor *m)
{
    pthread_mutex_lock(&m->mu);
    m->stop = 1;
    pthread_cond_broadcast(&m->work_cv);
    pthread_cond_broadcast(&m->coord_cv);
    pthread_mutex_unlock(&m->mu);
    if (m->thread_started)
        pthread_join(m->thread, NULL);
    else {
        mon_fo_unlock_all(m);
        for (int i = 0; i < m->n; i++)
            mon_act_close(m, i);
    }
    mon_chk_join(m);
    fail_requests(m);
    destroy(m);
}

rwp_monitor *rwp_monitor_start(const rwp_config *cfg, rwp_topo_slot *slot)
{
    rwp_monitor *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cfg = cfg;
    m->slot = slot;
    m->n = cfg->nservers;
    m->master = -1;
    m->hold_ms = cfg->hold_ms;
    m->rng = (unsigned)time(NULL) ^ (unsigned)getpid();
    m->next_event_id = 1;
    init_sync(m);
    m->srv = calloc(RWP_MAX_SERVERS, sizeof *m->srv); /* reloads add slots */
    if (!m->srv) {
        destroy(m);
        return NULL;
    }
    for (int i = 0; i < m->n; i++) {
        m->srv[i].cfg = &cfg->servers[i];
        m->srv[i].index = i;
        m->srv[i].m = m;
        m->srv[i].good.read_only = -1;
    }
    if (mon_chk_start(m) != 0) {
        shut_down(m);
        return NULL;
    }
    /* The first round on the caller's thread, bounded like a hung check. */
    mon_chk_round(m, mon_mono_ms() + 2 * (int64_t)cfg->monitor_connect_timeout_ms + 100);
    mon_take_results(m);
    evaluate(m);
    mon_publish(m, 1);
    if (pthread_create(&m->thread, NULL, coordinator_main, m) != 0) {
        log_error("monitor: cannot start the monitor thread");
        shut_down(m);
        return NULL;
    }
    m->thread_started = 1;
    return m;
}

void rwp_monitor_stop(rwp_monitor *m)
{
    if (m)
        shut_down(m);
}

/* ---- public requests ---- */

int rwp_monitor_set_maintenance(rwp_monitor *m, const char *name, int on)
{
    int n = m->n;
    for (int i = 0; i < n; i++) {
        const rwp_server_cfg *sc = m->srv[i].cfg;
        if (sc->removed || strcmp(sc->name, name) != 0)
            continue;
        pthread_mutex_lock(&m->mu);
        m->srv[i].maint_want = on ? 1 : 0;
        m->wake = 1;
        pthread_cond_broadcast(&m->coord_cv);
        pthread_mutex_unlock(&m->mu);
        log_info("monitor: %s maintenance %s (operator)", name, on ? "on" : "off");
        return 0;
    }
    return -1;
}

/* Queue r (mu held). Returns -1 if the monitor is stopping. */
static int enqueue(rwp_monitor *m, mon_request *r)
{
    if (m->stop)
        return -1;
    mon_request **p = &m->reqs;
    while (*p)
        p = &(*p)->next;
    r->next = NULL;
    *p = r;
    m->wake = 1;
    pthread_cond_broadcast(&m->coord_cv);
    return 0;
}

static int run_blocking(rwp_monitor *m, mon_req_kind kind, const char *target, char *err,
                        size_t errcap)
{
    mon_request r;
    memset(&r, 0, sizeof r);
    r.kind = kind;
    snprintf(r.target, sizeof r.target, "%s", target ? target : "");
    pthread_mutex_lock(&m->mu);
    if (enqueue(m, &r) != 0) {
        pthread_mutex_unlock(&m->mu);
        snprintf(err, errcap, "the monitor is stopping");
        return -1;
    }
    while (!r.done)
        pthread_cond_wait(&m->req_cv, &m->mu);
    pthread_mutex_unlock(&m->mu);
    if (errcap)
        snprintf(err, errcap, "%s", r.err);
    return r.rc;
}

static void run_detached(rwp_monitor *m, mon_req_kind kind, const char *target)
{
    mon_request *r = calloc(1, sizeof *r);
    if (!r)
        return;
    r->kind = kind;
    r->detached = 1;
    snprintf(r->target, sizeof r->target, "%s", target ? target : "");
    pthread_mutex_lock(&m->mu);
    int rc = enqueue(m, r);
    pthread_mutex_unlock(&m->mu);
    if (rc != 0)
        free(r);
}

int rwp_monitor_switchover(rwp_monitor *m, const char *target, char *err, size_t errcap)
{
    return run_blocking(m, MON_REQ_SWITCHOVER, target, err, errcap);
}

void rwp_monitor_request_switchover(rwp_monitor *m, const char *target)
{
    log_info("monitor: switchover requested (target %s)", target && *target ? target : "best");
    run_detached(m, MON_REQ_SWITCHOVER, target);
}

int rwp_monitor_failover(rwp_monitor *m, char *err, size_t errcap)
{
    return run_blocking(m, MON_REQ_FAILOVER, NULL, err, errcap);
}

void rwp_monitor_request_failover(rwp_monitor *m)
{
    log_info("monitor: manual failover requested");
    run_detached(m, MON_REQ_FAILOVER, NULL);
}

int rwp_monitor_events(rwp_monitor *m, rwp_mon_event *out, int cap)
{
    pthread_mutex_lock(&m->ev_mu);
    int running = m->cur_active && cap > 0;
    int n = rwp_ev_copy(&m->ring, out, running ? cap - 1 : cap);
    if (running)
        out[n++] = m->cur;
    pthread_mutex_unlock(&m->ev_mu);
    return n;
}

void rwp_monitor_counts(rwp_monitor *m, uint64_t *failovers, uint64_t *switchovers, uint64_t *rejoins)
{
    pthread_mutex_lock(&m->ev_mu);
    *failovers = m->done[0];
    *switchovers = m->done[1];
    *rejoins = m->done[2];
    pthread_mutex_unlock(&m->ev_mu);
}

void rwp_monitor_adopt_config(rwp_monitor *m, const rwp_config *cfg)
{
    if (!m || !cfg)
        return;
    pthread_mutex_lock(&m->mu);
    m->pending_cfg = cfg; /* a newer reload replaces one not taken yet */
    m->wake = 1;
    pthread_cond_broadcast(&m->coord_cv);
    pthread_mutex_unlock(&m->mu);
}
