/*
 * The stream apps a configuration names: [stream:NAME] sections (a plugin
 * and the one address it listens on) and their [stream:NAME.args]
 * (struct gn_stream_conf, in config.h).
 */
#ifndef GN_CONFIG_STREAMS_H
#define GN_CONFIG_STREAMS_H

#include <stddef.h>

#include "config/config.h"

/* The [stream:NAME] of CFG; created (remembering LINE, its first section
 * header) when LINE is not 0. NULL when absent, or on ENOMEM. */
struct gn_stream_conf *gn__config_stream(struct gn_config *cfg,
                                         const char *name, int line);

/* Set `module` or `bind` of ST from LINE of the file: 0, -ENOENT for
 * another key, -EINVAL for a bad value or a key set twice, -ENOMEM. */
int gn__stream_set(struct gn_stream_conf *st, const char *key,
                   const char *value, int line, char *err, size_t errlen);

/* Once everything is read: every stream has a module and a bind, and no
 * address is bound twice (by two streams, or by a stream and HTTP). 0, or
 * -EINVAL with ERR naming the file and line. */
int gn__config_check_streams(const struct gn_config *cfg, char err[GN_ERR_LEN]);

/* Make stream NAME listen on the inherited socket fd://FD instead of
 * its configured bind (systemd activation, USR2): 1 when CFG has a
 * stream NAME, 0 when not, -ENOMEM. */
int gn__config_stream_adopt(struct gn_config *cfg, const char *name, int fd);

/* The [stream:NAME] sections, as --print-config writes them. */
void gn__streams_print(const struct gn_config *cfg, FILE *out);

/* Drop every stream. */
void gn__streams_clear(struct gn_config *cfg);

#endif /* GN_CONFIG_STREAMS_H */
