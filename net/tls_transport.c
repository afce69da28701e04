/*
 * The TLS transport (net/transport.h's table over OpenSSL 3): a
 * connection accepted on a TLS bind, its green handshake, its reads and
 * writes. Its SSL comes from the server context (net/tls_context.c).
 *
 * Each connection gets an SSL object whose BIO is our own: its reads and
 * writes are green/sys's recv and send on the non-blocking socket, never
 * libc's (which patch_all may interpose), and EAGAIN comes back as
 * OpenSSL's retry, which becomes the transport's EAGAIN with the
 * direction OpenSSL wants in c->tp_want. The connection's
 * coroutine then parks on that direction, as for plain TCP: the handshake
 * and every read and write wait green, within their timeouts.
 *
 * Edge-triggered readiness needs one more thing of a decrypting transport:
 * SSL_read returns at most one record, so a short read says nothing about
 * the socket. tls_recv reads records until the buffer is full or OpenSSL
 * wants more from the socket (which our BIO then found drained), and
 * pending() counts what OpenSSL still holds.
 *
 * OpenSSL reads ahead (net/tls_context.c): one recv takes all the socket
 * has, several records, rather than a record's header and then its body.
 * So a socket read that came back short drained the socket, and tls_recv
 * stops there once OpenSSL holds nothing more, without a recv for the
 * EAGAIN: one recv per request, as for TCP. What OpenSSL read ahead is
 * off the socket, and no edge comes for it (also when the handshake's last
 * read brought the first request, before any edge said readable):
 * pending() counts whole records too, and the connection asks it before
 * it waits for input (net/conn.c). Bytes OpenSSL holds after a socket read
 * that found nothing are part of a record at most (tp_starved): those
 * count for nothing, or a waiter would spin.
 *
 * Writes: OpenSSL seals a whole record at once and, when the socket takes
 * only part of it, wants the same write again (SSL_MODE_ACCEPT_MOVING_WRITE
 * _BUFFER lets the bytes come from another address). The connection's
 * writers retry with the bytes not yet sent, which begin with those, so a
 * retry finishes the record and reports its length. Small iovecs are
 * gathered into one record, up to TLS's 16 KiB. And as for reads, a write
 * goes on record after record until the socket is full: a short write
 * must mean what it means for TCP, or a writer waiting for the next write
 * edge would wait for good.
 */
#include "net/tls_transport.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/clock.h"
#include "core/log.h"
#include "green/loop.h"
#include "green/sys.h"
#include "net/conn.h"
#include "net/tls.h"
#include "net/tls_context.h"
#include "net/transport.h"

#define RECORD_MAX 16384 /* TLS's largest plaintext record */

/* ---- the BIO: green/sys on the connection's socket -------------------- */

static BIO_METHOD *bio_method;

static int bio_write(BIO *b, const char *data, size_t len, size_t *written)
{
    struct gn_conn *c = BIO_get_data(b);
    ssize_t n = gn__sys_send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

    BIO_clear_retry_flags(b);
    if (n >= 0) {
        *written = (size_t)n;
        return 1;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        BIO_set_retry_write(b);
    return 0;
}

/* Set by bio_read when the socket gave less than OpenSSL asked for: with
 * read-ahead OpenSSL asks for all the room in its buffer, so the socket
 * is drained (an edge says when more arrives). tls_recv clears it before
 * its reads and looks at it after them, with no wait in between: one per
 * process, as a worker's I/O is single-threaded. */
static int read_short;

static int bio_read(BIO *b, char *data, size_t len, size_t *got)
{
    struct gn_conn *c = BIO_get_data(b);
    ssize_t n = gn__sys_recv(c->fd, data, len, MSG_DONTWAIT);

    BIO_clear_retry_flags(b);
    if (n > 0) {
        *got = (size_t)n;
        read_short = (size_t)n < len;
        c->tp_starved = 0;
        return 1;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        BIO_set_retry_read(b);
        /* OpenSSL reads the socket only when what it holds is not a
         * whole record: it holds a part of one at most. */
        c->tp_starved = errno != EINTR;
    } else if (n == 0)
        errno = 0; /* the peer's end, not an error */
    return 0;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b, (void)num, (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0; /* nothing buffered here */
}

int gn__tls_transport_setup(char err[GN_ERR_LEN])
{
    if (bio_method != NULL)
        return 0;
    bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                              "greenicorn socket");
    if (bio_method == NULL || !BIO_meth_set_write_ex(bio_method, bio_write) ||
        !BIO_meth_set_read_ex(bio_method, bio_read) ||
        !BIO_meth_set_ctrl(bio_method, bio_ctrl)) {
        snprintf(err, GN_ERR_LEN, "TLS: cannot set up OpenSSL's I/O");
        return -ENOMEM;
    }
    return 0;
}

/* ---- the transport ---------------------------------------------------- */

/* The result of a failed SSL call RET on C as the transport says it:
 * -1 with errno EAGAIN (and tp_want), or the error; 0 for the peer's
 * close_notify when READING (a writer gets EPIPE). */
static ssize_t failed(struct gn_conn *c, SSL *ssl, int ret, int reading)
{
    int e = SSL_get_error(ssl, ret), saved = errno;
    char why[160];

    switch (e) {
    case SSL_ERROR_WANT_READ:
        c->tp_want = GN_WATCH_READ;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        c->tp_want = GN_WATCH_WRITE;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        if (reading)
            return 0;
        errno = EPIPE;
        return -1;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        errno = saved ? saved : ECONNRESET;
        break;
    default:
        gn_log_debug("TLS error with %s: %s", c->remote_addr,
                     gn__tls_reason(why, sizeof(why)));
        errno = EPROTO;
        break;
    }
    /* After a fatal error no close_notify may be sent. */
    SSL_set_quiet_shutdown(ssl, 1);
    return -1;
}

/* Whether OpenSSL holds a whole record's worth, or bytes decrypted: a
 * recv would return them without the socket. Bytes it holds after its
 * last socket read found nothing are part of a record at most. */
static int holds_input(struct gn_conn *c, SSL *ssl)
{
    return SSL_pending(ssl) > 0 || (SSL_has_pending(ssl) && !c->tp_starved);
}

static ssize_t tls_recv(struct gn_conn *c, void *buf, size_t len, int flags)
{
    SSL *ssl = c->tp_data;
    size_t got = 0, n;
    int ret, e;

    c->tp_want = 0;
    if (flags & MSG_PEEK) {
        /* Whether anything is there (or the peer left): what OpenSSL
         * holds, else the socket's own bytes; never a handshake step.
         * (A peek that reads the socket leaves what it read with OpenSSL,
         * and the ready bit as it was: holds_input says so to waiters.) */
        if (holds_input(c, ssl) && SSL_peek_ex(ssl, buf, len, &n) == 1)
            return (ssize_t)n;
        ERR_clear_error();
        return gn__sys_recv(c->fd, buf, len, flags);
    }
    /* Record after record until BUF is full or the socket is drained: a
     * short read then means what it means for TCP. Read-ahead fills
     * OpenSSL's buffer with all the socket has, so once a socket read
     * came back short and OpenSSL holds nothing more, the socket is
     * drained without asking it once more for its EAGAIN. */
    read_short = 0;
    while (got < len) {
        if (got > 0 && read_short && !SSL_has_pending(ssl))
            break;
        ERR_clear_error();
        if ((ret = SSL_read_ex(ssl, (char *)buf + got, len - got, &n)) == 1) {
            got += n;
            continue;
        }
        if (got == 0)
            return failed(c, ssl, ret, 1);
        /* The bytes first; an end or error shows on the next call (the
         * SSL object keeps that state), a retry means drained. */
        e = SSL_get_error(ssl, ret);
        if (e == SSL_ERROR_WANT_WRITE)
            c->tp_want = GN_WATCH_WRITE;
        ERR_clear_error();
        break;
    }
    return (ssize_t)got;
}

static ssize_t tls_write(struct gn_conn *c, const void *buf, size_t len)
{
    SSL *ssl = c->tp_data;
    size_t n;
    int ret;

    c->tp_want = 0;
    if (len == 0)
        return 0;
    ERR_clear_error();
    if ((ret = SSL_write_ex(ssl, buf, len, &n)) == 1)
        return (ssize_t)n;
    return failed(c, ssl, ret, 0);
}

/* Records are sealed one at a time, from one buffer: what the worker
 * writes is copied here first unless it starts with a large piece. One
 * per process: a worker's I/O is single-threaded and a write is done with
 * the buffer before it returns. */
static unsigned char scratch[RECORD_MAX];

/* One record's worth of IOV[0, N), from byte SKIP on: its start and
 * length in *P, *LEN (0: nothing left). A large first piece goes as it is;
 * small ones are gathered into scratch. The choice depends on the first
 * piece alone, so a retry that starts with the same bytes chooses the
 * same, as OpenSSL wants. */
static void next_record(const struct iovec *iov, size_t n, size_t skip,
                        const void **p, size_t *len)
{
    size_t i = 0, got = 0;

    while (i < n && skip >= iov[i].iov_len)
        skip -= iov[i++].iov_len;
    *len = 0;
    if (i == n)
        return;
    if (iov[i].iov_len - skip >= RECORD_MAX / 4) {
        *p = (const char *)iov[i].iov_base + skip;
        *len = iov[i].iov_len - skip < RECORD_MAX ? iov[i].iov_len - skip
                                                  : RECORD_MAX;
        return;
    }
    for (; i < n && got < RECORD_MAX; i++, skip = 0) {
        size_t take = iov[i].iov_len - skip;

        if (take > RECORD_MAX - got)
            take = RECORD_MAX - got;
        memcpy(scratch + got, (const char *)iov[i].iov_base + skip, take);
        got += take;
    }
    *p = scratch;
    *len = got;
}

/* Record after record until everything is sent or the socket is full: a
 * short write then means what it means for TCP (the socket took no more,
 * and an edge will say when it does). What was sent before an error is
 * reported first; the error shows on the next call. */
static ssize_t tls_sendmsg(struct gn_conn *c, const struct msghdr *mh,
                           int flags)
{
    size_t total = 0, len;
    const void *p;
    ssize_t n;

    (void)flags; /* never blocks, never signals: the BIO sees to both */
    for (;;) {
        next_record(mh->msg_iov, mh->msg_iovlen, total, &p, &len);
        if (len == 0)
            return (ssize_t)total;
        if ((n = tls_write(c, p, len)) <= 0)
            return total > 0 ? (ssize_t)total : n;
        total += (size_t)n;
    }
}

/* sendfile(2) cannot encrypt: read a record's worth at a time and write
 * it, until COUNT is sent or the socket is full. A retry after EAGAIN
 * reads the same bytes again from the same offset. */
static ssize_t tls_sendfile(struct gn_conn *c, int fd, off_t *offset,
                            size_t count)
{
    size_t total = 0;
    ssize_t got, n;

    while (total < count) {
        got = pread(fd, scratch,
                    count - total < RECORD_MAX ? count - total : RECORD_MAX,
                    *offset);
        if (got <= 0)
            return total > 0 ? (ssize_t)total : got;
        if ((n = tls_write(c, scratch, (size_t)got)) <= 0)
            return total > 0 ? (ssize_t)total : n;
        *offset += n;
        total += (size_t)n;
    }
    return (ssize_t)total;
}

/* Our close_notify, once, if the session got that far and nothing went
 * wrong; never waiting (a full socket just does without it). */
static void close_notify(struct gn_conn *c)
{
    SSL *ssl = c->tp_data;

    if (!SSL_is_init_finished(ssl) ||
        (SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN))
        return;
    ERR_clear_error();
    SSL_shutdown(ssl);
    ERR_clear_error();
}

static int tls_shutdown(struct gn_conn *c, int how)
{
    if (how != SHUT_RD)
        close_notify(c);
    return gn__sys_shutdown(c->fd, how);
}

static size_t tls_pending(struct gn_conn *c)
{
    SSL *ssl = c->tp_data;
    int n = SSL_pending(ssl);

    /* Whole records not decrypted yet count too (one byte, at least). */
    return n > 0 ? (size_t)n : (size_t)holds_input(c, ssl);
}

static int tls_handshake(struct gn_conn *c)
{
    SSL *ssl = c->tp_data;
    const struct gn_tls *t = SSL_get_app_data(ssl);
    int64_t deadline = gn__monotonic_ms() + t->handshake_ms, left;
    char why[160];
    int ret, e, want;

    while (!SSL_is_init_finished(ssl)) {
        ERR_clear_error();
        if ((ret = SSL_do_handshake(ssl)) == 1)
            break;
        e = SSL_get_error(ssl, ret);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            if (e == SSL_ERROR_SSL)
                gn_log_debug("TLS handshake with %s failed: %s", c->remote_addr,
                             gn__tls_reason(why, sizeof(why)));
            ERR_clear_error();
            SSL_set_quiet_shutdown(ssl, 1);
            return -EPROTO;
        }
        want = e == SSL_ERROR_WANT_READ ? GN_WATCH_READ : GN_WATCH_WRITE;
        c->ready &= ~want; /* our BIO found the socket drained (full) */
        if ((left = deadline - gn__monotonic_ms()) <= 0 ||
            (ret = gn__conn_wait(c, want, left)) == -ETIMEDOUT) {
            gn_log_debug("TLS handshake with %s timed out", c->remote_addr);
            SSL_set_quiet_shutdown(ssl, 1);
            return -ETIMEDOUT;
        }
        if (ret < 0) {
            SSL_set_quiet_shutdown(ssl, 1);
            return ret;
        }
    }
    return 0;
}

static void tls_close(struct gn_conn *c)
{
    close_notify(c);
    SSL_free(c->tp_data);
    c->tp_data = NULL;
}

static const struct gn_transport tls_transport = {
    .recv = tls_recv,
    .sendmsg = tls_sendmsg,
    .sendfile = tls_sendfile,
    .shutdown = tls_shutdown,
    .pending = tls_pending,
    .handshake = tls_handshake,
    .close = tls_close,
    .secure = 1,
};

int gn__tls_attach(struct gn_conn *c, struct gn_tls *t)
{
    SSL *ssl = SSL_new(t->ctx[0]);
    BIO *bio = ssl ? BIO_new(bio_method) : NULL;

    if (bio == NULL) {
        SSL_free(ssl);
        ERR_clear_error();
        return -ENOMEM;
    }
    BIO_set_data(bio, c);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl, bio, bio);
    SSL_set_accept_state(ssl);
    SSL_set_app_data(ssl, t);
    c->tp_data = ssl;
    c->tp = &tls_transport;
    return 0;
}
