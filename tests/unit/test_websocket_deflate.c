/*
 * Unit tests of permessage-deflate (websocket/deflate.c): the offer
 * parser and chooser against RFC 7692's examples and malformed offers;
 * inflating RFC 7692's example payloads and Python zlib's (the vectors in
 * ws_deflate_vectors.h), whole and in pieces, with and without context
 * takeover; our payloads inflated by a plain zlib inflater; the size limit
 * against a zip bomb; and the memory a connection keeps between messages.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "run_suite.h"
#include "websocket/deflate.h"
#include "ws_deflate_vectors.h"

/* ------------------------------------------------------------------ */
/* Negotiation                                                         */
/* ------------------------------------------------------------------ */

static struct gn_ws_deflate_policy policy(bool takeover, int client_bits)
{
    struct gn_ws_deflate_policy pol;

    gn__ws_deflate_policy_default(&pol);
    pol.takeover = takeover;
    pol.client_window_bits = client_bits;
    return pol;
}

/* Negotiate the one header line V under POL; RESP gets the answer or "". */
static int nego1(const struct gn_ws_deflate_policy *pol, const char *v,
                 struct gn_ws_deflate_params *p, char *resp)
{
    size_t n = strlen(v);
    int rc;

    resp[0] = '\0';
    rc = gn__ws_deflate_negotiate(pol, &v, &n, 1, p, resp);
    ck_assert(rc == 0 || rc == 1);
    if (rc == 0)
        resp[0] = '\0';
    return rc;
}

#define NSNCT "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

START_TEST(deflate_negotiate_default_policy)
{
    struct gn_ws_deflate_policy pol = policy(false, 15);
    struct gn_ws_deflate_params p;
    char r[GN_WS_DEFLATE_RESPONSE_MAX];

    ck_assert_int_eq(nego1(&pol, "permessage-deflate", &p, r), 1);
    ck_assert_str_eq(r, NSNCT);
    ck_assert(p.server_no_context_takeover && p.client_no_context_takeover);
    ck_assert_int_eq(p.server_max_window_bits, 15);
    ck_assert_int_eq(p.client_max_window_bits, 15);
    /* What browsers, Python websockets and Node ws offer. */
    ck_assert_int_eq(nego1(&pol, "permessage-deflate; client_max_window_bits", &p, r), 1);
    ck_assert_str_eq(r, NSNCT "; client_max_window_bits=15");
    ck_assert_int_eq(nego1(&pol, "permessage-deflate; client_max_window_bits=10", &p, r), 1);
    ck_assert_str_eq(r, NSNCT "; client_max_window_bits=10");
    ck_assert_int_eq(p.client_max_window_bits, 10);
    ck_assert_int_eq(nego1(&pol, "permessage-deflate; server_max_window_bits=12", &p, r), 1);
    ck_assert_str_eq(r, NSNCT "; server_max_window_bits=12");
    ck_assert_int_eq(p.server_max_window_bits, 12);
}
END_TEST

/* The longest answer there is: every parameter, both windows of two
 * digits (128 characters; found by fuzz_ws_extensions, the buffer had
 * room for 127 and a NUL). */
START_TEST(deflate_negotiate_longest_answer)
{
    struct gn_ws_deflate_policy pol = policy(false, 15);
    struct gn_ws_deflate_params p;
    char r[GN_WS_DEFLATE_RESPONSE_MAX];

    ck_assert_int_eq(nego1(&pol,
                           "permessage-deflate; server_max_window_bits=10; "
                           "client_max_window_bits",
                           &p, r),
                     1);
    ck_assert_str_eq(r, NSNCT "; server_max_window_bits=10"
                              "; client_max_window_bits=15");
    ck_assert_uint_lt(strlen(r), GN_WS_DEFLATE_RESPONSE_MAX);
}
END_TEST

START_TEST(deflate_negotiate_rfc7692_examples)
{
    struct gn_ws_deflate_policy pol = policy(true, 15);
    struct gn_ws_deflate_params p;
    char r[GN_WS_DEFLATE_RESPONSE_MAX];

    /* Section 5.2: the first offer is declined (server_max_window_bits=8
     * cannot be honoured by zlib), the second, fallback one accepted. */
    ck_assert_int_eq(nego1(&pol,
        "permessage-deflate; client_max_window_bits; server_max_window_bits=8, "
        "permessage-deflate; client_max_window_bits", &p, r), 1);
    ck_assert_str_eq(r, "permessage-deflate; client_max_window_bits=15");
    ck_assert(!p.server_no_context_takeover && !p.client_no_context_takeover);
    /* Section 7.1.1.1: the client asks us not to take over. */
    ck_assert_int_eq(nego1(&pol, "permessage-deflate; server_no_context_takeover", &p, r), 1);
    ck_assert_str_eq(r, "permessage-deflate; server_no_context_takeover");
    ck_assert(p.server_no_context_takeover && !p.client_no_context_takeover);
    /* Section 7.1.1.2: the client says it will not; echoing it lets us
     * drop the inflater between messages. */
    ck_assert_int_eq(nego1(&pol, "permessage-deflate; client_no_context_takeover", &p, r), 1);
    ck_assert_str_eq(r, "permessage-deflate; client_no_context_takeover");
    ck_assert(p.client_no_context_takeover);
    /* A quoted value is its token (section 7.1). */
    ck_assert_int_eq(nego1(&pol, "permessage-deflate; server_max_window_bits=\"10\"", &p, r), 1);
    ck_assert_str_eq(r, "permessage-deflate; server_max_window_bits=10");
    ck_assert_int_eq(p.server_max_window_bits, 10);
}
END_TEST

START_TEST(deflate_negotiate_client_window_policy)
{
    struct gn_ws_deflate_policy pol = policy(true, 10);
    struct gn_ws_deflate_params p;
    char r[GN_WS_DEFLATE_RESPONSE_MAX];

    ck_assert_int_eq(nego1(&pol, "permessage-deflate; client_max_window_bits", &p, r), 1);
    ck_assert_str_eq(r, "permessage-deflate; client_max_window_bits=10");
    ck_assert_int_eq(p.client_max_window_bits, 10);
    ck_assert_int_eq(nego1(&pol, "permessage-deflate; client_max_window_bits=9", &p, r), 1);
    ck_assert_str_eq(r, "permessage-deflate; client_max_window_bits=9");
    /* Not offered: it may not be answered, and the client uses 15. */
    ck_assert_int_eq(nego1(&pol, "permessage-deflate", &p, r), 1);
    ck_assert_str_eq(r, "permessage-deflate");
    ck_assert_int_eq(p.client_max_window_bits, 15);
}
END_TEST

START_TEST(deflate_negotiate_declines_bad_offers)
{
    static const char *const bad[] = {
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=\"\"",
        "permessage-deflate; foo",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=8",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; client_max_window_bits=0x0f",
        "permessage-deflate; client_max_window_bits=100000000000000000009",
        "permessage-deflate; client_max_window_bits=\"1 0\"",
        "permessage-deflate; client_max_window_bits=\"10",
        "permessage-deflate; client_max_window_bits=",
        "permessage-deflate;",
        "permessage-deflate; ;",
        "permessage-deflate; =10",
        "permessage-deflate client_max_window_bits",
        "permessage-deflate/1",
        ";permessage-deflate",
        "\"permessage-deflate\"",
        "Permessage-Deflate",
        "x-webkit-deflate-frame",
        "",
        " , ,",
    };
    struct gn_ws_deflate_policy pol = policy(true, 15);
    struct gn_ws_deflate_params p;
    char r[GN_WS_DEFLATE_RESPONSE_MAX];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(nego1(&pol, bad[i], &p, r) == 0, "accepted: %s", bad[i]);
}
END_TEST

START_TEST(deflate_negotiate_first_acceptable_offer)
{
    struct gn_ws_deflate_policy pol = policy(true, 15);
    struct gn_ws_deflate_params p;
    char r[GN_WS_DEFLATE_RESPONSE_MAX];

    /* Other extensions, with quoted commas and semicolons, are skipped. */
    ck_assert_int_eq(nego1(&pol,
        "foo; a=\"x, permessage-deflate; y\"; b, bar ,permessage-deflate ;"
        "\tclient_no_context_takeover ", &p, r), 1);
    ck_assert_str_eq(r, "permessage-deflate; client_no_context_takeover");
    /* A malformed element declines only itself, a quoted comma included. */
    ck_assert_int_eq(nego1(&pol,
        "permessage-deflate; server_max_window_bits=\"1,0\", "
        "permessage-deflate; bogus=1, "
        "permessage-deflate; server_max_window_bits = 11, "
        "permessage-deflate", &p, r), 1);
    ck_assert_str_eq(r, "permessage-deflate; server_max_window_bits=11");
    /* An unterminated quote runs to the end of its line. */
    ck_assert_int_eq(nego1(&pol,
        "permessage-deflate; x=\"a, permessage-deflate", &p, r), 0);
    /* Empty list elements are allowed (RFC 7230 section 7). */
    ck_assert_int_eq(nego1(&pol, ",, permessage-deflate,", &p, r), 1);
    ck_assert_str_eq(r, "permessage-deflate");
}
END_TEST

START_TEST(deflate_negotiate_repeated_header_lines)
{
    struct gn_ws_deflate_policy pol = policy(false, 15);
    struct gn_ws_deflate_params p;
    char r[GN_WS_DEFLATE_RESPONSE_MAX];
    const char *v[] = {"foo, permessage-deflate; x", "",
                       "permessage-deflate; client_max_window_bits=12"};
    size_t n[] = {strlen(v[0]), 0, strlen(v[2])};

    ck_assert_int_eq(gn__ws_deflate_negotiate(&pol, v, n, 3, &p, r), 1);
    ck_assert_str_eq(r, NSNCT "; client_max_window_bits=12");
    /* Only the length given is read. */
    n[2] = strlen("permessage-deflate");
    ck_assert_int_eq(gn__ws_deflate_negotiate(&pol, v, n, 3, &p, r), 1);
    ck_assert_str_eq(r, NSNCT);
    n[2] = 0;
    ck_assert_int_eq(gn__ws_deflate_negotiate(&pol, v, n, 3, &p, r), 0);
}
END_TEST

START_TEST(deflate_negotiate_disabled)
{
    struct gn_ws_deflate_policy pol = policy(false, 15);
    struct gn_ws_deflate_params p;
    char r[GN_WS_DEFLATE_RESPONSE_MAX];

    pol.enabled = false;
    ck_assert_int_eq(nego1(&pol, "permessage-deflate", &p, r), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Inflate                                                             */
/* ------------------------------------------------------------------ */

static struct gn_ws_deflate *state(bool takeover)
{
    struct gn_ws_deflate_params p = {
        .server_no_context_takeover = !takeover,
        .client_no_context_takeover = !takeover,
        .server_max_window_bits = 15,
        .client_max_window_bits = 15,
    };
    struct gn_ws_deflate *d = gn__ws_deflate_new(&p);

    ck_assert_ptr_nonnull(d);
    return d;
}

/* Inflate the message IN[0, LEN) in pieces of STEP bytes (0: whole)
 * into OUT (emptied first); returns the last call's result. */
static int inflate_msg(struct gn_ws_deflate *d, const void *in, size_t len,
                       size_t step, size_t limit, struct gn_ws_zbuf *out)
{
    const unsigned char *p = in;
    size_t off = 0;
    int rc;

    out->len = 0;
    if (step == 0)
        step = len;
    do {
        size_t n = len - off < step ? len - off : step;

        rc = gn__ws_deflate_decompress(d, p + off, n, off + n == len, limit, out);
        off += n;
    } while (rc == 0 && off < len);
    return rc;
}

static void assert_msg(const struct gn_ws_zbuf *b, const void *want, size_t n)
{
    ck_assert_uint_eq(b->len, n);
    ck_assert(n == 0 || memcmp(b->data, want, n) == 0);
}

START_TEST(deflate_inflate_rfc7692_examples)
{
    static const unsigned char hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    static const unsigned char again[] = {0xf2, 0x00, 0x11, 0x00, 0x00};
    static const unsigned char stored[] = {0x00, 0x05, 0x00, 0xfa, 0xff,
                                           'H', 'e', 'l', 'l', 'o', 0x00};
    static const unsigned char final[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9,
                                          0x07, 0x00, 0x00};
    static const unsigned char more[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07,
                                         0x00, 0xd2, 0x51, 0xf0, 0x00, 0x51,
                                         0x00, 0x00};
    struct gn_ws_deflate *d = state(true);
    struct gn_ws_zbuf b = {0};

    /* 7.2.3.1 and 7.2.3.2: whole, then in two frames (and byte by byte). */
    for (size_t step = 0; step <= 3; step++) {
        ck_assert_int_eq(inflate_msg(d, hello, sizeof(hello), step, 100, &b), 0);
        assert_msg(&b, "Hello", 5);
        /* The same message again, referring to the first (7.2.3.2). */
        ck_assert_int_eq(inflate_msg(d, again, sizeof(again), step, 100, &b), 0);
        assert_msg(&b, "Hello", 5);
        gn__ws_deflate_free(d);
        d = state(true);
    }
    /* 7.2.3.3: a stored block, then the header byte that our 00 00 ff
     * ff tail completes into an empty stored block. */
    ck_assert_int_eq(inflate_msg(d, stored, sizeof(stored), 0, 100, &b), 0);
    assert_msg(&b, "Hello", 5);
    /* 7.2.3.4: a final block, then an empty stored block's header. */
    ck_assert_int_eq(inflate_msg(d, final, sizeof(final), 0, 100, &b), 0);
    assert_msg(&b, "Hello", 5);
    /* ... after which the context still carries over. */
    ck_assert_int_eq(inflate_msg(d, again, sizeof(again), 0, 100, &b), 0);
    assert_msg(&b, "Hello", 5);
    /* Blocks after a final block belong to the message, and may refer
     * back across it (Python: "Hello" by Z_FINISH, then ", Hello" by a
     * compressor given "Hello" as its dictionary). */
    for (size_t step = 0; step <= 7; step += 7) {
        ck_assert_int_eq(inflate_msg(d, more, sizeof(more), step, 100, &b), 0);
        assert_msg(&b, "Hello, Hello", 12);
    }
    /* The empty message (7.2.3.6). */
    ck_assert_int_eq(inflate_msg(d, "\x00", 1, 0, 100, &b), 0);
    ck_assert_uint_eq(b.len, 0);
    free(b.data);
    gn__ws_deflate_free(d);
}
END_TEST

static const unsigned char *py_plain(int i, size_t *n)
{
    const char *m = py_msgs[i];

    if (m == NULL) {
        *n = sizeof(py_big);
        return py_big;
    }
    *n = strlen(m);
    return (const unsigned char *)m;
}

/* Python's payloads, inflated by us in pieces of STEP bytes. */
static void inflate_python(bool takeover, size_t step)
{
    struct gn_ws_deflate *d = state(takeover);
    struct gn_ws_zbuf b = {0};

    for (int i = 0; i < PY_NMSGS; i++) {
        size_t n;
        const unsigned char *want = py_plain(i, &n);
        const unsigned char *in = takeover ? py_take[i].p : py_fresh[i].p;
        size_t len = takeover ? py_take[i].n : py_fresh[i].n;

        ck_assert_int_eq(inflate_msg(d, in, len, step, 1 << 20, &b), 0);
        assert_msg(&b, want, n);
    }
    free(b.data);
    gn__ws_deflate_free(d);
}

START_TEST(deflate_inflate_python_takeover)
{
    inflate_python(true, 0);
    inflate_python(true, 1);
    inflate_python(true, 1000);
}
END_TEST

START_TEST(deflate_inflate_python_no_takeover)
{
    inflate_python(false, 0);
    inflate_python(false, 1);
    inflate_python(false, 777);
}
END_TEST

START_TEST(deflate_inflate_python_takeover_needs_context)
{
    struct gn_ws_deflate *d = state(true);
    struct gn_ws_zbuf b = {0};
    int rc;

    /* The last vector refers back to the first: without the context it
     * cannot be read (so the takeover test above really used it). */
    rc = inflate_msg(d, py_take[4].p, py_take[4].n, 0, 1 << 20, &b);
    ck_assert(rc == -EBADMSG ||
              (rc == 0 && (b.len != strlen(py_msgs[4]) ||
                           memcmp(b.data, py_msgs[4], b.len) != 0)));
    free(b.data);
    gn__ws_deflate_free(d);
}
END_TEST

START_TEST(deflate_inflate_python_final_block)
{
    struct gn_ws_deflate *d = state(false);
    struct gn_ws_zbuf b = {0};

    /* Ended by Z_FINISH: a final block and no tail to strip. */
    ck_assert_int_eq(inflate_msg(d, py_final, sizeof(py_final), 0, 1 << 20, &b), 0);
    assert_msg(&b, py_msgs[0], strlen(py_msgs[0]));
    ck_assert_int_eq(inflate_msg(d, py_final, sizeof(py_final), 5, 1 << 20, &b), 0);
    assert_msg(&b, py_msgs[0], strlen(py_msgs[0]));
    free(b.data);
    gn__ws_deflate_free(d);
}
END_TEST

START_TEST(deflate_inflate_corrupt)
{
    static const unsigned char junk[] = {0xff, 0xff, 0xff, 0xff, 0x12};
    struct gn_ws_deflate *d = state(true);
    struct gn_ws_zbuf b = {0};
    size_t idle = gn__ws_deflate_memory(d);

    ck_assert_int_eq(inflate_msg(d, junk, sizeof(junk), 0, 100, &b), -EBADMSG);
    ck_assert_int_eq(inflate_msg(d, junk, sizeof(junk), 1, 100, &b), -EBADMSG);
    /* The broken state is dropped. */
    ck_assert_uint_eq(gn__ws_deflate_memory(d), idle);
    free(b.data);
    gn__ws_deflate_free(d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The limit                                                           */
/* ------------------------------------------------------------------ */

/* N zero bytes as one raw-deflate payload (tail stripped), by zlib. */
static unsigned char *zeros_payload(size_t n, size_t *len)
{
    z_stream s = {0};
    unsigned char *zero = calloc(1, n), *out = malloc(n / 100 + 1024);

    ck_assert(zero != NULL && out != NULL);
    ck_assert_int_eq(deflateInit2(&s, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
    s.next_in = zero;
    s.avail_in = (uInt)n;
    s.next_out = out;
    s.avail_out = (uInt)(n / 100 + 1024);
    ck_assert_int_eq(deflate(&s, Z_SYNC_FLUSH), Z_OK);
    ck_assert_uint_eq(s.avail_in, 0);
    *len = s.total_out - 4;
    deflateEnd(&s);
    free(zero);
    return out;
}

START_TEST(deflate_inflate_limit_exact)
{
    struct gn_ws_deflate *d = state(false);
    struct gn_ws_zbuf b = {0};
    size_t n;
    const unsigned char *want = py_plain(3, &n);

    ck_assert_int_eq(inflate_msg(d, py_fresh[3].p, py_fresh[3].n, 0, n, &b), 0);
    assert_msg(&b, want, n);
    ck_assert_uint_le(b.cap, n);
    ck_assert_int_eq(inflate_msg(d, py_fresh[3].p, py_fresh[3].n, 0, n - 1, &b),
                     -EMSGSIZE);
    ck_assert_uint_le(b.len, n - 1);
    ck_assert_int_eq(inflate_msg(d, py_fresh[3].p, py_fresh[3].n, 100, n - 1, &b),
                     -EMSGSIZE);
    /* The failed message's state is gone: the next one starts clean. */
    ck_assert_int_eq(inflate_msg(d, py_fresh[0].p, py_fresh[0].n, 0, n, &b), 0);
    assert_msg(&b, py_msgs[0], strlen(py_msgs[0]));
    free(b.data);
    gn__ws_deflate_free(d);
}
END_TEST

START_TEST(deflate_inflate_zip_bomb)
{
    size_t len, limit = 64 * 1024;
    unsigned char *bomb = zeros_payload(64 << 20, &len); /* 64 MiB of zeros */
    struct gn_ws_zbuf b = {0};

    ck_assert_uint_lt(len, 100 * 1024);
    for (int takeover = 0; takeover <= 1; takeover++) {
        for (size_t step = 0; step <= 4096; step += 4096) {
            struct gn_ws_deflate *d = state(takeover);

            b.len = 0;
            ck_assert_int_eq(inflate_msg(d, bomb, len, step, limit, &b), -EMSGSIZE);
            /* Never more than the limit, in the buffer or in zlib. */
            ck_assert_uint_le(b.cap, limit);
            ck_assert_uint_le(b.len, limit);
            ck_assert_uint_le(gn__ws_deflate_memory(d), 48 * 1024);
            gn__ws_deflate_free(d);
        }
    }
    free(b.data);
    free(bomb);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Compress, read back by a plain zlib inflater                        */
/* ------------------------------------------------------------------ */

/* Inflate PAYLOAD + 00 00 ff ff with S (raw) and compare with WANT. */
static void zlib_reads(z_stream *s, const struct gn_ws_zbuf *payload,
                       const void *want, size_t n)
{
    unsigned char *in = malloc(payload->len + 4), *out = malloc(n + 16);

    ck_assert(in != NULL && out != NULL);
    memcpy(in, payload->data, payload->len);
    memcpy(in + payload->len, "\x00\x00\xff\xff", 4);
    s->next_in = in;
    s->avail_in = (uInt)payload->len + 4;
    s->next_out = out;
    s->avail_out = (uInt)n + 16;
    ck_assert_int_eq(inflate(s, Z_SYNC_FLUSH), Z_OK);
    ck_assert_uint_eq(s->avail_in, 0);
    ck_assert_uint_eq(n + 16 - s->avail_out, n);
    ck_assert(n == 0 || memcmp(out, want, n) == 0);
    free(in);
    free(out);
}

static void compress_for_zlib(bool takeover)
{
    struct gn_ws_deflate *d = state(takeover);
    struct gn_ws_zbuf b = {0};
    z_stream s = {0};
    size_t first = 0;

    ck_assert_int_eq(inflateInit2(&s, -15), Z_OK);
    for (int i = 0; i < PY_NMSGS; i++) {
        size_t n;
        const unsigned char *m = py_plain(i, &n);

        b.len = 0;
        ck_assert_int_eq(gn__ws_deflate_compress(d, m, n, &b), 0);
        if (n == 0)
            ck_assert(b.len == 1 && b.data[0] == 0x00); /* RFC 7692 7.2.3.6 */
        if (i == 0)
            first = b.len;
        else if (i == 4) /* the first message again: shorter by context */
            ck_assert(takeover ? b.len < first : b.len == first);
        if (!takeover) /* a new inflater per message must do */
            ck_assert_int_eq(inflateReset(&s), Z_OK);
        zlib_reads(&s, &b, m, n);
    }
    inflateEnd(&s);
    free(b.data);
    gn__ws_deflate_free(d);
}

START_TEST(deflate_compress_read_by_zlib)
{
    compress_for_zlib(true);
    compress_for_zlib(false);
}
END_TEST

START_TEST(deflate_compress_keeps_headroom)
{
    struct gn_ws_deflate *d = state(false);
    struct gn_ws_zbuf b = {0};
    z_stream s = {0};
    struct gn_ws_zbuf payload;

    b.data = malloc(10);
    b.cap = 10;
    b.len = 10;
    memcpy(b.data, "0123456789", 10);
    ck_assert_int_eq(gn__ws_deflate_compress(d, "Hello", 5, &b), 0);
    ck_assert(memcmp(b.data, "0123456789", 10) == 0);
    /* zlib's fixed-Huffman "Hello", as in RFC 7692 section 7.2.3.1. */
    ck_assert_uint_eq(b.len, 17);
    ck_assert(memcmp(b.data + 10, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7) == 0);
    payload = (struct gn_ws_zbuf){b.data + 10, b.len - 10, b.len - 10};
    ck_assert_int_eq(inflateInit2(&s, -15), Z_OK);
    zlib_reads(&s, &payload, "Hello", 5);
    inflateEnd(&s);
    free(b.data);
    gn__ws_deflate_free(d);
}
END_TEST

START_TEST(deflate_round_trip_small_windows)
{
    for (int bits = 9; bits <= 15; bits++) {
        struct gn_ws_deflate_params p = {false, false, bits, bits};
        struct gn_ws_deflate *tx = gn__ws_deflate_new(&p), *rx = gn__ws_deflate_new(&p);
        struct gn_ws_zbuf c = {0}, b = {0};

        for (int i = 0; i < PY_NMSGS; i++) {
            size_t n;
            const unsigned char *m = py_plain(i, &n);

            c.len = 0;
            ck_assert_int_eq(gn__ws_deflate_compress(tx, m, n, &c), 0);
            ck_assert_int_eq(inflate_msg(rx, c.data, c.len, 0, n, &b), 0);
            assert_msg(&b, m, n);
        }
        free(c.data);
        free(b.data);
        gn__ws_deflate_free(tx);
        gn__ws_deflate_free(rx);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Memory                                                              */
/* ------------------------------------------------------------------ */

START_TEST(deflate_memory_idle_without_takeover)
{
    struct gn_ws_deflate *d = state(false);
    struct gn_ws_zbuf b = {0}, c = {0};
    size_t idle = gn__ws_deflate_memory(d);

    ck_assert_uint_le(idle, 128);
    ck_assert_int_eq(gn__ws_deflate_compress(d, py_big, sizeof(py_big), &c), 0);
    ck_assert_int_eq(inflate_msg(d, c.data, c.len, 0, 1 << 20, &b), 0);
    ck_assert_uint_eq(gn__ws_deflate_memory(d), idle);
    /* A message in pieces holds an inflater until its last piece. */
    ck_assert_int_eq(gn__ws_deflate_decompress(d, c.data, 10, false, 1 << 20, &b), 0);
    ck_assert_uint_gt(gn__ws_deflate_memory(d), idle + 7000);
    ck_assert_int_eq(gn__ws_deflate_decompress(d, c.data + 10, c.len - 10, true,
                                               1 << 20, &b), 0);
    ck_assert_uint_eq(gn__ws_deflate_memory(d), idle);
    /* The thread's streams: one deflater, one inflater. */
    ck_assert_uint_gt(gn__ws_deflate_shared_memory(), 256 * 1024);
    gn__ws_deflate_shared_free();
    ck_assert_uint_eq(gn__ws_deflate_shared_memory(), 0);
    free(b.data);
    free(c.data);
    gn__ws_deflate_free(d);
}
END_TEST

START_TEST(deflate_memory_with_takeover)
{
    struct gn_ws_deflate_params p = {false, false, 15, 10};
    struct gn_ws_deflate *d = gn__ws_deflate_new(&p);
    struct gn_ws_deflate *tx = state(false);
    struct gn_ws_zbuf b = {0}, c = {0};

    ck_assert_int_eq(gn__ws_deflate_compress(d, py_big, sizeof(py_big), &c), 0);
    /* The 13-bit, memLevel 6 compressor: about 70 KB, not 268 KB. */
    ck_assert_uint_lt(gn__ws_deflate_memory(d), 80 * 1024);
    gn__ws_deflate_free(d);
    d = gn__ws_deflate_new(&p);
    /* A 10-bit client window: inflate state and a 1 KB window. */
    c.len = 0;
    ck_assert_int_eq(gn__ws_deflate_compress(tx, "x", 1, &c), 0);
    ck_assert_int_eq(inflate_msg(d, c.data, c.len, 0, 100, &b), 0);
    ck_assert_uint_lt(gn__ws_deflate_memory(d), 9 * 1024);
    free(b.data);
    free(c.data);
    gn__ws_deflate_free(d);
    gn__ws_deflate_free(tx);
}
END_TEST

static Suite *deflate_suite(void)
{
    Suite *s = suite_create("websocket/deflate");
    TCase *nego = tcase_create("negotiate");
    TCase *inf = tcase_create("inflate");
    TCase *def = tcase_create("compress");
    TCase *mem = tcase_create("memory");

    tcase_add_test(nego, deflate_negotiate_default_policy);
    tcase_add_test(nego, deflate_negotiate_rfc7692_examples);
    tcase_add_test(nego, deflate_negotiate_client_window_policy);
    tcase_add_test(nego, deflate_negotiate_declines_bad_offers);
    tcase_add_test(nego, deflate_negotiate_first_acceptable_offer);
    tcase_add_test(nego, deflate_negotiate_repeated_header_lines);
    tcase_add_test(nego, deflate_negotiate_disabled);
    tcase_add_test(nego, deflate_negotiate_longest_answer);
    tcase_add_test(inf, deflate_inflate_rfc7692_examples);
    tcase_add_test(inf, deflate_inflate_python_takeover);
    tcase_add_test(inf, deflate_inflate_python_no_takeover);
    tcase_add_test(inf, deflate_inflate_python_takeover_needs_context);
    tcase_add_test(inf, deflate_inflate_python_final_block);
    tcase_add_test(inf, deflate_inflate_corrupt);
    tcase_add_test(inf, deflate_inflate_limit_exact);
    tcase_add_test(inf, deflate_inflate_zip_bomb);
    tcase_add_test(def, deflate_compress_read_by_zlib);
    tcase_add_test(def, deflate_compress_keeps_headroom);
    tcase_add_test(def, deflate_round_trip_small_windows);
    tcase_add_test(mem, deflate_memory_idle_without_takeover);
    tcase_add_test(mem, deflate_memory_with_takeover);
    suite_add_tcase(s, nego);
    suite_add_tcase(s, inf);
    suite_add_tcase(s, def);
    suite_add_tcase(s, mem);
    return s;
}

int main(void)
{
    return gn_test_run_suite(deflate_suite());
}
