/*
 * An Engine.IO session (struct gn_eio_session behind eio.h's handle): its
 * sid, the process-wide table that finds it by sid, the queue of packets
 * waiting for a long-polling GET, and its close. Shared by the transports
 * (socketio/polling.c, socketio/transport.c) and the heartbeat
 * (socketio/heartbeat.c); internal to socketio/.
 *
 * A session is freed when its last holder lets go: the table holds it
 * until it closes, and each request serving it (a pending GET, a POST, a
 * WebSocket) holds it while it runs, so a close from anywhere (a timer, a
 * sender, the worker stopping) never frees it under a parked coroutine.
 */
#ifndef GN_SOCKETIO_SESSION_H
#define GN_SOCKETIO_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "green/loop.h"
#include "net/buf.h"
#include "socketio/eio.h"

struct gn_waiter;

#define GN_EIO_SID_LEN 20 /* base64url of 15 bytes: pid + 11 random */

enum gn_eio_transport {
    GN_EIO_POLLING,
    GN_EIO_WEBSOCKET,
};

/* A packet waiting for the next GET (a copy of the sender's). */
struct gn_eio_qpkt {
    struct gn_eio_qpkt *next;
    enum gn_eio_type type;
    bool binary;
    size_t len;
    uint8_t data[];
};

struct gn_eio_server {
    struct gn_eio_handler h;
    void *ctx;
    struct gn_eio_session *sessions; /* open ones, a doubly-linked list */
    struct gn_eio_server *prev, *next; /* every server of the process */
};

struct gn_eio_session {
    struct gn_eio_server *srv;
    struct gn_eio_session *hnext;      /* the table's chain */
    struct gn_eio_session *prev, *next; /* the server's list */
    char sid[GN_EIO_SID_LEN + 1];
    enum gn_eio_transport transport;
    int refs;
    bool closed;
    bool dropped;   /* the worker stops: closed without telling the client
                       (no CLOSE), whose transport just ends, so that it
                       reconnects (a CLOSE stops python-socketio's client) */
    bool upgrading; /* the probe came: polling answers NOOP, then pauses */
    bool getting;   /* a GET is being answered (only one at a time) */
    bool posting;   /* a POST is being read (only one at a time) */

    /* Polling: what waits for the next GET, and the GET parked for it. */
    struct gn_eio_qpkt *qhead, *qtail;
    size_t qbytes;
    struct gn_waiter *poller;

    /* WebSocket: the transport once switched, and one being probed. */
    gn_ws_t *ws;
    gn_ws_t *probe;

    /* The heartbeat (heartbeat.c). */
    struct gn_watch timer;
    bool ping_sent;

    void *data; /* the layer above's */
};

/* A new open session of SRV on TRANSPORT, in the table, its heartbeat
 * running; the table holds it. Aborts on ENOMEM, as a worker does. */
struct gn_eio_session *gn__eio_session_new(struct gn_eio_server *srv,
                                           enum gn_eio_transport transport);

/* The open session named SID, or NULL. */
struct gn_eio_session *gn__eio_session_find(const char *sid);

/* Hold S while a request serves it; let go (freed with the last). */
void gn__eio_session_hold(struct gn_eio_session *s);
void gn__eio_session_release(struct gn_eio_session *s);

/* Wake the GET parked on S, if any, to answer what it now has. */
void gn__eio_session_wake(struct gn_eio_session *s);

/* Move S's queue to a polling payload in OUT (packets after what it
 * holds). 0 or -ENOMEM. */
int gn__eio_session_drain(struct gn_eio_session *s, struct gn_buf *out);

/* Send S's queue over its WebSocket (the upgrade's switch). */
void gn__eio_session_flush_ws(struct gn_eio_session *s);

/* A packet PKT came from S's client: act on it (a PONG, a MESSAGE to the
 * handler, a CLOSE). */
void gn__eio_session_deliver(struct gn_eio_session *s,
                             const struct gn_eio_packet *pkt);

/* Write SID as the sid of a session of process PID (base64url of PID's 4
 * bytes, big-endian, and 11 random ones), NUL-terminated. */
void gn__eio_sid_make(char sid[GN_EIO_SID_LEN + 1], pid_t pid);

/* Close every session of SRV with REASON. */
void gn__eio_close_all(struct gn_eio_server *srv, const char *reason);

/* ---- eio.c ---- */

/* Answer the protocol's error CODE (handshake.h): its status and JSON
 * body. 1 (answered). */
int gn__eio_answer_error(gn_response_t *res, int code);

/* The same for a WebSocket handshake: 400 and the message as plain text,
 * as the reference server refuses an upgrade. 1. */
int gn__eio_answer_error_plain(gn_response_t *res, int code);

#endif /* GN_SOCKETIO_SESSION_H */
