/*
 * Sending log lines to syslog (Gunicorn's syslog settings): RFC 3164
 * datagrams to a unix socket (/dev/log) or a UDP address, one per line,
 * never blocking: a full or missing syslog drops the line, it never
 * stalls a worker.
 */
#ifndef GN_CORE_SYSLOG_H
#define GN_CORE_SYSLOG_H

#include <stddef.h>

/* The facility code of NAME ("user", "daemon", "local0".."local7", ...),
 * or -1. */
int gn__syslog_facility(const char *name);

/* Whether ADDR is "unix://PATH" or "udp://HOST:PORT". */
int gn__syslog_addr_valid(const char *addr);

/* Start sending to ADDR with FACILITY, as program TAG. 0, or -errno with
 * ERR set. Replaces an earlier destination. */
int gn__syslog_open(const char *addr, int facility, const char *tag, char *err,
                    size_t errlen);

/* Send MSG (LEN bytes, no newline) at SEVERITY (LOG_ERR, LOG_INFO...),
 * when open. Safe to call always. */
void gn__syslog_send(int severity, const char *msg, size_t len);

void gn__syslog_close(void);

/* Whether lines are being sent. */
int gn__syslog_enabled(void);

#endif /* GN_CORE_SYSLOG_H */
