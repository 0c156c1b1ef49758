/*
 * tests/fuzz/fuzz_classify.c — the router's tokenizer and classifier (router/classify.h,
 * rwr_classify) on arbitrary COM_QUERY text (any bytes, NULs included), and the session
 * policy it feeds (router/session.h) as proxy/session.c drives it.
 * Checks: the input is classified from an exact-size buffer (ASan catches a read past len);
 * the decision is well-formed (reason set, target and hint in range, every string field
 * NUL-terminated inside its array, keyword uppercase); classifying twice gives the same
 * answer; with a session the statement's newline-separated lines are classified with
 * rwr_session_is_temp, routed (rwr_session_route), applied (rwr_session_before), recorded
 * as session commands when they are, and the session's invariants hold.
 * Input: the SQL text.
 */
#include "fuzz_common.h"

#include "router/classify.h"
#include "router/session.h"

static void check_decision(const rwr_decision *d)
{
    FUZZ_CHECK(d->reason != NULL && d->reason[0] != '\0');
    FUZZ_CHECK(d->target >= RWR_MASTER && d->target <= RWR_PREVIOUS);
    FUZZ_CHECK(d->hint >= 0 && d->hint <= 3);
    FUZZ_CHECK(memchr(d->server, 0, sizeof d->server) != NULL);
    FUZZ_CHECK(memchr(d->db, 0, sizeof d->db) != NULL);
    FUZZ_CHECK(memchr(d->temp_name, 0, sizeof d->temp_name) != NULL);
    FUZZ_CHECK(memchr(d->keyword, 0, sizeof d->keyword) != NULL);
    FUZZ_CHECK((d->flags >> 25) == 0);
    if (d->target == RWR_SERVER)
        FUZZ_CHECK(d->server[0] != '\0');
    (void)strlen(d->reason);
}

static int same_decision(const rwr_decision *a, const rwr_decision *b)
{
    return a->target == b->target && a->flags == b->flags && a->hint == b->hint &&
           strcmp(a->reason, b->reason) == 0 && strcmp(a->server, b->server) == 0 &&
           strcmp(a->db, b->db) == 0 && strcmp(a->temp_name, b->temp_name) == 0 &&
           strcmp(a->keyword, b->keyword) == 0 && a->kill_id == b->kill_id &&
           a->kill_query == b->kill_query;
}

static void run_session(const uint8_t *data, size_t size)
{
    rwr_session s;
    rwr_session_init(&s);
    size_t off = 0;
    uint16_t status = 0x0002; /* autocommit */
    while (off <= size) {
        const uint8_t *nl = memchr(data + off, '\n', size - off);
        size_t end = nl ? (size_t)(nl - data) : size;
        size_t n = end - off;
        char *sql = malloc(n ? n : 1);
        memcpy(sql, data + off, n);
        rwr_decision d;
        rwr_classify(sql, n, rwr_session_is_temp, &s, &d);
        check_decision(&d);
        const char *reason = NULL;
        rwr_dest dest = rwr_session_route(&s, &d, &reason);
        FUZZ_CHECK(reason != NULL);
        FUZZ_CHECK(dest >= RWR_DEST_MASTER && dest <= RWR_DEST_PREVIOUS);
        rwr_session_before(&s, &d, dest);
        if (d.flags & RWR_F_SESSION) {
            uint8_t *pkt = malloc(n + 5);
            pkt[0] = (uint8_t)((n + 1) & 0xff);
            pkt[1] = (uint8_t)(((n + 1) >> 8) & 0xff);
            pkt[2] = (uint8_t)(((n + 1) >> 16) & 0xff);
            pkt[3] = 0;
            pkt[4] = 0x03; /* COM_QUERY */
            memcpy(pkt + 5, sql, n);
            (void)rwr_session_record(&s, pkt, n + 5);
            free(pkt);
        }
        /* the server's answer: follow what the statement does to the transaction state */
        if (d.flags & (RWR_F_TRX_BEGIN | RWR_F_TRX_BEGIN_RO))
            status |= 0x0001;
        if (d.flags & RWR_F_TRX_END)
            status &= (uint16_t)~0x0001;
        if (d.flags & RWR_F_AUTOCOMMIT_OFF)
            status &= (uint16_t)~0x0002;
        if (d.flags & RWR_F_AUTOCOMMIT_ON)
            status |= 0x0002;
        rwr_session_status(&s, status, dest == RWR_DEST_TRX_REPLICA);
        FUZZ_CHECK(s.ntemp >= 0 && s.ntemp <= RWR_MAX_TEMP_TABLES);
        FUZZ_CHECK(s.nhist <= RWR_HISTORY_MAX_ENTRIES && s.hist_bytes <= RWR_HISTORY_MAX_BYTES);
        for (int i = 0; i < s.ntemp; i++)
            FUZZ_CHECK(s.temp[i] != NULL && strlen(s.temp[i]) < sizeof d.temp_name);
        if ((d.flags & RWR_F_TEMP_CREATE) && !(d.flags & RWR_F_TEMP_DROP) && d.temp_name[0] &&
            s.ntemp < RWR_MAX_TEMP_TABLES)
            FUZZ_CHECK(rwr_session_is_temp(&s, d.temp_name, strlen(d.temp_name)));
        free(sql);
        if (d.flags & RWR_F_USE_DB && (off & 7) == 0)
            rwr_session_reset(&s); /* now and then a COM_RESET_CONNECTION */
        if (!nl)
            break;
        off = end + 1;
    }
    rwr_session_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* pure: the whole text, no temp-table knowledge */
    rwr_decision a, b;
    rwr_classify((const char *)data, size, NULL, NULL, &a);
    check_decision(&a);
    rwr_classify((const char *)data, size, NULL, NULL, &b);
    FUZZ_CHECK(same_decision(&a, &b));
    if (size == 0)
        FUZZ_CHECK(a.keyword[0] == '\0');
    for (const char *k = a.keyword; *k; k++)
        FUZZ_CHECK(!(*k >= 'a' && *k <= 'z'));
    run_session(data, size);
    return 0;
}
