/*
 * The socket family's descriptor calls: making sockets (socket,
 * socketpair, accept, accept4), connecting, and the calls that end or
 * replace a descriptor (close, dup, dup2, dup3), which keep the table
 * (fd.h) right and wake the coroutines parked on what they close.
 *
 * connect and accept on a socket the library keeps blocking are the only
 * places a socket's O_NONBLOCK is changed, for the length of the system
 * call: the flag is put back before the coroutine parks, so whoever else
 * looks at the socket (another thread, F_GETFL) sees the library's
 * setting. Timeouts are the kernel's: SO_SNDTIMEO for connect (which then
 * fails with EINPROGRESS, as Linux does), SO_RCVTIMEO for accept (EAGAIN).
 * A cancelled coroutine's call fails with ECANCELED.
 */
#undef _FORTIFY_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "green/loop.h"
#include "green/park.h"
#include "green/sys.h"
#include "patch/fd.h"
#include "patch/patch.h"
#include "patch/wait.h"

/* ---- making sockets ------------------------------------------------------ */

GN_INTERPOSE int socket(int domain, int type, int protocol)
{
    int fd = gn__sys_socket(domain, type, protocol);

    /* Made outside a coroutine too: the number may have been something
     * else that was closed behind the table's back. */
    if (fd >= 0 && gn__fd_tracking())
        gn__fd_new(fd, GN_FD_SOCKET);
    return fd;
}

GN_INTERPOSE int socketpair(int domain, int type, int protocol, int sv[2])
{
    int rc = gn__sys.socketpair(domain, type, protocol, sv);

    if (rc == 0 && gn__fd_tracking()) {
        gn__fd_new(sv[0], GN_FD_SOCKET);
        gn__fd_new(sv[1], GN_FD_SOCKET);
    }
    return rc;
}

/* Set or clear O_NONBLOCK as FL (the flags F_GETFL gave) says. */
static void set_flags(int fd, int fl)
{
    (void)gn__sys_fcntl(fd, F_SETFL, fl);
}

/* A wait's error as the call's: -1 and errno. TIMEOUT_ERR for a timeout. */
static int wait_failed(int rc, int timeout_err)
{
    errno = rc == -ETIMEDOUT ? timeout_err : -rc;
    return -1;
}

static int coop_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    int saved = errno, fl = gn__sys_fcntl(fd, F_GETFL, 0);
    int64_t deadline = -2;

    if (fl < 0 || (fl & O_NONBLOCK))
        return gn__sys_accept4(fd, sa, len, flags);
    for (;;) {
        int afd, err, rc;

        set_flags(fd, fl | O_NONBLOCK);
        afd = gn__sys_accept4(fd, sa, len, flags);
        err = errno;
        set_flags(fd, fl);
        if (afd >= 0) {
            gn__fd_new(afd, GN_FD_SOCKET);
            errno = saved;
            return afd;
        }
        if (err != EAGAIN && err != EWOULDBLOCK) {
            errno = err;
            return -1;
        }
        if (deadline == -2)
            deadline = gn__patch_sock_deadline(fd, SO_RCVTIMEO);
        rc = gn__patch_wait(fd, GN_WATCH_READ, gn__patch_left_ms(deadline));
        if (rc < 0)
            return wait_failed(rc, EAGAIN);
    }
}

GN_INTERPOSE int accept4(int fd, __SOCKADDR_ARG sa, socklen_t *restrict len,
                         int flags)
{
    if (!gn__patch_on(GN_PATCH_SOCKET)) {
        int afd = gn__sys_accept4(fd, sa.__sockaddr__, len, flags);

        if (afd >= 0 && gn__fd_tracking())
            gn__fd_new(afd, GN_FD_SOCKET);
        return afd;
    }
    return coop_accept4(fd, sa.__sockaddr__, len, flags);
}

GN_INTERPOSE int accept(int fd, __SOCKADDR_ARG sa, socklen_t *restrict len)
{
    return accept4(fd, sa, len, 0);
}

/* ---- connect ------------------------------------------------------------- */

/* After a wait for writability: 0 connected, 1 still in progress (a
 * spurious wake-up), or -1 with errno the connection's error. */
static int connect_result(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);

    if (gn__sys_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return -1;
    if (err != 0) {
        errno = err;
        return -1;
    }
    if (getpeername(fd, (struct sockaddr *)&ss, &sslen) == 0)
        return 0;
    return errno == ENOTCONN ? 1 : -1;
}

static int coop_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    int saved = errno, fl = gn__sys_fcntl(fd, F_GETFL, 0);
    int64_t deadline = -2;
    int rc, err;

    if (fl < 0 || (fl & O_NONBLOCK))
        return gn__sys_connect(fd, sa, len);
    for (;;) {
        set_flags(fd, fl | O_NONBLOCK);
        rc = gn__sys_connect(fd, sa, len);
        err = errno;
        set_flags(fd, fl);
        if (rc == 0) {
            errno = saved;
            return 0;
        }
        if (deadline == -2)
            deadline = gn__patch_sock_deadline(fd, SO_SNDTIMEO);
        if (err == EINPROGRESS)
            break;
        if (err != EAGAIN) {
            errno = err;
            return -1;
        }
        /* A full listen queue of a local socket: a blocking connect waits
         * for room, of which no poll event tells; try again shortly. */
        if (gn__patch_left_ms(deadline) == 0) {
            errno = EAGAIN;
            return -1;
        }
        rc = gn__wait_ms(10);
        if (rc < 0)
            return wait_failed(rc, EAGAIN);
    }
    do {
        rc = gn__patch_wait(fd, GN_WATCH_WRITE, gn__patch_left_ms(deadline));
        if (rc < 0)
            return wait_failed(rc, EINPROGRESS);
        rc = connect_result(fd);
    } while (rc == 1);
    if (rc == 0)
        errno = saved;
    return rc;
}

GN_INTERPOSE int connect(int fd, __CONST_SOCKADDR_ARG sa, socklen_t len)
{
    if (!gn__patch_on(GN_PATCH_SOCKET))
        return gn__sys_connect(fd, sa.__sockaddr__, len);
    return coop_connect(fd, sa.__sockaddr__, len);
}

/* ---- ending and replacing descriptors ------------------------------------ */

GN_INTERPOSE int close(int fd)
{
    if (gn__fd_tracking())
        gn__fd_forget(fd);
    return gn__sys_close(fd);
}

GN_INTERPOSE int dup(int fd)
{
    int nfd = gn__sys.dup(fd);

    if (nfd >= 0 && gn__fd_tracking())
        gn__fd_forget(nfd); /* closed behind our back: start afresh */
    return nfd;
}

/* NFD is about to be replaced by a copy of FD: wake its waiters, unless
 * the call is going to fail without touching NFD. */
static void replacing(int fd, int nfd)
{
    if (fd != nfd && gn__fd_tracking() && gn__sys_fcntl(fd, F_GETFD, 0) >= 0)
        gn__fd_forget(nfd);
}

GN_INTERPOSE int dup2(int fd, int nfd)
{
    replacing(fd, nfd);
    return gn__sys.dup2(fd, nfd);
}

GN_INTERPOSE int dup3(int fd, int nfd, int flags)
{
    replacing(fd, nfd);
    return gn__sys.dup3(fd, nfd, flags);
}
