/*
 * The error log and the access log, shared by the arbiter and its workers
 * (the files are opened by the arbiter and inherited across fork). Lines
 * look like Gunicorn's: "[2026-11-25 07:41:15 +0000] [812] [INFO] message".
 * Each line is one write(2) to an O_APPEND file, so lines from several
 * processes never interleave.
 */
#ifndef GN_CORE_LOG_H
#define GN_CORE_LOG_H

#include <stddef.h>
#include <time.h>

#include "core/macros.h"
#include "greenicorn.h"

/* The configured level; messages below it are dropped before formatting. */
extern int gn__log_level;

void gn__log_write(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define gn__log_at(level, ...)                                                 \
    do {                                                                       \
        if (GN_UNLIKELY((level) >= gn__log_level))                             \
            gn__log_write((level), __VA_ARGS__);                               \
    } while (0)

#define gn_log_debug(...) gn__log_at(GN_LOG_DEBUG, __VA_ARGS__)
#define gn_log_info(...) gn__log_at(GN_LOG_INFO, __VA_ARGS__)
#define gn_log_warn(...) gn__log_at(GN_LOG_WARNING, __VA_ARGS__)
#define gn_log_error(...) gn__log_at(GN_LOG_ERROR, __VA_ARGS__)
#define gn_log_critical(...) gn__log_at(GN_LOG_CRITICAL, __VA_ARGS__)

/* An app's failure, Gunicorn's log.exception: logged at ERROR, and
 * counted by statsd as log.exception rather than log.error. */
void gn__log_exception(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/*
 * Open the logs: ERRORLOG ("-" for stderr) and ACCESSLOG (NULL for none,
 * "-" for stdout), appending. Until this is called, errors go to stderr.
 * 0, or a negative errno with ERR ("cannot open ...: reason") filled.
 */
int gn__log_open(const char *errorlog, const char *accesslog, int level,
                 char *err, size_t errlen);

/* Send both logs to syslog too (ADDR as the syslog_addr setting, FACILITY
 * a LOG_* code, each line tagged PREFIX), or stop when ADDR is NULL.
 * 0, or -errno with ERR (GN_ERR_LEN bytes) set. */
int gn__log_syslog(const char *addr, int facility, const char *prefix,
                   char *err);

/* Reopen both files by name (after logrotate moved them). 0 or -errno. */
int gn__log_reopen(void);

/* The error log's descriptor (stderr when it is not a file), for a
 * signal handler that must write without formatting through the log. */
int gn__log_error_fd(void);

/* Give the files (and those created by later opens) to UID:GID, the user
 * the workers run as, so they can reopen them after a rotation; UID -1
 * leaves owners alone. Only root can: elsewhere it does nothing. */
void gn__log_set_owner(int uid, int gid);

/* Close the files and go back to stderr. */
void gn__log_close(void);

/* Record the pid printed on each line; call after fork(). */
void gn__log_set_pid(int pid);

/* Whether an access log is configured. */
int gn__log_access_enabled(void);

/* Append one formatted access log line (ending with its newline). A line
 * that cannot be written (ENOSPC, EIO) is counted and the count reported
 * in the error log (at most every 10 s, and when writing works again). */
void gn__log_access_line(const char *line, size_t len);

/* Report the access lines lost and not reported yet: NOW, or only when the
 * last report is old enough (from a periodic tick). */
void gn__log_report_lost(int now);

#endif /* GN_CORE_LOG_H */
