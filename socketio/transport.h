/*
 * Engine.IO's WebSocket transport: a session opened over a WebSocket
 * (its first frame the OPEN packet), and the upgrade of a polling session
 * (probe, pause, switch). One packet per frame: a text frame holds the
 * type digit and the data, a binary frame a binary message. Internal to
 * socketio/.
 */
#ifndef GN_SOCKETIO_TRANSPORT_H
#define GN_SOCKETIO_TRANSPORT_H

#include <stddef.h>

#include "greenicorn.h"

struct gn_eio_server;
struct gn_eio_session;
struct gn_eio_packet;

/* A handshake over WebSocket: accept it, open a session on it and serve
 * it until it ends. 1 (answered), or a negative errno. */
int gn__eio_ws_open(struct gn_eio_server *srv, gn_request_t *req,
                    gn_response_t *res);

/* The WebSocket of an upgrade of the polling session S: probe, switch,
 * serve. 1, or a negative errno. */
int gn__eio_ws_upgrade(struct gn_eio_session *s, gn_request_t *req,
                       gn_response_t *res);

/* Send N packets over S's WebSocket, without waiting: 0, or -ENOBUFS past
 * websocket_max_queue (S is then closed, "forced close"), -EPIPE. */
int gn__eio_ws_send(struct gn_eio_session *s, const struct gn_eio_packet *pkts,
                    size_t n);

/* S closed: send CLOSE on its WebSocket (or the one probed) and close it.
 * Nothing when it has none. */
void gn__eio_ws_close(struct gn_eio_session *s);

#endif /* GN_SOCKETIO_TRANSPORT_H */
