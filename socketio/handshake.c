/*
 * The Engine.IO handshake's pure parts and the protocol's error answers:
 * see handshake.h. The JSON is written by jansson, so a sid or an app's
 * refusal message is escaped as JSON requires whatever it holds.
 */
#include "socketio/handshake.h"

#include <errno.h>
#include <string.h>

#include <jansson.h>

static const char *const MESSAGES[] = {
    [GN_EIO_UNKNOWN_TRANSPORT] = "Transport unknown",
    [GN_EIO_UNKNOWN_SID] = "Session ID unknown",
    [GN_EIO_BAD_HANDSHAKE_METHOD] = "Bad handshake method",
    [GN_EIO_BAD_REQUEST] = "Bad request",
    [GN_EIO_FORBIDDEN] = "Forbidden",
    [GN_EIO_UNSUPPORTED_PROTOCOL_VERSION] = "Unsupported protocol version",
};

const char *gn__eio_error_message(enum gn_eio_error code)
{
    if ((int)code < 0 || (size_t)code >= sizeof(MESSAGES) / sizeof(MESSAGES[0]))
        return NULL;
    return MESSAGES[code];
}

int gn__eio_error_status(enum gn_eio_error code)
{
    return code == GN_EIO_FORBIDDEN ? 403 : 400;
}

/* json_dump_callback's writer: append to the gn_buf in DATA. */
static int dump_to_buf(const char *p, size_t n, void *data)
{
    return gn__buf_append(data, p, n) < 0 ? -1 : 0;
}

/* Dump V (a new reference, released here) compactly into OUT. */
static int dump(struct gn_buf *out, json_t *v)
{
    int rc = v == NULL ? -ENOMEM : 0;

    if (rc == 0 && json_dump_callback(v, dump_to_buf, out, JSON_COMPACT) != 0)
        rc = out->err ? out->err : -EINVAL;
    json_decref(v);
    return rc;
}

int gn__eio_error_body(struct gn_buf *out, enum gn_eio_error code,
                       const char *message)
{
    const char *own = gn__eio_error_message(code);

    if (own == NULL)
        return -EINVAL;
    return dump(out, json_pack("{s:i,s:s}", "code", (int)code, "message",
                               message ? message : own));
}

static bool is(const char *s, const char *want)
{
    return s != NULL && strcmp(s, want) == 0;
}

enum gn_eio_error gn__eio_check(const struct gn_eio_request *r)
{
    if (!is(r->transport, "polling") && !is(r->transport, "websocket"))
        return GN_EIO_UNKNOWN_TRANSPORT;
    if (r->sid != NULL) {
        if (!r->sid_known)
            return GN_EIO_UNKNOWN_SID;
        if (!r->ws_upgrade && !is(r->transport, r->session_transport))
            return GN_EIO_BAD_REQUEST;
        return GN_EIO_OK;
    }
    if (!r->get)
        return GN_EIO_BAD_HANDSHAKE_METHOD;
    if (is(r->transport, "websocket") && !r->ws_upgrade)
        return GN_EIO_BAD_REQUEST;
    if (!is(r->eio, "4"))
        return GN_EIO_UNSUPPORTED_PROTOCOL_VERSION;
    return GN_EIO_OK;
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode S[0, N) into OUT[CAP]: its length, or a negative errno
 * as gn__eio_query_get says. */
static long decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t len = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < n ? hex(s[i + 1]) : -1;
            int lo = i + 2 < n ? hex(s[i + 2]) : -1;

            if (hi < 0 || lo < 0 || (hi | lo) == 0)
                return -EINVAL;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (len + 1 >= cap)
            return -ENAMETOOLONG;
        out[len++] = c;
    }
    out[len] = '\0';
    return (long)len;
}

long gn__eio_query_get(const char *query, const char *name, char *out,
                       size_t cap)
{
    size_t name_len = strlen(name);

    if (cap == 0)
        return -ENAMETOOLONG;
    for (const char *p = query; p != NULL && *p != '\0';) {
        const char *end = strchr(p, '&');
        size_t n = end ? (size_t)(end - p) : strlen(p);

        if (n > name_len && memcmp(p, name, name_len) == 0 &&
            p[name_len] == '=')
            return decode(p + name_len + 1, n - name_len - 1, out, cap);
        if (n == name_len && memcmp(p, name, name_len) == 0)
            return decode(p, 0, out, cap); /* "name" alone: empty */
        p = end ? end + 1 : NULL;
    }
    return -ENOENT;
}

int gn__eio_open_json(struct gn_buf *out, const struct gn_eio_open *o)
{
    if (o->sid == NULL)
        return -EINVAL;
    return dump(out,
                json_pack("{s:s,s:[s*],s:I,s:I,s:I}", "sid", o->sid, "upgrades",
                          o->upgrade_websocket ? "websocket" : NULL,
                          "pingInterval", (json_int_t)o->ping_interval,
                          "pingTimeout", (json_int_t)o->ping_timeout,
                          "maxPayload", (json_int_t)o->max_payload));
}
