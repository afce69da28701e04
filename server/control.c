/*
 * The control socket's transport: listening, the peer check, reading one
 * bounded command line per connection, writing one JSON answer, and the
 * deadlines that keep a slow or silent client from holding anything. It
 * runs inside the arbiter's poll loop, so every call here returns at once.
 */
#include "server/control.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"

#define READ_MS 5000   /* from connect to a whole command line */
#define WRITE_MS 10000 /* to take the answer */

enum client_state {
    READING, /* the command line */
    BUSY,    /* the arbiter answers later (dump) */
    WRITING, /* the answer */
};

struct gn_control_client {
    struct gn_control *ctl;
    int fd;
    enum client_state state;
    int64_t deadline_ms;
    char line[GN_CONTROL_LINE];
    size_t nline;
    char *out; /* the answer, "...\n" */
    size_t nout, sent;
};

struct gn_control {
    int fd;
    char *path;
    dev_t dev; /* of the file at PATH once bound: ours to remove */
    ino_t ino;
    gn_control_cb cb;
    void *ctx;
    struct gn_control_client *clients[GN_CONTROL_CLIENTS];
};

/* ---- the socket ------------------------------------------------------- */

static int failed(char *err, const char *what, const char *path)
{
    int rc = -errno;

    snprintf(err, GN_ERR_LEN, "control_socket: %s %s: %s", what, path,
             strerror(errno));
    return rc;
}

/* Bind a fresh socket at a temporary name beside the path and rename it
 * over the path. fchmod before bind gives the socket file mode 0600 (less
 * if the umask says so) from the moment it exists; the chmod after only
 * restores the owner's bits a strict umask took. */
static int bind_at(struct gn_control *ctl, char *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    int fd;

    if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.%d.tmp", ctl->path,
                 (int)getpid()) >= (int)sizeof(sa.sun_path)) {
        snprintf(err, GN_ERR_LEN, "control_socket: %s: path too long (at "
                 "most %zu bytes)", ctl->path, sizeof(sa.sun_path) - 16);
        return -ENAMETOOLONG;
    }
    if (lstat(ctl->path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
        snprintf(err, GN_ERR_LEN, "control_socket: %s exists and is not a "
                 "socket", ctl->path);
        return -EEXIST;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return failed(err, "cannot create a socket for", ctl->path);
    unlink(sa.sun_path); /* our own leftover, from a pid reused */
    if (fchmod(fd, 0600) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        chmod(sa.sun_path, 0600) != 0 || listen(fd, 64) != 0 ||
        rename(sa.sun_path, ctl->path) != 0 || stat(ctl->path, &st) != 0) {
        int rc = failed(err, "cannot listen at", ctl->path);

        unlink(sa.sun_path);
        close(fd);
        return rc;
    }
    ctl->fd = fd;
    ctl->dev = st.st_dev;
    ctl->ino = st.st_ino;
    return 0;
}

struct gn_control *gn__control_open(const char *path, gn_control_cb cb,
                                    void *ctx, char err[GN_ERR_LEN])
{
    struct gn_control *ctl = calloc(1, sizeof(*ctl));

    if (ctl == NULL || (ctl->path = strdup(path)) == NULL) {
        free(ctl);
        snprintf(err, GN_ERR_LEN, "control_socket: out of memory");
        return NULL;
    }
    ctl->fd = -1;
    ctl->cb = cb;
    ctl->ctx = ctx;
    if (bind_at(ctl, err) != 0) {
        free(ctl->path);
        free(ctl);
        return NULL;
    }
    return ctl;
}

const char *gn__control_path(const struct gn_control *ctl)
{
    return ctl->path;
}

int gn__control_rebind(struct gn_control *ctl, char err[GN_ERR_LEN])
{
    if (ctl->fd >= 0)
        close(ctl->fd);
    ctl->fd = -1;
    return bind_at(ctl, err);
}

static void drop_client(struct gn_control_client *c);

void gn__control_close(struct gn_control *ctl)
{
    struct stat st;

    if (ctl == NULL)
        return;
    for (size_t i = 0; i < GN_CONTROL_CLIENTS; i++)
        if (ctl->clients[i] != NULL)
            drop_client(ctl->clients[i]);
    if (ctl->fd >= 0 && stat(ctl->path, &st) == 0 && st.st_dev == ctl->dev &&
        st.st_ino == ctl->ino)
        unlink(ctl->path);
    if (ctl->fd >= 0)
        close(ctl->fd);
    free(ctl->path);
    free(ctl);
}

void gn__control_forget(struct gn_control *ctl)
{
    if (ctl == NULL)
        return;
    for (size_t i = 0; i < GN_CONTROL_CLIENTS; i++)
        if (ctl->clients[i] != NULL)
            close(ctl->clients[i]->fd);
    if (ctl->fd >= 0)
        close(ctl->fd);
}

/* ---- answers ---------------------------------------------------------- */

static void drop_client(struct gn_control_client *c)
{
    struct gn_control *ctl = c->ctl;

    for (size_t i = 0; i < GN_CONTROL_CLIENTS; i++)
        if (ctl->clients[i] == c)
            ctl->clients[i] = NULL;
    close(c->fd);
    free(c->out);
    free(c);
}

/* Send what the socket takes; drop C once all is out or on an error. */
static void flush(struct gn_control_client *c)
{
    while (c->sent < c->nout) {
        ssize_t n = send(c->fd, c->out + c->sent, c->nout - c->sent,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return; /* POLLOUT */
        if (n <= 0)
            break;
        c->sent += (size_t)n;
    }
    drop_client(c);
}

/* Answer C with the document DOC (stolen). */
static void answer(struct gn_control_client *c, json_t *doc)
{
    /* 12 digits: 5.87, not 5.8700000000000001 */
    char *text =
        doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
    size_t len;

    json_decref(doc);
    if (text == NULL) { /* out of memory: say so in what we have */
        text = strdup("{\"ok\":false,\"error\":\"out of memory\"}");
        if (text == NULL) {
            drop_client(c);
            return;
        }
    }
    len = strlen(text);
    free(c->out);
    c->out = realloc(text, len + 2);
    if (c->out == NULL) {
        free(text);
        drop_client(c);
        return;
    }
    c->out[len] = '\n';
    c->nout = len + 1;
    c->sent = 0;
    c->state = WRITING;
    c->deadline_ms = gn__monotonic_ms() + WRITE_MS;
    flush(c);
}

void gn__control_reply(struct gn_control_client *c, json_t *data)
{
    answer(c, json_pack("{s:b, s:o}", "ok", 1, "data",
                        data ? data : json_object()));
}

void gn__control_error(struct gn_control_client *c, const char *fmt, ...)
{
    char msg[GN_ERR_LEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    answer(c, json_pack("{s:b, s:s}", "ok", 0, "error", msg));
}

/* ---- commands --------------------------------------------------------- */

/* Split C's line into words and hand them to the arbiter, or answer why
 * it is no command. */
static void dispatch(struct gn_control_client *c)
{
    char *argv[GN_CONTROL_ARGS + 1], *p = c->line;
    const char *nl = memchr(c->line, '\n', c->nline);
    size_t len = nl ? (size_t)(nl - c->line) : c->nline;
    int argc = 0;

    len -= len > 0 && c->line[len - 1] == '\r';
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)c->line[i];

        if (b < 0x20 && b != '\t') {
            gn__control_error(c, "not a command: control bytes in the line");
            return;
        }
        if (b > 0x7e) {
            gn__control_error(c, "not a command: bytes outside ASCII");
            return;
        }
    }
    c->line[len] = '\0';
    while (*(p += strspn(p, " \t")) != '\0') {
        if (argc == GN_CONTROL_ARGS) {
            gn__control_error(c, "too many words (at most %d)",
                              GN_CONTROL_ARGS);
            return;
        }
        argv[argc++] = p;
        p += strcspn(p, " \t");
        if (*p != '\0')
            *p++ = '\0';
    }
    argv[argc] = NULL;
    if (argc == 0) {
        gn__control_error(c, "empty command: try 'help'");
        return;
    }
    c->state = BUSY;
    c->ctl->cb(c->ctl->ctx, c, argc, argv);
}

/* Read what C sent; a whole line (or the end of its input) is a command. */
static void read_line(struct gn_control_client *c)
{
    size_t room = sizeof(c->line) - 1 - c->nline;
    ssize_t n;

    do {
        n = recv(c->fd, c->line + c->nline, room, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n < 0 || (n == 0 && c->nline == 0)) {
        drop_client(c);
        return;
    }
    c->nline += (size_t)n;
    if (memchr(c->line, '\n', c->nline) != NULL || n == 0)
        dispatch(c);
    else if (c->nline == sizeof(c->line) - 1)
        gn__control_error(c, "command too long (at most %d bytes)",
                          GN_CONTROL_LINE - 1);
}

/* ---- connections ------------------------------------------------------ */

/* Whether the peer of FD may control us: our own uid, or root. Else it
 * is told so. */
static int peer_allowed(struct gn_control_client *c)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        gn__control_error(c, "cannot check the peer: %s", strerror(errno));
        return 0;
    }
    if (cred.uid == geteuid() || cred.uid == 0)
        return 1;
    gn_log_warn("control_socket: refused pid %d (uid %d): only uid %d and "
                "root may control this server",
                (int)cred.pid, (int)cred.uid, (int)geteuid());
    gn__control_error(c, "permission denied: uid %d may not control this "
                      "server (only uid %d and root)",
                      (int)cred.uid, (int)geteuid());
    return 0;
}

static void accept_clients(struct gn_control *ctl)
{
    int fd;

    while ((fd = accept4(ctl->fd, NULL, NULL,
                         SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        struct gn_control_client *c = calloc(1, sizeof(*c));
        size_t i = 0;

        while (i < GN_CONTROL_CLIENTS && ctl->clients[i] != NULL)
            i++;
        if (c == NULL || i == GN_CONTROL_CLIENTS) {
            static const char busy[] =
                "{\"ok\":false,\"error\":\"busy: too many control clients\"}\n";

            (void)!send(fd, busy, sizeof(busy) - 1,
                        MSG_NOSIGNAL | MSG_DONTWAIT);
            close(fd);
            free(c);
            continue;
        }
        *c = (struct gn_control_client){
            .ctl = ctl,
            .fd = fd,
            .state = READING,
            .deadline_ms = gn__monotonic_ms() + READ_MS};
        ctl->clients[i] = c;
        if (!peer_allowed(c))
            continue; /* answered (and maybe dropped) */
    }
}

size_t gn__control_pollfds(const struct gn_control *ctl, struct pollfd *pfd)
{
    size_t n = 0;

    if (ctl->fd >= 0)
        pfd[n++] = (struct pollfd){.fd = ctl->fd, .events = POLLIN};
    for (size_t i = 0; i < GN_CONTROL_CLIENTS; i++) {
        const struct gn_control_client *c = ctl->clients[i];

        if (c != NULL && c->state != BUSY)
            pfd[n++] = (struct pollfd){
                .fd = c->fd, .events = c->state == READING ? POLLIN : POLLOUT};
    }
    return n;
}

int gn__control_timeout(const struct gn_control *ctl)
{
    int64_t now = gn__monotonic_ms(), soonest = -1;

    for (size_t i = 0; i < GN_CONTROL_CLIENTS; i++) {
        const struct gn_control_client *c = ctl->clients[i];

        if (c != NULL && c->state != BUSY &&
            (soonest < 0 || c->deadline_ms - now < soonest))
            soonest = c->deadline_ms > now ? c->deadline_ms - now : 0;
    }
    return (int)soonest;
}

static struct gn_control_client *find_client(struct gn_control *ctl, int fd)
{
    for (size_t i = 0; i < GN_CONTROL_CLIENTS; i++)
        if (ctl->clients[i] != NULL && ctl->clients[i]->fd == fd)
            return ctl->clients[i];
    return NULL;
}

/* A client that did not send its command, or take its answer, in time. */
static void expire(struct gn_control *ctl)
{
    int64_t now = gn__monotonic_ms();

    for (size_t i = 0; i < GN_CONTROL_CLIENTS; i++) {
        struct gn_control_client *c = ctl->clients[i];

        if (c == NULL || c->state == BUSY || now < c->deadline_ms)
            continue;
        if (c->state == READING)
            gn__control_error(c, "no command within %d s", READ_MS / 1000);
        else
            drop_client(c);
    }
}

void gn__control_run(struct gn_control *ctl, const struct pollfd *pfd,
                     size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct gn_control_client *c;

        if (pfd[i].revents == 0)
            continue;
        if (pfd[i].fd == ctl->fd) {
            accept_clients(ctl);
            continue;
        }
        c = find_client(ctl, pfd[i].fd);
        if (c == NULL || c->state == BUSY)
            continue;
        if (c->state == READING)
            read_line(c);
        else
            flush(c);
    }
    expire(ctl);
}
