/*
 * The table of settings: for each one its INI section and key (Gunicorn's
 * name), its command-line flag (Gunicorn's), its type, bounds, default and
 * help. The loader, the command line, --print-config and --help all walk
 * this one table, so a setting is added in one place.
 */
#ifndef GN_CONFIG_SETTINGS_H
#define GN_CONFIG_SETTINGS_H

#include <stddef.h>
#include <stdio.h>

#include "config/config.h"

struct gn_setting;

/* Parse VALUE into CFG. 0 or -EINVAL with a reason (no prefix) in ERR. */
typedef int (*gn__setting_parse_fn)(struct gn_config *cfg,
                                    const struct gn_setting *s,
                                    const char *value, char *err,
                                    size_t errlen);

/* Print the value as it would be written in the INI file. */
typedef void (*gn__setting_print_fn)(const struct gn_config *cfg,
                                     const struct gn_setting *s, FILE *out);

struct gn_setting {
    const char *name;    /* INI key and Gunicorn's setting name */
    const char *section; /* INI section without brackets */
    const char *flag;    /* long flag without "--" (Gunicorn's) or NULL */
    int short_flag;      /* 'b', 'w', ... or 0 */
    const char *metavar; /* for --help: "INT", "ADDRESS" */
    gn__setting_parse_fn parse;
    gn__setting_print_fn print;
    size_t offset; /* of the field in struct gn_config */
    long min, max; /* for integers */
    /* For settings that take several values (repeated keys add): empty
     * the list, so the file's values replace the default and the first
     * command-line flag replaces the file's. NULL for single values. */
    void (*clear)(struct gn_config *cfg);
    /* A choice (parse_choice): the values, NULL-ended, the int field
     * holding the index; and what they are, for an error ("an I/O
     * engine"). NULL otherwise. */
    const char *const *names;
    const char *kind;
    int is_switch;      /* on/off: the flag alone means on, as Gunicorn's */
    const char *defval; /* default, as text the parser reads */
    const char *help;   /* one line */
};

extern const struct gn_setting gn__settings[];
extern const size_t gn__settings_count;

/* The setting with INI key NAME, or NULL. */
const struct gn_setting *gn__setting_find(const char *name);

/* The index of S in gn__settings. */
size_t gn__setting_index(const struct gn_setting *s);

/* Whether NAME is a known section. */
int gn__section_known(const char *name);

/* The sections in the order --print-config writes them. */
extern const char *const gn__sections[];

/* The key closest to NAME (edit distance <= 2), for "did you mean", or
 * NULL. */
const char *gn__setting_suggest(const char *name);

/* Write a reason (no "FILE:LINE: key: " prefix) into ERR[ERRLEN]. */
void gn__reason(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Empty the list settings (for gn__config_free and their .clear). */
void gn__binds_clear(struct gn_config *cfg);
void gn__raw_env_clear(struct gn_config *cfg);

/* Parse one address SPEC ("HOST:PORT", "unix:PATH", "fd://N") into B,
 * which then owns its strings (free with gn__bind_clear). 0, -EINVAL or
 * -ENOMEM with a reason in ERR. */
int gn__bind_parse(struct gn_bind *b, const char *spec, char *err,
                   size_t errlen);
void gn__bind_clear(struct gn_bind *b);


#endif /* GN_CONFIG_SETTINGS_H */
