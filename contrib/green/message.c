/*
 * Messages of the cooperative clients: libpq's and libmariadb's errors
 * come as lines ("ERROR: ...\nDETAIL: ...\n", continuations indented),
 * and a caller logs or answers with one line.
 */
#include "message.h"

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
