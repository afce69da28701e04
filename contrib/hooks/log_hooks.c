/*
 * log_hooks: a hook plugin for every Gunicorn server hook, each appending
 * one line to a file with the hook's name, the calling pid and what the
 * hook was given. The e2e tests read the file to check which hook ran
 * when, and in which process; it also shows how hooks are written.
 *
 *     [hooks]
 *     on_starting = build/contrib/hooks/log_hooks.so
 *     post_fork = build/contrib/hooks/log_hooks.so
 *     ...                          (each key: the same file)
 *
 * Environment (hooks take no config arguments):
 *
 *     GREENICORN_HOOK_LOG=PATH     where lines go (default: stderr)
 *     GREENICORN_HOOK_FAIL=a,b     these hooks return -EPERM, to test
 *                                  what a failing hook does
 *
 * A line:
 *
 *     hook=post_fork pid=4242 arbiter=4240 workers=2 worker_id=1
 *     worker_age=1 worker_pid=4242 (one line)
 *
 * plus old_workers=N for nworkers_changed, status=N for child_exit and
 * worker_exit, request=METHOD:PATH, path_info=... and http_status=N for the
 * request hooks, and bind=... for on_starting (read with gn_config_get).
 *
 * worker_abort runs inside a signal handler, so every hook here formats
 * its line by hand and writes it with one write(2): no stdio, no malloc,
 * nothing that is unsafe there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <greenicorn.h>

struct line {
    char buf[1024];
    size_t len;
};

static void put(struct line *l, const char *s)
{
    size_t n = strlen(s);

    if (n > sizeof(l->buf) - 1 - l->len)
        n = sizeof(l->buf) - 1 - l->len;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_int(struct line *l, const char *key, long v)
{
    char digits[24], *p = digits + sizeof(digits);
    unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;

    *--p = '\0';
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--p = '-';
    put(l, " ");
    put(l, key);
    put(l, "=");
    put(l, p);
}

/* Whether NAME is listed in GREENICORN_HOOK_FAIL (getenv is safe enough
 * here: nothing changes the environment while hooks run). */
static int asked_to_fail(const char *name)
{
    const char *list = getenv("GREENICORN_HOOK_FAIL");
    size_t n = strlen(name);

    for (const char *p = list; p != NULL && *p != '\0';) {
        size_t len = strcspn(p, ",");

        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

static void emit(const struct line *l)
{
    const char *path = getenv("GREENICORN_HOOK_LOG");
    int fd =
        path ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : 2;

    if (fd < 0)
        return;
    if (write(fd, l->buf, l->len) < 0) {
        /* Nowhere to report it: the test will miss the line. */
    }
    if (fd != 2)
        close(fd);
}

static int log_hook(const gn_hook_args_t *a)
{
    struct line l = {.len = 0};
    char bind[256];

    put(&l, "hook=");
    put(&l, a->hook);
    put_int(&l, "pid", a->pid);
    put_int(&l, "arbiter", a->arbiter_pid);
    put_int(&l, "workers", a->workers);
    if (a->worker_id != 0) {
        put_int(&l, "worker_id", a->worker_id);
        put_int(&l, "worker_age", a->worker_age);
        put_int(&l, "worker_pid", a->worker_pid);
    }
    if (strcmp(a->hook, "nworkers_changed") == 0)
        put_int(&l, "old_workers", a->old_workers);
    if (strcmp(a->hook, "child_exit") == 0 ||
        strcmp(a->hook, "worker_exit") == 0)
        put_int(&l, "status", a->status);
    if (a->req != NULL) {
        put(&l, " request=");
        put(&l, gn_request_method(a->req));
        put(&l, ":");
        put(&l, gn_request_path(a->req));
        put(&l, " path_info=");
        put(&l, gn_request_path_info(a->req));
    }
    if (a->res != NULL && strcmp(a->hook, "post_request") == 0)
        put_int(&l, "http_status", gn_response_get_status(a->res));
    if (strcmp(a->hook, "on_starting") == 0 &&
        gn_config_get("bind", bind, sizeof(bind)) >= 0) {
        put(&l, " bind=");
        put(&l, bind);
    }
    put(&l, "\n");
    emit(&l);
    return asked_to_fail(a->hook) ? -EPERM : 0;
}

GN_HOOK(on_starting, log_hook);
GN_HOOK(on_reload, log_hook);
GN_HOOK(when_ready, log_hook);
GN_HOOK(pre_fork, log_hook);
GN_HOOK(post_fork, log_hook);
GN_HOOK(post_worker_init, log_hook);
GN_HOOK(worker_int, log_hook);
GN_HOOK(worker_abort, log_hook);
GN_HOOK(pre_exec, log_hook);
GN_HOOK(pre_request, log_hook);
GN_HOOK(post_request, log_hook);
GN_HOOK(child_exit, log_hook);
GN_HOOK(worker_exit, log_hook);
GN_HOOK(nworkers_changed, log_hook);
GN_HOOK(on_exit, log_hook);
