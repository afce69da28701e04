/*
 * The worker-to-worker channel (net/peer.h). A message on the wire is a
 * header of four 32-bit words in the host's order (both ends run on one
 * host: magic, kind, the number of strings, their total length), the
 * strings' lengths, then the strings; a descriptor rides on the header's
 * sendmsg (SCM_RIGHTS), so it arrives with the message's first byte.
 *
 * SOCK_STREAM rather than SOCK_SEQPACKET: a relayed POST carries up to
 * maxPayload bytes, and a datagram that large would need socket buffers
 * the kernel caps (wmem_max) below it; with a length-prefixed stream a
 * message of any size crosses in pieces. One connection per call keeps
 * the framing trivial (no multiplexing, no ids): an abstract unix connect
 * costs a few microseconds, far below the HTTP request that causes it.
 */
#include "net/peer.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "green/coro.h"
#include "green/loop.h"
#include "green/park.h"
#include "green/sys.h"

#define PEER_MAGIC 0x31504e47u /* "GNP1" in memory on little-endian hosts */
#define PEER_BACKLOG 128
#define PEER_KINDS 8
/* Reading a call and writing its answer, each: the peer is a process of
 * ours on the same host, so anything longer means it is stuck. */
#define PEER_IO_MS 10000
/* A full backlog (EAGAIN from a unix connect): retry this often. */
#define PEER_RETRY_MS 5

struct wire_head {
    uint32_t magic, kind, nparts, total;
};

/* ---- messages ---------------------------------------------------------- */

void gn__peer_msg_init(struct gn_peer_msg *m, uint32_t kind)
{
    memset(m, 0, sizeof(*m));
    m->kind = kind;
    m->fd = -1;
}

int gn__peer_msg_add(struct gn_peer_msg *m, const void *data, size_t len)
{
    if (m->nparts == GN_PEER_PARTS)
        return -E2BIG;
    m->part[m->nparts++] = (struct iovec){(void *)data, len};
    return 0;
}

int gn__peer_msg_copy(struct gn_peer_msg *m, const void *data, size_t len)
{
    void *copy;

    if (m->nparts == GN_PEER_PARTS)
        return -E2BIG;
    if ((copy = malloc(len ? len : 1)) == NULL)
        return -ENOMEM;
    memcpy(copy, data, len);
    m->owned[m->nowned++] = copy;
    return gn__peer_msg_add(m, copy, len);
}

void gn__peer_msg_release(struct gn_peer_msg *m)
{
    for (uint32_t i = 0; i < m->nowned; i++)
        free(m->owned[i]);
    if (m->fd >= 0)
        gn__sys_close(m->fd);
    gn__peer_msg_init(m, 0);
}

/* ---- the instance token ------------------------------------------------ */

static char token[GN_PEER_TOKEN_LEN + 1];

static int valid_token(const char *t)
{
    if (t == NULL || strlen(t) != GN_PEER_TOKEN_LEN)
        return 0;
    for (const char *p = t; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

int gn__peer_token_init(const char *inherited)
{
    unsigned char raw[GN_PEER_TOKEN_LEN / 2];
    size_t got = 0;
    ssize_t n;

    if (valid_token(inherited)) {
        memcpy(token, inherited, sizeof(token));
        return 0;
    }
    while (got < sizeof(raw)) {
        n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(token + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

const char *gn__peer_token(void)
{
    return token;
}

/* The abstract address of process ID of instance TOK into SUN: its
 * length. */
static socklen_t peer_addr(struct sockaddr_un *sun, const char *tok, pid_t id)
{
    int n;

    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    /* sun_path[0] stays NUL: the abstract namespace, no file to clean up,
     * gone with the process. */
    n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1,
                 "greenicorn.%s.%ld", tok, (long)id);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* Whether FD's other end runs as our user (SO_PEERCRED). */
static int same_user(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (gn__sys_getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return 0;
    return cred.uid == geteuid();
}

/* ---- moving bytes, within a deadline ----------------------------------- */

static int64_t left_ms(int64_t deadline)
{
    int64_t left = deadline - gn__monotonic_ms();

    return left > 0 ? left : 0;
}

/* Wait until FD is ready for EVENTS before DEADLINE: 0 or a negative
 * errno. */
static int wait_until(int fd, int events, int64_t deadline)
{
    int64_t left = left_ms(deadline);
    int rc;

    if (left == 0)
        return -ETIMEDOUT;
    rc = gn__wait_fd(fd, events, left);
    return rc < 0 ? rc : 0;
}

/* Send every byte of IOV[0, N) on FD, with PASS (>= 0) on the first
 * sendmsg. */
static int send_all(int fd, struct iovec *iov, int n, int pass,
                    int64_t deadline)
{
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    ssize_t sent;
    int rc;

    if (pass >= 0) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.space;
        mh.msg_controllen = sizeof(ctl.space);
        ctl.h.cmsg_level = SOL_SOCKET;
        ctl.h.cmsg_type = SCM_RIGHTS;
        ctl.h.cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(&ctl.h), &pass, sizeof(int));
    }
    while (mh.msg_iovlen > 0) {
        sent = gn__sys_sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent < 0 && errno != EAGAIN)
            return -errno;
        if (sent < 0) {
            if ((rc = wait_until(fd, GN_WATCH_WRITE, deadline)) != 0)
                return rc;
            continue;
        }
        mh.msg_control = NULL; /* the descriptor went with the first byte */
        mh.msg_controllen = 0;
        while (mh.msg_iovlen > 0 && (size_t)sent >= mh.msg_iov->iov_len) {
            sent -= (ssize_t)mh.msg_iov->iov_len;
            mh.msg_iov++;
            mh.msg_iovlen--;
        }
        if (mh.msg_iovlen > 0) {
            mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + sent;
            mh.msg_iov->iov_len -= (size_t)sent;
        }
    }
    return 0;
}

/* Keep the descriptors a control message passed: the first in *PASSED
 * (when that is free), the others closed (a peer sends one at most). */
static void take_fds(struct msghdr *mh, int *passed)
{
    for (struct cmsghdr *h = CMSG_FIRSTHDR(mh); h != NULL;
         h = CMSG_NXTHDR(mh, h)) {
        size_t n;

        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
            continue;
        n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
            if (*passed < 0)
                *passed = fd;
            else
                gn__sys_close(fd);
        }
    }
}

/* Read exactly LEN bytes from FD into BUF; a descriptor passed with them
 * goes to *PASSED. 0, -EPIPE at an early end, or a negative errno. */
static int recv_all(int fd, void *buf, size_t len, int *passed,
                    int64_t deadline)
{
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(2 * sizeof(int))];
    } ctl;
    size_t got = 0;
    ssize_t n;
    int rc;

    while (got < len) {
        struct iovec iov = {(char *)buf + got, len - got};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = ctl.space,
                            .msg_controllen = sizeof(ctl.space)};

        n = gn__sys_recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            return -errno;
        if (n < 0) {
            if ((rc = wait_until(fd, GN_WATCH_READ, deadline)) != 0)
                return rc;
            continue;
        }
        if (mh.msg_controllen > 0)
            take_fds(&mh, passed);
        if (n == 0)
            return -EPIPE;
        got += (size_t)n;
    }
    return 0;
}

static int send_msg(int fd, const struct gn_peer_msg *m, int64_t deadline)
{
    struct wire_head head = {PEER_MAGIC, m->kind, m->nparts, 0};
    uint32_t lens[GN_PEER_PARTS];
    struct iovec iov[2 + GN_PEER_PARTS];
    uint64_t total = 0;

    assert(m->nparts <= GN_PEER_PARTS);
    for (uint32_t i = 0; i < m->nparts; i++) {
        lens[i] = (uint32_t)m->part[i].iov_len;
        total += m->part[i].iov_len;
        iov[2 + i] = m->part[i];
    }
    if (total > UINT32_MAX)
        return -EMSGSIZE;
    head.total = (uint32_t)total;
    iov[0] = (struct iovec){&head, sizeof(head)};
    iov[1] = (struct iovec){lens, m->nparts * sizeof(uint32_t)};
    return send_all(fd, iov, 2 + (int)m->nparts, m->fd, deadline);
}

/* Read one message of at most MAX bytes of strings into M (which then
 * owns them and the descriptor that came). 0, -EPROTO, -EMSGSIZE, or as
 * recv_all. */
static int recv_msg(int fd, struct gn_peer_msg *m, size_t max,
                    int64_t deadline)
{
    struct wire_head head;
    uint32_t lens[GN_PEER_PARTS];
    uint64_t sum = 0;
    char *buf;
    int rc;

    gn__peer_msg_init(m, 0);
    if ((rc = recv_all(fd, &head, sizeof(head), &m->fd, deadline)) != 0)
        return rc;
    if (head.magic != PEER_MAGIC || head.nparts > GN_PEER_PARTS)
        return -EPROTO;
    if (head.total > max)
        return -EMSGSIZE;
    rc = recv_all(fd, lens, head.nparts * sizeof(uint32_t), &m->fd, deadline);
    if (rc != 0)
        return rc;
    for (uint32_t i = 0; i < head.nparts; i++)
        sum += lens[i];
    if (sum != head.total)
        return -EPROTO;
    if ((buf = malloc(head.total ? head.total : 1)) == NULL)
        return -ENOMEM;
    m->owned[m->nowned++] = buf;
    if ((rc = recv_all(fd, buf, head.total, &m->fd, deadline)) != 0)
        return rc;
    m->kind = head.kind;
    for (uint32_t i = 0; i < head.nparts; i++) {
        m->part[m->nparts++] = (struct iovec){buf, lens[i]};
        buf += lens[i];
    }
    return 0;
}

/* ---- calling ----------------------------------------------------------- */

/* A socket connected to process TO of instance TOK, within DEADLINE. */
static int dial(const char *tok, pid_t to, int64_t deadline)
{
    struct sockaddr_un sun;
    socklen_t len = peer_addr(&sun, tok, to);
    int fd, rc;

    fd = gn__sys_socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    while (gn__sys_connect(fd, (struct sockaddr *)&sun, len) != 0) {
        /* Nobody bound: the process is gone (or stopping). */
        rc = (errno == ECONNREFUSED || errno == ENOENT) ? -ESRCH : -errno;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN && left_ms(deadline) > 0) {
            /* Its backlog is full: it is busy, not gone. */
            if ((rc = gn__wait_ms(PEER_RETRY_MS)) == 0)
                continue;
        } else if (errno == EAGAIN) {
            rc = -ETIMEDOUT;
        }
        gn__sys_close(fd);
        return rc;
    }
    /* Whoever holds the name must be us: another user's process could
     * have bound it first, and must not see our clients' requests. */
    if (!same_user(fd)) {
        gn__sys_close(fd);
        return -EPERM;
    }
    return fd;
}

int gn__peer_call(const char *tok, pid_t to, const struct gn_peer_msg *in,
                  struct gn_peer_msg *out, int64_t timeout_ms)
{
    int64_t deadline = gn__monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int fd, rc;

    gn__peer_msg_init(out, 0);
    if ((fd = dial(tok, to, deadline)) < 0)
        return fd;
    rc = send_msg(fd, in, deadline);
    if (rc == 0)
        rc = recv_msg(fd, out, GN_PEER_MAX_MSG, deadline);
    gn__sys_close(fd);
    if (rc != 0)
        gn__peer_msg_release(out);
    return rc == -EPIPE || rc == -ECONNRESET ? -EPIPE : rc;
}

/* ---- serving ----------------------------------------------------------- */

struct served;

struct gn_peer {
    struct gn_loop *loop;
    struct gn_coro_pool *pool;
    int fd; /* -1 once stopped */
    struct gn_watch accept_watch;
    struct {
        uint32_t kind;
        gn__peer_fn fn;
        void *ctx;
    } kinds[PEER_KINDS];
    struct served *busy; /* the calls being served */
    size_t nbusy;
    void (*idle)(void *owner);
    void *owner;
};

/* One call being served: its connection and coroutine. */
struct served {
    struct gn_peer *p;
    struct gn_coro *co;
    int fd;
    struct served *prev, *next;
};

static const struct gn_peer_msg *answer_error(struct gn_peer_msg *out, int err)
{
    gn__peer_msg_release(out);
    out->kind = (uint32_t)-err;
    return out;
}

static void serve_main(struct gn_coro *co, void *arg)
{
    struct served *s = arg;
    struct gn_peer *p = s->p;
    struct gn_peer_msg in, out;
    int64_t deadline = gn__monotonic_ms() + PEER_IO_MS;
    gn__peer_fn fn = NULL;
    void *ctx = NULL;
    int rc;

    (void)co;
    if ((rc = recv_msg(s->fd, &in, GN_PEER_MAX_MSG, deadline)) != 0) {
        gn_log_debug("peer call: %s", strerror(-rc));
        gn__peer_msg_release(&in);
        return;
    }
    for (size_t i = 0; i < PEER_KINDS; i++)
        if (in.kind != 0 && p->kinds[i].kind == in.kind) {
            fn = p->kinds[i].fn;
            ctx = p->kinds[i].ctx;
        }
    gn__peer_msg_init(&out, 0);
    rc = fn ? fn(&in, &out, ctx) : -ENOSYS;
    gn__peer_msg_release(&in);
    /* The answer's own time starts when the handler is done (a poll may
     * rightly have waited for most of the call's). */
    deadline = gn__monotonic_ms() + PEER_IO_MS;
    rc = send_msg(s->fd, rc < 0 ? answer_error(&out, rc) : &out, deadline);
    if (rc != 0)
        gn_log_debug("peer answer: %s", strerror(-rc));
    gn__peer_msg_release(&out);
}

/* On the loop's stack once serve_main returned. */
static void serve_exit(struct gn_coro *co, void *arg)
{
    struct served *s = arg;
    struct gn_peer *p = s->p;

    gn__coro_release(co);
    gn__sys_close(s->fd);
    if (s->prev)
        s->prev->next = s->next;
    else
        p->busy = s->next;
    if (s->next)
        s->next->prev = s->prev;
    p->nbusy--;
    free(s);
    if (p->idle != NULL)
        p->idle(p->owner);
}

static void serve(struct gn_peer *p, int fd)
{
    struct served *s = calloc(1, sizeof(*s));

    if (s == NULL || (s->co = gn__coro_new(p->pool, serve_main, s, serve_exit,
                                           s)) == NULL) {
        gn_log_error("peer: out of memory for a call");
        free(s);
        gn__sys_close(fd);
        return;
    }
    s->p = p;
    s->fd = fd;
    s->next = p->busy;
    if (p->busy)
        p->busy->prev = s;
    p->busy = s;
    p->nbusy++;
    gn__coro_resume(s->co);
}

static void accept_ready(int lfd, short what, void *arg)
{
    struct gn_peer *p = arg;
    int fd;

    (void)what;
    for (;;) {
        fd = gn__sys_accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                gn_log_error("peer accept: %s", strerror(errno));
            return;
        }
        if (!same_user(fd)) {
            gn_log_warn("peer: refused a connection from another user");
            gn__sys_close(fd);
            continue;
        }
        serve(p, fd);
    }
}

struct gn_peer *gn__peer_new(struct gn_loop *loop, struct gn_coro_pool *pool,
                             const char *tok, pid_t id,
                             void (*idle)(void *owner), void *owner)
{
    struct gn_peer *p = calloc(1, sizeof(*p));
    struct sockaddr_un sun;
    socklen_t len = peer_addr(&sun, tok, id);
    int err;

    if (p == NULL)
        return NULL;
    p->loop = loop;
    p->pool = pool;
    p->idle = idle;
    p->owner = owner;
    p->fd = gn__sys_socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                           0);
    if (p->fd < 0)
        goto fail_socket;
    if (bind(p->fd, (struct sockaddr *)&sun, len) != 0 ||
        listen(p->fd, PEER_BACKLOG) != 0)
        goto fail_listen;
    if ((err = gn__watch_start(&p->accept_watch, loop, p->fd,
                               GN_WATCH_READ | GN_WATCH_PERSIST, -1,
                               accept_ready, p)) != 0) {
        errno = -err;
        goto fail_listen;
    }
    return p;

fail_listen:
    err = errno;
    gn__sys_close(p->fd);
    errno = err;
fail_socket:
    free(p);
    return NULL;
}

int gn__peer_on(struct gn_peer *p, uint32_t kind, gn__peer_fn fn, void *ctx)
{
    size_t free_slot = PEER_KINDS;

    assert(kind > 0);
    for (size_t i = 0; i < PEER_KINDS; i++) {
        if (p->kinds[i].kind == kind) {
            free_slot = i;
            break;
        }
        if (p->kinds[i].kind == 0 && free_slot == PEER_KINDS)
            free_slot = i;
    }
    if (free_slot == PEER_KINDS)
        return -ENOSPC;
    p->kinds[free_slot].kind = kind;
    p->kinds[free_slot].fn = fn;
    p->kinds[free_slot].ctx = ctx;
    return 0;
}

size_t gn__peer_busy(const struct gn_peer *p)
{
    return p->nbusy;
}

void gn__peer_unbind(struct gn_peer *p)
{
    if (p->fd >= 0) {
        gn__watch_stop(&p->accept_watch);
        gn__sys_close(p->fd);
        p->fd = -1;
    }
}

void gn__peer_stop(struct gn_peer *p)
{
    gn__peer_unbind(p);
    for (struct served *s = p->busy; s != NULL; s = s->next)
        gn__green_cancel(s->co, -ECANCELED);
}

void gn__peer_free(struct gn_peer *p)
{
    if (p == NULL)
        return;
    gn__peer_stop(p);
    /* Calls still served belong to a loop that no longer runs (a worker
     * that exits at once): their records stay, with the process. */
    if (p->nbusy == 0)
        free(p);
}
