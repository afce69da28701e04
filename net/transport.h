/*
 * A connection's transport: how its bytes cross the socket. Plain TCP (and
 * unix sockets, net/transport.c) and TLS (net/tls_transport.c) are the
 * two. Callers never assume what a short read means: a transport that
 * decrypts may hold bytes the socket no longer has, and says so with
 * pending(); and they never assume which way a transport that said EAGAIN
 * waits: TLS may have to send before it can read on (or read before it can
 * send), and says which in the connection's tp_want.
 */
#ifndef GN_NET_TRANSPORT_H
#define GN_NET_TRANSPORT_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

struct gn_conn;

struct gn_transport {
    /* recv(2) / sendmsg(2) / sendfile(2) / shutdown(2) on C: the same
     * returns and errno as those, never blocking. After EAGAIN, C->tp_want
     * is the readiness to wait for (GN_WATCH_READ or GN_WATCH_WRITE), or
     * 0 for the call's own direction. A sendmsg or sendfile that said
     * EAGAIN must be called again with the same bytes first (TLS has
     * sealed them into a record already): its callers do, retrying what
     * was not sent. */
    ssize_t (*recv)(struct gn_conn *c, void *buf, size_t len, int flags);
    ssize_t (*sendmsg)(struct gn_conn *c, const struct msghdr *mh, int flags);
    ssize_t (*sendfile)(struct gn_conn *c, int fd, off_t *offset, size_t count);
    int (*shutdown)(struct gn_conn *c, int how);
    /* Bytes the transport already holds for the next recv, beyond what
     * the socket has: with 0, a recv that returned less than asked means
     * the socket is drained and only a new edge brings more. With more,
     * no edge will come for them: a connection about to wait for input
     * asks this first (net/conn.c). */
    size_t (*pending)(struct gn_conn *c);
    /* Before C's protocol first serves it, from its coroutine: 0 when the
     * connection is ready (at once for TCP; after the handshake for TLS),
     * or a negative errno to close it. NULL: nothing to do. */
    int (*handshake)(struct gn_conn *c);
    /* C is closing (from the loop, never waiting): say goodbye if the
     * protocol has a way (TLS's close_notify) and free the state. It may
     * close C's descriptor itself (io_uring: in its batch), and then sets
     * C->fd to -1. NULL: nothing to do. */
    void (*close)(struct gn_conn *c);
    /* "https" rather than "http" for requests that arrive on it. */
    int secure;
    /* Stop taking bytes off C's socket ahead of recv (io_uring's receive
     * in flight), before the socket goes to another process: 0 once
     * nothing more will be read into the transport (what it holds stays
     * readable through recv and pending), -EINPROGRESS when a receive
     * must end first: its end is a read edge, then call again. NULL:
     * the transport reads only when recv is called. */
    int (*release)(struct gn_conn *c);
    /* C is about to wait (its coroutine parks, or it goes idle), and its
     * next read edge must be reported from now on: a client that leaves
     * while its handler sleeps is noticed. Called before every wait, so
     * cheap when nothing is to be done. NULL: the socket's watch reports
     * the edges (net/conn.c registers it at the same point). */
    void (*watch)(struct gn_conn *c);
};

/* Plain TCP (or a unix socket), through green/sys. */
extern const struct gn_transport gn__transport_tcp;

#endif /* GN_NET_TRANSPORT_H */
