/*
 * blocking_client: an app that talks to a backend with the C library's
 * ordinary blocking calls, unmodified, for the e2e test of patch_all
 * (tests/e2e/test_patch.py): with patching on, its blocking recv parks
 * only its own request and the worker goes on serving; with it off, the
 * whole worker waits. It is compiled with _FORTIFY_SOURCE, so its recv and
 * poll are glibc's __recv_chk and __poll_chk, which the executable must
 * interpose too.
 *
 *     [app.args]
 *     port = 4567      # the backend, on 127.0.0.1
 *
 * GET /fetch connects (a blocking socket), sends "ping", waits with poll()
 * and reads the answer with recv() until EOF: the answer is the body.
 * Any other path answers "hello" at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <greenicorn.h>

static int backend_port;
/* Set at init, so the compiler cannot prove the calls' bounds and leaves
 * the fortified checks to run time: __recv_chk and __poll_chk. */
static size_t chunk_len;
static nfds_t npoll;

static int client_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    (void)state;
    for (size_t i = 0; i < nargs; i++)
        if (strcmp(args[i].name, "port") == 0)
            backend_port = atoi(args[i].value);
    chunk_len = 64;
    npoll = 1;
    return backend_port > 0 ? 0 : -EINVAL;
}

/* The backend's whole answer into BUF: its length, or -errno. */
static int fetch(char *buf, size_t cap)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)backend_port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct pollfd p[1];
    char chunk[64];
    size_t got = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0), err = 0;

    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        send(fd, "ping", 4, 0) != 4) {
        err = -errno;
        goto out;
    }
    p[0] = (struct pollfd){.fd = fd, .events = POLLIN};
    if (poll(p, npoll, 10000) != 1) {
        err = -ETIMEDOUT;
        goto out;
    }
    while (got + chunk_len <= cap && (n = recv(fd, chunk, chunk_len, 0)) > 0) {
        memcpy(buf + got, chunk, (size_t)n);
        got += (size_t)n;
    }
out:
    close(fd);
    return err ? err : (int)got;
}

static int client_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    char buf[256];
    int n;

    (void)state;
    gn_response_header(res, "Content-Type", "text/plain");
    if (strcmp(gn_request_path(req), "/fetch") != 0)
        return gn_response_write(res, "hello", 5);
    n = fetch(buf, sizeof(buf));
    if (n < 0) {
        gn_response_status(res, 502, NULL);
        return gn_response_write(res, strerror(-n), strlen(strerror(-n)));
    }
    return gn_response_write(res, buf, (size_t)n);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,
    .name = "blocking_client",
    .init = client_init,
    .handle = client_handle,
};
