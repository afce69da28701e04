/*
 * Engine.IO long-polling: see polling.h. A GET with nothing queued parks
 * its coroutine on the session (the session's poller) until a sender, the
 * heartbeat's ping, an upgrade's probe or the close wakes it; the ping
 * comes every pingInterval, so a GET waits no longer than that (and twice
 * the timeouts at worst, then answers a NOOP). As the reference server
 * does, a second GET while one waits, or a second POST while one is read,
 * is a client error that closes the session.
 */
#include "socketio/polling.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "green/park.h"
#include "net/buf.h"
#include "socketio/engine.h"
#include "socketio/handshake.h"
#include "socketio/session.h"

#define TEXT_PLAIN "text/plain; charset=UTF-8"

static const struct gn_eio_packet close_pkt = {GN_EIO_CLOSE, false,
                                               (const uint8_t *)"", 0};

/* Answer 200 with the payload (or "ok") in B, which is freed. */
static int answer(gn_response_t *res, struct gn_buf *b)
{
    int rc;

    if (b->err) {
        gn__buf_free(b);
        return -ENOMEM;
    }
    gn_response_header(res, "Content-Type", TEXT_PLAIN);
    rc = gn_response_write(res, b->data, b->len);
    gn__buf_free(b);
    return rc < 0 ? rc : 1;
}

int gn__eio_polling_open(struct gn_eio_server *srv, gn_request_t *req,
                         gn_response_t *res)
{
    const struct gn_eio_settings *set = gn__eio_settings();
    struct gn_eio_session *s = gn__eio_session_new(srv, GN_EIO_POLLING);
    struct gn_eio_open o = {
        .sid = s->sid,
        .upgrade_websocket = set->allow_websocket != 0,
        .ping_interval = (unsigned)set->ping_interval_ms,
        .ping_timeout = (unsigned)set->ping_timeout_ms,
        .max_payload = (size_t)set->max_payload,
    };
    char storage[256];
    struct gn_buf b;
    int rc;

    (void)req;
    gn__buf_init(&b, storage, sizeof(storage));
    gn__buf_append(&b, "0", 1);
    gn__eio_open_json(&b, &o);
    gn__eio_session_hold(s);
    if (srv->h.open)
        srv->h.open(s, srv->ctx);
    /* What the handler queued on open goes with the OPEN; a session the
     * handler closed at once says so. */
    if (!s->closed)
        gn__eio_session_drain(s, &b);
    else
        gn__eio_payload_add(&b, &close_pkt);
    rc = answer(res, &b);
    gn__eio_session_release(s);
    return rc;
}

/* Park the GET on S until it has something to answer, up to the
 * heartbeat's two waits (a ping comes before). 0, or the cancellation
 * error (the client left, with cancel_on_disconnect; request_timeout). */
static int await_packets(struct gn_eio_session *s)
{
    const struct gn_eio_settings *set = gn__eio_settings();
    int64_t due = set->ping_interval_ms + set->ping_timeout_ms;
    struct gn_waiter wt = {0};

    while (!s->closed && s->qhead == NULL && !s->upgrading &&
           s->transport == GN_EIO_POLLING) {
        int rc;

        s->poller = &wt;
        rc = gn__green_park(&wt, -1, 0, due);
        s->poller = NULL;
        wt = (struct gn_waiter){0};
        if (rc == -ETIMEDOUT)
            break;
        if (rc < 0)
            return rc;
    }
    return 0;
}

int gn__eio_polling_get(struct gn_eio_session *s, gn_request_t *req,
                        gn_response_t *res)
{
    static const struct gn_eio_packet noop = {GN_EIO_NOOP, false,
                                              (const uint8_t *)"", 0};
    char storage[512];
    struct gn_buf b;
    int rc;

    (void)req;
    if (s->getting) {
        gn_log_debug("Engine.IO session %s: overlapping GET", s->sid);
        gn__eio_close(s, "transport error");
        return gn__eio_answer_error(res, GN_EIO_BAD_REQUEST);
    }
    gn__eio_session_hold(s);
    s->getting = true;
    rc = gn__green_can_wait() ? await_packets(s) : 0;
    s->getting = false;
    gn__buf_init(&b, storage, sizeof(storage));
    /* A GET whose client is gone leaves the queue to the next one: what
     * it took would be lost. */
    if (rc == 0 && !gn_response_client_gone(res))
        gn__eio_session_drain(s, &b);
    if (s->closed && s->dropped && b.len == 0) {
        /* The worker stops: no CLOSE (gn__eio_shutdown says why). */
        gn__buf_free(&b);
        gn__eio_session_release(s);
        return gn__eio_answer_error(res, GN_EIO_UNKNOWN_SID);
    }
    if (s->closed && !s->dropped)
        gn__eio_payload_add(&b, &close_pkt);
    else if (b.len == 0 || s->upgrading || s->transport != GN_EIO_POLLING)
        gn__eio_payload_add(&b, &noop); /* the poll ends: the upgrade's
                                           pause, or nothing to say */
    rc = answer(res, &b);
    gn__eio_session_release(s);
    return rc;
}

/* Read REQ's body, at most MAX bytes, into *OUT (malloc'd) and *LEN: 0,
 * -EMSGSIZE past MAX, or the read's error. */
static int read_body(gn_request_t *req, size_t max, uint8_t **out,
                     size_t *len)
{
    int64_t declared = gn_request_content_length(req);
    size_t cap = declared >= 0 ? (size_t)declared + 1 : 4096, n = 0;
    uint8_t *p;

    if (declared > (int64_t)max)
        return -EMSGSIZE;
    if ((p = malloc(cap)) == NULL)
        return -ENOMEM;
    for (;;) {
        ssize_t k;

        if (n == cap) {
            uint8_t *q = cap > max ? NULL : realloc(p, cap * 2);

            if (q == NULL) {
                free(p);
                return cap > max ? -EMSGSIZE : -ENOMEM;
            }
            p = q;
            cap *= 2;
        }
        k = gn_request_read(req, p + n, cap - n);
        if (k == 0)
            break;
        if (k < 0) {
            free(p);
            return (int)k;
        }
        n += (size_t)k;
        if (n > max) {
            free(p);
            return -EMSGSIZE;
        }
    }
    *out = p;
    *len = n;
    return 0;
}

/* Deliver the payload P[0, N) to S: 0, or -EBADMSG (S closed, "parse
 * error"). */
static int deliver(struct gn_eio_session *s, uint8_t *p, size_t n)
{
    struct gn_eio_payload it;
    struct gn_eio_packet pkt;
    int rc;

    if (gn__eio_payload_init(&it, p, n, (size_t)-1) != 0) {
        gn__eio_close(s, "parse error");
        return -EBADMSG;
    }
    while ((rc = gn__eio_payload_next(&it, &pkt)) > 0 && !s->closed)
        gn__eio_session_deliver(s, &pkt);
    if (rc < 0) {
        gn__eio_close(s, "parse error");
        return -EBADMSG;
    }
    return 0;
}

int gn__eio_polling_post(struct gn_eio_session *s, gn_request_t *req,
                         gn_response_t *res)
{
    char storage[8];
    struct gn_buf b;
    uint8_t *body = NULL;
    size_t len = 0;
    int rc;

    if (s->posting) {
        gn_log_debug("Engine.IO session %s: overlapping POST", s->sid);
        gn__eio_close(s, "transport error");
        return gn__eio_answer_error(res, GN_EIO_BAD_REQUEST);
    }
    gn__eio_session_hold(s);
    s->posting = true;
    rc = read_body(req, (size_t)gn__eio_settings()->max_payload, &body, &len);
    s->posting = false;
    if (rc == -EMSGSIZE) {
        /* The packets are lost: the session cannot go on consistently. */
        gn__eio_close(s, "transport error");
        gn__eio_session_release(s);
        gn_response_status(res, 413, NULL);
        gn_response_header(res, "Content-Type", TEXT_PLAIN);
        gn_response_write(res, "Payload Too Large", 17);
        return 1;
    }
    if (rc < 0) {
        gn__eio_close(s, "transport error");
        gn__eio_session_release(s);
        return rc == -ENOMEM ? rc : gn__eio_answer_error(res, GN_EIO_BAD_REQUEST);
    }
    rc = deliver(s, body, len);
    free(body);
    gn__eio_session_release(s);
    if (rc < 0)
        return gn__eio_answer_error(res, GN_EIO_BAD_REQUEST);
    gn__buf_init(&b, storage, sizeof(storage));
    gn__buf_append(&b, "ok", 2);
    return answer(res, &b);
}
