/*
 * tests/unit/test_manpage_keys.c — keeps the shipped documentation and example in step with
 * the parser's key table (rwp_config_keys() in proxy/config.c): the man page source
 * docs/rwproxy.ini.5.md lists every key under its section with its default and whether a
 * reload applies it, and no key that does not exist; configs/production.ini shows every key
 * (set or commented out) in its section. Run from the repository root (`make unit`); each
 * test skips when its file is absent. The man page's key list is regenerated from
 * docs/config.md by `python3 packaging/sync_man_keys.py`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "proxy/config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAN_PAGE "docs/rwproxy.ini.5.md"
#define PRODUCTION_INI "configs/production.ini"
#define GEN_BEGIN "<!-- keys: generated from docs/config.md"
#define GEN_END "<!-- end of generated keys -->"
#define SYNC_HINT "run: python3 packaging/sync_man_keys.py (after adding the key to docs/config.md)"

/* The whole file as a NUL-terminated string (NULL if it cannot be read). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 1 << 20;
    char *buf = calloc(1, cap);
    size_t n = buf ? fread(buf, 1, cap - 1, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

/* The generated key list of the man page: the text between the markers, cut in place. */
static char *generated_part(char *man)
{
    char *b = strstr(man, GEN_BEGIN);
    char *e = b ? strstr(b, GEN_END) : NULL;
    if (!b || !e)
        fail_msg("%s: the generated key list markers are missing", MAN_PAGE);
    *e = '\0';
    return b;
}

/* The lines of one "## [section]" block of the generated list, cut into a copy (NULL if
 * the section has no heading). */
static char *man_section(const char *gen, const char *section)
{
    char heading[128];
    snprintf(heading, sizeof heading, "\n## [%s]\n", section);
    const char *s = strstr(gen, heading);
    if (!s)
        return NULL;
    s += strlen(heading);
    const char *e = strstr(s, "\n## ");
    size_t len = e ? (size_t)(e - s) : strlen(s);
    char *out = malloc(len + 1);
    assert_non_null(out);
    memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

/* The line of block that starts with "`key` (", copied into line (0 if none). */
static int man_entry(const char *block, const char *key, char *line, size_t cap)
{
    char want[128];
    snprintf(want, sizeof want, "`%s` (", key);
    for (const char *p = block; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (!strncmp(p, want, strlen(want))) {
            snprintf(line, cap, "%.*s", (int)len, p);
            return 1;
        }
        p = nl ? nl + 1 : NULL;
    }
    return 0;
}

static void test_man_page_lists_every_key(void **state)
{
    (void)state;
    char *man = slurp(MAN_PAGE);
    if (!man)
        skip();
    const char *gen = generated_part(man);
    size_t n;
    const rwp_config_key *keys = rwp_config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        const rwp_config_key *k = &keys[i];
        char *block = man_section(gen, k->section);
        if (!block)
            fail_msg("%s has no section [%s]; " SYNC_HINT, MAN_PAGE, k->section);
        char line[2048];
        if (!man_entry(block, k->key, line, sizeof line))
            fail_msg("%s lacks key %s.%s; " SYNC_HINT, MAN_PAGE, k->section, k->key);
        const char *reload = k->reloadable ? "reload: yes" : "reload: restart";
        if (!strstr(line, reload))
            fail_msg("%s: %s.%s should say \"%s\": %s", MAN_PAGE, k->section, k->key, reload, line);
        char def[256];
        snprintf(def, sizeof def, "default: %s", k->def ? k->def : "");
        if (!strstr(line, def))
            fail_msg("%s: %s.%s should say \"%s\" (the parser's default): %s", MAN_PAGE,
                     k->section, k->key, def, line);
        free(block);
    }
    free(man);
}

/* 1 if section.key is in the parser's table. */
static int is_known_key(const char *section, const char *key)
{
    size_t n;
    const rwp_config_key *keys = rwp_config_keys(&n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(keys[i].section, section) && !strcmp(keys[i].key, key))
            return 1;
    return 0;
}

static void test_man_page_has_no_unknown_key(void **state)
{
    (void)state;
    char *man = slurp(MAN_PAGE);
    if (!man)
        skip();
    const char *gen = generated_part(man);
    char section[128] = "";
    int entries = 0;
    for (const char *p = gen; p && *p;) {
        const char *nl = strchr(p, '\n');
        char key[128];
        if (sscanf(p, "## [%127[^]\n]]", section) == 1) {
            /* a new section heading */
        } else if (p[0] == '`' && sscanf(p, "`%127[^`\n]` (", key) == 1) {
            if (!section[0] || !is_known_key(section, key))
                fail_msg("%s lists [%s] %s, which the parser does not know; " SYNC_HINT,
                         MAN_PAGE, section, key);
            entries++;
        }
        p = nl ? nl + 1 : NULL;
    }
    size_t n;
    rwp_config_keys(&n);
    assert_int_equal(entries, (int)n);
    free(man);
}

/* The text of one section of an INI file, from its heading ("[proxy]", or "[server." for the
 * repeated ones; the heading may be commented out with ';') to the next heading. */
static char *ini_section(const char *ini, const char *section)
{
    char prefix[128];
    const char *dot = strstr(section, ".NAME");
    if (dot)
        snprintf(prefix, sizeof prefix, "[%.*s.", (int)(dot - section), section);
    else
        snprintf(prefix, sizeof prefix, "[%s]", section);
    for (const char *p = ini; p && *p;) {
        const char *nl = strchr(p, '\n');
        const char *q = p;
        while (*q == ';' || *q == '#' || *q == ' ')
            q++;
        if (!strncmp(q, prefix, strlen(prefix))) {
            const char *s = nl ? nl + 1 : q + strlen(q);
            const char *e = s;
            for (;;) { /* up to the next heading, commented or not */
                const char *r = e;
                while (*r == ';' || *r == '#' || *r == ' ')
                    r++;
                if (!*e || (*r == '[' && islower((unsigned char)r[1])))
                    break;
                const char *n2 = strchr(e, '\n');
                e = n2 ? n2 + 1 : e + strlen(e);
            }
            char *out = malloc((size_t)(e - s) + 1);
            assert_non_null(out);
            memcpy(out, s, (size_t)(e - s));
            out[e - s] = '\0';
            return out;
        }
        p = nl ? nl + 1 : NULL;
    }
    return NULL;
}

/* 1 if block has a line "key = ..." (optionally commented out with ';'). */
static int ini_has_key(const char *block, const char *key)
{
    for (const char *p = block; p && *p;) {
        const char *nl = strchr(p, '\n');
        const char *q = p;
        while (*q == ';' || *q == ' ')
            q++;
        size_t kl = strlen(key);
        if (!strncmp(q, key, kl)) {
            const char *r = q + kl;
            while (*r == ' ')
                r++;
            if (*r == '=')
                return 1;
        }
        p = nl ? nl + 1 : NULL;
    }
    return 0;
}

static void test_production_ini_shows_every_key(void **state)
{
    (void)state;
    char *ini = slurp(PRODUCTION_INI);
    if (!ini)
        skip();
    size_t n;
    const rwp_config_key *keys = rwp_config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        char *block = ini_section(ini, keys[i].section);
        if (!block)
            fail_msg("%s has no [%s] section (it shows every key, set or commented out)",
                     PRODUCTION_INI, keys[i].section);
        if (!ini_has_key(block, keys[i].key))
            fail_msg("%s lacks [%s] %s (add \"%s = ...\" or \"; %s = ...\" with a comment)",
                     PRODUCTION_INI, keys[i].section, keys[i].key, keys[i].key, keys[i].key);
        free(block);
    }
    free(ini);
}

static void test_production_ini_is_valid(void **state)
{
    (void)state;
    FILE *f = fopen(PRODUCTION_INI, "r");
    if (!f)
        skip();
    fclose(f);
    char err[1024] = "";
    rwp_config *c = rwp_config_load(PRODUCTION_INI, err, sizeof err);
    if (!c)
        fail_msg("%s", err);
    assert_true(c->nservers >= 2);
    rwp_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_man_page_lists_every_key),
        cmocka_unit_test(test_man_page_has_no_unknown_key),
        cmocka_unit_test(test_production_ini_shows_every_key),
        cmocka_unit_test(test_production_ini_is_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
