/*
 * Binary values in Socket.IO packets. jansson has no binary type, so a
 * binary value in a JSON tree is an object whose only key is
 * GN_SIO_BINARY_KEY (not UTF-8, so no parsed text and no json_object_set
 * can make one) holding the bytes as a string of exact length. On the wire
 * each is a placeholder {"_placeholder":true,"num":N} in the packet's JSON
 * and the N-th binary message after it: decoding checks the placeholders
 * against the count and puts the attachments in their place
 * (gn__sio_attach), so the app finds its bytes where the sender put them;
 * encoding takes them out again (gn__sio_encode).
 */
#ifndef GN_SOCKETIO_BINARY_H
#define GN_SOCKETIO_BINARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/macros.h"
#include "net/buf.h"
#include "socketio/packet.h"

#define GN_SIO_BINARY_KEY                                                      \
    "\xff"                                                                     \
    "bin"
#define GN_SIO_BINARY_KEY_LEN 4

/* Trees deeper than this are refused by gn__sio_encode, which walks them
 * recursively. */
#define GN_SIO_ENCODE_DEPTH 64

/* A new binary value holding a copy of P[0, N): a reference the caller
 * owns, or NULL (out of memory). */
json_t *gn__sio_binary_new(const void *p, size_t n);

/* Whether V is a binary value; if so *P, *N are its bytes (valid while V
 * lives and is not changed). */
bool gn__sio_binary_get(const json_t *v, const uint8_t **p, size_t *n);

/* For gn__sio_decode (packet.h): check a decoded binary packet's
 * placeholders against its count and note where each is. 0, -EBADMSG
 * (ERR says which lies), or -ENOMEM. Other packets: 0, untouched. */
int gn__sio_placeholders(struct gn_sio_packet *pkt, char err[GN_ERR_LEN]);

/* Add the next attachment of the decoded binary packet PKT: the binary
 * message P[0, N) replaces the placeholder of its number (the first
 * attachment after the head is number 0). 1 when PKT is complete, 0 when
 * more are due, -EBADMSG when none was (a text packet, or a binary one
 * already complete), -ENOMEM. A text message while attachments are due
 * is the caller's to refuse (the reference decoder throws). */
int gn__sio_attach(struct gn_sio_packet *pkt, const void *p, size_t n);

/* Whether PKT is waiting for attachments. */
static inline bool gn__sio_incomplete(const struct gn_sio_packet *pkt)
{
    return pkt->attached < pkt->attachments;
}

/* One attachment of an encoded packet: bytes of a binary value. */
struct gn_sio_attachment {
    const uint8_t *p;
    size_t n;
};

/* Append PKT's head to OUT with its binary values taken out: each becomes
 * a placeholder numbered in the order the JSON is written, and ATT[k] the
 * bytes of number k (pointing into PKT->data: valid while it lives), *NATT
 * of them, at most MAX. An EVENT or ACK that holds any goes as a
 * BINARY_EVENT or BINARY_ACK; PKT itself is not changed. 0, -E2BIG (more
 * than MAX, or data nested deeper than GN_SIO_ENCODE_DEPTH), -EINVAL (a
 * binary value in a packet of another type, or beside one an object of
 * the placeholder's shape, which the client would take for one), or
 * -ENOMEM. */
int gn__sio_encode(struct gn_buf *out, const struct gn_sio_packet *pkt,
                   struct gn_sio_attachment *att, unsigned max, unsigned *natt);

#endif /* GN_SOCKETIO_BINARY_H */
