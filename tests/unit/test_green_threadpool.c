/*
 * Unit tests of the thread pool (green/threadpool.c) on a real event
 * loop: results and where functions run, overlap, FIFO order, a full
 * queue failing at once, timeouts and cancellation (the call returns,
 * the function runs on, drop frees what it used), the pass-through of
 * libc on the pool's threads (gn__patch_now is 0 there), what happens
 * outside a coroutine and off the loop thread, and stopping. The
 * fixture is green_fixture.c's; functions block with usleep.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "green/coro.h"
#include "green/park.h"
#include "green/threadpool.h"
#include "green_fixture.h"
#include "greenicorn.h"
#include "patch/patch.h"
#include "run_suite.h"

/* ---- the functions the pool runs ---------------------------------------- */

/* What a function saw, written on its thread, read once it is done. */
struct work {
    int sleep_ms;
    int index;           /* for the order test */
    pthread_t thread;    /* where it ran */
    int on_loop_thread;  /* gn__on_loop_thread() there */
    unsigned patch_now;  /* gn__patch_now there */
    int patched_time;    /* gn__patch_on(GN_PATCH_TIME) there */
    int green_rc;        /* a green call made there */
    atomic_int started;  /* it began */
    atomic_int finished; /* it returned */
    int64_t finished_ms; /* when */
    /* The caller's side. */
    double timeout;
    int rc;
    void *result;
    int64_t took_ms;
    int dropped;               /* drop ran */
    void *dropped_result;      /* with this */
    int drop_on_loop;          /* gn__on_loop_thread() in drop */
    int drop_in_coro;          /* gn__coro_current() != NULL in drop */
    int dropped_before_finish; /* drop ran before the function ended */
};

static void *work_fn(void *arg)
{
    struct work *w = arg;

    atomic_store(&w->started, 1);
    w->thread = pthread_self();
    w->on_loop_thread = gn__on_loop_thread();
    w->patch_now = gn__patch_now;
    w->patched_time = gn__patch_on(GN_PATCH_TIME);
    w->green_rc = gn_sleep(0);
    if (w->sleep_ms > 0)
        usleep((useconds_t)w->sleep_ms * 1000);
    w->finished_ms = gn_test_now_ms();
    atomic_store(&w->finished, 1);
    return (char *)w + 1; /* a result the caller can recognise */
}

static void drop_fn(void *arg, void *result)
{
    struct work *w = arg;

    w->dropped++;
    w->dropped_result = result;
    w->drop_on_loop = gn__on_loop_thread();
    w->drop_in_coro = gn__coro_current() != NULL;
    w->dropped_before_finish = !atomic_load(&w->finished);
}

/* A task: run W through the pool, timing the call. */
static void call_task(struct gn_coro *co, void *arg)
{
    struct work *w = arg;
    int64_t start = gn_test_now_ms();

    (void)co;
    w->rc = gn_run_in_thread(work_fn, w, drop_fn, w->timeout, &w->result);
    w->took_ms = gn_test_now_ms() - start;
}

/* The pool's threads in this process (the "gn-pool" ones). */
static int pool_threads(void)
{
    char path[300], name[32];
    struct dirent *de;
    DIR *d = opendir("/proc/self/task");
    int n = 0;

    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL) {
        FILE *f;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
        f = fopen(path, "r");
        if (f == NULL)
            continue; /* it just ended */
        if (fgets(name, sizeof(name), f) != NULL &&
            strncmp(name, "gn-pool", 7) == 0)
            n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

/* ---- results ---------------------------------------------------------- */

START_TEST(threadpool_returns_the_result_from_another_thread)
{
    struct work w = {.sleep_ms = 20, .timeout = 5};

    gn__threadpool_setup(3, 10);
    go(call_task, &w);
    run();
    ck_assert_int_eq(w.rc, 0);
    ck_assert_ptr_eq(w.result, (char *)&w + 1);
    ck_assert(!pthread_equal(w.thread, pthread_self()));
    ck_assert_int_eq(w.on_loop_thread, 0);
    /* The green API is the loop thread's: refused there. */
    ck_assert_int_eq(w.green_rc, -EPERM);
    ck_assert_int_eq(w.dropped, 0);
    ck_assert_int_ge(w.took_ms, 15);
    ck_assert_int_eq(gn__threadpool_stop(1000), 0);
}
END_TEST

START_TEST(threadpool_passes_libc_through_on_its_threads)
{
    struct work w = {.timeout = 5};

    /* A worker with every family patched: its coroutines are... */
    gn__patch_enable(GN_PATCH_ALL);
    go(call_task, &w);
    run();
    ck_assert_int_eq(w.rc, 0);
    /* ...but the pool's thread is not: what FN calls is libc's. */
    ck_assert_uint_eq(w.patch_now, 0);
    ck_assert_int_eq(w.patched_time, 0);
    gn__patch_enable(0);
}
END_TEST

/* The same flag in the coroutine that made the call: on, so the check
 * above is not vacuous. */
static void patched_task(struct gn_coro *co, void *arg)
{
    (void)co;
    *(int *)arg = gn__patch_on(GN_PATCH_TIME);
}

START_TEST(threadpool_callers_are_patched_where_its_threads_are_not)
{
    int patched = -1;

    gn__patch_enable(GN_PATCH_ALL);
    go(patched_task, &patched);
    run();
    ck_assert_int_eq(patched, 1);
    gn__patch_enable(0);
}
END_TEST

START_TEST(threadpool_starts_its_threads_on_first_use)
{
    struct work w = {.timeout = 5};
    void *r = NULL;

    gn__threadpool_setup(4, 10);
    ck_assert_int_eq(pool_threads(), 0);
    /* Outside a coroutine the function runs inline: still no thread. */
    ck_assert_int_eq(gn_run_in_thread(work_fn, &w, drop_fn, 5, &r), 0);
    ck_assert_ptr_eq(r, (char *)&w + 1);
    ck_assert(pthread_equal(w.thread, pthread_self()));
    ck_assert_int_eq(pool_threads(), 0);
    go(call_task, &w);
    run();
    ck_assert_int_eq(w.rc, 0);
    ck_assert_int_eq(pool_threads(), 4);
    ck_assert_int_eq(gn__threadpool_stop(1000), 0);
    ck_assert_int_eq(pool_threads(), 0);
}
END_TEST

START_TEST(threadpool_runs_size_functions_at_once)
{
    struct work w[8];
    int64_t start = gn_test_now_ms(), took;

    gn__threadpool_setup(4, 10);
    for (int i = 0; i < 8; i++) {
        w[i] = (struct work){.sleep_ms = 100, .timeout = 10};
        go(call_task, &w[i]);
    }
    run();
    took = gn_test_now_ms() - start;
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(w[i].rc, 0);
    /* Two rounds of four: 200 ms; one after another would be 800. */
    ck_assert_int_ge(took, 190);
    ck_assert_int_lt(took, 600);
}
END_TEST

/* gevent's threadpool.spawn: green threads around the call, joined
 * later, so one task has several functions out at once. */
static int spawned_call(void *arg)
{
    struct work *w = arg;

    w->rc = gn_run_in_thread(work_fn, w, drop_fn, 10, &w->result);
    return w->rc;
}

static void fan_out_task(struct gn_coro *co, void *arg)
{
    struct work *w = arg;
    gn_thread_t *t[3];
    int rc;

    (void)co;
    for (int i = 0; i < 3; i++)
        ck_assert_ptr_nonnull(t[i] = gn_spawn(spawned_call, &w[i]));
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(gn_join(t[i], 10, &rc), 0);
        ck_assert_int_eq(rc, 0);
    }
}

START_TEST(threadpool_calls_from_green_threads_overlap)
{
    struct work w[3];
    int64_t start = gn_test_now_ms(), took;

    gn__threadpool_setup(3, 0);
    for (int i = 0; i < 3; i++)
        w[i] = (struct work){.sleep_ms = 150};
    go(fan_out_task, w);
    run();
    took = gn_test_now_ms() - start;
    for (int i = 0; i < 3; i++)
        ck_assert_ptr_eq(w[i].result, (char *)&w[i] + 1);
    ck_assert_int_ge(took, 140);
    ck_assert_int_lt(took, 400); /* one after another: 450 */
}
END_TEST

/* ---- order ------------------------------------------------------------ */

static int order[16], norder;
static atomic_int started_order[16];
static atomic_int nstarted;

static void *order_fn(void *arg)
{
    struct work *w = arg;

    atomic_store(&started_order[atomic_fetch_add(&nstarted, 1)], w->index);
    usleep(2000);
    return NULL;
}

static void order_task(struct gn_coro *co, void *arg)
{
    struct work *w = arg;

    (void)co;
    w->rc = gn_run_in_thread(order_fn, w, NULL, 10, NULL);
    order[norder++] = w->index; /* the order the callers resume in */
}

START_TEST(threadpool_runs_and_answers_in_call_order)
{
    struct work w[10];

    gn__threadpool_setup(1, 16);
    norder = 0;
    atomic_store(&nstarted, 0);
    for (int i = 0; i < 10; i++) {
        w[i] = (struct work){.index = i};
        go(order_task, &w[i]);
    }
    run();
    ck_assert_int_eq(atomic_load(&nstarted), 10);
    ck_assert_int_eq(norder, 10);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(w[i].rc, 0);
        ck_assert_int_eq(atomic_load(&started_order[i]), i);
        ck_assert_int_eq(order[i], i);
    }
}
END_TEST

/* ---- a full queue ------------------------------------------------------ */

START_TEST(threadpool_full_queue_fails_at_once)
{
    struct work busy = {.sleep_ms = 300, .timeout = 10};
    struct work queued = {.sleep_ms = 10, .timeout = 10};
    struct work over = {.sleep_ms = 10, .timeout = 10};
    unsigned busy_n, waiting;

    /* One thread and one place in the queue: the third call is refused. */
    gn__threadpool_setup(1, 1);
    go(call_task, &busy);
    go(call_task, &queued);
    go(call_task, &over);
    ck_assert_int_eq(over.rc, -EAGAIN); /* returned before any wait */
    ck_assert_int_lt(over.took_ms, 50);
    ck_assert(!atomic_load(&over.started));
    ck_assert_int_eq(over.dropped, 0); /* the caller kept its argument */
    gn__threadpool_counts(&busy_n, &waiting);
    ck_assert_uint_eq(busy_n + waiting, 2);
    run();
    ck_assert_int_eq(busy.rc, 0);
    ck_assert_int_eq(queued.rc, 0);
    /* Room again once they are done. */
    go(call_task, &over);
    run();
    ck_assert_int_eq(over.rc, 0);
}
END_TEST

START_TEST(threadpool_queue_of_0_takes_only_what_threads_can_run)
{
    struct work a = {.sleep_ms = 200, .timeout = 10};
    struct work b = {.sleep_ms = 200, .timeout = 10};
    struct work c = {.timeout = 10};

    gn__threadpool_setup(2, 0);
    go(call_task, &a);
    go(call_task, &b);
    go(call_task, &c);
    ck_assert_int_eq(c.rc, -EAGAIN);
    run();
    ck_assert_int_eq(a.rc, 0);
    ck_assert_int_eq(b.rc, 0);
}
END_TEST

/* ---- timeouts and cancellation --------------------------------------- */

START_TEST(threadpool_times_out_and_drops_the_late_result)
{
    struct work w = {.sleep_ms = 300, .timeout = 0.05};

    go(call_task, &w);
    run();
    ck_assert_int_eq(w.rc, -ETIMEDOUT);
    ck_assert_int_ge(w.took_ms, 40);
    ck_assert_int_lt(w.took_ms, 250);
    ck_assert(atomic_load(&w.started));
    ck_assert_int_eq(w.dropped, 0); /* not while the function runs */
    drain();                        /* until the pool delivers it */
    ck_assert(atomic_load(&w.finished));
    ck_assert_int_eq(w.dropped, 1);
    ck_assert_int_eq(w.dropped_before_finish, 0);
    ck_assert_ptr_eq(w.dropped_result, (char *)&w + 1);
    ck_assert_int_eq(w.drop_on_loop, 1);
    ck_assert_int_eq(w.drop_in_coro, 0);
}
END_TEST

START_TEST(threadpool_timeout_drops_a_queued_call_unrun)
{
    struct work busy = {.sleep_ms = 300, .timeout = 10};
    struct work queued = {.sleep_ms = 10, .timeout = 0.05};

    gn__threadpool_setup(1, 4);
    go(call_task, &busy);
    go(call_task, &queued);
    run();
    ck_assert_int_eq(queued.rc, -ETIMEDOUT);
    ck_assert_int_lt(queued.took_ms, 250);
    /* Dropped before the call returned, with no result. */
    ck_assert_int_eq(queued.dropped, 1);
    ck_assert_ptr_null(queued.dropped_result);
    ck_assert_int_eq(busy.rc, 0);
    usleep(50 * 1000);
    ck_assert(!atomic_load(&queued.started)); /* and never run */
    ck_assert_int_eq(gn__threadpool_stop(1000), 0);
}
END_TEST

START_TEST(threadpool_call_is_cancelled_like_a_timeout)
{
    struct work w = {.sleep_ms = 300, .timeout = 10};
    struct gn_coro *co;

    co = go(call_task, &w);
    cancel_after(co, 50);
    run();
    ck_assert_int_eq(w.rc, -ECANCELED);
    ck_assert_int_ge(w.took_ms, 40);
    ck_assert_int_lt(w.took_ms, 250);
    ck_assert_int_eq(w.dropped, 0);
    drain();
    ck_assert_int_eq(w.dropped, 1);
    ck_assert_int_eq(w.dropped_before_finish, 0);
    ck_assert_ptr_eq(w.dropped_result, (char *)&w + 1);
}
END_TEST

/* A cancelled request's call never reaches a thread. */
static void cancelled_task(struct gn_coro *co, void *arg)
{
    gn__green_cancel(co, -ECANCELED);
    call_task(co, arg);
}

START_TEST(threadpool_cancelled_caller_does_not_run_it)
{
    struct work w = {.timeout = 10};

    go(cancelled_task, &w);
    run();
    ck_assert_int_eq(w.rc, -ECANCELED);
    ck_assert_int_eq(w.dropped, 1);
    ck_assert_ptr_null(w.dropped_result);
    ck_assert(!atomic_load(&w.started));
}
END_TEST

/* A zero timeout gives the function one turn of the loop. */
START_TEST(threadpool_zero_timeout_times_out)
{
    struct work w = {.sleep_ms = 100, .timeout = 0};

    go(call_task, &w);
    run();
    ck_assert_int_eq(w.rc, -ETIMEDOUT);
    drain();
    ck_assert_int_eq(w.dropped, 1);
}
END_TEST

/* ---- where it may be called from -------------------------------------- */

static void *other_thread(void *arg)
{
    struct work *w = arg;

    w->rc = gn_run_in_thread(work_fn, w, drop_fn, 1, NULL);
    return NULL;
}

START_TEST(threadpool_refuses_other_threads_and_bad_arguments)
{
    struct work w = {.timeout = 1};
    pthread_t t;

    ck_assert_int_eq(pthread_create(&t, NULL, other_thread, &w), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(w.rc, -EPERM);
    ck_assert(!atomic_load(&w.started));
    ck_assert_int_eq(gn_run_in_thread(NULL, &w, NULL, 1, NULL), -EINVAL);
    ck_assert_int_eq(gn_run_in_thread(work_fn, &w, NULL, NAN, NULL), -EINVAL);
}
END_TEST

/* ---- stopping ---------------------------------------------------------- */

START_TEST(threadpool_stop_does_not_wait_for_a_stuck_function)
{
    /* Static: the function outlives the test's frame. */
    static struct work w = {.sleep_ms = 2000, .timeout = 0.02};
    int64_t start;

    gn__threadpool_setup(2, 4);
    go(call_task, &w);
    run();
    ck_assert_int_eq(w.rc, -ETIMEDOUT);
    start = gn_test_now_ms();
    ck_assert_int_eq(gn__threadpool_stop(100), 1); /* one still runs */
    ck_assert_int_ge(gn_test_now_ms() - start, 90);
    ck_assert_int_lt(gn_test_now_ms() - start, 1000);
    ck_assert(!atomic_load(&w.finished));
}
END_TEST

static Suite *green_threadpool_suite(void)
{
    Suite *s = suite_create("green/threadpool");
    TCase *tc = test_case(s, "results");

    tcase_add_test(tc, threadpool_returns_the_result_from_another_thread);
    tcase_add_test(tc, threadpool_passes_libc_through_on_its_threads);
    tcase_add_test(tc,
                   threadpool_callers_are_patched_where_its_threads_are_not);
    tcase_add_test(tc, threadpool_starts_its_threads_on_first_use);
    tcase_add_test(tc, threadpool_runs_size_functions_at_once);
    tcase_add_test(tc, threadpool_calls_from_green_threads_overlap);
    tcase_add_test(tc, threadpool_runs_and_answers_in_call_order);

    tc = test_case(s, "queue");
    tcase_add_test(tc, threadpool_full_queue_fails_at_once);
    tcase_add_test(tc, threadpool_queue_of_0_takes_only_what_threads_can_run);

    tc = test_case(s, "timeout");
    tcase_add_test(tc, threadpool_times_out_and_drops_the_late_result);
    tcase_add_test(tc, threadpool_timeout_drops_a_queued_call_unrun);
    tcase_add_test(tc, threadpool_call_is_cancelled_like_a_timeout);
    tcase_add_test(tc, threadpool_cancelled_caller_does_not_run_it);
    tcase_add_test(tc, threadpool_zero_timeout_times_out);

    tc = test_case(s, "outside");
    tcase_add_test(tc, threadpool_refuses_other_threads_and_bad_arguments);
    tcase_add_test(tc, threadpool_stop_does_not_wait_for_a_stuck_function);
    return s;
}

int main(void)
{
    return gn_test_run_suite(green_threadpool_suite());
}
