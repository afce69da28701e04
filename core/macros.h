/*
 * Small macros every layer may use: branch hints and the size of the
 * error buffers that functions failing with a message fill. Nothing here
 * knows a process, a config or a connection.
 */
#ifndef GN_CORE_MACROS_H
#define GN_CORE_MACROS_H

#define GN_LIKELY(x) __builtin_expect(!!(x), 1)
#define GN_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* The size of a `char err[GN_ERR_LEN]` a failing call fills with why. */
#define GN_ERR_LEN 512

#endif /* GN_CORE_MACROS_H */
