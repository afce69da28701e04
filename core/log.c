/*
 * Error and access logging. The files are plain O_APPEND descriptors kept
 * by name so that USR1 can reopen them; each line is formatted into a stack
 * buffer and written with one write(2).
 *
 * Files the arbiter (re)creates are given to the user the workers run as,
 * as nginx does on reopen: after logrotate moved them, workers running as
 * `user` must be able to open the new ones. Access lines that cannot be
 * written (a full disk) are counted and reported in the error log at most
 * once per LOST_REPORT_SECS; the same descriptor works again once space
 * returns, and USR1 opens a fresh one.
 */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "core/statsd.h"
#include "core/syslog.h"
#include "core/timefmt.h"

#define LINE_BYTES 4096
#define LOST_REPORT_SECS 10 /* lost access lines: at most one report per */
#define STR(x) #x
#define XSTR(x) STR(x)

int gn__log_level = GN_LOG_INFO;

static struct {
    int err_fd;        /* error log */
    int access_fd;     /* access log, -1 when none */
    char *err_path;    /* NULL for stderr */
    char *access_path; /* NULL for stdout or none */
    int pid;
    int uid, gid; /* owner given to the files, -1 to leave it */
    /* Access lines not written since the last report, the last reason,
     * and when the last report was made. */
    unsigned long lost;
    int lost_errno;
    time_t lost_reported;
    int failing; /* since the last line that could not be written */
    int torn; /* a line went out in part: start the next on a line of its own */
} logs = {.err_fd = STDERR_FILENO, .access_fd = -1, .uid = -1, .gid = -1};

static const char *level_name(int level)
{
    if (level >= GN_LOG_CRITICAL)
        return "CRITICAL";
    if (level >= GN_LOG_ERROR)
        return "ERROR";
    if (level >= GN_LOG_WARNING)
        return "WARNING";
    if (level >= GN_LOG_INFO)
        return "INFO";
    return "DEBUG";
}

static int syslog_severity(int level)
{
    if (level >= GN_LOG_CRITICAL)
        return LOG_CRIT;
    if (level >= GN_LOG_ERROR)
        return LOG_ERR;
    if (level >= GN_LOG_WARNING)
        return LOG_WARNING;
    return level >= GN_LOG_INFO ? LOG_INFO : LOG_DEBUG;
}

/* Give FD's file to the workers' user unless it is theirs already (only
 * root may, so a worker reopening its own files makes no call). */
static void give_to_owner(int fd)
{
    struct stat st;

    if (logs.uid < 0 || fd <= STDERR_FILENO || fstat(fd, &st) != 0 ||
        !S_ISREG(st.st_mode))
        return;
    if (st.st_uid != (uid_t)logs.uid ||
        (logs.gid >= 0 && st.st_gid != (gid_t)logs.gid))
        (void)!fchown(fd, (uid_t)logs.uid, (gid_t)logs.gid);
}

static int open_append(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

    if (fd >= 0)
        give_to_owner(fd);
    return fd;
}

/* Write all of BUF: 0, or -errno, with *SENT the bytes that went out. */
static int write_all_of(int fd, const char *buf, size_t len, size_t *sent)
{
    *sent = 0;
    while (*sent < len) {
        ssize_t n = write(fd, buf + *sent, len - *sent);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -ENOSPC;
        *sent += (size_t)n;
    }
    return 0;
}

static void write_all(int fd, const char *buf, size_t len)
{
    size_t sent;

    /* The error log: nowhere left to report its own failure. */
    (void)write_all_of(fd, buf, len, &sent);
}

static void vlog(int level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* statsd's log.LEVEL counters (Gunicorn's): warnings and worse. */
static const char *statsd_name(int level)
{
    if (level >= GN_LOG_CRITICAL)
        return "log.critical";
    if (level >= GN_LOG_ERROR)
        return "log.error";
    if (level >= GN_LOG_WARNING)
        return "log.warning";
    return NULL;
}

static int counted_as_exception; /* the line being logged is gn__log_exception's */

static void vlog(int level, const char *fmt, va_list ap)
{
    char line[LINE_BYTES];
    size_t n, stamp;
    int saved = errno;

    line[0] = '[';
    stamp = 1 + gn__time_iso(line + 1, time(NULL));
    line[stamp++] = ']';
    line[stamp++] = ' ';
    n = stamp;
    n += (size_t)snprintf(line + n, sizeof(line) - n, "[%d] [%s] ",
                          logs.pid ? logs.pid : getpid(), level_name(level));
    n += (size_t)vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    /* syslog has a time of its own, and the pid, but not the level. */
    gn__syslog_send(syslog_severity(level), line + stamp, n - stamp);
    line[n++] = '\n';
    write_all(logs.err_fd, line, n);
    if (counted_as_exception)
        gn__statsd_count("log.exception", 1);
    else if (statsd_name(level) != NULL)
        gn__statsd_count(statsd_name(level), 1);
    errno = saved;
}

void gn__log_write(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void gn__log_exception(const char *fmt, ...)
{
    va_list ap;

    if (GN_LOG_ERROR < gn__log_level)
        return;
    counted_as_exception = 1;
    va_start(ap, fmt);
    vlog(GN_LOG_ERROR, fmt, ap);
    va_end(ap);
    counted_as_exception = 0;
}

GN_API void gn_log(int level, const char *fmt, ...)
{
    va_list ap;

    if (level < gn__log_level)
        return;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

/* Open the files named in PATHS (NULL: the standard stream, kept in
 * err_fd/access_fd as given) into *OUT. 0, or -EACCES with ERR set and
 * nothing left open. */
static int open_set(const char *err_path, const char *access_path,
                    int access_fd, int *efd, int *afd, char *err, size_t errlen)
{
    *efd = STDERR_FILENO;
    *afd = access_fd;
    if (err_path && (*efd = open_append(err_path)) < 0) {
        snprintf(err, errlen, "cannot open the error log %s: %s", err_path,
                 strerror(errno));
        return -EACCES;
    }
    if (access_path && (*afd = open_append(access_path)) < 0) {
        snprintf(err, errlen, "cannot open the access log %s: %s", access_path,
                 strerror(errno));
        if (*efd > STDERR_FILENO)
            close(*efd);
        return -EACCES;
    }
    return 0;
}

int gn__log_error_fd(void)
{
    return logs.err_fd;
}

/* Make EFD/AFD the log descriptors, closing the ones they replace. */
static void swap_fds(int efd, int afd)
{
    if (logs.err_fd > STDERR_FILENO && logs.err_fd != efd)
        close(logs.err_fd);
    if (logs.access_fd > STDERR_FILENO && logs.access_fd != afd)
        close(logs.access_fd);
    logs.err_fd = efd;
    logs.access_fd = afd;
}

int gn__log_open(const char *errorlog, const char *accesslog, int level,
                 char *err, size_t errlen)
{
    char *ep = NULL, *ap = NULL;
    int efd, afd, std_out = accesslog && strcmp(accesslog, "-") == 0;

    if ((strcmp(errorlog, "-") != 0 && !(ep = strdup(errorlog))) ||
        (accesslog && !std_out && !(ap = strdup(accesslog)))) {
        free(ep);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    /* Open the new files before letting go of the old (a reload with a bad
     * path keeps logging where it did). */
    if (open_set(ep, ap, std_out ? STDOUT_FILENO : -1, &efd, &afd, err,
                 errlen) != 0) {
        free(ep);
        free(ap);
        return -EACCES;
    }
    swap_fds(efd, afd);
    free(logs.err_path);
    free(logs.access_path);
    logs.err_path = ep;
    logs.access_path = ap;
    gn__log_level = level;
    return 0;
}

int gn__log_syslog(const char *addr, int facility, const char *prefix,
                   char *err)
{
    if (!addr) {
        gn__syslog_close();
        return 0;
    }
    return gn__syslog_open(addr, facility, prefix, err, GN_ERR_LEN);
}

static int same_file(int a, int b)
{
    struct stat sa, sb;

    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Say how many access lines were lost since the last report. */
static void report_lost(const char *what)
{
    gn_log_error("access log %s: %lu line%s could not be written (%s)%s",
                 logs.access_path ? logs.access_path : "(stdout)", logs.lost,
                 logs.lost == 1 ? "" : "s", strerror(logs.lost_errno), what);
    logs.lost = 0;
    logs.lost_reported = time(NULL);
}

int gn__log_reopen(void)
{
    char err[256];
    int efd, afd;
    int rc = open_set(logs.err_path, logs.access_path, logs.access_fd, &efd,
                      &afd, err, sizeof(err));

    if (logs.lost)
        report_lost("; reopening the file");
    if (rc != 0) {
        gn_log_error("%s; keeping the old file", err);
    } else {
        if (!same_file(afd, logs.access_fd))
            logs.torn = 0; /* a new file starts clean */
        swap_fds(efd, afd);
    }
    return rc;
}

void gn__log_set_owner(int uid, int gid)
{
    logs.uid = uid;
    logs.gid = uid >= 0 ? gid : -1;
    if (logs.err_path)
        give_to_owner(logs.err_fd);
    if (logs.access_path)
        give_to_owner(logs.access_fd);
}

void gn__log_report_lost(int now)
{
    if (logs.lost &&
        (now || time(NULL) - logs.lost_reported >= LOST_REPORT_SECS))
        report_lost("");
}

void gn__log_close(void)
{
    gn__log_report_lost(1);
    if (logs.err_fd > STDERR_FILENO)
        close(logs.err_fd);
    if (logs.access_fd > STDERR_FILENO)
        close(logs.access_fd);
    free(logs.err_path);
    free(logs.access_path);
    logs.err_fd = STDERR_FILENO;
    logs.access_fd = -1;
    logs.err_path = logs.access_path = NULL;
}

void gn__log_set_pid(int pid)
{
    logs.pid = pid;
}

int gn__log_access_enabled(void)
{
    return logs.access_fd >= 0 || gn__syslog_enabled();
}

/* A line could not be written (ERR): count it, and say so at once if the
 * last report is old enough, else later (the worker's next tick past the
 * interval, on recovery, on USR1 or at exit). */
static void lost_line(int err)
{
    logs.failing = 1;
    logs.lost++;
    logs.lost_errno = err;
    if (time(NULL) - logs.lost_reported >= LOST_REPORT_SECS)
        report_lost("; more are counted, reported at most every " XSTR(
            LOST_REPORT_SECS) " s");
}

/* A line of LEN bytes of which SENT went out failed with ERR. A line cut
 * short is ended by the next write; one that lacks only its newline is
 * then whole, so it is not counted as lost. */
static void write_failed(size_t len, size_t sent, int err)
{
    logs.torn |= sent > 0;
    if (sent + 1 != len)
        lost_line(err);
}

/* The way after a failure: end a torn line first, and once a line goes
 * out whole again, report what was lost. */
static void write_after_failure(const char *line, size_t len)
{
    size_t sent;
    int rc = 0;

    if (logs.torn && (rc = write_all_of(logs.access_fd, "\n", 1, &sent)) == 0)
        logs.torn = 0;
    if (rc == 0)
        rc = write_all_of(logs.access_fd, line, len, &sent);
    if (rc != 0) {
        write_failed(len, sent, -rc);
        return;
    }
    if (logs.lost)
        report_lost("; writing again");
    else if (logs.failing)
        gn_log_warn("access log %s: writing again",
                    logs.access_path ? logs.access_path : "(stdout)");
    logs.failing = 0;
}

void gn__log_access_line(const char *line, size_t len)
{
    size_t sent;
    int rc;

    if (logs.access_fd < 0) {
        /* no file: syslog only */
    } else if (GN_UNLIKELY(logs.failing || logs.torn)) {
        write_after_failure(line, len);
    } else if (GN_UNLIKELY((rc = write_all_of(logs.access_fd, line, len,
                                              &sent)) != 0)) {
        write_failed(len, sent, -rc);
    }
    gn__syslog_send(LOG_INFO, line,
                    len && line[len - 1] == '\n' ? len - 1 : len);
}
