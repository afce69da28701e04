/*
 * An HTTP request served by another worker of the instance, over the
 * worker-to-worker channel (net/peer.h). Two ways:
 *
 * - relayed: the request (head and body) crosses as a message, the other
 *   worker serves it through its own HTTP stack as if its client had sent
 *   it (an adopted connection over a socket pair: routing, hooks, the app,
 *   the access log), and its response crosses back, to be written here as
 *   this request's response. The client's connection stays ours (its
 *   keep-alive, its TLS). For a request that must be served where some
 *   state lives (an Engine.IO long-poll of a session another worker holds).
 *
 * - handed over: the client's socket itself crosses (SCM_RIGHTS) with the
 *   request's head, and the other worker adopts it as a connection of its
 *   own, serving the request and whatever follows there; here the
 *   connection just ends, without a byte written. For a request that turns
 *   the connection into something long-lived held there (a WebSocket
 *   handshake). Plain TCP only: a TLS connection's state lives in our
 *   process and cannot cross.
 *
 * Which requests go where is the caller's (socketio/relay.c): nothing here
 * knows Engine.IO.
 */
#ifndef GN_HTTP_RELAY_H
#define GN_HTTP_RELAY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "greenicorn.h"

struct gn_conns;
struct gn_http_ctx;
struct gn_peer;

/* The kinds of peer calls these are (net/peer.h). */
enum {
    GN_PEER_HTTP_RELAY = 1,
    GN_PEER_HTTP_HAND_OVER = 2,
};

/*
 * Serve REQ in process TO and write its response to RES. The request's
 * body is read here first, at most MAX_BODY bytes of it (a longer one
 * crosses cut to MAX_BODY + 1 bytes, for the other side to refuse as too
 * large). The call takes at most TIMEOUT_MS. 0 with RES written (not
 * finished: the handler's return does that), or a negative errno with
 * nothing written: -ESRCH when TO is gone, -ETIMEDOUT, -EPIPE when it
 * ended without answering, -EPROTO for an answer that is no HTTP response,
 * or the body's read error.
 */
int gn__http_relay(gn_request_t *req, gn_response_t *res, pid_t to,
                   size_t max_body, int64_t timeout_ms);

/*
 * Hand REQ's connection over to process TO, which serves REQ (and the
 * connection's life) there. 0 (RES is then marked handed off: nothing is
 * written, the connection closes here once the handler returns), or a
 * negative errno with nothing changed: -EPROTONOSUPPORT for a TLS
 * connection, -EINVAL for a request with a body, -ESRCH when TO is gone,
 * -EPERM when it runs as another user, or the callee's refusal. A call
 * that fails once the socket was sent (a timeout, the callee gone
 * mid-call) counts as handed over: it may have been adopted, and two
 * processes must never answer one client.
 */
int gn__http_hand_over(gn_request_t *req, gn_response_t *res, pid_t to,
                       int64_t timeout_ms);

/* Serve the two kinds on P: their requests become connections of SET
 * spoken to as CTX says (the worker's). 0 or a negative errno. SET and CTX
 * must outlive P. */
int gn__http_relay_serve(struct gn_peer *p, struct gn_conns *set,
                         const struct gn_http_ctx *ctx);

#endif /* GN_HTTP_RELAY_H */
