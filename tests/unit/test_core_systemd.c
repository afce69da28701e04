/*
 * Unit tests of socket activation and readiness notification
 * (core/systemd.c) by the protocols of sd_listen_fds(3) and sd_notify(3):
 * the same in a build with libsystemd (notify goes through it) and one
 * without (notify is ours).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/systemd.h"
#include "run_suite.h"

static void set_pid(long pid)
{
    char v[32];

    snprintf(v, sizeof(v), "%ld", pid);
    setenv("LISTEN_PID", v, 1);
}

/* Descriptors 3 and 4 as systemd leaves them: open, inheritable. */
static void pass_two(void)
{
    int p[2];

    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(dup2(p[0], GN_LISTEN_FDS_START), GN_LISTEN_FDS_START);
    ck_assert_int_eq(dup2(p[1], GN_LISTEN_FDS_START + 1),
                     GN_LISTEN_FDS_START + 1);
    if (p[0] > GN_LISTEN_FDS_START + 1)
        close(p[0]);
    if (p[1] > GN_LISTEN_FDS_START + 1)
        close(p[1]);
}

static void assert_env_cleared(void)
{
    ck_assert_ptr_null(getenv("LISTEN_PID"));
    ck_assert_ptr_null(getenv("LISTEN_FDS"));
    ck_assert_ptr_null(getenv("LISTEN_FDNAMES"));
}

START_TEST(listen_fds_for_us)
{
    pass_two();
    set_pid(getpid());
    setenv("LISTEN_FDS", "2", 1);
    setenv("LISTEN_FDNAMES", "a:b", 1);
    ck_assert_int_eq(gn__listen_fds(), 2);
    assert_env_cleared();
    for (int fd = GN_LISTEN_FDS_START; fd < GN_LISTEN_FDS_START + 2; fd++)
        ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    /* Asked again: the environment said it once. */
    ck_assert_int_eq(gn__listen_fds(), 0);
}
END_TEST

START_TEST(listen_fds_for_another_process)
{
    pass_two();
    set_pid(getpid() + 1);
    setenv("LISTEN_FDS", "2", 1);
    ck_assert_int_eq(gn__listen_fds(), 0);
    assert_env_cleared();
    ck_assert_int_eq(fcntl(GN_LISTEN_FDS_START, F_GETFD) & FD_CLOEXEC, 0);
}
END_TEST

START_TEST(listen_fds_none_or_malformed)
{
    unsetenv("LISTEN_PID");
    setenv("LISTEN_FDS", "2", 1);
    ck_assert_int_eq(gn__listen_fds(), 0);
    assert_env_cleared();
    set_pid(getpid());
    setenv("LISTEN_FDS", "2x", 1);
    ck_assert_int_eq(gn__listen_fds(), -EINVAL);
    assert_env_cleared();
    setenv("LISTEN_PID", "-1", 1);
    setenv("LISTEN_FDS", "1", 1);
    ck_assert_int_eq(gn__listen_fds(), -EINVAL);
    set_pid(getpid());
    ck_assert_int_eq(gn__listen_fds(), -EINVAL); /* no LISTEN_FDS */
}
END_TEST

START_TEST(listen_fds_not_open)
{
    close(GN_LISTEN_FDS_START);
    set_pid(getpid());
    setenv("LISTEN_FDS", "1", 1);
    ck_assert_int_eq(gn__listen_fds(), -EBADF);
    assert_env_cleared();
}
END_TEST

/* A datagram socket bound where NOTIFY_SOCKET says (a path, or "@name"
 * in the abstract namespace), as systemd listens. */
static int listen_notify(const char *where)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t len = strlen(where);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    memcpy(sun.sun_path, where, len);
    if (where[0] == '@')
        sun.sun_path[0] = '\0';
    else
        unlink(where);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun,
                          (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                                      len + (where[0] != '@'))),
                     0);
    setenv("NOTIFY_SOCKET", where, 1);
    return fd;
}

static void assert_received(int fd, const char *want)
{
    char got[512];
    struct timeval tv = {.tv_sec = 5};
    ssize_t n;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    n = recv(fd, got, sizeof(got) - 1, 0);
    ck_assert_int_gt(n, 0);
    got[n] = '\0';
    ck_assert_str_eq(got, want);
}

START_TEST(notify_path)
{
    char where[64];
    int fd;

    snprintf(where, sizeof(where), "/tmp/gn-notify-%d", (int)getpid());
    fd = listen_notify(where);
    ck_assert_int_gt(gn__notify("READY=1\nSTATUS=serving with %d worker(s)", 2),
                     0);
    assert_received(fd, "READY=1\nSTATUS=serving with 2 worker(s)");
    ck_assert_int_gt(gn__notify("STOPPING=1"), 0);
    assert_received(fd, "STOPPING=1");
    close(fd);
    unlink(where);
}
END_TEST

START_TEST(notify_abstract)
{
    char where[64];
    int fd;

    snprintf(where, sizeof(where), "@gn-notify-%d", (int)getpid());
    fd = listen_notify(where);
    ck_assert_int_gt(gn__notify("RELOADING=1"), 0);
    assert_received(fd, "RELOADING=1");
    close(fd);
}
END_TEST

START_TEST(notify_nowhere)
{
    unsetenv("NOTIFY_SOCKET");
    ck_assert_int_eq(gn__notify("READY=1"), 0);
    /* Nobody listening there: an error, never a crash or a block. */
    setenv("NOTIFY_SOCKET", "/nonexistent/gn-notify", 1);
    ck_assert_int_lt(gn__notify("READY=1"), 0);
}
END_TEST

static Suite *systemd_suite(void)
{
    Suite *s = suite_create("core/systemd");
    TCase *tc = tcase_create("listen_fds");
    TCase *tn = tcase_create("notify");

    tcase_add_test(tc, listen_fds_for_us);
    tcase_add_test(tc, listen_fds_for_another_process);
    tcase_add_test(tc, listen_fds_none_or_malformed);
    tcase_add_test(tc, listen_fds_not_open);
    suite_add_tcase(s, tc);
    tcase_add_test(tn, notify_path);
    tcase_add_test(tn, notify_abstract);
    tcase_add_test(tn, notify_nowhere);
    suite_add_tcase(s, tn);
    return s;
}

int main(void)
{
    return gn_test_run_suite(systemd_suite());
}
