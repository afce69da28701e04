/*
 * gn_maria: libmariadb driven through its non-blocking API (maria.h says
 * why that one), waiting with the installed wait function (poll(2) until
 * green_db's post_fork hook installs gn_wait_fd), and a per-worker pool of
 * such connections. A call keeps one deadline across all its waits, so
 * TIMEOUT bounds the whole call.
 *
 * A step libmariadb started must be finished before anything else is done
 * with its connection (it is suspended on libmariadb's own stack). When we
 * give up on one (a timeout, a cancel), its socket is replaced by a dead
 * one, so that libmariadb fails the step at once on its next read or
 * write, unwinds, and the connection can be closed like any other.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <errmsg.h>
#include <greenicorn.h>

#include "deadline.h"
#include "message.h"
#include "maria.h"

#define ERR_LEN 512   /* room for gn_maria_error's line */
#define WHERE_LEN 200 /* room for "MariaDB at ..." */
#define END_ROUNDS 64 /* steps a dead socket may take to unwind a call */

struct gn_maria {
    MYSQL *my;
    int broken;            /* a call was abandoned or lost the server */
    char where[WHERE_LEN]; /* the server, for messages */
    char err[ERR_LEN];
};

/* ---- waiting ---------------------------------------------------------- */

static gn_green_wait_fn wait_fn = gn_green_poll_wait;

GN_API void gn_maria_set_wait(gn_green_wait_fn wait)
{
    wait_fn = wait != NULL ? wait : gn_green_poll_wait;
}

/* The step in flight, and where its _cont puts its result. */
enum step { STEP_CONNECT, STEP_QUERY, STEP_STORE, STEP_NEXT, STEP_CLOSE };

union step_out {
    MYSQL *conn;    /* STEP_CONNECT */
    int rc;         /* STEP_QUERY, STEP_NEXT */
    MYSQL_RES *res; /* STEP_STORE */
};

/* Go on with STEP, READY saying what happened (MYSQL_WAIT_*): what it
 * waits for next, 0 when it is done. */
static int step_cont(MYSQL *my, enum step step, int ready, union step_out *out)
{
    switch (step) {
    case STEP_CONNECT: return mysql_real_connect_cont(&out->conn, my, ready);
    case STEP_QUERY: return mysql_real_query_cont(&out->rc, my, ready);
    case STEP_STORE: return mysql_store_result_cont(&out->res, my, ready);
    case STEP_NEXT: return mysql_next_result_cont(&out->rc, my, ready);
    case STEP_CLOSE: return mysql_close_cont(my, ready);
    }
    abort();
}

/* Make MY's socket a dead one (the far end of a socketpair already
 * closed), in place: reads see EOF, writes EPIPE, and a connect in
 * progress looks done and then reads EOF. dup2 keeps the number, so
 * libmariadb still owns what it will close, and no other fd is touched. */
static void kill_socket(MYSQL *my)
{
    int fd = (int)mysql_get_socket(my), pair[2];

    if (fd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair))
        return;
    close(pair[1]);
    dup2(pair[0], fd);
    close(pair[0]);
}

/* Finish STEP (waiting for STATUS) without waiting: its socket killed
 * (unless KILL is 0: the socket is no longer open, and every read or
 * write already fails), each round tells libmariadb that what it waits for
 * has come, and it fails. 0, or -EIO if it would not end (the connection
 * is then leaked rather than freed under a suspended step). */
static int end_step(MYSQL *my, enum step step, int status, union step_out *out,
                    int kill)
{
    if (kill)
        kill_socket(my);
    for (int round = 0; status != 0 && round < END_ROUNDS; round++)
        status = step_cont(my, step, status, out);
    return status == 0 ? 0 : -EIO;
}

/* What to wait for when libmariadb says STATUS, until END: the wait's
 * EVENTS and TIMEOUT, and whether that timeout is libmariadb's own
 * (MYSQL_WAIT_TIMEOUT, from a connect_timeout...) rather than the call's. */
static int plan_wait(MYSQL *my, int status, double end, int *events,
                     double *timeout)
{
    double left = gn_green_left(end), lib;

    *events = 0;
    if (status & (MYSQL_WAIT_READ | MYSQL_WAIT_EXCEPT))
        *events |= GN_WAIT_READ;
    if (status & MYSQL_WAIT_WRITE)
        *events |= GN_WAIT_WRITE;
    /* A timer alone (libmariadb asks for none today): the socket's
     * readability stands in, and may end the timer early. */
    if (*events == 0)
        *events = GN_WAIT_READ;
    *timeout = left;
    if (!(status & MYSQL_WAIT_TIMEOUT))
        return 0;
    lib = mysql_get_timeout_value_ms(my) / 1000.0;
    if (left >= 0 && left < lib)
        return 0;
    *timeout = lib;
    return 1;
}

/* Drive STEP, started with STATUS, to its end or END: 0 (OUT holds its
 * result), or the wait's negative errno after the step was ended. */
static int drive(MYSQL *my, enum step step, int status, union step_out *out,
                 double end)
{
    int events, lib_timer, ready;
    double timeout;

    while (status != 0) {
        lib_timer = plan_wait(my, status, end, &events, &timeout);
        ready = wait_fn((int)mysql_get_socket(my), events, timeout);
        if (ready == -ETIMEDOUT && lib_timer) {
            status = step_cont(my, step, MYSQL_WAIT_TIMEOUT, out);
            continue;
        }
        if (ready < 0) {
            /* EBADF: the number may be someone else's by now. */
            end_step(my, step, status, out, ready != -EBADF);
            return ready;
        }
        ready = ((ready & GN_WAIT_READ) ? MYSQL_WAIT_READ : 0) |
                ((ready & GN_WAIT_WRITE) ? MYSQL_WAIT_WRITE : 0);
        status =
            step_cont(my, step, ready & status ? ready & status : status, out);
    }
    return 0;
}

/* ---- messages --------------------------------------------------------- */

static void describe_server(const gn_maria_params_t *p, char *buf, size_t len)
{
    const char *host = p->host != NULL ? p->host : "localhost";

    if (p->unix_socket != NULL && strcmp(host, "localhost") == 0)
        snprintf(buf, len, "MariaDB at %s", p->unix_socket);
    else
        snprintf(buf, len, "MariaDB at %s:%u", host,
                 p->port != 0 ? p->port : 3306);
}

/* What a failed wait (RC) while doing WHAT means, in BUF. */
static void describe_wait(char *buf, size_t len, int rc, const char *what,
                          const char *where, double timeout)
{
    if (rc == -ETIMEDOUT)
        snprintf(buf, len, "%s %s timed out after %.3g s", what, where,
                 timeout);
    else if (rc == -ECANCELED)
        snprintf(buf, len, "%s %s was cancelled", what, where);
    else
        snprintf(buf, len, "%s %s failed: %s", what, where, strerror(-rc));
}

/* libmariadb's last error on C, after WHAT, as one line in C->err:
 * "WHAT WHERE: MESSAGE (NUMBER)". */
static void describe_mysql(struct gn_maria *c, const char *what)
{
    char number[16];
    size_t n, room;

    snprintf(number, sizeof(number), " (%u)", mysql_errno(c->my));
    snprintf(c->err, sizeof(c->err), "%s %s: ", what, c->where);
    n = strlen(c->err);
    room = sizeof(c->err) - n;
    gn_green_one_line(c->err + n, room > strlen(number) ? room - strlen(number) : 1,
             mysql_error(c->my));
    strcat(c->err, number);
}

/* Whether the error NUMBER leaves the connection unusable: the client's
 * own (CR_*: lost, out of sync...), or the server ending the session. */
static int fatal_error(unsigned number)
{
    return (number >= CR_MIN_ERROR && number <= CR_MAX_ERROR) ||
           number == 1053 /* ER_SERVER_SHUTDOWN */ ||
           number == 1927 /* ER_CONNECTION_KILLED */;
}

/* ---- connecting and closing ------------------------------------------- */

GN_API void gn_maria_close(gn_maria_t *c)
{
    union step_out out;
    int status;

    if (c == NULL)
        return;
    /* COM_QUIT goes if the socket takes it now; else the socket dies and
     * the close ends without it (the server notices the EOF). */
    status = mysql_close_start(c->my);
    if (status != 0 && end_step(c->my, STEP_CLOSE, status, &out, 1) != 0)
        gn_log(GN_LOG_WARNING,
               "gn_maria: closing the connection to %s "
               "would not end: leaked",
               c->where);
    free(c);
}

/* A MYSQL set for the non-blocking API: NULL when out of memory. */
static MYSQL *new_mysql(void)
{
    MYSQL *my = mysql_init(NULL);
    unsigned int no = 0;

    if (my == NULL)
        return NULL;
    /* LOAD DATA LOCAL would read files with blocking reads (and let the
     * server ask for any of them). */
    if (mysql_options(my, MYSQL_OPT_NONBLOCK, 0) != 0 ||
        mysql_options(my, MYSQL_SET_CHARSET_NAME, "utf8mb4") != 0 ||
        mysql_options(my, MYSQL_OPT_LOCAL_INFILE, &no) != 0) {
        mysql_close(my); /* not connected: no I/O */
        return NULL;
    }
    return my;
}

GN_API gn_maria_t *gn_maria_connect(const gn_maria_params_t *p, double timeout,
                                    char *err, size_t errlen)
{
    double end = gn_green_deadline(timeout);
    struct gn_maria *c;
    union step_out out = {0};
    int status, rc;

    assert(p != NULL && err != NULL);
    if ((c = calloc(1, sizeof(*c))) == NULL || (c->my = new_mysql()) == NULL) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    describe_server(p, c->where, sizeof(c->where));
    status = mysql_real_connect_start(&out.conn, c->my, p->host, p->user,
                                      p->password, p->database, p->port,
                                      p->unix_socket, 0);
    rc = drive(c->my, STEP_CONNECT, status, &out, end);
    if (rc == 0 && out.conn != NULL)
        return c;
    if (rc == 0)
        describe_mysql(c, "connection to");
    else
        describe_wait(c->err, sizeof(c->err), rc, "connection to", c->where,
                      timeout);
    snprintf(err, errlen, "%s", c->err);
    gn_maria_close(c);
    return NULL;
}

GN_API MYSQL *gn_maria_mysql(gn_maria_t *c)
{
    return c->my;
}

GN_API const char *gn_maria_error(gn_maria_t *c)
{
    return c->err;
}

/* ---- parameters ------------------------------------------------------- */

/* Where the quoted text, backquoted name or comment starting at S ends
 * (just past it), or S itself when none starts there. BACKSLASH: a
 * backslash escapes the next character inside quotes (the server's
 * NO_BACKSLASH_ESCAPES is off). */
static const char *skip_quoted(const char *s, int backslash)
{
    const char *p;

    if (*s == '\'' || *s == '"' || *s == '`') {
        for (p = s + 1; *p != '\0'; p++) {
            if (*p == '\\' && backslash && *s != '`' && p[1] != '\0')
                p++;
            else if (*p == *s && p[1] == *s)
                p++; /* '' inside '...': a quote */
            else if (*p == *s)
                return p + 1;
        }
        return p;
    }
    if (*s == '#' ||
        (s[0] == '-' && s[1] == '-' && (s[2] == ' ' || s[2] == '\t'))) {
        p = strchr(s, '\n');
        return p != NULL ? p + 1 : s + strlen(s);
    }
    if (s[0] == '/' && s[1] == '*') {
        p = strstr(s + 2, "*/");
        return p != NULL ? p + 2 : s + strlen(s);
    }
    return s;
}

/* The `?` placeholders of SQL, outside quotes and comments, at their
 * offsets (AT, up to MAX of them): how many there are. */
static int placeholders(const char *sql, int backslash, size_t *at, int max)
{
    const char *s = sql, *next;
    int n = 0;

    while (*s != '\0') {
        if ((next = skip_quoted(s, backslash)) != s) {
            s = next;
            continue;
        }
        if (*s == '?') {
            if (n < max)
                at[n] = (size_t)(s - sql);
            n++;
        }
        s++;
    }
    return n;
}

/* SQL with its NPARAMS placeholders replaced by PARAMS, each quoted and
 * escaped for C: malloc'd, its length in *LEN; NULL with C->err set and
 * *RC -EINVAL (a count that does not match) or -ENOMEM. */
static char *bind_params(struct gn_maria *c, const char *sql, int nparams,
                         const char *const *params, unsigned long *len, int *rc)
{
    int backslash =
        !(c->my->server_status & SERVER_STATUS_NO_BACKSLASH_ESCAPES);
    size_t *at = calloc((size_t)nparams, sizeof(*at)), size, from = 0, n = 0;
    char *out = NULL;
    int found;

    *rc = -ENOMEM;
    if (at == NULL)
        goto done;
    found = placeholders(sql, backslash, at, nparams);
    if (found != nparams) {
        snprintf(c->err, sizeof(c->err),
                 "the statement has %d placeholders for %d parameters", found,
                 nparams);
        *rc = -EINVAL;
        goto done;
    }
    size = strlen(sql) + 1;
    for (int i = 0; i < nparams; i++)
        size += params[i] != NULL ? 2 * strlen(params[i]) + 2 : 4;
    if ((out = malloc(size)) == NULL)
        goto done;
    for (int i = 0; i < nparams; i++) {
        memcpy(out + n, sql + from, at[i] - from);
        n += at[i] - from;
        from = at[i] + 1;
        if (params[i] == NULL) {
            memcpy(out + n, "NULL", 4);
            n += 4;
            continue;
        }
        out[n++] = '\'';
        n += mysql_real_escape_string(c->my, out + n, params[i],
                                      strlen(params[i]));
        out[n++] = '\'';
    }
    strcpy(out + n, sql + from);
    *len = n + strlen(sql + from);
    *rc = 0;
done:
    if (*rc == -ENOMEM)
        snprintf(c->err, sizeof(c->err), "out of memory");
    free(at);
    return out;
}

/* ---- queries ---------------------------------------------------------- */

/* A step of a query on C failed: RC the wait's error, or 0 when libmariadb
 * or the server said why. What gn_maria_exec returns, C->err set. */
static int query_failed(struct gn_maria *c, int rc, double timeout)
{
    unsigned number = mysql_errno(c->my);

    if (rc != 0) {
        c->broken = 1;
        describe_wait(c->err, sizeof(c->err), rc, "query on", c->where,
                      timeout);
        return rc;
    }
    if (fatal_error(number)) {
        c->broken = 1;
        describe_mysql(c, "query on");
        return -EIO;
    }
    snprintf(c->err, sizeof(c->err), "ERROR %u (%s): ", number,
             mysql_sqlstate(c->my));
    gn_green_one_line(c->err + strlen(c->err), sizeof(c->err) - strlen(c->err),
             mysql_error(c->my));
    return (int)number;
}

/* The result of the statement just run, into *RES (NULL: none): 0, or as
 * query_failed. */
static int store(struct gn_maria *c, MYSQL_RES **res, double end,
                 double timeout)
{
    union step_out out = {0};
    int rc = drive(c->my, STEP_STORE, mysql_store_result_start(&out.res, c->my),
                   &out, end);

    *res = out.res;
    if (rc != 0 || (out.res == NULL && mysql_field_count(c->my) > 0))
        return query_failed(c, rc, timeout);
    return 0;
}

/* Read and drop the results after the first: 0, or as query_failed. */
static int drain(struct gn_maria *c, double end, double timeout)
{
    union step_out out;
    MYSQL_RES *more;
    int rc;

    while (mysql_more_results(c->my)) {
        out.rc = 0;
        rc = drive(c->my, STEP_NEXT, mysql_next_result_start(&out.rc, c->my),
                   &out, end);
        if (rc != 0 || out.rc > 0)
            return query_failed(c, rc, timeout);
        if (out.rc < 0)
            return 0;
        if ((rc = store(c, &more, end, timeout)) != 0)
            return rc;
        mysql_free_result(more);
    }
    return 0;
}

GN_API int gn_maria_exec(gn_maria_t *c, const char *sql, int nparams,
                         const char *const *params, MYSQL_RES **res,
                         double timeout)
{
    double end = gn_green_deadline(timeout);
    union step_out out = {0};
    unsigned long len = 0;
    char *bound = NULL;
    int rc;

    assert(c != NULL && sql != NULL && res != NULL && nparams >= 0);
    assert(nparams == 0 || params != NULL);
    *res = NULL;
    c->err[0] = '\0';
    if (c->broken) {
        snprintf(c->err, sizeof(c->err), "the connection to %s is broken",
                 c->where);
        return -EIO;
    }
    if (nparams > 0 &&
        (bound = bind_params(c, sql, nparams, params, &len, &rc)) == NULL)
        return rc;
    rc = drive(c->my, STEP_QUERY,
               mysql_real_query_start(&out.rc, c->my, bound ? bound : sql,
                                      bound ? len : strlen(sql)),
               &out, end);
    free(bound);
    if (rc != 0 || out.rc != 0)
        return query_failed(c, rc, timeout);
    if ((rc = store(c, res, end, timeout)) != 0 ||
        (rc = drain(c, end, timeout)) != 0) {
        mysql_free_result(*res);
        *res = NULL;
    }
    return rc;
}

/* ---- the library ------------------------------------------------------ */

/* The first mysql_init sets up libmariadb's library-wide state (its
 * plugins, charsets, default paths), which only mysql_library_end frees.
 * It is called when this library is unloaded -- with the last app that
 * linked it, its dependents gone -- or at exit: otherwise a worker that
 * dlcloses its apps unloads libmariadb with that state still allocated
 * (LeakSanitizer reports it). */
__attribute__((destructor)) static void end_library(void)
{
    mysql_library_end();
}

/* ---- the pool --------------------------------------------------------- */

struct gn_maria_pool {
    gn_maria_params_t params; /* the strings are ours */
    gn_sem_t *slots;          /* a unit for each connection not handed out */
    gn_maria_t **idle;        /* the ones put back, the latest last */
    int size, nidle;
};

static void free_params(gn_maria_params_t *p)
{
    free((char *)p->host);
    free((char *)p->unix_socket);
    free((char *)p->user);
    free((char *)p->password);
    free((char *)p->database);
}

/* *TO = a copy of FROM (NULL stays NULL): 0, or -ENOMEM. */
static int copy_string(const char **to, const char *from)
{
    *to = NULL;
    return from == NULL || (*to = strdup(from)) != NULL ? 0 : -ENOMEM;
}

static int copy_params(gn_maria_params_t *to, const gn_maria_params_t *from)
{
    to->port = from->port;
    if (copy_string(&to->host, from->host) ||
        copy_string(&to->unix_socket, from->unix_socket) ||
        copy_string(&to->user, from->user) ||
        copy_string(&to->password, from->password) ||
        copy_string(&to->database, from->database))
        return -ENOMEM;
    return 0;
}

GN_API gn_maria_pool_t *gn_maria_pool_new(const gn_maria_params_t *params,
                                          int size)
{
    struct gn_maria_pool *pool;

    assert(params != NULL);
    if (size <= 0 || (pool = calloc(1, sizeof(*pool))) == NULL)
        return NULL;
    pool->size = size;
    if (copy_params(&pool->params, params) != 0)
        goto fail_params;
    if ((pool->idle = calloc((size_t)size, sizeof(*pool->idle))) == NULL)
        goto fail_params;
    if ((pool->slots = gn_sem_new((unsigned)size)) == NULL)
        goto fail_slots;
    return pool;

fail_slots:
    free(pool->idle);
fail_params:
    free_params(&pool->params);
    free(pool);
    return NULL;
}

/* Whether C, idle since it was put back, still looks usable. A healthy
 * idle MariaDB connection has nothing to read: anything there is the
 * server's goodbye (an error packet for wait_timeout or a KILL, then EOF),
 * which is how the pool notices a dead one before handing it out. */
static int idle_alive(gn_maria_t *c)
{
    struct pollfd p = {.fd = (int)mysql_get_socket(c->my), .events = POLLIN};

    return !c->broken && p.fd >= 0 && poll(&p, 1, 0) == 0;
}

GN_API gn_maria_t *gn_maria_pool_get(gn_maria_pool_t *pool, double timeout,
                                     char *err, size_t errlen)
{
    double end = gn_green_deadline(timeout);
    gn_maria_t *c;
    int rc;

    assert(pool != NULL && err != NULL);
    if ((rc = gn_sem_acquire(pool->slots, timeout)) != 0) {
        gn_green_slot_wait_error(err, errlen, rc, timeout, pool->size);
        return NULL;
    }
    while (pool->nidle > 0) {
        c = pool->idle[--pool->nidle];
        if (idle_alive(c))
            return c;
        gn_maria_close(c);
    }
    c = gn_maria_connect(&pool->params, gn_green_left(end), err, errlen);
    if (c == NULL)
        gn_sem_release(pool->slots);
    return c;
}

GN_API void gn_maria_pool_put(gn_maria_pool_t *pool, gn_maria_t *c, int broken)
{
    assert(pool != NULL && c != NULL && pool->nidle < pool->size);
    if (broken || c->broken || (c->my->server_status & SERVER_STATUS_IN_TRANS))
        gn_maria_close(c);
    else
        pool->idle[pool->nidle++] = c;
    gn_sem_release(pool->slots);
}

GN_API void gn_maria_pool_free(gn_maria_pool_t *pool)
{
    if (pool == NULL)
        return;
    while (pool->nidle > 0)
        gn_maria_close(pool->idle[--pool->nidle]);
    gn_sem_free(pool->slots);
    free(pool->idle);
    free_params(&pool->params);
    free(pool);
}
