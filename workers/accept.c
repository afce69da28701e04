/*
 * A worker's accepting: it watches the listening sockets it inherited,
 * takes new connections off them and hands each to what serves it (HTTP
 * on epoll or on the ring, TLS, a stream app). It pauses at
 * worker_connections and when descriptors run out (the tick tries again),
 * and on a listener the workers share it holds back while the balance
 * board says another worker holds fewer connections (workers/balance.h).
 * Stopping and retiring (workers/worker.c) switch it off and on.
 */
#include "workers/accept.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/macros.h"
#include "green/sys.h"
#include "http/serve.h"
#include "net/conn.h"
#include "net/stream.h"
#include "net/tls.h"
#include "net/uring.h"
#include "workers/balance.h"
#include "workers/state.h"

/* Out of descriptors (ERR): said once when an episode starts; the tick
 * tries again each second, and those failures are only counted. */
static void accept_starved(struct gn_worker *w, int err)
{
    w->emfile_this_tick = 1;
    if (w->accept_emfile++ == 0)
        gn_log_error("accept: %s (raise the open files limit or lower "
                     "worker_connections); pausing accept",
                     strerror(err));
}

/* From the tick, in an episode: it is over once a whole tick went by
 * without EMFILE and a descriptor can be had (not at the first accept
 * that works: at the limit descriptors come and go, and each flip would
 * be logged); say so with its count. */
void gn__accept_check_starved(struct gn_worker *w)
{
    int fd;

    if (GN_LIKELY(w->accept_emfile == 0))
        return;
    if (w->emfile_this_tick) {
        w->emfile_this_tick = 0;
        return;
    }
    fd = gn__sys_fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return;
    gn__sys_close(fd);
    gn_log_warn("accept: descriptors available again after %llu failed "
                "accept%s",
                (unsigned long long)w->accept_emfile,
                w->accept_emfile == 1 ? "" : "s");
    w->accept_emfile = 0;
}

/* What the connections of the listener LFD speak, and its context: the
 * stream app of a [stream:NAME] listener, HTTP/1.1 on the others; in *TLS
 * whether they speak TLS first, in *DEFERRED whether they come with their
 * first bytes (TCP_DEFER_ACCEPT), in *SHARED whether the other workers
 * accept from it too (not reuse_port's socket of our own). */
static const struct gn_conn_proto *listener_proto(struct gn_worker *w, int lfd,
                                                  const void **ctx, int *tls,
                                                  int *deferred, int *shared)
{
    *tls = 0;
    *deferred = 0;
    *shared = 0;
    for (size_t i = 0; i < w->nls; i++) {
        if (w->ls[i].fd != lfd)
            continue;
        *tls = w->ls[i].tls;
        *deferred = w->ls[i].deferred;
        *shared = !w->ls[i].per_worker;
        if (w->ls[i].stream == NULL)
            break;
        *ctx = &w->stream_ctx[i];
        return &gn__stream_proto;
    }
    *ctx = &w->http;
    return &gn__http1;
}

/* New connections served at once per wakeup of a listener, at most: it
 * stays readable while clients keep connecting, and the loop must get to
 * the connections that wait for it. */
#define ACCEPT_SERVE_MAX 16

/* How a worker holding more connections than another leaves the shared
 * listeners to the others (workers/balance.h): it stops watching them and
 * looks again every YIELD_MS. Once the others have taken none for
 * PATIENCE_US of real time (busy, hung; a window alone can end early, its
 * timer counting from when the loop's turn began), it accepts regardless
 * for TAKE_MS, then asks the board again. */
#define YIELD_MS 1
#define PATIENCE_US 3000
#define TAKE_MS 20

/* Whether the next connection on a shared listener is better left to a
 * worker holding fewer. */
static int should_yield(struct gn_worker *w)
{
    if (w->take_until_ms != 0) {
        if (gn__monotonic_ms() < w->take_until_ms)
            return 0;
        w->take_until_ms = 0;
    }
    return gn__balance_yield(w->balance, w->balance_slot, w->net.n);
}

static void accept_ready(int fd, short what, void *arg);

static int arm_yield_timer(struct gn_worker *w);

/* A window is over. The others took some meanwhile: watch the shared
 * listeners again. They took none: wait another window, or once that has
 * lasted PATIENCE_US, take what is there. */
static void yield_over(int fd, short what, void *arg)
{
    struct gn_worker *w = arg;
    int rc;

    (void)fd;
    (void)what;
    /* Never after gn__accept_stop, which disarms this timer. */
    if (gn__balance_others_accepted(w->balance, w->balance_slot) ==
        w->yield_mark) {
        if (gn__monotonic_us() - w->yield_since_us < PATIENCE_US &&
            arm_yield_timer(w) == 0)
            return;
        w->take_until_ms = gn__monotonic_ms() + TAKE_MS;
    }
    w->yielding = 0;
    if ((rc = gn__accept_start(w)) != 0) {
        gn_log_error("cannot watch the listeners again: %s", strerror(-rc));
        return;
    }
    for (size_t i = 0; w->take_until_ms != 0 && i < w->nls; i++)
        if (!w->ls[i].per_worker && w->ls[i].fd >= 0)
            accept_ready(w->ls[i].fd, 0, w);
}

static int arm_yield_timer(struct gn_worker *w)
{
    return gn__watch_start(&w->yield_timer, w->loop, -1, 0, YIELD_MS,
                           yield_over, w);
}

/* Leave the shared listeners' backlog to the workers holding fewer
 * connections: they were woken for it too. */
static void yield_accepts(struct gn_worker *w)
{
    w->yield_mark = gn__balance_others_accepted(w->balance, w->balance_slot);
    w->yield_since_us = gn__monotonic_us();
    if (arm_yield_timer(w) != 0)
        return; /* accept as without a board */
    for (size_t i = 0; i < w->nls; i++)
        if (!w->ls[i].per_worker)
            gn__watch_stop(&w->accept_watch[i]);
    w->yielding = 1;
    w->held_back++;
    gn__balance_set_state(w->balance, w->balance_slot, GN_BALANCE_YIELDING);
}

static void accept_ready(int fd, short what, void *arg)
{
    struct gn_worker *w = arg;
    struct sockaddr_storage ss;
    socklen_t len;
    int cfd, first = 1, served = 0;
    const void *ctx;
    struct gn_conn *c;
    int tls, deferred, shared;
    const struct gn_conn_proto *proto =
        listener_proto(w, fd, &ctx, &tls, &deferred, &shared);

    shared = shared && w->balance != NULL && w->cfg->accept_balance;
    w->wakeups += what != 0; /* not when called directly */
    for (; w->net.n < (size_t)w->cfg->worker_connections; first = 0) {
        if (shared && should_yield(w)) {
            yield_accepts(w);
            if (w->yielding)
                return;
            shared = 0;
        }
        len = sizeof(ss);
        cfd = gn__sys_accept4(fd, (struct sockaddr *)&ss, &len,
                              SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0 && (errno == EMFILE || errno == ENFILE)) {
            /* The socket stays readable: pause, or we would spin. on_tick
             * tries again. */
            accept_starved(w, errno);
            break;
        }
        if (cfd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                gn_log_error("accept: %s", strerror(errno));
            if (errno == EAGAIN)
                w->take_until_ms = 0; /* the backlog is empty */
            w->empty_wakeups += first && what != 0; /* woken for nothing */
            return;
        }
        w->accepted++;
        /* Plain HTTP on epoll: served at once, its request most likely
         * queued already (one epoll round trip, and the epoll_ctl pair
         * of a connection served and closed in one run, fewer). */
        if (!tls && w->uring == NULL && proto == &gn__http1 &&
            !w->http.proxy_protocol) {
            gn__conn_serve_new(&w->net, cfd, (struct sockaddr *)&ss, len,
                               proto, ctx);
            served++;
            goto accepted;
        }
        /* io_engine = io_uring: plain HTTP connections only, their socket
         * never on epoll (the ring's receives say when it is readable).
         * From a deferred listener the request is there: served at once,
         * read with recv(2), as on epoll; in a burst, each connection's
         * request is then read, and its handler started, in the turn that
         * accepts it, not after the whole backlog's accepts. */
        if (w->uring != NULL && !tls && proto == &gn__http1) {
            c = deferred
                    ? gn__conn_new_bare_ready(
                          &w->net, cfd, (struct sockaddr *)&ss, len, proto, ctx)
                    : gn__conn_new_bare(&w->net, cfd, (struct sockaddr *)&ss,
                                        len, proto, ctx);
            if (c != NULL && gn__uring_attach(w->uring, c, deferred) != 0) {
                gn_log_error("out of memory for io_uring; closing "
                             "connection from %s",
                             c->remote_addr);
                gn__conn_close(c);
                c = NULL;
            }
            if (c != NULL && deferred) {
                gn__conn_event(c, GN_WATCH_READ);
                served++;
            }
            goto accepted;
        }
        c = gn__conn_new(&w->net, cfd, (struct sockaddr *)&ss, len, proto, ctx);
        /* A TLS bind's connection shakes hands when its coroutine starts. */
        if (c != NULL && tls && gn__tls_attach(c, w->cfg->tls) != 0) {
            gn_log_error("out of memory for TLS; closing connection from %s",
                         c->remote_addr);
            gn__conn_close(c);
            c = NULL;
        }
        /* A stream app may speak first: its handler starts at once. */
        if (c != NULL && proto == &gn__stream_proto)
            gn__conn_start(c);
    accepted:
        gn__balance_set_counts(w->balance, w->balance_slot, w->net.n,
                               w->accepted);
        if (w->net.n > w->conns_peak)
            w->conns_peak = w->net.n;
        if (w->heartbeat != NULL)
            w->heartbeat->stats.accepted = w->accepted;
        if (served == ACCEPT_SERVE_MAX)
            return; /* the rest at the loop's next turn */
    }
    /* At the cap, or out of descriptors: stop accepting until a connection
     * closes or the next tick. */
    gn__accept_stop(w);
}

/* A 64-bit mix of X (splitmix64's finaliser): close keys spread apart. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The balance board's key for the listeners W shares with the other
 * workers (workers/balance.h): made of the sockets themselves (their
 * inode numbers), not of their descriptors or addresses, and summed, so
 * that whatever order a generation lists them in, workers holding the
 * same sockets get the same key. */
static uint64_t shared_listeners_key(const struct gn_worker *w)
{
    uint64_t key = 0;
    struct stat st;

    for (size_t i = 0; i < w->nls; i++)
        if (!w->ls[i].per_worker && w->ls[i].fd >= 0 &&
            fstat(w->ls[i].fd, &st) == 0)
            key += mix((uint64_t)st.st_ino ^ mix((uint64_t)st.st_dev));
    return key;
}

int gn__accept_init(struct gn_worker *w)
{
    w->accept_watch = calloc(w->nls, sizeof(*w->accept_watch));
    if (w->accept_watch == NULL)
        return -ENOMEM;
    gn__balance_set_group(w->balance, w->balance_slot,
                          shared_listeners_key(w));
    return 0;
}

void gn__accept_free(struct gn_worker *w)
{
    free(w->accept_watch);
    w->accept_watch = NULL;
}

int gn__accept_start(struct gn_worker *w)
{
    for (size_t i = 0; i < w->nls; i++) {
        int rc = gn__watch_start(&w->accept_watch[i], w->loop, w->ls[i].fd,
                                 GN_WATCH_READ | GN_WATCH_PERSIST, -1,
                                 accept_ready, w);
        if (rc != 0)
            return rc;
    }
    w->accepting = 1;
    gn__balance_set_state(w->balance, w->balance_slot, GN_BALANCE_ACCEPTING);
    return 0;
}

void gn__accept_stop(struct gn_worker *w)
{
    for (size_t i = 0; w->accept_watch != NULL && i < w->nls; i++)
        gn__watch_stop(&w->accept_watch[i]);
    gn__watch_stop(&w->yield_timer); /* a hold-back ends with it */
    w->yielding = 0;
    w->accepting = 0;
    gn__balance_set_state(w->balance, w->balance_slot, GN_BALANCE_OFF);
}

/* Accept again after a pause (the connection cap, no descriptors left),
 * unless we are stopping or waiting to be replaced. */
void gn__accept_resume(struct gn_worker *w)
{
    if (!w->net.stopping && !w->accepting && !w->retire_asked_ms &&
        w->net.n < (size_t)w->cfg->worker_connections)
        gn__accept_start(w);
}

void gn__accept_pending(struct gn_worker *w, int fd)
{
    accept_ready(fd, 0, w);
}
