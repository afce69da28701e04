/*
 * A parsed HTTP request (struct gn_request behind the public gn_request_t)
 * and its per-request arena. The parser fills it with offsets into the
 * connection's read buffer; gn__request_finish_head() turns them into
 * NUL-terminated strings in place once the head is complete and the buffer
 * can no longer move.
 */
#ifndef GN_HTTP_REQUEST_H
#define GN_HTTP_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "greenicorn.h"
#include "http/parse.h"
#include "net/buf.h"

struct gn_conn;

/* [off, off + len) of the read buffer. */
struct gn_span {
    uint32_t off, len;
};

struct gn_header {
    struct gn_span name_span, value_span;
    const char *name, *value; /* set by gn__request_finish_head */
};

/* A bump allocator whose blocks are freed when the request ends. */
struct gn_arena {
    struct gn_arena_block *blocks;
    /* The first bytes come from storage in the request itself (the
     * decoded path, SCRIPT_NAME...), so most requests malloc nothing. */
    char *inline_data;
    size_t inline_used, inline_size;
};

struct gn_request {
    struct gn_conn *conn;
    struct gn_http_parser *parser;
    int64_t start_us; /* when serving began (gn__monotonic_us) */
    int64_t end_us;   /* when its response was done, 0 before */

    /* Filled by the parser. */
    const char *method; /* static */
    struct gn_span target_span;
    int version;            /* 10 or 11 */
    int64_t content_length; /* -1: none */
    int chunked;
    int upgrade;     /* Upgrade or CONNECT: not served past this request */
    int method_seen; /* the request line has begun */
    size_t head_end; /* offset of the first byte after the head */
    struct gn_header *headers; /* inline_headers, or a copy in the arena */
    size_t nheaders, hcap;

    /* Set by gn__request_finish_head. */
    const char *target, *path, *query;
    size_t label_len; /* of label below; 0: not made yet */
    /* Set by routing: PATH split at the app's mount. */
    const char *script_name, *path_info;
    const char *remote_addr; /* the client, as gn__request_set_peer says */
    int remote_port;
    const char *scheme; /* "http", or "https" from a trusted proxy */
    int expect_continue;
    int keep_alive;

    /* Body progress. */
    int body_done;    /* the parser reached the end of the message */
    int body_started; /* the handler asked for the body */
    uint64_t body_read;

    /* Trailer fields after a chunked body: copied as they arrive (the read
     * buffer is reused for the body) as "name\0value\0" records, then
     * indexed in TRAILERS (in the arena) when the message is complete. */
    struct gn_buf trailer_text;
    size_t ntrailer_fields; /* records begun in trailer_text */
    struct gn_header *trailers;
    size_t ntrailers;

    struct gn_arena arena;
    struct gn_header inline_headers[24]; /* most requests fit */
    /* "METHOD target", cut to fit the heartbeat page, made on first use:
     * what the worker writes there each time the request's code runs.
     * Here, not in the arena: most requests then allocate nothing. */
    char label[160];
    _Alignas(16) char arena_storage[512]; /* the arena's inline part */
};

/* Reset REQ for a new message on CONN parsed by P. */
void gn__request_init(struct gn_request *req, struct gn_conn *conn,
                      struct gn_http_parser *p);

/*
 * Resolve the spans against BASE (the read buffer, which must not move
 * until the request ends): NUL-terminate method, target and headers, trim
 * header values, decode the path. 0, or an HTTP status (400) with *WHY set.
 */
int gn__request_finish_head(struct gn_request *req, char *base,
                            const char **why);

struct gn_ipset;

/*
 * Set the request's client: the connection's peer ADDR:PORT, unless the
 * peer is trusted (TRUSTED, the forwarded_allow_ips set, is then given;
 * NULL otherwise) and the request carries X-Forwarded-For (the rightmost
 * address not itself in TRUSTED, every field line read as one list, becomes
 * the client) or X-Forwarded-Proto (https becomes the scheme). ADDR must
 * outlive the request.
 */
void gn__request_set_peer(struct gn_request *req, const char *addr, int port,
                          const struct gn_ipset *trusted);

/* Index the trailer records (at the end of the message). 0 or -ENOMEM. */
int gn__request_finish_trailers(struct gn_request *req);

/* Move REQ's strings out of BASE[0, LEN) (the read buffer, which an
 * upgraded protocol takes over) into its arena: every pointer into that
 * range is moved with them. 0 or -ENOMEM. */
int gn__request_detach(struct gn_request *req, const char *base, size_t len);

/* Free the arena's blocks. */
void gn__request_release(struct gn_request *req);

/* Allocate N bytes that live until the request ends; NULL on ENOMEM. */
void *gn__arena_alloc(struct gn_arena *a, size_t n);

/* Decode %XX escapes of SRC[0, LEN) into DST (room for LEN + 1); invalid
 * escapes stay as they are. Returns the decoded length, or -1 when the
 * result would contain a NUL byte. */
long gn__percent_decode(char *dst, const char *src, size_t len);

#endif /* GN_HTTP_REQUEST_H */
