/*
 * A small syslog client. libc's syslog(3) only speaks to /dev/log and
 * cannot be pointed at a UDP address, hence our own: format the RFC 3164
 * header, send(2) with MSG_DONTWAIT on a connected datagram socket.
 */
#include "core/syslog.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "core/timefmt.h"

static struct {
    int fd;
    int facility;
    char tag[64];
} sl = {.fd = -1};

static const struct {
    const char *name;
    int code;
} facilities[] = {
    {"kern", LOG_KERN},     {"user", LOG_USER},     {"mail", LOG_MAIL},
    {"daemon", LOG_DAEMON}, {"auth", LOG_AUTH},     {"syslog", LOG_SYSLOG},
    {"lpr", LOG_LPR},       {"news", LOG_NEWS},     {"uucp", LOG_UUCP},
    {"cron", LOG_CRON},     {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1},
    {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
    {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

int gn__syslog_facility(const char *name)
{
    for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
        if (strcmp(facilities[i].name, name) == 0)
            return facilities[i].code;
    return -1;
}

/* "udp://HOST:PORT": HOST and PORT into the buffers. */
static int split_udp(const char *addr, char *host, size_t hlen, char *port,
                     size_t plen)
{
    const char *hp = addr + 6, *colon = strrchr(hp, ':');

    if (strncmp(addr, "udp://", 6) != 0 || colon == NULL || colon == hp ||
        colon[1] == '\0')
        return -1;
    snprintf(host, hlen, "%.*s", (int)(colon - hp), hp);
    snprintf(port, plen, "%s", colon + 1);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    return 0;
}

int gn__syslog_addr_valid(const char *addr)
{
    char host[256], port[32];

    if (strncmp(addr, "unix://", 7) == 0)
        return addr[7] == '/' &&
               strlen(addr + 7) < sizeof(((struct sockaddr_un *)0)->sun_path);
    return split_udp(addr, host, sizeof(host), port, sizeof(port)) == 0;
}

static int connect_unix(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int connect_udp(const char *addr)
{
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *ai;
    char host[256], port[32];
    int fd;

    if (split_udp(addr, host, sizeof(host), port, sizeof(port)) != 0 ||
        getaddrinfo(host, port, &hints, &ai) != 0)
        return -1;
    fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

int gn__syslog_open(const char *addr, int facility, const char *tag, char *err,
                    size_t errlen)
{
    int fd = strncmp(addr, "unix://", 7) == 0 ? connect_unix(addr + 7)
                                              : connect_udp(addr);

    if (fd < 0) {
        int rc = errno ? -errno : -EINVAL;

        snprintf(err, errlen, "cannot reach syslog at %s: %s", addr,
                 strerror(-rc));
        return rc;
    }
    gn__syslog_close();
    sl.fd = fd;
    sl.facility = facility;
    snprintf(sl.tag, sizeof(sl.tag), "%s", tag);
    return 0;
}

void gn__syslog_send(int severity, const char *msg, size_t len)
{
    char line[4096], when[GN_TIME_SYSLOG_LEN + 1];
    int n;

    if (sl.fd < 0)
        return;
    gn__time_syslog(when, time(NULL));
    n = snprintf(line, sizeof(line), "<%d>%s %s[%d]: %.*s",
                 sl.facility | severity, when, sl.tag, (int)getpid(), (int)len,
                 msg);
    if (n > (int)sizeof(line) - 1)
        n = (int)sizeof(line) - 1;
    (void)!send(sl.fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

int gn__syslog_enabled(void)
{
    return sl.fd >= 0;
}

void gn__syslog_close(void)
{
    if (sl.fd >= 0)
        close(sl.fd);
    sl.fd = -1;
}
