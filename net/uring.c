/*
 * The io_uring transport (net/uring.h).
 *
 * Each connection on the ring keeps one receive armed once it has waited
 * (net/conn.c tells the transport, uring_watch, where epoll would
 * register it; one answered and closed in the run that read its request,
 * as a new connection per request is, never has one): the kernel picks
 * one of the ring's provided buffers when data arrives and completes it,
 * and each completion is the connection's read edge (gn__conn_event). Its
 * buffer is held, after any the reader has not finished (they chain, in
 * order, through the ring's next_bid), and the reader takes the bytes out
 * of them (pending() counts what is left), giving each back once empty.
 *
 * Once a receive has drained the socket (a keep-alive client waits for
 * its answer before it sends again), the next one is multishot: it stays
 * armed for the requests that follow, so the steady state is one send
 * entry per answer, with no receive entry and no poll armed again per
 * request. Otherwise (a new connection's request, a body streaming in)
 * one receive is armed at a time, when the reader has taken everything,
 * which keeps TCP's backpressure: a handler that does not read leaves the
 * bytes in the kernel. A multishot receive that fills a whole buffer, or
 * gets ahead of its reader by HOLD_MAX, is cancelled to the same end; and
 * since the kernel may fill what it was offered before the cancellation
 * reaches it, it is armed to end by itself after MSHOT_TOTAL bytes (then
 * armed again, like a single one, once the reader has taken them). A
 * kernel that refuses the limit (before 6.17) gets the cooperative ring
 * (below) and multishot receives without it; a kernel without multishot
 * receives (before 6.0), single ones.
 *
 * The kernel is offered only as many buffers as receives have needed at
 * once (FILL_MIN at first, one more each time a receive found none, up to
 * FILL_MAX), and a buffer given back goes to it again before one it was
 * never offered: it writes into buffers in the ring's order, so offering
 * all NBUFS would touch (make resident) every one of them in turn, 4 MiB
 * per worker however few connections need one at a time. The rest are
 * for receives whose bytes the reader has not taken yet.
 *
 * A receive that found no buffer (ENOBUFS: more sockets got bytes in one
 * batch than buffers were offered, as when thousands of connections in
 * step send at once) is still the read edge: its bytes wait in the
 * socket, and the reader takes them with recv(2) itself, as on epoll,
 * until the socket is empty; then a receive is armed again. (Arming it
 * again at once instead fails the same way while the burst lasts:
 * thousands of entries and completions per batch for no bytes.)
 *
 * A send copies its bytes (up to SEND_MAX) and queues them; the call
 * returns as if they had gone. Only one send per connection is in flight,
 * so they reach the socket in order: a second one says EAGAIN, and the
 * first one's completion is the write edge that retries it. An error
 * comes back on the next call. The copy goes back when the send completes
 * (a small one to the ring, for the next send of any connection, and the
 * largest large one too, up to SEND_MAX per worker): an idle connection
 * holds none (its state is a 64-byte chunk). sendfile(2) stays
 * a system call, once no send is in flight; when it finds the socket full,
 * a poll on the ring says when there is room.
 *
 * Nothing reaches the kernel when it is queued: a loop turn's submissions
 * go in one io_uring_enter, the one the loop then waits in (below); or
 * sooner once SUBMIT_BATCH wait (the answers of hundreds of timers due
 * at once go as they are made, not all after the last). On a kernel
 * whose ring does not hold the loop's wait (before 6.17) they go at the end
 * of the ring's callback, whose completions resumed the coroutines that
 * queued them, or, queued from elsewhere (a timer, a new connection), at
 * the end of the same loop turn (the flush, an event activated without
 * a descriptor).
 *
 * The kernel's side of a completion (task work) runs only when the
 * worker enters the ring (IORING_SETUP_DEFER_TASKRUN, taken on kernels
 * from 6.17, whose multishot receives end after a limit of bytes: without
 * it one fills every buffer offered inside a single enter, init_ring),
 * in one batch, never by interrupting it, and the loop does its waiting
 * in the ring (ring_wait, given to green/loop.c): one io_uring_enter
 * submits the turn's entries and sleeps until a completion comes, and the
 * loop's own descriptors (listeners, its timer, signals) reach it through
 * one poll on the loop's epoll set, queued in the ring beside the
 * connections' operations; the set is read, without sleeping, only in a
 * turn that poll completed. The ring's callback then only reaps: the next
 * wait submits what it queued, and returns with the first completion.
 *
 * A batching wait can be asked for (io_uring_batch_wait, off by default,
 * gn__uring_set_batch_wait; a ring the loop waits in, so kernels from
 * 6.17, IORING_FEAT_MIN_TIMEOUT being 6.12's): a worker whose last turn
 * found several completions then waits for up to WAIT_MANY, but no
 * longer than that many microseconds once one came, so that a turn
 * serves many requests where an io_uring_enter costs much.
 * On a PVM guest, where a system call cost about 1 us, it gave turns of
 * 3-5 requests instead of 2 and 13 % less CPU a request in plaintext-50.
 * On a KVM guest, where one costs a fraction of that, it saved a worker
 * alone on its core 5-9 % of its CPU in three invocations of five (and
 * cost it 1-2 % in two), added 0.1 ms to the median answer in all, and
 * cost two workers sharing their cores with the client 1.5-23 % of their
 * requests/s in all (bench/RESULTS.md): time a worker spends waiting
 * there is time neither it nor the client uses. Hence off unless asked
 * for: a default serves answers that should not wait, on cores that are
 * shared (a proxy, other workers).
 *
 * Kernels 5.19 to 6.16 get cooperative task work (COOP_TASKRUN: run at the
 * worker's next system call, a sleeping worker woken with EINTR), the
 * ring's descriptor watched in the epoll set, and a submission at the end
 * of the ring's callback. Waking an epoll_wait through an eventfd
 * registered with a deferring ring was measured and dropped: the kernel
 * defers that signal (RCU) when it comes from a socket's wake-up, and
 * plaintext-50 fell from 12 k to 4 k requests/s.
 *
 * A connection on the ring is never registered with epoll (it has no
 * watch: net/conn.h's bare connection): its receives say when it is
 * readable, its sends' completions and polls when it is writable, and its
 * descriptor is closed by the ring, after the turn's last send.
 *
 * A socket handed to another worker (a Socket.IO WebSocket that goes to
 * its session's) is released first: its receive in flight is cancelled
 * and none is armed again, so every byte not yet read is either in the
 * buffer the connection holds (read and sent along by the caller) or
 * still in the socket.
 *
 * A connection that closes with operations in flight leaves its state
 * behind (an orphan): its receive is cancelled, its send finishes (the
 * kernel holds the socket open until it has), and the state is freed when
 * the last completion comes. Completions carry the state's address, tagged
 * with the operation in its low bits.
 */
#include "net/uring.h"

#include <errno.h>

#include "config.h"
#include "net/conn.h"

#if GN_HAVE_LIBURING

#include <limits.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "green/loop.h"
#include "green/park.h"
#include "green/sys.h"
#include "net/transport.h"

#define RING_ENTRIES 1024
#define NBUFS 1024          /* provided receive buffers (a power of 2) */
#define BUFSZ 4096          /* ... of this size: one request head */
#define FILL_MIN 64         /* buffers offered to the kernel at first */
#define FILL_MAX 128        /* ... at most: a burst past it waits its turn */
#define BGID 0              /* their group */
#define SEND_MAX (1 << 18)  /* bytes one send copies: the rest waits */
#define SEND_SMALL 512      /* copies of up to this many bytes are reused, */
#define SEND_KEEP 64        /* ... this many kept by the ring between sends */
#define HOLD_MAX 2          /* buffers a connection holds before its
                               receive is cancelled (backpressure) */
#define MSHOT_TOTAL (16 * BUFSZ) /* bytes a multishot receive takes, at
                               most, before it ends (kernel 6.17+) */
#define REAP_BATCH 64       /* completions taken at once */
#define SUBMIT_BATCH 64     /* entries queued outside the ring's callback
                               before they go */
#define REAP_ROUNDS 8       /* submit-and-reap rounds per callback */
#ifndef IORING_FEAT_MIN_TIMEOUT /* kernels from 6.12; liburing 2.3 predates */
#define IORING_FEAT_MIN_TIMEOUT (1U << 15)
#endif
#define WAIT_MANY 32        /* completions a batching wait waits for */
#define BATCH_WAIT_MAX 1000 /* the longest batching wait, in us */
#define FREE_WAIT_MS 1000   /* at exit, for operations still in flight */

/* How a drained connection's receive is armed: multishot up to
 * MSHOT_TOTAL bytes, or multishot without a limit, or single. */
enum { MSHOT_NONE = 0, MSHOT_ENDLESS = 1, MSHOT_LIMITED = 2 };

/* OP_POLL: room in a socket sendfile(2) found full. OP_IGNORE: a
 * cancellation's or a close's own answer. */
enum { OP_RECV = 0, OP_SEND = 1, OP_POLL = 2, OP_IGNORE = 3, OP_MASK = 3 };

/* The poll on the loop's epoll set (ring_wait): to be queued, queued or
 * in flight, or completed and the set not read yet. */
enum { EP_IDLE = 0, EP_ARMED, EP_FIRED };

/* A send's copy: LEN bytes of CAP, OFF of them sent. */
struct sendbuf {
    uint32_t off, len, cap;
    char data[];
};

/* A connection's state on the ring: one per connection, idle ones too, so
 * it is kept within a 64-byte malloc chunk (the net/conn unit test's
 * budget for an idle connection is the struct gn_conn beside it). */
struct uconn {
    struct gn_uring *u;
    struct gn_conn *c; /* NULL once the connection closed (an orphan) */
    struct sendbuf *send; /* the send in flight's copy, or NULL */
    uint32_t queued_in; /* the batch its last entry was queued in */
    int16_t err;        /* a failed operation's errno, for the next call */
    int16_t held_bid;   /* the first buffer of bytes not read yet, or -1 */
    int16_t held_last;  /* ... the last (they chain through next_bid) */
    uint16_t held_off;  /* the first one's bytes already read */
    uint16_t last_len;  /* the last receive's bytes: < BUFSZ, drained */
    uint8_t nheld;      /* buffers held */
    uint8_t recv_armed; /* a receive queued or in flight (until its last
                           completion, a multishot one) */
    uint8_t send_armed; /* a send queued or in flight */
    uint8_t direct;     /* its receive found no buffer: recv(2) it */
    uint8_t eof;        /* the peer's end was read */
    uint8_t poll_armed; /* a poll for room queued or in flight (sendfile) */
    uint8_t released;   /* no more receives: the socket goes elsewhere */
    uint8_t cancelling; /* the receive in flight was asked to end */
};

_Static_assert(BUFSZ <= UINT16_MAX && NBUFS <= INT16_MAX,
               "held_off, last_len, held_bid and buffer lengths are 16 bits");
_Static_assert(sizeof(struct uconn) <= 56, "a 64-byte malloc chunk");

struct gn_uring {
    struct io_uring ring;
    struct io_uring_buf_ring *br;
    size_t br_size;
    char *bufs;
    uint16_t *spare;  /* buffers not offered: the last given back on top */
    int16_t *next_bid;  /* a held buffer's successor in its chain, or -1 */
    uint16_t *buf_len;  /* a held buffer's bytes */
    int multishot;      /* receives are multishot: MSHOT_LIMITED, or
                           MSHOT_ENDLESS (kernel < 6.17), or MSHOT_NONE
                           (< 6.0) */
    unsigned nspare;
    unsigned offered; /* buffers the kernel holds and has not used */
    unsigned fill;    /* ... how many it is offered */
    struct sendbuf *spare_sends; /* small copies, for the next sends */
    unsigned nspare_sends;
    unsigned keep_sends; /* ... kept at most: SEND_KEEP, or the prefill */
    struct sendbuf *spare_big; /* the largest copy given back, or NULL */
    struct gn_loop *loop;
    struct gn_watch watch; /* the ring's descriptor: completions */
    struct gn_watch flush; /* no descriptor: activated to submit */
    int flush_queued;      /* ... activated, for this turn's end */
    int in_reap;           /* in the ring's callback: its end submits */
    int waits;             /* the loop waits in the ring (ring_wait) */
    int epoll_poll;        /* ... its poll on the loop's epoll set: EP_* */
    unsigned batch_us;     /* ... its batching wait; 0: none */
    unsigned last_reaped;  /* ... completions the last turn reaped */
    unsigned long wakeups; /* ... sleeps in the ring it woke from */
    int registered;        /* the ring's descriptor is registered */
    uint32_t batch;        /* submissions so far: the batch being queued */
    unsigned long entries; /* entries queued so far, of every kind */
    size_t orphans;        /* closed connections' state, in flight */
};

static const struct gn_transport uring_transport;

/* The poll on the loop's epoll set: its completion's tag (no connection's
 * state lies at the ring's address). */
static uint64_t epoll_tag(const struct gn_uring *u)
{
    return (uint64_t)(uintptr_t)u | OP_IGNORE;
}

/* It completed: the set is to be read. A completion of a poll queued
 * before the last one (one ring_wait saw, the next queued another before
 * the ring's callback reaped it) only makes the loop read the set once
 * more, for nothing: the poll just queued is never taken for done. */
static void epoll_poll_done(struct gn_uring *u)
{
    if (u->epoll_poll == EP_ARMED)
        u->epoll_poll = EP_FIRED;
}

static void on_ring(int fd, short what, void *arg);
static void on_flush(int fd, short what, void *arg);

/* Hand what is queued to the kernel (which also runs the task work that
 * turns operations that finished into completions): a batch ends. */
static void submit(struct gn_uring *u)
{
    io_uring_submit_and_get_events(&u->ring);
    u->batch++;
}

/* Something for the kernel: entries queued, or task work it flagged
 * (IORING_SQ_TASKRUN) that only an enter runs. */
static int kernel_work(struct gn_uring *u)
{
    return io_uring_sq_ready(&u->ring) > 0 ||
           (IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_TASKRUN);
}

/* ---- submissions ------------------------------------------------------ */

/* Make sure what is queued reaches the kernel before the loop sleeps:
 * the flush runs after the callbacks already due this turn (libevent
 * runs what is activated during a turn in the same turn). */
static void schedule_flush(struct gn_uring *u)
{
    if (!u->in_reap && !u->flush_queued) {
        u->flush_queued = 1;
        gn__watch_activate(&u->flush, GN_WATCH_TIMEOUT);
    }
}

/* A free submission entry (submitting what is queued when the queue is
 * full, or holds SUBMIT_BATCH from outside the ring's callback), or NULL
 * when even that failed. The ring's callback submits after each round of
 * completions; timers and new connections queue until the flush at the
 * end of the loop turn, and a turn that runs hundreds of them (the
 * timers that fell due while the last turn ran, when 5,000 connections
 * sleep in step) would hold the first answers back until the last is
 * queued. */
static struct io_uring_sqe *get_sqe(struct gn_uring *u)
{
    struct io_uring_sqe *sqe;

    if (!u->in_reap && io_uring_sq_ready(&u->ring) >= SUBMIT_BATCH)
        submit(u);
    sqe = io_uring_get_sqe(&u->ring);
    if (sqe == NULL) {
        submit(u);
        sqe = io_uring_get_sqe(&u->ring);
    }
    if (sqe != NULL) {
        u->entries++;
        schedule_flush(u);
    }
    return sqe;
}

/* Prepare SQE as a drained connection's receive (arm_recv): multishot,
 * waiting for data first, ending after MSHOT_TOTAL bytes (the kernel's
 * optlen, which liburing 2.3's header names file_index). */
static void prep_limited_multishot(struct io_uring_sqe *sqe, int fd)
{
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
    sqe->file_index = MSHOT_TOTAL;
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
}

static void arm_recv(struct uconn *uc)
{
    struct gn_uring *u = uc->u;
    struct io_uring_sqe *sqe;

    if (uc->recv_armed || uc->direct || uc->eof || uc->released ||
        uc->c == NULL)
        return;
    if ((sqe = get_sqe(u)) == NULL) {
        uc->err = EAGAIN; /* cannot happen with a ring that submits */
        return;
    }
    /* The last receive drained the socket (the peer waits for an answer
     * before it sends more): multishot, waiting for data before trying.
     * Otherwise the bytes are there or stream in (a new connection's
     * request, a body): one receive, tried at once, and the next when the
     * reader has taken it, so that the sender waits for the reader
     * (backpressure). */
    if (uc->last_len >= BUFSZ) {
        io_uring_prep_recv(sqe, uc->c->fd, NULL, BUFSZ, 0);
    } else if (u->multishot == MSHOT_LIMITED) {
        /* However many completions it makes before a cancellation
         * reaches it (a body streaming into a connection that was
         * waiting), it takes no more than MSHOT_TOTAL. */
        prep_limited_multishot(sqe, uc->c->fd);
    } else {
        if (u->multishot == MSHOT_ENDLESS)
            io_uring_prep_recv_multishot(sqe, uc->c->fd, NULL, 0, 0);
        else
            io_uring_prep_recv(sqe, uc->c->fd, NULL, BUFSZ, 0);
        sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
    }
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)uc | OP_RECV);
    uc->recv_armed = 1;
    uc->queued_in = u->batch;
}

/* A copy for LEN bytes: a small one the ring kept, the large one it
 * kept if that is large enough, or a new one. NULL when out of memory. */
static struct sendbuf *sendbuf_get(struct gn_uring *u, size_t len)
{
    struct sendbuf *sb = u->spare_sends;
    size_t cap = len <= SEND_SMALL ? SEND_SMALL : len;

    if (len <= SEND_SMALL && sb != NULL) {
        memcpy(&u->spare_sends, sb->data, sizeof(sb)); /* the next one */
        u->nspare_sends--;
        return sb;
    }
    if (len > SEND_SMALL && u->spare_big != NULL && u->spare_big->cap >= len) {
        sb = u->spare_big;
        u->spare_big = NULL;
        return sb;
    }
    if ((sb = malloc(sizeof(*sb) + cap)) != NULL)
        sb->cap = (uint32_t)cap;
    return sb;
}

/* SB's send is over: a small copy is kept for the next (SEND_KEEP at
 * most, or as many as gn__uring_prefill made), and the largest large one,
 * so that a connection streaming big answers (or a flood's queued pongs)
 * does not allocate and free up to SEND_MAX bytes per send; the others
 * are freed. */
static void sendbuf_put(struct gn_uring *u, struct sendbuf *sb)
{
    if (sb == NULL)
        return;
    if (sb->cap > SEND_SMALL) {
        if (u->spare_big == NULL || u->spare_big->cap < sb->cap) {
            free(u->spare_big);
            u->spare_big = sb;
        } else {
            free(sb);
        }
        return;
    }
    if (u->nspare_sends >= u->keep_sends) {
        free(sb);
        return;
    }
    memcpy(sb->data, &u->spare_sends, sizeof(sb));
    u->spare_sends = sb;
    u->nspare_sends++;
}

static void arm_send(struct uconn *uc)
{
    struct io_uring_sqe *sqe = get_sqe(uc->u);
    struct sendbuf *sb = uc->send;

    if (sqe == NULL) {
        uc->err = EIO;
        sendbuf_put(uc->u, sb);
        uc->send = NULL;
        return;
    }
    /* MSG_WAITALL: the kernel sends it all, waiting for room. */
    io_uring_prep_send(sqe, uc->c->fd, sb->data + sb->off, sb->len - sb->off,
                       MSG_NOSIGNAL | MSG_WAITALL);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)uc | OP_SEND);
    uc->send_armed = 1;
    uc->queued_in = uc->u->batch;
}

/* ---- buffers ---------------------------------------------------------- */

/* Offer buffer BID to the kernel. */
static void buf_offer(struct gn_uring *u, int bid)
{
    io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * BUFSZ, BUFSZ,
                          (unsigned short)bid, io_uring_buf_ring_mask(NBUFS),
                          0);
    io_uring_buf_ring_advance(u->br, 1);
    u->offered++;
}

/* Buffer BID was read: offered again, or kept on top of the spares when
 * the kernel holds as many as it is offered. */
static void buf_return(struct gn_uring *u, int bid)
{
    if (u->offered < u->fill)
        buf_offer(u, bid);
    else
        u->spare[u->nspare++] = (uint16_t)bid;
}

/* The kernel holds fewer than it is offered (it used some): the spares
 * given back last make up the number. */
static void top_up(struct gn_uring *u)
{
    while (u->offered < u->fill && u->nspare > 0)
        buf_offer(u, u->spare[--u->nspare]);
}

/* A receive's LEN bytes in buffer BID: held after those UC holds. */
static void hold(struct uconn *uc, int bid, int len)
{
    struct gn_uring *u = uc->u;

    u->buf_len[bid] = (uint16_t)len;
    u->next_bid[bid] = -1;
    if (uc->held_bid < 0) {
        uc->held_bid = (int16_t)bid;
        uc->held_off = 0;
    } else {
        u->next_bid[uc->held_last] = (int16_t)bid;
    }
    uc->held_last = (int16_t)bid;
    uc->nheld++;
}

/* UC's first held buffer was read (or is dropped): back to the ring. */
static void unhold_first(struct uconn *uc)
{
    struct gn_uring *u = uc->u;
    int bid = uc->held_bid;

    uc->held_bid = u->next_bid[bid];
    uc->held_off = 0;
    uc->nheld--;
    buf_return(u, bid);
}

/* ---- completions ------------------------------------------------------ */

/* Ask the kernel to end UC's receive (its last completion says when):
 * once, however often asked. */
static void cancel_recv(struct uconn *uc)
{
    struct io_uring_sqe *sqe;

    if (!uc->recv_armed || uc->cancelling || (sqe = get_sqe(uc->u)) == NULL)
        return;
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)uc | OP_RECV, 0);
    io_uring_sqe_set_data64(sqe, OP_IGNORE);
    uc->cancelling = 1;
}

static void uconn_free_if_done(struct uconn *uc)
{
    if (uc->c != NULL || uc->recv_armed || uc->send_armed || uc->poll_armed)
        return;
    sendbuf_put(uc->u, uc->send);
    uc->u->orphans--;
    free(uc);
}

static void recv_done(struct uconn *uc, int res, unsigned flags)
{
    struct gn_uring *u = uc->u;
    int what = GN_WATCH_READ;
    int more = (flags & IORING_CQE_F_MORE) != 0; /* still armed */

    uc->recv_armed = (uint8_t)more;
    if (!more)
        uc->cancelling = 0;
    if (flags & IORING_CQE_F_BUFFER) { /* the kernel used one */
        u->offered--;
        top_up(u);
        if (res <= 0) /* and put nothing in it */
            buf_return(u, (int)(flags >> IORING_CQE_BUFFER_SHIFT));
    }
    if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
        int bid = (int)(flags >> IORING_CQE_BUFFER_SHIFT);

        if (uc->c == NULL) { /* closed meanwhile: nobody reads it */
            buf_return(u, bid);
            uconn_free_if_done(uc);
            return;
        }
        hold(uc, bid, res);
        uc->last_len = (uint16_t)res;
        /* Backpressure: the reader is behind, or the bytes stream in (a
         * full buffer): what comes next stays in the socket until the
         * reader has taken these. (The kernel may fill a few more before
         * the cancellation reaches it.) */
        if (uc->nheld >= HOLD_MAX || res == BUFSZ)
            cancel_recv(uc);
    } else if (res == -EINVAL && u->multishot != MSHOT_NONE &&
               uc->last_len < BUFSZ && !more && uc->c != NULL) {
        /* A multishot receive (armed after a drained one) refused: a
         * kernel before 6.17 (no limit) or 6.0 (no multishot). One step
         * down from now on; but on a ring whose task work runs only in
         * the worker's enters (init_ring asked the kernel, so this is
         * not expected), a multishot receive without a limit fills every
         * buffer offered in one enter, again in the next before its
         * cancellation (test_io_uring.py's backpressure test: 1 MB
         * taken): single receives there. */
        u->multishot = u->waits ? MSHOT_NONE : u->multishot - 1;
        arm_recv(uc);
        return;
    } else if (res == -ENOBUFS && uc->c != NULL) {
        /* The bytes are in the socket: the reader's, once no receive is
         * armed (a multishot one says ENOBUFS as its last). */
        uc->direct = (uint8_t)!more;
        /* One more receive came at once than buffers were offered: offer
         * one more from now on. */
        if (u->fill < FILL_MAX) {
            u->fill++;
            top_up(u);
        }
    } else if (res == -EINTR && uc->c != NULL) {
        if (!more && uc->held_bid < 0)
            arm_recv(uc);
        return;
    } else if (uc->c != NULL) {
        if (res == 0) {
            uc->eof = 1;
            what |= GN_WATCH_CLOSED;
        } else if (res != -ECANCELED) {
            uc->err = (int16_t)-res;
        }
    }
    if (uc->c == NULL) {
        uconn_free_if_done(uc);
        return;
    }
    gn__conn_event(uc->c, what);
}

static void send_done(struct uconn *uc, int res)
{
    struct sendbuf *sb = uc->send;

    uc->send_armed = 0;
    if (res > 0)
        sb->off += (uint32_t)res;
    if (res < 0 && uc->err == 0)
        uc->err = (int16_t)-res;
    if (res > 0 && sb->off < sb->len && uc->c != NULL) {
        arm_send(uc); /* a short send: the rest, still in order */
        return;
    }
    sendbuf_put(uc->u, sb);
    uc->send = NULL;
    if (uc->c == NULL) {
        uconn_free_if_done(uc);
        return;
    }
    gn__conn_event(uc->c, GN_WATCH_WRITE);
}

/* The socket sendfile(2) found full has room (or an error, which the
 * next call reports), or the poll was cancelled: a write edge. */
static void poll_done(struct uconn *uc)
{
    uc->poll_armed = 0;
    if (uc->c == NULL) {
        uconn_free_if_done(uc);
        return;
    }
    gn__conn_event(uc->c, GN_WATCH_WRITE);
}

/* Take the completions there are and act on them: the number taken. */
static unsigned reap(struct gn_uring *u)
{
    struct io_uring_cqe *cqes[REAP_BATCH];
    struct {
        uint64_t data;
        int res;
        unsigned flags;
    } got[REAP_BATCH];
    unsigned n = io_uring_peek_batch_cqe(&u->ring, cqes, REAP_BATCH);

    /* Copied out first: what the dispatch runs may queue and submit. */
    for (unsigned i = 0; i < n; i++) {
        got[i].data = io_uring_cqe_get_data64(cqes[i]);
        got[i].res = cqes[i]->res;
        got[i].flags = cqes[i]->flags;
    }
    io_uring_cq_advance(&u->ring, n);
    for (unsigned i = 0; i < n; i++) {
        struct uconn *uc = (struct uconn *)(uintptr_t)(got[i].data & ~OP_MASK);

        if (got[i].data == epoll_tag(u)) {
            epoll_poll_done(u);
            continue;
        }

        switch (got[i].data & OP_MASK) {
        case OP_RECV:
            recv_done(uc, got[i].res, got[i].flags);
            break;
        case OP_SEND:
            send_done(uc, got[i].res);
            break;
        case OP_POLL:
            poll_done(uc);
            break;
        default:
            break; /* OP_IGNORE */
        }
    }
    return n;
}

/* Completions came (the ring's descriptor is readable), or the flush:
 * run the kernel's side of them and reap them, which resumes the
 * coroutines they were for, and submit what those queued; again while
 * that brought more. */
static void on_ring(int fd, short what, void *arg)
{
    struct gn_uring *u = arg;
    unsigned n;

    (void)fd;
    (void)what;
    if (u->flush_queued) { /* this does what it would */
        gn__watch_stop(&u->flush);
        u->flush_queued = 0;
    }
    u->in_reap = 1;
    u->last_reaped = 0;
    if (u->waits) {
        /* What the wait brought, up to a completion queue's worth: its
         * next enter submits and waits. (Stopping at REAP_ROUNDS, as
         * below, left a broadcast's 5,000 send completions to ten loop
         * turns, and the next broadcast's trigger behind them: its first
         * socket had it 1.6-1.9 ms after it was sent, 0.6 reaping all.) */
        unsigned most = u->ring.cq.ring_entries;

        while (u->last_reaped < most && (n = reap(u)) > 0)
            u->last_reaped += n;
        u->in_reap = 0;
        return;
    }
    for (int round = 0; round < REAP_ROUNDS; round++) {
        if (kernel_work(u))
            submit(u);
        n = reap(u);
        u->last_reaped += n;
        if (n == 0 && !kernel_work(u))
            break;
    }
    u->in_reap = 0;
    if (io_uring_sq_ready(&u->ring) > 0)
        submit(u);
}

static void on_flush(int fd, short what, void *arg)
{
    struct gn_uring *u = arg;

    u->flush_queued = 0;
    on_ring(fd, what, arg);
}

/* ---- the loop's wait -------------------------------------------------- */

static int arm_epoll_poll(struct gn_uring *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

    if (sqe == NULL) {
        submit(u);
        if ((sqe = io_uring_get_sqe(&u->ring)) == NULL)
            return -EAGAIN;
    }
    io_uring_prep_poll_add(sqe, gn__loop_epoll_fd(u->loop), POLLIN);
    io_uring_sqe_set_data64(sqe, epoll_tag(u));
    u->epoll_poll = EP_ARMED;
    return 0;
}

/* Submit what is queued and wait for completions: for one, or, with a
 * batching wait and when the last turn found several (a busy worker), for
 * up to WAIT_MANY but no longer than batch_us once one came. */
static int enter_and_wait(struct gn_uring *u, int timeout_ms)
{
    struct io_uring_sq *sq = &u->ring.sq;
    struct __kernel_timespec ts = {
        .tv_sec = timeout_ms / 1000,
        .tv_nsec = (long long)(timeout_ms % 1000) * 1000000};
    struct io_uring_getevents_arg arg = {
        .sigmask_sz = _NSIG / 8,
        .ts = timeout_ms > 0 ? (uint64_t)(uintptr_t)&ts : 0};
    unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
    unsigned wait_nr = 1;

    if (u->batch_us != 0 && u->last_reaped >= 2) {
        wait_nr = WAIT_MANY;
        arg.pad = u->batch_us;
    }
    if (sq->sqe_head != sq->sqe_tail) {
        sq->sqe_head = sq->sqe_tail;
        io_uring_smp_store_release(sq->ktail, sq->sqe_tail);
    }
    /* The kernel ends a wait with a minimum and no overall timeout when
     * the minimum passes, completions or not (-ETIME): give it one. */
    if (arg.pad != 0 && timeout_ms < 0) {
        ts.tv_sec = 3600;
        ts.tv_nsec = 0;
        arg.ts = (uint64_t)(uintptr_t)&ts;
    }
    if (u->registered)
        flags |= IORING_ENTER_REGISTERED_RING;
    return io_uring_enter2(u->registered ? (unsigned)u->ring.enter_ring_fd
                                         : (unsigned)u->ring.ring_fd,
                           *sq->ktail - IO_URING_READ_ONCE(*sq->khead),
                           wait_nr, flags, (sigset_t *)&arg, sizeof(arg));
}

/*
 * The loop's wait (gn__loop_set_wait): submit what is queued and sleep in
 * the ring until a completion comes or TIMEOUT_MS pass. The loop's own
 * descriptors (listeners, its timer, signals) reach it through the poll
 * on its epoll set; whether that poll completed is what this returns.
 * Completions for connections are reaped by the flush, in this turn.
 */
static int ring_wait(void *arg, int timeout_ms)
{
    struct gn_uring *u = arg;
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    int rc = 0;

    if (u->epoll_poll == EP_IDLE && arm_epoll_poll(u) != 0)
        return 1; /* unwatched: read it each turn */
    if (timeout_ms == 0 || u->epoll_poll == EP_FIRED ||
        io_uring_cq_ready(&u->ring) > 0) {
        if (kernel_work(u))
            rc = io_uring_submit_and_get_events(&u->ring);
    } else {
        rc = enter_and_wait(u, timeout_ms);
        u->wakeups++;
    }
    u->batch++;
    io_uring_for_each_cqe(&u->ring, head, cqe)
    {
        if (cqe->user_data == epoll_tag(u))
            epoll_poll_done(u);
        n++;
    }
    if (n > 0)
        schedule_flush(u);
    if (u->epoll_poll == EP_FIRED) {
        u->epoll_poll = EP_IDLE;
        return 1;
    }
    return rc == -EINTR && n == 0 ? -EINTR : 0;
}

/* ---- the transport ---------------------------------------------------- */

static struct uconn *uc_of(struct gn_conn *c)
{
    return c->tp_data;
}

/* The bytes a receive found no buffer for, read from the socket: until
 * a read leaves it empty (short, or EAGAIN), when the ring takes over
 * again: its receive is armed by the next recv, or when the connection
 * waits (uring_watch), not here, so that one answered and closed in the
 * same run (a new connection per request) has none to cancel. */
static ssize_t recv_direct(struct uconn *uc, void *buf, size_t len,
                           int flags)
{
    ssize_t n = gn__sys_recv(uc->c->fd, buf, len, flags | MSG_DONTWAIT);

    if (n == 0) {
        uc->eof = 1;
        uc->direct = 0;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        uc->direct = 0; /* the error is the socket's: said now, and again */
        uc->err = (int16_t)errno;
    } else if ((n < 0 && errno == EAGAIN) ||
               (n > 0 && (size_t)n < len && !(flags & MSG_PEEK))) {
        uc->direct = 0;
        uc->last_len = 0; /* drained: the next receive polls first */
    }
    return n;
}

static ssize_t uring_recv(struct gn_conn *c, void *buf, size_t len, int flags)
{
    struct uconn *uc = uc_of(c);
    size_t n;

    if (uc->held_bid >= 0) {
        n = uc->u->buf_len[uc->held_bid] - uc->held_off;
        if (n > len)
            n = len;
        memcpy(buf,
               uc->u->bufs + (size_t)uc->held_bid * BUFSZ + uc->held_off, n);
        if (flags & MSG_PEEK)
            return (ssize_t)n;
        uc->held_off += (uint16_t)n;
        if (uc->held_off == uc->u->buf_len[uc->held_bid]) {
            unhold_first(uc);
            /* All taken: a receive armed (if none still is) completes
             * with the next read edge. */
            if (uc->held_bid < 0)
                arm_recv(uc);
        }
        return (ssize_t)n;
    }
    if (uc->eof)
        return 0;
    if (uc->err != 0) {
        errno = uc->err;
        return -1;
    }
    if (uc->direct)
        return recv_direct(uc, buf, len, flags);
    arm_recv(uc);
    errno = EAGAIN;
    return -1;
}

static ssize_t uring_sendmsg(struct gn_conn *c, const struct msghdr *mh,
                             int flags)
{
    struct uconn *uc = uc_of(c);
    struct sendbuf *sb;
    size_t total = 0, n;

    (void)flags;
    if (uc->err != 0) {
        errno = uc->err;
        return -1;
    }
    if (uc->send_armed) {
        errno = EAGAIN; /* the send in flight's completion says when */
        return -1;
    }
    for (size_t i = 0; i < mh->msg_iovlen; i++)
        total += mh->msg_iov[i].iov_len;
    if (total > SEND_MAX)
        total = SEND_MAX;
    if (total == 0)
        return 0;
    if ((sb = sendbuf_get(uc->u, total)) == NULL) {
        errno = ENOMEM;
        return -1;
    }
    for (size_t i = 0, at = 0; at < total; i++) {
        n = mh->msg_iov[i].iov_len;
        if (n > total - at)
            n = total - at;
        memcpy(sb->data + at, mh->msg_iov[i].iov_base, n);
        at += n;
    }
    sb->off = 0;
    sb->len = (uint32_t)total;
    uc->send = sb;
    arm_send(uc);
    if (uc->err != 0) {
        errno = uc->err;
        return -1;
    }
    return (ssize_t)total;
}

/* Wait (from C's coroutine) until no send is in flight: what was queued
 * goes before anything that bypasses the ring. 0 or -1 with errno. */
static int drain_sends(struct gn_conn *c)
{
    struct uconn *uc = uc_of(c);
    int rc;

    while (uc->send_armed) {
        if (!gn__green_can_wait()) {
            errno = EAGAIN;
            return -1;
        }
        c->ready &= ~GN_WATCH_WRITE;
        rc = gn__conn_wait(c, GN_WATCH_WRITE, c->set->write_ms);
        if (rc < 0) {
            errno = -rc;
            return -1;
        }
    }
    if (uc->err != 0) {
        errno = uc->err;
        return -1;
    }
    return 0;
}

static ssize_t uring_sendfile(struct gn_conn *c, int fd, off_t *offset,
                              size_t count)
{
    struct uconn *uc = uc_of(c);
    ssize_t n;

    if (drain_sends(c) != 0)
        return -1;
    n = gn__sys_sendfile(c->fd, fd, offset, count);
    /* The socket is full: a poll's completion says when there is room
     * (queued after the failure, it sees room that came meanwhile). */
    if (n < 0 && errno == EAGAIN && !uc->poll_armed) {
        struct io_uring_sqe *sqe = get_sqe(uc->u);

        if (sqe == NULL) {
            errno = EIO; /* cannot happen with a ring that submits */
            return -1;
        }
        io_uring_prep_poll_add(sqe, c->fd, POLLOUT);
        io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)uc | OP_POLL);
        uc->poll_armed = 1;
        uc->queued_in = uc->u->batch;
        errno = EAGAIN;
    }
    return n;
}

static int uring_shutdown(struct gn_conn *c, int how)
{
    /* A shutdown of writing must not overtake the queued bytes. */
    if ((how == SHUT_WR || how == SHUT_RDWR) && drain_sends(c) != 0)
        return -1;
    return gn__sys_shutdown(c->fd, how);
}

/* The bytes held; or, with none held, 1 while a receive that found no
 * buffer left its bytes in the socket (direct): that receive's edge may
 * have been spent on the buffers held before it, and none will follow
 * until a read takes them. */
static size_t uring_pending(struct gn_conn *c)
{
    struct uconn *uc = uc_of(c);
    size_t n = 0;

    if (uc->held_bid < 0)
        return uc->direct;
    for (int bid = uc->held_bid; bid >= 0; bid = uc->u->next_bid[bid])
        n += uc->u->buf_len[bid];
    return n - uc->held_off;
}

/* Close C's descriptor through the ring, after the entries queued before
 * (the kernel takes each one's socket as it issues it, in order, so the
 * last answer still goes): 0, or -1 when no entry is free (the caller
 * closes it). */
static int close_by_ring(struct gn_conn *c)
{
    struct io_uring_sqe *sqe = get_sqe(uc_of(c)->u);

    if (sqe == NULL)
        return -1;
    io_uring_prep_close(sqe, c->fd);
    io_uring_sqe_set_data64(sqe, OP_IGNORE);
    c->fd = -1; /* gn__conn_close leaves it to the ring */
    return 0;
}

/* The connection closes: its buffer goes back, its receive is cancelled,
 * its descriptor closed by the ring, and the state stays until the
 * operations in flight completed. */
static void uring_close(struct gn_conn *c)
{
    struct uconn *uc = uc_of(c);
    struct gn_uring *u = uc->u;
    struct io_uring_sqe *sqe;

    /* Closed by gn__conn_close instead: the kernel looks the descriptor
     * up when an entry is submitted, not when it is queued, so an entry
     * of this batch (the last answer, a receive armed this turn) must
     * reach it before, or go to whatever socket takes its number next. */
    if (close_by_ring(c) != 0 &&
        (uc->send_armed || uc->recv_armed || uc->poll_armed) &&
        uc->queued_in == u->batch && io_uring_sq_ready(&u->ring) > 0)
        submit(u);
    c->tp_data = NULL;
    uc->c = NULL;
    u->orphans++;
    while (uc->held_bid >= 0)
        unhold_first(uc);
    /* (The receive holds the socket until it ends, the descriptor closed
     * or not.) */
    cancel_recv(uc);
    if (uc->poll_armed && (sqe = get_sqe(u)) != NULL) {
        io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)uc | OP_POLL);
        io_uring_sqe_set_data64(sqe, OP_IGNORE);
    }
    uconn_free_if_done(uc);
}

/* C waits: its receive is armed if none is and the reader holds no
 * bytes of an earlier one (those make it readable; taking them arms the
 * next, in uring_recv). */
static void uring_watch(struct gn_conn *c)
{
    struct uconn *uc = uc_of(c);

    if (uc->held_bid < 0)
        arm_recv(uc);
}

/* The socket is about to go to another process (a Socket.IO WebSocket
 * handed to its session's worker): no receive is armed again, and the
 * one in flight is cancelled. Its last completion (cancelled, after any
 * bytes that came first, held for recv) is the read edge the caller
 * waits for before it calls again. */
static int uring_release(struct gn_conn *c)
{
    struct uconn *uc = uc_of(c);

    uc->released = 1;
    uc->direct = 0; /* what is in the socket goes along with it */
    if (!uc->recv_armed)
        return 0;
    cancel_recv(uc);
    return uc->cancelling ? -EINPROGRESS : -EAGAIN;
}

static const struct gn_transport uring_transport = {
    .recv = uring_recv,
    .sendmsg = uring_sendmsg,
    .sendfile = uring_sendfile,
    .shutdown = uring_shutdown,
    .pending = uring_pending,
    .close = uring_close,
    .release = uring_release,
    .watch = uring_watch,
};

/* ---- the ring --------------------------------------------------------- */

/* The ring's setups, the kernel's most helpful first: each one a kernel
 * refuses (EINVAL: a flag it does not know) gives way to the next. */
static const struct gn__uring_setup setups[] = {
    {IORING_SETUP_SUBMIT_ALL | IORING_SETUP_DEFER_TASKRUN |
         IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SINGLE_ISSUER,
     "deferred task work, the loop waiting in the ring"},
    /* No interrupt of a running worker for each completion: it runs the
     * kernel's side of them when it next enters the kernel anyway, and
     * the flag says when only an enter would. One issuer: the worker. */
    {IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
         IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SINGLE_ISSUER,
     "cooperative task work, one issuer"},
    /* Kernels 5.19 to 6.0: no SINGLE_ISSUER. */
    {IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
         IORING_SETUP_TASKRUN_FLAG,
     "cooperative task work (COOP_TASKRUN)"},
    {0, "no setup flags"},
};

int gn__uring_try_setups(int (*init)(unsigned flags, void *arg), void *arg,
                         const struct gn__uring_setup **used)
{
    int rc = -EINVAL;

    for (size_t i = 0; i < sizeof(setups) / sizeof(setups[0]); i++) {
        *used = &setups[i];
        if ((rc = init(setups[i].flags, arg)) != -EINVAL)
            return rc;
    }
    return rc;
}

/* Does the kernel refuse a multishot receive's limit of bytes (before
 * 6.17)? Asked with one armed on an empty socket pair, then cancelled: a
 * kernel that does not know the limit answers EINVAL at once. 0 when the
 * question could not be asked: the receives' own fallback then acts. */
static int limit_refused(struct io_uring *ring)
{
    struct __kernel_timespec ts = {.tv_sec = 1};
    struct io_uring_sqe *sqe;
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    int sv[2], refused = 0;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return 0;
    /* A new ring has room for both. */
    sqe = io_uring_get_sqe(ring);
    prep_limited_multishot(sqe, sv[0]);
    io_uring_sqe_set_data64(sqe, 1);
    sqe = io_uring_get_sqe(ring);
    io_uring_prep_cancel64(sqe, 1, 0);
    io_uring_sqe_set_data64(sqe, 2);
    io_uring_submit_and_wait_timeout(ring, &cqe, 2, &ts, NULL);
    io_uring_for_each_cqe(ring, head, cqe)
    {
        if (cqe->user_data == 1 && cqe->res == -EINVAL)
            refused = 1;
        seen++;
    }
    io_uring_cq_advance(ring, seen);
    close(sv[0]);
    close(sv[1]);
    return refused;
}

/* Set the ring up with FLAGS. Deferred task work is taken only where the
 * kernel also takes a multishot receive's limit: without it such a
 * receive fills every buffer offered inside one of the worker's enters
 * (no backpressure, net/uring.c's head), and a kernel from 6.1 to 6.16 is
 * as well served by the cooperative setup after it, with multishot
 * receives, as by deferred task work with single ones. */
static int init_ring(unsigned flags, void *arg)
{
    struct io_uring_params p = {.flags = flags};
    int rc = io_uring_queue_init_params(RING_ENTRIES, arg, &p);

    if (rc == 0 && (flags & IORING_SETUP_DEFER_TASKRUN) && limit_refused(arg)) {
        io_uring_queue_exit(arg);
        return -EINVAL;
    }
    return rc;
}

static int setup_buffers(struct gn_uring *u)
{
    struct io_uring_buf_reg reg = {0};
    void *mem;
    int rc;

    u->br_size = NBUFS * sizeof(struct io_uring_buf);
    mem = mmap(NULL, u->br_size, PROT_READ | PROT_WRITE,
               MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED)
        return -errno;
    u->br = mem;
    u->bufs = malloc((size_t)NBUFS * BUFSZ);
    u->spare = malloc(NBUFS * sizeof(*u->spare));
    u->next_bid = malloc(NBUFS * sizeof(*u->next_bid));
    u->buf_len = malloc(NBUFS * sizeof(*u->buf_len));
    if (u->bufs == NULL || u->spare == NULL || u->next_bid == NULL ||
        u->buf_len == NULL)
        return -ENOMEM;
    u->multishot = MSHOT_LIMITED;
    reg.ring_addr = (uint64_t)(uintptr_t)u->br;
    reg.ring_entries = NBUFS;
    reg.bgid = BGID;
    if ((rc = io_uring_register_buf_ring(&u->ring, &reg, 0)) != 0)
        return rc;
    io_uring_buf_ring_init(u->br);
    /* All spare, the lowest on top; the first FILL_MIN offered. */
    u->fill = FILL_MIN;
    for (int i = NBUFS - 1; i >= 0; i--)
        u->spare[u->nspare++] = (uint16_t)i;
    top_up(u);
    return 0;
}

static void release(struct gn_uring *u, int ring_up)
{
    if (ring_up)
        io_uring_queue_exit(&u->ring);
    if (u->br != NULL)
        munmap(u->br, u->br_size);
    free(u->bufs);
    free(u->spare);
    free(u->next_bid);
    free(u->buf_len);
    while (u->spare_sends != NULL)
        free(sendbuf_get(u, 0));
    free(u->spare_big);
    free(u);
}

int gn__uring_new(struct gn_loop *loop, struct gn_uring **out,
                  const char **fallback)
{
    struct gn_uring *u = calloc(1, sizeof(*u));
    const struct gn__uring_setup *used;
    int rc;

    *fallback = NULL;
    if (u == NULL)
        return -ENOMEM;
    u->loop = loop;
    u->keep_sends = SEND_KEEP;
    if ((rc = gn__uring_try_setups(init_ring, &u->ring, &used)) < 0) {
        release(u, 0);
        return rc;
    }
    /* The second setup is the first's equal on kernels before 6.17
     * (init_ring): only a setup after both is a fallback to tell. */
    if (used > &setups[1])
        *fallback = used->what;
    /* Each enter skips the descriptor's lookup (a refusal costs that
     * only). */
    u->registered = io_uring_register_ring_fd(&u->ring) == 1;
    u->waits = (used->flags & IORING_SETUP_DEFER_TASKRUN) != 0;
    if ((rc = setup_buffers(u)) != 0 ||
        (rc = gn__watch_start(&u->flush, loop, -1, 0, -1, on_flush, u)) != 0 ||
        (u->waits && (rc = gn__loop_set_wait(loop, ring_wait, u)) != 0) ||
        (!u->waits &&
         (rc = gn__watch_start(&u->watch, loop, u->ring.ring_fd,
                               GN_WATCH_READ | GN_WATCH_PERSIST, -1, on_ring,
                               u)) != 0)) {
        release(u, 1);
        return rc;
    }
    *out = u;
    return 0;
}

int gn__uring_multishot(const struct gn_uring *u)
{
    return u->multishot;
}

int gn__uring_set_batch_wait(struct gn_uring *u, unsigned us)
{
    if (us > BATCH_WAIT_MAX)
        return -EINVAL;
    if (us != 0 && (!u->waits || !(u->ring.features & IORING_FEAT_MIN_TIMEOUT)))
        return -ENOTSUP;
    u->batch_us = us;
    return 0;
}

unsigned long gn__uring_wakeups(const struct gn_uring *u)
{
    return u->wakeups;
}

unsigned long gn__uring_entries(const struct gn_uring *u)
{
    return u->entries;
}

size_t gn__uring_prefill(struct gn_uring *u, size_t n)
{
    struct sendbuf *sb;
    size_t added = 0;

    if (n > u->keep_sends)
        u->keep_sends = n > UINT_MAX ? UINT_MAX : (unsigned)n;
    while (u->nspare_sends < u->keep_sends && added < n) {
        if ((sb = malloc(sizeof(*sb) + SEND_SMALL)) == NULL)
            break;
        memset(sb, 0, sizeof(*sb) + SEND_SMALL); /* resident now */
        sb->cap = SEND_SMALL;
        sendbuf_put(u, sb);
        added++;
    }
    return added;
}

void gn__uring_free(struct gn_uring *u)
{
    int64_t end = gn__monotonic_ms() + FREE_WAIT_MS;
    struct __kernel_timespec ts = {.tv_nsec = 10 * 1000000};
    struct io_uring_cqe *cqe;

    if (u == NULL)
        return;
    if (u->waits)
        gn__loop_set_wait(u->loop, NULL, NULL);
    gn__watch_stop(&u->watch);
    gn__watch_stop(&u->flush);
    u->flush_queued = 0;
    /* Orphans' sends finishing, their receives being cancelled: their
     * state is freed as they come. */
    u->in_reap = 1;
    while (u->orphans > 0 && gn__monotonic_ms() < end) {
        submit(u);
        if (io_uring_wait_cqe_timeout(&u->ring, &cqe, &ts) == 0)
            reap(u);
    }
    release(u, 1); /* the rest go with the ring */
}

int gn__uring_attach(struct gn_uring *u, struct gn_conn *c, int bytes_waiting)
{
    struct uconn *uc = calloc(1, sizeof(*uc));

    if (uc == NULL)
        return -ENOMEM;
    uc->u = u;
    uc->c = c;
    uc->held_bid = -1;
    c->tp = &uring_transport;
    c->tp_data = uc;
    c->ready &= ~GN_WATCH_READ;
    /* Its request is in the socket: read as a receive that found no
     * buffer is (recv_direct), which arms the first receive once it has
     * drained the socket. In a burst of new connections this is one
     * recv(2) each, where a receive would go through the ring's next
     * submission, most likely find the offered buffers taken, and come
     * back ENOBUFS to be read the same way a turn later. */
    if (bytes_waiting) {
        uc->direct = 1;
        return 0;
    }
    /* A new connection's request is likely there already: the first
     * receive tries at once rather than waiting for an edge. */
    uc->last_len = BUFSZ;
    arm_recv(uc);
    return 0;
}

#else /* !GN_HAVE_LIBURING */

int gn__uring_new(struct gn_loop *loop, struct gn_uring **out,
                  const char **fallback)
{
    (void)loop;
    (void)out;
    *fallback = NULL;
    return -ENOSYS;
}

void gn__uring_free(struct gn_uring *u)
{
    (void)u;
}

int gn__uring_multishot(const struct gn_uring *u)
{
    (void)u;
    return 0;
}

int gn__uring_set_batch_wait(struct gn_uring *u, unsigned us)
{
    (void)u;
    return us == 0 ? 0 : -ENOTSUP;
}

unsigned long gn__uring_wakeups(const struct gn_uring *u)
{
    (void)u;
    return 0;
}

unsigned long gn__uring_entries(const struct gn_uring *u)
{
    (void)u;
    return 0;
}

size_t gn__uring_prefill(struct gn_uring *u, size_t n)
{
    (void)u;
    (void)n;
    return 0;
}

int gn__uring_attach(struct gn_uring *u, struct gn_conn *c, int bytes_waiting)
{
    (void)u;
    (void)c;
    (void)bytes_waiting;
    return -ENOSYS;
}

int gn__uring_try_setups(int (*init)(unsigned flags, void *arg), void *arg,
                         const struct gn__uring_setup **used)
{
    (void)init;
    (void)arg;
    *used = NULL;
    return -ENOSYS;
}

#endif
