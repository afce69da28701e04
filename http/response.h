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
#include "green/loop.h"
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
    int upgraded;       /* a 101 went out: the connection is the handler's */
    struct gn_watch *deadline; /* request_timeout's timer, while armed */
    /* With upgraded: called when the handler returned (RC, what it
     * returned), before the access log line; the upgraded protocol ends
     * there (websocket/: the closing handshake). NULL: nothing to do. */
    void (*upgrade_end)(struct gn_response *res, int rc);
    /* Appended to the access log line, after a space (NULL: nothing):
     * what an upgraded protocol adds (websocket/: its figures). */
    const char *log_extra;
    /* The inline storage of headers and body (below), taken when the
     * handler first writes; NULL before. */
    struct gn_response_storage *storage;
};

/* A response's header lines and the first KiB of its body, before they
 * outgrow it: 1.5 KiB that a handler waiting before it answers (a sleep,
 * a long poll; thousands at once) does not hold, so a response is ~170
 * bytes until its handler writes. Given back with the response and kept
 * for the next one. */
struct gn_response_storage {
    union {
        struct gn_response_storage *next; /* on the spare list */
        char headers[512];
    };
    char body[1024];
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

/* Free the buffers and give the storage back. */
void gn__response_release(struct gn_response *res);

/* Spare storage given back by responses is kept for the next (a batch of
 * thousands of waiting handlers that answer at once would otherwise free
 * it, letting glibc shrink its heap and the next batch fault it in
 * again): down to KEEP after a burst; made ready for N at boot (the
 * number added). */
void gn__response_trim_storage(size_t keep);
size_t gn__response_prefill_storage(size_t n);

/* Send "100 Continue" when REQ asked for it and nothing was sent yet. */
int gn__response_continue(struct gn_response *res);

/*
 * Switch RES's connection to PROTOCOL (an HTTP token, e.g. "websocket"):
 * send "101 Switching Protocols" with the server's Connection: Upgrade and
 * Upgrade: PROTOCOL, Date, Server and the handler's own headers (an
 * Upgrade of its own is dropped), and hand the connection to the caller.
 * The request's strings stay valid (moved out of the read buffer), and the
 * read buffer then holds, from its start, what the client sent after the
 * head: the new protocol's first bytes. request_timeout no longer applies.
 * The connection closes after the handler returns; it never serves HTTP
 * again. Returns the connection, or NULL with errno: EALREADY when a head
 * was sent, EINVAL for a request with a body or a bad PROTOCOL, ENOMEM,
 * EPIPE when the client is gone (or the 101 could not be sent).
 */
struct gn_conn *gn__http_upgrade(struct gn_response *res, const char *protocol);

/*
 * RES's connection went to another process with its socket (net/peer.h:
 * a WebSocket handshake for a session that process holds), which answers
 * the request there. Here nothing more is written: the connection closes
 * once the handler returns, dropping our descriptor only (no shutdown, no
 * lingering read), and the access log says 101 "handed over". 0, or
 * -EALREADY when a head was sent.
 */
int gn__http_hand_off(struct gn_response *res);

/* The standard reason phrase of STATUS ("Unknown" when none). */
const char *gn__status_reason(int status);

#endif /* GN_HTTP_RESPONSE_H */
