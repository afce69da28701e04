/*
 * What an Engine.IO 4 server answers before and around its packets: the
 * open packet's JSON, the check of a request's query (protocol version,
 * transport, session id, method) and the error answers of the protocol,
 * as the reference server (engine.io's lib/server.ts) gives them: an HTTP
 * status (403 for FORBIDDEN, else 400) and a JSON body
 * {"code":N,"message":"..."}; a refused WebSocket handshake gets a 400
 * with the message as plain text.
 */
#ifndef GN_SOCKETIO_HANDSHAKE_H
#define GN_SOCKETIO_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "net/buf.h"

/* The protocol's error codes, as clients read them from the body. */
enum gn_eio_error {
    GN_EIO_OK = -1,                  /* no error: serve the request */
    GN_EIO_UNKNOWN_TRANSPORT = 0,    /* "Transport unknown" */
    GN_EIO_UNKNOWN_SID = 1,          /* "Session ID unknown": none, or closed */
    GN_EIO_BAD_HANDSHAKE_METHOD = 2, /* "Bad handshake method": not GET */
    GN_EIO_BAD_REQUEST = 3,          /* "Bad request" */
    GN_EIO_FORBIDDEN = 4,            /* "Forbidden": the app refused it */
    GN_EIO_UNSUPPORTED_PROTOCOL_VERSION = 5, /* EIO other than 4 */
};

/* The message of CODE, or NULL for a code the protocol does not have. */
const char *gn__eio_error_message(enum gn_eio_error code);

/* The HTTP status for CODE: 403 for GN_EIO_FORBIDDEN, else 400. */
int gn__eio_error_status(enum gn_eio_error code);

/* Append the JSON body of an error answer to OUT:
 * {"code":CODE,"message":MESSAGE}, MESSAGE being CODE's own when NULL
 * (FORBIDDEN may carry the app's reason). 0, -EINVAL (a code the protocol
 * does not have), or -ENOMEM. */
int gn__eio_error_body(struct gn_buf *out, enum gn_eio_error code,
                       const char *message);

/* What a request says of itself, for gn__eio_check. The strings are the
 * query's parameters, percent-decoded (gn__eio_query_get), NULL when
 * absent. */
struct gn_eio_request {
    bool get;              /* the method is GET */
    bool ws_upgrade;       /* a WebSocket handshake */
    const char *eio;       /* EIO */
    const char *transport; /* transport */
    const char *sid;       /* sid */
    /* With a sid: whether it names a session this server holds open, and
     * that session's transport ("polling" or "websocket"). */
    bool sid_known;
    const char *session_transport;
};

/* The error a request earns, or GN_EIO_OK, in the reference server's
 * order: an unknown transport; with a sid, an unknown (or closed)
 * session, or another transport than the session's without an upgrade;
 * without one (a handshake), a method other than GET, a WebSocket
 * transport without the WebSocket handshake, and a protocol version other
 * than 4 (absent counts as 3, which this server does not speak). */
enum gn_eio_error gn__eio_check(const struct gn_eio_request *r);

/* The parameter NAME of QUERY (a request's query string, without '?'),
 * percent-decoded ('+' is a space) into OUT[CAP], NUL-terminated. Its
 * length; -ENOENT when absent; -EINVAL when malformed (a bad escape, an
 * encoded NUL); -ENAMETOOLONG when it does not fit. The first of several
 * is taken. */
long gn__eio_query_get(const char *query, const char *name, char *out,
                       size_t cap);

/* The open packet's data (an open packet is '0' and this JSON). */
struct gn_eio_open {
    const char *sid;
    bool upgrade_websocket; /* "upgrades": ["websocket"] (a polling session
                               that may upgrade), else [] */
    unsigned ping_interval; /* ms */
    unsigned ping_timeout;  /* ms */
    size_t max_payload;     /* bytes */
};

/* Append O's JSON to OUT:
 * {"sid":...,"upgrades":[...],"pingInterval":N,"pingTimeout":N,
 *  "maxPayload":N}. 0, -EINVAL (no sid), or -ENOMEM. */
int gn__eio_open_json(struct gn_buf *out, const struct gn_eio_open *o);

#endif /* GN_SOCKETIO_HANDSHAKE_H */
