/*
 * The main() of every unit test: run one Check suite in Check's fork mode
 * (a crash fails one test, not the run) and turn its result into the exit
 * status meson reads.
 */
#ifndef GN_TESTS_RUN_SUITE_H
#define GN_TESTS_RUN_SUITE_H

#include <check.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds: for tests that time a wait. */
int64_t gn_test_now_ms(void);

/* Run S (taking ownership) and return 0 when every test passed, else 1. */
int gn_test_run_suite(Suite *s);

#endif /* GN_TESTS_RUN_SUITE_H */
