/*
 * The green API tests' shared fixture and helpers (green_fixture.h).
 */
#include "green_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "green/dns.h"
#include "green/park.h"
#include "green/sync.h"
#include "greenicorn.h"
#include "run_suite.h"

/* ---- fixture: a loop, a pool, tasks ------------------------------------- */

struct gn_loop *loop;
struct gn_coro_pool *pool;
int running;        /* tasks started and not returned */
static int looping; /* run() is in gn__loop_run */

/* Timers the tests arm (cancellations); stopped at teardown. */
#define MAX_TIMERS 8
static struct gn_watch timers[MAX_TIMERS];
static int ntimers;

static void setup(void)
{
    loop = gn__loop_new();
    pool = gn__coro_pool_new(GN_CORO_STACK_DEFAULT, 8);
    ck_assert_ptr_nonnull(loop);
    ck_assert_ptr_nonnull(pool);
    gn__green_init(loop, NULL);
    gn__threads_init(pool);
    running = 0;
    looping = 0;
    ntimers = 0;
    memset(timers, 0, sizeof(timers));
}

static void stop_loop(int fd, short what, void *arg)
{
    gn__loop_break(loop);
}

/* Give the loop a few turns, for callbacks libevent defers (evdns answers
 * to lookups a task gave up on free their records there). */
static void settle(void)
{
    struct gn_watch w = {0};

    gn__watch_start(&w, loop, -1, 0, 20, stop_loop, NULL);
    gn__loop_run(loop);
    gn__watch_stop(&w);
}

static void teardown(void)
{
    for (int i = 0; i < ntimers; i++)
        gn__watch_stop(&timers[i]);
    settle();
    gn__threads_free();
    gn__dns_shutdown();
    gn__coro_pool_free(pool);
    gn__loop_free(loop);
}

static void task_done(struct gn_coro *co, void *arg)
{
    gn__coro_release(co);
    if (--running == 0 && looping)
        gn__loop_break(loop);
}

/* Start FN(co, ARG) as a task: it runs until its first wait right away.
 * The coroutine is valid until the task returns. */
struct gn_coro *go(gn__coro_fn fn, void *arg)
{
    struct gn_coro *co = gn__coro_new(pool, fn, arg, task_done, NULL);

    ck_assert_ptr_nonnull(co);
    running++;
    gn__coro_resume(co);
    return co;
}

/* Run the loop until every task returned. A loop with nothing armed while
 * a task still waits is a deadlock, and fails here. */
void run(void)
{
    looping = 1;
    if (running > 0)
        gn__loop_run(loop);
    looping = 0;
    ck_assert_msg(running == 0, "%d task(s) still waiting", running);
}

/* Run the loop until nothing is armed (no resolver in use). */
void drain(void)
{
    gn__loop_run(loop);
}

static void cancel_cb(int fd, short what, void *arg)
{
    gn__green_cancel(arg, -ECANCELED);
}

/* Cancel CO's green calls, as a request timeout would, in MS ms. */
void cancel_after(struct gn_coro *co, int64_t ms)
{
    ck_assert_int_lt(ntimers, MAX_TIMERS);
    ck_assert_int_eq(
        gn__watch_start(&timers[ntimers++], loop, -1, 0, ms, cancel_cb, co), 0);
}

/* Call CB(ARG) from a loop callback in MS ms. */
void later(int64_t ms, gn__watch_cb cb, void *arg)
{
    ck_assert_int_lt(ntimers, MAX_TIMERS);
    ck_assert_int_eq(
        gn__watch_start(&timers[ntimers++], loop, -1, 0, ms, cb, arg), 0);
}

/* ---- descriptors -------------------------------------------------------- */

void close_pair(int fds[2])
{
    close(fds[0]);
    close(fds[1]);
}

/* A TCP listener on 127.0.0.1 (an ephemeral port, in *PORT). */
int tcp_listener(int *port, int nonblock, int backlog)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd =
        socket(AF_INET,
               SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(fd, backlog), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* A port nothing listens on (bound once, then closed). */
int closed_port(void)
{
    int port, fd = tcp_listener(&port, 1, 1);

    close(fd);
    return port;
}

int is_nonblocking(int fd)
{
    return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
}

int is_cloexec(int fd)
{
    return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

/* ---- connecting ---------------------------------------------------------- */

void connect_task(struct gn_coro *co, void *arg)
{
    struct conn *c = arg;
    int64_t start = gn_test_now_ms();

    c->rc = c->path ? gn_connect_unix(c->path, c->timeout)
                    : gn_connect_tcp(c->host, c->port, c->timeout);
    c->took_ms = gn_test_now_ms() - start;
}

/* C connected to the listener LFD: check the socket and pass a byte. */
void check_connected(int lfd, int fd, int tcp)
{
    int afd, one = 0;
    socklen_t len = sizeof(one);
    char c;

    ck_assert_int_ge(fd, 0);
    ck_assert(is_nonblocking(fd));
    ck_assert(is_cloexec(fd));
    if (tcp) {
        ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, &len),
                         0);
        ck_assert_int_ne(one, 0);
    }
    afd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(afd, 0);
    ck_assert_int_eq(gn_write(fd, "z", 1, 1), 1);
    ck_assert_int_eq(gn_read(afd, &c, 1, 1), 1);
    ck_assert_int_eq(c, 'z');
    close(afd);
    close(fd);
}

/* ---- test cases ---------------------------------------------------------- */

TCase *test_case(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return tc;
}
