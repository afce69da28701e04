/*
 * greenicorn/log.h - a line in the server's error log: gn_log and its
 * levels.
 *
 * Part of the plugin ABI: a plugin includes <greenicorn.h>, which includes
 * this header; the rules for threads and errors are written there.
 */
#ifndef GREENICORN_LOG_H
#define GREENICORN_LOG_H

#include "greenicorn/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Logging
 * ------------------------------------------------------------------------ */

enum gn_log_level {
    GN_LOG_DEBUG = 10,
    GN_LOG_INFO = 20,
    GN_LOG_WARNING = 30,
    GN_LOG_ERROR = 40,
    GN_LOG_CRITICAL = 50,
};

/* Write a line to the server's error log at LEVEL (dropped when below the
 * configured loglevel). No trailing newline needed. */
GN_API void gn_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif

#endif /* GREENICORN_LOG_H */
