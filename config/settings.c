/*
 * The settings table and the parsers of its value types (integers, paths,
 * log levels, listening addresses, the app spec). Names, flags and defaults
 * are Gunicorn's wherever Gunicorn has the setting, so its documentation
 * carries over.
 */
#include "config/settings.h"

#include "config/access_format.h"
#include "config/apps.h"
#include "config/error_pages.h"
#include "config/ipset.h"
#include "core/statsd.h"
#include "core/syslog.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/un.h>

#define FIELD(name) offsetof(struct gn_config, name)

void gn__reason(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void *field(struct gn_config *cfg, const struct gn_setting *s)
{
    return (char *)cfg + s->offset;
}

static const void *cfield(const struct gn_config *cfg,
                          const struct gn_setting *s)
{
    return (const char *)cfg + s->offset;
}

/* ---- integers --------------------------------------------------------- */

static int parse_long(const char *value, long *out)
{
    char *end;

    if (*value == '\0' || *value == ' ' || *value == '+')
        return -EINVAL;
    errno = 0;
    *out = strtol(value, &end, 10);
    if (errno != 0 || *end != '\0')
        return -EINVAL;
    return 0;
}

static int parse_int(struct gn_config *cfg, const struct gn_setting *s,
                     const char *value, char *err, size_t errlen)
{
    long v;

    if (parse_long(value, &v) != 0) {
        gn__reason(err, errlen, "'%s' is not an integer", value);
        return -EINVAL;
    }
    if (v < s->min || v > s->max) {
        if (s->max == INT_MAX)
            gn__reason(err, errlen, "%ld is out of range (must be >= %ld)", v,
                       s->min);
        else
            gn__reason(err, errlen, "%ld is out of range (must be %ld..%ld)", v,
                       s->min, s->max);
        return -EINVAL;
    }
    *(int *)field(cfg, s) = (int)v;
    return 0;
}

static void print_int(const struct gn_config *cfg, const struct gn_setting *s,
                      FILE *out)
{
    fprintf(out, "%d", *(const int *)cfield(cfg, s));
}

/* ---- strings ---------------------------------------------------------- */

/* A file path, or "-" for the standard stream; "" switches it off when the
 * setting allows (min == 0). */
static int parse_path(struct gn_config *cfg, const struct gn_setting *s,
                      const char *value, char *err, size_t errlen)
{
    char **dst = field(cfg, s);
    char *copy = NULL;

    if (*value == '\0' && s->min > 0) {
        gn__reason(err, errlen,
                   "must not be empty (use - for the standard "
                   "stream)");
        return -EINVAL;
    }
    if (*value != '\0' && (copy = strdup(value)) == NULL) {
        gn__reason(err, errlen, "out of memory");
        return -ENOMEM;
    }
    free(*dst);
    *dst = copy;
    return 0;
}

static void print_path(const struct gn_config *cfg, const struct gn_setting *s,
                       FILE *out)
{
    const char *v = *(char *const *)cfield(cfg, s);

    fputs(v ? v : "", out);
}

/* ---- sizes ------------------------------------------------------------- */

/* A byte count in an int64_t field, bounded like the integers. */
static int parse_size(struct gn_config *cfg, const struct gn_setting *s,
                      const char *value, char *err, size_t errlen)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(value, &end, 10);
    if (*value == '\0' || *value == '+' || *value == ' ' || *end != '\0' ||
        errno != 0) {
        gn__reason(err, errlen, "'%s' is not a number of bytes", value);
        return -EINVAL;
    }
    if (v < s->min) {
        gn__reason(err, errlen, "%lld is out of range (must be >= %ld)", v,
                   s->min);
        return -EINVAL;
    }
    *(int64_t *)field(cfg, s) = v;
    return 0;
}

static void print_size(const struct gn_config *cfg, const struct gn_setting *s,
                       FILE *out)
{
    fprintf(out, "%lld", (long long)*(const int64_t *)cfield(cfg, s));
}

/* ---- switches ---------------------------------------------------------- */

static int parse_bool(struct gn_config *cfg, const struct gn_setting *s,
                      const char *value, char *err, size_t errlen)
{
    static const char *const on[] = {"on", "true", "yes", "1", NULL};
    static const char *const off[] = {"off", "false", "no", "0", NULL};

    for (int i = 0; on[i]; i++) {
        if (strcasecmp(value, on[i]) == 0 || strcasecmp(value, off[i]) == 0) {
            *(int *)field(cfg, s) = strcasecmp(value, on[i]) == 0;
            return 0;
        }
    }
    gn__reason(err, errlen, "'%s' is not on or off", value);
    return -EINVAL;
}

static void print_bool(const struct gn_config *cfg, const struct gn_setting *s,
                       FILE *out)
{
    fputs(*(const int *)cfield(cfg, s) ? "on" : "off", out);
}

/* ---- patch_all's families ----------------------------------------------- */

/* gevent's patch_all() keyword names, in the bit order of
 * config.h's GN_CONFIG_PATCH_* (patch/patch.h's families). */
static const char *const patch_families[] = {"socket", "dns", "time",
                                             "select", "ssl", NULL};

/* "dns, ssl": a comma- or space-separated list of families, as a bit
 * mask; "" or "none": no family. */
static int parse_families(struct gn_config *cfg, const struct gn_setting *s,
                          const char *value, char *err, size_t errlen)
{
    int mask = 0;
    const char *p = value;

    if (strcasecmp(value, "none") == 0)
        p = "";
    while (*p != '\0') {
        size_t n = strcspn(p, ", \t");
        int i;

        if (n == 0) {
            p++;
            continue;
        }
        for (i = 0; patch_families[i] != NULL; i++)
            if (strlen(patch_families[i]) == n &&
                strncasecmp(p, patch_families[i], n) == 0)
                break;
        if (patch_families[i] == NULL) {
            gn__reason(err, errlen,
                       "'%.*s' is not a family (socket, dns, time, select, "
                       "ssl)",
                       (int)n, p);
            return -EINVAL;
        }
        mask |= 1 << i;
        p += n;
    }
    *(int *)field(cfg, s) = mask;
    return 0;
}

static void print_families(const struct gn_config *cfg,
                           const struct gn_setting *s, FILE *out)
{
    int mask = *(const int *)cfield(cfg, s), any = 0;

    for (int i = 0; patch_families[i] != NULL; i++)
        if (mask & (1 << i))
            fprintf(out, "%s%s", any++ ? ", " : "", patch_families[i]);
    if (!any)
        fputs("none", out);
}

/* Engine.IO's transports, in the bit order of GN_CONFIG_SIO_*. */
static const char *const sio_transports[] = {"polling", "websocket", NULL};

/* "polling, websocket": a comma- or space-separated list of transports,
 * as a bit mask; at least one. */
static int parse_transports(struct gn_config *cfg, const struct gn_setting *s,
                            const char *value, char *err, size_t errlen)
{
    int mask = 0;

    for (const char *p = value; *p != '\0';) {
        size_t n = strcspn(p, ", \t");
        int i;

        if (n == 0) {
            p++;
            continue;
        }
        for (i = 0; sio_transports[i] != NULL; i++)
            if (strlen(sio_transports[i]) == n &&
                strncasecmp(p, sio_transports[i], n) == 0)
                break;
        if (sio_transports[i] == NULL) {
            gn__reason(err, errlen,
                       "'%.*s' is not a transport (polling, websocket)",
                       (int)n, p);
            return -EINVAL;
        }
        mask |= 1 << i;
        p += n;
    }
    if (mask == 0) {
        gn__reason(err, errlen, "name at least one transport");
        return -EINVAL;
    }
    *(int *)field(cfg, s) = mask;
    return 0;
}

static void print_transports(const struct gn_config *cfg,
                             const struct gn_setting *s, FILE *out)
{
    int mask = *(const int *)cfield(cfg, s), any = 0;

    for (int i = 0; sio_transports[i] != NULL; i++)
        if (mask & (1 << i))
            fprintf(out, "%s%s", any++ ? ", " : "", sio_transports[i]);
}

/* ---- text and address sets ---------------------------------------------- */

/* A header value: printable, no CR, LF or other controls; "" means none. */
static int parse_text(struct gn_config *cfg, const struct gn_setting *s,
                      const char *value, char *err, size_t errlen)
{
    for (const char *c = value; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            gn__reason(err, errlen, "control characters are not allowed");
            return -EINVAL;
        }
    }
    return parse_path(cfg, s, value, err, errlen);
}

/* A request path: empty (none), or starting with "/" and without spaces,
 * controls, "?" or "#", so that it can equal a request's path. */
static int parse_health_path(struct gn_config *cfg, const struct gn_setting *s,
                             const char *value, char *err, size_t errlen)
{
    if (*value != '\0' && *value != '/') {
        gn__reason(err, errlen, "must start with /");
        return -EINVAL;
    }
    for (const char *c = value; *c; c++) {
        if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '?' || *c == '#') {
            gn__reason(err, errlen,
                       "spaces, controls, ? and # are not allowed");
            return -EINVAL;
        }
    }
    return parse_path(cfg, s, value, err, errlen);
}

/* Engine.IO's path: as a health check's, but never empty. */
static int parse_sio_path(struct gn_config *cfg, const struct gn_setting *s,
                          const char *value, char *err, size_t errlen)
{
    if (*value == '\0') {
        gn__reason(err, errlen, "must not be empty");
        return -EINVAL;
    }
    return parse_health_path(cfg, s, value, err, errlen);
}

static int parse_ipset(struct gn_config *cfg, const struct gn_setting *s,
                       const char *value, char *err, size_t errlen)
{
    return gn__ipset_parse(field(cfg, s), value, err, errlen);
}

static int parse_access_format(struct gn_config *cfg,
                               const struct gn_setting *s, const char *value,
                               char *err, size_t errlen)
{
    return gn__access_format_parse(field(cfg, s), value, err, errlen);
}

static void print_access_format(const struct gn_config *cfg,
                                const struct gn_setting *s, FILE *out)
{
    fputs(((const struct gn_access_format *)cfield(cfg, s))->spec, out);
}

static void print_ipset(const struct gn_config *cfg, const struct gn_setting *s,
                        FILE *out)
{
    const struct gn_ipset *set = cfield(cfg, s);

    fputs(set->spec ? set->spec : "", out);
}

/* ---- statsd and metrics ------------------------------------------------- */

static int parse_statsd_host(struct gn_config *cfg, const struct gn_setting *s,
                             const char *value, char *err, size_t errlen)
{
    if (*value != '\0' && !gn__statsd_addr_valid(value)) {
        gn__reason(err, errlen, "'%s' is not HOST:PORT or unix:PATH", value);
        return -EINVAL;
    }
    return parse_path(cfg, s, value, err, errlen);
}

static int parse_metrics_bind(struct gn_config *cfg, const struct gn_setting *s,
                              const char *value, char *err, size_t errlen)
{
    char host[256], port[16];

    if (*value != '\0' && gn__hostport_split(value, NULL, host, sizeof(host),
                                              port, sizeof(port)) != 0) {
        gn__reason(err, errlen, "'%s' is not HOST:PORT", value);
        return -EINVAL;
    }
    return parse_path(cfg, s, value, err, errlen);
}

/* dogstatsd tags: "a:b,c", without the characters statsd lines use. */
static int parse_tags(struct gn_config *cfg, const struct gn_setting *s,
                      const char *value, char *err, size_t errlen)
{
    for (const char *c = value; *c; c++) {
        if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '|' ||
            *c == '#' || *c == '@') {
            gn__reason(err, errlen,
                       "spaces, controls, '|', '#' and '@' are not allowed");
            return -EINVAL;
        }
    }
    return parse_path(cfg, s, value, err, errlen);
}

/* ---- syslog ------------------------------------------------------------- */

static int parse_syslog_addr(struct gn_config *cfg, const struct gn_setting *s,
                             const char *value, char *err, size_t errlen)
{
    if (!gn__syslog_addr_valid(value)) {
        gn__reason(err, errlen, "'%s' is not udp://HOST:PORT or unix://PATH",
                   value);
        return -EINVAL;
    }
    return parse_path(cfg, s, value, err, errlen);
}

static int parse_facility(struct gn_config *cfg, const struct gn_setting *s,
                          const char *value, char *err, size_t errlen)
{
    int code = gn__syslog_facility(value);

    if (code < 0) {
        gn__reason(err, errlen,
                   "'%s' is not a facility (user, daemon, local0..local7, ...)",
                   value);
        return -EINVAL;
    }
    cfg->syslog_facility = code;
    free(cfg->syslog_facility_name);
    cfg->syslog_facility_name = strdup(value);
    return cfg->syslog_facility_name ? 0 : -ENOMEM;
}

static void print_facility(const struct gn_config *cfg,
                           const struct gn_setting *s, FILE *out)
{
    fputs(cfg->syslog_facility_name, out);
}

/* ---- log level -------------------------------------------------------- */

static const struct {
    const char *name;
    int level;
} levels[] = {
    {"debug", GN_LOG_DEBUG},       {"info", GN_LOG_INFO},
    {"warning", GN_LOG_WARNING},   {"error", GN_LOG_ERROR},
    {"critical", GN_LOG_CRITICAL},
};

static int parse_loglevel(struct gn_config *cfg, const struct gn_setting *s,
                          const char *value, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (strcasecmp(value, levels[i].name) == 0) {
            *(int *)field(cfg, s) = levels[i].level;
            return 0;
        }
    }
    gn__reason(err, errlen,
               "'%s' is not a level (debug, info, warning, error, critical)",
               value);
    return -EINVAL;
}

static void print_loglevel(const struct gn_config *cfg,
                           const struct gn_setting *s, FILE *out)
{
    int level = *(const int *)cfield(cfg, s);

    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (levels[i].level == level)
            fputs(levels[i].name, out);
}

/* ---- TLS ---------------------------------------------------------------- */

static const char *const cert_reqs_names[] = {"none", "optional", "required",
                                               NULL};

/* VALUE's place among the N NAMES (any case), or -1. */
static int name_index(const char *const *names, int n, const char *value)
{
    for (int i = 0; i < n; i++)
        if (strcasecmp(value, names[i]) == 0)
            return i;
    return -1;
}

/* none, optional or required; Gunicorn's numbers (Python's ssl.CERT_*) too. */
static int parse_cert_reqs(struct gn_config *cfg, const struct gn_setting *s,
                           const char *value, char *err, size_t errlen)
{
    int i = name_index(cert_reqs_names, 3, value);

    if (i < 0 && value[0] >= '0' && value[0] <= '2' && value[1] == '\0')
        i = value[0] - '0';
    if (i >= 0) {
        *(int *)field(cfg, s) = i;
        return 0;
    }
    gn__reason(err, errlen, "'%s' is not none, optional or required (0, 1, 2)",
               value);
    return -EINVAL;
}

/* 1.2 or 1.3 (TLSv1.2, TLSv1.3 as OpenSSL and nginx write them): the
 * protocol version as on the wire, 0x0303 or 0x0304. Older ones are not
 * offered at all. */
static int parse_tls_version(struct gn_config *cfg, const struct gn_setting *s,
                             const char *value, char *err, size_t errlen)
{
    const char *v = strncasecmp(value, "TLSv", 4) == 0 ? value + 4 : value;

    if (strcmp(v, "1.2") == 0 || strcmp(v, "1.3") == 0) {
        *(int *)field(cfg, s) = v[2] == '2' ? 0x0303 : 0x0304;
        return 0;
    }
    gn__reason(err, errlen,
               "'%s' is not a TLS version greenicorn offers (1.2 or 1.3)",
               value);
    return -EINVAL;
}

static void print_tls_version(const struct gn_config *cfg,
                              const struct gn_setting *s, FILE *out)
{
    fputs(*(const int *)cfield(cfg, s) == 0x0304 ? "1.3" : "1.2", out);
}

/* ---- a choice among names -------------------------------------------- */

static const char *const io_engine_names[] = {"epoll", "io_uring", NULL};
static const char *const affinity_names[] = {"off", "auto", NULL};

/* One of S's names (any case): its index, in the int field. */
static int parse_choice(struct gn_config *cfg, const struct gn_setting *s,
                        const char *value, char *err, size_t errlen)
{
    char list[128];
    size_t len = 0;
    int n = 0, i;

    while (s->names[n] != NULL)
        n++;
    if ((i = name_index(s->names, n, value)) >= 0) {
        *(int *)field(cfg, s) = i;
        return 0;
    }
    list[0] = '\0';
    for (i = 0; i < n && len < sizeof(list); i++)
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
                                i == 0 ? "" : i == n - 1 ? " or " : ", ",
                                s->names[i]);
    gn__reason(err, errlen, "'%s' is not %s (%s)", value, s->kind, list);
    return -EINVAL;
}

static void print_choice(const struct gn_config *cfg,
                         const struct gn_setting *s, FILE *out)
{
    fputs(s->names[*(const int *)cfield(cfg, s)], out);
}

/* ---- listening addresses ---------------------------------------------- */

static int parse_port(const char *text, int *port)
{
    long v;

    if (parse_long(text, &v) != 0 || v < 0 || v > 65535)
        return -EINVAL;
    *port = (int)v;
    return 0;
}

static int parse_unix_bind(struct gn_bind *b, const char *path, char *err,
                           size_t errlen)
{
    if (*path == '\0') {
        gn__reason(err, errlen, "'unix:' needs a path");
        return -EINVAL;
    }
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        gn__reason(err, errlen, "unix socket path is longer than %zu bytes",
                   sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        return -EINVAL;
    }
    b->kind = GN_BIND_UNIX;
    b->path = strdup(path);
    return 0;
}

/* "[v6]:port", "[v6]", "host:port", "host", ":port". */
static int parse_tcp_bind(struct gn_bind *b, const char *spec, char *err,
                          size_t errlen)
{
    const char *host = spec, *colon, *port = NULL;
    size_t hostlen;

    if (*spec == '[') {
        const char *close = strchr(spec, ']');

        if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
            gn__reason(err, errlen, "'%s' is not [IPv6]:PORT", spec);
            return -EINVAL;
        }
        host = spec + 1;
        hostlen = (size_t)(close - host);
        port = close[1] == ':' ? close + 2 : NULL;
    } else {
        colon = strchr(spec, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL) {
            gn__reason(err, errlen,
                       "'%s': write IPv6 addresses in brackets, "
                       "as [::1]:8000",
                       spec);
            return -EINVAL;
        }
        hostlen = colon ? (size_t)(colon - spec) : strlen(spec);
        port = colon ? colon + 1 : NULL;
    }
    b->port = 8000;
    if (port != NULL && parse_port(port, &b->port) != 0) {
        gn__reason(err, errlen, "'%s': port must be 0..65535", spec);
        return -EINVAL;
    }
    b->kind = GN_BIND_TCP;
    b->host = strndup(host, hostlen);
    return 0;
}

static int parse_fd_bind(struct gn_bind *b, const char *spec, char *err,
                         size_t errlen)
{
    long fd;

    if (parse_long(spec + 5, &fd) != 0 || fd < 0 || fd > 65535) {
        gn__reason(err, errlen, "'%s': fd://N needs a descriptor number", spec);
        return -EINVAL;
    }
    b->kind = GN_BIND_FD;
    b->fd = (int)fd;
    b->host = strdup(""); /* every bind owns a string */
    return 0;
}

void gn__bind_clear(struct gn_bind *b)
{
    free(b->spec);
    free(b->host);
    free(b->path);
    free(b->origin);
    memset(b, 0, sizeof(*b));
}

int gn__bind_parse(struct gn_bind *b, const char *spec, char *err,
                   size_t errlen)
{
    int rc;

    const char *addr = spec;

    memset(b, 0, sizeof(*b));
    /* tls://ADDRESS: the same address, its connections speak TLS. */
    if (strncmp(addr, "tls://", 6) == 0) {
        addr += 6;
        if (strncmp(addr, "tls://", 6) == 0 || *addr == '\0') {
            gn__reason(err, errlen, "'%s': tls:// takes one address", spec);
            return -EINVAL;
        }
    }
    if (strncmp(addr, "unix:", 5) == 0)
        rc = parse_unix_bind(b, addr + 5, err, errlen);
    else if (strncmp(addr, "fd://", 5) == 0)
        rc = parse_fd_bind(b, addr, err, errlen);
    else
        rc = parse_tcp_bind(b, addr, err, errlen);
    if (rc != 0)
        return rc;
    b->tls = addr != spec;
    b->spec = strdup(spec);
    if (b->spec == NULL || (b->host == NULL && b->path == NULL)) {
        gn__bind_clear(b);
        gn__reason(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

static int add_bind(struct gn_config *cfg, const char *spec, char *err,
                    size_t errlen)
{
    struct gn_bind b, *grown;
    int rc = gn__bind_parse(&b, spec, err, errlen);

    if (rc != 0)
        return rc;
    grown = realloc(cfg->binds, (cfg->nbinds + 1) * sizeof(*grown));
    if (grown == NULL) {
        if (grown != NULL)
            cfg->binds = grown;
        gn__bind_clear(&b);
        gn__reason(err, errlen, "out of memory");
        return -ENOMEM;
    }
    cfg->binds = grown;
    cfg->binds[cfg->nbinds++] = b;
    return 0;
}

/* Several addresses may share one value, separated by spaces or commas. */
static int parse_bind(struct gn_config *cfg, const struct gn_setting *s,
                      const char *value, char *err, size_t errlen)
{
    char *copy = strdup(value), *save = NULL, *tok;
    int rc = 0, n = 0;

    if (copy == NULL) {
        gn__reason(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (tok = strtok_r(copy, " \t,", &save); tok && rc == 0;
         tok = strtok_r(NULL, " \t,", &save), n++)
        rc = add_bind(cfg, tok, err, errlen);
    free(copy);
    if (rc == 0 && n == 0) {
        gn__reason(err, errlen, "needs at least one address");
        rc = -EINVAL;
    }
    return rc;
}

void gn__binds_clear(struct gn_config *cfg)
{
    for (size_t i = 0; i < cfg->nbinds; i++)
        gn__bind_clear(&cfg->binds[i]);
    free(cfg->binds);
    cfg->binds = NULL;
    cfg->nbinds = 0;
}

static void print_bind(const struct gn_config *cfg, const struct gn_setting *s,
                       FILE *out)
{
    for (size_t i = 0; i < cfg->nbinds; i++)
        fprintf(out, "%s%s", i ? " " : "", cfg->binds[i].spec);
}

/* ---- process settings --------------------------------------------------- */

static int parse_user(struct gn_config *cfg, const struct gn_setting *s,
                      const char *value, char *err, size_t errlen)
{
    struct passwd *pw;
    long id;

    if (*value == '\0') {
        cfg->uid = -1;
        return parse_path(cfg, s, value, err, errlen);
    }
    pw = parse_long(value, &id) == 0 ? getpwuid((uid_t)id) : getpwnam(value);
    if (pw == NULL) {
        gn__reason(err, errlen, "no such user '%s'", value);
        return -EINVAL;
    }
    cfg->uid = (int)pw->pw_uid;
    if (cfg->group == NULL)
        cfg->gid = (int)pw->pw_gid;
    return parse_path(cfg, s, value, err, errlen);
}

static int parse_group(struct gn_config *cfg, const struct gn_setting *s,
                       const char *value, char *err, size_t errlen)
{
    struct group *gr;
    long id;

    if (*value == '\0') {
        cfg->gid = -1;
        return parse_path(cfg, s, value, err, errlen);
    }
    gr = parse_long(value, &id) == 0 ? getgrgid((gid_t)id) : getgrnam(value);
    if (gr == NULL) {
        gn__reason(err, errlen, "no such group '%s'", value);
        return -EINVAL;
    }
    cfg->gid = (int)gr->gr_gid;
    return parse_path(cfg, s, value, err, errlen);
}

/* An octal mask ("022", "0o22", "0"), or "" to keep the inherited one. */
static int parse_umask(struct gn_config *cfg, const struct gn_setting *s,
                       const char *value, char *err, size_t errlen)
{
    const char *digits = value[0] == '0' && (value[1] == 'o' || value[1] == 'O')
                             ? value + 2
                             : value;
    char *end;
    long v;

    if (*value == '\0') {
        cfg->umask = -1;
        return 0;
    }
    v = strtol(digits, &end, 8);
    if (*digits == '\0' || *end != '\0' || v < 0 || v > 0777) {
        gn__reason(err, errlen, "'%s' is not an octal mask (0..0777)", value);
        return -EINVAL;
    }
    cfg->umask = (int)v;
    return 0;
}

static void print_umask(const struct gn_config *cfg, const struct gn_setting *s,
                        FILE *out)
{
    if (cfg->umask >= 0)
        fprintf(out, "0%03o", (unsigned)cfg->umask);
}

static int parse_dir(struct gn_config *cfg, const struct gn_setting *s,
                     const char *value, char *err, size_t errlen)
{
    struct stat st;

    if (*value != '\0' && (stat(value, &st) != 0 || !S_ISDIR(st.st_mode))) {
        gn__reason(err, errlen, "'%s' is not a directory", value);
        return -EINVAL;
    }
    return parse_path(cfg, s, value, err, errlen);
}

void gn__raw_env_clear(struct gn_config *cfg)
{
    for (size_t i = 0; i < cfg->nraw_env; i++)
        free(cfg->raw_env[i]);
    free(cfg->raw_env);
    cfg->raw_env = NULL;
    cfg->nraw_env = 0;
}

/* One "KEY=VALUE" per line (the key may repeat to add more). */
static int parse_raw_env(struct gn_config *cfg, const struct gn_setting *s,
                         const char *value, char *err, size_t errlen)
{
    const char *eq = strchr(value, '=');
    char **grown, *copy;

    if (*value == '\0')
        return 0;
    if (eq == NULL || eq == value) {
        gn__reason(err, errlen, "'%s' is not KEY=VALUE", value);
        return -EINVAL;
    }
    grown = realloc(cfg->raw_env, (cfg->nraw_env + 1) * sizeof(*grown));
    copy = strdup(value);
    if (grown != NULL)
        cfg->raw_env = grown;
    if (grown == NULL || copy == NULL) {
        free(copy);
        gn__reason(err, errlen, "out of memory");
        return -ENOMEM;
    }
    cfg->raw_env[cfg->nraw_env++] = copy;
    return 0;
}

static void print_raw_env(const struct gn_config *cfg,
                          const struct gn_setting *s, FILE *out)
{
    /* Several values: the first here, the others as repeated keys. */
    for (size_t i = 0; i < cfg->nraw_env; i++) {
        if (i > 0)
            fprintf(out, "\n%s = ", s->name);
        fputs(cfg->raw_env[i], out);
    }
}

/* ---- error pages ------------------------------------------------------ */

/* "STATUS... FILE [TYPE]" (the key may repeat to add more). */
static int parse_error_page(struct gn_config *cfg, const struct gn_setting *s,
                            const char *value, char *err, size_t errlen)
{
    (void)s;
    return gn__error_page_parse(&cfg->error_pages, value, err, errlen);
}

static void print_error_page(const struct gn_config *cfg,
                             const struct gn_setting *s, FILE *out)
{
    gn__error_pages_print(&cfg->error_pages, s->name, out);
}

static void error_pages_clear(struct gn_config *cfg)
{
    gn__error_pages_clear(&cfg->error_pages);
}

/* ---- the app ---------------------------------------------------------- */

static int parse_app(struct gn_config *cfg, const struct gn_setting *s,
                     const char *value, char *err, size_t errlen)
{
    if (*value == '\0') {
        gn__app_spec_clear(&cfg->app);
        return 0;
    }
    return gn__app_spec_parse(&cfg->app, value, err, errlen);
}

static int parse_mount(struct gn_config *cfg, const struct gn_setting *s,
                       const char *value, char *err, size_t errlen)
{
    return gn__mount_parse(&cfg->app.mount, value, err, errlen);
}

static void print_mount(const struct gn_config *cfg, const struct gn_setting *s,
                        FILE *out)
{
    fputs(cfg->app.mount, out);
}

static void print_app(const struct gn_config *cfg, const struct gn_setting *s,
                      FILE *out)
{
    fputs(cfg->app.spec ? cfg->app.spec : "", out);
}

/* ---- hooks ------------------------------------------------------------ */

const char *const gn__hook_names[GN_HOOK_COUNT] = {
    "on_starting", "on_reload",        "when_ready",   "pre_fork",
    "post_fork",   "post_worker_init", "worker_int",   "worker_abort",
    "pre_exec",    "pre_request",      "post_request", "child_exit",
    "worker_exit", "nworkers_changed", "on_exit",
};

/* PATH.so[:SYMBOL], checked for its shape; empty: no hook. Stored as
 * written (the loader splits it, with the hook's default symbol). */
static int parse_hook(struct gn_config *cfg, const struct gn_setting *s,
                      const char *value, char *err, size_t errlen)
{
    char *path, *symbol;

    if (*value != '\0') {
        if (gn__spec_split(value, "-", &path, &symbol, err, errlen) != 0)
            return -EINVAL;
        free(path);
        free(symbol);
    }
    return parse_path(cfg, s, value, err, errlen);
}

/* ---- the table -------------------------------------------------------- */

#define HOOK_SETTING(n, id)                                                    \
    {                                                                          \
        .name = #n, .section = "hooks", .metavar = "PATH.so[:SYMBOL]",         \
        .parse = parse_hook, .print = print_path,                              \
        .offset = offsetof(struct gn_config, hooks[id]), .defval = "",         \
        .help = "the " #n " server hook"                                       \
    }

#define INT_SETTING(n, sec, fl, sh, lo, hi, def, h)                            \
    {                                                                          \
        .name = #n, .section = sec, .flag = fl, .short_flag = sh,              \
        .metavar = "INT", .parse = parse_int, .print = print_int,              \
        .offset = FIELD(n), .min = lo, .max = hi, .defval = def, .help = h     \
    }

/* A byte count (an int64_t field), at least LO. */
#define SIZE_SETTING(n, sec, fl, lo, def, h)                                  \
    {                                                                          \
        .name = #n, .section = sec, .flag = fl, .metavar = "BYTES",            \
        .parse = parse_size, .print = print_size, .offset = FIELD(n),          \
        .min = lo, .defval = def, .help = h                                    \
    }

/* An on|off switch: --FLAG turns it on, INI takes on/off/yes/no/... */
#define BOOL_SETTING(n, sec, fl, sh, def, h)                                  \
    {                                                                          \
        .name = #n, .section = sec, .flag = fl, .short_flag = sh,              \
        .metavar = "on|off", .parse = parse_bool, .print = print_bool,         \
        .offset = FIELD(n), .is_switch = 1, .defval = def, .help = h           \
    }

/* A switch that is on by default, so its flag takes a value
 * (--defer-accept off) instead of being a bare switch. */
#define ONOFF_SETTING(n, sec, fl, def, h)                                     \
    {                                                                          \
        .name = #n, .section = sec, .flag = fl, .metavar = "on|off",           \
        .parse = parse_bool, .print = print_bool, .offset = FIELD(n),          \
        .defval = def, .help = h                                               \
    }

/* One of NAMES (parse_choice), KIND in an error. */
#define CHOICE_SETTING(n, sec, fl, meta, nm, kd, def, h)                      \
    {                                                                          \
        .name = #n, .section = sec, .flag = fl, .metavar = meta,               \
        .parse = parse_choice, .print = print_choice, .names = nm,             \
        .kind = kd, .offset = FIELD(n), .defval = def, .help = h               \
    }

const struct gn_setting gn__settings[] = {
    {.name = "bind",
     .section = "server",
     .flag = "bind",
     .short_flag = 'b',
     .metavar = "ADDRESS",
     .parse = parse_bind,
     .print = print_bind,
     .clear = gn__binds_clear,
     .defval = "127.0.0.1:8000",
     .help = "address to listen on: HOST:PORT, [IPv6]:PORT, HOST, :PORT, "
             "unix:PATH or fd://N, each as tls://ADDRESS for TLS (repeat "
             "for several)"},
    INT_SETTING(backlog, "server", "backlog", 0, 1, INT_MAX, "2048",
                "the listen() backlog of each socket"),
    BOOL_SETTING(reuse_port, "server", "reuse-port", 0, "off",
                 "give each worker its own listening socket on TCP addresses "
                 "(SO_REUSEPORT): the kernel spreads connections, no herd"),
    ONOFF_SETTING(defer_accept, "server", "defer-accept", "on",
                  "hand an HTTP connection to a worker once its first bytes "
                  "came (TCP_DEFER_ACCEPT, nginx's \"deferred\"): one "
                  "wake-up for the connection and its request"),
    ONOFF_SETTING(accept_balance, "server", "accept-balance", "on",
                  "on a socket the workers share, a worker holding more "
                  "connections than another leaves new ones to it, so a "
                  "burst is spread over the workers"),
    {.name = "metrics_bind",
     .section = "server",
     .flag = "metrics-bind",
     .metavar = "HOST:PORT",
     .parse = parse_metrics_bind,
     .print = print_path,
     .offset = FIELD(metrics_bind),
     .min = 0,
     .defval = "",
     .help = "where the arbiter serves Prometheus metrics at /metrics "
             "(default: nowhere)"},
    INT_SETTING(workers, "workers", "workers", 'w', 1, 1024, "1",
                "the number of worker processes"),
    INT_SETTING(worker_connections, "workers", "worker-connections", 0, 1,
                1000000, "1000",
                "the most connections one worker keeps open at once"),
    INT_SETTING(timeout, "workers", "timeout", 't', 0, 86400, "30",
                "seconds a worker may stay silent before it is killed and "
                "replaced (0: never)"),
    INT_SETTING(graceful_timeout, "workers", "graceful-timeout", 0, 0, 86400,
                "30",
                "seconds workers get to finish in-flight requests "
                "after TERM"),
    INT_SETTING(keepalive, "workers", "keep-alive", 0, 0, 86400, "2",
                "seconds an idle keep-alive connection is kept (0: close "
                "after each response)"),
    INT_SETTING(max_requests, "workers", "max-requests", 0, 0, INT_MAX, "0",
                "requests a worker serves before it is replaced (0: "
                "never)"),
    INT_SETTING(max_requests_jitter, "workers", "max-requests-jitter", 0, 0,
                INT_MAX, "0", "a random 0..N added to max_requests per worker"),
    INT_SETTING(max_worker_memory, "workers", "max-worker-memory", 0, 0,
                INT_MAX, "0",
                "MiB of resident memory past which a worker is replaced, as "
                "max_requests replaces one (0: never)"),
    INT_SETTING(limit_request_line, "http", "limit-request-line", 0, 0, 65536,
                "4094",
                "the longest request line in bytes, else 414 (0: 65536)"),
    INT_SETTING(limit_request_fields, "http", "limit-request-fields", 0, 0,
                32768, "100",
                "the most header fields in a request, else 431 (0: 32768)"),
    INT_SETTING(limit_request_field_size, "http", "limit-request-field_size", 0,
                0, 65536, "8190",
                "the longest header field (name and value) in bytes, else "
                "431 (0: 65536)"),
    INT_SETTING(limit_request_header_size, "http",
                "limit-request-header-size", 0, 0, 8388608, "32768",
                "the largest request head (request line and header fields) "
                "in bytes, else 431 (0: 8388608)"),
    SIZE_SETTING(limit_request_body, "http", "limit-request-body", 0, "0",
                 "the largest request body in bytes, else 413 (0: no limit)"),
    {.name = "error_page",
     .section = "http",
     .flag = "error-page",
     .metavar = "'STATUS... FILE [TYPE]'",
     .parse = parse_error_page,
     .print = print_error_page,
     .clear = error_pages_clear,
     .defval = "",
     .help = "answer the server's own error STATUS with FILE's bytes "
             "(read at start and on HUP) as TYPE, else the type its "
             "extension says (repeatable)"},
    INT_SETTING(first_byte_timeout, "http", "first-byte-timeout", 0, 1, 86400,
                "10",
                "seconds a new connection may wait before sending its first "
                "byte"),
    INT_SETTING(header_timeout, "http", "header-timeout", 0, 1, 86400, "20",
                "seconds from a request's first byte to the end of its "
                "head, else 408"),
    INT_SETTING(body_timeout, "http", "body-timeout", 0, 1, 86400, "30",
                "the longest pause in seconds while a request body arrives, "
                "else 408"),
    INT_SETTING(write_timeout, "http", "write-timeout", 0, 1, 86400, "30",
                "the longest pause in seconds while a client takes a "
                "response, else the connection closes"),
    INT_SETTING(request_timeout, "http", "request-timeout", 0, 0, 86400, "0",
                "seconds a request's handler may take before its green calls "
                "are cancelled and the client gets 504 (0: no limit)"),
    BOOL_SETTING(cancel_on_disconnect, "http", "cancel-on-disconnect", 0, "off",
                 "cancel a handler's green calls when its client leaves (off: "
                 "it runs to the end and only its writes fail)"),
    {.name = "server_header",
     .section = "http",
     .flag = "server-header",
     .metavar = "TEXT",
     .parse = parse_text,
     .print = print_path,
     .offset = FIELD(server_header),
     .min = 0,
     .defval = "greenicorn",
     .help = "the Server header of every response (empty: none)"},
    {.name = "health_check_path",
     .section = "http",
     .flag = "health-check-path",
     .metavar = "PATH",
     .parse = parse_health_path,
     .print = print_path,
     .offset = FIELD(health_check_path),
     .min = 0,
     .defval = "",
     .help = "a path (e.g. /healthz) a worker answers itself with 200, "
             "without routing or calling an app, for a load balancer's "
             "liveness check (empty: none)"},
    SIZE_SETTING(websocket_max_message, "websocket", "websocket-max-message",
                 1, "16777216",
                 "the largest WebSocket message in bytes (all its fragments): "
                 "a larger one is refused with close code 1009 before it is "
                 "stored"),
    SIZE_SETTING(websocket_max_queue, "websocket", "websocket-max-queue", 1,
                 "1048576",
                 "bytes queued for a WebSocket client that reads slower than "
                 "it is sent to: past them (after the sender's timeout) the "
                 "socket is closed with 1013"),
    INT_SETTING(websocket_ping_interval, "websocket", "websocket-ping-interval",
                0, 0, 86400, "0",
                "seconds a WebSocket may stay silent before the server pings "
                "it; no pong within as long again closes it with 1011 (0: no "
                "pings)"),
    BOOL_SETTING(websocket_compression, "websocket", "websocket-compression", 0,
                 "off",
                 "accept permessage-deflate (RFC 7692) when a client offers "
                 "it: messages compressed with zlib, each on its own"),
    {.name = "websocket_allowed_origins",
     .section = "websocket",
     .flag = "websocket-allowed-origins",
     .metavar = "ORIGINS",
     .parse = parse_text,
     .print = print_path,
     .offset = FIELD(websocket_allowed_origins),
     .min = 0,
     .defval = "",
     .help = "the Origins a browser may open a WebSocket from, "
             "comma-separated (e.g. https://example.com); others get 403 "
             "(empty or *: any)"},
    {.name = "socketio_path",
     .section = "socketio",
     .flag = "socketio-path",
     .metavar = "PATH",
     .parse = parse_sio_path,
     .print = print_path,
     .offset = FIELD(socketio_path),
     .min = 1,
     .defval = "/socket.io/",
     .help = "the path Engine.IO (Socket.IO) is served on, under the mount "
             "of an app that speaks it: requests starting with it go to the "
             "engine"},
    INT_SETTING(socketio_ping_interval, "socketio", "socketio-ping-interval",
                0, 1, 3600, "25",
                "seconds between the server's pings to a Socket.IO client "
                "(the handshake's pingInterval)"),
    INT_SETTING(socketio_ping_timeout, "socketio", "socketio-ping-timeout", 0,
                1, 3600, "20",
                "seconds a Socket.IO client may take to answer a ping before "
                "its session is closed (\"ping timeout\"; the handshake's "
                "pingTimeout)"),
    SIZE_SETTING(socketio_max_payload, "socketio", "socketio-max-payload", 1,
                 "1000000",
                 "the largest long-polling POST or WebSocket message of a "
                 "Socket.IO client, in bytes (the handshake's maxPayload): a "
                 "larger POST gets 413 and closes the session"),
    SIZE_SETTING(socketio_max_queue, "socketio", "socketio-max-queue", 1,
                 "4000000",
                 "bytes queued to one Socket.IO session that its client does "
                 "not fetch: past them the session is closed (\"forced "
                 "close\")"),
    {.name = "socketio_transports",
     .section = "socketio",
     .flag = "socketio-transports",
     .metavar = "LIST",
     .parse = parse_transports,
     .print = print_transports,
     .offset = FIELD(socketio_transports),
     .defval = "polling, websocket",
     .help = "the Engine.IO transports offered, comma-separated: polling, "
             "websocket (a polling session upgrades when both are)"},
    BOOL_SETTING(patch_all, "green", "patch-all", 0, "off",
                 "make unmodified blocking C libraries cooperative: their "
                 "socket, DNS, sleep and poll calls inside a worker's "
                 "coroutines park it instead of blocking the worker"),
    {.name = "patch_exclude",
     .section = "green",
     .flag = "patch-exclude",
     .metavar = "FAMILIES",
     .parse = parse_families,
     .print = print_families,
     .offset = FIELD(patch_exclude),
     .defval = "none",
     .help = "families patch_all leaves to the C library, comma-separated: "
             "socket, dns, time, select, ssl"},
    {.name = "resolv_conf",
     .section = "green",
     .flag = "resolv-conf",
     .metavar = "FILE",
     .parse = parse_path,
     .print = print_path,
     .offset = FIELD(resolv_conf),
     .defval = "/etc/resolv.conf",
     .help = "the resolver configuration green name lookups read (a "
             "nameserver may name a port: 127.0.0.1:5353)"},
    INT_SETTING(threadpool_size, "green", "threadpool-size", 0, 1, 1024, "10",
                "threads each worker runs blocking functions on "
                "(gn_run_in_thread); started when first used"),
    INT_SETTING(threadpool_queue, "green", "threadpool-queue", 0, 0, 1000000,
                "1000",
                "calls that may wait for a free thread; past them a call "
                "fails at once with EAGAIN"),
    BOOL_SETTING(proxy_protocol, "proxy", "proxy-protocol", 0, "off",
                 "expect a PROXY protocol v1 or v2 header on each connection "
                 "from proxy_allow_ips"),
    {.name = "proxy_allow_ips",
     .section = "proxy",
     .flag = "proxy-allow-from",
     .metavar = "ADDRS",
     .parse = parse_ipset,
     .print = print_ipset,
     .offset = FIELD(proxy_allow_ips),
     .defval = "127.0.0.1,::1",
     .help = "peers whose PROXY header is believed (addresses, networks, *)"},
    {.name = "forwarded_allow_ips",
     .section = "proxy",
     .flag = "forwarded-allow-ips",
     .metavar = "ADDRS",
     .parse = parse_ipset,
     .print = print_ipset,
     .offset = FIELD(forwarded_allow_ips),
     .defval = "127.0.0.1,::1",
     .help = "peers whose X-Forwarded-For and X-Forwarded-Proto are "
             "believed"},
    {.name = "certfile",
     .section = "tls",
     .flag = "certfile",
     .metavar = "FILE",
     .parse = parse_path,
     .print = print_path,
     .offset = FIELD(certfile),
     .defval = "",
     .help = "the server's certificate chain (PEM): TLS on the tls:// "
             "binds, or on every bind when none is marked; several files "
             "are chosen by SNI"},
    {.name = "keyfile",
     .section = "tls",
     .flag = "keyfile",
     .metavar = "FILE",
     .parse = parse_path,
     .print = print_path,
     .offset = FIELD(keyfile),
     .defval = "",
     .help = "the certificate's private key (PEM), one per certificate; "
             "empty: in certfile"},
    {.name = "ca_certs",
     .section = "tls",
     .flag = "ca-certs",
     .metavar = "FILE",
     .parse = parse_path,
     .print = print_path,
     .offset = FIELD(ca_certs),
     .defval = "",
     .help = "CA certificates (PEM) that client certificates are checked "
             "against"},
    {.name = "cert_reqs",
     .section = "tls",
     .flag = "cert-reqs",
     .metavar = "none|optional|required",
     .parse = parse_cert_reqs,
     .print = print_choice,
     .names = cert_reqs_names,
     .offset = FIELD(cert_reqs),
     .defval = "none",
     .help = "client certificates: not asked for, checked when sent, or "
             "required"},
    {.name = "ciphers",
     .section = "tls",
     .flag = "ciphers",
     .metavar = "LIST",
     .parse = parse_text,
     .print = print_path,
     .offset = FIELD(ciphers),
     .defval = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
               "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
               "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
     .help = "TLS 1.2 cipher list, in OpenSSL's syntax (default: forward "
             "secret AEAD ciphers only)"},
    {.name = "tls_ciphersuites",
     .section = "tls",
     .flag = "tls-ciphersuites",
     .metavar = "LIST",
     .parse = parse_text,
     .print = print_path,
     .offset = FIELD(tls_ciphersuites),
     .defval = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
               "TLS_CHACHA20_POLY1305_SHA256",
     .help = "TLS 1.3 cipher suites, colon-separated"},
    {.name = "tls_min_version",
     .section = "tls",
     .flag = "tls-min-version",
     .metavar = "1.2|1.3",
     .parse = parse_tls_version,
     .print = print_tls_version,
     .offset = FIELD(tls_min_version),
     .defval = "1.2",
     .help = "the oldest TLS version accepted"},
    INT_SETTING(handshake_timeout, "tls", "handshake-timeout", 0, 1, 86400,
                "10",
                "seconds a client has to finish the TLS handshake"),
    INT_SETTING(ticket_key_rotation, "tls", "ticket-key-rotation", 0, 0,
                2592000, "3600",
                "seconds between new TLS session ticket keys (the previous "
                "one still opens tickets; 0: only on HUP)"),
    INT_SETTING(max_blocking_ms, "workers", "max-blocking-ms", 0, 0, 3600000,
                "100",
                "warn when a request's code runs this many milliseconds "
                "without yielding (0: never)"),
    INT_SETTING(stack_size, "workers", "stack-size", 0, 16, 65536, "256",
                "KiB of stack for each request's coroutine and green "
                "thread (an overflow is caught and logged)"),
    INT_SETTING(stack_prealloc, "workers", "stack-prealloc", 0, 0, 1000000,
                "0",
                "requests each worker readies at boot, so that a burst of "
                "them on a fresh worker allocates nothing and takes no page "
                "fault: a coroutine stack, a read buffer, a response and a "
                "send copy each, touched (at most worker_connections; about "
                "15 KiB of memory each)"),
    CHOICE_SETTING(io_engine, "workers", "io-engine", "epoll|io_uring",
                   io_engine_names, "an I/O engine", "io_uring",
                   "how plain TCP HTTP connections move their bytes: epoll "
                   "readiness and a system call each, or io_uring batches "
                   "(falls back to epoll where the kernel refuses it)"),
    INT_SETTING(io_uring_batch_wait, "workers", "io-uring-batch-wait", 0, 0,
                1000, "0",
                "microseconds a busy worker's ring waits for a few dozen "
                "completions once one came, to serve them in one turn: "
                "less CPU where system calls are dear, more latency "
                "(io_uring on Linux 6.17 and later; 0: off)"),
    CHOICE_SETTING(worker_cpu_affinity, "workers", "worker-cpu-affinity",
                   "off|auto", affinity_names, "a CPU affinity", "off",
                   "auto: worker N runs only on the Nth CPU the server may "
                   "use (in turn when there are more workers), and with "
                   "reuse_port its socket takes the connections that CPU "
                   "received"),
    BOOL_SETTING(preload_app, "workers", "preload", 0, "off",
                 "load the apps and run their init in the arbiter, before "
                 "forking: workers share the memory; HUP keeps them"),
    BOOL_SETTING(reload, "workers", "reload", 0, "off",
                 "for development: reload as on HUP when an app's or a hook's "
                 ".so or the config file changes (inotify)"),
    {.name = "accesslog",
     .section = "logging",
     .flag = "access-logfile",
     .metavar = "FILE",
     .parse = parse_path,
     .print = print_path,
     .offset = FIELD(accesslog),
     .min = 0,
     .defval = "",
     .help = "access log file, - for stdout, empty for none"},
    BOOL_SETTING(daemon, "process", "daemon", 'D', "off",
                 "detach from the terminal and run in the background"),
    {.name = "pidfile",
     .section = "process",
     .flag = "pid",
     .short_flag = 'p',
     .metavar = "FILE",
     .parse = parse_path,
     .print = print_path,
     .offset = FIELD(pidfile),
     .min = 0,
     .defval = "",
     .help = "write the arbiter's pid to FILE (removed at exit)"},
    {.name = "control_socket",
     .section = "process",
     .flag = "control-socket",
     .metavar = "PATH",
     .parse = parse_path,
     .print = print_path,
     .offset = FIELD(control_socket),
     .min = 0,
     .defval = "",
     .help = "listen for `greenicorn ctl` commands on the unix socket PATH "
             "(mode 0600; only this user and root)"},
    {.name = "user",
     .section = "process",
     .flag = "user",
     .short_flag = 'u',
     .metavar = "USER",
     .parse = parse_user,
     .print = print_path,
     .offset = FIELD(user),
     .min = 0,
     .defval = "",
     .help = "run workers as USER (name or id), after binding"},
    {.name = "group",
     .section = "process",
     .flag = "group",
     .short_flag = 'g',
     .metavar = "GROUP",
     .parse = parse_group,
     .print = print_path,
     .offset = FIELD(group),
     .min = 0,
     .defval = "",
     .help = "run workers as GROUP (default: the user's group)"},
    {.name = "umask",
     .section = "process",
     .flag = "umask",
     .short_flag = 'm',
     .metavar = "MASK",
     .parse = parse_umask,
     .print = print_umask,
     .defval = "",
     .help = "the file mode mask, octal (default: inherited)"},
    {.name = "chdir",
     .section = "process",
     .flag = "chdir",
     .metavar = "DIR",
     .parse = parse_dir,
     .print = print_path,
     .offset = FIELD(chdir),
     .min = 0,
     .defval = "",
     .help = "change to DIR before loading the app"},
    {.name = "raw_env",
     .section = "process",
     .flag = "env",
     .short_flag = 'e',
     .metavar = "KEY=VALUE",
     .parse = parse_raw_env,
     .print = print_raw_env,
     .clear = gn__raw_env_clear,
     .defval = "",
     .help = "set an environment variable for the app (repeatable)"},
    {.name = "proc_name",
     .section = "process",
     .flag = "name",
     .short_flag = 'n',
     .metavar = "NAME",
     .parse = parse_text,
     .print = print_path,
     .offset = FIELD(proc_name),
     .min = 0,
     .defval = "",
     .help = "the name in process titles (default: the app's)"},
    {.name = "worker_tmp_dir",
     .section = "process",
     .flag = "worker-tmp-dir",
     .metavar = "DIR",
     .parse = parse_dir,
     .print = print_path,
     .offset = FIELD(worker_tmp_dir),
     .min = 0,
     .defval = "",
     .help = "where the workers' heartbeat files live (default: anonymous "
             "shared memory)"},
    {.name = "access_log_format",
     .section = "logging",
     .flag = "access-logformat",
     .metavar = "FORMAT",
     .parse = parse_access_format,
     .print = print_access_format,
     .offset = FIELD(access_log_format),
     .defval = GN_ACCESS_FORMAT_DEFAULT,
     .help = "the access log line, in Gunicorn's atoms"},
    BOOL_SETTING(syslog, "logging", "log-syslog", 0, "off",
                 "also send the error and access logs to syslog"),
    {.name = "syslog_addr",
     .section = "logging",
     .flag = "log-syslog-to",
     .metavar = "ADDR",
     .parse = parse_syslog_addr,
     .print = print_path,
     .offset = FIELD(syslog_addr),
     .min = 1,
     .defval = "udp://localhost:514",
     .help = "where syslog listens: udp://HOST:PORT or unix://PATH"},
    {.name = "syslog_prefix",
     .section = "logging",
     .flag = "log-syslog-prefix",
     .metavar = "NAME",
     .parse = parse_text,
     .print = print_path,
     .offset = FIELD(syslog_prefix),
     .min = 0,
     .defval = "",
     .help = "the program name in syslog (default: greenicorn)"},
    {.name = "syslog_facility",
     .section = "logging",
     .flag = "log-syslog-facility",
     .metavar = "NAME",
     .parse = parse_facility,
     .print = print_facility,
     .defval = "user",
     .help = "the syslog facility: user, daemon, local0..local7, ..."},
    {.name = "errorlog",
     .section = "logging",
     .flag = "error-logfile",
     .metavar = "FILE",
     .parse = parse_path,
     .print = print_path,
     .offset = FIELD(errorlog),
     .min = 1,
     .defval = "-",
     .help = "error log file, - for stderr"},
    {.name = "loglevel",
     .section = "logging",
     .flag = "log-level",
     .metavar = "LEVEL",
     .parse = parse_loglevel,
     .print = print_loglevel,
     .offset = FIELD(loglevel),
     .defval = "info",
     .help = "debug, info, warning, error or critical"},
    {.name = "statsd_host",
     .section = "logging",
     .flag = "statsd-host",
     .metavar = "HOST:PORT",
     .parse = parse_statsd_host,
     .print = print_path,
     .offset = FIELD(statsd_host),
     .min = 0,
     .defval = "",
     .help = "send statsd metrics to HOST:PORT (port 8125 by default) or "
             "unix:PATH over datagrams (default: none)"},
    {.name = "statsd_prefix",
     .section = "logging",
     .flag = "statsd-prefix",
     .metavar = "PREFIX",
     .parse = parse_tags,
     .print = print_path,
     .offset = FIELD(statsd_prefix),
     .min = 0,
     .defval = "",
     .help = "put PREFIX. before every statsd metric name"},
    {.name = "dogstatsd_tags",
     .section = "logging",
     .flag = "dogstatsd-tags",
     .metavar = "TAGS",
     .parse = parse_tags,
     .print = print_path,
     .offset = FIELD(dogstatsd_tags),
     .min = 0,
     .defval = "",
     .help = "comma-separated DogStatsD tags (a:b,c) added to every "
             "statsd metric"},
    HOOK_SETTING(on_starting, GN_HOOK_ON_STARTING),
    HOOK_SETTING(on_reload, GN_HOOK_ON_RELOAD),
    HOOK_SETTING(when_ready, GN_HOOK_WHEN_READY),
    HOOK_SETTING(pre_fork, GN_HOOK_PRE_FORK),
    HOOK_SETTING(post_fork, GN_HOOK_POST_FORK),
    HOOK_SETTING(post_worker_init, GN_HOOK_POST_WORKER_INIT),
    HOOK_SETTING(worker_int, GN_HOOK_WORKER_INT),
    HOOK_SETTING(worker_abort, GN_HOOK_WORKER_ABORT),
    HOOK_SETTING(pre_exec, GN_HOOK_PRE_EXEC),
    HOOK_SETTING(pre_request, GN_HOOK_PRE_REQUEST),
    HOOK_SETTING(post_request, GN_HOOK_POST_REQUEST),
    HOOK_SETTING(child_exit, GN_HOOK_CHILD_EXIT),
    HOOK_SETTING(worker_exit, GN_HOOK_WORKER_EXIT),
    HOOK_SETTING(nworkers_changed, GN_HOOK_NWORKERS_CHANGED),
    HOOK_SETTING(on_exit, GN_HOOK_ON_EXIT),
    {.name = "module",
     .section = "app",
     .flag = NULL,
     .metavar = "APP",
     .parse = parse_app,
     .print = print_app,
     .defval = "",
     .help = "the app plugin, PATH.so[:SYMBOL] (the APP argument)"},
    {.name = "mount",
     .section = "app",
     .metavar = "PATH",
     .parse = parse_mount,
     .print = print_mount,
     .defval = "/",
     .help = "the URL prefix the app serves (longest mount wins)"},
};

const size_t gn__settings_count =
    sizeof(gn__settings) / sizeof(gn__settings[0]);

const char *const gn__sections[] = {
    "server",  "workers", "http", "websocket", "socketio", "green", "proxy",
    "tls",
    "process", "logging", "hooks", "app",      "app.args",  NULL};

const struct gn_setting *gn__setting_find(const char *name)
{
    for (size_t i = 0; i < gn__settings_count; i++)
        if (strcmp(gn__settings[i].name, name) == 0)
            return &gn__settings[i];
    return NULL;
}

size_t gn__setting_index(const struct gn_setting *s)
{
    return (size_t)(s - gn__settings);
}

int gn__section_known(const char *name)
{
    for (const char *const *sec = gn__sections; *sec; sec++)
        if (strcmp(*sec, name) == 0)
            return 1;
    return 0;
}

/* Levenshtein distance, capped: names are short. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64], prev, tmp;

    if (la >= 64 || lb >= 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            tmp = row[j];
            row[j] = prev + (a[i - 1] != b[j - 1]);
            if (row[j - 1] + 1 < row[j])
                row[j] = row[j - 1] + 1;
            if (tmp + 1 < row[j])
                row[j] = tmp + 1;
            prev = tmp;
        }
    }
    return row[lb];
}

const char *gn__setting_suggest(const char *name)
{
    const char *best = NULL;
    size_t best_d = 3;

    for (size_t i = 0; i < gn__settings_count; i++) {
        size_t d = distance(name, gn__settings[i].name);

        if (d < best_d) {
            best_d = d;
            best = gn__settings[i].name;
        }
    }
    return best;
}
