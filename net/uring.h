/*
 * The io_uring transport (io_engine = io_uring): a worker's plain TCP HTTP
 * connections move their bytes through one io_uring instead of a recv(2)
 * and a sendmsg(2) each per request. Receives complete into buffers the
 * ring provides and sends are queued as submissions; what a loop turn
 * queues goes to the kernel in one io_uring_enter(2) at its end, which also
 * brings the turn's completions back. libevent stays the loop: it watches
 * the ring's descriptor like any other.
 *
 * TLS and stream connections keep the plain transport, and so does
 * everything when the ring cannot be set up (no liburing at build time,
 * or a kernel that refuses io_uring): gn__uring_new then fails and the
 * worker carries on with epoll.
 */
#ifndef GN_NET_URING_H
#define GN_NET_URING_H

struct gn_loop;
struct gn_conn;
struct gn_uring;

/* A ring for LOOP, watched by it: 0 and *OUT, or a negative errno
 * (-ENOSYS without liburing; the kernel's refusal otherwise). */
int gn__uring_new(struct gn_loop *loop, struct gn_uring **out);

/* Free U, at the worker's exit: waits (bounded) for the operations
 * closed connections left in flight (their last bytes going out), then
 * closes the ring. Connections still open must not be used after it.
 * NULL: nothing. */
void gn__uring_free(struct gn_uring *u);

/* Move the new, idle connection C (plain TCP, nothing read yet) onto U:
 * 0, or -ENOMEM (C keeps the plain transport). */
int gn__uring_attach(struct gn_uring *u, struct gn_conn *c);

#endif /* GN_NET_URING_H */
