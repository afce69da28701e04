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
 * thread can send while the handler is parked in gn_ws_recv.
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
#include "websocket/utf8.h"

#define QUEUE_IOV 16 /* queued chunks per write */

/* What a queued frame (or the rest of one) holds. */
struct chunk {
    struct chunk *next;
    size_t len, off; /* DATA[off, len) is still to go */
    char data[];
};

struct gn_ws {
    struct gn_conn *c;
    struct gn_response *res;
    void *app_data;

    /* An extension (permessage-deflate), or NULL. */
    const struct gn_ws_ext *ext;
    void *ext_state;

    /* Receiving. */
    struct gn_ws_seq seq;
    unsigned msg_rsv;  /* the RSV bits of the message's first frame */
    uint32_t utf8;     /* the open text message's validation state */
    char *msg;         /* the message being reassembled, or the last one */
    size_t msglen, msgcap;
    int receiving;     /* a green thread is in gn_ws_recv */
    int64_t last_in_ms;
    int64_t ping_sent_ms; /* our keep-alive ping is unanswered since; 0 */

    /* Sending. */
    struct chunk *qhead, *qtail;
    size_t qlen;
    int writing;                 /* a sender holds the socket mid-frame */
    struct gn_waiter *wr_waiter; /* ... waiting for a write edge */
    struct gn_waiter *space;     /* senders waiting for the queue to drain */

    /* Closing. */
    int close_sent, close_rcvd;
    int gone;   /* the connection broke: nothing goes in or out */
    int failed; /* we failed the WebSocket: nothing more is read */
    int peer_code;
    int sent_code;
    int64_t close_sent_ms;
    int overflow_logged;

    /* For the access log. */
    uint64_t in_bytes, out_bytes, in_msgs, out_msgs;
    int64_t start_us;
};

static const struct gn_ws_settings defaults = {
    .max_message = 16u << 20,
    .max_queue = 1u << 20,
    .ping_ms = 0,
    .close_ms = 5000,
    .write_ms = 30000,
    .allowed_origins = "",
};
static const struct gn_ws_settings *settings = &defaults;

void gn__ws_setup(const struct gn_ws_settings *s)
{
    settings = s ? s : &defaults;
}

const struct gn_ws_settings *gn__ws_settings(void)
{
    return settings;
}

static int64_t deadline_of(int64_t timeout_ms)
{
    return timeout_ms < 0 ? -1 : gn__monotonic_ms() + timeout_ms;
}

/* Whether DUE (-1: none) has passed. Checked before every wait: a green
 * wait of 0 ms is a yield that returns 0, not a timeout. */
static int expired(int64_t due)
{
    return due >= 0 && due <= gn__monotonic_ms();
}

/* Milliseconds left until DEADLINE (-1: none), at least 0. */
static int64_t left_of(int64_t deadline)
{
    int64_t left;

    if (deadline < 0)
        return -1;
    left = deadline - gn__monotonic_ms();
    return left > 0 ? left : 0;
}

/* ---- the queue and the write side -------------------------------------- */

static void wake_all(struct gn_waiter **list, int result)
{
    struct gn_waiter *w = *list, *next;

    *list = NULL;
    for (; w != NULL; w = next) {
        next = w->next;
        w->next = w->prev = NULL;
        gn__green_wake(w, result);
    }
}

/* The connection broke (or we gave it up): nothing more goes out. */
static void set_gone(struct gn_ws *ws)
{
    struct chunk *ch, *next;

    ws->gone = 1;
    for (ch = ws->qhead; ch != NULL; ch = next) {
        next = ch->next;
        free(ch);
    }
    ws->qhead = ws->qtail = NULL;
    ws->qlen = 0;
    if (ws->wr_waiter != NULL)
        gn__green_wake(ws->wr_waiter, -EPIPE);
    wake_all(&ws->space, -EPIPE);
}

/* Append IOV[0, N) from byte SKIP on to the queue. */
static void enqueue(struct gn_ws *ws, const struct iovec *iov, int n,
                    size_t skip)
{
    size_t total = 0, at = 0;
    struct chunk *ch;

    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    ch = malloc(sizeof(*ch) + total - skip);
    if (ch == NULL) {
        gn_log_error("out of memory queueing a WebSocket frame to %s",
                     ws->c->remote_addr);
        abort();
    }
    for (int i = 0; i < n; i++) {
        size_t len = iov[i].iov_len, from = 0;

        if (skip >= len) {
            skip -= len;
            continue;
        }
        from = skip;
        skip = 0;
        memcpy(ch->data + at, (char *)iov[i].iov_base + from, len - from);
        at += len - from;
    }
    ch->next = NULL;
    ch->len = at;
    ch->off = 0;
    if (ws->qtail)
        ws->qtail->next = ch;
    else
        ws->qhead = ch;
    ws->qtail = ch;
    ws->qlen += at;
}

/* Send what is queued, as much as the socket takes now. From the loop or
 * any coroutine: it never waits. */
static void flush_queue(struct gn_ws *ws)
{
    struct iovec iov[QUEUE_IOV];
    size_t before = ws->qlen;
    ssize_t n;
    int k;

    while (ws->qhead != NULL && !ws->writing && !ws->gone) {
        struct chunk *ch = ws->qhead;

        for (k = 0; ch != NULL && k < QUEUE_IOV; ch = ch->next, k++)
            iov[k] = (struct iovec){ch->data + ch->off, ch->len - ch->off};
        n = gn__conn_send_nowait(ws->c, iov, k);
        if (n == -EAGAIN)
            break;
        if (n < 0) {
            set_gone(ws);
            return;
        }
        ws->qlen -= (size_t)n;
        while ((ch = ws->qhead) != NULL && (size_t)n >= ch->len - ch->off) {
            n -= (ssize_t)(ch->len - ch->off);
            ws->qhead = ch->next;
            free(ch);
        }
        if (ws->qhead == NULL)
            ws->qtail = NULL;
        else
            ws->qhead->off += (size_t)n;
    }
    if (ws->qlen < before)
        wake_all(&ws->space, 0);
}

/* Wait for a write edge (or a wake-up) until DEADLINE: 0 or an error. */
static int wait_writable(struct gn_ws *ws, int64_t deadline)
{
    struct gn_waiter wt;
    int rc;

    if (ws->c->ready & GN_WATCH_WRITE)
        return 0;
    if (expired(deadline))
        return -ETIMEDOUT;
    ws->wr_waiter = &wt;
    rc = gn__green_park(&wt, -1, 0, left_of(deadline));
    ws->wr_waiter = NULL;
    return rc < 0 ? rc : 0;
}

/* Wait until the queue drains (or a wake-up) until DEADLINE. */
static int wait_space(struct gn_ws *ws, int64_t deadline)
{
    struct gn_waiter wt = {0};
    int rc;

    if (expired(deadline))
        return -ETIMEDOUT;
    wt.next = ws->space;
    if (ws->space)
        ws->space->prev = &wt;
    ws->space = &wt;
    rc = gn__green_park(&wt, -1, 0, left_of(deadline));
    if (ws->space == &wt || wt.prev != NULL || wt.next != NULL) {
        /* Still linked (a timeout): unlink. */
        if (wt.prev)
            wt.prev->next = wt.next;
        else if (ws->space == &wt)
            ws->space = wt.next;
        if (wt.next)
            wt.next->prev = wt.prev;
    }
    return rc < 0 ? rc : 0;
}

static void send_close_frame(struct gn_ws *ws, unsigned code,
                             const char *reason);

/* The queue is full for a sender: close with 1013 (logged once). */
static void overflow(struct gn_ws *ws)
{
    if (!ws->overflow_logged) {
        ws->overflow_logged = 1;
        gn_log_warn("WebSocket from %s: outgoing queue above "
                    "websocket_max_queue (%llu bytes): closing with 1013",
                    ws->c->remote_addr,
                    (unsigned long long)settings->max_queue);
    }
    send_close_frame(ws, GN_WS_CLOSE_TRY_LATER, "queue full");
}

/* Hold the socket and write IOV[0, N) from byte DONE on, from the
 * caller's buffers, until DEADLINE. 0, -EPIPE, or -ENOBUFS (the rest was
 * queued and the socket closes with 1013: a frame once begun must end). */
static int write_through(struct gn_ws *ws, struct iovec *iov, int n,
                         size_t done, size_t total, int64_t deadline)
{
    struct iovec rest[2];
    ssize_t k;
    int rc = 0;

    ws->writing = 1;
    while (done < total && !ws->gone) {
        size_t skip = done;
        int m = 0;

        for (int i = 0; i < n; i++) {
            if (skip >= iov[i].iov_len) {
                skip -= iov[i].iov_len;
                continue;
            }
            rest[m++] = (struct iovec){(char *)iov[i].iov_base + skip,
                                       iov[i].iov_len - skip};
            skip = 0;
        }
        k = gn__conn_send_nowait(ws->c, rest, m);
        if (k > 0) {
            done += (size_t)k;
            continue;
        }
        if (k != -EAGAIN) {
            set_gone(ws);
            break;
        }
        if ((rc = wait_writable(ws, deadline)) == -ETIMEDOUT ||
            rc == -ECANCELED) {
            ws->writing = 0;
            enqueue(ws, iov, n, done);
            overflow(ws);
            return -ENOBUFS;
        }
    }
    ws->writing = 0;
    if (ws->gone)
        return -EPIPE;
    flush_queue(ws); /* what others queued behind us */
    wake_all(&ws->space, 0);
    return 0;
}

/*
 * Send one frame: HEAD and P[0, N). CONTROL frames (and the server's own
 * close) are never refused for room: they are small, and the protocol
 * needs them out. Waits for room up to DEADLINE.
 */
static int send_frame(struct gn_ws *ws, unsigned opcode, unsigned rsv,
                      const void *p, size_t n, int control, int64_t deadline)
{
    uint8_t head[GN_WS_HEAD_MAX];
    size_t hl = gn__ws_frame_head(head, 1, rsv, opcode, n);
    struct iovec iov[2] = {{head, hl}, {(void *)p, n}};
    size_t total = hl + n;
    ssize_t k;
    int rc;

    for (;;) {
        if (ws->gone)
            return -EPIPE;
        if (!ws->writing && ws->qlen == 0)
            break;
        if (control || ws->qlen + total <= settings->max_queue) {
            enqueue(ws, iov, 2, 0);
            return 0;
        }
        rc = wait_space(ws, deadline);
        if (rc == -ETIMEDOUT) {
            overflow(ws);
            return -ENOBUFS;
        }
        if (rc < 0)
            return rc;
    }
    k = gn__conn_send_nowait(ws->c, iov, 2);
    if (k == -EAGAIN)
        k = 0;
    if (k < 0) {
        set_gone(ws);
        return -EPIPE;
    }
    if ((size_t)k == total)
        return 0;
    if (control || total - (size_t)k <= settings->max_queue) {
        enqueue(ws, iov, 2, (size_t)k);
        return 0;
    }
    return write_through(ws, iov, 2, (size_t)k, total, deadline);
}

static void send_close_frame(struct gn_ws *ws, unsigned code,
                             const char *reason)
{
    uint8_t payload[GN_WS_CONTROL_MAX];
    size_t len = 0;

    if (ws->close_sent || ws->gone)
        return;
    ws->close_sent = 1;
    ws->sent_code = (int)code;
    ws->close_sent_ms = gn__monotonic_ms();
    if (code != GN_WS_CLOSE_NO_STATUS)
        len = gn__ws_close_payload(payload, code, reason);
    send_frame(ws, GN_WS_OP_CLOSE, 0, payload, len, 1, -1);
}

/* A protocol error: close with CODE and give the connection up. */
static int fail(struct gn_ws *ws, unsigned code)
{
    gn_log_debug("WebSocket from %s: closing with %u", ws->c->remote_addr,
                 code);
    send_close_frame(ws, code, NULL);
    ws->failed = 1; /* no more reading; the queue drains at the end */
    return -EPIPE;
}

/* ---- the connection's protocol after the upgrade ---------------------- */

static void ws_writable(struct gn_conn *c)
{
    struct gn_ws *ws = c->proto_data;

    if (ws == NULL)
        return; /* ended: the connection closes */
    if (ws->wr_waiter != NULL)
        gn__green_wake(ws->wr_waiter, 0);
    else
        flush_queue(ws);
}

/* The worker stops: say 1001 and let the receiver see it. */
static void ws_stop(struct gn_conn *c)
{
    struct gn_ws *ws = c->proto_data;

    if (ws == NULL)
        return;
    send_close_frame(ws, GN_WS_CLOSE_GOING_AWAY, "server stopping");
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
            send_frame(ws, GN_WS_OP_PING, 0, NULL, 0, 1, -1);
        }
    }
    return 0;
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
            if (got > 0) {
                ws->last_in_ms = gn__monotonic_ms();
                continue;
            }
            if (got == 0 || got != -EAGAIN) {
                set_gone(ws);
                return -EPIPE;
            }
        }
        due = next_due(ws, deadline);
        if (expired(due))
            rc = -ETIMEDOUT;
        else if (c->rpos == c->rlen) /* nothing held: the buffer goes back */
            rc = gn__conn_wait_input(c, left_of(due));
        else
            rc = gn__conn_wait(c, GN_WATCH_READ, left_of(due));
        if (rc == -ENOMEM) {
            set_gone(ws);
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
        if (got > 0) {
            ws->last_in_ms = gn__monotonic_ms();
            dst += got;
            len -= (size_t)got;
            continue;
        }
        if (got == 0 || got != -EAGAIN) {
            set_gone(ws);
            return -EPIPE;
        }
        rc = expired(next_due(ws, deadline))
                 ? -ETIMEDOUT
                 : gn__conn_wait(ws->c, GN_WATCH_READ,
                                 left_of(next_due(ws, deadline)));
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
        if (!ws->close_sent)
            send_frame(ws, GN_WS_OP_PONG, 0, p, f->len, 1, -1);
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
        send_close_frame(ws, code, NULL);
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
    int rc = ws->ext->decode(ws->ext_state, *out, *outlen,
                             settings->max_message, out, outlen);

    if (rc == -EMSGSIZE)
        return fail(ws, GN_WS_CLOSE_TOO_BIG);
    if (rc < 0)
        return fail(ws, GN_WS_CLOSE_BAD_DATA);
    if (ws->seq.opcode == GN_WS_OP_TEXT) {
        ws->utf8 = GN_UTF8_ACCEPT;
        return check_text(ws, *out, *outlen, 1);
    }
    return 0;
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
        if (ws->msglen + f.len > settings->max_message)
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
    if (!ws->seq.open) {
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
        rc = next_message(ws, type, data, len, deadline_of(ms));
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
        rc = ws->ext->encode(ws->ext_state, data, len, &data, &len);
        if (rc < 0)
            return rc;
        rsv = rc == 0 ? ws->ext->rsv : 0;
    }
    rc = send_frame(ws, type == GN_WS_TEXT ? GN_WS_OP_TEXT : GN_WS_OP_BINARY,
                    rsv, data, len, 0, deadline_of(ms));
    if (rc == 0) {
        ws->out_msgs++;
        ws->out_bytes += len;
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
    return send_frame(ws, GN_WS_OP_PING, 0, data, len, 1, deadline_of(ms));
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
    return ws->close_rcvd ? 0 : rc == -EPIPE ? -EPIPE : rc;
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
    send_close_frame(ws, (unsigned)code, reason);
    if (!gn__green_can_wait())
        return 0;
    return await_close(ws, deadline_of(ms));
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

/* Send everything queued, up to DEADLINE. */
static void drain_queue(struct gn_ws *ws, int64_t deadline)
{
    while ((ws->qlen > 0 || ws->writing) && !ws->gone) {
        flush_queue(ws);
        if (ws->qlen == 0 && !ws->writing)
            break;
        if ((ws->writing ? wait_space(ws, deadline)
                         : wait_writable(ws, deadline)) < 0)
            break;
    }
}

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
    int64_t deadline = deadline_of(settings->close_ms);

    if (!ws->gone && !ws->close_sent)
        send_close_frame(ws, rc >= 0 ? GN_WS_CLOSE_NORMAL : GN_WS_CLOSE_ERROR,
                         NULL);
    drain_queue(ws, deadline_of(settings->write_ms));
    if (!ws->gone && !ws->failed && !ws->close_rcvd) {
        ws->receiving = 0;
        await_close(ws, deadline);
    }
    /* A client that may still be sending is read out before the close,
     * so our close frame is not lost to a reset. */
    c->linger = !ws->close_rcvd;
    log_figures(ws, res);
    set_gone(ws);
    free(ws->msg);
    if (ws->ext != NULL && ws->ext->free != NULL)
        ws->ext->free(ws->ext_state);
    c->proto_data = NULL;
    free(ws);
}

void gn__ws_set_ext(struct gn_ws *ws, const struct gn_ws_ext *ext,
                    void *state)
{
    ws->ext = ext;
    ws->ext_state = state;
}

struct gn_ws *gn__ws_start(struct gn_conn *c, struct gn_response *res)
{
    struct gn_ws *ws = calloc(1, sizeof(*ws));

    if (ws == NULL)
        return NULL;
    ws->c = c;
    ws->res = res;
    ws->last_in_ms = gn__monotonic_ms();
    ws->start_us = gn__monotonic_us();
    c->proto_data = ws;
    c->proto = &ws_proto;
    res->upgrade_end = ws_end;
    return ws;
}
