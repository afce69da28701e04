/*
 * App plugins: loaded and checked by the plugin loader (plugins/loader.h),
 * then their init and fini called.
 */
#ifndef GN_PLUGINS_PLUGIN_H
#define GN_PLUGINS_PLUGIN_H

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

/*
 * Load CONF->path and check its CONF->symbol (gn__plugin_open_app: ABI
 * major version, struct size, a handle function). On failure ERR
 * names the file and the reason, nothing stays loaded, and a negative errno
 * is returned. The caller owns APP until gn__app_unload().
 */
int gn__app_load(struct gn_app_plugin *app, const struct gn_app_conf *conf,
                 char err[GN_ERR_LEN]);

/* Call the app's init (when it has one) with CONF's args. 0, or the
 * negative errno init returned, with ERR naming the app. */
int gn__app_init(struct gn_app_plugin *app, const struct gn_app_conf *conf,
                 char err[GN_ERR_LEN]);

/* Call fini (when init succeeded), then dlclose. */
void gn__app_unload(struct gn_app_plugin *app);

#endif /* GN_PLUGINS_PLUGIN_H */
