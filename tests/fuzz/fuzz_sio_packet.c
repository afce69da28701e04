/*
 * Fuzz target: the Socket.IO packet decoder and the binary packets' parts
 * (socketio/packet.c, socketio/binary.c), on a client's text packet and
 * the binary messages after it. Beside memory safety (and leaks: every
 * packet is released, complete or not) it checks that a refused packet is
 * left empty with a reason, that a decoded packet written back
 * (gn__sio_encode_text) decodes to the same packet, and that a binary
 * packet, once its attachments are in place, taken apart again
 * (gn__sio_encode) and put together again, holds the same tree.
 *
 * Input: byte 0 picks the limits (attachments 0-15, depth 1-16), bytes
 * 1-2 the text's length (big-endian), then the text, then attachments,
 * each a length byte and that many bytes.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socketio/binary.h"
#include "socketio/packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct gn_sio_limits lim;

/* Decode P[0, N) into a copy of exactly N bytes (so ASan sees a read
 * past them). */
static int decode(const uint8_t *p, size_t n, struct gn_sio_packet *pkt,
                  char *buf)
{
    char err[GN_ERR_LEN] = "";
    int rc;

    memcpy(buf, p, n);
    rc = gn__sio_decode(buf, n, &lim, pkt, err);
    if (rc < 0 && (err[0] == '\0' || pkt->data != NULL || pkt->slots != NULL))
        abort(); /* refused without a reason, or not left empty */
    if (rc == 0 && (pkt->nsp_len == 0 || pkt->nsp[0] != '/'))
        abort();
    return rc;
}

static int same_head(const struct gn_sio_packet *a,
                     const struct gn_sio_packet *b)
{
    return a->type == b->type && a->id == b->id &&
           a->attachments == b->attachments && a->nsp_len == b->nsp_len &&
           memcmp(a->nsp, b->nsp, a->nsp_len) == 0;
}

/* PKT (with its placeholders) written back decodes to the same. */
static void check_text_roundtrip(const struct gn_sio_packet *pkt)
{
    struct gn_sio_packet back;
    struct gn_buf b;
    char *buf;

    gn__buf_init(&b, NULL, 0);
    if (gn__sio_encode_text(&b, pkt) != 0)
        abort();
    buf = malloc(b.len ? b.len : 1);
    if (buf == NULL || decode((const uint8_t *)b.data, b.len, &back, buf) != 0)
        abort();
    if (!same_head(pkt, &back) ||
        (pkt->data ? !json_equal(pkt->data, back.data) : back.data != NULL))
        abort();
    gn__sio_packet_clear(&back);
    free(buf);
    gn__buf_free(&b);
}

/* A complete binary packet taken apart and put together again. */
static void check_binary_roundtrip(const struct gn_sio_packet *pkt)
{
    struct gn_sio_attachment att[16];
    struct gn_sio_packet back;
    unsigned natt;
    struct gn_buf b;
    char *buf;

    gn__buf_init(&b, NULL, 0);
    if (gn__sio_encode(&b, pkt, att, 16, &natt) != 0 ||
        natt != pkt->attachments)
        abort();
    buf = malloc(b.len ? b.len : 1);
    if (buf == NULL || decode((const uint8_t *)b.data, b.len, &back, buf) != 0)
        abort();
    for (unsigned i = 0; i < natt; i++)
        if (gn__sio_attach(&back, att[i].p, att[i].n) != (i + 1 == natt))
            abort();
    if (natt != back.attachments || !json_equal(pkt->data, back.data))
        abort();
    gn__sio_packet_clear(&back);
    free(buf);
    gn__buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gn_sio_packet pkt;
    size_t n, pos;
    char *buf;
    int rc;

    if (size < 3)
        return 0;
    lim = (struct gn_sio_limits){data[0] & 15, 1 + (data[0] >> 4)};
    n = (size_t)data[1] << 8 | data[2];
    if (n > size - 3)
        n = size - 3;
    if ((buf = malloc(n ? n : 1)) == NULL)
        abort();
    rc = decode(data + 3, n, &pkt, buf);
    if (rc < 0) {
        free(buf);
        return 0;
    }
    check_text_roundtrip(&pkt);
    for (pos = 3 + n; gn__sio_incomplete(&pkt) && pos < size;) {
        size_t k = data[pos++];

        if (k > size - pos)
            k = size - pos;
        rc = gn__sio_attach(&pkt, data + pos, k);
        pos += k;
        if (rc < 0 || (rc == 1) == gn__sio_incomplete(&pkt))
            abort();
    }
    if (!gn__sio_incomplete(&pkt) && gn__sio_attach(&pkt, "x", 1) != -EBADMSG)
        abort(); /* nothing more is due */
    if (!gn__sio_incomplete(&pkt) &&
        (pkt.type == GN_SIO_BINARY_EVENT || pkt.type == GN_SIO_BINARY_ACK) &&
        pkt.attachments > 0)
        check_binary_roundtrip(&pkt);
    gn__sio_packet_clear(&pkt);
    free(buf);
    return 0;
}
