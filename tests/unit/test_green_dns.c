/*
 * Unit tests of name resolution (green/dns.c) as green connects use it:
 * evdns in a coroutine, getaddrinfo(3) outside one, and a name that does
 * not exist. The fixture is green_fixture.c's.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dns_responder.h"
#include "green/coro.h"
#include "green/dns.h"
#include "green/loop.h"
#include "green/park.h"
#include "green/sync.h"
#include "green_fixture.h"
#include "greenicorn.h"
#include "run_suite.h"

/* ---- gn_connect_tcp by name -------------------------------------------------
 */

/* "localhost" through the resolver: evdns in a coroutine (reading
 * /etc/hosts itself), getaddrinfo(3) outside one. */
START_TEST(connect_tcp_to_localhost)
{
    int port, lfd = tcp_listener(&port, 0, 8);
    struct conn c = {.host = "localhost", .port = port, .timeout = 5};

    go(connect_task, &c);
    run();
    check_connected(lfd, c.rc, 1);
    check_connected(lfd, gn_connect_tcp("localhost", port, 5), 1);
    close(lfd);
}
END_TEST

/*
 * A name under the reserved .invalid TLD never exists. This machine may
 * have no reachable nameserver: evdns then never hears back, and the call
 * times out instead. Both answers are right; success is not.
 */
START_TEST(connect_tcp_to_an_unknown_name)
{
    struct conn c = {
        .host = "no-such-host.greenicorn.invalid", .port = 80, .timeout = 2};

    go(connect_task, &c);
    run();
    ck_assert_msg(c.rc == -EHOSTUNREACH || c.rc == -ETIMEDOUT,
                  "connect to an unknown name: %d", c.rc);
    ck_assert_int_lt(c.took_ms, 10000);
}
END_TEST

/* The nameserver the resolv_conf file names (here on a port of its own),
 * not the system's: gn__dns_configure is what the worker calls. */
START_TEST(connect_tcp_asks_the_resolv_conf_nameserver)
{
    static const struct dns_record records[] = {
        {"up.greenicorn.test", DNS_A, "127.0.0.1"}, {NULL, 0, NULL}};
    struct dns_responder r = {.records = records};
    int port, lfd = tcp_listener(&port, 0, 8);
    struct conn c = {.host = "up.greenicorn.test", .port = port, .timeout = 5};
    char path[64];

    dns_responder_start(&r, NULL, path, sizeof(path));
    gn__dns_configure(path);
    go(connect_task, &c);
    run();
    check_connected(lfd, c.rc, 1);
    dns_responder_stop(&r, path);
    ck_assert_int_ge(r.queries, 1);
    close(lfd);
}
END_TEST

/* ---- the suite
 * ------------------------------------------------------------------ */

static Suite *green_dns_suite(void)
{
    Suite *s = suite_create("green/dns");
    TCase *tc;

    tc = test_case(s, "resolve");
    tcase_add_test(tc, connect_tcp_to_localhost);
    tcase_add_test(tc, connect_tcp_to_an_unknown_name);
    tcase_add_test(tc, connect_tcp_asks_the_resolv_conf_nameserver);
    return s;
}

int main(void)
{
    return gn_test_run_suite(green_dns_suite());
}
