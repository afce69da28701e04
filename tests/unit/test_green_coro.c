/*
 * Unit tests of green/coro.c: a coroutine's life from the pool to its exit
 * function, yield/resume in both directions, many coroutines taking turns,
 * what runs on a coroutine's stack (deep recursion, floating point, stack
 * alignment), reuse and unmapping by the pool, and the guard page below each
 * stack (a guard marker, or PROT_NONE where the kernel has none). Hot loops
 * count mismatches and assert once at the end, because every Check
 * assertion also records a mark point.
 */
#include <alloca.h>
#include <check.h>
#include <errno.h>
#include <fenv.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "green/coro.h"
#include "run_suite.h"

static uintptr_t page_size(void)
{
    return (uintptr_t)sysconf(_SC_PAGESIZE);
}

/* The top of the running coroutine's stack. Stacks end on a page boundary
 * and the frames between it and the caller are far smaller than a page. */
static __attribute__((noinline)) uintptr_t stack_top(void)
{
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);

    return (fp + page_size() - 1) & ~(page_size() - 1);
}

static bool is_mapped(uintptr_t addr)
{
    unsigned char vec;

    return mincore((void *)(addr & ~(page_size() - 1)), 1, &vec) == 0;
}

static struct gn_coro_pool *new_pool(size_t stack_size, size_t max_idle)
{
    struct gn_coro_pool *pool = gn__coro_pool_new(stack_size, max_idle);

    ck_assert_ptr_nonnull(pool);
    return pool;
}

/* --- one coroutine, start to finish ------------------------------------ */

struct counts {
    int ran;
    int exited;
    struct gn_coro *exit_co;
    struct gn_coro *exit_current;
};

static void run_once(struct gn_coro *co, void *arg)
{
    struct counts *c = arg;

    (void)co;
    c->ran++;
}

static void count_exit(struct gn_coro *co, void *arg)
{
    struct counts *c = arg;

    c->exited++;
    c->exit_co = co;
    c->exit_current = gn__coro_current();
}

START_TEST(coro_runs_to_completion)
{
    struct gn_coro_pool *pool = new_pool(GN_CORO_STACK_DEFAULT, 4);
    struct counts c = {0};
    struct gn_coro *co;

    co = gn__coro_new(pool, run_once, &c, count_exit, &c);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(c.ran, 0);
    ck_assert_int_eq(gn__coro_resume(co), GN_YIELD_DONE);
    ck_assert_int_eq(c.ran, 1);
    ck_assert_int_eq(c.exited, 1);
    ck_assert_ptr_eq(c.exit_co, co);
    ck_assert_ptr_null(c.exit_current); /* exit runs on the resumer's side */
    gn__coro_release(co);
    ck_assert_int_eq(c.exited, 1);
    gn__coro_pool_free(pool);
}
END_TEST

/* --- yield and resume -------------------------------------------------- */

enum { PING_ROUNDS = 10 };

struct pingpong {
    int loop_turns;
    int coro_turns;
    int mismatches;
};

static void ping(struct gn_coro *co, void *arg)
{
    struct pingpong *p = arg;
    int i;

    (void)co;
    for (i = 0; i < PING_ROUNDS; i++) {
        if (p->loop_turns != p->coro_turns + 1)
            p->mismatches++;
        p->coro_turns++;
        gn__coro_yield(GN_YIELD_WAIT);
    }
}

START_TEST(coro_yield_ping_pong)
{
    struct gn_coro_pool *pool = new_pool(GN_CORO_STACK_DEFAULT, 4);
    struct pingpong p = {0};
    struct gn_coro *co;
    int i;

    co = gn__coro_new(pool, ping, &p, NULL, NULL);
    ck_assert_ptr_nonnull(co);
    for (i = 0; i < PING_ROUNDS; i++) {
        p.loop_turns++;
        ck_assert_int_eq(gn__coro_resume(co), GN_YIELD_WAIT);
        ck_assert_int_eq(p.coro_turns, p.loop_turns);
    }
    ck_assert_int_eq(gn__coro_resume(co), GN_YIELD_DONE);
    ck_assert_int_eq(p.coro_turns, PING_ROUNDS);
    ck_assert_int_eq(p.mismatches, 0);
    gn__coro_release(co);
    gn__coro_pool_free(pool);
}
END_TEST

/* --- many coroutines taking turns -------------------------------------- */

enum { MANY_COROS = 1000, MANY_YIELDS = 100 };

struct runner {
    int id;
    int turns;
    int exited;
    int mismatches;
};

static int last_id;

/* Round-robin: the coroutine that ran just before this one is the previous
 * id. MINE lives on this coroutine's own stack, so it survives only if the
 * stacks are really separate. */
static void take_turns(struct gn_coro *co, void *arg)
{
    struct runner *r = arg;
    volatile int mine = 0;
    int i;

    (void)co;
    for (i = 0; i < MANY_YIELDS; i++) {
        if (last_id != (r->id + MANY_COROS - 1) % MANY_COROS)
            r->mismatches++;
        last_id = r->id;
        mine++;
        r->turns++;
        if (mine != r->turns)
            r->mismatches++;
        gn__coro_yield(GN_YIELD_WAIT);
    }
}

static void exit_and_release(struct gn_coro *co, void *arg)
{
    struct runner *r = arg;

    r->exited++;
    gn__coro_release(co);
}

static int resume_all(struct gn_coro **co, int round)
{
    enum gn_yield want = round < MANY_YIELDS ? GN_YIELD_WAIT : GN_YIELD_DONE;
    int id, wrong = 0;

    for (id = 0; id < MANY_COROS; id++)
        if (gn__coro_resume(co[id]) != want)
            wrong++;
    return wrong;
}

START_TEST(coro_many_switches)
{
    static struct runner runners[MANY_COROS];
    static struct gn_coro *co[MANY_COROS];
    struct gn_coro_pool *pool = new_pool(64 * 1024, 64);
    int id, round, wrong = 0, mismatches = 0;

    last_id = MANY_COROS - 1;
    for (id = 0; id < MANY_COROS; id++) {
        runners[id] = (struct runner){.id = id};
        co[id] = gn__coro_new(pool, take_turns, &runners[id], exit_and_release,
                              &runners[id]);
        ck_assert_ptr_nonnull(co[id]);
    }
    for (round = 0; round <= MANY_YIELDS; round++)
        wrong += resume_all(co, round);
    ck_assert_int_eq(wrong, 0);
    for (id = 0; id < MANY_COROS; id++) {
        mismatches += runners[id].mismatches;
        ck_assert_int_eq(runners[id].turns, MANY_YIELDS);
        ck_assert_int_eq(runners[id].exited, 1);
    }
    ck_assert_int_eq(mismatches, 0);
    gn__coro_pool_free(pool); /* asserts every coroutine was released */
}
END_TEST

/* --- a deep call chain ------------------------------------------------- */

enum { DEEP_FRAME = 1024, DEEP_DEPTH = 150 };

struct deep_run {
    unsigned long sum;
    uintptr_t top;
    uintptr_t lowest;
};

/* Read at run time, so the alloca below stays dynamic: compilers turn a
 * constant-size one into an ordinary local, which ASan may move to its fake
 * stack (detect_stack_use_after_return) instead of the coroutine's. */
static volatile size_t deep_frame = DEEP_FRAME;

/* Each level keeps DEEP_FRAME bytes live across the recursive call. */
static __attribute__((noinline)) unsigned long deep(unsigned depth,
                                                    uintptr_t *lowest)
{
    size_t size = deep_frame, i;
    volatile unsigned char *buf = alloca(size);
    unsigned long sum = 0;

    for (i = 0; i < size; i++)
        buf[i] = (unsigned char)(depth * 31 + i);
    if ((uintptr_t)buf < *lowest)
        *lowest = (uintptr_t)buf;
    if (depth > 0)
        sum = deep(depth - 1, lowest);
    for (i = 0; i < size; i++)
        sum += buf[i] * (i + 1);
    return sum;
}

static void go_deep(struct gn_coro *co, void *arg)
{
    struct deep_run *d = arg;

    (void)co;
    d->top = stack_top();
    d->lowest = UINTPTR_MAX;
    d->sum = deep(DEEP_DEPTH, &d->lowest);
}

START_TEST(coro_deep_call)
{
    struct gn_coro_pool *pool = new_pool(256 * 1024, 1);
    struct deep_run d = {0};
    uintptr_t unused = UINTPTR_MAX;
    struct gn_coro *co;

    co = gn__coro_new(pool, go_deep, &d, NULL, NULL);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(gn__coro_resume(co), GN_YIELD_DONE);
    ck_assert_uint_eq(d.sum, deep(DEEP_DEPTH, &unused));
    ck_assert_uint_ge(d.top - d.lowest, DEEP_DEPTH * DEEP_FRAME);
    ck_assert_uint_lt(d.top - d.lowest, gn__coro_pool_stack_size(pool));
    gn__coro_release(co);
    gn__coro_pool_free(pool);
}
END_TEST

/* --- floating point and stack alignment -------------------------------- */

struct fp_run {
    char text[2][64];
    long double ld[2];
    uintptr_t misaligned;
};

static long double long_double_op(void)
{
    volatile long double third = 1.0L / 3.0L;

    return third * 3.0L + 0.5L;
}

/* printf of a double saves the vector registers with aligned stores, and
 * a 16-byte aligned local is only aligned if the stack pointer was. */
static void fp_work(struct fp_run *r, int pass)
{
    _Alignas(16) volatile unsigned char probe[16];
    volatile double d = 3.14159;

    probe[0] = 0;
    r->misaligned |= (uintptr_t)probe % 16;
    snprintf(r->text[pass], sizeof(r->text[pass]), "%.3f %.2e", d, d * 1e6);
    r->ld[pass] = long_double_op();
}

static void use_fpu(struct gn_coro *co, void *arg)
{
    (void)co;
    fp_work(arg, 0);
    gn__coro_yield(GN_YIELD_WAIT);
    fp_work(arg, 1);
}

START_TEST(coro_floating_point)
{
    struct gn_coro_pool *pool = new_pool(GN_CORO_STACK_DEFAULT, 1);
    struct fp_run r = {0};
    struct gn_coro *co;

    co = gn__coro_new(pool, use_fpu, &r, NULL, NULL);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(gn__coro_resume(co), GN_YIELD_WAIT);
    ck_assert_int_eq(gn__coro_resume(co), GN_YIELD_DONE);
    ck_assert_uint_eq(r.misaligned, 0);
    ck_assert_str_eq(r.text[0], "3.142 3.14e+06");
    ck_assert_str_eq(r.text[1], "3.142 3.14e+06");
    ck_assert(r.ld[0] == long_double_op());
    ck_assert(r.ld[1] == long_double_op());
    gn__coro_release(co);
    gn__coro_pool_free(pool);
}
END_TEST

#if defined(__x86_64__)
#include <xmmintrin.h>

/* Rounding mode as the x87 unit (fegetround) and SSE (MXCSR) see it. */
static bool rounding_is(int mode, unsigned mxcsr_rc)
{
    return fegetround() == mode && (_mm_getcsr() & 0x6000) == mxcsr_rc;
}

static void round_upward(struct gn_coro *co, void *arg)
{
    int *bad = arg;

    (void)co;
    if (!rounding_is(FE_TOWARDZERO, 0x6000)) /* inherited from the creator */
        (*bad)++;
    fesetround(FE_UPWARD);
    gn__coro_yield(GN_YIELD_WAIT);
    if (!rounding_is(FE_UPWARD, 0x4000))
        (*bad)++;
}

/* Each context keeps its own MXCSR and x87 control word. */
START_TEST(coro_fp_control_per_context)
{
    struct gn_coro_pool *pool = new_pool(GN_CORO_STACK_DEFAULT, 1);
    struct gn_coro *co;
    int bad = 0;

    fesetround(FE_TOWARDZERO);
    co = gn__coro_new(pool, round_upward, &bad, NULL, NULL);
    fesetround(FE_TONEAREST);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(gn__coro_resume(co), GN_YIELD_WAIT);
    ck_assert(rounding_is(FE_TONEAREST, 0));
    ck_assert_int_eq(gn__coro_resume(co), GN_YIELD_DONE);
    ck_assert(rounding_is(FE_TONEAREST, 0));
    ck_assert_int_eq(bad, 0);
    gn__coro_release(co);
    gn__coro_pool_free(pool);
}
END_TEST
#endif

/* --- longjmp inside a coroutine ---------------------------------------- */

static jmp_buf unwind_to;

static volatile bool throwing = true; /* a way out, for the compiler */

/* Recurse DEPTH frames, then longjmp out of all of them. */
static __attribute__((noinline)) int throw_from(int depth)
{
    volatile char frame[64];

    frame[0] = (char)depth;
    if (depth > 0)
        frame[0] += (char)throw_from(depth - 1);
    else if (throwing)
        longjmp(unwind_to, 1);
    return frame[0];
}

static void catch_twice(struct gn_coro *co, void *arg)
{
    int *caught = arg;

    (void)co;
    if (setjmp(unwind_to) == 0)
        throw_from(10);
    (*caught)++;
    gn__coro_yield(GN_YIELD_WAIT);
    if (setjmp(unwind_to) == 0)
        throw_from(5);
    (*caught)++;
}

/* Error unwinding within one coroutine's stack works on either side of a
 * yield (under ASan this also checks that it knows which stack is live). */
START_TEST(coro_longjmp_inside)
{
    struct gn_coro_pool *pool = new_pool(64 * 1024, 1);
    struct gn_coro *co;
    int caught = 0;

    co = gn__coro_new(pool, catch_twice, &caught, NULL, NULL);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(gn__coro_resume(co), GN_YIELD_WAIT);
    ck_assert_int_eq(caught, 1);
    ck_assert_int_eq(gn__coro_resume(co), GN_YIELD_DONE);
    ck_assert_int_eq(caught, 2);
    gn__coro_release(co);
    gn__coro_pool_free(pool);
}
END_TEST

/* --- the pool ---------------------------------------------------------- */

struct stack_note {
    int ran;
    uintptr_t top;
    void *data;
};

static void note_stack(struct gn_coro *co, void *arg)
{
    struct stack_note *n = arg;

    n->ran++;
    n->top = stack_top();
    n->data = gn__coro_data(co);
}

static void yield_forever(struct gn_coro *co, void *arg)
{
    (void)co;
    (void)arg;
    for (;;)
        gn__coro_yield(GN_YIELD_WAIT);
}

START_TEST(coro_reuse_after_done)
{
    struct gn_coro_pool *pool = new_pool(64 * 1024, 2);
    struct stack_note first = {0}, second = {0};
    struct gn_coro *a, *b;

    a = gn__coro_new(pool, note_stack, &first, NULL, NULL);
    ck_assert_ptr_nonnull(a);
    gn__coro_set_data(a, &first);
    ck_assert_int_eq(gn__coro_resume(a), GN_YIELD_DONE);
    ck_assert_ptr_eq(first.data, &first);
    gn__coro_release(a);

    b = gn__coro_new(pool, note_stack, &second, NULL, NULL);
    ck_assert_ptr_eq(b, a);
    ck_assert_ptr_null(gn__coro_data(b));
    ck_assert_int_eq(gn__coro_resume(b), GN_YIELD_DONE);
    ck_assert_int_eq(first.ran, 1);
    ck_assert_int_eq(second.ran, 1);
    ck_assert_uint_eq(second.top, first.top);
    gn__coro_release(b);
    gn__coro_pool_free(pool);
}
END_TEST

/* A coroutine released while suspended comes back fresh: the new function
 * starts at the top of the stack and the old one never continues. */
START_TEST(coro_reuse_after_abandon)
{
    struct gn_coro_pool *pool = new_pool(64 * 1024, 2);
    struct stack_note note = {0};
    struct gn_coro *a, *b;
    int i;

    a = gn__coro_new(pool, yield_forever, NULL, NULL, NULL);
    ck_assert_ptr_nonnull(a);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(gn__coro_resume(a), GN_YIELD_WAIT);
    gn__coro_release(a);

    b = gn__coro_new(pool, note_stack, &note, NULL, NULL);
    ck_assert_ptr_eq(b, a);
    ck_assert_int_eq(gn__coro_resume(b), GN_YIELD_DONE);
    ck_assert_int_eq(note.ran, 1);
    gn__coro_release(b);
    gn__coro_pool_free(pool);
}
END_TEST

enum { BOUND_IDLE = 2, BOUND_COROS = 4 };

/* Released coroutines beyond MAX_IDLE have their stacks unmapped at once;
 * the idle ones are unmapped by gn__coro_pool_free. */
START_TEST(coro_pool_idle_bound)
{
    struct gn_coro_pool *pool = new_pool(16 * 1024, BOUND_IDLE);
    struct stack_note notes[BOUND_COROS] = {{0}};
    struct gn_coro *co[BOUND_COROS], *again[BOUND_IDLE + 1];
    int i;

    for (i = 0; i < BOUND_COROS; i++) {
        co[i] = gn__coro_new(pool, note_stack, &notes[i], NULL, NULL);
        ck_assert_ptr_nonnull(co[i]);
        ck_assert_int_eq(gn__coro_resume(co[i]), GN_YIELD_DONE);
    }
    for (i = 0; i < BOUND_COROS; i++)
        gn__coro_release(co[i]);
    for (i = 0; i < BOUND_COROS; i++)
        ck_assert_int_eq(is_mapped(notes[i].top - 1), i < BOUND_IDLE);

    for (i = 0; i <= BOUND_IDLE; i++) {
        again[i] = gn__coro_new(pool, run_once, NULL, NULL, NULL);
        ck_assert_ptr_nonnull(again[i]);
    }
    ck_assert_ptr_eq(again[0], co[1]); /* the last released comes first */
    ck_assert_ptr_eq(again[1], co[0]);
    for (i = 0; i <= BOUND_IDLE; i++)
        gn__coro_release(again[i]);
    gn__coro_pool_free(pool);
    for (i = 0; i < BOUND_IDLE; i++)
        ck_assert(!is_mapped(notes[i].top - 1));
}
END_TEST

/* In a burst (32 live and more) stacks are mapped 16 at a time, and
 * each is still a stack of its own: distinct, usable, unmapped one by
 * one (beyond max_idle at release, the rest by gn__coro_pool_free). */
enum { BURST = 100, BURST_IDLE = 40 };

static void note_and_wait(struct gn_coro *co, void *arg)
{
    struct stack_note *n = arg;
    volatile char *top;

    note_stack(co, arg);
    top = (volatile char *)n->top;
    top[-1] = (char)n->ran; /* the top page is ours to write */
    gn__coro_yield(GN_YIELD_WAIT);
    n->ran += top[-1];
}

START_TEST(coro_burst_maps_stacks_in_batches)
{
    struct gn_coro_pool *pool = new_pool(64 * 1024, BURST_IDLE);
    static struct stack_note notes[BURST];
    static struct gn_coro *co[BURST];
    size_t unmapped = 0;

    memset(notes, 0, sizeof(notes));
    for (int i = 0; i < BURST; i++) {
        co[i] = gn__coro_new(pool, note_and_wait, &notes[i], NULL, NULL);
        ck_assert_ptr_nonnull(co[i]);
        ck_assert_int_eq(gn__coro_resume(co[i]), GN_YIELD_WAIT);
    }
    for (int i = 0; i < BURST; i++)
        for (int j = 0; j < i; j++)
            if (notes[i].top == notes[j].top)
                ck_abort_msg("coroutines %d and %d share a stack", j, i);
    for (int i = 0; i < BURST; i++) {
        ck_assert_int_eq(gn__coro_resume(co[i]), GN_YIELD_DONE);
        ck_assert_int_eq(notes[i].ran, 2);
        gn__coro_release(co[i]);
    }
    for (int i = 0; i < BURST; i++)
        unmapped += !is_mapped(notes[i].top - 1);
    /* max_idle kept; some of those made ahead in the last batch may be
     * among them, so at least BURST - BURST_IDLE went. */
    ck_assert_uint_ge(unmapped, BURST - BURST_IDLE);
    ck_assert_uint_eq(gn__coro_pool_live(pool), 0);
    gn__coro_pool_free(pool);
    for (int i = 0; i < BURST; i++)
        ck_assert(!is_mapped(notes[i].top - 1));
}
END_TEST

/* --- the current coroutine and the data slot --------------------------- */

struct seen {
    struct gn_coro *at_start;
    struct gn_coro *after_yield;
    void *data;
};

static void look_around(struct gn_coro *co, void *arg)
{
    struct seen *s = arg;

    (void)co;
    s->at_start = gn__coro_current();
    gn__coro_yield(GN_YIELD_WAIT);
    s->after_yield = gn__coro_current();
    s->data = gn__coro_data(gn__coro_current());
}

START_TEST(coro_current)
{
    struct gn_coro_pool *pool = new_pool(GN_CORO_STACK_DEFAULT, 1);
    struct seen s = {0};
    struct gn_coro *co;
    int slot;

    ck_assert_ptr_null(gn__coro_current());
    co = gn__coro_new(pool, look_around, &s, NULL, NULL);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(gn__coro_resume(co), GN_YIELD_WAIT);
    ck_assert_ptr_eq(s.at_start, co);
    ck_assert_ptr_null(gn__coro_current());
    gn__coro_set_data(co, &slot);
    ck_assert_ptr_eq(gn__coro_data(co), &slot);
    ck_assert_int_eq(gn__coro_resume(co), GN_YIELD_DONE);
    ck_assert_ptr_eq(s.after_yield, co);
    ck_assert_ptr_eq(s.data, &slot);
    ck_assert_ptr_null(gn__coro_current());
    gn__coro_release(co);
    gn__coro_pool_free(pool);
}
END_TEST

/* --- the guard page ---------------------------------------------------- */

/* Sanitizers catch SIGSEGV to print a report and exit; these tests want the
 * kernel's default action, death by SIGSEGV, for Check to see. */
static void default_segv(void)
{
    struct sigaction sa = {.sa_handler = SIG_DFL};

    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGSEGV, &sa, NULL), 0);
}

/* The usable stack is [top - size, top); the byte below is the guard page. */
static void write_below_stack(struct gn_coro *co, void *arg)
{
    size_t size = *(size_t *)arg;
    volatile char *lowest = (volatile char *)(stack_top() - size);

    (void)co;
    lowest[0] = 1;
    lowest[-1] = 1;
}

/* Write below a new coroutine's stack, the last of a burst's (mapped in a
 * batch) when BURST: its guard must kill the test with SIGSEGV. */
static void write_below_a_stack(bool burst)
{
    struct gn_coro_pool *pool = new_pool(64 * 1024, burst ? 64 : 0);
    size_t size = gn__coro_pool_stack_size(pool);
    struct gn_coro *co;

    if (burst) {
        for (int i = 0; i < 39; i++) {
            co = gn__coro_new(pool, yield_forever, NULL, NULL, NULL);
            ck_assert_ptr_nonnull(co);
            ck_assert_int_eq(gn__coro_resume(co), GN_YIELD_WAIT);
        }
    }
    co = gn__coro_new(pool, write_below_stack, &size, NULL, NULL);
    ck_assert_ptr_nonnull(co);
    default_segv();
    gn__coro_resume(co);
    ck_abort_msg("writing below the stack did not fault");
}

/* CODE, N instructions, as this test process's seccomp filter. */
static void install_filter(struct sock_filter *code, unsigned short n)
{
    struct sock_fprog prog = {.len = n, .filter = code};

    ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    ck_assert_int_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
}

/* A kernel before 6.13 has no guard markers (madvise says EINVAL): the
 * guard is then a PROT_NONE region. These tests' processes refuse the
 * marker with a seccomp filter, as such a kernel would. */
static void refuse_guard_markers(void)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_madvise, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                 offsetof(struct seccomp_data, args[2])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 102 /* MADV_GUARD_INSTALL */, 0,
                 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };

    install_filter(code, sizeof(code) / sizeof(code[0]));
    ck_assert_int_eq(madvise(NULL, 0, 102), -1);
}

/* ... nor process_madvise for itself (Linux 6.13): a burst's guards are
 * then made one by one. */
static void refuse_batched_advice(void)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_process_madvise, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };

    install_filter(code, sizeof(code) / sizeof(code[0]));
}

START_TEST(coro_guard_page_faults)
{
    write_below_a_stack(false);
}
END_TEST

START_TEST(coro_guard_page_faults_without_markers)
{
    refuse_guard_markers();
    write_below_a_stack(false);
}
END_TEST

START_TEST(coro_guard_page_faults_in_a_burst)
{
    write_below_a_stack(true);
}
END_TEST

START_TEST(coro_guard_page_faults_in_a_burst_without_markers)
{
    refuse_guard_markers();
    refuse_batched_advice();
    write_below_a_stack(true);
}
END_TEST

/* Small frames, so the overflow cannot step over the guard page. */
static __attribute__((noinline)) unsigned recurse_forever(unsigned depth)
{
    volatile unsigned char buf[256];

    buf[0] = (unsigned char)depth;
    buf[255] = (unsigned char)depth;
    if (depth == UINT32_MAX)
        return 0;
    return recurse_forever(depth + 1) + buf[0] + buf[255];
}

static void overflow_stack(struct gn_coro *co, void *arg)
{
    (void)co;
    *(unsigned *)arg = recurse_forever(0);
}

START_TEST(coro_stack_overflow_faults)
{
    struct gn_coro_pool *pool = new_pool(64 * 1024, 0);
    unsigned result = 0;
    struct gn_coro *co;

    co = gn__coro_new(pool, overflow_stack, &result, NULL, NULL);
    ck_assert_ptr_nonnull(co);
    default_segv();
    gn__coro_resume(co);
    ck_abort_msg("overflowing the stack did not fault");
}
END_TEST

/* --- stack sizes ------------------------------------------------------- */

START_TEST(coro_stack_size_rounding)
{
    size_t page = page_size();
    const size_t cases[][2] = {
        {1, page},
        {page, page},
        {page + 1, 2 * page},
        {100000, (100000 + page - 1) / page * page},
        {GN_CORO_STACK_DEFAULT, GN_CORO_STACK_DEFAULT},
    };
    struct gn_coro_pool *pool;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pool = new_pool(cases[i][0], 0);
        ck_assert_uint_eq(gn__coro_pool_stack_size(pool), cases[i][1]);
        gn__coro_pool_free(pool);
    }
    errno = 0;
    ck_assert_ptr_null(gn__coro_pool_new(0, 0));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(gn__coro_pool_new(SIZE_MAX, 0));
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* A one-page stack is enough for a small function. */
START_TEST(coro_smallest_stack_runs)
{
    struct gn_coro_pool *pool = new_pool(1, 0);
    struct counts c = {0};
    struct gn_coro *co;

    co = gn__coro_new(pool, run_once, &c, count_exit, &c);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(gn__coro_resume(co), GN_YIELD_DONE);
    ck_assert_int_eq(c.ran, 1);
    gn__coro_release(co);
    gn__coro_pool_free(pool);
}
END_TEST

/* --- the suite --------------------------------------------------------- */

static void add_case(Suite *s, const char *name, const TTest *test, int signal)
{
    TCase *tc = tcase_create(name);

    tcase_add_test_raise_signal(tc, test, signal);
    suite_add_tcase(s, tc);
}

/* A fault test kills the process running it: only Check's fork mode
 * survives that. */
static bool fault_tests_apply(void)
{
    const char *fork = getenv("CK_FORK");

    return fork == NULL || strcmp(fork, "no") != 0;
}

/* ---- timing runs (gn__coro_pool_watch) --------------------------------- */

static int slow_calls;
static int64_t slow_us_seen;

static void on_slow(struct gn_coro *co, int64_t us)
{
    (void)co;
    slow_calls++;
    slow_us_seen = us;
}

static void busy_ms(struct gn_coro *co, void *arg)
{
    struct timespec start, now;
    long ms = (long)(intptr_t)arg;

    (void)co;
    clock_gettime(CLOCK_MONOTONIC, &start);
    /* In nanoseconds: a millisecond count truncated toward zero could
     * stop short when the seconds change. */
    do
        clock_gettime(CLOCK_MONOTONIC, &now);
    while ((now.tv_sec - start.tv_sec) * 1000000000LL +
               (now.tv_nsec - start.tv_nsec) <
           ms * 1000000LL);
}

START_TEST(coro_pool_watch_reports_slow_runs)
{
    struct gn_coro_pool *pool = gn__coro_pool_new(64 * 1024, 4);
    struct gn_coro *co;

    ck_assert_ptr_nonnull(pool);
    slow_calls = 0;
    gn__coro_pool_watch(pool, 20 * 1000, on_slow);
    co = gn__coro_new(pool, busy_ms, (void *)(intptr_t)1, NULL, NULL);
    ck_assert_int_eq(gn__coro_resume(co), GN_YIELD_DONE);
    gn__coro_release(co);
    ck_assert_int_eq(slow_calls, 0); /* 1 ms: under the limit */
    co = gn__coro_new(pool, busy_ms, (void *)(intptr_t)40, NULL, NULL);
    ck_assert_int_eq(gn__coro_resume(co), GN_YIELD_DONE);
    gn__coro_release(co);
    ck_assert_int_eq(slow_calls, 1);
    ck_assert_int_ge(slow_us_seen, 40 * 1000);
    gn__coro_pool_watch(pool, 0, NULL); /* off again */
    co = gn__coro_new(pool, busy_ms, (void *)(intptr_t)40, NULL, NULL);
    gn__coro_resume(co);
    gn__coro_release(co);
    ck_assert_int_eq(slow_calls, 1);
    gn__coro_pool_free(pool);
}
END_TEST

/* ---- the registry of live coroutines (the worker's listing) ---------- */

static const char code_mark; /* where a described function would be */

static void describe_arg(void *arg, char *buf, size_t len, const void **code)
{
    snprintf(buf, len, "serving %s", (const char *)arg);
    *code = &code_mark;
}

static void yield_once(struct gn_coro *co, void *arg)
{
    (void)co;
    (void)arg;
    gn__coro_yield(GN_YIELD_WAIT);
}

/* Reads the clock in its first run (as a request does), then yields. */
static int64_t stamped_at, started_inside;

static void stamp_then_yield(struct gn_coro *co, void *arg)
{
    (void)arg;
    started_inside = gn__coro_started_us(co); /* 0: not stamped yet */
    stamped_at = gn__coro_now_us();
    gn__coro_yield(GN_YIELD_WAIT);
    stamped_at = -1; /* never resumed again */
}

/* An untimed pool takes no stamp of its own at a first resume: the run's
 * first gn__coro_now_us is its start; a run that reads none is stamped
 * when it ends; later runs keep the first. */
START_TEST(coro_first_run_stamped_lazily)
{
    struct gn_coro_pool *pool = gn__coro_pool_new(64 * 1024, 4);
    struct gn_coro *a, *b;
    int64_t before = gn__coro_clock_us(), after;

    ck_assert_ptr_nonnull(pool);
    a = gn__coro_new(pool, stamp_then_yield, NULL, NULL, NULL);
    ck_assert_int_eq(gn__coro_resume(a), GN_YIELD_WAIT);
    ck_assert_int_eq(started_inside, 0);
    ck_assert_int_ge(stamped_at, before);
    ck_assert_int_eq(gn__coro_started_us(a), stamped_at);
    ck_assert_int_ge(gn__coro_now_us(), stamped_at); /* from the loop */
    ck_assert_int_eq(gn__coro_started_us(a), stamped_at); /* outside: kept */

    b = gn__coro_new(pool, yield_once, NULL, NULL, NULL);
    ck_assert_int_eq(gn__coro_resume(b), GN_YIELD_WAIT);
    after = gn__coro_clock_us();
    ck_assert_int_ge(gn__coro_started_us(b), stamped_at);
    ck_assert_int_le(gn__coro_started_us(b), after);
    gn__coro_release(a);
    gn__coro_release(b);
    gn__coro_pool_free(pool);
}
END_TEST

/* What the listing walks: the live coroutines newest first, their count,
 * when each first ran, and what its describe function says. */
START_TEST(coro_registry_lists_live_coroutines)
{
    struct gn_coro_pool *pool = gn__coro_pool_new(64 * 1024, 4);
    struct gn_coro *a, *b, *c;
    char buf[64];
    const void *code;
    int64_t before = gn__coro_clock_us();

    ck_assert_ptr_nonnull(pool);
    ck_assert_ptr_null(gn__coro_pool_first(pool));
    a = gn__coro_new(pool, yield_once, "a", NULL, NULL);
    b = gn__coro_new(pool, yield_once, "b", NULL, NULL);
    c = gn__coro_new(pool, yield_once, "c", NULL, NULL);
    ck_assert_uint_eq(gn__coro_pool_live(pool), 3);
    ck_assert_ptr_eq(gn__coro_pool_first(pool), c);
    ck_assert_ptr_eq(gn__coro_next(c), b);
    ck_assert_ptr_eq(gn__coro_next(b), a);
    ck_assert_ptr_null(gn__coro_next(a));
    ck_assert_int_eq(gn__coro_started_us(a), 0); /* not run yet */

    /* No describe function: "" and no code. */
    gn__coro_describe(a, buf, sizeof(buf), &code);
    ck_assert_str_eq(buf, "");
    ck_assert_ptr_null(code);
    gn__coro_set_describe(b, describe_arg);
    gn__coro_describe(b, buf, sizeof(buf), &code);
    ck_assert_str_eq(buf, "serving b"); /* called with gn__coro_new's ARG */
    ck_assert_ptr_eq(code, &code_mark);

    /* Out of the middle, suspended or not, and from either end. */
    ck_assert_int_eq(gn__coro_resume(b), GN_YIELD_WAIT);
    ck_assert_int_ge(gn__coro_started_us(b), before);
    ck_assert_int_le(gn__coro_started_us(b), gn__coro_clock_us());
    gn__coro_release(b);
    ck_assert_ptr_eq(gn__coro_next(c), a);
    ck_assert_uint_eq(gn__coro_pool_live(pool), 2);
    gn__coro_release(c);
    ck_assert_ptr_eq(gn__coro_pool_first(pool), a);
    gn__coro_release(a);
    ck_assert_ptr_null(gn__coro_pool_first(pool));

    /* A reused coroutine forgets its describe function. */
    b = gn__coro_new(pool, yield_once, "b", NULL, NULL);
    gn__coro_describe(b, buf, sizeof(buf), &code);
    ck_assert_str_eq(buf, "");
    gn__coro_release(b);
    gn__coro_pool_free(pool);
}
END_TEST

static struct gn_coro_run seen_run;

static void note_run(struct gn_coro *co, void *arg)
{
    (void)co;
    (void)arg;
    gn__coro_run_now(&seen_run);
}

/* The watchdog's view: which coroutine runs, a count that moves at each
 * resume, and when the run began when the pool is timed. */
START_TEST(coro_run_now_names_the_running_coroutine)
{
    struct gn_coro_pool *pool = gn__coro_pool_new(64 * 1024, 4);
    struct gn_coro_run out;
    struct gn_coro *co;
    uint64_t seq;

    ck_assert_ptr_nonnull(pool);
    co = gn__coro_new(pool, note_run, NULL, NULL, NULL);
    gn__coro_resume(co);
    ck_assert_ptr_eq(seen_run.co, co);
    ck_assert_int_eq(seen_run.start_us, 0); /* not timed */
    gn__coro_run_now(&out);
    ck_assert_ptr_null(out.co); /* back in the loop */
    ck_assert_uint_eq(out.seq, seen_run.seq);
    seq = out.seq;
    gn__coro_release(co);

    gn__coro_pool_watch(pool, 1000 * 1000, on_slow);
    co = gn__coro_new(pool, note_run, NULL, NULL, NULL);
    gn__coro_resume(co);
    ck_assert_uint_eq(seen_run.seq, seq + 1);
    ck_assert_int_gt(seen_run.start_us, 0);
    gn__coro_release(co);
    gn__coro_pool_free(pool);
}
END_TEST

/* ---- prefill (stack_prealloc) ---------------------------------------- */

static void note_frame(struct gn_coro *co, void *arg)
{
    volatile char here = 0;

    (void)co;
    *(uintptr_t *)arg = (uintptr_t)&here; /* a number: it is gone soon */
}

/* Whether each page of [ADDR, ADDR + LEN) is in memory. */
static bool resident(const char *addr, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char vec[16];

    ck_assert_uint_le(len / page, sizeof(vec));
    ck_assert_int_eq(mincore((void *)addr, len, vec), 0);
    for (size_t i = 0; i < len / page; i++)
        if (!(vec[i] & 1))
            return false;
    return true;
}

/* Prefilled coroutines wait in the idle list (no more than max_idle),
 * the top of their stacks already in memory; a coroutine taken from the
 * pool runs on one of them. */
START_TEST(coro_pool_prefill_maps_stacks)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    struct gn_coro_pool *pool = new_pool(64 * 1024, 3);
    struct gn_coro *co;
    uintptr_t local = 0;
    char *top;

    ck_assert_uint_eq(gn__coro_pool_prefill(pool, 10, 2 * page), 3);
    ck_assert_uint_eq(gn__coro_pool_prefill(pool, 10, 2 * page), 0);
    ck_assert_uint_eq(gn__coro_pool_live(pool), 0);
    co = gn__coro_new(pool, note_frame, &local, NULL, NULL);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(gn__coro_resume(co), GN_YIELD_DONE);
    ck_assert_uint_ne(local, 0);
    /* The frame's page is the stack's top one (the stack top is
     * page-aligned): the page under it was only ever touched by the
     * prefill. */
    top = (char *)((local + page) & ~(uintptr_t)(page - 1));
    ck_assert(resident(top - 2 * page, 2 * page));
    gn__coro_release(co);
    gn__coro_pool_free(pool);
}
END_TEST

static Suite *coro_suite(void)
{
    Suite *s = suite_create("green/coro");

    add_case(s, "completion", coro_runs_to_completion, 0);
    add_case(s, "pool_watch", coro_pool_watch_reports_slow_runs, 0);
    add_case(s, "registry", coro_registry_lists_live_coroutines, 0);
    add_case(s, "registry", coro_first_run_stamped_lazily, 0);
    add_case(s, "run_now", coro_run_now_names_the_running_coroutine, 0);
    add_case(s, "ping_pong", coro_yield_ping_pong, 0);
    add_case(s, "many_switches", coro_many_switches, 0);
    add_case(s, "deep_call", coro_deep_call, 0);
    add_case(s, "floating_point", coro_floating_point, 0);
#if defined(__x86_64__)
    add_case(s, "fp_control", coro_fp_control_per_context, 0);
#endif
    add_case(s, "longjmp_inside", coro_longjmp_inside, 0);
    add_case(s, "reuse_after_done", coro_reuse_after_done, 0);
    add_case(s, "reuse_after_abandon", coro_reuse_after_abandon, 0);
    add_case(s, "pool_idle_bound", coro_pool_idle_bound, 0);
    add_case(s, "current", coro_current, 0);
    add_case(s, "stack_size", coro_stack_size_rounding, 0);
    add_case(s, "smallest_stack", coro_smallest_stack_runs, 0);
    add_case(s, "prefill", coro_pool_prefill_maps_stacks, 0);
    add_case(s, "burst", coro_burst_maps_stacks_in_batches, 0);
    if (fault_tests_apply()) {
        add_case(s, "guard_page", coro_guard_page_faults, SIGSEGV);
        add_case(s, "guard_page_no_markers",
                 coro_guard_page_faults_without_markers, SIGSEGV);
        add_case(s, "guard_page_burst", coro_guard_page_faults_in_a_burst,
                 SIGSEGV);
        add_case(s, "guard_page_burst_no_markers",
                 coro_guard_page_faults_in_a_burst_without_markers, SIGSEGV);
        add_case(s, "stack_overflow", coro_stack_overflow_faults, SIGSEGV);
    }
    return s;
}

int main(void)
{
    return gn_test_run_suite(coro_suite());
}
