/*
 * router/gtid.h — MariaDB GTID positions (domain-server-sequence lists) as read-your-writes
 * needs them: parse what the master reports in last_gtid, merge positions, tell whether a
 * replica known to be at one position has reached another, and format a position for
 * MASTER_GTID_WAIT. Pure functions over a small fixed-size value type.
 */
#ifndef RWR_GTID_H
#define RWR_GTID_H

#include <stddef.h>
#include <stdint.h>

#define RWR_GTID_MAX_DOMAINS 16 /* domains tracked per position; more are ignored */

/* One GTID: the newest transaction of one replication domain. */
typedef struct {
    uint32_t domain;   /* replication domain id */
    uint32_t server;   /* server id that wrote it */
    uint64_t seq;      /* sequence number within the domain */
} rwr_gtid;

/* A position: at most one GTID per domain. */
typedef struct {
    int n;                                /* domains in use */
    rwr_gtid g[RWR_GTID_MAX_DOMAINS];     /* per domain */
} rwr_gtid_pos;

/* Parse "0-1-100" or "0-1-100,1-2-5" (spaces allowed). Returns 0, or -1 if malformed. */
int rwr_gtid_parse(const char *text, size_t len, rwr_gtid_pos *out);
/* Merge src into dst, keeping the higher sequence of each domain. */
void rwr_gtid_merge(rwr_gtid_pos *dst, const rwr_gtid_pos *src);
/* Has a server at position `at` applied everything in `want`? (empty want: yes) */
int rwr_gtid_reached(const rwr_gtid_pos *at, const rwr_gtid_pos *want);
/* Format as "d-s-n,d-s-n" into buf (always terminated). Returns the length. */
size_t rwr_gtid_format(const rwr_gtid_pos *p, char *buf, size_t cap);

#endif
