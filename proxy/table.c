/*
 * proxy/table.c — tables of text cells for the admin port (see table.h).
 */
#include "proxy/table.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rwp_table_init(rwp_table *t, int ncols, const char *const *cols)
{
    memset(t, 0, sizeof *t);
    t->cols = calloc((size_t)ncols, sizeof *t->cols);
    if (!t->cols) {
        t->oom = 1;
        return -1;
    }
    t->ncols = ncols;
    for (int i = 0; i < ncols; i++) {
        t->cols[i] = strdup(cols[i]);
        if (!t->cols[i])
            t->oom = 1;
    }
    return t->oom ? -1 : 0;
}

void rwp_table_free(rwp_table *t)
{
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    for (int i = 0; i < t->ncols; i++)
        free(t->cols[i]);
    free(t->cells);
    free(t->cols);
    memset(t, 0, sizeof *t);
}

long rwp_table_add_row(rwp_table *t)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **cells = realloc(t->cells, cap * (size_t)t->ncols * sizeof *cells);
        if (!cells) {
            t->oom = 1;
            return -1;
        }
        t->cells = cells;
        t->cap = cap;
    }
    memset(t->cells + t->nrows * (size_t)t->ncols, 0, (size_t)t->ncols * sizeof *t->cells);
    return (long)t->nrows++;
}

static char **cell_slot(rwp_table *t, long r, int col)
{
    if (r < 0 || (size_t)r >= t->nrows || col < 0 || col >= t->ncols)
        return NULL;
    return &t->cells[(size_t)r * (size_t)t->ncols + (size_t)col];
}

void rwp_table_setf(rwp_table *t, long r, int col, const char *fmt, ...)
{
    char **slot = cell_slot(t, r, col);
    if (!slot)
        return;
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->oom = 1;
        return;
    }
    free(*slot);
    *slot = text;
}

void rwp_table_set_null(rwp_table *t, long r, int col)
{
    char **slot = cell_slot(t, r, col);
    if (slot) {
        free(*slot);
        *slot = NULL;
    }
}

const char *rwp_table_cell(const rwp_table *t, size_t r, int col)
{
    if (r >= t->nrows || col < 0 || col >= t->ncols)
        return NULL;
    return t->cells[r * (size_t)t->ncols + (size_t)col];
}

int rwp_table_col(const rwp_table *t, const char *name)
{
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i], name) == 0)
            return i;
    return -1;
}
