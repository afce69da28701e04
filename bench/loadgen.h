/*
 * What bench/'s load generators share (httpload, wsload, tlsload): their
 * clock, their own CPU time (each reports it, so a run shows the load was
 * not the limit), the "phase ..." lines bench.py times the server's CPU
 * and RSS on, and how they fail.
 */
#ifndef GN_BENCH_LOADGEN_H
#define GN_BENCH_LOADGEN_H

/* "PROGRAM: MESSAGE" on stderr and exit status 1: a broken server (or
 * set-up) fails the run instead of looking fast. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Seconds on the monotonic clock. */
double now(void);

/* The CPU time (user + system) this process used so far, in seconds. */
double cpu_seconds(void);

/* "phase WORDS" on stdout, flushed at once: bench.py snapshots the
 * server when it reads it. */
void phase(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* GN_BENCH_LOADGEN_H */
