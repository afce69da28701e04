/* Deadlines and the default wait of the cooperative clients (deadline.h). */
#include "deadline.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <time.h>

#include <greenicorn.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double gn_green_deadline(double timeout)
{
    return timeout < 0 || isnan(timeout) ? INFINITY : now() + timeout;
}

double gn_green_left(double end)
{
    double rest;

    if (isinf(end))
        return -1;
    rest = end - now();
    return rest > 0 ? rest : 0;
}

/* SECONDS as poll(2)'s milliseconds, rounded up: never early. */
static int poll_ms(double seconds)
{
    if (seconds < 0)
        return -1;
    if (seconds * 1000.0 >= (double)INT_MAX)
        return INT_MAX;
    return (int)ceil(seconds * 1000.0);
}

int gn_green_poll_wait(int fd, int events, double timeout)
{
    struct pollfd p = {.fd = fd};
    double end = gn_green_deadline(timeout);
    int n, ready = 0;

    if (fd < 0 || (events & (GN_WAIT_READ | GN_WAIT_WRITE)) == 0)
        return -EINVAL;
    p.events = (short)(((events & GN_WAIT_READ) ? POLLIN : 0) |
                       ((events & GN_WAIT_WRITE) ? POLLOUT : 0));
    do {
        n = poll(&p, 1, poll_ms(gn_green_left(end)));
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -ETIMEDOUT;
    if (p.revents & POLLNVAL)
        return -EBADF;
    /* A hang-up or an error is for the next read or write to report. */
    if (p.revents & (POLLIN | POLLHUP | POLLERR))
        ready |= GN_WAIT_READ & events;
    if (p.revents & (POLLOUT | POLLHUP | POLLERR))
        ready |= GN_WAIT_WRITE & events;
    return ready ? ready : events;
}
