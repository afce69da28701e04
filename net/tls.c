/*
 * TLS over OpenSSL 3: the server context and the TLS transport.
 *
 * The context is built by the arbiter before it binds (so a bad
 * certificate or key refuses the start, naming the file) and the workers
 * inherit it by fork. Each connection gets an SSL object whose BIO is our
 * own: its reads and writes are green/sys's recv and send on the
 * non-blocking socket, never libc's (which patch_all may interpose), and
 * EAGAIN comes back as OpenSSL's retry, which becomes the transport's
 * EAGAIN with the direction OpenSSL wants in c->tp_want. The connection's
 * coroutine then parks on that direction, as for plain TCP: the handshake
 * and every read and write wait green, within their timeouts.
 *
 * Edge-triggered readiness needs one more thing of a decrypting transport:
 * SSL_read returns at most one record, so a short read says nothing about
 * the socket. tls_recv reads records until the buffer is full or OpenSSL
 * wants more from the socket (which our BIO then found drained), and
 * pending() counts what OpenSSL still holds.
 *
 * Writes: OpenSSL seals a whole record at once and, when the socket takes
 * only part of it, wants the same write again (SSL_MODE_ACCEPT_MOVING_WRITE
 * _BUFFER lets the bytes come from another address). The connection's
 * writers retry with the bytes not yet sent, which begin with those, so a
 * retry finishes the record and reports its length. Small iovecs are
 * gathered into one record, up to TLS's 16 KiB. And as for reads, a write
 * goes on record after record until the socket is full: a short write
 * must mean what it means for TCP, or a writer waiting for the next write
 * edge would wait for good.
 */
#include "net/tls.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/clock.h"
#include "core/log.h"
#include "green/loop.h"
#include "green/sys.h"
#include "net/conn.h"
#include "net/transport.h"

#define RECORD_MAX 16384 /* TLS's largest plaintext record */

/* A session ticket key: its name (in every ticket it seals), AES-256
 * and HMAC-SHA256 keys. */
struct ticket_key {
    unsigned char name[16], aes[32], hmac[32];
    int set;
};

#define MAX_CERTS 16 /* certificates one server offers by SNI */

struct gn_tls {
    /* One context per certificate, configured alike: [0] is the default,
     * the others are chosen by the name the client asks for (SNI). */
    SSL_CTX *ctx[MAX_CERTS];
    size_t nctx;
    int64_t handshake_ms;
};

/* The session ticket keys, in memory the arbiter maps shared before its
 * first fork, so every worker seals and opens with the same: [0] seals,
 * [1] (the one before) still opens. The arbiter rotates them, on HUP (a
 * new context) and every ticket_key_rotation seconds; workers read them
 * under SEQ, odd while the arbiter writes (a seqlock). */
struct ticket_ring {
    uint32_t seq;
    struct ticket_key keys[2];
};

static struct ticket_ring *ring;
static int64_t ring_rotated_ms; /* the arbiter's: when it last rotated */

/* ---- the BIO: green/sys on the connection's socket -------------------- */

static BIO_METHOD *bio_method;

static int bio_write(BIO *b, const char *data, size_t len, size_t *written)
{
    int fd = (int)(intptr_t)BIO_get_data(b);
    ssize_t n = gn__sys_send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

    BIO_clear_retry_flags(b);
    if (n >= 0) {
        *written = (size_t)n;
        return 1;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        BIO_set_retry_write(b);
    return 0;
}

static int bio_read(BIO *b, char *data, size_t len, size_t *got)
{
    int fd = (int)(intptr_t)BIO_get_data(b);
    ssize_t n = gn__sys_recv(fd, data, len, MSG_DONTWAIT);

    BIO_clear_retry_flags(b);
    if (n > 0) {
        *got = (size_t)n;
        return 1;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_read(b);
    else if (n == 0)
        errno = 0; /* the peer's end, not an error */
    return 0;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b, (void)num, (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0; /* nothing buffered here */
}

static int bio_setup(char err[GN_ERR_LEN])
{
    if (bio_method != NULL)
        return 0;
    bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                              "greenicorn socket");
    if (bio_method == NULL || !BIO_meth_set_write_ex(bio_method, bio_write) ||
        !BIO_meth_set_read_ex(bio_method, bio_read) ||
        !BIO_meth_set_ctrl(bio_method, bio_ctrl)) {
        snprintf(err, GN_ERR_LEN, "TLS: cannot set up OpenSSL's I/O");
        return -ENOMEM;
    }
    return 0;
}

/* ---- the context ------------------------------------------------------ */

/* Session tickets (RFC 5077; TLS 1.3's too): sealed and opened with our
 * keys. They are made by the arbiter with the context, before the fork,
 * so every worker opens what any worker sealed: a returning client
 * resumes whichever worker it reaches. */
static int ticket_mac(EVP_MAC_CTX *hctx, struct ticket_key *k)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k->hmac,
                                          sizeof(k->hmac)),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };

    return EVP_MAC_CTX_set_params(hctx, params);
}

/* The ring's keys as of now (a copy: the arbiter may rotate meanwhile). */
static void ring_read(struct ticket_key keys[2])
{
    uint32_t seq;

    for (;;) {
        seq = __atomic_load_n(&ring->seq, __ATOMIC_ACQUIRE);
        if (seq & 1) {
            sched_yield(); /* the arbiter is a few stores from done */
            continue;
        }
        memcpy(keys, ring->keys, sizeof(ring->keys));
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&ring->seq, __ATOMIC_RELAXED) == seq)
            return;
    }
}

static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
                     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int seal)
{
    struct ticket_key keys[2], *k = &keys[0];
    int rc = 0;

    (void)ssl;
    ring_read(keys);
    if (seal) {
        rc = RAND_bytes(iv, 16) == 1 &&
                     EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes,
                                        iv) &&
                     ticket_mac(hctx, k)
                 ? 1
                 : -1;
        memcpy(name, k->name, sizeof(k->name));
    }
    for (int i = 0; !seal && i < 2 && rc == 0; i++) {
        k = &keys[i];
        if (!k->set || memcmp(name, k->name, sizeof(k->name)) != 0)
            continue;
        if (!EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) ||
            !ticket_mac(hctx, k))
            rc = -1;
        else
            rc = i == 0 ? 1 : 2; /* 2: resumed; seal a new ticket with [0] */
    }
    OPENSSL_cleanse(keys, sizeof(keys));
    return rc; /* 0: a key we no longer have, a full handshake */
}

static int new_key(struct ticket_key *k)
{
    k->set = 1;
    return RAND_bytes(k->name, sizeof(k->name)) == 1 &&
                   RAND_bytes(k->aes, sizeof(k->aes)) == 1 &&
                   RAND_bytes(k->hmac, sizeof(k->hmac)) == 1
               ? 0
               : -EIO;
}

/* A new sealing key; the current one still opens. In the arbiter. */
static int ring_rotate(void)
{
    struct ticket_key k;

    if (new_key(&k) != 0)
        return -EIO;
    __atomic_store_n(&ring->seq, ring->seq + 1, __ATOMIC_RELAXED); /* odd */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    ring->keys[1] = ring->keys[0];
    ring->keys[0] = k;
    __atomic_store_n(&ring->seq, ring->seq + 1, __ATOMIC_RELEASE);
    OPENSSL_cleanse(&k, sizeof(k));
    ring_rotated_ms = gn__monotonic_ms();
    return 0;
}

void gn__tls_rotate_due(int64_t every_ms)
{
    if (ring == NULL || every_ms <= 0 ||
        gn__monotonic_ms() - ring_rotated_ms < every_ms)
        return;
    if (ring_rotate() == 0)
        gn_log_info("TLS: new session ticket key (the previous one still "
                    "opens tickets)");
    else
        ring_rotated_ms = gn__monotonic_ms(); /* try again next period */
}

/* The keys for T's contexts: the ring made (the first context of this
 * process), or rotated (a reload's). */
static int ticket_keys(struct gn_tls *t, char err[GN_ERR_LEN])
{
    int rc;

    if (ring == NULL) {
        void *p = mmap(NULL, sizeof(*ring), PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED) {
            snprintf(err, GN_ERR_LEN, "TLS: cannot map the ticket keys: %s",
                     strerror(errno));
            return -ENOMEM;
        }
        ring = p; /* zeroed: no previous key */
        rc = new_key(&ring->keys[0]);
        ring_rotated_ms = gn__monotonic_ms();
    } else {
        rc = ring_rotate();
    }
    if (rc != 0) {
        snprintf(err, GN_ERR_LEN, "TLS: no random bytes for ticket keys");
        return rc;
    }
    for (size_t i = 0; i < t->nctx; i++) {
        if (!SSL_CTX_set_tlsext_ticket_key_evp_cb(t->ctx[i], ticket_cb)) {
            snprintf(err, GN_ERR_LEN, "TLS: cannot set the ticket keys");
            return -EINVAL;
        }
    }
    return 0;
}

/* SNI: the first certificate that names the host the client asks for
 * (its subjectAltName DNS names, wildcards included, or else its CN);
 * none, or no name asked: the first certificate. */
static int servername(SSL *ssl, int *alert, void *arg)
{
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    struct gn_tls *t = arg;

    (void)alert;
    if (name == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    for (size_t i = 0; i < t->nctx; i++) {
        X509 *x = SSL_CTX_get0_certificate(t->ctx[i]);

        if (x != NULL && X509_check_host(x, name, 0, 0, NULL) == 1) {
            if (i > 0)
                SSL_set_SSL_CTX(ssl, t->ctx[i]);
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_NOACK; /* the default certificate */
}

/* OpenSSL's reason for the last failure, its queue emptied. */
static const char *ssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();

    if (e == 0)
        snprintf(buf, len, "unknown error");
    else if (ERR_reason_error_string(e) != NULL)
        snprintf(buf, len, "%s", ERR_reason_error_string(e));
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

/* ALPN: HTTP/1.1 when the client offers it; otherwise none is named (a
 * stream's client usually offers nothing). */
static int alpn_select(SSL *ssl, const unsigned char **out,
                       unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *chosen;

    (void)ssl, (void)arg;
    if (SSL_select_next_proto(&chosen, outlen, ours, sizeof(ours) - 1, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

/* FILE must be readable: the system's reason is clearer than OpenSSL's. */
static int readable(const char *file, const char *what, char err[GN_ERR_LEN])
{
    if (access(file, R_OK) == 0)
        return 0;
    snprintf(err, GN_ERR_LEN, "%s: cannot read the %s: %s", file, what,
             strerror(errno));
    return -EINVAL;
}

/* The certificate must be valid now: an expired one would be refused by
 * every client, hours after a start that looked fine. */
static int check_dates(SSL_CTX *ctx, const char *file, char err[GN_ERR_LEN])
{
    X509 *x = SSL_CTX_get0_certificate(ctx);
    const ASN1_TIME *bad = NULL;
    const char *what = NULL;
    char date[64] = "?";
    BIO *mem;
    int n;

    if (x == NULL) {
        snprintf(err, GN_ERR_LEN, "%s: no certificate in it", file);
        return -EINVAL;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
        bad = X509_get0_notAfter(x), what = "expired on";
    else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
        bad = X509_get0_notBefore(x), what = "is not valid before";
    if (bad == NULL)
        return 0;
    if ((mem = BIO_new(BIO_s_mem())) != NULL) {
        if (ASN1_TIME_print(mem, bad) &&
            (n = BIO_read(mem, date, sizeof(date) - 1)) > 0)
            date[n] = '\0';
        BIO_free(mem);
    }
    snprintf(err, GN_ERR_LEN, "%s: the certificate %s %s", file, what, date);
    return -EINVAL;
}

static int load_identity(SSL_CTX *ctx, const char *certfile,
                         const char *keyfile, char err[GN_ERR_LEN])
{
    const char *key = keyfile ? keyfile : certfile;
    char why[160];

    if (readable(certfile, "certificate", err) != 0)
        return -EINVAL;
    if (SSL_CTX_use_certificate_chain_file(ctx, certfile) != 1) {
        snprintf(err, GN_ERR_LEN, "%s: not a PEM certificate (%s)", certfile,
                 ssl_reason(why, sizeof(why)));
        return -EINVAL;
    }
    if (check_dates(ctx, certfile, err) != 0)
        return -EINVAL;
    if (readable(key, "private key", err) != 0)
        return -EINVAL;
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        /* OpenSSL checks the pair as it loads the key. */
        unsigned long e = ERR_peek_last_error();

        if (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
            ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH)
            snprintf(err, GN_ERR_LEN,
                     "%s: the private key does not match the certificate "
                     "in %s",
                     key, certfile);
        else
            snprintf(err, GN_ERR_LEN, "%s: not a PEM private key (%s)", key,
                     ssl_reason(why, sizeof(why)));
        ERR_clear_error();
        return -EINVAL;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        snprintf(err, GN_ERR_LEN,
                 "%s: the private key does not match the certificate in %s",
                 key, certfile);
        return -EINVAL;
    }
    return 0;
}

static int load_client_cas(SSL_CTX *ctx, const struct gn_tls_opts *o,
                           char err[GN_ERR_LEN])
{
    static const int modes[] = {SSL_VERIFY_NONE, SSL_VERIFY_PEER,
                                SSL_VERIFY_PEER |
                                    SSL_VERIFY_FAIL_IF_NO_PEER_CERT};
    STACK_OF(X509_NAME) * names;
    char why[160];

    if (o->ca_certs != NULL) {
        if (readable(o->ca_certs, "CA certificates", err) != 0)
            return -EINVAL;
        if (SSL_CTX_load_verify_locations(ctx, o->ca_certs, NULL) != 1 ||
            (names = SSL_load_client_CA_file(o->ca_certs)) == NULL) {
            snprintf(err, GN_ERR_LEN, "%s: no PEM CA certificate (%s)",
                     o->ca_certs, ssl_reason(why, sizeof(why)));
            return -EINVAL;
        }
        SSL_CTX_set_client_CA_list(ctx, names); /* what we ask clients for */
    }
    SSL_CTX_set_verify(
        ctx, modes[o->cert_reqs < 0 || o->cert_reqs > 2 ? 0 : o->cert_reqs],
        NULL);
    return 0;
}

static int apply_protocol(SSL_CTX *ctx, const struct gn_tls_opts *o,
                          char err[GN_ERR_LEN])
{
    static const unsigned char sid_ctx[] = "greenicorn";
    char why[160];

    if (!SSL_CTX_set_min_proto_version(ctx, o->min_version)) {
        snprintf(err, GN_ERR_LEN, "tls_min_version: OpenSSL refuses it");
        return -EINVAL;
    }
    if (o->ciphers && *o->ciphers &&
        SSL_CTX_set_cipher_list(ctx, o->ciphers) != 1) {
        snprintf(err, GN_ERR_LEN, "ciphers: no cipher in '%s' (%s)", o->ciphers,
                 ssl_reason(why, sizeof(why)));
        return -EINVAL;
    }
    if (o->ciphersuites && *o->ciphersuites &&
        SSL_CTX_set_ciphersuites(ctx, o->ciphersuites) != 1) {
        snprintf(err, GN_ERR_LEN, "tls_ciphersuites: no suite in '%s' (%s)",
                 o->ciphersuites, ssl_reason(why, sizeof(why)));
        return -EINVAL;
    }
    /* No renegotiation: a write never has to read first. A client that
     * closes without close_notify has simply closed (as HTTP clients do). */
    SSL_CTX_set_options(
        ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
    /* Partial writes: a record at a time, retried from any address; an
     * idle keep-alive connection gives its buffers back. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* Sessions resumed with a client certificate need a context id. */
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    return 0;
}

/* The files of a list ("a.pem b.pem", or commas) into FILES[0, *N) in
 * BUF: 0, or -EINVAL when there are more than MAX_CERTS. */
static int split_files(const char *list, char *buf, size_t len,
                       char *files[MAX_CERTS], size_t *n)
{
    char *save = NULL, *tok;

    *n = 0;
    if (list == NULL)
        return 0;
    snprintf(buf, len, "%s", list);
    for (tok = strtok_r(buf, " \t,", &save); tok;
         tok = strtok_r(NULL, " \t,", &save)) {
        if (*n == MAX_CERTS)
            return -EINVAL;
        files[(*n)++] = tok;
    }
    return 0;
}

/* Context I of T, for the certificate CERT and its KEY (NULL: in CERT). */
static int add_context(struct gn_tls *t, const struct gn_tls_opts *o,
                       const char *cert, const char *key, char err[GN_ERR_LEN])
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    int rc;

    if (ctx == NULL) {
        ERR_clear_error();
        snprintf(err, GN_ERR_LEN, "TLS: out of memory");
        return -ENOMEM;
    }
    t->ctx[t->nctx++] = ctx;
    if ((rc = apply_protocol(ctx, o, err)) != 0 ||
        (rc = load_identity(ctx, cert, key, err)) != 0 ||
        (rc = load_client_cas(ctx, o, err)) != 0)
        return rc;
    return 0;
}

int gn__tls_new(const struct gn_tls_opts *o, struct gn_tls **out,
                char err[GN_ERR_LEN])
{
    char cbuf[4096], kbuf[4096], *certs[MAX_CERTS], *keys[MAX_CERTS];
    size_t ncerts, nkeys;
    struct gn_tls *t;
    int rc;

    if ((rc = bio_setup(err)) != 0)
        return rc;
    if (split_files(o->certfile, cbuf, sizeof(cbuf), certs, &ncerts) != 0 ||
        split_files(o->keyfile, kbuf, sizeof(kbuf), keys, &nkeys) != 0) {
        snprintf(err, GN_ERR_LEN, "certfile: at most %d certificates",
                 MAX_CERTS);
        return -EINVAL;
    }
    if (ncerts == 0 || (nkeys != 0 && nkeys != ncerts)) {
        snprintf(err, GN_ERR_LEN,
                 "keyfile names %zu keys for %zu certificates in certfile "
                 "(one each, in the same order, or none: each key in its "
                 "certificate's file)",
                 nkeys, ncerts);
        return -EINVAL;
    }
    if ((t = calloc(1, sizeof(*t))) == NULL) {
        snprintf(err, GN_ERR_LEN, "TLS: out of memory");
        return -ENOMEM;
    }
    t->handshake_ms = o->handshake_ms;
    for (size_t i = 0; i < ncerts; i++) {
        if ((rc = add_context(t, o, certs[i], nkeys ? keys[i] : NULL, err)) !=
            0) {
            gn__tls_free(t);
            return rc;
        }
    }
    if ((rc = ticket_keys(t, err)) != 0) {
        gn__tls_free(t);
        return rc;
    }
    if (t->nctx > 1) {
        SSL_CTX_set_tlsext_servername_callback(t->ctx[0], servername);
        SSL_CTX_set_tlsext_servername_arg(t->ctx[0], t);
    }
    ERR_clear_error();
    *out = t;
    return 0;
}

void gn__tls_free(struct gn_tls *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nctx; i++)
        SSL_CTX_free(t->ctx[i]);
    free(t);
}

const char *gn__tls_library(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}

/* ---- the transport ---------------------------------------------------- */

/* The result of a failed SSL call RET on C as the transport says it:
 * -1 with errno EAGAIN (and tp_want), or the error; 0 for the peer's
 * close_notify when READING (a writer gets EPIPE). */
static ssize_t failed(struct gn_conn *c, SSL *ssl, int ret, int reading)
{
    int e = SSL_get_error(ssl, ret), saved = errno;
    char why[160];

    switch (e) {
    case SSL_ERROR_WANT_READ:
        c->tp_want = GN_WATCH_READ;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        c->tp_want = GN_WATCH_WRITE;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        if (reading)
            return 0;
        errno = EPIPE;
        return -1;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        errno = saved ? saved : ECONNRESET;
        break;
    default:
        gn_log_debug("TLS error with %s: %s", c->remote_addr,
                     ssl_reason(why, sizeof(why)));
        errno = EPROTO;
        break;
    }
    /* After a fatal error no close_notify may be sent. */
    SSL_set_quiet_shutdown(ssl, 1);
    return -1;
}

static ssize_t tls_recv(struct gn_conn *c, void *buf, size_t len, int flags)
{
    SSL *ssl = c->tp_data;
    size_t got = 0, n;
    int ret, e;

    c->tp_want = 0;
    if (flags & MSG_PEEK) {
        /* Whether anything is there (or the peer left): what OpenSSL
         * holds, else the socket's own bytes; never a handshake step. */
        if (SSL_pending(ssl) > 0 && SSL_peek_ex(ssl, buf, len, &n) == 1)
            return (ssize_t)n;
        ERR_clear_error();
        return gn__sys_recv(c->fd, buf, len, flags);
    }
    /* Record after record until BUF is full or the socket is drained: a
     * short read then means what it means for TCP. */
    while (got < len) {
        ERR_clear_error();
        if ((ret = SSL_read_ex(ssl, (char *)buf + got, len - got, &n)) == 1) {
            got += n;
            continue;
        }
        if (got == 0)
            return failed(c, ssl, ret, 1);
        /* The bytes first; an end or error shows on the next call (the
         * SSL object keeps that state), a retry means drained. */
        e = SSL_get_error(ssl, ret);
        if (e == SSL_ERROR_WANT_WRITE)
            c->tp_want = GN_WATCH_WRITE;
        ERR_clear_error();
        break;
    }
    return (ssize_t)got;
}

static ssize_t tls_write(struct gn_conn *c, const void *buf, size_t len)
{
    SSL *ssl = c->tp_data;
    size_t n;
    int ret;

    c->tp_want = 0;
    if (len == 0)
        return 0;
    ERR_clear_error();
    if ((ret = SSL_write_ex(ssl, buf, len, &n)) == 1)
        return (ssize_t)n;
    return failed(c, ssl, ret, 0);
}

/* Records are sealed one at a time, from one buffer: what the worker
 * writes is copied here first unless it starts with a large piece. One
 * per process: a worker's I/O is single-threaded and a write is done with
 * the buffer before it returns. */
static unsigned char scratch[RECORD_MAX];

/* One record's worth of IOV[0, N), from byte SKIP on: its start and
 * length in *P, *LEN (0: nothing left). A large first piece goes as it is;
 * small ones are gathered into scratch. The choice depends on the first
 * piece alone, so a retry that starts with the same bytes chooses the
 * same, as OpenSSL wants. */
static void next_record(const struct iovec *iov, size_t n, size_t skip,
                        const void **p, size_t *len)
{
    size_t i = 0, got = 0;

    while (i < n && skip >= iov[i].iov_len)
        skip -= iov[i++].iov_len;
    *len = 0;
    if (i == n)
        return;
    if (iov[i].iov_len - skip >= RECORD_MAX / 4) {
        *p = (const char *)iov[i].iov_base + skip;
        *len = iov[i].iov_len - skip < RECORD_MAX ? iov[i].iov_len - skip
                                                  : RECORD_MAX;
        return;
    }
    for (; i < n && got < RECORD_MAX; i++, skip = 0) {
        size_t take = iov[i].iov_len - skip;

        if (take > RECORD_MAX - got)
            take = RECORD_MAX - got;
        memcpy(scratch + got, (const char *)iov[i].iov_base + skip, take);
        got += take;
    }
    *p = scratch;
    *len = got;
}

/* Record after record until everything is sent or the socket is full: a
 * short write then means what it means for TCP (the socket took no more,
 * and an edge will say when it does). What was sent before an error is
 * reported first; the error shows on the next call. */
static ssize_t tls_sendmsg(struct gn_conn *c, const struct msghdr *mh,
                           int flags)
{
    size_t total = 0, len;
    const void *p;
    ssize_t n;

    (void)flags; /* never blocks, never signals: the BIO sees to both */
    for (;;) {
        next_record(mh->msg_iov, mh->msg_iovlen, total, &p, &len);
        if (len == 0)
            return (ssize_t)total;
        if ((n = tls_write(c, p, len)) <= 0)
            return total > 0 ? (ssize_t)total : n;
        total += (size_t)n;
    }
}

/* sendfile(2) cannot encrypt: read a record's worth at a time and write
 * it, until COUNT is sent or the socket is full. A retry after EAGAIN
 * reads the same bytes again from the same offset. */
static ssize_t tls_sendfile(struct gn_conn *c, int fd, off_t *offset,
                            size_t count)
{
    size_t total = 0;
    ssize_t got, n;

    while (total < count) {
        got = pread(fd, scratch,
                    count - total < RECORD_MAX ? count - total : RECORD_MAX,
                    *offset);
        if (got <= 0)
            return total > 0 ? (ssize_t)total : got;
        if ((n = tls_write(c, scratch, (size_t)got)) <= 0)
            return total > 0 ? (ssize_t)total : n;
        *offset += n;
        total += (size_t)n;
    }
    return (ssize_t)total;
}

/* Our close_notify, once, if the session got that far and nothing went
 * wrong; never waiting (a full socket just does without it). */
static void close_notify(struct gn_conn *c)
{
    SSL *ssl = c->tp_data;

    if (!SSL_is_init_finished(ssl) ||
        (SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN))
        return;
    ERR_clear_error();
    SSL_shutdown(ssl);
    ERR_clear_error();
}

static int tls_shutdown(struct gn_conn *c, int how)
{
    if (how != SHUT_RD)
        close_notify(c);
    return gn__sys_shutdown(c->fd, how);
}

static size_t tls_pending(struct gn_conn *c)
{
    SSL *ssl = c->tp_data;
    int n = SSL_pending(ssl);

    /* A whole record not decrypted yet counts too. */
    return n > 0 ? (size_t)n : (size_t)SSL_has_pending(ssl);
}

static int tls_handshake(struct gn_conn *c)
{
    SSL *ssl = c->tp_data;
    const struct gn_tls *t = SSL_get_app_data(ssl);
    int64_t deadline = gn__monotonic_ms() + t->handshake_ms, left;
    char why[160];
    int ret, e, want;

    while (!SSL_is_init_finished(ssl)) {
        ERR_clear_error();
        if ((ret = SSL_do_handshake(ssl)) == 1)
            break;
        e = SSL_get_error(ssl, ret);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            if (e == SSL_ERROR_SSL)
                gn_log_debug("TLS handshake with %s failed: %s", c->remote_addr,
                             ssl_reason(why, sizeof(why)));
            ERR_clear_error();
            SSL_set_quiet_shutdown(ssl, 1);
            return -EPROTO;
        }
        want = e == SSL_ERROR_WANT_READ ? GN_WATCH_READ : GN_WATCH_WRITE;
        c->ready &= ~want; /* our BIO found the socket drained (full) */
        if ((left = deadline - gn__monotonic_ms()) <= 0 ||
            (ret = gn__conn_wait(c, want, left)) == -ETIMEDOUT) {
            gn_log_debug("TLS handshake with %s timed out", c->remote_addr);
            SSL_set_quiet_shutdown(ssl, 1);
            return -ETIMEDOUT;
        }
        if (ret < 0) {
            SSL_set_quiet_shutdown(ssl, 1);
            return ret;
        }
    }
    return 0;
}

static void tls_close(struct gn_conn *c)
{
    close_notify(c);
    SSL_free(c->tp_data);
    c->tp_data = NULL;
}

static const struct gn_transport tls_transport = {
    .recv = tls_recv,
    .sendmsg = tls_sendmsg,
    .sendfile = tls_sendfile,
    .shutdown = tls_shutdown,
    .pending = tls_pending,
    .handshake = tls_handshake,
    .close = tls_close,
    .secure = 1,
};

int gn__tls_attach(struct gn_conn *c, struct gn_tls *t)
{
    SSL *ssl = SSL_new(t->ctx[0]);
    BIO *bio = ssl ? BIO_new(bio_method) : NULL;

    if (bio == NULL) {
        SSL_free(ssl);
        ERR_clear_error();
        return -ENOMEM;
    }
    BIO_set_data(bio, (void *)(intptr_t)c->fd);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl, bio, bio);
    SSL_set_accept_state(ssl);
    SSL_set_app_data(ssl, t);
    c->tp_data = ssl;
    c->tp = &tls_transport;
    return 0;
}
