/*
 * The pidfile: the arbiter's pid in a file, for init scripts and `kill
 * $(cat ...)`. Written atomically (a temporary file renamed over it), so
 * a reader never sees half a number.
 */
#ifndef GN_SERVER_PIDFILE_H
#define GN_SERVER_PIDFILE_H

#include <sys/types.h>

#include "config/config.h"

/*
 * Write PID to PATH. A pidfile naming a live greenicorn other than PID
 * means another server runs: -EEXIST with ERR saying so. A stale one (its
 * process is gone, or the pid now runs another program) is replaced, with
 * a warning in the log. 0, or -errno with ERR set.
 */
int gn__pidfile_write(const char *path, pid_t pid, char err[GN_ERR_LEN]);

/* Remove PATH if it still holds PID (a new arbiter may own it by now). */
void gn__pidfile_remove(const char *path, pid_t pid);

#endif /* GN_SERVER_PIDFILE_H */
