/*
 * Socket.IO 5's server layer over Engine.IO sessions: what the files of
 * the layer share. One concept per file:
 *
 *   sio.c          the server: namespaces and their handlers, the
 *                  engine's open/message/close entry points
 *   sio_conn.c     one engine session: binary packets reassembled
 *                  (a head, then its attachments), dispatch by type,
 *                  protocol errors, the session's close
 *   sio_nsp.c      a socket's life in a namespace: CONNECT with auth,
 *                  accepted or refused, DISCONNECT both ways
 *   sio_event.c    events and acks both ways, sending packets
 *   sio_room.c     rooms, broadcasts, the cross-worker adapter
 *
 * The layer reaches the engine only through struct gn_sio_engine (its
 * send and close), so its unit tests run it over a fake engine;
 * sio_eio.c binds it to the real one (socketio/eio.h).
 *
 * Lifetimes: a conn lives while its session is open or a socket of it
 * lives (refs); a socket while it is connected (the namespace's list
 * holds a reference until its disconnect handler returned) or a handler
 * of it runs. Handlers run in detached green threads (green/sync.h), as
 * the engine's callbacks must not wait.
 */
#ifndef GN_SOCKETIO_SIO_H
#define GN_SOCKETIO_SIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "greenicorn.h"
#include "greenicorn/socketio.h"
#include "socketio/engine.h"
#include "socketio/packet.h"

/* The engine as the layer sees it. */
struct gn_sio_engine {
    /* eio.h's gn__eio_send and gn__eio_close on SESSION. */
    int (*send)(void *session, const struct gn_eio_packet *pkts, size_t n);
    void (*close)(void *session, const char *reason);
    /* eio.h's gn__eio_sid, for the log. */
    const char *(*sid)(void *session);
};

/* Binary values one emit may carry (the encoder's limit). */
#define GN_SIO_MAX_ATTACH 64

#define GN_SIO_ID_LEN 20 /* a socket's id: 15 random bytes in base64url */

struct sio_handler {
    struct sio_handler *next;
    char *event; /* NULL: the catch-all */
    gn_sio_event_fn fn;
    void *ud;
};

struct sio_nsp {
    struct sio_nsp *next;
    char *name;
    size_t name_len;
    gn_sio_connect_fn on_connect;
    void *connect_ud;
    gn_sio_disconnect_fn on_disconnect;
    void *disconnect_ud;
    struct sio_handler *handlers;
    struct gn_sio_socket *sockets; /* connected ones */
};

struct gn_sio {
    const struct gn_sio_engine *engine;
    void *eio; /* sio_eio.c's engine server, or NULL */
    struct sio_nsp *nsps;
    struct gn_sio_conn *conns; /* every open session */
    struct gn_sio_limits limits;
    gn_sio_publish_fn publish;
    void *publish_ud;
    char uid[GN_SIO_ID_LEN + 1]; /* this instance, in adapter messages */
    bool freeing;                /* gn__sio_server_free: no handler runs */
};

struct gn_sio_conn {
    struct gn_sio_conn *next, *prev; /* the server's open sessions */
    gn_sio_t *sio;
    void *session;                 /* the engine's; NULL once closed */
    struct gn_sio_socket *sockets; /* one per namespace, any state */
    struct gn_sio_packet partial;  /* a binary packet's head, waiting */
    char *partial_nsp;             /* its namespace (the message's
                                      text is gone) */
    bool has_partial;
    bool closed;
    unsigned refs;
};

enum sio_state { SIO_CONNECTING, SIO_CONNECTED, SIO_GONE };

/* A server -> client ack being waited for (on the waiter's stack). */
struct sio_pending {
    struct sio_pending *next;
    int64_t id;
    gn_event_t *done;
    json_t *reply; /* the ack's arguments, once answered */
    int rc;        /* 0 answered, -ENOTCONN the socket left */
};

struct gn_sio_socket {
    struct gn_sio_socket *nsp_next, *nsp_prev; /* the namespace's list */
    struct gn_sio_socket *conn_next;           /* its conn's list */
    struct gn_sio_conn *conn;
    struct sio_nsp *nsp; /* read only while not gone */
    char *nsp_name;      /* its copy, for gn_sio_nsp at any time */
    enum sio_state state;
    char id[GN_SIO_ID_LEN + 1];
    char **rooms;
    size_t nrooms, caprooms;
    void *data;
    void (*data_free)(void *data);
    unsigned refs;
    int64_t next_ack;
    struct sio_pending *pending;
};

/* ---- sio.c ---- */

/* A server over ENGINE (which must outlive it), namespace "/" declared;
 * NULL (errno set). */
gn_sio_t *gn__sio_server_new(const struct gn_sio_engine *engine);

/* Close every session still open with "server shutting down", then free
 * SIO's namespaces (sockets still in a handler are freed when it ends). */
void gn__sio_server_free(gn_sio_t *sio);

/* The engine made SESSION: the conn to pass to the calls below, or NULL
 * (out of memory: the caller closes the session). */
struct gn_sio_conn *gn__sio_open(gn_sio_t *sio, void *session);

/* A message packet arrived on C's session. */
void gn__sio_message(struct gn_sio_conn *c, const struct gn_eio_packet *pkt);

/* C's session closed with REASON (its sockets disconnect); C is not to
 * be used after. */
void gn__sio_closed(struct gn_sio_conn *c, const char *reason);

/* The namespace named P[0, N), or NULL. */
struct sio_nsp *gn__sio_nsp_find(gn_sio_t *sio, const char *p, size_t n);

/* Fill ID with a new random id (GN_SIO_ID_LEN characters and a NUL). */
void gn__sio_make_id(char id[GN_SIO_ID_LEN + 1]);

/* ---- sio_conn.c ---- */

void gn__sio_conn_ref(struct gn_sio_conn *c);
void gn__sio_conn_unref(struct gn_sio_conn *c);

/* Close C's session for a protocol error ERR (logged once). */
void gn__sio_conn_fail(struct gn_sio_conn *c, const char *err);

/* ---- sio_nsp.c ---- */

void gn__sio_socket_ref(struct gn_sio_socket *s);
void gn__sio_socket_unref(struct gn_sio_socket *s);

/* C's socket in namespace NSP (any state), or NULL. */
struct gn_sio_socket *gn__sio_conn_socket(struct gn_sio_conn *c,
                                          const struct sio_nsp *nsp);

/* CONNECT to the namespace of PKT arrived on C. */
void gn__sio_on_connect(struct gn_sio_conn *c, struct gn_sio_packet *pkt);

/* S leaves its namespace with REASON: its acks being waited for fail,
 * its disconnect handler runs (in a green thread) if it was connected. */
void gn__sio_socket_gone(struct gn_sio_socket *s, const char *reason);

/* ---- sio_event.c ---- */

/* EVENT or BINARY_EVENT (complete) on S. */
void gn__sio_on_event(struct gn_sio_socket *s, struct gn_sio_packet *pkt);

/* ACK or BINARY_ACK on S. */
void gn__sio_on_ack(struct gn_sio_socket *s, struct gn_sio_packet *pkt);

/* PKT encoded for sending: the head in *HEAD, its attachments in PKTS[1
 * .. *N - 1] and PKTS[0] the head's packet, all pointing into HEAD and
 * PKT's data. 0, -EINVAL, -E2BIG, -ENOMEM. */
int gn__sio_encode_pkts(const struct gn_sio_packet *pkt, struct gn_buf *head,
                        struct gn_eio_packet pkts[GN_SIO_MAX_ATTACH + 1],
                        size_t *n);

/* Send the encoded PKTS[0, N) to C's session: 0, -EPIPE, -ENOBUFS. */
int gn__sio_send_pkts(struct gn_sio_conn *c, const struct gn_eio_packet *pkts,
                      size_t n);

/* Send the text-only packet PKT to C. */
int gn__sio_send(struct gn_sio_conn *c, const struct gn_sio_packet *pkt);

/* [EVENT, ARGS...] as a new array, or NULL (-EINVAL or -ENOMEM in *RC). */
json_t *gn__sio_event_data(const char *event, json_t *args, int *rc);

/* ---- sio_room.c ---- */

/* Drop every room of S. */
void gn__sio_rooms_clear(struct gn_sio_socket *s);

#endif /* GN_SOCKETIO_SIO_H */
