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
};

/* Use S (which must outlive the worker's connections) from now on. Until
 * called, built-in defaults apply (for tests). */
void gn__ws_setup(const struct gn_ws_settings *s);

/* The settings in force. */
const struct gn_ws_settings *gn__ws_settings(void);

/* Make the upgraded connection C (its 101 sent for RES) a WebSocket: NULL
 * on ENOMEM. It ends, and is freed, when RES's handler returns. */
struct gn_ws *gn__ws_start(struct gn_conn *c, struct gn_response *res);

#endif /* GN_WEBSOCKET_WS_H */
