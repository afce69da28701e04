/*
 * Unit tests of the green ZeroMQ layer (contrib/green/zeromq.c) on a real
 * event loop, over inproc sockets: a receive parks its task while others
 * run, times out, and never waits with ZMQ_DONTWAIT; a waiter whose
 * ZMQ_FD signal another task's call consumed is still woken; whole
 * multipart messages go and come; gn_zmq_poll waits on several sockets;
 * a socket waited on is not closed; and each process gets a context of
 * its own. The fixture is green_fixture.c's.
 */
#include <check.h>
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <greenicorn/zeromq.h>

#include "green_fixture.h"
#include "greenicorn.h"
#include "run_suite.h"

/* A socket of TYPE bound (BIND) or connected to the inproc ENDPOINT. */
static gn_zmq_t *zsock(int type, const char *endpoint, int bind)
{
    gn_zmq_t *s = gn_zmq_socket(NULL, type);

    ck_assert_ptr_nonnull(s);
    if (bind)
        ck_assert_int_eq(zmq_bind(gn_zmq_handle(s), endpoint), 0);
    else
        ck_assert_int_eq(zmq_connect(gn_zmq_handle(s), endpoint), 0);
    return s;
}

struct receiver {
    gn_zmq_t *s;
    double timeout;
    int flags;
    int rc;
    char buf[16];
    int64_t took_ms;
};

static void recv_task(struct gn_coro *co, void *arg)
{
    struct receiver *r = arg;
    int64_t start = gn_test_now_ms();

    (void)co;
    r->rc = gn_zmq_recv(r->s, r->buf, sizeof(r->buf), r->flags, r->timeout);
    r->took_ms = gn_test_now_ms() - start;
}

struct sender {
    gn_zmq_t *s;
    double after; /* seconds to sleep first */
    const char *text;
    int rc;
};

static void send_task(struct gn_coro *co, void *arg)
{
    struct sender *w = arg;

    (void)co;
    ck_assert_int_eq(gn_sleep(w->after), 0);
    w->rc = gn_zmq_send(w->s, w->text, strlen(w->text), 0, 1);
}

static void use_gn_wait_fd(void)
{
    gn_zmq_set_wait(gn_wait_fd);
}

START_TEST(recv_parks_while_another_task_sends)
{
    gn_zmq_t *pull = zsock(ZMQ_PULL, "inproc://park", 1);
    gn_zmq_t *push = zsock(ZMQ_PUSH, "inproc://park", 0);
    struct receiver r = {.s = pull, .timeout = 5};
    struct sender w = {.s = push, .after = 0.1, .text = "hello"};

    use_gn_wait_fd();
    go(recv_task, &r);
    go(send_task, &w);
    run();
    /* The sender's green sleep ran while the receiver waited. */
    ck_assert_int_eq(w.rc, 5);
    ck_assert_int_eq(r.rc, 5);
    ck_assert_mem_eq(r.buf, "hello", 5);
    ck_assert_int_ge(r.took_ms, 80);
    ck_assert_int_lt(r.took_ms, 2000);
    ck_assert_int_eq(gn_zmq_close(push), 0);
    ck_assert_int_eq(gn_zmq_close(pull), 0);
}
END_TEST

START_TEST(recv_times_out_and_dontwait_says_eagain)
{
    gn_zmq_t *pull = zsock(ZMQ_PULL, "inproc://idle", 1);
    struct receiver r = {.s = pull, .timeout = 0.2};
    struct receiver now = {.s = pull, .timeout = 5, .flags = ZMQ_DONTWAIT};

    use_gn_wait_fd();
    go(recv_task, &r);
    go(recv_task, &now);
    run();
    ck_assert_int_eq(r.rc, -ETIMEDOUT);
    ck_assert_int_ge(r.took_ms, 150);
    ck_assert_int_lt(r.took_ms, 2000);
    ck_assert_int_eq(now.rc, -EAGAIN);
    ck_assert_int_lt(now.took_ms, 100);
    ck_assert_int_eq(gn_zmq_close(pull), 0);
}
END_TEST

/* ---- a signal consumed by another task's call --------------------------- */

struct ping {
    gn_zmq_t *dealer, *router;
    int rc;
};

/* Send on the DEALER, answer from the ROUTER, and while the answer's
 * signal is on the DEALER's ZMQ_FD (the reader parked on it has not run
 * yet: this task has not yielded), send on the DEALER again: that send
 * processes the DEALER's commands, which drains the signal. */
static void ping_task(struct gn_coro *co, void *arg)
{
    struct ping *p = arg;
    zmq_msg_t parts[2];
    struct iovec reply[2];

    (void)co;
    ck_assert_int_eq(gn_zmq_send(p->dealer, "ping", 4, 0, 1), 4);
    zmq_msg_init(&parts[0]);
    zmq_msg_init(&parts[1]);
    ck_assert_int_eq(gn_zmq_recv_parts(p->router, parts, 2, 1), 2);
    reply[0] = (struct iovec){zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0])};
    reply[1] = (struct iovec){"pong", 4};
    ck_assert_int_eq(gn_zmq_send_parts(p->router, reply, 2, 1), 0);
    zmq_msg_close(&parts[0]);
    zmq_msg_close(&parts[1]);
    usleep(100 * 1000); /* without yielding: libzmq passes the answer on */
    p->rc = gn_zmq_send(p->dealer, "more", 4, 0, 1);
}

START_TEST(a_call_that_drains_the_signal_wakes_the_waiter)
{
    struct ping p = {.dealer = zsock(ZMQ_DEALER, "inproc://drain", 0),
                     .router = zsock(ZMQ_ROUTER, "inproc://drain", 1)};
    struct receiver r;

    r = (struct receiver){.s = p.dealer, .timeout = 3};
    use_gn_wait_fd();
    go(recv_task, &r);
    go(ping_task, &p);
    run();
    ck_assert_int_eq(p.rc, 4);
    ck_assert_int_eq(r.rc, 4);
    ck_assert_mem_eq(r.buf, "pong", 4);
    /* Woken when the answer came, not when its timeout ran out (its last
     * look at ZMQ_EVENTS would have found the answer then). */
    ck_assert_int_lt(r.took_ms, 1000);
    ck_assert_int_eq(gn_zmq_close(p.dealer), 0);
    ck_assert_int_eq(gn_zmq_close(p.router), 0);
}
END_TEST

/* ---- multipart ---------------------------------------------------------- */

static void multipart_task(struct gn_coro *co, void *arg)
{
    gn_zmq_t **s = arg; /* {push, pull} */
    struct iovec out[3] = {{"a", 1}, {"", 0}, {"ccc", 3}};
    zmq_msg_t in[3];

    (void)co;
    ck_assert_int_eq(gn_zmq_send_parts(s[0], out, 3, 1), 0);
    ck_assert_int_eq(gn_zmq_send_parts(s[0], out, 3, 1), 0);
    for (int i = 0; i < 3; i++)
        zmq_msg_init(&in[i]);
    ck_assert_int_eq(gn_zmq_recv_parts(s[1], in, 3, 1), 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(zmq_msg_size(&in[i]), out[i].iov_len);
        ck_assert_mem_eq(zmq_msg_data(&in[i]), out[i].iov_base, out[i].iov_len);
    }
    /* Room for two: the third is dropped, and the next message is whole. */
    ck_assert_int_eq(gn_zmq_recv_parts(s[1], in, 2, 1), -EMSGSIZE);
    ck_assert_uint_eq(zmq_msg_size(&in[0]), 1);
    ck_assert_int_eq(gn_zmq_send(s[0], "z", 1, 0, 1), 1);
    ck_assert_int_eq(gn_zmq_recv_parts(s[1], in, 3, 1), 1);
    ck_assert_mem_eq(zmq_msg_data(&in[0]), "z", 1);
    for (int i = 0; i < 3; i++)
        zmq_msg_close(&in[i]);
    ck_assert_int_eq(gn_zmq_send_parts(s[0], out, 0, 1), -EINVAL);
}

START_TEST(multipart_messages_go_and_come_whole)
{
    gn_zmq_t *s[2] = {zsock(ZMQ_PUSH, "inproc://parts", 1),
                      zsock(ZMQ_PULL, "inproc://parts", 0)};

    use_gn_wait_fd();
    go(multipart_task, s);
    run();
    ck_assert_int_eq(gn_zmq_close(s[0]), 0);
    ck_assert_int_eq(gn_zmq_close(s[1]), 0);
}
END_TEST

/* ---- several sockets ---------------------------------------------------- */

struct poller {
    gn_zmq_pollitem_t items[2];
    double timeout;
    int rc;
    int64_t took_ms;
};

static void poll_task(struct gn_coro *co, void *arg)
{
    struct poller *p = arg;
    int64_t start = gn_test_now_ms();

    (void)co;
    p->rc = gn_zmq_poll(p->items, 2, p->timeout);
    p->took_ms = gn_test_now_ms() - start;
}

START_TEST(poll_waits_for_any_of_several)
{
    gn_zmq_t *a = zsock(ZMQ_PULL, "inproc://a", 1);
    gn_zmq_t *b = zsock(ZMQ_PULL, "inproc://b", 1);
    gn_zmq_t *to_b = zsock(ZMQ_PUSH, "inproc://b", 0);
    struct poller p = {.items = {{a, ZMQ_POLLIN, 0}, {b, ZMQ_POLLIN, 0}},
                       .timeout = 5};
    struct poller idle = {.items = {{a, ZMQ_POLLIN, 0}, {a, ZMQ_POLLIN, 0}},
                          .timeout = 0.2};
    struct sender w = {.s = to_b, .after = 0.1, .text = "b"};

    use_gn_wait_fd();
    go(poll_task, &p);
    go(send_task, &w);
    run();
    ck_assert_int_eq(p.rc, 1);
    ck_assert_int_eq(p.items[0].revents, 0);
    ck_assert_int_eq(p.items[1].revents, ZMQ_POLLIN);
    ck_assert_int_ge(p.took_ms, 80);
    ck_assert_int_lt(p.took_ms, 2000);

    go(poll_task, &idle); /* the same socket twice is fine */
    run();
    ck_assert_int_eq(idle.rc, -ETIMEDOUT);
    ck_assert_int_ge(idle.took_ms, 150);
    idle.items[0].events = 0;
    ck_assert_int_eq(gn_zmq_poll(idle.items, 2, 0), -EINVAL);
    ck_assert_int_eq(gn_zmq_close(to_b), 0);
    ck_assert_int_eq(gn_zmq_close(b), 0);
    ck_assert_int_eq(gn_zmq_close(a), 0);
}
END_TEST

/* ---- closing ------------------------------------------------------------ */

static void close_task(struct gn_coro *co, void *arg)
{
    struct receiver *r = arg;

    (void)co;
    ck_assert_int_eq(gn_zmq_close(r->s), -EBUSY);
    r->flags = 1; /* ran while the receiver waited */
}

START_TEST(a_socket_waited_on_is_not_closed)
{
    gn_zmq_t *pull = zsock(ZMQ_PULL, "inproc://busy", 1);
    struct receiver r = {.s = pull, .timeout = 0.2};
    struct receiver closer = {.s = pull};

    use_gn_wait_fd();
    go(recv_task, &r);
    go(close_task, &closer);
    run();
    ck_assert_int_eq(closer.flags, 1);
    ck_assert_int_eq(r.rc, -ETIMEDOUT);
    ck_assert_int_eq(gn_zmq_close(pull), 0);
    ck_assert_int_eq(gn_zmq_close(NULL), 0);
}
END_TEST

/* ---- outside a coroutine, and zmq_msg_t ---------------------------------- */

START_TEST(outside_a_coroutine_the_default_wait_polls)
{
    gn_zmq_t *pull = zsock(ZMQ_PULL, "inproc://plain", 1);
    gn_zmq_t *push = zsock(ZMQ_PUSH, "inproc://plain", 0);
    int64_t start = gn_test_now_ms();
    char buf[4];
    zmq_msg_t msg;

    gn_zmq_set_wait(NULL); /* poll(2), as before any hook ran */
    ck_assert_int_eq(gn_zmq_recv(pull, buf, sizeof(buf), 0, 0.1), -ETIMEDOUT);
    ck_assert_int_ge(gn_test_now_ms() - start, 80);
    /* A longer frame is cut to the buffer, and says its size. */
    ck_assert_int_eq(gn_zmq_send(push, "truncated", 9, 0, 1), 9);
    ck_assert_int_eq(gn_zmq_recv(pull, buf, sizeof(buf), 0, 1), 9);
    ck_assert_mem_eq(buf, "trun", 4);
    ck_assert_int_eq(zmq_msg_init_size(&msg, 3), 0);
    memcpy(zmq_msg_data(&msg), "msg", 3);
    ck_assert_int_eq(gn_zmq_msg_send(push, &msg, 0, 1), 3);
    ck_assert_int_eq(zmq_msg_init(&msg), 0);
    ck_assert_int_eq(gn_zmq_msg_recv(pull, &msg, 0, 1), 3);
    ck_assert_mem_eq(zmq_msg_data(&msg), "msg", 3);
    zmq_msg_close(&msg);
    ck_assert_int_eq(gn_zmq_close(push), 0);
    ck_assert_int_eq(gn_zmq_close(pull), 0);
}
END_TEST

/* ---- contexts ----------------------------------------------------------- */

START_TEST(each_process_gets_its_own_context)
{
    void *parent = gn_zmq_context();
    int status;
    pid_t pid;

    ck_assert_ptr_nonnull(parent);
    ck_assert_ptr_eq(gn_zmq_context(), parent);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        void *child = gn_zmq_context();
        _exit(child != NULL && child != parent && gn_zmq_context() == child
                  ? 0
                  : 1);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

static Suite *zeromq_suite(void)
{
    Suite *s = suite_create("contrib/zeromq");
    TCase *tc;

    tc = test_case(s, "waiting");
    tcase_add_test(tc, recv_parks_while_another_task_sends);
    tcase_add_test(tc, recv_times_out_and_dontwait_says_eagain);
    tcase_add_test(tc, a_call_that_drains_the_signal_wakes_the_waiter);
    tcase_add_test(tc, a_socket_waited_on_is_not_closed);

    tc = test_case(s, "messages");
    tcase_add_test(tc, multipart_messages_go_and_come_whole);
    tcase_add_test(tc, poll_waits_for_any_of_several);

    tcase_add_test(tc, outside_a_coroutine_the_default_wait_polls);

    tc = test_case(s, "context");
    tcase_add_test(tc, each_process_gets_its_own_context);
    return s;
}

int main(void)
{
    return gn_test_run_suite(zeromq_suite());
}
