/*
 * stream_probe: a stream app for the e2e tests of stream lifecycles. It
 * answers one command per line:
 *
 *     pid        "pid=N\n": the worker serving this connection
 *     stopping   "stopping=0\n" or "stopping=1\n" (gn_stream_stopping)
 *     park       waits in gn_stream_read with no timeout, then logs
 *                "stream_probe: parked read returned N (strerror)" and
 *                returns (a worker past graceful_timeout cancels it)
 *     sleep S    sleeps S seconds (gn_sleep), then "slept\n"
 *     spin S     spins S seconds without yielding, then "spun\n"
 *     anything   echoed back
 *
 * and logs "stream_probe: handle returns N" as it returns.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <greenicorn.h>

static ssize_t reply(gn_stream_t *s, const char *text)
{
    return gn_stream_write(s, text, strlen(text), 10.0);
}

static ssize_t command(gn_stream_t *s, char *line)
{
    char out[64];
    ssize_t n;

    if (strcmp(line, "pid\n") == 0) {
        snprintf(out, sizeof(out), "pid=%d\n", (int)getpid());
        return reply(s, out);
    }
    if (strcmp(line, "stopping\n") == 0) {
        snprintf(out, sizeof(out), "stopping=%d\n", gn_stream_stopping(s));
        return reply(s, out);
    }
    if (strcmp(line, "park\n") == 0) {
        n = gn_stream_read(s, out, sizeof(out), -1);
        gn_log(GN_LOG_INFO, "stream_probe: parked read returned %zd (%s)", n,
               n < 0 ? strerror((int)-n) : "data");
        return n < 0 ? n : -EPIPE;
    }
    if (strncmp(line, "spin ", 5) == 0) {
        struct timespec t0, t;
        double secs = atof(line + 5);

        clock_gettime(CLOCK_MONOTONIC, &t0);
        do
            clock_gettime(CLOCK_MONOTONIC, &t);
        while ((double)(t.tv_sec - t0.tv_sec) +
                   (double)(t.tv_nsec - t0.tv_nsec) / 1e9 <
               secs);
        return reply(s, "spun\n");
    }
    if (strncmp(line, "sleep ", 6) == 0) {
        int rc = gn_sleep(atof(line + 6));

        return rc < 0 ? rc : reply(s, "slept\n");
    }
    return reply(s, line);
}

static int handle(gn_stream_t *s, void *state)
{
    char line[256];
    ssize_t n;

    (void)state;
    for (;;) {
        n = gn_stream_read_until(s, line, sizeof(line) - 1, "\n", 60.0);
        if (n <= 0)
            break;
        line[n] = '\0';
        if ((n = command(s, line)) < 0)
            break;
    }
    gn_log(GN_LOG_INFO, "stream_probe: handle returns %zd", n);
    return n < 0 ? (int)n : 0;
}

GN_EXPORT const gn_stream_app_t greenicorn_stream_app = {
    GN_STREAM_APP_HEADER,
    .name = "stream_probe",
    .handle = handle,
};
