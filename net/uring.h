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

#include <stddef.h>

struct gn_loop;
struct gn_conn;
struct gn_uring;

/* A ring for LOOP, watched by it: 0 and *OUT, or a negative errno
 * (-ENOSYS without liburing; the kernel's refusal otherwise). *FALLBACK
 * is NULL, or names the setup taken when the kernel refused the best one
 * (static; for the caller's log). */
int gn__uring_new(struct gn_loop *loop, struct gn_uring **out,
                  const char **fallback);

/* Free U, at the worker's exit: waits (bounded) for the operations
 * closed connections left in flight (their last bytes going out), then
 * closes the ring. Connections still open must not be used after it.
 * NULL: nothing. */
void gn__uring_free(struct gn_uring *u);

/* Make N copies for small sends now, touched so that their pages are
 * resident, and keep up to N between sends from then on (SEND_KEEP
 * otherwise): the answers of N requests due at once then allocate
 * nothing. The number made. */
size_t gn__uring_prefill(struct gn_uring *u, size_t n);

/* How U arms a drained connection's receive, for tests: 2, multishot
 * ending by itself after a number of bytes; 1, multishot without that
 * limit (the kernel refused it); 0, single receives. */
int gn__uring_multishot(const struct gn_uring *u);

/* Move the new connection C (plain TCP, nothing read yet, made by
 * gn__conn_new_bare or gn__conn_new_bare_ready: not on epoll) onto U: 0,
 * or -ENOMEM (C has no transport that hears its socket: close it). With
 * BYTES_WAITING (its listener defers accepts until the client has sent:
 * TCP_DEFER_ACCEPT), the first reads take them with recv(2) at once, the
 * ring's receives only once the socket is empty; the caller serves C now
 * (gn__conn_event), rather than a loop turn later when a receive would
 * have brought them. */
int gn__uring_attach(struct gn_uring *u, struct gn_conn *c, int bytes_waiting);

/* io_uring_batch_wait: when the last loop turn found several
 * completions, wait in the ring for up to a few dozen more but no longer
 * than US microseconds once one came (0: return with the first, the
 * default). 0; -EINVAL past 1000 us; -ENOTSUP when the kernel cannot
 * (a ring the loop does not wait in, before 6.17, or no minimum wait,
 * before 6.12), nothing changed. */
int gn__uring_set_batch_wait(struct gn_uring *u, unsigned us);

/* How many times the loop woke from a sleep in U's ring (0 when the loop
 * waits in epoll_wait instead: kernels before 6.1): what the tests count
 * to see that an idle worker sleeps. */
unsigned long gn__uring_wakeups(const struct gn_uring *u);

/* The entries U's ring has queued so far, of every kind (receives,
 * sends, polls, closes, cancellations): what a path costs the ring, for
 * the tests to count. */
unsigned long gn__uring_entries(const struct gn_uring *u);

/* One way to set the ring up: io_uring_setup(2)'s FLAGS, and WHAT they
 * give, in words. */
struct gn__uring_setup {
    unsigned flags;
    const char *what;
};

/* Call INIT(flags, ARG) with each setup in turn, the best first, until
 * one is not refused with -EINVAL (a flag the kernel does not know):
 * INIT's last result, and *USED the setup it was given. */
int gn__uring_try_setups(int (*init)(unsigned flags, void *arg), void *arg,
                         const struct gn__uring_setup **used);

#endif /* GN_NET_URING_H */
