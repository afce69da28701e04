/*
 * Green threads and their synchronisation: gevent's spawn/join/kill,
 * Event, Semaphore and Queue over the worker's coroutines.
 *
 * A thread is a coroutine from the worker's pool plus a heap record that
 * outlives it until joined. Every thread has an owner, the green thread
 * that spawned it (a request's coroutine, or another thread) or none (the
 * worker): when an owner ends, gn__threads_reap kills and waits for what
 * it spawned, so a thread never outlives what lent it memory.
 *
 * Waiters queue in FIFO lists of gn_waiter (on their own stacks); a waker
 * unlinks the waiter and wakes it with gn__green_wake, which the loop turns
 * into a resume. A waiter that returns on its own (timeout, cancel)
 * unlinks itself.
 */
#include "green/sync.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "green/coro.h"
#include "green/loop.h"
#include "green/park.h"
#include "greenicorn.h"

/* ---- FIFO lists of waiters -------------------------------------------- */

struct waitq {
    struct gn_waiter *head, *tail;
};

static void q_push(struct waitq *q, struct gn_waiter *wt)
{
    wt->next = NULL;
    wt->prev = q->tail;
    if (q->tail)
        q->tail->next = wt;
    else
        q->head = wt;
    q->tail = wt;
}

static void q_remove(struct waitq *q, struct gn_waiter *wt)
{
    if (wt->prev)
        wt->prev->next = wt->next;
    else if (q->head == wt)
        q->head = wt->next;
    else
        return; /* not linked */
    if (wt->next)
        wt->next->prev = wt->prev;
    else
        q->tail = wt->prev;
    wt->next = wt->prev = NULL;
}

/* The longest-waiting waiter that can still take something. One already
 * woken (cancelled, or timed out, and not yet run) returns an error: a
 * unit or an item handed to it would be lost. */
static struct gn_waiter *q_pop(struct waitq *q)
{
    struct gn_waiter *wt;

    while ((wt = q->head) != NULL) {
        q_remove(q, wt);
        if (!wt->woken)
            return wt;
    }
    return NULL;
}

/* Park on Q until woken (0 or the waker's error), TIMEOUT or a cancel;
 * unlinked either way. */
static int q_wait(struct waitq *q, const char *on, double timeout,
                  void **item)
{
    struct gn_waiter wt = {.item = item ? *item : NULL};
    int64_t ms;
    int rc;

    if (gn__timeout_ms(timeout, &ms) != 0)
        return -EINVAL;
    if (!gn__green_can_wait())
        return -EWOULDBLOCK;
    q_push(q, &wt);
    rc = gn__green_park_on(&wt, on, -1, 0, -1, 0, ms);
    q_remove(q, &wt);
    if (item)
        *item = wt.item;
    return rc;
}

/* ---- threads ---------------------------------------------------------- */

struct gn_thread {
    struct gn_thread *next, *prev; /* every thread of the worker */
    struct gn_coro *co;            /* NULL once its function returned */
    struct gn_coro *owner;         /* who spawned it; NULL: the worker */
    int (*fn)(void *arg);
    void *arg;
    int result;
    int done;
    int killed;
    int detached;              /* gn__spawn_detached: freed at its end */
    struct gn_watch start;     /* the timer that first resumes it */
    struct gn_waiter *joiner;  /* the one joining it, if any */
    struct waitq done_waiters; /* owners reaping it */
};

static struct {
    struct gn_coro_pool *pool;
    struct gn_thread *all;
    size_t live; /* started and not returned */
} threads;

void gn__threads_init(struct gn_coro_pool *pool)
{
    threads.pool = pool;
}

size_t gn__threads_live(void)
{
    return threads.live;
}

static void unlink_thread(struct gn_thread *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        threads.all = t->next;
    if (t->next)
        t->next->prev = t->prev;
}

static void finished(struct gn_thread *t)
{
    struct gn_waiter *wt;

    t->done = 1;
    threads.live--;
    if (t->joiner)
        gn__green_wake(t->joiner, 0);
    while ((wt = q_pop(&t->done_waiters)) != NULL)
        gn__green_wake(wt, 0);
}

static void thread_main(struct gn_coro *co, void *arg)
{
    struct gn_thread *t = arg;

    t->result = t->fn(t->arg);
    gn__threads_reap(co); /* what it spawned ends with it */
    finished(t);
}

/* For the worker's listing: a green thread runs its function. */
static void thread_describe(void *arg, char *buf, size_t len,
                           const void **code)
{
    const struct gn_thread *t = arg;
    union {
        int (*fn)(void *);
        const void *p;
    } u = {.fn = t->fn};

    *code = u.p;
    snprintf(buf, len, "green thread%s", t->killed ? " (killed)" : "");
}

/* On the loop's stack once thread_main returned. */
static void free_thread(struct gn_thread *t);

static void thread_exit(struct gn_coro *co, void *arg)
{
    struct gn_thread *t = arg;

    gn__coro_release(co);
    t->co = NULL;
    if (t->detached)
        free_thread(t); /* nobody joins it, nor reaps it */
}

static void thread_start(int fd, short what, void *arg)
{
    struct gn_thread *t = arg;

    gn__coro_resume(t->co);
}

static struct gn_thread *spawn(int (*fn)(void *arg), void *arg,
                               struct gn_coro *owner, int detached)
{
    struct gn_thread *t;

    if (!gn__on_loop_thread())
        return NULL;
    if (fn == NULL || threads.pool == NULL || gn__green_loop() == NULL)
        return NULL;
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->fn = fn;
    t->arg = arg;
    t->owner = owner;
    t->detached = detached;
    t->co = gn__coro_new(threads.pool, thread_main, t, thread_exit, t);
    if (t->co == NULL || gn__watch_start(&t->start, gn__green_loop(), -1, 0, 0,
                                         thread_start, t) != 0) {
        if (t->co)
            gn__coro_release(t->co);
        free(t);
        return NULL;
    }
    gn__coro_set_describe(t->co, thread_describe);
    t->next = threads.all;
    if (threads.all)
        threads.all->prev = t;
    threads.all = t;
    threads.live++;
    return t;
}

GN_API gn_thread_t *gn_spawn(int (*fn)(void *arg), void *arg)
{
    return spawn(fn, arg, gn__coro_current(), 0);
}

struct gn_thread *gn__spawn_detached(int (*fn)(void *arg), void *arg)
{
    return spawn(fn, arg, NULL, 1);
}

static void free_thread(struct gn_thread *t)
{
    gn__watch_stop(&t->start);
    unlink_thread(t);
    free(t);
}

GN_API int gn_kill(gn_thread_t *t)
{
    if (!gn__on_loop_thread())
        return -EPERM;
    if (t->done)
        return -ESRCH;
    t->killed = 1;
    gn__green_cancel(t->co, -ECANCELED);
    return 0;
}

GN_API int gn_join(gn_thread_t *t, double timeout, int *result)
{
    struct gn_waiter wt = {0};
    int64_t ms;
    int rc;

    if (!gn__on_loop_thread())
        return -EPERM;
    if (t->co != NULL && t->co == gn__coro_current())
        return -EDEADLK;
    if (gn__timeout_ms(timeout, &ms) != 0)
        return -EINVAL;
    if (!t->done) {
        if (t->joiner != NULL)
            return -EBUSY;
        if (!gn__green_can_wait())
            return -EWOULDBLOCK;
        t->joiner = &wt;
        rc = gn__green_park_on(&wt, "join", -1, 0, -1, 0, ms);
        t->joiner = NULL;
        if (!t->done)
            return rc < 0 ? rc : -ETIMEDOUT;
    }
    if (result)
        *result = t->result;
    free_thread(t);
    return 0;
}

/* Wait for T to finish, whatever it takes: T was killed, so its waits
 * return at once; a thread that ignores that and spins is the watchdog's
 * business (timeout). */
static void wait_finished(struct gn_thread *t)
{
    struct gn_waiter wt = {0};
    struct gn_coro *self = gn__coro_current();
    int saved;

    while (!t->done && gn__green_can_wait()) {
        /* Our own cancellation must not cut this short. */
        saved = gn__coro_cancelled(self);
        gn__coro_set_cancelled(self, 0);
        q_push(&t->done_waiters, &wt);
        gn__green_park_on(&wt, "join (killed thread)", -1, 0, -1, 0, -1);
        q_remove(&t->done_waiters, &wt);
        gn__coro_set_cancelled(self, saved);
    }
}

void gn__threads_reap(struct gn_coro *owner)
{
    struct gn_thread *t, *next;
    int again = 1;

    if (threads.all == NULL)
        return; /* the common case: after every request, none to reap */
    /* Kill first, so they all wind down at once, then wait for each. */
    for (t = threads.all; t != NULL; t = t->next)
        if (t->owner == owner && !t->done && !t->killed)
            gn_kill(t);
    while (again) {
        again = 0;
        for (t = threads.all; t != NULL; t = t->next) {
            if (t->owner == owner && !t->done) {
                wait_finished(t);
                again = 1; /* the list may have changed meanwhile */
                break;
            }
        }
        if (!gn__green_can_wait())
            break; /* the worker's own threads: see gn__threads_stop */
    }
    for (t = threads.all; t != NULL; t = next) {
        next = t->next;
        if (t->owner == owner && t->done && t->joiner == NULL && !t->detached)
            free_thread(t);
    }
}

void gn__threads_stop(void)
{
    for (struct gn_thread *t = threads.all; t != NULL; t = t->next)
        if (!t->done && !t->killed)
            gn_kill(t);
}

void gn__threads_free(void)
{
    struct gn_thread *t, *next;

    /* At worker exit: anything still suspended is abandoned with its
     * stack (its waits' watches live there: stop them first). */
    for (t = threads.all; t != NULL; t = next) {
        next = t->next;
        if (t->co != NULL) {
            struct gn_waiter *wt = gn__coro_waiter(t->co);

            if (wt != NULL && wt->watch != NULL)
                gn__watch_stop(wt->watch);
            gn__coro_release(t->co);
        }
        free_thread(t);
    }
    threads.live = 0;
}

/* ---- events ----------------------------------------------------------- */

struct gn_event {
    int set;
    struct waitq waiters;
};

GN_API gn_event_t *gn_event_new(void)
{
    return calloc(1, sizeof(struct gn_event));
}

GN_API void gn_event_set(gn_event_t *e)
{
    struct gn_waiter *wt;

    if (!gn__on_loop_thread())
        return; /* the waiters are the loop's: not to be woken from here */
    e->set = 1;
    while ((wt = q_pop(&e->waiters)) != NULL)
        gn__green_wake(wt, 0);
}

GN_API void gn_event_clear(gn_event_t *e)
{
    if (gn__on_loop_thread())
        e->set = 0;
}

GN_API int gn_event_is_set(const gn_event_t *e)
{
    return e->set;
}

GN_API int gn_event_wait(gn_event_t *e, double timeout)
{
    int rc;

    if (!gn__on_loop_thread())
        return -EPERM;
    if (e->set)
        return 0;
    rc = q_wait(&e->waiters, "event", timeout, NULL);
    return rc > 0 ? 0 : rc;
}

GN_API void gn_event_free(gn_event_t *e)
{
    free(e);
}

/* ---- semaphores ------------------------------------------------------- */

struct gn_sem {
    unsigned count;
    struct waitq waiters;
};

GN_API gn_sem_t *gn_sem_new(unsigned count)
{
    struct gn_sem *s = calloc(1, sizeof(*s));

    if (s != NULL)
        s->count = count;
    return s;
}

GN_API int gn_sem_acquire(gn_sem_t *s, double timeout)
{
    if (!gn__on_loop_thread())
        return -EPERM;
    /* Waiters first: a unit released while they wait is theirs. */
    if (s->count > 0 && s->waiters.head == NULL) {
        s->count--;
        return 0;
    }
    /* A waker hands the unit over directly (count untouched). */
    return q_wait(&s->waiters, "semaphore", timeout, NULL);
}

GN_API void gn_sem_release(gn_sem_t *s)
{
    struct gn_waiter *wt;

    if (!gn__on_loop_thread())
        return; /* as gn_event_set */
    if ((wt = q_pop(&s->waiters)) != NULL)
        gn__green_wake(wt, 0);
    else
        s->count++;
}

GN_API void gn_sem_free(gn_sem_t *s)
{
    free(s);
}

/* ---- queues ----------------------------------------------------------- */

struct gn_queue {
    void **ring;
    size_t cap, head, len;
    struct waitq getters, putters;
};

GN_API gn_queue_t *gn_queue_new(size_t capacity)
{
    struct gn_queue *q;

    if (capacity == 0)
        return NULL;
    q = calloc(1, sizeof(*q));
    if (q == NULL)
        return NULL;
    q->ring = calloc(capacity, sizeof(void *));
    if (q->ring == NULL) {
        free(q);
        return NULL;
    }
    q->cap = capacity;
    return q;
}

static void ring_push(struct gn_queue *q, void *item)
{
    q->ring[(q->head + q->len) % q->cap] = item;
    q->len++;
}

static void *ring_pop(struct gn_queue *q)
{
    void *item = q->ring[q->head];

    q->head = (q->head + 1) % q->cap;
    q->len--;
    return item;
}

GN_API int gn_queue_put(gn_queue_t *q, void *item, double timeout)
{
    struct gn_waiter *getter;

    if (!gn__on_loop_thread())
        return -EPERM;
    if ((getter = q_pop(&q->getters)) != NULL) {
        /* straight into a waiting getter's hands */
        getter->item = item;
        gn__green_wake(getter, 0);
        return 0;
    }
    if (q->len < q->cap && q->putters.head == NULL) {
        ring_push(q, item);
        return 0;
    }
    /* Full: wait for a getter to take our item from our waiter. */
    return q_wait(&q->putters, "queue (put)", timeout, &item);
}

GN_API int gn_queue_get(gn_queue_t *q, void **item, double timeout)
{
    struct gn_waiter *putter;
    void *got = NULL;
    int rc;

    if (!gn__on_loop_thread())
        return -EPERM;
    if (q->len > 0) {
        *item = ring_pop(q);
        /* Room now: the longest-waiting putter's item goes in. */
        if ((putter = q_pop(&q->putters)) != NULL) {
            ring_push(q, putter->item);
            gn__green_wake(putter, 0);
        }
        return 0;
    }
    rc = q_wait(&q->getters, "queue (get)", timeout, &got);
    if (rc == 0)
        *item = got;
    return rc;
}

GN_API size_t gn_queue_len(const gn_queue_t *q)
{
    return q->len;
}

GN_API void gn_queue_free(gn_queue_t *q)
{
    if (q != NULL)
        free(q->ring);
    free(q);
}
