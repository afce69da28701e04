/*
 * Engine.IO requests served by the worker that holds their session
 * (socketio/relay.h). What crosses, and how the other worker serves it,
 * is http/relay.c's; here only which way each request goes and what the
 * client is told when it cannot.
 */
#include "socketio/relay.h"

#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "http/relay.h"
#include "net/buf.h"
#include "socketio/eio.h"
#include "socketio/handshake.h"

/* The protocol's answer to a request for a session nobody here can
 * reach: JSON for polling, plain text for a WebSocket handshake (as the
 * reference server refuses one). */
static int answer_error(gn_response_t *res, int ws, enum gn_eio_error code,
                        const char *message)
{
    char storage[256];
    struct gn_buf body;
    int rc;

    gn_response_status(res, gn__eio_error_status(code), NULL);
    if (ws) {
        gn_response_header(res, "Content-Type", "text/plain; charset=utf-8");
        rc = gn_response_write(res, message, strlen(message));
        return rc < 0 ? rc : 1;
    }
    gn__buf_init(&body, storage, sizeof(storage));
    gn__eio_error_body(&body, code, NULL);
    gn_response_header(res, "Content-Type", "application/json");
    rc = body.err ? body.err : gn_response_write(res, body.data, body.len);
    gn__buf_free(&body);
    return rc < 0 ? rc : 1;
}

/* A WebSocket handshake for OWNER's session: its connection goes there. */
static int hand_over(const char *sid, pid_t owner, gn_request_t *req,
                     gn_response_t *res)
{
    int rc = gn__http_hand_over(req, res, owner, GN_EIO_HAND_OVER_MS);

    if (rc == 0)
        return 1;
    if (rc == -EPROTONOSUPPORT) {
        gn_log_debug("Engine.IO: session %s: a TLS connection cannot move "
                     "to its worker (pid %d): upgrade refused, polling goes "
                     "on",
                     sid, (int)owner);
        return answer_error(res, 1, GN_EIO_BAD_REQUEST,
                            "WebSocket upgrade over TLS must reach the "
                            "session's worker: keep polling");
    }
    gn_log_debug("Engine.IO: session %s: its worker (pid %d) cannot take "
                 "the WebSocket: %s",
                 sid, (int)owner, strerror(-rc));
    return answer_error(res, 1, GN_EIO_UNKNOWN_SID,
                        gn__eio_error_message(GN_EIO_UNKNOWN_SID));
}

int gn__eio_forward(const char *sid, pid_t owner, gn_request_t *req,
                    gn_response_t *res)
{
    const struct gn_eio_settings *s = gn__eio_settings();
    int rc;

    if (gn_ws_is_upgrade(req))
        return hand_over(sid, owner, req, res);
    rc = gn__http_relay(req, res, owner, (size_t)s->max_payload,
                        s->ping_interval_ms + GN_EIO_RELAY_SLACK_MS);
    if (rc == 0)
        return 1;
    /* Whatever failed (the owner gone or stopping, its answer late, the
     * client's body unreadable), the session cannot be served: the client
     * opens a new one. */
    gn_log_debug("Engine.IO: session %s: its worker (pid %d) did not "
                 "serve \"%s\": %s",
                 sid, (int)owner, gn_request_method(req), strerror(-rc));
    return answer_error(res, 0, GN_EIO_UNKNOWN_SID, NULL);
}
