/*
 * Stepping an array of buffers past the bytes a short write took: every
 * loop that writes an iovec until it is all out (green/io.c, net/conn.c,
 * net/stream.c) needs it between two writes.
 */
#ifndef GN_CORE_IOV_H
#define GN_CORE_IOV_H

#include <stddef.h>
#include <sys/uio.h>

/* Step *IOV (IOVCNT buffers) past the first N bytes: whole buffers are
 * dropped, a partly written one starts where the write stopped. The number
 * of buffers left. */
static inline size_t gn__iov_advance(struct iovec **iov, size_t iovcnt,
                                     size_t n)
{
    while (iovcnt > 0 && n >= (*iov)->iov_len) {
        n -= (*iov)->iov_len;
        (*iov)++;
        iovcnt--;
    }
    if (iovcnt > 0) {
        (*iov)->iov_base = (char *)(*iov)->iov_base + n;
        (*iov)->iov_len -= n;
    }
    return iovcnt;
}

#endif /* GN_CORE_IOV_H */
