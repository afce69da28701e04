/*
 * net/uring.c's choice of ring setup: the best flags first, and each one a
 * kernel refuses (EINVAL: a flag it does not know) gives way to fewer. A
 * fake io_uring_setup stands in for the kernel, refusing what the test says.
 * (Kernels before 6.0 refuse IORING_SETUP_SINGLE_ISSUER, before 5.19
 * IORING_SETUP_COOP_TASKRUN.)
 */
#include <errno.h>

#include "config.h"
#include "net/uring.h"
#include "run_suite.h"

#if GN_HAVE_LIBURING
#include <liburing.h>

static unsigned refused; /* the fake kernel says EINVAL to any of these */
static int other_error;  /* ... or this to everything, when not 0 */
static unsigned tried[8];
static int ntried;

static int fake_init(unsigned flags, void *arg)
{
    ck_assert_ptr_eq(arg, &ntried);
    ck_assert_int_lt(ntried, 8);
    tried[ntried++] = flags;
    if (other_error != 0)
        return other_error;
    return (flags & refused) ? -EINVAL : 0;
}

static const struct gn__uring_setup *try_with(unsigned refuse, int error,
                                              int *rc)
{
    const struct gn__uring_setup *used = NULL;

    refused = refuse;
    other_error = error;
    ntried = 0;
    *rc = gn__uring_try_setups(fake_init, &ntried, &used);
    ck_assert_ptr_nonnull(used);
    ck_assert_uint_eq(used->flags, tried[ntried - 1]);
    ck_assert_ptr_nonnull(used->what);
    return used;
}

static const unsigned coop =
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;

START_TEST(cooperative_single_issuer_first)
{
    int rc;
    const struct gn__uring_setup *used = try_with(0, 0, &rc);

    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(ntried, 1);
    ck_assert_uint_eq(used->flags & coop, coop);
    ck_assert_uint_eq(used->flags & IORING_SETUP_SINGLE_ISSUER,
                      IORING_SETUP_SINGLE_ISSUER);
}
END_TEST

START_TEST(refused_single_issuer_keeps_cooperative)
{
    int rc;
    const struct gn__uring_setup *used =
        try_with(IORING_SETUP_SINGLE_ISSUER, 0, &rc);

    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(ntried, 2);
    ck_assert_uint_eq(used->flags & IORING_SETUP_SINGLE_ISSUER, 0);
    ck_assert_uint_eq(used->flags & coop, coop);
}
END_TEST

START_TEST(a_kernel_without_hints_gets_none)
{
    int rc;
    const struct gn__uring_setup *used =
        try_with(IORING_SETUP_COOP_TASKRUN, 0, &rc);

    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(ntried, 3);
    ck_assert_uint_eq(used->flags, 0);
}
END_TEST

/* Not a flag's refusal (io_uring disabled, out of memory): said at once,
 * with no other setup tried. */
START_TEST(other_refusals_are_final)
{
    int rc;

    try_with(0, -EPERM, &rc);
    ck_assert_int_eq(rc, -EPERM);
    ck_assert_int_eq(ntried, 1);
}
END_TEST

/* EINVAL to everything: the last setup's refusal comes back. */
START_TEST(refused_everything)
{
    int rc;

    try_with(~0u, -EINVAL, &rc);
    ck_assert_int_eq(rc, -EINVAL);
    ck_assert_int_eq(ntried, 3);
}
END_TEST
#endif

static Suite *net_uring_suite(void)
{
    Suite *s = suite_create("net/uring");
    TCase *tc = tcase_create("setup");

    suite_add_tcase(s, tc);
#if GN_HAVE_LIBURING
    tcase_add_test(tc, cooperative_single_issuer_first);
    tcase_add_test(tc, refused_single_issuer_keeps_cooperative);
    tcase_add_test(tc, a_kernel_without_hints_gets_none);
    tcase_add_test(tc, other_refusals_are_final);
    tcase_add_test(tc, refused_everything);
#endif
    return s;
}

int main(void)
{
    return gn_test_run_suite(net_uring_suite());
}
