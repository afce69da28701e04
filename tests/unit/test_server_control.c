/*
 * Unit tests of the control socket's transport (server/control.c): the
 * socket file's mode and replacement rules, and what one connection gets
 * for a command line, good or bad, answered at once or later. The client
 * and the "arbiter" share this process: pump() runs the arbiter's side.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "run_suite.h"
#include "server/control.h"

static char dir[32], path[64];
static int calls, last_argc;
static char last_argv[GN_CONTROL_ARGS][GN_CONTROL_LINE];
static struct gn_control_client *held; /* a command answered later */
static int hold_next;

static void on_command(void *ctx, struct gn_control_client *c, int argc,
                       char **argv)
{
    (void)ctx;
    calls++;
    last_argc = argc;
    for (int i = 0; i < argc; i++)
        snprintf(last_argv[i], sizeof(last_argv[i]), "%s", argv[i]);
    if (hold_next) {
        held = c;
        return;
    }
    gn__control_reply(c, json_pack("{s:i}", "words", argc));
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/gn-control-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/ctl.sock", dir);
    calls = last_argc = hold_next = 0;
    held = NULL;
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
}

/* The arbiter's side for MS milliseconds. */
static void pump(struct gn_control *ctl, int ms)
{
    int64_t end = gn_test_now_ms() + ms;

    while (gn_test_now_ms() < end) {
        struct pollfd pfd[GN_CONTROL_POLLFDS];
        size_t n = gn__control_pollfds(ctl, pfd);

        if (poll(pfd, n, 10) >= 0)
            gn__control_run(ctl, pfd, n);
    }
}

static int connect_to(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Send LINE (LEN bytes) and pump until the answer's line is in; it. */
static char *exchange(struct gn_control *ctl, const char *line, size_t len)
{
    static char answer[1024];
    size_t got = 0;
    int fd = connect_to();
    int64_t end = gn_test_now_ms() + 3000;

    (void)!send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (memchr(answer, '\n', got) == NULL && gn_test_now_ms() < end) {
        ssize_t n;

        pump(ctl, 10);
        n = recv(fd, answer + got, sizeof(answer) - 1 - got, MSG_DONTWAIT);
        got += n > 0 ? (size_t)n : 0;
        answer[got] = '\0';
    }
    close(fd);
    return answer;
}

START_TEST(control_socket_is_0600_whatever_the_umask)
{
    char err[GN_ERR_LEN];
    mode_t old = umask(0);
    struct gn_control *ctl = gn__control_open(path, on_command, NULL, err);
    struct stat st;

    umask(old);
    ck_assert_msg(ctl != NULL, "%s", err);
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    gn__control_close(ctl);
    ck_assert_int_ne(access(path, F_OK), 0); /* removed at close */
}
END_TEST

START_TEST(control_replaces_a_stale_socket_refuses_a_file)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char err[GN_ERR_LEN];
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct gn_control *ctl;
    FILE *f;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd); /* stale: nobody listens */
    ctl = gn__control_open(path, on_command, NULL, err);
    ck_assert_msg(ctl != NULL, "%s", err);
    ck_assert_str_eq(exchange(ctl, "status\n", 7), "{\"ok\":true,\"data\":"
                                                     "{\"words\":1}}\n");
    gn__control_close(ctl);
    f = fopen(path, "w");
    fputs("keep me", f);
    fclose(f);
    ck_assert_ptr_null(gn__control_open(path, on_command, NULL, err));
    ck_assert_msg(strstr(err, "exists and is not a socket") != NULL, "%s", err);
    ck_assert_int_eq(access(path, F_OK), 0);
}
END_TEST

/* After USR2 the new arbiter renames its socket over the path: the old
 * one's close must leave that one alone. */
START_TEST(control_close_leaves_a_path_taken_over)
{
    char err[GN_ERR_LEN];
    struct gn_control *old = gn__control_open(path, on_command, NULL, err);
    struct gn_control *fresh = gn__control_open(path, on_command, NULL, err);

    ck_assert_ptr_nonnull(old);
    ck_assert_ptr_nonnull(fresh);
    gn__control_close(old);
    ck_assert_int_eq(access(path, F_OK), 0);
    ck_assert_str_eq(exchange(fresh, "x\n", 2), "{\"ok\":true,\"data\":"
                                                 "{\"words\":1}}\n");
    gn__control_close(fresh);
    ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

START_TEST(control_splits_words_and_refuses_garbage)
{
    char err[GN_ERR_LEN], big[2000];
    struct gn_control *ctl = gn__control_open(path, on_command, NULL, err);

    ck_assert_str_eq(exchange(ctl, "  add\t 2  x\r\n", 13),
                     "{\"ok\":true,\"data\":{\"words\":3}}\n");
    ck_assert_int_eq(last_argc, 3);
    ck_assert_str_eq(last_argv[0], "add");
    ck_assert_str_eq(last_argv[1], "2");
    ck_assert_str_eq(last_argv[2], "x");
    calls = 0;
    ck_assert_str_eq(exchange(ctl, "a\0b\n", 4),
                     "{\"ok\":false,\"error\":\"not a command: control bytes "
                     "in the line\"}\n");
    ck_assert_str_eq(exchange(ctl, "\xc3\xa4\n", 3),
                     "{\"ok\":false,\"error\":\"not a command: bytes outside "
                     "ASCII\"}\n");
    ck_assert_str_eq(exchange(ctl, " \n", 2),
                     "{\"ok\":false,\"error\":\"empty command: try 'help'\"}\n");
    ck_assert_str_eq(exchange(ctl, "1 2 3 4 5 6 7 8 9\n", 18),
                     "{\"ok\":false,\"error\":\"too many words (at most 8)\"}\n");
    memset(big, 'x', sizeof(big));
    ck_assert_str_eq(exchange(ctl, big, sizeof(big)),
                     "{\"ok\":false,\"error\":\"command too long (at most 255 "
                     "bytes)\"}\n");
    ck_assert_int_eq(calls, 0); /* none reached the arbiter */
    gn__control_close(ctl);
}
END_TEST

/* A command the arbiter answers later (dump): the client waits, the
 * socket serves others meanwhile. */
START_TEST(control_answers_later_while_serving_others)
{
    char err[GN_ERR_LEN], answer[256] = "";
    struct gn_control *ctl = gn__control_open(path, on_command, NULL, err);
    int fd = connect_to();
    ssize_t n;

    hold_next = 1;
    ck_assert_int_eq(send(fd, "dump\n", 5, 0), 5);
    pump(ctl, 100);
    ck_assert_ptr_nonnull(held);
    ck_assert_int_eq(recv(fd, answer, sizeof(answer), MSG_DONTWAIT), -1);
    ck_assert_int_eq(errno, EAGAIN);
    hold_next = 0;
    ck_assert_str_eq(exchange(ctl, "status\n", 7),
                     "{\"ok\":true,\"data\":{\"words\":1}}\n");
    gn__control_error(held, "late: %d", 42);
    pump(ctl, 50);
    n = recv(fd, answer, sizeof(answer) - 1, MSG_DONTWAIT);
    ck_assert_int_gt(n, 0);
    answer[n] = '\0';
    ck_assert_str_eq(answer, "{\"ok\":false,\"error\":\"late: 42\"}\n");
    close(fd);
    gn__control_close(ctl);
}
END_TEST

static Suite *control_suite(void)
{
    Suite *s = suite_create("server/control");
    TCase *tc = tcase_create("socket");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, control_socket_is_0600_whatever_the_umask);
    tcase_add_test(tc, control_replaces_a_stale_socket_refuses_a_file);
    tcase_add_test(tc, control_close_leaves_a_path_taken_over);
    tcase_add_test(tc, control_splits_words_and_refuses_garbage);
    tcase_add_test(tc, control_answers_later_while_serving_others);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return gn_test_run_suite(control_suite());
}
