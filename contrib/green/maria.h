/*
 * gn_maria: MariaDB / MySQL through libmariadb, cooperative. Connections
 * and queries go through libmariadb's non-blocking API
 * (mysql_real_connect_start/_cont, mysql_real_query_start/_cont,
 * mysql_store_result_start/_cont, mysql_close_start/_cont); whenever the
 * socket would block, the installed wait function waits (poll(2), or
 * gn_wait_fd once green_db's post_fork hook ran). A small per-worker pool
 * hands connections to requests.
 *
 * Why that API and not libmariadb's MARIADB_OPT_IO_WAIT hook: the hook is
 * handed only a socket, a direction and libmariadb's own timeout, not the
 * connection nor the call, so one deadline for a whole call and our own
 * messages (a timeout, a cancel) would need a table on the side; and it
 * would park the green thread from deep inside libmariadb. With _start and
 * _cont every wait happens here, between two steps libmariadb documents,
 * with the connection at hand. (libmariadb runs each step on a small stack
 * of its own; nothing of ours runs there.)
 *
 * libmariadb resolves a host NAME with a blocking getaddrinfo: give an
 * address (127.0.0.1) or a unix socket to keep connecting cooperative.
 *
 * Timeouts are in seconds (fractions allowed; negative: no limit) and bound
 * the whole call, however many waits it takes. Every call below may yield
 * (through the wait function) unless it says otherwise.
 *
 * Link: dependency gn_maria_dep in this tree; installed as
 * LIBDIR/greenicorn/green/libgn_maria.so with <greenicorn/maria.h>.
 * Since ABI 1.5 (the whole header).
 */
#ifndef GN_GREEN_MARIA_H
#define GN_GREEN_MARIA_H

#include <mysql.h>
#include <stddef.h>

#include "wait.h"

/* Where to connect and as whom. The strings are borrowed for the call
 * (gn_maria_pool_new copies them). */
typedef struct gn_maria_params {
    const char *host;        /* an address; NULL: "localhost" */
    unsigned port;           /* 0: 3306 */
    const char *unix_socket; /* a socket path (with host NULL or
                                "localhost"): no TCP */
    const char *user;        /* NULL: none (the server may refuse) */
    const char *password;    /* NULL: none */
    const char *database;    /* NULL: no default database */
} gn_maria_params_t;

/* A connection: libmariadb's MYSQL with what this library keeps beside it
 * (the error line, whether a call broke it). */
typedef struct gn_maria gn_maria_t;

/* Wait with WAIT from now on (NULL: poll(2) again). Since ABI 1.5. Does
 * not yield. */
void gn_maria_set_wait(gn_green_wait_fn wait);

/* Connect with PARAMS within TIMEOUT seconds (utf8mb4; LOAD DATA LOCAL
 * off). A connection (gn_maria_close it) or NULL with ERR (ERRLEN bytes,
 * one line) saying why: libmariadb's message and number, or that the time
 * ran out or the wait was cancelled. Since ABI 1.5. */
gn_maria_t *gn_maria_connect(const gn_maria_params_t *params, double timeout,
                             char *err, size_t errlen);

/*
 * Run one SQL statement within TIMEOUT seconds. With NPARAMS > 0, each
 * `?` outside quotes, backquotes and comments in SQL is replaced by the
 * next of the NPARAMS text PARAMS, quoted and escaped for the connection
 * (mysql_real_escape_string; a NULL param is SQL NULL) -- what PyMySQL
 * does. With NPARAMS 0, SQL is sent as it is.
 *
 * 0: done, and *RES is its result set (mysql_free_result it; its rows are
 * all here, mysql_fetch_row does not wait), or NULL for a statement
 * without one (mysql_affected_rows(gn_maria_mysql(C)) says what it did).
 * Further results (a CALL's) are read and dropped.
 *
 * > 0: the server's error number (an SQL error, e.g. 1146 for a missing
 * table): the connection stays good. gn_maria_error says which, as
 * "ERROR 1146 (42S02): Table 'x.t' doesn't exist".
 *
 * < 0: the connection is unusable -- -ETIMEDOUT, -ECANCELED, -EIO (lost:
 * the server went away, or libmariadb failed), -EINVAL (the number of `?`
 * is not NPARAMS; this one leaves the connection good), -ENOMEM.
 * gn_maria_error says why. Drop it: gn_maria_close, or gn_maria_pool_put
 * with BROKEN. A timed-out query may still run on the server (killing it
 * would take a second connection): the server ends it when it notices the
 * client is gone, or when it is done.
 * Since ABI 1.5.
 */
int gn_maria_exec(gn_maria_t *c, const char *sql, int nparams,
                  const char *const *params, MYSQL_RES **res, double timeout);

/* Why the last gn_maria_exec on C failed, as one line. Valid until the
 * next call on C (so read it before gn_maria_pool_put). Since ABI 1.5.
 * Does not yield. */
const char *gn_maria_error(gn_maria_t *c);

/* C's MYSQL, for what does not talk to the server: mysql_affected_rows,
 * mysql_insert_id, mysql_real_escape_string, mysql_get_server_info...
 * libmariadb's blocking calls (mysql_query...) would block the worker.
 * Since ABI 1.5. Does not yield. */
MYSQL *gn_maria_mysql(gn_maria_t *c);

/* Close C and free it: a goodbye to the server if it can be sent at once,
 * never a wait. Since ABI 1.5. Does not yield. */
void gn_maria_close(gn_maria_t *c);

/* A pool of at most SIZE connections with PARAMS (copied), for one worker;
 * they are opened when first needed, not here. NULL when out of memory or
 * SIZE is not positive. Free it with gn_maria_pool_free. Since ABI 1.5.
 * Does not yield. */
typedef struct gn_maria_pool gn_maria_pool_t;
gn_maria_pool_t *gn_maria_pool_new(const gn_maria_params_t *params, int size);

/*
 * A connection: an idle one (the most recently put back, if the server
 * has not closed it meanwhile), a new one, or (all SIZE in use) the next
 * one put back, waiting in turn on a gn_sem_t -- all within TIMEOUT
 * seconds. NULL with ERR (ERRLEN bytes, one line) when none could be had:
 * the connection failed (the server down: "Can't connect..."), the time
 * ran out, or the wait was cancelled. Outside a green thread (in init),
 * where a semaphore cannot wait, NULL at once when all SIZE are in use.
 * The connection is the caller's until gn_maria_pool_put, on every path.
 * Since ABI 1.5.
 */
gn_maria_t *gn_maria_pool_get(gn_maria_pool_t *pool, double timeout, char *err,
                              size_t errlen);

/* Give C back; BROKEN (gn_maria_exec returned < 0) closes it instead, and
 * so does a connection a call broke or one left inside a transaction.
 * Either way its slot is free again, and the next get opens a new
 * connection if it needs one: how a worker recovers once the server is
 * back. Since ABI 1.5. Does not yield. */
void gn_maria_pool_put(gn_maria_pool_t *pool, gn_maria_t *c, int broken);

/* Close the idle connections and free POOL. Every connection must have
 * been put back, and no green thread may be waiting in gn_maria_pool_get.
 * Since ABI 1.5. Does not yield. */
void gn_maria_pool_free(gn_maria_pool_t *pool);

#endif /* GN_GREEN_MARIA_H */
