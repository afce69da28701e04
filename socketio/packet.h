/*
 * Socket.IO protocol 5's packets, as pure functions: the text head
 * ("<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]") decoded into a
 * type, a namespace, an ack id and the data as parsed JSON (jansson), and
 * encoded back. A packet is carried in an Engine.IO message; a binary one
 * (BINARY_EVENT, BINARY_ACK) is a text head whose JSON holds placeholders
 * ({"_placeholder":true,"num":N}) followed by N binary messages, its
 * attachments: binary.h puts them back in place and takes them out.
 *
 * The app sees parsed values, never packet text. Why jansson, of the three
 * JSON libraries of Debian 12 (bench/json/parse_dump.c has the figures):
 * it is the one that refuses what is not JSON (invalid UTF-8, surrogates,
 * NaN, trailing bytes) and never changes a value: integers are exact to 64
 * bits, and one past them is an error (which parse_json turns into reading
 * the packet as JavaScript does, every number a double) where json-c
 * writes 1e20 back as 18446744073709551615 and cJSON turns every number
 * into a double (2^53 + 1 comes back as 9.00719925474099e+15); it can
 * refuse duplicate keys (json-c keeps the last silently, cJSON both) and
 * keeps a NUL inside a string (cJSON cuts there). It costs more: a
 * typical event parsed and written back takes 4.3 us of CPU against 3.0
 * (json-c) and 1.7 (cJSON) on the shared bench machine; the transports'
 * bench (CPU per message against Node's server) will say whether that
 * matters. It was a build dependency already (contrib/apps).
 *
 * The protocol: https://github.com/socketio/socket.io-protocol (v5).
 */
#ifndef GN_SOCKETIO_PACKET_H
#define GN_SOCKETIO_PACKET_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/macros.h"
#include "net/buf.h"

enum gn_sio_type {
    GN_SIO_CONNECT = 0,       /* client: join a namespace (auth object);
                                 server: accepted ({"sid": ...}) */
    GN_SIO_DISCONNECT = 1,    /* leave a namespace; no data */
    GN_SIO_EVENT = 2,         /* [name, args...], an ack id if one is wanted */
    GN_SIO_ACK = 3,           /* [args...], the id of the event it answers */
    GN_SIO_CONNECT_ERROR = 4, /* server: refused ({"message": ...}) */
    GN_SIO_BINARY_EVENT = 5,  /* an event with attachments */
    GN_SIO_BINARY_ACK = 6,    /* an ack with attachments */
};

#define GN_SIO_NO_ID (-1) /* a packet without an ack id */

/* Bounds on what a client may send, checked while decoding. */
struct gn_sio_limits {
    unsigned max_attachments; /* the reference parser's default is 10 */
    unsigned max_depth;       /* JSON nesting: jansson recurses per level,
                                 on a coroutine's stack */
};

#define GN_SIO_LIMITS_DEFAULT ((struct gn_sio_limits){10, 32})

struct gn_sio_packet {
    enum gn_sio_type type;
    const char *nsp; /* the namespace, "/" when the head names none; not
                        NUL-terminated: see nsp_len */
    size_t nsp_len;
    int64_t id;           /* the ack id, or GN_SIO_NO_ID */
    unsigned attachments; /* binary packets: the binary messages to follow */
    json_t *data;         /* a reference the packet owns, or NULL (none) */
    /* A decoded binary packet: its placeholders by number (pointing into
     * data, malloc'd), and how many have been replaced by attachments. */
    json_t **slots;
    unsigned attached;
};

/* Decode the text packet P[0, N) (an Engine.IO message's text) into PKT.
 * The data is parsed and checked as the type requires: CONNECT an object
 * or nothing, DISCONNECT nothing, EVENT an array whose first element is
 * the name (a string, not one of the names the client library reserves,
 * or a number), ACK an array and an id, CONNECT_ERROR a string or an
 * object. A binary packet's placeholders are checked against its count
 * (each of 0 .. attachments - 1 exactly once, nowhere else in the data):
 * its attachments are then added with gn__sio_attach (binary.h). PKT's
 * namespace points into P; PKT->data is PKT's to release with
 * gn__sio_packet_clear. 0, or (PKT left empty, ERR saying why):
 *   -EPROTONOSUPPORT  an unknown packet type;
 *   -EBADMSG          a malformed head, JSON that does not parse, data of
 *                     the wrong kind for the type, a lying attachment count
 *                     or placeholder;
 *   -E2BIG            more attachments than LIM allows, or JSON nested
 *                     deeper than it allows;
 *   -ENOMEM. */
int gn__sio_decode(const char *p, size_t n, const struct gn_sio_limits *lim,
                   struct gn_sio_packet *pkt, char err[GN_ERR_LEN]);

/* Release PKT's data and leave it empty. */
void gn__sio_packet_clear(struct gn_sio_packet *pkt);

/* Append PKT's text form to OUT, its data dumped compactly with
 * placeholders as they are (binary.h's gn__sio_encode is the call that
 * takes binary values out first). A namespace other than "/" is written
 * with its comma, the attachment count for binary types. 0, -EINVAL (data
 * jansson cannot dump), or -ENOMEM. */
int gn__sio_encode_text(struct gn_buf *out, const struct gn_sio_packet *pkt);

#endif /* GN_SOCKETIO_PACKET_H */
