/*
 * A connection: its socket and transport, its read buffer while a request
 * is being served, and the coroutine that serves it with its protocol. While
 * idle between keep-alive requests a connection holds neither a buffer nor a
 * coroutine, only this struct (and a watch on its socket, unless a
 * transport reports its edges: io_uring's).
 */
#ifndef GN_NET_CONN_H
#define GN_NET_CONN_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "green/loop.h"

struct gn_coro_pool;
struct gn_request;
struct gn_response;
struct gn_coro;
struct gn_waiter;
struct gn_conn;
struct gn_transport;

/* What is spoken on a connection (HTTP/1.1 today: http/serve.c), chosen
 * per listener. */
struct gn_conn_proto {
    /* Serve C from its coroutine, its read buffer set up, while it has
     * input: >= 0 to go idle, < 0 to close (after lingering when C->linger
     * is set). */
    int (*serve)(struct gn_conn *c);
    /* C's client closed its end while C->handling was set. */
    void (*client_left)(struct gn_conn *c);
    /* C's socket took bytes again (an edge) while its coroutine runs: an
     * upgraded protocol sends what it queued, from the loop. NULL:
     * nothing to do. */
    void (*writable)(struct gn_conn *c);
    /* The worker began a graceful stop while C's coroutine runs (a stream
     * handler, a WebSocket): tell it. NULL: nothing to do. */
    void (*stop)(struct gn_conn *c);
    /* What C's coroutine serves, for the worker's listing of its
     * coroutines ("GET /path"), into BUF (LEN bytes, NUL-terminated); see
     * gn__coro_describe_fn. NULL: the connection alone is named. */
    void (*describe)(const struct gn_conn *c, char *buf, size_t len);
    /* Before C's transport starts its session (TLS's handshake), from
     * C's coroutine: read what the peer sends in the clear ahead of it
     * (a PROXY header before the ClientHello), with gn__conn_peek_clear
     * and gn__conn_take_clear. 0, or < 0 to close. Called each time the
     * coroutine starts while the transport has a handshake. NULL: none. */
    int (*preface)(struct gn_conn *c);
};

/* Idle connections waiting with one timeout duration, in deadline order
 * (each joins at the tail: O(1) when they share the duration), and one
 * timer for the earliest: going idle and waking up cost no libevent call
 * and a connection no timer of its own. */
struct gn_idle_list {
    int64_t ms;                 /* the duration (0: slot unused) */
    struct gn_conn *head, *tail;
    int64_t armed; /* the deadline the timer is set for, or 0 (the now
                      list's: 1 while its timer is activated) */
    struct gn_conns *set;
    struct gn_watch timer;
};

#define GN_IDLE_LISTS 4 /* first byte, keepalive, shutdown, and one more */
/* ... and one more list, of the connections to serve (or close) at the
 * loop's next callbacks: an edge came while one was busy. Its timer is a
 * watch without a descriptor, activated, so that a connection needs no
 * watch of its own for that. */
#define GN_IDLE_NOW GN_IDLE_LISTS

/* What the connections of a process share, set up by its owner (the
 * worker; net/ knows none): the loop, the coroutines, the list, the spare
 * read buffers, the timeouts. */
struct gn_conns {
    struct gn_loop *loop;
    struct gn_coro_pool *coros;
    struct gn_conn *list; /* every open connection, a doubly-linked list */
    size_t n;
    void *spare_rbufs; /* read buffers kept for reuse */
    size_t nspare_rbufs;
    size_t nheld_rbufs; /* ... and taken: held by connections now */
    int64_t first_byte_ms, keepalive_ms, write_ms;
    int stopping; /* graceful stop: finish in-flight, serve no idle one */
    /* Accepted TCP sockets come with TCP_NODELAY, set on their listeners
     * (core/listen.h's gn__listeners_nodelay): none is set per connection. */
    int nodelay_inherited;
    struct gn_idle_list idle[GN_IDLE_LISTS + 1]; /* zeroed by the owner */
    /* Called when a connection closed, with OWNER. */
    void (*closed)(void *owner);
    void *owner;
};

/* What gn__conn_local_addr() looks up, allocated when first asked. */
struct gn_conn_local;

/* Kept small: an idle keep-alive connection is this struct alone (issue
 * #18): 248 bytes, a 256-byte malloc chunk, on io_uring; 376 with the
 * watch that follows it on epoll. Flags are bytes; what few requests need
 * is allocated when first asked. */
struct gn_conn {
    struct gn_conns *set;
    const void *ctx; /* the protocol's context (http/: struct gn_http_ctx) */
    const struct gn_transport *tp;     /* how its bytes cross the socket */
    void *tp_data;                     /* the transport's state (TLS: SSL) */
    const struct gn_conn_proto *proto; /* what is spoken on it */
    struct gn_conn *prev, *next;       /* the worker's list */
    struct gn_conn *idle_prev, *idle_next; /* in set->idle[idle_list - 1] */
    int64_t idle_deadline;                 /* ... its monotonic ms */
    struct gn_waiter *io_waiter; /* the coroutine waiting for an edge */
    struct gn_request *handling; /* the request whose handler runs */
    struct gn_coro *coro;        /* NULL while idle */
    struct gn_response *res;     /* the response being built, if any */
    void *proto_data; /* an upgraded protocol's state (websocket/: gn_ws) */
    /* An adopted connection's bytes another process read of it, served
     * before what its socket brings (freed when its coroutine starts). */
    char *adopted;
    /* The read buffer: bytes [0, rlen) were read, [rpos, rlen) not parsed
     * yet. NULL while idle. */
    char *rbuf;
    /* Responses held back while pipelined requests are served: OUTLEN
     * bytes in OUT (a spare read buffer, taken when first needed). */
    char *out;
    /* The address it arrived on: allocated by the first
     * gn__conn_local_addr() (few requests ask), freed with C. */
    struct gn_conn_local *local;
    int fd;
    uint32_t adopted_len;
    uint32_t nrequests;
    uint32_t rlen, rpos, rcap;
    uint32_t outlen;
    uint16_t body_status; /* HTTP status of a malformed body, or 0 */
    uint16_t remote_port;
    /* Small numbers and flags (0 or 1), a byte each. */
    uint8_t tp_want; /* after EAGAIN: what the transport waits for (0: the
                        call's own direction; TLS may need the other) */
    uint8_t tp_starved; /* TLS: its last socket read found nothing, so
                           what OpenSSL holds is part of a record at most */
    uint8_t io_events; /* the GN_WATCH_* bits io_waiter waits for */
    uint8_t ready;             /* edges seen and not yet drained */
    uint8_t rdhup;             /* the peer closed its end */
    uint8_t closing;           /* close once the current request ends */
    uint8_t linger;            /* the client may still be sending */
    uint8_t proxied;           /* the PROXY protocol header was read */
    uint8_t forwarded_trusted; /* the peer is in forwarded_allow_ips */
    uint8_t peer_checked;      /* ... which was looked up */
    uint8_t client_left;       /* it closed its end while a handler ran */
    uint8_t unanswered; /* ... before the head of the answer was sent */
    uint8_t handed_off; /* its socket went to another process (net/peer.h):
                           closing drops our descriptor only, quietly */
    uint8_t nodelay;    /* TCP_NODELAY is set (or not TCP) */
    uint8_t sent_once;  /* a write was made: the next sets TCP_NODELAY */
    uint8_t idle_list;  /* 1 + the idle list it is in, or 0 */
    uint8_t bare; /* no watch follows: its transport reports its edges */
    char remote_addr[INET6_ADDRSTRLEN];
    /* The socket's edges, registered with the loop (epoll): allocated
     * with the struct unless bare; never started until its first wait for
     * one served at once. */
    struct gn_watch io[];
};

/* Start serving the accepted socket FD (non-blocking) from PEER with
 * PROTO and its context CTX. The connection belongs to SET's list until
 * gn__conn_close(). NULL on ENOMEM (FD is then closed). */
struct gn_conn *gn__conn_new(struct gn_conns *set, int fd,
                             const struct sockaddr *peer, socklen_t len,
                             const struct gn_conn_proto *proto,
                             const void *ctx);

/* As gn__conn_new, for a socket whose edges a transport attached next,
 * from the loop, reports itself (gn__conn_event; the io_uring
 * transport): C has no watch (C->bare), so epoll never hears of the
 * socket, and C costs 128 bytes less. */
struct gn_conn *gn__conn_new_bare(struct gn_conns *set, int fd,
                                  const struct sockaddr *peer, socklen_t len,
                                  const struct gn_conn_proto *proto,
                                  const void *ctx);

/* As gn__conn_new_bare, for a socket whose first bytes are there already
 * (its listener defers accepts: TCP_DEFER_ACCEPT): C is not put idle
 * behind a first-byte timer it would leave at once. The caller attaches
 * its transport, then serves it now: gn__conn_event(C, GN_WATCH_READ). */
struct gn_conn *gn__conn_new_bare_ready(struct gn_conns *set, int fd,
                                        const struct sockaddr *peer,
                                        socklen_t len,
                                        const struct gn_conn_proto *proto,
                                        const void *ctx);

/* As gn__conn_new(), but serve the connection at once, from the loop,
 * before registering its socket: most new connections' requests are
 * already queued, and one served and closed in this run costs no epoll
 * call. Its socket is registered when its coroutine first waits, or when it
 * goes idle (with first_byte_ms while nothing came). For plain TCP and a
 * protocol whose serve goes back to idle when no byte is there (HTTP/1.1
 * without a PROXY header to expect). 0, or -ENOMEM (FD is then closed). */
int gn__conn_serve_new(struct gn_conns *set, int fd,
                       const struct sockaddr *peer, socklen_t len,
                       const struct gn_conn_proto *proto, const void *ctx);

/*
 * Serve FD, a client's socket another process of ours accepted, served
 * part of and handed over (net/peer.h), as if accepted here: its bytes
 * BYTES[0, LEN) (what that process read: a request head to serve again,
 * and whatever followed it) come first, then what the socket brings. The
 * client is REMOTE_ADDR:REMOTE_PORT as that process saw it (a PROXY
 * header, read there, is not expected again). Plain TCP only: a TLS
 * session's state cannot cross. It starts on the loop's next turn. NULL on
 * ENOMEM (FD is then closed).
 */
struct gn_conn *gn__conn_adopt(struct gn_conns *set, int fd,
                               const struct gn_conn_proto *proto,
                               const void *ctx, const char *remote_addr,
                               int remote_port, const void *bytes, size_t len);

/* Close and free C: the one place a connection ends. C must be idle (no
 * coroutine running on it). */
void gn__conn_close(struct gn_conn *c);

/* Free the read buffers SET keeps for reuse beyond KEEP (after a burst),
 * or all of them (at exit). */
void gn__conn_trim_spares(struct gn_conns *set, size_t keep);
void gn__conn_free_spares(struct gn_conns *set);

/* Add read buffers to SET's spares until it keeps N, each touched so that
 * its pages are resident (a worker's boot, for a burst to come). The
 * number added. */
size_t gn__conn_prefill_spares(struct gn_conns *set, size_t n);

/* Graceful stop: C closes after the request it is serving, or the next
 * one if it arrives while C waits idle, or when that wait times out. */
void gn__conn_shutdown(struct gn_conn *c);

/* Write every byte of IOV to the client, yielding while the socket is
 * full. 0, -ETIMEDOUT, or -EPIPE/-ECONNRESET when the client went away.
 * Call from C's coroutine. LAST: IOV ends a response, which may then be
 * held back while pipelined requests wait behind it, to go out with their
 * responses in one write; held bytes go out before the coroutine waits
 * for anything, and before the connection goes idle or closes. */
int gn__conn_writev(struct gn_conn *c, struct iovec *iov, int iovcnt, int last);

/* Send what C holds back, without waiting (what the socket takes now):
 * for the worker, when C's coroutine is about to wait. C's socket is
 * registered with the loop from then on (see gn__conn_serve_new). */
void gn__conn_push(struct gn_conn *c);

/* The address C arrived on (getsockname, looked up once): text ("" for a
 * unix socket) and *PORT. */
const char *gn__conn_local_addr(struct gn_conn *c, int *port);

/* Set TCP_NODELAY on C's socket, once; conn.c sets it itself before a
 * connection's second write. For writers that bypass conn.c's calls. */
void gn__conn_nodelay(struct gn_conn *c);

/* Whether C's client closed its end or reset the connection (without
 * waiting). */
int gn__conn_peer_gone(struct gn_conn *c);

/* Send COUNT bytes of the file FD from OFFSET to the client with
 * sendfile(2), yielding while the socket is full. 0, -EIO when the file
 * ended first, -ETIMEDOUT, or another negative errno. */
int gn__conn_sendfile(struct gn_conn *c, int fd, off_t offset, size_t count);

/* Send what C holds back, waiting as long as it takes: 0 or a negative
 * errno as gn__conn_writev. */
int gn__conn_flush(struct gn_conn *c);

/* Read what the transport has into the free end of C's read buffer,
 * waiting up to TIMEOUT_MS for it (0: not at all); held answers go out
 * before it waits. The bytes read (> 0), 0 at EOF, or a negative errno
 * (-ETIMEDOUT; -EAGAIN when TIMEOUT_MS is 0). */
ssize_t gn__conn_fill(struct gn_conn *c, int64_t timeout_ms);

/* Start serving C now, before its client sends anything (a stream app
 * speaks first: whoami). From the loop, right after gn__conn_new. */
void gn__conn_start(struct gn_conn *c);

/* An edge for C (GN_WATCH_READ, _WRITE, _CLOSED bits), as its socket's
 * watch reports them, or a transport that learns of them otherwise (the
 * io_uring transport's completions): remembered in C->ready; an idle
 * connection that became readable starts serving, a waiting coroutine
 * wakes. From the loop. */
void gn__conn_event(struct gn_conn *c, int what);

/* Wait up to TIMEOUT_MS (< 0: no limit) for an edge that makes C's socket
 * ready for EVENTS (GN_WATCH_READ, GN_WATCH_WRITE): the ready bits (> 0),
 * 0 when gn__green_wake() woke the waiter, -ETIMEDOUT or the cancellation
 * error. From C's coroutine; one waiter at a time. */
int gn__conn_wait(struct gn_conn *c, int events, int64_t timeout_ms);

/* Before C's socket goes to another process: make its transport stop
 * reading ahead (io_uring's receive in flight), waiting up to TIMEOUT_MS
 * for that. Afterwards every byte the client sent is in C's read buffer,
 * held by the transport (its pending(), read with gn__conn_recv) or still
 * in the socket. 0, -ETIMEDOUT or the cancellation error. From C's
 * coroutine. */
int gn__conn_release(struct gn_conn *c, int64_t timeout_ms);

/* Wait as gn__conn_wait for input, giving C's read buffer back meanwhile
 * when nothing unread is in it (a connection parked in a read holds no
 * buffer); it has one again when this returns, unless -ENOMEM. */
int gn__conn_wait_input(struct gn_conn *c, int64_t timeout_ms);

/* One non-blocking recv into BUF[0, LEN), past C's read buffer (which the
 * caller emptied first): the bytes read (> 0), 0 at EOF, -EAGAIN when the
 * socket has none, or a negative errno. Remembers a drained socket. */
ssize_t gn__conn_recv(struct gn_conn *c, void *buf, size_t len);

/* One non-blocking sendmsg of IOV: the bytes sent (>= 0), -EAGAIN when
 * the socket is full, or a negative errno. Remembers a full socket, so an
 * edge says when it takes bytes again. Callable from the loop. */
ssize_t gn__conn_send_nowait(struct gn_conn *c, const struct iovec *iov,
                             int iovcnt);

/* Preface stage (struct gn_conn_proto's preface), before the transport's
 * session: peek at the socket's own bytes, under the transport, into C's
 * read buffer [0, rlen) without taking them off the socket, waiting up to
 * TIMEOUT_MS for more than the C->rlen bytes peeked before (C->rlen < the
 * buffer's capacity: gn__conn_head_room first). The bytes peeked (more
 * than before), 0 at EOF, or a negative errno (-ETIMEDOUT). */
ssize_t gn__conn_peek_clear(struct gn_conn *c, int64_t timeout_ms);

/* Preface stage: take the first N bytes peeked off the socket (they are
 * the preface's; the transport's session starts after them) and empty C's
 * read buffer. 0, or a negative errno. */
int gn__conn_take_clear(struct gn_conn *c, size_t n);

/* Grow C's read buffer to CAP bytes: 0 or -ENOMEM. */
int gn__conn_grow(struct gn_conn *c, size_t cap);

/* Head stage: move the unparsed bytes to the front before a new request,
 * so the head starts at offset 0. */
void gn__conn_compact(struct gn_conn *c);

/* Head stage: room to read more when the buffer is full, growing it up to
 * MAX bytes (the largest legal head): 0, -ENOBUFS or -ENOMEM. */
int gn__conn_head_room(struct gn_conn *c, size_t max);

/* Body stage: recycle the room behind the head that ends at HEAD (which
 * must not move) once the buffer is full. */
void gn__conn_body_room(struct gn_conn *c, uint32_t head);

/* Handler stage: whether giving C's read buffer back while the handler
 * runs is worth copying its request's head out of it first: every byte
 * in it is parsed, it did not grow, and more than GN_CONN_RBUF_CROWD
 * connections hold one (handlers that wait: a worker with thousands
 * asleep would hold 4 KiB each for heads of a few hundred bytes). Below
 * that the copy would cost each quick request for nothing. */
#define GN_CONN_RBUF_CROWD 64
int gn__conn_rbuf_crowded(const struct gn_conn *c);

/* Give C's read buffer back (its bytes are all parsed and copied out of
 * it): the connection holds none until it reads again, when it takes
 * one. */
void gn__conn_drop_rbuf(struct gn_conn *c);

/* Make sure C holds a read buffer (after gn__conn_drop_rbuf): 0, or
 * -ENOMEM. */
int gn__conn_take_rbuf(struct gn_conn *c);

#endif /* GN_NET_CONN_H */
