/*
 * Process settings. Titles come from libbsd's setproctitle (its ctor
 * library saves argv and environ at start-up, so there is nothing to
 * initialise here), with one correction: see mark_title_end.
 */
#include "server/process.h"

#include <bsd/unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

static int fail(char *err, const char *what, const char *arg)
{
    int rc = -errno;

    snprintf(err, GN_ERR_LEN, "%s%s: %s", what, arg, strerror(errno));
    return rc;
}

int gn__process_setup(const struct gn_config *cfg, char err[GN_ERR_LEN])
{
    if (cfg->chdir && chdir(cfg->chdir) != 0)
        return fail(err, "chdir: cannot change to ", cfg->chdir);
    if (cfg->umask >= 0)
        umask((mode_t)cfg->umask);
    for (size_t i = 0; i < cfg->nraw_env; i++) {
        const char *kv = cfg->raw_env[i], *eq = strchr(kv, '=');
        char key[256];

        snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
        if (setenv(key, eq + 1, 1) != 0)
            return fail(err, "raw_env: cannot set ", key);
    }
    return 0;
}

static int null_stdio(void)
{
    int fd = open("/dev/null", O_RDWR);

    if (fd < 0)
        return -1;
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO)
        close(fd);
    return 0;
}

int gn__process_daemonize(char err[GN_ERR_LEN])
{
    pid_t pid = fork();

    if (pid < 0)
        return fail(err, "daemon: cannot fork", "");
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        return fail(err, "daemon: setsid", "");
    /* A second fork: the daemon is no session leader, so it can never
     * acquire a controlling terminal again. */
    pid = fork();
    if (pid < 0)
        return fail(err, "daemon: cannot fork", "");
    if (pid > 0)
        _exit(0);
    if (null_stdio() != 0)
        return fail(err, "daemon: cannot open ", "/dev/null");
    return 0;
}

void gn__process_chown(const struct gn_config *cfg,
                       const struct gn_listener *ls, size_t nls)
{
    if (cfg->uid < 0)
        return;
    /* The log files now, and those a USR1 or a HUP creates later. */
    gn__log_set_owner(cfg->uid, cfg->gid);
    for (size_t i = 0; i < nls; i++)
        if (ls[i].unix_path)
            (void)!chown(ls[i].unix_path, (uid_t)cfg->uid, (gid_t)cfg->gid);
}

int gn__process_drop_privileges(const struct gn_config *cfg,
                                char err[GN_ERR_LEN])
{
    struct passwd *pw;

    if (cfg->gid >= 0 && (gid_t)cfg->gid != getgid() &&
        setgid((gid_t)cfg->gid) != 0)
        return fail(err, "group: cannot switch to ",
                    cfg->group ? cfg->group : "the user's");
    if (cfg->uid < 0 || (uid_t)cfg->uid == getuid())
        return 0;
    pw = getpwuid((uid_t)cfg->uid); /* the user may be given as a number */
    if (initgroups(pw ? pw->pw_name : cfg->user, (gid_t)cfg->gid) != 0 &&
        errno != EPERM)
        return fail(err, "user: cannot set the groups of ", cfg->user);
    if (setuid((uid_t)cfg->uid) != 0)
        return fail(err, "user: cannot switch to ", cfg->user);
    return 0;
}

/* The kernel's bounds of our argument area: /proc/self/stat's fields 48
 * and 49 (arg_start, arg_end). 0, or -1. */
static int arg_area(char **start, char **end)
{
    static char *s, *e;
    char buf[2048], *p;
    unsigned long long v[2];
    ssize_t n;
    int fd;

    if (s == NULL) {
        fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
        n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
        if (fd >= 0)
            close(fd);
        if (n <= 0)
            return -1;
        buf[n] = '\0';
        p = strrchr(buf, ')'); /* the command name may hold spaces */
        /* Each space passed starts the next field, from field 3. */
        for (int field = 2; p != NULL && field < 48; field++)
            p = strchr(p + 1, ' ');
        if (p == NULL || sscanf(p, " %llu %llu", &v[0], &v[1]) != 2 ||
            v[1] <= v[0])
            return -1;
        s = (char *)(uintptr_t)v[0];
        e = (char *)(uintptr_t)v[1];
    }
    *start = s;
    *end = e;
    return 0;
}

/* libbsd marks a title shorter than the arguments with a '.' where
 * argv[0] ended, for Linux to show the title alone; but Linux looks at the
 * last byte of the whole argument area, so ps showed the title, blanks
 * for the NULs and the '.'. Clear the rest of the area and mark its last
 * byte instead: Linux then shows the title up to its NUL. Only when the
 * area holds the TITLE libbsd just wrote: under valgrind (bench/
 * instructions) the kernel's area is valgrind's own argv, which it still
 * reads, and it must not be touched. */
static void mark_title_end(const char *title)
{
    size_t len, tlen = strlen(title);
    char *start, *end;

    if (arg_area(&start, &end) != 0)
        return;
    len = strnlen(start, (size_t)(end - start));
    if (start + len + 1 >= end)
        return; /* the title fills the area, or runs past it */
    if (len < tlen || memcmp(start + len - tlen, title, tlen) != 0)
        return; /* not the title: libbsd wrote it elsewhere */
    memset(start + len, 0, (size_t)(end - start) - len);
    end[-1] = '.';
}

void gn__process_title(const struct gn_config *cfg, const char *role)
{
    const char *name = cfg->proc_name     ? cfg->proc_name
                       : cfg->app.spec    ? cfg->app.spec
                       : cfg->nnamed_apps ? cfg->named_apps[0].spec
                                          : NULL;
    const char *base = name ? strrchr(name, '/') : NULL;

    char title[256];

    snprintf(title, sizeof(title), "%s [%s]", role,
             base ? base + 1 : name ? name : "-");
    setproctitle("%s", title);
    mark_title_end(title);
}
