/*
 * Binding gn__sys_* to the C library. The executable is linked with
 * export_dynamic and will one day define recv, connect, close ... itself
 * (patch_all: an unmodified blocking client library made cooperative).
 * A plain call to recv from greenicorn's own code would then bind to that
 * definition, at static link time even, since the core is linked into the
 * same executable. So each function is looked up once with
 * dlsym(RTLD_NEXT, name), which searches the objects loaded after the
 * executable, i.e. libc (or a sanitizer's interceptor in front of it),
 * never the executable's own definitions; as libco does for its hooks.
 *
 * Why not syscall(2): it bypasses libc's errno and cancellation handling
 * for no gain, is itself a libc symbol, and a sanitizer would no longer see
 * the buffers the kernel fills. The pointers cost an indirect call per
 * operation, next to nothing beside the system call: bench/instructions
 * measured hello at 5,543 user-space instructions per request before and
 * 5,548 after (+0.1%).
 */
#include "green/sys.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gn_sys_table gn__sys;

/* NAME in the objects after the executable; aborts when missing, as no
 * I/O could be done without it. */
static void *next(const char *name)
{
    void *fn = dlsym(RTLD_NEXT, name);

    if (fn == NULL) {
        fprintf(stderr, "greenicorn: no %s in the C library: %s\n", name,
                dlerror());
        abort();
    }
    return fn;
}

/* FIELD of the table from the libc function of the same name. Copied, not
 * cast: ISO C has no conversion between object and function pointers. */
#define BIND_AS(field, name)                                                   \
    do {                                                                       \
        void *fn_ = next(name);                                                \
        memcpy(&gn__sys.field, &fn_, sizeof(gn__sys.field));                   \
    } while (0)
#define BIND(field) BIND_AS(field, #field)

/* With a 64-bit off_t on a 32-bit system, <sys/sendfile.h> renames the
 * call to sendfile64: bind what a plain call would reach. */
#if defined(__USE_FILE_OFFSET64) && __SIZEOF_LONG__ == 4
#define SENDFILE_NAME "sendfile64"
#else
#define SENDFILE_NAME "sendfile"
#endif

_Static_assert(sizeof(void *) == sizeof(int (*)(int)),
               "function pointers are object-pointer sized (POSIX dlsym)");

/* Constructor: set before main, and before any test or plugin can call. */
__attribute__((constructor)) void gn__sys_init(void)
{
    if (gn__sys.close != NULL)
        return;
    BIND(socket);
    BIND(connect);
    BIND(accept4);
    BIND(read);
    BIND(readv);
    BIND(recv);
    BIND(recvmsg);
    BIND(write);
    BIND(writev);
    BIND(send);
    BIND(sendmsg);
    BIND_AS(sendfile, SENDFILE_NAME);
    BIND(shutdown);
    BIND(poll);
    BIND(getsockopt);
    BIND(setsockopt);
    BIND(fstat);
    BIND(fcntl);
    BIND(socketpair);
    BIND(recvfrom);
    BIND(sendto);
    BIND(ppoll);
    BIND(select);
    BIND(pselect);
    BIND(dup);
    BIND(dup2);
    BIND(dup3);
    BIND(sleep);
    BIND(usleep);
    BIND(nanosleep);
    BIND(clock_nanosleep);
    BIND(getaddrinfo);
    BIND(getnameinfo);
    BIND(gethostbyname);
    BIND(gethostbyname2);
    BIND(gethostbyname_r);
    BIND(gethostbyname2_r);
    BIND(timerfd_create);
    BIND(timerfd_settime);
    BIND(epoll_create1);
    BIND(epoll_wait);
    BIND(close); /* last: marks the table done */
}
