/*
 * Name resolution that never blocks the worker: libevent's evdns (its own
 * reading of the resolv_conf setting's file and /etc/hosts) inside a green
 * thread, getaddrinfo(3) outside one.
 */
#ifndef GN_GREEN_DNS_H
#define GN_GREEN_DNS_H

#include <netdb.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

/*
 * Resolve HOST for a TCP connection to PORT, within TIMEOUT_MS (< 0: no
 * limit). 0 with *OUT a list to free with gn__resolve_free(), or
 * -EHOSTUNREACH (no such name, or no address), -ETIMEDOUT, -ECANCELED,
 * -ENOMEM. May yield.
 */
int gn__resolve(const char *host, int port, int64_t timeout_ms,
                struct addrinfo **out);
void gn__resolve_free(struct addrinfo *ai);

/* Read PATH (NULL: /etc/resolv.conf) for the resolver's nameservers and
 * options: the worker's resolv_conf setting, before the first lookup. */
void gn__dns_configure(const char *path);

/* The answer to gn__dns_addresses: per family, getaddrinfo's code (0,
 * EAI_NONAME, EAI_NODATA, EAI_AGAIN, EAI_FAIL, EAI_MEMORY; EAI_FAMILY when
 * not asked) and the addresses, in the answer's order. */
struct gn_dns_answer {
    int eai4, eai6;
    size_t n4, n6;
    struct in_addr *a4;  /* N4 of them, malloc'd */
    struct in6_addr *a6; /* N6 of them, malloc'd */
};

/*
 * The A (WANT4) and AAAA (WANT6) records of NAME, asked together of the
 * nameservers, with the search list, within TIMEOUT_MS (< 0: evdns's own
 * timeout and attempts only). 0 with *OUT filled (free it with
 * gn__dns_answer_free), or a negative errno when the wait ended before
 * the answers (-ETIMEDOUT, the cancellation error, -ENOMEM). The hosts
 * file is not read: that is the caller's. May yield; call only when
 * gn__green_can_wait().
 */
int gn__dns_addresses(const char *name, int want4, int want6,
                      int64_t timeout_ms, struct gn_dns_answer *out);
void gn__dns_answer_free(struct gn_dns_answer *ans);

/*
 * The name of SA (AF_INET or AF_INET6) by its PTR record, into NAME (LEN
 * bytes). 0, -ENOENT (no name), -EAGAIN (the nameservers failed or did not
 * answer), -ENOSPC (LEN too small), -ETIMEDOUT, the cancellation error,
 * -ENOMEM, -EAFNOSUPPORT. May yield; call only when gn__green_can_wait().
 */
int gn__dns_reverse(const struct sockaddr *sa, char *name, size_t len,
                    int64_t timeout_ms);

/* Non-zero on this thread while the resolver runs evdns code, which may
 * call the C library's resolver: patch/'s getaddrinfo passes those on. */
extern _Thread_local int gn__dns_inside;

/* Drop the worker's resolver (at exit), failing requests in flight. */
void gn__dns_shutdown(void);

#endif /* GN_GREEN_DNS_H */
