/*
 * Pidfiles. The file holds the pid and a newline, as Gunicorn writes it.
 * A pidfile left by a server that died without removing it may name a pid
 * reused since by another program: only a live greenicorn counts.
 */
#include "server/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

/* The pid PATH holds, or 0. */
static pid_t read_pid(const char *path)
{
    char buf[32];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    long pid;

    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    pid = strtol(buf, NULL, 10);
    return pid > 0 ? (pid_t)pid : 0;
}

/* The first NUL-terminated string of /proc/PID/NAME into OUT ("" if none),
 * a trailing newline cut. */
static void proc_text(pid_t pid, const char *name, char *out, size_t len)
{
    char path[64];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    n = fd < 0 ? -1 : read(fd, out, len - 1);
    if (fd >= 0)
        close(fd);
    out[n > 0 ? n : 0] = '\0';
    out[strcspn(out, "\n")] = '\0';
}

/* Whether PID is a zombie: dead, not yet reaped (an arbiter SIGKILLed
 * after USR2 orphaned it, under a PID 1 slow to reap). kill(pid, 0)
 * still succeeds on one; it runs nothing. No /proc: not known, no. */
static int zombie(pid_t pid)
{
    char stat[512];
    const char *end;

    proc_text(pid, "stat", stat, sizeof(stat));
    end = strrchr(stat, ')'); /* the command name may hold ") Z" */
    return end != NULL && end[1] == ' ' && end[2] == 'Z';
}

static int alive(pid_t pid)
{
    return (kill(pid, 0) == 0 || errno == EPERM) && !zombie(pid);
}

/* Whether PID runs greenicorn: the same command name as ours (the
 * binary's), or a process title of greenicorn's. When unsure (no /proc),
 * yes. */
static int is_greenicorn(pid_t pid, char *comm, size_t len)
{
    char self[64], cmdline[256];

    proc_text(pid, "comm", comm, len);
    proc_text(getpid(), "comm", self, sizeof(self));
    proc_text(pid, "cmdline", cmdline, sizeof(cmdline));
    return comm[0] == '\0' || strcmp(comm, self) == 0 ||
           strstr(cmdline, "greenicorn") != NULL;
}

int gn__pidfile_write(const char *path, pid_t pid, char err[GN_ERR_LEN])
{
    pid_t other = read_pid(path);
    char tmp[4096], text[32], comm[64];
    int fd, n, rc;

    if (other > 0 && other != pid && alive(other)) {
        if (is_greenicorn(other, comm, sizeof(comm))) {
            snprintf(err, GN_ERR_LEN,
                     "pidfile %s: another server is running as pid %d (a "
                     "live greenicorn: stop it first, or use another "
                     "pidfile)",
                     path, (int)other);
            return -EEXIST;
        }
        gn_log_warn("pidfile %s: pid %d is not a greenicorn (it is '%s'): "
                    "replacing the stale pidfile",
                    path, (int)other, comm);
    }
    snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)pid);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    n = snprintf(text, sizeof(text), "%d\n", (int)pid);
    rc = write(fd, text, (size_t)n) == n ? 0 : -1;
    if (close(fd) != 0 || rc != 0 || rename(tmp, path) != 0)
        goto fail_tmp;
    return 0;

fail_tmp:
    rc = -errno;
    unlink(tmp);
    snprintf(err, GN_ERR_LEN, "pidfile %s: %s", path, strerror(-rc));
    return rc;
fail:
    rc = -errno;
    snprintf(err, GN_ERR_LEN, "pidfile %s: %s", path, strerror(errno));
    return rc;
}

void gn__pidfile_remove(const char *path, pid_t pid)
{
    if (read_pid(path) == pid)
        unlink(path);
}
