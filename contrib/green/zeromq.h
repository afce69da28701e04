/*
 * gn_zmq: ZeroMQ, cooperative -- the seed's zmq.green. libzmq does its
 * network I/O on threads of its own, so no patching of the calling thread
 * reaches it; what a caller waits on is the socket's queue. This layer
 * sends and receives with ZMQ_DONTWAIT and, when libzmq says EAGAIN,
 * parks the calling green thread on the socket's ZMQ_FD through the
 * installed wait function (poll(2), or gn_wait_fd once green_db's
 * post_fork hook ran or the app set it in its init), then asks ZMQ_EVENTS
 * again. ZMQ_FD is only ever readable and edge-triggered: it says that
 * the socket's state may have changed, never what is ready, and a send or
 * a receive may consume that signal. So every call re-reads ZMQ_EVENTS
 * before it waits and after it sends or receives, and wakes the other
 * green threads parked on the same socket when what they wait for is now
 * ready: several green threads of a worker may use one socket (handlers
 * sending on a DEALER while one thread receives on it), each call being
 * atomic for a whole message.
 *
 * Contexts are made after fork: a context (and its I/O threads) does not
 * survive fork(2), and a socket must not be shared between processes.
 * gn_zmq_context gives each process one of its own, made on first use.
 * Make sockets in each worker: in an app's init (which runs in the worker
 * unless preload_app) or lazily in the first request.
 *
 * Timeouts are in seconds (fractions allowed; negative: no limit) and
 * bound the whole call, however many waits it takes; ZMQ_DONTWAIT in
 * FLAGS never waits (-EAGAIN, as libzmq). Errors are negative errnos:
 * -ETIMEDOUT, -ECANCELED (the calling green thread was cancelled: the
 * handler should return -ECANCELED), -EFSM (a REQ or REP socket out of
 * turn), -ETERM, or another of libzmq's. Every call that may wait says
 * "May yield".
 *
 * Link: dependency gn_zmq_dep in this tree; installed as
 * LIBDIR/greenicorn/green/libgn_zmq.so with <greenicorn/zeromq.h>
 * (pkg-config greenicorn-zmq). Debian: libzmq3-dev. Once loaded it stays
 * (linked -z nodelete), and libzmq with it: a worker unloads its apps as
 * it stops, while the context's I/O threads still run. Since ABI 1.5.
 */
#ifndef GN_GREEN_ZEROMQ_H
#define GN_GREEN_ZEROMQ_H

#include <stddef.h>
#include <sys/uio.h>
#include <zmq.h>

#include "wait.h"

/* A ZeroMQ socket with what waiting on it takes (two descriptors of its
 * own beside libzmq's). */
typedef struct gn_zmq gn_zmq_t;

/* Wait with WAIT from now on (NULL: poll(2) again). Does not yield. Since
 * ABI 1.5. */
void gn_zmq_set_wait(gn_green_wait_fn wait);

/* This process's context, made on the first call in each process (one
 * inherited through fork is never used: it has no I/O threads there). It
 * lives as long as the process: never zmq_ctx_term it. Call it from the
 * worker's own thread. NULL with errno when libzmq cannot make one. Does
 * not yield. Since ABI 1.5. */
void *gn_zmq_context(void);

/* A new socket of TYPE (ZMQ_PUSH, ZMQ_SUB...) in CTX (NULL:
 * gn_zmq_context()), its ZMQ_LINGER set to 0 so that closing it never
 * waits for unsent messages (set it again through gn_zmq_handle if they
 * matter). Bind, connect and set options on gn_zmq_handle(s) with
 * libzmq's calls: they do not block. Close it with gn_zmq_close. NULL
 * with errno when libzmq or the system refuses. Does not yield. Since ABI
 * 1.5. */
gn_zmq_t *gn_zmq_socket(void *ctx, int type);

/* The libzmq socket of S, for zmq_bind, zmq_connect, zmq_setsockopt,
 * zmq_getsockopt; send and receive with the calls below only. Since ABI
 * 1.5. */
void *gn_zmq_handle(gn_zmq_t *s);

/* Close S (NULL is fine) and free it: 0, or -EBUSY (nothing done) while a
 * green thread waits on it. Does not yield. Since ABI 1.5. */
int gn_zmq_close(gn_zmq_t *s);

/* Send LEN bytes of BUF as one frame, FLAGS as zmq_send (ZMQ_SNDMORE:
 * more frames of the same message follow; ZMQ_DONTWAIT), within TIMEOUT.
 * LEN, or a negative errno. May yield. Since ABI 1.5. */
int gn_zmq_send(gn_zmq_t *s, const void *buf, size_t len, int flags,
                double timeout);

/* Receive one frame into BUF (LEN bytes at most: a longer frame is
 * truncated, as zmq_recv), within TIMEOUT. The frame's size (which may
 * exceed LEN), or a negative errno. Whether more frames of the message
 * follow: zmq_getsockopt ZMQ_RCVMORE. May yield. Since ABI 1.5. */
int gn_zmq_recv(gn_zmq_t *s, void *buf, size_t len, int flags, double timeout);

/* zmq_msg_send and zmq_msg_recv on S, within TIMEOUT: the frame's size,
 * or a negative errno (MSG is then still the caller's, as with libzmq).
 * May yield. Since ABI 1.5. */
int gn_zmq_msg_send(gn_zmq_t *s, zmq_msg_t *msg, int flags, double timeout);
int gn_zmq_msg_recv(gn_zmq_t *s, zmq_msg_t *msg, int flags, double timeout);

/* Send the N frames of PARTS as one multipart message within TIMEOUT
 * (ZeroMQ delivers all of them or none). 0, or a negative errno; a
 * failure after the first frame went (it does not happen short of
 * running out of memory) leaves S unusable: close it. May yield. Since
 * ABI 1.5. */
int gn_zmq_send_parts(gn_zmq_t *s, const struct iovec *parts, size_t n,
                      double timeout);

/* Receive one whole message within TIMEOUT into PARTS, MAX initialised
 * zmq_msg_t (zmq_msg_init; close them all after, as usual): how many
 * frames it had, or a negative errno; -EMSGSIZE when it had more than MAX
 * (the first MAX are in PARTS, the rest were dropped). Once its first
 * frame is there, the whole message is. May yield. Since ABI 1.5. */
int gn_zmq_recv_parts(gn_zmq_t *s, zmq_msg_t *parts, size_t max,
                      double timeout);

/* Several sockets at once, as zmq_poll: EVENTS is ZMQ_POLLIN and/or
 * ZMQ_POLLOUT, REVENTS what is ready. */
typedef struct gn_zmq_pollitem {
    gn_zmq_t *socket;
    short events;
    short revents;
} gn_zmq_pollitem_t;

/* Wait until one of the N ITEMS is ready for its EVENTS, within TIMEOUT:
 * how many are (> 0, their REVENTS set), -ETIMEDOUT, or another negative
 * errno. May yield. Since ABI 1.5. */
int gn_zmq_poll(gn_zmq_pollitem_t *items, int n, double timeout);

#endif /* GN_GREEN_ZEROMQ_H */
