/*
 * gn_sio_redis: the Socket.IO adapter over Redis pub/sub, so that an
 * emit to a room or a broadcast (gn_sio_emit_to) reaches the sockets of
 * every worker and every greenicorn host sharing the Redis, each once.
 * Each worker holds one subscription to the channel (redis_sub.h) and
 * hands what arrives to gn_sio_deliver; each emit is PUBLISHed from a
 * pool of connections (redis.h). The emitting worker delivers its own
 * sockets at once and skips its message when it comes back, so local
 * members get it even while Redis is away; other workers miss what is
 * published while their subscription is down (logged by redis_sub).
 *
 * Link: part of libgn_redis (dependency gn_redis_dep in this tree).
 */
#ifndef GN_GREEN_SIO_REDIS_H
#define GN_GREEN_SIO_REDIS_H

#include <greenicorn.h>

typedef struct gn_sio_redis gn_sio_redis_t;

/*
 * Make SIO's adapter publish on CHANNEL (NULL: "greenicorn:socketio") of
 * the Redis at HOST:PORT (or the unix socket HOST) and deliver what the
 * channel carries. Call in the app's init, in the worker (the
 * subscription's green thread is the worker's). NULL with errno (EINVAL,
 * ENOMEM, EAGAIN: no worker loop, as under preload_app).
 */
gn_sio_redis_t *gn_sio_redis_start(gn_sio_t *sio, const char *host, int port,
                                   const char *channel);

/* 1 while the subscription is up. */
int gn_sio_redis_up(const gn_sio_redis_t *r);

/* Detach from SIO's adapter, stop the subscription and free R (NULL is
 * fine), in fini, before gn_sio_free. May yield. */
void gn_sio_redis_stop(gn_sio_redis_t *r);

#endif /* GN_GREEN_SIO_REDIS_H */
