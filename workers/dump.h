/*
 * A worker's live introspection (`greenicorn ctl dump`, GN_DUMP_SIGNAL):
 * the listing of its coroutines, and backtraces of code that holds its
 * loop. The contract with the arbiter is on the heartbeat page
 * (workers/worker.h): when dump_asked differs from dump_done the listing
 * goes to dump_path and dump_done is set to dump_asked once the file is
 * complete; a signal nobody asked for (`kill -PWR`) writes it to the
 * error log.
 *
 * The listing is written from the loop when the loop is free, so it is
 * consistent. When a coroutine holds the loop (a handler spinning), a
 * timer notices the loop did not answer and the signal handler itself
 * writes the listing, with a backtrace of the running stack. Another
 * timer is max_blocking_ms's watchdog: it takes the backtrace of a run
 * that goes past the limit while it still runs, for the "held the event
 * loop" warning.
 */
#ifndef GN_WORKERS_DUMP_H
#define GN_WORKERS_DUMP_H

#include <stddef.h>
#include <stdint.h>

struct gn_worker;

/* Answer GN_DUMP_SIGNAL for W from now on (and, with max_blocking_ms,
 * watch its runs). 0 or a negative errno. */
int gn__dump_watch(struct gn_worker *w);

/* Stop answering; the signal is ignored from then on (its default action
 * would end an exiting worker). */
void gn__dump_unwatch(void);

/* The backtrace the watchdog took of the coroutine run that just ended
 * (max_blocking_ms' warning, called right after it): "  its stack:"
 * and a line per frame, no newline at the end; "" when it took none (the run ended before the
 * watchdog looked). Valid until the next run. */
const char *gn__dump_blocked_backtrace(void);

#endif /* GN_WORKERS_DUMP_H */
