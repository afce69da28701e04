/*
 * resolving_client: an app that finds its backend by name and talks to it
 * with the C library's ordinary blocking calls, unmodified: getaddrinfo,
 * socket, connect, write and read. The e2e test of patch_all's dns family
 * (tests/e2e/test_patch_dns_ssl.py, "plain sockets + getaddrinfo") runs
 * it against a DNS responder and a TCP backend that each answer after
 * 100 ms: with patching on, both waits park only the request.
 *
 *     [app.args]
 *     host = backend.greenicorn.test   # resolved on every request
 *     port = 4567
 *
 * GET /fetch resolves HOST, connects to its first address, writes "ping"
 * and reads the answer until EOF: the answer is the body (502 and the
 * error when something fails). Any other path answers "hello" at once.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <greenicorn.h>

static char host[256];
static char port[16];

static int client_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    (void)state;
    for (size_t i = 0; i < nargs; i++) {
        if (strcmp(args[i].name, "host") == 0)
            snprintf(host, sizeof(host), "%s", args[i].value);
        else if (strcmp(args[i].name, "port") == 0)
            snprintf(port, sizeof(port), "%s", args[i].value);
    }
    return host[0] && port[0] ? 0 : -EINVAL;
}

/* A socket connected to HOST:PORT, or -1 with WHY set. */
static int dial(const char **why)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM},
                    *ai;
    int rc = getaddrinfo(host, port, &hints, &ai), fd;

    if (rc != 0) {
        *why = gai_strerror(rc);
        return -1;
    }
    fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    if (fd < 0)
        *why = strerror(errno);
    freeaddrinfo(ai);
    return fd;
}

/* The backend's whole answer into BUF: its length, or -1 with WHY. */
static ssize_t fetch(char *buf, size_t cap, const char **why)
{
    int fd = dial(why);
    size_t got = 0;
    ssize_t n = 0;

    if (fd < 0)
        return -1;
    if (write(fd, "ping", 4) != 4) {
        *why = strerror(errno);
        close(fd);
        return -1;
    }
    while (got < cap && (n = read(fd, buf + got, cap - got)) > 0)
        got += (size_t)n;
    if (n < 0)
        *why = strerror(errno);
    close(fd);
    return n < 0 ? -1 : (ssize_t)got;
}

static int client_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    const char *why = "?";
    char buf[256];
    ssize_t n;

    (void)state;
    gn_response_header(res, "Content-Type", "text/plain");
    if (strcmp(gn_request_path(req), "/fetch") != 0)
        return gn_response_write(res, "hello", 5);
    if ((n = fetch(buf, sizeof(buf), &why)) < 0) {
        gn_response_status(res, 502, NULL);
        return gn_response_write(res, why, strlen(why));
    }
    return gn_response_write(res, buf, (size_t)n);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,
    .name = "resolving_client",
    .init = client_init,
    .handle = client_handle,
};
