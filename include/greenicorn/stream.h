/*
 * greenicorn/stream.h - stream apps, gevent's StreamServer: a plugin that
 * owns raw TCP (or unix socket) connections accepted on a [stream:NAME]
 * bind, and the green calls it talks to its client with.
 *
 * Part of the plugin ABI: a plugin includes <greenicorn.h>, which includes
 * this header; the rules for threads and errors are written there.
 */
#ifndef GREENICORN_STREAM_H
#define GREENICORN_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "greenicorn/version.h"
#include "greenicorn/http.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One client connection of a stream app, valid from the call of the
 * app's handle() until it returns; the server closes the connection then.
 * Or an HTTP connection an app's handle() took over (gn_response_upgrade
 * below), valid until that handle() returns. Since ABI 1.4. */
typedef struct gn_stream gn_stream_t;

/*
 * What a stream app plugin exports (as `greenicorn_stream_app` unless the
 * [stream:NAME] section's module names another symbol). Start it with
 * GN_STREAM_APP_HEADER. Since ABI 1.4.
 *
 * init    optional; as gn_app_t's: once per worker after it forks (with
 *         preload_app once in the arbiter), outside any coroutine, with the
 *         [stream:NAME.args] lines. 0, or a negative errno to stop start-up.
 * handle  required; called once per accepted connection, in a coroutine of
 *         its own (green thread), which owns the connection until handle
 *         returns: then the server closes it. The return value is logged
 *         when negative, nothing more.
 * fini    optional; as gn_app_t's.
 */
typedef struct gn_stream_app {
    uint32_t abi_version; /* GN_ABI_VERSION the plugin was built with */
    uint32_t struct_size; /* sizeof(gn_stream_app_t) it was built with */
    const char *name;     /* short name for logs, e.g. "whoami" */
    int (*init)(const gn_app_arg_t *args, size_t nargs, void **state);
    int (*handle)(gn_stream_t *s, void *state);
    void (*fini)(void *state);
} gn_stream_app_t;

/* The first fields of a gn_stream_app_t definition. Since ABI 1.4. */
#define GN_STREAM_APP_HEADER                                                   \
    .abi_version = GN_ABI_VERSION, .struct_size = sizeof(gn_stream_app_t)

/* The symbol a stream app exports unless its module names another.
 * Since ABI 1.4. */
#define GN_STREAM_APP_SYMBOL "greenicorn_stream_app"

/*
 * Every call below that waits takes TIMEOUT in seconds (< 0: no limit;
 * 0: only what can be done without waiting) and may yield. Each returns
 * -ETIMEDOUT when TIMEOUT passes first, and -ECANCELED once the worker is
 * stopping and its graceful_timeout is (nearly) over: a handler must
 * return then, or the worker is killed under it.
 */

/* Read up to LEN bytes: those buffered already, else what the next read of
 * the socket brings. The bytes read (> 0), 0 when the client closed its
 * end (or LEN is 0), or a negative errno (-ECONNRESET...). May yield.
 * Since ABI 1.4. */
GN_API ssize_t gn_stream_read(gn_stream_t *s, void *buf, size_t len,
                              double timeout);

/* Read up to and including the first DELIM (a NUL-terminated string of
 * one or more bytes) into BUF, at most LEN bytes. The bytes read, DELIM
 * included; 0 when the client closed its end before sending anything;
 * -ENOBUFS when LEN bytes came without DELIM (they stay buffered for the
 * next read: nothing is lost); -EPIPE when the client closed its end in
 * the middle of a line (what it sent stays buffered). May yield. Since
 * ABI 1.4. */
GN_API ssize_t gn_stream_read_until(gn_stream_t *s, void *buf, size_t len,
                                    const char *delim, double timeout);

/* Write all LEN bytes of BUF. LEN, or a negative errno (-EPIPE or
 * -ECONNRESET when the client is gone; SIGPIPE is never raised), in which
 * case an unknown part may have gone out. May yield. Since ABI 1.4. */
GN_API ssize_t gn_stream_write(gn_stream_t *s, const void *buf, size_t len,
                               double timeout);

/* gn_stream_write of IOVCNT buffers (at most 64: -EINVAL beyond), in one
 * system call where the socket takes them. Since ABI 1.4. */
GN_API ssize_t gn_stream_writev(gn_stream_t *s, const struct iovec *iov,
                                int iovcnt, double timeout);

/* Half-close: SHUT_WR sends the client an end of file (it may go on
 * sending), SHUT_RD or SHUT_RDWR as shutdown(2). 0 or a negative errno.
 * Since ABI 1.4. */
GN_API int gn_stream_shutdown(gn_stream_t *s, int how);

/* The client's address ("127.0.0.1", "::1"; "" on a unix socket) and, when
 * PORT is not NULL, its port in *PORT. Valid until handle returns. Since
 * ABI 1.4. */
GN_API const char *gn_stream_peer_addr(const gn_stream_t *s, int *port);

/* The address the client connected to, and its port, as above. Since ABI
 * 1.4. */
GN_API const char *gn_stream_local_addr(gn_stream_t *s, int *port);

/* The [stream:NAME] this connection came in on. Since ABI 1.4. */
GN_API const char *gn_stream_name(const gn_stream_t *s);

/* Close the connection now (the handler may still run; every later call
 * on S returns -EBADF). 0, or -EBADF when it was closed already. Since
 * ABI 1.4. */
GN_API int gn_stream_close(gn_stream_t *s);

/* 1 once the worker is stopping (TERM, a reload's old generation, TTOU,
 * max_requests): finish soon, within graceful_timeout; else 0. Since ABI
 * 1.4. */
GN_API int gn_stream_stopping(const gn_stream_t *s);

/* ------------------------------------------------------------------------
 * Taking over an HTTP connection (Upgrade)
 * ------------------------------------------------------------------------ */

/*
 * From an HTTP app's handle(): switch the connection to PROTOCOL (a token,
 * or token/version, e.g. "line-echo" or "IRC/6.9") and own it through the
 * returned stream handle, as Node's 'upgrade' event or Go's Hijack give a
 * socket. The server sends "101 Switching Protocols" with Date, Server,
 * the headers the app added with gn_response_header (Connection is refused
 * there already; an Upgrade line of the app's, e.g. kept from a 426, is
 * left out) and its own Connection: Upgrade and Upgrade: PROTOCOL.
 *
 * The gn_stream_* calls then work on the connection: the first bytes read
 * are those the client sent after the request head (pipelined before it
 * saw the 101); gn_stream_stopping, the cancellation near graceful_timeout
 * (-ECANCELED), the addresses all work as for a stream app, and
 * gn_stream_name returns PROTOCOL. request_timeout no longer applies. The
 * handle is valid until handle() returns; the server closes the connection
 * then (it never serves HTTP again), and the access log line says 101,
 * counts the bytes written to the stream, and names PROTOCOL. The
 * request's accessors (method, path, headers, addresses) keep working
 * until then; the response takes nothing more (its calls return
 * -EALREADY).
 *
 * Refused, with nothing sent and the response still the app's to answer,
 * NULL with errno:
 *   EPROTO    the client did not ask for PROTOCOL: the request is not
 *             HTTP/1.1, or its Upgrade header does not list PROTOCOL (as
 *             sent, compared without case), or its Connection header
 *             lacks "upgrade" (RFC 9110 7.8: an unasked-for 101 would
 *             garble the client's stream). Answer 426 or 400 yourself.
 *   EBUSY     the request has a body not read to its end (gn_request_read
 *             until it returns 0): its bytes are not the new protocol's.
 *   EALREADY  a head was sent already (gn_response_flush, an upgrade).
 *   EINVAL    RES is NULL or PROTOCOL is not a token (or token/token).
 *   EPIPE     the client is gone, or the 101 could not be sent (then the
 *             connection is lost: return).
 *   ENOMEM, or EPERM off the loop's thread.
 * Any method may upgrade (the client chose it). Since ABI 1.4.
 */
GN_API gn_stream_t *gn_response_upgrade(gn_response_t *res,
                                        const char *protocol);

#ifdef __cplusplus
}
#endif

#endif /* GREENICORN_STREAM_H */
