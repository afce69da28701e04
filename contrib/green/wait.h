/*
 * The wait function the cooperative clients call whenever their socket
 * would block: poll(2) until someone installs another (greenicorn's
 * gn_wait_fd, from contrib/hooks/green_db.c's post_fork hook). Same
 * contract as gn_wait_fd: EVENTS of GN_WAIT_READ/GN_WAIT_WRITE, the ready
 * ones (> 0) or a negative errno (-ETIMEDOUT, -ECANCELED...).
 */
#ifndef GN_GREEN_WAIT_H
#define GN_GREEN_WAIT_H

typedef int (*gn_green_wait_fn)(int fd, int events, double timeout);

#endif /* GN_GREEN_WAIT_H */
