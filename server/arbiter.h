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
 * Supervise workers serving on LS until told to stop; returns the process
 * exit status. Takes ownership of LS (closed, unix sockets unlinked, before
 * returning). CFG must outlive the call.
 */
int gn__arbiter_run(struct gn_config *cfg, struct gn_listener *ls, size_t nls);

#endif /* GN_SERVER_ARBITER_H */
