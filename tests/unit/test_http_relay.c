/*
 * Unit tests of HTTP requests served by another worker (http/relay.c), in
 * one process: "worker A" is http_fixture's connection, whose app relays
 * or hands over to "worker B", a peer endpoint (net/peer.c) serving with a
 * context and connection set of its own, whose app says what it saw. A
 * relayed GET and POST come back as A's answer; a connection handed over
 * is answered by B on the client's own socket; a gone B and a B slower
 * than the call are errors A answers itself.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config/access_format.h"
#include "config/ipset.h"
#include "green/park.h"
#include "green_fixture.h"
#include "http/relay.h"
#include "http/serve.h"
#include "http_fixture.h"
#include "net/conn.h"
#include "net/peer.h"
#include "run_suite.h"

#define ID_B 100000012
#define ID_NONE 100000013
#define ID_SQUAT 100000014

/* ---- worker B ------------------------------------------------------------ */

static gn_app_t b_desc;
static int b_served, b_closed;

/* B's app: what it was asked, as text; "/slow" waits 1 s first. */
static int b_app(gn_request_t *req, gn_response_t *res, void *state)
{
    char body[256];
    ssize_t n = 0, got;

    (void)state;
    if (strcmp(gn_request_path(req), "/slow") == 0)
        gn_sleep(1.0);
    while ((got = gn_request_read(req, body + n, sizeof(body) - 1 - (size_t)n)) >
           0)
        n += got;
    body[n] = '\0';
    gn_response_status(res, 201, NULL);
    gn_response_header(res, "Content-Type", "text/x-test");
    gn_response_header(res, "X-Served-By", "B");
    return gn_response_printf(
        res, "B saw %s %s v%d query=%s x=%s from=%s body=%s",
        gn_request_method(req), gn_request_path(req), gn_request_version(req),
        gn_request_query(req),
        gn_request_header(req, "X-Test") ? gn_request_header(req, "X-Test")
                                         : "-",
        gn_request_remote_addr(req), body);
}

static int b_route(void *owner, const char *path, size_t *mount_len,
                   struct gn_http_app *app)
{
    (void)owner;
    (void)path;
    b_desc.handle = b_app;
    app->desc = &b_desc;
    app->state = NULL;
    app->name = "b";
    *mount_len = 0;
    return 1;
}

static void b_serving(void *owner, struct gn_request *req)
{
    (void)owner;
    (void)req;
}

static void b_done(void *owner)
{
    (void)owner;
    b_served++;
}

static void b_conn_closed(void *owner)
{
    (void)owner;
    b_closed++;
}

static struct gn_ipset no_ips;
static struct gn_access_format no_format;
static struct gn_http_ctx b_ctx;
static struct gn_conns b_set;
static struct gn_peer *b;

static void start_b(void)
{
    b_ctx = (struct gn_http_ctx){
        .limits = GN_HTTP_LIMITS_DEFAULT,
        .header_ms = 10000,
        .body_ms = 10000,
        .keepalive = 5,
        .proxy_allow_ips = &no_ips,
        .forwarded_allow_ips = &no_ips,
        .server_header = "greenicorn-b",
        .access_format = &no_format,
        .route = b_route,
        .serving = b_serving,
        .request_done = b_done,
        .serve_more = 1,
    };
    b_ctx.head_max = gn__http_head_max(&b_ctx.limits);
    b_set = (struct gn_conns){
        .loop = loop,
        .coros = pool,
        .first_byte_ms = 10000,
        .keepalive_ms = 10000,
        .write_ms = 10000,
        .closed = b_conn_closed,
    };
    b_served = b_closed = 0;
    ck_assert_int_eq(gn__peer_token_init(NULL), 0);
    b = gn__peer_new(loop, pool, gn__peer_token(), ID_B, NULL, NULL);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(gn__http_relay_serve(b, &b_set, &b_ctx), 0);
}

static void stop_b(void)
{
    gn__peer_stop(b);
    ck_assert_uint_eq(gn__peer_busy(b), 0);
    gn__peer_free(b);
    ck_assert_uint_eq(b_set.n, 0); /* every adopted connection closed */
    gn__conn_free_spares(&b_set);
}

/* ---- worker A's apps ------------------------------------------------------ */

static pid_t a_to;
static int64_t a_timeout_ms;
static int a_rc;

/* Relay to a_to; on an error answer 502 with it. */
static int relaying_app(gn_request_t *req, gn_response_t *res, void *state)
{
    (void)state;
    a_rc = gn__http_relay(req, res, a_to, 1 << 20, a_timeout_ms);
    if (a_rc == 0)
        return 0;
    gn_response_status(res, 502, NULL);
    return gn_response_printf(res, "relay: %s", strerror(-a_rc));
}

static int handing_app(gn_request_t *req, gn_response_t *res, void *state)
{
    (void)state;
    a_rc = gn__http_hand_over(req, res, a_to, a_timeout_ms);
    if (a_rc == 0)
        return 0;
    gn_response_status(res, 400, NULL);
    return gn_response_printf(res, "hand over: %s", strerror(-a_rc));
}

static void expect(const char *out, const char *want)
{
    ck_assert_msg(strstr(out, want) != NULL, "no \"%s\" in:\n%s", want, out);
}

START_TEST(relayed_get)
{
    char out[4096];

    start_b();
    http_app = relaying_app;
    a_to = ID_B;
    a_timeout_ms = 5000;
    http_exchange("GET /socket.io/?EIO=4&sid=x HTTP/1.1\r\nHost: a\r\n"
                  "X-Test: yes\r\nConnection: close\r\n\r\n",
                  out, sizeof(out));
    ck_assert_int_eq(a_rc, 0);
    expect(out, "HTTP/1.1 201 Created\r\n");
    expect(out, "\r\nContent-Type: text/x-test\r\n");
    expect(out, "\r\nX-Served-By: B\r\n");
    expect(out, "\r\nServer: greenicorn-test\r\n"); /* A's, not B's */
    ck_assert_ptr_null(strstr(out, "greenicorn-b"));
    expect(out, "\r\n\r\nB saw GET /socket.io/ v10 query=EIO=4&sid=x x=yes "
                "from= body=");
    ck_assert_int_eq(b_served, 1);
    ck_assert_int_eq(b_closed, 1);
    stop_b();
}
END_TEST

START_TEST(relayed_post)
{
    char out[4096];

    start_b();
    http_app = relaying_app;
    a_to = ID_B;
    a_timeout_ms = 5000;
    http_exchange("POST /p?sid=y HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n"
                  "Connection: close\r\n\r\n4hello world",
                  out, sizeof(out));
    ck_assert_int_eq(a_rc, 0);
    expect(out, "HTTP/1.1 201 Created\r\n");
    expect(out, "Content-Length: ");
    expect(out, "B saw POST /p v10 query=sid=y x=- from= body=4hello world");
    stop_b();
}
END_TEST

START_TEST(relayed_chunked_post)
{
    char out[4096];

    start_b();
    http_app = relaying_app;
    a_to = ID_B;
    a_timeout_ms = 5000;
    http_exchange("POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                  "Connection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                  out, sizeof(out));
    ck_assert_int_eq(a_rc, 0);
    expect(out, "B saw POST /c v10 query= x=- from= body=abcde");
    stop_b();
}
END_TEST

START_TEST(relay_to_gone_owner)
{
    char out[4096];

    start_b();
    http_app = relaying_app;
    a_to = ID_NONE;
    a_timeout_ms = 5000;
    http_exchange("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", out,
                  sizeof(out));
    ck_assert_int_eq(a_rc, -ESRCH);
    expect(out, "HTTP/1.1 502 Bad Gateway\r\n");
    ck_assert_int_eq(b_served, 0);
    stop_b();
}
END_TEST

static void wait_for_b(struct gn_coro *co, void *arg)
{
    (void)co;
    (void)arg;
    for (int i = 0; i < 500 && (b_closed == 0 || gn__peer_busy(b) > 0); i++)
        gn__wait_ms(10);
}

START_TEST(relay_times_out)
{
    char out[4096];

    start_b();
    http_app = relaying_app;
    a_to = ID_B;
    a_timeout_ms = 300;
    http_exchange("GET /slow HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                  out, sizeof(out));
    ck_assert_int_eq(a_rc, -ETIMEDOUT);
    expect(out, "HTTP/1.1 502 Bad Gateway\r\n");
    /* B's connection still serves: it ends when B's app does. */
    go(wait_for_b, NULL);
    run();
    ck_assert_int_eq(b_closed, 1);
    stop_b();
}
END_TEST

START_TEST(handed_over)
{
    char out[4096];

    start_b();
    http_app = handing_app;
    a_to = ID_B;
    a_timeout_ms = 5000;
    /* The client reads until both ends closed: A's at once, B's after its
     * answer. */
    http_exchange("GET /ws?sid=z HTTP/1.1\r\nHost: a\r\nX-Test: up\r\n"
                  "Connection: close\r\n\r\n",
                  out, sizeof(out));
    ck_assert_int_eq(a_rc, 0);
    expect(out, "HTTP/1.1 201 Created\r\n");
    expect(out, "\r\nServer: greenicorn-b\r\n"); /* B answered, itself */
    expect(out, "B saw GET /ws v11 query=sid=z x=up from= body=");
    ck_assert_ptr_null(strstr(out, "greenicorn-test"));
    ck_assert_int_eq(b_served, 1);
    stop_b();
}
END_TEST

START_TEST(hand_over_to_gone_owner)
{
    char out[4096];

    start_b();
    http_app = handing_app;
    a_to = ID_NONE;
    a_timeout_ms = 5000;
    http_exchange("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                  out, sizeof(out));
    ck_assert_int_eq(a_rc, -ESRCH);
    expect(out, "HTTP/1.1 400 Bad Request\r\n");
    expect(out, "hand over: No such process");
    stop_b();
}
END_TEST

/* A process at ID_SQUAT's name that takes the socket and the call, then
 * closes without a word (it died mid-call, say). */
static void squat_task(struct gn_coro *co, void *arg)
{
    int lfd = *(int *)arg, fd, passed = -1;
    char buf[4096];
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = {buf, sizeof(buf)};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl.space,
                        .msg_controllen = sizeof(ctl.space)};

    (void)co;
    ck_assert_int_gt(gn__wait_fd(lfd, GN_WATCH_READ, 5000), 0);
    fd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_gt(recvmsg(fd, &mh, 0), 0);
    ck_assert_ptr_nonnull(CMSG_FIRSTHDR(&mh));
    memcpy(&passed, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
    ck_assert_int_ge(passed, 0);
    close(passed);
    close(fd);
}

START_TEST(hand_over_unanswered_writes_nothing)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char out[4096];
    int lfd, n;

    start_b();
    n = snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
                 "greenicorn.%s.%ld", gn__peer_token(), (long)ID_SQUAT);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sun,
                          (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                                      1 + (size_t)n)),
                     0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    http_app = handing_app;
    a_to = ID_SQUAT;
    a_timeout_ms = 5000;
    go(squat_task, &lfd);
    /* The socket may have been adopted: A must not answer on it too. With
     * both copies closed the client sees the end, and nothing else. */
    ck_assert_uint_eq(
        http_exchange("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                      out, sizeof(out)),
        0);
    ck_assert_int_eq(a_rc, 0);
    close(lfd);
    stop_b();
}
END_TEST

static Suite *http_relay_suite(void)
{
    Suite *s = suite_create("http/relay");
    TCase *tc = test_case(s, "relay");

    tcase_add_test(tc, relayed_get);
    tcase_add_test(tc, relayed_post);
    tcase_add_test(tc, relayed_chunked_post);
    tcase_add_test(tc, relay_to_gone_owner);
    tcase_add_test(tc, relay_times_out);
    tcase_add_test(tc, handed_over);
    tcase_add_test(tc, hand_over_to_gone_owner);
    tcase_add_test(tc, hand_over_unanswered_writes_nothing);
    return s;
}

int main(void)
{
    return gn_test_run_suite(http_relay_suite());
}
