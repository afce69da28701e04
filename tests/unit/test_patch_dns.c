/*
 * Unit tests of patch_all's dns family (patch/dns.c): in a patched
 * coroutine getaddrinfo, gethostbyname(_r) and getnameinfo give glibc's
 * answers for numeric hosts and hosts file names (without asking a
 * nameserver), ask the resolv_conf setting's nameserver for the rest
 * (dns_responder.c, answering after a delay) and park meanwhile, honour
 * its timeout and attempts options, and keep glibc's codes; outside a
 * patched coroutine they are glibc's. The fixture is green_fixture.c's.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns_responder.h"
#include "green/coro.h"
#include "green/dns.h"
#include "green/sys.h"
#include "green_fixture.h"
#include "patch/patch.h"
#include "run_suite.h"

#define NAME "svc.greenicorn.test"

static const struct dns_record records[] = {
    {NAME, DNS_A, "127.0.0.7"},
    {"two.greenicorn.test", DNS_A, "127.0.0.8"},
    {"two.greenicorn.test", DNS_A, "127.0.0.9"},
    {"six.greenicorn.test", DNS_AAAA, "::1"},
    {"7.0.0.127.in-addr.arpa", DNS_PTR, NAME},
    {NULL, 0, NULL},
};

static struct dns_responder responder;
static char resolv[64];

/* The responder answering after DELAY_MS (< 0: never), with OPTIONS, as
 * the worker's resolv_conf; patching on. */
static void serve_dns(int delay_ms, const char *options)
{
    responder = (struct dns_responder){.records = records,
                                       .delay_ms = delay_ms < 0 ? 0 : delay_ms,
                                       .silent = delay_ms < 0};
    dns_responder_start(&responder, options, resolv, sizeof(resolv));
    gn__dns_configure(resolv);
    gn__patch_enable(GN_PATCH_ALL);
}

/* Questions the responder saw, once stopped. */
static int stop_dns(void)
{
    dns_responder_stop(&responder, resolv);
    return responder.queries;
}

/* ---- getaddrinfo in a task ---------------------------------------------- */

struct gai {
    const char *node, *service;
    struct addrinfo hints;
    int use_hints;
    int rc, err;
    struct addrinfo *res;
    int64_t took_ms;
};

static void gai_task(struct gn_coro *co, void *arg)
{
    struct gai *g = arg;
    int64_t start = gn_test_now_ms();

    (void)co;
    errno = 0;
    g->rc = getaddrinfo(g->node, g->service, g->use_hints ? &g->hints : NULL,
                        &g->res);
    g->err = errno;
    g->took_ms = gn_test_now_ms() - start;
}

/* Whether lists A and B are the same, node by node. */
static void check_same(const struct addrinfo *a, const struct addrinfo *b)
{
    for (; a && b; a = a->ai_next, b = b->ai_next) {
        ck_assert_int_eq(a->ai_family, b->ai_family);
        ck_assert_int_eq(a->ai_socktype, b->ai_socktype);
        ck_assert_int_eq(a->ai_protocol, b->ai_protocol);
        ck_assert_int_eq(a->ai_flags, b->ai_flags);
        ck_assert_uint_eq(a->ai_addrlen, b->ai_addrlen);
        ck_assert_mem_eq(a->ai_addr, b->ai_addr, a->ai_addrlen);
        ck_assert_int_eq(a->ai_canonname == NULL, b->ai_canonname == NULL);
        if (a->ai_canonname)
            ck_assert_str_eq(a->ai_canonname, b->ai_canonname);
    }
    ck_assert_msg(a == NULL && b == NULL, "lists of different lengths");
}

/* G in a patched task, then glibc's own answer to NODE_GLIBC (the same
 * question, or the address DNS gives): the same code and list. */
static void check_as_glibc(struct gai *g, const char *node_glibc)
{
    struct addrinfo *want = NULL;
    int rc;

    go(gai_task, g);
    run();
    rc = gn__sys.getaddrinfo(node_glibc, g->service,
                             g->use_hints ? &g->hints : NULL, &want);
    ck_assert_msg(g->rc == rc, "%s %s: %d (%s), glibc %d (%s)",
                  g->node ? g->node : "NULL", g->service ? g->service : "NULL",
                  g->rc, gai_strerror(g->rc), rc, gai_strerror(rc));
    if (rc == 0)
        check_same(g->res, want);
    /* glibc's free takes either list: ours are laid out as its own. */
    if (g->rc == 0)
        freeaddrinfo(g->res);
    if (rc == 0)
        freeaddrinfo(want);
}

static struct gai ask(const char *node, const char *service, int family,
                      int socktype, int flags)
{
    return (struct gai){.node = node,
                        .service = service,
                        .use_hints = 1,
                        .hints = {.ai_family = family,
                                  .ai_socktype = socktype,
                                  .ai_flags = flags}};
}

/* The questions glibc answers from the hosts file or the string itself:
 * the same answers, and no nameserver asked. */
START_TEST(getaddrinfo_matches_glibc_without_dns)
{
    struct gai cases[] = {
        {.node = "localhost"},
        ask("localhost", "http", AF_UNSPEC, 0, 0),
        ask("localhost", "80", AF_INET, SOCK_STREAM, AI_CANONNAME),
        ask("localhost", "domain", AF_UNSPEC, SOCK_DGRAM, AI_ADDRCONFIG),
        ask("127.0.0.1", "https", AF_UNSPEC, 0, 0),
        ask("127.1", NULL, AF_INET, 0, AI_CANONNAME),
        ask("::1", "22", AF_INET6, SOCK_STREAM, 0),
        ask("127.0.0.1", NULL, AF_INET6, 0, 0),
        ask(NULL, "8080", AF_UNSPEC, SOCK_STREAM, AI_PASSIVE),
        ask(NULL, "http", AF_INET, 0, 0),
        ask(NULL, NULL, AF_UNSPEC, 0, 0),
        ask("localhost", "no-such-service-x", AF_UNSPEC, 0, 0),
        ask("localhost", "http", AF_UNIX, 0, 0),
        ask("localhost", "http", AF_UNSPEC, SOCK_STREAM, 0x40000000),
        ask("localhost", "http", AF_UNSPEC, SOCK_STREAM, AI_NUMERICSERV),
        ask(NULL, NULL, AF_UNSPEC, 0, AI_CANONNAME),
    };

    serve_dns(0, NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
        check_as_glibc(&cases[i], cases[i].node);
    ck_assert_int_eq(stop_dns(), 0);
}
END_TEST

/* A name only the nameserver knows: glibc's answer for its address. */
START_TEST(getaddrinfo_asks_the_nameserver)
{
    struct gai cases[] = {
        {.node = NAME},
        ask(NAME, "http", AF_UNSPEC, 0, 0),
        ask(NAME, "5432", AF_INET, SOCK_STREAM, 0),
        ask(NAME, "domain", AF_UNSPEC, SOCK_DGRAM, 0),
    };

    serve_dns(50, NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        check_as_glibc(&cases[i], "127.0.0.7");
        ck_assert_int_ge(cases[i].took_ms, 40);
    }
    ck_assert_int_gt(stop_dns(), 0);
}
END_TEST

START_TEST(getaddrinfo_canonical_name_and_addresses)
{
    struct gai g = ask(NAME, "80", AF_INET, SOCK_STREAM, AI_CANONNAME);
    struct gai two = ask("two.greenicorn.test", NULL, AF_INET, SOCK_STREAM, 0);
    const struct sockaddr_in *sin;

    serve_dns(0, NULL);
    go(gai_task, &g);
    go(gai_task, &two);
    run();
    ck_assert_int_eq(g.rc, 0);
    ck_assert_ptr_nonnull(g.res->ai_canonname);
    ck_assert_str_eq(g.res->ai_canonname, NAME);
    sin = (const struct sockaddr_in *)g.res->ai_addr;
    ck_assert_int_eq(ntohs(sin->sin_port), 80);
    ck_assert_ptr_null(g.res->ai_next);
    ck_assert_int_eq(two.rc, 0);
    ck_assert_ptr_nonnull(two.res->ai_next);
    ck_assert_ptr_null(two.res->ai_next->ai_next);
    ck_assert_ptr_null(two.res->ai_canonname);
    freeaddrinfo(g.res);
    freeaddrinfo(two.res);
    stop_dns();
}
END_TEST

/* resolv.conf's search list: a single label is tried in its domains. */
START_TEST(getaddrinfo_honours_the_search_list)
{
    struct gai g = ask("svc", "80", AF_INET, SOCK_STREAM, 0);

    responder = (struct dns_responder){
        .records = records, .search = "nowhere.test greenicorn.test"};
    dns_responder_start(&responder, "ndots:1", resolv, sizeof(resolv));
    gn__dns_configure(resolv);
    gn__patch_enable(GN_PATCH_ALL);
    check_as_glibc(&g, "127.0.0.7");
    ck_assert_int_ge(stop_dns(), 2);
}
END_TEST

/* Lookups park: three answered after 300 ms each take ~300 ms in all. */
START_TEST(getaddrinfo_parks)
{
    struct gai g[3] = {{.node = NAME}, {.node = NAME}, {.node = NAME}};
    int64_t start;

    serve_dns(300, NULL);
    start = gn_test_now_ms();
    for (int i = 0; i < 3; i++)
        go(gai_task, &g[i]);
    run();
    ck_assert_int_lt(gn_test_now_ms() - start, 2 * 300);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(g[i].rc, 0);
        ck_assert_int_ge(g[i].took_ms, 290);
        freeaddrinfo(g[i].res);
    }
    stop_dns();
}
END_TEST

START_TEST(getaddrinfo_errors_as_glibc_gives_them)
{
    struct gai nx = {.node = "nope.greenicorn.test"};
    struct gai v4 = ask("six.greenicorn.test", NULL, AF_INET, 0, 0);
    struct gai v6 = ask("six.greenicorn.test", "80", AF_INET6, SOCK_STREAM, 0);

    serve_dns(0, NULL);
    go(gai_task, &nx);
    go(gai_task, &v4);
    run();
    ck_assert_int_eq(nx.rc, EAI_NONAME);
    ck_assert_int_eq(v4.rc, EAI_NODATA);
    check_as_glibc(&v6, "::1");
    stop_dns();
}
END_TEST

/* AF_INET6 with AI_V4MAPPED: an A record as ::ffff:a.b.c.d, as glibc. */
START_TEST(getaddrinfo_v4_mapped)
{
    struct gai g = ask(NAME, "80", AF_INET6, SOCK_STREAM, AI_V4MAPPED);
    struct gai six =
        ask("six.greenicorn.test", "80", AF_INET6, SOCK_STREAM, AI_V4MAPPED);

    serve_dns(0, NULL);
    check_as_glibc(&g, "::ffff:127.0.0.7");
    check_as_glibc(&six, "::1");
    stop_dns();
}
END_TEST

/* resolv.conf's timeout and attempts: a silent nameserver answers
 * EAI_AGAIN after ~1 s (glibc's default would be 10 s). */
START_TEST(getaddrinfo_honours_timeout_and_attempts)
{
    struct gai g = {.node = NAME};

    serve_dns(-1, "timeout:1 attempts:1");
    go(gai_task, &g);
    run();
    ck_assert_int_eq(g.rc, EAI_AGAIN);
    ck_assert_int_ge(g.took_ms, 900);
    ck_assert_int_lt(g.took_ms, 4000);
    ck_assert_int_ge(stop_dns(), 1);
}
END_TEST

START_TEST(getaddrinfo_cancelled)
{
    struct gai g = {.node = NAME};
    struct gn_coro *co;

    serve_dns(-1, NULL);
    co = go(gai_task, &g);
    cancel_after(co, 100);
    run();
    ck_assert_int_eq(g.rc, EAI_SYSTEM);
    ck_assert_int_eq(g.err, ECANCELED);
    ck_assert_int_lt(g.took_ms, 2000);
    stop_dns();
}
END_TEST

/* Outside a coroutine, and with the family off, it is glibc's: the
 * responder (known to the worker's resolver only) hears nothing. */
START_TEST(getaddrinfo_passes_through)
{
    struct gai g = {.node = NAME};

    serve_dns(0, NULL);
    gai_task(NULL, &g);
    ck_assert_int_ne(g.rc, 0);
    gn__patch_enable(GN_PATCH_ALL & ~GN_PATCH_DNS);
    go(gai_task, &g);
    run();
    ck_assert_int_ne(g.rc, 0);
    ck_assert_int_eq(stop_dns(), 0);
}
END_TEST

static void inside_evdns_task(struct gn_coro *co, void *arg)
{
    gn__dns_inside++;
    gai_task(co, arg);
    gn__dns_inside--;
}

/* A call made while evdns's own code runs (gn__dns_inside) is the C
 * library's: the resolver never recurses into itself. */
START_TEST(getaddrinfo_inside_the_resolver_passes_through)
{
    struct gai g = {.node = NAME}, after = {.node = NAME};

    serve_dns(0, NULL);
    go(inside_evdns_task, &g);
    run();
    ck_assert_int_ne(g.rc, 0);
    ck_assert_int_eq(__atomic_load_n(&responder.queries, __ATOMIC_SEQ_CST), 0);
    go(gai_task, &after); /* and the flag is not left set */
    run();
    ck_assert_int_eq(after.rc, 0);
    freeaddrinfo(after.res);
    stop_dns();
}
END_TEST

/* ---- gethostbyname ------------------------------------------------------- */

struct ghbn {
    const char *name;
    size_t buflen;
    int rc, herr;
    struct hostent *he;
    char buf[1024];
    char first[INET6_ADDRSTRLEN]; /* h_addr_list[0] */
    char hname[256];
    int naddrs, len;
};

static void note_hostent(struct ghbn *g)
{
    if (g->he == NULL)
        return;
    inet_ntop(g->he->h_addrtype, g->he->h_addr_list[0], g->first,
              sizeof(g->first));
    snprintf(g->hname, sizeof(g->hname), "%s", g->he->h_name);
    for (g->naddrs = 0; g->he->h_addr_list[g->naddrs];)
        g->naddrs++;
    g->len = g->he->h_length;
}

static void ghbn_r_task(struct gn_coro *co, void *arg)
{
    struct ghbn *g = arg;
    struct hostent he;

    (void)co;
    g->rc = gethostbyname_r(g->name, &he, g->buf, g->buflen, &g->he, &g->herr);
    note_hostent(g);
}

static void ghbn_task(struct gn_coro *co, void *arg)
{
    struct ghbn *g = arg;

    (void)co;
    g->he = gethostbyname(g->name);
    g->herr = h_errno;
    note_hostent(g);
}

START_TEST(gethostbyname_asks_the_nameserver)
{
    struct ghbn g = {.name = "two.greenicorn.test"}, r = {.name = NAME},
                nx = {.name = "nope.greenicorn.test"};

    r.buflen = sizeof(r.buf);
    nx.buflen = sizeof(nx.buf);
    serve_dns(0, NULL);
    go(ghbn_task, &g);
    go(ghbn_r_task, &r);
    go(ghbn_r_task, &nx);
    run();
    ck_assert_ptr_nonnull(g.he);
    ck_assert_str_eq(g.hname, "two.greenicorn.test");
    ck_assert_int_eq(g.naddrs, 2);
    ck_assert_int_eq(g.len, 4);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_str_eq(r.first, "127.0.0.7");
    ck_assert_int_eq(r.naddrs, 1);
    /* glibc's way of saying "no such name": 0, no result, h_errno. */
    ck_assert_int_eq(nx.rc, 0);
    ck_assert_ptr_null(nx.he);
    ck_assert_int_eq(nx.herr, HOST_NOT_FOUND);
    stop_dns();
}
END_TEST

static void ghbn2_task(struct gn_coro *co, void *arg)
{
    struct ghbn *g = arg;

    (void)co;
    g->he = gethostbyname2(g->name, AF_INET6);
    g->herr = h_errno;
    note_hostent(g);
}

START_TEST(gethostbyname2_asks_for_ipv6)
{
    struct ghbn g = {.name = "six.greenicorn.test"};

    serve_dns(0, NULL);
    go(ghbn2_task, &g);
    run();
    ck_assert_ptr_nonnull(g.he);
    ck_assert_str_eq(g.first, "::1");
    ck_assert_int_eq(g.len, 16);
    ck_assert_int_eq(g.naddrs, 1);
    stop_dns();
}
END_TEST

START_TEST(gethostbyname_r_small_buffer_is_erange)
{
    struct ghbn r = {.name = NAME, .buflen = 8};

    serve_dns(0, NULL);
    go(ghbn_r_task, &r);
    run();
    ck_assert_int_eq(r.rc, ERANGE);
    ck_assert_ptr_null(r.he);
    stop_dns();
}
END_TEST

/* A hosts file name and a numeric one: glibc's answer, no DNS. */
START_TEST(gethostbyname_matches_glibc_without_dns)
{
    const char *names[] = {"localhost", "127.0.0.1"};

    serve_dns(0, NULL);
    for (int i = 0; i < 2; i++) {
        struct ghbn g = {.name = names[i]}, want = {.name = names[i]};

        go(ghbn_task, &g);
        run();
        want.he = gn__sys.gethostbyname(names[i]);
        note_hostent(&want);
        ck_assert_ptr_nonnull(g.he);
        ck_assert_str_eq(g.hname, want.hname);
        ck_assert_str_eq(g.first, want.first);
        ck_assert_int_eq(g.naddrs, want.naddrs);
    }
    ck_assert_int_eq(stop_dns(), 0);
}
END_TEST

/* ---- getnameinfo --------------------------------------------------------- */

struct gni {
    const char *addr;
    int flags;
    int rc;
    char host[NI_MAXHOST], serv[NI_MAXSERV];
};

static void gni_task(struct gn_coro *co, void *arg)
{
    struct gni *g = arg;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(80)};

    (void)co;
    inet_pton(AF_INET, g->addr, &sin.sin_addr);
    g->rc = getnameinfo((struct sockaddr *)&sin, sizeof(sin), g->host,
                        sizeof(g->host), g->serv, sizeof(g->serv), g->flags);
}

START_TEST(getnameinfo_hosts_file_and_nameserver)
{
    struct gni local = {.addr = "127.0.0.1"}, ptr = {.addr = "127.0.0.7"},
               none = {.addr = "127.0.0.99"},
               req = {.addr = "127.0.0.99", .flags = NI_NAMEREQD},
               num = {.addr = "127.0.0.7", .flags = NI_NUMERICSERV};

    serve_dns(0, NULL);
    go(gni_task, &local);
    go(gni_task, &ptr);
    go(gni_task, &none);
    go(gni_task, &req);
    go(gni_task, &num);
    run();
    ck_assert_int_eq(local.rc, 0);
    ck_assert_str_eq(local.host, "localhost");
    ck_assert_str_eq(local.serv, "http");
    ck_assert_int_eq(ptr.rc, 0);
    ck_assert_str_eq(ptr.host, NAME);
    ck_assert_int_eq(none.rc, 0);
    ck_assert_str_eq(none.host, "127.0.0.99");
    ck_assert_int_eq(req.rc, EAI_NONAME);
    ck_assert_int_eq(num.rc, 0);
    ck_assert_str_eq(num.serv, "80");
    stop_dns();
}
END_TEST

/* ---- the suite ----------------------------------------------------------- */

static Suite *patch_dns_suite(void)
{
    Suite *s = suite_create("patch/dns");
    TCase *tc;

    tc = test_case(s, "getaddrinfo");
    tcase_add_test(tc, getaddrinfo_matches_glibc_without_dns);
    tcase_add_test(tc, getaddrinfo_asks_the_nameserver);
    tcase_add_test(tc, getaddrinfo_canonical_name_and_addresses);
    tcase_add_test(tc, getaddrinfo_parks);
    tcase_add_test(tc, getaddrinfo_honours_the_search_list);
    tcase_add_test(tc, getaddrinfo_errors_as_glibc_gives_them);
    tcase_add_test(tc, getaddrinfo_v4_mapped);
    tcase_add_test(tc, getaddrinfo_honours_timeout_and_attempts);
    tcase_add_test(tc, getaddrinfo_cancelled);
    tcase_add_test(tc, getaddrinfo_passes_through);
    tcase_add_test(tc, getaddrinfo_inside_the_resolver_passes_through);
    tc = test_case(s, "gethostbyname");
    tcase_add_test(tc, gethostbyname_asks_the_nameserver);
    tcase_add_test(tc, gethostbyname2_asks_for_ipv6);
    tcase_add_test(tc, gethostbyname_r_small_buffer_is_erange);
    tcase_add_test(tc, gethostbyname_matches_glibc_without_dns);
    tc = test_case(s, "getnameinfo");
    tcase_add_test(tc, getnameinfo_hosts_file_and_nameserver);
    return s;
}

int main(void)
{
    return gn_test_run_suite(patch_dns_suite());
}
