/*
 * Unit tests of patch/wait.c and the descriptor table (patch/fd.c): a
 * park on one fd or many is woken by readiness, its timeout, a
 * cancellation, and by a close() of the fd from another coroutine (which
 * answers -EBADF instead of leaving the waiter on a dead number).
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "green/loop.h"
#include "green/park.h"
#include "green_fixture.h"
#include "patch/fd.h"
#include "patch/patch.h"
#include "patch/wait.h"
#include "run_suite.h"

struct waiting {
    int fd, fd2;
    int64_t timeout_ms;
    int rc;
    int64_t took_ms;
};

static void wait_task(struct gn_coro *co, void *arg)
{
    struct waiting *w = arg;
    int64_t start = gn_test_now_ms();

    w->rc = gn__patch_wait(w->fd, GN_WATCH_READ, w->timeout_ms);
    w->took_ms = gn_test_now_ms() - start;
}

static void wait_many_task(struct gn_coro *co, void *arg)
{
    struct waiting *w = arg;
    struct pollfd p[3] = {{.fd = w->fd, .events = POLLIN},
                          {.fd = -1, .events = POLLIN},
                          {.fd = w->fd2, .events = POLLIN}};
    int64_t start = gn_test_now_ms();

    w->rc = gn__patch_wait_many(p, 3, w->timeout_ms);
    w->took_ms = gn_test_now_ms() - start;
}

static void close_task(struct gn_coro *co, void *arg)
{
    ck_assert_int_eq(close(*(int *)arg), 0);
}

static void write_cb(int fd, short what, void *arg)
{
    ck_assert_int_eq(write(*(int *)arg, "x", 1), 1);
}

static void close_cb(int fd, short what, void *arg)
{
    go(close_task, arg);
}

START_TEST(wait_ready_and_timeout)
{
    int sv[2];
    struct waiting a = {.timeout_ms = 5000}, b = {.timeout_ms = 100};

    gn__patch_enable(GN_PATCH_ALL);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    a.fd = b.fd = sv[0];
    go(wait_task, &b); /* nothing to read: times out */
    run();
    ck_assert_int_eq(b.rc, -ETIMEDOUT);
    ck_assert_int_ge(b.took_ms, 90);
    later(50, write_cb, &sv[1]);
    go(wait_task, &a);
    run();
    ck_assert_int_eq(a.rc, GN_WATCH_READ);
    ck_assert_int_lt(a.took_ms, 4000);
    close_pair(sv);
}
END_TEST

/* The heart of it: a coroutine closing an fd another one waits on. */
START_TEST(wait_close_wakes_ebadf)
{
    int sv[2], fd;
    struct waiting a = {.timeout_ms = 10000};

    gn__patch_enable(GN_PATCH_ALL);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    a.fd = fd = sv[0];
    go(wait_task, &a);
    later(50, close_cb, &fd);
    run();
    ck_assert_int_eq(a.rc, -EBADF);
    ck_assert_int_lt(a.took_ms, 5000);
    close(sv[1]);
}
END_TEST

START_TEST(wait_many_close_and_ready)
{
    int s1[2], s2[2], fd;
    struct waiting a = {.timeout_ms = 10000}, b = {.timeout_ms = 10000},
                   c = {.timeout_ms = 150};

    gn__patch_enable(GN_PATCH_ALL);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, s1), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, s2), 0);
    /* Readiness of the second fd wakes a park on both. */
    a.fd = s1[0];
    a.fd2 = s2[0];
    go(wait_many_task, &a);
    later(50, write_cb, &s2[1]);
    run();
    ck_assert_int_gt(a.rc, 0);
    ck_assert_int_lt(a.took_ms, 5000);
    /* Nothing: the timeout. */
    c.fd = s1[0];
    c.fd2 = s1[0];
    go(wait_many_task, &c);
    run();
    ck_assert_int_eq(c.rc, -ETIMEDOUT);
    ck_assert_int_ge(c.took_ms, 140);
    /* A close of the first wakes it with -EBADF. */
    b.fd = fd = s1[0];
    b.fd2 = s1[1];
    go(wait_many_task, &b);
    later(50, close_cb, &fd);
    run();
    ck_assert_int_eq(b.rc, -EBADF);
    close(s1[1]);
    close_pair(s2);
}
END_TEST

START_TEST(wait_cancelled)
{
    int sv[2];
    struct waiting a = {.timeout_ms = 10000};
    struct gn_coro *co;

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    a.fd = sv[0];
    co = go(wait_task, &a);
    cancel_after(co, 50);
    run();
    ck_assert_int_eq(a.rc, -ECANCELED);
    close_pair(sv);
}
END_TEST

static Suite *patch_wait_suite(void)
{
    Suite *s = suite_create("patch/wait");
    TCase *tc = test_case(s, "wait");

    tcase_add_test(tc, wait_ready_and_timeout);
    tcase_add_test(tc, wait_close_wakes_ebadf);
    tcase_add_test(tc, wait_many_close_and_ready);
    tcase_add_test(tc, wait_cancelled);
    return s;
}

int main(void)
{
    return gn_test_run_suite(patch_wait_suite());
}
