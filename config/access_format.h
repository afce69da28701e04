/*
 * Gunicorn's access_log_format, compiled once when the config is read: a
 * list of literal text and atoms (%(h)s, %(r)s, %({header}i)s, ...), so
 * that an unknown atom is a config error and formatting a line is a walk
 * of the list.
 */
#ifndef GN_CONFIG_ACCESS_FORMAT_H
#define GN_CONFIG_ACCESS_FORMAT_H

#include <stddef.h>

/* Gunicorn's default: Apache's combined format. */
#define GN_ACCESS_FORMAT_DEFAULT                                               \
    "%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\""

struct gn_access_part {
    char atom;  /* 0 for literal text, else the atom's letter: 'h', 'r',
                   'i' (request header), 'o' (response header), 'e' (env) */
    char *text; /* the literal, or the header or variable name */
};

struct gn_access_format {
    char *spec; /* as written, for --print-config */
    struct gn_access_part *parts;
    size_t n;
};

/* Compile SPEC into F (replacing what it held). 0, or -EINVAL with a
 * reason naming the bad atom in ERR, or -ENOMEM. */
int gn__access_format_parse(struct gn_access_format *f, const char *spec,
                            char *err, size_t errlen);

void gn__access_format_clear(struct gn_access_format *f);

#endif /* GN_CONFIG_ACCESS_FORMAT_H */
