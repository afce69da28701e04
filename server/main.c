/*
 * greenicorn's entry point: the order of start-up. Everything that can be
 * wrong with the command line, the config file or the app is found before
 * a socket is bound, and reported as "greenicorn: FILE:LINE: key: reason"
 * with exit status 2 (usage) or 1 (config).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <unistd.h>

#include "config/config.h"
#include "config/settings.h"
#include "config/streams.h"
#include "core/clock.h"
#include "core/listen.h"
#include "core/log.h"
#include "core/privileges.h"
#include "core/systemd.h"
#include "net/peer.h"
#include "net/tls.h"
#include "plugins/appset.h"
#include "plugins/hooks.h"
#include "server/arbiter.h"
#include "server/cli.h"
#include "server/ctl.h"
#include "server/process.h"
#include "server/signals.h"
#include "workers/worker.h"

#define DEFAULT_CONFIG "greenicorn.conf"
#define TRIAL_TIMEOUT_MS 30000 /* --check-config: an app's init and fini */

static int fail(int status, const char *msg)
{
    fprintf(stderr, "greenicorn: %s\n", msg);
    if (status == GN_EXIT_USAGE)
        fprintf(stderr, "Try 'greenicorn --help'.\n");
    return status;
}

/* Defaults, then the file, then the flags and APP. */
static int configure(struct gn_config *cfg, const struct gn_cli *cli, char *err)
{
    const char *path = cli->config;
    int rc;

    if (path == NULL && access(DEFAULT_CONFIG, F_OK) == 0)
        path = DEFAULT_CONFIG;
    if (path != NULL && gn__config_load(cfg, path, err) != 0)
        return GN_EXIT_CONFIG;
    for (size_t i = 0; i < cli->noverrides; i++) {
        const struct gn_cli_override *o = &cli->overrides[i];

        rc = gn__config_set(cfg, o->name, o->value, o->flag, err);
        if (rc != 0)
            return GN_EXIT_CONFIG;
    }
    if (cli->app && gn__config_set_app(cfg, cli->app, "APP", err) != 0)
        return GN_EXIT_CONFIG;
    return gn__config_check(cfg, err) ? GN_EXIT_CONFIG : 0;
}

/* Load the apps once in the arbiter to refuse a bad plugin before
 * binding; workers load them again after fork, so a HUP picks up a new
 * build. */
static int check_app(const struct gn_config *cfg, int from_cli, char *err)
{
    struct gn_apps apps;
    char where[128];

    if (cfg->app.spec == NULL && cfg->nnamed_apps == 0 &&
        cfg->nstreams == 0) {
        snprintf(err, GN_ERR_LEN,
                 "no app: give APP (PATH.so[:SYMBOL]) on the command line, "
                 "'module' in [app], an [app:NAME] or a [stream:NAME] "
                 "section");
        return GN_EXIT_USAGE;
    }
    if (from_cli)
        snprintf(where, sizeof(where), "APP");
    else
        gn__config_where(cfg, "module", where, sizeof(where));
    if (gn__apps_load(&apps, cfg, where, err) != 0)
        return GN_EXIT_CONFIG;
    gn__apps_unload(&apps);
    return 0;
}

/* The trial's child: what a worker does with the apps (as its user, with
 * its green runtime, unless preload_app inits them in the arbiter), then
 * fini. Its exit status; the reason written to FD. */
static int trial_child(const struct gn_config *cfg, int fd)
{
    char err[GN_ERR_LEN] = "";
    struct gn_apps *apps = NULL;

    if (!cfg->preload_app &&
        (gn__privileges_drop(cfg->uid, cfg->gid, cfg->user, cfg->group, err) !=
             0 ||
         gn__worker_trial_begin(cfg) != 0)) {
        if (err[0] == '\0')
            snprintf(err, sizeof(err), "cannot start a worker's runtime: %s",
                     strerror(errno));
    } else if ((apps = gn__arbiter_preload(cfg, err)) != NULL) {
        if (!cfg->preload_app)
            gn__worker_trial_end();
        gn__apps_unload(apps); /* runs fini */
        free(apps);
        return 0;
    }
    (void)!write(fd, err, strnlen(err, GN_ERR_LEN - 1));
    return 1;
}

/* How the trial's child PID ended, into ERR unless it said why. */
static int trial_status(pid_t pid, char *err)
{
    int status;

    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return GN_EXIT_BOOT;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (err[0] == '\0' && WIFSIGNALED(status))
        snprintf(err, GN_ERR_LEN, "an app's init or fini died on signal %d (%s)",
                 WTERMSIG(status), gn__signal_name(WTERMSIG(status)));
    else if (err[0] == '\0')
        snprintf(err, GN_ERR_LEN, "an app's init or fini exited %d",
                 WEXITSTATUS(status));
    return GN_EXIT_BOOT;
}

/* --check-config: run each app's init and fini as a worker will, in a
 * throw-away child, so nothing they do (threads, connections, memory)
 * stays here. 0, or GN_EXIT_BOOT with ERR. */
static int trial_init(const struct gn_config *cfg, char *err)
{
    struct pollfd pfd = {.events = POLLIN};
    int fds[2], left = TRIAL_TIMEOUT_MS;
    int64_t start = gn__monotonic_ms();
    size_t got = 0;
    ssize_t n = 1;
    pid_t pid;

    err[0] = '\0';
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(err, GN_ERR_LEN, "cannot check the apps' init: %s",
                 strerror(errno));
        return GN_EXIT_BOOT;
    }
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        _exit(trial_child(cfg, fds[1]));
    }
    close(fds[1]);
    if (pid < 0) {
        snprintf(err, GN_ERR_LEN, "cannot fork to check the apps' init: %s",
                 strerror(errno));
        close(fds[0]);
        return GN_EXIT_BOOT;
    }
    pfd.fd = fds[0];
    while (n > 0 && left > 0 && poll(&pfd, 1, left) != 0) {
        n = read(fds[0], err + got, GN_ERR_LEN - 1 - got);
        got += n > 0 ? (size_t)n : 0;
        err[got] = '\0';
        left = TRIAL_TIMEOUT_MS - (int)(gn__monotonic_ms() - start);
    }
    close(fds[0]);
    if (n != 0) { /* no end of file: still in init */
        kill(pid, SIGKILL);
        snprintf(err, GN_ERR_LEN, "an app's init or fini did not return "
                                  "within %d s", TRIAL_TIMEOUT_MS / 1000);
    }
    return trial_status(pid, err);
}

/* Each worker needs a descriptor per connection: raise the soft open-files
 * limit to the hard one (as most distributions leave it at 1024), and say
 * so when even that is too low for worker_connections. */
static void raise_fd_limit(const struct gn_config *cfg)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)cfg->worker_connections + cfg->nbinds + 64;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        gn_log_warn("the open files limit (%llu) is below what "
                    "worker_connections = %d needs (%llu): raise it "
                    "(ulimit -n, LimitNOFILE=) or expect refused "
                    "connections",
                    (unsigned long long)rl.rlim_cur, cfg->worker_connections,
                    (unsigned long long)need);
}

/* The config file by absolute path, found before any chdir: what a
 * reload reads. Empty when there is none. */
static char reload_path[PATH_MAX];

static void remember_config_path(const struct gn_cli *cli)
{
    const char *path = cli->config;

    if (path == NULL && access(DEFAULT_CONFIG, F_OK) == 0)
        path = DEFAULT_CONFIG;
    if (path != NULL && realpath(path, reload_path) == NULL)
        snprintf(reload_path, sizeof(reload_path), "%s", path);
}

/*
 * systemd socket activation: the sockets it passed (LISTEN_FDS, for our
 * pid) replace the configured binds, now and at every reload. A socket
 * whose name (FileDescriptorName=, in LISTEN_FDNAMES) is the NAME of a
 * [stream:NAME] serves that stream instead of its bind (over TLS when its
 * configured bind is tls://); the others serve HTTP, over TLS when named
 * TLS_FD_NAME. After USR2 the old arbiter's sockets come the same way, in
 * GREENICORN_FDS: "FD" for HTTP, "FD:+tls" for HTTP over TLS, "FD:NAME"
 * for a stream's.
 */
#define MAX_ACTIVATED 64
/* The name of an HTTP socket that speaks TLS: no stream's (their names
 * have no '+'), and one systemd's FileDescriptorName= takes. */
#define TLS_FD_NAME "+tls"

static struct {
    int fd;
    char name[64]; /* "" for HTTP, or systemd's name for it */
} activated_fds[MAX_ACTIVATED];
static size_t nactivated;
static char activated[512]; /* the HTTP ones, as binds: "fd://3 fd://4" */
static const char *activated_by = "systemd socket activation";
static int upgraded; /* started by an old arbiter's USR2 */

static void add_activated(int fd, const char *name, size_t len)
{
    if (nactivated == MAX_ACTIVATED || fd < 0)
        return;
    activated_fds[nactivated].fd = fd;
    snprintf(activated_fds[nactivated].name,
             sizeof(activated_fds[nactivated].name), "%.*s", (int)len, name);
    nactivated++;
}

/* The instance's token for the worker-to-worker channel: the old
 * arbiter's after USR2 (INHERITED), else a new one. Only a USR2 passes
 * it: a token found in the environment otherwise (a greenicorn started
 * by another's app) would join two instances. */
static char peer_token_err;

static void take_peer_token(const char *inherited)
{
    if (gn__peer_token_init(inherited) != 0)
        peer_token_err = 1;
}

static void take_activated_sockets(void)
{
    const char *inherited = getenv(GN_ENV_FDS);
    char names[1024];
    const char *p = names;
    int n;

    /* Before gn__listen_fds drops it from the environment. */
    snprintf(names, sizeof(names), "%s",
             getenv("LISTEN_FDNAMES") ? getenv("LISTEN_FDNAMES") : "");
    n = gn__listen_fds();
    /* After USR2, the old arbiter's sockets, as it named them. */
    if (inherited != NULL && n <= 0) {
        for (p = inherited; *p; p += strcspn(p, " "), p += *p == ' ') {
            const char *colon = strchr(p, ':'), *end = p + strcspn(p, " ");

            if (colon != NULL && colon < end)
                add_activated(atoi(p), colon + 1, (size_t)(end - colon - 1));
            else
                add_activated(atoi(p), "", 0);
        }
        unsetenv(GN_ENV_FDS);
        take_peer_token(getenv(GN_ENV_PEER_TOKEN));
        activated_by = "sockets inherited from the old arbiter (USR2)";
        upgraded = 1;
        return;
    }
    for (int i = 0; i < n; i++) {
        size_t len = strcspn(p, ":");

        add_activated(GN_LISTEN_FDS_START + i, p, len);
        p += len + (p[len] == ':');
    }
}

/* After USR2, the socket of a stream the configuration no longer has:
 * closed (its clients are refused, rather than left in a backlog nobody
 * accepts from), and forgotten, so that no later reload takes whatever
 * reuses its number for it. */
static void drop_inherited(size_t i)
{
    gn_log_warn("the old arbiter's socket fd://%d of [stream:%s] is closed: "
                "the configuration has no [stream:%s]",
                activated_fds[i].fd, activated_fds[i].name,
                activated_fds[i].name);
    close(activated_fds[i].fd);
    activated_fds[i].fd = -1;
}

static int use_activated_sockets(struct gn_config *cfg, char *err)
{
    size_t len = 0;
    int rc;

    activated[0] = '\0';
    for (size_t i = 0; i < nactivated; i++) {
        if (activated_fds[i].fd < 0)
            continue; /* dropped below */
        int tls = strcmp(activated_fds[i].name, TLS_FD_NAME) == 0;

        rc = activated_fds[i].name[0] == '\0' || tls
                 ? 0
                 : gn__config_stream_adopt(cfg, activated_fds[i].name,
                                           activated_fds[i].fd);
        if (rc < 0) {
            snprintf(err, GN_ERR_LEN, "LISTEN_FDS: out of memory");
            return -1;
        }
        if (rc == 0 && upgraded && activated_fds[i].name[0] != '\0' && !tls) {
            drop_inherited(i);
            continue;
        }
        if (rc == 0 && len < sizeof(activated) - 24)
            len += (size_t)snprintf(activated + len, sizeof(activated) - len,
                                    "%s%sfd://%d", len ? " " : "",
                                    tls ? "tls://" : "", activated_fds[i].fd);
    }
    if (activated[0] == '\0')
        return 0; /* only streams' sockets: HTTP's binds stay */
    gn__binds_clear(cfg); /* not added to a -b: they replace every bind */
    return gn__config_set(cfg, "bind", activated, "LISTEN_FDS", err) ? -1 : 0;
}

static void tls_free(void *tls)
{
    gn__tls_free(tls);
}

/* TLS: the server context from CFG's [tls] settings, kept with CFG (a
 * reload that fails keeps the old config, and so the old certificate),
 * made before anything is bound so that a bad certificate or key refuses
 * the start. Nothing when no bind speaks TLS. */
static int tls_setup(struct gn_config *cfg, char *err)
{
    struct gn_tls_opts o = {
        .certfile = cfg->certfile,
        .keyfile = cfg->keyfile,
        .ca_certs = cfg->ca_certs,
        .cert_reqs = cfg->cert_reqs,
        .ciphers = cfg->ciphers,
        .ciphersuites = cfg->tls_ciphersuites,
        .min_version = cfg->tls_min_version,
        .handshake_ms = cfg->handshake_timeout * 1000LL,
    };
    struct gn_tls *t;
    size_t n;
    struct gn_bind *binds;

    if (cfg->certfile == NULL) {
        /* Checked with the config, but sockets inherited after USR2 or
         * from systemd (tls://fd://N) come after that check. */
        if ((binds = gn__config_listen_binds(cfg, &n)) == NULL) {
            snprintf(err, GN_ERR_LEN, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            if (binds[i].tls) {
                snprintf(err, GN_ERR_LEN, "bind %s: TLS needs a certfile",
                         binds[i].spec);
                free(binds);
                return -1;
            }
        }
        free(binds);
        return 0;
    }
    if (gn__tls_new(&o, &t, err) != 0)
        return -1;
    cfg->tls = t;
    cfg->tls_free = tls_free;
    return 0;
}

/* HUP: the configuration as a fresh start would build it. */
static struct gn_config *reconfigure(void *ctx, char *err)
{
    struct gn_cli again = *(const struct gn_cli *)ctx;
    const struct gn_cli *cli = &again;
    struct gn_config *cfg = gn__config_new();

    again.config = reload_path[0] ? reload_path : NULL;
    if (cfg == NULL) {
        snprintf(err, GN_ERR_LEN, "out of memory");
        return NULL;
    }
    if (configure(cfg, cli, err) != 0 || use_activated_sockets(cfg, err) ||
        tls_setup(cfg, err) != 0 || gn__process_setup(cfg, err) != 0 ||
        check_app(cfg, cli->app != NULL, err) != 0) {
        gn__config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* ---- USR2: exec the binary again --------------------------------------- */

/* How this process was started, for exec'ing the binary again: its path
 * (found now: a relative one breaks after chdir), its arguments and the
 * directory they are relative to. */
static struct {
    char exe[PATH_MAX];
    char cwd[PATH_MAX];
    char **argv;
} start_ctx;

static void remember_start(int argc, char **argv)
{
    /* A copy: setproctitle writes the title over where argv[0] was. */
    start_ctx.argv = calloc((size_t)argc + 1, sizeof(char *));
    for (int i = 0; start_ctx.argv && i < argc; i++)
        start_ctx.argv[i] = strdup(argv[i]);
    if (getcwd(start_ctx.cwd, sizeof(start_ctx.cwd)) == NULL)
        start_ctx.cwd[0] = '\0';
    if (strchr(argv[0], '/') == NULL ||
        realpath(argv[0], start_ctx.exe) == NULL)
        snprintf(start_ctx.exe, sizeof(start_ctx.exe), "%s", argv[0]);
}

/* In the child: the listeners survive exec, named in GN_ENV_FDS. */
static void pass_listeners(const struct gn_listener *ls, size_t nls)
{
    char fds[2048];
    size_t n = 0;

    for (size_t i = 0; i < nls && n < sizeof(fds) - 80; i++) {
        const char *name = ls[i].stream ? ls[i].stream
                           : ls[i].tls  ? TLS_FD_NAME
                                        : NULL;

        fcntl(ls[i].fd, F_SETFD, 0);
        n += (size_t)snprintf(fds + n, sizeof(fds) - n, "%s%d%s%.64s",
                              i ? " " : "", ls[i].fd, name ? ":" : "",
                              name ? name : "");
    }
    setenv(GN_ENV_FDS, fds, 1);
    setenv(GN_ENV_PEER_TOKEN, gn__peer_token(), 1);
}

static pid_t reexec(void *ctx, const struct gn_listener *ls, size_t nls)
{
    pid_t pid = gn__signals_fork();

    if (pid != 0)
        return pid < 0 ? -errno : pid;
    pass_listeners(ls, nls);
    gn__hook_run(GN_HOOK_PRE_EXEC);
    if (start_ctx.cwd[0] != '\0' && chdir(start_ctx.cwd) != 0)
        _exit(127);
    if (start_ctx.argv == NULL)
        _exit(127);
    if (strchr(start_ctx.exe, '/') != NULL)
        execv(start_ctx.exe, start_ctx.argv);
    else
        execvp(start_ctx.exe, start_ctx.argv);
    gn_log_error("USR2: cannot exec %s: %s", start_ctx.exe, strerror(errno));
    _exit(127);
}

static struct gn_arbiter_ops ops = {.reconfigure = reconfigure,
                                    .reexec = reexec};

/* preload_app: the apps, loaded and inited here; NULL otherwise, or
 * when one failed (the caller exits with GN_EXIT_BOOT, as a worker that
 * cannot boot makes the arbiter do). */
static int preload(const struct gn_config *cfg, struct gn_apps **apps,
                   char *err)
{
    *apps = NULL;
    if (!cfg->preload_app)
        return 0;
    *apps = gn__arbiter_preload(cfg, err);
    return *apps ? 0 : -1;
}

static void unload(struct gn_apps *apps)
{
    if (apps != NULL) {
        gn__apps_unload(apps);
        free(apps);
    }
}

/* Bind CFG's addresses, HTTP's and the streams'. */
static int open_listeners(const struct gn_config *cfg, struct gn_listener **ls,
                          size_t *nls, char *err)
{
    size_t n;
    struct gn_bind *binds = gn__config_listen_binds(cfg, &n);
    int rc;

    if (binds == NULL) {
        snprintf(err, GN_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    rc = gn__listeners_open(binds, n, cfg->backlog, cfg->reuse_port, ls, nls,
                            err);
    free(binds);
    if (rc == 0)
        gn__listeners_defer_accept(*ls, *nls, cfg->defer_accept);
    return rc;
}

/* Open the logs, preload, bind, and run the arbiter, which takes CFG
 * over. */
static int serve(struct gn_config *cfg, const struct gn_cli *cli, char *err)
{
    struct gn_listener *ls;
    struct gn_apps *apps;
    size_t nls;

    if (gn__log_open(cfg->errorlog, cfg->accesslog, cfg->loglevel, err,
                     GN_ERR_LEN) != 0) {
        gn__config_free(cfg);
        return fail(GN_EXIT_CONFIG, err);
    }
    if (gn__arbiter_syslog(cfg, err) != 0) {
        gn__config_free(cfg);
        return fail(GN_EXIT_CONFIG, err);
    }
    raise_fd_limit(cfg);
    /* Kernel TLS needs OpenSSL's own socket BIO; ours keeps patch_all's
     * interposed calls out of the worker's I/O. */
    if (cfg->tls != NULL)
        gn_log_info("TLS: %s, certificate %s; sendfile over TLS: reads and "
                    "writes (no kernel TLS)",
                    gn__tls_library(), cfg->certfile);
    /* gn_config_get works from a preloaded init too. */
    gn__hooks_set_server(getpid(), cfg, cfg->workers);
    /* Gunicorn loads a preloaded app before on_starting. */
    if (preload(cfg, &apps, err) != 0) {
        gn_log_error("preload_app: %s", err);
        gn__hooks_set_server(getpid(), NULL, 0);
        gn__config_free(cfg);
        return GN_EXIT_BOOT;
    }
    if (gn__hook_run(GN_HOOK_ON_STARTING) != 0) {
        unload(apps);
        gn__config_free(cfg);
        return fail(GN_EXIT_CONFIG, "the on_starting hook failed: not "
                                    "starting");
    }
    if (activated[0] != '\0')
        gn_log_info("%s: serving %s (bind ignored)", activated_by, activated);
    for (size_t i = 0; i < cfg->nstreams; i++)
        if (cfg->streams[i].bind.kind == GN_BIND_FD && nactivated > 0)
            gn_log_info("%s: [stream:%s] on %s", activated_by,
                        cfg->streams[i].name, cfg->streams[i].bind.spec);
    if (open_listeners(cfg, &ls, &nls, err) != 0) {
        gn_log_error("%s", err);
        unload(apps);
        gn__config_free(cfg);
        return GN_EXIT_CONFIG;
    }
    gn__process_chown(cfg, ls, nls);
    if (cfg->reuse_port && !gn__reuse_port_migrates())
        gn_log_warn("reuse_port = on: a worker that stops (a reload, a "
                    "replacement) resets the connections that reach its "
                    "socket while it closes; net.ipv4.tcp_migrate_req = 1 "
                    "(Linux 5.14+) moves them to another worker's");
    /* Detach only now, so that a bad address is still reported here.
     * After USR2 the old arbiter, a daemon already, is our parent and
     * must stay so: it watches us, and hands the pidfile over (as
     * Gunicorn's new arbiter does not daemonize either). */
    if (cfg->daemon && !upgraded && gn__process_daemonize(err) != 0) {
        gn_log_error("%s", err);
        gn__listeners_close(ls, nls, 1);
        unload(apps);
        gn__config_free(cfg);
        return GN_EXIT_CONFIG;
    }
    ops.ctx = (void *)cli;
    ops.upgraded = upgraded;
    ops.config_path = reload_path[0] ? reload_path : NULL;
    return gn__arbiter_run(cfg, ls, nls, apps, &ops);
}

/* From the loaded configuration to a running server, or the reason not.
 * CFG is consumed. */
static int start(struct gn_config *cfg, const struct gn_cli *cli, char *err)
{
    struct gn_hook_set *hooks = NULL;
    int status = configure(cfg, cli, err);

    if (status == 0 && use_activated_sockets(cfg, err) != 0)
        status = GN_EXIT_CONFIG;
    if (status == 0 && !cli->print_config && tls_setup(cfg, err) != 0)
        status = GN_EXIT_CONFIG;
    if (status == 0 && cli->print_config)
        gn__config_print(cfg, stdout);
    if (status == 0 && !cli->print_config && gn__process_setup(cfg, err) != 0)
        status = GN_EXIT_CONFIG;
    if (status == 0 && !cli->print_config)
        status = check_app(cfg, cli->app != NULL, err);
    if (status == 0 && cli->check_config && !cli->print_config)
        status = trial_init(cfg, err);
    if (status == 0 && !cli->print_config &&
        (hooks = gn__hooks_open(cfg, err)) == NULL)
        status = GN_EXIT_CONFIG;
    if (cli->check_config || cli->print_config)
        gn__hooks_discard(hooks);
    else
        gn__hooks_install(hooks);
    if (status == 0 && cli->check_config && !cli->print_config)
        printf("greenicorn: configuration%s%s OK\n", cfg->file ? " " : "",
               cfg->file ? cfg->file : "");
    if (status != 0 || cli->print_config || cli->check_config) {
        gn__config_free(cfg);
        return status ? fail(status, err) : 0;
    }
    return serve(cfg, cli, err);
}

int main(int argc, char **argv)
{
    struct gn_cli cli;
    struct gn_config *cfg;
    char err[GN_ERR_LEN];
    int status;

    /* `greenicorn ctl ...`: the control socket's client (an APP is a
     * PATH.so, never "ctl"). */
    if (argc > 1 && strcmp(argv[1], "ctl") == 0)
        return gn__ctl_main(argc - 1, argv + 1);
    if (gn__cli_parse(argc, argv, &cli, err) != 0) {
        gn__cli_free(&cli);
        return fail(GN_EXIT_USAGE, err);
    }
    if (cli.help)
        gn__cli_usage(stdout);
    else if (cli.version)
        printf("greenicorn %s (plugin ABI %d.%d)\n", gn_version(),
               GN_ABI_VERSION_MAJOR, GN_ABI_VERSION_MINOR);
    if (cli.help || cli.version) {
        gn__cli_free(&cli);
        return 0;
    }
    remember_start(argc, argv);
    remember_config_path(&cli);
    take_activated_sockets();
    if (gn__peer_token()[0] == '\0')
        take_peer_token(NULL);
    unsetenv(GN_ENV_PEER_TOKEN);
    if (peer_token_err)
        return fail(GN_EXIT_CONFIG, "no random bytes for the instance token");
    cfg = gn__config_new();
    if (cfg == NULL)
        return fail(GN_EXIT_CONFIG, "out of memory");
    status = start(cfg, &cli, err);
    gn__cli_free(&cli);
    return status;
}
