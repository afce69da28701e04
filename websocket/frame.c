/*
 * Frame heads, masks and close payloads (see frame.h). The head layout
 * (RFC 6455 5.2): FIN, RSV1-3 and the opcode in the first byte; MASK and a
 * 7-bit length in the second (126: a 16-bit length follows, 127: a 64-bit
 * one); then the 4-byte masking key, which every client frame carries.
 */
#include "websocket/frame.h"

#include <string.h>

#include "websocket/utf8.h"

static int reserved_opcode(unsigned op)
{
    return (op > GN_WS_OP_BINARY && op < GN_WS_OP_CLOSE) || op > GN_WS_OP_PONG;
}

int gn__ws_frame_parse(const uint8_t *p, size_t n, unsigned rsv_ok,
                       struct gn_ws_frame *f)
{
    size_t need = 2;
    unsigned len7;

    if (n < 2)
        return 0;
    f->fin = p[0] >> 7;
    f->rsv = (p[0] >> 4) & 0x7;
    f->opcode = p[0] & 0xf;
    f->masked = p[1] >> 7;
    len7 = p[1] & 0x7f;
    if (!f->masked || (f->rsv & ~rsv_ok) || reserved_opcode(f->opcode))
        return -GN_WS_CLOSE_PROTOCOL;
    if (gn__ws_is_control(f->opcode) &&
        (!f->fin || len7 > GN_WS_CONTROL_MAX || f->rsv))
        return -GN_WS_CLOSE_PROTOCOL;
    need += len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    need += 4;
    if (n < need)
        return 0;
    if (len7 == 126) {
        f->len = (uint64_t)p[2] << 8 | p[3];
    } else if (len7 == 127) {
        f->len = 0;
        for (int i = 0; i < 8; i++)
            f->len = f->len << 8 | p[2 + i];
        if (f->len >> 63)
            return -GN_WS_CLOSE_PROTOCOL;
    } else {
        f->len = len7;
    }
    memcpy(f->mask, p + need - 4, 4);
    f->head = need;
    return (int)need;
}

size_t gn__ws_frame_head(uint8_t out[GN_WS_HEAD_MAX], int fin, unsigned rsv,
                         unsigned opcode, uint64_t len)
{
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv & 0x7) << 4 | (opcode & 0xf));
    if (len <= GN_WS_CONTROL_MAX) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

void gn__ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4],
                   uint64_t offset)
{
    uint8_t key[8];
    uint64_t word, k;
    uint32_t m;
    unsigned r = (unsigned)(offset & 3) * 8;
    size_t i = 0;

    /* The key rotated to the offset (its byte J is MASK[(OFFSET + J) %
     * 4]), twice over: a rotation of the four bytes as a word. */
    memcpy(&m, mask, 4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    m = r ? (m >> r) | (m << (32 - r)) : m;
#else
    m = r ? (m << r) | (m >> (32 - r)) : m;
#endif
    k = (uint64_t)m << 32 | m;
    memcpy(key, &k, 8);
    /* Eight bytes at a time: the key, rotated to the offset, repeats. */
    for (; n - i >= 8; i += 8) {
        memcpy(&word, p + i, 8);
        word ^= k;
        memcpy(p + i, &word, 8);
    }
    for (; i < n; i++)
        p[i] ^= key[i & 7];
}

int gn__ws_close_code_valid(unsigned code)
{
    /* 1004-1006 and 1015 are reserved (1005, 1006, 1015 never go on the
     * wire); 1012-1014 are registered with IANA; 3000-4999 belong to
     * libraries and applications. */
    if (code >= 1000 && code <= 1003)
        return 1;
    if (code >= 1007 && code <= 1014)
        return 1;
    return code >= 3000 && code <= 4999;
}

int gn__ws_close_parse(const uint8_t *p, size_t n, unsigned *code)
{
    if (n == 0) {
        *code = GN_WS_CLOSE_NO_STATUS;
        return 0;
    }
    if (n == 1)
        return -GN_WS_CLOSE_PROTOCOL;
    *code = (unsigned)p[0] << 8 | p[1];
    if (!gn__ws_close_code_valid(*code))
        return -GN_WS_CLOSE_PROTOCOL;
    if (gn__utf8_feed(GN_UTF8_ACCEPT, p + 2, n - 2) != GN_UTF8_ACCEPT)
        return -GN_WS_CLOSE_BAD_DATA;
    return 0;
}

size_t gn__ws_close_payload(uint8_t out[GN_WS_CONTROL_MAX], unsigned code,
                            const char *reason)
{
    size_t len = reason ? strlen(reason) : 0;

    if (len > GN_WS_CONTROL_MAX - 2)
        len = GN_WS_CONTROL_MAX - 2;
    /* Not in the middle of a code point: back off continuation bytes. */
    while (len > 0 && len < strlen(reason) &&
           ((unsigned char)reason[len] & 0xc0) == 0x80)
        len--;
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    if (len)
        memcpy(out + 2, reason, len);
    return len + 2;
}

int gn__ws_seq_frame(struct gn_ws_seq *s, const struct gn_ws_frame *f)
{
    if (f->opcode == GN_WS_OP_CONT) {
        if (!s->open)
            return -GN_WS_CLOSE_PROTOCOL;
    } else {
        if (s->open)
            return -GN_WS_CLOSE_PROTOCOL;
        s->opcode = f->opcode;
    }
    s->open = !f->fin;
    return 0;
}
