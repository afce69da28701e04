/*
 * Coroutines of a worker: a pool of mmap'd stacks with guard pages, and
 * resume/yield between the loop and one coroutine at a time. The loop's side
 * of a switch is a single static context, since each worker process has one
 * loop and coroutines never resume each other, so a coroutine always yields
 * back to it. The switch itself is switch.S, or ucontext where that has
 * no assembly. AddressSanitizer is told about every switch; otherwise it
 * would check each access against the wrong stack.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "green/coro.h"

/* Where switch.S has code: keep in step with the same test there. */
#if !defined(GN_CORO_UCONTEXT) && defined(__ELF__) && !defined(__ILP32__) &&   \
    (defined(__x86_64__) || defined(__aarch64__))
#define CORO_ASM 1
#else
#include <ucontext.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO_ASAN 1
#endif
#endif

#ifdef CORO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#ifdef GN_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#endif

#ifdef CORO_ASM
typedef void *coro_ctx; /* the stack pointer saved by gn__ctx_switch */
void gn__ctx_switch(void **from_sp, void *to_sp);
void gn__ctx_trampoline(void);
#else
typedef ucontext_t coro_ctx;
#endif

/* The bottom frame of every coroutine; called by gn__ctx_trampoline. */
_Noreturn void gn__coro_entry(struct gn_coro *co);

enum coro_state {
    CORO_IDLE,      /* in its pool's free list */
    CORO_READY,     /* taken from the pool, not resumed yet */
    CORO_RUNNING,   /* between resume and yield */
    CORO_SUSPENDED, /* yielded */
    CORO_DONE,      /* its function returned */
};

struct gn_coro {
    coro_ctx ctx;
    char *stack; /* lowest usable byte, just above the guard page */
    size_t stack_size;
    gn__coro_fn fn;
    void *arg;
    gn__coro_exit_fn exit_fn;
    void *exit_arg;
    void *data;
    void *waiter;      /* the green wait it is suspended in, or NULL */
    int cancelled;     /* 0, or the error its green waits now return */
    void *patch_state; /* patch/'s, while suspended (gn__coro_switch_hook) */
    struct gn_coro_pool *pool;
    struct gn_coro *next_idle;
    struct gn_coro *live_prev, *live_next; /* the pool's live list */
    int64_t started_us; /* its first run's start; 0 before */
    gn__coro_describe_fn describe;
    enum coro_state state;
    enum gn_yield why;
#ifdef CORO_ASAN
    void *fake_stack; /* ASan's use-after-return frames while suspended */
#endif
#ifdef GN_HAVE_VALGRIND
    unsigned vg_stack;
#endif
};

struct gn_coro_pool {
    size_t stack_size;
    size_t max_idle;
    size_t n_idle;
    size_t n_live; /* taken and not yet released */
    struct gn_coro *idle;
    struct gn_coro *live; /* taken and not released, newest first */
    int64_t slow_us; /* a run longer than this calls slow(); 0: not timed */
    void (*slow)(struct gn_coro *co, int64_t us);
};

static coro_ctx loop_ctx;
static struct gn_coro *current;

/* The run going on now, for a watchdog's signal handler: volatile, so
 * every store is there when the handler interrupts. */
static volatile uint64_t run_seq;
static volatile int64_t run_start_us;

_Thread_local unsigned gn__patch_now;
unsigned gn__coro_patch_families;
void (*gn__coro_switch_hook)(struct gn_coro *co, enum gn_coro_switch what);

#ifdef CORO_ASAN
/* The loop's stack as ASan reported it on entering a coroutine, and the
 * loop's fake stack while a coroutine runs. */
static const void *loop_stack;
static size_t loop_stack_size;
static void *loop_fake_stack;

static void asan_to_coro(struct gn_coro *co)
{
    __sanitizer_start_switch_fiber(&loop_fake_stack, co->stack, co->stack_size);
}

static void asan_in_coro(struct gn_coro *co)
{
    __sanitizer_finish_switch_fiber(co->fake_stack, &loop_stack,
                                    &loop_stack_size);
}

/* A finishing coroutine passes no save slot, so ASan frees its fake stack. */
static void asan_to_loop(struct gn_coro *co, bool finished)
{
    __sanitizer_start_switch_fiber(finished ? NULL : &co->fake_stack,
                                   loop_stack, loop_stack_size);
}

static void asan_in_loop(void)
{
    __sanitizer_finish_switch_fiber(loop_fake_stack, NULL, NULL);
}

/* A stack that is reused or unmapped may still carry the redzones of frames
 * that never returned (the entry frame, or a whole abandoned coroutine). */
static void asan_forget_stack(struct gn_coro *co)
{
    __asan_unpoison_memory_region(co->stack, co->stack_size);
    co->fake_stack = NULL;
}
#else
static inline void asan_to_coro(struct gn_coro *co)
{
    (void)co;
}

static inline void asan_in_coro(struct gn_coro *co)
{
    (void)co;
}

static inline void asan_to_loop(struct gn_coro *co, bool finished)
{
    (void)co;
    (void)finished;
}

static inline void asan_in_loop(void)
{
}

static inline void asan_forget_stack(struct gn_coro *co)
{
    (void)co;
}
#endif

#ifdef CORO_ASM
/*
 * The frame gn__ctx_switch pops, lowest address first, in machine words
 * (see switch.S). Slots not named here start as zero, which also ends
 * frame-pointer walks at the trampoline.
 */
#if defined(__x86_64__)
enum { FRAME_FPU = 0, FRAME_ARG = 4 /* r12 */, FRAME_RET = 7, FRAME_WORDS = 8 };

/* A fresh coroutine starts with its creator's MXCSR and x87 control word
 * (rounding, exception masks), as a new thread would. */
static uintptr_t fpu_control(void)
{
    uint32_t mxcsr;
    uint16_t cw;

    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    return mxcsr | (uintptr_t)cw << 32;
}
#else
enum { FRAME_ARG = 0 /* x19 */, FRAME_RET = 11 /* x30 */, FRAME_WORDS = 20 };
#endif

/* Build a frame at the top of the stack whose "return" enters the
 * trampoline; the stack top is page-aligned, which the trampoline needs. */
static void init_ctx(struct gn_coro *co)
{
    uintptr_t *frame;

    frame = (uintptr_t *)(void *)(co->stack + co->stack_size) - FRAME_WORDS;
    memset(frame, 0, FRAME_WORDS * sizeof(*frame));
    frame[FRAME_ARG] = (uintptr_t)co;
    frame[FRAME_RET] = (uintptr_t)gn__ctx_trampoline;
#if defined(__x86_64__)
    frame[FRAME_FPU] = fpu_control();
#endif
    co->ctx = frame;
}

static void ctx_switch(coro_ctx *from, coro_ctx *to)
{
    gn__ctx_switch(from, *to);
}
#else
/* makecontext passes only ints; the resumer has set current already. */
static void uc_entry(void)
{
    gn__coro_entry(current);
}

static void init_ctx(struct gn_coro *co)
{
    int rc = getcontext(&co->ctx);

    assert(rc == 0);
    (void)rc;
    co->ctx.uc_stack.ss_sp = co->stack;
    co->ctx.uc_stack.ss_size = co->stack_size;
    co->ctx.uc_link = NULL;
    makecontext(&co->ctx, uc_entry, 0);
}

static void ctx_switch(coro_ctx *from, coro_ctx *to)
{
    int rc = swapcontext(from, to);

    assert(rc == 0);
    (void)rc;
}
#endif

/* Valgrind takes a jump of the stack pointer between two registered stacks
 * for a switch, not for a huge frame it should warn about. */
#ifdef GN_HAVE_VALGRIND
static void valgrind_register(struct gn_coro *co)
{
    co->vg_stack =
        VALGRIND_STACK_REGISTER(co->stack, co->stack + co->stack_size - 1);
}

static void valgrind_deregister(struct gn_coro *co)
{
    VALGRIND_STACK_DEREGISTER(co->vg_stack);
}
#else
static inline void valgrind_register(struct gn_coro *co)
{
    (void)co;
}

static inline void valgrind_deregister(struct gn_coro *co)
{
    (void)co;
}
#endif

static size_t page_size(void)
{
    static size_t page;

    if (page == 0)
        page = (size_t)sysconf(_SC_PAGESIZE);
    return page;
}

/* The PROT_NONE region below each stack. Wider than a page, so that a
 * frame larger than a page (a big local array) still lands in it instead
 * of jumping over it into another mapping; it costs address space only. */
#define GUARD_BYTES (64 * 1024)

static size_t guard_size(void)
{
    size_t page = page_size();

    return (GUARD_BYTES + page - 1) / page * page;
}

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13 */
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
/* process_madvise(2)'s "the calling process", no descriptor needed. */
#define PIDFD_SELF_PROCESS (-10001)

/* Stacks mapped at once when the pool has none idle and at least
 * BATCH_LIVE coroutines are live (a burst): one mmap and two
 * process_madvise for the lot, about 9 us a stack on a virtual machine
 * instead of 13-14 one by one. Below it a stack is made alone, so a quiet
 * worker holds no stacks it has not needed. */
#define STACK_BATCH 16
#define BATCH_LIVE 32

/* Whether process_madvise refused advice for our own process: any advice
 * is allowed on oneself since Linux 6.13, and PIDFD_SELF names oneself
 * without a descriptor on kernels newer still. A kernel that refuses
 * once is not asked again. */
static bool batched_advice_refused;

/* ADVICE on each of the N ranges of IOV in one call. 0 when every byte
 * took it, -1 when the caller must do it range by range. */
static int advise_all(struct iovec *iov, size_t n, int advice)
{
#ifdef SYS_process_madvise
    size_t total = 0;
    long rc;

    if (batched_advice_refused || n < 2)
        return -1;
    for (size_t i = 0; i < n; i++)
        total += iov[i].iov_len;
    rc = syscall(SYS_process_madvise, PIDFD_SELF_PROCESS, iov, n, advice, 0);
    /* Short of memory or interrupted is no refusal: asked again next time. */
    if (rc < 0 && errno != ENOMEM && errno != EAGAIN && errno != EINTR)
        batched_advice_refused = true;
    return rc >= 0 && (size_t)rc == total ? 0 : -1;
#else
    (void)iov;
    (void)n;
    (void)advice;
    return -1;
#endif
}

/* Make LEN bytes at ADDR fault on any access. Guard markers leave the
 * mapping one piece, so the stacks' mappings merge into a few and making
 * one costs a system call less than a PROT_NONE region of its own (about
 * 3 of the 20-25 us a fresh stack costs on a virtual machine); a kernel
 * without them says EINVAL once and gets mprotect from then on. */
static int install_guard(char *addr, size_t len)
{
    static bool no_markers;

    if (!no_markers) {
        if (madvise(addr, len, MADV_GUARD_INSTALL) == 0)
            return 0;
        no_markers = true;
    }
    return mprotect(addr, len, PROT_NONE) == 0 ? 0 : -errno;
}

/* N stacks of SIZE usable bytes in one mapping, each with the guard below
 * it (stacks grow down, so an overflow faults there); the lowest usable
 * byte of each into STACKS. Each is unmapped on its own later (munmap
 * splits the mapping). The top pages, which the first frame is written to
 * at once, are populated in the same breath: a fault on one costs 4-5 us
 * more on a virtual machine (a burst of new connections takes one per
 * stack); an older kernel leaves them to the fault. 0, or -errno. */
static int map_stacks(char **stacks, size_t n, size_t size)
{
    size_t guard = guard_size(), page = page_size(), span = guard + size;
    struct iovec guards[STACK_BATCH], tops[STACK_BATCH];
    char *base;
    int err;

    assert(n >= 1 && n <= STACK_BATCH);
    if (span < size || span > SIZE_MAX / n)
        return -ENOMEM;
    base = mmap(NULL, n * span, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED)
        return -errno;
    for (size_t i = 0; i < n; i++) {
        stacks[i] = base + i * span + guard;
        guards[i] = (struct iovec){stacks[i] - guard, guard};
        tops[i] = (struct iovec){stacks[i] + size - page, page};
    }
    if (advise_all(guards, n, MADV_GUARD_INSTALL) != 0) {
        for (size_t i = 0; i < n; i++) {
            if ((err = install_guard(stacks[i] - guard, guard)) < 0) {
                munmap(base, n * span);
                return err;
            }
        }
    }
    if (advise_all(tops, n, MADV_POPULATE_WRITE) != 0)
        for (size_t i = 0; i < n; i++)
            (void)madvise(tops[i].iov_base, page, MADV_POPULATE_WRITE);
    return 0;
}

static void destroy_coro(struct gn_coro *co)
{
    size_t guard = guard_size();

    asan_forget_stack(co);
    valgrind_deregister(co);
    munmap(co->stack - guard, guard + co->stack_size);
    free(co);
}

/* N new coroutines, their stacks mapped together, onto POOL's idle list.
 * The number made: N, or 0 with errno set (out of memory). */
static size_t make_idle(struct gn_coro_pool *pool, size_t n)
{
    size_t made = 0;
    struct gn_coro *cos[STACK_BATCH];
    char *stacks[STACK_BATCH];
    int err;

    for (; made < n; made++)
        if ((cos[made] = calloc(1, sizeof(struct gn_coro))) == NULL)
            goto fail;
    if ((err = map_stacks(stacks, n, pool->stack_size)) < 0) {
        errno = -err;
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        struct gn_coro *co = cos[i];

        co->stack = stacks[i];
        co->stack_size = pool->stack_size;
        co->pool = pool;
        co->state = CORO_IDLE;
        valgrind_register(co);
        co->next_idle = pool->idle;
        pool->idle = co;
        pool->n_idle++;
    }
    return n;

fail:
    err = errno;
    while (made > 0)
        free(cos[--made]);
    errno = err;
    return 0;
}

/* How many to make when none is idle: one, or in a burst (BATCH_LIVE
 * live) up to STACK_BATCH, the rest kept idle within max_idle. */
static size_t batch_size(const struct gn_coro_pool *pool)
{
    size_t room = pool->max_idle > pool->n_idle ? pool->max_idle - pool->n_idle
                                                 : 0;

    if (pool->n_live < BATCH_LIVE)
        return 1;
    return room + 1 < STACK_BATCH ? room + 1 : STACK_BATCH;
}

/* The most recently released coroutine first: its stack is likely still in
 * the cache. */
static struct gn_coro *take_coro(struct gn_coro_pool *pool)
{
    struct gn_coro *co;

    /* A batch that cannot be had (its address space) may leave room for
     * one stack. */
    if (pool->idle == NULL) {
        size_t n = batch_size(pool);

        if (make_idle(pool, n) == 0 && (n == 1 || make_idle(pool, 1) == 0))
            return NULL;
    }
    co = pool->idle;
    pool->idle = co->next_idle;
    pool->n_idle--;
    co->next_idle = NULL;
    return co;
}

struct gn_coro_pool *gn__coro_pool_new(size_t stack_size, size_t max_idle)
{
    size_t page = page_size();
    struct gn_coro_pool *pool;

    /* Leave room for rounding up and for the guard page. */
    if (stack_size == 0 || stack_size > SIZE_MAX - 2 * page) {
        errno = EINVAL;
        return NULL;
    }
    pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return NULL;
    pool->stack_size = (stack_size + page - 1) / page * page;
    pool->max_idle = max_idle;
    return pool;
}

void gn__coro_pool_free(struct gn_coro_pool *pool)
{
    struct gn_coro *co;

    if (pool == NULL)
        return;
    assert(pool->n_live == 0);
    while ((co = pool->idle) != NULL) {
        pool->idle = co->next_idle;
        destroy_coro(co);
    }
    free(pool);
}

size_t gn__coro_pool_stack_size(const struct gn_coro_pool *pool)
{
    assert(pool != NULL);
    return pool->stack_size;
}

size_t gn__coro_pool_live(const struct gn_coro_pool *pool)
{
    return pool->n_live;
}

size_t gn__coro_pool_trim(struct gn_coro_pool *pool, size_t keep)
{
    struct gn_coro **link = &pool->idle, *co;
    size_t n = 0, gone = 0;

    assert(pool != NULL);
    /* The list is most recent first: keep its head, still in the cache. */
    while (*link != NULL && n < keep) {
        link = &(*link)->next_idle;
        n++;
    }
    while ((co = *link) != NULL) {
        *link = co->next_idle;
        destroy_coro(co);
        pool->n_idle--;
        gone++;
    }
    return gone;
}

/* Write one byte in each page of the top TOUCH bytes of CO's stack: the
 * first write to a page is a fault (on a virtual machine, tens of
 * microseconds each), taken here instead of by a request. */
static void touch_stack(struct gn_coro *co, size_t touch)
{
    size_t page = page_size();
    volatile char *top = (volatile char *)(co->stack + co->stack_size);

    if (touch > co->stack_size)
        touch = co->stack_size;
    for (size_t off = page; off <= touch; off += page)
        top[-(ptrdiff_t)off] = 0;
}

size_t gn__coro_pool_prefill(struct gn_coro_pool *pool, size_t n,
                             size_t touch)
{
    size_t added = 0;

    assert(pool != NULL);
    while (added < n && pool->n_idle < pool->max_idle) {
        size_t k = n - added, room = pool->max_idle - pool->n_idle;
        struct gn_coro *co;

        k = k < room ? k : room;
        k = k < STACK_BATCH ? k : STACK_BATCH;
        if (make_idle(pool, k) == 0)
            break;
        co = pool->idle; /* the K just made */
        for (size_t i = 0; i < k; i++, co = co->next_idle)
            touch_stack(co, touch);
        added += k;
    }
    return added;
}

struct gn_coro *gn__coro_new(struct gn_coro_pool *pool, gn__coro_fn fn,
                             void *arg, gn__coro_exit_fn exit_fn,
                             void *exit_arg)
{
    struct gn_coro *co;

    assert(pool != NULL && fn != NULL);
    co = take_coro(pool);
    if (co == NULL)
        return NULL;
    co->fn = fn;
    co->arg = arg;
    co->exit_fn = exit_fn;
    co->exit_arg = exit_arg;
    co->data = NULL;
    co->waiter = NULL;
    co->cancelled = 0;
    co->patch_state = NULL;
    co->describe = NULL;
    co->started_us = 0;
    co->live_prev = NULL;
    co->live_next = pool->live;
    if (pool->live != NULL)
        pool->live->live_prev = co;
    pool->live = co;
    co->state = CORO_READY;
    asan_forget_stack(co);
    init_ctx(co);
    pool->n_live++;
    return co;
}

void gn__coro_release(struct gn_coro *co)
{
    struct gn_coro_pool *pool;

    assert(co != NULL && co != current);
    assert(co->state != CORO_RUNNING && co->state != CORO_IDLE);
    if (co->patch_state != NULL && gn__coro_switch_hook != NULL)
        gn__coro_switch_hook(co, GN_CORO_GONE); /* abandoned suspended */
    pool = co->pool;
    pool->n_live--;
    if (co->live_prev != NULL)
        co->live_prev->live_next = co->live_next;
    else
        pool->live = co->live_next;
    if (co->live_next != NULL)
        co->live_next->live_prev = co->live_prev;
    if (pool->n_idle >= pool->max_idle) {
        destroy_coro(co);
        return;
    }
    co->state = CORO_IDLE;
    co->next_idle = pool->idle;
    pool->idle = co;
    pool->n_idle++;
}

/*
 * Entered on the coroutine's own stack at its first resume. There is no
 * frame below this one to return to, so when FN returns it switches back to
 * the loop for good; gn__coro_resume() then runs the exit function.
 */
void gn__coro_entry(struct gn_coro *co)
{
    asan_in_coro(co);
    co->fn(co, co->arg);
    co->state = CORO_DONE;
    asan_to_loop(co, true);
    ctx_switch(&co->ctx, &loop_ctx);
    abort(); /* a finished coroutine is never resumed */
}

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void gn__coro_pool_watch(struct gn_coro_pool *pool, int64_t slow_us,
                         void (*slow)(struct gn_coro *co, int64_t us))
{
    pool->slow_us = slow ? slow_us : 0;
    pool->slow = slow;
}

enum gn_yield gn__coro_resume(struct gn_coro *co)
{
    int64_t start, ran;

    assert(co != NULL);
    assert(current == NULL); /* no nesting: coroutines yield to the loop */
    assert(co->state == CORO_READY || co->state == CORO_SUSPENDED);
    start = co->pool->slow_us ? now_us() : 0;
    run_start_us = start;
    run_seq++;
    /* Its first run: born now. Untimed, the stamp is taken lazily, by
     * the run's first gn__coro_now_us (a request reads the clock anyway)
     * or when the run ends: no clock read of its own per request. */
    if (co->state == CORO_READY)
        co->started_us = start;
    current = co;
    co->state = CORO_RUNNING;
    asan_to_coro(co);
    if (gn__coro_switch_hook != NULL)
        gn__coro_switch_hook(co, GN_CORO_IN);
    gn__patch_now = gn__coro_patch_families;
    ctx_switch(&loop_ctx, &co->ctx);
    gn__patch_now = 0;
    asan_in_loop();
    current = NULL;
    if (gn__coro_switch_hook != NULL)
        gn__coro_switch_hook(co, co->state == CORO_DONE ? GN_CORO_DONE
                                                        : GN_CORO_OUT);

    if (co->started_us == 0) /* a first run that read no clock */
        co->started_us = now_us();
    if (start != 0 && (ran = now_us() - start) > co->pool->slow_us)
        co->pool->slow(co, ran);
    if (co->state != CORO_DONE)
        return co->why;
    if (co->exit_fn != NULL)
        co->exit_fn(co, co->exit_arg);
    return GN_YIELD_DONE;
}

void gn__coro_yield(enum gn_yield why)
{
    struct gn_coro *co = current;

    assert(co != NULL && co->state == CORO_RUNNING);
    assert(why != GN_YIELD_DONE); /* only returning from FN means done */
    co->why = why;
    co->state = CORO_SUSPENDED;
    asan_to_loop(co, false);
    ctx_switch(&co->ctx, &loop_ctx);
    asan_in_coro(co);
}

struct gn_coro *gn__coro_current(void)
{
    return current;
}

void gn__coro_set_patch_state(struct gn_coro *co, void *state)
{
    co->patch_state = state;
}

void *gn__coro_patch_state(const struct gn_coro *co)
{
    return co->patch_state;
}

void gn__coro_set_data(struct gn_coro *co, void *data)
{
    assert(co != NULL);
    co->data = data;
}

void *gn__coro_data(const struct gn_coro *co)
{
    assert(co != NULL);
    return co->data;
}

void gn__coro_set_waiter(struct gn_coro *co, void *waiter)
{
    co->waiter = waiter;
}

void *gn__coro_waiter(const struct gn_coro *co)
{
    return co->waiter;
}

void gn__coro_set_cancelled(struct gn_coro *co, int err)
{
    co->cancelled = err;
}

int gn__coro_cancelled(const struct gn_coro *co)
{
    return co->cancelled;
}

void gn__coro_set_describe(struct gn_coro *co, gn__coro_describe_fn fn)
{
    co->describe = fn;
}

void gn__coro_describe(const struct gn_coro *co, char *buf, size_t len,
                       const void **code)
{
    *code = NULL;
    if (len == 0)
        return;
    buf[0] = '\0';
    if (co->describe != NULL)
        co->describe(co->arg, buf, len, code);
}

int64_t gn__coro_clock_us(void)
{
    return now_us();
}

int64_t gn__coro_now_us(void)
{
    int64_t now = now_us();

    if (current != NULL && current->started_us == 0)
        current->started_us = now; /* its first run's first stamp */
    return now;
}

int64_t gn__coro_run_start_us(void)
{
    int64_t start = run_start_us;

    return start ? start : now_us();
}

struct gn_coro *gn__coro_pool_first(const struct gn_coro_pool *pool)
{
    return pool->live;
}

struct gn_coro *gn__coro_next(const struct gn_coro *co)
{
    return co->live_next;
}

int64_t gn__coro_started_us(const struct gn_coro *co)
{
    return co->started_us;
}

void gn__coro_run_now(struct gn_coro_run *run)
{
    run->co = current;
    run->seq = run_seq;
    run->start_us = run_start_us;
}

int gn__coro_overflowed(const struct gn_coro *co, const void *addr)
{
    const char *a = addr;

    /* The guard, or just under the stack's lowest byte (a fault reported
     * at the first byte of a frame that straddles the boundary). */
    return co != NULL && a >= co->stack - guard_size() &&
           a < co->stack + page_size();
}
