/*
 * The Socket.IO layer bound to the worker's Engine.IO server
 * (socketio/eio.h): gn_sio_new makes both, the engine's handler table
 * turns sessions into the layer's conns, and gn_sio_handle hands the
 * Socket.IO path's requests to the engine. The layer's unit tests use a
 * fake engine instead of this file's.
 */
#include "socketio/sio.h"

#include <errno.h>

#include "socketio/eio.h"

static int eio_send(void *session, const struct gn_eio_packet *pkts, size_t n)
{
    return gn__eio_send(session, pkts, n);
}

static void eio_close(void *session, const char *reason)
{
    gn__eio_close(session, reason);
}

static const char *eio_sid(void *session)
{
    return gn__eio_sid(session);
}

static const struct gn_sio_engine engine = {eio_send, eio_close, eio_sid};

static void on_open(struct gn_eio_session *s, void *ctx)
{
    struct gn_sio_conn *c = gn__sio_open(ctx, s);

    if (c == NULL) {
        gn__eio_close(s, "server error");
        return;
    }
    gn__eio_set_data(s, c);
}

static void on_message(struct gn_eio_session *s,
                       const struct gn_eio_packet *pkt, void *ctx)
{
    struct gn_sio_conn *c = gn__eio_data(s);

    (void)ctx;
    if (c != NULL)
        gn__sio_message(c, pkt);
}

static void on_close(struct gn_eio_session *s, const char *reason, void *ctx)
{
    struct gn_sio_conn *c = gn__eio_data(s);

    (void)ctx;
    if (c != NULL) {
        gn__eio_set_data(s, NULL);
        gn__sio_closed(c, reason);
    }
}

static const struct gn_eio_handler handler = {on_open, on_message, on_close};

GN_API gn_sio_t *gn_sio_new(void)
{
    gn_sio_t *sio = gn__sio_server_new(&engine);

    if (sio == NULL)
        return NULL;
    sio->eio = gn__eio_server_new(&handler, sio);
    if (sio->eio == NULL) {
        int err = errno;

        gn__sio_server_free(sio);
        errno = err;
        return NULL;
    }
    return sio;
}

GN_API void gn_sio_free(gn_sio_t *sio)
{
    if (sio == NULL)
        return;
    /* The engine closes its sessions, and each close reaches the layer,
     * which runs no handler any more. */
    sio->freeing = true;
    gn__eio_server_free(sio->eio);
    gn__sio_server_free(sio);
}

GN_API int gn_sio_handle(gn_sio_t *sio, gn_request_t *req, gn_response_t *res)
{
    return gn__eio_serve(sio->eio, req, res);
}
