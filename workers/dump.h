/*
 * A worker's side of `greenicorn ctl dump` (the contract is on the
 * heartbeat page, workers/worker.h): on GN_DUMP_SIGNAL, write this
 * worker's listing to the file the arbiter named and say it is done.
 *
 * This is the minimal listing (one line: the worker, its connections and
 * requests), enough for the arbiter's side to be built and tested; the
 * coroutine listing (#17's dump part) replaces it.
 */
#ifndef GN_WORKERS_DUMP_H
#define GN_WORKERS_DUMP_H

struct gn_worker;

/* Answer GN_DUMP_SIGNAL from W's loop from now on. 0 or a negative errno. */
int gn__dump_watch(struct gn_worker *w);

/* Stop answering; the signal is ignored from then on (its default action
 * would end an exiting worker). */
void gn__dump_unwatch(void);

#endif /* GN_WORKERS_DUMP_H */
