/*
 * The llhttp glue. llhttp rejects CL with TE, conflicting or malformed
 * Content-Length, a Transfer-Encoding other than a final chunked, bare CR
 * and invalid tokens; built with LLHTTP_STRICT_MODE (meson sets it) it also
 * rejects spaces in header names and a chunk without its CRLF. obs-fold,
 * which llhttp joins, is refused here. The callbacks record spans and
 * enforce Gunicorn's size limits; on_headers_complete and
 * on_message_complete pause the parser so the caller handles one message
 * at a time.
 *
 * Chunk-size lines are read here, not by llhttp: llhttp 8.1 (Debian 12)
 * refuses legal chunk extensions (an unquoted value followed by another
 * extension, "5;a=1;b=2", BWS around ";" and "=", a quoted-pair). The
 * glue checks each line against RFC 9112 7.1.1 and hands llhttp the size
 * alone ("5\r\n", from a buffer of its own), so llhttp still frames the
 * data, its CRLF and the trailers, and never sees an extension, which
 * carries nothing a server here understands (a recipient ignores those).
 * Whatever llhttp version the build finds, the same lines are accepted.
 */
#include "http/parse.h"

#include <string.h>

#include <llhttp.h>

#include "core/macros.h"
#include "http/request.h"

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

size_t gn__http_head_max(const struct gn_http_limits *l)
{
    uint64_t max = (uint64_t)l->request_line + 2 +
                   (uint64_t)l->fields * (l->field_size + 4) + 2;

    if (max > l->head)
        max = l->head;
    return max < GN_HEAD_CAP ? (size_t)max : GN_HEAD_CAP;
}

/* Bytes of the head from its request line to AT + LEN. */
static size_t head_len(const struct gn_http_parser *p, const char *at,
                       size_t len)
{
    return (size_t)(at + len - p->base) - p->line_start;
}

/* The request line so far ends at AT + LEN: refuse it once it is longer
 * than the limit (or than the whole head may be), without waiting for
 * its end. */
static int check_line(struct gn_http_parser *p, const char *at, size_t len)
{
    if (head_len(p, at, len) > p->line_max)
        return refuse(p, 414, "request line too long");
    return 0;
}

/* The header fields so far end at AT + LEN: refuse the head once it is
 * larger than limit_request_header_size, without waiting for its end
 * (checked after each value: a name is held to field_size, and the
 * head's end is checked too). */
static int check_head(struct gn_http_parser *p, const char *at, size_t len)
{
    if (head_len(p, at, len) > p->limits->head)
        return refuse(p, 431, "request header section too large");
    return 0;
}

static int on_method(llhttp_t *l, const char *at, size_t len)
{
    struct gn_http_parser *p = parser_of(l);

    if (!p->req->method_seen) {
        p->req->method_seen = 1;
        p->line_start = (uint32_t)(at - p->base);
    }
    return check_line(p, at, len);
}

static int on_url(llhttp_t *l, const char *at, size_t len)
{
    struct gn_http_parser *p = parser_of(l);
    struct gn_span *t = &p->req->target_span;

    span_add(p, t, at, len, t->len == 0);
    return check_line(p, at, len);
}

static int on_version(llhttp_t *l, const char *at, size_t len)
{
    struct gn_http_parser *p = parser_of(l);

    p->version_end = (uint32_t)(at + len - p->base);
    return check_line(p, at, len);
}

/* Room for one more header line, from the request's arena past the
 * inline array. */
static int grow_headers(struct gn_request *req)
{
    size_t cap = req->hcap * 2;
    struct gn_header *h = gn__arena_alloc(&req->arena, cap * sizeof(*h));

    if (h == NULL)
        return -1;
    memcpy(h, req->headers, req->nheaders * sizeof(*h));
    req->headers = h;
    req->hcap = cap;
    return 0;
}

/* A piece of a trailer field's name or value (after a chunked body),
 * copied: the buffer it sits in is reused for body bytes. Held to the
 * header limits. */
static int on_trailer_piece(struct gn_http_parser *p, const char *at,
                            size_t len, int is_value)
{
    struct gn_request *req = p->req;
    struct gn_buf *t = &req->trailer_text;
    int rc = 0;

    if (!is_value && (p->last_was_value || req->ntrailer_fields == 0)) {
        if (req->ntrailer_fields == p->limits->fields)
            return refuse(p, 431, "too many trailer fields");
        if (req->ntrailer_fields > 0)
            rc = gn__buf_append(t, "", 1); /* ends the previous value */
        req->ntrailer_fields++;
        p->trailer_field_len = 0;
    } else if (is_value && !p->last_was_value) {
        rc = gn__buf_append(t, "", 1); /* ends the name */
    }
    p->last_was_value = is_value;
    p->trailer_field_len += len;
    if (p->trailer_field_len > p->limits->field_size)
        return refuse(p, 431, "trailer field too large");
    if (rc == 0)
        rc = gn__buf_append(t, at, len);
    return rc ? refuse(p, 503, "out of memory") : 0;
}

static int on_header_field(llhttp_t *l, const char *at, size_t len)
{
    struct gn_http_parser *p = parser_of(l);
    struct gn_request *req = p->req;
    int fresh = p->last_was_value || req->nheaders == 0;
    struct gn_header *h;

    if (p->in_body)
        return on_trailer_piece(p, at, len, 0);
    if (fresh && req->nheaders == p->limits->fields)
        return refuse(p, 431, "too many header fields");
    if (fresh && req->nheaders == req->hcap && grow_headers(req) != 0)
        return refuse(p, 503, "out of memory");
    if (fresh)
        memset(&req->headers[req->nheaders++], 0, sizeof(struct gn_header));
    h = &req->headers[req->nheaders - 1];
    span_add(p, &h->name_span, at, len, fresh);
    p->last_was_value = 0;
    if (h->name_span.len > p->limits->field_size)
        return refuse(p, 431, "header field too large");
    return 0;
}

static int only_blanks(const char *from, const char *to)
{
    for (; from < to; from++)
        if (*from != ' ' && *from != '\t')
            return 0;
    return 1;
}

static int on_header_value(llhttp_t *l, const char *at, size_t len)
{
    struct gn_http_parser *p = parser_of(l);
    struct gn_header *h;

    if (p->in_body)
        return on_trailer_piece(p, at, len, 1);
    h = &p->req->headers[p->req->nheaders - 1];
    /* A value's pieces are contiguous in our buffer, and only blanks sit
     * between the colon and the value, unless llhttp joined a folded line
     * (obs-fold), which RFC 9112 lets us refuse. (An empty value comes as
     * a zero-length piece at the start of the next line: no fold.) */
    if (p->last_was_value
            ? at != p->base + h->value_span.off + h->value_span.len
            : len > 0 &&
                  !only_blanks(
                      p->base + h->name_span.off + h->name_span.len + 1, at))
        return refuse(p, 400, "obsolete line folding");
    span_add(p, &h->value_span, at, len, !p->last_was_value);
    p->last_was_value = 1;
    if (h->name_span.len + h->value_span.len > p->limits->field_size)
        return refuse(p, 431, "header field too large");
    return check_head(p, at, len);
}

/* ---- chunk-size lines --------------------------------------------------
 * chunk = chunk-size [ chunk-ext ] CRLF
 * chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 * chunk-ext-val = token / quoted-string
 */
enum {
    CHUNK_NONE,      /* not in a chunk-size line: llhttp reads */
    CHUNK_SIZE,      /* hex digits */
    CHUNK_BWS,       /* BWS after the size or a value, before ";" */
    CHUNK_NAME_BWS,  /* after ";": BWS before a name */
    CHUNK_NAME,      /* a name (token) */
    CHUNK_NAME_END,  /* BWS after a name: "=" or ";" follows */
    CHUNK_VALUE_BWS, /* after "=": BWS before the value */
    CHUNK_TOKEN,     /* a token value */
    CHUNK_QUOTED,    /* inside a quoted-string value */
    CHUNK_QPAIR,     /* after a backslash inside it */
    CHUNK_UNQUOTED,  /* after its closing quote */
    CHUNK_CR,        /* after the line's CR: LF ends it */
};

static int tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int hex(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') ||
           ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f');
}

/* After a name, a value or the size: what may follow (";" always, CR
 * only where no BWS came before it). */
static int chunk_next(unsigned char ch, int cr)
{
    if (ch == ';')
        return CHUNK_NAME_BWS;
    if (ch == ' ' || ch == '\t')
        return -1; /* the caller's BWS state */
    return ch == '\r' && cr ? CHUNK_CR : -2;
}

/* The state after CH in the line's state S; -1 when CH is not allowed. */
static int chunk_step(struct gn_http_parser *p, int s, unsigned char ch)
{
    int next;

    switch (s) {
    case CHUNK_SIZE:
        if (hex(ch)) {
            p->chunk_sized = 1;
            if (p->chunk_ndigits == 0 && ch == '0')
                return s;
            if (p->chunk_ndigits == sizeof(p->chunk_digits))
                return -1; /* past 2^64 - 1 */
            p->chunk_digits[p->chunk_ndigits++] = (char)ch;
            return s;
        }
        if (!p->chunk_sized)
            return -1;
        /* fall through */
    case CHUNK_TOKEN:
    case CHUNK_UNQUOTED:
        if (s == CHUNK_TOKEN && tchar(ch))
            return s;
        next = chunk_next(ch, 1);
        return next == -1 ? CHUNK_BWS : next < 0 ? -1 : next;
    case CHUNK_BWS:
        next = chunk_next(ch, 0);
        return next == -1 ? s : next < 0 ? -1 : next;
    case CHUNK_NAME_BWS:
        if (ch == ' ' || ch == '\t')
            return s;
        return tchar(ch) ? CHUNK_NAME : -1;
    case CHUNK_NAME:
    case CHUNK_NAME_END:
        if (s == CHUNK_NAME && tchar(ch))
            return s;
        if (ch == '=')
            return CHUNK_VALUE_BWS;
        next = chunk_next(ch, s == CHUNK_NAME);
        return next == -1 ? CHUNK_NAME_END : next < 0 ? -1 : next;
    case CHUNK_VALUE_BWS:
        if (ch == ' ' || ch == '\t')
            return s;
        if (ch == '"')
            return CHUNK_QUOTED;
        return tchar(ch) ? CHUNK_TOKEN : -1;
    case CHUNK_QUOTED: /* qdtext: HTAB, SP, VCHAR but " and \, obs-text */
        if (ch == '"')
            return CHUNK_UNQUOTED;
        if (ch == '\\')
            return CHUNK_QPAIR;
        return ch == '\t' || (ch >= 0x20 && ch != 0x7f) ? s : -1;
    case CHUNK_QPAIR: /* HTAB, SP, VCHAR, obs-text */
        return ch == '\t' || (ch >= 0x20 && ch != 0x7f) ? CHUNK_QUOTED : -1;
    case CHUNK_CR: return ch == '\n' ? CHUNK_NONE : -1;
    }
    return -1;
}

/* Start reading a chunk-size line. */
static void chunk_line_begin(struct gn_http_parser *p)
{
    p->chunk_state = CHUNK_SIZE;
    p->chunk_ndigits = 0;
    p->chunk_sized = 0;
    p->chunk_line_len = 0;
}

/* Read the chunk-size line at BASE[*POS, END) as far as it goes, moving
 * *POS past it; once it is whole, give llhttp its size. HPE_OK, or why
 * the line is refused. */
static llhttp_errno_t chunk_line(struct gn_http_parser *p, const char *base,
                                 size_t *pos, size_t end)
{
    char line[sizeof(p->chunk_digits) + 2];
    int s = p->chunk_state;
    size_t n;

    while (*pos < end && s != CHUNK_NONE) {
        if (++p->chunk_line_len > p->limits->field_size)
            return refuse(p, 400, "chunk extensions too long");
        s = chunk_step(p, s, (unsigned char)base[(*pos)++]);
        if (s < 0)
            return refuse(p, 400, "invalid chunk size line");
    }
    p->chunk_state = (uint8_t)s;
    if (s != CHUNK_NONE)
        return HPE_OK;
    n = p->chunk_ndigits;
    memcpy(line, p->chunk_digits, n);
    if (n == 0)
        line[n++] = '0';
    memcpy(line + n, "\r\n", 2);
    return llhttp_execute(ll(p), line, n + 2);
}

static int on_chunk_header(llhttp_t *l)
{
    parser_of(l)->last_chunk = l->content_length == 0;
    return 0;
}

/* A chunk's data and CRLF are read: pause so the glue reads the next
 * size line (after the last chunk, the trailers follow: llhttp's). */
static int on_chunk_complete(llhttp_t *l)
{
    struct gn_http_parser *p = parser_of(l);

    if (p->last_chunk)
        return 0;
    chunk_line_begin(p);
    p->chunk_paused = 1;
    return HPE_PAUSED;
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
    if (req->chunked)
        chunk_line_begin(p);
    return HPE_PAUSED;
}

static int on_body(llhttp_t *l, const char *at, size_t len)
{
    struct gn_http_parser *p = parser_of(l);

    p->body_total += len;
    if (p->body_limit && p->body_total > p->body_limit)
        return refuse(p, 413, "request body too large");

    /* The caller fed at most `room` bytes, so the body always fits. */
    if (p->out != NULL)
        memcpy(p->out + p->got, at, len);
    p->got += len;
    return 0;
}

static int on_message_complete(llhttp_t *l)
{
    struct gn_http_parser *p = parser_of(l);

    if (gn__request_finish_trailers(p->req) != 0)
        return refuse(p, 503, "out of memory");
    p->req->body_done = 1;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_method = on_method,
    .on_url = on_url,
    .on_version = on_version,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_chunk_complete = on_chunk_complete,
    .on_message_complete = on_message_complete,
};

void gn__http_parser_init(struct gn_http_parser *p,
                          const struct gn_http_limits *limits)
{
    memset(p, 0, sizeof(*p));
    p->limits = limits;
    p->line_max = limits->request_line < limits->head ? limits->request_line
                                                      : limits->head;
    llhttp_init(ll(p), HTTP_REQUEST, &settings);
    ll(p)->data = p;
}

void gn__http_parser_begin(struct gn_http_parser *p, struct gn_request *req)
{
    p->req = req;
    p->body_total = 0;
    p->body_limit = p->limits->body;
    p->line_start = 0;
    p->in_body = 0;
    p->last_was_value = 0;
    p->out = NULL;
    p->room = p->got = 0;
    p->status = 0;
    p->reason = NULL;
    p->chunk_state = CHUNK_NONE; /* a message ended (or it closed) */
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

/* Even in strict mode llhttp takes a bare LF after the request line and
 * as the blank line ending the head (it checks the header lines). The head
 * ends at HEAD_END. */
static int crlf_endings(const struct gn_http_parser *p, size_t head_end)
{
    const char *b = p->base;

    return b[p->version_end] == '\r' && head_end >= p->line_start + 4 &&
           memcmp(b + head_end - 4, "\r\n\r\n", 4) == 0;
}

/* llhttp over BASE[POS, END) in a chunked body, the glue reading the
 * chunk-size lines between the chunks (out of the common path: most
 * requests have no body). HPE_OK when every byte was taken (in a size
 * line that goes on, too). */
static llhttp_errno_t run_chunked(struct gn_http_parser *p, const char *base,
                                  size_t pos, size_t end)
{
    llhttp_errno_t e;

    for (;;) {
        if (p->chunk_paused) { /* a chunk ended: the next line is ours */
            p->chunk_paused = 0;
            pos = (size_t)(llhttp_get_error_pos(ll(p)) - base);
            llhttp_resume(ll(p));
        }
        if (p->chunk_state != CHUNK_NONE && pos < end) {
            e = chunk_line(p, base, &pos, end);
            if (e != HPE_OK || p->chunk_state != CHUNK_NONE)
                return e;
        }
        e = llhttp_execute(ll(p), base + pos, end - pos);
        if (e != HPE_PAUSED || !p->chunk_paused)
            return e;
    }
}

enum gn_http_event gn__http_execute(struct gn_http_parser *p, const char *base,
                                    size_t start, size_t end, size_t *used)
{
    llhttp_errno_t e;

    p->base = base;
    if (GN_LIKELY(p->chunk_state == CHUNK_NONE)) {
        e = llhttp_execute(ll(p), base + start, end - start);
        if (GN_UNLIKELY(e == HPE_PAUSED && p->chunk_paused))
            e = run_chunked(p, base, start, end);
    } else {
        e = run_chunked(p, base, start, end);
    }
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
        if (p->req->body_done)
            return GN_HTTP_DONE;
        if (!crlf_endings(p, start + *used)) {
            *used = 0;
            refuse(p, 400, "a bare LF ends a line of the head");
            return GN_HTTP_ERROR;
        }
        /* Its last CRLFs, which no callback saw. */
        if (check_head(p, base + start + *used, 0) != 0) {
            *used = 0;
            return GN_HTTP_ERROR;
        }
        return GN_HTTP_HEAD;
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
