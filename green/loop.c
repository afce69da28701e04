/*
 * The worker's event loop over libevent 2.1: the only file of the worker
 * that includes <event2/...>. Watches are libevent events assigned into
 * storage their owner embeds, so arming one allocates nothing.
 */
#include "green/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "green/sys.h"

/* gn__watch_cb is libevent's event_callback_fn where sockets are ints. */
_Static_assert(sizeof(evutil_socket_t) == sizeof(int),
               "gn__watch_cb assumes evutil_socket_t is int");
_Static_assert(sizeof(struct event) <= GN__WATCH_STORAGE,
               "struct gn_watch is too small for a libevent struct event");
_Static_assert(_Alignof(struct event) <= _Alignof(struct gn_watch),
               "struct gn_watch is not aligned for a libevent struct event");

/* Distinct timeout durations given their own FIFO (libevent's "common
 * timeouts"): thousands of watches with one duration (keepalive, a
 * handler's 100 ms sleep) then cost O(1) each instead of a heap insert. */
#define COMMON_TIMEOUTS 32

struct gn_loop {
    struct event_base *base;
    int timerfd; /* libevent's kernel timer (see below), -1: unknown */
    int epfd;    /* libevent's epoll descriptor, -1: unknown */
    struct {
        int64_t ms;
        const struct timeval *tv; /* libevent's token for that duration */
    } common[COMMON_TIMEOUTS];
    int ncommon;
};

/* Our GN_WATCH_* bits are libevent's EV_* bits; keep them so. */
_Static_assert(GN_WATCH_TIMEOUT == EV_TIMEOUT && GN_WATCH_READ == EV_READ &&
                   GN_WATCH_WRITE == EV_WRITE && GN_WATCH_SIGNAL == EV_SIGNAL &&
                   GN_WATCH_PERSIST == EV_PERSIST &&
                   GN_WATCH_CLOSED == EV_CLOSED && GN_WATCH_ET == EV_ET,
               "watch bits must match libevent's");

static struct event *as_event(struct gn_watch *w)
{
    return (struct event *)w->ev;
}

/* ---- the kernel timer ------------------------------------------------- */

/*
 * With EVENT_BASE_FLAG_PRECISE_TIMER, libevent 2.1's epoll back-end keeps
 * its earliest timeout in a timerfd and sets it before every epoll_wait,
 * changed or not (a TODO in its epoll.c says so): a system call per loop
 * turn, about as dear as the turn's epoll_wait (issue #18: ~2 µs on the
 * bench VM, a turn per request with a new connection per request).
 *
 * So the executable defines timerfd_create and timerfd_settime, exported
 * as patch/'s definitions are. The timerfd created while gn__loop_new
 * builds its base is remembered, and a setting of it is skipped while the
 * time it is set to has not come and is no later than TIMER_SLACK_NS past
 * the new one (the loop's timers have millisecond resolution). One set
 * earlier than needed goes off early: libevent finds nothing due, and the
 * next turn sets it again. libevent never reads the timerfd, so one that
 * went off stays readable until set: that setting is never skipped. Every
 * other descriptor, and any other use, passes straight through.
 *
 * The time a setting is relative to: libevent works it out at the end of
 * a turn from the time it cached when the turn began, after epoll_wait
 * returned, not from the time at its end. Taken from now, every timer went
 * off late by as long as the turn before its wait ran (issue #18: the turn
 * that resumes a batch of 5,000 sleeping requests made the next batch late
 * by milliseconds, and late batches merged into bigger ones). So the
 * executable also defines epoll_create1 and epoll_wait: the loop's epoll
 * descriptor is remembered as its timerfd is, and when its epoll_wait
 * returns the time is noted (libevent reads its own a moment later); a
 * setting counts from that. That time is also the "now" the setting is
 * compared with: a timer that went off during the turn may then be left
 * as it is, readable, and the next turn sets it.
 */
#define TIMER_SLACK_NS 1000000LL
#define NS 1000000000LL

#define INTERPOSED __attribute__((visibility("default")))

static struct {
    _Atomic int fd;   /* the newest loop's timerfd, -1: none */
    _Atomic int epfd; /* its epoll descriptor, -1: none */
    int64_t armed;    /* when it goes off (CLOCK_MONOTONIC ns), 0: never */
    int64_t woke;     /* when epoll_wait last returned on EPFD, 0: unknown */
} ktimer = {.fd = -1, .epfd = -1};

/*
 * Who waits instead of epoll_wait on the newest loop's descriptor
 * (gn__loop_set_wait): the io_uring transport, whose ring then holds one
 * poll on that descriptor beside the connections' operations, so a turn
 * sleeps in one io_uring_enter(2) and its epoll set is read (without
 * sleeping) only when that poll said something in it is ready. Kept
 * beside ktimer because epoll_wait is given only the descriptor.
 */
static struct {
    int epfd; /* the loop's epoll descriptor it waits for, -1: none */
    gn__loop_wait_fn fn;
    void *arg;
} waiter = {.epfd = -1};

/* This thread is in gn__loop_new, building a base: a timerfd another
 * thread (a plugin's) creates meanwhile is not the loop's. */
static _Thread_local int capturing;

INTERPOSED int timerfd_create(int clockid, int flags);
INTERPOSED int timerfd_settime(int fd, int flags,
                               const struct itimerspec *value,
                               struct itimerspec *old);
INTERPOSED int epoll_create1(int flags);
INTERPOSED int epoll_wait(int epfd, struct epoll_event *events, int max,
                          int timeout);

static int64_t monotonic_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

INTERPOSED int timerfd_create(int clockid, int flags)
{
    int fd = gn__sys.timerfd_create(clockid, flags);

    if (capturing && fd >= 0 && clockid == CLOCK_MONOTONIC) {
        ktimer.fd = fd;
        ktimer.armed = 0;
    }
    return fd;
}

INTERPOSED int epoll_create1(int flags)
{
    int fd = gn__sys.epoll_create1(flags);

    if (capturing && fd >= 0) {
        ktimer.epfd = fd;
        ktimer.woke = 0;
    }
    return fd;
}

/* The loop's wait, by its waiter: the epoll set read only when the
 * waiter says it may hold something. */
static int wait_by_waiter(int epfd, struct epoll_event *events, int max,
                          int timeout)
{
    int rc = waiter.fn(waiter.arg, timeout);

    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    return rc == 0 ? 0 : gn__sys.epoll_wait(epfd, events, max, 0);
}

INTERPOSED int epoll_wait(int epfd, struct epoll_event *events, int max,
                          int timeout)
{
    int n;

    if (epfd == waiter.epfd && epfd == ktimer.epfd)
        n = wait_by_waiter(epfd, events, max, timeout);
    else
        n = gn__sys.epoll_wait(epfd, events, max, timeout);
    if (epfd == ktimer.epfd)
        ktimer.woke = monotonic_ns();
    return n;
}

INTERPOSED int timerfd_settime(int fd, int flags,
                               const struct itimerspec *value,
                               struct itimerspec *old)
{
    int64_t now, want;

    /* libevent's calls: relative, one-shot, the old value unasked. */
    if (fd != ktimer.fd || flags != 0 || old != NULL || value == NULL ||
        value->it_interval.tv_sec != 0 || value->it_interval.tv_nsec != 0)
        return gn__sys.timerfd_settime(fd, flags, value, old);
    now = ktimer.woke ? ktimer.woke : monotonic_ns();
    if (now == 0)
        return gn__sys.timerfd_settime(fd, flags, value, old);
    want = value->it_value.tv_sec == 0 && value->it_value.tv_nsec == 0
               ? 0 /* disarm */
               : now + (int64_t)value->it_value.tv_sec * NS +
                     value->it_value.tv_nsec;
    if (ktimer.armed == 0 && want == 0)
        return 0; /* off already */
    if (ktimer.armed > now &&
        (want == 0 || ktimer.armed <= want + TIMER_SLACK_NS))
        return 0; /* to come, soon enough (or at most once too early) */
    if (want != 0) {
        /* Absolute: the time counts from NOW, not from the call. */
        struct itimerspec at = {.it_value = {.tv_sec = want / NS,
                                             .tv_nsec = want % NS}};

        if (gn__sys.timerfd_settime(fd, TFD_TIMER_ABSTIME, &at, NULL) != 0)
            return -1;
    } else if (gn__sys.timerfd_settime(fd, 0, value, NULL) != 0) {
        return -1;
    }
    ktimer.armed = want;
    return 0;
}

struct gn_loop *gn__loop_new(void)
{
    struct gn_loop *loop = calloc(1, sizeof(*loop));
    struct event_config *cfg;

    if (loop == NULL)
        return NULL;
    cfg = event_config_new();
    if (cfg == NULL)
        goto fail_cfg;
    /* One thread per loop: skip libevent's locking. A precise clock:
     * libevent's default on Linux is CLOCK_MONOTONIC_COARSE, a tick of
     * 4 ms, which made a 10 ms green sleep take 12.3 ms. */
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    capturing = 1;
    ktimer.fd = -1;
    ktimer.epfd = -1;
    loop->base = event_base_new_with_config(cfg);
    capturing = 0;
    if (loop->base == NULL)
        ktimer.fd = ktimer.epfd = -1;
    loop->timerfd = ktimer.fd;
    loop->epfd = ktimer.epfd;
    event_config_free(cfg);
    if (loop->base == NULL)
        goto fail_cfg;
    return loop;

fail_cfg:
    free(loop);
    errno = ENOMEM;
    return NULL;
}

void gn__loop_free(struct gn_loop *loop)
{
    if (loop == NULL)
        return;
    /* Closed by libevent: the numbers are reused. */
    if (loop->timerfd >= 0 && ktimer.fd == loop->timerfd)
        ktimer.fd = -1;
    if (loop->epfd >= 0 && ktimer.epfd == loop->epfd)
        ktimer.epfd = -1;
    if (loop->epfd >= 0 && waiter.epfd == loop->epfd)
        waiter.epfd = -1;
    event_base_free(loop->base);
    free(loop);
}

int gn__loop_run(struct gn_loop *loop)
{
    return event_base_dispatch(loop->base) < 0 ? -EIO : 0;
}

int gn__loop_set_wait(struct gn_loop *loop, gn__loop_wait_fn fn, void *arg)
{
    if (fn == NULL || loop->epfd < 0 || loop->epfd != ktimer.epfd) {
        if (waiter.epfd == loop->epfd)
            waiter.epfd = -1;
        return fn == NULL ? 0 : -ENOTSUP;
    }
    waiter.fn = fn;
    waiter.arg = arg;
    waiter.epfd = loop->epfd;
    return 0;
}

int gn__loop_epoll_fd(const struct gn_loop *loop)
{
    return loop->epfd;
}

struct event_base *gn__loop_event_base(struct gn_loop *loop)
{
    return loop->base;
}

void gn__loop_break(struct gn_loop *loop)
{
    event_base_loopbreak(loop->base);
}

int64_t gn__loop_time(struct gn_loop *loop)
{
    struct timeval tv;

    event_base_gettimeofday_cached(loop->base, &tv);
    return tv.tv_sec;
}

/* The common-timeout token for MS on LOOP, or NULL when the table is
 * full (the heap serves the rest). Durations of 0 stay on the heap. */
static const struct timeval *common_timeout(struct gn_loop *loop, int64_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    const struct timeval *token;

    for (int i = 0; i < loop->ncommon; i++)
        if (loop->common[i].ms == ms)
            return loop->common[i].tv;
    if (ms == 0 || loop->ncommon == COMMON_TIMEOUTS)
        return NULL;
    token = event_base_init_common_timeout(loop->base, &tv);
    if (token == NULL)
        return NULL;
    loop->common[loop->ncommon].ms = ms;
    loop->common[loop->ncommon].tv = token;
    loop->ncommon++;
    return token;
}

static int arm(struct gn_loop *loop, struct gn_watch *w, int64_t timeout_ms)
{
    const struct timeval *common;
    struct timeval tv;

    if (timeout_ms < 0)
        return event_add(as_event(w), NULL) == 0 ? 0 : -EINVAL;
    common = common_timeout(loop, timeout_ms);
    if (common != NULL)
        return event_add(as_event(w), common) == 0 ? 0 : -EINVAL;
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    return event_add(as_event(w), &tv) == 0 ? 0 : -EINVAL;
}

static int same_assignment(struct event *ev, struct gn_loop *loop, int fd,
                           int events, gn__watch_cb cb, void *arg)
{
    struct event_base *base;
    evutil_socket_t efd;
    short eevents;
    event_callback_fn ecb;
    void *earg;

    event_get_assignment(ev, &base, &efd, &eevents, &ecb, &earg);
    return base == loop->base && efd == fd && eevents == (short)events &&
           ecb == cb && earg == arg;
}

int gn__watch_start(struct gn_watch *w, struct gn_loop *loop, int fd,
                    int events, int64_t timeout_ms, gn__watch_cb cb, void *arg)
{
    struct event *ev = as_event(w);

    /* A watch stopped and started again as it was (a connection's idle
     * timer, once per request) is only re-added. */
    if (event_initialized(ev) && !gn__watch_active(w) &&
        same_assignment(ev, loop, fd, events, cb, arg))
        return arm(loop, w, timeout_ms);
    /* event_assign() on a pending event corrupts libevent's lists. */
    if (event_initialized(ev))
        event_del(ev);
    if (event_assign(ev, loop->base, fd, (short)events, cb, arg) != 0)
        return -EINVAL;
    return arm(loop, w, timeout_ms);
}

int gn__watch_signal(struct gn_watch *w, struct gn_loop *loop, int signo,
                     gn__watch_cb cb, void *arg)
{
    struct event *ev = as_event(w);

    if (event_initialized(ev))
        event_del(ev);
    if (event_assign(ev, loop->base, signo, EV_SIGNAL | EV_PERSIST, cb, arg) !=
        0)
        return -EINVAL;
    return arm(loop, w, -1);
}

void gn__watch_activate(struct gn_watch *w, int what)
{
    event_active(as_event(w), what, 1);
}

void gn__watch_stop(struct gn_watch *w)
{
    struct event *ev = as_event(w);

    if (event_initialized(ev))
        event_del(ev);
}

int gn__watch_started(const struct gn_watch *w)
{
    return event_initialized((const struct event *)w->ev);
}

int gn__watch_active(const struct gn_watch *w)
{
    const struct event *ev = (const struct event *)w->ev;

    return event_initialized(ev) &&
           event_pending(ev, EV_READ | EV_WRITE | EV_TIMEOUT | EV_SIGNAL, NULL);
}
