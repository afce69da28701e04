/*
 * Unit tests of the locale-free timestamps (core/timefmt.c): each format
 * against known instants, in zones east and west of UTC, and the same
 * bytes whatever LC_TIME says (the process may be in de_DE if the system
 * has it; the C library's own formatting is the reference only in "C").
 */
#include <check.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/timefmt.h"
#include "run_suite.h"

/* 2026-12-05 07:41:15 UTC, a Saturday */
static const time_t when = 1796456475;

static void zone(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

START_TEST(timefmt_imf)
{
    char out[GN_TIME_IMF_LEN + 1];

    ck_assert_uint_eq(gn__time_imf(out, when), GN_TIME_IMF_LEN);
    ck_assert_str_eq(out, "Sat, 05 Dec 2026 07:41:15 GMT");
    ck_assert_uint_eq(gn__time_imf(out, 0), GN_TIME_IMF_LEN);
    ck_assert_str_eq(out, "Thu, 01 Jan 1970 00:00:00 GMT");
}
END_TEST

START_TEST(timefmt_local_east_and_west)
{
    char out[64];

    zone("UTC");
    ck_assert_uint_eq(gn__time_clf(out, when), GN_TIME_CLF_LEN);
    ck_assert_str_eq(out, "05/Dec/2026:07:41:15 +0000");
    zone("XST-5:30"); /* 5 h 30 east of UTC */
    ck_assert_uint_eq(gn__time_iso(out, when), GN_TIME_ISO_LEN);
    ck_assert_str_eq(out, "2026-12-05 13:11:15 +0530");
    zone("YST9:30"); /* 9 h 30 west: the day before */
    ck_assert_uint_eq(gn__time_clf(out, when), GN_TIME_CLF_LEN);
    ck_assert_str_eq(out, "04/Dec/2026:22:11:15 -0930");
    ck_assert_uint_eq(gn__time_syslog(out, when), GN_TIME_SYSLOG_LEN);
    ck_assert_str_eq(out, "Dec  4 22:11:15");
    zone("UTC");
    ck_assert_uint_eq(gn__time_syslog(out, when + 10 * 86400),
                      GN_TIME_SYSLOG_LEN);
    ck_assert_str_eq(out, "Dec 15 07:41:15");
}
END_TEST

/* strftime in "C" agrees; and in any locale ours does not change. */
START_TEST(timefmt_matches_c_locale_and_ignores_others)
{
    static const char *const locales[] = {"de_DE.UTF-8", "fr_FR.UTF-8",
                                          "C.UTF-8", ""};
    char ours[64], ref[64];
    struct tm tm;

    zone("UTC");
    setlocale(LC_ALL, "C");
    gmtime_r(&when, &tm);
    strftime(ref, sizeof(ref), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    gn__time_imf(ours, when);
    ck_assert_str_eq(ours, ref);
    strftime(ref, sizeof(ref), "%d/%b/%Y:%H:%M:%S %z", &tm);
    gn__time_clf(ours, when);
    ck_assert_str_eq(ours, ref);
    for (size_t i = 0; i < sizeof(locales) / sizeof(*locales); i++) {
        setlocale(LC_ALL, locales[i]); /* where it exists */
        gn__time_imf(ours, when);
        ck_assert_str_eq(ours, "Sat, 05 Dec 2026 07:41:15 GMT");
        gn__time_clf(ours, when);
        ck_assert_str_eq(ours, "05/Dec/2026:07:41:15 +0000");
    }
    setlocale(LC_ALL, "C");
}
END_TEST

static Suite *timefmt_suite(void)
{
    Suite *s = suite_create("core/timefmt");
    TCase *tc = tcase_create("formats");

    tcase_add_test(tc, timefmt_imf);
    tcase_add_test(tc, timefmt_local_east_and_west);
    tcase_add_test(tc, timefmt_matches_c_locale_and_ignores_others);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return gn_test_run_suite(timefmt_suite());
}
