/*
 * The `reload` setting: inotify watches on the directories of the files a
 * configuration is made of, each event's name matched against them.
 * Watching the directory, not the file, sees the new file behind a name
 * after a rename or an unlink-and-create; a watch on the file itself
 * would stay on the old inode.
 */
#include "server/reloader.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define MAX_FILES (GN_MAX_APPS + GN_HOOK_COUNT + 1)
#define EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ATTRIB)

struct watched {
    int wd;                /* the directory's watch */
    char path[PATH_MAX];   /* as the configuration names it */
    const char *base;      /* its last component, in PATH */
};

struct gn_reloader {
    int fd;
    size_t n;
    struct watched files[MAX_FILES];
};

/* Watch PATH (a plugin spec "PATH.so:SYMBOL" is cut at ':' by the
 * caller). 0, or -errno with ERR set. */
static int watch_file(struct gn_reloader *r, const char *path, size_t len,
                      char err[GN_ERR_LEN])
{
    struct watched *w = &r->files[r->n];
    char dir[PATH_MAX];
    const char *slash;

    if (r->n == MAX_FILES || len == 0 || len >= sizeof(w->path))
        return 0;
    memcpy(w->path, path, len);
    w->path[len] = '\0';
    slash = strrchr(w->path, '/');
    w->base = slash ? slash + 1 : w->path;
    if (slash == w->path)
        snprintf(dir, sizeof(dir), "/");
    else if (slash)
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - w->path), w->path);
    else
        snprintf(dir, sizeof(dir), ".");
    w->wd = inotify_add_watch(r->fd, dir, EVENTS);
    if (w->wd < 0) {
        int rc = -errno;

        snprintf(err, GN_ERR_LEN, "reload: cannot watch %.300s: %s", dir,
                 strerror(errno));
        return rc;
    }
    r->n++;
    return 0;
}

/* The .so path of a plugin spec: up to a ':' after the last '/'. */
static size_t spec_path_len(const char *spec)
{
    const char *slash = strrchr(spec, '/');
    const char *colon = strchr(slash ? slash : spec, ':');

    return colon ? (size_t)(colon - spec) : strlen(spec);
}

struct gn_reloader *gn__reloader_new(const struct gn_config *cfg,
                                     const char *config_path,
                                     char err[GN_ERR_LEN])
{
    const struct gn_app_conf *apps[GN_MAX_APPS];
    size_t napps = gn__config_apps(cfg, apps);
    struct gn_reloader *r = calloc(1, sizeof(*r));
    int rc = 0;

    if (r == NULL) {
        snprintf(err, GN_ERR_LEN, "reload: out of memory");
        return NULL;
    }
    r->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (r->fd < 0) {
        snprintf(err, GN_ERR_LEN, "reload: inotify: %s", strerror(errno));
        free(r);
        return NULL;
    }
    for (size_t i = 0; rc == 0 && i < napps; i++)
        if (apps[i]->path != NULL)
            rc = watch_file(r, apps[i]->path, strlen(apps[i]->path), err);
    for (size_t i = 0; rc == 0 && i < cfg->nstreams; i++)
        if (cfg->streams[i].path != NULL)
            rc = watch_file(r, cfg->streams[i].path,
                            strlen(cfg->streams[i].path), err);
    for (size_t i = 0; rc == 0 && i < GN_HOOK_COUNT; i++)
        if (cfg->hooks[i] != NULL)
            rc = watch_file(r, cfg->hooks[i], spec_path_len(cfg->hooks[i]),
                            err);
    if (rc == 0 && config_path != NULL)
        rc = watch_file(r, config_path, strlen(config_path), err);
    if (rc != 0) {
        gn__reloader_free(r);
        return NULL;
    }
    return r;
}

int gn__reloader_fd(const struct gn_reloader *r)
{
    return r->fd;
}

/* The watched file EV names, or NULL. */
static const char *match(const struct gn_reloader *r,
                         const struct inotify_event *ev)
{
    if (ev->len == 0)
        return NULL;
    for (size_t i = 0; i < r->n; i++)
        if (r->files[i].wd == ev->wd &&
            strcmp(r->files[i].base, ev->name) == 0)
            return r->files[i].path;
    return NULL;
}

const char *gn__reloader_changed(struct gn_reloader *r)
{
    char buf[4096]
        __attribute__((aligned(__alignof__(struct inotify_event))));
    const char *changed = NULL, *m;
    ssize_t n;

    while ((n = read(r->fd, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const void *)p;

            if ((m = match(r, ev)) != NULL)
                changed = m;
            p += sizeof(*ev) + ev->len;
        }
    }
    return changed;
}

void gn__reloader_free(struct gn_reloader *r)
{
    if (r == NULL)
        return;
    close(r->fd);
    free(r);
}
