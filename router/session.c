/*
 * router/session.c — routing state of one client session (see session.h): transaction
 * state, pins, temporary tables and the session command history.
 */
#include "router/session.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ST_IN_TRANS   0x0001u /* SERVER_STATUS_IN_TRANS */
#define ST_AUTOCOMMIT 0x0002u /* SERVER_STATUS_AUTOCOMMIT */

void rwr_session_init(rwr_session *s)
{
    memset(s, 0, sizeof *s);
    s->autocommit = 1;
}

static void free_history(rwr_session *s)
{
    for (size_t i = 0; i < s->nhist; i++)
        free(s->hist[i].pkt);
    free(s->hist);
    s->hist = NULL;
    s->nhist = s->hist_cap = s->hist_bytes = 0;
}

static void free_temp(rwr_session *s)
{
    for (int i = 0; i < s->ntemp; i++)
        free(s->temp[i]);
    s->ntemp = 0;
}

void rwr_session_reset(rwr_session *s)
{
    uint64_t gen = s->hist_generation;
    rwr_session_free(s);
    rwr_session_init(s);
    s->hist_generation = gen + 1;
}

void rwr_session_free(rwr_session *s)
{
    free_history(s);
    free_temp(s);
}

void rwr_session_pin(rwr_session *s, const char *reason)
{
    if (!s->pinned) {
        s->pinned = 1;
        s->pin_reason = reason;
    }
}

uint64_t rwr_history_chain(uint64_t prev_chain, const uint8_t *pkt, size_t len)
{
    uint64_t h = prev_chain ? prev_chain : 0xcbf29ce484222325ull; /* FNV-1a 64 */
    for (size_t i = 0; i < len; i++) {
        h ^= pkt[i];
        h *= 0x100000001b3ull;
    }
    h ^= len;
    h *= 0x100000001b3ull;
    return h ? h : 1;
}

int rwr_session_record(rwr_session *s, const uint8_t *pkt, size_t len)
{
    if (s->nhist >= RWR_HISTORY_MAX_ENTRIES || s->hist_bytes + len > RWR_HISTORY_MAX_BYTES) {
        rwr_session_pin(s, "session history too long");
        return -1;
    }
    if (s->nhist == s->hist_cap) {
        size_t cap = s->hist_cap ? s->hist_cap * 2 : 8;
        rwr_history_entry *h = realloc(s->hist, cap * sizeof *h);
        if (!h) {
            rwr_session_pin(s, "out of memory for session history");
            return -1;
        }
        s->hist = h;
        s->hist_cap = cap;
    }
    uint8_t *copy = malloc(len);
    if (!copy) {
        rwr_session_pin(s, "out of memory for session history");
        return -1;
    }
    memcpy(copy, pkt, len);
    s->hist[s->nhist].pkt = copy;
    s->hist[s->nhist].len = len;
    s->hist[s->nhist].chain = rwr_history_chain(s->nhist ? s->hist[s->nhist - 1].chain : 0, pkt, len);
    s->nhist++;
    s->hist_bytes += len;
    return 0;
}

void rwr_session_drop_last(rwr_session *s)
{
    if (s->nhist == 0)
        return;
    s->nhist--;
    s->hist_bytes -= s->hist[s->nhist].len;
    free(s->hist[s->nhist].pkt);
    s->hist[s->nhist].pkt = NULL;
}

/* Skip blanks; returns the new position. */
static size_t skip_blanks(const char *p, size_t i, size_t n)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

/* Does p[i..] start with word w (case-insensitive)? Returns the position after it, or 0. */
static size_t eat_word(const char *p, size_t i, size_t n, const char *w)
{
    size_t k = strlen(w);
    if (i + k > n || strncasecmp(p + i, w, k) != 0)
        return 0;
    return i + k;
}

int rwr_is_autocommit_set(const char *sql, size_t len)
{
    size_t i = skip_blanks(sql, 0, len), j;
    if (!(i = eat_word(sql, i, len, "set")) || i >= len || (sql[i] != ' ' && sql[i] != '\t'))
        return 0;
    i = skip_blanks(sql, i, len);
    if ((j = eat_word(sql, i, len, "@@session.")) || (j = eat_word(sql, i, len, "@@")))
        i = j;
    else if ((j = eat_word(sql, i, len, "session ")))
        i = skip_blanks(sql, j, len);
    if (!(i = eat_word(sql, i, len, "autocommit")))
        return 0;
    i = skip_blanks(sql, i, len);
    if (i >= len || sql[i] != '=')
        return 0;
    i = skip_blanks(sql, i + 1, len);
    static const char *const values[] = {"0", "1", "on", "off", "true", "false"};
    size_t v = 0;
    for (size_t k = 0; k < sizeof values / sizeof values[0] && !v; k++)
        v = eat_word(sql, i, len, values[k]);
    if (!v || (v < len && ((sql[v] | 0x20) >= 'a' && (sql[v] | 0x20) <= 'z')))
        return 0;
    i = skip_blanks(sql, v, len);
    if (i < len && sql[i] == ';')
        i = skip_blanks(sql, i + 1, len);
    return i == len;
}

static int find_temp(const rwr_session *s, const char *name, size_t len)
{
    for (int i = 0; i < s->ntemp; i++)
        if (strlen(s->temp[i]) == len && strncasecmp(s->temp[i], name, len) == 0)
            return i;
    return -1;
}

void rwr_session_temp_add(rwr_session *s, const char *name)
{
    if (!name[0] || find_temp(s, name, strlen(name)) >= 0)
        return;
    if (s->ntemp == RWR_MAX_TEMP_TABLES) {
        rwr_session_pin(s, "too many temporary tables");
        return;
    }
    char *copy = strdup(name);
    if (!copy) {
        rwr_session_pin(s, "out of memory for temporary tables");
        return;
    }
    s->temp[s->ntemp++] = copy;
}

void rwr_session_temp_drop(rwr_session *s, const char *name)
{
    int i = find_temp(s, name, strlen(name));
    if (i < 0)
        return;
    free(s->temp[i]);
    s->temp[i] = s->temp[--s->ntemp];
}

int rwr_session_is_temp(void *session, const char *name, size_t len)
{
    return find_temp(session, name, len) >= 0;
}

int rwr_session_in_transaction(const rwr_session *s)
{
    return s->in_trx || !s->autocommit || s->ro_trx_on_replica;
}

/* A hint or rule target, when nothing in the session overrides it. */
static rwr_dest route_by_target(const rwr_decision *d, const char **reason)
{
    *reason = d->reason;
    switch (d->target) {
    case RWR_REPLICA:
        return RWR_DEST_REPLICA;
    case RWR_SERVER:
        return RWR_DEST_SERVER;
    case RWR_PREVIOUS:
        return RWR_DEST_PREVIOUS;
    default:
        return RWR_DEST_MASTER;
    }
}

rwr_dest rwr_session_route(rwr_session *s, const rwr_decision *d, const char **reason)
{
    if (s->ro_trx_on_replica) {
        *reason = "read-only transaction on a replica";
        return RWR_DEST_TRX_REPLICA;
    }
    if (d->flags & RWR_F_SESSION) {
        *reason = "session command";
        return RWR_DEST_MASTER;
    }
    if (s->pinned) {
        *reason = s->pin_reason ? s->pin_reason : "session pinned to the master";
        return RWR_DEST_MASTER;
    }
    if (s->locked_tables) {
        *reason = "lock tables";
        return RWR_DEST_MASTER;
    }
    if (s->uservars_on_master && (d->flags & RWR_F_USER_VAR_READ) && d->target != RWR_MASTER) {
        *reason = "user variable set by server-side code";
        return RWR_DEST_MASTER;
    }
    if (rwr_session_in_transaction(s)) {
        if (d->target == RWR_PREVIOUS) {
            *reason = d->reason;
            return RWR_DEST_PREVIOUS;
        }
        *reason = s->autocommit ? "transaction" : "autocommit is off";
        return RWR_DEST_MASTER;
    }
    if (d->flags & RWR_F_TRX_BEGIN_RO) {
        *reason = "START TRANSACTION READ ONLY";
        return RWR_DEST_REPLICA;
    }
    return route_by_target(d, reason);
}

void rwr_session_before(rwr_session *s, const rwr_decision *d, rwr_dest dest)
{
    if (d->flags & RWR_F_LOCK_TABLES)
        s->locked_tables = 1; /* until UNLOCK TABLES, not for the whole session */
    else if (d->flags & RWR_F_PIN_MASTER)
        rwr_session_pin(s, d->reason);
    if (d->flags & RWR_F_UNLOCK_TABLES)
        s->locked_tables = 0;
    /* writes may fire triggers, CALL runs procedures, unknown functions may be stored ones:
     * any of them can assign user variables the replicas never see */
    if (dest == RWR_DEST_MASTER &&
        ((d->flags & RWR_F_WRITE) || !(d->flags & (RWR_F_READ | RWR_F_SESSION))))
        s->uservars_on_master = 1;
    if ((d->flags & RWR_F_USER_VAR_WRITE) && !(d->flags & RWR_F_SESSION))
        rwr_session_pin(s, "user variable assigned in a query");
    if (d->flags & RWR_F_TEMP_CREATE)
        rwr_session_temp_add(s, d->temp_name);
    if (d->flags & RWR_F_TEMP_DROP)
        rwr_session_temp_drop(s, d->temp_name);
    if ((d->flags & RWR_F_TRX_BEGIN_RO) && dest == RWR_DEST_REPLICA)
        s->ro_trx_on_replica = 1;
}

void rwr_session_status(rwr_session *s, uint16_t status, int from_trx_replica)
{
    if (s->ro_trx_on_replica && !from_trx_replica)
        return; /* the replica holds the transaction state until it ends */
    s->in_trx = (status & ST_IN_TRANS) != 0;
    s->autocommit = (status & ST_AUTOCOMMIT) != 0;
    if (from_trx_replica && !s->in_trx)
        s->ro_trx_on_replica = 0;
}
