/*
 * Unit tests of the system-call seam (green/sys.c). This executable, like
 * greenicorn itself, is linked with export_dynamic and defines recv,
 * read, sendmsg, connect, close, fstat, fcntl ... of its own: the interposers a future
 * patch_all would add, here counting their calls and passing them on.
 * A plain call from this file reaches them; greenicorn's own calls, the
 * gn__sys_* wrappers and the green I/O built on them, must not.
 */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "green/sys.h"
#include "greenicorn.h"
#include "run_suite.h"

/* How many times each interposer ran. */
static struct {
    int recv, recvmsg, read, readv, send, sendmsg, write, writev, connect,
        accept4, shutdown, close, poll, socket, fstat, fcntl;
} calls;

/* The next definition of NAME (libc's), for an interposer to pass on to. */
static void *next_fn(const char *name)
{
    void *fn = dlsym(RTLD_NEXT, name);

    if (fn == NULL)
        abort();
    return fn;
}

/* Define NAME as an interposer with RET, PARAMS and the ARGS passed on.
 * (Default visibility: the project builds with -fvisibility=hidden, and
 * an interposer must be exported, as patch_all's will be.) */
#define INTERPOSE(ret, name, params, args)                                     \
    __attribute__((visibility("default"))) ret name params;                    \
    ret name params                                                            \
    {                                                                          \
        static ret(*real) params;                                              \
        if (real == NULL) {                                                    \
            void *fn_ = next_fn(#name);                                        \
            memcpy(&real, &fn_, sizeof(real));                                 \
        }                                                                      \
        calls.name++;                                                          \
        return real args;                                                      \
    }

INTERPOSE(ssize_t, recv, (int fd, void *buf, size_t len, int flags),
          (fd, buf, len, flags))
INTERPOSE(ssize_t, recvmsg, (int fd, struct msghdr *mh, int flags),
          (fd, mh, flags))
INTERPOSE(ssize_t, read, (int fd, void *buf, size_t len), (fd, buf, len))
INTERPOSE(ssize_t, readv, (int fd, const struct iovec *iov, int n),
          (fd, iov, n))
INTERPOSE(ssize_t, send, (int fd, const void *buf, size_t len, int flags),
          (fd, buf, len, flags))
INTERPOSE(ssize_t, sendmsg, (int fd, const struct msghdr *mh, int flags),
          (fd, mh, flags))
INTERPOSE(ssize_t, write, (int fd, const void *buf, size_t len), (fd, buf, len))
INTERPOSE(ssize_t, writev, (int fd, const struct iovec *iov, int n),
          (fd, iov, n))
/* The address as glibc declares it (a transparent union under _GNU_SOURCE
 * in GNU C): a plain pointer would be a type -Wpedantic calls not truly
 * compatible with the header's. */
INTERPOSE(int, connect, (int fd, __CONST_SOCKADDR_ARG sa, socklen_t len),
          (fd, sa, len))
INTERPOSE(int, accept4, (int fd, __SOCKADDR_ARG sa, socklen_t *len, int flags),
          (fd, sa, len, flags))
INTERPOSE(int, shutdown, (int fd, int how), (fd, how))
INTERPOSE(int, close, (int fd), (fd))
INTERPOSE(int, poll, (struct pollfd * fds, nfds_t n, int timeout),
          (fds, n, timeout))
INTERPOSE(int, socket, (int domain, int type, int protocol),
          (domain, type, protocol))
INTERPOSE(int, fstat, (int fd, struct stat *st), (fd, st))

/* fcntl is variadic: the commands used here take an int or nothing. */
__attribute__((visibility("default"))) int fcntl(int fd, int cmd, ...);
int fcntl(int fd, int cmd, ...)
{
    static int (*real)(int, int, ...);
    va_list ap;
    int arg;

    if (real == NULL) {
        void *fn_ = next_fn("fcntl");
        memcpy(&real, &fn_, sizeof(real));
    }
    va_start(ap, cmd);
    arg = va_arg(ap, int);
    va_end(ap);
    calls.fcntl++;
    return real(fd, cmd, arg);
}

/* The number of interposer calls so far. */
static int total_calls(void)
{
    return calls.recv + calls.recvmsg + calls.read + calls.readv + calls.send +
           calls.sendmsg + calls.write + calls.writev + calls.connect +
           calls.accept4 + calls.shutdown + calls.close + calls.poll +
           calls.socket + calls.fstat + calls.fcntl;
}

START_TEST(plain_calls_reach_the_interposer)
{
    struct stat st;
    int sv[2], before;
    char c;

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    before = calls.send + calls.recv;
    ck_assert_int_eq(send(sv[0], "x", 1, 0), 1);
    ck_assert_int_eq(recv(sv[1], &c, 1, 0), 1);
    ck_assert_int_eq(calls.send + calls.recv - before, 2);
    before = calls.write + calls.read;
    ck_assert_int_eq(write(sv[0], "y", 1), 1);
    ck_assert_int_eq(read(sv[1], &c, 1), 1);
    ck_assert_int_eq(calls.write + calls.read - before, 2);
    before = calls.fstat + calls.fcntl;
    ck_assert_int_eq(fstat(sv[0], &st), 0);
    ck_assert_int_ge(fcntl(sv[0], F_GETFL), 0);
    ck_assert_int_eq(calls.fstat + calls.fcntl - before, 2);
    gn__sys_close(sv[0]);
    gn__sys_close(sv[1]);
}
END_TEST

START_TEST(sys_calls_bypass_the_interposer)
{
    struct iovec iov = {.iov_base = "z", .iov_len = 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    struct pollfd pfd;
    struct stat st;
    int sv[2], before = total_calls(), on = 1, fd;
    char c;

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    before = total_calls();
    ck_assert_int_eq(gn__sys_send(sv[0], "a", 1, 0), 1);
    ck_assert_int_eq(gn__sys_recv(sv[1], &c, 1, 0), 1);
    ck_assert_int_eq(c, 'a');
    ck_assert_int_eq(gn__sys_write(sv[0], "b", 1), 1);
    ck_assert_int_eq(gn__sys_read(sv[1], &c, 1), 1);
    ck_assert_int_eq(c, 'b');
    ck_assert_int_eq(gn__sys_writev(sv[0], &iov, 1), 1);
    ck_assert_int_eq(gn__sys_readv(sv[1], &(struct iovec){&c, 1}, 1), 1);
    ck_assert_int_eq(gn__sys_sendmsg(sv[0], &mh, 0), 1);
    pfd = (struct pollfd){.fd = sv[1], .events = POLLIN};
    ck_assert_int_eq(gn__sys_poll(&pfd, 1, 1000), 1);
    mh.msg_iov = &(struct iovec){&c, 1};
    ck_assert_int_eq(gn__sys_recvmsg(sv[1], &mh, 0), 1);
    ck_assert_int_eq(c, 'z');
    ck_assert_int_eq(
        gn__sys_setsockopt(sv[0], SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)),
        0);
    ck_assert_int_eq(gn__sys_fstat(sv[0], &st), 0);
    ck_assert_int_ne(gn__sys_fcntl(sv[0], F_GETFL, 0) & O_RDWR, 0);
    ck_assert_int_eq(gn__sys_shutdown(sv[0], SHUT_WR), 0);
    ck_assert_int_eq(gn__sys_recv(sv[1], &c, 1, 0), 0);
    fd = gn__sys_socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(gn__sys_close(fd), 0);
    ck_assert_int_eq(gn__sys_close(sv[0]), 0);
    ck_assert_int_eq(gn__sys_close(sv[1]), 0);
    ck_assert_int_eq(total_calls() - before, 0);
}
END_TEST

START_TEST(green_io_bypasses_the_interposer)
{
    char buf[8], path[] = "/tmp/gn-sys-XXXXXX", sock[64];
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int sv[2], pfd[2], lfd, cfd, afd, before;

    ck_assert_ptr_nonnull(mkdtemp(path));
    snprintf(sock, sizeof(sock), "%s/s", path);
    strcpy(sun.sun_path, sock);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(lfd, 0);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(pipe(pfd), 0);

    before = total_calls();
    /* Sockets: sendmsg and recvmsg. */
    ck_assert_int_eq(gn_write(sv[0], "ping", 4, 5.0), 4);
    ck_assert_int_eq(gn_read(sv[1], buf, sizeof(buf), 5.0), 4);
    ck_assert_mem_eq(buf, "ping", 4);
    /* Pipes: poll, then readv and writev. */
    ck_assert_int_eq(gn_write(pfd[1], "pong", 4, 5.0), 4);
    ck_assert_int_eq(gn_read(pfd[0], buf, sizeof(buf), 5.0), 4);
    ck_assert_mem_eq(buf, "pong", 4);
    /* Outside a coroutine a wait polls. */
    ck_assert_int_eq(gn_wait_fd(sv[1], GN_WAIT_WRITE, 5.0), GN_WAIT_WRITE);
    /* socket, connect, accept4, close. */
    cfd = gn_connect_unix(sock, 5.0);
    ck_assert_int_ge(cfd, 0);
    afd = gn_accept(lfd, NULL, NULL, 5.0);
    ck_assert_int_ge(afd, 0);
    ck_assert_int_eq(total_calls() - before, 0);

    close(afd);
    close(cfd);
    close(lfd);
    close(sv[0]);
    close(sv[1]);
    close(pfd[0]);
    close(pfd[1]);
    unlink(sock);
    rmdir(path);
}
END_TEST

static Suite *sys_suite(void)
{
    Suite *s = suite_create("green/sys");
    TCase *tc = tcase_create("seam");

    tcase_add_test(tc, plain_calls_reach_the_interposer);
    tcase_add_test(tc, sys_calls_bypass_the_interposer);
    tcase_add_test(tc, green_io_bypasses_the_interposer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return gn_test_run_suite(sys_suite());
}
