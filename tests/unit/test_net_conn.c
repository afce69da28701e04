/*
 * net/conn.c over a real loopback TCP connection, with a protocol of the
 * test's own: what a connection costs while idle, and when its socket
 * gets TCP_NODELAY (not for a first write, which Nagle never holds back;
 * before every later one), a new connection served at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/listen.h"
#include "green_fixture.h"
#include "net/conn.h"
#include "run_suite.h"

static int closed;
static int nodelay_seen[4]; /* TCP_NODELAY after each write, from serve */
static int writes;          /* how many writes serve makes */

static int nodelay_of(int fd)
{
    int on = -1;
    socklen_t len = sizeof(on);

    ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
    return on != 0;
}

/* Answer with WRITES small writes, noting TCP_NODELAY after each, then
 * close. */
static int serve(struct gn_conn *c)
{
    char word[] = "x";

    for (int i = 0; i < writes; i++) {
        struct iovec iov = {word, 1};

        ck_assert_int_eq(gn__conn_writev(c, &iov, 1, 1), 0);
        nodelay_seen[i] = nodelay_of(c->fd);
    }
    return -1;
}

static void client_left(struct gn_conn *c)
{
    (void)c;
}

static const struct gn_conn_proto proto = {.serve = serve,
                                           .client_left = client_left};

static int closing_wanted = 1; /* closes that end the loop */

static void conn_closed(void *owner)
{
    (void)owner;
    if (++closed == closing_wanted)
        gn__loop_break(loop);
}

/* A connection set on the fixture's loop and pool, its closes counted by
 * conn_closed, a new connection given FIRST_BYTE_MS for its first byte. */
static struct gn_conns test_conns(int64_t first_byte_ms)
{
    return (struct gn_conns){.loop = loop,
                             .coros = pool,
                             .first_byte_ms = first_byte_ms,
                             .keepalive_ms = 10000,
                             .write_ms = 10000,
                             .closed = conn_closed};
}

/* How exchange() treats its listener: as it comes, with TCP_NODELAY set
 * by gn__listeners_nodelay (the worker's way), or said to have it when it
 * has not (to see that no connection sets it again). */
enum listener_mode { PLAIN, NODELAY, CLAIMED };

/* A connection to a listener of ours, served by PROTO until it closes,
 * after the client sent one byte; returns the bytes it answered. */
static size_t exchange_on(int nwrites, enum listener_mode mode)
{
    struct gn_conns set = test_conns(10000);
    struct sockaddr_in peer;
    socklen_t plen = sizeof(peer);
    char buf[16];
    size_t got = 0;
    ssize_t n;
    int port, lfd = tcp_listener(&port, 0, 4), cfd, sfd;
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    if (mode == NODELAY) {
        struct gn_listener l = {.fd = lfd, .kind = GN_BIND_TCP};

        set.nodelay_inherited = gn__listeners_nodelay(&l, 1);
        ck_assert_int_eq(set.nodelay_inherited, 1);
    }
    set.nodelay_inherited |= mode == CLAIMED;
    writes = nwrites;
    closed = 0;
    memset(nodelay_seen, -1, sizeof(nodelay_seen));
    cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(cfd, 0);
    ck_assert_int_eq(connect(cfd, (struct sockaddr *)&to, sizeof(to)), 0);
    sfd = accept4(lfd, (struct sockaddr *)&peer, &plen,
                  SOCK_NONBLOCK | SOCK_CLOEXEC);
    ck_assert_int_ge(sfd, 0);
    ck_assert_ptr_nonnull(gn__conn_new(&set, sfd, (struct sockaddr *)&peer,
                                       plen, &proto, NULL));
    ck_assert_int_eq(write(cfd, "?", 1), 1);
    drain(); /* until the connection closed */
    ck_assert_int_eq(closed, 1);
    ck_assert_uint_eq(set.n, 0);
    while ((n = read(cfd, buf, sizeof(buf))) > 0)
        got += (size_t)n;
    close(cfd);
    close(lfd);
    gn__conn_free_spares(&set);
    return got;
}

static size_t exchange(int nwrites)
{
    return exchange_on(nwrites, PLAIN);
}

START_TEST(one_write_needs_no_nodelay)
{
    ck_assert_uint_eq(exchange(1), 1);
    ck_assert_int_eq(nodelay_seen[0], 0);
}
END_TEST

START_TEST(second_write_has_nodelay)
{
    ck_assert_uint_eq(exchange(3), 3);
    ck_assert_int_eq(nodelay_seen[0], 0);
    ck_assert_int_eq(nodelay_seen[1], 1);
    ck_assert_int_eq(nodelay_seen[2], 1);
}
END_TEST

/* Set on the listener, TCP_NODELAY comes with each accepted socket, from
 * its first write on. */
START_TEST(listener_nodelay_is_inherited)
{
    ck_assert_uint_eq(exchange_on(3, NODELAY), 3);
    ck_assert_int_eq(nodelay_seen[0], 1);
    ck_assert_int_eq(nodelay_seen[1], 1);
    ck_assert_int_eq(nodelay_seen[2], 1);
}
END_TEST

/* ... and then no connection pays a setsockopt of its own for it. */
START_TEST(inherited_nodelay_is_not_set_again)
{
    ck_assert_uint_eq(exchange_on(3, CLAIMED), 3);
    ck_assert_int_eq(nodelay_seen[1], 0);
    ck_assert_int_eq(nodelay_seen[2], 0);
}
END_TEST

/* Connections that never send time out after first_byte_ms, each by its
 * own deadline though they share one timer, and once the last is gone
 * nothing keeps the loop running (a worker's graceful stop ends so). */
START_TEST(idle_connections_time_out)
{
    struct gn_conns set = test_conns(150);
    struct sockaddr_in peer;
    socklen_t plen;
    int port, lfd = tcp_listener(&port, 0, 8), cfd[3], sfd;
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int64_t t0 = gn_test_now_ms(), took;

    closed = 0;
    closing_wanted = -1; /* the loop must end by itself */
    for (int i = 0; i < 3; i++) {
        cfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_eq(connect(cfd[i], (struct sockaddr *)&to, sizeof(to)),
                         0);
        plen = sizeof(peer);
        sfd = accept4(lfd, (struct sockaddr *)&peer, &plen,
                      SOCK_NONBLOCK | SOCK_CLOEXEC);
        ck_assert_int_ge(sfd, 0);
        ck_assert_ptr_nonnull(gn__conn_new(&set, sfd, (struct sockaddr *)&peer,
                                           plen, &proto, NULL));
        if (i == 0)
            set.first_byte_ms = 100; /* a second duration, due earlier */
    }
    drain(); /* returns once nothing is armed */
    took = gn_test_now_ms() - t0;
    closing_wanted = 1;
    ck_assert_int_eq(closed, 3);
    ck_assert_uint_eq(set.n, 0);
    ck_assert_int_ge(took, 100);
    ck_assert_int_lt(took, 5000); /* not a keepalive's worth later */
    for (int i = 0; i < 3; i++) {
        char b;

        ck_assert_int_eq(read(cfd[i], &b, 1), 0); /* closed quietly */
        close(cfd[i]);
    }
    close(lfd);
}
END_TEST

/* As HTTP/1.1 serves: nothing there yet goes back to idle; a byte is
 * answered with one, then the connection closes. */
static int serve_eager(struct gn_conn *c)
{
    char word[] = "!";
    struct iovec iov = {word, 1};
    ssize_t n = gn__conn_fill(c, 0);

    if (n == -EAGAIN)
        return 1;
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(gn__conn_writev(c, &iov, 1, 1), 0);
    return -1;
}

static const struct gn_conn_proto eager_proto = {.serve = serve_eager,
                                                 .client_left = client_left};

/* gn__conn_serve_new: a connection whose byte is already queued is served
 * and closed within the call, the loop never involved (no epoll_ctl pair:
 * issue #18); one whose byte comes later goes idle, watched, and is served
 * from the loop when it arrives. */
static void serve_new(int queued)
{
    struct gn_conns set = test_conns(10000);
    struct sockaddr_in peer;
    socklen_t plen = sizeof(peer);
    char b = 0;
    int port, lfd = tcp_listener(&port, 0, 4), cfd, sfd;
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    closed = 0;
    cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(cfd, 0);
    ck_assert_int_eq(connect(cfd, (struct sockaddr *)&to, sizeof(to)), 0);
    if (queued)
        ck_assert_int_eq(write(cfd, "?", 1), 1);
    sfd = accept4(lfd, (struct sockaddr *)&peer, &plen,
                  SOCK_NONBLOCK | SOCK_CLOEXEC);
    ck_assert_int_ge(sfd, 0);
    ck_assert_int_eq(gn__conn_serve_new(&set, sfd, (struct sockaddr *)&peer,
                                        plen, &eager_proto, NULL),
                     0);
    if (queued) {
        ck_assert_int_eq(closed, 1); /* within the call */
        ck_assert_uint_eq(set.n, 0);
    } else {
        ck_assert_int_eq(closed, 0); /* idle, waiting for its byte */
        ck_assert_uint_eq(set.n, 1);
        ck_assert_ptr_nonnull(set.list);
        ck_assert_ptr_null(set.list->coro);
        ck_assert_int_eq(write(cfd, "?", 1), 1);
        drain(); /* until the connection closed */
        ck_assert_int_eq(closed, 1);
        ck_assert_uint_eq(set.n, 0);
    }
    ck_assert_int_eq(read(cfd, &b, 1), 1);
    ck_assert_int_eq(b, '!');
    close(cfd);
    close(lfd);
    gn__conn_free_spares(&set);
}

START_TEST(new_connection_with_its_request_is_served_at_once)
{
    serve_new(1);
}
END_TEST

START_TEST(new_connection_without_a_request_waits_idle)
{
    serve_new(0);
}
END_TEST

/* stack_prealloc's read buffers: made up to a count, touched, trimmed. */
START_TEST(prefilled_read_buffers_are_kept)
{
    struct gn_conns set = {.loop = loop, .coros = pool};

    ck_assert_uint_eq(gn__conn_prefill_spares(&set, 3), 3);
    ck_assert_uint_eq(set.nspare_rbufs, 3);
    ck_assert_uint_eq(gn__conn_prefill_spares(&set, 3), 0);
    ck_assert_uint_eq(gn__conn_prefill_spares(&set, 5), 2);
    gn__conn_trim_spares(&set, 1);
    ck_assert_uint_eq(set.nspare_rbufs, 1);
    gn__conn_free_spares(&set);
    ck_assert_uint_eq(set.nspare_rbufs, 0);
}
END_TEST

/* Read buffers held by connections are counted; one whose bytes are all
 * parsed may be given back while its handler runs once more than
 * GN_CONN_RBUF_CROWD are held (http/serve.c's finish_head), and is taken
 * again, from the spares, to read. */
START_TEST(read_buffers_held_are_counted_and_given_back)
{
    enum { N = GN_CONN_RBUF_CROWD + 2 };
    struct gn_conns set = {.loop = loop, .coros = pool};
    struct gn_conn *c[N];

    for (int i = 0; i < N; i++) {
        c[i] = calloc(1, sizeof(*c[i]));
        ck_assert_ptr_nonnull(c[i]);
        c[i]->set = &set;
        ck_assert_int_eq(gn__conn_take_rbuf(c[i]), 0);
        ck_assert_int_eq(gn__conn_take_rbuf(c[i]), 0); /* holds one already */
    }
    ck_assert_uint_eq(set.nheld_rbufs, N);
    ck_assert(gn__conn_rbuf_crowded(c[0]));
    c[0]->rlen = 10; /* bytes not parsed yet: kept */
    c[0]->rpos = 5;
    ck_assert(!gn__conn_rbuf_crowded(c[0]));
    c[0]->rpos = 10;
    ck_assert(gn__conn_rbuf_crowded(c[0]));
    ck_assert_int_eq(gn__conn_grow(c[1], 8192), 0); /* grown: kept */
    ck_assert(!gn__conn_rbuf_crowded(c[1]));

    gn__conn_drop_rbuf(c[0]);
    ck_assert_ptr_null(c[0]->rbuf);
    ck_assert_uint_eq(c[0]->rlen + c[0]->rpos + c[0]->rcap, 0);
    ck_assert(!gn__conn_rbuf_crowded(c[0]));
    ck_assert_uint_eq(set.nheld_rbufs, N - 1);
    ck_assert_uint_eq(set.nspare_rbufs, 1);
    gn__conn_drop_rbuf(c[1]); /* grown: freed, not kept */
    ck_assert_uint_eq(set.nheld_rbufs, N - 2);
    ck_assert_uint_eq(set.nspare_rbufs, 1);
    /* GN_CONN_RBUF_CROWD held: not crowded. */
    ck_assert(!gn__conn_rbuf_crowded(c[2]));

    ck_assert_int_eq(gn__conn_take_rbuf(c[0]), 0); /* the spare */
    ck_assert_uint_eq(set.nspare_rbufs, 0);
    ck_assert_uint_eq(set.nheld_rbufs, N - 1);
    ck_assert_uint_eq(c[0]->rcap, 4096);
    for (int i = 0; i < N; i++) {
        if (c[i]->rbuf != NULL)
            gn__conn_drop_rbuf(c[i]);
        free(c[i]);
    }
    ck_assert_uint_eq(set.nheld_rbufs, 0);
    gn__conn_free_spares(&set);
}
END_TEST

/* An idle keep-alive connection is this struct in a malloc chunk: keep it
 * well under half a kilobyte (issue #18; nginx's is 0.55 KB). A bare one
 * (io_uring: the ring's 64-byte state beside it) in a chunk of 256 bytes;
 * with its watch (epoll), leaving room for libevent's few bytes per
 * descriptor, 384 at most. */
START_TEST(idle_connection_under_half_a_kilobyte)
{
    struct gn_conn *c = malloc(sizeof(*c));
    void *w = malloc(sizeof(*c) + sizeof(struct gn_watch));

    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(w);
    ck_assert_uint_le(malloc_usable_size(c) + sizeof(size_t), 256);
    ck_assert_uint_le(malloc_usable_size(w) + sizeof(size_t), 384);
    free(w);
    free(c);
}
END_TEST

/* A connection made from PEER (LEN bytes) on a socket pair: its
 * remote_addr must read WANT and its remote_port PORT. */
static void check_peer(const struct sockaddr *peer, socklen_t len,
                       const char *want, int port)
{
    struct gn_conns set = test_conns(10000);
    struct gn_conn *c;
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                     0);
    c = gn__conn_new(&set, sv[0], peer, len, &proto, NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(c->remote_addr, want);
    ck_assert_int_eq(c->remote_port, port);
    gn__conn_close(c);
    close(sv[1]);
    ck_assert_uint_eq(set.n, 0);
    gn__conn_free_spares(&set);
}

/* The peer's address as text (remote_addr: the access log, the app's
 * REMOTE_ADDR, the error log), IPv4 written by conn.c itself: every digit
 * count, the ends of the range, and IPv6 as inet_ntop writes it. */
START_TEST(peer_addresses_are_written_as_text)
{
    static const char *const v4[] = {
        "0.0.0.0",    "255.255.255.255", "127.0.0.1",    "10.0.100.9",
        "1.22.133.4", "100.10.1.0",      "9.99.199.250", "203.0.113.7"};
    static const char *const v6[] = {"2001:db8::1", "::1", "::ffff:192.0.2.1",
                                     "fe80::1:2:3:4"};

    for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
        struct sockaddr_in in = {.sin_family = AF_INET,
                                 .sin_port = htons(5555)};

        ck_assert_int_eq(inet_pton(AF_INET, v4[i], &in.sin_addr), 1);
        check_peer((struct sockaddr *)&in, sizeof(in), v4[i], 5555);
    }
    for (size_t i = 0; i < sizeof(v6) / sizeof(v6[0]); i++) {
        struct sockaddr_in6 in6 = {.sin6_family = AF_INET6,
                                   .sin6_port = htons(65535)};

        ck_assert_int_eq(inet_pton(AF_INET6, v6[i], &in6.sin6_addr), 1);
        check_peer((struct sockaddr *)&in6, sizeof(in6), v6[i], 65535);
    }
}
END_TEST

static Suite *net_conn_suite(void)
{
    Suite *s = suite_create("net/conn");
    TCase *tc = test_case(s, "conn");

    tcase_add_test(tc, one_write_needs_no_nodelay);
    tcase_add_test(tc, second_write_has_nodelay);
    tcase_add_test(tc, listener_nodelay_is_inherited);
    tcase_add_test(tc, inherited_nodelay_is_not_set_again);
    tcase_add_test(tc, new_connection_with_its_request_is_served_at_once);
    tcase_add_test(tc, new_connection_without_a_request_waits_idle);
    tcase_add_test(tc, idle_connection_under_half_a_kilobyte);
    tcase_add_test(tc, prefilled_read_buffers_are_kept);
    tcase_add_test(tc, read_buffers_held_are_counted_and_given_back);
    tcase_add_test(tc, idle_connections_time_out);
    tcase_add_test(tc, peer_addresses_are_written_as_text);
    return s;
}

int main(void)
{
    return gn_test_run_suite(net_conn_suite());
}
