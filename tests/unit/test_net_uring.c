/*
 * net/uring.c's choice of ring setup: the best flags first, and each one a
 * kernel refuses (EINVAL: a flag it does not know) gives way to fewer. A
 * fake io_uring_setup stands in for the kernel, refusing what the test says.
 * (Kernels before 6.1 refuse IORING_SETUP_DEFER_TASKRUN, before 6.0
 * IORING_SETUP_SINGLE_ISSUER, before 5.19 IORING_SETUP_COOP_TASKRUN.) And, on a real ring over loopback TCP, a new
 * connection's first bytes: read at once with recv(2) when its listener
 * deferred the accept, brought by the ring's receive otherwise.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "config.h"
#include "core/clock.h"
#include "green_fixture.h"
#include "net/conn.h"
#include "net/transport.h"
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

/* Kernels from 6.1: task work deferred to the worker's own enters, which
 * lets the loop wait in the ring. */
START_TEST(deferred_single_issuer_first)
{
    int rc;
    const struct gn__uring_setup *used = try_with(0, 0, &rc);

    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(ntried, 1);
    ck_assert_uint_eq(used->flags & IORING_SETUP_DEFER_TASKRUN,
                      IORING_SETUP_DEFER_TASKRUN);
    ck_assert_uint_eq(used->flags & IORING_SETUP_SINGLE_ISSUER,
                      IORING_SETUP_SINGLE_ISSUER);
}
END_TEST

/* 6.0: cooperative task work, one issuer. */
START_TEST(refused_deferred_keeps_cooperative_single_issuer)
{
    int rc;
    const struct gn__uring_setup *used =
        try_with(IORING_SETUP_DEFER_TASKRUN, 0, &rc);

    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(ntried, 2);
    ck_assert_uint_eq(used->flags & IORING_SETUP_DEFER_TASKRUN, 0);
    ck_assert_uint_eq(used->flags & coop, coop);
    ck_assert_uint_eq(used->flags & IORING_SETUP_SINGLE_ISSUER,
                      IORING_SETUP_SINGLE_ISSUER);
}
END_TEST

/* 5.19: neither knows SINGLE_ISSUER (nor DEFER_TASKRUN). */
START_TEST(refused_single_issuer_keeps_cooperative)
{
    int rc;
    const struct gn__uring_setup *used = try_with(
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, 0, &rc);

    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(ntried, 3);
    ck_assert_uint_eq(used->flags & IORING_SETUP_SINGLE_ISSUER, 0);
    ck_assert_uint_eq(used->flags & coop, coop);
}
END_TEST

START_TEST(a_kernel_without_hints_gets_none)
{
    int rc;
    const struct gn__uring_setup *used =
        try_with(IORING_SETUP_COOP_TASKRUN | IORING_SETUP_DEFER_TASKRUN |
                     IORING_SETUP_SINGLE_ISSUER,
                 0, &rc);

    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(ntried, 4);
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
    ck_assert_int_eq(ntried, 4);
}
END_TEST

/* ---- a new connection's first bytes ----------------------------------- */

static char served[32]; /* what serve found to read */
static int closed;

/* Read what the connection holds (the ring brought it, or the socket has
 * it), then close. */
static int serve(struct gn_conn *c)
{
    ssize_t n = c->tp->recv(c, served, sizeof(served) - 1, 0);

    served[n > 0 ? n : 0] = '\0';
    return -1;
}

static void client_left(struct gn_conn *c)
{
    (void)c;
}

static const struct gn_conn_proto proto = {.serve = serve,
                                           .client_left = client_left};

static void conn_closed(void *owner)
{
    (void)owner;
    closed++;
    gn__loop_break(loop);
}

/* A connection on a ring of the fixture's loop (*U, made when NULL),
 * whose client has sent "GET"; its client's socket in *CFD. NULL when the
 * kernel refuses io_uring (a seccomp filter, a container): the test has
 * nothing to do. */
static struct gn_conn *connected(struct gn_conns *set, struct gn_uring **u,
                                 int bytes_waiting, int *cfd)
{
    struct sockaddr_in peer;
    socklen_t plen = sizeof(peer);
    int port, lfd = tcp_listener(&port, 0, 4), sfd;
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    const char *fallback;
    struct gn_conn *c;

    if (*u == NULL && gn__uring_new(loop, u, &fallback) != 0) {
        close(lfd);
        return NULL;
    }
    *cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(*cfd, 0);
    ck_assert_int_eq(connect(*cfd, (struct sockaddr *)&to, sizeof(to)), 0);
    ck_assert_int_eq(write(*cfd, "GET", 3), 3);
    sfd = accept4(lfd, (struct sockaddr *)&peer, &plen,
                  SOCK_NONBLOCK | SOCK_CLOEXEC);
    ck_assert_int_ge(sfd, 0);
    close(lfd);
    c = gn__conn_new_bare(set, sfd, (struct sockaddr *)&peer, plen, &proto,
                          NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(gn__uring_attach(*u, c, bytes_waiting), 0);
    served[0] = '\0';
    closed = 0;
    return c;
}

static void finish(struct gn_conns *set, struct gn_uring *u, int cfd)
{
    ck_assert_int_eq(closed, 1);
    ck_assert_uint_eq(set->n, 0);
    close(cfd);
    gn__uring_free(u);
    gn__conn_free_spares(set);
}

#define CONNS(name)                                                        \
    struct gn_conns name = {.loop = loop,                                  \
                            .coros = pool,                                 \
                            .first_byte_ms = 10000,                        \
                            .keepalive_ms = 10000,                         \
                            .write_ms = 10000,                             \
                            .closed = conn_closed}

/* The running kernel is MAJOR.MINOR or later. */
static int kernel_at_least(int major, int minor)
{
    struct utsname un;
    int ma = 0, mi = 0;

    ck_assert_int_eq(uname(&un), 0);
    ck_assert_int_eq(sscanf(un.release, "%d.%d", &ma, &mi), 2);
    return ma > major || (ma == major && mi >= minor);
}

/* From a deferred listener: the bytes are read before any loop turn, and
 * once the socket is empty the ring's receive brings the next ones. */
START_TEST(waiting_bytes_are_read_at_once)
{
    CONNS(set);
    struct gn_uring *u = NULL;
    char buf[16];
    int cfd;
    struct gn_conn *c = connected(&set, &u, 1, &cfd);

    if (c == NULL)
        return; /* no io_uring here */
    ck_assert_uint_eq(c->tp->pending(c), 1); /* in the socket, to be read */
    ck_assert_int_eq(c->tp->recv(c, buf, sizeof(buf), 0), 3);
    ck_assert_mem_eq(buf, "GET", 3);
    /* Drained: the ring's turn from now on. */
    errno = 0;
    ck_assert_int_eq(c->tp->recv(c, buf, sizeof(buf), 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_uint_eq(c->tp->pending(c), 0);
    ck_assert_int_eq(write(cfd, " /x", 3), 3);
    gn__loop_run(loop); /* until the connection closed */
    ck_assert_str_eq(served, " /x");
    /* That receive was multishot (the socket had been drained), armed
     * with a limit of bytes: a kernel that knows it (6.17+) took it; an
     * older one gets multishot ones without the limit (6.0+). */
    ck_assert_int_eq(gn__uring_multishot(u), kernel_at_least(6, 17)  ? 2
                                             : kernel_at_least(6, 0) ? 1
                                                                     : 0);
    finish(&set, u, cfd);
}
END_TEST

/* A request read, its answer sent and the connection closed in the
 * same run (a new connection per request, its handler never waiting):
 * the ring queues the send and the close, and no receive, so no
 * cancellation either, as epoll never registers such a connection. What
 * arms the receive is a wait (the connection's watch op), or a read
 * that finds nothing. */
START_TEST(a_connection_served_at_once_arms_no_receive)
{
    CONNS(set);
    struct gn_uring *u = NULL;
    char buf[16];
    int cfd;
    struct iovec iov = {.iov_base = "HTTP", .iov_len = 4};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    unsigned long before;
    struct gn_conn *c = connected(&set, &u, 1, &cfd);

    if (c == NULL)
        return;
    before = gn__uring_entries(u);
    ck_assert_int_eq(c->tp->recv(c, buf, sizeof(buf), 0), 3);
    ck_assert_uint_eq(gn__uring_entries(u), before); /* drained: no receive */
    ck_assert_int_eq(c->tp->sendmsg(c, &mh, 0), 4);
    ck_assert_uint_eq(gn__uring_entries(u), before + 1); /* the send */
    gn__conn_close(c);
    ck_assert_uint_eq(gn__uring_entries(u), before + 2); /* the close */
    finish(&set, u, cfd); /* (submits them) */
}
END_TEST

/* The same connection waiting instead: its watch arms one receive, once
 * however often it waits. */
START_TEST(a_waiting_connection_arms_one_receive)
{
    CONNS(set);
    struct gn_uring *u = NULL;
    char buf[16];
    int cfd;
    unsigned long before;
    struct gn_conn *c = connected(&set, &u, 1, &cfd);

    if (c == NULL)
        return;
    ck_assert_int_eq(c->tp->recv(c, buf, sizeof(buf), 0), 3);
    before = gn__uring_entries(u);
    c->tp->watch(c);
    ck_assert_uint_eq(gn__uring_entries(u), before + 1);
    c->tp->watch(c);
    ck_assert_uint_eq(gn__uring_entries(u), before + 1);
    ck_assert_int_eq(write(cfd, " /y", 3), 3);
    gn__loop_run(loop); /* the receive's bytes serve it; it closes */
    ck_assert_str_eq(served, " /y");
    finish(&set, u, cfd);
}
END_TEST

/* Otherwise the first receive goes through the ring: nothing is read
 * before the loop turns, though the bytes are there. */
START_TEST(other_bytes_come_through_the_ring)
{
    CONNS(set);
    struct gn_uring *u = NULL;
    char buf[16];
    int cfd;
    struct gn_conn *c = connected(&set, &u, 0, &cfd);

    if (c == NULL)
        return;
    ck_assert_uint_eq(c->tp->pending(c), 0);
    errno = 0;
    ck_assert_int_eq(c->tp->recv(c, buf, sizeof(buf), 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    gn__loop_run(loop);
    ck_assert_str_eq(served, "GET");
    finish(&set, u, cfd);
}
END_TEST

/* ---- the loop waiting in the ring ------------------------------------- */

static void break_loop(int fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    gn__loop_break(loop);
}

/* With a batching wait (io_uring_batch_wait), a turn that reaped several
 * completions makes the next wait a batch (up to 32, at most 20 us after
 * the first, on kernels from 6.17, whose ring the loop waits in); a worker
 * that then has nothing to do still sleeps until something comes. (The
 * kernel ends a wait with a minimum and no overall timeout when the
 * minimum passes: such a worker woke every 20 us, 74,000 times in 5 s.) */
START_TEST(an_idle_worker_sleeps_after_a_busy_turn)
{
    CONNS(set);
    struct gn_uring *u = NULL;
    int cfd1, cfd2, rc;
    unsigned long woke;

    if (connected(&set, &u, 0, &cfd1) == NULL)
        return; /* no io_uring here */
    rc = gn__uring_set_batch_wait(u, 20);
    if (kernel_at_least(6, 17))
        ck_assert_int_eq(rc, 0);
    else
        ck_assert(rc == 0 || rc == -ENOTSUP);
    ck_assert_ptr_nonnull(connected(&set, &u, 0, &cfd2));
    while (closed < 2) /* both requests, then both closes */
        gn__loop_run(loop);
    woke = gn__uring_wakeups(u);
    later(200, break_loop, NULL);
    gn__loop_run(loop);
    ck_assert_uint_lt(gn__uring_wakeups(u) - woke, 20);
    ck_assert_uint_eq(set.n, 0);
    close(cfd1);
    close(cfd2);
    gn__uring_free(u);
    gn__conn_free_spares(&set);
}
END_TEST

/* io_uring_batch_wait's bounds: 0 (off) is always taken, past 1000 us
 * is refused, and 1000 is taken wherever the ring can wait so. */
START_TEST(a_batching_wait_is_bounded)
{
    struct gn_uring *u;
    const char *fallback;
    int rc;

    if (gn__uring_new(loop, &u, &fallback) != 0)
        return; /* no io_uring here */
    ck_assert_int_eq(gn__uring_set_batch_wait(u, 0), 0);
    ck_assert_int_eq(gn__uring_set_batch_wait(u, 1001), -EINVAL);
    rc = gn__uring_set_batch_wait(u, 1000);
    ck_assert(rc == 0 || (rc == -ENOTSUP && !kernel_at_least(6, 17)));
    ck_assert_int_eq(gn__uring_set_batch_wait(u, 0), 0);
    gn__uring_free(u);
}
END_TEST

static int pipe_fds[2];
static int pipe_read;
static int64_t written_at;

static void write_pipe(int fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    written_at = gn__monotonic_ms();
    ck_assert_int_eq(write(pipe_fds[1], "x", 1), 1);
}

static void pipe_readable(int fd, short what, void *arg)
{
    char c;

    (void)what;
    (void)arg;
    ck_assert_int_eq(read(fd, &c, 1), 1);
    pipe_read++;
    gn__loop_break(loop);
}

/* With the ring doing the loop's waiting (a kernel with deferred task
 * work and a multishot receive's limit: 6.17+, where the ring is set up
 * so, its best setup, nothing to log), the loop's own descriptors still
 * wake it: a timer (the loop's timerfd) and, from it, a pipe, each
 * through the ring's poll on the epoll set, and the pipe's watch runs in
 * the turn its byte came. Twice: the poll is queued again after it
 * completed. */
START_TEST(the_loop_waits_in_the_ring_for_its_descriptors)
{
    struct gn_watch rd = {0};
    struct gn_uring *u;
    const char *fallback;

    if (gn__uring_new(loop, &u, &fallback) != 0)
        return; /* no io_uring here */
    if (kernel_at_least(6, 0))
        ck_assert_ptr_null(fallback);
    ck_assert_int_eq(pipe(pipe_fds), 0);
    ck_assert_int_eq(gn__watch_start(&rd, loop, pipe_fds[0],
                                     GN_WATCH_READ | GN_WATCH_PERSIST, -1,
                                     pipe_readable, NULL),
                     0);
    pipe_read = 0;
    for (int i = 1; i <= 2; i++) {
        later(30, write_pipe, NULL);
        gn__loop_run(loop);
        ck_assert_int_eq(pipe_read, i);
        ck_assert_int_lt(gn__monotonic_ms() - written_at, 500);
    }
    if (kernel_at_least(6, 17))
        ck_assert_uint_ge(gn__uring_wakeups(u), 2);
    gn__watch_stop(&rd);
    close_pair(pipe_fds);
    gn__uring_free(u);
}
END_TEST
#endif

static Suite *net_uring_suite(void)
{
    Suite *s = suite_create("net/uring");
    TCase *tc = tcase_create("setup");

    suite_add_tcase(s, tc);
#if GN_HAVE_LIBURING
    tcase_add_test(tc, deferred_single_issuer_first);
    tcase_add_test(tc, refused_deferred_keeps_cooperative_single_issuer);
    tcase_add_test(tc, refused_single_issuer_keeps_cooperative);
    tcase_add_test(tc, a_kernel_without_hints_gets_none);
    tcase_add_test(tc, other_refusals_are_final);
    tcase_add_test(tc, refused_everything);
    tc = test_case(s, "first bytes");
    tcase_add_test(tc, waiting_bytes_are_read_at_once);
    tcase_add_test(tc, other_bytes_come_through_the_ring);
    tcase_add_test(tc, a_connection_served_at_once_arms_no_receive);
    tcase_add_test(tc, a_waiting_connection_arms_one_receive);
    tc = test_case(s, "the loop's wait");
    tcase_add_test(tc, the_loop_waits_in_the_ring_for_its_descriptors);
    tcase_add_test(tc, an_idle_worker_sleeps_after_a_busy_turn);
    tcase_add_test(tc, a_batching_wait_is_bounded);
#endif
    return s;
}

int main(void)
{
    return gn_test_run_suite(net_uring_suite());
}
