/*
 * The arbiter's metrics endpoint (metrics_bind): a tiny HTTP/1.0-style
 * server for GET /metrics, run from the arbiter's poll loop without ever
 * blocking it. Each scraper is a small state machine on a non-blocking
 * socket: read the request head, answer with the text the owner renders,
 * write it as the socket takes it, close. A scraper that is slow to send
 * or to read gets SCRAPE_TIMEOUT_MS in all, then is dropped; past
 * SCRAPE_CLIENTS at once, a new one is closed at once.
 */
#ifndef GN_SERVER_SCRAPE_H
#define GN_SERVER_SCRAPE_H

#include <poll.h>
#include <stddef.h>

#include "core/macros.h"

struct gn_scrape;

/* The body of a scrape: malloc'd text (its length in *LEN) the endpoint
 * frees, or NULL (out of memory: the scraper gets 500). */
typedef char *(*gn__scrape_render)(void *arg, size_t *len);

/* Listen on ADDR (HOST:PORT). The endpoint, owned by the caller and freed
 * with gn__scrape_close(), or NULL with ERR set. */
struct gn_scrape *gn__scrape_open(const char *addr, gn__scrape_render render,
                                  void *arg, char err[GN_ERR_LEN]);
void gn__scrape_close(struct gn_scrape *s);

/* The address it was opened with. */
const char *gn__scrape_addr(const struct gn_scrape *s);

/* The descriptors to poll, written into FDS (room for at most MAX):
 * their number. */
size_t gn__scrape_pollfds(const struct gn_scrape *s, struct pollfd *fds,
                          size_t max);

/* After the poll: accept, read and write what is ready, drop scrapers past
 * their time. Never blocks. */
void gn__scrape_run(struct gn_scrape *s);

/* In a forked child: close the descriptors (the child has no use for
 * them) and free nothing else. */
void gn__scrape_forked(struct gn_scrape *s);

#endif /* GN_SERVER_SCRAPE_H */
