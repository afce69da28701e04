/*
 * An app whose handler holds the worker's loop, for tests/e2e/test_dump.py
 * (live introspection: the dump's backtrace and max_blocking_ms' warning):
 *
 *     /spin?ms=M    spins M ms (default 2000) in spin_in_place, a static
 *                   function (so only the .so's .symtab names it: the
 *                   backtrace must read that), then answers "spun"
 *     /sleep?ms=M   a green sleep of M ms (default 1000), then "slept"
 *     /thread?ms=M  spawns a green thread (thread_waits) that waits on an
 *                   event, and waits on it too for M ms (default 1000):
 *                   the thread ends with the request; "spawned"
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <greenicorn.h>

/* The number after "KEY=" in QUERY, or DEF. */
static long param(const char *query, const char *key, long def)
{
    size_t len = strlen(key);

    for (const char *p = query; p && *p; p = strchr(p, '&'), p = p ? p + 1 : p)
        if (strncmp(p, key, len) == 0 && p[len] == '=')
            return strtol(p + len + 1, NULL, 10);
    return def;
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* Not inlined, not exported: the backtrace must name it from .symtab. */
static volatile unsigned long spins;

__attribute__((noinline)) static void spin_in_place(long ms)
{
    long until = now_ms() + ms;

    /* Mostly in this frame: the clock is read once a million turns. */
    while (now_ms() < until)
        for (int i = 0; i < 1000000; i++)
            spins++;
}

static gn_event_t *forever;

/* Exported, so the listing names it (dladdr). */
GN_EXPORT int thread_waits(void *arg);

int thread_waits(void *arg)
{
    (void)arg;
    return gn_event_wait(forever, -1);
}

static int handle(gn_request_t *req, gn_response_t *res, void *state)
{
    const char *path = gn_request_path(req);
    const char *query = gn_request_query(req);

    (void)state;
    if (strcmp(path, "/spin") == 0) {
        spin_in_place(param(query, "ms", 2000));
        return gn_response_write(res, "spun\n", 5);
    }
    if (strcmp(path, "/sleep") == 0) {
        int rc = gn_sleep((double)param(query, "ms", 1000) / 1000.0);

        return rc != 0 ? rc : gn_response_write(res, "slept\n", 6);
    }
    if (strcmp(path, "/thread") == 0) {
        if (forever == NULL)
            forever = gn_event_new();
        if (forever == NULL || gn_spawn(thread_waits, NULL) == NULL) {
            gn_response_status(res, 500, NULL);
            return 0;
        }
        gn_event_wait(forever, (double)param(query, "ms", 1000) / 1000.0);
        return gn_response_write(res, "spawned\n", 8);
    }
    gn_response_status(res, 404, NULL);
    return 0;
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,
    .name = "spin_probe",
    .handle = handle,
};
