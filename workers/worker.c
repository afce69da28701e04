/*
 * A worker process. It inherits the listening sockets, loads and
 * initialises the app, then runs its event loop: accepting connections (up
 * to worker_connections), beating its heartbeat, and answering signals the
 * way a Gunicorn worker does: TERM stops gracefully (stop accepting, finish
 * in-flight requests, close idle connections, exit), INT and QUIT stop at
 * once, USR1 reopens the logs.
 */
#include "workers/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/privileges.h"
#include "core/proctitle.h"
#include "core/statsd.h"
#include "green/coro.h"
#include "green/dns.h"
#include "green/park.h"
#include "green/sync.h"
#include "green/sys.h"
#include "green/threadpool.h"
#include "http/relay.h"
#include "http/request.h"
#include "http/response.h"
#include "http/serve.h"
#include "net/conn.h"
#include "net/peer.h"
#include "net/uring.h"
#include "patch/patch.h"
#include "patch/ssl.h"
#include "plugins/hooks.h"
#include "websocket/ws.h"
#include "workers/accept.h"
#include "workers/affinity.h"
#include "workers/balance.h"
#include "workers/dump.h"
#include "workers/state.h"
#include "socketio/relay.h"

/* How long a worker past max_requests waits for the arbiter's TERM. */
#define RETIRE_WAIT_MS 30000

/* A stopping worker cancels what its connections still wait for this long
 * before graceful_timeout ends (a quarter of it when that is shorter): the
 * handlers see -ECANCELED, return, and the worker exits before the
 * arbiter's SIGKILL at graceful_timeout. One second is many turns of the
 * loop even on a loaded machine; what a handler does on -ECANCELED (a last
 * write, a log line) must fit in it. */
#define CANCEL_MARGIN_MS 1000

/* How long an exiting worker waits for functions still running on its
 * thread pool (their callers were cancelled and are gone): a quarter of
 * the cancel margin above at most, so a stuck one never holds the exit
 * until the arbiter's SIGKILL (under ASan, 500 ms left too little of a
 * 750 ms margin for the exit itself). */
#define POOL_STOP_MS 250

/* Released coroutines kept for reuse (their stacks stay mapped): as many
 * as connections may be served at once, so a worker at its peak
 * concurrency reuses stacks instead of mapping and unmapping one per
 * request. Measured with 5,000 connections in 100 ms sleeps: a pool of
 * 256 served 33-35 k requests/s at 28-30 us of CPU each, this one 44-46 k
 * at 14-15 us. The stacks' touched pages stay resident after a burst; an
 * idle connection itself holds none. */
static size_t pool_idle(const struct gn_config *cfg)
{
    return (size_t)cfg->worker_connections;
}

/* REQ's label, made once (in its arena): "METHOD target", cut to what the
 * heartbeat page holds. */
static void make_label(struct gn_request *req)
{
    char *label = req->label;
    size_t room = sizeof(req->label), n, m;

    _Static_assert(sizeof(req->label) <=
                       sizeof(((struct gn_heartbeat *)0)->serving),
                   "the label must fit the heartbeat page");
    /* memcpy, not snprintf: this runs for every request. */
    n = strnlen(req->method, room - 2);
    memcpy(label, req->method, n);
    label[n++] = ' ';
    m = strnlen(req->target, room - 1 - n);
    memcpy(label + n, req->target, m);
    label[n + m] = '\0';
    req->label_len = n + m;
}

/* LABEL (LEN bytes, NULL: none) is the code that runs now. */
static void serving(struct gn_worker *w, const char *label, size_t len)
{
    char *out;

    w->shown = label;
    /* last_request is for max_blocking_ms' warning only. */
    if (label != NULL && w->cfg->max_blocking_ms > 0) {
        memcpy(w->last_request, label, len);
        w->last_request[len] = '\0';
    }
    if (w->heartbeat == NULL)
        return;
    /* The arbiter reads it only once we are dead or stuck. */
    out = w->heartbeat->serving;
    if (len)
        memcpy(out, label, len);
    out[len] = '\0';
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void gn__worker_serving(struct gn_worker *w, struct gn_request *req)
{
    /* Called each time a request's code resumes: two short copies, but
     * none when it is the label copied last (a WebSocket's handler resumed
     * for its next message, nothing else having run since). A label, once
     * made, does not change; a new request's is made before it shows. */
    if (req != NULL && req->label_len == 0)
        make_label(req);
    else if (req != NULL && req->label == w->shown)
        return;
    serving(w, req ? req->label : NULL, req ? req->label_len : 0);
}

/* A green wait resumed a request's coroutine: it is the one running. */
static void on_resume(struct gn_coro *co)
{
    struct gn_conn *c = gn__coro_data(co);

    if (c != NULL && c->res != NULL)
        gn__worker_serving(c->set->owner, c->res->req);
    else if (c != NULL && c->proto == &gn__stream_proto)
        serving(c->set->owner, ((const struct gn_stream_ctx *)c->ctx)->label,
                ((const struct gn_stream_ctx *)c->ctx)->label_len);
}

static void stream_serving(void *owner, const char *label, size_t len)
{
    serving(owner, label, len);
}

/* A connection's coroutine is about to wait: the answers it held back
 * for pipelined requests must not wait with it. */
static void on_park(struct gn_coro *co)
{
    struct gn_conn *c = gn__coro_data(co);

    if (c != NULL)
        gn__conn_push(c);
}

/* gevent's max_blocking_time: name the request whose code kept the loop
 * (and every other connection of the worker) waiting. */
static struct gn_worker *watched;

static void blocked_too_long(struct gn_coro *co, int64_t us)
{
    /* The watchdog's backtrace, taken while the run still went on. */
    const char *stack = gn__dump_blocked_backtrace();

    (void)co;
    /* The run that blocked started the last handler, or continued it. */
    gn_log_warn("worker %d (pid %d): \"%s\" held the event loop for %lld "
                "ms without yielding (max_blocking_ms = %d)%s%s",
                watched->id, (int)watched->pid,
                watched->last_request[0] ? watched->last_request
                                         : "connection code",
                (long long)(us / 1000), watched->cfg->max_blocking_ms,
                stack[0] ? "\n" : "", stack);
}

static void beat(struct gn_worker *w)
{
    if (w->heartbeat)
        w->heartbeat->beat_ms = gn__monotonic_ms();
}

/* The resident set size in KiB from /proc/self/statm (its second field,
 * in pages), or -1. One open and read a second: cheap beside the tick. */
static int64_t rss_kb(void)
{
    char buf[128];
    long pages, resident;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    if (sscanf(buf, "%ld %ld", &pages, &resident) != 2)
        return -1;
    return (int64_t)resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Publish the gauges the arbiter's tools read (see gn_worker_stats), on
 * the tick: they lag by a tick at most. The counters are stored as they
 * change (requests, accepted), exact whenever the arbiter reads them: it
 * adds a dead worker's to its totals. */
static void publish_stats(struct gn_worker *w)
{
    struct gn_worker_stats *st;

    if (w->heartbeat == NULL)
        return;
    st = &w->heartbeat->stats;
    st->requests = w->nrequests;
    st->accepted = w->accepted;
    st->conns = (int32_t)w->net.n;
    st->websockets = (int32_t)gn__ws_open();
    st->coroutines = w->coros ? (int32_t)gn__coro_pool_live(w->coros) : 0;
}

/* ---- metrics ---------------------------------------------------------- */

const int64_t gn__stats_buckets_us[GN_STATS_BUCKETS] = {
    5000,   10000,   25000,   50000,   100000,  250000,
    500000, 1000000, 2500000, 5000000, 10000000};

/* The apps' names on the heartbeat page, in the order their counters
 * use (the apps' own: longest mount first). */
static void publish_app_names(struct gn_worker *w)
{
    struct gn_worker_stats *st;

    if (w->heartbeat == NULL)
        return;
    st = &w->heartbeat->stats;
    for (size_t i = 0; i < w->apps.n && i < GN_STATS_APPS; i++)
        snprintf(st->app_names[i], sizeof(st->app_names[i]), "%.*s",
                 (int)sizeof(st->app_names[i]) - 1, w->apps.v[i].name);
}

/* The statsd lines of a turn of the loop go out together, at its end. */
static void statsd_flush(int fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    gn__statsd_flush();
}

static void statsd_request(struct gn_worker *w, int status, int64_t us)
{
    char name[32];

    gn__statsd_count("requests", 1);
    gn__statsd_timing("request.duration", (double)us / 1000.0);
    snprintf(name, sizeof(name), "request.status.%d", status);
    gn__statsd_count(name, 1);
    if (!gn__watch_active(&w->statsd_watch))
        gn__watch_start(&w->statsd_watch, w->loop, -1, 0, 0, statsd_flush, w);
}

/* A response went out: count it for /metrics and statsd. */
static void http_served(void *owner, int status, int64_t us, const char *app)
{
    struct gn_worker *w = owner;
    struct gn_worker_stats *st;
    size_t b = 0;

    if (gn__statsd_enabled())
        statsd_request(w, status, us);
    if (w->heartbeat == NULL)
        return;
    st = &w->heartbeat->stats;
    st->status[status >= 100 && status < 600 ? status / 100 : 0]++;
    while (b < GN_STATS_BUCKETS && us > gn__stats_buckets_us[b])
        b++;
    st->duration_bucket[b]++;
    st->duration_us += (uint64_t)(us > 0 ? us : 0);
    for (size_t i = 0; app && i < w->apps.n && i < GN_STATS_APPS; i++)
        if (w->apps.v[i].name == app) {
            st->app_requests[i]++;
            break;
        }
}

/* ---- stopping --------------------------------------------------------- */

static void stop_peer_listening(struct gn_worker *w);

/* Stopping ends the loop once the last connection closed and the green
 * threads of the worker's own (killed when it began) have returned. */
static void maybe_exit(struct gn_worker *w)
{
    if (w->net.stopping && w->net.n == 0 && gn__threads_live() == 0 &&
        (w->peer == NULL || gn__peer_busy(w->peer) == 0))
        gn__loop_break(w->loop);
}

/* graceful_timeout is nearly over: every green call of a connection
 * still being served returns -ECANCELED from now on (the one it is
 * parked in too), so its handler returns while we can still exit. */
static void cancel_busy(int fd, short what, void *arg)
{
    struct gn_worker *w = arg;
    size_t n = 0;

    (void)fd;
    (void)what;
    for (struct gn_conn *c = w->net.list; c != NULL; c = c->next) {
        if (c->coro == NULL)
            continue;
        gn__green_cancel(c->coro, -ECANCELED);
        n++;
    }
    if (w->peer != NULL) {
        n += gn__peer_busy(w->peer);
        gn__peer_stop(w->peer); /* and cancel the calls it serves */
    }
    if (n > 0)
        gn_log_warn("worker %d (pid %d): graceful_timeout (%d s) nearly "
                    "over: cancelling %zu connection%s still being served",
                    w->id, (int)w->pid, w->cfg->graceful_timeout, n,
                    n == 1 ? "" : "s");
}

static void arm_cancel(struct gn_worker *w)
{
    int64_t graceful = w->cfg->graceful_timeout * 1000LL;
    int64_t margin =
        graceful / 4 < CANCEL_MARGIN_MS ? graceful / 4 : CANCEL_MARGIN_MS;

    if (gn__watch_start(&w->cancel_timer, w->loop, -1, 0, graceful - margin,
                        cancel_busy, w) != 0)
        gn_log_error("worker %d (pid %d): cannot arm the graceful_timeout "
                     "timer",
                     w->id, (int)w->pid);
}

static void stop_gracefully(struct gn_worker *w, const char *why)
{
    struct gn_conn *c, *next;

    if (w->net.stopping)
        return;
    gn_log_info("worker %d (pid %d) stopping: %s", w->id, (int)w->pid, why);
    w->net.stopping = 1;
    gn__accept_stop(w);
    /* Engine.IO sessions end untold, so that their clients reconnect (a
     * pending GET answers 400 "Session ID unknown", a WebSocket gets its
     * 1001): see gn__eio_shutdown. */
    gn__eio_shutdown();
    /* Close our copies so new connections are refused, not accepted into
     * a backlog nobody reads (the arbiter closes its own). A socket of our
     * own (reuse_port) holds connections no other worker can take: accept
     * them first, they are served with Connection: close. */
    for (size_t i = 0; i < w->nls; i++) {
        if (w->ls[i].per_worker)
            gn__accept_pending(w, w->ls[i].fd);
        gn__sys_close(w->ls[i].fd);
        w->ls[i].fd = -1;
    }
    for (c = w->net.list; c != NULL; c = next) {
        next = c->next;
        gn__conn_shutdown(c);
    }
    /* Other workers' calls for our sessions now find no one (the sessions
     * end with us): their clients are told the session is unknown and
     * reconnect. Calls being served finish, as requests do. */
    stop_peer_listening(w);
    arm_cancel(w);
    gn__threads_stop();
    maybe_exit(w);
}

void gn__worker_conn_closed(struct gn_worker *w)
{
    gn__balance_set_counts(w->balance, w->balance_slot, w->net.n, w->accepted);
    maybe_exit(w);
    gn__accept_resume(w);
}

static void update_serve_more(struct gn_worker *w);

static int owns_a_socket(const struct gn_worker *w)
{
    for (size_t i = 0; i < w->nls; i++)
        if (w->ls[i].per_worker)
            return 1;
    return 0;
}

/* max_requests reached, or max_worker_memory (MEMORY): ask the arbiter to
 * start our replacement; it sends TERM once that one is up, one worker at a
 * time, so recycling never takes capacity away. Meanwhile every response
 * closes its connection. */
static void ask_to_retire(struct gn_worker *w, int memory)
{
    if (w->retire_asked_ms != 0)
        return;
    w->retire_asked_ms = gn__monotonic_ms();
    if (w->heartbeat == NULL) {
        stop_gracefully(w, memory ? "max_worker_memory reached"
                                  : "max_requests reached");
        return;
    }
    if (memory)
        gn_log_info("worker %d (pid %d) uses %.1f MiB of memory (RSS), past "
                    "max_worker_memory (%d MiB): waiting for its replacement",
                    w->id, (int)w->pid,
                    (double)w->heartbeat->stats.rss_kb / 1024,
                    w->cfg->max_worker_memory);
    else
        gn_log_info("worker %d (pid %d) reached max_requests (%llu): waiting "
                    "for its replacement",
                    w->id, (int)w->pid, (unsigned long long)w->max_requests);
    w->heartbeat->stats.retire_memory = memory;
    w->heartbeat->retire_ms = w->retire_asked_ms;
    update_serve_more(w); /* keep-alive clients move to the others */
    /* Wake the arbiter now rather than at its next tick: SIGCHLD only
     * makes it look at its workers. */
    kill(w->ppid, SIGCHLD);
    /* Leave new connections to the other workers (a socket of our own has
     * no one else to take them: keep accepting there). */
    if (!owns_a_socket(w))
        gn__accept_stop(w);
}

/* Whether a request after the current one may be served, for http/. */
static void update_serve_more(struct gn_worker *w)
{
    w->http.serve_more =
        !w->retire_asked_ms &&
        !(w->max_requests && w->nrequests + 1 >= w->max_requests);
}

void gn__worker_request_done(struct gn_worker *w)
{
    w->nrequests++;
    if (w->heartbeat != NULL)
        w->heartbeat->stats.requests = w->nrequests;
    update_serve_more(w);
    if (w->max_requests && w->nrequests >= w->max_requests)
        ask_to_retire(w, 0);
}

/* ---- memory ----------------------------------------------------------- */

#define IDLE_CORO_KEEP 64          /* idle coroutine stacks kept past a burst */
/* The top of a preallocated stack touched at boot: a request's frames
 * (the parser, the request, the handler's printf) reach about 5 KiB. */
#define PREALLOC_TOUCH (8 * 1024)
#define HEAP_TRIM_MIN (256 * 1024) /* free heap bytes worth a malloc_trim */
#define BURST_OVER_MS 2000 /* how long a burst must stay over to be trimmed */

/* Whether the last burst looks over: the connections fell to under half
 * their peak, or to none after some were accepted. */
static int burst_over(const struct gn_worker *w)
{
    return w->conns_peak >= 2 * w->net.n + 16 ||
           (w->net.n == 0 && w->accepted != w->accepted_at_trim);
}

/* From the tick: once a burst has been over for BURST_OVER_MS, give back
 * what it left: the stacks of idle coroutines beyond what is in use and a
 * few, the read buffers and responses kept for reuse, and the free pages
 * glibc keeps in its heap (its mmap threshold rises with large frees, so
 * 1 MB bodies end up there). A steady load never triggers it, nor does a
 * client that closes its connections and opens as many again at once (a
 * benchmark's warm-up, then its run): every stack given back is a mapping
 * and page faults the next burst pays again (tens of microseconds each on
 * a virtual machine). */
static void release_memory(struct gn_worker *w)
{
    size_t keep = w->net.n > IDLE_CORO_KEEP ? w->net.n : IDLE_CORO_KEEP;
    size_t spares = IDLE_CORO_KEEP;
    int64_t now = gn__monotonic_ms();

    /* What stack_prealloc made at boot stays for the next burst. */
    if (keep < (size_t)w->cfg->stack_prealloc)
        keep = (size_t)w->cfg->stack_prealloc;
    if (spares < (size_t)w->cfg->stack_prealloc)
        spares = (size_t)w->cfg->stack_prealloc;

    if (!burst_over(w)) {
        w->burst_over_ms = 0;
        return;
    }
    if (w->burst_over_ms == 0)
        w->burst_over_ms = now;
    if (now - w->burst_over_ms < BURST_OVER_MS)
        return;
    w->burst_over_ms = 0;
    w->conns_peak = w->net.n;
    w->accepted_at_trim = w->accepted;
    gn__coro_pool_trim(w->coros, keep);
    gn__conn_trim_spares(&w->net, spares);
    gn__http_trim_spares(spares);
#ifdef __GLIBC__
    if (mallinfo2().fordblks >= HEAP_TRIM_MIN)
        malloc_trim(0);
#endif
}

/* ---- signals and the heartbeat ---------------------------------------- */

void gn__worker_hook_args(const struct gn_worker *w, gn_hook_args_t *args,
                          enum gn_hook_id id)
{
    gn__hook_args_init(args, id);
    args->worker_id = w->id;
    args->worker_age = w->age;
    args->worker_pid = w->pid;
}

/* Hook ID with W's fields and STATUS (worker_exit's). */
static int run_hook(const struct gn_worker *w, enum gn_hook_id id, int status)
{
    gn_hook_args_t args;

    if (!gn__hook_configured(id))
        return 0;
    gn__worker_hook_args(w, &args, id);
    args.status = status;
    return gn__hook_call(id, &args);
}

/* A coroutine that overflows its stack faults in the guard below it. The
 * handler (on an alternate stack: the faulting one is full) notes it on
 * the heartbeat page for the arbiter's log, then lets the fault kill us
 * as before (or reach whoever handled SIGSEGV before us, ASan say). */
static struct sigaction segv_before;
static volatile struct gn_heartbeat *segv_page;

static void on_segv(int signo, siginfo_t *info, void *uctx)
{
    if (segv_page != NULL &&
        gn__coro_overflowed(gn__coro_current(), info->si_addr))
        segv_page->stack_overflow = 1;
    sigaction(SIGSEGV, &segv_before, NULL);
    /* Returning re-runs a faulting instruction: it faults again, now with
     * the previous disposition. A SIGSEGV sent (kill, raise) is sent again,
     * delivered when we return. */
    if (info->si_code <= 0)
        raise(signo);
}

static void catch_overflow(struct gn_worker *w)
{
    static char alt[64 * 1024];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof(alt)};
    struct sigaction sa = {.sa_sigaction = on_segv,
                           .sa_flags = SA_SIGINFO | SA_ONSTACK};

    if (w->heartbeat == NULL || sigaltstack(&ss, NULL) != 0)
        return;
    segv_page = w->heartbeat;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &segv_before);
}

/* worker_abort: the arbiter's watchdog sends SIGABRT to a worker stuck in
 * code that does not yield, so the hook runs in the signal handler (the
 * loop is not turning); then the signal kills us as it would have, and
 * the arbiter logs it. */
static gn_hook_args_t abort_args;

static void on_abort(int signo)
{
    gn__hook_call(GN_HOOK_WORKER_ABORT, &abort_args);
    signal(SIGABRT, SIG_DFL);
    raise(SIGABRT);
}

static void catch_abort(const struct gn_worker *w)
{
    struct sigaction sa = {.sa_handler = on_abort};

    if (!gn__hook_configured(GN_HOOK_WORKER_ABORT))
        return;
    gn__worker_hook_args(w, &abort_args, GN_HOOK_WORKER_ABORT);
    sigemptyset(&sa.sa_mask);
    sigaction(SIGABRT, &sa, NULL);
}

static void on_signal(int signo, short what, void *arg)
{
    struct gn_worker *w = arg;

    switch (signo) {
    case SIGTERM: stop_gracefully(w, "SIGTERM"); break;
    case SIGINT:
    case SIGQUIT:
        gn_log_info("worker %d (pid %d) exiting at once on %s", w->id,
                    (int)w->pid, signo == SIGINT ? "SIGINT" : "SIGQUIT");
        run_hook(w, GN_HOOK_WORKER_INT, 0);
        run_hook(w, GN_HOOK_WORKER_EXIT, 0);
        _exit(GN_EXIT_OK);
    case SIGUSR1: gn__log_reopen(); break;
    default: /* SIGWINCH: only the arbiter acts on it */ break;
    }
}

/* Sample the RSS for the arbiter; past max_worker_memory, be replaced.
 * The RSS is sampled once a tick: a worker may pass the limit by what it
 * allocates in one second. */
static void check_memory(struct gn_worker *w)
{
    int64_t kb = rss_kb();

    if (w->heartbeat == NULL)
        return;
    w->heartbeat->stats.rss_kb = kb;
    if (w->cfg->max_worker_memory > 0 &&
        kb > (int64_t)w->cfg->max_worker_memory * 1024)
        ask_to_retire(w, 1);
}

static void on_tick(int fd, short what, void *arg)
{
    struct gn_worker *w = arg;

    beat(w);
    publish_stats(w);
    check_memory(w);
    gn__statsd_flush(); /* what the logs counted since the last */
    gn__log_report_lost(0); /* access lines a full disk refused */
    gn__accept_check_starved(w);
    release_memory(w);
    if (getppid() != w->ppid)
        stop_gracefully(w, "the arbiter is gone");
    maybe_exit(w); /* the worker's own green threads may be done now */
    /* An arbiter that never answers (an old binary) must not keep us. */
    if (w->retire_asked_ms &&
        gn__monotonic_ms() - w->retire_asked_ms > RETIRE_WAIT_MS)
        stop_gracefully(w, w->heartbeat && w->heartbeat->stats.retire_memory
                               ? "max_worker_memory reached"
                               : "max_requests reached");
    gn__accept_resume(w);
}

static int tick_interval_ms(const struct gn_config *cfg)
{
    /* Beat at least four times per timeout so a busy-but-alive worker is
     * never mistaken for a hung one. */
    if (cfg->timeout > 0 && cfg->timeout * 250 < 1000)
        return cfg->timeout * 250;
    return 1000;
}

static int watch_signals(struct gn_worker *w)
{
    static const int signals[] = {SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGWINCH};
    int rc = 0;

    for (size_t i = 0; i < 5 && rc == 0; i++)
        rc = gn__watch_signal(&w->signal_watch[i], w->loop, signals[i],
                              on_signal, w);
    return rc ? rc
              : gn__watch_start(&w->tick, w->loop, -1, GN_WATCH_PERSIST,
                                tick_interval_ms(w->cfg), on_tick, w);
}

/* The arbiter's dispositions and mask are not ours. */
static void reset_signals(void)
{
    static const int reset[] = {SIGHUP,  SIGCHLD, SIGTTIN, SIGTTOU, SIGUSR2,
                                SIGTERM, SIGINT,  SIGQUIT, SIGUSR1, SIGWINCH};
    sigset_t none;

    for (size_t i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
        signal(reset[i], SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    /* Until gn__dump_watch answers it: its default action would end a
     * booting worker that a `ctl dump` reached early. */
    signal(GN_DUMP_SIGNAL, SIG_IGN);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* ---- running ---------------------------------------------------------- */

/* io_engine = io_uring: the ring plain TCP HTTP connections use, or epoll
 * when the kernel refuses it (said once per process). */
static void start_uring(struct gn_worker *w)
{
    static int said, said_batch;
    const char *fallback;
    int rc;

    if (w->cfg->io_engine != GN_IO_URING)
        return;
    rc = gn__uring_new(w->loop, &w->uring, &fallback);
    if (rc != 0 && !said++)
        gn_log_warn("io_engine = io_uring: %s; using epoll",
                    rc == -ENOSYS ? "not built with liburing" : strerror(-rc));
    if (rc == 0 && fallback != NULL && !said++)
        gn_log_warn("io_engine = io_uring: the kernel refused the ring's "
                    "best setup; using %s",
                    fallback);
    if (rc == 0 &&
        gn__uring_set_batch_wait(w->uring,
                                 (unsigned)w->cfg->io_uring_batch_wait) != 0 &&
        !said_batch++)
        gn_log_warn("io_uring_batch_wait = %d: this kernel's ring cannot "
                    "wait for a batch (Linux 6.17 or later, whose ring the "
                    "worker sleeps in); each wait returns with its first "
                    "completion",
                    w->cfg->io_uring_batch_wait);
}

/* stack_prealloc: what N requests at once need, made and touched before
 * the first is accepted, so that a burst on a fresh worker allocates
 * nothing and takes no page fault (each costs microseconds, tens of them
 * on a virtual machine): N coroutine stacks (their top PREALLOC_TOUCH
 * bytes), read buffers, responses and the ring's copies of their answers.
 * What cannot be made (out of memory) is made later, as without it. */
static void prefill(struct gn_worker *w)
{
    size_t n = (size_t)w->cfg->stack_prealloc;

    if (n == 0)
        return;
    gn__coro_pool_prefill(w->coros, n, PREALLOC_TOUCH);
    gn__conn_prefill_spares(&w->net, n);
    gn__http_prefill_spares(n);
    if (w->uring != NULL)
        gn__uring_prefill(w->uring, n);
}

/* The loop, the coroutine pool, and what waits on them. 0, or -1 with
 * errno set. */
static int start_loop(struct gn_worker *w)
{
    w->loop = gn__loop_new();
    w->coros =
        gn__coro_pool_new((size_t)w->cfg->stack_size * 1024, pool_idle(w->cfg));
    if (w->loop == NULL || w->coros == NULL || gn__accept_init(w) != 0 ||
        watch_signals(w) != 0 || gn__dump_watch(w) != 0)
        return -1;
    w->net.loop = w->loop;
    w->net.coros = w->coros;
    start_uring(w);
    prefill(w);
    gn__green_init(w->loop, on_resume);
    gn__green_on_park(on_park);
    gn__threads_init(w->coros);
    gn__dns_configure(w->cfg->resolv_conf);
    gn__threadpool_setup(w->cfg->threadpool_size, w->cfg->threadpool_queue);
    if (w->cfg->max_blocking_ms > 0) {
        watched = w;
        gn__coro_pool_watch(w->coros, w->cfg->max_blocking_ms * 1000LL,
                            blocked_too_long);
    }
    return 0;
}

int gn__worker_trial_begin(const struct gn_config *cfg)
{
    /* Held by the trial child until it exits: the process is thrown away. */
    struct gn_loop *loop = gn__loop_new();
    struct gn_coro_pool *coros =
        gn__coro_pool_new((size_t)cfg->stack_size * 1024, 0);

    if (loop == NULL || coros == NULL) {
        errno = ENOMEM;
        return -1;
    }
    gn__green_init(loop, NULL);
    gn__threads_init(coros);
    return 0;
}

void gn__worker_trial_end(void)
{
    gn__threads_stop();
}

/* Ask the kernel for SIGTERM (a graceful stop) when the arbiter dies,
 * and check it has not died already: its death before this call sends
 * nothing. Set again after dropping privileges, which clears it. 0, or -1
 * when the arbiter is gone. */
static int watch_arbiter(struct gn_worker *w)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == w->ppid)
        return 0;
    gn_log_info("worker %d (pid %d): the arbiter (pid %d) is gone before "
                "the worker booted: exiting",
                w->id, (int)w->pid, (int)w->ppid);
    return -1;
}

static void stream_done(void *owner)
{
    gn__worker_request_done(owner);
}

/* What each [stream:NAME] listener's connections are served with: its
 * loaded stream app (none when a reload with preload_app added it). */
static int set_up_streams(struct gn_worker *w)
{
    w->stream_ctx = calloc(w->nls + 1, sizeof(*w->stream_ctx));
    if (w->stream_ctx == NULL)
        return -1;
    for (size_t i = 0; i < w->nls; i++) {
        struct gn_stream_ctx *ctx = &w->stream_ctx[i];
        struct gn_stream_plugin *p;

        if (w->ls[i].stream == NULL)
            continue;
        p = gn__apps_stream(&w->apps, w->ls[i].stream);
        ctx->name = w->ls[i].stream;
        ctx->label_len = (size_t)snprintf(ctx->label, sizeof(ctx->label),
                                          "[stream:%s]", ctx->name);
        if (ctx->label_len >= sizeof(ctx->label))
            ctx->label_len = sizeof(ctx->label) - 1;
        ctx->desc = p ? &p->desc : NULL;
        ctx->state = p ? p->state : NULL;
        ctx->owner = w;
        ctx->done = stream_done;
        ctx->serving = stream_serving;
    }
    return 0;
}

/* The config's bits for patch_all's families are patch/patch.h's. */
_Static_assert(GN_PATCH_SOCKET == 1 && GN_PATCH_DNS == 2 &&
                   GN_PATCH_TIME == 4 && GN_PATCH_SELECT == 8 &&
                   GN_PATCH_SSL == 16,
               "patch_exclude's bits are the families'");

/* patch_all for the coroutines this worker runs from now on (before the
 * apps' init: the green threads it spawns are patched too), and the boot
 * line that says what is. */
static void start_patching(const struct gn_config *cfg)
{
    char what[64];

    if (!cfg->patch_all)
        return;
    gn__patch_ssl_executable_is_clean();
    gn__patch_enable(GN_PATCH_ALL & ~(unsigned)cfg->patch_exclude);
    gn_log_info("patch_all: %s", gn__patch_describe(what, sizeof(what)));
}

/* A call another worker made to us ended: a stopping worker may exit. */
static void peer_idle(void *owner)
{
    maybe_exit(owner);
}

/* Listen for the other workers' calls (net/peer.h), as our pid of the
 * arbiter's instance. Without it the worker still serves; only requests
 * for its sessions that land on other workers fail (the clients
 * reconnect). */
static void start_peer(struct gn_worker *w)
{
    if (gn__peer_token()[0] == '\0')
        return; /* not started by an arbiter (tests) */
    w->peer = gn__peer_new(w->loop, w->coros, gn__peer_token(), w->pid,
                           peer_idle, w);
    if (w->peer == NULL) {
        gn_log_warn("worker %d (pid %d): no worker-to-worker channel: %s",
                    w->id, (int)w->pid, strerror(errno));
        return;
    }
    /* Other workers' requests, relayed or handed over, are served as
     * our own connections'; and ours for their sessions go to them. */
    gn__http_relay_serve(w->peer, &w->net, &w->http);
    w->eio.forward = gn__eio_forward;
}

/* Unbind the channel's name, keeping the calls being served. */
static void stop_peer_listening(struct gn_worker *w)
{
    if (w->peer != NULL)
        gn__peer_unbind(w->peer);
}

/* worker_cpu_affinity = auto: W's loop on a CPU of its own
 * (workers/affinity.h), before its sockets, which then ask for that CPU's
 * connections; its thread pool keeps the CPUs W was started with. The
 * CPU, or -1: off, or refused (logged; W runs anywhere, as without). */
static int pin_to_cpu(const struct gn_worker *w)
{
    cpu_set_t was;
    int cpu;

    if (w->cfg->worker_cpu_affinity != GN_AFFINITY_AUTO)
        return -1;
    if ((cpu = gn__affinity_pin(w->id, &was)) < 0) {
        gn_log_warn("worker %d (pid %d): cannot keep to one CPU "
                    "(worker_cpu_affinity = auto): %s",
                    w->id, (int)w->pid, strerror(-cpu));
        return -1;
    }
    gn_log_info("worker %d (pid %d) runs on CPU %d", w->id, (int)w->pid, cpu);
    gn__threadpool_set_cpus(&was);
    return cpu;
}

/* Everything between fork and serving, from the post_fork hook to the
 * post_worker_init one. 0, or -1 when the worker cannot start: then the
 * reason is logged and left on the heartbeat page for the arbiter, once,
 * at the one exit below. */
static int boot(struct gn_worker *w)
{
    char err[GN_ERR_LEN] = "";
    const char *why = err;
    int cpu;

    /* A failing start-up hook stops everything, as a bad app does. */
    if (run_hook(w, GN_HOOK_POST_FORK, 0) != 0) {
        why = "the post_fork hook failed";
        goto failed;
    }
    gn__proctitle_set("worker", gn__config_proc_name(w->cfg));
    cpu = pin_to_cpu(w);
    /* Our own sockets first: binding may need the arbiter's privileges. */
    for (size_t i = 0; i < w->nls; i++) {
        if (w->ls[i].per_worker &&
            gn__listener_own(&w->ls[i], w->cfg->backlog, cpu, err) != 0)
            goto failed;
    }
    gn__listeners_defer_accept(w->ls, w->nls, w->cfg->defer_accept);
    w->net.nodelay_inherited = gn__listeners_nodelay(w->ls, w->nls);
    if (gn__privileges_drop(w->cfg->uid, w->cfg->gid, w->cfg->user,
                            w->cfg->group, err) != 0)
        goto failed;
    if (watch_arbiter(w) != 0) {
        why = NULL; /* logged: an orphan's exit, not a boot error */
        goto failed;
    }
    /* The loop before the apps: their init may spawn green threads. */
    if (start_loop(w) != 0) {
        why = strerror(errno ? errno : ENOMEM);
        goto failed;
    }
    start_peer(w);
    start_patching(w->cfg);
    if (!w->preloaded && (gn__apps_load(&w->apps, w->cfg, "module", err) != 0 ||
                          gn__apps_init(&w->apps, err) != 0))
        goto failed;
    publish_app_names(w);
    if (set_up_streams(w) != 0) {
        why = "out of memory";
        goto failed;
    }
    if (run_hook(w, GN_HOOK_POST_WORKER_INIT, 0) != 0) {
        why = "the post_worker_init hook failed";
        goto failed;
    }
    /* Only now, ready to serve, the listeners and the balance board: a
     * worker counted there as accepting while its app's init still runs
     * would have the others hold back new connections for it. */
    if (gn__accept_start(w) != 0) {
        why = "cannot watch the listening sockets";
        goto failed;
    }
    return 0;

failed:
    if (why == NULL)
        return -1;
    gn_log_error("worker %d (pid %d) failed to boot: %s", w->id, (int)w->pid,
                 why);
    if (w->heartbeat != NULL)
        snprintf(w->heartbeat->boot_error, sizeof(w->heartbeat->boot_error),
                 "%.*s", (int)sizeof(w->heartbeat->boot_error) - 1, why);
    return -1;
}

/* The apps' code must outlive the functions running it on the thread
 * pool: one still stuck after POOL_STOP_MS keeps the apps loaded (no
 * fini, no dlclose) and ends with the process. They stay reachable from
 * here meanwhile, for what they are: in use, not leaked. */
static struct gn_apps apps_in_use;

static void stop_pool_then_unload(struct gn_worker *w)
{
    int busy = gn__threadpool_stop(POOL_STOP_MS);

    if (busy == 0) {
        gn__apps_unload(&w->apps);
        return;
    }
    apps_in_use = w->apps;
    gn_log_warn("worker %d (pid %d): %d thread pool function%s still "
                "running after %d ms: exiting without unloading the apps",
                w->id, (int)w->pid, busy, busy == 1 ? "" : "s", POOL_STOP_MS);
}

static void teardown(struct gn_worker *w)
{
    sigset_t stop;

    /* Removing libevent's signal watches restores SIG_DFL: a second TERM
     * (the arbiter's, after a `pkill`) would then kill us mid-exit. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGQUIT);
    sigaddset(&stop, SIGUSR1);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    stop_pool_then_unload(w);
    if (w->loop != NULL) {
        gn__accept_stop(w);
        for (size_t i = 0; i < 5; i++)
            gn__watch_stop(&w->signal_watch[i]);
        gn__dump_unwatch();
        gn__watch_stop(&w->tick);
        gn__watch_stop(&w->cancel_timer);
        gn__watch_stop(&w->statsd_watch);
        gn__statsd_flush();
    }
    gn__peer_free(w->peer);
    w->peer = NULL;
    gn__accept_free(w);
    free(w->stream_ctx);
    gn__threads_free();
    gn__dns_shutdown();
    gn__green_shutdown();
    gn__uring_free(w->uring);
    w->uring = NULL;
    gn__conn_free_spares(&w->net);
    gn__http_free_spares();
    if (w->coros != NULL)
        gn__coro_pool_free(w->coros);
    gn__loop_free(w->loop);
    gn__listeners_close(w->ls, w->nls, 0);
}

/* ---- what http/ and net/ call up for -------------------------------- */

static int http_route(void *owner, const char *path, size_t *mount_len,
                      struct gn_http_app *app)
{
    struct gn_worker *w = owner;
    struct gn_app_plugin *p = gn__apps_route(&w->apps, path, mount_len);

    if (p == NULL)
        return 0;
    app->desc = &p->desc;
    app->state = p->state;
    app->name = p->name;
    app->has_body_limit = p->conf->body_limit_line != 0;
    app->body_limit = (uint64_t)p->conf->body_limit;
    return 1;
}

static int http_hook(void *owner, int post, struct gn_request *req,
                     struct gn_response *res)
{
    enum gn_hook_id id = post ? GN_HOOK_POST_REQUEST : GN_HOOK_PRE_REQUEST;
    gn_hook_args_t args;

    if (!gn__hook_configured(id))
        return 0;
    gn__worker_hook_args(owner, &args, id);
    args.req = req;
    args.res = res;
    return gn__hook_call(id, &args);
}

static void http_serving(void *owner, struct gn_request *req)
{
    gn__worker_serving(owner, req);
}

static void http_request_done(void *owner)
{
    gn__worker_request_done(owner);
}

static void conn_closed(void *owner)
{
    gn__worker_conn_closed(owner);
}

/* [http] as the connections use it: 0 limits become the caps. */
static void apply_http_settings(struct gn_worker *w,
                                const struct gn_config *cfg)
{
    struct gn_http_limits *l = &w->http.limits;

    l->request_line = cfg->limit_request_line
                          ? (uint32_t)cfg->limit_request_line
                          : GN_LIMIT_REQUEST_LINE_CAP;
    l->fields = cfg->limit_request_fields ? (uint32_t)cfg->limit_request_fields
                                          : GN_LIMIT_REQUEST_FIELDS_CAP;
    l->field_size = cfg->limit_request_field_size
                        ? (uint32_t)cfg->limit_request_field_size
                        : GN_LIMIT_REQUEST_FIELD_SIZE_CAP;
    l->head = cfg->limit_request_header_size
                  ? (uint32_t)cfg->limit_request_header_size
                  : GN_HEAD_CAP;
    l->body = (uint64_t)cfg->limit_request_body;
    w->http.head_max = gn__http_head_max(l);
    w->http.header_ms = cfg->header_timeout * 1000LL;
    w->http.body_ms = cfg->body_timeout * 1000LL;
    w->http.keepalive = cfg->keepalive;
    w->http.request_timeout = cfg->request_timeout;
    w->http.cancel_on_disconnect = cfg->cancel_on_disconnect;
    w->http.proxy_protocol = cfg->proxy_protocol;
    w->http.proxy_allow_ips = &cfg->proxy_allow_ips;
    w->http.forwarded_allow_ips = &cfg->forwarded_allow_ips;
    w->http.server_header = cfg->server_header;
    w->http.health_path = cfg->health_check_path;
    w->http.access_format = &cfg->access_log_format;
    w->http.error_pages = &cfg->error_pages;
    w->http.owner = w;
    w->http.route = http_route;
    /* Hooks are installed before the fork: none set, no call per request. */
    w->http.hook = gn__hook_configured(GN_HOOK_PRE_REQUEST) ||
                           gn__hook_configured(GN_HOOK_POST_REQUEST)
                       ? http_hook
                       : NULL;
    w->http.serving = http_serving;
    w->http.request_done = http_request_done;
    w->http.served = http_served;
    w->net.first_byte_ms = cfg->first_byte_timeout * 1000LL;
    w->net.keepalive_ms = (int64_t)cfg->keepalive * 1000;
    w->net.write_ms = cfg->write_timeout * 1000LL;
    w->net.closed = conn_closed;
    w->net.owner = w;
    w->ws.max_message = (uint64_t)cfg->websocket_max_message;
    w->ws.max_queue = (uint64_t)cfg->websocket_max_queue;
    w->ws.ping_ms = cfg->websocket_ping_interval * 1000LL;
    w->ws.compression = cfg->websocket_compression;
    w->ws.close_ms = 5000; /* a closing handshake's time */
    w->ws.write_ms = cfg->write_timeout * 1000LL;
    w->ws.allowed_origins =
        cfg->websocket_allowed_origins ? cfg->websocket_allowed_origins : "";
    gn__ws_setup(&w->ws);
    w->eio.path = cfg->socketio_path ? cfg->socketio_path : "/socket.io/";
    w->eio.ping_interval_ms = cfg->socketio_ping_interval * 1000LL;
    w->eio.ping_timeout_ms = cfg->socketio_ping_timeout * 1000LL;
    w->eio.max_payload = (uint64_t)cfg->socketio_max_payload;
    w->eio.max_queue = (uint64_t)cfg->socketio_max_queue;
    w->eio.allow_polling =
        (cfg->socketio_transports & GN_CONFIG_SIO_POLLING) != 0;
    w->eio.allow_websocket =
        (cfg->socketio_transports & GN_CONFIG_SIO_WEBSOCKET) != 0;
    w->eio.forward = NULL; /* start_peer sets it, once it listens */
    gn__eio_setup(&w->eio);
}

static uint64_t pick_max_requests(const struct gn_config *cfg)
{
    if (cfg->max_requests == 0)
        return 0;
    /* Jitter spreads the restarts of workers started together. */
    srandom((unsigned)(getpid() ^ time(NULL)));
    return (uint64_t)cfg->max_requests +
           (cfg->max_requests_jitter
                ? (uint64_t)random() % ((uint64_t)cfg->max_requests_jitter + 1)
                : 0);
}

int gn__worker_run(const struct gn_worker_spec *spec)
{
    const struct gn_config *cfg = spec->cfg;
    struct gn_worker w = {
        .id = spec->id,
        .age = spec->age,
        .pid = getpid(),
        .ppid = spec->arbiter,
        .cfg = cfg,
        .ls = spec->ls,
        .nls = spec->nls,
        .heartbeat = spec->heartbeat,
        .balance = spec->balance,
        .balance_slot = spec->balance ? spec->balance_slot : -1,
    };
    int id = spec->id;
    int status = GN_EXIT_OK;

    gn__log_set_pid((int)w.pid);
    gn__statsd_forked();
    if (watch_arbiter(&w) != 0)
        return GN_EXIT_OK;
    apply_http_settings(&w, cfg);
    reset_signals();
    beat(&w);
    w.max_requests = pick_max_requests(cfg);
    update_serve_more(&w);
    if (spec->preloaded) {
        w.apps = *spec->preloaded; /* our copy now: fini runs here too */
        w.preloaded = 1;
    }
    catch_abort(&w);
    catch_overflow(&w);
    if (boot(&w) != 0) {
        teardown(&w);
        run_hook(&w, GN_HOOK_WORKER_EXIT, GN_EXIT_BOOT_ERROR << 8);
        return GN_EXIT_BOOT_ERROR;
    }
    gn_log_info("booting worker %d with pid %d", id, (int)w.pid);
    if (w.heartbeat) {
        w.heartbeat->stats.started_ms = gn__monotonic_ms();
        w.heartbeat->booted = 1;
    }
    if (gn__loop_run(w.loop) != 0) {
        gn_log_error("worker %d (pid %d): event loop failed", id, (int)w.pid);
        status = 1;
    }
    gn_log_info("worker %d (pid %d) exiting: %llu requests on %llu "
                "connections; %llu of %llu accept wakeups found none; held "
                "back %llu times for a worker holding fewer",
                id, (int)w.pid, (unsigned long long)w.nrequests,
                (unsigned long long)w.accepted,
                (unsigned long long)w.empty_wakeups,
                (unsigned long long)w.wakeups,
                (unsigned long long)w.held_back);
    gn__log_report_lost(1);
    teardown(&w);
    run_hook(&w, GN_HOOK_WORKER_EXIT, status << 8);
    return status;
}
