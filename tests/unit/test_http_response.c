/*
 * Unit tests of responses (http/response.c) as a client reads them: heads,
 * Content-Length or chunked framing, HEAD, keep-alive and pipelining, over
 * a socketpair served by http/serve.c without a worker or a config
 * (http_fixture.c).
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "green_fixture.h"
#include "greenicorn.h"
#include "http/response.h"
#include "http/serve.h"
#include "http_fixture.h"
#include "net/buf.h"
#include "net/conn.h"
#include "run_suite.h"

static char out[65536];

/* One GET on a connection it closes, the answer in OUT. */
static void get_closing(void)
{
    http_exchange("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out,
                  sizeof(out));
}

/* One GET answered by APP, which must say 200 OK. */
static void get_ok(int (*app)(gn_request_t *, gn_response_t *, void *))
{
    http_app = app;
    get_closing();
    ck_assert_msg(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", out);
}

/* The body after the head of the one response in OUT. */
static const char *body_of(const char *response)
{
    const char *end = strstr(response, "\r\n\r\n");

    ck_assert_ptr_nonnull(end);
    return end + 4;
}

static int hello(gn_request_t *req, gn_response_t *res, void *state)
{
    ck_assert_int_eq(gn_response_header(res, "X-Test", "1"), 0);
    return gn_response_write(res, "hello", 5);
}

START_TEST(buffered_body_gets_content_length)
{
    get_ok(hello);
    ck_assert_ptr_nonnull(strstr(out, "\r\nServer: greenicorn-test\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\nDate: "));
    ck_assert_ptr_nonnull(strstr(out, "\r\nX-Test: 1\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Length: 5\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\nConnection: close\r\n"));
    ck_assert_ptr_null(strstr(out, "Transfer-Encoding"));
    ck_assert_str_eq(body_of(out), "hello");
    ck_assert_int_eq(http_served, 1);
    ck_assert_int_eq(http_pre_hooks, 1);
    ck_assert_int_eq(http_post_hooks, 1);
}
END_TEST

/* stack_prealloc's responses: made up to a count, used and given back
 * by a request, trimmed. */
START_TEST(prefilled_responses_serve_and_stay)
{
    http_app = hello;
    gn__http_free_spares(); /* what an earlier test gave back */
    ck_assert_uint_eq(gn__http_prefill_spares(4), 4);
    ck_assert_uint_eq(gn__http_prefill_spares(4), 0);
    get_closing();
    ck_assert_str_eq(body_of(out), "hello");
    ck_assert_uint_eq(gn__http_prefill_spares(4), 0); /* it came back */
    ck_assert_uint_eq(gn__http_prefill_spares(6), 2);
    gn__http_trim_spares(1);
    ck_assert_uint_eq(gn__http_prefill_spares(2), 1);
    gn__http_free_spares();
}
END_TEST

/* A response takes its inline storage when its handler first writes,
 * not before (a handler that waits holds ~170 bytes, not 1.7 KiB), and
 * gives it back with itself. */
static int storage_late(gn_request_t *req, gn_response_t *res, void *state)
{
    struct gn_response *r = res;

    ck_assert_ptr_null(r->storage);
    ck_assert_int_eq(gn_response_status(res, 201, NULL), 0);
    ck_assert_ptr_null(r->storage);
    ck_assert_int_eq(gn_response_write(res, "made", 4), 0);
    ck_assert_ptr_nonnull(r->storage);
    ck_assert_ptr_eq(r->body.data, r->storage->body);
    ck_assert_int_eq(gn_response_header(res, "X-Late", "yes"), 0);
    ck_assert_ptr_eq(r->headers.data, r->storage->headers);
    return 0;
}

static int writes_nothing(gn_request_t *req, gn_response_t *res, void *state)
{
    ck_assert_ptr_null(((struct gn_response *)res)->storage);
    return gn_response_status(res, 204, NULL);
}

START_TEST(storage_is_taken_at_the_first_write)
{
    gn__http_free_spares();
    http_app = storage_late;
    get_closing();
    ck_assert_msg(strncmp(out, "HTTP/1.1 201 Created\r\n", 22) == 0, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "\r\nX-Late: yes\r\n"));
    ck_assert_str_eq(body_of(out), "made");
    ck_assert_uint_eq(gn__response_prefill_storage(1), 0); /* it came back */

    gn__http_free_spares();
    http_app = writes_nothing;
    get_closing();
    ck_assert_msg(strncmp(out, "HTTP/1.1 204 ", 13) == 0, "%s", out);
    ck_assert_uint_eq(gn__response_prefill_storage(1), 1); /* none taken */
    gn__http_free_spares();
}
END_TEST

/* Bytes written past the inline storage move to the heap, in order. */
static int writes_past_storage(gn_request_t *req, gn_response_t *res,
                               void *state)
{
    char chunk[300];

    for (int i = 0; i < 10; i++) {
        memset(chunk, 'a' + i, sizeof(chunk));
        ck_assert_int_eq(gn_response_write(res, chunk, sizeof(chunk)), 0);
    }
    return 0;
}

START_TEST(body_outgrows_its_storage)
{
    const char *body;

    http_app = writes_past_storage;
    get_closing();
    ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Length: 3000\r\n"));
    body = body_of(out);
    ck_assert_uint_eq(strlen(body), 3000);
    for (int i = 0; i < 3000; i++)
        if (body[i] != 'a' + i / 300)
            ck_abort_msg("byte %d is %c", i, body[i]);
}
END_TEST

static int streamed(gn_request_t *req, gn_response_t *res, void *state)
{
    ck_assert_int_eq(gn_response_write(res, "ab", 2), 0);
    ck_assert_int_eq(gn_response_flush(res), 0);
    return gn_response_write(res, "cde", 3);
}

START_TEST(flushed_body_is_chunked)
{
    http_app = streamed;
    get_closing();
    ck_assert_ptr_nonnull(strstr(out, "\r\nTransfer-Encoding: chunked\r\n"));
    ck_assert_ptr_null(strstr(out, "Content-Length"));
    ck_assert_str_eq(body_of(out), "2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n");
}
END_TEST

START_TEST(http10_stream_ends_with_the_connection)
{
    http_app = streamed;
    http_exchange("GET / HTTP/1.0\r\n\r\n", out, sizeof(out));
    ck_assert_msg(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", out);
    ck_assert_ptr_null(strstr(out, "Transfer-Encoding"));
    ck_assert_ptr_nonnull(strstr(out, "\r\nConnection: close\r\n"));
    ck_assert_str_eq(body_of(out), "abcde");
}
END_TEST

START_TEST(head_gets_length_without_body)
{
    http_app = hello;
    http_exchange("HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                  out, sizeof(out));
    ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Length: 5\r\n"));
    ck_assert_str_eq(body_of(out), "");
}
END_TEST

static int teapot(gn_request_t *req, gn_response_t *res, void *state)
{
    return gn_response_status(res, 418, "Short And Stout");
}

START_TEST(status_and_reason)
{
    http_app = teapot;
    get_closing();
    ck_assert_msg(strncmp(out, "HTTP/1.1 418 Short And Stout\r\n", 30) == 0,
                  "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Length: 0\r\n"));
}
END_TEST

/* Every byte in a header name a handler sets, and in its value: a name
 * takes RFC 9110's tchars only, a value visible characters, SP, HTAB and
 * obs-text, the rest refused (-EINVAL) with nothing written. */
static int is_rfc_tchar(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_rfc_value_byte(int c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int every_byte(gn_request_t *req, gn_response_t *res, void *state)
{
    char name[] = "X-?-Name", value[] = "a?b";

    for (int c = 1; c < 256; c++) {
        name[2] = (char)c;
        value[1] = (char)c;
        ck_assert_msg(gn_response_header(res, name, "v") ==
                          (is_rfc_tchar(c) ? 0 : -EINVAL),
                      "name byte 0x%02x", c);
        ck_assert_msg(gn_response_header(res, "X-Value", value) ==
                          (is_rfc_value_byte(c) ? 0 : -EINVAL),
                      "value byte 0x%02x", c);
    }
    ck_assert_int_eq(gn_response_header(res, "", "v"), -EINVAL);
    ck_assert_int_eq(gn_response_header(res, "X-Empty", ""), 0);
    return gn_response_write(res, "ok", 2);
}

START_TEST(header_bytes_are_checked)
{
    get_ok(every_byte);
    /* The refused ones left nothing behind. */
    ck_assert_ptr_nonnull(strstr(out, "\r\nX-~-Name: v\r\n"));
    ck_assert_ptr_null(strstr(out, "X-(-Name"));
    ck_assert_ptr_nonnull(strstr(out, "\r\nX-Value: a\tb\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\nX-Empty: \r\n"));
    ck_assert_str_eq(body_of(out), "ok");
}
END_TEST

/* The Server and Date lines, kept together for the second: a context
 * with another Server value (none, one too long to keep) gets its own. */
START_TEST(server_and_date_lines)
{
    static char longest[301];

    memset(longest, 'g', sizeof(longest) - 1);
    http_app = hello;
    http_server_header = NULL;
    get_closing();
    ck_assert_msg(strncmp(out, "HTTP/1.1 200 OK\r\nDate: ", 23) == 0, "%s",
                  out);
    ck_assert_ptr_null(strstr(out, "Server:"));
    http_server_header = longest;
    get_closing();
    ck_assert_msg(strncmp(out + 17, "Server: ggg", 11) == 0, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "gg\r\nDate: "));
    ck_assert_uint_eq(strstr(out, "\r\nDate") - out, 17 + 8 + 300);
    http_server_header = "b";
    get_closing();
    ck_assert_msg(strncmp(out + 17, "Server: b\r\nDate: ", 17) == 0, "%s", out);
    http_server_header = "greenicorn-test";
}
END_TEST

START_TEST(no_app_is_404)
{
    http_app = NULL;
    get_closing();
    ck_assert_msg(strncmp(out, "HTTP/1.1 404 ", 13) == 0, "%s", out);
}
END_TEST

START_TEST(pipelined_answers_in_order)
{
    const char *first, *second;

    http_app = hello;
    http_exchange("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                  out, sizeof(out));
    first = strstr(out, "HTTP/1.1 200 OK\r\n");
    ck_assert_ptr_eq(first, out);
    second = strstr(first + 1, "HTTP/1.1 200 OK\r\n");
    ck_assert_ptr_nonnull(second);
    /* The first keeps the connection open, the second closes it. */
    ck_assert_ptr_null(
        memmem(first, (size_t)(second - first), "Connection: close", 17));
    ck_assert_ptr_nonnull(strstr(second, "\r\nConnection: close\r\n"));
    ck_assert_str_eq(body_of(second), "hello");
    ck_assert_int_eq(http_served, 2);
}
END_TEST

START_TEST(bad_request_is_400_and_closes)
{
    http_app = hello;
    http_exchange("GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", out,
                  sizeof(out));
    ck_assert_msg(strncmp(out, "HTTP/1.1 400 ", 13) == 0, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "\r\nConnection: close\r\n"));
    ck_assert_int_eq(http_served, 0);
}
END_TEST

/* The head builder's buffer: the first failure sticks, so a run of
 * appends is checked once at its end. */
START_TEST(buf_keeps_its_first_error)
{
    char storage[16];
    struct gn_buf b;
    volatile size_t huge = SIZE_MAX / 2 + 1; /* more than can be had */

    gn__buf_init(&b, storage, sizeof(storage));
    ck_assert_int_eq(gn__buf_append(&b, "ab", 2), 0);
    ck_assert_int_eq(b.err, 0);
    ck_assert_int_eq(gn__buf_append(&b, "x", huge), -ENOMEM);
    ck_assert_uint_eq(b.len, 2); /* unchanged */
    ck_assert_int_eq(gn__buf_append_str(&b, "cd"), 0);
    ck_assert_int_eq(b.err, -ENOMEM); /* still the first error */
    gn__buf_free(&b);
}
END_TEST

/* Takes the connection over and echoes, raw, what the client sent after
 * the head, then the path (the request's strings outlive the buffer). */
static int upgrader(gn_request_t *req, gn_response_t *res, void *state)
{
    struct gn_conn *c;
    struct iovec iov[2];

    ck_assert_int_eq(gn_response_header(res, "X-App", "1"), 0);
    ck_assert_int_eq(gn_response_header(res, "Upgrade", "not-this"), 0);
    c = gn__http_upgrade(res, "echo-proto");
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(gn__http_upgrade(res, "echo-proto")); /* once */
    ck_assert_int_eq(errno, EALREADY);
    ck_assert_uint_eq(c->rpos, 0);
    /* The buffer is the new protocol's: scribbling on it is allowed. */
    memset(c->rbuf + c->rlen, '#', c->rcap - c->rlen);
    iov[0] = (struct iovec){c->rbuf, c->rlen};
    iov[1] = (struct iovec){(void *)gn_request_path(req),
                            strlen(gn_request_path(req))};
    ck_assert_int_eq(gn__conn_writev(c, iov, 2, 0), 0);
    /* No HTTP body may follow into the new protocol's bytes. */
    ck_assert_int_eq(gn_response_write(res, "x", 1), -EALREADY);
    ck_assert_int_eq(gn_response_flush(res), -EALREADY);
    return 0;
}

START_TEST(upgrade_sends_101_and_hands_over_the_bytes_after_the_head)
{
    const char *body;

    http_app = upgrader;
    http_exchange("GET /the/path HTTP/1.1\r\nHost: x\r\nUpgrade: echo-proto\r\n"
                  "Connection: Upgrade\r\n\r\nEARLY BYTES",
                  out, sizeof(out));
    ck_assert_msg(strncmp(out, "HTTP/1.1 101 Switching Protocols\r\n", 34) == 0,
                  "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "\r\nX-App: 1\r\n"));
    ck_assert_ptr_nonnull(
        strstr(out, "\r\nConnection: Upgrade\r\nUpgrade: echo-proto\r\n\r\n"));
    ck_assert_ptr_null(strstr(out, "not-this"));
    ck_assert_ptr_null(strstr(out, "Content-Length"));
    body = strstr(out, "\r\n\r\n") + 4;
    ck_assert_str_eq(body, "EARLY BYTES/the/path");
    ck_assert_int_eq(http_served, 1);
}
END_TEST

static int upgrade_with_body(gn_request_t *req, gn_response_t *res, void *state)
{
    ck_assert_ptr_null(gn__http_upgrade(res, "echo-proto"));
    ck_assert_int_eq(errno, EINVAL);
    return gn_response_write(res, "no", 2);
}

START_TEST(upgrade_refused_while_a_body_is_unread)
{
    http_app = upgrade_with_body;
    http_exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                  "Connection: close\r\n\r\nabc",
                  out, sizeof(out));
    ck_assert_msg(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", out);
}
END_TEST

static void reset(void)
{
    http_app = NULL;
    http_served = http_pre_hooks = http_post_hooks = 0;
    memset(out, 0, sizeof(out));
}

/* Numbers as heads carry them (status, Content-Length), each digit in
 * place, the buffer growing past its storage. */
START_TEST(buf_appends_numbers)
{
    char storage[8];
    struct gn_buf b;

    gn__buf_init(&b, storage, sizeof(storage));
    ck_assert_int_eq(gn__buf_append_u64(&b, 0), 0);
    ck_assert_int_eq(gn__buf_append(&b, " ", 1), 0);
    ck_assert_int_eq(gn__buf_append_u64(&b, 9), 0);
    ck_assert_int_eq(gn__buf_append_u64(&b, 10), 0);
    ck_assert_int_eq(gn__buf_append(&b, " ", 1), 0);
    ck_assert_int_eq(gn__buf_append_u64(&b, 18446744073709551615ULL), 0);
    ck_assert_int_eq(gn__buf_append_u64(&b, 1000000), 0);
    ck_assert_int_eq(b.err, 0);
    ck_assert_uint_eq(b.len, 33);
    ck_assert_int_eq(memcmp(b.data, "0 910 184467440737095516151000000", 33),
                     0);
    gn__buf_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http/response");
    TCase *tc = test_case(s, "over a socketpair");
    TCase *buf = tcase_create("buffer");

    tcase_add_checked_fixture(tc, reset, NULL);
    tcase_add_test(tc, buffered_body_gets_content_length);
    tcase_add_test(tc, prefilled_responses_serve_and_stay);
    tcase_add_test(tc, storage_is_taken_at_the_first_write);
    tcase_add_test(tc, body_outgrows_its_storage);
    tcase_add_test(tc, flushed_body_is_chunked);
    tcase_add_test(tc, http10_stream_ends_with_the_connection);
    tcase_add_test(tc, head_gets_length_without_body);
    tcase_add_test(tc, status_and_reason);
    tcase_add_test(tc, header_bytes_are_checked);
    tcase_add_test(tc, server_and_date_lines);
    tcase_add_test(tc, no_app_is_404);
    tcase_add_test(tc, pipelined_answers_in_order);
    tcase_add_test(tc, bad_request_is_400_and_closes);
    tcase_add_test(tc,
                   upgrade_sends_101_and_hands_over_the_bytes_after_the_head);
    tcase_add_test(tc, upgrade_refused_while_a_body_is_unread);
    tcase_add_test(buf, buf_keeps_its_first_error);
    tcase_add_test(buf, buf_appends_numbers);
    suite_add_tcase(s, buf);
    return gn_test_run_suite(s);
}
