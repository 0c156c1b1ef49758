/*
 * protocol/resultset.h — encoding of text result sets (the answer to COM_QUERY) for answers
 * rwproxy makes up itself (the admin port). Every
 * column is sent as VAR_STRING in utf8mb4 (collation 45) with catalog "def" and no schema or
 * table; every cell is a length-encoded string, SQL NULL is 0xFB. The result set ends with a
 * classic EOF, or with an OK packet whose header is 0xFE when CLIENT_DEPRECATE_EOF was
 * negotiated (then no EOF follows the column definitions either). Pure: bytes into a
 * proto_writer, no I/O. Plain OK packets (with an info text) come from protocol/response.h.
 *
 * Writer convention: the writer must be positioned at the start of a fresh packet (just after
 * proto_wr_init or proto_wr_next); on return the last packet written is finished and no new
 * one is started, so the buffer can be sent as is.
 */
#ifndef RWP_RESULTSET_H
#define RWP_RESULTSET_H

#include <stddef.h>
#include <stdint.h>

#include "packet.h"

#define PROTO_TYPE_VAR_STRING 0xfd /* MYSQL_TYPE_VAR_STRING */

/* A whole text result set: ncols column names, then nrows rows of ncols cells each,
 * row-major in cells (a NULL cell is SQL NULL). Packets get sequence ids *seq, *seq + 1, ...
 * and *seq is left at the next free one. caps are the negotiated client capabilities
 * (CLIENT_DEPRECATE_EOF decides the terminators); status goes into the terminator.
 * Returns 0, or -1 if the writer failed (allocation or size limit; w->err is set). */
int proto_rs_encode(proto_writer *w, uint8_t *seq, int ncols, const char *const *cols,
                    size_t nrows, const char *const *cells, uint32_t caps, uint16_t status);

#endif
