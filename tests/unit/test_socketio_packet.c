/*
 * Unit tests of Socket.IO 5's codec (socketio/packet.c, socketio/binary.c)
 * with the vectors of the protocol's document and test suite and of
 * socket.io-parser's tests: every packet type decoded and encoded, round
 * trips, binary packets put together from their head and attachments and
 * taken apart again, python-socketio's packets (sio_peer_vectors.h, by
 * gen_sio_peer_vectors.py) read and written back, and what must be refused:
 * malformed heads, unknown types, data of the wrong kind, attachment counts and
 * placeholders that lie, too many attachments, JSON nested too deep, numbers
 * out of range.
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "run_suite.h"
#include "sio_peer_vectors.h"
#include "socketio/binary.h"
#include "socketio/packet.h"

static struct gn_sio_limits lim;

static void setup(void)
{
    lim = GN_SIO_LIMITS_DEFAULT;
}

/* Decode S; the return code. ERR is kept for messages. */
static char err[GN_ERR_LEN];

static int decode(const char *s, struct gn_sio_packet *pkt)
{
    err[0] = '\0';
    return gn__sio_decode(s, strlen(s), &lim, pkt, err);
}

/* Encode PKT (no binary) as text, compared with WANT. */
static void assert_encodes(const struct gn_sio_packet *pkt, const char *want)
{
    struct gn_buf b;

    gn__buf_init(&b, NULL, 0);
    ck_assert_int_eq(gn__sio_encode_text(&b, pkt), 0);
    ck_assert_msg(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0,
                  "encoded \"%.*s\", wanted \"%s\"", (int)b.len, b.data, want);
    gn__buf_free(&b);
}

static void assert_nsp(const struct gn_sio_packet *pkt, const char *nsp)
{
    ck_assert_uint_eq(pkt->nsp_len, strlen(nsp));
    ck_assert_mem_eq(pkt->nsp, nsp, pkt->nsp_len);
}

/* DATA, dumped compactly, is WANT (NULL: no data). */
static void assert_data(const struct gn_sio_packet *pkt, const char *want)
{
    char *s;

    if (want == NULL) {
        ck_assert_ptr_null(pkt->data);
        return;
    }
    ck_assert_ptr_nonnull(pkt->data);
    s = json_dumps(pkt->data, JSON_COMPACT | JSON_ENCODE_ANY);
    ck_assert_str_eq(s, want);
    free(s);
}

/* ---- decoding: the protocol document's and test suite's vectors -------- */

struct vector {
    const char *text;
    enum gn_sio_type type;
    const char *nsp;
    int64_t id;
    unsigned attachments;
    const char *data; /* compact JSON, or NULL */
};

static const struct vector VECTORS[] = {
    {"0", GN_SIO_CONNECT, "/", GN_SIO_NO_ID, 0, NULL},
    {"0/admin,{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}", GN_SIO_CONNECT, "/admin",
     GN_SIO_NO_ID, 0, "{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}"},
    {"0{\"token\":\"123\"}", GN_SIO_CONNECT, "/", GN_SIO_NO_ID, 0,
     "{\"token\":\"123\"}"},
    {"0/custom,{\"token\":\"abc\"}", GN_SIO_CONNECT, "/custom", GN_SIO_NO_ID, 0,
     "{\"token\":\"abc\"}"},
    {"4{\"message\":\"Not authorized\"}", GN_SIO_CONNECT_ERROR, "/",
     GN_SIO_NO_ID, 0, "{\"message\":\"Not authorized\"}"},
    {"4/random,{\"message\":\"Invalid namespace\"}", GN_SIO_CONNECT_ERROR,
     "/random", GN_SIO_NO_ID, 0, "{\"message\":\"Invalid namespace\"}"},
    {"4\"Unauthorized\"", GN_SIO_CONNECT_ERROR, "/", GN_SIO_NO_ID, 0,
     "\"Unauthorized\""},
    {"2[\"foo\"]", GN_SIO_EVENT, "/", GN_SIO_NO_ID, 0, "[\"foo\"]"},
    {"2/admin,[\"bar\"]", GN_SIO_EVENT, "/admin", GN_SIO_NO_ID, 0, "[\"bar\"]"},
    {"212[\"foo\"]", GN_SIO_EVENT, "/", 12, 0, "[\"foo\"]"},
    {"2[1,\"a\",{}]", GN_SIO_EVENT, "/", GN_SIO_NO_ID, 0, "[1,\"a\",{}]"},
    {"2/test,1[\"a\",1,{}]", GN_SIO_EVENT, "/test", 1, 0, "[\"a\",1,{}]"},
    {"2[\"message\",1,\"2\",{\"3\":[true]}]", GN_SIO_EVENT, "/", GN_SIO_NO_ID,
     0, "[\"message\",1,\"2\",{\"3\":[true]}]"},
    {"2456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]", GN_SIO_EVENT, "/",
     456, 0, "[\"message-with-ack\",1,\"2\",{\"3\":[false]}]"},
    {"3/admin,13[\"bar\"]", GN_SIO_ACK, "/admin", 13, 0, "[\"bar\"]"},
    {"3123[\"a\",1,{}]", GN_SIO_ACK, "/", 123, 0, "[\"a\",1,{}]"},
    {"3456[1,\"2\",{\"3\":[false]}]", GN_SIO_ACK, "/", 456, 0,
     "[1,\"2\",{\"3\":[false]}]"},
    {"30[]", GN_SIO_ACK, "/", 0, 0, "[]"},
    {"1", GN_SIO_DISCONNECT, "/", GN_SIO_NO_ID, 0, NULL},
    {"1/admin,", GN_SIO_DISCONNECT, "/admin", GN_SIO_NO_ID, 0, NULL},
    {"50-[\"e\"]", GN_SIO_BINARY_EVENT, "/", GN_SIO_NO_ID, 0, "[\"e\"]"},
    {"51-[\"baz\",{\"_placeholder\":true,\"num\":0}]", GN_SIO_BINARY_EVENT, "/",
     GN_SIO_NO_ID, 1, "[\"baz\",{\"_placeholder\":true,\"num\":0}]"},
    {"52-/admin,[\"baz\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":"
     "true,\"num\":1}]",
     GN_SIO_BINARY_EVENT, "/admin", GN_SIO_NO_ID, 2,
     "[\"baz\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,"
     "\"num\":1}]"},
    {"52-789[\"message-with-ack\",{\"_placeholder\":true,\"num\":0},{\"_"
     "placeholder\":true,\"num\":1}]",
     GN_SIO_BINARY_EVENT, "/", 789, 2,
     "[\"message-with-ack\",{\"_placeholder\":true,\"num\":0},{\"_"
     "placeholder\":true,\"num\":1}]"},
    {"61-15[\"bar\",{\"_placeholder\":true,\"num\":0}]", GN_SIO_BINARY_ACK, "/",
     15, 1, "[\"bar\",{\"_placeholder\":true,\"num\":0}]"},
    {"62-789[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":"
     "1}]",
     GN_SIO_BINARY_ACK, "/", 789, 2,
     "[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]"},
};

START_TEST(decode_vectors)
{
    const struct vector *v = &VECTORS[_i];
    struct gn_sio_packet pkt;

    ck_assert_msg(decode(v->text, &pkt) == 0, "%s: %s", v->text, err);
    ck_assert_int_eq(pkt.type, v->type);
    assert_nsp(&pkt, v->nsp);
    ck_assert_int_eq(pkt.id, v->id);
    ck_assert_uint_eq(pkt.attachments, v->attachments);
    assert_data(&pkt, v->data);
    ck_assert(gn__sio_incomplete(&pkt) == (v->attachments > 0));
    gn__sio_packet_clear(&pkt);
}
END_TEST

/* What decodes encodes back to the same text (with its placeholders). */
START_TEST(encode_vectors_roundtrip)
{
    const struct vector *v = &VECTORS[_i];
    struct gn_sio_packet pkt;

    ck_assert_int_eq(decode(v->text, &pkt), 0);
    assert_encodes(&pkt, v->text);
    gn__sio_packet_clear(&pkt);
}
END_TEST

/* "0/custom" (no comma, as the protocol test suite sends it) and "0/admin"
 * name the namespace; encoding always writes the comma. */
START_TEST(namespace_without_comma)
{
    struct gn_sio_packet pkt;

    ck_assert_int_eq(decode("0/custom", &pkt), 0);
    ck_assert_int_eq(pkt.type, GN_SIO_CONNECT);
    assert_nsp(&pkt, "/custom");
    ck_assert_ptr_null(pkt.data);
    assert_encodes(&pkt, "0/custom,");
    gn__sio_packet_clear(&pkt);
    ck_assert_int_eq(decode("1/custom", &pkt), 0);
    assert_nsp(&pkt, "/custom");
    gn__sio_packet_clear(&pkt);
}
END_TEST

/* socket.io-parser's encode tests, from packets built here. */
START_TEST(encode_built_packets)
{
    struct gn_sio_packet pkt = {
        GN_SIO_CONNECT, "/woot", 5,
        GN_SIO_NO_ID,   0,       json_pack("{s:s}", "token", "123"),
        NULL,           0};

    assert_encodes(&pkt, "0/woot,{\"token\":\"123\"}");
    gn__sio_packet_clear(&pkt);
    pkt = (struct gn_sio_packet){GN_SIO_DISCONNECT, "/woot", 5, GN_SIO_NO_ID};
    assert_encodes(&pkt, "1/woot,");
    pkt = (struct gn_sio_packet){
        GN_SIO_EVENT, "/", 1, GN_SIO_NO_ID, 0, json_pack("[si{}]", "a", 1)};
    assert_encodes(&pkt, "2[\"a\",1,{}]");
    gn__sio_packet_clear(&pkt);
    pkt = (struct gn_sio_packet){GN_SIO_ACK, "/", 1,
                                 123,        0,   json_pack("[si{}]", "a", 1)};
    assert_encodes(&pkt, "3123[\"a\",1,{}]");
    gn__sio_packet_clear(&pkt);
    pkt = (struct gn_sio_packet){
        GN_SIO_CONNECT_ERROR, "/", 1,
        GN_SIO_NO_ID,         0,   json_string("Unauthorized")};
    assert_encodes(&pkt, "4\"Unauthorized\"");
    gn__sio_packet_clear(&pkt);
    /* A NUL in a string and a real that needs all its digits. */
    pkt = (struct gn_sio_packet){
        GN_SIO_EVENT, "/", 1,
        GN_SIO_NO_ID, 0,   json_pack("[s#f]", "a\0b", (int)3, 0.1)};
    assert_encodes(&pkt, "2[\"a\\u0000b\",0.10000000000000001]");
    gn__sio_packet_clear(&pkt);
}
END_TEST

/* ---- refused ------------------------------------------------------------ */

struct refusal {
    const char *text;
    int rc;
};

static const struct refusal REFUSED[] = {
    /* socket.io-parser: "invalid payload" */
    {"442[\"some\",\"data\"", -EBADMSG},
    {"0/admin,\"invalid\"", -EBADMSG},
    {"0[]", -EBADMSG},
    {"1/admin,{}", -EBADMSG},
    {"2/admin,\"invalid", -EBADMSG},
    {"2/admin,{}", -EBADMSG},
    {"2[{\"toString\":\"foo\"}]", -EBADMSG},
    {"2[true,\"foo\"]", -EBADMSG},
    {"2[null,\"bar\"]", -EBADMSG},
    {"2[\"connect\"]", -EBADMSG},
    {"2[\"disconnect\",\"123\"]", -EBADMSG},
    {"2[\"connect_error\"]", -EBADMSG},
    {"2[\"disconnecting\"]", -EBADMSG},
    {"2[\"newListener\"]", -EBADMSG},
    {"2[\"removeListener\"]", -EBADMSG},
    /* socket.io-parser: "Illegal attachments" */
    {"5", -EBADMSG},
    {"51", -EBADMSG},
    {"5a-", -EBADMSG},
    {"51.23-", -EBADMSG},
    {"5-[\"e\"]", -EBADMSG},
    {"54294967296-[\"e\"]", -EBADMSG},
    /* socket.io-parser: "unknown packet type"; the test suite's "abc" */
    {"999", -EPROTONOSUPPORT},
    {"7", -EPROTONOSUPPORT},
    {"abc", -EPROTONOSUPPORT},
    {"/admin,[\"e\"]", -EPROTONOSUPPORT},
    {"", -EBADMSG},
    /* the protocol test suite: invalid payload format, invalid ack id */
    {"2{}", -EBADMSG},
    {"2abc[\"message-with-ack\",1,\"2\",{\"3\":[false]}]", -EBADMSG},
    /* an event needs a name, an ack an id and an array */
    {"2", -EBADMSG},
    {"2[]", -EBADMSG},
    {"212", -EBADMSG},
    {"3[\"a\"]", -EBADMSG},
    {"312", -EBADMSG},
    {"312{}", -EBADMSG},
    {"1\"x\"", -EBADMSG},
    {"1/a,12", -EBADMSG},
    /* an ack id past 63 bits */
    {"29223372036854775808[\"e\"]", -EBADMSG},
    /* not JSON: trailing bytes, invalid UTF-8, lone surrogates, NaN,
     * duplicate keys, numbers no double holds */
    {"2[\"e\"] ", 0}, /* trailing space is JSON's whitespace */
    {"2[\"e\"]x", -EBADMSG},
    {"2[\"e\"][]", -EBADMSG},
    {"2[\"\xff\"]", -EBADMSG},
    {"2[\"\xed\xa0\x80\"]", -EBADMSG},
    {"2[\"\\ud800\"]", -EBADMSG},
    {"2[\"e\",NaN]", -EBADMSG},
    {"2[\"e\",01]", -EBADMSG},
    {"2[\"e\",{\"a\":1,\"a\":2}]", -EBADMSG},
    {"2[\"e\",1e400]", -EBADMSG},
    {"2/\xff,[\"e\"]", -EBADMSG},
    /* reasons that would quote control bytes */
    {"2[\"e\",\x01\x1b[2J]", -EBADMSG},
    {"\x1b", -EPROTONOSUPPORT},
};

START_TEST(decode_refused)
{
    const struct refusal *r = &REFUSED[_i];
    struct gn_sio_packet pkt;
    int rc = decode(r->text, &pkt);

    ck_assert_msg(rc == r->rc, "\"%s\": %d (%s), wanted %d", r->text, rc, err,
                  r->rc);
    if (rc == 0) {
        gn__sio_packet_clear(&pkt);
        return;
    }
    ck_assert_msg(err[0] != '\0', "\"%s\": no reason", r->text);
    for (const char *c = err; *c; c++)
        ck_assert_msg(*c >= 0x20 && *c < 0x7f, "\"%s\": unprintable reason",
                      r->text);
    /* A refused packet is left empty, nothing to release. */
    ck_assert_ptr_null(pkt.data);
    ck_assert_ptr_null(pkt.slots);
}
END_TEST

/* ---- numbers, strings, depth, limits ----------------------------------- */

START_TEST(numbers_as_javascript_sends_them)
{
    struct gn_sio_packet pkt;

    /* 2^53 + 1 stays exact as an integer. */
    ck_assert_int_eq(decode("2[\"n\",9007199254740993]", &pkt), 0);
    ck_assert_int_eq(json_integer_value(json_array_get(pkt.data, 1)),
                     9007199254740993LL);
    gn__sio_packet_clear(&pkt);
    /* JSON.stringify(1e20) is 21 digits: read as JavaScript would. */
    ck_assert_int_eq(decode("2[\"n\",100000000000000000000]", &pkt), 0);
    ck_assert(json_is_real(json_array_get(pkt.data, 1)));
    ck_assert(json_real_value(json_array_get(pkt.data, 1)) == 1e20);
    gn__sio_packet_clear(&pkt);
    /* A NUL inside a string is kept, with the string's length. */
    ck_assert_int_eq(decode("2[\"a\\u0000b\"]", &pkt), 0);
    ck_assert_uint_eq(json_string_length(json_array_get(pkt.data, 0)), 3);
    gn__sio_packet_clear(&pkt);
    /* ... and a name with a NUL is no reserved name. */
    ck_assert_int_eq(decode("2[\"connect\\u0000x\"]", &pkt), 0);
    gn__sio_packet_clear(&pkt);
}
END_TEST

START_TEST(depth_limit)
{
    char text[128] = "2[\"e\",";
    size_t n = strlen(text);
    struct gn_sio_packet pkt;

    /* 32 levels (the event's array is the first) pass, 33 do not; brackets
     * inside strings do not count. */
    for (int i = 0; i < 31; i++)
        text[n++] = '[';
    for (int i = 0; i < 32; i++)
        text[n++] = ']';
    text[n] = '\0';
    ck_assert_msg(decode(text, &pkt) == 0, "%s", err);
    gn__sio_packet_clear(&pkt);
    memmove(text + 7, text + 6, n - 5);
    text[6] = '[';
    memmove(text + n, text + n - 1, 2);
    text[n] = ']';
    ck_assert_int_eq(decode(text, &pkt), -E2BIG);
    ck_assert_int_eq(
        decode("2[\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[[[[[[\"]",
               &pkt),
        0);
    gn__sio_packet_clear(&pkt);
    lim.max_depth = 2;
    ck_assert_int_eq(decode("2[\"e\",{\"a\":1}]", &pkt), 0);
    gn__sio_packet_clear(&pkt);
    ck_assert_int_eq(decode("2[\"e\",{\"a\":[]}]", &pkt), -E2BIG);
}
END_TEST

/* socket.io-parser: "too many attachments" past maxAttachments. */
START_TEST(attachment_limit)
{
    struct gn_sio_packet pkt;

    lim.max_attachments = 2;
    ck_assert_int_eq(decode("53-[\"hello\",{\"_placeholder\":true,\"num\":0},{"
                            "\"_placeholder\":true,\"num\":1},{\"_placeholder\""
                            ":true,\"num\":2}]",
                            &pkt),
                     -E2BIG);
    ck_assert_int_eq(decode("52-[\"hello\",{\"_placeholder\":true,\"num\":0},{"
                            "\"_placeholder\":true,\"num\":1}]",
                            &pkt),
                     0);
    gn__sio_packet_clear(&pkt);
}
END_TEST

/* ---- binary packets: attachments in, attachments out -------------------- */

static void assert_binary(const json_t *v, const char *bytes, size_t n)
{
    const uint8_t *p;
    size_t len;

    ck_assert(gn__sio_binary_get(v, &p, &len));
    ck_assert_uint_eq(len, n);
    ck_assert_mem_eq(p, bytes, n);
}

static const char *const LYING[] = {
    /* fewer placeholders than announced */
    "52-[\"e\",{\"_placeholder\":true,\"num\":0}]",
    "51-[\"e\"]",
    "51-[\"e\",{\"_placeholder\":false,\"num\":0}]",
    /* more, or numbers out of range */
    "51-[\"e\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,"
    "\"num\":1}]",
    "50-[\"e\",{\"_placeholder\":true,\"num\":0}]",
    "51-[\"e\",{\"_placeholder\":true,\"num\":1}]",
    "51-[\"e\",{\"_placeholder\":true,\"num\":-1}]",
    /* one number twice */
    "52-[\"e\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,"
    "\"num\":0}]",
    /* a number that is no integer, or none */
    "51-[\"e\",{\"_placeholder\":true,\"num\":\"0\"}]",
    "51-[\"e\",{\"_placeholder\":true,\"num\":0.5}]",
    "51-[\"e\",{\"_placeholder\":true,\"num\":1e300}]",
    "51-[\"e\",{\"_placeholder\":true}]",
    "61-1[{\"x\":{\"_placeholder\":true,\"num\":4294967296}}]",
};

START_TEST(lying_counts_refused)
{
    struct gn_sio_packet pkt;

    ck_assert_msg(decode(LYING[_i], &pkt) == -EBADMSG, "\"%s\" decoded",
                  LYING[_i]);
    ck_assert_msg(strstr(err, "placeholder") != NULL, "%s", err);
    ck_assert_ptr_null(pkt.data);
}
END_TEST

/* A placeholder's number written as a real is the same number, also when
 * a big integer elsewhere makes the packet read with reals only. */
START_TEST(placeholder_number_as_real)
{
    struct gn_sio_packet pkt;

    ck_assert_int_eq(
        decode("51-[\"e\",{\"_placeholder\":true,\"num\":0.0}]", &pkt), 0);
    ck_assert_int_eq(gn__sio_attach(&pkt, "x", 1), 1);
    gn__sio_packet_clear(&pkt);
    ck_assert_msg(decode("51-[\"e\",100000000000000000000,{\"_placeholder\":"
                         "true,\"num\":0}]",
                         &pkt) == 0,
                  "%s", err);
    ck_assert_int_eq(gn__sio_attach(&pkt, "x", 1), 1);
    assert_binary(json_array_get(pkt.data, 2), "x", 1);
    gn__sio_packet_clear(&pkt);
}
END_TEST

/* A placeholder in a packet that is not binary is plain data. */
START_TEST(placeholder_in_text_packet_is_data)
{
    struct gn_sio_packet pkt;
    const uint8_t *p;
    size_t n;

    ck_assert_int_eq(decode("2[\"e\",{\"_placeholder\":true,\"num\":0}]", &pkt),
                     0);
    ck_assert(!gn__sio_incomplete(&pkt));
    ck_assert(!gn__sio_binary_get(json_array_get(pkt.data, 1), &p, &n));
    ck_assert_int_eq(gn__sio_attach(&pkt, "x", 1), -EBADMSG);
    gn__sio_packet_clear(&pkt);
}
END_TEST

/* The protocol's "52-/admin,..." with <01 02> and <03 04>: each attachment
 * lands where its placeholder was, by number, not by position. */
START_TEST(attachments_reassembled)
{
    struct gn_sio_packet pkt;

    ck_assert_int_eq(decode("52-/admin,[\"baz\",{\"_placeholder\":true,\"num\":"
                            "1},{\"k\":[{\"_placeholder\":true,\"num\":0}]}]",
                            &pkt),
                     0);
    ck_assert(gn__sio_incomplete(&pkt));
    ck_assert_int_eq(gn__sio_attach(&pkt, "\x01\x02", 2), 0);
    ck_assert(gn__sio_incomplete(&pkt));
    ck_assert_int_eq(gn__sio_attach(&pkt, "\x03\x04", 2), 1);
    ck_assert(!gn__sio_incomplete(&pkt));
    ck_assert_ptr_null(pkt.slots);
    ck_assert_int_eq(pkt.type, GN_SIO_BINARY_EVENT);
    assert_nsp(&pkt, "/admin");
    assert_binary(json_array_get(pkt.data, 1), "\x03\x04", 2);
    assert_binary(
        json_array_get(json_object_get(json_array_get(pkt.data, 2), "k"), 0),
        "\x01\x02", 2);
    /* One attachment too many. */
    ck_assert_int_eq(gn__sio_attach(&pkt, "\x05", 1), -EBADMSG);
    gn__sio_packet_clear(&pkt);
    /* An empty attachment, and a packet released half-assembled. */
    ck_assert_int_eq(decode("61-7[{\"_placeholder\":true,\"num\":0}]", &pkt),
                     0);
    ck_assert_int_eq(gn__sio_attach(&pkt, "", 0), 1);
    assert_binary(json_array_get(pkt.data, 0), "", 0);
    gn__sio_packet_clear(&pkt);
    ck_assert_int_eq(decode("52-[\"e\",{\"_placeholder\":true,\"num\":0},{\"_"
                            "placeholder\":true,\"num\":1}]",
                            &pkt),
                     0);
    ck_assert_int_eq(gn__sio_attach(&pkt, "a", 1), 0);
    gn__sio_packet_clear(&pkt); /* no leak under ASan */
}
END_TEST

/* Encode PKT with binaries: the head's text and the attachments. */
static void assert_encodes_binary(const struct gn_sio_packet *pkt,
                                  const char *want, unsigned natt_want)
{
    struct gn_sio_attachment att[4];
    unsigned natt = 99;
    struct gn_buf b;

    gn__buf_init(&b, NULL, 0);
    ck_assert_int_eq(gn__sio_encode(&b, pkt, att, 4, &natt), 0);
    ck_assert_msg(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0,
                  "encoded \"%.*s\", wanted \"%s\"", (int)b.len, b.data, want);
    ck_assert_uint_eq(natt, natt_want);
    gn__buf_free(&b);
}

/* The protocol's binary examples, from values built by an app. */
START_TEST(binaries_extracted)
{
    json_t *data = json_pack("[so]", "baz", gn__sio_binary_new("\1\2\3\4", 4));
    struct gn_sio_packet pkt = {GN_SIO_EVENT, "/", 1, GN_SIO_NO_ID, 0, data};
    struct gn_sio_attachment att[4];
    unsigned natt;
    struct gn_buf b;

    assert_encodes_binary(&pkt,
                          "51-[\"baz\",{\"_placeholder\":true,\"num\":0}]", 1);
    pkt.type = GN_SIO_ACK;
    pkt.id = 15;
    json_array_set_new(data, 0, json_string("bar"));
    assert_encodes_binary(
        &pkt, "61-15[\"bar\",{\"_placeholder\":true,\"num\":0}]", 1);
    /* The app's tree is unchanged: still its binary value. */
    assert_binary(json_array_get(data, 1), "\1\2\3\4", 4);
    gn__sio_packet_clear(&pkt);
    /* Two, nested, numbered in the order written; the attachments point at
     * the app's bytes. */
    pkt = (struct gn_sio_packet){GN_SIO_EVENT,
                                 "/admin",
                                 6,
                                 GN_SIO_NO_ID,
                                 0,
                                 json_pack("[s{so s[o]}]", "baz", "x",
                                           gn__sio_binary_new("\1\2", 2), "y",
                                           gn__sio_binary_new("\3\4", 2))};
    gn__buf_init(&b, NULL, 0);
    ck_assert_int_eq(gn__sio_encode(&b, &pkt, att, 4, &natt), 0);
    ck_assert_uint_eq(natt, 2);
    ck_assert_uint_eq(att[0].n, 2);
    ck_assert_mem_eq(att[0].p, "\1\2", 2);
    ck_assert_mem_eq(att[1].p, "\3\4", 2);
    ck_assert_uint_eq(b.len,
                      strlen("52-/admin,[\"baz\",{\"x\":{\"_placeholder\":"
                             "true,\"num\":0},\"y\":[{\"_placeholder\":"
                             "true,\"num\":1}]}]"));
    ck_assert_mem_eq(
        b.data,
        "52-/admin,[\"baz\",{\"x\":{\"_placeholder\":true,\"num\":0},"
        "\"y\":[{\"_placeholder\":true,\"num\":1}]}]",
        b.len);
    /* More than the caller has room for. */
    b.len = 0;
    ck_assert_int_eq(gn__sio_encode(&b, &pkt, att, 1, &natt), -E2BIG);
    ck_assert_uint_eq(natt, 0);
    gn__buf_free(&b);
    gn__sio_packet_clear(&pkt);
    /* A binary value where the protocol has none. */
    pkt = (struct gn_sio_packet){
        GN_SIO_CONNECT,
        "/",
        1,
        GN_SIO_NO_ID,
        0,
        json_pack("{so}", "k", gn__sio_binary_new("x", 1))};
    gn__buf_init(&b, NULL, 0);
    ck_assert_int_eq(gn__sio_encode(&b, &pkt, att, 4, &natt), -EINVAL);
    gn__buf_free(&b);
    gn__sio_packet_clear(&pkt);
}
END_TEST

/* Beside a binary value, an object of the placeholder's shape would be
 * read by the client as a placeholder: refused. Without one it is data. */
START_TEST(placeholder_shaped_data_beside_binaries)
{
    struct gn_sio_packet pkt = {GN_SIO_EVENT,
                                "/",
                                1,
                                GN_SIO_NO_ID,
                                0,
                                json_pack("[so{sbsi}]", "e",
                                          gn__sio_binary_new("x", 1),
                                          "_placeholder", 1, "num", 0)};
    struct gn_sio_attachment att[4];
    unsigned natt = 9;
    struct gn_buf b;

    gn__buf_init(&b, NULL, 0);
    ck_assert_int_eq(gn__sio_encode(&b, &pkt, att, 4, &natt), -EINVAL);
    ck_assert_uint_eq(natt, 0);
    ck_assert_int_eq(json_array_remove(pkt.data, 1), 0);
    ck_assert_int_eq(gn__sio_encode(&b, &pkt, att, 4, &natt), 0);
    ck_assert_uint_eq(natt, 0);
    ck_assert_uint_eq(b.len,
                      strlen("2[\"e\",{\"_placeholder\":true,\"num\":0}]"));
    ck_assert_mem_eq(b.data, "2[\"e\",{\"_placeholder\":true,\"num\":0}]",
                     b.len);
    gn__buf_free(&b);
    gn__sio_packet_clear(&pkt);
}
END_TEST

/* Without binaries gn__sio_encode writes the text form. */
START_TEST(encode_without_binaries)
{
    struct gn_sio_packet pkt = {
        GN_SIO_EVENT, "/", 1, 3, 0, json_pack("[s[{}]]", "e")};

    assert_encodes_binary(&pkt, "23[\"e\",[{}]]", 0);
    gn__sio_packet_clear(&pkt);
}
END_TEST

/* Encoded, attached back, decoded: the same tree. */
START_TEST(binary_roundtrip)
{
    json_t *data = json_pack(
        "[s{so s[oi]} o]", "e", "x", gn__sio_binary_new("\0\1\xff", 3), "y",
        gn__sio_binary_new("", 0), 7, gn__sio_binary_new("zz", 2));
    struct gn_sio_packet pkt = {GN_SIO_EVENT, "/chat", 5, 42, 0, data};
    struct gn_sio_packet back;
    struct gn_sio_attachment att[4];
    unsigned natt;
    struct gn_buf b;

    gn__buf_init(&b, NULL, 0);
    ck_assert_int_eq(gn__sio_encode(&b, &pkt, att, 4, &natt), 0);
    ck_assert_uint_eq(natt, 3);
    ck_assert_int_eq(gn__sio_decode(b.data, b.len, &lim, &back, err), 0);
    ck_assert_int_eq(back.type, GN_SIO_BINARY_EVENT);
    ck_assert_int_eq(back.id, 42);
    assert_nsp(&back, "/chat");
    for (unsigned i = 0; i < natt; i++)
        ck_assert_int_eq(gn__sio_attach(&back, att[i].p, att[i].n),
                         i + 1 == natt);
    ck_assert(json_equal(back.data, data));
    gn__sio_packet_clear(&back);
    gn__sio_packet_clear(&pkt);
    gn__buf_free(&b);
}
END_TEST

START_TEST(binary_values)
{
    json_t *v = gn__sio_binary_new("a\0b", 3);
    json_t *o = json_pack("{s:s}", "_placeholder", "x");
    const uint8_t *p;
    size_t n;

    assert_binary(v, "a\0b", 3);
    /* Parsed JSON never makes one: the key is not UTF-8. */
    ck_assert_int_eq(
        json_object_set_new(o, GN_SIO_BINARY_KEY, json_string("x")), -1);
    ck_assert(!gn__sio_binary_get(o, &p, &n));
    /* An object of another key, or two keys, is no binary value. */
    ck_assert_int_eq(json_object_setn_new_nocheck(o, GN_SIO_BINARY_KEY,
                                                  GN_SIO_BINARY_KEY_LEN,
                                                  json_string("x")),
                     0);
    ck_assert(!gn__sio_binary_get(o, &p, &n));
    ck_assert_int_eq(json_object_del(o, "_placeholder"), 0);
    ck_assert(gn__sio_binary_get(o, &p, &n));
    json_decref(v);
    json_decref(o);
}
END_TEST

/* python-socketio's packet, decoded and its attachments put in place,
 * encoded again: the same head (the JSON compared as values: Python
 * escapes non-ASCII and writes 0.1 shorter) and the same attachments. */
START_TEST(peer_packets)
{
    const struct peer_sio *v = &peer_sio[_i];
    struct gn_sio_packet pkt, theirs, ours;
    struct gn_sio_attachment att[4];
    unsigned natt;
    struct gn_buf b;

    ck_assert_msg(gn__sio_decode(v->head, v->head_len, &lim, &pkt, err) == 0,
                  "%s: %s", v->head, err);
    ck_assert_uint_eq(pkt.attachments, v->natt);
    for (unsigned i = 0; i < v->natt; i++)
        ck_assert_int_eq(gn__sio_attach(&pkt, v->att[i].p, v->att[i].n),
                         i + 1 == v->natt);
    ck_assert(!gn__sio_incomplete(&pkt));
    gn__buf_init(&b, NULL, 0);
    ck_assert_int_eq(gn__sio_encode(&b, &pkt, att, 4, &natt), 0);
    ck_assert_uint_eq(natt, v->natt);
    for (unsigned i = 0; i < natt; i++) {
        ck_assert_uint_eq(att[i].n, v->att[i].n);
        ck_assert_mem_eq(att[i].p, v->att[i].p, att[i].n);
    }
    ck_assert_int_eq(gn__sio_decode(v->head, v->head_len, &lim, &theirs, err),
                     0);
    ck_assert_int_eq(gn__sio_decode(b.data, b.len, &lim, &ours, err), 0);
    ck_assert_int_eq(ours.type, theirs.type);
    ck_assert_int_eq(ours.id, theirs.id);
    ck_assert_uint_eq(ours.attachments, theirs.attachments);
    ck_assert_uint_eq(ours.nsp_len, theirs.nsp_len);
    ck_assert_mem_eq(ours.nsp, theirs.nsp, ours.nsp_len);
    ck_assert(ours.data ? json_equal(ours.data, theirs.data)
                        : theirs.data == NULL);
    gn__sio_packet_clear(&ours);
    gn__sio_packet_clear(&theirs);
    gn__sio_packet_clear(&pkt);
    gn__buf_free(&b);
}
END_TEST

static Suite *packet_suite(void)
{
    Suite *s = suite_create("socketio/packet");
    TCase *d = tcase_create("decode");
    TCase *e = tcase_create("encode");
    TCase *b = tcase_create("binary");
    const int nv = sizeof(VECTORS) / sizeof(VECTORS[0]);
    const int nr = sizeof(REFUSED) / sizeof(REFUSED[0]);
    const int nl = sizeof(LYING) / sizeof(LYING[0]);

    tcase_add_checked_fixture(d, setup, NULL);
    tcase_add_checked_fixture(e, setup, NULL);
    tcase_add_checked_fixture(b, setup, NULL);
    tcase_add_loop_test(d, decode_vectors, 0, nv);
    tcase_add_test(d, namespace_without_comma);
    tcase_add_loop_test(d, decode_refused, 0, nr);
    tcase_add_test(d, numbers_as_javascript_sends_them);
    tcase_add_test(d, depth_limit);
    tcase_add_loop_test(e, encode_vectors_roundtrip, 0, nv);
    tcase_add_test(e, encode_built_packets);
    tcase_add_test(e, encode_without_binaries);
    tcase_add_test(e, placeholder_shaped_data_beside_binaries);
    tcase_add_test(b, attachment_limit);
    tcase_add_loop_test(b, lying_counts_refused, 0, nl);
    tcase_add_test(b, placeholder_number_as_real);
    tcase_add_test(b, placeholder_in_text_packet_is_data);
    tcase_add_test(b, attachments_reassembled);
    tcase_add_test(b, binaries_extracted);
    tcase_add_test(b, binary_roundtrip);
    tcase_add_test(b, binary_values);
    tcase_add_loop_test(b, peer_packets, 0,
                        sizeof(peer_sio) / sizeof(peer_sio[0]));
    suite_add_tcase(s, d);
    suite_add_tcase(s, e);
    suite_add_tcase(s, b);
    return s;
}

int main(void)
{
    return gn_test_run_suite(packet_suite());
}
