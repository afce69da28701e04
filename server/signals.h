/*
 * The arbiter's signals. Handlers only write the signal's number to a
 * self-pipe; the arbiter's main loop polls the pipe and acts, so nothing
 * but write(2) ever runs in signal context.
 */
#ifndef GN_SERVER_SIGNALS_H
#define GN_SERVER_SIGNALS_H

#include <sys/types.h>

/* Create the pipe and install the handlers (HUP, CHLD, TERM, INT, QUIT,
 * TTIN, TTOU, USR1, USR2, WINCH; PIPE ignored). 0 or a negative errno. */
int gn__signals_install(void);

/* The pipe's read end, to poll for POLLIN. */
int gn__signals_fd(void);

/* The next signal received, or 0 when none is pending. */
int gn__signals_next(void);

/* fork(2) for the arbiter: the child returns with default handlers and
 * without the pipe, and a signal sent to it at once acts on it, never on
 * the arbiter. As fork: the pid, 0, or -1 with errno set. */
pid_t gn__signals_fork(void);

/* "SIGTERM" for SIGTERM; a static string. */
const char *gn__signal_name(int signo);

#endif /* GN_SERVER_SIGNALS_H */
