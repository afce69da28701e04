/*
 * pgcount: runs one SQL query against PostgreSQL per request, through the
 * cooperative libpq of contrib/green (gn_pq) and a per-worker pool of
 * connections. With green_db's post_fork hook the query waits with
 * gn_wait_fd, so one worker overlaps as many queries as its pool holds;
 * without it the query blocks the worker (poll(2)), and still works.
 *
 *     [hooks]
 *     post_fork = build/contrib/hooks/green_db.so
 *
 *     [app]
 *     module = build/contrib/apps/pgcount.so
 *
 * (out of this tree: cc -shared -fPIC -o pgcount.so pgcount.c
 *    $(pkg-config --cflags --libs greenicorn-pq))
 *
 *     [app.args]
 *     conninfo = host=127.0.0.1 port=5432 dbname=postgres user=postgres
 *
 * Any request (method and path are not looked at) answers 200 text/plain
 * with the first column of the first row and a newline ("42\n"; an SQL
 * NULL is an empty line), or "ok\n" when the query returns no rows. When
 * the database cannot be reached, the query fails or the time runs out, it
 * answers 503 text/plain ("database unavailable\n", or "query failed\n"
 * for an SQL error) and logs one error line saying why:
 *
 *     pgcount: connection to server at "127.0.0.1", port 5433 failed:
 *         Connection refused; Is the server running on that host...
 *     pgcount: query failed: ERROR: division by zero (SQLSTATE 22012)
 *
 * and the worker goes on serving: a broken connection is closed, and the
 * next request connects again (PostgreSQL back up, requests succeed).
 *
 * App arguments:
 *
 *     conninfo = TEXT          required: libpq's connection string. Give
 *                              an address (host=127.0.0.1, hostaddr=) or
 *                              a socket directory: libpq resolves a host
 *                              name with a blocking getaddrinfo
 *     query = SQL              default SELECT count(*) FROM pg_stat_activity
 *     pool = N                 connections per worker, opened when first
 *                              needed (default 16, at most 10000); a
 *                              request finding all N in use waits its turn
 *     timeout = SECONDS        how long a request may wait, for a
 *                              connection and its query together
 *                              (default 5)
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <greenicorn.h>

#include <greenicorn/pq.h>

#define DEFAULT_QUERY "SELECT count(*) FROM pg_stat_activity"
#define DEFAULT_POOL 16
#define LIMIT_POOL 10000
#define DEFAULT_TIMEOUT 5.0

/* Per-worker state. */
struct pgcount {
    gn_pq_pool_t *pool;
    const char *query; /* an arg's value: lives as long as the worker */
    double timeout;
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- answers ---------------------------------------------------------- */

static int answer(gn_response_t *res, const PGresult *r)
{
    gn_response_header(res, "Content-Type", "text/plain");
    if (PQntuples(r) > 0 && PQnfields(r) > 0)
        return gn_response_printf(res, "%s\n", PQgetvalue(r, 0, 0));
    return gn_response_write(res, "ok\n", 3);
}

static int unavailable(gn_response_t *res, const char *body)
{
    gn_response_status(res, 503, NULL);
    gn_response_header(res, "Content-Type", "text/plain");
    return gn_response_write(res, body, strlen(body));
}

/* The server's error in R (or the result's status, for a COPY the app
 * cannot take), logged on one line. */
static int query_failed(gn_response_t *res, const PGresult *r)
{
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);

    if (msg != NULL)
        gn_log(GN_LOG_ERROR, "pgcount: query failed: %s: %s (SQLSTATE %s)",
               sev ? sev : "ERROR", msg, code ? code : "?");
    else
        gn_log(GN_LOG_ERROR, "pgcount: query failed: unexpected %s",
               PQresStatus(PQresultStatus(r)));
    return unavailable(res, "query failed\n");
}

static int pgcount_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    struct pgcount *pc = state;
    double end = now() + pc->timeout;
    char err[512];
    PGconn *conn;
    PGresult *r;
    ExecStatusType st;
    int rc;

    (void)req;
    conn = gn_pq_pool_get(pc->pool, pc->timeout, err, sizeof(err));
    if (conn == NULL) {
        gn_log(GN_LOG_ERROR, "pgcount: %s", err);
        return unavailable(res, "database unavailable\n");
    }
    r = gn_pq_exec(conn, pc->query, 0, NULL, end > now() ? end - now() : 0);
    if (r == NULL) {
        /* Read before the put: closing the connection frees the text. */
        gn_log(GN_LOG_ERROR, "pgcount: %s", gn_pq_error(conn));
        gn_pq_pool_put(pc->pool, conn, 1);
        return unavailable(res, "database unavailable\n");
    }
    st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK ||
        st == PGRES_EMPTY_QUERY)
        rc = answer(res, r);
    else
        rc = query_failed(res, r);
    PQclear(r);
    /* An SQL error leaves the connection good (a COPY does not: the pool
     * sees it is still busy and closes it). */
    gn_pq_pool_put(pc->pool, conn, 0);
    return rc;
}

/* ---- life cycle ------------------------------------------------------- */

static int parse_pool(const char *value, int *size)
{
    char *end;
    long n;

    if (value[0] < '0' || value[0] > '9')
        return -EINVAL;
    n = strtol(value, &end, 10);
    if (*end != '\0' || n < 1 || n > LIMIT_POOL)
        return -EINVAL;
    *size = (int)n;
    return 0;
}

static int parse_timeout(const char *value, double *timeout)
{
    char *end;
    double t = strtod(value, &end);

    if (end == value || *end != '\0' || !isfinite(t) || t <= 0)
        return -EINVAL;
    *timeout = t;
    return 0;
}

/* CONNINFO as libpq reads it, without connecting: 0, or -EINVAL logged. */
static int check_conninfo(const char *conninfo)
{
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &why);

    if (opts != NULL) {
        PQconninfoFree(opts);
        return 0;
    }
    gn_log(GN_LOG_ERROR, "pgcount: bad conninfo '%s': %s", conninfo,
           why ? strtok(why, "\n") : "out of memory");
    PQfreemem(why);
    return -EINVAL;
}

/* One NAME = VALUE into PC (CONNINFO collects conninfo): 0, or -EINVAL
 * logged. */
static int parse_arg(struct pgcount *pc, const gn_app_arg_t *arg,
                     const char **conninfo, int *size)
{
    if (strcmp(arg->name, "conninfo") == 0) {
        *conninfo = arg->value;
        return check_conninfo(arg->value);
    }
    if (strcmp(arg->name, "query") == 0) {
        pc->query = arg->value;
        return 0;
    }
    if (strcmp(arg->name, "pool") == 0) {
        if (parse_pool(arg->value, size) == 0)
            return 0;
        gn_log(GN_LOG_ERROR, "pgcount: pool '%s' is not a number from 1 to %d",
               arg->value, LIMIT_POOL);
        return -EINVAL;
    }
    if (strcmp(arg->name, "timeout") == 0) {
        if (parse_timeout(arg->value, &pc->timeout) == 0)
            return 0;
        gn_log(GN_LOG_ERROR,
               "pgcount: timeout '%s' is not a positive number "
               "of seconds",
               arg->value);
        return -EINVAL;
    }
    gn_log(GN_LOG_ERROR,
           "pgcount: unknown argument '%s' (conninfo, query, pool, timeout)",
           arg->name);
    return -EINVAL;
}

static int pgcount_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct pgcount *pc = calloc(1, sizeof(*pc));
    const char *conninfo = NULL;
    int size = DEFAULT_POOL;

    if (pc == NULL)
        return -ENOMEM;
    pc->query = DEFAULT_QUERY;
    pc->timeout = DEFAULT_TIMEOUT;
    for (size_t i = 0; i < nargs; i++)
        if (parse_arg(pc, &args[i], &conninfo, &size) != 0)
            goto fail_args;
    if (conninfo == NULL) {
        gn_log(GN_LOG_ERROR, "pgcount: the conninfo argument is required "
                             "(e.g. host=127.0.0.1 dbname=postgres)");
        goto fail_args;
    }
    /* Connections open on first use, in the requests: not here. */
    if ((pc->pool = gn_pq_pool_new(conninfo, size)) == NULL) {
        free(pc);
        return -ENOMEM;
    }
    *state = pc;
    return 0;

fail_args:
    free(pc);
    return -EINVAL;
}

static void pgcount_fini(void *state)
{
    struct pgcount *pc = state;

    gn_pq_pool_free(pc->pool);
    free(pc);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,        .name = "pgcount",
    .init = pgcount_init, .handle = pgcount_handle,
    .fini = pgcount_fini,
};
