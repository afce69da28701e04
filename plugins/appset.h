/*
 * The apps a worker serves: every app of the configuration loaded, in the
 * order routing tries them (longest mount first), and the routing itself.
 */
#ifndef GN_PLUGINS_APPSET_H
#define GN_PLUGINS_APPSET_H

#include <stddef.h>

#include "config/config.h"
#include "plugins/plugin.h"

struct gn_apps {
    struct gn_app_plugin *v; /* longest mount first */
    size_t n;
};

/*
 * Load every app of CFG into APPS. APP_WHERE names where [app]'s module
 * was set, for messages ("APP", or "FILE:LINE: module"). 0, or a negative
 * errno with ERR naming the file and the reason and nothing loaded.
 */
int gn__apps_load(struct gn_apps *apps, const struct gn_config *cfg,
                  const char *app_where, char err[GN_ERR_LEN]);

/* Call each app's init, in config order. 0, or the first failure's
 * negative errno with ERR set (the apps inited so far stay inited: unload
 * calls their fini). */
int gn__apps_init(struct gn_apps *apps, char err[GN_ERR_LEN]);

/* Call the fini of each inited app and dlclose them all. */
void gn__apps_unload(struct gn_apps *apps);

/*
 * The app whose mount is the longest prefix of PATH ending at a segment
 * boundary ("/api" serves "/api" and "/api/x", not "/apix"), or NULL. The
 * mount's length (0 for "/") goes to *SCRIPT_LEN: PATH splits there into
 * SCRIPT_NAME and PATH_INFO.
 */
struct gn_app_plugin *gn__apps_route(const struct gn_apps *apps,
                                     const char *path, size_t *script_len);

#endif /* GN_PLUGINS_APPSET_H */
