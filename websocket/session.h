/*
 * A WebSocket's state (struct gn_ws), shared by the two halves of its
 * life: websocket/ws.c receives and closes, websocket/send.c sends,
 * queues and drains. Internal to websocket/.
 */
#ifndef GN_WEBSOCKET_SESSION_H
#define GN_WEBSOCKET_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "websocket/frame.h"
#include "websocket/ws.h"

struct gn_waiter;

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
    struct gn_ws_zbuf dec; /* the last message decoded by ext, or empty */
    int receiving;     /* a green thread is in gn_ws_recv */
    int64_t last_in_ms;
    size_t streak;     /* bytes read since this WebSocket last waited */
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

/* DEADLINE of a wait of TIMEOUT_MS from now (< 0: none, -1). */
static inline int64_t gn__ws_deadline(int64_t timeout_ms)
{
    return timeout_ms < 0 ? -1 : gn__monotonic_ms() + timeout_ms;
}

/* Whether DUE (-1: none) has passed. Checked before every wait: a green
 * wait of 0 ms is a yield that returns 0, not a timeout. */
static inline int gn__ws_expired(int64_t due)
{
    return due >= 0 && due <= gn__monotonic_ms();
}

/* Milliseconds left until DEADLINE (-1: none), at least 0. */
static inline int64_t gn__ws_left(int64_t deadline)
{
    int64_t left;

    if (deadline < 0)
        return -1;
    left = deadline - gn__monotonic_ms();
    return left > 0 ? left : 0;
}

/* ---- send.c ---- */

/* The connection broke (or was given up): nothing more goes out; the
 * queue is dropped and every waiting sender woken. */
void gn__ws_set_gone(struct gn_ws *ws);

/* Send what is queued, as much as the socket takes now (never waits):
 * from the loop on a write edge, or any coroutine. */
void gn__ws_flush(struct gn_ws *ws);

/* The socket took bytes again: wake the sender holding it, or flush. */
void gn__ws_writable(struct gn_ws *ws);

/*
 * Send one frame of OPCODE (with RSV bits) and payload P[0, N) from any
 * green thread: straight to the socket, else queued up to
 * websocket_max_queue, else waiting for room for up to TIMEOUT_MS (< 0:
 * no limit; counted from its first wait, then 1013 and -ENOBUFS). CONTROL
 * frames are always queued when they must wait. 0, -EPIPE, -ENOBUFS, or
 * the cancellation error.
 */
int gn__ws_send_frame(struct gn_ws *ws, unsigned opcode, unsigned rsv,
                      const void *p, size_t n, int control, int64_t timeout_ms);

/* Send our close frame with CODE and REASON (none for 1005), once. */
void gn__ws_send_close(struct gn_ws *ws, unsigned code, const char *reason);

/* Send everything queued (and let a sender holding the socket finish),
 * up to DEADLINE. */
void gn__ws_drain(struct gn_ws *ws, int64_t deadline);

#endif /* GN_WEBSOCKET_SESSION_H */
