/*
 * proxy/failover.c — what the monitor does to the servers (see monitor_int.h): failover of
 * a dead master, planned switchover, rejoin of a fenced old master (or of a replica left
 * pointing at it), and the majority lock that lets only one rwproxy act. Every step is
 * timed, logged ("monitor: <event>: <step>: ok|FAILED in N ms: result") and recorded in the
 * event history. Runs on the monitor thread only, with blocking libmysqlclient calls on the
 * coordinator's action and lock connections; waits poll every POLL_MS.
 *
 * SQL is MariaDB 10.11's; MySQL 8 spells it STOP REPLICA / RESET REPLICA ALL / CHANGE
 * REPLICATION SOURCE TO SOURCE_HOST ... SOURCE_AUTO_POSITION=1, WAIT_FOR_EXECUTED_GTID_SET()
 * instead of MASTER_GTID_WAIT(), super_read_only next to read_only, gtid_executed instead of
 * gtid_binlog_pos/gtid_current_pos, and has no MASTER_DEMOTE_TO_SLAVE.
 */
#include "proxy/monitor_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/log.h"

#define POLL_MS 20                 /* polling interval of every wait */
/* information_schema.innodb_trx is served from a cache InnoDB refreshes only when nobody read
 * it for 100 ms: polling it faster keeps showing a committed transaction as open. */
#define INNODB_TRX_POLL_MS 110
#define LOCK_NAME "'rwproxy_failover'"
#define ER_MASTER_FATAL_READING 1236 /* the master lacks the GTID the replica asked for */
#define REJOIN_SETTLE_MS 400       /* a rejoined replica must replicate this long without 1236 */

/* ---- time and small helpers ---- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *name_of(const rwp_monitor *m, int i)
{
    return i >= 0 && i < m->n ? m->srv[i].cfg->name : "(none)";
}

static int verify_timeout_ms(const rwp_monitor *m)
{
    int ms = 2 * m->cfg->monitor_connect_timeout_ms;
    return ms < 2000 ? 2000 : ms;
}

/* ---- event history ---- */

static void ev_begin(rwp_monitor *m, const char *type, int from)
{
    pthread_mutex_lock(&m->ev_mu);
    rwp_ev_begin(&m->cur, m->next_event_id++, type, name_of(m, from), mon_wall_ms());
    m->cur_active = 1;
    pthread_mutex_unlock(&m->ev_mu);
}

static void ev_set_to(rwp_monitor *m, int to)
{
    pthread_mutex_lock(&m->ev_mu);
    snprintf(m->cur.to, sizeof m->cur.to, "%s", name_of(m, to));
    pthread_mutex_unlock(&m->ev_mu);
}

/* Record and log one step that began at t0 (monotonic ms). Returns ok ? 0 : -1. */
static int ev_step(rwp_monitor *m, const char *type, const char *step, int64_t t0, int ok,
                   const char *result)
{
    int dur = (int)(mon_mono_ms() - t0);
    pthread_mutex_lock(&m->ev_mu);
    rwp_ev_step_add(&m->cur, step, mon_wall_ms() - dur, dur, ok, result);
    pthread_mutex_unlock(&m->ev_mu);
    if (ok)
        log_info("monitor: %s: %s: ok in %d ms%s%s", type, step, dur, result[0] ? ": " : "", result);
    else
        log_warn("monitor: %s: %s: FAILED in %d ms%s%s", type, step, dur, result[0] ? ": " : "",
                 result);
    return ok ? 0 : -1;
}

static void ev_finish(rwp_monitor *m, const char *type, int64_t t0, int ok, const char *outcome)
{
    int dur = (int)(mon_mono_ms() - t0);
    pthread_mutex_lock(&m->ev_mu);
    rwp_ev_end(&m->cur, ok, outcome, mon_wall_ms());
    rwp_ev_push(&m->ring, &m->cur);
    m->cur_active = 0;
    if (ok)
        m->done[strcmp(type, "failover") == 0 ? 0 : strcmp(type, "switchover") == 0 ? 1 : 2]++;
    pthread_mutex_unlock(&m->ev_mu);
    if (ok)
        log_info("monitor: %s: done in %d ms: %s", type, dur, outcome);
    else
        log_warn("monitor: %s: abandoned after %d ms: %s", type, dur, outcome);
}

/* ---- SQL steps ---- */

/* Run statements on server i's action connection as one timed step. */
static int step_sql(rwp_monitor *m, const char *type, const char *step, int i,
                    const char *const *sql, int nsql, char *err, size_t errcap)
{
    int64_t t0 = mon_mono_ms();
    char e[256] = "";
    MYSQL *c = mon_act(m, i, e, sizeof e);
    for (int k = 0; c && k < nsql; k++) {
        if (mon_sql_exec(c, sql[k], e, sizeof e) != 0) {
            char what[256];
            snprintf(what, sizeof what, "%.60s: %.190s", sql[k], e);
            snprintf(e, sizeof e, "%s", what);
            mon_act_close(m, i);
            c = NULL;
        }
    }
    if (!c) {
        snprintf(err, errcap, "%s on %s: %s", step, name_of(m, i), e);
        return ev_step(m, type, step, t0, 0, e);
    }
    return ev_step(m, type, step, t0, 1, "");
}

/* CHANGE MASTER TO the server `to`, as configured (host/port) and with the [replication]
 * account. demote: MASTER_DEMOTE_TO_SLAVE=1 (10.10+: merges the server's own binlog GTIDs into
 * gtid_slave_pos; before 10.10 use MASTER_USE_GTID=current_pos instead). */
static void change_master_sql(rwp_monitor *m, MYSQL *c, int to, int demote, char *out, size_t cap)
{
    char host[600], user[300], pass[600];
    mon_sql_quote(c, m->srv[to].cfg->host, host, sizeof host);
    mon_sql_quote(c, m->cfg->repl_user, user, sizeof user);
    mon_sql_quote(c, m->cfg->repl_password, pass, sizeof pass);
    snprintf(out, cap, "CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%d, MASTER_USER=%s, "
             "MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1%s",
             host, m->srv[to].cfg->port, user, pass, demote ? ", MASTER_DEMOTE_TO_SLAVE=1" : "");
}

/* After server i was pointed at `to`: what its next check will show as its source (so the
 * rest of this round does not take it for a replica of the old master). */
static void note_source(rwp_monitor *m, int i, int to)
{
    rwp_slave_status *st = &m->srv[i].good.slave;
    if (!m->srv[i].good.nslaves) {
        memset(st, 0, sizeof *st);
        st->lag_s = -1;
        m->srv[i].good.nslaves = 1;
    }
    snprintf(st->master_host, sizeof st->master_host, "%s", m->srv[to].cfg->host);
    st->master_port = m->srv[to].cfg->port;
    st->master_server_id = m->srv[to].good.server_id;
    st->last_io_errno = 0;
    st->io_running = 1; /* just started; verified right after, corrected by the next check */
    st->sql_running = 1;
}

/* Point server i at server `to` (stop its slave, CHANGE MASTER, start). The password is never
 * logged: the step shows only the statements' verbs. */
static int point_at(rwp_monitor *m, const char *type, const char *step, int i, int to,
                    int demote, const char *first, char *err, size_t errcap)
{
    char e[256] = "";
    MYSQL *c = mon_act(m, i, e, sizeof e);
    if (!c) {
        snprintf(err, errcap, "%s: %s", step, e);
        return ev_step(m, type, step, mon_mono_ms(), 0, e);
    }
    char change[2048];
    change_master_sql(m, c, to, demote, change, sizeof change);
    const char *sql[4];
    int n = 0;
    if (first)
        sql[n++] = first;
    sql[n++] = "STOP SLAVE";       /* MySQL 8: STOP REPLICA */
    sql[n++] = change;
    sql[n++] = "START SLAVE";
    if (step_sql(m, type, step, i, sql, n, err, errcap) != 0)
        return -1;
    note_source(m, i, to);
    return 0;
}

/* ---- the majority lock ---- */

static void release_lock(rwp_monitor *m, int i)
{
    mon_server *s = &m->srv[i];
    char e[256];
    if (!s->lock_held)
        return;
    s->lock_held = 0;
    if (s->lockc && mon_sql_exec(s->lockc, "SELECT RELEASE_LOCK(" LOCK_NAME ")", e, sizeof e) != 0) {
        mysql_close(s->lockc); /* closing the connection releases it too */
        s->lockc = NULL;
    }
}

void mon_fo_unlock_all(rwp_monitor *m)
{
    for (int i = 0; i < m->n; i++) {
        release_lock(m, i);
        if (m->srv[i].lockc)
            mysql_close(m->srv[i].lockc);
        m->srv[i].lockc = NULL;
    }
}

static void unlock_majority(rwp_monitor *m)
{
    for (int i = 0; i < m->n; i++)
        release_lock(m, i);
}

/* GET_LOCK on server i (0 ok). */
static int lock_one(rwp_monitor *m, int i)
{
    mon_server *s = &m->srv[i];
    char v[16], e[256];
    if (s->lock_held)
        return 0;
    if (!s->lockc)
        s->lockc = mon_sql_connect(m->cfg, s->cfg, mon_sql_timeout_s(m->cfg), e, sizeof e);
    if (!s->lockc)
        return -1;
    if (mon_sql_value(s->lockc, "SELECT GET_LOCK(" LOCK_NAME ", 0)", v, sizeof v, NULL, e,
                      sizeof e) != 0) {
        mysql_close(s->lockc);
        s->lockc = NULL;
        return -1;
    }
    if (strcmp(v, "1") != 0)
        return -1;
    s->lock_held = 1;
    return 0;
}

/* GET_LOCK('rwproxy_failover', 0) on a majority of all configured servers (servers that do
 * not answer count as not obtained). 0 held, -1 not (what was obtained is released). */
static int lock_majority(rwp_monitor *m, const char *type, char *err, size_t errcap)
{
    int64_t t0 = mon_mono_ms();
    int live = 0;
    for (int i = 0; i < m->n; i++)
        live += !m->srv[i].removed; /* servers a reload removed are not counted */
    int need = live / 2 + 1, got = 0, answering = 0;
    char res[200];
    for (int i = 0; i < m->n; i++) {
        answering += m->srv[i].answering;
        if (m->srv[i].answering && lock_one(m, i) == 0)
            got++;
    }
    if (!m->cfg->majority_lock) /* one rwproxy only: every server that answers must agree */
        need = answering > 0 ? answering : 1;
    if (got >= need) {
        snprintf(res, sizeof res, "GET_LOCK on %d of %d servers (%d needed)", got, live, need);
        return ev_step(m, type, "lock", t0, 1, res);
    }
    unlock_majority(m);
    snprintf(res, sizeof res, "majority lock not obtained (%d of %d servers, %d needed): another "
             "rwproxy is handling it, or too few servers answer; only observing", got, live, need);
    snprintf(err, errcap, "%s", res);
    return ev_step(m, type, "lock", t0, 0, res);
}

/* ---- waiting for positions ---- */

/* MASTER_GTID_WAIT(pos) on server i in slices of at most 1 s until timeout_ms. 0 reached. */
static int gtid_wait(rwp_monitor *m, int i, const char *pos, int timeout_ms, char *e, size_t ecap)
{
    int64_t deadline = mon_mono_ms() + timeout_ms;
    char q[RWP_GTID_TEXT * 2 + 64], quoted[RWP_GTID_TEXT * 2 + 4], v[16];
    int is_null;
    MYSQL *c = mon_act(m, i, e, ecap);
    if (!c)
        return -1;
    mon_sql_quote(c, pos, quoted, sizeof quoted);
    for (;;) {
        int64_t left = deadline - mon_mono_ms();
        double slice = (left > 1000 ? 1000 : left < 0 ? 0 : left) / 1000.0;
        /* MySQL 8: SELECT WAIT_FOR_EXECUTED_GTID_SET(set, timeout) */
        snprintf(q, sizeof q, "SELECT MASTER_GTID_WAIT(%s, %.3f)", quoted, slice);
        if (mon_sql_value(c, q, v, sizeof v, &is_null, e, ecap) != 0) {
            mon_act_close(m, i);
            return -1;
        }
        if (!is_null && strcmp(v, "0") == 0)
            return 0;
        if (is_null) {
            snprintf(e, ecap, "MASTER_GTID_WAIT returned NULL");
            return -1;
        }
        if (mon_mono_ms() >= deadline) {
            snprintf(e, ecap, "did not reach %.200s within %d ms", pos, timeout_ms);
            return -1;
        }
    }
}

/* Let server i apply what it received before promotion: everything it received (want NULL:
 * its own Gtid_IO_Pos, read fresh) or want (switchover: the old master's final position). */
static int catch_up(rwp_monitor *m, const char *type, int i, const char *want, int timeout_ms,
                    char *err, size_t errcap)
{
    int64_t t0 = mon_mono_ms();
    char step[96], e[256] = "", res[RWP_GTID_TEXT + 64];
    rwp_obs *o = calloc(1, sizeof *o);
    snprintf(step, sizeof step, "catchup %s", name_of(m, i));
    MYSQL *c = o ? mon_act(m, i, e, sizeof e) : NULL;
    if (!c || (!want && mon_sql_slave_status(c, o, e, sizeof e) != 0)) {
        free(o);
        snprintf(err, errcap, "%s: %s", step, e[0] ? e : "out of memory");
        return ev_step(m, type, step, t0, 0, e);
    }
    char pos[RWP_GTID_TEXT];
    snprintf(pos, sizeof pos, "%s", want ? want : o->slave.gtid_io_pos);
    free(o);
    if (!pos[0])
        return ev_step(m, type, step, t0, 1, "nothing to apply");
    if (gtid_wait(m, i, pos, timeout_ms, e, sizeof e) != 0) {
        snprintf(err, errcap, "%s: %s", step, e);
        return ev_step(m, type, step, t0, 0, e);
    }
    snprintf(res, sizeof res, "applied up to %s", pos);
    return ev_step(m, type, step, t0, 1, res);
}

/* ---- promotion ---- */

/* One statement of promotion_sql. */
typedef struct {
    rwp_monitor *m;       /* the monitor */
    int i;                /* server being promoted */
    int failed;           /* statements that failed */
    char first_err[200];  /* the first failure */
} promo_sql_ctx;

static int run_promo_stmt(void *arg, const char *stmt, size_t len)
{
    promo_sql_ctx *x = arg;
    char *sql = strndup(stmt, len), e[256];
    MYSQL *c = mon_act(x->m, x->i, e, sizeof e);
    if (!sql || !c || mon_sql_exec(c, sql, e, sizeof e) != 0) {
        if (!x->failed++)
            snprintf(x->first_err, sizeof x->first_err, "%.60s: %.120s", sql ? sql : "?", e);
    }
    free(sql);
    return 0;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!buf)
        buf = calloc(1, 1);
    else
        buf[len] = '\0';
    return buf;
}

/* Run the promotion_sql file on server i (failures are logged, not fatal). */
static void run_promotion_sql(rwp_monitor *m, const char *type, int i)
{
    if (!m->cfg->promotion_sql[0])
        return;
    int64_t t0 = mon_mono_ms();
    char res[256];
    promo_sql_ctx x = {m, i, 0, ""};
    char *text = read_file(m->cfg->promotion_sql);
    if (!text) {
        snprintf(res, sizeof res, "cannot read %.200s", m->cfg->promotion_sql);
        ev_step(m, type, "promotion_sql", t0, 0, res);
        return;
    }
    rwp_ml_split_sql(text, run_promo_stmt, &x);
    free(text);
    snprintf(res, sizeof res, "%s%s", x.failed ? "a statement failed: " : "", x.first_err);
    ev_step(m, type, "promotion_sql", t0, !x.failed, res);
}

/* Make server i the master: stop and forget replication, writable, promotion_sql. */
static int promote(rwp_monitor *m, const char *type, int i, char *err, size_t errcap)
{
    char step[96];
    /* MySQL 8: STOP REPLICA; RESET REPLICA ALL; SET GLOBAL super_read_only = 0, read_only = 0.
     * RESET SLAVE ALL resets the default connection (the one rwproxy manages). */
    const char *sql[] = {"STOP ALL SLAVES", "RESET SLAVE ALL", "SET GLOBAL read_only = 0"};
    snprintf(step, sizeof step, "promote %s", name_of(m, i));
    if (step_sql(m, type, step, i, sql, 3, err, errcap) != 0)
        return -1;
    /* What the next check will see, known now: the snapshot published next relies on it. */
    m->srv[i].good.read_only = 0;
    m->srv[i].good.nslaves = 0;
    memset(&m->srv[i].good.slave, 0, sizeof m->srv[i].good.slave);
    run_promotion_sql(m, type, i);
    return 0;
}

/* Repoint every usable replica of old (other than skip) at new_master; marks them in done[]. */
static void repoint_replicas(rwp_monitor *m, const char *type, int old, int new_master, int skip,
                             int *done)
{
    char step[96], err[256];
    for (int i = 0; i < m->n; i++) {
        mon_server *s = &m->srv[i];
        if (i == old || i == new_master || i == skip || s->removed || !s->good.nslaves)
            continue;
        if (!rwp_ml_is_source(&s->good.slave, m->srv[old].cfg->host, m->srv[old].cfg->port,
                              m->srv[old].good.server_id))
            continue;
        snprintf(step, sizeof step, "repoint %s", s->cfg->name);
        if (!s->answering || s->maintenance || s->fenced) {
            ev_step(m, type, step, mon_mono_ms(), 0, s->maintenance ? "in maintenance: left alone"
                    : "not answering: rejoined when it returns");
            continue;
        }
        if (point_at(m, type, step, i, new_master, 0, NULL, err, sizeof err) == 0)
            done[i] = 1;
    }
}

/* Wait (bounded) until every server in which[] has its IO thread running; log each. */
static void verify_replicas(rwp_monitor *m, const char *type, const int *which)
{
    int64_t t0 = mon_mono_ms(), deadline = t0 + verify_timeout_ms(m);
    int *left = calloc((size_t)m->n, sizeof *left);
    rwp_obs *o = calloc(1, sizeof *o);
    char step[96], e[256];
    if (!left || !o) {
        free(left);
        free(o);
        return;
    }
    memcpy(left, which, (size_t)m->n * sizeof *left);
    for (int pending = 1; pending;) {
        pending = 0;
        for (int i = 0; i < m->n; i++) {
            if (!left[i])
                continue;
            MYSQL *c = mon_act(m, i, e, sizeof e);
            int ok = c && mon_sql_slave_status(c, o, e, sizeof e) == 0 && o->slave.io_running;
            int expired = mon_mono_ms() >= deadline;
            if (!ok && !expired) {
                pending = 1;
                continue;
            }
            left[i] = 0;
            snprintf(step, sizeof step, "verify %s", name_of(m, i));
            snprintf(e, sizeof e, "Slave_IO_Running=%.15s%s%.200s", o->slave.io_state,
                     o->slave.last_io_error[0] ? ", " : "", o->slave.last_io_error);
            ev_step(m, type, step, t0, ok, e);
        }
        if (pending)
            sleep_ms(POLL_MS);
    }
    free(left);
    free(o);
}

/* ---- failover ---- */

/* Another instance (or an operator) already promoted a replica of old: follow it. */
static int adopt_if_promoted(rwp_monitor *m, const char *type, int old, int64_t t0)
{
    rwp_ml_server *v = calloc((size_t)m->n, sizeof *v);
    int *was = calloc((size_t)m->n, sizeof *was);
    int w = -1;
    if (v && was) {
        mon_views(m, v);
        for (int i = 0; i < m->n; i++)
            was[i] = m->srv[i].was_replica_of_master;
        w = rwp_ml_choose_writer(v, m->n, old, was);
    }
    free(v);
    free(was);
    if (w < 0 || w == old)
        return -1;
    char res[200];
    snprintf(res, sizeof res, "%s is already master (done elsewhere, by another rwproxy or an "
             "operator): following it", name_of(m, w));
    ev_step(m, type, "recheck", t0, 1, res);
    ev_set_to(m, w);
    mon_fence(m, old, "old master; a new master was chosen elsewhere while it was down");
    mon_set_master(m, w, "chosen elsewhere: following it");
    return 0;
}

/* After the lock: is the failover still needed? 0 yes, 1 adopted, -1 no longer (err). */
static int recheck_dead(rwp_monitor *m, const char *type, int old, char *err, size_t errcap)
{
    int64_t t0 = mon_mono_ms();
    char who[256];
    mon_fresh_round(m);
    if (m->srv[old].answering) {
        snprintf(err, errcap, "master %s answers again", name_of(m, old));
        m->dead = 0;
        return ev_step(m, type, "recheck", t0, 0, err);
    }
    if (!mon_replicas_agree_dead(m, old, who, sizeof who)) {
        snprintf(err, errcap, "%s still replicates from %s", who, name_of(m, old));
        m->dead = 0;
        return ev_step(m, type, "recheck", t0, 0, err);
    }
    if (adopt_if_promoted(m, type, old, t0) == 0)
        return 1;
    ev_step(m, type, "recheck", t0, 1, "master still down and its replicas agree");
    return 0;
}

static int choose_candidate(rwp_monitor *m, const char *type, int old, char *err, size_t errcap)
{
    int64_t t0 = mon_mono_ms();
    char why[512], res[RWP_GTID_TEXT + 96];
    rwp_ml_server *v = calloc((size_t)m->n, sizeof *v);
    if (!v)
        return -1;
    mon_views(m, v);
    int c = rwp_ml_pick_candidate(v, m->n, old, m->srv[old].good.gtid_binlog_pos, why, sizeof why);
    free(v);
    if (c < 0) {
        snprintf(err, errcap, "no candidate: %s", why);
        ev_step(m, type, "choose", t0, 0, err);
        return -1;
    }
    snprintf(res, sizeof res, "%s (Gtid_IO_Pos %s)", name_of(m, c), m->srv[c].good.slave.gtid_io_pos);
    ev_step(m, type, "choose", t0, 1, res);
    ev_set_to(m, c);
    return c;
}

/* STOP SLAVE on the candidate and every usable replica of old at once (send all, then read
 * all): a replica whose IO thread hangs on an unresponsive old master may take seconds to
 * stop, and they should not take them one after another. Failures are left to the steps that
 * follow (they stop replication again and report). */
static void stop_replication(rwp_monitor *m, const char *type, int old, int cand)
{
    int64_t t0 = mon_mono_ms();
    char e[256], res[200];
    int *sent = calloc((size_t)m->n, sizeof *sent), nsent = 0, nok = 0;
    if (!sent)
        return;
    for (int i = 0; i < m->n; i++) {
        mon_server *s = &m->srv[i];
        int replica_of_old = s->good.nslaves &&
            rwp_ml_is_source(&s->good.slave, m->srv[old].cfg->host, m->srv[old].cfg->port,
                             m->srv[old].good.server_id);
        if (i == old || !replica_of_old || !s->answering || s->maintenance || s->fenced)
            continue;
        const char *q = i == cand ? "STOP ALL SLAVES" : "STOP SLAVE";
        MYSQL *c = mon_act(m, i, e, sizeof e);
        if (c && mysql_send_query(c, q, (unsigned long)strlen(q)) == 0) {
            sent[i] = 1;
            nsent++;
        }
    }
    for (int i = 0; i < m->n; i++) {
        if (!sent[i])
            continue;
        MYSQL *c = m->srv[i].act;
        if (mysql_read_query_result(c) == 0)
            nok++;
        else
            mon_act_close(m, i);
    }
    free(sent);
    snprintf(res, sizeof res, "replication stopped on %d of %d replicas", nok, nsent);
    ev_step(m, type, "stop replication", t0, nok == nsent, res);
}

/* The failover proper, with the majority lock held. */
static int failover_locked(rwp_monitor *m, int old, char *err, size_t errcap, char *outcome,
                           size_t outcap)
{
    const char *type = "failover";
    int r = recheck_dead(m, type, old, err, errcap);
    if (r != 0) {
        snprintf(outcome, outcap, "%s", r > 0 ? "followed a master chosen elsewhere" : err);
        return r > 0 ? 0 : -1;
    }
    int c = choose_candidate(m, type, old, err, errcap);
    if (c >= 0 && catch_up(m, type, c, NULL, m->cfg->catchup_timeout_ms, err, errcap) == 0)
        stop_replication(m, type, old, c);
    else
        c = -1;
    if (c < 0 || promote(m, type, c, err, errcap) != 0) {
        snprintf(outcome, outcap, "%s", err);
        return -1;
    }
    int *repointed = calloc((size_t)m->n, sizeof *repointed);
    if (repointed)
        repoint_replicas(m, type, old, c, -1, repointed);
    char why[128];
    snprintf(why, sizeof why, "old master, failed over to %s", name_of(m, c));
    mon_fence(m, old, why);
    mon_set_master(m, c, "promoted by failover");
    m->failovers++;
    m->last_failover_ms = mon_mono_ms();
    m->writes_held = 0;
    mon_publish(m, 1);
    if (repointed)
        verify_replicas(m, type, repointed);
    free(repointed);
    snprintf(outcome, outcap, "promoted %s (old master %s fenced)", name_of(m, c), name_of(m, old));
    return 0;
}

int mon_fo_failover(rwp_monitor *m, int manual, char *err, size_t errcap)
{
    const char *type = "failover";
    int old = m->master;
    int64_t t0 = mon_mono_ms();
    char outcome[256];
    if (old < 0) {
        snprintf(err, errcap, "no master is known");
        return -1;
    }
    ev_begin(m, type, old);
    log_info("monitor: failover: master %s is dead, starting (%s)", name_of(m, old),
             manual ? "operator request" : "automatic");
    m->writes_held = 1;
    mon_publish(m, 0);
    int rc = lock_majority(m, type, err, errcap), locked = rc == 0;
    if (locked) {
        rc = failover_locked(m, old, err, errcap, outcome, sizeof outcome);
        unlock_majority(m);
    } else {
        snprintf(outcome, sizeof outcome, "%s", err);
    }
    m->writes_held = 0;
    /* lock not obtained: another instance acts, look again soon; other failures: later */
    int64_t backoff = locked ? 5000 + (int64_t)(rand_r(&m->rng) % 1000)
                             : 200 + (int64_t)(rand_r(&m->rng) % 500);
    m->next_try_ms = mon_mono_ms() + (rc == 0 ? 0 : backoff);
    ev_finish(m, type, t0, rc == 0, outcome);
    mon_publish(m, 0);
    return rc;
}

/* ---- switchover ---- */

/* What a switchover changed so far (for the undo). */
typedef struct {
    int old;              /* the master being replaced */
    int target;           /* the server being promoted */
    int old_read_only;    /* 1 after SET GLOBAL read_only = 1 on old */
    int old_locked;       /* 1 while FLUSH TABLES WITH READ LOCK holds on old */
    int target_changed;   /* 1 once the target's replication was stopped or reset */
    char pos[RWP_GTID_TEXT]; /* old master's final gtid_binlog_pos */
} sw_state;

static int find_server(const rwp_monitor *m, const char *name)
{
    for (int i = 0; i < m->n; i++)
        if (!m->srv[i].removed && strcmp(m->srv[i].cfg->name, name) == 0)
            return i;
    return -1;
}

/* The switchover target: named (validated like a failover candidate) or the best. */
static int switchover_target(rwp_monitor *m, const char *target, char *err, size_t errcap)
{
    char why[512];
    rwp_ml_server *v = calloc((size_t)m->n, sizeof *v);
    if (!v)
        return -1;
    mon_views(m, v);
    int want = -1;
    if (target && *target) {
        want = find_server(m, target);
        if (want < 0 || want == m->master) {
            snprintf(err, errcap, want < 0 ? "no server named %s" : "%s is already the master",
                     target);
            free(v);
            return -1;
        }
        for (int i = 0; i < m->n; i++)
            if (i != want)
                v[i].usable = 0; /* only the named one may be picked */
    }
    int t = rwp_ml_pick_candidate(v, m->n, m->master, m->srv[m->master].good.gtid_binlog_pos,
                                  why, sizeof why);
    free(v);
    if (t < 0 || (want >= 0 && t != want)) {
        snprintf(err, errcap, "no candidate for the switchover: %s", why);
        return -1;
    }
    return t;
}

/* Wait (bounded by half of switchover_hold_ms) until old has no transactions open but ours. */
static void wait_open_trx(rwp_monitor *m, const char *type, sw_state *st)
{
    int64_t t0 = mon_mono_ms(), deadline = t0 + m->cfg->switchover_hold_ms / 2;
    char v[32] = "?", e[256] = "", res[200];
    for (;;) {
        MYSQL *c = mon_act(m, st->old, e, sizeof e);
        if (!c || mon_sql_value(c, "SELECT COUNT(*) FROM information_schema.innodb_trx WHERE "
                                "trx_mysql_thread_id <> CONNECTION_ID()", v, sizeof v, NULL, e,
                                sizeof e) != 0) {
            mon_act_close(m, st->old);
            break;
        }
        if (strcmp(v, "0") == 0 || mon_mono_ms() >= deadline)
            break;
        sleep_ms(INNODB_TRX_POLL_MS);
    }
    int ok = strcmp(v, "0") == 0;
    snprintf(res, sizeof res, ok ? "no open transactions" : "%s transaction(s) still open%s%s; "
             "going on (they will be killed)", v, e[0] ? ": " : "", e);
    ev_step(m, type, "wait transactions", t0, ok, res);
}

/* Kill every client connection on old except ours and replication/system threads. */
static int kill_sessions(rwp_monitor *m, const char *type, sw_state *st, char *err, size_t errcap)
{
    int64_t t0 = mon_mono_ms();
    char e[256] = "", q[512], res[200];
    unsigned long check_id, lock_id;
    MYSQL *c = mon_act(m, st->old, e, sizeof e);
    pthread_mutex_lock(&m->mu);
    check_id = m->srv[st->old].check_conn_id;
    pthread_mutex_unlock(&m->mu);
    lock_id = m->srv[st->old].lockc ? mysql_thread_id(m->srv[st->old].lockc) : 0;
    snprintf(q, sizeof q, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER NOT IN "
             "('system user', 'event_scheduler') AND ID <> CONNECTION_ID() AND ID NOT IN (%lu, %lu) "
             "AND COMMAND NOT LIKE 'Binlog Dump%%' AND COMMAND <> 'Daemon'", check_id, lock_id);
    MYSQL_RES *r = NULL;
    if (!c || mysql_query(c, q) != 0 || !(r = mysql_store_result(c))) {
        if (c)
            snprintf(e, sizeof e, "%u: %s", mysql_errno(c), mysql_error(c));
        snprintf(err, errcap, "kill sessions: %s", e);
        mon_act_close(m, st->old);
        return ev_step(m, type, "kill sessions", t0, 0, e);
    }
    int killed = 0;
    MYSQL_ROW row;
    unsigned long *ids = calloc(mysql_num_rows(r) + 1, sizeof *ids);
    int nids = 0;
    while (ids && (row = mysql_fetch_row(r)) != NULL)
        if (row[0])
            ids[nids++] = strtoul(row[0], NULL, 10);
    mysql_free_result(r);
    for (int k = 0; k < nids; k++) {
        snprintf(q, sizeof q, "KILL CONNECTION %lu", ids[k]);
        if (mon_sql_exec(c, q, e, sizeof e) == 0)
            killed++; /* an error is a connection that ended meanwhile */
    }
    free(ids);
    snprintf(res, sizeof res, "killed %d connection(s)", killed);
    return ev_step(m, type, "kill sessions", t0, 1, res);
}

/* Read old's gtid_binlog_pos until two reads POLL_MS apart agree (at most 1 s). */
static int stable_binlog_pos(rwp_monitor *m, const char *type, sw_state *st, char *err,
                             size_t errcap)
{
    int64_t t0 = mon_mono_ms();
    char prev[RWP_GTID_TEXT] = "\x01", e[256] = "";
    MYSQL *c = mon_act(m, st->old, e, sizeof e);
    while (c && mon_sql_value(c, "SELECT @@gtid_binlog_pos", st->pos, sizeof st->pos, NULL, e,
                              sizeof e) == 0) {
        if (strcmp(prev, st->pos) == 0 || mon_mono_ms() - t0 > 1000) {
            char res[RWP_GTID_TEXT + 16];
            snprintf(res, sizeof res, "%s", st->pos);
            return ev_step(m, type, "final position", t0, strcmp(prev, st->pos) == 0, res);
        }
        snprintf(prev, sizeof prev, "%s", st->pos);
        sleep_ms(POLL_MS);
    }
    mon_act_close(m, st->old);
    snprintf(err, errcap, "final position: %s", e);
    return ev_step(m, type, "final position", t0, 0, e);
}

/* Stop writes on old: read_only, FTWRL, kill sessions, unlock, final position. */
static int freeze_old_master(rwp_monitor *m, const char *type, sw_state *st, char *err,
                             size_t errcap)
{
    char lwt[64];
    int s = (m->cfg->switchover_hold_ms / 4 + 999) / 1000;
    int maxs = (int)mon_sql_timeout_s(m->cfg) + 1;
    snprintf(lwt, sizeof lwt, "SET SESSION lock_wait_timeout = %d", s < 1 ? 1 : s > maxs ? maxs : s);
    /* MySQL 8: also SET GLOBAL super_read_only = 1 */
    const char *ro[] = {"SET GLOBAL read_only = 1"};
    const char *ftwrl[] = {lwt, "FLUSH TABLES WITH READ LOCK"};
    const char *unlock[] = {"UNLOCK TABLES"};
    wait_open_trx(m, type, st);
    if (step_sql(m, type, "read_only", st->old, ro, 1, err, errcap) != 0)
        return -1;
    st->old_read_only = 1;
    m->srv[st->old].good.read_only = 1;
    if (step_sql(m, type, "flush tables with read lock", st->old, ftwrl, 2, err, errcap) != 0)
        return -1;
    st->old_locked = 1;
    if (kill_sessions(m, type, st, err, errcap) != 0)
        return -1;
    if (step_sql(m, type, "unlock tables", st->old, unlock, 1, err, errcap) != 0)
        return -1;
    st->old_locked = 0;
    return stable_binlog_pos(m, type, st, err, errcap);
}

/* Put things back after a failed switchover: old writable, target its replica again. */
static void undo_switchover(rwp_monitor *m, const char *type, sw_state *st)
{
    char err[256];
    if (st->old_locked) {
        const char *sql[] = {"UNLOCK TABLES"};
        step_sql(m, type, "undo: unlock tables", st->old, sql, 1, err, sizeof err);
    }
    if (st->target_changed)
        point_at(m, type, "undo: target replicates again", st->target, st->old, 0,
                 "SET GLOBAL read_only = 1", err, sizeof err);
    if (st->old_read_only) {
        const char *sql[] = {"SET GLOBAL read_only = 0"};
        if (step_sql(m, type, "undo: old master writable", st->old, sql, 1, err, sizeof err) == 0)
            m->srv[st->old].good.read_only = 0;
    }
}

/* Point the old master at the new one from its final position. */
static void demote_old_master(rwp_monitor *m, const char *type, sw_state *st, int *repointed)
{
    char setpos[RWP_GTID_TEXT * 2 + 64], quoted[RWP_GTID_TEXT * 2 + 4], err[256], step[96];
    char e[256];
    MYSQL *c = mon_act(m, st->old, e, sizeof e);
    if (!c) {
        snprintf(step, sizeof step, "demote %s", name_of(m, st->old));
        ev_step(m, type, step, mon_mono_ms(), 0, e);
        return;
    }
    mon_sql_quote(c, st->pos, quoted, sizeof quoted);
    snprintf(setpos, sizeof setpos, "SET GLOBAL gtid_slave_pos = %s", quoted);
    snprintf(step, sizeof step, "demote %s", name_of(m, st->old));
    if (point_at(m, type, step, st->old, st->target, 0, setpos, err, sizeof err) == 0)
        repointed[st->old] = 1;
}

static int switchover_run(rwp_monitor *m, sw_state *st, char *err, size_t errcap)
{
    const char *type = "switchover";
    int *repointed = calloc((size_t)m->n, sizeof *repointed);
    if (!repointed) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    m->writes_held = 1;
    m->hold_ms = m->cfg->switchover_hold_ms;
    mon_publish(m, 1);
    int64_t held_since = mon_mono_ms();
    int rc = freeze_old_master(m, type, st, err, errcap);
    if (rc == 0) {
        /* writes are held meanwhile: give up (and undo) before the workers answer ERR 1290 */
        int left = m->cfg->switchover_hold_ms - (int)(mon_mono_ms() - held_since) - 200;
        int limit = m->cfg->catchup_timeout_ms < left ? m->cfg->catchup_timeout_ms : left;
        rc = catch_up(m, type, st->target, st->pos, limit > 0 ? limit : 0, err, errcap);
    }
    if (rc == 0) {
        st->target_changed = 1;
        rc = promote(m, type, st->target, err, errcap);
    }
    if (rc != 0) {
        undo_switchover(m, type, st);
    } else {
        repoint_replicas(m, type, st->old, st->target, -1, repointed);
        demote_old_master(m, type, st, repointed);
        mon_set_master(m, st->target, "promoted by switchover");
        m->failovers++;
    }
    m->writes_held = 0;
    m->hold_ms = m->cfg->hold_ms;
    mon_publish(m, 1);
    if (rc == 0)
        verify_replicas(m, type, repointed);
    free(repointed);
    return rc;
}

int mon_fo_switchover(rwp_monitor *m, const char *target, char *err, size_t errcap)
{
    const char *type = "switchover";
    int old = m->master;
    if (old < 0 || m->dead || !m->srv[old].answering || m->srv[old].good.read_only != 0 ||
        m->srv[old].maintenance) {
        snprintf(err, errcap, "no healthy master to switch over from");
        return -1;
    }
    int t = switchover_target(m, target, err, errcap);
    if (t < 0)
        return -1;
    int64_t t0 = mon_mono_ms();
    char outcome[256];
    sw_state st = {.old = old, .target = t};
    ev_begin(m, type, old);
    ev_set_to(m, t);
    log_info("monitor: switchover: from %s to %s, starting", name_of(m, old), name_of(m, t));
    int rc = lock_majority(m, type, err, errcap);
    if (rc == 0) {
        rc = switchover_run(m, &st, err, errcap);
        unlock_majority(m);
    }
    if (rc == 0)
        snprintf(outcome, sizeof outcome, "%s promoted, %s is its replica", name_of(m, t),
                 name_of(m, old));
    else
        snprintf(outcome, sizeof outcome, "undone, %s stays master: %s", name_of(m, old), err);
    ev_finish(m, type, t0, rc == 0, outcome);
    return rc;
}

/* ---- rejoin ---- */

/* Server i was found diverged: keep it fenced, say which GTIDs the master lacks. */
static void mark_diverged(rwp_monitor *m, const char *type, int i, const char *extra, int64_t t0)
{
    mon_server *s = &m->srv[i];
    char why[256];
    snprintf(why, sizeof why, "diverged: has GTIDs not on %s: %s", name_of(m, m->master),
             extra[0] ? extra : "(unknown)");
    ev_step(m, type, "gtid check", t0, 0, why);
    log_warn("monitor: rejoin: %s %s; it stays fenced (an operator must repair it)",
             s->cfg->name, why);
    s->fenced = 1;
    snprintf(s->fence_why, sizeof s->fence_why, "%s", why);
    snprintf(s->diverged_pos, sizeof s->diverged_pos, "%s", s->good.gtid_binlog_pos);
}

/* Does master w still answer a ping on the action connection? (A wait on one of its replicas
 * must not keep the monitor busy while w itself dies: a failover may be needed.) */
static int master_answers(rwp_monitor *m, int w)
{
    char e[256];
    return mon_act(m, w, e, sizeof e) != NULL; /* mon_act pings a connection it reuses */
}

/* Poll i's slave status until it replicates from w (0), fails with 1236 (1, extra filled),
 * w stops answering or the bound passes (-1). */
static int await_replication(rwp_monitor *m, int i, int w, char *extra, size_t cap, char *e,
                             size_t ecap)
{
    int64_t t0 = mon_mono_ms(), deadline = t0 + verify_timeout_ms(m), since = 0;
    rwp_obs *o = calloc(1, sizeof *o);
    int rc = -1;
    while (o && mon_mono_ms() < deadline) {
        MYSQL *c = mon_act(m, i, e, ecap);
        if (!c || mon_sql_slave_status(c, o, e, ecap) != 0)
            break;
        if (o->slave.last_io_errno == ER_MASTER_FATAL_READING) {
            if (rwp_ml_gtid_from_1236(o->slave.last_io_error, extra, cap) != 0)
                snprintf(extra, cap, "%s", m->srv[i].good.gtid_binlog_pos);
            snprintf(e, ecap, "%s", o->slave.last_io_error);
            rc = 1;
            break;
        }
        int running = o->slave.io_running && o->slave.sql_running && !o->slave.last_io_errno;
        since = running ? (since ? since : mon_mono_ms()) : 0;
        if (since && mon_mono_ms() - since >= REJOIN_SETTLE_MS) {
            rc = 0;
            break;
        }
        if (!master_answers(m, w)) {
            snprintf(e, ecap, "%s stopped answering", name_of(m, w));
            break;
        }
        sleep_ms(POLL_MS);
    }
    if (rc < 0 && o && !e[0])
        snprintf(e, ecap, "not replicating after %d ms: Slave_IO_Running=%.15s %.180s", verify_timeout_ms(m),
                 o->slave.io_state, o->slave.last_io_error);
    free(o);
    return rc;
}

/* Undo a rejoin that cannot work: forget the slave configuration, stay read-only. */
static void forget_replication(rwp_monitor *m, const char *type, int i)
{
    char err[256];
    const char *sql[] = {"STOP SLAVE", "RESET SLAVE ALL"};
    if (step_sql(m, type, "reset slave", i, sql, 2, err, sizeof err) == 0)
        m->srv[i].good.nslaves = 0;
}

static int rejoin_locked(rwp_monitor *m, const char *type, int i, int demote, char *outcome,
                         size_t outcap)
{
    int w = m->master;
    int64_t t0 = mon_mono_ms();
    char err[256] = "", extra[RWP_GTID_TEXT] = "", step[96];
    mon_fresh_round(m);
    if (m->master != w || !m->srv[w].answering || !m->srv[i].answering) {
        snprintf(outcome, outcap, "the topology changed meanwhile");
        return ev_step(m, type, "recheck", t0, 0, outcome);
    }
    const rwp_slave_status *st = &m->srv[i].good.slave;
    if (m->srv[i].good.nslaves && st->io_running && st->sql_running &&
        rwp_ml_is_source(st, m->srv[w].cfg->host, m->srv[w].cfg->port, m->srv[w].good.server_id)) {
        snprintf(outcome, outcap, "already replicates from %s (done elsewhere)", name_of(m, w));
        ev_step(m, type, "recheck", t0, 1, outcome);
        return 0;
    }
    snprintf(step, sizeof step, "change master %s", name_of(m, i));
    if (point_at(m, type, step, i, w, demote, "SET GLOBAL read_only = 1", err, sizeof err) != 0) {
        snprintf(outcome, outcap, "%s", err);
        return -1;
    }
    t0 = mon_mono_ms();
    int r = await_replication(m, i, w, extra, sizeof extra, err, sizeof err);
    if (r == 1) {
        forget_replication(m, type, i);
        mark_diverged(m, type, i, extra, t0);
        snprintf(outcome, outcap, "%s", m->srv[i].fence_why);
        return -1;
    }
    if (r < 0) {
        snprintf(outcome, outcap, "%s", err);
        return ev_step(m, type, "replicating", t0, 0, err);
    }
    char res[128];
    snprintf(res, sizeof res, "replicates from %s", name_of(m, w));
    ev_step(m, type, "replicating", t0, 1, res);
    m->srv[i].fenced = 0;
    m->srv[i].fence_why[0] = '\0';
    m->srv[i].diverged_pos[0] = '\0';
    snprintf(outcome, outcap, "%s now replicates from %s", name_of(m, i), name_of(m, w));
    return 0;
}

/* Are GTIDs of server i's binlog missing on master w (by w's @@gtid_binlog_state)? 1 yes
 * (extra filled), 0 no, -1 unknown. */
static int missing_on_master(rwp_monitor *m, int i, int w, char *extra, size_t cap)
{
    char state[RWP_GTID_TEXT * 4], e[256];
    MYSQL *c = mon_act(m, w, e, sizeof e);
    if (!c || mon_sql_value(c, "SELECT @@gtid_binlog_state", state, sizeof state, NULL, e,
                            sizeof e) != 0) {
        mon_act_close(m, w);
        return -1;
    }
    return rwp_ml_missing_from_state(m->srv[i].good.gtid_binlog_pos, state, extra, cap);
}

int mon_fo_rejoin(rwp_monitor *m, int i, int demote)
{
    const char *type = "rejoin";
    int w = m->master, was_fenced = m->srv[i].fenced;
    int64_t t0 = mon_mono_ms();
    char extra[RWP_GTID_TEXT], err[256], outcome[256];
    ev_begin(m, type, i);
    ev_set_to(m, w);
    log_info("monitor: rejoin: %s as a replica of %s, starting", name_of(m, i), name_of(m, w));
    int d = rwp_ml_diverged(m->srv[i].good.gtid_binlog_pos, m->srv[w].good.gtid_current_pos,
                            extra, sizeof extra);
    if (d == 0)
        d = missing_on_master(m, i, w, extra, sizeof extra);
    if (d == 1) {
        if (!m->srv[i].fenced)
            mon_fence(m, i, "diverged");
        mark_diverged(m, type, i, extra, t0);
        ev_finish(m, type, t0, 0, m->srv[i].fence_why);
        return -1;
    }
    ev_step(m, type, "gtid precheck", t0, 1, d < 0 ? "positions unparsable: MariaDB decides"
                                                   : "history is a prefix so far");
    int rc = lock_majority(m, type, err, sizeof err);
    if (rc == 0) {
        rc = rejoin_locked(m, type, i, demote, outcome, sizeof outcome);
        unlock_majority(m);
    } else {
        snprintf(outcome, sizeof outcome, "%s", err);
    }
    ev_finish(m, type, t0, rc == 0, outcome);
    if (rc == 0 && was_fenced)
        log_info("monitor: %s replicates from %s: no longer fenced", name_of(m, i), name_of(m, w));
    mon_publish(m, 0);
    return rc;
}
