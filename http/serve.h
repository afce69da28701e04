/*
 * HTTP/1.1 as a connection's protocol (struct gn_conn_proto), the context
 * its owner (the worker) hands down to it, and the two calls request.c and
 * response.c make back into the serve loop.
 */
#ifndef GN_HTTP_SERVE_H
#define GN_HTTP_SERVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "greenicorn.h"
#include "http/parse.h"
#include "net/conn.h"

struct gn_access_format;
struct gn_error_pages;
struct gn_ipset;
struct gn_request;
struct gn_response;

/* An app as the serve loop calls it. */
struct gn_http_app {
    const gn_app_t *desc; /* its handle() */
    void *state;          /* ... and what it is handed */
    const char *name;     /* for logs */
    /* Its own limit_request_body, used when has_body_limit (0: none);
     * else the server's (limits.body). */
    int has_body_limit;
    uint64_t body_limit;
};

/* What serving HTTP needs, set up by the owner of the connections (the
 * worker): the settings it applies, and calls up into the owner, which
 * http/ cannot include. A connection's ctx points to one. */
struct gn_http_ctx {
    struct gn_http_limits limits;
    size_t head_max;            /* bytes a request head may take */
    int64_t header_ms, body_ms; /* header_timeout, body_timeout */
    int keepalive;              /* seconds; 0: one request each */
    int request_timeout;        /* seconds a handler may take; 0: any */
    int cancel_on_disconnect;   /* a client that leaves cancels it */
    int proxy_protocol;         /* PROXY header from proxy_allow_ips */
    const struct gn_ipset *proxy_allow_ips;
    const struct gn_ipset *forwarded_allow_ips;
    const char *server_header; /* NULL: none */
    const char *health_path;   /* answered here, no app; NULL: none */
    const struct gn_access_format *access_format;
    /* Bodies and types of the server's own error answers; NULL: none. */
    const struct gn_error_pages *error_pages;

    void *owner; /* handed to every call below */
    /* The app mounted where PATH points, into *APP, and the length of its
     * mount: 1, or 0 when none is. */
    int (*route)(void *owner, const char *path, size_t *mount_len,
                 struct gn_http_app *app);
    /* The pre_request (POST 0) or post_request (1) hook: 0, or nonzero
     * when pre_request refused the request. NULL when neither is set. */
    int (*hook)(void *owner, int post, struct gn_request *req,
                struct gn_response *res);
    /* REQ's code runs now (NULL: none), for the owner's logs. */
    void (*serving)(void *owner, struct gn_request *req);
    /* A request was served (the owner updates serve_more). */
    void (*request_done)(void *owner);
    /* ... with STATUS in US microseconds by the app named APP (NULL: none
     * was mounted there), for the owner's metrics; NULL: not measured. */
    void (*served)(void *owner, int status, int64_t us, const char *app);
    /* Whether a request after the current one may be served (the owner's
     * max_requests): read for every response, so kept as a value. */
    int serve_more;
};

extern const struct gn_conn_proto gn__http1;

/* Read up to LEN body bytes of REQ into BUF (gn_request_read). */
ssize_t gn__http_read_body(struct gn_conn *c, struct gn_request *req, void *buf,
                           size_t len);

/* Free the responses kept for reuse beyond KEEP (after a burst), or all
 * of them (at exit). */
void gn__http_trim_spares(size_t keep);
void gn__http_free_spares(void);

/* Add responses to the spares until N are kept, each touched so that its
 * pages are resident (a worker's boot, for a burst to come). The number
 * added. */
size_t gn__http_prefill_spares(size_t n);

/* Whether C may serve another request after REQ, decided when the head of
 * REQ's response is sent. */
int gn__http_conn_keep_alive(struct gn_conn *c, struct gn_request *req);

#endif /* GN_HTTP_SERVE_H */
