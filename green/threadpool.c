/*
 * The thread pool behind gn_run_in_thread. A call is a heap record (a
 * job) that goes QUEUED (on the pending list) -> RUNNING (a pool thread
 * took it) -> DONE (on the done list; the eventfd says so) -> DELIVERED
 * (the loop took it off that list and woke its waiter). The state moves
 * only under the lock; the waiter, the `abandoned` flag's reader and
 * every free are on the loop thread.
 *
 * A caller that stops waiting (timeout, cancellation) looks at the state:
 * a QUEUED job is unlinked and dropped at once (its function never runs);
 * a RUNNING or DONE one is marked abandoned and the loop drops it when it
 * is delivered; a DELIVERED one has its result, which the caller takes.
 * So a job is freed exactly once, by whichever side of the loop thread
 * sees it last, and a pool thread never frees anything: it only moves the
 * job to the done list.
 */
#include "green/threadpool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "green/coro.h"
#include "green/loop.h"
#include "green/park.h"
#include "green/sys.h"
#include "core/log.h"
#include "greenicorn.h"

enum job_state { QUEUED, RUNNING, DONE, DELIVERED };

struct job {
    struct job *next; /* on the pending or the done list */
    void *(*fn)(void *arg);
    void *arg;
    void (*drop)(void *arg, void *result);
    void *result;
    enum job_state state;   /* under the lock */
    int abandoned;          /* the caller gave up: the loop drops it */
    struct gn_waiter *wait; /* on the caller's stack, while it waits */
};

struct list {
    struct job *head, *tail;
};

static struct {
    /* Shared with the pool's threads, under LOCK. */
    pthread_mutex_t lock;
    pthread_cond_t work;   /* a job queued, or stopping */
    pthread_cond_t exited; /* a thread ended (for stop) */
    struct list pending, done;
    unsigned queued, running, alive;
    int stopping;
    /* The loop thread's alone. */
    int size, queue;   /* the settings */
    int started;       /* the threads were started (and not stopped) */
    unsigned nthreads; /* how many */
    pthread_t *threads;
    int efd;           /* written by a thread that fills the done list */
    unsigned inflight; /* jobs handed over and not yet delivered */
    struct gn_watch watch;
    int has_cpus;  /* CPUS was set: the threads start with it */
    cpu_set_t cpus;
} tp = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .work = PTHREAD_COND_INITIALIZER,
    .exited = PTHREAD_COND_INITIALIZER,
    .size = GN_THREADPOOL_SIZE_DEFAULT,
    .queue = GN_THREADPOOL_QUEUE_DEFAULT,
    .efd = -1,
};

static void push(struct list *l, struct job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static struct job *pop(struct list *l)
{
    struct job *j = l->head;

    if (j != NULL && (l->head = j->next) == NULL)
        l->tail = NULL;
    return j;
}

/* Take J off L (a queued job whose caller gave up): a scan, bounded by
 * threadpool_queue, on a path that already waited. */
static void unlink_job(struct list *l, struct job *j)
{
    struct job **p = &l->head, *prev = NULL;

    for (; *p != NULL; prev = *p, p = &(*p)->next) {
        if (*p != j)
            continue;
        *p = j->next;
        if (l->tail == j)
            l->tail = prev;
        return;
    }
}

void gn__threadpool_setup(int size, int queue)
{
    if (tp.started)
        return;
    tp.size = size > 0 ? size : 1;
    tp.queue = queue >= 0 ? queue : 0;
}

void gn__threadpool_set_cpus(const cpu_set_t *cpus)
{
    if (tp.started)
        return;
    tp.cpus = *cpus;
    tp.has_cpus = 1;
}

void gn__threadpool_counts(unsigned *running, unsigned *queued)
{
    pthread_mutex_lock(&tp.lock);
    *running = tp.running;
    *queued = tp.queued;
    pthread_mutex_unlock(&tp.lock);
}

/* ---- the pool's threads ---------------------------------------------- */

/* Run jobs until stopping. Nothing here is green: gn__patch_now is 0 on
 * this thread, so what FN calls is the C library's own call. */
static void *pool_main(void *unused)
{
    struct job *j;
    uint64_t one = 1;
    int was_empty;

    (void)unused;
    pthread_mutex_lock(&tp.lock);
    for (;;) {
        while (tp.pending.head == NULL && !tp.stopping)
            pthread_cond_wait(&tp.work, &tp.lock);
        if (tp.stopping)
            break;
        j = pop(&tp.pending);
        j->state = RUNNING;
        tp.queued--;
        tp.running++;
        pthread_mutex_unlock(&tp.lock);
        j->result = j->fn(j->arg);
        pthread_mutex_lock(&tp.lock);
        tp.running--;
        j->state = DONE;
        was_empty = tp.done.head == NULL;
        push(&tp.done, j);
        /* One write per batch: the loop takes the whole list at once. */
        if (was_empty && gn__sys_write(tp.efd, &one, sizeof(one)) < 0)
            abort(); /* an eventfd write fails only when it is broken */
    }
    tp.alive--;
    pthread_cond_broadcast(&tp.exited);
    pthread_mutex_unlock(&tp.lock);
    return NULL;
}

/* ---- the loop's side ------------------------------------------------- */

static void drop_job(struct job *j)
{
    if (j->drop != NULL)
        j->drop(j->arg, j->state == QUEUED ? NULL : j->result);
    free(j);
}

/* Deliver every job done: wake its caller, or drop it if the caller gave
 * up. A waiter already woken (cancelled, not yet run) ignores the wake
 * and finds the job DELIVERED when it runs. */
static void deliver(void)
{
    struct job *j, *next;

    pthread_mutex_lock(&tp.lock);
    j = tp.done.head;
    tp.done.head = tp.done.tail = NULL;
    for (next = j; next != NULL; next = next->next)
        next->state = DELIVERED;
    pthread_mutex_unlock(&tp.lock);
    for (; j != NULL; j = next) {
        next = j->next;
        tp.inflight--;
        if (j->abandoned)
            drop_job(j);
        else
            gn__green_wake(j->wait, 0);
    }
}

static void on_done(int fd, short what, void *arg)
{
    uint64_t n;

    (void)what;
    (void)arg;
    if (gn__sys_read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        gn_log_error("thread pool: reading its eventfd: %s", strerror(errno));
    deliver();
    /* Nothing handed over: no watch, so a loop with nothing else to do
     * can end. */
    if (tp.inflight == 0)
        gn__watch_stop(&tp.watch);
}

/* Start the threads with the asynchronous signals blocked: TERM, USR1,
 * CHLD ... are the loop's to handle. The ones a fault raises stay open,
 * so a crash in a function is reported as one. 0, or a negative errno
 * when not one could start. */
static int start_pool(void)
{
    static const int faults[] = {SIGSEGV, SIGBUS,  SIGILL, SIGFPE,
                                 SIGABRT, SIGTRAP, SIGSYS};
    sigset_t all, old;
    pthread_attr_t attr;
    int rc = 0;

    tp.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    tp.threads = calloc((size_t)tp.size, sizeof(*tp.threads));
    if (tp.efd < 0 || tp.threads == NULL) {
        rc = tp.efd < 0 ? -errno : -ENOMEM;
        goto fail;
    }
    sigfillset(&all);
    for (size_t i = 0; i < sizeof(faults) / sizeof(*faults); i++)
        sigdelset(&all, faults[i]);
    pthread_attr_init(&attr);
    if (tp.has_cpus &&
        pthread_attr_setaffinity_np(&attr, sizeof(tp.cpus), &tp.cpus) != 0)
        gn_log_warn("thread pool: its threads keep to the loop's CPU");
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_mutex_lock(&tp.lock);
    tp.stopping = 0;
    for (tp.nthreads = 0; tp.nthreads < (unsigned)tp.size; tp.nthreads++) {
        rc = -pthread_create(&tp.threads[tp.nthreads], &attr, pool_main, NULL);
        if (rc != 0)
            break;
        pthread_setname_np(tp.threads[tp.nthreads], "gn-pool");
        tp.alive++;
    }
    pthread_mutex_unlock(&tp.lock);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (tp.nthreads == 0)
        goto fail;
    if (rc != 0)
        gn_log_warn("thread pool: started %u of %d threads: %s", tp.nthreads,
                    tp.size, strerror(-rc));
    tp.started = 1;
    return 0;

fail:
    free(tp.threads);
    tp.threads = NULL;
    if (tp.efd >= 0)
        gn__sys_close(tp.efd);
    tp.efd = -1;
    return rc;
}

/* Queue J for a thread, or -EAGAIN when threadpool_size run and
 * threadpool_queue wait already. */
static int submit(struct job *j)
{
    int rc;

    if (!tp.started && (rc = start_pool()) != 0)
        return rc;
    if (tp.inflight == 0 &&
        (rc = gn__watch_start(&tp.watch, gn__green_loop(), tp.efd,
                              GN_WATCH_READ | GN_WATCH_PERSIST, -1, on_done,
                              NULL)) != 0)
        return rc;
    pthread_mutex_lock(&tp.lock);
    if (tp.queued + tp.running >= tp.nthreads + (unsigned)tp.queue) {
        pthread_mutex_unlock(&tp.lock);
        if (tp.inflight == 0)
            gn__watch_stop(&tp.watch);
        return -EAGAIN;
    }
    j->state = QUEUED;
    push(&tp.pending, j);
    tp.queued++;
    pthread_cond_signal(&tp.work);
    pthread_mutex_unlock(&tp.lock);
    tp.inflight++;
    return 0;
}

/* The caller stopped waiting for J with RC (-ETIMEDOUT, -ECANCELED, or 0
 * after a zero timeout's yield). 0 with the result when J is delivered
 * after all; else RC (or -ETIMEDOUT), and J is dropped now or later. */
static int give_up(struct job *j, int rc, void **result)
{
    pthread_mutex_lock(&tp.lock);
    switch (j->state) {
    case QUEUED:
        unlink_job(&tp.pending, j);
        tp.queued--;
        pthread_mutex_unlock(&tp.lock);
        if (--tp.inflight == 0)
            gn__watch_stop(&tp.watch);
        drop_job(j); /* its function never runs */
        break;
    case RUNNING:
    case DONE:
        j->abandoned = 1; /* deliver() drops it */
        j->wait = NULL;
        pthread_mutex_unlock(&tp.lock);
        break;
    case DELIVERED:
        pthread_mutex_unlock(&tp.lock);
        if (result != NULL)
            *result = j->result;
        free(j);
        return 0;
    }
    return rc < 0 ? rc : -ETIMEDOUT;
}

/* Hand J over and park until it is delivered, TIMEOUT_MS passes or the
 * caller is cancelled. */
static int run_job(struct job *j, int64_t timeout_ms, void **result)
{
    struct gn_waiter wt = {0};
    int rc;

    rc = submit(j);
    if (rc != 0) {
        free(j); /* the caller keeps ARG: FN never had it */
        return rc;
    }
    j->wait = &wt;
    rc = gn__green_park_on(&wt, "thread-pool job", -1, 0, -1, 0, timeout_ms);
    /* A timer that could not be armed (libevent out of memory): FN has
     * ARG now, so wait for it rather than report an error drop() would
     * follow. Waiting for a wake-up alone arms nothing. */
    if (rc < 0 && rc != -ETIMEDOUT && rc != -ECANCELED)
        rc = gn__green_park_on(&wt, "thread-pool job", -1, 0, -1, 0, -1);
    return give_up(j, rc, result);
}

/* ---- stopping ---------------------------------------------------------- */

/* Drop the jobs on the done list whose callers gave up (the others'
 * callers still wait: they are left). */
static void drop_abandoned(void)
{
    struct job *j, *next, *keep = NULL;

    pthread_mutex_lock(&tp.lock);
    j = tp.done.head;
    tp.done.head = tp.done.tail = NULL;
    for (; j != NULL; j = next) {
        next = j->next;
        if (j->abandoned) {
            j->state = DELIVERED;
            drop_job(j);
        } else {
            j->next = keep;
            keep = j;
        }
    }
    for (; keep != NULL; keep = next) {
        next = keep->next;
        push(&tp.done, keep);
    }
    pthread_mutex_unlock(&tp.lock);
}

/* Wait up to WAIT_MS for the pool's threads to end; how many still run. */
static unsigned wait_threads(int64_t wait_ms)
{
    struct timespec until;
    unsigned alive;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (wait_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&tp.lock);
    tp.stopping = 1;
    pthread_cond_broadcast(&tp.work);
    while (tp.alive > 0 &&
           pthread_cond_clockwait(&tp.exited, &tp.lock, CLOCK_MONOTONIC,
                                  &until) != ETIMEDOUT)
        ;
    alive = tp.alive;
    pthread_mutex_unlock(&tp.lock);
    return alive;
}

int gn__threadpool_stop(int64_t wait_ms)
{
    unsigned alive;

    if (!tp.started)
        return 0;
    gn__watch_stop(&tp.watch);
    alive = wait_threads(wait_ms);
    drop_abandoned();
    for (unsigned i = 0; i < tp.nthreads; i++) {
        if (alive == 0)
            pthread_join(tp.threads[i], NULL);
        else
            pthread_detach(tp.threads[i]);
    }
    free(tp.threads);
    tp.threads = NULL;
    tp.nthreads = 0;
    tp.started = 0;
    tp.inflight = 0;
    /* A function still running will write to the eventfd when it ends. */
    if (alive == 0) {
        gn__sys_close(tp.efd);
        tp.efd = -1;
    }
    return (int)alive;
}

/* ---- the public call --------------------------------------------------- */

GN_API int gn_run_in_thread(void *(*fn)(void *arg), void *arg,
                            void (*drop)(void *arg, void *result),
                            double timeout, void **result)
{
    struct gn_coro *co = gn__coro_current();
    struct job *j;
    int64_t ms;
    int rc;

    if (!gn__on_loop_thread())
        return -EPERM;
    if (fn == NULL || gn__timeout_ms(timeout, &ms) != 0)
        return -EINVAL;
    if (!gn__green_can_wait()) {
        /* Outside a green thread: the caller may block, as libc would. */
        void *r = fn(arg);

        if (result != NULL)
            *result = r;
        return 0;
    }
    if ((rc = gn__coro_cancelled(co)) != 0) {
        if (drop != NULL)
            drop(arg, NULL);
        return rc;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL)
        return -ENOMEM;
    j->fn = fn;
    j->arg = arg;
    j->drop = drop;
    return run_job(j, ms, result);
}
