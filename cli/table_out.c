/*
 * cli/table_out.c — rwproxyctl's output: result sets as aligned text tables (numbers right-
 * aligned, NULL shown as NULL) and as JSON (arrays of objects keyed by the admin port's column
 * names; numbers as numbers where the column is numeric, null for NULL).
 *
 * A column counts as numeric when the server typed it so, or when it is one of the numeric
 * columns of docs/admin.md (the admin port may send every column as text); either way a cell
 * is written as a JSON number only if its text is one.
 */
#include "cli/ctl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Numeric columns of docs/admin.md (SHOW SERVERS, POOLS, SESSIONS, STATS, DIGESTS, RULES,
 * EVENTS). */
static const char *const NUMERIC_COLS[] = {
    "read_only", "lag_s", "readable", "check_ms", "conns_in_use", "conns_idle", "queries",
    "errors", "avg_latency_ms", "worker", "in_use", "idle", "opened", "failed", "id", "age_s",
    "value", "count", "total_ms", "min_ms", "max_ms", "rows", "master", "replica", "order",
    "hits", "event", "event_ms", "step_ms", "ok", NULL};

static int known_numeric(const ctl_rs *rs, const char *name)
{
    if (!strcasecmp(name, "value") && ctl_rs_col(rs, "section") >= 0)
        return 0; /* SHOW CONFIG's values are text; SHOW STATS's are counters */
    for (int i = 0; NUMERIC_COLS[i]; i++)
        if (!strcasecmp(NUMERIC_COLS[i], name))
            return 1;
    return 0;
}

int ctl_is_json_number(const char *s)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return 0;
    if (*p == '0' && isdigit((unsigned char)p[1]))
        return 0;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return *p == '\0';
}

void ctl_json_str(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

void ctl_json_cell(FILE *f, const ctl_rs *rs, int c, const char *v)
{
    if (!v)
        fputs("null", f);
    else if ((rs->numeric[c] || known_numeric(rs, rs->cols[c])) && ctl_is_json_number(v))
        fputs(v, f);
    else
        ctl_json_str(f, v);
}

void ctl_json_rows(FILE *f, const ctl_rs *rs)
{
    fputc('[', f);
    for (int r = 0; r < rs->nrows; r++) {
        fputs(r ? ",\n  {" : "\n  {", f);
        for (int c = 0; c < rs->ncols; c++) {
            if (c)
                fputs(", ", f);
            ctl_json_str(f, rs->cols[c]);
            fputs(": ", f);
            ctl_json_cell(f, rs, c, rs->rows[r][c]);
        }
        fputc('}', f);
    }
    fputs(rs->nrows ? "\n]" : "]", f);
}

/* Display width of UTF-8 text (code points; good enough for names and addresses). */
static size_t width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            w++;
    return w;
}

static void pad(FILE *f, size_t n)
{
    while (n--)
        fputc(' ', f);
}

void ctl_table_print(FILE *f, const ctl_rs *rs, const char *const *cols)
{
    int idx[128], n = 0;
    if (cols) {
        for (int i = 0; cols[i] && n < 128; i++) {
            int c = ctl_rs_col(rs, cols[i]);
            if (c >= 0)
                idx[n++] = c;
        }
    } else {
        for (int c = 0; c < rs->ncols && n < 128; c++)
            idx[n++] = c;
    }
    size_t w[128];
    int right[128];
    for (int k = 0; k < n; k++) {
        int c = idx[k];
        w[k] = width(rs->cols[c]);
        right[k] = rs->numeric[c] || known_numeric(rs, rs->cols[c]);
        for (int r = 0; r < rs->nrows; r++) {
            const char *v = rs->rows[r][c] ? rs->rows[r][c] : "NULL";
            size_t vw = width(v);
            if (vw > w[k])
                w[k] = vw;
            if (rs->rows[r][c] && !ctl_is_json_number(v))
                right[k] = 0;
        }
    }
    for (int k = 0; k < n; k++) {
        const char *h = rs->cols[idx[k]];
        if (right[k])
            pad(f, w[k] - width(h));
        fputs(h, f);
        if (!right[k] && k + 1 < n)
            pad(f, w[k] - width(h));
        if (k + 1 < n)
            fputs("  ", f);
    }
    fputc('\n', f);
    for (int r = 0; r < rs->nrows; r++) {
        for (int k = 0; k < n; k++) {
            const char *v = rs->rows[r][idx[k]] ? rs->rows[r][idx[k]] : "NULL";
            if (right[k])
                pad(f, w[k] - width(v));
            fputs(v, f);
            if (!right[k] && k + 1 < n)
                pad(f, w[k] - width(v));
            if (k + 1 < n)
                fputs("  ", f);
        }
        fputc('\n', f);
    }
}
