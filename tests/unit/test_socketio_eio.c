/*
 * Unit tests of the Engine.IO 4 server (socketio/eio.c, session.c,
 * polling.c, transport.c, heartbeat.c) driven in-process: gn__eio_serve
 * mounted as the app of connections served by http/serve.c over
 * socketpairs (http_fixture.c), the client written by hand as the
 * protocol has it. Bad input is answered with the protocol's codes.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eio_client.h"
#include "green/park.h"
#include "green_fixture.h"
#include "greenicorn.h"
#include "http_fixture.h"
#include "run_suite.h"
#include "socketio/eio.h"


/* ---- the layer above, as the tests see it ----------------------------- */

static struct gn_eio_server *srv;
static struct gn_eio_session *last; /* the session opened last */
static int opened, closed_n, echo, refuse_open;
static char reason[64];
static char msg[4096];
static size_t msg_len;
static int msg_binary, msgs;

static void on_open(struct gn_eio_session *s, void *ctx)
{
    (void)ctx;
    last = s;
    opened++;
    if (refuse_open)
        gn__eio_close(s, "forced close");
}

static void on_message(struct gn_eio_session *s, const struct gn_eio_packet *p,
                       void *ctx)
{
    (void)ctx;
    ck_assert_uint_lt(msg_len + p->len, sizeof(msg));
    memcpy(msg + msg_len, p->data, p->len); /* appended: several per test */
    msg_len += p->len;
    msg[msg_len] = '\0';
    msg_binary = p->binary;
    msgs++;
    if (echo)
        ck_assert_int_eq(gn__eio_send(s, p, 1), 0);
}

static void on_close(struct gn_eio_session *s, const char *why, void *ctx)
{
    (void)ctx;
    if (s == last)
        last = NULL;
    snprintf(reason, sizeof(reason), "%s", why);
    closed_n++;
}

static const struct gn_eio_handler handler = {on_open, on_message, on_close};

static int app(gn_request_t *req, gn_response_t *res, void *state)
{
    int rc;

    (void)state;
    rc = gn__eio_serve(srv, req, res);
    if (rc == 0) {
        gn_response_status(res, 404, NULL);
        return gn_response_write(res, "not here", 8);
    }
    return rc < 0 ? rc : 0;
}

static struct gn_eio_settings set;

static void setup(void)
{
    set = (struct gn_eio_settings){
        .path = "/socket.io/",
        .ping_interval_ms = 25000,
        .ping_timeout_ms = 20000,
        .max_payload = 1000,
        .max_queue = 100000,
        .allow_polling = 1,
        .allow_websocket = 1,
    };
    gn__eio_setup(&set);
    srv = gn__eio_server_new(&handler, NULL);
    ck_assert_ptr_nonnull(srv);
    http_app = app;
    last = NULL;
    opened = closed_n = echo = msgs = msg_binary = refuse_open = 0;
    msg_len = 0;
    reason[0] = msg[0] = '\0';
}

/* After run(), while the loop is alive: every session closes. */
static void finish(void)
{
    gn__eio_server_free(srv);
    srv = NULL;
}

/* ---- the client (eio_client.h) ----------------------------------------- */

/* STATUS and the last body read are the error WANT_STATUS, CODE. */
static void check_error(int status, int want_status, int code)
{
    const char *body = eio_last_body;
    char want[128];

    ck_assert_int_eq(status, want_status);
    snprintf(want, sizeof(want), "\"code\":%d", code);
    ck_assert_msg(strstr(body, want) != NULL, "%s", body);
}

/* ---- sids ------------------------------------------------------------- */

START_TEST(sid_names_its_owner)
{
    ck_assert_int_eq(gn__eio_sid_owner(NULL), -1);
    ck_assert_int_eq(gn__eio_sid_owner(""), -1);
    ck_assert_int_eq(gn__eio_sid_owner("AAAAAQAAAAAAAAAAAAAA"), 1);
    ck_assert_int_eq(gn__eio_sid_owner("AAAAAQAAAAAAAAAAAAA"), -1); /* 19 */
    ck_assert_int_eq(gn__eio_sid_owner("AAAAAQAAAAAAAAAAAAA+"), -1);
    ck_assert_int_eq(gn__eio_sid_owner("AAAAAQAAAAAAAAAAAA=="), -1);
    ck_assert_int_eq(gn__eio_sid_owner("AAAAAAAAAAAAAAAAAAAA"), -1); /* 0 */
    ck_assert_int_eq(gn__eio_sid_owner("f____wAAAAAAAAAAAAAA"), 0x7fffffff);
    ck_assert_int_eq(gn__eio_sid_owner("gAAAAAAAAAAAAAAAAAAA"), -1);
}
END_TEST

/* ---- polling ---------------------------------------------------------- */

static void handshake_task(struct gn_coro *co, void *arg)
{
    int fd = http_connect();
    const char *body;
    char want[256], sid[21];

    (void)co;
    (void)arg;
    ck_assert_int_eq(eio_get(fd, "EIO=4&transport=polling&t=x", &body), 200);
    ck_assert_ptr_nonnull(strcasestr(eio_out, "\r\nContent-Type: text/plain; "
                                          "charset=UTF-8\r\n"));
    eio_sid_of(body, sid);
    snprintf(want, sizeof(want),
             "0{\"sid\":\"%s\",\"upgrades\":[\"websocket\"],"
             "\"pingInterval\":25000,\"pingTimeout\":20000,"
             "\"maxPayload\":1000}",
             sid);
    ck_assert_str_eq(body, want);
    ck_assert_int_eq(gn__eio_sid_owner(sid), getpid());
    ck_assert_int_eq(opened, 1);
    ck_assert_ptr_nonnull(last);
    ck_assert_str_eq(gn__eio_sid(last), sid);
    /* Not the engine's path: left to the app. */
    ck_assert_int_eq(eio_request(fd, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n",
                             &body), 404);
    close(fd);
}

START_TEST(polling_handshake)
{
    go(handshake_task, NULL);
    run();
    finish();
}
END_TEST

static void refused_task(struct gn_coro *co, void *arg)
{
    int fd = http_connect();
    const char *body;
    char q[128], sid[21];

    (void)co;
    (void)arg;
    refuse_open = 1;
    ck_assert_int_eq(eio_get(fd, "EIO=4&transport=polling", &body), 200);
    eio_sid_of(body, sid);
    ck_assert_ptr_nonnull(strstr(body, "}\x1e" "1"));
    ck_assert_int_eq(closed_n, 1);
    snprintf(q, sizeof(q), "EIO=4&transport=polling&sid=%s", sid);
    check_error(eio_get(fd, q, &body), 400, 1);
    close(fd);
}

START_TEST(session_closed_on_open_says_so)
{
    go(refused_task, NULL);
    run();
    finish();
}
END_TEST

static void round_trip_task(struct gn_coro *co, void *arg)
{
    int fd = http_connect();
    const char *body;
    char sid[21], q[128];

    (void)co;
    (void)arg;
    echo = 1;
    eio_handshake(fd, sid);
    snprintf(q, sizeof(q), "EIO=4&transport=polling&sid=%s", sid);
    ck_assert_int_eq(eio_post(fd, q, "4hello\x1e" "4world", 13, &body), 200);
    ck_assert_str_eq(body, "ok");
    ck_assert_int_eq(msgs, 2);
    ck_assert_str_eq(msg, "helloworld");
    ck_assert_int_eq(eio_get(fd, q, &body), 200);
    ck_assert_str_eq(body, "4hello\x1e" "4world");
    /* Binary: 'b' and base64 both ways. */
    msg_len = 0;
    ck_assert_int_eq(eio_post(fd, q, "bAQID", 5, &body), 200);
    ck_assert_int_eq(msg_binary, 1);
    ck_assert_uint_eq(msg_len, 3);
    ck_assert_mem_eq(msg, "\x01\x02\x03", 3);
    ck_assert_int_eq(eio_get(fd, q, &body), 200);
    ck_assert_str_eq(body, "bAQID");
    /* The client closes: the handler hears it. */
    ck_assert_int_eq(eio_post(fd, q, "1", 1, &body), 200);
    ck_assert_int_eq(closed_n, 1);
    ck_assert_str_eq(reason, "transport close");
    check_error(eio_get(fd, q, &body), 400, 1);
    close(fd);
}

START_TEST(polling_round_trip)
{
    go(round_trip_task, NULL);
    run();
    finish();
}
END_TEST

static char wait_sid[21];

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

static void wait_task(struct gn_coro *co, void *arg)
{
    int fd = http_connect();
    const char *body;
    char q[128];
    int64_t t0;

    (void)co;
    (void)arg;
    eio_handshake(fd, wait_sid);
    snprintf(q, sizeof(q), "EIO=4&transport=polling&sid=%s", wait_sid);
    later(200, send_later, NULL);
    t0 = gn_test_now_ms();
    ck_assert_int_eq(eio_get(fd, q, &body), 200);
    ck_assert_int_ge(gn_test_now_ms() - t0, 150); /* it waited */
    ck_assert_str_eq(body, "4late");
    close(fd);
}

START_TEST(polling_get_waits_for_packets)
{
    go(wait_task, NULL);
    run();
    finish();
}
END_TEST

static void send_kept(int fd, short what, void *arg)
{
    const struct gn_eio_packet p = {GN_EIO_MESSAGE, false,
                                    (const uint8_t *)"kept", 4};

    (void)fd;
    (void)what;
    (void)arg;
    ck_assert_ptr_nonnull(last);
    ck_assert_int_eq(gn__eio_send(last, &p, 1), 0);
}

static void gone_task(struct gn_coro *co, void *arg)
{
    int fd = http_connect(), fd2 = http_connect();
    const char *body;
    char q[128], req[256], sid[21];
    int n;

    (void)co;
    (void)arg;
    eio_handshake(fd, sid);
    snprintf(q, sizeof(q), "EIO=4&transport=polling&sid=%s", sid);
    n = snprintf(req, sizeof(req),
                 "GET /socket.io/?%s HTTP/1.1\r\nHost: x\r\n\r\n", q);
    ck_assert_int_eq(gn_write(fd2, req, (size_t)n, 10.0), n);
    gn_sleep(0.05);
    close(fd2); /* the client leaves its GET */
    later(100, send_kept, NULL);
    gn_sleep(0.2);
    /* The packet woke the abandoned GET, which left it to this one. */
    ck_assert_int_eq(eio_get(fd, q, &body), 200);
    ck_assert_str_eq(body, "4kept");
    close(fd);
}

START_TEST(abandoned_get_loses_nothing)
{
    go(gone_task, NULL);
    run();
    finish();
}
END_TEST

/* ---- bad input -------------------------------------------------------- */

static void bad_query_task(struct gn_coro *co, void *arg)
{
    int fd = http_connect();
    const char *body;
    char q[128], sid[21];

    (void)co;
    (void)arg;
    check_error(eio_get(fd, "EIO=4&transport=carrier-pigeon", &body), 400, 0);
    check_error(eio_get(fd, "EIO=4", &body), 400, 0);
    check_error(eio_get(fd, "EIO=3&transport=polling", &body), 400, 5);
    check_error(eio_get(fd, "transport=polling", &body), 400, 5);
    check_error(eio_get(fd, "EIO=4&transport=polling&sid=nope", &body), 400,
                1);
    /* Well-formed, but of this process and unknown. */
    eio_handshake(fd, sid);
    sid[19] = sid[19] == 'A' ? 'B' : 'A';
    snprintf(q, sizeof(q), "EIO=4&transport=polling&sid=%s", sid);
    check_error(eio_get(fd, q, &body), 400, 1);
    /* Another process's, with no forwarder. */
    check_error(eio_get(fd, "EIO=4&transport=polling&sid=AAAAAQAAAAAAAAAAAAAA",
                    &body),
                400, 1);
    check_error(eio_post(fd, "EIO=4&transport=polling", "40", 2, &body), 400,
                2);
    check_error(eio_get(fd, "EIO=4&transport=websocket", &body), 400, 3);
    check_error(eio_get(fd, "EIO=4&transport=polling&sid=%zz", &body), 400,
                3);
    ck_assert_int_eq(opened, 1);
    close(fd);
}

START_TEST(bad_queries_get_their_codes)
{
    go(bad_query_task, NULL);
    run();
    finish();
}
END_TEST

/* POST PAYLOAD[0, LEN) to a new session: its status, and the session's
 * state after in *GONE. */
static int post_to_new(int fd, const char *payload, size_t len, int *gone)
{
    const char *body;
    char q[128], sid[21];
    int status;

    eio_handshake(fd, sid);
    snprintf(q, sizeof(q), "EIO=4&transport=polling&sid=%s", sid);
    status = eio_post(fd, q, payload, len, &body);
    if (status == 400)
        check_error(status, 400, 3);
    if (status == 200) { /* open: a GET would wait for a ping */
        *gone = last == NULL || strcmp(gn__eio_sid(last), sid) != 0;
        return status;
    }
    *gone = eio_get(fd, q, &body) == 400;
    if (*gone)
        check_error(400, 400, 1);
    return status;
}

static void bad_payload_task(struct gn_coro *co, void *arg)
{
    static char big[1002];
    int fd = http_connect();
    int gone;

    (void)co;
    (void)arg;
    memset(big, '4', sizeof(big));
    /* Malformed packets close the session ("parse error"). */
    ck_assert_int_eq(post_to_new(fd, "9x", 2, &gone), 400);
    ck_assert(gone);
    ck_assert_str_eq(reason, "parse error");
    ck_assert_int_eq(post_to_new(fd, "", 0, &gone), 400);
    ck_assert(gone);
    ck_assert_int_eq(post_to_new(fd, "4a\x1e\x1e" "4b", 6, &gone), 400);
    ck_assert(gone);
    ck_assert_int_eq(post_to_new(fd, "b!!!!", 5, &gone), 400);
    ck_assert(gone);
    ck_assert_int_eq(post_to_new(fd, "4\xff", 2, &gone), 400);
    ck_assert(gone);
    /* Past maxPayload (1000 here): 413. */
    ck_assert_int_eq(post_to_new(fd, big, sizeof(big), &gone), 413);
    ck_assert(gone);
    /* Exactly maxPayload passes. */
    msgs = 0;
    msg_len = 0;
    ck_assert_int_eq(post_to_new(fd, big, 1000, &gone), 200);
    ck_assert(!gone);
    ck_assert_int_eq(msgs, 1);
    ck_assert_uint_eq(msg_len, 999);
    close(fd);
}

START_TEST(bad_payloads_close_the_session)
{
    go(bad_payload_task, NULL);
    run();
    finish();
}
END_TEST

/* ---- overlapping GETs ------------------------------------------------- */

static char overlap_sid[21];
static int overlap_first_done;

static void first_get(struct gn_coro *co, void *arg)
{
    int fd = http_connect();
    const char *body;
    char q[128];

    (void)co;
    (void)arg;
    eio_handshake(fd, overlap_sid);
    snprintf(q, sizeof(q), "EIO=4&transport=polling&sid=%s", overlap_sid);
    ck_assert_int_eq(eio_get(fd, q, &body), 200);
    ck_assert_str_eq(body, "1"); /* the session closed under it */
    overlap_first_done = 1;
    close(fd);
}

static void second_get(struct gn_coro *co, void *arg)
{
    int fd = http_connect();
    const char *body;
    char q[128];

    (void)co;
    (void)arg;
    gn_sleep(0.1);
    snprintf(q, sizeof(q), "EIO=4&transport=polling&sid=%s", overlap_sid);
    check_error(eio_get(fd, q, &body), 400, 3);
    check_error(eio_get(fd, q, &body), 400, 1);
    ck_assert_str_eq(reason, "transport error");
    close(fd);
}

START_TEST(overlapping_get_closes_the_session)
{
    go(first_get, NULL);
    go(second_get, NULL);
    run();
    ck_assert(overlap_first_done);
    finish();
}
END_TEST

static void queue_task(struct gn_coro *co, void *arg)
{
    const struct gn_eio_packet ten = {GN_EIO_MESSAGE, false,
                                      (const uint8_t *)"0123456789", 10};
    const struct gn_eio_packet rs = {GN_EIO_MESSAGE, false,
                                     (const uint8_t *)"a\x1e" "b", 3};
    struct gn_eio_session *s;
    int fd = http_connect();
    const char *body;
    char q[128], sid[21];

    (void)co;
    (void)arg;
    eio_handshake(fd, sid);
    s = last;
    ck_assert_ptr_nonnull(s);
    /* A text packet may not hold the separator. */
    ck_assert_int_eq(gn__eio_send(s, &rs, 1), -EINVAL);
    /* 11 bytes a packet, 40 allowed: three fit, the fourth closes. */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(gn__eio_send(s, &ten, 1), 0);
    ck_assert_int_eq(closed_n, 0);
    ck_assert_int_eq(gn__eio_send(s, &ten, 1), -ENOBUFS);
    ck_assert_int_eq(closed_n, 1);
    ck_assert_str_eq(reason, "forced close");
    snprintf(q, sizeof(q), "EIO=4&transport=polling&sid=%s", sid);
    check_error(eio_get(fd, q, &body), 400, 1);
    close(fd);
}

START_TEST(full_queue_closes_the_session)
{
    set.max_queue = 40;
    go(queue_task, NULL);
    run();
    finish();
}
END_TEST

static void overlap_post_task(struct gn_coro *co, void *arg)
{
    int fd = http_connect(), fd2 = http_connect();
    const char *body;
    char q[128], req[256], sid[21];
    int n;

    (void)co;
    (void)arg;
    eio_handshake(fd, sid);
    snprintf(q, sizeof(q), "EIO=4&transport=polling&sid=%s", sid);
    /* A POST whose body is still coming ... */
    n = snprintf(req, sizeof(req),
                 "POST /socket.io/?%s HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: 10\r\n\r\n4ab",
                 q);
    ck_assert_int_eq(gn_write(fd2, req, (size_t)n, 10.0), n);
    gn_sleep(0.05);
    /* ... and a second one: refused, and the session is closed. */
    check_error(eio_post(fd, q, "4cd", 3, &body), 400, 3);
    ck_assert_int_eq(closed_n, 1);
    ck_assert_str_eq(reason, "transport error");
    check_error(eio_get(fd, q, &body), 400, 1);
    close(fd2);
    close(fd);
}

START_TEST(overlapping_post_closes_the_session)
{
    go(overlap_post_task, NULL);
    run();
    finish();
}
END_TEST

/* ---- heartbeat -------------------------------------------------------- */

static void pong_task(struct gn_coro *co, void *arg)
{
    int fd = http_connect();
    const char *body;
    char q[128], sid[21];

    (void)co;
    (void)arg;
    eio_handshake(fd, sid);
    snprintf(q, sizeof(q), "EIO=4&transport=polling&sid=%s", sid);
    /* Answering pings keeps it open well past the timeout. */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(eio_get(fd, q, &body), 200);
        ck_assert_str_eq(body, "2");
        ck_assert_int_eq(eio_post(fd, q, "3", 1, &body), 200);
    }
    ck_assert_int_eq(closed_n, 0);
    /* Not answering closes it. */
    ck_assert_int_eq(eio_get(fd, q, &body), 200);
    ck_assert_str_eq(body, "2");
    for (int i = 0; i < 500 && closed_n == 0; i++)
        gn_sleep(0.01);
    ck_assert_int_eq(closed_n, 1);
    ck_assert_str_eq(reason, "ping timeout");
    check_error(eio_get(fd, q, &body), 400, 1);
    close(fd);
}

START_TEST(missed_pong_closes_the_session)
{
    /* A timeout long enough for a loaded machine to answer in. */
    set.ping_interval_ms = 200;
    set.ping_timeout_ms = 1000;
    go(pong_task, NULL);
    run();
    finish();
}
END_TEST

/* ---- shutdown --------------------------------------------------------- */

static void stop_later(int fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    gn__eio_shutdown();
}

static void shutdown_task(struct gn_coro *co, void *arg)
{
    int fd = http_connect();
    const char *body;
    char q[128], sid[21];

    (void)co;
    (void)arg;
    eio_handshake(fd, sid);
    snprintf(q, sizeof(q), "EIO=4&transport=polling&sid=%s", sid);
    later(100, stop_later, NULL);
    /* No CLOSE ("1"): python-socketio's client would not reconnect after
     * one. The session is gone, as its next request would hear. */
    check_error(eio_get(fd, q, &body), 400, 1);
    ck_assert_str_eq(reason, "server shutting down");
    check_error(eio_get(fd, q, &body), 400, 1);
    close(fd);
}

START_TEST(shutdown_drops_sessions_untold)
{
    go(shutdown_task, NULL);
    run();
    finish();
}
END_TEST

/* ---- WebSocket -------------------------------------------------------- */

static void ws_task(struct gn_coro *co, void *arg)
{
    struct eio_ws w;
    char data[256], want[256];
    size_t n;

    (void)co;
    (void)arg;
    echo = 1;
    eio_ws_connect(&w, "EIO=4&transport=websocket", NULL, 0);
    ck_assert_int_eq(eio_ws_next(&w, data, sizeof(data), &n), 1);
    ck_assert_ptr_nonnull(last);
    snprintf(want, sizeof(want),
             "0{\"sid\":\"%s\",\"upgrades\":[],\"pingInterval\":25000,"
             "\"pingTimeout\":20000,\"maxPayload\":1000}",
             gn__eio_sid(last));
    ck_assert_str_eq(data, want);
    ck_assert_int_eq(gn__eio_sid_owner(gn__eio_sid(last)), getpid());
    /* A text message and a binary one, echoed as they came. */
    eio_ws_send(&w, 1, "4hello", 6);
    eio_ws_expect_text(&w, "4hello");
    ck_assert_str_eq(msg, "hello");
    eio_ws_send(&w, 2, "\x01\x02\x03", 3);
    ck_assert_int_eq(eio_ws_next(&w, data, sizeof(data), &n), 2);
    ck_assert_uint_eq(n, 3);
    ck_assert_mem_eq(data, "\x01\x02\x03", 3);
    ck_assert_int_eq(msg_binary, 1);
    /* maxPayload (1000 here) holds for frames. */
    {
        static char big[1001];

        memset(big, '4', sizeof(big));
        echo = 0;
        msg_len = 0;
        eio_ws_send(&w, 1, big, 1000);
        eio_ws_send(&w, 1, big, 1001);
        ck_assert_int_eq(eio_ws_next(&w, data, sizeof(data), &n), 8); /* close */
        ck_assert_uint_ge(n, 2);
        ck_assert_int_eq((uint8_t)data[0] << 8 | (uint8_t)data[1], 1009);
        ck_assert_str_eq(reason, "transport error");
        ck_assert_uint_eq(msg_len, 999); /* the first passed */
        close(w.fd);
        echo = 1;
    }
    eio_ws_connect(&w, "EIO=4&transport=websocket", NULL, 0);
    ck_assert_int_eq(eio_ws_next(&w, data, sizeof(data), &n), 1);
    /* A malformed packet closes the session. */
    eio_ws_send(&w, 1, "9", 1);
    eio_ws_expect_text(&w, "1");
    ck_assert_int_eq(eio_ws_next(&w, data, sizeof(data), &n), 8); /* close */
    ck_assert_str_eq(reason, "parse error");
    close(w.fd);
}

START_TEST(websocket_from_the_start)
{
    go(ws_task, NULL);
    run();
    finish();
}
END_TEST

static void ws_pong_task(struct gn_coro *co, void *arg)
{
    struct eio_ws w;
    char data[256];
    size_t n;

    (void)co;
    (void)arg;
    eio_ws_connect(&w, "EIO=4&transport=websocket", NULL, 0);
    ck_assert_int_eq(eio_ws_next(&w, data, sizeof(data), &n), 1); /* OPEN */
    for (int i = 0; i < 3; i++) {
        eio_ws_expect_text(&w, "2");
        eio_ws_send(&w, 1, "3", 1);
    }
    eio_ws_expect_text(&w, "2"); /* unanswered */
    eio_ws_expect_text(&w, "1");
    ck_assert_int_eq(eio_ws_next(&w, data, sizeof(data), &n), 8);
    ck_assert_int_eq(closed_n, 1);
    ck_assert_str_eq(reason, "ping timeout");
    close(w.fd);
}

START_TEST(websocket_missed_pong_closes)
{
    /* A timeout long enough for a loaded machine to answer in. */
    set.ping_interval_ms = 200;
    set.ping_timeout_ms = 1000;
    go(ws_pong_task, NULL);
    run();
    finish();
}
END_TEST

static char up_sid[21];
static int up_stage;

/* The polling side of an upgrade: a GET parked when the probe comes. */
static void up_poll(struct gn_coro *co, void *arg)
{
    int fd = (int)(intptr_t)arg;
    const char *body;
    char q[128];

    (void)co;
    snprintf(q, sizeof(q), "EIO=4&transport=polling&sid=%s", up_sid);
    ck_assert_int_eq(eio_get(fd, q, &body), 200);
    ck_assert_str_eq(body, "6"); /* the probe ends it */
    up_stage = 1;
    close(fd);
}

static void start_poll(int fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    go(up_poll, arg);
}

static void up_ws(struct gn_coro *co, void *arg)
{
    const struct gn_eio_packet queued = {GN_EIO_MESSAGE, false,
                                         (const uint8_t *)"queued", 6};
    struct eio_ws w;
    char q[128];
    int fd = http_connect();

    (void)co;
    (void)arg;
    echo = 1;
    eio_handshake(fd, up_sid);
    later(0, start_poll, (void *)(intptr_t)fd);
    gn_sleep(0.05); /* the GET is parked */
    snprintf(q, sizeof(q), "EIO=4&transport=websocket&sid=%s", up_sid);
    eio_ws_connect(&w, q, NULL, 0);
    eio_ws_send(&w, 1, "2probe", 6);
    eio_ws_expect_text(&w, "3probe");
    for (int i = 0; i < 500 && !up_stage; i++)
        gn_sleep(0.01);
    ck_assert_int_eq(up_stage, 1);
    /* Sent while paused: held for the WebSocket, not lost. */
    ck_assert_int_eq(gn__eio_send(last, &queued, 1), 0);
    eio_ws_send(&w, 1, "5", 1);
    eio_ws_expect_text(&w, "4queued");
    eio_ws_send(&w, 1, "4after", 6);
    eio_ws_expect_text(&w, "4after");
    /* Polling is over for this session. */
    fd = http_connect();
    snprintf(q, sizeof(q), "EIO=4&transport=polling&sid=%s", up_sid);
    {
        const char *body;

        check_error(eio_get(fd, q, &body), 400, 3);
    }
    close(fd);
    /* The worker stops: the close frame (1001, going away), no CLOSE
     * packet before it, which would stop python-socketio's client from
     * reconnecting. */
    gn__eio_shutdown();
    {
        char data[64];
        size_t n;

        ck_assert_int_eq(eio_ws_next(&w, data, sizeof(data), &n), 8);
        ck_assert_uint_ge(n, 2);
        ck_assert_int_eq(((unsigned char)data[0] << 8) | (unsigned char)data[1],
                         1001);
    }
    ck_assert_str_eq(reason, "server shutting down");
    close(w.fd);
}

START_TEST(polling_upgrades_to_websocket)
{
    go(up_ws, NULL);
    run();
    finish();
}
END_TEST

static void bad_upgrade_task(struct gn_coro *co, void *arg)
{
    struct eio_ws w;
    char q[128], sid[21], data[64];
    const char *body;
    int fd = http_connect();
    size_t n;

    (void)co;
    (void)arg;
    eio_handshake(fd, sid);
    snprintf(q, sizeof(q), "EIO=4&transport=websocket&sid=%s", sid);
    eio_ws_connect(&w, q, NULL, 0);
    eio_ws_send(&w, 1, "4notaprobe", 10);
    ck_assert_int_eq(eio_ws_next(&w, data, sizeof(data), &n), 8);
    close(w.fd);
    /* The session stays on polling. */
    ck_assert_int_eq(closed_n, 0);
    snprintf(q, sizeof(q), "EIO=4&transport=polling&sid=%s", sid);
    ck_assert_int_eq(eio_post(fd, q, "1", 1, &body), 200);
    ck_assert_str_eq(reason, "transport close");
    close(fd);
}

START_TEST(failed_probe_keeps_polling)
{
    go(bad_upgrade_task, NULL);
    run();
    finish();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("socketio/eio");
    TCase *tc = test_case(s, "eio");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, sid_names_its_owner);
    tcase_add_test(tc, polling_handshake);
    tcase_add_test(tc, session_closed_on_open_says_so);
    tcase_add_test(tc, polling_round_trip);
    tcase_add_test(tc, polling_get_waits_for_packets);
    tcase_add_test(tc, abandoned_get_loses_nothing);
    tcase_add_test(tc, bad_queries_get_their_codes);
    tcase_add_test(tc, bad_payloads_close_the_session);
    tcase_add_test(tc, overlapping_get_closes_the_session);
    tcase_add_test(tc, overlapping_post_closes_the_session);
    tcase_add_test(tc, full_queue_closes_the_session);
    tcase_add_test(tc, missed_pong_closes_the_session);
    tcase_add_test(tc, shutdown_drops_sessions_untold);
    tcase_add_test(tc, websocket_from_the_start);
    tcase_add_test(tc, websocket_missed_pong_closes);
    tcase_add_test(tc, polling_upgrades_to_websocket);
    tcase_add_test(tc, failed_probe_keeps_polling);
    return s;
}

int main(void)
{
    return gn_test_run_suite(suite());
}
