/*
 * What tlsload's clients share (bench/tlsload.c): a connection's slot, and
 * the table a TLS client library is driven through. tlsload.c has the
 * OpenSSL and GnuTLS clients and the connections; tlsraw.c a bare TLS 1.3
 * client of its own.
 */
#ifndef GN_BENCH_TLSLOAD_H
#define GN_BENCH_TLSLOAD_H

#include <stddef.h>

enum stage { CONNECTING, HANDSHAKE, WRITING, READING };

/* What a library's call did: done, wants to wait for a direction, the
 * peer's end (close_notify or the socket's EOF), or failed; or to be
 * called again at once (IO_AGAIN). */
enum io { IO_OK, IO_READ, IO_WRITE, IO_EOF, IO_ERR, IO_AGAIN };

struct slot {
    int fd;
    void *tls; /* SSL *, gnutls_session_t, struct raw * */
    int drained; /* GnuTLS: its last read found the socket empty */
    char in[4096]; /* GnuTLS: bytes read ahead, [in_at, in_len) unread */
    size_t in_at, in_len;
    char out[4096]; /* GnuTLS, raw: bytes written, [0, out_len) not yet sent */
    size_t out_len;
    enum stage stage;
    size_t sent;
    char head[16]; /* the answer's first bytes: "HTTP/1.1 200" */
    size_t got;
};

/* A TLS library, as tlsload drives it. */
struct lib {
    const char *name;
    void (*setup)(void);
    void (*open)(struct slot *s);
    void (*close)(struct slot *s);
    enum io (*handshake)(struct slot *s);
    enum io (*write)(struct slot *s, const char *buf, size_t len, size_t *n);
    enum io (*read)(struct slot *s, char *buf, size_t len, size_t *n);
    int (*resumed)(struct slot *s);
    void (*info)(struct slot *s, char *out, size_t len);
    /* Send what the library wrote, before a wait: 0, or -1 when the
     * socket is full (wait for its edge). NULL: it writes as it goes. */
    int (*flush)(struct slot *s);
};

/* Send what a client kept in S->out: 0, or -1 when the socket is full
 * (its write edge comes). */
int tlsload_flush(struct slot *s);

/* The bare TLS 1.3 client (tlsraw.c). */
extern const struct lib tlsraw_lib;

#endif /* GN_BENCH_TLSLOAD_H */
