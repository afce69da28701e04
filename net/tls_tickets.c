/*
 * TLS session tickets (RFC 5077; TLS 1.3's too), sealed and opened with
 * keys of our own rather than OpenSSL's per-process ones: the keys live
 * in a page the arbiter maps shared with its first context, before the
 * fork, so every worker opens what any worker sealed and a returning
 * client resumes whichever worker it reaches. The arbiter rotates them,
 * every ticket_key_rotation (gn__tls_rotate_due, from its loop) and with
 * each new context (a HUP's), the previous key still opening tickets; the
 * workers read them under a seqlock.
 */
#include "net/tls_tickets.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "core/clock.h"
#include "core/log.h"
#include "net/tls.h"
#include "net/tls_context.h"

/* A session ticket key: its name (in every ticket it seals), AES-256
 * and HMAC-SHA256 keys. */
struct ticket_key {
    unsigned char name[16], aes[32], hmac[32];
    int set;
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

/* HCTX keyed with K's HMAC key, for a ticket's MAC. */
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

int gn__tls_tickets_use(struct gn_tls *t, char err[GN_ERR_LEN])
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
