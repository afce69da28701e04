/*
 * line_echo: a stream app that echoes each line (up to and including its
 * '\n') until the client closes its end; then it closes too. Lines longer
 * than `max_line` are echoed in pieces of that size.
 *
 *     [stream:echo]
 *     bind = 127.0.0.1:1235
 *     module = line_echo.so
 *
 *     [stream:echo.args]
 *     max_line = 4096          the longest line echoed whole (bytes)
 *     idle_timeout = 300       seconds a client may stay silent (< 0: no
 *                              limit)
 *
 * A stopping worker lets a connection finish: the handler goes on until
 * the client closes or graceful_timeout is nearly over, when its read
 * returns -ECANCELED and it returns.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <greenicorn.h>

struct line_echo {
    size_t max_line;
    double idle_timeout;
};

static int init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct line_echo *le = malloc(sizeof(*le));

    if (le == NULL)
        return -ENOMEM;
    le->max_line = 4096;
    le->idle_timeout = 300;
    for (size_t i = 0; i < nargs; i++) {
        char *end;

        if (strcmp(args[i].name, "max_line") == 0) {
            long v = strtol(args[i].value, &end, 10);

            if (*end != '\0' || v < 1 || v > (1 << 20)) {
                gn_log(GN_LOG_ERROR, "line_echo: max_line must be 1..1048576");
                free(le);
                return -EINVAL;
            }
            le->max_line = (size_t)v;
        } else if (strcmp(args[i].name, "idle_timeout") == 0) {
            le->idle_timeout = strtod(args[i].value, &end);
            if (*end != '\0') {
                gn_log(GN_LOG_ERROR, "line_echo: idle_timeout is seconds");
                free(le);
                return -EINVAL;
            }
        } else {
            gn_log(GN_LOG_ERROR, "line_echo: unknown argument %s",
                   args[i].name);
            free(le);
            return -EINVAL;
        }
    }
    *state = le;
    return 0;
}

static int handle(gn_stream_t *s, void *state)
{
    const struct line_echo *le = state;
    char *line = malloc(le->max_line);
    ssize_t n;

    if (line == NULL)
        return -ENOMEM;
    for (;;) {
        n = gn_stream_read_until(s, line, le->max_line, "\n", le->idle_timeout);
        if (n == -ENOBUFS) /* a longer line: echo a piece of it */
            n = gn_stream_read(s, line, le->max_line, le->idle_timeout);
        if (n == -EPIPE) /* the last line had no '\n': echo it as is */
            n = gn_stream_read(s, line, le->max_line, 0);
        if (n <= 0)
            break;
        if ((n = gn_stream_write(s, line, (size_t)n, le->idle_timeout)) < 0)
            break;
    }
    free(line);
    return n < 0 ? (int)n : 0;
}

static void fini(void *state)
{
    free(state);
}

GN_EXPORT const gn_stream_app_t greenicorn_stream_app = {
    GN_STREAM_APP_HEADER,
    .name = "line_echo",
    .init = init,
    .handle = handle,
    .fini = fini,
};
