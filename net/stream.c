/*
 * A stream app's connection. serve() runs the app's handle() once in the
 * connection's coroutine and closes the connection when it returns. The
 * gn_stream_* calls read through the connection's read buffer (so bytes
 * read past a delimiter wait there for the next call) and write straight
 * to the transport. While a handler is parked waiting for input with
 * nothing unread, the buffer goes back to the worker's pool
 * (gn__conn_wait_input): an idle stream costs its connection struct and
 * the touched pages of its coroutine's stack.
 *
 * Every waiting call checks the coroutine's cancellation first: once the
 * worker cancels its streams (graceful_timeout nearly over) each returns
 * -ECANCELED at once, and the one a handler is parked in returns it too.
 *
 * The same handle serves an HTTP connection an app took over after a 101
 * (gn_response_upgrade, http/): gn__stream_upgrade() puts the connection
 * under the upgraded protocol below, and the handle is the app's until
 * its HTTP handler returns.
 */
#include "net/stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "core/iov.h"
#include "core/log.h"
#include "green/coro.h"
#include "green/park.h"
#include "net/transport.h"

#define IOV_MAX_STREAM 64

struct gn_stream {
    struct gn_conn *c;
    const char *name; /* [stream:NAME]'s, or the upgraded protocol */
    int closed;       /* gn_stream_close ran */
    uint64_t sent;    /* bytes written to the client */
};

/* ---- the protocol ----------------------------------------------------- */

static int stream_serve(struct gn_conn *c)
{
    const struct gn_stream_ctx *ctx = c->ctx;
    struct gn_stream s = {.c = c, .name = ctx->name};
    int rc;

    if (ctx->desc == NULL) {
        gn_log_error("[stream:%s]: no stream app loaded for it (restart to "
                     "load a stream app a reload added with preload_app)",
                     ctx->name);
        return -1;
    }
    ctx->serving(ctx->owner, ctx->label, ctx->label_len);
    rc = ctx->desc->handle(&s, ctx->state);
    ctx->serving(ctx->owner, NULL, 0);
    if (rc < 0 && rc != -ECANCELED)
        gn_log_debug("[stream:%s]: handle returned %s for %s", ctx->name,
                     strerror(-rc), c->remote_addr);
    gn__coro_set_cancelled(c->coro, 0); /* the close may still write */
    ctx->done(ctx->owner);
    return -1; /* the connection ends with its handler */
}

static void stream_client_left(struct gn_conn *c)
{
    (void)c; /* the handler's next read or write says so */
}

static void stream_describe(const struct gn_conn *c, char *buf, size_t len)
{
    const struct gn_stream_ctx *ctx = c->ctx;

    snprintf(buf, len, "%s", ctx->label);
}

const struct gn_conn_proto gn__stream_proto = {
    .serve = stream_serve,
    .client_left = stream_client_left,
    .describe = stream_describe,
};

/* ---- an upgraded HTTP connection ------------------------------------- */

/* Its handler runs inside the HTTP serve() that upgraded it, which closes
 * the connection when the handler returns. */
static int upgraded_serve(struct gn_conn *c)
{
    (void)c;
    return -1; /* never idle, never served again */
}

/* A half-close is part of many protocols (a client sends, shuts its end,
 * reads the answers): not HTTP's "nobody reads the answer", which would
 * fail the handler's writes or cancel it; its next read sees the end. */
static void upgraded_client_left(struct gn_conn *c)
{
    (void)c;
}

/* Its writes wait in place (gn__conn_wait), and a stopping worker is seen
 * with gn_stream_stopping, then cancelled as every busy handler is: no
 * writable or stop call. */
static const struct gn_conn_proto upgraded_proto = {
    .serve = upgraded_serve,
    .client_left = upgraded_client_left,
};

gn_stream_t *gn__stream_new(struct gn_conn *c, const char *name)
{
    size_t len = strlen(name);
    struct gn_stream *s = malloc(sizeof(*s) + len + 1);

    if (s == NULL)
        return NULL;
    *s = (struct gn_stream){.c = c, .name = memcpy(s + 1, name, len + 1)};
    return s;
}

void gn__stream_upgrade(gn_stream_t *s)
{
    s->c->proto = &upgraded_proto;
    s->c->proto_data = s;
}

uint64_t gn__stream_sent(const gn_stream_t *s)
{
    return s->sent;
}

void gn__stream_free(gn_stream_t *s)
{
    if (s != NULL && s->c->proto_data == s)
        s->c->proto_data = NULL;
    free(s);
}

/* ---- helpers ---------------------------------------------------------- */

/* Whether S may be used now: 0, or the error every call returns. */
static int usable(const gn_stream_t *s)
{
    if (!gn__on_loop_thread())
        return -EPERM;
    if (s == NULL)
        return -EINVAL;
    if (s->closed)
        return -EBADF;
    return s->c->coro ? gn__coro_cancelled(s->c->coro) : 0;
}

/* TIMEOUT as a deadline in monotonic ms (-1: none); -EINVAL for NaN. */
static int deadline_of(double timeout, int64_t *deadline)
{
    int64_t ms;

    if (gn__timeout_ms(timeout, &ms) != 0)
        return -EINVAL;
    *deadline = ms < 0 ? -1 : gn__monotonic_ms() + ms;
    return 0;
}

/* What is left of DEADLINE: ms (0 when passed), or -1 for none. */
static int64_t left(int64_t deadline)
{
    int64_t now;

    if (deadline < 0)
        return -1;
    now = gn__monotonic_ms();
    return deadline > now ? deadline - now : 0;
}

/* Read more into C's buffer (after what is unread) by DEADLINE: bytes
 * read, 0 at the end of input, or a negative errno. */
static ssize_t fill(struct gn_conn *c, int64_t deadline)
{
    int64_t ms = left(deadline);
    ssize_t n;
    int rc;

    if (ms != 0 && c->rpos == c->rlen) {
        /* Nothing unread: park without a buffer. */
        c->rpos = c->rlen = 0;
        if ((rc = gn__conn_wait_input(c, ms)) < 0)
            return rc;
        ms = left(deadline);
    }
    if (c->rbuf == NULL)
        return -ENOMEM;
    if (c->rpos == c->rlen)
        c->rpos = c->rlen = 0;
    n = gn__conn_fill(c, ms);
    return n == -EAGAIN ? -ETIMEDOUT : n;
}

/* ---- reading ---------------------------------------------------------- */

ssize_t gn_stream_read(gn_stream_t *s, void *buf, size_t len, double timeout)
{
    struct gn_conn *c;
    int64_t deadline;
    ssize_t n;
    int rc = usable(s);

    if (rc != 0)
        return rc;
    if (buf == NULL && len > 0)
        return -EINVAL;
    if (len == 0)
        return 0;
    if ((rc = deadline_of(timeout, &deadline)) != 0)
        return rc;
    c = s->c;
    if (c->rbuf == NULL || c->rpos == c->rlen) {
        n = fill(c, deadline);
        if (n <= 0)
            return n;
    }
    n = (ssize_t)(c->rlen - c->rpos);
    if ((size_t)n > len)
        n = (ssize_t)len;
    memcpy(buf, c->rbuf + c->rpos, (size_t)n);
    c->rpos += (uint32_t)n;
    return n;
}

/* Make room in C's buffer for more input while up to WANT unread bytes are
 * kept: unread bytes to the front, then grow. 0 or -ENOMEM. */
static int room_for(struct gn_conn *c, size_t want)
{
    size_t cap = c->rcap;

    gn__conn_compact(c);
    if (c->rlen < c->rcap)
        return 0;
    while (cap < want + 1)
        cap *= 2;
    return cap == c->rcap ? 0 : gn__conn_grow(c, cap);
}

/* Where DELIM (DLEN bytes) starts in the unread bytes from FROM on, or -1. */
static ssize_t find(const struct gn_conn *c, size_t from, const char *delim,
                    size_t dlen)
{
    const char *hay = c->rbuf + c->rpos, *p;
    size_t n = c->rlen - c->rpos;

    if (n < dlen)
        return -1;
    p = memmem(hay + from, n - from, delim, dlen);
    return p ? p - hay : -1;
}

ssize_t gn_stream_read_until(gn_stream_t *s, void *buf, size_t len,
                             const char *delim, double timeout)
{
    struct gn_conn *c;
    size_t dlen, scanned = 0, have;
    int64_t deadline;
    ssize_t at, n;
    int rc = usable(s);

    if (rc != 0)
        return rc;
    if (buf == NULL || delim == NULL || (dlen = strlen(delim)) == 0 || len == 0)
        return -EINVAL;
    if ((rc = deadline_of(timeout, &deadline)) != 0)
        return rc;
    c = s->c;
    for (;;) {
        have = c->rbuf ? c->rlen - c->rpos : 0;
        if (have > 0 && (at = find(c, scanned, delim, dlen)) >= 0 &&
            (size_t)at + dlen <= len) {
            memcpy(buf, c->rbuf + c->rpos, (size_t)at + dlen);
            c->rpos += (uint32_t)at + (uint32_t)dlen;
            return at + (ssize_t)dlen;
        }
        if (have >= len)
            return -ENOBUFS; /* no DELIM within LEN bytes: left buffered */
        /* The delimiter may straddle what is there and what comes. */
        scanned = have >= dlen ? have - dlen + 1 : 0;
        if (c->rbuf != NULL && room_for(c, len) != 0)
            return -ENOMEM;
        if ((rc = usable(s)) != 0)
            return rc;
        n = fill(c, deadline);
        if (n < 0)
            return n;
        if (n == 0)
            return c->rlen > c->rpos ? -EPIPE : 0;
    }
}

/* ---- writing ---------------------------------------------------------- */

ssize_t gn_stream_writev(gn_stream_t *s, const struct iovec *iov, int iovcnt,
                         double timeout)
{
    struct iovec v[IOV_MAX_STREAM];
    struct msghdr mh = {.msg_iov = v};
    struct gn_conn *c;
    int64_t deadline;
    ssize_t total = 0, n;
    int rc = usable(s);

    if (rc != 0)
        return rc;
    if (iovcnt < 0 || iovcnt > IOV_MAX_STREAM || (iov == NULL && iovcnt))
        return -EINVAL;
    if ((rc = deadline_of(timeout, &deadline)) != 0)
        return rc;
    c = s->c;
    gn__conn_nodelay(c); /* a stream app may write in any pattern */
    memcpy(v, iov, (size_t)iovcnt * sizeof(*v));
    mh.msg_iovlen = (size_t)iovcnt;
    for (int i = 0; i < iovcnt; i++)
        total += (ssize_t)v[i].iov_len;
    while (mh.msg_iovlen > 0) {
        n = c->tp->sendmsg(c, &mh, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            return -errno;
        if (n < 0) {
            c->ready &= ~GN_WATCH_WRITE;
            if (left(deadline) == 0)
                return -ETIMEDOUT;
            rc = gn__conn_wait(c, GN_WATCH_WRITE, left(deadline));
            if (rc < 0)
                return rc;
            continue;
        }
        s->sent += (uint64_t)n;
        mh.msg_iovlen = gn__iov_advance(&mh.msg_iov, mh.msg_iovlen, (size_t)n);
    }
    return total;
}

ssize_t gn_stream_write(gn_stream_t *s, const void *buf, size_t len,
                        double timeout)
{
    struct iovec iov = {(void *)buf, len};

    if (buf == NULL && len > 0)
        return -EINVAL;
    return gn_stream_writev(s, &iov, 1, timeout);
}

/* ---- the rest --------------------------------------------------------- */

int gn_stream_shutdown(gn_stream_t *s, int how)
{
    int rc = usable(s);

    if (rc != 0 && rc != -ECANCELED)
        return rc;
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return -EINVAL;
    return s->c->tp->shutdown(s->c, how) == 0 ? 0 : -errno;
}

int gn_stream_close(gn_stream_t *s)
{
    int rc = usable(s);

    if (rc != 0 && rc != -ECANCELED)
        return rc;
    /* The descriptor itself closes with the connection (gn__conn_close,
     * the one place): the client sees the end now. */
    s->c->tp->shutdown(s->c, SHUT_RDWR);
    s->closed = 1;
    return 0;
}

const char *gn_stream_peer_addr(const gn_stream_t *s, int *port)
{
    if (port != NULL)
        *port = s->c->remote_port;
    return s->c->remote_addr;
}

const char *gn_stream_local_addr(gn_stream_t *s, int *port)
{
    int p;
    const char *addr = gn__conn_local_addr(s->c, &p);

    if (port != NULL)
        *port = p;
    return addr;
}

const char *gn_stream_name(const gn_stream_t *s)
{
    return s->name;
}

int gn_stream_stopping(const gn_stream_t *s)
{
    return s->c->set->stopping != 0;
}
