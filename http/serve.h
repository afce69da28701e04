/*
 * HTTP/1.1 as a connection's protocol (struct gn_conn_proto), and the two
 * calls request.c and response.c make back into the serve loop.
 */
#ifndef GN_HTTP_SERVE_H
#define GN_HTTP_SERVE_H

#include <stddef.h>
#include <sys/types.h>

#include "net/conn.h"

struct gn_request;

extern const struct gn_conn_proto gn__http1;

/* Read up to LEN body bytes of REQ into BUF (gn_request_read). */
ssize_t gn__http_read_body(struct gn_conn *c, struct gn_request *req, void *buf,
                           size_t len);

/* Whether C may serve another request after REQ, decided when the head of
 * REQ's response is sent. */
int gn__http_conn_keep_alive(struct gn_conn *c, struct gn_request *req);

#endif /* GN_HTTP_SERVE_H */
