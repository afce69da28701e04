/*
 * HTTP connections. An accepted socket is registered once with the loop,
 * edge-triggered, for reading, writing and the peer's close, and stays so
 * until it closes: serving a request costs no epoll_ctl. When bytes arrive
 * on an idle connection it gets a coroutine and a read buffer, serves
 * every request that is buffered (keep-alive, pipelining: strictly one
 * after another), and when nothing is left gives both back and waits idle
 * again, so an idle connection costs only its struct and a timer.
 *
 * Edge-triggered means the socket's readiness is ours to remember: `ready`
 * keeps the edges seen, and a read or write that finds the socket drained
 * (EAGAIN, or fewer bytes than asked) clears its bit; the coroutine then
 * parks until the next edge wakes it (conn_wait).
 *
 * The read buffer holds one request head at a time, at its start. The head
 * may grow the buffer (up to what the limits allow); once it is complete the
 * buffer stays put until the request ends, because the request's strings point
 * into it, and body bytes cycle through the room behind the head.
 */
#include "workers/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "green/coro.h"
#include "green/park.h"
#include "green/sync.h"
#include "green/sys.h"
#include "http/access_log.h"
#include "http/parse.h"
#include "http/proxy.h"
#include "http/request.h"
#include "http/response.h"
#include "plugins/hooks.h"
#include "workers/worker.h"

#define RBUF_INITIAL 4096
#define BODY_ROOM_MIN 4096    /* room behind a head for body bytes */
#define RBUF_SPARES 64        /* RBUF_INITIAL buffers kept for reuse */
#define OUT_CAP RBUF_INITIAL  /* responses held back for one write */
#define CONN_IOV_MAX 8        /* buffers gn__conn_writev adds to them */
#define DRAIN_MAX (64 * 1024) /* unread body we read past to keep alive */
#define LINGER_MS 2000        /* reading a closing client's leftovers */
#define LINGER_MAX (256 * 1024)
#define SHUTDOWN_IDLE_MS 1000  /* an idle connection's last chance at stop */
#define SENDFILE_MAX (1 << 20) /* per call: others get the loop in between */

static void on_io(int fd, short what, void *arg);
static void on_idle_timer(int fd, short what, void *arg);
static void client_left(struct gn_conn *c);

/* ---- life cycle ------------------------------------------------------- */

/* SA as text into ADDR ("" for a unix socket) and its port. */
static void describe(const struct sockaddr *sa, char addr[INET6_ADDRSTRLEN],
                     uint16_t *port)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        inet_ntop(AF_INET, &in->sin_addr, addr, INET6_ADDRSTRLEN);
        *port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        inet_ntop(AF_INET6, &in6->sin6_addr, addr, INET6_ADDRSTRLEN);
        *port = ntohs(in6->sin6_port);
    } else {
        *addr = '\0';
        *port = 0;
    }
}

const char *gn__conn_local_addr(struct gn_conn *c, int *port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (!c->local_known) {
        if (getsockname(c->fd, (struct sockaddr *)&ss, &len) == 0)
            describe((struct sockaddr *)&ss, c->local_addr, &c->local_port);
        c->local_known = 1;
    }
    *port = c->local_port;
    return c->local_addr;
}

int gn__conn_peer_gone(struct gn_conn *c)
{
    char byte;
    ssize_t n;

    /* Bytes still buffered here (a pipelined request) mean it was there. */
    if (c->rpos < c->rlen)
        return 0;
    if (c->rdhup)
        return 1;
    n = gn__sys_recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 ||
           (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Whether C's peer may speak for its clients (X-Forwarded-*): decided
 * once per connection, not per request. */
static void trust_peer(struct gn_conn *c)
{
    c->forwarded_trusted =
        *c->remote_addr != '\0' &&
        gn__ipset_match(&c->w->cfg->forwarded_allow_ips, c->remote_addr);
}

/* Idle for at most TIMEOUT_MS, or serve at once if an edge came while the
 * connection was busy (a timer due now: never a nested resume). */
static void go_idle(struct gn_conn *c, int64_t timeout_ms)
{
    if (gn__watch_start(&c->idle, c->w->loop, -1, 0,
                        (c->ready & GN_WATCH_READ) ? 0 : timeout_ms,
                        on_idle_timer, c) != 0) {
        gn_log_error("cannot watch connection from %s", c->remote_addr);
        gn__conn_close(c);
    }
}

/* Wait for an edge that makes C's socket ready for EVENTS, within
 * TIMEOUT_MS: the ready bits, -ETIMEDOUT, or the cancellation error.
 * From the coroutine serving C. */
static int conn_wait(struct gn_conn *c, int events, int64_t timeout_ms)
{
    struct gn_waiter wt;
    int rc;

    if (c->ready & events)
        return c->ready & events;
    c->io_waiter = &wt;
    c->io_events = events;
    rc = gn__green_park(&wt, -1, 0, timeout_ms);
    c->io_waiter = NULL;
    return rc;
}

struct gn_conn *gn__conn_new(struct gn_worker *w, int fd,
                             const struct sockaddr *peer, socklen_t len)
{
    struct gn_conn *c = calloc(1, sizeof(*c));
    int one = 1;

    if (c == NULL) {
        gn__sys_close(fd);
        return NULL;
    }
    c->w = w;
    c->fd = fd;
    if (len > 0)
        describe(peer, c->remote_addr, &c->remote_port);
    trust_peer(c);
    if (peer->sa_family != AF_UNIX)
        gn__sys_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    /* Registered once, for the connection's life (the kernel reports a
     * request that is already there at once). */
    if (gn__watch_start(&c->io, w->loop, fd,
                        GN_WATCH_READ | GN_WATCH_WRITE | GN_WATCH_CLOSED |
                            GN_WATCH_PERSIST | GN_WATCH_ET,
                        -1, on_io, c) != 0) {
        gn_log_error("cannot watch connection from %s", c->remote_addr);
        gn__conn_close(c);
        return NULL;
    }
    go_idle(c, w->first_byte_ms);
    return c;
}

void gn__conn_close(struct gn_conn *c)
{
    struct gn_worker *w = c->w;

    gn__watch_stop(&c->io);
    gn__watch_stop(&c->idle);
    gn__sys_close(c->fd);
    free(c->rbuf);
    free(c->out);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    free(c);
    gn__worker_conn_closed(w);
}

void gn__conn_shutdown(struct gn_conn *c)
{
    /* Busy: finish, answering with Connection: close. Idle: wait a moment
     * more, so that a client about to send its next request is answered
     * (with Connection: close) instead of finding the connection shut
     * under it and having to retry; then close. */
    c->closing = 1;
    if (c->coro == NULL)
        go_idle(c, SHUTDOWN_IDLE_MS);
}

/* ---- socket I/O (inside the coroutine) -------------------------------- */

static char *rbuf_get(struct gn_worker *w);
static void rbuf_put(struct gn_worker *w, char *buf, size_t cap);

/* Send every byte of IOV. */
static int send_all(struct gn_conn *c, struct iovec *iov, int iovcnt)
{
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
    ssize_t n;
    int rc;

    while (mh.msg_iovlen > 0) {
        n = gn__sys_sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            return -errno;
        if (n < 0) {
            c->ready &= ~GN_WATCH_WRITE;
            rc = conn_wait(c, GN_WATCH_WRITE, c->w->write_ms);
            if (rc < 0)
                return rc;
            continue;
        }
        while (mh.msg_iovlen > 0 && (size_t)n >= mh.msg_iov->iov_len) {
            n -= (ssize_t)mh.msg_iov->iov_len;
            mh.msg_iov++;
            mh.msg_iovlen--;
        }
        if (mh.msg_iovlen > 0) {
            mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + n;
            mh.msg_iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* Hold IOV back when more requests are already buffered behind this one
 * and it fits: 1 when held. One write for many pipelined responses costs
 * the kernel one send instead of many. */
static int hold(struct gn_conn *c, const struct iovec *iov, int iovcnt)
{
    size_t total = 0;

    if (c->rpos >= c->rlen)
        return 0; /* nothing pipelined behind: the client waits for it */
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (total > OUT_CAP - c->outlen)
        return 0;
    if (c->out == NULL && (c->out = rbuf_get(c->w)) == NULL)
        return 0;
    for (int i = 0; i < iovcnt; i++) {
        memcpy(c->out + c->outlen, iov[i].iov_base, iov[i].iov_len);
        c->outlen += (uint32_t)iov[i].iov_len;
    }
    return 1;
}

/* Send what is held back, waiting as long as it takes. */
static int flush_held(struct gn_conn *c)
{
    struct iovec iov = {c->out, c->outlen};

    if (c->outlen == 0)
        return 0;
    c->outlen = 0; /* before any wait: the park hook finds nothing */
    return send_all(c, &iov, 1);
}

void gn__conn_push(struct gn_conn *c)
{
    ssize_t n;

    if (c->outlen == 0)
        return;
    n = gn__sys_send(c->fd, c->out, c->outlen, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0)
        return; /* full (or failed): the next write or flush_held says */
    memmove(c->out, c->out + n, c->outlen - (size_t)n);
    c->outlen -= (uint32_t)n;
}

int gn__conn_writev(struct gn_conn *c, struct iovec *iov, int iovcnt, int last)
{
    struct iovec all[1 + CONN_IOV_MAX];
    int rc;

    if (last && hold(c, iov, iovcnt))
        return 0;
    if (c->outlen == 0)
        return send_all(c, iov, iovcnt);
    if (iovcnt > CONN_IOV_MAX)
        return (rc = flush_held(c)) != 0 ? rc : send_all(c, iov, iovcnt);
    /* What was held, then IOV, in one write. */
    all[0] = (struct iovec){c->out, c->outlen};
    memcpy(all + 1, iov, (size_t)iovcnt * sizeof(*iov));
    c->outlen = 0;
    return send_all(c, all, iovcnt + 1);
}

int gn__conn_sendfile(struct gn_conn *c, int fd, off_t offset, size_t count)
{
    ssize_t n;
    int rc;

    if ((rc = flush_held(c)) != 0) /* what was held goes first */
        return rc;
    while (count > 0) {
        size_t chunk = count < SENDFILE_MAX ? count : SENDFILE_MAX;

        n = gn__sys_sendfile(c->fd, fd, &offset, chunk);
        if (n > 0) {
            count -= (size_t)n;
            if ((size_t)n < chunk || count == 0)
                continue;
            /* After a whole chunk, a turn of the loop, so that one large
             * file does not hold the other connections up. */
            if ((rc = gn__wait_ms(0)) < 0)
                return rc;
            continue;
        }
        if (n == 0)
            return -EIO; /* the file is shorter than promised */
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        c->ready &= ~GN_WATCH_WRITE;
        rc = conn_wait(c, GN_WATCH_WRITE, c->w->write_ms);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Read what the socket has into the free end of the buffer, waiting up
 * to TIMEOUT_MS for it (0: not at all). The bytes read (> 0), 0 at EOF, or
 * a negative errno (-ETIMEDOUT; -EAGAIN when TIMEOUT_MS is 0). */
static ssize_t fill(struct gn_conn *c, int64_t timeout_ms)
{
    size_t room = c->rcap - c->rlen;
    ssize_t n;
    int rc;

    for (;;) {
        n = gn__sys_recv(c->fd, c->rbuf + c->rlen, room, 0);
        if (n > 0) {
            /* Less than asked: the socket is drained; a new edge will
             * say when more arrives. */
            if ((size_t)n < room)
                c->ready &= ~GN_WATCH_READ;
            c->rlen += (uint32_t)n;
            return n;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        c->ready &= ~GN_WATCH_READ;
        if (timeout_ms == 0)
            return -EAGAIN;
        /* The client may wait for the answers before it sends more. */
        if ((rc = flush_held(c)) != 0)
            return rc;
        rc = conn_wait(c, GN_WATCH_READ, timeout_ms);
        if (rc < 0)
            return rc;
    }
}

static int grow(struct gn_conn *c, size_t cap)
{
    char *p = realloc(c->rbuf, cap);

    if (p == NULL)
        return -ENOMEM;
    c->rbuf = p;
    c->rcap = (uint32_t)cap;
    return 0;
}

/* Head stage: move the unparsed bytes to the front before a new request,
 * so the head starts at offset 0. */
static void compact_head(struct gn_conn *c)
{
    if (c->rpos == 0)
        return;
    memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
    c->rlen -= c->rpos;
    c->rpos = 0;
}

/* Head stage: room to read more, growing up to the largest legal head. */
static int head_room(struct gn_conn *c)
{
    size_t cap = (size_t)c->rcap * 2;

    if (c->rlen < c->rcap)
        return 0;
    if (c->rcap >= c->w->head_max)
        return -ENOBUFS;
    return grow(c, cap < c->w->head_max ? cap : c->w->head_max);
}

/* Body stage: recycle the room behind the head (which must not move). */
static void body_room(struct gn_conn *c, const struct gn_request *req)
{
    uint32_t keep = c->rlen - c->rpos, head = (uint32_t)req->head_end;

    if (c->rlen < c->rcap || c->rpos == head)
        return;
    memmove(c->rbuf + head, c->rbuf + c->rpos, keep);
    c->rpos = head;
    c->rlen = head + keep;
}

/* ---- reading a request ------------------------------------------------ */

/* read_head's "nothing came after all": the connection goes back to idle. */
#define HEAD_NONE (-2)

/* Read and parse until the head is complete, within header_timeout of its
 * first byte (which is here or on its way: a coroutine starts when the
 * socket is readable). 0 when it is; HEAD_NONE when no byte is there (an
 * edge that had already been read); -1 to close without a word (the client
 * left or sent nothing); or the HTTP status to answer before closing. */
static int read_head(struct gn_conn *c, struct gn_http_parser *p,
                     struct gn_request *req)
{
    int64_t deadline = gn__monotonic_ms() + c->w->header_ms, left;
    enum gn_http_event ev;
    size_t used;
    ssize_t n;

    compact_head(c);
    if (c->rlen == 0) {
        n = fill(c, 0);
        if (n == -EAGAIN)
            return HEAD_NONE;
        if (n <= 0)
            return -1;
    }
    for (;;) {
        if (c->rpos < c->rlen) {
            ev = gn__http_execute(p, c->rbuf, c->rpos, c->rlen, &used);
            c->rpos += (uint32_t)used;
            if (ev == GN_HTTP_HEAD) {
                req->head_end = c->rpos;
                return 0;
            }
            if (ev == GN_HTTP_ERROR)
                return p->status;
        }
        if (head_room(c) != 0) {
            p->reason = "request head too large";
            return req->nheaders ? 431 : 414;
        }
        left = deadline - gn__monotonic_ms();
        n = left > 0 ? fill(c, left) : -ETIMEDOUT;
        if (n == -ETIMEDOUT && c->rlen > 0) {
            p->reason = "header_timeout passed before the head was complete";
            return 408;
        }
        if (n <= 0)
            return -1;
    }
}

/* Make room for body bytes behind the head, then resolve the head's
 * strings: from here on the buffer does not move until the request ends. */
static int finish_head(struct gn_conn *c, struct gn_http_parser *p,
                       struct gn_request *req)
{
    const char *why = NULL;
    size_t used;
    int status;

    /* Only a request with a body needs that room (a GET grew its buffer
     * for nothing, a realloc per request). */
    if ((req->content_length > 0 || req->chunked) &&
        c->rcap - req->head_end < BODY_ROOM_MIN &&
        grow(c, req->head_end + BODY_ROOM_MIN) != 0) {
        p->reason = "out of memory";
        return 503;
    }
    status = gn__request_finish_head(req, c->rbuf, &why);
    if (status != 0) {
        p->reason = why;
        return status;
    }
    if (c->w->limits.body && req->content_length > 0 &&
        (uint64_t)req->content_length > c->w->limits.body) {
        p->reason = "Content-Length above limit_request_body";
        return 413;
    }
    /* Let llhttp finish its checks of the head (a Transfer-Encoding
     * without a final chunked is refused only now) and complete a message
     * that has no body, before the handler runs. */
    if (gn__http_execute(p, c->rbuf, c->rpos, c->rpos, &used) == GN_HTTP_ERROR)
        return p->status;
    return 0;
}

/* Parse body bytes into OUT (NULL: discard) until LEN are there, the body
 * ends, or some arrived and the buffer is empty. */
static ssize_t read_body(struct gn_conn *c, struct gn_request *req, char *out,
                         size_t len)
{
    struct gn_http_parser *p = req->parser;
    enum gn_http_event ev;
    size_t used, end;
    ssize_t n;

    p->out = out;
    p->room = len;
    p->got = 0;
    while (!req->body_done && p->got < len) {
        end = c->rlen;
        if (end - c->rpos > len - p->got)
            end = c->rpos + (len - p->got);
        /* Even with no bytes: a message without a body completes here. */
        ev = gn__http_execute(p, c->rbuf, c->rpos, end, &used);
        c->rpos += (uint32_t)used;
        if (ev == GN_HTTP_ERROR) {
            gn_log_debug("%s: bad request body: %s", c->remote_addr, p->reason);
            c->closing = 1;
            c->body_status = p->status;
            return -EPROTO;
        }
        if (ev == GN_HTTP_DONE || c->rpos < c->rlen)
            continue;
        if (p->got > 0)
            break; /* give the caller what came; read more next call */
        body_room(c, req);
        n = fill(c, c->w->body_ms);
        if (n <= 0) {
            c->closing = 1;
            if (n == -ETIMEDOUT)
                c->body_status = 408; /* body_timeout: the client stalled */
            return n == 0 ? -ECONNRESET : n;
        }
    }
    p->out = NULL;
    req->body_read += p->got;
    return (ssize_t)p->got;
}

ssize_t gn__conn_read_body(struct gn_conn *c, struct gn_request *req, void *buf,
                           size_t len)
{
    int rc;

    if (req->body_done || len == 0)
        return 0;
    if (!req->body_started) {
        req->body_started = 1;
        if (c->res != NULL && (rc = gn__response_continue(c->res)) != 0)
            return rc;
    }
    return read_body(c, req, buf, len);
}

/* Read past what the handler left of the body, up to DRAIN_MAX bytes, so
 * the next request starts at a message boundary. */
static int drain_body(struct gn_conn *c, struct gn_request *req)
{
    size_t total = 0;
    ssize_t n;

    while (!req->body_done) {
        n = read_body(c, req, NULL, DRAIN_MAX - total);
        if (n < 0)
            return (int)n;
        total += (size_t)n;
        if (!req->body_done && total >= DRAIN_MAX)
            return -E2BIG;
    }
    return 0;
}

int gn__conn_keep_alive(struct gn_conn *c, struct gn_request *req)
{
    struct gn_worker *w = c->w;
    int drainable;

    /* A client still waiting for "100 Continue" may or may not send the
     * body now: we cannot tell its next request from it. */
    drainable = req->body_done || (!req->chunked && req->content_length <= 0) ||
                (!req->expect_continue &&
                 (req->chunked ||
                  (uint64_t)req->content_length - req->body_read <= DRAIN_MAX));
    return req->keep_alive && drainable && !c->closing && !w->stopping &&
           w->cfg->keepalive > 0 &&
           !(w->max_requests && w->nrequests + 1 >= w->max_requests);
}

/* ---- serving ---------------------------------------------------------- */

static void log_access(struct gn_conn *c, struct gn_request *req,
                       struct gn_response *res)
{
    gn__access_log(&c->w->cfg->access_log_format, c, req, res);
}

/* request_timeout, armed around a handler. */
struct deadline {
    struct gn_conn *c;
    struct gn_request *req;
    int passed;
};

static void deadline_passed(int fd, short what, void *arg)
{
    struct deadline *d = arg;
    struct gn_conn *c = d->c;

    d->passed = 1;
    gn_log_warn("request_timeout (%d s) passed: cancelling \"%s %s\" from %s",
                c->w->cfg->request_timeout, d->req->method, d->req->target,
                c->remote_addr);
    /* D is on the coroutine's stack: not to be touched from here on. */
    gn__green_cancel(c->coro, -ECANCELED);
}

/* The client closed its end while its handler runs: nobody will read the
 * answer (nginx's 499 case). By default the handler runs on to its end,
 * as under gevent, so that its work is not cut between two writes (an
 * INCR done, its SET not); only its writes to the client fail. With
 * cancel_on_disconnect its green calls are cancelled instead. */
static void client_left(struct gn_conn *c)
{
    struct gn_request *req = c->handling;
    int cancel = c->w->cfg->cancel_on_disconnect;

    gn_log_debug("%s went away: %s \"%s %s\"", c->remote_addr,
                 cancel ? "cancelling" : "letting it finish", req->method,
                 req->target);
    c->client_left = 1;
    c->closing = 1;
    if (c->res != NULL) {
        c->unanswered = !c->res->head_sent;
        c->res->failed = 1; /* its writes return -EPIPE from now on */
    }
    if (cancel)
        gn__green_cancel(c->coro, -ECANCELED);
}

/* Run the handler, within request_timeout if there is one (and cancelled
 * if the client leaves, with cancel_on_disconnect); then end the green
 * threads it spawned. Whether the deadline passed. */
static int run_handler(struct gn_conn *c, struct gn_app_plugin *app,
                       struct gn_request *req, struct gn_response *res, int *rc)
{
    struct deadline d = {.c = c, .req = req};
    struct gn_watch timer = {0};

    if (c->w->cfg->request_timeout > 0)
        gn__watch_start(&timer, c->w->loop, -1, 0,
                        c->w->cfg->request_timeout * 1000LL, deadline_passed,
                        &d);
    c->handling = req;
    if (c->rdhup) /* it left before we began */
        client_left(c);
    gn__worker_serving(c->w, req);
    *rc = app->desc.handle(req, res, app->state);
    gn__threads_reap(c->coro);
    gn__worker_serving(c->w, NULL);
    c->handling = NULL;
    gn__watch_stop(&timer);
    if (d.passed)
        gn__coro_set_cancelled(c->coro, 0); /* to answer the client */
    return d.passed;
}

/* The app mounted where REQ's path points, or NULL when none is; either
 * way SCRIPT_NAME and PATH_INFO are set (to "" and the path without an
 * app), so hooks always find them. */
static struct gn_app_plugin *route(struct gn_conn *c, struct gn_request *req)
{
    size_t len = 0;
    struct gn_app_plugin *app = gn__apps_route(&c->w->apps, req->path, &len);
    char *script = gn__arena_alloc(&req->arena, len + 1);

    if (script == NULL) {
        len = 0;
        script = (char *)"";
    }
    memcpy(script, req->path, len);
    script[len] = '\0';
    req->script_name = script;
    req->path_info = req->path + len;
    return app;
}

/* pre_request or post_request, with the request and its response. */
static int request_hook(struct gn_conn *c, enum gn_hook_id id,
                        struct gn_request *req, struct gn_response *res)
{
    gn_hook_args_t args;

    if (!gn__hook_configured(id))
        return 0;
    gn__worker_hook_args(c->w, &args, id);
    args.req = req;
    args.res = res;
    return gn__hook_call(id, &args);
}

static void call_app(struct gn_conn *c, struct gn_request *req,
                     struct gn_response *res)
{
    struct gn_app_plugin *app = route(c, req);
    int rc, late;

    if (request_hook(c, GN_HOOK_PRE_REQUEST, req, res) != 0) {
        gn__response_error(res, 500, 1);
        return;
    }
    if (app == NULL) {
        gn__response_error(res, 404, 0);
        return;
    }
    late = run_handler(c, app, req, res, &rc);
    if (c->client_left) {
        /* Nobody to answer: the access log says 499, as nginx's does,
         * unless the head had gone out before it left. */
        if (c->unanswered)
            res->status = 499;
        return;
    }
    if (late) {
        if (!res->head_sent)
            gn__response_error(res, 504, 1);
        c->closing = 1;
        return;
    }

    /* A malformed body is the client's fault, whatever the app made of
     * it: answer the parser's status, not the app's. */
    if (c->body_status && !res->head_sent) {
        gn__response_error(res, c->body_status, 1);
        return;
    }
    if (rc >= 0) {
        gn__response_finish(res);
        return;
    }
    if (!c->body_status)
        gn_log_error("app %s failed on \"%s %s\": %s", app->name, req->method,
                     req->target, strerror(-rc));
    if (!res->head_sent)
        gn__response_error(res, 500, 1);
    c->closing = 1;
}

/* Answer STATUS to a request we could not read, then close. */
static void reject(struct gn_conn *c, struct gn_http_parser *p,
                   struct gn_request *req, int status)
{
    struct gn_response res;

    gn_log_debug("%s: %d %s: %s", c->remote_addr, status,
                 gn__status_reason(status), p->reason ? p->reason : "");
    gn__response_init(&res, c, req);
    gn__response_error(&res, status, 1);
    log_access(c, req, &res);
    gn__response_release(&res);
}

/* Serve one request. 0 to go on with the next, 1 to go idle (nothing
 * came), -1 to close. */
static int serve(struct gn_conn *c, struct gn_http_parser *p)
{
    struct gn_request req;
    struct gn_response res;
    int status;

    gn__request_init(&req, c, p);
    if (gn__log_access_enabled())
        req.start_us = gn__monotonic_us(); /* for %(D)s and friends */
    gn__http_parser_begin(p, &req);
    status = read_head(c, p, &req);
    if (status == HEAD_NONE) {
        gn__request_release(&req);
        return 1;
    }
    if (status == 0)
        status = finish_head(c, p, &req);
    if (status != 0) {
        if (status > 0) {
            reject(c, p, &req, status);
            c->linger = 1;
        }
        gn__request_release(&req);
        return -1;
    }
    gn__request_set_peer(&req, c->remote_addr, c->remote_port,
                         c->forwarded_trusted ? &c->w->cfg->forwarded_allow_ips
                                              : NULL);
    gn__response_init(&res, c, &req);
    c->res = &res;
    c->body_status = 0;
    call_app(c, &req, &res);
    request_hook(c, GN_HOOK_POST_REQUEST, &req, &res);
    c->res = NULL;
    if (res.failed || !res.keep_alive)
        c->closing = 1;
    if (!c->closing && drain_body(c, &req) != 0)
        c->closing = 1;
    if (c->closing && !req.body_done)
        c->linger = 1;
    log_access(c, &req, &res);
    gn__response_release(&res);
    gn__request_release(&req);
    c->nrequests++;
    gn__worker_request_done(c->w);
    return c->closing ? -1 : 0;
}

/* Before closing on a client that may still be sending (a rejected or
 * half-read request), read and drop its bytes for a moment: closing with
 * unread data makes the kernel send RST, which can destroy our response
 * before the client reads it. */
static void linger(struct gn_conn *c)
{
    int64_t deadline = gn__monotonic_ms() + LINGER_MS, left;
    size_t total = 0;
    ssize_t n;

    if (gn__sys_shutdown(c->fd, SHUT_WR) != 0)
        return;
    while (total < LINGER_MAX && (left = deadline - gn__monotonic_ms()) > 0) {
        c->rpos = c->rlen = 0;
        n = fill(c, left);
        if (n <= 0)
            return;
        total += (size_t)n;
    }
}

/* With proxy_protocol on, a connection from a peer in proxy_allow_ips
 * starts with a PROXY header naming the real client. 0 when it was read
 * (or none is expected), -1 to drop the connection. */
static int read_proxy_header(struct gn_conn *c)
{
    const struct gn_config *cfg = c->w->cfg;
    int64_t deadline = gn__monotonic_ms() + c->w->header_ms, left;
    struct gn_proxy_info info;
    int n;

    if (!cfg->proxy_protocol || c->proxied ||
        !gn__ipset_match(&cfg->proxy_allow_ips, c->remote_addr))
        return 0;
    while ((n = gn__proxy_parse(c->rbuf + c->rpos, c->rlen - c->rpos, &info)) ==
           0) {
        left = deadline - gn__monotonic_ms();
        if (head_room(c) != 0 || left <= 0 || fill(c, left) <= 0)
            return -1;
    }
    if (n < 0) {
        gn_log_debug("%s: no valid PROXY protocol header; dropping the "
                     "connection",
                     c->remote_addr);
        return -1;
    }
    c->rpos += (uint32_t)n;
    c->proxied = 1;
    if (!info.local) {
        memcpy(c->remote_addr, info.addr, sizeof(c->remote_addr));
        c->remote_port = info.port;
        trust_peer(c);
    }
    return 0;
}

/* A read buffer of RBUF_INITIAL bytes. A connection takes one when a
 * request arrives and gives it back when it goes idle, so a few are kept
 * for the next (a malloc and a free per keep-alive request otherwise);
 * idle connections hold none. */
static char *rbuf_get(struct gn_worker *w)
{
    char *buf = w->spare_rbufs;

    if (buf == NULL)
        return malloc(RBUF_INITIAL);
    memcpy(&w->spare_rbufs, buf, sizeof(void *)); /* the next one */
    w->nspare_rbufs--;
    return buf;
}

static void rbuf_put(struct gn_worker *w, char *buf, size_t cap)
{
    if (buf == NULL || cap != RBUF_INITIAL || w->nspare_rbufs >= RBUF_SPARES) {
        free(buf); /* grown for a large head or body: not kept */
        return;
    }
    memcpy(buf, &w->spare_rbufs, sizeof(void *));
    w->spare_rbufs = buf;
    w->nspare_rbufs++;
}

void gn__conn_free_spares(struct gn_worker *w)
{
    while (w->spare_rbufs != NULL)
        free(rbuf_get(w));
}

static void conn_main(struct gn_coro *co, void *arg)
{
    struct gn_conn *c = arg;
    struct gn_http_parser p;
    int rc;

    c->rbuf = rbuf_get(c->w);
    if (c->rbuf == NULL) {
        c->closing = 1;
        return;
    }
    c->rcap = RBUF_INITIAL;
    c->rlen = c->rpos = 0;
    gn__http_parser_init(&p, &c->w->limits);
    if (read_proxy_header(c) != 0) {
        c->closing = 1;
        return;
    }
    do {
        rc = serve(c, &p);
    } while (rc == 0 && c->rpos < c->rlen); /* pipelined requests wait */
    /* Idle again (rc >= 0) or closing: the held answers go out first. */
    if (flush_held(c) != 0 || rc < 0) {
        c->closing = 1;
        if (rc < 0 && c->linger)
            linger(c);
    }
}

/* Runs on the loop's stack once conn_main returned. */
static void conn_coro_exit(struct gn_coro *co, void *arg)
{
    struct gn_conn *c = arg;

    gn__coro_release(co);
    c->coro = NULL;
    rbuf_put(c->w, c->rbuf, c->rcap);
    c->rbuf = NULL;
    rbuf_put(c->w, c->out, RBUF_INITIAL);
    c->out = NULL;
    c->outlen = 0;
    c->rlen = c->rpos = c->rcap = 0;
    if (c->closing || c->w->stopping)
        gn__conn_close(c);
    else
        go_idle(c, (int64_t)c->w->cfg->keepalive * 1000);
}

static void start_serving(struct gn_conn *c)
{
    gn__watch_stop(&c->idle);
    c->coro = gn__coro_new(c->w->coros, conn_main, c, conn_coro_exit, c);
    if (c->coro == NULL) {
        gn_log_error("out of memory for a coroutine; closing connection "
                     "from %s",
                     c->remote_addr);
        gn__conn_close(c);
        return;
    }
    gn__coro_set_data(c->coro, c);
    gn__coro_resume(c->coro);
}

/* An edge on C's socket: remember it; start serving an idle connection
 * that became readable; wake the coroutine waiting for it; tell a running
 * handler its client left. */
static void on_io(int fd, short what, void *arg)
{
    struct gn_conn *c = arg;

    c->ready |= what & (GN_WATCH_READ | GN_WATCH_WRITE);
    if (what & GN_WATCH_CLOSED) {
        c->rdhup = 1;
        c->ready |= GN_WATCH_READ; /* a read will see the end */
    }
    if (c->coro == NULL) {
        if (c->ready & GN_WATCH_READ)
            start_serving(c);
        return;
    }
    if (c->io_waiter != NULL && (c->ready & c->io_events))
        gn__green_wake_now(c->io_waiter, c->ready & c->io_events);
    else if ((what & GN_WATCH_CLOSED) && c->handling != NULL)
        client_left(c);
}

/* Idle too long (close quietly, as Gunicorn), or an edge came while the
 * connection was busy (serve it). */
static void on_idle_timer(int fd, short what, void *arg)
{
    struct gn_conn *c = arg;

    if ((c->ready & GN_WATCH_READ) && !c->w->stopping)
        start_serving(c);
    else
        gn__conn_close(c);
}
