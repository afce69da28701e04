/*
 * The control socket (`control_socket`, Gunicorn 26's control interface):
 * a unix socket the arbiter listens on for `greenicorn ctl`. A client
 * sends one command line ("workers\n", "add 2\n") and reads one JSON line
 * back, {"ok":true,"data":...} or {"ok":false,"error":"..."}, then the
 * arbiter closes the connection. This module is the socket and its
 * clients; what the commands do is the arbiter's (the callback).
 *
 * Nothing here blocks the arbiter's loop: sockets are non-blocking, a
 * command line is at most GN_CONTROL_LINE bytes, and each client has a
 * deadline. Only the server's own uid (and root) may talk to it: the file
 * is mode 0600 and each peer's SO_PEERCRED is checked.
 */
#ifndef GN_SERVER_CONTROL_H
#define GN_SERVER_CONTROL_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/macros.h"

#define GN_CONTROL_LINE 256   /* the longest command line, "\n" included */
#define GN_CONTROL_ARGS 8     /* words in a command line */
#define GN_CONTROL_CLIENTS 16 /* connections at once; more are refused */
#define GN_CONTROL_POLLFDS (1 + GN_CONTROL_CLIENTS)

struct gn_control;
struct gn_control_client;

/* A command: ARGV[0] is its name, ARGC >= 1. The callback answers with
 * gn__control_reply or gn__control_error, at once or later (a `dump`
 * waits for the workers): until it does, the client stays open and its
 * deadline does not apply. The strings live until the callback returns. */
typedef void (*gn_control_cb)(void *ctx, struct gn_control_client *c,
                              int argc, char **argv);

/* Listen at PATH: created mode 0600 under a temporary name, then renamed
 * over PATH, which replaces a stale socket (or the old arbiter's, after
 * USR2) without a moment where PATH names nothing. The control, or NULL
 * with ERR set. */
struct gn_control *gn__control_open(const char *path, gn_control_cb cb,
                                    void *ctx, char err[GN_ERR_LEN]);

/* The path it listens at. */
const char *gn__control_path(const struct gn_control *ctl);

/* Close the socket and every client, and free CTL (NULL: nothing). The
 * file is removed only if it is still this socket's (after USR2 it is the
 * new arbiter's). */
void gn__control_close(struct gn_control *ctl);

/* In a forked child (a worker): close the arbiter's descriptors, and
 * nothing else (CTL stays the arbiter's). */
void gn__control_forget(struct gn_control *ctl);

/* Listen again at the same path (the new arbiter of a USR2 exited: the
 * file names a dead socket). 0, or -errno with ERR set. */
int gn__control_rebind(struct gn_control *ctl, char err[GN_ERR_LEN]);

/* Fill PFD (room for GN_CONTROL_POLLFDS) with what to poll; the count. */
size_t gn__control_pollfds(const struct gn_control *ctl, struct pollfd *pfd);

/* The longest the loop may sleep before gn__control_run has a deadline to
 * enforce, in ms (-1: none). */
int gn__control_timeout(const struct gn_control *ctl);

/* Act on what poll said of PFD (as filled by gn__control_pollfds): accept,
 * read and dispatch commands, write answers, drop clients past their
 * deadline. */
void gn__control_run(struct gn_control *ctl, const struct pollfd *pfd,
                     size_t n);

/* Answer C with DATA (stolen; NULL: {}), {"ok":true,"data":DATA}. */
void gn__control_reply(struct gn_control_client *c, json_t *data);

/* Answer C with {"ok":false,"error":MESSAGE}. */
void gn__control_error(struct gn_control_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* GN_SERVER_CONTROL_H */
