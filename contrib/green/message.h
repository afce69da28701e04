/*
 * What the cooperative database clients share for their messages (compiled
 * into each library, hidden): a server's multi-line error text as the one
 * line gn_pq and gn_maria promise their callers, and why their pools could
 * not hand a connection out.
 */
#ifndef GN_GREEN_MESSAGE_H
#define GN_GREEN_MESSAGE_H

#include <stddef.h>

#include "deadline.h"

/* MSG as one line in BUF (LEN bytes): its lines (ending in "\n", the next
 * one's leading tabs and spaces dropped) joined with "; ", a trailing
 * newline dropped, cut to fit. */
GN_GREEN_HIDDEN void gn_green_one_line(char *buf, size_t len, const char *msg);

/* Why waiting TIMEOUT seconds for one of a pool's SIZE connections ended
 * with RC (gn_sem_acquire's: -ETIMEDOUT, -EWOULDBLOCK, -ECANCELED ...),
 * as one line in ERR (ERRLEN bytes). */
GN_GREEN_HIDDEN void gn_green_slot_wait_error(char *err, size_t errlen, int rc,
                                              double timeout, int size);

#endif /* GN_GREEN_MESSAGE_H */
