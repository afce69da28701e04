/*
 * Unit tests of workers/affinity.c: which CPU worker N gets among those
 * the server may use (in order, in turn past the last, gaps skipped), and
 * that pinning leaves the process on that CPU alone. Pinning runs in
 * Check's forked child, so the test runner itself stays unpinned.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <sched.h>

#include "run_suite.h"
#include "workers/affinity.h"

static cpu_set_t cpus(const int *list, int n)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    for (int i = 0; i < n; i++)
        CPU_SET(list[i], &set);
    return set;
}

/* Worker id PICKS[i][0] gets CPU PICKS[i][1] among the N of LIST. */
static void check_picks(const int *list, int n, const int (*picks)[2],
                        int npicks)
{
    cpu_set_t set = cpus(list, n);

    for (int i = 0; i < npicks; i++)
        ck_assert_msg(gn__affinity_cpu(&set, picks[i][0]) == picks[i][1],
                      "worker %d: CPU %d, not %d", picks[i][0],
                      gn__affinity_cpu(&set, picks[i][0]), picks[i][1]);
}

START_TEST(workers_take_the_cpus_in_order_then_in_turn)
{
    static const int picks[][2] = {{1, 0}, {2, 1}, {4, 3}, {5, 0}, {7, 2}};

    check_picks((const int[]){0, 1, 2, 3}, 4, picks, 5);
}
END_TEST

START_TEST(only_the_allowed_cpus_are_taken)
{
    /* A server started under taskset -c 3,5,64: those, and no other. */
    static const int picks[][2] = {{1, 3}, {2, 5}, {3, 64}, {4, 3}};

    check_picks((const int[]){3, 5, 64}, 3, picks, 4);
}
END_TEST

START_TEST(no_cpu_or_no_id_gives_none)
{
    cpu_set_t none = cpus(NULL, 0), one = cpus((const int[]){1}, 1);

    ck_assert_int_eq(gn__affinity_cpu(&none, 1), -1);
    ck_assert_int_eq(gn__affinity_cpu(&one, 0), -1);
    ck_assert_int_eq(gn__affinity_cpu(&one, -3), -1);
    ck_assert_int_eq(gn__affinity_cpu(&one, 9), 1);
}
END_TEST

START_TEST(pinning_leaves_one_cpu)
{
    cpu_set_t before, was, after;
    int cpu, want;

    ck_assert_int_eq(sched_getaffinity(0, sizeof(before), &before), 0);
    want = gn__affinity_cpu(&before, 2);
    cpu = gn__affinity_pin(2, &was);
    ck_assert_int_eq(cpu, want);
    ck_assert(CPU_EQUAL(&was, &before));
    ck_assert_int_eq(sched_getaffinity(0, sizeof(after), &after), 0);
    ck_assert_int_eq(CPU_COUNT(&after), 1);
    ck_assert(CPU_ISSET(cpu, &after));
    ck_assert_int_eq(sched_getcpu(), cpu);
}
END_TEST

static Suite *affinity_suite(void)
{
    Suite *s = suite_create("workers/affinity");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, workers_take_the_cpus_in_order_then_in_turn);
    tcase_add_test(tc, only_the_allowed_cpus_are_taken);
    tcase_add_test(tc, no_cpu_or_no_id_gives_none);
    tcase_add_test(tc, pinning_leaves_one_cpu);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return gn_test_run_suite(affinity_suite());
}
