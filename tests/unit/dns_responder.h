/*
 * A DNS server for the resolver's tests: UDP on 127.0.0.1 (an ephemeral
 * port), on a thread of its own, answering A, AAAA and PTR questions from
 * a table after a delay (each answer on its own timer, so lookups that
 * overlap are answered together), or never. A name the table lacks gets
 * NXDOMAIN; a name it has without that type, an empty answer.
 */
#ifndef GN_TESTS_DNS_RESPONDER_H
#define GN_TESTS_DNS_RESPONDER_H

#include <pthread.h>

#define DNS_A 1
#define DNS_PTR 12
#define DNS_AAAA 28

struct dns_record {
    const char *name;  /* "svc.example.test", "7.0.0.127.in-addr.arpa" */
    int type;          /* DNS_A, DNS_AAAA, DNS_PTR */
    const char *value; /* the address, or the PTR's name */
};

struct dns_responder {
    const struct dns_record *records; /* ended by a NULL name */
    int delay_ms;                     /* before each answer */
    int silent;                       /* answer nothing */
    const char *search;               /* resolv.conf's search list, or NULL */
    int port;                         /* set by dns_responder_start */
    int queries;                      /* questions seen (read after stop) */
    /* private */
    int fd, stop[2];
    pthread_t thread;
};

/* Start R on its thread; write a resolv.conf naming it, with OPTIONS
 * (e.g. "timeout:1 attempts:1"), into PATH (PATH_LEN bytes, a temp file).
 * Fails the test on error. */
void dns_responder_start(struct dns_responder *r, const char *options,
                         char *path, size_t path_len);

/* Stop R's thread, close its socket, remove the resolv.conf at PATH. */
void dns_responder_stop(struct dns_responder *r, const char *path);

#endif /* GN_TESTS_DNS_RESPONDER_H */
