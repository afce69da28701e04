/*
 * ws_echo: a WebSocket echo server on any path. Each message comes back
 * with its type (text as text, binary as binary) until the client closes;
 * a plain GET (no Upgrade: websocket) gets 426 Upgrade Required. The
 * conformance suite (tests/e2e/test_websocket.py) and the benchmarks run
 * against it.
 *
 *     ws://host/any?ticks=N   also sends "tick 0" ... "tick N-1" from a
 *                             green thread of its own, one every 20 ms,
 *                             while the handler waits in gn_ws_recv: a
 *                             sender that is not the receiver (fan-out)
 *     ws://host/any?close_after=N
 *                             after N echoes, pings ("ping?") and closes
 *                             itself with 4000 "enough" (gn_ws_ping,
 *                             gn_ws_close)
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
#include <stdio.h>
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

struct ticker {
    gn_ws_t *ws;
    int n;
};

/* Send T->n ticks, from a green thread that is not the handler's. */
static int tick(void *arg)
{
    struct ticker *t = arg;
    char msg[32];
    int len;

    for (int i = 0; i < t->n; i++) {
        if (gn_sleep(0.02) != 0)
            return 0;
        len = snprintf(msg, sizeof(msg), "tick %d", i);
        if (gn_ws_send(t->ws, GN_WS_TEXT, msg, (size_t)len, 5) != 0)
            return 0;
    }
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
    const char *query = gn_request_query(req);
    struct ticker ticker = {NULL, 0};
    gn_thread_t *thread = NULL;
    const void *data;
    size_t len;
    gn_ws_t *ws;
    int type, rc = 0, left = -1; /* echoes before closing; -1: no end */

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
    if (query != NULL && strncmp(query, "ticks=", 6) == 0) {
        ticker = (struct ticker){ws, atoi(query + 6)};
        thread = gn_spawn(tick, &ticker);
    }
    if (query != NULL && strncmp(query, "close_after=", 12) == 0)
        left = atoi(query + 12);
    while (left != 0 && (rc = gn_ws_recv(ws, &type, &data, &len, -1)) == 0) {
        if ((rc = gn_ws_send(ws, type, data, len, e->send_timeout)) != 0)
            break;
        if (left > 0)
            left--;
    }
    if (left == 0) { /* our turn to end it */
        if ((rc = gn_ws_ping(ws, "ping?", 5, 5)) == 0)
            rc = gn_ws_close(ws, 4000, "enough", 5);
        gn_log(GN_LOG_INFO, "ws_echo: closed with 4000: %d, client said %d",
               rc, gn_ws_close_code(ws));
    }
    if (thread != NULL) { /* it must not outlive WS */
        gn_kill(thread);
        gn_join(thread, -1, NULL);
    }
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
