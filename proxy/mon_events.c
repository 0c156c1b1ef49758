/*
 * proxy/mon_events.c — the bounded history of monitor events (see mon_events.h).
 */
#include "proxy/mon_events.h"

#include <stdio.h>
#include <string.h>

void rwp_ev_begin(rwp_mon_event *e, uint64_t id, const char *type, const char *from, int64_t now_ms)
{
    memset(e, 0, sizeof *e);
    e->id = id;
    snprintf(e->type, sizeof e->type, "%s", type);
    snprintf(e->from, sizeof e->from, "%s", from ? from : "");
    e->start_ms = now_ms;
}

void rwp_ev_step_add(rwp_mon_event *e, const char *name, int64_t at_ms, int dur_ms, int ok,
                     const char *result)
{
    if (e->nsteps >= RWP_EV_MAX_STEPS) {
        e->steps_dropped++;
        return;
    }
    rwp_ev_step *s = &e->steps[e->nsteps++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->at_ms = at_ms;
    s->dur_ms = dur_ms;
    s->ok = ok;
    snprintf(s->result, sizeof s->result, "%s", result ? result : "");
}

void rwp_ev_end(rwp_mon_event *e, int ok, const char *outcome, int64_t now_ms)
{
    e->ok = ok;
    e->end_ms = now_ms;
    snprintf(e->outcome, sizeof e->outcome, "%s", outcome ? outcome : "");
}

void rwp_ev_push(rwp_ev_ring *r, const rwp_mon_event *e)
{
    r->ev[r->head] = *e;
    r->head = (r->head + 1) % RWP_EV_HISTORY;
    if (r->count < RWP_EV_HISTORY)
        r->count++;
}

int rwp_ev_copy(const rwp_ev_ring *r, rwp_mon_event *out, int cap)
{
    int n = r->count < cap ? r->count : cap;
    int first = (r->head - n + RWP_EV_HISTORY) % RWP_EV_HISTORY;
    for (int i = 0; i < n; i++)
        out[i] = r->ev[(first + i) % RWP_EV_HISTORY];
    return n;
}
