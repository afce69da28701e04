/*
 * Engine.IO 4 packets and long-polling payloads: see engine.h. Nothing here
 * allocates but the output buffer: decoding points into the caller's bytes
 * (base64 shrinks, so it is decoded where it lies).
 */
#include "socketio/engine.h"

#include <errno.h>
#include <string.h>

#include "socketio/base64.h"
#include "websocket/utf8.h"

int gn__eio_packet_decode(uint8_t *p, size_t n, struct gn_eio_packet *pkt)
{
    if (n == 0)
        return -EBADMSG;
    if (p[0] == GN_EIO_BINARY_PREFIX) {
        long len = gn__base64_decode((const char *)p + 1, n - 1, p + 1);

        if (len < 0)
            return -EBADMSG;
        *pkt = (struct gn_eio_packet){GN_EIO_MESSAGE, true, p + 1, (size_t)len};
        return 0;
    }
    if (p[0] < '0' || p[0] > '0' + GN_EIO_NOOP)
        return -EBADMSG;
    *pkt = (struct gn_eio_packet){(enum gn_eio_type)(p[0] - '0'), false, p + 1,
                                  n - 1};
    return 0;
}

void gn__eio_packet_binary(const uint8_t *p, size_t n,
                           struct gn_eio_packet *pkt)
{
    *pkt = (struct gn_eio_packet){GN_EIO_MESSAGE, true, p, n};
}

int gn__eio_payload_init(struct gn_eio_payload *it, uint8_t *p, size_t len,
                         size_t max_payload)
{
    *it = (struct gn_eio_payload){p, len, 0, false};
    if (len > max_payload) {
        it->done = true;
        return -EMSGSIZE;
    }
    if (gn__utf8_feed(GN_UTF8_ACCEPT, p, len) != GN_UTF8_ACCEPT) {
        it->done = true;
        return -EILSEQ;
    }
    return 0;
}

int gn__eio_payload_next(struct gn_eio_payload *it, struct gn_eio_packet *pkt)
{
    uint8_t *start, *end;
    int rc;

    if (it->done)
        return 0;
    /* Every separator starts one more packet, so "" is one empty (bad)
     * packet and "4a\x1e" ends with one: as the reference splits. */
    start = it->p + it->pos;
    end =
        it->pos < it->len ? memchr(start, GN_EIO_RS, it->len - it->pos) : NULL;
    if (end == NULL) {
        end = it->p + it->len;
        it->done = true;
    }
    it->pos = (size_t)(end - it->p) + 1;
    rc = gn__eio_packet_decode(start, (size_t)(end - start), pkt);
    if (rc < 0) {
        it->done = true;
        return rc;
    }
    return 1;
}

/* Append P[0, N) in base64 to OUT, a chunk at a time through the stack. */
static int append_base64(struct gn_buf *out, const uint8_t *p, size_t n)
{
    char chunk[1024]; /* the base64 of 768 bytes */

    for (size_t i = 0; i < n; i += 768) {
        size_t k = n - i < 768 ? n - i : 768;

        if (gn__buf_append(out, chunk, gn__base64_encode(p + i, k, chunk)) < 0)
            return out->err;
    }
    return 0;
}

int gn__eio_payload_add(struct gn_buf *out, const struct gn_eio_packet *pkt)
{
    char digit = (char)('0' + pkt->type);

    if (!pkt->binary && pkt->len && memchr(pkt->data, GN_EIO_RS, pkt->len))
        return -EINVAL;
    if (out->len && gn__buf_append(out, "\x1e", 1) < 0)
        return out->err;
    if (!pkt->binary)
        return gn__buf_append(out, &digit, 1) < 0 ||
                       gn__buf_append(out, pkt->data, pkt->len) < 0
                   ? out->err
                   : 0;
    if (gn__buf_append(out, "b", 1) < 0)
        return out->err;
    return append_base64(out, pkt->data, pkt->len);
}

int gn__eio_ws_frame(struct gn_buf *out, const struct gn_eio_packet *pkt)
{
    char digit = (char)('0' + pkt->type);

    if (pkt->binary)
        return gn__buf_append(out, pkt->data, pkt->len) < 0 ? out->err : 1;
    if (gn__buf_append(out, &digit, 1) < 0 ||
        gn__buf_append(out, pkt->data, pkt->len) < 0)
        return out->err;
    return 0;
}
