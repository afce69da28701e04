/*
 * App plugins. A plugin is trusted code in the worker's address space; what
 * we can check is that it is the kind of object we expect: the symbol
 * exists, its first fields say it was built against our ABI major version,
 * and it carries a handler. Anything else is refused with a message naming
 * the file, before any socket is bound.
 */
#include "plugins/plugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* The descriptor size of ABI 1.0, the smallest we accept. */
#define APP_V1_0_SIZE (offsetof(gn_app_t, fini) + sizeof(void (*)(void *)))

static int check_desc(const gn_app_t *d, const struct gn_app_conf *conf,
                      char *err)
{
    unsigned major = d->abi_version >> 16, minor = d->abi_version & 0xffff;

    if (major != GN_ABI_VERSION_MAJOR) {
        snprintf(err, GN_ERR_LEN,
                 "%s: %s was built for plugin ABI %u.%u, this greenicorn "
                 "speaks %d.%d: rebuild it against this greenicorn.h",
                 conf->path, conf->symbol, major, minor, GN_ABI_VERSION_MAJOR,
                 GN_ABI_VERSION_MINOR);
        return -EPROTO;
    }
    if (d->struct_size < APP_V1_0_SIZE) {
        snprintf(err, GN_ERR_LEN,
                 "%s: %s is %u bytes, smaller than any gn_app_t: is it an "
                 "app descriptor?",
                 conf->path, conf->symbol, d->struct_size);
        return -EPROTO;
    }
    return 0;
}

static void copy_desc(struct gn_app_plugin *app, const gn_app_t *d,
                      const struct gn_app_conf *conf)
{
    const char *base = strrchr(conf->path, '/');

    memset(&app->desc, 0, sizeof(app->desc));
    memcpy(&app->desc, d,
           d->struct_size < sizeof(app->desc) ? d->struct_size
                                              : sizeof(app->desc));
    snprintf(app->name, sizeof(app->name), "%s",
             app->desc.name ? app->desc.name
             : base         ? base + 1
                            : conf->path);
}

int gn__app_load(struct gn_app_plugin *app, const struct gn_app_conf *conf,
                 char err[GN_ERR_LEN])
{
    const gn_app_t *d;
    char path[PATH_MAX];
    int rc;

    memset(app, 0, sizeof(*app));
    /* dlopen("x.so") searches the library path; users mean ./x.so. */
    snprintf(path, sizeof(path), "%s%s", strchr(conf->path, '/') ? "" : "./",
             conf->path);
    app->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (app->dl == NULL) {
        /* dlerror() already names the file. */
        snprintf(err, GN_ERR_LEN, "cannot load the app: %s", dlerror());
        return -ENOENT;
    }
    d = dlsym(app->dl, conf->symbol);
    if (d == NULL) {
        snprintf(err, GN_ERR_LEN,
                 "%s: no symbol '%s' (export a gn_app_t "
                 "named %s, or name it as PATH.so:SYMBOL)",
                 conf->path, conf->symbol, conf->symbol);
        rc = -ENOENT;
        goto fail;
    }
    if ((rc = check_desc(d, conf, err)) != 0)
        goto fail;
    copy_desc(app, d, conf);
    app->conf = conf;
    if (app->desc.handle == NULL) {
        snprintf(err, GN_ERR_LEN, "%s: %s has no handle function", conf->path,
                 conf->symbol);
        rc = -EPROTO;
        goto fail;
    }
    return 0;

fail:
    dlclose(app->dl);
    app->dl = NULL;
    return rc;
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
    if (app->dl)
        dlclose(app->dl);
    app->dl = NULL;
}
