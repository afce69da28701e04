/*
 * whoami: a stream app (gevent's StreamServer example). On connect it
 * writes the client's address and closes:
 *
 *     [stream:whoami]
 *     bind = 127.0.0.1:1234
 *     module = whoami.so
 *
 *     $ nc 127.0.0.1 1234
 *     Your address is 127.0.0.1
 */
#include <stdio.h>
#include <string.h>

#include <greenicorn.h>

#define WRITE_TIMEOUT 10.0 /* seconds for a client to take the line */

static int handle(gn_stream_t *s, void *state)
{
    char line[96];
    int n = snprintf(line, sizeof(line), "Your address is %s\n",
                     gn_stream_peer_addr(s, NULL));
    ssize_t rc;

    (void)state;
    rc = gn_stream_write(s, line, (size_t)n, WRITE_TIMEOUT);
    return rc < 0 ? (int)rc : 0; /* the server closes the connection */
}

GN_EXPORT const gn_stream_app_t greenicorn_stream_app = {
    GN_STREAM_APP_HEADER,
    .name = "whoami",
    .handle = handle,
};
