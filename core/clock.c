/*
 * The monotonic clock: clock_gettime(CLOCK_MONOTONIC), which the vDSO
 * answers without entering the kernel.
 */
#include "core/clock.h"

#include <time.h>

int64_t gn__monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t gn__monotonic_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
