/*
 * A worker's thread pool (gevent's threadpool): what cannot cooperate --
 * CPU-heavy work, a library making raw system calls, file I/O on a slow
 * disk -- runs on one of a few threads the worker owns, while the calling
 * coroutine parks and the loop serves everything else. The public call is
 * gn_run_in_thread (include/greenicorn/green.h); this is what the worker
 * sets up and tears down.
 *
 * The threads start on first use, in a worker (never in the arbiter: a
 * call outside a coroutine, as in an app's init under preload_app, runs
 * its function inline). They share nothing with the loop but two lists
 * under one mutex (calls waiting for a thread, calls done) and an eventfd
 * that wakes the loop when the second list fills. Everything else -- the
 * waiter, the job's fate after a timeout -- is the loop thread's alone.
 */
#ifndef GN_GREEN_THREADPOOL_H
#define GN_GREEN_THREADPOOL_H

#include <sched.h>
#include <stdint.h>

/* The pool's defaults, as config/settings.c's threadpool_size and
 * threadpool_queue. */
#define GN_THREADPOOL_SIZE_DEFAULT 10
#define GN_THREADPOOL_QUEUE_DEFAULT 1000

/* SIZE threads (>= 1) and QUEUE calls that may wait for one (>= 0); past
 * them a call fails at once with -EAGAIN. Call on the loop thread before
 * the first gn_run_in_thread (the worker, after fork); later it is
 * ignored. */
void gn__threadpool_setup(int size, int queue);

/* The CPUs the pool's threads may run on (by default the loop thread's,
 * which they inherit): a worker kept to one CPU (worker_cpu_affinity)
 * gives them the CPUs it was started with, so that CPU-heavy calls do
 * not take turns with its loop. Call before the first gn_run_in_thread;
 * later it is ignored. */
void gn__threadpool_set_cpus(const cpu_set_t *cpus);

/*
 * Stop the pool once the loop has stopped and no coroutine waits on it:
 * calls still queued are left (there is no one to run them for), idle
 * threads exit, and threads still running a function get up to WAIT_MS
 * to finish it. Calls that gave up waiting and have finished are dropped
 * (their drop callbacks run here). Returns how many functions still run
 * (their threads are detached and end with the process): the caller must
 * then not unload the code they run. 0 when the pool never started.
 */
int gn__threadpool_stop(int64_t wait_ms);

/* Functions running on the pool's threads now, and calls queued for one
 * (both under the pool's lock: a snapshot). */
void gn__threadpool_counts(unsigned *running, unsigned *queued);

#endif /* GN_GREEN_THREADPOOL_H */
