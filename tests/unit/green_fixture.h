/*
 * What the green API's unit tests share (test_green_io.c, _dns.c, _sync.c
 * and the public waits in _park.c): a fixture with a real event loop and
 * a coroutine pool, "tasks" (coroutines standing for requests) started
 * with go() and run until they have all returned, cancellation the way a
 * request is cancelled (gn__green_cancel from a loop callback), and the
 * sockets the tests connect over.
 *
 * Timing assertions are loose: lower bounds a little under the timeout,
 * upper bounds far above it, as this runs on busy machines too.
 */
#ifndef GN_TESTS_GREEN_FIXTURE_H
#define GN_TESTS_GREEN_FIXTURE_H

#include <check.h>
#include <stdint.h>

#include "green/coro.h"
#include "green/loop.h"

extern struct gn_loop *loop;
extern struct gn_coro_pool *pool;
extern int running; /* tasks started and not returned */

/* A test case of S named NAME, with the fixture (loop, pool, green threads,
 * stopped timers and resolver at teardown) and a 30 s timeout. */
TCase *test_case(Suite *s, const char *name);

/* Start FN(co, ARG) as a task: it runs until its first wait right away.
 * The coroutine is valid until the task returns. */
struct gn_coro *go(gn__coro_fn fn, void *arg);

/* Run the loop until every task returned (a deadlock fails). */
void run(void);

/* Run the loop until nothing is armed (no resolver in use). */
void drain(void);

/* Cancel CO's green calls, as a request timeout would, in MS ms. */
void cancel_after(struct gn_coro *co, int64_t ms);

/* Call CB(ARG) from a loop callback in MS ms. */
void later(int64_t ms, gn__watch_cb cb, void *arg);

void close_pair(int fds[2]);

/* A TCP listener on 127.0.0.1 (an ephemeral port, in *PORT). */
int tcp_listener(int *port, int nonblock, int backlog);

/* A port nothing listens on (bound once, then closed). */
int closed_port(void);

int is_nonblocking(int fd);
int is_cloexec(int fd);

/* A green connect for connect_task: to PATH (unix) or HOST:PORT. */
struct conn {
    const char *host;
    const char *path;
    int port;
    double timeout;
    int rc;
    int64_t took_ms;
};

/* Connect as C says, from a task; C's rc and took_ms tell how it went. */
void connect_task(struct gn_coro *co, void *arg);

/* FD connected to the listener LFD: check the socket and pass a byte. */
void check_connected(int lfd, int fd, int tcp);

#endif /* GN_TESTS_GREEN_FIXTURE_H */
