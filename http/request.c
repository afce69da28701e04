/*
 * The request a handler sees: finishing the parsed head (in-place NUL
 * termination, value trimming, path decoding), the client behind trusted
 * proxies (X-Forwarded-For read from the right), the public gn_request_*
 * accessors, and the per-request arena.
 */
#include "http/request.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/ipset.h"
#include "green/park.h"
#include "http/serve.h"
#include "net/conn.h"

#define ARENA_BLOCK 4096

struct gn_arena_block {
    struct gn_arena_block *next;
    size_t used, size;
    _Alignas(16) char data[];
};

void *gn__arena_alloc(struct gn_arena *a, size_t n)
{
    struct gn_arena_block *b = a->blocks;
    size_t need = (n + 15) & ~(size_t)15;
    void *p;

    if (n > SIZE_MAX / 2)
        return NULL;
    if (a->inline_size - a->inline_used >= need) {
        p = a->inline_data + a->inline_used;
        a->inline_used += need;
        return p;
    }
    if (b == NULL || b->size - b->used < need) {
        size_t size = need > ARENA_BLOCK ? need : ARENA_BLOCK;

        b = malloc(sizeof(*b) + size);
        if (b == NULL)
            return NULL;
        b->next = a->blocks;
        b->used = 0;
        b->size = size;
        a->blocks = b;
    }
    p = b->data + b->used;
    b->used += need;
    return p;
}

void gn__request_init(struct gn_request *req, struct gn_conn *conn,
                      struct gn_http_parser *p)
{
    /* The inline headers are rewritten as they fill: clear the rest. */
    memset(req, 0, offsetof(struct gn_request, inline_headers));
    req->headers = req->inline_headers;
    req->hcap = sizeof(req->inline_headers) / sizeof(req->inline_headers[0]);
    req->conn = conn;
    req->parser = p;
    req->content_length = -1;
    req->arena.inline_data = req->arena_storage;
    req->arena.inline_size = sizeof(req->arena_storage);
}

void gn__request_release(struct gn_request *req)
{
    struct gn_arena_block *b = req->arena.blocks, *next;

    for (; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    req->arena.blocks = NULL;
    req->arena.inline_used = 0;
    gn__buf_free(&req->trailer_text);
}

int gn__request_finish_trailers(struct gn_request *req)
{
    char *s, *end;
    size_t n = 0;

    if (req->ntrailer_fields == 0)
        return 0;
    /* End the last record, whose value may even be missing. */
    if (gn__buf_append(&req->trailer_text, "\0\0", 2) != 0)
        return -ENOMEM;
    req->trailers = gn__arena_alloc(&req->arena, req->ntrailer_fields *
                                                     sizeof(struct gn_header));
    if (req->trailers == NULL)
        return -ENOMEM;
    s = req->trailer_text.data;
    end = s + req->trailer_text.len - 2;
    while (s < end && n < req->ntrailer_fields) {
        struct gn_header *h = &req->trailers[n++];
        char *value;
        size_t len, whole;

        memset(h, 0, sizeof(*h));
        h->name = s;
        value = s + strlen(s) + 1;
        len = whole = strlen(value);
        while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
            value[--len] = '\0';
        h->value = value;
        s = value + whole + 1;
    }
    req->ntrailers = n;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

long gn__percent_decode(char *dst, const char *src, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        int hi, lo;

        if (src[i] == '%' && i + 2 < len && (hi = hexval(src[i + 1])) >= 0 &&
            (lo = hexval(src[i + 2])) >= 0) {
            dst[n] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            dst[n] = src[i];
        }
        if (dst[n++] == '\0')
            return -1;
    }
    dst[n] = '\0';
    return (long)n;
}

/* Terminate SPAN in place: the byte after it (' ', ':', CR) was parsed. */
static const char *terminate(char *base, struct gn_span s)
{
    base[s.off + s.len] = '\0';
    return base + s.off;
}

static void finish_headers(struct gn_request *req, char *base)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        struct gn_header *h = &req->headers[i];

        /* llhttp strips leading whitespace; trailing OWS is ours to trim. */
        while (h->value_span.len > 0 &&
               (base[h->value_span.off + h->value_span.len - 1] == ' ' ||
                base[h->value_span.off + h->value_span.len - 1] == '\t'))
            h->value_span.len--;
        h->name = terminate(base, h->name_span);
        h->value = h->value_span.len ? terminate(base, h->value_span) : "";
    }
}

/* Where the path of the target T starts and its length, and the query
 * after it ("" when none). An absolute-form target ("http://host/p?q")
 * has its path after the authority, "/" when the authority ends it. */
static const char *find_path(const char *t, size_t *len, const char **query)
{
    const char *path = t, *auth, *q;

    if (*t != '/' && *t != '*') {
        auth = strstr(t, "://");
        auth = auth ? auth + 3 : t;
        path = auth + strcspn(auth, "/?");
    }
    q = strchr(path, '?');
    *query = q ? q + 1 : "";
    *len = q ? (size_t)(q - path) : strlen(path);
    if (*len == 0) {
        *len = 1;
        return "/";
    }
    return path;
}

/* Split the target into the decoded path and the raw query. */
static int split_target(struct gn_request *req)
{
    size_t len;
    const char *path = find_path(req->target, &len, &req->query);
    char *dst = gn__arena_alloc(&req->arena, len + 1);

    if (dst == NULL)
        return -ENOMEM;
    if (gn__percent_decode(dst, path, len) < 0)
        return -EINVAL;
    req->path = dst;
    return 0;
}

/* The bytes of a reg-name (RFC 3986 3.2.2) but pct-encoded's "%", a bit
 * each: unreserved (ALPHA DIGIT - . _ ~) and sub-delims (! $ & ' ( ) * +
 * , ; =). A few instructions a byte: a Host is checked per request. */
static const uint32_t reg_name_bits[8] = {0x00000000, 0x2bff7fd2, 0x87fffffe,
                                          0x47fffffe};

static int reg_name_byte(unsigned char ch)
{
    return (reg_name_bits[ch >> 5] >> (ch & 31)) & 1;
}

static int hex_digit(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') ||
           ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f');
}

/* The inside of an IP-literal: an IPv6 address (no zone) or IPvFuture,
 * "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ). */
static int ip_literal(const char *s, size_t len)
{
    char text[INET6_ADDRSTRLEN];
    struct in6_addr a;
    size_t i = 1;

    if (len > 0 && (s[0] | 0x20) == 'v') {
        while (i < len && hex_digit((unsigned char)s[i]))
            i++;
        if (i == 1 || i == len || s[i++] != '.' || i == len)
            return 0;
        for (; i < len; i++)
            if (s[i] != ':' && !reg_name_byte((unsigned char)s[i]))
                return 0;
        return 1;
    }
    if (len >= sizeof(text))
        return 0;
    memcpy(text, s, len);
    text[len] = '\0';
    return inet_pton(AF_INET6, text, &a) == 1;
}

/* RFC 9112 3.2: Host = uri-host [ ":" port ], the host an IP-literal or
 * a reg-name (IPv4 addresses are reg-names too; empty is allowed). The
 * port may be empty, as RFC 3986's *DIGIT allows (and 6.2.3 reads as no
 * port), but is at most 65535. */
static int valid_host(const char *v)
{
    const unsigned char *s = (const unsigned char *)v;
    const char *end;
    unsigned port = 0;

    if (*s == '[') {
        end = strchr(v, ']');
        if (end == NULL || !ip_literal(v + 1, (size_t)(end - v - 1)))
            return 0;
        s = (const unsigned char *)end + 1;
    } else {
        for (;;) {
            while (reg_name_byte(*s))
                s++;
            if (*s != '%' || !hex_digit(s[1]) || !hex_digit(s[2]))
                break;
            s += 3;
        }
    }
    if (*s == '\0')
        return 1;
    if (*s++ != ':')
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        port = port * 10 + (unsigned)(*s - '0');
        if (port > 65535)
            return 0;
    }
    return 1;
}

/* RFC 9112 3.2: an HTTP/1.1 request carries exactly one Host, and a Host
 * holds a host and maybe a port. NULL when it does; else why not. */
/* Whether H's name is LOWER (letters only, lower case; LEN of them),
 * ignoring case: the length first, which rules out most names without
 * a call (this runs for every field of every request). */
static int name_is(const struct gn_header *h, const char *lower, size_t len)
{
    if (h->name_span.len != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)h->name[i] | 0x20) != (unsigned char)lower[i])
            return 0;
    return 1;
}

static const char *check_host(const struct gn_request *req)
{
    const char *host = NULL;
    int n = 0;

    for (size_t i = 0; i < req->nheaders; i++) {
        if (name_is(&req->headers[i], "host", 4)) {
            host = req->headers[i].value;
            n++;
        }
    }
    if (req->version == 11 ? n != 1 : n > 1)
        return n ? "repeated Host" : "missing Host";
    if (host != NULL && !valid_host(host))
        return "Host is no uri-host [ \":\" port ]";
    return NULL;
}

/* llhttp checked that chunked comes last; a coding before it (gzip,
 * chunked) is one we do not decode (501), and chunked twice is malformed. */
static int check_codings(const struct gn_request *req, const char **why)
{
    int chunked = 0;

    for (size_t i = 0; i < req->nheaders; i++) {
        const char *v = req->headers[i].value;

        if (strcasecmp(req->headers[i].name, "Transfer-Encoding") != 0)
            continue;
        while (*v) {
            size_t n = strcspn(v, ",");
            size_t lead = strspn(v, " \t"), len = n - lead;

            while (len > 0 &&
                   (v[lead + len - 1] == ' ' || v[lead + len - 1] == '\t'))
                len--;
            if (len == 7 && strncasecmp(v + lead, "chunked", 7) == 0) {
                chunked++;
            } else if (len > 0) {
                *why = "unsupported transfer coding";
                return 501;
            }
            v += n + (v[n] == ',');
        }
    }
    if (chunked > 1) {
        *why = "chunked applied more than once";
        return 400;
    }
    return 0;
}

int gn__request_finish_head(struct gn_request *req, char *base,
                            const char **why)
{
    const char *expect;
    int status;

    if (req->version != 10 && req->version != 11) {
        *why = "unsupported HTTP version";
        return 505;
    }
    req->target = terminate(base, req->target_span);
    for (size_t i = 0; i < req->nheaders; i++) {
        if (req->headers[i].name_span.len == 0) {
            *why = "empty header name";
            return 400;
        }
    }
    finish_headers(req, base);
    if ((*why = check_host(req)) != NULL)
        return 400;
    if (req->chunked && (status = check_codings(req, why)) != 0)
        return status;
    if (strcmp(req->target, "*") == 0 && strcmp(req->method, "OPTIONS")) {
        *why = "'*' is a target for OPTIONS only";
        return 400;
    }
    if (split_target(req) != 0) {
        *why = "path with an encoded NUL byte";
        return 400;
    }
    expect = gn_request_header(req, "Expect");
    req->expect_continue = req->version == 11 && expect != NULL &&
                           strcasecmp(expect, "100-continue") == 0;
    req->keep_alive = gn__http_keep_alive(req->parser) && !req->upgrade;
    return 0;
}

/* P moved by DELTA when it points into [BASE, BASE + LEN). */
static void rebase(const char **p, const char *base, size_t len,
                   const char *to)
{
    if (*p != NULL && *p >= base && *p < base + len)
        *p = to + (*p - base);
}

/* N bytes for as long as the request lives, where there is room, else
 * in a block of their own size behind the current one (which keeps its
 * room): a detached head stays for a WebSocket's whole life, and a
 * browser's (about 900 bytes, past the inline part) would otherwise hold
 * a whole ARENA_BLOCK, 4 KiB more per idle WebSocket. */
static void *arena_alloc_fit(struct gn_arena *a, size_t n)
{
    struct gn_arena_block *b = a->blocks;
    size_t need = (n + 15) & ~(size_t)15;

    if (n > SIZE_MAX / 2 || a->inline_size - a->inline_used >= need ||
        (b != NULL && b->size - b->used >= need))
        return gn__arena_alloc(a, n);
    b = malloc(sizeof(*b) + need);
    if (b == NULL)
        return NULL;
    b->used = b->size = need;
    if (a->blocks != NULL) {
        b->next = a->blocks->next;
        a->blocks->next = b;
    } else {
        b->next = NULL;
        a->blocks = b;
    }
    return b->data;
}

int gn__request_detach(struct gn_request *req, const char *base, size_t len)
{
    char *copy = arena_alloc_fit(&req->arena, len ? len : 1);

    if (copy == NULL)
        return -ENOMEM;
    memcpy(copy, base, len);
    rebase(&req->target, base, len, copy);
    rebase(&req->path, base, len, copy);
    rebase(&req->query, base, len, copy);
    rebase(&req->script_name, base, len, copy);
    rebase(&req->path_info, base, len, copy);
    rebase(&req->remote_addr, base, len, copy);
    rebase(&req->scheme, base, len, copy);
    for (size_t i = 0; i < req->nheaders; i++) {
        rebase(&req->headers[i].name, base, len, copy);
        rebase(&req->headers[i].value, base, len, copy);
    }
    return 0;
}

/* ---- the client behind trusted proxies ------------------------------- */

/* Between X-Forwarded-For entries: nginx splits at spaces as well as at
 * commas, so "a, b", "a,b" and "a b" are the same two entries. */
static int xff_sep(char ch)
{
    return ch == ',' || ch == ' ' || ch == '\t';
}

/* Whether [S, S + LEN) is a port from 1 to 65535. */
static int xff_port(const char *s, size_t len)
{
    unsigned port = 0;

    if (len == 0 || len > 5)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        port = port * 10 + (unsigned)(s[i] - '0');
    }
    return port >= 1 && port <= 65535;
}

/* The address of the X-Forwarded-For entry [S, S + LEN) as text in OUT
 * (INET6_ADDRSTRLEN bytes): a bare IPv4 or IPv6 address, or either with
 * the port some proxies append ("192.0.2.1:4711", "[2001:db8::1]:4711";
 * the forms nginx's ngx_parse_addr_port takes), the port dropped. 0, or
 * -EINVAL when the entry is no address ("unknown", a name, garbage). */
static int xff_entry(const char *s, size_t len, char *out)
{
    const char *end = s + len, *colon;
    unsigned char bin[16];
    int family = 0;

    if (len > 0 && s[0] == '[') { /* [v6]:port */
        const char *close = memchr(s, ']', len);

        if (close == NULL || end - close < 2 || close[1] != ':' ||
            !xff_port(close + 2, (size_t)(end - close - 2)))
            return -EINVAL;
        s++;
        end = close;
        family = AF_INET6;
    } else if ((colon = memchr(s, ':', len)) != NULL &&
               memchr(colon + 1, ':', (size_t)(end - colon - 1)) == NULL) {
        /* One colon: v4:port (IPv6 has at least two). */
        if (!xff_port(colon + 1, (size_t)(end - colon - 1)))
            return -EINVAL;
        end = colon;
        family = AF_INET;
    }
    len = (size_t)(end - s);
    if (len == 0 || len >= INET6_ADDRSTRLEN)
        return -EINVAL;
    memcpy(out, s, len);
    out[len] = '\0';
    if (family != AF_INET6 && inet_pton(AF_INET, out, bin) == 1)
        return 0;
    if (family != AF_INET && inet_pton(AF_INET6, out, bin) == 1)
        return 0;
    return -EINVAL;
}

/* Walk the X-Forwarded-For field VALUE from its right end, as nginx's
 * realip module does with real_ip_recursive on: each entry read goes to
 * ADDR (and *FOUND is set) until one is not in TRUSTED. Returns 1 when the
 * walk is over (an entry outside TRUSTED, or one that is no address: the
 * last address reached then stands), 0 when every entry of VALUE was a
 * trusted proxy and the walk goes on into the field line before. */
static int xff_walk(const char *value, const struct gn_ipset *trusted,
                    char *addr, int *found)
{
    const char *end = value + strlen(value), *start;
    char next[INET6_ADDRSTRLEN];

    for (;;) {
        while (end > value && xff_sep(end[-1]))
            end--; /* empty list elements are allowed (RFC 9110 5.6.1) */
        if (end == value)
            return 0;
        start = end;
        while (start > value && !xff_sep(start[-1]))
            start--;
        if (xff_entry(start, (size_t)(end - start), next) != 0)
            return 1;
        memcpy(addr, next, sizeof(next));
        *found = 1;
        if (!gn__ipset_match(trusted, addr))
            return 1;
        end = start;
    }
}

/*
 * The client the X-Forwarded-For field lines of REQ name, copied to the
 * arena; NULL to keep the peer. Each proxy appends the address it saw, so
 * only the right end can be believed: the rightmost address that is not
 * itself a trusted proxy (every hop trusted: the leftmost). The lines make
 * one list in order (RFC 9110 5.3; HAProxy appends a line of its own), so
 * they are walked from the last. An entry that is no address stops the
 * walk at the last address reached, the peer if it was the first.
 */
static const char *forwarded_client(struct gn_request *req,
                                    const struct gn_ipset *trusted)
{
    char addr[INET6_ADDRSTRLEN], *copy;
    int found = 0;
    size_t len;

    for (size_t i = req->nheaders; i-- > 0;) {
        const struct gn_header *h = &req->headers[i];

        if ((h->name[0] | 0x20) == 'x' &&
            strcasecmp(h->name, "X-Forwarded-For") == 0 &&
            xff_walk(h->value, trusted, addr, &found))
            break;
    }
    if (!found)
        return NULL;
    len = strlen(addr) + 1;
    copy = gn__arena_alloc(&req->arena, len);
    return copy ? memcpy(copy, addr, len) : NULL;
}

void gn__request_set_peer(struct gn_request *req, const char *addr, int port,
                          const struct gn_ipset *trusted)
{
    const char *proto, *client;

    req->remote_addr = addr;
    req->remote_port = port;
    req->scheme = "http";
    if (trusted == NULL)
        return;
    if ((client = forwarded_client(req, trusted)) != NULL) {
        req->remote_addr = client;
        req->remote_port = 0; /* a proxy does not say */
    }
    proto = gn_request_header(req, "X-Forwarded-Proto");
    if (proto != NULL && strcasecmp(proto, "https") == 0)
        req->scheme = "https";
}

/* ---- the public accessors --------------------------------------------- */

/* Header and trailer fields alike: the first value of NAME, and the I-th
 * field of N. */
static const char *find_field(const struct gn_header *h, size_t n,
                              const char *name)
{
    /* The first letters, case folded, rule out most fields cheaply (the
     * server asks for a few on every request). */
    int first = (unsigned char)name[0] | 0x20;

    for (size_t i = 0; i < n; i++)
        if (((unsigned char)h[i].name[0] | 0x20) == first &&
            strcasecmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}

static int field_at(const struct gn_header *h, size_t n, size_t i,
                    const char **name, const char **value)
{
    if (i >= n)
        return -ERANGE;
    if (name)
        *name = h[i].name;
    if (value)
        *value = h[i].value;
    return 0;
}

GN_API const char *gn_request_method(const gn_request_t *req)
{
    return req->method;
}

GN_API const char *gn_request_target(const gn_request_t *req)
{
    return req->target;
}

GN_API const char *gn_request_path(const gn_request_t *req)
{
    return req->path;
}

GN_API const char *gn_request_script_name(const gn_request_t *req)
{
    return req->script_name;
}

GN_API const char *gn_request_path_info(const gn_request_t *req)
{
    return req->path_info;
}

GN_API const char *gn_request_query(const gn_request_t *req)
{
    return req->query;
}

GN_API int gn_request_version(const gn_request_t *req)
{
    return req->version;
}

GN_API const char *gn_request_header(const gn_request_t *req, const char *name)
{
    return find_field(req->headers, req->nheaders, name);
}

GN_API size_t gn_request_header_count(const gn_request_t *req)
{
    return req->nheaders;
}

GN_API int gn_request_header_at(const gn_request_t *req, size_t i,
                                const char **name, const char **value)
{
    return field_at(req->headers, req->nheaders, i, name, value);
}

GN_API const char *gn_request_trailer(const gn_request_t *req, const char *name)
{
    return find_field(req->trailers, req->ntrailers, name);
}

GN_API size_t gn_request_trailer_count(const gn_request_t *req)
{
    return req->ntrailers;
}

GN_API int gn_request_trailer_at(const gn_request_t *req, size_t i,
                                 const char **name, const char **value)
{
    return field_at(req->trailers, req->ntrailers, i, name, value);
}

GN_API int64_t gn_request_content_length(const gn_request_t *req)
{
    return req->chunked ? -1 : req->content_length;
}

GN_API ssize_t gn_request_read(gn_request_t *req, void *buf, size_t len)
{
    if (!gn__on_loop_thread())
        return -EPERM;
    return gn__http_read_body(req->conn, req, buf, len);
}

GN_API const char *gn_request_remote_addr(const gn_request_t *req)
{
    return req->remote_addr;
}

GN_API int gn_request_remote_port(const gn_request_t *req)
{
    return req->remote_port;
}

GN_API const char *gn_request_server_addr(const gn_request_t *req)
{
    int port;

    return gn__conn_local_addr(req->conn, &port);
}

GN_API int gn_request_server_port(const gn_request_t *req)
{
    int port;

    gn__conn_local_addr(req->conn, &port);
    return port;
}

GN_API void *gn_request_alloc(gn_request_t *req, size_t size)
{
    if (!gn__on_loop_thread())
        return NULL; /* the arena is the loop thread's */
    return gn__arena_alloc(&req->arena, size ? size : 1);
}

GN_API const char *gn_request_scheme(const gn_request_t *req)
{
    return req->scheme;
}
