/*
 * Incremental UTF-8 validation (RFC 3629, as RFC 6455 requires of text
 * messages and close reasons): a message arrives in fragments, and a code
 * point may be split across two of them, so the validator carries a small
 * state from one piece to the next instead of needing the whole text.
 */
#ifndef GN_WEBSOCKET_UTF8_H
#define GN_WEBSOCKET_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define GN_UTF8_ACCEPT 0u /* at a code point boundary, all valid so far */
#define GN_UTF8_REJECT 8u /* invalid: stays so */

/* Feed P[0, LEN) to a validation in STATE (GN_UTF8_ACCEPT to start) and
 * return the new state: GN_UTF8_ACCEPT at a boundary, GN_UTF8_REJECT once
 * anything was invalid (overlong forms, surrogates, code points past
 * U+10FFFF, stray or missing continuation bytes), another value in the
 * middle of a code point (valid so far; a message ending there is not). */
uint32_t gn__utf8_feed(uint32_t state, const void *p, size_t len);

#endif /* GN_WEBSOCKET_UTF8_H */
