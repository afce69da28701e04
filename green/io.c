/*
 * Green sockets: connect (with the resolver), accept, read and write on
 * any descriptor. Each call tries the operation first and waits only when
 * it would block, so a ready descriptor costs no trip through the loop.
 * Sockets are read and written with MSG_DONTWAIT, so a blocking socket an
 * app hands us never stalls the worker; other descriptors (pipes) are
 * waited for before each read or write.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/iov.h"
#include "green/dns.h"
#include "green/loop.h"
#include "green/park.h"
#include "green/sys.h"
#include "greenicorn.h"

/* The most buffers gn_readv and gn_writev take. */
#define GN_IOV_MAX 64

/* A deadline for the loops below: what is left of the caller's timeout. */
struct deadline {
    int64_t end_ms; /* -1: none */
};

static int deadline_start(struct deadline *d, double timeout)
{
    int64_t ms;

    if (gn__timeout_ms(timeout, &ms) != 0)
        return -EINVAL;
    d->end_ms = ms < 0 ? -1 : gn__monotonic_ms() + ms;
    return 0;
}

static int64_t deadline_left(const struct deadline *d)
{
    int64_t left;

    if (d->end_ms < 0)
        return -1;
    left = d->end_ms - gn__monotonic_ms();
    return left > 0 ? left : 0;
}

/* Wait for FD and EVENTS within D: 0 when ready, or a negative errno. */
static int wait_ready(int fd, int events, const struct deadline *d)
{
    int rc = gn__wait_fd(fd, events, deadline_left(d));

    return rc < 0 ? rc : 0;
}

/* ---- reading and writing ---------------------------------------------- */

/* How a descriptor is read and written without blocking the worker:
 * sockets with MSG_DONTWAIT whatever their flags; regular files directly
 * (they never wait, and epoll refuses them); other descriptors (pipes,
 * ttys) directly when non-blocking, else only after poll says ready, and
 * then at most PIPE_BUF bytes at a time (what a ready pipe takes whole). */
enum fd_kind { FD_SOCKET, FD_FILE, FD_NONBLOCKING, FD_BLOCKING };

/* What a descriptor that is not a socket is (sockets, the common case,
 * are assumed first: sendmsg/recvmsg saying ENOTSOCK costs no syscall
 * more than the I/O itself). */
static enum fd_kind classify(int fd)
{
    struct stat st;
    int flags;

    if (gn__sys_fstat(fd, &st) != 0)
        return FD_NONBLOCKING; /* the I/O call will report EBADF */
    if (S_ISSOCK(st.st_mode))
        return FD_SOCKET;
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
        return FD_FILE;
    flags = gn__sys_fcntl(fd, F_GETFL, 0);
    return flags >= 0 && (flags & O_NONBLOCK) ? FD_NONBLOCKING : FD_BLOCKING;
}

/* The prefix of IOV holding at most MAX bytes: its buffer count. The last
 * buffer may be shortened; its length is kept in *CUT_LEN (0: none was)
 * for the caller to restore. */
static int clip(struct iovec *iov, int iovcnt, size_t max, size_t *cut_len)
{
    size_t total = 0;

    for (int i = 0; i < iovcnt; i++) {
        if (total + iov[i].iov_len > max) {
            *cut_len = iov[i].iov_len;
            iov[i].iov_len = max - total;
            return i + 1;
        }
        total += iov[i].iov_len;
    }
    *cut_len = 0;
    return iovcnt;
}

/* writev(2) on a pipe whose reader left raises SIGPIPE: hold it blocked
 * for the call and take it back if it came. */
static ssize_t writev_nosigpipe(int fd, const struct iovec *iov, int iovcnt)
{
    sigset_t pipe_set, old;
    struct timespec zero = {0, 0};
    ssize_t n;
    int err;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    n = gn__sys_writev(fd, iov, iovcnt);
    err = errno;
    if (n < 0 && err == EPIPE)
        sigtimedwait(&pipe_set, NULL, &zero);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = err;
    return n;
}

/* One read or write that does not block: bytes, 0 at EOF, -EAGAIN when it
 * would wait, or another error. */
static ssize_t try_io(int fd, enum fd_kind kind, struct iovec *iov, int iovcnt,
                      int writing)
{
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
    ssize_t n;

    if (kind == FD_SOCKET)
        n = writing ? gn__sys_sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL)
                    : gn__sys_recvmsg(fd, &mh, MSG_DONTWAIT);
    else
        n = writing ? writev_nosigpipe(fd, iov, iovcnt)
                    : gn__sys_readv(fd, iov, iovcnt);
    return n < 0 ? -errno : n;
}

/* One step of I/O on FD within D: the bytes moved, 0 at EOF, or a
 * negative errno (never -EAGAIN: it waits instead). */
static ssize_t io_step(int fd, enum fd_kind *kindp, struct iovec *iov,
                       int iovcnt, int writing, const struct deadline *d)
{
    enum fd_kind kind = *kindp;
    int event = writing ? GN_WATCH_WRITE : GN_WATCH_READ, rc, n_iov;
    size_t cut = 0;
    ssize_t n;

    for (;;) {
        if (kind == FD_BLOCKING) {
            /* Only once poll says so, and no more than a ready pipe
             * takes, so the call cannot block. */
            if ((rc = wait_ready(fd, event, d)) != 0)
                return rc;
            n_iov = writing ? clip(iov, iovcnt, PIPE_BUF, &cut) : iovcnt;
            n = try_io(fd, kind, iov, n_iov, writing);
            if (cut)
                iov[n_iov - 1].iov_len = cut;
        } else {
            n = try_io(fd, kind, iov, iovcnt, writing);
        }
        if (n == -ENOTSOCK && kind == FD_SOCKET) {
            kind = *kindp = classify(fd); /* not a socket after all */
            if (kind != FD_SOCKET)
                continue;
        }
        if (n != -EAGAIN && n != -EINTR)
            return n;
        if (n == -EAGAIN && kind != FD_BLOCKING &&
            (rc = wait_ready(fd, event, d)) != 0)
            return rc;
    }
}

GN_API ssize_t gn_readv(int fd, const struct iovec *iov, int iovcnt,
                        double timeout)
{
    struct iovec copy[GN_IOV_MAX];
    struct deadline d;
    enum fd_kind kind = FD_SOCKET;

    if (!gn__on_loop_thread())
        return -EPERM;
    if (fd < 0 || iovcnt < 0 || iovcnt > GN_IOV_MAX ||
        deadline_start(&d, timeout))
        return -EINVAL;
    memcpy(copy, iov, (size_t)iovcnt * sizeof(*iov));
    return io_step(fd, &kind, copy, iovcnt, 0, &d);
}

GN_API ssize_t gn_read(int fd, void *buf, size_t len, double timeout)
{
    struct iovec iov = {buf, len};

    return gn_readv(fd, &iov, 1, timeout);
}

GN_API ssize_t gn_writev(int fd, const struct iovec *iov, int iovcnt,
                         double timeout)
{
    struct iovec copy[GN_IOV_MAX], *at = copy;
    struct deadline d;
    enum fd_kind kind = FD_SOCKET;
    size_t total = 0;
    ssize_t n;

    if (!gn__on_loop_thread())
        return -EPERM;
    if (fd < 0 || iovcnt < 0 || iovcnt > GN_IOV_MAX ||
        deadline_start(&d, timeout))
        return -EINVAL;
    memcpy(copy, iov, (size_t)iovcnt * sizeof(*iov));
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    while ((iovcnt = (int)gn__iov_advance(&at, (size_t)iovcnt, 0)) > 0) {
        n = io_step(fd, &kind, at, iovcnt, 1, &d);
        if (n < 0)
            return n;
        if (n == 0)
            return -EIO; /* a write that takes nothing: no progress */
        iovcnt = (int)gn__iov_advance(&at, (size_t)iovcnt, (size_t)n);
    }
    return (ssize_t)total;
}

GN_API ssize_t gn_write(int fd, const void *buf, size_t len, double timeout)
{
    struct iovec iov = {(void *)buf, len};

    return gn_writev(fd, &iov, 1, timeout);
}

/* ---- connecting and accepting ----------------------------------------- */

/* Connect the non-blocking socket FD to SA within D. 0 or -errno. */
static int connect_within(int fd, const struct sockaddr *sa, socklen_t len,
                          const struct deadline *d)
{
    int err = 0, rc;
    socklen_t elen = sizeof(err);

    for (;;) {
        if (gn__sys_connect(fd, sa, len) == 0)
            return 0;
        if (errno == EINPROGRESS || errno == EINTR || errno == EALREADY)
            break; /* in flight: wait for it below */
        /* A unix socket's EAGAIN is a full backlog, not a connect in
         * flight: nothing was started, so try again every 10 ms. */
        if (errno != EAGAIN || sa->sa_family != AF_UNIX)
            return -errno;
        if (d->end_ms >= 0 && deadline_left(d) == 0)
            return -ETIMEDOUT;
        if ((rc = gn__wait_ms(10)) != 0)
            return rc;
    }
    if ((rc = wait_ready(fd, GN_WATCH_WRITE, d)) != 0)
        return rc;
    if (gn__sys_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
        return -errno;
    return -err;
}

static int open_socket(int family)
{
    int fd =
        gn__sys_socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    return fd < 0 ? -errno : fd;
}

/* Each address in turn; the last error when none takes. */
static int connect_any(const struct addrinfo *ai, const struct deadline *d)
{
    int rc = -EHOSTUNREACH, fd, one = 1;

    for (; ai != NULL; ai = ai->ai_next) {
        if ((fd = open_socket(ai->ai_family)) < 0)
            return fd;
        rc = connect_within(fd, ai->ai_addr, ai->ai_addrlen, d);
        if (rc == 0) {
            gn__sys_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            return fd;
        }
        gn__sys_close(fd);
        if (rc == -ETIMEDOUT || rc == -ECANCELED)
            break; /* no time left for the others */
    }
    return rc;
}

GN_API int gn_connect_tcp(const char *host, int port, double timeout)
{
    struct deadline d;
    struct addrinfo *ai;
    int rc;

    if (!gn__on_loop_thread())
        return -EPERM;
    if (host == NULL || port <= 0 || port > 65535 ||
        deadline_start(&d, timeout) != 0)
        return -EINVAL;
    if ((rc = gn__resolve(host, port, deadline_left(&d), &ai)) != 0)
        return rc;
    rc = connect_any(ai, &d);
    gn__resolve_free(ai);
    return rc;
}

GN_API int gn_connect_unix(const char *path, double timeout)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct deadline d;
    int fd, rc;

    if (!gn__on_loop_thread())
        return -EPERM;
    if (path == NULL || strlen(path) >= sizeof(sun.sun_path) ||
        deadline_start(&d, timeout) != 0)
        return -EINVAL;
    strcpy(sun.sun_path, path);
    if ((fd = open_socket(AF_UNIX)) < 0)
        return fd;
    rc = connect_within(fd, (struct sockaddr *)&sun, sizeof(sun), &d);
    if (rc != 0) {
        gn__sys_close(fd);
        return rc;
    }
    return fd;
}

GN_API int gn_accept(int lfd, struct sockaddr *addr, socklen_t *addrlen,
                     double timeout)
{
    struct deadline d;
    int fd, rc, blocking;

    if (!gn__on_loop_thread())
        return -EPERM;
    if (lfd < 0 || deadline_start(&d, timeout) != 0)
        return -EINVAL;
    blocking = (gn__sys_fcntl(lfd, F_GETFL, 0) & O_NONBLOCK) == 0;
    for (;;) {
        /* A blocking listener is accepted from only once it is ready. */
        if (blocking && (rc = wait_ready(lfd, GN_WATCH_READ, &d)) != 0)
            return rc;
        fd = gn__sys_accept4(lfd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0)
            return fd;
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno != EAGAIN)
            return -errno;
        if (!blocking && (rc = wait_ready(lfd, GN_WATCH_READ, &d)) != 0)
            return rc;
    }
}
