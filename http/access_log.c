/*
 * Access log lines. Each atom's value is escaped as Apache does (quotes,
 * backslashes and control bytes as \xHH), so a client can neither forge a
 * line nor break the format's quoting.
 */
#include "http/access_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "config/access_format.h"
#include "core/log.h"
#include "core/timefmt.h"
#include "http/request.h"
#include "http/response.h"
#include "net/conn.h"

#define LINE_BYTES 4096

struct line {
    char buf[LINE_BYTES];
    size_t n;
};

static void put_raw(struct line *l, const char *s, size_t len)
{
    if (len > sizeof(l->buf) - 1 - l->n)
        len = sizeof(l->buf) - 1 - l->n;
    memcpy(l->buf + l->n, s, len);
    l->n += len;
}

static void put(struct line *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    if (s == NULL || *s == '\0')
        s = "-";
    for (; *s && l->n + 4 < sizeof(l->buf) - 1; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            l->buf[l->n++] = '\\';
            l->buf[l->n++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            l->buf[l->n++] = '\\';
            l->buf[l->n++] = 'x';
            l->buf[l->n++] = hex[c >> 4];
            l->buf[l->n++] = hex[c & 15];
        } else {
            l->buf[l->n++] = (char)c;
        }
    }
}

static void putf(struct line *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void putf(struct line *l, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        put_raw(l, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A response header the handler set, copied into OUT, or NULL. */
static const char *response_header(const struct gn_response *res,
                                   const char *name, char *out, size_t room)
{
    const char *p = res->headers.data, *end = p + res->headers.len;
    size_t len = strlen(name);

    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));

        if (eol == NULL)
            break;
        if ((size_t)(eol - p) > len + 1 && p[len] == ':' &&
            strncasecmp(p, name, len) == 0) {
            snprintf(out, room, "%.*s", (int)(eol - p - len - 2), p + len + 2);
            return out;
        }
        p = eol + 2;
    }
    return NULL;
}

/* The user name of a Basic Authorization header (Gunicorn's %(u)s). */
static const char *basic_user(const struct gn_request *req, char *out,
                              size_t room)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *auth =
        req->target ? gn_request_header(req, "Authorization") : NULL;
    unsigned bits = 0, nbits = 0;
    size_t n = 0;

    if (auth == NULL || strncasecmp(auth, "Basic ", 6) != 0)
        return NULL;
    for (auth += 6; *auth && *auth != '=' && n + 1 < room; auth++) {
        const char *d = strchr(b64, *auth);

        if (d == NULL || *auth == '\0')
            return NULL;
        bits = bits << 6 | (unsigned)(d - b64);
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            out[n] = (char)(bits >> nbits & 0xff);
            if (out[n] == ':')
                break;
            n++;
        }
    }
    out[n] = '\0';
    return n ? out : NULL;
}

/* "[05/Dec/2026:07:41:15 +0000]", made once a second: localtime_r is the
 * dearest part of a line. Without the locale (an app may have set one). */
static void put_time(struct line *l)
{
    static char when[GN_TIME_CLF_LEN + 3];
    static size_t len;
    static time_t cached = -1;
    time_t now = time(NULL);

    if (now != cached) {
        when[0] = '[';
        len = 1 + gn__time_clf(when + 1, now);
        when[len++] = ']';
        cached = now;
    }
    put_raw(l, when, len);
}

static void put_request_line(struct line *l, const struct gn_request *req)
{
    if (req->target == NULL)
        return;
    put(l, req->method);
    put_raw(l, " ", 1);
    put(l, req->target);
    putf(l, " HTTP/%d.%d", req->version / 10, req->version % 10);
}

/* The atom A of the line. */
static void put_atom(struct line *l, const struct gn_access_part *a,
                     const struct gn_conn *c, const struct gn_request *req,
                     const struct gn_response *res, int64_t us)
{
    const char *remote = req->remote_addr ? req->remote_addr : c->remote_addr;
    const char *hdr = NULL;
    char tmp[256];

    switch (a->atom) {
    case 'h': put(l, remote); break;
    case 'l': put(l, "-"); break;
    case 'u': put(l, basic_user(req, tmp, sizeof(tmp))); break;
    case 't': put_time(l); break;
    case 'r': put_request_line(l, req); break;
    case 'm': put(l, req->target ? req->method : NULL); break;
    case 'U': put(l, req->path); break;
    case 'q': put(l, req->query); break;
    case 'H':
        putf(l, "HTTP/%d.%d", req->version / 10, req->version % 10);
        break;
    case 's': putf(l, "%d", res->status); break;
    case 'B': putf(l, "%llu", (unsigned long long)res->body_sent); break;
    case 'b':
        if (res->body_sent)
            putf(l, "%llu", (unsigned long long)res->body_sent);
        else
            put(l, "-");
        break;
    case 'f': hdr = "Referer"; break;
    case 'a': hdr = "User-Agent"; break;
    case 'T': putf(l, "%lld", (long long)(us / 1000000)); break;
    case 'M': putf(l, "%lld", (long long)(us / 1000)); break;
    case 'D': putf(l, "%lld", (long long)us); break;
    case 'L':
        putf(l, "%lld.%06lld", (long long)(us / 1000000),
             (long long)(us % 1000000));
        break;
    case 'p': putf(l, "<%d>", (int)getpid()); break;
    case 'i': hdr = a->text; break;
    case 'o': put(l, response_header(res, a->text, tmp, sizeof(tmp))); break;
    case 'e': put(l, getenv(a->text)); break;
    }
    if (hdr != NULL)
        put(l, req->target ? gn_request_header(req, hdr) : NULL);
}

void gn__access_log(const struct gn_access_format *f, const struct gn_conn *c,
                    const struct gn_request *req, const struct gn_response *res)
{
    struct line l;
    int64_t us;

    if (!gn__log_access_enabled())
        return;
    us = req->end_us - req->start_us;
    l.n = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (f->parts[i].atom == 0)
            put_raw(&l, f->parts[i].text, strlen(f->parts[i].text));
        else
            put_atom(&l, &f->parts[i], c, req, res, us);
    }
    if (res->log_extra != NULL) { /* an upgraded protocol's own figures */
        put_raw(&l, " ", 1);
        put_raw(&l, res->log_extra, strlen(res->log_extra));
    }
    l.buf[l.n++] = '\n';
    gn__log_access_line(l.buf, l.n);
}
