/*
 * Engine.IO protocol 4's packets, as pure functions over bytes: the codec
 * the transports (long-polling and WebSocket, next) are built on. A packet
 * is a type digit and its data; over long-polling several are joined into
 * one payload by the record separator (0x1e), a binary message written as
 * 'b' and its bytes in base64; over WebSocket each packet is one frame, a
 * text frame holding the digit and the data, a binary frame a binary
 * message's bytes as they are.
 *
 * The protocol: https://github.com/socketio/engine.io-protocol (v4).
 */
#ifndef GN_SOCKETIO_ENGINE_H
#define GN_SOCKETIO_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/buf.h"

enum gn_eio_type {
    GN_EIO_OPEN = 0,    /* server -> client: the handshake's JSON */
    GN_EIO_CLOSE = 1,   /* either way: the session ends */
    GN_EIO_PING = 2,    /* server -> client ("probe" from the client on an
                           upgrade's WebSocket) */
    GN_EIO_PONG = 3,    /* client -> server: the answer to a ping */
    GN_EIO_MESSAGE = 4, /* either way: the data (a Socket.IO packet) */
    GN_EIO_UPGRADE = 5, /* client -> server: the upgrade is complete */
    GN_EIO_NOOP = 6,    /* server -> client: ends a pending poll */
};

#define GN_EIO_RS 0x1e /* the record separator between polling packets */

#define GN_EIO_BINARY_PREFIX 'b' /* a binary packet in a polling payload */

struct gn_eio_packet {
    enum gn_eio_type type;
    bool binary;         /* a message whose data is bytes, not text */
    const uint8_t *data; /* borrowed: see each call */
    size_t len;
};

/* Decode one packet's text form P[0, N): a WebSocket text frame, or one
 * packet of a polling payload. "b..." is a binary message whose base64 is
 * decoded in place, into P (which is why P is not const); else the first
 * byte is the type digit and the rest is the data (text, not checked
 * here). PKT's data points into P. 0, or -EBADMSG (empty, unknown type,
 * bad base64); PKT is then unset. */
int gn__eio_packet_decode(uint8_t *p, size_t n, struct gn_eio_packet *pkt);

/* A WebSocket binary frame P[0, N) as the binary message it is. */
void gn__eio_packet_binary(const uint8_t *p, size_t n,
                           struct gn_eio_packet *pkt);

/* Reading a long-polling payload (a POST body) packet by packet. */
struct gn_eio_payload {
    uint8_t *p;
    size_t len, pos;
    bool done;
};

/* Start reading the payload P[0, LEN), at most MAX_PAYLOAD bytes (the
 * maxPayload of the handshake). 0; -EMSGSIZE past MAX_PAYLOAD (the
 * reference server answers 413); -EILSEQ when it is not UTF-8 (a payload
 * is text: binary packets are base64 in it). IT borrows P, which
 * gn__eio_payload_next writes into (base64 decoded in place). */
int gn__eio_payload_init(struct gn_eio_payload *it, uint8_t *p, size_t len,
                         size_t max_payload);

/* The next packet of IT into PKT, its data pointing into the payload.
 * 1 with a packet, 0 after the last one, -EBADMSG on a malformed packet
 * (an empty one included: "" or two separators in a row), after which
 * the payload is done: the packets before it stand, the session is to be
 * closed ("parse error"), as the reference server does. */
int gn__eio_payload_next(struct gn_eio_payload *it, struct gn_eio_packet *pkt);

/* Append PKT to a polling payload being built in OUT: a separator first
 * unless OUT is empty, then the type digit and the data, or a binary
 * message as 'b' and base64. 0, or -ENOMEM (OUT->err set). A text packet's
 * data must hold no 0x1e (the protocol assumes it does not: JSON never
 * holds a raw control character, and Socket.IO's packets are JSON);
 * -EINVAL if it does. */
int gn__eio_payload_add(struct gn_buf *out, const struct gn_eio_packet *pkt);

/* PKT as the payload of one WebSocket frame, appended to OUT: a text
 * packet as the type digit and the data, a binary message as its bytes
 * alone. 1 when the frame is to be binary, 0 when text, or -ENOMEM. */
int gn__eio_ws_frame(struct gn_buf *out, const struct gn_eio_packet *pkt);

#endif /* GN_SOCKETIO_ENGINE_H */
