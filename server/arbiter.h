/*
 * The arbiter: the master process. It owns the listening sockets, forks
 * the workers and keeps their number right, replaces any that die or hang,
 * and turns signals into actions (Gunicorn's table). It never serves a
 * request itself.
 */
#ifndef GN_SERVER_ARBITER_H
#define GN_SERVER_ARBITER_H

#include <stddef.h>

#include "config/config.h"
#include "server/listen.h"

/* Exit statuses of the arbiter. */
#define GN_EXIT_CLEAN 0
#define GN_EXIT_CONFIG 1 /* bad config, an address that would not bind */
#define GN_EXIT_USAGE 2  /* bad command line */
#define GN_EXIT_BOOT 3   /* a worker failed to boot (as Gunicorn) */

/*
 * Build the configuration afresh for a reload (HUP): defaults, the config
 * file, the command line, the app checked. A new config owned by the
 * caller, or NULL with ERR ("FILE:LINE: key: reason") set.
 */
typedef struct gn_config *(*gn__reconfigure_fn)(void *ctx,
                                                char err[GN_ERR_LEN]);

/*
 * Supervise workers serving on LS until told to stop; returns the process
 * exit status. Takes ownership of CFG and LS (freed, closed and unix
 * sockets unlinked before returning); calls RECONFIGURE(CTX) on HUP.
 */
int gn__arbiter_run(struct gn_config *cfg, struct gn_listener *ls, size_t nls,
                    gn__reconfigure_fn reconfigure, void *ctx);

#endif /* GN_SERVER_ARBITER_H */
