/*
 * proxy/users.c — credentials for logins and the backend account loader (see users.h).
 *
 * The loader thread sleeps on a condition variable until a load is requested. A request
 * bumps `requested`; a load serves every request made before it started and, when it ends
 * (well or not), publishes `done` = the request generation it served, so a login waiting for
 * "a load that started after my failure" knows when to look again. The account table is
 * replaced whole under `mu`; a lookup copies what it needs out under the same mutex.
 */
#include "proxy/users.h"

#include <errno.h>
#include <mysql.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/log.h"
#include "proxy/monitor_int.h"
#include "proxy/users_match.h"
#include "proxy/worker.h"

/* The accounts of the master, sorted for rwp_accounts_find. */
typedef struct {
    rwp_account *acc;          /* accounts in match order */
    size_t n;                  /* how many */
} account_table;

struct rwp_users {
    rwp_proxy *proxy;          /* configuration (under reload_mu) and topology */
    pthread_t thread;          /* the loader */
    int thread_started;        /* thread is joinable */
    pthread_mutex_t mu;        /* guards everything below but `done` */
    pthread_cond_t wake;       /* the loader waits on it for requests / stop */
    pthread_cond_t finished;   /* broadcast after each load */
    int stop;                  /* the loader must exit */
    uint64_t requested;        /* generation of the newest load request */
    uint64_t running;          /* generation a running load serves (0 = none running) */
    atomic_uint_fast64_t done; /* generation served by the last finished load */
    uint64_t last_failure_ms;  /* monotonic ms of the last load a failed login caused (0 = never) */
    account_table table;       /* the current accounts (empty before the first load) */
    int loaded;                /* a load has succeeded at least once */
    int last_count;            /* accounts of the last successful load (-1 after a failed one) */
    char last_msg[256];        /* summary or error of the last load */
};

#define LOAD_SQL                                                                               \
    "SELECT User, Host, JSON_VALUE(Priv, '$.plugin'), "                                        \
    "JSON_VALUE(Priv, '$.authentication_string'), "                                            \
    "IFNULL(JSON_VALUE(Priv, '$.account_locked'), 'false'), "                                  \
    "IFNULL(JSON_VALUE(Priv, '$.password_last_changed'), '1'), "                               \
    "IFNULL(JSON_VALUE(Priv, '$.is_role'), 'false') FROM mysql.global_priv"

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The configuration in force (retired ones live until exit, so the pointer stays valid). */
static const rwp_config *current_config(rwp_proxy *p)
{
    pthread_mutex_lock(&p->reload_mu);
    const rwp_config *cfg = p->cfg;
    pthread_mutex_unlock(&p->reload_mu);
    return cfg;
}

static void table_free(account_table *t)
{
    if (t->acc)
        explicit_bzero(t->acc, t->n * sizeof *t->acc);
    free(t->acc);
    t->acc = NULL;
    t->n = 0;
}

/* A JSON boolean as JSON_VALUE returns it ("1" on MariaDB 10.11; "true" accepted too). */
static int json_true(const char *v)
{
    return v && (!strcmp(v, "1") || !strcmp(v, "true"));
}

/* One mysql.global_priv row into an account; 0, or -1 for a row that is not a login account. */
static int row_to_account(MYSQL_ROW row, rwp_account *a)
{
    if (!row[0] || !row[1] || strlen(row[0]) >= sizeof a->user || strlen(row[1]) >= sizeof a->host)
        return -1;
    if (json_true(row[6]))
        return -1; /* a role */
    memset(a, 0, sizeof *a);
    snprintf(a->user, sizeof a->user, "%s", row[0]);
    snprintf(a->host, sizeof a->host, "%s", row[1]);
    int locked = json_true(row[4]);
    int expired = row[5] && !strcmp(row[5], "0");
    rwp_account_set_auth(a, row[2], row[3] ? row[3] : "", locked, expired);
    return 0;
}

/* Read the accounts through an open connection into t. 0, or -1 with err. */
static int read_accounts(MYSQL *m, account_table *t, char *err, size_t cap)
{
    if (mysql_query(m, LOAD_SQL) != 0) {
        snprintf(err, cap, "%u: %s", mysql_errno(m), mysql_error(m));
        return -1;
    }
    MYSQL_RES *res = mysql_store_result(m);
    if (!res) {
        snprintf(err, cap, "%u: %s", mysql_errno(m), mysql_error(m));
        return -1;
    }
    size_t rows = (size_t)mysql_num_rows(res);
    t->acc = calloc(rows ? rows : 1, sizeof *t->acc);
    t->n = 0;
    if (!t->acc) {
        mysql_free_result(res);
        snprintf(err, cap, "out of memory");
        return -1;
    }
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res)) != NULL && t->n < rows)
        if (row_to_account(row, &t->acc[t->n]) == 0)
            t->n++;
    mysql_free_result(res);
    rwp_accounts_sort(t->acc, t->n);
    return 0;
}

/* Servers to try, the master first: fills order[] with indexes, returns how many. */
static int servers_to_try(rwp_proxy *p, const rwp_config *cfg, int *order)
{
    int n = 0, writer = -1;
    rwp_topology *t = rwp_topo_acquire(&p->topo);
    if (t) {
        writer = t->writer < cfg->nservers ? t->writer : -1;
        rwp_topo_release(t);
    }
    if (writer >= 0)
        order[n++] = writer;
    for (int i = 0; i < cfg->nservers && n < RWP_MAX_SERVERS; i++)
        if (i != writer && !cfg->servers[i].removed) /* a reload removed it: never asked */
            order[n++] = i;
    return n;
}

/* Load the accounts from the first server that answers. 0 with *t, or -1 with msg. */
static int load_accounts(rwp_proxy *p, const rwp_config *cfg, account_table *t, char *msg,
                         size_t cap)
{
    int order[RWP_MAX_SERVERS];
    int n = servers_to_try(p, cfg, order);
    char err[256] = "no server configured";
    for (int k = 0; k < n; k++) {
        const rwp_server_cfg *s = &cfg->servers[order[k]];
        MYSQL *m = mon_sql_connect(cfg, s, mon_sql_timeout_s(cfg), err, sizeof err);
        if (!m)
            continue;
        int rc = read_accounts(m, t, err, sizeof err);
        mysql_close(m);
        if (rc == 0) {
            snprintf(msg, cap, "%zu accounts loaded from %s", t->n, s->name);
            return 0;
        }
        table_free(t);
    }
    snprintf(msg, cap, "backend accounts not loaded: %.200s", err);
    return -1;
}

/* One load, on the loader thread, outside the mutex. */
static void run_load(rwp_users *u)
{
    const rwp_config *cfg = current_config(u->proxy);
    account_table t = {0};
    char msg[256];
    int rc;
    if (!cfg->users_from_backend) {
        snprintf(msg, sizeof msg, "users_from_backend is off");
        rc = -1;
    } else {
        rc = load_accounts(u->proxy, cfg, &t, msg, sizeof msg);
    }
    if (rc == 0)
        log_info("users_from_backend: %s", msg);
    else if (cfg->users_from_backend)
        log_warn("users_from_backend: %s", msg);
    pthread_mutex_lock(&u->mu);
    if (rc == 0) {
        table_free(&u->table);
        u->table = t;
        u->loaded = 1;
        u->last_count = (int)t.n;
    } else {
        u->last_count = -1;
    }
    snprintf(u->last_msg, sizeof u->last_msg, "%s", msg);
    pthread_mutex_unlock(&u->mu);
}

static void *loader_main(void *arg)
{
    rwp_users *u = arg;
    pthread_mutex_lock(&u->mu);
    for (;;) {
        while (!u->stop && u->requested == atomic_load(&u->done))
            pthread_cond_wait(&u->wake, &u->mu);
        if (u->stop)
            break;
        u->running = u->requested;
        pthread_mutex_unlock(&u->mu);
        run_load(u);
        pthread_mutex_lock(&u->mu);
        atomic_store(&u->done, u->running);
        u->running = 0;
        pthread_cond_broadcast(&u->finished);
    }
    pthread_mutex_unlock(&u->mu);
    return NULL;
}

rwp_users *rwp_users_start(rwp_proxy *p)
{
    rwp_users *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->proxy = p;
    u->last_count = -1;
    atomic_init(&u->done, 0);
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->wake, NULL);
    pthread_cond_init(&u->finished, NULL);
    if (p->cfg->users_from_backend)
        u->requested = 1; /* the first load, at once */
    if (pthread_create(&u->thread, NULL, loader_main, u) != 0) {
        rwp_users_stop(u);
        return NULL;
    }
    u->thread_started = 1;
    return u;
}

void rwp_users_stop(rwp_users *u)
{
    if (!u)
        return;
    pthread_mutex_lock(&u->mu);
    u->stop = 1;
    pthread_cond_broadcast(&u->wake);
    pthread_cond_broadcast(&u->finished);
    pthread_mutex_unlock(&u->mu);
    if (u->thread_started)
        pthread_join(u->thread, NULL);
    table_free(&u->table);
    pthread_cond_destroy(&u->wake);
    pthread_cond_destroy(&u->finished);
    pthread_mutex_destroy(&u->mu);
    free(u);
}

/* Credentials of a [user.NAME] section. */
static void cred_from_config(const rwp_user_cfg *uc, rwp_cred *cred)
{
    memset(cred, 0, sizeof *cred);
    cred->has_password = uc->has_password;
    memcpy(cred->h2, uc->h2, sizeof cred->h2);
    cred->has_clear = uc->has_h1;
    memcpy(cred->h1, uc->h1, sizeof cred->h1);
    memcpy(cred->sha2, uc->sha2, sizeof cred->sha2);
    cred->max_connections = uc->max_connections;
}

/* Credentials of a backend account (caller holds u->mu). */
static rwp_cred_status cred_from_account(const rwp_account *a, rwp_cred *cred, char *why,
                                         size_t whycap)
{
    memset(cred, 0, sizeof *cred);
    snprintf(cred->account, sizeof cred->account, "'%s'@'%s'", a->user, a->host);
    cred->from_backend = 1;
    if (!a->usable) {
        if (why)
            snprintf(why, whycap, "%s: %s", cred->account, a->why);
        return RWP_CRED_REFUSED;
    }
    cred->has_password = a->has_password;
    memcpy(cred->h2, a->h2, sizeof cred->h2);
    return RWP_CRED_OK;
}

rwp_cred_status rwp_users_lookup(rwp_users *u, const rwp_config *cfg, const char *user,
                                 const char *ip, rwp_cred *cred, char *why, size_t whycap)
{
    if (why && whycap)
        why[0] = '\0';
    const rwp_user_cfg *uc = rwp_config_find_user(cfg, user, strlen(user));
    if (uc) {
        cred_from_config(uc, cred);
        return RWP_CRED_OK;
    }
    if (!u || !cfg->users_from_backend)
        return RWP_CRED_NONE;
    rwp_cred_status st = RWP_CRED_NONE;
    pthread_mutex_lock(&u->mu);
    const rwp_account *a = rwp_accounts_find(u->table.acc, u->table.n, user, ip);
    if (a)
        st = cred_from_account(a, cred, why, whycap);
    pthread_mutex_unlock(&u->mu);
    return st;
}

int rwp_users_refresh_after_failure(rwp_users *u, const rwp_config *cfg, uint64_t *wait_gen)
{
    if (!u || !cfg->users_from_backend)
        return 0;
    uint64_t now = monotonic_ms(), interval = (uint64_t)cfg->users_refresh_interval_s * 1000;
    int rc = 0;
    pthread_mutex_lock(&u->mu);
    if (u->last_failure_ms == 0 || now - u->last_failure_ms >= interval) {
        u->last_failure_ms = now ? now : 1;
        if (u->requested == u->running || u->requested == atomic_load(&u->done))
            u->requested++; /* nothing queued that starts after this failure: queue a load */
        pthread_cond_signal(&u->wake);
    }
    if (u->requested > atomic_load(&u->done)) {
        *wait_gen = u->requested;
        rc = 1;
    }
    pthread_mutex_unlock(&u->mu);
    return rc;
}

uint64_t rwp_users_done(rwp_users *u)
{
    return u ? atomic_load(&u->done) : 0;
}

/* Absolute CLOCK_REALTIME deadline timeout_ms from now (pthread_cond_timedwait's clock). */
static struct timespec deadline_in(int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int rwp_users_reload(rwp_users *u, int timeout_ms, char *msg, size_t cap)
{
    if (!u) {
        snprintf(msg, cap, "backend accounts: loader not running");
        return -1;
    }
    if (!current_config(u->proxy)->users_from_backend) {
        snprintf(msg, cap, "users_from_backend is off");
        return -1;
    }
    struct timespec until = deadline_in(timeout_ms);
    pthread_mutex_lock(&u->mu);
    if (u->requested == u->running || u->requested == atomic_load(&u->done))
        u->requested++; /* a load that starts after the new configuration is in place */
    uint64_t want = u->requested;
    pthread_cond_signal(&u->wake);
    int rc = 0;
    while (!u->stop && atomic_load(&u->done) < want && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&u->finished, &u->mu, &until);
    int count = -1;
    if (atomic_load(&u->done) >= want) {
        count = u->last_count;
        snprintf(msg, cap, "%s", u->last_msg);
    } else {
        snprintf(msg, cap, "backend accounts: the load did not finish within %d ms", timeout_ms);
    }
    pthread_mutex_unlock(&u->mu);
    return count;
}
