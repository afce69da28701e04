/*
 * permessage-deflate on a WebSocket: the glue between the handshake
 * (websocket/accept.c), the extension seam (struct gn_ws_ext in
 * websocket/ws.h) and the compression module (websocket/deflate.h). It
 * reads a request's offers under the websocket_compression setting,
 * answers the one it takes, and gives the WebSocket a transform that
 * inflates incoming messages within websocket_max_message and compresses
 * outgoing ones above a size threshold.
 */
#ifndef GN_WEBSOCKET_COMPRESS_H
#define GN_WEBSOCKET_COMPRESS_H

#include <stddef.h>

#include "greenicorn.h"
#include "websocket/deflate.h"

struct gn_ws;

/* Outgoing messages shorter than this go uncompressed (see compress.c for
 * the measurement behind it). */
#define GN_WS_COMPRESS_MIN 1024

/* One WebSocket's permessage-deflate, as agreed in its handshake. */
struct gn_ws_pmd;

/*
 * Negotiate permessage-deflate for REQ (when websocket_compression is on):
 * NULL when no offer was taken (or out of memory: the WebSocket then goes
 * on uncompressed), else the agreed state, its answer added to RES as
 * Sec-WebSocket-Extensions. The caller hands it to gn__ws_pmd_attach() or
 * frees it with gn__ws_pmd_free().
 */
struct gn_ws_pmd *gn__ws_pmd_negotiate(gn_request_t *req,
                                       gn_response_t *res);

/* Use P on WS from now on (WS then owns it). */
void gn__ws_pmd_attach(struct gn_ws *ws, struct gn_ws_pmd *p);

/* A state for PARAMS without a handshake (tests and fuzzing); NULL on
 * ENOMEM. */
struct gn_ws_pmd *gn__ws_pmd_new(const struct gn_ws_deflate_params *params);

void gn__ws_pmd_free(struct gn_ws_pmd *p);

/* The transform gn__ws_pmd_attach() installs (for tests and fuzzing, which
 * call it on a state of gn__ws_pmd_new()). */
extern const struct gn_ws_ext gn__ws_pmd_ext;

/* Messages this thread compressed, and how many of them were the same as
 * the one before and so were not compressed again (a fan-out). */
void gn__ws_pmd_counts(unsigned long *compressed, unsigned long *reused);

/* Free the thread's reused-message copy (a worker's exit; tests). */
void gn__ws_pmd_cache_free(void);

#endif /* GN_WEBSOCKET_COMPRESS_H */
