/*
 * Fuzz target: Engine.IO's long-polling payload decoder and the packet
 * decoder under it (socketio/engine.c, socketio/base64.c), on arbitrary
 * bytes from a client's POST body. Beside memory safety it checks that
 * every packet's data lies inside the payload, that a payload past
 * maxPayload or not UTF-8 yields no packet, and that the packets read,
 * written back as a payload (gn__eio_payload_add) and read again, are the
 * same packets; each also goes through the WebSocket frame encoder and
 * back through the packet decoder (text) unchanged.
 *
 * The first input byte picks maxPayload (so that the limit is hit), the
 * rest is the payload.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socketio/engine.h"

#define MAX_PACKETS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
    struct gn_eio_packet pkt[MAX_PACKETS];
    size_t n;
    int last; /* the last rc of gn__eio_payload_next, or init's error */
};

/* Read the payload P[0, N) (modified in place) into S. */
static void read_all(uint8_t *p, size_t n, size_t max, struct seen *s)
{
    struct gn_eio_payload it;
    struct gn_eio_packet pkt;
    int rc = gn__eio_payload_init(&it, p, n, max);

    s->n = 0;
    s->last = rc;
    if (rc < 0) {
        if (gn__eio_payload_next(&it, &pkt) != 0)
            abort(); /* a refused payload yields nothing */
        return;
    }
    while ((rc = gn__eio_payload_next(&it, &pkt)) == 1) {
        if (pkt.data < p || pkt.data + pkt.len > p + n)
            abort(); /* data outside the payload */
        if (pkt.type > GN_EIO_NOOP ||
            (pkt.binary && pkt.type != GN_EIO_MESSAGE))
            abort();
        if (s->n < MAX_PACKETS)
            s->pkt[s->n++] = pkt;
    }
    s->last = rc;
    if (gn__eio_payload_next(&it, &pkt) != 0)
        abort(); /* done stays done */
}

static int same(const struct gn_eio_packet *a, const struct gn_eio_packet *b)
{
    return a->type == b->type && a->binary == b->binary && a->len == b->len &&
           (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* Each packet as a WebSocket frame, and a text one decoded back. */
static void check_ws(const struct gn_eio_packet *pkt)
{
    struct gn_buf b;
    struct gn_eio_packet back;
    int rc;

    gn__buf_init(&b, NULL, 0);
    rc = gn__eio_ws_frame(&b, pkt);
    if (rc != (pkt->binary ? 1 : 0))
        abort();
    if (rc == 0 &&
        (gn__eio_packet_decode((uint8_t *)b.data, b.len, &back) != 0 ||
         !same(pkt, &back)))
        abort();
    gn__buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct seen first, again;
    size_t max = size ? (size_t)data[0] * 16 : 0;
    uint8_t *p = malloc(size ? size : 1);
    struct gn_buf b;

    if (p == NULL)
        abort();
    if (size)
        memcpy(p, data + 1, size - 1);
    read_all(p, size ? size - 1 : 0, max, &first);
    if (first.n >= MAX_PACKETS) {
        free(p);
        return 0;
    }
    gn__buf_init(&b, NULL, 0);
    for (size_t i = 0; i < first.n; i++) {
        check_ws(&first.pkt[i]);
        if (gn__eio_payload_add(&b, &first.pkt[i]) != 0)
            abort(); /* no RS can be in what was split at RS */
    }
    if (first.n > 0) {
        read_all((uint8_t *)b.data, b.len, b.len, &again);
        if (again.n != first.n || again.last != 0)
            abort();
        for (size_t i = 0; i < first.n; i++)
            if (!same(&first.pkt[i], &again.pkt[i]))
                abort(); /* written back, read differently */
    }
    gn__buf_free(&b);
    free(p);
    return 0;
}
