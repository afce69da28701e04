/*
 * Engine.IO 4's server side: sessions and their transports. An app's
 * handler hands every request under the Socket.IO path to gn__eio_serve,
 * which makes a session on a handshake, answers long-polling GETs (wait
 * for packets up to the ping interval) and POSTs (deliver packets), runs a
 * WebSocket (from the start, or as an upgrade of a polling session: probe,
 * pause, switch), sends the pings and closes a session that misses its
 * pong. What the session carries is the layer above's (Socket.IO 5 in
 * socketio/sio.c): it sees each session open, each message packet, and
 * the close with its reason, through struct gn_eio_handler.
 *
 * This file is the seam between the two: the engine knows nothing of
 * namespaces or JSON, the Socket.IO layer nothing of transports.
 */
#ifndef GN_SOCKETIO_EIO_H
#define GN_SOCKETIO_EIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "greenicorn.h"
#include "socketio/engine.h" /* struct gn_eio_packet */

/* The [socketio] settings, as the worker hands them down. */
struct gn_eio_settings {
    const char *path;        /* "/socket.io/" */
    int64_t ping_interval_ms; /* pingInterval of the handshake */
    int64_t ping_timeout_ms;  /* pingTimeout */
    uint64_t max_payload;     /* maxPayload: bytes of a POST or a frame */
    uint64_t max_queue;       /* bytes queued to one session, else closed */
    int allow_polling;        /* transports offered */
    int allow_websocket;
    /* A request whose sid names a session of another process OWNER (the
     * sid's owner, gn__eio_sid_owner): serve it there and answer RES,
     * returning as gn__eio_serve does. NULL: such a sid is unknown (400,
     * "Session ID unknown"). Set by the worker (the peer channel). */
    int (*forward)(const char *sid, pid_t owner, gn_request_t *req,
                   gn_response_t *res);
};

/* Use S (which must outlive the worker's sessions) from now on. Until
 * called, the protocol's defaults apply (for tests). */
void gn__eio_setup(const struct gn_eio_settings *s);

/* The settings in force. */
const struct gn_eio_settings *gn__eio_settings(void);

struct gn_eio_server;
struct gn_eio_session;

/* What the layer above is told. Every callback runs in a coroutine of
 * the worker (the request's or the WebSocket's) and must not wait: a
 * handler that may block (an app's event handler) is run in a green
 * thread of its own by the layer above. */
struct gn_eio_handler {
    /* A session was made (the handshake's OPEN is queued). */
    void (*open)(struct gn_eio_session *s, void *ctx);
    /* A MESSAGE packet arrived on S: PKT and its data are valid only
     * during the call. */
    void (*message)(struct gn_eio_session *s, const struct gn_eio_packet *pkt,
                    void *ctx);
    /* S is closed (REASON: "transport close", "ping timeout", "parse
     * error", "server shutting down", "forced close" ...); S is freed
     * after the call. */
    void (*close)(struct gn_eio_session *s, const char *reason, void *ctx);
};

/* An engine with handler H and its context CTX (one per app's Socket.IO
 * server), or NULL (errno set). */
struct gn_eio_server *gn__eio_server_new(const struct gn_eio_handler *h,
                                         void *ctx);

/* Close every session ("server shutting down") and free SRV. */
void gn__eio_server_free(struct gn_eio_server *srv);

/* The worker stops (TERM, HUP's old generation, TTOU, max_requests):
 * close every session of every server ("server shutting down") WITHOUT an
 * Engine.IO CLOSE: the clients see their transport end and reconnect (a
 * CLOSE means "the server closed the session", after which python-socketio's
 * client does not reconnect; socket.io-client reconnects either way). A
 * pending GET answers what was queued, or else 400 "Session ID unknown",
 * as the session's next request would be; a WebSocket sends its close
 * frame (1001, going away). Call before the connections are told to
 * stop. */
void gn__eio_shutdown(void);

/* The process that holds the session SID, as the sid says (a sid is the
 * base64url, unpadded, of 15 bytes: the owner's pid in 4 bytes,
 * big-endian, then 11 random bytes; 20 characters), or -1 when SID is not
 * such a sid. */
pid_t gn__eio_sid_owner(const char *sid);

/* Serve REQ if its path (relative to the app's mount: gn_request_path_info)
 * starts with the path setting: 1 served (a response was written,
 * or the connection became a WebSocket whose life ends before this
 * returns), 0 not the engine's path (nothing written), or a negative errno
 * for a connection to close. */
int gn__eio_serve(struct gn_eio_server *srv, gn_request_t *req,
                  gn_response_t *res);

/* Queue N packets to S as one unit (a Socket.IO binary packet and its
 * attachments must not be split by another sender): 0, -ENOBUFS past
 * max_queue (S is then closed, "forced close"), -EPIPE when S is closed.
 * Never waits. */
int gn__eio_send(struct gn_eio_session *s, const struct gn_eio_packet *pkts,
                 size_t n);

/* Close S with REASON (the handler's close runs, once). */
void gn__eio_close(struct gn_eio_session *s, const char *reason);

/* S's id (the handshake's sid: names the worker that holds it). */
const char *gn__eio_sid(const struct gn_eio_session *s);

/* The layer above's pointer for S. */
void gn__eio_set_data(struct gn_eio_session *s, void *data);
void *gn__eio_data(const struct gn_eio_session *s);

#endif /* GN_SOCKETIO_EIO_H */
