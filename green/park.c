/*
 * The green API's waits. A waiting coroutine keeps its watch on its own
 * stack: libevent drops a one-shot event before calling back, so nothing
 * points into the stack once the coroutine runs again.
 *
 * Only the loop may resume a coroutine, so whoever wakes a waiter (another
 * coroutine setting an event, a cancellation, a yield) puts it on the run
 * queue with the result it is to return: on the loop's next turn, after
 * polling for I/O, the queue's coroutines run in the order they were
 * woken.
 */
#include "green/park.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <time.h>

#include "green/coro.h"
#include "green/loop.h"
#include "green/sys.h"
#include "greenicorn.h"

_Thread_local int gn__loop_thread;

/* Before main, on the main thread: threads started later see 0. The
 * store is volatile so that no compiler runs it at build time: clang -O3
 * (LLVM's static-constructor evaluation) made 1 the variable's initial
 * value, the value every thread then starts with, and a pool thread
 * passed for the loop's (green/threadpool's unit tests failed). */
__attribute__((constructor)) static void mark_loop_thread(void)
{
    *(volatile int *)&gn__loop_thread = 1;
}

const char gn__wait_fd_kind[] = "fd", gn__wait_sleep_kind[] = "sleep",
           gn__wait_yield_kind[] = "yield", gn__wait_wakeup_kind[] = "wake-up";

static struct gn_loop *green_loop;
static void (*resumed)(struct gn_coro *co);
static void (*parking)(struct gn_coro *co);

/* Waiters woken, in order, and the timer that resumes them. */
static struct {
    struct gn_waiter *head, *tail;
    struct gn_watch timer;
} runq;

static void run_queue(int fd, short what, void *arg)
{
    struct gn_waiter *wt = runq.head, *next;

    /* This batch only: those it wakes run on the next turn. */
    runq.head = runq.tail = NULL;
    for (; wt != NULL; wt = next) {
        next = wt->run_next; /* WT is gone once its coroutine runs */
        gn__coro_resume(wt->co);
    }
}

static void schedule(struct gn_waiter *wt)
{
    wt->run_next = NULL;
    if (runq.tail)
        runq.tail->run_next = wt;
    else
        runq.head = wt;
    runq.tail = wt;
    if (!gn__watch_active(&runq.timer) &&
        gn__watch_start(&runq.timer, green_loop, -1, 0, 0, run_queue, NULL) !=
            0)
        run_queue(-1, 0, NULL); /* cannot happen on a valid loop */
}

void gn__green_shutdown(void)
{
    gn__watch_stop(&runq.timer);
    runq.head = runq.tail = NULL;
}

void gn__green_init(struct gn_loop *loop, void (*on_resume)(struct gn_coro *))
{
    green_loop = loop;
    resumed = on_resume;
}

void gn__green_on_park(void (*on_park)(struct gn_coro *))
{
    parking = on_park;
}

struct gn_loop *gn__green_loop(void)
{
    return green_loop;
}

int gn__green_can_wait(void)
{
    return gn__coro_current() != NULL && green_loop != NULL;
}

static void fire(int fd, short what, void *arg)
{
    struct gn_waiter *wt = arg;

    wt->what = what;
    /* Not a byte of WT may be touched after this: it lives on the
     * coroutine's stack, which may be released when it finishes. */
    gn__coro_resume(wt->co);
}

int gn__green_park(struct gn_waiter *wt, int fd, int events, int64_t timeout_ms)
{
    return gn__green_park_on(wt, NULL, -1, 0, fd, events, timeout_ms);
}

int gn__green_park_on(struct gn_waiter *wt, const char *on, int on_fd,
                      int on_events, int fd, int events, int64_t timeout_ms)
{
    struct gn_watch w = {0};
    int rc;

    wt->co = gn__coro_current();
    wt->watch = &w;
    wt->what = 0;
    wt->woken = 0;
    wt->result = gn__coro_cancelled(wt->co);
    if (wt->result != 0)
        return wt->result;
    if (parking != NULL)
        parking(wt->co); /* must not wait: WT is not armed yet */
    /* For the listing: a few stores, and a time at hand. */
    if (on == NULL) {
        on = fd >= 0            ? gn__wait_fd_kind
             : timeout_ms == 0 ? gn__wait_yield_kind
             : timeout_ms > 0  ? gn__wait_sleep_kind
                               : gn__wait_wakeup_kind;
        on_fd = fd;
        on_events = events;
    }
    wt->on = on;
    wt->on_fd = on_fd;
    wt->on_events = on_events;
    wt->timeout_ms = timeout_ms;
    wt->since_us = gn__coro_run_start_us();
    if (fd < 0 && timeout_ms == 0) {
        /* A yield: to the back of the run queue, no watch needed. */
        wt->woken = 1;
        schedule(wt);
    } else if (fd >= 0 || timeout_ms >= 0) {
        rc = gn__watch_start(&w, green_loop, fd, events, timeout_ms, fire, wt);
        if (rc != 0)
            return rc;
    }
    /* else only a wake-up ends the wait (a WebSocket's receiver between
     * messages): libevent would hold an event with neither fd nor time,
     * which keeps no loop alive, for an assign, an add and a del a wait. */
    gn__coro_set_waiter(wt->co, wt);
    gn__coro_yield(GN_YIELD_WAIT);
    gn__coro_set_waiter(wt->co, NULL);
    gn__watch_stop(&w);
    wt->watch = NULL;
    if (resumed != NULL)
        resumed(wt->co);
    if (wt->woken)
        return wt->result;
    if (wt->what & (GN_WATCH_READ | GN_WATCH_WRITE | GN_WATCH_CLOSED))
        return wt->what & (GN_WATCH_READ | GN_WATCH_WRITE | GN_WATCH_CLOSED);
    return -ETIMEDOUT;
}

void gn__green_wake(struct gn_waiter *wt, int result)
{
    if (wt->woken || wt->watch == NULL)
        return; /* already on its way back with a result */
    wt->woken = 1;
    wt->result = result;
    gn__watch_stop(wt->watch);
    schedule(wt);
}

void gn__green_wake_now(struct gn_waiter *wt, int result)
{
    if (wt->woken || wt->watch == NULL)
        return;
    wt->woken = 1;
    wt->result = result;
    gn__watch_stop(wt->watch);
    gn__coro_resume(wt->co);
}

void gn__green_cancel(struct gn_coro *co, int err)
{
    struct gn_waiter *wt = gn__coro_waiter(co);

    gn__coro_set_cancelled(co, err);
    if (wt != NULL)
        gn__green_wake(wt, err); /* else its next wait returns ERR at once */
}

/* ---- outside a coroutine: what libc would do -------------------------- */

static int poll_fd(int fd, int events, int64_t timeout_ms)
{
    struct pollfd pfd = {.fd = fd};
    int n, ready = 0;

    pfd.events = (short)(((events & GN_WATCH_READ) ? POLLIN : 0) |
                         ((events & GN_WATCH_WRITE) ? POLLOUT : 0));
    do {
        n = gn__sys_poll(&pfd, 1, timeout_ms < 0 ? -1 : (int)timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -ETIMEDOUT;
    if (pfd.revents & POLLNVAL)
        return -EBADF;
    /* A hang-up or an error is for reading (and writing) to find out. */
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
        ready |= GN_WATCH_READ & events;
    if (pfd.revents & (POLLOUT | POLLHUP | POLLERR))
        ready |= GN_WATCH_WRITE & events;
    return ready ? ready : events;
}

int gn__wait_fd(int fd, int events, int64_t timeout_ms)
{
    struct gn_waiter wt;
    int rc;

    /* No wait at all: ask now (libevent would report a zero timeout
     * before the readiness it saw in the same turn). */
    if (!gn__green_can_wait() || timeout_ms == 0)
        return poll_fd(fd, events, timeout_ms);
    rc = gn__green_park(&wt, fd, events, timeout_ms);
    if (rc < 0)
        return rc;
    return (rc & events) ? rc & events : events; /* a hang-up: let I/O say */
}

int gn__wait_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (ms % 1000) * 1000000};
    struct gn_waiter wt;
    int rc;

    if (!gn__green_can_wait()) {
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        return 0;
    }
    rc = gn__green_park(&wt, -1, 0, ms);
    return rc == -ETIMEDOUT ? 0 : rc; /* the timer firing is the point */
}

int gn__timeout_ms(double seconds, int64_t *ms)
{
    if (isnan(seconds))
        return -EINVAL;
    if (seconds < 0 || seconds > 1e9) {
        *ms = -1; /* no limit */
        return 0;
    }
    *ms = (int64_t)ceil(seconds * 1000.0);
    return 0;
}

/* ---- the public calls ------------------------------------------------- */

GN_API int gn_sleep(double seconds)
{
    if (!gn__on_loop_thread())
        return -EPERM;
    if (!isfinite(seconds) || seconds < 0)
        return -EINVAL;
    if (seconds > 1e9)
        seconds = 1e9;
    return gn__wait_ms((int64_t)llround(seconds * 1000.0));
}

GN_API int gn_wait_fd(int fd, int events, double timeout)
{
    int64_t ms;
    int want = ((events & GN_WAIT_READ) ? GN_WATCH_READ : 0) |
               ((events & GN_WAIT_WRITE) ? GN_WATCH_WRITE : 0);
    int rc;

    if (!gn__on_loop_thread())
        return -EPERM;
    if (fd < 0 || want == 0 || (events & ~(GN_WAIT_READ | GN_WAIT_WRITE)) ||
        gn__timeout_ms(timeout, &ms) != 0)
        return -EINVAL;
    rc = gn__wait_fd(fd, want, ms);
    if (rc < 0)
        return rc;
    return ((rc & GN_WATCH_READ) ? GN_WAIT_READ : 0) |
           ((rc & GN_WATCH_WRITE) ? GN_WAIT_WRITE : 0);
}

GN_API int gn_yield(void)
{
    struct gn_waiter wt;
    int rc;

    if (!gn__on_loop_thread())
        return -EPERM;
    if (!gn__green_can_wait()) {
        sched_yield();
        return 0;
    }
    /* A timer due now: every coroutine already ready runs first. */
    rc = gn__green_park(&wt, -1, 0, 0);
    return rc == -ETIMEDOUT ? 0 : rc;
}
