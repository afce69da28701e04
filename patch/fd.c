/*
 * The descriptor table (fd.h): an array indexed by fd, grown on demand.
 * Waiter lists point at no entry (the head is found again by the fd), so
 * growing the array with realloc moves nothing a waiter holds.
 */
#include "patch/fd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "green/loop.h"
#include "green/sys.h"

struct fd_entry {
    unsigned char kind;
    struct gn_fd_waiter *waiters;
};

static struct {
    struct fd_entry *e;
    size_t len;
} table;

/* FD's entry, growing the table to hold it; NULL for a negative fd or when
 * memory is short. */
static struct fd_entry *entry(int fd)
{
    size_t want;
    struct fd_entry *e;

    if (fd < 0)
        return NULL;
    if ((size_t)fd < table.len)
        return &table.e[fd];
    want = table.len ? table.len : 64;
    while (want <= (size_t)fd)
        want *= 2;
    e = realloc(table.e, want * sizeof(*e));
    if (e == NULL)
        return NULL;
    memset(e + table.len, 0, (want - table.len) * sizeof(*e));
    table.e = e;
    table.len = want;
    return &table.e[fd];
}

static enum gn_fd_kind probe(int fd)
{
    struct stat st;

    if (gn__sys_fstat(fd, &st) != 0)
        return GN_FD_UNKNOWN; /* not open: the call itself will say so */
    return S_ISSOCK(st.st_mode) ? GN_FD_SOCKET : GN_FD_OTHER;
}

enum gn_fd_kind gn__fd_kind(int fd)
{
    struct fd_entry *e = entry(fd);

    if (e == NULL)
        return fd < 0 ? GN_FD_OTHER : probe(fd);
    if (e->kind == GN_FD_UNKNOWN)
        e->kind = (unsigned char)probe(fd);
    return (enum gn_fd_kind)e->kind;
}

void gn__fd_set_kind(int fd, enum gn_fd_kind kind)
{
    struct fd_entry *e = entry(fd);

    if (e != NULL)
        e->kind = (unsigned char)kind;
}

void gn__fd_forget(int fd)
{
    struct gn_fd_waiter *n;

    if (fd < 0 || (size_t)fd >= table.len)
        return;
    table.e[fd].kind = GN_FD_UNKNOWN;
    /* Waking stops each waiter's watch now, while FD still names the
     * file its loop registration was made for; each waiter unlinks itself
     * when it runs again. */
    for (n = table.e[fd].waiters; n != NULL; n = n->next) {
        if (n->watch != NULL)
            gn__watch_stop(n->watch);
        gn__green_wake(n->wt, -EBADF);
    }
}

void gn__fd_new(int fd, enum gn_fd_kind kind)
{
    gn__fd_forget(fd);
    gn__fd_set_kind(fd, kind);
}

void gn__fd_link(struct gn_fd_waiter *n, int fd, struct gn_waiter *wt)
{
    struct fd_entry *e = entry(fd);

    n->wt = wt;
    n->watch = NULL;
    n->fd = fd;
    n->linked = e != NULL;
    n->prev = NULL;
    n->next = NULL;
    if (e == NULL)
        return;
    n->next = e->waiters;
    if (n->next != NULL)
        n->next->prev = n;
    e->waiters = n;
}

void gn__fd_unlink(struct gn_fd_waiter *n)
{
    if (!n->linked)
        return;
    if (n->prev != NULL)
        n->prev->next = n->next;
    else
        table.e[n->fd].waiters = n->next;
    if (n->next != NULL)
        n->next->prev = n->prev;
    n->linked = 0;
}
