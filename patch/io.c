/*
 * The socket family's data calls: read, write, readv, writev, recv, send,
 * recvfrom, sendto, recvmsg, sendmsg, and the fortified forms
 * _FORTIFY_SOURCE compiles reads to (__read_chk, __recv_chk,
 * __recvfrom_chk).
 *
 * In a patched coroutine each is one recvmsg/sendmsg with MSG_DONTWAIT
 * (so the socket's own flags are never changed); when that says EAGAIN
 * and the socket is blocking as the library set it (F_GETFL, read only
 * then), the coroutine parks until the socket is ready and tries again,
 * so the library sees what a blocking call gives:
 * - a read returns what the kernel has, as soon as it has any (all of it
 *   with MSG_WAITALL, short only at EOF, an error or the timeout);
 * - a write loops until all is written, as the kernel does for a blocking
 *   stream socket (a datagram goes whole or not at all);
 * - SO_RCVTIMEO / SO_SNDTIMEO end the wait with EAGAIN, or with the bytes
 *   moved so far;
 * - errno is the caller's own again after a park that succeeded; EINTR
 *   is never made up; a cancelled coroutine's call fails with ECANCELED
 *   (or returns the bytes already moved), a close of the socket by
 *   another coroutine with EBADF.
 * read/write/readv/writev on anything but a socket (files, pipes, ttys,
 * eventfds: the descriptor table knows) are the C library's calls.
 */
#undef _FORTIFY_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "green/loop.h"
#include "green/park.h"
#include "green/sys.h"
#include "patch/fd.h"
#include "patch/patch.h"
#include "patch/wait.h"

/* The iovecs a resumed transfer still has to move, from DONE bytes into
 * IOV (CNT entries): at most MAX, in OUT. How many. */
#define IOV_WINDOW 64

static int iov_rest(const struct iovec *iov, size_t cnt, size_t done,
                    struct iovec *out, int max)
{
    int n = 0;

    for (size_t i = 0; i < cnt && n < max; i++) {
        if (done >= iov[i].iov_len) {
            done -= iov[i].iov_len;
            continue;
        }
        out[n].iov_base = (char *)iov[i].iov_base + done;
        out[n].iov_len = iov[i].iov_len - done;
        done = 0;
        n++;
    }
    return n;
}

/* MH from DONE bytes on, in PART: what is left of its buffers (in REST,
 * IOV_WINDOW entries), without the ancillary data, which went with the
 * first bytes. */
static void rest_of(const struct msghdr *mh, size_t done, struct msghdr *part,
                    struct iovec *rest)
{
    *part = *mh;
    part->msg_iov = rest;
    part->msg_iovlen =
        (size_t)iov_rest(mh->msg_iov, mh->msg_iovlen, done, rest, IOV_WINDOW);
    part->msg_control = NULL;
    part->msg_controllen = 0;
}

static size_t iov_total(const struct iovec *iov, size_t cnt)
{
    size_t total = 0;

    for (size_t i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    return total;
}

/* After EAGAIN: whether the library wants this call to block. */
static int wants_block(int fd, int flags)
{
    int fl;

    if (flags & MSG_DONTWAIT)
        return 0;
    fl = gn__sys_fcntl(fd, F_GETFL, 0);
    return fl >= 0 && !(fl & O_NONBLOCK);
}

/* The end of a transfer that moved DONE bytes and then met ERR (a
 * negative errno; -ETIMEDOUT for the socket's timeout). */
static ssize_t stopped(size_t done, int err)
{
    if (done > 0)
        return (ssize_t)done;
    errno = err == -ETIMEDOUT ? EAGAIN : -err;
    return -1;
}

static int again(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK;
}

/* Wait for FD to be EVENTS-ready until DEADLINE: 0, or a negative errno. */
static int wait_io(int fd, int events, int64_t deadline)
{
    int64_t left = gn__patch_left_ms(deadline);
    int rc;

    if (left == 0)
        return -ETIMEDOUT;
    rc = gn__patch_wait(fd, events, left);
    return rc < 0 ? rc : 0;
}

static ssize_t coop_recvmsg(int fd, struct msghdr *mh, int flags)
{
    int saved = errno, rc;
    ssize_t n = gn__sys_recvmsg(fd, mh, flags | MSG_DONTWAIT);
    size_t done = 0, total;
    int64_t deadline;
    struct msghdr part;
    struct iovec rest[IOV_WINDOW];

    if (n < 0 ? !again() || !wants_block(fd, flags)
              : !(flags & MSG_WAITALL) || n == 0)
        return n;
    total = iov_total(mh->msg_iov, mh->msg_iovlen);
    if (n >= 0 && (size_t)n >= total)
        return n;
    if (n > 0 && (mh->msg_flags & MSG_TRUNC))
        return n; /* a datagram: whole or nothing */
    if (n > 0 && !wants_block(fd, flags))
        return n;
    done = n > 0 ? (size_t)n : 0;
    deadline = gn__patch_sock_deadline(fd, SO_RCVTIMEO);
    part = *mh;
    for (;;) {
        rc = wait_io(fd, GN_WATCH_READ, deadline);
        if (rc < 0)
            return stopped(done, rc);
        if (done > 0) /* MSG_WAITALL: the rest into what is left */
            rest_of(mh, done, &part, rest);
        n = gn__sys_recvmsg(fd, done > 0 ? &part : mh, flags | MSG_DONTWAIT);
        if (n < 0 && again())
            continue;
        if (n < 0)
            return stopped(done, -errno);
        done += (size_t)n;
        if (n == 0 || !(flags & MSG_WAITALL) || done >= total) {
            if (done > (size_t)n)
                mh->msg_flags = part.msg_flags;
            errno = saved;
            return (ssize_t)done;
        }
    }
}

static ssize_t coop_sendmsg(int fd, const struct msghdr *mh, int flags)
{
    int saved = errno, rc;
    ssize_t n = gn__sys_sendmsg(fd, mh, flags | MSG_DONTWAIT);
    size_t done, total = iov_total(mh->msg_iov, mh->msg_iovlen);
    int64_t deadline;
    struct msghdr part;
    struct iovec rest[IOV_WINDOW];

    if (n >= 0 && (size_t)n >= total)
        return n;
    if ((n < 0 && !again()) || !wants_block(fd, flags))
        return n;
    done = n > 0 ? (size_t)n : 0;
    deadline = gn__patch_sock_deadline(fd, SO_SNDTIMEO);
    part = *mh;
    for (;;) {
        rc = wait_io(fd, GN_WATCH_WRITE, deadline);
        if (rc < 0)
            return stopped(done, rc);
        if (done > 0) /* the rest of a stream */
            rest_of(mh, done, &part, rest);
        n = gn__sys_sendmsg(fd, done > 0 ? &part : mh, flags | MSG_DONTWAIT);
        if (n < 0 && again())
            continue;
        if (n < 0)
            return stopped(done, -errno);
        done += (size_t)n;
        if (done >= total) {
            errno = saved;
            return (ssize_t)done;
        }
    }
}

/* ---- recv / send --------------------------------------------------------- */

static ssize_t coop_recv(int fd, void *buf, size_t len, int flags,
                         struct sockaddr *sa, socklen_t *salen)
{
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n;

    if (sa != NULL && salen != NULL) {
        mh.msg_name = sa;
        mh.msg_namelen = *salen;
    }
    n = coop_recvmsg(fd, &mh, flags);
    if (n >= 0 && sa != NULL && salen != NULL)
        *salen = mh.msg_namelen;
    return n;
}

static ssize_t coop_send(int fd, const void *buf, size_t len, int flags,
                         const struct sockaddr *sa, socklen_t salen)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_name = (void *)sa,
                        .msg_namelen = sa != NULL ? salen : 0};

    return coop_sendmsg(fd, &mh, flags);
}

GN_INTERPOSE ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    if (!gn__patch_on(GN_PATCH_SOCKET))
        return gn__sys_recv(fd, buf, len, flags);
    return coop_recv(fd, buf, len, flags, NULL, NULL);
}

GN_INTERPOSE ssize_t recvfrom(int fd, void *restrict buf, size_t len, int flags,
                              __SOCKADDR_ARG sa, socklen_t *restrict salen)
{
    if (!gn__patch_on(GN_PATCH_SOCKET))
        return gn__sys.recvfrom(fd, buf, len, flags, sa.__sockaddr__, salen);
    return coop_recv(fd, buf, len, flags, sa.__sockaddr__, salen);
}

GN_INTERPOSE ssize_t recvmsg(int fd, struct msghdr *mh, int flags)
{
    if (!gn__patch_on(GN_PATCH_SOCKET))
        return gn__sys_recvmsg(fd, mh, flags);
    return coop_recvmsg(fd, mh, flags);
}

GN_INTERPOSE ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    if (!gn__patch_on(GN_PATCH_SOCKET))
        return gn__sys_send(fd, buf, len, flags);
    return coop_send(fd, buf, len, flags, NULL, 0);
}

GN_INTERPOSE ssize_t sendto(int fd, const void *buf, size_t len, int flags,
                            __CONST_SOCKADDR_ARG sa, socklen_t salen)
{
    if (!gn__patch_on(GN_PATCH_SOCKET))
        return gn__sys.sendto(fd, buf, len, flags, sa.__sockaddr__, salen);
    return coop_send(fd, buf, len, flags, sa.__sockaddr__, salen);
}

GN_INTERPOSE ssize_t sendmsg(int fd, const struct msghdr *mh, int flags)
{
    if (!gn__patch_on(GN_PATCH_SOCKET))
        return gn__sys_sendmsg(fd, mh, flags);
    return coop_sendmsg(fd, mh, flags);
}

/* ---- read / write -------------------------------------------------------- */

/* Whether FD's read or write takes the socket path; a socket that turns
 * out not to be one (closed and reused behind the table's back) is
 * corrected by the kernel's ENOTSOCK, see retry_plain. */
static int on_socket(int fd)
{
    return gn__fd_kind(fd) == GN_FD_SOCKET;
}

/* N from the socket path: when it failed with ENOTSOCK the table was
 * stale; 1 to redo the call as the C library's. */
static int retry_plain(int fd, ssize_t n)
{
    if (n >= 0 || errno != ENOTSOCK)
        return 0;
    gn__fd_set_kind(fd, GN_FD_OTHER);
    return 1;
}

static ssize_t coop_readv(int fd, const struct iovec *iov, int cnt)
{
    struct msghdr mh = {.msg_iov = (struct iovec *)iov,
                        .msg_iovlen = cnt > 0 ? (size_t)cnt : 0};
    ssize_t n;

    if (cnt < 0 || cnt > IOV_MAX || !on_socket(fd))
        return gn__sys_readv(fd, iov, cnt);
    n = coop_recvmsg(fd, &mh, 0);
    return retry_plain(fd, n) ? gn__sys_readv(fd, iov, cnt) : n;
}

static ssize_t coop_writev(int fd, const struct iovec *iov, int cnt)
{
    struct msghdr mh = {.msg_iov = (struct iovec *)iov,
                        .msg_iovlen = cnt > 0 ? (size_t)cnt : 0};
    ssize_t n;

    if (cnt < 0 || cnt > IOV_MAX || !on_socket(fd))
        return gn__sys_writev(fd, iov, cnt);
    n = coop_sendmsg(fd, &mh, 0);
    return retry_plain(fd, n) ? gn__sys_writev(fd, iov, cnt) : n;
}

GN_INTERPOSE ssize_t read(int fd, void *buf, size_t len)
{
    struct iovec iov = {.iov_base = buf, .iov_len = len};

    if (!gn__patch_on(GN_PATCH_SOCKET))
        return gn__sys_read(fd, buf, len);
    if (!on_socket(fd))
        return gn__sys_read(fd, buf, len);
    return coop_readv(fd, &iov, 1);
}

GN_INTERPOSE ssize_t write(int fd, const void *buf, size_t len)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

    if (!gn__patch_on(GN_PATCH_SOCKET))
        return gn__sys_write(fd, buf, len);
    if (!on_socket(fd))
        return gn__sys_write(fd, buf, len);
    return coop_writev(fd, &iov, 1);
}

GN_INTERPOSE ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    if (!gn__patch_on(GN_PATCH_SOCKET))
        return gn__sys_readv(fd, iov, cnt);
    return coop_readv(fd, iov, cnt);
}

GN_INTERPOSE ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    if (!gn__patch_on(GN_PATCH_SOCKET))
        return gn__sys_writev(fd, iov, cnt);
    return coop_writev(fd, iov, cnt);
}

/* ---- the fortified forms ----------------------------------------------------
 * What glibc's headers turn a read into when the buffer's size is known at
 * compile time: the same check as glibc's (__chk_fail aborts), then the
 * call above. */

extern void __chk_fail(void) __attribute__((noreturn));

GN_INTERPOSE ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
GN_INTERPOSE ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen,
                                int flags);
GN_INTERPOSE ssize_t __recvfrom_chk(int fd, void *restrict buf, size_t len,
                                    size_t buflen, int flags, __SOCKADDR_ARG sa,
                                    socklen_t *restrict salen);

ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    if (len > buflen)
        __chk_fail();
    return read(fd, buf, len);
}

ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    if (len > buflen)
        __chk_fail();
    return recv(fd, buf, len, flags);
}

ssize_t __recvfrom_chk(int fd, void *restrict buf, size_t len, size_t buflen,
                       int flags, __SOCKADDR_ARG sa, socklen_t *restrict salen)
{
    if (len > buflen)
        __chk_fail();
    return recvfrom(fd, buf, len, flags, sa, salen);
}
