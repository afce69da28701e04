/*
 * greenicorn/green.h - the green API: cooperative calls a handler makes
 * instead of blocking ones (sleep and yield, waiting on a descriptor,
 * connecting with names resolved without blocking, reading, writing,
 * accepting), green threads with their events, semaphores and queues,
 * and a thread pool for what cannot cooperate.
 *
 * Part of the plugin ABI: a plugin includes <greenicorn.h>, which includes
 * this header; the rules for threads and errors are written there.
 */
#ifndef GREENICORN_GREEN_H
#define GREENICORN_GREEN_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "greenicorn/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Green API: cooperative calls for handlers
 * ------------------------------------------------------------------------
 *
 * Every call below that "may yield" suspends the calling green thread (a
 * request's coroutine, or one gn_spawn started) while it waits, and the
 * worker serves its other connections meanwhile. Each takes a TIMEOUT in
 * seconds (fractions allowed; a negative one means no limit) and returns
 * -ETIMEDOUT when it passes.
 *
 * Cancellation: a request is cancelled when its request_timeout passes,
 * and when its client goes away (closes or resets the connection) if the
 * cancel_on_disconnect setting is on; by default such a handler runs to
 * its end and only its writes to the client fail (-EPIPE). Once a request
 * is cancelled every green call of it that has to wait returns -ECANCELED
 * at once (one that completes without waiting still succeeds): return,
 * and the server answers 504 (or, to a client that left, nothing; the
 * access log says 499). gn_kill cancels one green thread the same way.
 *
 * Outside a green thread (in init, in a hook) the calls block like the
 * libc calls they stand for, with the same timeouts; the ones that only
 * make sense between green threads (join, events, semaphores, queues)
 * return -EWOULDBLOCK when they would have to wait there.
 */

/* Sleep SECONDS (fractions allowed). 0, -EINVAL for a negative or
 * non-finite value, or -ECANCELED. May yield. */
GN_API int gn_sleep(double seconds);

/* Let every other green thread that is ready run, then go on: for long
 * CPU work in a handler (call it every few milliseconds; max_blocking_ms
 * warns about code that does not). 0, or -ECANCELED. May yield. Since
 * ABI 1.3. */
GN_API int gn_yield(void);

/* gn_wait_fd's EVENTS and result. */
#define GN_WAIT_READ 1
#define GN_WAIT_WRITE 2

/* Wait until FD (any descriptor poll(2) takes) is ready for EVENTS
 * (GN_WAIT_READ and/or GN_WAIT_WRITE). The ready ones (> 0; a hang-up or
 * an error counts as ready, for the next read or write to report),
 * -ETIMEDOUT, -ECANCELED, or -EINVAL for bad arguments. May yield. Since
 * ABI 1.3. */
GN_API int gn_wait_fd(int fd, int events, double timeout);

/*
 * Connect to HOST (a name, resolved without blocking the worker, or an
 * IPv4 or IPv6 address) on PORT over TCP, trying each address in turn,
 * all within TIMEOUT. The connected socket (non-blocking, close-on-exec,
 * TCP_NODELAY; the caller closes it), or -ETIMEDOUT, -ECONNREFUSED,
 * -EHOSTUNREACH when the name has no address, -EAGAIN when the name
 * servers could not say (try again later), -ECANCELED... May yield.
 * Outside a green thread the name is resolved by getaddrinfo(3), which
 * does not honour TIMEOUT. Since ABI 1.3.
 */
GN_API int gn_connect_tcp(const char *host, int port, double timeout);

/* Connect to the unix socket at PATH (stream). The socket, or a negative
 * errno as above (-ENOENT when nothing is there). May yield. Since ABI
 * 1.3. */
GN_API int gn_connect_unix(const char *path, double timeout);

/* Read up to LEN bytes from FD (a socket, pipe, tty or regular file;
 * blocking or not). The bytes read (> 0), 0 at end of file (or when LEN is
 * 0), or a negative errno. Regular files are read directly (the disk
 * never says "not ready"). A blocking pipe or tty is only read once poll
 * says it is ready, so the worker never blocks on it. May yield. Since ABI
 * 1.3. */
GN_API ssize_t gn_read(int fd, void *buf, size_t len, double timeout);

/* Write all LEN bytes of BUF to FD. LEN, or a negative errno (-EPIPE when
 * the peer is gone; SIGPIPE is never raised), in which case an unknown
 * part may have gone out. A blocking pipe is written PIPE_BUF bytes at a
 * time, each once poll says it fits. May yield. Since ABI 1.3. */
GN_API ssize_t gn_write(int fd, const void *buf, size_t len, double timeout);

/* gn_read and gn_write over IOVCNT buffers (at most 64: -EINVAL beyond):
 * readv reads what is there (up to their total), writev writes them all.
 * May yield. Since ABI 1.3. */
GN_API ssize_t gn_readv(int fd, const struct iovec *iov, int iovcnt,
                        double timeout);
GN_API ssize_t gn_writev(int fd, const struct iovec *iov, int iovcnt,
                         double timeout);

/* Accept a connection on the listening socket LFD (one the app owns). The
 * new socket (non-blocking, close-on-exec), its peer in ADDR and *ADDRLEN
 * when they are not NULL, or a negative errno. Make LFD non-blocking when
 * other processes accept on it too: a blocking one is accepted from once
 * poll says a connection waits, and another process may take it first.
 * May yield. Since ABI 1.3. */
GN_API int gn_accept(int lfd, struct sockaddr *addr, socklen_t *addrlen,
                     double timeout);

/* ---- green threads and their synchronisation (gevent's) ---------------- */

/* A green thread: a function running in a coroutine of its own. */
typedef struct gn_thread gn_thread_t;

/*
 * Start FN(ARG) in a new green thread; it first runs when the caller next
 * waits (or yields). The thread belongs to the green thread that spawned
 * it: when a request ends (its handler returned) every thread it spawned
 * that is still running is cancelled (gn_kill) and the request ends once
 * they have returned, so a thread never outlives the request, nor the
 * memory the request lends it. Spawned outside any green thread (in init,
 * say), it belongs to the worker, and is cancelled when the worker stops.
 * NULL when out of memory. Since ABI 1.3.
 */
GN_API gn_thread_t *gn_spawn(int (*fn)(void *arg), void *arg);

/* Wait until T's function returned; then *RESULT (if not NULL) is what it
 * returned and T is freed. 0, -ETIMEDOUT (T still runs and must be joined
 * again), -ECANCELED, -EBUSY when another thread is joining T, -EDEADLK
 * for T itself. May yield. Since ABI 1.3. */
GN_API int gn_join(gn_thread_t *t, double timeout, int *result);

/* Cancel T: the green call it waits in, and every later one, return
 * -ECANCELED. It still has to be joined. 0, or -ESRCH when it already
 * returned. Since ABI 1.3. */
GN_API int gn_kill(gn_thread_t *t);

/* An event (gevent.event.Event): set wakes every waiter, and waits return
 * at once until it is cleared. Free it only when no thread waits on it. */
typedef struct gn_event gn_event_t;
GN_API gn_event_t *gn_event_new(void);
GN_API void gn_event_set(gn_event_t *e);
GN_API void gn_event_clear(gn_event_t *e);
GN_API int gn_event_is_set(const gn_event_t *e);
/* 0 once E is set, -ETIMEDOUT, -ECANCELED. May yield. */
GN_API int gn_event_wait(gn_event_t *e, double timeout);
GN_API void gn_event_free(gn_event_t *e);

/* A counting semaphore (gevent.lock.Semaphore) holding COUNT units:
 * acquire takes one, waiting while there is none (first come, first
 * served); release gives one back. */
typedef struct gn_sem gn_sem_t;
GN_API gn_sem_t *gn_sem_new(unsigned count);
/* 0 with a unit taken, -ETIMEDOUT, -ECANCELED. May yield. */
GN_API int gn_sem_acquire(gn_sem_t *s, double timeout);
GN_API void gn_sem_release(gn_sem_t *s);
GN_API void gn_sem_free(gn_sem_t *s);

/* A bounded queue of pointers (gevent.queue.Queue(maxsize)), first in,
 * first out: put waits while it holds CAPACITY items, get while it is
 * empty. */
typedef struct gn_queue gn_queue_t;
GN_API gn_queue_t *gn_queue_new(size_t capacity);
/* 0, -ETIMEDOUT, -ECANCELED. May yield. */
GN_API int gn_queue_put(gn_queue_t *q, void *item, double timeout);
/* 0 with the oldest item in *ITEM, -ETIMEDOUT, -ECANCELED. May yield. */
GN_API int gn_queue_get(gn_queue_t *q, void **item, double timeout);
GN_API size_t gn_queue_len(const gn_queue_t *q);
GN_API void gn_queue_free(gn_queue_t *q);

/* ---- a thread pool for what cannot cooperate (gevent's threadpool) ---- */

/*
 * Run FN(ARG) on one of the worker's pool threads and park the calling
 * green thread until it returns, for what would block the worker and
 * cannot be made cooperative: CPU-heavy work, a library making raw system
 * calls, file I/O on a slow disk. 0 with what FN returned in *RESULT (if
 * not NULL), -ETIMEDOUT, -ECANCELED, -EAGAIN at once when
 * threadpool_size functions run and threadpool_queue calls wait already
 * (answer "busy", e.g. 503), -EINVAL for a NULL FN, -ENOMEM. May yield.
 *
 * FN runs on a plain thread: the green calls there return -EPERM and,
 * with patch_all, the C library calls it makes are the C library's own
 * (they block that thread, not the worker). It must not touch the
 * request, the response or any green object.
 *
 * On -ETIMEDOUT and -ECANCELED the call returns while FN may still run:
 * it runs on to its end and what it returns is not given to the caller.
 * So ARG must stay valid until FN is done with it, which the caller cannot
 * tell: DROP (may be NULL) is called, on the worker's loop thread outside
 * any green thread (it must not wait), with ARG and what FN returned
 * once FN returned -- or with ARG and NULL, before the call returns, when
 * FN never started (it was still queued: it is then never run). Free ARG
 * and the result there. DROP is called exactly when the call returns
 * -ETIMEDOUT or -ECANCELED, never otherwise; on any other error FN never
 * had ARG.
 *
 * Outside a green thread (an app's init, a hook) FN runs inline on the
 * caller's thread, TIMEOUT not honoured, and the call returns 0: no thread
 * is ever started in the arbiter (preload_app). Since ABI 1.5.
 */
GN_API int gn_run_in_thread(void *(*fn)(void *arg), void *arg,
                            void (*drop)(void *arg, void *result),
                            double timeout, void **result);

#ifdef __cplusplus
}
#endif

#endif /* GREENICORN_GREEN_H */
