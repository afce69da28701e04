/*
 * The `reload` setting (Gunicorn's --reload, for development): watch the
 * files a configuration is made of (each app's .so, each hook's .so and
 * the config file) with inotify, so the arbiter can reload (as on HUP)
 * when one changes.
 */
#ifndef GN_SERVER_RELOADER_H
#define GN_SERVER_RELOADER_H

#include "config/config.h"

struct gn_reloader;

/*
 * Watch CFG's app and hook plugins and CONFIG_PATH (NULL: none). The
 * directories holding them are watched, so a file replaced by a rename
 * (install, a linker writing a new file) is seen as well as one rewritten
 * in place. A reloader the caller frees with gn__reloader_free, or NULL
 * with ERR set.
 */
struct gn_reloader *gn__reloader_new(const struct gn_config *cfg,
                                     const char *config_path,
                                     char err[GN_ERR_LEN]);

/* The descriptor to poll for reading: readable when events are pending. */
int gn__reloader_fd(const struct gn_reloader *r);

/* Read the pending events: the path of a watched file that changed (valid
 * until the next call), or NULL. Never blocks. */
const char *gn__reloader_changed(struct gn_reloader *r);

void gn__reloader_free(struct gn_reloader *r);

#endif /* GN_SERVER_RELOADER_H */
