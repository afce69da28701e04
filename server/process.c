/*
 * Process settings: what the arbiter does to itself before serving.
 * Titles are core/proctitle.c's; the privileges a worker drops,
 * core/privileges.c's.
 */
#include "server/process.h"

#include <errno.h>
#include <fcntl.h>
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
