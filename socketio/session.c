/*
 * Engine.IO sessions: see session.h. The table is a fixed array of chains
 * by a hash of the sid (a worker holds thousands of sessions at most, and
 * the sid is random past its first bytes, so the chains stay short).
 */
#include "socketio/session.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/log.h"
#include "green/park.h"
#include "socketio/base64.h"
#include "socketio/heartbeat.h"
#include "socketio/transport.h"

#define BUCKETS 1024

static struct gn_eio_session *table[BUCKETS];

static size_t bucket(const char *sid)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (; *sid; sid++)
        h = (h ^ (uint8_t)*sid) * 16777619u;
    return h % BUCKETS;
}

/* ---- sids ------------------------------------------------------------- */

/* Random bytes for a sid: getrandom, which a worker can always call
 * (the pool is initialised long before any request). */
static void random_bytes(uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = getrandom(p, n, 0);

        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            gn_log_error("getrandom failed for a session id: %s",
                         strerror(errno));
            abort();
        }
        p += k;
        n -= (size_t)k;
    }
}

void gn__eio_sid_make(char sid[GN_EIO_SID_LEN + 1], pid_t pid)
{
    uint8_t raw[15];
    char b64[20];

    raw[0] = (uint8_t)((uint32_t)pid >> 24);
    raw[1] = (uint8_t)((uint32_t)pid >> 16);
    raw[2] = (uint8_t)((uint32_t)pid >> 8);
    raw[3] = (uint8_t)pid;
    random_bytes(raw + 4, sizeof(raw) - 4);
    gn__base64_encode(raw, sizeof(raw), b64); /* 15 bytes: no padding */
    for (size_t i = 0; i < GN_EIO_SID_LEN; i++)
        sid[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    sid[GN_EIO_SID_LEN] = '\0';
}

pid_t gn__eio_sid_owner(const char *sid)
{
    char b64[GN_EIO_SID_LEN];
    uint8_t raw[GN_EIO_SID_LEN / 4 * 3 + 2];
    uint32_t pid;

    if (sid == NULL || strlen(sid) != GN_EIO_SID_LEN)
        return -1;
    for (size_t i = 0; i < GN_EIO_SID_LEN; i++) {
        char c = sid[i];

        if (c == '+' || c == '/' || c == '=')
            return -1; /* base64url only */
        b64[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    if (gn__base64_decode(b64, sizeof(b64), raw) != 15)
        return -1;
    pid = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 |
          (uint32_t)raw[2] << 8 | raw[3];
    return pid == 0 || pid > INT32_MAX ? -1 : (pid_t)pid;
}

/* ---- the table and the lists ------------------------------------------ */

struct gn_eio_session *gn__eio_session_new(struct gn_eio_server *srv,
                                           enum gn_eio_transport transport)
{
    struct gn_eio_session *s = calloc(1, sizeof(*s));
    size_t b;

    if (s == NULL) {
        gn_log_error("out of memory for an Engine.IO session");
        abort();
    }
    s->srv = srv;
    s->transport = transport;
    s->refs = 1; /* the table's */
    do
        gn__eio_sid_make(s->sid, getpid());
    while (gn__eio_session_find(s->sid) != NULL);
    b = bucket(s->sid);
    s->hnext = table[b];
    table[b] = s;
    s->next = srv->sessions;
    if (srv->sessions)
        srv->sessions->prev = s;
    srv->sessions = s;
    gn__eio_heartbeat_start(s);
    return s;
}

struct gn_eio_session *gn__eio_session_find(const char *sid)
{
    for (struct gn_eio_session *s = table[bucket(sid)]; s; s = s->hnext)
        if (strcmp(s->sid, sid) == 0)
            return s;
    return NULL;
}

static void unlink_session(struct gn_eio_session *s)
{
    struct gn_eio_session **pp = &table[bucket(s->sid)];

    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
    if (s->prev)
        s->prev->next = s->next;
    else
        s->srv->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = s->hnext = NULL;
}

void gn__eio_session_hold(struct gn_eio_session *s)
{
    s->refs++;
}

static void drop_queue(struct gn_eio_session *s)
{
    struct gn_eio_qpkt *q, *next;

    for (q = s->qhead; q; q = next) {
        next = q->next;
        free(q);
    }
    s->qhead = s->qtail = NULL;
    s->qbytes = 0;
}

void gn__eio_session_release(struct gn_eio_session *s)
{
    assert(s->refs > 0);
    if (--s->refs > 0)
        return;
    assert(s->closed);
    drop_queue(s);
    free(s);
}

void gn__eio_session_wake(struct gn_eio_session *s)
{
    if (s->poller != NULL)
        gn__green_wake(s->poller, 0);
}

/* ---- sending ---------------------------------------------------------- */

static int enqueue(struct gn_eio_session *s, const struct gn_eio_packet *p)
{
    struct gn_eio_qpkt *q = malloc(sizeof(*q) + p->len);

    if (q == NULL)
        return -ENOMEM;
    q->next = NULL;
    q->type = p->type;
    q->binary = p->binary;
    q->len = p->len;
    if (p->len)
        memcpy(q->data, p->data, p->len);
    if (s->qtail)
        s->qtail->next = q;
    else
        s->qhead = q;
    s->qtail = q;
    s->qbytes += p->len + 1;
    return 0;
}

int gn__eio_send(struct gn_eio_session *s, const struct gn_eio_packet *pkts,
                 size_t n)
{
    size_t bytes = 0;

    if (s->closed)
        return -EPIPE;
    for (size_t i = 0; i < n; i++) {
        /* A text packet may not hold the polling separator (engine.h). */
        if (!pkts[i].binary && pkts[i].len &&
            memchr(pkts[i].data, GN_EIO_RS, pkts[i].len))
            return -EINVAL;
        bytes += pkts[i].len + 1;
    }
    if (s->transport == GN_EIO_WEBSOCKET)
        return gn__eio_ws_send(s, pkts, n);
    if (s->qbytes + bytes > gn__eio_settings()->max_queue) {
        gn_log_info("Engine.IO session %s: more than %llu bytes queued: "
                    "closing",
                    s->sid,
                    (unsigned long long)gn__eio_settings()->max_queue);
        gn__eio_close(s, "forced close");
        return -ENOBUFS;
    }
    for (size_t i = 0; i < n; i++)
        if (enqueue(s, &pkts[i]) != 0) {
            gn_log_error("out of memory for an Engine.IO packet");
            abort();
        }
    gn__eio_session_wake(s);
    return 0;
}

int gn__eio_session_drain(struct gn_eio_session *s, struct gn_buf *out)
{
    struct gn_eio_qpkt *q;

    while ((q = s->qhead) != NULL) {
        struct gn_eio_packet p = {q->type, q->binary, q->data, q->len};
        int rc = gn__eio_payload_add(out, &p);

        if (rc < 0)
            return rc;
        s->qhead = q->next;
        s->qbytes -= q->len + 1;
        free(q);
    }
    s->qtail = NULL;
    return 0;
}

void gn__eio_session_flush_ws(struct gn_eio_session *s)
{
    struct gn_eio_qpkt *q;

    while ((q = s->qhead) != NULL && !s->closed) {
        struct gn_eio_packet p = {q->type, q->binary, q->data, q->len};

        s->qhead = q->next;
        s->qbytes -= q->len + 1;
        gn__eio_ws_send(s, &p, 1);
        free(q);
    }
    if (s->qhead == NULL)
        s->qtail = NULL;
}

/* ---- receiving -------------------------------------------------------- */

void gn__eio_session_deliver(struct gn_eio_session *s,
                             const struct gn_eio_packet *pkt)
{
    if (s->closed)
        return;
    switch (pkt->type) {
    case GN_EIO_PONG:
        gn__eio_heartbeat_pong(s);
        break;
    case GN_EIO_MESSAGE:
        if (s->srv->h.message)
            s->srv->h.message(s, pkt, s->srv->ctx);
        break;
    case GN_EIO_CLOSE:
        gn__eio_close(s, "transport close");
        break;
    default:
        /* OPEN, PING, UPGRADE and NOOP have no meaning from a client here:
         * dropped, as the reference server drops them. */
        break;
    }
}

/* ---- closing ---------------------------------------------------------- */

void gn__eio_close(struct gn_eio_session *s, const char *reason)
{
    if (s->closed)
        return;
    s->closed = true;
    gn__eio_heartbeat_stop(s);
    unlink_session(s);
    gn_log_debug("Engine.IO session %s closed: %s", s->sid, reason);
    if (s->srv->h.close)
        s->srv->h.close(s, reason, s->srv->ctx);
    /* A parked GET answers CLOSE; a WebSocket sends it and closes. */
    gn__eio_session_wake(s);
    gn__eio_ws_close(s);
    gn__eio_session_release(s); /* the table's */
}

void gn__eio_close_all(struct gn_eio_server *srv, const char *reason)
{
    while (srv->sessions != NULL)
        gn__eio_close(srv->sessions, reason);
}

const char *gn__eio_sid(const struct gn_eio_session *s)
{
    return s->sid;
}

void gn__eio_set_data(struct gn_eio_session *s, void *data)
{
    s->data = data;
}

void *gn__eio_data(const struct gn_eio_session *s)
{
    return s->data;
}
