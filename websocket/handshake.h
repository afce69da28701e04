/*
 * The opening handshake's pure parts (RFC 6455 4.2): header token lists,
 * the Sec-WebSocket-Key check and the Sec-WebSocket-Accept it answers
 * (SHA-1 and base64, small enough to carry here rather than link a crypto
 * library for 20 bytes per connection), and the Origin allow-list.
 */
#ifndef GN_WEBSOCKET_HANDSHAKE_H
#define GN_WEBSOCKET_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#define GN_WS_ACCEPT_LEN 28 /* base64 of a SHA-1 digest */

/* Whether the comma-separated LIST (a header value; NULL: none) holds
 * TOKEN, compared without regard to case, spaces around items ignored. */
int gn__ws_token_in(const char *list, const char *token);

/* Whether KEY is base64 of exactly 16 bytes (24 characters, canonical). */
int gn__ws_key_valid(const char *key);

/* Sec-WebSocket-Accept for KEY into OUT (NUL-terminated). */
void gn__ws_accept_key(const char *key, char out[GN_WS_ACCEPT_LEN + 1]);

/* The SHA-1 digest of P[0, N). */
void gn__sha1(const void *p, size_t n, uint8_t digest[20]);

/* Whether ORIGIN (NULL: the header was absent) may open a WebSocket when
 * ALLOWED is the websocket_allowed_origins list: empty or "*" allows every
 * one; else ORIGIN must be one of its comma-separated entries (compared
 * without regard to case), and a request without Origin (not a browser)
 * is allowed. */
int gn__ws_origin_allowed(const char *allowed, const char *origin);

#endif /* GN_WEBSOCKET_HANDSHAKE_H */
