/*
 * Unit tests of patch_all's socket family (patch/socket.c, patch/io.c)
 * against the C library's own calls (gn__sys_*, which this executable's
 * definitions never capture): in a patched coroutine a blocking socket
 * behaves blocking while the coroutine parks and the loop runs others;
 * a non-blocking one answers EAGAIN as before; SO_RCVTIMEO, SO_SNDTIMEO
 * and connect's timeout and refusal end as Linux ends them; reads are as
 * short as the kernel gives them and blocking writes write everything;
 * a close of an fd another coroutine waits on wakes it with EBADF; errno
 * survives a park; and outside coroutines, on the loop or another
 * thread, every call is the C library's.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "green/park.h"
#include "green/sys.h"
#include "green_fixture.h"
#include "patch/patch.h"
#include "run_suite.h"

/* A coroutine that counts loop turns of 10 ms while another is parked:
 * proof that the loop went on. Stops once *STOP is set. */
struct ticker {
    int ticks;
    int *stop;
};

static void tick_task(struct gn_coro *co, void *arg)
{
    struct ticker *t = arg;

    while (!*t->stop && t->ticks < 1000) {
        gn__wait_ms(10);
        t->ticks++;
    }
}

/* One call made in a task: what it returned, its errno, how long. */
struct call {
    int fd;
    char buf[64];
    size_t len;
    int flags;
    ssize_t rc;
    int err;
    int64_t took_ms;
    int done;
};

static void write_byte_cb(int fd, short what, void *arg)
{
    ck_assert_int_eq(gn__sys_write(*(int *)arg, "abc", 3), 3);
}

static void recv_task(struct gn_coro *co, void *arg)
{
    struct call *c = arg;
    int64_t start = gn_test_now_ms();

    c->rc = recv(c->fd, c->buf, c->len, c->flags);
    c->err = errno;
    c->took_ms = gn_test_now_ms() - start;
    c->done = 1;
}

static void read_task(struct gn_coro *co, void *arg)
{
    struct call *c = arg;
    int64_t start = gn_test_now_ms();

    c->rc = read(c->fd, c->buf, c->len);
    c->err = errno;
    c->took_ms = gn_test_now_ms() - start;
    c->done = 1;
}

static void blocking_pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

/* ---- blocking and non-blocking ------------------------------------------- */

START_TEST(blocking_recv_parks)
{
    int sv[2];
    struct call c = {.len = sizeof(c.buf)};
    struct ticker t = {.stop = &c.done};

    gn__patch_enable(GN_PATCH_ALL);
    blocking_pair(sv);
    c.fd = sv[0];
    later(100, write_byte_cb, &sv[1]);
    go(recv_task, &c);
    go(tick_task, &t);
    ck_assert(!c.done); /* parked, not blocked: we are back here */
    run();
    ck_assert_int_eq(c.rc, 3); /* what the kernel had: a short read */
    ck_assert_int_eq(memcmp(c.buf, "abc", 3), 0);
    ck_assert_int_ge(c.took_ms, 80);
    ck_assert_int_ge(t.ticks, 3);
    /* The library's view is untouched: blocking. */
    ck_assert_int_eq(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
    ck_assert_int_eq(gn__sys_fcntl(sv[0], F_GETFL, 0) & O_NONBLOCK, 0);
    close_pair(sv);
}
END_TEST

static void readv_task(struct gn_coro *co, void *arg)
{
    struct call *c = arg;
    struct iovec iov[2] = {{c->buf, 1}, {c->buf + 1, 10}};

    c->rc = readv(c->fd, iov, 2);
    c->done = 1;
}

static void recvmsg_task(struct gn_coro *co, void *arg)
{
    struct call *c = arg;
    struct iovec iov = {c->buf, 2};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

    c->rc = recvmsg(c->fd, &mh, 0);
    c->done = 1;
}

START_TEST(blocking_read_and_readv_park)
{
    int sv[2];
    struct call c = {.len = sizeof(c.buf)}, v = {0}, m = {0};

    gn__patch_enable(GN_PATCH_ALL);
    blocking_pair(sv);
    c.fd = v.fd = m.fd = sv[0];
    later(50, write_byte_cb, &sv[1]);
    go(read_task, &c);
    ck_assert(!c.done);
    run();
    ck_assert_int_eq(c.rc, 3);
    later(50, write_byte_cb, &sv[1]);
    go(readv_task, &v);
    ck_assert(!v.done);
    run();
    ck_assert_int_eq(v.rc, 3);
    ck_assert_int_eq(memcmp(v.buf, "abc", 3), 0);
    later(50, write_byte_cb, &sv[1]);
    go(recvmsg_task, &m);
    ck_assert(!m.done);
    run();
    ck_assert_int_eq(m.rc, 2); /* as much as it asked for */
    ck_assert_int_eq(memcmp(m.buf, "ab", 2), 0);
    close_pair(sv);
}
END_TEST

static void nonblock_task(struct gn_coro *co, void *arg)
{
    struct call *c = arg;
    int on = 1;
    char b;

    ck_assert_int_eq(fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK),
                     0);
    c->rc = recv(c->fd, c->buf, 1, 0);
    c->err = errno;
    ck_assert_int_eq(read(c->fd, &b, 1), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_ne(fcntl(c->fd, F_GETFL) & O_NONBLOCK, 0);
    /* ioctl(FIONBIO) and MSG_DONTWAIT too. */
    on = 0;
    ck_assert_int_eq(ioctl(c->fd, FIONBIO, &on), 0);
    ck_assert_int_eq(fcntl(c->fd, F_GETFL) & O_NONBLOCK, 0);
    ck_assert_int_eq(recv(c->fd, &b, 1, MSG_DONTWAIT), -1);
    ck_assert_int_eq(errno, EAGAIN);
    on = 1;
    ck_assert_int_eq(ioctl(c->fd, FIONBIO, &on), 0);
    ck_assert_int_ne(fcntl(c->fd, F_GETFL) & O_NONBLOCK, 0);
    c->done = 1;
}

START_TEST(nonblocking_eagain_as_libc)
{
    int sv[2];
    struct call c = {0};
    char b;
    ssize_t libc_rc;
    int libc_err;

    gn__patch_enable(GN_PATCH_ALL);
    blocking_pair(sv);
    c.fd = sv[0];
    go(nonblock_task, &c); /* never parks */
    ck_assert(c.done);
    libc_rc = gn__sys_recv(sv[0], &b, 1, 0);
    libc_err = errno;
    ck_assert_int_eq(c.rc, libc_rc);
    ck_assert_int_eq(c.err, libc_err);
    ck_assert_int_eq(c.err, EAGAIN);
    run();
    close_pair(sv);
}
END_TEST

/* ---- timeouts ------------------------------------------------------------ */

static void set_timeo(int fd, int opt, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv)), 0);
}

START_TEST(rcvtimeo_eagain_as_libc)
{
    int sv[2];
    struct call c = {.len = sizeof(c.buf)};
    struct ticker t = {.stop = &c.done};
    struct timeval tv;
    socklen_t len = sizeof(tv);
    char b;
    int64_t start;

    gn__patch_enable(GN_PATCH_ALL);
    blocking_pair(sv);
    set_timeo(sv[0], SO_RCVTIMEO, 150);
    ck_assert_int_eq(getsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, &len), 0);
    ck_assert_int_ge(tv.tv_usec, 150000); /* rounded to ticks */
    c.fd = sv[0];
    go(recv_task, &c);
    go(tick_task, &t);
    run();
    ck_assert_int_eq(c.rc, -1);
    ck_assert_int_eq(c.err, EAGAIN);
    ck_assert_int_ge(c.took_ms, 140);
    ck_assert_int_lt(c.took_ms, 5000);
    ck_assert_int_ge(t.ticks, 3);
    /* The C library's own call, outside a coroutine: the same. */
    start = gn_test_now_ms();
    ck_assert_int_eq(gn__sys_recv(sv[0], &b, 1, 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_ge(gn_test_now_ms() - start, 140);
    close_pair(sv);
}
END_TEST

static void timed_write_task(struct gn_coro *co, void *arg)
{
    struct call *c = arg;
    static char big[4 * 1024 * 1024];
    int64_t start = gn_test_now_ms();

    c->rc = write(c->fd, big, sizeof(big));
    c->err = errno;
    c->took_ms = gn_test_now_ms() - start;
    c->done = 1;
}

/* SO_SNDTIMEO on a blocking write nobody reads: the bytes that went, as
 * Linux returns them. */
START_TEST(sndtimeo_partial_as_libc)
{
    int sv[2];
    struct call c = {0};
    struct ticker t = {.stop = &c.done};
    static char big[4 * 1024 * 1024];
    ssize_t n;
    int64_t start;

    gn__patch_enable(GN_PATCH_ALL);
    blocking_pair(sv);
    set_timeo(sv[0], SO_SNDTIMEO, 150);
    c.fd = sv[0];
    go(timed_write_task, &c);
    go(tick_task, &t);
    run();
    ck_assert_int_gt(c.rc, 0);
    ck_assert_int_lt(c.rc, sizeof(big));
    ck_assert_int_ge(c.took_ms, 140);
    ck_assert_int_ge(t.ticks, 3);
    close_pair(sv);
    /* The C library's: the same shape. */
    blocking_pair(sv);
    set_timeo(sv[0], SO_SNDTIMEO, 150);
    start = gn_test_now_ms();
    n = gn__sys_write(sv[0], big, sizeof(big));
    ck_assert_int_gt(n, 0);
    ck_assert_int_lt(n, sizeof(big));
    ck_assert_int_ge(gn_test_now_ms() - start, 140);
    close_pair(sv);
}
END_TEST

/* ---- connect ------------------------------------------------------------- */

struct dial {
    int port;
    int timeo_ms;
    int rc, err, fd;
    int64_t took_ms;
    int nonblock_after;
};

static void dial_task(struct gn_coro *co, void *arg)
{
    struct dial *d = arg;
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)d->port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int64_t start = gn_test_now_ms();

    d->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(d->fd, 0);
    if (d->timeo_ms)
        set_timeo(d->fd, SO_SNDTIMEO, d->timeo_ms);
    d->rc = connect(d->fd, (struct sockaddr *)&sin, sizeof(sin));
    d->err = errno;
    d->took_ms = gn_test_now_ms() - start;
    d->nonblock_after = fcntl(d->fd, F_GETFL) & O_NONBLOCK;
}

/* The C library's blocking connect to PORT: its return and errno. */
static int libc_connect(int port, int timeo_ms, int *err)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = gn__sys_socket(AF_INET, SOCK_STREAM, 0), rc;

    if (timeo_ms)
        set_timeo(fd, SO_SNDTIMEO, timeo_ms);
    rc = gn__sys_connect(fd, (struct sockaddr *)&sin, sizeof(sin));
    *err = errno;
    gn__sys_close(fd);
    return rc;
}

START_TEST(connect_ok_and_refused)
{
    int port, lfd = tcp_listener(&port, 0, 8), err;
    struct dial ok = {.port = port}, no = {.port = closed_port()};

    gn__patch_enable(GN_PATCH_ALL);
    go(dial_task, &ok);
    go(dial_task, &no);
    run();
    ck_assert_int_eq(ok.rc, 0);
    ck_assert_int_eq(ok.nonblock_after, 0);
    ck_assert_int_eq(no.rc, -1);
    ck_assert_int_eq(no.err, ECONNREFUSED);
    ck_assert_int_eq(libc_connect(no.port, 0, &err), -1);
    ck_assert_int_eq(err, no.err);
    ck_assert_int_eq(no.nonblock_after, 0);
    close(ok.fd);
    close(no.fd);
    close(lfd);
}
END_TEST

/* A listener whose accept queue is full: a further SYN is dropped, so a
 * connect to it hangs until its timeout. */
static int full_listener(int *port, int fillers[2])
{
    int lfd = tcp_listener(port, 1, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)*port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    for (int i = 0; i < 2; i++) {
        fillers[i] = gn__sys_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        gn__sys_connect(fillers[i], (struct sockaddr *)&sin, sizeof(sin));
    }
    usleep(50 * 1000);
    return lfd;
}

START_TEST(connect_timeout_einprogress_as_libc)
{
    int port, fillers[2], lfd = full_listener(&port, fillers), err;
    struct dial d = {.port = port, .timeo_ms = 200};

    gn__patch_enable(GN_PATCH_ALL);
    go(dial_task, &d);
    run();
    ck_assert_int_eq(d.rc, -1);
    ck_assert_int_eq(d.err, EINPROGRESS);
    ck_assert_int_ge(d.took_ms, 190);
    ck_assert_int_lt(d.took_ms, 5000);
    ck_assert_int_eq(libc_connect(port, 200, &err), -1);
    ck_assert_int_eq(err, EINPROGRESS);
    close(d.fd);
    close(fillers[0]);
    close(fillers[1]);
    close(lfd);
}
END_TEST

/* ---- accept -------------------------------------------------------------- */

static void accept_task(struct gn_coro *co, void *arg)
{
    struct call *c = arg;

    c->rc = accept(c->fd, NULL, NULL);
    c->err = errno;
    c->done = 1;
}

static void dial_cb(int fd, short what, void *arg)
{
    int port = *(int *)arg;
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int s = gn__sys_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    gn__sys_connect(s, (struct sockaddr *)&sin, sizeof(sin));
    /* Left open until the process ends: the accepted end is checked. */
}

START_TEST(blocking_accept_parks)
{
    int port, lfd = tcp_listener(&port, 0, 8);
    struct call c = {.fd = lfd};
    struct ticker t = {.stop = &c.done};

    gn__patch_enable(GN_PATCH_ALL);
    go(accept_task, &c);
    go(tick_task, &t);
    later(100, dial_cb, &port);
    ck_assert(!c.done);
    run();
    ck_assert_int_ge(c.rc, 0);
    ck_assert_int_ge(t.ticks, 3);
    ck_assert_int_eq(fcntl(lfd, F_GETFL) & O_NONBLOCK, 0);
    ck_assert_int_eq(fcntl((int)c.rc, F_GETFL) & O_NONBLOCK, 0);
    close((int)c.rc);
    close(lfd);
}
END_TEST

/* ---- partial reads, whole writes ----------------------------------------- */

static void write_more_cb(int fd, short what, void *arg)
{
    ck_assert_int_eq(gn__sys_write(*(int *)arg, "def", 3), 3);
}

START_TEST(waitall_gathers)
{
    int sv[2];
    struct call c = {.len = 6, .flags = MSG_WAITALL};

    gn__patch_enable(GN_PATCH_ALL);
    blocking_pair(sv);
    c.fd = sv[0];
    later(30, write_byte_cb, &sv[1]);
    later(100, write_more_cb, &sv[1]);
    go(recv_task, &c);
    run();
    ck_assert_int_eq(c.rc, 6);
    ck_assert_int_eq(memcmp(c.buf, "abcdef", 6), 0);
    ck_assert_int_ge(c.took_ms, 80);
    close_pair(sv);
}
END_TEST

#define BIG (4 * 1024 * 1024)

struct bulk {
    int fd;
    char *buf;
    size_t len;
    ssize_t rc;
    int err;
};

static void bulk_write_task(struct gn_coro *co, void *arg)
{
    struct bulk *b = arg;

    b->rc = write(b->fd, b->buf, b->len);
    b->err = errno;
    close(b->fd); /* the reader's EOF */
}

static void bulk_writev_task(struct gn_coro *co, void *arg)
{
    struct bulk *b = arg;
    struct iovec iov[3] = {{b->buf, 1},
                           {b->buf + 1, b->len / 2},
                           {b->buf + 1 + b->len / 2, b->len - 1 - b->len / 2}};

    b->rc = writev(b->fd, iov, 3);
    b->err = errno;
    close(b->fd);
}

/* Reads everything until EOF, slowly, in chunks: the total in rc. */
static void drain_task(struct gn_coro *co, void *arg)
{
    struct bulk *b = arg;
    size_t got = 0;
    ssize_t n;

    while ((n = recv(b->fd, b->buf + got, 65536, 0)) > 0) {
        got += (size_t)n;
        gn__wait_ms(1);
    }
    b->rc = (ssize_t)got;
}

static void check_bulk(gn__coro_fn writer)
{
    int sv[2];
    char *src = malloc(BIG), *dst = malloc(BIG + 65536);
    struct bulk w = {.buf = src, .len = BIG}, r = {.buf = dst};

    gn__patch_enable(GN_PATCH_ALL);
    ck_assert_ptr_nonnull(src);
    ck_assert_ptr_nonnull(dst);
    for (size_t i = 0; i < BIG; i++)
        src[i] = (char)(i * 7);
    blocking_pair(sv);
    w.fd = sv[0];
    r.fd = sv[1];
    go(writer, &w);
    ck_assert_int_eq(w.rc, 0); /* parked on a full buffer */
    go(drain_task, &r);
    run();
    ck_assert_int_eq(w.rc, BIG);
    ck_assert_int_eq(r.rc, BIG);
    ck_assert_int_eq(memcmp(src, dst, BIG), 0);
    close(sv[1]);
    free(src);
    free(dst);
}

START_TEST(blocking_write_writes_all)
{
    check_bulk(bulk_write_task);
}
END_TEST

START_TEST(blocking_writev_writes_all)
{
    check_bulk(bulk_writev_task);
}
END_TEST

START_TEST(nonblocking_write_partial_as_libc)
{
    int sv[2];
    char *src = calloc(1, BIG);
    struct bulk w = {.buf = src, .len = BIG};

    gn__patch_enable(GN_PATCH_ALL);
    blocking_pair(sv);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    w.fd = sv[0];
    go(bulk_write_task, &w); /* never parks (and closes sv[0]) */
    ck_assert_int_gt(w.rc, 0);
    ck_assert_int_lt(w.rc, BIG);
    run();
    /* The C library's own answer on a full non-blocking socket. */
    blocking_pair(sv);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    ck_assert_int_gt(gn__sys_write(sv[0], src, BIG), 0);
    ck_assert_int_eq(gn__sys_write(sv[0], src, BIG), -1);
    ck_assert_int_eq(errno, EAGAIN);
    close_pair(sv);
    free(src);
}
END_TEST

/* ---- close, errno, cancellation ------------------------------------------ */

static void close_cb(int fd, short what, void *arg)
{
    ck_assert_int_eq(close(*(int *)arg), 0);
}

struct closer {
    int fd, nfd;
};

static void dup2_cb(int fd, short what, void *arg)
{
    struct closer *c = arg;

    ck_assert_int_eq(dup2(c->nfd, c->fd), c->fd);
}

static void closing_task(struct gn_coro *co, void *arg)
{
    gn__wait_ms(50);
    ck_assert_int_eq(close(*(int *)arg), 0);
}

START_TEST(close_wakes_waiter_ebadf)
{
    int sv[2], fd;
    struct call c = {.len = sizeof(c.buf)}, d = {.len = sizeof(c.buf)};

    gn__patch_enable(GN_PATCH_ALL);
    blocking_pair(sv);
    c.fd = fd = sv[0];
    go(recv_task, &c);
    go(closing_task, &fd); /* another coroutine closes it */
    run();
    ck_assert_int_eq(c.rc, -1);
    ck_assert_int_eq(c.err, EBADF);
    ck_assert_int_lt(c.took_ms, 5000);
    /* From a loop callback too (the loop's thread, no coroutine). */
    blocking_pair(sv);
    d.fd = fd = sv[0];
    go(read_task, &d);
    later(50, close_cb, &fd);
    run();
    ck_assert_int_eq(d.rc, -1);
    ck_assert_int_eq(d.err, EBADF);
    close(sv[1]);
}
END_TEST

/* Closed behind the table's back (the C library's own close), then the
 * number is made again by socket(): the old waiter learns EBADF. */
static void reuse_cb(int fd, short what, void *arg)
{
    int *fdp = arg;

    ck_assert_int_eq(gn__sys_close(*fdp), 0);
    ck_assert_int_eq(socket(AF_UNIX, SOCK_STREAM, 0), *fdp);
}

START_TEST(reused_number_wakes_stale_waiter)
{
    int sv[2], fd;
    struct call c = {.len = sizeof(c.buf)};

    gn__patch_enable(GN_PATCH_ALL);
    blocking_pair(sv);
    set_timeo(sv[0], SO_RCVTIMEO, 3000);
    c.fd = fd = sv[0];
    go(recv_task, &c);
    later(50, reuse_cb, &fd);
    run();
    ck_assert_int_eq(c.rc, -1);
    ck_assert_int_eq(c.err, EBADF);
    ck_assert_int_lt(c.took_ms, 2000);
    close_pair(sv);
}
END_TEST

START_TEST(dup2_over_waited_fd_wakes_ebadf)
{
    int sv[2], other[2];
    struct call c = {.len = sizeof(c.buf)};
    struct closer cl;

    gn__patch_enable(GN_PATCH_ALL);
    blocking_pair(sv);
    blocking_pair(other);
    c.fd = sv[0];
    cl.fd = sv[0];
    cl.nfd = other[0];
    go(recv_task, &c);
    later(50, dup2_cb, &cl);
    run();
    ck_assert_int_eq(c.rc, -1);
    ck_assert_int_eq(c.err, EBADF);
    close_pair(sv);
    close_pair(other);
}
END_TEST

static void errno_task(struct gn_coro *co, void *arg)
{
    struct call *c = arg;

    errno = EDOM;
    c->rc = recv(c->fd, c->buf, c->len, 0);
    c->err = errno;
}

static void clobber_task(struct gn_coro *co, void *arg)
{
    char b;

    /* Fails while the other is parked: errno is this thread's. */
    ck_assert_int_eq(recv(-1, &b, 1, 0), -1);
    ck_assert_int_eq(errno, EBADF);
    gn__wait_ms(20);
    ck_assert_int_eq(recv(-1, &b, 1, 0), -1);
}

START_TEST(errno_survives_park)
{
    int sv[2];
    struct call c = {.len = sizeof(c.buf)};

    gn__patch_enable(GN_PATCH_ALL);
    blocking_pair(sv);
    c.fd = sv[0];
    go(errno_task, &c);
    go(clobber_task, NULL);
    later(80, write_byte_cb, &sv[1]);
    run();
    ck_assert_int_eq(c.rc, 3);
    ck_assert_int_eq(c.err, EDOM);
    close_pair(sv);
}
END_TEST

START_TEST(cancel_ecanceled)
{
    int sv[2];
    struct call c = {.len = sizeof(c.buf)};
    struct gn_coro *co;

    gn__patch_enable(GN_PATCH_ALL);
    blocking_pair(sv);
    c.fd = sv[0];
    co = go(recv_task, &c);
    cancel_after(co, 50);
    run();
    ck_assert_int_eq(c.rc, -1);
    ck_assert_int_eq(c.err, ECANCELED);
    close_pair(sv);
}
END_TEST

/* ---- datagrams, files ---------------------------------------------------- */

struct dgram {
    int fd;
    struct sockaddr_in from;
    socklen_t fromlen;
    char buf[16];
    ssize_t rc;
};

static void recvfrom_task(struct gn_coro *co, void *arg)
{
    struct dgram *d = arg;

    d->fromlen = sizeof(d->from);
    d->rc = recvfrom(d->fd, d->buf, sizeof(d->buf), 0,
                     (struct sockaddr *)&d->from, &d->fromlen);
}

struct udp {
    int fd;
    struct sockaddr_in to;
};

static void sendto_cb(int fd, short what, void *arg)
{
    struct udp *u = arg;

    ck_assert_int_eq(
        sendto(u->fd, "ping", 4, 0, (struct sockaddr *)&u->to, sizeof(u->to)),
        4);
}

START_TEST(udp_recvfrom_parks)
{
    struct udp u = {.to = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)}};
    struct dgram d = {0};
    socklen_t len = sizeof(u.to);
    struct sockaddr_in me;
    socklen_t melen = sizeof(me);

    gn__patch_enable(GN_PATCH_ALL);
    d.fd = socket(AF_INET, SOCK_DGRAM, 0);
    u.fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_eq(bind(d.fd, (struct sockaddr *)&u.to, sizeof(u.to)), 0);
    ck_assert_int_eq(getsockname(d.fd, (struct sockaddr *)&u.to, &len), 0);
    ck_assert_int_eq(bind(u.fd, (struct sockaddr *)&me,
                          (me = (struct sockaddr_in){.sin_family = AF_INET,
                                                     .sin_addr.s_addr = htonl(
                                                         INADDR_LOOPBACK)},
                           sizeof(me))),
                     0);
    ck_assert_int_eq(getsockname(u.fd, (struct sockaddr *)&me, &melen), 0);
    go(recvfrom_task, &d);
    later(50, sendto_cb, &u);
    run();
    ck_assert_int_eq(d.rc, 4);
    ck_assert_int_eq(memcmp(d.buf, "ping", 4), 0);
    ck_assert_int_eq(d.fromlen, sizeof(me));
    ck_assert_int_eq(d.from.sin_port, me.sin_port);
    close(d.fd);
    close(u.fd);
}
END_TEST

static void file_task(struct gn_coro *co, void *arg)
{
    int *p = arg, fds[2];
    char path[] = "/tmp/gn_patch_XXXXXX", b[8];
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    unlink(path);
    ck_assert_int_eq(write(fd, "file", 4), 4);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    ck_assert_int_eq(read(fd, b, sizeof(b)), 4);
    ck_assert_int_eq(read(fd, b, sizeof(b)), 0);
    close(fd);
    /* A pipe with data: the plain read. */
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(write(fds[1], "p", 1), 1);
    ck_assert_int_eq(read(fds[0], b, sizeof(b)), 1);
    /* Closed: EBADF as the C library says. */
    close(fds[0]);
    ck_assert_int_eq(read(fds[0], b, 1), -1);
    ck_assert_int_eq(errno, EBADF);
    close(fds[1]);
    *p = 1;
}

START_TEST(files_pass_through)
{
    int ok = 0;

    gn__patch_enable(GN_PATCH_ALL);
    go(file_task, &ok);
    ck_assert_int_eq(ok, 1);
    run();
}
END_TEST

/* A socket fd closed behind the table's back and reused by a file: the
 * stale entry corrects itself. */
static void stale_task(struct gn_coro *co, void *arg)
{
    int sv[2], fd;
    char path[] = "/tmp/gn_patch_XXXXXX", b[8];

    blocking_pair(sv);
    ck_assert_int_eq(gn__sys_write(sv[1], "s", 1), 1);
    ck_assert_int_eq(read(sv[0], b, 1), 1); /* learnt: a socket */
    gn__sys_close(sv[0]);                   /* not seen */
    fd = mkstemp(path);
    ck_assert_int_eq(fd, sv[0]);
    unlink(path);
    ck_assert_int_eq(gn__sys_write(fd, "file", 4), 4);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    ck_assert_int_eq(read(fd, b, sizeof(b)), 4);
    close(fd);
    close(sv[1]);
    *(int *)arg = 1;
}

START_TEST(stale_socket_entry_corrected)
{
    int ok = 0;

    gn__patch_enable(GN_PATCH_ALL);
    go(stale_task, &ok);
    ck_assert_int_eq(ok, 1);
    run();
}
END_TEST

/* ---- outside coroutines -------------------------------------------------- */

START_TEST(outside_coroutine_is_libc)
{
    int sv[2];
    char b[8];
    int64_t start;

    gn__patch_enable(GN_PATCH_ALL);
    blocking_pair(sv);
    set_timeo(sv[0], SO_RCVTIMEO, 100);
    /* The loop's own code: a blocking recv blocks (no coroutine to park). */
    start = gn_test_now_ms();
    ck_assert_int_eq(recv(sv[0], b, 1, 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_ge(gn_test_now_ms() - start, 90);
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    ck_assert_int_eq(read(sv[0], b, sizeof(b)), 1);
    close_pair(sv);
}
END_TEST

struct thread_arg {
    int fd;
    ssize_t rc;
    int err;
    int64_t took_ms;
    unsigned patch_now;
};

static void *thread_main(void *arg)
{
    struct thread_arg *t = arg;
    char b[8];
    int64_t start = gn_test_now_ms();

    t->patch_now = gn__patch_now;
    t->rc = recv(t->fd, b, sizeof(b), 0); /* blocks this thread */
    t->took_ms = gn_test_now_ms() - start;
    t->err = errno;
    return NULL;
}

/* Another thread's blocking recv on a socket a coroutine used blocks that
 * thread as the C library's does, and the socket is still blocking. */
static void use_task(struct gn_coro *co, void *arg)
{
    char b;

    ck_assert_int_eq(recv(*(int *)arg, &b, 1, 0), 1);
}

START_TEST(other_thread_is_libc)
{
    int sv[2];
    pthread_t th;
    struct thread_arg t = {0};

    gn__patch_enable(GN_PATCH_ALL);
    blocking_pair(sv);
    t.fd = sv[0];
    later(20, write_byte_cb, &sv[1]);
    go(use_task, &sv[0]);
    run();
    set_timeo(sv[0], SO_RCVTIMEO, 150);
    ck_assert_int_eq(pthread_create(&th, NULL, thread_main, &t), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(t.patch_now, 0);
    ck_assert_int_eq(t.rc, 2); /* "bc", left by the coroutine's read */
    set_timeo(sv[0], SO_RCVTIMEO, 150);
    ck_assert_int_eq(pthread_create(&th, NULL, thread_main, &t), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(t.rc, -1);
    ck_assert_int_eq(t.err, EAGAIN);
    ck_assert_int_ge(t.took_ms, 140);
    close_pair(sv);
}
END_TEST

/* Patching off (the default): even in a coroutine, the C library's call. */
START_TEST(patching_off_is_libc)
{
    int sv[2];
    struct call c = {.len = sizeof(c.buf)};

    blocking_pair(sv);
    set_timeo(sv[0], SO_RCVTIMEO, 100);
    c.fd = sv[0];
    go(recv_task, &c); /* blocks the loop: done before go returns */
    ck_assert(c.done);
    ck_assert_int_eq(c.rc, -1);
    ck_assert_int_eq(c.err, EAGAIN);
    ck_assert_int_ge(c.took_ms, 90);
    run();
    close_pair(sv);
}
END_TEST

/* ---- the fortified forms ------------------------------------------------- */

START_TEST(fortified_forms_check_and_call)
{
    extern ssize_t __read_chk(int, void *, size_t, size_t);
    extern ssize_t __recv_chk(int, void *, size_t, size_t, int);
    int sv[2];
    char b[8];

    blocking_pair(sv);
    ck_assert_int_eq(gn__sys_write(sv[1], "abcdef", 6), 6);
    ck_assert_int_eq(__read_chk(sv[0], b, 2, sizeof(b)), 2);
    ck_assert_int_eq(__recv_chk(sv[0], b, 2, sizeof(b), 0), 2);
    close_pair(sv);
}
END_TEST

START_TEST(fortified_overflow_aborts)
{
    extern ssize_t __recv_chk(int, void *, size_t, size_t, int);
    int sv[2];
    char b[8];

    blocking_pair(sv);
    __recv_chk(sv[0], b, 16, sizeof(b), MSG_DONTWAIT);
}
END_TEST

static Suite *patch_socket_suite(void)
{
    Suite *s = suite_create("patch/socket");
    TCase *tc = test_case(s, "blocking");

    tcase_add_test(tc, blocking_recv_parks);
    tcase_add_test(tc, blocking_read_and_readv_park);
    tcase_add_test(tc, nonblocking_eagain_as_libc);
    tcase_add_test(tc, blocking_accept_parks);
    tc = test_case(s, "timeouts");
    tcase_add_test(tc, rcvtimeo_eagain_as_libc);
    tcase_add_test(tc, sndtimeo_partial_as_libc);
    tcase_add_test(tc, connect_ok_and_refused);
    tcase_add_test(tc, connect_timeout_einprogress_as_libc);
    tc = test_case(s, "partial");
    tcase_add_test(tc, waitall_gathers);
    tcase_add_test(tc, blocking_write_writes_all);
    tcase_add_test(tc, blocking_writev_writes_all);
    tcase_add_test(tc, nonblocking_write_partial_as_libc);
    tcase_add_test(tc, udp_recvfrom_parks);
    tc = test_case(s, "close");
    tcase_add_test(tc, close_wakes_waiter_ebadf);
    tcase_add_test(tc, dup2_over_waited_fd_wakes_ebadf);
    tcase_add_test(tc, reused_number_wakes_stale_waiter);
    tcase_add_test(tc, errno_survives_park);
    tcase_add_test(tc, cancel_ecanceled);
    tc = test_case(s, "pass-through");
    tcase_add_test(tc, files_pass_through);
    tcase_add_test(tc, stale_socket_entry_corrected);
    tcase_add_test(tc, outside_coroutine_is_libc);
    tcase_add_test(tc, other_thread_is_libc);
    tcase_add_test(tc, patching_off_is_libc);
    tcase_add_test(tc, fortified_forms_check_and_call);
    tcase_add_test_raise_signal(tc, fortified_overflow_aborts, SIGABRT);
    return s;
}

int main(void)
{
    return gn_test_run_suite(patch_socket_suite());
}
