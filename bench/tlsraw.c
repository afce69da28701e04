/*
 * tlsload's bare TLS 1.3 client (-L raw): the least a client can do for the
 * server to make a full handshake, so that one client core drives one
 * server core to its limit (bench/README.md, tls-handshake).
 *
 * A TLS client costs more per full handshake than the server it talks to:
 * verifying an ECDSA signature costs about twice making it, and OpenSSL's
 * and GnuTLS's clients also parse the certificate and look algorithms up.
 * With one core each, a library client sets the rate, and handshakes/s
 * then says nothing of the server. This client does the server no favour
 * (the server still makes a fresh X25519 key share, derives the shared
 * secret, signs the transcript with its ECDSA key, checks our Finished and
 * seals its tickets: the server's side of a full handshake), but it skips
 * what is only the client's:
 *
 * - its own key share is made once per process and offered every time
 *   (the server cannot tell, and derives a new secret with it each time);
 * - the server's certificate and signature are taken as they come, and
 *   its Finished is not checked: a load generator trusts the server it
 *   measures. Every record is still decrypted and authenticated, and the
 *   answer must read "HTTP/1.1 200", so a handshake that went wrong is an
 *   error, not a count.
 *
 * One cipher suite (TLS_AES_128_GCM_SHA256), one group (X25519), no
 * session id (so no ChangeCipherSpec either way), psk_dhe_ke offered so
 * that servers send their tickets as they would to a browser. A handshake
 * message is expected whole in one record (the servers measured send each
 * in its own). Not a TLS client for anything else.
 */
#include "tlsload.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/evp.h>

#define REC_MAX (5 + 16384 + 256) /* a record's header and largest body */
#define TRANSCRIPT_MAX 8192

enum { SEND_HELLO, AWAIT_HELLO, AWAIT_FINISHED, APPLICATION };

struct keys {
    unsigned char key[16], iv[12];
    uint64_t seq;
};

struct raw {
    int stage;
    struct keys rd, wr;
    unsigned char c_hs[32], master[32];
    unsigned char tr[TRANSCRIPT_MAX]; /* the handshake messages so far */
    size_t tr_len;
    unsigned char in[2 * REC_MAX]; /* bytes read, [0, in_len) */
    size_t in_len;
    unsigned char *pt; /* the current record's unread plaintext */
    size_t pt_len, rec_len; /* ... and the record's size in IN */
    int eof;
};

static const EVP_MD *sha256;
static const EVP_CIPHER *aes128gcm;
static EVP_MD_CTX *mdctx;
static EVP_CIPHER_CTX *cctx;
static EVP_PKEY *share; /* our X25519 key, every handshake's */
static unsigned char share_pub[32];
static unsigned char empty_hash[32], derived_early[32];
static uint64_t hellos; /* a different client random each time */

/* ---- the key schedule (RFC 8446 7.1), SHA-256 throughout ---------------- */

static void fail(const char *what)
{
    fprintf(stderr, "tlsload: raw client: %s\n", what);
    exit(1);
}

/* HMAC-SHA-256 (RFC 2104) of A then B under KEY (at most 64 bytes). */
static void hmac(const unsigned char *key, size_t klen, const void *a,
                 size_t alen, const void *b, size_t blen, unsigned char out[32])
{
    unsigned char pad[64], inner[32];

    for (size_t i = 0; i < 64; i++)
        pad[i] = (unsigned char)((i < klen ? key[i] : 0) ^ 0x36);
    EVP_DigestInit_ex(mdctx, sha256, NULL);
    EVP_DigestUpdate(mdctx, pad, 64);
    EVP_DigestUpdate(mdctx, a, alen);
    if (blen > 0)
        EVP_DigestUpdate(mdctx, b, blen);
    EVP_DigestFinal_ex(mdctx, inner, NULL);
    for (size_t i = 0; i < 64; i++)
        pad[i] ^= 0x36 ^ 0x5c;
    EVP_DigestInit_ex(mdctx, sha256, NULL);
    EVP_DigestUpdate(mdctx, pad, 64);
    EVP_DigestUpdate(mdctx, inner, 32);
    EVP_DigestFinal_ex(mdctx, out, NULL);
}

static void hash(const void *data, size_t len, unsigned char out[32])
{
    EVP_Digest(data, len, out, NULL, sha256, NULL);
}

/* HKDF-Expand-Label(SECRET, LABEL, CTX, L) for L <= 32: one HMAC block. */
static void expand_label(const unsigned char secret[32], const char *label,
                         const unsigned char *ctx, size_t ctx_len,
                         unsigned char *out, size_t len)
{
    unsigned char info[2 + 1 + 6 + 32 + 1 + 32 + 1], t[32];
    size_t n = 0, label_len = strlen(label);

    info[n++] = 0;
    info[n++] = (unsigned char)len;
    info[n++] = (unsigned char)(6 + label_len);
    memcpy(info + n, "tls13 ", 6);
    memcpy(info + n + 6, label, label_len);
    n += 6 + label_len;
    info[n++] = (unsigned char)ctx_len;
    if (ctx_len > 0) /* (CTX may be NULL then: memcpy's arguments may not) */
        memcpy(info + n, ctx, ctx_len);
    n += ctx_len;
    info[n++] = 1;
    hmac(secret, 32, info, n, NULL, 0, t);
    memcpy(out, t, len);
}

/* A traffic secret's key and IV, its sequence back to 0. */
static void traffic_keys(struct keys *k, const unsigned char secret[32])
{
    expand_label(secret, "key", NULL, 0, k->key, sizeof(k->key));
    expand_label(secret, "iv", NULL, 0, k->iv, sizeof(k->iv));
    k->seq = 0;
}

static void transcript_hash(const struct raw *r, unsigned char out[32])
{
    hash(r->tr, r->tr_len, out);
}

static int transcript_add(struct raw *r, const unsigned char *msg, size_t len)
{
    if (len > sizeof(r->tr) - r->tr_len)
        return -1;
    memcpy(r->tr + r->tr_len, msg, len);
    r->tr_len += len;
    return 0;
}

/* ---- records (RFC 8446 5.2) -------------------------------------------- */

static void nonce_for(const struct keys *k, unsigned char nonce[12])
{
    memcpy(nonce, k->iv, 12);
    for (int i = 0; i < 8; i++)
        nonce[11 - i] ^= (unsigned char)(k->seq >> (8 * i));
}

/* Open the protected record REC (header and LEN bytes of body) in place:
 * its content type, and its plaintext's length in *PT_LEN; -1 if it does
 * not authenticate. */
static int open_record(struct keys *k, unsigned char *rec, size_t len,
                       size_t *pt_len)
{
    unsigned char nonce[12];
    int outl;
    size_t n;

    if (len < 17)
        return -1;
    nonce_for(k, nonce);
    k->seq++;
    n = len - 16;
    if (!EVP_DecryptInit_ex(cctx, aes128gcm, NULL, k->key, nonce) ||
        !EVP_DecryptUpdate(cctx, NULL, &outl, rec, 5) ||
        !EVP_DecryptUpdate(cctx, rec + 5, &outl, rec + 5, (int)n) ||
        !EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_SET_TAG, 16, rec + 5 + n) ||
        EVP_DecryptFinal_ex(cctx, rec + 5 + n, &outl) <= 0)
        return -1;
    while (n > 0 && rec[5 + n - 1] == 0) /* the padding */
        n--;
    if (n == 0)
        return -1;
    *pt_len = n - 1;
    return rec[5 + n - 1];
}

/* Seal LEN bytes of TYPE into a record at the end of S->out; -1 if it
 * has no room. */
static int seal_record(struct slot *s, struct keys *k, int type,
                       const void *pt, size_t len)
{
    unsigned char *rec = (unsigned char *)s->out + s->out_len, nonce[12];
    size_t body = len + 1 + 16;
    int outl;

    if (5 + body > sizeof(s->out) - s->out_len)
        return -1;
    rec[0] = 23;
    rec[1] = 3;
    rec[2] = 3;
    rec[3] = (unsigned char)(body >> 8);
    rec[4] = (unsigned char)body;
    memcpy(rec + 5, pt, len);
    rec[5 + len] = (unsigned char)type;
    nonce_for(k, nonce);
    k->seq++;
    if (!EVP_EncryptInit_ex(cctx, aes128gcm, NULL, k->key, nonce) ||
        !EVP_EncryptUpdate(cctx, NULL, &outl, rec, 5) ||
        !EVP_EncryptUpdate(cctx, rec + 5, &outl, rec + 5, (int)len + 1) ||
        !EVP_EncryptFinal_ex(cctx, rec + 5 + len + 1, &outl) ||
        !EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_GET_TAG, 16, rec + 5 + len + 1))
        fail("sealing a record");
    s->out_len += 5 + body;
    return 0;
}

/* The next whole record in R->in: its size (header included), or 0 if it
 * has not all come. */
static size_t next_record(const struct raw *r)
{
    size_t len;

    if (r->in_len < 5)
        return 0;
    len = 5 + ((size_t)r->in[3] << 8 | r->in[4]);
    return r->in_len >= len ? len : 0;
}

static void consume(struct raw *r, size_t len)
{
    memmove(r->in, r->in + len, r->in_len - len);
    r->in_len -= len;
}

/* Read what the socket has: IO_OK (some came), IO_READ (it is drained:
 * edge-triggered, the next edge comes), IO_EOF or IO_ERR. */
static enum io fill(struct slot *s, struct raw *r)
{
    ssize_t n = recv(s->fd, r->in + r->in_len, sizeof(r->in) - r->in_len, 0);

    if (n > 0) {
        r->in_len += (size_t)n;
        return IO_OK;
    }
    if (n == 0)
        return IO_EOF;
    return errno == EAGAIN ? IO_READ : IO_ERR;
}

/* ---- the handshake ----------------------------------------------------- */

static void put16(unsigned char *p, size_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

/* The ClientHello, as a record in S->out and in the transcript. */
static void send_hello(struct slot *s, struct raw *r)
{
    static const unsigned char ext_fixed[] = {
        0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d, /* groups: x25519 */
        0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04,
        0x04, 0x01,                                     /* signatures */
        0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04,       /* TLS 1.3 */
        0x00, 0x2d, 0x00, 0x02, 0x01, 0x01,             /* psk_dhe_ke */
        0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20,
    };
    unsigned char *rec = (unsigned char *)s->out + s->out_len, *m = rec + 5;
    size_t n = 4;

    m[n++] = 3; /* legacy_version 1.2 */
    m[n++] = 3;
    memset(m + n, 0, 32); /* random: unique, not secret (the server's is) */
    memcpy(m + n, &hellos, sizeof(hellos));
    hellos++;
    n += 32;
    m[n++] = 0; /* no session id */
    put16(m + n, 2);
    put16(m + n + 2, 0x1301); /* TLS_AES_128_GCM_SHA256 */
    n += 4;
    m[n++] = 1; /* compression: null */
    m[n++] = 0;
    put16(m + n, sizeof(ext_fixed) + 32);
    n += 2;
    memcpy(m + n, ext_fixed, sizeof(ext_fixed));
    n += sizeof(ext_fixed);
    memcpy(m + n, share_pub, 32);
    n += 32;
    m[0] = 1; /* client_hello */
    m[1] = 0;
    put16(m + 2, n - 4);
    rec[0] = 22;
    rec[1] = 3;
    rec[2] = 1;
    put16(rec + 3, n);
    s->out_len += 5 + n;
    transcript_add(r, m, n);
}

/* The server's key share in the ServerHello M (LEN bytes), or NULL. */
static const unsigned char *hello_share(const unsigned char *m, size_t len)
{
    size_t at, end;

    /* type(1) length(3) version(2) random(32) session id, suite(2), comp(1) */
    if (len < 4 + 2 + 32 + 1 || m[0] != 2)
        return NULL;
    at = 4 + 2 + 32;
    at += 1 + m[at];
    if (at + 2 + 1 + 2 > len || m[at] != 0x13 || m[at + 1] != 0x01)
        return NULL;
    at += 3;
    end = at + 2 + ((size_t)m[at] << 8 | m[at + 1]);
    if (end > len)
        return NULL;
    for (at += 2; at + 4 <= end;) {
        size_t type = (size_t)m[at] << 8 | m[at + 1];
        size_t elen = (size_t)m[at + 2] << 8 | m[at + 3];

        if (at + 4 + elen > end)
            return NULL;
        if (type == 0x33 && elen == 36 && m[at + 4] == 0 && m[at + 5] == 0x1d &&
            m[at + 6] == 0 && m[at + 7] == 32)
            return m + at + 8;
        at += 4 + elen;
    }
    return NULL;
}

/* From the ServerHello: the shared secret, the handshake traffic keys,
 * the master secret. */
static int on_server_hello(struct raw *r, const unsigned char *m, size_t len)
{
    const unsigned char *theirs = hello_share(m, len);
    unsigned char shared[32], hs[32], th[32], secret[32], derived[32];
    size_t shared_len = sizeof(shared);
    EVP_PKEY *peer;
    EVP_PKEY_CTX *dc;
    int ok;

    if (theirs == NULL || transcript_add(r, m, len) != 0)
        return -1;
    peer = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, theirs, 32);
    dc = EVP_PKEY_CTX_new_from_pkey(NULL, share, NULL);
    ok = peer && dc && EVP_PKEY_derive_init(dc) > 0 &&
         EVP_PKEY_derive_set_peer(dc, peer) > 0 &&
         EVP_PKEY_derive(dc, shared, &shared_len) > 0;
    EVP_PKEY_CTX_free(dc);
    EVP_PKEY_free(peer);
    if (!ok)
        return -1;
    hmac(derived_early, 32, shared, 32, NULL, 0, hs);
    transcript_hash(r, th);
    expand_label(hs, "c hs traffic", th, 32, r->c_hs, 32);
    traffic_keys(&r->wr, r->c_hs);
    expand_label(hs, "s hs traffic", th, 32, secret, 32);
    traffic_keys(&r->rd, secret);
    expand_label(hs, "derived", empty_hash, 32, derived, 32);
    memset(secret, 0, sizeof(secret));
    hmac(derived, 32, secret, 32, NULL, 0, r->master);
    return 0;
}

/* The server's Finished is in the transcript: our Finished, under the
 * handshake keys, then the application traffic keys both ways. */
static int on_server_finished(struct slot *s, struct raw *r)
{
    unsigned char th[32], key[32], fin[4 + 32], secret[32];

    transcript_hash(r, th);
    expand_label(r->c_hs, "finished", NULL, 0, key, 32);
    fin[0] = 20;
    fin[1] = fin[2] = 0;
    fin[3] = 32;
    hmac(key, 32, th, 32, NULL, 0, fin + 4);
    if (seal_record(s, &r->wr, 22, fin, sizeof(fin)) != 0)
        return -1;
    expand_label(r->master, "c ap traffic", th, 32, secret, 32);
    traffic_keys(&r->wr, secret);
    expand_label(r->master, "s ap traffic", th, 32, secret, 32);
    traffic_keys(&r->rd, secret);
    r->stage = APPLICATION;
    return 0;
}

/* The protected handshake messages in PT (LEN bytes). */
static int on_handshake(struct slot *s, struct raw *r, const unsigned char *pt,
                        size_t len)
{
    while (len >= 4) {
        size_t mlen = 4 + ((size_t)pt[1] << 16 | (size_t)pt[2] << 8 | pt[3]);

        if (mlen > len || transcript_add(r, pt, mlen) != 0)
            return -1; /* (a message split across records: see the top) */
        if (pt[0] == 20)
            return on_server_finished(s, r);
        pt += mlen;
        len -= mlen;
    }
    return len == 0 ? 0 : -1;
}

/* One whole record of the handshake, LEN bytes at R->in. */
static int handshake_record(struct slot *s, struct raw *r, size_t len)
{
    size_t pt_len;
    int type;

    if (r->stage == AWAIT_HELLO) {
        if (r->in[0] != 22)
            return -1; /* an alert, most likely */
        r->stage = AWAIT_FINISHED;
        return on_server_hello(r, r->in + 5, len - 5);
    }
    if (r->in[0] == 20)
        return 0; /* a middlebox ChangeCipherSpec: nothing */
    if (r->in[0] != 23 || (type = open_record(&r->rd, r->in, len - 5, &pt_len)) != 22)
        return -1;
    return on_handshake(s, r, r->in + 5, pt_len);
}

static enum io raw_handshake(struct slot *s)
{
    struct raw *r = s->tls;
    size_t len;
    enum io io;

    if (r->stage == SEND_HELLO) {
        send_hello(s, r);
        r->stage = AWAIT_HELLO;
    }
    while (r->stage != APPLICATION) {
        if ((len = next_record(r)) == 0) {
            if ((io = fill(s, r)) != IO_OK)
                return io == IO_EOF ? IO_ERR : io;
            continue;
        }
        if (handshake_record(s, r, len) != 0)
            return IO_ERR;
        consume(r, len);
    }
    return IO_OK;
}

/* ---- after it ---------------------------------------------------------- */

static enum io raw_write(struct slot *s, const char *buf, size_t len, size_t *n)
{
    struct raw *r = s->tls;
    size_t room = sizeof(s->out) - 5 - 1 - 16;

    if (len > room)
        len = room;
    if (seal_record(s, &r->wr, 23, buf, len) != 0) {
        if (tlsload_flush(s) != 0)
            return IO_WRITE;
        if (seal_record(s, &r->wr, 23, buf, len) != 0)
            return IO_ERR;
    }
    *n = len;
    return IO_OK;
}

/* The answer's bytes, skipping the tickets; IO_EOF at close_notify (or
 * the socket's end). */
static enum io raw_read(struct slot *s, char *buf, size_t len, size_t *n)
{
    struct raw *r = s->tls;
    size_t rec;
    enum io io;
    int type;

    for (;;) {
        if (r->pt_len > 0) {
            *n = len < r->pt_len ? len : r->pt_len;
            memcpy(buf, r->pt, *n);
            r->pt += *n;
            if ((r->pt_len -= *n) == 0)
                consume(r, r->rec_len);
            return IO_OK;
        }
        if (r->eof)
            return IO_EOF;
        if ((rec = next_record(r)) == 0) {
            if ((io = fill(s, r)) != IO_OK)
                return io;
            continue;
        }
        if (r->in[0] != 23 ||
            (type = open_record(&r->rd, r->in, rec - 5, &r->pt_len)) < 0)
            return IO_ERR;
        if (type == 23 && r->pt_len > 0) {
            r->pt = r->in + 5;
            r->rec_len = rec;
            continue;
        }
        r->pt_len = 0;
        if (type == 21) /* an alert: close_notify ends it, others fail */
            return r->in[5] == 1 && r->in[6] == 0 ? (r->eof = 1, IO_EOF) : IO_ERR;
        consume(r, rec); /* a ticket (22), or empty application data */
    }
}

/* ---- the table --------------------------------------------------------- */

static void raw_setup(void)
{
    EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
    unsigned char zeros[32] = {0}, early[32];
    size_t len = sizeof(share_pub);

    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    aes128gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    mdctx = EVP_MD_CTX_new();
    cctx = EVP_CIPHER_CTX_new();
    if (!sha256 || !aes128gcm || !mdctx || !cctx || !kc ||
        EVP_PKEY_keygen_init(kc) <= 0 || EVP_PKEY_keygen(kc, &share) <= 0 ||
        !EVP_PKEY_get_raw_public_key(share, share_pub, &len))
        fail("OpenSSL's SHA-256, AES-128-GCM or X25519 is missing");
    EVP_PKEY_CTX_free(kc);
    hash("", 0, empty_hash);
    hmac(zeros, 32, zeros, 32, NULL, 0, early); /* no PSK */
    expand_label(early, "derived", empty_hash, 32, derived_early, 32);
}

static void raw_open(struct slot *s)
{
    struct raw *r = calloc(1, sizeof(*r));

    if (r == NULL)
        fail("out of memory");
    s->tls = r;
}

static void raw_close(struct slot *s)
{
    free(s->tls);
    s->tls = NULL;
}

static int raw_resumed(struct slot *s)
{
    (void)s;
    return 0; /* it offers no ticket: every handshake is a full one */
}

static void raw_info(struct slot *s, char *out, size_t len)
{
    (void)s;
    snprintf(out, len, "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519");
}

const struct lib tlsraw_lib = {
    "raw",     raw_setup, raw_open,    raw_close, raw_handshake,
    raw_write, raw_read,  raw_resumed, raw_info,  tlsload_flush,
};
