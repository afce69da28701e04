/*
 * The plugin loader. A plugin is trusted code in the process's address
 * space; what we can check is that it is the kind of object we expect: the
 * symbol exists, its first fields say it was built against our ABI major
 * version, and it is as large as its kind's first version and carries the
 * functions that kind must have. Anything else is refused with a message
 * naming the file, before any socket is bound. Apps and hooks differ only
 * in those last checks and in how a message says to export the symbol.
 */
#include "plugins/loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The descriptor size of ABI 1.0, the smallest app we accept. */
#define APP_V1_0_SIZE (offsetof(gn_app_t, fini) + sizeof(void (*)(void *)))

/* The descriptor size of ABI 1.2, where hooks appeared. */
#define HOOK_V1_2_SIZE (offsetof(gn_hook_t, call) + sizeof(void (*)(void)))

/* The descriptor size of ABI 1.4, where stream apps appeared. */
#define STREAM_V1_4_SIZE                                                       \
    (offsetof(gn_stream_app_t, fini) + sizeof(void (*)(void *)))

/* What every descriptor starts with (GN_APP_HEADER, GN_HOOK_HEADER). */
struct header {
    uint32_t abi_version;
    uint32_t struct_size;
};

/* One plugin being loaded: what the configuration asks for, what was
 * found, and where to say why it is refused. */
struct load {
    const char *path;   /* as configured: the messages name it */
    const char *symbol; /* the descriptor's name */
    const char *hook;   /* the hook it is configured as; NULL for an app */
    int stream;         /* a stream app */
    char *why;
    size_t len;
    void *dl;        /* NULL while nothing is loaded */
    const void *sym; /* the descriptor */
    struct header h; /* its first fields */
};

static void say_no_symbol(const struct load *l)
{
    if (l->hook == NULL)
        snprintf(l->why, l->len,
                 "%s: no symbol '%s' (export a %s "
                 "named %s, or name it as PATH.so:SYMBOL)",
                 l->path, l->symbol,
                 l->stream ? "gn_stream_app_t" : "gn_app_t", l->symbol);
    else
        snprintf(l->why, l->len,
                 "%s: no symbol '%s' (export it with GN_HOOK(%s, fn), or "
                 "name it as PATH.so:SYMBOL)",
                 l->path, l->symbol, l->hook);
}

static int check_version(const struct load *l)
{
    unsigned major = l->h.abi_version >> 16;
    unsigned minor = l->h.abi_version & 0xffff;

    if (major == GN_ABI_VERSION_MAJOR)
        return 0;
    snprintf(l->why, l->len,
             "%s: %s was built for plugin ABI %u.%u, this greenicorn "
             "speaks %d.%d: rebuild it against this greenicorn.h",
             l->path, l->symbol, major, minor, GN_ABI_VERSION_MAJOR,
             GN_ABI_VERSION_MINOR);
    return -EPROTO;
}

/* dlopen L's file and find its symbol, of our major version: 0, or a
 * negative errno with WHY said (and L->dl left for finish() to close). */
static int open_symbol(struct load *l)
{
    char file[PATH_MAX];

    /* dlopen("x.so") searches the library path; users mean ./x.so. */
    snprintf(file, sizeof(file), "%s%s", strchr(l->path, '/') ? "" : "./",
             l->path);
    l->dl = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (l->dl == NULL) {
        /* dlerror() already names the file. */
        snprintf(l->why, l->len, "cannot load the %s: %s",
                 l->hook     ? "hook"
                 : l->stream ? "stream app"
                             : "app",
                 dlerror());
        return -ENOENT;
    }
    l->sym = dlsym(l->dl, l->symbol);
    if (l->sym == NULL) {
        say_no_symbol(l);
        return -ENOENT;
    }
    /* Copied: the symbol may be anything, of any alignment. */
    memcpy(&l->h, l->sym, sizeof(l->h));
    return check_version(l);
}

/* The first check of an app and of a stream app: a descriptor of at
 * least MIN bytes (a TYPE, WHAT's: "an app" or "a stream app"), so that
 * its handle can be read. 0, or -EPROTO with WHY said. */
static int too_small(const struct load *l, size_t min, const char *type,
                     const char *what)
{
    if (l->h.struct_size >= min)
        return 0;
    snprintf(l->why, l->len,
             "%s: %s is %u bytes, smaller than any %s: is it %s descriptor?",
             l->path, l->symbol, l->h.struct_size, type, what);
    return -EPROTO;
}

static int no_handle(const struct load *l)
{
    snprintf(l->why, l->len, "%s: %s has no handle function", l->path,
             l->symbol);
    return -EPROTO;
}

/* An app's checks beyond its version: 0, or -EPROTO with WHY said. */
static int check_app(const struct load *l)
{
    const gn_app_t *d = l->sym;

    if (too_small(l, APP_V1_0_SIZE, "gn_app_t", "an app") != 0)
        return -EPROTO;
    return d->handle != NULL ? 0 : no_handle(l);
}

/* A stream app's checks beyond its version. */
static int check_stream(const struct load *l)
{
    const gn_stream_app_t *d = l->sym;

    if (too_small(l, STREAM_V1_4_SIZE, "gn_stream_app_t", "a stream app") != 0)
        return -EPROTO;
    return d->handle != NULL ? 0 : no_handle(l);
}

/* A hook's checks beyond its version, for the hook L is configured as. */
static int check_hook(const struct load *l)
{
    const gn_hook_t *d = l->sym;

    if (l->h.struct_size < HOOK_V1_2_SIZE || d->call == NULL)
        snprintf(l->why, l->len,
                 "%s: %s is not a gn_hook_t (define it with GN_HOOK)", l->path,
                 l->symbol);
    else if (d->hook != NULL && strcmp(d->hook, l->hook) != 0)
        snprintf(l->why, l->len, "%s: %s is written for the %s hook, not %s",
                 l->path, l->symbol, d->hook, l->hook);
    else
        return 0;
    return -EPROTO;
}

/*
 * After the checks (RC): on success hand L over as *DL, with its
 * descriptor copied into OURS (SIZE bytes: what an older plugin lacks is
 * zeroed, what a newer one adds is not ours to read); on failure unload
 * it. RC.
 */
static int finish(struct load *l, int rc, void **dl, void *ours, size_t size)
{
    *dl = NULL;
    if (rc != 0) {
        gn__plugin_close(l->dl);
        return rc;
    }
    memset(ours, 0, size);
    memcpy(ours, l->sym, l->h.struct_size < size ? l->h.struct_size : size);
    *dl = l->dl;
    return 0;
}

int gn__plugin_open_app(void **dl, gn_app_t *desc, const char *path,
                        const char *symbol, char *why, size_t len)
{
    struct load l = {.path = path, .symbol = symbol, .why = why, .len = len};
    int rc = open_symbol(&l);

    return finish(&l, rc ? rc : check_app(&l), dl, desc, sizeof(*desc));
}

int gn__plugin_open_stream(void **dl, gn_stream_app_t *desc, const char *path,
                           const char *symbol, char *why, size_t len)
{
    struct load l = {
        .path = path, .symbol = symbol, .stream = 1, .why = why, .len = len};
    int rc = open_symbol(&l);

    return finish(&l, rc ? rc : check_stream(&l), dl, desc, sizeof(*desc));
}

int gn__plugin_open_hook(void **dl, gn_hook_t *desc, const char *path,
                         const char *symbol, const char *hook, char *why,
                         size_t len)
{
    struct load l = {
        .path = path, .symbol = symbol, .hook = hook, .why = why, .len = len};
    int rc = open_symbol(&l);

    return finish(&l, rc ? rc : check_hook(&l), dl, desc, sizeof(*desc));
}

void gn__plugin_close(void *dl)
{
    if (dl != NULL)
        dlclose(dl);
}
