/*
 * A configuration's apps, loaded: each [app] plugin opened and checked by
 * the plugin loader, inited and finished in config order, and kept in the
 * order routing tries them (longest mount first). What the [app] sections
 * say is config/apps.c's; this is what a worker (or, with preload_app, the
 * arbiter) holds of them.
 */
#ifndef GN_PLUGINS_APPSET_H
#define GN_PLUGINS_APPSET_H

#include <stddef.h>

#include "config/config.h"
#include "greenicorn.h"

struct gn_app_plugin {
    void *dl;      /* dlopen handle */
    gn_app_t desc; /* the descriptor, fields the plugin lacks zeroed */
    void *state;   /* what init stored, handed to every handle() */
    int initialized;
    char name[64];                  /* desc.name, or the file name, for logs */
    const struct gn_app_conf *conf; /* what the config says of it */
    size_t mount_len;               /* 0 for "/" */
    int order;                      /* its place in the config */
};

/* A stream app ([stream:NAME]), loaded. */
struct gn_stream_plugin {
    void *dl;
    gn_stream_app_t desc; /* fields the plugin lacks zeroed */
    void *state;          /* what init stored, handed to every handle() */
    int initialized;
    const struct gn_stream_conf *conf;
};

struct gn_apps {
    struct gn_app_plugin *v; /* longest mount first */
    size_t n;
    struct gn_stream_plugin *streams; /* in config order */
    size_t nstreams;
};

/*
 * Load every app of CFG into APPS (gn__plugin_open_app: ABI major version,
 * struct size, a handle function), then its stream apps
 * (gn__plugin_open_stream). APP_WHERE names where [app]'s module
 * was set, for messages ("APP", or "FILE:LINE: module"). 0, or a negative
 * errno with ERR naming the file and the reason and nothing loaded. The
 * caller owns APPS until gn__apps_unload().
 */
int gn__apps_load(struct gn_apps *apps, const struct gn_config *cfg,
                  const char *app_where, char err[GN_ERR_LEN]);

/* Call each app's init, in config order, then each stream app's. 0, or the first failure's
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
 *
 * It stays beside the set it walks until http/ takes mount routing (a
 * later step of issue #12). http/ sits below plugins/, so there the
 * mounts will be handed down to it rather than this header included.
 */
/* The stream app of [stream:NAME], or NULL. */
struct gn_stream_plugin *gn__apps_stream(const struct gn_apps *apps,
                                         const char *name);

struct gn_app_plugin *gn__apps_route(const struct gn_apps *apps,
                                     const char *path, size_t *script_len);

#endif /* GN_PLUGINS_APPSET_H */
