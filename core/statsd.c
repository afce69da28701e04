/*
 * The statsd client: one connected, non-blocking datagram socket per
 * server (opened by the arbiter, inherited by its workers), and a buffer
 * of metric lines that becomes datagrams of at most DATAGRAM_MAX bytes,
 * newline-separated as statsd and DogStatsD read them. See statsd.h.
 */
#include "core/statsd.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* statsd's advice for the internet's MTU (1500 less the IP and UDP
 * headers, with room for options): one datagram never fragments. */
#define DATAGRAM_MAX 1432

static struct {
    int fd;
    char prefix[128]; /* "PREFIX." + the namespace */
    char tags[256];   /* "|#a,b:c", or "" */
    char buf[DATAGRAM_MAX];
    size_t len;
    uint64_t sent, failed;
} sd = {.fd = -1};

int gn__hostport_split(const char *addr, const char *defport, char *host,
                       size_t hlen, char *port, size_t plen)
{
    const char *colon, *end;

    if (addr[0] == '[') {
        end = strchr(addr, ']');
        if (end == NULL || end == addr + 1)
            return -EINVAL;
        colon = end[1] == ':' ? end + 1 : NULL;
        if (end[1] != '\0' && colon == NULL)
            return -EINVAL;
        addr++;
    } else {
        colon = strrchr(addr, ':');
        if (colon != NULL && strchr(addr, ':') != colon)
            return -EINVAL; /* a bare IPv6 address: write [ADDR]:PORT */
        end = colon ? colon : addr + strlen(addr);
    }
    if ((end == addr && colon == NULL) || (size_t)(end - addr) >= hlen)
        return -EINVAL; /* ":PORT" leaves HOST empty: every address */
    if (colon == NULL && defport == NULL)
        return -EINVAL;
    snprintf(host, hlen, "%.*s", (int)(end - addr), addr);
    snprintf(port, plen, "%s", colon ? colon + 1 : defport);
    if (port[0] == '\0' || strspn(port, "0123456789") != strlen(port) ||
        atoi(port) < 1 || atoi(port) > 65535)
        return -EINVAL;
    return 0;
}

/* The path of a unix:PATH or unix://PATH address, or NULL. */
static const char *unix_path(const char *addr)
{
    if (strncmp(addr, "unix://", 7) == 0)
        return addr + 7;
    if (strncmp(addr, "unix:", 5) == 0)
        return addr + 5;
    return NULL;
}

int gn__statsd_addr_valid(const char *addr)
{
    const char *path = unix_path(addr);
    char host[256], port[16];

    if (path != NULL)
        return path[0] != '\0' &&
               strlen(path) < sizeof(((struct sockaddr_un *)0)->sun_path);
    return gn__hostport_split(addr, "8125", host, sizeof(host), port,
                              sizeof(port)) == 0;
}

/* A datagram socket connected to ADDR: its descriptor, or -errno. A
 * connected UDP socket hears the ICMP errors the peer's host answers
 * with, as a failed send (counted), and never blocks with
 * SOCK_NONBLOCK. */
static int connect_to(const char *addr, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *ai = NULL;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    const char *path = unix_path(addr);
    char host[256], port[16];
    int fd, rc;

    if (path != NULL) {
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
            return fd;
        rc = -errno;
        if (fd >= 0)
            close(fd);
        snprintf(err, errlen, "statsd_host %s: %s", addr, strerror(-rc));
        return rc;
    }
    if (gn__hostport_split(addr, "8125", host, sizeof(host), port,
                           sizeof(port)) != 0) {
        snprintf(err, errlen, "statsd_host %s: not HOST:PORT", addr);
        return -EINVAL;
    }
    rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "statsd_host %s: %s", addr, gai_strerror(rc));
        return -EHOSTUNREACH;
    }
    fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    rc = fd < 0 ? -errno : 0;
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        rc = -errno;
        close(fd);
    }
    freeaddrinfo(ai);
    if (rc != 0)
        snprintf(err, errlen, "statsd_host %s: %s", addr, strerror(-rc));
    return rc ? rc : fd;
}

int gn__statsd_open(const char *addr, const char *prefix, const char *tags,
                    char *err, size_t errlen)
{
    size_t n;
    int fd;

    gn__statsd_close();
    if (addr == NULL || addr[0] == '\0')
        return 0;
    fd = connect_to(addr, err, errlen);
    if (fd < 0)
        return fd;
    sd.fd = fd;
    /* Gunicorn's rule: "app" and "app..." both become "app.". */
    prefix = prefix ? prefix : "";
    n = strlen(prefix);
    while (n > 0 && prefix[n - 1] == '.')
        n--;
    snprintf(sd.prefix, sizeof(sd.prefix), "%.*s%s%s", (int)n, prefix,
             n ? "." : "", GN_STATSD_NAMESPACE);
    snprintf(sd.tags, sizeof(sd.tags), "%s%s", tags && tags[0] ? "|#" : "",
             tags ? tags : "");
    return 0;
}

void gn__statsd_close(void)
{
    if (sd.fd >= 0)
        close(sd.fd);
    sd.fd = -1;
    sd.len = 0;
}

int gn__statsd_enabled(void)
{
    return sd.fd >= 0;
}

int gn__statsd_pending(void)
{
    return sd.len > 0;
}

void gn__statsd_flush(void)
{
    if (sd.len == 0 || sd.fd < 0)
        return;
    /* Non-blocking and never retried: a full socket buffer, an ICMP
     * error from the last datagram (ECONNREFUSED) drop this one. */
    if (send(sd.fd, sd.buf, sd.len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        sd.failed++;
    else
        sd.sent++;
    sd.len = 0;
}

/* Append "PREFIX.NAMESPACE.NAME:VALUE|TYPE|#TAGS" to the datagram, sending
 * the datagram first when the line would not fit. */
static void add(const char *name, const char *value, const char *type)
{
    char line[DATAGRAM_MAX];
    int n;

    if (sd.fd < 0)
        return;
    n = snprintf(line, sizeof(line), "%s%s:%s|%s%s", sd.prefix, name, value,
                 type, sd.tags);
    if (n <= 0 || (size_t)n >= sizeof(line))
        return; /* cannot be sent whole */
    if (sd.len > 0 && sd.len + 1 + (size_t)n > sizeof(sd.buf))
        gn__statsd_flush();
    if (sd.len > 0)
        sd.buf[sd.len++] = '\n';
    memcpy(sd.buf + sd.len, line, (size_t)n);
    sd.len += (size_t)n;
}

void gn__statsd_count(const char *name, int64_t n)
{
    char v[24];

    snprintf(v, sizeof(v), "%lld", (long long)n);
    add(name, v, "c");
}

void gn__statsd_timing(const char *name, double ms)
{
    char v[32];

    snprintf(v, sizeof(v), "%.3f", ms);
    add(name, v, "ms");
}

void gn__statsd_gauge(const char *name, int64_t v)
{
    char s[24];

    snprintf(s, sizeof(s), "%lld", (long long)v);
    add(name, s, "g");
}

uint64_t gn__statsd_sent(void)
{
    return sd.sent;
}

uint64_t gn__statsd_failed(void)
{
    return sd.failed;
}

void gn__statsd_forked(void)
{
    sd.len = 0;
    sd.sent = sd.failed = 0;
}
