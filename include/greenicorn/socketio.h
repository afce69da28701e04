/*
 * greenicorn/socketio.h - a Socket.IO 5 server for apps: namespaces with
 * an auth check at connect, events with JSON arguments, acknowledgements
 * both ways, binary values, rooms and broadcasts, carried by the
 * worker's Engine.IO 4 transports (long-polling and WebSocket on the
 * [socketio] path). docs/socketio.md is the guide; this is the reference.
 *
 * Values are jansson's (json_t, <jansson.h>; link the app with
 * -ljansson): the app sees parsed values, never packet text. jansson is
 * the one JSON library of Debian 12 that refuses what is not JSON and
 * never changes a value (integers exact to 64 bits, duplicate keys
 * refused, NUL kept in strings); socketio/packet.h and bench/json/ give
 * the comparison. This header only declares struct json_t, so a plugin
 * that does not use Socket.IO needs no jansson. A binary value (a
 * Buffer, bytes) is a jansson object of a form only gn_sio_binary_new
 * makes: test for one with gn_sio_binary_get.
 *
 * Threads: every handler runs in a green thread of its own, which the
 * worker owns (not the request that carried the packet), so it may wait:
 * for an ack, a sleep, a database. Handlers of one socket may run at the
 * same time (as python-socketio's async handlers do). The calls below
 * are made from the worker's loop thread (a handler, a green thread, an
 * app's request handler), never from a gn_run_blocking function.
 *
 * A socket pointer is valid in the handler it is given to, and from the
 * connect handler's acceptance until its disconnect handler returned.
 *
 * Part of the plugin ABI: a plugin includes <greenicorn.h>, which includes
 * this header.
 */
#ifndef GREENICORN_SOCKETIO_H
#define GREENICORN_SOCKETIO_H

#include <stddef.h>

#include "greenicorn/http.h"
#include "greenicorn/version.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_t; /* jansson's json_t */

/* A Socket.IO server: one per app, made in its init. */
typedef struct gn_sio gn_sio_t;

/* One client's connection to one namespace. */
typedef struct gn_sio_socket gn_sio_socket_t;

/* A server on the [socketio] settings (path, transports, heartbeats,
 * maxPayload), with namespace "/" declared; NULL with errno set. Call it
 * in the app's init (each worker then holds its own sessions). Since ABI
 * 1.6. */
GN_API gn_sio_t *gn_sio_new(void);

/* Close every session ("server shutting down": the clients are told;
 * no disconnect handler runs any more, as the app is going) and free SIO,
 * in the app's fini. Handlers still running see their sockets gone. Since
 * ABI 1.6. */
GN_API void gn_sio_free(gn_sio_t *sio);

/* Serve REQ if its path is the Socket.IO path: 1 served (RES answered, or
 * the connection became a WebSocket that ended), 0 not Socket.IO's (call
 * it first in the app's handler, and serve the rest), or a negative errno
 * for the app's handler to return. Since ABI 1.6. */
GN_API int gn_sio_handle(gn_sio_t *sio, gn_request_t *req, gn_response_t *res);

/* A client connects to a namespace, with AUTH (the client's auth object,
 * or NULL). Return NULL to accept, or the message of the refusal (the
 * client gets CONNECT_ERROR {"message": ...}; copied at once). */
typedef const char *(*gn_sio_connect_fn)(gn_sio_socket_t *s,
                                         struct json_t *auth, void *ud);

/* EVENT arrived on S with ARGS (an array, borrowed for the call). What it
 * returns (a new reference, or NULL) answers the client's ack when it
 * asked for one: an array is the ack's arguments, another value its one
 * argument, NULL none. Ignored (and released) when no ack was asked. */
typedef struct json_t *(*gn_sio_event_fn)(gn_sio_socket_t *s, const char *event,
                                          struct json_t *args, void *ud);

/* S left (REASON: "client namespace disconnect", "server namespace
 * disconnect", "transport close", "ping timeout", "parse error", "server
 * shutting down", ...). S is freed once this returns. */
typedef void (*gn_sio_disconnect_fn)(gn_sio_socket_t *s, const char *reason,
                                     void *ud);

/* Declare namespace NSP ("/chat") if it is not, and set its connect
 * handler (NULL: accept all). A namespace nobody declared is refused
 * ("Invalid namespace"). 0, -EINVAL, -ENOMEM. Since ABI 1.6. */
GN_API int gn_sio_on_connect(gn_sio_t *sio, const char *nsp,
                             gn_sio_connect_fn fn, void *ud);

/* Declare NSP if needed and handle EVENT there with FN (EVENT NULL: every
 * event that has no handler of its own). A second call for the same
 * event replaces the first. 0, -EINVAL, -ENOMEM. Since ABI 1.6. */
GN_API int gn_sio_on(gn_sio_t *sio, const char *nsp, const char *event,
                     gn_sio_event_fn fn, void *ud);

/* Declare NSP if needed and set its disconnect handler. 0, -EINVAL,
 * -ENOMEM. Since ABI 1.6. */
GN_API int gn_sio_on_disconnect(gn_sio_t *sio, const char *nsp,
                                gn_sio_disconnect_fn fn, void *ud);

/* Send EVENT with ARGS (an array, borrowed; NULL: none) to S. Never
 * waits. 0; -ENOTCONN when S is not connected (gone, or its connect
 * handler has not returned); -EINVAL (an argument jansson cannot write,
 * a reserved event name); -E2BIG (more than 64 binary values); -ENOBUFS
 * when S's queue is full (its session is then closed); -ENOMEM. Since
 * ABI 1.6. */
GN_API int gn_sio_emit(gn_sio_socket_t *s, const char *event,
                       struct json_t *args);

/* gn_sio_emit asking for an ack, and wait for it up to TIMEOUT_MS (< 0:
 * no limit): 0 with the ack's arguments in *REPLY (a new array, the
 * caller's to json_decref; may be NULL when the caller does not want
 * them), -ETIMEDOUT, -ENOTCONN (S left meanwhile), -ECANCELED, or
 * gn_sio_emit's errors. May yield. Since ABI 1.6. */
GN_API int gn_sio_emit_ack(gn_sio_socket_t *s, const char *event,
                           struct json_t *args, int timeout_ms,
                           struct json_t **reply);

/* Send EVENT with ARGS to every socket of namespace NSP in ROOM (NULL:
 * every socket of NSP) but EXCEPT (may be NULL), on this worker and,
 * through the adapter (gn_sio_set_adapter), on every other worker and
 * host: each receives it once. 0, or an error of encoding (-EINVAL,
 * -E2BIG, -ENOMEM) or of the adapter's publish; a socket whose queue is
 * full is closed and the others still get it. May yield (the adapter).
 * Since ABI 1.6. */
GN_API int gn_sio_emit_to(gn_sio_t *sio, const char *nsp, const char *room,
                          const gn_sio_socket_t *except, const char *event,
                          struct json_t *args);

/* Put S in ROOM (every socket is in the room named by its id from its
 * connection on), or take it out. 0 (also when it already was, or was
 * not), -EINVAL, -ENOMEM. Since ABI 1.6. */
GN_API int gn_sio_join(gn_sio_socket_t *s, const char *room);
GN_API int gn_sio_leave(gn_sio_socket_t *s, const char *room);

/* Whether S is in ROOM. Since ABI 1.6. */
GN_API int gn_sio_in_room(const gn_sio_socket_t *s, const char *room);

/* S's id (the sid of its CONNECT answer: one per namespace connection,
 * not the Engine.IO session's), and its namespace. Since ABI 1.6. */
GN_API const char *gn_sio_id(const gn_sio_socket_t *s);
GN_API const char *gn_sio_nsp(const gn_sio_socket_t *s);

/* Whether S is connected (accepted and not gone). Since ABI 1.6. */
GN_API int gn_sio_connected(const gn_sio_socket_t *s);

/* The app's pointer for S; FREE_FN (may be NULL) is called with it when
 * S is freed or the pointer replaced. Since ABI 1.6. */
GN_API void gn_sio_set_data(gn_sio_socket_t *s, void *data,
                            void (*free_fn)(void *data));
GN_API void *gn_sio_data(const gn_sio_socket_t *s);

/* Disconnect S from its namespace (the client gets DISCONNECT; the
 * disconnect handler runs with "server namespace disconnect"). 0, or
 * -ENOTCONN. Since ABI 1.6. */
GN_API int gn_sio_disconnect(gn_sio_socket_t *s);

/* A binary value holding a copy of P[0, N) (a new reference), to put in
 * an event's arguments; NULL when out of memory. Since ABI 1.6. */
GN_API struct json_t *gn_sio_binary_new(const void *p, size_t n);

/* Whether V is a binary value; if so *P and *N (either may be NULL) are
 * its bytes, valid while V lives. Since ABI 1.6. */
GN_API int gn_sio_binary_get(const struct json_t *v, const void **p, size_t *n);

/* The adapter: how emits to rooms and broadcasts reach other workers and
 * hosts. PUBLISH gets each such emit as an opaque message MSG[0, LEN)
 * that every other server instance must hand to gn_sio_deliver, once
 * (through Redis pub/sub, say: contrib/green/sio_redis.h). It may yield;
 * 0 or a negative errno. This server delivers its own emits itself, and
 * ignores them when they come back. Since ABI 1.6. */
typedef int (*gn_sio_publish_fn)(const void *msg, size_t len, void *ud);
GN_API void gn_sio_set_adapter(gn_sio_t *sio, gn_sio_publish_fn publish,
                               void *ud);

/* Deliver a message another instance published to this worker's
 * sockets. 0 (also for one this server published itself, or for a
 * namespace it does not have), -EBADMSG for one that is not an adapter
 * message, -ENOMEM. Never waits. Since ABI 1.6. */
GN_API int gn_sio_deliver(gn_sio_t *sio, const void *msg, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* GREENICORN_SOCKETIO_H */
