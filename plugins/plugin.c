/*
 * App plugins: loaded and checked by plugins/loader.c, then inited and
 * finished here.
 */
#include "plugins/plugin.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "plugins/loader.h"

/* The name logs give APP: its own, or its file's. */
static void name_app(struct gn_app_plugin *app, const struct gn_app_conf *conf)
{
    const char *base = strrchr(conf->path, '/');

    snprintf(app->name, sizeof(app->name), "%s",
             app->desc.name ? app->desc.name
             : base         ? base + 1
                            : conf->path);
}

int gn__app_load(struct gn_app_plugin *app, const struct gn_app_conf *conf,
                 char err[GN_ERR_LEN])
{
    int rc;

    memset(app, 0, sizeof(*app));
    rc = gn__plugin_open_app(&app->dl, &app->desc, conf->path, conf->symbol,
                             err, GN_ERR_LEN);
    if (rc != 0)
        return rc;
    name_app(app, conf);
    app->conf = conf;
    return 0;
}

int gn__app_init(struct gn_app_plugin *app, const struct gn_app_conf *conf,
                 char err[GN_ERR_LEN])
{
    int rc;

    if (app->desc.init == NULL) {
        app->initialized = 1;
        return 0;
    }
    rc = app->desc.init(conf->args, conf->nargs, &app->state);
    if (rc != 0) {
        snprintf(err, GN_ERR_LEN, "app %s (%s): init failed: %s", app->name,
                 conf->path, strerror(rc < 0 ? -rc : rc));
        return rc < 0 ? rc : -rc;
    }
    app->initialized = 1;
    return 0;
}

void gn__app_unload(struct gn_app_plugin *app)
{
    if (app->initialized && app->desc.fini)
        app->desc.fini(app->state);
    app->initialized = 0;
    gn__plugin_close(app->dl);
    app->dl = NULL;
}
