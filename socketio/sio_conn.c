/*
 * One Engine.IO session as Socket.IO sees it: the packets of its
 * messages decoded, a binary packet's head kept until its attachments
 * (the binary messages after it) have all come, each complete packet
 * handed to its namespace's socket by type, and protocol errors: a
 * packet that does not decode, a binary message nobody announced, a text
 * packet while attachments are due (the placeholder count lied) close
 * the session ("parse error"), logged once, as the reference server
 * does.
 */
#include "socketio/sio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "socketio/binary.h"

void gn__sio_conn_ref(struct gn_sio_conn *c)
{
    c->refs++;
}

void gn__sio_conn_unref(struct gn_sio_conn *c)
{
    if (--c->refs > 0)
        return;
    if (c->has_partial)
        gn__sio_packet_clear(&c->partial);
    free(c->partial_nsp);
    free(c);
}

void gn__sio_conn_fail(struct gn_sio_conn *c, const char *err)
{
    if (c->session == NULL)
        return;
    gn__log_write(GN_LOG_INFO, "socketio: session %s: %s: closed",
                  c->sio->engine->sid(c->session), err);
    /* The engine calls gn__sio_closed back: C is held by our caller. */
    c->sio->engine->close(c->session, "parse error");
}

static void dispatch(struct gn_sio_conn *c, struct gn_sio_packet *pkt)
{
    struct sio_nsp *ns;
    struct gn_sio_socket *s;

    if (pkt->type == GN_SIO_CONNECT) {
        gn__sio_on_connect(c, pkt);
        return;
    }
    if (pkt->type == GN_SIO_CONNECT_ERROR) {
        gn__sio_conn_fail(c, "CONNECT_ERROR from a client");
        return;
    }
    ns = gn__sio_nsp_find(c->sio, pkt->nsp, pkt->nsp_len);
    s = ns != NULL ? gn__sio_conn_socket(c, ns) : NULL;
    if (s == NULL || s->state != SIO_CONNECTED)
        return; /* not connected there: ignored, as the reference does */
    switch (pkt->type) {
    case GN_SIO_DISCONNECT:
        gn__sio_socket_gone(s, "client namespace disconnect");
        break;
    case GN_SIO_EVENT:
    case GN_SIO_BINARY_EVENT: gn__sio_on_event(s, pkt); break;
    case GN_SIO_ACK:
    case GN_SIO_BINARY_ACK: gn__sio_on_ack(s, pkt); break;
    default: break;
    }
}

/* A binary message: the next attachment of the packet waiting. */
static void on_binary(struct gn_sio_conn *c, const struct gn_eio_packet *pkt)
{
    struct gn_sio_packet p;
    int rc;

    if (!c->has_partial) {
        gn__sio_conn_fail(c, "a binary message no packet announced");
        return;
    }
    rc = gn__sio_attach(&c->partial, pkt->data, pkt->len);
    if (rc < 0) {
        gn__sio_conn_fail(c, rc == -ENOMEM ? "out of memory"
                                           : "an attachment too many");
        return;
    }
    if (rc == 0)
        return;
    p = c->partial;
    memset(&c->partial, 0, sizeof(c->partial));
    c->has_partial = false;
    dispatch(c, &p);
    gn__sio_packet_clear(&p);
}

static void on_text(struct gn_sio_conn *c, const struct gn_eio_packet *pkt)
{
    struct gn_sio_packet p;
    char err[GN_ERR_LEN];

    if (c->has_partial) {
        gn__sio_conn_fail(c, "a text packet while attachments were due");
        return;
    }
    if (gn__sio_decode((const char *)pkt->data, pkt->len, &c->sio->limits, &p,
                       err) != 0) {
        gn__sio_conn_fail(c, err);
        return;
    }
    if (!gn__sio_incomplete(&p)) {
        dispatch(c, &p);
        gn__sio_packet_clear(&p);
        return;
    }
    /* Its namespace points into the message, gone after this call. */
    free(c->partial_nsp);
    c->partial_nsp = malloc(p.nsp_len + 1);
    if (c->partial_nsp == NULL) {
        gn__sio_packet_clear(&p);
        gn__sio_conn_fail(c, "out of memory");
        return;
    }
    memcpy(c->partial_nsp, p.nsp, p.nsp_len);
    c->partial_nsp[p.nsp_len] = '\0';
    p.nsp = c->partial_nsp;
    c->partial = p;
    c->has_partial = true;
}

void gn__sio_message(struct gn_sio_conn *c, const struct gn_eio_packet *pkt)
{
    if (c->session == NULL)
        return;
    gn__sio_conn_ref(c); /* a protocol error closes (and frees) C */
    if (pkt->binary)
        on_binary(c, pkt);
    else
        on_text(c, pkt);
    gn__sio_conn_unref(c);
}
