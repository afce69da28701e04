/*
 * Sets of trusted client addresses, as Gunicorn's proxy_allow_ips and
 * forwarded_allow_ips take them: a comma- or space-separated list of IPv4
 * and IPv6 addresses or networks (CIDR), or "*" for every address.
 */
#ifndef GN_CONFIG_IPSET_H
#define GN_CONFIG_IPSET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct gn_cidr {
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* network byte order */
    unsigned prefix;  /* bits that must match */
};

struct gn_ipset {
    char *spec; /* as written, for --print-config */
    int any;    /* "*" */
    struct gn_cidr *nets;
    size_t n;
};

/* Parse SPEC into SET (replacing what it held). 0, or -EINVAL with a
 * reason in ERR, or -ENOMEM. */
int gn__ipset_parse(struct gn_ipset *set, const char *spec, char *err,
                    size_t errlen);

/* Free what SET holds. */
void gn__ipset_clear(struct gn_ipset *set);

/* Whether the address ADDR (textual IPv4 or IPv6, as the connection
 * reports it) belongs to SET. IPv4-mapped IPv6 addresses match IPv4
 * entries. */
int gn__ipset_match(const struct gn_ipset *set, const char *addr);

#endif /* GN_CONFIG_IPSET_H */
