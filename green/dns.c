/*
 * The resolver. A lookup in flight belongs to a heap record, not to the
 * waiting coroutine's stack: a coroutine that gives up (timeout, cancel)
 * leaves the record to evdns's callback, which frees it.
 *
 * The worker's evdns reads the resolv_conf setting's file (nameservers,
 * search, ndots, timeout, attempts) and /etc/hosts (for gn_connect_tcp's
 * lookups), once, when the first lookup needs it. The same resolver asks
 * the nameservers for patch/'s getaddrinfo and friends.
 */
#include "green/dns.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/util.h>

#include "core/log.h"
#include "green/loop.h"
#include "green/park.h"

static struct evdns_base *dns;
static char *resolv_conf; /* NULL: /etc/resolv.conf */

_Thread_local int gn__dns_inside;

struct lookup {
    struct gn_waiter *wt; /* NULL once the coroutine gave up */
    int done;             /* the callback ran */
    int result;           /* getaddrinfo's code, or evdns's DNS_ERR_* */
    struct evutil_addrinfo *ai;
    char *name; /* a reverse lookup's answer (malloc'd) */
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

void gn__dns_configure(const char *path)
{
    char *copy = path ? strdup(path) : NULL;

    if (path != NULL && copy == NULL)
        return; /* keep the last one: a worker out of memory aborts soon */
    free(resolv_conf);
    resolv_conf = copy;
}

static int resolver(void)
{
    const char *path = resolv_conf ? resolv_conf : "/etc/resolv.conf";
    int rc;

    if (dns != NULL)
        return 0;
    dns = evdns_base_new(gn__loop_event_base(gn__green_loop()), 0);
    if (dns == NULL)
        return -ENOMEM;
    /* evdns keeps at most 64 questions in flight and queues the rest;
     * libc has no such limit, and a worker's coroutines ask at once (each
     * getaddrinfo is two questions, A and AAAA): 50 lookups would wait
     * two round trips. The file may still set its own (options
     * max-inflight:N). */
    evdns_base_set_option(dns, "max-inflight:", "1024");
    /* Nameservers, search, ndots, timeout and attempts, and the hosts
     * file. Without a readable file evdns asks 127.0.0.1, as libc does. */
    gn__dns_inside++;
    rc = evdns_base_resolv_conf_parse(dns, DNS_OPTIONS_ALL, path);
    gn__dns_inside--;
    if (rc != 0)
        gn_log_warn("resolver: cannot use %s (evdns error %d): asking "
                    "127.0.0.1",
                    path, rc);
    return 0;
}

/* evdns_getaddrinfo in a coroutine: 0 with *EAI its code (0: *OUT the
 * list), or a negative errno when the wait ended first. */
static int lookup_green(const char *host, const char *port,
                        const struct evutil_addrinfo *hints, int64_t timeout_ms,
                        int *eai, struct addrinfo **out)
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
    /* evdns may call the C library's resolver: that must not come back
     * to patch/'s. */
    gn__dns_inside++;
    req = evdns_getaddrinfo(dns, host, port, hints, answered, lk);
    gn__dns_inside--;
    if (!lk->done) {
        rc = gn__green_park_on(&wt, "DNS lookup", -1, 0, -1, 0, timeout_ms);
        if (!lk->done) { /* gave up: the callback frees LK */
            lk->wt = NULL;
            if (req != NULL)
                evdns_getaddrinfo_cancel(req);
            return rc < 0 ? rc : -ETIMEDOUT;
        }
    }
    *eai = lk->result;
    *out = lk->ai;
    free(lk);
    return 0;
}

static int resolve_green(const char *host, const char *port,
                         const struct evutil_addrinfo *hints,
                         int64_t timeout_ms, struct addrinfo **out)
{
    int eai, rc = lookup_green(host, port, hints, timeout_ms, &eai, out);

    return rc < 0 ? rc : mapped(eai);
}

/* ---- address records, for patch/'s getaddrinfo ----------------------- */

/* One query of a lookup (A or AAAA) and what it brought. */
struct query {
    struct records *rec;
    struct evdns_request *req; /* NULL once answered */
    int asked, eai, count;
    void *addrs; /* COUNT addresses, malloc'd */
};

/* A lookup in flight: freed by whoever sees it last, the waiting
 * coroutine or, when it gave up, the last callback. */
struct records {
    struct gn_waiter *wt; /* NULL once the coroutine gave up */
    int pending;          /* queries not answered */
    struct query q[2];    /* A, AAAA */
};

/* getaddrinfo's code for evdns's DNS_ERR_* (glibc's mapping: a server
 * failure or silence is worth trying again, a refusal too). */
static int eai_of(int result, int count)
{
    switch (result) {
    case DNS_ERR_NONE: return count > 0 ? 0 : EAI_NODATA;
    case DNS_ERR_NODATA: return EAI_NODATA;
    case DNS_ERR_NOTEXIST: return EAI_NONAME;
    case DNS_ERR_SERVERFAILED:
    case DNS_ERR_REFUSED:
    case DNS_ERR_TIMEOUT:
    case DNS_ERR_TRUNCATED:
    case DNS_ERR_SHUTDOWN:
    case DNS_ERR_CANCEL: return EAI_AGAIN;
    default: return EAI_FAIL;
    }
}

static void records_free(struct records *rec)
{
    free(rec->q[0].addrs);
    free(rec->q[1].addrs);
    free(rec);
}

static void got_records(int result, char type, int count, int ttl, void *addrs,
                        void *arg)
{
    struct query *q = arg;
    struct records *rec = q->rec;
    size_t len = type == DNS_IPv6_AAAA ? 16 : 4;

    (void)ttl;
    q->req = NULL;
    q->eai = eai_of(result, count);
    if (q->eai == 0 && (q->addrs = malloc((size_t)count * len)) != NULL) {
        memcpy(q->addrs, addrs, (size_t)count * len);
        q->count = count;
    } else if (q->eai == 0) {
        q->eai = EAI_MEMORY;
    }
    if (--rec->pending > 0)
        return;
    if (rec->wt == NULL)
        records_free(rec); /* abandoned */
    else
        gn__green_wake(rec->wt, 0);
}

/* Send REC's query I for NAME. */
static void ask_records(struct records *rec, int i, const char *name)
{
    struct query *q = &rec->q[i];

    q->rec = rec;
    q->asked = 1;
    q->eai = EAI_AGAIN;
    rec->pending++;
    gn__dns_inside++;
    q->req = (i == 0 ? evdns_base_resolve_ipv4
                     : evdns_base_resolve_ipv6)(dns, name, 0, got_records, q);
    gn__dns_inside--;
    /* evdns calls back from the loop, never from here: NULL means the
     * query was never made and no callback will come. */
    if (q->req == NULL)
        rec->pending--;
}

/* Hand REC's answers to OUT; a query not asked says EAI_FAMILY. */
static void take_records(struct records *rec, struct gn_dns_answer *out)
{
    out->eai4 = rec->q[0].asked ? rec->q[0].eai : EAI_FAMILY;
    out->eai6 = rec->q[1].asked ? rec->q[1].eai : EAI_FAMILY;
    out->n4 = (size_t)rec->q[0].count;
    out->n6 = (size_t)rec->q[1].count;
    out->a4 = rec->q[0].addrs;
    out->a6 = rec->q[1].addrs;
    rec->q[0].addrs = rec->q[1].addrs = NULL;
    records_free(rec);
}

int gn__dns_addresses(const char *name, int want4, int want6,
                      int64_t timeout_ms, struct gn_dns_answer *out)
{
    struct gn_waiter wt = {0};
    struct records *rec = calloc(1, sizeof(*rec));
    int rc;

    memset(out, 0, sizeof(*out));
    if (rec == NULL || resolver() != 0) {
        free(rec);
        return -ENOMEM;
    }
    rec->wt = &wt;
    if (want4)
        ask_records(rec, 0, name);
    if (want6)
        ask_records(rec, 1, name);
    if (rec->pending > 0) {
        rc = gn__green_park_on(&wt, "DNS lookup", -1, 0, -1, 0, timeout_ms);
        if (rec->pending > 0) { /* gave up: the last callback frees REC */
            rec->wt = NULL;
            for (int i = 0; i < 2; i++)
                if (rec->q[i].req != NULL)
                    evdns_cancel_request(dns, rec->q[i].req);
            return rc < 0 ? rc : -ETIMEDOUT;
        }
    }
    take_records(rec, out);
    return 0;
}

void gn__dns_answer_free(struct gn_dns_answer *ans)
{
    free(ans->a4);
    free(ans->a6);
    memset(ans, 0, sizeof(*ans));
}

/* ---- reverse lookups -------------------------------------------------- */

static void reversed(int result, char type, int count, int ttl, void *names,
                     void *arg)
{
    struct lookup *lk = arg;

    (void)ttl;
    if (lk->wt == NULL) { /* abandoned */
        free(lk);
        return;
    }
    lk->done = 1;
    lk->result = result;
    /* A PTR answer is a pointer to the name. */
    if (result == DNS_ERR_NONE && type == DNS_PTR && count > 0)
        lk->name = strdup(*(char **)names);
    gn__green_wake(lk->wt, 0);
}

/* The request for SA's PTR record, or NULL. */
static struct evdns_request *ask_reverse(const struct sockaddr *sa,
                                         struct lookup *lk)
{
    struct evdns_request *req = NULL;

    gn__dns_inside++;
    if (sa->sa_family == AF_INET)
        req = evdns_base_resolve_reverse(
            dns, &((const struct sockaddr_in *)sa)->sin_addr, 0, reversed, lk);
    else if (sa->sa_family == AF_INET6)
        req = evdns_base_resolve_reverse_ipv6(
            dns, &((const struct sockaddr_in6 *)sa)->sin6_addr, 0, reversed,
            lk);
    gn__dns_inside--;
    return req;
}

/* What the PTR lookup's outcome is to its caller. */
static int reverse_result(struct lookup *lk, char *name, size_t len)
{
    if (lk->result == DNS_ERR_NOTEXIST ||
        (lk->result == DNS_ERR_NONE && lk->name == NULL))
        return -ENOENT;
    if (lk->result != DNS_ERR_NONE)
        return -EAGAIN;
    if (strlen(lk->name) >= len)
        return -ENOSPC;
    strcpy(name, lk->name);
    return 0;
}

int gn__dns_reverse(const struct sockaddr *sa, char *name, size_t len,
                    int64_t timeout_ms)
{
    struct gn_waiter wt = {0};
    struct lookup *lk = calloc(1, sizeof(*lk));
    struct evdns_request *req;
    int rc;

    if (lk == NULL || resolver() != 0) {
        free(lk);
        return -ENOMEM;
    }
    lk->wt = &wt;
    req = ask_reverse(sa, lk);
    if (req == NULL && !lk->done) {
        free(lk);
        return sa->sa_family == AF_INET || sa->sa_family == AF_INET6
                   ? -ENOMEM
                   : -EAFNOSUPPORT;
    }
    if (!lk->done) {
        rc = gn__green_park_on(&wt, "DNS lookup", -1, 0, -1, 0, timeout_ms);
        if (!lk->done) { /* gave up: the callback frees LK */
            lk->wt = NULL;
            evdns_cancel_request(dns, req);
            return rc < 0 ? rc : -ETIMEDOUT;
        }
    }
    rc = reverse_result(lk, name, len);
    free(lk->name);
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
