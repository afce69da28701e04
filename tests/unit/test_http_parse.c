/*
 * Unit tests of HTTP/1.1 request framing (http/parse.c and the head
 * finishing in http/request.c), fed raw bytes without any socket: whole,
 * byte by byte, and pipelined.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "http/parse.h"
#include "http/request.h"
#include "run_suite.h"

/* Gunicorn's defaults; a test may change them for itself (Check forks). */
static struct gn_http_limits limits = GN_HTTP_LIMITS_DEFAULT;

/* A request parsed from a byte string, as conn.c drives the parser. */
struct parsed {
    struct gn_http_parser p;
    struct gn_request req;
    char buf[65536];
    size_t len, pos;
    int status; /* 0, or the error status */
    char body[8192];
    size_t body_len;
};

/* Parse the head from P->buf[pos..len) feeding STEP bytes at a time
 * (0: all at once). Returns 0 on a complete head, else the status. */
static int parse_head(struct parsed *x, size_t step)
{
    size_t end = x->pos, used;
    enum gn_http_event ev;
    const char *why;

    gn__request_init(&x->req, NULL, &x->p);
    gn__http_parser_begin(&x->p, &x->req);
    while (x->pos < x->len) {
        end = step ? (end + step < x->len ? end + step : x->len) : x->len;
        while (x->pos < end) {
            ev = gn__http_execute(&x->p, x->buf, x->pos, end, &used);
            x->pos += used;
            if (ev == GN_HTTP_ERROR)
                return x->status = x->p.status;
            if (ev == GN_HTTP_HEAD) {
                x->req.head_end = x->pos;
                return x->status =
                           gn__request_finish_head(&x->req, x->buf, &why);
            }
        }
    }
    return x->status = -1; /* incomplete */
}

/* Parse the body to its end, at most STEP bytes of input per call. Returns
 * 0 when the message completed, the status on error, -1 if incomplete. */
static int parse_body(struct parsed *x, size_t step)
{
    size_t used, end;
    enum gn_http_event ev;

    for (;;) {
        x->p.out = x->body + x->body_len;
        x->p.room = sizeof(x->body) - x->body_len;
        x->p.got = 0;
        end = x->len - x->pos > step ? x->pos + step : x->len;
        ev = gn__http_execute(&x->p, x->buf, x->pos, end, &used);
        x->pos += used;
        x->body_len += x->p.got;
        if (ev == GN_HTTP_DONE)
            return 0;
        if (ev == GN_HTTP_ERROR)
            return x->p.status;
        if (x->pos == x->len)
            return -1;
    }
}

static struct parsed *start(const char *raw)
{
    struct parsed *x = calloc(1, sizeof(*x));

    ck_assert_ptr_nonnull(x);
    gn__http_parser_init(&x->p, &limits);
    x->len = strlen(raw);
    ck_assert_uint_lt(x->len, sizeof(x->buf));
    memcpy(x->buf, raw, x->len);
    return x;
}

static void finish(struct parsed *x)
{
    gn__request_release(&x->req);
    free(x);
}

/* The status a raw request is refused with (0 if it is accepted). */
static int status_of(const char *raw)
{
    struct parsed *x = start(raw);
    int st = parse_head(x, 0);

    if (st == 0)
        st = parse_body(x, 1 << 20);
    finish(x);
    return st;
}

/* ---- well-formed requests ---------------------------------------------- */

START_TEST(parse_simple_get)
{
    struct parsed *x = start("GET /a%20b/c?x=1&y=%20 HTTP/1.1\r\n"
                             "Host: example.com\r\n"
                             "X-Spaces:   padded value  \r\n"
                             "Empty:\r\n\r\n");

    ck_assert_int_eq(parse_head(x, 0), 0);
    ck_assert_str_eq(gn_request_method(&x->req), "GET");
    ck_assert_str_eq(gn_request_target(&x->req), "/a%20b/c?x=1&y=%20");
    ck_assert_str_eq(gn_request_path(&x->req), "/a b/c");
    ck_assert_str_eq(gn_request_query(&x->req), "x=1&y=%20");
    ck_assert_int_eq(gn_request_version(&x->req), 11);
    ck_assert_uint_eq(gn_request_header_count(&x->req), 3);
    ck_assert_str_eq(gn_request_header(&x->req, "host"), "example.com");
    ck_assert_str_eq(gn_request_header(&x->req, "X-SPACES"), "padded value");
    ck_assert_str_eq(gn_request_header(&x->req, "Empty"), "");
    ck_assert_ptr_null(gn_request_header(&x->req, "Missing"));
    ck_assert_int_eq(gn_request_content_length(&x->req), -1);
    ck_assert_int_eq(x->req.keep_alive, 1);
    ck_assert_int_eq(parse_body(x, 100), 0);
    ck_assert_uint_eq(x->body_len, 0);
    finish(x);
}
END_TEST

START_TEST(parse_byte_by_byte)
{
    const char *raw = "POST /upload HTTP/1.1\r\nHost: h\r\n"
                      "X-Long-Header-Name: some-long-value-here\r\n"
                      "Content-Length: 11\r\n\r\nhello world";
    struct parsed *x = start(raw);

    ck_assert_int_eq(parse_head(x, 1), 0);
    ck_assert_str_eq(gn_request_header(&x->req, "X-Long-Header-Name"),
                     "some-long-value-here");
    ck_assert_int_eq(gn_request_content_length(&x->req), 11);
    ck_assert_int_eq(parse_body(x, 1), 0);
    ck_assert_uint_eq(x->body_len, 11);
    ck_assert_int_eq(memcmp(x->body, "hello world", 11), 0);
    finish(x);
}
END_TEST

START_TEST(parse_repeated_headers_in_order)
{
    struct parsed *x = start("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n"
                             "A: 3\r\n\r\n");
    const char *name, *value;

    ck_assert_int_eq(parse_head(x, 0), 0);
    ck_assert_uint_eq(gn_request_header_count(&x->req), 4);
    ck_assert_int_eq(gn_request_header_at(&x->req, 3, &name, &value), 0);
    ck_assert_str_eq(name, "A");
    ck_assert_str_eq(value, "3");
    ck_assert_str_eq(gn_request_header(&x->req, "a"), "1");
    ck_assert_int_lt(gn_request_header_at(&x->req, 4, &name, &value), 0);
    finish(x);
}
END_TEST

START_TEST(parse_pipelined_in_order)
{
    struct parsed *x = start("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
                             "POST /2 HTTP/1.1\r\nHost: h\r\n"
                             "Content-Length: 3\r\n\r\nabc"
                             "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n");

    ck_assert_int_eq(parse_head(x, 0), 0);
    ck_assert_str_eq(gn_request_target(&x->req), "/1");
    ck_assert_int_eq(parse_body(x, 1 << 20), 0);
    gn__request_release(&x->req);
    ck_assert_int_eq(parse_head(x, 0), 0);
    ck_assert_str_eq(gn_request_target(&x->req), "/2");
    ck_assert_int_eq(parse_body(x, 1 << 20), 0);
    ck_assert_uint_eq(x->body_len, 3);
    gn__request_release(&x->req);
    x->body_len = 0;
    ck_assert_int_eq(parse_head(x, 0), 0);
    ck_assert_str_eq(gn_request_target(&x->req), "/3");
    ck_assert_int_eq(parse_body(x, 1 << 20), 0);
    ck_assert_uint_eq(x->pos, x->len);
    finish(x);
}
END_TEST

START_TEST(parse_head_stops_before_body)
{
    struct parsed *x = start("POST / HTTP/1.1\r\nHost: h\r\n"
                             "Content-Length: 4\r\n\r\nbody");

    ck_assert_int_eq(parse_head(x, 0), 0);
    ck_assert_uint_eq(x->req.head_end, x->len - 4);
    ck_assert_uint_eq(x->pos, x->len - 4);
    finish(x);
}
END_TEST

START_TEST(parse_chunked_body)
{
    struct parsed *x = start("POST / HTTP/1.1\r\nHost: h\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n"
                             "5;ext=1\r\nhello\r\n"
                             "6\r\n world\r\n"
                             "0\r\nTrailer-X: t\r\n\r\n");

    ck_assert_int_eq(parse_head(x, 0), 0);
    ck_assert_int_eq(gn_request_content_length(&x->req), -1);
    ck_assert_int_eq(x->req.chunked, 1);
    ck_assert_int_eq(parse_body(x, 3), 0);
    ck_assert_uint_eq(x->body_len, 11);
    ck_assert_int_eq(memcmp(x->body, "hello world", 11), 0);
    /* Trailers are read, never merged into the headers. */
    ck_assert_ptr_null(gn_request_header(&x->req, "Trailer-X"));
    ck_assert_uint_eq(gn_request_header_count(&x->req), 2);
    finish(x);
}
END_TEST

/* Chunk extensions (RFC 9112 7.1.1), several per line, BWS, quoted
 * strings with quoted-pairs, in pieces of every size: the body is whole
 * and a request pipelined behind it starts where it should. */
START_TEST(parse_chunk_extensions)
{
    static const char raw[] =
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;a=1;b=\"x;\\\"y\"\r\nhello\r\n"
        "006 ; c = 2 ;\td\t;e=\"\"\r\n world\r\n"
        "0;f;g=h\r\nT: v\r\n\r\n"
        "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";

    for (size_t step = 1; step <= sizeof(raw); step++) {
        struct parsed *x = start(raw);

        ck_assert_int_eq(parse_head(x, 0), 0);
        ck_assert_int_eq(parse_body(x, step), 0);
        ck_assert_uint_eq(x->body_len, 11);
        ck_assert_int_eq(memcmp(x->body, "hello world", 11), 0);
        ck_assert_str_eq(gn_request_trailer(&x->req, "T"), "v");
        ck_assert_int_eq(memcmp(x->buf + x->pos, "GET /next", 9), 0);
        finish(x);
    }
}
END_TEST

/* Trailer fields in pieces of every size: names and values whole, in
 * order, trailing blanks trimmed, an empty value kept. */
START_TEST(parse_trailers)
{
    static const char raw[] = "POST / HTTP/1.1\r\nHost: h\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n"
                              "5\r\nhello\r\n0\r\n"
                              "Checksum: abc  \r\nX-Empty:\r\n"
                              "X-Note:  two words\r\n\r\n";
    const char *name, *value;

    for (size_t step = 1; step <= sizeof(raw); step++) {
        struct parsed *x = start(raw);

        ck_assert_int_eq(parse_head(x, 0), 0);
        ck_assert_uint_eq(gn_request_trailer_count(&x->req), 0);
        ck_assert_int_eq(parse_body(x, step), 0);
        ck_assert_uint_eq(gn_request_trailer_count(&x->req), 3);
        ck_assert_int_eq(gn_request_trailer_at(&x->req, 0, &name, &value), 0);
        ck_assert_str_eq(name, "Checksum");
        ck_assert_str_eq(value, "abc");
        ck_assert_int_eq(gn_request_trailer_at(&x->req, 1, &name, &value), 0);
        ck_assert_str_eq(name, "X-Empty");
        ck_assert_str_eq(value, "");
        ck_assert_str_eq(gn_request_trailer(&x->req, "x-note"), "two words");
        ck_assert_int_eq(gn_request_trailer_at(&x->req, 3, NULL, NULL),
                         -ERANGE);
        ck_assert_ptr_null(gn_request_header(&x->req, "Checksum"));
        finish(x);
    }
}
END_TEST

START_TEST(parse_body_respects_room)
{
    struct parsed *x = start("POST / HTTP/1.1\r\nHost: h\r\n"
                             "Content-Length: 10\r\n\r\n0123456789");
    size_t used;

    ck_assert_int_eq(parse_head(x, 0), 0);
    x->p.out = x->body;
    x->p.room = 4;
    x->p.got = 0;
    ck_assert_int_eq(gn__http_execute(&x->p, x->buf, x->pos, x->pos + 4, &used),
                     GN_HTTP_MORE);
    ck_assert_uint_eq(x->p.got, 4);
    ck_assert_uint_eq(used, 4);
    finish(x);
}
END_TEST

START_TEST(parse_http10_keep_alive)
{
    struct parsed *x = start("GET / HTTP/1.0\r\n\r\n");

    ck_assert_int_eq(parse_head(x, 0), 0);
    ck_assert_int_eq(gn_request_version(&x->req), 10);
    ck_assert_int_eq(x->req.keep_alive, 0);
    finish(x);
    x = start("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    ck_assert_int_eq(parse_head(x, 0), 0);
    ck_assert_int_eq(x->req.keep_alive, 1);
    finish(x);
    x = start("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    ck_assert_int_eq(parse_head(x, 0), 0);
    ck_assert_int_eq(x->req.keep_alive, 0);
    finish(x);
}
END_TEST

START_TEST(parse_absolute_form_and_asterisk)
{
    struct parsed *x = start("GET http://example.com/p%41th?q=1 HTTP/1.1\r\n"
                             "Host: example.com\r\n\r\n");

    ck_assert_int_eq(parse_head(x, 0), 0);
    ck_assert_str_eq(gn_request_path(&x->req), "/pAth");
    ck_assert_str_eq(gn_request_query(&x->req), "q=1");
    finish(x);
    x = start("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    ck_assert_int_eq(parse_head(x, 0), 0);
    ck_assert_str_eq(gn_request_path(&x->req), "*");
    finish(x);
}
END_TEST

START_TEST(parse_expect_continue)
{
    struct parsed *x = start("POST / HTTP/1.1\r\nHost: h\r\n"
                             "Expect: 100-Continue\r\n"
                             "Content-Length: 1\r\n\r\n");

    ck_assert_int_eq(parse_head(x, 0), 0);
    ck_assert_int_eq(x->req.expect_continue, 1);
    finish(x);
}
END_TEST

START_TEST(parse_percent_decode)
{
    char out[32];

    ck_assert_int_eq(gn__percent_decode(out, "/a%2Fb%zz%4", 11), 9);
    ck_assert_str_eq(out, "/a/b%zz%4");
    ck_assert_int_eq(gn__percent_decode(out, "/x%00", 5), -1);
}
END_TEST

/* ---- malformed requests: status and reason ----------------------------- */

START_TEST(reject_cl_and_te)
{
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nHost: h\r\n"
                               "Content-Length: 3\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"
                               "0\r\n\r\n"),
                     400);
}
END_TEST

START_TEST(reject_bad_content_length)
{
    static const char *const bad[] = {"1x",   "-1",  "+1",
                                      "0x10", "1 2", "99999999999999999999999"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char raw[256];

        snprintf(raw, sizeof(raw),
                 "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %s\r\n\r\n",
                 bad[i]);
        ck_assert_msg(status_of(raw) == 400, "Content-Length: %s", bad[i]);
    }
}
END_TEST

START_TEST(reject_conflicting_content_length)
{
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nHost: h\r\n"
                               "Content-Length: 3\r\n"
                               "Content-Length: 4\r\n\r\nabcd"),
                     400);
}
END_TEST

START_TEST(reject_transfer_codings)
{
    /* chunked must be the final coding (RFC 9112 6.3): 400. */
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nHost: h\r\n"
                               "Transfer-Encoding: gzip\r\n\r\n"),
                     400);
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nHost: h\r\n"
                               "Transfer-Encoding: chunked, gzip\r\n\r\n"),
                     400);
    /* A coding we do not decode before it: 501. */
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nHost: h\r\n"
                               "Transfer-Encoding: gzip, chunked\r\n\r\n"
                               "0\r\n\r\n"),
                     501);
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nHost: h\r\n"
                               "Transfer-Encoding: chunked\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"
                               "0\r\n\r\n"),
                     400);
}
END_TEST

START_TEST(reject_missing_or_repeated_host)
{
    ck_assert_int_eq(status_of("GET / HTTP/1.1\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n"
                               "\r\n"),
                     400);
    ck_assert_int_eq(status_of("GET / HTTP/1.0\r\n\r\n"), 0);
    ck_assert_int_eq(status_of("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}
END_TEST

/* The status of a GET whose Host line is "Host: VALUE". */
static int host_status(const char *value)
{
    char raw[512];

    snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", value);
    return status_of(raw);
}

/* Host = uri-host [ ":" port ] (RFC 9112 3.2, RFC 3986 3.2.2). */
START_TEST(host_syntax)
{
    static const char *const good[] = {
        "", "example.com", "a-b.c_d~e:8080", "x:", "x:0", "x:65535",
        "127.0.0.1", "999.1.1.1", "a!$&'()*+,;=b", "%41%7e", "[::1]",
        "[2001:db8::1]:443", "[::ffff:127.0.0.1]", "[v1.x:y]", "[VF.a]:1"};
    static const char *const bad[] = {
        "a b", "a\tb", "user@x", "x/y", "x?y", "x#y", "caf\xe9", "a%4",
        "a%zz", "x:65536", "x:99999999999", "x:8o", "x:-1", "x:1:2",
        "2001:db8::1", "[2001:db8:::1]", "[::1", "::1]", "[::1]x",
        "[::1]:x", "[fe80::1%25eth0]", "[v1]", "[v.x]", "[vz.x]", "[v1.]",
        "[v1.a/b]", "[]", "[127.0.0.1]"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(host_status(good[i]) == 0, "Host: %s refused", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(host_status(bad[i]) == 400, "Host: %s taken", bad[i]);
}
END_TEST

START_TEST(reject_obs_fold_and_bare_cr)
{
    ck_assert_int_eq(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n"
                               " folded\r\n\r\n"),
                     400);
    ck_assert_int_eq(status_of("GET / HTTP/1.1\r\nHost: h\rX: a\r\n\r\n"), 400);
}
END_TEST

START_TEST(reject_bad_tokens)
{
    ck_assert_int_eq(status_of("G(T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("GET / HTTP/1.1\r\nBad Name: v\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("GET / HTTP/1.1\r\nName : v\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n"), 400);
}
END_TEST

/* Malformed chunk-size lines, in pieces of every size. */
START_TEST(reject_bad_chunk_extensions)
{
    static const char *const lines[] = {
        "5;a=\"x", "5;a=\"x\ny\"", "5;a=1\n", "5;a=1\rx", "5;a\x01",
        "5;a=1\x01", "5;a=\"\x01\"", "5;a=\"\x7f\"", "5;a=\"\\\x01\"",
        "5;=1", "5;a=", "5;a= ", "5;a=1 ", "5;a ", "5 ", "5;", "5;a=1;",
        "5;a=\"x\"y", "5;a/b=1", "5;a=b/c", "5 x", "5;a;;b", "5;a=1=2",
        "10000000000000000;a", ";a", " ;a"};
    char raw[256];

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        int n = snprintf(raw, sizeof(raw),
                         "POST / HTTP/1.1\r\nHost: h\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n"
                         "%s\r\nhello\r\n0\r\n\r\n",
                         lines[i]);

        for (size_t step = 1; step <= (size_t)n; step++) {
            struct parsed *x = start(raw);

            ck_assert_int_eq(parse_head(x, 0), 0);
            ck_assert_msg(parse_body(x, step) == 400, "%s taken (step %zu)",
                          lines[i], step);
            finish(x);
        }
    }
}
END_TEST

START_TEST(reject_bad_chunks)
{
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nHost: h\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"
                               "zz\r\nhello\r\n0\r\n\r\n"),
                     400);
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nHost: h\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"
                               "5\r\nhelloXX0\r\n\r\n"),
                     400);
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nHost: h\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"
                               "ffffffffffffffffff\r\n"),
                     400);
}
END_TEST

START_TEST(reject_bad_version)
{
    ck_assert_int_eq(status_of("GET / HTTP/1.x\r\nHost: h\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("GET / HTTP/2.0\r\nHost: h\r\n\r\n") >= 400, 1);
}
END_TEST

START_TEST(reject_encoded_nul_in_path)
{
    ck_assert_int_eq(status_of("GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}
END_TEST

START_TEST(limit_too_many_headers)
{
    char raw[8192];
    size_t n = (size_t)snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\n");

    for (uint32_t i = 0; i <= limits.fields; i++)
        n += (size_t)snprintf(raw + n, sizeof(raw) - n, "H%u: v\r\n", i);
    snprintf(raw + n, sizeof(raw) - n, "\r\n");
    ck_assert_int_eq(status_of(raw), 431);
}
END_TEST

START_TEST(limit_many_headers_grow_past_inline)
{
    char raw[8192];
    size_t n =
        (size_t)snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\nHost: h\r\n");
    struct parsed *x;
    const char *name, *value;

    for (int i = 1; i < 90; i++)
        n += (size_t)snprintf(raw + n, sizeof(raw) - n, "H%d: v%d\r\n", i, i);
    snprintf(raw + n, sizeof(raw) - n, "\r\n");
    x = start(raw);
    ck_assert_int_eq(parse_head(x, 7), 0);
    ck_assert_uint_eq(gn_request_header_count(&x->req), 90);
    ck_assert_int_eq(gn_request_header_at(&x->req, 89, &name, &value), 0);
    ck_assert_str_eq(name, "H89");
    ck_assert_str_eq(value, "v89");
    ck_assert_str_eq(gn_request_header(&x->req, "host"), "h");
    finish(x);
}
END_TEST

START_TEST(limit_field_size_and_line)
{
    static char raw[20000];
    size_t n;

    n = (size_t)snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\nHost: h\r\nX: ");
    memset(raw + n, 'a', limits.field_size);
    snprintf(raw + n + limits.field_size, 8, "\r\n\r\n");
    ck_assert_int_eq(status_of(raw), 431);

    /* The whole line counts: "GET " + target + " HTTP/1.1". */
    n = (size_t)snprintf(raw, sizeof(raw), "GET /");
    memset(raw + n, 'a', limits.request_line - 14);
    snprintf(raw + n + limits.request_line - 14, 40,
             " HTTP/1.1\r\nHost: h\r\n\r\n");
    ck_assert_int_eq(status_of(raw), 0);
    n = (size_t)snprintf(raw, sizeof(raw), "GET /");
    memset(raw + n, 'a', limits.request_line - 13);
    snprintf(raw + n + limits.request_line - 13, 40,
             " HTTP/1.1\r\nHost: h\r\n\r\n");
    ck_assert_int_eq(status_of(raw), 414);
}
END_TEST

START_TEST(limit_custom_small_limits)
{
    limits = (struct gn_http_limits){
        .request_line = 20, .fields = 2, .field_size = 30, .head = 1000,
        .body = 5};
    ck_assert_int_eq(status_of("GET /012345 HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    ck_assert_int_eq(status_of("GET /01234567 HTTP/1.1\r\nHost: h\r\n\r\n"),
                     414);
    ck_assert_int_eq(
        status_of("GET / HTTP/1.1\r\nHost: h\r\nA: b\r\nC: d\r\n\r\n"), 431);
    ck_assert_int_eq(
        status_of(
            "GET / HTTP/1.1\r\nHost: 123456789012345678901234567\r\n\r\n"),
        431);
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nHost: h\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"
                               "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n"),
                     413);
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nHost: h\r\n"
                               "Content-Length: 5\r\n\r\nabcde"),
                     0);
}
END_TEST

/* A GET of exactly N bytes, its last header field padded. */
static char *head_of(size_t n, char *raw)
{
    static const char pre[] = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
    size_t pad = n - (sizeof(pre) - 1) - 4;

    memcpy(raw, pre, sizeof(pre) - 1);
    memset(raw + sizeof(pre) - 1, 'v', pad);
    memcpy(raw + sizeof(pre) - 1 + pad, "\r\n\r\n", 5);
    return raw;
}

/* limit_request_header_size: the whole head, request line to the blank
 * line, in whatever pieces it comes; 431 past it, 414 while the request
 * line alone is past it. */
START_TEST(limit_header_section)
{
    char raw[512];

    limits.head = 100;
    for (size_t step = 1; step <= 101; step += 4) {
        struct parsed *x = start(head_of(100, raw));

        ck_assert_int_eq(parse_head(x, step), 0);
        finish(x);
        x = start(head_of(101, raw));
        ck_assert_int_eq(parse_head(x, step), 431);
        finish(x);
    }
    /* Past it by the final CRLF only, or by many small fields. */
    ck_assert_int_eq(status_of(head_of(102, raw)), 431);
    ck_assert_int_eq(status_of("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n"
                               "C: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\n"
                               "I: 9\r\nJ: 10\r\nK: 11\r\nL: 12\r\n\r\n"),
                     431);
    memset(raw, 'a', 200);
    memcpy(raw, "GET /", 5);
    snprintf(raw + 120, 40, " HTTP/1.1\r\nHost: h\r\n\r\n");
    ck_assert_int_eq(status_of(raw), 414);
    /* The other limits still apply inside it. */
    limits.head = 30000;
    limits.field_size = 50;
    ck_assert_int_eq(status_of(head_of(100, raw)), 431);
    /* The buffer a connection may grow its head to follows it. */
    ck_assert_uint_eq(gn__http_head_max(&limits), 4094 + 2 + 100 * 54 + 2);
    limits.field_size = 8190;
    ck_assert_uint_eq(gn__http_head_max(&limits), 30000);
    limits.head = 100;
    ck_assert_uint_eq(gn__http_head_max(&limits), 100);
}
END_TEST

static Suite *http_parse_suite(void)
{
    Suite *s = suite_create("http/parse");
    TCase *ok = tcase_create("well-formed");
    TCase *bad = tcase_create("malformed");
    TCase *lims = tcase_create("limits");

    tcase_add_test(ok, parse_simple_get);
    tcase_add_test(ok, parse_byte_by_byte);
    tcase_add_test(ok, parse_repeated_headers_in_order);
    tcase_add_test(ok, parse_pipelined_in_order);
    tcase_add_test(ok, parse_head_stops_before_body);
    tcase_add_test(ok, parse_chunked_body);
    tcase_add_test(ok, parse_trailers);
    tcase_add_test(ok, parse_chunk_extensions);
    tcase_add_test(ok, parse_body_respects_room);
    tcase_add_test(ok, parse_http10_keep_alive);
    tcase_add_test(ok, parse_absolute_form_and_asterisk);
    tcase_add_test(ok, parse_expect_continue);
    tcase_add_test(ok, parse_percent_decode);
    tcase_add_test(bad, reject_cl_and_te);
    tcase_add_test(bad, reject_bad_content_length);
    tcase_add_test(bad, reject_conflicting_content_length);
    tcase_add_test(bad, reject_transfer_codings);
    tcase_add_test(bad, reject_missing_or_repeated_host);
    tcase_add_test(bad, host_syntax);
    tcase_add_test(bad, reject_obs_fold_and_bare_cr);
    tcase_add_test(bad, reject_bad_tokens);
    tcase_add_test(bad, reject_bad_chunks);
    tcase_add_test(bad, reject_bad_chunk_extensions);
    tcase_add_test(bad, reject_bad_version);
    tcase_add_test(bad, reject_encoded_nul_in_path);
    tcase_add_test(lims, limit_too_many_headers);
    tcase_add_test(lims, limit_many_headers_grow_past_inline);
    tcase_add_test(lims, limit_field_size_and_line);
    tcase_add_test(lims, limit_custom_small_limits);
    tcase_add_test(lims, limit_header_section);
    suite_add_tcase(s, ok);
    suite_add_tcase(s, bad);
    suite_add_tcase(s, lims);
    return s;
}

int main(void)
{
    return gn_test_run_suite(http_parse_suite());
}
