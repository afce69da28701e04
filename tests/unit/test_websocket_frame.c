/*
 * Unit tests of the pure parts of websocket/: the incremental UTF-8
 * validator (utf8.c), frame heads, masks, close payloads and the order of
 * frames (frame.c), and the handshake's key and token checks
 * (handshake.c).
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "run_suite.h"
#include "websocket/frame.h"
#include "websocket/handshake.h"
#include "websocket/utf8.h"

/* ---- UTF-8 ------------------------------------------------------------- */

static uint32_t feed(const char *s)
{
    return gn__utf8_feed(GN_UTF8_ACCEPT, s, strlen(s));
}

START_TEST(utf8_valid)
{
    const char *ok[] = {"", "plain ascii, longer than eight bytes",
                        "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",
                        "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xef\xbf\xbf",
                        "\xed\x9f\xbf", "\xee\x80\x80", "\xf0\x90\x80\x80",
                        "\xf4\x8f\xbf\xbf", "\xf3\xbf\xbf\xbf"};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        ck_assert_msg(feed(ok[i]) == GN_UTF8_ACCEPT, "valid #%zu", i);
}
END_TEST

/* One bad byte, or one good 2-byte code point, anywhere in a long ASCII
 * run (inside and past the 32- and 8-byte steps). */
START_TEST(utf8_one_byte_anywhere_in_ascii)
{
    char s[80];

    for (size_t at = 0; at + 2 < sizeof(s); at++) {
        memset(s, 'a', sizeof(s));
        s[at] = (char)0xff;
        ck_assert_uint_eq(gn__utf8_feed(GN_UTF8_ACCEPT, s, sizeof(s)),
                          GN_UTF8_REJECT);
        s[at] = (char)0xc3;
        s[at + 1] = (char)0xa9;
        ck_assert_uint_eq(gn__utf8_feed(GN_UTF8_ACCEPT, s, sizeof(s)),
                          GN_UTF8_ACCEPT);
        ck_assert_uint_ne(gn__utf8_feed(GN_UTF8_ACCEPT, s, at + 1),
                          GN_UTF8_ACCEPT); /* cut inside it */
    }
}
END_TEST

START_TEST(utf8_invalid)
{
    const char *bad[] = {"\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xe0\x80\xaf",
                         "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf",
                         "\xf0\x80\x80\xaf", "\xf0\x8f\xbf\xbf",
                         "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xfe", "\xff",
                         "\xc2\x41", "abcdefgh\xe2\x28\xa1", "\xe2\x82\x41"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(feed(bad[i]) == GN_UTF8_REJECT, "invalid #%zu", i);
}
END_TEST

START_TEST(utf8_incomplete_is_neither)
{
    uint32_t st = feed("ok\xf0\x9f\x98");

    ck_assert(st != GN_UTF8_ACCEPT && st != GN_UTF8_REJECT);
    ck_assert_uint_eq(gn__utf8_feed(st, "\x80", 1), GN_UTF8_ACCEPT);
    ck_assert_uint_eq(gn__utf8_feed(st, "a", 1), GN_UTF8_REJECT);
}
END_TEST

/* Every split of a text into two pieces gives the whole's answer. */
START_TEST(utf8_split_anywhere)
{
    const char *texts[] = {"a\xe2\x82\xac" "b\xf0\x9f\x98\x80" "c",
                           "\xed\xa0\x80", "xx\xf4\x90\x80\x80yy"};

    for (size_t t = 0; t < 3; t++) {
        size_t n = strlen(texts[t]);
        uint32_t whole = feed(texts[t]);

        for (size_t cut = 0; cut <= n; cut++) {
            uint32_t st = gn__utf8_feed(GN_UTF8_ACCEPT, texts[t], cut);

            st = gn__utf8_feed(st, texts[t] + cut, n - cut);
            ck_assert_uint_eq(st == GN_UTF8_ACCEPT, whole == GN_UTF8_ACCEPT);
        }
    }
}
END_TEST

START_TEST(utf8_reject_is_sticky)
{
    uint32_t st = feed("\xff");

    ck_assert_uint_eq(gn__utf8_feed(st, "abc", 3), GN_UTF8_REJECT);
}
END_TEST

/* ---- frames ------------------------------------------------------------ */

START_TEST(frame_parse_lengths)
{
    uint8_t b[14] = {0x81, 0x85, 1, 2, 3, 4};
    struct gn_ws_frame f;

    ck_assert_int_eq(gn__ws_frame_parse(b, 1, 0, &f), 0);
    ck_assert_int_eq(gn__ws_frame_parse(b, 5, 0, &f), 0);
    ck_assert_int_eq(gn__ws_frame_parse(b, 6, 0, &f), 6);
    ck_assert_uint_eq(f.len, 5);
    ck_assert_uint_eq(f.fin, 1);
    ck_assert_uint_eq(f.opcode, GN_WS_OP_TEXT);
    ck_assert_mem_eq(f.mask, b + 2, 4);

    uint8_t m[] = {0x02, 0xfe, 0x01, 0x00, 9, 9, 9, 9};
    ck_assert_int_eq(gn__ws_frame_parse(m, 7, 0, &f), 0);
    ck_assert_int_eq(gn__ws_frame_parse(m, 8, 0, &f), 8);
    ck_assert_uint_eq(f.len, 256);
    ck_assert_uint_eq(f.fin, 0);

    uint8_t l[] = {0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4};
    ck_assert_int_eq(gn__ws_frame_parse(l, 13, 0, &f), 0);
    ck_assert_int_eq(gn__ws_frame_parse(l, 14, 0, &f), 14);
    ck_assert_uint_eq(f.len, 1ull << 32);
}
END_TEST

START_TEST(frame_parse_errors)
{
    struct gn_ws_frame f;
    uint8_t unmasked[] = {0x81, 0x05};
    uint8_t rsv[] = {0xc1, 0x80, 0, 0, 0, 0};
    uint8_t op3[] = {0x83, 0x80, 0, 0, 0, 0};
    uint8_t opb[] = {0x8b, 0x80, 0, 0, 0, 0};
    uint8_t fragping[] = {0x09, 0x80, 0, 0, 0, 0};
    uint8_t bigping[] = {0x89, 0xfe, 0, 126, 0, 0, 0, 0};
    uint8_t topbit[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

    ck_assert_int_eq(gn__ws_frame_parse(unmasked, 2, 0, &f), -1002);
    ck_assert_int_eq(gn__ws_frame_parse(rsv, 6, 0, &f), -1002);
    ck_assert_int_eq(gn__ws_frame_parse(rsv, 6, GN_WS_RSV1, &f), 6);
    rsv[0] = 0xa1; /* RSV2: not negotiated by permessage-deflate */
    ck_assert_int_eq(gn__ws_frame_parse(rsv, 6, GN_WS_RSV1, &f), -1002);
    ck_assert_int_eq(gn__ws_frame_parse(op3, 6, 0, &f), -1002);
    ck_assert_int_eq(gn__ws_frame_parse(opb, 6, 0, &f), -1002);
    ck_assert_int_eq(gn__ws_frame_parse(fragping, 6, 0, &f), -1002);
    ck_assert_int_eq(gn__ws_frame_parse(bigping, 8, 0, &f), -1002);
    ck_assert_int_eq(gn__ws_frame_parse(topbit, 14, 0, &f), -1002);
}
END_TEST

START_TEST(frame_head_roundtrip)
{
    uint64_t lens[] = {0, 125, 126, 65535, 65536, 1ull << 40};
    uint8_t h[GN_WS_HEAD_MAX + 4];
    struct gn_ws_frame f;

    for (size_t i = 0; i < 6; i++) {
        size_t n = gn__ws_frame_head(h, 1, 0, GN_WS_OP_BINARY, lens[i]);

        ck_assert_uint_eq(n, lens[i] < 126 ? 2 : lens[i] < 65536 ? 4 : 10);
        ck_assert_uint_eq(h[1] & 0x80, 0); /* servers do not mask */
        h[1] |= 0x80;                        /* parse it as a client's */
        memset(h + n, 0, 4);
        ck_assert_int_eq(gn__ws_frame_parse(h, n + 4, 0, &f), (int)n + 4);
        ck_assert_uint_eq(f.len, lens[i]);
        ck_assert_uint_eq(f.opcode, GN_WS_OP_BINARY);
    }
}
END_TEST

START_TEST(unmask_at_any_offset)
{
    const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    uint8_t plain[40], data[40];

    for (int i = 0; i < 40; i++)
        plain[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 40; i++)
        data[i] = plain[i] ^ key[i % 4];
    /* In two pieces, the second starting mid-key. */
    gn__ws_unmask(data, 13, key, 0);
    gn__ws_unmask(data + 13, 27, key, 13);
    ck_assert_mem_eq(data, plain, 40);
}
END_TEST

/* Every offset into the key, every length around the 8-byte steps: the
 * same bytes as one byte at a time. */
START_TEST(unmask_every_offset_and_length)
{
    const uint8_t key[4] = {0x12, 0x9a, 0xf0, 0x07};
    uint8_t data[40], want[40];

    for (uint64_t off = 0; off < 8; off++)
        for (size_t n = 0; n <= sizeof(data); n++) {
            for (size_t i = 0; i < n; i++)
                data[i] = want[i] = (uint8_t)(i * 37 + off);
            for (size_t i = 0; i < n; i++)
                want[i] ^= key[(off + i) % 4];
            gn__ws_unmask(data, n, key, off);
            ck_assert_mem_eq(data, want, n);
        }
}
END_TEST

START_TEST(close_payloads)
{
    uint8_t p[GN_WS_CONTROL_MAX] = {0};
    unsigned code;

    ck_assert_int_eq(gn__ws_close_parse(p, 0, &code), 0);
    ck_assert_uint_eq(code, 1005);
    ck_assert_int_eq(gn__ws_close_parse((const uint8_t *)"\x03", 1, &code),
                     -1002);
    ck_assert_int_eq(gn__ws_close_parse((const uint8_t *)"\x03\xe8ok", 4, &code),
                     0);
    ck_assert_uint_eq(code, 1000);
    ck_assert_int_eq(
        gn__ws_close_parse((const uint8_t *)"\x03\xe8\xed\xa0\x80", 5, &code),
        -1007);
    unsigned bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p[0] = (uint8_t)(bad[i] >> 8), p[1] = (uint8_t)bad[i];
        ck_assert_int_eq(gn__ws_close_parse(p, 2, &code), -1002);
    }
    unsigned good[] = {1000, 1003, 1007, 1011, 1014, 3000, 4999};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        p[0] = (uint8_t)(good[i] >> 8), p[1] = (uint8_t)good[i];
        ck_assert_int_eq(gn__ws_close_parse(p, 2, &code), 0);
    }
}
END_TEST

START_TEST(close_reason_cut_at_a_code_point)
{
    char reason[200];
    uint8_t p[GN_WS_CONTROL_MAX];
    unsigned code;
    size_t n;

    memset(reason, 'a', sizeof(reason));
    memcpy(reason + 121, "\xe2\x82\xac", 3); /* straddles byte 123 */
    reason[199] = '\0';
    n = gn__ws_close_payload(p, 1001, reason);
    ck_assert_uint_le(n, GN_WS_CONTROL_MAX);
    ck_assert_uint_eq(n, 2 + 121);
    ck_assert_int_eq(gn__ws_close_parse(p, n, &code), 0);
    ck_assert_uint_eq(code, 1001);
}
END_TEST

START_TEST(frame_sequence)
{
    struct gn_ws_seq s = {0};
    struct gn_ws_frame f = {.fin = 0, .opcode = GN_WS_OP_TEXT};

    ck_assert_int_eq(gn__ws_seq_frame(&s, &f), 0);
    ck_assert_int_eq(gn__ws_seq_frame(&s, &f), -1002); /* text inside text */
    f.opcode = GN_WS_OP_CONT;
    ck_assert_int_eq(gn__ws_seq_frame(&s, &f), 0);
    f.fin = 1;
    ck_assert_int_eq(gn__ws_seq_frame(&s, &f), 0);
    ck_assert_uint_eq(s.opcode, GN_WS_OP_TEXT);
    ck_assert_int_eq(gn__ws_seq_frame(&s, &f), -1002); /* orphan */
}
END_TEST

/* ---- handshake --------------------------------------------------------- */

START_TEST(accept_key_of_rfc_example)
{
    char out[GN_WS_ACCEPT_LEN + 1];

    gn__ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
    ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
END_TEST

START_TEST(sha1_vectors)
{
    uint8_t d[20];
    static const uint8_t abc[20] = {0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81,
                                    0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
                                    0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d};
    static const uint8_t two[20] = {0x84, 0x98, 0x3e, 0x44, 0x1c, 0x3b, 0xd2,
                                    0x6e, 0xba, 0xae, 0x4a, 0xa1, 0xf9, 0x51,
                                    0x29, 0xe5, 0xe5, 0x46, 0x70, 0xf1};
    const char *m =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

    gn__sha1("abc", 3, d);
    ck_assert_mem_eq(d, abc, 20);
    gn__sha1(m, strlen(m), d); /* 56 bytes: the padding takes a block */
    ck_assert_mem_eq(d, two, 20);
}
END_TEST

START_TEST(keys)
{
    ck_assert(gn__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=="));
    ck_assert(!gn__ws_key_valid(NULL));
    ck_assert(!gn__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ="));
    ck_assert(!gn__ws_key_valid("dGhlIHNhbXBsZSBub25jZR=="));  /* 4 bits set */
    ck_assert(!gn__ws_key_valid("dGhlIHNhbXBsZSBub25jZSE=")); /* 17 bytes */
    ck_assert(!gn__ws_key_valid("dGhlIHNhbXBs*SBub25jZQ=="));
}
END_TEST

START_TEST(tokens_and_origins)
{
    ck_assert(gn__ws_token_in("keep-alive, Upgrade", "upgrade"));
    ck_assert(gn__ws_token_in(" upgrade ", "upgrade"));
    ck_assert(!gn__ws_token_in("upgrades", "upgrade"));
    ck_assert(!gn__ws_token_in(NULL, "upgrade"));
    ck_assert(!gn__ws_token_in(",,", "upgrade"));
    ck_assert(gn__ws_origin_allowed("", "https://x"));
    ck_assert(gn__ws_origin_allowed("*", "https://x"));
    ck_assert(gn__ws_origin_allowed("https://a, https://x", "https://X"));
    ck_assert(!gn__ws_origin_allowed("https://a", "https://x"));
    ck_assert(gn__ws_origin_allowed("https://a", NULL));
}
END_TEST

static Suite *ws_suite(void)
{
    Suite *s = suite_create("websocket/frame");
    TCase *u = tcase_create("utf8");
    TCase *f = tcase_create("frame");
    TCase *h = tcase_create("handshake");

    tcase_add_test(u, utf8_valid);
    tcase_add_test(u, utf8_invalid);
    tcase_add_test(u, utf8_one_byte_anywhere_in_ascii);
    tcase_add_test(u, utf8_incomplete_is_neither);
    tcase_add_test(u, utf8_split_anywhere);
    tcase_add_test(u, utf8_reject_is_sticky);
    tcase_add_test(f, frame_parse_lengths);
    tcase_add_test(f, frame_parse_errors);
    tcase_add_test(f, frame_head_roundtrip);
    tcase_add_test(f, unmask_at_any_offset);
    tcase_add_test(f, unmask_every_offset_and_length);
    tcase_add_test(f, close_payloads);
    tcase_add_test(f, close_reason_cut_at_a_code_point);
    tcase_add_test(f, frame_sequence);
    tcase_add_test(h, accept_key_of_rfc_example);
    tcase_add_test(h, sha1_vectors);
    tcase_add_test(h, keys);
    tcase_add_test(h, tokens_and_origins);
    suite_add_tcase(s, u);
    suite_add_tcase(s, f);
    suite_add_tcase(s, h);
    return s;
}

int main(void)
{
    return gn_test_run_suite(ws_suite());
}
