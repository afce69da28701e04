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
 *     send_timeout = S     how long an echo may wait for room in the
 *                          socket's queue (default 60 s)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <greenicorn.h>

struct echo {
    const char *subprotocol; /* NULL: none */
    double send_timeout;
};

static int init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct echo *e = calloc(1, sizeof(*e));

    if (e == NULL)
        return -ENOMEM;
    e->send_timeout = 60;
    for (size_t i = 0; i < nargs; i++) {
        if (strcmp(args[i].name, "subprotocol") == 0)
            e->subprotocol = args[i].value; /* lives as long as the worker */
        else if (strcmp(args[i].name, "send_timeout") == 0)
            e->send_timeout = atof(args[i].value);
    }
    *state = e;
    return 0;
}

static void fini(void *state)
{
    free(state);
}

static int handle(gn_request_t *req, gn_response_t *res, void *state)
{
    const struct echo *e = state;
    const char *sub = e->subprotocol;
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
        if ((rc = gn_ws_send(ws, type, data, len, e->send_timeout)) != 0)
            break;
    /* Closed (-EPIPE), or closed at the queue limit (-ENOBUFS). */
    return rc == -EPIPE || rc == -ENOBUFS ? 0 : rc;
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,
    .name = "ws_echo",
    .init = init,
    .handle = handle,
    .fini = fini,
};
