/*
 * mycount: runs one SQL statement against MariaDB (or MySQL) per request,
 * through the cooperative libmariadb of contrib/green (gn_maria) and a
 * per-worker pool of connections -- pgcount's twin. With green_db's
 * post_fork hook the statement waits with gn_wait_fd, so one worker
 * overlaps as many as its pool holds; without it the statement blocks the
 * worker (poll(2)), and still works.
 *
 *     [hooks]
 *     post_fork = build/contrib/hooks/green_db.so
 *
 *     [app]
 *     module = build/contrib/apps/mycount.so
 *
 * (out of this tree: cc -shared -fPIC -o mycount.so mycount.c
 *    $(pkg-config --cflags --libs greenicorn-maria))
 *
 *     [app.args]
 *     host = 127.0.0.1
 *     port = 3306
 *     user = counter
 *     database = test
 *     query = UPDATE counter SET n = LAST_INSERT_ID(n + 1)
 *
 * Any request answers 200 text/plain with: the first column of the first
 * row and a newline ("42\n"; an SQL NULL is an empty line), "ok\n" when
 * the result has no rows; for a statement without a result set (INSERT,
 * UPDATE), its LAST_INSERT_ID() when it set one -- the new row's id, or
 * the counter above, atomically incremented -- else "ok\n". When the
 * database cannot be reached, the statement fails or the time runs out, it
 * answers 503 text/plain ("database unavailable\n", or "query failed\n"
 * for an SQL error) and logs one error line saying why:
 *
 *     mycount: connection to MariaDB at 127.0.0.1:3307: Can't connect to
 *         server on '127.0.0.1' (111) (2002)
 *     mycount: query failed: ERROR 1146 (42S02): Table 'test.t' doesn't
 *         exist
 *
 * and the worker goes on serving: a broken connection is closed, and the
 * next request connects again (the server back up, requests succeed).
 *
 * App arguments:
 *
 *     host = ADDRESS           default 127.0.0.1 (an address: libmariadb
 *                              resolves a name with a blocking
 *                              getaddrinfo); "localhost" with socket
 *     port = N                 default 3306
 *     socket = PATH            a unix socket instead of TCP
 *     user, password, database the account and default database
 *     query = SQL              default SELECT COUNT(*) FROM
 *                              information_schema.PROCESSLIST
 *     path_param = on          pass the request's path (below the mount,
 *                              decoded) as the query's one `?`, quoted
 *                              and escaped (default off)
 *     pool = N                 connections per worker, opened when first
 *                              needed (default 16, at most 10000)
 *     timeout = SECONDS        how long a request may wait, for a
 *                              connection and its statement together
 *                              (default 5)
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <greenicorn.h>

#include <greenicorn/maria.h>

#define DEFAULT_QUERY "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
#define DEFAULT_POOL 16
#define LIMIT_POOL 10000
#define DEFAULT_TIMEOUT 5.0

/* Per-worker state. */
struct mycount {
    gn_maria_pool_t *pool;
    const char *query; /* an arg's value: lives as long as the worker */
    int path_param;
    double timeout;
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- answers ---------------------------------------------------------- */

/* The first value of RES, or (no result set) what the statement did. */
static int answer(gn_response_t *res, MYSQL *my, MYSQL_RES *r)
{
    MYSQL_ROW row;
    unsigned long long id;

    gn_response_header(res, "Content-Type", "text/plain");
    if (r == NULL) {
        if ((id = mysql_insert_id(my)) != 0)
            return gn_response_printf(res, "%llu\n", id);
        return gn_response_write(res, "ok\n", 3);
    }
    if (mysql_num_fields(r) > 0 && (row = mysql_fetch_row(r)) != NULL)
        return gn_response_printf(res, "%s\n", row[0] ? row[0] : "");
    return gn_response_write(res, "ok\n", 3);
}

static int unavailable(gn_response_t *res, const char *body)
{
    gn_response_status(res, 503, NULL);
    gn_response_header(res, "Content-Type", "text/plain");
    return gn_response_write(res, body, strlen(body));
}

static int mycount_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    struct mycount *mc = state;
    double end = now() + mc->timeout;
    const char *path = gn_request_path_info(req);
    MYSQL_RES *r;
    gn_maria_t *c;
    char err[512];
    int rc;

    c = gn_maria_pool_get(mc->pool, mc->timeout, err, sizeof(err));
    if (c == NULL) {
        gn_log(GN_LOG_ERROR, "mycount: %s", err);
        return unavailable(res, "database unavailable\n");
    }
    rc = gn_maria_exec(c, mc->query, mc->path_param, &path, &r,
                       end > now() ? end - now() : 0);
    if (rc < 0) {
        /* Read before the put: closing the connection frees the text. */
        gn_log(GN_LOG_ERROR, "mycount: %s", gn_maria_error(c));
        gn_maria_pool_put(mc->pool, c, 1);
        return unavailable(res, "database unavailable\n");
    }
    if (rc > 0) {
        /* The server's answer: the connection stays good. */
        gn_log(GN_LOG_ERROR, "mycount: query failed: %s", gn_maria_error(c));
        gn_maria_pool_put(mc->pool, c, 0);
        return unavailable(res, "query failed\n");
    }
    rc = answer(res, gn_maria_mysql(c), r);
    mysql_free_result(r);
    gn_maria_pool_put(mc->pool, c, 0);
    return rc;
}

/* ---- life cycle ------------------------------------------------------- */

/* VALUE as a whole number from LO to HI: 0, or -EINVAL. */
static int parse_int(const char *value, long lo, long hi, long *n)
{
    char *end;

    if (value[0] < '0' || value[0] > '9')
        return -EINVAL;
    *n = strtol(value, &end, 10);
    return *end == '\0' && *n >= lo && *n <= hi ? 0 : -EINVAL;
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

/* The connection's arguments into P: 1 when NAME is one of them. */
static int connection_arg(gn_maria_params_t *p, const gn_app_arg_t *arg)
{
    static const struct {
        const char *name;
        size_t offset;
    } strings[] = {
        {"host", offsetof(gn_maria_params_t, host)},
        {"socket", offsetof(gn_maria_params_t, unix_socket)},
        {"user", offsetof(gn_maria_params_t, user)},
        {"password", offsetof(gn_maria_params_t, password)},
        {"database", offsetof(gn_maria_params_t, database)},
    };

    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        if (strcmp(arg->name, strings[i].name) == 0) {
            *(const char **)((char *)p + strings[i].offset) = arg->value;
            return 1;
        }
    }
    return 0;
}

/* One NAME = VALUE into MC, P and SIZE: 0, or -EINVAL logged. */
static int parse_arg(struct mycount *mc, const gn_app_arg_t *arg,
                     gn_maria_params_t *p, int *size)
{
    long n;

    if (connection_arg(p, arg))
        return 0;
    if (strcmp(arg->name, "query") == 0) {
        mc->query = arg->value;
        return 0;
    }
    if (strcmp(arg->name, "port") == 0 &&
        parse_int(arg->value, 1, 65535, &n) == 0) {
        p->port = (unsigned)n;
        return 0;
    }
    if (strcmp(arg->name, "pool") == 0 &&
        parse_int(arg->value, 1, LIMIT_POOL, &n) == 0) {
        *size = (int)n;
        return 0;
    }
    if (strcmp(arg->name, "timeout") == 0 &&
        parse_timeout(arg->value, &mc->timeout) == 0)
        return 0;
    if (strcmp(arg->name, "path_param") == 0 &&
        (strcmp(arg->value, "on") == 0 || strcmp(arg->value, "off") == 0)) {
        mc->path_param = strcmp(arg->value, "on") == 0;
        return 0;
    }
    if (strcmp(arg->name, "port") == 0 || strcmp(arg->name, "pool") == 0 ||
        strcmp(arg->name, "timeout") == 0 ||
        strcmp(arg->name, "path_param") == 0)
        gn_log(GN_LOG_ERROR,
               "mycount: bad %s '%s' (port: 1 to 65535, "
               "pool: 1 to %d, timeout: seconds > 0, "
               "path_param: on or off)",
               arg->name, arg->value, LIMIT_POOL);
    else
        gn_log(GN_LOG_ERROR,
               "mycount: unknown argument '%s' (host, port, socket, user, "
               "password, database, query, path_param, pool, timeout)",
               arg->name);
    return -EINVAL;
}

static int mycount_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct mycount *mc = calloc(1, sizeof(*mc));
    gn_maria_params_t p = {.host = "127.0.0.1"};
    int size = DEFAULT_POOL;

    if (mc == NULL)
        return -ENOMEM;
    mc->query = DEFAULT_QUERY;
    mc->timeout = DEFAULT_TIMEOUT;
    for (size_t i = 0; i < nargs; i++) {
        if (parse_arg(mc, &args[i], &p, &size) != 0) {
            free(mc);
            return -EINVAL;
        }
    }
    /* Connections open on first use, in the requests: not here. */
    if ((mc->pool = gn_maria_pool_new(&p, size)) == NULL) {
        free(mc);
        return -ENOMEM;
    }
    *state = mc;
    return 0;
}

static void mycount_fini(void *state)
{
    struct mycount *mc = state;

    gn_maria_pool_free(mc->pool);
    free(mc);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,        .name = "mycount",
    .init = mycount_init, .handle = mycount_handle,
    .fini = mycount_fini,
};
