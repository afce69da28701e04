/*
 * Unit tests of the green sync primitives (green/sync.c) on a real event
 * loop: green threads (spawn, join, kill, the reaping at request end),
 * events, semaphores and queues, with their timeout and cancellation
 * paths, and what each does outside a coroutine. The fixture is
 * green_fixture.c's.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "green/coro.h"
#include "green/dns.h"
#include "green/loop.h"
#include "green/park.h"
#include "green/sync.h"
#include "green_fixture.h"
#include "greenicorn.h"
#include "run_suite.h"

/* ---- green threads ----------------------------------------------------------
 */

struct sleeper {
    double seconds;
    int ret;      /* what the thread returns */
    int rc;       /* what its gn_sleep returned */
    int returned; /* it got to the end */
};

static int sleeper_fn(void *arg)
{
    struct sleeper *s = arg;

    s->rc = gn_sleep(s->seconds);
    s->returned = 1;
    return s->ret;
}

static int set_flag_fn(void *arg)
{
    *(int *)arg = 1;
    return 0;
}

struct spawn_case {
    int use_yield;
    int ran_at_spawn, ran_after_wait;
};

static void spawn_then_wait(struct gn_coro *co, void *arg)
{
    struct spawn_case *s = arg;
    int ran = 0;
    gn_thread_t *t = gn_spawn(set_flag_fn, &ran);

    ck_assert_ptr_nonnull(t);
    s->ran_at_spawn = ran;
    if (s->use_yield)
        ck_assert_int_eq(gn_yield(), 0);
    else
        ck_assert_int_eq(gn_sleep(0.02), 0);
    s->ran_after_wait = ran;
    ck_assert_int_eq(gn_join(t, 5, NULL), 0);
}

/* _i: 0 the spawner sleeps, 1 it yields. */
START_TEST(spawn_runs_when_the_spawner_waits)
{
    struct spawn_case s = {.use_yield = _i};

    go(spawn_then_wait, &s);
    run();
    ck_assert_int_eq(s.ran_at_spawn, 0);
    ck_assert_int_eq(s.ran_after_wait, 1);
    ck_assert_uint_eq(gn__threads_live(), 0);
}
END_TEST

struct join_case {
    int rc, result;
    int rc2, result2;
    size_t live_before, live_after;
};

static void join_result_task(struct gn_coro *co, void *arg)
{
    struct join_case *j = arg;
    struct sleeper s = {.seconds = 0.02, .ret = 42};
    struct sleeper quick = {.seconds = 0, .ret = 1};
    gn_thread_t *t = gn_spawn(sleeper_fn, &s);
    gn_thread_t *u = gn_spawn(sleeper_fn, &quick);

    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(u);
    j->live_before = gn__threads_live();
    j->rc = gn_join(t, 5, &j->result);
    j->rc2 = gn_join(u, 5, NULL); /* RESULT may be NULL */
    j->live_after = gn__threads_live();
}

/* Joined threads are freed by the join: LeakSanitizer checks it. */
START_TEST(join_returns_the_result_and_frees)
{
    struct join_case j = {0};

    go(join_result_task, &j);
    run();
    ck_assert_uint_eq(j.live_before, 2);
    ck_assert_int_eq(j.rc, 0);
    ck_assert_int_eq(j.result, 42);
    ck_assert_int_eq(j.rc2, 0);
    ck_assert_uint_eq(j.live_after, 0);
}
END_TEST

static void join_timeout_task(struct gn_coro *co, void *arg)
{
    struct join_case *j = arg;
    struct sleeper s = {.seconds = 0.3, .ret = 7};
    gn_thread_t *t = gn_spawn(sleeper_fn, &s);

    ck_assert_ptr_nonnull(t);
    j->rc = gn_join(t, 0.05, &j->result);
    j->live_before = gn__threads_live(); /* still running */
    j->rc2 = gn_join(t, 5, &j->result2);
}

START_TEST(join_times_out_then_joins_again)
{
    struct join_case j = {.result = -1};

    go(join_timeout_task, &j);
    run();
    ck_assert_int_eq(j.rc, -ETIMEDOUT);
    ck_assert_int_eq(j.result, -1); /* untouched */
    ck_assert_uint_eq(j.live_before, 1);
    ck_assert_int_eq(j.rc2, 0);
    ck_assert_int_eq(j.result2, 7);
}
END_TEST

static void join_cancel_task(struct gn_coro *co, void *arg)
{
    struct join_case *j = arg;
    struct sleeper s = {.seconds = 0.2, .ret = 9};
    gn_thread_t *t = gn_spawn(sleeper_fn, &s);

    ck_assert_ptr_nonnull(t);
    j->rc = gn_join(t, 5, NULL);
    /* Cancelled stays cancelled: the next join returns at once... */
    j->rc2 = gn_join(t, 5, NULL);
    /* ...until cleared; T itself was not cancelled and is still there. */
    gn__coro_set_cancelled(co, 0);
    j->result2 = -1;
    ck_assert_int_eq(gn_join(t, 5, &j->result2), 0);
    ck_assert_int_eq(s.rc, 0);
}

START_TEST(join_is_cancelled)
{
    struct join_case j = {0};

    cancel_after(go(join_cancel_task, &j), 50);
    run();
    ck_assert_int_eq(j.rc, -ECANCELED);
    ck_assert_int_eq(j.rc2, -ECANCELED);
    ck_assert_int_eq(j.result2, 9);
}
END_TEST

START_TEST(join_outside_a_coroutine_would_block)
{
    struct sleeper s = {.seconds = 0.02, .ret = 5};
    gn_thread_t *t = gn_spawn(sleeper_fn, &s); /* the worker's thread */
    int result = 0;

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(gn_join(t, 1, &result), -EWOULDBLOCK);
    ck_assert_int_eq(gn_join(t, 0, &result), -EWOULDBLOCK);
    drain();
    ck_assert_int_eq(s.returned, 1);
    /* Finished: joining it needs no wait, so it works outside too. */
    ck_assert_int_eq(gn_join(t, 1, &result), 0);
    ck_assert_int_eq(result, 5);
}
END_TEST

struct self_join {
    gn_thread_t *self;
    int rc;
};

static int self_join_fn(void *arg)
{
    struct self_join *sj = arg;

    sj->rc = gn_join(sj->self, 1, NULL);
    return 0;
}

static void self_join_task(struct gn_coro *co, void *arg)
{
    struct self_join *sj = arg;

    sj->self = gn_spawn(self_join_fn, sj);
    ck_assert_ptr_nonnull(sj->self);
    ck_assert_int_eq(gn_join(sj->self, 5, NULL), 0);
}

START_TEST(join_of_itself_is_edeadlk)
{
    struct self_join sj = {.rc = 1};

    go(self_join_task, &sj);
    run();
    ck_assert_int_eq(sj.rc, -EDEADLK);
}
END_TEST

struct busy {
    gn_thread_t *t;
    struct sleeper s;
    int first_rc, first_result, second_rc;
};

static void first_joiner(struct gn_coro *co, void *arg)
{
    struct busy *b = arg;

    b->t = gn_spawn(sleeper_fn, &b->s);
    ck_assert_ptr_nonnull(b->t);
    b->first_rc = gn_join(b->t, 5, &b->first_result);
}

static void second_joiner(struct gn_coro *co, void *arg)
{
    struct busy *b = arg;

    gn_sleep(0.05); /* the first joiner waits by now */
    b->second_rc = gn_join(b->t, 1, NULL);
}

START_TEST(join_by_two_threads_is_ebusy)
{
    struct busy b = {.s = {.seconds = 0.2, .ret = 3}};

    go(first_joiner, &b);
    go(second_joiner, &b);
    run();
    ck_assert_int_eq(b.second_rc, -EBUSY);
    ck_assert_int_eq(b.first_rc, 0);
    ck_assert_int_eq(b.first_result, 3);
}
END_TEST

struct kill_case {
    int kill_rc, join_rc, result;
    int64_t took_ms;
};

static void kill_sleeper_task(struct gn_coro *co, void *arg)
{
    struct kill_case *k = arg;
    struct sleeper s = {.seconds = 10};
    gn_thread_t *t = gn_spawn(sleeper_fn, &s);
    int64_t start = gn_test_now_ms();

    ck_assert_ptr_nonnull(t);
    gn_sleep(0.02); /* T sleeps now */
    k->kill_rc = gn_kill(t);
    k->join_rc = gn_join(t, 5, &k->result);
    k->took_ms = gn_test_now_ms() - start;
    ck_assert_int_eq(s.rc, -ECANCELED);
}

START_TEST(kill_cancels_a_sleeping_thread)
{
    struct kill_case k = {0};

    go(kill_sleeper_task, &k);
    run();
    ck_assert_int_eq(k.kill_rc, 0);
    ck_assert_int_eq(k.join_rc, 0);
    ck_assert_int_eq(k.result, 0);
    ck_assert_int_lt(k.took_ms, 5000);
}
END_TEST

static void kill_before_start_task(struct gn_coro *co, void *arg)
{
    struct kill_case *k = arg;
    struct sleeper s = {.seconds = 10, .ret = 4};
    gn_thread_t *t = gn_spawn(sleeper_fn, &s);

    ck_assert_ptr_nonnull(t);
    k->kill_rc = gn_kill(t); /* before it ever ran */
    k->join_rc = gn_join(t, 5, &k->result);
    ck_assert_int_eq(s.rc, -ECANCELED);
}

START_TEST(kill_before_the_thread_starts)
{
    struct kill_case k = {0};

    go(kill_before_start_task, &k);
    run();
    ck_assert_int_eq(k.kill_rc, 0);
    ck_assert_int_eq(k.join_rc, 0);
    ck_assert_int_eq(k.result, 4); /* its function still ran, to the end */
}
END_TEST

static void kill_finished_task(struct gn_coro *co, void *arg)
{
    struct kill_case *k = arg;
    int flag = 0;
    gn_thread_t *t = gn_spawn(set_flag_fn, &flag);

    ck_assert_ptr_nonnull(t);
    gn_sleep(0.02);
    ck_assert_int_eq(flag, 1);
    k->kill_rc = gn_kill(t);
    k->join_rc = gn_join(t, 5, NULL); /* still to be joined */
}

START_TEST(kill_of_a_finished_thread_is_esrch)
{
    struct kill_case k = {0};

    go(kill_finished_task, &k);
    run();
    ck_assert_int_eq(k.kill_rc, -ESRCH);
    ck_assert_int_eq(k.join_rc, 0);
}
END_TEST

struct reap_case {
    struct sleeper a, b;
    int quick_flag;
    int cancel_self;
    size_t live_before, live_after;
    int64_t took_ms;
};

/* A "request": spawns two long sleepers and a quick thread, never joins
 * any, then ends the way a request ends. */
static void reap_task(struct gn_coro *co, void *arg)
{
    struct reap_case *r = arg;
    int64_t start;

    ck_assert_ptr_nonnull(gn_spawn(sleeper_fn, &r->a));
    ck_assert_ptr_nonnull(gn_spawn(sleeper_fn, &r->b));
    ck_assert_ptr_nonnull(gn_spawn(set_flag_fn, &r->quick_flag));
    gn_sleep(0.02); /* they all ran; the quick one finished, unjoined */
    r->live_before = gn__threads_live();
    if (r->cancel_self) /* a request that timed out: reaped all the same */
        gn__green_cancel(co, -ECANCELED);
    start = gn_test_now_ms();
    gn__threads_reap(co);
    r->took_ms = gn_test_now_ms() - start;
    r->live_after = gn__threads_live();
}

/* _i: 1 when the request itself was cancelled first. */
START_TEST(reap_kills_waits_for_and_frees_the_children)
{
    struct reap_case r = {
        .a = {.seconds = 10}, .b = {.seconds = 10}, .cancel_self = _i};

    go(reap_task, &r);
    run();
    ck_assert_uint_eq(r.live_before, 2);
    ck_assert_int_eq(r.quick_flag, 1);
    /* Both sleepers were cancelled and had returned when reap did. */
    ck_assert_int_eq(r.a.rc, -ECANCELED);
    ck_assert_int_eq(r.b.rc, -ECANCELED);
    ck_assert_int_eq(r.a.returned, 1);
    ck_assert_int_eq(r.b.returned, 1);
    ck_assert_uint_eq(r.live_after, 0);
    ck_assert_int_lt(r.took_ms, 5000);
    /* Every record is freed: LeakSanitizer would say otherwise. */
}
END_TEST

struct nested {
    struct sleeper child;
    int parent_rc, parent_result;
    size_t live_after;
};

static int parent_fn(void *arg)
{
    struct nested *n = arg;

    ck_assert_ptr_nonnull(gn_spawn(sleeper_fn, &n->child));
    gn_sleep(0.02); /* the child sleeps now */
    return 3;       /* without joining it */
}

static void nested_task(struct gn_coro *co, void *arg)
{
    struct nested *n = arg;
    gn_thread_t *p = gn_spawn(parent_fn, n);

    ck_assert_ptr_nonnull(p);
    n->parent_rc = gn_join(p, 5, &n->parent_result);
    n->live_after = gn__threads_live();
}

START_TEST(nested_spawn_is_reaped_with_its_parent)
{
    struct nested n = {.child = {.seconds = 10}};

    go(nested_task, &n);
    run();
    ck_assert_int_eq(n.parent_rc, 0);
    ck_assert_int_eq(n.parent_result, 3);
    /* The parent's end reaped its child before the join returned. */
    ck_assert_int_eq(n.child.returned, 1);
    ck_assert_int_eq(n.child.rc, -ECANCELED);
    ck_assert_uint_eq(n.live_after, 0);
}
END_TEST

START_TEST(worker_threads_are_cancelled_when_the_worker_stops)
{
    struct sleeper s = {.seconds = 10, .ret = 1};
    gn_thread_t *t = gn_spawn(sleeper_fn, &s);
    int64_t start = gn_test_now_ms();
    int result = 0;

    ck_assert_ptr_nonnull(t);
    gn_sleep(0.02); /* outside: blocks; T has not started */
    gn__threads_stop();
    drain();
    ck_assert_int_eq(s.rc, -ECANCELED);
    ck_assert_int_lt(gn_test_now_ms() - start, 5000);
    ck_assert_int_eq(gn_join(t, 1, &result), 0);
    ck_assert_int_eq(result, 1);
}
END_TEST

/* ---- events
 * ------------------------------------------------------------------ */

struct ev_waiter {
    gn_event_t *e;
    double timeout;
    int rc;
    int64_t took_ms;
};

static void ev_wait_task(struct gn_coro *co, void *arg)
{
    struct ev_waiter *w = arg;
    int64_t start = gn_test_now_ms();

    w->rc = gn_event_wait(w->e, w->timeout);
    w->took_ms = gn_test_now_ms() - start;
}

static void ev_set_later(struct gn_coro *co, void *arg)
{
    gn_sleep(0.05);
    gn_event_set(arg);
}

START_TEST(event_set_wakes_every_waiter)
{
    gn_event_t *e = gn_event_new();
    struct ev_waiter w[3];

    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(gn_event_is_set(e), 0);
    for (int i = 0; i < 3; i++) {
        w[i] = (struct ev_waiter){.e = e, .timeout = 5, .rc = 1};
        go(ev_wait_task, &w[i]);
    }
    go(ev_set_later, e);
    run();
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(w[i].rc, 0);
        ck_assert_int_ge(w[i].took_ms, 40);
        ck_assert_int_lt(w[i].took_ms, 5000);
    }
    ck_assert_int_ne(gn_event_is_set(e), 0);
    gn_event_free(e);
}
END_TEST

START_TEST(event_wait_after_set_returns_at_once)
{
    gn_event_t *e = gn_event_new();
    struct ev_waiter w = {.e = e, .timeout = 5, .rc = 1};

    ck_assert_ptr_nonnull(e);
    gn_event_set(e);
    go(ev_wait_task, &w);
    /* Returned without waiting: the task is over before the loop runs. */
    ck_assert_int_eq(running, 0);
    ck_assert_int_eq(w.rc, 0);
    ck_assert_int_eq(gn_event_wait(e, 0), 0); /* outside too */
    gn_event_free(e);
}
END_TEST

START_TEST(event_clear_makes_waits_wait_again)
{
    gn_event_t *e = gn_event_new();
    struct ev_waiter w = {.e = e, .timeout = 0.1, .rc = 1};

    ck_assert_ptr_nonnull(e);
    gn_event_set(e);
    gn_event_clear(e);
    ck_assert_int_eq(gn_event_is_set(e), 0);
    go(ev_wait_task, &w);
    run();
    ck_assert_int_eq(w.rc, -ETIMEDOUT);
    ck_assert_int_ge(w.took_ms, 90);
    gn_event_free(e);
}
END_TEST

START_TEST(event_wait_is_cancelled)
{
    gn_event_t *e = gn_event_new();
    struct ev_waiter w = {.e = e, .timeout = 10, .rc = 1};
    struct ev_waiter other = {.e = e, .timeout = 5, .rc = 1};

    ck_assert_ptr_nonnull(e);
    cancel_after(go(ev_wait_task, &w), 50);
    go(ev_wait_task, &other);
    go(ev_set_later, e); /* ...at 50 ms as well: either order is fine */
    run();
    ck_assert_msg(w.rc == -ECANCELED || w.rc == 0, "cancelled wait: %d", w.rc);
    ck_assert_int_lt(w.took_ms, 5000);
    ck_assert_int_eq(other.rc, 0); /* the others still wake */
    gn_event_free(e);
}
END_TEST

START_TEST(event_wait_cancelled_before_set)
{
    gn_event_t *e = gn_event_new();
    struct ev_waiter w = {.e = e, .timeout = 10, .rc = 1};

    ck_assert_ptr_nonnull(e);
    cancel_after(go(ev_wait_task, &w), 50);
    run();
    ck_assert_int_eq(w.rc, -ECANCELED);
    ck_assert_int_lt(w.took_ms, 5000);
    ck_assert_int_eq(gn_event_is_set(e), 0);
    gn_event_free(e);
}
END_TEST

/* ---- semaphores
 * --------------------------------------------------------------- */

struct sem_case {
    gn_sem_t *s;
    int rc[4];
    int64_t took_ms;
};

static void sem_count_task(struct gn_coro *co, void *arg)
{
    struct sem_case *c = arg;
    int64_t start = gn_test_now_ms();

    c->rc[0] = gn_sem_acquire(c->s, 5);
    c->rc[1] = gn_sem_acquire(c->s, 5);
    c->took_ms = gn_test_now_ms() - start;
    c->rc[2] = gn_sem_acquire(c->s, 0.1); /* none left */
    gn_sem_release(c->s);
    c->rc[3] = gn_sem_acquire(c->s, 5);
}

START_TEST(sem_counts_units)
{
    struct sem_case c = {.s = gn_sem_new(2)};

    ck_assert_ptr_nonnull(c.s);
    go(sem_count_task, &c);
    run();
    ck_assert_int_eq(c.rc[0], 0);
    ck_assert_int_eq(c.rc[1], 0);
    ck_assert_int_lt(c.took_ms, 1000);
    ck_assert_int_eq(c.rc[2], -ETIMEDOUT);
    ck_assert_int_eq(c.rc[3], 0);
    gn_sem_free(c.s);
}
END_TEST

struct fifo {
    gn_sem_t *s;
    int next;     /* acquirers in line so far */
    int order[3]; /* acquirer index, by the release that served it */
    int served;
    int rc[3];
    int stolen_rc;
};

struct acquirer {
    struct fifo *f;
    int index;
};

static void acquire_in_turn(struct gn_coro *co, void *arg)
{
    struct acquirer *a = arg;

    gn_sleep(0.02 * (a->index + 1)); /* line up in index order */
    a->f->next++;
    a->f->rc[a->index] = gn_sem_acquire(a->f->s, 5);
    a->f->order[a->f->served++] = a->index;
}

static void release_one_by_one(struct gn_coro *co, void *arg)
{
    struct fifo *f = arg;

    while (f->next < 3)
        gn_sleep(0.01);
    /* The unit released goes to the first in line, not to a newcomer. */
    gn_sem_release(f->s);
    f->stolen_rc = gn_sem_acquire(f->s, 0.05);
    for (int i = 1; i < 3; i++) {
        gn_sleep(0.02); /* the one served has run */
        gn_sem_release(f->s);
    }
}

START_TEST(sem_hands_units_over_first_come_first_served)
{
    struct fifo f = {.s = gn_sem_new(0)};
    struct acquirer a[3];

    ck_assert_ptr_nonnull(f.s);
    for (int i = 0; i < 3; i++) {
        a[i] = (struct acquirer){&f, i};
        go(acquire_in_turn, &a[i]);
    }
    go(release_one_by_one, &f);
    run();
    ck_assert_int_eq(f.stolen_rc, -ETIMEDOUT);
    ck_assert_int_eq(f.served, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(f.rc[i], 0);
        ck_assert_int_eq(f.order[i], i);
    }
    gn_sem_free(f.s);
}
END_TEST

struct sem_waiter {
    gn_sem_t *s;
    double timeout;
    int rc;
    int64_t took_ms;
};

static void sem_wait_task(struct gn_coro *co, void *arg)
{
    struct sem_waiter *w = arg;
    int64_t start = gn_test_now_ms();

    w->rc = gn_sem_acquire(w->s, w->timeout);
    w->took_ms = gn_test_now_ms() - start;
}

START_TEST(sem_acquire_times_out)
{
    struct sem_waiter w = {.s = gn_sem_new(0), .timeout = 0.1, .rc = 1};

    ck_assert_ptr_nonnull(w.s);
    go(sem_wait_task, &w);
    run();
    ck_assert_int_eq(w.rc, -ETIMEDOUT);
    ck_assert_int_ge(w.took_ms, 90);
    /* The timed-out waiter left the line: a release goes to the count. */
    gn_sem_release(w.s);
    ck_assert_int_eq(gn_sem_acquire(w.s, 0), 0);
    gn_sem_free(w.s);
}
END_TEST

START_TEST(sem_acquire_is_cancelled)
{
    struct sem_waiter w = {.s = gn_sem_new(0), .timeout = 10, .rc = 1};

    ck_assert_ptr_nonnull(w.s);
    cancel_after(go(sem_wait_task, &w), 50);
    run();
    ck_assert_int_eq(w.rc, -ECANCELED);
    ck_assert_int_lt(w.took_ms, 5000);
    gn_sem_release(w.s);
    ck_assert_int_eq(gn_sem_acquire(w.s, 0), 0);
    gn_sem_free(w.s);
}
END_TEST

/* A cancellation and a release in the same turn of the loop: the
 * cancelled waiter has not run yet (it is still in the line) when the
 * unit comes. */
struct cancel_release {
    struct gn_coro *co;
    gn_sem_t *s;
};

static void cancel_then_release(int fd, short what, void *arg)
{
    struct cancel_release *cr = arg;

    gn__green_cancel(cr->co, -ECANCELED);
    gn_sem_release(cr->s);
}

START_TEST(sem_cancelled_waiter_passes_the_unit_on)
{
    gn_sem_t *s = gn_sem_new(0);
    struct sem_waiter first = {.s = s, .timeout = 10, .rc = 1};
    struct sem_waiter second = {.s = s, .timeout = 2, .rc = 1};
    struct cancel_release cr = {.s = s};

    ck_assert_ptr_nonnull(s);
    cr.co = go(sem_wait_task, &first);
    go(sem_wait_task, &second);
    later(50, cancel_then_release, &cr);
    run();
    ck_assert_int_eq(first.rc, -ECANCELED);
    ck_assert_msg(second.rc == 0,
                  "the unit released after the first waiter's cancel "
                  "did not reach the second waiter: %d",
                  second.rc);
    gn_sem_free(s);
}
END_TEST

START_TEST(sem_cancelled_waiter_gives_the_unit_to_the_count)
{
    gn_sem_t *s = gn_sem_new(0);
    struct sem_waiter w = {.s = s, .timeout = 10, .rc = 1};
    struct cancel_release cr = {.s = s};

    ck_assert_ptr_nonnull(s);
    cr.co = go(sem_wait_task, &w);
    later(50, cancel_then_release, &cr);
    run();
    ck_assert_int_eq(w.rc, -ECANCELED);
    ck_assert_msg(gn_sem_acquire(s, 0) == 0,
                  "the unit released with a cancelled waiter in line "
                  "was lost");
    gn_sem_free(s);
}
END_TEST

/* ---- queues
 * ------------------------------------------------------------------- */

static int item[8]; /* items are pointers to these */

START_TEST(queue_of_capacity_0_is_null)
{
    ck_assert_ptr_null(gn_queue_new(0));
}
END_TEST

START_TEST(queue_is_first_in_first_out)
{
    gn_queue_t *q = gn_queue_new(3);
    void *got;

    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq(gn_queue_len(q), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(gn_queue_put(q, &item[i], 0), 0);
        ck_assert_uint_eq(gn_queue_len(q), (size_t)i + 1);
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(gn_queue_get(q, &got, 0), 0);
        ck_assert_ptr_eq(got, &item[i]);
    }
    ck_assert_uint_eq(gn_queue_len(q), 0);
    /* Around the ring's end. */
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(gn_queue_put(q, &item[round], 0), 0);
        ck_assert_int_eq(gn_queue_put(q, &item[round + 1], 0), 0);
        ck_assert_int_eq(gn_queue_get(q, &got, 0), 0);
        ck_assert_ptr_eq(got, &item[round]);
        ck_assert_int_eq(gn_queue_get(q, &got, 0), 0);
        ck_assert_ptr_eq(got, &item[round + 1]);
    }
    gn_queue_free(q);
}
END_TEST

struct pc {
    gn_queue_t *q;
    int put_rc[3];
    int64_t second_put_ms; /* since the start */
    int get_rc[3];
    void *got[3];
    int64_t start;
};

static void producer(struct gn_coro *co, void *arg)
{
    struct pc *p = arg;

    p->put_rc[0] = gn_queue_put(p->q, &item[0], 5); /* room: at once */
    p->put_rc[1] = gn_queue_put(p->q, &item[1], 5); /* full: waits */
    p->second_put_ms = gn_test_now_ms() - p->start;
    p->put_rc[2] = gn_queue_put(p->q, &item[2], 5);
}

static void late_consumer(struct gn_coro *co, void *arg)
{
    struct pc *p = arg;

    gn_sleep(0.05);
    for (int i = 0; i < 3; i++)
        p->get_rc[i] = gn_queue_get(p->q, &p->got[i], 5);
}

START_TEST(queue_put_waits_while_full)
{
    struct pc p = {.q = gn_queue_new(1), .start = gn_test_now_ms()};

    ck_assert_ptr_nonnull(p.q);
    go(producer, &p);
    go(late_consumer, &p);
    run();
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(p.put_rc[i], 0);
        ck_assert_int_eq(p.get_rc[i], 0);
        ck_assert_ptr_eq(p.got[i], &item[i]);
    }
    /* The second put returned only once the consumer took the first. */
    ck_assert_int_ge(p.second_put_ms, 40);
    ck_assert_uint_eq(gn_queue_len(p.q), 0);
    gn_queue_free(p.q);
}
END_TEST

struct getter {
    gn_queue_t *q;
    double timeout;
    int rc;
    void *got;
    int64_t took_ms;
};

static void get_task(struct gn_coro *co, void *arg)
{
    struct getter *g = arg;
    int64_t start = gn_test_now_ms();

    g->rc = gn_queue_get(g->q, &g->got, g->timeout);
    g->took_ms = gn_test_now_ms() - start;
}

struct putter {
    gn_queue_t *q;
    void *what;
    double timeout;
    int rc;
    size_t len_after;
    int64_t took_ms;
};

static void put_task(struct gn_coro *co, void *arg)
{
    struct putter *p = arg;
    int64_t start = gn_test_now_ms();

    p->rc = gn_queue_put(p->q, p->what, p->timeout);
    p->took_ms = gn_test_now_ms() - start;
}

static void put_two_later(struct gn_coro *co, void *arg)
{
    struct putter *p = arg;

    gn_sleep(0.1);
    p->rc = gn_queue_put(p->q, &item[0], 5);
    ck_assert_int_eq(gn_queue_put(p->q, &item[1], 5), 0);
    /* Straight into the getters' hands: nothing went through the ring. */
    p->len_after = gn_queue_len(p->q);
}

static void get_in_turn(struct gn_coro *co, void *arg)
{
    struct getter *g = arg;

    gn_sleep(g->timeout); /* here: the delay that sets the order */
    g->rc = gn_queue_get(g->q, &g->got, 5);
}

START_TEST(queue_get_waits_for_a_put)
{
    gn_queue_t *q = gn_queue_new(4);
    struct getter g[2] = {{.q = q, .timeout = 0.02, .rc = 1},
                          {.q = q, .timeout = 0.04, .rc = 1}};
    struct putter p = {.q = q, .rc = 1};

    ck_assert_ptr_nonnull(q);
    go(get_in_turn, &g[0]);
    go(get_in_turn, &g[1]);
    go(put_two_later, &p);
    run();
    ck_assert_int_eq(p.rc, 0);
    ck_assert_uint_eq(p.len_after, 0);
    ck_assert_int_eq(g[0].rc, 0);
    ck_assert_int_eq(g[1].rc, 0);
    /* The first to wait gets the first item. */
    ck_assert_ptr_eq(g[0].got, &item[0]);
    ck_assert_ptr_eq(g[1].got, &item[1]);
    gn_queue_free(q);
}
END_TEST

START_TEST(queue_get_times_out)
{
    struct getter g = {.q = gn_queue_new(1), .timeout = 0.1, .rc = 1};

    ck_assert_ptr_nonnull(g.q);
    go(get_task, &g);
    run();
    ck_assert_int_eq(g.rc, -ETIMEDOUT);
    ck_assert_int_ge(g.took_ms, 90);
    /* It left the line: a later put goes into the ring. */
    ck_assert_int_eq(gn_queue_put(g.q, &item[0], 0), 0);
    ck_assert_uint_eq(gn_queue_len(g.q), 1);
    gn_queue_free(g.q);
}
END_TEST

START_TEST(queue_put_times_out)
{
    struct putter p = {
        .q = gn_queue_new(1), .what = &item[1], .timeout = 0.1, .rc = 1};
    void *got;

    ck_assert_ptr_nonnull(p.q);
    ck_assert_int_eq(gn_queue_put(p.q, &item[0], 0), 0);
    go(put_task, &p);
    run();
    ck_assert_int_eq(p.rc, -ETIMEDOUT);
    ck_assert_int_ge(p.took_ms, 90);
    /* Its item did not go in, and a get later does not bring it in. */
    ck_assert_uint_eq(gn_queue_len(p.q), 1);
    ck_assert_int_eq(gn_queue_get(p.q, &got, 0), 0);
    ck_assert_ptr_eq(got, &item[0]);
    ck_assert_uint_eq(gn_queue_len(p.q), 0);
    gn_queue_free(p.q);
}
END_TEST

START_TEST(queue_get_is_cancelled)
{
    struct getter g = {.q = gn_queue_new(1), .timeout = 10, .rc = 1};

    ck_assert_ptr_nonnull(g.q);
    cancel_after(go(get_task, &g), 50);
    run();
    ck_assert_int_eq(g.rc, -ECANCELED);
    ck_assert_int_lt(g.took_ms, 5000);
    ck_assert_int_eq(gn_queue_put(g.q, &item[0], 0), 0);
    ck_assert_uint_eq(gn_queue_len(g.q), 1);
    gn_queue_free(g.q);
}
END_TEST

START_TEST(queue_put_is_cancelled)
{
    struct putter p = {
        .q = gn_queue_new(1), .what = &item[1], .timeout = 10, .rc = 1};
    void *got;

    ck_assert_ptr_nonnull(p.q);
    ck_assert_int_eq(gn_queue_put(p.q, &item[0], 0), 0);
    cancel_after(go(put_task, &p), 50);
    run();
    ck_assert_int_eq(p.rc, -ECANCELED);
    ck_assert_int_lt(p.took_ms, 5000);
    ck_assert_int_eq(gn_queue_get(p.q, &got, 0), 0);
    ck_assert_ptr_eq(got, &item[0]);
    ck_assert_uint_eq(gn_queue_len(p.q), 0);
    gn_queue_free(p.q);
}
END_TEST

/* Cancellations meeting a hand-off in the same turn of the loop, as in
 * the semaphore's case: the cancelled waiter is still in line. */
struct cancel_queue {
    struct gn_coro *co;
    gn_queue_t *q;
    int rc;
    void *got;
};

static void cancel_then_put(int fd, short what, void *arg)
{
    struct cancel_queue *cq = arg;

    gn__green_cancel(cq->co, -ECANCELED);
    cq->rc = gn_queue_put(cq->q, &item[5], 0);
}

static void cancel_then_get(int fd, short what, void *arg)
{
    struct cancel_queue *cq = arg;

    gn__green_cancel(cq->co, -ECANCELED);
    cq->rc = gn_queue_get(cq->q, &cq->got, 0);
}

START_TEST(queue_cancelled_getter_does_not_lose_an_item)
{
    struct getter g = {.q = gn_queue_new(2), .timeout = 10, .rc = 1};
    struct cancel_queue cq = {.q = g.q, .rc = 1};

    ck_assert_ptr_nonnull(g.q);
    cq.co = go(get_task, &g);
    later(50, cancel_then_put, &cq);
    run();
    ck_assert_int_eq(cq.rc, 0); /* the put succeeded... */
    /* ...so the item is either the getter's or still in the queue. */
    ck_assert_msg((g.rc == 0 && g.got == &item[5]) ||
                      (g.rc == -ECANCELED && gn_queue_len(g.q) == 1),
                  "item put lost: getter %d, queue length %zu", g.rc,
                  gn_queue_len(g.q));
    gn_queue_free(g.q);
}
END_TEST

START_TEST(queue_cancelled_putter_does_not_put)
{
    struct putter p = {
        .q = gn_queue_new(1), .what = &item[6], .timeout = 10, .rc = 1};
    struct cancel_queue cq = {.q = p.q, .rc = 1};

    ck_assert_ptr_nonnull(p.q);
    ck_assert_int_eq(gn_queue_put(p.q, &item[0], 0), 0);
    cq.co = go(put_task, &p);
    later(50, cancel_then_get, &cq);
    run();
    ck_assert_int_eq(cq.rc, 0);
    ck_assert_ptr_eq(cq.got, &item[0]);
    /* A put that failed put nothing; one that succeeded put its item. */
    ck_assert_msg((p.rc == -ECANCELED && gn_queue_len(p.q) == 0) ||
                      (p.rc == 0 && gn_queue_len(p.q) == 1),
                  "put returned %d with %zu item(s) in the queue", p.rc,
                  gn_queue_len(p.q));
    gn_queue_free(p.q);
}
END_TEST

/* ---- outside any coroutine
 * ---------------------------------------------------- */

/* In init or a hook: what would have to wait returns -EWOULDBLOCK; what
 * need not wait works. */
START_TEST(waits_outside_a_coroutine_would_block)
{
    gn_event_t *e = gn_event_new();
    gn_sem_t *s = gn_sem_new(1);
    gn_queue_t *q = gn_queue_new(1);
    void *got = NULL;

    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(gn_event_wait(e, 1), -EWOULDBLOCK);
    gn_event_set(e);
    ck_assert_int_eq(gn_event_wait(e, 1), 0);

    ck_assert_int_eq(gn_sem_acquire(s, 1), 0);
    ck_assert_int_eq(gn_sem_acquire(s, 1), -EWOULDBLOCK);
    gn_sem_release(s);
    ck_assert_int_eq(gn_sem_acquire(s, -1), 0);

    ck_assert_int_eq(gn_queue_get(q, &got, 1), -EWOULDBLOCK);
    ck_assert_int_eq(gn_queue_put(q, &item[0], 1), 0);
    ck_assert_int_eq(gn_queue_put(q, &item[1], 1), -EWOULDBLOCK);
    ck_assert_uint_eq(gn_queue_len(q), 1);
    ck_assert_int_eq(gn_queue_get(q, &got, 1), 0);
    ck_assert_ptr_eq(got, &item[0]);

    gn_event_free(e);
    gn_sem_free(s);
    gn_queue_free(q);
    /* gn_join: see join_outside_a_coroutine_would_block. */
}
END_TEST

/* ---- the suite
 * ------------------------------------------------------------------ */

/* ---- detached threads (gn__spawn_detached) ---------------------------- */

static int detached_result;

static int detached_fn(void *arg)
{
    int rc = gn_sleep(0.05);

    detached_result = rc == 0 ? *(int *)arg : rc;
    return 0;
}

static int owned_result;

static int owned_fn(void *arg)
{
    (void)arg;
    owned_result = gn_sleep(5);
    return 0;
}

/* Spawns one thread of each kind, then ends as a request ends (reaping
 * what it spawned). */
static void spawn_then_end(struct gn_coro *co, void *arg)
{
    ck_assert_ptr_nonnull(gn__spawn_detached(detached_fn, arg));
    ck_assert_ptr_nonnull(gn_spawn(owned_fn, NULL));
    gn__threads_reap(co);
}

START_TEST(detached_thread_outlives_its_spawner)
{
    static int value = 42;

    detached_result = -1;
    owned_result = 1;
    go(spawn_then_end, &value);
    run();
    /* The owned one was cancelled with its request; the detached one
     * still runs, ends on its own, and its record is freed then. */
    ck_assert_int_eq(owned_result, -ECANCELED);
    ck_assert_int_eq(detached_result, -1);
    ck_assert_uint_eq(gn__threads_live(), 1);
    drain();
    ck_assert_int_eq(detached_result, 42);
    ck_assert_uint_eq(gn__threads_live(), 0);
}
END_TEST

static Suite *green_sync_suite(void)
{
    Suite *s = suite_create("green/sync");
    TCase *tc;

    tc = test_case(s, "threads");
    tcase_add_loop_test(tc, spawn_runs_when_the_spawner_waits, 0, 2);
    tcase_add_test(tc, join_returns_the_result_and_frees);
    tcase_add_test(tc, detached_thread_outlives_its_spawner);
    tcase_add_test(tc, join_times_out_then_joins_again);
    tcase_add_test(tc, join_is_cancelled);
    tcase_add_test(tc, join_outside_a_coroutine_would_block);
    tcase_add_test(tc, join_of_itself_is_edeadlk);
    tcase_add_test(tc, join_by_two_threads_is_ebusy);
    tcase_add_test(tc, kill_cancels_a_sleeping_thread);
    tcase_add_test(tc, kill_before_the_thread_starts);
    tcase_add_test(tc, kill_of_a_finished_thread_is_esrch);
    tcase_add_loop_test(tc, reap_kills_waits_for_and_frees_the_children, 0, 2);
    tcase_add_test(tc, nested_spawn_is_reaped_with_its_parent);
    tcase_add_test(tc, worker_threads_are_cancelled_when_the_worker_stops);

    tc = test_case(s, "event");
    tcase_add_test(tc, event_set_wakes_every_waiter);
    tcase_add_test(tc, event_wait_after_set_returns_at_once);
    tcase_add_test(tc, event_clear_makes_waits_wait_again);
    tcase_add_test(tc, event_wait_is_cancelled);
    tcase_add_test(tc, event_wait_cancelled_before_set);

    tc = test_case(s, "semaphore");
    tcase_add_test(tc, sem_counts_units);
    tcase_add_test(tc, sem_hands_units_over_first_come_first_served);
    tcase_add_test(tc, sem_acquire_times_out);
    tcase_add_test(tc, sem_acquire_is_cancelled);
    tcase_add_test(tc, sem_cancelled_waiter_passes_the_unit_on);
    tcase_add_test(tc, sem_cancelled_waiter_gives_the_unit_to_the_count);

    tc = test_case(s, "queue");
    tcase_add_test(tc, queue_of_capacity_0_is_null);
    tcase_add_test(tc, queue_is_first_in_first_out);
    tcase_add_test(tc, queue_put_waits_while_full);
    tcase_add_test(tc, queue_get_waits_for_a_put);
    tcase_add_test(tc, queue_get_times_out);
    tcase_add_test(tc, queue_put_times_out);
    tcase_add_test(tc, queue_get_is_cancelled);
    tcase_add_test(tc, queue_put_is_cancelled);
    tcase_add_test(tc, queue_cancelled_getter_does_not_lose_an_item);
    tcase_add_test(tc, queue_cancelled_putter_does_not_put);

    tc = test_case(s, "outside");
    tcase_add_test(tc, waits_outside_a_coroutine_would_block);
    return s;
}

int main(void)
{
    return gn_test_run_suite(green_sync_suite());
}
