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

/* A stream handle for C, an HTTP connection about to be upgraded to the
 * protocol NAME (copied): what gn_stream_name() returns. Nothing changes
 * on C until gn__stream_upgrade(). NULL on ENOMEM. */
gn_stream_t *gn__stream_new(struct gn_conn *c, const char *name);

/* The 101 went out: C is S's from now on (its protocol no longer HTTP's:
 * a client's half-close is for the handler to read), until the handler
 * returns and the connection closes. */
void gn__stream_upgrade(gn_stream_t *s);

/* The bytes written to S's client so far (the access log's). */
uint64_t gn__stream_sent(const gn_stream_t *s);

/* Free S (NULL: nothing), detaching it from its connection. */
void gn__stream_free(gn_stream_t *s);

#endif /* GN_NET_STREAM_H */
