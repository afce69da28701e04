/*
 * wsload: the WebSocket load generator of bench/ (bench/bench.py runs it
 * against greenicorn, Node's ws and gevent-websocket, and in sio mode
 * against Socket.IO servers: greenicorn's, Node's socket.io, python-socketio). One thread, epoll,
 * every connection non-blocking, so it can be pinned to the load CPU and
 * still cost less CPU per message than the server it drives; it reports its
 * own CPU time so that claim can be checked on every run.
 *
 *     wsload echo      -p PORT [-c 50] [-d 8] [-w 1] [-s 32]
 *     wsload idle      -p PORT [-c 10000] [-n]
 *     wsload broadcast -p PORT [-c 5000] [-r 10]
 *     wsload sio       -p PORT [-c 50] [-d 8] [-w 1] [-s 32]
 *
 * (-H HOST, default 127.0.0.1; -t: seconds any one step may take, 60.)
 *
 * echo: each connection sends a masked text message of -s bytes and waits
 * for its echo, for -w seconds of warm-up and then -d measured seconds;
 * round trips/s, latency p50/p99. idle: -c WebSockets open, each exchanges
 * one message (none with -n: handshake only), then all are held until
 * stdin closes ("check" on stdin echoes once more on every one).
 * broadcast: -c WebSockets open; a round sends "broadcast:<payload>" on
 * one of them and times until the last one received <payload> (the
 * protocol is in bench/README.md); one warm-up round, then -r rounds,
 * median reported.
 *
 * sio: echo's loop spoken as Socket.IO 5 over Engine.IO 4's WebSocket
 * transport (no polling first): GET /socket.io/?EIO=4&transport=websocket,
 * the server's OPEN packet "0{...}", "40" to join the main namespace and
 * its "40{...}", then each connection sends 42<id>["echo","<-s bytes>"]
 * and waits for the ack 43<id>["<the same bytes>"]; server pings "2" are
 * answered "3". The payload is plain ASCII, so every server's JSON writes
 * the ack byte for byte as expected.
 *
 * Everything received is checked (handshake accept key, unmasked frames,
 * opcode, length, payload, exactly once), so a broken server fails the run
 * instead of looking fast. Output is "phase ..." lines as the run goes
 * (bench.py snapshots the server's CPU and RSS on them) and "result KEY
 * VALUE" lines at the end; errors go to stderr with exit status 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

#define IN_CAP 2048        /* a handshake answer or a few small frames */
#define MAX_PAYLOAD 256    /* -s is bounded so two frames fit OUT_CAP */
#define SIO_WRAP 40        /* 42<id>["echo",""] around a sio payload */
#define OUT_CAP 640        /* a handshake request or a few small frames */
#define CONNECT_WINDOW 256 /* handshakes in flight while opening many */

enum state { CONNECTING, HANDSHAKE, OPEN };

struct conn {
    int fd;
    int id;
    enum state state;
    int waiting; /* an echo is due */
    int got;     /* broadcast: this round's message came */
    int sio;     /* sio: 1 awaits OPEN, 2 awaits CONNECT, 3 connected */
    uint32_t seq;
    double sent_at;
    char accept[32]; /* the Sec-WebSocket-Accept we expect */
    size_t in_len, out_len, out_off;
    unsigned char expect[MAX_PAYLOAD + SIO_WRAP];
    size_t expect_len;
    unsigned char in[IN_CAP];
    unsigned char out[OUT_CAP];
};

enum mode { ECHO, IDLE, BROADCAST, SIO };

static struct {
    enum mode mode;
    const char *host;
    int port;
    int conns;
    double duration, warmup;
    int size, rounds;
    int no_prime;        /* idle -n: hold without a first echo */
    double step_timeout; /* seconds any one phase may take */
    int ep;
    struct conn *c;
    int opened;     /* handshakes completed */
    int echoes_due; /* prime/check: echoes not back yet */
    int measuring, sending;
    long long done; /* echoes received while measuring */
    double *lat;    /* their latencies, seconds */
    size_t nlat, lat_cap;
    /* broadcast */
    int in_round;
    unsigned char bpayload[64];
    size_t bpayload_len;
    int received;
    double round_start, first_at, last_at;
    uint64_t rng;
} g = {.host = "127.0.0.1",
       .conns = -1,
       .duration = 8,
       .warmup = 1,
       .size = 32,
       .rounds = 10,
       .step_timeout = 60};


static uint64_t rnd(void)
{
    g.rng ^= g.rng << 13;
    g.rng ^= g.rng >> 7;
    g.rng ^= g.rng << 17;
    return g.rng;
}

/* ------------------------------------------------------------------------
 * SHA-1 and base64, for the handshake's accept key (RFC 6455 4.2.2): a
 * server that gets it wrong is not speaking WebSocket.
 * ------------------------------------------------------------------------ */

static uint32_t rol(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20)
            f = (b & c) | (~b & d), k = 0x5a827999;
        else if (i < 40)
            f = b ^ c ^ d, k = 0x6ed9eba1;
        else if (i < 60)
            f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
        else
            f = b ^ c ^ d, k = 0xca62c1d6;
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d, d = c, c = rol(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

static void sha1(const void *data, size_t len, unsigned char out[20])
{
    uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476,
                     0xc3d2e1f0};
    const unsigned char *p = data;
    unsigned char last[128] = {0};
    size_t full = len / 64 * 64, rest = len - full;
    uint64_t bits = (uint64_t)len * 8;

    for (size_t i = 0; i < full; i += 64)
        sha1_block(h, p + i);
    memcpy(last, p + full, rest);
    last[rest] = 0x80;
    size_t total = rest + 9 <= 64 ? 64 : 128;
    for (int i = 0; i < 8; i++)
        last[total - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (size_t i = 0; i < total; i += 64)
        sha1_block(h, last + i);
    for (int i = 0; i < 20; i++)
        out[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static void base64(const unsigned char *in, size_t len, char *out)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i;

    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v =
            (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = tab[v >> 18], *out++ = tab[(v >> 12) & 63];
        *out++ = tab[(v >> 6) & 63], *out++ = tab[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 |
                     (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        *out++ = tab[v >> 18], *out++ = tab[(v >> 12) & 63];
        *out++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
    *out = '\0';
}

/* ------------------------------------------------------------------------
 * Output: a connection's bytes go out now, or wait for EPOLLOUT
 * ------------------------------------------------------------------------ */

static void watch(struct conn *c, int op, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};

    if (epoll_ctl(g.ep, op, c->fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
}

static void flush_out(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            watch(c, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
            return;
        }
        if (n < 0)
            die("connection %d: send: %s", c->id, strerror(errno));
        c->out_off += (size_t)n;
    }
    if (c->out_off > 0 && c->out_len == c->out_off) {
        /* EPOLLOUT was on only if a send came short: turn it off. */
        c->out_len = c->out_off = 0;
    }
}

static void queue_out(struct conn *c, const void *data, size_t len)
{
    if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + len > OUT_CAP)
        die("connection %d: output backed up", c->id);
    int was_empty = c->out_len == 0;
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    if (was_empty)
        flush_out(c);
}

/* A client frame: FIN, OPCODE, masked with a fresh key (RFC 6455 5.3). */
static void send_frame(struct conn *c, int opcode, const void *data, size_t len)
{
    unsigned char f[8 + OUT_CAP];
    size_t h = 0;
    uint32_t key = (uint32_t)rnd();

    f[h++] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        f[h++] = (unsigned char)(0x80 | len);
    } else {
        f[h++] = 0x80 | 126;
        f[h++] = (unsigned char)(len >> 8);
        f[h++] = (unsigned char)len;
    }
    memcpy(f + h, &key, 4);
    const unsigned char *k = f + h, *p = data;
    h += 4;
    for (size_t i = 0; i < len; i++)
        f[h + i] = p[i] ^ k[i & 3];
    queue_out(c, f, h + len);
}

/* C's payload (in expect) as a Socket.IO event with ack id seq; expect
 * becomes the ack awaited. */
static void send_sio_echo(struct conn *c)
{
    char msg[MAX_PAYLOAD + SIO_WRAP];
    int n = snprintf(msg, sizeof(msg), "42%u[\"echo\",\"%.*s\"]", c->seq,
                     (int)c->expect_len, (const char *)c->expect);
    int m = snprintf((char *)c->expect, sizeof(c->expect), "43%u[\"%.*s\"]",
                     c->seq, (int)c->expect_len, msg + n - 2 - c->expect_len);

    c->expect_len = (size_t)m;
    send_frame(c, 1, msg, (size_t)n);
}

/* The next echo message of C: its id and sequence number, padded, so a
 * stale or crossed answer cannot pass for the one awaited. */
static void send_echo(struct conn *c)
{
    char head[32];
    int n = snprintf(head, sizeof(head), "%d:%u:", c->id, ++c->seq);

    for (int i = 0; i < g.size; i++)
        c->expect[i] =
            i < n ? (unsigned char)head[i] : (unsigned char)('a' + i % 26);
    c->expect_len = (size_t)g.size;
    c->waiting = 1;
    c->sent_at = now();
    if (g.mode == SIO) {
        send_sio_echo(c);
        return;
    }
    send_frame(c, 1, c->expect, c->expect_len);
}

/* ------------------------------------------------------------------------
 * Opening: connect, handshake, check the answer
 * ------------------------------------------------------------------------ */

static void start_connect(struct conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(g.port)};
    int one = 1;

    if (inet_pton(AF_INET, g.host, &sa.sin_addr) != 1)
        die("bad host %s", g.host);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket: %s (open files limit?)", strerror(errno));
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
        errno != EINPROGRESS)
        die("connection %d: connect: %s", c->id, strerror(errno));
    c->state = CONNECTING;
    watch(c, EPOLL_CTL_ADD, EPOLLIN | EPOLLOUT);
}

static void send_handshake(struct conn *c)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char raw[16], digest[20];
    char key[32], cat[80], req[OUT_CAP];

    for (int i = 0; i < 16; i++)
        raw[i] = (unsigned char)rnd();
    base64(raw, 16, key);
    snprintf(cat, sizeof(cat), "%s%s", key, guid);
    sha1(cat, strlen(cat), digest);
    base64(digest, 20, c->accept);
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     g.mode == SIO ? "/socket.io/?EIO=4&transport=websocket"
                                   : "/",
                     g.host, g.port, key);
    c->state = HANDSHAKE;
    watch(c, EPOLL_CTL_MOD, EPOLLIN);
    queue_out(c, req, (size_t)n);
}

/* The value of header NAME in the head HEAD (NUL-terminated), trimmed into
 * OUT; 0 if absent. */
static int header_value(const char *head, const char *name, char *out,
                        size_t cap)
{
    size_t nl = strlen(name);

    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) != 0 || line[nl] != ':')
            continue;
        const char *v = line + nl + 1, *end = strstr(v, "\r\n");
        while (*v == ' ' || *v == '\t')
            v++;
        while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        size_t len = (size_t)(end - v) < cap - 1 ? (size_t)(end - v) : cap - 1;
        memcpy(out, v, len);
        out[len] = '\0';
        return 1;
    }
    return 0;
}

static void on_open(struct conn *c);

/* Returns the bytes of C's input the head took, or 0 while incomplete. */
static size_t check_handshake(struct conn *c)
{
    char head[IN_CAP + 1], val[128];
    unsigned char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);

    if (!end) {
        if (c->in_len == IN_CAP)
            die("connection %d: handshake answer too long", c->id);
        return 0;
    }
    size_t len = (size_t)(end - c->in) + 4;
    memcpy(head, c->in, len);
    head[len] = '\0';
    if (strncmp(head, "HTTP/1.1 101 ", 13) != 0)
        die("connection %d: handshake refused: %.*s", c->id,
            (int)strcspn(head, "\r"), head);
    if (!header_value(head, "Sec-WebSocket-Accept", val, sizeof(val)) ||
        strcmp(val, c->accept) != 0)
        die("connection %d: wrong Sec-WebSocket-Accept", c->id);
    if (!header_value(head, "Upgrade", val, sizeof(val)) ||
        strcasecmp(val, "websocket") != 0)
        die("connection %d: no Upgrade: websocket in the 101", c->id);
    c->state = OPEN;
    if (g.mode == SIO) {
        c->sio = 1; /* open once Socket.IO's CONNECT is answered */
        return len;
    }
    g.opened++;
    on_open(c);
    return len;
}

/* ------------------------------------------------------------------------
 * Input: frames from the server, checked, then handed to the mode
 * ------------------------------------------------------------------------ */

static void on_message(struct conn *c, int opcode, const unsigned char *p,
                       size_t len);

/* Returns the bytes of C's input the frame took, or 0 while incomplete. */
static size_t parse_frame(struct conn *c, const unsigned char *b, size_t avail)
{
    if (avail < 2)
        return 0;
    int fin = b[0] & 0x80, opcode = b[0] & 0x0f;
    uint64_t len = b[1] & 0x7f;
    size_t h = 2;

    if (b[0] & 0x70)
        die("connection %d: RSV bits set without an extension", c->id);
    if (b[1] & 0x80)
        die("connection %d: the server masked a frame", c->id);
    if (len == 126) {
        if (avail < 4)
            return 0;
        len = (uint64_t)b[2] << 8 | b[3];
        h = 4;
    } else if (len == 127) {
        if (avail < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | b[2 + i];
        h = 10;
    }
    if (len > IN_CAP - h)
        die("connection %d: a %llu-byte frame (opcode %d), none expected",
            c->id, (unsigned long long)len, opcode);
    if (avail < h + len)
        return 0;
    if (!fin || opcode == 0)
        die("connection %d: a fragmented message, none expected", c->id);
    switch (opcode) {
    case 8:
        die("connection %d: the server closed (code %d)", c->id,
            len >= 2 ? b[h] << 8 | b[h + 1] : 1005);
        break;
    case 9:
        send_frame(c, 10, b + h, (size_t)len); /* answer pings: the hold */
        break;
    case 10: break;
    case 1:
    case 2: on_message(c, opcode, b + h, (size_t)len); break;
    default: die("connection %d: reserved opcode %d", c->id, opcode);
    }
    return h + (size_t)len;
}

static void on_readable(struct conn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0)
            die("connection %d: recv: %s", c->id, strerror(errno));
        if (n == 0)
            die("connection %d: the server closed the connection", c->id);
        int full = (size_t)n == IN_CAP - c->in_len;
        c->in_len += (size_t)n;
        size_t off = 0, used;
        if (c->state == HANDSHAKE) {
            off = check_handshake(c);
            if (!off)
                continue;
        }
        while ((used = parse_frame(c, c->in + off, c->in_len - off)))
            off += used;
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
        if (!full)
            return;
    }
}

static void on_event(struct conn *c, uint32_t events)
{
    if (c->state == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err)
            die("connection %d: connect: %s", c->id, strerror(err));
        if (!(events & EPOLLOUT))
            die("connection %d: connect: no answer", c->id);
        send_handshake(c);
        return;
    }
    if (events & EPOLLOUT) {
        flush_out(c);
        if (c->out_len == 0)
            watch(c, EPOLL_CTL_MOD, EPOLLIN);
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        on_readable(c);
}

/* ------------------------------------------------------------------------
 * The modes
 * ------------------------------------------------------------------------ */

static void on_open(struct conn *c)
{
    int next = g.opened + CONNECT_WINDOW - 1;

    (void)c;
    if (next < g.conns)
        start_connect(&g.c[next]); /* keep CONNECT_WINDOW handshakes going */
}

static void record(double lat)
{
    if (g.nlat == g.lat_cap) {
        g.lat_cap = g.lat_cap ? 2 * g.lat_cap : 65536;
        g.lat = realloc(g.lat, g.lat_cap * sizeof(*g.lat));
        if (!g.lat)
            die("out of memory");
    }
    g.lat[g.nlat++] = lat;
}

static void on_echo(struct conn *c, int opcode, const unsigned char *p,
                    size_t len)
{
    double t = now();

    if (!c->waiting)
        die("connection %d: a message nobody asked for", c->id);
    if (opcode != 1 || len != c->expect_len || memcmp(p, c->expect, len) != 0)
        die("connection %d: the echo differs (opcode %d, %zu bytes, \"%.*s\")",
            c->id, opcode, len, (int)(len < 60 ? len : 60), (const char *)p);
    c->waiting = 0;
    if (g.measuring) {
        g.done++;
        record(t - c->sent_at);
    }
    if (g.sending)
        send_echo(c);
    else
        g.echoes_due--;
}

static void on_broadcast(struct conn *c, int opcode, const unsigned char *p,
                         size_t len)
{
    double t = now();

    if (!g.in_round || c->got)
        die("connection %d: a broadcast message too many", c->id);
    if (opcode != 1 || len != g.bpayload_len || memcmp(p, g.bpayload, len) != 0)
        die("connection %d: the broadcast differs (opcode %d, %zu bytes)",
            c->id, opcode, len);
    c->got = 1;
    if (g.received++ == 0)
        g.first_at = t;
    g.last_at = t;
}

/* Engine.IO and Socket.IO's control packets: the OPEN, the namespace
 * CONNECT, pings; anything else is an ack for on_echo. Returns 1 if taken. */
static int on_sio_control(struct conn *c, int opcode, const unsigned char *p,
                          size_t len)
{
    if (opcode != 1)
        die("connection %d: a binary frame, none expected", c->id);
    if (len == 1 && p[0] == '2') {
        send_frame(c, 1, "3", 1);
        return 1;
    }
    if (c->sio == 1) {
        if (len < 2 || p[0] != '0' || p[1] != '{')
            die("connection %d: no Engine.IO OPEN packet: \"%.*s\"", c->id,
                (int)(len < 60 ? len : 60), (const char *)p);
        c->sio = 2;
        send_frame(c, 1, "40", 2);
        return 1;
    }
    if (c->sio == 2) {
        if (len < 3 || memcmp(p, "40{", 3) != 0)
            die("connection %d: the namespace CONNECT refused: \"%.*s\"",
                c->id, (int)(len < 60 ? len : 60), (const char *)p);
        c->sio = 3;
        g.opened++;
        on_open(c);
        return 1;
    }
    return 0;
}

static void on_message(struct conn *c, int opcode, const unsigned char *p,
                       size_t len)
{
    if (g.mode == SIO && on_sio_control(c, opcode, p, len))
        return;
    if (g.mode == BROADCAST && g.in_round)
        on_broadcast(c, opcode, p, len);
    else
        on_echo(c, opcode, p, len);
}

/* Run the loop until DONE() or DEADLINE; with STDIN_OK, also return when
 * stdin is readable. Returns 1 if stdin woke it. */
static int run_until(int (*done)(void), double deadline, int stdin_ok)
{
    struct epoll_event ev[1024];

    while (!done()) {
        double left = deadline - now();
        if (left <= 0)
            return 0;
        int n = epoll_wait(g.ep, ev, 1024, (int)(left * 1000) + 1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            if (!ev[i].data.ptr) {
                if (stdin_ok)
                    return 1;
                continue;
            }
            on_event(ev[i].data.ptr, ev[i].events);
        }
    }
    return 0;
}

static int never(void)
{
    return 0;
}
static int all_open(void)
{
    return g.opened == g.conns;
}
static int echoes_back(void)
{
    return g.echoes_due == 0;
}
static int round_done(void)
{
    return g.received == g.conns;
}

static void open_all(void)
{
    double t0 = now();

    for (int i = 0; i < g.conns && i < CONNECT_WINDOW; i++)
        start_connect(&g.c[i]);
    run_until(all_open, t0 + g.step_timeout, 0);
    if (!all_open())
        die("%d of %d WebSockets opened in %.0f s", g.opened, g.conns,
            g.step_timeout);
    phase("open %d %.3f", g.conns, now() - t0);
}

/* One echo on every connection, all checked: every handler is running (a
 * broadcast reaches it) and parked in receive again. */
static void echo_each(const char *what)
{
    g.sending = 0;
    g.echoes_due = g.conns;
    for (int i = 0; i < g.conns; i++)
        send_echo(&g.c[i]);
    run_until(echoes_back, now() + g.step_timeout, 0);
    if (g.echoes_due)
        die("%d of %d echoes missing after %.0f s", g.echoes_due, g.conns,
            g.step_timeout);
    phase("%s %d", what, g.conns);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    return n ? v[(size_t)(p * (double)(n - 1) + 0.5)] : 0;
}

static void run_echo(void)
{
    open_all();
    g.sending = 1;
    for (int i = 0; i < g.conns; i++)
        send_echo(&g.c[i]);
    run_until(never, now() + g.warmup, 0);
    phase("measure");
    double t0 = now(), cpu0 = cpu_seconds();
    g.measuring = 1;
    run_until(never, t0 + g.duration, 0);
    g.measuring = 0;
    double secs = now() - t0, cpu = cpu_seconds() - cpu0;
    phase("end");
    /* Let the messages in flight come back, checked too. */
    g.sending = 0;
    g.echoes_due = 0;
    for (int i = 0; i < g.conns; i++)
        g.echoes_due += g.c[i].waiting;
    run_until(echoes_back, now() + g.step_timeout, 0);
    if (g.echoes_due)
        die("%d echoes missing at the end", g.echoes_due);
    qsort(g.lat, g.nlat, sizeof(*g.lat), cmp_double);
    printf("result messages %lld\nresult seconds %.3f\nresult rps %.1f\n"
           "result p50_ms %.4f\nresult p99_ms %.4f\nresult client_cpu_s %.3f\n"
           "result client_cpu_us %.3f\n",
           g.done, secs, g.done / secs, pct(g.lat, g.nlat, 0.5) * 1e3,
           pct(g.lat, g.nlat, 0.99) * 1e3, cpu,
           g.done ? cpu * 1e6 / g.done : 0);
}

static void run_idle(void)
{
    char line[64];

    open_all();
    if (g.no_prime)
        phase("ready %d", g.conns);
    else
        echo_each("ready");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

    if (epoll_ctl(g.ep, EPOLL_CTL_ADD, 0, &ev) < 0)
        die("epoll_ctl stdin: %s", strerror(errno));
    for (;;) {
        /* Hold: answer pings, fail on a close, until stdin speaks. */
        run_until(never, now() + 3600, 1);
        ssize_t n = read(0, line, sizeof(line) - 1);
        if (n <= 0)
            break;
        line[n] = '\0';
        if (strncmp(line, "check", 5) == 0)
            echo_each("checked");
    }
}

static void broadcast_round(int r)
{
    struct conn *sender = &g.c[(r * 7919) % g.conns];
    char msg[96];

    g.bpayload_len =
        (size_t)snprintf((char *)g.bpayload, sizeof(g.bpayload),
                         "round %04d of wsload's broadcast", r % 10000);
    int n = snprintf(msg, sizeof(msg), "broadcast:%s", (char *)g.bpayload);
    for (int i = 0; i < g.conns; i++)
        g.c[i].got = 0;
    g.received = 0;
    g.in_round = 1;
    g.round_start = now();
    send_frame(sender, 1, msg, (size_t)n);
    run_until(round_done, g.round_start + g.step_timeout, 0);
    if (!round_done())
        die("round %d: %d of %d sockets got the broadcast in %.0f s", r,
            g.received, g.conns, g.step_timeout);
    g.in_round = 0;
    /* Nothing more may come: a second copy would fail the next round. */
    run_until(never, now() + 0.1, 0);
}

static void run_broadcast(void)
{
    double *last = calloc((size_t)g.rounds, sizeof(double));
    double *first = calloc((size_t)g.rounds, sizeof(double));

    if (!last || !first)
        die("out of memory");
    open_all();
    echo_each("primed");
    broadcast_round(0); /* warm-up */
    phase("measure");
    double cpu0 = cpu_seconds();
    for (int r = 0; r < g.rounds; r++) {
        broadcast_round(r + 1);
        last[r] = g.last_at - g.round_start;
        first[r] = g.first_at - g.round_start;
        phase("round %d %.3f %.3f", r + 1, first[r] * 1e3, last[r] * 1e3);
    }
    double cpu = cpu_seconds() - cpu0;
    phase("end");
    qsort(last, (size_t)g.rounds, sizeof(double), cmp_double);
    qsort(first, (size_t)g.rounds, sizeof(double), cmp_double);
    printf("result rounds %d\nresult last_ms %.3f\nresult last_ms_min %.3f\n"
           "result last_ms_max %.3f\nresult first_ms %.3f\n"
           "result client_cpu_us %.3f\n",
           g.rounds, pct(last, g.rounds, 0.5) * 1e3, last[0] * 1e3,
           last[g.rounds - 1] * 1e3, pct(first, g.rounds, 0.5) * 1e3,
           cpu * 1e6 / ((double)g.rounds * g.conns));
    free(last);
    free(first);
}

/* ------------------------------------------------------------------------
 * Set-up
 * ------------------------------------------------------------------------ */

static void usage(void)
{
    fputs("usage: wsload echo|idle|broadcast|sio -p PORT [-H HOST] [-c CONNS]\n"
          "       [-d SECONDS] [-w WARMUP] [-s BYTES] [-r ROUNDS] [-t "
          "STEP_TIMEOUT]\n",
          stderr);
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    int opt;

    if (argc < 2)
        usage();
    if (strcmp(argv[1], "echo") == 0)
        g.mode = ECHO;
    else if (strcmp(argv[1], "idle") == 0)
        g.mode = IDLE;
    else if (strcmp(argv[1], "broadcast") == 0)
        g.mode = BROADCAST;
    else if (strcmp(argv[1], "sio") == 0)
        g.mode = SIO;
    else
        usage();
    optind = 2;
    while ((opt = getopt(argc, argv, "p:H:c:d:w:s:r:t:n")) != -1) {
        switch (opt) {
        case 'p': g.port = atoi(optarg); break;
        case 'H': g.host = optarg; break;
        case 'c': g.conns = atoi(optarg); break;
        case 'd': g.duration = atof(optarg); break;
        case 'w': g.warmup = atof(optarg); break;
        case 's': g.size = atoi(optarg); break;
        case 'r': g.rounds = atoi(optarg); break;
        case 't': g.step_timeout = atof(optarg); break;
        case 'n': g.no_prime = 1; break;
        default: usage();
        }
    }
    if (g.conns < 0)
        g.conns = g.mode == ECHO || g.mode == SIO ? 50 : g.mode == IDLE ? 10000 : 5000;
    if (g.port <= 0 || g.port > 65535 || g.conns < 1 || g.duration <= 0 ||
        g.warmup < 0 || g.size < 1 || g.size > MAX_PAYLOAD || g.rounds < 1 ||
        g.step_timeout <= 0)
        usage();
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
        die("%d connections need more open files than the limit %llu: run two "
            "wsload processes",
            g.conns, (unsigned long long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    raise_nofile();
    g.rng = ((uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid() << 32) | 1;
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    g.c = calloc((size_t)g.conns, sizeof(*g.c));
    if (g.ep < 0 || !g.c)
        die("set-up: %s", strerror(errno));
    for (int i = 0; i < g.conns; i++)
        g.c[i].id = i;
    if (g.mode == ECHO || g.mode == SIO)
        run_echo();
    else if (g.mode == IDLE)
        run_idle();
    else
        run_broadcast();
    return 0;
}
