/*
 * The stream apps of a configuration, gevent's StreamServer: each
 * [stream:NAME] section names a plugin (`module`, a gn_stream_app_t) and
 * one address (`bind`) whose connections it owns; [stream:NAME.args]
 * holds its init arguments, as [app:NAME.args] does for an app. The
 * sections are created at their header, so an empty one is reported; the
 * checks that need the whole configuration (a module and a bind each, no
 * address bound twice) run once it is read.
 */
#include "config/streams.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/apps.h"
#include "config/settings.h"

struct gn_stream_conf *gn__config_stream(struct gn_config *cfg,
                                         const char *name, int line)
{
    struct gn_stream_conf *grown;

    for (size_t i = 0; i < cfg->nstreams; i++)
        if (strcmp(cfg->streams[i].name, name) == 0)
            return &cfg->streams[i];
    if (line == 0)
        return NULL;
    grown = realloc(cfg->streams, (cfg->nstreams + 1) * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    cfg->streams = grown;
    grown = &cfg->streams[cfg->nstreams];
    memset(grown, 0, sizeof(*grown));
    if ((grown->name = strdup(name)) == NULL)
        return NULL;
    grown->line = line;
    cfg->nstreams++;
    /* The binds point at their stream's name: the array may have moved. */
    for (size_t i = 0; i < cfg->nstreams; i++)
        cfg->streams[i].bind.stream = cfg->streams[i].name;
    return grown;
}

static int set_bind(struct gn_stream_conf *st, const char *value, char *err,
                    size_t errlen)
{
    int rc;

    if (value[strcspn(value, " \t,")] != '\0') {
        gn__reason(err, errlen,
                   "'%s': a stream listens on one address (one "
                   "[stream:NAME] section per address)",
                   value);
        return -EINVAL;
    }
    rc = gn__bind_parse(&st->bind, value, err, errlen);
    st->bind.stream = st->name;
    return rc;
}

int gn__stream_set(struct gn_stream_conf *st, const char *key,
                   const char *value, int line, char *err, size_t errlen)
{
    int module = strcmp(key, "module") == 0, *seen;

    if (module)
        seen = &st->module_line;
    else if (strcmp(key, "bind") == 0)
        seen = &st->bind_line;
    else {
        gn__reason(err, errlen,
                   "unknown key in [stream:%s] (it takes module and bind; "
                   "arguments go in [stream:%s.args])",
                   st->name, st->name);
        return -ENOENT;
    }
    if (*seen) {
        gn__reason(err, errlen, "set twice (first on line %d)", *seen);
        return -EINVAL;
    }
    *seen = line;
    return module ? gn__spec_set(&st->spec, &st->path, &st->symbol, value,
                                 GN_STREAM_APP_SYMBOL, err, errlen)
                  : set_bind(st, value, err, errlen);
}

int gn__config_stream_adopt(struct gn_config *cfg, const char *name, int fd)
{
    struct gn_stream_conf *st = gn__config_stream(cfg, name, 0);
    struct gn_bind b;
    char spec[32], why[64];

    if (st == NULL || st->spec == NULL)
        return 0;
    /* The configured bind's TLS mark stays with the socket. */
    snprintf(spec, sizeof(spec), "%sfd://%d", st->bind.tls ? "tls://" : "",
             fd);
    if (gn__bind_parse(&b, spec, why, sizeof(why)) != 0)
        return -ENOMEM;
    b.origin = st->bind.origin;
    st->bind.origin = NULL;
    gn__bind_clear(&st->bind);
    st->bind = b;
    st->bind.stream = st->name;
    return 1;
}

/* ---- the checks once everything is read ------------------------------- */

/* Whether A and B name the same address: the same text, or the same TCP
 * host and port (a port of 0 is the kernel's choice: never the same). */
static int same_address(const struct gn_bind *a, const struct gn_bind *b)
{
    if (strcmp(a->spec, b->spec) == 0)
        return 1;
    if (a->kind != b->kind)
        return 0;
    if (a->kind == GN_BIND_TCP)
        return a->port != 0 && a->port == b->port &&
               strcmp(a->host, b->host) == 0;
    if (a->kind == GN_BIND_UNIX)
        return strcmp(a->path, b->path) == 0;
    return a->fd == b->fd;
}

static int check_one(const struct gn_config *cfg, size_t i, char *err)
{
    const struct gn_stream_conf *st = &cfg->streams[i];
    char where[300];

    if (st->spec == NULL || st->bind.spec == NULL) {
        snprintf(err, GN_ERR_LEN,
                 "%s[stream:%s]: no %s (a [stream:NAME] section needs "
                 "module and bind)",
                 gn__config_at(cfg, st->line, where, sizeof(where)), st->name,
                 st->spec ? "bind" : "module");
        return -EINVAL;
    }
    for (size_t j = 0; j < i; j++) {
        if (!same_address(&st->bind, &cfg->streams[j].bind))
            continue;
        snprintf(err, GN_ERR_LEN,
                 "%sbind: '%s' is already the bind of [stream:%s]",
                 gn__config_at(cfg, st->bind_line, where, sizeof(where)), st->bind.spec,
                 cfg->streams[j].name);
        return -EINVAL;
    }
    for (size_t j = 0; gn__config_serves_http(cfg) && j < cfg->nbinds; j++) {
        const char *origin = cfg->binds[j].origin, *line = "";
        size_t flen = cfg->file ? strlen(cfg->file) : 0;

        if (!same_address(&st->bind, &cfg->binds[j]))
            continue;
        if (origin == NULL)
            origin = "the default bind";
        else if (flen && strncmp(origin, cfg->file, flen) == 0 &&
                 origin[flen] == ':') {
            origin += flen + 1; /* "5: bind": the file is named already */
            line = "line ";
        }
        snprintf(err, GN_ERR_LEN, "%sbind: '%s' is already an HTTP bind (%s%s)",
                 gn__config_at(cfg, st->bind_line, where, sizeof(where)), st->bind.spec,
                 line, origin);
        return -EINVAL;
    }
    return 0;
}

int gn__config_check_streams(const struct gn_config *cfg, char err[GN_ERR_LEN])
{
    for (size_t i = 0; i < cfg->nstreams; i++)
        if (check_one(cfg, i, err) != 0)
            return -EINVAL;
    return 0;
}

/* ---- printing and freeing --------------------------------------------- */

void gn__streams_print(const struct gn_config *cfg, FILE *out)
{
    for (size_t i = 0; i < cfg->nstreams; i++) {
        const struct gn_stream_conf *st = &cfg->streams[i];

        fprintf(out,
                "\n[stream:%s]\nbind = %s\nmodule = %s\n\n[stream:%s.args]\n",
                st->name, st->bind.spec ? st->bind.spec : "",
                st->spec ? st->spec : "", st->name);
        for (size_t j = 0; j < st->nargs; j++)
            fprintf(out, "%s = %s\n", st->args[j].name, st->args[j].value);
    }
}

static void stream_clear(struct gn_stream_conf *st)
{
    free(st->name);
    free(st->spec);
    free(st->path);
    free(st->symbol);
    gn__bind_clear(&st->bind);
    gn__args_clear(st->args, st->nargs);
    memset(st, 0, sizeof(*st));
}

void gn__streams_clear(struct gn_config *cfg)
{
    for (size_t i = 0; i < cfg->nstreams; i++)
        stream_clear(&cfg->streams[i]);
    free(cfg->streams);
    cfg->streams = NULL;
    cfg->nstreams = 0;
}
