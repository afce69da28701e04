/*
 * Unit tests of the Socket.IO 5 layer (socketio/sio*.c) over a fake
 * engine: each fake session records the messages the layer sends it, and
 * the tests feed it the client's packets as the engine would. Handlers
 * run in green threads, so each test is a task that feeds packets and
 * waits (green sleeps, bounded) for what the handlers send: namespaces
 * with auth accepted and refused, events and acks both ways, binary
 * events reassembled from their attachments, lying placeholder counts,
 * rooms and broadcasts, disconnects both ways, and the adapter's
 * exactly-once delivery between two servers.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "green_fixture.h"
#include "run_suite.h"
#include "socketio/sio.h"

/* ---- the fake engine -------------------------------------------------- */

#define MAX_SENT 64

struct fake {
    char *sent[MAX_SENT]; /* text messages; a binary one as "<bin>" + bytes */
    size_t sent_len[MAX_SENT];
    int nsent;
    int units;       /* gn__eio_send calls */
    int closed;      /* how many times closed */
    char reason[64]; /* the close's reason */
    struct gn_sio_conn *conn;
    char sid[8];
};

static int fake_send(void *session, const struct gn_eio_packet *pkts, size_t n)
{
    struct fake *f = session;

    if (f->closed)
        return -EPIPE;
    f->units++;
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_lt(f->nsent, MAX_SENT);
        ck_assert_int_eq(pkts[i].type, GN_EIO_MESSAGE);
        size_t extra = pkts[i].binary ? 5 : 0;
        char *m = malloc(pkts[i].len + extra + 1);

        ck_assert_ptr_nonnull(m);
        memcpy(m, "<bin>", extra);
        memcpy(m + extra, pkts[i].data, pkts[i].len);
        m[pkts[i].len + extra] = '\0';
        f->sent_len[f->nsent] = pkts[i].len + extra;
        f->sent[f->nsent++] = m;
    }
    return 0;
}

static void fake_close(void *session, const char *reason)
{
    struct fake *f = session;

    if (f->closed++)
        return;
    snprintf(f->reason, sizeof(f->reason), "%s", reason);
    gn__sio_closed(f->conn, reason); /* as the engine's close callback */
    f->conn = NULL;
}

static const char *fake_sid(void *session)
{
    return ((struct fake *)session)->sid;
}

static const struct gn_sio_engine fake_engine = {fake_send, fake_close,
                                                 fake_sid};

static gn_sio_t *sio;

static void sio_setup(void)
{
    sio = gn__sio_server_new(&fake_engine);
    ck_assert_ptr_nonnull(sio);
}

static struct fake *open_session(gn_sio_t *srv)
{
    struct fake *f = calloc(1, sizeof(*f));

    ck_assert_ptr_nonnull(f);
    snprintf(f->sid, sizeof(f->sid), "s%p", (void *)f);
    f->conn = gn__sio_open(srv, f);
    ck_assert_ptr_nonnull(f->conn);
    return f;
}

static void free_session(struct fake *f)
{
    for (int i = 0; i < f->nsent; i++)
        free(f->sent[i]);
    free(f);
}

/* The client sends the text packet S. */
static void client_text(struct fake *f, const char *s)
{
    char *copy = strdup(s); /* the engine's buffer, gone after the call */
    struct gn_eio_packet pkt = {GN_EIO_MESSAGE, false, (uint8_t *)copy,
                                strlen(copy)};

    ck_assert_ptr_nonnull(f->conn);
    gn__sio_message(f->conn, &pkt);
    memset(copy, 'x', strlen(copy));
    free(copy);
}

static void client_binary(struct fake *f, const void *p, size_t n)
{
    struct gn_eio_packet pkt = {GN_EIO_MESSAGE, true, p, n};

    ck_assert_ptr_nonnull(f->conn);
    gn__sio_message(f->conn, &pkt);
}

/* Wait (green sleeps, up to 5 s) until F has been sent N messages. */
static void wait_sent(struct fake *f, int n)
{
    for (int i = 0; i < 500 && f->nsent < n; i++)
        gn_sleep(0.01);
    ck_assert_msg(f->nsent >= n, "%d message(s) sent, %d wanted", f->nsent, n);
}

/* Message K of F, which must start with PREFIX. */
static void assert_sent_prefix(struct fake *f, int k, const char *prefix)
{
    ck_assert_int_gt(f->nsent, k);
    ck_assert_msg(strncmp(f->sent[k], prefix, strlen(prefix)) == 0,
                  "sent[%d] = '%s', wanted '%s...'", k, f->sent[k], prefix);
}

static void assert_sent(struct fake *f, int k, const char *want)
{
    ck_assert_int_gt(f->nsent, k);
    ck_assert_str_eq(f->sent[k], want);
}

/* Connect F to NSP (with AUTH text, may be empty) and expect an accept. */
static void connect_ok(struct fake *f, const char *nsp, const char *auth)
{
    char pkt[256], want[64];
    int before = f->nsent;

    snprintf(pkt, sizeof(pkt), "0%s%s%s", strcmp(nsp, "/") ? nsp : "",
             strcmp(nsp, "/") && auth[0] ? "," : "", auth);
    client_text(f, pkt);
    wait_sent(f, before + 1);
    snprintf(want, sizeof(want), "0%s%s{\"sid\":\"",
             strcmp(nsp, "/") ? nsp : "", strcmp(nsp, "/") ? "," : "");
    assert_sent_prefix(f, before, want);
}

/* The sid of the accept in message K. */
static void sid_of(struct fake *f, int k, char sid[GN_SIO_ID_LEN + 1])
{
    const char *p = strstr(f->sent[k], "\"sid\":\"");

    ck_assert_ptr_nonnull(p);
    memcpy(sid, p + 7, GN_SIO_ID_LEN);
    sid[GN_SIO_ID_LEN] = '\0';
}

/* ---- handlers --------------------------------------------------------- */

static const char *auth_check(gn_sio_socket_t *s, json_t *auth, void *ud)
{
    const char *token = json_string_value(json_object_get(auth, "token"));

    (void)ud;
    gn_sleep(0.02); /* handlers may wait: a database, say */
    ck_assert_str_eq(gn_sio_nsp(s), "/admin");
    if (token == NULL || strcmp(token, "secret") != 0)
        return "not authorized";
    return NULL;
}

static int echo_calls;

static json_t *echo(gn_sio_socket_t *s, const char *event, json_t *args,
                    void *ud)
{
    (void)s;
    (void)ud;
    ck_assert_str_eq(event, "echo");
    echo_calls++;
    gn_sleep(0.01);
    return json_incref(args);
}

static json_t *join(gn_sio_socket_t *s, const char *event, json_t *args,
                    void *ud)
{
    (void)event;
    (void)ud;
    ck_assert_int_eq(gn_sio_join(s, json_string_value(json_array_get(args, 0))),
                     0);
    return json_true();
}

static json_t *say(gn_sio_socket_t *s, const char *event, json_t *args,
                   void *ud)
{
    json_t *a = json_pack("[s]", "hi");
    gn_sio_t *srv = ud;

    (void)event;
    ck_assert_int_eq(
        gn_sio_emit_to(srv, "/", json_string_value(json_array_get(args, 0)),
                       json_is_true(json_array_get(args, 1)) ? s : NULL, "said",
                       a),
        0);
    json_decref(a);
    return NULL;
}

/* Asks the client for an ack, and answers the event with what came. */
static json_t *ask(gn_sio_socket_t *s, const char *event, json_t *args,
                   void *ud)
{
    json_t *reply = NULL;
    int timeout = (int)json_integer_value(json_array_get(args, 0));
    int rc = gn_sio_emit_ack(s, "question", NULL, timeout, &reply);

    (void)event;
    (void)ud;
    if (rc != 0)
        return json_pack("[si]", "error", rc);
    return reply;
}

static char disc_reason[64];
static int disc_calls;

static void on_disc(gn_sio_socket_t *s, const char *reason, void *ud)
{
    (void)ud;
    ck_assert(!gn_sio_connected(s));
    snprintf(disc_reason, sizeof(disc_reason), "%s", reason);
    disc_calls++;
}

/* ---- namespaces -------------------------------------------------------- */

static void t_connect(struct gn_coro *co, void *arg)
{
    struct fake *f = open_session(sio);

    (void)co;
    (void)arg;
    /* "/" needs no handler. */
    connect_ok(f, "/", "");
    /* An unknown namespace is refused. */
    client_text(f, "0/nope,");
    wait_sent(f, 2);
    assert_sent(f, 1, "4/nope,{\"message\":\"Invalid namespace\"}");
    /* Auth refused, then accepted. */
    client_text(f, "0/admin,{\"token\":\"wrong\"}");
    wait_sent(f, 3);
    assert_sent(f, 2, "4/admin,{\"message\":\"not authorized\"}");
    connect_ok(f, "/admin", "{\"token\":\"secret\"}");
    ck_assert_int_eq(f->closed, 0);
    fake_close(f, "transport close");
    free_session(f);
}

START_TEST(test_namespaces_and_auth)
{
    ck_assert_int_eq(gn_sio_on_connect(sio, "/admin", auth_check, NULL), 0);
    ck_assert_int_eq(gn_sio_on_connect(sio, "nope", auth_check, NULL), -EINVAL);
    go(t_connect, NULL);
    run();
    gn__sio_server_free(sio);
}
END_TEST

/* ---- events and acks ------------------------------------------------- */

static void t_events(struct gn_coro *co, void *arg)
{
    struct fake *f = open_session(sio);

    (void)co;
    (void)arg;
    connect_ok(f, "/", "");
    /* An event without an ack id runs its handler, and nothing is sent. */
    client_text(f, "2[\"echo\",1]");
    for (int i = 0; i < 200 && echo_calls < 1; i++)
        gn_sleep(0.01);
    ck_assert_int_eq(echo_calls, 1);
    gn_sleep(0.05);
    ck_assert_int_eq(f->nsent, 1);
    /* With an ack id: the ack carries what the handler returned. */
    client_text(f, "27[\"echo\",{\"a\":[1,2.5,\"\\u00e9\"]},null,true]");
    wait_sent(f, 2);
    assert_sent(f, 1, "37[{\"a\":[1,2.5,\"é\"]},null,true]");
    /* An event nobody handles is ignored, no ack. */
    client_text(f, "28[\"unknown\"]");
    /* A handler returning a value that is not an array: one argument. */
    client_text(f, "29[\"join\",\"r1\"]");
    wait_sent(f, 3);
    assert_sent(f, 2, "39[true]");
    /* Binary: head, then its attachment; the ack sends it back. */
    client_text(f, "51-12[\"echo\",{\"_placeholder\":true,\"num\":0},\"t\"]");
    ck_assert_int_eq(f->nsent, 3);
    client_binary(f, "\x00\x01\xff", 3);
    wait_sent(f, 5);
    assert_sent(f, 3, "61-12[{\"_placeholder\":true,\"num\":0},\"t\"]");
    ck_assert_int_eq(f->sent_len[4], 8);
    ck_assert_mem_eq(f->sent[4], "<bin>\x00\x01\xff", 8);
    ck_assert_int_eq(f->units, 4); /* the head and attachment as one unit */
    ck_assert_int_eq(f->closed, 0);
    fake_close(f, "transport close");
    free_session(f);
}

START_TEST(test_events_and_acks)
{
    echo_calls = 0;
    ck_assert_int_eq(gn_sio_on(sio, "/", "echo", echo, NULL), 0);
    ck_assert_int_eq(gn_sio_on(sio, "/", "join", join, NULL), 0);
    go(t_events, NULL);
    run();
    gn__sio_server_free(sio);
}
END_TEST

static void t_server_ack(struct gn_coro *co, void *arg)
{
    struct fake *f = open_session(sio);

    (void)co;
    (void)arg;
    connect_ok(f, "/", "");
    /* The handler asks; the client answers ack 0 with a binary value. */
    client_text(f, "21[\"ask\",5000]");
    wait_sent(f, 2);
    assert_sent(f, 1, "20[\"question\"]");
    client_text(f, "61-0[{\"_placeholder\":true,\"num\":0},42]");
    client_binary(f, "ab", 2);
    wait_sent(f, 4);
    assert_sent(f, 2, "61-1[{\"_placeholder\":true,\"num\":0},42]");
    assert_sent(f, 3, "<bin>ab");
    /* A second answer to the same id is dropped. */
    client_text(f, "30[1]");
    /* Unanswered: the wait times out. */
    client_text(f, "22[\"ask\",100]");
    wait_sent(f, 6);
    assert_sent(f, 4, "21[\"question\"]");
    assert_sent(f, 5, "32[\"error\",-110]");
    /* A late answer is dropped too. */
    client_text(f, "31[1]");
    /* The socket leaves while the handler waits: -ENOTCONN. */
    client_text(f, "23[\"ask\",-1]");
    wait_sent(f, 7);
    assert_sent(f, 6, "22[\"question\"]");
    ck_assert_int_eq(f->closed, 0);
    fake_close(f, "ping timeout");
    gn_sleep(0.05); /* the handler returns; its ack goes nowhere */
    ck_assert_int_eq(f->nsent, 7);
    free_session(f);
}

START_TEST(test_server_to_client_acks)
{
    ck_assert_int_eq(gn_sio_on(sio, "/", "ask", ask, NULL), 0);
    go(t_server_ack, NULL);
    run();
    gn__sio_server_free(sio);
}
END_TEST

/* ---- protocol errors -------------------------------------------------- */

static void t_errors(struct gn_coro *co, void *arg)
{
    struct fake *f;

    (void)co;
    (void)arg;
    /* A placeholder count that lies (2 announced, 1 placeholder). */
    f = open_session(sio);
    connect_ok(f, "/", "");
    client_text(f, "52-[\"echo\",{\"_placeholder\":true,\"num\":0}]");
    ck_assert_int_eq(f->closed, 1);
    ck_assert_str_eq(f->reason, "parse error");
    free_session(f);
    /* A text packet while an attachment is due (the count lied the other
     * way: more announced than sent). */
    f = open_session(sio);
    connect_ok(f, "/", "");
    client_text(f, "51-[\"echo\",{\"_placeholder\":true,\"num\":0}]");
    ck_assert_int_eq(f->closed, 0);
    client_text(f, "2[\"echo\"]");
    ck_assert_int_eq(f->closed, 1);
    ck_assert_str_eq(f->reason, "parse error");
    free_session(f);
    /* A binary message nobody announced. */
    f = open_session(sio);
    client_binary(f, "x", 1);
    ck_assert_int_eq(f->closed, 1);
    free_session(f);
    /* Malformed and unknown packets. */
    f = open_session(sio);
    client_text(f, "2[\"echo\"");
    ck_assert_int_eq(f->closed, 1);
    free_session(f);
    f = open_session(sio);
    client_text(f, "9[]");
    ck_assert_int_eq(f->closed, 1);
    free_session(f);
    ck_assert_int_eq(echo_calls, 0);
}

START_TEST(test_protocol_errors_close)
{
    echo_calls = 0;
    ck_assert_int_eq(gn_sio_on(sio, "/", "echo", echo, NULL), 0);
    go(t_errors, NULL);
    run();
    gn__sio_server_free(sio);
}
END_TEST

/* ---- rooms ------------------------------------------------------------ */

/* Count the "said" events F received from message FROM on. */
static int said(struct fake *f, int from)
{
    int n = 0;

    for (int i = from; i < f->nsent; i++)
        n += strcmp(f->sent[i], "2[\"said\",\"hi\"]") == 0;
    return n;
}

static void t_rooms(struct gn_coro *co, void *arg)
{
    struct fake *f[4];
    int mark[4];
    char sid0[GN_SIO_ID_LEN + 1], msg[64];

    (void)co;
    (void)arg;
    for (int i = 0; i < 4; i++) {
        f[i] = open_session(sio);
        connect_ok(f[i], "/", "");
    }
    sid_of(f[0], 0, sid0);
    /* 0, 1, 2 in "a"; 3 in "b". */
    for (int i = 0; i < 4; i++) {
        client_text(f[i], i < 3 ? "21[\"join\",\"a\"]" : "21[\"join\",\"b\"]");
        wait_sent(f[i], 2);
        assert_sent(f[i], 1, "31[true]");
        mark[i] = f[i]->nsent;
    }
    /* To room "a", sender included. */
    client_text(f[1], "2[\"say\",\"a\",false]");
    for (int i = 0; i < 3; i++)
        wait_sent(f[i], mark[i] + 1);
    gn_sleep(0.05);
    ck_assert_int_eq(said(f[0], mark[0]), 1);
    ck_assert_int_eq(said(f[1], mark[1]), 1);
    ck_assert_int_eq(said(f[2], mark[2]), 1);
    ck_assert_int_eq(said(f[3], mark[3]), 0);
    for (int i = 0; i < 4; i++)
        mark[i] = f[i]->nsent;
    /* To room "a" but the sender. */
    client_text(f[1], "2[\"say\",\"a\",true]");
    wait_sent(f[0], mark[0] + 1);
    wait_sent(f[2], mark[2] + 1);
    gn_sleep(0.05);
    ck_assert_int_eq(said(f[1], mark[1]), 0);
    ck_assert_int_eq(said(f[3], mark[3]), 0);
    for (int i = 0; i < 4; i++)
        mark[i] = f[i]->nsent;
    /* To the room of a socket's id: that socket only. */
    snprintf(msg, sizeof(msg), "2[\"say\",\"%s\",false]", sid0);
    client_text(f[3], msg);
    wait_sent(f[0], mark[0] + 1);
    gn_sleep(0.05);
    ck_assert_int_eq(said(f[0], mark[0]), 1);
    for (int i = 1; i < 4; i++)
        ck_assert_int_eq(f[i]->nsent, mark[i]);
    /* To all (room NULL is what a JSON null becomes). */
    for (int i = 0; i < 4; i++)
        mark[i] = f[i]->nsent;
    json_t *hi = json_pack("[s]", "hi");
    ck_assert_int_eq(gn_sio_emit_to(sio, "/", NULL, NULL, "said", hi), 0);
    json_decref(hi);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(said(f[i], mark[i]), 1);
    ck_assert_int_eq(gn_sio_emit_to(sio, "/nope", NULL, NULL, "said", NULL),
                     -EINVAL);
    ck_assert_int_eq(gn_sio_emit_to(sio, "/", NULL, NULL, "connect", NULL),
                     -EINVAL);
    /* A socket that leaves is in no room any more. */
    client_text(f[2], "1");
    for (int i = 0; i < 4; i++)
        mark[i] = f[i]->nsent;
    client_text(f[1], "2[\"say\",\"a\",false]");
    wait_sent(f[0], mark[0] + 1);
    gn_sleep(0.05);
    ck_assert_int_eq(f[2]->nsent, mark[2]);
    for (int i = 0; i < 4; i++) {
        fake_close(f[i], "transport close");
        free_session(f[i]);
    }
}

START_TEST(test_rooms)
{
    ck_assert_int_eq(gn_sio_on(sio, "/", "join", join, NULL), 0);
    ck_assert_int_eq(gn_sio_on(sio, "/", "say", say, sio), 0);
    go(t_rooms, NULL);
    run();
    gn__sio_server_free(sio);
}
END_TEST

/* ---- disconnects ------------------------------------------------------ */

static gn_sio_socket_t *kept;

static const char *keep(gn_sio_socket_t *s, json_t *auth, void *ud)
{
    (void)auth;
    (void)ud;
    kept = s;
    return NULL;
}

static void t_disconnect(struct gn_coro *co, void *arg)
{
    struct fake *f = open_session(sio);

    (void)co;
    (void)arg;
    connect_ok(f, "/", "");
    client_text(f, "1");
    for (int i = 0; i < 200 && disc_calls < 1; i++)
        gn_sleep(0.01);
    ck_assert_int_eq(disc_calls, 1);
    ck_assert_str_eq(disc_reason, "client namespace disconnect");
    /* The session is still open: connect again, and the server ends it. */
    connect_ok(f, "/", "");
    ck_assert_ptr_nonnull(kept);
    ck_assert_int_eq(gn_sio_disconnect(kept), 0);
    ck_assert_int_eq(gn_sio_disconnect(kept), -ENOTCONN);
    assert_sent(f, 2, "1");
    for (int i = 0; i < 200 && disc_calls < 2; i++)
        gn_sleep(0.01);
    ck_assert_int_eq(disc_calls, 2);
    ck_assert_str_eq(disc_reason, "server namespace disconnect");
    /* The session closes: the handler has the engine's reason. */
    connect_ok(f, "/", "");
    fake_close(f, "ping timeout");
    for (int i = 0; i < 200 && disc_calls < 3; i++)
        gn_sleep(0.01);
    ck_assert_int_eq(disc_calls, 3);
    ck_assert_str_eq(disc_reason, "ping timeout");
    free_session(f);
}

START_TEST(test_disconnects)
{
    disc_calls = 0;
    kept = NULL;
    ck_assert_int_eq(gn_sio_on_connect(sio, "/", keep, NULL), 0);
    ck_assert_int_eq(gn_sio_on_disconnect(sio, "/", on_disc, NULL), 0);
    go(t_disconnect, NULL);
    run();
    gn__sio_server_free(sio);
}
END_TEST

/* ---- the adapter ------------------------------------------------------ */

/* Every message published goes to both servers, as Redis pub/sub would
 * (the publisher subscribes too). */
static gn_sio_t *peers[2];
static int published;

static int publish(const void *msg, size_t len, void *ud)
{
    (void)ud;
    published++;
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(gn_sio_deliver(peers[i], msg, len), 0);
    return 0;
}

static void t_adapter(struct gn_coro *co, void *arg)
{
    struct fake *a = open_session(peers[0]), *b = open_session(peers[1]);
    json_t *args = json_pack("[so]", "hi", gn_sio_binary_new("\x00z", 2));

    (void)co;
    (void)arg;
    connect_ok(a, "/", "");
    connect_ok(b, "/", "");
    ck_assert_int_eq(gn_sio_emit_to(peers[0], "/", NULL, NULL, "said", args),
                     0);
    ck_assert_int_eq(published, 1);
    /* Each got it once, binary attachment included. */
    ck_assert_int_eq(a->nsent, 3);
    ck_assert_int_eq(b->nsent, 3);
    assert_sent(a, 1, "51-[\"said\",\"hi\",{\"_placeholder\":true,\"num\":0}]");
    assert_sent(b, 1, "51-[\"said\",\"hi\",{\"_placeholder\":true,\"num\":0}]");
    ck_assert_int_eq(b->sent_len[2], 7);
    ck_assert_mem_eq(b->sent[2], "<bin>\x00z", 7);
    json_decref(args);
    /* Junk is refused. */
    ck_assert_int_eq(gn_sio_deliver(peers[1], "[1]", 3), -EBADMSG);
    ck_assert_int_eq(gn_sio_deliver(peers[1], "nope", 4), -EBADMSG);
    fake_close(a, "transport close");
    fake_close(b, "transport close");
    free_session(a);
    free_session(b);
}

START_TEST(test_adapter_exactly_once)
{
    peers[0] = sio;
    peers[1] = gn__sio_server_new(&fake_engine);
    ck_assert_ptr_nonnull(peers[1]);
    published = 0;
    gn_sio_set_adapter(peers[0], publish, NULL);
    gn_sio_set_adapter(peers[1], publish, NULL);
    go(t_adapter, NULL);
    run();
    gn__sio_server_free(peers[1]);
    gn__sio_server_free(sio);
}
END_TEST

/* Freeing the server with sessions open closes them, runs no handler. */
START_TEST(test_free_with_sessions)
{
    struct fake *f = open_session(sio);

    disc_calls = 0;
    ck_assert_int_eq(gn_sio_on_disconnect(sio, "/", on_disc, NULL), 0);
    client_text(f, "0");
    ck_assert_int_eq(f->nsent, 1);
    gn__sio_server_free(sio);
    ck_assert_int_eq(f->closed, 1);
    ck_assert_str_eq(f->reason, "server shutting down");
    drain();
    ck_assert_int_eq(disc_calls, 0);
    free_session(f);
}
END_TEST

static Suite *sio_suite(void)
{
    Suite *s = suite_create("socketio/sio");
    TCase *t = test_case(s, "sio");

    tcase_add_checked_fixture(t, sio_setup, NULL);
    tcase_add_test(t, test_namespaces_and_auth);
    tcase_add_test(t, test_events_and_acks);
    tcase_add_test(t, test_server_to_client_acks);
    tcase_add_test(t, test_protocol_errors_close);
    tcase_add_test(t, test_rooms);
    tcase_add_test(t, test_disconnects);
    tcase_add_test(t, test_adapter_exactly_once);
    tcase_add_test(t, test_free_with_sessions);
    return s;
}

int main(void)
{
    return gn_test_run_suite(sio_suite());
}
