/*
 * A worker's accepting (workers/accept.c): watching its listening sockets
 * and serving what connects, paused at worker_connections, when
 * descriptors run out, and while another worker sharing a listener holds
 * fewer connections (workers/balance.h).
 */
#ifndef GN_WORKERS_ACCEPT_H
#define GN_WORKERS_ACCEPT_H

struct gn_worker;

/* At boot, before the first gn__accept_start: W's watches, and its key on
 * the balance board (the listeners it shares). 0, or -ENOMEM. */
int gn__accept_init(struct gn_worker *w);

/* At exit, once accepting stopped: frees what gn__accept_init made. */
void gn__accept_free(struct gn_worker *w);

/* Watch every listener and tell the balance board so. 0, or -errno. */
int gn__accept_start(struct gn_worker *w);

/* Stop watching the listeners (stopping, retiring, at the cap). */
void gn__accept_stop(struct gn_worker *w);

/* Watch them again after a pause, unless W is stopping, waits for its
 * replacement or still holds worker_connections. */
void gn__accept_resume(struct gn_worker *w);

/* Accept what waits on the listener FD now, as its watch would (a
 * stopping worker's own reuse_port socket, whose backlog no other worker
 * can take). */
void gn__accept_pending(struct gn_worker *w, int fd);

/* From the tick: say when an episode of EMFILE is over. */
void gn__accept_check_starved(struct gn_worker *w);

#endif /* GN_WORKERS_ACCEPT_H */
