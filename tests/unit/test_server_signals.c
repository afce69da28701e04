/*
 * Unit tests of the arbiter's signals (server/signals.c): a child forked
 * with gn__signals_fork and signalled at once (as a reload's roll-back
 * TERMs a new worker still booting) gets the signal itself; it must never
 * reach the parent's self-pipe, where it would read as the parent's own.
 */
#include <check.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run_suite.h"
#include "server/signals.h"

#define CHILD_WAIT_MS 3000 /* a TERMed child that sleeps on is stuck */

/* PID's wait status; SIGKILL if it has not ended within CHILD_WAIT_MS. */
static int wait_or_kill(pid_t pid)
{
    int64_t deadline = gn_test_now_ms() + CHILD_WAIT_MS;
    int status;

    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (gn_test_now_ms() > deadline) {
            kill(pid, SIGKILL);
            ck_assert_int_eq(waitpid(pid, &status, 0), pid);
            return status;
        }
        usleep(1000);
    }
    return status;
}

/* The parent signals each child as soon as fork returns, before the
 * child has run (Linux runs the parent first): the window in which the
 * child still had the parent's handler and pipe. */
START_TEST(signals_child_signalled_at_once_dies_of_it)
{
    ck_assert_int_eq(gn__signals_install(), 0);
    for (int i = 0; i < 50; i++) {
        pid_t pid = gn__signals_fork();
        int status, signo;

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            for (;;)
                pause();
        }
        ck_assert_int_eq(kill(pid, SIGTERM), 0);
        status = wait_or_kill(pid);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM,
                      "child %d of 50: status %#x, not killed by its TERM",
                      i + 1, status);
        while ((signo = gn__signals_next()) != 0)
            ck_assert_msg(signo == SIGCHLD,
                          "child %d of 50: the parent's pipe got signal %d",
                          i + 1, signo);
    }
}
END_TEST

static Suite *signals_suite(void)
{
    Suite *s = suite_create("server/signals");
    TCase *tc = tcase_create("fork");

    tcase_add_test(tc, signals_child_signalled_at_once_dies_of_it);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return gn_test_run_suite(signals_suite());
}
