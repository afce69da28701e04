/*
 * The apps a configuration names: [app] and [app:NAME] sections, their
 * plugins, mounts and arguments (struct gn_app_conf, in config.h).
 */
#ifndef GN_CONFIG_APPS_H
#define GN_CONFIG_APPS_H

#include <stddef.h>

#include "config/config.h"

/* Split a "PATH.so[:SYMBOL]" plugin spec into new strings *PATH and
 * *SYMBOL (DEFAULT_SYMBOL when none is named). 0, -EINVAL or -ENOMEM with
 * a reason in ERR. */
int gn__spec_split(const char *spec, const char *default_symbol, char **path,
                   char **symbol, char *err, size_t errlen);

/* Parse a "PATH.so[:SYMBOL]" app spec into APP (replacing its spec). 0 or
 * -EINVAL with a reason in ERR. */
int gn__app_spec_parse(struct gn_app_conf *app, const char *spec, char *err,
                       size_t errlen);
void gn__app_spec_clear(struct gn_app_conf *app);

/* Parse a mount ("/" or "/a/b"; a trailing slash is dropped) into *MOUNT,
 * replacing it. 0 or -EINVAL with a reason. */
int gn__mount_parse(char **mount, const char *value, char *err, size_t errlen);

/* Append NAME = VALUE to APP's args. 0 or -ENOMEM. */
int gn__app_conf_add_arg(struct gn_app_conf *app, const char *name,
                         const char *value);

/* Free everything APP holds and zero it. */
void gn__app_conf_clear(struct gn_app_conf *app);

/* Whether SECTION is "app:NAME" or "app:NAME.args": 1 with NAME copied
 * (LEN bytes of room) and *IS_ARGS set, 0 when it is neither, -1 when it
 * is one with a bad NAME (letters, digits, '_' and '-' only). */
int gn__app_section_name(const char *section, char *name, size_t len,
                         int *is_args);

/* The [app:NAME] app of CFG; created (remembering LINE, its first section
 * header) when LINE is not 0. NULL when absent, or on ENOMEM. */
struct gn_app_conf *gn__config_named_app(struct gn_config *cfg,
                                         const char *name, int line);

/* Set `module` or `mount` of a named app from LINE of the file: 0,
 * -ENOENT for another key, -EINVAL for a bad value or a key set twice. */
int gn__named_app_set(struct gn_app_conf *app, const char *key,
                      const char *value, int line, char *err, size_t errlen);

/* The mount checks of gn__config_check; MOUNT_LINE is where [app] set its
 * mount. */
int gn__config_check_apps(const struct gn_config *cfg, int mount_line,
                          char err[GN_ERR_LEN]);

/* Drop every [app:NAME] app. */
void gn__named_apps_clear(struct gn_config *cfg);

#endif /* GN_CONFIG_APPS_H */
