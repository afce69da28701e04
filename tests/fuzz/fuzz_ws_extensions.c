/*
 * Fuzz target: permessage-deflate (websocket/deflate.c). The input is
 *     FLAGS STEP HEADER [0xff PAYLOAD]
 * HEADER, split into header lines at each '\r', is negotiated as a
 * request's Sec-WebSocket-Extensions; PAYLOAD is inflated as a message in
 * pieces of STEP bytes under a limit FLAGS chooses, with the parameters
 * agreed (or, when none were, ones FLAGS chooses), then once more for
 * context takeover. Beside memory safety the target checks that an
 * accepted answer is itself an acceptable offer, that the output never
 * passes the limit (nor its buffer), and that whatever inflated, and the
 * payload itself, compress and inflate back to the same bytes.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "websocket/deflate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LINES 8

static const size_t limits[4] = {0, 64, 4096, 1 << 20};

/* Negotiate HEADER[0, LEN), split at '\r'; check the answer. */
static int negotiate(const struct gn_ws_deflate_policy *pol, const char *hdr,
                     size_t len, struct gn_ws_deflate_params *p)
{
    const char *v[MAX_LINES];
    size_t n[MAX_LINES], k = 0;
    char resp[GN_WS_DEFLATE_RESPONSE_MAX], again[GN_WS_DEFLATE_RESPONSE_MAX];
    struct gn_ws_deflate_params q;
    const char *s = hdr, *end = hdr + len, *cr;
    int rc;

    while (k < MAX_LINES && s <= end) {
        cr = memchr(s, '\r', (size_t)(end - s));
        if (cr == NULL || k == MAX_LINES - 1)
            cr = end;
        v[k] = s;
        n[k++] = (size_t)(cr - s);
        s = cr + 1;
    }
    rc = gn__ws_deflate_negotiate(pol, v, n, k, p, resp);
    if (rc != 0 && rc != 1)
        abort();
    if (rc == 0)
        return 0;
    if (memchr(resp, '\0', sizeof(resp)) == NULL ||
        p->server_max_window_bits < 9 || p->server_max_window_bits > 15 ||
        p->client_max_window_bits < 8 || p->client_max_window_bits > 15 ||
        (!pol->takeover && (!p->server_no_context_takeover ||
                            !p->client_no_context_takeover)))
        abort();
    /* Our answer, offered back, is accepted and answered the same. */
    v[0] = resp;
    n[0] = strlen(resp);
    if (gn__ws_deflate_negotiate(pol, v, n, 1, &q, again) != 1 ||
        strcmp(resp, again) != 0)
        abort();
    return 1;
}

/* Inflate IN in pieces of STEP under LIMIT into OUT; check the limit. */
static int inflate_msg(struct gn_ws_deflate *d, const uint8_t *in, size_t len,
                       size_t step, size_t limit, struct gn_ws_zbuf *out)
{
    size_t off = 0;
    int rc;

    out->len = 0;
    do {
        size_t k = len - off < step ? len - off : step;

        rc = gn__ws_deflate_decompress(d, in + off, k, off + k == len, limit, out);
        off += k;
        if (out->len > limit || out->cap > limit)
            abort();
    } while (rc == 0 && off < len);
    if (rc != 0 && rc != -EMSGSIZE && rc != -EBADMSG)
        abort();
    return rc;
}

/* MSG compresses with P and inflates back to itself on a peer whose
 * inflater is set up for our compressor (the server's parameters as the
 * client's), twice: with takeover the second refers to the first. */
static void round_trip(const struct gn_ws_deflate_params *p, const void *msg,
                       size_t len)
{
    struct gn_ws_deflate_params peer = {
        .server_no_context_takeover = p->server_no_context_takeover,
        .client_no_context_takeover = p->server_no_context_takeover,
        .server_max_window_bits = p->server_max_window_bits,
        .client_max_window_bits = p->server_max_window_bits,
    };
    struct gn_ws_deflate *tx = gn__ws_deflate_new(p), *rx = gn__ws_deflate_new(&peer);
    struct gn_ws_zbuf z = {0}, back = {0};

    if (tx == NULL || rx == NULL)
        abort();
    for (int i = 0; i < 2; i++) {
        z.len = 0;
        if (gn__ws_deflate_compress(tx, msg, len, &z) != 0 ||
            inflate_msg(rx, z.data, z.len, z.len + 1, len, &back) != 0 ||
            back.len != len || (len > 0 && memcmp(back.data, msg, len) != 0))
            abort();
    }
    free(z.data);
    free(back.data);
    gn__ws_deflate_free(tx);
    gn__ws_deflate_free(rx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gn_ws_deflate_policy pol;
    struct gn_ws_deflate_params p;
    struct gn_ws_deflate *d;
    struct gn_ws_zbuf out = {0};
    const uint8_t *sep, *payload;
    size_t hlen, plen, step, limit;
    uint8_t flags;

    if (size < 2)
        return 0;
    flags = data[0];
    step = data[1] ? data[1] : SIZE_MAX;
    data += 2;
    size -= 2;
    sep = memchr(data, 0xff, size);
    hlen = sep ? (size_t)(sep - data) : size;
    payload = sep ? sep + 1 : data + size;
    plen = sep ? size - hlen - 1 : 0;
    limit = limits[flags & 3];

    gn__ws_deflate_policy_default(&pol);
    pol.takeover = flags & 4;
    pol.client_window_bits = 8 + ((flags >> 3) & 7);
    if (!negotiate(&pol, (const char *)data, hlen, &p))
        p = (struct gn_ws_deflate_params){!(flags & 4), !(flags & 4),
                                          9 + ((flags >> 5) & 3) * 2,
                                          8 + ((flags >> 3) & 7)};
    d = gn__ws_deflate_new(&p);
    if (d == NULL)
        abort();
    for (int i = 0; i < 2; i++) {
        if (inflate_msg(d, payload, plen, step, limit, &out) != 0)
            break;
        round_trip(&p, out.data, out.len);
    }
    if (plen <= 4096)
        round_trip(&p, payload, plen);
    free(out.data);
    gn__ws_deflate_free(d);
    return 0;
}
