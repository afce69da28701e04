/*
 * The apps of a configuration: [app] (the default one, which the APP
 * argument sets) and any number of [app:NAME] sections, each with its
 * plugin (`module`), its URL prefix (`mount`) and its [...args] section.
 * Mounts are checked once the whole configuration is known, since APP on
 * the command line can add the default app after the file was read.
 */
#include "config/apps.h"

#include "config/settings.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- one app ---------------------------------------------------------- */

int gn__spec_split(const char *spec, const char *default_symbol, char **path,
                   char **symbol, char *err, size_t errlen)
{
    const char *colon = strrchr(spec, ':');

    if (colon != NULL && strchr(colon, '/') != NULL)
        colon = NULL; /* a ':' inside a directory name, not a symbol */
    if (colon == spec || (colon && colon[1] == '\0') || *spec == '\0') {
        gn__reason(err, errlen, "'%s' is not PATH.so[:SYMBOL]", spec);
        return -EINVAL;
    }
    *path = colon ? strndup(spec, (size_t)(colon - spec)) : strdup(spec);
    *symbol = colon ? strdup(colon + 1) : strdup(default_symbol);
    if (*path == NULL || *symbol == NULL) {
        free(*path);
        free(*symbol);
        gn__reason(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

int gn__spec_set(char **spec, char **path, char **symbol, const char *value,
                 const char *default_symbol, char *err, size_t errlen)
{
    char *p, *s, *copy;
    int rc = gn__spec_split(value, default_symbol, &p, &s, err, errlen);

    if (rc != 0)
        return rc;
    copy = strdup(value);
    if (copy == NULL) {
        free(p);
        free(s);
        gn__reason(err, errlen, "out of memory");
        return -ENOMEM;
    }
    free(*spec);
    free(*path);
    free(*symbol);
    *spec = copy;
    *path = p;
    *symbol = s;
    return 0;
}

int gn__app_spec_parse(struct gn_app_conf *app, const char *spec, char *err,
                       size_t errlen)
{
    return gn__spec_set(&app->spec, &app->path, &app->symbol, spec,
                        GN_APP_SYMBOL, err, errlen);
}

void gn__app_spec_clear(struct gn_app_conf *app)
{
    free(app->spec);
    free(app->path);
    free(app->symbol);
    app->spec = app->path = app->symbol = NULL;
}

/* A mount is "/" or "/seg/seg": no trailing slash, no empty, "." or ".."
 * segment, nothing a decoded path could not hold ('?', '#', controls). */
int gn__mount_parse(char **mount, const char *value, char *err, size_t errlen)
{
    size_t len = strlen(value);
    char *copy;

    if (*value != '/') {
        gn__reason(err, errlen, "'%s' is not a URL path (it must start with /)",
                   value);
        return -EINVAL;
    }
    while (len > 1 && value[len - 1] == '/')
        len--;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        const char *seg = value + i + 1;
        size_t seglen = strcspn(seg, "/");

        if (c <= ' ' || c == 0x7f || c == '?' || c == '#') {
            gn__reason(err, errlen,
                       "'%s': a mount holds no spaces, controls, "
                       "'?' or '#'",
                       value);
            return -EINVAL;
        }
        if (c == '/' && i + 1 < len &&
            (seglen == 0 || (seglen == 1 && seg[0] == '.') ||
             (seglen == 2 && seg[0] == '.' && seg[1] == '.'))) {
            gn__reason(err, errlen, "'%s': empty, '.' or '..' segment", value);
            return -EINVAL;
        }
    }
    copy = strndup(value, len);
    if (copy == NULL) {
        gn__reason(err, errlen, "out of memory");
        return -ENOMEM;
    }
    free(*mount);
    *mount = copy;
    return 0;
}

int gn__args_add(gn_app_arg_t **args, size_t *nargs, const char *name,
                 const char *value)
{
    gn_app_arg_t *grown = realloc(*args, (*nargs + 1) * sizeof(*grown));
    char *n = strdup(name), *v = strdup(value);

    if (grown != NULL)
        *args = grown;
    if (grown == NULL || n == NULL || v == NULL) {
        free(n);
        free(v);
        return -ENOMEM;
    }
    grown[*nargs].name = n;
    grown[*nargs].value = v;
    (*nargs)++;
    return 0;
}

void gn__args_clear(gn_app_arg_t *args, size_t nargs)
{
    for (size_t i = 0; i < nargs; i++) {
        free((char *)args[i].name);
        free((char *)args[i].value);
    }
    free(args);
}

void gn__app_conf_clear(struct gn_app_conf *app)
{
    gn__app_spec_clear(app);
    free(app->name);
    free(app->mount);
    gn__args_clear(app->args, app->nargs);
    memset(app, 0, sizeof(*app));
}

/* ---- [app:NAME] sections ---------------------------------------------- */

int gn__section_name(const char *section, const char *kind, char *name,
                     size_t len, int *is_args)
{
    size_t klen = strlen(kind);
    const char *p, *end;
    size_t n;

    if (strncmp(section, kind, klen) != 0 || section[klen] != ':')
        return 0;
    p = section + klen + 1;
    n = strlen(p);
    *is_args = n > 5 && strcmp(p + n - 5, ".args") == 0;
    end = p + n - (*is_args ? 5 : 0);
    if (end == p || (size_t)(end - p) >= len)
        return -1;
    for (const char *c = p; c < end; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
            return -1;
    memcpy(name, p, (size_t)(end - p));
    name[end - p] = '\0';
    return 1;
}

struct gn_app_conf *gn__config_named_app(struct gn_config *cfg,
                                         const char *name, int line)
{
    struct gn_app_conf *grown;

    for (size_t i = 0; i < cfg->nnamed_apps; i++)
        if (strcmp(cfg->named_apps[i].name, name) == 0)
            return &cfg->named_apps[i];
    if (line == 0)
        return NULL;
    grown = realloc(cfg->named_apps,
                    (cfg->nnamed_apps + 1) * sizeof(*cfg->named_apps));
    if (grown == NULL)
        return NULL;
    cfg->named_apps = grown;
    grown = &cfg->named_apps[cfg->nnamed_apps];
    memset(grown, 0, sizeof(*grown));
    grown->name = strdup(name);
    if (grown->name == NULL)
        return NULL;
    grown->line = line;
    cfg->nnamed_apps++;
    return grown;
}

/* [app:NAME]'s limit_request_body: bytes, as [http]'s (0: no limit). */
static int body_limit_parse(struct gn_app_conf *app, const char *value,
                            char *err, size_t errlen)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(value, &end, 10);
    if (*value < '0' || *value > '9' || *end != '\0' || errno != 0) {
        gn__reason(err, errlen, "'%s' is not a number of bytes", value);
        return -EINVAL;
    }
    app->body_limit = v;
    return 0;
}

int gn__named_app_set(struct gn_app_conf *app, const char *key,
                      const char *value, int line, char *err, size_t errlen)
{
    int module = strcmp(key, "module") == 0, *seen;
    int limit = strcmp(key, "limit_request_body") == 0;

    if (module)
        seen = &app->module_line;
    else if (strcmp(key, "mount") == 0)
        seen = &app->mount_line;
    else if (limit)
        seen = &app->body_limit_line;
    else {
        gn__reason(err, errlen,
                   "unknown key in [app:%s] (it takes module, mount and "
                   "limit_request_body; arguments go in [app:%s.args])",
                   app->name, app->name);
        return -ENOENT;
    }
    if (*seen) {
        gn__reason(err, errlen, "set twice (first on line %d)", *seen);
        return -EINVAL;
    }
    *seen = line;
    if (limit)
        return body_limit_parse(app, value, err, errlen);
    return module ? gn__app_spec_parse(app, value, err, errlen)
                  : gn__mount_parse(&app->mount, value, err, errlen);
}

void gn__named_apps_clear(struct gn_config *cfg)
{
    for (size_t i = 0; i < cfg->nnamed_apps; i++)
        gn__app_conf_clear(&cfg->named_apps[i]);
    free(cfg->named_apps);
    cfg->named_apps = NULL;
    cfg->nnamed_apps = 0;
}

/* ---- the checks once everything is read ------------------------------- */

const char *gn__config_at(const struct gn_config *cfg, int line, char *out,
                          size_t len)
{
    if (line > 0 && cfg->file)
        snprintf(out, len, "%s:%d: ", cfg->file, line);
    else
        *out = '\0';
    return out;
}

static int check_named(const struct gn_config *cfg,
                       const struct gn_app_conf *app, char *err)
{
    char where[300];

    if (app->spec == NULL || app->mount == NULL) {
        snprintf(err, GN_ERR_LEN,
                 "%s[app:%s]: no %s (an [app:NAME] section "
                 "needs module and mount)",
                 gn__config_at(cfg, app->line, where, sizeof(where)), app->name,
                 app->spec ? "mount" : "module");
        return -EINVAL;
    }
    return 0;
}

int gn__config_check_apps(const struct gn_config *cfg, int mount_line,
                          char err[GN_ERR_LEN])
{
    const struct gn_app_conf *apps[GN_MAX_APPS];
    int lines[GN_MAX_APPS];
    size_t n = 0;
    char where[300];

    if (cfg->nnamed_apps + 1 > GN_MAX_APPS) {
        snprintf(err, GN_ERR_LEN, "%s[app:%s]: more than %d apps",
                 gn__config_at(cfg, cfg->named_apps[GN_MAX_APPS - 1].line, where,
                    sizeof(where)),
                 cfg->named_apps[GN_MAX_APPS - 1].name, GN_MAX_APPS);
        return -EINVAL;
    }
    if (cfg->app.spec) {
        lines[n] = mount_line;
        apps[n++] = &cfg->app;
    }
    for (size_t i = 0; i < cfg->nnamed_apps; i++) {
        if (check_named(cfg, &cfg->named_apps[i], err) != 0)
            return -EINVAL;
        lines[n] = cfg->named_apps[i].mount_line;
        apps[n++] = &cfg->named_apps[i];
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(apps[i]->mount, apps[j]->mount) != 0)
                continue;
            snprintf(
                err, GN_ERR_LEN, "%smount: '%s' is already the mount of %s%s%s",
                gn__config_at(cfg, lines[i], where, sizeof(where)), apps[i]->mount,
                apps[j]->name ? "[app:" : "[app]",
                apps[j]->name ? apps[j]->name : "", apps[j]->name ? "]" : "");
            return -EINVAL;
        }
    }
    return 0;
}

size_t gn__config_apps(const struct gn_config *cfg,
                       const struct gn_app_conf **out)
{
    size_t n = 0;

    if (cfg->app.spec)
        out[n++] = &cfg->app;
    for (size_t i = 0; i < cfg->nnamed_apps && n < GN_MAX_APPS; i++)
        out[n++] = &cfg->named_apps[i];
    return n;
}
