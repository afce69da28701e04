/*
 * Socket activation and readiness notification, by the protocols of
 * sd_listen_fds(3) and sd_notify(3).
 *
 * Socket activation is always ours: it is a few environment variables,
 * and doing it here means a build without libsystemd loses nothing.
 * Notification is a datagram to $NOTIFY_SOCKET: through libsystemd when
 * the build has it (it follows systemd's newer socket kinds), else sent
 * here to the unix socket, path or abstract, systemd gives a service.
 */
#include "core/systemd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "core/log.h"

#if GN_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

/* A whole decimal number in [0, INT_MAX], or -1. */
static long parse_count(const char *s)
{
    char *end;
    long v;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    return errno || *end != '\0' || v > 0x7fffffff ? -1 : v;
}

int gn__listen_fds(void)
{
    long pid = parse_count(getenv("LISTEN_PID"));
    long n = parse_count(getenv("LISTEN_FDS"));
    int rc = 0;

    if (getenv("LISTEN_PID") == NULL)
        goto out; /* nothing passed, or not to us */
    if (pid < 0 || n < 0 || n > 0x7fffffff - GN_LISTEN_FDS_START) {
        rc = -EINVAL;
        goto out;
    }
    if (pid != (long)getpid())
        goto out; /* meant for the process that exec'd us */
    for (int fd = GN_LISTEN_FDS_START; fd < GN_LISTEN_FDS_START + n; fd++) {
        int flags = fcntl(fd, F_GETFD);

        if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
            rc = -errno;
            goto out;
        }
    }
    rc = (int)n;
out:
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return rc;
}

#if GN_HAVE_LIBSYSTEMD

static int send_state(const char *state)
{
    return sd_notify(0, state);
}

const char *gn__notify_impl(void)
{
    return "libsystemd";
}

#else

/* $NOTIFY_SOCKET as an address: a path, or "@name" in the abstract
 * namespace. Its length, or -EAFNOSUPPORT for any other kind. */
static int notify_address(const char *where, struct sockaddr_un *sun)
{
    size_t len = strlen(where);

    if ((where[0] != '/' && where[0] != '@') || len < 2 ||
        len > sizeof(sun->sun_path) - (where[0] == '/'))
        return -EAFNOSUPPORT;
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, where, len);
    if (where[0] == '@')
        sun->sun_path[0] = '\0';
    return (int)(offsetof(struct sockaddr_un, sun_path) + len +
                 (where[0] == '/'));
}

static int send_state(const char *state)
{
    const char *where = getenv("NOTIFY_SOCKET");
    static int said;
    struct sockaddr_un sun;
    int fd, len, rc;

    if (where == NULL || where[0] == '\0')
        return 0;
    len = notify_address(where, &sun);
    if (len < 0) {
        if (!said++)
            gn_log_warn("NOTIFY_SOCKET=%s: this build (without libsystemd) "
                        "sends to unix sockets only; systemd is not told",
                        where);
        return len;
    }
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    rc = 1;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun,
               (socklen_t)len) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

const char *gn__notify_impl(void)
{
    return "built-in";
}

#endif

int gn__notify(const char *fmt, ...)
{
    char state[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(state, sizeof(state), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(state))
        return -EMSGSIZE;
    return send_state(state);
}
