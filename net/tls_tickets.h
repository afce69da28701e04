/*
 * Session ticket keys shared by every worker (net/tls_tickets.c): made by
 * the arbiter with its first TLS context, before the fork, in memory the
 * workers share, so a returning client resumes whichever worker it
 * reaches; rotated on a schedule (net/tls.h's gn__tls_rotate_due) and
 * with every new context (HUP).
 */
#ifndef GN_NET_TLS_TICKETS_H
#define GN_NET_TLS_TICKETS_H

#include "core/macros.h"

struct gn_tls;

/* Seal and open T's session tickets with the shared keys: the first call
 * of the process makes them, a later one (a reload's new context) rotates
 * them. 0, or a negative errno and ERR. */
int gn__tls_tickets_use(struct gn_tls *t, char err[GN_ERR_LEN]);

#endif /* GN_NET_TLS_TICKETS_H */
