/*
 * Dropping privileges: after fork, a worker (and the arbiter's trial of
 * the apps) becomes the configured group and user. Both processes need
 * it, so it lives below both and takes the resolved ids, not the config.
 */
#ifndef GN_CORE_PRIVILEGES_H
#define GN_CORE_PRIVILEGES_H

#include "core/macros.h"

/* Become GID and UID (-1: keep), with UID's supplementary groups. USER and
 * GROUP are the names as written, for messages (GROUP NULL: the user's).
 * 0, or -errno with ERR set. */
int gn__privileges_drop(int uid, int gid, const char *user, const char *group,
                        char err[GN_ERR_LEN]);

#endif /* GN_CORE_PRIVILEGES_H */
