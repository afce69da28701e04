/*
 * Fuzz target: the access_log_format compiler (config/access_format.c) on
 * arbitrary text. Beside memory safety it checks that a refused format
 * leaves the one compiled before untouched and says why, and that a
 * compiled format, written back out from its parts, compiles to the same
 * parts (so compiling loses or invents nothing).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/access_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* F's parts written back as a format: literals with '%' doubled, atoms as
 * %(X)s or %({NAME}X)s. The caller frees the result. */
static char *unparse(const struct gn_access_format *f)
{
    char *out = NULL;
    size_t len = 0;
    FILE *s = open_memstream(&out, &len);

    if (s == NULL)
        abort();
    for (size_t i = 0; i < f->n; i++) {
        const struct gn_access_part *p = &f->parts[i];

        if (p->atom == 0) {
            for (const char *c = p->text; *c; c++)
                fputs(*c == '%' ? "%%" : (char[]){*c, '\0'}, s);
        } else if (strchr("ioe", p->atom) != NULL) {
            fprintf(s, "%%({%s}%c)s", p->text, p->atom);
        } else {
            if (p->text[0] != '\0')
                abort(); /* a one-letter atom takes no name */
            fprintf(s, "%%(%c)s", p->atom);
        }
    }
    if (fclose(s) != 0)
        abort();
    return out;
}

static void same_parts(const struct gn_access_format *a,
                       const struct gn_access_format *b)
{
    if (a->n != b->n)
        abort();
    for (size_t i = 0; i < a->n; i++)
        if (a->parts[i].atom != b->parts[i].atom ||
            strcmp(a->parts[i].text, b->parts[i].text) != 0)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gn_access_format f = {0}, again = {0};
    char err[256], *spec = malloc(size + 1), *back;

    if (spec == NULL)
        abort();
    memcpy(spec, data, size);
    spec[size] = '\0';
    if (gn__access_format_parse(&f, GN_ACCESS_FORMAT_DEFAULT, err,
                                sizeof(err)) != 0)
        abort();
    err[0] = '\0';
    if (gn__access_format_parse(&f, spec, err, sizeof(err)) != 0) {
        if (err[0] == '\0' || strcmp(f.spec, GN_ACCESS_FORMAT_DEFAULT) != 0)
            abort(); /* no reason given, or the old format was lost */
    } else {
        if (strcmp(f.spec, spec) != 0)
            abort();
        back = unparse(&f);
        if (gn__access_format_parse(&again, back, err, sizeof(err)) != 0)
            abort();
        same_parts(&f, &again);
        free(back);
    }
    gn__access_format_clear(&again);
    gn__access_format_clear(&f);
    free(spec);
    return 0;
}
