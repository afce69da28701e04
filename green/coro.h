/*
 * Coroutines (green threads) of a worker: one per busy connection.
 *
 * A coroutine runs a function on its own stack and gives the CPU back to
 * its resumer with gn__coro_yield(); the event loop resumes it when what it
 * waits for happens. Stacks come from a pool (mmap'd, a 64 KiB PROT_NONE guard
 * below each so an overflow faults instead of corrupting a neighbour) and go
 * back to it when the coroutine is released, so an idle keep-alive
 * connection holds none.
 *
 * The context switch is hand-written assembly on x86-64 and aarch64
 * (callee-saved registers and the stack pointer only, plus MXCSR and the x87
 * control word on x86-64), with a ucontext fallback elsewhere or when built
 * with GN_CORO_UCONTEXT defined. Everything here is single-threaded: one
 * worker, one loop thread.
 */
#ifndef GN_GREEN_CORO_H
#define GN_GREEN_CORO_H

#include <stddef.h>
#include <stdint.h>

struct gn_coro;
struct gn_coro_pool;

typedef void (*gn__coro_fn)(struct gn_coro *co, void *arg);

/* Called by gn__coro_resume() on the resumer's stack right after the
 * coroutine's function returned (gn__coro_current() is NULL there); it
 * usually releases the coroutine. */
typedef void (*gn__coro_exit_fn)(struct gn_coro *co, void *arg);

/* What a suspended coroutine waits for; kept for the loop's bookkeeping. */
enum gn_yield {
    GN_YIELD_WAIT, /* a loop watch is armed; its callback resumes us */
    GN_YIELD_DONE, /* the function returned; exit_fn releases the coroutine */
};

/* The default stack size (bytes), rounded up to whole pages. */
#define GN_CORO_STACK_DEFAULT (256 * 1024)

/*
 * A pool of coroutines and their stacks. STACK_SIZE is rounded up to pages;
 * MAX_IDLE bounds how many released coroutines are kept for reuse (the rest
 * are unmapped). Returns NULL with errno set (EINVAL for a STACK_SIZE of 0
 * or too large, ENOMEM). Freed by gn__coro_pool_free(), which requires that
 * every coroutine taken from it has been released.
 */
struct gn_coro_pool *gn__coro_pool_new(size_t stack_size, size_t max_idle);
void gn__coro_pool_free(struct gn_coro_pool *pool);

/* Time every run of the pool's coroutines (from resume to yield or
 * return): one longer than SLOW_US microseconds calls SLOW(co, us) on the
 * resumer's side, before the coroutine's exit function. SLOW NULL stops
 * timing. For the warning about code that blocks the loop. */
void gn__coro_pool_watch(struct gn_coro_pool *pool, int64_t slow_us,
                         void (*slow)(struct gn_coro *co, int64_t us));

/* The usable stack size of the pool's coroutines. */
size_t gn__coro_pool_stack_size(const struct gn_coro_pool *pool);

/* The coroutines of POOL taken and not yet released (for metrics). */
size_t gn__coro_pool_live(const struct gn_coro_pool *pool);

/* Unmap the stacks of idle coroutines beyond the KEEP most recently used:
 * after a burst the pool gives back what it kept for it. How many went. */
size_t gn__coro_pool_trim(struct gn_coro_pool *pool, size_t keep);

/* Put up to N fresh coroutines in POOL's idle list (no more than its
 * max_idle), the top TOUCH bytes of each stack written once so that their
 * pages are mapped now rather than at a first request: a worker's boot
 * pays for a burst of new connections. How many it added. */
size_t gn__coro_pool_prefill(struct gn_coro_pool *pool, size_t n,
                             size_t touch);

/*
 * Take a coroutine from the pool (or make one) that will run FN(co, ARG) on
 * its first resume and call EXIT(co, EXIT_ARG) when FN returns (EXIT may be
 * NULL). Returns NULL with errno set (ENOMEM). The coroutine belongs to the
 * caller until gn__coro_release().
 */
struct gn_coro *gn__coro_new(struct gn_coro_pool *pool, gn__coro_fn fn,
                             void *arg, gn__coro_exit_fn exit, void *exit_arg);

/*
 * Switch into CO until it yields or returns. Must be called from outside any
 * coroutine (from the loop or main code), never from a coroutine. Returns
 * GN_YIELD_WAIT when CO yielded, GN_YIELD_DONE when its function returned
 * (after EXIT ran; CO may be released by then, so do not touch it).
 */
enum gn_yield gn__coro_resume(struct gn_coro *co);

/* Suspend the running coroutine and return to its resumer. Must be called
 * from inside a coroutine. Returns when it is resumed. */
void gn__coro_yield(enum gn_yield why);

/* The coroutine running now, or NULL when called outside any. */
struct gn_coro *gn__coro_current(void);

/*
 * The patch_all families (patch/patch.h's GN_PATCH_* bits) of the
 * coroutine running now on this thread: gn__coro_resume sets it to
 * gn__coro_patch_families for the length of the switch and clears it
 * when the coroutine yields or ends, so it is 0 in the loop, in the
 * arbiter, on every other thread and in a worker with patching off. An
 * interposed libc call tests it with one TLS load and one branch.
 */
extern _Thread_local unsigned gn__patch_now
    __attribute__((tls_model("initial-exec")));
extern unsigned gn__coro_patch_families;

/* When a coroutine's code stops or starts running on the thread. */
enum gn_coro_switch {
    GN_CORO_IN,   /* about to be resumed */
    GN_CORO_OUT,  /* has just yielded */
    GN_CORO_DONE, /* its function has just returned */
    GN_CORO_GONE, /* released while suspended, with a patch state */
};

/*
 * Called with the coroutine and the switch (NULL: nothing is called) by
 * gn__coro_resume around every switch, and by gn__coro_release for a
 * suspended coroutine that still has a patch state: how patch/ keeps
 * per coroutine what a library keeps per thread (OpenSSL's error queue).
 * The state lives in CO's slot below while CO is suspended; the hook
 * frees it. Set once by the loop's thread, before coroutines run.
 */
extern void (*gn__coro_switch_hook)(struct gn_coro *co,
                                    enum gn_coro_switch what);
void gn__coro_set_patch_state(struct gn_coro *co, void *state);
void *gn__coro_patch_state(const struct gn_coro *co);

/* Give CO back to its pool. CO must not be running. Releasing a suspended
 * coroutine abandons its stack: nothing on it runs again, so the owner must
 * first disarm anything that points into it (prefer resuming it with an
 * error so it unwinds). */
void gn__coro_release(struct gn_coro *co);

/* A pointer-sized slot the owner may use (e.g. the connection it serves). */
void gn__coro_set_data(struct gn_coro *co, void *data);
void *gn__coro_data(const struct gn_coro *co);

/* The green wait CO is suspended in (park.c's business), or NULL. */
void gn__coro_set_waiter(struct gn_coro *co, void *waiter);
void *gn__coro_waiter(const struct gn_coro *co);

/* ---- the registry of live coroutines (the worker's listing) ---------- */

/*
 * What a coroutine serves, for the worker's listing: called with the ARG
 * its function was given (gn__coro_new), it writes into BUF (LEN bytes,
 * NUL-terminated, cut short if need be); *CODE may be set to the address
 * of the function it runs (a green thread's), for the lister to name.
 * Set by whoever made CO, from the layer that knows what it serves (a
 * connection's protocol, a green thread's function): green/ knows none.
 * Called from the loop, or from a signal handler while the loop is held,
 * so it only formats what it finds (no allocation, no lock).
 */
typedef void (*gn__coro_describe_fn)(void *arg, char *buf, size_t len,
                                     const void **code);
void gn__coro_set_describe(struct gn_coro *co, gn__coro_describe_fn fn);

/* CO's description by its describe function into BUF ("" without one);
 * *CODE as that function set it, else NULL. */
void gn__coro_describe(const struct gn_coro *co, char *buf, size_t len,
                       const void **code);

/* The registry's clock: CLOCK_MONOTONIC in microseconds. */
int64_t gn__coro_clock_us(void);

/* Now (gn__coro_clock_us), for code that reads the clock anyway: also the
 * running coroutine's start when its first run has none yet (see
 * gn__coro_started_us). */
int64_t gn__coro_now_us(void);

/* When the run going on now began (gn__coro_clock_us): the time a timed
 * pool (gn__coro_pool_watch) took at the resume anyway, so a wait stamps
 * itself for free; read from the clock when the pool is not timed. From
 * inside a coroutine. */
int64_t gn__coro_run_start_us(void);

/* The live coroutines of POOL (taken and not yet released), newest
 * first: gn__coro_pool_first, then gn__coro_next until NULL (their
 * count: gn__coro_pool_live). Walk it from the loop, or while the loop
 * is held. */
struct gn_coro *gn__coro_pool_first(const struct gn_coro_pool *pool);
struct gn_coro *gn__coro_next(const struct gn_coro *co);

/* When CO's first run began (gn__coro_clock_us), 0 before it. A timed
 * pool takes it at the resume; an untimed one takes none of its own: the
 * first run's first gn__coro_now_us is the stamp (a request's start, a
 * few hundred instructions in), or the run's end if it read no clock
 * (late by that run's length at most), and while such a run goes on
 * it is still 0. */
int64_t gn__coro_started_us(const struct gn_coro *co);

/* The run of a coroutine going on now: its coroutine (NULL: the loop
 * runs), a count of runs that changes at every resume (so a watchdog can
 * tell one long run from many short ones), and when it began in
 * microseconds (0 unless the pool is timed, gn__coro_pool_watch).
 * Async-signal-safe. */
struct gn_coro_run {
    struct gn_coro *co;
    uint64_t seq;
    int64_t start_us;
};
void gn__coro_run_now(struct gn_coro_run *run);

/* Whether a fault at ADDR is CO overflowing its stack (ADDR in the guard
 * below it). Async-signal-safe. */
int gn__coro_overflowed(const struct gn_coro *co, const void *addr);

/* A sticky error (a negative errno, 0 to clear) that CO's green waits
 * return at once: how a request is cancelled. Cleared by gn__coro_new. */
void gn__coro_set_cancelled(struct gn_coro *co, int err);
int gn__coro_cancelled(const struct gn_coro *co);

#endif /* GN_GREEN_CORO_H */
