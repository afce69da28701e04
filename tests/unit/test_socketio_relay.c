/*
 * Unit tests of Engine.IO requests served by the worker that holds their
 * session (socketio/relay.c), in one process: "worker A" is http_fixture's
 * connections, whose app forwards every Engine.IO request to "worker B"
 * (gn__eio_forward, as gn__eio_serve does for a sid of another pid); B is
 * a peer endpoint (net/peer.c) whose connections serve the real engine
 * (socketio/eio.c) with an echoing handler. A handshake, a POST and a
 * waiting GET each cross on their own connection; a WebSocket upgrade is
 * handed over to B and probed there; a gone owner makes the session
 * unknown.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/access_format.h"
#include "config/ipset.h"
#include "eio_client.h"
#include "green/park.h"
#include "green_fixture.h"
#include "greenicorn.h"
#include "http/relay.h"
#include "http/request.h"
#include "http/serve.h"
#include "http_fixture.h"
#include "net/conn.h"
#include "net/peer.h"
#include "net/transport.h"
#include "run_suite.h"
#include "socketio/eio.h"
#include "socketio/handshake.h"
#include "socketio/relay.h"

#define ID_B 100000022
#define ID_NONE 100000023


/* ---- the engine on B, echoing ------------------------------------------- */

static struct gn_eio_server *srv;
static struct gn_eio_session *last;
static int opened, msgs;

static void on_open(struct gn_eio_session *s, void *ctx)
{
    (void)ctx;
    last = s;
    opened++;
}

static void on_message(struct gn_eio_session *s, const struct gn_eio_packet *p,
                       void *ctx)
{
    (void)ctx;
    msgs++;
    ck_assert_int_eq(gn__eio_send(s, p, 1), 0);
}

static void on_close(struct gn_eio_session *s, const char *why, void *ctx)
{
    (void)why;
    (void)ctx;
    if (s == last)
        last = NULL;
}

static const struct gn_eio_handler handler = {on_open, on_message, on_close};

/* ---- worker B ------------------------------------------------------------ */

static gn_app_t b_desc;
static int b_served;

static int b_app(gn_request_t *req, gn_response_t *res, void *state)
{
    int rc;

    (void)state;
    b_served++;
    rc = gn__eio_serve(srv, req, res);
    if (rc == 0) {
        gn_response_status(res, 404, NULL);
        return gn_response_write(res, "not here", 8);
    }
    return rc < 0 ? rc : 0;
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

static void b_nothing(void *owner)
{
    (void)owner;
}

static struct gn_ipset no_ips;
static struct gn_access_format no_format;
static struct gn_http_ctx b_ctx;
static struct gn_conns b_set;
static struct gn_peer *b;
static struct gn_eio_settings settings;

/* ---- worker A: every Engine.IO request goes to a_to ----------------------- */

static pid_t a_to;
static int a_tls; /* A's connections claim to be TLS */
static struct gn_transport fake_tls;

static int a_app(gn_request_t *req, gn_response_t *res, void *state)
{
    char sid[64] = "";
    int rc;

    (void)state;
    if (a_tls) {
        /* TCP's calls, TLS's flag: what the forwarder looks at. */
        fake_tls = gn__transport_tcp;
        fake_tls.secure = 1;
        req->conn->tp = &fake_tls;
    }
    gn__eio_query_get(gn_request_query(req), "sid", sid, sizeof(sid));
    rc = gn__eio_forward(sid, a_to, req, res);
    ck_assert_int_ne(rc, 0); /* forwarded requests are always answered */
    return rc < 0 ? rc : 0;
}

static void setup(void)
{
    settings = (struct gn_eio_settings){
        .path = "/socket.io/",
        .ping_interval_ms = 2000,
        .ping_timeout_ms = 2000,
        .max_payload = 1000,
        .max_queue = 100000,
        .allow_polling = 1,
        .allow_websocket = 1,
    };
    gn__eio_setup(&settings);
    srv = gn__eio_server_new(&handler, NULL);
    ck_assert_ptr_nonnull(srv);
    last = NULL;
    opened = msgs = b_served = 0;
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
        .request_done = b_nothing,
        .serve_more = 1,
    };
    b_ctx.head_max = gn__http_head_max(&b_ctx.limits);
    b_set = (struct gn_conns){
        .loop = loop,
        .coros = pool,
        .first_byte_ms = 10000,
        .keepalive_ms = 10000,
        .write_ms = 10000,
        .closed = b_nothing,
    };
    ck_assert_int_eq(gn__peer_token_init(NULL), 0);
    b = gn__peer_new(loop, pool, gn__peer_token(), ID_B, NULL, NULL);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(gn__http_relay_serve(b, &b_set, &b_ctx), 0);
    http_app = a_app;
    a_to = ID_B;
    a_tls = 0;
}

static void finish(void)
{
    gn__eio_server_free(srv);
    srv = NULL;
    gn__peer_stop(b);
    drain();
    ck_assert_uint_eq(gn__peer_busy(b), 0);
    gn__peer_free(b);
    ck_assert_uint_eq(b_set.n, 0);
    gn__conn_free_spares(&b_set);
    gn__eio_setup(NULL);
}

/* ---- the client (eio_client.h) ----------------------------------------- */

/* The handshake, made by this worker (A). */
static void handshake(int fd, char sid[21])
{
    eio_handshake(fd, sid);
    ck_assert_int_eq(gn__eio_sid_owner(sid), getpid());
}

/* ---- polling across workers --------------------------------------------- */

static char poll_sid[21];
static int poll_done;

static void send_later(int fd, short what, void *arg)
{
    const struct gn_eio_packet p = {GN_EIO_MESSAGE, false,
                                    (const uint8_t *)"late", 4};

    (void)fd;
    (void)what;
    (void)arg;
    ck_assert_ptr_nonnull(last);
    ck_assert_int_eq(gn__eio_send(last, &p, 1), 0);
}

static void polling_task(struct gn_coro *co, void *arg)
{
    int h = http_connect(), p = http_connect(), g = http_connect();
    const char *body;
    char q[128];
    int64_t t0;

    (void)co;
    (void)arg;
    handshake(h, poll_sid);
    ck_assert_int_eq(opened, 1);
    ck_assert_ptr_nonnull(strcasestr(eio_out, "\r\nServer: greenicorn-test\r\n"));
    ck_assert_ptr_nonnull(
        strcasestr(eio_out, "\r\nContent-Type: text/plain; charset=UTF-8\r\n"));
    snprintf(q, sizeof(q), "EIO=4&transport=polling&sid=%s", poll_sid);
    /* A POST on one connection, its echo from a GET on another. */
    ck_assert_int_eq(eio_post(p, q, "4hello\x1e" "4world", 13, &body), 200);
    ck_assert_str_eq(body, "ok");
    ck_assert_int_eq(msgs, 2);
    ck_assert_int_eq(eio_get(g, q, &body), 200);
    ck_assert_str_eq(body, "4hello\x1e" "4world");
    /* A GET with nothing queued waits, there, for what comes. */
    later(300, send_later, NULL);
    t0 = gn_test_now_ms();
    ck_assert_int_eq(eio_get(h, q, &body), 200);
    ck_assert_int_ge(gn_test_now_ms() - t0, 250);
    ck_assert_str_eq(body, "4late");
    /* ... and with nothing, up to the ping interval: a PING. */
    t0 = gn_test_now_ms();
    ck_assert_int_eq(eio_get(g, q, &body), 200);
    ck_assert_str_eq(body, "2");
    ck_assert_int_lt(gn_test_now_ms() - t0, 5000);
    /* A payload past maxPayload is refused there, as the protocol says. */
    {
        char big[1200];

        memset(big, 'x', sizeof(big) - 1);
        big[0] = '4';
        big[sizeof(big) - 1] = '\0';
        ck_assert_int_eq(eio_post(p, q, big, strlen(big), &body), 413);
    }
    close(h);
    close(p);
    close(g);
    poll_done = 1;
}

START_TEST(polling_served_by_the_owner)
{
    setup();
    poll_done = 0;
    go(polling_task, NULL);
    run();
    ck_assert_int_eq(poll_done, 1);
    ck_assert_int_ge(b_served, 6);
    finish();
}
END_TEST

static void gone_task(struct gn_coro *co, void *arg)
{
    int fd = http_connect();
    const char *body;

    (void)co;
    (void)arg;
    ck_assert_int_eq(eio_get(fd, "EIO=4&transport=polling&sid=AAAAAQAAAAAAAAAAAAAA",
                         &body),
                     400);
    ck_assert_str_eq(body, "{\"code\":1,\"message\":\"Session ID unknown\"}");
    close(fd);
}

START_TEST(gone_owner_means_unknown_session)
{
    setup();
    a_to = ID_NONE;
    go(gone_task, NULL);
    run();
    ck_assert_int_eq(b_served, 0);
    finish();
}
END_TEST

/* ---- a WebSocket upgrade handed over ------------------------------------ */

/* A WebSocket with QUERY, whose handshake B answered itself, on the
 * socket A handed over. */
static void ws_connect(struct eio_ws *w, const char *query)
{
    char head[1024];

    eio_ws_connect(w, query, head, sizeof(head));
    ck_assert_msg(strstr(head, "Server: greenicorn-b") != NULL, "%s", head);
}

static void upgrade_task(struct gn_coro *co, void *arg)
{
    int fd = http_connect();
    struct eio_ws w;
    char q[128], sid[21];
    const char *body;

    (void)co;
    (void)arg;
    handshake(fd, sid);
    snprintf(q, sizeof(q), "EIO=4&transport=websocket&sid=%s", sid);
    ws_connect(&w, q);
    eio_ws_send(&w, 1, "2probe", 6);
    eio_ws_expect_text(&w, "3probe");
    eio_ws_send(&w, 1, "5", 1);
    eio_ws_send(&w, 1, "4over", 5);
    eio_ws_expect_text(&w, "4over");
    /* Polling is over for the session, wherever it is asked. */
    snprintf(q, sizeof(q), "EIO=4&transport=polling&sid=%s", sid);
    ck_assert_int_eq(eio_get(fd, q, &body), 400);
    close(fd);
    close(w.fd);
}

START_TEST(websocket_upgrade_handed_over)
{
    setup();
    go(upgrade_task, NULL);
    run();
    finish();
}
END_TEST

/* Over TLS the socket cannot cross: the upgrade is refused, polling (which
 * is relayed) goes on. */
static void tls_task(struct gn_coro *co, void *arg)
{
    int fd = http_connect(), ws = http_connect();
    char q[128], sid[21], req[512];
    const char *body;
    int n;

    (void)co;
    (void)arg;
    handshake(fd, sid);
    snprintf(q, sizeof(q), "EIO=4&transport=websocket&sid=%s", sid);
    n = snprintf(req, sizeof(req),
                 "GET /socket.io/?%s HTTP/1.1\r\nHost: x\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n",
                 q);
    ck_assert_int_lt(n, (int)sizeof(req));
    ck_assert_int_eq(eio_request(ws, req, &body), 400);
    ck_assert_ptr_nonnull(strstr(body, "TLS"));
    ck_assert_ptr_nonnull(strcasestr(eio_out, "\r\nContent-Type: text/plain"));
    close(ws);
    /* The session goes on polling. */
    snprintf(q, sizeof(q), "EIO=4&transport=polling&sid=%s", sid);
    ck_assert_int_eq(eio_post(fd, q, "4still", 6, &body), 200);
    ck_assert_int_eq(eio_get(fd, q, &body), 200);
    ck_assert_str_eq(body, "4still");
    close(fd);
}

START_TEST(websocket_upgrade_over_tls_refused)
{
    setup();
    a_tls = 1;
    go(tls_task, NULL);
    run();
    finish();
}
END_TEST

static Suite *socketio_relay_suite(void)
{
    Suite *s = suite_create("socketio/relay");
    TCase *tc = test_case(s, "relay");

    tcase_add_test(tc, polling_served_by_the_owner);
    tcase_add_test(tc, gone_owner_means_unknown_session);
    tcase_add_test(tc, websocket_upgrade_handed_over);
    tcase_add_test(tc, websocket_upgrade_over_tls_refused);
    return s;
}

int main(void)
{
    return gn_test_run_suite(socketio_relay_suite());
}
