/*
 * What a worker process holds (struct gn_worker): its listeners, loop,
 * connections and the contexts the layers below serve them with, and the
 * counts it keeps. workers/worker.c owns it; accept.c and dump.c work on
 * it too.
 */
#ifndef GN_WORKERS_STATE_H
#define GN_WORKERS_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"
#include "core/listen.h"
#include "green/loop.h"
#include "http/serve.h"
#include "net/conn.h"
#include "net/stream.h"
#include "plugins/appset.h"
#include "socketio/eio.h"
#include "websocket/ws.h"
#include "workers/heartbeat.h"

struct gn_balance;
struct gn_coro_pool;
struct gn_peer;
struct gn_uring;

struct gn_worker {
    int id;  /* 1..workers, stable across respawns of a slot */
    int age; /* the arbiter's count of forks: unique to this worker */
    pid_t pid, ppid;
    const struct gn_config *cfg;
    struct gn_listener *ls;
    size_t nls;
    struct gn_heartbeat *heartbeat; /* shared with the arbiter */
    /* The arbiter's balance board and our slot on it (workers/balance.h);
     * NULL and -1 without one. */
    struct gn_balance *balance;
    int balance_slot;

    struct gn_loop *loop;
    struct gn_uring *uring; /* io_engine = io_uring: the ring, or NULL */
    struct gn_watch *accept_watch; /* one per listener */
    struct gn_watch signal_watch[5];
    struct gn_watch tick;
    struct gn_coro_pool *coros;
    struct gn_apps apps;
    int preloaded; /* apps came inited from the arbiter */

    struct gn_conns net;     /* the connections, what net/ needs of us */
    struct gn_http_ctx http; /* what http/ needs of us */
    /* Per listener, what a [stream:NAME] one's connections are served
     * with (unused for HTTP listeners). */
    struct gn_stream_ctx *stream_ctx;
    struct gn_watch cancel_timer; /* graceful_timeout nearly over */
    struct gn_watch statsd_watch; /* sends a turn's statsd lines */
    struct gn_ws_settings ws; /* what websocket/ needs of us */
    /* The worker-to-worker channel (net/peer.h): other workers' calls
     * for the sessions we hold. NULL when it could not listen. */
    struct gn_peer *peer;
    struct gn_eio_settings eio; /* what socketio/'s engine needs of us */
    int accepting;
    /* Holding back from the shared listeners so that a worker with fewer
     * connections takes the next (workers/balance.h), looked at again
     * when yield_timer goes off; yield_mark is what the others had
     * accepted at yield_since_us. When they take none for a while we
     * accept regardless until take_until_ms (monotonic) or an empty
     * backlog; 0: not doing so. */
    int yielding;
    uint64_t yield_mark;
    int64_t yield_since_us, take_until_ms;
    struct gn_watch yield_timer;
    uint64_t accepted;      /* connections accepted */
    uint64_t wakeups;       /* times the loop said a listener was ready */
    uint64_t empty_wakeups; /* ... and another worker took the connection */
    uint64_t held_back;     /* times it held back (yielding) */
    uint64_t accept_emfile; /* accepts failed for want of descriptors, this
                               episode (0: not in one) */
    int emfile_this_tick;   /* ... and one failed since the last tick */
    size_t conns_peak;      /* most connections at once since the last trim */
    uint64_t accepted_at_trim; /* `accepted` then */
    int64_t burst_over_ms;  /* since when the burst looks over (0: not) */
    uint64_t nrequests, max_requests; /* max 0: unlimited */
    int64_t retire_asked_ms; /* when we asked the arbiter to replace us */
    char last_request[160];  /* "METHOD target" of the last handler run */
    const char *shown;       /* the label copied there (and to the heartbeat
                                page) last, NULL: none */
};

#endif /* GN_WORKERS_STATE_H */
