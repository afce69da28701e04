/*
 * The TLS server context: certificates and keys (loaded and checked: they
 * match, the certificate is valid now), several of them chosen by SNI,
 * client-certificate verification, and the settings (protocol versions,
 * ciphers, ALPN, modes). Built by the arbiter from the configuration
 * before it binds, so a bad certificate or key refuses the start naming
 * the file, and again on HUP, where a failure keeps the old context (the
 * config that owns it); workers inherit it by fork. Its session tickets
 * are net/tls_tickets.c's, its connections net/tls_transport.c's.
 */
#include "net/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "net/tls_context.h"
#include "net/tls_tickets.h"
#include "net/tls_transport.h"

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

const char *gn__tls_reason(char *buf, size_t len)
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
                 gn__tls_reason(why, sizeof(why)));
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
                     gn__tls_reason(why, sizeof(why)));
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
                     o->ca_certs, gn__tls_reason(why, sizeof(why)));
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
                 gn__tls_reason(why, sizeof(why)));
        return -EINVAL;
    }
    if (o->ciphersuites && *o->ciphersuites &&
        SSL_CTX_set_ciphersuites(ctx, o->ciphersuites) != 1) {
        snprintf(err, GN_ERR_LEN, "tls_ciphersuites: no suite in '%s' (%s)",
                 o->ciphersuites, gn__tls_reason(why, sizeof(why)));
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
    /* Read-ahead: one recv takes all the socket has, not a record's
     * header and then its body (net/tls_transport.c accounts for what it
     * holds, as nginx does). */
    SSL_CTX_set_read_ahead(ctx, 1);
    /* One TLS 1.3 session ticket per handshake, not OpenSSL's two: each
     * costs the worker about 6 % of a full handshake (a session encoded,
     * sealed and MACed, a resumption secret derived), and a client gets
     * the next one from the connection that resumes with it, as Go's
     * servers do. A client opening several connections at once gets one
     * from each. */
    SSL_CTX_set_num_tickets(ctx, 1);
    /* Sessions resumed with a client certificate need a context id. */
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    return 0;
}

/* The files of a list ("a.pem b.pem", or commas) into FILES[0, *N) in
 * BUF: 0, or -EINVAL when there are more than GN_TLS_MAX_CERTS. */
static int split_files(const char *list, char *buf, size_t len,
                       char *files[GN_TLS_MAX_CERTS], size_t *n)
{
    char *save = NULL, *tok;

    *n = 0;
    if (list == NULL)
        return 0;
    snprintf(buf, len, "%s", list);
    for (tok = strtok_r(buf, " \t,", &save); tok;
         tok = strtok_r(NULL, " \t,", &save)) {
        if (*n == GN_TLS_MAX_CERTS)
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
    char cbuf[4096], kbuf[4096], *certs[GN_TLS_MAX_CERTS],
        *keys[GN_TLS_MAX_CERTS];
    size_t ncerts, nkeys;
    struct gn_tls *t;
    int rc;

    if ((rc = gn__tls_transport_setup(err)) != 0)
        return rc;
    if (split_files(o->certfile, cbuf, sizeof(cbuf), certs, &ncerts) != 0 ||
        split_files(o->keyfile, kbuf, sizeof(kbuf), keys, &nkeys) != 0) {
        snprintf(err, GN_ERR_LEN, "certfile: at most %d certificates",
                 GN_TLS_MAX_CERTS);
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
    if ((rc = gn__tls_tickets_use(t, err)) != 0) {
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
