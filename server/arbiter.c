/*
 * The arbiter's main loop: keep `workers` workers alive, reap and replace
 * the ones that end, abort the ones whose heartbeat stops for `timeout`
 * seconds, and act on signals. Each worker gets a shared page holding its
 * heartbeat (monotonic milliseconds), written from its event loop, so a
 * worker stuck in a handler stops beating.
 *
 * A reload (HUP) starts a new generation: workers forked with the new
 * configuration, while the previous generation keeps serving until the
 * new one has booted, then stops gracefully. Capacity never drops. Until
 * then the previous configuration and hooks are kept: if a new worker
 * cannot boot (its app's init fails), the new generation is dropped and
 * the previous one goes on serving with them (Gunicorn halts instead).
 */
#include "server/arbiter.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/proctitle.h"
#include "core/statsd.h"
#include "core/systemd.h"
#include "net/tls.h"
#include "plugins/hooks.h"
#include "server/control.h"
#include "server/pidfile.h"
#include "server/process.h"
#include "server/reloader.h"
#include "server/metrics.h"
#include "server/scrape.h"
#include "server/signals.h"
#include "workers/balance.h"
#include "workers/worker.h"

#define TICK_MS 500          /* the main loop's longest sleep */
#define QUICK_DEATH_MS 1000  /* a worker dying this young is a crash loop */
#define BACKOFF_MAX_MS 30000 /* the longest wait between crash-loop starts */
#define ABORT_GRACE_MS 2000  /* SIGABRT to SIGKILL for a hung worker */
#define RELOAD_WAIT_MS 30000 /* the longest an old generation waits */
#define SETTLE_MS 300        /* `reload`: quiet time after a change */
#define GAUGE_MS 1000        /* statsd's workers gauge, at least this often */
#define DUMP_WAIT_MS 2000    /* `ctl dump`: the longest a worker may take */
#define DUMP_POLL_MS 20      /* ... checked this often meanwhile */
#define DUMP_MAX (32 << 20)  /* the most of one worker's listing we read */

struct slot {
    pid_t pid;
    int id;
    int age; /* the count of forks when it was forked */
    int generation;
    int64_t spawned_ms;
    int64_t aborted_ms; /* when SIGABRT was sent, or 0 */
    int retiring;       /* sent TERM (TTOU, reload): not counted */
    int killed;         /* sent SIGKILL at the end of graceful_timeout */
    int replacing;      /* asked to retire; TERM once its replacement is up */
    uint32_t dump_seq;  /* `ctl dump`: the dump_asked it must answer, or 0 */
    int balance_slot;   /* its slot on the balance board, or -1 */
    struct gn_heartbeat *heartbeat;
};

struct arbiter {
    struct gn_config *cfg;
    /* preload_app: the apps loaded and inited here, and the configuration
     * they were loaded from (they point into it; it may be an older one
     * than CFG, as a HUP keeps preloaded apps). NULL without preload. */
    struct gn_apps *apps;
    struct gn_config *apps_cfg;
    struct gn_listener *ls;
    size_t nls;
    const struct gn_arbiter_ops *ops;
    pid_t reexec_pid; /* the new arbiter started by USR2, or 0 */
    struct slot *slots;
    size_t nslots, cap;
    /* The workers' shared count of their connections, which spreads new
     * ones over them (workers/balance.h); NULL: none could be mapped. */
    struct gn_balance *balance;
    int target;               /* workers wanted */
    int forks;                /* workers forked so far: their ages */
    int generation;           /* bumped by each reload */
    int ready_generation;     /* the last one systemd was told is ready */
    int64_t reloaded_ms;      /* when the generation began */
    int64_t spawn_not_before; /* back-off after a crash at start */
    int quick_deaths;         /* crashes at start in a row */
    int stop;                 /* 0, or the signal that asked to stop */
    int exit_status;
    /* A reload in progress: the configuration and hooks the previous
     * generation runs, kept until the new generation is up. NULL when
     * none is pending. */
    struct gn_config *prev_cfg;
    struct gn_hook_set *prev_hooks;
    int prev_generation;
    struct gn_reloader *reloader; /* `reload`: the watched files, or NULL */
    int64_t changed_ms;           /* when one last changed, or 0 */
    /* Metrics: the counters of the workers gone, the /metrics endpoint
     * (NULL without metrics_bind), and statsd's last workers gauge. */
    struct gn_metrics_totals totals;
    struct gn_scrape *scrape;
    int64_t gauge_ms;
    int gauge_sent;
    /* control_socket: `greenicorn ctl`'s socket, or NULL. */
    struct gn_control *ctl;
    int ctl_failed_generation; /* could not move it in this one; -1 */
    int64_t started_ms;
    uint64_t gone_requests, gone_accepted; /* totals of workers reaped */
    int exits;                             /* workers reaped */
    /* A `ctl dump` in progress: its client, the listings so far, and
     * when it gives up on the workers that have not answered. */
    struct gn_control_client *dump_client;
    json_t *dump_out;
    int64_t dump_deadline;
    char dump_dir[88]; /* made at the first dump; "" before */
};

/* ---- workers ---------------------------------------------------------- */

/* Whether S counts toward the target: this generation's, not retiring. */
static int counts(const struct arbiter *a, const struct slot *s)
{
    return s->generation == a->generation && !s->retiring;
}

static int live_workers(const struct arbiter *a)
{
    int n = 0;

    for (size_t i = 0; i < a->nslots; i++)
        n += counts(a, &a->slots[i]);
    return n;
}

static int free_id(const struct arbiter *a)
{
    for (int id = 1;; id++) {
        size_t i = 0;

        while (i < a->nslots &&
               (a->slots[i].id != id || !counts(a, &a->slots[i])))
            i++;
        if (i == a->nslots)
            return id;
    }
}

static void run_child(struct arbiter *a, int id, struct gn_heartbeat *hb,
                      int balance_slot, pid_t arbiter)
{
    struct gn_worker_spec spec = {.id = id,
                                  .arbiter = arbiter,
                                  .age = a->forks,
                                  .cfg = a->cfg,
                                  .ls = a->ls,
                                  .nls = a->nls,
                                  .heartbeat = hb,
                                  .balance = a->balance,
                                  .balance_slot = balance_slot,
                                  .preloaded = a->apps};

    gn__scrape_forked(a->scrape);
    gn__control_forget(a->ctl); /* the arbiter's alone */
    exit(gn__worker_run(&spec));
}

/* A hook about worker S (pre_fork, child_exit). */
static void worker_hook(enum gn_hook_id id, const struct slot *s, int status)
{
    gn_hook_args_t args;

    if (!gn__hook_configured(id))
        return;
    gn__hook_args_init(&args, id);
    args.worker_id = s->id;
    args.worker_age = s->age;
    args.worker_pid = s->pid;
    args.status = status;
    gn__hook_call(id, &args);
}

/* The number of workers wanted becomes N (nworkers_changed). */
static void set_target(struct arbiter *a, int n)
{
    gn_hook_args_t args;
    int old = a->target;

    a->target = n;
    gn__hooks_set_server(getpid(), a->cfg, n);
    if (n == old || !gn__hook_configured(GN_HOOK_NWORKERS_CHANGED))
        return;
    gn__hook_args_init(&args, GN_HOOK_NWORKERS_CHANGED);
    args.old_workers = old;
    gn__hook_call(GN_HOOK_NWORKERS_CHANGED, &args);
}

/* A worker's heartbeat page: anonymous shared memory, or with
 * worker_tmp_dir (Gunicorn's) a file there, unlinked at once, mapped. NULL
 * with errno set. */
static struct gn_heartbeat *map_heartbeat(const struct gn_config *cfg)
{
    char path[4096];
    void *hb;
    int fd;

    if (cfg->worker_tmp_dir == NULL) {
        hb = mmap(NULL, sizeof(struct gn_heartbeat), PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        return hb == MAP_FAILED ? NULL : hb;
    }
    snprintf(path, sizeof(path), "%s/greenicorn-heartbeat-XXXXXX",
             cfg->worker_tmp_dir);
    fd = mkstemp(path);
    if (fd < 0) {
        gn_log_error("worker_tmp_dir: cannot create %s: %s", path,
                     strerror(errno));
        return NULL;
    }
    unlink(path);
    hb = ftruncate(fd, sizeof(struct gn_heartbeat)) == 0
             ? mmap(NULL, sizeof(struct gn_heartbeat), PROT_READ | PROT_WRITE,
                    MAP_SHARED, fd, 0)
             : MAP_FAILED;
    close(fd);
    return hb == MAP_FAILED ? NULL : hb;
}

static int spawn_worker(struct arbiter *a)
{
    struct slot *s;
    struct gn_heartbeat *hb;
    int id = free_id(a), bslot;
    pid_t pid, self = getpid();

    if (a->nslots == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        struct slot *grown = realloc(a->slots, cap * sizeof(*grown));

        if (grown == NULL)
            return -ENOMEM;
        a->slots = grown;
        a->cap = cap;
    }
    hb = map_heartbeat(a->cfg);
    if (hb == NULL)
        return -errno;
    hb->beat_ms = gn__monotonic_ms();
    hb->booted = 0;
    hb->retire_ms = 0;
    hb->stack_overflow = 0;
    hb->boot_error[0] = '\0';
    a->forks++;
    bslot = gn__balance_take(a->balance);
    worker_hook(GN_HOOK_PRE_FORK,
                &(struct slot){.id = id, .age = a->forks, .pid = 0}, 0);
    pid = gn__signals_fork();
    if (pid == 0)
        run_child(a, id, hb, bslot, self); /* our pid, read before the fork */
    if (pid < 0) {
        int rc = -errno;

        gn_log_error("cannot fork worker %d: %s", id, strerror(errno));
        gn__balance_give_back(a->balance, bslot);
        munmap(hb, sizeof(*hb));
        return rc;
    }
    s = &a->slots[a->nslots++];
    *s = (struct slot){.pid = pid,
                       .id = id,
                       .age = a->forks,
                       .generation = a->generation,
                       .balance_slot = bslot,
                       .heartbeat = hb,
                       .spawned_ms = gn__monotonic_ms()};
    return 0;
}

static void signal_workers(struct arbiter *a, int signo)
{
    for (size_t i = 0; i < a->nslots; i++)
        kill(a->slots[i].pid, signo);
}

/* TTOU: retire the oldest surplus worker gracefully. */
static void retire_oldest(struct arbiter *a)
{
    struct slot *oldest = NULL;

    for (size_t i = 0; i < a->nslots; i++)
        if (counts(a, &a->slots[i]) &&
            (!oldest || a->slots[i].spawned_ms < oldest->spawned_ms))
            oldest = &a->slots[i];
    if (oldest == NULL)
        return;
    oldest->retiring = 1;
    kill(oldest->pid, SIGTERM);
}

static void commit_reload(struct arbiter *a);

/* After a reload: once the new generation is up (every worker booted),
 * or after RELOAD_WAIT_MS whatever, the previous one stops gracefully, and
 * its configuration is dropped. */
static void retire_previous_generation(struct arbiter *a)
{
    int booted = 0, waiting = 0;

    for (size_t i = 0; i < a->nslots; i++) {
        const struct slot *s = &a->slots[i];

        booted += counts(a, s) && s->heartbeat->booted;
        waiting += s->generation != a->generation && !s->retiring;
    }
    if (booted < a->target &&
        gn__monotonic_ms() - a->reloaded_ms < RELOAD_WAIT_MS)
        return;
    commit_reload(a);
    if (waiting == 0)
        return;
    gn_log_info("reload: %d new worker(s) up, stopping %d old one(s)", booted,
                waiting);
    for (size_t i = 0; i < a->nslots; i++) {
        struct slot *s = &a->slots[i];

        if (s->generation != a->generation && !s->retiring) {
            s->retiring = 1;
            kill(s->pid, SIGTERM);
        }
    }
}

/* Type=notify: READY=1 once every worker of a generation has booted (a
 * no-op without NOTIFY_SOCKET). */
static void notify_ready(struct arbiter *a)
{
    int booted = 0;

    if (a->ready_generation == a->generation)
        return;
    for (size_t i = 0; i < a->nslots; i++)
        booted += counts(a, &a->slots[i]) && a->slots[i].heartbeat->booted;
    if (booted < a->target)
        return;
    /* After USR2, systemd's main pid (the old arbiter) is about to go:
     * we are the service now (the unit needs NotifyAccess=all). */
    if (a->ops->upgraded && a->ready_generation < 0)
        gn__notify("MAINPID=%d\nREADY=1\nSTATUS=serving with %d worker(s)",
                   (int)getpid(), booted);
    else
        gn__notify("READY=1\nSTATUS=serving with %d worker(s)", booted);
    a->ready_generation = a->generation;
}

/* max_requests, staggered: one worker at a time that asked to retire
 * stops counting (so a replacement is spawned), and gets TERM once every
 * counted worker has booted. */
static void grant_retirement(struct arbiter *a)
{
    struct slot *pending = NULL, *next = NULL;
    int booted = 0;

    for (size_t i = 0; i < a->nslots; i++) {
        if (a->slots[i].replacing)
            pending = &a->slots[i];
        booted += counts(a, &a->slots[i]) && a->slots[i].heartbeat->booted;
    }
    if (pending != NULL && booted >= a->target) {
        kill(pending->pid, SIGTERM);
        pending->replacing = 0;
        return;
    }
    /* The worker that asked first goes first. */
    for (size_t i = 0; pending == NULL && i < a->nslots; i++) {
        struct slot *s = &a->slots[i];

        if (counts(a, s) && s->heartbeat->retire_ms &&
            (next == NULL ||
             s->heartbeat->retire_ms < next->heartbeat->retire_ms))
            next = s;
    }
    if (next == NULL)
        return;
    if (next->heartbeat->stats.retire_memory)
        gn_log_info("worker %d (pid %d) uses %.1f MiB (RSS), past "
                    "max_worker_memory (%d MiB): starting its replacement",
                    next->id, (int)next->pid,
                    (double)next->heartbeat->stats.rss_kb / 1024,
                    a->cfg->max_worker_memory);
    else
        gn_log_info("worker %d (pid %d) reached max_requests: starting its "
                    "replacement",
                    next->id, (int)next->pid);
    next->retiring = next->replacing = 1;
}

static void manage_workers(struct arbiter *a)
{
    if (a->stop)
        return;
    grant_retirement(a);
    while (live_workers(a) > a->target)
        retire_oldest(a);
    while (live_workers(a) < a->target &&
           gn__monotonic_ms() >= a->spawn_not_before)
        if (spawn_worker(a) != 0)
            break;
    retire_previous_generation(a);
    notify_ready(a);
}

/* ---- metrics ---------------------------------------------------------- */

/* /metrics' text, for the endpoint: the live workers and the totals. */
static char *render_metrics(void *arg, size_t *len)
{
    struct arbiter *a = arg;
    struct gn_metrics_worker *w = calloc(a->nslots + 1, sizeof(*w));
    char *text;

    if (w == NULL)
        return NULL;
    for (size_t i = 0; i < a->nslots; i++)
        w[i] = (struct gn_metrics_worker){.id = a->slots[i].id,
                                          .pid = a->slots[i].pid,
                                          .hb = a->slots[i].heartbeat};
    text = gn__metrics_render(&a->totals, w, a->nslots, live_workers(a), a->ls,
                              a->nls, len);
    free(w);
    return text;
}

/* The endpoint at the configuration's metrics_bind, opened (again) when
 * it changed or is not open yet: an address in use (the old arbiter's,
 * during USR2) is tried again each tick, and said once. */
static void open_scrape(struct arbiter *a)
{
    static char failed[GN_ERR_LEN];
    const char *want = a->cfg->metrics_bind;
    char err[GN_ERR_LEN];
    struct gn_scrape *s;

    if (a->scrape != NULL &&
        (want == NULL || strcmp(gn__scrape_addr(a->scrape), want) != 0)) {
        gn__scrape_close(a->scrape);
        a->scrape = NULL;
    }
    if (want == NULL || a->scrape != NULL)
        return;
    s = gn__scrape_open(want, render_metrics, a, err);
    if (s == NULL) {
        if (strcmp(failed, err) != 0)
            gn_log_error("%s (trying again each second)", err);
        snprintf(failed, sizeof(failed), "%s", err);
        return;
    }
    failed[0] = '\0';
    a->scrape = s;
    gn_log_info("metrics at: http://%s/metrics (%d)", want, (int)getpid());
}

/* statsd as the configuration says (the workers forked from now on
 * inherit it): the host is resolved here, once. */
static void open_statsd(const struct gn_config *cfg)
{
    char err[GN_ERR_LEN];

    if (gn__statsd_open(cfg->statsd_host, cfg->statsd_prefix,
                        cfg->dogstatsd_tags, err, sizeof(err)) != 0)
        gn_log_error("%s: statsd is off", err);
    else if (cfg->statsd_host != NULL)
        gn_log_info("statsd: sending to %s", cfg->statsd_host);
}

/* Each turn: statsd's workers gauge when it changed or GAUGE_MS went by,
 * and what the turn buffered (the logs' counters too) in one datagram. */
static void send_statsd(struct arbiter *a)
{
    int n = live_workers(a);
    int64_t now = gn__monotonic_ms();

    if (!gn__statsd_enabled())
        return;
    if (n != a->gauge_sent || now - a->gauge_ms >= GAUGE_MS) {
        gn__statsd_gauge("workers", n);
        a->gauge_sent = n;
        a->gauge_ms = now;
    }
    gn__statsd_flush();
}

/* ---- binary upgrade (USR2) -------------------------------------------- */

/* "PIDFILE.oldbin", Gunicorn's and nginx's name for the old arbiter's. */
static void oldbin_path(const struct arbiter *a, char *out, size_t len)
{
    snprintf(out, len, "%s.oldbin", a->cfg->pidfile);
}

/* USR2: start a new arbiter from the binary on disk, handing it our
 * listening sockets. Both serve until the old one is told TERM; if the
 * new one fails, the old one goes on as if nothing happened. */
static void upgrade(struct arbiter *a)
{
    char old[4096];
    pid_t pid;

    if (a->reexec_pid) {
        gn_log_warn("SIGUSR2: a new arbiter (pid %d) is already running",
                    (int)a->reexec_pid);
        return;
    }
    /* The new arbiter writes the pidfile: move ours out of its way. */
    if (a->cfg->pidfile) {
        oldbin_path(a, old, sizeof(old));
        rename(a->cfg->pidfile, old);
    }
    pid = a->ops->reexec(a->ops->ctx, a->ls, a->nls);
    if (pid < 0) {
        gn_log_error("SIGUSR2: cannot start a new arbiter: %s",
                     strerror((int)-pid));
        if (a->cfg->pidfile)
            rename(old, a->cfg->pidfile);
        return;
    }
    a->reexec_pid = pid;
    gn_log_info("SIGUSR2: new arbiter started (pid %d); send TERM to this "
                "one (pid %d) once it serves",
                (int)pid, (int)getpid());
}

/* The new arbiter ended while we still run: it failed, we carry on. */
static void upgrade_failed(struct arbiter *a, int status)
{
    char old[4096], err[GN_ERR_LEN];

    gn_log_error("the new arbiter (pid %d) exited (%s %d); this one (pid "
                 "%d) keeps serving",
                 (int)a->reexec_pid, WIFSIGNALED(status) ? "signal" : "status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                 (int)getpid());
    a->reexec_pid = 0;
    if (a->cfg->pidfile) {
        oldbin_path(a, old, sizeof(old));
        rename(old, a->cfg->pidfile);
    }
    /* It may have taken the control socket's path over: take it back. */
    if (a->ctl != NULL && gn__control_rebind(a->ctl, err) != 0)
        gn_log_error("%s", err);
}

/* At exit: the pidfile, or the .oldbin one after USR2, if still ours. */
static void remove_pidfiles(const struct arbiter *a)
{
    char old[4096];

    if (a->cfg->pidfile == NULL)
        return;
    gn__pidfile_remove(a->cfg->pidfile, getpid());
    oldbin_path(a, old, sizeof(old));
    gn__pidfile_remove(old, getpid());
}

/* ---- reaping ---------------------------------------------------------- */

static struct slot *find_slot(struct arbiter *a, pid_t pid)
{
    for (size_t i = 0; i < a->nslots; i++)
        if (a->slots[i].pid == pid)
            return &a->slots[i];
    return NULL;
}

/* Why a worker killed by SIGNO died, as far as we know: the watchdog,
 * a stack overflow, a plugin's crash, or a SIGKILL we did not send (the
 * kernel's OOM killer sends those). Gunicorn's users ask for exact
 * reasons. */
static const char *death_cause(const struct arbiter *a, const struct slot *s,
                               int signo, char *out, size_t len)
{
    if (s->heartbeat->stack_overflow) {
        snprintf(out, len,
                 ": a coroutine overflowed its stack (stack_size = %d "
                 "KiB: raise it, or move large buffers to the heap)",
                 a->cfg->stack_size);
        return out;
    }
    if (s->aborted_ms != 0)
        return ": the watchdog aborted it (timeout)";
    if (s->killed)
        return ": still running when graceful_timeout ended";
    switch (signo) {
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE:
    case SIGABRT: return ": it crashed (the app or a plugin)";
    case SIGKILL:
        return ": killed from outside (the kernel's OOM killer, or kill -9)";
    default: return "";
    }
}

/* " while serving \"GET /x\"", from the worker's heartbeat page, or "". */
static const char *serving(const struct slot *s, char *out, size_t len)
{
    char what[sizeof(s->heartbeat->serving)];

    for (size_t i = 0; i < sizeof(what); i++)
        what[i] = s->heartbeat->serving[i];
    what[sizeof(what) - 1] = '\0';
    if (what[0] == '\0')
        return "";
    snprintf(out, len, " while serving \"%s\"", what);
    return out;
}

/* Why S failed to boot, from its heartbeat page. */
static const char *boot_error(const struct slot *s, char *out, size_t len)
{
    for (size_t i = 0; i + 1 < len && i < sizeof(s->heartbeat->boot_error);
         i++)
        out[i] = s->heartbeat->boot_error[i];
    out[len - 1] = '\0';
    return out[0] ? out : "see the worker's line above";
}

static void log_exit(struct arbiter *a, const struct slot *s, int status)
{
    const char *then = a->stop || !counts(a, s) ? "" : ", respawning";
    char req[200], cause[160], why[sizeof(s->heartbeat->boot_error)];

    if (WIFSIGNALED(status))
        gn_log_error("worker %d (pid %d) exited on signal %d (%s)%s%s%s", s->id,
                     (int)s->pid, WTERMSIG(status),
                     gn__signal_name(WTERMSIG(status)),
                     death_cause(a, s, WTERMSIG(status), cause, sizeof(cause)),
                     serving(s, req, sizeof(req)), then);
    else if (WEXITSTATUS(status) == GN_EXIT_BOOT_ERROR)
        gn_log_error("worker %d (pid %d) failed to boot: %s", s->id,
                     (int)s->pid, boot_error(s, why, sizeof(why)));
    else if (WEXITSTATUS(status) != 0)
        gn_log_error("worker %d (pid %d) exited with status %d%s", s->id,
                     (int)s->pid, WEXITSTATUS(status), then);
    else
        gn_log_info("worker %d (pid %d) exited%s", s->id, (int)s->pid, then);
}

static void dump_missed(struct arbiter *a, struct slot *s, const char *why);

static void forget_slot(struct arbiter *a, struct slot *s)
{
    if (s->dump_seq != 0)
        dump_missed(a, s, "it exited before answering");
    a->gone_requests += s->heartbeat->stats.requests;
    a->gone_accepted += s->heartbeat->stats.accepted;
    a->exits++;
    gn__balance_give_back(a->balance, s->balance_slot);
    munmap(s->heartbeat, sizeof(*s->heartbeat));
    *s = a->slots[--a->nslots];
}

/* A worker crashed right after starting: wait before the next start,
 * doubling each time it happens again (1 s, 2 s, 4 s... up to 30 s), and
 * say so, rather than fork in a tight loop. */
static void back_off(struct arbiter *a)
{
    int64_t wait = QUICK_DEATH_MS;

    a->quick_deaths++;
    for (int i = 1; i < a->quick_deaths && wait < BACKOFF_MAX_MS; i++)
        wait *= 2;
    if (wait > BACKOFF_MAX_MS)
        wait = BACKOFF_MAX_MS;
    a->spawn_not_before = gn__monotonic_ms() + wait;
    if (a->quick_deaths > 1)
        gn_log_error("workers keep crashing at start (%d in a row): next "
                     "start in %lld ms",
                     a->quick_deaths, (long long)wait);
}

static void roll_back(struct arbiter *a, const struct slot *failed,
                      const char *why);

/* Whether the previous generation of a pending reload still serves. */
static int previous_serves(const struct arbiter *a)
{
    for (size_t i = 0; a->prev_cfg != NULL && i < a->nslots; i++)
        if (a->slots[i].generation == a->prev_generation &&
            !a->slots[i].retiring)
            return 1;
    return 0;
}

/* Why S, which ended with STATUS before it booted, did. */
static const char *boot_death(const struct slot *s, int status, char *out,
                              size_t len)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == GN_EXIT_BOOT_ERROR)
        return boot_error(s, out, len);
    if (WIFSIGNALED(status))
        snprintf(out, len, "it died on signal %d (%s) while booting",
                 WTERMSIG(status), gn__signal_name(WTERMSIG(status)));
    else
        snprintf(out, len, "it exited with status %d while booting",
                 WEXITSTATUS(status));
    return out;
}

/* Worker S, counted, ended with STATUS before it booted. After a reload
 * whose previous generation still serves, that one goes on. Else a worker
 * that failed to boot stops the server, as Gunicorn's does (status 3): a
 * respawn would fail the same way; one that crashed is respawned, with
 * back-off. */
static void boot_failed(struct arbiter *a, const struct slot *s, int status)
{
    char why[sizeof(s->heartbeat->boot_error)];

    if (s->generation != a->prev_generation && previous_serves(a)) {
        roll_back(a, s, boot_death(s, status, why, sizeof(why)));
        return;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != GN_EXIT_BOOT_ERROR)
        return;
    gn_log_error("a worker cannot boot: stopping");
    a->stop = SIGTERM;
    a->exit_status = GN_EXIT_BOOT;
}

/* Why S, which ended with STATUS, is replaced (a GN_RESTART_*), or -1
 * when it is not a restart (a stop, a reload, TTOU). */
static int restart_reason(const struct arbiter *a, const struct slot *s,
                          int status)
{
    if (a->stop)
        return -1;
    if (s->aborted_ms != 0)
        return GN_RESTART_WATCHDOG;
    if (s->retiring && s->heartbeat->retire_ms != 0)
        return s->heartbeat->stats.retire_memory ? GN_RESTART_MEMORY
                                                 : GN_RESTART_MAX_REQUESTS;
    if (s->killed)
        return -1;
    if (WIFSIGNALED(status) ||
        (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != GN_EXIT_BOOT_ERROR))
        return GN_RESTART_CRASH;
    return -1;
}

/* A worker ended: its counters go to the totals, so none goes down. */
static void count_exit(struct arbiter *a, const struct slot *s, int status)
{
    int why = restart_reason(a, s, status);

    gn__metrics_add(&a->totals, &s->heartbeat->stats);
    if (why >= 0)
        a->totals.restarts[why]++;
}

static void reap_one(struct arbiter *a, pid_t pid, int status)
{
    struct slot *s = find_slot(a, pid);
    int crashed;

    if (pid == a->reexec_pid)
        upgrade_failed(a, status);
    if (s == NULL)
        return;
    log_exit(a, s, status);
    worker_hook(GN_HOOK_CHILD_EXIT, s, status);
    crashed = WIFSIGNALED(status) || WEXITSTATUS(status) != 0;
    if (crashed && gn__monotonic_ms() - s->spawned_ms < QUICK_DEATH_MS)
        back_off(a);
    else if (!crashed ||
             gn__monotonic_ms() - s->spawned_ms > 10 * QUICK_DEATH_MS)
        a->quick_deaths = 0; /* it ran a while: the loop is over */
    if (!a->stop && counts(a, s) && !s->heartbeat->booted)
        boot_failed(a, s, status);
    count_exit(a, s, status);
    forget_slot(a, s);
}

static void reap_workers(struct arbiter *a)
{
    pid_t pid;
    int status;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        reap_one(a, pid, status);
}

/* ---- the watchdog ----------------------------------------------------- */

static void murder_silent_workers(struct arbiter *a)
{
    int64_t now = gn__monotonic_ms(), limit = a->cfg->timeout * 1000LL;
    char req[200];

    if (a->cfg->timeout == 0)
        return;
    for (size_t i = 0; i < a->nslots; i++) {
        struct slot *s = &a->slots[i];
        int64_t silent = now - s->heartbeat->beat_ms;

        if (silent <= limit)
            continue;
        if (s->aborted_ms == 0) {
            gn_log_critical("worker %d (pid %d) silent for %lld ms "
                            "(timeout %d s)%s: aborting it",
                            s->id, (int)s->pid, (long long)silent,
                            a->cfg->timeout, serving(s, req, sizeof(req)));
            kill(s->pid, SIGABRT);
            s->aborted_ms = now;
        } else if (now - s->aborted_ms > ABORT_GRACE_MS) {
            kill(s->pid, SIGKILL);
        }
    }
}

/* ---- signals and the loop --------------------------------------------- */

/* Until a signal, a watched file's change, a scraper's turn, or
 * TIMEOUT_MS; meanwhile the control socket's clients are served. */
static void wait_for_signal(struct arbiter *a, int timeout_ms)
{
    struct pollfd pfd[2 + GN_CONTROL_POLLFDS + 16] = {
        {.fd = gn__signals_fd(), .events = POLLIN},
        {.fd = -1, .events = POLLIN}};
    size_t nctl = 0, n;
    int ctl_ms;

    if (a->reloader != NULL)
        pfd[1].fd = gn__reloader_fd(a->reloader);
    if (a->ctl != NULL) {
        nctl = gn__control_pollfds(a->ctl, pfd + 2);
        ctl_ms = gn__control_timeout(a->ctl);
        if (ctl_ms >= 0 && ctl_ms < timeout_ms)
            timeout_ms = ctl_ms;
    }
    n = 2 + nctl;
    n += gn__scrape_pollfds(a->scrape, pfd + n, 16);
    if (a->dump_client != NULL && timeout_ms > DUMP_POLL_MS)
        timeout_ms = DUMP_POLL_MS;
    if (poll(pfd, n, timeout_ms) >= 0 && a->ctl != NULL)
        gn__control_run(a->ctl, pfd + 2, nctl);
}

/* ---- reload (the setting) --------------------------------------------- */

/* Watch the running configuration's files, if it asks to. */
static void watch_files(struct arbiter *a)
{
    char err[GN_ERR_LEN];

    gn__reloader_free(a->reloader);
    a->reloader = NULL;
    a->changed_ms = 0;
    if (!a->cfg->reload)
        return;
    a->reloader = gn__reloader_new(a->cfg, a->ops->config_path, err);
    if (a->reloader == NULL)
        gn_log_error("%s", err);
    else if (a->cfg->preload_app)
        gn_log_warn("reload: preload_app keeps the apps loaded at start; "
                    "a changed app .so is loaded by USR2 or a restart");
}

static void reload(struct arbiter *a, const char *why);

/* A watched file changed: reload once they have been quiet for
 * SETTLE_MS (a build writes several times). */
static void reload_on_change(struct arbiter *a)
{
    const char *path;

    if (a->reloader == NULL)
        return;
    path = gn__reloader_changed(a->reloader);
    if (path != NULL) {
        if (a->changed_ms == 0)
            gn_log_info("reload: %s changed", path);
        a->changed_ms = gn__monotonic_ms();
    }
    if (a->changed_ms != 0 &&
        gn__monotonic_ms() - a->changed_ms >= SETTLE_MS) {
        a->changed_ms = 0;
        reload(a, "reload");
    }
}

static void log_listeners(const struct arbiter *a)
{
    for (size_t i = 0; i < a->nls; i++)
        if (a->ls[i].stream != NULL)
            gn_log_info("listening at: %s for [stream:%s]%s (%d)",
                        a->ls[i].name, a->ls[i].stream,
                        a->ls[i].tls ? " over TLS" : "", (int)getpid());
        else
            gn_log_info("listening at: %s%s%s (%d)",
                        strncmp(a->ls[i].name, "unix:", 5) == 0 ? ""
                        : a->ls[i].tls                          ? "https://"
                                                                : "http://",
                        a->ls[i].name,
                        a->ls[i].tls && a->ls[i].name[0] == 'u' ? " (TLS)" : "",
                        (int)getpid());
}

/* A reload may name another pidfile: write it, drop the old one. */
static void swap_pidfile(const struct gn_config *old,
                         const struct gn_config *cfg)
{
    char err[GN_ERR_LEN];

    if (old->pidfile && (!cfg->pidfile || strcmp(old->pidfile, cfg->pidfile)))
        gn__pidfile_remove(old->pidfile, getpid());
    if (cfg->pidfile && gn__pidfile_write(cfg->pidfile, getpid(), err) != 0)
        gn_log_error("%s", err);
}

static void keep_running(const char *why)
{
    gn_log_error("reload failed, keeping the running configuration: %s", why);
    gn__notify("READY=1");
}

/* ---- preload_app ------------------------------------------------------ */

/* Load and init CFG's apps here. NULL (with ERR) when one fails. */
struct gn_apps *gn__arbiter_preload(const struct gn_config *cfg,
                                    char err[GN_ERR_LEN])
{
    struct gn_apps *apps = calloc(1, sizeof(*apps));
    char where[128];

    if (apps == NULL) {
        snprintf(err, GN_ERR_LEN, "out of memory");
        return NULL;
    }
    gn__config_where(cfg, "module", where, sizeof(where));
    if (gn__apps_load(apps, cfg, where, err) != 0) {
        free(apps);
        return NULL;
    }
    if (gn__apps_init(apps, err) != 0) {
        gn__apps_unload(apps);
        free(apps);
        return NULL;
    }
    return apps;
}

/* Free CFG unless it is still the running configuration, the one the
 * preloaded apps point into, or a pending reload's previous one. */
static void release_config(struct arbiter *a, struct gn_config *cfg)
{
    if (cfg != NULL && cfg != a->cfg && cfg != a->apps_cfg &&
        cfg != a->prev_cfg)
        gn__config_free(cfg);
}

/* Run the preloaded apps' fini here and drop them (and their config,
 * unless still in use). */
static void drop_preloaded(struct arbiter *a)
{
    struct gn_config *cfg = a->apps_cfg;

    if (a->apps == NULL)
        return;
    gn__apps_unload(a->apps);
    free(a->apps);
    a->apps = NULL;
    a->apps_cfg = NULL;
    release_config(a, cfg);
}

/* The running configuration is replaced by CFG: the old one is freed
 * unless still in use. */
static void replace_config(struct arbiter *a, struct gn_config *cfg)
{
    struct gn_config *old = a->cfg;

    a->cfg = cfg;
    release_config(a, old);
}

/* A reload switches to CFG and HOOKS. The first of a row keeps what the
 * running generation uses, for a roll-back; a reload while one is still
 * pending drops the pending one's (its workers have their own copies). */
static void switch_config(struct arbiter *a, struct gn_config *cfg,
                          struct gn_hook_set *hooks)
{
    if (a->prev_cfg != NULL) {
        gn__hooks_install(hooks);
        replace_config(a, cfg);
        return;
    }
    a->prev_hooks = gn__hooks_swap(hooks);
    a->prev_cfg = a->cfg;
    a->prev_generation = a->generation;
    a->cfg = cfg;
}

/* The new generation is up: the previous configuration goes. */
static void commit_reload(struct arbiter *a)
{
    struct gn_config *old = a->prev_cfg;

    if (old == NULL)
        return;
    a->prev_cfg = NULL;
    release_config(a, old);
    gn__hooks_discard(a->prev_hooks);
    a->prev_hooks = NULL;
}

int gn__arbiter_syslog(const struct gn_config *cfg, char *err)
{
    return gn__log_syslog(
        cfg->syslog ? cfg->syslog_addr : NULL, cfg->syslog_facility,
        cfg->syslog_prefix ? cfg->syslog_prefix : "greenicorn", err);
}

/* The logs of CFG, or the reason in the log. */
static void open_logs(const struct gn_config *cfg)
{
    char err[GN_ERR_LEN];

    if (gn__log_open(cfg->errorlog, cfg->accesslog, cfg->loglevel, err,
                     sizeof(err)) != 0 ||
        gn__arbiter_syslog(cfg, err) != 0)
        gn_log_error("%s", err);
}

static void swap_pidfile(const struct gn_config *old,
                         const struct gn_config *cfg);

/* A worker of the new generation FAILED to boot (WHY) while the previous
 * one still serves: stop the new generation and go back to the previous
 * configuration and hooks, so that a HUP with a fixed configuration
 * starts over from there. The listeners stay as the reload left them. */
static void roll_back(struct arbiter *a, const struct slot *failed,
                      const char *why)
{
    struct gn_config *cfg = a->prev_cfg;

    gn_log_error("reload failed: worker %d of the new configuration cannot "
                 "boot (%s); the previous workers keep serving with the "
                 "previous configuration: fix it and send HUP again",
                 failed->id, why);
    for (size_t i = 0; i < a->nslots; i++) {
        struct slot *s = &a->slots[i];

        if (s->pid != failed->pid && s->generation != a->prev_generation &&
            !s->retiring) {
            s->retiring = 1;
            kill(s->pid, SIGTERM);
        }
    }
    /* The previous workers are this generation again. */
    for (size_t i = 0; i < a->nslots; i++)
        if (a->slots[i].generation == a->prev_generation)
            a->slots[i].generation = a->generation;
    swap_pidfile(a->cfg, cfg);
    gn__hooks_discard(gn__hooks_swap(a->prev_hooks));
    if (a->apps != NULL && a->apps_cfg == a->cfg)
        drop_preloaded(a); /* loaded for the failed configuration */
    a->prev_cfg = NULL;
    a->prev_hooks = NULL;
    replace_config(a, cfg);
    open_logs(cfg);
    set_target(a, cfg->workers);
    watch_files(a);
    open_statsd(cfg);
    open_scrape(a);
    a->quick_deaths = 0;
    a->spawn_not_before = 0;
}

/* What a reload to CFG does to preloaded apps. Gunicorn's HUP keeps a
 * preloaded app as it is; so do we (USR2 loads new code). 0, or -1 with
 * ERR when CFG turns preload_app on and its apps fail. */
static int reload_preloaded(struct arbiter *a, const struct gn_config *cfg,
                            struct gn_apps **fresh, char err[GN_ERR_LEN])
{
    *fresh = NULL;
    if (cfg->preload_app && a->apps == NULL)
        return (*fresh = gn__arbiter_preload(cfg, err)) ? 0 : -1;
    if (cfg->preload_app)
        gn_log_info("reload: preload_app keeps the apps loaded at start "
                    "(their mounts and args too); USR2 loads new ones");
    return 0;
}

/* The listeners for CFG, HTTP's and the streams', keeping the sockets
 * whose address stays (gn__listeners_reopen). */
static int reopen_listeners(struct arbiter *a, const struct gn_config *cfg,
                            struct gn_listener **ls, size_t *nls, char *err)
{
    size_t n;
    struct gn_bind *binds = gn__config_listen_binds(cfg, &n);
    int rc;

    if (binds == NULL) {
        snprintf(err, GN_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    rc = gn__listeners_reopen(a->ls, a->nls, binds, n, cfg->backlog,
                              cfg->reuse_port, ls, nls, err);
    free(binds);
    if (rc == 0)
        gn__listeners_defer_accept(*ls, *nls, cfg->defer_accept);
    return rc;
}

/* HUP, as Gunicorn: read the configuration again (file and command line)
 * and check its app; if anything is wrong, say why and keep the running
 * one. Else switch logs and listeners, and start a new generation of
 * workers that replaces the old once it is up. */
static void reload(struct arbiter *a, const char *why)
{
    char err[GN_ERR_LEN];
    struct gn_config *cfg;
    struct gn_listener *ls;
    struct gn_hook_set *hooks = NULL;
    struct gn_apps *fresh = NULL;
    size_t nls;

    gn_log_info("%s: reloading the configuration", why);
    gn__notify("RELOADING=1");
    cfg = a->ops->reconfigure(a->ops->ctx, err);
    if (cfg == NULL) {
        keep_running(err);
        return;
    }
    if (gn__log_open(cfg->errorlog, cfg->accesslog, cfg->loglevel, err,
                     sizeof(err)) != 0 ||
        gn__arbiter_syslog(cfg, err) != 0 ||
        (hooks = gn__hooks_open(cfg, err)) == NULL ||
        reload_preloaded(a, cfg, &fresh, err) != 0 ||
        reopen_listeners(a, cfg, &ls, &nls, err) != 0) {
        keep_running(err);
        gn__hooks_discard(hooks);
        if (fresh != NULL) {
            gn__apps_unload(fresh);
            free(fresh);
        }
        gn__log_open(a->cfg->errorlog, a->cfg->accesslog, a->cfg->loglevel, err,
                     sizeof(err));
        gn__arbiter_syslog(a->cfg, err);
        gn__config_free(cfg);
        return;
    }
    swap_pidfile(a->cfg, cfg);
    switch_config(a, cfg, hooks);
    if (!cfg->preload_app)
        drop_preloaded(a);
    if (fresh != NULL) {
        a->apps = fresh;
        a->apps_cfg = cfg;
    }
    a->ls = ls;
    a->nls = nls;
    set_target(a, cfg->workers);
    open_statsd(cfg);
    open_scrape(a);
    gn__hook_run(GN_HOOK_ON_RELOAD);
    a->generation++;
    a->reloaded_ms = gn__monotonic_ms();
    log_listeners(a);
    watch_files(a);
    gn_log_info("reload: starting %d worker(s)", a->target);
}

static void handle_signal(struct arbiter *a, int signo)
{
    switch (signo) {
    case SIGCHLD: reap_workers(a); break;
    case SIGTERM:
    case SIGINT:
    case SIGQUIT:
        /* A quick stop overrides a graceful one in progress. */
        if (!a->stop || signo != SIGTERM)
            a->stop = signo;
        break;
    case SIGTTIN:
        set_target(a, a->target + 1);
        gn_log_info("SIGTTIN: %d workers", a->target);
        break;
    case SIGTTOU:
        if (a->target > 1)
            set_target(a, a->target - 1);
        gn_log_info("SIGTTOU: %d workers", a->target);
        break;
    case SIGUSR1:
        gn_log_info("SIGUSR1: reopening the log files");
        gn__log_reopen();
        signal_workers(a, SIGUSR1);
        break;
    case SIGHUP: reload(a, "SIGHUP"); break;
    case SIGUSR2: upgrade(a); break;
    case SIGWINCH:
        /* Gunicorn's: a daemon's workers stop (TTIN or HUP brings them
         * back); a foreground server is resized by its terminal, so no. */
        if (!a->cfg->daemon) {
            gn_log_info("SIGWINCH ignored: not daemonized (the terminal "
                        "was resized)");
            break;
        }
        gn_log_info("SIGWINCH: stopping every worker gracefully");
        set_target(a, 0);
        break;
    case SIGPWR:
        /* The workers' dump signal, sent to the arbiter: every worker
         * lists its coroutines in the error log (`ctl dump` collects
         * them instead). */
        gn_log_info("SIGPWR: every worker dumps its coroutines to the "
                    "error log");
        signal_workers(a, GN_DUMP_SIGNAL);
        break;
    }
}

static void drain_signals(struct arbiter *a)
{
    int signo;

    while ((signo = gn__signals_next()) != 0)
        handle_signal(a, signo);
}

/* ---- the control socket (`greenicorn ctl`) ---------------------------- */

static json_t *listeners_json(const struct arbiter *a)
{
    json_t *ls = json_array();

    for (size_t i = 0; ls != NULL && i < a->nls; i++)
        json_array_append_new(ls, json_string(a->ls[i].name));
    return ls;
}

static const char *worker_state(const struct slot *s)
{
    if (s->retiring)
        return "retiring";
    return s->heartbeat->booted ? "ready" : "booting";
}

static json_t *cmd_status(struct arbiter *a)
{
    int booted = 0;

    for (size_t i = 0; i < a->nslots; i++)
        booted += counts(a, &a->slots[i]) && a->slots[i].heartbeat->booted;
    return json_pack(
        "{s:i, s:s, s:f, s:{s:i, s:i, s:i}, s:i, s:o, s:s?, s:i}", "pid",
        (int)getpid(), "version", gn_version(), "uptime",
        (gn__monotonic_ms() - a->started_ms) / 1000.0, "workers", "wanted",
        a->target, "alive", (int)a->nslots, "booted", booted, "generation",
        a->generation, "listeners", listeners_json(a), "config",
        a->cfg->file, "new_arbiter", (int)a->reexec_pid);
}

static int by_id(const void *x, const void *y)
{
    json_int_t a = json_integer_value(json_object_get(*(json_t *const *)x, "id"));
    json_int_t b = json_integer_value(json_object_get(*(json_t *const *)y, "id"));

    if (a == b) {
        a = json_integer_value(json_object_get(*(json_t *const *)x, "pid"));
        b = json_integer_value(json_object_get(*(json_t *const *)y, "pid"));
    }
    return (a > b) - (a < b);
}

/* LIST's objects by their "id" (then "pid"), as a new array; LIST is
 * released. */
static json_t *sorted_by_id(json_t *list)
{
    size_t n = json_array_size(list);
    json_t **items = calloc(n + 1, sizeof(*items)), *sorted = json_array();

    for (size_t i = 0; items != NULL && i < n; i++)
        items[i] = json_array_get(list, i);
    if (items != NULL)
        qsort(items, n, sizeof(*items), by_id);
    for (size_t i = 0; items != NULL && i < n; i++)
        json_array_append(sorted, items[i]);
    free(items);
    json_decref(list);
    return sorted;
}

static json_t *cmd_workers(struct arbiter *a)
{
    json_t *list = json_array();
    int64_t now = gn__monotonic_ms();

    for (size_t i = 0; list != NULL && i < a->nslots; i++) {
        const struct slot *s = &a->slots[i];
        const struct gn_worker_stats *st = &s->heartbeat->stats;

        json_array_append_new(
            list,
            json_pack("{s:i, s:i, s:f, s:i, s:I, s:I, s:i, s:I, s:s, s:i}",
                      "id", s->id, "pid", (int)s->pid, "age",
                      (now - s->spawned_ms) / 1000.0, "forked", s->age,
                      "requests", (json_int_t)st->requests, "accepted",
                      (json_int_t)st->accepted, "connections", (int)st->conns,
                      "rss_kb", (json_int_t)st->rss_kb, "state",
                      worker_state(s), "generation", s->generation));
    }
    return json_pack("{s:o}", "workers", sorted_by_id(list));
}

static json_t *cmd_stats(struct arbiter *a)
{
    uint64_t requests = a->gone_requests, accepted = a->gone_accepted;
    int64_t conns = 0, rss = 0;

    for (size_t i = 0; i < a->nslots; i++) {
        const struct gn_worker_stats *st = &a->slots[i].heartbeat->stats;

        requests += st->requests;
        accepted += st->accepted;
        conns += st->conns;
        rss += st->rss_kb > 0 ? st->rss_kb : 0;
    }
    return json_pack("{s:I, s:I, s:I, s:I, s:i, s:i, s:i, s:f}", "requests",
                     (json_int_t)requests, "accepted", (json_int_t)accepted,
                     "connections", (json_int_t)conns, "rss_kb",
                     (json_int_t)rss, "workers_forked", a->forks,
                     "workers_exited", a->exits, "reloads", a->generation,
                     "uptime", (gn__monotonic_ms() - a->started_ms) / 1000.0);
}

/* "add N" / "remove N": N, a count from 1 to 1000 (1 when absent), or -1. */
static int count_arg(int argc, char **argv)
{
    char *end;
    long n;

    if (argc == 1)
        return 1;
    errno = 0;
    n = strtol(argv[1], &end, 10);
    if (argc > 2 || errno || *end || end == argv[1] || n < 1 || n > 1000)
        return -1;
    return (int)n;
}

/* What a signal does, N times: the same path as the signal's. */
static void as_signal(struct arbiter *a, int signo, int n)
{
    gn_log_info("control_socket: as %s%s", gn__signal_name(signo),
                n > 1 ? " (repeated)" : "");
    for (int i = 0; i < n; i++)
        handle_signal(a, signo);
}

static void cmd_scale(struct arbiter *a, struct gn_control_client *c,
                      int argc, char **argv)
{
    int n = count_arg(argc, argv), old = a->target;
    int add = strcmp(argv[0], "add") == 0;

    if (n < 0) {
        gn__control_error(c, "usage: %s [N], N from 1 to 1000", argv[0]);
        return;
    }
    as_signal(a, add ? SIGTTIN : SIGTTOU, n);
    gn__control_reply(c, json_pack("{s:i, s:i}", "previous", old, "workers",
                                   a->target));
}

static void cmd_reload(struct arbiter *a, struct gn_control_client *c)
{
    int generation = a->generation;

    as_signal(a, SIGHUP, 1);
    if (a->generation == generation)
        gn__control_error(c, "reload failed, the running configuration "
                             "stays: see the error log");
    else
        gn__control_reply(c, json_pack("{s:i}", "generation", a->generation));
}

static void cmd_upgrade(struct arbiter *a, struct gn_control_client *c)
{
    pid_t before = a->reexec_pid;

    as_signal(a, SIGUSR2, 1);
    if (a->reexec_pid == 0 || a->reexec_pid == before)
        gn__control_error(c, "%s", before ? "a new arbiter is running already"
                                          : "cannot start a new arbiter: see "
                                            "the error log");
    else
        gn__control_reply(c, json_pack("{s:i, s:i}", "old_pid", (int)getpid(),
                                       "new_pid", (int)a->reexec_pid));
}

static void dump_start(struct arbiter *a, struct gn_control_client *c);

static const char *const commands_help[][2] = {
    {"status", "the arbiter: pid, version, uptime, workers, listeners"},
    {"workers", "each worker: pid, age, requests, connections, RSS, state"},
    {"stats", "totals since the start"},
    {"reload", "reload the configuration (as HUP)"},
    {"upgrade", "start a new arbiter from the binary on disk (as USR2)"},
    {"add [N]", "N more workers (as TTIN N times)"},
    {"remove [N]", "N fewer workers (as TTOU N times)"},
    {"reopen-logs", "reopen the log files (as USR1)"},
    {"dump", "each worker's listing of its coroutines"},
    {"help", "this list"},
};

static json_t *cmd_help(void)
{
    json_t *list = json_object();

    for (size_t i = 0; i < sizeof(commands_help) / sizeof(commands_help[0]);
         i++)
        json_object_set_new(list, commands_help[i][0],
                            json_string(commands_help[i][1]));
    return json_pack("{s:o}", "commands", list);
}

static void control_command(void *ctx, struct gn_control_client *c, int argc,
                            char **argv)
{
    struct arbiter *a = ctx;
    const char *cmd = argv[0];
    int plain = argc == 1;

    if (strcmp(cmd, "add") == 0 || strcmp(cmd, "remove") == 0)
        cmd_scale(a, c, argc, argv);
    else if (!plain)
        gn__control_error(c, "%s takes no arguments", cmd);
    else if (strcmp(cmd, "status") == 0)
        gn__control_reply(c, cmd_status(a));
    else if (strcmp(cmd, "workers") == 0)
        gn__control_reply(c, cmd_workers(a));
    else if (strcmp(cmd, "stats") == 0)
        gn__control_reply(c, cmd_stats(a));
    else if (strcmp(cmd, "reload") == 0)
        cmd_reload(a, c);
    else if (strcmp(cmd, "upgrade") == 0)
        cmd_upgrade(a, c);
    else if (strcmp(cmd, "reopen-logs") == 0) {
        as_signal(a, SIGUSR1, 1);
        gn__control_reply(c, json_pack("{s:b}", "reopened", 1));
    } else if (strcmp(cmd, "dump") == 0)
        dump_start(a, c);
    else if (strcmp(cmd, "help") == 0)
        gn__control_reply(c, cmd_help());
    else
        gn__control_error(c, "unknown command '%.64s': try 'help'", cmd);
}

/* Listen at CFG's control_socket, when it names one other than the
 * socket's now: at start, and in the loop after a reload (or its roll
 * back) changed it, never from a command's callback, whose client the
 * old socket's close would free. On failure the old socket stays. */
static int control_follow(struct arbiter *a, const struct gn_config *cfg,
                          char *err)
{
    const char *now = a->ctl ? gn__control_path(a->ctl) : NULL;
    struct gn_control *fresh = NULL;
    if (cfg->control_socket == now ||
        (now && cfg->control_socket && strcmp(now, cfg->control_socket) == 0) ||
        a->ctl_failed_generation == a->generation)
        return 0;
    if (cfg->control_socket != NULL &&
        (fresh = gn__control_open(cfg->control_socket, control_command, a,
                                  err)) == NULL) {
        a->ctl_failed_generation = a->generation; /* said once */
        return -1;
    }
    if (a->dump_client != NULL)
        dump_missed(a, NULL, "the control socket moved");
    gn__control_close(a->ctl);
    a->ctl = fresh;
    if (fresh != NULL)
        gn_log_info("control socket at %s", cfg->control_socket);
    return 0;
}

/* ---- `ctl dump`: the arbiter's side --------------------------------- */

/* The private directory the workers write their listings to: in
 * worker_tmp_dir or $TMPDIR, mode 0700, owned by the workers' user. */
static int dump_dir(struct arbiter *a)
{
    const char *base = a->cfg->worker_tmp_dir ? a->cfg->worker_tmp_dir
                       : getenv("TMPDIR")     ? getenv("TMPDIR")
                                              : "/tmp";

    if (a->dump_dir[0] != '\0')
        return 0;
    /* Room left for "/worker-ID-PID-SEQ" in the page's dump_path. */
    if (snprintf(a->dump_dir, sizeof(a->dump_dir), "%s/greenicorn-dump-XXXXXX",
                 base) >= (int)sizeof(a->dump_dir)) {
        a->dump_dir[0] = '\0';
        errno = ENAMETOOLONG;
        return -1;
    }
    if (mkdtemp(a->dump_dir) == NULL) {
        a->dump_dir[0] = '\0';
        return -1;
    }
    if (geteuid() == 0 && a->cfg->uid >= 0 &&
        chown(a->dump_dir, (uid_t)a->cfg->uid, (gid_t)a->cfg->gid) != 0)
        gn_log_warn("dump: cannot give %s to the workers' user: %s",
                    a->dump_dir, strerror(errno));
    return 0;
}

#define DUMP_PATH_LEN (sizeof(((struct arbiter *)0)->dump_dir) + 40)

static void dump_path(const struct arbiter *a, const struct slot *s,
                      uint32_t seq, char *out, size_t len)
{
    snprintf(out, len, "%s/worker-%d-%d-%u", a->dump_dir, s->id, (int)s->pid,
             (unsigned)seq);
}

/* Ask S for its listing: a fresh file, its name on the page, dump_asked
 * bumped after it (the worker reads the name once it sees the bump), the
 * signal. */
static int dump_ask(struct arbiter *a, struct slot *s)
{
    struct gn_heartbeat *hb = s->heartbeat;
    uint32_t seq = hb->dump_asked + 1;
    char path[DUMP_PATH_LEN];
    int fd;

    _Static_assert(DUMP_PATH_LEN <= sizeof(hb->dump_path), "dump_path");
    seq += seq == 0;
    dump_path(a, s, seq, path, sizeof(path));
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (geteuid() == 0 && a->cfg->uid >= 0)
        (void)!fchown(fd, (uid_t)a->cfg->uid, (gid_t)a->cfg->gid);
    close(fd);
    memcpy(hb->dump_path, path, sizeof(path));
    __atomic_store_n(&hb->dump_asked, seq, __ATOMIC_RELEASE);
    s->dump_seq = seq;
    kill(s->pid, GN_DUMP_SIGNAL);
    return 0;
}

/* The file at PATH, read (at most DUMP_MAX bytes) and removed. The
 * directory is the workers' user's: only a regular file is read, never
 * through a link, and a FIFO put there cannot block the arbiter. */
static json_t *dump_read(const char *path)
{
    char *buf = malloc(DUMP_MAX + 1);
    size_t got = 0;
    ssize_t n = 1;
    json_t *text;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        fd = -1;
    }
    while (fd >= 0 && buf != NULL && n > 0 && got < DUMP_MAX)
        if ((n = read(fd, buf + got, DUMP_MAX - got)) > 0)
            got += (size_t)n;
    text = fd >= 0 && buf ? json_stringn_nocheck(buf, got) : NULL;
    if (fd >= 0)
        close(fd);
    unlink(path);
    free(buf);
    return text;
}

static void dump_add(struct arbiter *a, const struct slot *s, json_t *text,
                     const char *why)
{
    json_array_append_new(
        a->dump_out, json_pack("{s:i, s:i, s:b, s:o?, s:s?}", "id", s->id,
                               "pid", (int)s->pid, "answered", text != NULL,
                               "listing", text, "error", why));
}

/* Answer the dump's client with every worker's listing, by id. */
static void dump_finish(struct arbiter *a)
{
    json_t *sorted = sorted_by_id(a->dump_out);

    a->dump_out = NULL;
    gn__control_reply(a->dump_client, json_pack("{s:o}", "workers", sorted));
    a->dump_client = NULL;
}

/* S will not answer (WHY): said in its place. S NULL: the whole dump is
 * off (the socket goes), answered with WHY. */
static void dump_missed(struct arbiter *a, struct slot *s, const char *why)
{
    char path[DUMP_PATH_LEN];

    if (s == NULL) {
        for (size_t i = 0; i < a->nslots; i++)
            if (a->slots[i].dump_seq != 0)
                dump_missed(a, &a->slots[i], why);
        gn__control_error(a->dump_client, "dump: %s", why);
        json_decref(a->dump_out);
        a->dump_out = NULL;
        a->dump_client = NULL;
        return;
    }
    dump_path(a, s, s->dump_seq, path, sizeof(path));
    unlink(path);
    s->dump_seq = 0;
    dump_add(a, s, NULL, why);
}

/* Collect the listings of the workers that answered; finish once all did,
 * or at the deadline. */
static void dump_check(struct arbiter *a)
{
    int waiting = 0, late;
    char path[DUMP_PATH_LEN];

    if (a->dump_client == NULL)
        return;
    late = gn__monotonic_ms() >= a->dump_deadline;
    for (size_t i = 0; i < a->nslots; i++) {
        struct slot *s = &a->slots[i];

        if (s->dump_seq == 0)
            continue;
        if (__atomic_load_n(&s->heartbeat->dump_done, __ATOMIC_ACQUIRE) ==
            s->dump_seq) {
            json_t *text;

            dump_path(a, s, s->dump_seq, path, sizeof(path));
            text = dump_read(path);
            dump_add(a, s, text, text ? NULL : "its listing cannot be read");
            s->dump_seq = 0;
        } else if (late) {
            dump_missed(a, s, "no answer within 2 s");
        } else {
            waiting++;
        }
    }
    if (waiting == 0)
        dump_finish(a);
}

static void dump_start(struct arbiter *a, struct gn_control_client *c)
{
    if (a->dump_client != NULL) {
        gn__control_error(c, "a dump is running already");
        return;
    }
    if (dump_dir(a) != 0) {
        gn__control_error(c, "dump: cannot make a directory in %s: %s",
                          a->cfg->worker_tmp_dir ? a->cfg->worker_tmp_dir
                                                 : "$TMPDIR or /tmp",
                          strerror(errno));
        return;
    }
    a->dump_out = json_array();
    a->dump_client = c;
    a->dump_deadline = gn__monotonic_ms() + DUMP_WAIT_MS;
    for (size_t i = 0; i < a->nslots; i++) {
        struct slot *s = &a->slots[i];
        int rc;

        /* A booting worker has no handler for the signal yet: its
         * default action would kill it. */
        if (!s->heartbeat->booted)
            dump_add(a, s, NULL, "booting");
        else if ((rc = dump_ask(a, s)) != 0)
            dump_add(a, s, NULL, strerror(-rc));
    }
    dump_check(a);
}

/* At exit: whatever a worker wrote after we gave up on it. */
static void dump_cleanup(struct arbiter *a)
{
    char path[512];
    DIR *d;
    struct dirent *e;

    if (a->dump_client != NULL)
        dump_missed(a, NULL, "the server is stopping");
    if (a->dump_dir[0] == '\0' || (d = opendir(a->dump_dir)) == NULL)
        return;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' &&
            snprintf(path, sizeof(path), "%s/%s", a->dump_dir, e->d_name) <
                (int)sizeof(path))
            unlink(path);
    closedir(d);
    rmdir(a->dump_dir);
}

/* Stop every worker: TERM for a graceful stop (they finish in-flight
 * requests), QUIT for a quick one; SIGKILL what is left after
 * graceful_timeout. */
static void stop_workers(struct arbiter *a)
{
    int64_t deadline = gn__monotonic_ms() + a->cfg->graceful_timeout * 1000LL;
    int sent = a->stop == SIGTERM ? SIGTERM : SIGQUIT;

    signal_workers(a, sent);
    while (a->nslots > 0 && gn__monotonic_ms() < deadline) {
        wait_for_signal(a, 100);
        drain_signals(a);
        reap_workers(a);
        if (a->stop != SIGTERM && sent == SIGTERM) {
            sent = SIGQUIT; /* told to hurry up */
            signal_workers(a, sent);
        }
    }
    if (a->nslots > 0) {
        gn_log_warn("killing %zu worker(s) still running after "
                    "graceful_timeout (%d s)",
                    a->nslots, a->cfg->graceful_timeout);
        for (size_t i = 0; i < a->nslots; i++)
            a->slots[i].killed = 1;
        signal_workers(a, SIGKILL);
    }
    while (a->nslots > 0) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);

        if (pid < 0)
            break;
        reap_one(a, pid, status);
    }
}

static void log_start(struct arbiter *a)
{
    const struct gn_app_conf *apps[GN_MAX_APPS];
    size_t n = gn__config_apps(a->cfg, apps);

    gn_log_info("starting greenicorn %s", gn_version());
    log_listeners(a);
    gn_log_info("using %d worker(s)", a->cfg->workers);
    for (size_t i = 0; i < n; i++)
        gn_log_info("app %s on %s", apps[i]->spec, apps[i]->mount);
    for (size_t i = 0; i < a->cfg->nstreams; i++)
        gn_log_info("stream app %s on [stream:%s]", a->cfg->streams[i].spec,
                    a->cfg->streams[i].name);
}

int gn__arbiter_run(struct gn_config *cfg, struct gn_listener *ls, size_t nls,
                    struct gn_apps *apps, const struct gn_arbiter_ops *ops)
{
    struct arbiter a = {.cfg = cfg,
                        .apps = apps,
                        .apps_cfg = apps ? cfg : NULL,
                        .ls = ls,
                        .nls = nls,
                        .ops = ops,
                        .ready_generation = -1,
                        .ctl_failed_generation = -1,
                        .target = cfg->workers};
    int rc = gn__signals_install();

    char err[GN_ERR_LEN];

    gn__log_set_pid((int)getpid());
    a.started_ms = gn__monotonic_ms();
    if (rc == 0 && cfg->pidfile &&
        gn__pidfile_write(cfg->pidfile, getpid(), err) != 0)
        rc = -EEXIST;
    else if (rc == 0 && control_follow(&a, cfg, err) != 0)
        rc = -EADDRINUSE;
    else if (rc != 0)
        snprintf(err, sizeof(err), "cannot install signal handlers: %s",
                 strerror(-rc));
    if (rc != 0) {
        gn_log_error("%s", err);
        if (rc == -EADDRINUSE && cfg->pidfile)
            gn__pidfile_remove(cfg->pidfile, getpid());
        gn__listeners_close(ls, nls, 1);
        drop_preloaded(&a);
        gn__config_free(cfg);
        return GN_EXIT_CONFIG;
    }
    gn__proctitle_set("master", gn__config_proc_name(cfg));
    log_start(&a);
    watch_files(&a);
    open_statsd(cfg);
    open_scrape(&a);
    if ((a.balance = gn__balance_new()) == NULL)
        gn_log_warn("cannot map the workers' balance board (%s): a burst of "
                    "new connections may go to one worker",
                    strerror(errno));
    a.target = 0;
    set_target(&a, cfg->workers);
    if (gn__hook_run(GN_HOOK_WHEN_READY) != 0) {
        a.stop = SIGTERM;
        a.exit_status = GN_EXIT_CONFIG;
    }
    while (!a.stop) {
        manage_workers(&a);
        wait_for_signal(&a, a.changed_ms ? SETTLE_MS / 3 : TICK_MS);
        drain_signals(&a);
        reload_on_change(&a);
        reap_workers(&a); /* a SIGCHLD byte may have been dropped */
        dump_check(&a);
        if (control_follow(&a, a.cfg, err) != 0)
            gn_log_error("%s", err);
        murder_silent_workers(&a);
        gn__scrape_run(a.scrape);
        if (a.cfg->metrics_bind != NULL && a.scrape == NULL)
            open_scrape(&a);
        send_statsd(&a);
        if (a.cfg->tls != NULL)
            gn__tls_rotate_due(a.cfg->ticket_key_rotation * 1000LL);
    }
    gn_log_info("%s: %s stop", gn__signal_name(a.stop),
                a.stop == SIGTERM ? "graceful" : "quick");
    /* After USR2 the new arbiter is the service: not stopping. */
    if (a.reexec_pid == 0)
        gn__notify("STOPPING=1");
    /* No commands while stopping; after USR2 the path is the new
     * arbiter's and stays. */
    dump_cleanup(&a);
    gn__control_close(a.ctl);
    a.ctl = NULL;
    /* Stop accepting at once: the workers' copies drain what they have.
     * After USR2 the new arbiter serves the same unix sockets: keep their
     * paths. */
    gn__listeners_close(a.ls, a.nls, a.reexec_pid == 0);
    gn__scrape_close(a.scrape);
    a.scrape = NULL; /* stop_workers' waits poll no scraper */
    stop_workers(&a);
    gn__statsd_flush();
    gn__statsd_close();
    free(a.slots);
    gn__balance_free(a.balance);
    gn__reloader_free(a.reloader);
    remove_pidfiles(&a);
    gn_log_info("shutting down: arbiter");
    gn__hook_run(GN_HOOK_ON_EXIT);
    gn__hooks_set_server(getpid(), NULL, 0);
    commit_reload(&a); /* a reload still pending: its previous config */
    gn__hooks_install(NULL);
    drop_preloaded(&a);
    gn__config_free(a.cfg);
    return a.exit_status;
}
