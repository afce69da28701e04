/*
 * gn_redis_sub: a worker's Redis subscription (redis_sub.h). One green
 * thread runs a loop of three steps: connect and SUBSCRIBE (every channel
 * confirmed within the timeout), read messages and hand each to the app
 * until the connection fails, then wait a backoff before trying again.
 * Reading is hiredis's reader fed by redisBufferRead, waiting with
 * gn_wait_fd between reads; the wait's limit is the ping interval, after
 * which a PING (answered "pong" in subscribe mode) proves Redis is still
 * there within the timeout.
 *
 * The gap is a state, not an event: it opens at the first failure (logged
 * then, with its cause) and closes at the next successful subscribe
 * (logged then, with its length); the failed attempts in between are only
 * debug lines, so a Redis down for an hour costs two lines per worker.
 *
 * Lifetime: the record belongs to the app (gn_redis_sub_stop frees it);
 * the thread borrows it, and frees it itself only when stop could not
 * wait for it (orphaned). The thread's own record (gn_thread_t) is joined
 * by stop while the thread runs; once it has returned it is its owner's
 * (the worker frees it at exit), so stop never touches it then.
 */
#include "redis_sub.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <greenicorn.h>

#include "deadline.h"
#include "redis.h"
#include "redis_io.h"

struct gn_redis_sub {
    char *host;
    int port;
    char where[300];   /* "host:port" or the socket's path, for the log */
    const char **argv; /* "SUBSCRIBE", then the channels (copied) */
    size_t *argvlen;
    size_t nchannels;
    gn_redis_message_fn on_message;
    void *arg;
    gn_redis_sub_opts_t opts; /* defaults filled in; name copied */
    gn_thread_t *thread;
    redisContext *c; /* the thread's connection, NULL between two */
    unsigned seed;   /* the backoff's jitter */
    int up;          /* every channel subscribed */
    int gap;         /* down since gap_start, and logged so */
    int ever_up;
    double gap_start;
    int running;  /* the thread has not returned */
    int stopping; /* gn_redis_sub_stop was called */
    int orphaned; /* the thread frees the record as it ends */
    unsigned long long messages;
    unsigned losses;
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void free_sub(struct gn_redis_sub *s)
{
    if (s->c != NULL)
        redisFree(s->c);
    if (s->argv != NULL)
        for (size_t i = 1; i <= s->nchannels; i++)
            free((char *)s->argv[i]);
    free(s->argv);
    free(s->argvlen);
    free((char *)s->opts.name);
    free(s->host);
    free(s);
}

/* ---- the gap ------------------------------------------------------------- */

static void set_state(struct gn_redis_sub *s, int up)
{
    s->up = up;
    if (s->opts.on_state != NULL && !s->stopping)
        s->opts.on_state(up, s->arg);
}

static void came_up(struct gn_redis_sub *s)
{
    if (s->gap)
        gn_log(GN_LOG_INFO, "%s: redis subscription to %s %s after %.1f s%s",
               s->opts.name, s->where, s->ever_up ? "back" : "established",
               now() - s->gap_start,
               s->ever_up ? " (messages published meanwhile were not received)"
                          : "");
    else
        gn_log(GN_LOG_DEBUG, "%s: redis subscription to %s: %zu channel(s)",
               s->opts.name, s->where, s->nchannels);
    s->gap = 0;
    s->ever_up = 1;
    set_state(s, 1);
}

/* An attempt failed, or the connection did, for WHY. */
static void went_down(struct gn_redis_sub *s, const char *why)
{
    if (s->gap) {
        gn_log(GN_LOG_DEBUG, "%s: redis subscription to %s: still down: %s",
               s->opts.name, s->where, why);
        return;
    }
    s->gap = 1;
    s->gap_start = now();
    if (s->ever_up) {
        s->losses++;
        gn_log(GN_LOG_WARNING,
               "%s: redis subscription to %s lost: %s; reconnecting",
               s->opts.name, s->where, why);
    } else {
        gn_log(GN_LOG_WARNING,
               "%s: redis subscription to %s not established: %s; retrying",
               s->opts.name, s->where, why);
    }
    set_state(s, 0);
}

/* The wait before the next attempt: DELAY less up to a quarter. */
static double jitter(struct gn_redis_sub *s, double delay)
{
    return delay * (1.0 - 0.25 * (double)rand_r(&s->seed) / RAND_MAX);
}

/* ---- the connection ------------------------------------------------------ */

/* The next reply, waiting until END: 0 with *R, -ETIMEDOUT when END passed
 * without one (the connection is still fine), or another negative errno
 * with WHY filled (the connection is then broken). */
static int next_reply(struct gn_redis_sub *s, double end, redisReply **r,
                      char *why, size_t len)
{
    void *reply;
    double left;
    int rc;

    for (;;) {
        reply = NULL;
        if (redisGetReplyFromReader(s->c, &reply) != REDIS_OK) {
            snprintf(why, len, "%s", s->c->errstr);
            return -gn__redis_errno(s->c, 0);
        }
        if (reply != NULL) {
            *r = reply;
            return 0;
        }
        if ((left = gn_green_left(end)) == 0)
            return -ETIMEDOUT;
        rc = gn_wait_fd(s->c->fd, GN_WAIT_READ, left);
        if (rc == -ETIMEDOUT)
            return rc;
        if (rc < 0) {
            snprintf(why, len, "waiting for Redis: %s", strerror(-rc));
            return rc;
        }
        if (redisBufferRead(s->c) != REDIS_OK) {
            rc = gn__redis_errno(s->c, errno);
            snprintf(why, len, "%s", s->c->errstr);
            return -rc;
        }
    }
}

/* Queue the command ARGC/ARGV and send it within the timeout: 0, or a
 * negative errno with WHY. */
static int send_command(struct gn_redis_sub *s, int argc, const char **argv,
                        const size_t *argvlen, char *why, size_t len)
{
    double t = s->opts.timeout;
    int rc;

    if (redisAppendCommandArgv(s->c, argc, argv, argvlen) != REDIS_OK) {
        snprintf(why, len, "out of memory");
        return -ENOMEM;
    }
    if ((rc = gn__redis_send(s->c, gn_wait_fd, gn_green_deadline(t), t)) < 0)
        snprintf(why, len, "%s", s->c->errstr);
    return rc;
}

static int is_string(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

/* Act on one reply: a message goes to the app, a subscribe confirmation
 * counts in *CONFIRMED, a pong proves Redis is there. 0, or -EPROTO with
 * WHY for an error reply (NOAUTH...). */
static int dispatch(struct gn_redis_sub *s, const redisReply *r,
                    size_t *confirmed, char *why, size_t len)
{
    const char *kind;

    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, len, "Redis answered: %s", r->str);
        return -EPROTO;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        !is_string(r->element[0]))
        return 0; /* nothing a subscriber is sent: ignore it */
    kind = r->element[0]->str;
    if (strcmp(kind, "message") == 0 && r->elements == 3 &&
        is_string(r->element[1]) && is_string(r->element[2])) {
        if (s->stopping)
            return 0;
        s->messages++;
        s->on_message(r->element[1]->str, r->element[2]->str,
                      r->element[2]->len, s->arg);
    } else if (strcmp(kind, "subscribe") == 0) {
        (*confirmed)++;
    }
    return 0;
}

/* Connect and subscribe to every channel, within the timeout: 0, or a
 * negative errno with WHY. A message that arrives between two
 * confirmations is delivered. */
static int subscribe(struct gn_redis_sub *s, char *why, size_t len)
{
    double t = s->opts.timeout, end = gn_green_deadline(t);
    size_t confirmed = 0;
    redisReply *r;
    int rc;

    s->c = gn_redis_connect(s->host, s->port, t, why, len);
    if (s->c == NULL)
        return -errno;
    rc = send_command(s, (int)s->nchannels + 1, s->argv, s->argvlen, why, len);
    while (rc == 0 && confirmed < s->nchannels) {
        rc = next_reply(s, end, &r, why, len);
        if (rc == -ETIMEDOUT)
            snprintf(why, len, "no answer to SUBSCRIBE within %.3g s", t);
        if (rc < 0)
            break;
        rc = dispatch(s, r, &confirmed, why, len);
        freeReplyObject(r);
    }
    return rc;
}

/* Deliver messages until the connection fails (a negative errno, WHY
 * saying why) or the thread is cancelled (-ECANCELED). */
static int listen_to(struct gn_redis_sub *s, char *why, size_t len)
{
    static const char *ping[] = {"PING"};
    size_t confirmed = 0;
    int pinged = 0, rc;
    redisReply *r;

    for (;;) {
        rc = next_reply(
            s,
            gn_green_deadline(pinged ? s->opts.timeout : s->opts.ping_interval),
            &r, why, len);
        if (rc == -ETIMEDOUT && pinged) {
            snprintf(why, len, "no answer to PING within %.3g s",
                     s->opts.timeout);
            return rc;
        }
        if (rc == -ETIMEDOUT) {
            if ((rc = send_command(s, 1, ping, NULL, why, len)) < 0)
                return rc;
            pinged = 1;
            continue;
        }
        if (rc < 0)
            return rc;
        pinged = 0; /* any word from Redis will do; a late pong is ignored */
        rc = dispatch(s, r, &confirmed, why, len);
        freeReplyObject(r);
        if (rc < 0)
            return rc;
        if (s->stopping)
            return -ECANCELED;
    }
}

static void drop_connection(struct gn_redis_sub *s)
{
    if (s->c != NULL)
        redisFree(s->c);
    s->c = NULL;
}

static int run(void *arg)
{
    struct gn_redis_sub *s = arg;
    double delay = s->opts.backoff_min;
    char why[256];
    int rc;

    while (!s->stopping) {
        why[0] = '\0';
        if ((rc = subscribe(s, why, sizeof(why))) == 0) {
            double up_at = now();

            came_up(s);
            rc = listen_to(s, why, sizeof(why));
            /* A connection that held starts the backoff afresh; one lost
             * at once (a Redis that drops us as soon as we subscribe, a
             * flood past its output limit) keeps it growing, so the log
             * gets two lines per backoff_max at most. */
            if (now() - up_at >= s->opts.backoff_max)
                delay = s->opts.backoff_min;
        }
        drop_connection(s);
        s->up = 0;
        if (rc == -ECANCELED || s->stopping)
            break;
        went_down(s, why);
        if (gn_sleep(jitter(s, delay)) != 0)
            break; /* cancelled */
        delay = fmin(delay * 2, s->opts.backoff_max);
    }
    gn_log(GN_LOG_DEBUG, "%s: redis subscription to %s stopped", s->opts.name,
           s->where);
    s->running = 0;
    if (s->orphaned)
        free_sub(s);
    return 0;
}

/* ---- the API ------------------------------------------------------------- */

static void take_opts(struct gn_redis_sub *s, const gn_redis_sub_opts_t *o)
{
    if (o != NULL)
        s->opts = *o;
    if (!(s->opts.timeout > 0))
        s->opts.timeout = 2;
    if (!(s->opts.ping_interval > 0))
        s->opts.ping_interval = 5;
    if (!(s->opts.backoff_min > 0))
        s->opts.backoff_min = 0.1;
    if (!(s->opts.backoff_max > 0))
        s->opts.backoff_max = 2;
    if (s->opts.backoff_max < s->opts.backoff_min)
        s->opts.backoff_max = s->opts.backoff_min;
    s->opts.name = s->opts.name != NULL ? s->opts.name : "redis-sub";
}

/* Copy the channels after "SUBSCRIBE": 0, or -ENOMEM. */
static int take_channels(struct gn_redis_sub *s, const char *const *channels,
                         size_t n)
{
    s->argv = calloc(n + 1, sizeof(*s->argv));
    s->argvlen = calloc(n + 1, sizeof(*s->argvlen));
    if (s->argv == NULL || s->argvlen == NULL)
        return -ENOMEM;
    s->argv[0] = "SUBSCRIBE";
    s->argvlen[0] = strlen("SUBSCRIBE");
    for (size_t i = 0; i < n; i++) {
        if ((s->argv[i + 1] = strdup(channels[i])) == NULL)
            return -ENOMEM;
        s->argvlen[i + 1] = strlen(channels[i]);
        s->nchannels = i + 1;
    }
    return 0;
}

static void name_where(struct gn_redis_sub *s)
{
    if (s->host[0] == '/')
        snprintf(s->where, sizeof(s->where), "%s", s->host);
    else if (strchr(s->host, ':') != NULL)
        snprintf(s->where, sizeof(s->where), "[%s]:%d", s->host, s->port);
    else
        snprintf(s->where, sizeof(s->where), "%s:%d", s->host, s->port);
}

static int bad_args(const char *host, const char *const *channels, size_t n,
                    gn_redis_message_fn on_message)
{
    if (host == NULL || channels == NULL || n == 0 || n > 10000 ||
        on_message == NULL)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (channels[i] == NULL)
            return 1;
    return 0;
}

GN_API gn_redis_sub_t *
gn_redis_sub_start(const char *host, int port, const char *const *channels,
                   size_t nchannels, gn_redis_message_fn on_message, void *arg,
                   const gn_redis_sub_opts_t *opts)
{
    struct gn_redis_sub *s;

    if (bad_args(host, channels, nchannels, on_message)) {
        errno = EINVAL;
        return NULL;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return NULL;
    take_opts(s, opts);
    s->opts.name = strdup(s->opts.name);
    s->host = strdup(host);
    if (s->opts.name == NULL || s->host == NULL ||
        take_channels(s, channels, nchannels) != 0)
        goto fail;
    s->port = port;
    s->on_message = on_message;
    s->arg = arg;
    s->seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    name_where(s);
    s->running = 1;
    if ((s->thread = gn_spawn(run, s)) == NULL) {
        free_sub(s);
        errno = EAGAIN;
        return NULL;
    }
    return s;

fail:
    free_sub(s);
    errno = ENOMEM;
    return NULL;
}

GN_API int gn_redis_sub_up(const gn_redis_sub_t *s)
{
    return s->up;
}

GN_API unsigned long long gn_redis_sub_messages(const gn_redis_sub_t *s)
{
    return s->messages;
}

GN_API unsigned gn_redis_sub_losses(const gn_redis_sub_t *s)
{
    return s->losses;
}

GN_API void gn_redis_sub_stop(gn_redis_sub_t *s)
{
    if (s == NULL)
        return;
    s->stopping = 1;
    if (!s->running) { /* its record is its owner's now: leave it */
        free_sub(s);
        return;
    }
    gn_kill(s->thread);
    /* A killed thread's waits return at once: the timeout only bounds an
     * on_message that ignores it. Outside a green thread (-EWOULDBLOCK),
     * from the thread itself (-EDEADLK) or cancelled, we cannot wait. */
    if (gn_join(s->thread, s->opts.timeout, NULL) == 0)
        free_sub(s);
    else
        s->orphaned = 1;
}
