/*
 * Unit tests of the client a request names (gn__request_set_peer in
 * http/request.c): behind proxies in forwarded_allow_ips, the rightmost
 * X-Forwarded-For address that is not itself a trusted proxy, as nginx's
 * realip module finds it with real_ip_recursive on; never an address a
 * client wrote for itself. Requests are parsed from raw bytes as
 * http/serve.c parses them, without a socket. And requests as an app
 * reads them over a socketpair served by http/serve.c, without a worker or
 * a config (http_fixture.c): headers, bodies with a length or chunked,
 * Expect: 100-continue.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/ipset.h"
#include "green_fixture.h"
#include "http/parse.h"
#include "http/request.h"
#include "http_fixture.h"
#include "run_suite.h"

static struct gn_http_limits limits = GN_HTTP_LIMITS_DEFAULT;

struct parsed {
    struct gn_http_parser p;
    struct gn_request req;
    char buf[16384];
};

/* A GET whose head carries the header lines FIELDS ("Name: value\r\n"
 * each), parsed; the caller frees it with release(). */
static struct parsed *parse(const char *fields)
{
    struct parsed *x = calloc(1, sizeof(*x));
    enum gn_http_event ev;
    const char *why;
    size_t len, used;

    ck_assert_ptr_nonnull(x);
    len = (size_t)snprintf(x->buf, sizeof(x->buf),
                           "GET / HTTP/1.1\r\nHost: x\r\n%s\r\n", fields);
    ck_assert_uint_lt(len, sizeof(x->buf));
    gn__http_parser_init(&x->p, &limits);
    gn__request_init(&x->req, NULL, &x->p);
    gn__http_parser_begin(&x->p, &x->req);
    ev = gn__http_execute(&x->p, x->buf, 0, len, &used);
    ck_assert_int_eq(ev, GN_HTTP_HEAD);
    x->req.head_end = used;
    ck_assert_int_eq(gn__request_finish_head(&x->req, x->buf, &why), 0);
    return x;
}

static void release(struct parsed *x)
{
    gn__request_release(&x->req);
    free(x);
}

/* The client address a request with header lines FIELDS gets from the
 * peer PEER:4242 when TRUSTED (a forwarded_allow_ips value, or NULL for a
 * peer outside it) is trusted, copied to OUT; *PORT is its port. */
static const char *client(const char *fields, const char *peer,
                          const char *trusted, char out[64], int *port)
{
    struct gn_ipset set = {0};
    struct parsed *x = parse(fields);
    char err[256];

    if (trusted)
        ck_assert_msg(gn__ipset_parse(&set, trusted, err, sizeof(err)) == 0,
                      "%s", err);
    gn__request_set_peer(&x->req, peer, 4242, trusted ? &set : NULL);
    ck_assert_ptr_nonnull(gn_request_remote_addr(&x->req));
    ck_assert_uint_lt(strlen(gn_request_remote_addr(&x->req)), 64);
    strcpy(out, gn_request_remote_addr(&x->req));
    *port = gn_request_remote_port(&x->req);
    release(x);
    gn__ipset_clear(&set);
    return out;
}

/* The client for FIELDS from peer 127.0.0.1, trusted with 10.0.0.0/8. */
#define CLIENT(fields)                                                         \
    client(fields, "127.0.0.1", "127.0.0.1, 10.0.0.0/8", out, &port)

START_TEST(one_proxy_names_the_client)
{
    char out[64];
    int port;

    ck_assert_str_eq(CLIENT("X-Forwarded-For: 192.0.2.1\r\n"), "192.0.2.1");
    ck_assert_int_eq(port, 0); /* a proxy does not say */
    ck_assert_str_eq(CLIENT(""), "127.0.0.1");
    ck_assert_int_eq(port, 4242);
}
END_TEST

START_TEST(forged_entries_left_of_the_proxy_are_ignored)
{
    char out[64];
    int port;

    /* nginx's $proxy_add_x_forwarded_for: what the client sent, then the
     * address nginx saw. */
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 6.6.6.6, 192.0.2.1\r\n"),
                     "192.0.2.1");
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 10.0.0.9, 6.6.6.6, "
                            "192.0.2.1\r\n"),
                     "192.0.2.1");
}
END_TEST

START_TEST(a_chain_of_trusted_proxies_is_walked)
{
    char out[64];
    int port;

    ck_assert_str_eq(CLIENT("X-Forwarded-For: 6.6.6.6, 192.0.2.1, 10.0.0.2, "
                            "10.1.2.3\r\n"),
                     "192.0.2.1");
    /* Only the proxies in the set are skipped: 10.0.0.2 is the client
     * when it is not one of ours. */
    ck_assert_str_eq(client("X-Forwarded-For: 6.6.6.6, 192.0.2.1, "
                            "10.0.0.2\r\n",
                            "127.0.0.1", "127.0.0.1", out, &port),
                     "10.0.0.2");
    /* Every hop trusted: the leftmost, as nginx takes it. */
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 10.0.0.1, 10.0.0.2\r\n"),
                     "10.0.0.1");
}
END_TEST

START_TEST(several_field_lines_make_one_list)
{
    char out[64];
    int port;

    /* HAProxy's option forwardfor appends a line of its own after the one
     * the client sent: the lines are one list, in order (RFC 9110 5.3). */
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 6.6.6.6\r\n"
                            "X-Forwarded-For: 192.0.2.1\r\n"),
                     "192.0.2.1");
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 6.6.6.6, 192.0.2.1\r\n"
                            "Accept: */*\r\n"
                            "x-forwarded-for: 10.0.0.2\r\n"
                            "X-FORWARDED-FOR: 10.0.0.3\r\n"),
                     "192.0.2.1");
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 6.6.6.6\r\n"
                            "X-Forwarded-For: 192.0.2.1, 10.0.0.2\r\n"),
                     "192.0.2.1");
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 6.6.6.6\r\n"
                            "X-Forwarded-For: 10.0.0.2\r\n"),
                     "6.6.6.6");
    /* An empty line adds nothing. */
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 6.6.6.6\r\n"
                            "X-Forwarded-For: 192.0.2.1\r\n"
                            "X-Forwarded-For:\r\n"),
                     "192.0.2.1");
}
END_TEST

START_TEST(whitespace_and_empty_elements)
{
    char out[64];
    int port;

    ck_assert_str_eq(CLIENT("X-Forwarded-For: 6.6.6.6 ,,\t192.0.2.1 , ,\r\n"),
                     "192.0.2.1");
    ck_assert_str_eq(CLIENT("X-Forwarded-For:192.0.2.1,10.0.0.2\r\n"),
                     "192.0.2.1");
    ck_assert_str_eq(CLIENT("X-Forwarded-For: ,\r\n"), "127.0.0.1");
    ck_assert_int_eq(port, 4242);
    ck_assert_str_eq(CLIENT("X-Forwarded-For:\r\n"), "127.0.0.1");
}
END_TEST

START_TEST(garbage_stops_at_the_last_address_reached)
{
    char out[64];
    int port;

    /* nginx stops at an entry that is not an address and keeps what it
     * had: the peer, or the last trusted proxy it walked to. */
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 192.0.2.1, unknown\r\n"),
                     "127.0.0.1");
    ck_assert_int_eq(port, 4242);
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 192.0.2.1, unknown, "
                            "10.0.0.2\r\n"),
                     "10.0.0.2");
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 192.0.2.1\r\n"
                            "X-Forwarded-For: 10.0.0.2, 10.0.0.3.4\r\n"),
                     "127.0.0.1");
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 192.0.2.1, 10.0.0.2\r\n"
                            "X-Forwarded-For: 10.0.0.3, 300.1.1.1\r\n"),
                     "127.0.0.1");
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 192.0.2.1, 10.0.0.2 x\r\n"),
                     "127.0.0.1");
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 192.0.2.1, "
                            "11111111111111111111111111111111111111111111111111"
                            "\r\n"),
                     "127.0.0.1");
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 192.0.2.1, fe80::1%eth0\r\n"),
                     "127.0.0.1");
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 192.0.2.1, 10.0.0.2:0\r\n"),
                     "127.0.0.1");
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 192.0.2.1, 10.0.0.2:65536\r\n"),
                     "127.0.0.1");
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 192.0.2.1, [10.0.0.2]:80\r\n"),
                     "127.0.0.1");
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 192.0.2.1, [2001:db8::1]\r\n"),
                     "127.0.0.1");
}
END_TEST

START_TEST(entries_with_a_port)
{
    char out[64];
    int port;

    /* Some proxies (Azure's) append the client's port. */
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 192.0.2.1:4711\r\n"),
                     "192.0.2.1");
    ck_assert_int_eq(port, 0);
    ck_assert_str_eq(CLIENT("X-Forwarded-For: [2001:db8::1]:4711, "
                            "10.0.0.2:80\r\n"),
                     "2001:db8::1");
}
END_TEST

START_TEST(ipv6_peers_and_entries)
{
    char out[64];
    int port;

    ck_assert_str_eq(client("X-Forwarded-For: 6.6.6.6, 2001:db8::7\r\n", "::1",
                            "::1", out, &port),
                     "2001:db8::7");
    ck_assert_str_eq(
        client("X-Forwarded-For: 2001:db8::7, fd00::2, fd00::3\r\n", "::1",
               "::1, fd00::/8", out, &port),
        "2001:db8::7");
    /* An IPv4-mapped hop matches its IPv4 network. */
    ck_assert_str_eq(CLIENT("X-Forwarded-For: 192.0.2.1, ::ffff:10.0.0.2\r\n"),
                     "192.0.2.1");
}
END_TEST

START_TEST(an_untrusted_peer_is_not_believed)
{
    char out[64];
    int port;

    ck_assert_str_eq(client("X-Forwarded-For: 192.0.2.1\r\n"
                            "X-Forwarded-Proto: https\r\n",
                            "198.51.100.3", NULL, out, &port),
                     "198.51.100.3");
    ck_assert_int_eq(port, 4242);
}
END_TEST

START_TEST(forwarded_proto)
{
    struct gn_ipset set = {0};
    struct parsed *x;
    char err[256];

    ck_assert_int_eq(gn__ipset_parse(&set, "127.0.0.1", err, sizeof(err)), 0);
    x = parse("X-Forwarded-Proto: HTTPS\r\n");
    gn__request_set_peer(&x->req, "127.0.0.1", 1, &set);
    ck_assert_str_eq(gn_request_scheme(&x->req), "https");
    release(x);
    x = parse("X-Forwarded-Proto: https\r\n");
    gn__request_set_peer(&x->req, "127.0.0.1", 1, NULL);
    ck_assert_str_eq(gn_request_scheme(&x->req), "http");
    release(x);
    x = parse("");
    gn__request_set_peer(&x->req, "127.0.0.1", 1, &set);
    ck_assert_str_eq(gn_request_scheme(&x->req), "http");
    release(x);
    gn__ipset_clear(&set);
}
END_TEST

/* ---- over a socketpair ------------------------------------------------- */

static char out[65536];

/* What the app saw, answered as its body: method, target, path, query,
 * version, a header, the body read in small pieces. */
static int echo(gn_request_t *req, gn_response_t *res, void *state)
{
    const char *x = gn_request_header(req, "x-thing");
    char buf[3];
    ssize_t n;

    gn_response_printf(res, "%s %s %s %s %d [%s] len=%lld body=",
                       gn_request_method(req), gn_request_target(req),
                       gn_request_path(req), gn_request_query(req),
                       gn_request_version(req), x ? x : "-",
                       (long long)gn_request_content_length(req));
    while ((n = gn_request_read(req, buf, sizeof(buf))) > 0)
        gn_response_write(res, buf, (size_t)n);
    ck_assert_int_eq(n, 0);
    return 0;
}

static const char *body_of(const char *response)
{
    const char *end = strstr(response, "\r\n\r\n");

    ck_assert_ptr_nonnull(end);
    return end + 4;
}

START_TEST(head_fields_reach_the_app)
{
    http_app = echo;
    http_exchange("GET /a%20b?q=1 HTTP/1.1\r\nHost: x\r\nX-Thing: yes\r\n"
                  "Connection: close\r\n\r\n",
                  out, sizeof(out));
    ck_assert_msg(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", out);
    ck_assert_str_eq(body_of(out), "GET /a%20b?q=1 /a b q=1 11 [yes] len=-1 "
                                   "body=");
}
END_TEST

START_TEST(body_with_a_length_is_read)
{
    http_app = echo;
    http_exchange("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n"
                  "Connection: close\r\n\r\nhello world",
                  out, sizeof(out));
    ck_assert_str_eq(body_of(out), "POST /p /p  11 [-] len=11 body=hello world");
}
END_TEST

START_TEST(chunked_body_is_read)
{
    http_app = echo;
    http_exchange("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  "Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n"
                  "0\r\n\r\n",
                  out, sizeof(out));
    ck_assert_str_eq(body_of(out), "POST / /  11 [-] len=-1 body=hello world");
}
END_TEST

START_TEST(expect_continue_is_answered_before_the_body)
{
    http_app = echo;
    http_exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                  "Expect: 100-continue\r\nConnection: close\r\n\r\nok",
                  out, sizeof(out));
    ck_assert_msg(strncmp(out, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n",
                          42) == 0,
                  "%s", out);
    ck_assert_str_eq(body_of(out + 25), "POST / /  11 [-] len=2 body=ok");
}
END_TEST

START_TEST(unread_body_is_drained_for_the_next_request)
{
    const char *second;

    http_app = NULL; /* 404s, reading nothing */
    http_exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                  "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                  out, sizeof(out));
    ck_assert_msg(strncmp(out, "HTTP/1.1 404 ", 13) == 0, "%s", out);
    second = strstr(out + 1, "HTTP/1.1 404 ");
    ck_assert_ptr_nonnull(second);
    ck_assert_int_eq(http_served, 2);
}
END_TEST

static void reset(void)
{
    http_app = NULL;
    http_served = http_pre_hooks = http_post_hooks = 0;
    memset(out, 0, sizeof(out));
}

static Suite *request_suite(void)
{
    Suite *s = suite_create("http/request");
    TCase *peer = tcase_create("peer"), *tc;

    tcase_add_test(peer, one_proxy_names_the_client);
    tcase_add_test(peer, forged_entries_left_of_the_proxy_are_ignored);
    tcase_add_test(peer, a_chain_of_trusted_proxies_is_walked);
    tcase_add_test(peer, several_field_lines_make_one_list);
    tcase_add_test(peer, whitespace_and_empty_elements);
    tcase_add_test(peer, garbage_stops_at_the_last_address_reached);
    tcase_add_test(peer, entries_with_a_port);
    tcase_add_test(peer, ipv6_peers_and_entries);
    tcase_add_test(peer, an_untrusted_peer_is_not_believed);
    tcase_add_test(peer, forwarded_proto);
    suite_add_tcase(s, peer);
    tc = test_case(s, "over a socketpair");
    tcase_add_checked_fixture(tc, reset, NULL);
    tcase_add_test(tc, head_fields_reach_the_app);
    tcase_add_test(tc, body_with_a_length_is_read);
    tcase_add_test(tc, chunked_body_is_read);
    tcase_add_test(tc, expect_continue_is_answered_before_the_body);
    tcase_add_test(tc, unread_body_is_drained_for_the_next_request);
    return s;
}

int main(void)
{
    return gn_test_run_suite(request_suite());
}
