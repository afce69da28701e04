/*
 * Unit tests of the green waits (green/park.c) on a real event loop:
 * sleeping and fd waits yield to other coroutines, time out, and are
 * cancelled, and outside any coroutine they block as libc would.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "green/coro.h"
#include "green/loop.h"
#include "green/park.h"
#include "greenicorn.h"
#include "run_suite.h"

static struct gn_loop *loop;
static struct gn_coro_pool *pool;
static int done; /* coroutines finished */

static void setup(void)
{
    loop = gn__loop_new();
    pool = gn__coro_pool_new(64 * 1024, 8);
    ck_assert_ptr_nonnull(loop);
    ck_assert_ptr_nonnull(pool);
    gn__green_init(loop, NULL);
    done = 0;
}

static void teardown(void)
{
    gn__coro_pool_free(pool);
    gn__loop_free(loop);
}

static void finished(struct gn_coro *co, void *arg)
{
    done++;
    gn__coro_release(co);
    if (arg != NULL && done == *(int *)arg)
        gn__loop_break(loop);
}

/* Start FN(ARG) in a coroutine; the loop stops once WANT finished. */
static struct gn_coro *spawn(gn__coro_fn fn, void *arg, int *want)
{
    struct gn_coro *co = gn__coro_new(pool, fn, arg, finished, want);

    ck_assert_ptr_nonnull(co);
    gn__coro_resume(co);
    return co;
}

/* ---- sleeping ----------------------------------------------------------- */

struct sleeper {
    double seconds;
    int rc;
    int64_t woke_ms;
};

static void sleep_fn(struct gn_coro *co, void *arg)
{
    struct sleeper *s = arg;

    s->rc = gn_sleep(s->seconds);
    s->woke_ms = gn_test_now_ms();
}

START_TEST(green_sleeps_overlap)
{
    struct sleeper s[50];
    int want = 50;
    int64_t start = gn_test_now_ms();

    for (int i = 0; i < 50; i++) {
        s[i] = (struct sleeper){.seconds = 0.1};
        spawn(sleep_fn, &s[i], &want);
    }
    gn__loop_run(loop);
    ck_assert_int_eq(done, 50);
    /* Fifty 100 ms sleeps in one thread take about 100 ms, not 5 s. */
    ck_assert_int_lt(gn_test_now_ms() - start, 1000);
    for (int i = 0; i < 50; i++) {
        ck_assert_int_eq(s[i].rc, 0);
        ck_assert_int_ge(s[i].woke_ms - start, 95);
    }
}
END_TEST

START_TEST(green_sleep_rejects_bad_values)
{
    ck_assert_int_eq(gn_sleep(-1), -EINVAL);
    ck_assert_int_eq(gn_sleep(0.0 / 0.0), -EINVAL);
}
END_TEST

START_TEST(green_sleep_outside_a_coroutine_blocks)
{
    int64_t start = gn_test_now_ms();

    ck_assert_int_eq(gn_sleep(0.05), 0);
    ck_assert_int_ge(gn_test_now_ms() - start, 45);
}
END_TEST

/* ---- fd waits ------------------------------------------------------------ */

struct fd_waiter {
    int fd, events;
    int64_t timeout_ms;
    int rc;
};

static void wait_fn(struct gn_coro *co, void *arg)
{
    struct fd_waiter *w = arg;

    w->rc = gn__wait_fd(w->fd, w->events, w->timeout_ms);
}

static void write_later(struct gn_coro *co, void *arg)
{
    int fd = *(int *)arg;

    gn_sleep(0.05);
    ck_assert_int_eq(write(fd, "x", 1), 1);
}

START_TEST(green_wait_fd_ready)
{
    int p[2], want = 2;
    struct fd_waiter w;

    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    w = (struct fd_waiter){
        .fd = p[0], .events = GN_WATCH_READ, .timeout_ms = 5000};
    spawn(wait_fn, &w, &want);
    spawn(write_later, &p[1], &want);
    gn__loop_run(loop);
    ck_assert_int_eq(w.rc, GN_WATCH_READ);
    close(p[0]);
    close(p[1]);
}
END_TEST

START_TEST(green_wait_fd_times_out)
{
    int p[2], want = 1;
    int64_t start = gn_test_now_ms();
    struct fd_waiter w;

    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    w = (struct fd_waiter){
        .fd = p[0], .events = GN_WATCH_READ, .timeout_ms = 60};
    spawn(wait_fn, &w, &want);
    gn__loop_run(loop);
    ck_assert_int_eq(w.rc, -ETIMEDOUT);
    ck_assert_int_ge(gn_test_now_ms() - start, 55);
    close(p[0]);
    close(p[1]);
}
END_TEST

START_TEST(green_wait_fd_outside_a_coroutine)
{
    int p[2];

    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    ck_assert_int_eq(gn__wait_fd(p[0], GN_WATCH_READ, 30), -ETIMEDOUT);
    ck_assert_int_eq(gn__wait_fd(p[1], GN_WATCH_WRITE, 30), GN_WATCH_WRITE);
    close(p[0]);
    close(p[1]);
}
END_TEST

/* ---- cancellation ----------------------------------------------------------
 */

static void cancel_later(int fd, short what, void *arg)
{
    gn__green_cancel(arg, -ECANCELED);
}

START_TEST(green_cancel_wakes_a_waiting_coroutine)
{
    struct sleeper s = {.seconds = 10};
    struct gn_watch timer = {0};
    int want = 1;
    int64_t start = gn_test_now_ms();
    struct gn_coro *co = spawn(sleep_fn, &s, &want);

    gn__watch_start(&timer, loop, -1, 0, 50, cancel_later, co);
    gn__loop_run(loop);
    ck_assert_int_eq(s.rc, -ECANCELED);
    ck_assert_int_lt(gn_test_now_ms() - start, 2000);
}
END_TEST

struct twice {
    int first, second;
};

static void sleep_twice(struct gn_coro *co, void *arg)
{
    struct twice *t = arg;

    t->first = gn_sleep(10);
    t->second = gn_sleep(10); /* cancelled already: returns at once */
}

START_TEST(green_cancel_is_sticky_until_cleared)
{
    struct twice t = {1, 1};
    struct gn_watch timer = {0};
    int want = 1;
    int64_t start = gn_test_now_ms();
    struct gn_coro *co = spawn(sleep_twice, &t, &want);

    gn__watch_start(&timer, loop, -1, 0, 30, cancel_later, co);
    gn__loop_run(loop);
    ck_assert_int_eq(t.first, -ECANCELED);
    ck_assert_int_eq(t.second, -ECANCELED);
    ck_assert_int_lt(gn_test_now_ms() - start, 2000);
}
END_TEST

static Suite *green_suite(void)
{
    Suite *s = suite_create("green/park");
    TCase *sleeping = tcase_create("sleep");
    TCase *fds = tcase_create("fd waits");
    TCase *cancel = tcase_create("cancellation");

    tcase_add_checked_fixture(sleeping, setup, teardown);
    tcase_add_checked_fixture(fds, setup, teardown);
    tcase_add_checked_fixture(cancel, setup, teardown);
    tcase_add_test(sleeping, green_sleeps_overlap);
    tcase_add_test(sleeping, green_sleep_rejects_bad_values);
    tcase_add_test(sleeping, green_sleep_outside_a_coroutine_blocks);
    tcase_add_test(fds, green_wait_fd_ready);
    tcase_add_test(fds, green_wait_fd_times_out);
    tcase_add_test(fds, green_wait_fd_outside_a_coroutine);
    tcase_add_test(cancel, green_cancel_wakes_a_waiting_coroutine);
    tcase_add_test(cancel, green_cancel_is_sticky_until_cleared);
    suite_add_tcase(s, sleeping);
    suite_add_tcase(s, fds);
    suite_add_tcase(s, cancel);
    return s;
}

int main(void)
{
    return gn_test_run_suite(green_suite());
}
