/*
 * Dropping privileges, for the worker after fork and the arbiter's trial
 * child alike: group first (while we still may), then the supplementary
 * groups, then the user.
 */
#include "core/privileges.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int fail(char *err, const char *what, const char *arg)
{
    int rc = -errno;

    snprintf(err, GN_ERR_LEN, "%s%s: %s", what, arg, strerror(errno));
    return rc;
}

int gn__privileges_drop(int uid, int gid, const char *user, const char *group,
                        char err[GN_ERR_LEN])
{
    struct passwd *pw;

    if (gid >= 0 && (gid_t)gid != getgid() && setgid((gid_t)gid) != 0)
        return fail(err, "group: cannot switch to ",
                    group ? group : "the user's");
    if (uid < 0 || (uid_t)uid == getuid())
        return 0;
    pw = getpwuid((uid_t)uid); /* the user may be given as a number */
    if (initgroups(pw ? pw->pw_name : user, (gid_t)gid) != 0 && errno != EPERM)
        return fail(err, "user: cannot set the groups of ", user);
    if (setuid((uid_t)uid) != 0)
        return fail(err, "user: cannot switch to ", user);
    return 0;
}
