/*
 * The TLS server context's insides (net/tls_context.c), for the two
 * files that work with it: the session ticket keys (net/tls_tickets.c)
 * install their callback on its SSL_CTXs, and the transport
 * (net/tls_transport.c) makes each connection's SSL from it. Nothing
 * above net/ sees them: server/ and workers/ use net/tls.h.
 */
#ifndef GN_NET_TLS_CONTEXT_H
#define GN_NET_TLS_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "net/tls.h"

#define GN_TLS_MAX_CERTS 16 /* certificates one server offers by SNI */

struct gn_tls {
    /* One context per certificate, configured alike: [0] is the default,
     * the others are chosen by the name the client asks for (SNI). */
    SSL_CTX *ctx[GN_TLS_MAX_CERTS];
    size_t nctx;
    int64_t handshake_ms;
};

/* OpenSSL's reason for the last failure in BUF[0, LEN), its error queue
 * emptied: what a log line or a refusal names. */
const char *gn__tls_reason(char *buf, size_t len);

#endif /* GN_NET_TLS_CONTEXT_H */
