/*
 * The resolver tests' DNS server (dns_responder.h). Answers are queued
 * with the time they are due and sent by the thread's poll loop, which
 * uses the C library's calls directly: it is no coroutine, so patch_all's
 * definitions pass them through anyway.
 */
#include "dns_responder.h"

#include <arpa/inet.h>
#include <check.h>
#include <ctype.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "run_suite.h"

#define MAX_PENDING 64

struct pending {
    int64_t due_ms;
    struct sockaddr_in to;
    unsigned char msg[512];
    size_t len;
};

/* The question's name, dotted and lower-cased, into NAME; its end. */
static size_t read_name(const unsigned char *q, size_t len, size_t at,
                        char *name, size_t cap)
{
    size_t out = 0;

    while (at < len && q[at] != 0) {
        size_t n = q[at++];

        if (n > 63 || at + n > len || out + n + 2 > cap)
            return 0;
        if (out)
            name[out++] = '.';
        for (size_t i = 0; i < n; i++)
            name[out++] = (char)tolower(q[at + i]);
        at += n;
    }
    name[out] = '\0';
    return at < len ? at + 1 : 0;
}

/* NAME as DNS labels at OUT; the bytes written. */
static size_t put_name(unsigned char *out, const char *name)
{
    size_t at = 0;

    while (*name) {
        size_t n = strcspn(name, ".");

        out[at++] = (unsigned char)n;
        memcpy(out + at, name, n);
        at += n;
        name += n + (name[n] == '.');
    }
    out[at++] = 0;
    return at;
}

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

/* One answer record of TYPE with VALUE at OUT; the bytes written. */
static size_t put_answer(unsigned char *out, int type, const char *value)
{
    size_t rdlen;

    put16(out, 0xc00c); /* the question's name */
    put16(out + 2, (unsigned)type);
    put16(out + 4, 1);
    memcpy(out + 6, "\0\0\0\x3c", 4); /* TTL 60 */
    if (type == DNS_A) {
        inet_pton(AF_INET, value, out + 12);
        rdlen = 4;
    } else if (type == DNS_AAAA) {
        inet_pton(AF_INET6, value, out + 12);
        rdlen = 16;
    } else {
        rdlen = put_name(out + 12, value);
    }
    put16(out + 10, (unsigned)rdlen);
    return 12 + rdlen;
}

/* The reply to the query Q (LEN bytes) into P. 0 when Q is no query. */
static int reply(struct dns_responder *r, const unsigned char *q, size_t len,
                 struct pending *p)
{
    char name[256];
    size_t end = len >= 12 ? read_name(q, len, 12, name, sizeof(name)) : 0;
    unsigned type, answers = 0, known = 0;

    if (end == 0 || end + 4 > len)
        return 0;
    type = (unsigned)(q[end] << 8 | q[end + 1]);
    end += 4;
    memcpy(p->msg, q, end);
    p->len = end;
    for (const struct dns_record *d = r->records; d && d->name; d++) {
        if (strcasecmp(d->name, name) != 0)
            continue;
        known = 1;
        if ((unsigned)d->type == type && p->len + 300 < sizeof(p->msg)) {
            p->len += put_answer(p->msg + p->len, d->type, d->value);
            answers++;
        }
    }
    /* QR, RD, RA; NXDOMAIN for a name it does not know at all. */
    put16(p->msg + 2, 0x8180 | (known ? 0 : 3));
    put16(p->msg + 4, 1);
    put16(p->msg + 6, answers);
    put16(p->msg + 8, 0);
    put16(p->msg + 10, 0);
    return 1;
}

static void receive(struct dns_responder *r, struct pending *queue, int *n)
{
    unsigned char q[512];
    struct pending p;
    socklen_t alen = sizeof(p.to);
    ssize_t len =
        recvfrom(r->fd, q, sizeof(q), 0, (struct sockaddr *)&p.to, &alen);

    if (len <= 0)
        return;
    __atomic_add_fetch(&r->queries, 1, __ATOMIC_SEQ_CST);
    if (r->silent || *n == MAX_PENDING || !reply(r, q, (size_t)len, &p))
        return;
    p.due_ms = gn_test_now_ms() + r->delay_ms;
    queue[(*n)++] = p;
}

/* Send what is due; the ms until the next answer is (-1: none). */
static int send_due(struct dns_responder *r, struct pending *queue, int *n)
{
    int64_t now = gn_test_now_ms(), next = -1;

    for (int i = 0; i < *n;) {
        if (queue[i].due_ms <= now) {
            sendto(r->fd, queue[i].msg, queue[i].len, 0,
                   (struct sockaddr *)&queue[i].to, sizeof(queue[i].to));
            queue[i] = queue[--*n];
            continue;
        }
        if (next < 0 || queue[i].due_ms - now < next)
            next = queue[i].due_ms - now;
        i++;
    }
    return (int)next;
}

static void *serve(void *arg)
{
    struct dns_responder *r = arg;
    static _Thread_local struct pending queue[MAX_PENDING];
    int n = 0, wait_ms = -1;

    for (;;) {
        struct pollfd fds[2] = {{.fd = r->fd, .events = POLLIN},
                                {.fd = r->stop[0], .events = POLLIN}};

        if (poll(fds, 2, wait_ms) < 0)
            continue;
        if (fds[1].revents)
            return NULL;
        if (fds[0].revents)
            receive(r, queue, &n);
        wait_ms = send_due(r, queue, &n);
    }
}

void dns_responder_start(struct dns_responder *r, const char *options,
                         char *path, size_t path_len)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    FILE *f;
    int fd;

    r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(r->fd, 0);
    ck_assert_int_eq(bind(r->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(getsockname(r->fd, (struct sockaddr *)&sin, &len), 0);
    r->port = ntohs(sin.sin_port);
    r->queries = 0;
    ck_assert_int_eq(pipe(r->stop), 0);
    ck_assert_int_eq(pthread_create(&r->thread, NULL, serve, r), 0);
    snprintf(path, path_len, "/tmp/gn-resolv-XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "nameserver 127.0.0.1:%d\n", r->port);
    if (options != NULL)
        fprintf(f, "options %s\n", options);
    if (r->search != NULL)
        fprintf(f, "search %s\n", r->search);
    ck_assert_int_eq(fclose(f), 0);
}

void dns_responder_stop(struct dns_responder *r, const char *path)
{
    ck_assert_int_eq(write(r->stop[1], "x", 1), 1);
    pthread_join(r->thread, NULL);
    close(r->stop[0]);
    close(r->stop[1]);
    close(r->fd);
    unlink(path);
}
