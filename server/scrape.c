/*
 * The metrics endpoint's sockets: a listening one and up to
 * SCRAPE_CLIENTS scrapers, each reading its request head, then writing
 * the answer, with non-blocking calls only. See scrape.h.
 */
#include "server/scrape.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/statsd.h"

#define SCRAPE_CLIENTS 8       /* scrapers served at once */
#define SCRAPE_TIMEOUT_MS 5000 /* a scraper's whole exchange */
#define SCRAPE_HEAD_MAX 4096   /* bytes of request head read */

struct scraper {
    int fd; /* -1: a free slot */
    int64_t deadline_ms;
    char head[SCRAPE_HEAD_MAX];
    size_t head_len;
    char *out; /* the answer, once the head is in */
    size_t out_len, out_sent;
};

struct gn_scrape {
    int fd;
    char *addr;
    gn__scrape_render render;
    void *arg;
    struct scraper c[SCRAPE_CLIENTS];
};

/* A listening TCP socket on ADDR: its descriptor, or -1 with ERR set. */
static int listen_on(const char *addr, char err[GN_ERR_LEN])
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE},
                    *ai;
    char host[256], port[16];
    int fd = -1, one = 1, rc;

    if (gn__hostport_split(addr, NULL, host, sizeof(host), port,
                           sizeof(port)) != 0) {
        snprintf(err, GN_ERR_LEN, "metrics_bind %s: not HOST:PORT", addr);
        return -1;
    }
    rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, GN_ERR_LEN, "metrics_bind %s: %s", addr,
                 gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
        snprintf(err, GN_ERR_LEN, "metrics_bind %s: %s", addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

struct gn_scrape *gn__scrape_open(const char *addr, gn__scrape_render render,
                                  void *arg, char err[GN_ERR_LEN])
{
    struct gn_scrape *s = calloc(1, sizeof(*s));

    if (s == NULL || (s->addr = strdup(addr)) == NULL) {
        snprintf(err, GN_ERR_LEN, "out of memory");
        free(s);
        return NULL;
    }
    s->fd = listen_on(addr, err);
    if (s->fd < 0) {
        free(s->addr);
        free(s);
        return NULL;
    }
    s->render = render;
    s->arg = arg;
    for (size_t i = 0; i < SCRAPE_CLIENTS; i++)
        s->c[i].fd = -1;
    return s;
}

static void drop(struct scraper *c)
{
    close(c->fd);
    free(c->out);
    c->fd = -1;
    c->out = NULL;
    c->head_len = c->out_len = c->out_sent = 0;
}

void gn__scrape_close(struct gn_scrape *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < SCRAPE_CLIENTS; i++)
        if (s->c[i].fd >= 0)
            drop(&s->c[i]);
    close(s->fd);
    free(s->addr);
    free(s);
}

void gn__scrape_forked(struct gn_scrape *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < SCRAPE_CLIENTS; i++)
        if (s->c[i].fd >= 0)
            close(s->c[i].fd);
    close(s->fd);
}

const char *gn__scrape_addr(const struct gn_scrape *s)
{
    return s->addr;
}

size_t gn__scrape_pollfds(const struct gn_scrape *s, struct pollfd *fds,
                          size_t max)
{
    size_t n = 0;

    if (s == NULL || max == 0)
        return 0;
    fds[n++] = (struct pollfd){.fd = s->fd, .events = POLLIN};
    for (size_t i = 0; i < SCRAPE_CLIENTS && n < max; i++)
        if (s->c[i].fd >= 0)
            fds[n++] = (struct pollfd){
                .fd = s->c[i].fd, .events = s->c[i].out ? POLLOUT : POLLIN};
    return n;
}

/* The answer to a head that is in: 200 with the metrics for GET (or HEAD)
 * /metrics, 404 for any other path, 405 for another method. */
static void answer(struct gn_scrape *s, struct scraper *c)
{
    const char *status = "200 OK", *type = "text/plain; version=0.0.4; "
                                           "charset=utf-8";
    int get = strncmp(c->head, "GET ", 4) == 0,
        head = strncmp(c->head, "HEAD ", 5) == 0;
    const char *path = c->head + (head ? 5 : 4);
    char *body = NULL, *out;
    size_t blen = 0, room;
    int n;

    if (!get && !head)
        status = "405 Method Not Allowed";
    else if (strncmp(path, "/metrics", 8) != 0 ||
             (path[8] != ' ' && path[8] != '?'))
        status = "404 Not Found";
    else if ((body = s->render(s->arg, &blen)) == NULL)
        status = "500 Internal Server Error";
    if (body == NULL) {
        blen = 0;
        type = "text/plain";
    }
    room = blen + 256;
    out = malloc(room);
    if (out == NULL) {
        free(body);
        drop(c);
        return;
    }
    n = snprintf(out, room,
                 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n",
                 status, type, blen);
    if (!head && blen)
        memcpy(out + n, body, blen);
    free(body);
    c->out = out;
    c->out_len = (size_t)n + (head ? 0 : blen);
}

static void accept_scrapers(struct gn_scrape *s)
{
    for (;;) {
        int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        size_t i = 0;

        if (fd < 0)
            return; /* EAGAIN, or an error the next poll sees again */
        while (i < SCRAPE_CLIENTS && s->c[i].fd >= 0)
            i++;
        if (i == SCRAPE_CLIENTS) {
            close(fd); /* too many at once: come back later */
            continue;
        }
        s->c[i].fd = fd;
        s->c[i].deadline_ms = gn__monotonic_ms() + SCRAPE_TIMEOUT_MS;
    }
}

/* Read what C sent; answer once the head ended. */
static void read_head(struct gn_scrape *s, struct scraper *c)
{
    ssize_t n = recv(c->fd, c->head + c->head_len,
                     sizeof(c->head) - 1 - c->head_len, MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        drop(c);
        return;
    }
    c->head_len += (size_t)n;
    c->head[c->head_len] = '\0';
    if (strstr(c->head, "\r\n\r\n") || strstr(c->head, "\n\n"))
        answer(s, c);
    else if (c->head_len == sizeof(c->head) - 1)
        drop(c); /* a head this long is no scrape */
}

static void write_answer(struct scraper *c)
{
    ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent,
                     MSG_DONTWAIT | MSG_NOSIGNAL);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n < 0) {
        drop(c);
        return;
    }
    c->out_sent += (size_t)n;
    if (c->out_sent == c->out_len)
        drop(c);
}

void gn__scrape_run(struct gn_scrape *s)
{
    int64_t now = gn__monotonic_ms();

    if (s == NULL)
        return;
    accept_scrapers(s);
    for (size_t i = 0; i < SCRAPE_CLIENTS; i++) {
        struct scraper *c = &s->c[i];

        if (c->fd >= 0 && now > c->deadline_ms)
            drop(c);
        if (c->fd >= 0 && c->out == NULL)
            read_head(s, c);
        if (c->fd >= 0 && c->out != NULL)
            write_answer(c);
    }
}
