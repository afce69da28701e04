/*
 * The time family: sleep, usleep, nanosleep and clock_nanosleep. In a
 * patched coroutine a sleep parks the coroutine on a loop timer instead of
 * the thread; anywhere else it is the C library's own call.
 *
 * The semantics kept: a sleep lasts at least what was asked (the loop's
 * timers have millisecond resolution, so a request is rounded up to the
 * next millisecond and an early wake-up parks again), an absolute
 * clock_nanosleep waits for its clock to reach the time, and nothing
 * invents EINTR: no signal can interrupt a parked coroutine. The one way
 * out early is a cancellation (the request's timeout, a graceful stop):
 * then the call fails with ECANCELED, as the socket family's calls do,
 * and reports the time left where the call has a way to (nanosleep's
 * REM, sleep's return value). Not EINTR: the usual retry loop
 * `while (nanosleep(&t, &t) == -1 && errno == EINTR)` would spin on the
 * loop's thread, since every wait of a cancelled coroutine returns at
 * once, while ECANCELED makes it give up.
 */
#include <errno.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "green/park.h"
#include "green/sys.h"
#include "patch/patch.h"

/* Exported from the executable whatever -fvisibility says. */
#define INTERPOSED __attribute__((visibility("default")))

#define NS 1000000000LL

/* Longer is forever: 4e9 s (126 years, past 2096 on the realtime clock)
 * keeps a clock's reading plus a sleep within int64_t nanoseconds. */
#define FOREVER_S 4000000000LL

static int64_t ts_ns(const struct timespec *ts)
{
    if (ts->tv_sec >= FOREVER_S)
        return FOREVER_S * NS;
    return (int64_t)ts->tv_sec * NS + ts->tv_nsec;
}

static struct timespec ns_ts(int64_t ns)
{
    if (ns < 0)
        ns = 0;
    return (struct timespec){.tv_sec = ns / NS, .tv_nsec = ns % NS};
}

static int valid(const struct timespec *ts)
{
    return ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < NS;
}

static int64_t now_ns(clockid_t clk)
{
    struct timespec ts;

    clock_gettime(clk, &ts);
    return ts_ns(&ts);
}

/*
 * Park until CLK reads DEADLINE (ns). 0, or the error a cancelled
 * coroutine's waits return (-ECANCELED); then *LEFT is the time left.
 */
static int park_until(clockid_t clk, int64_t deadline, int64_t *left)
{
    int64_t rest = deadline - now_ns(clk);
    int saved = errno, rc;

    *left = 0;
    /* A zero sleep still lets the others run, as it gives up the CPU. */
    if (rest <= 0)
        return gn__wait_ms(0);
    while (rest > 0) {
        rc = gn__wait_ms((rest + 999999) / 1000000);
        if (rc < 0) {
            *left = deadline - now_ns(clk);
            return rc;
        }
        rest = deadline - now_ns(clk);
    }
    errno = saved; /* a sleep that succeeds leaves errno alone */
    return 0;
}

/* The clocks a coroutine can wait for; others go to the C library. */
static int parkable(clockid_t clk)
{
    return clk == CLOCK_MONOTONIC || clk == CLOCK_REALTIME ||
           clk == CLOCK_BOOTTIME || clk == CLOCK_TAI;
}

/* A relative sleep of REQ on the monotonic clock. 0 or a negative errno;
 * *LEFT the time left when cancelled. */
static int park_for(const struct timespec *req, int64_t *left)
{
    return park_until(CLOCK_MONOTONIC, now_ns(CLOCK_MONOTONIC) + ts_ns(req),
                      left);
}

INTERPOSED int nanosleep(const struct timespec *req, struct timespec *rem)
{
    int64_t left;
    int rc;

    if (!gn__patch_on(GN_PATCH_TIME))
        return gn__sys.nanosleep(req, rem);
    if (!valid(req)) {
        errno = EINVAL;
        return -1;
    }
    rc = park_for(req, &left);
    if (rc == 0)
        return 0;
    if (rem != NULL)
        *rem = ns_ts(left);
    errno = -rc;
    return -1;
}

INTERPOSED int clock_nanosleep(clockid_t clk, int flags,
                               const struct timespec *req, struct timespec *rem)
{
    int64_t left = 0;
    int rc;

    if (!gn__patch_on(GN_PATCH_TIME) || !parkable(clk))
        return gn__sys.clock_nanosleep(clk, flags, req, rem);
    if (!valid(req))
        return EINVAL;
    if (flags & TIMER_ABSTIME)
        return -park_until(clk, ts_ns(req), &left);
    /* Relative: the clock chosen only matters for suspend, which a
     * worker's timers (monotonic) do not count either. */
    rc = park_for(req, &left);
    if (rc < 0 && rem != NULL)
        *rem = ns_ts(left);
    return -rc;
}

INTERPOSED int usleep(useconds_t us)
{
    struct timespec req = {.tv_sec = us / 1000000,
                           .tv_nsec = (long)(us % 1000000) * 1000};
    int64_t left;
    int rc;

    if (!gn__patch_on(GN_PATCH_TIME))
        return gn__sys.usleep(us);
    rc = park_for(&req, &left);
    if (rc == 0)
        return 0;
    errno = -rc;
    return -1;
}

INTERPOSED unsigned sleep(unsigned seconds)
{
    struct timespec req = {.tv_sec = seconds};
    int64_t left;
    int rc;

    if (!gn__patch_on(GN_PATCH_TIME))
        return gn__sys.sleep(seconds);
    rc = park_for(&req, &left);
    if (rc == 0)
        return 0;
    /* The seconds not slept, rounded up as glibc does; errno says why. */
    errno = -rc;
    return (unsigned)((left + NS - 1) / NS);
}
