/*
 * Building and sending responses. The head is assembled once, in one
 * buffer, and goes out with the body in a single writev. Header lines from
 * handlers are validated here so a handler cannot inject CR/LF or take over
 * the message framing. A 101's head is built on the heap, not the stack:
 * the handler then parks on its upgraded connection, maybe for hours,
 * keeping every stack page the send of that head touched.
 */
#include "http/response.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "config/error_pages.h"
#include "core/macros.h"
#include "core/timefmt.h"
#include "green/park.h"
#include "green/sys.h"
#include "http/request.h"
#include "http/serve.h"
#include "net/conn.h"
#include "net/stream.h"

const char *gn__status_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 208: return "Already Reported";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    case 511: return "Network Authentication Required";
    default: return "Unknown";
    }
}

/* Append "Server: SERVER\r\n" (none when SERVER is NULL) and "Date:
 * ...\r\n": the two lines every head has, kept together and remade only
 * when the second or SERVER changes, so that a head takes them in one
 * copy (the date without the locale: an app's setlocale must not reach
 * the header). SERVER is known by its address: the worker's configured
 * string, which lives and stays the same as long as the worker. */
#define SERVER_KEPT_MAX 200 /* a longer Server value is written each time */

static void append_server_date(struct gn_buf *head, const char *server)
{
    static char lines[sizeof("Server: \r\nDate: \r\n") + SERVER_KEPT_MAX +
                      GN_TIME_IMF_LEN];
    static size_t lines_len;
    static const char *cached_server;
    static time_t cached = -1;
    time_t now = time(NULL);
    size_t server_len;

    if (now != cached || server != cached_server) {
        server_len = server != NULL ? strlen(server) : 0;
        if (server_len > SERVER_KEPT_MAX) { /* its line as it is */
            gn__buf_append(head, "Server: ", 8);
            gn__buf_append(head, server, server_len);
            gn__buf_append(head, "\r\n", 2);
            server = NULL; /* and the Date line kept alone */
        }
        lines_len = 0;
        if (server != NULL) {
            memcpy(lines, "Server: ", 8);
            memcpy(lines + 8, server, server_len);
            memcpy(lines + 8 + server_len, "\r\n", 2);
            lines_len = server_len + 10;
        }
        memcpy(lines + lines_len, "Date: ", 6);
        lines_len += 6;
        lines_len += gn__time_imf(lines + lines_len, now);
        memcpy(lines + lines_len, "\r\n", 2);
        lines_len += 2;
        cached = now;
        cached_server = server;
    }
    gn__buf_append(head, lines, lines_len);
}

/* ---- inline storage, taken at the first write ------------------------- */

static struct gn_response_storage *storage_spares;
static size_t nstorage_spares;

/* Where a response's buffers start: empty, no room, so that an append
 * before storage_take (or after it failed) grows them on the heap. */
static char no_storage[1];

static struct gn_response_storage *storage_get(void)
{
    struct gn_response_storage *st = storage_spares;

    if (st == NULL)
        return malloc(sizeof(*st));
    storage_spares = st->next;
    nstorage_spares--;
    return st;
}

static void storage_put(struct gn_response_storage *st)
{
    st->next = storage_spares;
    storage_spares = st;
    nstorage_spares++;
}

void gn__response_trim_storage(size_t keep)
{
    while (nstorage_spares > keep)
        free(storage_get());
}

size_t gn__response_prefill_storage(size_t n)
{
    struct gn_response_storage *st;
    size_t added = 0;

    while (nstorage_spares < n && (st = malloc(sizeof(*st))) != NULL) {
        memset(st, 0, sizeof(*st)); /* touched now, not in the burst */
        storage_put(st);
        added++;
    }
    return added;
}

/* Before RES's first append: its buffers move into inline storage. Out of
 * memory, they stay as they are and grow on the heap when written. */
static void storage_take(struct gn_response *res)
{
    struct gn_response_storage *st;

    if (GN_LIKELY(res->storage != NULL) || res->headers.cap != 0 ||
        res->body.cap != 0 || (st = storage_get()) == NULL)
        return;
    /* Both are empty and own nothing (cap 0): only their room changes. */
    res->storage = st;
    res->headers.data = st->headers;
    res->headers.cap = sizeof(st->headers);
    res->body.data = st->body;
    res->body.cap = sizeof(st->body);
}

void gn__response_init(struct gn_response *res, struct gn_conn *c,
                       struct gn_request *req)
{
    res->conn = c;
    res->req = req;
    res->status = 200;
    res->reason = NULL;
    res->storage = NULL;
    gn__buf_init(&res->headers, no_storage, 0);
    gn__buf_init(&res->body, no_storage, 0);
    res->head_sent = res->chunked = res->keep_alive = res->failed = 0;
    res->finishing = 0;
    res->sealed = 0;
    res->declared = 0;
    res->body_sent = 0;
    res->upgraded = 0;
    res->deadline = NULL;
    res->upgrade_end = NULL;
    res->log_extra = NULL;
}

void gn__response_release(struct gn_response *res)
{
    gn__buf_free(&res->headers);
    gn__buf_free(&res->body);
    if (res->storage != NULL)
        storage_put(res->storage);
    res->storage = NULL;
}

/* 1xx, 204 and 304 responses never carry a body (RFC 9112 6.3). */
static int status_has_body(int status)
{
    return !(status < 200 || status == 204 || status == 304);
}

static int is_head(const struct gn_response *res)
{
    const char *m = res->req->method;

    /* Asked twice per response: the first letter spares the call. */
    return m && m[0] == 'H' && strcmp(m, "HEAD") == 0;
}

/* Write the status line, our headers, the handler's, and the framing. */
static int build_head(struct gn_response *res, struct gn_buf *head,
                      int streaming)
{
    const struct gn_http_ctx *x = res->conn->ctx;
    const char *server = x->server_header;
    int version = res->req->version;

    res->keep_alive = gn__http_conn_keep_alive(res->conn, res->req);
    if (streaming && version == 10)
        res->keep_alive = 0; /* the body ends when the connection does */
    res->chunked = streaming && version == 11;
    /* Appends, not printf: the head is built for every response, and
     * printf made a third of a small response's instructions. HEAD keeps
     * the first append's failure: one check at the end. */
    if (res->status == 200 && res->reason == NULL) {
        gn__buf_append(head, "HTTP/1.1 200 OK\r\n", 17); /* the most */
    } else {
        gn__buf_append(head, "HTTP/1.1 ", 9);
        gn__buf_append_u64(head, (unsigned)res->status);
        gn__buf_append(head, " ", 1);
        gn__buf_append_str(head, res->reason ? res->reason
                                             : gn__status_reason(res->status));
        gn__buf_append(head, "\r\n", 2);
    }
    append_server_date(head, server);
    gn__buf_append(head, res->headers.data, res->headers.len);
    if (res->chunked && status_has_body(res->status)) {
        gn__buf_append_str(head, "Transfer-Encoding: chunked\r\n");
    } else if (!streaming && status_has_body(res->status)) {
        gn__buf_append(head, "Content-Length: ", 16);
        gn__buf_append_u64(head, res->sealed ? res->declared : res->body.len);
        gn__buf_append(head, "\r\n", 2);
    }
    if (!res->keep_alive)
        gn__buf_append_str(head, "Connection: close\r\n");
    else if (version == 10)
        gn__buf_append_str(head, "Connection: keep-alive\r\n");
    gn__buf_append(head, "\r\n", 2);
    return head->err;
}

static int send_iov(struct gn_response *res, struct iovec *iov, int n)
{
    int rc = gn__conn_writev(res->conn, iov, n, res->finishing);

    if (rc != 0)
        res->failed = 1;
    return rc;
}

/* COUNT bytes of FD from OFFSET, counted as body. */
static int sendfile_range(struct gn_response *res, int fd, off_t offset,
                          size_t count)
{
    int rc = gn__conn_sendfile(res->conn, fd, offset, count);

    if (rc != 0)
        res->failed = 1;
    else
        res->body_sent += count;
    return rc;
}

/* Send the head, then BODY (the buffered body, or one chunk of it). */
static int send_head(struct gn_response *res, int streaming)
{
    char storage[1024];
    struct gn_buf head;
    struct iovec iov[4];
    char size[24];
    int n = 1, rc;
    int body = status_has_body(res->status) && !is_head(res);

    gn__buf_init(&head, storage, sizeof(storage));
    rc = build_head(res, &head, streaming);
    if (rc != 0)
        goto out;
    iov[0] = (struct iovec){head.data, head.len};
    if (body && res->body.len > 0 && res->chunked) {
        iov[n++] =
            (struct iovec){size, (size_t)snprintf(size, sizeof(size), "%zx\r\n",
                                                  res->body.len)};
        iov[n++] = (struct iovec){res->body.data, res->body.len};
        iov[n++] = (struct iovec){(char *)"\r\n", 2};
    } else if (body && res->body.len > 0) {
        iov[n++] = (struct iovec){res->body.data, res->body.len};
    }
    res->head_sent = 1;
    rc = send_iov(res, iov, n);
    if (rc == 0 && body)
        res->body_sent += res->body.len;
    res->body.len = 0;
out:
    gn__buf_free(&head);
    return rc;
}

/* Send the buffered body as one more chunk (or raw for HTTP/1.0). */
static int send_chunk(struct gn_response *res, int last)
{
    struct iovec iov[4];
    char size[24];
    int n = 0, rc;

    if (!status_has_body(res->status) || is_head(res)) {
        res->body.len = 0;
        return 0;
    }
    if (res->body.len > 0 && res->chunked)
        iov[n++] =
            (struct iovec){size, (size_t)snprintf(size, sizeof(size), "%zx\r\n",
                                                  res->body.len)};
    if (res->body.len > 0)
        iov[n++] = (struct iovec){res->body.data, res->body.len};
    if (res->body.len > 0 && res->chunked)
        iov[n++] = (struct iovec){(char *)"\r\n", 2};
    if (last && res->chunked)
        iov[n++] = (struct iovec){(char *)"0\r\n\r\n", 5};
    if (n == 0)
        return 0;
    rc = send_iov(res, iov, n);
    if (rc == 0)
        res->body_sent += res->body.len;
    res->body.len = 0;
    return rc;
}

int gn__response_finish(struct gn_response *res)
{
    if (res->failed)
        return -EPIPE;
    if (res->sealed)
        return 0;
    res->finishing = 1;
    if (!res->head_sent)
        return send_head(res, 0);
    return send_chunk(res, 1);
}

int gn__response_error(struct gn_response *res, int status, int close)
{
    const struct gn_http_ctx *x = res->conn->ctx;
    const struct gn_error_page *page;

    if (res->head_sent)
        return -EALREADY;
    if (close)
        res->conn->closing = 1;
    res->status = status;
    res->reason = NULL;
    storage_take(res);
    res->headers.len = 0;
    res->body.len = 0;
    /* error_page: the operator's body and type for this status (a JSON
     * API's clients get JSON), read with the configuration. */
    page = gn__error_page_find(x->error_pages, status);
    if (page != NULL) {
        gn__buf_append_str(&res->headers, "Content-Type: ");
        gn__buf_append_str(&res->headers, page->type);
        gn__buf_append(&res->headers, "\r\n", 2);
        gn__buf_append(&res->body, page->body, page->len);
    } else {
        gn__buf_printf(&res->headers, "Content-Type: text/plain\r\n");
        gn__buf_printf(&res->body, "%d %s\n", status,
                       gn__status_reason(status));
    }
    return send_head(res, 0);
}

int gn__response_continue(struct gn_response *res)
{
    static char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    struct iovec iov = {line, sizeof(line) - 1};

    if (res->head_sent || !res->req->expect_continue)
        return 0;
    res->req->expect_continue = 0;
    return send_iov(res, &iov, 1);
}

/* ---- upgrade ---------------------------------------------------------- */

/* The handler's header lines but Upgrade ones (the 101's is ours). */
static void append_headers_but_upgrade(struct gn_buf *head,
                                       const struct gn_buf *h)
{
    const char *p = h->data, *end = h->data + h->len, *eol;

    for (; p < end; p = eol + 2) {
        eol = memchr(p, '\r', (size_t)(end - p));
        if (eol == NULL)
            break;
        if (!(eol - p > 8 && strncasecmp(p, "Upgrade:", 8) == 0))
            gn__buf_append(head, p, (size_t)(eol - p) + 2);
    }
}

static int build_101(struct gn_response *res, struct gn_buf *head,
                     const char *protocol)
{
    const struct gn_http_ctx *x = res->conn->ctx;

    gn__buf_append_str(head, "HTTP/1.1 101 Switching Protocols\r\n");
    append_server_date(head, x->server_header);
    append_headers_but_upgrade(head, &res->headers);
    gn__buf_append_str(head, "Connection: Upgrade\r\nUpgrade: ");
    gn__buf_append_str(head, protocol);
    gn__buf_append(head, "\r\n\r\n", 4);
    return head->err;
}

static size_t token_len(const char *s);
static int protocol_valid(const char *s);

int gn__http_hand_off(struct gn_response *res)
{
    if (res->head_sent || res->failed)
        return -EALREADY;
    res->head_sent = 1; /* nothing of ours goes out */
    res->status = 101;  /* what the other process answers */
    res->upgraded = 1;
    res->sealed = 1;
    res->keep_alive = 0;
    res->log_extra = "handed over";
    res->conn->closing = 1;
    res->conn->handed_off = 1;
    if (res->deadline != NULL)
        gn__watch_stop(res->deadline);
    return 0;
}

struct gn_conn *gn__http_upgrade(struct gn_response *res, const char *protocol)
{
    struct gn_conn *c = res->conn;
    struct gn_request *req = res->req;
    struct gn_buf head;
    struct iovec iov;
    int rc;

    if (!gn__on_loop_thread()) {
        errno = EPERM;
        return NULL;
    }
    if (res->head_sent || res->failed) {
        errno = res->failed ? EPIPE : EALREADY;
        return NULL;
    }
    /* Bytes after the head are the new protocol's only if no body is. */
    if (protocol == NULL || !protocol_valid(protocol) || req->version != 11 ||
        !req->body_done) {
        errno = EINVAL;
        return NULL;
    }
    /* (Its strings may have left the buffer already, and the buffer with
     * them: http/serve.c's finish_head.) */
    if (c->rbuf != NULL ? gn__request_detach(req, c->rbuf, req->head_end) != 0
                        : gn__conn_take_rbuf(c) != 0) {
        errno = ENOMEM;
        return NULL;
    }
    /* On the heap: a handler parked on its upgraded connection for hours
     * keeps the stack pages its deepest call touched, and this call's
     * send is the deepest (the transport's copy of it is a malloc
     * there). One page for the whole life of an idle WebSocket. */
    gn__buf_init(&head, NULL, 0);
    rc = build_101(res, &head, protocol);
    res->head_sent = 1;
    res->status = 101;
    res->upgraded = 1;
    res->sealed = 1; /* no HTTP body bytes into the new protocol's stream */
    res->keep_alive = 0;
    c->closing = 1;
    if (res->deadline != NULL)
        gn__watch_stop(res->deadline);
    iov = (struct iovec){head.data, head.len};
    if (rc == 0)
        rc = gn__conn_writev(c, &iov, 1, 0);
    gn__buf_free(&head);
    if (rc != 0) {
        res->failed = 1;
        errno = rc == -ENOMEM ? ENOMEM : EPIPE;
        return NULL;
    }
    /* The head is copied out: the buffer is the new protocol's. */
    memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
    c->rlen -= c->rpos;
    c->rpos = 0;
    return c;
}

/* Whether the comma-separated LIST (a header value; NULL: none) holds
 * ITEM, compared without case. */
static int list_has(const char *list, const char *item)
{
    size_t n = strlen(item), len;
    const char *p = list, *end;

    while (p != NULL && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        for (end = p; *end && *end != ','; end++)
            ;
        for (len = (size_t)(end - p);
             len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'); len--)
            ;
        if (len == n && n > 0 && strncasecmp(p, item, n) == 0)
            return 1;
        p = end;
    }
    return 0;
}

/* The generic upgrade's end: the stream handle goes with the handler;
 * the access log counts what it wrote. */
static void stream_end(struct gn_response *res, int rc)
{
    (void)rc;
    res->body_sent = gn__stream_sent(res->conn->proto_data);
    gn__stream_free(res->conn->proto_data);
}

GN_API gn_stream_t *gn_response_upgrade(gn_response_t *res,
                                        const char *protocol)
{
    struct gn_request *req;
    gn_stream_t *s;
    char *name;

    if (!gn__on_loop_thread()) {
        errno = EPERM;
        return NULL;
    }
    if (res == NULL || protocol == NULL || !protocol_valid(protocol)) {
        errno = EINVAL;
        return NULL;
    }
    if (res->head_sent || res->failed) {
        errno = res->failed ? EPIPE : EALREADY;
        return NULL;
    }
    /* Only what the client asked for (RFC 9110 7.8): a 101 it did not
     * expect would turn the rest of its stream into garbage. The app
     * answers the refusal itself (426 with Upgrade, 400...). */
    req = res->req;
    if (req->version != 11 ||
        !list_has(gn_request_header(req, "Upgrade"), protocol) ||
        !list_has(gn_request_header(req, "Connection"), "upgrade")) {
        errno = EPROTO;
        return NULL;
    }
    if (!req->body_done) {
        errno = EBUSY; /* its bytes would be taken for the new protocol's */
        return NULL;
    }
    /* Everything that can fail without a word, before the 101. */
    name = gn__arena_alloc(&req->arena, strlen(protocol) + 1);
    s = name ? gn__stream_new(res->conn, protocol) : NULL;
    if (s == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    if (gn__http_upgrade(res, protocol) == NULL) {
        int err = errno;

        gn__stream_free(s);
        errno = err;
        return NULL;
    }
    gn__stream_upgrade(s);
    res->upgrade_end = stream_end;
    res->log_extra = strcpy(name, protocol); /* outlives the handle */
    return s;
}

/* ---- the public API --------------------------------------------------- */

/* What each byte may be in a header a handler sets, an entry a byte:
 * every name and value is checked, and a lookup per byte is the cheapest
 * test (a bit table or three comparisons cost twice the instructions:
 * bench/instructions). NAME: RFC 9110's tchar. VAL: a field value's
 * visible characters, SP, HTAB and obs-text. NUL is neither: it ends the
 * loops below. */
enum { VAL = 1, NAME = 2, BOTH = VAL | NAME };

/* clang-format off */
static const unsigned char header_byte[256] = {
    /* 0x00 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, VAL, 0, 0, 0, 0, 0, 0,
    /* 0x10 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /*  !"#$%&'()*+,-./ */
    VAL, BOTH, VAL, BOTH, BOTH, BOTH, BOTH, BOTH,
    VAL, VAL, BOTH, BOTH, VAL, BOTH, BOTH, VAL,
    /* 0-9 :;<=>? */
    BOTH, BOTH, BOTH, BOTH, BOTH, BOTH, BOTH, BOTH,
    BOTH, BOTH, VAL, VAL, VAL, VAL, VAL, VAL,
    /* @ A-O */
    VAL, BOTH, BOTH, BOTH, BOTH, BOTH, BOTH, BOTH,
    BOTH, BOTH, BOTH, BOTH, BOTH, BOTH, BOTH, BOTH,
    /* P-Z [\]^_ */
    BOTH, BOTH, BOTH, BOTH, BOTH, BOTH, BOTH, BOTH,
    BOTH, BOTH, BOTH, VAL, VAL, VAL, BOTH, BOTH,
    /* ` a-o */
    BOTH, BOTH, BOTH, BOTH, BOTH, BOTH, BOTH, BOTH,
    BOTH, BOTH, BOTH, BOTH, BOTH, BOTH, BOTH, BOTH,
    /* p-z {|}~ DEL */
    BOTH, BOTH, BOTH, BOTH, BOTH, BOTH, BOTH, BOTH,
    BOTH, BOTH, BOTH, VAL, BOTH, VAL, BOTH, 0,
    /* 0x80-0xff: obs-text, in values only */
    VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL,
    VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL,
    VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL,
    VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL,
    VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL,
    VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL,
    VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL,
    VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL, VAL,
};
/* clang-format on */

/* The length of S's leading bytes of class WHAT, or (size_t)-1 when a
 * byte of another class comes before its end. */
static size_t class_len(const char *s, unsigned char what)
{
    const unsigned char *p = (const unsigned char *)s;

    while (header_byte[*p] & what)
        p++;
    return *p == '\0' ? (size_t)(p - (const unsigned char *)s) : (size_t)-1;
}

/* S's length when it is a token, else 0. */
static size_t token_len(const char *s)
{
    size_t n = class_len(s, NAME);

    return n == (size_t)-1 ? 0 : n;
}

/* An Upgrade protocol: a token, or token "/" token (RFC 9110 7.8). */
static int protocol_valid(const char *s)
{
    const char *slash = strchr(s, '/');
    char name[128];
    size_t n;

    if (slash == NULL)
        return token_len(s) > 0;
    n = (size_t)(slash - s);
    if (n == 0 || n >= sizeof(name))
        return 0;
    memcpy(name, s, n);
    name[n] = '\0';
    return token_len(name) > 0 && token_len(slash + 1) > 0;
}

/* Field values: visible characters, spaces and tabs, obs-text. S's
 * length when it is one, else (size_t)-1. */
static size_t value_len(const char *s)
{
    return class_len(s, VAL);
}

static int valid_value(const char *s)
{
    return value_len(s) != (size_t)-1;
}

GN_API int gn_response_status(gn_response_t *res, int status,
                              const char *reason)
{
    if (!gn__on_loop_thread())
        return -EPERM;
    if (res->head_sent)
        return -EALREADY;
    /* A 1xx is interim: the client waits for a final answer after it, so
     * one sent as the answer would stall it, or shift every pipelined
     * answer behind it by one. 101 would need an upgrade to follow. */
    if (status < 200 || status > 999 || (reason && !valid_value(reason)))
        return -EINVAL;
    if (reason) {
        char *copy = gn__arena_alloc(&res->req->arena, strlen(reason) + 1);

        if (copy == NULL)
            return -ENOMEM;
        reason = strcpy(copy, reason);
    }
    res->status = status;
    res->reason = reason;
    return 0;
}

GN_API int gn_response_get_status(const gn_response_t *res)
{
    return res->status;
}

GN_API int gn_response_header(gn_response_t *res, const char *name,
                              const char *value)
{
    /* The framing, and what the server adds itself (sent twice else). */
    static const struct {
        const char *name;
        size_t len;
    } framing[] = {{"Content-Length", 14},
                   {"Transfer-Encoding", 17},
                   {"Connection", 10},
                   {"Date", 4},
                   {"Server", 6}};
    size_t nlen, vlen;
    char *line;

    if (!gn__on_loop_thread())
        return -EPERM;
    if (res->head_sent)
        return -EALREADY;
    nlen = token_len(name);
    vlen = value_len(value);
    if (nlen == 0 || vlen == (size_t)-1)
        return -EINVAL;
    /* "Connection: close" is the app asking to close after this
     * response: honoured, and the server writes the line itself. */
    if (nlen == 10 && strcasecmp(name, "Connection") == 0 &&
        strcasecmp(value, "close") == 0)
        return gn_response_close_connection(res);
    for (size_t i = 0; i < sizeof(framing) / sizeof(framing[0]); i++)
        if (nlen == framing[i].len && strcasecmp(name, framing[i].name) == 0)
            return -EPERM;
    storage_take(res);
    /* One room check for the line's four parts: all of it or none. */
    line = gn__buf_room(&res->headers, nlen + vlen + 4);
    if (line == NULL)
        return -ENOMEM;
    memcpy(line, name, nlen);
    memcpy(line + nlen, ": ", 2);
    memcpy(line + nlen + 2, value, vlen);
    memcpy(line + nlen + 2 + vlen, "\r\n", 2);
    res->headers.len += nlen + vlen + 4;
    return 0;
}

/* Whether the body may still grow: -EPERM off the loop's thread, -EPIPE
 * once a write failed (or the client left), -EALREADY once sendfile sent
 * the declared length. */
static int writable(const struct gn_response *res)
{
    if (!gn__on_loop_thread())
        return -EPERM;
    return res->failed ? -EPIPE : res->sealed ? -EALREADY : 0;
}

GN_API int gn_response_write(gn_response_t *res, const void *buf, size_t len)
{
    int rc = writable(res);

    if (rc != 0)
        return rc;
    storage_take(res);
    return gn__buf_append(&res->body, buf, len);
}

GN_API int gn_response_printf(gn_response_t *res, const char *fmt, ...)
{
    va_list ap;
    int rc = writable(res);

    if (rc != 0)
        return rc;
    storage_take(res);
    va_start(ap, fmt);
    rc = gn__buf_vprintf(&res->body, fmt, ap);
    va_end(ap);
    return rc;
}

GN_API int gn_response_flush(gn_response_t *res)
{
    int rc = writable(res);

    if (rc != 0)
        return rc;
    if (!res->head_sent)
        return send_head(res, 1);
    return send_chunk(res, 0);
}

/* Before the head: it goes out with Content-Length covering what was
 * written and the file range, and the response is complete after it. */
static int sendfile_whole(struct gn_response *res, int fd, off_t offset,
                          size_t count)
{
    int body = status_has_body(res->status) && !is_head(res);
    int rc;

    res->sealed = 1;
    res->declared = res->body.len + count;
    rc = send_head(res, 0);
    if (rc != 0 || !body)
        return rc;
    return sendfile_range(res, fd, offset, count);
}

/* While streaming: one more chunk (or raw bytes to HTTP/1.0). */
static int sendfile_chunk(struct gn_response *res, int fd, off_t offset,
                          size_t count)
{
    char size[24];
    struct iovec iov = {size, 0};
    int rc = send_chunk(res, 0);

    if (rc != 0 || count == 0 || !status_has_body(res->status) || is_head(res))
        return rc;
    if (res->chunked) {
        iov.iov_len = (size_t)snprintf(size, sizeof(size), "%zx\r\n", count);
        if ((rc = send_iov(res, &iov, 1)) != 0)
            return rc;
    }
    rc = sendfile_range(res, fd, offset, count);
    if (rc == 0 && res->chunked) {
        iov = (struct iovec){(char *)"\r\n", 2};
        rc = send_iov(res, &iov, 1);
    }
    return rc;
}

/* Before promising a length: FD is open, and a regular file holds the
 * range (a pipe or socket cannot be checked, and sendfile refuses most). */
static int check_range(int fd, off_t offset, size_t count)
{
    struct stat st;

    if (offset < 0)
        return -EINVAL;
    if (gn__sys_fstat(fd, &st) != 0)
        return -errno;
    if (S_ISREG(st.st_mode) &&
        (offset > st.st_size || count > (uint64_t)(st.st_size - offset)))
        return -EINVAL;
    return 0;
}

GN_API int gn_response_sendfile(gn_response_t *res, int fd, off_t offset,
                                size_t count)
{
    int rc = writable(res);

    if (rc != 0)
        return rc;
    if ((rc = check_range(fd, offset, count)) != 0)
        return rc;
    if (!res->head_sent)
        return sendfile_whole(res, fd, offset, count);
    return sendfile_chunk(res, fd, offset, count);
}

GN_API int gn_response_close_connection(gn_response_t *res)
{
    if (!gn__on_loop_thread())
        return -EPERM;
    /* The head, when it goes out, says Connection: close (keep-alive is
     * decided there from this), and the serve loop closes after the
     * response, leaving pipelined requests unanswered. Once a head went
     * out with keep-alive, closing after a complete response is still
     * clean: the client sees the end of the message, then EOF. */
    res->conn->closing = 1;
    return 0;
}

GN_API int gn_response_client_gone(gn_response_t *res)
{
    return res->failed || gn__conn_peer_gone(res->conn);
}
