/*
 * permessage-deflate (RFC 7692): the WebSocket extension that compresses
 * each message with raw DEFLATE (zlib). Two halves, both free of I/O so
 * they can be unit-tested and fuzzed: the negotiation (read a request's
 * Sec-WebSocket-Extensions offers, pick the first acceptable one under the
 * server's policy, write the response value), and a connection's
 * compression state (compress one outgoing message, inflate one incoming
 * message fed frame by frame, with a size limit that stops before
 * inflating past it). Nothing here yields or logs.
 *
 * Memory: zlib's default deflate state is ~256 KB and an inflate state
 * ~7 KB plus its window (32 KB at 15 bits). A connection allocates a zlib
 * state only while it needs one: without context takeover (the default
 * policy) no state outlives a message, and a message compressed or
 * inflated in one call uses a stream shared by the thread, so an idle
 * WebSocket costs sizeof(struct gn_ws_deflate) and nothing else.
 */
#ifndef GN_WEBSOCKET_DEFLATE_H
#define GN_WEBSOCKET_DEFLATE_H

#include <stdbool.h>
#include <stddef.h>

/* Longest response value gn__ws_deflate_negotiate() writes, NUL included:
 * every parameter, both windows of two digits, is 128 characters
 * (deflate.c checks it at compile time). */
#define GN_WS_DEFLATE_RESPONSE_MAX 129

/*
 * The server's side of the negotiation (the websocket_compression setting
 * and the policy behind it).
 *   enabled:   accept permessage-deflate at all.
 *   takeover:  keep compression contexts across messages (better ratio on
 *              small, similar messages; costs a zlib state per connection
 *              for as long as it lives: ~7 KB + 2^client_window_bits to
 *              inflate, ~70 KB to deflate). false (the default): answer
 *              server_no_context_takeover and client_no_context_takeover
 *              always, so that no state outlives a message.
 *   client_window_bits: 9..15, the most window we let a client use when
 *              it offers client_max_window_bits (our inflate window, which
 *              a connection keeps with takeover). 15 asks nothing.
 */
struct gn_ws_deflate_policy {
    bool enabled;
    bool takeover;
    int client_window_bits;
};

/* The default policy: enabled, no context takeover, client window 15. */
void gn__ws_deflate_policy_default(struct gn_ws_deflate_policy *pol);

/* What a negotiation agreed on, for gn__ws_deflate_new(). */
struct gn_ws_deflate_params {
    bool server_no_context_takeover; /* we reset our compressor per message */
    bool client_no_context_takeover; /* the client resets its own */
    int server_max_window_bits;      /* 9..15: our compressor's window */
    int client_max_window_bits;      /* 8..15: the client's window */
};

/*
 * Negotiate from the N values of the request's Sec-WebSocket-Extensions
 * header lines (VALUES[i], LENS[i] bytes each; a list may be split across
 * lines, an element may not). The offers are read in order by RFC 6455
 * section 9.1's grammar: comma-separated, each a name and ";"-separated
 * parameters with a token or quoted-string value or none. Other
 * extensions are skipped; a permessage-deflate offer with a syntax error,
 * an unknown or repeated parameter or an invalid value is declined (RFC
 * 7692 section 7) and the next one considered, as is one we cannot honour
 * (server_max_window_bits=8: zlib's raw deflate has no 256-byte window).
 *
 * Returns 1 when an offer was accepted: PARAMS is filled and RESP (of
 * GN_WS_DEFLATE_RESPONSE_MAX bytes) holds the Sec-WebSocket-Extensions
 * value to answer, e.g. "permessage-deflate; server_no_context_takeover;
 * client_no_context_takeover; client_max_window_bits=15". Returns 0 when
 * none was (or POL is disabled): answer without the extension. Never fails.
 */
int gn__ws_deflate_negotiate(const struct gn_ws_deflate_policy *pol,
                             const char *const *values, const size_t *lens,
                             size_t n, struct gn_ws_deflate_params *params,
                             char resp[GN_WS_DEFLATE_RESPONSE_MAX]);

/* A growable byte buffer: DATA is malloc'ed (or NULL when CAP is 0), the
 * calls below realloc it and append after LEN; the caller owns it and
 * frees DATA with free(). */
struct gn_ws_zbuf {
    unsigned char *data;
    size_t len;
    size_t cap;
};

/* One connection's compression state. */
struct gn_ws_deflate;

/*
 * A connection's state for the agreed PARAMS (copied). Allocates no zlib
 * state yet. The caller owns the result and releases it with
 * gn__ws_deflate_free(); NULL when out of memory.
 */
struct gn_ws_deflate *gn__ws_deflate_new(const struct gn_ws_deflate_params *p);

/* Release D and any zlib state it holds. D may be NULL. */
void gn__ws_deflate_free(struct gn_ws_deflate *d);

/*
 * Compress the message MSG[0, LEN) and append the payload to send (RSV1
 * set) to OUT: raw DEFLATE ending in a sync flush whose 00 00 ff ff tail
 * is stripped (RFC 7692 section 7.2.1); an empty message gives one 00
 * byte. Bytes already in OUT (a frame header's room) are kept. Returns 0,
 * or -ENOMEM (OUT then holds its old LEN bytes).
 */
int gn__ws_deflate_compress(struct gn_ws_deflate *d, const void *msg,
                            size_t len, struct gn_ws_zbuf *out);

/*
 * Inflate the next payload piece IN[0, LEN) of a compressed message (one
 * frame's, or any split of it) and append the result to OUT; FIN marks the
 * message's last piece, after which the 00 00 ff ff tail is inflated and
 * the next call starts a new message. Blocks after a final block
 * (BFINAL, RFC 7692 section 7.2.3.4) are inflated as the same message. OUT->len never exceeds LIMIT (the
 * websocket_max_message): OUT grows to at most LIMIT bytes and zlib is
 * never asked for more. Returns
 *     0          the piece was inflated;
 *     -EMSGSIZE  the message inflates past LIMIT (close with 1009);
 *     -EBADMSG   the payload is not valid DEFLATE (fail the connection);
 *     -ENOMEM    out of memory.
 * After an error the message is abandoned (its state dropped): the caller
 * closes the connection.
 */
int gn__ws_deflate_decompress(struct gn_ws_deflate *d, const void *in,
                              size_t len, bool fin, size_t limit,
                              struct gn_ws_zbuf *out);

/* Bytes D holds now: its struct and the zlib state it owns (the streams
 * shared by the thread not counted). */
size_t gn__ws_deflate_memory(const struct gn_ws_deflate *d);

/* Bytes the calling thread's shared streams hold (once per thread). */
size_t gn__ws_deflate_shared_memory(void);

/* Free the calling thread's shared streams (a worker's exit; tests). */
void gn__ws_deflate_shared_free(void);

#endif /* GN_WEBSOCKET_DEFLATE_H */
