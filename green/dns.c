/*
 * The resolver. A lookup in flight belongs to a heap record, not to the
 * waiting coroutine's stack: a coroutine that gives up (timeout, cancel)
 * leaves the record to evdns's callback, which frees it.
 */
#include "green/dns.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/util.h>

#include "green/loop.h"
#include "green/park.h"

static struct evdns_base *dns;

struct lookup {
    struct gn_waiter *wt; /* NULL once the coroutine gave up */
    int done;             /* the callback ran */
    int result;           /* getaddrinfo's code */
    struct evutil_addrinfo *ai;
};

static void answered(int result, struct evutil_addrinfo *ai, void *arg)
{
    struct lookup *lk = arg;

    if (lk->wt == NULL) { /* abandoned */
        if (ai != NULL)
            evutil_freeaddrinfo(ai);
        free(lk);
        return;
    }
    lk->done = 1;
    lk->result = result;
    lk->ai = ai;
    gn__green_wake(lk->wt, 0);
}

static int mapped(int eai)
{
    switch (eai) {
    case 0: return 0;
    case EVUTIL_EAI_MEMORY: return -ENOMEM;
    case EVUTIL_EAI_AGAIN: return -EAGAIN;
    default: return -EHOSTUNREACH;
    }
}

static int resolver(void)
{
    if (dns == NULL)
        dns = evdns_base_new(gn__loop_event_base(gn__green_loop()),
                             EVDNS_BASE_INITIALIZE_NAMESERVERS);
    return dns ? 0 : -ENOMEM;
}

static int resolve_green(const char *host, const char *port,
                         const struct evutil_addrinfo *hints,
                         int64_t timeout_ms, struct addrinfo **out)
{
    struct gn_waiter wt = {0};
    struct lookup *lk = calloc(1, sizeof(*lk));
    struct evdns_getaddrinfo_request *req;
    int rc;

    if (lk == NULL || resolver() != 0) {
        free(lk);
        return -ENOMEM;
    }
    lk->wt = &wt;
    req = evdns_getaddrinfo(dns, host, port, hints, answered, lk);
    if (!lk->done) {
        rc = gn__green_park(&wt, -1, 0, timeout_ms);
        if (!lk->done) { /* gave up: the callback frees LK */
            lk->wt = NULL;
            if (req != NULL)
                evdns_getaddrinfo_cancel(req);
            return rc < 0 ? rc : -ETIMEDOUT;
        }
    }
    rc = mapped(lk->result);
    *out = lk->ai;
    free(lk);
    return rc;
}

int gn__resolve(const char *host, int port, int64_t timeout_ms,
                struct addrinfo **out)
{
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC,
                                    .ai_socktype = SOCK_STREAM,
                                    .ai_protocol = IPPROTO_TCP};
    char service[16];

    /* No AI_ADDRCONFIG: libevent's ignores loopback addresses, so a host
     * with only those could not resolve "localhost". */
    *out = NULL;
    snprintf(service, sizeof(service), "%d", port);
    if (gn__green_can_wait())
        return resolve_green(host, service, &hints, timeout_ms, out);
    /* Outside a green thread: block, as libc would. */
    return mapped(evutil_getaddrinfo(host, service, &hints, out));
}

void gn__resolve_free(struct addrinfo *ai)
{
    if (ai != NULL)
        evutil_freeaddrinfo(ai);
}

void gn__dns_shutdown(void)
{
    if (dns != NULL)
        evdns_base_free(dns, 1);
    dns = NULL;
}
