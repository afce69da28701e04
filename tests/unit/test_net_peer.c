/*
 * Unit tests of the worker-to-worker channel (net/peer.c): two endpoints
 * of one instance in one process, with different ids, on the fixture's
 * real loop (green_fixture.c). A call from a task (a coroutine, as a
 * request's) is served by the other endpoint's coroutine on the same
 * loop: a relayed request and its answer, a large one, a descriptor
 * passed, a peer that is gone, one that never answers, one that answers
 * garbage, an unknown kind, a handler slower than the call's timeout, and
 * a stop while calls are being served.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "green/park.h"
#include "green_fixture.h"
#include "net/peer.h"
#include "run_suite.h"

#define KIND_ECHO 7
#define KIND_SLOW 8
#define KIND_FD 9

/* Ids no process of this host has (pid_max is at most 2^22). */
#define ID_A 100000001
#define ID_B 100000002
#define ID_NONE 100000003

static struct gn_peer *a, *b;
static const char *tok;
static int idle_calls;

static void on_idle(void *owner)
{
    (void)owner;
    idle_calls++;
}

/* KIND_ECHO: the strings back in reverse order, and one more: "ok". */
static int echo(struct gn_peer_msg *in, struct gn_peer_msg *out, void *ctx)
{
    ck_assert_ptr_eq(ctx, &a);
    for (uint32_t i = in->nparts; i-- > 0;)
        ck_assert_int_eq(
            gn__peer_msg_copy(out, in->part[i].iov_base, in->part[i].iov_len),
            0);
    return gn__peer_msg_add(out, "ok", 2);
}

/* KIND_SLOW: wait as long as the call's first string says (ms). */
static int slow(struct gn_peer_msg *in, struct gn_peer_msg *out, void *ctx)
{
    char ms[16] = "";
    int rc;

    (void)ctx;
    memcpy(ms, in->part[0].iov_base,
           in->part[0].iov_len < 15 ? in->part[0].iov_len : 15);
    rc = gn__wait_ms(atoi(ms));
    if (rc < 0)
        return rc;
    return gn__peer_msg_add(out, "late", 4);
}

/* KIND_FD: take the descriptor passed and write "adopted" into it. */
static int take_fd(struct gn_peer_msg *in, struct gn_peer_msg *out, void *ctx)
{
    int fd = in->fd;

    (void)out;
    (void)ctx;
    if (fd < 0)
        return -EBADF;
    in->fd = -1; /* ours now */
    ck_assert_int_eq(write(fd, "adopted", 7), 7);
    close(fd);
    return 0;
}

static void setup_peers(void)
{
    ck_assert_int_eq(gn__peer_token_init(NULL), 0);
    tok = gn__peer_token();
    idle_calls = 0;
    a = gn__peer_new(loop, pool, tok, ID_A, on_idle, NULL);
    b = gn__peer_new(loop, pool, tok, ID_B, on_idle, NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(gn__peer_on(b, KIND_ECHO, echo, &a), 0);
    ck_assert_int_eq(gn__peer_on(b, KIND_SLOW, slow, NULL), 0);
    ck_assert_int_eq(gn__peer_on(b, KIND_FD, take_fd, NULL), 0);
}

/* Stop both, let the calls they still serve end, free them. */
static void free_peers(void)
{
    gn__peer_stop(a);
    gn__peer_stop(b);
    drain();
    ck_assert_uint_eq(gn__peer_busy(a), 0);
    ck_assert_uint_eq(gn__peer_busy(b), 0);
    gn__peer_free(a);
    gn__peer_free(b);
}

/* One call from a task: its message, answer and result. */
struct call {
    pid_t to;
    struct gn_peer_msg in, out;
    int64_t timeout_ms;
    int rc;
    int64_t took_ms;
};

static void call_task(struct gn_coro *co, void *arg)
{
    struct call *c = arg;
    int64_t t0 = gn_test_now_ms();

    (void)co;
    c->rc = gn__peer_call(tok, c->to, &c->in, &c->out, c->timeout_ms);
    c->took_ms = gn_test_now_ms() - t0;
}

static void make_call(struct call *c, pid_t to, uint32_t kind, int64_t ms)
{
    memset(c, 0, sizeof(*c));
    c->to = to;
    c->timeout_ms = ms;
    gn__peer_msg_init(&c->in, kind);
}

static void assert_part(const struct gn_peer_msg *m, uint32_t i,
                        const char *want)
{
    ck_assert_uint_gt(m->nparts, i);
    ck_assert_uint_eq(m->part[i].iov_len, strlen(want));
    ck_assert(memcmp(m->part[i].iov_base, want, strlen(want)) == 0);
}

START_TEST(relay_request_and_answer)
{
    struct call c;

    setup_peers();
    make_call(&c, ID_B, KIND_ECHO, 5000);
    gn__peer_msg_add(&c.in, "poll", 4);
    gn__peer_msg_add(&c.in, "sid=abc", 7);
    gn__peer_msg_add(&c.in, "", 0);
    go(call_task, &c);
    run();
    ck_assert_int_eq(c.rc, 0);
    ck_assert_uint_eq(c.out.kind, 0);
    ck_assert_uint_eq(c.out.nparts, 4);
    assert_part(&c.out, 0, "");
    assert_part(&c.out, 1, "sid=abc");
    assert_part(&c.out, 2, "poll");
    assert_part(&c.out, 3, "ok");
    ck_assert_int_eq(c.out.fd, -1);
    gn__peer_msg_release(&c.out);
    ck_assert_uint_eq(gn__peer_busy(b), 0);
    ck_assert_int_eq(idle_calls, 1);
    free_peers();
}
END_TEST

START_TEST(large_message_crosses)
{
    size_t len = 3u << 20; /* more than any socket buffer */
    char *big = malloc(len);
    struct call c;

    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < len; i++)
        big[i] = (char)(i * 7);
    setup_peers();
    make_call(&c, ID_B, KIND_ECHO, 10000);
    gn__peer_msg_add(&c.in, big, len);
    go(call_task, &c);
    run();
    ck_assert_int_eq(c.rc, 0);
    ck_assert_uint_eq(c.out.nparts, 2);
    ck_assert_uint_eq(c.out.part[0].iov_len, len);
    ck_assert(memcmp(c.out.part[0].iov_base, big, len) == 0);
    gn__peer_msg_release(&c.out);
    free(big);
    free_peers();
}
END_TEST

START_TEST(many_calls_at_once)
{
    struct call c[20];

    setup_peers();
    for (int i = 0; i < 20; i++) {
        make_call(&c[i], ID_B, KIND_SLOW, 5000);
        gn__peer_msg_add(&c[i].in, "100", 3);
        go(call_task, &c[i]);
    }
    run();
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(c[i].rc, 0);
        assert_part(&c[i].out, 0, "late");
        /* Served side by side, not one after the other (2 s). */
        ck_assert_int_lt(c[i].took_ms, 1500);
        gn__peer_msg_release(&c[i].out);
    }
    free_peers();
}
END_TEST

START_TEST(fd_passed)
{
    int sv[2];
    char buf[16] = "";
    struct call c;

    setup_peers();
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    make_call(&c, ID_B, KIND_FD, 5000);
    gn__peer_msg_add(&c.in, "upgrade", 7);
    c.in.fd = sv[0];
    go(call_task, &c);
    run();
    ck_assert_int_eq(c.rc, 0);
    ck_assert_uint_eq(c.out.kind, 0);
    gn__peer_msg_release(&c.out);
    /* The caller's descriptor is still its own ... */
    ck_assert_int_ne(fcntl(sv[0], F_GETFD), -1);
    close(sv[0]);
    /* ... and the callee wrote through its copy, then closed it: with
     * both closed, the other end sees what it wrote, then the end. */
    ck_assert_int_eq(read(sv[1], buf, sizeof(buf)), 7);
    ck_assert_str_eq(buf, "adopted");
    ck_assert_int_eq(read(sv[1], buf, sizeof(buf)), 0);
    close(sv[1]);
    free_peers();
}
END_TEST

START_TEST(fd_not_taken_is_closed)
{
    int sv[2];
    char buf[4];
    struct call c;

    setup_peers();
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    make_call(&c, ID_B, KIND_ECHO, 5000); /* echo leaves the descriptor */
    c.in.fd = sv[0];
    go(call_task, &c);
    run();
    ck_assert_int_eq(c.rc, 0);
    gn__peer_msg_release(&c.out);
    close(sv[0]);
    /* The callee's copy was closed when its call ended: no leak. */
    ck_assert_int_eq(read(sv[1], buf, sizeof(buf)), 0);
    close(sv[1]);
    free_peers();
}
END_TEST

START_TEST(gone_peer)
{
    struct call c;

    setup_peers();
    make_call(&c, ID_NONE, KIND_ECHO, 5000);
    go(call_task, &c);
    run();
    ck_assert_int_eq(c.rc, -ESRCH);
    ck_assert_uint_eq(c.out.nparts, 0);
    /* A stopped endpoint is as gone as an exited process. */
    gn__peer_stop(b);
    make_call(&c, ID_B, KIND_ECHO, 5000);
    go(call_task, &c);
    run();
    ck_assert_int_eq(c.rc, -ESRCH);
    /* Another instance (token) never reaches our processes. */
    make_call(&c, ID_A, KIND_ECHO, 5000);
    tok = "0123456789abcdef0123456789abcdef";
    go(call_task, &c);
    run();
    ck_assert_int_eq(c.rc, -ESRCH);
    free_peers();
}
END_TEST

START_TEST(unknown_kind)
{
    struct call c;

    setup_peers();
    make_call(&c, ID_B, 42, 5000);
    go(call_task, &c);
    run();
    ck_assert_int_eq(c.rc, 0);
    ck_assert_uint_eq(c.out.kind, ENOSYS);
    ck_assert_uint_eq(c.out.nparts, 0);
    gn__peer_msg_release(&c.out);
    free_peers();
}
END_TEST

START_TEST(handler_slower_than_timeout)
{
    struct call c;

    setup_peers();
    make_call(&c, ID_B, KIND_SLOW, 200);
    gn__peer_msg_add(&c.in, "800", 3);
    go(call_task, &c);
    run();
    ck_assert_int_eq(c.rc, -ETIMEDOUT);
    ck_assert_int_ge(c.took_ms, 150);
    ck_assert_int_lt(c.took_ms, 700);
    /* The handler still waits: the stop cancels it (free_peers). */
    ck_assert_uint_eq(gn__peer_busy(b), 1);
    free_peers();
}
END_TEST

/* A squatter on B's name: accepts, and answers with WHAT (NULL: never). */
struct squatter {
    int lfd;
    const char *what;
    size_t len;
    int fd;
};

static void squat_task(struct gn_coro *co, void *arg)
{
    struct squatter *s = arg;
    char buf[64];

    (void)co;
    ck_assert_int_gt(gn__wait_fd(s->lfd, GN_WATCH_READ, 5000), 0);
    s->fd = accept(s->lfd, NULL, NULL);
    ck_assert_int_ge(s->fd, 0);
    ck_assert_int_gt(read(s->fd, buf, sizeof(buf)), 0);
    if (s->what != NULL) {
        ck_assert_int_eq(write(s->fd, s->what, s->len), (ssize_t)s->len);
        close(s->fd);
        s->fd = -1;
    }
}

static int squat(pid_t id)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int n = snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
                     "greenicorn.%s.%ld", tok, (long)id);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun,
                          (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                                      1 + (size_t)n)),
                     0);
    ck_assert_int_eq(listen(fd, 4), 0);
    return fd;
}

static void check_squatter(const char *what, size_t len, int want)
{
    struct squatter s = {.what = what, .len = len, .fd = -1};
    struct call c;

    setup_peers();
    s.lfd = squat(ID_NONE);
    make_call(&c, ID_NONE, KIND_ECHO, 300);
    gn__peer_msg_add(&c.in, "x", 1);
    go(squat_task, &s);
    go(call_task, &c);
    run();
    ck_assert_int_eq(c.rc, want);
    ck_assert_uint_eq(c.out.nparts, 0);
    if (s.fd >= 0)
        close(s.fd);
    close(s.lfd);
    free_peers();
}

START_TEST(peer_never_answers)
{
    check_squatter(NULL, 0, -ETIMEDOUT);
}
END_TEST

START_TEST(peer_closes_without_answer)
{
    check_squatter("", 0, -EPIPE);
}
END_TEST

START_TEST(peer_answers_garbage)
{
    check_squatter("HTTP/1.1 200 OK\r\n\r\n", 19, -EPROTO);
}
END_TEST

/* A malformed call: B drops it and goes on serving. */
static void garbage_task(struct gn_coro *co, void *arg)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int n = snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
                     "greenicorn.%s.%ld", tok, (long)ID_B);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    char buf[8];
    ssize_t got;

    (void)co;
    (void)arg;
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun,
                             (socklen_t)(offsetof(struct sockaddr_un,
                                                  sun_path) +
                                         1 + (size_t)n)),
                     0);
    ck_assert_int_eq(write(fd, "GET / HTTP/1.1\r\n\r\n", 18), 18);
    ck_assert_int_gt(gn__wait_fd(fd, GN_WATCH_READ, 5000), 0);
    /* Closed, no answer (reset: it left our bytes unread). */
    got = read(fd, buf, sizeof(buf));
    ck_assert_msg(got == 0 || (got < 0 && errno == ECONNRESET), "read: %zd",
                  got);
    close(fd);
}

START_TEST(malformed_call_dropped)
{
    struct call c;

    setup_peers();
    go(garbage_task, NULL);
    run();
    make_call(&c, ID_B, KIND_ECHO, 5000);
    go(call_task, &c);
    run();
    ck_assert_int_eq(c.rc, 0);
    assert_part(&c.out, 0, "ok");
    gn__peer_msg_release(&c.out);
    free_peers();
}
END_TEST

static void stop_b(int fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    gn__peer_stop(b);
}

START_TEST(stop_cancels_calls_served)
{
    struct call c;

    setup_peers();
    make_call(&c, ID_B, KIND_SLOW, 10000);
    gn__peer_msg_add(&c.in, "8000", 4);
    go(call_task, &c);
    later(100, stop_b, NULL);
    run();
    ck_assert_int_eq(c.rc, 0);
    ck_assert_uint_eq(c.out.kind, ECANCELED);
    gn__peer_msg_release(&c.out);
    ck_assert_int_lt(c.took_ms, 3000);
    ck_assert_uint_eq(gn__peer_busy(b), 0);
    free_peers();
}
END_TEST

START_TEST(name_taken)
{
    struct gn_peer *again;

    setup_peers();
    again = gn__peer_new(loop, pool, tok, ID_B, NULL, NULL);
    ck_assert_ptr_null(again);
    ck_assert_int_eq(errno, EADDRINUSE);
    free_peers();
}
END_TEST

START_TEST(token)
{
    char first[GN_PEER_TOKEN_LEN + 1];

    ck_assert_int_eq(gn__peer_token_init(NULL), 0);
    ck_assert_uint_eq(strlen(gn__peer_token()), GN_PEER_TOKEN_LEN);
    ck_assert_uint_eq(strspn(gn__peer_token(), "0123456789abcdef"),
                      GN_PEER_TOKEN_LEN);
    strcpy(first, gn__peer_token());
    ck_assert_int_eq(gn__peer_token_init(NULL), 0);
    ck_assert_str_ne(gn__peer_token(), first); /* random each time */
    /* An old arbiter's (USR2) is kept ... */
    ck_assert_int_eq(gn__peer_token_init(first), 0);
    ck_assert_str_eq(gn__peer_token(), first);
    /* ... unless it is not one. */
    ck_assert_int_eq(gn__peer_token_init("../../etc"), 0);
    ck_assert_str_ne(gn__peer_token(), first);
    ck_assert_uint_eq(strlen(gn__peer_token()), GN_PEER_TOKEN_LEN);
    ck_assert_int_eq(gn__peer_token_init("0123456789ABCDEF0123456789abcdef"),
                     0);
    ck_assert_str_ne(gn__peer_token(), "0123456789ABCDEF0123456789abcdef");
}
END_TEST

static Suite *net_peer_suite(void)
{
    Suite *s = suite_create("net/peer");
    TCase *tc = test_case(s, "calls");

    tcase_add_test(tc, relay_request_and_answer);
    tcase_add_test(tc, large_message_crosses);
    tcase_add_test(tc, many_calls_at_once);
    tcase_add_test(tc, fd_passed);
    tcase_add_test(tc, fd_not_taken_is_closed);
    tcase_add_test(tc, gone_peer);
    tcase_add_test(tc, unknown_kind);
    tcase_add_test(tc, handler_slower_than_timeout);
    tcase_add_test(tc, peer_never_answers);
    tcase_add_test(tc, peer_closes_without_answer);
    tcase_add_test(tc, peer_answers_garbage);
    tcase_add_test(tc, malformed_call_dropped);
    tcase_add_test(tc, stop_cancels_calls_served);
    tcase_add_test(tc, name_taken);
    tcase_add_test(tc, token);
    return s;
}

int main(void)
{
    return gn_test_run_suite(net_peer_suite());
}
