/*
 * Cooperative waiting: what makes a handler's blocking-looking call give
 * the worker to other connections. Inside a coroutine a wait arms a loop
 * watch and yields; outside one it blocks the way libc would.
 */
#ifndef GN_GREEN_PARK_H
#define GN_GREEN_PARK_H

#include <stdint.h>

struct gn_coro;
struct gn_loop;
struct gn_watch;

/* 1 on the thread the gn_* calls may come from: the process's main
 * thread, which runs a worker's loop (set at load by a constructor in
 * park.c; a fork keeps it). 0 on any thread an app starts. */
extern _Thread_local int gn__loop_thread
    __attribute__((tls_model("initial-exec")));

/* Whether the caller runs on the loop's thread. A public call that
 * touches a request, a response or green state returns -EPERM when it
 * does not: from another thread it would race the loop over memory
 * nothing locks. One TLS load, so every call can afford it. */
static inline int gn__on_loop_thread(void)
{
    return __builtin_expect(gn__loop_thread, 1);
}

/* The loop green calls wait on: the worker's, set once after fork.
 * ON_RESUME (may be NULL) is called in a coroutine each time one of its
 * waits returns, before its code goes on. */
void gn__green_init(struct gn_loop *loop, void (*on_resume)(struct gn_coro *));

/* The worker exits: drop the run queue (its coroutines are abandoned). */
void gn__green_shutdown(void);

/* Call ON_PARK(co) each time a coroutine is about to wait (NULL: none):
 * the worker sends what a connection held back, without waiting itself. */
void gn__green_on_park(void (*on_park)(struct gn_coro *));

/* That loop (NULL before gn__green_init). */
struct gn_loop *gn__green_loop(void);

/* Whether the caller may wait cooperatively: it runs in a coroutine of a
 * worker whose loop is set. */
int gn__green_can_wait(void);

/*
 * A coroutine parked in a green wait. It lives on the waiting coroutine's
 * stack; the sync primitives link it into their lists (NEXT, PREV) and
 * hand items over through ITEM.
 */
struct gn_waiter {
    struct gn_coro *co;
    struct gn_watch *watch; /* while parked; NULL once it returned */
    int what;               /* GN_WATCH_* bits its watch fired with */
    int woken;              /* gn__green_wake ran: RESULT is the outcome */
    int result;
    struct gn_waiter *next, *prev;
    void *item;
    struct gn_waiter *run_next; /* on the run queue */
    /* What it waits on, for the worker's listing of its coroutines, set
     * by every park (gn__green_park_on): a kind, the fd and GN_WATCH_*
     * bits of an fd wait, the timeout, and SINCE_US, when the run that
     * parked began (gn__coro_run_start_us, a time at hand), so early by
     * that run's length at most. */
    const char *on;
    int on_fd, on_events;
    int64_t since_us, timeout_ms;
};

/* The kinds of wait gn__green_park names itself (compare by pointer). */
extern const char gn__wait_fd_kind[], gn__wait_sleep_kind[],
    gn__wait_yield_kind[], gn__wait_wakeup_kind[];

/*
 * gn__green_park, saying for the worker's listing what the wait is: ON
 * ("event", "thread-pool job", ...: a string that lives as long as the
 * program; NULL: named from the arguments, "fd", "sleep", "yield" or
 * "wake-up") and, when another watch reports the edge it waits for (a
 * connection's), the socket and its GN_WATCH_* bits as ON_FD, ON_EVENTS
 * (-1, 0: none).
 */
int gn__green_park_on(struct gn_waiter *wt, const char *on, int on_fd,
                      int on_events, int fd, int events, int64_t timeout_ms);

/*
 * Park the running coroutine in WT until FD is ready for EVENTS
 * (GN_WATCH_* bits; FD -1 and EVENTS 0 for a pure timer), TIMEOUT_MS
 * passes (< 0: no limit) or someone calls gn__green_wake(WT). Returns the
 * ready GN_WATCH_* bits (> 0), -ETIMEDOUT, or the waker's result (0 or a
 * negative errno, the cancellation error among them). Call only when
 * gn__green_can_wait().
 */
int gn__green_park(struct gn_waiter *wt, int fd, int events,
                   int64_t timeout_ms);

/* Make WT's gn__green_park return RESULT on the loop's next turn; a no-op
 * when it is already on its way back. Callable from anywhere in the
 * worker (a coroutine or the loop). */
void gn__green_wake(struct gn_waiter *wt, int result);

/* Resume WT's coroutine now with RESULT: only from the loop (a watch's
 * callback), never from a coroutine. */
void gn__green_wake_now(struct gn_waiter *wt, int result);

/*
 * Wait until FD is ready for EVENTS (GN_WATCH_READ and/or GN_WATCH_WRITE)
 * or TIMEOUT_MS passes (< 0: no limit). The ready bits (> 0), -ETIMEDOUT,
 * or the error the wait was cancelled with. May yield; outside a coroutine
 * it polls.
 */
int gn__wait_fd(int fd, int events, int64_t timeout_ms);

/* Wait MS milliseconds. 0, or the cancellation error. May yield. */
int gn__wait_ms(int64_t ms);

/* Cancel CO's green waits with ERR (a negative errno): the one it is
 * parked in returns ERR on the loop's next turn, and every later one at
 * once, until gn__coro_set_cancelled(co, 0). */
void gn__green_cancel(struct gn_coro *co, int err);

/* A public timeout in seconds as milliseconds (< 0 or huge: -1, no limit).
 * 0, or -EINVAL for NaN. */
int gn__timeout_ms(double seconds, int64_t *ms);

#endif /* GN_GREEN_PARK_H */
