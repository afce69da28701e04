/*
 * Unit tests of green I/O (green/io.c, the public gn_read, gn_write, their
 * vectors, gn_connect_tcp, gn_connect_unix and gn_accept) on a real event
 * loop: each call's success, timeout and cancellation paths over sockets,
 * pipes and files, blocking or not, and what each does outside a
 * coroutine. The fixture is green_fixture.c's.
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
#include "green_fixture.h"
#include "greenicorn.h"
#include "run_suite.h"

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

START_TEST(connect_tcp_refused)
{
    struct conn c = {.host = "127.0.0.1", .port = closed_port(), .timeout = 5};

    go(connect_task, &c);
    run();
    ck_assert_int_eq(c.rc, -ECONNREFUSED);
    ck_assert_int_eq(gn_connect_tcp("127.0.0.1", c.port, 5), -ECONNREFUSED);
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

/* ---- the suite
 * ------------------------------------------------------------------ */

static Suite *green_io_suite(void)
{
    Suite *s = suite_create("green/io");
    TCase *tc;

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
    tcase_add_test(tc, connect_tcp_refused);
    tcase_add_test(tc, connect_tcp_times_out);
    tcase_add_test(tc, connect_tcp_is_cancelled);
    tcase_add_test(tc, connect_tcp_rejects_bad_arguments);
    tcase_add_test(tc, connect_unix_ok_and_enoent);
    tcase_add_test(tc, connect_unix_to_a_full_backlog_waits);

    tc = test_case(s, "accept");
    tcase_add_loop_test(tc, accept_a_green_connect, 0, 2);
    tcase_add_loop_test(tc, accept_times_out, 0, 2);
    tcase_add_test(tc, accept_is_cancelled);
    return s;
}

int main(void)
{
    return gn_test_run_suite(green_io_suite());
}
