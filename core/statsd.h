/*
 * A statsd client (Gunicorn's statsd_host, statsd_prefix, dogstatsd_tags),
 * shared by the arbiter and its workers: the arbiter opens the socket at
 * start (resolving the host once, there, where blocking is harmless) and
 * each worker inherits it with the fork. Metrics are appended to a buffer
 * and sent by gn__statsd_flush(), which the owner of the process's loop
 * calls once per turn, so many requests share one datagram; a datagram
 * that would pass the MTU is sent when full. The socket is connected,
 * non-blocking, and every send is one send(2) with MSG_DONTWAIT: a statsd
 * host that is down, unreachable or slow costs a request nothing, and a
 * failed send is counted, never retried.
 */
#ifndef GN_CORE_STATSD_H
#define GN_CORE_STATSD_H

#include <stddef.h>
#include <stdint.h>

/* The namespace before every metric name, after statsd_prefix: Gunicorn
 * sends "PREFIX.gunicorn.requests"; we send "PREFIX.greenicorn.requests". */
#define GN_STATSD_NAMESPACE "greenicorn."

/* Split "HOST:PORT", "[IPv6]:PORT", ":PORT" (HOST "") or "HOST" (then
 * DEFPORT; NULL: a port is required) into HOST and PORT. 0, or -EINVAL. */
int gn__hostport_split(const char *addr, const char *defport, char *host,
                       size_t hlen, char *port, size_t plen);

/* Whether ADDR is a statsd_host: HOST[:PORT] (port 8125) or unix:PATH /
 * unix://PATH (a datagram socket), as Gunicorn takes. */
int gn__statsd_addr_valid(const char *addr);

/* Send to ADDR from now on (NULL: stop), with PREFIX (a dot is added when
 * it lacks one; NULL or "": none) and TAGS (dogstatsd's, comma-separated,
 * NULL or "": none). Resolves ADDR now. 0, or a negative errno with ERR
 * (ERRLEN bytes) saying why; then statsd stays off. */
int gn__statsd_open(const char *addr, const char *prefix, const char *tags,
                    char *err, size_t errlen);
void gn__statsd_close(void);
int gn__statsd_enabled(void);

/* Buffer one metric: NAME (after the prefix and namespace) is a counter
 * incremented by N, a timer of MS milliseconds, or a gauge at V. */
void gn__statsd_count(const char *name, int64_t n);
void gn__statsd_timing(const char *name, double ms);
void gn__statsd_gauge(const char *name, int64_t v);

/* Whether metrics wait in the buffer. */
int gn__statsd_pending(void);

/* Send what is buffered (one datagram, or a few under the MTU). */
void gn__statsd_flush(void);

/* Datagrams sent, and sends that failed (dropped), since the start. */
uint64_t gn__statsd_sent(void);
uint64_t gn__statsd_failed(void);

/* After fork: forget what the parent had buffered. */
void gn__statsd_forked(void);

#endif /* GN_CORE_STATSD_H */
