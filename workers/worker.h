/*
 * A worker process: after the arbiter forks it, it loads the app, runs one
 * event loop that accepts connections and serves each in a coroutine, and
 * proves it is alive through a heartbeat the arbiter watches.
 */
#ifndef GN_WORKERS_WORKER_H
#define GN_WORKERS_WORKER_H

#include <sys/types.h>

#include "config/config.h"
#include "core/listen.h"
#include "plugins/appset.h"
#include "workers/heartbeat.h"

/* Exit statuses a worker reports to the arbiter (Gunicorn's). */
#define GN_EXIT_OK 0
#define GN_EXIT_BOOT_ERROR 3 /* the app could not start: stop everything */

struct gn_balance;
struct gn_worker; /* workers/state.h */

/* What the arbiter hands a worker it forks (all of it inherited memory). */
struct gn_worker_spec {
    int id, age;
    /* The arbiter's pid, read before the fork: after it, getppid() may
     * already name init if the arbiter died in between. */
    pid_t arbiter;
    const struct gn_config *cfg;
    struct gn_listener *ls;
    size_t nls;
    struct gn_heartbeat *heartbeat;
    struct gn_balance *balance; /* NULL: none */
    int balance_slot;           /* -1: none */
    /* preload_app: the apps the arbiter loaded and inited; NULL: the
     * worker loads CFG's apps itself. */
    const struct gn_apps *preloaded;
};

/* --check-config's trial child, which runs the apps' init and fini as a
 * worker would: give it the green runtime a worker gives init (a loop,
 * coroutines, green threads), so an init that spawns a green thread (a
 * Redis subscription) passes there too; the threads never run. 0, or -1
 * with errno set. */
int gn__worker_trial_begin(const struct gn_config *cfg);

/* ... and before fini: cancel those threads, as a stopping worker does. */
void gn__worker_trial_end(void);

/* Run a worker in the freshly forked child and return its exit status. */
int gn__worker_run(const struct gn_worker_spec *spec);

/* ARGS for hook ID called in worker W: its id, age and pid set. */
void gn__worker_hook_args(const struct gn_worker *w, gn_hook_args_t *args,
                          enum gn_hook_id id);


struct gn_request;

/* Record that REQ's code runs now (NULL: none) for the arbiter's logs. */
void gn__worker_serving(struct gn_worker *w, struct gn_request *req);

/* Called by a connection when it closes, and after each response. */
void gn__worker_conn_closed(struct gn_worker *w);
void gn__worker_request_done(struct gn_worker *w);

#endif /* GN_WORKERS_WORKER_H */
