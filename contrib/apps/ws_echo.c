/*
 * ws_echo: a WebSocket echo server on any path. Each message comes back
 * with its type (text as text, binary as binary) until the client closes;
 * a plain GET (no Upgrade: websocket) gets 426 Upgrade Required. The
 * conformance suite (tests/e2e/test_websocket.py) and the benchmarks run
 * against it.
 *
 *     [app]
 *     module = ws_echo.so
 *
 * App arguments:
 *
 *     [app.args]
 *     subprotocol = NAME   choose NAME when the client offers it
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <greenicorn.h>

static int init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    for (size_t i = 0; i < nargs; i++)
        if (strcmp(args[i].name, "subprotocol") == 0)
            *state = (void *)args[i].value; /* lives as long as the worker */
    return 0;
}

static int handle(gn_request_t *req, gn_response_t *res, void *state)
{
    const char *sub = state;
    const void *data;
    size_t len;
    gn_ws_t *ws;
    int type, rc;

    if (!gn_ws_is_upgrade(req)) {
        gn_response_status(res, 426, NULL);
        gn_response_header(res, "Upgrade", "websocket");
        gn_response_header(res, "Sec-WebSocket-Version", "13");
        gn_response_header(res, "Content-Type", "text/plain");
        return gn_response_printf(res, "a WebSocket echo: connect with "
                                       "Upgrade: websocket\n");
    }
    ws = gn_ws_accept(req, res, sub && gn_ws_offers(req, sub) ? sub : NULL);
    if (ws == NULL)
        return 0; /* refused: the server answered */
    while ((rc = gn_ws_recv(ws, &type, &data, &len, -1)) == 0)
        if ((rc = gn_ws_send(ws, type, data, len, 60)) != 0)
            break;
    return rc == -EPIPE ? 0 : rc;
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,
    .name = "ws_echo",
    .init = init,
    .handle = handle,
};
