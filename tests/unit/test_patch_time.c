/*
 * Unit tests of patch_all's time family (patch/time.c): in a patched
 * coroutine sleep, usleep, nanosleep and clock_nanosleep park it (two
 * sleepers overlap), last at least what was asked, keep errno, fail with
 * ECANCELED when the coroutine is cancelled; outside a coroutine, in a
 * worker with the family off and on another thread they are libc's (two
 * sleepers add up). The fixture is green_fixture.c's.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "green/coro.h"
#include "green/park.h"
#include "green_fixture.h"
#include "patch/patch.h"
#include "run_suite.h"

/* What a sleeper task does and how it went. */
enum how {
    NANOSLEEP,
    USLEEP,
    SLEEP,
    CLOCK_REL,
    CLOCK_ABS_MONO,
    CLOCK_ABS_REAL
};

struct sleeper {
    enum how how;
    int64_t ms;  /* how long to sleep */
    int rc, err; /* the call's return value and errno */
    struct timespec rem;
    int64_t took_ms;
};

static void sleep_task(struct gn_coro *co, void *arg)
{
    struct sleeper *s = arg;
    struct timespec req = {.tv_sec = s->ms / 1000,
                           .tv_nsec = (s->ms % 1000) * 1000000},
                    now;
    int64_t start = gn_test_now_ms();

    (void)co;
    s->rem = (struct timespec){-1, -1};
    errno = 4242; /* must survive a sleep that succeeds */
    switch (s->how) {
    case NANOSLEEP: s->rc = nanosleep(&req, &s->rem); break;
    case USLEEP: s->rc = usleep((useconds_t)(s->ms * 1000)); break;
    case SLEEP: s->rc = (int)sleep((unsigned)(s->ms / 1000)); break;
    case CLOCK_REL:
        s->rc = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &s->rem);
        break;
    case CLOCK_ABS_MONO:
    case CLOCK_ABS_REAL: {
        clockid_t clk =
            s->how == CLOCK_ABS_MONO ? CLOCK_MONOTONIC : CLOCK_REALTIME;
        clock_gettime(clk, &now);
        now.tv_sec += req.tv_sec;
        now.tv_nsec += req.tv_nsec;
        if (now.tv_nsec >= 1000000000) {
            now.tv_sec++;
            now.tv_nsec -= 1000000000;
        }
        s->rc = clock_nanosleep(clk, TIMER_ABSTIME, &now, NULL);
        break;
    }
    }
    s->err = errno;
    s->took_ms = gn_test_now_ms() - start;
}

/* Two sleepers of MS each, started together: how long both took. */
static int64_t two_sleepers(enum how how, int64_t ms, struct sleeper s[2])
{
    int64_t start = gn_test_now_ms();

    s[0] = (struct sleeper){.how = how, .ms = ms};
    s[1] = (struct sleeper){.how = how, .ms = ms};
    go(sleep_task, &s[0]);
    go(sleep_task, &s[1]);
    run();
    return gn_test_now_ms() - start;
}

/* ---- parked ------------------------------------------------------------- */

static void check_parked(enum how how, int64_t ms)
{
    struct sleeper s[2];
    int64_t took;

    gn__patch_enable(GN_PATCH_ALL);
    took = two_sleepers(how, ms, s);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(s[i].rc, 0);
        ck_assert_int_eq(s[i].err, 4242);
        ck_assert_int_ge(s[i].took_ms, ms);
    }
    /* Serialised they would take 2 * MS. */
    ck_assert_int_lt(took, 2 * ms - 10);
}

START_TEST(nanosleep_parks)
{
    check_parked(NANOSLEEP, 200);
}
END_TEST

START_TEST(usleep_parks)
{
    check_parked(USLEEP, 200);
}
END_TEST

START_TEST(sleep_parks)
{
    check_parked(SLEEP, 1000);
}
END_TEST

START_TEST(clock_nanosleep_relative_parks)
{
    check_parked(CLOCK_REL, 200);
}
END_TEST

START_TEST(clock_nanosleep_absolute_monotonic_parks)
{
    check_parked(CLOCK_ABS_MONO, 200);
}
END_TEST

START_TEST(clock_nanosleep_absolute_realtime_parks)
{
    check_parked(CLOCK_ABS_REAL, 200);
}
END_TEST

/* A sub-millisecond sleep lasts at least that long, and still parks. */
START_TEST(nanosleep_rounds_up)
{
    struct sleeper s = {.how = NANOSLEEP, .ms = 0};
    struct timespec t0, t1;

    gn__patch_enable(GN_PATCH_ALL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    go(sleep_task, &s);
    run();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_eq(s.rc, 0);
    ck_assert(t1.tv_sec > t0.tv_sec ||
              (t1.tv_sec == t0.tv_sec && t1.tv_nsec > t0.tv_nsec));
}
END_TEST

static void bad_nanosleep_task(struct gn_coro *co, void *arg)
{
    int *res = arg;
    struct timespec bad = {.tv_sec = 0, .tv_nsec = 1000000000};

    (void)co;
    res[0] = nanosleep(&bad, NULL);
    res[1] = errno;
    res[2] = clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, NULL);
}

/* libc's answers to a bad time, parked or not. */
START_TEST(bad_times_are_einval)
{
    int res[3];

    gn__patch_enable(GN_PATCH_ALL);
    go(bad_nanosleep_task, res);
    run();
    ck_assert_int_eq(res[0], -1);
    ck_assert_int_eq(res[1], EINVAL);
    ck_assert_int_eq(res[2], EINVAL);
}
END_TEST

/* ---- cancelled ---------------------------------------------------------- */

static void check_cancelled(enum how how)
{
    struct sleeper s = {.how = how, .ms = 2000};
    struct gn_coro *co;

    gn__patch_enable(GN_PATCH_ALL);
    co = go(sleep_task, &s);
    cancel_after(co, 100);
    run();
    ck_assert_int_lt(s.took_ms, 1500);
    switch (how) {
    case SLEEP: /* the seconds not slept */
        ck_assert_int_eq(s.rc, 2);
        ck_assert_int_eq(s.err, ECANCELED);
        break;
    case CLOCK_REL: /* the error number itself */
        ck_assert_int_eq(s.rc, ECANCELED);
        break;
    default: ck_assert_int_eq(s.rc, -1); ck_assert_int_eq(s.err, ECANCELED);
    }
    if (how == NANOSLEEP || how == CLOCK_REL) {
        int64_t left = s.rem.tv_sec * 1000 + s.rem.tv_nsec / 1000000;
        ck_assert_int_gt(left, 500);
        ck_assert_int_le(left, 1950);
    }
}

START_TEST(nanosleep_cancelled)
{
    check_cancelled(NANOSLEEP);
}
END_TEST

START_TEST(usleep_cancelled)
{
    check_cancelled(USLEEP);
}
END_TEST

START_TEST(sleep_cancelled)
{
    check_cancelled(SLEEP);
}
END_TEST

START_TEST(clock_nanosleep_cancelled)
{
    check_cancelled(CLOCK_REL);
}
END_TEST

static void forever_task(struct gn_coro *co, void *arg)
{
    struct sleeper *s = arg;
    struct timespec req = {.tv_sec = INT64_MAX, .tv_nsec = 999999999};
    int64_t start = gn_test_now_ms();

    (void)co;
    s->rc = nanosleep(&req, &s->rem);
    s->err = errno;
    s->took_ms = gn_test_now_ms() - start;
}

/* The longest sleep there is parks until cancelled: no overflow makes it
 * end at once. */
START_TEST(longest_sleep_parks)
{
    struct sleeper s = {0};
    struct gn_coro *co;

    gn__patch_enable(GN_PATCH_ALL);
    co = go(forever_task, &s);
    cancel_after(co, 100);
    run();
    ck_assert_int_eq(s.rc, -1);
    ck_assert_int_eq(s.err, ECANCELED);
    ck_assert_int_ge(s.took_ms, 90);
    ck_assert_int_gt(s.rem.tv_sec, 1000000);
}
END_TEST

/* ---- passed through ----------------------------------------------------- */

/* With the family left out the coroutines block the thread: serialised. */
START_TEST(time_family_off_blocks)
{
    struct sleeper s[2];
    int64_t took;

    gn__patch_enable(GN_PATCH_ALL & ~GN_PATCH_TIME);
    took = two_sleepers(NANOSLEEP, 150, s);
    ck_assert_int_ge(took, 2 * 150);
    ck_assert_int_eq(s[0].rc, 0);
}
END_TEST

START_TEST(patching_off_blocks)
{
    struct sleeper s[2];

    gn__patch_enable(0);
    ck_assert_int_ge(two_sleepers(USLEEP, 150, s), 2 * 150);
}
END_TEST

static void *thread_sleeps(void *arg)
{
    struct sleeper *s = arg;

    sleep_task(NULL, s);
    return NULL;
}

/* Outside a coroutine and on another thread: libc's, whatever is on. */
START_TEST(outside_coroutines_passes_through)
{
    struct sleeper s = {.how = NANOSLEEP, .ms = 100};
    pthread_t t;

    gn__patch_enable(GN_PATCH_ALL);
    sleep_task(NULL, &s);
    ck_assert_int_eq(s.rc, 0);
    ck_assert_int_ge(s.took_ms, 100);
    s = (struct sleeper){.how = CLOCK_REL, .ms = 100};
    ck_assert_int_eq(pthread_create(&t, NULL, thread_sleeps, &s), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(s.rc, 0);
    ck_assert_int_ge(s.took_ms, 100);
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

static Suite *patch_time_suite(void)
{
    Suite *s = suite_create("patch/time");
    TCase *tc;

    tc = test_case(s, "parked");
    tcase_add_test(tc, nanosleep_parks);
    tcase_add_test(tc, usleep_parks);
    tcase_add_test(tc, sleep_parks);
    tcase_add_test(tc, clock_nanosleep_relative_parks);
    tcase_add_test(tc, clock_nanosleep_absolute_monotonic_parks);
    tcase_add_test(tc, clock_nanosleep_absolute_realtime_parks);
    tcase_add_test(tc, nanosleep_rounds_up);
    tcase_add_test(tc, bad_times_are_einval);
    tc = test_case(s, "cancelled");
    tcase_add_test(tc, nanosleep_cancelled);
    tcase_add_test(tc, usleep_cancelled);
    tcase_add_test(tc, sleep_cancelled);
    tcase_add_test(tc, clock_nanosleep_cancelled);
    tcase_add_test(tc, longest_sleep_parks);
    tc = test_case(s, "passed through");
    tcase_add_test(tc, time_family_off_blocks);
    tcase_add_test(tc, patching_off_blocks);
    tcase_add_test(tc, outside_coroutines_passes_through);
    return s;
}

int main(void)
{
    return gn_test_run_suite(patch_time_suite());
}
