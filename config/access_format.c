/*
 * Compiling access_log_format. The atoms are Gunicorn's, written as in
 * Python's %-formatting: "%(NAME)s", where NAME is one letter or
 * "{header}i", "{header}o" or "{variable}e"; "%%" is a literal percent.
 */
#include "config/access_format.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Gunicorn's one-letter atoms. */
static const char letters[] = "hlutrmUqHsBbfaTMDLp";

static int add_part(struct gn_access_format *f, char atom, const char *text,
                    size_t len)
{
    struct gn_access_part *grown =
        realloc(f->parts, (f->n + 1) * sizeof(*grown));
    char *copy = strndup(text, len);

    if (grown != NULL)
        f->parts = grown;
    if (grown == NULL || copy == NULL) {
        free(copy);
        return -ENOMEM;
    }
    f->parts[f->n++] = (struct gn_access_part){atom, copy};
    return 0;
}

/* The atom whose name is NAME[0, LEN): its letter, and in *ARG and *ARGLEN
 * the header or variable of a {...}X atom. 0 when unknown. */
static char atom_of(const char *name, size_t len, const char **arg,
                    size_t *arglen)
{
    if (len == 1 && strchr(letters, name[0]))
        return name[0];
    if (len >= 4 && name[0] == '{' && name[len - 2] == '}' &&
        strchr("ioe", name[len - 1])) {
        *arg = name + 1;
        *arglen = len - 3;
        return *arglen ? name[len - 1] : 0;
    }
    return 0;
}

/* Parse the atom at P ("%(...)s"); the bytes it took, or -EINVAL. */
static int parse_atom(struct gn_access_format *f, const char *p, char *err,
                      size_t errlen)
{
    const char *close = strstr(p + 2, ")s"), *arg = "";
    size_t len, arglen = 0;
    char atom;

    if (close == NULL) {
        snprintf(err, errlen, "'%.20s': an atom is %%(NAME)s", p);
        return -EINVAL;
    }
    len = (size_t)(close - (p + 2));
    atom = atom_of(p + 2, len, &arg, &arglen);
    if (atom == 0) {
        snprintf(err, errlen,
                 "unknown atom %%(%.*s)s (known: h l u t r m U q H s B b f "
                 "a T M D L p, {header}i, {header}o, {variable}e)",
                 (int)len, p + 2);
        return -EINVAL;
    }
    if (add_part(f, atom, arg, arglen) != 0)
        return -ENOMEM;
    return (int)(len + 4);
}

static int compile(struct gn_access_format *f, const char *spec, char *err,
                   size_t errlen)
{
    const char *p = spec;

    while (*p) {
        size_t lit = strcspn(p, "%");
        int n;

        if (lit > 0 && add_part(f, 0, p, lit) != 0)
            return -ENOMEM;
        p += lit;
        if (*p == '\0')
            break;
        if (p[1] == '%') {
            if (add_part(f, 0, "%", 1) != 0)
                return -ENOMEM;
            p += 2;
            continue;
        }
        if (p[1] != '(') {
            snprintf(err, errlen, "'%.20s': write %%%% for a percent sign", p);
            return -EINVAL;
        }
        if ((n = parse_atom(f, p, err, errlen)) < 0)
            return n;
        p += n;
    }
    return 0;
}

void gn__access_format_clear(struct gn_access_format *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->parts[i].text);
    free(f->parts);
    free(f->spec);
    memset(f, 0, sizeof(*f));
}

int gn__access_format_parse(struct gn_access_format *f, const char *spec,
                            char *err, size_t errlen)
{
    struct gn_access_format fresh = {0};
    int rc;

    fresh.spec = strdup(spec);
    rc = fresh.spec ? compile(&fresh, spec, err, errlen) : -ENOMEM;
    if (rc == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    if (rc != 0) {
        gn__access_format_clear(&fresh);
        return rc;
    }
    gn__access_format_clear(f);
    *f = fresh;
    return 0;
}
