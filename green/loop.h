/*
 * The worker's event loop: a thin layer over libevent so that the rest of
 * the worker never includes <event2/...> (and a different back-end stays a
 * small change: this and dns.c, the resolver).
 *
 * A gn_watch waits once for an fd to become readable or writable, or for a
 * timeout, then calls its callback; it is re-armed by starting it again.
 * A persistent watch (GN_WATCH_PERSIST) stays armed until stopped, for
 * listening sockets and signals. Watches are embedded in their owner's
 * struct; zero-initialise them before first use.
 */
#ifndef GN_GREEN_LOOP_H
#define GN_GREEN_LOOP_H

#include <stdint.h>

struct gn_loop;

/* What happened to a watch, as bits passed to its callback. */
enum {
    GN_WATCH_READ = 0x02,    /* the fd is readable (or has hung up) */
    GN_WATCH_WRITE = 0x04,   /* the fd is writable */
    GN_WATCH_TIMEOUT = 0x01, /* the timeout passed first */
    GN_WATCH_SIGNAL = 0x08,  /* the signal arrived (fd is its number) */
    GN_WATCH_PERSIST = 0x10, /* stay armed after firing */
    GN_WATCH_ET = 0x20,      /* edge-triggered (with PERSIST) */
    GN_WATCH_CLOSED = 0x80,  /* the peer closed its end (EPOLLRDHUP) */
};

typedef void (*gn__watch_cb)(int fd, short what, void *arg);

/* Room for a libevent `struct event`, exactly: 128 bytes on 64-bit Linux,
 * aligned as its pointers (loop.c checks at compile time that it fits). No
 * slack: every idle connection embeds one. */
#define GN__WATCH_STORAGE 128

struct gn_watch {
    _Alignas(8) unsigned char ev[GN__WATCH_STORAGE];
};

/* Create a loop; NULL with errno set. Owned by the caller, freed with
 * gn__loop_free() once every watch on it is stopped. */
struct gn_loop *gn__loop_new(void);
void gn__loop_free(struct gn_loop *loop);

/* The libevent base under LOOP, for the one other libevent user, dns.c. */
struct event_base;
struct event_base *gn__loop_event_base(struct gn_loop *loop);

/* Run until gn__loop_break() or until no watch is armed. 0 or -EIO. */
int gn__loop_run(struct gn_loop *loop);
void gn__loop_break(struct gn_loop *loop);

/*
 * Let FN do the loop's waiting (net/uring.c's ring, which watches the
 * loop's own descriptors through one poll on its epoll set): each time
 * the loop would call epoll_wait(2), FN(ARG, TIMEOUT_MS) is called instead
 * (TIMEOUT_MS < 0: no limit, 0: do not sleep) and says whether the epoll
 * set may have events (> 0: they are then collected without sleeping), it
 * has none (0), or a negative errno (-EINTR: a signal came). FN NULL: the
 * loop waits in epoll_wait again. FN runs inside the loop's dispatch: it
 * may activate watches (gn__watch_activate), no more. 0, or -ENOTSUP when
 * LOOP's epoll descriptor is not known (not the newest loop): the loop
 * then keeps waiting in epoll_wait.
 */
typedef int (*gn__loop_wait_fn)(void *arg, int timeout_ms);
int gn__loop_set_wait(struct gn_loop *loop, gn__loop_wait_fn fn, void *arg);

/* LOOP's epoll descriptor, for FN to poll, or -1 when unknown. */
int gn__loop_epoll_fd(const struct gn_loop *loop);

/* The loop's cached wall-clock time in seconds (refreshed per iteration). */
int64_t gn__loop_time(struct gn_loop *loop);

/*
 * Arm W: call CB(fd, what, ARG) once FD is ready for EVENTS
 * (GN_WATCH_READ/WRITE, optionally | GN_WATCH_PERSIST) or TIMEOUT_MS passes
 * (< 0: no timeout). FD = -1 with EVENTS = 0 makes a pure timer. Re-arming
 * an armed watch replaces its previous setting. 0 or a negative errno.
 */
int gn__watch_start(struct gn_watch *w, struct gn_loop *loop, int fd,
                    int events, int64_t timeout_ms, gn__watch_cb cb, void *arg);

/* Arm W for signal SIGNO (persistent). 0 or a negative errno. */
int gn__watch_signal(struct gn_watch *w, struct gn_loop *loop, int signo,
                     gn__watch_cb cb, void *arg);

/* Disarm W; harmless when it is not armed or was never started. */
void gn__watch_stop(struct gn_watch *w);

/* Call W's callback with WHAT from the loop, at its next turn's callbacks
 * (never from inside this call). W must be armed. */
void gn__watch_activate(struct gn_watch *w, int what);

/* Whether W is armed. */
int gn__watch_active(const struct gn_watch *w);

/* Whether W was ever started (a zeroed watch was not); stopping it does
 * not undo that. */
int gn__watch_started(const struct gn_watch *w);

#endif /* GN_GREEN_LOOP_H */
