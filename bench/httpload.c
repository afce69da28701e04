/*
 * httpload: the HTTP/1.1 keep-alive load generator of bench/'s sleep
 * scenarios (bench/bench.py runs it where one wrk thread would be the
 * limit: 5,000 connections each waiting 100 ms for its answer want 50,000
 * requests/s, and wrk spends about 20 µs of its one core on each). One
 * thread, epoll, every connection non-blocking, so it can be pinned to the
 * load CPU; it reports its own CPU time per request so the claim that it
 * is not the limit can be checked on every run.
 *
 *     httpload -p PORT [-H 127.0.0.1] [-c 5000] [-d 8] [-w 1] [-t 60]
 *              [--path /sleep] [--expect-body 'Hello, World!'] [--ramp 0]
 *
 * It opens -c connections (at most CONNECT_WINDOW connects in flight;
 * EAGAIN, ECONNREFUSED and a connect that times out are retried until the
 * step timeout -t), then every connection sends GET PATH, waits for the
 * whole answer and sends the next: -w seconds of warm-up (0: the first
 * requests a server sees are measured), then -d measured seconds, then the
 * answers in flight are awaited (and checked) but not counted. The clock
 * starts when all connections are open, so a cold server's accepts are
 * not in the window, but its first requests are, all sent at once, or
 * with --ramp spread evenly over that many seconds (connection i's at
 * RAMP * i / CONNS): the phases a steady load has, where all at once is a
 * burst one worker serves one request after the other.
 *
 * Every answer is checked: "HTTP/1.1 200", a Content-Length or a chunked
 * body (parsed chunk by chunk), no Connection: close, the body byte for
 * byte when --expect-body is given, and no byte the request did not ask
 * for; a close, a reset or an answer slower than -t fails the run (exit
 * status 1, the reason on stderr), so a broken server cannot look fast.
 *
 * A request's latency runs from its own send to the end of its answer:
 * the first requests, sent one after the other in one loop (5,000 sends
 * take this thread about 40 ms), are each timed from their send, as wrk
 * times each request from its write, not from the loop's start.
 *
 * Output: "phase ..." lines as the run goes (bench.py reads the server's
 * CPU on "measure" and "end") and "result KEY VALUE" lines at the end:
 * requests, seconds, rps, latency p50/p75/p90/p99 in ms (a log-linear
 * histogram, within 1 %), errors (0: any error ends the run), its own CPU,
 * and first_p50/p99/max: the latency of each connection's first answer,
 * in the window or not (with -w 0, what a cold server's burst costs);
 * first_sent_ms and first_answered_ms: the spans, first to last, over
 * which those requests went and their answers came. Every request waits
 * alike (the sleep scenarios), so a server that keeps up with the burst
 * answers it over the span it was sent over, and one that does not over
 * what serving it took: the difference over the connections is what a
 * first request cost it beyond the gap between two sends.
 *
 * Per request: one send, and one recv when the answer comes in one piece
 * (the socket is level-triggered and a short read means it is drained);
 * no allocation after set-up.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"

#define IN_CAP 4096          /* a head must fit; a body streams through */
#define CONNECT_WINDOW 1024  /* connects in flight while opening */
#define CONNECT_RETRY 0.02   /* seconds before a refused connect is retried */
#define CONNECT_PATIENCE 3.0 /* seconds a connect may hang before a retry */
#define SUB_BITS 7           /* histogram: 128 steps per power of 2, < 1 % */
#define SUB (1 << SUB_BITS)
#define HIST_SIZE (SUB * 40)

enum state {
    CLOSED,     /* waiting to (re)connect */
    CONNECTING, /* connect in progress */
    IDLE,       /* open, no request in flight */
    HEAD,       /* request sent, reading the status line and headers */
    BODY,       /* Content-Length body: left bytes to come */
    CHUNK_SIZE, /* chunked: a chunk-size line */
    CHUNK_DATA, /* chunked: left bytes of the chunk */
    CHUNK_END,  /* chunked: the CRLF after a chunk's data */
    TRAILER,    /* chunked: trailer lines until an empty one */
};

struct conn {
    int fd;
    int id;
    enum state state;
    size_t left;      /* body or chunk bytes still to come */
    size_t body_seen; /* body bytes so far (checked against expect) */
    double sent_at;
    int answered;    /* answers so far, counted or not */
    double retry_at; /* CLOSED: when to connect again; CONNECTING: give up */
    size_t in_len;
    char in[IN_CAP];
};

struct hist {
    uint64_t n;
    uint64_t count[HIST_SIZE];
};

static struct {
    const char *host;
    int port;
    int conns;
    double duration, warmup, step_timeout;
    double ramp;     /* --ramp: the first requests spread over it, seconds */
    double ramp_t0;  /* ... from when */
    int started;     /* connections that sent their first request */
    const char *path;
    const char *expect; /* the body every answer must have, or NULL */
    size_t expect_len;
    char req[512];
    size_t req_len;
    struct sockaddr_in addr;
    int ep;
    struct conn *c;
    int opened, retries;
    int in_flight; /* requests sent, answers not yet complete */
    int sending;   /* a complete answer is followed by the next request */
    int measuring;
    long long done;
    struct hist all;   /* the measured answers */
    struct hist first; /* each connection's first answer, measured or not */
    /* When the first requests went and their answers came, first to last:
     * a server slower than the burst answers it over a longer span than
     * it was sent over, by what each request cost it beyond the gap
     * between two sends. */
    double first_sent[2], first_answered[2];
} g = {.host = "127.0.0.1",
       .conns = 5000,
       .duration = 8,
       .warmup = 1,
       .step_timeout = 60,
       .path = "/",
       .first_sent = {0, -1},
       .first_answered = {0, -1}};


/* ------------------------------------------------------------------------
 * Latency: a log-linear histogram of microseconds (HdrHistogram's shape:
 * below 2 * SUB exact, above it SUB steps per power of 2, so a bucket is
 * less than 1/SUB of its value wide). No allocation, any run length.
 * ------------------------------------------------------------------------ */

static int bucket_of(uint64_t us)
{
    if (us < 2 * SUB)
        return (int)us;
    int msb = 63 - __builtin_clzll(us); /* >= SUB_BITS + 1 */
    int shift = msb - SUB_BITS;
    int i = (shift + 1) * SUB + (int)((us >> shift) - SUB);
    return i < HIST_SIZE ? i : HIST_SIZE - 1;
}

/* The middle of bucket I, in microseconds. */
static double bucket_value(int i)
{
    if (i < 2 * SUB)
        return i;
    int shift = i / SUB - 1;
    uint64_t lo = (uint64_t)(i % SUB + SUB) << shift;
    return (double)lo + (double)(1ull << shift) / 2;
}

static void record(struct hist *h, double seconds)
{
    h->count[bucket_of(seconds > 0 ? (uint64_t)(seconds * 1e6) : 0)]++;
    h->n++;
}

static double percentile_ms(const struct hist *h, double p)
{
    uint64_t rank = (uint64_t)(p * (double)h->n), seen = 0;

    if (!h->n)
        return 0;
    if (rank >= h->n)
        rank = h->n - 1;
    for (int i = 0; i < HIST_SIZE; i++) {
        seen += h->count[i];
        if (seen > rank)
            return bucket_value(i) / 1e3;
    }
    return bucket_value(HIST_SIZE - 1) / 1e3;
}

/* ------------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------------ */

static void watch(struct conn *c, int op, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};

    if (epoll_ctl(g.ep, op, c->fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
}

static void start_connect(struct conn *c, double t)
{
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket: %s (open files limit?)", strerror(errno));
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->state = CONNECTING;
    c->retry_at = t + CONNECT_PATIENCE;
    if (connect(c->fd, (struct sockaddr *)&g.addr, sizeof(g.addr)) < 0 &&
        errno != EINPROGRESS) {
        if (errno != EAGAIN && errno != ECONNREFUSED)
            die("connection %d: connect: %s", c->id, strerror(errno));
        close(c->fd); /* tried again by retry_connects */
        c->fd = -1;
        c->state = CLOSED;
        c->retry_at = t + CONNECT_RETRY;
        g.retries++;
        return;
    }
    watch(c, EPOLL_CTL_ADD, EPOLLOUT);
}

/* A connect refused, or hanging past CONNECT_PATIENCE (a SYN dropped by a
 * full listen queue waits a second or more for its resend): try anew. */
static void retry_later(struct conn *c, double t)
{
    epoll_ctl(g.ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = CLOSED;
    c->retry_at = t + CONNECT_RETRY;
    g.retries++;
}

static void send_request(struct conn *c, double t)
{
    ssize_t n = send(c->fd, g.req, g.req_len, MSG_NOSIGNAL);

    /* A request of a few dozen bytes into an idle socket's empty buffer:
     * anything short of all of it is a fault, not back-pressure. */
    if (n != (ssize_t)g.req_len)
        die("connection %d: send: %s", c->id,
            n < 0 ? strerror(errno) : "short write");
    c->state = HEAD;
    c->sent_at = t;
    c->body_seen = 0;
    g.in_flight++;
}

static void on_connected(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);

    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == ECONNREFUSED || err == EAGAIN || err == ETIMEDOUT) {
        retry_later(c, now());
        return;
    }
    if (err)
        die("connection %d: connect: %s", c->id, strerror(err));
    c->state = IDLE;
    watch(c, EPOLL_CTL_MOD, EPOLLIN);
    g.opened++;
}

/* ------------------------------------------------------------------------
 * Answers: parsed as they come, checked, counted
 * ------------------------------------------------------------------------ */

static void check_body(struct conn *c, const char *p, size_t n)
{
    if (g.expect && (c->body_seen + n > g.expect_len ||
                     memcmp(p, g.expect + c->body_seen, n) != 0))
        die("connection %d: the body differs from --expect-body at byte %zu "
            "(\"%.*s\")",
            c->id, c->body_seen, (int)(n < 40 ? n : 40), p);
    c->body_seen += n;
}

/* Widen the span [SPAN[0], SPAN[1]] to hold T (empty: SPAN[1] < 0). */
static void widen(double span[2], double t)
{
    if (span[1] < 0 || t < span[0])
        span[0] = t;
    if (t > span[1])
        span[1] = t;
}

static double span_ms(const double span[2])
{
    return span[1] < 0 ? 0 : (span[1] - span[0]) * 1000;
}

static void answer_done(struct conn *c, double t)
{
    if (g.expect && c->body_seen != g.expect_len)
        die("connection %d: a %zu-byte body, --expect-body has %zu", c->id,
            c->body_seen, g.expect_len);
    c->state = IDLE;
    g.in_flight--;
    if (!c->answered++) {
        record(&g.first, t - c->sent_at);
        widen(g.first_answered, t);
    }
    if (g.measuring) {
        g.done++;
        record(&g.all, t - c->sent_at);
    }
}

/* The trimmed value of header NAME in the head [HEAD, END), or NULL. */
static const char *header(const char *head, const char *end, const char *name,
                          size_t *vlen)
{
    size_t nl = strlen(name);

    for (const char *p = memchr(head, '\n', (size_t)(end - head)); p && p < end;
         p = memchr(p, '\n', (size_t)(end - p))) {
        const char *line = ++p;
        const char *eol = memchr(line, '\r', (size_t)(end - line));
        if (!eol || (size_t)(eol - line) <= nl || line[nl] != ':' ||
            strncasecmp(line, name, nl) != 0)
            continue;
        const char *v = line + nl + 1;
        while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
        while (eol > v && (eol[-1] == ' ' || eol[-1] == '\t'))
            eol--;
        *vlen = (size_t)(eol - v);
        return v;
    }
    return NULL;
}

/* Every line after the status line is NAME: VALUE, NAME a token: a stray
 * line (another answer's status line, say) is a fault, not a header. */
static void check_header_lines(struct conn *c, const char *b, const char *end)
{
    const char *line = (const char *)memchr(b, '\n', (size_t)(end - b)) + 1;

    while (line < end) {
        const char *eol = memchr(line, '\r', (size_t)(end - line));
        size_t name = strspn(line, "!#$%&'*+-.^_`|~0123456789"
                                   "abcdefghijklmnopqrstuvwxyz"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
        if (!eol || eol[1] != '\n' || name == 0 || line + name >= eol ||
            line[name] != ':')
            die("connection %d: a bad header line \"%.*s\"", c->id,
                (int)(eol ? eol - line : 40), line);
        line = eol + 2;
    }
}

/* The head, when it is all in: returns the bytes it took, 0 if incomplete. */
static size_t parse_head(struct conn *c, const char *b, size_t avail, double t)
{
    const char *end = memmem(b, avail, "\r\n\r\n", 4), *v;
    size_t vlen;

    if (!end) {
        if (avail == IN_CAP)
            die("connection %d: a head longer than %d bytes", c->id, IN_CAP);
        return 0;
    }
    end += 2; /* the last header line's CRLF stays in */
    if (avail < 13 || memcmp(b, "HTTP/1.1 200 ", 13) != 0)
        die("connection %d: not \"HTTP/1.1 200\": \"%.*s\"", c->id,
            (int)strcspn(b, "\r"), b);
    check_header_lines(c, b, end);
    if ((v = header(b, end, "Connection", &vlen)) && vlen == 5 &&
        strncasecmp(v, "close", 5) == 0)
        die("connection %d: the server closes a keep-alive connection",
            c->id);
    const char *te = header(b, end, "Transfer-Encoding", &vlen);
    if (te && vlen == 7 && strncasecmp(te, "chunked", 7) == 0) {
        c->state = CHUNK_SIZE;
    } else if (te) {
        die("connection %d: Transfer-Encoding \"%.*s\"", c->id, (int)vlen, te);
    } else if ((v = header(b, end, "Content-Length", &vlen))) {
        char *stop;
        char num[24];
        if (vlen == 0 || vlen >= sizeof(num))
            die("connection %d: a bad Content-Length", c->id);
        memcpy(num, v, vlen);
        num[vlen] = '\0';
        unsigned long long n = strtoull(num, &stop, 10);
        if (*stop || num[0] == '-' || num[0] == '+')
            die("connection %d: a bad Content-Length \"%s\"", c->id, num);
        c->left = (size_t)n;
        c->state = BODY;
        if (!n)
            answer_done(c, t); /* no body byte will come to finish it */
    } else {
        die("connection %d: neither Content-Length nor chunked: a body to "
            "the close is no keep-alive answer",
            c->id);
    }
    return (size_t)(end + 2 - b);
}

/* A chunk-size line (hex, extensions after ';' ignored). */
static size_t parse_chunk_size(struct conn *c, const char *b, size_t avail)
{
    const char *eol = memmem(b, avail, "\r\n", 2);
    size_t n = 0;
    int digits = 0;

    if (!eol) {
        if (avail > 64)
            die("connection %d: a chunk-size line too long", c->id);
        return 0;
    }
    for (const char *p = b; p < eol && *p != ';'; p++, digits++) {
        int d = *p >= '0' && *p <= '9'   ? *p - '0'
                : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                                         : -1;
        if (d < 0 || digits >= 15)
            die("connection %d: a bad chunk size \"%.*s\"", c->id,
                (int)(eol - b), b);
        n = n * 16 + (size_t)d;
    }
    if (!digits)
        die("connection %d: an empty chunk size", c->id);
    c->left = n;
    c->state = n ? CHUNK_DATA : TRAILER;
    return (size_t)(eol + 2 - b);
}

/* One step of C's answer on the bytes B: returns the bytes taken, 0 when
 * more must come first. */
static size_t parse_step(struct conn *c, const char *b, size_t avail, double t)
{
    size_t n;

    switch (c->state) {
    case HEAD: return parse_head(c, b, avail, t);
    case BODY:
    case CHUNK_DATA:
        n = avail < c->left ? avail : c->left;
        check_body(c, b, n);
        c->left -= n;
        if (!c->left && c->state == BODY)
            answer_done(c, t);
        else if (!c->left)
            c->state = CHUNK_END;
        return n;
    case CHUNK_SIZE: return parse_chunk_size(c, b, avail);
    case CHUNK_END:
        if (avail < 2)
            return 0;
        if (b[0] != '\r' || b[1] != '\n')
            die("connection %d: no CRLF after a chunk", c->id);
        c->state = CHUNK_SIZE;
        return 2;
    case TRAILER: {
        const char *eol = memmem(b, avail, "\r\n", 2);
        if (!eol) {
            if (avail == IN_CAP)
                die("connection %d: a trailer too long", c->id);
            return 0;
        }
        if (eol == b)
            answer_done(c, t);
        return (size_t)(eol + 2 - b);
    }
    default:
        die("connection %d: %zu bytes nobody asked for: \"%.*s\"", c->id,
            avail, (int)(avail < 40 ? avail : 40), b);
    }
}

static void on_readable(struct conn *c)
{
    ssize_t n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
    double t = now();
    size_t off = 0, used;

    if (n < 0 && errno == EAGAIN)
        return;
    if (n < 0)
        die("connection %d: recv: %s", c->id, strerror(errno));
    if (n == 0)
        die("connection %d: the server closed the connection%s", c->id,
            c->state == IDLE ? "" : " in the middle of an answer");
    c->in_len += (size_t)n;
    /* Level-triggered: bytes left in the socket wake the next epoll_wait. */
    while (off < c->in_len && (used = parse_step(c, c->in + off,
                                                 c->in_len - off, t))) {
        off += used;
        if (c->state == IDLE && off < c->in_len)
            die("connection %d: %zu bytes after the answer: \"%.*s\"", c->id,
                c->in_len - off,
                (int)(c->in_len - off < 40 ? c->in_len - off : 40),
                c->in + off);
    }
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    if (c->state == IDLE && g.sending)
        send_request(c, t);
}

static void on_event(struct conn *c, uint32_t events)
{
    if (c->state == CONNECTING) {
        on_connected(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        on_readable(c);
}

/* ------------------------------------------------------------------------
 * The run
 * ------------------------------------------------------------------------ */

static int never(void)
{
    return 0;
}
static int all_open(void)
{
    return g.opened == g.conns;
}
static int none_in_flight(void)
{
    return g.in_flight == 0;
}

/* While opening: start connects up to the window, retry the refused and
 * the hanging. */
static void pace_connects(double t)
{
    int pending = 0;

    for (int i = 0; i < g.conns; i++) {
        struct conn *c = &g.c[i];
        if (c->state == CONNECTING && t >= c->retry_at)
            retry_later(c, t);
        if (c->state == CONNECTING)
            pending++;
    }
    for (int i = 0; i < g.conns && pending < CONNECT_WINDOW; i++) {
        struct conn *c = &g.c[i];
        if (c->state == CLOSED && t >= c->retry_at) {
            start_connect(c, t);
            pending += c->state == CONNECTING;
        }
    }
}

/* The connections whose first request is due: all at once, or with
 * --ramp connection I at RAMP * I / CONNS after the start. Each is timed
 * from its own send (now(), not T: the loop takes tens of ms). */
static void start_due(double t)
{
    while (g.sending && g.started < g.conns &&
           g.ramp_t0 + g.ramp * g.started / g.conns <= t) {
        double sent = now();

        send_request(&g.c[g.started++], sent);
        widen(g.first_sent, sent);
    }
}

/* Run the loop until DONE() or DEADLINE; OPENING paces the connects. */
static void run_until(int (*done)(void), double deadline, int opening)
{
    static struct epoll_event ev[1024];

    while (!done()) {
        double t = now();
        if (t >= deadline)
            return;
        if (opening)
            pace_connects(t);
        start_due(t);
        double left = deadline - t;
        int ms = opening ? 5
                 : g.started < g.conns && g.sending ? 1
                                                    : (int)(left * 1000) + 1;
        int n = epoll_wait(g.ep, ev, 1024, ms);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++)
            on_event(ev[i].data.ptr, ev[i].events);
    }
}

/* An answer overdue by the step timeout is a hung server, not latency. */
static void check_overdue(double t)
{
    for (int i = 0; i < g.conns; i++)
        if (g.c[i].state != IDLE && t - g.c[i].sent_at > g.step_timeout)
            die("connection %d: no whole answer in %.0f s", i, g.step_timeout);
}

/* Load until DEADLINE, checking for overdue answers once a second. */
static void load_until(double deadline)
{
    for (double t = now(); t < deadline; t = now()) {
        run_until(never, t + 1 < deadline ? t + 1 : deadline, 0);
        check_overdue(now());
    }
}

static void open_all(void)
{
    double t0 = now();

    for (int i = 0; i < g.conns; i++)
        g.c[i].state = CLOSED, g.c[i].fd = -1, g.c[i].retry_at = t0;
    run_until(all_open, t0 + g.step_timeout, 1);
    if (!all_open())
        die("%d of %d connections opened in %.0f s", g.opened, g.conns,
            g.step_timeout);
    phase("open %d %.3f %d", g.conns, now() - t0, g.retries);
}

static void run(void)
{
    open_all();
    g.sending = 1;
    double t = now();
    g.ramp_t0 = t;
    start_due(t);
    if (g.warmup > 0) {
        load_until(t + g.warmup);
        phase("warm");
    }
    phase("measure");
    double t0 = now(), cpu0 = cpu_seconds();
    g.measuring = 1;
    load_until(t0 + g.duration);
    g.measuring = 0;
    double secs = now() - t0, cpu = cpu_seconds() - cpu0;
    phase("end");
    /* The answers in flight: awaited and checked, not counted. */
    g.sending = 0;
    run_until(none_in_flight, now() + g.step_timeout, 0);
    if (g.in_flight)
        die("%d answers missing %.0f s after the end", g.in_flight,
            g.step_timeout);
    printf("result requests %lld\nresult seconds %.3f\nresult rps %.1f\n"
           "result p50_ms %.3f\nresult p75_ms %.3f\nresult p90_ms %.3f\n"
           "result p99_ms %.3f\nresult max_ms %.3f\nresult errors 0\n"
           "result client_cpu_s %.3f\nresult client_cpu_us %.3f\n"
           "result first_p50_ms %.3f\nresult first_p99_ms %.3f\n"
           "result first_max_ms %.3f\n"
           "result first_sent_ms %.3f\nresult first_answered_ms %.3f\n",
           g.done, secs, g.done / secs, percentile_ms(&g.all, 0.5),
           percentile_ms(&g.all, 0.75), percentile_ms(&g.all, 0.9),
           percentile_ms(&g.all, 0.99), percentile_ms(&g.all, 1.0), cpu,
           g.done ? cpu * 1e6 / (double)g.done : 0,
           percentile_ms(&g.first, 0.5), percentile_ms(&g.first, 0.99),
           percentile_ms(&g.first, 1.0), span_ms(g.first_sent),
           span_ms(g.first_answered));
}

/* ------------------------------------------------------------------------
 * Set-up
 * ------------------------------------------------------------------------ */

static void usage(void)
{
    fputs("usage: httpload -p PORT [-H HOST] [-c CONNS] [-d SECONDS] "
          "[-w WARMUP]\n"
          "       [-t STEP_TIMEOUT] [--path PATH] [--expect-body TEXT] "
          "[--ramp SECONDS]\n",
          stderr);
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    static const struct option longs[] = {
        {"path", required_argument, NULL, 'P'},
        {"expect-body", required_argument, NULL, 'E'},
        {"ramp", required_argument, NULL, 'R'},
        {NULL, 0, NULL, 0},
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "p:H:c:d:w:t:", longs, NULL)) != -1) {
        switch (opt) {
        case 'p': g.port = atoi(optarg); break;
        case 'H': g.host = optarg; break;
        case 'c': g.conns = atoi(optarg); break;
        case 'd': g.duration = atof(optarg); break;
        case 'w': g.warmup = atof(optarg); break;
        case 't': g.step_timeout = atof(optarg); break;
        case 'P': g.path = optarg; break;
        case 'E': g.expect = optarg; break;
        case 'R': g.ramp = atof(optarg); break;
        default: usage();
        }
    }
    if (optind != argc || g.port <= 0 || g.port > 65535 || g.conns < 1 ||
        g.duration <= 0 || g.warmup < 0 || g.step_timeout <= 0 || g.ramp < 0 ||
        g.path[0] != '/' || strpbrk(g.path, " \r\n"))
        usage();
    g.expect_len = g.expect ? strlen(g.expect) : 0;
    int n = snprintf(g.req, sizeof(g.req), "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n",
                     g.path, g.host, g.port);
    if (n < 0 || (size_t)n >= sizeof(g.req))
        die("the path is too long");
    g.req_len = (size_t)n;
    g.addr = (struct sockaddr_in){.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)g.port)};
    if (inet_pton(AF_INET, g.host, &g.addr.sin_addr) != 1)
        die("bad host %s (an IPv4 address)", g.host);
}

/* Thousands of sockets: the soft open-files limit up to the hard one. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)g.conns + 16 > rl.rlim_cur)
        die("%d connections need more open files than the limit %llu", g.conns,
            (unsigned long long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    raise_nofile();
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    g.c = calloc((size_t)g.conns, sizeof(*g.c));
    if (g.ep < 0 || !g.c)
        die("set-up: %s", strerror(errno));
    for (int i = 0; i < g.conns; i++)
        g.c[i].id = i;
    run();
    return 0;
}
