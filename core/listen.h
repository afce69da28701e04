/*
 * Listening sockets: the arbiter binds every configured address before it
 * forks, and the workers inherit the descriptors and accept on them.
 */
#ifndef GN_CORE_LISTEN_H
#define GN_CORE_LISTEN_H

#include <stddef.h>

#include "core/macros.h"

enum gn_bind_kind {
    GN_BIND_TCP,  /* host:port, [v6]:port, or host alone (port 8000) */
    GN_BIND_UNIX, /* unix:PATH */
    GN_BIND_FD,   /* fd://N: an inherited listening socket (systemd) */
};

/* One listening address as configured (resolved later, at bind time). */
struct gn_bind {
    enum gn_bind_kind kind;
    char *spec; /* as written, for messages: "127.0.0.1:8000" */
    char *host; /* TCP: without brackets; "" means every address */
    int port;   /* TCP */
    char *path; /* UNIX */
    int fd;     /* FD */
    /* Where it was set, for messages: "FILE:LINE: bind", "--bind (command
     * line)", "LISTEN_FDS"; NULL for the default. */
    char *origin;
    /* The [stream:NAME] it serves (borrowed from the config); NULL: HTTP. */
    const char *stream;
    int tls; /* written tls://ADDRESS (or made TLS by certfile alone) */
};

struct gn_listener {
    int fd;
    enum gn_bind_kind kind;
    char *spec;      /* the bind it serves, as configured */
    char *name;      /* what was bound, for logs: "127.0.0.1:8000", "unix:/p" */
    char *unix_path; /* to unlink on a clean stop; NULL for TCP */
    int per_worker;  /* reuse_port: bound, not listening; each worker
                        listens on a socket of its own (gn__listener_own) */
    char *stream;    /* the [stream:NAME] served here; NULL: HTTP */
    int tls;         /* its connections speak TLS first */
    int deferred;    /* TCP_DEFER_ACCEPT taken: a connection accepted from
                        it has sent bytes (or stayed silent a second) */
};

/*
 * Bind and listen on the NBINDS addresses of BINDS (BACKLOG; with
 * REUSE_PORT bound only, see per_worker), non-blocking and close-on-exec.
 * On success *OUT is an array of *N listeners owned by the caller (free with
 * gn__listeners_close). On failure nothing stays bound and ERR names the
 * address and the reason ("cannot bind 127.0.0.1:8000: Address already in
 * use"); returns a negative errno.
 */
int gn__listeners_open(const struct gn_bind *binds, size_t nbinds, int backlog,
                       int reuse_port, struct gn_listener **out, size_t *n,
                       char err[GN_ERR_LEN]);

/*
 * For a reloaded config (BINDS, BACKLOG, REUSE_PORT as for
 * gn__listeners_open): keep each listener of OLD whose bind is still
 * configured (same spec; its backlog updated), open the new ones, and
 * close (unlinking unix sockets) the ones no longer configured. On success
 * OLD is consumed and *OUT and *N hold the new set. On failure nothing changes
 * (OLD stays open and owned by the caller) and ERR says why.
 */
int gn__listeners_reopen(struct gn_listener *old, size_t nold,
                         const struct gn_bind *binds, size_t nbinds,
                         int backlog, int reuse_port, struct gn_listener **out,
                         size_t *n, char err[GN_ERR_LEN]);

/* In a worker, with reuse_port: replace L's descriptor by a socket of the
 * worker's own, bound to the same address with SO_REUSEPORT and
 * listening. With CPU >= 0 (the worker's, worker_cpu_affinity) the socket
 * asks for the connections whose packets that CPU receives
 * (SO_INCOMING_CPU: the kernel picks such a socket of the group first,
 * Linux 6.1 and later; before, its hash as without). 0, or -errno with
 * ERR set. */
int gn__listener_own(struct gn_listener *l, int backlog, int cpu,
                     char err[GN_ERR_LEN]);

/* Whether the kernel moves the connections queued on a reuse_port socket
 * that closes to another of its group (net.ipv4.tcp_migrate_req = 1,
 * Linux 5.14+); without, a worker that stops resets those that reach its
 * socket between its last accept and its close. */
int gn__reuse_port_migrates(void);

/* TCP_DEFER_ACCEPT on every TCP listener of LS that serves HTTP when ON
 * (off otherwise, and on stream listeners always): the kernel hands a
 * connection over once its first bytes came, so a worker wakes once for
 * the connection and its request. Best effort: a socket that refuses it
 * works as before. Each listener's deferred says whether it took it. */
void gn__listeners_defer_accept(struct gn_listener *ls, size_t n, int on);

/* TCP_NODELAY on every TCP listener of LS: the connections accepted from
 * it inherit it (Linux copies the listener's socket), so none needs a
 * setsockopt of its own. 1 when every TCP listener took it, 0 when one
 * refused (its connections must set it themselves). */
int gn__listeners_nodelay(struct gn_listener *ls, size_t n);

/* Close every listener and free the array. UNLINK removes unix socket
 * files (the arbiter's clean stop); workers pass 0. */
void gn__listeners_close(struct gn_listener *ls, size_t n, int unlink_unix);

#endif /* GN_CORE_LISTEN_H */
