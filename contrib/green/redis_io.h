/*
 * What redis.c lends the subscription (redis_sub.c), hidden in the
 * library: sending a context's queued commands with a given wait
 * function, and hiredis's error as an errno. The subscription always
 * waits with gn_wait_fd, whatever wait the pool was given: it waits for
 * messages without end, which poll(2) would do with the whole worker.
 */
#ifndef GN_GREEN_REDIS_IO_H
#define GN_GREEN_REDIS_IO_H

#include <hiredis/hiredis.h>

#include "deadline.h"
#include "wait.h"

/* Write what C has queued (redisAppendCommand...) within END, waiting
 * with WAIT whenever the socket is full: 0, or a negative errno with C
 * marked broken and C->errstr saying why (TIMEOUT, the seconds END was
 * set from, names the limit in it). */
GN_GREEN_HIDDEN int gn__redis_send(redisContext *c, gn_green_wait_fn wait,
                                   double end, double timeout);

/* The errno for C's error, for the caller to act on. SYS is errno right
 * after the failing hiredis call (REDIS_ERR_IO leaves its cause there), or
 * 0 when it is stale. */
GN_GREEN_HIDDEN int gn__redis_errno(const redisContext *c, int sys);

#endif /* GN_GREEN_REDIS_IO_H */
