/*
 * tlsload: full TLS handshakes per second, the load generator of bench/'s
 * tls-handshake scenario (bench/bench.py runs it against greenicorn and
 * nginx with the same certificate). One thread, epoll, -c connections in
 * flight, each a new TCP connection and a new SSL with no session to
 * resume (no ticket asked, no session cache, a fresh SSL every time: every
 * handshake is a full one, and a resumed one is counted as an error),
 * which sends one request (GET PATH, Connection: close) and reads the
 * answer to the server's close, so the server finished the handshake
 * (the client's Finished verified, its tickets sent) before it counts.
 *
 *     tlsload -p PORT [-c 16] [-d 8] [-w 1] [-P /] [-H 127.0.0.1]
 *
 * -w seconds of warm-up, then -d measured seconds. Output: "phase measure"
 * and "phase end" as the window opens and closes (bench.py reads the
 * server's CPU on them), then "result KEY VALUE" lines: handshakes (in the
 * window), rate (per second), errors, client_cpu_us (tlsload's own user +
 * system CPU per handshake in the window: is the load generator the
 * bottleneck?), and the protocol, cipher and group of the last handshake
 * as "info" lines. Errors go to stderr with exit status 1 when nothing
 * succeeded.
 *
 * Why not `openssl s_time -new`: it makes one connection at a time,
 * blocking, so the server idles while the client verifies and the rate is
 * the round trip's, not the server's; and it cannot say what its own CPU
 * cost was.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_CONNS 1024

enum stage { CONNECTING, HANDSHAKE, WRITING, READING };

struct slot {
    int fd;
    SSL *ssl;
    enum stage stage;
    size_t sent;
    char head[16]; /* the answer's first bytes: "HTTP/1.1 200" */
    size_t got;
};

static SSL_CTX *ctx;
static struct sockaddr_in addr;
static int ep;
static char request[256];
static size_t request_len;
static long done, errors, reused;
static int measuring;
static char last_info[160];

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static void watch(struct slot *s, int op, unsigned events)
{
    struct epoll_event ev = {.events = events, .data.ptr = s};

    if (epoll_ctl(ep, op, s->fd, &ev) != 0) {
        perror("tlsload: epoll_ctl");
        exit(1);
    }
}

/* A new connection in S. */
static void start(struct slot *s)
{
    static const struct linger hard = {1, 0};
    int one = 1;

    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (s->fd < 0) {
        perror("tlsload: socket");
        exit(1);
    }
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* We close once the server has: a reset rather than a TIME_WAIT for
     * each of thousands of connections a second on our side. */
    setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
    s->stage = CONNECTING;
    s->sent = s->got = 0;
    if (connect(s->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 &&
        errno != EINPROGRESS) {
        perror("tlsload: connect");
        exit(1);
    }
    s->ssl = SSL_new(ctx);
    if (s->ssl == NULL || !SSL_set_fd(s->ssl, s->fd)) {
        fprintf(stderr, "tlsload: SSL_new failed\n");
        exit(1);
    }
    SSL_set_connect_state(s->ssl);
    watch(s, EPOLL_CTL_ADD, EPOLLOUT);
}

static void finish(struct slot *s, int ok)
{
    if (ok && SSL_session_reused(s->ssl)) {
        reused++;
        ok = 0;
    }
    if (ok && measuring)
        done++;
    else if (!ok && measuring)
        errors++;
    if (ok)
        snprintf(last_info, sizeof(last_info), "%s %s %s",
                 SSL_get_version(s->ssl), SSL_get_cipher_name(s->ssl),
                 SSL_group_to_name(s->ssl, SSL_get_negotiated_group(s->ssl)));
    SSL_free(s->ssl);
    close(s->fd);
    ERR_clear_error();
    start(s);
}

/* The SSL call that returned RET wants to wait: for which edge. */
static int wait_for(struct slot *s, int ret)
{
    int e = SSL_get_error(s->ssl, ret);

    if (e == SSL_ERROR_WANT_READ)
        watch(s, EPOLL_CTL_MOD, EPOLLIN);
    else if (e == SSL_ERROR_WANT_WRITE)
        watch(s, EPOLL_CTL_MOD, EPOLLOUT);
    else
        return -1;
    return 0;
}

static void step(struct slot *s)
{
    char buf[4096];
    size_t n;
    int ret;

    for (;;) {
        switch (s->stage) {
        case CONNECTING:
        case HANDSHAKE:
            s->stage = HANDSHAKE;
            if ((ret = SSL_do_handshake(s->ssl)) != 1) {
                if (wait_for(s, ret) != 0)
                    finish(s, 0);
                return;
            }
            s->stage = WRITING;
            break;
        case WRITING:
            if ((ret = SSL_write_ex(s->ssl, request + s->sent,
                                    request_len - s->sent, &n)) != 1) {
                if (wait_for(s, ret) != 0)
                    finish(s, 0);
                return;
            }
            s->sent += n;
            if (s->sent == request_len)
                s->stage = READING;
            break;
        case READING:
            if ((ret = SSL_read_ex(s->ssl, buf, sizeof(buf), &n)) != 1) {
                int e = SSL_get_error(s->ssl, ret);

                if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL)
                    finish(s, s->got >= 12 &&
                                  memcmp(s->head, "HTTP/1.1 200", 12) == 0);
                else if (wait_for(s, ret) != 0)
                    finish(s, 0);
                return;
            }
            if (s->got < sizeof(s->head)) {
                size_t take =
                    sizeof(s->head) - s->got < n ? sizeof(s->head) - s->got : n;
                memcpy(s->head + s->got, buf, take);
                s->got += take;
            }
            break;
        }
    }
}

static void run_for(double seconds)
{
    struct epoll_event evs[256];
    double end = now() + seconds;

    while (now() < end) {
        int n = epoll_wait(ep, evs, 256, 100);

        for (int i = 0; i < n; i++)
            step(evs[i].data.ptr);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: tlsload -p PORT [-c 16] [-d 8] [-w 1] [-P /] "
                    "[-H 127.0.0.1]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *path = "/";
    int port = 0, conns = 16, opt;
    double duration = 8, warmup = 1, t0, c0, elapsed, cpu;
    static struct slot slots[MAX_CONNS];

    while ((opt = getopt(argc, argv, "p:c:d:w:P:H:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'c': conns = atoi(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 'P': path = optarg; break;
        case 'H': host = optarg; break;
        default: usage();
        }
    }
    if (port <= 0 || conns <= 0 || conns > MAX_CONNS || duration <= 0)
        usage();
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        usage();
    request_len = (size_t)snprintf(request, sizeof(request),
                                   "GET %s HTTP/1.1\r\nHost: %s\r\n"
                                   "Connection: close\r\n\r\n",
                                   path, host);
    /* A full handshake every time: no tickets asked for, nothing cached,
     * and the certificate not checked against a CA (the handshake's own
     * signature still is: that is the handshake's cost). */
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        return 1;
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if ((ep = epoll_create1(0)) < 0)
        return 1;
    for (int i = 0; i < conns; i++)
        start(&slots[i]);
    run_for(warmup);
    measuring = 1;
    printf("phase measure\n");
    fflush(stdout);
    t0 = now();
    c0 = cpu_seconds();
    run_for(duration);
    measuring = 0;
    elapsed = now() - t0;
    cpu = cpu_seconds() - c0;
    printf("phase end\n");
    printf("result handshakes %ld\n", done);
    printf("result rate %.1f\n", done / elapsed);
    printf("result errors %ld\n", errors);
    printf("result client_cpu_us %.2f\n", done ? cpu * 1e6 / done : 0.0);
    printf("result client_busy %.3f\n", cpu / elapsed);
    printf("info %s\n", last_info);
    fflush(stdout);
    if (reused)
        fprintf(stderr, "tlsload: %ld sessions resumed (counted as errors)\n",
                reused);
    return done > 0 ? 0 : 1;
}
