/*
 * Unit tests of Engine.IO 4's codec (socketio/engine.c, socketio/base64.c)
 * with the vectors of the protocol's document, of engine.io-parser's tests
 * and of the protocol's test suite: packets and their types, long-polling
 * payloads (record separator, binary as 'b' + base64), WebSocket frames,
 * the maxPayload limit and the malformed payloads the reference refuses;
 * python-engineio's payloads (sio_peer_vectors.h) read, and the same
 * packets written by us into the same bytes.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_suite.h"
#include "sio_peer_vectors.h"
#include "socketio/base64.h"
#include "socketio/engine.h"

/* A writable copy of S (the decoder writes base64 in place); free it. */
static uint8_t *dup_bytes(const char *s, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);

    ck_assert_ptr_nonnull(p);
    memcpy(p, s, n);
    return p;
}

/* ---- base64 ------------------------------------------------------------ */

START_TEST(base64_rfc4648_vectors)
{
    static const char *const plain[] = {"",     "f",     "fo",    "foo",
                                        "foob", "fooba", "foobar"};
    static const char *const coded[] = {
        "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    char out[16];
    uint8_t back[16];

    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        size_t n =
            gn__base64_encode((const uint8_t *)plain[i], strlen(plain[i]), out);

        ck_assert_uint_eq(n, gn__base64_len(strlen(plain[i])));
        ck_assert_mem_eq(out, coded[i], n);
        ck_assert_uint_eq(n, strlen(coded[i]));
        ck_assert_int_eq(gn__base64_decode(coded[i], n, back),
                         (long)strlen(plain[i]));
        ck_assert_mem_eq(back, plain[i], strlen(plain[i]));
    }
}
END_TEST

START_TEST(base64_unpadded_and_refused)
{
    static const char *const bad[] = {
        "Zg=",    "Z",    "Zh==", "Zm9=",     "Zm 9",
        "Zm9v\n", "Zm-v", "=Zm9", "Zg==Zg==", "Zm9vYg=A"};
    uint8_t out[16];

    ck_assert_int_eq(gn__base64_decode("Zg", 2, out), 1);
    ck_assert_int_eq(out[0], 'f');
    ck_assert_int_eq(gn__base64_decode("Zm8", 3, out), 2);
    ck_assert_mem_eq(out, "fo", 2);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(gn__base64_decode(bad[i], strlen(bad[i]), out) == -EINVAL,
                      "\"%s\" decoded", bad[i]);
}
END_TEST

/* Every length of every byte value round-trips, decoded in place. */
START_TEST(base64_roundtrip_in_place)
{
    uint8_t src[300];
    char buf[404];

    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)(i * 7 + 3);
    for (size_t n = 0; n <= sizeof(src); n++) {
        size_t len = gn__base64_encode(src, n, buf);

        ck_assert_int_eq(gn__base64_decode(buf, len, (uint8_t *)buf), (long)n);
        ck_assert_mem_eq(buf, src, n);
    }
}
END_TEST

/* ---- packets ----------------------------------------------------------- */

START_TEST(packet_types)
{
    static const char *const text[] = {
        "0{\"sid\":\"x\"}", "1", "2probe", "3probe", "4hello", "5", "6"};
    struct gn_eio_packet pkt;

    for (int t = GN_EIO_OPEN; t <= GN_EIO_NOOP; t++) {
        uint8_t *p = dup_bytes(text[t], strlen(text[t]));

        ck_assert_int_eq(gn__eio_packet_decode(p, strlen(text[t]), &pkt), 0);
        ck_assert_int_eq(pkt.type, t);
        ck_assert(!pkt.binary);
        ck_assert_uint_eq(pkt.len, strlen(text[t]) - 1);
        ck_assert_mem_eq(pkt.data, text[t] + 1, pkt.len);
        ck_assert_ptr_eq(pkt.data, p + 1); /* no copy */
        free(p);
    }
}
END_TEST

/* engine.io-parser: "" and "a123" are parser errors; so is every type
 * digit past noop, and bad base64 after 'b'. */
START_TEST(packet_malformed)
{
    static const char *const bad[] = {"",      "a123",     "7", "9x", "/",
                                      "b!!!!", "bAQIDBA=", "B", " 4"};
    struct gn_eio_packet pkt;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t *p = dup_bytes(bad[i], strlen(bad[i]));

        ck_assert_msg(gn__eio_packet_decode(p, strlen(bad[i]), &pkt) ==
                          -EBADMSG,
                      "\"%s\" decoded", bad[i]);
        free(p);
    }
}
END_TEST

START_TEST(packet_binary_base64)
{
    uint8_t *p = dup_bytes("bAQIDBA==", 9);
    struct gn_eio_packet pkt;

    ck_assert_int_eq(gn__eio_packet_decode(p, 9, &pkt), 0);
    ck_assert_int_eq(pkt.type, GN_EIO_MESSAGE);
    ck_assert(pkt.binary);
    ck_assert_uint_eq(pkt.len, 4);
    ck_assert_mem_eq(pkt.data, "\x01\x02\x03\x04", 4);
    free(p);
    /* "b" alone is an empty binary message. */
    p = dup_bytes("b", 1);
    ck_assert_int_eq(gn__eio_packet_decode(p, 1, &pkt), 0);
    ck_assert(pkt.binary);
    ck_assert_uint_eq(pkt.len, 0);
    free(p);
}
END_TEST

/* ---- payloads ---------------------------------------------------------- */

/* A string literal and its length (it may hold NULs). */
#define LIT(s) s, sizeof(s) - 1

/* Decode the payload S into packets, their texts joined by '|' (binary as
 * hex) into OUT; the last rc of gn__eio_payload_next (0 or an error). */
static int read_payload(const char *s, size_t n, size_t max, char *out)
{
    struct gn_eio_payload it;
    struct gn_eio_packet pkt;
    uint8_t *p = dup_bytes(s, n);
    int rc = gn__eio_payload_init(&it, p, n, max);

    out[0] = '\0';
    while (rc == 0 && (rc = gn__eio_payload_next(&it, &pkt)) == 1) {
        char *o = out + strlen(out);

        if (o != out)
            *o++ = '|';
        if (pkt.binary) {
            o += sprintf(o, "bin:");
            for (size_t i = 0; i < pkt.len; i++)
                o += sprintf(o, "%02x", pkt.data[i]);
        } else {
            *o++ = (char)('0' + pkt.type);
            memcpy(o, pkt.data, pkt.len);
            o[pkt.len] = '\0';
        }
        rc = 0;
    }
    /* Once done, it stays done. */
    ck_assert_int_eq(gn__eio_payload_next(&it, &pkt), 0);
    free(p);
    return rc;
}

START_TEST(payload_vectors)
{
    char out[256];

    ck_assert_int_eq(read_payload(LIT("4hello\x1e"
                                      "2\x1e"
                                      "4world"),
                                  1000, out),
                     0);
    ck_assert_str_eq(out, "4hello|2|4world");
    ck_assert_int_eq(read_payload(LIT("4hello\x1e"
                                      "bAQIDBA=="),
                                  1000, out),
                     0);
    ck_assert_str_eq(out, "4hello|bin:01020304");
    ck_assert_int_eq(read_payload(LIT("0\x1e"
                                      "1\x1e"
                                      "2probe\x1e"
                                      "3probe\x1e"
                                      "4test"),
                                  1000, out),
                     0);
    ck_assert_str_eq(out, "0|1|2probe|3probe|4test");
    ck_assert_int_eq(read_payload(LIT("4test1\x1e"
                                      "4test2\x1e"
                                      "4test3"),
                                  1000, out),
                     0);
    ck_assert_str_eq(out, "4test1|4test2|4test3");
    /* UTF-8 text goes through as it is. */
    ck_assert_int_eq(read_payload(LIT("41\xe2\x82\xac"), 1000, out), 0);
    ck_assert_str_eq(out, "41\xe2\x82\xac");
}
END_TEST

/* The reference's malformed payloads ("{", "{}", '["a123", "a456"]', and
 * the test suite's "abc"); an empty one or an empty packet in it; the
 * packets before a bad one stand. */
START_TEST(payload_malformed)
{
    static const char *const bad[] = {"{", "{}", "[\"a123\", \"a456\"]", "abc",
                                      ""};
    char out[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(read_payload(bad[i], strlen(bad[i]), 1000, out) ==
                          -EBADMSG,
                      "\"%s\" read", bad[i]);
        ck_assert_str_eq(out, "");
    }
    ck_assert_int_eq(read_payload(LIT("4a\x1e\x1e"
                                      "4b"),
                                  1000, out),
                     -EBADMSG);
    ck_assert_str_eq(out, "4a");
    ck_assert_int_eq(read_payload(LIT("4a\x1e"), 1000, out), -EBADMSG);
    ck_assert_str_eq(out, "4a");
    ck_assert_int_eq(read_payload(LIT("2\x1e"
                                      "8x\x1e"
                                      "4b"),
                                  1000, out),
                     -EBADMSG);
    ck_assert_str_eq(out, "2");
    ck_assert_int_eq(read_payload(LIT("4a\x1e"
                                      "b==="),
                                  1000, out),
                     -EBADMSG);
    ck_assert_str_eq(out, "4a");
}
END_TEST

/* maxPayload: a payload of exactly the limit is read, one byte more is
 * refused before any packet (the reference answers 413); invalid UTF-8
 * is refused. */
START_TEST(payload_limits)
{
    char big[1001], out[2048];

    memset(big, 'x', sizeof(big));
    big[0] = '4';
    ck_assert_int_eq(read_payload(big, 1000, 1000, out), 0);
    ck_assert_uint_eq(strlen(out), 1000);
    ck_assert_int_eq(read_payload(big, 1001, 1000, out), -EMSGSIZE);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(read_payload(LIT("4\xff"), 1000, out), -EILSEQ);
    ck_assert_int_eq(read_payload(LIT("4\xed\xa0\x80"), 1000, out), -EILSEQ);
    ck_assert_str_eq(out, "");
}
END_TEST

static void add(struct gn_buf *b, enum gn_eio_type t, bool binary,
                const char *data, size_t n)
{
    struct gn_eio_packet pkt = {t, binary, (const uint8_t *)data, n};

    ck_assert_int_eq(gn__eio_payload_add(b, &pkt), 0);
}

START_TEST(payload_encode)
{
    char storage[8]; /* small: the buffer must grow */
    struct gn_buf b;
    struct gn_eio_packet rs = {GN_EIO_MESSAGE, false,
                               (const uint8_t *)"a\x1e"
                                                "b",
                               3};
    char out[256];

    gn__buf_init(&b, storage, sizeof(storage));
    add(&b, GN_EIO_OPEN, false, "", 0);
    add(&b, GN_EIO_CLOSE, false, "", 0);
    add(&b, GN_EIO_PING, false, "probe", 5);
    add(&b, GN_EIO_PONG, false, "probe", 5);
    add(&b, GN_EIO_MESSAGE, false, "test", 4);
    add(&b, GN_EIO_MESSAGE, true, "\x01\x02\x03\x04", 4);
    ck_assert_uint_eq(b.len, 33);
    ck_assert_mem_eq(b.data,
                     "0\x1e"
                     "1\x1e"
                     "2probe\x1e"
                     "3probe\x1e"
                     "4test\x1e"
                     "bAQIDBA==",
                     33);
    /* What was written reads back. */
    ck_assert_int_eq(read_payload(b.data, b.len, 1000, out), 0);
    ck_assert_str_eq(out, "0|1|2probe|3probe|4test|bin:01020304");
    ck_assert_int_eq(gn__eio_payload_add(&b, &rs), -EINVAL);
    ck_assert_uint_eq(b.len, 33);
    gn__buf_free(&b);
}
END_TEST

/* A binary message longer than the encoder's chunk (768 bytes) is written
 * in several pieces that join into one base64 text. */
START_TEST(payload_encode_long_binary)
{
    struct gn_buf b;
    uint8_t bytes[2000];
    char out[8192], hex[4001];

    for (size_t i = 0; i < sizeof(bytes); i++) {
        bytes[i] = (uint8_t)(i * 31);
        sprintf(hex + 2 * i, "%02x", bytes[i]);
    }
    gn__buf_init(&b, NULL, 0);
    add(&b, GN_EIO_MESSAGE, true, (const char *)bytes, sizeof(bytes));
    ck_assert_uint_eq(b.len, 1 + gn__base64_len(sizeof(bytes)));
    ck_assert_int_eq(read_payload(b.data, b.len, 1 << 20, out), 0);
    ck_assert_str_eq(out + 4, hex);
    gn__buf_free(&b);
}
END_TEST

START_TEST(ws_frames)
{
    struct gn_buf b;
    struct gn_eio_packet text = {GN_EIO_MESSAGE, false,
                                 (const uint8_t *)"hello", 5};
    struct gn_eio_packet bin = {GN_EIO_MESSAGE, true,
                                (const uint8_t *)"\x01\x02\x03", 3};
    struct gn_eio_packet pkt;

    gn__buf_init(&b, NULL, 0);
    ck_assert_int_eq(gn__eio_ws_frame(&b, &text), 0);
    ck_assert_uint_eq(b.len, 6);
    ck_assert_mem_eq(b.data, "4hello", 6);
    b.len = 0;
    ck_assert_int_eq(gn__eio_ws_frame(&b, &bin), 1);
    ck_assert_uint_eq(b.len, 3);
    ck_assert_mem_eq(b.data, "\x01\x02\x03", 3);
    gn__buf_free(&b);
    /* A binary frame is a binary message whatever its first byte. */
    gn__eio_packet_binary((const uint8_t *)"4x", 2, &pkt);
    ck_assert_int_eq(pkt.type, GN_EIO_MESSAGE);
    ck_assert(pkt.binary);
    ck_assert_uint_eq(pkt.len, 2);
}
END_TEST

START_TEST(peer_payloads)
{
    const struct peer_eio *v = &peer_eio[_i];
    uint8_t *p = dup_bytes(v->payload, v->len);
    struct gn_eio_payload it;
    struct gn_eio_packet pkt;
    struct gn_buf b;
    unsigned k = 0;
    int rc;

    ck_assert_int_eq(gn__eio_payload_init(&it, p, v->len, 1 << 20), 0);
    while ((rc = gn__eio_payload_next(&it, &pkt)) == 1) {
        ck_assert_uint_lt(k, v->n);
        ck_assert_int_eq(pkt.type, v->pkt[k].type);
        ck_assert_int_eq(pkt.binary, v->pkt[k].binary);
        ck_assert_uint_eq(pkt.len, v->pkt[k].n);
        ck_assert_mem_eq(pkt.data, v->pkt[k].data, pkt.len);
        k++;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(k, v->n);
    gn__buf_init(&b, NULL, 0);
    for (k = 0; k < v->n; k++) {
        struct gn_eio_packet out = {
            (enum gn_eio_type)v->pkt[k].type, v->pkt[k].binary,
            (const uint8_t *)v->pkt[k].data, v->pkt[k].n};

        ck_assert_int_eq(gn__eio_payload_add(&b, &out), 0);
    }
    ck_assert_uint_eq(b.len, v->len);
    ck_assert_mem_eq(b.data, v->payload, b.len);
    gn__buf_free(&b);
    free(p);
}
END_TEST

static Suite *engine_suite(void)
{
    Suite *s = suite_create("socketio/engine");
    TCase *b = tcase_create("base64");
    TCase *p = tcase_create("packet");
    TCase *l = tcase_create("payload");

    tcase_add_test(b, base64_rfc4648_vectors);
    tcase_add_test(b, base64_unpadded_and_refused);
    tcase_add_test(b, base64_roundtrip_in_place);
    tcase_add_test(p, packet_types);
    tcase_add_test(p, packet_malformed);
    tcase_add_test(p, packet_binary_base64);
    tcase_add_test(l, payload_vectors);
    tcase_add_test(l, payload_malformed);
    tcase_add_test(l, payload_limits);
    tcase_add_test(l, payload_encode);
    tcase_add_test(l, payload_encode_long_binary);
    tcase_add_test(l, ws_frames);
    tcase_add_loop_test(l, peer_payloads, 0,
                        sizeof(peer_eio) / sizeof(peer_eio[0]));
    suite_add_tcase(s, b);
    suite_add_tcase(s, p);
    suite_add_tcase(s, l);
    return s;
}

int main(void)
{
    return gn_test_run_suite(engine_suite());
}
