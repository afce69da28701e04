/*
 * A worker process: after the arbiter forks it, it loads the app, runs one
 * event loop that accepts connections and serves each in a coroutine, and
 * proves it is alive through a heartbeat the arbiter watches.
 */
#ifndef GN_WORKERS_WORKER_H
#define GN_WORKERS_WORKER_H

#include <stddef.h>
#include <stdint.h>
#include <signal.h>
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

/* Exit statuses a worker reports to the arbiter (Gunicorn's). */
#define GN_EXIT_OK 0
#define GN_EXIT_BOOT_ERROR 3 /* the app could not start: stop everything */

struct gn_conn;
struct gn_coro_pool;

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

/* What the arbiter hands a worker it forks (all of it inherited memory). */
struct gn_worker_spec {
    int id, age;
    /* The arbiter's pid, read before the fork: after it, getppid() may
     * already name init if the arbiter died in between. */
    pid_t arbiter;
    const struct gn_config *cfg;
    struct gn_listener *ls;
    size_t nls;
    struct gn_heartbeat *heartbeat;
    struct gn_balance *balance; /* NULL: none */
    int balance_slot;           /* -1: none */
    /* preload_app: the apps the arbiter loaded and inited; NULL: the
     * worker loads CFG's apps itself. */
    const struct gn_apps *preloaded;
};

/* --check-config's trial child, which runs the apps' init and fini as a
 * worker would: give it the green runtime a worker gives init (a loop,
 * coroutines, green threads), so an init that spawns a green thread (a
 * Redis subscription) passes there too; the threads never run. 0, or -1
 * with errno set. */
int gn__worker_trial_begin(const struct gn_config *cfg);

/* ... and before fini: cancel those threads, as a stopping worker does. */
void gn__worker_trial_end(void);

/* Run a worker in the freshly forked child and return its exit status. */
int gn__worker_run(const struct gn_worker_spec *spec);

/* ARGS for hook ID called in worker W: its id, age and pid set. */
void gn__worker_hook_args(const struct gn_worker *w, gn_hook_args_t *args,
                          enum gn_hook_id id);


struct gn_request;

/* Record that REQ's code runs now (NULL: none) for the arbiter's logs. */
void gn__worker_serving(struct gn_worker *w, struct gn_request *req);

/* Called by a connection when it closes, and after each response. */
void gn__worker_conn_closed(struct gn_worker *w);
void gn__worker_request_done(struct gn_worker *w);

#endif /* GN_WORKERS_WORKER_H */
