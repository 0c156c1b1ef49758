/*
 * cli/ctl.h — what the files of rwproxyctl share: the options (command line, RWPROXY_ADMIN,
 * the config file), result sets read with libmysqlclient, their output as aligned tables or
 * JSON, connections, errors and clocks. Prefix ctl_.
 *
 *   cli/rwproxyctl.c  main: arguments, the admin commands (status, servers, ..., reload)
 *   cli/ctl_conf.c    options: RWPROXY_ADMIN, -c FILE (inih), defaults
 *   cli/ctl_sql.c     connections and result sets (libmysqlclient)
 *   cli/table_out.c   aligned tables and JSON
 *   cli/drill.c       drill switchover / drill failover
 */
#ifndef RWP_CTL_H
#define RWP_CTL_H

#include <mysql.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses. */
enum { CTL_EXIT_OK = 0, CTL_EXIT_FAIL = 1, CTL_EXIT_USAGE = 2 };

#define CTL_MAX_ARGS 8

/* Everything the command line, RWPROXY_ADMIN and the config file set. */
typedef struct {
    /* admin port */
    char host[256];            /* admin host */
    int port;                  /* admin port */
    char user[128];            /* admin user */
    char password[256];        /* admin password */
    /* from -c FILE */
    char config_path[1024];    /* -c FILE ("" = none) */
    char proxy_host[256];      /* [proxy] listen host (client port of rwproxy) */
    int proxy_port;            /* [proxy] listen port */
    char mon_user[128];        /* [monitor] user */
    char mon_password[256];    /* [monitor] password */
    char drill_user[128];      /* [drill] user, else the first [user.NAME] with a clear password */
    char drill_password[256];  /* [drill] password / that user's password */
    char schema[65];           /* [drill] schema */
    char table[65];            /* [drill] table */
    int interval_ms;           /* [drill] interval_ms */
    char stop_command[1024];   /* [drill] stop_command ("" = SQL SHUTDOWN) */
    /* command */
    const char *command;       /* first word after the options */
    const char *args[CTL_MAX_ARGS]; /* its positional arguments */
    int nargs;
    int json;                  /* --json */
    int yes;                   /* --yes */
    const char *to;            /* switchover --to NAME */
    int timeout_s;             /* --timeout S: drills' longest wait for the event (default 60) */
} ctl_opts;

/* Print "rwproxyctl: <message>" on stderr (one line). */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fill o from the environment and the config file; flags already set on o win. Returns 0, or
 * -1 after printing the error. set_* say which admin fields the command line set. */
int ctl_conf_load(ctl_opts *o, int set_host, int set_port, int set_user, int set_password);
/* Parse "host:port", "[v6]:port" or "host" (port left as is); 0 or -1. */
int ctl_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

/* A result set read whole: column names, numeric flags, rows (NULL cells = SQL NULL). */
typedef struct {
    int ncols;
    char **cols;               /* column names */
    int *numeric;              /* 1 if the column's type is numeric */
    int nrows;
    char ***rows;              /* rows[r][c], NULL for SQL NULL */
} ctl_rs;

/* Connect with timeouts (seconds) over TCP; NULL and err on failure. */
MYSQL *ctl_connect(const char *host, int port, const char *user, const char *password,
                   int connect_timeout_s, int read_timeout_s, char *err, size_t errlen);
/* Connect to the admin port of o (err names host, port and user). */
MYSQL *ctl_admin_connect(const ctl_opts *o, int read_timeout_s, char *err, size_t errlen);
/* Run sql; a result set goes into rs (rs->ncols 0 for OK packets). 0 or -1 (err). */
int ctl_query(MYSQL *c, const char *sql, ctl_rs *rs, char *err, size_t errlen);
void ctl_rs_free(ctl_rs *rs);
/* Index of column name, or -1. */
int ctl_rs_col(const ctl_rs *rs, const char *name);
/* The cell of row r, column name; NULL if the column is missing or the cell is NULL. */
const char *ctl_rs_get(const ctl_rs *rs, int r, const char *name);
/* The same as a string, "" for missing/NULL. */
const char *ctl_rs_str(const ctl_rs *rs, int r, const char *name);

/* Output. */
/* An aligned table of rs (the columns named in cols, or all when cols is NULL). */
void ctl_table_print(FILE *f, const ctl_rs *rs, const char *const *cols);
/* A JSON string literal. */
void ctl_json_str(FILE *f, const char *s);
/* A JSON value of one cell: null, a number (numeric column holding a number) or a string. */
void ctl_json_cell(FILE *f, const ctl_rs *rs, int c, const char *v);
/* The rows of rs as a JSON array of objects keyed by column name. */
void ctl_json_rows(FILE *f, const ctl_rs *rs);
/* 1 if s is a JSON number. */
int ctl_is_json_number(const char *s);

/* Clocks. */
int64_t ctl_mono_us(void);
int64_t ctl_wall_ms(void);
/* "YYYY-MM-DD HH:MM:SS[.fff]" (UTC) or epoch ms digits -> epoch ms; -1 if unparsable. */
int64_t ctl_parse_time_ms(const char *s);
/* Epoch ms -> "YYYY-MM-DD HH:MM:SS.mmm" UTC. */
void ctl_fmt_time_ms(int64_t ms, char *buf, size_t len);

/* drill.c: run `drill switchover|failover`; returns the exit status. */
int ctl_drill(ctl_opts *o);

#endif
