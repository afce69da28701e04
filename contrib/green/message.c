/*
 * Messages of the cooperative clients: libpq's and libmariadb's errors
 * come as lines ("ERROR: ...\nDETAIL: ...\n", continuations indented),
 * and a caller logs or answers with one line; so does a pool that could
 * not hand a connection out.
 */
#include "message.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void gn_green_one_line(char *buf, size_t len, const char *msg)
{
    size_t n = 0;

    for (; *msg != '\0' && n + 1 < len; msg++) {
        if (*msg != '\n') {
            buf[n++] = *msg;
            continue;
        }
        while (msg[1] == '\t' || msg[1] == ' ')
            msg++;
        if (msg[1] != '\0' && n + 3 < len) {
            buf[n++] = ';';
            buf[n++] = ' ';
        }
    }
    if (len > 0)
        buf[n] = '\0';
}

void gn_green_slot_wait_error(char *err, size_t errlen, int rc, double timeout,
                              int size)
{
    if (rc == -ETIMEDOUT)
        snprintf(err, errlen, "all %d connections stayed busy for %.3g s",
                 size, timeout);
    else if (rc == -EWOULDBLOCK)
        snprintf(err, errlen, "all %d connections are in use", size);
    else if (rc == -ECANCELED)
        snprintf(err, errlen, "waiting for a connection was cancelled");
    else
        snprintf(err, errlen, "waiting for a connection failed: %s",
                 strerror(-rc));
}
