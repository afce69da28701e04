/*
 * gn_redis: hiredis driven cooperatively. hiredis 0.14 has no hook for
 * waiting, but its non-blocking context splits a command into steps we
 * can interleave with waits: append the command to the output buffer,
 * write what the socket takes, read what it has, ask the reader for a
 * reply. Each time a step would block we call the installed wait
 * function, which in a worker with green_db's hook is gn_wait_fd: only
 * the calling request waits. One deadline covers the whole command, so
 * a server that trickles bytes cannot stretch TIMEOUT.
 *
 * The pool keeps idle connections on a stack and counts the connections
 * handed out with a greenicorn semaphore, so a request finding all SIZE
 * in use waits in line (first come, first served) instead of opening
 * more.
 */
#include "redis.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <greenicorn.h>

#include "deadline.h"
#include "redis_io.h"

/* ---- waiting ------------------------------------------------------------ */

static gn_green_wait_fn wait_fn = gn_green_poll_wait;

GN_API void gn_redis_set_wait(gn_green_wait_fn wait)
{
    wait_fn = wait != NULL ? wait : gn_green_poll_wait;
}

/* ---- commands ------------------------------------------------------------ */

/* Mark C unusable with a message, as hiredis's own errors do. */
static void set_error(redisContext *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_error(redisContext *c, const char *fmt, ...)
{
    va_list ap;

    c->err = REDIS_ERR_IO;
    va_start(ap, fmt);
    vsnprintf(c->errstr, sizeof(c->errstr), fmt, ap);
    va_end(ap);
}

/* Wait for C's socket within END; 0, or -errno with C marked broken.
 * DOING names the step for the message ("sending", "a reply"). */
static int wait_step(redisContext *c, gn_green_wait_fn wait, int events,
                     double end, const char *doing, double timeout)
{
    int rc = wait(c->fd, events, gn_green_left(end));

    /* Ready; a wait that saw nothing ready (0) lets the next read or
     * write tell, unless the time is up. */
    if (rc > 0 || (rc == 0 && gn_green_left(end) != 0))
        return 0;
    if (rc == 0)
        rc = -ETIMEDOUT;
    if (rc == -ETIMEDOUT)
        set_error(c, "timed out after %.3g s waiting for %s", timeout, doing);
    else if (rc == -ECANCELED)
        set_error(c, "cancelled while waiting for %s", doing);
    else
        set_error(c, "waiting for %s: %s", doing, strerror(-rc));
    return rc;
}

int gn__redis_errno(const redisContext *c, int sys)
{
    switch (c->err) {
    case REDIS_ERR_IO: return sys > 0 ? sys : EIO;
    case REDIS_ERR_EOF: return ECONNRESET;
    case REDIS_ERR_PROTOCOL: return EPROTO;
    case REDIS_ERR_OOM: return ENOMEM;
    default: return EIO;
    }
}

int gn__redis_send(redisContext *c, gn_green_wait_fn wait, double end,
                   double timeout)
{
    int done = 0, rc;

    for (;;) {
        if (redisBufferWrite(c, &done) != REDIS_OK)
            return -gn__redis_errno(c, errno);
        if (done)
            return 0;
        rc = wait_step(c, wait, GN_WAIT_WRITE, end, "sending", timeout);
        if (rc < 0)
            return rc;
    }
}

static redisReply *receive(redisContext *c, double end, double timeout)
{
    void *reply = NULL;
    int rc;

    for (;;) {
        if (redisGetReplyFromReader(c, &reply) != REDIS_OK) {
            errno = gn__redis_errno(c, 0);
            return NULL;
        }
        if (reply != NULL)
            return reply;
        rc = wait_step(c, wait_fn, GN_WAIT_READ, end, "a reply", timeout);
        if (rc < 0) {
            errno = -rc;
            return NULL;
        }
        if (redisBufferRead(c) != REDIS_OK) {
            errno = gn__redis_errno(c, errno);
            return NULL;
        }
    }
}

GN_API redisContext *gn_redis_connect(const char *host, int port,
                                      double timeout, char *err, size_t errlen)
{
    redisContext *c;
    int fd;

    assert(host != NULL && err != NULL);
    if (host[0] == '/')
        fd = gn_connect_unix(host, timeout);
    else
        fd = gn_connect_tcp(host, port, timeout);
    if (fd < 0) {
        if (fd == -ETIMEDOUT)
            snprintf(err, errlen, "could not connect within %.3g s", timeout);
        else
            snprintf(err, errlen, "%s", strerror(-fd));
        errno = -fd;
        return NULL;
    }
    if ((c = redisConnectFd(fd)) == NULL) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    /* The socket is non-blocking: make hiredis take EAGAIN for "later". */
    c->flags &= ~REDIS_BLOCK;
    return c;
}

/* Send what C has queued (APPENDED, the redisAppend... result) and read
 * the reply, all within END. */
static redisReply *run_command(redisContext *c, int appended, double end,
                               double timeout)
{
    int rc;

    if (appended != REDIS_OK) {
        errno = gn__redis_errno(c, errno);
        return NULL;
    }
    if ((rc = gn__redis_send(c, wait_fn, end, timeout)) < 0) {
        errno = -rc;
        return NULL;
    }
    return receive(c, end, timeout);
}

GN_API redisReply *gn_redis_command(redisContext *c, double timeout,
                                    const char *fmt, ...)
{
    double end = gn_green_deadline(timeout);
    va_list ap;
    int rc;

    assert(c != NULL && fmt != NULL);
    if (c->err) {
        errno = gn__redis_errno(c, 0);
        return NULL;
    }
    va_start(ap, fmt);
    rc = redisvAppendCommand(c, fmt, ap);
    va_end(ap);
    return run_command(c, rc, end, timeout);
}

GN_API redisReply *gn_redis_command_argv(redisContext *c, double timeout,
                                         int argc, const char **argv,
                                         const size_t *argvlen)
{
    double end = gn_green_deadline(timeout);

    assert(c != NULL && argc > 0 && argv != NULL);
    if (c->err) {
        errno = gn__redis_errno(c, 0);
        return NULL;
    }
    return run_command(c, redisAppendCommandArgv(c, argc, argv, argvlen), end,
                       timeout);
}

/* ---- the pool ------------------------------------------------------------ */

struct gn_redis_pool {
    char *host;
    int port;
    int size;
    gn_sem_t *slots;     /* SIZE units, one taken per connection out */
    redisContext **idle; /* a stack of SIZE at most: the last put first */
    int nidle;
};

GN_API gn_redis_pool_t *gn_redis_pool_new(const char *host, int port, int size)
{
    struct gn_redis_pool *p;

    if (host == NULL || size < 1) {
        errno = EINVAL;
        return NULL;
    }
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return NULL;
    if ((p->host = strdup(host)) == NULL)
        goto fail_host;
    if ((p->idle = calloc((size_t)size, sizeof(*p->idle))) == NULL)
        goto fail_idle;
    if ((p->slots = gn_sem_new((unsigned)size)) == NULL)
        goto fail_slots;
    p->port = port;
    p->size = size;
    return p;

fail_slots:
    free(p->idle);
fail_idle:
    free(p->host);
fail_host:
    free(p);
    errno = ENOMEM;
    return NULL;
}

/* Whether the idle connection C still looks usable: an idle connection
 * has nothing to read, so a readable one was closed by the server (it
 * restarted, or timed us out) or is out of step. No wait: poll(2) with 0. */
static int still_open(const redisContext *c)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};

    return c->err == 0 && poll(&pfd, 1, 0) == 0;
}

/* The most recently put idle connection that is still open, or NULL;
 * the dead ones on the way are closed. */
static redisContext *take_idle(struct gn_redis_pool *p)
{
    redisContext *c;

    while (p->nidle > 0) {
        c = p->idle[--p->nidle];
        if (still_open(c))
            return c;
        redisFree(c);
    }
    return NULL;
}

GN_API redisContext *gn_redis_pool_get(gn_redis_pool_t *p, double timeout,
                                       char *err, size_t errlen)
{
    double end = gn_green_deadline(timeout);
    redisContext *c;
    int rc;

    assert(p != NULL && err != NULL);
    if ((rc = gn_sem_acquire(p->slots, timeout)) != 0) {
        if (rc == -ETIMEDOUT)
            snprintf(err, errlen,
                     "all %d connections busy for %.3g s (pool size)", p->size,
                     timeout);
        else if (rc == -EWOULDBLOCK)
            snprintf(err, errlen, "all %d connections busy", p->size);
        else
            snprintf(err, errlen, "%s", strerror(-rc));
        errno = -rc;
        return NULL;
    }
    if ((c = take_idle(p)) != NULL)
        return c;
    c = gn_redis_connect(p->host, p->port, gn_green_left(end), err, errlen);
    if (c == NULL) {
        rc = errno;
        gn_sem_release(p->slots);
        errno = rc;
    }
    return c;
}

GN_API void gn_redis_pool_put(gn_redis_pool_t *p, redisContext *c, int broken)
{
    assert(p != NULL);
    if (c == NULL)
        return;
    if (broken || c->err != 0 || p->nidle >= p->size)
        redisFree(c);
    else
        p->idle[p->nidle++] = c;
    gn_sem_release(p->slots);
}

GN_API void gn_redis_pool_free(gn_redis_pool_t *p)
{
    if (p == NULL)
        return;
    while (p->nidle > 0)
        redisFree(p->idle[--p->nidle]);
    gn_sem_free(p->slots);
    free(p->idle);
    free(p->host);
    free(p);
}

/* ---- publishing ---------------------------------------------------------- */

GN_API int gn_redis_publish(gn_redis_pool_t *p, const char *channel,
                            const void *data, size_t len, double timeout,
                            char *err, size_t errlen)
{
    double end = gn_green_deadline(timeout);
    /* Arguments with their lengths: the message is bytes, NULs and all. */
    const char *argv[] = {"PUBLISH", channel, data != NULL ? data : ""};
    const size_t argvlen[] = {7, strlen(channel), len};
    redisContext *c;
    redisReply *r;
    int rc;

    assert(p != NULL && channel != NULL && err != NULL);
    assert(data != NULL || len == 0);
    if ((c = gn_redis_pool_get(p, timeout, err, errlen)) == NULL)
        return -errno;
    r = gn_redis_command_argv(c, gn_green_left(end), 3, argv, argvlen);
    if (r == NULL) {
        rc = -errno;
        snprintf(err, errlen, "%s", c->errstr);
        gn_redis_pool_put(p, c, 1);
        return rc;
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        rc = r->integer > INT_MAX ? INT_MAX : (int)r->integer;
    } else {
        /* Redis said no ("READONLY...", "NOAUTH..."): the connection is
         * fine, the message was not sent. */
        snprintf(err, errlen, "PUBLISH %s: %s", channel,
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        rc = -EPROTO;
    }
    freeReplyObject(r);
    gn_redis_pool_put(p, c, 0);
    return rc;
}
