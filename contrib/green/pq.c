/*
 * gn_pq: libpq driven through its non-blocking API, waiting with the
 * installed wait function (poll(2) until green_db's post_fork hook installs
 * gn_wait_fd), and a per-worker pool of such connections. A call keeps one
 * deadline across all its waits, so TIMEOUT bounds the whole call.
 *
 * libpq has no room for our own error messages (a timeout, a cancel), so
 * they live beside the connection, in instance data of a libpq event
 * procedure that frees them when the connection is destroyed.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <greenicorn.h>
#include <libpq-events.h>

#include "deadline.h"
#include "message.h"
#include "pq.h"

#define ERR_LEN 512 /* room for gn_pq_error's line */

/* ---- waiting ---------------------------------------------------------- */

static gn_green_wait_fn wait_fn = gn_green_poll_wait;

GN_API void gn_pq_set_wait(gn_green_wait_fn wait)
{
    wait_fn = wait != NULL ? wait : gn_green_poll_wait;
}

/* Wait until CONN's socket is ready for EVENTS, until END: the ready ones,
 * or a negative errno. The socket is asked for each time: libpq opens a
 * new one when it tries the next address or host. */
static int wait_for(PGconn *conn, int events, double end)
{
    int fd = PQsocket(conn), rc;

    if (fd < 0)
        return -EIO; /* libpq dropped it: PQerrorMessage says why */
    rc = wait_fn(fd, events, gn_green_left(end));
    return rc == 0 ? events : rc; /* nothing said: let libpq find out */
}

/* ---- messages --------------------------------------------------------- */

/* Where CONN's server is, for messages: `server at "HOST", port PORT`. */
static void describe_server(PGconn *conn, char *buf, size_t len)
{
    const char *host = PQhost(conn), *port = PQport(conn);

    snprintf(buf, len, "server at \"%s\", port %s", host ? host : "?",
             port ? port : "?");
}

/* What a failed wait (RC) while doing WHAT means, in BUF. */
static void describe_wait(char *buf, size_t len, int rc, const char *what,
                          double timeout)
{
    if (rc == -ETIMEDOUT)
        snprintf(buf, len, "%s timed out after %.3g s", what, timeout);
    else if (rc == -ECANCELED)
        snprintf(buf, len, "%s was cancelled", what);
    else
        snprintf(buf, len, "%s failed: %s", what, strerror(-rc));
}

/* Our message for a connection, beside it until libpq destroys it. */
struct conn_error {
    int own; /* msg is ours (a timeout...), not a copy of libpq's */
    char msg[ERR_LEN];
};

static int on_event(PGEventId id, void *info, void *pass)
{
    (void)pass;
    if (id == PGEVT_CONNDESTROY) {
        PGEventConnDestroy *e = info;

        free(PQinstanceData(e->conn, on_event));
    }
    return 1;
}

/* CONN's conn_error, made on first use when CREATE: NULL when it has none
 * (or there is no memory for one). */
static struct conn_error *conn_error(PGconn *conn, int create)
{
    struct conn_error *e = PQinstanceData(conn, on_event);

    if (e != NULL || !create)
        return e;
    if ((e = calloc(1, sizeof(*e))) == NULL)
        return NULL;
    /* The procedure may be registered already (a calloc failed before). */
    if (PQsetInstanceData(conn, on_event, e) ||
        (PQregisterEventProc(conn, on_event, "gn_pq", NULL) &&
         PQsetInstanceData(conn, on_event, e)))
        return e;
    free(e);
    return NULL;
}

/* A failed wait (RC) during a query on CONN, for gn_pq_error. The query
 * is left to run on the server: Debian 12's libpq 15 cancels only with
 * PQcancel, which connects and waits in the calling thread (the whole
 * worker). libpq 17's PQcancelStart and PQcancelPoll would not block. */
static void set_wait_error(PGconn *conn, int rc, double timeout)
{
    struct conn_error *e = conn_error(conn, 1);
    char what[256], server[200];

    if (e == NULL)
        return; /* no memory: gn_pq_error says what libpq says */
    describe_server(conn, server, sizeof(server));
    snprintf(what, sizeof(what), "query on %s", server);
    describe_wait(e->msg, sizeof(e->msg), rc, what, timeout);
    e->own = 1;
}

GN_API const char *gn_pq_error(PGconn *conn)
{
    struct conn_error *e = conn_error(conn, 1);

    if (e == NULL)
        return PQerrorMessage(conn);
    if (!e->own)
        gn_green_one_line(e->msg, sizeof(e->msg), PQerrorMessage(conn));
    return e->msg;
}

/* What the server says outside an answer (WARNING, NOTICE...; the
 * goodbye of a server shutting down), to our log rather than stderr.
 * A receiver outlives the connection in its results: no pointer to it. */
static void on_notice(void *arg, const PGresult *res)
{
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    int level = GN_LOG_INFO;

    (void)arg;
    if (sev == NULL)
        sev = "NOTICE";
    if (strcmp(sev, "WARNING") == 0)
        level = GN_LOG_WARNING;
    else if (strcmp(sev, "DEBUG") == 0 || strcmp(sev, "LOG") == 0)
        level = GN_LOG_DEBUG;
    gn_log(level, "gn_pq: the server says %s: %s", sev,
           msg ? msg : PQresultErrorMessage(res));
}

/* ---- connecting ------------------------------------------------------- */

/* Drive PQconnectPoll until it is done or END: 0, -EIO when libpq failed
 * (PQerrorMessage says why), or the wait's negative errno. */
static int connect_poll(PGconn *conn, double end)
{
    /* Right after PQconnectStart, as if PQconnectPoll said WRITING. */
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    int rc;

    if (PQstatus(conn) == CONNECTION_BAD)
        return -EIO;
    for (;;) {
        switch (st) {
        case PGRES_POLLING_OK: return 0;
        case PGRES_POLLING_READING:
            rc = wait_for(conn, GN_WAIT_READ, end);
            break;
        case PGRES_POLLING_WRITING:
            rc = wait_for(conn, GN_WAIT_WRITE, end);
            break;
        case PGRES_POLLING_ACTIVE: rc = 0; break; /* unused: poll again */
        default: return -EIO;
        }
        if (rc < 0)
            return rc;
        st = PQconnectPoll(conn);
    }
}

GN_API PGconn *gn_pq_connect(const char *conninfo, double timeout, char *err,
                             size_t errlen)
{
    double end = gn_green_deadline(timeout);
    PGconn *conn;
    int rc;

    assert(conninfo != NULL && err != NULL);
    if ((conn = PQconnectStart(conninfo)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    PQsetNoticeReceiver(conn, on_notice, NULL);
    rc = connect_poll(conn, end);
    /* From now on PQflush returns instead of waiting (we wait), and
     * PQfinish never blocks. */
    if (rc == 0 && PQsetnonblocking(conn, 1) != 0)
        rc = -EIO;
    if (rc == 0)
        return conn;
    if (rc == -EIO) {
        gn_green_one_line(err, errlen, PQerrorMessage(conn));
    } else {
        char what[256], server[200];

        describe_server(conn, server, sizeof(server));
        snprintf(what, sizeof(what), "connection to %s", server);
        describe_wait(err, errlen, rc, what, timeout);
    }
    PQfinish(conn);
    return NULL;
}

/* ---- queries ---------------------------------------------------------- */

/* Send what libpq holds for the server: 0, -EIO, or the wait's error.
 * While the server's socket is full, what it sends us meanwhile is read,
 * so neither side waits for the other forever (libpq's advice). */
static int flush(PGconn *conn, double end)
{
    int rc, ready;

    while ((rc = PQflush(conn)) == 1) {
        ready = wait_for(conn, GN_WAIT_READ | GN_WAIT_WRITE, end);
        if (ready < 0)
            return ready;
        if ((ready & GN_WAIT_READ) && !PQconsumeInput(conn))
            return -EIO;
    }
    return rc == 0 ? 0 : -EIO;
}

static int is_copy(ExecStatusType st)
{
    return st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH;
}

/* Read the results until PQgetResult says there are no more, keeping the
 * last in *LAST (the others are cleared): 0, -EIO, or the wait's error. */
static int read_results(PGconn *conn, double end, PGresult **last)
{
    PGresult *r;
    int rc;

    for (;;) {
        while (PQisBusy(conn)) {
            if ((rc = wait_for(conn, GN_WAIT_READ, end)) < 0)
                return rc;
            if (!PQconsumeInput(conn))
                return -EIO;
        }
        if ((r = PQgetResult(conn)) == NULL)
            return 0;
        PQclear(*last);
        *last = r;
        /* PQgetResult would hand out COPY results forever. */
        if (is_copy(PQresultStatus(r)))
            return 0;
    }
}

static int send_query(PGconn *conn, const char *sql, int nparams,
                      const char *const *params)
{
    if (nparams == 0)
        return PQsendQuery(conn, sql);
    return PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
}

GN_API PGresult *gn_pq_exec(PGconn *conn, const char *sql, int nparams,
                            const char *const *params, double timeout)
{
    double end = gn_green_deadline(timeout);
    struct conn_error *e;
    PGresult *last = NULL;
    int rc = -EIO;

    assert(conn != NULL && sql != NULL && nparams >= 0);
    assert(nparams == 0 || params != NULL);
    if ((e = conn_error(conn, 0)) != NULL)
        e->own = 0;
    if (PQstatus(conn) != CONNECTION_OK)
        return NULL;
    if (PQsetnonblocking(conn, 1) == 0 &&
        send_query(conn, sql, nparams, params) && (rc = flush(conn, end)) == 0)
        rc = read_results(conn, end, &last);
    if (rc != 0 && rc != -EIO)
        set_wait_error(conn, rc, timeout);
    /* A lost connection's last result is libpq's error: NULL says so. */
    if (rc != 0 || PQstatus(conn) != CONNECTION_OK) {
        PQclear(last);
        return NULL;
    }
    return last;
}

/* ---- the pool --------------------------------------------------------- */

struct gn_pq_pool {
    char *conninfo;
    gn_sem_t *slots; /* a unit for each connection not handed out */
    PGconn **idle;   /* the ones put back, the latest last */
    int size, nidle;
};

GN_API gn_pq_pool_t *gn_pq_pool_new(const char *conninfo, int size)
{
    struct gn_pq_pool *pool;

    assert(conninfo != NULL);
    if (size <= 0 || (pool = calloc(1, sizeof(*pool))) == NULL)
        return NULL;
    pool->size = size;
    if ((pool->conninfo = strdup(conninfo)) == NULL)
        goto fail_conninfo;
    if ((pool->idle = calloc((size_t)size, sizeof(*pool->idle))) == NULL)
        goto fail_idle;
    if ((pool->slots = gn_sem_new((unsigned)size)) == NULL)
        goto fail_slots;
    return pool;

fail_slots:
    free(pool->idle);
fail_idle:
    free(pool->conninfo);
fail_conninfo:
    free(pool);
    return NULL;
}

/* Whether CONN, idle since it was put back, still looks usable. What
 * arrived meanwhile is read without waiting: a notice, or the goodbye and
 * EOF of a server that shut down, which is how a pool notices it before
 * handing out a dead connection. A few rounds at most. */
static int idle_alive(PGconn *conn)
{
    struct pollfd p = {.events = POLLIN};

    for (int round = 0; round < 4; round++) {
        p.fd = PQsocket(conn);
        if (PQstatus(conn) != CONNECTION_OK || p.fd < 0)
            return 0;
        if (poll(&p, 1, 0) <= 0)
            return 1; /* nothing came: as it was left */
        if (!PQconsumeInput(conn))
            return 0;
        /* PQconsumeInput only reads: this parses (notices to the log). */
        PQisBusy(conn);
    }
    return PQstatus(conn) == CONNECTION_OK;
}

GN_API PGconn *gn_pq_pool_get(gn_pq_pool_t *pool, double timeout, char *err,
                              size_t errlen)
{
    double end = gn_green_deadline(timeout);
    PGconn *conn;
    int rc;

    assert(pool != NULL && err != NULL);
    if ((rc = gn_sem_acquire(pool->slots, timeout)) != 0) {
        gn_green_slot_wait_error(err, errlen, rc, timeout, pool->size);
        return NULL;
    }
    while (pool->nidle > 0) {
        conn = pool->idle[--pool->nidle];
        if (idle_alive(conn))
            return conn;
        PQfinish(conn);
    }
    conn = gn_pq_connect(pool->conninfo, gn_green_left(end), err, errlen);
    if (conn == NULL)
        gn_sem_release(pool->slots);
    return conn;
}

GN_API void gn_pq_pool_put(gn_pq_pool_t *pool, PGconn *conn, int broken)
{
    assert(pool != NULL && conn != NULL && pool->nidle < pool->size);
    /* Non-blocking: PQfinish sends its goodbye only if it can at once. */
    if (broken || PQstatus(conn) != CONNECTION_OK ||
        PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQfinish(conn);
    else
        pool->idle[pool->nidle++] = conn;
    gn_sem_release(pool->slots);
}

GN_API void gn_pq_pool_free(gn_pq_pool_t *pool)
{
    if (pool == NULL)
        return;
    while (pool->nidle > 0)
        PQfinish(pool->idle[--pool->nidle]);
    gn_sem_free(pool->slots);
    free(pool->idle);
    free(pool->conninfo);
    free(pool);
}
