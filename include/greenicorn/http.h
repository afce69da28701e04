/*
 * greenicorn/http.h - an app and the HTTP exchange it answers: the request
 * and response handles, the descriptor an app plugin exports (gn_app_t),
 * the calls that read a request and the calls that write its response.
 *
 * Part of the plugin ABI: a plugin includes <greenicorn.h>, which includes
 * this header; the rules for threads and errors are written there.
 */
#ifndef GREENICORN_HTTP_H
#define GREENICORN_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "greenicorn/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Opaque handles
 * ------------------------------------------------------------------------ */

/* One HTTP request, valid from the call of the app's handle() until it
 * returns. Every string a request accessor returns is NUL-terminated and
 * stays valid until then. */
typedef struct gn_request gn_request_t;

/* The response to that request, valid for the same time. */
typedef struct gn_response gn_response_t;

/* ------------------------------------------------------------------------
 * The app descriptor
 * ------------------------------------------------------------------------ */

/* One `NAME = VALUE` line of the app's [app.args] config section, in file
 * order. The strings live as long as the worker. */
typedef struct gn_app_arg {
    const char *name;
    const char *value;
} gn_app_arg_t;

/*
 * What an app plugin exports (as `greenicorn_app` unless the config names
 * another symbol). Start it with GN_APP_HEADER so the first two fields carry
 * the ABI the plugin was built against.
 *
 * init    optional; called once per worker process after it forks, outside
 *         any coroutine (with preload_app: once, in the arbiter, before the
 *         workers fork). Store per-worker state in *state: it is handed to
 *         every handle() and to fini(). Return 0, or a negative errno to stop
 *         start-up (log the reason with gn_log first); a positive value
 *         counts as a failure too.
 * handle  required; called once per request inside the request's coroutine.
 *         Read with gn_request_*, answer with gn_response_*. Return 0 when
 *         the response is complete (any value >= 0 counts as that), or a
 *         negative errno: the server then answers 500 if nothing was sent
 *         yet, or closes the connection.
 * fini    optional; called when a worker exits gracefully, on its copy of
 *         the state (with preload_app, also in the arbiter as it exits).
 *         Not called on a quick stop (INT, QUIT) or a crash.
 */
typedef struct gn_app {
    uint32_t abi_version; /* GN_ABI_VERSION the plugin was built with */
    uint32_t struct_size; /* sizeof(gn_app_t) the plugin was built with */
    const char *name;     /* short name for logs, e.g. "hello" */
    int (*init)(const gn_app_arg_t *args, size_t nargs, void **state);
    int (*handle)(gn_request_t *req, gn_response_t *res, void *state);
    void (*fini)(void *state);
} gn_app_t;

#define GN_APP_HEADER                                                          \
    .abi_version = GN_ABI_VERSION, .struct_size = sizeof(gn_app_t)

/* From C++: define the descriptor as `extern "C" GN_EXPORT const gn_app_t
 * greenicorn_app = {GN_ABI_VERSION, sizeof(gn_app_t), "name", init,
 * handle, fini};` -- `extern "C"` in front of the definition (a const
 * object is otherwise private to its file in C++), the fields in order
 * (GN_APP_HEADER's designated initializers are C, and C++20's must not
 * be mixed with positional ones), and never let an exception out of a
 * callback: catch it and return a negative errno. */

/* The symbol the server looks up when the config names none. */
#define GN_APP_SYMBOL "greenicorn_app"

/* ------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------ */

/* The method as sent, e.g. "GET". */
GN_API const char *gn_request_method(const gn_request_t *req);

/* The request target exactly as sent, e.g. "/a%20b?x=1". */
GN_API const char *gn_request_target(const gn_request_t *req);

/* The target's path, percent-decoded, without the query: "/a b". For an
 * absolute-form target ("http://host/p") the path part; for "*", "*". */
GN_API const char *gn_request_path(const gn_request_t *req);

/* The path split at the app's mount, as CGI/WSGI's SCRIPT_NAME and
 * PATH_INFO: for an app mounted on "/api", "/api/users/7" gives "/api" and
 * "/users/7", and "/api" gives "/api" and "". An app on "/" gets "" and the
 * whole path. Decoded, like gn_request_path. Since ABI 1.2. */
GN_API const char *gn_request_script_name(const gn_request_t *req);
GN_API const char *gn_request_path_info(const gn_request_t *req);

/* The query string after '?', not decoded; "" when there is none. */
GN_API const char *gn_request_query(const gn_request_t *req);

/* The HTTP version as 10 or 11. */
GN_API int gn_request_version(const gn_request_t *req);

/* The first value of the header NAME (matched case-insensitively), or NULL
 * when the request has none. */
GN_API const char *gn_request_header(const gn_request_t *req, const char *name);

/* The number of header lines, repeated names counted each time. */
GN_API size_t gn_request_header_count(const gn_request_t *req);

/* The I-th header line in the order received: 0, or -ERANGE when I is past
 * the end. Either out-pointer may be NULL. */
GN_API int gn_request_header_at(const gn_request_t *req, size_t i,
                                const char **name, const char **value);

/* The length the request declared in Content-Length, or -1 when the body is
 * chunked or absent. */
GN_API int64_t gn_request_content_length(const gn_request_t *req);

/*
 * Read up to LEN bytes of the request body into BUF. Returns the number of
 * bytes read, 0 at the end of the body (or when there is none, or LEN is 0:
 * pass a LEN above 0), or a negative
 * errno (-ETIMEDOUT when the client stalls, -ECONNRESET when it went away,
 * -EPROTO when the body is malformed). The first call answers a client's
 * `Expect: 100-continue`. May yield.
 */
GN_API ssize_t gn_request_read(gn_request_t *req, void *buf, size_t len);

/* The trailer fields sent after a chunked body, like the header functions
 * above. They are known once gn_request_read returned 0; before that (and
 * for a body that is not chunked) there are none. Since ABI 1.2. */
GN_API const char *gn_request_trailer(const gn_request_t *req,
                                      const char *name);
GN_API size_t gn_request_trailer_count(const gn_request_t *req);
GN_API int gn_request_trailer_at(const gn_request_t *req, size_t i,
                                 const char **name, const char **value);

/* The client's address as text ("127.0.0.1", "::1"; "" for a unix socket)
 * and port (0 for a unix socket, or when a proxy named the client). Behind
 * a proxy the client is the one the PROXY protocol header or, from a peer
 * in forwarded_allow_ips, X-Forwarded-For names. */
GN_API const char *gn_request_remote_addr(const gn_request_t *req);
GN_API int gn_request_remote_port(const gn_request_t *req);

/* "https" when the request came over TLS (a tls:// bind), or when a peer
 * in forwarded_allow_ips says so in X-Forwarded-Proto, else "http". Since
 * ABI 1.1. */
GN_API const char *gn_request_scheme(const gn_request_t *req);

/* The local address and port the connection arrived on ("127.0.0.1",
 * 8000; "" and 0 on a unix socket), as WSGI's SERVER_ADDR/SERVER_PORT.
 * Behind a proxy this is where the proxy connected. Since ABI 1.2. */
GN_API const char *gn_request_server_addr(const gn_request_t *req);
GN_API int gn_request_server_port(const gn_request_t *req);

/* SIZE bytes (16-byte aligned; SIZE 0 is taken as 1) from the request's
 * arena, freed all at once when the request ends: no free() to forget.
 * NULL when out of memory. Since ABI 1.2. */
GN_API void *gn_request_alloc(gn_request_t *req, size_t size);

/* ------------------------------------------------------------------------
 * Responses
 * ------------------------------------------------------------------------ */

/* Set the final status (200..999, default 200) and optional reason phrase
 * (NULL for the standard one). -EINVAL for a bad status or a reason with
 * control characters; -EALREADY once the head was sent. A 1xx (100..199)
 * is refused with -EINVAL: it is an interim answer, and a client given one
 * as the answer waits for another (or takes it for the next request's).
 * The server sends "100 Continue" itself; 101 will come with an upgrade
 * call, when there is one. */
GN_API int gn_response_status(gn_response_t *res, int status,
                              const char *reason);

/*
 * Add a header line. The name must be an HTTP token and the value free of
 * control characters other than tab, else -EINVAL. The server owns the
 * message framing and adds Date and Server itself (the server_header
 * setting): Content-Length, Transfer-Encoding, Connection, Date and Server
 * are refused with -EPERM, but for "Connection: close", which is taken as
 * gn_response_close_connection (since ABI 1.7). -EALREADY once the head
 * was sent. Both strings are copied.
 */
GN_API int gn_response_header(gn_response_t *res, const char *name,
                              const char *value);

/* Append LEN bytes to the body. Bytes are buffered: a response whose body is
 * complete when handle() returns is sent with Content-Length. 0, -ENOMEM,
 * -EPIPE once a write to the client failed, or -EALREADY after a whole
 * gn_response_sendfile. */
GN_API int gn_response_write(gn_response_t *res, const void *buf, size_t len);

/* printf-style gn_response_write: 0 (not a byte count), or a negative
 * errno. */
GN_API int gn_response_printf(gn_response_t *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Send the head and everything written so far now. The response is then
 * streamed: chunked to an HTTP/1.1 client, delimited by closing the
 * connection for HTTP/1.0. Returns 0 or a negative errno when the client is
 * gone or stalls. May yield.
 */
GN_API int gn_response_flush(gn_response_t *res);

/*
 * Send COUNT bytes of the open file FD from OFFSET with sendfile(2): the
 * kernel copies them, never this process. Before anything was flushed the
 * response is sent whole, with Content-Length covering what was written
 * plus COUNT, and is complete: later writes, flushes and sendfiles return
 * -EALREADY. After gn_response_flush it sends one more piece (a chunk) and
 * may be called again. FD stays the caller's to close; a HEAD request gets
 * the head only. 0; before anything is sent, -EBADF for a descriptor that is
 * not open and -EINVAL for a negative OFFSET or a range past the end of a
 * regular file; -EIO when the file shrank under us before COUNT bytes (the
 * connection is then closed: the length was promised), -EPIPE or
 * -ETIMEDOUT when the client is gone or stalls. May yield. Since ABI 1.2.
 */
GN_API int gn_response_sendfile(gn_response_t *res, int fd, off_t offset,
                                size_t count);

/* 1 when the client has closed its end of the connection or reset it, or
 * a write to it failed; 0 while it is there. It does not wait: a handler
 * doing long work checks it now and then to give up on a client that left.
 * (An HTTP/1.1 client does not half-close while waiting, so its EOF means
 * gone.) Since ABI 1.2. */
GN_API int gn_response_client_gone(gn_response_t *res);

/* Close the connection after this response: its head says
 * "Connection: close" (when it has not gone out yet), and requests the
 * client pipelined behind this one are not served. For an app that knows
 * the client should go (it is being logged out, or this worker's state
 * for it is gone). 0, or -EPERM off the loop's thread. Since ABI 1.7. */
GN_API int gn_response_close_connection(gn_response_t *res);

/* The status set so far (200 unless changed), e.g. for post_request.
 * Since ABI 1.2. */
GN_API int gn_response_get_status(const gn_response_t *res);

#ifdef __cplusplus
}
#endif

#endif /* GREENICORN_HTTP_H */
