/*
 * What the cooperative clients share (compiled into each library, hidden):
 * deadlines in CLOCK_MONOTONIC seconds, so that a call's TIMEOUT bounds all
 * its waits together, and the default wait function.
 */
#ifndef GN_GREEN_DEADLINE_H
#define GN_GREEN_DEADLINE_H

#define GN_GREEN_HIDDEN __attribute__((visibility("hidden")))

/* The moment TIMEOUT seconds from now; INFINITY for none (a negative or
 * NaN TIMEOUT). */
GN_GREEN_HIDDEN double gn_green_deadline(double timeout);

/* Seconds left until END (0 once passed), or -1 for no limit: a TIMEOUT
 * for the wait functions. */
GN_GREEN_HIDDEN double gn_green_left(double end);

/* The wait before anyone installs gn_wait_fd: poll(2), with gn_wait_fd's
 * contract (the ready events, a hang-up or error counting as ready;
 * -ETIMEDOUT, -EBADF, -EINVAL). It blocks the whole process, as the
 * libraries themselves would. */
GN_GREEN_HIDDEN int gn_green_poll_wait(int fd, int events, double timeout);

#endif /* GN_GREEN_DEADLINE_H */
