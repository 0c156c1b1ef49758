/*
 * proxy/table.h — a small table of text cells: what every admin command answers with
 * (column names, then rows). Producers (proxy/stats.c, the monitor views) fill one; the
 * admin port encodes it as a MySQL text result set; rwproxyctl shows it. Cells are owned
 * copies; a NULL cell is SQL NULL.
 */
#ifndef RWP_TABLE_H
#define RWP_TABLE_H

#include <stddef.h>

typedef struct {
    int ncols;      /* columns */
    char **cols;    /* ncols column names (owned) */
    size_t nrows;   /* rows filled */
    size_t cap;     /* rows allocated */
    char **cells;   /* nrows * ncols cells, row-major (owned; NULL = SQL NULL) */
    int oom;        /* an allocation failed: the table is incomplete */
} rwp_table;

/* Start a table with these column names (copied). Returns 0, -1 on allocation failure. */
int rwp_table_init(rwp_table *t, int ncols, const char *const *cols);
void rwp_table_free(rwp_table *t);
/* Append an empty row (all NULL); returns its index, or -1 on allocation failure. */
long rwp_table_add_row(rwp_table *t);
/* Set a cell of row r from a printf format (replaces what was there). */
void rwp_table_setf(rwp_table *t, long r, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Set a cell to SQL NULL. */
void rwp_table_set_null(rwp_table *t, long r, int col);
/* The cell (NULL for SQL NULL or out of range). */
const char *rwp_table_cell(const rwp_table *t, size_t r, int col);
/* Index of a column by name (exact), or -1. */
int rwp_table_col(const rwp_table *t, const char *name);

#endif
