/*
 * Engine.IO heartbeats: see heartbeat.h. The timer fires from the loop, so
 * a ping timeout closes the session from there: the handler's close runs
 * outside any coroutine (it must not wait, as eio.h asks of every
 * callback).
 */
#include "socketio/heartbeat.h"

#include "core/log.h"
#include "green/park.h"
#include "socketio/session.h"

static void arm(struct gn_eio_session *s, int64_t ms);

static void fire(int fd, short what, void *arg)
{
    struct gn_eio_session *s = arg;
    const struct gn_eio_packet ping = {GN_EIO_PING, false,
                                       (const uint8_t *)"", 0};

    (void)fd;
    (void)what;
    if (s->closed)
        return;
    if (s->ping_sent) {
        gn_log_debug("Engine.IO session %s: no pong within %lld ms", s->sid,
                     (long long)gn__eio_settings()->ping_timeout_ms);
        gn__eio_close(s, "ping timeout");
        return;
    }
    s->ping_sent = true;
    arm(s, gn__eio_settings()->ping_timeout_ms);
    gn__eio_send(s, &ping, 1); /* (may close S: a full queue) */
}

static void arm(struct gn_eio_session *s, int64_t ms)
{
    struct gn_loop *loop = gn__green_loop();

    gn__watch_stop(&s->timer);
    if (loop == NULL)
        return; /* no loop (a codec test): no heartbeat */
    if (gn__watch_start(&s->timer, loop, -1, 0, ms, fire, s) != 0)
        gn_log_error("Engine.IO session %s: cannot arm its heartbeat",
                     s->sid);
}

void gn__eio_heartbeat_start(struct gn_eio_session *s)
{
    s->ping_sent = false;
    arm(s, gn__eio_settings()->ping_interval_ms);
}

void gn__eio_heartbeat_pong(struct gn_eio_session *s)
{
    if (!s->ping_sent)
        return; /* a pong nobody asked for changes nothing */
    gn__eio_heartbeat_start(s);
}

void gn__eio_heartbeat_stop(struct gn_eio_session *s)
{
    gn__watch_stop(&s->timer);
}
