/*
 * ssl_client: an app that talks TLS to its backend with OpenSSL's
 * ordinary blocking API, unmodified: SSL_connect, SSL_write and SSL_read
 * over a blocking socket. The e2e test of patch_all's ssl family
 * (tests/e2e/test_patch_dns_ssl.py, "OpenSSL client") runs it against a
 * Python ssl server that answers after 100 ms: with patching on, the
 * socket BIO's reads and writes park only the request.
 *
 *     [app.args]
 *     port = 4567                 # the backend, on 127.0.0.1
 *     ca = /tmp/.../cert.pem      # its certificate, trusted
 *
 * GET /fetch connects, verifies the server, writes "ping" and reads the
 * answer until the connection ends; then it raises an error of its own on
 * OpenSSL's queue (user library, the request's number as data) and sleeps
 * 20 ms (usleep). OpenSSL's queue must be empty when a request starts and
 * hold that one marker of its own and no other request's after the sleep,
 * however the requests' turns interleaved on the worker's thread: else
 * 500 and what it found. The answer is the body (502 when the exchange
 * fails). Any other path answers "hello" at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <greenicorn.h>

static int backend_port;
static SSL_CTX *ctx;
static unsigned long requests;

static int client_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    const char *ca = NULL;

    (void)state;
    for (size_t i = 0; i < nargs; i++) {
        if (strcmp(args[i].name, "port") == 0)
            backend_port = atoi(args[i].value);
        else if (strcmp(args[i].name, "ca") == 0)
            ca = args[i].value;
    }
    if (backend_port <= 0 || ca == NULL)
        return -EINVAL;
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
        return -EINVAL;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return 0;
}

static void client_fini(void *state)
{
    (void)state;
    SSL_CTX_free(ctx);
}

static int dial(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)backend_port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* The TLS exchange: the answer's length in BUF, or -1. */
static int exchange(int fd, char *buf, size_t cap)
{
    SSL *ssl = SSL_new(ctx);
    size_t got = 0;
    int n, ok;

    if (ssl == NULL)
        return -1;
    SSL_set_fd(ssl, fd);
    SSL_set1_host(ssl, "localhost");
    ok = SSL_connect(ssl) == 1 && SSL_write(ssl, "ping", 4) == 4;
    /* Until the server's close_notify (or its end of the socket). */
    while (ok && got < cap &&
           (n = SSL_read(ssl, buf + got, (int)(cap - got))) > 0)
        got += (size_t)n;
    if (ok)
        SSL_shutdown(ssl);
    SSL_free(ssl);
    return ok ? (int)got : -1;
}

/* Whether the queue holds MARK and no other request's marker. */
static int own_errors_only(const char *mark, char *why, size_t len)
{
    const char *data;
    unsigned long code;
    int flags, seen = 0;

    while ((code = ERR_get_error_all(NULL, NULL, NULL, &data, &flags))) {
        if (ERR_GET_LIB(code) != ERR_LIB_USER)
            continue; /* OpenSSL's own, of this exchange */
        if (!(flags & ERR_TXT_STRING) || strcmp(data, mark) != 0) {
            snprintf(why, len, "foreign error %s in %s",
                     flags & ERR_TXT_STRING ? data : "?", mark);
            return 0;
        }
        seen++;
    }
    snprintf(why, len, "%d markers of %s", seen, mark);
    return seen == 1;
}

static int client_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    char buf[256], mark[32], why[128];
    int fd, n;

    (void)state;
    gn_response_header(res, "Content-Type", "text/plain");
    if (strcmp(gn_request_path(req), "/fetch") != 0)
        return gn_response_write(res, "hello", 5);
    snprintf(mark, sizeof(mark), "request %lu", ++requests);
    /* A request starts with an empty queue, whoever ran before it. */
    if (ERR_peek_error() != 0) {
        own_errors_only(mark, why, sizeof(why));
        gn_response_status(res, 500, NULL);
        return gn_response_write(res, why, strlen(why));
    }
    fd = dial();
    n = fd < 0 ? -1 : exchange(fd, buf, sizeof(buf));
    if (fd >= 0)
        close(fd);
    /* An error of its own, kept across a sleep while the others run
     * (SSL_connect clears the queue, so not before the exchange). */
    ERR_raise_data(ERR_LIB_USER, 1, "%s", mark);
    usleep(20000);
    if (!own_errors_only(mark, why, sizeof(why))) {
        gn_response_status(res, 500, NULL);
        return gn_response_write(res, why, strlen(why));
    }
    if (n < 0) {
        gn_response_status(res, 502, NULL);
        return gn_response_write(res, "tls exchange failed", 19);
    }
    return gn_response_write(res, buf, (size_t)n);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,       .name = "ssl_client",    .init = client_init,
    .fini = client_fini, .handle = client_handle,
};
