/*
 * Server hooks: the [hooks] plugins of the running configuration, loaded
 * once in the arbiter (workers inherit them through fork), and the calls
 * the arbiter and the workers make at Gunicorn's moments.
 */
#ifndef GN_PLUGINS_HOOKS_H
#define GN_PLUGINS_HOOKS_H

#include <sys/types.h>

#include "config/config.h"
#include "greenicorn.h"

struct gn_hook_set;

/* Load every hook CFG names: a set to install or discard, or NULL with
 * ERR saying "FILE:LINE: post_fork: reason". */
struct gn_hook_set *gn__hooks_open(const struct gn_config *cfg,
                                   char err[GN_ERR_LEN]);

/* Make SET this process's hooks (taking it over; NULL: none); the
 * previous ones are unloaded. */
void gn__hooks_install(struct gn_hook_set *set);

/* Make SET this process's hooks and return the previous ones, still
 * loaded: the caller owns them (to install again, or discard). */
struct gn_hook_set *gn__hooks_swap(struct gn_hook_set *set);

/* Unload SET without installing it. */
void gn__hooks_discard(struct gn_hook_set *set);

/* What hooks see of the server, and what gn_config_get reads: set by the
 * arbiter as it starts and whenever they change (CFG must stay valid
 * until the next call). */
void gn__hooks_set_server(pid_t arbiter_pid, const struct gn_config *cfg,
                          int workers);

/* Whether hook ID is configured. */
int gn__hook_configured(enum gn_hook_id id);

/* ARGS for hook ID called from this process: the server's fields set, the
 * rest zero. */
void gn__hook_args_init(gn_hook_args_t *args, enum gn_hook_id id);

/* Call hook ID (when configured) with ARGS: 0, or its negative errno
 * after logging the failure. */
int gn__hook_call(enum gn_hook_id id, gn_hook_args_t *args);

/* Call hook ID with only the server's fields. */
int gn__hook_run(enum gn_hook_id id);

#endif /* GN_PLUGINS_HOOKS_H */
