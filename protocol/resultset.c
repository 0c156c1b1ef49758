/*
 * protocol/resultset.c — text result sets and OK packets with info text (see resultset.h).
 */
#include "protocol/resultset.h"

#include <string.h>

#include "protocol/mysql_const.h"

#define MAX_DISPLAY_LEN 0x00ffffffu /* column length announced at most (bytes) */

/* Finish the packet being written with the next sequence id; start another if more. */
static void end_packet(proto_writer *w, uint8_t *seq, int more)
{
    proto_wr_finish(w, (*seq)++);
    if (more)
        proto_wr_next(w);
}

/* Display length of column col in bytes: the longest of its name and cells, 4 bytes a
 * character (utf8mb4), as servers announce it. */
static uint32_t column_length(int ncols, const char *const *cols, size_t nrows,
                              const char *const *cells, int col)
{
    size_t longest = strlen(cols[col]);
    for (size_t r = 0; r < nrows; r++) {
        const char *cell = cells[r * (size_t)ncols + (size_t)col];
        size_t n = cell ? strlen(cell) : 0;
        if (n > longest)
            longest = n;
    }
    if (longest == 0)
        longest = 1;
    return longest > MAX_DISPLAY_LEN / 4 ? MAX_DISPLAY_LEN : (uint32_t)(longest * 4);
}

/* One ColumnDefinition41 packet payload. */
static void write_column_def(proto_writer *w, const char *name, uint32_t length)
{
    size_t nlen = strlen(name);
    proto_wr_lenenc_str(w, "def", 3); /* catalog */
    proto_wr_lenenc(w, 0);            /* schema */
    proto_wr_lenenc(w, 0);            /* table alias */
    proto_wr_lenenc(w, 0);            /* table */
    proto_wr_lenenc_str(w, name, nlen);
    proto_wr_lenenc_str(w, name, nlen); /* original name */
    proto_wr_lenenc(w, 0x0c);           /* length of the fixed fields that follow */
    proto_wr_u16(w, CHARSET_UTF8MB4_GENERAL_CI);
    proto_wr_u32(w, length);
    proto_wr_u8(w, PROTO_TYPE_VAR_STRING);
    proto_wr_u16(w, 0); /* flags */
    proto_wr_u8(w, 0);  /* decimals */
    proto_wr_u16(w, 0); /* filler */
}

/* One text row payload: each cell a length-encoded string, 0xFB for NULL. */
static void write_row(proto_writer *w, int ncols, const char *const *row)
{
    for (int c = 0; c < ncols; c++) {
        if (row[c])
            proto_wr_lenenc_str(w, row[c], strlen(row[c]));
        else
            proto_wr_u8(w, 0xfb);
    }
}

/* The OK packet with header 0xFE that ends a result set under CLIENT_DEPRECATE_EOF. */
static void write_ok_terminator(proto_writer *w, uint16_t status)
{
    proto_wr_u8(w, PKT_EOF);
    proto_wr_lenenc(w, 0); /* affected rows */
    proto_wr_lenenc(w, 0); /* last insert id */
    proto_wr_u16(w, (uint16_t)(status & ~SERVER_SESSION_STATE_CHANGED));
    proto_wr_u16(w, 0); /* warnings */
}

/* A classic EOF packet payload. */
static void write_eof_payload(proto_writer *w, uint16_t status)
{
    proto_wr_u8(w, PKT_EOF);
    proto_wr_u16(w, 0); /* warnings */
    proto_wr_u16(w, status);
}

int proto_rs_encode(proto_writer *w, uint8_t *seq, int ncols, const char *const *cols,
                    size_t nrows, const char *const *cells, uint32_t caps, uint16_t status)
{
    int deprecate_eof = (caps & CLIENT_DEPRECATE_EOF) != 0;
    if (ncols <= 0) {
        w->err = 1;
        return -1;
    }
    proto_wr_lenenc(w, (uint64_t)ncols);
    end_packet(w, seq, 1);
    for (int c = 0; c < ncols; c++) {
        write_column_def(w, cols[c], column_length(ncols, cols, nrows, cells, c));
        end_packet(w, seq, 1);
    }
    if (!deprecate_eof) {
        write_eof_payload(w, status);
        end_packet(w, seq, 1);
    }
    for (size_t r = 0; r < nrows && !w->err; r++) {
        write_row(w, ncols, cells + r * (size_t)ncols);
        end_packet(w, seq, 1);
    }
    if (deprecate_eof)
        write_ok_terminator(w, status);
    else
        write_eof_payload(w, status);
    end_packet(w, seq, 0);
    return w->err ? -1 : 0;
}
