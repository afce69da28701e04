/*
 * Binding the configured addresses. TCP names are resolved with
 * getaddrinfo (the first address wins, as in Gunicorn); a stale unix
 * socket file left by a previous run is replaced, any other file is not.
 */
#include "core/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int fail_errno(char *err, const char *spec, const char *what)
{
    int rc = -errno;

    snprintf(err, GN_ERR_LEN, "cannot %s %s: %s", what, spec, strerror(errno));
    return rc;
}

/* The bound address as text, so port 0 shows the port the kernel chose. */
static char *describe(int fd, const struct gn_bind *b)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN], out[128];
    int port;

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return strdup(b->spec);
    if (ss.ss_family == AF_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)&ss;

        snprintf(out, sizeof(out), "unix:%.*s", (int)sizeof(out) - 6,
                 un->sun_path);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        snprintf(out, sizeof(out), "[%s]:%d", host, port);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;

        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
        snprintf(out, sizeof(out), "%s:%d", host, port);
    }
    return strdup(out);
}

static int open_tcp(const struct gn_bind *b, int backlog, int reuse_port,
                    struct gn_listener *l, char *err)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai;
    char port[8];
    int fd, one = 1, rc;

    snprintf(port, sizeof(port), "%d", b->port);
    rc = getaddrinfo(*b->host ? b->host : NULL, port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, GN_ERR_LEN, "cannot resolve %s: %s", b->spec,
                 gai_strerror(rc));
        return -EINVAL;
    }
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if (fd < 0) {
        rc = fail_errno(err, b->spec, "create a socket for");
        goto fail_socket;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuse_port)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        rc = fail_errno(err, b->spec, "bind");
        goto fail_bind;
    }
    /* With reuse_port the arbiter only holds the address: a listening
     * socket here would get its share of connections and never accept. */
    l->per_worker = reuse_port;
    if (!reuse_port && listen(fd, backlog) != 0) {
        rc = fail_errno(err, b->spec, "listen on");
        goto fail_bind;
    }
    freeaddrinfo(ai);
    l->fd = fd;
    l->name = describe(fd, b);
    return 0;

fail_bind:
    close(fd);
fail_socket:
    freeaddrinfo(ai);
    return rc;
}

/* A socket file nobody listens on is a leftover: connect() says so. */
static int unlink_stale_socket(const char *path, char *err, const char *spec)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct stat st;
    int fd, live;

    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, GN_ERR_LEN,
                 "cannot bind %s: %s exists and is not a "
                 "socket",
                 spec, path);
        return -EEXIST;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail_errno(err, spec, "probe");
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    live = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
    close(fd);
    if (live) {
        snprintf(err, GN_ERR_LEN,
                 "cannot bind %s: another server is "
                 "listening on it",
                 spec);
        return -EADDRINUSE;
    }
    unlink(path);
    return 0;
}

static int open_unix(const struct gn_bind *b, int backlog,
                     struct gn_listener *l, char *err)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd, rc;

    rc = unlink_stale_socket(b->path, err, b->spec);
    if (rc != 0)
        return rc;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail_errno(err, b->spec, "create a socket for");
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", b->path);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        rc = fail_errno(err, b->spec, "bind");
        close(fd);
        return rc;
    }
    if (listen(fd, backlog) != 0) {
        rc = fail_errno(err, b->spec, "listen on");
        close(fd);
        unlink(b->path);
        return rc;
    }
    l->fd = fd;
    l->name = strdup(b->spec);
    l->unix_path = strdup(b->path);
    return 0;
}

/* fd://N: a socket someone else bound (systemd, a supervisor); we only
 * check it listens, make it non-blocking, and never unlink its path. */
static int adopt_fd(const struct gn_bind *b, int reuse_port,
                    struct gn_listener *l, char *err)
{
    int listening = 0, type = 0, reuse = 0, flags;
    socklen_t len = sizeof(int);

    getsockopt(b->fd, SOL_SOCKET, SO_REUSEPORT, &reuse, &len);
    /* A bound, not listening SO_REUSEPORT socket: an old arbiter's with
     * reuse_port, handed over by USR2. Its workers listen on their own. */
    l->per_worker = reuse_port && reuse;
    if (getsockopt(b->fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
        getsockopt(b->fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
        (!listening && !l->per_worker) || type != SOCK_STREAM) {
        snprintf(err, GN_ERR_LEN,
                 "cannot use %s: not a listening stream "
                 "socket",
                 b->spec);
        return -ENOTSOCK;
    }
    flags = fcntl(b->fd, F_GETFL);
    fcntl(b->fd, F_SETFL, flags | O_NONBLOCK);
    fcntl(b->fd, F_SETFD, FD_CLOEXEC);
    l->fd = b->fd;
    l->name = describe(b->fd, b);
    l->kind = GN_BIND_FD;
    return 0;
}

/* "FILE:LINE: bind: " (or the flag) before ERR, as every config error
 * names where it was set. */
static void name_origin(const struct gn_bind *b, char *err)
{
    const char *origin = b->origin ? b->origin : "bind (the default)";
    size_t n = strlen(origin) + 2, len = strlen(err);

    if (n >= GN_ERR_LEN / 2)
        return; /* config/ keeps origins shorter */
    if (n + len >= GN_ERR_LEN)
        len = GN_ERR_LEN - n - 1;
    memmove(err + n, err, len);
    err[n + len] = '\0';
    memcpy(err, origin, n - 2);
    memcpy(err + n - 2, ": ", 2);
}

static int open_one(const struct gn_bind *b, int backlog, int reuse_port,
                    struct gn_listener *l, char *err)
{
    int rc;

    l->kind = b->kind;
    l->tls = b->tls;
    l->spec = strdup(b->spec);
    l->stream = b->stream ? strdup(b->stream) : NULL;
    if (b->kind == GN_BIND_UNIX)
        rc = open_unix(b, backlog, l, err);
    else if (b->kind == GN_BIND_FD)
        rc = adopt_fd(b, reuse_port, l, err);
    else
        rc = open_tcp(b, backlog, reuse_port, l, err);
    if (rc != 0) {
        name_origin(b, err);
        free(l->spec);
        free(l->stream);
        l->spec = NULL;
        l->stream = NULL;
    }
    return rc;
}

int gn__listeners_open(const struct gn_bind *binds, size_t nbinds, int backlog,
                       int reuse_port, struct gn_listener **out, size_t *n,
                       char err[GN_ERR_LEN])
{
    return gn__listeners_reopen(NULL, 0, binds, nbinds, backlog, reuse_port,
                                out, n, err);
}

/* The listener of OLD serving SPEC and not yet taken, or NULL. */
static struct gn_listener *find_kept(struct gn_listener *old, size_t nold,
                                     const char *spec)
{
    for (size_t i = 0; i < nold; i++)
        if (old[i].fd >= 0 && strcmp(old[i].spec, spec) == 0)
            return &old[i];
    return NULL;
}

/* A kept socket may now serve another protocol (HTTP, or another
 * stream): the address is the same, what is spoken on it follows the new
 * config. */
static int relabel(struct gn_listener *l, const char *stream, char *err)
{
    char *copy = NULL;

    if (stream != NULL && (copy = strdup(stream)) == NULL) {
        snprintf(err, GN_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    free(l->stream);
    l->stream = copy;
    return 0;
}

/* Undo a failed reopen of the first N: kept listeners go back to OLD, new
 * ones close. */
static void give_back(struct gn_listener *ls, size_t n, const int *kept_from,
                      struct gn_listener *old)
{
    for (size_t i = 0; i < n; i++) {
        if (kept_from[i] >= 0) {
            old[kept_from[i]] = ls[i];
            continue;
        }
        close(ls[i].fd);
        if (ls[i].unix_path)
            unlink(ls[i].unix_path);
        free(ls[i].spec);
        free(ls[i].name);
        free(ls[i].unix_path);
        free(ls[i].stream);
    }
}

int gn__listeners_reopen(struct gn_listener *old, size_t nold,
                         const struct gn_bind *binds, size_t nbinds,
                         int backlog, int reuse_port, struct gn_listener **out,
                         size_t *n, char err[GN_ERR_LEN])
{
    struct gn_listener *ls = calloc(nbinds, sizeof(*ls)), *k;
    int *kept_from = calloc(nbinds + 1, sizeof(int));
    size_t i;
    int rc = 0;

    if (ls == NULL || kept_from == NULL) {
        free(ls);
        free(kept_from);
        snprintf(err, GN_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    for (i = 0; i < nbinds && rc == 0; i++) {
        k = find_kept(old, nold, binds[i].spec);
        kept_from[i] = -1;
        if (k != NULL && k->kind == GN_BIND_TCP &&
            k->per_worker != reuse_port) {
            snprintf(err, GN_ERR_LEN,
                     "reuse_port cannot change while %s is bound: restart "
                     "to change it",
                     k->spec);
            rc = -EINVAL;
        } else if (k != NULL) {
            if ((rc = relabel(k, binds[i].stream, err)) != 0)
                continue;
            kept_from[i] = (int)(k - old);
            ls[i] = *k;
            ls[i].tls = binds[i].tls; /* certfile may have come or gone */
            *k = (struct gn_listener){.fd = -1}; /* taken, strings too */
            if (!ls[i].per_worker)
                listen(ls[i].fd, backlog); /* a new backlog, if any */
        } else {
            rc = open_one(&binds[i], backlog, reuse_port, &ls[i], err);
        }
    }
    if (rc != 0) {
        give_back(ls, i - 1, kept_from, old);
        free(ls);
        free(kept_from);
        return rc;
    }
    free(kept_from);
    if (old != NULL)
        gn__listeners_close(old, nold, 1);
    *out = ls;
    *n = nbinds;
    return 0;
}

int gn__listener_own(struct gn_listener *l, int backlog, int cpu,
                     char err[GN_ERR_LEN])
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int fd, one = 1, rc;

    if (getsockname(l->fd, (struct sockaddr *)&ss, &len) != 0)
        return fail_errno(err, l->name, "find the address of");
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail_errno(err, l->name, "create a socket for");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    /* A preference, not a promise: a kernel that ignores it spreads
     * connections by its hash, as without. */
    if (cpu >= 0)
        setsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, &cpu, sizeof(cpu));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 ||
        listen(fd, backlog) != 0) {
        rc = fail_errno(err, l->name, "listen (reuse_port) on");
        close(fd);
        return rc;
    }
    close(l->fd); /* the arbiter's, which only holds the address */
    l->fd = fd;
    return 0;
}

int gn__reuse_port_migrates(void)
{
    int fd = open("/proc/sys/net/ipv4/tcp_migrate_req", O_RDONLY | O_CLOEXEC);
    char v = '0';

    if (fd < 0)
        return 0; /* before 5.14: never */
    if (read(fd, &v, 1) != 1)
        v = '0';
    close(fd);
    return v != '0';
}

/* Whether L is an open TCP socket (an fd:// one may be either kind). */
static int is_tcp(const struct gn_listener *l)
{
    int domain = 0;
    socklen_t len = sizeof(domain);

    return l->fd >= 0 &&
           getsockopt(l->fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 &&
           (domain == AF_INET || domain == AF_INET6);
}

/* Only HTTP's clients always speak first (TLS's ClientHello and the PROXY
 * header too): a stream app may greet first, and its client would wait.
 * nginx's "deferred" uses the same 1 s: a connection that stays silent is
 * still handed over after the first SYN-ACK retransmission (the kernel
 * counts the timeout in those), so an early connect (a browser's
 * preconnect) waits about a second for its accept, not forever. */
void gn__listeners_defer_accept(struct gn_listener *ls, size_t n, int on)
{
    for (size_t i = 0; i < n; i++) {
        int secs = on && ls[i].stream == NULL ? 1 : 0;

        ls[i].deferred = 0;
        if (is_tcp(&ls[i]))
            ls[i].deferred =
                setsockopt(ls[i].fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs,
                           sizeof(secs)) == 0 &&
                secs > 0;
    }
}

int gn__listeners_nodelay(struct gn_listener *ls, size_t n)
{
    static const int one = 1;
    int all = 1;

    for (size_t i = 0; i < n; i++)
        if (is_tcp(&ls[i]) && setsockopt(ls[i].fd, IPPROTO_TCP, TCP_NODELAY,
                                         &one, sizeof(one)) != 0)
            all = 0;
    return all;
}

void gn__listeners_close(struct gn_listener *ls, size_t n, int unlink_unix)
{
    for (size_t i = 0; i < n; i++) {
        if (ls[i].fd >= 0)
            close(ls[i].fd);
        if (unlink_unix && ls[i].fd >= 0 && ls[i].unix_path)
            unlink(ls[i].unix_path);
        free(ls[i].spec);
        free(ls[i].name);
        free(ls[i].unix_path);
        free(ls[i].stream);
    }
    free(ls);
}
