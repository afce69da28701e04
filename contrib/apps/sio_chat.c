/*
 * sio_chat: the seed's real-time example over Socket.IO 5 (the
 * gevent-socketio worker's job), so any Socket.IO client drives it
 * unchanged (the browser's and Node's socket.io-client 4, python-socketio
 * 5). Its protocol, namespace "/":
 *
 *   echo, any arguments (JSON and binary): acknowledged with the same;
 *   join, a room name: joins it, acknowledged with true;
 *   say, {"room": R, "text": T}: every socket in room R, on any worker
 *     or host sharing the Redis, the sender included, receives event
 *     said with {"room": R, "text": T, "from": SID}; acknowledged with
 *     true (or {"error": ...});
 *   ask, an event name and its arguments: the server emits that event
 *     to the sender asking for an ack, and acknowledges ask with the
 *     client's answer, or {"error": "timeout"} after ask_timeout ms.
 *
 * And namespace "/private", where a client connects with the auth
 * {"token": T}: accepted when T is the token argument, else refused
 * (CONNECT_ERROR "not authorized"); echo works there too.
 *
 * Rooms span workers and hosts through Redis pub/sub
 * (contrib/green/sio_redis.h): each worker subscribes once, and each say
 * reaches every member once.
 *
 * GET / is a chat page: it loads the Socket.IO browser client from
 * GET /socket.io.min.js, joins the room ?room=NAME (default "lobby"),
 * sends say and shows said. That file is npm's socket.io-client
 * dist/socket.io.min.js, which scripts/sio-client-js vendors into the
 * build next to sio_chat.so (the repository does not hold it); each
 * worker reads it once in its init. Without it the page says how to get
 * it and /socket.io.min.js is a 404. Every other path is Socket.IO's or
 * 404.
 *
 *     [app]
 *     module = build/contrib/apps/sio_chat.so
 *
 *     [app.args]
 *     redis = 127.0.0.1:6379   HOST:PORT of the Redis (or a unix socket
 *                              path); "none": this worker's sockets only
 *     channel = greenicorn:sio_chat
 *     token = secret           /private's auth token
 *     ask_timeout = 5000       ms an ask waits for the client's ack
 *     client_js = PATH         the browser client (default:
 *                              socket.io.min.js beside sio_chat.so)
 */
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <greenicorn.h>

#include <greenicorn/sio_redis.h>

struct sio_chat {
    char host[256];
    int port; /* 0: no Redis */
    const char *channel;
    const char *token;
    int ask_timeout;
    const char *client_js; /* NULL: beside this .so */
    char *js;              /* its contents, NULL when absent */
    size_t js_len;
    gn_sio_t *sio;
    gn_sio_redis_t *redis;
};

static const char page[] =
    "<!doctype html>\n"
    "<html lang=\"en\">\n"
    "<head><meta charset=\"utf-8\"><title>greenicorn sio_chat</title>\n"
    "<link rel=\"icon\" href=\"data:,\">\n"
    "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}"
    "#log{list-style:none;padding:0}.from{color:#777}</style></head>\n"
    "<body>\n"
    "<h1>sio_chat: <span id=\"room\"></span></h1>\n"
    "<p id=\"state\">connecting</p>\n"
    "<p id=\"missing\" hidden>The Socket.IO browser client is not installed: "
    "run <code>scripts/sio-client-js BUILD_DIR</code> (it needs npm), "
    "then reload the workers (<code>kill -HUP</code> the arbiter).</p>\n"
    "<form id=\"form\"><input id=\"text\" autocomplete=\"off\" size=\"40\" "
    "placeholder=\"say something\"> <button>say</button></form>\n"
    "<ul id=\"log\"></ul>\n"
    "<script src=\"socket.io.min.js\"></script>\n"
    "<script>\n"
    "const $ = id => document.getElementById(id);\n"
    "const room = new URLSearchParams(location.search).get('room') || 'lobby';\n"
    "$('room').textContent = room;\n"
    "if (typeof io === 'undefined') {\n"
    "  $('state').textContent = 'no Socket.IO client';\n"
    "  $('missing').hidden = false;\n"
    "} else {\n"
    /* Engine.IO's path under this page's mount (socketio_path's default). */
    "  const base = location.pathname.replace(/[^/]*$/, '');\n"
    "  const socket = io({path: base + 'socket.io/'});\n"
    "  window.chat = socket; /* for the console (and the tests) */\n"
    /* Rejoin on every connect: a reconnection is a new socket. */
    "  socket.on('connect', () => {\n"
    "    $('state').textContent = 'joining';\n"
    "    socket.emit('join', room, ok => {\n"
    "      $('state').textContent = ok === true ? 'joined' : 'join failed';\n"
    "    });\n"
    "  });\n"
    "  socket.on('disconnect', () => {\n"
    "    $('state').textContent = 'disconnected; reconnecting...';\n"
    "  });\n"
    "  socket.on('said', m => {\n"
    "    if (m.room !== room) return;\n"
    "    const li = document.createElement('li');\n"
    "    const from = document.createElement('span');\n"
    "    const text = document.createElement('span');\n"
    "    from.className = 'from';\n"
    "    from.textContent = (m.from === socket.id ? 'me' : m.from) + ': ';\n"
    "    text.className = 'text';\n"
    "    text.textContent = m.text;\n"
    "    li.append(from, text);\n"
    "    $('log').append(li);\n"
    "  });\n"
    "  $('form').addEventListener('submit', e => {\n"
    "    e.preventDefault();\n"
    "    const text = $('text').value;\n"
    "    if (text === '' || $('state').textContent !== 'joined') return;\n"
    "    socket.emit('say', {room, text}, ok => {\n"
    "      if (ok !== true) $('state').textContent = 'not sent: ' +\n"
    "        JSON.stringify(ok);\n"
    "    });\n"
    "    $('text').value = '';\n"
    "  });\n"
    "}\n"
    "</script>\n"
    "</body>\n"
    "</html>\n";

/* ---- events ------------------------------------------------------------- */

static json_t *on_echo(gn_sio_socket_t *s, const char *event, json_t *args,
                       void *ud)
{
    (void)s;
    (void)event;
    (void)ud;
    return json_incref(args);
}

static json_t *error(const char *why)
{
    return json_pack("{ss}", "error", why);
}

static json_t *on_join(gn_sio_socket_t *s, const char *event, json_t *args,
                       void *ud)
{
    const char *room = json_string_value(json_array_get(args, 0));

    (void)event;
    (void)ud;
    if (room == NULL)
        return error("join takes a room name");
    if (gn_sio_join(s, room) != 0)
        return error("cannot join");
    return json_true();
}

static json_t *on_say(gn_sio_socket_t *s, const char *event, json_t *args,
                      void *ud)
{
    struct sio_chat *st = ud;
    json_t *msg = json_array_get(args, 0);
    const char *room = json_string_value(json_object_get(msg, "room"));
    json_t *text = json_object_get(msg, "text");
    json_t *said;
    int rc;

    (void)event;
    if (room == NULL || !json_is_string(text))
        return error("say takes {\"room\": R, \"text\": T}");
    said = json_pack("[{sssOss}]", "room", room, "text", text, "from",
                     gn_sio_id(s));
    if (said == NULL)
        return error("out of memory");
    /* The sender, if a member, gets it like every other member. */
    rc = gn_sio_emit_to(st->sio, gn_sio_nsp(s), room, NULL, "said", said);
    json_decref(said);
    if (rc == -ECANCELED)
        return NULL;
    if (rc != 0)
        return error(rc == -EINVAL || rc == -E2BIG ? "cannot send that"
                                                   : "not sent to other "
                                                     "workers");
    return json_true();
}

static json_t *on_ask(gn_sio_socket_t *s, const char *event, json_t *args,
                      void *ud)
{
    struct sio_chat *st = ud;
    const char *name = json_string_value(json_array_get(args, 0));
    json_t *rest, *reply = NULL;
    int rc;

    (void)event;
    if (name == NULL)
        return error("ask takes an event name and its arguments");
    rest = json_array();
    if (rest == NULL)
        return error("out of memory");
    for (size_t i = 1; i < json_array_size(args); i++)
        json_array_append(rest, json_array_get(args, i));
    rc = gn_sio_emit_ack(s, name, rest, st->ask_timeout, &reply);
    json_decref(rest);
    if (rc == -ETIMEDOUT)
        return error("timeout");
    if (rc != 0)
        return rc == -EINVAL ? error("cannot send that") : NULL;
    return reply;
}

static const char *on_private(gn_sio_socket_t *s, json_t *auth, void *ud)
{
    struct sio_chat *st = ud;
    const char *token = json_string_value(json_object_get(auth, "token"));

    (void)s;
    if (token == NULL || strcmp(token, st->token) != 0)
        return "not authorized";
    return NULL;
}

/* ---- requests ----------------------------------------------------------- */

static int sio_chat_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    struct sio_chat *st = state;
    const char *path = gn_request_path_info(req);
    int rc = gn_sio_handle(st->sio, req, res);

    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (strcmp(path, "/") == 0 || *path == '\0') {
        gn_response_header(res, "Content-Type", "text/html; charset=utf-8");
        return gn_response_write(res, page, sizeof(page) - 1);
    }
    if (strcmp(path, "/socket.io.min.js") == 0 && st->js != NULL) {
        gn_response_header(res, "Content-Type",
                           "text/javascript; charset=utf-8");
        return gn_response_write(res, st->js, st->js_len);
    }
    gn_response_status(res, 404, NULL);
    gn_response_header(res, "Content-Type", "text/plain");
    return gn_response_write(res, "not found\n", 10);
}

/* ---- init and fini ------------------------------------------------------ */

static int parse_redis(struct sio_chat *st, const char *v)
{
    const char *colon = strrchr(v, ':');
    char *end;
    long port;

    if (strcmp(v, "none") == 0) {
        st->port = 0;
        return 0;
    }
    if (v[0] == '/') { /* a unix socket */
        if (strlen(v) >= sizeof(st->host))
            return -EINVAL;
        strcpy(st->host, v);
        st->port = -1;
        return 0;
    }
    if (colon == NULL || colon == v || (size_t)(colon - v) >= sizeof(st->host))
        return -EINVAL;
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || port < 1 || port > 65535)
        return -EINVAL;
    memcpy(st->host, v, (size_t)(colon - v));
    st->host[colon - v] = '\0';
    st->port = (int)port;
    return 0;
}

static int parse_arg(struct sio_chat *st, const gn_app_arg_t *a)
{
    char *end;
    long v;

    if (strcmp(a->name, "redis") == 0)
        return parse_redis(st, a->value);
    if (strcmp(a->name, "channel") == 0 && *a->value != '\0') {
        st->channel = a->value;
    } else if (strcmp(a->name, "token") == 0) {
        st->token = a->value;
    } else if (strcmp(a->name, "client_js") == 0 && *a->value != '\0') {
        st->client_js = a->value;
    } else if (strcmp(a->name, "ask_timeout") == 0) {
        v = strtol(a->value, &end, 10);
        if (*end != '\0' || end == a->value || v < 1 || v > 3600000)
            return -EINVAL;
        st->ask_timeout = (int)v;
    } else {
        return -EINVAL;
    }
    return 0;
}

static void sio_chat_fini(void *state)
{
    struct sio_chat *st = state;

    if (st == NULL)
        return;
    gn_sio_redis_stop(st->redis);
    gn_sio_free(st->sio);
    free(st->js);
    free(st);
}

/* The browser client's path: client_js, else socket.io.min.js in the
 * folder this .so was loaded from (where scripts/sio-client-js puts it). */
static int client_js_path(const struct sio_chat *st, char *buf, size_t size)
{
    Dl_info info;
    char dir[4096];
    int n;

    if (st->client_js != NULL) {
        n = snprintf(buf, size, "%s", st->client_js);
    } else {
        if (dladdr(page, &info) == 0 || info.dli_fname == NULL ||
            strlen(info.dli_fname) >= sizeof(dir))
            return -ENOENT;
        strcpy(dir, info.dli_fname);
        n = snprintf(buf, size, "%s/socket.io.min.js", dirname(dir));
    }
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Reads the browser client once, so serving it never blocks a worker on
 * the disk. Absent is no error: the page then says how to get it. */
static int load_client_js(struct sio_chat *st)
{
    enum { MAX_JS = 4 << 20 }; /* socket.io.min.js 4.8 is about 50 KB */
    char path[4096];
    FILE *f;
    long len;
    int rc = client_js_path(st, path, sizeof(path));

    if (rc != 0)
        return rc;
    f = fopen(path, "re");
    if (f == NULL) {
        if (errno != ENOENT)
            return -errno;
        gn_log(GN_LOG_WARNING,
               "sio_chat: no browser client at %s (scripts/sio-client-js "
               "BUILD_DIR vendors it); the page says so",
               path);
        return 0;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || len > MAX_JS ||
        fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return -EFBIG;
    }
    st->js = malloc(len > 0 ? (size_t)len : 1);
    if (st->js == NULL) {
        fclose(f);
        return -ENOMEM;
    }
    st->js_len = fread(st->js, 1, (size_t)len, f);
    rc = ferror(f) || st->js_len != (size_t)len ? -EIO : 0;
    fclose(f);
    if (rc != 0) {
        free(st->js);
        st->js = NULL;
    }
    return rc;
}

static int register_handlers(struct sio_chat *st)
{
    static const char *const nsps[] = {"/", "/private"};

    for (size_t i = 0; i < 2; i++) {
        if (gn_sio_on(st->sio, nsps[i], "echo", on_echo, st) != 0 ||
            gn_sio_on(st->sio, nsps[i], "join", on_join, st) != 0 ||
            gn_sio_on(st->sio, nsps[i], "say", on_say, st) != 0 ||
            gn_sio_on(st->sio, nsps[i], "ask", on_ask, st) != 0)
            return -ENOMEM;
    }
    return gn_sio_on_connect(st->sio, "/private", on_private, st);
}

static int sio_chat_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct sio_chat *st = calloc(1, sizeof(*st));
    int err;

    if (st == NULL)
        return -ENOMEM;
    strcpy(st->host, "127.0.0.1");
    st->port = 6379;
    st->channel = "greenicorn:sio_chat";
    st->token = "secret";
    st->ask_timeout = 5000;
    for (size_t i = 0; i < nargs; i++) {
        if (parse_arg(st, &args[i]) != 0) {
            gn_log(GN_LOG_ERROR, "sio_chat: bad argument %s = '%s'",
                   args[i].name, args[i].value);
            free(st);
            return -EINVAL;
        }
    }
    err = load_client_js(st);
    if (err != 0) {
        gn_log(GN_LOG_ERROR, "sio_chat: cannot read the browser client: %s",
               strerror(-err));
        free(st);
        return err;
    }
    st->sio = gn_sio_new();
    if (st->sio == NULL) {
        err = errno;
        gn_log(GN_LOG_ERROR, "sio_chat: cannot make the server: %s",
               strerror(err));
        free(st->js);
        free(st);
        return -err;
    }
    if (register_handlers(st) != 0) {
        sio_chat_fini(st);
        return -ENOMEM;
    }
    if (st->port != 0) {
        st->redis = gn_sio_redis_start(
            st->sio, st->host, st->port < 0 ? 0 : st->port, st->channel);
        if (st->redis == NULL) {
            err = errno;
            gn_log(GN_LOG_ERROR, "sio_chat: cannot subscribe to %s: %s%s",
                   st->channel, strerror(err),
                   err == EAGAIN ? " (preload_app is not for this app: each "
                                   "worker subscribes in its init)"
                                 : "");
            sio_chat_fini(st);
            return -err;
        }
    }
    *state = st;
    return 0;
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,         .name = "sio_chat",
    .init = sio_chat_init, .handle = sio_chat_handle,
    .fini = sio_chat_fini,
};
