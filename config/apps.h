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

/* Parse the "PATH.so[:SYMBOL]" plugin spec VALUE into new strings *SPEC
 * (VALUE), *PATH and *SYMBOL (DEFAULT_SYMBOL when none is named), freeing
 * what they held. 0, -EINVAL or -ENOMEM with a reason in ERR. */
int gn__spec_set(char **spec, char **path, char **symbol, const char *value,
                 const char *default_symbol, char *err, size_t errlen);

/* Parse a "PATH.so[:SYMBOL]" app spec into APP (replacing its spec). 0 or
 * -EINVAL with a reason in ERR. */
int gn__app_spec_parse(struct gn_app_conf *app, const char *spec, char *err,
                       size_t errlen);
void gn__app_spec_clear(struct gn_app_conf *app);

/* Parse a mount ("/" or "/a/b"; a trailing slash is dropped) into *MOUNT,
 * replacing it. 0 or -EINVAL with a reason. */
int gn__mount_parse(char **mount, const char *value, char *err, size_t errlen);

/* Append NAME = VALUE to the *NARGS arguments of *ARGS (an [app.args] or
 * [stream:NAME.args] section). 0 or -ENOMEM. */
int gn__args_add(gn_app_arg_t **args, size_t *nargs, const char *name,
                 const char *value);

/* Free NARGS arguments ARGS and the array. */
void gn__args_clear(gn_app_arg_t *args, size_t nargs);

/* Free everything APP holds and zero it. */
void gn__app_conf_clear(struct gn_app_conf *app);

/* Whether SECTION is "KIND:NAME" or "KIND:NAME.args" (KIND "app" or
 * "stream"): 1 with NAME copied (LEN bytes of room) and *IS_ARGS set, 0
 * when it is neither, -1 when it is one with a bad NAME (letters, digits,
 * '_' and '-' only). */
int gn__section_name(const char *section, const char *kind, char *name,
                     size_t len, int *is_args);

/* "FILE:LINE: " into OUT (LEN bytes) for LINE of CFG's file, else "":
 * how a message of the checks below starts. OUT. */
const char *gn__config_at(const struct gn_config *cfg, int line, char *out,
                          size_t len);

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
