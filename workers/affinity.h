/*
 * A worker's CPU (worker_cpu_affinity = auto): worker N runs only on the
 * Nth of the CPUs the server was started on, in turn when there are more
 * workers than CPUs, as nginx's "worker_cpu_affinity auto". The ids are
 * the arbiter's (1 up, a replacement taking the id it replaces), so a
 * worker that is replaced hands its CPU to the next. With reuse_port each
 * worker's own listening socket also asks the kernel (SO_INCOMING_CPU,
 * Linux 6.1+: core/listen.h) for the connections whose packets that CPU
 * received, so that a connection is served on the core its packets
 * arrive on: a client on the same machine is answered without waking
 * the other CPU (bench/RESULTS.md: 1.7x the requests/s of two pairs set
 * across the cores).
 */
#ifndef GN_WORKERS_AFFINITY_H
#define GN_WORKERS_AFFINITY_H

#include <sched.h>

/* The CPU for worker ID (1 up) among the CPUs in ALLOWED: the
 * ((ID - 1) mod count)th of them, in order. -1 when ALLOWED is empty or
 * ID is below 1. */
int gn__affinity_cpu(const cpu_set_t *allowed, int id);

/* Pin the calling thread (worker ID's loop) to its CPU among those it may
 * run on now (inherited from the arbiter), which go to WAS. Threads it
 * starts later inherit the pin: the worker hands WAS to its thread pool.
 * The CPU, or -errno. */
int gn__affinity_pin(int id, cpu_set_t *was);

#endif /* GN_WORKERS_AFFINITY_H */
