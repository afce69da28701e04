/*
 * The process settings of [process]: what the arbiter does to itself
 * before serving (chdir, umask, environment, detaching, ownership of
 * what workers reopen). A worker drops its privileges with
 * core/privileges.h.
 */
#ifndef GN_SERVER_PROCESS_H
#define GN_SERVER_PROCESS_H

#include <stddef.h>

#include "config/config.h"
#include "core/listen.h"

/* chdir, umask and raw_env, as CFG says. 0, or -errno with ERR set. */
int gn__process_setup(const struct gn_config *cfg, char err[GN_ERR_LEN]);

/* Detach: fork twice, new session, standard streams on /dev/null (the
 * logs are files or lost, as with Gunicorn's daemon). Returns in the
 * daemon only; the command that started it exits 0. */
int gn__process_daemonize(char err[GN_ERR_LEN]);

/* Let CFG's user own the files the workers reopen or serve: the log
 * files and unix sockets. */
void gn__process_chown(const struct gn_config *cfg,
                       const struct gn_listener *ls, size_t nls);

#endif /* GN_SERVER_PROCESS_H */
