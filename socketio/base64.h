/*
 * Base64 (RFC 4648, the standard alphabet), as Engine.IO's long-polling
 * carries binary packets: 'b' and the bytes in base64. Decoding is strict
 * (no whitespace, no other alphabet, no bits left over after the last
 * byte) because a client's packets are untrusted input; the padding may be
 * left out, as some encoders do.
 */
#ifndef GN_SOCKETIO_BASE64_H
#define GN_SOCKETIO_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* The length of N bytes in base64, padded. */
static inline size_t gn__base64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Write P[0, N) in base64 (padded) to OUT, which has room for
 * gn__base64_len(N) bytes; no NUL is written. The length written. */
size_t gn__base64_encode(const uint8_t *p, size_t n, char *out);

/* Decode IN[0, N) into OUT, which has room for N / 4 * 3 + 2 bytes; OUT may
 * be IN itself (the bytes shrink, so decoding in place is safe). The
 * length decoded, or -EINVAL for a character outside the alphabet, padding
 * anywhere but at the end, a length no encoder gives (4k + 1) or bits set
 * past the last byte (a second spelling of the same bytes). */
long gn__base64_decode(const char *in, size_t n, uint8_t *out);

#endif /* GN_SOCKETIO_BASE64_H */
