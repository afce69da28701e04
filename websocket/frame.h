/*
 * RFC 6455 frames, as pure functions over bytes: parse a client frame's
 * head and check it, build a server frame's head, unmask a payload in
 * place, check a close payload, and follow the order of frames within
 * messages. No I/O and no allocation, so each piece is unit-tested and
 * fuzzed on its own; websocket/ws.c drives them over a connection.
 *
 * A check that fails returns the close code RFC 6455 asks for (1002 for
 * the framing, 1007 for bad UTF-8), so the caller closes with exactly it.
 */
#ifndef GN_WEBSOCKET_FRAME_H
#define GN_WEBSOCKET_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum gn_ws_opcode {
    GN_WS_OP_CONT = 0x0,
    GN_WS_OP_TEXT = 0x1,
    GN_WS_OP_BINARY = 0x2,
    GN_WS_OP_CLOSE = 0x8,
    GN_WS_OP_PING = 0x9,
    GN_WS_OP_PONG = 0xa,
};

/* Close codes the server sends (RFC 6455 7.4.1). */
#define GN_WS_CLOSE_NORMAL 1000
#define GN_WS_CLOSE_GOING_AWAY 1001
#define GN_WS_CLOSE_PROTOCOL 1002
#define GN_WS_CLOSE_NO_STATUS 1005 /* received without a code: never sent */
#define GN_WS_CLOSE_ABNORMAL 1006  /* no close frame: never sent */
#define GN_WS_CLOSE_BAD_DATA 1007
#define GN_WS_CLOSE_POLICY 1008
#define GN_WS_CLOSE_TOO_BIG 1009
#define GN_WS_CLOSE_ERROR 1011
#define GN_WS_CLOSE_TRY_LATER 1013

#define GN_WS_RSV1 0x4 /* the RSV bits as they sit in the head: 4, 2, 1 */
#define GN_WS_HEAD_MAX 14 /* 2 + 8 bytes of length + 4 of mask */
#define GN_WS_CONTROL_MAX 125

struct gn_ws_frame {
    uint8_t fin;
    uint8_t rsv; /* RSV1..3 as bits 4, 2, 1 */
    uint8_t opcode;
    uint8_t masked;
    uint8_t mask[4];
    uint64_t len;   /* payload bytes */
    size_t head;    /* bytes of the head: 2 to 14 */
};

static inline int gn__ws_is_control(unsigned opcode)
{
    return (opcode & 0x8) != 0;
}

/*
 * Parse the head of a client's frame from P[0, N). RSV_OK: the RSV bits an
 * extension negotiated (GN_WS_RSV1 for permessage-deflate; 0 without one).
 * Returns the head's length (> 0, also in F->head), 0 when more bytes are
 * needed, or minus a close code: -1002 for an unmasked frame, RSV bits not
 * in RSV_OK, a reserved opcode, a fragmented or over-125-byte control
 * frame, or a length with its top bit set.
 */
int gn__ws_frame_parse(const uint8_t *p, size_t n, unsigned rsv_ok,
                       struct gn_ws_frame *f);

/* Write the head of a server frame (unmasked) into OUT: its length. */
size_t gn__ws_frame_head(uint8_t out[GN_WS_HEAD_MAX], int fin, unsigned rsv,
                         unsigned opcode, uint64_t len);

/* XOR P[0, N) with MASK in place, as the bytes at OFFSET.. of a payload
 * (the key rotates every 4 bytes of the whole payload). */
void gn__ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4],
                   uint64_t offset);

/* Whether CODE may appear in a close frame on the wire. */
int gn__ws_close_code_valid(unsigned code);

/*
 * Check a close frame's payload P[0, N): 0 with *CODE the code (1005 when
 * the payload is empty), or minus a close code: -1002 for a 1-byte payload
 * or a code not valid on the wire, -1007 for a reason that is not UTF-8.
 */
int gn__ws_close_parse(const uint8_t *p, size_t n, unsigned *code);

/* Fill OUT with a close payload: CODE (big-endian) and REASON cut to fit
 * a control frame (at a code point boundary). Its length. */
size_t gn__ws_close_payload(uint8_t out[GN_WS_CONTROL_MAX], unsigned code,
                            const char *reason);

/*
 * The order of data frames: whether a message is open (fragments of it
 * came, its last not yet), and of which opcode.
 */
struct gn_ws_seq {
    uint8_t open;   /* a fragmented message is under way */
    uint8_t opcode; /* its opcode (text or binary) */
};

/* Account the data frame F (not a control frame) in S: 0, or -1002 for a
 * continuation with no message open, or a new text/binary frame while one
 * is. */
int gn__ws_seq_frame(struct gn_ws_seq *s, const struct gn_ws_frame *f);

#endif /* GN_WEBSOCKET_FRAME_H */
