/*
 * cli/drill.c — `rwproxyctl drill switchover|failover`: a rehearsal of a topology change while
 * the CLI writes marker rows through rwproxy, ending with a report (shared/design/failover.md,
 * section Drills; usage in docs/rwproxyctl.md).
 *
 * Threads: the marker writer (its own libmysqlclient connection through rwproxy's client
 * port: one autocommit INSERT of the next sequential id every interval_ms; on error it
 * records the error, reconnects and goes on) and the watcher (SHOW SERVERS every ~200 ms on
 * its own admin connection: the current master, and the live progress line on stderr when
 * that is a terminal). The main thread creates the table, runs the event (SWITCHOVER on the
 * admin port, or stops the master: SQL SHUTDOWN as the [monitor] user or [drill]
 * stop_command), waits for a new master and for ~1 s of acknowledged writes after it, then
 * gathers the report: the event's steps from SHOW EVENTS (detected = the event's start,
 * promoted = end of its "promote NAME" step), the acknowledged markers (write pause = the
 * longest gap between two consecutive acknowledgements from the last one before the event
 * on), the acknowledged ids missing on the new master (read there directly as the monitor
 * user), @@read_only of every server read directly, and each replica's source and lag from
 * SHOW SERVERS.
 *
 * Exit status 0 only if a new master took writes, no acknowledged marker is missing on it
 * and exactly one server is writable.
 */
#include "cli/ctl.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define WARMUP_MS 500          /* markers written before the event */
#define WARMUP_LIMIT_MS 10000  /* no acknowledged marker by then: give up */
#define STABLE_MS 1000         /* acknowledged writes on the new master before stopping */
#define WATCH_MS 200           /* SHOW SERVERS poll period */
#define SETTLE_MS 15000        /* longest wait for replicas to follow the new master */
#define EVENT_WAIT_MS 10000    /* longest wait for the event to show finished in SHOW EVENTS */
#define MAX_ERR_KINDS 16
#define MAX_MISSING_SHOWN 20

/* ---- the marker writer ---- */

typedef struct {
    int64_t id;       /* marker id */
    int64_t send_us;  /* monotonic time the INSERT was sent */
    int64_t done_us;  /* monotonic time its OK arrived */
} ack_t;

typedef struct {
    unsigned code;    /* MySQL error number (0: unknown) */
    char msg[200];    /* its text */
    long count;       /* how often */
    int connect;      /* 1 if it happened while connecting */
    int64_t first_us; /* first seen */
} err_kind;

typedef struct {
    const ctl_opts *o;
    char qtable[160];          /* `schema`.`table` */
    int64_t first_id;          /* first id of this drill */
    int64_t next_id;           /* next id to write (writer thread only) */
    pthread_mutex_t mu;        /* guards everything below */
    ack_t *acks;               /* acknowledged markers, in order */
    size_t nacks, cap;
    long attempts;             /* INSERTs sent */
    long errors;               /* INSERTs that failed */
    long connect_errors;       /* failed (re)connections */
    long connects;             /* successful connections */
    int64_t last_id_tried;     /* highest id sent */
    err_kind kinds[MAX_ERR_KINDS];
    int nkinds;
    int oom;                   /* 1 if an ack could not be recorded */
    atomic_int stop;           /* set by the main thread */
    pthread_t th;
} writer_t;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* With w->mu held. */
static void record_err(writer_t *w, unsigned code, const char *msg, int connect, int64_t now)
{
    for (int i = 0; i < w->nkinds; i++)
        if (w->kinds[i].code == code && w->kinds[i].connect == connect &&
            !strncmp(w->kinds[i].msg, msg, sizeof w->kinds[i].msg - 1)) {
            w->kinds[i].count++;
            return;
        }
    if (w->nkinds == MAX_ERR_KINDS) { /* fold the rest into the last kind */
        w->kinds[MAX_ERR_KINDS - 1].count++;
        return;
    }
    err_kind *k = &w->kinds[w->nkinds++];
    k->code = code;
    snprintf(k->msg, sizeof k->msg, "%s", msg);
    k->count = 1;
    k->connect = connect;
    k->first_us = now;
}

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    const ctl_opts *o = w->o;
    mysql_thread_init();
    MYSQL *c = NULL;
    char sql[256];
    while (!atomic_load(&w->stop)) {
        if (!c) {
            c = mysql_init(NULL);
            unsigned int proto = MYSQL_PROTOCOL_TCP, cto = 2, rto = 60;
            mysql_options(c, MYSQL_OPT_PROTOCOL, &proto);
            mysql_options(c, MYSQL_OPT_CONNECT_TIMEOUT, &cto);
            mysql_options(c, MYSQL_OPT_READ_TIMEOUT, &rto);
            mysql_options(c, MYSQL_OPT_WRITE_TIMEOUT, &rto);
            if (!mysql_real_connect(c, o->proxy_host, o->drill_user, o->drill_password, NULL,
                                    (unsigned)o->proxy_port, NULL, 0)) {
                pthread_mutex_lock(&w->mu);
                w->connect_errors++;
                record_err(w, mysql_errno(c), mysql_error(c), 1, ctl_mono_us());
                pthread_mutex_unlock(&w->mu);
                mysql_close(c);
                c = NULL;
                sleep_ms(20);
                continue;
            }
            pthread_mutex_lock(&w->mu);
            w->connects++;
            pthread_mutex_unlock(&w->mu);
        }
        int64_t id = w->next_id++;
        snprintf(sql, sizeof sql, "INSERT INTO %s (id, at) VALUES (%lld, NOW(6))", w->qtable,
                 (long long)id);
        int64_t t0 = ctl_mono_us();
        int rc = mysql_query(c, sql);
        int64_t t1 = ctl_mono_us();
        pthread_mutex_lock(&w->mu);
        w->attempts++;
        w->last_id_tried = id;
        if (rc == 0) {
            if (w->nacks == w->cap) {
                size_t ncap = w->cap ? w->cap * 2 : 4096;
                ack_t *na = realloc(w->acks, ncap * sizeof *na);
                if (na) {
                    w->acks = na;
                    w->cap = ncap;
                }
            }
            if (w->nacks < w->cap)
                w->acks[w->nacks++] = (ack_t){id, t0, t1};
            else
                w->oom = 1;
        } else {
            w->errors++;
            record_err(w, mysql_errno(c), mysql_error(c), 0, t1);
        }
        pthread_mutex_unlock(&w->mu);
        if (rc != 0) { /* record, reconnect, go on */
            mysql_close(c);
            c = NULL;
        }
        if (o->interval_ms > 0)
            sleep_ms(o->interval_ms);
    }
    if (c)
        mysql_close(c);
    mysql_thread_end();
    return NULL;
}

/* ---- the watcher: SHOW SERVERS every WATCH_MS, progress line ---- */

typedef struct {
    const ctl_opts *o;
    writer_t *w;
    const char *label;         /* "drill switchover" */
    int tty;                   /* stderr is a terminal: draw the progress line */
    int64_t t0_us;             /* drill start */
    pthread_mutex_t mu;        /* guards the fields below */
    char master[64];           /* current master ("" none, "?" admin port not answering) */
    char old_master[64];       /* master before the event */
    int64_t changed_us;        /* first time a master other than old_master was seen, 0 yet */
    int armed;                 /* 1 once the event started: changes count from then */
    char phase[64];            /* what the drill is doing */
    atomic_int stop;
    pthread_t th;
} watcher_t;

static void watcher_set_phase(watcher_t *x, const char *phase)
{
    pthread_mutex_lock(&x->mu);
    snprintf(x->phase, sizeof x->phase, "%s", phase);
    pthread_mutex_unlock(&x->mu);
}

static void *watcher_main(void *arg)
{
    watcher_t *x = arg;
    mysql_thread_init();
    MYSQL *c = NULL;
    char err[1024];
    while (!atomic_load(&x->stop)) {
        int64_t tick = ctl_mono_us();
        char master[64] = "?";
        if (!c)
            c = ctl_admin_connect(x->o, 5, err, sizeof err);
        if (c) {
            ctl_rs rs;
            if (ctl_query(c, "SHOW SERVERS", &rs, err, sizeof err) == 0) {
                master[0] = '\0';
                for (int r = 0; r < rs.nrows; r++)
                    if (!strcasecmp(ctl_rs_str(&rs, r, "role"), "master")) {
                        snprintf(master, sizeof master, "%s", ctl_rs_str(&rs, r, "name"));
                        break;
                    }
                ctl_rs_free(&rs);
            } else {
                mysql_close(c);
                c = NULL;
            }
        }
        pthread_mutex_lock(&x->mu);
        snprintf(x->master, sizeof x->master, "%s", master);
        if (x->armed && !x->changed_us && master[0] && strcmp(master, "?") &&
            strcmp(master, x->old_master))
            x->changed_us = ctl_mono_us();
        char phase[64];
        snprintf(phase, sizeof phase, "%s", x->phase);
        pthread_mutex_unlock(&x->mu);
        if (x->tty) {
            pthread_mutex_lock(&x->w->mu);
            size_t acked = x->w->nacks;
            long errors = x->w->errors + x->w->connect_errors;
            pthread_mutex_unlock(&x->w->mu);
            double el = (double)(ctl_mono_us() - x->t0_us) / 1e6;
            fprintf(stderr, "\r\033[K%s  %6.1f s  markers %zu  errors %ld  master %s  %s", x->label,
                    el, acked, errors, master[0] ? master : "(none)", phase);
            fflush(stderr);
        }
        int64_t left = WATCH_MS * 1000 - (ctl_mono_us() - tick);
        while (left > 0 && !atomic_load(&x->stop)) {
            sleep_ms(left > 50000 ? 50 : (int)(left / 1000) + 1);
            left = WATCH_MS * 1000 - (ctl_mono_us() - tick);
        }
    }
    if (c)
        mysql_close(c);
    if (x->tty) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
    mysql_thread_end();
    return NULL;
}

/* ---- helpers ---- */

static int valid_ident(const char *s)
{
    if (!*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '$')
            return 0;
    return 1;
}

/* Host and port of a SHOW SERVERS row ("address" = host:port). */
static int row_hostport(const ctl_rs *rs, int r, char *host, size_t hl, int *port)
{
    *port = 3306;
    return ctl_parse_hostport(ctl_rs_str(rs, r, "address"), host, hl, port);
}

static int find_row(const ctl_rs *rs, const char *col, const char *val)
{
    for (int r = 0; r < rs->nrows; r++)
        if (!strcasecmp(ctl_rs_str(rs, r, col), val))
            return r;
    return -1;
}

static int show_servers(const ctl_opts *o, ctl_rs *rs, char *err, size_t errlen)
{
    char e[1024];
    MYSQL *c = ctl_admin_connect(o, 10, err, errlen);
    if (!c)
        return -1;
    int rc = ctl_query(c, "SHOW SERVERS", rs, e, sizeof e);
    if (rc != 0)
        snprintf(err, errlen, "SHOW SERVERS: %.900s", e);
    mysql_close(c);
    return rc;
}

/* A connection straight to a server as the [monitor] user. */
static MYSQL *mon_connect(const ctl_opts *o, const char *host, int port, int read_to, char *err,
                          size_t errlen)
{
    return ctl_connect(host, port, o->mon_user, o->mon_password, 2, read_to, err, errlen);
}

/* ---- stopping the master (drill failover) ---- */

/* Run stop_command with /bin/sh -c, RWP_MASTER_NAME/HOST/PORT in its environment; waits up to
 * limit_ms (then SIGTERM to its process group). 0 if it exited 0. */
static int run_stop_command(const char *cmd, const char *name, const char *host, int port,
                            int limit_ms, char *err, size_t errlen)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = calloc(n + 4, sizeof *envp);
    char e1[128], e2[300], e3[64];
    if (!envp) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(e1, sizeof e1, "RWP_MASTER_NAME=%s", name);
    snprintf(e2, sizeof e2, "RWP_MASTER_HOST=%s", host);
    snprintf(e3, sizeof e3, "RWP_MASTER_PORT=%d", port);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "RWP_MASTER_", 11))
            envp[k++] = environ[i];
    envp[k++] = e1;
    envp[k++] = e2;
    envp[k++] = e3;
    envp[k] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        free(envp);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        char *const argv[] = {"sh", "-c", (char *)cmd, NULL};
        execve("/bin/sh", argv, envp);
        _exit(127);
    }
    free(envp);
    int64_t deadline = ctl_mono_us() + (int64_t)limit_ms * 1000;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            snprintf(err, errlen, "waitpid: %s", strerror(errno));
            return -1;
        }
        if (ctl_mono_us() > deadline) {
            kill(-pid, SIGTERM);
            waitpid(pid, &status, 0);
            snprintf(err, errlen, "stop_command did not finish within %d s", limit_ms / 1000);
            return -1;
        }
        sleep_ms(20);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        snprintf(err, errlen, "stop_command exited %d", WEXITSTATUS(status));
    else
        snprintf(err, errlen, "stop_command killed by signal %d", WTERMSIG(status));
    return -1;
}

/* SQL SHUTDOWN on host:port as the monitor user. A lost connection counts as done. */
static int sql_shutdown(const ctl_opts *o, const char *host, int port, char *err, size_t errlen)
{
    char e[512];
    MYSQL *c = mon_connect(o, host, port, 30, e, sizeof e);
    if (!c) {
        snprintf(err, errlen, "cannot connect to the master %s:%d as %s: %s", host, port,
                 o->mon_user, e);
        return -1;
    }
    int rc = 0;
    if (mysql_query(c, "SHUTDOWN") != 0) {
        unsigned code = mysql_errno(c);
        if (code != 2013 && code != 2006 && code != 2026) {
            snprintf(err, errlen, "SHUTDOWN on %s:%d as %s: %s (%u)", host, port, o->mon_user,
                     mysql_error(c), code);
            rc = -1;
        }
    }
    mysql_close(c);
    return rc;
}

/* ---- the event in SHOW EVENTS ---- */

typedef struct {
    int found;               /* 1 if the event was found */
    long number;             /* its `event` */
    char type[32], from[64], to[64], outcome[300];
    int64_t started_ms;      /* wall ms */
    long event_ms;           /* -1 while running */
    int64_t promoted_ms;     /* wall ms at the end of "promote NAME", -1 if none */
    int ok;                  /* the event succeeded (outcome known, no step failed fatally) */
    ctl_rs rows;             /* its step rows */
} event_t;

/* Look for the newest event of type started at or after since_ms - 2 s. 1 found and finished,
 * 0 not (yet), -1 admin error. */
static int load_event(const ctl_opts *o, const char *type, int64_t since_ms, event_t *ev,
                      char *err, size_t errlen)
{
    char e[1024];
    MYSQL *c = ctl_admin_connect(o, 10, err, errlen);
    if (!c)
        return -1;
    ctl_rs rs;
    if (ctl_query(c, "SHOW EVENTS", &rs, e, sizeof e) != 0) {
        snprintf(err, errlen, "SHOW EVENTS: %.900s", e);
        mysql_close(c);
        return -1;
    }
    mysql_close(c);
    long best = -1;
    for (int r = 0; r < rs.nrows; r++) {
        if (strcasecmp(ctl_rs_str(&rs, r, "type"), type))
            continue;
        int64_t st = ctl_parse_time_ms(ctl_rs_get(&rs, r, "started_at"));
        long num = atol(ctl_rs_str(&rs, r, "event"));
        if (st >= since_ms - 2000 && num > best)
            best = num;
    }
    if (best < 0) {
        ctl_rs_free(&rs);
        return 0;
    }
    /* keep only this event's rows */
    ctl_rs_free(&ev->rows);
    memset(ev, 0, sizeof *ev);
    ev->rows.ncols = rs.ncols;
    ev->rows.cols = rs.cols;
    ev->rows.numeric = rs.numeric;
    ev->rows.rows = calloc((size_t)rs.nrows + 1, sizeof *ev->rows.rows);
    ev->promoted_ms = -1;
    ev->event_ms = -1;
    ev->number = best;
    ev->found = 1;
    for (int r = 0; r < rs.nrows; r++) {
        if (atol(ctl_rs_str(&rs, r, "event")) != best || !ev->rows.rows) {
            for (int i = 0; i < rs.ncols; i++)
                free(rs.rows[r][i]);
            free(rs.rows[r]);
            continue;
        }
        ev->rows.rows[ev->rows.nrows++] = rs.rows[r];
    }
    free(rs.rows);
    const ctl_rs *x = &ev->rows;
    if (x->nrows == 0)
        return 0;
    snprintf(ev->type, sizeof ev->type, "%s", ctl_rs_str(x, 0, "type"));
    snprintf(ev->from, sizeof ev->from, "%s", ctl_rs_str(x, 0, "from"));
    snprintf(ev->to, sizeof ev->to, "%s", ctl_rs_str(x, 0, "to"));
    snprintf(ev->outcome, sizeof ev->outcome, "%s", ctl_rs_str(x, 0, "outcome"));
    ev->started_ms = ctl_parse_time_ms(ctl_rs_get(x, 0, "started_at"));
    const char *em = ctl_rs_get(x, 0, "event_ms");
    if (em && ctl_is_json_number(em))
        ev->event_ms = atol(em);
    for (int r = 0; r < x->nrows; r++) {
        const char *step = ctl_rs_str(x, r, "step");
        if (!strncmp(step, "promote ", 8) && !strcmp(ctl_rs_str(x, r, "ok"), "1")) {
            int64_t at = ctl_parse_time_ms(ctl_rs_get(x, r, "step_at"));
            if (at >= 0)
                ev->promoted_ms = at + atol(ctl_rs_str(x, r, "step_ms"));
        }
    }
    return ev->event_ms >= 0 || ev->outcome[0] ? 1 : 0;
}

/* ---- report ---- */

typedef struct {
    char name[64], address[300], role[32], state[32], source[300], lag[32], gtid[512];
    int reachable;           /* the monitor user could connect */
    int read_only;           /* @@read_only read directly (-1 unknown) */
    char error[300];         /* why not reachable */
    int follows;             /* replica whose source is the new master's address */
} srv_report;

typedef struct {
    const char *kind;
    int ok;                            /* exit status 0 */
    char verdict[512];
    char started_at[40];               /* wall time of the event start */
    char old_master[64], old_address[300], old_gtid[512];
    char new_master[64], new_address[300], new_gtid[512];
    char action[600];                  /* what was done ("SWITCHOVER: OK ...", "SQL SHUTDOWN") */
    int action_ok;
    int new_master_seen;               /* a new master appeared */
    event_t ev;
    long detected_ms, promoted_ms, first_write_ms; /* relative to the event start; -1 unknown */
    long pause_ms, pause_from_ms, pause_to_ms;
    size_t acked;
    long attempts, errors, connect_errors;
    int64_t first_id, last_id;
    long missing;                      /* -1: could not check */
    int64_t missing_ids[MAX_MISSING_SHOWN];
    int nmissing_ids;
    long errored_present;              /* failed writes found committed on the new master */
    char missing_err[400];
    int writable;                      /* servers with @@read_only = 0 (read directly) */
    int unreachable;
    srv_report *srv;
    int nsrv;
    int replicas_follow;               /* every reachable replica follows the new master */
    long duration_ms;
} report_t;

static void json_kv_long(FILE *f, const char *k, long v, int unknown_is_null)
{
    fprintf(f, ",\n  \"%s\": ", k);
    if (unknown_is_null && v < 0)
        fputs("null", f);
    else
        fprintf(f, "%ld", v);
}

static void json_kv_str(FILE *f, const char *k, const char *v)
{
    fprintf(f, ",\n  \"%s\": ", k);
    ctl_json_str(f, v && *v ? v : NULL);
}


/* {"name": ..., "address": ..., "gtid_current_pos": ...} of a master in the JSON report. */
static void json_master(FILE *f, const char *name, const char *address, const char *gtid)
{
    fprintf(f, "{\"name\": ");
    ctl_json_str(f, name);
    fprintf(f, ", \"address\": ");
    ctl_json_str(f, address);
    fprintf(f, ", \"gtid_current_pos\": ");
    ctl_json_str(f, gtid);
    fprintf(f, "}");
}

static void print_json(const report_t *r, const writer_t *w)
{
    FILE *f = stdout;
    fprintf(f, "{\n  \"drill\": ");
    ctl_json_str(f, r->kind);
    fprintf(f, ",\n  \"ok\": %s", r->ok ? "true" : "false");
    json_kv_str(f, "verdict", r->verdict);
    json_kv_str(f, "started_at", r->started_at);
    json_kv_str(f, "action", r->action);
    fprintf(f, ",\n  \"action_ok\": %s", r->action_ok ? "true" : "false");
    fprintf(f, ",\n  \"old_master\": ");
    json_master(f, r->old_master, r->old_address, r->old_gtid);
    fprintf(f, ",\n  \"new_master\": ");
    if (r->new_master[0])
        json_master(f, r->new_master, r->new_address, r->new_gtid);
    else
        fputs("null", f);
    json_kv_long(f, "detected_at_ms", r->detected_ms, 1);
    json_kv_long(f, "promoted_at_ms", r->promoted_ms, 1);
    json_kv_long(f, "first_write_accepted_at_ms", r->first_write_ms, 1);
    json_kv_long(f, "write_pause_ms", r->pause_ms, 1);
    json_kv_long(f, "write_pause_from_ms", r->pause_from_ms, 1);
    json_kv_long(f, "write_pause_to_ms", r->pause_to_ms, 1);
    json_kv_long(f, "markers_written", r->attempts, 0);
    json_kv_long(f, "markers_acknowledged", (long)r->acked, 0);
    json_kv_long(f, "first_marker_id", (long)r->first_id, 0);
    json_kv_long(f, "last_marker_id", (long)r->last_id, 0);
    json_kv_long(f, "writer_errors", r->errors, 0);
    json_kv_long(f, "writer_connect_errors", r->connect_errors, 0);
    fprintf(f, ",\n  \"errors\": [");
    for (int i = 0; i < w->nkinds; i++) {
        const err_kind *k = &w->kinds[i];
        fprintf(f, "%s{\"code\": %u, \"message\": ", i ? ", " : "", k->code);
        ctl_json_str(f, k->msg);
        fprintf(f, ", \"count\": %ld, \"connect\": %s}", k->count, k->connect ? "true" : "false");
    }
    fprintf(f, "]");
    json_kv_long(f, "markers_missing", r->missing, 1);
    fprintf(f, ",\n  \"missing_ids\": [");
    for (int i = 0; i < r->nmissing_ids; i++)
        fprintf(f, "%s%lld", i ? ", " : "", (long long)r->missing_ids[i]);
    fprintf(f, "]");
    json_kv_str(f, "missing_check_error", r->missing_err);
    json_kv_long(f, "failed_writes_committed", r->errored_present, 1);
    json_kv_long(f, "writable_servers", r->writable, 0);
    json_kv_long(f, "unreachable_servers", r->unreachable, 0);
    fprintf(f, ",\n  \"replicas_follow_new_master\": %s", r->replicas_follow ? "true" : "false");
    fprintf(f, ",\n  \"servers\": [");
    for (int i = 0; i < r->nsrv; i++) {
        const srv_report *s = &r->srv[i];
        fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
        ctl_json_str(f, s->name);
        fprintf(f, ", \"address\": ");
        ctl_json_str(f, s->address);
        fprintf(f, ", \"role\": ");
        ctl_json_str(f, s->role);
        fprintf(f, ", \"state\": ");
        ctl_json_str(f, s->state);
        fprintf(f, ", \"reachable\": %s, \"read_only\": ", s->reachable ? "true" : "false");
        if (s->read_only < 0)
            fputs("null", f);
        else
            fprintf(f, "%d", s->read_only);
        fprintf(f, ", \"source\": ");
        ctl_json_str(f, s->source);
        fprintf(f, ", \"lag_s\": ");
        if (s->lag[0] && ctl_is_json_number(s->lag))
            fputs(s->lag, f);
        else
            fputs("null", f);
        fprintf(f, ", \"follows_new_master\": %s", s->follows ? "true" : "false");
        fprintf(f, ", \"gtid_current_pos\": ");
        ctl_json_str(f, s->gtid);
        fprintf(f, ", \"error\": ");
        ctl_json_str(f, s->error[0] ? s->error : NULL);
        fprintf(f, "}");
    }
    fprintf(f, "]");
    fprintf(f, ",\n  \"event\": ");
    if (r->ev.found) {
        fprintf(f, "{\"event\": %ld, \"type\": ", r->ev.number);
        ctl_json_str(f, r->ev.type);
        fprintf(f, ", \"from\": ");
        ctl_json_str(f, r->ev.from);
        fprintf(f, ", \"to\": ");
        ctl_json_str(f, r->ev.to);
        fprintf(f, ", \"outcome\": ");
        ctl_json_str(f, r->ev.outcome);
        fprintf(f, ", \"event_ms\": ");
        if (r->ev.event_ms >= 0)
            fprintf(f, "%ld", r->ev.event_ms);
        else
            fputs("null", f);
        fprintf(f, ", \"steps\": ");
        ctl_json_rows(f, &r->ev.rows);
        fprintf(f, "}");
    } else {
        fputs("null", f);
    }
    json_kv_long(f, "duration_ms", r->duration_ms, 0);
    fprintf(f, "\n}\n");
}

static void ms_or_unknown(char *buf, size_t len, long ms)
{
    if (ms < 0)
        snprintf(buf, len, "unknown");
    else
        snprintf(buf, len, "%ld ms", ms);
}

static void print_human(const report_t *r, const writer_t *w, const ctl_opts *o)
{
    FILE *f = stdout;
    char a[64], b[64], c[64];
    fprintf(f, "rwproxyctl drill %s, started %s UTC\n", r->kind, r->started_at);
    fprintf(f, "  old master        %s (%s)\n", r->old_master, r->old_address);
    fprintf(f, "  event             %s%s\n", r->action, r->action_ok ? "" : "  [FAILED]");
    if (r->new_master[0])
        fprintf(f, "  new master        %s (%s)\n", r->new_master, r->new_address);
    else
        fprintf(f, "  new master        NONE\n");
    if (r->ev.found)
        fprintf(f, "  rwproxy event     #%ld %s %s -> %s: %s%s\n", r->ev.number, r->ev.type,
                r->ev.from, r->ev.to[0] ? r->ev.to : "?", r->ev.outcome[0] ? r->ev.outcome : "(running)",
                r->ev.event_ms >= 0 ? "" : "");
    fprintf(f, "  gtid before/after %s / %s\n", r->old_gtid[0] ? r->old_gtid : "?",
            r->new_gtid[0] ? r->new_gtid : "?");
    fprintf(f, "timeline (ms after the %s)\n",
            !strcmp(r->kind, "failover") ? "master was stopped" : "SWITCHOVER was sent");
    ms_or_unknown(a, sizeof a, r->detected_ms);
    ms_or_unknown(b, sizeof b, r->promoted_ms);
    ms_or_unknown(c, sizeof c, r->first_write_ms);
    fprintf(f, "  %s       %s\n  promoted at       %s\n  first write at    %s\n",
            !strcmp(r->kind, "failover") ? "detected at" : "started at ", a, b, c);
    fprintf(f, "writes (a marker every %d ms through %s:%d as %s into %s.%s)\n", o->interval_ms,
            o->proxy_host, o->proxy_port, o->drill_user, o->schema, o->table);
    fprintf(f, "  markers           %ld written, %zu acknowledged (ids %lld..%lld)\n", r->attempts,
            r->acked, (long long)r->first_id, (long long)r->last_id);
    if (r->pause_ms >= 0)
        fprintf(f, "  write pause       %ld ms (no acknowledgement from %ld to %ld ms)\n",
                r->pause_ms, r->pause_from_ms, r->pause_to_ms);
    else
        fprintf(f, "  write pause       unknown\n");
    fprintf(f, "  writer errors     %ld (+ %ld failed connects)\n", r->errors, r->connect_errors);
    for (int i = 0; i < w->nkinds; i++)
        fprintf(f, "                    %ld x %s%u %s\n", w->kinds[i].count,
                w->kinds[i].connect ? "connect: " : "", w->kinds[i].code, w->kinds[i].msg);
    if (r->missing >= 0) {
        fprintf(f, "  missing on %-6s %ld of %zu acknowledged markers", r->new_master, r->missing,
                r->acked);
        for (int i = 0; i < r->nmissing_ids; i++)
            fprintf(f, "%s%lld", i ? "," : ": ids ", (long long)r->missing_ids[i]);
        fprintf(f, "\n");
        if (r->errored_present > 0)
            fprintf(f, "                    (%ld writes that got an error are there: they were "
                    "committed)\n", r->errored_present);
    } else {
        fprintf(f, "  missing           not checked: %s\n", r->missing_err);
    }
    fprintf(f, "servers (read_only read directly as %s; source and lag from SHOW SERVERS)\n",
            o->mon_user);
    size_t wn = 4, wa = 7, wr = 4, ws = 5, wsrc = 6;
    for (int i = 0; i < r->nsrv; i++) {
        const srv_report *s = &r->srv[i];
#define WMAX(v, str) if (strlen(str) > v) v = strlen(str)
        WMAX(wn, s->name);
        WMAX(wa, s->address);
        WMAX(wr, s->role);
        WMAX(ws, s->state);
        WMAX(wsrc, s->source);
#undef WMAX
    }
    fprintf(f, "  %-*s  %-*s  %-*s  %-*s  %-9s  %-*s  %5s\n", (int)wn, "name", (int)wa, "address",
            (int)wr, "role", (int)ws, "state", "read_only", (int)wsrc, "source", "lag_s");
    for (int i = 0; i < r->nsrv; i++) {
        const srv_report *s = &r->srv[i];
        char ro[40];
        if (!s->reachable)
            snprintf(ro, sizeof ro, "down");
        else if (s->read_only < 0)
            snprintf(ro, sizeof ro, "?");
        else
            snprintf(ro, sizeof ro, "%d%s", s->read_only, s->read_only ? "" : " (rw)");
        fprintf(f, "  %-*s  %-*s  %-*s  %-*s  %-9s  %-*s  %5s%s%s\n", (int)wn, s->name, (int)wa,
                s->address, (int)wr, s->role, (int)ws, s->state, ro, (int)wsrc, s->source,
                s->lag[0] ? s->lag : "-", s->reachable ? "" : "  unreachable: ",
                s->reachable ? "" : s->error);
    }
    fprintf(f, "  writable servers  %d%s\n", r->writable,
            r->unreachable ? " (unreachable servers not counted)" : "");
    if (!strcmp(r->kind, "failover") && r->old_master[0])
        fprintf(f, "note: %s stays stopped; start it again (MariaDB 10.6.19+/10.11.9+: with "
                "--init-rpl-role=SLAVE) and rwproxy rejoins it as a replica (auto_rejoin)\n",
                r->old_master);
    fprintf(f, "result: %s: %s\n", r->ok ? "PASS" : "FAIL", r->verdict);
}

/* ---- the drill ---- */

static int confirm_failover(const ctl_opts *o, const char *name, const char *addr)
{
    if (o->yes)
        return 0;
    if (!isatty(0) || !isatty(2)) {
        ctl_err("drill failover stops the master %s (%s) for real: give --yes", name, addr);
        return CTL_EXIT_USAGE;
    }
    fprintf(stderr, "drill failover stops the master %s (%s) for real (%s). Continue? [y/N] ",
            name, addr, o->stop_command[0] ? "[drill] stop_command" : "SQL SHUTDOWN");
    fflush(stderr);
    char line[32];
    if (!fgets(line, sizeof line, stdin) || (strcasecmp(line, "y\n") && strcasecmp(line, "yes\n"))) {
        ctl_err("drill failover: not confirmed");
        return CTL_EXIT_FAIL;
    }
    return 0;
}

static void stop_threads(writer_t *w, watcher_t *x, int *running)
{
    if (!*running)
        return;
    atomic_store(&x->stop, 1);
    pthread_join(x->th, NULL);
    atomic_store(&w->stop, 1);
    pthread_join(w->th, NULL);
    *running = 0;
}

/* Create the schema and table through rwproxy; the first id: MAX(id)+1 read on the master. */
static int prepare_table(const ctl_opts *o, writer_t *w, const char *mhost, int mport)
{
    char err[1024], sql[512];
    MYSQL *c = ctl_connect(o->proxy_host, o->proxy_port, o->drill_user, o->drill_password, 5, 60,
                           err, sizeof err);
    if (!c) {
        ctl_err("cannot connect to rwproxy at %s:%d as %s: %s", o->proxy_host, o->proxy_port,
                o->drill_user, err);
        return -1;
    }
    snprintf(sql, sizeof sql, "CREATE DATABASE IF NOT EXISTS `%s`", o->schema);
    int rc = mysql_query(c, sql);
    if (rc == 0) {
        snprintf(sql, sizeof sql, "CREATE TABLE IF NOT EXISTS %s (id BIGINT NOT NULL PRIMARY KEY, "
                 "at DATETIME(6) NOT NULL) ENGINE=InnoDB", w->qtable);
        rc = mysql_query(c, sql);
    }
    if (rc != 0) {
        ctl_err("%s (through rwproxy as %s): %s (%u)", sql, o->drill_user, mysql_error(c),
                mysql_errno(c));
        mysql_close(c);
        return -1;
    }
    mysql_close(c);
    c = mon_connect(o, mhost, mport, 30, err, sizeof err);
    if (!c) {
        ctl_err("cannot connect to the master %s:%d as the monitor user %s: %s", mhost, mport,
                o->mon_user, err);
        return -1;
    }
    ctl_rs rs;
    snprintf(sql, sizeof sql, "SELECT COALESCE(MAX(id), 0) FROM %s", w->qtable);
    if (ctl_query(c, sql, &rs, err, sizeof err) != 0 || rs.nrows != 1) {
        ctl_err("%s on the master: %s", sql, err);
        mysql_close(c);
        ctl_rs_free(&rs);
        return -1;
    }
    w->first_id = w->next_id = atoll(rs.rows[0][0] ? rs.rows[0][0] : "0") + 1;
    ctl_rs_free(&rs);
    mysql_close(c);
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Acknowledged ids missing on the new master (read there directly). */
static void check_missing(const ctl_opts *o, report_t *r, const writer_t *w, const ctl_rs *after,
                          int nm)
{
    char host[256], err[1024], sql[400];
    int port;
    r->missing = -1;
    r->errored_present = -1;
    if (nm < 0) {
        snprintf(r->missing_err, sizeof r->missing_err, "no new master");
        return;
    }
    if (row_hostport(after, nm, host, sizeof host, &port) != 0) {
        snprintf(r->missing_err, sizeof r->missing_err, "bad address %s",
                 ctl_rs_str(after, nm, "address"));
        return;
    }
    MYSQL *c = mon_connect(o, host, port, 60, err, sizeof err);
    if (!c) {
        snprintf(r->missing_err, sizeof r->missing_err, "cannot connect to %.60s as %.60s: %.200s",
                 ctl_rs_str(after, nm, "address"), o->mon_user, err);
        return;
    }
    snprintf(sql, sizeof sql, "SELECT id FROM %s WHERE id BETWEEN %lld AND %lld ORDER BY id",
             w->qtable, (long long)w->first_id, (long long)w->last_id_tried);
    ctl_rs rs;
    if (ctl_query(c, sql, &rs, err, sizeof err) != 0) {
        snprintf(r->missing_err, sizeof r->missing_err, "%.150s: %.200s", sql, err);
        mysql_close(c);
        return;
    }
    mysql_close(c);
    int64_t *have = calloc((size_t)rs.nrows + 1, sizeof *have);
    if (!have) {
        ctl_rs_free(&rs);
        snprintf(r->missing_err, sizeof r->missing_err, "out of memory");
        return;
    }
    for (int i = 0; i < rs.nrows; i++)
        have[i] = rs.rows[i][0] ? atoll(rs.rows[i][0]) : 0;
    size_t nh = (size_t)rs.nrows;
    ctl_rs_free(&rs);
    qsort(have, nh, sizeof *have, cmp_i64);
    long missing = 0;
    size_t j = 0, present_acked = 0;
    for (size_t i = 0; i < w->nacks; i++) { /* acks are in increasing id order */
        int64_t id = w->acks[i].id;
        while (j < nh && have[j] < id)
            j++;
        if (j < nh && have[j] == id) {
            present_acked++;
            continue;
        }
        if (r->nmissing_ids < MAX_MISSING_SHOWN)
            r->missing_ids[r->nmissing_ids++] = id;
        missing++;
    }
    r->missing = missing;
    r->errored_present = (long)(nh - present_acked);
    free(have);
}

/* @@read_only of every server, read directly. */
static void check_servers(const ctl_opts *o, report_t *r, const ctl_rs *after, int nm)
{
    r->nsrv = after->nrows;
    r->srv = calloc((size_t)after->nrows + 1, sizeof *r->srv);
    if (!r->srv)
        return;
    const char *new_addr = nm >= 0 ? ctl_rs_str(after, nm, "address") : "";
    r->replicas_follow = nm >= 0;
    for (int i = 0; i < after->nrows; i++) {
        srv_report *s = &r->srv[i];
        snprintf(s->name, sizeof s->name, "%s", ctl_rs_str(after, i, "name"));
        snprintf(s->address, sizeof s->address, "%s", ctl_rs_str(after, i, "address"));
        snprintf(s->role, sizeof s->role, "%s", ctl_rs_str(after, i, "role"));
        snprintf(s->state, sizeof s->state, "%s", ctl_rs_str(after, i, "state"));
        snprintf(s->source, sizeof s->source, "%s", ctl_rs_str(after, i, "source"));
        snprintf(s->lag, sizeof s->lag, "%s", ctl_rs_str(after, i, "lag_s"));
        snprintf(s->gtid, sizeof s->gtid, "%s", ctl_rs_str(after, i, "gtid_current_pos"));
        s->read_only = -1;
        char host[256], err[512];
        int port;
        if (row_hostport(after, i, host, sizeof host, &port) != 0) {
            snprintf(s->error, sizeof s->error, "bad address");
            r->unreachable++;
            continue;
        }
        MYSQL *c = mon_connect(o, host, port, 5, err, sizeof err);
        if (!c) {
            snprintf(s->error, sizeof s->error, "%.299s", err);
            r->unreachable++;
            continue;
        }
        s->reachable = 1;
        ctl_rs rs;
        if (ctl_query(c, "SELECT @@GLOBAL.read_only", &rs, err, sizeof err) == 0 &&
            rs.nrows == 1 && rs.rows[0][0]) {
            s->read_only = atoi(rs.rows[0][0]);
            if (s->read_only == 0)
                r->writable++;
        } else {
            snprintf(s->error, sizeof s->error, "%.299s", err);
        }
        ctl_rs_free(&rs);
        mysql_close(c);
        s->follows = i != nm && nm >= 0 && !strcmp(s->source, new_addr);
        if (i != nm && !s->follows)
            r->replicas_follow = 0;
    }
}

/* Every reachable non-master server in `after` replicates from the new master (by address). */
static int settled(const ctl_rs *after, int nm, const char *skip)
{
    if (nm < 0)
        return 0;
    const char *addr = ctl_rs_str(after, nm, "address");
    for (int i = 0; i < after->nrows; i++) {
        if (i == nm || (skip && !strcmp(ctl_rs_str(after, i, "name"), skip)))
            continue;
        const char *st = ctl_rs_str(after, i, "state");
        if (!strcasecmp(st, "down") || !strcasecmp(st, "maintenance"))
            continue;
        if (strcmp(ctl_rs_str(after, i, "source"), addr))
            return 0;
    }
    return 1;
}

int ctl_drill(ctl_opts *o)
{
    const char *kind = o->args[0];
    int failover = !strcmp(kind, "failover");
    char err[1024], label[64];
    snprintf(label, sizeof label, "drill %s", kind);

    if (!o->mon_user[0]) {
        ctl_err("%s needs the [monitor] user and password to read the servers directly: give "
                "-c FILE (rwproxy's configuration)", label);
        return CTL_EXIT_USAGE;
    }
    if (!o->drill_user[0]) {
        ctl_err("%s needs an application user: [drill] user or a [user.NAME] with a clear "
                "password in -c FILE", label);
        return CTL_EXIT_USAGE;
    }
    if (!valid_ident(o->schema) || !valid_ident(o->table)) {
        ctl_err("[drill] schema and table must be plain names (letters, digits, _ and $)");
        return CTL_EXIT_USAGE;
    }
    if (failover && o->to) {
        ctl_err("--to is for drill switchover");
        return CTL_EXIT_USAGE;
    }

    /* the topology before */
    ctl_rs before;
    if (show_servers(o, &before, err, sizeof err) != 0) {
        ctl_err("%s", err);
        return CTL_EXIT_FAIL;
    }
    int om = find_row(&before, "role", "master");
    if (om < 0) {
        ctl_err("%s: no server has role master now: nothing to drill", label);
        ctl_rs_free(&before);
        return CTL_EXIT_FAIL;
    }
    if (o->to) {
        int t = find_row(&before, "name", o->to);
        if (t < 0 || t == om) {
            ctl_err("%s: %s", label, t < 0 ? "no such server" : "that server is the master");
            ctl_rs_free(&before);
            return CTL_EXIT_FAIL;
        }
    }
    report_t r;
    memset(&r, 0, sizeof r);
    r.kind = kind;
    r.detected_ms = r.promoted_ms = r.first_write_ms = -1;
    r.pause_ms = r.pause_from_ms = r.pause_to_ms = -1;
    snprintf(r.old_master, sizeof r.old_master, "%s", ctl_rs_str(&before, om, "name"));
    snprintf(r.old_address, sizeof r.old_address, "%s", ctl_rs_str(&before, om, "address"));
    snprintf(r.old_gtid, sizeof r.old_gtid, "%s", ctl_rs_str(&before, om, "gtid_current_pos"));
    char mhost[256];
    int mport;
    if (row_hostport(&before, om, mhost, sizeof mhost, &mport) != 0) {
        ctl_err("%s: cannot parse the master's address %s", label, r.old_address);
        ctl_rs_free(&before);
        return CTL_EXIT_FAIL;
    }
    ctl_rs_free(&before);
    if (failover) {
        int rc = confirm_failover(o, r.old_master, r.old_address);
        if (rc)
            return rc;
    }

    static writer_t w;
    static watcher_t x;
    memset(&w, 0, sizeof w);
    memset(&x, 0, sizeof x);
    w.o = o;
    snprintf(w.qtable, sizeof w.qtable, "`%s`.`%s`", o->schema, o->table);
    if (prepare_table(o, &w, mhost, mport) != 0)
        return CTL_EXIT_FAIL;
    pthread_mutex_init(&w.mu, NULL);
    pthread_mutex_init(&x.mu, NULL);
    x.o = o;
    x.w = &w;
    x.label = label;
    x.tty = isatty(2);
    x.t0_us = ctl_mono_us();
    snprintf(x.old_master, sizeof x.old_master, "%s", r.old_master);
    snprintf(x.phase, sizeof x.phase, "warming up");
    int running = 1;
    if (pthread_create(&w.th, NULL, writer_main, &w) != 0) {
        ctl_err("cannot start the writer thread");
        return CTL_EXIT_FAIL;
    }
    if (pthread_create(&x.th, NULL, watcher_main, &x) != 0) {
        atomic_store(&w.stop, 1);
        pthread_join(w.th, NULL);
        ctl_err("cannot start the watcher thread");
        return CTL_EXIT_FAIL;
    }

    /* warm-up: markers flow before the event */
    for (;;) {
        int64_t el = (ctl_mono_us() - x.t0_us) / 1000;
        pthread_mutex_lock(&w.mu);
        size_t n = w.nacks;
        char first_err[300] = "";
        if (w.nkinds)
            snprintf(first_err, sizeof first_err, "%u %s", w.kinds[0].code, w.kinds[0].msg);
        pthread_mutex_unlock(&w.mu);
        if (n >= 1 && el >= WARMUP_MS)
            break;
        if (el >= WARMUP_LIMIT_MS) {
            stop_threads(&w, &x, &running);
            ctl_err("%s: no marker acknowledged through rwproxy within %d s%s%s", label,
                    WARMUP_LIMIT_MS / 1000, first_err[0] ? ": " : "", first_err);
            free(w.acks);
            return CTL_EXIT_FAIL;
        }
        sleep_ms(20);
    }

    /* the event */
    int64_t ev_us = ctl_mono_us(), ev_wall = ctl_wall_ms(), action_done_us = 0;
    ctl_fmt_time_ms(ev_wall, r.started_at, sizeof r.started_at);
    pthread_mutex_lock(&x.mu);
    x.armed = 1;
    pthread_mutex_unlock(&x.mu);
    if (failover) {
        watcher_set_phase(&x, "stopping the master");
        if (o->stop_command[0]) {
            snprintf(r.action, sizeof r.action, "stopped %s with stop_command", r.old_master);
            r.action_ok = run_stop_command(o->stop_command, r.old_master, mhost, mport,
                                           o->timeout_s * 1000, err, sizeof err) == 0;
        } else {
            snprintf(r.action, sizeof r.action, "stopped %s with SQL SHUTDOWN as %s", r.old_master,
                     o->mon_user);
            r.action_ok = sql_shutdown(o, mhost, mport, err, sizeof err) == 0;
        }
        if (!r.action_ok) {
            stop_threads(&w, &x, &running);
            ctl_err("%s: %s", label, err);
            free(w.acks);
            return CTL_EXIT_FAIL;
        }
        watcher_set_phase(&x, "waiting for the failover");
    } else {
        char sql[128];
        if (o->to)
            snprintf(sql, sizeof sql, "SWITCHOVER TO %s", o->to);
        else
            snprintf(sql, sizeof sql, "SWITCHOVER");
        watcher_set_phase(&x, "switching over");
        MYSQL *c = ctl_admin_connect(o, o->timeout_s + 60, err, sizeof err);
        ctl_rs rs;
        if (c && ctl_query(c, sql, &rs, err, sizeof err) == 0) {
            const char *info = mysql_info(c);
            snprintf(r.action, sizeof r.action, "%s: OK%s%.500s", sql, info && *info ? ": " : "",
                     info ? info : "");
            r.action_ok = 1;
            ctl_rs_free(&rs);
        } else {
            snprintf(r.action, sizeof r.action, "%.30s: %.500s", sql, err);
        }
        if (c)
            mysql_close(c);
        action_done_us = ctl_mono_us();
        watcher_set_phase(&x, "waiting for writes on the new master");
    }

    /* wait for the new master, then ~1 s of acknowledged writes on it */
    int64_t deadline = ev_us + (int64_t)o->timeout_s * 1000000;
    int64_t t_new = 0;
    while (r.action_ok && ctl_mono_us() < deadline) {
        pthread_mutex_lock(&x.mu);
        int64_t ch = x.changed_us;
        pthread_mutex_unlock(&x.mu);
        if (ch) {
            t_new = ch > action_done_us ? ch : action_done_us;
            break;
        }
        sleep_ms(20);
    }
    int stable = 0;
    if (t_new) {
        r.new_master_seen = 1;
        watcher_set_phase(&x, "writing on the new master");
        while (ctl_mono_us() < deadline) {
            pthread_mutex_lock(&w.mu);
            size_t i = w.nacks;
            while (i > 0 && w.acks[i - 1].send_us >= t_new)
                i--;
            int64_t span = i < w.nacks ? w.acks[w.nacks - 1].done_us - w.acks[i].done_us : -1;
            pthread_mutex_unlock(&w.mu);
            if (span >= STABLE_MS * 1000) {
                stable = 1;
                break;
            }
            sleep_ms(20);
        }
    }
    stop_threads(&w, &x, &running);

    /* the report */
    r.acked = w.nacks;
    r.attempts = w.attempts;
    r.errors = w.errors;
    r.connect_errors = w.connect_errors;
    r.first_id = w.first_id;
    r.last_id = w.last_id_tried;

    /* the event as rwproxy recorded it */
    int64_t ev_deadline = ctl_mono_us() + EVENT_WAIT_MS * 1000;
    for (;;) {
        int rc = load_event(o, kind, ev_wall, &r.ev, err, sizeof err);
        if (rc != 0 || ctl_mono_us() > ev_deadline || !r.action_ok)
            break;
        sleep_ms(200);
    }
    if (r.ev.found && r.ev.started_ms >= 0)
        r.detected_ms = (long)(r.ev.started_ms - ev_wall);
    if (r.ev.found && r.ev.promoted_ms >= 0)
        r.promoted_ms = (long)(r.ev.promoted_ms - ev_wall);

    /* write pause: the longest gap between consecutive acks, from the last before the event */
    size_t k0 = 0;
    for (size_t i = 0; i < w.nacks; i++)
        if (w.acks[i].done_us <= ev_us)
            k0 = i;
    int64_t best = -1, from = 0, to = 0;
    for (size_t i = k0; i + 1 < w.nacks; i++) {
        int64_t g = w.acks[i + 1].done_us - w.acks[i].done_us;
        if (g > best) {
            best = g;
            from = w.acks[i].done_us;
            to = w.acks[i + 1].done_us;
        }
    }
    if (best >= 0) {
        r.pause_ms = (long)(best / 1000);
        r.pause_from_ms = (long)((from - ev_us) / 1000);
        r.pause_to_ms = (long)((to - ev_us) / 1000);
    }
    /* first write accepted by the new master: the first ack after the promotion (else after
     * the new master was seen, else the end of the pause) */
    int64_t after_us = r.promoted_ms >= 0 ? ev_us + (int64_t)r.promoted_ms * 1000
                       : t_new ? t_new : (best >= 0 ? to : 0);
    if (after_us)
        for (size_t i = 0; i < w.nacks; i++)
            if (w.acks[i].done_us >= after_us && w.acks[i].done_us > ev_us) {
                r.first_write_ms = (long)((w.acks[i].done_us - ev_us) / 1000);
                break;
            }

    /* the topology after: wait (bounded) for the replicas to follow the new master */
    ctl_rs after;
    memset(&after, 0, sizeof after);
    int nm = -1;
    int64_t settle_deadline = ctl_mono_us() + SETTLE_MS * 1000;
    for (;;) {
        ctl_rs_free(&after);
        if (show_servers(o, &after, err, sizeof err) != 0) {
            ctl_err("%s: %s", label, err);
            free(w.acks);
            ctl_rs_free(&r.ev.rows);
            return CTL_EXIT_FAIL;
        }
        nm = find_row(&after, "role", "master");
        if (!r.new_master_seen || (nm >= 0 && settled(&after, nm, failover ? r.old_master : NULL)) ||
            ctl_mono_us() > settle_deadline)
            break;
        sleep_ms(250);
    }
    if (nm >= 0 && strcmp(ctl_rs_str(&after, nm, "name"), r.old_master)) {
        snprintf(r.new_master, sizeof r.new_master, "%s", ctl_rs_str(&after, nm, "name"));
        snprintf(r.new_address, sizeof r.new_address, "%s", ctl_rs_str(&after, nm, "address"));
        snprintf(r.new_gtid, sizeof r.new_gtid, "%s", ctl_rs_str(&after, nm, "gtid_current_pos"));
    } else {
        nm = -1;
    }
    check_missing(o, &r, &w, &after, nm);
    check_servers(o, &r, &after, nm);
    ctl_rs_free(&after);
    r.duration_ms = (long)((ctl_mono_us() - x.t0_us) / 1000);

    /* verdict */
    char why[400] = "";
    if (!r.action_ok)
        snprintf(why, sizeof why, "the %s failed", kind);
    else if (!r.new_master[0])
        snprintf(why, sizeof why, "no new master within %d s", o->timeout_s);
    else if (!stable)
        snprintf(why, sizeof why, "writes did not succeed on the new master for %d ms within "
                 "%d s", STABLE_MS, o->timeout_s);
    if (r.missing != 0)
        snprintf(why + strlen(why), sizeof why - strlen(why), "%s%s", why[0] ? "; " : "",
                 r.missing < 0 ? "acknowledged markers not checked"
                               : "acknowledged markers are missing on the new master");
    if (r.writable != 1)
        snprintf(why + strlen(why), sizeof why - strlen(why), "%s%d writable servers", why[0] ? "; " : "",
                 r.writable);
    if (w.oom)
        snprintf(why + strlen(why), sizeof why - strlen(why), "%sout of memory recording markers",
                 why[0] ? "; " : "");
    r.ok = !why[0];
    if (r.ok)
        snprintf(r.verdict, sizeof r.verdict, "no acknowledged marker lost, exactly one writable "
                 "server (%s)", r.new_master);
    else
        snprintf(r.verdict, sizeof r.verdict, "%s", why);
    if (o->json)
        print_json(&r, &w);
    else
        print_human(&r, &w, o);
    fflush(stdout);
    free(r.srv);
    free(w.acks);
    ctl_rs_free(&r.ev.rows);
    pthread_mutex_destroy(&w.mu);
    pthread_mutex_destroy(&x.mu);
    return r.ok ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}
