/*
 * Fuzz target: the WebSocket frame parser and what ws.c does with each
 * frame (websocket/frame.c, websocket/utf8.c), on arbitrary bytes from a
 * client. The input is read as ws.c reads a connection: heads parsed from
 * whatever has arrived, payloads unmasked, control frames' close payloads
 * checked, data frames put in order, text validated across fragments.
 * Beside memory safety it checks that a head is complete at exactly one
 * length (every shorter prefix asks for more, with no error an earlier
 * prefix did not give), that unmasking twice restores the bytes, at any
 * offset split, and that a valid head rebuilds to the same length.
 *
 * With RSV1 negotiated (the first input byte odd) it also follows the
 * compressed path: RSV1 only on a message's first frame, the compressed
 * frames reassembled and inflated by websocket/compress.c's transform
 * within LIMIT (never growing past it), inflated text checked whole, and
 * what inflated compresses and inflates back to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "websocket/compress.h"
#include "websocket/frame.h"
#include "websocket/utf8.h"
#include "websocket/ws.h"

/* websocket_max_message for the compressed path: small, so that a bomb
 * in the input hits it. */
#define LIMIT 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parse from a buffer of exactly N bytes, so ASan sees a read past them. */
static int parse(const uint8_t *p, size_t n, unsigned rsv_ok,
                 struct gn_ws_frame *f)
{
    uint8_t *buf = malloc(n ? n : 1);
    int rc;

    if (buf == NULL)
        abort();
    memcpy(buf, p, n);
    rc = gn__ws_frame_parse(buf, n, rsv_ok, f);
    free(buf);
    return rc;
}

static void check_prefixes(const uint8_t *p, size_t n, unsigned rsv_ok, int rc)
{
    struct gn_ws_frame f;

    size_t end = rc > 0 ? (size_t)rc : n < GN_WS_HEAD_MAX ? n : GN_WS_HEAD_MAX;

    for (size_t k = 0; k < end; k++) {
        int r = parse(p, k, rsv_ok, &f);

        /* A prefix of a good (or incomplete) head asks for more; one of a
         * bad head may already be refused, with the same code. */
        if (rc >= 0 ? r != 0 : (r > 0 || (r < 0 && r != rc)))
            abort();
    }
}

static void check_unmask(uint8_t *p, size_t n, const uint8_t mask[4])
{
    uint8_t *copy = malloc(n ? n : 1);
    size_t cut = n ? (p[0] % (n + 1)) : 0;

    if (copy == NULL)
        abort();
    memcpy(copy, p, n);
    gn__ws_unmask(p, cut, mask, 0);
    gn__ws_unmask(p + cut, n - cut, mask, cut);
    gn__ws_unmask(p, n, mask, 0);
    if (memcmp(copy, p, n) != 0)
        abort();
    free(copy);
}

static void check_rebuild(const struct gn_ws_frame *f)
{
    uint8_t h[GN_WS_HEAD_MAX];
    size_t n = gn__ws_frame_head(h, f->fin, f->rsv, f->opcode, f->len);

    if (n + 4 > f->head || n < 2)
        abort(); /* the minimal head is never longer than the client's */
}

/* Append P[0, N) to B. */
static void append(struct gn_ws_zbuf *b, const uint8_t *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = b->len + n;
        b->data = realloc(b->data, b->cap ? b->cap : 1);
        if (b->data == NULL)
            abort();
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* A compressed message M ended: inflate it as ws.c would. 0 to go on, -1
 * for a close. */
static int inflate_message(struct gn_ws_pmd *pmd, const struct gn_ws_zbuf *m,
                           unsigned opcode)
{
    struct gn_ws_zbuf out = {0}, z = {0}, back = {0};
    int rc = gn__ws_pmd_ext.decode(pmd, m->data, m->len, LIMIT, &out);

    if (out.len > LIMIT || out.cap > LIMIT)
        abort(); /* inflated past the limit */
    if (rc == 0 && opcode == GN_WS_OP_TEXT &&
        gn__utf8_feed(GN_UTF8_ACCEPT, out.data, out.len) != GN_UTF8_ACCEPT)
        rc = -1; /* 1007 */
    if (rc == 0) {
        int enc = gn__ws_pmd_ext.encode(pmd, out.data, out.len, &z);

        if (enc < 0)
            abort();
        if (enc == 0 &&
            (gn__ws_pmd_ext.decode(pmd, z.data, z.len, LIMIT, &back) != 0 ||
             back.len != out.len ||
             (out.len && memcmp(back.data, out.data, out.len) != 0)))
            abort(); /* what we send does not read back */
    }
    free(out.data);
    free(z.data);
    free(back.data);
    return rc == 0 ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct gn_ws_deflate_params params = {true, true, 15, 15};
    struct gn_ws_pmd *pmd = NULL;
    struct gn_ws_zbuf msg = {0};
    unsigned msg_rsv = 0;
    uint8_t *buf = malloc(size ? size : 1);
    struct gn_ws_seq seq = {0};
    uint32_t utf8 = GN_UTF8_ACCEPT;
    /* The first byte picks whether RSV1 is negotiated (deflate). */
    unsigned rsv_ok = size && (data[0] & 1) ? GN_WS_RSV1 : 0;
    size_t pos = size ? 1 : 0;

    if (buf == NULL)
        abort();
    if (rsv_ok && (pmd = gn__ws_pmd_new(&params)) == NULL)
        abort();
    memcpy(buf, data, size);
    while (pos < size) {
        struct gn_ws_frame f;
        int rc = parse(buf + pos, size - pos, rsv_ok, &f);
        uint8_t *p;
        unsigned code;

        check_prefixes(buf + pos, size - pos, rsv_ok, rc);
        if (rc <= 0)
            break; /* an error closes; 0 waits for more */
        check_rebuild(&f);
        if (f.len > size - pos - (size_t)rc)
            break; /* the payload has not all arrived */
        p = buf + pos + rc;
        check_unmask(p, (size_t)f.len, f.mask);
        gn__ws_unmask(p, (size_t)f.len, f.mask, 0);
        pos += (size_t)rc + (size_t)f.len;
        if (gn__ws_is_control(f.opcode)) {
            if (f.opcode == GN_WS_OP_CLOSE &&
                gn__ws_close_parse(p, (size_t)f.len, &code) == 0 &&
                code != 1005 && !gn__ws_close_code_valid(code))
                abort();
            continue;
        }
        int first = !seq.open;
        if (gn__ws_seq_frame(&seq, &f) != 0)
            break;
        if (first) {
            utf8 = GN_UTF8_ACCEPT;
            msg_rsv = f.rsv;
            msg.len = 0;
        } else if (f.rsv) {
            break; /* RSV1 past the first frame: 1002 */
        }
        if (msg_rsv) {
            if (msg.len + f.len > 2 * LIMIT)
                break; /* 1009 from the head */
            append(&msg, p, (size_t)f.len);
            if (f.fin && inflate_message(pmd, &msg, seq.opcode) != 0)
                break;
            continue;
        }
        if (seq.opcode == GN_WS_OP_TEXT) {
            utf8 = gn__utf8_feed(utf8, p, (size_t)f.len);
            if (utf8 == GN_UTF8_REJECT)
                break;
        }
    }
    free(buf);
    free(msg.data);
    gn__ws_pmd_free(pmd);
    return 0;
}
