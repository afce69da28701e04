/*
 * sleepmin: a minimal server for bench/'s sleep scenarios, run beside the
 * real servers as the `minimal` peer, so that a sleep row says what its
 * load gives a server that does nothing else, not only what each server
 * got. One thread, one epoll set (level-triggered), listening with
 * TCP_DEFER_ACCEPT as greenicorn does by default: it accepts, reads a
 * request head (no parsing past its end: the load sends nothing else),
 * answers it SLEEP_MS later, and closes a connection the client closed.
 * Every request waits the same time, so the order requests came in is the
 * order they are due: the waiting ones are a queue, not a timer heap, and
 * the loop's one timeout is its head's deadline, to the microsecond
 * (epoll_pwait2). No allocation after set-up, no logging, no limits but
 * the connection table's. It makes a system call for each thing it does
 * (accept, recv, send), as a plain epoll server does: a server that
 * batches them (greenicorn on io_uring) can beat it, so it is a
 * reference, not a bound.
 *
 *     sleepmin -p PORT [-s 100]
 *
 * It is not a server to use: it trusts its client (one request at a time
 * per connection, heads under 1 KiB) and drops a connection that is not.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 65536 /* the connection table, by descriptor */
#define HEAD_MAX 1024 /* a request head's bytes */

static const char ANSWER[] = "HTTP/1.1 200 OK\r\n"
                             "Content-Type: text/plain\r\n"
                             "Content-Length: 13\r\n"
                             "\r\n"
                             "Hello, World!";

struct conn {
    uint32_t len;     /* bytes of the head read so far */
    uint32_t waiting; /* in the queue: its answer is due */
    uint32_t gen;     /* accepts on this descriptor: a queue entry's owner */
    char head[HEAD_MAX];
};

struct due {
    int fd;
    uint32_t gen;
    int64_t at_ns;
};

static struct conn *conns;   /* MAX_FDS, indexed by descriptor */
static struct due *queue;    /* MAX_FDS, a ring */
static uint32_t q_head, q_len;
static int64_t sleep_ns = 100 * 1000000LL;
static int ep;

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void drop(int fd)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    conns[fd].len = 0;
    conns[fd].waiting = 0;
    conns[fd].gen++; /* its queue entry, if any, is skipped */
}

static void accept_all(int lfd)
{
    int fd;

    while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        int one = 1;

        if (fd >= MAX_FDS) {
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conns[fd].len = 0;
        conns[fd].waiting = 0;
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
}

/* Read what came; a whole head queues its answer. */
static void readable(int fd)
{
    struct conn *c = &conns[fd];
    ssize_t n = recv(fd, c->head + c->len, HEAD_MAX - c->len, 0);
    const char *end;

    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            drop(fd);
        return;
    }
    c->len += (uint32_t)n;
    if (c->waiting || c->len == HEAD_MAX) {
        drop(fd); /* a request before the answer, or a head with no end */
        return;
    }
    end = memmem(c->head, c->len, "\r\n\r\n", 4);
    if (end == NULL)
        return;
    if (end + 4 != c->head + c->len || q_len == MAX_FDS) {
        /* Pipelined (more than the one request it answers), or the queue
         * full of closed connections' entries: dropped, never overwritten. */
        drop(fd);
        return;
    }
    c->len = 0;
    c->waiting = 1;
    queue[(q_head + q_len++) % MAX_FDS] = (struct due){fd, c->gen, now_ns() + sleep_ns};
}

/* Answer every request whose time came; the next deadline, or -1. */
static int64_t answer_due(void)
{
    int64_t t = now_ns();

    while (q_len > 0) {
        struct due *d = &queue[q_head];

        if (d->at_ns > t)
            return d->at_ns;
        q_head = (q_head + 1) % MAX_FDS;
        q_len--;
        if (conns[d->fd].gen != d->gen || !conns[d->fd].waiting)
            continue; /* closed meanwhile */
        conns[d->fd].waiting = 0;
        if (send(d->fd, ANSWER, sizeof(ANSWER) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) !=
            (ssize_t)sizeof(ANSWER) - 1)
            drop(d->fd);
    }
    return -1;
}

static int listen_on(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1, secs = 1;

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 8192) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    static struct epoll_event ev[1024];
    int port = 0, opt, lfd;

    while ((opt = getopt(argc, argv, "p:s:")) != -1) {
        if (opt == 'p')
            port = atoi(optarg);
        else if (opt == 's')
            sleep_ns = atoll(optarg) * 1000000LL;
        else
            port = 0, optind = argc;
    }
    if (port <= 0 || port > 65535 || sleep_ns < 0) {
        fprintf(stderr, "usage: sleepmin -p PORT [-s SLEEP_MS]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    conns = calloc(MAX_FDS, sizeof(*conns));
    queue = calloc(MAX_FDS, sizeof(*queue));
    ep = epoll_create1(EPOLL_CLOEXEC);
    if ((lfd = listen_on(port)) < 0 || conns == NULL || queue == NULL || ep < 0) {
        perror("sleepmin");
        return 1;
    }
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &(struct epoll_event){.events = EPOLLIN, .data.fd = lfd});
    for (;;) {
        int64_t next = answer_due(), wait = next < 0 ? -1 : next - now_ns();
        struct timespec ts = {.tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL};
        int n = epoll_pwait2(ep, ev, 1024, next < 0 ? NULL : wait > 0 ? &ts : &(struct timespec){0},
                             NULL);

        if (n < 0 && errno != EINTR) {
            perror("sleepmin: epoll_pwait2");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (ev[i].data.fd == lfd)
                accept_all(lfd);
            else
                readable(ev[i].data.fd);
        }
    }
}
