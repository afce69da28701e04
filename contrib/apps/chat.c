/*
 * chat: the seed's real-time page. GET / serves a small HTML page whose
 * script opens a WebSocket on /ws; each text message a client sends is
 * PUBLISHed on one Redis channel, and each worker holds ONE subscription
 * to it (a green thread of the worker's own, contrib/green/redis_sub.h)
 * that sends every message it receives to every WebSocket of that worker.
 * So clients on different workers -- or on different hosts sharing the
 * Redis -- see the same messages, each once, in the order Redis delivered
 * them:
 *
 *     browser --ws--> worker 1 --PUBLISH--> Redis --message--> worker 1..N
 *                                                        --ws--> browsers
 *
 * A sender's messages keep their order: its handler publishes one message
 * at a time and reads the next only once Redis has taken it.
 *
 * A client that stops reading is not waited for: the fan-out queues each
 * message on its socket without waiting (gn_ws_send with no time to
 * wait), and a socket whose queue would pass websocket_max_queue is
 * closed by the server (1013, logged once) while the others go on. The
 * fan-out gives the other green threads a turn every few dozen sends, so
 * a burst to thousands of sockets does not hold the worker.
 *
 * When Redis goes away the WebSockets stay open. This worker's clients
 * are told (a line "[chat: ...]" from the server) when its subscription
 * is lost and when it is back; a message that cannot be published is
 * answered, to its sender only, with "[not sent: ...]". What was published
 * while the subscription was away is not delivered (Redis keeps nothing
 * for an absent subscriber); the gap is logged by redis_sub.
 *
 *     [app]
 *     module = build/contrib/apps/chat.so
 *
 *     [app.args]
 *     host = 127.0.0.1         Redis's address or name, or its unix socket
 *     port = 6379
 *     channel = greenicorn:chat
 *     pool = 16                publishing connections per worker, at most
 *     timeout = 2              seconds a PUBLISH may take in all
 *     max_length = 4096        bytes of one chat message: a longer one is
 *                              refused (and one on the channel, from
 *                              elsewhere, dropped)
 *     yield_every = 64         sends of the fan-out between two turns
 *                              given to the other green threads
 *
 * contrib/apps/chat.conf is a whole config. Every worker subscribes in
 * init, so preload_app (init in the arbiter, where no green thread can
 * run) is refused with a clear message. For the same reason init runs in
 * the worker, and there it makes the Redis client wait with gn_wait_fd
 * (what green_db's post_fork hook does), so a PUBLISH waiting for Redis
 * suspends only its sender: the app needs no hook.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <greenicorn.h>

#include <greenicorn/redis.h>
#include <greenicorn/redis_sub.h>

/* One connected client, on its handler's stack while it runs. */
struct client {
    gn_ws_t *ws;
    struct client *prev, *next;
};

struct chat {
    const char *host; /* the args' strings live as long as the worker */
    int port;
    const char *channel;
    int pool_size;
    unsigned yield_every;
    double timeout;
    size_t max_length;
    gn_redis_pool_t *pool;
    gn_redis_sub_t *sub;
    struct client *clients; /* this worker's, newest first */
    /* The fan-out's next client. Only the subscription's thread walks the
     * list, and it yields now and then (a burst of messages to thousands
     * of sockets would hold the loop for seconds); a client that leaves
     * meanwhile moves the cursor on, so the walk never touches a node
     * that is gone. One that joins meanwhile gets the next message. */
    struct client *cursor;
    unsigned sends;  /* since the fan-out last yielded */
    int lost;        /* the subscription went away since it was up */
    int warned_junk; /* logged a message on the channel we drop */
};

static const char page[] =
    "<!doctype html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<title>greenicorn chat</title>\n"
    "<link rel=\"icon\" href=\"data:,\">\n"
    "<style>\n"
    "body { font: 15px/1.4 system-ui, sans-serif; max-width: 40em; margin: 2em "
    "auto; }\n"
    "#log { list-style: none; padding: 0; min-height: 12em; border: 1px solid "
    "#ccc; }\n"
    "#log li { padding: .2em .5em; border-bottom: 1px solid #eee; }\n"
    "#state { color: #666; }\n"
    "</style>\n"
    "</head>\n"
    "<body>\n"
    "<h1>chat</h1>\n"
    "<p id=\"state\">connecting...</p>\n"
    "<ul id=\"log\"></ul>\n"
    "<form id=\"send\"><input id=\"text\" autocomplete=\"off\" size=\"40\" "
    "autofocus>\n"
    "<button>send</button></form>\n"
    "<script>\n"
    "\"use strict\";\n"
    "const log = document.getElementById(\"log\");\n"
    "const state = document.getElementById(\"state\");\n"
    "const text = document.getElementById(\"text\");\n"
    "let ws, delay = 500;\n"
    "\n"
    "function show(line) {\n"
    "  const li = document.createElement(\"li\");\n"
    "  li.textContent = line;\n"
    "  log.appendChild(li);\n"
    "}\n"
    "\n"
    "function connect() {\n"
    "  const scheme = location.protocol === \"https:\" ? \"wss://\" : "
    "\"ws://\";\n"
    "  ws = new WebSocket(scheme + location.host + \"/ws\");\n"
    "  ws.onopen = () => { state.textContent = \"connected\"; delay = 500; };\n"
    "  ws.onmessage = (ev) => show(ev.data);\n"
    "  ws.onclose = () => {\n"
    "    state.textContent = \"disconnected; reconnecting...\";\n"
    "    setTimeout(connect, delay);\n"
    "    delay = Math.min(delay * 2, 8000);\n"
    "  };\n"
    "}\n"
    "\n"
    "document.getElementById(\"send\").onsubmit = (ev) => {\n"
    "  ev.preventDefault();\n"
    "  if (text.value && ws.readyState === WebSocket.OPEN) {\n"
    "    ws.send(text.value);\n"
    "    text.value = \"\";\n"
    "  }\n"
    "};\n"
    "connect();\n"
    "</script>\n"
    "</body>\n"
    "</html>\n";

/* ---- the clients of this worker ---------------------------------------- */

static void join(struct chat *st, struct client *c)
{
    c->prev = NULL;
    c->next = st->clients;
    if (st->clients != NULL)
        st->clients->prev = c;
    st->clients = c;
}

static void leave(struct chat *st, struct client *c)
{
    if (st->cursor == c)
        st->cursor = c->next;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        st->clients = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
}

/* TEXT to every client of this worker, in list order. Each send only
 * queues: a client whose queue is full is closed by the server (1013)
 * and the walk goes on. -EINVAL when TEXT is not UTF-8 (the first send
 * tells; nothing was sent), -ECANCELED when the worker stops, else 0.
 * From the subscription's thread only (the cursor is one). */
static int broadcast(struct chat *st, const void *text, size_t len)
{
    struct client *c;
    int rc = 0;

    for (c = st->clients; c != NULL; c = st->cursor) {
        st->cursor = c->next;
        if (gn_ws_send(c->ws, GN_WS_TEXT, text, len, 0) == -EINVAL) {
            rc = -EINVAL;
            break;
        }
        if (++st->sends >= st->yield_every) {
            st->sends = 0;
            if ((rc = gn_yield()) != 0)
                break;
        }
    }
    st->cursor = NULL;
    return rc;
}

/* A message from Redis: to every client of this worker. Something else
 * may publish on the channel: what is not chat (longer than max_length,
 * or not UTF-8) is dropped rather than sent to every socket, and logged
 * once per worker. */
static void on_message(const char *channel, const void *data, size_t len,
                       void *arg)
{
    struct chat *st = arg;

    if (len <= st->max_length && broadcast(st, data, len) != -EINVAL)
        return;
    if (!st->warned_junk) {
        st->warned_junk = 1;
        gn_log(GN_LOG_WARNING,
               "chat: dropping a message of %zu bytes on %s: longer than "
               "max_length (%zu) or not UTF-8 (said once)",
               len, channel, st->max_length);
    }
}

/* The subscription is lost or back: tell this worker's clients, who
 * would otherwise not know that messages may be missing. */
static void on_state(int up, void *arg)
{
    static const char lost[] =
        "[chat: lost the connection to Redis; reconnecting]";
    static const char back[] =
        "[chat: reconnected; messages sent meanwhile were not received]";
    struct chat *st = arg;

    if (!up) {
        st->lost = 1;
        broadcast(st, lost, sizeof(lost) - 1);
    } else if (st->lost) {
        st->lost = 0;
        broadcast(st, back, sizeof(back) - 1);
    }
}

/* ---- handling a request ------------------------------------------------ */

static int serve_page(gn_request_t *req, gn_response_t *res)
{
    const char *m = gn_request_method(req);

    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        gn_response_status(res, 405, NULL);
        gn_response_header(res, "Allow", "GET, HEAD");
        return 0;
    }
    /* (the server sends a HEAD the head of the GET) */
    gn_response_header(res, "Content-Type", "text/html; charset=utf-8");
    gn_response_header(res, "Cache-Control", "no-cache");
    return gn_response_write(res, page, sizeof(page) - 1);
}

/* Tell the sender (only) why its message went nowhere. */
static void refuse(gn_ws_t *ws, const char *why)
{
    char line[160];
    int n = snprintf(line, sizeof(line), "[not sent: %s]", why);

    gn_ws_send(ws, GN_WS_TEXT, line, (size_t)n, 0);
}

/* Publish one message of the client WS; it comes back to every client,
 * WS included, through the subscriptions. -ECANCELED when the worker
 * stops, else 0 (a failure is the sender's to hear, and logged). */
static int publish(struct chat *st, gn_ws_t *ws, const void *data, size_t len)
{
    char err[200];
    int rc;

    if (len > st->max_length) {
        refuse(ws, "longer than the chat takes");
        return 0;
    }
    rc = gn_redis_publish(st->pool, st->channel, data, len, st->timeout, err,
                          sizeof(err));
    if (rc == -ECANCELED)
        return rc;
    if (rc == 0)
        refuse(ws, "no worker is subscribed to the chat; retry soon");
    if (rc >= 0)
        return 0;
    gn_log(GN_LOG_WARNING, "chat: cannot publish to %s:%d: %s", st->host,
           st->port, err);
    refuse(ws, "the chat is unavailable; retry soon");
    return 0;
}

/* A WebSocket on /ws: join, publish what it says until it leaves. */
static int chat_ws(struct chat *st, gn_request_t *req, gn_response_t *res)
{
    struct client self;
    const void *data;
    size_t len;
    int type, rc;

    self.ws = gn_ws_accept(req, res, NULL);
    if (self.ws == NULL)
        return 0; /* not a valid handshake: the server answered it */
    join(st, &self);
    /* -EPIPE once closed (by the client, or by the server: the queue was
     * full), -ECANCELED when the worker stops (it sent 1001). */
    while ((rc = gn_ws_recv(self.ws, &type, &data, &len, -1)) == 0) {
        if (type != GN_WS_TEXT)
            refuse(self.ws, "binary messages are not chat");
        else if (publish(st, self.ws, data, len) == -ECANCELED)
            break;
    }
    leave(st, &self); /* before the server frees self.ws */
    return 0;
}

static int chat_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    struct chat *st = state;
    const char *path = gn_request_path_info(req);

    if (strcmp(path, "/ws") == 0)
        return chat_ws(st, req, res);
    if (strcmp(path, "/") == 0 || *path == '\0')
        return serve_page(req, res);
    gn_response_status(res, 404, NULL);
    gn_response_header(res, "Content-Type", "text/plain");
    return gn_response_write(res, "not found\n", 10);
}

/* ---- init and fini ------------------------------------------------------ */

static int parse_long(const char *value, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_arg(struct chat *st, const gn_app_arg_t *a)
{
    long v;
    char *end;

    if (strcmp(a->name, "host") == 0 && *a->value != '\0') {
        st->host = a->value;
    } else if (strcmp(a->name, "channel") == 0 && *a->value != '\0') {
        st->channel = a->value;
    } else if (strcmp(a->name, "port") == 0) {
        if (parse_long(a->value, 1, 65535, &v) != 0)
            return -EINVAL;
        st->port = (int)v;
    } else if (strcmp(a->name, "pool") == 0) {
        if (parse_long(a->value, 1, 10000, &v) != 0)
            return -EINVAL;
        st->pool_size = (int)v;
    } else if (strcmp(a->name, "max_length") == 0) {
        /* A message goes into every client's queue: keep it well below
         * websocket_max_queue. */
        if (parse_long(a->value, 1, 1 << 20, &v) != 0)
            return -EINVAL;
        st->max_length = (size_t)v;
    } else if (strcmp(a->name, "yield_every") == 0) {
        /* A send the socket takes at once costs a few microseconds: 64
         * yield about every millisecond, well within max_blocking_ms. */
        if (parse_long(a->value, 1, 1 << 20, &v) != 0)
            return -EINVAL;
        st->yield_every = (unsigned)v;
    } else if (strcmp(a->name, "timeout") == 0) {
        st->timeout = strtod(a->value, &end);
        if (end == a->value || *end != '\0' || !(st->timeout > 0) ||
            st->timeout > 3600)
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    return 0;
}

static void chat_fini(void *state)
{
    struct chat *st = state;

    if (st == NULL)
        return;
    gn_redis_sub_stop(st->sub);
    gn_redis_pool_free(st->pool);
    free(st);
}

static int chat_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct chat *st = calloc(1, sizeof(*st));
    const char *channels[1];
    gn_redis_sub_opts_t opts = {.name = "chat", .on_state = on_state};
    int err;

    if (st == NULL)
        return -ENOMEM;
    *st = (struct chat){.host = "127.0.0.1",
                        .port = 6379,
                        .channel = "greenicorn:chat",
                        .pool_size = 16,
                        .timeout = 2,
                        .max_length = 4096,
                        .yield_every = 64};
    for (size_t i = 0; i < nargs; i++) {
        if (parse_arg(st, &args[i]) != 0) {
            gn_log(GN_LOG_ERROR, "chat: bad argument %s = '%s'", args[i].name,
                   args[i].value);
            free(st);
            return -EINVAL;
        }
    }
    st->pool = gn_redis_pool_new(st->host, st->port, st->pool_size);
    channels[0] = st->channel;
    errno = ENOMEM;
    if (st->pool != NULL)
        st->sub = gn_redis_sub_start(st->host, st->port, channels, 1,
                                     on_message, st, &opts);
    if (st->sub == NULL) {
        err = errno;
        gn_log(GN_LOG_ERROR, "chat: cannot subscribe to %s: %s%s", st->channel,
               strerror(err),
               err == EAGAIN ? " (preload_app is not for this app: each "
                               "worker subscribes in its init)"
                             : "");
        chat_fini(st);
        return -err;
    }
    /* In a worker (the subscription just proved it): publishing waits
     * green from now on, as green_db's post_fork hook would make it. */
    gn_redis_set_wait(gn_wait_fd);
    *state = st;
    return 0;
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,         .name = "chat",    .init = chat_init,
    .handle = chat_handle, .fini = chat_fini,
};
