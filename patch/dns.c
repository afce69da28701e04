/*
 * The dns family: getaddrinfo, getnameinfo, gethostbyname(2) and
 * gethostbyname(2)_r. glibc's resolver calls its own internals, so no
 * socket hook reaches it: in a patched coroutine these ask the worker's
 * evdns (green/dns.c: the resolv_conf setting's nameservers, search,
 * ndots, timeout and attempts) and park until it answers.
 *
 * What needs no nameserver stays glibc's, answered the way glibc answers
 * it: a NULL or numeric host, and a name the hosts file has for the family
 * asked (glibc's files module reads the file first, which does not block).
 * For a name only DNS knows, evdns asks for its A and AAAA records, then
 * each address is handed to glibc as a numeric host with the caller's
 * service and hints, so service names, socket types, protocols and AI_*
 * flags come out exactly as glibc makes them, in glibc's own allocation
 * layout: one block per node with its address, the canonical name apart.
 * glibc's freeaddrinfo frees such a list, so freeaddrinfo is not
 * interposed and a list from either source goes to the same free.
 * gai_strerror is glibc's.
 *
 * While evdns's own code runs (it may call the C library's resolver),
 * gn__dns_inside is set and these pass straight through.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "green/dns.h"
#include "green/sys.h"
#include "patch/patch.h"

/* Exported from the executable whatever -fvisibility says. */
#define INTERPOSED __attribute__((visibility("default")))

/* The hosts file glibc's files module and evdns read. */
#define HOSTS_FILE "/etc/hosts"

static int patched(void)
{
    return gn__patch_on(GN_PATCH_DNS) && !gn__dns_inside;
}

/* Whether glibc answers HOST without a lookup: an IPv4 address in any
 * form inet_aton takes ("127.1" too), or an IPv6 one with a scope. */
static int numeric(const char *host)
{
    char buf[INET6_ADDRSTRLEN + 1];
    const char *scope = strchr(host, '%');
    struct in6_addr a6;
    struct in_addr a4;

    if (inet_aton(host, &a4))
        return 1;
    if (scope != NULL) {
        if ((size_t)(scope - host) >= sizeof(buf))
            return 0;
        memcpy(buf, host, (size_t)(scope - host));
        buf[scope - host] = '\0';
        host = buf;
    }
    return inet_pton(AF_INET6, host, &a6) == 1;
}

/* ---- the hosts file ------------------------------------------------------ */

/* Call FN(address, names, CTX) for each line of the hosts file (its
 * comment cut off) until it returns non-zero: that value, or 0. */
static int hosts_each(int (*fn)(const char *addr, char *names, void *ctx),
                      void *ctx)
{
    FILE *f = fopen(HOSTS_FILE, "re");
    char *line = NULL, *save, *addr;
    size_t cap = 0;
    int rc = 0;

    if (f == NULL)
        return 0;
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        line[strcspn(line, "#\n")] = '\0';
        save = NULL;
        if ((addr = strtok_r(line, " \t", &save)) != NULL)
            rc = fn(addr, save, ctx);
    }
    free(line);
    fclose(f);
    return rc;
}

struct forward {
    const char *name;
    int family; /* AF_UNSPEC: any */
};

static int names_host(const char *addr, char *names, void *ctx)
{
    const struct forward *fw = ctx;
    unsigned char bin[16];
    char *save = NULL, *tok;

    if ((fw->family != AF_INET6 && inet_pton(AF_INET, addr, bin) != 1) &&
        (fw->family == AF_INET || inet_pton(AF_INET6, addr, bin) != 1))
        return 0;
    for (tok = strtok_r(names, " \t", &save); tok != NULL;
         tok = strtok_r(NULL, " \t", &save))
        if (strcasecmp(tok, fw->name) == 0)
            return 1;
    return 0;
}

/* Whether the hosts file has NAME with an address of FAMILY: then glibc
 * answers from it (its files module comes first) without blocking. */
static int in_hosts(const char *name, int family)
{
    struct forward fw = {name, family};

    return hosts_each(names_host, &fw) == 1;
}

struct reverse {
    const struct sockaddr *sa;
    char *name;
    size_t len;
};

static int addr_named(const char *addr, char *names, void *ctx)
{
    const struct reverse *rv = ctx;
    const struct sockaddr *sa = rv->sa;
    unsigned char bin[16];
    char *save = NULL, *host;
    const void *want =
        sa->sa_family == AF_INET
            ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
            : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;

    if (inet_pton(sa->sa_family, addr, bin) != 1 ||
        memcmp(bin, want, sa->sa_family == AF_INET ? 4 : 16) != 0 ||
        (host = strtok_r(names, " \t", &save)) == NULL)
        return 0;
    if (strlen(host) >= rv->len)
        return -ENOSPC;
    strcpy(rv->name, host);
    return 1;
}

/* The hosts file's name for SA (its first for that address, as glibc's
 * files module finds it): 1, 0 when it has none, -ENOSPC. */
static int hosts_name(const struct sockaddr *sa, char *name, size_t len)
{
    struct reverse rv = {sa, name, len};

    return hosts_each(addr_named, &rv);
}

/* ---- getaddrinfo ---------------------------------------------------------
 */

/* glibc's verdict on SERVICE and HINTS with a numeric host standing in
 * for the name: a bad service, socket type, family or flag is refused
 * before any lookup, with glibc's own code. 0 when they are fine. */
static int check_args(const char *service, const struct addrinfo *hints)
{
    struct addrinfo h = hints ? *hints : (struct addrinfo){0}, *res = NULL;
    int rc;

    h.ai_flags &= ~(AI_CANONNAME | AI_ADDRCONFIG | AI_V4MAPPED | AI_ALL);
    h.ai_flags |= AI_NUMERICHOST;
    h.ai_canonname = NULL;
    h.ai_addr = NULL;
    h.ai_next = NULL;
    rc = gn__sys.getaddrinfo(h.ai_family == AF_INET6 ? "::" : "0.0.0.0",
                             service, &h, &res);
    if (rc == 0)
        freeaddrinfo(res);
    return rc;
}

/* Append glibc's answer for the address ADDR of FAMILY (a struct in_addr
 * or in6_addr), written as a numeric host, with SERVICE and HINTS, at
 * **TAIL, each node flagged as HINTS says. 0 or an EAI_* code. The
 * address, not a sockaddr: one built as a sockaddr_in6 and read through a
 * struct sockaddr breaks C's aliasing rules, and gcc -O3 read the family
 * before it was written. */
static int expand(int family, const void *addr, const char *service,
                  const struct addrinfo *hints, struct addrinfo ***tail)
{
    struct addrinfo h = *hints, *res = NULL;
    char num[INET6_ADDRSTRLEN];
    int rc;

    inet_ntop(family, addr, num, sizeof(num));
    h.ai_flags &= ~(AI_CANONNAME | AI_ADDRCONFIG | AI_V4MAPPED | AI_ALL);
    h.ai_flags |= AI_NUMERICHOST;
    h.ai_family = family;
    h.ai_canonname = NULL;
    h.ai_addr = NULL;
    h.ai_next = NULL;
    if ((rc = gn__sys.getaddrinfo(num, service, &h, &res)) != 0)
        return rc;
    **tail = res;
    for (;; res = res->ai_next) {
        res->ai_flags = hints->ai_flags;
        if (res->ai_next == NULL)
            break;
    }
    *tail = &res->ai_next;
    return 0;
}

/* The families the host has addresses of, as glibc's AI_ADDRCONFIG counts
 * them (all but 127.0.0.1 and ::1), and whether it has a global IPv6 one. */
static void configured(int *v4, int *v6, int *global6)
{
    struct ifaddrs *ifs, *i;

    *v4 = *v6 = *global6 = 0;
    if (getifaddrs(&ifs) != 0)
        return;
    for (i = ifs; i != NULL; i = i->ifa_next) {
        const struct sockaddr *sa = i->ifa_addr;

        if (sa != NULL && sa->sa_family == AF_INET)
            *v4 |= ((const struct sockaddr_in *)sa)->sin_addr.s_addr !=
                   htonl(INADDR_LOOPBACK);
        if (sa != NULL && sa->sa_family == AF_INET6) {
            const struct in6_addr *a =
                &((const struct sockaddr_in6 *)sa)->sin6_addr;

            *v6 |= !IN6_IS_ADDR_LOOPBACK(a);
            *global6 |= !IN6_IS_ADDR_LOOPBACK(a) && !IN6_IS_ADDR_LINKLOCAL(a);
        }
    }
    freeifaddrs(ifs);
}

/* Which records to ask for HINTS: *WANT4, *WANT6, and *SIX_FIRST (an
 * AF_UNSPEC answer lists IPv6 first only when the host could use it,
 * as glibc's default RFC 6724 order ends up doing). 0 or EAI_NONAME when
 * AI_ADDRCONFIG rules the family out, as glibc does. */
static int families(const struct addrinfo *hints, int *want4, int *want6,
                    int *six_first)
{
    int v4, v6, global6, family = hints->ai_family;

    configured(&v4, &v6, &global6);
    *six_first = global6;
    if (hints->ai_flags & AI_ADDRCONFIG) {
        if (family == AF_UNSPEC && v4 != v6)
            family = v4 ? AF_INET : AF_INET6;
        else if ((family == AF_INET && !v4) || (family == AF_INET6 && !v6))
            return EAI_NONAME;
    }
    *want4 = family != AF_INET6 || (hints->ai_flags & AI_V4MAPPED);
    *want6 = family != AF_INET;
    return 0;
}

/* The code for a lookup without an address: trying again beats no data,
 * which beats no such name (EAI_FAMILY: not asked). */
static int merged(int e4, int e6)
{
    static const int order[] = {EAI_AGAIN, EAI_MEMORY, EAI_NODATA, EAI_NONAME,
                                EAI_FAIL};

    for (size_t i = 0; i < sizeof(order) / sizeof(*order); i++)
        if (e4 == order[i] || e6 == order[i])
            return order[i];
    return EAI_FAIL;
}

/* IPv6's ::ffff:a.b.c.d for the IPv4 address A (AI_V4MAPPED). */
static struct in6_addr mapped(const struct in_addr *a)
{
    struct in6_addr m = {0};

    m.s6_addr[10] = m.s6_addr[11] = 0xff;
    memcpy(&m.s6_addr[12], a, 4);
    return m;
}

/* Expand ANS's IPv4 addresses onto **TAIL: as such, or mapped to IPv6. */
static int expand4(const struct gn_dns_answer *ans, int as6,
                   const char *service, const struct addrinfo *hints,
                   struct addrinfo ***tail)
{
    int rc = 0;

    for (size_t i = 0; i < ans->n4 && rc == 0; i++) {
        struct in6_addr m = mapped(&ans->a4[i]);

        rc = as6 ? expand(AF_INET6, &m, service, hints, tail)
                 : expand(AF_INET, &ans->a4[i], service, hints, tail);
    }
    return rc;
}

static int expand6(const struct gn_dns_answer *ans, const char *service,
                   const struct addrinfo *hints, struct addrinfo ***tail)
{
    int rc = 0;

    for (size_t i = 0; i < ans->n6 && rc == 0; i++)
        rc = expand(AF_INET6, &ans->a6[i], service, hints, tail);
    return rc;
}

/* glibc's list for the addresses in ANS. 0 or an EAI_* code. */
static int build(const char *node, const struct gn_dns_answer *ans,
                 const char *service, const struct addrinfo *hints,
                 int six_first, struct addrinfo **res)
{
    struct addrinfo *list = NULL, **tail = &list;
    int as6 = hints->ai_family == AF_INET6, rc;

    /* AF_INET6 with AI_V4MAPPED: IPv4 ones only with AI_ALL or alone. */
    int with4 = !as6 || (hints->ai_flags & AI_ALL) || ans->n6 == 0;

    if (six_first || as6) {
        rc = expand6(ans, service, hints, &tail);
        if (rc == 0 && with4)
            rc = expand4(ans, as6, service, hints, &tail);
    } else {
        rc = expand4(ans, 0, service, hints, &tail);
        if (rc == 0)
            rc = expand6(ans, service, hints, &tail);
    }
    if (rc == 0 && list == NULL)
        rc = merged(ans->eai4, ans->eai6);
    if (rc == 0 && (hints->ai_flags & AI_CANONNAME) &&
        (list->ai_canonname = strdup(node)) == NULL)
        rc = EAI_MEMORY;
    if (rc != 0 && list != NULL)
        freeaddrinfo(list);
    *res = rc == 0 ? list : NULL;
    return rc;
}

/* A lookup's wait failed (cancelled): EAI_SYSTEM, errno saying why. */
static int system_error(int neg_errno)
{
    errno = -neg_errno;
    return EAI_SYSTEM;
}

/* The DNS part of getaddrinfo: NODE needs a nameserver. */
static int ask_nameservers(const char *node, const char *service,
                           const struct addrinfo *hints, struct addrinfo **res)
{
    struct gn_dns_answer ans;
    int rc, want4, want6, six_first;

    if ((rc = families(hints, &want4, &want6, &six_first)) != 0)
        return rc;
    rc = gn__dns_addresses(node, want4, want6, -1, &ans);
    if (rc < 0)
        return system_error(rc);
    rc = build(node, &ans, service, hints, six_first, res);
    gn__dns_answer_free(&ans);
    return rc;
}

INTERPOSED int getaddrinfo(const char *node, const char *service,
                           const struct addrinfo *hints, struct addrinfo **res)
{
    /* What glibc takes a NULL HINTS for. */
    static const struct addrinfo defaults = {.ai_flags =
                                                 AI_V4MAPPED | AI_ADDRCONFIG};
    int rc;

    if (!patched() || node == NULL || numeric(node) ||
        (hints != NULL && (hints->ai_flags & AI_NUMERICHOST)) ||
        in_hosts(node, hints ? hints->ai_family : AF_UNSPEC))
        return gn__sys.getaddrinfo(node, service, hints, res);
    if ((rc = check_args(service, hints)) != 0)
        return rc;
    return ask_nameservers(node, service, hints ? hints : &defaults, res);
}

/* ---- gethostbyname ------------------------------------------------------- */

/* Lay NAME and the addresses of family AF in ANS out in BUF as glibc's
 * gethostbyname_r does. 0, or ERANGE when BUFLEN is too small. */
static int pack_hostent(const char *name, int af,
                        const struct gn_dns_answer *ans, struct hostent *he,
                        char *buf, size_t buflen)
{
    size_t alen = af == AF_INET6 ? 16 : 4,
           n = af == AF_INET6 ? ans->n6 : ans->n4;
    const char *src =
        af == AF_INET6 ? (const char *)ans->a6 : (const char *)ans->a4;
    uintptr_t pad =
        (sizeof(char *) - (uintptr_t)buf % sizeof(char *)) % sizeof(char *);
    char **ptrs, *addrs;

    if (buflen < pad + (n + 2) * sizeof(char *) + n * alen + strlen(name) + 1)
        return ERANGE;
    ptrs = (char **)(void *)(buf + pad);
    addrs = (char *)(ptrs + n + 2);
    memcpy(addrs, src, n * alen);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = addrs + i * alen;
    ptrs[n] = NULL;     /* the end of h_addr_list */
    ptrs[n + 1] = NULL; /* h_aliases: none (no CNAME chain is kept) */
    he->h_name = addrs + n * alen;
    strcpy(he->h_name, name);
    he->h_aliases = &ptrs[n + 1];
    he->h_addrtype = af;
    he->h_length = (int)alen;
    he->h_addr_list = ptrs;
    return 0;
}

/* gethostbyname_r's return value and h_errno for the lookup's code EAI,
 * as glibc's: a name that does not exist is no error of the call. */
static int host_error(int eai, int *h_errnop)
{
    switch (eai) {
    case EAI_NONAME: *h_errnop = HOST_NOT_FOUND; return 0;
    case EAI_NODATA: *h_errnop = NO_DATA; return 0;
    case EAI_AGAIN: *h_errnop = TRY_AGAIN; return EAGAIN;
    case EAI_MEMORY: *h_errnop = NETDB_INTERNAL; return ENOMEM;
    default: *h_errnop = NO_RECOVERY; return ENOENT;
    }
}

/* gethostbyname2_r by the nameservers, for a NAME that needs them. */
static int lookup_hostent(const char *name, int af, struct hostent *ret,
                          char *buf, size_t buflen, struct hostent **result,
                          int *h_errnop)
{
    struct gn_dns_answer ans;
    int rc, eai;

    *result = NULL;
    rc = gn__dns_addresses(name, af == AF_INET, af == AF_INET6, -1, &ans);
    if (rc < 0) {
        *h_errnop = NETDB_INTERNAL;
        return -rc;
    }
    eai = af == AF_INET ? ans.eai4 : ans.eai6;
    if (eai == 0) {
        rc = pack_hostent(name, af, &ans, ret, buf, buflen);
        *h_errnop = rc == 0 ? NETDB_SUCCESS : NETDB_INTERNAL;
        *result = rc == 0 ? ret : NULL;
    } else {
        rc = host_error(eai, h_errnop);
    }
    gn__dns_answer_free(&ans);
    return rc;
}

INTERPOSED int gethostbyname2_r(const char *name, int af, struct hostent *ret,
                                char *buf, size_t buflen,
                                struct hostent **result, int *h_errnop)
{
    if (!patched() || (af != AF_INET && af != AF_INET6) || numeric(name) ||
        in_hosts(name, af))
        return gn__sys.gethostbyname2_r(name, af, ret, buf, buflen, result,
                                        h_errnop);
    return lookup_hostent(name, af, ret, buf, buflen, result, h_errnop);
}

INTERPOSED int gethostbyname_r(const char *name, struct hostent *ret, char *buf,
                               size_t buflen, struct hostent **result,
                               int *h_errnop)
{
    if (!patched() || numeric(name) || in_hosts(name, AF_INET))
        return gn__sys.gethostbyname_r(name, ret, buf, buflen, result,
                                       h_errnop);
    return lookup_hostent(name, AF_INET, ret, buf, buflen, result, h_errnop);
}

/* gethostbyname's "static" result: one per thread, valid until the
 * thread's next call, as glibc's is until the process's next call. The
 * coroutines of a thread take turns: one that parks between the call and
 * reading the result may find another's there, as with glibc's threads. */
static _Thread_local struct {
    struct hostent he;
    char *buf;
    size_t len;
} last;

static struct hostent *hostent_of(const char *name, int af)
{
    struct hostent *result = NULL;
    int rc;

    if (last.buf == NULL && (last.buf = malloc(last.len = 1024)) == NULL)
        goto no_memory;
    while ((rc = gethostbyname2_r(name, af, &last.he, last.buf, last.len,
                                  &result, &h_errno)) == ERANGE) {
        char *bigger = realloc(last.buf, last.len * 2);

        if (bigger == NULL)
            goto no_memory;
        last.buf = bigger;
        last.len *= 2;
    }
    if (rc != 0 && h_errno == NETDB_INTERNAL)
        errno = rc;
    return result;

no_memory:
    h_errno = NETDB_INTERNAL;
    errno = ENOMEM;
    return NULL;
}

INTERPOSED struct hostent *gethostbyname2(const char *name, int af)
{
    if (!patched())
        return gn__sys.gethostbyname2(name, af);
    return hostent_of(name, af);
}

INTERPOSED struct hostent *gethostbyname(const char *name)
{
    if (!patched())
        return gn__sys.gethostbyname(name);
    return hostent_of(name, AF_INET);
}

/* ---- getnameinfo --------------------------------------------------------- */

/* The host part of getnameinfo for SA by name: 0 with HOST filled, or
 * an EAI_* code; *NUMERIC 1 when the address itself is the answer. */
static int name_of(const struct sockaddr *sa, char *host, socklen_t hostlen,
                   int flags, int *numeric_answer)
{
    int rc = hosts_name(sa, host, hostlen);

    *numeric_answer = 0;
    if (rc == 0)
        rc = gn__dns_reverse(sa, host, hostlen, -1);
    else if (rc == 1)
        rc = 0;
    switch (rc) {
    case 0: return 0;
    case -ENOSPC: return EAI_OVERFLOW;
    case -ENOENT:
    case -EAGAIN: /* no name, or none could be had: the address will do */
        if (flags & NI_NAMEREQD)
            return rc == -ENOENT ? EAI_NONAME : EAI_AGAIN;
        *numeric_answer = 1;
        return 0;
    default: return system_error(rc); /* cancelled, out of memory */
    }
}

INTERPOSED int getnameinfo(const struct sockaddr *sa, socklen_t salen,
                           char *host, socklen_t hostlen, char *serv,
                           socklen_t servlen, int flags)
{
    int rc, numeric_answer;

    if (!patched() || host == NULL || hostlen == 0 ||
        (flags & NI_NUMERICHOST) || sa == NULL ||
        (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
        salen < (sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                          : sizeof(struct sockaddr_in6)))
        return gn__sys.getnameinfo(sa, salen, host, hostlen, serv, servlen,
                                   flags);
    rc = name_of(sa, host, hostlen, flags, &numeric_answer);
    if (rc != 0)
        return rc;
    /* The service (a file read at most), and the address when no name
     * was found, are glibc's. */
    if (numeric_answer)
        return gn__sys.getnameinfo(sa, salen, host, hostlen, serv, servlen,
                                   flags | NI_NUMERICHOST);
    if (serv == NULL || servlen == 0)
        return 0;
    return gn__sys.getnameinfo(sa, salen, NULL, 0, serv, servlen, flags);
}
