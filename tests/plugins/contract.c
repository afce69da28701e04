/*
 * An app that probes the plugin contract from inside a real worker, for
 * the e2e tests: it calls the API the way a careless app would and reports
 * each return code, in the body (NAME RC per line) or in the error log.
 *
 *     /refuse          every header and status gn_response_* must refuse,
 *                      then the same after the head went out (a chunk)
 *     /status?code=N   gn_response_status(N) and its return code
 *     /finish?sleep=S  sleeps S seconds, then writes and flushes, and logs
 *                      "contract: finished (sleep RC, write RC, flush RC)"
 *                      at warning level: whether it ran to its end
 *     /thread          a pthread of its own calls the request, response
 *                      and green API; each call's return code
 *     /close?how=H     asks to close the connection after its answer:
 *                      H "call" gn_response_close_connection, "header"
 *                      sets Connection: close itself, "flush" calls it
 *                      after the head went out; the call's return code
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <greenicorn.h>

/* The number after "KEY=" in QUERY, or DEF. */
static double param(const char *query, const char *key, double def)
{
    size_t len = strlen(key);

    for (const char *p = query; p && *p; p = strchr(p, '&'), p = p ? p + 1 : p)
        if (strncmp(p, key, len) == 0 && p[len] == '=')
            return strtod(p + len + 1, NULL);
    return def;
}

/* ---- /refuse ---------------------------------------------------------- */

static void header_case(gn_response_t *res, const char *what, const char *name,
                        const char *value)
{
    gn_response_printf(res, "%s %d\n", what,
                       gn_response_header(res, name, value));
}

static int refuse(gn_response_t *res)
{
    static const char *framing[] = {
        "Content-Length", "content-length", "Transfer-Encoding",
        "Connection",     "Date",           "Server"};
    static const int statuses[] = {100, 101, 103, 199, 99, 1000};
    char name[64];
    int rc;

    header_case(res, "value-cr", "X-A", "a\rb");
    header_case(res, "value-lf", "X-A", "a\nb");
    header_case(res, "value-crlf", "X-A", "a\r\nSet-Cookie: x=1");
    header_case(res, "value-del", "X-A", "a\x7f");
    header_case(res, "name-cr", "X-\rA", "v");
    header_case(res, "name-lf", "X-\nA", "v");
    header_case(res, "name-colon", "X-A:", "v");
    header_case(res, "name-space", "X A", "v");
    header_case(res, "name-empty", "", "v");
    header_case(res, "name-at", "X@A", "v");
    header_case(res, "name-paren", "X(A)", "v");
    header_case(res, "name-8bit", "X-\xc3\xa9", "v");
    /* A NUL ends a C string: what follows is never seen, so a NUL can
     * only cut a value short, and the call sees a clean prefix. */
    header_case(res, "value-nul-prefix", "X-Nul", "ok\0\r\nX-Evil: 1");
    header_case(res, "value-tab", "X-Tab", "a\tb");
    header_case(res, "value-obs-text", "X-Obs", "caf\xc3\xa9");
    for (size_t i = 0; i < sizeof(framing) / sizeof(*framing); i++) {
        snprintf(name, sizeof(name), "framing-%s", framing[i]);
        header_case(res, name, framing[i], "1");
    }
    for (size_t i = 0; i < sizeof(statuses) / sizeof(*statuses); i++)
        gn_response_printf(res, "status-%d %d\n", statuses[i],
                           gn_response_status(res, statuses[i], NULL));
    gn_response_printf(res, "reason-crlf %d\n",
                       gn_response_status(res, 200, "OK\r\nX-Evil: 1"));
    gn_response_printf(res, "reason-lf %d\n",
                       gn_response_status(res, 200, "O\nK"));
    gn_response_printf(res, "status-299 %d\n",
                       gn_response_status(res, 299, "Fine"));
    gn_response_printf(res, "status-200 %d\n",
                       gn_response_status(res, 200, NULL));
    if ((rc = gn_response_flush(res)) != 0)
        return rc;
    gn_response_printf(res, "after-header %d\n",
                       gn_response_header(res, "X-Late", "1"));
    gn_response_printf(res, "after-status %d\n",
                       gn_response_status(res, 404, NULL));
    return 0;
}

/* ---- /thread ---------------------------------------------------------- */

struct probe {
    gn_request_t *req;
    gn_response_t *res;
    gn_thread_t *green;
    gn_event_t *event;
    gn_sem_t *sem;
    gn_queue_t *queue;
    char out[2048];
    size_t len;
    atomic_int done;
};

static void note(struct probe *p, const char *call, long rc)
{
    int n = snprintf(p->out + p->len, sizeof(p->out) - p->len, "%s %ld\n", call,
                     rc);

    if (n > 0 && (size_t)n < sizeof(p->out) - p->len)
        p->len += (size_t)n;
}

static int idle(void *arg)
{
    (void)arg;
    return gn_sleep(10);
}

/* On the app's own thread: every call that touches the request, the
 * response or green state. Pointer results are noted as 0 for NULL. */
static void *probe_main(void *arg)
{
    struct probe *p = arg;
    char byte;
    void *item = NULL;

    note(p, "gn_response_write", gn_response_write(p->res, "x", 1));
    note(p, "gn_response_printf", gn_response_printf(p->res, "x"));
    note(p, "gn_response_flush", gn_response_flush(p->res));
    note(p, "gn_response_header", gn_response_header(p->res, "X-T", "1"));
    note(p, "gn_response_status", gn_response_status(p->res, 201, NULL));
    note(p, "gn_response_sendfile", gn_response_sendfile(p->res, 0, 0, 0));
    note(p, "gn_request_read", gn_request_read(p->req, &byte, 1));
    note(p, "gn_request_alloc", gn_request_alloc(p->req, 8) != NULL);
    note(p, "gn_sleep", gn_sleep(0.01));
    note(p, "gn_yield", gn_yield());
    note(p, "gn_wait_fd", gn_wait_fd(0, GN_WAIT_WRITE, 0));
    note(p, "gn_read", gn_read(0, &byte, 0, 0));
    note(p, "gn_write", gn_write(2, "", 0, 0));
    note(p, "gn_connect_tcp", gn_connect_tcp("127.0.0.1", 9, 0.01));
    note(p, "gn_connect_unix", gn_connect_unix("/nonexistent/x", 0.01));
    note(p, "gn_accept", gn_accept(0, NULL, NULL, 0));
    note(p, "gn_spawn", gn_spawn(idle, NULL) != NULL);
    note(p, "gn_kill", gn_kill(p->green));
    note(p, "gn_join", gn_join(p->green, 0, NULL));
    note(p, "gn_event_wait", gn_event_wait(p->event, 0));
    gn_event_set(p->event); /* ignored: noted by the handler */
    note(p, "gn_sem_acquire", gn_sem_acquire(p->sem, 0));
    note(p, "gn_queue_put", gn_queue_put(p->queue, p, 0));
    note(p, "gn_queue_get", gn_queue_get(p->queue, &item, 0));
    atomic_store(&p->done, 1);
    return NULL;
}

static int thread(gn_request_t *req, gn_response_t *res)
{
    struct probe *p = gn_request_alloc(req, sizeof(*p));
    pthread_t th;
    int rc = 0;

    if (p == NULL)
        return -ENOMEM;
    memset(p, 0, sizeof(*p));
    p->req = req;
    p->res = res;
    p->green = gn_spawn(idle, NULL);
    p->event = gn_event_new();
    p->sem = gn_sem_new(1);
    p->queue = gn_queue_new(1);
    if (!p->green || !p->event || !p->sem || !p->queue ||
        pthread_create(&th, NULL, probe_main, p) != 0) {
        rc = -ENOMEM;
        goto out;
    }
    /* Wait green, so the loop runs while the thread calls (as it would
     * for an app that hands work to a thread pool); at most 5 s. */
    for (int i = 0; i < 1000 && !atomic_load(&p->done); i++)
        gn_sleep(0.005);
    pthread_join(th, NULL);
    gn_response_write(res, p->out, p->len);
    gn_response_printf(res, "event-set-ignored %d\n",
                       !gn_event_is_set(p->event));
    gn_response_printf(res, "sem-left %d\n", gn_sem_acquire(p->sem, 0));
out:
    if (p->green) {
        gn_kill(p->green);
        gn_join(p->green, 5, NULL);
    }
    gn_event_free(p->event);
    gn_sem_free(p->sem);
    gn_queue_free(p->queue);
    return rc;
}

/* ---- the handler ------------------------------------------------------ */

static int handle(gn_request_t *req, gn_response_t *res, void *state)
{
    const char *path = gn_request_path(req), *query = gn_request_query(req);
    int slept, wrote, flushed;

    (void)state;
    if (strcmp(path, "/refuse") == 0)
        return refuse(res);
    if (strcmp(path, "/thread") == 0)
        return thread(req, res);
    if (strcmp(path, "/status") == 0) {
        int code = (int)param(query, "code", 200);

        return gn_response_printf(res, "status %d %d\n", code,
                                  gn_response_status(res, code, NULL));
    }
    if (strcmp(path, "/close") == 0) {
        int rc;

        if (query && strcmp(query, "how=header") == 0) {
            rc = gn_response_header(res, "Connection", "close");
        } else if (query && strcmp(query, "how=flush") == 0) {
            gn_response_printf(res, "streamed\n");
            if ((rc = gn_response_flush(res)) != 0)
                return rc;
            rc = gn_response_close_connection(res);
        } else {
            rc = gn_response_close_connection(res);
        }
        return gn_response_printf(res, "close %d\n", rc);
    }
    if (strcmp(path, "/finish") == 0) {
        slept = gn_sleep(param(query, "sleep", 0));
        wrote = gn_response_write(res, "done\n", 5);
        flushed = gn_response_flush(res);
        gn_log(GN_LOG_WARNING,
               "contract: finished (sleep %d, write %d, flush %d)", slept,
               wrote, flushed);
        return 0;
    }
    gn_response_status(res, 404, NULL);
    return 0;
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,
    .name = "contract",
    .handle = handle,
};
