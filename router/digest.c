/*
 * router/digest.c — statement digests (see digest.h): one pass over the statement, token by
 * token, writing the normalised text as it goes; IN lists are folded when their `)` arrives.
 */
#include "router/digest.h"

#include <string.h>

/* What the previous token written was (decides spacing, signs and IN folding). */
typedef enum {
    TK_NONE = 0, /* nothing yet */
    TK_WORD,     /* keyword, identifier, @variable, `quoted` identifier */
    TK_LIT,      /* a literal written as ? */
    TK_OPEN,     /* ( */
    TK_CLOSE,    /* ) */
    TK_PUNCT     /* any other operator or punctuation */
} tok_kind;

/* Progress through `IN ( ?, ?, ... )`. */
typedef enum {
    IN_NONE = 0, /* not in an IN list */
    IN_WORD,     /* the last token was IN */
    IN_VALUE,    /* after `IN (` or a `,`: a literal must come */
    IN_AFTER     /* after a literal: `,` or `)` */
} in_state;

typedef struct {
    char *out;       /* output buffer */
    size_t cap;      /* its size */
    size_t len;      /* bytes written */
    int full;        /* output truncated: stop */
    int space;       /* whitespace or a comment since the last token */
    tok_kind prev;   /* previous token */
    in_state in;     /* IN list folding */
    size_t in_pos;   /* output length before the `(` of the IN list (space included) */
} digest_out;

static int is_space(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

static int is_digit(unsigned char ch) { return ch >= '0' && ch <= '9'; }

static int is_ident(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) || ch == '_' ||
           ch == '$' || ch >= 0x80;
}

static int is_hex(unsigned char ch)
{
    return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static void put(digest_out *d, const char *s, size_t n)
{
    if (d->full)
        return;
    if (n > d->cap - 1 - d->len) {
        n = d->cap - 1 - d->len;
        d->full = 1;
    }
    memcpy(d->out + d->len, s, n);
    d->len += n;
}

/* Write one token (with the single space that stands for what separated it). */
static void emit(digest_out *d, tok_kind kind, const char *s, size_t n)
{
    size_t before = d->len;
    int had_space = d->space && d->len > 0;
    if (had_space)
        put(d, " ", 1);
    d->space = 0;
    int is_in = kind == TK_WORD && n == 2 && (s[0] == 'i' || s[0] == 'I') && (s[1] == 'n' || s[1] == 'N');
    switch (d->in) {
    case IN_WORD:
        d->in = kind == TK_OPEN ? IN_VALUE : IN_NONE;
        d->in_pos = before;
        break;
    case IN_VALUE:
        d->in = kind == TK_LIT ? IN_AFTER : IN_NONE;
        break;
    case IN_AFTER:
        if (kind == TK_PUNCT && n == 1 && s[0] == ',') {
            d->in = IN_VALUE;
        } else if (kind == TK_CLOSE && !d->full) {
            /* fold the list: back to before its `(` */
            int space_before_paren = d->in_pos < d->len && d->out[d->in_pos] == ' ';
            d->len = d->in_pos;
            put(d, space_before_paren ? " (...)" : "(...)", space_before_paren ? 6 : 5);
            d->in = IN_NONE;
            d->prev = TK_CLOSE;
            return;
        } else {
            d->in = IN_NONE;
        }
        break;
    default:
        break;
    }
    if (is_in)
        d->in = IN_WORD;
    put(d, s, n);
    d->prev = kind;
}

/* End of a quoted literal or identifier starting at i (the opening quote q). */
static size_t skip_quoted(const char *s, size_t len, size_t i, char q)
{
    i++;
    while (i < len) {
        if (s[i] == '\\' && q != '`') {
            i += 2;
            continue;
        }
        if (s[i] == q) {
            if (i + 1 < len && s[i + 1] == q) { /* doubled quote */
                i += 2;
                continue;
            }
            return i + 1;
        }
        i++;
    }
    return len;
}

/* End of a number starting at i (digits, or . followed by digits); returns i if the text is
 * really an identifier that starts with digits. */
static size_t scan_number(const char *s, size_t len, size_t i)
{
    size_t j = i;
    const unsigned char *u = (const unsigned char *)s;
    if (u[j] == '0' && j + 1 < len && (s[j + 1] == 'x' || s[j + 1] == 'X') && j + 2 < len && is_hex(u[j + 2])) {
        j += 2;
        while (j < len && is_hex(u[j]))
            j++;
    } else if (u[j] == '0' && j + 1 < len && (s[j + 1] == 'b' || s[j + 1] == 'B') && j + 2 < len &&
               (s[j + 2] == '0' || s[j + 2] == '1')) {
        j += 2;
        while (j < len && (s[j] == '0' || s[j] == '1'))
            j++;
    } else {
        while (j < len && is_digit(u[j]))
            j++;
        if (j < len && s[j] == '.') {
            j++;
            while (j < len && is_digit(u[j]))
                j++;
        }
        if (j < len && (s[j] == 'e' || s[j] == 'E')) {
            size_t k = j + 1;
            if (k < len && (s[k] == '+' || s[k] == '-'))
                k++;
            if (k < len && is_digit(u[k])) {
                j = k;
                while (j < len && is_digit(u[j]))
                    j++;
            }
        }
    }
    if (j < len && is_ident(u[j]))
        return i; /* 1abc, 0xZZ: an identifier */
    return j;
}

/* May a + or - here be the sign of the number that follows? */
static int sign_allowed(const digest_out *d)
{
    return d->prev == TK_NONE || d->prev == TK_OPEN || d->prev == TK_PUNCT;
}

size_t rwr_digest(const char *sql, size_t len, char *out, size_t cap, uint64_t *hash)
{
    digest_out d = {.out = out, .cap = cap};
    const unsigned char *u = (const unsigned char *)sql;
    if (len > RWR_DIGEST_MAX_INPUT)
        len = RWR_DIGEST_MAX_INPUT;
    size_t i = 0;
    while (i < len && !d.full) {
        unsigned char ch = u[i];
        if (is_space(ch) || ch == 0) {
            d.space = 1;
            i++;
        } else if (ch == '#' || (ch == '-' && i + 1 < len && sql[i + 1] == '-' &&
                                 (i + 2 >= len || u[i + 2] <= ' '))) {
            while (i < len && sql[i] != '\n')
                i++;
            d.space = 1;
        } else if (ch == '/' && i + 1 < len && sql[i + 1] == '*') {
            const char *end = NULL;
            for (size_t k = i + 2; k + 1 < len; k++)
                if (sql[k] == '*' && sql[k + 1] == '/') {
                    end = sql + k + 2;
                    break;
                }
            i = end ? (size_t)(end - sql) : len;
            d.space = 1;
        } else if (ch == '\'' || ch == '"') {
            i = skip_quoted(sql, len, i, (char)ch);
            emit(&d, TK_LIT, "?", 1);
        } else if (ch == '`') {
            size_t e = skip_quoted(sql, len, i, '`');
            size_t at = d.len;
            emit(&d, TK_WORD, sql + i, e - i);
            for (; at < d.len; at++) /* the text stays a C string */
                if (out[at] == '\0')
                    out[at] = '?';
            i = e;
        } else if (ch == '?') {
            emit(&d, TK_LIT, "?", 1);
            i++;
        } else if (is_digit(ch) || (ch == '.' && i + 1 < len && is_digit(u[i + 1]) && d.prev != TK_WORD)) {
            size_t e = scan_number(sql, len, i);
            if (e == i) { /* an identifier starting with digits */
                while (e < len && is_ident(u[e]))
                    e++;
                emit(&d, TK_WORD, sql + i, e - i);
            } else {
                emit(&d, TK_LIT, "?", 1);
            }
            i = e;
        } else if ((ch == '-' || ch == '+') && sign_allowed(&d) && i + 1 < len &&
                   (is_digit(u[i + 1]) || (sql[i + 1] == '.' && i + 2 < len && is_digit(u[i + 2]))) &&
                   scan_number(sql, len, i + 1) > i + 1) {
            i = scan_number(sql, len, i + 1);
            emit(&d, TK_LIT, "?", 1);
        } else if (is_ident(ch) || ch == '@') {
            size_t e = i;
            while (e < len && sql[e] == '@')
                e++;
            while (e < len && is_ident(u[e]))
                e++;
            size_t n = e - i;
            int prefixed = e < len && sql[e] == '\'' &&
                           ((n == 1 && strchr("xXbBnN", sql[i])) || (n > 1 && sql[i] == '_'));
            if (prefixed) { /* X'0F', N'text', _utf8mb4'text' */
                i = skip_quoted(sql, len, e, '\'');
                emit(&d, TK_LIT, "?", 1);
            } else {
                emit(&d, TK_WORD, sql + i, n);
                i = e;
            }
        } else {
            tok_kind k = ch == '(' ? TK_OPEN : ch == ')' ? TK_CLOSE : TK_PUNCT;
            emit(&d, k, sql + i, 1);
            i++;
        }
    }
    while (d.len > 0 && !d.full && (out[d.len - 1] == ';' || out[d.len - 1] == ' '))
        d.len--;
    out[d.len] = '\0';
    *hash = rwr_digest_hash(out, d.len);
    return d.len;
}

uint64_t rwr_digest_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
