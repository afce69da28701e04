/*
 * greenicorn/websocket.h - WebSocket (RFC 6455) from an HTTP handler:
 * check a request for a handshake, accept it (101 Switching Protocols),
 * then receive whole messages and send messages, pings and a close, each
 * call green and time-limited. The server answers pings, checks the
 * framing and UTF-8, and closes with the codes the RFC asks for.
 *
 * Part of the plugin ABI (since ABI 1.4): a plugin includes
 * <greenicorn.h>, which includes this header.
 */
#ifndef GREENICORN_WEBSOCKET_H
#define GREENICORN_WEBSOCKET_H

#include <stddef.h>

#include "greenicorn/http.h"
#include "greenicorn/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One WebSocket, from gn_ws_accept() until the handler that accepted it
 * returns (then the server closes it and frees it: drop it from any list
 * other green threads use before returning). Since ABI 1.4. */
typedef struct gn_ws gn_ws_t;

/* Message types. Since ABI 1.4. */
#define GN_WS_TEXT 1   /* UTF-8 text (checked by the server) */
#define GN_WS_BINARY 2 /* bytes */

/* Whether REQ asks for a WebSocket (an Upgrade: websocket header): 1 or
 * 0. Since ABI 1.4. */
GN_API int gn_ws_is_upgrade(const gn_request_t *req);

/* Whether the client offered SUBPROTOCOL (in Sec-WebSocket-Protocol): 1
 * or 0. Since ABI 1.4. */
GN_API int gn_ws_offers(const gn_request_t *req, const char *subprotocol);

/*
 * Check REQ's handshake and answer "101 Switching Protocols", choosing
 * SUBPROTOCOL (NULL: none; else one gn_ws_offers() says the client
 * offered), with the headers the handler set on RES. Returns the
 * WebSocket, or NULL when the server answered an error itself (400 for a
 * malformed handshake, 426 with Sec-WebSocket-Version: 13 for another
 * version or no Upgrade: websocket, 403 for an Origin not in
 * websocket_allowed_origins, 500 for a SUBPROTOCOL not offered) or the
 * client is gone: the handler then returns 0. After it RES is spent. May
 * yield. With websocket_compression on, it also agrees on
 * permessage-deflate when the client offers it: the server then inflates
 * and compresses messages itself, and the calls below see plain ones.
 * Since ABI 1.4.
 */
GN_API gn_ws_t *gn_ws_accept(gn_request_t *req, gn_response_t *res,
                             const char *subprotocol);

/*
 * Wait up to TIMEOUT seconds (negative: no limit) for the next whole
 * message: 0 with *TYPE (GN_WS_TEXT or GN_WS_BINARY), *DATA and *LEN set;
 * *DATA stays valid until the next gn_ws_recv() or the handler returns.
 * Pings are answered and pongs dropped meanwhile. -EPIPE once the
 * WebSocket is closed (gn_ws_close_code() tells the peer's code),
 * -ETIMEDOUT (the WebSocket stays open), -ECANCELED, -EPERM off the
 * loop's thread, -EBUSY when another green thread is receiving. May
 * yield. Since ABI 1.4.
 */
GN_API int gn_ws_recv(gn_ws_t *ws, int *type, const void **data, size_t *len,
                      double timeout);

/*
 * Send one message of TYPE (text must be UTF-8: -EINVAL otherwise) from
 * any green thread of the worker. What the socket does not take at once
 * is queued, up to websocket_max_queue bytes per WebSocket; past that the
 * call waits up to TIMEOUT seconds (negative: no limit) for room, and then
 * closes the WebSocket with 1013 (logged once) and returns -ENOBUFS. 0,
 * -EPIPE once the WebSocket is closed, -ETIMEDOUT, -ECANCELED, -EPERM.
 * May yield. Since ABI 1.4.
 */
GN_API int gn_ws_send(gn_ws_t *ws, int type, const void *data, size_t len,
                      double timeout);

/* Send a ping with DATA (at most 125 bytes: -EINVAL otherwise); the
 * client's pong is dropped. Returns as gn_ws_send(). May yield. Since ABI
 * 1.4. */
GN_API int gn_ws_ping(gn_ws_t *ws, const void *data, size_t len,
                      double timeout);

/*
 * Close with CODE (1000, or 3000-4999; 1001-1014 as RFC 6455 defines
 * them) and REASON (UTF-8, NULL for none, cut to 123 bytes): send the
 * close frame and wait up to TIMEOUT seconds for the client's. 0 (the
 * closing handshake completed), -ETIMEDOUT (the server closes the socket
 * when the handler returns), -EINVAL for a bad code, -EPIPE when it was
 * closed already, -ECANCELED, -EPERM. May yield. Since ABI 1.4.
 */
GN_API int gn_ws_close(gn_ws_t *ws, int code, const char *reason,
                       double timeout);

/* The close code the peer sent (1005 when its close frame had none), 1006
 * when the connection ended without one, or 0 while it is open. Since ABI
 * 1.4. */
GN_API int gn_ws_close_code(const gn_ws_t *ws);

/* Attach DATA to WS (for the app; the server never reads it). Since ABI
 * 1.4. */
GN_API void gn_ws_set_data(gn_ws_t *ws, void *data);

/* What gn_ws_set_data() attached (NULL at first). Since ABI 1.4. */
GN_API void *gn_ws_data(const gn_ws_t *ws);

#ifdef __cplusplus
}
#endif

#endif /* GREENICORN_WEBSOCKET_H */
