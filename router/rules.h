/*
 * router/rules.h — query rules of rwproxy's router: PCRE2 patterns from the configuration
 * that route a statement to the master, a replica or a named server, or block it.
 * Owns: compiling the configured rules (sorted by order, case-insensitive, JIT when the
 * library has it) into an immutable ruleset that all worker threads share, and the
 * per-thread matcher scratch (match data, JIT stack) used to evaluate them.
 */
#ifndef RWR_RULES_H
#define RWR_RULES_H

#include <stddef.h>

/* What a matching rule does. */
typedef enum {
    RWR_RULE_ROUTE_MASTER,  /* send to the master */
    RWR_RULE_ROUTE_REPLICA, /* send to a replica */
    RWR_RULE_ROUTE_SERVER,  /* send to the server named in `server` */
    RWR_RULE_BLOCK          /* answer with an error carrying `block_msg` */
} rwr_rule_action;

/* One rule as the configuration gives it. */
typedef struct {
    char name[64];          /* rule name (for errors, logs, counters) */
    int order;              /* evaluation order, ascending; ties keep configuration order */
    char *match;            /* PCRE2 pattern, matched case-insensitively against the SQL text */
    char *user;             /* only for this client user; NULL = any user */
    rwr_rule_action action; /* what to do on a match */
    char server[64];        /* RWR_RULE_ROUTE_SERVER: the server name */
    char *block_msg;        /* RWR_RULE_BLOCK: the error message (NULL: a default text) */
} rwr_rule_spec;

/* Compiled rules: immutable once built, shareable across threads. */
typedef struct rwr_ruleset rwr_ruleset;

/* Compiles n specs (deep-copied; the caller keeps its own). NULL on error, with err naming the
 * rule and giving PCRE2's message and offset. n == 0 gives an empty ruleset. */
rwr_ruleset *rwr_rules_compile(const rwr_rule_spec *specs, size_t n, char *err, size_t errlen);
void rwr_rules_free(rwr_ruleset *rs);
size_t rwr_rules_count(const rwr_ruleset *rs);
/* The i-th rule in evaluation order (its own copy of the spec), or NULL. */
const rwr_rule_spec *rwr_rules_get(const rwr_ruleset *rs, size_t i);

/* Per-thread scratch for matching. */
typedef struct rwr_rule_matcher rwr_rule_matcher;
rwr_rule_matcher *rwr_rule_matcher_new(const rwr_ruleset *rs);
void rwr_rule_matcher_free(rwr_rule_matcher *m);

/* First matching rule index (in evaluated order) or -1. `user` may be NULL (only rules without
 * a user filter apply). A pattern that fails at run time (match or recursion limit) counts as
 * no match; rwr_rule_matcher_errors() counts those. */
int rwr_rules_match(const rwr_ruleset *rs, rwr_rule_matcher *m, const char *user, const char *sql, size_t len);
/* How many run-time match errors this matcher has seen (for logs). */
unsigned long rwr_rule_matcher_errors(const rwr_rule_matcher *m);

#endif
