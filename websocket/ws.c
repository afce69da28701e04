/*
 * A WebSocket's life over its connection: receiving whole messages,
 * sending frames from any green thread through a bounded queue, the ping
 * that keeps idle sockets honest, and the closing handshake.
 *
 * Receiving is zero-copy where it can be: a message of one frame that fits
 * the connection's read buffer is unmasked in place and handed out from
 * there. Fragmented or larger messages are reassembled in a buffer of
 * their own, sized from the frame heads (so websocket_max_message is
 * checked before a byte of the payload is stored), and a large frame's
 * payload is read straight into it. While the handler waits for a message
 * on an empty buffer, the connection gives its read buffer back and no
 * message buffer is kept: an idle WebSocket holds its structs only.
 *
 * Sending writes straight to the socket when nobody else is writing and
 * nothing is queued. What the socket does not take is queued (a copy), up
 * to websocket_max_queue bytes, and the queue drains from the loop on the
 * socket's next write edge (the connection's `writable`), so a sender
 * never waits for a slow client unless its own message is larger than the
 * queue: it then holds the socket and writes the rest from its own buffer
 * (no copy; how ws_echo sends 16 MiB). A sender that finds no room in time
 * closes the socket with 1013 rather than let the queue grow.
 *
 * Only the receiving coroutine waits on the connection (gn__conn_wait);
 * senders wait on waiters of their own that the loop wakes, so a fan-out
 * thread can send while the handler is parked in gn_ws_recv. The sending
 * half lives in websocket/send.c; this file receives, closes, and holds
 * the public calls and the connection's protocol after the upgrade.
 */
#include "websocket/ws.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "green/coro.h"
#include "green/park.h"
#include "http/request.h"
#include "http/response.h"
#include "net/conn.h"
#include "websocket/frame.h"
#include "websocket/session.h"
#include "websocket/utf8.h"

static const struct gn_ws_settings defaults = {
    .max_message = 16u << 20,
    .max_queue = 1u << 20,
    .ping_ms = 0,
    .close_ms = 5000,
    .write_ms = 30000,
    .allowed_origins = "",
};
static const struct gn_ws_settings *settings = &defaults;
static size_t ws_open; /* gn__ws_start'd and not yet ended */

void gn__ws_setup(const struct gn_ws_settings *s)
{
    settings = s ? s : &defaults;
}

const struct gn_ws_settings *gn__ws_settings(void)
{
    return settings;
}

/* A protocol error: close with CODE and give the connection up. */
static int fail(struct gn_ws *ws, unsigned code)
{
    gn_log_debug("WebSocket from %s: closing with %u", ws->c->remote_addr,
                 code);
    gn__ws_send_close(ws, code, NULL);
    ws->failed = 1; /* no more reading; the queue drains at the end */
    return -EPIPE;
}

/* ---- the connection's protocol after the upgrade ---------------------- */

static void ws_writable(struct gn_conn *c)
{
    struct gn_ws *ws = c->proto_data;

    if (ws != NULL) /* (NULL: ended, the connection closes) */
        gn__ws_writable(ws);
}

/* The worker stops: say 1001 and let the receiver see it. */
static void ws_stop(struct gn_conn *c)
{
    struct gn_ws *ws = c->proto_data;

    if (ws == NULL)
        return;
    gn__ws_send_close(ws, GN_WS_CLOSE_GOING_AWAY, "server stopping");
    if (ws->receiving && c->io_waiter != NULL)
        gn__green_wake(c->io_waiter, 0);
}

/* The client closed its end: a read will see it. */
static void ws_client_left(struct gn_conn *c)
{
    (void)c;
}

static int ws_serve(struct gn_conn *c)
{
    (void)c;
    return -1; /* never idle, never served again */
}

static const struct gn_conn_proto ws_proto = {
    .serve = ws_serve,
    .client_left = ws_client_left,
    .writable = ws_writable,
    .stop = ws_stop,
};

/* ---- receiving -------------------------------------------------------- */

/* The next deadline of a wait: the caller's, the keep-alive ping's, the
 * closing handshake's. */
static int64_t next_due(const struct gn_ws *ws, int64_t deadline)
{
    int64_t due = deadline;

    if (ws->close_sent) {
        int64_t d = ws->close_sent_ms + settings->close_ms;

        due = due < 0 || d < due ? d : due;
    } else if (settings->ping_ms > 0) {
        int64_t d = ws->ping_sent_ms ? ws->ping_sent_ms + settings->ping_ms
                                     : ws->last_in_ms + settings->ping_ms;

        due = due < 0 || d < due ? d : due;
    }
    return due;
}

/* A wait ran out at DUE: what it means. 0 to go on reading, or the
 * error to return. */
static int timed_out(struct gn_ws *ws, int64_t deadline)
{
    int64_t now = gn__monotonic_ms();

    if (deadline >= 0 && now >= deadline)
        return -ETIMEDOUT; /* the caller's: the WebSocket stays as it is */
    if (ws->close_sent && now >= ws->close_sent_ms + settings->close_ms) {
        ws->gone = 1; /* the client never answered our close */
        return -EPIPE;
    }
    if (!ws->close_sent && settings->ping_ms > 0) {
        if (ws->ping_sent_ms && now >= ws->ping_sent_ms + settings->ping_ms) {
            gn_log_info("WebSocket from %s: no pong within %lld ms: closing",
                        ws->c->remote_addr, (long long)settings->ping_ms);
            return fail(ws, GN_WS_CLOSE_ERROR);
        }
        if (!ws->ping_sent_ms && now >= ws->last_in_ms + settings->ping_ms) {
            ws->ping_sent_ms = now;
            gn__ws_send_frame(ws, GN_WS_OP_PING, 0, NULL, 0, 1, -1);
        }
    }
    return 0;
}

/* A client that sends without pause (a flood of pings, or of messages
 * dropped while closing) must not keep the worker from the others: after
 * this many bytes read without a wait, the reader yields a turn. */
#define YIELD_BYTES (256 * 1024)

/* N bytes were read: 0, or the cancellation error of the turn given. */
static int took(struct gn_ws *ws, size_t n)
{
    if (settings->ping_ms > 0) /* only pings ask when input last came */
        ws->last_in_ms = gn__monotonic_ms();
    ws->streak += n;
    if (ws->streak < YIELD_BYTES)
        return 0;
    ws->streak = 0;
    return gn__wait_ms(0);
}

/* Have at least N unread bytes in the read buffer (N <= its size). 0, or
 * the error to return. */
static int need(struct gn_ws *ws, size_t n, int64_t deadline)
{
    struct gn_conn *c = ws->c;
    int64_t due;
    ssize_t got;
    int rc;

    while (c->rlen - c->rpos < n) {
        if (ws->gone || ws->failed)
            return -EPIPE;
        if (c->rpos == c->rlen)
            c->rpos = c->rlen = 0;
        else if (c->rpos + n > c->rcap)
            gn__conn_compact(c);
        /* Read only after an edge: a drained socket costs no syscall. */
        if (c->ready & GN_WATCH_READ) {
            got = gn__conn_fill(c, 0);
            if (got > 0 && (rc = took(ws, (size_t)got)) != 0)
                return rc;
            if (got > 0)
                continue;
            if (got == 0 || got != -EAGAIN) {
                gn__ws_set_gone(ws);
                return -EPIPE;
            }
        }
        due = next_due(ws, deadline);
        ws->streak = 0; /* it waits, or returns */
        if (gn__ws_expired(due))
            rc = -ETIMEDOUT;
        else if (c->rpos == c->rlen) /* nothing held: the buffer goes back */
            rc = gn__conn_wait_input(c, gn__ws_left(due));
        else
            rc = gn__conn_wait(c, GN_WATCH_READ, gn__ws_left(due));
        if (rc == -ENOMEM) {
            gn__ws_set_gone(ws);
            return -EPIPE;
        }
        if (rc == -ETIMEDOUT && (rc = timed_out(ws, deadline)) == 0)
            continue;
        if (rc < 0)
            return rc; /* a timeout of the caller's, a closing, a cancel */
    }
    return 0;
}

/* Read LEN payload bytes straight into DST (past the read buffer, which is
 * empty): 0, or the error to return. */
static int read_into(struct gn_ws *ws, char *dst, size_t len, int64_t deadline)
{
    ssize_t got;
    int rc;

    while (len > 0) {
        if (ws->gone || ws->failed)
            return -EPIPE;
        got = gn__conn_recv(ws->c, dst, len);
        if (got > 0 && (rc = took(ws, (size_t)got)) != 0)
            return rc;
        if (got > 0) {
            dst += got;
            len -= (size_t)got;
            continue;
        }
        if (got == 0 || got != -EAGAIN) {
            gn__ws_set_gone(ws);
            return -EPIPE;
        }
        rc = gn__ws_expired(next_due(ws, deadline))
                 ? -ETIMEDOUT
                 : gn__conn_wait(ws->c, GN_WATCH_READ,
                                 gn__ws_left(next_due(ws, deadline)));
        if (rc == -ETIMEDOUT) {
            if ((rc = timed_out(ws, deadline)) != 0)
                return rc;
        } else if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* A control frame F whose payload P is unmasked. 0 to go on, or the
 * error to return (-EPIPE once closed). */
static int on_control(struct gn_ws *ws, const struct gn_ws_frame *f,
                      uint8_t *p)
{
    unsigned code;
    int rc;

    switch (f->opcode) {
    case GN_WS_OP_PING:
        /* Past the queue's limit only the latest pings are answered (RFC
         * 6455 5.5.3 allows it): a client that floods pings and reads
         * nothing cannot grow the queue without bound. */
        if (!ws->close_sent && ws->qlen <= settings->max_queue)
            gn__ws_send_frame(ws, GN_WS_OP_PONG, 0, p, f->len, 1, -1);
        return 0;
    case GN_WS_OP_PONG:
        ws->ping_sent_ms = 0;
        return 0;
    default: /* close */
        rc = gn__ws_close_parse(p, f->len, &code);
        if (rc < 0)
            return fail(ws, (unsigned)-rc);
        ws->peer_code = (int)code;
        ws->close_rcvd = 1;
        /* Echo the code (RFC 6455 5.5.1); none when none came. */
        gn__ws_send_close(ws, code, NULL);
        return -EPIPE;
    }
}

/* Grow the message buffer to CAP. */
static int msg_room(struct gn_ws *ws, size_t cap)
{
    char *p;

    if (cap <= ws->msgcap && ws->msg != NULL)
        return 0; /* (an empty first fragment still gets a buffer) */
    p = realloc(ws->msg, cap ? cap : 1);
    if (p == NULL)
        return -ENOMEM;
    ws->msg = p;
    ws->msgcap = cap;
    return 0;
}

/* The data frame F, its head consumed: its payload appended to the
 * message buffer. 0, or the error to return. */
static int append_frame(struct gn_ws *ws, const struct gn_ws_frame *f,
                        int64_t deadline)
{
    struct gn_conn *c = ws->c;
    size_t len = (size_t)f->len, have = c->rlen - c->rpos;
    char *dst;
    int rc;

    if (msg_room(ws, ws->msglen + len) != 0)
        return fail(ws, GN_WS_CLOSE_TOO_BIG);
    dst = ws->msg + ws->msglen;
    if (have > len)
        have = len;
    memcpy(dst, c->rbuf + c->rpos, have);
    c->rpos += (uint32_t)have;
    if (have < len && (rc = read_into(ws, dst + have, len - have, deadline)))
        return rc;
    gn__ws_unmask((uint8_t *)dst, len, f->mask, 0);
    ws->msglen += len;
    return 0;
}

/* Check a text message's bytes P[0, N), LAST when it ends there. */
static int check_text(struct gn_ws *ws, const void *p, size_t n, int last)
{
    ws->utf8 = gn__utf8_feed(ws->utf8, p, n);
    if (ws->utf8 == GN_UTF8_REJECT ||
        (last && ws->utf8 != GN_UTF8_ACCEPT))
        return fail(ws, GN_WS_CLOSE_BAD_DATA);
    return 0;
}

/* A message sent with the extension's RSV bits: decoded in place of
 * *OUT and *OUTLEN, text checked whole. 0, or the error. */
static int decode(struct gn_ws *ws, const void **out, size_t *outlen)
{
    int rc;

    ws->dec.len = 0;
    rc = ws->ext->decode(ws->ext_state, *out, *outlen, settings->max_message,
                         &ws->dec);
    if (rc == -EMSGSIZE)
        return fail(ws, GN_WS_CLOSE_TOO_BIG);
    if (rc == -ENOMEM)
        return fail(ws, GN_WS_CLOSE_ERROR);
    /* Not DEFLATE (RFC 7692 7.2.2 fails the connection and names no
     * code): 1007, the message's data is not what its frames say it is
     * (Node's ws answers the same). */
    if (rc < 0)
        return fail(ws, GN_WS_CLOSE_BAD_DATA);
    *out = ws->dec.data != NULL ? (const void *)ws->dec.data : (const void *)"";
    *outlen = ws->dec.len;
    if (ws->seq.opcode == GN_WS_OP_TEXT) {
        ws->utf8 = GN_UTF8_ACCEPT;
        return check_text(ws, *out, *outlen, 1);
    }
    return 0;
}

/* The most bytes a message sent with RSV bits RSV may have on the wire:
 * websocket_max_message, and for an encoded (compressed) one what DEFLATE
 * may add to data it cannot shrink (zlib's deflateBound for any memLevel:
 * python3-websockets compresses with memLevel 5, whose stored blocks of
 * random bytes outgrow the default's bound), so that a message of the
 * limit that a client compressed anyway still passes. Its decoded bytes
 * are held to websocket_max_message. */
static uint64_t wire_limit(unsigned rsv)
{
    uint64_t max = settings->max_message;

    return rsv == 0 ? max : max + ((max + 7) >> 3) + ((max + 63) >> 6) + 5;
}

/* The next message into *OUT, *OUTLEN and *TYPE: 0, or the error. */
static int next_message(struct gn_ws *ws, int *type, const void **out,
                        size_t *outlen, int64_t deadline)
{
    struct gn_conn *c = ws->c;
    struct gn_ws_frame f;
    uint8_t *p;
    int rc;

    for (;;) {
        rc = gn__ws_frame_parse((uint8_t *)c->rbuf + c->rpos,
                                c->rlen - c->rpos, ws->ext ? ws->ext->rsv : 0,
                                &f);
        if (rc < 0)
            return fail(ws, (unsigned)-rc);
        if (rc == 0) {
            if ((rc = need(ws, c->rlen - c->rpos + 1, deadline)) != 0)
                return rc;
            continue;
        }
        if (gn__ws_is_control(f.opcode)) {
            if ((rc = need(ws, f.head + f.len, deadline)) != 0)
                return rc;
            p = (uint8_t *)c->rbuf + c->rpos + f.head;
            gn__ws_unmask(p, f.len, f.mask, 0);
            c->rpos += (uint32_t)(f.head + f.len);
            if ((rc = on_control(ws, &f, p)) != 0)
                return rc;
            continue;
        }
        int first = !ws->seq.open;
        if ((rc = gn__ws_seq_frame(&ws->seq, &f)) != 0)
            return fail(ws, (unsigned)-rc);
        if (ws->msglen + f.len > wire_limit(first ? f.rsv : ws->msg_rsv))
            return fail(ws, GN_WS_CLOSE_TOO_BIG);
        if (first) {
            ws->msglen = 0;
            ws->utf8 = GN_UTF8_ACCEPT;
            ws->msg_rsv = f.rsv;
        } else if (f.rsv) {
            return fail(ws, GN_WS_CLOSE_PROTOCOL); /* first frame only */
        }
        if (first && f.fin && f.head + f.len <= c->rcap) {
            /* The common case: one frame, read and unmasked in place. */
            if ((rc = need(ws, f.head + f.len, deadline)) != 0)
                return rc;
            p = (uint8_t *)c->rbuf + c->rpos + f.head;
            gn__ws_unmask(p, f.len, f.mask, 0);
            c->rpos += (uint32_t)(f.head + f.len);
            *out = p;
            *outlen = f.len;
            if (ws->msg_rsv == 0 && f.opcode == GN_WS_OP_TEXT &&
                (rc = check_text(ws, p, f.len, 1)) != 0)
                return rc;
        } else {
            size_t at = ws->msglen;

            c->rpos += (uint32_t)f.head;
            if ((rc = append_frame(ws, &f, deadline)) != 0)
                return rc;
            if (ws->msg_rsv == 0 && ws->seq.opcode == GN_WS_OP_TEXT &&
                (rc = check_text(ws, ws->msg + at, f.len, f.fin)) != 0)
                return rc;
            if (!f.fin)
                continue;
            *out = ws->msg;
            *outlen = ws->msglen;
        }
        if (ws->msg_rsv != 0 && (rc = decode(ws, out, outlen)) != 0)
            return rc;
        *type = ws->seq.opcode == GN_WS_OP_TEXT ? GN_WS_TEXT : GN_WS_BINARY;
        return 0;
    }
}

/* The message buffer's last message is consumed: let it go (an idle
 * socket keeps none). */
static void drop_message(struct gn_ws *ws)
{
    if (ws->dec.data != NULL) /* (no call per message for nothing) */
        free(ws->dec.data);
    ws->dec = (struct gn_ws_zbuf){0};
    if (!ws->seq.open) {
        if (ws->msg != NULL)
            free(ws->msg);
        ws->msg = NULL;
        ws->msglen = ws->msgcap = 0;
    }
}

static int check_ws(const struct gn_ws *ws)
{
    if (!gn__on_loop_thread())
        return -EPERM;
    return ws == NULL ? -EINVAL : 0;
}

GN_API int gn_ws_recv(gn_ws_t *ws, int *type, const void **data, size_t *len,
                      double timeout)
{
    int64_t ms;
    int rc = check_ws(ws);

    if (rc != 0)
        return rc;
    if (type == NULL || data == NULL || len == NULL ||
        gn__timeout_ms(timeout, &ms) != 0)
        return -EINVAL;
    if (ws->receiving)
        return -EBUSY;
    if (ws->gone || ws->failed || ws->close_rcvd)
        return -EPIPE;
    if (!gn__green_can_wait())
        return -EPERM;
    drop_message(ws);
    ws->receiving = 1;
    do
        rc = next_message(ws, type, data, len, gn__ws_deadline(ms));
    while (rc == 0 && ws->close_sent); /* closing: messages are dropped */
    ws->receiving = 0;
    if (rc == 0) {
        ws->in_msgs++;
        ws->in_bytes += *len;
    }
    return rc;
}

/* ---- sending ---------------------------------------------------------- */

GN_API int gn_ws_send(gn_ws_t *ws, int type, const void *data, size_t len,
                      double timeout)
{
    struct gn_ws_zbuf z = {0};
    const void *wire = data;
    size_t wirelen = len;
    unsigned rsv = 0;
    int64_t ms;
    int rc = check_ws(ws);

    if (rc != 0)
        return rc;
    if ((type != GN_WS_TEXT && type != GN_WS_BINARY) ||
        (len > 0 && data == NULL) || gn__timeout_ms(timeout, &ms) != 0)
        return -EINVAL;
    if (type == GN_WS_TEXT &&
        gn__utf8_feed(GN_UTF8_ACCEPT, data, len) != GN_UTF8_ACCEPT)
        return -EINVAL;
    if (ws->gone || ws->close_sent)
        return -EPIPE;
    if (ws->ext != NULL) {
        rc = ws->ext->encode(ws->ext_state, data, len, &z);
        if (rc < 0) {
            free(z.data);
            return rc;
        }
        if (rc == 0) {
            rsv = ws->ext->rsv;
            wire = z.data;
            wirelen = z.len;
        }
    }
    rc = gn__ws_send_frame(ws, type == GN_WS_TEXT ? GN_WS_OP_TEXT : GN_WS_OP_BINARY,
                    rsv, wire, wirelen, 0, ms);
    if (z.data != NULL)
        free(z.data); /* sent, or copied to the queue */
    if (rc == 0) {
        ws->out_msgs++;
        ws->out_bytes += len; /* the message's bytes, as in_bytes counts */
    }
    return rc;
}

GN_API int gn_ws_ping(gn_ws_t *ws, const void *data, size_t len,
                      double timeout)
{
    int64_t ms;
    int rc = check_ws(ws);

    if (rc != 0)
        return rc;
    if (len > GN_WS_CONTROL_MAX || (len > 0 && data == NULL) ||
        gn__timeout_ms(timeout, &ms) != 0)
        return -EINVAL;
    if (ws->gone || ws->close_sent)
        return -EPIPE;
    return gn__ws_send_frame(ws, GN_WS_OP_PING, 0, data, len, 1, ms);
}

/* Read (and drop) until the client's close frame, up to DEADLINE. */
static int await_close(struct gn_ws *ws, int64_t deadline)
{
    const void *data;
    size_t len;
    int type, rc;

    if (ws->receiving)
        return 0; /* the receiver completes the handshake */
    ws->receiving = 1;
    do
        rc = next_message(ws, &type, &data, &len, deadline);
    while (rc == 0);
    ws->receiving = 0;
    if (ws->close_rcvd)
        return 0;
    /* The closing handshake's own time ran out (it began, to the
     * millisecond, before the caller's): the client did not answer either
     * way, which gn_ws_close says with -ETIMEDOUT. */
    if (rc == -EPIPE &&
        gn__monotonic_ms() >= ws->close_sent_ms + settings->close_ms)
        return -ETIMEDOUT;
    return rc;
}

GN_API int gn_ws_close(gn_ws_t *ws, int code, const char *reason,
                       double timeout)
{
    int64_t ms;
    int rc = check_ws(ws);

    if (rc != 0)
        return rc;
    if (!gn__ws_close_code_valid((unsigned)code) ||
        gn__timeout_ms(timeout, &ms) != 0 ||
        (reason &&
         gn__utf8_feed(GN_UTF8_ACCEPT, reason, strlen(reason)) !=
             GN_UTF8_ACCEPT))
        return -EINVAL;
    if (ws->close_sent || ws->gone)
        return -EPIPE;
    gn__ws_send_close(ws, (unsigned)code, reason);
    if (!gn__green_can_wait())
        return 0;
    return await_close(ws, gn__ws_deadline(ms));
}

GN_API int gn_ws_close_code(const gn_ws_t *ws)
{
    if (ws->close_rcvd)
        return ws->peer_code;
    return ws->gone || ws->failed ? GN_WS_CLOSE_ABNORMAL : 0;
}

GN_API void gn_ws_set_data(gn_ws_t *ws, void *data)
{
    ws->app_data = data;
}

GN_API void *gn_ws_data(const gn_ws_t *ws)
{
    return ws->app_data;
}

/* ---- start and end ---------------------------------------------------- */

/* The access log line of the upgrade request is written once the
 * WebSocket ended: %(b)s counts the message bytes sent over it, and the
 * line ends with "websocket in=MSGS/BYTES out=MSGS/BYTES close=PEER/OURS
 * time=SECONDS" (a code 0: none was sent). */
static void log_figures(struct gn_ws *ws, struct gn_response *res)
{
    struct gn_request *req = res->req;
    char *line = gn__arena_alloc(&req->arena, 128);
    int64_t us = gn__monotonic_us() - ws->start_us;

    res->body_sent = ws->out_bytes;
    if (line == NULL)
        return;
    snprintf(line, 128,
             "websocket in=%llu/%llu out=%llu/%llu close=%d/%d time=%lld.%03lld",
             (unsigned long long)ws->in_msgs,
             (unsigned long long)ws->in_bytes,
             (unsigned long long)ws->out_msgs,
             (unsigned long long)ws->out_bytes, gn_ws_close_code(ws),
             ws->sent_code, (long long)(us / 1000000),
             (long long)(us / 1000 % 1000));
    res->log_extra = line;
}

/* The handler returned: finish the closing handshake, log, free. */
static void ws_end(struct gn_response *res, int rc)
{
    struct gn_conn *c = res->conn;
    struct gn_ws *ws = c->proto_data;
    int64_t deadline = gn__ws_deadline(settings->close_ms);

    if (!ws->gone && !ws->close_sent)
        gn__ws_send_close(ws, rc >= 0 ? GN_WS_CLOSE_NORMAL : GN_WS_CLOSE_ERROR,
                         NULL);
    gn__ws_drain(ws, gn__ws_deadline(settings->write_ms));
    if (!ws->gone && !ws->failed && !ws->close_rcvd) {
        ws->receiving = 0;
        await_close(ws, deadline);
    }
    /* A client that may still be sending is read out before the close,
     * so our close frame is not lost to a reset. */
    c->linger = !ws->close_rcvd;
    log_figures(ws, res);
    gn__ws_set_gone(ws);
    free(ws->msg);
    free(ws->dec.data);
    if (ws->ext != NULL && ws->ext->free != NULL)
        ws->ext->free(ws->ext_state);
    c->proto_data = NULL;
    free(ws);
    ws_open--;
}

void gn__ws_set_ext(struct gn_ws *ws, const struct gn_ws_ext *ext,
                    void *state)
{
    ws->ext = ext;
    ws->ext_state = state;
}

size_t gn__ws_open(void)
{
    return ws_open;
}

struct gn_ws *gn__ws_start(struct gn_conn *c, struct gn_response *res)
{
    struct gn_ws *ws = calloc(1, sizeof(*ws));

    if (ws == NULL)
        return NULL;
    ws_open++;
    ws->c = c;
    ws->res = res;
    ws->last_in_ms = gn__monotonic_ms();
    ws->start_us = gn__monotonic_us();
    c->proto_data = ws;
    c->proto = &ws_proto;
    res->upgrade_end = ws_end;
    return ws;
}
