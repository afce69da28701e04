/*
 * greenicorn/hooks.h - Gunicorn's server hooks: the descriptor a hook
 * plugin exports (gn_hook_t), what a hook is called with (gn_hook_args_t),
 * the hooks' names and symbols, and gn_config_get, the settings as hooks
 * (and apps) read them.
 *
 * Part of the plugin ABI: a plugin includes <greenicorn.h>, which includes
 * this header; the rules for threads and errors are written there.
 */
#ifndef GREENICORN_HOOKS_H
#define GREENICORN_HOOKS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "greenicorn/http.h"
#include "greenicorn/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Server hooks
 * ------------------------------------------------------------------------ */

/*
 * Gunicorn's server hooks. Each is a key of the [hooks] config section
 * naming `PATH.so[:SYMBOL]`; the symbol (by default "greenicorn_" and the
 * hook's name, e.g. greenicorn_post_fork) is a gn_hook_t, most simply
 * defined with GN_HOOK(post_fork, my_function). The server calls it at
 * the moment, and in the process, Gunicorn calls the hook of that name:
 *
 *   hook              process  when
 *   on_starting       arbiter  before the sockets are bound
 *   nworkers_changed  arbiter  the number of workers wanted changed (at
 *                              start from 0, on TTIN/TTOU, on HUP)
 *   when_ready        arbiter  the sockets are bound, before any worker
 *   pre_fork          arbiter  before forking a worker (worker_pid is 0)
 *   post_fork         worker   just after the fork, before the apps load
 *   post_worker_init  worker   the apps' init ran; next, it accepts
 *   pre_request       worker   before an app handles a request
 *   post_request      worker   after the response was sent
 *   worker_int        worker   on SIGINT or SIGQUIT (a quick stop)
 *   worker_abort      worker   on SIGABRT (the arbiter's timeout): runs in
 *                              a signal handler, so async-signal-safe calls
 *                              only (write(2), not printf or gn_log)
 *   worker_exit       worker   as it exits, after the apps' fini (on a
 *                              quick stop, after worker_int, without fini)
 *   child_exit        arbiter  a worker exited (status says how)
 *   on_reload         arbiter  on HUP, once the new configuration loaded
 *   pre_exec          new      on USR2, in the forked child, just before
 *                    arbiter   it execs the new binary
 *   on_exit           arbiter  just before it exits
 *
 * A hook returns 0, or a negative errno for failure: the failure is
 * logged; in on_starting, when_ready, post_fork and post_worker_init it
 * stops start-up (as a worker that cannot boot does: exit status 1 or 3),
 * and in pre_request the client gets 500 and the app is not called.
 */
typedef struct gn_hook_args {
    uint32_t struct_size;    /* sizeof(gn_hook_args_t) in the server */
    const char *hook;        /* the hook's name: "post_fork" */
    pid_t pid;               /* the calling process */
    pid_t arbiter_pid;       /* the arbiter (for pre_exec: the old one) */
    const char *config_file; /* the config file read, or NULL */
    int workers;             /* the number of workers wanted */
    int old_workers;         /* nworkers_changed: the previous number */
    int worker_id;      /* worker hooks, pre_fork, child_exit: 1..workers, the
                           worker's slot (a replacement reuses its id) */
    int worker_age;     /* ...: a count of forks, new for every worker */
    pid_t worker_pid;   /* ...: the worker's pid (0 in pre_fork) */
    int status;         /* child_exit, worker_exit: the wait(2) status (use
                           WIFEXITED, WEXITSTATUS, WIFSIGNALED, WTERMSIG) */
    gn_request_t *req;  /* pre_request, post_request */
    gn_response_t *res; /* pre_request, post_request */
} gn_hook_args_t;

/* Whether ARGS, from a server possibly older than the plugin, has FIELD:
 * minor ABI versions only append fields. */
#define GN_HOOK_ARGS_HAS(args, field)                                          \
    ((args)->struct_size >=                                                    \
     offsetof(gn_hook_args_t, field) + sizeof((args)->field))

/* What a hook plugin exports, one per hook. HOOK names the hook it is
 * written for (checked against the config key; NULL for any hook). */
typedef struct gn_hook {
    uint32_t abi_version; /* GN_ABI_VERSION the plugin was built with */
    uint32_t struct_size; /* sizeof(gn_hook_t) the plugin was built with */
    const char *hook;     /* "post_fork", or NULL */
    int (*call)(const gn_hook_args_t *args);
} gn_hook_t;

#define GN_HOOK_HEADER                                                         \
    .abi_version = GN_ABI_VERSION, .struct_size = sizeof(gn_hook_t)

/* Export FN as the hook NAME under its default symbol. */
#define GN_HOOK(name, fn)                                                      \
    GN_EXPORT const gn_hook_t greenicorn_##name = {GN_HOOK_HEADER,             \
                                                   .hook = #name, .call = fn}

/* The prefix of a hook's default symbol. */
#define GN_HOOK_SYMBOL_PREFIX "greenicorn_"

/*
 * The effective value of the setting NAME (its config key: "bind",
 * "workers", "timeout"...) as --print-config writes it, into BUF (LEN
 * bytes, NUL-terminated): what Gunicorn's hooks read from server.cfg. The
 * value's length, -ENOENT for an unknown name, or -ERANGE when LEN is too
 * small. Since ABI 1.2.
 */
GN_API int gn_config_get(const char *name, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* GREENICORN_HOOKS_H */
