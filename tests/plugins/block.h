/*
 * What the blocking test plugins (block_*.c, the patch_all matrix) share:
 * a worker's stack of idle connections, app arguments by name, and a 503
 * that says why. The plugins call their client libraries' ordinary
 * blocking APIs, unmodified; only patch_all (or its absence) decides
 * whether a call parks the request's coroutine or blocks the worker.
 *
 * The stack needs no lock: a worker runs its coroutines on one thread, and
 * a take or a give never yields.
 */
#ifndef GN_TESTS_PLUGINS_BLOCK_H
#define GN_TESTS_PLUGINS_BLOCK_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <greenicorn.h>

/* More idle connections than the matrix's 50 concurrent requests need. */
#define BLOCK_POOL_MAX 256

/* The idle connections of one worker: opened by a request that found none,
 * given back by it when they are still good. */
struct block_pool {
    void *idle[BLOCK_POOL_MAX];
    size_t n;
    void (*close)(void *conn); /* the library's close or free */
};

/* An idle connection, or NULL: the caller then opens one. */
static inline void *block_pool_take(struct block_pool *p)
{
    return p->n > 0 ? p->idle[--p->n] : NULL;
}

/* CONN (still good) back for the next request; closed when the stack is
 * full. */
static inline void block_pool_give(struct block_pool *p, void *conn)
{
    if (p->n < BLOCK_POOL_MAX)
        p->idle[p->n++] = conn;
    else
        p->close(conn);
}

/* Close every idle connection (the app's fini). */
static inline void block_pool_drain(struct block_pool *p)
{
    while (p->n > 0)
        p->close(p->idle[--p->n]);
}

/* The value of the app argument NAME, or DEFVAL. Points into the config:
 * valid as long as the worker. */
static inline const char *block_arg(const gn_app_arg_t *args, size_t nargs,
                                    const char *name, const char *defval)
{
    for (size_t i = 0; i < nargs; i++)
        if (strcmp(args[i].name, name) == 0)
            return args[i].value;
    return defval;
}

/* Answer STATUS with "APP: WHY\n" as text/plain, and log the same line. */
static inline int block_fail(gn_response_t *res, int status, const char *app,
                             const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static inline int block_fail(gn_response_t *res, int status, const char *app,
                             const char *fmt, ...)
{
    char why[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    gn_log(GN_LOG_ERROR, "%s: %s", app, why);
    gn_response_status(res, status, NULL);
    gn_response_header(res, "Content-Type", "text/plain");
    return gn_response_printf(res, "%s: %s\n", app, why);
}

#endif /* GN_TESTS_PLUGINS_BLOCK_H */
