/*
 * patch_all: unmodified blocking C libraries made cooperative. The
 * executable defines libc's blocking entry points (socket, connect, read,
 * poll, sleep, getaddrinfo ...) with default visibility, so the dynamic
 * linker binds every library's calls to them, libraries an app dlopens
 * later included. Each definition asks gn__patch_on() first: inside a
 * coroutine of a worker with that family patched, a call that would block
 * parks the coroutine and lets the loop run; anywhere else (the arbiter,
 * the loop itself, another thread, a worker with patching off) it is the
 * C library's own call, at the cost of one branch. greenicorn's own I/O
 * never comes here: it calls green/sys.h.
 */
#ifndef GN_PATCH_PATCH_H
#define GN_PATCH_PATCH_H

#include <stddef.h>

#include "green/coro.h"

/* The families, as gevent's patch_all(socket=, dns=, time=, select=,
 * ssl=) names them; each can be opted out of. */
enum gn_patch_family {
    GN_PATCH_SOCKET = 1u << 0, /* socket, connect, accept, read, write ... */
    GN_PATCH_DNS = 1u << 1,    /* getaddrinfo, getnameinfo, gethostbyname */
    GN_PATCH_TIME = 1u << 2,   /* sleep, usleep, nanosleep ... */
    GN_PATCH_SELECT = 1u << 3, /* poll, ppoll, select, pselect */
    GN_PATCH_SSL = 1u << 4,    /* OpenSSL's error queue kept per coroutine */
    GN_PATCH_ALL = (1u << 5) - 1,
};

/* Whether the caller is a coroutine of a worker with FAMILY patched: then
 * an interposed call may park it. One TLS load and one test. */
static inline int gn__patch_on(unsigned family)
{
    return __builtin_expect((gn__patch_now & family) != 0, 0);
}

/* Patch FAMILIES (GN_PATCH_* bits; 0: none) in the coroutines this worker
 * runs from now on. Call on the loop's thread, before serving. */
void gn__patch_enable(unsigned families);

/* The families enabled, e.g. "socket, dns, time, select, ssl", or "off":
 * for the worker's boot line. Written into BUF (LEN bytes). */
const char *gn__patch_describe(char *buf, size_t len);

#endif /* GN_PATCH_PATCH_H */
