/*
 * Server hooks. The plugin loader checks that each configured symbol is a
 * hook descriptor of our ABI major version, written for the hook it is
 * configured as. Failures of the calls are logged here, so every call
 * point only decides what a failure means there.
 */
#include "plugins/hooks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/apps.h"
#include "config/settings.h"
#include "core/log.h"
#include "plugins/loader.h"

struct hook {
    void *dl;
    gn_hook_t desc;
    char *spec; /* as configured, for logs */
};

struct gn_hook_set {
    struct hook v[GN_HOOK_COUNT];
};

/* This process's hooks (never NULL: an empty set to start with). */
static struct gn_hook_set none;
static struct gn_hook_set *installed = &none;

static struct {
    pid_t arbiter_pid;
    const struct gn_config *cfg;
    int workers;
} server;

/* Load and check the hook ID's plugin SPEC into H. */
static int load_one(struct hook *h, enum gn_hook_id id, const char *spec,
                    char *why, size_t len)
{
    const char *name = gn__hook_names[id];
    char dflt[64], *path, *symbol;
    int rc;

    snprintf(dflt, sizeof(dflt), GN_HOOK_SYMBOL_PREFIX "%s", name);
    if ((rc = gn__spec_split(spec, dflt, &path, &symbol, why, len)) != 0)
        return rc;
    rc = gn__plugin_open_hook(&h->dl, &h->desc, path, symbol, name, why, len);
    if (rc == 0)
        h->spec = strdup(spec);
    free(path);
    free(symbol);
    return rc;
}

void gn__hooks_discard(struct gn_hook_set *set)
{
    if (set == NULL || set == &none)
        return;
    for (size_t i = 0; i < GN_HOOK_COUNT; i++) {
        gn__plugin_close(set->v[i].dl);
        free(set->v[i].spec);
    }
    free(set);
}

struct gn_hook_set *gn__hooks_open(const struct gn_config *cfg,
                                   char err[GN_ERR_LEN])
{
    struct gn_hook_set *set = calloc(1, sizeof(*set));
    char where[300], why[GN_ERR_LEN];

    if (set == NULL) {
        snprintf(err, GN_ERR_LEN, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < GN_HOOK_COUNT; i++) {
        if (cfg->hooks[i] == NULL)
            continue;
        if (load_one(&set->v[i], (enum gn_hook_id)i, cfg->hooks[i], why,
                     sizeof(why)) != 0) {
            gn__config_where(cfg, gn__hook_names[i], where, sizeof(where));
            snprintf(err, GN_ERR_LEN, "%.100s: %.400s", where, why);
            gn__hooks_discard(set);
            return NULL;
        }
    }
    return set;
}

void gn__hooks_install(struct gn_hook_set *set)
{
    struct gn_hook_set *old = installed;

    /* The new set was loaded before the old one is closed: a plugin kept
     * from one configuration to the next stays mapped throughout. */
    installed = set ? set : &none;
    gn__hooks_discard(old);
}

struct gn_hook_set *gn__hooks_swap(struct gn_hook_set *set)
{
    struct gn_hook_set *old = installed;

    installed = set ? set : &none;
    return old;
}

void gn__hooks_set_server(pid_t arbiter_pid, const struct gn_config *cfg,
                          int workers)
{
    server.arbiter_pid = arbiter_pid;
    server.cfg = cfg;
    server.workers = workers;
}

int gn__hook_configured(enum gn_hook_id id)
{
    return installed->v[id].dl != NULL;
}

void gn__hook_args_init(gn_hook_args_t *args, enum gn_hook_id id)
{
    memset(args, 0, sizeof(*args));
    args->struct_size = sizeof(*args);
    args->hook = gn__hook_names[id];
    args->pid = getpid();
    args->arbiter_pid = server.arbiter_pid ? server.arbiter_pid : getpid();
    args->config_file = server.cfg ? server.cfg->file : NULL;
    args->workers = server.workers;
}

int gn__hook_call(enum gn_hook_id id, gn_hook_args_t *args)
{
    const struct hook *h = &installed->v[id];
    int rc;

    if (h->dl == NULL)
        return 0;
    rc = h->desc.call(args);
    if (rc == 0)
        return 0;
    if (rc > 0)
        rc = -rc;
    gn_log_error("hook %s (%s) failed: %s", gn__hook_names[id], h->spec,
                 strerror(-rc));
    return rc;
}

int gn__hook_run(enum gn_hook_id id)
{
    gn_hook_args_t args;

    if (installed->v[id].dl == NULL)
        return 0;
    gn__hook_args_init(&args, id);
    return gn__hook_call(id, &args);
}

/* ---- the public API --------------------------------------------------- */

GN_API int gn_config_get(const char *name, char *buf, size_t len)
{
    const struct gn_setting *s = gn__setting_find(name);
    char *text = NULL;
    size_t n = 0;
    FILE *out;

    if (s == NULL || server.cfg == NULL)
        return -ENOENT;
    out = open_memstream(&text, &n);
    if (out == NULL)
        return -ENOMEM;
    s->print(server.cfg, s, out);
    fclose(out);
    if (text == NULL)
        return -ENOMEM;
    if (n + 1 > len) {
        free(text);
        return -ERANGE;
    }
    memcpy(buf, text, n + 1);
    free(text);
    return (int)n;
}
