/*
 * The monotonic clock both processes measure intervals with: the arbiter
 * its heartbeats, spawn backoff and reload waits, a worker its deadlines
 * and request durations. Never the wall clock, which can jump.
 */
#ifndef GN_CORE_CLOCK_H
#define GN_CORE_CLOCK_H

#include <stdint.h>

/* The current monotonic time in milliseconds, and in microseconds. */
int64_t gn__monotonic_ms(void);
int64_t gn__monotonic_us(void);

#endif /* GN_CORE_CLOCK_H */
