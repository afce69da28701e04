/*
 * What the HTTP unit tests share (test_http_request.c, _response.c): a
 * connection served by http/serve.c over a socketpair, with a context of
 * their own instead of a worker's and no config, its app a function of the
 * test. Built on green_fixture (a loop and a coroutine pool).
 */
#ifndef GN_TESTS_HTTP_FIXTURE_H
#define GN_TESTS_HTTP_FIXTURE_H

#include <stddef.h>

#include "greenicorn.h"

/* The app every request is routed to (NULL: none is mounted, a 404). */
extern int (*http_app)(gn_request_t *req, gn_response_t *res, void *state);

/* http_exchange's Server header ("greenicorn-test"; NULL: none). */
extern const char *http_server_header;

/* Requests served (the context's request_done) and hooks called. */
extern int http_served, http_pre_hooks, http_post_hooks;

/* Write the bytes REQUEST to a new connection and read what it answers
 * until the server closes it (REQUEST must end with a "Connection: close"
 * request, or a bad one), into OUT (NUL-terminated, at most CAP - 1
 * bytes). The bytes read. Fails the test when the connection is not
 * closed within a few seconds. */
size_t http_exchange(const char *request, char *out, size_t cap);

/* A connection served as http_exchange serves one, left open for
 * long-lived exchanges (a request that waits, a WebSocket): the client's
 * end, non-blocking, for the test's tasks to write requests to and read
 * answers from (gn_write, gn_read); the test closes it. Several may be
 * open at once. */
int http_connect(void);

/* Read one response from FD (a head with Content-Length, and its body)
 * into OUT (NUL-terminated, at most CAP - 1 bytes), within a few seconds:
 * its length; *BODY points to the body in OUT. Fails the test otherwise. */
size_t http_read_response(int fd, char *out, size_t cap, const char **body);

#endif /* GN_TESTS_HTTP_FIXTURE_H */
