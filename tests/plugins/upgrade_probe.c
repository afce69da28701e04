/*
 * upgrade_probe: an HTTP app for the e2e tests of gn_response_upgrade. It
 * takes every request over to a made-up line protocol, "gn-line", and
 * answers one command per line on the upgraded connection:
 *
 *     whoami     "METHOD PATH HOST-HEADER NAME\n": the request's accessors
 *                after the upgrade, and gn_stream_name
 *     addr       "peer=ADDR:PORT local=ADDR:PORT\n"
 *     response   "write=N header=N\n": what gn_response_write and
 *                gn_response_header return after the upgrade
 *     sleep S    sleeps S seconds (gn_sleep), then "slept\n"
 *     park       waits in gn_stream_read with no timeout, then logs
 *                "upgrade_probe: parked read returned N (strerror)" and
 *                returns (a worker past graceful_timeout cancels it)
 *     anything   echoed back
 *
 * It reads with a short timeout so that it sees a worker stopping, and then
 * writes "stopping\n" once, unasked. Before upgrading it adds "X-Probe:
 * yes"; with X-Try-Connection in the request it tries a Connection header
 * too, and with X-Try-Upgrade an Upgrade one, and reports each return
 * value in X-Connection-Rc / X-Upgrade-Rc. A POST's body is read first
 * unless X-Leave-Body is sent. A refused upgrade is answered 426 with
 * "refused: ERRNO-NAME\n".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <greenicorn.h>

#define PROTOCOL "gn-line"

static ssize_t reply(gn_stream_t *s, const char *text)
{
    return gn_stream_write(s, text, strlen(text), 10.0);
}

static ssize_t command(gn_stream_t *s, gn_request_t *req, gn_response_t *res,
                       const char *line)
{
    char out[512];
    const char *host = gn_request_header(req, "Host");
    ssize_t n;
    int port, lport;
    const char *peer, *local;

    if (strcmp(line, "whoami\n") == 0) {
        snprintf(out, sizeof(out), "%s %s %s %s\n", gn_request_method(req),
                 gn_request_path(req), host ? host : "-", gn_stream_name(s));
        return reply(s, out);
    }
    if (strcmp(line, "addr\n") == 0) {
        peer = gn_stream_peer_addr(s, &port);
        local = gn_stream_local_addr(s, &lport);
        snprintf(out, sizeof(out), "peer=%s:%d local=%s:%d\n", peer, port,
                 local, lport);
        return reply(s, out);
    }
    if (strcmp(line, "response\n") == 0) {
        snprintf(out, sizeof(out), "write=%d header=%d\n",
                 gn_response_write(res, "x", 1),
                 gn_response_header(res, "X-Late", "1"));
        return reply(s, out);
    }
    if (strncmp(line, "sleep ", 6) == 0) {
        int rc = gn_sleep(atof(line + 6));

        return rc < 0 ? rc : reply(s, "slept\n");
    }
    if (strcmp(line, "park\n") == 0) {
        n = gn_stream_read(s, out, sizeof(out), -1);
        gn_log(GN_LOG_INFO, "upgrade_probe: parked read returned %zd (%s)", n,
               n < 0 ? strerror((int)-n) : "data");
        return n < 0 ? n : -EPIPE;
    }
    return reply(s, line);
}

/* The upgraded connection, until the client closes it. */
static int talk(gn_stream_t *s, gn_request_t *req, gn_response_t *res)
{
    char line[256];
    int told = 0;
    ssize_t n;

    for (;;) {
        n = gn_stream_read_until(s, line, sizeof(line) - 1, "\n", 0.1);
        if (n == -ETIMEDOUT) {
            if (gn_stream_stopping(s) && !told) {
                told = 1;
                if ((n = reply(s, "stopping\n")) < 0)
                    return (int)n;
            }
            continue;
        }
        if (n <= 0)
            return (int)n;
        line[n] = '\0';
        if ((n = command(s, req, res, line)) < 0)
            return (int)n;
    }
}

static const char *errno_name(int e)
{
    switch (e) {
    case EPROTO: return "EPROTO";
    case EBUSY: return "EBUSY";
    case EALREADY: return "EALREADY";
    case EINVAL: return "EINVAL";
    case EPIPE: return "EPIPE";
    default: return strerror(e);
    }
}

static int handle(gn_request_t *req, gn_response_t *res, void *state)
{
    char buf[4096], rc[16];
    gn_stream_t *s;
    ssize_t n;

    (void)state;
    if (strcmp(gn_request_method(req), "POST") == 0 &&
        gn_request_header(req, "X-Leave-Body") == NULL)
        while ((n = gn_request_read(req, buf, sizeof(buf))) > 0)
            ;
    gn_response_header(res, "X-Probe", "yes");
    if (gn_request_header(req, "X-Try-Connection") != NULL) {
        snprintf(rc, sizeof(rc), "%d",
                 gn_response_header(res, "Connection", "keep-alive"));
        gn_response_header(res, "X-Connection-Rc", rc);
    }
    if (gn_request_header(req, "X-Try-Upgrade") != NULL) {
        snprintf(rc, sizeof(rc), "%d",
                 gn_response_header(res, "Upgrade", "other"));
        gn_response_header(res, "X-Upgrade-Rc", rc);
    }
    s = gn_response_upgrade(res, PROTOCOL);
    if (s == NULL) {
        gn_response_status(res, 426, NULL);
        gn_response_header(res, "Upgrade", PROTOCOL);
        gn_response_printf(res, "refused: %s\n", errno_name(errno));
        return 0;
    }
    return talk(s, req, res);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,
    .name = "upgrade_probe",
    .handle = handle,
};
