/*
 * A configuration's apps, loaded, and the routing of a request path to
 * one of them. The plugin loader checks each app is one; here it is
 * named, inited and finished.
 */
#include "plugins/appset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Load and check CONF's app into APP: 0, or a negative errno with ERR
 * naming the file and the reason and nothing loaded. */
static int load_app(struct gn_app_plugin *app, const struct gn_app_conf *conf,
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

/* Call the app's init (when it has one) with CONF's args. 0, or the
 * negative errno init returned, with ERR naming the app. */
static int init_app(struct gn_app_plugin *app, const struct gn_app_conf *conf,
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

/* Call fini (when init succeeded), then dlclose. */
static void unload_app(struct gn_app_plugin *app)
{
    if (app->initialized && app->desc.fini)
        app->desc.fini(app->state);
    app->initialized = 0;
    gn__plugin_close(app->dl);
    app->dl = NULL;
}

/* Where an app's module was configured, for load errors. */
static void app_where(const struct gn_config *cfg,
                      const struct gn_app_conf *conf, const char *dflt,
                      char *out, size_t len)
{
    if (conf->name == NULL)
        snprintf(out, len, "%s", dflt);
    else if (cfg->file != NULL && conf->module_line > 0)
        snprintf(out, len, "%s:%d: [app:%s] module", cfg->file,
                 conf->module_line, conf->name);
    else
        snprintf(out, len, "[app:%s] module", conf->name);
}

/* Longest mount first; equal lengths keep config order (none are equal:
 * gn__config_check refuses a mount used twice). */
static int by_mount_length(const void *a, const void *b)
{
    const struct gn_app_plugin *x = a, *y = b;

    if (x->mount_len != y->mount_len)
        return x->mount_len < y->mount_len ? 1 : -1;
    return x->order - y->order;
}

/* CFG's stream apps into APPS->streams: 0, or a negative errno with ERR
 * naming the section and the reason (what was loaded stays for unload). */
static int load_streams(struct gn_apps *apps, const struct gn_config *cfg,
                        char err[GN_ERR_LEN])
{
    char why[GN_ERR_LEN];
    int rc;

    apps->streams = calloc(cfg->nstreams + 1, sizeof(*apps->streams));
    if (apps->streams == NULL) {
        snprintf(err, GN_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < cfg->nstreams; i++) {
        const struct gn_stream_conf *conf = &cfg->streams[i];
        struct gn_stream_plugin *st = &apps->streams[i];

        rc = gn__plugin_open_stream(&st->dl, &st->desc, conf->path,
                                    conf->symbol, why, sizeof(why));
        if (rc != 0) {
            if (cfg->file != NULL && conf->module_line > 0)
                snprintf(err, GN_ERR_LEN, "%.100s:%d: [stream:%.60s] module: "
                         "%.300s", cfg->file, conf->module_line, conf->name,
                         why);
            else
                snprintf(err, GN_ERR_LEN, "[stream:%.60s] module: %.400s",
                         conf->name, why);
            return rc;
        }
        st->conf = conf;
        apps->nstreams++;
    }
    return 0;
}

int gn__apps_load(struct gn_apps *apps, const struct gn_config *cfg,
                  const char *where_app, char err[GN_ERR_LEN])
{
    const struct gn_app_conf *confs[GN_MAX_APPS];
    size_t n = gn__config_apps(cfg, confs);
    char where[300], why[GN_ERR_LEN];
    int rc;

    apps->n = apps->nstreams = 0;
    apps->streams = NULL;
    apps->v = calloc(n ? n : 1, sizeof(*apps->v));
    if (apps->v == NULL) {
        snprintf(err, GN_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct gn_app_plugin *app = &apps->v[i];

        if ((rc = load_app(app, confs[i], why)) != 0) {
            app_where(cfg, confs[i], where_app, where, sizeof(where));
            snprintf(err, GN_ERR_LEN, "%.120s: %.380s", where, why);
            gn__apps_unload(apps);
            return rc;
        }
        app->order = (int)i;
        app->mount_len =
            strcmp(confs[i]->mount, "/") ? strlen(confs[i]->mount) : 0;
        apps->n++;
    }
    qsort(apps->v, apps->n, sizeof(*apps->v), by_mount_length);
    if ((rc = load_streams(apps, cfg, err)) != 0) {
        gn__apps_unload(apps);
        return rc;
    }
    return 0;
}

int gn__apps_init(struct gn_apps *apps, char err[GN_ERR_LEN])
{
    /* In config order: an app may count on one listed before it. */
    for (int order = 0; order < (int)apps->n; order++) {
        for (size_t i = 0; i < apps->n; i++) {
            int rc;

            if (apps->v[i].order != order)
                continue;
            rc = init_app(&apps->v[i], apps->v[i].conf, err);
            if (rc != 0)
                return rc;
        }
    }
    for (size_t i = 0; i < apps->nstreams; i++) {
        struct gn_stream_plugin *st = &apps->streams[i];
        int rc = st->desc.init ? st->desc.init(st->conf->args,
                                               st->conf->nargs, &st->state)
                               : 0;

        if (rc != 0) {
            snprintf(err, GN_ERR_LEN,
                     "stream app [stream:%s] (%s): init failed: %s",
                     st->conf->name, st->conf->path,
                     strerror(rc < 0 ? -rc : rc));
            return rc < 0 ? rc : -rc;
        }
        st->initialized = 1;
    }
    return 0;
}

void gn__apps_unload(struct gn_apps *apps)
{
    for (size_t i = 0; i < apps->n; i++)
        unload_app(&apps->v[i]);
    free(apps->v);
    apps->v = NULL;
    apps->n = 0;
    for (size_t i = 0; i < apps->nstreams; i++) {
        struct gn_stream_plugin *st = &apps->streams[i];

        if (st->initialized && st->desc.fini)
            st->desc.fini(st->state);
        gn__plugin_close(st->dl);
    }
    free(apps->streams);
    apps->streams = NULL;
    apps->nstreams = 0;
}

struct gn_stream_plugin *gn__apps_stream(const struct gn_apps *apps,
                                         const char *name)
{
    for (size_t i = 0; i < apps->nstreams; i++)
        if (strcmp(apps->streams[i].conf->name, name) == 0)
            return &apps->streams[i];
    return NULL;
}

struct gn_app_plugin *gn__apps_route(const struct gn_apps *apps,
                                     const char *path, size_t *script_len)
{
    for (size_t i = 0; i < apps->n; i++) {
        struct gn_app_plugin *app = &apps->v[i];
        size_t len = app->mount_len;

        if (len == 0 || (strncmp(path, app->conf->mount, len) == 0 &&
                         (path[len] == '\0' || path[len] == '/'))) {
            *script_len = len;
            return app;
        }
    }
    return NULL;
}
