/*
 * HTTP/1.1 over a connection (net/conn.c): the serve loop that reads a head
 * within header_timeout, checks it against the limits, routes it to an app
 * between the pre_request and post_request hooks, reads or drains its body,
 * and decides keep-alive; the PROXY protocol header before the first
 * request (on a TLS connection, before the handshake: the preface). Bytes
 * come and go only through the connection's calls (gn__conn_fill,
 * gn__conn_writev, gn__conn_peek_clear ...), never a socket call of its
 * own.
 */
#include "http/serve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/access_format.h"
#include "config/ipset.h"
#include "core/clock.h"
#include "core/log.h"
#include "green/coro.h"
#include "green/park.h"
#include "green/sync.h"
#include "http/access_log.h"
#include "http/parse.h"
#include "http/proxy.h"
#include "http/request.h"
#include "http/response.h"
#include "net/conn.h"
#include "net/transport.h"

#define BODY_ROOM_MIN 4096    /* room behind a head for body bytes */
#define DRAIN_MAX (64 * 1024) /* unread body we read past to keep alive */

static inline const struct gn_http_ctx *ctx_of(const struct gn_conn *c)
{
    return c->ctx;
}

/* Whether C's peer may speak for its clients (X-Forwarded-*): decided
 * once per connection, not per request. */
static void trust_peer(struct gn_conn *c)
{
    c->forwarded_trusted =
        *c->remote_addr != '\0' &&
        gn__ipset_match(ctx_of(c)->forwarded_allow_ips, c->remote_addr);
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
    /* From when serving began (REQ's start: the same clock, read once). */
    int64_t deadline = req->start_us / 1000 + ctx_of(c)->header_ms, left;
    enum gn_http_event ev;
    size_t used;
    ssize_t n;

    gn__conn_compact(c);
    if (c->rlen == 0) {
        n = gn__conn_fill(c, 0);
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
        if (gn__conn_head_room(c, ctx_of(c)->head_max) != 0) {
            p->reason = "request head too large";
            return req->nheaders ? 431 : 414;
        }
        left = deadline - gn__monotonic_ms();
        n = left > 0 ? gn__conn_fill(c, left) : -ETIMEDOUT;
        if (n == -ETIMEDOUT && c->rlen > 0) {
            p->reason = "header_timeout passed before the head was complete";
            return 408;
        }
        if (n <= 0)
            return -1;
    }
}

static int route(struct gn_conn *c, struct gn_request *req,
                 struct gn_http_app *app);

/* Make room for body bytes behind the head, then resolve the head's
 * strings and route the request into *APP (*FOUND: whether an app is
 * mounted there), whose limit_request_body, if it has one, holds from
 * here on: before a byte of the body is read or "100 Continue" sent.
 * From here on the buffer does not move until the request ends (or goes
 * back, once the strings are copied out of it: see the end). */
static int finish_head(struct gn_conn *c, struct gn_http_parser *p,
                       struct gn_request *req, struct gn_http_app *app,
                       int *found)
{
    const char *why = NULL;
    size_t used;
    int status;

    /* Only a request with a body needs that room (a GET grew its buffer
     * for nothing, a realloc per request). */
    if ((req->content_length > 0 || req->chunked) &&
        c->rcap - req->head_end < BODY_ROOM_MIN &&
        gn__conn_grow(c, req->head_end + BODY_ROOM_MIN) != 0) {
        p->reason = "out of memory";
        return 503;
    }
    status = gn__request_finish_head(req, c->rbuf, &why);
    if (status != 0) {
        p->reason = why;
        return status;
    }
    *found = route(c, req, app);
    if (*found && app->has_body_limit)
        p->body_limit = app->body_limit;
    if (p->body_limit && req->content_length > 0 &&
        (uint64_t)req->content_length > p->body_limit) {
        p->reason = "Content-Length above limit_request_body";
        return 413;
    }
    /* Let llhttp finish its checks of the head (a Transfer-Encoding
     * without a final chunked is refused only now) and complete a message
     * that has no body, before the handler runs. */
    if (gn__http_execute(p, c->rbuf, c->rpos, c->rpos, &used) == GN_HTTP_ERROR)
        return p->status;
    /* A whole message (no body, nothing read behind it) on a worker where
     * many handlers hold read buffers (they wait: a sleep, a query): its
     * strings move into its arena (a few hundred bytes, most often on the
     * coroutine's stack) and the buffer's 4 KiB go back while it runs. */
    if (req->body_done && !req->upgrade && gn__conn_rbuf_crowded(c) &&
        gn__request_detach(req, c->rbuf, req->head_end) == 0)
        gn__conn_drop_rbuf(c);
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
        gn__conn_body_room(c, (uint32_t)req->head_end);
        n = gn__conn_fill(c, ctx_of(c)->body_ms);
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

ssize_t gn__http_read_body(struct gn_conn *c, struct gn_request *req, void *buf,
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

int gn__http_conn_keep_alive(struct gn_conn *c, struct gn_request *req)
{
    const struct gn_http_ctx *x = ctx_of(c);
    int drainable;

    /* A client still waiting for "100 Continue" may or may not send the
     * body now: we cannot tell its next request from it. */
    drainable = req->body_done || (!req->chunked && req->content_length <= 0) ||
                (!req->expect_continue &&
                 (req->chunked ||
                  (uint64_t)req->content_length - req->body_read <= DRAIN_MAX));
    return req->keep_alive && drainable && !c->closing && !c->set->stopping &&
           x->keepalive > 0 && x->serve_more;
}

/* ---- serving ---------------------------------------------------------- */

static void log_access(struct gn_conn *c, struct gn_request *req,
                       struct gn_response *res)
{
    /* Checked here: the line's buffer makes the call itself cost. */
    if (gn__log_access_enabled())
        gn__access_log(ctx_of(c)->access_format, c, req, res);
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
                ctx_of(c)->request_timeout, d->req->method, d->req->target,
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
    int cancel = ctx_of(c)->cancel_on_disconnect;

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
static int run_handler(struct gn_conn *c, const struct gn_http_app *app,
                       struct gn_request *req, struct gn_response *res, int *rc)
{
    const struct gn_http_ctx *x = ctx_of(c);
    struct deadline d = {.c = c, .req = req};
    struct gn_watch timer = {0};

    if (x->request_timeout > 0)
        gn__watch_start(&timer, c->set->loop, -1, 0,
                        x->request_timeout * 1000LL, deadline_passed, &d);
    res->deadline = x->request_timeout > 0 ? &timer : NULL;
    c->handling = req;
    if (c->rdhup) /* it left before we began */
        client_left(c);
    x->serving(x->owner, req);
    *rc = app->desc->handle(req, res, app->state);
    gn__threads_reap(c->coro);
    if (res->upgraded && res->upgrade_end != NULL)
        res->upgrade_end(res, *rc); /* its threads no longer use it */
    x->serving(x->owner, NULL);
    c->handling = NULL;
    if (x->request_timeout > 0)
        gn__watch_stop(&timer);
    res->deadline = NULL;
    if (d.passed)
        gn__coro_set_cancelled(c->coro, 0); /* to answer the client */
    return d.passed;
}

/* The app mounted where REQ's path points into *APP: 1, or 0 when none
 * is; either way SCRIPT_NAME and PATH_INFO are set (to "" and the path
 * without an app), so hooks always find them. */
static int route(struct gn_conn *c, struct gn_request *req,
                 struct gn_http_app *app)
{
    const struct gn_http_ctx *x = ctx_of(c);
    size_t len = 0;
    int found;
    char *script;

    *app = (struct gn_http_app){0};
    found = x->route(x->owner, req->path, &len, app);
    script = gn__arena_alloc(&req->arena, len + 1);

    if (script == NULL) {
        len = 0;
        script = (char *)"";
    }
    memcpy(script, req->path, len);
    script[len] = '\0';
    req->script_name = script;
    req->path_info = req->path + len;
    return found;
}

/* pre_request (POST 0) or post_request, with the request and its
 * response. */
static int request_hook(struct gn_conn *c, int post, struct gn_request *req,
                        struct gn_response *res)
{
    const struct gn_http_ctx *x = ctx_of(c);

    return x->hook ? x->hook(x->owner, post, req, res) : 0;
}

/* health_check_path: the worker answers it here, before routing and
 * hooks, so a load balancer's check says whether this worker's loop runs
 * (it is answered while every handler waits on something) and never
 * depends on an app: no app or hook sees it. 1 when REQ was that request
 * and is answered. */
static int answer_health(struct gn_conn *c, struct gn_request *req,
                         struct gn_response *res)
{
    const char *path = ctx_of(c)->health_path;
    int get;

    if (path == NULL || strcmp(req->path, path) != 0)
        return 0;
    get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    req->script_name = "";
    req->path_info = req->path;
    gn_response_status(res, get ? 200 : 405, NULL);
    if (!get)
        gn_response_header(res, "Allow", "GET, HEAD");
    gn_response_header(res, "Content-Type", "text/plain");
    gn_response_header(res, "Cache-Control", "no-store");
    if (get)
        gn_response_write(res, "OK\n", 3);
    else
        gn_response_write(res, "Method Not Allowed\n", 19);
    gn__response_finish(res);
    return 1;
}

/* Serve REQ with APP, routed to (FOUND 0: none is mounted there). */
static void call_app(struct gn_conn *c, struct gn_request *req,
                     struct gn_response *res, const struct gn_http_app *app,
                     int found)
{
    int rc, late;

    if (request_hook(c, 0, req, res) != 0) {
        gn__response_error(res, 500, 1);
        return;
    }
    if (!found) {
        gn__response_error(res, 404, 0);
        return;
    }
    late = run_handler(c, app, req, res, &rc);
    if (res->upgraded)
        return; /* the upgraded protocol ended with the handler */
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
        gn__log_exception("app %s failed on \"%s %s\": %s", app->name,
                          req->method, req->target, strerror(-rc));
    if (!res->head_sent)
        gn__response_error(res, 500, 1);
    c->closing = 1;
}

/* Answer STATUS to a request we could not read, then close. */
static struct gn_response *res_get(void);
static void res_put(struct gn_response *res);

static void reject(struct gn_conn *c, struct gn_http_parser *p,
                   struct gn_request *req, int status)
{
    struct gn_response *res = res_get();

    gn_log_debug("%s: %d %s: %s", c->remote_addr, status,
                 gn__status_reason(status), p->reason ? p->reason : "");
    if (res == NULL)
        return; /* out of memory: the connection closes without a word */
    gn__response_init(res, c, req);
    gn__response_error(res, status, 1);
    log_access(c, req, res);
    gn__response_release(res);
    res_put(res);
}

/* Responses kept for reuse. A response (~170 bytes, and 1.5 KiB of
 * inline storage once its handler writes: http/response.h) lives off the
 * coroutine's stack, so that a handler that waits long (a WebSocket
 * parked in gn_ws_recv) keeps one stack page resident rather than two;
 * every one given back is kept (a list through their first bytes), so
 * that serving a request allocates nothing, even when thousands that
 * waited finish in one batch (freed, they let glibc shrink its heap,
 * which the next batch faulted in again). The worker trims them, and the
 * storage, once a burst is over (gn__http_trim_spares). */
static struct gn_response *res_spares;
static size_t nres_spares;

static struct gn_response *res_get(void)
{
    struct gn_response *res = res_spares;

    if (res == NULL)
        return malloc(sizeof(struct gn_response));
    memcpy(&res_spares, res, sizeof(void *)); /* the next one */
    nres_spares--;
    return res;
}

static void res_put(struct gn_response *res)
{
    memcpy(res, &res_spares, sizeof(void *));
    res_spares = res;
    nres_spares++;
}

void gn__http_trim_spares(size_t keep)
{
    while (nres_spares > keep)
        free(res_get());
    gn__response_trim_storage(keep);
}

void gn__http_free_spares(void)
{
    gn__http_trim_spares(0);
}

size_t gn__http_prefill_spares(size_t n)
{
    struct gn_response *res;
    size_t added = 0;

    while (nres_spares < n && (res = malloc(sizeof(*res))) != NULL) {
        memset(res, 0, sizeof(*res));
        res_put(res);
        added++;
    }
    gn__response_prefill_storage(n);
    return added;
}

/* Serve one request. 0 to go on with the next, 1 to go idle (nothing
 * came), -1 to close. *CLOCK_US: the time the request before it on C
 * ended when this one was already read (pipelined), else 0; on return,
 * the time this one ended (or 0). */
static int serve(struct gn_conn *c, struct gn_http_parser *p,
                 int64_t *clock_us)
{
    struct gn_request req;
    struct gn_response *res;
    struct gn_http_app app;
    int status, health, found = 0;

    gn__request_init(&req, c, p);
    /* One clock read: the head's deadline, the access log's %(D)s, the
     * metrics' request time, and the coroutine's start in the worker's
     * listing when this is its first run (the same clock). A pipelined
     * request begins when the one before it ended: that read serves. */
    req.start_us = *clock_us ? *clock_us : gn__coro_now_us();
    *clock_us = 0;
    gn__http_parser_begin(p, &req);
    status = read_head(c, p, &req);
    if (status == HEAD_NONE) {
        gn__request_release(&req);
        return 1;
    }
    if (status == 0)
        status = finish_head(c, p, &req, &app, &found);
    if (status != 0) {
        if (status > 0) {
            reject(c, p, &req, status);
            c->linger = 1;
        }
        gn__request_release(&req);
        return -1;
    }
    gn__request_set_peer(&req, c->remote_addr, c->remote_port,
                         c->forwarded_trusted ? ctx_of(c)->forwarded_allow_ips
                                              : NULL);
    if (c->tp->secure)
        req.scheme = "https"; /* TLS ended here: whatever a proxy says */
    if ((res = res_get()) == NULL) {
        gn_log_error("out of memory for a response; closing connection "
                     "from %s",
                     c->remote_addr);
        gn__request_release(&req);
        return -1;
    }
    gn__response_init(res, c, &req);
    c->res = res;
    c->body_status = 0;
    health = answer_health(c, &req, res);
    if (!health) {
        call_app(c, &req, res, &app, found);
        request_hook(c, 1, &req, res);
    }
    c->res = NULL;
    if (res->failed || !res->keep_alive)
        c->closing = 1;
    if (!c->closing && drain_body(c, &req) != 0)
        c->closing = 1;
    if (c->closing && !req.body_done)
        c->linger = 1;
    /* One read for its end: the access log, the metrics, and the next
     * pipelined request's start. */
    req.end_us = *clock_us = gn__monotonic_us();
    log_access(c, &req, res);
    if (!health && ctx_of(c)->served != NULL)
        ctx_of(c)->served(ctx_of(c)->owner, res->status,
                          req.end_us - req.start_us,
                          found ? app.name : NULL);
    gn__response_release(res);
    res_put(res);
    gn__request_release(&req);
    c->nrequests++;
    /* max_requests bounds what apps leak; a balancer's checks, every few
     * seconds, would otherwise recycle idle workers. */
    if (!health)
        ctx_of(c)->request_done(ctx_of(c)->owner);
    return c->closing ? -1 : 0;
}

/* With proxy_protocol on, a connection from a peer in proxy_allow_ips
 * starts with a PROXY header naming the real client: whether C's should,
 * and has not been read yet. */
static int expects_proxy(const struct gn_conn *c)
{
    const struct gn_http_ctx *x = ctx_of(c);

    return x->proxy_protocol && !c->proxied &&
           gn__ipset_match(x->proxy_allow_ips, c->remote_addr);
}

/* The PROXY header parsed (N bytes, or N < 0: not one): C's client is the
 * one it names. 0, or -1 to drop the connection. */
static int proxy_read(struct gn_conn *c, int n,
                      const struct gn_proxy_info *info)
{
    if (n < 0) {
        gn_log_debug("%s: no valid PROXY protocol header; dropping the "
                     "connection",
                     c->remote_addr);
        return -1;
    }
    c->proxied = 1;
    if (!info->local) {
        memcpy(c->remote_addr, info->addr, sizeof(c->remote_addr));
        c->remote_port = info->port;
        trust_peer(c);
    }
    return 0;
}

/* The PROXY header at the start of C's input (through the transport: a
 * plain connection's, read with the request that follows it). 0 when it
 * was read (or none is expected), -1 to drop the connection. */
static int read_proxy_header(struct gn_conn *c)
{
    const struct gn_http_ctx *x = ctx_of(c);
    int64_t deadline, left;
    struct gn_proxy_info info;
    int n;

    if (!expects_proxy(c))
        return 0;
    deadline = gn__monotonic_ms() + x->header_ms;
    while ((n = gn__proxy_parse(c->rbuf + c->rpos, c->rlen - c->rpos, &info)) ==
           0) {
        left = deadline - gn__monotonic_ms();
        if (gn__conn_head_room(c, x->head_max) != 0 || left <= 0 ||
            gn__conn_fill(c, left) <= 0)
            return -1;
    }
    if (n > 0)
        c->rpos += (uint32_t)n;
    return proxy_read(c, n, &info);
}

/* The preface of a connection whose transport has a session (TLS): the
 * PROXY header comes in the clear before the handshake, so it is peeked
 * at on the socket itself and only its own bytes are taken, the
 * ClientHello behind it left to the transport. Once per connection. */
static int http_preface(struct gn_conn *c)
{
    const struct gn_http_ctx *x = ctx_of(c);
    int64_t deadline = gn__monotonic_ms() + x->header_ms, left;
    struct gn_proxy_info info;
    int n;

    if (c->peer_checked)
        return 0;
    trust_peer(c);
    c->peer_checked = 1;
    if (!expects_proxy(c))
        return 0;
    while ((n = gn__proxy_parse(c->rbuf, c->rlen, &info)) == 0) {
        left = deadline - gn__monotonic_ms();
        if (gn__conn_head_room(c, x->head_max) != 0 || left <= 0 ||
            gn__conn_peek_clear(c, left) <= 0)
            return -1;
    }
    if (n > 0 && gn__conn_take_clear(c, (size_t)n) != 0)
        return -1;
    return proxy_read(c, n, &info);
}

/* Serve C while it has input: its protocol's serve (struct gn_conn_proto). */
static int http_serve(struct gn_conn *c)
{
    struct gn_http_parser p;
    int64_t clock_us = 0;
    int rc;

    if (!c->peer_checked) {
        trust_peer(c);
        c->peer_checked = 1;
    }
    gn__http_parser_init(&p, &ctx_of(c)->limits);
    if (read_proxy_header(c) != 0)
        return -1;
    do {
        rc = serve(c, &p, &clock_us);
    } while (rc == 0 && c->rpos < c->rlen); /* pipelined requests wait */
    return rc;
}

/* The request line of the handler that runs (or reading the next one). */
static void describe(const struct gn_conn *c, char *buf, size_t len)
{
    const struct gn_request *req = c->handling;

    if (req == NULL)
        snprintf(buf, len, "HTTP, between requests");
    else
        snprintf(buf, len, "\"%s %s\"%s", req->method, req->target,
                 c->proto_data != NULL ? " (upgraded)" : "");
}

const struct gn_conn_proto gn__http1 = {
    .serve = http_serve,
    .client_left = client_left,
    .describe = describe,
    .preface = http_preface,
};
