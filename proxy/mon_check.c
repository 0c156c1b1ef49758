/*
 * proxy/mon_check.c — the checker threads: one per server, each owning one connection to
 * its server. The coordinator starts a round (mon_chk_round); every idle checker then runs
 * the health check of its server (connect if needed, the variables query, SHOW ALL SLAVES
 * STATUS) and posts what it saw. A checker stuck on a server that accepts TCP but never
 * answers only delays its own server: the coordinator does not wait for it past the round
 * and counts an overdue check as failed (monitor.c). The checker of a server a reload removed
 * closes its connection and answers every round at once without checking.
 */
#include "proxy/monitor_int.h"

#include <stdio.h>
#include <string.h>

#include "proxy/log.h"

static void close_check_conn(mon_server *s)
{
    if (s->check_conn)
        mysql_close(s->check_conn);
    s->check_conn = NULL;
}

/* One health check of s into *o (runs on s's checker thread, no lock held). */
static void run_check(mon_server *s, rwp_obs *o)
{
    rwp_monitor *m = s->m;
    int64_t t0 = mon_mono_ms();
    memset(o, 0, sizeof *o);
    o->read_only = -1;
    if (!s->check_conn)
        s->check_conn = mon_sql_connect(m->cfg, s->cfg, mon_sql_timeout_s(m->cfg), o->error,
                                        sizeof o->error);
    if (s->check_conn && mon_sql_observe(s->check_conn, o) == 0)
        o->ok = 1;
    else if (s->check_conn)
        close_check_conn(s); /* reconnect next time: the connection may be half dead */
    if (!o->ok)
        log_debug("monitor: %s: check failed: %s", s->cfg->name, o->error);
    o->checked_ms = mon_wall_ms();
    o->check_ms = (int)(mon_mono_ms() - t0);
}

/* Publish a finished check (mu held). */
static void post_result(mon_server *s, const rwp_obs *o)
{
    s->result = *o;
    s->result_seq++;
    s->done_round = s->seen_round;
    s->busy = 0;
    s->check_conn_id = s->check_conn ? mysql_thread_id(s->check_conn) : 0;
    pthread_cond_signal(&s->m->coord_cv);
}

static void *checker_main(void *arg)
{
    mon_server *s = arg;
    rwp_monitor *m = s->m;
    rwp_obs o;
    mysql_thread_init();
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        if (m->round <= s->seen_round) {
            pthread_cond_wait(&m->work_cv, &m->mu);
            continue;
        }
        s->seen_round = m->round;
        if (s->no_checks) { /* a reload removed it: no check, no connection left open */
            s->done_round = s->seen_round;
            s->check_conn_id = 0;
            pthread_mutex_unlock(&m->mu);
            close_check_conn(s);
            pthread_mutex_lock(&m->mu);
            pthread_cond_signal(&m->coord_cv);
            continue;
        }
        s->busy = 1;
        s->busy_since_ms = mon_mono_ms();
        pthread_mutex_unlock(&m->mu);
        run_check(s, &o);
        pthread_mutex_lock(&m->mu);
        post_result(s, &o);
    }
    pthread_mutex_unlock(&m->mu);
    close_check_conn(s);
    mysql_thread_end();
    return NULL;
}

int mon_chk_start_one(rwp_monitor *m, int i)
{
    if (pthread_create(&m->srv[i].thread, NULL, checker_main, &m->srv[i]) != 0) {
        log_error("monitor: cannot start the checker thread of %s", m->srv[i].cfg->name);
        return -1;
    }
    m->srv[i].thread_started = 1;
    return 0;
}

int mon_chk_start(rwp_monitor *m)
{
    for (int i = 0; i < m->n; i++)
        if (mon_chk_start_one(m, i) != 0)
            return -1;
    return 0;
}

void mon_chk_join(rwp_monitor *m)
{
    for (int i = 0; i < m->n; i++) {
        if (m->srv[i].thread_started)
            pthread_join(m->srv[i].thread, NULL);
        m->srv[i].thread_started = 0;
    }
}

/* 1 when every server finished round r, or is stuck in an older one (mu held). */
static int round_complete(const rwp_monitor *m, uint64_t r)
{
    for (int i = 0; i < m->n; i++) {
        const mon_server *s = &m->srv[i];
        int stuck_in_older = s->busy && s->seen_round < r;
        if (s->done_round < r && !stuck_in_older)
            return 0;
    }
    return 1;
}

uint64_t mon_chk_round(rwp_monitor *m, int64_t deadline_ms)
{
    struct timespec ts;
    mon_deadline_ts(deadline_ms, &ts);
    pthread_mutex_lock(&m->mu);
    uint64_t r = ++m->round;
    pthread_cond_broadcast(&m->work_cv);
    while (!m->stop && !round_complete(m, r) && mon_mono_ms() < deadline_ms)
        pthread_cond_timedwait(&m->coord_cv, &m->mu, &ts);
    pthread_mutex_unlock(&m->mu);
    return r;
}
