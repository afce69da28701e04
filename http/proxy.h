/*
 * The PROXY protocol (HAProxy's, versions 1 and 2): the header a proxy
 * sends at the start of a connection to say who the real client is.
 * Parsing works on a buffer and never reads a socket.
 */
#ifndef GN_HTTP_PROXY_H
#define GN_HTTP_PROXY_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

struct gn_proxy_info {
    int local; /* LOCAL / UNKNOWN: the proxy's own connection, keep the peer */
    char addr[INET6_ADDRSTRLEN]; /* the client's address, when !local */
    uint16_t port;
};

/* The longest v1 header (107 bytes) and the v2 fixed part (16 bytes). */
#define GN_PROXY_V1_MAX 107
#define GN_PROXY_V2_HEAD 16

/*
 * Parse a PROXY header at the start of BUF[0, LEN). Returns its length
 * (> 0) with INFO filled, 0 when more bytes are needed to decide, or
 * -EPROTO when BUF does not start with a well-formed header.
 */
int gn__proxy_parse(const char *buf, size_t len, struct gn_proxy_info *info);

#endif /* GN_HTTP_PROXY_H */
