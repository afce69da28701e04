/*
 * HTTP requests served by another worker (http/relay.h).
 *
 * A relayed request crosses as HTTP/1.0 bytes: its head rebuilt from the
 * parsed request (the read buffer was cut into strings in place), without
 * the hop-by-hop and framing fields, with the body read here and a
 * Content-Length. HTTP/1.0 because the answer then comes framed by its
 * Content-Length or by the close, never chunked: the other side serves it
 * over a socket pair whose end it reads until the close, and sends those
 * bytes back as they are; this side parses the status, the fields and the
 * body, and writes them as its own response (its own Date, Server and
 * framing). A handed-over connection's head crosses as HTTP/1.1, as sent,
 * since the other side answers its client itself.
 */
#include "http/relay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "green/park.h"
#include "green/sys.h"
#include "http/request.h"
#include "http/response.h"
#include "http/serve.h"
#include "net/buf.h"
#include "net/conn.h"
#include "net/peer.h"
#include "net/transport.h"

/* Reading a relayed request's body, per read. */
#define BODY_CHUNK 16384

/* Fields that describe this hop or the framing, not the request: not
 * relayed (the relayed request gets its own Content-Length). */
static int hop_field(const char *name)
{
    static const char *const hop[] = {
        "Connection",        "Keep-Alive", "Content-Length",
        "Transfer-Encoding", "Expect",     "Upgrade",
        "TE",                "Trailer",    "Proxy-Connection",
    };

    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if (strcasecmp(name, hop[i]) == 0)
            return 1;
    return 0;
}

/* REQ's head into OUT as VERSION ("1.0" or "1.1"); with RELAYED, without
 * the hop fields and with Content-Length: BODY_LEN. */
static void put_head(struct gn_buf *out, gn_request_t *req, const char *version,
                     int relayed, size_t body_len)
{
    size_t n = gn_request_header_count(req);
    const char *name, *value;

    gn__buf_printf(out, "%s %s HTTP/%s\r\n", gn_request_method(req),
                   gn_request_target(req), version);
    for (size_t i = 0; i < n; i++) {
        if (gn_request_header_at(req, i, &name, &value) != 0)
            break;
        if (relayed && hop_field(name))
            continue;
        gn__buf_printf(out, "%s: %s\r\n", name, value);
    }
    if (relayed)
        gn__buf_printf(out, "Content-Length: %zu\r\n", body_len);
    gn__buf_append(out, "\r\n", 2);
}

/* REQ's body, at most MAX + 1 bytes of it, into BODY. */
static int read_body(gn_request_t *req, struct gn_buf *body, size_t max)
{
    char chunk[BODY_CHUNK];
    ssize_t n;

    while (body->len <= max) {
        size_t want = max + 1 - body->len;

        n = gn_request_read(req, chunk, want < sizeof(chunk) ? want
                                                             : sizeof(chunk));
        if (n < 0)
            return (int)n;
        if (n == 0)
            break;
        gn__buf_append(body, chunk, (size_t)n);
    }
    return body->err;
}

/* The line [P, END) ends at its "\r\n": where the next begins, or NULL. */
static const char *next_line(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));

    return nl ? nl + 1 : NULL;
}

/* One field line [P, EOL) of the relayed answer onto RES; its
 * Content-Length into *CLEN. */
static void take_field(gn_response_t *res, const char *p, const char *eol,
                       long long *clen)
{
    char line[2048], *colon, *value;
    size_t len = (size_t)(eol - p);

    while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
        len--;
    if (len >= sizeof(line))
        return; /* longer than anything this server writes */
    memcpy(line, p, len);
    line[len] = '\0';
    if ((colon = strchr(line, ':')) == NULL)
        return;
    *colon = '\0';
    for (value = colon + 1; *value == ' ' || *value == '\t'; value++)
        ;
    if (strcasecmp(line, "Content-Length") == 0)
        *clen = atoll(value);
    /* Our own framing, Date and Server replace the other side's (the
     * calls refuse them, which is the point). */
    if (!hop_field(line) && strcasecmp(line, "Date") != 0 &&
        strcasecmp(line, "Server") != 0)
        gn_response_header(res, line, value);
}

/* The other side's response RAW[0, LEN) as RES: 0, or -EPROTO. */
static int write_answer(gn_response_t *res, const char *raw, size_t len)
{
    const char *end = raw + len, *p, *eol;
    long long clen = -1;
    int status;
    size_t body;

    if (len < 12 || memcmp(raw, "HTTP/1.", 7) != 0 ||
        sscanf(raw + 9, "%3d", &status) != 1 || status < 200 || status > 599)
        return -EPROTO;
    if ((p = next_line(raw, end)) == NULL)
        return -EPROTO;
    gn_response_status(res, status, NULL);
    for (; (eol = next_line(p, end)) != NULL; p = eol) {
        if (*p == '\r' || *p == '\n') {
            p = eol; /* the empty line: the body follows */
            break;
        }
        take_field(res, p, eol, &clen);
    }
    body = (size_t)(end - p);
    if (clen >= 0 && (size_t)clen < body)
        body = (size_t)clen;
    return body ? gn_response_write(res, p, body) : 0;
}

/* The port of REQ's client, as text. */
static void client_of(gn_request_t *req, char port[16])
{
    snprintf(port, 16, "%d", req->conn->remote_port);
}

int gn__http_relay(gn_request_t *req, gn_response_t *res, pid_t to,
                   size_t max_body, int64_t timeout_ms)
{
    char head_storage[2048], body_storage[2048], port[16], ms[24];
    struct gn_buf head, body;
    struct gn_peer_msg in, out;
    int rc;

    gn__buf_init(&head, head_storage, sizeof(head_storage));
    gn__buf_init(&body, body_storage, sizeof(body_storage));
    if ((rc = read_body(req, &body, max_body)) == 0) {
        put_head(&head, req, "1.0", 1, body.len);
        rc = head.err;
    }
    if (rc == 0) {
        client_of(req, port);
        snprintf(ms, sizeof(ms), "%lld", (long long)timeout_ms);
        gn__peer_msg_init(&in, GN_PEER_HTTP_RELAY);
        gn__peer_msg_add(&in, head.data, head.len);
        gn__peer_msg_add(&in, body.data, body.len);
        gn__peer_msg_add(&in, req->conn->remote_addr,
                         strlen(req->conn->remote_addr));
        gn__peer_msg_add(&in, port, strlen(port));
        gn__peer_msg_add(&in, ms, strlen(ms));
        rc = gn__peer_call(gn__peer_token(), to, &in, &out, timeout_ms);
        if (rc == 0 && out.kind != 0)
            rc = -(int)out.kind;
        if (rc == 0)
            rc = out.nparts == 1 ? write_answer(res, out.part[0].iov_base,
                                                out.part[0].iov_len)
                                 : -EPROTO;
        gn__peer_msg_release(&out);
    }
    gn__buf_free(&head);
    gn__buf_free(&body);
    return rc;
}

/* Append to HEAD what C's transport holds for its next reads (io_uring's
 * received buffer), after gn__conn_release. 0 or a negative errno. */
static int take_held(struct gn_conn *c, struct gn_buf *head)
{
    char chunk[4096];
    ssize_t n;

    while (c->tp->pending(c) > 0) {
        n = gn__conn_recv(c, chunk, sizeof(chunk));
        if (n <= 0)
            return n == 0 ? 0 : (int)n;
        gn__buf_append(head, chunk, (size_t)n);
    }
    return 0;
}

int gn__http_hand_over(gn_request_t *req, gn_response_t *res, pid_t to,
                       int64_t timeout_ms)
{
    struct gn_conn *c = req->conn;
    char head_storage[2048], port[16];
    struct gn_buf head;
    struct gn_peer_msg in, out;
    int rc;

    if (c->tp->secure)
        return -EPROTONOSUPPORT;
    if (!req->body_done || res->head_sent)
        return -EINVAL;
    /* io_uring may have a receive in flight: it ends first, so that no
     * byte is taken off the socket once the other side has it. */
    if ((rc = gn__conn_release(c, timeout_ms)) != 0)
        return rc;
    gn__buf_init(&head, head_storage, sizeof(head_storage));
    put_head(&head, req, "1.1", 0, 0);
    /* What the client sent after the head (the new protocol's first
     * bytes, if it did not wait) is the other side's too, and so is what
     * the transport took off the socket for us. */
    if (c->rlen > c->rpos) /* (no buffer: http/serve.c's finish_head) */
        gn__buf_append(&head, c->rbuf + c->rpos, c->rlen - c->rpos);
    rc = take_held(c, &head);
    if (rc == 0 && (rc = head.err) == 0) {
        client_of(req, port);
        gn__peer_msg_init(&in, GN_PEER_HTTP_HAND_OVER);
        gn__peer_msg_add(&in, head.data, head.len);
        gn__peer_msg_add(&in, c->remote_addr, strlen(c->remote_addr));
        gn__peer_msg_add(&in, port, strlen(port));
        in.fd = c->fd; /* still ours: the other side gets a copy */
        rc = gn__peer_call(gn__peer_token(), to, &in, &out, timeout_ms);
        if (rc == 0 && out.kind != 0)
            rc = -(int)out.kind; /* refused: the socket is still ours only */
        else if (rc != 0 && rc != -ESRCH && rc != -EPERM)
            rc = 0; /* lost on the way: it may have been adopted */
        gn__peer_msg_release(&out);
    }
    gn__buf_free(&head);
    if (rc == 0) {
        /* Adopted, or maybe (no answer came after the socket went): the
         * other side may be serving it, so nothing may be written here.
         * If it is not, our close was the last and the client sees the
         * end, as with any dropped connection. */
        c->rpos = c->rlen; /* those bytes went with it */
        rc = gn__http_hand_off(res);
    }
    return rc;
}

/* ---- the other side ----------------------------------------------------- */

struct relay_ctx {
    struct gn_conns *set;
    const struct gn_http_ctx *ctx;
};

/* PART of IN as a NUL-terminated string in OUT[CAP] (cut to fit). */
static const char *part_str(const struct gn_peer_msg *in, uint32_t i,
                            char *out, size_t cap)
{
    size_t len = i < in->nparts ? in->part[i].iov_len : 0;

    if (len >= cap)
        len = cap - 1;
    if (len)
        memcpy(out, in->part[i].iov_base, len);
    out[len] = '\0';
    return out;
}

/* Everything FD gives until its end, within DEADLINE, into OUT. */
static int read_to_end(int fd, struct gn_buf *out, int64_t deadline)
{
    char chunk[BODY_CHUNK];
    int64_t left;
    ssize_t n;
    int rc;

    for (;;) {
        n = gn__sys_read(fd, chunk, sizeof(chunk));
        if (n > 0) {
            if (out->len + (size_t)n > GN_PEER_MAX_MSG)
                return -EMSGSIZE;
            gn__buf_append(out, chunk, (size_t)n);
            if (out->err)
                return out->err;
            continue;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        if ((left = deadline - gn__monotonic_ms()) <= 0)
            return -ETIMEDOUT;
        if ((rc = gn__wait_fd(fd, GN_WATCH_READ, left)) < 0)
            return rc;
    }
}

/* A relayed request: served by a connection of ours over a socket pair,
 * whose answer crosses back as it is. */
static int serve_relayed(struct gn_peer_msg *in, struct gn_peer_msg *out,
                         void *arg)
{
    struct relay_ctx *x = arg;
    char addr[64], port[16], ms[24];
    char storage[4096];
    struct gn_buf answer;
    struct gn_conn *c;
    int sv[2], rc;
    char *bytes;
    size_t len;

    if (in->nparts != 5)
        return -EPROTO;
    part_str(in, 2, addr, sizeof(addr));
    part_str(in, 3, port, sizeof(port));
    part_str(in, 4, ms, sizeof(ms));
    /* The head and the body, one request. */
    len = in->part[0].iov_len + in->part[1].iov_len;
    if ((bytes = malloc(len ? len : 1)) == NULL)
        return -ENOMEM;
    memcpy(bytes, in->part[0].iov_base, in->part[0].iov_len);
    memcpy(bytes + in->part[0].iov_len, in->part[1].iov_base,
           in->part[1].iov_len);
    if (gn__sys.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                           0, sv) != 0) {
        rc = -errno;
        free(bytes);
        return rc;
    }
    c = gn__conn_adopt(x->set, sv[0], &gn__http1, x->ctx, addr, atoi(port),
                       bytes, len);
    free(bytes);
    if (c == NULL) {
        gn__sys_close(sv[1]);
        return -ENOMEM;
    }
    /* (Our end stays open both ways: a closed one would tell the
     * connection its client left.) HTTP/1.0: it closes after answering. */
    gn__buf_init(&answer, storage, sizeof(storage));
    rc = read_to_end(sv[1], &answer, gn__monotonic_ms() + atoll(ms));
    gn__sys_close(sv[1]);
    if (rc == 0 && answer.len > 0 && answer.heap) {
        out->owned[out->nowned++] = answer.data; /* the answer's now */
        return gn__peer_msg_add(out, answer.data, answer.len);
    }
    if (rc == 0 && answer.len > 0)
        rc = gn__peer_msg_copy(out, answer.data, answer.len);
    else if (rc == 0)
        rc = -EPIPE;
    gn__buf_free(&answer);
    return rc;
}

/* A handed-over connection: adopted, its request served from the start. */
static int serve_handed(struct gn_peer_msg *in, struct gn_peer_msg *out,
                        void *arg)
{
    struct relay_ctx *x = arg;
    char addr[64], port[16];
    int fd = in->fd;

    (void)out;
    if (in->nparts != 3 || fd < 0)
        return -EPROTO;
    part_str(in, 1, addr, sizeof(addr));
    part_str(in, 2, port, sizeof(port));
    in->fd = -1; /* the connection's now, whatever happens */
    if (gn__conn_adopt(x->set, fd, &gn__http1, x->ctx, addr, atoi(port),
                       in->part[0].iov_base, in->part[0].iov_len) == NULL)
        return -ENOMEM;
    return 0;
}

int gn__http_relay_serve(struct gn_peer *p, struct gn_conns *set,
                         const struct gn_http_ctx *ctx)
{
    static struct relay_ctx x; /* one worker, one channel */
    int rc;

    x.set = set;
    x.ctx = ctx;
    rc = gn__peer_on(p, GN_PEER_HTTP_RELAY, serve_relayed, &x);
    return rc ? rc : gn__peer_on(p, GN_PEER_HTTP_HAND_OVER, serve_handed, &x);
}
