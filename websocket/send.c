/*
 * Sending on a WebSocket (see ws.c for the whole picture): straight to the
 * socket when nobody else is writing and nothing is queued; what the socket
 * does not take is copied to a queue of at most websocket_max_queue bytes,
 * which drains from the loop on the next write edge; a sender whose
 * message does not fit waits for room, or holds the socket and writes the
 * rest from its own buffer when the message is larger than the queue.
 * Senders wait on waiters of their own, never on the connection's, so
 * they never collide with the receiver parked in gn_ws_recv.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "core/log.h"
#include "green/park.h"
#include "net/conn.h"
#include "websocket/session.h"

#define QUEUE_IOV 16 /* queued chunks per write */

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
void gn__ws_set_gone(struct gn_ws *ws)
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
void gn__ws_flush(struct gn_ws *ws)
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
            gn__ws_set_gone(ws);
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
    if (gn__ws_expired(deadline))
        return -ETIMEDOUT;
    ws->wr_waiter = &wt;
    rc = gn__green_park_on(&wt, gn__wait_fd_kind, ws->c->fd, GN_WATCH_WRITE,
                           -1, 0, gn__ws_left(deadline));
    ws->wr_waiter = NULL;
    return rc < 0 ? rc : 0;
}

/* Wait until the queue drains (or a wake-up) until DEADLINE. */
static int wait_space(struct gn_ws *ws, int64_t deadline)
{
    struct gn_waiter wt = {0};
    int rc;

    if (gn__ws_expired(deadline))
        return -ETIMEDOUT;
    wt.next = ws->space;
    if (ws->space)
        ws->space->prev = &wt;
    ws->space = &wt;
    rc = gn__green_park_on(&wt, "WebSocket send queue", -1, 0, -1, 0,
                           gn__ws_left(deadline));
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

/* The queue is full for a sender: close with 1013 (logged once). */
static void overflow(struct gn_ws *ws)
{
    if (!ws->overflow_logged) {
        ws->overflow_logged = 1;
        gn_log_warn("WebSocket from %s: outgoing queue above "
                    "websocket_max_queue (%llu bytes): closing with 1013",
                    ws->c->remote_addr,
                    (unsigned long long)gn__ws_settings()->max_queue);
    }
    gn__ws_send_close(ws, GN_WS_CLOSE_TRY_LATER, "queue full");
}

/* A send's deadline, TIMEOUT_MS (< 0: none) from its first wait, which
 * comes in the same run as the call, before anything yields: most sends
 * never wait, and so read no clock. *DEADLINE is NOT_YET until then. */
#define NOT_YET INT64_MIN

static int64_t due(int64_t *deadline, int64_t timeout_ms)
{
    if (*deadline == NOT_YET)
        *deadline = gn__ws_deadline(timeout_ms);
    return *deadline;
}

/* Hold the socket and write IOV[0, N) from byte DONE on, from the
 * caller's buffers, until *DEADLINE (see due). 0, -EPIPE, or -ENOBUFS (the rest was
 * queued and the socket closes with 1013: a frame once begun must end). */
static int write_through(struct gn_ws *ws, struct iovec *iov, int n,
                         size_t done, size_t total, int64_t *deadline,
                         int64_t timeout_ms)
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
            gn__ws_set_gone(ws);
            break;
        }
        if ((rc = wait_writable(ws, due(deadline, timeout_ms))) ==
                -ETIMEDOUT ||
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
    gn__ws_flush(ws); /* what others queued behind us */
    wake_all(&ws->space, 0);
    return 0;
}

/*
 * Send one frame: HEAD and P[0, N). CONTROL frames (and the server's own
 * close) are never refused for room: they are small, and the protocol
 * needs them out. Waits for room up to TIMEOUT_MS.
 */
int gn__ws_send_frame(struct gn_ws *ws, unsigned opcode, unsigned rsv,
                      const void *p, size_t n, int control, int64_t timeout_ms)
{
    uint8_t head[GN_WS_HEAD_MAX];
    size_t hl = gn__ws_frame_head(head, 1, rsv, opcode, n);
    struct iovec iov[2] = {{head, hl}, {(void *)p, n}};
    size_t total = hl + n;
    int64_t deadline = NOT_YET;
    ssize_t k;
    int rc;

    for (;;) {
        if (ws->gone)
            return -EPIPE;
        if (!ws->writing && ws->qlen == 0)
            break;
        if (control || ws->qlen + total <= gn__ws_settings()->max_queue) {
            enqueue(ws, iov, 2, 0);
            return 0;
        }
        rc = wait_space(ws, due(&deadline, timeout_ms));
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
        gn__ws_set_gone(ws);
        return -EPIPE;
    }
    if ((size_t)k == total)
        return 0;
    if (control || total - (size_t)k <= gn__ws_settings()->max_queue) {
        enqueue(ws, iov, 2, (size_t)k);
        return 0;
    }
    return write_through(ws, iov, 2, (size_t)k, total, &deadline, timeout_ms);
}

void gn__ws_send_close(struct gn_ws *ws, unsigned code, const char *reason)
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
    gn__ws_send_frame(ws, GN_WS_OP_CLOSE, 0, payload, len, 1, -1);
    /* Closed by another green thread (a fan-out that found the queue
     * full, gn_ws_close): a receiver parked without a deadline must wake
     * to arm the closing handshake's, or a client that neither reads nor
     * writes would hold the connection for good. */
    if (ws->receiving && ws->c->io_waiter != NULL)
        gn__green_wake(ws->c->io_waiter, 0);
}

/* Send everything queued, up to DEADLINE. */
void gn__ws_drain(struct gn_ws *ws, int64_t deadline)
{
    while ((ws->qlen > 0 || ws->writing) && !ws->gone) {
        gn__ws_flush(ws);
        if (ws->qlen == 0 && !ws->writing)
            break;
        if ((ws->writing ? wait_space(ws, deadline)
                         : wait_writable(ws, deadline)) < 0)
            break;
    }
}

void gn__ws_writable(struct gn_ws *ws)
{
    if (ws->wr_waiter != NULL)
        gn__green_wake(ws->wr_waiter, 0);
    else
        gn__ws_flush(ws);
}
