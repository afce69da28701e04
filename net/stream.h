/*
 * Stream apps as a connection's protocol: a [stream:NAME] listener's
 * connections run the app's handle() in their coroutine, which owns the
 * connection until it returns (gevent's StreamServer), and the gn_stream_*
 * calls it talks through, over the connection's read buffer and transport.
 */
#ifndef GN_NET_STREAM_H
#define GN_NET_STREAM_H

#include "greenicorn.h"
#include "net/conn.h"

/* What a stream listener's connections are served with (the connection's
 * ctx), set up by the worker: net/ knows no plugin or worker. */
struct gn_stream_ctx {
    const char *name; /* [stream:NAME] */
    char label[80];   /* "[stream:NAME]", for the worker's logs */
    size_t label_len;
    const gn_stream_app_t *desc; /* NULL: none loaded (closed at once) */
    void *state;                 /* what its init stored */
    void *owner;
    /* A connection's handler returned (max_requests counts them). */
    void (*done)(void *owner);
    /* The handler runs now (LABEL), or no longer (NULL): for the worker's
     * heartbeat and its max_blocking_ms warning. */
    void (*serving)(void *owner, const char *label, size_t len);
};

/* The protocol of stream listeners: serve runs handle() once, then the
 * connection closes. */
extern const struct gn_conn_proto gn__stream_proto;

#endif /* GN_NET_STREAM_H */
