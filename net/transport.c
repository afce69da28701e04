/*
 * The plain transport: the socket's bytes as they are, through green/sys
 * (the one place that makes raw system calls). Nothing is buffered here,
 * so a short read always means the socket is drained.
 */
#include "net/transport.h"

#include <sys/sendfile.h>

#include "green/sys.h"
#include "net/conn.h"

static ssize_t tcp_recv(struct gn_conn *c, void *buf, size_t len, int flags)
{
    return gn__sys_recv(c->fd, buf, len, flags);
}

static ssize_t tcp_sendmsg(struct gn_conn *c, const struct msghdr *mh,
                           int flags)
{
    return gn__sys_sendmsg(c->fd, mh, flags);
}

static ssize_t tcp_sendfile(struct gn_conn *c, int fd, off_t *offset,
                            size_t count)
{
    return gn__sys_sendfile(c->fd, fd, offset, count);
}

static int tcp_shutdown(struct gn_conn *c, int how)
{
    return gn__sys_shutdown(c->fd, how);
}

static size_t tcp_pending(struct gn_conn *c)
{
    (void)c;
    return 0;
}

const struct gn_transport gn__transport_tcp = {
    .recv = tcp_recv,
    .sendmsg = tcp_sendmsg,
    .sendfile = tcp_sendfile,
    .shutdown = tcp_shutdown,
    .pending = tcp_pending,
};
