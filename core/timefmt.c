/*
 * Locale-free timestamps: fixed English day and month names and digits
 * written by hand, so the output is the same in every locale (and costs
 * less than strftime, which consults the locale on every call).
 */
#include "core/timefmt.h"

#include <string.h>

static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* V (0..99) as two digits at P; the position after them. */
static char *two(char *p, int v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

static char *year(char *p, int tm_year)
{
    int y = tm_year + 1900;

    if (y < 0 || y > 9999)
        y = 0; /* a broken clock: keep the width, not the nonsense */
    p = two(p, y / 100);
    return two(p, y % 100);
}

static char *name(char *p, const char *s)
{
    memcpy(p, s, 3);
    return p + 3;
}

static char *put(char *p, char c)
{
    *p = c;
    return p + 1;
}

static char *clock_time(char *p, const struct tm *tm)
{
    p = put(two(p, tm->tm_hour), ':');
    p = put(two(p, tm->tm_min), ':');
    return two(p, tm->tm_sec);
}

/* "+hhmm" from the zone's offset east of UTC. */
static char *offset(char *p, const struct tm *tm)
{
    long off = tm->tm_gmtoff;

    p = put(p, off < 0 ? '-' : '+');
    if (off < 0)
        off = -off;
    p = two(p, (int)(off / 3600 % 100));
    return two(p, (int)(off / 60 % 60));
}

static const char *month_name(const struct tm *tm)
{
    return months[tm->tm_mon >= 0 && tm->tm_mon < 12 ? tm->tm_mon : 0];
}

size_t gn__time_imf(char *out, time_t t)
{
    struct tm tm;
    char *p = out;

    gmtime_r(&t, &tm);
    p = name(p, days[tm.tm_wday >= 0 && tm.tm_wday < 7 ? tm.tm_wday : 0]);
    p = put(put(p, ','), ' ');
    p = put(two(p, tm.tm_mday), ' ');
    p = put(name(p, month_name(&tm)), ' ');
    p = put(year(p, tm.tm_year), ' ');
    p = clock_time(p, &tm);
    p = name(p, " GM");
    p = put(p, 'T');
    *p = '\0';
    return (size_t)(p - out);
}

size_t gn__time_clf(char *out, time_t t)
{
    struct tm tm;
    char *p = out;

    localtime_r(&t, &tm);
    p = put(two(p, tm.tm_mday), '/');
    p = put(name(p, month_name(&tm)), '/');
    p = put(year(p, tm.tm_year), ':');
    p = put(clock_time(p, &tm), ' ');
    p = offset(p, &tm);
    *p = '\0';
    return (size_t)(p - out);
}

size_t gn__time_iso(char *out, time_t t)
{
    struct tm tm;
    char *p = out;

    localtime_r(&t, &tm);
    p = put(year(p, tm.tm_year), '-');
    p = put(two(p, tm.tm_mon + 1), '-');
    p = put(two(p, tm.tm_mday), ' ');
    p = put(clock_time(p, &tm), ' ');
    p = offset(p, &tm);
    *p = '\0';
    return (size_t)(p - out);
}

size_t gn__time_syslog(char *out, time_t t)
{
    struct tm tm;
    char *p = out;

    localtime_r(&t, &tm);
    p = put(name(p, month_name(&tm)), ' ');
    /* RFC 3164: the day of the month space-padded, as %e */
    p = put(p, tm.tm_mday < 10 ? ' ' : (char)('0' + tm.tm_mday / 10));
    p = put(put(p, (char)('0' + tm.tm_mday % 10)), ' ');
    p = clock_time(p, &tm);
    *p = '\0';
    return (size_t)(p - out);
}
