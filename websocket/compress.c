/*
 * permessage-deflate plugged into a WebSocket (see compress.h): the
 * handshake's negotiation from the request's Sec-WebSocket-Extensions
 * lines, and the gn_ws_ext transform over websocket/deflate.c.
 *
 * The policy is deflate.c's default, fixed: no context takeover either
 * way, so no zlib state outlives a message and an idle WebSocket holds a
 * few dozen bytes of its own (the worker's zlib streams are shared).
 *
 * Without context takeover a message compresses to the same bytes on
 * every socket with the same server_max_window_bits. A fan-out sends one
 * message to many sockets in a row, so the thread keeps the last message
 * compressed (up to REUSE_MAX bytes of it) and, when the next one is the
 * same, copies the result instead of compressing again: a memcmp and two
 * memcpy on a miss (a few hundred ns for 1 KiB against ~20 us to
 * compress it), and the whole compression saved on a hit.
 */
#include "websocket/compress.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "http/response.h"
#include "websocket/deflate.h"
#include "websocket/frame.h"
#include "websocket/ws.h"

/*
 * GN_WS_COMPRESS_MIN (in compress.h), measured on this machine (2 cores,
 * loaded) with slices of JSON event records, level 6, the shared stream
 * reset per message:
 *
 *      size  ->  compressed    compress   inflate
 *      64 B  ->   59 B (92%)    3.4 us    0.2 us
 *     128 B  ->   93 B (73%)    4.1 us    1.5 us
 *     256 B  ->  127 B (50%)    4.4 us    1.7 us
 *     512 B  ->  204 B (40%)    6.1 us    2.0 us
 *    1024 B  ->  331 B (32%)    9.9 us    3.0 us
 *    4096 B  ->  960 B (23%)   22.3 us    4.5 us
 *
 * A fixed ~3 us a message (resetting the stream, the flush) dominates
 * below 1 KiB, and a message under 1 KiB fits one TCP segment (MSS 1448)
 * whether compressed or not: compressing it saves bytes but no packet nor
 * round trip, for 3-10 us of CPU in a loop, more in a busy worker
 * (bench/ws_compression.py: a 1 KiB echo costs 13-19 us of server CPU
 * without compression, ~44 us with it, libz 58% of it by perf). From 1 KiB
 * on it saves whole segments. So 1 KiB, Node's ws's threshold too.
 */

/* Messages up to this size are kept for a fan-out's next socket. */
#define REUSE_MAX (64 * 1024)

struct gn_ws_pmd {
    struct gn_ws_deflate *d;
    int wbits; /* server_max_window_bits: what the compressed bytes depend on */
};

/* The thread's last compressed message: IN[0, INLEN) then its result
 * [INLEN, INLEN + OUTLEN) in one block. */
static _Thread_local struct {
    unsigned char *buf;
    size_t inlen, outlen;
    int wbits;
    unsigned long compressed, reused;
} last;

struct gn_ws_pmd *gn__ws_pmd_new(const struct gn_ws_deflate_params *params)
{
    struct gn_ws_pmd *p = malloc(sizeof(*p));

    if (p == NULL)
        return NULL;
    p->d = gn__ws_deflate_new(params);
    if (p->d == NULL) {
        free(p);
        return NULL;
    }
    p->wbits = params->server_no_context_takeover
                   ? params->server_max_window_bits
                   : 0; /* 0: a context carries over, nothing is reused */
    return p;
}

void gn__ws_pmd_free(struct gn_ws_pmd *p)
{
    if (p == NULL)
        return;
    gn__ws_deflate_free(p->d);
    free(p);
}

/* Sec-WebSocket-Extensions lines read at once; more are rare enough for a
 * malloc. The negotiation's buffers are the thread's, not the stack's: it
 * runs on the handler's coroutine stack, whose pages stay resident once
 * touched for as long as the WebSocket lives (one page more is 4 KB per
 * idle socket: tests/e2e/test_memory.py), so it keeps its frames small.
 * It never yields. */
#define LINES_AT_ONCE 8

static _Thread_local struct {
    const char *values[LINES_AT_ONCE];
    size_t lens[LINES_AT_ONCE];
    struct gn_ws_deflate_params params;
    char answer[GN_WS_DEFLATE_RESPONSE_MAX];
} scratch;

struct gn_ws_pmd *gn__ws_pmd_negotiate(gn_request_t *req, gn_response_t *res)
{
    struct gn_ws_deflate_policy pol;
    const char **values = scratch.values;
    size_t *lens = scratch.lens;
    size_t count = gn_request_header_count(req), n = 0;
    struct gn_ws_pmd *p = NULL;

    gn__ws_deflate_policy_default(&pol);
    pol.enabled = gn__ws_settings()->compression != 0;
    if (!pol.enabled || gn_request_header(req, "Sec-WebSocket-Extensions") == NULL)
        return NULL;
    if (count > LINES_AT_ONCE) {
        values = malloc(count * sizeof(*values));
        lens = malloc(count * sizeof(*lens));
        if (values == NULL || lens == NULL)
            goto out;
    }
    for (size_t i = 0; i < count; i++) {
        const char *name, *value;

        if (gn_request_header_at(req, i, &name, &value) == 0 &&
            strcasecmp(name, "Sec-WebSocket-Extensions") == 0) {
            values[n] = value;
            lens[n++] = strlen(value);
        }
    }
    if (!gn__ws_deflate_negotiate(&pol, values, lens, n, &scratch.params,
                                  scratch.answer))
        goto out;
    p = gn__ws_pmd_new(&scratch.params);
    if (p == NULL) {
        gn_log_warn("out of memory for permessage-deflate: going on without");
    } else if (gn_response_header(res, "Sec-WebSocket-Extensions",
                                  scratch.answer) != 0) {
        gn__ws_pmd_free(p);
        p = NULL;
    }
out:
    if (values != scratch.values) {
        free(values);
        free(lens);
    }
    return p;
}

static int pmd_decode(void *state, const void *in, size_t len, size_t max,
                      struct gn_ws_zbuf *out)
{
    struct gn_ws_pmd *p = state;

    return gn__ws_deflate_decompress(p->d, in, len, true, max, out);
}

/* Keep IN[0, LEN) and its result OUT for the next socket. */
static void remember(struct gn_ws_pmd *p, const void *in, size_t len,
                     const struct gn_ws_zbuf *out)
{
    unsigned char *buf;

    if (p->wbits == 0 || len > REUSE_MAX)
        return;
    buf = realloc(last.buf, len + out->len);
    if (buf == NULL)
        return; /* nothing reused: no harm */
    memcpy(buf, in, len);
    memcpy(buf + len, out->data, out->len);
    last.buf = buf;
    last.inlen = len;
    last.outlen = out->len;
    last.wbits = p->wbits;
}

/* Whether IN[0, LEN) is the last message: its result then copied to OUT
 * (empty when it went uncompressed). 1, 0, or -ENOMEM. */
static int reuse(const struct gn_ws_pmd *p, const void *in, size_t len,
                 struct gn_ws_zbuf *out)
{
    if (last.buf == NULL || p->wbits == 0 || p->wbits != last.wbits ||
        len != last.inlen || memcmp(last.buf, in, len) != 0)
        return 0;
    if (last.outlen > 0) {
        out->data = malloc(last.outlen);
        if (out->data == NULL)
            return -ENOMEM;
        memcpy(out->data, last.buf + len, last.outlen);
        out->len = out->cap = last.outlen;
    }
    last.reused++;
    return 1;
}

static int pmd_encode(void *state, const void *in, size_t len,
                      struct gn_ws_zbuf *out)
{
    struct gn_ws_pmd *p = state;
    int rc;

    if (len < GN_WS_COMPRESS_MIN)
        return 1;
    if ((rc = reuse(p, in, len, out)) != 0)
        return rc < 0 ? rc : out->len == 0;
    if ((rc = gn__ws_deflate_compress(p->d, in, len, out)) < 0)
        return rc;
    last.compressed++;
    /* Data that does not compress (already compressed, random) goes as
     * it is: the client need not inflate a longer copy. */
    if (out->len >= len)
        out->len = 0;
    remember(p, in, len, out);
    return out->len == 0 ? 1 : 0;
}

static void pmd_free(void *state)
{
    gn__ws_pmd_free(state);
}

const struct gn_ws_ext gn__ws_pmd_ext = {
    .rsv = GN_WS_RSV1,
    .decode = pmd_decode,
    .encode = pmd_encode,
    .free = pmd_free,
};

void gn__ws_pmd_attach(struct gn_ws *ws, struct gn_ws_pmd *p)
{
    gn__ws_set_ext(ws, &gn__ws_pmd_ext, p);
}

void gn__ws_pmd_counts(unsigned long *compressed, unsigned long *reused)
{
    *compressed = last.compressed;
    *reused = last.reused;
}

void gn__ws_pmd_cache_free(void)
{
    free(last.buf);
    last.buf = NULL;
    last.inlen = last.outlen = 0;
}
