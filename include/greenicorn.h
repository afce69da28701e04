/*
 * greenicorn.h - the plugin ABI of greenicorn, a pre-forking green-worker
 * HTTP/1.1 application server.
 *
 * This is the only header an app or hook plugin includes. A plugin is a
 * shared object that exports one descriptor (an app exports `greenicorn_app`
 * of type gn_app_t, or another symbol named as PATH.so:SYMBOL). The server
 * resolves every gn_* function of the ABI at dlopen() time from its own
 * binary, so a plugin links against nothing: build it with
 *
 *     cc -shared -fPIC $(pkg-config --cflags greenicorn) -o app.so app.c
 *
 * Threading: every call of the ABI is made from one worker process, on its
 * one event-loop thread. Calls marked "may yield" suspend the calling coroutine
 * (green thread) while they wait and let the worker serve other connections;
 * the code reads as blocking. Called outside a coroutine (e.g. from init),
 * they block like the libc call they replace. Called from a thread the app
 * started, a call that touches a request, a response or green state fails
 * and changes nothing: -EPERM, NULL for gn_request_alloc and gn_spawn, and
 * gn_event_set, gn_event_clear and gn_sem_release do nothing. Getters,
 * the _new/_free calls and gn_log are not checked.
 *
 * Errors: functions returning int return 0 (or a byte count) on success and
 * a negative errno value on failure, libuv-style.
 *
 * The ABI is declared by concept in the headers included below, each of
 * which compiles on its own; a plugin includes this one:
 *
 *   greenicorn/version.h  the release and ABI versions, GN_API, gn_version
 *   greenicorn/http.h     requests, responses, the app descriptor gn_app_t
 *   greenicorn/hooks.h    server hooks (gn_hook_t, gn_hook_args_t) and
 *                         gn_config_get
 *   greenicorn/green.h    cooperative calls: sleep, descriptor waits,
 *                         sockets, green threads and their synchronisation
 *   greenicorn/log.h      gn_log and its levels
 *   greenicorn/stream.h   stream apps (gn_stream_app_t) and the calls on
 *                         their connections (gn_stream_*)
 *   greenicorn/websocket.h WebSocket from a handler: gn_ws_accept,
 *                         gn_ws_recv, gn_ws_send, ...
 *   greenicorn/socketio.h a Socket.IO 5 server: gn_sio_new, gn_sio_on,
 *                         gn_sio_emit, rooms (Since ABI 1.6)
 */
#ifndef GREENICORN_H
#define GREENICORN_H

/* In the order of the list above: each part includes what it needs. */
#include "greenicorn/version.h"
#include "greenicorn/http.h"
#include "greenicorn/hooks.h"
#include "greenicorn/green.h"
#include "greenicorn/log.h"
#include "greenicorn/stream.h"
#include "greenicorn/websocket.h"
#include "greenicorn/socketio.h"

#endif /* GREENICORN_H */
