/*
 * The select family: poll, ppoll, select, pselect and the fortified
 * __poll_chk / __ppoll_chk.
 *
 * In a patched coroutine each asks the kernel first with a zero timeout;
 * when nothing is ready and the caller would wait, the coroutine parks on
 * all the descriptors at once (gn__patch_wait_many) with the caller's
 * timeout, then asks the kernel again, with a zero timeout, for the exact
 * answer (a wake-up the kernel does not confirm parks again for the time
 * left). A descriptor closed by another coroutine meanwhile wakes the
 * park, and the kernel then reports POLLNVAL for it (EBADF from select),
 * as for any closed descriptor. The signal masks of ppoll and pselect
 * apply to the kernel's answers, not to the park (the loop keeps its own
 * mask). select keeps Linux's habit of leaving the time not slept in
 * *timeout. A cancelled coroutine's call fails with ECANCELED.
 */
#undef _FORTIFY_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include "green/park.h"
#include "green/sys.h"
#include "patch/patch.h"
#include "patch/wait.h"

/* How the kernel answers, with a zero timeout, for the caller's set. */
struct ask {
    int (*fn)(struct ask *a);
    struct pollfd *fds;
    nfds_t n;
    const sigset_t *mask;
    /* select's sets: the caller's (answered into) and their copies */
    int nfds;
    fd_set *set[3];
    fd_set copy[3];
};

/* Park, as ASK says, until the kernel reports something or TIMEOUT_MS
 * passes (< 0: no limit): the kernel's count, 0, or -1 with errno. The
 * first answer is already known to be 0. */
static int wait_and_ask(struct ask *a, const struct pollfd *fds, nfds_t n,
                        int64_t timeout_ms)
{
    int saved = errno, rc, idle = 0;
    int64_t deadline = timeout_ms < 0 ? -1 : gn__patch_now_ms() + timeout_ms;

    for (;;) {
        int64_t left = gn__patch_left_ms(deadline);

        /* Twice woken for nothing the kernel confirms (urgent data asked
         * for, normal data came): look again in a while, not at once. */
        if (idle >= 2)
            rc = gn__wait_ms(left >= 0 && left < 10 ? left : 10);
        else
            rc = left == 0 ? -ETIMEDOUT : gn__patch_wait_many(fds, n, left);
        if (rc < 0 && rc != -ETIMEDOUT && rc != -EBADF) {
            errno = -rc;
            return -1;
        }
        rc = a->fn(a);
        if (rc != 0 || gn__patch_left_ms(deadline) == 0) {
            if (rc >= 0)
                errno = saved;
            return rc;
        }
        idle++;
    }
}

/* ---- poll ---------------------------------------------------------------- */

static int ask_poll(struct ask *a)
{
    static const struct timespec zero;

    if (a->mask != NULL)
        return gn__sys.ppoll(a->fds, a->n, &zero, a->mask);
    return gn__sys_poll(a->fds, a->n, 0);
}

static int coop_poll(struct pollfd *fds, nfds_t n, int64_t timeout_ms,
                     const sigset_t *mask)
{
    struct ask a = {.fn = ask_poll, .fds = fds, .n = n, .mask = mask};
    int rc = ask_poll(&a);

    if (rc != 0 || timeout_ms == 0)
        return rc;
    return wait_and_ask(&a, fds, n, timeout_ms);
}

GN_INTERPOSE int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    if (!gn__patch_on(GN_PATCH_SELECT))
        return gn__sys_poll(fds, n, timeout);
    return coop_poll(fds, n, timeout < 0 ? -1 : timeout, NULL);
}

/* TS as milliseconds, rounded up (NULL: -1, no limit); -2 when invalid. */
static int64_t ts_ms(const struct timespec *ts)
{
    if (ts == NULL)
        return -1;
    if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)
        return -2;
    return (int64_t)ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000;
}

GN_INTERPOSE int ppoll(struct pollfd *fds, nfds_t n,
                       const struct timespec *timeout, const sigset_t *mask)
{
    int64_t ms;

    if (!gn__patch_on(GN_PATCH_SELECT))
        return gn__sys.ppoll(fds, n, timeout, mask);
    ms = ts_ms(timeout);
    if (ms == -2) {
        errno = EINVAL;
        return -1;
    }
    return coop_poll(fds, n, ms, mask);
}

GN_INTERPOSE int __poll_chk(struct pollfd *fds, nfds_t n, int timeout,
                            size_t fdslen);
GN_INTERPOSE int __ppoll_chk(struct pollfd *fds, nfds_t n,
                             const struct timespec *timeout,
                             const sigset_t *mask, size_t fdslen);
extern void __chk_fail(void) __attribute__((noreturn));

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
    if (fdslen / sizeof(*fds) < n)
        __chk_fail();
    return poll(fds, n, timeout);
}

int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *timeout,
                const sigset_t *mask, size_t fdslen)
{
    if (fdslen / sizeof(*fds) < n)
        __chk_fail();
    return ppoll(fds, n, timeout, mask);
}

/* ---- select -------------------------------------------------------------- */

static int ask_select(struct ask *a)
{
    struct timespec zero = {0};

    for (int i = 0; i < 3; i++)
        if (a->set[i] != NULL)
            *a->set[i] = a->copy[i];
    return gn__sys.pselect(a->nfds, a->set[0], a->set[1], a->set[2], &zero,
                           a->mask);
}

/* The descriptors of A's sets as pollfds, into FDS (room for N): how
 * many. */
static nfds_t select_fds(const struct ask *a, struct pollfd *fds)
{
    static const short ev[3] = {POLLIN, POLLOUT, POLLPRI};
    nfds_t n = 0;

    for (int fd = 0; fd < a->nfds; fd++) {
        short events = 0;

        for (int i = 0; i < 3; i++)
            if (a->set[i] != NULL && FD_ISSET(fd, &a->copy[i]))
                events |= ev[i];
        if (events != 0)
            fds[n++] = (struct pollfd){.fd = fd, .events = events};
    }
    return n;
}

static int coop_select(int nfds, fd_set *r, fd_set *w, fd_set *e,
                       int64_t timeout_ms, const sigset_t *mask)
{
    struct ask a = {
        .fn = ask_select, .mask = mask, .nfds = nfds, .set = {r, w, e}};
    struct pollfd stack[16], *fds = stack;
    nfds_t n;
    int rc;

    for (int i = 0; i < 3; i++)
        if (a.set[i] != NULL)
            a.copy[i] = *a.set[i];
    rc = ask_select(&a);
    if (rc != 0 || timeout_ms == 0)
        return rc;
    if (nfds > (int)(sizeof(stack) / sizeof(*stack))) {
        fds = calloc((size_t)nfds, sizeof(*fds));
        if (fds == NULL) {
            errno = ENOMEM;
            return -1;
        }
    }
    n = select_fds(&a, fds);
    rc = wait_and_ask(&a, fds, n, timeout_ms);
    if (fds != stack)
        free(fds);
    return rc;
}

/* TV as milliseconds, rounded up (NULL: -1); -2 when invalid. */
static int64_t tv_ms(const struct timeval *tv)
{
    if (tv == NULL)
        return -1;
    if (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000)
        return -2;
    return (int64_t)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000;
}

GN_INTERPOSE int select(int nfds, fd_set *restrict r, fd_set *restrict w,
                        fd_set *restrict e, struct timeval *restrict timeout)
{
    int64_t ms, start;
    int rc;

    if (!gn__patch_on(GN_PATCH_SELECT))
        return gn__sys.select(nfds, r, w, e, timeout);
    /* Past FD_SETSIZE the sets are the caller's own larger arrays, which
     * this code does not read: the C library's call (it blocks). */
    if (nfds > FD_SETSIZE)
        return gn__sys.select(nfds, r, w, e, timeout);
    ms = tv_ms(timeout);
    if (nfds < 0 || ms == -2) {
        errno = EINVAL;
        return -1;
    }
    start = gn__patch_now_ms();
    rc = coop_select(nfds, r, w, e, ms, NULL);
    if (timeout != NULL && ms > 0) {
        /* Linux leaves the time not slept. */
        int64_t left = ms - (gn__patch_now_ms() - start);

        if (left < 0)
            left = 0;
        timeout->tv_sec = left / 1000;
        timeout->tv_usec = (left % 1000) * 1000;
    }
    return rc;
}

GN_INTERPOSE int pselect(int nfds, fd_set *restrict r, fd_set *restrict w,
                         fd_set *restrict e,
                         const struct timespec *restrict timeout,
                         const sigset_t *restrict mask)
{
    int64_t ms;

    if (!gn__patch_on(GN_PATCH_SELECT) || nfds > FD_SETSIZE)
        return gn__sys.pselect(nfds, r, w, e, timeout, mask);
    ms = ts_ms(timeout);
    if (nfds < 0 || ms == -2) {
        errno = EINVAL;
        return -1;
    }
    return coop_select(nfds, r, w, e, ms, mask);
}
