/*
 * gn_redis: hiredis, cooperative. Commands go through hiredis's
 * non-blocking context (the socket connected with gn_connect_tcp or
 * gn_connect_unix); whenever the socket would block, the installed wait
 * function waits (poll(2), or gn_wait_fd once green_db's post_fork hook
 * ran). A small per-worker pool hands connections to requests, and
 * publishes (gn_redis_publish); redis_sub.h keeps one subscription per
 * worker.
 *
 * Failures: a call that returns NULL also sets errno -- ETIMEDOUT when
 * its TIMEOUT passed, ECANCELED when the calling green thread was
 * cancelled (the handler should then return -ECANCELED), ECONNREFUSED,
 * ECONNRESET... hiredis writes with write(2): greenicorn's workers ignore
 * SIGPIPE; another process using this library must too.
 *
 * Link: dependency gn_redis_dep in this tree; installed as
 * LIBDIR/greenicorn/green/libgn_redis.so with <greenicorn/redis.h>.
 */
#ifndef GN_GREEN_REDIS_H
#define GN_GREEN_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "wait.h"

/* Wait with WAIT from now on (NULL: poll(2) again). */
void gn_redis_set_wait(gn_green_wait_fn wait);

/* Connect to HOST:PORT (or the unix socket PATH when HOST starts with
 * '/') within TIMEOUT seconds. A non-blocking context to free with
 * redisFree (run commands with gn_redis_command: hiredis's redisCommand
 * would only queue them), or NULL with ERR (ERRLEN bytes) saying why
 * ("Connection refused"). May yield. */
redisContext *gn_redis_connect(const char *host, int port, double timeout,
                               char *err, size_t errlen);

/* Run one command (printf-style, as redisCommand) within TIMEOUT seconds,
 * one deadline for sending it and reading the whole reply: the reply
 * (freeReplyObject it; a REDIS_REPLY_ERROR reply is Redis's answer), or
 * NULL when the connection failed or the time ran out (C->errstr says
 * why, errno as above; the connection is then unusable: drop it). May
 * yield. */
redisReply *gn_redis_command(redisContext *c, double timeout, const char *fmt,
                             ...) __attribute__((format(printf, 3, 4)));

/* gn_redis_command with the command as ARGC arguments, each ARGV[i] of
 * ARGVLEN[i] bytes (binary-safe; ARGVLEN NULL: NUL-terminated strings),
 * as redisCommandArgv. Since ABI 1.4. */
redisReply *gn_redis_command_argv(redisContext *c, double timeout, int argc,
                                  const char **argv, const size_t *argvlen);

/* A pool of at most SIZE connections to HOST:PORT (HOST copied), for one
 * worker: create it in an app's init (it connects nothing until asked)
 * and free it in fini. NULL when out of memory or SIZE < 1. */
typedef struct gn_redis_pool gn_redis_pool_t;
gn_redis_pool_t *gn_redis_pool_new(const char *host, int port, int size);

/* A connection: an idle one, a new one, or (all SIZE in use) the next one
 * put back, within TIMEOUT seconds. An idle connection the server closed
 * meanwhile is dropped, not handed out. NULL with ERR when none could be
 * had (the server down: "Connection refused"...; outside a green thread,
 * all in use: EWOULDBLOCK). May yield. */
redisContext *gn_redis_pool_get(gn_redis_pool_t *pool, double timeout,
                                char *err, size_t errlen);

/* Give C back; BROKEN (a command returned NULL) closes it instead, and
 * the next get connects anew. Every connection got must be put back,
 * even when the request is cancelled. */
void gn_redis_pool_put(gn_redis_pool_t *pool, redisContext *c, int broken);

/* Close the idle connections and free POOL (NULL is fine), once every
 * connection got was put back. */
void gn_redis_pool_free(gn_redis_pool_t *pool);

/* PUBLISH LEN bytes of DATA (binary-safe) on CHANNEL through a
 * connection of POOL, within TIMEOUT seconds in all (waiting for a
 * connection included). The number of subscribers Redis delivered it to
 * (>= 0: Redis counts each subscribed connection, so one per worker
 * running a gn_redis_sub on CHANNEL, see redis_sub.h), or a negative
 * errno with ERR (ERRLEN bytes) saying why: as gn_redis_pool_get and
 * gn_redis_command, or -EPROTO when Redis answered with an error (the
 * message was not published). May yield. Since ABI 1.4. */
int gn_redis_publish(gn_redis_pool_t *pool, const char *channel,
                     const void *data, size_t len, double timeout, char *err,
                     size_t errlen);

#endif /* GN_GREEN_REDIS_H */
