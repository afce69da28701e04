/*
 * Process titles (ps, top), for the arbiter and its workers alike. They
 * come from libbsd's setproctitle (its ctor library saves argv and environ
 * at start-up, so there is nothing to initialise here), with one
 * correction: see mark_title_end. A build without libbsd sets only the
 * kernel's command name (comm, 15 bytes: what top and ps -o comm show).
 */
#include "core/proctitle.h"

#include "config.h"

#if GN_HAVE_LIBBSD
#include <bsd/unistd.h>
#else
#include <sys/prctl.h>
#endif
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

#if GN_HAVE_LIBBSD

/* The kernel's bounds of our argument area: /proc/self/stat's fields 48
 * and 49 (arg_start, arg_end). 0, or -1. */
static int arg_area(char **start, char **end)
{
    static char *s, *e;
    char buf[2048], *p;
    unsigned long long v[2];
    ssize_t n;
    int fd;

    if (s == NULL) {
        fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
        n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
        if (fd >= 0)
            close(fd);
        if (n <= 0)
            return -1;
        buf[n] = '\0';
        p = strrchr(buf, ')'); /* the command name may hold spaces */
        /* Each space passed starts the next field, from field 3. */
        for (int field = 2; p != NULL && field < 48; field++)
            p = strchr(p + 1, ' ');
        if (p == NULL || sscanf(p, " %llu %llu", &v[0], &v[1]) != 2 ||
            v[1] <= v[0])
            return -1;
        s = (char *)(uintptr_t)v[0];
        e = (char *)(uintptr_t)v[1];
    }
    *start = s;
    *end = e;
    return 0;
}

/* libbsd marks a title shorter than the arguments with a '.' where
 * argv[0] ended, for Linux to show the title alone; but Linux looks at the
 * last byte of the whole argument area, so ps showed the title, blanks
 * for the NULs and the '.'. Clear the rest of the area and mark its last
 * byte instead: Linux then shows the title up to its NUL. Only where the
 * area holds the TITLE libbsd just wrote: under valgrind the kernel's area
 * is valgrind's own command line (its options, which callgrind reads again
 * in a forked worker to name its output), and it must stay as it is. */
static void mark_title_end(const char *title)
{
    size_t len, tlen = strlen(title);
    char *start, *end;

    if (arg_area(&start, &end) != 0)
        return;
    len = strnlen(start, (size_t)(end - start));
    /* A title that ends exactly where argv[0] did gets a space there from
     * libbsd (and its NUL one byte on): that space is not the title's. */
    if (len > tlen && start[len - 1] == ' ' &&
        memcmp(start + len - 1 - tlen, title, tlen) == 0)
        len--;
    if (start + len + 1 >= end)
        return; /* the title fills the area, or runs past it */
    if (len < tlen || memcmp(start + len - tlen, title, tlen) != 0)
        return; /* not our title: libbsd wrote it elsewhere */
    memset(start + len, 0, (size_t)(end - start) - len);
    end[-1] = '.';
}

static void set_title(const char *title)
{
    setproctitle("%s", title);
    mark_title_end(title);
}

#else

/* The command name, cut by the kernel to 15 bytes ("worker [myapp]");
 * /proc/PID/cmdline keeps the command line. */
static void set_title(const char *title)
{
    static int said;

    prctl(PR_SET_NAME, (unsigned long)title, 0, 0, 0);
    if (!said++)
        gn_log_info("process titles: the command name only (\"%.15s\"); "
                    "full titles need a build with libbsd",
                    title);
}

#endif

void gn__proctitle_set(const char *role, const char *name)
{
    const char *base = name ? strrchr(name, '/') : NULL;
    char title[256];

    snprintf(title, sizeof(title), "%s [%s]", role,
             base ? base + 1 : name ? name : "-");
    set_title(title);
}
