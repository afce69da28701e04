/*
 * gn_zmq: ZeroMQ sockets a green thread waits on (zeromq.h).
 *
 * Every send and receive is first tried with ZMQ_DONTWAIT; on EAGAIN the
 * caller parks until ZMQ_EVENTS says the socket is ready for it, then
 * tries again, all within one deadline. ZMQ_FD is libzmq's mailbox
 * signal: readable when commands from its I/O threads arrived, and
 * drained by whichever call on the socket processes them -- a send, a
 * receive, or reading ZMQ_EVENTS. So the signal one green thread waits
 * for may be consumed by another's call on the same socket, and the
 * waiter would sleep through a message that is already there. Two rules
 * close that gap:
 *
 *  - a waiter reads ZMQ_EVENTS before each wait (and sleeps only when
 *    what it wants is not ready);
 *  - after every call that may have processed commands (each attempt to
 *    send or receive, each read of ZMQ_EVENTS), while some green thread
 *    waits on the socket, ZMQ_EVENTS is read again and, if a waiter's
 *    want is now ready, the socket's own eventfd is written.
 *
 * Waiters park on an epoll descriptor holding ZMQ_FD and that eventfd,
 * so either wakes them (several may wait on one descriptor: each has its
 * own watch). Whoever wakes drains the eventfd and asks ZMQ_EVENTS anew;
 * the eventfd is written only when a want is ready at that moment, so
 * waking never turns into spinning.
 */
#include "zeromq.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <greenicorn.h>

#include "deadline.h"

struct gn_zmq {
    void *sock;       /* libzmq's */
    int zfd;          /* its ZMQ_FD (libzmq's: never closed here) */
    int kick;         /* eventfd written to wake the waiters */
    int epfd;         /* epoll over zfd and kick: what waiters wait on */
    unsigned want_in; /* green threads waiting for ZMQ_POLLIN */
    unsigned want_out;
};

/* ---- waiting ------------------------------------------------------------ */

static gn_green_wait_fn wait_fn = gn_green_poll_wait;

GN_API void gn_zmq_set_wait(gn_green_wait_fn wait)
{
    wait_fn = wait != NULL ? wait : gn_green_poll_wait;
}

static void kick(struct gn_zmq *s)
{
    uint64_t one = 1;

    /* Only EAGAIN can fail it (the counter near its maximum): then the
     * waiters are woken already. */
    (void)!write(s->kick, &one, sizeof(one));
}

static void drain(struct gn_zmq *s)
{
    uint64_t n;

    (void)!read(s->kick, &n, sizeof(n));
}

/* S's ZMQ_EVENTS in *EV: 0 or a negative errno. Reading them processes
 * libzmq's pending commands and so may drain ZMQ_FD: the waiters whose
 * want is ready are woken here. */
static int events(struct gn_zmq *s, int *ev)
{
    size_t len = sizeof(*ev);

    if (zmq_getsockopt(s->sock, ZMQ_EVENTS, ev, &len) != 0)
        return -errno;
    if (((*ev & ZMQ_POLLIN) && s->want_in > 0) ||
        ((*ev & ZMQ_POLLOUT) && s->want_out > 0))
        kick(s);
    return 0;
}

/* After a send or a receive on S: the waiters may have lost their signal
 * to it. */
static void rescan(struct gn_zmq *s)
{
    int ev;

    if (s->want_in > 0 || s->want_out > 0)
        (void)events(s, &ev);
}

static void count(struct gn_zmq *s, int want, int delta)
{
    if (want & ZMQ_POLLIN)
        s->want_in += (unsigned)delta;
    if (want & ZMQ_POLLOUT)
        s->want_out += (unsigned)delta;
}

/* Park until S is ready for WANT (ZMQ_POLLIN or ZMQ_POLLOUT), by END: 0,
 * -ETIMEDOUT, -ECANCELED... */
static int await(struct gn_zmq *s, int want, double end)
{
    int ev, rc;

    for (;;) {
        if ((rc = events(s, &ev)) < 0)
            return rc;
        if (ev & want)
            return 0;
        if (gn_green_left(end) == 0)
            return -ETIMEDOUT;
        count(s, want, 1);
        rc = wait_fn(s->epfd, GN_WAIT_READ, gn_green_left(end));
        count(s, want, -1);
        drain(s);
        /* A timed-out wait asks ZMQ_EVENTS once more: ready at the last
         * moment is ready. */
        if (rc < 0 && rc != -ETIMEDOUT)
            return rc;
    }
}

/* ---- context and sockets ------------------------------------------------ */

static void *context;
static pid_t context_pid;

GN_API void *gn_zmq_context(void)
{
    pid_t pid = getpid();
    void *ctx;

    /* One made before a fork belongs to the parent: its I/O threads did
     * not come along, and terminating it here would wait for them. It is
     * left alone (a small leak, once per process). */
    if (context == NULL || context_pid != pid) {
        if ((ctx = zmq_ctx_new()) == NULL)
            return NULL;
        context = ctx;
        context_pid = pid;
    }
    return context;
}

static int watch(int epfd, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

GN_API gn_zmq_t *gn_zmq_socket(void *ctx, int type)
{
    struct gn_zmq *s;
    size_t len = sizeof(s->zfd);
    int linger = 0, err;

    if (ctx == NULL && (ctx = gn_zmq_context()) == NULL)
        return NULL;
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return NULL;
    if ((s->sock = zmq_socket(ctx, type)) == NULL)
        goto fail_socket;
    if (zmq_setsockopt(s->sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
        zmq_getsockopt(s->sock, ZMQ_FD, &s->zfd, &len) != 0)
        goto fail_kick;
    if ((s->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
        goto fail_kick;
    if ((s->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        goto fail_epoll;
    if (watch(s->epfd, s->zfd) != 0 || watch(s->epfd, s->kick) != 0)
        goto fail_watch;
    return s;

fail_watch:
    err = errno;
    close(s->epfd);
    errno = err;
fail_epoll:
    err = errno;
    close(s->kick);
    errno = err;
fail_kick:
    err = errno;
    zmq_close(s->sock);
    errno = err;
fail_socket:
    err = errno;
    free(s);
    errno = err;
    return NULL;
}

GN_API void *gn_zmq_handle(gn_zmq_t *s)
{
    assert(s != NULL);
    return s->sock;
}

GN_API int gn_zmq_close(gn_zmq_t *s)
{
    if (s == NULL)
        return 0;
    if (s->want_in > 0 || s->want_out > 0)
        return -EBUSY;
    close(s->epfd);
    close(s->kick);
    zmq_close(s->sock);
    free(s);
    return 0;
}

/* ---- sending and receiving ---------------------------------------------- */

enum op { SEND, RECV, MSG_SEND, MSG_RECV };

struct io {
    enum op op;
    void *buf; /* SEND (read only), RECV */
    size_t len;
    zmq_msg_t *msg; /* MSG_SEND, MSG_RECV */
    int flags;
};

static int try_once(struct gn_zmq *s, const struct io *io)
{
    int flags = io->flags | ZMQ_DONTWAIT;

    switch (io->op) {
    case SEND: return zmq_send(s->sock, io->buf, io->len, flags);
    case RECV: return zmq_recv(s->sock, io->buf, io->len, flags);
    case MSG_SEND: return zmq_msg_send(io->msg, s->sock, flags);
    case MSG_RECV: return zmq_msg_recv(io->msg, s->sock, flags);
    }
    return -1;
}

/* IO on S, waiting by END whenever libzmq says EAGAIN: its result, or a
 * negative errno. */
static int run(struct gn_zmq *s, const struct io *io, double end)
{
    int want = io->op == SEND || io->op == MSG_SEND ? ZMQ_POLLOUT : ZMQ_POLLIN;
    int rc, err;

    for (;;) {
        rc = try_once(s, io);
        err = rc < 0 ? errno : 0;
        rescan(s);
        if (rc >= 0)
            return rc;
        if (err == EINTR)
            continue;
        if (err != EAGAIN || (io->flags & ZMQ_DONTWAIT))
            return -err;
        if ((rc = await(s, want, end)) < 0)
            return rc;
    }
}

GN_API int gn_zmq_send(gn_zmq_t *s, const void *buf, size_t len, int flags,
                       double timeout)
{
    struct io io = {.op = SEND, .buf = (void *)buf, .len = len, .flags = flags};

    assert(s != NULL && (buf != NULL || len == 0));
    return run(s, &io, gn_green_deadline(timeout));
}

GN_API int gn_zmq_recv(gn_zmq_t *s, void *buf, size_t len, int flags,
                       double timeout)
{
    struct io io = {.op = RECV, .buf = buf, .len = len, .flags = flags};

    assert(s != NULL && (buf != NULL || len == 0));
    return run(s, &io, gn_green_deadline(timeout));
}

GN_API int gn_zmq_msg_send(gn_zmq_t *s, zmq_msg_t *msg, int flags,
                           double timeout)
{
    struct io io = {.op = MSG_SEND, .msg = msg, .flags = flags};

    assert(s != NULL && msg != NULL);
    return run(s, &io, gn_green_deadline(timeout));
}

GN_API int gn_zmq_msg_recv(gn_zmq_t *s, zmq_msg_t *msg, int flags,
                           double timeout)
{
    struct io io = {.op = MSG_RECV, .msg = msg, .flags = flags};

    assert(s != NULL && msg != NULL);
    return run(s, &io, gn_green_deadline(timeout));
}

GN_API int gn_zmq_send_parts(gn_zmq_t *s, const struct iovec *parts, size_t n,
                             double timeout)
{
    double end = gn_green_deadline(timeout);
    struct io io = {.op = SEND};
    int rc;

    assert(s != NULL && parts != NULL);
    if (n == 0)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        io.buf = parts[i].iov_base;
        io.len = parts[i].iov_len;
        io.flags = i + 1 < n ? ZMQ_SNDMORE : 0;
        if ((rc = run(s, &io, end)) < 0)
            return rc;
    }
    return 0;
}

static int more(struct gn_zmq *s)
{
    int more = 0;
    size_t len = sizeof(more);

    return zmq_getsockopt(s->sock, ZMQ_RCVMORE, &more, &len) == 0 && more;
}

GN_API int gn_zmq_recv_parts(gn_zmq_t *s, zmq_msg_t *parts, size_t max,
                             double timeout)
{
    double end = gn_green_deadline(timeout);
    struct io io = {.op = MSG_RECV};
    zmq_msg_t extra;
    size_t n = 0;
    int rc, toolong = 0;

    assert(s != NULL && parts != NULL && max > 0);
    do {
        if (n < max) {
            io.msg = &parts[n];
        } else {
            toolong = 1;
            zmq_msg_init(&extra);
            io.msg = &extra;
        }
        rc = run(s, &io, end);
        if (io.msg == &extra)
            zmq_msg_close(&extra);
        if (rc < 0)
            return rc;
        if (n < max)
            n++;
    } while (more(s));
    return toolong ? -EMSGSIZE : (int)n;
}

/* ---- several sockets ---------------------------------------------------- */

/* Mark the items' REVENTS: how many are ready, or a negative errno. */
static int scan(gn_zmq_pollitem_t *items, int n)
{
    int ready = 0, ev, rc;

    for (int i = 0; i < n; i++) {
        if ((rc = events(items[i].socket, &ev)) < 0)
            return rc;
        items[i].revents = (short)(ev & items[i].events);
        ready += items[i].revents != 0;
    }
    return ready;
}

/* An epoll descriptor over the items' own: one to wait on for all. */
static int gather(const gn_zmq_pollitem_t *items, int n)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC), err;

    if (epfd < 0)
        return -errno;
    for (int i = 0; i < n; i++) {
        if (watch(epfd, items[i].socket->epfd) != 0 && errno != EEXIST) {
            err = errno;
            close(epfd);
            return -err;
        }
    }
    return epfd;
}

static void count_all(gn_zmq_pollitem_t *items, int n, int delta)
{
    for (int i = 0; i < n; i++)
        count(items[i].socket, items[i].events, delta);
}

GN_API int gn_zmq_poll(gn_zmq_pollitem_t *items, int n, double timeout)
{
    double end = gn_green_deadline(timeout);
    int epfd = -1, rc;

    if (items == NULL || n < 1)
        return -EINVAL;
    for (int i = 0; i < n; i++) {
        if (items[i].socket == NULL ||
            (items[i].events & (ZMQ_POLLIN | ZMQ_POLLOUT)) == 0)
            return -EINVAL;
        items[i].events &= ZMQ_POLLIN | ZMQ_POLLOUT;
    }
    for (;;) {
        if ((rc = scan(items, n)) != 0)
            break;
        if (gn_green_left(end) == 0) {
            rc = -ETIMEDOUT;
            break;
        }
        if (epfd < 0 && (epfd = rc = gather(items, n)) < 0)
            break;
        count_all(items, n, 1);
        rc = wait_fn(epfd, GN_WAIT_READ, gn_green_left(end));
        count_all(items, n, -1);
        for (int i = 0; i < n; i++)
            drain(items[i].socket);
        if (rc < 0 && rc != -ETIMEDOUT)
            break;
    }
    if (epfd >= 0)
        close(epfd);
    return rc;
}
