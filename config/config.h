/*
 * The effective configuration: defaults, then the INI file, then the
 * command line. config/ never logs and never exits: every function that can
 * fail fills the caller's `char err[GN_ERR_LEN]` with "FILE:LINE: key:
 * reason" (or "--flag: reason") and returns a negative errno, and the caller
 * decides (stop start-up, or keep the old config on reload).
 */
#ifndef GN_CONFIG_CONFIG_H
#define GN_CONFIG_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/access_format.h"
#include "config/error_pages.h"
#include "config/ipset.h"
#include "core/listen.h"
#include "core/macros.h"
#include "greenicorn.h"

/* An app to load, "PATH.so[:SYMBOL]", where it is mounted, and its
 * [app.args] (or [app:NAME.args]) in file order. */
struct gn_app_conf {
    char *name;   /* NULL for [app]; NAME for [app:NAME] */
    char *spec;   /* as written, NULL when none was given */
    char *path;   /* the .so path */
    char *symbol; /* GN_APP_SYMBOL unless named */
    char *mount;  /* URL prefix: "/" or "/a/b", no trailing slash */
    gn_app_arg_t *args;
    size_t nargs;
    int line;                    /* [app:NAME]: its first section header */
    int module_line, mount_line; /* [app:NAME]: where each key was set */
    /* [app:NAME]'s limit_request_body, set when body_limit_line is not 0
     * (else [http]'s applies); 0: no limit. */
    int64_t body_limit;
    int body_limit_line;
};

/* A stream app ([stream:NAME]): its plugin "PATH.so[:SYMBOL]", the one
 * address it listens on, and its [stream:NAME.args] in file order. */
struct gn_stream_conf {
    char *name;
    char *spec, *path, *symbol; /* as gn_app_conf's; symbol defaults to
                                   GN_STREAM_APP_SYMBOL */
    struct gn_bind bind;        /* bind.spec NULL until set */
    gn_app_arg_t *args;
    size_t nargs;
    int line;                   /* its first section header */
    int module_line, bind_line; /* where each key was set */
};

/* Gunicorn's server hooks, in the order of the [hooks] section. */
enum gn_hook_id {
    GN_HOOK_ON_STARTING,
    GN_HOOK_ON_RELOAD,
    GN_HOOK_WHEN_READY,
    GN_HOOK_PRE_FORK,
    GN_HOOK_POST_FORK,
    GN_HOOK_POST_WORKER_INIT,
    GN_HOOK_WORKER_INT,
    GN_HOOK_WORKER_ABORT,
    GN_HOOK_PRE_EXEC,
    GN_HOOK_PRE_REQUEST,
    GN_HOOK_POST_REQUEST,
    GN_HOOK_CHILD_EXIT,
    GN_HOOK_WORKER_EXIT,
    GN_HOOK_NWORKERS_CHANGED,
    GN_HOOK_ON_EXIT,
    GN_HOOK_COUNT
};

/* Their names, indexed by enum gn_hook_id: the [hooks] keys. */
extern const char *const gn__hook_names[GN_HOOK_COUNT];

/* cert_reqs: Python's ssl.CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED. */
enum { GN_CERT_NONE, GN_CERT_OPTIONAL, GN_CERT_REQUIRED };

/* io_engine: how a worker's plain TCP HTTP connections move their bytes. */
enum { GN_IO_EPOLL, GN_IO_URING };

/* worker_cpu_affinity: whether each worker is pinned to a CPU of its own. */
enum { GN_AFFINITY_OFF, GN_AFFINITY_AUTO };

/* The most apps one configuration mounts. */
#define GN_MAX_APPS 64

/* [socketio] transports, as bits of socketio_transports. */
#define GN_CONFIG_SIO_POLLING 1
#define GN_CONFIG_SIO_WEBSOCKET 2

struct gn_config {
    char *file; /* the config file read, or NULL */

    /* [server] */
    struct gn_bind *binds;
    size_t nbinds;
    int backlog;
    int reuse_port; /* a listening socket per worker (SO_REUSEPORT) */
    int defer_accept; /* HTTP listeners: accept once bytes came */
    int accept_balance; /* shared listeners: leave new connections to a
                           worker holding fewer (workers/balance.h) */
    char *metrics_bind; /* HOST:PORT of the arbiter's /metrics; NULL: off */

    /* [workers] */
    int workers;
    int worker_connections;
    int timeout;          /* seconds; 0 disables the watchdog */
    int graceful_timeout; /* seconds */
    int keepalive;        /* seconds an idle keep-alive connection waits */
    int max_requests;     /* 0 disables recycling */
    int max_requests_jitter;
    int max_worker_memory; /* MiB of RSS past which a worker is replaced;
                              0: off */
    int max_blocking_ms; /* warn when code holds the loop longer; 0: off */
    int preload_app;     /* apps loaded and inited in the arbiter */
    int reload;          /* reload when a plugin or the config changes */
    int stack_size;      /* KiB per coroutine */
    int stack_prealloc;  /* requests' stacks and buffers made at boot */
    int io_engine;       /* GN_IO_EPOLL or GN_IO_URING */
    int io_uring_batch_wait; /* us a busy ring waits for more; 0: none */
    int worker_cpu_affinity; /* GN_AFFINITY_OFF or GN_AFFINITY_AUTO */

    /* [http] */
    int limit_request_line;       /* bytes; 0: the internal cap */
    int limit_request_fields;     /* 0: the internal cap */
    int limit_request_field_size; /* bytes; 0: the internal cap */
    int limit_request_header_size; /* bytes; 0: the internal cap */
    int64_t limit_request_body;   /* bytes; 0: unlimited */
    struct gn_error_pages error_pages; /* the server's own error answers */
    int first_byte_timeout;       /* seconds, each */
    int header_timeout;
    int body_timeout;
    int write_timeout;
    int request_timeout; /* seconds a handler may take; 0: no limit */
    int cancel_on_disconnect; /* a client that leaves cancels its handler */
    char *server_header; /* NULL: none */
    char *health_check_path; /* answered by the worker; NULL: none */

    /* [websocket] */
    int64_t websocket_max_message; /* bytes a message may have, else 1009 */
    int64_t websocket_max_queue;   /* bytes queued per socket, else 1013 */
    int websocket_ping_interval;   /* seconds; 0: no keep-alive pings */
    int websocket_compression;     /* accept permessage-deflate */
    char *websocket_allowed_origins; /* NULL or "": any Origin */

    /* [socketio] (transports: bits of GN_CONFIG_SIO_*) */
    char *socketio_path;        /* Engine.IO's path under an app's mount */
    int socketio_ping_interval; /* seconds between the server's pings */
    int socketio_ping_timeout;  /* seconds a pong may take, else closed */
    int64_t socketio_max_payload; /* bytes of a POST or a message */
    int64_t socketio_max_queue;   /* bytes queued to one session */
    int socketio_transports; /* GN_CONFIG_SIO_POLLING | _WEBSOCKET */

    /* [green] */
    int patch_all;     /* interpose libc's blocking calls in workers */
    int patch_exclude; /* families left alone: socket 1, dns 2, time 4,
                        * select 8, ssl 16 (patch/patch.h's bits) */
    char *resolv_conf; /* what green lookups read; NULL: the system's */
    int threadpool_size;  /* threads per worker for gn_run_in_thread */
    int threadpool_queue; /* calls that may wait for one */

    /* [proxy] */
    int proxy_protocol;
    struct gn_ipset proxy_allow_ips;
    struct gn_ipset forwarded_allow_ips;

    /* [tls]: TLS termination (net/tls_context.c builds the context) */
    char *certfile;         /* NULL: no TLS */
    char *keyfile;          /* NULL: the key is in certfile */
    char *ca_certs;         /* client certificates' CAs; NULL: none */
    int cert_reqs;          /* GN_CERT_NONE, _OPTIONAL, _REQUIRED */
    char *ciphers;          /* TLS <= 1.2 cipher list (OpenSSL's syntax) */
    char *tls_ciphersuites; /* TLS 1.3 suites */
    int tls_min_version;    /* 0x0303 (TLS 1.2) or 0x0304 (TLS 1.3) */
    int handshake_timeout;  /* seconds */
    int ticket_key_rotation; /* seconds between ticket keys; 0: HUP only */
    /* The server context built from them (net/tls_context.c's, opaque
     * here), freed with the config by TLS_FREE: a reload that fails keeps
     * the old. */
    void *tls;
    void (*tls_free)(void *tls);

    /* [process] */
    int daemon;
    char *pidfile; /* NULL: none */
    char *control_socket; /* the `greenicorn ctl` socket; NULL: none */
    char *user;    /* as written; NULL: keep the user */
    char *group;   /* as written; NULL: the user's group */
    int uid, gid;  /* resolved; -1 when not set */
    int umask;     /* -1: inherit */
    char *chdir;   /* NULL: stay */
    char **raw_env; /* "KEY=VALUE" each */
    size_t nraw_env;
    char *proc_name; /* NULL: the app's name */
    char *worker_tmp_dir; /* the heartbeat pages' files; NULL: memory */

    /* [logging] */
    char *accesslog; /* NULL: no access log; "-": stdout */
    struct gn_access_format access_log_format;
    char *errorlog;  /* "-": stderr */
    int loglevel;    /* enum gn_log_level */
    int syslog;      /* also send both logs to syslog */
    char *syslog_addr;   /* "udp://HOST:PORT" or "unix://PATH" */
    char *syslog_prefix; /* the program name there; NULL: "greenicorn" */
    int syslog_facility; /* LOG_USER, LOG_DAEMON, ... */
    char *syslog_facility_name;
    char *statsd_host;    /* HOST:PORT or unix:PATH; NULL: no statsd */
    char *statsd_prefix;  /* before every metric name; NULL: none */
    char *dogstatsd_tags; /* "a:b,c" appended as |#a:b,c; NULL: none */

    /* [hooks]: "PATH.so[:SYMBOL]" for each hook, NULL when unset */
    char *hooks[GN_HOOK_COUNT];

    /* [app] and [app.args]: the default app (the APP argument) */
    struct gn_app_conf app;
    /* [app:NAME] and [app:NAME.args], in the order first named */
    struct gn_app_conf *named_apps;
    size_t nnamed_apps;
    /* [stream:NAME] and [stream:NAME.args], in the order first named */
    struct gn_stream_conf *streams;
    size_t nstreams;

    /* Line of the file that set each setting (0: not from the file), to
     * refuse a key given twice. Indexed like the settings table. */
    int *set_line;
};

/* A config holding every default. NULL on ENOMEM. Free with
 * gn__config_free(). */
struct gn_config *gn__config_new(void);
void gn__config_free(struct gn_config *cfg);

/* The largest config file read (the example is about 20 KiB): a path
 * given by mistake (a log, a disk image) is refused at once. */
#define GN_CONFIG_MAX_BYTES (1024 * 1024)

/*
 * Read PATH into CFG (on top of what it holds). 0, or a negative errno with
 * ERR set ("PATH: cannot read the config file: why"): the open or read
 * error (-ENOENT, -EACCES, -EIO...), -EISDIR or -EINVAL for what is not a
 * regular file (a directory, a device, a FIFO), -EFBIG past
 * GN_CONFIG_MAX_BYTES; -EINVAL for anything wrong inside it (unknown
 * section or key, bad value, syntax, a NUL byte, a key set twice). Stops at
 * the first error. Never blocks on a FIFO or a device.
 */
int gn__config_load(struct gn_config *cfg, const char *path,
                    char err[GN_ERR_LEN]);

/* Same, from LEN bytes at TEXT (NUL bytes in it are refused, as in a
 * file) named NAME in messages (for tests and fuzzing). */
int gn__config_load_buffer(struct gn_config *cfg, const char *name,
                           const char *text, size_t len, char err[GN_ERR_LEN]);

/* Same, from a NUL-terminated string. */
int gn__config_load_string(struct gn_config *cfg, const char *name,
                           const char *text, char err[GN_ERR_LEN]);

/*
 * Set the setting NAME (its INI key) to VALUE as a command-line flag does:
 * it overrides the file; for `bind`, the first call drops the file's
 * addresses and later calls add. ORIGIN names the source in ERR ("--workers").
 * 0, -ENOENT for an unknown name, -EINVAL for a bad value.
 */
int gn__config_set(struct gn_config *cfg, const char *name, const char *value,
                   const char *origin, char err[GN_ERR_LEN]);

/* Set the app spec "PATH.so[:SYMBOL]" (the APP argument). */
int gn__config_set_app(struct gn_config *cfg, const char *spec,
                       const char *origin, char err[GN_ERR_LEN]);

/* After the file and the command line: every [app:NAME] has a module and
 * a mount, and no two apps share a mount. 0, or -EINVAL with ERR naming the
 * file and line. */
int gn__config_check(const struct gn_config *cfg, char err[GN_ERR_LEN]);

/* The apps to serve, [app] first (when it names a module), into OUT (room
 * for GN_MAX_APPS). Their number. */
size_t gn__config_apps(const struct gn_config *cfg,
                       const struct gn_app_conf **out);

/* Whether CFG terminates TLS on every HTTP bind: a certfile, and no bind
 * (HTTP's or a stream's) written tls://ADDRESS, as Gunicorn does. */
int gn__config_tls_everywhere(const struct gn_config *cfg);

/* Every address to listen on, HTTP's first (none when CFG has no HTTP app
 * but has streams), then each stream's, tagged with its name: a new array
 * of *N shallow copies (the strings stay CFG's), freed with free(). NULL
 * on ENOMEM. */
struct gn_bind *gn__config_listen_binds(const struct gn_config *cfg,
                                        size_t *n);

/* Whether CFG serves HTTP: it has an app. */
int gn__config_serves_http(const struct gn_config *cfg);

/* The name in process titles: proc_name, else the first app's spec; NULL
 * when there is none. */
const char *gn__config_proc_name(const struct gn_config *cfg);

/* Where the setting NAME was set, for messages: "FILE:LINE: NAME" when the
 * file set it, else "NAME". */
void gn__config_where(const struct gn_config *cfg, const char *name, char *out,
                      size_t len);

/* Print every effective value as an INI file that loads back to the same
 * configuration. */
void gn__config_print(const struct gn_config *cfg, FILE *out);

#endif /* GN_CONFIG_CONFIG_H */
