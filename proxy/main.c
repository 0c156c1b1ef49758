/*
 * proxy/main.c — the rwproxy process: command line, configuration, the monitor thread,
 * the worker threads, and signals (SIGTERM/SIGINT: graceful stop, exit 0).
 */
#include <mysql.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "proxy/admin.h"
#include "proxy/config.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/monitor.h"
#include "proxy/reload.h"
#include "proxy/topology.h"
#include "proxy/users.h"
#include "proxy/worker.h"

#define RWPROXY_VERSION "0.1.0"

/* Command-line options. */
typedef struct {
    const char *config_path; /* --config FILE */
    int check_only;          /* --check: validate and exit */
} cli_options;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rwproxy --config FILE [--check]\n"
            "  -c, --config FILE   configuration file (INI; see docs/config.md)\n"
            "  -t, --check         validate the configuration and exit (0 valid, 2 invalid)\n"
            "  -V, --version       print the version\n"
            "  -h, --help          this text\n"
            "rwproxy runs in the foreground and logs to stderr. SIGTERM/SIGINT stop it gracefully.\n");
}

static int parse_args(int argc, char **argv, cli_options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "--config") || !strcmp(a, "-c")) && i + 1 < argc) {
            o->config_path = argv[++i];
        } else if (!strncmp(a, "--config=", 9)) {
            o->config_path = a + 9;
        } else if (!strcmp(a, "--check") || !strcmp(a, "-t")) {
            o->check_only = 1;
        } else if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
            printf("rwproxy %s\n", RWPROXY_VERSION);
            exit(0);
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "rwproxy: unknown argument '%s'\n", a);
            usage(stderr);
            return -1;
        }
    }
    if (!o->config_path) {
        fprintf(stderr, "rwproxy: --config FILE is required\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

/* State the main thread's signal handlers need. */
typedef struct {
    rwp_proxy *proxy;          /* workers to stop */
    uv_signal_t sigterm;       /* SIGTERM */
    uv_signal_t sigint;        /* SIGINT */
    uv_signal_t sigusr2;       /* SIGUSR2: switchover to the best candidate */
    uv_signal_t sighup;        /* SIGHUP: reload the configuration file */
    rwp_monitor *monitor;      /* runs switchovers */
    int stopping;              /* a stop was already requested */
} main_ctx;

/* SIGUSR2: a planned switchover to the best candidate (the admin port offers the same with a
 * named target). The monitor thread runs it; this only queues the request. */
static void on_switchover_signal(uv_signal_t *h, int signum)
{
    main_ctx *m = h->data;
    (void)signum;
    log_info("SIGUSR2: switchover requested");
    rwp_monitor_request_switchover(m->monitor, NULL);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
    main_ctx *m = h->data;
    if (m->stopping)
        return;
    m->stopping = 1;
    log_info("signal %d: stopping (no new connections; running statements may finish)", signum);
    for (int i = 0; i < m->proxy->nworkers; i++)
        rwp_worker_request_stop(&m->proxy->workers[i]);
    uv_close((uv_handle_t *)&m->sigterm, NULL);
    uv_close((uv_handle_t *)&m->sigint, NULL);
    uv_close((uv_handle_t *)&m->sigusr2, NULL);
    uv_close((uv_handle_t *)&m->sighup, NULL);
}

/* SIGHUP: read the configuration file again (refused and logged if invalid). */
static void on_reload_signal(uv_signal_t *h, int signum)
{
    main_ctx *m = h->data;
    char msg[1200];
    (void)signum;
    log_info("SIGHUP: reloading the configuration");
    rwp_proxy_reload(m->proxy, msg, sizeof msg);
}

static int start_workers(rwp_proxy *p)
{
    p->workers = calloc((size_t)p->nworkers, sizeof *p->workers);
    if (!p->workers)
        return -1;
    for (int i = 0; i < p->nworkers; i++) {
        int rc = rwp_worker_init(&p->workers[i], p, i);
        if (rc < 0) {
            log_error("cannot listen on %s:%d: %s", p->cfg->listen_host, p->cfg->listen_port,
                      uv_strerror(rc));
            return -1;
        }
    }
    for (int i = 0; i < p->nworkers; i++)
        if (rwp_worker_start(&p->workers[i]) != 0)
            return -1;
    return 0;
}

int main(int argc, char **argv)
{
    cli_options opt = {0};
    if (parse_args(argc, argv, &opt) != 0)
        return 2;
    char err[1024] = "";
    rwp_config *cfg = rwp_config_load(opt.config_path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "rwproxy: %s\n", err);
        return 2;
    }
    if (opt.check_only) {
        printf("%s: configuration is valid (%d servers, %d users)\n", opt.config_path,
               cfg->nservers, cfg->nusers);
        rwp_config_free(cfg);
        return 0;
    }
    rwp_log_set_level(cfg->log_level);
    rwp_log_set_format(cfg->log_format);
    signal(SIGPIPE, SIG_IGN);
    mysql_library_init(0, NULL, NULL);

    rwp_proxy proxy = {0};
    proxy.cfg = cfg;
    proxy.nworkers = cfg->threads > 0 ? cfg->threads : 1;
    rwp_topo_slot_init(&proxy.topo);
    pthread_mutex_init(&proxy.gtid_mu, NULL);
    pthread_mutex_init(&proxy.reload_mu, NULL);
    pthread_mutex_init(&proxy.users_mu, NULL);
    proxy.server_conns = calloc(RWP_MAX_SERVERS, sizeof *proxy.server_conns); /* reloads add slots */
    if (!proxy.server_conns) {
        log_error("out of memory");
        return 1;
    }
    log_info("rwproxy %s starting: %d workers, %d servers, listening on %s:%d", RWPROXY_VERSION,
             proxy.nworkers, cfg->nservers, cfg->listen_host, cfg->listen_port);
    rwp_monitor *mon = rwp_monitor_start(cfg, &proxy.topo);
    proxy.monitor = mon;
    if (!mon) {
        log_error("cannot start the monitor");
        return 1;
    }
    proxy.users = rwp_users_start(&proxy); /* loads the master's accounts with users_from_backend */
    if (!proxy.users) {
        log_error("cannot start the backend account loader");
        return 1;
    }
    main_ctx m = {.proxy = &proxy, .monitor = mon};
    int rc = 0;
    rwp_admin *admin = NULL;
    if (start_workers(&proxy) != 0) {
        rc = 1;
    } else if (!(admin = rwp_admin_start(&proxy, mon, err, sizeof err))) {
        log_error("%s", err);
        rc = 1;
        for (int i = 0; i < proxy.nworkers; i++) {
            rwp_worker_request_stop(&proxy.workers[i]);
            rwp_worker_join(&proxy.workers[i]);
        }
    } else {
        rwp_metrics *metrics = NULL; /* optional: a port in use only costs /metrics */
        if (cfg->metrics_port > 0 &&
            !(metrics = rwp_metrics_start(&proxy, cfg->metrics_host, cfg->metrics_port, err, sizeof err)))
            log_warn("%s; running without /metrics", err);
        uv_loop_t *loop = uv_default_loop();
        uv_signal_init(loop, &m.sigterm);
        uv_signal_init(loop, &m.sigint);
        m.sigterm.data = m.sigint.data = &m;
        uv_signal_start(&m.sigterm, on_stop_signal, SIGTERM);
        uv_signal_start(&m.sigint, on_stop_signal, SIGINT);
        uv_signal_init(loop, &m.sigusr2);
        m.sigusr2.data = &m;
        uv_signal_start(&m.sigusr2, on_switchover_signal, SIGUSR2);
        uv_signal_init(loop, &m.sighup);
        m.sighup.data = &m;
        uv_signal_start(&m.sighup, on_reload_signal, SIGHUP);
        uv_run(loop, UV_RUN_DEFAULT);
        uv_loop_close(loop);
        rwp_admin_stop(admin); /* a command in progress finishes first */
        rwp_metrics_stop(metrics);
        for (int i = 0; i < proxy.nworkers; i++)
            rwp_worker_join(&proxy.workers[i]);
        log_info("rwproxy stopped");
    }
    rwp_users_stop(proxy.users);
    rwp_monitor_stop(mon);
    rwp_topo_slot_destroy(&proxy.topo);
    free(proxy.workers);
    free(proxy.server_conns);
    pthread_mutex_destroy(&proxy.gtid_mu);
    pthread_mutex_destroy(&proxy.reload_mu);
    rwp_user_conns_free(&proxy);
    pthread_mutex_destroy(&proxy.users_mu);
    rwp_proxy_free_retired(&proxy); /* the start-up configuration is among them after a reload */
    rwp_config_free((rwp_config *)proxy.cfg);
    mysql_library_end();
    return rc;
}
