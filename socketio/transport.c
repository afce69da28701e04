/*
 * Engine.IO over WebSocket: see transport.h. The request's coroutine
 * reads the frames (gn_ws_recv) for the session's whole life; packets the
 * session sends go straight out with gn_ws_send and no timeout, which
 * queues what the socket does not take (up to websocket_max_queue) and so
 * never waits.
 *
 * The upgrade, as the protocol has it: the client opens a WebSocket with
 * the polling session's sid and sends PING "probe"; we answer PONG
 * "probe" and end the pending GET with a NOOP (the client then pauses
 * polling); the client sends UPGRADE and from then on the session's
 * packets go over the WebSocket, starting with whatever the polling queue
 * still holds, so nothing is lost or sent twice. Until the UPGRADE the
 * session stays on polling: a probe that fails leaves it there.
 */
#include "socketio/transport.h"

#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "net/buf.h"
#include "socketio/engine.h"
#include "socketio/handshake.h"
#include "socketio/session.h"

/* The probe's wait for each of its two packets (the reference server's
 * upgradeTimeout). */
#define UPGRADE_MS 10000

static int send_packet(gn_ws_t *ws, const struct gn_eio_packet *p)
{
    char storage[512];
    struct gn_buf b;
    int rc;

    if (p->binary)
        return gn_ws_send(ws, GN_WS_BINARY, p->data, p->len, 0);
    gn__buf_init(&b, storage, sizeof(storage));
    rc = gn__eio_ws_frame(&b, p);
    if (rc == 0)
        rc = gn_ws_send(ws, GN_WS_TEXT, b.data, b.len, 0);
    gn__buf_free(&b);
    return rc;
}

int gn__eio_ws_send(struct gn_eio_session *s, const struct gn_eio_packet *pkts,
                    size_t n)
{
    int rc = 0;

    if (s->ws == NULL)
        return -EPIPE;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = send_packet(s->ws, &pkts[i]);
    if (rc == -ENOBUFS || rc == -ETIMEDOUT) {
        gn__eio_close(s, "forced close");
        return -ENOBUFS;
    }
    return rc;
}

void gn__eio_ws_close(struct gn_eio_session *s)
{
    static const struct gn_eio_packet close_pkt = {GN_EIO_CLOSE, false,
                                                   (const uint8_t *)"", 0};
    gn_ws_t *ws = s->ws ? s->ws : s->probe;

    if (ws == NULL)
        return;
    /* The worker stopping drops the session untold: see gn__eio_shutdown. */
    if (s->dropped) {
        gn_ws_close(ws, 1001, NULL, 0);
        return;
    }
    send_packet(ws, &close_pkt);
    gn_ws_close(ws, 1000, NULL, 0);
}

/* The next packet on WS into PKT, waiting up to TIMEOUT seconds: 0, or a
 * negative errno (-EBADMSG: a malformed one; -EMSGSIZE: past
 * maxPayload). */
static int next_packet(gn_ws_t *ws, struct gn_eio_packet *pkt, double timeout)
{
    const void *data;
    size_t len;
    int type, rc;

    rc = gn_ws_recv(ws, &type, &data, &len, timeout);
    if (rc < 0)
        return rc;
    if (len > gn__eio_settings()->max_payload)
        return -EMSGSIZE; /* maxPayload holds for a frame too */
    if (type == GN_WS_BINARY) {
        gn__eio_packet_binary(data, len, pkt);
        return 0;
    }
    /* The message lies in the WebSocket's own buffer until the next
     * receive: decoding base64 in place there is safe. */
    return gn__eio_packet_decode((uint8_t *)data, len, pkt);
}

/* Serve S over its WebSocket until either ends. */
static void serve(struct gn_eio_session *s)
{
    struct gn_eio_packet pkt;
    int rc;

    while (!s->closed) {
        rc = next_packet(s->ws, &pkt, -1);
        if (rc == -EBADMSG) {
            gn__eio_close(s, "parse error");
            break;
        }
        if (rc == -EMSGSIZE) {
            gn_ws_close(s->ws, 1009, NULL, 0); /* no CLOSE packet: 1009 */
            gn__eio_close(s, "transport error");
            break;
        }
        if (rc < 0) {
            gn__eio_close(s, rc == -EPIPE ? "transport close"
                                          : "transport error");
            break;
        }
        gn__eio_session_deliver(s, &pkt);
    }
    s->ws = NULL; /* freed when the handler returns */
}

int gn__eio_ws_open(struct gn_eio_server *srv, gn_request_t *req,
                    gn_response_t *res)
{
    const struct gn_eio_settings *set = gn__eio_settings();
    struct gn_eio_session *s;
    gn_ws_t *ws = gn_ws_accept(req, res, NULL);
    char storage[256];
    struct gn_buf b;
    int rc;

    if (ws == NULL)
        return 1; /* answered, or the client is gone */
    s = gn__eio_session_new(srv, GN_EIO_WEBSOCKET);
    s->ws = ws;
    gn__eio_session_hold(s);
    struct gn_eio_open o = {
        .sid = s->sid,
        .upgrade_websocket = false,
        .ping_interval = (unsigned)set->ping_interval_ms,
        .ping_timeout = (unsigned)set->ping_timeout_ms,
        .max_payload = (size_t)set->max_payload,
    };
    gn__buf_init(&b, storage, sizeof(storage));
    gn__buf_append(&b, "0", 1);
    rc = gn__eio_open_json(&b, &o);
    if (rc == 0 && b.err == 0)
        rc = gn_ws_send(ws, GN_WS_TEXT, b.data, b.len, 0);
    gn__buf_free(&b);
    if (rc < 0)
        gn__eio_close(s, "transport error");
    else if (srv->h.open)
        srv->h.open(s, srv->ctx);
    serve(s);
    gn__eio_session_release(s);
    return 1;
}

static bool is_text(const struct gn_eio_packet *p, enum gn_eio_type type,
                    const char *data)
{
    size_t n = strlen(data);

    return !p->binary && p->type == type && p->len == n &&
           memcmp(p->data, data, n) == 0;
}

/* The probe on WS for S: 0 once the client sent UPGRADE, else an error
 * (the upgrade failed; S stays on polling). */
static int probe(struct gn_eio_session *s, gn_ws_t *ws)
{
    static const struct gn_eio_packet pong = {GN_EIO_PONG, false,
                                              (const uint8_t *)"probe", 5};
    struct gn_eio_packet pkt;
    int rc;

    rc = next_packet(ws, &pkt, UPGRADE_MS / 1000.0);
    if (rc < 0 || s->closed)
        return rc < 0 ? rc : -EPIPE;
    if (!is_text(&pkt, GN_EIO_PING, "probe"))
        return -EBADMSG;
    if ((rc = send_packet(ws, &pong)) < 0)
        return rc;
    s->upgrading = true;
    gn__eio_session_wake(s); /* the pending GET answers NOOP */
    rc = next_packet(ws, &pkt, UPGRADE_MS / 1000.0);
    if (rc < 0 || s->closed)
        return rc < 0 ? rc : -EPIPE;
    return is_text(&pkt, GN_EIO_UPGRADE, "") ? 0 : -EBADMSG;
}

int gn__eio_ws_upgrade(struct gn_eio_session *s, gn_request_t *req,
                       gn_response_t *res)
{
    gn_ws_t *ws;
    int rc;

    if (s->probe != NULL || s->transport != GN_EIO_POLLING || s->upgrading) {
        gn__eio_answer_error_plain(res, GN_EIO_BAD_REQUEST);
        return 1;
    }
    if ((ws = gn_ws_accept(req, res, NULL)) == NULL)
        return 1;
    gn__eio_session_hold(s);
    s->probe = ws;
    rc = probe(s, ws);
    s->probe = NULL;
    if (rc < 0 || s->closed) {
        gn_log_debug("Engine.IO session %s: upgrade failed (%s)", s->sid,
                     strerror(-rc));
        s->upgrading = false;
        if (!s->closed)
            gn_ws_close(ws, 1000, NULL, 0);
        gn__eio_session_release(s);
        return 1;
    }
    /* The switch: what polling still holds goes first, in order. */
    s->ws = ws;
    s->transport = GN_EIO_WEBSOCKET;
    s->upgrading = false;
    gn__eio_session_flush_ws(s);
    gn__eio_session_wake(s); /* a GET still parked answers NOOP */
    serve(s);
    gn__eio_session_release(s);
    return 1;
}
