/*
 * static: serves the files under a directory, the way a plugin should send
 * files: the kernel copies them (gn_response_sendfile), the handler never
 * reads them.
 *
 *     [app:files]
 *     module = build/contrib/apps/static.so
 *     mount = /static
 *
 *     [app:files.args]
 *     root = /srv/www            the directory served (required)
 *     index = index.html         served for a directory (default: none,
 *                                so directories are 404)
 *     mime_types = /etc/mime.types
 *                                extension -> Content-Type table (the
 *                                default, from Debian's media-types; when
 *                                it is missing a built-in table of common
 *                                web types serves; a file named here must
 *                                be readable). text/ types get
 *                                "; charset=utf-8".
 *
 * GET and HEAD only (405 otherwise). The request's PATH_INFO names the
 * file under root; nothing outside root is ever opened: ".." segments are
 * refused and the file is opened with openat2(RESOLVE_BENEATH), which also
 * stops symlinks that lead out. Regular files only: a FIFO, socket or
 * device is 404, and none is ever waited on. It answers Last-Modified and
 * ETag, and 304 to a matching If-None-Match (a list of entity tags,
 * weakly compared) or, without one, to an If-Modified-Since date not
 * older than the file (any of the three HTTP-date forms). A single
 * `Range: bytes=A-B` (or A-, or -N) on a GET is 206, 416 when it starts
 * past the end; a Range that does not parse, or several, is ignored and
 * the whole file sent (RFC 9110 14.2); If-Range is honoured. Dates are
 * written and read without the locale.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <greenicorn.h>

struct mime_entry {
    char *ext;        /* malloc'd: an extension, as the file spells it */
    const char *type; /* the Content-Type, one of mime.types[] */
    size_t line;      /* where it was read: the first one wins */
};

/* The extension -> type table of a mime.types file, sorted by extension. */
struct mime {
    struct mime_entry *entries;
    size_t len, cap;
    char **types; /* malloc'd Content-Type strings the entries point to */
    size_t ntypes, types_cap;
};

struct site {
    int root;          /* O_PATH descriptor of the root directory */
    const char *index; /* file served for a directory, or NULL */
    struct mime mime;  /* empty when no mime.types was found */
};

#define MIME_TYPES "/etc/mime.types" /* Debian's package media-types */

/* Used only when there is no /etc/mime.types: the types a web page needs. */
static const struct {
    const char *ext, *type;
} fallback_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/vnd.microsoft.icon"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
};

static int mime_entry_cmp(const void *a, const void *b)
{
    const struct mime_entry *x = a, *y = b;
    int c = strcasecmp(x->ext, y->ext);

    if (c != 0)
        return c;
    return x->line < y->line ? -1 : x->line > y->line;
}

static int mime_key_cmp(const void *key, const void *entry)
{
    return strcasecmp(key, ((const struct mime_entry *)entry)->ext);
}

/* The type of the file called PATH: by its extension, from mime.types
 * when there is one, else from the fallback table. */
static const char *content_type(const struct mime *m, const char *path)
{
    const char *dot = strrchr(path, '.');
    const struct mime_entry *e;

    if (dot == NULL || strchr(dot, '/') != NULL || dot[1] == '\0')
        return "application/octet-stream";
    if (m->len > 0) {
        e = bsearch(dot + 1, m->entries, m->len, sizeof(*e), mime_key_cmp);
        return e != NULL ? e->type : "application/octet-stream";
    }
    for (size_t i = 0; i < sizeof(fallback_types) / sizeof(fallback_types[0]);
         i++)
        if (strcasecmp(dot + 1, fallback_types[i].ext) == 0)
            return fallback_types[i].type;
    return "application/octet-stream";
}

/* Keep TYPE, with a charset for text: what is served as text/... here is
 * taken to be UTF-8, as the fallback table always did. */
static const char *mime_keep_type(struct mime *m, const char *type)
{
    const char *charset =
        strncasecmp(type, "text/", 5) == 0 ? "; charset=utf-8" : "";
    size_t n = strlen(type) + strlen(charset) + 1;
    char *copy;

    if (m->ntypes == m->types_cap) {
        size_t cap = m->types_cap ? m->types_cap * 2 : 256;
        char **grown = realloc(m->types, cap * sizeof(*grown));

        if (grown == NULL)
            return NULL;
        m->types = grown;
        m->types_cap = cap;
    }
    if ((copy = malloc(n)) == NULL)
        return NULL;
    snprintf(copy, n, "%s%s", type, charset);
    m->types[m->ntypes++] = copy;
    return copy;
}

static int mime_add(struct mime *m, const char *ext, const char *type,
                    size_t line)
{
    struct mime_entry *e;

    if (m->len == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        struct mime_entry *grown = realloc(m->entries, cap * sizeof(*grown));

        if (grown == NULL)
            return -ENOMEM;
        m->entries = grown;
        m->cap = cap;
    }
    e = &m->entries[m->len];
    if ((e->ext = strdup(ext)) == NULL)
        return -ENOMEM;
    e->type = type;
    e->line = line;
    m->len++;
    return 0;
}

/* One line of mime.types: "type ext ext...", or a comment. */
static int mime_line(struct mime *m, char *text, size_t line)
{
    static const char space[] = " \t\r\n";
    char *save, *type = strtok_r(text, space, &save), *ext;
    const char *kept;
    int rc = 0;

    if (type == NULL || type[0] == '#' ||
        (ext = strtok_r(NULL, space, &save)) == NULL)
        return 0;
    if ((kept = mime_keep_type(m, type)) == NULL)
        return -ENOMEM;
    for (; rc == 0 && ext != NULL && ext[0] != '#';
         ext = strtok_r(NULL, space, &save))
        rc = mime_add(m, ext, kept, line);
    return rc;
}

static void mime_free(struct mime *m)
{
    for (size_t i = 0; i < m->len; i++)
        free(m->entries[i].ext);
    for (size_t i = 0; i < m->ntypes; i++)
        free(m->types[i]);
    free(m->entries);
    free(m->types);
    *m = (struct mime){0};
}

/* Read the mime.types file PATH into M: 0, or a negative errno (M is then
 * empty). An extension listed twice keeps its first type. */
static int mime_load(struct mime *m, const char *path)
{
    FILE *f = fopen(path, "re");
    char *text = NULL;
    size_t size = 0, line = 0, out = 0;
    int rc = 0;

    if (f == NULL)
        return -errno;
    while (rc == 0 && getline(&text, &size, f) >= 0)
        rc = mime_line(m, text, ++line);
    if (rc == 0 && ferror(f))
        rc = -EIO;
    free(text);
    fclose(f);
    if (rc != 0) {
        mime_free(m);
        return rc;
    }
    qsort(m->entries, m->len, sizeof(*m->entries), mime_entry_cmp);
    for (size_t i = 0; i < m->len; i++) {
        if (out > 0 &&
            strcasecmp(m->entries[out - 1].ext, m->entries[i].ext) == 0)
            free(m->entries[i].ext);
        else
            m->entries[out++] = m->entries[i];
    }
    m->len = out;
    return 0;
}

/* PATH_INFO holds no ".." segment (decoded: "%2e%2e" counts too). */
static int safe_path(const char *p)
{
    while (*p != '\0') {
        size_t n;

        while (*p == '/')
            p++;
        n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 0;
        p += n;
    }
    return 1;
}

/* Open REL under ROOT, never leaving it (not even through a symlink). */
static int open_beneath(int root, const char *rel)
{
    struct open_how how = {.flags =
                               O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    long fd = syscall(SYS_openat2, root, *rel ? rel : ".", &how, sizeof(how));

    return fd < 0 ? -errno : (int)fd;
}

static int answer(gn_response_t *res, int status, const char *text)
{
    gn_response_status(res, status, NULL);
    gn_response_header(res, "Content-Type", "text/plain; charset=utf-8");
    return gn_response_printf(res, "%s\n", text);
}

/* ---- HTTP dates (RFC 9110 5.6.7), without the locale -------------------
 *
 * strftime's %a and %b follow LC_TIME: an app sharing the worker that
 * calls setlocale(LC_ALL, "") would make this send "Di, 14 Nov" under
 * de_DE. The names are English by the protocol, so they are spelt here. */

static const char day_names[7][10] = {"Sunday",    "Monday",   "Tuesday",
                                      "Wednesday", "Thursday", "Friday",
                                      "Saturday"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr",
                                        "May", "Jun", "Jul", "Aug",
                                        "Sep", "Oct", "Nov", "Dec"};

/* T as an IMF-fixdate: "Tue, 14 Nov 2023 22:13:20 GMT" (30 bytes). */
static void http_date(time_t t, char *out, size_t len)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(out, len, "%.3s, %02d %s %04d %02d:%02d:%02d GMT",
             day_names[tm.tm_wday], tm.tm_mday, month_names[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Days from 1970-01-01 to Y-M-D in the proleptic Gregorian calendar (the
 * days_from_civil of Howard Hinnant's date algorithms), so the parser
 * needs neither timegm nor the TZ variable. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return days[m - 1] + (m == 2 && leap);
}

/* Exactly N digits at *P: their value, or -1. */
static int digits(const char **p, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    return v;
}

/* WORD at *P, consumed: 1, or 0 and *P untouched. */
static int lit(const char **p, const char *word)
{
    size_t n = strlen(word);

    if (strncmp(*p, word, n) != 0)
        return 0;
    *p += n;
    return 1;
}

/* A month name at *P: 1 to 12, or -1. */
static int month(const char **p)
{
    for (int i = 0; i < 12; i++)
        if (strncmp(*p, month_names[i], 3) == 0) {
            *p += 3;
            return i + 1;
        }
    return -1;
}

/* "HH:MM:SS" at *P: seconds into the day, or -1. */
static int time_of_day(const char **p)
{
    int h = digits(p, 2), m, s;

    if (h < 0 || h > 23 || !lit(p, ":") || (m = digits(p, 2)) < 0 || m > 59 ||
        !lit(p, ":") || (s = digits(p, 2)) < 0 || s > 60)
        return -1;
    return h * 3600 + m * 60 + s;
}

/* A two-digit year of RFC 850: the one not more than 50 years ahead of
 * now (RFC 9110 5.6.7). */
static int full_year(int yy)
{
    time_t now = time(NULL);
    struct tm tm;
    int y;

    gmtime_r(&now, &tm);
    y = (tm.tm_year + 1900) / 100 * 100 + yy;
    return y > tm.tm_year + 1900 + 50 ? y - 100 : y;
}

/* The day name at *P, long (RFC 850) or short: its index, or -1. */
static int day_name(const char **p, int *long_form)
{
    for (int i = 0; i < 7; i++) {
        if (lit(p, day_names[i])) {
            *long_form = 1;
            return i;
        }
        if (strncmp(*p, day_names[i], 3) == 0) {
            *p += 3;
            *long_form = 0;
            return i;
        }
    }
    return -1;
}

/* S as an HTTP-date in any of its three forms: 0 with *T set, or -EINVAL.
 *   IMF-fixdate  Sun, 06 Nov 1994 08:49:37 GMT
 *   RFC 850      Sunday, 06-Nov-94 08:49:37 GMT
 *   asctime      Sun Nov  6 08:49:37 1994
 * The day name is not checked against the date, as nginx does not. */
static int parse_http_date(const char *s, time_t *t)
{
    int long_form, y, m, d, secs;

    if (day_name(&s, &long_form) < 0)
        return -EINVAL;
    if (!long_form && lit(&s, ", ")) { /* IMF-fixdate */
        if ((d = digits(&s, 2)) < 0 || !lit(&s, " ") || (m = month(&s)) < 0 ||
            !lit(&s, " ") || (y = digits(&s, 4)) < 0 || !lit(&s, " ") ||
            (secs = time_of_day(&s)) < 0 || !lit(&s, " GMT"))
            return -EINVAL;
    } else if (long_form && lit(&s, ", ")) { /* RFC 850 */
        if ((d = digits(&s, 2)) < 0 || !lit(&s, "-") || (m = month(&s)) < 0 ||
            !lit(&s, "-") || (y = digits(&s, 2)) < 0 || !lit(&s, " ") ||
            (secs = time_of_day(&s)) < 0 || !lit(&s, " GMT"))
            return -EINVAL;
        y = full_year(y);
    } else if (!long_form && lit(&s, " ")) { /* asctime */
        if ((m = month(&s)) < 0 || !lit(&s, " "))
            return -EINVAL;
        d = lit(&s, " ") ? digits(&s, 1) : digits(&s, 2);
        if (d < 0 || !lit(&s, " ") || (secs = time_of_day(&s)) < 0 ||
            !lit(&s, " ") || (y = digits(&s, 4)) < 0)
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    if (*s != '\0' || d < 1 || d > days_in_month(y, m))
        return -EINVAL;
    *t = (time_t)(days_from_civil(y, m, d) * 86400 + secs);
    return 0;
}

/* ---- conditional requests (RFC 9110 13) ------------------------------- */

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* One entity-tag at P (after its optional W/): its end, or NULL when P
 * does not start one. etagc is %x21 / %x23-7E / obs-text. */
static const char *entity_tag_end(const char *p)
{
    if (*p++ != '"')
        return NULL;
    for (; *p != '"'; p++)
        if ((unsigned char)*p < 0x21 || *p == 0x7f)
            return NULL;
    return p + 1;
}

/* Does the If-None-Match value LIST name ETAG (our strong tag)? The weak
 * comparison of RFC 9110 8.8.3.2: W/ is ignored, the opaque tags must be
 * equal. "*" names any. A list that does not parse names nothing. */
static int etag_listed(const char *list, const char *etag)
{
    size_t len = strlen(etag);
    int found = 0;
    const char *p = skip_ows(list), *end;

    if (strcmp(p, "*") == 0)
        return 1;
    for (;;) {
        /* Empty list elements are allowed (RFC 9110 5.6.1.2). */
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            return found;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if ((end = entity_tag_end(p)) == NULL)
            return 0;
        if ((size_t)(end - p) == len && memcmp(p, etag, len) == 0)
            found = 1;
        p = skip_ows(end);
        if (*p != ',' && *p != '\0')
            return 0;
    }
}

/* Whether the answer is 304 (for GET and HEAD, the only methods here).
 * If-None-Match, when present, decides alone (RFC 9110 13.2.2); an
 * If-Modified-Since that is not a valid date is ignored. */
static int not_modified(gn_request_t *req, const char *etag, time_t mtime)
{
    const char *inm = gn_request_header(req, "If-None-Match");
    const char *ims = gn_request_header(req, "If-Modified-Since");
    time_t since;

    if (inm != NULL)
        return etag_listed(inm, etag);
    return ims != NULL && parse_http_date(ims, &since) == 0 && mtime <= since;
}

/* If-Range (RFC 9110 13.1.5): the range is served only when the validator
 * still names this file, by the strong comparison of an ETag or by the
 * exact Last-Modified date; otherwise the whole file is. */
static int range_still_valid(gn_request_t *req, const char *etag, time_t mtime)
{
    const char *ir = gn_request_header(req, "If-Range");
    time_t t;

    if (ir == NULL)
        return 1;
    if (ir[0] == '"' || strncmp(ir, "W/", 2) == 0)
        return strcmp(ir, etag) == 0;
    return parse_http_date(ir, &t) == 0 && t == mtime;
}

/* ---- ranges (RFC 9110 14) --------------------------------------------- */

/* Decimal digits at *P, and nothing else (strtoull would also take a sign
 * or spaces): 0 with *N set, saturated at UINT64_MAX, or -1. */
static int range_pos(const char **p, uint64_t *n)
{
    const char *s = *p;
    uint64_t v = 0;

    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');

        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    *p = s;
    *n = v;
    return 0;
}

/* "bytes=A-B", "bytes=A-" or "bytes=-N" against SIZE: 1 with the range
 * set, -1 when it is unsatisfiable (416), and 0 when the whole file is
 * sent: no Range, another unit, several ranges (allowed by 14.2), or a
 * ranges-specifier that does not parse, which 14.2 says to ignore. */
static int parse_range(const char *h, uint64_t size, uint64_t *from,
                       uint64_t *to)
{
    uint64_t a, b;

    if (h == NULL || strncasecmp(h, "bytes=", 6) != 0)
        return 0;
    h += 6;
    if (*h == '-') { /* suffix-range */
        h++;
        if (range_pos(&h, &b) != 0 || *h != '\0')
            return 0;
        if (b == 0 || size == 0)
            return -1;
        *from = b >= size ? 0 : size - b;
        *to = size - 1;
        return 1;
    }
    if (range_pos(&h, &a) != 0 || *h++ != '-')
        return 0;
    b = UINT64_MAX;
    if (*h != '\0' && (range_pos(&h, &b) != 0 || b < a))
        return 0;
    if (*h != '\0')
        return 0;
    if (a >= size)
        return -1;
    *from = a;
    *to = b >= size ? size - 1 : b;
    return 1;
}

/* ---- the answer ------------------------------------------------------- */

/* The validators every answer about the file carries (a 304 and a 416
 * too); ETAG is set to the file's. */
static void describe_file(gn_response_t *res, const struct stat *st, char *etag,
                          size_t etag_len)
{
    char lm[40];

    snprintf(etag, etag_len, "\"%" PRIx64 "-%" PRIx64 "\"",
             (uint64_t)st->st_size, (uint64_t)st->st_mtime);
    http_date(st->st_mtime, lm, sizeof(lm));
    gn_response_header(res, "Last-Modified", lm);
    gn_response_header(res, "ETag", etag);
    gn_response_header(res, "Accept-Ranges", "bytes");
}

static int send_file(const struct site *site, gn_request_t *req,
                     gn_response_t *res, int fd, const char *path,
                     const struct stat *st)
{
    char etag[64], cr[96];
    uint64_t size = (uint64_t)st->st_size, from = 0, to = size - 1;
    int ranged = 0;

    describe_file(res, st, etag, sizeof(etag));
    if (not_modified(req, etag, st->st_mtime)) {
        gn_response_status(res, 304, NULL);
        return 0;
    }
    /* GET is the one method ranges are defined for (RFC 9110 14.2). */
    if (strcmp(gn_request_method(req), "GET") == 0 &&
        range_still_valid(req, etag, st->st_mtime))
        ranged = parse_range(gn_request_header(req, "Range"), size, &from, &to);
    if (ranged < 0) {
        snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
        gn_response_header(res, "Content-Range", cr);
        return answer(res, 416, "range not satisfiable");
    }
    gn_response_header(res, "Content-Type", content_type(&site->mime, path));
    if (ranged > 0) {
        snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, from,
                 to, size);
        gn_response_status(res, 206, NULL);
        gn_response_header(res, "Content-Range", cr);
    }
    if (size == 0)
        return 0;
    return gn_response_sendfile(res, fd, (off_t)from, (size_t)(to - from + 1));
}

/* The file PATH_INFO names (or the index of a directory), opened: a
 * descriptor with *ST set and *NAME the name its type is told by, or a
 * negative errno. Everything is opened O_NONBLOCK and only then looked at
 * (fstat of the descriptor, not of the path, which could change between
 * the two): opening a FIFO for reading without it waits for a writer,
 * and the whole worker with it, until the watchdog kills it. A FIFO,
 * socket or device is then refused like a missing file. */
static int open_target(const struct site *site, const char *rel,
                       struct stat *st, const char **name)
{
    int fd = open_beneath(site->root, rel);
    int dir_fd;

    if (fd < 0)
        return fd;
    if (fstat(fd, st) != 0) {
        close(fd);
        return -EIO;
    }
    *name = rel;
    if (S_ISDIR(st->st_mode) && site->index != NULL) {
        *name = site->index;
        dir_fd = fd;
        fd = openat(dir_fd, site->index,
                    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        close(dir_fd);
        if (fd < 0)
            return -ENOENT;
        if (fstat(fd, st) != 0) {
            close(fd);
            return -EIO;
        }
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return -ENOENT;
    }
    return fd;
}

static int static_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    const struct site *site = state;
    const char *method = gn_request_method(req);
    const char *info = gn_request_path_info(req);
    struct stat st;
    const char *name;
    char *rel;
    int fd, rc;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        gn_response_header(res, "Allow", "GET, HEAD");
        return answer(res, 405, "method not allowed");
    }
    if (!safe_path(info))
        return answer(res, 404, "not found");
    /* The path relative to root, in the request's arena. */
    while (*info == '/')
        info++;
    rel = gn_request_alloc(req, strlen(info) + 1);
    if (rel == NULL)
        return -ENOMEM;
    strcpy(rel, info);
    fd = open_target(site, rel, &st, &name);
    if (fd == -EACCES)
        return answer(res, 403, "forbidden");
    if (fd < 0)
        return answer(res, 404, "not found");
    rc = send_file(site, req, res, fd, name, &st);
    close(fd);
    return rc;
}

/* The MIME table: the file named by the mime_types argument, which must
 * be readable, or else /etc/mime.types when it is there; without it the
 * fallback table serves (and says so once). */
static int load_types(struct site *site, const char *path)
{
    int rc = mime_load(&site->mime, path != NULL ? path : MIME_TYPES);

    if (rc == 0)
        return 0;
    if (path != NULL) {
        gn_log(GN_LOG_ERROR, "static: mime_types %s: %s", path, strerror(-rc));
        return rc;
    }
    gn_log(GN_LOG_WARNING,
           "static: %s: %s (Debian package media-types); using a built-in "
           "table of %zu types",
           MIME_TYPES, strerror(-rc),
           sizeof(fallback_types) / sizeof(fallback_types[0]));
    return 0;
}

static int static_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct site *site = calloc(1, sizeof(*site));
    const char *root = NULL, *types = NULL;
    int rc = -EINVAL;

    if (site == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < nargs; i++) {
        if (strcmp(args[i].name, "root") == 0) {
            root = args[i].value;
        } else if (strcmp(args[i].name, "index") == 0) {
            site->index = args[i].value;
        } else if (strcmp(args[i].name, "mime_types") == 0) {
            types = args[i].value;
        } else {
            gn_log(GN_LOG_ERROR,
                   "static: unknown argument '%s' (root, index, mime_types)",
                   args[i].name);
            goto fail_args;
        }
    }
    if (root == NULL) {
        gn_log(GN_LOG_ERROR, "static: no 'root' argument: which directory?");
        goto fail_args;
    }
    site->root = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (site->root < 0) {
        rc = -errno;
        gn_log(GN_LOG_ERROR, "static: root %s: %s", root, strerror(errno));
        goto fail_args;
    }
    if ((rc = load_types(site, types)) != 0)
        goto fail_types;
    *state = site;
    return 0;

fail_types:
    close(site->root);
fail_args:
    free(site);
    return rc;
}

static void static_fini(void *state)
{
    struct site *site = state;

    mime_free(&site->mime);
    close(site->root);
    free(site);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,           .name = "static",    .init = static_init,
    .handle = static_handle, .fini = static_fini,
};
