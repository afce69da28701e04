/*
 * Unit tests of trusted-address sets (config/ipset.c).
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "config/ipset.h"
#include "run_suite.h"

static int matches(const char *spec, const char *addr)
{
    struct gn_ipset set = {0};
    char err[256];
    int m;

    ck_assert_msg(gn__ipset_parse(&set, spec, err, sizeof(err)) == 0, "%s",
                  err);
    m = gn__ipset_match(&set, addr);
    gn__ipset_clear(&set);
    return m;
}

START_TEST(ipset_addresses)
{
    ck_assert(matches("127.0.0.1,::1", "127.0.0.1"));
    ck_assert(matches("127.0.0.1,::1", "::1"));
    ck_assert(!matches("127.0.0.1,::1", "127.0.0.2"));
    ck_assert(matches("10.0.0.1 10.0.0.2", "10.0.0.2"));
    ck_assert(!matches("", "127.0.0.1"));
}
END_TEST

START_TEST(ipset_networks)
{
    ck_assert(matches("10.0.0.0/8", "10.200.3.4"));
    ck_assert(!matches("10.0.0.0/8", "11.0.0.1"));
    ck_assert(matches("192.168.1.128/25", "192.168.1.200"));
    ck_assert(!matches("192.168.1.128/25", "192.168.1.100"));
    ck_assert(matches("2001:db8::/32", "2001:db8:ffff::1"));
    ck_assert(!matches("2001:db8::/32", "2001:db9::1"));
    ck_assert(matches("0.0.0.0/0", "8.8.8.8"));
}
END_TEST

START_TEST(ipset_any_and_mapped)
{
    ck_assert(matches("*", "203.0.113.1"));
    ck_assert(matches("*", "::1"));
    ck_assert(matches("127.0.0.1", "::ffff:127.0.0.1"));
    ck_assert(!matches("127.0.0.1", "not-an-ip"));
}
END_TEST

START_TEST(ipset_errors)
{
    struct gn_ipset set = {0};
    char err[256];

    ck_assert_int_eq(gn__ipset_parse(&set, "10.0.0.0/33", err, sizeof(err)),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "'10.0.0.0/33'"));
    ck_assert_int_eq(gn__ipset_parse(&set, "localhost", err, sizeof(err)),
                     -EINVAL);
    ck_assert_int_eq(gn__ipset_parse(&set, "10.0.0.1/", err, sizeof(err)),
                     -EINVAL);
    ck_assert_int_eq(gn__ipset_parse(&set, "::1/129", err, sizeof(err)),
                     -EINVAL);
    gn__ipset_clear(&set);
}
END_TEST

static Suite *ipset_suite(void)
{
    Suite *s = suite_create("config/ipset");
    TCase *tc = tcase_create("matching");

    tcase_add_test(tc, ipset_addresses);
    tcase_add_test(tc, ipset_networks);
    tcase_add_test(tc, ipset_any_and_mapped);
    tcase_add_test(tc, ipset_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return gn_test_run_suite(ipset_suite());
}
