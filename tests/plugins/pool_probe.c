/*
 * An app that runs blocking functions on the worker's thread pool
 * (gn_run_in_thread), for tests/e2e/test_threadpool.py:
 *
 *     /block?ms=M&timeout=T  usleep(M ms) on a pool thread (T seconds,
 *                            default 30): 200 "ok ..." naming the thread's
 *                            and the green API's view, 503 when the pool
 *                            is full (-EAGAIN), 504 on -ETIMEDOUT; on
 *                            -ECANCELED the handler returns it
 *     /hello                 answers at once, never touching the pool
 *
 * Its init runs one function through the pool too: outside a coroutine
 * that runs inline (in the arbiter under preload_app), and the log says
 * "pool_probe: init ran inline (rc R, same thread S)". A dropped call
 * logs "pool_probe: dropped after M ms (result R)".
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <greenicorn.h>

/* The number after "KEY=" in QUERY, or DEF. */
static double param(const char *query, const char *key, double def)
{
    size_t len = strlen(key);

    for (const char *p = query; p && *p; p = strchr(p, '&'), p = p ? p + 1 : p)
        if (strncmp(p, key, len) == 0 && p[len] == '=')
            return strtod(p + len + 1, NULL);
    return def;
}

/* One call's argument: owned by the handler until the call returns 0 or
 * an error that is not a drop, else by drop(). */
struct block {
    long ms;
    pthread_t caller;
    int green_rc; /* gn_sleep(0) on the pool thread: -EPERM */
    int same_thread;
};

static void *block_fn(void *arg)
{
    struct block *b = arg;

    b->same_thread = pthread_equal(pthread_self(), b->caller);
    b->green_rc = gn_sleep(0);
    usleep((useconds_t)b->ms * 1000); /* a plain blocking call */
    return (void *)(intptr_t)b->ms;
}

static void drop_block(void *arg, void *result)
{
    struct block *b = arg;

    gn_log(GN_LOG_WARNING, "pool_probe: dropped after %ld ms (result %ld)",
           b->ms, (long)(intptr_t)result);
    free(b);
}

static int block(gn_response_t *res, const char *query)
{
    struct block *b = calloc(1, sizeof(*b));
    void *result = NULL;
    int rc;

    if (b == NULL)
        return -ENOMEM;
    b->ms = (long)param(query, "ms", 50);
    b->caller = pthread_self();
    rc = gn_run_in_thread(block_fn, b, drop_block, param(query, "timeout", 30),
                          &result);
    if (rc == -ETIMEDOUT || rc == -ECANCELED)
        return rc == -ECANCELED ? rc : gn_response_status(res, 504, NULL);
    if (rc != 0) {
        free(b); /* refused: the function never had it */
        gn_response_status(res, rc == -EAGAIN ? 503 : 500, NULL);
        return gn_response_printf(res, "pool: %s\n", strerror(-rc));
    }
    rc =
        gn_response_printf(res, "ok %ld same_thread %d green %d\n",
                           (long)(intptr_t)result, b->same_thread, b->green_rc);
    free(b);
    return rc;
}

static int handle(gn_request_t *req, gn_response_t *res, void *state)
{
    const char *path = gn_request_path(req);

    (void)state;
    if (strcmp(path, "/block") == 0)
        return block(res, gn_request_query(req));
    if (strcmp(path, "/hello") == 0)
        return gn_response_write(res, "hello\n", 6);
    gn_response_status(res, 404, NULL);
    return 0;
}

static int init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct block b = {.ms = 1, .caller = pthread_self()};
    void *result = NULL;
    int rc;

    (void)args;
    (void)nargs;
    (void)state;
    rc = gn_run_in_thread(block_fn, &b, NULL, 1, &result);
    gn_log(GN_LOG_WARNING, "pool_probe: init ran inline (rc %d, %s %d)", rc,
           "same thread", b.same_thread);
    return rc;
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,
    .name = "pool_probe",
    .init = init,
    .handle = handle,
};
