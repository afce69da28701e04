/*
 * Unit tests of permessage-deflate as a WebSocket transform
 * (websocket/compress.c): what gets compressed (from GN_WS_COMPRESS_MIN
 * on, and only when it shrinks), that a compressed message inflates back
 * through the transform's decode within its limit, and the fan-out's
 * compress-once: the same message on a second socket is copied, not
 * compressed again, while a different one, or a different window, is not
 * taken for it.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "run_suite.h"
#include "websocket/compress.h"
#include "websocket/frame.h"
#include "websocket/ws.h"

static const struct gn_ws_deflate_params no_takeover = {true, true, 15, 15};

/* A message of N bytes that compresses well. */
static char *json(size_t n)
{
    static const char rec[] = "{\"id\":12,\"user\":\"ann\",\"event\":\"click\"},";
    char *m = malloc(n);

    for (size_t i = 0; i < n; i++)
        m[i] = rec[i % (sizeof(rec) - 1)];
    return m;
}

/* The message of payload Z, as a plain zlib inflater reads it. */
static size_t inflate_plain(const struct gn_ws_zbuf *z, char *out, size_t cap)
{
    static const unsigned char tail[4] = {0, 0, 0xff, 0xff};
    z_stream s = {0};
    unsigned char *in = malloc(z->len + 4);

    memcpy(in, z->data, z->len);
    memcpy(in + z->len, tail, 4);
    ck_assert_int_eq(inflateInit2(&s, -15), Z_OK);
    s.next_in = in;
    s.avail_in = (uInt)(z->len + 4);
    s.next_out = (Bytef *)out;
    s.avail_out = (uInt)cap;
    ck_assert_int_ne(inflate(&s, Z_SYNC_FLUSH), Z_DATA_ERROR);
    inflateEnd(&s);
    free(in);
    return cap - s.avail_out;
}

START_TEST(compress_from_the_threshold_on)
{
    struct gn_ws_pmd *p = gn__ws_pmd_new(&no_takeover);
    size_t n = GN_WS_COMPRESS_MIN;
    char *m = json(n), back[4096];
    struct gn_ws_zbuf z = {0};

    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(gn__ws_pmd_ext.rsv, GN_WS_RSV1);
    /* One byte short: sent as it is, nothing written. */
    ck_assert_int_eq(gn__ws_pmd_ext.encode(p, m, n - 1, &z), 1);
    ck_assert_uint_eq(z.len, 0);
    ck_assert_int_eq(gn__ws_pmd_ext.encode(p, m, n, &z), 0);
    ck_assert_uint_lt(z.len, n / 4);
    ck_assert_uint_eq(inflate_plain(&z, back, sizeof(back)), n);
    ck_assert_mem_eq(back, m, n);
    free(z.data);
    free(m);
    gn__ws_pmd_free(p);
    gn__ws_pmd_cache_free();
}
END_TEST

START_TEST(compress_not_when_it_does_not_shrink)
{
    struct gn_ws_pmd *p = gn__ws_pmd_new(&no_takeover);
    unsigned char noise[4096];
    struct gn_ws_zbuf z = {0};
    uint32_t x = 2463534242u;

    for (size_t i = 0; i < sizeof(noise); i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        noise[i] = (unsigned char)x;
    }
    ck_assert_int_eq(gn__ws_pmd_ext.encode(p, noise, sizeof(noise), &z), 1);
    free(z.data);
    /* ... nor the second time, from the copy kept for a fan-out. */
    z = (struct gn_ws_zbuf){0};
    ck_assert_int_eq(gn__ws_pmd_ext.encode(p, noise, sizeof(noise), &z), 1);
    free(z.data);
    gn__ws_pmd_free(p);
    gn__ws_pmd_cache_free();
}
END_TEST

START_TEST(decode_round_trip_and_limit)
{
    struct gn_ws_pmd *p = gn__ws_pmd_new(&no_takeover);
    size_t n = 100000;
    char *m = json(n);
    struct gn_ws_zbuf z = {0}, out = {0};

    ck_assert_int_eq(gn__ws_pmd_ext.encode(p, m, n, &z), 0);
    ck_assert_int_eq(gn__ws_pmd_ext.decode(p, z.data, z.len, n, &out), 0);
    ck_assert_uint_eq(out.len, n);
    ck_assert_mem_eq(out.data, m, n);
    free(out.data);
    out = (struct gn_ws_zbuf){0};
    ck_assert_int_eq(gn__ws_pmd_ext.decode(p, z.data, z.len, n - 1, &out),
                     -EMSGSIZE);
    ck_assert_uint_le(out.cap, n - 1);
    out.len = 0;
    ck_assert_int_eq(gn__ws_pmd_ext.decode(p, "\xff\xff\xff", 3, n, &out),
                     -EBADMSG);
    free(out.data);
    free(z.data);
    free(m);
    gn__ws_pmd_free(p);
    gn__ws_pmd_cache_free();
}
END_TEST

START_TEST(fan_out_compresses_once)
{
    enum { SOCKETS = 50 };
    struct gn_ws_pmd *p[SOCKETS];
    struct gn_ws_deflate_params w10 = {true, true, 10, 15};
    struct gn_ws_pmd *small_window = gn__ws_pmd_new(&w10);
    unsigned long c0, r0, c1, r1;
    size_t n = 8192;
    char *m = json(n), *other = json(n);
    struct gn_ws_zbuf first = {0}, z;

    gn__ws_pmd_counts(&c0, &r0);
    for (int i = 0; i < SOCKETS; i++) {
        p[i] = gn__ws_pmd_new(&no_takeover);
        z = (struct gn_ws_zbuf){0};
        ck_assert_int_eq(gn__ws_pmd_ext.encode(p[i], m, n, &z), 0);
        if (i == 0) {
            first = z;
            continue;
        }
        ck_assert_uint_eq(z.len, first.len);
        ck_assert_mem_eq(z.data, first.data, z.len);
        free(z.data);
    }
    gn__ws_pmd_counts(&c1, &r1);
    ck_assert_uint_eq(c1 - c0, 1);
    ck_assert_uint_eq(r1 - r0, SOCKETS - 1);

    /* A message differing in its last byte is compressed anew. */
    other[n - 1] = '#';
    z = (struct gn_ws_zbuf){0};
    ck_assert_int_eq(gn__ws_pmd_ext.encode(p[1], other, n, &z), 0);
    free(z.data);
    /* The same bytes for a socket with another window too. */
    z = (struct gn_ws_zbuf){0};
    ck_assert_int_eq(gn__ws_pmd_ext.encode(small_window, other, n, &z), 0);
    free(z.data);
    gn__ws_pmd_counts(&c1, &r1);
    ck_assert_uint_eq(c1 - c0, 3);
    ck_assert_uint_eq(r1 - r0, SOCKETS - 1);

    free(first.data);
    for (int i = 0; i < SOCKETS; i++)
        gn__ws_pmd_free(p[i]);
    gn__ws_pmd_free(small_window);
    free(m);
    free(other);
    gn__ws_pmd_cache_free();
    gn__ws_deflate_shared_free();
}
END_TEST

START_TEST(takeover_is_never_reused)
{
    struct gn_ws_deflate_params takeover = {false, false, 15, 15};
    struct gn_ws_pmd *a = gn__ws_pmd_new(&takeover);
    struct gn_ws_pmd *b = gn__ws_pmd_new(&takeover);
    unsigned long c0, r0, c1, r1;
    size_t n = 4096;
    char *m = json(n);
    struct gn_ws_zbuf z = {0};

    gn__ws_pmd_counts(&c0, &r0);
    ck_assert_int_eq(gn__ws_pmd_ext.encode(a, m, n, &z), 0);
    free(z.data);
    z = (struct gn_ws_zbuf){0};
    ck_assert_int_eq(gn__ws_pmd_ext.encode(b, m, n, &z), 0);
    free(z.data);
    gn__ws_pmd_counts(&c1, &r1);
    ck_assert_uint_eq(c1 - c0, 2);
    ck_assert_uint_eq(r1 - r0, 0);
    gn__ws_pmd_free(a);
    gn__ws_pmd_free(b);
    free(m);
    gn__ws_pmd_cache_free();
}
END_TEST

static Suite *compress_suite(void)
{
    Suite *s = suite_create("websocket/compress");
    TCase *tc = tcase_create("transform");

    tcase_add_test(tc, compress_from_the_threshold_on);
    tcase_add_test(tc, compress_not_when_it_does_not_shrink);
    tcase_add_test(tc, decode_round_trip_and_limit);
    tcase_add_test(tc, fan_out_compresses_once);
    tcase_add_test(tc, takeover_is_never_reused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return gn_test_run_suite(compress_suite());
}
