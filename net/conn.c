/*
 * Connections. An accepted socket is registered once with the loop,
 * edge-triggered, for reading, writing and the peer's close, and stays so
 * until it closes: serving a request costs no epoll_ctl. A new plain HTTP
 * connection is served at once instead (gn__conn_serve_new), its request
 * most likely queued, and registered only when it first waits or goes
 * idle: one served and closed in that run costs no epoll call at all, nor
 * a loop turn. When bytes arrive
 * on an idle connection it gets a coroutine and a read buffer, and its
 * protocol (c->proto, chosen per listener) serves what is buffered; when
 * nothing is left both go back and the connection waits idle again, so an
 * idle connection costs only its struct, in a list of the idle ones per
 * timeout duration with one timer for each list. A connection whose
 * transport reports its edges (io_uring's) has no watch at all: one whose
 * edge came while it was busy waits in one more list, served from the
 * loop at its next callbacks.
 *
 * Edge-triggered means the socket's readiness is ours to remember: `ready`
 * keeps the edges seen, and a read or write that finds the socket drained
 * (EAGAIN, or for a read fewer bytes than asked with nothing pending in the
 * transport) clears its bit; the coroutine then parks until the next edge
 * wakes it (conn_wait), unless the transport holds input already (TLS
 * records read ahead: no edge comes for bytes off the socket). Bytes
 * cross the socket through the transport (net/transport.c), never by a
 * system call of this file's own.
 *
 * The read buffer holds one request head at a time, at its start. The head
 * may grow the buffer (up to what the limits allow); once it is complete the
 * buffer stays put until the request ends, because the request's strings point
 * into it, and body bytes cycle through the room behind the head. Unless
 * they were copied out (an upgrade; a whole message on a worker where many
 * handlers wait, gn__conn_rbuf_crowded): then the buffer may go back while
 * the handler runs, and the next read takes one again.
 */
#include "net/conn.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/iov.h"
#include "core/log.h"
#include "core/macros.h"
#include "green/coro.h"
#include "green/park.h"
#include "green/sync.h"
#include "green/sys.h"
#include "net/transport.h"

#define RBUF_INITIAL 4096
#define OUT_CAP RBUF_INITIAL /* responses held back for one write */
#define CONN_IOV_MAX 8       /* buffers gn__conn_writev adds to them */
#define LINGER_MS 2000       /* reading a closing client's leftovers */
#define LINGER_MAX (256 * 1024)
#define SHUTDOWN_IDLE_MS 1000  /* an idle connection's last chance at stop */
#define SENDFILE_MAX (1 << 20) /* per call: others get the loop in between */

static void on_io(int fd, short what, void *arg);
static int conn_watch(struct gn_conn *c);
static char *rbuf_get(struct gn_conns *set);
static void rbuf_put(struct gn_conns *set, char *buf, size_t cap);
static void rbuf_free(struct gn_conns *set, char *buf);

/* glibc's chunk is the size plus 8 bytes, in steps of 16 (issue #18). */
_Static_assert(sizeof(struct gn_conn) + 8 <= 256,
               "a bare connection (io_uring) in a 256-byte malloc chunk");
_Static_assert(sizeof(struct gn_conn) + sizeof(struct gn_watch) + 8 <= 384,
               "a connection and its watch (epoll) in a 384-byte chunk");

/* ---- life cycle ------------------------------------------------------- */

/* IN as dotted decimal into ADDR, NUL-terminated. By hand: glibc's
 * inet_ntop formats IPv4 with sprintf, about 1,700 instructions, which
 * every new connection paid (issue #18, a burst of 5,000). */
static void ipv4_text(const struct in_addr *in, char addr[INET_ADDRSTRLEN])
{
    const unsigned char *b = (const unsigned char *)&in->s_addr;
    char *p = addr;

    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];

        if (v >= 100)
            *p++ = (char)('0' + v / 100);
        if (v >= 10)
            *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
        *p++ = i < 3 ? '.' : '\0';
    }
}

/* SA as text into ADDR ("" for a unix socket) and its port. */
static void describe(const struct sockaddr *sa, char addr[INET6_ADDRSTRLEN],
                     uint16_t *port)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        ipv4_text(&in->sin_addr, addr);
        *port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        inet_ntop(AF_INET6, &in6->sin6_addr, addr, INET6_ADDRSTRLEN);
        *port = ntohs(in6->sin6_port);
    } else {
        *addr = '\0';
        *port = 0;
    }
}

struct gn_conn_local {
    uint16_t port;
    char addr[INET6_ADDRSTRLEN];
};

const char *gn__conn_local_addr(struct gn_conn *c, int *port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    /* Looked up when first asked, into its own allocation: an idle
     * connection should not carry 48 bytes few requests read. */
    if (c->local == NULL) {
        struct gn_conn_local *l = malloc(sizeof(*l));

        if (l == NULL) { /* ask again next time */
            *port = 0;
            return "";
        }
        *l->addr = '\0';
        l->port = 0;
        if (getsockname(c->fd, (struct sockaddr *)&ss, &len) == 0)
            describe((struct sockaddr *)&ss, l->addr, &l->port);
        c->local = l;
    }
    *port = c->local->port;
    return c->local->addr;
}

int gn__conn_peer_gone(struct gn_conn *c)
{
    char byte;
    ssize_t n;

    /* Bytes still buffered here (a pipelined request) mean it was there. */
    if (c->rpos < c->rlen)
        return 0;
    if (c->rdhup)
        return 1;
    n = c->tp->recv(c, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 ||
           (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* ---- idle timeouts ---------------------------------------------------- */

static void idle_timeout(struct gn_conn *c);

/* Bytes to serve: an edge not yet drained, or input the transport holds
 * (TLS records read ahead, for which no edge will come). */
static int readable(struct gn_conn *c)
{
    return (c->ready & GN_WATCH_READ) || c->tp->pending(c) > 0;
}

/* Idle deadlines are kept on the coarse monotonic clock (a read of a
 * shared page, no system call); a deadline within its tick counts as due. */
static int64_t coarse_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t coarse_tick_ms(void)
{
    static int64_t tick = -1;
    struct timespec ts;

    if (tick < 0)
        tick = clock_getres(CLOCK_MONOTONIC_COARSE, &ts) == 0
                   ? (int64_t)ts.tv_sec * 1000 + (ts.tv_nsec + 999999) / 1000000
                   : 10;
    return tick;
}

static void idle_expire(int fd, short what, void *arg);

/* Set L's timer for its head's deadline, as seen at NOW. */
static void idle_arm(struct gn_idle_list *l, int64_t now)
{
    int64_t left = l->head->idle_deadline - now;

    l->armed = l->head->idle_deadline;
    if (gn__watch_start(&l->timer, l->set->loop, -1, 0, left > 0 ? left : 1,
                        idle_expire, l) != 0)
        l->armed = 0; /* cannot happen for a timer; retried at the next */
}

/* Take C out of its idle list, if it is in one. */
static void idle_unlink(struct gn_conn *c)
{
    struct gn_idle_list *l;

    if (GN_LIKELY(c->idle_list == 0))
        return;
    l = &c->set->idle[c->idle_list - 1];
    if (c->idle_prev)
        c->idle_prev->idle_next = c->idle_next;
    else
        l->head = c->idle_next;
    if (c->idle_next)
        c->idle_next->idle_prev = c->idle_prev;
    else
        l->tail = c->idle_prev;
    c->idle_prev = c->idle_next = NULL;
    c->idle_list = 0;
    /* The timer stays as it is: if the head is later now, or none, it
     * fires once early and is set again then (or not). Touching it here
     * would cost two libevent calls per keep-alive request. */
}

/* No connection left: no timer may keep the loop running (a graceful
 * stop ends when nothing is armed). */
static void idle_timers_stop(struct gn_conns *set)
{
    for (int i = 0; i <= GN_IDLE_NOW; i++) {
        if (set->idle[i].armed != 0)
            gn__watch_stop(&set->idle[i].timer);
        set->idle[i].armed = 0;
    }
}

/* The list for TIMEOUT_MS: its own, a free one, or the last (shared:
 * still in order, its joins then cost a walk). */
static struct gn_idle_list *idle_list_for(struct gn_conns *set,
                                          int64_t timeout_ms)
{
    struct gn_idle_list *l;

    for (int i = 0; i < GN_IDLE_LISTS; i++) {
        l = &set->idle[i];
        if (l->ms == timeout_ms)
            return l;
        if (l->ms == 0) {
            l->ms = timeout_ms;
            l->set = set;
            return l;
        }
    }
    return &set->idle[GN_IDLE_LISTS - 1];
}

/* C idle until TIMEOUT_MS (> 0) from now. */
static void idle_link(struct gn_conn *c, int64_t timeout_ms)
{
    struct gn_idle_list *l = idle_list_for(c->set, timeout_ms);
    struct gn_conn *after = l->tail;
    int64_t now = coarse_ms();

    c->idle_deadline = now + timeout_ms;
    while (after != NULL && after->idle_deadline > c->idle_deadline)
        after = after->idle_prev;
    c->idle_prev = after;
    c->idle_next = after ? after->idle_next : l->head;
    if (c->idle_next)
        c->idle_next->idle_prev = c;
    else
        l->tail = c;
    if (after)
        after->idle_next = c;
    else
        l->head = c;
    c->idle_list = (uint8_t)(l - c->set->idle + 1);
    if (l->armed == 0 || l->armed > c->idle_deadline)
        idle_arm(l, now);
}

/* L's timer: the connections whose deadline passed time out; the timer
 * is set again for the next one. */
static void idle_expire(int fd, short what, void *arg)
{
    struct gn_idle_list *l = arg;
    int64_t now = coarse_ms(), due = now + coarse_tick_ms();
    struct gn_conn *c;

    (void)fd;
    (void)what;
    l->armed = 0;
    while ((c = l->head) != NULL && c->idle_deadline <= due) {
        idle_unlink(c);
        idle_timeout(c);
    }
    if (l->head != NULL && l->armed == 0)
        idle_arm(l, now);
}

/* The now list's timer: the connections in it when it went off are
 * decided, as at a timeout (those that joined meanwhile wait for the
 * timer's next run, in this turn still: libevent runs what is activated
 * during its callbacks before it waits again). */
static void idle_now(int fd, short what, void *arg)
{
    struct gn_idle_list *l = arg;
    struct gn_conn *c;
    size_t n = 0;

    (void)fd;
    (void)what;
    l->armed = 0;
    for (c = l->head; c != NULL; c = c->idle_next)
        n++;
    while (n-- > 0 && (c = l->head) != NULL) {
        idle_unlink(c);
        idle_timeout(c);
    }
    if (l->head != NULL && l->armed == 0) {
        l->armed = 1;
        gn__watch_activate(&l->timer, GN_WATCH_TIMEOUT);
    }
}

/* C decided from the loop at its next callbacks, as at a timeout due now
 * (never a nested resume). */
static void idle_link_now(struct gn_conn *c)
{
    struct gn_idle_list *l = &c->set->idle[GN_IDLE_NOW];

    c->idle_prev = l->tail;
    c->idle_next = NULL;
    if (l->tail)
        l->tail->idle_next = c;
    else
        l->head = c;
    l->tail = c;
    c->idle_list = GN_IDLE_NOW + 1;
    if (l->armed)
        return;
    if (!gn__watch_started(&l->timer)) {
        l->set = c->set;
        /* A watch without a descriptor, started once: only activated. */
        (void)gn__watch_start(&l->timer, c->set->loop, -1, 0, -1, idle_now,
                              l);
    }
    l->armed = 1;
    gn__watch_activate(&l->timer, GN_WATCH_TIMEOUT);
}

/* Idle for at most TIMEOUT_MS (< 0: for ever); or decide from the loop at
 * once, as at a timeout due now, if an edge came while the connection was
 * busy. */
static void go_idle(struct gn_conn *c, int64_t timeout_ms)
{
    /* Idle, a connection holds neither a buffer nor a coroutine. */
    assert(c->coro == NULL && c->rbuf == NULL && c->out == NULL);
    idle_unlink(c);
    if (readable(c) || timeout_ms == 0)
        idle_link_now(c);
    else if (timeout_ms > 0)
        idle_link(c, timeout_ms);
}

/* Wait for an edge that makes C's socket ready for EVENTS, within
 * TIMEOUT_MS: the ready bits, -ETIMEDOUT, or the cancellation error.
 * From the coroutine serving C. Input the transport holds already (TLS
 * records read ahead) counts as readable: no edge will come for it. */
static int conn_wait(struct gn_conn *c, int events, int64_t timeout_ms)
{
    assert(c->io_waiter == NULL);
    struct gn_waiter wt;
    int rc;

    if (c->ready & events)
        return c->ready & events;
    if ((events & GN_WATCH_READ) && c->tp->pending(c) > 0)
        return GN_WATCH_READ;
    if ((rc = conn_watch(c)) != 0)
        return rc;
    c->io_waiter = &wt;
    c->io_events = events;
    /* The connection's own watch reports the edge. */
    rc = gn__green_park_on(&wt, gn__wait_fd_kind, c->fd, events, -1, 0,
                           timeout_ms);
    c->io_waiter = NULL;
    return rc;
}

int gn__conn_wait(struct gn_conn *c, int events, int64_t timeout_ms)
{
    return conn_wait(c, events, timeout_ms);
}

int gn__conn_release(struct gn_conn *c, int64_t timeout_ms)
{
    int rc;

    if (c->tp->release == NULL)
        return 0;
    while ((rc = c->tp->release(c)) == -EINPROGRESS) {
        /* The receive's end is the edge: an older one says nothing. */
        c->ready &= ~GN_WATCH_READ;
        if ((rc = conn_wait(c, GN_WATCH_READ, timeout_ms)) < 0)
            return rc;
    }
    return rc;
}

/* C's socket registered with the loop, once, before anything waits on
 * it: for one served at once (gn__conn_serve_new), whose watch was never
 * started and which may close unregistered. The others' watch started
 * with them; a bare one has none: its transport (io_uring's) reports
 * its edges once told it waits, and a connection served and closed in
 * one run is never told. 0 or a negative errno. */
static int conn_watch(struct gn_conn *c)
{
    if (c->bare) {
        if (c->tp->watch != NULL)
            c->tp->watch(c);
        return 0;
    }
    if (GN_LIKELY(gn__watch_started(c->io)))
        return 0;
    /* For the connection's life (the kernel reports at once an edge that
     * is already there). */
    return gn__watch_start(c->io, c->set->loop, c->fd,
                           GN_WATCH_READ | GN_WATCH_WRITE | GN_WATCH_CLOSED |
                               GN_WATCH_PERSIST | GN_WATCH_ET,
                           -1, on_io, c);
}

/* A connection, with its watch unless BARE. */
static struct gn_conn *conn_create(struct gn_conns *set, int fd,
                                   const struct sockaddr *peer, socklen_t len,
                                   const struct gn_conn_proto *proto,
                                   const void *ctx, int bare)
{
    struct gn_conn *c =
        calloc(1, sizeof(*c) + (bare ? 0 : sizeof(struct gn_watch)));

    if (c == NULL) {
        gn__sys_close(fd);
        return NULL;
    }
    c->bare = (uint8_t)bare;
    c->set = set;
    c->ctx = ctx;
    c->fd = fd;
    c->tp = &gn__transport_tcp;
    c->proto = proto;
    if (len > 0)
        describe(peer, c->remote_addr, &c->remote_port);
    /* TCP_NODELAY: inherited from the listener, or set before a second
     * write (gn__conn_nodelay). */
    c->nodelay = peer->sa_family == AF_UNIX || set->nodelay_inherited;
    c->next = set->list;
    if (set->list)
        set->list->prev = c;
    set->list = c;
    set->n++;
    return c;
}

static struct gn_conn *conn_new(struct gn_conns *set, int fd,
                                const struct sockaddr *peer, socklen_t len,
                                const struct gn_conn_proto *proto,
                                const void *ctx, int bare)
{
    struct gn_conn *c = conn_create(set, fd, peer, len, proto, ctx, bare);

    if (c == NULL)
        return NULL;
    /* Registered once, for the connection's life (the kernel reports a
     * request that is already there at once). */
    if (!bare && conn_watch(c) != 0) {
        gn_log_error("cannot watch connection from %s", c->remote_addr);
        gn__conn_close(c);
        return NULL;
    }
    go_idle(c, set->first_byte_ms);
    return c;
}

struct gn_conn *gn__conn_new(struct gn_conns *set, int fd,
                             const struct sockaddr *peer, socklen_t len,
                             const struct gn_conn_proto *proto, const void *ctx)
{
    return conn_new(set, fd, peer, len, proto, ctx, 0);
}

struct gn_conn *gn__conn_new_bare(struct gn_conns *set, int fd,
                                  const struct sockaddr *peer, socklen_t len,
                                  const struct gn_conn_proto *proto,
                                  const void *ctx)
{
    return conn_new(set, fd, peer, len, proto, ctx, 1);
}

struct gn_conn *gn__conn_new_bare_ready(struct gn_conns *set, int fd,
                                        const struct sockaddr *peer,
                                        socklen_t len,
                                        const struct gn_conn_proto *proto,
                                        const void *ctx)
{
    /* Not idle: its first-byte timer would be armed, then disarmed by
     * the serving that follows (about 1,100 instructions a connection). */
    return conn_create(set, fd, peer, len, proto, ctx, 1);
}

static void start_serving(struct gn_conn *c);

int gn__conn_serve_new(struct gn_conns *set, int fd,
                       const struct sockaddr *peer, socklen_t len,
                       const struct gn_conn_proto *proto, const void *ctx)
{
    struct gn_conn *c = conn_create(set, fd, peer, len, proto, ctx, 0);

    if (c == NULL)
        return -ENOMEM;
    c->ready |= GN_WATCH_READ; /* most likely: try it */
    start_serving(c);
    return 0;
}

struct gn_conn *gn__conn_adopt(struct gn_conns *set, int fd,
                               const struct gn_conn_proto *proto,
                               const void *ctx, const char *remote_addr,
                               int remote_port, const void *bytes, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    struct gn_conn *c;
    char *copy = malloc(len ? len : 1);

    if (copy == NULL || len > UINT32_MAX) {
        free(copy);
        gn__sys_close(fd);
        return NULL;
    }
    memcpy(copy, bytes, len);
    if (getpeername(fd, (struct sockaddr *)&ss, &sslen) != 0) {
        memset(&ss, 0, sizeof(ss));
        ss.ss_family = AF_UNSPEC;
        sslen = 0;
    }
    if ((c = gn__conn_new(set, fd, (struct sockaddr *)&ss, sslen, proto,
                          ctx)) == NULL) {
        free(copy);
        return NULL;
    }
    c->adopted = copy;
    c->adopted_len = (uint32_t)len;
    snprintf(c->remote_addr, sizeof(c->remote_addr), "%s", remote_addr);
    c->remote_port = (uint16_t)remote_port;
    c->proxied = 1;
    /* Its request is here already: serve it from the loop (the caller may
     * be a coroutine, which cannot start another). */
    c->ready |= GN_WATCH_READ;
    go_idle(c, 0);
    return c;
}

/* An adopted connection's bytes into its fresh read buffer. */
static int take_adopted(struct gn_conn *c)
{
    int rc = 0;

    if (c->adopted_len > c->rcap)
        rc = gn__conn_grow(c, c->adopted_len);
    if (rc == 0) {
        memcpy(c->rbuf, c->adopted, c->adopted_len);
        c->rlen = c->adopted_len;
    }
    free(c->adopted);
    c->adopted = NULL;
    c->adopted_len = 0;
    return rc;
}

void gn__conn_close(struct gn_conn *c)
{
    struct gn_conns *set = c->set;

    assert(c->coro == NULL); /* idle: nobody runs on it */
    if (!c->bare)
        gn__watch_stop(c->io);
    idle_unlink(c);
    if (c->tp->close != NULL)
        c->tp->close(c);
    if (c->fd >= 0) /* (-1: the transport closed it) */
        gn__sys_close(c->fd);
    rbuf_free(set, c->rbuf);
    rbuf_free(set, c->out);
    free(c->adopted);
    free(c->local);
    if (c->prev)
        c->prev->next = c->next;
    else
        set->list = c->next;
    if (c->next)
        c->next->prev = c->prev;
    set->n--;
    free(c);
    if (set->n == 0)
        idle_timers_stop(set);
    set->closed(set->owner);
}

void gn__conn_shutdown(struct gn_conn *c)
{
    /* Busy: finish, answering with Connection: close. Idle: wait a moment
     * more, so that a client about to send its next request is answered
     * (with Connection: close) instead of finding the connection shut
     * under it and having to retry; then close. */
    c->closing = 1;
    if (c->coro == NULL)
        go_idle(c, SHUTDOWN_IDLE_MS);
    else if (c->proto->stop != NULL)
        c->proto->stop(c);
}

/* ---- socket I/O (inside the coroutine) -------------------------------- */

/* The readiness to wait for after the transport said EAGAIN to a call
 * that goes DIR (GN_WATCH_READ or _WRITE): DIR, unless the transport needs
 * the other way first (TLS: a read that must send, a write that must
 * read). Its ready bit is cleared: the socket was found drained (or full)
 * that way, and only a new edge says otherwise. */
static int blocked_on(struct gn_conn *c, int dir)
{
    int want = c->tp_want ? c->tp_want : dir;

    c->tp_want = 0;
    c->ready &= ~want;
    return want;
}


void gn__conn_nodelay(struct gn_conn *c)
{
    /* Static, not on the coroutine's stack: the kernel reads it, and on a
     * virtual machine with shadow page tables the kernel's first access to
     * a page of ours costs microseconds (a fresh stack's, in a burst, once
     * per connection); this page it has read before. */
    static const int one = 1;

    if (c->nodelay)
        return;
    c->nodelay = 1;
    gn__sys_setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Before each write to C's socket. Nagle's algorithm holds a small write
 * back while an earlier one is unacknowledged, so every write after the
 * first needs TCP_NODELAY; the first never waits, and a connection that
 * is answered in one write and closed (a new connection per request)
 * saves the setsockopt. */
static inline void before_send(struct gn_conn *c)
{
    if (GN_LIKELY(c->nodelay))
        return;
    if (c->sent_once)
        gn__conn_nodelay(c);
    c->sent_once = 1;
}

/* Send every byte of IOV. */
static int send_all(struct gn_conn *c, struct iovec *iov, int iovcnt)
{
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
    ssize_t n;
    int rc;

    while (mh.msg_iovlen > 0) {
        before_send(c);
        n = c->tp->sendmsg(c, &mh, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            return -errno;
        if (n < 0) {
            rc = conn_wait(c, blocked_on(c, GN_WATCH_WRITE), c->set->write_ms);
            if (rc < 0)
                return rc;
            continue;
        }
        mh.msg_iovlen = gn__iov_advance(&mh.msg_iov, mh.msg_iovlen, (size_t)n);
    }
    return 0;
}

/* Hold IOV back when more requests are already buffered behind this one
 * and it fits: 1 when held. One write for many pipelined responses costs
 * the kernel one send instead of many. */
static int hold(struct gn_conn *c, const struct iovec *iov, int iovcnt)
{
    size_t total = 0;

    if (c->rpos >= c->rlen)
        return 0; /* nothing pipelined behind: the client waits for it */
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (total > OUT_CAP - c->outlen)
        return 0;
    if (c->out == NULL && (c->out = rbuf_get(c->set)) == NULL)
        return 0;
    for (int i = 0; i < iovcnt; i++) {
        memcpy(c->out + c->outlen, iov[i].iov_base, iov[i].iov_len);
        c->outlen += (uint32_t)iov[i].iov_len;
    }
    return 1;
}

/* Send what is held back, waiting as long as it takes. */
int gn__conn_flush(struct gn_conn *c)
{
    struct iovec iov = {c->out, c->outlen};

    if (c->outlen == 0)
        return 0;
    c->outlen = 0; /* before any wait: the park hook finds nothing */
    return send_all(c, &iov, 1);
}

void gn__conn_push(struct gn_conn *c)
{
    struct iovec iov;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n;

    /* From its first wait on, a connection served at once is watched:
     * a handler's client leaving is noticed (failure: its next socket
     * wait reports it). */
    (void)conn_watch(c);
    if (c->outlen == 0)
        return;
    iov = (struct iovec){c->out, c->outlen};
    before_send(c);
    n = c->tp->sendmsg(c, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0)
        return; /* full (or failed): the next write or flush_held says */
    memmove(c->out, c->out + n, c->outlen - (size_t)n);
    c->outlen -= (uint32_t)n;
}

int gn__conn_writev(struct gn_conn *c, struct iovec *iov, int iovcnt, int last)
{
    assert(c->coro != NULL && c->outlen <= OUT_CAP);
    struct iovec all[1 + CONN_IOV_MAX];
    int rc;

    if (last && hold(c, iov, iovcnt))
        return 0;
    if (c->outlen == 0)
        return send_all(c, iov, iovcnt);
    if (iovcnt > CONN_IOV_MAX)
        return (rc = gn__conn_flush(c)) != 0 ? rc : send_all(c, iov, iovcnt);
    /* What was held, then IOV, in one write. */
    all[0] = (struct iovec){c->out, c->outlen};
    memcpy(all + 1, iov, (size_t)iovcnt * sizeof(*iov));
    c->outlen = 0;
    return send_all(c, all, iovcnt + 1);
}

int gn__conn_sendfile(struct gn_conn *c, int fd, off_t offset, size_t count)
{
    size_t burst = 0; /* sent since the loop last had a turn */
    ssize_t n;
    int rc;

    if ((rc = gn__conn_flush(c)) != 0) /* what was held goes first */
        return rc;
    while (count > 0) {
        size_t chunk = count < SENDFILE_MAX ? count : SENDFILE_MAX;

        before_send(c);
        n = c->tp->sendfile(c, fd, &offset, chunk);
        if (n > 0) {
            count -= (size_t)n;
            burst += (size_t)n;
            if (burst < SENDFILE_MAX || count == 0)
                continue;
            /* After a chunk's worth (one call for TCP, many records for
             * TLS), a turn of the loop, so that one large file does not
             * hold the other connections up. */
            burst = 0;
            if ((rc = gn__wait_ms(0)) < 0)
                return rc;
            continue;
        }
        if (n == 0)
            return -EIO; /* the file is shorter than promised */
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        rc = conn_wait(c, blocked_on(c, GN_WATCH_WRITE), c->set->write_ms);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Read what the socket has into the free end of the buffer, waiting up
 * to TIMEOUT_MS for it (0: not at all). The bytes read (> 0), 0 at EOF, or
 * a negative errno (-ETIMEDOUT; -EAGAIN when TIMEOUT_MS is 0). */
ssize_t gn__conn_fill(struct gn_conn *c, int64_t timeout_ms)
{
    size_t room;
    ssize_t n;
    int rc, want;

    if (c->rbuf == NULL && gn__conn_take_rbuf(c) != 0)
        return -ENOMEM;
    assert(c->rpos <= c->rlen && c->rlen <= c->rcap);
    room = c->rcap - c->rlen;
    for (;;) {
        n = c->tp->recv(c, c->rbuf + c->rlen, room, 0);
        if (n > 0) {
            /* Less than asked, and the transport holds nothing more: the
             * socket is drained; a new edge will say when more arrives. */
            if ((size_t)n < room && c->tp->pending(c) == 0)
                c->ready &= ~GN_WATCH_READ;
            c->rlen += (uint32_t)n;
            return n;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        want = blocked_on(c, GN_WATCH_READ);
        if (timeout_ms == 0)
            return -EAGAIN;
        /* The client may wait for the answers before it sends more. */
        if ((rc = gn__conn_flush(c)) != 0)
            return rc;
        rc = conn_wait(c, want, timeout_ms);
        if (rc < 0)
            return rc;
    }
}

int gn__conn_wait_input(struct gn_conn *c, int64_t timeout_ms)
{
    /* A TLS read may have to send first (gn__conn_recv said so). */
    int rc, want = c->tp_want ? c->tp_want : GN_WATCH_READ;

    c->tp_want = 0;
    /* The peer's end may have come with the last bytes read, on the edge
     * that read consumed: no edge will follow, and a read sees the end. */
    if ((c->ready & want) || c->rdhup)
        return GN_WATCH_READ;
    if (c->rbuf != NULL && c->rpos == c->rlen)
        gn__conn_drop_rbuf(c);
    rc = conn_wait(c, want, timeout_ms);
    if (rc > 0)
        rc = GN_WATCH_READ; /* what the caller waited for: try reading */
    if (c->rbuf == NULL && gn__conn_take_rbuf(c) != 0)
        return -ENOMEM;
    return rc;
}

ssize_t gn__conn_recv(struct gn_conn *c, void *buf, size_t len)
{
    ssize_t n;

    do
        n = c->tp->recv(c, buf, len, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0 && (size_t)n < len && c->tp->pending(c) == 0)
        c->ready &= ~GN_WATCH_READ;
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        /* What gn__conn_wait_input then waits for, if the transport
         * named it: kept in tp_want (TCP never sets it). */
        int want = c->tp_want;

        blocked_on(c, GN_WATCH_READ);
        c->tp_want = want;
        return -EAGAIN;
    }
    return -errno;
}

ssize_t gn__conn_send_nowait(struct gn_conn *c, const struct iovec *iov,
                             int iovcnt)
{
    struct msghdr mh = {.msg_iov = (struct iovec *)iov,
                        .msg_iovlen = (size_t)iovcnt};
    ssize_t n;

    before_send(c);
    do
        n = c->tp->sendmsg(c, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        /* (A TLS write never needs to read first: net/tls_context.c refuses
         * renegotiation, and TLS 1.3 writes never read.) */
        blocked_on(c, GN_WATCH_WRITE);
        return -EAGAIN;
    }
    return -errno;
}

ssize_t gn__conn_peek_clear(struct gn_conn *c, int64_t timeout_ms)
{
    assert(c->rbuf != NULL && c->rlen < c->rcap);
    int64_t deadline = gn__monotonic_ms() + timeout_ms, left;
    ssize_t n;
    int rc;

    for (;;) {
        n = gn__sys_recv(c->fd, c->rbuf, c->rcap, MSG_PEEK | MSG_DONTWAIT);
        if (n > (ssize_t)c->rlen) {
            c->rlen = (uint32_t)n;
            return n;
        }
        if (n == 0)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        /* Nothing new: only a new edge brings more (an edge comes with
         * every arrival, also when unread bytes are waiting). */
        c->ready &= ~GN_WATCH_READ;
        if ((left = deadline - gn__monotonic_ms()) <= 0)
            return -ETIMEDOUT;
        if ((rc = conn_wait(c, GN_WATCH_READ, left)) < 0)
            return rc;
    }
}

int gn__conn_take_clear(struct gn_conn *c, size_t n)
{
    size_t got = 0;
    ssize_t r;

    assert(n <= c->rcap);
    while (got < n) {
        r = gn__sys_recv(c->fd, c->rbuf, n - got, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 && errno != EAGAIN ? -errno : -EIO; /* peeked */
        got += (size_t)r;
    }
    c->rlen = c->rpos = 0;
    return 0;
}

int gn__conn_grow(struct gn_conn *c, size_t cap)
{
    char *p = realloc(c->rbuf, cap);

    if (p == NULL)
        return -ENOMEM;
    c->rbuf = p;
    c->rcap = (uint32_t)cap;
    return 0;
}

void gn__conn_compact(struct gn_conn *c)
{
    if (c->rpos == 0)
        return;
    memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
    c->rlen -= c->rpos;
    c->rpos = 0;
}

int gn__conn_head_room(struct gn_conn *c, size_t max)
{
    size_t cap = (size_t)c->rcap * 2;

    if (c->rlen < c->rcap)
        return 0;
    if (c->rcap >= max)
        return -ENOBUFS;
    return gn__conn_grow(c, cap < max ? cap : max);
}

int gn__conn_rbuf_crowded(const struct gn_conn *c)
{
    return c->rbuf != NULL && c->rpos == c->rlen && c->rcap == RBUF_INITIAL &&
           c->set->nheld_rbufs > GN_CONN_RBUF_CROWD;
}

void gn__conn_drop_rbuf(struct gn_conn *c)
{
    rbuf_put(c->set, c->rbuf, c->rcap);
    c->rbuf = NULL;
    c->rlen = c->rpos = c->rcap = 0;
}

int gn__conn_take_rbuf(struct gn_conn *c)
{
    if (c->rbuf != NULL)
        return 0;
    if ((c->rbuf = rbuf_get(c->set)) == NULL)
        return -ENOMEM;
    c->rcap = RBUF_INITIAL;
    c->rlen = c->rpos = 0;
    return 0;
}

void gn__conn_body_room(struct gn_conn *c, uint32_t head)
{
    uint32_t keep = c->rlen - c->rpos;

    if (c->rlen < c->rcap || c->rpos == head)
        return;
    memmove(c->rbuf + head, c->rbuf + c->rpos, keep);
    c->rpos = head;
    c->rlen = head + keep;
}

/* Before closing on a client that may still be sending (a rejected or
 * half-read request), read and drop its bytes for a moment: closing with
 * unread data makes the kernel send RST, which can destroy our response
 * before the client reads it. */
static void linger(struct gn_conn *c)
{
    int64_t deadline = gn__monotonic_ms() + LINGER_MS, left;
    size_t total = 0;
    ssize_t n;

    if (c->tp->shutdown(c, SHUT_WR) != 0)
        return;
    while (total < LINGER_MAX && (left = deadline - gn__monotonic_ms()) > 0) {
        c->rpos = c->rlen = 0;
        n = gn__conn_fill(c, left);
        if (n <= 0)
            return;
        total += (size_t)n;
    }
}

/* A read buffer of RBUF_INITIAL bytes. A connection takes one when a
 * request arrives and gives it back when it goes idle, and every one given
 * back is kept for the next (a malloc and a free per keep-alive request
 * otherwise); idle connections hold none. They are not capped: thousands
 * of requests that wait (a handler's sleep) end in one batch, and freeing
 * theirs let glibc shrink its heap, which the next batch then faulted in
 * again, page by page. The worker trims them with its coroutine stacks once
 * a burst is over (gn__conn_trim_spares). */
static char *spare_pop(struct gn_conns *set)
{
    char *buf = set->spare_rbufs;

    memcpy(&set->spare_rbufs, buf, sizeof(void *)); /* the next one */
    set->nspare_rbufs--;
    return buf;
}

static void spare_push(struct gn_conns *set, char *buf)
{
    memcpy(buf, &set->spare_rbufs, sizeof(void *));
    set->spare_rbufs = buf;
    set->nspare_rbufs++;
}

static char *rbuf_get(struct gn_conns *set)
{
    char *buf = set->spare_rbufs != NULL ? spare_pop(set)
                                         : malloc(RBUF_INITIAL);

    if (buf != NULL)
        set->nheld_rbufs++;
    return buf;
}

static void rbuf_put(struct gn_conns *set, char *buf, size_t cap)
{
    if (buf == NULL)
        return;
    set->nheld_rbufs--;
    if (cap != RBUF_INITIAL)
        free(buf); /* grown for a large head or body: not kept */
    else
        spare_push(set, buf);
}

/* Not kept (a closing connection's, should it hold one). */
static void rbuf_free(struct gn_conns *set, char *buf)
{
    if (buf != NULL)
        set->nheld_rbufs--;
    free(buf);
}

void gn__conn_trim_spares(struct gn_conns *set, size_t keep)
{
    while (set->nspare_rbufs > keep)
        free(spare_pop(set));
}

void gn__conn_free_spares(struct gn_conns *set)
{
    gn__conn_trim_spares(set, 0);
}

size_t gn__conn_prefill_spares(struct gn_conns *set, size_t n)
{
    size_t added = 0;
    char *buf;

    while (set->nspare_rbufs < n && (buf = malloc(RBUF_INITIAL)) != NULL) {
        memset(buf, 0, RBUF_INITIAL);
        spare_push(set, buf);
        added++;
    }
    return added;
}

static void conn_main(struct gn_coro *co, void *arg)
{
    struct gn_conn *c = arg;
    int rc;

    c->rbuf = rbuf_get(c->set);
    if (c->rbuf == NULL) {
        c->closing = 1;
        return;
    }
    c->rcap = RBUF_INITIAL;
    c->rlen = c->rpos = 0;
    if (c->adopted != NULL && take_adopted(c) != 0) {
        c->closing = 1;
        return;
    }
    /* TLS: the handshake first, once, within its own timeout; what comes
     * in the clear before it (a PROXY header) before that. Its records
     * are written by the library, in several writes. */
    if (c->tp->handshake != NULL)
        gn__conn_nodelay(c);
    if (c->tp->handshake != NULL &&
        ((c->proto->preface != NULL && c->proto->preface(c) < 0) ||
         (rc = c->tp->handshake(c)) < 0)) {
        c->closing = 1;
        return;
    }
    rc = c->proto->serve(c);
    /* Idle again (rc >= 0) or closing: the held answers go out first. */
    if (gn__conn_flush(c) != 0 || rc < 0) {
        c->closing = 1;
        /* A socket handed over is another process's now: shutting its
         * writing down would cut that process's client off. */
        if (rc < 0 && c->linger && !c->handed_off)
            linger(c);
    }
}

/* Runs on the loop's stack once conn_main returned. */
static void conn_coro_exit(struct gn_coro *co, void *arg)
{
    struct gn_conn *c = arg;

    gn__coro_release(co);
    c->coro = NULL;
    rbuf_put(c->set, c->rbuf, c->rcap);
    c->rbuf = NULL;
    rbuf_put(c->set, c->out, RBUF_INITIAL);
    c->out = NULL;
    c->outlen = 0;
    c->rlen = c->rpos = c->rcap = 0;
    if (c->closing || c->set->stopping)
        gn__conn_close(c);
    else if (conn_watch(c) != 0) {
        gn_log_error("cannot watch connection from %s", c->remote_addr);
        gn__conn_close(c);
    } else /* nothing came yet on one served at once: the first byte's */
        go_idle(c, c->nrequests ? c->set->keepalive_ms : c->set->first_byte_ms);
}

/* For the worker's listing: the protocol's words, then the connection. */
static void conn_describe(void *arg, char *buf, size_t len, const void **code)
{
    const struct gn_conn *c = arg;
    size_t n = 0;

    (void)code;
    if (c->proto->describe != NULL) {
        c->proto->describe(c, buf, len);
        n = strnlen(buf, len);
    }
    if (n + 1 < len)
        snprintf(buf + n, len - n, "%s(fd %d from %s)", n ? " " : "", c->fd,
                 c->remote_addr);
}

static void start_serving(struct gn_conn *c)
{
    idle_unlink(c);
    c->coro = gn__coro_new(c->set->coros, conn_main, c, conn_coro_exit, c);
    if (c->coro == NULL) {
        gn_log_error("out of memory for a coroutine; closing connection "
                     "from %s",
                     c->remote_addr);
        gn__conn_close(c);
        return;
    }
    gn__coro_set_data(c->coro, c);
    gn__coro_set_describe(c->coro, conn_describe);
    gn__coro_resume(c->coro);
}

void gn__conn_start(struct gn_conn *c)
{
    if (c->coro == NULL)
        start_serving(c);
}

/* Idle too long (close quietly, as Gunicorn), or an edge came while the
 * connection was busy (serve it). */
static void idle_timeout(struct gn_conn *c)
{
    if (readable(c) && !c->set->stopping)
        start_serving(c);
    else
        gn__conn_close(c);
}

/* An edge on C's socket: remember it; start serving an idle connection
 * that became readable, or act on its idle timer; wake the coroutine
 * waiting for it; tell a running handler its client left. */
static void on_io(int fd, short what, void *arg)
{
    (void)fd;
    gn__conn_event(arg, what);
}

void gn__conn_event(struct gn_conn *c, int what)
{
    c->ready |= what & (GN_WATCH_READ | GN_WATCH_WRITE);
    if (what & GN_WATCH_CLOSED) {
        c->rdhup = 1;
        c->ready |= GN_WATCH_READ; /* a read will see the end */
    }
    if (c->coro == NULL) {
        if (what & GN_WATCH_TIMEOUT)
            idle_timeout(c);
        else if (c->ready & GN_WATCH_READ)
            start_serving(c);
        return;
    }
    /* (A timeout while busy is one the coroutine's start cancelled.) */
    if ((what & GN_WATCH_WRITE) && c->proto->writable != NULL)
        c->proto->writable(c);
    if (c->io_waiter != NULL && (c->ready & c->io_events))
        gn__green_wake_now(c->io_waiter, c->ready & c->io_events);
    else if ((what & GN_WATCH_CLOSED) && c->handling != NULL)
        c->proto->client_left(c);
}
