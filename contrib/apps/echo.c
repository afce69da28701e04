/*
 * echo: answers 200 with what it received, so tests can see what the
 * server parsed: the request line, every header in order, and the body.
 *
 *     GET /path?sleep=0.5      waits 0.5 s first (green sleep: the worker
 *                              serves others meanwhile)
 *     GET /path?stream=4       sends the answer in 4 flushed pieces
 *                              (chunked transfer encoding)
 *     GET /path?stream=4&gap=0.5  ... waiting 0.5 s between pieces (to see
 *                              that a proxy passes them on as they come)
 *     GET /path?cache=60       adds "Cache-Control: public, max-age=60"
 *                              (for caching proxies; without it nothing is
 *                              marked cacheable)
 *     GET /path?spin=2         spins on the CPU for 2 s without yielding:
 *                              a hung handler, for the `timeout` watchdog
 *     GET /path?size=N         answers N bytes of 'x' instead, streamed in
 *                              flushed 64 KiB pieces (a large download)
 *     GET /path?crash=1        crashes the worker with SIGSEGV: a buggy
 *                              plugin, for the isolation tests
 *     GET /path?recurse=N      recurses N frames of 1 KiB each: a deep
 *                              recursion, for the stack overflow report
 *     GET /path?wait_gone=S    waits up to S seconds for the client to go
 *                              away (gn_response_client_gone), logs
 *                              "echo: client gone" when it does
 *
 * App arguments:
 *
 *     [app.args]
 *     label = TEXT             adds "label: TEXT" to every answer (to tell
 *                              several mounted echo apps apart)
 *     fail_init = REASON       init fails (logging REASON): the worker
 *                              cannot boot, and greenicorn exits 3
 *     crash_init = yes         init crashes (SIGSEGV): a crash loop
 *     slow_init = MS           init takes MS milliseconds (an app that
 *                              loads a model or warms a cache first)
 *
 * The answer is text/plain:
 *
 *     method: POST
 *     target: /upload?x=1
 *     path: /upload
 *     script-name:             (the app's mount; "" on "/")
 *     path-info: /upload
 *     query: x=1
 *     version: HTTP/1.1
 *     remote: 127.0.0.1:40312  ([2001:db8::1]:5555 from IPv6)
 *     server: 127.0.0.1:8000
 *     scheme: http
 *     pid: 4242                (the worker's)
 *     init-pid: 4242           (the process that ran init: the arbiter's
 *                              with preload_app)
 *     header: Host: 127.0.0.1:8000
 *     ...
 *     trailer: Checksum: abc   (after a chunked body with trailers)
 *     body-length: 5
 *
 *     hello
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <greenicorn.h>

/* Per-worker state (or, with preload_app, the arbiter's, inherited). */
struct echo {
    const char *label; /* the label arg, or NULL */
    int init_pid;      /* the process that ran init */
};

/* The value of KEY in the query string QUERY, or NULL. Points into QUERY,
 * ending at '&' or the end. */
static const char *query_param(const char *query, const char *key)
{
    size_t klen = strlen(key);
    const char *p = query;

    while (p != NULL && *p != '\0') {
        if (strncmp(p, key, klen) == 0 && p[klen] == '=')
            return p + klen + 1;
        p = strchr(p, '&');
        if (p != NULL)
            p++;
    }
    return NULL;
}

/* ADDR:PORT, an IPv6 address in brackets ("[2001:db8::1]:5555", as in
 * a URI) so the port cannot be read as part of it. */
static const char *host_port(char *out, size_t len, const char *addr, int port)
{
    if (addr == NULL)
        addr = "";
    if (strchr(addr, ':') != NULL)
        snprintf(out, len, "[%s]:%d", addr, port);
    else
        snprintf(out, len, "%s:%d", addr, port);
    return out;
}

static int write_head(gn_request_t *req, gn_response_t *res,
                      const struct echo *echo)
{
    const char *name, *value;
    char remote[64], server[64];
    int v = gn_request_version(req);

    gn_response_printf(
        res,
        "method: %s\ntarget: %s\npath: %s\nscript-name: %s\n"
        "path-info: %s\nquery: %s\nversion: HTTP/%d.%d\n"
        "remote: %s\nserver: %s\nscheme: %s\npid: %d\n",
        gn_request_method(req), gn_request_target(req), gn_request_path(req),
        gn_request_script_name(req), gn_request_path_info(req),
        gn_request_query(req), v / 10, v % 10,
        host_port(remote, sizeof(remote), gn_request_remote_addr(req),
                  gn_request_remote_port(req)),
        host_port(server, sizeof(server), gn_request_server_addr(req),
                  gn_request_server_port(req)),
        gn_request_scheme(req), (int)getpid());
    if (echo->label != NULL)
        gn_response_printf(res, "label: %s\n", echo->label);
    gn_response_printf(res, "init-pid: %d\n", echo->init_pid);
    for (size_t i = 0; gn_request_header_at(req, i, &name, &value) == 0; i++)
        gn_response_printf(res, "header: %s: %s\n", name, value);
    for (size_t i = 0; gn_request_trailer_at(req, i, &name, &value) == 0; i++)
        gn_response_printf(res, "trailer: %s: %s\n", name, value);
    return 0;
}

/* Read the whole body into a heap buffer. */
static ssize_t read_body(gn_request_t *req, char **out)
{
    size_t len = 0, cap = 16384;
    char *buf = malloc(cap), *grown;
    ssize_t n;

    if (buf == NULL)
        return -ENOMEM;
    while ((n = gn_request_read(req, buf + len, cap - len)) > 0) {
        len += (size_t)n;
        if (len < cap)
            continue;
        if ((grown = realloc(buf, cap * 2)) == NULL) {
            free(buf);
            return -ENOMEM;
        }
        buf = grown;
        cap *= 2;
    }
    if (n < 0) {
        free(buf);
        return n;
    }
    *out = buf;
    return (ssize_t)len;
}

/* Burn the CPU for SECONDS, never yielding: the worker's loop stalls. */
static void spin(double seconds)
{
    struct timespec start, now;

    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((double)(now.tv_sec - start.tv_sec) +
                 (double)(now.tv_nsec - start.tv_nsec) / 1e9 <
             seconds);
}

/* N frames of stack, 1 KiB each. The frame's address goes to an empty
 * asm that may read and write all memory, before the call and after it:
 * the whole array must exist and outlive the call, so no compiler keeps a
 * part of it or turns the recursion into a loop (clang -O3 did both to a
 * volatile array whose first and last bytes alone were used). */
static int recurse(long n)
{
    char frame[1024];
    int below;

    memset(frame, (int)n, sizeof(frame));
    __asm__ volatile("" : : "r"(frame) : "memory");
    below = n > 0 ? recurse(n - 1) : 0;
    __asm__ volatile("" : : "r"(frame) : "memory");
    return below + frame[(unsigned long)n % sizeof(frame)];
}

/* Poll for the client leaving, for up to SECONDS. */
static int wait_gone(gn_response_t *res, double seconds)
{
    for (double waited = 0; waited < seconds; waited += 0.05) {
        /* client_gone says when the client left (with
         * cancel_on_disconnect the sleep also returns -ECANCELED). */
        if (gn_sleep(0.05) != 0 || gn_response_client_gone(res)) {
            if (gn_response_client_gone(res))
                gn_log(GN_LOG_INFO, "echo: client gone after %.2f s", waited);
            return -ECANCELED;
        }
    }
    return 0;
}

/* N bytes of 'x', flushed every 64 KiB so memory stays flat. */
static int write_size(gn_response_t *res, unsigned long long n)
{
    static char piece[65536];
    int rc = 0;

    memset(piece, 'x', sizeof(piece));
    gn_response_header(res, "Content-Type", "text/plain");
    while (rc == 0 && n > 0) {
        size_t k = n < sizeof(piece) ? (size_t)n : sizeof(piece);

        rc = gn_response_write(res, piece, k);
        if (rc == 0)
            rc = gn_response_flush(res);
        n -= k;
    }
    return rc;
}

static int write_body(gn_response_t *res, const char *body, size_t len,
                      long pieces, double gap)
{
    size_t step = pieces > 1 ? len / (size_t)pieces + 1 : len;
    int rc = gn_response_printf(res, "body-length: %zu\n\n", len);

    if (pieces > 1 && rc == 0)
        rc = gn_response_flush(res);
    for (size_t off = 0; rc == 0 && off < len; off += step) {
        size_t n = len - off < step ? len - off : step;

        if (gap > 0 && off > 0 && gn_sleep(gap) != 0)
            return -ECANCELED;
        rc = gn_response_write(res, body + off, n);
        if (rc == 0 && pieces > 1)
            rc = gn_response_flush(res);
    }
    return rc;
}

static int echo_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    const char *query = gn_request_query(req);
    const char *sleep = query_param(query, "sleep");
    const char *stream = query_param(query, "stream");
    const char *busy = query_param(query, "spin");
    const char *size = query_param(query, "size");
    const char *gone = query_param(query, "wait_gone");
    const char *depth = query_param(query, "recurse");
    const char *gap = query_param(query, "gap");
    const char *cache = query_param(query, "cache");
    char *body = NULL;
    ssize_t len;
    int rc;

    if (sleep != NULL && gn_sleep(strtod(sleep, NULL)) != 0)
        return -EINVAL;
    if (busy != NULL)
        spin(strtod(busy, NULL));
    if (query_param(query, "crash") != NULL)
        raise(SIGSEGV);
    if (depth != NULL)
        gn_response_printf(res, "recursed: %d\n",
                           recurse(strtol(depth, NULL, 10)));
    if (gone != NULL && (rc = wait_gone(res, strtod(gone, NULL))) != 0)
        return rc;
    if (size != NULL)
        return write_size(res, strtoull(size, NULL, 10));
    len = read_body(req, &body);
    if (len < 0)
        return (int)len;
    gn_response_header(res, "Content-Type", "text/plain");
    if (cache != NULL) {
        char value[64];

        snprintf(value, sizeof(value), "public, max-age=%ld",
                 strtol(cache, NULL, 10));
        gn_response_header(res, "Cache-Control", value);
    }
    write_head(req, res, state);
    rc = write_body(res, body, (size_t)len,
                    stream ? strtol(stream, NULL, 10) : 0,
                    gap ? strtod(gap, NULL) : 0);
    free(body);
    return rc;
}

static int echo_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct echo *echo = calloc(1, sizeof(*echo));

    if (echo == NULL)
        return -ENOMEM;
    echo->init_pid = (int)getpid();
    for (size_t i = 0; i < nargs; i++) {
        if (strcmp(args[i].name, "label") == 0) {
            echo->label = args[i].value; /* lives as long as the worker */
            continue;
        }
        if (strcmp(args[i].name, "slow_init") == 0) {
            long ms = atol(args[i].value);
            struct timespec ts = {ms / 1000, ms % 1000 * 1000000L};

            while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
            continue;
        }
        if (strcmp(args[i].name, "fail_init") == 0)
            gn_log(GN_LOG_ERROR, "echo: init fails as asked: %s",
                   args[i].value);
        else if (strcmp(args[i].name, "crash_init") == 0)
            raise(SIGSEGV);
        else
            gn_log(GN_LOG_ERROR, "echo: unknown argument '%s'", args[i].name);
        free(echo);
        return -EINVAL;
    }
    *state = echo;
    return 0;
}

static void echo_fini(void *state)
{
    free(state);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,         .name = "echo",    .init = echo_init,
    .handle = echo_handle, .fini = echo_fini,
};
