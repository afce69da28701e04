/*
 * The Prometheus metrics the arbiter serves at metrics_bind's /metrics:
 * rendered from the counters each worker publishes on its heartbeat page
 * (struct gn_worker_stats), plus the totals of the workers that are gone,
 * so that a counter never goes down when a worker is replaced, plus what
 * the arbiter knows itself (workers, restarts by reason, the listening
 * sockets' accept queues).
 */
#ifndef GN_SERVER_METRICS_H
#define GN_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/listen.h"
#include "workers/heartbeat.h"

/* Why a worker was replaced, as greenicorn_worker_restarts_total's reason
 * label says. */
enum gn_restart {
    GN_RESTART_WATCHDOG,     /* silent past timeout: aborted */
    GN_RESTART_CRASH,        /* died on a signal or a failing status */
    GN_RESTART_MAX_REQUESTS, /* max_requests reached */
    GN_RESTART_MEMORY,       /* RSS past max_worker_memory */
    GN_RESTART_COUNT
};

#define GN_METRICS_APPS 64 /* app names the totals keep */

/* The counters of the workers that are gone. */
struct gn_metrics_totals {
    uint64_t requests, accepted;
    uint64_t status[6];
    uint64_t duration_bucket[GN_STATS_BUCKETS + 1];
    uint64_t duration_us;
    struct {
        char name[GN_STATS_APP_NAME];
        uint64_t n;
    } apps[GN_METRICS_APPS];
    size_t napps;
    uint64_t restarts[GN_RESTART_COUNT];
};

/* A worker alive now. */
struct gn_metrics_worker {
    int id;
    pid_t pid;
    const struct gn_heartbeat *hb;
};

/* Add the counters of ST (a worker that ended) to T. */
void gn__metrics_add(struct gn_metrics_totals *t,
                     const struct gn_worker_stats *st);

/* The text exposition (format 0.0.4) of T, the NW workers W, WORKERS (the
 * number wanted and up) and the accept queues of the NLS listeners LS: a
 * malloc'd string the caller frees, its length in *LEN, or NULL. */
char *gn__metrics_render(const struct gn_metrics_totals *t,
                         const struct gn_metrics_worker *w, size_t nw,
                         int workers, const struct gn_listener *ls, size_t nls,
                         size_t *len);

#endif /* GN_SERVER_METRICS_H */
