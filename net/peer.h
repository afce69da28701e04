/*
 * The worker-to-worker channel: one process asks another of the same
 * greenicorn instance to do something and waits for its answer, over a
 * unix socket of the abstract namespace named for the instance and the
 * process ("\0greenicorn.<token>.<id>"). A call is one connection: the
 * caller connects, sends one message (a kind, a few byte strings, and at
 * most one descriptor, passed with SCM_RIGHTS), reads one answer and
 * closes. The callee serves each connection in a coroutine of its own, so
 * a handler may wait (a long-polling GET waits for its packets), and many
 * calls are served at once.
 *
 * The channel knows nothing of what it carries: the layers above register
 * a handler per kind (socketio/relay.c: a relayed Engine.IO poll, a
 * WebSocket handed over). The token keeps two instances on one host apart
 * (made once by the arbiter, inherited by its workers, kept across HUP and
 * passed across USR2); both ends check with SO_PEERCRED that the other
 * runs as the same user.
 */
#ifndef GN_NET_PEER_H
#define GN_NET_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>


struct gn_loop;
struct gn_coro_pool;

/* Byte strings a message carries at most. */
#define GN_PEER_PARTS 8

/* Bytes of the instance token's text (hex), without its NUL. */
#define GN_PEER_TOKEN_LEN 32

/* The largest message either end accepts by default (bytes of its
 * strings): a relayed POST carries up to maxPayload. */
#define GN_PEER_MAX_MSG (16u << 20)

/*
 * One message, a call's or an answer's. KIND is the call's kind, or in an
 * answer 0 for served and else a positive errno (ESRCH: no handler for the
 * kind...). PART[0, NPARTS) are its strings; FD a descriptor it carries (-1:
 * none). A received message owns its strings (one block, in OWNED[0]) and
 * its FD: gn__peer_msg_release frees them and closes FD (set it to -1 to
 * keep it). A message being built owns what gn__peer_msg_copy added.
 */
struct gn_peer_msg {
    uint32_t kind;
    uint32_t nparts;
    struct iovec part[GN_PEER_PARTS];
    int fd;
    void *owned[GN_PEER_PARTS];
    uint32_t nowned;
};

/* An empty message of KIND, carrying no descriptor. */
void gn__peer_msg_init(struct gn_peer_msg *m, uint32_t kind);

/* Add LEN bytes at DATA as M's next string, borrowed (they must stay until
 * M is sent): 0, or -E2BIG past GN_PEER_PARTS. */
int gn__peer_msg_add(struct gn_peer_msg *m, const void *data, size_t len);

/* ... or as a copy M owns: 0, -E2BIG, -ENOMEM. */
int gn__peer_msg_copy(struct gn_peer_msg *m, const void *data, size_t len);

/* Free what M owns, close its descriptor; M is empty afterwards. */
void gn__peer_msg_release(struct gn_peer_msg *m);

/* The instance token: made from the kernel's random bytes, or taken from
 * INHERITED (an old arbiter's, across USR2) when that is a valid token. 0
 * or a negative errno (getrandom failed). Called by the arbiter once at
 * start; its workers inherit it. */
int gn__peer_token_init(const char *inherited);

/* The token (GN_PEER_TOKEN_LEN hex digits), or "" before init. */
const char *gn__peer_token(void);

/*
 * A call served: IN (the call's message; the handler may take its fd,
 * setting IN->fd to -1) and OUT to fill (initialised with kind 0; what it
 * adds must stay valid until it is sent, after the handler returns: copy
 * with gn__peer_msg_copy). Runs in a coroutine of its own and may wait.
 * Returns 0, or a negative errno that becomes the answer's kind (OUT is
 * then dropped).
 */
typedef int (*gn__peer_fn)(struct gn_peer_msg *in, struct gn_peer_msg *out,
                           void *ctx);

struct gn_peer;

/*
 * Listen as process ID of the instance TOKEN, serving calls in coroutines
 * of POOL on LOOP. IDLE(OWNER) (may be NULL) runs each time a call served
 * ends, for a stopping owner that waits for them. NULL with errno set
 * (EADDRINUSE: the name is taken). Freed by gn__peer_free.
 */
struct gn_peer *gn__peer_new(struct gn_loop *loop, struct gn_coro_pool *pool,
                             const char *token, pid_t id,
                             void (*idle)(void *owner), void *owner);

/* Serve calls of KIND (> 0) with FN(in, out, CTX) from now on, replacing
 * the previous handler of KIND. 0, or -ENOSPC when the table is full. */
int gn__peer_on(struct gn_peer *p, uint32_t kind, gn__peer_fn fn, void *ctx);

/* Calls being served now. */
size_t gn__peer_busy(const struct gn_peer *p);

/* Unbind the name: new calls find no one, as if the process were gone;
 * the calls being served go on. */
void gn__peer_unbind(struct gn_peer *p);

/* Stop: unbind the name (new calls find no one, as if the process were
 * gone) and cancel the calls being served with -ECANCELED; their
 * coroutines still end (IDLE says so). */
void gn__peer_stop(struct gn_peer *p);

/* Free P (stopped first if not). Its served calls should have ended (a
 * loop that no longer runs cannot end them: P then stays allocated). */
void gn__peer_free(struct gn_peer *p);

/*
 * Call process TO of the instance TOKEN: send IN (its descriptor too, which
 * stays the caller's), wait for the answer into OUT (released by the
 * caller with gn__peer_msg_release; on error OUT is empty). The whole call
 * takes at most TIMEOUT_MS. 0 with OUT's kind the callee's answer (0:
 * served), -ESRCH when no such process listens (gone), -EPERM when it runs
 * as another user, -ETIMEDOUT, -EPROTO on a malformed answer, -EPIPE when
 * it closed without answering, or another negative errno. Yields inside a
 * coroutine; outside one it blocks (tests).
 */
int gn__peer_call(const char *token, pid_t to, const struct gn_peer_msg *in,
                  struct gn_peer_msg *out, int64_t timeout_ms);

#endif /* GN_NET_PEER_H */
