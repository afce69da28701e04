/*
 * Parking for the interposed calls: on one fd (gn__patch_wait, also what
 * the other families use) or on many at once (poll, select), registered
 * in the descriptor table so that a close() of a waited-on fd by another
 * coroutine wakes the waiter with -EBADF.
 */
#ifndef GN_PATCH_WAIT_H
#define GN_PATCH_WAIT_H

#include <poll.h>
#include <stdint.h>

/* The visibility every interposed definition needs: the project compiles
 * with -fvisibility=hidden, and a hidden recv would bind no library. */
#define GN_INTERPOSE __attribute__((visibility("default")))

/*
 * Park the running coroutine until FD is ready for EVENTS (GN_WATCH_READ
 * and/or GN_WATCH_WRITE), TIMEOUT_MS passes (< 0: no limit), FD is closed
 * or replaced through the interposed close/dup2/dup3, or the coroutine is
 * cancelled. Returns the ready GN_WATCH_* bits (> 0), -ETIMEDOUT, -EBADF,
 * or the cancellation error (-ECANCELED). Outside a coroutine it polls,
 * as gn__wait_fd does.
 */
int gn__patch_wait(int fd, int events, int64_t timeout_ms);

/*
 * Park until one of the N entries of FDS is ready for its events
 * (POLLIN-like ones wait for reading, POLLOUT-like ones for writing;
 * entries with a negative fd or no such events are not waited on),
 * TIMEOUT_MS passes (< 0: no limit), one of them is closed (-EBADF), or
 * the coroutine is cancelled. > 0 when something fired (the caller polls
 * again for the exact revents), -ETIMEDOUT, -EBADF, -ECANCELED, -ENOMEM.
 * Only in a coroutine.
 */
int gn__patch_wait_many(const struct pollfd *fds, nfds_t n, int64_t timeout_ms);

/* Monotonic milliseconds, for deadlines. */
int64_t gn__patch_now_ms(void);

/* Milliseconds left until DEADLINE (< 0: none, returns -1); 0 once past. */
int64_t gn__patch_left_ms(int64_t deadline);

/* A socket's SO_RCVTIMEO or SO_SNDTIMEO (OPT) as a deadline from now: -1
 * when it has none (0 in the kernel), or cannot be read. */
int64_t gn__patch_sock_deadline(int fd, int opt);

#endif /* GN_PATCH_WAIT_H */
