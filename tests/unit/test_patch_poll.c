/*
 * Unit tests of patch_all's select family (patch/poll.c) against the C
 * library's own calls: in a patched coroutine poll, ppoll, select and
 * pselect park on all their descriptors at once while the loop runs
 * others, answer with the kernel's exact revents or sets, time out as
 * asked, report a descriptor another coroutine closed (POLLNVAL, EBADF),
 * and outside coroutines are the C library's.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "green/park.h"
#include "green/sys.h"
#include "green_fixture.h"
#include "patch/patch.h"
#include "run_suite.h"

struct ticker {
    int ticks;
    int *stop;
};

static void tick_task(struct gn_coro *co, void *arg)
{
    struct ticker *t = arg;

    while (!*t->stop && t->ticks < 1000) {
        gn__wait_ms(10);
        t->ticks++;
    }
}

/* Two socketpairs: A and B; the task waits on A[0] and B[0]. */
struct polling {
    int a[2], b[2];
    int timeout_ms;
    struct pollfd p[3];
    fd_set r, w;
    struct timeval tv;
    int rc, err;
    int64_t took_ms;
    int done;
};

static void pairs(struct polling *pl)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, pl->a), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, pl->b), 0);
}

static void unpair(struct polling *pl)
{
    close(pl->a[0]);
    close(pl->a[1]);
    close(pl->b[0]);
    close(pl->b[1]);
}

static void poll_task(struct gn_coro *co, void *arg)
{
    struct polling *pl = arg;
    int64_t start = gn_test_now_ms();

    pl->p[0] = (struct pollfd){.fd = pl->a[0], .events = POLLIN};
    pl->p[1] = (struct pollfd){.fd = -1, .events = POLLIN};
    pl->p[2] = (struct pollfd){.fd = pl->b[0], .events = POLLIN};
    errno = EDOM;
    pl->rc = poll(pl->p, 3, pl->timeout_ms);
    pl->err = errno;
    pl->took_ms = gn_test_now_ms() - start;
    pl->done = 1;
}

static void write_b_cb(int fd, short what, void *arg)
{
    struct polling *pl = arg;

    ck_assert_int_eq(gn__sys_write(pl->b[1], "x", 1), 1);
}

START_TEST(poll_parks_on_all)
{
    struct polling pl = {.timeout_ms = 10000};
    struct ticker t = {.stop = &pl.done};

    gn__patch_enable(GN_PATCH_ALL);
    pairs(&pl);
    go(poll_task, &pl);
    go(tick_task, &t);
    later(100, write_b_cb, &pl);
    ck_assert(!pl.done);
    run();
    ck_assert_int_eq(pl.rc, 1);
    ck_assert_int_eq(pl.err, EDOM); /* errno survived the park */
    ck_assert_int_eq(pl.p[0].revents, 0);
    ck_assert_int_eq(pl.p[1].revents, 0);
    ck_assert_int_eq(pl.p[2].revents, POLLIN);
    ck_assert_int_ge(pl.took_ms, 80);
    ck_assert_int_ge(t.ticks, 3);
    /* The kernel's answer, asked the same: the same. */
    pl.p[2].revents = 0;
    ck_assert_int_eq(gn__sys_poll(pl.p, 3, 0), 1);
    ck_assert_int_eq(pl.p[2].revents, POLLIN);
    unpair(&pl);
}
END_TEST

START_TEST(poll_timeout_and_zero)
{
    struct polling pl = {.timeout_ms = 150}, z = {.timeout_ms = 0};
    struct ticker t = {.stop = &pl.done};

    gn__patch_enable(GN_PATCH_ALL);
    pairs(&pl);
    go(poll_task, &pl);
    go(tick_task, &t);
    run();
    ck_assert_int_eq(pl.rc, 0);
    ck_assert_int_ge(pl.took_ms, 140);
    ck_assert_int_lt(pl.took_ms, 5000);
    ck_assert_int_ge(t.ticks, 3);
    z.a[0] = pl.a[0];
    z.b[0] = pl.b[0];
    go(poll_task, &z); /* a zero timeout never parks */
    ck_assert(z.done);
    ck_assert_int_eq(z.rc, 0);
    run();
    unpair(&pl);
}
END_TEST

static void close_a_task(struct gn_coro *co, void *arg)
{
    struct polling *pl = arg;

    gn__wait_ms(50);
    ck_assert_int_eq(close(pl->a[0]), 0);
}

START_TEST(poll_close_pollnval)
{
    struct polling pl = {.timeout_ms = -1};

    gn__patch_enable(GN_PATCH_ALL);
    pairs(&pl);
    go(poll_task, &pl);
    go(close_a_task, &pl);
    run();
    ck_assert_int_eq(pl.rc, 1);
    ck_assert_int_eq(pl.p[0].revents, POLLNVAL);
    ck_assert_int_lt(pl.took_ms, 5000);
    pl.a[0] = socket(AF_UNIX, SOCK_STREAM, 0); /* for unpair */
    unpair(&pl);
}
END_TEST

/* With only the select family patched (patch_exclude = socket) a close
 * still wakes a poll: close is the table's whatever the families. */
START_TEST(poll_close_select_family_only)
{
    struct polling pl = {.timeout_ms = 3000};

    gn__patch_enable(GN_PATCH_SELECT);
    pairs(&pl);
    go(poll_task, &pl);
    go(close_a_task, &pl);
    run();
    ck_assert_int_eq(pl.rc, 1);
    ck_assert_int_eq(pl.p[0].revents, POLLNVAL);
    ck_assert_int_lt(pl.took_ms, 2000);
    pl.a[0] = socket(AF_UNIX, SOCK_STREAM, 0);
    unpair(&pl);
}
END_TEST

static void ppoll_task(struct gn_coro *co, void *arg)
{
    struct polling *pl = arg;
    struct timespec ts = {.tv_sec = 5};
    sigset_t mask;

    sigemptyset(&mask);
    pl->p[0] = (struct pollfd){.fd = pl->a[0], .events = POLLIN};
    pl->p[1] = (struct pollfd){.fd = pl->b[0], .events = POLLIN};
    pl->rc = ppoll(pl->p, 2, &ts, &mask);
    pl->done = 1;
    ck_assert_int_eq(ts.tv_sec, 5); /* glibc's ppoll leaves it */
    ts.tv_nsec = -1;
    ck_assert_int_eq(ppoll(pl->p, 2, &ts, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
}

START_TEST(ppoll_parks)
{
    struct polling pl = {0};

    gn__patch_enable(GN_PATCH_ALL);
    pairs(&pl);
    go(ppoll_task, &pl);
    later(50, write_b_cb, &pl);
    ck_assert(!pl.done);
    run();
    ck_assert_int_eq(pl.rc, 1);
    ck_assert_int_eq(pl.p[1].revents, POLLIN);
    unpair(&pl);
}
END_TEST

/* ---- select -------------------------------------------------------------- */

static void select_task(struct gn_coro *co, void *arg)
{
    struct polling *pl = arg;
    int64_t start = gn_test_now_ms();
    int nfds = (pl->a[0] > pl->b[0] ? pl->a[0] : pl->b[0]) + 1;

    FD_ZERO(&pl->r);
    FD_SET(pl->a[0], &pl->r);
    FD_SET(pl->b[0], &pl->r);
    pl->tv = (struct timeval){.tv_sec = pl->timeout_ms / 1000,
                              .tv_usec = (pl->timeout_ms % 1000) * 1000};
    pl->rc = select(nfds, &pl->r, NULL, NULL, &pl->tv);
    pl->err = errno;
    pl->took_ms = gn_test_now_ms() - start;
    pl->done = 1;
}

START_TEST(select_parks_on_all)
{
    struct polling pl = {.timeout_ms = 10000};
    struct ticker t = {.stop = &pl.done};

    gn__patch_enable(GN_PATCH_ALL);
    pairs(&pl);
    go(select_task, &pl);
    go(tick_task, &t);
    later(100, write_b_cb, &pl);
    ck_assert(!pl.done);
    run();
    ck_assert_int_eq(pl.rc, 1);
    ck_assert(!FD_ISSET(pl.a[0], &pl.r));
    ck_assert(FD_ISSET(pl.b[0], &pl.r));
    ck_assert_int_ge(t.ticks, 3);
    /* Linux leaves the time not slept. */
    ck_assert_int_lt(pl.tv.tv_sec * 1000 + pl.tv.tv_usec / 1000, 9950);
    ck_assert_int_gt(pl.tv.tv_sec, 4);
    unpair(&pl);
}
END_TEST

START_TEST(select_timeout_clears)
{
    struct polling pl = {.timeout_ms = 150};

    gn__patch_enable(GN_PATCH_ALL);
    pairs(&pl);
    go(select_task, &pl);
    run();
    ck_assert_int_eq(pl.rc, 0);
    ck_assert(!FD_ISSET(pl.a[0], &pl.r));
    ck_assert(!FD_ISSET(pl.b[0], &pl.r));
    ck_assert_int_ge(pl.took_ms, 140);
    ck_assert_int_eq(pl.tv.tv_sec, 0);
    ck_assert_int_eq(pl.tv.tv_usec, 0);
    unpair(&pl);
}
END_TEST

START_TEST(select_close_ebadf)
{
    struct polling pl = {.timeout_ms = 10000};

    gn__patch_enable(GN_PATCH_ALL);
    pairs(&pl);
    go(select_task, &pl);
    go(close_a_task, &pl);
    run();
    ck_assert_int_eq(pl.rc, -1);
    ck_assert_int_eq(pl.err, EBADF);
    ck_assert_int_lt(pl.took_ms, 5000);
    pl.a[0] = socket(AF_UNIX, SOCK_STREAM, 0);
    unpair(&pl);
}
END_TEST

static void select_einval_task(struct gn_coro *co, void *arg)
{
    struct timeval bad = {.tv_usec = -1};
    int *ok = arg;

    ck_assert_int_eq(select(-1, NULL, NULL, NULL, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(select(0, NULL, NULL, NULL, &bad), -1);
    ck_assert_int_eq(errno, EINVAL);
    *ok = 1;
}

START_TEST(select_einval_as_libc)
{
    struct timeval bad = {.tv_usec = -1};
    int ok = 0;

    gn__patch_enable(GN_PATCH_ALL);
    go(select_einval_task, &ok);
    ck_assert_int_eq(ok, 1);
    run();
    ck_assert_int_eq(gn__sys.select(-1, NULL, NULL, NULL, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(gn__sys.select(0, NULL, NULL, NULL, &bad), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

static void pselect_task(struct gn_coro *co, void *arg)
{
    struct polling *pl = arg;
    struct timespec ts = {.tv_sec = 5};
    int nfds = (pl->a[0] > pl->b[0] ? pl->a[0] : pl->b[0]) + 1;

    FD_ZERO(&pl->r);
    FD_SET(pl->a[0], &pl->r);
    FD_SET(pl->b[0], &pl->r);
    FD_ZERO(&pl->w);
    pl->rc = pselect(nfds, &pl->r, &pl->w, NULL, &ts, NULL);
    pl->done = 1;
}

START_TEST(pselect_parks)
{
    struct polling pl = {0};

    gn__patch_enable(GN_PATCH_ALL);
    pairs(&pl);
    go(pselect_task, &pl);
    later(50, write_b_cb, &pl);
    ck_assert(!pl.done);
    run();
    ck_assert_int_eq(pl.rc, 1);
    ck_assert(FD_ISSET(pl.b[0], &pl.r));
    ck_assert(!FD_ISSET(pl.a[0], &pl.r));
    unpair(&pl);
}
END_TEST

/* poll(NULL, 0, ms) is a sleep: a park too. */
static void sleep_task(struct gn_coro *co, void *arg)
{
    int64_t start = gn_test_now_ms();

    ck_assert_int_eq(poll(NULL, 0, 100), 0);
    *(int64_t *)arg = gn_test_now_ms() - start;
}

START_TEST(poll_no_fds_sleeps)
{
    int64_t took = -1;

    gn__patch_enable(GN_PATCH_ALL);
    go(sleep_task, &took);
    ck_assert_int_eq(took, -1);
    run();
    ck_assert_int_ge(took, 90);
}
END_TEST

/* ---- outside coroutines -------------------------------------------------- */

struct thread_arg {
    int fd;
    int rc;
    int64_t took_ms;
};

static void *thread_main(void *arg)
{
    struct thread_arg *t = arg;
    struct pollfd p = {.fd = t->fd, .events = POLLIN};
    int64_t start = gn_test_now_ms();

    t->rc = poll(&p, 1, 150);
    t->took_ms = gn_test_now_ms() - start;
    return NULL;
}

START_TEST(outside_and_other_thread_is_libc)
{
    struct polling pl = {0};
    struct pollfd p;
    struct thread_arg t;
    pthread_t th;
    int64_t start;

    gn__patch_enable(GN_PATCH_ALL);
    pairs(&pl);
    p = (struct pollfd){.fd = pl.a[0], .events = POLLIN};
    start = gn_test_now_ms();
    ck_assert_int_eq(poll(&p, 1, 100), 0); /* blocks: no coroutine */
    ck_assert_int_ge(gn_test_now_ms() - start, 90);
    t.fd = pl.a[0];
    ck_assert_int_eq(pthread_create(&th, NULL, thread_main, &t), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(t.rc, 0);
    ck_assert_int_ge(t.took_ms, 140);
    unpair(&pl);
}
END_TEST

START_TEST(poll_chk_overflow_aborts)
{
    extern int __poll_chk(struct pollfd *, nfds_t, int, size_t);
    struct pollfd p[2] = {{.fd = -1}, {.fd = -1}};

    ck_assert_int_eq(__poll_chk(p, 2, 0, sizeof(p)), 0);
    __poll_chk(p, 3, 0, sizeof(p));
}
END_TEST

static Suite *patch_poll_suite(void)
{
    Suite *s = suite_create("patch/poll");
    TCase *tc = test_case(s, "poll");

    tcase_add_test(tc, poll_parks_on_all);
    tcase_add_test(tc, poll_timeout_and_zero);
    tcase_add_test(tc, poll_close_pollnval);
    tcase_add_test(tc, poll_close_select_family_only);
    tcase_add_test(tc, ppoll_parks);
    tcase_add_test(tc, poll_no_fds_sleeps);
    tc = test_case(s, "select");
    tcase_add_test(tc, select_parks_on_all);
    tcase_add_test(tc, select_timeout_clears);
    tcase_add_test(tc, select_close_ebadf);
    tcase_add_test(tc, select_einval_as_libc);
    tcase_add_test(tc, pselect_parks);
    tc = test_case(s, "pass-through");
    tcase_add_test(tc, outside_and_other_thread_is_libc);
    tcase_add_test_raise_signal(tc, poll_chk_overflow_aborts, SIGABRT);
    return s;
}

int main(void)
{
    return gn_test_run_suite(patch_poll_suite());
}
