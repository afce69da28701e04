/*
 * The response a handler builds (struct gn_response behind gn_response_t):
 * status, header lines and body are buffered until the handler returns
 * (sent with Content-Length) or flushes (then streamed, chunked for
 * HTTP/1.1). The server adds Date, Server and the framing headers.
 */
#ifndef GN_HTTP_RESPONSE_H
#define GN_HTTP_RESPONSE_H

#include <stdint.h>

#include "greenicorn.h"
#include "net/buf.h"

struct gn_conn;
struct gn_request;

struct gn_response {
    struct gn_conn *conn;
    struct gn_request *req;
    int status;
    const char *reason;    /* NULL: the standard phrase */
    struct gn_buf headers; /* "Name: value\r\n" lines from the handler */
    struct gn_buf body;    /* written but not yet sent */
    int head_sent;
    int chunked;        /* streaming to HTTP/1.1 */
    int keep_alive;     /* as announced in the head */
    int failed;         /* a write failed: the connection must close */
    int finishing;      /* the handler returned: the last write may wait */
    int sealed;         /* sendfile declared the whole length: no more */
    uint64_t declared;  /* with sealed: the Content-Length sent */
    uint64_t body_sent; /* body bytes handed to the socket */
    char headers_storage[512];
    char body_storage[1024];
};

/* Start an empty 200 response to REQ on C. */
void gn__response_init(struct gn_response *res, struct gn_conn *c,
                       struct gn_request *req);

/* Send what is left after the handler returned: the whole response, or the
 * last chunk. 0 or a negative errno (the connection must close). */
int gn__response_finish(struct gn_response *res);

/* Drop what the handler built (before the head was sent) and answer STATUS
 * with a short text body instead; CLOSE adds Connection: close. */
int gn__response_error(struct gn_response *res, int status, int close);

/* Free the buffers. */
void gn__response_release(struct gn_response *res);

/* Send "100 Continue" when REQ asked for it and nothing was sent yet. */
int gn__response_continue(struct gn_response *res);

/* The standard reason phrase of STATUS ("Unknown" when none). */
const char *gn__status_reason(int status);

#endif /* GN_HTTP_RESPONSE_H */
