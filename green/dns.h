/*
 * Name resolution that never blocks the worker: libevent's evdns (its own
 * reading of /etc/resolv.conf and /etc/hosts) inside a green thread,
 * getaddrinfo(3) outside one.
 */
#ifndef GN_GREEN_DNS_H
#define GN_GREEN_DNS_H

#include <netdb.h>
#include <stdint.h>

/*
 * Resolve HOST for a TCP connection to PORT, within TIMEOUT_MS (< 0: no
 * limit). 0 with *OUT a list to free with gn__resolve_free(), or
 * -EHOSTUNREACH (no such name, or no address), -ETIMEDOUT, -ECANCELED,
 * -ENOMEM. May yield.
 */
int gn__resolve(const char *host, int port, int64_t timeout_ms,
                struct addrinfo **out);
void gn__resolve_free(struct addrinfo *ai);

/* Drop the worker's resolver (at exit), failing requests in flight. */
void gn__dns_shutdown(void);

#endif /* GN_GREEN_DNS_H */
