/*
 * TLS termination: a server context (certificate, key, client-certificate
 * policy, protocol versions, ciphers, ALPN), built once by the arbiter from
 * the configuration before anything is bound and inherited by the workers
 * through fork, and the TLS transport a connection accepted on a TLS bind
 * speaks (net/transport.h's table, over OpenSSL 3). Made of three files:
 * the context (net/tls_context.c), the session ticket keys every worker
 * shares (net/tls_tickets.c) and the transport (net/tls_transport.c).
 *
 * net/ knows no configuration: the owner (server/) fills struct
 * gn_tls_opts from it.
 */
#ifndef GN_NET_TLS_H
#define GN_NET_TLS_H

#include <stdint.h>

#include "core/macros.h"

struct gn_conn;
struct gn_tls;

/* What a server context is made of. Strings are borrowed for the call. */
struct gn_tls_opts {
    const char *certfile;     /* PEM certificate chain */
    const char *keyfile;      /* PEM private key; NULL: in certfile */
    const char *ca_certs;     /* PEM CAs for client certificates, or NULL */
    int cert_reqs;            /* 0 none, 1 optional, 2 required */
    const char *ciphers;      /* TLS <= 1.2 cipher list, or NULL */
    const char *ciphersuites; /* TLS 1.3 suites, or NULL */
    int min_version;          /* 0x0303 or 0x0304 */
    int64_t handshake_ms;     /* a client's time to finish the handshake */
};

/*
 * A server context from O: the certificate and key loaded and checked
 * (they match; the certificate is valid now), the rest applied. 0 and *OUT,
 * or a negative errno and ERR naming the file and the reason
 * ("/etc/x.pem: the certificate expired on Jan  1 00:00:00 2024 GMT").
 */
int gn__tls_new(const struct gn_tls_opts *o, struct gn_tls **out,
                char err[GN_ERR_LEN]);

/* In the arbiter, from its loop: a new session ticket key when the last is
 * EVERY_MS old (<= 0: never; a new context rotates too). The keys live in
 * memory the workers share, made with the first context, so any worker
 * opens what any worker sealed; the previous key still opens tickets. */
void gn__tls_rotate_due(int64_t every_ms);

/* Free T (NULL is fine); connections must no longer use it. */
void gn__tls_free(struct gn_tls *t);

/* "OpenSSL 3.0.19 1 Jul 2025": what the log names at start. */
const char *gn__tls_library(void);

/*
 * Make C, just accepted, a TLS connection of T: its transport becomes
 * TLS's, and the handshake runs when its coroutine first starts.
 * 0, or -ENOMEM (C stays plain; the caller closes it).
 */
int gn__tls_attach(struct gn_conn *c, struct gn_tls *t);

#endif /* GN_NET_TLS_H */
