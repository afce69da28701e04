/*
 * A growable byte buffer that starts in storage its owner provides (often
 * on the coroutine's stack) and moves to the heap only when it outgrows it,
 * so a small response costs no allocation. A buffer keeps its first error
 * (err), so a run of appends needs one check at its end.
 */
#ifndef GN_NET_BUF_H
#define GN_NET_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

struct gn_buf {
    char *data;
    size_t len, cap;
    int heap; /* data was malloc'd and is freed by gn__buf_free */
    int err;  /* the first append that failed (negative errno), or 0: once
                 set, the content is not to be used */
};

/* Start B empty in STORAGE[SIZE] (which must outlive B's use). */
void gn__buf_init(struct gn_buf *b, char *storage, size_t size);

/* gn__buf_append's way when B must grow. */
int gn__buf_append_grow(struct gn_buf *b, const void *p, size_t n);

/* Grow B to hold N more bytes: 0, or -ENOMEM (B unchanged, B->err set). */
int gn__buf_grow(struct gn_buf *b, size_t n);

/* Where N more bytes go at B's end (B grown if need be), or NULL when
 * memory ran out (B->err set). The caller writes them and adds N to
 * B->len: a line of several parts takes one check, not one a part. */
static inline char *gn__buf_room(struct gn_buf *b, size_t n)
{
    if (n > b->cap - b->len && gn__buf_grow(b, n) != 0)
        return NULL;
    return b->data + b->len;
}

/* Append N bytes. 0, or -ENOMEM (B unchanged, B->err set). Inline: a response
 * head is a dozen appends that nearly always fit. */
static inline int gn__buf_append(struct gn_buf *b, const void *p, size_t n)
{
    if (n > b->cap - b->len)
        return gn__buf_append_grow(b, p, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

/* Append the string S (without its NUL). 0, or -ENOMEM as above. */
int gn__buf_append_str(struct gn_buf *b, const char *s);

/* Append V in decimal. 0, or -ENOMEM as above. */
int gn__buf_append_u64(struct gn_buf *b, unsigned long long v);

/* Append formatted text. 0, -ENOMEM or -EINVAL (B->err set). */
int gn__buf_vprintf(struct gn_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
int gn__buf_printf(struct gn_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Free heap storage (if any) and leave B empty in no storage. */
void gn__buf_free(struct gn_buf *b);

#endif /* GN_NET_BUF_H */
