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
#include "green_fixture.h"
#include "greenicorn.h"
#include "run_suite.h"

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

/* ---- what a parked coroutine is recorded as waiting on ------------------ */

static void event_fn(struct gn_coro *co, void *arg)
{
    (void)co;
    gn_event_wait(arg, 10);
}

/* The worker's listing reads gn__coro_waiter: the kind of wait, its fd
 * and direction, its timeout and since when, each set at park time. */
START_TEST(green_park_records_the_wait)
{
    struct sleeper s = {.seconds = 10};
    int p[2], want = 3;
    struct fd_waiter fw;
    gn_event_t *ev = gn_event_new();
    struct gn_coro *sleeping, *reading, *waiting;
    const struct gn_waiter *wt;
    int64_t before = gn__coro_clock_us();

    ck_assert_ptr_nonnull(ev);
    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    fw.fd = p[0];
    fw.events = GN_WATCH_READ;
    fw.timeout_ms = 5000;
    sleeping = spawn(sleep_fn, &s, &want);
    reading = spawn(wait_fn, &fw, &want);
    waiting = spawn(event_fn, ev, &want);

    wt = gn__coro_waiter(sleeping);
    ck_assert_ptr_nonnull(wt);
    ck_assert_ptr_eq(wt->on, gn__wait_sleep_kind);
    ck_assert_int_eq(wt->timeout_ms, 10000);
    ck_assert_int_ge(wt->since_us, before);
    ck_assert_int_le(wt->since_us, gn__coro_clock_us());

    wt = gn__coro_waiter(reading);
    ck_assert_ptr_eq(wt->on, gn__wait_fd_kind);
    ck_assert_int_eq(wt->on_fd, p[0]);
    ck_assert_int_eq(wt->on_events, GN_WATCH_READ);
    ck_assert_int_eq(wt->timeout_ms, 5000);

    wt = gn__coro_waiter(waiting);
    ck_assert_str_eq(wt->on, "event");
    ck_assert_int_eq(wt->timeout_ms, 10000);

    /* Done waiting: no wait recorded. */
    gn__green_cancel(sleeping, -ECANCELED);
    gn__green_cancel(reading, -ECANCELED);
    gn__green_cancel(waiting, -ECANCELED);
    gn__loop_run(loop);
    ck_assert_int_eq(done, 3);
    close(p[0]);
    close(p[1]);
    gn_event_free(ev);
}
END_TEST

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

/* ---- the public waits, on green_fixture.c's fixture ----------------------
 */

/* ---- gn_wait_fd ------------------------------------------------------------
 */

struct fd_wait {
    int fd, events;
    double timeout;
    int rc;
    int64_t took_ms;
};

static void wait_fd_task(struct gn_coro *co, void *arg)
{
    struct fd_wait *w = arg;
    int64_t start = gn_test_now_ms();

    w->rc = gn_wait_fd(w->fd, w->events, w->timeout);
    w->took_ms = gn_test_now_ms() - start;
}

struct ready_mask {
    int a, b;
    int both_before, read_after_data, both_after_data, read_after_close;
};

static void ready_mask_task(struct gn_coro *co, void *arg)
{
    struct ready_mask *m = arg;
    char c;

    /* Nothing to read yet: only writing is ready. */
    m->both_before = gn_wait_fd(m->a, GN_WAIT_READ | GN_WAIT_WRITE, 5);
    m->read_after_data = gn_wait_fd(m->a, GN_WAIT_READ, 5);
    m->both_after_data = gn_wait_fd(m->a, GN_WAIT_READ | GN_WAIT_WRITE, 5);
    ck_assert_int_eq(read(m->a, &c, 1), 1);
    m->read_after_close = gn_wait_fd(m->a, GN_WAIT_READ, 5);
}

static void write_then_close(struct gn_coro *co, void *arg)
{
    struct ready_mask *m = arg;

    gn_sleep(0.05);
    ck_assert_int_eq(write(m->b, "x", 1), 1);
    gn_sleep(0.05);
    close(m->b);
}

START_TEST(wait_fd_reports_the_ready_mask)
{
    int sv[2];
    struct ready_mask m = {0};

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv),
                     0);
    m.a = sv[0];
    m.b = sv[1];
    go(ready_mask_task, &m);
    go(write_then_close, &m);
    run();
    ck_assert_int_eq(m.both_before, GN_WAIT_WRITE);
    ck_assert_int_eq(m.read_after_data, GN_WAIT_READ);
    ck_assert_int_eq(m.both_after_data, GN_WAIT_READ | GN_WAIT_WRITE);
    /* A hang-up counts as ready, for the read to report it. */
    ck_assert_int_eq(m.read_after_close, GN_WAIT_READ);
    close(sv[0]);
}
END_TEST

START_TEST(wait_fd_times_out)
{
    int p[2];
    struct fd_wait w;

    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    w = (struct fd_wait){.fd = p[0], .events = GN_WAIT_READ, .timeout = 0.1};
    go(wait_fd_task, &w);
    run();
    ck_assert_int_eq(w.rc, -ETIMEDOUT);
    ck_assert_int_ge(w.took_ms, 90);
    close_pair(p);
}
END_TEST

START_TEST(wait_fd_is_cancelled)
{
    int p[2];
    struct fd_wait w;

    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    w = (struct fd_wait){.fd = p[0], .events = GN_WAIT_READ, .timeout = 10};
    cancel_after(go(wait_fd_task, &w), 50);
    run();
    ck_assert_int_eq(w.rc, -ECANCELED);
    ck_assert_int_lt(w.took_ms, 5000);
    close_pair(p);
}
END_TEST

/* A zero timeout polls: a descriptor ready now is reported, as poll(2)
 * would, not -ETIMEDOUT. */
START_TEST(wait_fd_zero_timeout_reports_a_ready_fd)
{
    int sv[2];
    struct fd_wait w;

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv),
                     0);
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    /* Outside a coroutine (poll(2)) it is. */
    ck_assert_int_eq(gn_wait_fd(sv[0], GN_WAIT_READ, 0), GN_WAIT_READ);
    w = (struct fd_wait){.fd = sv[0], .events = GN_WAIT_READ, .timeout = 0};
    go(wait_fd_task, &w);
    run();
    ck_assert_int_eq(w.rc, GN_WAIT_READ);
    close_pair(sv);
}
END_TEST

START_TEST(wait_fd_rejects_bad_arguments)
{
    int p[2];

    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    ck_assert_int_eq(gn_wait_fd(-1, GN_WAIT_READ, 1), -EINVAL);
    ck_assert_int_eq(gn_wait_fd(p[0], 0, 1), -EINVAL);
    ck_assert_int_eq(gn_wait_fd(p[0], 4, 1), -EINVAL);
    ck_assert_int_eq(gn_wait_fd(p[0], GN_WAIT_READ | 8, 1), -EINVAL);
    ck_assert_int_eq(gn_wait_fd(p[0], GN_WAIT_READ, NAN), -EINVAL);
    close_pair(p);
}
END_TEST

START_TEST(wait_fd_outside_a_coroutine_polls)
{
    int p[2];
    int64_t start = gn_test_now_ms();

    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    ck_assert_int_eq(gn_wait_fd(p[0], GN_WAIT_READ, 0.05), -ETIMEDOUT);
    ck_assert_int_ge(gn_test_now_ms() - start, 45);
    ck_assert_int_eq(gn_wait_fd(p[1], GN_WAIT_WRITE, 1), GN_WAIT_WRITE);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_eq(gn_wait_fd(p[0], GN_WAIT_READ | GN_WAIT_WRITE, 1),
                     GN_WAIT_READ);
    close_pair(p);
}
END_TEST

/* ---- gn_yield ------------------------------------------------------------ */

/* Two tasks taking turns: each yield lets the other, ready, run first. */
struct turns {
    int a_steps, b_steps;
    int a_rc;
    int a_saw[3]; /* B's steps when A's k-th yield returned */
};

static void turn_a(struct gn_coro *co, void *arg)
{
    struct turns *t = arg;

    for (int k = 0; k < 3; k++) {
        t->a_steps++;
        t->a_rc |= gn_yield();
        t->a_saw[k] = t->b_steps;
    }
}

static void turn_b(struct gn_coro *co, void *arg)
{
    struct turns *t = arg;

    for (int k = 0; k < 3; k++) {
        t->b_steps++;
        ck_assert_int_eq(gn_yield(), 0);
    }
}

START_TEST(yield_lets_a_ready_task_run_first)
{
    struct turns t = {0};

    go(turn_a, &t); /* A runs to its first yield... */
    go(turn_b, &t); /* ...then B to its own, both now ready */
    run();
    ck_assert_int_eq(t.a_rc, 0);
    for (int k = 0; k < 3; k++)
        ck_assert_int_ge(t.a_saw[k], k + 1);
}
END_TEST

struct wake_all {
    gn_event_t *e;
    int woken;
    int seen_after_yield;
};

static void event_waiter(struct gn_coro *co, void *arg)
{
    struct wake_all *w = arg;

    ck_assert_int_eq(gn_event_wait(w->e, 5), 0);
    w->woken++;
}

static void set_then_yield(struct gn_coro *co, void *arg)
{
    struct wake_all *w = arg;

    gn_sleep(0.05); /* in the loop now, with the waiters parked */
    gn_event_set(w->e);
    ck_assert_int_eq(gn_yield(), 0);
    w->seen_after_yield = w->woken;
}

/* Every green thread made ready before the yield runs before it returns,
 * however many there are ("let every other green thread that is ready
 * run, then go on"). */
START_TEST(yield_lets_every_ready_task_run_first)
{
    struct wake_all w = {.e = gn_event_new()};

    ck_assert_ptr_nonnull(w.e);
    for (int i = 0; i < 4; i++)
        go(event_waiter, &w);
    go(set_then_yield, &w);
    run();
    ck_assert_int_eq(w.woken, 4);
    ck_assert_int_eq(w.seen_after_yield, 4);
    gn_event_free(w.e);
}
END_TEST

static void yield_cancelled_task(struct gn_coro *co, void *arg)
{
    gn__green_cancel(co, -ECANCELED);
    *(int *)arg = gn_yield();
}

START_TEST(yield_returns_ecanceled_when_cancelled)
{
    int rc = 1;

    go(yield_cancelled_task, &rc);
    run();
    ck_assert_int_eq(rc, -ECANCELED);
}
END_TEST

START_TEST(yield_outside_a_coroutine_returns_0)
{
    ck_assert_int_eq(gn_yield(), 0);
}
END_TEST

static Suite *green_suite(void)
{
    Suite *s = suite_create("green/park");
    TCase *sleeping = tcase_create("sleep");
    TCase *fds = tcase_create("fd waits");
    TCase *cancel = tcase_create("cancellation");
    TCase *tc;

    tcase_add_checked_fixture(sleeping, setup, teardown);
    tcase_add_checked_fixture(fds, setup, teardown);
    tcase_add_checked_fixture(cancel, setup, teardown);
    tcase_add_test(sleeping, green_sleeps_overlap);
    tcase_add_test(sleeping, green_park_records_the_wait);
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

    tc = test_case(s, "wait_fd");
    tcase_add_test(tc, wait_fd_reports_the_ready_mask);
    tcase_add_test(tc, wait_fd_times_out);
    tcase_add_test(tc, wait_fd_is_cancelled);
    tcase_add_test(tc, wait_fd_zero_timeout_reports_a_ready_fd);
    tcase_add_test(tc, wait_fd_rejects_bad_arguments);
    tcase_add_test(tc, wait_fd_outside_a_coroutine_polls);

    tc = test_case(s, "yield");
    tcase_add_test(tc, yield_lets_a_ready_task_run_first);
    tcase_add_test(tc, yield_lets_every_ready_task_run_first);
    tcase_add_test(tc, yield_returns_ecanceled_when_cancelled);
    tcase_add_test(tc, yield_outside_a_coroutine_returns_0);
    return s;
}

int main(void)
{
    return gn_test_run_suite(green_suite());
}
