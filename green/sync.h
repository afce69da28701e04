/*
 * Green threads (gn_spawn and friends) as the worker manages them: the
 * pool they take coroutines from, and their end with their owner.
 */
#ifndef GN_GREEN_SYNC_H
#define GN_GREEN_SYNC_H

#include <stddef.h>

struct gn_coro;
struct gn_coro_pool;

/* The pool gn_spawn takes coroutines from (the worker's). */
void gn__threads_init(struct gn_coro_pool *pool);

/* Start FN(ARG) in a green thread the worker owns, whoever calls (a
 * request's coroutine included), whose record is freed once FN returns:
 * for work that outlives the request that started it, as a Socket.IO
 * event's handler outlives the POST that carried the event. It is never
 * joined; it is cancelled when the worker stops. NULL when out of memory
 * or off the loop. */
struct gn_thread *gn__spawn_detached(int (*fn)(void *arg), void *arg);

/* Threads started and not yet returned. */
size_t gn__threads_live(void);

/* OWNER (a green thread, or NULL for the worker) ends: kill every thread
 * it spawned that still runs, wait for them (from inside a coroutine), and
 * free their records, joined or not. */
void gn__threads_reap(struct gn_coro *owner);

/* The worker stops: kill every thread still running. */
void gn__threads_stop(void);

/* The worker exits: release every thread's coroutine and record. */
void gn__threads_free(void);

#endif /* GN_GREEN_SYNC_H */
