/*
 * Unit tests of the PROXY protocol parser (http/proxy.c): versions 1
 * and 2, incomplete input, and malformed headers.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <string.h>

#include "http/proxy.h"
#include "run_suite.h"

static const char sig[] = "\r\n\r\n\0\r\nQUIT\n";

static int parse(const char *buf, size_t len, struct gn_proxy_info *info)
{
    return gn__proxy_parse(buf, len, info);
}

/* A v2 header: command CMD, family FAM, then BODY. */
static size_t v2(char *out, int cmd, int fam, const void *body, size_t n)
{
    memcpy(out, sig, 12);
    out[12] = (char)(0x20 | cmd);
    out[13] = (char)fam;
    out[14] = (char)(n >> 8);
    out[15] = (char)(n & 0xff);
    if (n > 0)
        memcpy(out + 16, body, n);
    return 16 + n;
}

START_TEST(proxy_v1_tcp4)
{
    const char *h = "PROXY TCP4 203.0.113.7 10.0.0.1 4321 80\r\nGET /";
    struct gn_proxy_info info;

    ck_assert_int_eq(parse(h, strlen(h), &info), (int)strlen(h) - 5);
    ck_assert_int_eq(info.local, 0);
    ck_assert_str_eq(info.addr, "203.0.113.7");
    ck_assert_uint_eq(info.port, 4321);
}
END_TEST

START_TEST(proxy_v1_tcp6_and_unknown)
{
    const char *h6 = "PROXY TCP6 2001:db8::1 ::1 65535 443\r\n";
    const char *hu = "PROXY UNKNOWN ffff::1 ::1 1 2\r\n";
    struct gn_proxy_info info;

    ck_assert_int_eq(parse(h6, strlen(h6), &info), (int)strlen(h6));
    ck_assert_str_eq(info.addr, "2001:db8::1");
    ck_assert_uint_eq(info.port, 65535);
    ck_assert_int_eq(parse(hu, strlen(hu), &info), (int)strlen(hu));
    ck_assert_int_eq(info.local, 1);
}
END_TEST

START_TEST(proxy_v1_needs_more)
{
    const char *h = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
    struct gn_proxy_info info;

    for (size_t n = 0; n < strlen(h); n++)
        ck_assert_msg(parse(h, n, &info) == 0, "prefix of %zu bytes", n);
    ck_assert_int_eq(parse(h, strlen(h), &info), (int)strlen(h));
}
END_TEST

START_TEST(proxy_v1_malformed)
{
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
        "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
        "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
    };
    struct gn_proxy_info info;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(parse(bad[i], strlen(bad[i]), &info) == -EPROTO, "%s",
                      bad[i]);
}
END_TEST

START_TEST(proxy_v1_too_long)
{
    char h[200];

    memset(h, 'x', sizeof(h));
    memcpy(h, "PROXY TCP4 ", 11);
    ck_assert_int_eq(parse(h, sizeof(h), (struct gn_proxy_info[1]){0}),
                     -EPROTO);
}
END_TEST

START_TEST(proxy_v2_tcp4_with_tlv)
{
    unsigned char body[12 + 7] = {192,
                                  0,
                                  2,
                                  9,
                                  10,
                                  0,
                                  0,
                                  1,
                                  0x1f,
                                  0x90,
                                  0,
                                  80,
                                  /* a TLV we skip */ 0x04,
                                  0,
                                  4,
                                  'a',
                                  'b',
                                  'c',
                                  'd'};
    char h[64];
    size_t n = v2(h, 1, 0x11, body, sizeof(body));
    struct gn_proxy_info info;

    ck_assert_int_eq(parse(h, n, &info), (int)n);
    ck_assert_int_eq(info.local, 0);
    ck_assert_str_eq(info.addr, "192.0.2.9");
    ck_assert_uint_eq(info.port, 8080);
    for (size_t k = 0; k < n; k++)
        ck_assert_int_eq(parse(h, k, &info), 0);
}
END_TEST

START_TEST(proxy_v2_tcp6_and_local)
{
    unsigned char body[36] = {0};
    char h[64];
    size_t n;
    struct gn_proxy_info info;

    inet_pton(AF_INET6, "2001:db8::7", body);
    body[32] = 0x12;
    body[33] = 0x34;
    n = v2(h, 1, 0x21, body, sizeof(body));
    ck_assert_int_eq(parse(h, n, &info), (int)n);
    ck_assert_str_eq(info.addr, "2001:db8::7");
    ck_assert_uint_eq(info.port, 0x1234);
    n = v2(h, 0, 0x00, NULL, 0);
    ck_assert_int_eq(parse(h, n, &info), 16);
    ck_assert_int_eq(info.local, 1);
}
END_TEST

START_TEST(proxy_v2_malformed)
{
    unsigned char body[8] = {0};
    char h[64];
    size_t n = v2(h, 1, 0x11, body, sizeof(body)); /* too short for TCP4 */
    struct gn_proxy_info info;

    ck_assert_int_eq(parse(h, n, &info), -EPROTO);
    n = v2(h, 2, 0x11, body, sizeof(body)); /* no such command */
    ck_assert_int_eq(parse(h, n, &info), -EPROTO);
    n = v2(h, 1, 0x11, body, sizeof(body));
    h[12] = 0x11; /* version 1 in a v2 signature */
    ck_assert_int_eq(parse(h, n, &info), -EPROTO);
}
END_TEST

static Suite *proxy_suite(void)
{
    Suite *s = suite_create("http/proxy");
    TCase *v1 = tcase_create("v1");
    TCase *v2c = tcase_create("v2");

    tcase_add_test(v1, proxy_v1_tcp4);
    tcase_add_test(v1, proxy_v1_tcp6_and_unknown);
    tcase_add_test(v1, proxy_v1_needs_more);
    tcase_add_test(v1, proxy_v1_malformed);
    tcase_add_test(v1, proxy_v1_too_long);
    tcase_add_test(v2c, proxy_v2_tcp4_with_tlv);
    tcase_add_test(v2c, proxy_v2_tcp6_and_local);
    tcase_add_test(v2c, proxy_v2_malformed);
    suite_add_tcase(s, v1);
    suite_add_tcase(s, v2c);
    return s;
}

int main(void)
{
    return gn_test_run_suite(proxy_suite());
}
