/*
 * compat_app: an app built against the frozen ABI 1.3 header
 * (tests/compat/abi-1.3/greenicorn.h), never against include/. It stands
 * for a plugin compiled before the source tree was reshaped and loaded,
 * unrebuilt, by every later server: tests/e2e/test_compat.py drives each
 * route below and checks the answers. So it calls a broad part of the
 * ABI the way a real plugin does, and reports what each call returned.
 *
 * Mounted on any prefix; the routes are matched on the path info:
 *
 *     /request     every request accessor, as "key: value" lines
 *     /body        reads the body in small pieces: length, reads, FNV-1a,
 *                  trailers, then the body itself
 *     /stream?pieces=N&delay=S   N printf'd pieces, each flushed (chunked),
 *                  with a green sleep of S seconds between them
 *     /status      status 418 with its own reason, and what the response
 *                  calls refuse (bad status, framing headers, too late)
 *     /green       spawn/join, kill, event, semaphore, queue, yield
 *     /io          connects to this server itself with the green socket
 *                  calls and relays the status line of /request
 *     /config      the init args, the server version, gn_config_get
 *     /log?msg=M   logs M at DEBUG and at WARNING
 *     /sleep?s=S   a green sleep of S seconds
 *     /sendfile?offset=O&count=C   part of the file named by the `file` arg
 *     /fail        returns -EIO (the server answers 500)
 *
 * Init logs "compat-app: init" with its arguments; fini logs
 * "compat-app: fini after N requests".
 *
 * The table `abi13_functions` takes the address of every function of the
 * ABI 1.3 header, so the server's dlopen(RTLD_NOW) refuses this plugin
 * the day the binary stops exporting one of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <greenicorn.h>

#define MAX_ARGS 8

/* Per-worker state, made by init. */
struct compat {
    const char *arg_names[MAX_ARGS];
    const char *arg_values[MAX_ARGS];
    size_t nargs;
    const char *file; /* the `file` arg: what /sendfile sends */
    int init_pid;
    unsigned long requests;
};

typedef void (*any_fn)(void);

/* Every function the ABI 1.3 header declares (a cast between function
 * pointer types is defined; through void (*)(void) it is also silent). */
__attribute__((used)) static const any_fn abi13_functions[] = {
    (any_fn)gn_version,
    (any_fn)gn_request_method,
    (any_fn)gn_request_target,
    (any_fn)gn_request_path,
    (any_fn)gn_request_script_name,
    (any_fn)gn_request_path_info,
    (any_fn)gn_request_query,
    (any_fn)gn_request_version,
    (any_fn)gn_request_header,
    (any_fn)gn_request_header_count,
    (any_fn)gn_request_header_at,
    (any_fn)gn_request_content_length,
    (any_fn)gn_request_read,
    (any_fn)gn_request_trailer,
    (any_fn)gn_request_trailer_count,
    (any_fn)gn_request_trailer_at,
    (any_fn)gn_request_remote_addr,
    (any_fn)gn_request_remote_port,
    (any_fn)gn_request_scheme,
    (any_fn)gn_request_server_addr,
    (any_fn)gn_request_server_port,
    (any_fn)gn_request_alloc,
    (any_fn)gn_response_status,
    (any_fn)gn_response_header,
    (any_fn)gn_response_write,
    (any_fn)gn_response_printf,
    (any_fn)gn_response_flush,
    (any_fn)gn_response_sendfile,
    (any_fn)gn_response_client_gone,
    (any_fn)gn_response_get_status,
    (any_fn)gn_config_get,
    (any_fn)gn_sleep,
    (any_fn)gn_yield,
    (any_fn)gn_wait_fd,
    (any_fn)gn_connect_tcp,
    (any_fn)gn_connect_unix,
    (any_fn)gn_read,
    (any_fn)gn_write,
    (any_fn)gn_readv,
    (any_fn)gn_writev,
    (any_fn)gn_accept,
    (any_fn)gn_spawn,
    (any_fn)gn_join,
    (any_fn)gn_kill,
    (any_fn)gn_event_new,
    (any_fn)gn_event_set,
    (any_fn)gn_event_clear,
    (any_fn)gn_event_is_set,
    (any_fn)gn_event_wait,
    (any_fn)gn_event_free,
    (any_fn)gn_sem_new,
    (any_fn)gn_sem_acquire,
    (any_fn)gn_sem_release,
    (any_fn)gn_sem_free,
    (any_fn)gn_queue_new,
    (any_fn)gn_queue_put,
    (any_fn)gn_queue_get,
    (any_fn)gn_queue_len,
    (any_fn)gn_queue_free,
    (any_fn)gn_log,
};

/* A negative errno by its name, for answers a test can compare. */
static const char *err_name(int rc)
{
    static const struct {
        int rc;
        const char *name;
    } names[] = {
        {0, "0"},
        {-EINVAL, "EINVAL"},
        {-EPERM, "EPERM"},
        {-EALREADY, "EALREADY"},
        {-ERANGE, "ERANGE"},
        {-ENOENT, "ENOENT"},
        {-ECANCELED, "ECANCELED"},
        {-ETIMEDOUT, "ETIMEDOUT"},
        {-EWOULDBLOCK, "EWOULDBLOCK"},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].rc == rc)
            return names[i].name;
    return rc > 0 ? "positive" : "other";
}

/* The value of KEY in QUERY as a double, or DFLT when it is absent. */
static double query_num(const char *query, const char *key, double dflt)
{
    size_t klen = strlen(key);

    for (const char *p = query; p != NULL && *p != '\0';) {
        if (strncmp(p, key, klen) == 0 && p[klen] == '=')
            return strtod(p + klen + 1, NULL);
        p = strchr(p, '&');
        p = p ? p + 1 : NULL;
    }
    return dflt;
}

/* The value of KEY in QUERY copied into BUF (up to '&'), or NULL. */
static const char *query_str(const char *query, const char *key, char *buf,
                             size_t len)
{
    size_t klen = strlen(key);

    for (const char *p = query; p != NULL && *p != '\0';) {
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            snprintf(buf, len, "%.*s", (int)strcspn(p + klen + 1, "&"),
                     p + klen + 1);
            return buf;
        }
        p = strchr(p, '&');
        p = p ? p + 1 : NULL;
    }
    return NULL;
}

static void text_plain(gn_response_t *res)
{
    gn_response_header(res, "Content-Type", "text/plain");
}

/* ---- /request ---------------------------------------------------------- */

static void put_headers(gn_request_t *req, gn_response_t *res)
{
    const char *name, *value, *probe = gn_request_header(req, "x-COMPAT");
    size_t n = gn_request_header_count(req);

    gn_response_printf(res, "x-compat: %s\nmissing: %s\nheader-count: %zu\n",
                       probe ? probe : "(none)",
                       gn_request_header(req, "X-Not-Sent") ? "sent" : "(none)",
                       n);
    for (size_t i = 0; gn_request_header_at(req, i, &name, &value) == 0; i++)
        gn_response_printf(res, "header: %s: %s\n", name, value);
    gn_response_printf(res, "header-past-end: %s\n",
                       err_name(gn_request_header_at(req, n, NULL, NULL)));
}

static int route_request(gn_request_t *req, gn_response_t *res,
                         struct compat *app)
{
    int v = gn_request_version(req);
    void *a = gn_request_alloc(req, 100), *b = gn_request_alloc(req, 0);

    text_plain(res);
    gn_response_printf(
        res,
        "method: %s\ntarget: %s\npath: %s\nscript-name: %s\npath-info: %s\n"
        "query: %s\nversion: %d.%d\ncontent-length: %lld\n"
        "remote: %s\nremote-port-set: %s\nserver: %s:%d\nscheme: %s\n"
        "alloc: %s\n",
        gn_request_method(req), gn_request_target(req), gn_request_path(req),
        gn_request_script_name(req), gn_request_path_info(req),
        gn_request_query(req), v / 10, v % 10,
        (long long)gn_request_content_length(req),
        gn_request_remote_addr(req),
        gn_request_remote_port(req) > 0 ? "yes" : "no",
        gn_request_server_addr(req), gn_request_server_port(req),
        gn_request_scheme(req),
        a && b && a != b && (uintptr_t)a % 16 == 0 && (uintptr_t)b % 16 == 0
            ? "aligned"
            : "bad");
    put_headers(req, res);
    return 0;
}

/* ---- /body ------------------------------------------------------------- */

/* Reads the whole body into a heap buffer (*OUT), hashing it as it comes
 * in odd-sized pieces, so the body arrives in many reads. */
static ssize_t read_body(gn_request_t *req, char **out, unsigned *reads,
                         uint32_t *fnv)
{
    char piece[4093], *body = NULL, *grown;
    size_t len = 0;
    ssize_t n;

    while ((n = gn_request_read(req, piece, sizeof(piece))) > 0) {
        (*reads)++;
        for (ssize_t i = 0; i < n; i++)
            *fnv = (*fnv ^ (unsigned char)piece[i]) * 16777619u;
        if ((grown = realloc(body, len + (size_t)n)) == NULL) {
            n = -ENOMEM;
            break;
        }
        body = grown;
        memcpy(body + len, piece, (size_t)n);
        len += (size_t)n;
    }
    if (n < 0) {
        free(body);
        return n;
    }
    *out = body;
    return (ssize_t)len;
}

static int route_body(gn_request_t *req, gn_response_t *res,
                      struct compat *app)
{
    char *body = NULL;
    unsigned reads = 0;
    uint32_t fnv = 2166136261u; /* FNV-1a's offset basis */
    ssize_t len = read_body(req, &body, &reads, &fnv);
    const char *name, *value;
    char after;
    int rc;

    if (len < 0)
        return (int)len;
    text_plain(res);
    gn_response_printf(res, "content-length: %lld\nlength: %zd\nreads: %u\n"
                            "fnv1a: %08x\nread-at-end: %s\n"
                            "trailer-count: %zu\n",
                       (long long)gn_request_content_length(req), len, reads,
                       (unsigned)fnv,
                       err_name((int)gn_request_read(req, &after, 1)),
                       gn_request_trailer_count(req));
    for (size_t i = 0; gn_request_trailer_at(req, i, &name, &value) == 0; i++)
        gn_response_printf(res, "trailer: %s: %s\n", name, value);
    value = gn_request_trailer(req, "x-checksum");
    gn_response_printf(res, "x-checksum: %s\n\n", value ? value : "(none)");
    rc = gn_response_write(res, body ? body : "", (size_t)len);
    free(body);
    return rc;
}

/* ---- /stream ----------------------------------------------------------- */

static int route_stream(gn_request_t *req, gn_response_t *res,
                        struct compat *app)
{
    const char *query = gn_request_query(req);
    long pieces = (long)query_num(query, "pieces", 3);
    double delay = query_num(query, "delay", 0.01);
    int rc = gn_response_header(res, "X-Compat-Stream", "yes");

    text_plain(res);
    for (long i = 0; rc == 0 && i < pieces; i++) {
        rc = gn_response_printf(res, "piece %ld of %ld\n", i + 1, pieces);
        if (rc == 0)
            rc = gn_response_flush(res);
        if (rc == 0 && i + 1 < pieces)
            rc = gn_sleep(delay);
    }
    return rc;
}

/* ---- /status ----------------------------------------------------------- */

static int route_status(gn_request_t *req, gn_response_t *res,
                        struct compat *app)
{
    int bad_status = gn_response_status(res, 42, NULL);
    int bad_reason = gn_response_status(res, 418, "Bad\r\nReason");
    int ok = gn_response_status(res, 418, "Short And Stout");
    int framing = gn_response_header(res, "Content-Length", "5");
    int bad_name = gn_response_header(res, "Bad Name", "x");
    int custom = gn_response_header(res, "X-Compat-Status", "teapot");
    int flushed, late_status, late_header;

    text_plain(res);
    gn_response_printf(res, "status-set: %d\n", gn_response_get_status(res));
    flushed = gn_response_flush(res);
    late_status = gn_response_status(res, 200, NULL);
    late_header = gn_response_header(res, "X-Late", "1");
    gn_response_printf(
        res,
        "bad-status: %s\nbad-reason: %s\nok: %s\ncontent-length-header: %s\n"
        "bad-name: %s\ncustom-header: %s\nflush: %s\nlate-status: %s\n"
        "late-header: %s\nclient-gone: %d\n",
        err_name(bad_status), err_name(bad_reason), err_name(ok),
        err_name(framing), err_name(bad_name), err_name(custom),
        err_name(flushed), err_name(late_status), err_name(late_header),
        gn_response_client_gone(res));
    return 0;
}

/* ---- /green ------------------------------------------------------------ */

/* What the green threads of one /green request share. */
struct green_box {
    gn_event_t *go;
    gn_sem_t *sem;
    gn_queue_t *queue;
    int inside, max_inside;
};

struct green_job {
    struct green_box *box;
    int id;
};

/* Waits for the go event, then holds the semaphore (one at a time) across
 * a sleep, and queues its id. Returns 40 + id. */
static int green_job(void *arg)
{
    struct green_job *job = arg;
    struct green_box *box = job->box;
    int rc = gn_event_wait(box->go, 5.0);

    if (rc == 0)
        rc = gn_sem_acquire(box->sem, 5.0);
    if (rc != 0)
        return rc;
    if (++box->inside > box->max_inside)
        box->max_inside = box->inside;
    rc = gn_sleep(0.01);
    box->inside--;
    gn_sem_release(box->sem);
    if (rc == 0)
        rc = gn_queue_put(box->queue, &job->id, 5.0);
    return rc == 0 ? 40 + job->id : rc;
}

static int sleep_long(void *arg)
{
    (void)arg;
    return gn_sleep(30);
}

/* Joins both jobs and the killed sleeper into RESULTS. */
static int join_all(gn_thread_t *const threads[3], int results[3])
{
    int rc = 0;

    for (int i = 0; i < 3; i++) {
        int r = threads[i] ? gn_join(threads[i], 10.0, &results[i]) : -ENOMEM;

        rc = rc ? rc : r;
    }
    return rc;
}

static int route_green(gn_request_t *req, gn_response_t *res,
                       struct compat *app)
{
    struct green_box box = {.go = gn_event_new(), .sem = gn_sem_new(1),
                            .queue = gn_queue_new(4)};
    struct green_job jobs[2] = {{&box, 1}, {&box, 2}};
    gn_thread_t *threads[3] = {NULL, NULL, NULL};
    int results[3] = {0, 0, 0}, yielded, waited, killed, joined, sum = 0;
    void *item;

    if (!box.go || !box.sem || !box.queue)
        return -ENOMEM;
    threads[0] = gn_spawn(green_job, &jobs[0]);
    threads[1] = gn_spawn(green_job, &jobs[1]);
    threads[2] = gn_spawn(sleep_long, NULL);
    yielded = gn_yield(); /* every thread runs up to its first wait */
    waited = gn_event_is_set(box.go);
    gn_event_set(box.go);
    killed = threads[2] ? gn_kill(threads[2]) : -ENOMEM;
    joined = join_all(threads, results);
    text_plain(res);
    gn_response_printf(res, "yield: %s\nevent-before-set: %d\nqueued: %zu\n",
                       err_name(yielded), waited, gn_queue_len(box.queue));
    while (gn_queue_len(box.queue) > 0 && gn_queue_get(box.queue, &item, 1) == 0)
        sum += *(int *)item;
    gn_event_clear(box.go);
    gn_response_printf(
        res,
        "id-sum: %d\nmax-inside: %d\nkill: %s\njoin: %s\nresults: %d %d %s\n"
        "event-after-clear: %d\nempty-get: %s\n",
        sum, box.max_inside, err_name(killed), err_name(joined), results[0],
        results[1], err_name(results[2]), gn_event_is_set(box.go),
        err_name(gn_queue_get(box.queue, &item, 0.01)));
    gn_event_free(box.go);
    gn_sem_free(box.sem);
    gn_queue_free(box.queue);
    return 0;
}

/* ---- /io --------------------------------------------------------------- */

/* Asks this server for /request over HTTP/1.0 with the green socket calls
 * (the worker serves that connection while this handler waits). */
static int self_request(gn_request_t *req, char *buf, size_t len)
{
    char ask[512];
    int fd, n, ready;
    size_t got = 0;
    ssize_t r;

    n = snprintf(ask, sizeof(ask),
                 "GET %s/request?from=io HTTP/1.0\r\nX-Compat: io\r\n\r\n",
                 gn_request_script_name(req));
    fd = gn_connect_tcp(gn_request_server_addr(req),
                        gn_request_server_port(req), 5.0);
    if (fd < 0)
        return fd;
    ready = gn_wait_fd(fd, GN_WAIT_WRITE, 5.0);
    r = ready > 0 ? gn_write(fd, ask, (size_t)n, 5.0) : ready;
    while (r >= 0 && got < len - 1 &&
           (r = gn_read(fd, buf + got, len - 1 - got, 5.0)) > 0)
        got += (size_t)r;
    close(fd);
    buf[got] = '\0';
    return r < 0 ? (int)r : ready;
}

static int route_io(gn_request_t *req, gn_response_t *res,
                    struct compat *app)
{
    char answer[8192];
    int ready = self_request(req, answer, sizeof(answer));

    if (ready < 0)
        return ready;
    text_plain(res);
    gn_response_printf(res, "wait-write: %d\nstatus-line: %.*s\n"
                            "relayed-header: %s\n",
                       ready, (int)strcspn(answer, "\r\n"), answer,
                       strstr(answer, "\nx-compat: io\n") ? "yes" : "no");
    return 0;
}

/* ---- /config, /log, /sleep, /sendfile ---------------------------------- */

static int route_config(gn_request_t *req, gn_response_t *res,
                        struct compat *app)
{
    char workers[32], tiny[1];
    int rc = gn_config_get("workers", workers, sizeof(workers));

    text_plain(res);
    gn_response_printf(res, "server-version: %s\nbuilt-abi: %d.%d\n"
                            "init-pid: %d\nworkers: %s\nunknown: %s\n"
                            "too-small: %s\n",
                       gn_version(), GN_ABI_VERSION_MAJOR, GN_ABI_VERSION_MINOR,
                       app->init_pid, rc >= 0 ? workers : err_name(rc),
                       err_name(gn_config_get("no_such_setting", workers,
                                              sizeof(workers))),
                       err_name(gn_config_get("workers", tiny, sizeof(tiny))));
    for (size_t i = 0; i < app->nargs; i++)
        gn_response_printf(res, "arg: %s=%s\n", app->arg_names[i],
                           app->arg_values[i]);
    return 0;
}

static int route_log(gn_request_t *req, gn_response_t *res,
                     struct compat *app)
{
    char msg[128];

    if (query_str(gn_request_query(req), "msg", msg, sizeof(msg)) == NULL)
        return -EINVAL;
    gn_log(GN_LOG_DEBUG, "compat-app: debug %s", msg);
    gn_log(GN_LOG_WARNING, "compat-app: warning %s", msg);
    text_plain(res);
    return gn_response_printf(res, "logged: %s\n", msg);
}

static int route_sleep(gn_request_t *req, gn_response_t *res,
                       struct compat *app)
{
    int rc = gn_sleep(query_num(gn_request_query(req), "s", 0.1));

    text_plain(res);
    return gn_response_printf(res, "sleep: %s\nbad-sleep: %s\n", err_name(rc),
                              err_name(gn_sleep(-1)));
}

static int route_sendfile(gn_request_t *req, gn_response_t *res,
                          struct compat *app)
{
    const char *query = gn_request_query(req);
    int fd, rc;

    if (app->file == NULL)
        return -ENOENT;
    if ((fd = open(app->file, O_RDONLY | O_CLOEXEC)) < 0)
        return -errno;
    text_plain(res);
    rc = gn_response_sendfile(res, fd, (off_t)query_num(query, "offset", 0),
                              (size_t)query_num(query, "count", 0));
    close(fd);
    return rc;
}

static int route_fail(gn_request_t *req, gn_response_t *res,
                      struct compat *app)
{
    return -EIO;
}

/* ---- the descriptor ----------------------------------------------------- */

static const struct route {
    const char *path;
    int (*serve)(gn_request_t *req, gn_response_t *res, struct compat *app);
} routes[] = {
    {"/request", route_request}, {"/body", route_body},
    {"/stream", route_stream},   {"/status", route_status},
    {"/green", route_green},     {"/io", route_io},
    {"/config", route_config},   {"/log", route_log},
    {"/sleep", route_sleep},     {"/sendfile", route_sendfile},
    {"/fail", route_fail},
};

static int compat_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    struct compat *app = state;
    const char *path = gn_request_path_info(req);

    app->requests++;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (strcmp(path, routes[i].path) == 0)
            return routes[i].serve(req, res, app);
    gn_response_status(res, 404, NULL);
    text_plain(res);
    return gn_response_printf(res, "no route %s\n", path);
}

static int compat_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct compat *app = calloc(1, sizeof(*app));

    if (app == NULL)
        return -ENOMEM;
    app->init_pid = (int)getpid();
    for (size_t i = 0; i < nargs && i < MAX_ARGS; i++) {
        app->arg_names[i] = args[i].name;
        app->arg_values[i] = args[i].value;
        if (strcmp(args[i].name, "file") == 0)
            app->file = args[i].value;
    }
    app->nargs = nargs < MAX_ARGS ? nargs : MAX_ARGS;
    gn_log(GN_LOG_INFO, "compat-app: init pid=%d nargs=%zu functions=%zu",
           app->init_pid, nargs,
           sizeof(abi13_functions) / sizeof(abi13_functions[0]));
    *state = app;
    return 0;
}

static void compat_fini(void *state)
{
    struct compat *app = state;

    gn_log(GN_LOG_INFO, "compat-app: fini pid=%d after %lu requests",
           (int)getpid(), app->requests);
    free(app);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,
    .name = "compat",
    .init = compat_init,
    .handle = compat_handle,
    .fini = compat_fini,
};
