/*
 * router/gtid.c — GTID positions for read-your-writes (see gtid.h).
 */
#include "router/gtid.h"

#include <stdio.h>
#include <string.h>

/* Parse an unsigned decimal number at *p (bounded by end). */
static int parse_number(const char **p, const char *end, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    const char *s = *p;
    if (s == end || *s < '0' || *s > '9')
        return -1;
    while (s < end && *s >= '0' && *s <= '9') {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return 0;
}

static int parse_one(const char **p, const char *end, rwr_gtid *g)
{
    uint64_t d, s, n;
    if (parse_number(p, end, UINT32_MAX, &d) != 0 || *p == end || **p != '-')
        return -1;
    (*p)++;
    if (parse_number(p, end, UINT32_MAX, &s) != 0 || *p == end || **p != '-')
        return -1;
    (*p)++;
    if (parse_number(p, end, UINT64_MAX, &n) != 0)
        return -1;
    g->domain = (uint32_t)d;
    g->server = (uint32_t)s;
    g->seq = n;
    return 0;
}

static void skip_spaces(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r'))
        (*p)++;
}

static int find_domain(const rwr_gtid_pos *p, uint32_t domain)
{
    for (int i = 0; i < p->n; i++)
        if (p->g[i].domain == domain)
            return i;
    return -1;
}

/* Put g into p, keeping the higher sequence of its domain. */
static void put(rwr_gtid_pos *p, const rwr_gtid *g)
{
    int i = find_domain(p, g->domain);
    if (i >= 0) {
        if (g->seq > p->g[i].seq)
            p->g[i] = *g;
        return;
    }
    if (p->n < RWR_GTID_MAX_DOMAINS)
        p->g[p->n++] = *g;
}

int rwr_gtid_parse(const char *text, size_t len, rwr_gtid_pos *out)
{
    const char *p = text, *end = text + len;
    memset(out, 0, sizeof *out);
    skip_spaces(&p, end);
    while (p < end) {
        rwr_gtid g;
        if (parse_one(&p, end, &g) != 0)
            return -1;
        put(out, &g);
        skip_spaces(&p, end);
        if (p == end)
            break;
        if (*p != ',')
            return -1;
        p++;
        skip_spaces(&p, end);
        if (p == end)
            return -1; /* a trailing comma */
    }
    return 0;
}

void rwr_gtid_merge(rwr_gtid_pos *dst, const rwr_gtid_pos *src)
{
    for (int i = 0; i < src->n; i++)
        put(dst, &src->g[i]);
}

int rwr_gtid_reached(const rwr_gtid_pos *at, const rwr_gtid_pos *want)
{
    for (int i = 0; i < want->n; i++) {
        int j = find_domain(at, want->g[i].domain);
        if (j < 0 || at->g[j].seq < want->g[i].seq)
            return 0;
    }
    return 1;
}

size_t rwr_gtid_format(const rwr_gtid_pos *p, char *buf, size_t cap)
{
    size_t n = 0;
    if (cap == 0)
        return 0;
    buf[0] = '\0';
    for (int i = 0; i < p->n; i++) {
        int w = snprintf(buf + n, cap - n, "%s%u-%u-%llu", i ? "," : "", p->g[i].domain,
                         p->g[i].server, (unsigned long long)p->g[i].seq);
        if (w < 0 || (size_t)w >= cap - n) {
            buf[n] = '\0';
            return n;
        }
        n += (size_t)w;
    }
    return n;
}
