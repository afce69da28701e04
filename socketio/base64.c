/*
 * Base64 for Engine.IO's binary packets over long-polling: see base64.h.
 * Each character maps to its 6-bit value or to BAD, and decoding checks
 * once at the end that none was BAD.
 */
#include "socketio/base64.h"

#include <errno.h>

static const char ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#define BAD 0x40 /* not in the alphabet */

/* The value of C as a base64 digit, or BAD. */
static uint8_t value_of(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return (uint8_t)(c - 'A');
    if (c >= 'a' && c <= 'z')
        return (uint8_t)(c - 'a' + 26);
    if (c >= '0' && c <= '9')
        return (uint8_t)(c - '0' + 52);
    return c == '+' ? 62 : c == '/' ? 63 : BAD;
}

size_t gn__base64_encode(const uint8_t *p, size_t n, char *out)
{
    char *o = out;
    size_t i = 0;

    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

        *o++ = ALPHABET[v >> 18];
        *o++ = ALPHABET[(v >> 12) & 63];
        *o++ = ALPHABET[(v >> 6) & 63];
        *o++ = ALPHABET[v & 63];
    }
    if (i < n) {
        uint32_t v =
            (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);

        *o++ = ALPHABET[v >> 18];
        *o++ = ALPHABET[(v >> 12) & 63];
        *o++ = i + 1 < n ? ALPHABET[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    return (size_t)(o - out);
}

long gn__base64_decode(const char *in, size_t n, uint8_t *out)
{
    const uint8_t *s = (const uint8_t *)in;
    uint32_t acc = 0, bad = 0;
    size_t k = 0, len = 0;

    /* Padding only at the end: at most two '=', completing a quad. */
    if (n % 4 == 0 && n >= 4 && s[n - 1] == '=')
        n -= s[n - 2] == '=' ? 2 : 1;
    if (n % 4 == 1)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        uint8_t v = value_of(s[i]);

        bad |= v;
        acc = acc << 6 | (v & 63);
        if (++k == 4) {
            out[len++] = (uint8_t)(acc >> 16);
            out[len++] = (uint8_t)(acc >> 8);
            out[len++] = (uint8_t)acc;
            acc = 0;
            k = 0;
        }
    }
    if (bad & BAD)
        return -EINVAL;
    if (k == 2) {
        if (acc & 0xf)
            return -EINVAL;
        out[len++] = (uint8_t)(acc >> 4);
    } else if (k == 3) {
        if (acc & 0x3)
            return -EINVAL;
        out[len++] = (uint8_t)(acc >> 10);
        out[len++] = (uint8_t)(acc >> 2);
    }
    return (long)len;
}
