/*
 * proxy/mon_events.h — the history of failovers, switchovers and rejoins the monitor keeps
 * for the admin port: each event with its type, start and end, every step (name, when, how
 * long, result) and its outcome, in a bounded ring (the newest RWP_EV_HISTORY). Pure data
 * and functions; the monitor guards the ring with its own mutex. Prefix rwp_ev_.
 */
#ifndef RWP_MON_EVENTS_H
#define RWP_MON_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#define RWP_EV_HISTORY 64    /* events kept */
#define RWP_EV_MAX_STEPS 40  /* steps kept per event (later ones are counted, not kept) */

/* One step of an event. */
typedef struct {
    char name[96];           /* e.g. "lock", "catchup db2", "promote db2", "repoint db3" */
    int64_t at_ms;           /* wall-clock ms when it started */
    int dur_ms;              /* how long it took */
    int ok;                  /* 1 succeeded, 0 failed */
    char result[200];        /* what it found or the error */
} rwp_ev_step;

/* One failover, switchover or rejoin. */
typedef struct {
    uint64_t id;             /* 1, 2, ... in this process */
    char type[16];           /* "failover", "switchover", "rejoin" */
    char from[64];           /* the old master (or the server rejoining) */
    char to[64];             /* the new master (or the master rejoined to), "" if none chosen */
    int64_t start_ms;        /* wall-clock ms when it began */
    int64_t end_ms;          /* wall-clock ms when it ended, 0 while running */
    int ok;                  /* 1 if it succeeded */
    char outcome[256];       /* "promoted db2", "aborted: ...", "diverged: ..." */
    int nsteps;              /* entries used in steps[] */
    int steps_dropped;       /* steps beyond RWP_EV_MAX_STEPS */
    rwp_ev_step steps[RWP_EV_MAX_STEPS]; /* in order */
} rwp_mon_event;

/* The ring of finished events. */
typedef struct {
    rwp_mon_event ev[RWP_EV_HISTORY]; /* slots */
    int head;                /* slot the next event goes to */
    int count;               /* slots used (<= RWP_EV_HISTORY) */
} rwp_ev_ring;

/* Start an event in *e (id given by the caller). */
void rwp_ev_begin(rwp_mon_event *e, uint64_t id, const char *type, const char *from, int64_t now_ms);
/* Add a step to e. */
void rwp_ev_step_add(rwp_mon_event *e, const char *name, int64_t at_ms, int dur_ms, int ok,
                     const char *result);
/* Finish e. */
void rwp_ev_end(rwp_mon_event *e, int ok, const char *outcome, int64_t now_ms);
/* Append a finished event to the ring (the oldest is dropped when full). */
void rwp_ev_push(rwp_ev_ring *r, const rwp_mon_event *e);
/* Copy up to cap events, oldest first, into out; returns how many. */
int rwp_ev_copy(const rwp_ev_ring *r, rwp_mon_event *out, int cap);

#endif
