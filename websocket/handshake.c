/*
 * Handshake helpers (see handshake.h). SHA-1 here is FIPS 180-4 straight:
 * one 64-byte block at a time, big-endian words; it only ever hashes a
 * key and the RFC's GUID (60 bytes).
 */
#include "websocket/handshake.h"

#include <string.h>
#include <strings.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

int gn__ws_token_in(const char *list, const char *token)
{
    size_t tlen = strlen(token);
    const char *p = list, *end;

    while (p != NULL && *p) {
        while (is_space(*p) || *p == ',')
            p++;
        end = p;
        while (*end && *end != ',')
            end++;
        /* [p, end) is an item; trim its trailing spaces. */
        size_t len = (size_t)(end - p);
        while (len > 0 && is_space(p[len - 1]))
            len--;
        if (len == tlen && len > 0 && strncasecmp(p, token, len) == 0)
            return 1;
        p = end;
    }
    return 0;
}

int gn__ws_key_valid(const char *key)
{
    if (key == NULL || strlen(key) != 24 || strcmp(key + 22, "==") != 0)
        return 0;
    for (int i = 0; i < 22; i++)
        if (key[i] == '\0' || strchr(b64, key[i]) == NULL)
            return 0;
    /* 16 bytes leave the last character 4 bits of padding: zeros. */
    return ((strchr(b64, key[21]) - b64) & 0xf) == 0;
}

static uint32_t rol(uint32_t x, int n)
{
    return x << n | x >> (32 - n);
}

static void sha1_block(uint32_t h[5], const uint8_t *blk)
{
    uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f, k, t;

    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 |
               (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    for (int i = 0; i < 80; i++) {
        if (i < 20)
            f = (b & c) | (~b & d), k = 0x5a827999;
        else if (i < 40)
            f = b ^ c ^ d, k = 0x6ed9eba1;
        else if (i < 60)
            f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
        else
            f = b ^ c ^ d, k = 0xca62c1d6;
        t = rol(a, 5) + f + e + k + w[i];
        e = d, d = c, c = rol(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

void gn__sha1(const void *p, size_t n, uint8_t digest[20])
{
    uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476,
                     0xc3d2e1f0};
    const uint8_t *s = p;
    uint8_t last[128] = {0};
    size_t tail = n % 64, nlast = tail < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;

    for (size_t i = 0; i + 64 <= n; i += 64)
        sha1_block(h, s + i);
    memcpy(last, s + n - tail, tail);
    last[tail] = 0x80;
    for (int i = 0; i < 8; i++)
        last[nlast - 1 - i] = (uint8_t)(bits >> (8 * i));
    for (size_t i = 0; i < nlast; i += 64)
        sha1_block(h, last + i);
    for (int i = 0; i < 20; i++)
        digest[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
}

void gn__ws_accept_key(const char *key, char out[GN_WS_ACCEPT_LEN + 1])
{
    char text[24 + sizeof(WS_GUID)];
    uint8_t d[21] = {0}; /* one byte of zeros past the digest for the end */
    size_t klen = strlen(key), o = 0;

    if (klen > 24)
        klen = 24;
    memcpy(text, key, klen);
    memcpy(text + klen, WS_GUID, sizeof(WS_GUID) - 1);
    gn__sha1(text, klen + sizeof(WS_GUID) - 1, d);
    for (int i = 0; i < 21; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 |
                     (i + 2 < 21 ? d[i + 2] : 0);

        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = b64[v >> 6 & 63];
        out[o++] = b64[v & 63];
    }
    out[27] = '='; /* 20 bytes: 27 characters and one of padding */
    out[28] = '\0';
}

int gn__ws_origin_allowed(const char *allowed, const char *origin)
{
    if (allowed == NULL || *allowed == '\0' || gn__ws_token_in(allowed, "*"))
        return 1;
    if (origin == NULL)
        return 1;
    return gn__ws_token_in(allowed, origin);
}
