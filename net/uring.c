/*
 * The io_uring transport (net/uring.h).
 *
 * Each connection on the ring keeps one receive armed while it holds no
 * unread bytes: the kernel picks one of the ring's provided buffers when
 * data arrives and completes it, and the completion is the connection's
 * read edge (gn__conn_event). The connection's reader takes the bytes out
 * of that buffer (pending() counts what is left) and, once it is empty,
 * gives it back and arms the next receive. One receive at a time, armed
 * only when the reader has taken everything, keeps TCP's backpressure: a
 * handler that does not read leaves the bytes in the kernel.
 *
 * A send copies its bytes (up to SEND_MAX) and queues them; the call
 * returns as if they had gone. Only one send per connection is in flight,
 * so they reach the socket in order: a second one says EAGAIN, and the
 * first one's completion is the write edge that retries it. An error
 * comes back on the next call. sendfile(2) stays a system call, once no
 * send is in flight, waiting on the socket's own epoll edge as before.
 *
 * Nothing reaches the kernel when it is queued: a loop turn's submissions
 * go in one io_uring_enter at the end of the ring's callback (whose
 * completions resumed the coroutines that queued them), or, when queued
 * from elsewhere (a timer, a new connection), at a zero timer's turn.
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

#include <liburing.h>
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
#define BGID 0              /* their group */
#define SEND_MAX (1 << 18)  /* bytes one send copies: the rest waits */
#define REAP_BATCH 64       /* completions taken at once */
#define REAP_ROUNDS 8       /* submit-and-reap rounds per callback */
#define FREE_WAIT_MS 1000   /* at exit, for operations still in flight */

enum { OP_RECV = 0, OP_SEND = 1, OP_CANCEL = 2, OP_MASK = 3 };

struct uconn {
    struct gn_uring *u;
    struct gn_conn *c; /* NULL once the connection closed (an orphan) */
    int fd;
    int recv_armed; /* a receive queued or in flight */
    int send_armed; /* a send queued or in flight */
    int starved;    /* its receive found no buffer: on the starved list */
    int eof;        /* the peer's end was read */
    int err;        /* a failed operation's errno, for the next call */
    int held_bid;   /* the buffer of bytes received and not read, or -1 */
    uint32_t held_off, held_len;
    unsigned last_len; /* the last receive's bytes: < BUFSZ, drained */
    uint64_t queued_in; /* the batch its last entry was queued in */
    char *sbuf;        /* the send's copy */
    uint32_t soff, slen;
    struct uconn *starved_next;
};

struct gn_uring {
    struct io_uring ring;
    struct io_uring_buf_ring *br;
    size_t br_size;
    char *bufs;
    struct gn_loop *loop;
    struct gn_watch watch; /* the ring's descriptor: completions */
    struct gn_watch flush; /* a zero timer: submit what was queued */
    int in_reap;           /* in the ring's callback: its end submits */
    uint64_t batch;        /* submissions so far: the batch being queued */
    size_t orphans;        /* closed connections' state, in flight */
    struct uconn *starved_head, *starved_tail;
};

static const struct gn_transport uring_transport;

static void on_ring(int fd, short what, void *arg);

/* Hand what is queued to the kernel: a batch ends. */
static void submit(struct gn_uring *u)
{
    io_uring_submit(&u->ring);
    u->batch++;
}

/* The socket's own edge (writable again, after sendfile(2) found it
 * full). */
static void on_socket(int fd, short what, void *arg)
{
    (void)fd;
    gn__conn_event(arg, what);
}

/* ---- submissions ------------------------------------------------------ */

/* Make sure what is queued reaches the kernel before the loop sleeps. */
static void schedule_flush(struct gn_uring *u)
{
    if (!u->in_reap && !gn__watch_active(&u->flush))
        gn__watch_start(&u->flush, u->loop, -1, 0, 0, on_ring, u);
}

/* A free submission entry (submitting what is queued when the queue is
 * full), or NULL when even that failed. */
static struct io_uring_sqe *get_sqe(struct gn_uring *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

    if (sqe == NULL) {
        submit(u);
        sqe = io_uring_get_sqe(&u->ring);
    }
    if (sqe != NULL)
        schedule_flush(u);
    return sqe;
}

static void arm_recv(struct uconn *uc)
{
    struct gn_uring *u = uc->u;
    struct io_uring_sqe *sqe;

    if (uc->recv_armed || uc->starved || uc->eof || uc->c == NULL)
        return;
    if ((sqe = get_sqe(u)) == NULL) {
        uc->err = EAGAIN; /* cannot happen with a ring that submits */
        return;
    }
    io_uring_prep_recv(sqe, uc->fd, NULL, BUFSZ, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    /* The last receive drained the socket: wait for data before trying,
     * instead of a receive that finds nothing. */
    if (uc->last_len < BUFSZ)
        sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)uc | OP_RECV);
    uc->recv_armed = 1;
    uc->queued_in = u->batch;
}

static void arm_send(struct uconn *uc)
{
    struct io_uring_sqe *sqe = get_sqe(uc->u);

    if (sqe == NULL) {
        uc->err = EIO;
        return;
    }
    /* MSG_WAITALL: the kernel sends it all, waiting for room. */
    io_uring_prep_send(sqe, uc->fd, uc->sbuf + uc->soff, uc->slen - uc->soff,
                       MSG_NOSIGNAL | MSG_WAITALL);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)uc | OP_SEND);
    uc->send_armed = 1;
    uc->queued_in = uc->u->batch;
}

/* ---- buffers ---------------------------------------------------------- */

static void buf_return(struct gn_uring *u, int bid)
{
    io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * BUFSZ, BUFSZ,
                          (unsigned short)bid, io_uring_buf_ring_mask(NBUFS),
                          0);
    io_uring_buf_ring_advance(u->br, 1);
    /* A connection that found none gets its receive back. */
    if (u->starved_head != NULL) {
        struct uconn *uc = u->starved_head;

        u->starved_head = uc->starved_next;
        if (u->starved_head == NULL)
            u->starved_tail = NULL;
        uc->starved = 0;
        arm_recv(uc);
    }
}

static void starve(struct uconn *uc)
{
    struct gn_uring *u = uc->u;

    uc->starved = 1;
    uc->starved_next = NULL;
    if (u->starved_tail)
        u->starved_tail->starved_next = uc;
    else
        u->starved_head = uc;
    u->starved_tail = uc;
}

static void unstarve(struct uconn *uc)
{
    struct gn_uring *u = uc->u;
    struct uconn **p = &u->starved_head, *prev = NULL;

    for (; *p != NULL; prev = *p, p = &(*p)->starved_next) {
        if (*p == uc) {
            *p = uc->starved_next;
            if (u->starved_tail == uc)
                u->starved_tail = prev;
            break;
        }
    }
    uc->starved = 0;
}

/* ---- completions ------------------------------------------------------ */

static void uconn_free_if_done(struct uconn *uc)
{
    if (uc->c != NULL || uc->recv_armed || uc->send_armed)
        return;
    free(uc->sbuf);
    uc->u->orphans--;
    free(uc);
}

static void recv_done(struct uconn *uc, int res, unsigned flags)
{
    struct gn_uring *u = uc->u;
    int what = GN_WATCH_READ;

    uc->recv_armed = 0;
    if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
        int bid = (int)(flags >> IORING_CQE_BUFFER_SHIFT);

        if (uc->c == NULL) { /* closed meanwhile: nobody reads it */
            buf_return(u, bid);
            uconn_free_if_done(uc);
            return;
        }
        uc->held_bid = bid;
        uc->held_off = 0;
        uc->held_len = (uint32_t)res;
        uc->last_len = (unsigned)res;
    } else if (res == -ENOBUFS && uc->c != NULL) {
        starve(uc); /* no edge: the next returned buffer re-arms it */
        return;
    } else if (res == -EINTR && uc->c != NULL) {
        arm_recv(uc);
        return;
    } else if (uc->c != NULL) {
        if (res == 0) {
            uc->eof = 1;
            what |= GN_WATCH_CLOSED;
        } else if (res != -ECANCELED) {
            uc->err = -res;
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
    uc->send_armed = 0;
    if (res > 0)
        uc->soff += (uint32_t)res;
    if (res < 0 && uc->err == 0)
        uc->err = -res;
    if (res > 0 && uc->soff < uc->slen && uc->c != NULL) {
        arm_send(uc); /* a short send: the rest, still in order */
        return;
    }
    uc->soff = uc->slen = 0;
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

        switch (got[i].data & OP_MASK) {
        case OP_RECV:
            recv_done(uc, got[i].res, got[i].flags);
            break;
        case OP_SEND:
            send_done(uc, got[i].res);
            break;
        default:
            break; /* a cancellation's own answer */
        }
    }
    return n;
}

/* Completions came (the ring's descriptor is readable), or the zero timer
 * fired: reap them, which resumes the coroutines they were for, and
 * submit what those queued; again while that brought more. */
static void on_ring(int fd, short what, void *arg)
{
    struct gn_uring *u = arg;
    unsigned n;

    (void)fd;
    (void)what;
    gn__watch_stop(&u->flush);
    u->in_reap = 1;
    for (int round = 0; round < REAP_ROUNDS; round++) {
        n = reap(u);
        if (io_uring_sq_ready(&u->ring) > 0)
            submit(u);
        else if (n == 0)
            break;
    }
    u->in_reap = 0;
    if (io_uring_sq_ready(&u->ring) > 0)
        submit(u);
}

/* ---- the transport ---------------------------------------------------- */

static struct uconn *uc_of(struct gn_conn *c)
{
    return c->tp_data;
}

static ssize_t uring_recv(struct gn_conn *c, void *buf, size_t len, int flags)
{
    struct uconn *uc = uc_of(c);
    size_t n;

    if (uc->held_bid >= 0) {
        n = uc->held_len - uc->held_off;
        if (n > len)
            n = len;
        memcpy(buf,
               uc->u->bufs + (size_t)uc->held_bid * BUFSZ + uc->held_off, n);
        if (flags & MSG_PEEK)
            return (ssize_t)n;
        uc->held_off += (uint32_t)n;
        if (uc->held_off == uc->held_len) {
            buf_return(uc->u, uc->held_bid);
            uc->held_bid = -1;
            arm_recv(uc); /* its completion is the next read edge */
        }
        return (ssize_t)n;
    }
    if (uc->eof)
        return 0;
    if (uc->err != 0) {
        errno = uc->err;
        return -1;
    }
    arm_recv(uc);
    errno = EAGAIN;
    return -1;
}

static ssize_t uring_sendmsg(struct gn_conn *c, const struct msghdr *mh,
                             int flags)
{
    struct uconn *uc = uc_of(c);
    size_t total = 0, n;
    char *p;

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
    if ((p = realloc(uc->sbuf, total)) == NULL) {
        errno = ENOMEM;
        return -1;
    }
    uc->sbuf = p;
    for (size_t i = 0, at = 0; at < total; i++) {
        n = mh->msg_iov[i].iov_len;
        if (n > total - at)
            n = total - at;
        memcpy(p + at, mh->msg_iov[i].iov_base, n);
        at += n;
    }
    uc->soff = 0;
    uc->slen = (uint32_t)total;
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
    if (drain_sends(c) != 0)
        return -1;
    return gn__sys_sendfile(c->fd, fd, offset, count);
}

static int uring_shutdown(struct gn_conn *c, int how)
{
    /* A shutdown of writing must not overtake the queued bytes. */
    if ((how == SHUT_WR || how == SHUT_RDWR) && drain_sends(c) != 0)
        return -1;
    return gn__sys_shutdown(c->fd, how);
}

static size_t uring_pending(struct gn_conn *c)
{
    struct uconn *uc = uc_of(c);

    return uc->held_bid >= 0 ? uc->held_len - uc->held_off : 0;
}

/* The connection closes: its buffer goes back, its receive is cancelled,
 * and the state stays until the operations in flight completed. */
static void uring_close(struct gn_conn *c)
{
    struct uconn *uc = uc_of(c);
    struct gn_uring *u = uc->u;
    struct io_uring_sqe *sqe;

    /* The kernel looks the descriptor up when an entry is submitted, not
     * when it is queued: an entry of this batch (the last answer, a
     * receive armed this turn) must reach it before the close, or go to
     * whatever socket takes the descriptor's number next. */
    if ((uc->send_armed || uc->recv_armed) && uc->queued_in == u->batch &&
        io_uring_sq_ready(&u->ring) > 0)
        submit(u);
    c->tp_data = NULL;
    uc->c = NULL;
    u->orphans++;
    if (uc->starved)
        unstarve(uc);
    if (uc->held_bid >= 0) {
        buf_return(u, uc->held_bid);
        uc->held_bid = -1;
    }
    /* (The cancellation goes with the next batch: by then the descriptor
     * is closed, but the receive holds the socket until it ends.) */
    if (uc->recv_armed && (sqe = get_sqe(u)) != NULL) {
        io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)uc | OP_RECV, 0);
        io_uring_sqe_set_data64(sqe, OP_CANCEL);
    }
    uconn_free_if_done(uc);
}

static const struct gn_transport uring_transport = {
    .recv = uring_recv,
    .sendmsg = uring_sendmsg,
    .sendfile = uring_sendfile,
    .shutdown = uring_shutdown,
    .pending = uring_pending,
    .close = uring_close,
    .reads_ahead = 1,
};

/* ---- the ring --------------------------------------------------------- */

static int setup_ring(struct io_uring *ring)
{
    struct io_uring_params p = {0};
    int rc;

    /* No interrupt of a running worker for each completion: it runs the
     * kernel's side of them when it next enters the kernel anyway. */
    p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
              IORING_SETUP_SINGLE_ISSUER;
    rc = io_uring_queue_init_params(RING_ENTRIES, ring, &p);
    if (rc == -EINVAL) { /* an older kernel: without the hints */
        memset(&p, 0, sizeof(p));
        rc = io_uring_queue_init_params(RING_ENTRIES, ring, &p);
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
    if (u->bufs == NULL)
        return -ENOMEM;
    reg.ring_addr = (uint64_t)(uintptr_t)u->br;
    reg.ring_entries = NBUFS;
    reg.bgid = BGID;
    if ((rc = io_uring_register_buf_ring(&u->ring, &reg, 0)) != 0)
        return rc;
    io_uring_buf_ring_init(u->br);
    for (int i = 0; i < NBUFS; i++)
        io_uring_buf_ring_add(u->br, u->bufs + (size_t)i * BUFSZ, BUFSZ,
                              (unsigned short)i, io_uring_buf_ring_mask(NBUFS),
                              i);
    io_uring_buf_ring_advance(u->br, NBUFS);
    return 0;
}

static void release(struct gn_uring *u, int ring_up)
{
    if (ring_up)
        io_uring_queue_exit(&u->ring);
    if (u->br != NULL)
        munmap(u->br, u->br_size);
    free(u->bufs);
    free(u);
}

int gn__uring_new(struct gn_loop *loop, struct gn_uring **out)
{
    struct gn_uring *u = calloc(1, sizeof(*u));
    int rc;

    if (u == NULL)
        return -ENOMEM;
    u->loop = loop;
    if ((rc = setup_ring(&u->ring)) < 0) {
        release(u, 0);
        return rc;
    }
    if ((rc = setup_buffers(u)) != 0 ||
        (rc = gn__watch_start(&u->watch, loop, u->ring.ring_fd,
                              GN_WATCH_READ | GN_WATCH_PERSIST, -1, on_ring,
                              u)) != 0) {
        release(u, 1);
        return rc;
    }
    *out = u;
    return 0;
}

void gn__uring_free(struct gn_uring *u)
{
    int64_t end = gn__monotonic_ms() + FREE_WAIT_MS;
    struct __kernel_timespec ts = {.tv_nsec = 10 * 1000000};
    struct io_uring_cqe *cqe;

    if (u == NULL)
        return;
    gn__watch_stop(&u->watch);
    gn__watch_stop(&u->flush);
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

int gn__uring_attach(struct gn_uring *u, struct gn_conn *c)
{
    struct uconn *uc = calloc(1, sizeof(*uc));

    if (uc == NULL)
        return -ENOMEM;
    uc->u = u;
    uc->c = c;
    uc->fd = c->fd;
    uc->held_bid = -1;
    /* Reads come from the ring now; the socket's own edges are needed
     * for sendfile(2) only. */
    if (gn__watch_start(&c->io, u->loop, c->fd,
                        GN_WATCH_WRITE | GN_WATCH_PERSIST | GN_WATCH_ET, -1,
                        on_socket, c) != 0) {
        free(uc);
        return -ENOMEM;
    }
    c->tp = &uring_transport;
    c->tp_data = uc;
    c->ready &= ~GN_WATCH_READ;
    arm_recv(uc);
    return 0;
}

#else /* !GN_HAVE_LIBURING */

int gn__uring_new(struct gn_loop *loop, struct gn_uring **out)
{
    (void)loop;
    (void)out;
    return -ENOSYS;
}

void gn__uring_free(struct gn_uring *u)
{
    (void)u;
}

int gn__uring_attach(struct gn_uring *u, struct gn_conn *c)
{
    (void)u;
    (void)c;
    return -ENOSYS;
}

#endif
