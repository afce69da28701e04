/*
 * Unit tests of the Engine.IO handshake's pure parts
 * (socketio/handshake.c): the error codes, messages, statuses and bodies
 * of engine.io's server (lib/server.ts), the request check in its order
 * (the protocol test suite's refused handshakes among the cases), query
 * parameters, and the open packet's JSON.
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "run_suite.h"
#include "socketio/handshake.h"

START_TEST(error_codes_and_messages)
{
    static const char *const want[] = {
        "Transport unknown",
        "Session ID unknown",
        "Bad handshake method",
        "Bad request",
        "Forbidden",
        "Unsupported protocol version",
    };

    for (int c = 0; c <= 5; c++) {
        ck_assert_str_eq(gn__eio_error_message((enum gn_eio_error)c), want[c]);
        ck_assert_int_eq(gn__eio_error_status((enum gn_eio_error)c),
                         c == GN_EIO_FORBIDDEN ? 403 : 400);
    }
    ck_assert_ptr_null(gn__eio_error_message(GN_EIO_OK));
    ck_assert_ptr_null(gn__eio_error_message((enum gn_eio_error)6));
}
END_TEST

START_TEST(error_bodies)
{
    struct gn_buf b;

    gn__buf_init(&b, NULL, 0);
    ck_assert_int_eq(gn__eio_error_body(&b, GN_EIO_UNKNOWN_SID, NULL), 0);
    ck_assert_uint_eq(
        b.len, strlen("{\"code\":1,\"message\":\"Session ID unknown\"}"));
    ck_assert_mem_eq(b.data, "{\"code\":1,\"message\":\"Session ID unknown\"}",
                     b.len);
    b.len = 0;
    /* FORBIDDEN with the app's reason, escaped as JSON. */
    ck_assert_int_eq(gn__eio_error_body(&b, GN_EIO_FORBIDDEN, "no \"x\"\n"), 0);
    ck_assert_uint_eq(b.len,
                      strlen("{\"code\":4,\"message\":\"no \\\"x\\\"\\n\"}"));
    ck_assert_mem_eq(b.data, "{\"code\":4,\"message\":\"no \\\"x\\\"\\n\"}",
                     b.len);
    b.len = 0;
    ck_assert_int_eq(gn__eio_error_body(&b, (enum gn_eio_error)9, NULL),
                     -EINVAL);
    ck_assert_int_eq(gn__eio_error_body(&b, GN_EIO_OK, NULL), -EINVAL);
    ck_assert_uint_eq(b.len, 0);
    gn__buf_free(&b);
}
END_TEST

static enum gn_eio_error check(bool get, bool ws, const char *eio,
                               const char *transport, const char *sid,
                               bool known, const char *session)
{
    struct gn_eio_request r = {get, ws, eio, transport, sid, known, session};

    return gn__eio_check(&r);
}

START_TEST(request_check)
{
    /* Handshakes. */
    ck_assert_int_eq(check(true, false, "4", "polling", NULL, false, NULL),
                     GN_EIO_OK);
    ck_assert_int_eq(check(true, true, "4", "websocket", NULL, false, NULL),
                     GN_EIO_OK);
    /* The protocol test suite's refused handshakes: no or a bad EIO, no or
     * a bad transport, POST or PUT. */
    ck_assert_int_eq(check(true, false, NULL, "polling", NULL, false, NULL),
                     GN_EIO_UNSUPPORTED_PROTOCOL_VERSION);
    ck_assert_int_eq(check(true, false, "abc", "polling", NULL, false, NULL),
                     GN_EIO_UNSUPPORTED_PROTOCOL_VERSION);
    ck_assert_int_eq(check(true, false, "3", "polling", NULL, false, NULL),
                     GN_EIO_UNSUPPORTED_PROTOCOL_VERSION);
    ck_assert_int_eq(check(true, false, "4", NULL, NULL, false, NULL),
                     GN_EIO_UNKNOWN_TRANSPORT);
    ck_assert_int_eq(check(true, false, "4", "abc", NULL, false, NULL),
                     GN_EIO_UNKNOWN_TRANSPORT);
    ck_assert_int_eq(check(true, false, "4", "webtransport", NULL, false, NULL),
                     GN_EIO_UNKNOWN_TRANSPORT);
    ck_assert_int_eq(check(false, false, "4", "polling", NULL, false, NULL),
                     GN_EIO_BAD_HANDSHAKE_METHOD);
    /* WebSocket transport asked for over plain HTTP. */
    ck_assert_int_eq(check(true, false, "4", "websocket", NULL, false, NULL),
                     GN_EIO_BAD_REQUEST);
    /* The transport is checked first, the method before the version. */
    ck_assert_int_eq(check(false, false, "3", "abc", NULL, false, NULL),
                     GN_EIO_UNKNOWN_TRANSPORT);
    ck_assert_int_eq(check(false, false, "3", "polling", NULL, false, NULL),
                     GN_EIO_BAD_HANDSHAKE_METHOD);
    /* With a sid: unknown (or closed), a transport switch without an
     * upgrade, an upgrade, and POST to a polling session. */
    ck_assert_int_eq(check(true, false, "4", "polling", "s1", false, NULL),
                     GN_EIO_UNKNOWN_SID);
    ck_assert_int_eq(check(false, false, "4", "polling", "s1", false, NULL),
                     GN_EIO_UNKNOWN_SID);
    ck_assert_int_eq(
        check(true, false, "4", "websocket", "s1", true, "polling"),
        GN_EIO_BAD_REQUEST);
    ck_assert_int_eq(check(true, true, "4", "websocket", "s1", true, "polling"),
                     GN_EIO_OK);
    ck_assert_int_eq(check(false, false, "4", "polling", "s1", true, "polling"),
                     GN_EIO_OK);
    ck_assert_int_eq(
        check(true, false, "4", "polling", "s1", true, "websocket"),
        GN_EIO_BAD_REQUEST);
}
END_TEST

START_TEST(query_parameters)
{
    char out[16];
    const char *q = "EIO=4&transport=polling&t=N8hyd6w&sid=a%2Fb+c&e=&flag";

    ck_assert_int_eq(gn__eio_query_get(q, "EIO", out, sizeof(out)), 1);
    ck_assert_str_eq(out, "4");
    ck_assert_int_eq(gn__eio_query_get(q, "transport", out, sizeof(out)), 7);
    ck_assert_str_eq(out, "polling");
    ck_assert_int_eq(gn__eio_query_get(q, "sid", out, sizeof(out)), 5);
    ck_assert_str_eq(out, "a/b c");
    ck_assert_int_eq(gn__eio_query_get(q, "e", out, sizeof(out)), 0);
    ck_assert_int_eq(gn__eio_query_get(q, "flag", out, sizeof(out)), 0);
    ck_assert_int_eq(gn__eio_query_get(q, "EI", out, sizeof(out)), -ENOENT);
    ck_assert_int_eq(gn__eio_query_get(q, "eio", out, sizeof(out)), -ENOENT);
    ck_assert_int_eq(gn__eio_query_get("", "EIO", out, sizeof(out)), -ENOENT);
    ck_assert_int_eq(gn__eio_query_get("sid=%zz", "sid", out, sizeof(out)),
                     -EINVAL);
    ck_assert_int_eq(gn__eio_query_get("sid=%2", "sid", out, sizeof(out)),
                     -EINVAL);
    ck_assert_int_eq(gn__eio_query_get("sid=a%00", "sid", out, sizeof(out)),
                     -EINVAL);
    ck_assert_int_eq(
        gn__eio_query_get("sid=0123456789abcdef", "sid", out, sizeof(out)),
        -ENAMETOOLONG);
    ck_assert_int_eq(
        gn__eio_query_get("sid=0123456789abcde", "sid", out, sizeof(out)), 15);
    /* The first of two. */
    ck_assert_int_eq(gn__eio_query_get("a=1&a=2", "a", out, sizeof(out)), 1);
    ck_assert_str_eq(out, "1");
}
END_TEST

/* The protocol's example handshake, and the WebSocket-only one (no
 * upgrades), read back as JSON with the keys the test suite wants. */
START_TEST(open_packet_json)
{
    struct gn_eio_open o = {"lv_VI97HAXpY6yYWAAAC", true, 25000, 20000,
                            1000000};
    const char *want = "{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":["
                       "\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":"
                       "20000,\"maxPayload\":1000000}";
    struct gn_buf b;
    json_t *v;

    gn__buf_init(&b, NULL, 0);
    ck_assert_int_eq(gn__eio_open_json(&b, &o), 0);
    ck_assert_uint_eq(b.len, strlen(want));
    ck_assert_mem_eq(b.data, want, b.len);
    b.len = 0;
    o.upgrade_websocket = false;
    o.sid = "q\"\\";
    ck_assert_int_eq(gn__eio_open_json(&b, &o), 0);
    v = json_loadb(b.data, b.len, 0, NULL);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(json_object_size(v), 5);
    ck_assert_str_eq(json_string_value(json_object_get(v, "sid")), "q\"\\");
    ck_assert_uint_eq(json_array_size(json_object_get(v, "upgrades")), 0);
    ck_assert(json_is_array(json_object_get(v, "upgrades")));
    ck_assert_int_eq(json_integer_value(json_object_get(v, "pingInterval")),
                     25000);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "pingTimeout")),
                     20000);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "maxPayload")),
                     1000000);
    json_decref(v);
    o.sid = NULL;
    ck_assert_int_eq(gn__eio_open_json(&b, &o), -EINVAL);
    gn__buf_free(&b);
}
END_TEST

static Suite *handshake_suite(void)
{
    Suite *s = suite_create("socketio/handshake");
    TCase *e = tcase_create("errors");
    TCase *r = tcase_create("requests");

    tcase_add_test(e, error_codes_and_messages);
    tcase_add_test(e, error_bodies);
    tcase_add_test(r, request_check);
    tcase_add_test(r, query_parameters);
    tcase_add_test(r, open_packet_json);
    suite_add_tcase(s, e);
    suite_add_tcase(s, r);
    return s;
}

int main(void)
{
    return gn_test_run_suite(handshake_suite());
}
