/*
 * The heartbeat page: shared memory the arbiter maps before it forks each
 * worker, which that worker writes from its event loop and the arbiter
 * reads without locks: the beat the arbiter's watchdog times, whether the
 * worker booted (or why not), what it serves now, its metrics, and the
 * live dump's handshake (`greenicorn ctl dump`).
 */
#ifndef GN_WORKERS_HEARTBEAT_H
#define GN_WORKERS_HEARTBEAT_H

#include <signal.h>
#include <stdint.h>

/* The fixed shape of the metrics on the heartbeat page. */
#define GN_STATS_APPS 16     /* apps counted by name (the rest: not) */
#define GN_STATS_APP_NAME 48 /* bytes of each name, NUL included */
#define GN_STATS_BUCKETS 11  /* request-duration bounds, +Inf besides */

/* The bounds in microseconds, Prometheus's default buckets (5 ms to
 * 10 s), ascending. */
extern const int64_t gn__stats_buckets_us[GN_STATS_BUCKETS];

/* What a worker counts for the operator's tools (metrics, `ctl workers`):
 * written by the worker's loop with plain stores, read by the arbiter
 * without locks, so each field is one aligned word and a reader may see a
 * value one update old, never a torn one. Totals count since the worker
 * started; the arbiter adds a dead worker's to its own. */
struct gn_worker_stats {
    volatile int64_t started_ms; /* monotonic ms the worker booted */
    volatile uint64_t requests;  /* responses finished, stream connections
                                    served (max_requests' count) */
    volatile uint64_t accepted;  /* connections accepted */
    volatile int32_t conns;      /* connections open (at the last tick) */
    volatile int64_t rss_kb;     /* resident set size, sampled each tick */
    /* Below, for `/metrics` (server/metrics.c). Responses by status
     * class: [1] 1xx ... [5] 5xx, [0] any other (499 counts as 4xx). */
    volatile uint64_t status[6];
    /* Responses by app, in the order of app_names (written at boot; ""
     * ends the list); a request no app is mounted for counts in none. */
    volatile uint64_t app_requests[GN_STATS_APPS];
    char app_names[GN_STATS_APPS][GN_STATS_APP_NAME];
    /* Responses whose time (head read to response done) was at most
     * gn__stats_buckets_us[i], not cumulative; the last slot is +Inf. */
    volatile uint64_t duration_bucket[GN_STATS_BUCKETS + 1];
    volatile uint64_t duration_us;  /* their times' sum */
    /* Gauges, published on the tick (not per request): */
    volatile int32_t websockets;    /* WebSockets open */
    volatile int32_t coroutines;    /* coroutines live (connections
                                       being served, green threads) */
    volatile int32_t retire_memory; /* the retire_ms request is for RSS
                                       past max_worker_memory */
};

/* A page the arbiter maps shared before forking each worker: the worker
 * writes it from its event loop, the arbiter reads it. */
struct gn_heartbeat {
    volatile int64_t beat_ms;        /* monotonic ms of the loop's last tick */
    volatile int32_t booted;         /* the app is initialised and accepting */
    volatile int64_t retire_ms;      /* max_requests reached then: replace me */
    volatile int32_t stack_overflow; /* it died overflowing a stack */
    /* "METHOD target" of the request whose code runs now ("" between
     * requests), so a hung or crashed worker's death names it. Written
     * as the loop switches into a request; may be cut short. */
    char serving[160];
    /* Why the worker failed to boot (its app's init, a hook, a socket),
     * written before it exits GN_EXIT_BOOT_ERROR, so the arbiter can say
     * why a reload's new workers never came up. */
    char boot_error[240];
    struct gn_worker_stats stats;
    /* Live introspection (`greenicorn ctl dump`): the arbiter writes a
     * file name to dump_path, bumps dump_asked and sends GN_DUMP_SIGNAL;
     * the worker writes its listing of coroutines to that file (from its
     * loop, or from the signal handler when a handler holds the loop) and
     * then sets dump_done to dump_asked. */
    volatile uint32_t dump_asked, dump_done;
    char dump_path[128];
};

/* Sent to a worker: write a dump of its coroutines (to the heartbeat
 * page's dump_path when the arbiter asked, else to the error log). Linux
 * has no SIGINFO, BSD's status signal; SIGPWR is its alias on the Linux
 * ports that define it, and nothing else here uses it. */
#define GN_DUMP_SIGNAL SIGPWR

#endif /* GN_WORKERS_HEARTBEAT_H */
