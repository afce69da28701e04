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
 *
 * GET and HEAD only (405 otherwise). The request's PATH_INFO names the
 * file under root; nothing outside root is ever opened: ".." segments are
 * refused and the file is opened with openat2(RESOLVE_BENEATH), which also
 * stops symlinks that lead out. Regular files only. It answers
 * Last-Modified and ETag, 304 to a matching If-None-Match or
 * If-Modified-Since, and a single `Range: bytes=A-B` with 206 (416 when
 * the range is past the end).
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

struct site {
    int root;          /* O_PATH descriptor of the root directory */
    const char *index; /* file served for a directory, or NULL */
};

static const struct {
    const char *ext, *type;
} types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
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

static const char *content_type(const char *path)
{
    const char *dot = strrchr(path, '.');

    if (dot != NULL && strchr(dot, '/') == NULL)
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
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
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC,
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

static void http_date(time_t t, char *out, size_t len)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2). */
static int not_modified(gn_request_t *req, const char *etag,
                        const char *last_modified)
{
    const char *inm = gn_request_header(req, "If-None-Match");
    const char *ims = gn_request_header(req, "If-Modified-Since");

    if (inm != NULL)
        return strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL;
    return ims != NULL && strcmp(ims, last_modified) == 0;
}

/* "bytes=A-B", "bytes=A-" or "bytes=-N" against SIZE: 1 with the range
 * set, 0 when there is none (or several: send it all), -1 unsatisfiable. */
static int parse_range(const char *h, uint64_t size, uint64_t *from,
                       uint64_t *to)
{
    char *end;
    unsigned long long a, b;

    if (h == NULL || strncmp(h, "bytes=", 6) != 0 || strchr(h, ',') != NULL)
        return 0;
    h += 6;
    if (*h == '-') {
        b = strtoull(h + 1, &end, 10);
        if (end == h + 1 || *end != '\0')
            return 0;
        if (b == 0 || size == 0)
            return -1;
        *from = b >= size ? 0 : size - b;
        *to = size - 1;
        return 1;
    }
    a = strtoull(h, &end, 10);
    if (end == h || *end != '-')
        return 0;
    h = end + 1;
    b = *h ? strtoull(h, &end, 10) : size - 1;
    if (*h && (*end != '\0' || b < a))
        return 0;
    if (a >= size)
        return -1;
    *from = a;
    *to = b >= size ? size - 1 : b;
    return 1;
}

/* Headers every answer about the file carries. */
static void describe_file(gn_request_t *req, gn_response_t *res,
                          const char *path, const struct stat *st, char *etag,
                          size_t etag_len, char *lm, size_t lm_len)
{
    snprintf(etag, etag_len, "\"%" PRIx64 "-%" PRIx64 "\"",
             (uint64_t)st->st_size, (uint64_t)st->st_mtime);
    http_date(st->st_mtime, lm, lm_len);
    gn_response_header(res, "Content-Type", content_type(path));
    gn_response_header(res, "Last-Modified", lm);
    gn_response_header(res, "ETag", etag);
    gn_response_header(res, "Accept-Ranges", "bytes");
    (void)req;
}

static int send_file(gn_request_t *req, gn_response_t *res, int fd,
                     const char *path, const struct stat *st)
{
    char etag[64], lm[64], cr[96];
    uint64_t size = (uint64_t)st->st_size, from = 0, to = size - 1;
    int ranged;

    describe_file(req, res, path, st, etag, sizeof(etag), lm, sizeof(lm));
    if (not_modified(req, etag, lm)) {
        gn_response_status(res, 304, NULL);
        return 0;
    }
    ranged = parse_range(gn_request_header(req, "Range"), size, &from, &to);
    if (ranged < 0) {
        snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
        gn_response_header(res, "Content-Range", cr);
        return answer(res, 416, "range not satisfiable");
    }
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
 * negative errno. */
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
        fd = openat(dir_fd, site->index, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
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
    rc = send_file(req, res, fd, name, &st);
    close(fd);
    return rc;
}

static int static_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct site *site = calloc(1, sizeof(*site));
    const char *root = NULL;

    if (site == NULL)
        return -ENOMEM;
    site->root = -1;
    for (size_t i = 0; i < nargs; i++) {
        if (strcmp(args[i].name, "root") == 0) {
            root = args[i].value;
        } else if (strcmp(args[i].name, "index") == 0) {
            site->index = args[i].value;
        } else {
            gn_log(GN_LOG_ERROR, "static: unknown argument '%s' (root, index)",
                   args[i].name);
            free(site);
            return -EINVAL;
        }
    }
    if (root == NULL) {
        gn_log(GN_LOG_ERROR, "static: no 'root' argument: which directory?");
        free(site);
        return -EINVAL;
    }
    site->root = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (site->root < 0) {
        int rc = -errno;

        gn_log(GN_LOG_ERROR, "static: root %s: %s", root, strerror(errno));
        free(site);
        return rc;
    }
    *state = site;
    return 0;
}

static void static_fini(void *state)
{
    struct site *site = state;

    close(site->root);
    free(site);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,           .name = "static",    .init = static_init,
    .handle = static_handle, .fini = static_fini,
};
