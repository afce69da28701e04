/*
 * The TLS transport's set-up (net/tls_transport.c), for the context: the
 * OpenSSL I/O method every connection's SSL reads and writes through,
 * made once, before the fork, so workers inherit it.
 */
#ifndef GN_NET_TLS_TRANSPORT_H
#define GN_NET_TLS_TRANSPORT_H

#include "core/macros.h"

/* Make the I/O method if it is not made yet: 0, or -ENOMEM and ERR. */
int gn__tls_transport_setup(char err[GN_ERR_LEN]);

#endif /* GN_NET_TLS_TRANSPORT_H */
