/*
 * Loading the INI config file with inih, and applying command-line
 * overrides. The file is read whole first, so that what is not a readable
 * text file of a sane size (a directory, /dev/zero, a FIFO, a read error)
 * is an error rather than an empty config. inih gives the handler no line
 * number, so we hand it lines ourselves through a reader that counts them;
 * the reader also strips indentation (so an indented key is never taken for
 * a continuation line) and inline comments, refuses NUL bytes, and checks
 * [section] headers, which inih does not report to the handler.
 */
#include "config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "config/apps.h"
#include "config/settings.h"
#include "config/streams.h"

/* inih's line buffer (INI_MAX_LINE in Debian's build), including "\r\n\0". */
#define LINE_MAX_BYTES 200

struct load {
    struct gn_config *cfg;
    const char *name; /* the file, for messages */
    const char *text; /* what is left to read, up to END */
    const char *end;
    int has_nul;      /* the line just read held a NUL byte */
    int lineno;       /* of the line inih is processing */
    int error_line;   /* first line with an error we reported, or 0 */
    char *err;
};

static void fail(struct load *ld, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail(struct load *ld, const char *fmt, ...)
{
    int n;
    va_list ap;

    if (ld->error_line != 0)
        return;
    ld->error_line = ld->lineno;
    n = snprintf(ld->err, GN_ERR_LEN, "%s:%d: ", ld->name, ld->lineno);
    va_start(ap, fmt);
    vsnprintf(ld->err + n, GN_ERR_LEN - (size_t)n, fmt, ap);
    va_end(ap);
}

struct gn_config *gn__config_new(void)
{
    struct gn_config *cfg = calloc(1, sizeof(*cfg));
    char err[GN_ERR_LEN];

    if (cfg == NULL)
        return NULL;
    cfg->set_line = calloc(gn__settings_count, sizeof(int));
    if (cfg->set_line == NULL)
        goto fail;
    for (size_t i = 0; i < gn__settings_count; i++) {
        const struct gn_setting *s = &gn__settings[i];

        if (s->parse(cfg, s, s->defval, err, sizeof(err)) != 0)
            goto fail;
    }
    return cfg;

fail:
    gn__config_free(cfg);
    return NULL;
}

void gn__config_free(struct gn_config *cfg)
{
    if (cfg == NULL)
        return;
    gn__binds_clear(cfg);
    gn__raw_env_clear(cfg);
    gn__error_pages_clear(&cfg->error_pages);
    free(cfg->file);
    free(cfg->accesslog);
    free(cfg->errorlog);
    free(cfg->server_header);
    free(cfg->health_check_path);
    free(cfg->websocket_allowed_origins);
    free(cfg->socketio_path);
    free(cfg->resolv_conf);
    gn__ipset_clear(&cfg->proxy_allow_ips);
    gn__access_format_clear(&cfg->access_log_format);
    free(cfg->pidfile);
    free(cfg->control_socket);
    free(cfg->user);
    free(cfg->group);
    free(cfg->chdir);
    free(cfg->proc_name);
    free(cfg->worker_tmp_dir);
    for (size_t i = 0; i < GN_HOOK_COUNT; i++)
        free(cfg->hooks[i]);
    free(cfg->syslog_addr);
    free(cfg->syslog_prefix);
    free(cfg->syslog_facility_name);
    free(cfg->statsd_host);
    free(cfg->statsd_prefix);
    free(cfg->dogstatsd_tags);
    free(cfg->metrics_bind);
    gn__ipset_clear(&cfg->forwarded_allow_ips);
    free(cfg->certfile);
    free(cfg->keyfile);
    free(cfg->ca_certs);
    free(cfg->ciphers);
    free(cfg->tls_ciphersuites);
    if (cfg->tls != NULL)
        cfg->tls_free(cfg->tls);
    gn__app_conf_clear(&cfg->app);
    gn__named_apps_clear(cfg);
    gn__streams_clear(cfg);
    free(cfg->set_line);
    free(cfg);
}

/* ---- the reader ------------------------------------------------------- */

/* The next line into BUF (as much as fits), noting whether it held a NUL
 * byte, which would end it early without a word. */
static char *next_raw_line(struct load *ld, char *buf, int size)
{
    size_t n;
    const char *nl;

    if (ld->text == ld->end)
        return NULL;
    nl = memchr(ld->text, '\n', (size_t)(ld->end - ld->text));
    n = nl ? (size_t)(nl - ld->text) + 1 : (size_t)(ld->end - ld->text);
    ld->has_nul = memchr(ld->text, '\0', n) != NULL;
    if (n > (size_t)size - 1)
        n = (size_t)size - 1;
    memcpy(buf, ld->text, n);
    buf[n] = '\0';
    ld->text += n;
    return buf;
}

static int line_complete(struct load *ld, const char *line, int size)
{
    size_t len = strlen(line);

    if ((int)len < size - 1 || line[len - 1] == '\n')
        return 1;
    return ld->text == ld->end;
}

/* A ';' or '#' after a space or tab starts a comment, as one at the start
 * of a line does: inih alone would keep "# note" in the value. So a value
 * cannot hold " #" or " ;" (the man page says so). */
static void strip_inline_comment(char *line)
{
    for (char *p = line; *p != '\0'; p++) {
        if ((*p == ';' || *p == '#') && p > line &&
            (p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            return;
        }
    }
}

/* "[server], [workers], ..." from the sections table. */
static const char *known_sections(void)
{
    static char list[256];
    size_t n = 0;

    if (list[0] != '\0')
        return list;
    for (const char *const *sec = gn__sections; *sec; sec++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s[%s]",
                              n ? ", " : "", *sec);
    return list;
}

/* [app:NAME] and [app:NAME.args]: the app is created at its first header,
 * so a section with no keys is still reported. */
static void named_app_header(struct load *ld, const char *section)
{
    char name[LINE_MAX_BYTES];
    int is_args;

    switch (gn__section_name(section, "stream", name, sizeof(name), &is_args)) {
    case 1:
        if (gn__config_stream(ld->cfg, name, ld->lineno) == NULL)
            fail(ld, "[%s]: out of memory", section);
        return;
    case -1:
        fail(ld, "[%s]: a stream's NAME is letters, digits, '_' and '-'",
             section);
        return;
    }
    switch (gn__section_name(section, "app", name, sizeof(name), &is_args)) {
    case 0:
        fail(ld,
             "[%s]: unknown section (known: %s, [app:NAME], "
             "[app:NAME.args], [stream:NAME], [stream:NAME.args])",
             section, known_sections());
        break;
    case -1:
        fail(ld, "[%s]: an app's NAME is letters, digits, '_' and '-'",
             section);
        break;
    default:
        if (gn__config_named_app(ld->cfg, name, ld->lineno) == NULL)
            fail(ld, "[%s]: out of memory", section);
    }
}

static void check_section_header(struct load *ld, const char *line)
{
    const char *end;
    char name[LINE_MAX_BYTES];

    if (*line != '[' || (end = strchr(line, ']')) == NULL)
        return; /* not a header, or inih reports the syntax error */
    snprintf(name, sizeof(name), "%.*s", (int)(end - line - 1), line + 1);
    if (!gn__section_known(name))
        named_app_header(ld, name);
}

/* inih's fgets-like reader: one call per line, so the count is exact. */
static char *read_line(char *buf, int size, void *stream)
{
    struct load *ld = stream;
    size_t skip;

    if (ld->error_line != 0 || next_raw_line(ld, buf, size) == NULL)
        return NULL;
    ld->lineno++;
    if (ld->has_nul) {
        fail(ld, "a NUL byte in the line (is this a text file?)");
        return NULL;
    }
    if (!line_complete(ld, buf, size)) {
        fail(ld, "line is longer than %d characters", size - 3);
        return NULL;
    }
    skip = strspn(buf, " \t");
    memmove(buf, buf + skip, strlen(buf + skip) + 1);
    strip_inline_comment(buf);
    check_section_header(ld, buf);
    return ld->error_line ? NULL : buf;
}

/* ---- the handler ------------------------------------------------------ */

static int add_app_arg(struct load *ld, struct gn_app_conf *app,
                       const char *name, const char *value)
{
    if (gn__args_add(&app->args, &app->nargs, name, value) != 0) {
        fail(ld, "%s: out of memory", name);
        return 0;
    }
    return 1;
}

/* A key of [app:NAME] or [app:NAME.args] (the header made the app). */
static int handle_named_app(struct load *ld, const char *section,
                            const char *name, const char *value)
{
    char app_name[LINE_MAX_BYTES], why[GN_ERR_LEN / 2];
    struct gn_app_conf *app;
    int is_args;

    if (gn__section_name(section, "app", app_name, sizeof(app_name), &is_args) !=
            1 ||
        (app = gn__config_named_app(ld->cfg, app_name, 0)) == NULL) {
        fail(ld, "[%s]: unknown section", section);
        return 0;
    }
    if (is_args)
        return add_app_arg(ld, app, name, value);
    if (gn__named_app_set(app, name, value, ld->lineno, why, sizeof(why)) !=
        0) {
        fail(ld, "%s: %s", name, why);
        return 0;
    }
    return 1;
}

/* A key of [stream:NAME] or [stream:NAME.args] (the header made it). */
static int handle_stream(struct load *ld, const char *section,
                         const char *name, const char *value)
{
    char st_name[LINE_MAX_BYTES], why[GN_ERR_LEN / 2], origin[GN_ERR_LEN / 2];
    struct gn_stream_conf *st;
    int is_args;

    if (gn__section_name(section, "stream", st_name, sizeof(st_name),
                                &is_args) != 1 ||
        (st = gn__config_stream(ld->cfg, st_name, 0)) == NULL) {
        fail(ld, "[%s]: unknown section", section);
        return 0;
    }
    if (is_args) {
        if (gn__args_add(&st->args, &st->nargs, name, value) != 0) {
            fail(ld, "%s: out of memory", name);
            return 0;
        }
        return 1;
    }
    if (gn__stream_set(st, name, value, ld->lineno, why, sizeof(why)) != 0) {
        fail(ld, "%s: %s", name, why);
        return 0;
    }
    if (strcmp(name, "bind") == 0) {
        snprintf(origin, sizeof(origin), "%s:%d: [stream:%s] bind", ld->name,
                 ld->lineno, st->name);
        if ((st->bind.origin = strdup(origin)) == NULL) {
            fail(ld, "%s: out of memory", name);
            return 0;
        }
    }
    return 1;
}

static int unknown_key(struct load *ld, const char *section, const char *name)
{
    const struct gn_setting *s = gn__setting_find(name);
    const char *hint = gn__setting_suggest(name);

    if (s != NULL)
        fail(ld, "%s: belongs in [%s], not [%s]", name, s->section, section);
    else if (hint != NULL)
        fail(ld, "%s: unknown key in [%s] (did you mean '%s'?)", name, section,
             hint);
    else
        fail(ld, "%s: unknown key in [%s]", name, section);
    return 0;
}

/* Say where the binds from FROM on were set: a bind error at start-up or
 * on HUP names the line (or the flag) as every other config error does. */
static int label_binds(struct gn_config *cfg, size_t from,
                       const char *origin)
{
    for (size_t i = from; i < cfg->nbinds; i++) {
        free(cfg->binds[i].origin);
        if ((cfg->binds[i].origin = strdup(origin)) == NULL)
            return -ENOMEM;
    }
    return 0;
}

static int handle_pair(void *user, const char *section, const char *name,
                       const char *value)
{
    struct load *ld = user;
    const struct gn_setting *s;
    int *line;
    size_t nbinds;
    char why[GN_ERR_LEN / 2], origin[GN_ERR_LEN / 2];

    if (strpbrk(name, " \t") != NULL) {
        /* inih split "bind 127.0.0.1:80" at the ':'. */
        fail(ld, "syntax error: expected 'key = value' or '[section]'");
        return 0;
    }
    if (*section == '\0') {
        s = gn__setting_find(name);
        if (s != NULL)
            fail(ld, "%s: key outside any section (put it under [%s])", name,
                 s->section);
        else
            fail(ld, "%s: unknown key outside any section", name);
        return 0;
    }
    if (strcmp(section, "app.args") == 0)
        return add_app_arg(ld, &ld->cfg->app, name, value);
    if (strncmp(section, "app:", 4) == 0)
        return handle_named_app(ld, section, name, value);
    if (strncmp(section, "stream:", 7) == 0)
        return handle_stream(ld, section, name, value);
    s = gn__setting_find(name);
    if (s == NULL || strcmp(s->section, section) != 0)
        return unknown_key(ld, section, name);
    line = &ld->cfg->set_line[gn__setting_index(s)];
    if (*line != 0 && s->clear == NULL) {
        fail(ld, "%s: set twice (first on line %d)", name, *line);
        return 0;
    }
    if (*line == 0 && s->clear != NULL)
        s->clear(ld->cfg); /* the file's values replace the default */
    *line = ld->lineno;
    nbinds = ld->cfg->nbinds;
    if (s->parse(ld->cfg, s, value, why, sizeof(why)) != 0) {
        fail(ld, "%s: %s", name, why);
        return 0;
    }
    snprintf(origin, sizeof(origin), "%s:%d: bind", ld->name, ld->lineno);
    if (label_binds(ld->cfg, nbinds, origin) != 0) {
        fail(ld, "%s: out of memory", name);
        return 0;
    }
    return 1;
}

static int run_parser(struct load *ld)
{
    int rc = ini_parse_stream(read_line, ld, handle_pair, ld);

    /* inih's own syntax errors carry only a line number; ours came first
     * unless inih's line is earlier. */
    if (rc > 0 && (ld->error_line == 0 || rc < ld->error_line)) {
        snprintf(ld->err, GN_ERR_LEN,
                 "%s:%d: syntax error: expected 'key = value' or "
                 "'[section]'",
                 ld->name, rc);
        return -EINVAL;
    }
    if (rc == -2) {
        snprintf(ld->err, GN_ERR_LEN, "%s: out of memory", ld->name);
        return -ENOMEM;
    }
    return ld->error_line ? -EINVAL : 0;
}

/* ---- reading the file ------------------------------------------------- */

static const char *file_kind(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a plain file";
}

static int cannot_read(const char *path, int rc, const char *why,
                       char err[GN_ERR_LEN])
{
    snprintf(err, GN_ERR_LEN, "%s: cannot read the config file: %s", path,
             why);
    return rc;
}

static int too_large(const char *path, char err[GN_ERR_LEN])
{
    snprintf(err, GN_ERR_LEN,
             "%s: cannot read the config file: larger than %d bytes (is it "
             "a config file?)",
             path, GN_CONFIG_MAX_BYTES);
    return -EFBIG;
}

/* Read the open FD (at most GN_CONFIG_MAX_BYTES) into *TEXT, which the
 * caller frees. Reads to the end whatever st_size says: files under /proc
 * say 0. */
static int read_all(int fd, const char *path, char **text, size_t *len,
                    char err[GN_ERR_LEN])
{
    size_t room = 4096;
    char *buf = malloc(room), *grown;
    ssize_t n;

    *len = 0;
    while (buf != NULL) {
        if (*len == room) {
            room = room * 2 > GN_CONFIG_MAX_BYTES + 1 ? GN_CONFIG_MAX_BYTES + 1
                                                      : room * 2;
            if ((grown = realloc(buf, room)) == NULL)
                break;
            buf = grown;
        }
        n = read(fd, buf + *len, room - *len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;

            free(buf);
            return cannot_read(path, -e, strerror(e), err);
        }
        if (n == 0) {
            *text = buf;
            return 0;
        }
        *len += (size_t)n;
        if (*len > GN_CONFIG_MAX_BYTES) {
            free(buf);
            return too_large(path, err);
        }
    }
    free(buf);
    return cannot_read(path, -ENOMEM, "out of memory", err);
}

/* PATH whole into *TEXT (*LEN bytes; the caller frees it), if it is a
 * regular file we can read. O_NONBLOCK: opening a FIFO must not wait for a
 * writer; fstat then refuses it. */
static int read_config_file(const char *path, char **text, size_t *len,
                            char err[GN_ERR_LEN])
{
    struct stat st;
    char why[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), rc;

    if (fd < 0)
        return cannot_read(path, -errno, strerror(errno), err);
    if (fstat(fd, &st) != 0) {
        rc = cannot_read(path, -errno, strerror(errno), err);
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(why, sizeof(why), "not a regular file (it is %s)",
                 file_kind(st.st_mode));
        rc = cannot_read(path, S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL, why,
                         err);
    } else if (st.st_size > GN_CONFIG_MAX_BYTES) {
        rc = too_large(path, err);
    } else {
        rc = read_all(fd, path, text, len, err);
    }
    close(fd);
    return rc;
}

int gn__config_load(struct gn_config *cfg, const char *path,
                    char err[GN_ERR_LEN])
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_config_file(path, &text, &len, err);

    if (rc != 0)
        return rc;
    rc = gn__config_load_buffer(cfg, path, text, len, err);
    free(text);
    if (rc == 0) {
        free(cfg->file);
        cfg->file = strdup(path);
    }
    return rc;
}

int gn__config_load_buffer(struct gn_config *cfg, const char *name,
                           const char *text, size_t len, char err[GN_ERR_LEN])
{
    struct load ld = {
        .cfg = cfg, .name = name, .text = text, .end = text + len, .err = err};

    return run_parser(&ld);
}

int gn__config_load_string(struct gn_config *cfg, const char *name,
                           const char *text, char err[GN_ERR_LEN])
{
    return gn__config_load_buffer(cfg, name, text, strlen(text), err);
}

/* ---- overrides and printing ------------------------------------------- */

int gn__config_set(struct gn_config *cfg, const char *name, const char *value,
                   const char *origin, char err[GN_ERR_LEN])
{
    const struct gn_setting *s = gn__setting_find(name);
    int *line, rc;
    size_t nbinds;
    char why[GN_ERR_LEN / 2], label[GN_ERR_LEN / 2];

    if (s == NULL) {
        snprintf(err, GN_ERR_LEN, "%s: unknown setting '%s'", origin, name);
        return -ENOENT;
    }
    line = &cfg->set_line[gn__setting_index(s)];
    if (s->clear != NULL && *line >= 0)
        s->clear(cfg); /* the first flag replaces the file's list */
    *line = -1;        /* set from the command line */
    nbinds = cfg->nbinds;
    rc = s->parse(cfg, s, value, why, sizeof(why));
    /* "--bind (command line)"; "LISTEN_FDS" says where it is from. */
    snprintf(label, sizeof(label), "%s%s", origin,
             *origin == '-' ? " (command line)" : "");
    if (rc == 0)
        rc = label_binds(cfg, nbinds, label);
    if (rc != 0)
        snprintf(err, GN_ERR_LEN, "%s: %s", origin,
                 rc == -ENOMEM ? "out of memory" : why);
    return rc;
}

int gn__config_set_app(struct gn_config *cfg, const char *spec,
                       const char *origin, char err[GN_ERR_LEN])
{
    return gn__config_set(cfg, "module", spec, origin, err);
}

/* A tls:// bind needs a certificate; client certificates need the CAs
 * that sign them. */
static int check_tls(const struct gn_config *cfg, char err[GN_ERR_LEN])
{
    const struct gn_bind *b = NULL;

    for (size_t i = 0; i < cfg->nbinds && b == NULL; i++)
        if (cfg->binds[i].tls)
            b = &cfg->binds[i];
    for (size_t i = 0; i < cfg->nstreams && b == NULL; i++)
        if (cfg->streams[i].bind.tls)
            b = &cfg->streams[i].bind;
    if (b != NULL && cfg->certfile == NULL) {
        snprintf(err, GN_ERR_LEN, "bind %s: TLS needs a certfile", b->spec);
        return -EINVAL;
    }
    if (cfg->certfile == NULL && (cfg->keyfile || cfg->ca_certs)) {
        snprintf(err, GN_ERR_LEN, "%s is set but certfile is not",
                 cfg->keyfile ? "keyfile" : "ca_certs");
        return -EINVAL;
    }
    if (cfg->cert_reqs != GN_CERT_NONE && cfg->ca_certs == NULL) {
        snprintf(err, GN_ERR_LEN,
                 "cert_reqs = %s needs ca_certs (the CAs client certificates "
                 "are checked against)",
                 cfg->cert_reqs == GN_CERT_REQUIRED ? "required" : "optional");
        return -EINVAL;
    }
    return 0;
}

int gn__config_check(const struct gn_config *cfg, char err[GN_ERR_LEN])
{
    const struct gn_setting *mount = gn__setting_find("mount");

    return gn__config_check_apps(cfg, cfg->set_line[gn__setting_index(mount)],
                                 err) ||
                   gn__config_check_streams(cfg, err) || check_tls(cfg, err)
               ? -EINVAL
               : 0;
}

int gn__config_tls_everywhere(const struct gn_config *cfg)
{
    if (cfg->certfile == NULL)
        return 0;
    for (size_t i = 0; i < cfg->nbinds; i++)
        if (cfg->binds[i].tls)
            return 0;
    for (size_t i = 0; i < cfg->nstreams; i++)
        if (cfg->streams[i].bind.tls)
            return 0;
    return 1;
}

int gn__config_serves_http(const struct gn_config *cfg)
{
    return cfg->app.spec != NULL || cfg->nnamed_apps > 0 ||
           cfg->nstreams == 0;
}

struct gn_bind *gn__config_listen_binds(const struct gn_config *cfg,
                                        size_t *n)
{
    size_t nhttp = gn__config_serves_http(cfg) ? cfg->nbinds : 0;
    struct gn_bind *all = calloc(nhttp + cfg->nstreams + 1, sizeof(*all));

    if (all == NULL)
        return NULL;
    if (nhttp > 0)
        memcpy(all, cfg->binds, nhttp * sizeof(*all));
    /* Gunicorn's way: a certfile and no bind marked tls:// makes every
     * HTTP bind TLS. */
    for (size_t i = 0; i < nhttp; i++)
        all[i].tls |= gn__config_tls_everywhere(cfg);
    for (size_t i = 0; i < cfg->nstreams; i++) {
        all[nhttp + i] = cfg->streams[i].bind;
        all[nhttp + i].stream = cfg->streams[i].name;
    }
    *n = nhttp + cfg->nstreams;
    return all;
}

const char *gn__config_proc_name(const struct gn_config *cfg)
{
    return cfg->proc_name     ? cfg->proc_name
           : cfg->app.spec    ? cfg->app.spec
           : cfg->nnamed_apps ? cfg->named_apps[0].spec
           : cfg->nstreams    ? cfg->streams[0].spec
                              : NULL;
}

void gn__config_where(const struct gn_config *cfg, const char *name, char *out,
                      size_t len)
{
    const struct gn_setting *s = gn__setting_find(name);
    int line = s ? cfg->set_line[gn__setting_index(s)] : 0;

    if (line > 0 && cfg->file != NULL)
        snprintf(out, len, "%s:%d: %s", cfg->file, line, name);
    else
        snprintf(out, len, "%s", name);
}

static void print_args(const struct gn_app_conf *app, FILE *out)
{
    for (size_t i = 0; i < app->nargs; i++)
        fprintf(out, "%s = %s\n", app->args[i].name, app->args[i].value);
}

void gn__config_print(const struct gn_config *cfg, FILE *out)
{
    fprintf(out, "; greenicorn effective configuration%s%s\n",
            cfg->file ? " from " : " (defaults)", cfg->file ? cfg->file : "");
    for (const char *const *sec = gn__sections; *sec; sec++) {
        fprintf(out, "\n[%s]\n", *sec);
        for (size_t i = 0; i < gn__settings_count; i++) {
            const struct gn_setting *s = &gn__settings[i];

            if (strcmp(s->section, *sec) != 0)
                continue;
            fprintf(out, "%s = ", s->name);
            s->print(cfg, s, out);
            fputc('\n', out);
        }
    }
    print_args(&cfg->app, out);
    for (size_t i = 0; i < cfg->nnamed_apps; i++) {
        const struct gn_app_conf *app = &cfg->named_apps[i];

        fprintf(out, "\n[app:%s]\nmodule = %s\nmount = %s\n", app->name,
                app->spec ? app->spec : "", app->mount ? app->mount : "");
        if (app->body_limit_line)
            fprintf(out, "limit_request_body = %lld\n",
                    (long long)app->body_limit);
        fprintf(out, "\n[app:%s.args]\n", app->name);
        print_args(app, out);
    }
    gn__streams_print(cfg, out);
}
