/*
 * Unit tests of workers/balance.c, the board on which workers that share a
 * listener say how many connections they hold: slots taken and given back
 * as the arbiter forks and reaps, who leaves the next connection to whom
 * (the slack, workers that take none or hold back themselves, workers
 * that share no listener), the others' progress, and that it is memory a
 * forked child shares.
 */
#include <check.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run_suite.h"
#include "workers/balance.h"

static struct gn_balance *b;

static void setup(void)
{
    b = gn__balance_new();
    ck_assert_ptr_nonnull(b);
}

static void teardown(void)
{
    gn__balance_free(b);
}

/* A worker on a slot of its own, accepting, holding CONNS. */
static int worker(size_t conns)
{
    int slot = gn__balance_take(b);

    ck_assert_int_ge(slot, 0);
    gn__balance_set_state(b, slot, GN_BALANCE_ACCEPTING);
    gn__balance_set_counts(b, slot, conns, conns);
    return slot;
}

START_TEST(slots_are_taken_once_and_given_back)
{
    int a = gn__balance_take(b), c = gn__balance_take(b), d;

    ck_assert_int_eq(a, 0);
    ck_assert_int_eq(c, 1);
    gn__balance_set_state(b, a, GN_BALANCE_ACCEPTING);
    gn__balance_set_counts(b, a, 7, 9);
    gn__balance_give_back(b, a);
    /* The freed slot again, its counts from zero and not accepting. */
    d = gn__balance_take(b);
    ck_assert_int_eq(d, a);
    ck_assert_uint_eq(gn__balance_others_accepted(b, c), 0);
    gn__balance_set_state(b, c, GN_BALANCE_ACCEPTING);
    ck_assert_int_eq(gn__balance_yield(b, c, 1000), 0);
}
END_TEST

START_TEST(a_full_board_gives_no_slot)
{
    for (int i = 0; i < GN_BALANCE_SLOTS; i++)
        ck_assert_int_eq(gn__balance_take(b), i);
    ck_assert_int_eq(gn__balance_take(b), -1);
    ck_assert_int_eq(gn__balance_take(NULL), -1);
    /* Without a slot a worker accepts as without a board. */
    ck_assert_int_eq(gn__balance_yield(b, -1, 1000), 0);
    ck_assert_int_eq(gn__balance_yield(NULL, 0, 1000), 0);
}
END_TEST

START_TEST(a_lone_worker_never_yields)
{
    int me = worker(500);

    ck_assert_int_eq(gn__balance_yield(b, me, 500), 0);
}
END_TEST

START_TEST(the_one_with_more_yields_past_the_slack)
{
    int me = worker(0), other = worker(0);

    /* Against none: up to the slack, then the other's turn. */
    ck_assert_int_eq(gn__balance_yield(b, me, GN_BALANCE_SLACK), 0);
    ck_assert_int_eq(gn__balance_yield(b, me, GN_BALANCE_SLACK + 1), 1);
    /* Against 80: the slack and a sixteenth of 80 (5). */
    gn__balance_set_counts(b, other, 80, 80);
    ck_assert_int_eq(gn__balance_yield(b, me, 80 + 5 + GN_BALANCE_SLACK), 0);
    ck_assert_int_eq(gn__balance_yield(b, me, 80 + 5 + GN_BALANCE_SLACK + 1), 1);
    /* The one with fewer never yields to the one with more. */
    gn__balance_set_counts(b, me, 86, 86);
    ck_assert_int_eq(gn__balance_yield(b, other, 80), 0);
}
END_TEST

START_TEST(the_least_loaded_other_decides)
{
    int me = worker(0);

    worker(50);
    worker(10);
    worker(30);
    worker(20);
    ck_assert_int_eq(gn__balance_yield(b, me, 10 + GN_BALANCE_SLACK), 0);
    ck_assert_int_eq(gn__balance_yield(b, me, 10 + GN_BALANCE_SLACK + 1), 1);
}
END_TEST

START_TEST(a_worker_that_takes_none_is_not_waited_for)
{
    int me = worker(0), other = worker(0);

    /* At its cap, stopping, retiring: left out. */
    gn__balance_set_state(b, other, GN_BALANCE_OFF);
    ck_assert_int_eq(gn__balance_yield(b, me, 100), 0);
    /* Holding back for a moment still counts: it looks again soon, and
     * two that hold back for each other are undone by the patience rule
     * (workers/accept.c), not here. */
    gn__balance_set_state(b, other, GN_BALANCE_YIELDING);
    ck_assert_int_eq(gn__balance_yield(b, me, 100), 1);
    gn__balance_give_back(b, other);
    ck_assert_int_eq(gn__balance_yield(b, me, 100), 0);
}
END_TEST

START_TEST(the_others_progress_is_their_accepts_summed)
{
    int me = worker(0), x = worker(0), y = worker(0);

    gn__balance_set_counts(b, me, 4, 1000);
    gn__balance_set_counts(b, x, 3, 5);
    gn__balance_set_counts(b, y, 1, 7);
    ck_assert_uint_eq(gn__balance_others_accepted(b, me), 12);
    gn__balance_set_counts(b, y, 2, 8);
    ck_assert_uint_eq(gn__balance_others_accepted(b, me), 13);
}
END_TEST

START_TEST(workers_balance_only_with_those_sharing_their_listeners)
{
    int me = worker(0), same = worker(0), elsewhere = worker(0), again;

    /* A reload's old worker (elsewhere), still accepting from listeners
     * the new generation does not have. */
    gn__balance_set_group(b, me, 7);
    gn__balance_set_group(b, same, 7);
    gn__balance_set_group(b, elsewhere, 9);
    gn__balance_set_counts(b, same, 48, 48);
    gn__balance_set_counts(b, elsewhere, 0, 30);
    /* It holds none, but takes nothing from ours: the one beside us
     * decides (48, its sixteenth 3, the slack). */
    ck_assert_int_eq(gn__balance_yield(b, me, 48 + 3 + GN_BALANCE_SLACK), 0);
    ck_assert_int_eq(gn__balance_yield(b, me, 48 + 3 + GN_BALANCE_SLACK + 1),
                     1);
    ck_assert_uint_eq(gn__balance_others_accepted(b, me), 48);
    ck_assert_int_eq(gn__balance_yield(b, elsewhere, 1000), 0);
    ck_assert_uint_eq(gn__balance_others_accepted(b, elsewhere), 0);
    /* A slot given back and taken again forgets its group. */
    gn__balance_give_back(b, elsewhere);
    again = gn__balance_take(b);
    ck_assert_int_eq(again, elsewhere);
    gn__balance_set_state(b, again, GN_BALANCE_ACCEPTING);
    ck_assert_uint_eq(gn__balance_others_accepted(b, again), 0);
    gn__balance_set_counts(b, again, 0, 0);
    gn__balance_set_group(b, again, 7);
    ck_assert_int_eq(gn__balance_yield(b, me, GN_BALANCE_SLACK + 1), 1);
}
END_TEST

START_TEST(a_forked_worker_writes_what_the_others_read)
{
    int me = worker(0), child = gn__balance_take(b), status;
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        gn__balance_set_state(b, child, GN_BALANCE_ACCEPTING);
        gn__balance_set_counts(b, child, 0, 42);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_uint_eq(gn__balance_others_accepted(b, me), 42);
    ck_assert_int_eq(gn__balance_yield(b, me, GN_BALANCE_SLACK + 1), 1);
}
END_TEST

static Suite *balance_suite(void)
{
    Suite *s = suite_create("workers/balance");
    TCase *tc = tcase_create("board");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, slots_are_taken_once_and_given_back);
    tcase_add_test(tc, a_full_board_gives_no_slot);
    tcase_add_test(tc, a_lone_worker_never_yields);
    tcase_add_test(tc, the_one_with_more_yields_past_the_slack);
    tcase_add_test(tc, the_least_loaded_other_decides);
    tcase_add_test(tc, a_worker_that_takes_none_is_not_waited_for);
    tcase_add_test(tc, the_others_progress_is_their_accepts_summed);
    tcase_add_test(tc, workers_balance_only_with_those_sharing_their_listeners);
    tcase_add_test(tc, a_forked_worker_writes_what_the_others_read);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return gn_test_run_suite(balance_suite());
}
