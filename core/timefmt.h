/*
 * Timestamps written without the C library's locale: an app may call
 * setlocale(LC_ALL, "") in its worker, and then strftime's %a and %b would
 * give "Sa" and "Dez" — invalid in an HTTP Date and unreadable to log
 * parsers. These format with English names and ASCII digits whatever the
 * locale is. Each writes exactly the length it returns, plus a NUL.
 */
#ifndef GN_CORE_TIMEFMT_H
#define GN_CORE_TIMEFMT_H

#include <stddef.h>
#include <time.h>

/* "Sat, 05 Dec 2026 07:41:15 GMT", the IMF-fixdate of RFC 9110 5.6.7.
 * OUT holds GN_TIME_IMF_LEN + 1 bytes. */
#define GN_TIME_IMF_LEN 29
size_t gn__time_imf(char *out, time_t t);

/* "05/Dec/2026:07:41:15 +0100" in local time, the common log format's %t
 * without its brackets. OUT holds GN_TIME_CLF_LEN + 1 bytes. */
#define GN_TIME_CLF_LEN 26
size_t gn__time_clf(char *out, time_t t);

/* "2026-12-05 07:41:15 +0100" in local time, the error log's stamp.
 * OUT holds GN_TIME_ISO_LEN + 1 bytes. */
#define GN_TIME_ISO_LEN 25
size_t gn__time_iso(char *out, time_t t);

/* "Dec  5 07:41:15" in local time, an RFC 3164 syslog TIMESTAMP. OUT holds
 * GN_TIME_SYSLOG_LEN + 1 bytes. */
#define GN_TIME_SYSLOG_LEN 15
size_t gn__time_syslog(char *out, time_t t);

#endif /* GN_CORE_TIMEFMT_H */
