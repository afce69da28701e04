/*
 * Unit tests of trusted-address sets (config/ipset.c).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Dotted quads are read by ipset.c itself: it must take exactly what
 * inet_pton(AF_INET) takes, as the same address. Strings of digits and
 * dots (and a few other bytes), random from a fixed seed, plus the
 * edges; none has a ':', so none is IPv6 either. */
static void same_as_inet_pton(const char *text)
{
    uint8_t bin[4];
    char canon[INET_ADDRSTRLEN + 3];
    int ok = inet_pton(AF_INET, text, bin) == 1;

    ck_assert_msg(matches("0.0.0.0/0", text) == ok, "'%s': inet_pton says %d",
                  text, ok);
    if (!ok)
        return;
    snprintf(canon, sizeof(canon), "%u.%u.%u.%u/32", bin[0], bin[1], bin[2],
             bin[3]);
    ck_assert_msg(matches(canon, text), "'%s' is not %s", text, canon);
}

START_TEST(ipset_dotted_quads_as_inet_pton)
{
    static const char *const edges[] = {
        "0.0.0.0",  "255.255.255.255", "256.0.0.1", "1.2.3",    "1.2.3.4.",
        ".1.2.3",   "1..2.3",          "01.2.3.4",  "1.2.3.00", "1.2.3.0",
        "1.2.3.4 ", "1234.1.1.1",      "999.1.1.1", "1.2.3.-4", "",
        "1.2.3.4x", "100.10.1.9"};
    static const char alphabet[] = "0123456789.........05x ";
    char text[20];

    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
        same_as_inet_pton(edges[i]);
    srand(18);
    for (int i = 0; i < 100000; i++) {
        size_t len = (size_t)rand() % 17;

        for (size_t j = 0; j < len; j++)
            text[j] = alphabet[(size_t)rand() % (sizeof(alphabet) - 1)];
        text[len] = '\0';
        same_as_inet_pton(text);
    }
    /* Four groups of 0-4 digits, mostly dot-separated: most parse. */
    for (int i = 0, valid = 0; i < 100000 || valid < 20000; i++) {
        size_t len = 0;
        uint8_t bin[4];

        for (int k = 0; k < 4; k++) {
            int digits = rand() % 10 < 8 ? 1 + rand() % 3 : rand() % 5;

            for (int d = 0; d < digits; d++)
                text[len++] = (char)('0' + (rand() % 10 < 3 ? 0 : rand() % 10));
            if (k < 3)
                text[len++] = rand() % 20 ? '.' : alphabet[(size_t)rand() % 24];
        }
        text[len] = '\0';
        valid += inet_pton(AF_INET, text, bin) == 1;
        same_as_inet_pton(text);
    }
}
END_TEST

static Suite *ipset_suite(void)
{
    Suite *s = suite_create("config/ipset");
    TCase *tc = tcase_create("matching");

    tcase_add_test(tc, ipset_addresses);
    tcase_add_test(tc, ipset_networks);
    tcase_add_test(tc, ipset_any_and_mapped);
    tcase_add_test(tc, ipset_dotted_quads_as_inet_pton);
    tcase_add_test(tc, ipset_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return gn_test_run_suite(ipset_suite());
}
