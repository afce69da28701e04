/*
 * The descriptor table of patch_all: what the interposed calls remember
 * per fd, and the coroutines parked on each, so that a close() (or a
 * dup2() over it) by another coroutine wakes them with EBADF instead of
 * leaving them parked on a number that now means something else.
 *
 * What it deliberately does not remember: a socket's O_NONBLOCK and its
 * SO_RCVTIMEO / SO_SNDTIMEO. The cooperative calls never change a socket's
 * flags beyond the one call that needs it (connect and accept toggle
 * O_NONBLOCK around the system call and put it back): reads and writes
 * are made with MSG_DONTWAIT instead. So the kernel keeps the library's
 * own view, F_GETFL answers it, fcntl/ioctl(FIONBIO)/setsockopt need no
 * interposing, and a socket used from another thread, from the loop or
 * after patching ends behaves exactly as the library set it. Those
 * settings are read from the kernel only when a call would block, that
 * is, only on the way to a park, which costs far more anyway.
 *
 * The one fact cached is whether an fd is a socket (read/write/readv/
 * writev on anything else pass straight through: files never block in the
 * poll sense). It is learnt with one fstat() on first use in a coroutine
 * (how sockets made outside one, at init or in the arbiter before fork,
 * are adopted), set by socket/socketpair/accept, and forgotten by close/
 * dup/dup2/dup3. An fd closed behind the table's back (fclose, libc's
 * internal closes, another thread) can leave a stale entry: "socket" is
 * corrected by the kernel itself (ENOTSOCK sends the call to the plain
 * path and the entry is refreshed); "not a socket" for a number reused by
 * a socket made behind our back too only makes that socket's reads the
 * C library's plain blocking call, never a wrong answer.
 *
 * The table is the loop thread's alone: nothing here is touched from any
 * other thread (gn__fd_tracking() says whether the caller may).
 */
#ifndef GN_PATCH_FD_H
#define GN_PATCH_FD_H

#include "green/park.h"
#include "patch/patch.h"

enum gn_fd_kind {
    GN_FD_UNKNOWN = 0, /* not seen yet, or forgotten: fstat on next use */
    GN_FD_SOCKET,
    GN_FD_OTHER, /* a file, pipe, tty, eventfd ...: always passes through */
};

/* A coroutine parked on an fd, linked into the fd's entry for as long as
 * the park lasts. Lives on the parked coroutine's stack. */
struct gn_fd_waiter {
    struct gn_waiter *wt;
    struct gn_watch *watch; /* a watch of its own on the fd, or NULL */
    int fd;
    int linked;
    struct gn_fd_waiter *next, *prev;
};

/* Whether the caller may use the table: the loop's thread (in a coroutine
 * or in the loop itself) of a worker with any family patched; not only
 * the socket family, as poll and the other families' waits (select, dns,
 * ssl) park through the table too. */
static inline int gn__fd_tracking(void)
{
    return gn__coro_patch_families != 0 && gn__on_loop_thread();
}

/* FD's kind: cached, else learnt with one fstat and cached. */
enum gn_fd_kind gn__fd_kind(int fd);

/* Record FD's kind (a socket we just made, or what a failed call proved). */
void gn__fd_set_kind(int fd, enum gn_fd_kind kind);

/* FD was just made as a KIND (socket, socketpair, accept): a number the
 * table may still hold from a descriptor closed behind its back, so wake
 * that one's waiters (-EBADF) and record KIND. */
void gn__fd_new(int fd, enum gn_fd_kind kind);

/* FD is being closed or replaced: wake every coroutine parked on it with
 * -EBADF and forget its kind. */
void gn__fd_forget(int fd);

/* Link N (on the caller's stack) into FD's waiters, for WT's park. When
 * the table cannot grow, N stays unlinked (a close then cannot wake it:
 * its watch still ends with the timeout). */
void gn__fd_link(struct gn_fd_waiter *n, int fd, struct gn_waiter *wt);
void gn__fd_unlink(struct gn_fd_waiter *n);

#endif /* GN_PATCH_FD_H */
