/*
 * The green API's waits. A waiting coroutine keeps its watch on its own
 * stack: libevent drops a one-shot event before calling back, so nothing
 * points into the stack once the coroutine runs again.
 */
#include "workers/green.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <time.h>

#include "greenicorn.h"
#include "workers/coro.h"
#include "workers/loop.h"

static struct gn_loop *green_loop;
static void (*resumed)(struct gn_coro *co);

struct waiter {
    struct gn_coro *co;
    struct gn_watch *watch;
    int what;   /* GN_WATCH_* bits the watch fired with */
    int result; /* set by gn__green_cancel */
};

void gn__green_init(struct gn_loop *loop, void (*on_resume)(struct gn_coro *))
{
    green_loop = loop;
    resumed = on_resume;
}

static void wake(int fd, short what, void *arg)
{
    struct waiter *wt = arg;

    wt->what = what;
    /* Not a byte of WT may be touched after this: it lives on the
     * coroutine's stack, which may be released when it finishes. */
    gn__coro_resume(wt->co);
}

static int wait_watch(int fd, int events, int64_t timeout_ms)
{
    struct gn_watch w = {0};
    struct waiter wt = {.co = gn__coro_current(), .watch = &w};
    int rc = gn__coro_cancelled(wt.co);

    if (rc != 0)
        return rc;
    rc = gn__watch_start(&w, green_loop, fd, events, timeout_ms, wake, &wt);
    if (rc != 0)
        return rc;
    gn__coro_set_waiter(wt.co, &wt);
    gn__coro_yield(GN_YIELD_WAIT);
    gn__coro_set_waiter(wt.co, NULL);
    gn__watch_stop(&w);
    if (resumed != NULL)
        resumed(wt.co);
    if (wt.result != 0)
        return wt.result;
    return (wt.what & (GN_WATCH_READ | GN_WATCH_WRITE)) ? 0 : -ETIMEDOUT;
}

void gn__green_cancel(struct gn_coro *co, int err)
{
    struct waiter *wt = gn__coro_waiter(co);

    gn__coro_set_cancelled(co, err);
    if (wt == NULL)
        return; /* not waiting: its next wait returns ERR at once */
    gn__watch_stop(wt->watch);
    wt->result = err;
    /* WT is on CO's stack: not to be touched once CO runs. */
    gn__coro_resume(co);
}

static int poll_fd(int fd, int events, int64_t timeout_ms)
{
    struct pollfd pfd = {.fd = fd};
    int n;

    pfd.events = (short)(((events & GN_WATCH_READ) ? POLLIN : 0) |
                         ((events & GN_WATCH_WRITE) ? POLLOUT : 0));
    do {
        n = poll(&pfd, 1, timeout_ms < 0 ? -1 : (int)timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    return n == 0 ? -ETIMEDOUT : 0;
}

int gn__wait_fd(int fd, int events, int64_t timeout_ms)
{
    if (gn__coro_current() == NULL || green_loop == NULL)
        return poll_fd(fd, events, timeout_ms);
    return wait_watch(fd, events, timeout_ms);
}

int gn__wait_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (ms % 1000) * 1000000};
    int rc;

    if (gn__coro_current() == NULL || green_loop == NULL) {
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        return 0;
    }
    rc = wait_watch(-1, 0, ms);
    return rc == -ETIMEDOUT ? 0 : rc; /* the timer firing is the point */
}

GN_API int gn_sleep(double seconds)
{
    if (!isfinite(seconds) || seconds < 0)
        return -EINVAL;
    if (seconds > 1e9)
        seconds = 1e9;
    return gn__wait_ms((int64_t)llround(seconds * 1000.0));
}
