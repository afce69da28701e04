/*
 * Pinning a worker to a CPU of its own (workers/affinity.h): the CPU is
 * picked among those the process may run on, so a server started under
 * taskset or in a cpuset keeps to them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "workers/affinity.h"

#include <errno.h>

int gn__affinity_cpu(const cpu_set_t *allowed, int id)
{
    int count = CPU_COUNT(allowed), nth;

    if (count == 0 || id < 1)
        return -1;
    nth = (id - 1) % count;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, allowed) && nth-- == 0)
            return cpu;
    return -1; /* not reached: COUNT bits are set */
}

int gn__affinity_pin(int id, cpu_set_t *was)
{
    cpu_set_t mine;
    int cpu;

    if (sched_getaffinity(0, sizeof(*was), was) != 0)
        return -errno;
    if ((cpu = gn__affinity_cpu(was, id)) < 0)
        return -EINVAL;
    CPU_ZERO(&mine);
    CPU_SET(cpu, &mine);
    if (sched_setaffinity(0, sizeof(mine), &mine) != 0)
        return -errno;
    return cpu;
}
