/*
 * The opening handshake from an HTTP handler (RFC 6455 4.2): check the
 * request, answer what is wrong with it (400, 426, 403) or switch the
 * connection over with "101 Switching Protocols" and the
 * Sec-WebSocket-Accept it proves the handshake with, and the
 * permessage-deflate it agreed on (websocket/compress.c).
 */
#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "green/park.h"
#include "http/request.h"
#include "http/response.h"
#include "net/conn.h"
#include "websocket/compress.h"
#include "websocket/handshake.h"
#include "websocket/ws.h"

GN_API int gn_ws_is_upgrade(const gn_request_t *req)
{
    return gn__ws_token_in(gn_request_header(req, "Upgrade"), "websocket");
}

GN_API int gn_ws_offers(const gn_request_t *req, const char *subprotocol)
{
    return subprotocol != NULL && *subprotocol != '\0' &&
           gn__ws_token_in(gn_request_header(req, "Sec-WebSocket-Protocol"),
                           subprotocol);
}

/* What is wrong with REQ's handshake: 0, or the status to answer, with
 * *WHY for the debug log. */
static int check(const gn_request_t *req, const char *subprotocol,
                 const char **why)
{
    const char *version = gn_request_header(req, "Sec-WebSocket-Version");

    if (!gn_ws_is_upgrade(req))
        return *why = "no Upgrade: websocket", 426;
    if (strcmp(gn_request_method(req), "GET") != 0 ||
        gn_request_version(req) != 11)
        return *why = "not GET over HTTP/1.1", 400;
    if (!gn__ws_token_in(gn_request_header(req, "Connection"), "upgrade"))
        return *why = "Connection lacks upgrade", 400;
    if (!gn__ws_key_valid(gn_request_header(req, "Sec-WebSocket-Key")))
        return *why = "no valid Sec-WebSocket-Key", 400;
    if (version == NULL || strcmp(version, "13") != 0)
        return *why = "Sec-WebSocket-Version is not 13", 426;
    if (!gn__ws_origin_allowed(gn__ws_settings()->allowed_origins,
                               gn_request_header(req, "Origin")))
        return *why = "Origin not in websocket_allowed_origins", 403;
    if (subprotocol != NULL && !gn_ws_offers(req, subprotocol))
        return *why = "the app chose a subprotocol not offered", 500;
    return 0;
}

/* Answer STATUS instead of switching (sent when the handler returns),
 * with what a client needs to retry, and close after it. */
static void refuse(gn_request_t *req, gn_response_t *res, int status,
                   const char *why)
{
    gn_log_debug("WebSocket handshake from %s refused (%d): %s",
                 gn_request_remote_addr(req), status, why);
    res->body.len = 0;
    gn_response_status(res, status, NULL);
    if (status == 426) {
        gn_response_header(res, "Upgrade", "websocket");
        gn_response_header(res, "Sec-WebSocket-Version", "13");
    }
    gn_response_header(res, "Content-Type", "text/plain");
    gn_response_printf(res, "%d %s\n", status, gn__status_reason(status));
    res->conn->closing = 1;
}

GN_API gn_ws_t *gn_ws_accept(gn_request_t *req, gn_response_t *res,
                             const char *subprotocol)
{
    char accept[GN_WS_ACCEPT_LEN + 1];
    const char *why = NULL;
    struct gn_conn *c;
    struct gn_ws_pmd *pmd;
    struct gn_ws *ws;
    int status;

    if (!gn__on_loop_thread() || req == NULL || res == NULL)
        return NULL;
    if ((status = check(req, subprotocol, &why)) != 0) {
        refuse(req, res, status, why);
        return NULL;
    }
    gn__ws_accept_key(gn_request_header(req, "Sec-WebSocket-Key"), accept);
    if (gn_response_header(res, "Sec-WebSocket-Accept", accept) != 0 ||
        (subprotocol != NULL &&
         gn_response_header(res, "Sec-WebSocket-Protocol", subprotocol) != 0))
        return NULL;
    /* Extensions (permessage-deflate) are agreed on here: their
     * Sec-WebSocket-Extensions answer goes in the 101, and the WebSocket
     * gets their transform. */
    pmd = gn__ws_pmd_negotiate(req, res);
    c = gn__http_upgrade(res, "websocket");
    if (c == NULL) {
        gn__ws_pmd_free(pmd);
        return NULL;
    }
    ws = gn__ws_start(c, res);
    if (ws == NULL) {
        gn_log_error("out of memory for a WebSocket from %s", c->remote_addr);
        gn__ws_pmd_free(pmd);
    } else if (pmd != NULL) {
        gn__ws_pmd_attach(ws, pmd);
    }
    return ws;
}
