/*
 * The Socket.IO adapter over Redis pub/sub: see sio_redis.h. A PUBLISH
 * waits (green) for Redis, at most two seconds; a failure is logged once
 * per outage, and the emit still reached this worker's sockets.
 */
#include "sio_redis.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "redis.h"
#include "redis_sub.h"

#define POOL 8
#define TIMEOUT 2.0

struct gn_sio_redis {
    gn_sio_t *sio;
    char *channel;
    gn_redis_pool_t *pool;
    gn_redis_sub_t *sub;
    int failing; /* the last PUBLISH failed: logged already */
};

static int publish(const void *msg, size_t len, void *ud)
{
    gn_sio_redis_t *r = ud;
    char err[200];
    int rc = gn_redis_publish(r->pool, r->channel, msg, len, TIMEOUT, err,
                              sizeof(err));

    if (rc >= 0) {
        r->failing = 0;
        return 0;
    }
    if (rc != -ECANCELED && !r->failing) {
        r->failing = 1;
        gn_log(GN_LOG_WARNING,
               "socketio: cannot publish on %s: %s (said once until it works "
               "again)",
               r->channel, err);
    }
    return rc;
}

static void on_message(const char *channel, const void *data, size_t len,
                       void *arg)
{
    gn_sio_redis_t *r = arg;

    (void)channel;
    if (gn_sio_deliver(r->sio, data, len) == -EBADMSG)
        gn_log(GN_LOG_WARNING,
               "socketio: %zu bytes on %s are no adapter message: dropped", len,
               channel);
}

GN_API gn_sio_redis_t *gn_sio_redis_start(gn_sio_t *sio, const char *host,
                                          int port, const char *channel)
{
    gn_redis_sub_opts_t opts = {.name = "socketio"};
    const char *channels[1];
    gn_sio_redis_t *r;
    int err;

    if (sio == NULL || host == NULL) {
        errno = EINVAL;
        return NULL;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->sio = sio;
    r->channel = strdup(channel ? channel : "greenicorn:socketio");
    r->pool = gn_redis_pool_new(host, port, POOL);
    errno = ENOMEM;
    if (r->channel != NULL && r->pool != NULL) {
        channels[0] = r->channel;
        r->sub =
            gn_redis_sub_start(host, port, channels, 1, on_message, r, &opts);
    }
    if (r->sub == NULL) {
        err = errno;
        gn_redis_pool_free(r->pool);
        free(r->channel);
        free(r);
        errno = err;
        return NULL;
    }
    /* In a worker (the subscription just proved it): PUBLISH waits green. */
    gn_redis_set_wait(gn_wait_fd);
    gn_sio_set_adapter(sio, publish, r);
    return r;
}

GN_API int gn_sio_redis_up(const gn_sio_redis_t *r)
{
    return r != NULL && gn_redis_sub_up(r->sub);
}

GN_API void gn_sio_redis_stop(gn_sio_redis_t *r)
{
    if (r == NULL)
        return;
    gn_sio_set_adapter(r->sio, NULL, NULL);
    gn_redis_sub_stop(r->sub);
    gn_redis_pool_free(r->pool);
    free(r->channel);
    free(r);
}
