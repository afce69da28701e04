/*
 * block_redis: one request, one blocking BLPOP through hiredis's ordinary
 * synchronous API (redisConnectWithTimeout, redisCommand), unmodified: the
 * patch_all matrix's hiredis row (tests/e2e/test_patch_matrix.py). With
 * patch_all on, hiredis's connect, poll, write and read park the request;
 * off, they block the worker for as long as Redis takes to answer.
 *
 *     [app:redis]
 *     module = build/tests/plugins/block_redis.so
 *     mount = /redis
 *
 *     [app:redis.args]
 *     port = 6379              required
 *     host = 127.0.0.1         an address (default 127.0.0.1)
 *     key = matrix:list        the list BLPOP waits on (default)
 *     wait = 0.1               BLPOP's timeout in seconds (default 0.1)
 *
 * Each request answers 200 text/plain "nil\n" when BLPOP timed out, or
 * "popped VALUE\n"; 503 with hiredis's error when Redis cannot be reached
 * or the connection broke (which is then closed, not reused).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "block.h"

/* Every socket call of hiredis waits at most this long. */
static const struct timeval io_timeout = {5, 0};

struct block_redis {
    const char *host, *key, *wait;
    int port;
    struct block_pool pool;
};

static void close_context(void *c)
{
    redisFree(c);
}

/* An idle connection, or a new one; NULL with the reason in ERR. */
static redisContext *get_context(struct block_redis *br, char *err, size_t len)
{
    redisContext *c = block_pool_take(&br->pool);

    if (c != NULL)
        return c;
    c = redisConnectWithTimeout(br->host, br->port, io_timeout);
    if (c == NULL) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    if (c->err == 0 && redisSetTimeout(c, io_timeout) == REDIS_OK)
        return c;
    snprintf(err, len, "connect to %s:%d: %s", br->host, br->port,
             c->err ? c->errstr : "cannot set the timeout");
    redisFree(c);
    return NULL;
}

static int answer(gn_response_t *res, const redisReply *r)
{
    gn_response_header(res, "Content-Type", "text/plain");
    if (r->type == REDIS_REPLY_NIL)
        return gn_response_write(res, "nil\n", 4);
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_STRING)
        return gn_response_printf(res, "popped %s\n", r->element[1]->str);
    gn_response_status(res, 502, NULL);
    return gn_response_printf(res, "unexpected reply type %d: %s\n", r->type,
                              r->type == REDIS_REPLY_ERROR ? r->str : "");
}

static int redis_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    struct block_redis *br = state;
    char err[256];
    redisContext *c;
    redisReply *r;
    int rc;

    (void)req;
    if ((c = get_context(br, err, sizeof(err))) == NULL)
        return block_fail(res, 503, "block_redis", "%s", err);
    r = redisCommand(c, "BLPOP %s %s", br->key, br->wait);
    if (r == NULL) {
        rc = block_fail(res, 503, "block_redis", "BLPOP: %s", c->errstr);
        redisFree(c);
        return rc;
    }
    rc = answer(res, r);
    freeReplyObject(r);
    block_pool_give(&br->pool, c);
    return rc;
}

static int redis_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct block_redis *br = calloc(1, sizeof(*br));
    const char *port = block_arg(args, nargs, "port", NULL);

    if (br == NULL)
        return -ENOMEM;
    if (port == NULL || (br->port = atoi(port)) <= 0 || br->port > 65535) {
        gn_log(GN_LOG_ERROR, "block_redis: the port argument is required "
                             "(1 to 65535)");
        free(br);
        return -EINVAL;
    }
    br->host = block_arg(args, nargs, "host", "127.0.0.1");
    br->key = block_arg(args, nargs, "key", "matrix:list");
    br->wait = block_arg(args, nargs, "wait", "0.1");
    br->pool.close = close_context;
    *state = br;
    return 0;
}

static void redis_fini(void *state)
{
    struct block_redis *br = state;

    block_pool_drain(&br->pool);
    free(br);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,
    .name = "block_redis",
    .init = redis_init,
    .handle = redis_handle,
    .fini = redis_fini,
};
