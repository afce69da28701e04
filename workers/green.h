/*
 * Cooperative waiting: what makes a handler's blocking-looking call give
 * the worker to other connections. Inside a coroutine a wait arms a loop
 * watch and yields; outside one it blocks the way libc would.
 */
#ifndef GN_WORKERS_GREEN_H
#define GN_WORKERS_GREEN_H

#include <stdint.h>

struct gn_coro;
struct gn_loop;

/* The loop green calls wait on: the worker's, set once after fork.
 * ON_RESUME (may be NULL) is called in a coroutine each time one of its
 * waits returns, before its code goes on. */
void gn__green_init(struct gn_loop *loop, void (*on_resume)(struct gn_coro *));

/*
 * Wait until FD is ready for EVENTS (GN_WATCH_READ and/or GN_WATCH_WRITE)
 * or TIMEOUT_MS passes (< 0: no limit). 0 when ready, -ETIMEDOUT, or the
 * error the wait was cancelled with. May yield.
 */
int gn__wait_fd(int fd, int events, int64_t timeout_ms);

/* Wait MS milliseconds. 0, or the cancellation error. May yield. */
int gn__wait_ms(int64_t ms);

/* Cancel CO's green waits with ERR (a negative errno): the one it is
 * suspended in returns ERR now, and every later one at once, until
 * gn__coro_set_cancelled(co, 0). Call from the loop, not from CO. */
void gn__green_cancel(struct gn_coro *co, int err);

#endif /* GN_WORKERS_GREEN_H */
