/*
 * ws_broadcast: greenicorn's side of bench/'s WebSocket scenarios, with the
 * protocol of bench/README.md that the Node ws and gevent-websocket peers
 * (bench/ws_node.js, bench/ws_gevent.py) follow too: a text message
 * "broadcast:<payload>" makes the worker send <payload>, as text, to every
 * WebSocket it holds, the sender included; any other message is echoed
 * with its type.
 *
 *     greenicorn build/bench/ws_broadcast.so
 *
 * Each handler links its socket into the worker's list (the node lives on
 * the handler's stack) and parks in gn_ws_recv; a broadcast is sent from
 * the sender's own green thread with gn_ws_send, which may run from any
 * green thread of the worker. A gn_ws_t stays valid only until the handler
 * that accepted it returns, and gn_ws_send may yield: so a broadcast pins
 * the node it is sending to, and a handler that ends waits until its node
 * is not pinned before it unlinks it and returns. Pinning one node is
 * enough: the walk reads that node's next pointer only after its send, and
 * neighbours that leave meanwhile relink it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <greenicorn.h>

#define PREFIX "broadcast:"
#define SEND_TIMEOUT 10.0

struct member {
    gn_ws_t *ws;
    int pinned;  /* broadcasts sending to it right now */
    int leaving; /* its handler is ending: skip it */
    struct member *prev, *next;
};

/* One per worker (init runs after the fork). */
struct hub {
    struct member head;   /* circular list of the open sockets */
    gn_event_t *unpinned; /* set when a leaving node is unpinned */
};

static int hub_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct hub *h = calloc(1, sizeof(*h));

    (void)args;
    (void)nargs;
    if (!h)
        return -ENOMEM;
    h->head.prev = h->head.next = &h->head;
    *state = h;
    return 0;
}

static void hub_fini(void *state)
{
    struct hub *h = state;

    if (h->unpinned)
        gn_event_free(h->unpinned);
    free(h);
}

static void join(struct hub *h, struct member *m)
{
    m->next = &h->head;
    m->prev = h->head.prev;
    h->head.prev->next = m;
    h->head.prev = m;
}

/* Unlink M once no broadcast is sending to it. Past graceful_timeout
 * every wait returns -ECANCELED at once: the worker is exiting, and M goes
 * as it is. */
static void leave(struct hub *h, struct member *m)
{
    m->leaving = 1;
    while (m->pinned > 0) {
        gn_event_clear(h->unpinned);
        if (gn_event_wait(h->unpinned, 1.0) == -ECANCELED)
            break;
    }
    m->prev->next = m->next;
    m->next->prev = m->prev;
}

/* Send PAYLOAD to every socket in the list; a socket that fails (closed,
 * queue full) is the server's to close, and the rest still get theirs. */
static void broadcast(struct hub *h, const void *payload, size_t len)
{
    struct member *next;

    for (struct member *m = h->head.next; m != &h->head; m = next) {
        if (!m->leaving) {
            m->pinned++;
            gn_ws_send(m->ws, GN_WS_TEXT, payload, len, SEND_TIMEOUT);
            m->pinned--;
        }
        next = m->next;
        if (m->leaving && m->pinned == 0)
            gn_event_set(h->unpinned);
    }
}

/* One message: a broadcast request, or an echo. DATA is copied before
 * any send: it lives in the socket's receive buffer. */
static int on_message(struct hub *h, gn_ws_t *ws, int type, const void *data,
                      size_t len)
{
    size_t plen = sizeof(PREFIX) - 1;

    if (type != GN_WS_TEXT || len < plen || memcmp(data, PREFIX, plen) != 0)
        return gn_ws_send(ws, type, data, len, SEND_TIMEOUT);
    char *payload = malloc(len - plen + 1);
    if (!payload)
        return -ENOMEM;
    memcpy(payload, (const char *)data + plen, len - plen);
    broadcast(h, payload, len - plen);
    free(payload);
    return 0;
}

static int hub_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    struct hub *h = state;
    struct member m = {0};
    const void *data;
    size_t len;
    int type;

    if (!h->unpinned) {
        h->unpinned = gn_event_new();
        if (!h->unpinned)
            return -ENOMEM;
    }
    m.ws = gn_ws_accept(req, res, NULL);
    if (!m.ws)
        return 0; /* the server answered 400/426/403 */
    join(h, &m);
    while (gn_ws_recv(m.ws, &type, &data, &len, -1) >= 0) {
        if (on_message(h, m.ws, type, data, len) < 0)
            break;
    }
    leave(h, &m);
    return 0;
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,        .name = "ws_broadcast", .init = hub_init,
    .handle = hub_handle, .fini = hub_fini,
};
