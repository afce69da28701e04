/*
 * `greenicorn ctl`: the client of the control socket (server/control.h),
 * a subcommand of the server's binary. It sends one command and prints
 * the arbiter's answer as a table, or as JSON with --json.
 */
#ifndef GN_SERVER_CTL_H
#define GN_SERVER_CTL_H

/* Run `greenicorn ctl ARGS...` (ARGV[0] is "ctl"); the exit status: 0, 1
 * when the command failed (no server, refused, an error answer), 2 for a
 * bad command line. Messages go to stderr, answers to stdout. */
int gn__ctl_main(int argc, char **argv);

#endif /* GN_SERVER_CTL_H */
