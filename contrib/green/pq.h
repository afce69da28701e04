/*
 * gn_pq: libpq, cooperative. Connections and queries go through libpq's
 * non-blocking API (PQconnectStart/PQconnectPoll, PQsendQuery,
 * PQconsumeInput, PQisBusy); whenever the socket would block, the
 * installed wait function waits (poll(2), or gn_wait_fd once green_db's
 * post_fork hook ran) -- what psycopg's wait callback does under gevent.
 * A small per-worker pool hands connections to requests.
 *
 * libpq resolves a host NAME with a blocking getaddrinfo; give hostaddr=
 * (or host=127.0.0.1, or a unix socket directory) to keep connecting
 * cooperative.
 *
 * Timeouts are in seconds (fractions allowed; negative: no limit) and
 * bound the whole call, however many waits it takes. Every call below may
 * yield (through the wait function) unless it says otherwise.
 *
 * The connections these calls make are non-blocking (PQsetnonblocking):
 * PQfinish on them never waits. Notices the server sends (WARNING,
 * NOTICE...) go to the server's log with gn_log instead of to stderr.
 *
 * Link: dependency gn_pq_dep in this tree; installed as
 * LIBDIR/greenicorn/green/libgn_pq.so with <greenicorn/pq.h>.
 */
#ifndef GN_GREEN_PQ_H
#define GN_GREEN_PQ_H

#include <libpq-fe.h>
#include <stddef.h>

#include "wait.h"

/* Wait with WAIT from now on (NULL: poll(2) again). Does not yield. */
void gn_pq_set_wait(gn_green_wait_fn wait);

/* Connect with CONNINFO within TIMEOUT seconds. A connection (PQfinish it)
 * or NULL with ERR (ERRLEN bytes, one line) saying why: libpq's message,
 * or that the time ran out or the wait was cancelled (-ECANCELED). */
PGconn *gn_pq_connect(const char *conninfo, double timeout, char *err,
                      size_t errlen);

/*
 * Run SQL (with NPARAMS text PARAMS, $1...; NPARAMS 0 for none, and then
 * SQL may hold several statements) within TIMEOUT seconds: the last
 * result (PQclear it; check PQresultStatus: an SQL error is a result, the
 * server's answer, and the connection stays good), or NULL when the
 * connection failed, the time ran out or the wait was cancelled
 * (gn_pq_error says which). After NULL the connection is unusable -- a
 * timed-out query may still be running on the server, and its answer
 * would arrive later -- so drop it: PQfinish, or gn_pq_pool_put with
 * BROKEN. (PQcancel would block the worker while it connects, so it is
 * not sent: the server finishes the query, or gives up when it notices
 * the client is gone.) COPY is not supported: a COPY result is returned
 * as is, with the connection in the middle of the copy (drop it).
 */
PGresult *gn_pq_exec(PGconn *conn, const char *sql, int nparams,
                     const char *const *params, double timeout);

/* Why the last gn_pq_exec on CONN returned NULL, as one line: that the
 * time ran out or the wait was cancelled, else libpq's PQerrorMessage.
 * Valid until the next call on CONN or PQfinish (so read it before
 * gn_pq_pool_put). Does not yield. */
const char *gn_pq_error(PGconn *conn);

/* A pool of at most SIZE connections with CONNINFO, for one worker; they
 * are opened when first needed, not here. NULL when out of memory or SIZE
 * is not positive. Free it with gn_pq_pool_free. Does not yield. */
typedef struct gn_pq_pool gn_pq_pool_t;
gn_pq_pool_t *gn_pq_pool_new(const char *conninfo, int size);

/*
 * A connection: an idle one (the most recently put back, if the server
 * has not closed it meanwhile), a new one, or (all SIZE in use) the next
 * one put back, waiting in turn on a gn_sem_t -- all within TIMEOUT
 * seconds. NULL with ERR (ERRLEN bytes, one line) when none could be had:
 * the connection failed (the server down: "connection refused"), the time
 * ran out, or the wait was cancelled. Outside a green thread (in init),
 * where a semaphore cannot wait, NULL at once when all SIZE are in use.
 * The connection is the caller's until gn_pq_pool_put, on every path.
 */
PGconn *gn_pq_pool_get(gn_pq_pool_t *pool, double timeout, char *err,
                       size_t errlen);

/* Give CONN back; BROKEN (gn_pq_exec returned NULL) closes it instead,
 * and so does a connection that is no longer CONNECTION_OK or was left
 * inside a transaction. Either way its slot is free again, and the next
 * get opens a new connection if it needs one: how a worker recovers once
 * PostgreSQL is back. Does not yield. */
void gn_pq_pool_put(gn_pq_pool_t *pool, PGconn *conn, int broken);

/* Close the idle connections and free POOL. Every connection must have
 * been put back, and no green thread may be waiting in gn_pq_pool_get.
 * Does not yield. */
void gn_pq_pool_free(gn_pq_pool_t *pool);

#endif /* GN_GREEN_PQ_H */
