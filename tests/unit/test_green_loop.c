/*
 * green/loop.c's kernel timer: libevent sets its timerfd before every
 * epoll_wait; the loop lets a setting reach the kernel only when the time
 * changes (issue #18: a system call per turn otherwise). Counted here by
 * putting a counter in front of the C library's timerfd_settime in the
 * system-call table, which the loop's own definition passes calls on to.
 * And the time a setting counts from: when the turn began, so a long turn
 * does not make the next timer late.
 */
#include <check.h>
#include <stdint.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "green/loop.h"
#include "green/sys.h"
#include "green_fixture.h"
#include "run_suite.h"

static int (*libc_settime)(int, int, const struct itimerspec *,
                           struct itimerspec *);
static int kernel_sets; /* settings that reached the C library */

static int counting_settime(int fd, int flags, const struct itimerspec *value,
                            struct itimerspec *old)
{
    kernel_sets++;
    return libc_settime(fd, flags, value, old);
}

static void count_kernel_sets(void)
{
    libc_settime = gn__sys.timerfd_settime;
    gn__sys.timerfd_settime = counting_settime;
    kernel_sets = 0;
}

static void uncount(void)
{
    gn__sys.timerfd_settime = libc_settime;
}

/* A readable pipe under a level-triggered watch: a loop turn per call of
 * its callback, until TURNS turns have run. */
static int turns, turns_left;

static void on_turn(int fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    turns++;
    if (--turns_left == 0)
        gn__loop_break(loop);
}

static void spin(struct gn_watch *w, int fds[2], int n)
{
    turns_left = n;
    ck_assert_int_eq(gn__watch_start(w, loop, fds[0],
                                     GN_WATCH_READ | GN_WATCH_PERSIST, -1,
                                     on_turn, NULL),
                     0);
    gn__loop_run(loop);
    gn__watch_stop(w);
}

static void noop(int fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* 200 turns with the same earliest timeout (a watch 10 s out): the
 * kernel timer is set a few times, not 200. */
START_TEST(unchanged_timeout_sets_the_kernel_timer_once)
{
    struct gn_watch far = {0}, busy = {0};
    int fds[2];

    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert_int_eq(gn__watch_start(&far, loop, -1, 0, 10000, noop, NULL), 0);
    count_kernel_sets();
    turns = 0;
    spin(&busy, fds, 200);
    uncount();
    ck_assert_int_eq(turns, 200);
    /* One, and one more per turn that came a whole slack (1 ms) earlier
     * than the first one relative to its deadline: a handful at most. */
    ck_assert_int_le(kernel_sets, 10);
    gn__watch_stop(&far);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

static int64_t fired_ms;

static void stop_cb(int fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    gn__loop_break(loop);
}

static void on_fire(int fd, short what, void *arg)
{
    (void)fd;
    (void)arg;
    ck_assert_int_eq(what & GN_WATCH_TIMEOUT, GN_WATCH_TIMEOUT);
    fired_ms = gn_test_now_ms();
}

/* With the kernel timer set 10 s out, a timer for 50 ms still fires in
 * time: an earlier time is always set. And once it went off (readable
 * until set again), the loop does not spin: it sleeps until the next. */
START_TEST(earlier_timeout_fires_and_a_fired_timer_does_not_spin)
{
    struct gn_watch far = {0}, soon = {0}, later_w = {0}, busy = {0};
    int64_t t0;
    int fds[2];

    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert_int_eq(gn__watch_start(&far, loop, -1, 0, 10000, noop, NULL), 0);
    spin(&busy, fds, 5); /* the kernel timer now set for 10 s */
    count_kernel_sets();
    t0 = gn_test_now_ms();
    fired_ms = 0;
    ck_assert_int_eq(gn__watch_start(&soon, loop, -1, 0, 50, on_fire, NULL),
                     0);
    ck_assert_int_eq(
        gn__watch_start(&later_w, loop, -1, 0, 150, stop_cb, NULL), 0);
    gn__loop_run(loop);
    uncount();
    ck_assert_int_ne(fired_ms, 0);
    ck_assert_int_ge(fired_ms - t0, 49);
    ck_assert_int_lt(fired_ms - t0, 5000); /* not at 10 s */
    /* Set for 50 ms, then for 150 ms once that went off, then off:
     * a spinning loop would set it on every turn in between. */
    ck_assert_int_le(kernel_sets, 6);
    gn__watch_stop(&far);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/* A callback that keeps the loop 200 ms (a turn of thousands of requests
 * on a loaded machine, stretched). */
static void hog(int fd, short what, void *arg)
{
    int64_t until = gn_test_now_ms() + 200;

    (void)fd;
    (void)what;
    (void)arg;
    while (gn_test_now_ms() < until)
        ;
}

static void fire_and_stop(int fd, short what, void *arg)
{
    on_fire(fd, what, arg);
    gn__loop_break(loop);
}

/* A long turn does not make the next timer late: the wait before it is
 * measured from when the turn ended, not from when it began (libevent's
 * loop measures it against the time it cached at the turn's start, so a
 * 300 ms timer went off at 500 ms here). */
START_TEST(a_long_turn_does_not_delay_the_next_timer)
{
    struct gn_watch busy = {0}, timer = {0};
    int64_t t0 = gn_test_now_ms();

    fired_ms = 0;
    ck_assert_int_eq(gn__watch_start(&timer, loop, -1, 0, 300, fire_and_stop,
                                     NULL),
                     0);
    ck_assert_int_eq(gn__watch_start(&busy, loop, -1, 0, 0, hog, NULL), 0);
    ck_assert_int_eq(gn__loop_run(loop), 0);
    ck_assert_int_ne(fired_ms, 0);
    ck_assert_int_ge(fired_ms - t0, 299);
    /* Late by the hog's 200 ms before; a loaded machine adds a little. */
    ck_assert_int_lt(fired_ms - t0, 450);
}
END_TEST

static Suite *green_loop_suite(void)
{
    Suite *s = suite_create("green/loop");
    TCase *tc = test_case(s, "kernel timer");

    tcase_add_test(tc, unchanged_timeout_sets_the_kernel_timer_once);
    tcase_add_test(tc, earlier_timeout_fires_and_a_fired_timer_does_not_spin);
    tc = test_case(s, "timer lateness");
    tcase_add_test(tc, a_long_turn_does_not_delay_the_next_timer);
    return s;
}

int main(void)
{
    return gn_test_run_suite(green_loop_suite());
}
