/*
 * tests/fuzz/fuzz_gtid.c — MariaDB GTID positions (router/gtid.h): rwr_gtid_parse on
 * arbitrary text (last_gtid from session tracking, gtid_current_pos / gtid_slave_pos from
 * the monitor), rwr_gtid_format, rwr_gtid_merge and rwr_gtid_reached.
 * Checks: parse -> format -> parse gives the same position and format is stable; format
 * into every smaller buffer is terminated, never longer than cap - 1 and a prefix of the
 * full text; a position has reached itself; a merge has reached both of its inputs when
 * no domain was dropped for lack of room.
 * Input: text; a '|' splits it into two positions for merge/reached.
 */
#include "fuzz_common.h"

#include "router/gtid.h"

#define FMT_CAP (RWR_GTID_MAX_DOMAINS * 64)

static int same_pos(const rwr_gtid_pos *a, const rwr_gtid_pos *b)
{
    if (a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (a->g[i].domain != b->g[i].domain || a->g[i].server != b->g[i].server ||
            a->g[i].seq != b->g[i].seq)
            return 0;
    return 1;
}

static int parse_copy(const uint8_t *d, size_t n, rwr_gtid_pos *p)
{
    char *t = malloc(n ? n : 1); /* exact size: no terminator to lean on */
    memcpy(t, d, n);
    int rc = rwr_gtid_parse(t, n, p);
    free(t);
    return rc;
}

static void round_trip(const rwr_gtid_pos *p)
{
    char buf[FMT_CAP], buf2[FMT_CAP];
    size_t n = rwr_gtid_format(p, buf, sizeof buf);
    FUZZ_CHECK(n < sizeof buf && buf[n] == '\0' && strlen(buf) == n);
    rwr_gtid_pos q;
    FUZZ_CHECK(parse_copy((const uint8_t *)buf, n, &q) == 0);
    FUZZ_CHECK(same_pos(p, &q));
    size_t n2 = rwr_gtid_format(&q, buf2, sizeof buf2);
    FUZZ_CHECK(n2 == n && memcmp(buf, buf2, n) == 0);
    for (size_t cap = 1; cap <= n + 1; cap += 1 + cap / 4) {
        char *small = malloc(cap);
        size_t m = rwr_gtid_format(p, small, cap);
        FUZZ_CHECK(m < cap && small[m] == '\0' && memcmp(small, buf, m) == 0);
        free(small);
    }
    FUZZ_CHECK(rwr_gtid_reached(p, p));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rwr_gtid_pos a, b;
    if (parse_copy(data, size, &a) == 0) {
        FUZZ_CHECK(a.n >= 0 && a.n <= RWR_GTID_MAX_DOMAINS);
        round_trip(&a);
    }
    const uint8_t *bar = memchr(data, '|', size);
    if (!bar)
        return 0;
    size_t n1 = (size_t)(bar - data);
    if (parse_copy(data, n1, &a) != 0 || parse_copy(bar + 1, size - n1 - 1, &b) != 0)
        return 0;
    rwr_gtid_pos m = a;
    rwr_gtid_merge(&m, &b);
    FUZZ_CHECK(m.n <= RWR_GTID_MAX_DOMAINS);
    round_trip(&m);
    if (a.n + b.n <= RWR_GTID_MAX_DOMAINS) {
        FUZZ_CHECK(rwr_gtid_reached(&m, &a));
        FUZZ_CHECK(rwr_gtid_reached(&m, &b));
    }
    for (int i = 0; i < m.n; i++)
        for (int j = i + 1; j < m.n; j++)
            FUZZ_CHECK(m.g[i].domain != m.g[j].domain);
    return 0;
}
