/*
 * Unit tests of patch_all's ssl family (patch/ssl.c): coroutines that
 * share the thread, each raising OpenSSL errors and parking in between,
 * find only their own errors (code, data, file, line, function) when they
 * run again, however their turns interleave; a coroutine that ends takes
 * its errors with it; without the family the queue is the thread's and
 * they do see each other's. This executable links libcrypto, as an app
 * would; greenicorn finds its ERR_ functions at run time.
 */
#include <check.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "green/coro.h"
#include "green/park.h"
#include "green_fixture.h"
#include "patch/patch.h"
#include "run_suite.h"

/* A task raising REASON (data "from NAME") before each of its parks. */
struct raiser {
    const char *name;
    int reason;
    int parks;
    int delay_ms[3];
    int ok;         /* every check after a park held */
    char seen[256]; /* what it found instead, when not */
};

/* The thread's queue holds exactly N errors of R, oldest first. */
static int holds_own(struct raiser *r, int n)
{
    const char *file, *func, *data;
    int line, flags, count = 0;
    unsigned long code;
    char want[64];

    snprintf(want, sizeof(want), "from %s", r->name);
    while ((code = ERR_get_error_all(&file, &line, &func, &data, &flags))) {
        count++;
        if (ERR_GET_LIB(code) != ERR_LIB_USER ||
            ERR_GET_REASON(code) != r->reason || !(flags & ERR_TXT_STRING) ||
            strcmp(data, want) != 0 || strcmp(func, "raise_own") != 0 ||
            strstr(file, "test_patch_ssl") == NULL || line <= 0) {
            snprintf(r->seen, sizeof(r->seen),
                     "%s: lib %d reason %d %s at %s:%d (%s)", r->name,
                     ERR_GET_LIB(code), ERR_GET_REASON(code),
                     data ? data : "(no data)", file ? file : "?", line,
                     func ? func : "?");
            return 0;
        }
    }
    if (count != n)
        snprintf(r->seen, sizeof(r->seen), "%s: %d errors, not %d", r->name,
                 count, n);
    return count == n;
}

static void raise_own(struct raiser *r)
{
    ERR_raise_data(ERR_LIB_USER, r->reason, "from %s", r->name);
}

/* Raise, park (a timer, or a plain yield for 0), raise again, park ...
 * after the last park the queue must hold its errors only, all of them. */
static void raiser_task(struct gn_coro *co, void *arg)
{
    struct raiser *r = arg;

    (void)co;
    r->ok = 1;
    for (int i = 0; i < r->parks; i++) {
        raise_own(r);
        gn__wait_ms(r->delay_ms[i]);
    }
    r->ok = holds_own(r, r->parks);
}

/* A task that raises nothing, parks while the others raise, and checks
 * that the thread's queue is empty for it. */
static void bystander_task(struct gn_coro *co, void *arg)
{
    int *clean = arg;

    (void)co;
    gn__wait_ms(15);
    *clean = ERR_peek_error() == 0;
}

START_TEST(coroutines_keep_their_own_errors)
{
    struct raiser
        a = {.name = "a", .reason = 101, .parks = 3, .delay_ms = {30, 0, 10}},
        b = {.name = "b", .reason = 202, .parks = 2, .delay_ms = {10, 25}},
        c = {.name = "c", .reason = 303, .parks = 3, .delay_ms = {0, 0, 0}};
    int clean = 0;

    gn__patch_enable(GN_PATCH_ALL);
    go(raiser_task, &a);
    go(raiser_task, &b);
    go(bystander_task, &clean);
    go(raiser_task, &c);
    run();
    ck_assert_msg(a.ok, "%s", a.seen);
    ck_assert_msg(b.ok, "%s", b.seen);
    ck_assert_msg(c.ok, "%s", c.seen);
    ck_assert(clean);
    /* The loop's own queue is left empty. */
    ck_assert_uint_eq(ERR_peek_error(), 0);
}
END_TEST

static void raise_and_end(struct gn_coro *co, void *arg)
{
    (void)co;
    raise_own(arg);
}

/* A coroutine that ends with errors pending leaves none behind. */
START_TEST(finished_coroutines_take_their_errors)
{
    struct raiser a = {.name = "a", .reason = 101};
    int clean = 0;

    gn__patch_enable(GN_PATCH_ALL);
    go(raise_and_end, &a);
    go(bystander_task, &clean);
    run();
    ck_assert(clean);
    ck_assert_uint_eq(ERR_peek_error(), 0);
}
END_TEST

/* An error from the C library (ERR_LIB_SYS, the errno as reason) comes
 * back as such. */
static void raise_system(struct gn_coro *co, void *arg)
{
    int *ok = arg;
    unsigned long code;

    (void)co;
    ERR_raise_data(ERR_LIB_SYS, 111, "connect");
    gn__wait_ms(5);
    code = ERR_get_error();
    *ok = ERR_SYSTEM_ERROR(code) && ERR_GET_REASON(code) == 111 &&
          ERR_get_error() == 0;
}

START_TEST(system_errors_survive_a_park)
{
    int ok = 0, clean = 0;

    gn__patch_enable(GN_PATCH_ALL);
    go(raise_system, &ok);
    go(bystander_task, &clean);
    run();
    ck_assert(ok);
    ck_assert(clean);
}
END_TEST

/* Without the family the queue is the thread's: what the test above
 * guards against does happen. */
START_TEST(without_the_family_errors_are_shared)
{
    struct raiser a = {.name = "a",
                       .reason = 101,
                       .parks = 1,
                       .delay_ms = {30}},
                  b = {
                      .name = "b", .reason = 202, .parks = 1, .delay_ms = {10}};

    gn__patch_enable(GN_PATCH_ALL & ~GN_PATCH_SSL);
    go(raiser_task, &a);
    go(raiser_task, &b);
    run();
    ck_assert(!a.ok || !b.ok);
    ERR_clear_error();
}
END_TEST

static Suite *patch_ssl_suite(void)
{
    Suite *s = suite_create("patch/ssl");
    TCase *tc = test_case(s, "error queue");

    tcase_add_test(tc, coroutines_keep_their_own_errors);
    tcase_add_test(tc, finished_coroutines_take_their_errors);
    tcase_add_test(tc, system_errors_survive_a_park);
    tcase_add_test(tc, without_the_family_errors_are_shared);
    return s;
}

int main(void)
{
    return gn_test_run_suite(patch_ssl_suite());
}
