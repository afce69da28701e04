/*
 * The one place greenicorn's own I/O reaches the kernel. Every socket
 * call the worker makes for itself (green I/O, connections, accept) goes
 * through gn__sys_*, bound once at start-up to the C library's own
 * functions, so a definition of recv, connect, close ... in the executable
 * (an interposer that makes an unmodified client library cooperative) can
 * never capture greenicorn's own calls. Each wrapper behaves exactly as
 * the libc function it names: -1 and errno on failure. (libevent makes its
 * own calls: it is left alone, but for its timerfd and epoll_wait, see
 * green/loop.c.)
 */
#ifndef GN_GREEN_SYS_H
#define GN_GREEN_SYS_H

#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

struct epoll_event;

/* The C library's functions, resolved by gn__sys_init (run as a
 * constructor, so set before main). Read through the wrappers below. */
struct gn_sys_table {
    int (*socket)(int, int, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    ssize_t (*sendfile)(int, int, off_t *, size_t);
    int (*shutdown)(int, int);
    int (*close)(int);
    int (*poll)(struct pollfd *, nfds_t, int);
    int (*getsockopt)(int, int, int, void *, socklen_t *);
    int (*setsockopt)(int, int, int, const void *, socklen_t);
    int (*fstat)(int, struct stat *);
    int (*fcntl)(int, int, ...);
    /* For patch/, whose definitions pass straight through to these. */
    int (*socketpair)(int, int, int, int[2]);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *,
                        socklen_t *);
    ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *,
                      socklen_t);
    int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *,
                 const sigset_t *);
    int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
    int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
                   const sigset_t *);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    /* For patch/'s pass-through (time and dns families), not wrapped:
     * greenicorn itself never sleeps or resolves through them. */
    unsigned (*sleep)(unsigned);
    int (*usleep)(useconds_t);
    int (*nanosleep)(const struct timespec *, struct timespec *);
    int (*clock_nanosleep)(clockid_t, int, const struct timespec *,
                           struct timespec *);
    int (*getaddrinfo)(const char *, const char *, const struct addrinfo *,
                       struct addrinfo **);
    int (*getnameinfo)(const struct sockaddr *, socklen_t, char *, socklen_t,
                       char *, socklen_t, int);
    struct hostent *(*gethostbyname)(const char *);
    struct hostent *(*gethostbyname2)(const char *, int);
    int (*gethostbyname_r)(const char *, struct hostent *, char *, size_t,
                           struct hostent **, int *);
    int (*gethostbyname2_r)(const char *, int, struct hostent *, char *,
                            size_t, struct hostent **, int *);
    /* For green/loop.c's timerfd and epoll definitions (the loop's kernel
     * timer and when its turn began), which pass every other descriptor
     * through to these. */
    int (*timerfd_create)(int, int);
    int (*timerfd_settime)(int, int, const struct itimerspec *,
                           struct itimerspec *);
    int (*epoll_create1)(int);
    int (*epoll_wait)(int, struct epoll_event *, int, int);
};

extern struct gn_sys_table gn__sys;

/* Resolve the table (idempotent). Aborts when libc lacks a function. */
void gn__sys_init(void);

static inline int gn__sys_socket(int domain, int type, int protocol)
{
    return gn__sys.socket(domain, type, protocol);
}

static inline int gn__sys_connect(int fd, const struct sockaddr *sa,
                                  socklen_t len)
{
    return gn__sys.connect(fd, sa, len);
}

static inline int gn__sys_accept4(int fd, struct sockaddr *sa, socklen_t *len,
                                  int flags)
{
    return gn__sys.accept4(fd, sa, len, flags);
}

static inline ssize_t gn__sys_read(int fd, void *buf, size_t len)
{
    return gn__sys.read(fd, buf, len);
}

static inline ssize_t gn__sys_readv(int fd, const struct iovec *iov, int n)
{
    return gn__sys.readv(fd, iov, n);
}

static inline ssize_t gn__sys_recv(int fd, void *buf, size_t len, int flags)
{
    return gn__sys.recv(fd, buf, len, flags);
}

static inline ssize_t gn__sys_recvmsg(int fd, struct msghdr *mh, int flags)
{
    return gn__sys.recvmsg(fd, mh, flags);
}

static inline ssize_t gn__sys_write(int fd, const void *buf, size_t len)
{
    return gn__sys.write(fd, buf, len);
}

static inline ssize_t gn__sys_writev(int fd, const struct iovec *iov, int n)
{
    return gn__sys.writev(fd, iov, n);
}

static inline ssize_t gn__sys_send(int fd, const void *buf, size_t len,
                                   int flags)
{
    return gn__sys.send(fd, buf, len, flags);
}

static inline ssize_t gn__sys_sendmsg(int fd, const struct msghdr *mh,
                                      int flags)
{
    return gn__sys.sendmsg(fd, mh, flags);
}

static inline ssize_t gn__sys_sendfile(int out, int in, off_t *offset,
                                       size_t len)
{
    return gn__sys.sendfile(out, in, offset, len);
}

static inline int gn__sys_shutdown(int fd, int how)
{
    return gn__sys.shutdown(fd, how);
}

static inline int gn__sys_close(int fd)
{
    return gn__sys.close(fd);
}

static inline int gn__sys_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    return gn__sys.poll(fds, n, timeout_ms);
}

static inline int gn__sys_getsockopt(int fd, int level, int name, void *val,
                                     socklen_t *len)
{
    return gn__sys.getsockopt(fd, level, name, val, len);
}

static inline int gn__sys_setsockopt(int fd, int level, int name,
                                     const void *val, socklen_t len)
{
    return gn__sys.setsockopt(fd, level, name, val, len);
}

static inline int gn__sys_fstat(int fd, struct stat *st)
{
    return gn__sys.fstat(fd, st);
}

/* fcntl with an int argument (F_GETFL, F_SETFL, F_DUPFD_CLOEXEC ...): a
 * patch_all interposer keeps its own view of O_NONBLOCK, as libco's hook
 * does, and greenicorn must see the descriptor's real flags. */
static inline int gn__sys_fcntl(int fd, int cmd, int arg)
{
    return gn__sys.fcntl(fd, cmd, arg);
}

#endif /* GN_GREEN_SYS_H */
