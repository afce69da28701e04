/*
 * A WebSocket over an upgraded connection (struct gn_ws behind the public
 * gn_ws_t): what websocket/accept.c sets up after the handshake, and the
 * settings the worker hands down once.
 */
#ifndef GN_WEBSOCKET_WS_H
#define GN_WEBSOCKET_WS_H

#include <stddef.h>
#include <stdint.h>

#include "greenicorn.h"
#include "websocket/deflate.h" /* struct gn_ws_zbuf */

struct gn_conn;
struct gn_response;

/* The [websocket] settings, as the worker hands them down. */
struct gn_ws_settings {
    uint64_t max_message;    /* bytes a message may have, else 1009 */
    uint64_t max_queue;      /* bytes queued per socket, else 1013 */
    int64_t ping_ms;         /* ping a socket idle that long; 0: never */
    int64_t close_ms;        /* how long a closing handshake may take */
    int64_t write_ms;        /* write_timeout: the server's own frames */
    const char *allowed_origins; /* websocket_allowed_origins ("": any) */
    int compression;         /* websocket_compression: permessage-deflate */
};

/* Use S (which must outlive the worker's connections) from now on. Until
 * called, built-in defaults apply (for tests). */
void gn__ws_setup(const struct gn_ws_settings *s);

/* The settings in force. */
const struct gn_ws_settings *gn__ws_settings(void);

/* The WebSockets of this process open now (for metrics). */
size_t gn__ws_open(void);

/*
 * A per-message extension (RFC 6455 9, RFC 7692's permessage-deflate in
 * websocket/compress.c): it owns the RSV bits it negotiated, and transforms
 * whole messages. A message whose first frame carries RSV is reassembled
 * as sent, then handed to decode (and only then checked as UTF-8); RSV on
 * a continuation or control frame stays a protocol error (1002). Data
 * messages sent go through encode. Control frames never do.
 *
 * The buffers are the caller's, so that nothing outlives a message in the
 * extension's state and two green threads may send on one WebSocket at
 * once: decode writes into the WebSocket's (freed once the message is
 * consumed), encode into the sender's (freed once the frame is sent or
 * queued).
 */
struct gn_ws_ext {
    unsigned rsv; /* GN_WS_RSV1 for permessage-deflate */
    /* Append the message IN[0, LEN), as it was before encoding, to OUT
     * (empty), at most MAX bytes: 0, -EMSGSIZE past MAX (closes 1009),
     * -ENOMEM (1011), another negative errno for data that does not decode
     * (1007). */
    int (*decode)(void *state, const void *in, size_t len, size_t max,
                  struct gn_ws_zbuf *out);
    /* Append the message IN[0, LEN) to send, encoded, to OUT (empty): 0
     * (sent with RSV), 1 to send IN as it is (without RSV; OUT unused), or
     * a negative errno. */
    int (*encode)(void *state, const void *in, size_t len,
                  struct gn_ws_zbuf *out);
    /* Free STATE when the WebSocket ends. NULL: nothing to free. */
    void (*free)(void *state);
};

/* Use EXT, with its STATE, on WS from now on (right after gn__ws_start,
 * the handshake having agreed on it). */
void gn__ws_set_ext(struct gn_ws *ws, const struct gn_ws_ext *ext,
                    void *state);

/* Make the upgraded connection C (its 101 sent for RES) a WebSocket: NULL
 * on ENOMEM. It ends, and is freed, when RES's handler returns. */
struct gn_ws *gn__ws_start(struct gn_conn *c, struct gn_response *res);

#endif /* GN_WEBSOCKET_WS_H */
