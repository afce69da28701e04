/*
 * The arbiter's signals. Handlers only write the signal's number to a
 * self-pipe; the arbiter's main loop polls the pipe and acts, so nothing
 * but write(2) ever runs in signal context.
 */
#ifndef GN_SERVER_SIGNALS_H
#define GN_SERVER_SIGNALS_H

/* Create the pipe and install the handlers (HUP, CHLD, TERM, INT, QUIT,
 * TTIN, TTOU, USR1, USR2, WINCH; PIPE ignored). 0 or a negative errno. */
int gn__signals_install(void);

/* The pipe's read end, to poll for POLLIN. */
int gn__signals_fd(void);

/* The next signal received, or 0 when none is pending. */
int gn__signals_next(void);

/* In a forked child: restore default handlers and close the pipe. */
void gn__signals_forget(void);

/* "SIGTERM" for SIGTERM; a static string. */
const char *gn__signal_name(int signo);

#endif /* GN_SERVER_SIGNALS_H */
