/*
 * Engine.IO's long-polling transport: the handshake GET that opens a
 * session, the GET that waits for its packets (up to the ping interval)
 * and the POST that delivers the client's. Each answers the request it is
 * given; internal to socketio/ (socketio/eio.c routes to them).
 */
#ifndef GN_SOCKETIO_POLLING_H
#define GN_SOCKETIO_POLLING_H

#include "greenicorn.h"

struct gn_eio_server;
struct gn_eio_session;

/* A handshake over polling: a new session, answered with its OPEN. */
int gn__eio_polling_open(struct gn_eio_server *srv, gn_request_t *req,
                         gn_response_t *res);

/* A GET of S: its queued packets, waiting for some if none are. */
int gn__eio_polling_get(struct gn_eio_session *s, gn_request_t *req,
                        gn_response_t *res);

/* A POST to S: its payload delivered, answered "ok". */
int gn__eio_polling_post(struct gn_eio_session *s, gn_request_t *req,
                         gn_response_t *res);

#endif /* GN_SOCKETIO_POLLING_H */
