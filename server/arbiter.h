/*
 * The arbiter: the master process. It owns the listening sockets, forks
 * the workers and keeps their number right, replaces any that die or hang,
 * and turns signals into actions (Gunicorn's table). It never serves a
 * request itself.
 */
#ifndef GN_SERVER_ARBITER_H
#define GN_SERVER_ARBITER_H

#include <stddef.h>
#include <sys/types.h>

#include "config/config.h"
#include "core/listen.h"
#include "plugins/appset.h"

/* Exit statuses of the arbiter. */
#define GN_EXIT_CLEAN 0
#define GN_EXIT_CONFIG 1 /* bad config, an address that would not bind */
#define GN_EXIT_USAGE 2  /* bad command line */
#define GN_EXIT_BOOT 3   /* a worker failed to boot (as Gunicorn) */

/* What the arbiter asks of main, which knows the command line. */
struct gn_arbiter_ops {
    /* HUP: build the configuration afresh (defaults, the config file, the
     * command line, the app checked). A new config owned by the caller, or
     * NULL with ERR ("FILE:LINE: key: reason") set. */
    struct gn_config *(*reconfigure)(void *ctx, char err[GN_ERR_LEN]);
    /* USR2: fork and exec the binary again, as it was started, handing it
     * the listening sockets LS. The new arbiter's pid, or -errno. */
    pid_t (*reexec)(void *ctx, const struct gn_listener *ls, size_t nls);
    void *ctx;
    /* This arbiter was started by an old one's USR2: under systemd it
     * tells its pid (MAINPID=) with its first readiness. */
    int upgraded;
    /* The config file a reload reads (absolute), or NULL: watched with
     * `reload`. */
    const char *config_path;
};

/* The environment variable that hands listening sockets to a new arbiter
 * (USR2): their descriptor numbers, separated by spaces, each followed by
 * ":NAME" when it is the socket of [stream:NAME]. */
#define GN_ENV_FDS "GREENICORN_FDS"

/* ... and the instance token its workers reach each other with
 * (net/peer.h), so that old and new workers still do during the
 * upgrade. */
#define GN_ENV_PEER_TOKEN "GREENICORN_PEER_TOKEN"

/*
 * Supervise workers serving on LS until told to stop; returns the process
 * exit status. Takes ownership of CFG, LS and APPS (the preloaded apps, or
 * NULL): freed, closed (unix sockets unlinked, unless a new arbiter took
 * them over) and fini'd before returning.
 */
int gn__arbiter_run(struct gn_config *cfg, struct gn_listener *ls, size_t nls,
                    struct gn_apps *apps, const struct gn_arbiter_ops *ops);

/* preload_app: load CFG's apps and run their init in this process, to be
 * handed to gn__arbiter_run. NULL with ERR naming the app when one fails. */
struct gn_apps *gn__arbiter_preload(const struct gn_config *cfg,
                                    char err[GN_ERR_LEN]);

/* Send the logs to syslog too, or stop, as CFG's syslog settings say.
 * 0, or -errno with ERR (GN_ERR_LEN bytes) set. */
int gn__arbiter_syslog(const struct gn_config *cfg, char *err);

#endif /* GN_SERVER_ARBITER_H */
