/*
 * Growable buffers for response heads and bodies. Growth doubles, so a
 * body written in many small pieces costs O(log n) copies.
 */
#include "net/buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gn__buf_init(struct gn_buf *b, char *storage, size_t size)
{
    b->data = storage;
    b->len = 0;
    b->cap = size;
    b->heap = 0;
    b->err = 0;
}

/* Record RC, B's first error if it has none yet. */
static int fail(struct gn_buf *b, int rc)
{
    if (b->err == 0)
        b->err = rc;
    return rc;
}

static int reserve(struct gn_buf *b, size_t more)
{
    size_t cap = b->cap ? b->cap : 256;
    char *data;

    if (more <= b->cap - b->len)
        return 0;
    if (more > SIZE_MAX / 2 - b->len)
        return -ENOMEM;
    while (cap - b->len < more)
        cap *= 2;
    data = b->heap ? realloc(b->data, cap) : malloc(cap);
    if (data == NULL)
        return -ENOMEM;
    if (!b->heap && b->len)
        memcpy(data, b->data, b->len);
    b->data = data;
    b->cap = cap;
    b->heap = 1;
    return 0;
}

int gn__buf_grow(struct gn_buf *b, size_t n)
{
    return reserve(b, n) != 0 ? fail(b, -ENOMEM) : 0;
}

int gn__buf_append_grow(struct gn_buf *b, const void *p, size_t n)
{
    if (gn__buf_grow(b, n) != 0)
        return -ENOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int gn__buf_append_str(struct gn_buf *b, const char *s)
{
    return gn__buf_append(b, s, strlen(s));
}

int gn__buf_append_u64(struct gn_buf *b, unsigned long long v)
{
    unsigned long long rest = v;
    size_t n = 1;
    char *p;

    /* What every response head needs (status, Content-Length): printf's
     * machinery costs ten times more. Counted first, then written in
     * place, from the last digit back: no copy. */
    while (rest >= 10) {
        rest /= 10;
        n++;
    }
    if ((p = gn__buf_room(b, n)) == NULL)
        return -ENOMEM;
    b->len += n;
    p += n;
    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    return 0;
}

int gn__buf_vprintf(struct gn_buf *b, const char *fmt, va_list ap)
{
    va_list again;
    int n;

    va_copy(again, ap);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    if (n >= 0 && (size_t)n >= b->cap - b->len) {
        if (reserve(b, (size_t)n + 1) != 0) {
            va_end(again);
            return fail(b, -ENOMEM);
        }
        n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, again);
    }
    va_end(again);
    if (n < 0)
        return fail(b, -EINVAL);
    b->len += (size_t)n;
    return 0;
}

int gn__buf_printf(struct gn_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = gn__buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void gn__buf_free(struct gn_buf *b)
{
    if (b->heap)
        free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->heap = 0;
}
