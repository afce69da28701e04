/*
 * block_mariadb: an app on libmariadb's ORDINARY BLOCKING API, unmodified
 * -- mysql_init, mysql_real_connect, mysql_query, mysql_store_result,
 * mysql_close -- for the patch_all matrix (issue #14). Nothing here knows
 * greenicorn's green API: with patching off each request blocks its
 * worker for as long as the server takes (the blocked-loop warning names
 * it); with patch_all on the same calls park only the request.
 *
 * Each request opens its own connection (no pool: the blocking API's
 * plainest use; with pool = yes the worker keeps the idle ones on
 * block.h's stack instead, so that a burst of requests measures the
 * queries rather than the connects), runs the query and answers 200
 * text/plain with the first column of the first row and a newline ("0\n"
 * for SELECT SLEEP(0.1); an SQL NULL is an empty line; "ok\n" without rows
 * or result set), or 503 and one log line with libmariadb's error.
 *
 * App arguments (all optional):
 *
 *     host = ADDRESS     default 127.0.0.1
 *     port = N           default 3306
 *     socket = PATH      a unix socket instead of TCP (host localhost)
 *     user, password, database
 *     query = SQL        default SELECT SLEEP(0.1)
 *     pool = yes         keep connections for the next requests (no)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <greenicorn.h>
#include <mysql.h>

#include "block.h"

struct block_mariadb {
    const char *host, *socket, *user, *password, *database, *query;
    unsigned port;
    int keep;               /* pool = yes */
    struct block_pool pool; /* the idle connections, with keep */
};

static void close_conn(void *my)
{
    mysql_close(my);
}

static int failed(gn_response_t *res, MYSQL *my, const char *what)
{
    gn_log(GN_LOG_ERROR, "block_mariadb: %s: %s (%u)", what, mysql_error(my),
           mysql_errno(my));
    gn_response_status(res, 503, NULL);
    gn_response_header(res, "Content-Type", "text/plain");
    return gn_response_write(res, "database unavailable\n", 21);
}

/* The first value of the result the query left on MY, as the answer. */
static int answer(gn_response_t *res, MYSQL *my)
{
    MYSQL_RES *r = mysql_store_result(my);
    MYSQL_ROW row;
    int rc;

    if (r == NULL && mysql_field_count(my) > 0)
        return failed(res, my, "store result");
    gn_response_header(res, "Content-Type", "text/plain");
    if (r != NULL && mysql_num_fields(r) > 0 &&
        (row = mysql_fetch_row(r)) != NULL)
        rc = gn_response_printf(res, "%s\n", row[0] ? row[0] : "");
    else
        rc = gn_response_write(res, "ok\n", 3);
    mysql_free_result(r);
    return rc;
}

static int handle(gn_request_t *req, gn_response_t *res, void *state)
{
    struct block_mariadb *b = state;
    MYSQL *my = block_pool_take(&b->pool);
    int rc;

    (void)req;
    if (my == NULL) {
        if ((my = mysql_init(NULL)) == NULL)
            return -ENOMEM;
        if (mysql_real_connect(my, b->host, b->user, b->password, b->database,
                               b->port, b->socket, 0) == NULL) {
            rc = failed(res, my, "connect");
            mysql_close(my);
            return rc;
        }
    }
    if (mysql_query(my, b->query) != 0) {
        rc = failed(res, my, "query");
        mysql_close(my); /* it may be broken: not kept */
        return rc;
    }
    rc = answer(res, my);
    if (b->keep)
        block_pool_give(&b->pool, my);
    else
        mysql_close(my);
    return rc;
}

/* ARG into B: 0, or -EINVAL logged. */
static int parse_arg(struct block_mariadb *b, const gn_app_arg_t *arg)
{
    static const char *names[] = {"host",     "socket",   "user",
                                  "password", "database", "query"};
    const char **slots[] = {&b->host,     &b->socket,   &b->user,
                            &b->password, &b->database, &b->query};
    char *end;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(arg->name, names[i]) == 0) {
            *slots[i] = arg->value;
            return 0;
        }
    }
    if (strcmp(arg->name, "pool") == 0 &&
        (strcmp(arg->value, "yes") == 0 || strcmp(arg->value, "no") == 0)) {
        b->keep = strcmp(arg->value, "yes") == 0;
        return 0;
    }
    if (strcmp(arg->name, "port") == 0) {
        unsigned long port = strtoul(arg->value, &end, 10);

        if (*end == '\0' && port > 0 && port < 65536) {
            b->port = (unsigned)port;
            return 0;
        }
    }
    gn_log(GN_LOG_ERROR, "block_mariadb: bad argument %s = %s", arg->name,
           arg->value);
    return -EINVAL;
}

static int init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct block_mariadb *b = calloc(1, sizeof(*b));

    if (b == NULL)
        return -ENOMEM;
    b->host = "127.0.0.1";
    b->port = 3306;
    b->query = "SELECT SLEEP(0.1)";
    b->pool.close = close_conn;
    for (size_t i = 0; i < nargs; i++) {
        if (parse_arg(b, &args[i]) != 0) {
            free(b);
            return -EINVAL;
        }
    }
    *state = b;
    return 0;
}

/* The worker is done with libmariadb: free its library-wide state (the
 * first mysql_init's), which dlclose would otherwise leave allocated. */
static void fini(void *state)
{
    struct block_mariadb *b = state;

    block_pool_drain(&b->pool);
    free(b);
    mysql_library_end();
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER, .name = "block_mariadb", .init = init, .handle = handle,
    .fini = fini,
};
