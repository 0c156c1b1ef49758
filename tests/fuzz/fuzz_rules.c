/*
 * tests/fuzz/fuzz_rules.c — query rules (router/rules.h). Patterns come from the trusted
 * configuration; the statement text and the user name are the client's. The target matches
 * arbitrary SQL (and user names) against a fixed ruleset of realistic patterns (including
 * a catastrophic-backtracking one, which must hit the match limit, not hang), and, when the
 * input asks for it, compiles a pattern taken from the input (rwr_rules_compile's error
 * path and err formatting) and matches the rest against it.
 * Checks: the match index is -1 or a valid rule whose user filter applies; matching twice
 * gives the same answer; a compile failure leaves a terminated, non-empty message.
 * Input: byte 0 (bits 0-1 pick the user: none, "app", "report", other; bit 2 "pattern
 * mode": the text up to the first '\n' is a pattern), then the text.
 */
#include "fuzz_common.h"

#include "router/rules.h"

static rwr_ruleset *rs;
static rwr_rule_matcher *m;

static rwr_rule_spec spec(const char *name, int order, const char *match, const char *user,
                          rwr_rule_action action, const char *server)
{
    rwr_rule_spec s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "%s", name);
    s.order = order;
    s.match = (char *)match;
    s.user = (char *)user;
    s.action = action;
    if (server)
        snprintf(s.server, sizeof s.server, "%s", server);
    return s;
}

static void setup(void)
{
    rwr_rule_spec s[] = {
        spec("block_drop", 1, "^\\s*drop\\s+(database|schema)\\b", NULL, RWR_RULE_BLOCK, NULL),
        spec("reports", 5, "^SELECT .* FROM reports", NULL, RWR_RULE_ROUTE_REPLICA, NULL),
        spec("app_reads", 10, "^\\s*select\\b", "app", RWR_RULE_ROUTE_REPLICA, NULL),
        spec("for_update", 3, "\\bfor\\s+update\\b", NULL, RWR_RULE_ROUTE_MASTER, NULL),
        spec("analytics", 7, "/\\*\\s*analytics\\s*\\*/", "report", RWR_RULE_ROUTE_SERVER, "replica2"),
        spec("evil", 20, "^(a+)+$", NULL, RWR_RULE_BLOCK, NULL),
        spec("unicode", 30, "caf\\x{e9}|\\xc3\\xa9", NULL, RWR_RULE_ROUTE_MASTER, NULL),
    };
    char err[256];
    rs = rwr_rules_compile(s, sizeof s / sizeof s[0], err, sizeof err);
    if (!rs) {
        fprintf(stderr, "fuzz_rules: %s\n", err);
        abort();
    }
    m = rwr_rule_matcher_new(rs);
    if (!m)
        abort();
}

static const char *const USERS[] = {NULL, "app", "report", "someone"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!rs)
        setup();
    if (size < 1)
        return 0;
    const char *user = USERS[data[0] & 3];
    const uint8_t *text = data + 1;
    size_t n = size - 1;

    if (data[0] & 4) {
        const uint8_t *nl = memchr(text, '\n', n);
        size_t plen = nl ? (size_t)(nl - text) : n;
        char *pat = fuzz_strndup(text, plen);
        rwr_rule_spec s = spec("fuzzed", 1, pat, (data[0] & 8) ? "app" : NULL,
                               (rwr_rule_action)((data[0] >> 4) % 5), (data[0] & 0x80) ? "srv" : NULL);
        char err[128];
        memset(err, 0x55, sizeof err);
        rwr_ruleset *one = rwr_rules_compile(&s, 1, err, sizeof err);
        if (!one) {
            FUZZ_CHECK(memchr(err, 0, sizeof err) != NULL && err[0] != '\0');
        } else {
            FUZZ_CHECK(rwr_rules_count(one) == 1 && rwr_rules_get(one, 1) == NULL);
            const rwr_rule_spec *got = rwr_rules_get(one, 0);
            FUZZ_CHECK(got && strcmp(got->match, pat) == 0);
            rwr_rule_matcher *mm = rwr_rule_matcher_new(one);
            FUZZ_CHECK(mm != NULL);
            size_t rest = nl ? n - plen - 1 : 0;
            char *sql = malloc(rest ? rest : 1);
            memcpy(sql, nl ? nl + 1 : text, rest);
            int i = rwr_rules_match(one, mm, user, sql, rest);
            FUZZ_CHECK(i == -1 || i == 0);
            free(sql);
            rwr_rule_matcher_free(mm);
            rwr_rules_free(one);
        }
        free(pat);
        return 0;
    }

    char *sql = malloc(n ? n : 1);
    memcpy(sql, text, n);
    int i = rwr_rules_match(rs, m, user, sql, n);
    FUZZ_CHECK(i >= -1 && i < (int)rwr_rules_count(rs));
    if (i >= 0) {
        const rwr_rule_spec *r = rwr_rules_get(rs, (size_t)i);
        FUZZ_CHECK(r && (!r->user || (user && strcmp(r->user, user) == 0)));
    }
    FUZZ_CHECK(rwr_rules_match(rs, m, user, sql, n) == i);
    free(sql);
    return 0;
}
