/*
 * Engine.IO 4's server: the settings the worker hands down, the servers
 * (one per app that speaks Socket.IO), and gn__eio_serve, which checks a
 * request as the reference server does (socketio/handshake.c's
 * gn__eio_check), answers the protocol's errors and routes the rest to a
 * transport: socketio/polling.c or socketio/transport.c. A sid names the
 * worker that holds its session (socketio/session.c): one held by another
 * process goes to the forwarder the worker set, if any.
 */
#include "socketio/eio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "net/buf.h"
#include "socketio/handshake.h"
#include "socketio/polling.h"
#include "socketio/session.h"
#include "socketio/transport.h"

static const struct gn_eio_settings defaults = {
    .path = "/socket.io/",
    .ping_interval_ms = 25000,
    .ping_timeout_ms = 20000,
    .max_payload = 1000000,
    .max_queue = 4000000,
    .allow_polling = 1,
    .allow_websocket = 1,
    .forward = NULL,
};
static const struct gn_eio_settings *settings = &defaults;

/* Every server of the process, for gn__eio_shutdown. */
static struct gn_eio_server *servers;

void gn__eio_setup(const struct gn_eio_settings *s)
{
    settings = s ? s : &defaults;
}

const struct gn_eio_settings *gn__eio_settings(void)
{
    return settings;
}

struct gn_eio_server *gn__eio_server_new(const struct gn_eio_handler *h,
                                         void *ctx)
{
    struct gn_eio_server *srv = calloc(1, sizeof(*srv));

    if (srv == NULL)
        return NULL;
    if (h != NULL)
        srv->h = *h;
    srv->ctx = ctx;
    srv->next = servers;
    if (servers)
        servers->prev = srv;
    servers = srv;
    return srv;
}

void gn__eio_server_free(struct gn_eio_server *srv)
{
    if (srv == NULL)
        return;
    gn__eio_close_all(srv, "server shutting down");
    if (srv->prev)
        srv->prev->next = srv->next;
    else
        servers = srv->next;
    if (srv->next)
        srv->next->prev = srv->prev;
    free(srv);
}

void gn__eio_shutdown(void)
{
    for (struct gn_eio_server *srv = servers; srv; srv = srv->next) {
        for (struct gn_eio_session *s = srv->sessions; s; s = s->next)
            s->dropped = true;
        gn__eio_close_all(srv, "server shutting down");
    }
}

/* ---- answers ---------------------------------------------------------- */

int gn__eio_answer_error(gn_response_t *res, int code)
{
    char storage[128];
    struct gn_buf b;

    gn__buf_init(&b, storage, sizeof(storage));
    gn_response_status(res, gn__eio_error_status((enum gn_eio_error)code),
                       NULL);
    gn_response_header(res, "Content-Type", "application/json");
    if (gn__eio_error_body(&b, (enum gn_eio_error)code, NULL) == 0)
        gn_response_write(res, b.data, b.len);
    gn__buf_free(&b);
    return 1;
}

int gn__eio_answer_error_plain(gn_response_t *res, int code)
{
    const char *msg = gn__eio_error_message((enum gn_eio_error)code);

    gn_response_status(res, 400, NULL);
    gn_response_header(res, "Content-Type", "text/plain; charset=UTF-8");
    gn_response_header(res, "Connection", "close");
    gn_response_write(res, msg, strlen(msg));
    return 1;
}

/* ---- routing ---------------------------------------------------------- */

/* Whether PATH is the engine's: the path setting ("/socket.io/") as a
 * prefix, or the same without its trailing slash. */
static bool on_path(const char *path)
{
    const char *mine = settings->path;
    size_t n = strlen(mine);

    if (strncmp(path, mine, n) == 0)
        return true;
    return n > 1 && mine[n - 1] == '/' && strlen(path) == n - 1 &&
           strncmp(path, mine, n - 1) == 0;
}

/* A query parameter into OUT[CAP]: *P set to OUT, or to NULL when absent.
 * 0, or -EINVAL (malformed or too long). */
static int param(const char *query, const char *name, char *out, size_t cap,
                 const char **p)
{
    long n = gn__eio_query_get(query, name, out, cap);

    *p = n >= 0 ? out : NULL;
    return n >= 0 || n == -ENOENT ? 0 : -EINVAL;
}

static bool allowed(const char *transport)
{
    if (transport == NULL)
        return false;
    if (strcmp(transport, "polling") == 0)
        return settings->allow_polling != 0;
    if (strcmp(transport, "websocket") == 0)
        return settings->allow_websocket != 0;
    return false;
}

static int refuse(gn_response_t *res, const struct gn_eio_request *r,
                  enum gn_eio_error code)
{
    /* Once per request; a sid unknown is routine (a worker restarted, a
     * session timed out) and left to the debug log. */
    if (code == GN_EIO_UNKNOWN_SID)
        gn_log_debug("Engine.IO request refused: %s (transport %s, sid %s)",
                     gn__eio_error_message(code),
                     r->transport ? r->transport : "-", r->sid);
    else
        gn_log_info("Engine.IO request refused: %s (transport %s, sid %s)",
                    gn__eio_error_message(code),
                    r->transport ? r->transport : "-", r->sid ? r->sid : "-");
    return r->ws_upgrade ? gn__eio_answer_error_plain(res, code)
                         : gn__eio_answer_error(res, code);
}

int gn__eio_serve(struct gn_eio_server *srv, gn_request_t *req,
                  gn_response_t *res)
{
    const char *query = gn_request_query(req);
    const char *method = gn_request_method(req);
    char eio[8], transport[16], sid[64];
    struct gn_eio_request r = {0};
    struct gn_eio_session *s = NULL;
    enum gn_eio_error code;

    if (!on_path(gn_request_path_info(req)))
        return 0;
    r.get = strcmp(method, "GET") == 0;
    r.ws_upgrade = gn_ws_is_upgrade(req) != 0;
    if (param(query, "EIO", eio, sizeof(eio), &r.eio) != 0 ||
        param(query, "transport", transport, sizeof(transport),
              &r.transport) != 0 ||
        param(query, "sid", sid, sizeof(sid), &r.sid) != 0)
        return refuse(res, &r, GN_EIO_BAD_REQUEST);
    if (r.transport != NULL && !allowed(r.transport))
        return refuse(res, &r, GN_EIO_UNKNOWN_TRANSPORT);
    if (r.sid != NULL) {
        pid_t owner = gn__eio_sid_owner(r.sid);

        if (owner > 0 && owner != getpid() && settings->forward != NULL &&
            allowed(r.transport))
            return settings->forward(r.sid, owner, req, res);
        s = owner == getpid() ? gn__eio_session_find(r.sid) : NULL;
        r.sid_known = s != NULL;
        if (s != NULL)
            r.session_transport =
                s->transport == GN_EIO_POLLING ? "polling" : "websocket";
    }
    if ((code = gn__eio_check(&r)) != GN_EIO_OK)
        return refuse(res, &r, code);
    if (s == NULL)
        return strcmp(r.transport, "polling") == 0
                   ? gn__eio_polling_open(srv, req, res)
                   : gn__eio_ws_open(srv, req, res);
    if (strcmp(r.transport, "websocket") == 0 || r.ws_upgrade)
        return r.ws_upgrade && strcmp(r.transport, "websocket") == 0 ? gn__eio_ws_upgrade(s, req, res)
                            : refuse(res, &r, GN_EIO_BAD_REQUEST);
    if (r.get)
        return gn__eio_polling_get(s, req, res);
    if (strcmp(method, "POST") == 0)
        return gn__eio_polling_post(s, req, res);
    return refuse(res, &r, GN_EIO_BAD_REQUEST);
}
