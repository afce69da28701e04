/*
 * The HTTP unit tests' connection over a socketpair (http_fixture.h).
 */
#include "http_fixture.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/access_format.h"
#include "config/ipset.h"
#include "green_fixture.h"
#include "http/parse.h"
#include "http/serve.h"
#include "net/conn.h"

int (*http_app)(gn_request_t *req, gn_response_t *res, void *state);
int http_served, http_pre_hooks, http_post_hooks;

static gn_app_t app_desc;
static int closed;

static int route(void *owner, const char *path, size_t *mount_len,
                 struct gn_http_app *app)
{
    (void)owner;
    (void)path;
    if (http_app == NULL)
        return 0;
    app_desc.handle = http_app;
    app->desc = &app_desc;
    app->state = NULL;
    app->name = "test";
    *mount_len = 0;
    return 1;
}

static int hook(void *owner, int post, struct gn_request *req,
                struct gn_response *res)
{
    ck_assert_ptr_nonnull(req);
    ck_assert_ptr_nonnull(res);
    if (post)
        http_post_hooks++;
    else
        http_pre_hooks++;
    return 0;
}

static void serving(void *owner, struct gn_request *req)
{
}

static void request_done(void *owner)
{
    http_served++;
}

static void conn_closed(void *owner)
{
    closed++;
}

struct exchange {
    int fd;
    const char *request;
    char *out;
    size_t cap, len;
};

static void client(struct gn_coro *co, void *arg)
{
    struct exchange *x = arg;
    ssize_t n;

    ck_assert_int_eq(gn_write(x->fd, x->request, strlen(x->request), 10.0),
                     (ssize_t)strlen(x->request));
    while ((n = gn_read(x->fd, x->out + x->len, x->cap - 1 - x->len, 10.0)) > 0)
        x->len += (size_t)n;
    ck_assert_int_eq(n, 0); /* the server closed, not a timeout */
    x->out[x->len] = '\0';
    /* A server that lingers (after a bad request) closes once we do. */
    close(x->fd);
    for (int i = 0; i < 200 && !closed; i++)
        gn_sleep(0.01);
}

static struct gn_ipset no_ips;
static struct gn_access_format no_format;
const char *http_server_header = "greenicorn-test";

size_t http_exchange(const char *request, char *out, size_t cap)
{
    struct gn_http_ctx ctx = {
        .limits = GN_HTTP_LIMITS_DEFAULT,
        .header_ms = 10000,
        .body_ms = 10000,
        .keepalive = 5,
        .proxy_allow_ips = &no_ips,
        .forwarded_allow_ips = &no_ips,
        .server_header = http_server_header,
        .access_format = &no_format,
        .route = route,
        .hook = hook,
        .serving = serving,
        .request_done = request_done,
        .serve_more = 1,
    };
    struct gn_conns set = {
        .loop = loop,
        .coros = pool,
        .first_byte_ms = 10000,
        .keepalive_ms = 10000,
        .write_ms = 10000,
        .closed = conn_closed,
    };
    struct sockaddr peer = {.sa_family = AF_UNIX};
    struct exchange x = {.request = request, .out = out, .cap = cap};
    int fds[2];

    ctx.head_max = gn__http_head_max(&ctx.limits);
    ck_assert_int_eq(
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds),
        0);
    closed = 0;
    ck_assert_ptr_nonnull(
        gn__conn_new(&set, fds[1], &peer, sizeof(peer), &gn__http1, &ctx));
    x.fd = fds[0];
    go(client, &x);
    run();
    ck_assert_int_eq(closed, 1);
    ck_assert_uint_eq(set.n, 0);
    gn__conn_free_spares(&set);
    return x.len;
}

/* http_connect's context and connection set, shared by its connections. */
static struct gn_http_ctx open_ctx = {
    .limits = GN_HTTP_LIMITS_DEFAULT,
    .header_ms = 10000,
    .body_ms = 10000,
    .keepalive = 30,
    .proxy_allow_ips = &no_ips,
    .forwarded_allow_ips = &no_ips,
    .server_header = "greenicorn-test",
    .access_format = &no_format,
    .route = route,
    .hook = hook,
    .serving = serving,
    .request_done = request_done,
    .serve_more = 1,
};
static struct gn_conns open_set = {
    .first_byte_ms = 30000,
    .keepalive_ms = 30000,
    .write_ms = 10000,
    .closed = conn_closed,
};

int http_connect(void)
{
    struct sockaddr peer = {.sa_family = AF_UNIX};
    int fds[2];

    open_ctx.head_max = gn__http_head_max(&open_ctx.limits);
    open_set.loop = loop;
    open_set.coros = pool;
    ck_assert_int_eq(
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds),
        0);
    ck_assert_ptr_nonnull(gn__conn_new(&open_set, fds[1], &peer, sizeof(peer),
                                       &gn__http1, &open_ctx));
    return fds[0];
}

size_t http_read_response(int fd, char *out, size_t cap, const char **body)
{
    size_t len = 0, want = 0;
    const char *end = NULL;

    out[0] = '\0';
    for (;;) {
        ssize_t n;

        if (end == NULL && (end = strstr(out, "\r\n\r\n")) != NULL) {
            const char *cl = strcasestr(out, "\r\nContent-Length: ");

            ck_assert_msg(cl != NULL && cl < end, "no Content-Length: %s", out);
            want = (size_t)(end + 4 - out) + strtoul(cl + 18, NULL, 10);
            ck_assert_uint_lt(want, cap);
        }
        if (end != NULL && len >= want)
            break;
        n = gn_read(fd, out + len, cap - 1 - len, 10.0);
        ck_assert_msg(n > 0, "no response (%zd) after: %.*s", n, (int)len, out);
        len += (size_t)n;
        out[len] = '\0';
    }
    ck_assert_uint_eq(len, want); /* nothing more was sent */
    *body = end + 4;
    return len;
}
