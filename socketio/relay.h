/*
 * Many workers, no stickiness: an Engine.IO request whose sid names a
 * session another worker holds (the sid encodes its pid, gn__eio_sid_owner)
 * is served by that worker, through http/relay.c over the worker-to-worker
 * channel (net/peer.c):
 *
 * - a long-polling GET or POST is relayed: it crosses, the owner serves it
 *   as its own (the GET waits there up to the ping interval), and the
 *   answer crosses back to be this request's response;
 * - a WebSocket handshake (the upgrade of a polling session) is handed
 *   over: the client's socket crosses, and the owner runs the WebSocket
 *   in its own loop. A TLS connection cannot cross (its TLS state lives
 *   in this process): its upgrade is refused with a 400, and the client
 *   goes on polling, which is relayed.
 *
 * An owner that is gone (exited, or stopping: its sessions end with it)
 * makes the request's session unknown: 400 with code 1, "Session ID
 * unknown", on which clients open a new session.
 */
#ifndef GN_SOCKETIO_RELAY_H
#define GN_SOCKETIO_RELAY_H

#include <sys/types.h>

#include "greenicorn.h"

/* How much longer than the ping interval a relayed GET may take before
 * this side gives up (the owner answers within the interval). */
#define GN_EIO_RELAY_SLACK_MS 10000

/* How long handing a WebSocket over may take (the owner only adopts the
 * socket; the handshake is answered from its loop afterwards). */
#define GN_EIO_HAND_OVER_MS 5000

/* The forwarder of struct gn_eio_settings: serve REQ, for session SID held
 * by process OWNER, there; answer RES. 1 (answered, or the connection went
 * to OWNER), or a negative errno for a connection to close (the client's
 * body could not be read), as gn__eio_serve. */
int gn__eio_forward(const char *sid, pid_t owner, gn_request_t *req,
                    gn_response_t *res);

#endif /* GN_SOCKETIO_RELAY_H */
