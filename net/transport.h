/*
 * A connection's transport: how its bytes cross the socket. Plain TCP (and
 * unix sockets) is the one implementation today; TLS will be another,
 * which is why callers never assume what a short read means: a transport
 * that decrypts may hold bytes the socket no longer has, and says so with
 * pending().
 */
#ifndef GN_NET_TRANSPORT_H
#define GN_NET_TRANSPORT_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

struct gn_conn;

struct gn_transport {
    /* recv(2) / sendmsg(2) / sendfile(2) / shutdown(2) on C: the same
     * returns and errno as those, never blocking. */
    ssize_t (*recv)(struct gn_conn *c, void *buf, size_t len, int flags);
    ssize_t (*sendmsg)(struct gn_conn *c, const struct msghdr *mh, int flags);
    ssize_t (*sendfile)(struct gn_conn *c, int fd, off_t *offset, size_t count);
    int (*shutdown)(struct gn_conn *c, int how);
    /* Bytes the transport already holds for the next recv, beyond what
     * the socket has: with 0, a recv that returned less than asked means
     * the socket is drained and only a new edge brings more. */
    size_t (*pending)(struct gn_conn *c);
};

/* Plain TCP (or a unix socket), through green/sys. */
extern const struct gn_transport gn__transport_tcp;

#endif /* GN_NET_TRANSPORT_H */
