/*
 * Process titles (ps, top), for the arbiter and its workers alike. They
 * come from libbsd's setproctitle (its ctor library saves argv and environ
 * at start-up, so there is nothing to initialise here), with one
 * correction: see mark_title_end.
 */
#include "core/proctitle.h"

#include "config.h"

#include <bsd/unistd.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef GN_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

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
 * byte instead: Linux then shows the title up to its NUL. Under valgrind
 * the kernel's area is valgrind's own command line (its options, which
 * callgrind reads again in a forked worker to name its output), not the
 * argv libbsd rewrote: leave it alone there. */
static void mark_title_end(void)
{
    char *start, *end;
    size_t len;

    if (RUNNING_ON_VALGRIND || arg_area(&start, &end) != 0)
        return;
    len = strnlen(start, (size_t)(end - start));
    if (start + len + 1 >= end)
        return; /* the title fills the area, or runs past it */
    memset(start + len, 0, (size_t)(end - start) - len);
    end[-1] = '.';
}

void gn__proctitle_set(const char *role, const char *name)
{
    const char *base = name ? strrchr(name, '/') : NULL;

    setproctitle("%s [%s]", role, base ? base + 1 : name ? name : "-");
    mark_title_end();
}
