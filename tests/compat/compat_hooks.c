/*
 * compat_hooks: a hook plugin built against the frozen ABI 1.3 header
 * (tests/compat/abi-1.3/greenicorn.h), never against include/: a hook
 * compiled before the source tree was reshaped, loaded unrebuilt by every
 * later server. tests/e2e/test_compat.py names it for the hooks below and
 * reads the error log for their lines.
 *
 * Each call logs one line with gn_log at INFO:
 *
 *     compat-hook: post_request n=3 pid=4242 arbiter=4240 workers=1
 *     worker_id=1 worker_age=1 worker_pid=4242 request=GET:/compat/request
 *     http_status=200 (one line)
 *
 * where n counts the calls of that hook in the calling process. The
 * request fields are read only when the server's gn_hook_args_t has them
 * (GN_HOOK_ARGS_HAS), as a plugin for an older server would. on_starting
 * adds config_workers=N, read with gn_config_get.
 *
 * pre_request fails with -EACCES for a path ending in "/deny", so the test
 * can see the client get 500 without the app being called.
 *
 * worker_abort is not among them: it runs in a signal handler, where
 * gn_log is not safe.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <greenicorn.h>

static const char *const hook_names[] = {
    "on_starting",      "when_ready",   "pre_fork",     "post_fork",
    "post_worker_init", "pre_request",  "post_request", "worker_exit",
    "child_exit",       "nworkers_changed", "on_exit",
};

#define NHOOKS (sizeof(hook_names) / sizeof(hook_names[0]))

/* Calls of each hook in this process (a forked worker starts from the
 * arbiter's counts, which count only arbiter hooks). */
static int calls[NHOOKS];

/* One more call of HOOK: how many so far, or 0 for a hook not listed. */
static int count(const char *hook)
{
    for (size_t i = 0; i < NHOOKS; i++)
        if (strcmp(hook, hook_names[i]) == 0)
            return ++calls[i];
    return 0;
}

/* The request part of the line, when the server handed one. */
static void describe_request(const gn_hook_args_t *a, char *buf, size_t len)
{
    int n = 0;

    buf[0] = '\0';
    if (!GN_HOOK_ARGS_HAS(a, res) || a->req == NULL)
        return;
    n = snprintf(buf, len, " request=%s:%s", gn_request_method(a->req),
                 gn_request_path(a->req));
    if (n >= 0 && (size_t)n < len && a->res != NULL &&
        strcmp(a->hook, "post_request") == 0)
        snprintf(buf + n, len - (size_t)n, " http_status=%d",
                 gn_response_get_status(a->res));
}

/* The hook-specific part of the line. */
static void describe_extra(const gn_hook_args_t *a, char *buf, size_t len)
{
    char workers[32];

    buf[0] = '\0';
    if (strcmp(a->hook, "on_starting") == 0 &&
        gn_config_get("workers", workers, sizeof(workers)) >= 0)
        snprintf(buf, len, " config_workers=%s", workers);
    else if (strcmp(a->hook, "nworkers_changed") == 0)
        snprintf(buf, len, " old_workers=%d", a->old_workers);
    else if (strcmp(a->hook, "child_exit") == 0 ||
             strcmp(a->hook, "worker_exit") == 0)
        snprintf(buf, len, " status=%d", a->status);
}

static int denied(const gn_hook_args_t *a)
{
    const char *path;
    size_t len;

    if (strcmp(a->hook, "pre_request") != 0 || a->req == NULL)
        return 0;
    path = gn_request_path(a->req);
    len = strlen(path);
    return len >= 5 && strcmp(path + len - 5, "/deny") == 0;
}

static int compat_hook(const gn_hook_args_t *a)
{
    char request[512], extra[128];

    describe_request(a, request, sizeof(request));
    describe_extra(a, extra, sizeof(extra));
    gn_log(GN_LOG_INFO,
           "compat-hook: %s n=%d pid=%d arbiter=%d workers=%d worker_id=%d "
           "worker_age=%d worker_pid=%d%s%s",
           a->hook, count(a->hook), (int)a->pid, (int)a->arbiter_pid,
           a->workers, a->worker_id, a->worker_age, (int)a->worker_pid,
           request, extra);
    return denied(a) ? -EACCES : 0;
}

GN_HOOK(on_starting, compat_hook);
GN_HOOK(when_ready, compat_hook);
GN_HOOK(pre_fork, compat_hook);
GN_HOOK(post_fork, compat_hook);
GN_HOOK(post_worker_init, compat_hook);
GN_HOOK(pre_request, compat_hook);
GN_HOOK(post_request, compat_hook);
GN_HOOK(worker_exit, compat_hook);
GN_HOOK(child_exit, compat_hook);
GN_HOOK(nworkers_changed, compat_hook);
GN_HOOK(on_exit, compat_hook);
