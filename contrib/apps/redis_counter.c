/*
 * redis-counter: a hit counter kept in Redis, the smallest app on a
 * cooperative database client (contrib/green/redis.h). Every GET (or
 * POST), whatever the path, runs INCR on one key and answers 200
 * text/plain with the new value:
 *
 *     GET /                    200 "42\n"
 *
 * When Redis cannot be had (it is down, it does not answer within
 * `timeout`, or all the worker's connections stay busy that long) the
 * answer is 503 with a short text body, and one line of the error log
 * names the server and the reason:
 *
 *     [...] [ERROR] redis-counter: 127.0.0.1:6379: Connection refused
 *
 * The worker goes on serving; once Redis is back, the next request
 * connects again. Another method is 405 (INCR is not for HEAD).
 *
 *     [app]
 *     module = build/contrib/apps/redis-counter.so
 *
 * (built in this tree; out of it, against an installed greenicorn:
 * cc -shared -fPIC -o redis-counter.so redis_counter.c
 *    $(pkg-config --cflags --libs greenicorn-redis), docs/plugins.md
 * section 9)
 *
 *     [app.args]
 *     host = 127.0.0.1         Redis's address or name, or the path of
 *                              its unix socket (starting with '/')
 *     port = 6379
 *     key = greenicorn:counter the key INCR counts in
 *     pool = 16                connections per worker, at most; a request
 *                              finding them all busy waits for one
 *     timeout = 2              seconds a request may spend on Redis in
 *                              all: waiting for a connection, connecting,
 *                              the command and its reply
 *
 *     [hooks]
 *     post_fork = build/contrib/hooks/green_db.so
 *
 * The green_db hook makes the client wait with gn_wait_fd, so a request
 * waiting for Redis lets the worker serve the others. Without it the app
 * still works, but each such wait blocks the whole worker (poll(2)).
 *
 * Each worker has its own pool, made in init and closed in fini; it
 * connects on the first request, not in init (which may run in the
 * arbiter, with preload_app, and its connections would be shared by
 * every worker forked from it).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <greenicorn.h>

#include <greenicorn/redis.h>

struct counter {
    const char *host; /* the args' strings live as long as the worker */
    int port;
    const char *key;
    int pool_size;
    double timeout;
    char where[300]; /* "host:port", or the socket's path, for the log */
    gn_redis_pool_t *pool;
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Redis failed this request for REASON (errno ERR): 503, and one line in
 * the log. A cancelled request (request_timeout passed, or its client
 * left with cancel_on_disconnect on) is the server's to answer and log. */
static int unavailable(gn_response_t *res, const struct counter *st, int err,
                       const char *reason)
{
    if (err == ECANCELED)
        return -ECANCELED;
    gn_log(GN_LOG_ERROR, "redis-counter: %s: %s", st->where, reason);
    gn_response_status(res, 503, NULL);
    gn_response_header(res, "Content-Type", "text/plain");
    return gn_response_printf(res, "redis unavailable\n");
}

/* INCR on C within TIMEOUT: 0 with the value in *VALUE, or the errno
 * with REASON filled. BROKEN says whether C must be dropped. */
static int incr(const struct counter *st, redisContext *c, double timeout,
                long long *value, char *reason, size_t len, int *broken)
{
    redisReply *r = gn_redis_command(c, timeout, "INCR %s", st->key);
    int err = 0;

    *broken = r == NULL;
    if (r == NULL) {
        err = errno;
        snprintf(reason, len, "%s", c->errstr);
        return err;
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        *value = r->integer;
    } else {
        /* Redis answered, but not a count: "WRONGTYPE..." for a key that
         * holds a string. The connection is fine. */
        err = EPROTO;
        snprintf(reason, len, "INCR %s: %s", st->key,
                 r->type == REDIS_REPLY_ERROR ? r->str : "not an integer");
    }
    freeReplyObject(r);
    return err;
}

static int counter_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    struct counter *st = state;
    const char *method = gn_request_method(req);
    double start = now();
    char reason[256];
    redisContext *c;
    long long value = 0;
    int err, broken;

    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0) {
        gn_response_status(res, 405, NULL);
        gn_response_header(res, "Allow", "GET, POST");
        gn_response_header(res, "Content-Type", "text/plain");
        return gn_response_printf(res, "GET or POST increments\n");
    }
    c = gn_redis_pool_get(st->pool, st->timeout, reason, sizeof(reason));
    if (c == NULL)
        return unavailable(res, st, errno, reason);
    err = incr(st, c, fmax(st->timeout - (now() - start), 0), &value, reason,
               sizeof(reason), &broken);
    gn_redis_pool_put(st->pool, c, broken);
    if (err != 0)
        return unavailable(res, st, err, reason);
    gn_response_header(res, "Content-Type", "text/plain");
    return gn_response_printf(res, "%lld\n", value);
}

/* An integer argument in [MIN, MAX]: 0, or -EINVAL. */
static int parse_int(const char *value, int min, int max, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < min || v > max)
        return -EINVAL;
    *out = (int)v;
    return 0;
}

static int parse_timeout(const char *value, double *out)
{
    char *end;
    double v = strtod(value, &end);

    if (end == value || *end != '\0' || !isfinite(v) || v <= 0)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_arg(struct counter *st, const gn_app_arg_t *a)
{
    if (strcmp(a->name, "host") == 0 && a->value[0] != '\0')
        st->host = a->value;
    else if (strcmp(a->name, "key") == 0 && a->value[0] != '\0')
        st->key = a->value;
    else if (strcmp(a->name, "port") == 0)
        return parse_int(a->value, 1, 65535, &st->port);
    else if (strcmp(a->name, "pool") == 0)
        return parse_int(a->value, 1, 100000, &st->pool_size);
    else if (strcmp(a->name, "timeout") == 0)
        return parse_timeout(a->value, &st->timeout);
    else
        return -EINVAL;
    return 0;
}

static int counter_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct counter *st = calloc(1, sizeof(*st));
    int rc = -EINVAL;

    if (st == NULL)
        return -ENOMEM;
    *st = (struct counter){.host = "127.0.0.1",
                           .port = 6379,
                           .key = "greenicorn:counter",
                           .pool_size = 16,
                           .timeout = 2};
    for (size_t i = 0; i < nargs; i++) {
        if (parse_arg(st, &args[i]) != 0) {
            gn_log(GN_LOG_ERROR, "redis-counter: bad argument %s = '%s'",
                   args[i].name, args[i].value);
            goto fail;
        }
    }
    if (st->host[0] == '/')
        snprintf(st->where, sizeof(st->where), "%s", st->host);
    else
        snprintf(st->where, sizeof(st->where), "%s:%d", st->host, st->port);
    if ((st->pool = gn_redis_pool_new(st->host, st->port, st->pool_size)) ==
        NULL) {
        gn_log(GN_LOG_ERROR, "redis-counter: out of memory");
        rc = -ENOMEM;
        goto fail;
    }
    *state = st;
    return 0;

fail:
    free(st);
    return rc;
}

static void counter_fini(void *state)
{
    struct counter *st = state;

    gn_redis_pool_free(st->pool);
    free(st);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,        .name = "redis-counter",
    .init = counter_init, .handle = counter_handle,
    .fini = counter_fini,
};
