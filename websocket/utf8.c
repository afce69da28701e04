/*
 * The UTF-8 validator. A state says what the next byte must be: 0 at a
 * boundary, 1..3 that many continuation bytes (80..BF) still due, and 4..7
 * the second byte of a lead that narrows it (E0: A0..BF, no overlong
 * form; ED: 80..9F, no surrogate; F0: 90..BF, no overlong form; F4:
 * 80..8F, nothing past U+10FFFF). Runs of ASCII, most of most text, are
 * skipped eight bytes at a time.
 */
#include "websocket/utf8.h"

#include <string.h>

enum { NEED1 = 1, NEED2, NEED3, AFTER_E0, AFTER_ED, AFTER_F0, AFTER_F4 };

/* The state after the lead byte B at a boundary. */
static uint32_t lead(uint8_t b)
{
    if (b < 0x80)
        return GN_UTF8_ACCEPT;
    if (b < 0xc2)
        return GN_UTF8_REJECT; /* a continuation byte, or overlong C0/C1 */
    if (b < 0xe0)
        return NEED1;
    if (b == 0xe0)
        return AFTER_E0;
    if (b == 0xed)
        return AFTER_ED;
    if (b < 0xf0)
        return NEED2;
    if (b == 0xf0)
        return AFTER_F0;
    if (b < 0xf4)
        return NEED3;
    if (b == 0xf4)
        return AFTER_F4;
    return GN_UTF8_REJECT;
}

/* The state after byte B inside a code point (STATE is 1..7). */
static uint32_t follow(uint32_t state, uint8_t b)
{
    uint8_t lo = 0x80, hi = 0xbf;
    uint32_t next = state - 1;

    switch (state) {
    case AFTER_E0: lo = 0xa0, next = NEED1; break;
    case AFTER_ED: hi = 0x9f, next = NEED1; break;
    case AFTER_F0: lo = 0x90, next = NEED2; break;
    case AFTER_F4: hi = 0x8f, next = NEED2; break;
    default: break;
    }
    return b >= lo && b <= hi ? next : GN_UTF8_REJECT;
}

uint32_t gn__utf8_feed(uint32_t state, const void *p, size_t len)
{
    const uint8_t *s = p, *end = s + len;
    uint64_t word;

    while (s < end && state != GN_UTF8_REJECT) {
        if (state == GN_UTF8_ACCEPT) {
            /* ASCII runs: 32 bytes to one test, then 8. */
            while (end - s >= 32) {
                uint64_t a, b, c, d; /* (no array: no stack canary) */

                memcpy(&a, s, 8);
                memcpy(&b, s + 8, 8);
                memcpy(&c, s + 16, 8);
                memcpy(&d, s + 24, 8);
                if ((a | b | c | d) & 0x8080808080808080ull)
                    break;
                s += 32;
            }
            while (end - s >= 8) {
                memcpy(&word, s, 8);
                if (word & 0x8080808080808080ull)
                    break;
                s += 8;
            }
            if (s == end)
                break;
            state = lead(*s++);
        } else {
            state = follow(state, *s++);
        }
    }
    return state;
}
