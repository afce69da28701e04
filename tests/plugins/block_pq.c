/*
 * block_pq: one request, one query through libpq's ordinary synchronous
 * API (PQconnectdb, PQexec), unmodified -- not contrib/green's gn_pq: the
 * patch_all matrix's libpq row (tests/e2e/test_patch_matrix.py). With
 * patch_all on, libpq's connect, poll, send and recv park the request;
 * off, they block the worker for as long as the query runs.
 *
 *     [app:pq]
 *     module = build/tests/plugins/block_pq.so
 *     mount = /pq
 *
 *     [app:pq.args]
 *     conninfo = host=127.0.0.1 port=5432 user=postgres dbname=postgres
 *     query = SELECT pg_sleep(0.1)     (the default)
 *
 * Each request answers 200 text/plain "rows N\n" with the first row's
 * first column after it when there is one; 503 with libpq's error when the
 * server cannot be reached or the query failed (a connection that is no
 * longer good is then closed, not reused).
 */
#include <errno.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "block.h"

struct block_pq {
    const char *conninfo, *query;
    struct block_pool pool;
};

static void close_conn(void *conn)
{
    PQfinish(conn);
}

/* An idle connection, or a new one; NULL with the reason logged and
 * answered. */
static PGconn *get_conn(struct block_pq *bp, gn_response_t *res)
{
    PGconn *conn = block_pool_take(&bp->pool);

    if (conn != NULL)
        return conn;
    conn = PQconnectdb(bp->conninfo);
    if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
        return conn;
    block_fail(res, 503, "block_pq", "connect: %s",
               conn ? PQerrorMessage(conn) : "out of memory");
    PQfinish(conn);
    return NULL;
}

static int answer(gn_response_t *res, const PGresult *r)
{
    gn_response_header(res, "Content-Type", "text/plain");
    if (PQntuples(r) > 0 && PQnfields(r) > 0)
        return gn_response_printf(res, "rows %d %s\n", PQntuples(r),
                                  PQgetvalue(r, 0, 0));
    return gn_response_printf(res, "rows %d\n", PQntuples(r));
}

static int pq_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    struct block_pq *bp = state;
    PGconn *conn;
    PGresult *r;
    int rc;

    (void)req;
    if ((conn = get_conn(bp, res)) == NULL)
        return 0;
    r = PQexec(conn, bp->query);
    if (r != NULL && (PQresultStatus(r) == PGRES_TUPLES_OK ||
                      PQresultStatus(r) == PGRES_COMMAND_OK))
        rc = answer(res, r);
    else
        rc =
            block_fail(res, 503, "block_pq", "query: %s", PQerrorMessage(conn));
    PQclear(r);
    if (PQstatus(conn) == CONNECTION_OK &&
        PQtransactionStatus(conn) == PQTRANS_IDLE)
        block_pool_give(&bp->pool, conn);
    else
        PQfinish(conn);
    return rc;
}

static int pq_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct block_pq *bp = calloc(1, sizeof(*bp));

    if (bp == NULL)
        return -ENOMEM;
    bp->conninfo = block_arg(args, nargs, "conninfo", NULL);
    if (bp->conninfo == NULL) {
        gn_log(GN_LOG_ERROR, "block_pq: the conninfo argument is required");
        free(bp);
        return -EINVAL;
    }
    bp->query = block_arg(args, nargs, "query", "SELECT pg_sleep(0.1)");
    bp->pool.close = close_conn;
    *state = bp;
    return 0;
}

static void pq_fini(void *state)
{
    struct block_pq *bp = state;

    block_pool_drain(&bp->pool);
    free(bp);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,
    .name = "block_pq",
    .init = pq_init,
    .handle = pq_handle,
    .fini = pq_fini,
};
