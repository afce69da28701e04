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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "greenicorn.h"
#include "workers/dns.h"
#include "workers/green.h"
#include "workers/loop.h"
#include "workers/worker.h"

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

/* One non-blocking read: bytes, 0 at EOF, -EAGAIN, or another error.
 * *SOCK learns whether FD is a socket. */
static ssize_t try_readv(int fd, struct iovec *iov, int iovcnt, int *sock)
{
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
    ssize_t n;

    if (*sock) {
        n = recvmsg(fd, &mh, MSG_DONTWAIT);
        if (n >= 0 || errno != ENOTSOCK)
            return n < 0 ? -errno : n;
        *sock = 0;
        return -EAGAIN; /* wait for it to be readable, then read */
    }
    n = readv(fd, iov, iovcnt);
    return n < 0 ? -errno : n;
}

static ssize_t try_writev(int fd, struct iovec *iov, int iovcnt, int *sock)
{
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
    ssize_t n;

    if (*sock) {
        n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0 || errno != ENOTSOCK)
            return n < 0 ? -errno : n;
        *sock = 0;
        return -EAGAIN;
    }
    n = writev(fd, iov, iovcnt);
    return n < 0 ? -errno : n;
}

GN_API ssize_t gn_readv(int fd, const struct iovec *iov, int iovcnt,
                        double timeout)
{
    struct iovec copy[64];
    struct deadline d;
    int sock = 1, rc;
    ssize_t n;

    if (fd < 0 || iovcnt < 0 || iovcnt > 64 || deadline_start(&d, timeout))
        return -EINVAL;
    memcpy(copy, iov, (size_t)iovcnt * sizeof(*iov));
    for (;;) {
        n = try_readv(fd, copy, iovcnt, &sock);
        if (n != -EAGAIN && n != -EINTR)
            return n;
        if (n == -EAGAIN && (rc = wait_ready(fd, GN_WATCH_READ, &d)) != 0)
            return rc;
    }
}

GN_API ssize_t gn_read(int fd, void *buf, size_t len, double timeout)
{
    struct iovec iov = {buf, len};

    return gn_readv(fd, &iov, 1, timeout);
}

/* Step IOV past N bytes written; the number of buffers left. */
static int advance(struct iovec **iov, int iovcnt, size_t n)
{
    while (iovcnt > 0 && n >= (*iov)->iov_len) {
        n -= (*iov)->iov_len;
        (*iov)++;
        iovcnt--;
    }
    if (iovcnt > 0) {
        (*iov)->iov_base = (char *)(*iov)->iov_base + n;
        (*iov)->iov_len -= n;
    }
    return iovcnt;
}

GN_API ssize_t gn_writev(int fd, const struct iovec *iov, int iovcnt,
                         double timeout)
{
    struct iovec copy[64], *at = copy;
    struct deadline d;
    size_t total = 0;
    int sock = 1, rc;
    ssize_t n;

    if (fd < 0 || iovcnt < 0 || iovcnt > 64 || deadline_start(&d, timeout))
        return -EINVAL;
    memcpy(copy, iov, (size_t)iovcnt * sizeof(*iov));
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    while ((iovcnt = advance(&at, iovcnt, 0)) > 0) {
        n = try_writev(fd, at, iovcnt, &sock);
        if (n >= 0) {
            iovcnt = advance(&at, iovcnt, (size_t)n);
            continue;
        }
        if (n != -EAGAIN && n != -EINTR)
            return n;
        if (n == -EAGAIN && (rc = wait_ready(fd, GN_WATCH_WRITE, &d)) != 0)
            return rc;
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

    if (connect(fd, sa, len) == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EAGAIN && errno != EINTR)
        return -errno;
    if ((rc = wait_ready(fd, GN_WATCH_WRITE, d)) != 0)
        return rc;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
        return -errno;
    return -err;
}

static int open_socket(int family)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

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
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            return fd;
        }
        close(fd);
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

    if (path == NULL || strlen(path) >= sizeof(sun.sun_path) ||
        deadline_start(&d, timeout) != 0)
        return -EINVAL;
    strcpy(sun.sun_path, path);
    if ((fd = open_socket(AF_UNIX)) < 0)
        return fd;
    rc = connect_within(fd, (struct sockaddr *)&sun, sizeof(sun), &d);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}

GN_API int gn_accept(int lfd, struct sockaddr *addr, socklen_t *addrlen,
                     double timeout)
{
    struct deadline d;
    int fd, rc;

    if (lfd < 0 || deadline_start(&d, timeout) != 0)
        return -EINVAL;
    for (;;) {
        fd = accept4(lfd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0)
            return fd;
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno != EAGAIN)
            return -errno;
        if ((rc = wait_ready(lfd, GN_WATCH_READ, &d)) != 0)
            return rc;
    }
}
