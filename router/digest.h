/*
 * router/digest.h — statement digests: the text of a statement with its literals replaced,
 * so that statements differing only in their values count as one (SHOW DIGESTS). Pure: no
 * I/O, no allocation, no global state; linear in the input.
 *
 * Normalisation:
 *  - string literals ('…', "…", with backslash and doubled-quote escapes, and the prefixed
 *    forms X'…', B'…', N'…'), numbers (integers, decimals, exponents, 0x…, 0b…) become `?`;
 *    NULL, TRUE and FALSE are kept (they are not values a query varies by);
 *  - `IN (?, ?, …)` (any number of literals or `?` placeholders) becomes `IN (...)`;
 *  - comments (`-- `, `#`, and every `/ * … * /`, including executable comments and optimizer
 *    hints) are dropped;
 *  - runs of whitespace and comments between two tokens become one space; leading and
 *    trailing whitespace and trailing `;` are dropped;
 *  - everything else — keywords, identifiers, `quoted` identifiers, operators, @variables —
 *    is kept as written: keywords are NOT uppercased (`select` and `SELECT` are two digests),
 *    because telling keywords from identifiers needs the server's grammar.
 * A sign right after an operator, `(`, `,` or at the start belongs to its number
 * (`a = -5` gives `a = ?`); after a word or `)` it is an operator (`a -5` gives `a -?`).
 */
#ifndef RWR_DIGEST_H
#define RWR_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define RWR_DIGEST_MAX_INPUT 4096 /* bytes of a statement looked at; the rest is ignored */

/*
 * Normalise sql[0..len) (only its first RWR_DIGEST_MAX_INPUT bytes) into out (cap bytes,
 * NUL-terminated, truncated to fit). Returns the length written (without the NUL) and sets
 * *hash to the 64-bit hash of that text (FNV-1a). cap must be at least 1.
 */
size_t rwr_digest(const char *sql, size_t len, char *out, size_t cap, uint64_t *hash);

/* FNV-1a 64 of a byte string (the digest's hash). */
uint64_t rwr_digest_hash(const char *s, size_t len);

#endif
