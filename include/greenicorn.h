/*
 * greenicorn.h - the plugin ABI of greenicorn, a pre-forking green-worker
 * HTTP/1.1 application server.
 *
 * This is the only header an app or hook plugin includes. A plugin is a
 * shared object that exports one descriptor (an app exports `greenicorn_app`
 * of type gn_app_t, or another symbol named as PATH.so:SYMBOL). The server
 * resolves every gn_* function below at dlopen() time from its own binary, so
 * a plugin links against nothing: build it with
 *
 *     cc -shared -fPIC $(pkg-config --cflags greenicorn) -o app.so app.c
 *
 * Threading: every call below is made from one worker process, on its one
 * event-loop thread. Calls marked "may yield" suspend the calling coroutine
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
 */
#ifndef GREENICORN_H
#define GREENICORN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the server's exported functions and a plugin's exported descriptor.
 * Plugins built with -fvisibility=hidden still export what carries it. */
#if defined(__GNUC__) && __GNUC__ >= 4
#define GN_API __attribute__((visibility("default")))
#else
#define GN_API
#endif
#define GN_EXPORT GN_API

/* ------------------------------------------------------------------------
 * Versions
 * ------------------------------------------------------------------------ */

/* The server release this header ships with. */
#define GN_VERSION_MAJOR 0
#define GN_VERSION_MINOR 1
#define GN_VERSION_PATCH 0

/* The plugin ABI. A plugin built against a different major version is
 * refused at load time; minor versions only add functions and append fields
 * to the end of public structs, so an older plugin keeps working. */
#define GN_ABI_VERSION_MAJOR 1
#define GN_ABI_VERSION_MINOR 3
#define GN_ABI_VERSION ((GN_ABI_VERSION_MAJOR << 16) | GN_ABI_VERSION_MINOR)

/* The running server's version as "MAJOR.MINOR.PATCH"; a static string. */
GN_API const char *gn_version(void);

/* ------------------------------------------------------------------------
 * Opaque handles
 * ------------------------------------------------------------------------ */

/* One HTTP request, valid from the call of the app's handle() until it
 * returns. Every string a request accessor returns is NUL-terminated and
 * stays valid until then. */
typedef struct gn_request gn_request_t;

/* The response to that request, valid for the same time. */
typedef struct gn_response gn_response_t;

/* ------------------------------------------------------------------------
 * The app descriptor
 * ------------------------------------------------------------------------ */

/* One `NAME = VALUE` line of the app's [app.args] config section, in file
 * order. The strings live as long as the worker. */
typedef struct gn_app_arg {
    const char *name;
    const char *value;
} gn_app_arg_t;

/*
 * What an app plugin exports (as `greenicorn_app` unless the config names
 * another symbol). Start it with GN_APP_HEADER so the first two fields carry
 * the ABI the plugin was built against.
 *
 * init    optional; called once per worker process after it forks, outside
 *         any coroutine (with preload_app: once, in the arbiter, before the
 *         workers fork). Store per-worker state in *state: it is handed to
 *         every handle() and to fini(). Return 0, or a negative errno to stop
 *         start-up (log the reason with gn_log first); a positive value
 *         counts as a failure too.
 * handle  required; called once per request inside the request's coroutine.
 *         Read with gn_request_*, answer with gn_response_*. Return 0 when
 *         the response is complete (any value >= 0 counts as that), or a
 *         negative errno: the server then answers 500 if nothing was sent
 *         yet, or closes the connection.
 * fini    optional; called when a worker exits gracefully, on its copy of
 *         the state (with preload_app, also in the arbiter as it exits).
 *         Not called on a quick stop (INT, QUIT) or a crash.
 */
typedef struct gn_app {
    uint32_t abi_version; /* GN_ABI_VERSION the plugin was built with */
    uint32_t struct_size; /* sizeof(gn_app_t) the plugin was built with */
    const char *name;     /* short name for logs, e.g. "hello" */
    int (*init)(const gn_app_arg_t *args, size_t nargs, void **state);
    int (*handle)(gn_request_t *req, gn_response_t *res, void *state);
    void (*fini)(void *state);
} gn_app_t;

#define GN_APP_HEADER                                                          \
    .abi_version = GN_ABI_VERSION, .struct_size = sizeof(gn_app_t)

/* From C++: define the descriptor as `extern "C" GN_EXPORT const gn_app_t
 * greenicorn_app = {GN_ABI_VERSION, sizeof(gn_app_t), "name", init,
 * handle, fini};` -- `extern "C"` in front of the definition (a const
 * object is otherwise private to its file in C++), the fields in order
 * (GN_APP_HEADER's designated initializers are C, and C++20's must not
 * be mixed with positional ones), and never let an exception out of a
 * callback: catch it and return a negative errno. */

/* The symbol the server looks up when the config names none. */
#define GN_APP_SYMBOL "greenicorn_app"

/* ------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------ */

/* The method as sent, e.g. "GET". */
GN_API const char *gn_request_method(const gn_request_t *req);

/* The request target exactly as sent, e.g. "/a%20b?x=1". */
GN_API const char *gn_request_target(const gn_request_t *req);

/* The target's path, percent-decoded, without the query: "/a b". For an
 * absolute-form target ("http://host/p") the path part; for "*", "*". */
GN_API const char *gn_request_path(const gn_request_t *req);

/* The path split at the app's mount, as CGI/WSGI's SCRIPT_NAME and
 * PATH_INFO: for an app mounted on "/api", "/api/users/7" gives "/api" and
 * "/users/7", and "/api" gives "/api" and "". An app on "/" gets "" and the
 * whole path. Decoded, like gn_request_path. Since ABI 1.2. */
GN_API const char *gn_request_script_name(const gn_request_t *req);
GN_API const char *gn_request_path_info(const gn_request_t *req);

/* The query string after '?', not decoded; "" when there is none. */
GN_API const char *gn_request_query(const gn_request_t *req);

/* The HTTP version as 10 or 11. */
GN_API int gn_request_version(const gn_request_t *req);

/* The first value of the header NAME (matched case-insensitively), or NULL
 * when the request has none. */
GN_API const char *gn_request_header(const gn_request_t *req, const char *name);

/* The number of header lines, repeated names counted each time. */
GN_API size_t gn_request_header_count(const gn_request_t *req);

/* The I-th header line in the order received: 0, or -ERANGE when I is past
 * the end. Either out-pointer may be NULL. */
GN_API int gn_request_header_at(const gn_request_t *req, size_t i,
                                const char **name, const char **value);

/* The length the request declared in Content-Length, or -1 when the body is
 * chunked or absent. */
GN_API int64_t gn_request_content_length(const gn_request_t *req);

/*
 * Read up to LEN bytes of the request body into BUF. Returns the number of
 * bytes read, 0 at the end of the body (or when there is none, or LEN is 0:
 * pass a LEN above 0), or a negative
 * errno (-ETIMEDOUT when the client stalls, -ECONNRESET when it went away,
 * -EPROTO when the body is malformed). The first call answers a client's
 * `Expect: 100-continue`. May yield.
 */
GN_API ssize_t gn_request_read(gn_request_t *req, void *buf, size_t len);

/* The trailer fields sent after a chunked body, like the header functions
 * above. They are known once gn_request_read returned 0; before that (and
 * for a body that is not chunked) there are none. Since ABI 1.2. */
GN_API const char *gn_request_trailer(const gn_request_t *req,
                                      const char *name);
GN_API size_t gn_request_trailer_count(const gn_request_t *req);
GN_API int gn_request_trailer_at(const gn_request_t *req, size_t i,
                                 const char **name, const char **value);

/* The client's address as text ("127.0.0.1", "::1"; "" for a unix socket)
 * and port (0 for a unix socket, or when a proxy named the client). Behind
 * a proxy the client is the one the PROXY protocol header or, from a peer
 * in forwarded_allow_ips, X-Forwarded-For names. */
GN_API const char *gn_request_remote_addr(const gn_request_t *req);
GN_API int gn_request_remote_port(const gn_request_t *req);

/* "https" when a peer in forwarded_allow_ips says so in X-Forwarded-Proto,
 * else "http". Since ABI 1.1. */
GN_API const char *gn_request_scheme(const gn_request_t *req);

/* The local address and port the connection arrived on ("127.0.0.1",
 * 8000; "" and 0 on a unix socket), as WSGI's SERVER_ADDR/SERVER_PORT.
 * Behind a proxy this is where the proxy connected. Since ABI 1.2. */
GN_API const char *gn_request_server_addr(const gn_request_t *req);
GN_API int gn_request_server_port(const gn_request_t *req);

/* SIZE bytes (16-byte aligned; SIZE 0 is taken as 1) from the request's
 * arena, freed all at once when the request ends: no free() to forget.
 * NULL when out of memory. Since ABI 1.2. */
GN_API void *gn_request_alloc(gn_request_t *req, size_t size);

/* ------------------------------------------------------------------------
 * Responses
 * ------------------------------------------------------------------------ */

/* Set the final status (200..999, default 200) and optional reason phrase
 * (NULL for the standard one). -EINVAL for a bad status or a reason with
 * control characters; -EALREADY once the head was sent. A 1xx (100..199)
 * is refused with -EINVAL: it is an interim answer, and a client given one
 * as the answer waits for another (or takes it for the next request's).
 * The server sends "100 Continue" itself; 101 will come with an upgrade
 * call, when there is one. */
GN_API int gn_response_status(gn_response_t *res, int status,
                              const char *reason);

/*
 * Add a header line. The name must be an HTTP token and the value free of
 * control characters other than tab, else -EINVAL. The server owns the
 * message framing and adds Date and Server itself (the server_header
 * setting): Content-Length, Transfer-Encoding, Connection, Date and Server
 * are refused with -EPERM. -EALREADY once the head was sent. Both strings
 * are copied.
 */
GN_API int gn_response_header(gn_response_t *res, const char *name,
                              const char *value);

/* Append LEN bytes to the body. Bytes are buffered: a response whose body is
 * complete when handle() returns is sent with Content-Length. 0, -ENOMEM,
 * -EPIPE once a write to the client failed, or -EALREADY after a whole
 * gn_response_sendfile. */
GN_API int gn_response_write(gn_response_t *res, const void *buf, size_t len);

/* printf-style gn_response_write: 0 (not a byte count), or a negative
 * errno. */
GN_API int gn_response_printf(gn_response_t *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Send the head and everything written so far now. The response is then
 * streamed: chunked to an HTTP/1.1 client, delimited by closing the
 * connection for HTTP/1.0. Returns 0 or a negative errno when the client is
 * gone or stalls. May yield.
 */
GN_API int gn_response_flush(gn_response_t *res);

/*
 * Send COUNT bytes of the open file FD from OFFSET with sendfile(2): the
 * kernel copies them, never this process. Before anything was flushed the
 * response is sent whole, with Content-Length covering what was written
 * plus COUNT, and is complete: later writes, flushes and sendfiles return
 * -EALREADY. After gn_response_flush it sends one more piece (a chunk) and
 * may be called again. FD stays the caller's to close; a HEAD request gets
 * the head only. 0; before anything is sent, -EBADF for a descriptor that is
 * not open and -EINVAL for a negative OFFSET or a range past the end of a
 * regular file; -EIO when the file shrank under us before COUNT bytes (the
 * connection is then closed: the length was promised), -EPIPE or
 * -ETIMEDOUT when the client is gone or stalls. May yield. Since ABI 1.2.
 */
GN_API int gn_response_sendfile(gn_response_t *res, int fd, off_t offset,
                                size_t count);

/* 1 when the client has closed its end of the connection or reset it, or
 * a write to it failed; 0 while it is there. It does not wait: a handler
 * doing long work checks it now and then to give up on a client that left.
 * (An HTTP/1.1 client does not half-close while waiting, so its EOF means
 * gone.) Since ABI 1.2. */
GN_API int gn_response_client_gone(gn_response_t *res);

/* The status set so far (200 unless changed), e.g. for post_request.
 * Since ABI 1.2. */
GN_API int gn_response_get_status(const gn_response_t *res);

/* ------------------------------------------------------------------------
 * Server hooks
 * ------------------------------------------------------------------------ */

/*
 * Gunicorn's server hooks. Each is a key of the [hooks] config section
 * naming `PATH.so[:SYMBOL]`; the symbol (by default "greenicorn_" and the
 * hook's name, e.g. greenicorn_post_fork) is a gn_hook_t, most simply
 * defined with GN_HOOK(post_fork, my_function). The server calls it at
 * the moment, and in the process, Gunicorn calls the hook of that name:
 *
 *   hook              process  when
 *   on_starting       arbiter  before the sockets are bound
 *   nworkers_changed  arbiter  the number of workers wanted changed (at
 *                              start from 0, on TTIN/TTOU, on HUP)
 *   when_ready        arbiter  the sockets are bound, before any worker
 *   pre_fork          arbiter  before forking a worker (worker_pid is 0)
 *   post_fork         worker   just after the fork, before the apps load
 *   post_worker_init  worker   the apps' init ran; next, it accepts
 *   pre_request       worker   before an app handles a request
 *   post_request      worker   after the response was sent
 *   worker_int        worker   on SIGINT or SIGQUIT (a quick stop)
 *   worker_abort      worker   on SIGABRT (the arbiter's timeout): runs in
 *                              a signal handler, so async-signal-safe calls
 *                              only (write(2), not printf or gn_log)
 *   worker_exit       worker   as it exits, after the apps' fini (on a
 *                              quick stop, after worker_int, without fini)
 *   child_exit        arbiter  a worker exited (status says how)
 *   on_reload         arbiter  on HUP, once the new configuration loaded
 *   pre_exec          new      on USR2, in the forked child, just before
 *                    arbiter   it execs the new binary
 *   on_exit           arbiter  just before it exits
 *
 * A hook returns 0, or a negative errno for failure: the failure is
 * logged; in on_starting, when_ready, post_fork and post_worker_init it
 * stops start-up (as a worker that cannot boot does: exit status 1 or 3),
 * and in pre_request the client gets 500 and the app is not called.
 */
typedef struct gn_hook_args {
    uint32_t struct_size;    /* sizeof(gn_hook_args_t) in the server */
    const char *hook;        /* the hook's name: "post_fork" */
    pid_t pid;               /* the calling process */
    pid_t arbiter_pid;       /* the arbiter (for pre_exec: the old one) */
    const char *config_file; /* the config file read, or NULL */
    int workers;             /* the number of workers wanted */
    int old_workers;         /* nworkers_changed: the previous number */
    int worker_id;      /* worker hooks, pre_fork, child_exit: 1..workers, the
                           worker's slot (a replacement reuses its id) */
    int worker_age;     /* ...: a count of forks, new for every worker */
    pid_t worker_pid;   /* ...: the worker's pid (0 in pre_fork) */
    int status;         /* child_exit, worker_exit: the wait(2) status (use
                           WIFEXITED, WEXITSTATUS, WIFSIGNALED, WTERMSIG) */
    gn_request_t *req;  /* pre_request, post_request */
    gn_response_t *res; /* pre_request, post_request */
} gn_hook_args_t;

/* Whether ARGS, from a server possibly older than the plugin, has FIELD:
 * minor ABI versions only append fields. */
#define GN_HOOK_ARGS_HAS(args, field)                                          \
    ((args)->struct_size >=                                                    \
     offsetof(gn_hook_args_t, field) + sizeof((args)->field))

/* What a hook plugin exports, one per hook. HOOK names the hook it is
 * written for (checked against the config key; NULL for any hook). */
typedef struct gn_hook {
    uint32_t abi_version; /* GN_ABI_VERSION the plugin was built with */
    uint32_t struct_size; /* sizeof(gn_hook_t) the plugin was built with */
    const char *hook;     /* "post_fork", or NULL */
    int (*call)(const gn_hook_args_t *args);
} gn_hook_t;

#define GN_HOOK_HEADER                                                         \
    .abi_version = GN_ABI_VERSION, .struct_size = sizeof(gn_hook_t)

/* Export FN as the hook NAME under its default symbol. */
#define GN_HOOK(name, fn)                                                      \
    GN_EXPORT const gn_hook_t greenicorn_##name = {GN_HOOK_HEADER,             \
                                                   .hook = #name, .call = fn}

/* The prefix of a hook's default symbol. */
#define GN_HOOK_SYMBOL_PREFIX "greenicorn_"

/*
 * The effective value of the setting NAME (its config key: "bind",
 * "workers", "timeout"...) as --print-config writes it, into BUF (LEN
 * bytes, NUL-terminated): what Gunicorn's hooks read from server.cfg. The
 * value's length, -ENOENT for an unknown name, or -ERANGE when LEN is too
 * small. Since ABI 1.2.
 */
GN_API int gn_config_get(const char *name, char *buf, size_t len);

/* ------------------------------------------------------------------------
 * Green API: cooperative calls for handlers
 * ------------------------------------------------------------------------
 *
 * Every call below that "may yield" suspends the calling green thread (a
 * request's coroutine, or one gn_spawn started) while it waits, and the
 * worker serves its other connections meanwhile. Each takes a TIMEOUT in
 * seconds (fractions allowed; a negative one means no limit) and returns
 * -ETIMEDOUT when it passes.
 *
 * Cancellation: a request is cancelled when its request_timeout passes,
 * and when its client goes away (closes or resets the connection) if the
 * cancel_on_disconnect setting is on; by default such a handler runs to
 * its end and only its writes to the client fail (-EPIPE). Once a request
 * is cancelled every green call of it that has to wait returns -ECANCELED
 * at once (one that completes without waiting still succeeds): return,
 * and the server answers 504 (or, to a client that left, nothing; the
 * access log says 499). gn_kill cancels one green thread the same way.
 *
 * Outside a green thread (in init, in a hook) the calls block like the
 * libc calls they stand for, with the same timeouts; the ones that only
 * make sense between green threads (join, events, semaphores, queues)
 * return -EWOULDBLOCK when they would have to wait there.
 */

/* Sleep SECONDS (fractions allowed). 0, -EINVAL for a negative or
 * non-finite value, or -ECANCELED. May yield. */
GN_API int gn_sleep(double seconds);

/* Let every other green thread that is ready run, then go on: for long
 * CPU work in a handler (call it every few milliseconds; max_blocking_ms
 * warns about code that does not). 0, or -ECANCELED. May yield. Since
 * ABI 1.3. */
GN_API int gn_yield(void);

/* gn_wait_fd's EVENTS and result. */
#define GN_WAIT_READ 1
#define GN_WAIT_WRITE 2

/* Wait until FD (any descriptor poll(2) takes) is ready for EVENTS
 * (GN_WAIT_READ and/or GN_WAIT_WRITE). The ready ones (> 0; a hang-up or
 * an error counts as ready, for the next read or write to report),
 * -ETIMEDOUT, -ECANCELED, or -EINVAL for bad arguments. May yield. Since
 * ABI 1.3. */
GN_API int gn_wait_fd(int fd, int events, double timeout);

/*
 * Connect to HOST (a name, resolved without blocking the worker, or an
 * IPv4 or IPv6 address) on PORT over TCP, trying each address in turn,
 * all within TIMEOUT. The connected socket (non-blocking, close-on-exec,
 * TCP_NODELAY; the caller closes it), or -ETIMEDOUT, -ECONNREFUSED,
 * -EHOSTUNREACH when the name has no address, -EAGAIN when the name
 * servers could not say (try again later), -ECANCELED... May yield.
 * Outside a green thread the name is resolved by getaddrinfo(3), which
 * does not honour TIMEOUT. Since ABI 1.3.
 */
GN_API int gn_connect_tcp(const char *host, int port, double timeout);

/* Connect to the unix socket at PATH (stream). The socket, or a negative
 * errno as above (-ENOENT when nothing is there). May yield. Since ABI
 * 1.3. */
GN_API int gn_connect_unix(const char *path, double timeout);

/* Read up to LEN bytes from FD (a socket, pipe, tty or regular file;
 * blocking or not). The bytes read (> 0), 0 at end of file (or when LEN is
 * 0), or a negative errno. Regular files are read directly (the disk
 * never says "not ready"). A blocking pipe or tty is only read once poll
 * says it is ready, so the worker never blocks on it. May yield. Since ABI
 * 1.3. */
GN_API ssize_t gn_read(int fd, void *buf, size_t len, double timeout);

/* Write all LEN bytes of BUF to FD. LEN, or a negative errno (-EPIPE when
 * the peer is gone; SIGPIPE is never raised), in which case an unknown
 * part may have gone out. A blocking pipe is written PIPE_BUF bytes at a
 * time, each once poll says it fits. May yield. Since ABI 1.3. */
GN_API ssize_t gn_write(int fd, const void *buf, size_t len, double timeout);

/* gn_read and gn_write over IOVCNT buffers (at most 64: -EINVAL beyond):
 * readv reads what is there (up to their total), writev writes them all.
 * May yield. Since ABI 1.3. */
GN_API ssize_t gn_readv(int fd, const struct iovec *iov, int iovcnt,
                        double timeout);
GN_API ssize_t gn_writev(int fd, const struct iovec *iov, int iovcnt,
                         double timeout);

/* Accept a connection on the listening socket LFD (one the app owns). The
 * new socket (non-blocking, close-on-exec), its peer in ADDR and *ADDRLEN
 * when they are not NULL, or a negative errno. Make LFD non-blocking when
 * other processes accept on it too: a blocking one is accepted from once
 * poll says a connection waits, and another process may take it first.
 * May yield. Since ABI 1.3. */
GN_API int gn_accept(int lfd, struct sockaddr *addr, socklen_t *addrlen,
                     double timeout);

/* ---- green threads and their synchronisation (gevent's) ---------------- */

/* A green thread: a function running in a coroutine of its own. */
typedef struct gn_thread gn_thread_t;

/*
 * Start FN(ARG) in a new green thread; it first runs when the caller next
 * waits (or yields). The thread belongs to the green thread that spawned
 * it: when a request ends (its handler returned) every thread it spawned
 * that is still running is cancelled (gn_kill) and the request ends once
 * they have returned, so a thread never outlives the request, nor the
 * memory the request lends it. Spawned outside any green thread (in init,
 * say), it belongs to the worker, and is cancelled when the worker stops.
 * NULL when out of memory. Since ABI 1.3.
 */
GN_API gn_thread_t *gn_spawn(int (*fn)(void *arg), void *arg);

/* Wait until T's function returned; then *RESULT (if not NULL) is what it
 * returned and T is freed. 0, -ETIMEDOUT (T still runs and must be joined
 * again), -ECANCELED, -EBUSY when another thread is joining T, -EDEADLK
 * for T itself. May yield. Since ABI 1.3. */
GN_API int gn_join(gn_thread_t *t, double timeout, int *result);

/* Cancel T: the green call it waits in, and every later one, return
 * -ECANCELED. It still has to be joined. 0, or -ESRCH when it already
 * returned. Since ABI 1.3. */
GN_API int gn_kill(gn_thread_t *t);

/* An event (gevent.event.Event): set wakes every waiter, and waits return
 * at once until it is cleared. Free it only when no thread waits on it. */
typedef struct gn_event gn_event_t;
GN_API gn_event_t *gn_event_new(void);
GN_API void gn_event_set(gn_event_t *e);
GN_API void gn_event_clear(gn_event_t *e);
GN_API int gn_event_is_set(const gn_event_t *e);
/* 0 once E is set, -ETIMEDOUT, -ECANCELED. May yield. */
GN_API int gn_event_wait(gn_event_t *e, double timeout);
GN_API void gn_event_free(gn_event_t *e);

/* A counting semaphore (gevent.lock.Semaphore) holding COUNT units:
 * acquire takes one, waiting while there is none (first come, first
 * served); release gives one back. */
typedef struct gn_sem gn_sem_t;
GN_API gn_sem_t *gn_sem_new(unsigned count);
/* 0 with a unit taken, -ETIMEDOUT, -ECANCELED. May yield. */
GN_API int gn_sem_acquire(gn_sem_t *s, double timeout);
GN_API void gn_sem_release(gn_sem_t *s);
GN_API void gn_sem_free(gn_sem_t *s);

/* A bounded queue of pointers (gevent.queue.Queue(maxsize)), first in,
 * first out: put waits while it holds CAPACITY items, get while it is
 * empty. */
typedef struct gn_queue gn_queue_t;
GN_API gn_queue_t *gn_queue_new(size_t capacity);
/* 0, -ETIMEDOUT, -ECANCELED. May yield. */
GN_API int gn_queue_put(gn_queue_t *q, void *item, double timeout);
/* 0 with the oldest item in *ITEM, -ETIMEDOUT, -ECANCELED. May yield. */
GN_API int gn_queue_get(gn_queue_t *q, void **item, double timeout);
GN_API size_t gn_queue_len(const gn_queue_t *q);
GN_API void gn_queue_free(gn_queue_t *q);

/* ------------------------------------------------------------------------
 * Logging
 * ------------------------------------------------------------------------ */

enum gn_log_level {
    GN_LOG_DEBUG = 10,
    GN_LOG_INFO = 20,
    GN_LOG_WARNING = 30,
    GN_LOG_ERROR = 40,
    GN_LOG_CRITICAL = 50,
};

/* Write a line to the server's error log at LEVEL (dropped when below the
 * configured loglevel). No trailing newline needed. */
GN_API void gn_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif

#endif /* GREENICORN_H */
