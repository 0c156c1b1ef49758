/*
 * cli/ctl_conf.c — where rwproxyctl's settings come from. Precedence, highest first: the
 * command line (-h -P -u -p/--password-file), the config file given with -c FILE ([admin]
 * listen/user/password), RWPROXY_ADMIN (user:password@host:port), the built-in defaults
 * (127.0.0.1:6032, admin, no password). The config file also gives the drills what they need:
 * [proxy] listen, [monitor] user/password, [drill] keys, the first [user.NAME] with a clear
 * password. Only those keys are read; every other section and key is ignored (rwproxy
 * itself validates the file).
 *
 * The file is read with inih through our own line reader that strips leading blanks, so
 * that inih's multi-line continuation never applies (as in proxy/config.c); inline comments
 * (" ;" or " #") are cut here.
 */
#include "cli/ctl.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ctl_err(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (char *p = buf; *p; p++) /* one line, whatever the server said */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "rwproxyctl: %s\n", buf);
}

int ctl_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    const char *portp = NULL;
    size_t hl;
    if (*s == '[') {
        const char *e = strchr(s, ']');
        if (!e)
            return -1;
        hl = (size_t)(e - s - 1);
        s++;
        if (e[1] == ':')
            portp = e + 2;
        else if (e[1] != '\0')
            return -1;
    } else {
        const char *c = strrchr(s, ':');
        if (c && strchr(s, ':') == c) { /* exactly one colon: host:port */
            hl = (size_t)(c - s);
            portp = c + 1;
        } else {
            hl = strlen(s); /* no colon, or a bare IPv6 address */
        }
    }
    if (hl == 0 || hl >= hostlen)
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (portp) {
        char *end;
        errno = 0;
        long p = strtol(portp, &end, 10);
        if (errno || end == portp || *end || p < 1 || p > 65535)
            return -1;
        *port = (int)p;
    }
    return 0;
}

/* A wildcard listen address is reached on loopback. */
static void connectable(char *host, size_t len)
{
    if (!strcmp(host, "0.0.0.0") || !strcmp(host, "*") || !host[0])
        snprintf(host, len, "127.0.0.1");
    else if (!strcmp(host, "::"))
        snprintf(host, len, "::1");
}

/* What the config file holds (only the keys rwproxyctl uses). */
typedef struct {
    ctl_opts *o;
    char admin_host[256];
    int admin_port;
    char admin_user[128];
    char admin_password[256];
    int has_admin_user, has_admin_password, has_admin_listen;
    int has_drill_user, has_drill_password;
    char first_user[128];       /* first [user.NAME] with a clear password */
    char first_user_pw[256];
    int has_first_user;
    const char *bad;            /* first bad value (key name) */
} conf_ctx;

static void setstr(char *dst, size_t len, const char *v)
{
    snprintf(dst, len, "%s", v);
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    conf_ctx *x = user;
    ctl_opts *o = x->o;
    char v[1024];
    snprintf(v, sizeof v, "%s", value);
    /* inline comments: a ';' or '#' after a blank ends the value */
    for (char *p = v; *p; p++)
        if ((*p == ';' || *p == '#') && p > v && (p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
    size_t n = strlen(v);
    while (n && isspace((unsigned char)v[n - 1]))
        v[--n] = '\0';

    if (!strcmp(section, "admin")) {
        if (!strcmp(name, "listen")) {
            x->has_admin_listen = 1;
            if (ctl_parse_hostport(v, x->admin_host, sizeof x->admin_host, &x->admin_port) != 0)
                x->bad = "[admin] listen";
        } else if (!strcmp(name, "user")) {
            setstr(x->admin_user, sizeof x->admin_user, v);
            x->has_admin_user = 1;
        } else if (!strcmp(name, "password")) {
            setstr(x->admin_password, sizeof x->admin_password, v);
            x->has_admin_password = 1;
        }
    } else if (!strcmp(section, "proxy") && !strcmp(name, "listen")) {
        if (ctl_parse_hostport(v, o->proxy_host, sizeof o->proxy_host, &o->proxy_port) != 0)
            x->bad = "[proxy] listen";
    } else if (!strcmp(section, "monitor")) {
        if (!strcmp(name, "user"))
            setstr(o->mon_user, sizeof o->mon_user, v);
        else if (!strcmp(name, "password"))
            setstr(o->mon_password, sizeof o->mon_password, v);
    } else if (!strcmp(section, "drill")) {
        if (!strcmp(name, "user")) {
            setstr(o->drill_user, sizeof o->drill_user, v);
            x->has_drill_user = v[0] != '\0';
        } else if (!strcmp(name, "password")) {
            setstr(o->drill_password, sizeof o->drill_password, v);
            x->has_drill_password = 1;
        } else if (!strcmp(name, "schema")) {
            setstr(o->schema, sizeof o->schema, v);
        } else if (!strcmp(name, "table")) {
            setstr(o->table, sizeof o->table, v);
        } else if (!strcmp(name, "interval_ms")) {
            char *end;
            long ms = strtol(v, &end, 10);
            if (end == v || *end || ms < 0 || ms > 60000)
                x->bad = "[drill] interval_ms";
            else
                o->interval_ms = (int)ms;
        } else if (!strcmp(name, "stop_command")) {
            setstr(o->stop_command, sizeof o->stop_command, v);
        }
    } else if (!strncmp(section, "user.", 5) && !strcmp(name, "password") && !x->has_first_user) {
        setstr(x->first_user, sizeof x->first_user, section + 5);
        setstr(x->first_user_pw, sizeof x->first_user_pw, v);
        x->has_first_user = 1;
    }
    return 1;
}

/* fgets with leading blanks removed (no inih continuation lines). */
static char *read_line(char *str, int num, void *stream)
{
    char *r = fgets(str, num, stream);
    if (!r)
        return NULL;
    size_t skip = strspn(str, " \t");
    if (skip)
        memmove(str, str + skip, strlen(str + skip) + 1);
    return r;
}

/* RWPROXY_ADMIN = [user[:password]@]host[:port] */
static int parse_env(const char *s, char *user, size_t ul, char *pw, size_t pl, int *has_pw,
                     char *host, size_t hl, int *port)
{
    const char *at = strrchr(s, '@');
    const char *addr = s;
    *has_pw = 0;
    if (at) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        size_t ulen = (size_t)((colon ? colon : at) - s);
        if (ulen == 0 || ulen >= ul)
            return -1;
        memcpy(user, s, ulen);
        user[ulen] = '\0';
        if (colon) {
            size_t plen = (size_t)(at - colon - 1);
            if (plen >= pl)
                return -1;
            memcpy(pw, colon + 1, plen);
            pw[plen] = '\0';
            *has_pw = 1;
        }
        addr = at + 1;
    }
    if (!*addr)
        return at ? 0 : -1;
    return ctl_parse_hostport(addr, host, hl, port);
}

int ctl_conf_load(ctl_opts *o, int set_host, int set_port, int set_user, int set_password)
{
    char host[256] = "127.0.0.1", user[128] = "admin", pw[256] = "";
    int port = 6032;

    snprintf(o->schema, sizeof o->schema, "rwproxy_drill");
    snprintf(o->table, sizeof o->table, "markers");
    o->interval_ms = 5;
    snprintf(o->proxy_host, sizeof o->proxy_host, "127.0.0.1");
    o->proxy_port = 6033;

    const char *env = getenv("RWPROXY_ADMIN");
    if (env && *env) {
        int has_pw;
        char eu[128] = "", ep[256] = "";
        char eh[256];
        snprintf(eh, sizeof eh, "%s", host);
        if (parse_env(env, eu, sizeof eu, ep, sizeof ep, &has_pw, eh, sizeof eh, &port) != 0) {
            ctl_err("RWPROXY_ADMIN: expected user:password@host:port");
            return -1;
        }
        snprintf(host, sizeof host, "%s", eh);
        if (eu[0])
            snprintf(user, sizeof user, "%s", eu);
        if (has_pw)
            snprintf(pw, sizeof pw, "%s", ep);
    }

    if (o->config_path[0]) {
        conf_ctx x;
        memset(&x, 0, sizeof x);
        x.o = o;
        FILE *f = fopen(o->config_path, "r");
        if (!f) {
            ctl_err("%s: %s", o->config_path, strerror(errno));
            return -1;
        }
        int rc = ini_parse_stream(read_line, f, on_key, &x);
        fclose(f);
        if (rc < 0) {
            ctl_err("%s: cannot read", o->config_path);
            return -1;
        }
        if (x.bad) {
            ctl_err("%s: %s: bad value", o->config_path, x.bad);
            return -1;
        }
        if (x.has_admin_listen) {
            snprintf(host, sizeof host, "%s", x.admin_host);
            port = x.admin_port;
            connectable(host, sizeof host);
        }
        if (x.has_admin_user)
            snprintf(user, sizeof user, "%s", x.admin_user);
        if (x.has_admin_password)
            snprintf(pw, sizeof pw, "%s", x.admin_password);
        connectable(o->proxy_host, sizeof o->proxy_host);
        if (!x.has_drill_user && x.has_first_user) {
            snprintf(o->drill_user, sizeof o->drill_user, "%s", x.first_user);
            if (!x.has_drill_password)
                snprintf(o->drill_password, sizeof o->drill_password, "%s", x.first_user_pw);
        }
        memset(x.admin_password, 0, sizeof x.admin_password);
        memset(x.first_user_pw, 0, sizeof x.first_user_pw);
    }

    if (!set_host)
        snprintf(o->host, sizeof o->host, "%s", host);
    if (!set_port)
        o->port = port;
    if (!set_user)
        snprintf(o->user, sizeof o->user, "%s", user);
    if (!set_password)
        snprintf(o->password, sizeof o->password, "%s", pw);
    memset(pw, 0, sizeof pw);
    return 0;
}
