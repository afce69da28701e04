/*
 * Engine.IO 4's heartbeat, the server's side: a PING every pingInterval,
 * and a session whose PONG does not come within pingTimeout after it is
 * closed ("ping timeout"). One loop timer per session, alternating between
 * the two waits. Internal to socketio/.
 */
#ifndef GN_SOCKETIO_HEARTBEAT_H
#define GN_SOCKETIO_HEARTBEAT_H

struct gn_eio_session;

/* Arm S's first ping, pingInterval from now. */
void gn__eio_heartbeat_start(struct gn_eio_session *s);

/* S's client answered the ping: the next one is pingInterval from now. */
void gn__eio_heartbeat_pong(struct gn_eio_session *s);

/* S closes: no more pings. */
void gn__eio_heartbeat_stop(struct gn_eio_session *s);

#endif /* GN_SOCKETIO_HEARTBEAT_H */
