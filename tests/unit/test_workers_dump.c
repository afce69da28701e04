/*
 * Unit tests of workers/dump.c's loop side on a real loop and coroutine
 * pool: a dump the arbiter asked for (dump_asked past dump_done on the
 * heartbeat page) goes to the page's dump_path and is acknowledged only
 * once the file is complete; one nobody asked for goes to the error log;
 * and the listing counts the coroutines by what they wait on. (The held
 * loop's path, written by the signal handler, is tests/e2e/test_dump.py's.)
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "green/coro.h"
#include "green/loop.h"
#include "green/park.h"
#include "run_suite.h"
#include "workers/dump.h"
#include "workers/state.h"

static struct gn_config cfg;
static struct gn_heartbeat hb;
static struct gn_worker w;
static struct gn_watch stop_timer;
static char dir[64];

static void stop_loop(int fd, short what, void *arg)
{
    gn__loop_break(w.loop);
}

static void setup(void)
{
    memset(&w, 0, sizeof(w));
    memset(&hb, 0, sizeof(hb));
    w.id = 7;
    w.pid = getpid();
    w.cfg = &cfg;
    w.heartbeat = &hb;
    w.loop = gn__loop_new();
    w.coros = gn__coro_pool_new(64 * 1024, 8);
    ck_assert_ptr_nonnull(w.loop);
    ck_assert_ptr_nonnull(w.coros);
    gn__green_init(w.loop, NULL);
    ck_assert_int_eq(gn__dump_watch(&w), 0);
    strcpy(dir, "/tmp/gn-dump-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void sleeper(struct gn_coro *co, void *arg)
{
    gn__wait_ms(10000); /* cancelled below */
}

static void release(struct gn_coro *co, void *arg)
{
    gn__coro_release(co);
}

/* N coroutines in a 10 s sleep; the signal; one loop turn or so. */
static void dump_with_sleepers(int n)
{
    struct gn_coro *co[8];

    for (int i = 0; i < n; i++) {
        co[i] = gn__coro_new(w.coros, sleeper, NULL, release, NULL);
        ck_assert_ptr_nonnull(co[i]);
        gn__coro_resume(co[i]);
    }
    ck_assert_int_eq(raise(GN_DUMP_SIGNAL), 0);
    ck_assert_int_eq(
        gn__watch_start(&stop_timer, w.loop, -1, 0, 100, stop_loop, NULL), 0);
    gn__loop_run(w.loop);
    for (int i = 0; i < n; i++)
        gn__green_cancel(co[i], -ECANCELED);
    ck_assert_int_eq(
        gn__watch_start(&stop_timer, w.loop, -1, 0, 100, stop_loop, NULL), 0);
    gn__loop_run(w.loop);
    ck_assert_uint_eq(gn__coro_pool_live(w.coros), 0);
}

static char *slurp(const char *path)
{
    static char buf[16384];
    int fd = open(path, O_RDONLY);
    ssize_t n;

    ck_assert_int_ge(fd, 0);
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    ck_assert_int_ge(n, 0);
    buf[n] = '\0';
    return buf;
}

START_TEST(dump_goes_to_the_file_asked_for)
{
    char path[128];

    snprintf(path, sizeof(path), "%s/listing", dir);
    snprintf(hb.dump_path, sizeof(hb.dump_path), "%s", path);
    hb.dump_done = 41;
    hb.dump_asked = 42;
    dump_with_sleepers(3);
    ck_assert_uint_eq(hb.dump_done, 42);
    char *text = slurp(path);
    ck_assert_msg(strstr(text, "dump of worker 7 (pid ") == text, "%s", text);
    ck_assert_ptr_nonnull(strstr(text, "3 coroutines, 0 connections"));
    ck_assert_ptr_nonnull(strstr(text, "\n3 coroutines waiting on sleep\n"));
    ck_assert_ptr_nonnull(strstr(text, "waits on sleep of 10000 ms for "));
    ck_assert_ptr_nonnull(strstr(text, "\nend of dump of worker 7"));
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(dump_not_asked_for_goes_to_the_log)
{
    char path[128];
    int fd;

    snprintf(path, sizeof(path), "%s/stderr", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
    hb.dump_asked = hb.dump_done = 5; /* nothing asked */
    dump_with_sleepers(1);
    ck_assert_uint_eq(hb.dump_done, 5);
    char *text = slurp(path);
    ck_assert_ptr_nonnull(strstr(text, "dump of worker 7 (pid "));
    ck_assert_ptr_nonnull(strstr(text, "1 coroutine waiting on sleep\n"));
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(dump_unwritable_file_is_not_acknowledged)
{
    snprintf(hb.dump_path, sizeof(hb.dump_path), "%s/no/such/dir", dir);
    hb.dump_asked = 1;
    dump_with_sleepers(1);
    ck_assert_uint_eq(hb.dump_done, 0); /* the arbiter says it missed */
    rmdir(dir);
}
END_TEST

static Suite *dump_suite(void)
{
    Suite *s = suite_create("workers/dump");
    TCase *tc = tcase_create("listing");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, dump_goes_to_the_file_asked_for);
    tcase_add_test(tc, dump_not_asked_for_goes_to_the_log);
    tcase_add_test(tc, dump_unwritable_file_is_not_acknowledged);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return gn_test_run_suite(dump_suite());
}
