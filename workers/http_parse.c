/*
 * The llhttp glue. llhttp rejects CL with TE, conflicting or malformed
 * Content-Length, a Transfer-Encoding other than a final chunked, bare CR
 * and invalid tokens; built with LLHTTP_STRICT_MODE (meson sets it) it also
 * rejects spaces in header names and a chunk without its CRLF. obs-fold,
 * which llhttp joins, is refused here. The callbacks record spans and
 * enforce Gunicorn's size limits; on_headers_complete and
 * on_message_complete pause the parser so the caller handles one message
 * at a time.
 */
#include "workers/http_parse.h"

#include <string.h>

#include <llhttp.h>

#include "workers/request.h"

_Static_assert(sizeof(llhttp_t) <= GN__LLHTTP_STORAGE,
               "GN__LLHTTP_STORAGE is too small for this llhttp");

static llhttp_t *ll(struct gn_http_parser *p)
{
    return (llhttp_t *)p->ll;
}

static struct gn_http_parser *parser_of(llhttp_t *l)
{
    return l->data;
}

static int refuse(struct gn_http_parser *p, int status, const char *why)
{
    p->status = status;
    p->reason = why;
    return HPE_USER;
}

/* Extend SPAN by the bytes at AT: llhttp hands a field over in pieces when
 * it arrives in several reads, always contiguous in our buffer. */
static void span_add(struct gn_http_parser *p, struct gn_span *span,
                     const char *at, size_t len, int fresh)
{
    if (fresh)
        span->off = (uint32_t)(at - p->base);
    span->len = fresh ? (uint32_t)len : span->len + (uint32_t)len;
}

static int on_url(llhttp_t *l, const char *at, size_t len)
{
    struct gn_http_parser *p = parser_of(l);
    struct gn_span *t = &p->req->target_span;

    span_add(p, t, at, len, t->len == 0);
    if (t->len > GN_LIMIT_REQUEST_LINE)
        return refuse(p, 414, "request line too long");
    return 0;
}

static int on_header_field(llhttp_t *l, const char *at, size_t len)
{
    struct gn_http_parser *p = parser_of(l);
    struct gn_request *req = p->req;
    int fresh = p->last_was_value || req->nheaders == 0;
    struct gn_header *h;

    if (p->in_body)
        return 0; /* a trailer: read and ignored */
    if (fresh && req->nheaders == GN_LIMIT_REQUEST_FIELDS)
        return refuse(p, 431, "too many header fields");
    if (fresh)
        memset(&req->headers[req->nheaders++], 0, sizeof(struct gn_header));
    h = &req->headers[req->nheaders - 1];
    span_add(p, &h->name_span, at, len, fresh);
    p->last_was_value = 0;
    if (h->name_span.len > GN_LIMIT_REQUEST_FIELD_SIZE)
        return refuse(p, 431, "header field too large");
    return 0;
}

static int on_header_value(llhttp_t *l, const char *at, size_t len)
{
    struct gn_http_parser *p = parser_of(l);
    struct gn_header *h;

    if (p->in_body)
        return 0;
    h = &p->req->headers[p->req->nheaders - 1];
    /* A value's pieces are contiguous in our buffer unless llhttp joined a
     * folded line (obs-fold), which RFC 9112 lets us refuse. */
    if (p->last_was_value &&
        at != p->base + h->value_span.off + h->value_span.len)
        return refuse(p, 400, "obsolete line folding");
    span_add(p, &h->value_span, at, len, !p->last_was_value);
    p->last_was_value = 1;
    if (h->name_span.len + h->value_span.len > GN_LIMIT_REQUEST_FIELD_SIZE)
        return refuse(p, 431, "header field too large");
    return 0;
}

static int on_headers_complete(llhttp_t *l)
{
    struct gn_http_parser *p = parser_of(l);
    struct gn_request *req = p->req;

    req->version = l->http_major * 10 + l->http_minor;
    req->method = llhttp_method_name((llhttp_method_t)l->method);
    req->chunked = (l->flags & F_CHUNKED) != 0;
    req->content_length =
        (l->flags & F_CONTENT_LENGTH) ? (int64_t)l->content_length : -1;
    req->upgrade = l->upgrade || l->method == HTTP_CONNECT;
    p->in_body = 1;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *l, const char *at, size_t len)
{
    struct gn_http_parser *p = parser_of(l);

    /* The caller fed at most `room` bytes, so the body always fits. */
    if (p->out != NULL)
        memcpy(p->out + p->got, at, len);
    p->got += len;
    return 0;
}

static int on_message_complete(llhttp_t *l)
{
    parser_of(l)->req->body_done = 1;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void gn__http_parser_init(struct gn_http_parser *p)
{
    memset(p, 0, sizeof(*p));
    llhttp_init(ll(p), HTTP_REQUEST, &settings);
    ll(p)->data = p;
}

void gn__http_parser_begin(struct gn_http_parser *p, struct gn_request *req)
{
    p->req = req;
    p->in_body = 0;
    p->last_was_value = 0;
    p->out = NULL;
    p->room = p->got = 0;
    p->status = 0;
    p->reason = NULL;
}

/* llhttp's error codes as the status we answer. */
static void map_error(struct gn_http_parser *p, llhttp_errno_t e)
{
    if (e == HPE_USER)
        return; /* refuse() chose the status */
    p->status = 400;
    p->reason = llhttp_get_error_reason(ll(p));
    if (p->reason == NULL)
        p->reason = llhttp_errno_name(e);
}

enum gn_http_event gn__http_execute(struct gn_http_parser *p, const char *base,
                                    size_t start, size_t end, size_t *used)
{
    llhttp_errno_t e;

    p->base = base;
    e = llhttp_execute(ll(p), base + start, end - start);
    if (e == HPE_OK) {
        *used = end - start;
        return GN_HTTP_MORE;
    }
    if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
        *used = (size_t)(llhttp_get_error_pos(ll(p)) - (base + start));
        if (e == HPE_PAUSED)
            llhttp_resume(ll(p));
        else
            llhttp_resume_after_upgrade(ll(p));
        return p->req->body_done ? GN_HTTP_DONE : GN_HTTP_HEAD;
    }
    *used = 0;
    map_error(p, e);
    return GN_HTTP_ERROR;
}

int gn__http_keep_alive(const struct gn_http_parser *p)
{
    return llhttp_should_keep_alive((const llhttp_t *)p->ll);
}

const char *gn__http_method(const struct gn_http_parser *p)
{
    const llhttp_t *l = (const llhttp_t *)p->ll;

    return llhttp_method_name((llhttp_method_t)l->method);
}
