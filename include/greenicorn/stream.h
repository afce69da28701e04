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
 * Since ABI 1.4. */
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

#ifdef __cplusplus
}
#endif

#endif /* GREENICORN_STREAM_H */
