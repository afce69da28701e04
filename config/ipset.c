/*
 * Address sets for the proxy trust settings. Lists are short (a few
 * proxies), so matching is a linear scan of prefix compares.
 */
#include "config/ipset.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* TEXT as a dotted-quad IPv4 address into OUT: what inet_pton(AF_INET)
 * takes (four decimal numbers to 255, no leading zeros, nothing after),
 * by hand, since every new connection's peer is matched (its address is
 * text; glibc's inet_pton spends ~220 instructions on one, issue #18).
 * 0, or -1 for anything else, which inet_pton then sees (IPv6). */
static int ipv4_parse(const char *text, uint8_t out[4])
{
    const char *s = text;

    for (int i = 0; i < 4; i++) {
        unsigned v = 0;
        const char *start = s;

        while (*s >= '0' && *s <= '9' && s - start < 3)
            v = v * 10 + (unsigned)(*s++ - '0');
        if (s == start || v > 255 || (*start == '0' && s - start > 1))
            return -1;
        if (*s != (i < 3 ? '.' : '\0'))
            return -1;
        out[i] = (uint8_t)v;
        s++;
    }
    return 0;
}

static int parse_addr(const char *text, struct gn_cidr *c)
{
    if (ipv4_parse(text, c->addr) == 0) {
        c->family = AF_INET;
        c->prefix = 32;
        return 0;
    }
    if (inet_pton(AF_INET6, text, c->addr) == 1) {
        c->family = AF_INET6;
        c->prefix = 128;
        return 0;
    }
    return -EINVAL;
}

/* "ADDR" or "ADDR/BITS". */
static int parse_entry(const char *tok, struct gn_cidr *c)
{
    char addr[64], *end;
    const char *slash = strchr(tok, '/');
    unsigned long bits;
    size_t len = slash ? (size_t)(slash - tok) : strlen(tok);

    if (len >= sizeof(addr))
        return -EINVAL;
    memcpy(addr, tok, len);
    addr[len] = '\0';
    if (parse_addr(addr, c) != 0)
        return -EINVAL;
    if (slash == NULL)
        return 0;
    bits = strtoul(slash + 1, &end, 10);
    if (slash[1] == '\0' || *end != '\0' || bits > c->prefix)
        return -EINVAL;
    c->prefix = (unsigned)bits;
    return 0;
}

static int add_entry(struct gn_ipset *set, const char *tok, char *err,
                     size_t errlen)
{
    struct gn_cidr c = {0}, *grown;

    if (strcmp(tok, "*") == 0) {
        set->any = 1;
        return 0;
    }
    if (parse_entry(tok, &c) != 0) {
        snprintf(err, errlen,
                 "'%s' is not an IP address or network (ADDR[/BITS], or *)",
                 tok);
        return -EINVAL;
    }
    grown = realloc(set->nets, (set->n + 1) * sizeof(*grown));
    if (grown == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    set->nets = grown;
    set->nets[set->n++] = c;
    return 0;
}

void gn__ipset_clear(struct gn_ipset *set)
{
    free(set->spec);
    free(set->nets);
    memset(set, 0, sizeof(*set));
}

int gn__ipset_parse(struct gn_ipset *set, const char *spec, char *err,
                    size_t errlen)
{
    struct gn_ipset fresh = {0};
    char *copy = strdup(spec), *save = NULL, *tok;
    int rc = 0;

    fresh.spec = strdup(spec);
    if (copy == NULL || fresh.spec == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    }
    for (tok = rc ? NULL : strtok_r(copy, " \t,", &save); tok && rc == 0;
         tok = strtok_r(NULL, " \t,", &save))
        rc = add_entry(&fresh, tok, err, errlen);
    free(copy);
    if (rc != 0) {
        gn__ipset_clear(&fresh);
        return rc;
    }
    gn__ipset_clear(set);
    *set = fresh;
    return 0;
}

static int prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned bytes = bits / 8, rest = bits % 8;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));

    if (memcmp(a, b, bytes) != 0)
        return 0;
    return rest == 0 || ((a[bytes] ^ b[bytes]) & mask) == 0;
}

int gn__ipset_match(const struct gn_ipset *set, const char *addr)
{
    struct gn_cidr peer;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};

    if (set->any)
        return 1;
    if (parse_addr(addr, &peer) != 0)
        return 0;
    /* ::ffff:a.b.c.d from a dual-stack socket is the IPv4 peer a.b.c.d. */
    if (peer.family == AF_INET6 && memcmp(peer.addr, mapped, 12) == 0) {
        memmove(peer.addr, peer.addr + 12, 4);
        peer.family = AF_INET;
    }
    for (size_t i = 0; i < set->n; i++)
        if (set->nets[i].family == peer.family &&
            prefix_equal(set->nets[i].addr, peer.addr, set->nets[i].prefix))
            return 1;
    return 0;
}
