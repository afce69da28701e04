/*
 * gn_redis_sub: one Redis subscription per worker, kept alive. A green
 * thread of the worker's own holds one connection in SUBSCRIBE mode and
 * calls the app's on_message for each message, in the order Redis sent
 * them; the way a gevent app runs `pubsub.listen()` in a greenlet and fans
 * messages out to its WebSockets. Publish from anywhere with
 * gn_redis_publish (redis.h).
 *
 * When Redis goes away (closes the connection, stops answering its PING)
 * the thread reconnects with a growing, bounded backoff, subscribes again
 * and goes on; the worker and its clients stay up. Redis keeps nothing for
 * a subscriber that is away: what was published meanwhile is not
 * delivered (pub/sub is at most once). The gap is logged once when it
 * starts and once when it ends, with how long it lasted:
 *
 *     [WARNING] chat: redis subscription to 127.0.0.1:6379 lost: Server
 *               closed the connection; reconnecting
 *     [INFO] chat: redis subscription to 127.0.0.1:6379 back after 2.4 s
 *            (messages published meanwhile were not received)
 *
 * Every wait has a limit: connecting and subscribing, each write, and
 * each PING's answer take at most opts->timeout; a connection silent for
 * opts->ping_interval is PINGed, so a Redis that hangs (or a peer that
 * vanished without a reset) is noticed too.
 *
 * The thread waits with gn_wait_fd always (green_db's hook is not needed
 * for it), so it only runs in a worker: start it in an app's init (not
 * with preload_app, where init runs in the arbiter). The worker cancels
 * it when it begins to stop (TERM, HUP, max_requests...): it ends at
 * once, closing its connection, and the worker exits without waiting for
 * it; fini then frees it with gn_redis_sub_stop.
 *
 * Link: part of libgn_redis (dependency gn_redis_dep in this tree;
 * pkg-config greenicorn-redis out of it), header <greenicorn/redis_sub.h>.
 * Since ABI 1.4.
 */
#ifndef GN_GREEN_REDIS_SUB_H
#define GN_GREEN_REDIS_SUB_H

#include <stddef.h>

typedef struct gn_redis_sub gn_redis_sub_t;

/* One message: CHANNEL (NUL-terminated) and LEN bytes of DATA (bytes:
 * may hold NULs; a NUL follows them, so text can be read as a string),
 * both valid until the call returns: copy what you keep. Runs in the
 * subscription's green thread, one message at a time: it may yield
 * (gn_ws_send to each socket, say), and the next message waits meanwhile
 * in the socket and in Redis (whose client-output-buffer-limit for pubsub
 * drops a subscriber that falls too far behind: the thread then
 * reconnects, and the gap is logged). Its green calls return -ECANCELED
 * once the worker stops. */
typedef void (*gn_redis_message_fn)(const char *channel, const void *data,
                                    size_t len, void *arg);

/* Optional settings; a zero field takes its default. */
typedef struct gn_redis_sub_opts {
    /* The log lines' prefix, the app's name: "chat". NULL: "redis-sub". */
    const char *name;
    /* Seconds for connecting and subscribing, for each write, and for the
     * answer to a PING. 0: 2. */
    double timeout;
    /* Seconds without a word from Redis after which it is PINGed. 0: 5. */
    double ping_interval;
    /* The first wait before reconnecting, doubled after each failed
     * attempt up to the last (with up to 25% taken off at random, so the
     * workers do not all knock at once); it starts over once a
     * connection held for backoff_max. 0: 0.1 and 2. */
    double backoff_min, backoff_max;
    /* Called in the thread when the subscription is up (UP = 1: every
     * channel subscribed) and when it is lost (0), each time it changes;
     * the first call is UP = 1 (once it is subscribed) or, if the first
     * attempt fails, UP = 0. NULL: none. May yield, like on_message. */
    void (*on_state)(int up, void *arg);
} gn_redis_sub_opts_t;

/*
 * Subscribe to the NCHANNELS CHANNELS (at least one; names, not patterns)
 * on the Redis at HOST:PORT (or the unix socket HOST, when it starts with
 * '/') and call ON_MESSAGE(channel, data, len, ARG) for each message, in
 * a green thread started now (it connects once the caller next waits; in
 * init, once the worker's loop runs). HOST, the channel names and OPTS
 * are copied. Call it from init, so the thread belongs to the worker
 * (from a request, it would be cancelled when the request ends). The
 * subscription, to free with gn_redis_sub_stop; or NULL with errno:
 * EINVAL (bad arguments), ENOMEM, or EAGAIN when no green thread could be
 * started (out of memory, or no worker loop: preload_app's init). Does
 * not yield. Since ABI 1.4.
 */
gn_redis_sub_t *gn_redis_sub_start(const char *host, int port,
                                   const char *const *channels,
                                   size_t nchannels,
                                   gn_redis_message_fn on_message, void *arg,
                                   const gn_redis_sub_opts_t *opts);

/* 1 while every channel is subscribed, 0 while connecting or
 * reconnecting (or once stopped). Since ABI 1.4. */
int gn_redis_sub_up(const gn_redis_sub_t *sub);

/* Messages delivered so far, and times the subscription was lost. Since
 * ABI 1.4. */
unsigned long long gn_redis_sub_messages(const gn_redis_sub_t *sub);
unsigned gn_redis_sub_losses(const gn_redis_sub_t *sub);

/*
 * Stop SUB (NULL is fine) and free it: its thread is cancelled (its
 * waits, on_message's included, return -ECANCELED) and joined, its
 * connection closed; on_message and on_state are not called after this
 * returns. In fini the thread has already ended (the worker cancelled it
 * when it began to stop). When the caller cannot wait for it (outside a
 * green thread while it still runs, or cancelled itself), or calls this
 * from on_message or on_state, the thread finishes the call it is in,
 * calls nothing more and frees SUB itself as it ends. May yield (at most
 * opts->timeout). Since ABI 1.4.
 */
void gn_redis_sub_stop(gn_redis_sub_t *sub);

#endif /* GN_GREEN_REDIS_SUB_H */
