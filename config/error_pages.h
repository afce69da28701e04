/*
 * The server's own error answers given a body and a content type per
 * status (the error_page setting, nginx's error_page as the model): a
 * JSON API's clients then get JSON for the 404, 413 or 503 the server
 * sends itself, not text/plain. Each page's file is read when the
 * configuration is (at start-up and on HUP), so serving one reads
 * nothing, and a file that cannot be read is a configuration error.
 */
#ifndef GN_CONFIG_ERROR_PAGES_H
#define GN_CONFIG_ERROR_PAGES_H

#include <stddef.h>
#include <stdio.h>

#define GN_ERROR_PAGE_MAX (64 * 1024) /* bytes of one page's file */

struct gn_error_page {
    int status;
    char *file; /* as written */
    char *type; /* the Content-Type sent */
    char *body; /* the file's bytes */
    size_t len;
};

struct gn_error_pages {
    struct gn_error_page *v; /* one per status; a later one replaces */
    size_t n;
};

/* Add "STATUS... FILE [TYPE]" to PAGES: one or more statuses (400..599),
 * the file whose bytes answer them, and the content type (else the one
 * its extension says: .json, .html, .htm, .txt, .xml). The file is read
 * now. 0, or -EINVAL (a bad value, an unknown extension, a file that
 * cannot be read, with why) or -ENOMEM, with a reason in ERR. */
int gn__error_page_parse(struct gn_error_pages *pages, const char *value,
                         char *err, size_t errlen);

/* Free what PAGES holds. */
void gn__error_pages_clear(struct gn_error_pages *pages);

/* PAGES as the values of KEY, for --print-config: the first value, the
 * others as "\nKEY = value" lines. */
void gn__error_pages_print(const struct gn_error_pages *pages, const char *key,
                           FILE *out);

/* The page for STATUS, or NULL (PAGES may be NULL). */
const struct gn_error_page *gn__error_page_find(const struct gn_error_pages *pages,
                                                int status);

#endif /* GN_CONFIG_ERROR_PAGES_H */
