/*
 * error_page: "STATUS... FILE [TYPE]" values parsed, their files read, and
 * the lookup the serve loop makes when it answers an error of its own.
 */
#include "config/error_pages.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/settings.h"

#define STATUSES_MAX 32 /* in one value */

/* The content type a file's extension says, or NULL. */
static const char *type_of(const char *file)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".json", "application/json"},
        {".html", "text/html; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},
        {".txt", "text/plain; charset=utf-8"},
        {".xml", "application/xml"},
    };
    const char *dot = strrchr(file, '.');

    if (dot == NULL || strchr(dot, '/') != NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcasecmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

/* FILE's bytes into a new *BODY, *LEN of them. 0, or -EINVAL/-ENOMEM
 * with why in ERR. */
static int read_page(const char *file, char **body, size_t *len, char *err,
                     size_t errlen)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    ssize_t n;
    int fd, rc = -EINVAL;

    /* O_NONBLOCK: a FIFO named by mistake is refused, not waited on. */
    fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        gn__reason(err, errlen, "cannot read '%s': %s", file, strerror(errno));
        return -EINVAL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        gn__reason(err, errlen, "'%s' is not a regular file", file);
        goto out;
    }
    if (st.st_size > GN_ERROR_PAGE_MAX) {
        gn__reason(err, errlen, "'%s' is larger than %d bytes", file,
                   GN_ERROR_PAGE_MAX);
        goto out;
    }
    if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        gn__reason(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    /* What fstat said, or less if it shrank meanwhile. */
    while (got < (size_t)st.st_size &&
           (n = read(fd, buf + got, (size_t)st.st_size - got)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            gn__reason(err, errlen, "cannot read '%s': %s", file,
                       strerror(errno));
            goto out;
        }
        got += (size_t)n;
    }
    *body = buf;
    *len = got;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    close(fd);
    return rc;
}

/* Whether TYPE may go out as a header value: printable, tab aside. */
static int type_valid(const char *type)
{
    for (const unsigned char *p = (const unsigned char *)type; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return 0;
    return *type != '\0';
}

/* The entry of PAGES for STATUS, added empty when there is none. */
static struct gn_error_page *slot(struct gn_error_pages *pages, int status)
{
    struct gn_error_page *grown;

    for (size_t i = 0; i < pages->n; i++)
        if (pages->v[i].status == status)
            return &pages->v[i];
    grown = realloc(pages->v, (pages->n + 1) * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    pages->v = grown;
    grown = &pages->v[pages->n++];
    memset(grown, 0, sizeof(*grown));
    grown->status = status;
    return grown;
}

static void page_clear(struct gn_error_page *page)
{
    free(page->file);
    free(page->type);
    free(page->body);
    page->file = page->type = page->body = NULL;
    page->len = 0;
}

/* PAGE holds FILE's copy of BODY (LEN bytes) under TYPE. */
static int page_set(struct gn_error_page *page, const char *file,
                    const char *type, const char *body, size_t len)
{
    char *f = strdup(file), *t = strdup(type), *b = malloc(len + 1);

    if (f == NULL || t == NULL || b == NULL) {
        free(f);
        free(t);
        free(b);
        return -ENOMEM;
    }
    memcpy(b, body, len);
    page_clear(page);
    *page = (struct gn_error_page){page->status, f, t, b, len};
    return 0;
}

/* Split VALUE: the statuses into STATUS (*N of them), the file into
 * FILE (LEN bytes), and *TYPE at what follows (NULL: none). */
static int split(const char *value, int *status, size_t *n, char *file,
                 size_t len, const char **type, char *err, size_t errlen)
{
    const char *p = value, *end;
    long v;

    for (*n = 0;; (*n)++) {
        while (isspace((unsigned char)*p))
            p++;
        for (end = p; *end && !isspace((unsigned char)*end); end++)
            ;
        if (end == p || !isdigit((unsigned char)*p))
            break;
        v = strtol(p, NULL, 10);
        for (const char *d = p; d < end; d++)
            if (!isdigit((unsigned char)*d))
                v = -1;
        if (v < 400 || v > 599 || end - p != 3) {
            gn__reason(err, errlen, "'%.*s' is not an error status (400..599)",
                       (int)(end - p), p);
            return -EINVAL;
        }
        if (*n == STATUSES_MAX) {
            gn__reason(err, errlen, "more than %d statuses", STATUSES_MAX);
            return -EINVAL;
        }
        status[*n] = (int)v;
        p = end;
    }
    if (*n == 0 || end == p) {
        gn__reason(err, errlen,
                   "'%s' is not STATUS... FILE [TYPE] (e.g. 404 "
                   "/etc/greenicorn/404.json)",
                   value);
        return -EINVAL;
    }
    if ((size_t)(end - p) >= len) {
        gn__reason(err, errlen, "the file name is too long");
        return -EINVAL;
    }
    memcpy(file, p, (size_t)(end - p));
    file[end - p] = '\0';
    for (p = end; isspace((unsigned char)*p); p++)
        ;
    *type = *p ? p : NULL;
    return 0;
}

int gn__error_page_parse(struct gn_error_pages *pages, const char *value,
                         char *err, size_t errlen)
{
    int status[STATUSES_MAX], rc;
    char file[4096], *body = NULL;
    const char *type;
    size_t n, len = 0;

    if (*value == '\0')
        return 0; /* the default: none */
    rc = split(value, status, &n, file, sizeof(file), &type, err, errlen);
    if (rc != 0)
        return rc;
    if (type == NULL && (type = type_of(file)) == NULL) {
        gn__reason(err, errlen,
                   "no content type known for '%s' (.json, .html, .htm, "
                   ".txt, .xml): name one after the file",
                   file);
        return -EINVAL;
    }
    if (!type_valid(type)) {
        gn__reason(err, errlen, "'%s' is not a content type", type);
        return -EINVAL;
    }
    if ((rc = read_page(file, &body, &len, err, errlen)) != 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct gn_error_page *page = slot(pages, status[i]);

        rc = page ? page_set(page, file, type, body, len) : -ENOMEM;
    }
    free(body);
    if (rc != 0)
        gn__reason(err, errlen, "out of memory");
    return rc;
}

void gn__error_pages_clear(struct gn_error_pages *pages)
{
    for (size_t i = 0; i < pages->n; i++)
        page_clear(&pages->v[i]);
    free(pages->v);
    pages->v = NULL;
    pages->n = 0;
}

void gn__error_pages_print(const struct gn_error_pages *pages, const char *key,
                           FILE *out)
{
    for (size_t i = 0; i < pages->n; i++) {
        const struct gn_error_page *page = &pages->v[i];

        if (i > 0)
            fprintf(out, "\n%s = ", key);
        fprintf(out, "%d %s %s", page->status, page->file, page->type);
    }
}

const struct gn_error_page *gn__error_page_find(const struct gn_error_pages *pages,
                                                int status)
{
    if (pages == NULL)
        return NULL;
    for (size_t i = 0; i < pages->n; i++)
        if (pages->v[i].status == status)
            return &pages->v[i];
    return NULL;
}
