/*
 * Parking on descriptors for the interposed calls (wait.h). One fd parks
 * as gn__wait_fd does, with a table link beside it; many fds arm one
 * one-shot watch each, on the coroutine's stack (or the heap past a few),
 * whose callback resumes the coroutine; the coroutine disarms the rest
 * when it runs again, so nothing points into its stack once it goes on.
 */
#include "patch/wait.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "green/loop.h"
#include "green/park.h"
#include "green/sys.h"
#include "patch/fd.h"

int gn__patch_wait(int fd, int events, int64_t timeout_ms)
{
    struct gn_waiter wt;
    struct gn_fd_waiter link;
    int rc;

    if (!gn__green_can_wait() || !gn__on_loop_thread() || timeout_ms == 0)
        return gn__wait_fd(fd, events, timeout_ms);
    gn__fd_link(&link, fd, &wt);
    rc = gn__green_park(&wt, fd, events, timeout_ms);
    gn__fd_unlink(&link);
    if (rc < 0)
        return rc;
    return (rc & events) ? rc & events : events; /* a hang-up: let I/O say */
}

/* One fd of a multi-fd park. */
struct many_watch {
    struct gn_watch w;
    struct gn_fd_waiter link;
};

/* What a pollfd waits for, as watch bits (0: nothing to wait on). */
static int watch_events(const struct pollfd *p)
{
    int ev = 0;

    if (p->fd < 0)
        return 0;
    if (p->events & (POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND))
        ev |= GN_WATCH_READ;
    if (p->events & (POLLOUT | POLLWRNORM | POLLWRBAND))
        ev |= GN_WATCH_WRITE;
    return ev;
}

static void many_fire(int fd, short what, void *arg)
{
    struct gn_waiter *wt = arg;
    int ready = what & (GN_WATCH_READ | GN_WATCH_WRITE);

    /* Resumes the coroutine, which stops the other watches: not a byte of
     * this watch is touched after it. Any positive result will do: the
     * caller asks the kernel for the exact answer. */
    gn__green_wake_now(wt, ready ? ready : GN_WATCH_READ);
}

#define MANY_ON_STACK 8

int gn__patch_wait_many(const struct pollfd *fds, nfds_t n, int64_t timeout_ms)
{
    struct many_watch stack[MANY_ON_STACK], *mw = stack;
    struct gn_waiter wt;
    nfds_t armed = 0, want = 0;
    int rc = 0;

    for (nfds_t i = 0; i < n; i++)
        want += watch_events(&fds[i]) != 0;
    if (want == 1) {
        for (nfds_t i = 0; i < n; i++)
            if (watch_events(&fds[i]))
                return gn__patch_wait(fds[i].fd, watch_events(&fds[i]),
                                      timeout_ms);
    }
    if (want > MANY_ON_STACK) {
        mw = calloc(want, sizeof(*mw));
        if (mw == NULL)
            return -ENOMEM;
    }
    for (nfds_t i = 0; i < n && rc == 0; i++) {
        int ev = watch_events(&fds[i]);

        if (ev == 0)
            continue;
        mw[armed].w = (struct gn_watch){0};
        rc = gn__watch_start(&mw[armed].w, gn__green_loop(), fds[i].fd, ev, -1,
                             many_fire, &wt);
        if (rc == 0) {
            gn__fd_link(&mw[armed].link, fds[i].fd, &wt);
            mw[armed].link.watch = &mw[armed].w;
            armed++;
        }
    }
    /* The timer (or nothing: only a watch or a wake-up ends it) is the
     * park's own. */
    if (rc == 0)
        rc = gn__green_park_on(&wt, "poll of several fds", -1, 0, -1, 0,
                               timeout_ms);
    for (nfds_t i = 0; i < armed; i++) {
        gn__watch_stop(&mw[i].w);
        gn__fd_unlink(&mw[i].link);
    }
    if (mw != stack)
        free(mw);
    return rc;
}

int64_t gn__patch_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t gn__patch_left_ms(int64_t deadline)
{
    int64_t left;

    if (deadline < 0)
        return -1;
    left = deadline - gn__patch_now_ms();
    return left > 0 ? left : 0;
}

int64_t gn__patch_sock_deadline(int fd, int opt)
{
    struct timeval tv;
    socklen_t len = sizeof(tv);
    int64_t ms;

    if (gn__sys_getsockopt(fd, SOL_SOCKET, opt, &tv, &len) != 0 ||
        (tv.tv_sec == 0 && tv.tv_usec == 0))
        return -1;
    /* Rounded up: a timeout never ends early. */
    ms = (int64_t)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
    return gn__patch_now_ms() + ms;
}
