/*
 * tlsload: full TLS handshakes per second, the load generator of bench/'s
 * tls-handshake scenario (bench/bench.py runs it against greenicorn and
 * nginx with the same certificate). One thread, epoll, -c connections in
 * flight, each a new TCP connection and a new TLS session with nothing to
 * resume (no session cache, a fresh session every time: every handshake
 * is a full one, and a resumed one is counted as an error), which sends
 * one request (GET PATH, Connection: close) and reads the answer to the
 * server's close, so the server finished the handshake (the client's
 * Finished verified, its session tickets sealed and sent) before it
 * counts.
 *
 *     tlsload -p PORT [-c 16] [-d 8] [-w 1] [-P /] [-H 127.0.0.1]
 *             [-L raw|gnutls|openssl]
 *
 * -w seconds of warm-up, then -d measured seconds. Output: "phase measure"
 * and "phase end" as the window opens and closes (bench.py reads the
 * server's CPU on them), then "result KEY VALUE" lines: handshakes (in the
 * window), rate (per second), errors, client_cpu_us (tlsload's own user +
 * system CPU per handshake in the window: is the load generator the
 * bottleneck?), and the protocol, cipher and group of the last handshake
 * and the client library as an "info" line. Errors go to stderr with exit
 * status 1 when nothing succeeded.
 *
 * -L: the client. On 2 CPUs the one client core must cost less per
 * handshake than the server's, or tlsload and not the server sets the
 * rate; but a TLS client costs more than a server per full handshake
 * (verifying the server's signature costs about twice making it). The
 * default, raw (bench/tlsraw.c), is a bare TLS 1.3 client that reuses its
 * own key share and checks no signature: about a third of the server's
 * CPU per handshake, while the server's work is unchanged (a fresh X25519
 * share, the ECDSA P-256 signature, its tickets). gnutls and openssl are
 * the libraries' clients, for comparison: GnuTLS costs about two thirds
 * of OpenSSL 3.0's client CPU (OpenSSL spends most of it finding
 * algorithms and decoding the certificate through its providers, GnuTLS
 * in the arithmetic), both more than the server. Every client reads ahead
 * (one read for several records rather than a header and a body apart)
 * and is watched edge-triggered (no epoll_ctl per wait); raw's and
 * GnuTLS's writes are held until tlsload waits, so their last flight and
 * the request go in one packet, as browsers send them.
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
#ifdef HAVE_GNUTLS
#include <gnutls/gnutls.h>
#endif

#include "loadgen.h"
#include "tlsload.h"

#define MAX_CONNS 1024

static const struct lib *lib;
static struct sockaddr_in addr;
static int ep;
static char request[256];
static size_t request_len;
static long done, errors, reused;
static int measuring;
static char last_info[160];

/* ---- OpenSSL ----------------------------------------------------------- */

static SSL_CTX *ctx;

/* A full handshake every time: no tickets asked for, nothing cached,
 * and the certificate not checked against a CA (the handshake's own
 * signature still is: that is the handshake's cost). */
static void ossl_setup(void)
{
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        exit(1);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    /* A record's header and body in one read (and whatever follows): a
     * third of the reads, which cost as much as the server's. */
    SSL_CTX_set_read_ahead(ctx, 1);
}

static void ossl_open(struct slot *s)
{
    SSL *ssl = SSL_new(ctx);

    if (ssl == NULL || !SSL_set_fd(ssl, s->fd)) {
        fprintf(stderr, "tlsload: SSL_new failed\n");
        exit(1);
    }
    SSL_set_connect_state(ssl);
    s->tls = ssl;
}

static void ossl_close(struct slot *s)
{
    SSL_free(s->tls);
    ERR_clear_error();
}

static enum io ossl_result(struct slot *s, int ret)
{
    if (ret == 1)
        return IO_OK;
    switch (SSL_get_error(s->tls, ret)) {
    case SSL_ERROR_WANT_READ: return IO_READ;
    case SSL_ERROR_WANT_WRITE: return IO_WRITE;
    case SSL_ERROR_ZERO_RETURN:
    case SSL_ERROR_SYSCALL: return IO_EOF;
    default: return IO_ERR;
    }
}

static enum io ossl_handshake(struct slot *s)
{
    return ossl_result(s, SSL_do_handshake(s->tls));
}

static enum io ossl_write(struct slot *s, const char *buf, size_t len,
                          size_t *n)
{
    return ossl_result(s, SSL_write_ex(s->tls, buf, len, n));
}

static enum io ossl_read(struct slot *s, char *buf, size_t len, size_t *n)
{
    return ossl_result(s, SSL_read_ex(s->tls, buf, len, n));
}

static int ossl_resumed(struct slot *s)
{
    return SSL_session_reused(s->tls);
}

static void ossl_info(struct slot *s, char *out, size_t len)
{
    snprintf(out, len, "%s %s %s", SSL_get_version(s->tls),
             SSL_get_cipher_name(s->tls),
             SSL_group_to_name(s->tls, SSL_get_negotiated_group(s->tls)));
}

static const struct lib openssl_lib = {
    "openssl",     ossl_setup, ossl_open,    ossl_close, ossl_handshake,
    ossl_write,    ossl_read,  ossl_resumed, ossl_info, NULL,
};

/* ---- what the clients that hold their writes share ---------------------- */

/* (tlsload.h) */
int tlsload_flush(struct slot *s)
{
    ssize_t n;

    while (s->out_len > 0) {
        if ((n = send(s->fd, s->out, s->out_len, MSG_NOSIGNAL)) < 0) {
            if (errno == EAGAIN)
                return -1;
            s->out_len = 0; /* the peer is gone: a read will say so */
            return 0;
        }
        memmove(s->out, s->out + n, s->out_len - (size_t)n);
        s->out_len -= (size_t)n;
    }
    return 0;
}

/* ---- GnuTLS ------------------------------------------------------------ */

#ifdef HAVE_GNUTLS
static gnutls_certificate_credentials_t gcred;
static gnutls_priority_t gprio;

/* As OpenSSL's client above: one key share (X25519, which both servers
 * choose first), the server's certificate parsed and its handshake
 * signature verified but not its chain, no session kept. Tickets are
 * still accepted (psk_key_exchange_modes offered), so the server sends
 * them as it would to a browser. */
static void gt_setup(void)
{
    const char *err = NULL;

    if (gnutls_global_init() < 0 ||
        gnutls_certificate_allocate_credentials(&gcred) < 0 ||
        gnutls_priority_init(&gprio,
                             "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:"
                             "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1",
                             &err) < 0) {
        fprintf(stderr, "tlsload: GnuTLS set-up failed%s%s\n",
                err ? " at " : "", err ? err : "");
        exit(1);
    }
}

/* GnuTLS's reads: read ahead (GnuTLS asks for a record's header, then its
 * body: twice the reads), and noting when the socket is drained: GnuTLS
 * also says "again" after a message it handled alone (a session ticket),
 * when the socket may hold more and no edge will come. */
static ssize_t gt_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
    struct slot *s = p;
    ssize_t n;

    if (s->in_at == s->in_len) {
        if ((n = recv(s->fd, s->in, sizeof(s->in), 0)) <= 0) {
            if (n < 0 && errno == EAGAIN)
                s->drained = 1;
            return n;
        }
        s->in_at = 0;
        s->in_len = (size_t)n;
    }
    if (len > s->in_len - s->in_at)
        len = s->in_len - s->in_at;
    memcpy(buf, s->in + s->in_at, len);
    s->in_at += len;
    return (ssize_t)len;
}

/* GnuTLS's writes, kept until tlsload waits (tlsload_flush): its Finished and
 * the request go together, as browsers send the request behind their
 * Finished. GnuTLS would send each message apart: more packets, each
 * costing both sides. What does not fit is sent now, after what is kept;
 * EAGAIN only when the socket is full (so its write edge comes). */
static ssize_t gt_push(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
    struct slot *s = p;

    if (len > sizeof(s->out) - s->out_len && tlsload_flush(s) != 0) {
        errno = EAGAIN;
        return -1;
    }
    if (len > sizeof(s->out) - s->out_len)
        return send(s->fd, buf, len, MSG_NOSIGNAL);
    memcpy(s->out + s->out_len, buf, len);
    s->out_len += len;
    return (ssize_t)len;
}

static void gt_open(struct slot *s)
{
    gnutls_session_t gs;

    if (gnutls_init(&gs, GNUTLS_CLIENT | GNUTLS_NONBLOCK) < 0 ||
        gnutls_priority_set(gs, gprio) < 0 ||
        gnutls_credentials_set(gs, GNUTLS_CRD_CERTIFICATE, gcred) < 0) {
        fprintf(stderr, "tlsload: gnutls_init failed\n");
        exit(1);
    }
    gnutls_transport_set_ptr(gs, s);
    gnutls_transport_set_pull_function(gs, gt_pull);
    gnutls_transport_set_push_function(gs, gt_push);
    s->tls = gs;
}

static void gt_close(struct slot *s)
{
    gnutls_deinit(s->tls);
}

static enum io gt_result(struct slot *s, ssize_t ret)
{
    if (ret >= 0)
        return IO_OK;
    if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED) {
        if (gnutls_record_get_direction(s->tls))
            return IO_WRITE;
        return s->drained ? IO_READ : IO_AGAIN;
    }
    if (ret == GNUTLS_E_PREMATURE_TERMINATION)
        return IO_EOF;
    return IO_ERR;
}

static enum io gt_handshake(struct slot *s)
{
    s->drained = 0;
    return gt_result(s, gnutls_handshake(s->tls));
}

static enum io gt_write(struct slot *s, const char *buf, size_t len,
                            size_t *n)
{
    ssize_t ret = gnutls_record_send(s->tls, buf, len);

    *n = ret > 0 ? (size_t)ret : 0;
    return gt_result(s, ret);
}

static enum io gt_read(struct slot *s, char *buf, size_t len, size_t *n)
{
    ssize_t ret;

    s->drained = 0;
    ret = gnutls_record_recv(s->tls, buf, len);

    *n = ret > 0 ? (size_t)ret : 0;
    return ret == 0 ? IO_EOF : gt_result(s, ret);
}

static int gt_resumed(struct slot *s)
{
    return gnutls_session_is_resumed(s->tls);
}

static void gt_info(struct slot *s, char *out, size_t len)
{
    gnutls_session_t gs = s->tls;
    const char *group = gnutls_group_get_name(gnutls_group_get(gs));

    snprintf(out, len, "%s %s %s",
             gnutls_protocol_get_name(gnutls_protocol_get_version(gs)),
             gnutls_cipher_get_name(gnutls_cipher_get(gs)),
             group ? group : "?");
}

static const struct lib gnutls_lib = {
    "gnutls", gt_setup, gt_open,    gt_close, gt_handshake,
    gt_write, gt_read,  gt_resumed, gt_info,  tlsload_flush,
};
#endif

/* ---- the connections --------------------------------------------------- */

/* S's socket, watched edge-triggered both ways for its whole life: a
 * library wants to wait only after its socket said EAGAIN, so the next
 * edge is the one it waits for, and no epoll_ctl per wait. */
static void watch(struct slot *s)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET,
                             .data.ptr = s};

    if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) != 0) {
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
    s->sent = s->got = s->in_at = s->in_len = s->out_len = 0;
    if (connect(s->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 &&
        errno != EINPROGRESS) {
        perror("tlsload: connect");
        exit(1);
    }
    lib->open(s);
    watch(s);
}

static void finish(struct slot *s, int ok)
{
    if (ok && lib->resumed(s)) {
        reused++;
        ok = 0;
    }
    if (ok && measuring)
        done++;
    else if (!ok && measuring)
        errors++;
    if (ok)
        lib->info(s, last_info, sizeof(last_info));
    lib->close(s);
    close(s->fd);
    start(s);
}

/* Wait for what R asks for (the next edge: see watch), once what the
 * library wrote is sent; 0, or -1 if R was no wait but a failure. */
static int wait_for(struct slot *s, enum io r)
{
    if (r != IO_READ && r != IO_WRITE)
        return -1;
    if (lib->flush)
        lib->flush(s); /* a full socket: its write edge comes */
    return 0;
}

static void step(struct slot *s)
{
    char buf[4096];
    size_t n;
    enum io r;

    if (lib->flush && lib->flush(s) != 0)
        return; /* still full */
    for (;;) {
        switch (s->stage) {
        case CONNECTING:
        case HANDSHAKE:
            s->stage = HANDSHAKE;
            if ((r = lib->handshake(s)) == IO_AGAIN)
                break;
            if (r != IO_OK) {
                if (wait_for(s, r) != 0)
                    finish(s, 0);
                return;
            }
            s->stage = WRITING;
            break;
        case WRITING:
            if ((r = lib->write(s, request + s->sent, request_len - s->sent,
                                &n)) != IO_OK) {
                if (wait_for(s, r) != 0)
                    finish(s, 0);
                return;
            }
            s->sent += n;
            if (s->sent == request_len)
                s->stage = READING;
            break;
        case READING:
            if ((r = lib->read(s, buf, sizeof(buf), &n)) == IO_AGAIN)
                break;
            if (r != IO_OK) {
                if (r == IO_EOF)
                    finish(s, s->got >= 12 &&
                                  memcmp(s->head, "HTTP/1.1 200", 12) == 0);
                else if (wait_for(s, r) != 0)
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
                    "[-H 127.0.0.1] [-L raw|openssl|gnutls]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *path = "/";
    int port = 0, conns = 16, opt;
    double duration = 8, warmup = 1, t0, c0, elapsed, cpu;
    static struct slot slots[MAX_CONNS];

    lib = &tlsraw_lib; /* the cheapest client: see the top of this file */
    while ((opt = getopt(argc, argv, "p:c:d:w:P:H:L:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'c': conns = atoi(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 'P': path = optarg; break;
        case 'H': host = optarg; break;
        case 'L':
            if (strcmp(optarg, "openssl") == 0)
                lib = &openssl_lib;
            else if (strcmp(optarg, "raw") == 0)
                lib = &tlsraw_lib;
#ifdef HAVE_GNUTLS
            else if (strcmp(optarg, "gnutls") == 0)
                lib = &gnutls_lib;
#endif
            else
                usage();
            break;
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
    lib->setup();
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
    printf("info %s %s\n", last_info, lib->name);
    fflush(stdout);
    if (reused)
        fprintf(stderr, "tlsload: %ld sessions resumed (counted as errors)\n",
                reused);
    return done > 0 ? 0 : 1;
}
