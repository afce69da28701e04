/*
 * Unit tests of the public green API (include/greenicorn.h, "Green API")
 * on a real event loop: every call's success, timeout and cancellation
 * paths, green threads (spawn, join, kill, the reaping at request end),
 * events, semaphores and queues, and what each does outside a coroutine.
 *
 * Test bodies start "tasks" (coroutines standing for requests) with go()
 * and run the loop until they have all returned. A task is cancelled the
 * way a request is, with gn__green_cancel from a loop callback. Timing
 * assertions are loose: lower bounds a little under the timeout, upper
 * bounds far above it, as this runs on busy machines too.
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

#include "green/coro.h"
#include "green/dns.h"
#include "green/loop.h"
#include "green/park.h"
#include "green/sync.h"
#include "greenicorn.h"
#include "run_suite.h"

/* ---- fixture: a loop, a pool, tasks ------------------------------------- */

static struct gn_loop *loop;
static struct gn_coro_pool *pool;
static int running; /* tasks started and not returned */
static int looping; /* run() is in gn__loop_run */

/* Timers the tests arm (cancellations); stopped at teardown. */
#define MAX_TIMERS 8
static struct gn_watch timers[MAX_TIMERS];
static int ntimers;

static void setup(void)
{
    loop = gn__loop_new();
    pool = gn__coro_pool_new(GN_CORO_STACK_DEFAULT, 8);
    ck_assert_ptr_nonnull(loop);
    ck_assert_ptr_nonnull(pool);
    gn__green_init(loop, NULL);
    gn__threads_init(pool);
    running = 0;
    looping = 0;
    ntimers = 0;
    memset(timers, 0, sizeof(timers));
}

static void stop_loop(int fd, short what, void *arg)
{
    gn__loop_break(loop);
}

/* Give the loop a few turns, for callbacks libevent defers (evdns answers
 * to lookups a task gave up on free their records there). */
static void settle(void)
{
    struct gn_watch w = {0};

    gn__watch_start(&w, loop, -1, 0, 20, stop_loop, NULL);
    gn__loop_run(loop);
    gn__watch_stop(&w);
}

static void teardown(void)
{
    for (int i = 0; i < ntimers; i++)
        gn__watch_stop(&timers[i]);
    settle();
    gn__threads_free();
    gn__dns_shutdown();
    gn__coro_pool_free(pool);
    gn__loop_free(loop);
}

static void task_done(struct gn_coro *co, void *arg)
{
    gn__coro_release(co);
    if (--running == 0 && looping)
        gn__loop_break(loop);
}

/* Start FN(co, ARG) as a task: it runs until its first wait right away.
 * The coroutine is valid until the task returns. */
static struct gn_coro *go(gn__coro_fn fn, void *arg)
{
    struct gn_coro *co = gn__coro_new(pool, fn, arg, task_done, NULL);

    ck_assert_ptr_nonnull(co);
    running++;
    gn__coro_resume(co);
    return co;
}

/* Run the loop until every task returned. A loop with nothing armed while
 * a task still waits is a deadlock, and fails here. */
static void run(void)
{
    looping = 1;
    if (running > 0)
        gn__loop_run(loop);
    looping = 0;
    ck_assert_msg(running == 0, "%d task(s) still waiting", running);
}

/* Run the loop until nothing is armed (no resolver in use). */
static void drain(void)
{
    gn__loop_run(loop);
}

static void cancel_cb(int fd, short what, void *arg)
{
    gn__green_cancel(arg, -ECANCELED);
}

/* Cancel CO's green calls, as a request timeout would, in MS ms. */
static void cancel_after(struct gn_coro *co, int64_t ms)
{
    ck_assert_int_lt(ntimers, MAX_TIMERS);
    ck_assert_int_eq(
        gn__watch_start(&timers[ntimers++], loop, -1, 0, ms, cancel_cb, co), 0);
}

/* Call CB(ARG) from a loop callback in MS ms. */
static void later(int64_t ms, gn__watch_cb cb, void *arg)
{
    ck_assert_int_lt(ntimers, MAX_TIMERS);
    ck_assert_int_eq(
        gn__watch_start(&timers[ntimers++], loop, -1, 0, ms, cb, arg), 0);
}

/* ---- a guard against calls that block the whole loop --------------------
 *
 * A green call that blocks in the kernel stalls every other task, so the
 * one that would unblock it never runs: the test would hang. The guard's
 * alarm closes the descriptors involved, which fails the stuck call (EINTR,
 * then EBADF), and records that the loop was blocked.
 */

static volatile sig_atomic_t guard_fired;
static volatile int guard_fds[3] = {-1, -1, -1};

static void guard_alarm(int sig)
{
    guard_fired = 1;
    for (int i = 0; i < 3; i++)
        if (guard_fds[i] >= 0)
            close(guard_fds[i]);
}

static void guard(int a, int b, int c)
{
    struct sigaction sa = {.sa_handler = guard_alarm}; /* no SA_RESTART */

    guard_fired = 0;
    guard_fds[0] = a;
    guard_fds[1] = b;
    guard_fds[2] = c;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
    alarm(3);
}

static void unguard(void)
{
    alarm(0);
    ck_assert_msg(!guard_fired, "a green call blocked the loop for 3 s");
}

/* ---- descriptors -------------------------------------------------------- */

/* The kinds of channel the I/O tests run over (the loop tests' _i). */
static const struct channel_kind {
    const char *name;
    int pipe;
    int nonblock;
} kinds[] = {
    {"non-blocking socketpair", 0, 1},
    {"blocking socketpair", 0, 0},
    {"non-blocking pipe", 1, 1},
    {"blocking pipe", 1, 0},
};
#define NKINDS ((int)(sizeof(kinds) / sizeof(kinds[0])))

/* A channel of kind K: FDS[0] reads what FDS[1] writes. */
static void channel(int k, int fds[2])
{
    int nb = kinds[k].nonblock;

    if (kinds[k].pipe)
        ck_assert_int_eq(pipe2(fds, O_CLOEXEC | (nb ? O_NONBLOCK : 0)), 0);
    else
        ck_assert_int_eq(
            socketpair(AF_UNIX,
                       SOCK_STREAM | SOCK_CLOEXEC | (nb ? SOCK_NONBLOCK : 0), 0,
                       fds),
            0);
}

static void close_pair(int fds[2])
{
    close(fds[0]);
    close(fds[1]);
}

/* A TCP listener on 127.0.0.1 (an ephemeral port, in *PORT). */
static int tcp_listener(int *port, int nonblock, int backlog)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd =
        socket(AF_INET,
               SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(fd, backlog), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* A port nothing listens on (bound once, then closed). */
static int closed_port(void)
{
    int port, fd = tcp_listener(&port, 1, 1);

    close(fd);
    return port;
}

static int is_nonblocking(int fd)
{
    return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
}

static int is_cloexec(int fd)
{
    return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

/* ---- gn_wait_fd ------------------------------------------------------------
 */

struct fd_wait {
    int fd, events;
    double timeout;
    int rc;
    int64_t took_ms;
};

static void wait_fd_task(struct gn_coro *co, void *arg)
{
    struct fd_wait *w = arg;
    int64_t start = gn_test_now_ms();

    w->rc = gn_wait_fd(w->fd, w->events, w->timeout);
    w->took_ms = gn_test_now_ms() - start;
}

struct ready_mask {
    int a, b;
    int both_before, read_after_data, both_after_data, read_after_close;
};

static void ready_mask_task(struct gn_coro *co, void *arg)
{
    struct ready_mask *m = arg;
    char c;

    /* Nothing to read yet: only writing is ready. */
    m->both_before = gn_wait_fd(m->a, GN_WAIT_READ | GN_WAIT_WRITE, 5);
    m->read_after_data = gn_wait_fd(m->a, GN_WAIT_READ, 5);
    m->both_after_data = gn_wait_fd(m->a, GN_WAIT_READ | GN_WAIT_WRITE, 5);
    ck_assert_int_eq(read(m->a, &c, 1), 1);
    m->read_after_close = gn_wait_fd(m->a, GN_WAIT_READ, 5);
}

static void write_then_close(struct gn_coro *co, void *arg)
{
    struct ready_mask *m = arg;

    gn_sleep(0.05);
    ck_assert_int_eq(write(m->b, "x", 1), 1);
    gn_sleep(0.05);
    close(m->b);
}

START_TEST(wait_fd_reports_the_ready_mask)
{
    int sv[2];
    struct ready_mask m = {0};

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv),
                     0);
    m.a = sv[0];
    m.b = sv[1];
    go(ready_mask_task, &m);
    go(write_then_close, &m);
    run();
    ck_assert_int_eq(m.both_before, GN_WAIT_WRITE);
    ck_assert_int_eq(m.read_after_data, GN_WAIT_READ);
    ck_assert_int_eq(m.both_after_data, GN_WAIT_READ | GN_WAIT_WRITE);
    /* A hang-up counts as ready, for the read to report it. */
    ck_assert_int_eq(m.read_after_close, GN_WAIT_READ);
    close(sv[0]);
}
END_TEST

START_TEST(wait_fd_times_out)
{
    int p[2];
    struct fd_wait w;

    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    w = (struct fd_wait){.fd = p[0], .events = GN_WAIT_READ, .timeout = 0.1};
    go(wait_fd_task, &w);
    run();
    ck_assert_int_eq(w.rc, -ETIMEDOUT);
    ck_assert_int_ge(w.took_ms, 90);
    close_pair(p);
}
END_TEST

START_TEST(wait_fd_is_cancelled)
{
    int p[2];
    struct fd_wait w;

    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    w = (struct fd_wait){.fd = p[0], .events = GN_WAIT_READ, .timeout = 10};
    cancel_after(go(wait_fd_task, &w), 50);
    run();
    ck_assert_int_eq(w.rc, -ECANCELED);
    ck_assert_int_lt(w.took_ms, 5000);
    close_pair(p);
}
END_TEST

/* A zero timeout polls: a descriptor ready now is reported, as poll(2)
 * would, not -ETIMEDOUT. */
START_TEST(wait_fd_zero_timeout_reports_a_ready_fd)
{
    int sv[2];
    struct fd_wait w;

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv),
                     0);
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    /* Outside a coroutine (poll(2)) it is. */
    ck_assert_int_eq(gn_wait_fd(sv[0], GN_WAIT_READ, 0), GN_WAIT_READ);
    w = (struct fd_wait){.fd = sv[0], .events = GN_WAIT_READ, .timeout = 0};
    go(wait_fd_task, &w);
    run();
    ck_assert_int_eq(w.rc, GN_WAIT_READ);
    close_pair(sv);
}
END_TEST

START_TEST(wait_fd_rejects_bad_arguments)
{
    int p[2];

    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    ck_assert_int_eq(gn_wait_fd(-1, GN_WAIT_READ, 1), -EINVAL);
    ck_assert_int_eq(gn_wait_fd(p[0], 0, 1), -EINVAL);
    ck_assert_int_eq(gn_wait_fd(p[0], 4, 1), -EINVAL);
    ck_assert_int_eq(gn_wait_fd(p[0], GN_WAIT_READ | 8, 1), -EINVAL);
    ck_assert_int_eq(gn_wait_fd(p[0], GN_WAIT_READ, NAN), -EINVAL);
    close_pair(p);
}
END_TEST

START_TEST(wait_fd_outside_a_coroutine_polls)
{
    int p[2];
    int64_t start = gn_test_now_ms();

    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    ck_assert_int_eq(gn_wait_fd(p[0], GN_WAIT_READ, 0.05), -ETIMEDOUT);
    ck_assert_int_ge(gn_test_now_ms() - start, 45);
    ck_assert_int_eq(gn_wait_fd(p[1], GN_WAIT_WRITE, 1), GN_WAIT_WRITE);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_eq(gn_wait_fd(p[0], GN_WAIT_READ | GN_WAIT_WRITE, 1),
                     GN_WAIT_READ);
    close_pair(p);
}
END_TEST

/* ---- gn_yield ------------------------------------------------------------ */

/* Two tasks taking turns: each yield lets the other, ready, run first. */
struct turns {
    int a_steps, b_steps;
    int a_rc;
    int a_saw[3]; /* B's steps when A's k-th yield returned */
};

static void turn_a(struct gn_coro *co, void *arg)
{
    struct turns *t = arg;

    for (int k = 0; k < 3; k++) {
        t->a_steps++;
        t->a_rc |= gn_yield();
        t->a_saw[k] = t->b_steps;
    }
}

static void turn_b(struct gn_coro *co, void *arg)
{
    struct turns *t = arg;

    for (int k = 0; k < 3; k++) {
        t->b_steps++;
        ck_assert_int_eq(gn_yield(), 0);
    }
}

START_TEST(yield_lets_a_ready_task_run_first)
{
    struct turns t = {0};

    go(turn_a, &t); /* A runs to its first yield... */
    go(turn_b, &t); /* ...then B to its own, both now ready */
    run();
    ck_assert_int_eq(t.a_rc, 0);
    for (int k = 0; k < 3; k++)
        ck_assert_int_ge(t.a_saw[k], k + 1);
}
END_TEST

struct wake_all {
    gn_event_t *e;
    int woken;
    int seen_after_yield;
};

static void event_waiter(struct gn_coro *co, void *arg)
{
    struct wake_all *w = arg;

    ck_assert_int_eq(gn_event_wait(w->e, 5), 0);
    w->woken++;
}

static void set_then_yield(struct gn_coro *co, void *arg)
{
    struct wake_all *w = arg;

    gn_sleep(0.05); /* in the loop now, with the waiters parked */
    gn_event_set(w->e);
    ck_assert_int_eq(gn_yield(), 0);
    w->seen_after_yield = w->woken;
}

/* Every green thread made ready before the yield runs before it returns,
 * however many there are ("let every other green thread that is ready
 * run, then go on"). */
START_TEST(yield_lets_every_ready_task_run_first)
{
    struct wake_all w = {.e = gn_event_new()};

    ck_assert_ptr_nonnull(w.e);
    for (int i = 0; i < 4; i++)
        go(event_waiter, &w);
    go(set_then_yield, &w);
    run();
    ck_assert_int_eq(w.woken, 4);
    ck_assert_int_eq(w.seen_after_yield, 4);
    gn_event_free(w.e);
}
END_TEST

static void yield_cancelled_task(struct gn_coro *co, void *arg)
{
    gn__green_cancel(co, -ECANCELED);
    *(int *)arg = gn_yield();
}

START_TEST(yield_returns_ecanceled_when_cancelled)
{
    int rc = 1;

    go(yield_cancelled_task, &rc);
    run();
    ck_assert_int_eq(rc, -ECANCELED);
}
END_TEST

START_TEST(yield_outside_a_coroutine_returns_0)
{
    ck_assert_int_eq(gn_yield(), 0);
}
END_TEST

/* ---- gn_read, gn_write and their vectors -----------------------------------
 */

struct rw {
    int fd;
    size_t len;
    double timeout;
    ssize_t rc;
    int64_t took_ms;
    char buf[64];
};

static void read_task(struct gn_coro *co, void *arg)
{
    struct rw *r = arg;
    int64_t start = gn_test_now_ms();

    r->rc =
        gn_read(r->fd, r->buf, r->len ? r->len : sizeof(r->buf), r->timeout);
    r->took_ms = gn_test_now_ms() - start;
}

static void write_hello_later(struct gn_coro *co, void *arg)
{
    struct rw *w = arg;

    ck_assert_int_eq(gn_sleep(0.05), 0);
    w->rc = gn_write(w->fd, "hello", 5, 5);
}

START_TEST(io_read_waits_for_data)
{
    int fds[2];
    struct rw r = {.timeout = 5}, w = {0};

    channel(_i, fds);
    r.fd = fds[0];
    w.fd = fds[1];
    guard(fds[0], fds[1], -1);
    go(read_task, &r); /* first: a blocking fd must not block the loop */
    go(write_hello_later, &w);
    run();
    unguard();
    ck_assert_msg(w.rc == 5, "%s: write %zd", kinds[_i].name, w.rc);
    ck_assert_msg(r.rc == 5, "%s: read %zd", kinds[_i].name, r.rc);
    ck_assert_mem_eq(r.buf, "hello", 5);
    ck_assert_int_ge(r.took_ms, 40);
    close_pair(fds);
}
END_TEST

struct vec {
    int fd;
    ssize_t rc;
    char a[3], b[16];
};

static void readv_task(struct gn_coro *co, void *arg)
{
    struct vec *v = arg;
    struct iovec iov[2] = {{v->a, sizeof(v->a)}, {v->b, sizeof(v->b)}};

    v->rc = gn_readv(v->fd, iov, 2, 5);
}

static void writev_task(struct gn_coro *co, void *arg)
{
    struct vec *v = arg;
    struct iovec iov[3] = {{"ab", 2}, {"", 0}, {"cdef", 4}};

    gn_sleep(0.05);
    v->rc = gn_writev(v->fd, iov, 3, 5);
}

START_TEST(io_readv_and_writev)
{
    int fds[2];
    struct vec r = {0}, w = {0};

    channel(_i, fds);
    r.fd = fds[0];
    w.fd = fds[1];
    guard(fds[0], fds[1], -1);
    go(readv_task, &r);
    go(writev_task, &w);
    run();
    unguard();
    ck_assert_msg(w.rc == 6, "%s: writev %zd", kinds[_i].name, w.rc);
    ck_assert_msg(r.rc == 6, "%s: readv %zd", kinds[_i].name, r.rc);
    ck_assert_mem_eq(r.a, "abc", 3);
    ck_assert_mem_eq(r.b, "def", 3);
    close_pair(fds);
}
END_TEST

static void close_later(struct gn_coro *co, void *arg)
{
    gn_sleep(0.05);
    close(*(int *)arg);
}

START_TEST(io_read_returns_0_at_eof)
{
    int fds[2];
    struct rw r = {.timeout = 5};

    channel(_i, fds);
    r.fd = fds[0];
    guard(fds[0], -1, -1);
    go(read_task, &r);
    go(close_later, &fds[1]);
    run();
    unguard();
    ck_assert_msg(r.rc == 0, "%s: read %zd", kinds[_i].name, r.rc);
    close(fds[0]);
}
END_TEST

START_TEST(io_read_times_out)
{
    int fds[2];
    struct rw r = {.timeout = 0.1};

    channel(_i, fds);
    r.fd = fds[0];
    guard(fds[0], fds[1], -1);
    go(read_task, &r);
    run();
    unguard();
    ck_assert_msg(r.rc == -ETIMEDOUT, "%s: read %zd", kinds[_i].name, r.rc);
    ck_assert_int_ge(r.took_ms, 90);
    close_pair(fds);
}
END_TEST

START_TEST(io_read_is_cancelled)
{
    int fds[2];
    struct rw r = {.timeout = 10};

    channel(_i, fds);
    r.fd = fds[0];
    guard(fds[0], fds[1], -1);
    cancel_after(go(read_task, &r), 50);
    run();
    unguard();
    ck_assert_msg(r.rc == -ECANCELED, "%s: read %zd", kinds[_i].name, r.rc);
    ck_assert_int_lt(r.took_ms, 5000);
    close_pair(fds);
}
END_TEST

/* Bigger than any socket or pipe buffer here: the write has to wait. */
#define BIG (16u << 20)

struct big_write {
    int fd;
    double timeout;
    ssize_t rc;
    int64_t took_ms;
    char *buf;
    size_t len;
};

static void big_write_task(struct gn_coro *co, void *arg)
{
    struct big_write *w = arg;
    int64_t start = gn_test_now_ms();

    w->rc = gn_write(w->fd, w->buf, w->len, w->timeout);
    w->took_ms = gn_test_now_ms() - start;
}

START_TEST(io_write_times_out)
{
    int fds[2];
    struct big_write w = {.timeout = 0.2, .len = BIG};

    channel(_i, fds);
    w.fd = fds[1];
    w.buf = calloc(1, BIG);
    ck_assert_ptr_nonnull(w.buf);
    guard(fds[0], fds[1], -1);
    go(big_write_task, &w);
    run();
    unguard();
    ck_assert_msg(w.rc == -ETIMEDOUT, "%s: write %zd", kinds[_i].name, w.rc);
    ck_assert_int_ge(w.took_ms, 180);
    free(w.buf);
    close_pair(fds);
}
END_TEST

START_TEST(io_write_is_cancelled)
{
    int fds[2];
    struct big_write w = {.timeout = 10, .len = BIG};

    channel(_i, fds);
    w.fd = fds[1];
    w.buf = calloc(1, BIG);
    ck_assert_ptr_nonnull(w.buf);
    guard(fds[0], fds[1], -1);
    cancel_after(go(big_write_task, &w), 50);
    run();
    unguard();
    ck_assert_msg(w.rc == -ECANCELED, "%s: write %zd", kinds[_i].name, w.rc);
    ck_assert_int_lt(w.took_ms, 5000);
    free(w.buf);
    close_pair(fds);
}
END_TEST

static volatile sig_atomic_t sigpipes;

static void count_sigpipe(int sig)
{
    sigpipes++;
}

struct epipe {
    int fd;
    ssize_t write_rc, writev_rc;
};

static void epipe_task(struct gn_coro *co, void *arg)
{
    struct epipe *e = arg;
    struct iovec iov[2] = {{"a", 1}, {"b", 1}};

    e->write_rc = gn_write(e->fd, "x", 1, 1);
    e->writev_rc = gn_writev(e->fd, iov, 2, 1);
}

/* The peer gone: -EPIPE, and no SIGPIPE (counted here rather than left to
 * kill the test, so the failure says what happened). */
START_TEST(io_write_to_a_closed_peer_is_epipe_without_sigpipe)
{
    struct sigaction sa = {.sa_handler = count_sigpipe};
    struct epipe e = {0};
    int fds[2];

    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGPIPE, &sa, NULL), 0);
    sigpipes = 0;
    channel(_i, fds);
    close(fds[0]);
    e.fd = fds[1];
    go(epipe_task, &e);
    run();
    ck_assert_msg(e.write_rc == -EPIPE, "%s: write %zd", kinds[_i].name,
                  e.write_rc);
    ck_assert_msg(e.writev_rc == -EPIPE, "%s: writev %zd", kinds[_i].name,
                  e.writev_rc);
    /* And outside a coroutine. */
    ck_assert_int_eq(gn_write(fds[1], "x", 1, 1), -EPIPE);
    ck_assert_msg(sigpipes == 0, "%s: %d SIGPIPE raised", kinds[_i].name,
                  (int)sigpipes);
    close(fds[1]);
}
END_TEST

/* Several megabytes, more than the channel holds: the writer waits for the
 * reader many times over, and the write completes whole. */
#define LARGE (4u << 20)

struct large {
    int rfd, wfd;
    struct gn_coro *reader;
    ssize_t write_rc;
    size_t got;
    int corrupt;
    ssize_t read_err;
    unsigned char *out;
    struct iovec iov[3];
    int iovcnt;
};

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i % 251);
}

static void large_reader(struct gn_coro *co, void *arg)
{
    struct large *l = arg;
    static unsigned char in[65536];
    ssize_t n;

    while (l->got < LARGE) {
        n = gn_read(l->rfd, in, sizeof(in), 10);
        if (n <= 0) {
            l->read_err = n;
            return;
        }
        for (ssize_t i = 0; i < n; i++)
            if (in[i] != pattern(l->got + (size_t)i))
                l->corrupt = 1;
        l->got += (size_t)n;
    }
}

static void large_writer(struct gn_coro *co, void *arg)
{
    struct large *l = arg;

    if (l->iovcnt > 0)
        l->write_rc = gn_writev(l->wfd, l->iov, l->iovcnt, 10);
    else
        l->write_rc = gn_write(l->wfd, l->out, LARGE, 10);
    if (l->write_rc < 0 && l->reader != NULL)
        gn__green_cancel(l->reader, -ECANCELED); /* don't leave it waiting */
}

static void large_setup(struct large *l, int fds[2])
{
    l->rfd = fds[0];
    l->wfd = fds[1];
    l->out = malloc(LARGE);
    ck_assert_ptr_nonnull(l->out);
    for (size_t i = 0; i < LARGE; i++)
        l->out[i] = pattern(i);
}

static void large_run(struct large *l, const char *name)
{
    guard(l->rfd, l->wfd, -1);
    l->reader = go(large_reader, l);
    go(large_writer, l);
    run();
    unguard();
    ck_assert_msg(l->write_rc == (ssize_t)LARGE, "%s: write %zd", name,
                  l->write_rc);
    ck_assert_msg(l->got == LARGE, "%s: read %zu bytes (last %zd)", name,
                  l->got, l->read_err);
    ck_assert_msg(!l->corrupt, "%s: the bytes read differ", name);
    free(l->out);
}

START_TEST(io_large_write_completes_whole)
{
    int fds[2];
    struct large l = {0};

    channel(_i, fds);
    large_setup(&l, fds);
    large_run(&l, kinds[_i].name);
    close_pair(fds);
}
END_TEST

/* The same through writev, with buffers cut at odd places and an empty
 * one between: the partial writes have to step across them. */
START_TEST(io_large_writev_completes_whole)
{
    int fds[2];
    struct large l = {0};
    size_t cut = (1u << 20) + 3;

    channel(0, fds);
    large_setup(&l, fds);
    l.iov[0] = (struct iovec){l.out, cut};
    l.iov[1] = (struct iovec){l.out + cut, 0};
    l.iov[2] = (struct iovec){l.out + cut, LARGE - cut};
    l.iovcnt = 3;
    large_run(&l, "writev");
    close_pair(fds);
}
END_TEST

/* "Anything poll(2) takes": a regular file is always ready. */
START_TEST(io_read_regular_file)
{
    char path[] = "/tmp/gn-green-api-XXXXXX";
    int fd = mkstemp(path);
    struct rw r = {.timeout = 1};

    ck_assert_int_ge(fd, 0);
    unlink(path);
    ck_assert_int_eq(write(fd, "hello", 5), 5);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    /* Outside a coroutine (poll(2)) it is read. */
    ck_assert_int_eq(gn_read(fd, r.buf, sizeof(r.buf), 1), 5);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    r.fd = fd;
    go(read_task, &r);
    run();
    ck_assert_msg(r.rc == 5, "read of a regular file in a coroutine: %zd",
                  r.rc);
    close(fd);
}
END_TEST

START_TEST(io_outside_a_coroutine)
{
    int fds[2];
    char buf[8];
    struct iovec iov[2] = {{"he", 2}, {"llo", 3}};
    int64_t start;

    channel(_i, fds);
    ck_assert_int_eq(gn_writev(fds[1], iov, 2, 1), 5);
    ck_assert_int_eq(gn_read(fds[0], buf, sizeof(buf), 1), 5);
    ck_assert_mem_eq(buf, "hello", 5);
    start = gn_test_now_ms();
    ck_assert_int_eq(gn_read(fds[0], buf, sizeof(buf), 0.05), -ETIMEDOUT);
    ck_assert_int_ge(gn_test_now_ms() - start, 45);
    close(fds[1]);
    ck_assert_int_eq(gn_read(fds[0], buf, sizeof(buf), 1), 0);
    close(fds[0]);
}
END_TEST

START_TEST(io_rejects_bad_arguments)
{
    char buf[4];
    struct iovec iov = {buf, sizeof(buf)};
    int p[2];

    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    ck_assert_int_eq(gn_read(-1, buf, sizeof(buf), 1), -EINVAL);
    ck_assert_int_eq(gn_write(-1, buf, sizeof(buf), 1), -EINVAL);
    ck_assert_int_eq(gn_read(p[0], buf, sizeof(buf), NAN), -EINVAL);
    ck_assert_int_eq(gn_write(p[1], buf, sizeof(buf), NAN), -EINVAL);
    ck_assert_int_eq(gn_readv(p[0], &iov, -1, 1), -EINVAL);
    ck_assert_int_eq(gn_writev(p[1], &iov, -1, 1), -EINVAL);
    close_pair(p);
}
END_TEST

/* ---- gn_connect_tcp, gn_connect_unix, gn_accept ----------------------------
 */

struct conn {
    const char *host;
    const char *path;
    int port;
    double timeout;
    int rc;
    int64_t took_ms;
};

static void connect_task(struct gn_coro *co, void *arg)
{
    struct conn *c = arg;
    int64_t start = gn_test_now_ms();

    c->rc = c->path ? gn_connect_unix(c->path, c->timeout)
                    : gn_connect_tcp(c->host, c->port, c->timeout);
    c->took_ms = gn_test_now_ms() - start;
}

/* C connected to the listener LFD: check the socket and pass a byte. */
static void check_connected(int lfd, int fd, int tcp)
{
    int afd, one = 0;
    socklen_t len = sizeof(one);
    char c;

    ck_assert_int_ge(fd, 0);
    ck_assert(is_nonblocking(fd));
    ck_assert(is_cloexec(fd));
    if (tcp) {
        ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, &len),
                         0);
        ck_assert_int_ne(one, 0);
    }
    afd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(afd, 0);
    ck_assert_int_eq(gn_write(fd, "z", 1, 1), 1);
    ck_assert_int_eq(gn_read(afd, &c, 1, 1), 1);
    ck_assert_int_eq(c, 'z');
    close(afd);
    close(fd);
}

START_TEST(connect_tcp_to_an_address)
{
    int port, lfd = tcp_listener(&port, 0, 8);
    struct conn c = {.host = "127.0.0.1", .port = port, .timeout = 5};

    go(connect_task, &c);
    run();
    check_connected(lfd, c.rc, 1);
    close(lfd);
}
END_TEST

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

START_TEST(connect_tcp_refused)
{
    struct conn c = {.host = "127.0.0.1", .port = closed_port(), .timeout = 5};

    go(connect_task, &c);
    run();
    ck_assert_int_eq(c.rc, -ECONNREFUSED);
    ck_assert_int_eq(gn_connect_tcp("127.0.0.1", c.port, 5), -ECONNREFUSED);
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

/* A listener with a backlog of 0 whose queue is full: the kernel drops
 * further SYNs, so a connect stays in progress. FILL gets the sockets that
 * filled it. */
static int full_tcp_listener(int *port, int fill[3])
{
    int lfd = tcp_listener(port, 1, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)*port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    for (int i = 0; i < 3; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(fill[i], 0);
        connect(fill[i], (struct sockaddr *)&sin, sizeof(sin));
    }
    usleep(50 * 1000); /* let the handshakes that can complete do so */
    return lfd;
}

START_TEST(connect_tcp_times_out)
{
    int port, fill[3], lfd = full_tcp_listener(&port, fill);
    struct conn c = {.host = "127.0.0.1", .port = port, .timeout = 0.2};
    int64_t start;

    go(connect_task, &c);
    run();
    ck_assert_int_eq(c.rc, -ETIMEDOUT);
    ck_assert_int_ge(c.took_ms, 180);
    ck_assert_int_lt(c.took_ms, 5000);
    start = gn_test_now_ms(); /* and blocking, outside a coroutine */
    ck_assert_int_eq(gn_connect_tcp("127.0.0.1", port, 0.2), -ETIMEDOUT);
    ck_assert_int_ge(gn_test_now_ms() - start, 180);
    for (int i = 0; i < 3; i++)
        close(fill[i]);
    close(lfd);
}
END_TEST

START_TEST(connect_tcp_is_cancelled)
{
    int port, fill[3], lfd = full_tcp_listener(&port, fill);
    struct conn c = {.host = "127.0.0.1", .port = port, .timeout = 10};

    cancel_after(go(connect_task, &c), 50);
    run();
    ck_assert_int_eq(c.rc, -ECANCELED);
    ck_assert_int_lt(c.took_ms, 5000);
    for (int i = 0; i < 3; i++)
        close(fill[i]);
    close(lfd);
}
END_TEST

START_TEST(connect_tcp_rejects_bad_arguments)
{
    ck_assert_int_eq(gn_connect_tcp(NULL, 80, 1), -EINVAL);
    ck_assert_int_eq(gn_connect_tcp("127.0.0.1", 0, 1), -EINVAL);
    ck_assert_int_eq(gn_connect_tcp("127.0.0.1", 65536, 1), -EINVAL);
    ck_assert_int_eq(gn_connect_tcp("127.0.0.1", 80, NAN), -EINVAL);
}
END_TEST

/* A unix listener at DIR/s (DIR a fresh directory under /tmp). */
static int unix_listener(char dir[], char path[], size_t size, int backlog)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, size, "%s/s", dir);
    ck_assert_int_lt(strlen(path), sizeof(sun.sun_path));
    strcpy(sun.sun_path, path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    ck_assert_int_eq(listen(fd, backlog), 0);
    return fd;
}

static void unix_cleanup(int lfd, const char *dir, const char *path)
{
    close(lfd);
    unlink(path);
    rmdir(dir);
}

START_TEST(connect_unix_ok_and_enoent)
{
    char dir[] = "/tmp/gn-green-api-XXXXXX", path[64];
    int lfd = unix_listener(dir, path, sizeof(path), 8);
    struct conn c = {.path = path, .timeout = 5};
    struct conn missing = {.path = "/nonexistent/greenicorn.sock",
                           .timeout = 5};

    go(connect_task, &c);
    go(connect_task, &missing);
    run();
    check_connected(lfd, c.rc, 0);
    ck_assert_int_eq(missing.rc, -ENOENT);
    ck_assert_int_eq(gn_connect_unix(missing.path, 1), -ENOENT);
    check_connected(lfd, gn_connect_unix(path, 5), 0);
    unix_cleanup(lfd, dir, path);
}
END_TEST

/* A unix listener with a full backlog: a non-blocking connect fails with
 * EAGAIN (not EINPROGRESS) and the socket stays unconnected; a green
 * connect has to wait for room until its timeout, not hand back that
 * unconnected socket. */
START_TEST(connect_unix_to_a_full_backlog_waits)
{
    char dir[] = "/tmp/gn-green-api-XXXXXX", path[64];
    int lfd = unix_listener(dir, path, sizeof(path), 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    struct conn c = {.timeout = 0.2};
    int fill[2];

    strcpy(sun.sun_path, path);
    for (int i = 0; i < 2; i++) {
        fill[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[i], (struct sockaddr *)&sun, sizeof(sun));
    }
    c.path = path;
    go(connect_task, &c);
    run();
    if (c.rc >= 0) {
        int connected = getpeername(c.rc, (struct sockaddr *)&peer, &plen) == 0;

        close(c.rc);
        ck_assert_msg(connected, "gn_connect_unix returned a socket that "
                                 "is not connected");
    }
    ck_assert_msg(c.rc == -ETIMEDOUT || c.rc == -EAGAIN,
                  "gn_connect_unix to a full backlog: %d", c.rc);
    for (int i = 0; i < 2; i++)
        close(fill[i]);
    unix_cleanup(lfd, dir, path);
}
END_TEST

struct acceptor {
    int lfd;
    double timeout;
    int rc;
    int64_t took_ms;
    struct sockaddr_in peer;
    socklen_t peer_len;
    char got;
};

static void accept_task(struct gn_coro *co, void *arg)
{
    struct acceptor *a = arg;
    int64_t start = gn_test_now_ms();

    a->peer_len = sizeof(a->peer);
    a->rc = gn_accept(a->lfd, (struct sockaddr *)&a->peer, &a->peer_len,
                      a->timeout);
    a->took_ms = gn_test_now_ms() - start;
    if (a->rc >= 0)
        ck_assert_int_eq(gn_read(a->rc, &a->got, 1, 5), 1);
}

static void connect_and_send(struct gn_coro *co, void *arg)
{
    struct conn *c = arg;

    gn_sleep(0.05);
    c->rc = gn_connect_tcp(c->host, c->port, 5);
    if (c->rc >= 0)
        ck_assert_int_eq(gn_write(c->rc, "q", 1, 5), 1);
}

/* _i: 0 a non-blocking listener, 1 a blocking one (an app's socket may be
 * either, and neither may block the loop). */
START_TEST(accept_a_green_connect)
{
    int port, lfd = tcp_listener(&port, _i == 0, 8);
    struct acceptor a = {.lfd = lfd, .timeout = 5};
    struct conn c = {.host = "127.0.0.1", .port = port};

    guard(lfd, -1, -1);
    go(accept_task, &a); /* first: it waits for the connect */
    go(connect_and_send, &c);
    run();
    unguard();
    ck_assert_int_ge(c.rc, 0);
    ck_assert_int_ge(a.rc, 0);
    ck_assert(is_nonblocking(a.rc));
    ck_assert(is_cloexec(a.rc));
    ck_assert_int_eq(a.peer_len, sizeof(struct sockaddr_in));
    ck_assert_int_eq(a.peer.sin_family, AF_INET);
    ck_assert_int_eq(a.got, 'q');
    ck_assert_int_ge(a.took_ms, 40);
    close(a.rc);
    close(c.rc);
    close(lfd);
}
END_TEST

START_TEST(accept_times_out)
{
    int port, lfd = tcp_listener(&port, _i == 0, 8);
    struct acceptor a = {.lfd = lfd, .timeout = 0.1};

    guard(lfd, -1, -1);
    go(accept_task, &a);
    run();
    unguard();
    ck_assert_int_eq(a.rc, -ETIMEDOUT);
    ck_assert_int_ge(a.took_ms, 90);
    close(lfd);
}
END_TEST

START_TEST(accept_is_cancelled)
{
    int port, lfd = tcp_listener(&port, 1, 8);
    struct acceptor a = {.lfd = lfd, .timeout = 10};

    cancel_after(go(accept_task, &a), 50);
    run();
    ck_assert_int_eq(a.rc, -ECANCELED);
    ck_assert_int_lt(a.took_ms, 5000);
    close(lfd);
}
END_TEST

/* ---- green threads ----------------------------------------------------------
 */

struct sleeper {
    double seconds;
    int ret;      /* what the thread returns */
    int rc;       /* what its gn_sleep returned */
    int returned; /* it got to the end */
};

static int sleeper_fn(void *arg)
{
    struct sleeper *s = arg;

    s->rc = gn_sleep(s->seconds);
    s->returned = 1;
    return s->ret;
}

static int set_flag_fn(void *arg)
{
    *(int *)arg = 1;
    return 0;
}

struct spawn_case {
    int use_yield;
    int ran_at_spawn, ran_after_wait;
};

static void spawn_then_wait(struct gn_coro *co, void *arg)
{
    struct spawn_case *s = arg;
    int ran = 0;
    gn_thread_t *t = gn_spawn(set_flag_fn, &ran);

    ck_assert_ptr_nonnull(t);
    s->ran_at_spawn = ran;
    if (s->use_yield)
        ck_assert_int_eq(gn_yield(), 0);
    else
        ck_assert_int_eq(gn_sleep(0.02), 0);
    s->ran_after_wait = ran;
    ck_assert_int_eq(gn_join(t, 5, NULL), 0);
}

/* _i: 0 the spawner sleeps, 1 it yields. */
START_TEST(spawn_runs_when_the_spawner_waits)
{
    struct spawn_case s = {.use_yield = _i};

    go(spawn_then_wait, &s);
    run();
    ck_assert_int_eq(s.ran_at_spawn, 0);
    ck_assert_int_eq(s.ran_after_wait, 1);
    ck_assert_uint_eq(gn__threads_live(), 0);
}
END_TEST

struct join_case {
    int rc, result;
    int rc2, result2;
    size_t live_before, live_after;
};

static void join_result_task(struct gn_coro *co, void *arg)
{
    struct join_case *j = arg;
    struct sleeper s = {.seconds = 0.02, .ret = 42};
    struct sleeper quick = {.seconds = 0, .ret = 1};
    gn_thread_t *t = gn_spawn(sleeper_fn, &s);
    gn_thread_t *u = gn_spawn(sleeper_fn, &quick);

    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(u);
    j->live_before = gn__threads_live();
    j->rc = gn_join(t, 5, &j->result);
    j->rc2 = gn_join(u, 5, NULL); /* RESULT may be NULL */
    j->live_after = gn__threads_live();
}

/* Joined threads are freed by the join: LeakSanitizer checks it. */
START_TEST(join_returns_the_result_and_frees)
{
    struct join_case j = {0};

    go(join_result_task, &j);
    run();
    ck_assert_uint_eq(j.live_before, 2);
    ck_assert_int_eq(j.rc, 0);
    ck_assert_int_eq(j.result, 42);
    ck_assert_int_eq(j.rc2, 0);
    ck_assert_uint_eq(j.live_after, 0);
}
END_TEST

static void join_timeout_task(struct gn_coro *co, void *arg)
{
    struct join_case *j = arg;
    struct sleeper s = {.seconds = 0.3, .ret = 7};
    gn_thread_t *t = gn_spawn(sleeper_fn, &s);

    ck_assert_ptr_nonnull(t);
    j->rc = gn_join(t, 0.05, &j->result);
    j->live_before = gn__threads_live(); /* still running */
    j->rc2 = gn_join(t, 5, &j->result2);
}

START_TEST(join_times_out_then_joins_again)
{
    struct join_case j = {.result = -1};

    go(join_timeout_task, &j);
    run();
    ck_assert_int_eq(j.rc, -ETIMEDOUT);
    ck_assert_int_eq(j.result, -1); /* untouched */
    ck_assert_uint_eq(j.live_before, 1);
    ck_assert_int_eq(j.rc2, 0);
    ck_assert_int_eq(j.result2, 7);
}
END_TEST

static void join_cancel_task(struct gn_coro *co, void *arg)
{
    struct join_case *j = arg;
    struct sleeper s = {.seconds = 0.2, .ret = 9};
    gn_thread_t *t = gn_spawn(sleeper_fn, &s);

    ck_assert_ptr_nonnull(t);
    j->rc = gn_join(t, 5, NULL);
    /* Cancelled stays cancelled: the next join returns at once... */
    j->rc2 = gn_join(t, 5, NULL);
    /* ...until cleared; T itself was not cancelled and is still there. */
    gn__coro_set_cancelled(co, 0);
    j->result2 = -1;
    ck_assert_int_eq(gn_join(t, 5, &j->result2), 0);
    ck_assert_int_eq(s.rc, 0);
}

START_TEST(join_is_cancelled)
{
    struct join_case j = {0};

    cancel_after(go(join_cancel_task, &j), 50);
    run();
    ck_assert_int_eq(j.rc, -ECANCELED);
    ck_assert_int_eq(j.rc2, -ECANCELED);
    ck_assert_int_eq(j.result2, 9);
}
END_TEST

START_TEST(join_outside_a_coroutine_would_block)
{
    struct sleeper s = {.seconds = 0.02, .ret = 5};
    gn_thread_t *t = gn_spawn(sleeper_fn, &s); /* the worker's thread */
    int result = 0;

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(gn_join(t, 1, &result), -EWOULDBLOCK);
    ck_assert_int_eq(gn_join(t, 0, &result), -EWOULDBLOCK);
    drain();
    ck_assert_int_eq(s.returned, 1);
    /* Finished: joining it needs no wait, so it works outside too. */
    ck_assert_int_eq(gn_join(t, 1, &result), 0);
    ck_assert_int_eq(result, 5);
}
END_TEST

struct self_join {
    gn_thread_t *self;
    int rc;
};

static int self_join_fn(void *arg)
{
    struct self_join *sj = arg;

    sj->rc = gn_join(sj->self, 1, NULL);
    return 0;
}

static void self_join_task(struct gn_coro *co, void *arg)
{
    struct self_join *sj = arg;

    sj->self = gn_spawn(self_join_fn, sj);
    ck_assert_ptr_nonnull(sj->self);
    ck_assert_int_eq(gn_join(sj->self, 5, NULL), 0);
}

START_TEST(join_of_itself_is_edeadlk)
{
    struct self_join sj = {.rc = 1};

    go(self_join_task, &sj);
    run();
    ck_assert_int_eq(sj.rc, -EDEADLK);
}
END_TEST

struct busy {
    gn_thread_t *t;
    struct sleeper s;
    int first_rc, first_result, second_rc;
};

static void first_joiner(struct gn_coro *co, void *arg)
{
    struct busy *b = arg;

    b->t = gn_spawn(sleeper_fn, &b->s);
    ck_assert_ptr_nonnull(b->t);
    b->first_rc = gn_join(b->t, 5, &b->first_result);
}

static void second_joiner(struct gn_coro *co, void *arg)
{
    struct busy *b = arg;

    gn_sleep(0.05); /* the first joiner waits by now */
    b->second_rc = gn_join(b->t, 1, NULL);
}

START_TEST(join_by_two_threads_is_ebusy)
{
    struct busy b = {.s = {.seconds = 0.2, .ret = 3}};

    go(first_joiner, &b);
    go(second_joiner, &b);
    run();
    ck_assert_int_eq(b.second_rc, -EBUSY);
    ck_assert_int_eq(b.first_rc, 0);
    ck_assert_int_eq(b.first_result, 3);
}
END_TEST

struct kill_case {
    int kill_rc, join_rc, result;
    int64_t took_ms;
};

static void kill_sleeper_task(struct gn_coro *co, void *arg)
{
    struct kill_case *k = arg;
    struct sleeper s = {.seconds = 10};
    gn_thread_t *t = gn_spawn(sleeper_fn, &s);
    int64_t start = gn_test_now_ms();

    ck_assert_ptr_nonnull(t);
    gn_sleep(0.02); /* T sleeps now */
    k->kill_rc = gn_kill(t);
    k->join_rc = gn_join(t, 5, &k->result);
    k->took_ms = gn_test_now_ms() - start;
    ck_assert_int_eq(s.rc, -ECANCELED);
}

START_TEST(kill_cancels_a_sleeping_thread)
{
    struct kill_case k = {0};

    go(kill_sleeper_task, &k);
    run();
    ck_assert_int_eq(k.kill_rc, 0);
    ck_assert_int_eq(k.join_rc, 0);
    ck_assert_int_eq(k.result, 0);
    ck_assert_int_lt(k.took_ms, 5000);
}
END_TEST

static void kill_before_start_task(struct gn_coro *co, void *arg)
{
    struct kill_case *k = arg;
    struct sleeper s = {.seconds = 10, .ret = 4};
    gn_thread_t *t = gn_spawn(sleeper_fn, &s);

    ck_assert_ptr_nonnull(t);
    k->kill_rc = gn_kill(t); /* before it ever ran */
    k->join_rc = gn_join(t, 5, &k->result);
    ck_assert_int_eq(s.rc, -ECANCELED);
}

START_TEST(kill_before_the_thread_starts)
{
    struct kill_case k = {0};

    go(kill_before_start_task, &k);
    run();
    ck_assert_int_eq(k.kill_rc, 0);
    ck_assert_int_eq(k.join_rc, 0);
    ck_assert_int_eq(k.result, 4); /* its function still ran, to the end */
}
END_TEST

static void kill_finished_task(struct gn_coro *co, void *arg)
{
    struct kill_case *k = arg;
    int flag = 0;
    gn_thread_t *t = gn_spawn(set_flag_fn, &flag);

    ck_assert_ptr_nonnull(t);
    gn_sleep(0.02);
    ck_assert_int_eq(flag, 1);
    k->kill_rc = gn_kill(t);
    k->join_rc = gn_join(t, 5, NULL); /* still to be joined */
}

START_TEST(kill_of_a_finished_thread_is_esrch)
{
    struct kill_case k = {0};

    go(kill_finished_task, &k);
    run();
    ck_assert_int_eq(k.kill_rc, -ESRCH);
    ck_assert_int_eq(k.join_rc, 0);
}
END_TEST

struct reap_case {
    struct sleeper a, b;
    int quick_flag;
    int cancel_self;
    size_t live_before, live_after;
    int64_t took_ms;
};

/* A "request": spawns two long sleepers and a quick thread, never joins
 * any, then ends the way a request ends. */
static void reap_task(struct gn_coro *co, void *arg)
{
    struct reap_case *r = arg;
    int64_t start;

    ck_assert_ptr_nonnull(gn_spawn(sleeper_fn, &r->a));
    ck_assert_ptr_nonnull(gn_spawn(sleeper_fn, &r->b));
    ck_assert_ptr_nonnull(gn_spawn(set_flag_fn, &r->quick_flag));
    gn_sleep(0.02); /* they all ran; the quick one finished, unjoined */
    r->live_before = gn__threads_live();
    if (r->cancel_self) /* a request that timed out: reaped all the same */
        gn__green_cancel(co, -ECANCELED);
    start = gn_test_now_ms();
    gn__threads_reap(co);
    r->took_ms = gn_test_now_ms() - start;
    r->live_after = gn__threads_live();
}

/* _i: 1 when the request itself was cancelled first. */
START_TEST(reap_kills_waits_for_and_frees_the_children)
{
    struct reap_case r = {
        .a = {.seconds = 10}, .b = {.seconds = 10}, .cancel_self = _i};

    go(reap_task, &r);
    run();
    ck_assert_uint_eq(r.live_before, 2);
    ck_assert_int_eq(r.quick_flag, 1);
    /* Both sleepers were cancelled and had returned when reap did. */
    ck_assert_int_eq(r.a.rc, -ECANCELED);
    ck_assert_int_eq(r.b.rc, -ECANCELED);
    ck_assert_int_eq(r.a.returned, 1);
    ck_assert_int_eq(r.b.returned, 1);
    ck_assert_uint_eq(r.live_after, 0);
    ck_assert_int_lt(r.took_ms, 5000);
    /* Every record is freed: LeakSanitizer would say otherwise. */
}
END_TEST

struct nested {
    struct sleeper child;
    int parent_rc, parent_result;
    size_t live_after;
};

static int parent_fn(void *arg)
{
    struct nested *n = arg;

    ck_assert_ptr_nonnull(gn_spawn(sleeper_fn, &n->child));
    gn_sleep(0.02); /* the child sleeps now */
    return 3;       /* without joining it */
}

static void nested_task(struct gn_coro *co, void *arg)
{
    struct nested *n = arg;
    gn_thread_t *p = gn_spawn(parent_fn, n);

    ck_assert_ptr_nonnull(p);
    n->parent_rc = gn_join(p, 5, &n->parent_result);
    n->live_after = gn__threads_live();
}

START_TEST(nested_spawn_is_reaped_with_its_parent)
{
    struct nested n = {.child = {.seconds = 10}};

    go(nested_task, &n);
    run();
    ck_assert_int_eq(n.parent_rc, 0);
    ck_assert_int_eq(n.parent_result, 3);
    /* The parent's end reaped its child before the join returned. */
    ck_assert_int_eq(n.child.returned, 1);
    ck_assert_int_eq(n.child.rc, -ECANCELED);
    ck_assert_uint_eq(n.live_after, 0);
}
END_TEST

START_TEST(worker_threads_are_cancelled_when_the_worker_stops)
{
    struct sleeper s = {.seconds = 10, .ret = 1};
    gn_thread_t *t = gn_spawn(sleeper_fn, &s);
    int64_t start = gn_test_now_ms();
    int result = 0;

    ck_assert_ptr_nonnull(t);
    gn_sleep(0.02); /* outside: blocks; T has not started */
    gn__threads_stop();
    drain();
    ck_assert_int_eq(s.rc, -ECANCELED);
    ck_assert_int_lt(gn_test_now_ms() - start, 5000);
    ck_assert_int_eq(gn_join(t, 1, &result), 0);
    ck_assert_int_eq(result, 1);
}
END_TEST

/* ---- events
 * ------------------------------------------------------------------ */

struct ev_waiter {
    gn_event_t *e;
    double timeout;
    int rc;
    int64_t took_ms;
};

static void ev_wait_task(struct gn_coro *co, void *arg)
{
    struct ev_waiter *w = arg;
    int64_t start = gn_test_now_ms();

    w->rc = gn_event_wait(w->e, w->timeout);
    w->took_ms = gn_test_now_ms() - start;
}

static void ev_set_later(struct gn_coro *co, void *arg)
{
    gn_sleep(0.05);
    gn_event_set(arg);
}

START_TEST(event_set_wakes_every_waiter)
{
    gn_event_t *e = gn_event_new();
    struct ev_waiter w[3];

    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(gn_event_is_set(e), 0);
    for (int i = 0; i < 3; i++) {
        w[i] = (struct ev_waiter){.e = e, .timeout = 5, .rc = 1};
        go(ev_wait_task, &w[i]);
    }
    go(ev_set_later, e);
    run();
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(w[i].rc, 0);
        ck_assert_int_ge(w[i].took_ms, 40);
        ck_assert_int_lt(w[i].took_ms, 5000);
    }
    ck_assert_int_ne(gn_event_is_set(e), 0);
    gn_event_free(e);
}
END_TEST

START_TEST(event_wait_after_set_returns_at_once)
{
    gn_event_t *e = gn_event_new();
    struct ev_waiter w = {.e = e, .timeout = 5, .rc = 1};

    ck_assert_ptr_nonnull(e);
    gn_event_set(e);
    go(ev_wait_task, &w);
    /* Returned without waiting: the task is over before the loop runs. */
    ck_assert_int_eq(running, 0);
    ck_assert_int_eq(w.rc, 0);
    ck_assert_int_eq(gn_event_wait(e, 0), 0); /* outside too */
    gn_event_free(e);
}
END_TEST

START_TEST(event_clear_makes_waits_wait_again)
{
    gn_event_t *e = gn_event_new();
    struct ev_waiter w = {.e = e, .timeout = 0.1, .rc = 1};

    ck_assert_ptr_nonnull(e);
    gn_event_set(e);
    gn_event_clear(e);
    ck_assert_int_eq(gn_event_is_set(e), 0);
    go(ev_wait_task, &w);
    run();
    ck_assert_int_eq(w.rc, -ETIMEDOUT);
    ck_assert_int_ge(w.took_ms, 90);
    gn_event_free(e);
}
END_TEST

START_TEST(event_wait_is_cancelled)
{
    gn_event_t *e = gn_event_new();
    struct ev_waiter w = {.e = e, .timeout = 10, .rc = 1};
    struct ev_waiter other = {.e = e, .timeout = 5, .rc = 1};

    ck_assert_ptr_nonnull(e);
    cancel_after(go(ev_wait_task, &w), 50);
    go(ev_wait_task, &other);
    go(ev_set_later, e); /* ...at 50 ms as well: either order is fine */
    run();
    ck_assert_msg(w.rc == -ECANCELED || w.rc == 0, "cancelled wait: %d", w.rc);
    ck_assert_int_lt(w.took_ms, 5000);
    ck_assert_int_eq(other.rc, 0); /* the others still wake */
    gn_event_free(e);
}
END_TEST

START_TEST(event_wait_cancelled_before_set)
{
    gn_event_t *e = gn_event_new();
    struct ev_waiter w = {.e = e, .timeout = 10, .rc = 1};

    ck_assert_ptr_nonnull(e);
    cancel_after(go(ev_wait_task, &w), 50);
    run();
    ck_assert_int_eq(w.rc, -ECANCELED);
    ck_assert_int_lt(w.took_ms, 5000);
    ck_assert_int_eq(gn_event_is_set(e), 0);
    gn_event_free(e);
}
END_TEST

/* ---- semaphores
 * --------------------------------------------------------------- */

struct sem_case {
    gn_sem_t *s;
    int rc[4];
    int64_t took_ms;
};

static void sem_count_task(struct gn_coro *co, void *arg)
{
    struct sem_case *c = arg;
    int64_t start = gn_test_now_ms();

    c->rc[0] = gn_sem_acquire(c->s, 5);
    c->rc[1] = gn_sem_acquire(c->s, 5);
    c->took_ms = gn_test_now_ms() - start;
    c->rc[2] = gn_sem_acquire(c->s, 0.1); /* none left */
    gn_sem_release(c->s);
    c->rc[3] = gn_sem_acquire(c->s, 5);
}

START_TEST(sem_counts_units)
{
    struct sem_case c = {.s = gn_sem_new(2)};

    ck_assert_ptr_nonnull(c.s);
    go(sem_count_task, &c);
    run();
    ck_assert_int_eq(c.rc[0], 0);
    ck_assert_int_eq(c.rc[1], 0);
    ck_assert_int_lt(c.took_ms, 1000);
    ck_assert_int_eq(c.rc[2], -ETIMEDOUT);
    ck_assert_int_eq(c.rc[3], 0);
    gn_sem_free(c.s);
}
END_TEST

struct fifo {
    gn_sem_t *s;
    int next;     /* acquirers in line so far */
    int order[3]; /* acquirer index, by the release that served it */
    int served;
    int rc[3];
    int stolen_rc;
};

struct acquirer {
    struct fifo *f;
    int index;
};

static void acquire_in_turn(struct gn_coro *co, void *arg)
{
    struct acquirer *a = arg;

    gn_sleep(0.02 * (a->index + 1)); /* line up in index order */
    a->f->next++;
    a->f->rc[a->index] = gn_sem_acquire(a->f->s, 5);
    a->f->order[a->f->served++] = a->index;
}

static void release_one_by_one(struct gn_coro *co, void *arg)
{
    struct fifo *f = arg;

    while (f->next < 3)
        gn_sleep(0.01);
    /* The unit released goes to the first in line, not to a newcomer. */
    gn_sem_release(f->s);
    f->stolen_rc = gn_sem_acquire(f->s, 0.05);
    for (int i = 1; i < 3; i++) {
        gn_sleep(0.02); /* the one served has run */
        gn_sem_release(f->s);
    }
}

START_TEST(sem_hands_units_over_first_come_first_served)
{
    struct fifo f = {.s = gn_sem_new(0)};
    struct acquirer a[3];

    ck_assert_ptr_nonnull(f.s);
    for (int i = 0; i < 3; i++) {
        a[i] = (struct acquirer){&f, i};
        go(acquire_in_turn, &a[i]);
    }
    go(release_one_by_one, &f);
    run();
    ck_assert_int_eq(f.stolen_rc, -ETIMEDOUT);
    ck_assert_int_eq(f.served, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(f.rc[i], 0);
        ck_assert_int_eq(f.order[i], i);
    }
    gn_sem_free(f.s);
}
END_TEST

struct sem_waiter {
    gn_sem_t *s;
    double timeout;
    int rc;
    int64_t took_ms;
};

static void sem_wait_task(struct gn_coro *co, void *arg)
{
    struct sem_waiter *w = arg;
    int64_t start = gn_test_now_ms();

    w->rc = gn_sem_acquire(w->s, w->timeout);
    w->took_ms = gn_test_now_ms() - start;
}

START_TEST(sem_acquire_times_out)
{
    struct sem_waiter w = {.s = gn_sem_new(0), .timeout = 0.1, .rc = 1};

    ck_assert_ptr_nonnull(w.s);
    go(sem_wait_task, &w);
    run();
    ck_assert_int_eq(w.rc, -ETIMEDOUT);
    ck_assert_int_ge(w.took_ms, 90);
    /* The timed-out waiter left the line: a release goes to the count. */
    gn_sem_release(w.s);
    ck_assert_int_eq(gn_sem_acquire(w.s, 0), 0);
    gn_sem_free(w.s);
}
END_TEST

START_TEST(sem_acquire_is_cancelled)
{
    struct sem_waiter w = {.s = gn_sem_new(0), .timeout = 10, .rc = 1};

    ck_assert_ptr_nonnull(w.s);
    cancel_after(go(sem_wait_task, &w), 50);
    run();
    ck_assert_int_eq(w.rc, -ECANCELED);
    ck_assert_int_lt(w.took_ms, 5000);
    gn_sem_release(w.s);
    ck_assert_int_eq(gn_sem_acquire(w.s, 0), 0);
    gn_sem_free(w.s);
}
END_TEST

/* A cancellation and a release in the same turn of the loop: the
 * cancelled waiter has not run yet (it is still in the line) when the
 * unit comes. */
struct cancel_release {
    struct gn_coro *co;
    gn_sem_t *s;
};

static void cancel_then_release(int fd, short what, void *arg)
{
    struct cancel_release *cr = arg;

    gn__green_cancel(cr->co, -ECANCELED);
    gn_sem_release(cr->s);
}

START_TEST(sem_cancelled_waiter_passes_the_unit_on)
{
    gn_sem_t *s = gn_sem_new(0);
    struct sem_waiter first = {.s = s, .timeout = 10, .rc = 1};
    struct sem_waiter second = {.s = s, .timeout = 2, .rc = 1};
    struct cancel_release cr = {.s = s};

    ck_assert_ptr_nonnull(s);
    cr.co = go(sem_wait_task, &first);
    go(sem_wait_task, &second);
    later(50, cancel_then_release, &cr);
    run();
    ck_assert_int_eq(first.rc, -ECANCELED);
    ck_assert_msg(second.rc == 0,
                  "the unit released after the first waiter's cancel "
                  "did not reach the second waiter: %d",
                  second.rc);
    gn_sem_free(s);
}
END_TEST

START_TEST(sem_cancelled_waiter_gives_the_unit_to_the_count)
{
    gn_sem_t *s = gn_sem_new(0);
    struct sem_waiter w = {.s = s, .timeout = 10, .rc = 1};
    struct cancel_release cr = {.s = s};

    ck_assert_ptr_nonnull(s);
    cr.co = go(sem_wait_task, &w);
    later(50, cancel_then_release, &cr);
    run();
    ck_assert_int_eq(w.rc, -ECANCELED);
    ck_assert_msg(gn_sem_acquire(s, 0) == 0,
                  "the unit released with a cancelled waiter in line "
                  "was lost");
    gn_sem_free(s);
}
END_TEST

/* ---- queues
 * ------------------------------------------------------------------- */

static int item[8]; /* items are pointers to these */

START_TEST(queue_of_capacity_0_is_null)
{
    ck_assert_ptr_null(gn_queue_new(0));
}
END_TEST

START_TEST(queue_is_first_in_first_out)
{
    gn_queue_t *q = gn_queue_new(3);
    void *got;

    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq(gn_queue_len(q), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(gn_queue_put(q, &item[i], 0), 0);
        ck_assert_uint_eq(gn_queue_len(q), (size_t)i + 1);
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(gn_queue_get(q, &got, 0), 0);
        ck_assert_ptr_eq(got, &item[i]);
    }
    ck_assert_uint_eq(gn_queue_len(q), 0);
    /* Around the ring's end. */
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(gn_queue_put(q, &item[round], 0), 0);
        ck_assert_int_eq(gn_queue_put(q, &item[round + 1], 0), 0);
        ck_assert_int_eq(gn_queue_get(q, &got, 0), 0);
        ck_assert_ptr_eq(got, &item[round]);
        ck_assert_int_eq(gn_queue_get(q, &got, 0), 0);
        ck_assert_ptr_eq(got, &item[round + 1]);
    }
    gn_queue_free(q);
}
END_TEST

struct pc {
    gn_queue_t *q;
    int put_rc[3];
    int64_t second_put_ms; /* since the start */
    int get_rc[3];
    void *got[3];
    int64_t start;
};

static void producer(struct gn_coro *co, void *arg)
{
    struct pc *p = arg;

    p->put_rc[0] = gn_queue_put(p->q, &item[0], 5); /* room: at once */
    p->put_rc[1] = gn_queue_put(p->q, &item[1], 5); /* full: waits */
    p->second_put_ms = gn_test_now_ms() - p->start;
    p->put_rc[2] = gn_queue_put(p->q, &item[2], 5);
}

static void late_consumer(struct gn_coro *co, void *arg)
{
    struct pc *p = arg;

    gn_sleep(0.05);
    for (int i = 0; i < 3; i++)
        p->get_rc[i] = gn_queue_get(p->q, &p->got[i], 5);
}

START_TEST(queue_put_waits_while_full)
{
    struct pc p = {.q = gn_queue_new(1), .start = gn_test_now_ms()};

    ck_assert_ptr_nonnull(p.q);
    go(producer, &p);
    go(late_consumer, &p);
    run();
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(p.put_rc[i], 0);
        ck_assert_int_eq(p.get_rc[i], 0);
        ck_assert_ptr_eq(p.got[i], &item[i]);
    }
    /* The second put returned only once the consumer took the first. */
    ck_assert_int_ge(p.second_put_ms, 40);
    ck_assert_uint_eq(gn_queue_len(p.q), 0);
    gn_queue_free(p.q);
}
END_TEST

struct getter {
    gn_queue_t *q;
    double timeout;
    int rc;
    void *got;
    int64_t took_ms;
};

static void get_task(struct gn_coro *co, void *arg)
{
    struct getter *g = arg;
    int64_t start = gn_test_now_ms();

    g->rc = gn_queue_get(g->q, &g->got, g->timeout);
    g->took_ms = gn_test_now_ms() - start;
}

struct putter {
    gn_queue_t *q;
    void *what;
    double timeout;
    int rc;
    size_t len_after;
    int64_t took_ms;
};

static void put_task(struct gn_coro *co, void *arg)
{
    struct putter *p = arg;
    int64_t start = gn_test_now_ms();

    p->rc = gn_queue_put(p->q, p->what, p->timeout);
    p->took_ms = gn_test_now_ms() - start;
}

static void put_two_later(struct gn_coro *co, void *arg)
{
    struct putter *p = arg;

    gn_sleep(0.1);
    p->rc = gn_queue_put(p->q, &item[0], 5);
    ck_assert_int_eq(gn_queue_put(p->q, &item[1], 5), 0);
    /* Straight into the getters' hands: nothing went through the ring. */
    p->len_after = gn_queue_len(p->q);
}

static void get_in_turn(struct gn_coro *co, void *arg)
{
    struct getter *g = arg;

    gn_sleep(g->timeout); /* here: the delay that sets the order */
    g->rc = gn_queue_get(g->q, &g->got, 5);
}

START_TEST(queue_get_waits_for_a_put)
{
    gn_queue_t *q = gn_queue_new(4);
    struct getter g[2] = {{.q = q, .timeout = 0.02, .rc = 1},
                          {.q = q, .timeout = 0.04, .rc = 1}};
    struct putter p = {.q = q, .rc = 1};

    ck_assert_ptr_nonnull(q);
    go(get_in_turn, &g[0]);
    go(get_in_turn, &g[1]);
    go(put_two_later, &p);
    run();
    ck_assert_int_eq(p.rc, 0);
    ck_assert_uint_eq(p.len_after, 0);
    ck_assert_int_eq(g[0].rc, 0);
    ck_assert_int_eq(g[1].rc, 0);
    /* The first to wait gets the first item. */
    ck_assert_ptr_eq(g[0].got, &item[0]);
    ck_assert_ptr_eq(g[1].got, &item[1]);
    gn_queue_free(q);
}
END_TEST

START_TEST(queue_get_times_out)
{
    struct getter g = {.q = gn_queue_new(1), .timeout = 0.1, .rc = 1};

    ck_assert_ptr_nonnull(g.q);
    go(get_task, &g);
    run();
    ck_assert_int_eq(g.rc, -ETIMEDOUT);
    ck_assert_int_ge(g.took_ms, 90);
    /* It left the line: a later put goes into the ring. */
    ck_assert_int_eq(gn_queue_put(g.q, &item[0], 0), 0);
    ck_assert_uint_eq(gn_queue_len(g.q), 1);
    gn_queue_free(g.q);
}
END_TEST

START_TEST(queue_put_times_out)
{
    struct putter p = {
        .q = gn_queue_new(1), .what = &item[1], .timeout = 0.1, .rc = 1};
    void *got;

    ck_assert_ptr_nonnull(p.q);
    ck_assert_int_eq(gn_queue_put(p.q, &item[0], 0), 0);
    go(put_task, &p);
    run();
    ck_assert_int_eq(p.rc, -ETIMEDOUT);
    ck_assert_int_ge(p.took_ms, 90);
    /* Its item did not go in, and a get later does not bring it in. */
    ck_assert_uint_eq(gn_queue_len(p.q), 1);
    ck_assert_int_eq(gn_queue_get(p.q, &got, 0), 0);
    ck_assert_ptr_eq(got, &item[0]);
    ck_assert_uint_eq(gn_queue_len(p.q), 0);
    gn_queue_free(p.q);
}
END_TEST

START_TEST(queue_get_is_cancelled)
{
    struct getter g = {.q = gn_queue_new(1), .timeout = 10, .rc = 1};

    ck_assert_ptr_nonnull(g.q);
    cancel_after(go(get_task, &g), 50);
    run();
    ck_assert_int_eq(g.rc, -ECANCELED);
    ck_assert_int_lt(g.took_ms, 5000);
    ck_assert_int_eq(gn_queue_put(g.q, &item[0], 0), 0);
    ck_assert_uint_eq(gn_queue_len(g.q), 1);
    gn_queue_free(g.q);
}
END_TEST

START_TEST(queue_put_is_cancelled)
{
    struct putter p = {
        .q = gn_queue_new(1), .what = &item[1], .timeout = 10, .rc = 1};
    void *got;

    ck_assert_ptr_nonnull(p.q);
    ck_assert_int_eq(gn_queue_put(p.q, &item[0], 0), 0);
    cancel_after(go(put_task, &p), 50);
    run();
    ck_assert_int_eq(p.rc, -ECANCELED);
    ck_assert_int_lt(p.took_ms, 5000);
    ck_assert_int_eq(gn_queue_get(p.q, &got, 0), 0);
    ck_assert_ptr_eq(got, &item[0]);
    ck_assert_uint_eq(gn_queue_len(p.q), 0);
    gn_queue_free(p.q);
}
END_TEST

/* Cancellations meeting a hand-off in the same turn of the loop, as in
 * the semaphore's case: the cancelled waiter is still in line. */
struct cancel_queue {
    struct gn_coro *co;
    gn_queue_t *q;
    int rc;
    void *got;
};

static void cancel_then_put(int fd, short what, void *arg)
{
    struct cancel_queue *cq = arg;

    gn__green_cancel(cq->co, -ECANCELED);
    cq->rc = gn_queue_put(cq->q, &item[5], 0);
}

static void cancel_then_get(int fd, short what, void *arg)
{
    struct cancel_queue *cq = arg;

    gn__green_cancel(cq->co, -ECANCELED);
    cq->rc = gn_queue_get(cq->q, &cq->got, 0);
}

START_TEST(queue_cancelled_getter_does_not_lose_an_item)
{
    struct getter g = {.q = gn_queue_new(2), .timeout = 10, .rc = 1};
    struct cancel_queue cq = {.q = g.q, .rc = 1};

    ck_assert_ptr_nonnull(g.q);
    cq.co = go(get_task, &g);
    later(50, cancel_then_put, &cq);
    run();
    ck_assert_int_eq(cq.rc, 0); /* the put succeeded... */
    /* ...so the item is either the getter's or still in the queue. */
    ck_assert_msg((g.rc == 0 && g.got == &item[5]) ||
                      (g.rc == -ECANCELED && gn_queue_len(g.q) == 1),
                  "item put lost: getter %d, queue length %zu", g.rc,
                  gn_queue_len(g.q));
    gn_queue_free(g.q);
}
END_TEST

START_TEST(queue_cancelled_putter_does_not_put)
{
    struct putter p = {
        .q = gn_queue_new(1), .what = &item[6], .timeout = 10, .rc = 1};
    struct cancel_queue cq = {.q = p.q, .rc = 1};

    ck_assert_ptr_nonnull(p.q);
    ck_assert_int_eq(gn_queue_put(p.q, &item[0], 0), 0);
    cq.co = go(put_task, &p);
    later(50, cancel_then_get, &cq);
    run();
    ck_assert_int_eq(cq.rc, 0);
    ck_assert_ptr_eq(cq.got, &item[0]);
    /* A put that failed put nothing; one that succeeded put its item. */
    ck_assert_msg((p.rc == -ECANCELED && gn_queue_len(p.q) == 0) ||
                      (p.rc == 0 && gn_queue_len(p.q) == 1),
                  "put returned %d with %zu item(s) in the queue", p.rc,
                  gn_queue_len(p.q));
    gn_queue_free(p.q);
}
END_TEST

/* ---- outside any coroutine
 * ---------------------------------------------------- */

/* In init or a hook: what would have to wait returns -EWOULDBLOCK; what
 * need not wait works. */
START_TEST(waits_outside_a_coroutine_would_block)
{
    gn_event_t *e = gn_event_new();
    gn_sem_t *s = gn_sem_new(1);
    gn_queue_t *q = gn_queue_new(1);
    void *got = NULL;

    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(gn_event_wait(e, 1), -EWOULDBLOCK);
    gn_event_set(e);
    ck_assert_int_eq(gn_event_wait(e, 1), 0);

    ck_assert_int_eq(gn_sem_acquire(s, 1), 0);
    ck_assert_int_eq(gn_sem_acquire(s, 1), -EWOULDBLOCK);
    gn_sem_release(s);
    ck_assert_int_eq(gn_sem_acquire(s, -1), 0);

    ck_assert_int_eq(gn_queue_get(q, &got, 1), -EWOULDBLOCK);
    ck_assert_int_eq(gn_queue_put(q, &item[0], 1), 0);
    ck_assert_int_eq(gn_queue_put(q, &item[1], 1), -EWOULDBLOCK);
    ck_assert_uint_eq(gn_queue_len(q), 1);
    ck_assert_int_eq(gn_queue_get(q, &got, 1), 0);
    ck_assert_ptr_eq(got, &item[0]);

    gn_event_free(e);
    gn_sem_free(s);
    gn_queue_free(q);
    /* gn_join: see join_outside_a_coroutine_would_block. */
}
END_TEST

/* ---- the suite
 * ------------------------------------------------------------------ */

static TCase *test_case(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *green_api_suite(void)
{
    Suite *s = suite_create("green/api");
    TCase *tc;

    tc = test_case(s, "wait_fd");
    tcase_add_test(tc, wait_fd_reports_the_ready_mask);
    tcase_add_test(tc, wait_fd_times_out);
    tcase_add_test(tc, wait_fd_is_cancelled);
    tcase_add_test(tc, wait_fd_zero_timeout_reports_a_ready_fd);
    tcase_add_test(tc, wait_fd_rejects_bad_arguments);
    tcase_add_test(tc, wait_fd_outside_a_coroutine_polls);

    tc = test_case(s, "yield");
    tcase_add_test(tc, yield_lets_a_ready_task_run_first);
    tcase_add_test(tc, yield_lets_every_ready_task_run_first);
    tcase_add_test(tc, yield_returns_ecanceled_when_cancelled);
    tcase_add_test(tc, yield_outside_a_coroutine_returns_0);

    /* The loop tests run over kinds[]: their _i is printed on failure. */
    tc = test_case(s, "io");
    tcase_add_loop_test(tc, io_read_waits_for_data, 0, NKINDS);
    tcase_add_loop_test(tc, io_readv_and_writev, 0, NKINDS);
    tcase_add_loop_test(tc, io_read_returns_0_at_eof, 0, NKINDS);
    tcase_add_loop_test(tc, io_read_times_out, 0, NKINDS);
    tcase_add_loop_test(tc, io_read_is_cancelled, 0, NKINDS);
    tcase_add_loop_test(tc, io_write_times_out, 0, NKINDS);
    tcase_add_loop_test(tc, io_write_is_cancelled, 0, NKINDS);
    tcase_add_loop_test(tc, io_write_to_a_closed_peer_is_epipe_without_sigpipe,
                        0, NKINDS);
    tcase_add_loop_test(tc, io_large_write_completes_whole, 0, NKINDS);
    tcase_add_test(tc, io_large_writev_completes_whole);
    tcase_add_test(tc, io_read_regular_file);
    tcase_add_loop_test(tc, io_outside_a_coroutine, 0, NKINDS);
    tcase_add_test(tc, io_rejects_bad_arguments);

    tc = test_case(s, "connect");
    tcase_add_test(tc, connect_tcp_to_an_address);
    tcase_add_test(tc, connect_tcp_to_localhost);
    tcase_add_test(tc, connect_tcp_refused);
    tcase_add_test(tc, connect_tcp_to_an_unknown_name);
    tcase_add_test(tc, connect_tcp_times_out);
    tcase_add_test(tc, connect_tcp_is_cancelled);
    tcase_add_test(tc, connect_tcp_rejects_bad_arguments);
    tcase_add_test(tc, connect_unix_ok_and_enoent);
    tcase_add_test(tc, connect_unix_to_a_full_backlog_waits);

    tc = test_case(s, "accept");
    tcase_add_loop_test(tc, accept_a_green_connect, 0, 2);
    tcase_add_loop_test(tc, accept_times_out, 0, 2);
    tcase_add_test(tc, accept_is_cancelled);

    tc = test_case(s, "threads");
    tcase_add_loop_test(tc, spawn_runs_when_the_spawner_waits, 0, 2);
    tcase_add_test(tc, join_returns_the_result_and_frees);
    tcase_add_test(tc, join_times_out_then_joins_again);
    tcase_add_test(tc, join_is_cancelled);
    tcase_add_test(tc, join_outside_a_coroutine_would_block);
    tcase_add_test(tc, join_of_itself_is_edeadlk);
    tcase_add_test(tc, join_by_two_threads_is_ebusy);
    tcase_add_test(tc, kill_cancels_a_sleeping_thread);
    tcase_add_test(tc, kill_before_the_thread_starts);
    tcase_add_test(tc, kill_of_a_finished_thread_is_esrch);
    tcase_add_loop_test(tc, reap_kills_waits_for_and_frees_the_children, 0, 2);
    tcase_add_test(tc, nested_spawn_is_reaped_with_its_parent);
    tcase_add_test(tc, worker_threads_are_cancelled_when_the_worker_stops);

    tc = test_case(s, "event");
    tcase_add_test(tc, event_set_wakes_every_waiter);
    tcase_add_test(tc, event_wait_after_set_returns_at_once);
    tcase_add_test(tc, event_clear_makes_waits_wait_again);
    tcase_add_test(tc, event_wait_is_cancelled);
    tcase_add_test(tc, event_wait_cancelled_before_set);

    tc = test_case(s, "semaphore");
    tcase_add_test(tc, sem_counts_units);
    tcase_add_test(tc, sem_hands_units_over_first_come_first_served);
    tcase_add_test(tc, sem_acquire_times_out);
    tcase_add_test(tc, sem_acquire_is_cancelled);
    tcase_add_test(tc, sem_cancelled_waiter_passes_the_unit_on);
    tcase_add_test(tc, sem_cancelled_waiter_gives_the_unit_to_the_count);

    tc = test_case(s, "queue");
    tcase_add_test(tc, queue_of_capacity_0_is_null);
    tcase_add_test(tc, queue_is_first_in_first_out);
    tcase_add_test(tc, queue_put_waits_while_full);
    tcase_add_test(tc, queue_get_waits_for_a_put);
    tcase_add_test(tc, queue_get_times_out);
    tcase_add_test(tc, queue_put_times_out);
    tcase_add_test(tc, queue_get_is_cancelled);
    tcase_add_test(tc, queue_put_is_cancelled);
    tcase_add_test(tc, queue_cancelled_getter_does_not_lose_an_item);
    tcase_add_test(tc, queue_cancelled_putter_does_not_put);

    tc = test_case(s, "outside");
    tcase_add_test(tc, waits_outside_a_coroutine_would_block);
    return s;
}

int main(void)
{
    return gn_test_run_suite(green_api_suite());
}
