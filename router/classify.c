/*
 * router/classify.c — the pure SQL statement classifier (see classify.h).
 * Owns: the tokenizer (lexer), hint comments, the built-in function table, the body scanner
 * that collects "facts" (function calls, FOR UPDATE, INTO, :=, temp-table identifiers, ...),
 * the per-statement handlers (SELECT, SHOW, SET, transactions, DDL, ...) and the driver
 * (multi-statements, the two string-escape interpretations, hints).
 * Design: a streaming lexer with one token of lookahead; no allocation; recursion bounded
 * (EXPLAIN / SET STATEMENT nesting is capped), so the work is linear in the input length.
 */
#include "router/classify.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ tokens */

/* Token types produced by the lexer. */
typedef enum {
    TK_END = 0, /* end of input */
    TK_ERROR,   /* unterminated string, identifier or comment (sticky) */
    TK_WORD,    /* unquoted identifier or keyword */
    TK_QIDENT,  /* `quoted identifier` (s/n: the text between the backticks, doubled `` kept) */
    TK_STRING,  /* 'string' or "string" (s/n: including the quotes) */
    TK_NUMBER,  /* numeric literal */
    TK_UVAR,    /* @name, @'name', @`name` (s/n: after the @) */
    TK_SVAR,    /* @@name, @@session.name (s/n: after the @@) */
    TK_ASSIGN,  /* := */
    TK_LP,      /* ( */
    TK_RP,      /* ) */
    TK_COMMA,   /* , */
    TK_SEMI,    /* ; */
    TK_DOT,     /* . */
    TK_OP       /* any other single byte (operators, junk) */
} tok_type;

/* One token: a view into the input. */
typedef struct {
    tok_type type; /* TK_* */
    const char *s; /* first byte of the token's text */
    size_t n;      /* length of the text */
} tok;

/* Hint found in a comment before the first keyword. */
typedef struct {
    int kind;        /* 0 none, 1 master, 2 replica, 3 server */
    char server[64]; /* kind 3: the server name */
} hint_rec;

/* Lexer state: plain data, copied to look further ahead. */
typedef struct {
    const char *p;   /* next unread byte */
    const char *end; /* one past the last byte */
    int in_exec;     /* inside an executable comment (its closing star-slash ends it) */
    int nbe;         /* interpret strings as under NO_BACKSLASH_ESCAPES */
    int saw_bslash;  /* a quoted string or identifier contained a backslash */
    int seen_word;   /* a word was returned: later comments are not hints */
    int failed;      /* sticky: an unterminated construct was found */
    hint_rec *hint;  /* where hints are recorded (first one wins) */
} lexer;

static int up(int ch)
{
    return (ch >= 'a' && ch <= 'z') ? ch - 32 : ch;
}

static int is_space(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

static int is_word_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '$' || ch >= 0x80;
}

static int is_digit(unsigned char ch)
{
    return ch >= '0' && ch <= '9';
}

/* Case-insensitive compare of s[0..n) with the NUL-terminated upper-case ASCII word w. */
static int word_eq(const char *s, size_t n, const char *w)
{
    size_t i = 0;
    for (; i < n && w[i]; i++)
        if (up((unsigned char)s[i]) != w[i])
            return 0;
    return i == n && w[i] == '\0';
}

/* ------------------------------------------------------------------ hints */

static const char *skip_blank(const char *p, const char *end)
{
    while (p < end && is_space((unsigned char)*p))
        p++;
    return p;
}

/* Matches the ASCII word w (upper case) case-insensitively at p; returns the end or NULL. */
static const char *match_word(const char *p, const char *end, const char *w)
{
    for (; *w; w++, p++)
        if (p >= end || up((unsigned char)*p) != *w)
            return NULL;
    return p;
}

/* Parses "rwproxy:master|replica|slave|server=NAME" in a comment body into *h (first wins). */
static void parse_hint(const char *p, const char *end, hint_rec *h)
{
    if (!h || h->kind)
        return;
    p = match_word(skip_blank(p, end), end, "RWPROXY");
    if (!p)
        return;
    p = skip_blank(p, end);
    if (p >= end || *p != ':')
        return;
    p = skip_blank(p + 1, end);
    const char *q = p;
    while (q < end && ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')))
        q++;
    if (word_eq(p, (size_t)(q - p), "MASTER") || word_eq(p, (size_t)(q - p), "PRIMARY")) {
        h->kind = 1;
    } else if (word_eq(p, (size_t)(q - p), "REPLICA") || word_eq(p, (size_t)(q - p), "SLAVE")) {
        h->kind = 2;
    } else if (word_eq(p, (size_t)(q - p), "SERVER")) {
        p = skip_blank(q, end);
        if (p >= end || *p != '=')
            return;
        p = skip_blank(p + 1, end);
        q = p;
        while (q < end && (is_word_char((unsigned char)*q) || *q == '.' || *q == '-') &&
               (unsigned char)*q < 0x80)
            q++;
        size_t n = (size_t)(q - p);
        if (n == 0 || n >= sizeof h->server)
            return;
        memcpy(h->server, p, n);
        h->server[n] = '\0';
        h->kind = 3;
    }
}

/* ------------------------------------------------------------------ lexer */

static void lex_init(lexer *lx, const char *s, size_t len, int nbe, hint_rec *h)
{
    memset(lx, 0, sizeof *lx);
    lx->p = s;
    lx->end = s + len;
    lx->nbe = nbe;
    lx->hint = h;
}

/* A line comment from p (after its opener) to the end of the line. */
static void lex_line_comment(lexer *lx, const char *body)
{
    const char *e = body;
    while (e < lx->end && *e != '\n')
        e++;
    if (!lx->seen_word)
        parse_hint(body, e, lx->hint);
    lx->p = e < lx->end ? e + 1 : e;
}

/* Starts an executable comment at lx->p (pointing at its opener of `skip` bytes). */
static int lex_exec_open(lexer *lx, size_t skip)
{
    if (lx->in_exec)
        return 0; /* nested executable comments are not allowed */
    lx->p += skip;
    for (int i = 0; i < 6 && lx->p < lx->end && is_digit((unsigned char)*lx->p); i++)
        lx->p++;
    lx->in_exec = 1;
    return 1;
}

/* A block comment at lx->p; returns 0 if unterminated or not allowed here. */
static int lex_block_comment(lexer *lx)
{
    const char *p = lx->p;
    if (p + 2 < lx->end && p[2] == '!')
        return lex_exec_open(lx, 3);
    if (p + 3 < lx->end && p[2] == 'M' && p[3] == '!')
        return lex_exec_open(lx, 4);
    if (lx->in_exec)
        return 0; /* a comment inside an executable comment would end it early */
    const char *body = p + 2;
    for (const char *e = body; e + 1 < lx->end; e++) {
        if (e[0] == '*' && e[1] == '/') {
            if (!lx->seen_word)
                parse_hint(body, e, lx->hint);
            lx->p = e + 2;
            return 1;
        }
    }
    return 0;
}

/* Skips whitespace and comments; returns 0 on an unterminated comment. */
static int lex_skip(lexer *lx)
{
    while (lx->p < lx->end) {
        const char *p = lx->p;
        unsigned char ch = (unsigned char)*p;
        size_t left = (size_t)(lx->end - p);
        if (is_space(ch)) {
            lx->p++;
        } else if (ch == '#') {
            lex_line_comment(lx, p + 1);
        } else if (ch == '-' && left >= 2 && p[1] == '-' &&
                   (left == 2 || (unsigned char)p[2] <= ' ' || p[2] == 0x7f)) {
            lex_line_comment(lx, p + 2);
        } else if (ch == '/' && left >= 2 && p[1] == '*') {
            if (!lex_block_comment(lx))
                return 0;
        } else if (ch == '*' && left >= 2 && p[1] == '/' && lx->in_exec) {
            lx->in_exec = 0;
            lx->p += 2;
        } else {
            break;
        }
    }
    return !lx->in_exec || lx->p < lx->end; /* an executable comment left open is an error */
}

/* A quoted run starting at lx->p with quote q; returns 0 if unterminated. */
static int lex_quoted(lexer *lx, char q)
{
    const char *p = lx->p + 1;
    while (p < lx->end) {
        if (*p == '\\' && q != '`') {
            lx->saw_bslash = 1;
            if (!lx->nbe) {
                if (p + 1 >= lx->end)
                    return 0;
                p += 2;
                continue;
            }
        }
        if (*p == q) {
            if (p + 1 < lx->end && p[1] == q) {
                p += 2;
                continue;
            }
            lx->p = p + 1;
            return 1;
        }
        p++;
    }
    return 0;
}

/* Is s[0..n) (a run starting with a digit) a number rather than an identifier like 1abc? */
static int is_number_text(const char *s, size_t n)
{
    size_t i = 0;
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'b'))
        return 1; /* 0x1f, 0b101 (junk like 0xzz is rare and harmless either way) */
    while (i < n && is_digit((unsigned char)s[i]))
        i++;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        while (i < n && is_digit((unsigned char)s[i]))
            i++;
    }
    return i == n;
}

/* A word or number starting at lx->p. */
static void lex_word(lexer *lx, tok *t)
{
    const char *p = lx->p;
    while (p < lx->end && is_word_char((unsigned char)*p))
        p++;
    t->s = lx->p;
    t->n = (size_t)(p - lx->p);
    t->type = TK_WORD;
    if (is_digit((unsigned char)*lx->p) && is_number_text(t->s, t->n)) {
        t->type = TK_NUMBER;
        /* decimal part and signed exponent: 1.5, 1.5e-3 */
        if (p + 1 < lx->end && *p == '.' && is_digit((unsigned char)p[1])) {
            p++;
            while (p < lx->end && (is_digit((unsigned char)*p) || *p == 'e' || *p == 'E'))
                p++;
        }
        if (p + 1 < lx->end && (p[-1] == 'e' || p[-1] == 'E') && (*p == '-' || *p == '+') &&
            is_digit((unsigned char)p[1])) {
            p++;
            while (p < lx->end && is_digit((unsigned char)*p))
                p++;
        }
        t->n = (size_t)(p - lx->p);
    } else {
        lx->seen_word = 1;
    }
    lx->p = p;
}

/* A variable starting at lx->p ('@'). */
static int lex_var(lexer *lx, tok *t)
{
    const char *p = lx->p + 1;
    if (p < lx->end && *p == '@') {
        const char *q = ++p;
        while (q < lx->end && (is_word_char((unsigned char)*q) || *q == '.'))
            q++;
        if (q == p)
            return 0;
        t->type = TK_SVAR;
        t->s = p;
        t->n = (size_t)(q - p);
        lx->p = q;
        return 1;
    }
    if (p < lx->end && (*p == '\'' || *p == '"' || *p == '`')) {
        lx->p = p;
        if (!lex_quoted(lx, *p))
            return -1;
        t->type = TK_UVAR;
        t->s = p;
        t->n = (size_t)(lx->p - p);
        return 1;
    }
    const char *q = p;
    while (q < lx->end && (is_word_char((unsigned char)*q) || *q == '.'))
        q++;
    if (q == p)
        return 0;
    t->type = TK_UVAR;
    t->s = p;
    t->n = (size_t)(q - p);
    lx->p = q;
    return 1;
}

static void lex_fail(lexer *lx, tok *t)
{
    lx->failed = 1;
    lx->p = lx->end;
    t->type = TK_ERROR;
    t->s = lx->end;
    t->n = 0;
}

/* Single-byte punctuation. */
static void lex_punct(lexer *lx, tok *t)
{
    const char *p = lx->p;
    t->s = p;
    t->n = 1;
    switch (*p) {
    case '(': t->type = TK_LP; break;
    case ')': t->type = TK_RP; break;
    case ',': t->type = TK_COMMA; break;
    case ';': t->type = TK_SEMI; break;
    case '.': t->type = TK_DOT; break;
    default: t->type = TK_OP; break;
    }
    if (*p == ':' && p + 1 < lx->end && p[1] == '=') {
        t->type = TK_ASSIGN;
        t->n = 2;
    }
    lx->p += t->n;
}

/* Produces the next token. */
static void lex_next(lexer *lx, tok *t)
{
    if (lx->failed || !lex_skip(lx)) {
        lex_fail(lx, t);
        return;
    }
    if (lx->p >= lx->end) {
        t->type = TK_END;
        t->s = lx->end;
        t->n = 0;
        return;
    }
    unsigned char ch = (unsigned char)*lx->p;
    if (ch == '\'' || ch == '"' || ch == '`') {
        const char *start = lx->p;
        if (!lex_quoted(lx, (char)ch)) {
            lex_fail(lx, t);
            return;
        }
        t->type = ch == '`' ? TK_QIDENT : TK_STRING;
        t->s = ch == '`' ? start + 1 : start;
        t->n = (size_t)(lx->p - start) - (ch == '`' ? 2 : 0);
        if (ch == '`')
            lx->seen_word = 1;
    } else if (is_word_char(ch)) {
        lex_word(lx, t);
    } else if (ch == '@') {
        int r = lex_var(lx, t);
        if (r < 0)
            lex_fail(lx, t);
        else if (r == 0)
            lex_punct(lx, t);
    } else {
        lex_punct(lx, t);
    }
}

/* ------------------------------------------------------------------ built-in functions */

/* What calling a built-in name means for routing. */
typedef enum {
    FN_PURE = 0,   /* deterministic built-in, or a keyword that may precede '(' */
    FN_NONDET,     /* built-in whose value differs per call/server (NOW, RAND): fine on a replica */
    FN_GET_LOCK,   /* GET_LOCK: master, pins the session */
    FN_LOCK,       /* other user-lock functions: master */
    FN_LAST_ID,    /* LAST_INSERT_ID: master */
    FN_ROW_COUNT,  /* ROW_COUNT: master */
    FN_FOUND_ROWS, /* FOUND_ROWS: the previous server */
    FN_SEQ,        /* NEXTVAL/LASTVAL/SETVAL: master */
    FN_MASTER,     /* server-local or replication functions: master */
    FN_UNKNOWN     /* not a built-in: a stored function, which may write */
} fn_class;

/* One row of the built-in table. */
typedef struct {
    const char *name; /* upper case */
    fn_class cls;     /* its routing class */
} fn_entry;

/* 540 entries, sorted by name (rwr_classify_table_ok() checks it). */
static const fn_entry fn_table[] = {
    {"ABS", FN_PURE}, {"ACOS", FN_PURE}, {"ADDDATE", FN_PURE}, {"ADDTIME", FN_PURE},
    {"ADD_MONTHS", FN_PURE}, {"AES_DECRYPT", FN_PURE}, {"AES_ENCRYPT", FN_PURE}, {"AGAINST", FN_PURE},
    {"ALL", FN_PURE}, {"ANALYSE", FN_PURE}, {"AND", FN_PURE}, {"ANY", FN_PURE}, {"ANY_VALUE", FN_PURE},
    {"AREA", FN_PURE}, {"ARRAY", FN_PURE}, {"AS", FN_PURE}, {"ASBINARY", FN_PURE}, {"ASCII", FN_PURE},
    {"ASIN", FN_PURE}, {"ASTEXT", FN_PURE}, {"ASWKT", FN_PURE}, {"ATAN", FN_PURE}, {"ATAN2", FN_PURE},
    {"AVG", FN_PURE}, {"BENCHMARK", FN_NONDET}, {"BETWEEN", FN_PURE}, {"BIGINT", FN_PURE},
    {"BIN", FN_PURE}, {"BINARY", FN_PURE}, {"BINLOG_GTID_POS", FN_MASTER}, {"BIN_TO_UUID", FN_PURE},
    {"BIT", FN_PURE}, {"BIT_AND", FN_PURE}, {"BIT_COUNT", FN_PURE}, {"BIT_LENGTH", FN_PURE},
    {"BIT_OR", FN_PURE}, {"BIT_XOR", FN_PURE}, {"BLOB", FN_PURE}, {"BOTH", FN_PURE}, {"BY", FN_PURE},
    {"CASE", FN_PURE}, {"CAST", FN_PURE}, {"CEIL", FN_PURE}, {"CEILING", FN_PURE},
    {"CENTROID", FN_PURE}, {"CHAR", FN_PURE}, {"CHARACTER", FN_PURE}, {"CHARACTER_LENGTH", FN_PURE},
    {"CHARSET", FN_PURE}, {"CHAR_LENGTH", FN_PURE}, {"CHR", FN_PURE}, {"COALESCE", FN_PURE},
    {"COERCIBILITY", FN_PURE}, {"COLLATION", FN_PURE}, {"COLUMNS", FN_PURE}, {"COLUMN_ADD", FN_PURE},
    {"COLUMN_CHECK", FN_PURE}, {"COLUMN_CREATE", FN_PURE}, {"COLUMN_DELETE", FN_PURE},
    {"COLUMN_EXISTS", FN_PURE}, {"COLUMN_GET", FN_PURE}, {"COLUMN_JSON", FN_PURE},
    {"COLUMN_LIST", FN_PURE}, {"COMPRESS", FN_PURE}, {"CONCAT", FN_PURE},
    {"CONCAT_OPERATOR_ORACLE", FN_PURE}, {"CONCAT_WS", FN_PURE}, {"CONNECTION_ID", FN_NONDET},
    {"CONV", FN_PURE}, {"CONVERT", FN_PURE}, {"CONVERT_TZ", FN_PURE}, {"COS", FN_PURE},
    {"COT", FN_PURE}, {"COUNT", FN_PURE}, {"CRC32", FN_PURE}, {"CRC32C", FN_PURE}, {"CROSS", FN_PURE},
    {"CUME_DIST", FN_PURE}, {"CURDATE", FN_NONDET}, {"CURRENT_DATE", FN_NONDET},
    {"CURRENT_ROLE", FN_NONDET}, {"CURRENT_TIME", FN_NONDET}, {"CURRENT_TIMESTAMP", FN_NONDET},
    {"CURRENT_USER", FN_NONDET}, {"CURTIME", FN_NONDET}, {"DATABASE", FN_PURE}, {"DATE", FN_PURE},
    {"DATEDIFF", FN_PURE}, {"DATETIME", FN_PURE}, {"DATE_ADD", FN_PURE}, {"DATE_FORMAT", FN_PURE},
    {"DATE_SUB", FN_PURE}, {"DAY", FN_PURE}, {"DAYNAME", FN_PURE}, {"DAYOFMONTH", FN_PURE},
    {"DAYOFWEEK", FN_PURE}, {"DAYOFYEAR", FN_PURE}, {"DEC", FN_PURE}, {"DECIMAL", FN_PURE},
    {"DECODE", FN_PURE}, {"DECODE_ORACLE", FN_PURE}, {"DEFAULT", FN_PURE}, {"DEGREES", FN_PURE},
    {"DENSE_RANK", FN_PURE}, {"DES_DECRYPT", FN_PURE}, {"DES_ENCRYPT", FN_PURE}, {"DISTINCT", FN_PURE},
    {"DISTINCTROW", FN_PURE}, {"DIV", FN_PURE}, {"DO", FN_PURE}, {"DOUBLE", FN_PURE}, {"DUAL", FN_PURE},
    {"ELSE", FN_PURE}, {"ELSEIF", FN_PURE}, {"ELT", FN_PURE}, {"ENCODE", FN_PURE}, {"ENCRYPT", FN_PURE},
    {"ENVELOPE", FN_PURE}, {"ESCAPE", FN_PURE}, {"EXCEPT", FN_PURE}, {"EXISTS", FN_PURE},
    {"EXP", FN_PURE}, {"EXPORT_SET", FN_PURE}, {"EXTRACT", FN_PURE}, {"EXTRACTVALUE", FN_PURE},
    {"FIELD", FN_PURE}, {"FIND_IN_SET", FN_PURE}, {"FIRST_VALUE", FN_PURE}, {"FIXED", FN_PURE},
    {"FLOAT", FN_PURE}, {"FLOOR", FN_PURE}, {"FOR", FN_PURE}, {"FORCE", FN_PURE}, {"FORMAT", FN_PURE},
    {"FORMAT_BYTES", FN_PURE}, {"FORMAT_PICO_TIME", FN_PURE}, {"FOUND_ROWS", FN_FOUND_ROWS},
    {"FROM", FN_PURE}, {"FROM_BASE64", FN_PURE}, {"FROM_DAYS", FN_PURE}, {"FROM_UNIXTIME", FN_PURE},
    {"GEOMETRY", FN_PURE}, {"GEOMETRYCOLLECTION", FN_PURE}, {"GEOMFROMTEXT", FN_PURE},
    {"GET_FORMAT", FN_PURE}, {"GET_LOCK", FN_GET_LOCK}, {"GLENGTH", FN_PURE}, {"GREATEST", FN_PURE},
    {"GROUP", FN_PURE}, {"GROUPING", FN_PURE}, {"GROUP_CONCAT", FN_PURE}, {"HAVING", FN_PURE},
    {"HEX", FN_PURE}, {"HOUR", FN_PURE}, {"ICU_VERSION", FN_PURE}, {"IF", FN_PURE}, {"IFNULL", FN_PURE},
    {"IGNORE", FN_PURE}, {"IN", FN_PURE}, {"INDEX", FN_PURE}, {"INET6_ATON", FN_PURE},
    {"INET6_NTOA", FN_PURE}, {"INET_ATON", FN_PURE}, {"INET_NTOA", FN_PURE}, {"INNER", FN_PURE},
    {"INSERT", FN_PURE}, {"INSTR", FN_PURE}, {"INT", FN_PURE}, {"INTEGER", FN_PURE},
    {"INTERSECT", FN_PURE}, {"INTERVAL", FN_PURE}, {"INTO", FN_PURE}, {"IS", FN_PURE},
    {"ISNULL", FN_PURE}, {"IS_FREE_LOCK", FN_LOCK}, {"IS_IPV4", FN_PURE}, {"IS_IPV4_COMPAT", FN_PURE},
    {"IS_IPV4_MAPPED", FN_PURE}, {"IS_IPV6", FN_PURE}, {"IS_USED_LOCK", FN_LOCK}, {"IS_UUID", FN_PURE},
    {"JOIN", FN_PURE}, {"JSON", FN_PURE}, {"JSON_ARRAY", FN_PURE}, {"JSON_ARRAYAGG", FN_PURE},
    {"JSON_ARRAY_APPEND", FN_PURE}, {"JSON_ARRAY_INSERT", FN_PURE}, {"JSON_ARRAY_INTERSECT", FN_PURE},
    {"JSON_COMPACT", FN_PURE}, {"JSON_CONTAINS", FN_PURE}, {"JSON_CONTAINS_PATH", FN_PURE},
    {"JSON_DEPTH", FN_PURE}, {"JSON_DETAILED", FN_PURE}, {"JSON_EQUALS", FN_PURE},
    {"JSON_EXISTS", FN_PURE}, {"JSON_EXTRACT", FN_PURE}, {"JSON_INSERT", FN_PURE},
    {"JSON_KEYS", FN_PURE}, {"JSON_LENGTH", FN_PURE}, {"JSON_LOOSE", FN_PURE}, {"JSON_MERGE", FN_PURE},
    {"JSON_MERGE_PATCH", FN_PURE}, {"JSON_MERGE_PRESERVE", FN_PURE}, {"JSON_NORMALIZE", FN_PURE},
    {"JSON_OBJECT", FN_PURE}, {"JSON_OBJECTAGG", FN_PURE}, {"JSON_OBJECT_FILTER_KEYS", FN_PURE},
    {"JSON_OBJECT_TO_ARRAY", FN_PURE}, {"JSON_OVERLAPS", FN_PURE}, {"JSON_PRETTY", FN_PURE},
    {"JSON_QUERY", FN_PURE}, {"JSON_QUOTE", FN_PURE}, {"JSON_REMOVE", FN_PURE},
    {"JSON_REPLACE", FN_PURE}, {"JSON_SCHEMA_VALID", FN_PURE},
    {"JSON_SCHEMA_VALIDATION_REPORT", FN_PURE}, {"JSON_SEARCH", FN_PURE}, {"JSON_SET", FN_PURE},
    {"JSON_STORAGE_FREE", FN_PURE}, {"JSON_STORAGE_SIZE", FN_PURE}, {"JSON_TABLE", FN_PURE},
    {"JSON_TYPE", FN_PURE}, {"JSON_UNQUOTE", FN_PURE}, {"JSON_VALID", FN_PURE}, {"JSON_VALUE", FN_PURE},
    {"KDF", FN_PURE}, {"KEY", FN_PURE}, {"LAG", FN_PURE}, {"LASTVAL", FN_SEQ}, {"LAST_DAY", FN_PURE},
    {"LAST_INSERT_ID", FN_LAST_ID}, {"LAST_VALUE", FN_PURE}, {"LATERAL", FN_PURE}, {"LCASE", FN_PURE},
    {"LEAD", FN_PURE}, {"LEADING", FN_PURE}, {"LEAST", FN_PURE}, {"LEFT", FN_PURE}, {"LENGTH", FN_PURE},
    {"LENGTHB", FN_PURE}, {"LIKE", FN_PURE}, {"LIMIT", FN_PURE}, {"LINESTRING", FN_PURE},
    {"LN", FN_PURE}, {"LOAD_FILE", FN_MASTER}, {"LOCALTIME", FN_NONDET}, {"LOCALTIMESTAMP", FN_NONDET},
    {"LOCATE", FN_PURE}, {"LOG", FN_PURE}, {"LOG10", FN_PURE}, {"LOG2", FN_PURE}, {"LONGTEXT", FN_PURE},
    {"LOWER", FN_PURE}, {"LPAD", FN_PURE}, {"LTRIM", FN_PURE}, {"MAKEDATE", FN_PURE},
    {"MAKETIME", FN_PURE}, {"MAKE_SET", FN_PURE}, {"MASTER_GTID_WAIT", FN_MASTER},
    {"MASTER_POS_WAIT", FN_MASTER}, {"MATCH", FN_PURE}, {"MAX", FN_PURE}, {"MBRCONTAINS", FN_PURE},
    {"MBRCOVEREDBY", FN_PURE}, {"MBRDISJOINT", FN_PURE}, {"MBREQUAL", FN_PURE}, {"MBREQUALS", FN_PURE},
    {"MBRINTERSECTS", FN_PURE}, {"MBROVERLAPS", FN_PURE}, {"MBRTOUCHES", FN_PURE},
    {"MBRWITHIN", FN_PURE}, {"MD5", FN_PURE}, {"MEDIAN", FN_PURE}, {"MEDIUMINT", FN_PURE},
    {"MEMBER", FN_PURE}, {"MICROSECOND", FN_PURE}, {"MID", FN_PURE}, {"MIN", FN_PURE},
    {"MINUS", FN_PURE}, {"MINUTE", FN_PURE}, {"MOD", FN_PURE}, {"MONTH", FN_PURE},
    {"MONTHNAME", FN_PURE}, {"MONTHS_BETWEEN", FN_PURE}, {"MULTILINESTRING", FN_PURE},
    {"MULTIPOINT", FN_PURE}, {"MULTIPOLYGON", FN_PURE}, {"NAME_CONST", FN_PURE}, {"NATIONAL", FN_PURE},
    {"NATURAL", FN_PURE}, {"NATURAL_SORT_KEY", FN_PURE}, {"NCHAR", FN_PURE}, {"NESTED", FN_PURE},
    {"NEXTVAL", FN_SEQ}, {"NOT", FN_PURE}, {"NOW", FN_NONDET}, {"NTH_VALUE", FN_PURE},
    {"NTILE", FN_PURE}, {"NULLIF", FN_PURE}, {"NUMERIC", FN_PURE}, {"NVARCHAR", FN_PURE},
    {"NVL", FN_PURE}, {"NVL2", FN_PURE}, {"OCT", FN_PURE}, {"OCTET_LENGTH", FN_PURE}, {"OF", FN_PURE},
    {"OFFSET", FN_PURE}, {"OLD_PASSWORD", FN_PURE}, {"ON", FN_PURE}, {"OR", FN_PURE}, {"ORD", FN_PURE},
    {"ORDER", FN_PURE}, {"ORDINALITY", FN_PURE}, {"OUTER", FN_PURE}, {"OVER", FN_PURE},
    {"PARTITION", FN_PURE}, {"PASSWORD", FN_PURE}, {"PATH", FN_PURE}, {"PERCENTILE_CONT", FN_PURE},
    {"PERCENTILE_DISC", FN_PURE}, {"PERCENT_RANK", FN_PURE}, {"PERIOD_ADD", FN_PURE},
    {"PERIOD_DIFF", FN_PURE}, {"PI", FN_PURE}, {"POINT", FN_PURE}, {"POLYGON", FN_PURE},
    {"PORTION", FN_PURE}, {"POSITION", FN_PURE}, {"POW", FN_PURE}, {"POWER", FN_PURE},
    {"PRECISION", FN_PURE}, {"PROCEDURE", FN_PURE}, {"QUARTER", FN_PURE}, {"QUOTE", FN_PURE},
    {"RADIANS", FN_PURE}, {"RAND", FN_NONDET}, {"RANDOM_BYTES", FN_NONDET}, {"RANGE", FN_PURE},
    {"RANK", FN_PURE}, {"REAL", FN_PURE}, {"RECURSIVE", FN_PURE}, {"REGEXP", FN_PURE},
    {"REGEXP_INSTR", FN_PURE}, {"REGEXP_LIKE", FN_PURE}, {"REGEXP_REPLACE", FN_PURE},
    {"REGEXP_SUBSTR", FN_PURE}, {"RELEASE_ALL_LOCKS", FN_LOCK}, {"RELEASE_LOCK", FN_LOCK},
    {"REPEAT", FN_PURE}, {"REPLACE", FN_PURE}, {"REPLACE_ORACLE", FN_PURE}, {"RETURN", FN_PURE},
    {"RETURNING", FN_PURE}, {"REVERSE", FN_PURE}, {"RIGHT", FN_PURE}, {"RLIKE", FN_PURE},
    {"ROLLUP", FN_PURE}, {"ROUND", FN_PURE}, {"ROW", FN_PURE}, {"ROWNUM", FN_PURE}, {"ROWS", FN_PURE},
    {"ROW_COUNT", FN_ROW_COUNT}, {"ROW_NUMBER", FN_PURE}, {"RPAD", FN_PURE}, {"RTRIM", FN_PURE},
    {"SCHEMA", FN_PURE}, {"SECOND", FN_PURE}, {"SEC_TO_TIME", FN_PURE}, {"SELECT", FN_PURE},
    {"SEPARATOR", FN_PURE}, {"SESSION_USER", FN_NONDET}, {"SET", FN_PURE}, {"SETVAL", FN_SEQ},
    {"SFORMAT", FN_PURE}, {"SHA", FN_PURE}, {"SHA1", FN_PURE}, {"SHA2", FN_PURE}, {"SIGN", FN_PURE},
    {"SIGNED", FN_PURE}, {"SIN", FN_PURE}, {"SLEEP", FN_NONDET}, {"SMALLINT", FN_PURE},
    {"SOME", FN_PURE}, {"SOUNDEX", FN_PURE}, {"SOUNDS", FN_PURE}, {"SOURCE_POS_WAIT", FN_MASTER},
    {"SPACE", FN_PURE}, {"SQRT", FN_PURE}, {"STATEMENT_DIGEST", FN_PURE},
    {"STATEMENT_DIGEST_TEXT", FN_PURE}, {"STD", FN_PURE}, {"STDDEV", FN_PURE}, {"STDDEV_POP", FN_PURE},
    {"STDDEV_SAMP", FN_PURE}, {"STRAIGHT_JOIN", FN_PURE}, {"STRCMP", FN_PURE}, {"STR_TO_DATE", FN_PURE},
    {"ST_AREA", FN_PURE}, {"ST_ASBINARY", FN_PURE}, {"ST_ASGEOJSON", FN_PURE}, {"ST_ASTEXT", FN_PURE},
    {"ST_ASWKB", FN_PURE}, {"ST_ASWKT", FN_PURE}, {"ST_BOUNDARY", FN_PURE}, {"ST_BUFFER", FN_PURE},
    {"ST_CENTROID", FN_PURE}, {"ST_CONTAINS", FN_PURE}, {"ST_CONVEXHULL", FN_PURE},
    {"ST_CROSSES", FN_PURE}, {"ST_DIFFERENCE", FN_PURE}, {"ST_DIMENSION", FN_PURE},
    {"ST_DISJOINT", FN_PURE}, {"ST_DISTANCE", FN_PURE}, {"ST_DISTANCE_SPHERE", FN_PURE},
    {"ST_ENDPOINT", FN_PURE}, {"ST_ENVELOPE", FN_PURE}, {"ST_EQUALS", FN_PURE},
    {"ST_EXTERIORRING", FN_PURE}, {"ST_GEOMCOLLFROMTEXT", FN_PURE}, {"ST_GEOMCOLLFROMWKB", FN_PURE},
    {"ST_GEOMETRYCOLLECTIONFROMTEXT", FN_PURE}, {"ST_GEOMETRYFROMTEXT", FN_PURE},
    {"ST_GEOMETRYN", FN_PURE}, {"ST_GEOMETRYTYPE", FN_PURE}, {"ST_GEOMFROMGEOJSON", FN_PURE},
    {"ST_GEOMFROMTEXT", FN_PURE}, {"ST_GEOMFROMWKB", FN_PURE}, {"ST_INTERIORRINGN", FN_PURE},
    {"ST_INTERSECTION", FN_PURE}, {"ST_INTERSECTS", FN_PURE}, {"ST_ISCLOSED", FN_PURE},
    {"ST_ISEMPTY", FN_PURE}, {"ST_ISRING", FN_PURE}, {"ST_ISSIMPLE", FN_PURE}, {"ST_ISVALID", FN_PURE},
    {"ST_LATITUDE", FN_PURE}, {"ST_LENGTH", FN_PURE}, {"ST_LINEFROMTEXT", FN_PURE},
    {"ST_LINEFROMWKB", FN_PURE}, {"ST_LINESTRINGFROMTEXT", FN_PURE}, {"ST_LONGITUDE", FN_PURE},
    {"ST_MLINEFROMTEXT", FN_PURE}, {"ST_MPOINTFROMTEXT", FN_PURE}, {"ST_MPOLYFROMTEXT", FN_PURE},
    {"ST_NUMGEOMETRIES", FN_PURE}, {"ST_NUMINTERIORRINGS", FN_PURE}, {"ST_NUMPOINTS", FN_PURE},
    {"ST_OVERLAPS", FN_PURE}, {"ST_POINTFROMTEXT", FN_PURE}, {"ST_POINTFROMWKB", FN_PURE},
    {"ST_POINTN", FN_PURE}, {"ST_POINTONSURFACE", FN_PURE}, {"ST_POLYFROMTEXT", FN_PURE},
    {"ST_POLYFROMWKB", FN_PURE}, {"ST_POLYGONFROMTEXT", FN_PURE}, {"ST_RELATE", FN_PURE},
    {"ST_SIMPLIFY", FN_PURE}, {"ST_SRID", FN_PURE}, {"ST_STARTPOINT", FN_PURE},
    {"ST_SYMDIFFERENCE", FN_PURE}, {"ST_TOUCHES", FN_PURE}, {"ST_UNION", FN_PURE},
    {"ST_VALIDATE", FN_PURE}, {"ST_WITHIN", FN_PURE}, {"ST_X", FN_PURE}, {"ST_Y", FN_PURE},
    {"SUBDATE", FN_PURE}, {"SUBSTR", FN_PURE}, {"SUBSTRING", FN_PURE}, {"SUBSTRING_INDEX", FN_PURE},
    {"SUBTIME", FN_PURE}, {"SUM", FN_PURE}, {"SYSDATE", FN_NONDET}, {"SYSTEM_TIME", FN_PURE},
    {"SYSTEM_USER", FN_NONDET}, {"SYS_GUID", FN_NONDET}, {"TABLE", FN_PURE}, {"TAN", FN_PURE},
    {"TEXT", FN_PURE}, {"THEN", FN_PURE}, {"TIME", FN_PURE}, {"TIMEDIFF", FN_PURE},
    {"TIMESTAMP", FN_PURE}, {"TIMESTAMPADD", FN_PURE}, {"TIMESTAMPDIFF", FN_PURE},
    {"TIME_FORMAT", FN_PURE}, {"TIME_TO_SEC", FN_PURE}, {"TINYINT", FN_PURE}, {"TO_BASE64", FN_PURE},
    {"TO_CHAR", FN_PURE}, {"TO_DAYS", FN_PURE}, {"TO_NUMBER", FN_PURE}, {"TO_SECONDS", FN_PURE},
    {"TRAILING", FN_PURE}, {"TRIM", FN_PURE}, {"TRIM_ORACLE", FN_PURE}, {"TRUNCATE", FN_PURE},
    {"UCASE", FN_PURE}, {"UNCOMPRESS", FN_PURE}, {"UNCOMPRESSED_LENGTH", FN_PURE}, {"UNHEX", FN_PURE},
    {"UNION", FN_PURE}, {"UNIX_TIMESTAMP", FN_NONDET}, {"UNSIGNED", FN_PURE}, {"UPDATEXML", FN_PURE},
    {"UPPER", FN_PURE}, {"USE", FN_PURE}, {"USER", FN_NONDET}, {"USING", FN_PURE},
    {"UTC_DATE", FN_NONDET}, {"UTC_TIME", FN_NONDET}, {"UTC_TIMESTAMP", FN_NONDET}, {"UUID", FN_NONDET},
    {"UUID_SHORT", FN_NONDET}, {"UUID_TO_BIN", FN_PURE}, {"VALIDATE_PASSWORD_STRENGTH", FN_PURE},
    {"VALUE", FN_PURE}, {"VALUES", FN_PURE}, {"VARBINARY", FN_PURE}, {"VARCHAR", FN_PURE},
    {"VARCHARACTER", FN_PURE}, {"VARIANCE", FN_PURE}, {"VAR_POP", FN_PURE}, {"VAR_SAMP", FN_PURE},
    {"VERSION", FN_PURE}, {"WAIT_FOR_EXECUTED_GTID_SET", FN_MASTER},
    {"WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS", FN_MASTER}, {"WEEK", FN_PURE}, {"WEEKDAY", FN_PURE},
    {"WEEKOFYEAR", FN_PURE}, {"WEIGHT_STRING", FN_PURE}, {"WHEN", FN_PURE}, {"WHERE", FN_PURE},
    {"WINDOW", FN_PURE}, {"WITH", FN_PURE}, {"X", FN_PURE}, {"XOR", FN_PURE}, {"Y", FN_PURE},
    {"YEAR", FN_PURE}, {"YEARWEEK", FN_PURE}, {"ZEROFILL", FN_PURE},
};

#define FN_TABLE_N (sizeof fn_table / sizeof fn_table[0])

int rwr_classify_table_ok(void)
{
    for (size_t i = 1; i < FN_TABLE_N; i++)
        if (strcmp(fn_table[i - 1].name, fn_table[i].name) >= 0)
            return 0;
    return 1;
}

/* Copies s[0..n) upper-cased into buf (cap bytes); 0 if it does not fit. */
static int upper_copy(const char *s, size_t n, char *buf, size_t cap)
{
    if (n >= cap)
        return 0;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)up((unsigned char)s[i]);
    buf[n] = '\0';
    return 1;
}

static fn_class fn_lookup(const char *s, size_t n)
{
    char name[48];
    if (!upper_copy(s, n, name, sizeof name))
        return FN_UNKNOWN;
    size_t lo = 0, hi = FN_TABLE_N;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(fn_table[mid].name, name);
        if (c == 0)
            return fn_table[mid].cls;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return FN_UNKNOWN;
}

/* ------------------------------------------------------------------ facts */

/* Facts the body scanner collects; each read rule below tests one. */
enum {
    FX_FOR_UPDATE = 1u << 0,  /* FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE */
    FX_INTO_FILE = 1u << 1,   /* INTO OUTFILE / DUMPFILE */
    FX_INTO_VAR = 1u << 2,    /* INTO @var */
    FX_INTO_OTHER = 1u << 3,  /* INTO something else (INSERT INTO, SELECT INTO local var) */
    FX_UVAR_ASSIGN = 1u << 4, /* @v := ... */
    FX_GET_LOCK = 1u << 5,    /* GET_LOCK() */
    FX_LOCK_FN = 1u << 6,     /* RELEASE_LOCK() and friends */
    FX_SEQ = 1u << 7,         /* NEXTVAL() etc., NEXT/PREVIOUS VALUE FOR */
    FX_UNKNOWN_FN = 1u << 8,  /* a function that is not a built-in */
    FX_LAST_ID = 1u << 9,     /* LAST_INSERT_ID(), @@identity, @@last_insert_id */
    FX_ROW_COUNT = 1u << 10,  /* ROW_COUNT() */
    FX_MASTER_FN = 1u << 11,  /* LOAD_FILE(), MASTER_POS_WAIT(), ... */
    FX_CALC = 1u << 12,       /* SQL_CALC_FOUND_ROWS */
    FX_TEMP = 1u << 13,       /* an identifier that is_temp knows */
    FX_SERVER_VAR = 1u << 14, /* @@global.x, @@server_id, processlist tables: differ per server */
    FX_FOUND_ROWS = 1u << 15, /* FOUND_ROWS() */
    FX_PREV_VAR = 1u << 16,   /* @@warning_count, @@error_count */
    FX_NONDET = 1u << 17,     /* NOW(), RAND(), ...: a SET of it cannot be replayed */
    FX_SUBQUERY = 1u << 18,   /* a SELECT inside the scanned part */
    FX_UVAR_READ = 1u << 19,  /* reads a user variable */
    FX_PARAM = 1u << 20       /* a '?' placeholder (prepared statement): the text alone is not the value */
};

/* Facts that make a statement not a pure read (it locks, writes or may write). */
#define FX_NOT_READ (FX_FOR_UPDATE | FX_INTO_FILE | FX_INTO_VAR | FX_INTO_OTHER | FX_UVAR_ASSIGN | \
                     FX_GET_LOCK | FX_LOCK_FN | FX_SEQ | FX_UNKNOWN_FN)
/* Facts that make a SET expression unsafe to replay on another server later. */
#define FX_NO_REPLAY (FX_NOT_READ | FX_LAST_ID | FX_ROW_COUNT | FX_MASTER_FN | FX_SERVER_VAR | \
                      FX_FOUND_ROWS | FX_PREV_VAR | FX_NONDET | FX_SUBQUERY | FX_TEMP | FX_PARAM)

/* A read statement's target when a fact is present, in priority order. */
typedef struct {
    unsigned fx;       /* the fact */
    rwr_target target; /* where the statement goes */
    const char *reason;/* why */
} read_rule;

static const read_rule read_rules[] = {
    {FX_FOR_UPDATE, RWR_MASTER, "select for update"},
    {FX_INTO_FILE, RWR_MASTER, "select into outfile"},
    {FX_INTO_VAR, RWR_MASTER, "select into variable"},
    {FX_INTO_OTHER, RWR_MASTER, "select into"},
    {FX_UVAR_ASSIGN, RWR_MASTER, "user variable assignment"},
    {FX_GET_LOCK, RWR_MASTER, "get_lock()"},
    {FX_LOCK_FN, RWR_MASTER, "user lock function"},
    {FX_SEQ, RWR_MASTER, "sequence"},
    {FX_UNKNOWN_FN, RWR_MASTER, "stored function"},
    {FX_LAST_ID, RWR_MASTER, "last_insert_id()"},
    {FX_ROW_COUNT, RWR_MASTER, "row_count()"},
    {FX_MASTER_FN, RWR_MASTER, "master-only function"},
    {FX_CALC, RWR_MASTER, "sql_calc_found_rows"},
    {FX_TEMP, RWR_MASTER, "temporary table"},
    {FX_SERVER_VAR, RWR_MASTER, "server state"},
    {FX_FOUND_ROWS, RWR_PREVIOUS, "found_rows()"},
    {FX_PREV_VAR, RWR_PREVIOUS, "previous statement diagnostics"},
};

static unsigned fn_fact(fn_class c)
{
    switch (c) {
    case FN_PURE: return 0;
    case FN_NONDET: return FX_NONDET;
    case FN_GET_LOCK: return FX_GET_LOCK;
    case FN_LOCK: return FX_LOCK_FN;
    case FN_LAST_ID: return FX_LAST_ID;
    case FN_ROW_COUNT: return FX_ROW_COUNT;
    case FN_FOUND_ROWS: return FX_FOUND_ROWS;
    case FN_SEQ: return FX_SEQ;
    case FN_MASTER: return FX_MASTER_FN;
    case FN_UNKNOWN: break;
    }
    return FX_UNKNOWN_FN;
}

/* System variables whose value differs per server (names lower case; prefixes end with '*'). */
static const char *const server_vars[] = {
    "server_id", "server_uuid", "hostname", "port", "socket", "datadir", "read_only",
    "super_read_only", "innodb_read_only", "pseudo_thread_id", "report_host", "bind_address",
    "pid_file", "tmpdir", "log_error", "last_gtid", "gtid_*", "rpl_*", "wsrep_*", "log_bin*",
    "relay_log*", "slave_*", "replica_*", "master_*", "source_*",
};

/* Tables that show the state of the server they are read on (always the master). */
static const char *const server_tables[] = {
    "PROCESSLIST", "GLOBAL_VARIABLES", "SESSION_VARIABLES", "GLOBAL_STATUS", "SESSION_STATUS",
    "PERFORMANCE_SCHEMA", "INNODB_TRX", "INNODB_LOCKS", "INNODB_LOCK_WAITS", "USER_STATISTICS",
    "CLIENT_STATISTICS", "THREAD_POOL_STATS", "METADATA_LOCK_INFO",
};

/* Case-insensitive match of s[0..n) against a lower-case name, '*' suffix = prefix match. */
static int name_match(const char *s, size_t n, const char *pat)
{
    size_t i = 0;
    for (; pat[i] && pat[i] != '*'; i++)
        if (i >= n || up((unsigned char)s[i]) != up((unsigned char)pat[i]))
            return 0;
    return pat[i] == '*' ? 1 : i == n;
}

/* Facts for reading the system variable named by an SVAR token's text. In a SET value
 * (in_set), a global value is fine to replay unless it is one of the per-server variables;
 * a statement that reads it goes to the master. */
static unsigned svar_fact(const char *s, size_t n, int in_set)
{
    int global = 0;
    const char *dot = memchr(s, '.', n);
    if (dot) {
        size_t pn = (size_t)(dot - s);
        global = word_eq(s, pn, "GLOBAL");
        n -= pn + 1;
        s = dot + 1;
    }
    if (word_eq(s, n, "IDENTITY") || word_eq(s, n, "LAST_INSERT_ID") || word_eq(s, n, "INSERT_ID"))
        return FX_LAST_ID;
    if (word_eq(s, n, "WARNING_COUNT") || word_eq(s, n, "ERROR_COUNT"))
        return FX_PREV_VAR;
    if (global && !in_set)
        return FX_SERVER_VAR;
    for (size_t i = 0; i < sizeof server_vars / sizeof server_vars[0]; i++)
        if (name_match(s, n, server_vars[i]))
            return FX_SERVER_VAR;
    if (word_eq(s, n, "TIMESTAMP") || word_eq(s, n, "RAND_SEED1") || word_eq(s, n, "RAND_SEED2"))
        return FX_NONDET;
    return 0;
}

static int is_server_table(const char *s, size_t n)
{
    if (n < 10) /* the shortest name is 10 characters: skip the common case fast */
        return 0;
    for (size_t i = 0; i < sizeof server_tables / sizeof server_tables[0]; i++)
        if (word_eq(s, n, server_tables[i]))
            return 1;
    return 0;
}

/* ------------------------------------------------------------------ parse context */

/* Parse state for one classification pass. */
typedef struct {
    lexer lx;               /* the lexer, positioned after `nt` */
    tok t;                  /* current token */
    tok nt;                 /* next token (one token of lookahead) */
    tok_type prev;          /* type of the token before `t` */
    int semi_ends;          /* 1: ';' ends a statement; 0 inside a compound statement */
    unsigned fx;            /* FX_* facts of the statement being classified */
    int in_set;             /* scanning SET values: also note bare CURRENT_TIMESTAMP etc. */
    rwr_is_temp_fn is_temp; /* temporary-table callback, may be NULL */
    void *ctx;              /* its context */
} cx;

/* What the driver does after a statement handler returns. */
enum {
    M_DONE = 0, /* the handler decided; only side effects of facts are added */
    M_READ = 1  /* a read: the facts decide between replica, master and previous */
};

#define MAX_NEST 8 /* EXPLAIN / SET STATEMENT ... FOR nesting */

static const char R_EMPTY[] = "empty";
static const char R_UNPARSEABLE[] = "unparseable";
static const char R_UNKNOWN[] = "unknown statement";

static void adv(cx *c)
{
    c->prev = c->t.type;
    c->t = c->nt;
    lex_next(&c->lx, &c->nt);
}

static int tok_ends(const cx *c, const tok *t)
{
    return t->type == TK_END || t->type == TK_ERROR || (t->type == TK_SEMI && c->semi_ends);
}

static int at_end(const cx *c)
{
    return tok_ends(c, &c->t);
}

static int is_kw(const tok *t, const char *w)
{
    return t->type == TK_WORD && word_eq(t->s, t->n, w);
}

static int kw(const cx *c, const char *w)
{
    return is_kw(&c->t, w);
}

static int nkw(const cx *c, const char *w)
{
    return is_kw(&c->nt, w);
}

/* Consumes the keyword w if it is current. */
static int accept(cx *c, const char *w)
{
    if (!kw(c, w))
        return 0;
    adv(c);
    return 1;
}

static int is_op(const tok *t, char ch)
{
    return t->type == TK_OP && t->s[0] == ch;
}

/* Unquoted identifier text of a WORD, `QIDENT` or "STRING" into buf; -1 if it does not fit. */
static long ident_text(const tok *t, char *buf, size_t cap)
{
    const char *s = t->s;
    size_t n = t->n;
    char q = 0;
    if (t->type == TK_QIDENT) {
        q = '`';
    } else if (t->type == TK_STRING) {
        q = s[0];
        s++;
        n -= 2;
    } else if (t->type != TK_WORD) {
        return -1;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (q && s[i] == q && i + 1 < n && s[i + 1] == q)
            i++;
        if (o + 1 >= cap)
            return -1;
        buf[o++] = s[i];
    }
    buf[o] = '\0';
    return (long)o;
}

static int tok_is_temp(const cx *c, const tok *t)
{
    char buf[256];
    if (!c->is_temp)
        return 0;
    long n = ident_text(t, buf, sizeof buf);
    return n > 0 && c->is_temp(c->ctx, buf, (size_t)n);
}

/* ------------------------------------------------------------------ body scanner */

enum { STOP_COMMA = 1, STOP_RPAREN = 2, STOP_FOR = 4 };

/* Facts of a word that is not followed by '('. */
static void scan_plain_word(cx *c)
{
    const tok *t = &c->t;
    int c0 = up((unsigned char)t->s[0]);
    if (tok_is_temp(c, t))
        c->fx |= FX_TEMP;
    if (is_server_table(t->s, t->n))
        c->fx |= FX_SERVER_VAR;
    if (c0 != 'F' && c0 != 'L' && c0 != 'I' && c0 != 'S' && c0 != 'N' && c0 != 'P' && !c->in_set)
        return; /* none of the keywords below */
    if (is_kw(t, "FOR")) {
        if (nkw(c, "UPDATE") || nkw(c, "SHARE"))
            c->fx |= FX_FOR_UPDATE;
    } else if (is_kw(t, "LOCK")) {
        if (nkw(c, "IN"))
            c->fx |= FX_FOR_UPDATE;
    } else if (is_kw(t, "INTO")) {
        if (c->nt.type == TK_UVAR)
            c->fx |= FX_INTO_VAR;
        else if (nkw(c, "OUTFILE") || nkw(c, "DUMPFILE"))
            c->fx |= FX_INTO_FILE;
        else
            c->fx |= FX_INTO_OTHER;
    } else if (is_kw(t, "SQL_CALC_FOUND_ROWS")) {
        c->fx |= FX_CALC;
    } else if (is_kw(t, "NEXT") || is_kw(t, "PREVIOUS")) {
        if (nkw(c, "VALUE"))
            c->fx |= FX_SEQ;
    } else if (is_kw(t, "SELECT")) {
        c->fx |= FX_SUBQUERY;
    } else if (c->in_set && fn_lookup(t->s, t->n) == FN_NONDET) {
        c->fx |= FX_NONDET; /* CURRENT_TIMESTAMP and friends work without parentheses */
    }
}

static void scan_word(cx *c)
{
    if (c->nt.type != TK_LP) {
        scan_plain_word(c);
        return;
    }
    if (c->prev == TK_DOT) {
        c->fx |= FX_UNKNOWN_FN; /* db.func(): only stored functions are qualified */
        return;
    }
    if (kw(c, "SELECT"))
        c->fx |= FX_SUBQUERY;
    c->fx |= fn_fact(fn_lookup(c->t.s, c->t.n));
}

/* Facts of the current token; tracks parenthesis depth. */
static void scan_token(cx *c, int *depth)
{
    switch (c->t.type) {
    case TK_LP:
        (*depth)++;
        break;
    case TK_RP:
        if (*depth > 0)
            (*depth)--;
        break;
    case TK_WORD:
        scan_word(c);
        break;
    case TK_QIDENT:
        if (c->nt.type == TK_LP)
            c->fx |= FX_UNKNOWN_FN;
        else if (tok_is_temp(c, &c->t))
            c->fx |= FX_TEMP;
        break;
    case TK_STRING:
        if (c->t.s[0] == '"' && c->nt.type == TK_LP) /* ANSI_QUOTES "func"(...) */
            c->fx |= FX_UNKNOWN_FN;
        else if (c->t.s[0] == '"' && tok_is_temp(c, &c->t))
            c->fx |= FX_TEMP;
        break;
    case TK_UVAR:
        c->fx |= c->nt.type == TK_ASSIGN ? FX_UVAR_ASSIGN : FX_UVAR_READ;
        break;
    case TK_SVAR:
        c->fx |= svar_fact(c->t.s, c->t.n, c->in_set);
        break;
    case TK_OP:
        if (c->t.s[0] == '?')
            c->fx |= FX_PARAM;
        break;
    default:
        break;
    }
}

/* Collects facts up to the end of the statement or a stop token at depth 0 (not consumed). */
static void scan(cx *c, int stop)
{
    int depth = 0;
    while (!at_end(c)) {
        if (depth == 0 && (((stop & STOP_COMMA) && c->t.type == TK_COMMA) ||
                           ((stop & STOP_RPAREN) && c->t.type == TK_RP) ||
                           ((stop & STOP_FOR) && kw(c, "FOR"))))
            return;
        scan_token(c, &depth);
        adv(c);
    }
}

/* Skips a balanced parenthesized group starting at the current '('; 0 if it never closes. */
static int skip_group(cx *c)
{
    int depth = 0;
    while (!at_end(c)) {
        if (c->t.type == TK_LP)
            depth++;
        else if (c->t.type == TK_RP && --depth == 0) {
            adv(c);
            return 1;
        }
        adv(c);
    }
    return 0;
}

/* ------------------------------------------------------------------ decisions */

static void decide_read(unsigned fx, rwr_decision *out)
{
    out->target = RWR_REPLICA;
    out->flags |= RWR_F_READ;
    for (size_t i = 0; i < sizeof read_rules / sizeof read_rules[0]; i++) {
        if (fx & read_rules[i].fx) {
            out->target = read_rules[i].target;
            out->reason = read_rules[i].reason;
            break;
        }
    }
    if (fx & FX_NOT_READ)
        out->flags &= ~RWR_F_READ;
}

/* Flags every statement gets from its facts, whatever its kind. */
static void side_effects(unsigned fx, rwr_decision *out)
{
    if (fx & (FX_UVAR_ASSIGN | FX_INTO_VAR))
        out->flags |= RWR_F_USER_VAR_WRITE | RWR_F_PIN_MASTER;
    if (fx & FX_GET_LOCK)
        out->flags |= RWR_F_PIN_MASTER;
    if (fx & FX_CALC)
        out->flags |= RWR_F_CALC_FOUND_ROWS;
    if (fx & FX_UVAR_READ)
        out->flags |= RWR_F_USER_VAR_READ;
}

static int master(rwr_decision *out, const char *reason, unsigned flags)
{
    out->target = RWR_MASTER;
    out->reason = reason;
    out->flags |= flags;
    return M_DONE;
}

static int unknown(rwr_decision *out)
{
    return master(out, R_UNKNOWN, 0);
}

static int read_stmt(rwr_decision *out, const char *reason)
{
    out->reason = reason;
    return M_READ;
}

/* ------------------------------------------------------------------ statement handlers */

static void classify_one(cx *c, rwr_decision *out, int depth);

static int h_select(cx *c, rwr_decision *out, int depth)
{
    (void)c;
    (void)depth;
    return read_stmt(out, "read");
}

static int h_do(cx *c, rwr_decision *out, int depth)
{
    (void)c;
    (void)depth;
    return read_stmt(out, "do");
}

static int h_read_misc(cx *c, rwr_decision *out, int depth)
{
    (void)depth;
    return read_stmt(out, kw(c, "HELP") ? "help" : kw(c, "CHECKSUM") ? "checksum" : "read");
}

static int h_write(cx *c, rwr_decision *out, int depth)
{
    (void)c;
    (void)depth;
    return master(out, "write", RWR_F_WRITE);
}

/* WITH [RECURSIVE] name [(cols)] AS (body) [, ...] <SELECT | UPDATE | DELETE ...> */
static int h_with(cx *c, rwr_decision *out, int depth)
{
    (void)depth;
    adv(c);
    accept(c, "RECURSIVE");
    for (;;) {
        if (c->t.type != TK_WORD && c->t.type != TK_QIDENT)
            return unknown(out);
        adv(c);
        if (c->t.type == TK_LP && !skip_group(c))
            return unknown(out);
        if (!accept(c, "AS") || c->t.type != TK_LP)
            return unknown(out);
        adv(c);
        scan(c, STOP_RPAREN);
        if (c->t.type != TK_RP)
            return unknown(out);
        adv(c);
        if (c->t.type != TK_COMMA)
            break;
        adv(c);
    }
    while (c->t.type == TK_LP)
        adv(c);
    if (kw(c, "SELECT") || kw(c, "TABLE") || kw(c, "VALUES"))
        return read_stmt(out, "read");
    if (kw(c, "UPDATE") || kw(c, "DELETE") || kw(c, "INSERT") || kw(c, "REPLACE"))
        return master(out, "write", RWR_F_WRITE);
    return unknown(out);
}

static int word_in(const tok *t, const char *const *list)
{
    for (; *list; list++)
        if (is_kw(t, *list))
            return 1;
    return 0;
}

/* [db.]name at the current token into buf (unquoted, without the schema); 0 if not a name. */
static int table_name(cx *c, char *buf, size_t cap)
{
    if (c->t.type != TK_WORD && c->t.type != TK_QIDENT &&
        !(c->t.type == TK_STRING && c->t.s[0] == '"'))
        return 0;
    tok name = c->t;
    adv(c);
    if (c->t.type == TK_DOT) {
        adv(c);
        if (c->t.type != TK_WORD && c->t.type != TK_QIDENT && c->t.type != TK_NUMBER)
            return 0;
        name = c->t;
        if (name.type == TK_NUMBER)
            name.type = TK_WORD;
        adv(c);
    }
    return ident_text(&name, buf, cap) > 0;
}

static const char *const show_replica[] = {
    "DATABASES", "SCHEMAS", "TABLES", "COLUMNS", "FIELDS", "INDEX", "INDEXES", "KEYS", "TRIGGERS",
    "EVENTS", "CREATE", "CHARACTER", "CHARSET", "COLLATION", "ENGINES", "PRIVILEGES", "GRANTS",
    "PROCEDURE", "FUNCTION", "PACKAGE", "AUTHORS", "CONTRIBUTORS", "LOCALES", NULL};
static const char *const show_previous[] = {"WARNINGS", "ERRORS", "COUNT", "PROFILE", "PROFILES", NULL};
static const char *const show_modifiers[] = {"FULL", "EXTENDED", "GLOBAL", "SESSION", "LOCAL", "STORAGE", NULL};

/* SHOW ...: catalog reads to a replica, server state to the master, diagnostics to the previous. */
static int h_show(cx *c, rwr_decision *out, int depth)
{
    (void)depth;
    adv(c);
    while (word_in(&c->t, show_modifiers))
        adv(c);
    if (word_in(&c->t, show_previous)) {
        out->target = RWR_PREVIOUS;
        out->reason = "show warnings";
        out->flags |= RWR_F_READ;
        return M_DONE;
    }
    if (word_in(&c->t, show_replica) || (kw(c, "TABLE") && nkw(c, "STATUS")))
        return read_stmt(out, "show");
    if (kw(c, "MASTER") || kw(c, "BINARY") || kw(c, "BINLOG"))
        return master(out, "show master status", RWR_F_READ);
    return master(out, "show server state", RWR_F_READ);
}

/* EXPLAIN/DESCRIBE <stmt>, or MariaDB ANALYZE <stmt> (analyze: the statement is executed). */
static int explain_inner(cx *c, rwr_decision *out, int depth, int analyze)
{
    rwr_decision sub;
    memset(&sub, 0, sizeof sub);
    if (depth >= MAX_NEST)
        return unknown(out);
    classify_one(c, &sub, depth + 1);
    if (analyze) {
        out->target = sub.target;
        out->reason = sub.reason;
        out->flags |= sub.flags;
        memcpy(out->temp_name, sub.temp_name, sizeof out->temp_name);
        return M_DONE;
    }
    out->flags |= RWR_F_READ;
    if (sub.target == RWR_REPLICA) {
        out->target = RWR_REPLICA;
        out->reason = "explain";
    } else {
        out->target = RWR_MASTER;
        out->reason = (sub.flags & RWR_F_WRITE) ? "explain write" : sub.reason;
    }
    return M_DONE;
}

static int explainable(const cx *c)
{
    static const char *const kws[] = {"SELECT", "WITH", "TABLE", "VALUES", "INSERT", "UPDATE",
                                      "DELETE", "REPLACE", NULL};
    return c->t.type == TK_LP || word_in(&c->t, kws);
}

/* Skips FORMAT = name. */
static void skip_format(cx *c)
{
    if (!accept(c, "FORMAT"))
        return;
    if (is_op(&c->t, '='))
        adv(c);
    if (!at_end(c))
        adv(c);
}

static int h_explain(cx *c, rwr_decision *out, int depth)
{
    int analyze = 0;
    adv(c);
    for (;;) {
        if (accept(c, "EXTENDED") || accept(c, "PARTITIONS"))
            continue;
        if (accept(c, "ANALYZE")) {
            analyze = 1;
            continue;
        }
        if (!kw(c, "FORMAT"))
            break;
        skip_format(c);
    }
    if (kw(c, "FOR"))
        return master(out, "explain for connection", RWR_F_READ);
    if (explainable(c))
        return explain_inner(c, out, depth, analyze);
    char name[256];
    if (!table_name(c, name, sizeof name))
        return unknown(out);
    if (c->is_temp && c->is_temp(c->ctx, name, strlen(name)))
        c->fx |= FX_TEMP;
    if (c->t.type == TK_WORD || c->t.type == TK_QIDENT || c->t.type == TK_STRING)
        adv(c); /* DESCRIBE t column | 'wild%' */
    return at_end(c) ? read_stmt(out, "describe") : unknown(out);
}

/* ANALYZE TABLE (maintenance) or MariaDB ANALYZE <stmt> (executes it). */
static int h_analyze(cx *c, rwr_decision *out, int depth)
{
    adv(c);
    if (kw(c, "TABLE") || kw(c, "TABLES") || kw(c, "NO_WRITE_TO_BINLOG") || kw(c, "LOCAL"))
        return master(out, "maintenance", RWR_F_WRITE | RWR_F_IMPLICIT_COMMIT);
    skip_format(c);
    if (explainable(c))
        return explain_inner(c, out, depth, 1);
    return unknown(out);
}

static int h_load(cx *c, rwr_decision *out, int depth)
{
    (void)depth;
    if (nkw(c, "INDEX"))
        return master(out, "administration", RWR_F_IMPLICIT_COMMIT);
    return master(out, "load data", RWR_F_WRITE);
}

static int h_call(cx *c, rwr_decision *out, int depth)
{
    (void)c;
    (void)depth;
    return master(out, "call", RWR_F_WRITE);
}

static const char *const create_objects[] = {
    "TABLE", "VIEW", "PROCEDURE", "FUNCTION", "TRIGGER", "EVENT", "PACKAGE", "DATABASE", "SCHEMA",
    "INDEX", "USER", "ROLE", "SERVER", "SEQUENCE", "TABLESPACE", NULL};
static const char *const compound_objects[] = {"PROCEDURE", "FUNCTION", "TRIGGER", "EVENT", "PACKAGE", NULL};

static int h_create(cx *c, rwr_decision *out, int depth)
{
    int temp = 0;
    (void)depth;
    adv(c);
    for (int i = 0; i < 32 && !at_end(c) && !word_in(&c->t, create_objects); i++) {
        if (kw(c, "TEMPORARY"))
            temp = 1;
        adv(c);
    }
    if (temp && (kw(c, "TABLE") || kw(c, "SEQUENCE"))) {
        adv(c);
        if (kw(c, "IF") && nkw(c, "NOT")) {
            adv(c);
            adv(c);
            accept(c, "EXISTS");
        }
        if (!table_name(c, out->temp_name, sizeof out->temp_name)) {
            out->temp_name[0] = '\0';
            return master(out, "create temporary table", RWR_F_WRITE | RWR_F_PIN_MASTER);
        }
        return master(out, "create temporary table", RWR_F_WRITE | RWR_F_TEMP_CREATE);
    }
    if (word_in(&c->t, compound_objects))
        c->semi_ends = 0; /* the body may hold ';' between BEGIN and END */
    return master(out, "ddl", RWR_F_WRITE | RWR_F_IMPLICIT_COMMIT);
}

static int h_prepare(cx *c, rwr_decision *out, int depth)
{
    (void)c;
    (void)depth;
    return master(out, "prepare", RWR_F_PREPARE_SQL | RWR_F_PIN_MASTER);
}

/* DROP [TEMPORARY] TABLE[S] [IF EXISTS] a, b ...; DROP PREPARE; other DROPs are DDL. */
static int h_drop(cx *c, rwr_decision *out, int depth)
{
    adv(c);
    if (kw(c, "PREPARE"))
        return h_prepare(c, out, depth);
    int temp = accept(c, "TEMPORARY");
    if (!kw(c, "TABLE") && !kw(c, "TABLES") && !kw(c, "SEQUENCE"))
        return master(out, "ddl", RWR_F_WRITE | (temp ? 0 : RWR_F_IMPLICIT_COMMIT));
    adv(c);
    if (kw(c, "IF") && nkw(c, "EXISTS")) {
        adv(c);
        adv(c);
    }
    int any_temp = 0, any_real = 0;
    for (;;) {
        char name[256];
        if (!table_name(c, name, sizeof name)) {
            any_real = 1;
            break;
        }
        if (temp || (c->is_temp && c->is_temp(c->ctx, name, strlen(name)))) {
            if (!any_temp)
                memcpy(out->temp_name, name, sizeof name);
            any_temp = 1;
        } else {
            any_real = 1;
        }
        if (c->t.type != TK_COMMA)
            break;
        adv(c);
    }
    out->flags |= RWR_F_WRITE | (any_temp ? RWR_F_TEMP_DROP : 0) | (any_real ? RWR_F_IMPLICIT_COMMIT : 0);
    return master(out, any_real ? "ddl" : "drop temporary table", 0);
}

/* ALTER / RENAME / TRUNCATE: DDL; ALTER or RENAME of a tracked temporary table pins (it may
 * get a name the session's tracking does not know). */
static int h_ddl(cx *c, rwr_decision *out, int depth)
{
    (void)depth;
    if (kw(c, "TRUNCATE"))
        return master(out, "ddl", RWR_F_WRITE | RWR_F_IMPLICIT_COMMIT);
    adv(c);
    scan(c, 0);
    if (c->fx & FX_TEMP)
        return master(out, "ddl on temporary table", RWR_F_WRITE | RWR_F_PIN_MASTER);
    return master(out, "ddl", RWR_F_WRITE | RWR_F_IMPLICIT_COMMIT);
}

static int h_account(cx *c, rwr_decision *out, int depth)
{
    (void)c;
    (void)depth;
    return master(out, "account management", RWR_F_WRITE | RWR_F_IMPLICIT_COMMIT);
}

static int h_maintenance(cx *c, rwr_decision *out, int depth)
{
    (void)depth;
    return master(out, "maintenance", (kw(c, "CHECK") ? 0 : RWR_F_WRITE) | RWR_F_IMPLICIT_COMMIT);
}

/* FLUSH ...; WITH READ LOCK / FOR EXPORT keep locks on that connection: pin. */
static int h_flush(cx *c, rwr_decision *out, int depth)
{
    unsigned pin = 0;
    (void)depth;
    for (adv(c); !at_end(c); adv(c))
        if (kw(c, "LOCK") || kw(c, "EXPORT"))
            pin = RWR_F_PIN_MASTER;
    return master(out, "flush", RWR_F_WRITE | RWR_F_IMPLICIT_COMMIT | pin);
}

static int h_admin(cx *c, rwr_decision *out, int depth)
{
    (void)depth;
    if (kw(c, "BINLOG"))
        return master(out, "administration", RWR_F_WRITE);
    if (kw(c, "SHUTDOWN") || kw(c, "RESTART") || kw(c, "PURGE"))
        return master(out, "administration", 0);
    return master(out, "administration", RWR_F_IMPLICIT_COMMIT);
}

/* START TRANSACTION [WITH CONSISTENT SNAPSHOT | READ ONLY | READ WRITE] [, ...]; START SLAVE ... */
static int h_start(cx *c, rwr_decision *out, int depth)
{
    int ro = 0;
    adv(c);
    if (!kw(c, "TRANSACTION"))
        return h_admin(c, out, depth);
    adv(c);
    while (!at_end(c)) {
        if (kw(c, "WITH") && nkw(c, "CONSISTENT")) {
            adv(c);
            adv(c);
            if (!accept(c, "SNAPSHOT"))
                return unknown(out);
        } else if (kw(c, "READ") && (nkw(c, "ONLY") || nkw(c, "WRITE"))) {
            ro = nkw(c, "ONLY");
            adv(c);
            adv(c);
        } else {
            return unknown(out);
        }
        if (c->t.type != TK_COMMA)
            break;
        adv(c);
    }
    if (!at_end(c))
        return unknown(out);
    if (ro) {
        out->target = RWR_REPLICA;
        out->reason = "read-only transaction";
        out->flags |= RWR_F_TRX_BEGIN_RO | RWR_F_IMPLICIT_COMMIT;
        return M_DONE;
    }
    return master(out, "begin", RWR_F_TRX_BEGIN | RWR_F_IMPLICIT_COMMIT);
}

static int h_compound(cx *c, rwr_decision *out, int depth)
{
    (void)depth;
    c->semi_ends = 0;
    return master(out, "compound statement", RWR_F_WRITE | RWR_F_PIN_MASTER);
}

/* BEGIN [WORK], or MariaDB's BEGIN NOT ATOMIC ... END block. */
static int h_begin(cx *c, rwr_decision *out, int depth)
{
    adv(c);
    if (kw(c, "NOT"))
        return h_compound(c, out, depth);
    accept(c, "WORK");
    if (!at_end(c))
        return unknown(out);
    return master(out, "begin", RWR_F_TRX_BEGIN | RWR_F_IMPLICIT_COMMIT);
}

/* [AND [NO] CHAIN] [[NO] RELEASE] up to the end; 0 if something else follows. */
static int completion_tail(cx *c, unsigned *flags)
{
    if (accept(c, "AND")) {
        int no = accept(c, "NO");
        if (!accept(c, "CHAIN"))
            return 0;
        if (!no)
            *flags |= RWR_F_TRX_CHAIN;
    }
    int no = kw(c, "NO") && nkw(c, "RELEASE");
    if (no)
        adv(c);
    if (accept(c, "RELEASE") && !no)
        *flags |= RWR_F_RELEASE;
    return at_end(c);
}

static int h_commit(cx *c, rwr_decision *out, int depth)
{
    unsigned f = RWR_F_TRX_END;
    int rollback = kw(c, "ROLLBACK");
    (void)depth;
    adv(c);
    accept(c, "WORK");
    if (rollback && kw(c, "TO"))
        return master(out, "rollback to savepoint", 0);
    if (!completion_tail(c, &f))
        return unknown(out);
    return master(out, rollback ? "rollback" : "commit", f);
}

static int h_savepoint(cx *c, rwr_decision *out, int depth)
{
    (void)depth;
    if (kw(c, "RELEASE") && !nkw(c, "SAVEPOINT"))
        return unknown(out);
    return master(out, "savepoint", 0);
}

static int h_xa(cx *c, rwr_decision *out, int depth)
{
    unsigned f = RWR_F_XA;
    (void)depth;
    adv(c);
    if (kw(c, "START") || kw(c, "BEGIN"))
        f |= RWR_F_TRX_BEGIN;
    else if (kw(c, "COMMIT") || kw(c, "ROLLBACK"))
        f |= RWR_F_TRX_END;
    return master(out, "xa", f);
}

static int h_lock(cx *c, rwr_decision *out, int depth)
{
    (void)depth;
    adv(c);
    if (kw(c, "TABLE") || kw(c, "TABLES"))
        return master(out, "lock tables",
                      RWR_F_LOCK_TABLES | RWR_F_PIN_MASTER | RWR_F_IMPLICIT_COMMIT);
    if (kw(c, "INSTANCE"))
        return master(out, "lock instance", RWR_F_PIN_MASTER);
    return unknown(out);
}

static int h_unlock(cx *c, rwr_decision *out, int depth)
{
    (void)depth;
    adv(c);
    if (kw(c, "TABLE") || kw(c, "TABLES"))
        return master(out, "unlock tables", RWR_F_UNLOCK_TABLES);
    if (kw(c, "INSTANCE"))
        return master(out, "unlock instance", 0);
    return unknown(out);
}

static int h_pin(cx *c, rwr_decision *out, int depth)
{
    (void)depth;
    return master(out, kw(c, "HANDLER") ? "handler" : "backup lock", RWR_F_PIN_MASTER);
}

/* Parses a decimal uint64 token; 0 on overflow or non-digits. */
static int parse_u64(const tok *t, uint64_t *v)
{
    uint64_t x = 0;
    if (t->type != TK_NUMBER || t->n == 0)
        return 0;
    for (size_t i = 0; i < t->n; i++) {
        unsigned d = (unsigned)(t->s[i] - '0');
        if (d > 9 || x > (UINT64_MAX - d) / 10)
            return 0;
        x = x * 10 + d;
    }
    *v = x;
    return 1;
}

/* KILL [HARD|SOFT] [CONNECTION|QUERY] id */
static int h_kill(cx *c, rwr_decision *out, int depth)
{
    int query = 0;
    uint64_t id;
    (void)depth;
    adv(c);
    if (!accept(c, "HARD"))
        accept(c, "SOFT");
    if (accept(c, "QUERY"))
        query = 1;
    else
        accept(c, "CONNECTION");
    if (kw(c, "ID"))
        return master(out, "kill query id", 0);
    if (kw(c, "USER"))
        return master(out, "kill user", 0);
    if (!parse_u64(&c->t, &id) || !tok_ends(c, &c->nt))
        return master(out, "kill", 0);
    adv(c);
    out->kill_id = id;
    out->kill_query = query;
    return master(out, "kill", RWR_F_KILL);
}

static int h_use(cx *c, rwr_decision *out, int depth)
{
    (void)depth;
    adv(c);
    tok name = c->t;
    if (name.type == TK_NUMBER)
        name.type = TK_WORD; /* USE 2024db */
    if ((name.type != TK_WORD && name.type != TK_QIDENT) || !tok_ends(c, &c->nt) ||
        ident_text(&name, out->db, sizeof out->db) <= 0) {
        out->db[0] = '\0';
        return unknown(out);
    }
    adv(c);
    return master(out, "use", RWR_F_USE_DB | RWR_F_SESSION);
}

/* GET [CURRENT|STACKED] DIAGNOSTICS: about the previous statement; assigns variables. */
static int h_get(cx *c, rwr_decision *out, int depth)
{
    (void)depth;
    adv(c);
    if (!accept(c, "CURRENT"))
        accept(c, "STACKED");
    if (!kw(c, "DIAGNOSTICS"))
        return unknown(out);
    out->target = RWR_PREVIOUS;
    out->reason = "get diagnostics";
    out->flags |= RWR_F_USER_VAR_WRITE;
    return M_DONE;
}

static int h_signal(cx *c, rwr_decision *out, int depth)
{
    (void)c;
    (void)depth;
    return master(out, "signal", 0);
}

/* ------------------------------------------------------------------ SET */

/* What a SET list did so far. */
typedef struct {
    int global;      /* sticky scope: the last GLOBAL/SESSION/LOCAL keyword said global */
    int any_global;  /* some assignment is global */
    int any_session; /* some assignment is session state */
    int uvar;        /* some assignment is to a user variable */
    int ac;          /* autocommit: -2 not set, -1 unknown value, 0 off, 1 on */
} set_state;

/* Value of `autocommit = <tok>` when the token is a whole constant; -1 otherwise. */
static int autocommit_value(const cx *c)
{
    const tok *t = &c->t;
    if (!tok_ends(c, &c->nt) && c->nt.type != TK_COMMA)
        return -1;
    const char *s = t->s;
    size_t n = t->n;
    if (t->type == TK_STRING) {
        s++;
        n -= 2;
    } else if (t->type != TK_NUMBER && t->type != TK_WORD) {
        return -1;
    }
    if (word_eq(s, n, "1") || word_eq(s, n, "ON") || word_eq(s, n, "TRUE"))
        return 1;
    if (word_eq(s, n, "0") || word_eq(s, n, "OFF") || word_eq(s, n, "FALSE"))
        return 0;
    return -1;
}

/* The variable name of an assignment; sets *global for @@global.x; 0 if not a variable. */
static int set_target(cx *c, set_state *st, int *global, int *is_ac)
{
    if (c->t.type == TK_UVAR) {
        st->uvar = 1;
        *global = 0;
        adv(c);
        return 1;
    }
    if (c->t.type == TK_SVAR) {
        const char *s = c->t.s;
        size_t n = c->t.n;
        const char *dot = memchr(s, '.', n);
        if (dot) {
            size_t pn = (size_t)(dot - s);
            if (word_eq(s, pn, "GLOBAL"))
                *global = 1;
            else if (word_eq(s, pn, "SESSION") || word_eq(s, pn, "LOCAL"))
                *global = 0;
            n -= pn + 1;
            s = dot + 1;
        } else {
            *global = 0; /* @@x is the session value */
        }
        *is_ac = word_eq(s, n, "AUTOCOMMIT");
        adv(c);
        return 1;
    }
    if (c->t.type != TK_WORD && c->t.type != TK_QIDENT)
        return 0;
    *is_ac = word_eq(c->t.s, c->t.n, "AUTOCOMMIT");
    adv(c);
    if (c->t.type == TK_DOT) { /* structured variable: keycache.key_buffer_size */
        *is_ac = 0;
        adv(c);
        if (c->t.type != TK_WORD && c->t.type != TK_QIDENT)
            return 0;
        adv(c);
    }
    return 1;
}

/* One item of a SET list; 0 if it cannot be parsed. */
static int set_item(cx *c, set_state *st)
{
    if (accept(c, "GLOBAL") || accept(c, "PERSIST") || accept(c, "PERSIST_ONLY"))
        st->global = 1;
    else if (accept(c, "SESSION") || accept(c, "LOCAL"))
        st->global = 0;
    int global = st->global, is_ac = 0;
    if (kw(c, "NAMES") || kw(c, "CHARSET") || (kw(c, "CHARACTER") && nkw(c, "SET"))) {
        if (kw(c, "CHARACTER"))
            adv(c);
        adv(c);
        scan(c, STOP_COMMA);
        st->any_session = 1;
        return 1;
    }
    if (!set_target(c, st, &global, &is_ac))
        return 0;
    if (!is_op(&c->t, '=') && c->t.type != TK_ASSIGN)
        return 0;
    adv(c);
    if (at_end(c) || c->t.type == TK_COMMA)
        return 0;
    if (is_ac && !global)
        st->ac = autocommit_value(c);
    scan(c, STOP_COMMA);
    if (global)
        st->any_global = 1;
    else
        st->any_session = 1;
    return 1;
}

static int set_statement(cx *c, rwr_decision *out, int depth)
{
    adv(c);
    scan(c, STOP_FOR);
    if (!kw(c, "FOR") || depth >= MAX_NEST)
        return unknown(out);
    adv(c);
    c->fx = 0; /* the settings' facts do not describe the statement */
    classify_one(c, out, depth + 1);
    out->flags |= RWR_F_SET_STATEMENT;
    return M_DONE;
}

/* The decision for a parsed SET list. */
static int set_decide(cx *c, const set_state *st, rwr_decision *out)
{
    if (st->any_global && !st->any_session)
        return master(out, "set global", 0);
    if (st->any_global) /* replaying it elsewhere would repeat the global part */
        return master(out, "set global and session", RWR_F_PIN_MASTER);
    out->flags |= RWR_F_SESSION | (st->uvar ? RWR_F_USER_VAR_WRITE : 0);
    if (st->ac == 1)
        out->flags |= RWR_F_AUTOCOMMIT_ON;
    else if (st->ac == 0)
        out->flags |= RWR_F_AUTOCOMMIT_OFF;
    else if (st->ac == -1)
        return master(out, "set autocommit expression", RWR_F_PIN_MASTER);
    if (c->fx & FX_NO_REPLAY)
        return master(out, "set not replayable", RWR_F_PIN_MASTER);
    return master(out, "session command", 0);
}

/* SET after the keyword (not SET STATEMENT): special forms, else a list of assignments. */
static int set_list(cx *c, rwr_decision *out)
{
    if (kw(c, "PASSWORD"))
        return master(out, "set password", RWR_F_WRITE | RWR_F_IMPLICIT_COMMIT);
    if (kw(c, "ROLE"))
        return master(out, "set role", RWR_F_SESSION);
    if (kw(c, "DEFAULT") && nkw(c, "ROLE"))
        return master(out, "set default role", RWR_F_WRITE);
    if (kw(c, "TRANSACTION"))
        return master(out, "set transaction", 0); /* the next transaction only */
    if (nkw(c, "TRANSACTION") && (kw(c, "GLOBAL") || kw(c, "SESSION") || kw(c, "LOCAL")))
        return kw(c, "GLOBAL") ? master(out, "set global", 0) : master(out, "session command", RWR_F_SESSION);
    set_state st = {0, 0, 0, 0, -2};
    int ok = 1;
    for (;;) {
        if (!set_item(c, &st)) {
            ok = 0;
            break;
        }
        if (c->t.type != TK_COMMA)
            break;
        adv(c);
    }
    if (!ok || !at_end(c))
        return master(out, "unparseable set", RWR_F_PIN_MASTER);
    return set_decide(c, &st, out);
}

static int h_set(cx *c, rwr_decision *out, int depth)
{
    int r;
    adv(c);
    if (kw(c, "STATEMENT"))
        return set_statement(c, out, depth);
    c->in_set = 1;
    r = set_list(c, out);
    c->in_set = 0;
    return r;
}

/* ------------------------------------------------------------------ dispatch and driver */

typedef int (*stmt_fn)(cx *c, rwr_decision *out, int depth);

/* First keyword -> handler. */
typedef struct {
    const char *kw;  /* upper case */
    stmt_fn fn;      /* the handler; it starts at the keyword */
    int paren_ok;    /* may follow leading '(' */
} stmt_entry;

static const stmt_entry stmts[] = {
    {"SELECT", h_select, 1}, {"WITH", h_with, 1}, {"TABLE", h_read_misc, 1},
    {"VALUES", h_read_misc, 1}, {"DO", h_do, 0}, {"HELP", h_read_misc, 0},
    {"CHECKSUM", h_read_misc, 0}, {"SHOW", h_show, 0}, {"DESCRIBE", h_explain, 0},
    {"DESC", h_explain, 0}, {"EXPLAIN", h_explain, 0}, {"ANALYZE", h_analyze, 0},
    {"INSERT", h_write, 0}, {"UPDATE", h_write, 0}, {"DELETE", h_write, 0},
    {"REPLACE", h_write, 0}, {"LOAD", h_load, 0}, {"CALL", h_call, 0},
    {"CREATE", h_create, 0}, {"DROP", h_drop, 0}, {"ALTER", h_ddl, 0},
    {"RENAME", h_ddl, 0}, {"TRUNCATE", h_ddl, 0}, {"GRANT", h_account, 0},
    {"REVOKE", h_account, 0}, {"OPTIMIZE", h_maintenance, 0}, {"REPAIR", h_maintenance, 0},
    {"CHECK", h_maintenance, 0}, {"FLUSH", h_flush, 0}, {"RESET", h_admin, 0},
    {"CACHE", h_admin, 0}, {"PURGE", h_admin, 0}, {"CHANGE", h_admin, 0},
    {"STOP", h_admin, 0}, {"INSTALL", h_admin, 0}, {"UNINSTALL", h_admin, 0},
    {"SHUTDOWN", h_admin, 0}, {"RESTART", h_admin, 0}, {"BINLOG", h_admin, 0},
    {"START", h_start, 0}, {"BEGIN", h_begin, 0}, {"COMMIT", h_commit, 0},
    {"ROLLBACK", h_commit, 0}, {"SAVEPOINT", h_savepoint, 0}, {"RELEASE", h_savepoint, 0},
    {"XA", h_xa, 0}, {"LOCK", h_lock, 0}, {"UNLOCK", h_unlock, 0},
    {"BACKUP", h_pin, 0}, {"HANDLER", h_pin, 0}, {"PREPARE", h_prepare, 0},
    {"EXECUTE", h_prepare, 0}, {"DEALLOCATE", h_prepare, 0}, {"KILL", h_kill, 0},
    {"USE", h_use, 0}, {"SET", h_set, 0}, {"GET", h_get, 0},
    {"SIGNAL", h_signal, 0}, {"RESIGNAL", h_signal, 0}, {"IF", h_compound, 0},
    {"CASE", h_compound, 0}, {"LOOP", h_compound, 0}, {"WHILE", h_compound, 0},
    {"REPEAT", h_compound, 0}, {"FOR", h_compound, 0}, {"DECLARE", h_compound, 0},
};

static const stmt_entry *find_stmt(const tok *t)
{
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++)
        if (is_kw(t, stmts[i].kw))
            return &stmts[i];
    return NULL;
}

/* Dispatches on the first keyword (after leading parentheses). */
static int dispatch(cx *c, rwr_decision *out, int depth, int nparen)
{
    if (c->t.type != TK_WORD)
        return master(out, (nparen == 0 && at_end(c)) ? R_EMPTY : R_UNKNOWN, 0);
    if (!out->keyword[0]) {
        size_t n = c->t.n < sizeof out->keyword - 1 ? c->t.n : sizeof out->keyword - 1;
        upper_copy(c->t.s, n, out->keyword, sizeof out->keyword);
    }
    const stmt_entry *e = find_stmt(&c->t);
    if (e && (nparen == 0 || e->paren_ok))
        return e->fn(c, out, depth);
    if (nparen == 0 && is_op(&c->nt, ':')) /* label: BEGIN ... END */
        return h_compound(c, out, depth);
    return unknown(out);
}

/* Classifies one statement, from the current token to its end (';', end or error). */
static void classify_one(cx *c, rwr_decision *out, int depth)
{
    unsigned saved_fx = c->fx;
    int nparen = 0;
    c->fx = 0;
    out->target = RWR_MASTER;
    while (c->t.type == TK_LP) {
        nparen++;
        adv(c);
    }
    int mode = dispatch(c, out, depth, nparen);
    scan(c, 0);
    if (c->t.type == TK_ERROR) {
        out->target = RWR_MASTER;
        out->reason = R_UNPARSEABLE;
        out->flags = 0;
        out->db[0] = out->temp_name[0] = '\0';
        out->kill_id = 0;
        out->kill_query = 0;
    } else {
        if (mode == M_READ)
            decide_read(c->fx, out);
        side_effects(c->fx, out);
    }
    c->fx = saved_fx;
}

/* Flags that make a multi-statement pin the session (state the driver cannot follow). */
#define STATEFUL_FLAGS (RWR_F_TRX_BEGIN | RWR_F_TRX_BEGIN_RO | RWR_F_TRX_END | RWR_F_TRX_CHAIN | \
                        RWR_F_AUTOCOMMIT_OFF | RWR_F_AUTOCOMMIT_ON | RWR_F_LOCK_TABLES |           \
                        RWR_F_UNLOCK_TABLES | RWR_F_XA | RWR_F_SESSION | RWR_F_USER_VAR_WRITE |     \
                        RWR_F_TEMP_CREATE | RWR_F_TEMP_DROP | RWR_F_USE_DB | RWR_F_PREPARE_SQL |   \
                        RWR_F_PIN_MASTER | RWR_F_KILL | RWR_F_RELEASE)

static void merge_sub(rwr_decision *out, const rwr_decision *sub)
{
    out->flags |= sub->flags;
    if (sub->flags & RWR_F_USE_DB)
        memcpy(out->db, sub->db, sizeof out->db);
    if (sub->flags & (RWR_F_TEMP_CREATE | RWR_F_TEMP_DROP))
        memcpy(out->temp_name, sub->temp_name, sizeof out->temp_name);
    if (sub->flags & RWR_F_KILL) {
        out->kill_id = sub->kill_id;
        out->kill_query = sub->kill_query;
    }
}

/* All statements of the text: the first decides, unless more follow (multi-statement). */
static void run(cx *c, rwr_decision *out)
{
    int multi = 0, all_read;
    classify_one(c, out, 0);
    all_read = (out->flags & RWR_F_READ) != 0;
    while (c->t.type == TK_SEMI) {
        while (c->t.type == TK_SEMI)
            adv(c);
        if (c->t.type == TK_END)
            break;
        rwr_decision sub;
        memset(&sub, 0, sizeof sub);
        classify_one(c, &sub, 0);
        merge_sub(out, &sub);
        all_read = all_read && (sub.flags & RWR_F_READ);
        multi = 1;
    }
    if (!multi)
        return;
    out->target = RWR_MASTER;
    out->reason = "multi-statement";
    out->flags |= RWR_F_MULTI;
    if (!all_read)
        out->flags &= ~RWR_F_READ;
    if (out->flags & STATEFUL_FLAGS)
        out->flags |= RWR_F_PIN_MASTER;
}

/* One pass over the text with one interpretation of backslashes; returns "saw a backslash". */
static int classify_pass(const char *sql, size_t len, int nbe, rwr_is_temp_fn is_temp, void *ctx,
                         hint_rec *h, rwr_decision *out)
{
    cx c;
    memset(&c, 0, sizeof c);
    memset(out, 0, sizeof *out);
    lex_init(&c.lx, sql, len, nbe, h);
    c.semi_ends = 1;
    c.is_temp = is_temp;
    c.ctx = ctx;
    c.prev = TK_END;
    lex_next(&c.lx, &c.t);
    lex_next(&c.lx, &c.nt);
    run(&c, out);
    return c.lx.saw_bslash;
}

static void apply_hint(const hint_rec *h, rwr_decision *out)
{
    out->hint = h->kind;
    if (h->kind == 3)
        memcpy(out->server, h->server, sizeof out->server);
    if (out->reason == R_EMPTY)
        return;
    switch (h->kind) {
    case 1: out->target = RWR_MASTER; out->reason = "hint master"; break;
    case 2: out->target = RWR_REPLICA; out->reason = "hint replica"; break;
    case 3: out->target = RWR_SERVER; out->reason = "hint server"; break;
    default: break;
    }
}

void rwr_classify(const char *sql, size_t len, rwr_is_temp_fn is_temp, void *ctx, rwr_decision *out)
{
    hint_rec h, h2;
    memset(&h, 0, sizeof h);
    if (!sql)
        sql = "", len = 0;
    if (classify_pass(sql, len, 0, is_temp, ctx, &h, out)) {
        /* A backslash in a string: the text means something else under NO_BACKSLASH_ESCAPES.
         * Use the interpretation that parses; if both do and disagree, play safe. */
        rwr_decision alt;
        memset(&h2, 0, sizeof h2);
        classify_pass(sql, len, 1, is_temp, ctx, &h2, &alt);
        int a_bad = out->reason == R_UNPARSEABLE, b_bad = alt.reason == R_UNPARSEABLE;
        if (a_bad && !b_bad) {
            *out = alt;
            h = h2;
        } else if (!a_bad && !b_bad && (out->target != alt.target || out->flags != alt.flags)) {
            out->target = RWR_MASTER;
            out->reason = "ambiguous string escapes";
            out->flags |= RWR_F_PIN_MASTER;
        }
    }
    apply_hint(&h, out);
}
