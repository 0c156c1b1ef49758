/*
 * router/rules.c — PCRE2 query rules (see rules.h).
 * Owns: deep copies of the configured rule specs in evaluation order, their compiled
 * patterns (pcre2_code, JIT-compiled when possible: read-only after compile, so shared by all
 * threads), and the per-thread matcher (match data, match context with limits, JIT stack).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "router/rules.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MATCH_LIMIT 1000000u     /* backtracking steps per pattern and statement */
#define DEPTH_LIMIT 100000u      /* backtracking depth (heap) per pattern and statement */
#define JIT_STACK_MIN (32u << 10)
#define JIT_STACK_MAX (1u << 20)

/* One compiled rule. */
typedef struct {
    rwr_rule_spec spec; /* owned copy (match/user/block_msg strings are owned) */
    pcre2_code *code;   /* compiled pattern */
    size_t config_pos;  /* position in the configuration (sort tie-break) */
} rule;

struct rwr_ruleset {
    rule *rules; /* evaluation order */
    size_t n;    /* how many */
};

struct rwr_rule_matcher {
    pcre2_match_data *md;     /* one ovector pair: only "did it match" is needed */
    pcre2_match_context *mc;  /* limits and the JIT stack */
    pcre2_jit_stack *jit;     /* this thread's JIT stack (NULL: the default one) */
    unsigned long errors;     /* run-time match errors seen */
};

static char *dup_or_null(const char *s, int *fail)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *fail = 1;
    return d;
}

static void rule_free(rule *r)
{
    free(r->spec.match);
    free(r->spec.user);
    free(r->spec.block_msg);
    pcre2_code_free(r->code);
}

void rwr_rules_free(rwr_ruleset *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n; i++)
        rule_free(&rs->rules[i]);
    free(rs->rules);
    free(rs);
}

static int rule_cmp(const void *a, const void *b)
{
    const rule *x = a, *y = b;
    if (x->spec.order != y->spec.order)
        return x->spec.order < y->spec.order ? -1 : 1;
    return x->config_pos < y->config_pos ? -1 : x->config_pos > y->config_pos;
}

/* Copies one spec and compiles its pattern; 0 with err filled on failure. */
static int rule_build(rule *r, const rwr_rule_spec *s, size_t pos, char *err, size_t errlen)
{
    int fail = 0, code;
    PCRE2_SIZE off;
    memset(r, 0, sizeof *r);
    r->spec = *s;
    r->spec.name[sizeof r->spec.name - 1] = '\0';
    r->spec.server[sizeof r->spec.server - 1] = '\0';
    r->spec.match = dup_or_null(s->match, &fail);
    r->spec.user = dup_or_null(s->user, &fail);
    r->spec.block_msg = dup_or_null(s->block_msg, &fail);
    r->config_pos = pos;
    if (fail) {
        snprintf(err, errlen, "rule '%s': out of memory", r->spec.name);
        return 0;
    }
    if (!s->match) {
        snprintf(err, errlen, "rule '%s': no match pattern", r->spec.name);
        return 0;
    }
    if (s->action == RWR_RULE_ROUTE_SERVER && !r->spec.server[0]) {
        snprintf(err, errlen, "rule '%s': route to a server needs a server name", r->spec.name);
        return 0;
    }
    if (s->action < RWR_RULE_ROUTE_MASTER || s->action > RWR_RULE_BLOCK) {
        snprintf(err, errlen, "rule '%s': unknown action %d", r->spec.name, (int)s->action);
        return 0;
    }
    r->code = pcre2_compile((PCRE2_SPTR)s->match, PCRE2_ZERO_TERMINATED,
                            PCRE2_CASELESS | PCRE2_DOTALL, &code, &off, NULL);
    if (!r->code) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
            snprintf((char *)msg, sizeof msg, "error %d", code);
        snprintf(err, errlen, "rule '%s': bad pattern: %s at offset %zu", r->spec.name,
                 (const char *)msg, (size_t)off);
        return 0;
    }
    (void)pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE); /* the interpreter is the fallback */
    return 1;
}

rwr_ruleset *rwr_rules_compile(const rwr_rule_spec *specs, size_t n, char *err, size_t errlen)
{
    char dummy[1];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    rwr_ruleset *rs = calloc(1, sizeof *rs);
    if (!rs || (n && !(rs->rules = calloc(n, sizeof *rs->rules)))) {
        free(rs);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        rs->n = i + 1; /* so that free releases what this rule already owns */
        if (!rule_build(&rs->rules[i], &specs[i], i, err, errlen)) {
            rwr_rules_free(rs);
            return NULL;
        }
    }
    rs->n = n;
    if (n > 1)
        qsort(rs->rules, n, sizeof *rs->rules, rule_cmp);
    return rs;
}

size_t rwr_rules_count(const rwr_ruleset *rs)
{
    return rs ? rs->n : 0;
}

const rwr_rule_spec *rwr_rules_get(const rwr_ruleset *rs, size_t i)
{
    return rs && i < rs->n ? &rs->rules[i].spec : NULL;
}

rwr_rule_matcher *rwr_rule_matcher_new(const rwr_ruleset *rs)
{
    (void)rs; /* one ovector pair suffices for every pattern */
    rwr_rule_matcher *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->md = pcre2_match_data_create(1, NULL);
    m->mc = pcre2_match_context_create(NULL);
    if (!m->md || !m->mc) {
        rwr_rule_matcher_free(m);
        return NULL;
    }
    pcre2_set_match_limit(m->mc, MATCH_LIMIT);
    pcre2_set_depth_limit(m->mc, DEPTH_LIMIT);
    m->jit = pcre2_jit_stack_create(JIT_STACK_MIN, JIT_STACK_MAX, NULL);
    if (m->jit)
        pcre2_jit_stack_assign(m->mc, NULL, m->jit);
    return m;
}

void rwr_rule_matcher_free(rwr_rule_matcher *m)
{
    if (!m)
        return;
    pcre2_match_data_free(m->md);
    pcre2_match_context_free(m->mc);
    if (m->jit)
        pcre2_jit_stack_free(m->jit);
    free(m);
}

unsigned long rwr_rule_matcher_errors(const rwr_rule_matcher *m)
{
    return m ? m->errors : 0;
}

static int user_applies(const rwr_rule_spec *s, const char *user)
{
    return !s->user || (user && strcmp(s->user, user) == 0);
}

int rwr_rules_match(const rwr_ruleset *rs, rwr_rule_matcher *m, const char *user, const char *sql, size_t len)
{
    static const char empty[1] = "";
    if (!rs || !m)
        return -1;
    if (!sql) {
        sql = empty;
        len = 0;
    }
    for (size_t i = 0; i < rs->n; i++) {
        const rule *r = &rs->rules[i];
        if (!user_applies(&r->spec, user))
            continue;
        int rc = pcre2_match(r->code, (PCRE2_SPTR)sql, len, 0, 0, m->md, m->mc);
        if (rc >= 0)
            return (int)i;
        if (rc != PCRE2_ERROR_NOMATCH)
            m->errors++;
    }
    return -1;
}
