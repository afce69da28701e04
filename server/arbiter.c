/*
 * The arbiter's main loop: keep `workers` workers alive, reap and replace
 * the ones that end, abort the ones whose heartbeat stops for `timeout`
 * seconds, and act on signals. Each worker gets a shared page holding its
 * heartbeat (monotonic milliseconds), written from its event loop, so a
 * worker stuck in a handler stops beating.
 */
#include "server/arbiter.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/log.h"
#include "server/signals.h"
#include "workers/worker.h"

#define TICK_MS 500         /* the main loop's longest sleep */
#define QUICK_DEATH_MS 1000 /* a worker dying this young is a crash loop */
#define ABORT_GRACE_MS 2000 /* SIGABRT to SIGKILL for a hung worker */

struct slot {
    pid_t pid;
    int id;
    int64_t spawned_ms;
    int64_t aborted_ms; /* when SIGABRT was sent, or 0 */
    int retiring;       /* sent TERM by TTOU; not counted */
    volatile int64_t *heartbeat;
};

struct arbiter {
    struct gn_config *cfg;
    struct gn_listener *ls;
    size_t nls;
    struct slot *slots;
    size_t nslots, cap;
    int target;               /* workers wanted */
    int64_t spawn_not_before; /* back-off after a crash at start */
    int stop;                 /* 0, or the signal that asked to stop */
    int exit_status;
};

/* ---- workers ---------------------------------------------------------- */

static int live_workers(const struct arbiter *a)
{
    int n = 0;

    for (size_t i = 0; i < a->nslots; i++)
        n += !a->slots[i].retiring;
    return n;
}

static int free_id(const struct arbiter *a)
{
    for (int id = 1;; id++) {
        size_t i = 0;

        while (i < a->nslots && (a->slots[i].id != id || a->slots[i].retiring))
            i++;
        if (i == a->nslots)
            return id;
    }
}

static void run_child(struct arbiter *a, int id, volatile int64_t *hb)
{
    int status;

    gn__signals_forget();
    status = gn__worker_run(id, a->cfg, a->ls, a->nls, hb);
    exit(status);
}

static int spawn_worker(struct arbiter *a)
{
    struct slot *s;
    volatile int64_t *hb;
    int id = free_id(a);
    pid_t pid;

    if (a->nslots == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        struct slot *grown = realloc(a->slots, cap * sizeof(*grown));

        if (grown == NULL)
            return -ENOMEM;
        a->slots = grown;
        a->cap = cap;
    }
    hb = mmap(NULL, sizeof(*hb), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (hb == MAP_FAILED)
        return -errno;
    *hb = gn__monotonic_ms();
    pid = fork();
    if (pid == 0)
        run_child(a, id, hb);
    if (pid < 0) {
        int rc = -errno;

        gn_log_error("cannot fork worker %d: %s", id, strerror(errno));
        munmap((void *)hb, sizeof(*hb));
        return rc;
    }
    s = &a->slots[a->nslots++];
    *s = (struct slot){.pid = pid,
                       .id = id,
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
        if (!a->slots[i].retiring &&
            (!oldest || a->slots[i].spawned_ms < oldest->spawned_ms))
            oldest = &a->slots[i];
    if (oldest == NULL)
        return;
    oldest->retiring = 1;
    kill(oldest->pid, SIGTERM);
}

static void manage_workers(struct arbiter *a)
{
    if (a->stop)
        return;
    while (live_workers(a) > a->target)
        retire_oldest(a);
    while (live_workers(a) < a->target &&
           gn__monotonic_ms() >= a->spawn_not_before)
        if (spawn_worker(a) != 0)
            break;
}

/* ---- reaping ---------------------------------------------------------- */

static struct slot *find_slot(struct arbiter *a, pid_t pid)
{
    for (size_t i = 0; i < a->nslots; i++)
        if (a->slots[i].pid == pid)
            return &a->slots[i];
    return NULL;
}

static void log_exit(struct arbiter *a, const struct slot *s, int status)
{
    const char *then = a->stop || s->retiring ? "" : ", respawning";

    if (WIFSIGNALED(status))
        gn_log_error("worker %d (pid %d) exited on signal %d (%s)%s", s->id,
                     (int)s->pid, WTERMSIG(status),
                     gn__signal_name(WTERMSIG(status)), then);
    else if (WEXITSTATUS(status) == GN_EXIT_BOOT_ERROR)
        gn_log_error("worker %d (pid %d) failed to boot; stopping", s->id,
                     (int)s->pid);
    else if (WEXITSTATUS(status) != 0)
        gn_log_error("worker %d (pid %d) exited with status %d%s", s->id,
                     (int)s->pid, WEXITSTATUS(status), then);
    else
        gn_log_info("worker %d (pid %d) exited%s", s->id, (int)s->pid, then);
}

static void forget_slot(struct arbiter *a, struct slot *s)
{
    munmap((void *)s->heartbeat, sizeof(*s->heartbeat));
    *s = a->slots[--a->nslots];
}

static void reap_one(struct arbiter *a, pid_t pid, int status)
{
    struct slot *s = find_slot(a, pid);
    int crashed;

    if (s == NULL)
        return;
    log_exit(a, s, status);
    crashed = WIFSIGNALED(status) || WEXITSTATUS(status) != 0;
    if (crashed && gn__monotonic_ms() - s->spawned_ms < QUICK_DEATH_MS)
        a->spawn_not_before = s->spawned_ms + QUICK_DEATH_MS;
    if (WIFEXITED(status) && WEXITSTATUS(status) == GN_EXIT_BOOT_ERROR &&
        !a->stop) {
        a->stop = SIGTERM;
        a->exit_status = GN_EXIT_BOOT;
    }
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

    if (a->cfg->timeout == 0)
        return;
    for (size_t i = 0; i < a->nslots; i++) {
        struct slot *s = &a->slots[i];
        int64_t silent = now - *s->heartbeat;

        if (silent <= limit)
            continue;
        if (s->aborted_ms == 0) {
            gn_log_critical("worker %d (pid %d) silent for %lld ms "
                            "(timeout %d s): aborting it",
                            s->id, (int)s->pid, (long long)silent,
                            a->cfg->timeout);
            kill(s->pid, SIGABRT);
            s->aborted_ms = now;
        } else if (now - s->aborted_ms > ABORT_GRACE_MS) {
            kill(s->pid, SIGKILL);
        }
    }
}

/* ---- signals and the loop --------------------------------------------- */

static void wait_for_signal(int timeout_ms)
{
    struct pollfd pfd = {.fd = gn__signals_fd(), .events = POLLIN};

    poll(&pfd, 1, timeout_ms);
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
        a->target++;
        gn_log_info("SIGTTIN: %d workers", a->target);
        break;
    case SIGTTOU:
        if (a->target > 1)
            a->target--;
        gn_log_info("SIGTTOU: %d workers", a->target);
        break;
    case SIGUSR1:
        gn__log_reopen();
        signal_workers(a, SIGUSR1);
        break;
    case SIGHUP:
        gn_log_warn("SIGHUP: configuration reload is not available in this "
                    "version; keep running with the current one");
        break;
    case SIGUSR2:
        gn_log_warn("SIGUSR2: binary upgrade is not available in this "
                    "version; ignoring");
        break;
    case SIGWINCH: gn_log_info("SIGWINCH ignored: not daemonized"); break;
    }
}

static void drain_signals(struct arbiter *a)
{
    int signo;

    while ((signo = gn__signals_next()) != 0)
        handle_signal(a, signo);
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
        wait_for_signal(100);
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
    gn_log_info("starting greenicorn %s", gn_version());
    for (size_t i = 0; i < a->nls; i++)
        gn_log_info("listening at: %s%s (%d)",
                    a->ls[i].kind == GN_BIND_UNIX ? "" : "http://",
                    a->ls[i].name, (int)getpid());
    gn_log_info("using %d worker(s), app %s", a->target,
                a->cfg->app.spec ? a->cfg->app.spec : "(none)");
}

int gn__arbiter_run(struct gn_config *cfg, struct gn_listener *ls, size_t nls)
{
    struct arbiter a = {
        .cfg = cfg, .ls = ls, .nls = nls, .target = cfg->workers};
    int rc = gn__signals_install();

    gn__log_set_pid((int)getpid());
    if (rc != 0) {
        gn_log_error("cannot install signal handlers: %s", strerror(-rc));
        gn__listeners_close(ls, nls, 1);
        return GN_EXIT_CONFIG;
    }
    log_start(&a);
    while (!a.stop) {
        manage_workers(&a);
        wait_for_signal(TICK_MS);
        drain_signals(&a);
        reap_workers(&a); /* a SIGCHLD byte may have been dropped */
        murder_silent_workers(&a);
    }
    gn_log_info("%s: %s stop", gn__signal_name(a.stop),
                a.stop == SIGTERM ? "graceful" : "quick");
    /* Stop accepting at once: the workers' copies drain what they have. */
    gn__listeners_close(a.ls, a.nls, 1);
    stop_workers(&a);
    free(a.slots);
    gn_log_info("shutting down: arbiter");
    return a.exit_status;
}
