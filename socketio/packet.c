/*
 * Socket.IO 5 packets: the head read by hand, the data by jansson; see
 * packet.h. The reference decoder (socket.io-parser) is followed where it
 * refuses, and is stricter where it reads what no encoder writes: an
 * attachment count without digits ("5-"), an ack without an id, an event
 * without a name, a count the placeholders do not match.
 */
#include "socketio/packet.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socketio/binary.h"
#include "websocket/utf8.h"

/* Event names the client libraries keep for themselves: an EVENT naming
 * one is refused, as socket.io-parser does. */
static const char *const RESERVED[] = {
    "connect",       "connect_error", "disconnect",
    "disconnecting", "newListener",   "removeListener",
};

static int fail(char err[GN_ERR_LEN], int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char err[GN_ERR_LEN], int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, GN_ERR_LEN, fmt, ap);
    va_end(ap);
    /* The reason may quote the client's bytes (jansson's "near '...'"):
     * keep what is logged printable ASCII. */
    for (char *c = err; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            *c = '?';
    return rc;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Read decimal digits at P[*I, N) into *V (at most MAX). The number of
 * digits read, or -1 when the value passes MAX. */
static int read_number(const char *p, size_t n, size_t *i, uint64_t max,
                       uint64_t *v)
{
    int k = 0;

    for (*v = 0; *i < n && is_digit(p[*i]); (*i)++, k++) {
        unsigned d = (unsigned)(p[*i] - '0');

        if (*v > (max - d) / 10)
            return -1;
        *v = *v * 10 + d;
    }
    return k;
}

/* Whether the JSON text P[0, N) nests deeper than MAX: brackets counted
 * outside strings, before jansson recurses once per level. */
static bool too_deep(const char *p, size_t n, unsigned max)
{
    unsigned depth = 0;
    bool in_string = false;

    for (size_t i = 0; i < n; i++) {
        char c = p[i];

        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                return true;
        } else if (c == ']' || c == '}') {
            depth -= depth > 0;
        }
    }
    return false;
}

/* Parse the JSON text P[0, N). Integers past 64 bits are JavaScript
 * numbers like any other (JSON.stringify writes 1e20 as 21 digits), so a
 * text holding one is read again with every integer as a double, as the
 * client would, rather than refused. */
static json_t *parse_json(const char *p, size_t n, char err[GN_ERR_LEN])
{
    const size_t flags =
        JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY;
    json_error_t e;
    json_t *v = json_loadb(p, n, flags, &e);

    if (v == NULL && json_error_code(&e) == json_error_numeric_overflow)
        v = json_loadb(p, n, flags | JSON_DECODE_INT_AS_REAL, &e);
    if (v == NULL)
        fail(err, 0, "invalid JSON: %s at byte %d", e.text, e.position);
    return v;
}

static bool reserved(const char *name)
{
    for (size_t i = 0; i < sizeof(RESERVED) / sizeof(RESERVED[0]); i++)
        if (strcmp(name, RESERVED[i]) == 0)
            return true;
    return false;
}

/* Whether DATA (NULL: none) is what a packet of TYPE may carry; if not,
 * ERR says why. */
static bool data_valid(const struct gn_sio_packet *pkt, char err[GN_ERR_LEN])
{
    const json_t *d = pkt->data, *name;

    if (pkt->id != GN_SIO_NO_ID && pkt->type != GN_SIO_EVENT &&
        pkt->type != GN_SIO_ACK && pkt->type != GN_SIO_BINARY_EVENT &&
        pkt->type != GN_SIO_BINARY_ACK)
        return fail(err, 0, "an ack id on a packet that takes none"), false;
    switch (pkt->type) {
    case GN_SIO_CONNECT:
        if (d == NULL || json_is_object(d))
            return true;
        return fail(err, 0, "CONNECT data is not an object"), false;
    case GN_SIO_DISCONNECT:
        if (d == NULL)
            return true;
        return fail(err, 0, "DISCONNECT carries data"), false;
    case GN_SIO_CONNECT_ERROR:
        if (json_is_string(d) || json_is_object(d))
            return true;
        return fail(err, 0,
                    "CONNECT_ERROR data is neither a string nor an object"),
               false;
    case GN_SIO_EVENT:
    case GN_SIO_BINARY_EVENT:
        name = json_array_get(d, 0);
        if (json_is_number(name))
            return true;
        if (!json_is_string(name))
            return fail(err, 0, "event without a name"), false;
        if (strlen(json_string_value(name)) == json_string_length(name) &&
            reserved(json_string_value(name)))
            return fail(err, 0, "reserved event name \"%s\"",
                        json_string_value(name)),
                   false;
        return true;
    case GN_SIO_ACK:
    case GN_SIO_BINARY_ACK:
        if (!json_is_array(d))
            return fail(err, 0, "ACK data is not an array"), false;
        if (pkt->id == GN_SIO_NO_ID)
            return fail(err, 0, "ACK without an id"), false;
        return true;
    }
    return false;
}

/* The head's fields up to the data; *I is then where the data starts. */
static int decode_head(const char *p, size_t n, const struct gn_sio_limits *lim,
                       struct gn_sio_packet *pkt, size_t *i,
                       char err[GN_ERR_LEN])
{
    uint64_t v;

    if (n == 0)
        return fail(err, -EBADMSG, "empty packet");
    if (p[0] < '0' || p[0] > '0' + GN_SIO_BINARY_ACK)
        return fail(err, -EPROTONOSUPPORT, "unknown packet type 0x%02x",
                    (unsigned char)p[0]);
    pkt->type = (enum gn_sio_type)(p[0] - '0');
    *i = 1;
    if (pkt->type == GN_SIO_BINARY_EVENT || pkt->type == GN_SIO_BINARY_ACK) {
        int k = read_number(p, n, i, UINT32_MAX, &v);

        if (k <= 0 || *i == n || p[*i] != '-')
            return fail(err, -EBADMSG, "illegal attachment count");
        if (v > lim->max_attachments)
            return fail(err, -E2BIG, "%llu attachments, more than %u",
                        (unsigned long long)v, lim->max_attachments);
        pkt->attachments = (unsigned)v;
        (*i)++;
    }
    if (*i < n && p[*i] == '/') {
        const char *comma = memchr(p + *i, ',', n - *i);
        size_t end = comma ? (size_t)(comma - p) : n;

        pkt->nsp = p + *i;
        pkt->nsp_len = end - *i;
        if (gn__utf8_feed(GN_UTF8_ACCEPT, pkt->nsp, pkt->nsp_len) !=
            GN_UTF8_ACCEPT)
            return fail(err, -EBADMSG, "namespace is not UTF-8");
        *i = comma ? end + 1 : n;
    }
    if (*i < n && is_digit(p[*i])) {
        if (read_number(p, n, i, INT64_MAX, &v) < 0)
            return fail(err, -EBADMSG, "ack id out of range");
        pkt->id = (int64_t)v;
    }
    return 0;
}

int gn__sio_decode(const char *p, size_t n, const struct gn_sio_limits *lim,
                   struct gn_sio_packet *pkt, char err[GN_ERR_LEN])
{
    size_t i = 0;
    int rc;

    *pkt = (struct gn_sio_packet){.nsp = "/", .nsp_len = 1, .id = GN_SIO_NO_ID};
    rc = decode_head(p, n, lim, pkt, &i, err);
    if (rc < 0)
        goto fail_head;
    if (i < n) {
        if (too_deep(p + i, n - i, lim->max_depth)) {
            rc =
                fail(err, -E2BIG, "JSON nested deeper than %u", lim->max_depth);
            goto fail_head;
        }
        pkt->data = parse_json(p + i, n - i, err);
        if (pkt->data == NULL) {
            rc = -EBADMSG;
            goto fail_head;
        }
    }
    if (!data_valid(pkt, err)) {
        rc = -EBADMSG;
        goto fail_data;
    }
    rc = gn__sio_placeholders(pkt, err);
    if (rc < 0)
        goto fail_data;
    return 0;

fail_data:
    gn__sio_packet_clear(pkt);
    return rc;
fail_head:
    *pkt = (struct gn_sio_packet){.nsp = "/", .nsp_len = 1, .id = GN_SIO_NO_ID};
    return rc;
}

void gn__sio_packet_clear(struct gn_sio_packet *pkt)
{
    json_decref(pkt->data);
    free(pkt->slots);
    *pkt = (struct gn_sio_packet){.nsp = "/", .nsp_len = 1, .id = GN_SIO_NO_ID};
}

/* json_dump_callback's writer: append to the gn_buf in DATA. */
static int dump_to_buf(const char *p, size_t n, void *data)
{
    return gn__buf_append(data, p, n) < 0 ? -1 : 0;
}

int gn__sio_encode_text(struct gn_buf *out, const struct gn_sio_packet *pkt)
{
    char type = (char)('0' + pkt->type);

    gn__buf_append(out, &type, 1);
    if (pkt->type == GN_SIO_BINARY_EVENT || pkt->type == GN_SIO_BINARY_ACK) {
        gn__buf_append_u64(out, pkt->attachments);
        gn__buf_append(out, "-", 1);
    }
    if (!(pkt->nsp_len == 1 && pkt->nsp[0] == '/') && pkt->nsp_len) {
        gn__buf_append(out, pkt->nsp, pkt->nsp_len);
        gn__buf_append(out, ",", 1);
    }
    if (pkt->id != GN_SIO_NO_ID)
        gn__buf_append_u64(out, (unsigned long long)pkt->id);
    if (out->err)
        return out->err;
    /* Real numbers with 17 digits: exact, where fewer could change the
     * value a client reads back. */
    if (pkt->data && json_dump_callback(pkt->data, dump_to_buf, out,
                                        JSON_COMPACT | JSON_ENCODE_ANY |
                                            JSON_REAL_PRECISION(17)) != 0)
        return out->err ? out->err : -EINVAL;
    return 0;
}
