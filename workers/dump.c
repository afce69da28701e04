/*
 * Live introspection: the listing of a worker's coroutines (what each
 * serves, how long it has lived, what it waits on and since when) and
 * backtraces of the code that holds the loop.
 *
 * The signal handler (GN_DUMP_SIGNAL) counts the request, pokes an
 * eventfd the loop watches and arms a one-shot timer. The loop, once
 * free, writes the listing: no coroutine runs then, so it is consistent.
 * When the timer fires (HELD_MS later, its signal sent to the loop's
 * thread) and the listing is still not written while the same run of one
 * coroutine has gone on all that time, that coroutine holds the loop: the
 * handler, which interrupts its code on its own thread, writes the
 * listing itself with a backtrace of the interrupted stack. With
 * max_blocking_ms a second timer is the watchdog (gevent's monitor
 * thread, without the thread: a thread in the process makes glibc take
 * its slower multi-threaded path in every system call wrapper, about 100
 * instructions a request). It runs on the loop thread's CPU-time clock,
 * ticking twice per max_blocking_ms of CPU: it takes the backtrace of a
 * run that spins past the limit while it still runs, for the "held the
 * event loop" warning once it ends; a thread blocked in a system call
 * uses no CPU, so it is never interrupted there, and an idle worker gets
 * no signal. A run that blocks in a system call is warned about without
 * a backtrace.
 *
 * Backtraces use libunwind (Debian's libunwind8), loaded with dlopen at
 * boot: unw_get_proc_name reads a module's .symtab, so a plugin's static
 * function is named, where glibc's backtrace_symbols only knows dynamic
 * symbols (dladdr). It is opened RTLD_LOCAL because libunwind.so.8 also
 * defines the _Unwind_* calls of the C++ ABI, which must stay libgcc's
 * for the apps' exceptions. Without it, glibc's backtrace is the
 * fallback. Both are warmed up at boot (the library loaded, its caches
 * made), so the handler does no first-time work; what remains (reading a
 * module's symbols, dladdr) is not async-signal-safe by the letter, but
 * runs only when the loop is already stuck, on the stuck thread.
 */
#include "config.h"

#include "workers/dump.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifdef GN_HAVE_LIBUNWIND
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#endif

#include "core/log.h"
#include "green/coro.h"
#include "green/loop.h"
#include "green/park.h"
#include "workers/state.h"

/* Coroutines listed one by one; past them, counts per wait only. */
#define DETAIL_LINES 100
/* A dump the loop has not answered after this long, while one run of a
 * coroutine went on all that time: the handler writes it (well within
 * the arbiter's 2 s). */
#define HELD_MS 200
#define MAX_FRAMES 32
#define MAX_GROUPS 24

/* Which timer a SI_TIMER signal is from. */
enum { TIMER_DUMP = 1, TIMER_WATCH = 2 };

/* Everything here is touched by the loop's thread only (the handler runs
 * there too: an app's thread that gets the signal passes it on). */
static struct {
    struct gn_worker *w;
    pid_t pid, tid;       /* the loop's thread */
    int efd;              /* handler -> loop */
    struct gn_watch watch;
    timer_t dump_timer;   /* HELD_MS after a request not yet answered */
    timer_t watch_timer;  /* max_blocking_ms' watchdog */
    int timers;           /* how many of them exist */
    int64_t slow_us;      /* max_blocking_ms; 0: no watchdog */
    volatile uint32_t wanted, served; /* dumps signalled, and written */
    volatile int dump_armed;
    volatile uint64_t dump_seq;  /* the run going on when it was asked */
    volatile uint64_t bt_seq;    /* the run dm.bt is of */
    char bt[4096];
} dm = {.efd = -1};

/* ---- where the lines go ----------------------------------------------- */

enum out_mode {
    OUT_FD,   /* buffered writes to a file (or the log's fd, from a handler) */
    OUT_LOG,  /* a log line each (from the loop) */
    OUT_TEXT, /* into a buffer, cut short when full */
};

struct out {
    enum out_mode mode;
    int fd;
    char *buf;
    size_t cap, len;
    int failed;
    char line[640];
};

static void out_flush(struct out *o)
{
    size_t off = 0;
    ssize_t n;

    if (o->mode != OUT_FD)
        return;
    while (off < o->len) {
        n = write(o->fd, o->buf + off, o->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            o->failed = 1;
            break;
        }
        off += (size_t)n;
    }
    o->len = 0;
}

/* One line (no newline in FMT). snprintf with integers and strings only:
 * glibc's does not allocate for those, which the handler relies on. */
__attribute__((format(printf, 2, 3))) static void out_line(struct out *o,
                                                            const char *fmt,
                                                            ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(o->line, sizeof(o->line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(o->line))
        n = (int)sizeof(o->line) - 1;
    if (o->mode == OUT_LOG) {
        gn__log_write(GN_LOG_INFO, "%s", o->line); /* asked for: any level */
        return;
    }
    if (o->mode == OUT_FD && o->len + (size_t)n + 1 > o->cap)
        out_flush(o);
    if (o->len + (size_t)n + 1 > o->cap) /* OUT_TEXT full: drop it */
        return;
    memcpy(o->buf + o->len, o->line, (size_t)n);
    o->len += (size_t)n;
    o->buf[o->len++] = '\n';
    if (o->mode == OUT_TEXT)
        o->buf[o->len < o->cap ? o->len : o->cap - 1] = '\0';
}

/* ---- backtraces ------------------------------------------------------- */

static const char *base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;

    return slash ? slash + 1 : path ? path : "?";
}

/* Where the executable is mapped: its dli_fname is argv[0]'s memory,
 * which the process title has overwritten. */
static const void *exe_base;

/* The module an address is in, for the frame's line. */
static const char *module_of(const void *ip)
{
    Dl_info di;

    if (dladdr(ip, &di) == 0)
        return "?";
    if (di.dli_fbase == exe_base)
        return "greenicorn";
    return base_name(di.dli_fname);
}

#ifdef GN_HAVE_LIBUNWIND
#define SYM_(x) #x
#define SYM(x) SYM_(x)

static struct {
    int ok;
    int (*getcontext)(unw_context_t *);
    int (*init_local)(unw_cursor_t *, unw_context_t *);
    int (*step)(unw_cursor_t *);
    int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
    int (*get_proc_name)(unw_cursor_t *, char *, size_t, unw_word_t *);
    int (*is_signal_frame)(unw_cursor_t *);
} uw;

/* dlsym's object pointer as a function pointer (POSIX allows it). */
#define LOOKUP(h, field, name)                                                 \
    (*(void **)(&uw.field) = dlsym((h), SYM(name)), uw.field != NULL)

static void load_libunwind(void)
{
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);

    if (h == NULL)
        return;
    uw.ok = LOOKUP(h, getcontext, unw_tdep_getcontext) &&
            LOOKUP(h, init_local, unw_init_local) &&
            LOOKUP(h, step, unw_step) && LOOKUP(h, get_reg, unw_get_reg) &&
            LOOKUP(h, get_proc_name, unw_get_proc_name) &&
            LOOKUP(h, is_signal_frame, unw_is_signal_frame);
    if (!uw.ok)
        dlclose(h);
}

/* Static: the handler is not re-entered (its signal is blocked while it
 * runs) and the alternate stack is small. */
static unw_context_t uw_ctx;
static unw_cursor_t uw_cur;

/* The frames of the caller's thread; FROM_SIGNAL: only those below the
 * signal frame (the code the signal interrupted). */
static int unwind_frames(struct out *o, int from_signal)
{
    char name[256];
    unw_word_t ip, off;
    int n = 0, past = !from_signal;

    if (!uw.ok || uw.getcontext(&uw_ctx) != 0 ||
        uw.init_local(&uw_cur, &uw_ctx) != 0)
        return -1;
    for (int k = 0; k < 2 * MAX_FRAMES && n < MAX_FRAMES; k++) {
        /* libunwind flags the frame the signal interrupted (the one
         * below the kernel's signal frame, __restore_rt): the handler's
         * frames above it are left out. */
        if (!past)
            past = uw.is_signal_frame(&uw_cur) > 0;
        if (past) {
            if (uw.get_reg(&uw_cur, UNW_REG_IP, &ip) != 0 || ip == 0)
                break;
            if (uw.get_proc_name(&uw_cur, name, sizeof(name), &off) != 0) {
                snprintf(name, sizeof(name), "0x%lx", (unsigned long)ip);
                off = 0;
            }
            out_line(o, "    #%d %s+0x%lx [%s]", n++, name,
                     (unsigned long)off, module_of((const void *)ip));
        }
        if (uw.step(&uw_cur) <= 0)
            break;
    }
    return 0;
}
#else
static void load_libunwind(void)
{
}

static int unwind_frames(struct out *o, int from_signal)
{
    (void)o;
    (void)from_signal;
    return -1;
}
#endif

/* glibc's: dynamic symbols only (a static function shows as its module
 * and offset), and the handler's own frames are shown. */
static void glibc_frames(struct out *o)
{
    void *ips[MAX_FRAMES];
    int n = backtrace(ips, MAX_FRAMES);
    Dl_info di;

    for (int i = 0; i < n; i++) {
        if (dladdr(ips[i], &di) != 0 && di.dli_sname != NULL)
            out_line(o, "    #%d %s+0x%lx [%s]", i, di.dli_sname,
                     (unsigned long)((char *)ips[i] - (char *)di.dli_saddr),
                     base_name(di.dli_fname));
        else
            out_line(o, "    #%d %p [%s]", i, ips[i], module_of(ips[i]));
    }
}

static void backtrace_to(struct out *o, int from_signal)
{
    if (unwind_frames(o, from_signal) != 0)
        glibc_frames(o);
}

/* ---- the listing ------------------------------------------------------ */

/* Times are gn__coro_clock_us (CLOCK_MONOTONIC), printed in ms. */
static const char *direction(int events)
{
    int rw = events & (GN_WATCH_READ | GN_WATCH_WRITE);

    return rw == (GN_WATCH_READ | GN_WATCH_WRITE) ? "read/write"
           : rw == GN_WATCH_WRITE                  ? "write"
                                                   : "read";
}

/* What a group of waits is called: "sleep", "fd (read)", "event". */
static void group_name(char *buf, size_t len, const char *on, int events)
{
    if (on == gn__wait_fd_kind)
        snprintf(buf, len, "fd (%s)", direction(events));
    else
        snprintf(buf, len, "%s", on);
}

struct group {
    const char *on; /* a wait kind, or a state ("running", ...) */
    int events;
    size_t n;
};

static void count(struct group *g, size_t *ng, const char *on, int events)
{
    size_t i;

    if (on != gn__wait_fd_kind)
        events = 0;
    for (i = 0; i < *ng; i++)
        if (g[i].on == on && g[i].events == events)
            break;
    if (i == *ng) {
        if (*ng == MAX_GROUPS)
            i = MAX_GROUPS - 1, on = "other", events = 0; /* the last slot */
        else
            (*ng)++;
        g[i].on = on;
        g[i].events = events;
        g[i].n = 0;
    }
    g[i].n++;
}

static const char state_running[] = "running",
                  state_woken[] = "woken, to run this turn",
                  state_ready[] = "ready (not started, or between waits)";

/* One coroutine's line: what it serves and what it waits on. */
static void list_one(struct out *o, size_t i, struct gn_coro *co,
                     const struct gn_coro_run *run, int64_t now)
{
    const struct gn_waiter *wt = gn__coro_waiter(co);
    char what[320], wait[160], code[200] = "", age[40];
    const void *fn;
    Dl_info di;

    gn__coro_describe(co, what, sizeof(what), &fn);
    if (fn != NULL && dladdr(fn, &di) != 0 && di.dli_sname != NULL)
        snprintf(code, sizeof(code), " %s [%s]", di.dli_sname,
                 module_of(fn));
    else if (fn != NULL)
        snprintf(code, sizeof(code), " %p", fn);
    if (co == run->co)
        snprintf(wait, sizeof(wait), "running: holds the loop");
    else if (wt == NULL)
        snprintf(wait, sizeof(wait), "%s", state_ready);
    else if (wt->woken)
        snprintf(wait, sizeof(wait), "%s (was on %s)", state_woken,
                 wt->on ? wt->on : "?");
    else {
        char on[64];

        group_name(on, sizeof(on), wt->on, wt->on_events);
        if (wt->on == gn__wait_fd_kind)
            snprintf(on, sizeof(on), "fd %d (%s)", wt->on_fd,
                     direction(wt->on_events));
        if (wt->timeout_ms >= 0 && wt->on != gn__wait_sleep_kind)
            snprintf(wait, sizeof(wait),
                     "waits on %s for %lld ms (timeout %lld ms)", on,
                     (long long)((now - wt->since_us) / 1000),
                     (long long)wt->timeout_ms);
        else if (wt->on == gn__wait_sleep_kind)
            snprintf(wait, sizeof(wait), "waits on %s of %lld ms for %lld ms",
                     on, (long long)wt->timeout_ms,
                     (long long)((now - wt->since_us) / 1000));
        else
            snprintf(wait, sizeof(wait), "waits on %s for %lld ms", on,
                     (long long)((now - wt->since_us) / 1000));
    }
    if (gn__coro_started_us(co) == 0 && run->co == co)
        snprintf(age, sizeof(age), "in its first run"); /* not stamped yet */
    else if (gn__coro_started_us(co) == 0)
        snprintf(age, sizeof(age), "not started");
    else
        snprintf(age, sizeof(age), "up %lld ms",
                 (long long)((now - gn__coro_started_us(co)) / 1000));
    out_line(o, "coroutine %zu: %s%s, %s, %s", i,
             what[0] ? what : "(no description)", code, age, wait);
}

/* The whole listing; RUN: the run going on (its coroutine, when the
 * handler writes it, holds the loop and gets a backtrace). */
static void list_all(struct out *o, const struct gn_coro_run *run)
{
    const struct gn_worker *w = dm.w;
    struct group g[MAX_GROUPS];
    size_t ng = 0, i = 0, n = gn__coro_pool_live(w->coros);
    int64_t now = gn__coro_clock_us();

    out_line(o,
             "dump of worker %d (pid %d): %zu coroutines, %zu connections, "
             "%llu requests served; %s",
             w->id, (int)w->pid, n, w->net.n,
             (unsigned long long)w->nrequests,
             run->co ? "written by the signal handler: a coroutine holds "
                       "the loop"
                     : "written by the loop");
    for (struct gn_coro *co = gn__coro_pool_first(w->coros); co != NULL;
         co = gn__coro_next(co), i++) {
        const struct gn_waiter *wt = gn__coro_waiter(co);

        if (co == run->co)
            count(g, &ng, state_running, 0);
        else if (wt == NULL)
            count(g, &ng, state_ready, 0);
        else if (wt->woken)
            count(g, &ng, state_woken, 0);
        else
            count(g, &ng, wt->on ? wt->on : "?", wt->on_events);
        /* The running one always, with its stack. */
        if (i < DETAIL_LINES || co == run->co)
            list_one(o, i + 1, co, run, now);
        if (co == run->co) {
            if (run->start_us)
                out_line(o, "  held the loop for %lld ms so far; its stack:",
                         (long long)((gn__coro_clock_us() - run->start_us) / 1000));
            else
                out_line(o, "  its stack:");
            backtrace_to(o, 1);
        }
    }
    if (i > DETAIL_LINES)
        out_line(o, "(%zu more coroutines not listed one by one)",
                 i - DETAIL_LINES);
    for (size_t k = 0; k < ng; k++) {
        char name[64];

        group_name(name, sizeof(name), g[k].on, g[k].events);
        out_line(o, "%zu coroutine%s %s%s", g[k].n, g[k].n == 1 ? "" : "s",
                 g[k].on == state_running || g[k].on == state_woken ||
                         g[k].on == state_ready
                     ? ""
                     : "waiting on ",
                 name);
    }
    out_line(o, "end of dump of worker %d (pid %d)", w->id, (int)w->pid);
}

/* Write the listing where it was asked for: the heartbeat page's file
 * when the arbiter asked, else the error log (a log line each from the
 * loop; raw lines on the log's descriptor from the handler). */
static void write_dump(const struct gn_coro_run *run)
{
    static char buf[16384];
    struct gn_heartbeat *hb = dm.w->heartbeat;
    struct out o = {.mode = OUT_LOG, .fd = -1, .buf = buf, .cap = sizeof(buf)};
    uint32_t asked = hb ? __atomic_load_n(&hb->dump_asked, __ATOMIC_ACQUIRE)
                        : 0;
    char path[sizeof(hb->dump_path)];

    if (hb != NULL && asked != hb->dump_done) {
        memcpy(path, (const char *)hb->dump_path, sizeof(path));
        path[sizeof(path) - 1] = '\0';
        o.mode = OUT_FD;
        o.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (o.fd < 0) {
            out_line(&o, "greenicorn: worker %d (pid %d): dump: cannot open "
                         "%s",
                     dm.w->id, (int)dm.w->pid, path);
            o.fd = gn__log_error_fd();
            out_flush(&o);
            return; /* the arbiter says it missed */
        }
    } else if (run->co != NULL) {
        o.mode = OUT_FD;
        o.fd = gn__log_error_fd();
    }
    list_all(&o, run);
    out_flush(&o);
    if (o.mode != OUT_FD || o.fd == gn__log_error_fd())
        return;
    close(o.fd);
    if (!o.failed)
        __atomic_store_n(&hb->dump_done, asked, __ATOMIC_RELEASE);
}

/* ---- the handler, the loop, and two timers ----------------------------- */

static void arm(timer_t t, int64_t first_ms, int64_t every_ms)
{
    struct itimerspec its = {
        .it_value = {.tv_sec = first_ms / 1000,
                     .tv_nsec = (first_ms % 1000) * 1000000},
        .it_interval = {.tv_sec = every_ms / 1000,
                        .tv_nsec = (every_ms % 1000) * 1000000},
    };

    timer_settime(t, 0, &its, NULL); /* async-signal-safe */
}

/* The watchdog's period, in the loop thread's CPU time: twice per
 * max_blocking_ms, so a run spinning past the limit has its backtrace
 * before it is 1.5 times the limit. */
static int64_t watch_period_ms(void)
{
    int64_t ms = dm.slow_us / 2000;

    return ms > 0 ? ms : 1;
}

/* The watchdog's tick, in the handler on the loop's thread: it comes
 * only while the thread uses CPU, an idle worker gets none. */
static void watchdog_tick(const struct gn_coro_run *run)
{
    if (run->co != NULL && run->start_us != 0 && run->seq != dm.bt_seq &&
        gn__coro_clock_us() - run->start_us > dm.slow_us) {
        struct out o = {.mode = OUT_TEXT, .buf = dm.bt, .cap = sizeof(dm.bt)};

        dm.bt[0] = '\0';
        out_line(&o, "  its stack:");
        backtrace_to(&o, 1);
        if (o.len > 0 && dm.bt[o.len - 1] == '\n')
            dm.bt[o.len - 1] = '\0'; /* the log ends the line */
        dm.bt_seq = run->seq;
    }
}

/* HELD_MS after a dump was asked for and not written. */
static void dump_check(const struct gn_coro_run *run)
{
    uint32_t want = dm.wanted;

    if (dm.served == want) {
        dm.dump_armed = 0;
        return;
    }
    if (run->co != NULL && run->seq == dm.dump_seq) {
        /* One run went on all that time: it holds the loop. */
        dm.dump_armed = 0;
        write_dump(run);
        dm.served = want;
        return;
    }
    dm.dump_seq = run->seq; /* the loop is turning: it will get there */
    arm(dm.dump_timer, HELD_MS, 0);
}

static void on_dump_signal(int signo, siginfo_t *si, void *uc)
{
    int saved = errno;
    uint64_t one = 1;
    struct gn_coro_run run;

    (void)uc;
    if (!gn__loop_thread) { /* an app's thread got it: the loop's business */
        syscall(SYS_tgkill, dm.pid, dm.tid, signo);
        errno = saved;
        return;
    }
    gn__coro_run_now(&run);
    if (si->si_code == SI_TIMER && si->si_value.sival_int == TIMER_WATCH)
        watchdog_tick(&run);
    else if (si->si_code == SI_TIMER && si->si_value.sival_int == TIMER_DUMP)
        dump_check(&run);
    else { /* from outside: the arbiter, or kill -PWR */
        dm.wanted++;
        if (write(dm.efd, &one, sizeof(one)) < 0) {
            /* the counter is full: the loop will look anyway */
        }
        if (!dm.dump_armed) {
            dm.dump_armed = 1;
            dm.dump_seq = run.seq;
            arm(dm.dump_timer, HELD_MS, 0);
        }
    }
    errno = saved;
}

/* The loop's side: it is free, no coroutine runs. The handler only
 * touches the counters while this is not running or interrupts it, and
 * then finds nothing to do (no coroutine runs), so plain accesses do. */
static void on_wake(int fd, short what, void *arg)
{
    uint64_t n;
    uint32_t want = dm.wanted;
    struct gn_coro_run run = {0};

    (void)what;
    (void)arg;
    if (read(fd, &n, sizeof(n)) < 0) {
        /* EAGAIN: a wake-up already read */
    }
    if (dm.served == want)
        return; /* the handler wrote it while the loop was held */
    write_dump(&run);
    dm.served = want;
}

/* The handler runs on an alternate stack: the interrupted coroutine's may
 * be small (stack_size) and nearly full. The worker's SIGSEGV catcher may
 * have set one already. */
static void ensure_altstack(void)
{
    static char alt[64 * 1024];
    stack_t old, ss = {.ss_sp = alt, .ss_size = sizeof(alt)};

    if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE))
        return;
    sigaltstack(&ss, NULL);
}

/* Load and run once what the handler will use, so it loads nothing. */
static void warm_up(void)
{
    static char text[2048];
    struct out o = {.mode = OUT_TEXT, .buf = text, .cap = sizeof(text)};
    void *ips[4];
    Dl_info di;

    if (dladdr((const void *)&dm, &di) != 0)
        exe_base = di.dli_fbase;
    load_libunwind();
    backtrace(ips, 4); /* glibc loads libgcc_s on its first call */
    backtrace_to(&o, 0);
}

/* A timer on CLOCK that signals the loop's thread with ID in si_value. */
static int make_timer(timer_t *t, clockid_t clock, int id)
{
    struct sigevent sev = {.sigev_notify = SIGEV_THREAD_ID,
                           .sigev_signo = GN_DUMP_SIGNAL,
                           .sigev_value = {.sival_int = id}};

    sev._sigev_un._tid = dm.tid; /* glibc 2.36 names it no other way */
    return timer_create(clock, &sev, t) == 0 ? 0 : -errno;
}

int gn__dump_watch(struct gn_worker *w)
{
    struct sigaction sa = {.sa_sigaction = on_dump_signal,
                           .sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK};
    int rc;

    dm.w = w;
    dm.pid = getpid();
    dm.tid = (pid_t)syscall(SYS_gettid);
    dm.slow_us = w->cfg->max_blocking_ms * 1000LL;
    dm.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (dm.efd < 0)
        return -errno;
    rc = gn__watch_start(&dm.watch, w->loop, dm.efd,
                         GN_WATCH_READ | GN_WATCH_PERSIST, -1, on_wake, NULL);
    if (rc != 0)
        return rc;
    if ((rc = make_timer(&dm.dump_timer, CLOCK_MONOTONIC, TIMER_DUMP)) != 0)
        return rc;
    dm.timers = 1;
    /* The watchdog counts the loop thread's CPU time, not the clock's: a
     * thread blocked in a system call (a handler's poll) uses none, so
     * it is never interrupted there (a poll returns EINTR whatever
     * SA_RESTART says, and apps treat that as an error); spinning code
     * uses it all. */
    if (dm.slow_us && (rc = make_timer(&dm.watch_timer,
                                       CLOCK_THREAD_CPUTIME_ID, TIMER_WATCH)) != 0)
        return rc;
    dm.timers = dm.slow_us ? 2 : 1;
    warm_up();
    ensure_altstack();
    sigemptyset(&sa.sa_mask);
    if (sigaction(GN_DUMP_SIGNAL, &sa, NULL) != 0)
        return -errno;
    if (dm.slow_us)
        arm(dm.watch_timer, watch_period_ms(), watch_period_ms());
    return 0;
}

void gn__dump_unwatch(void)
{
    signal(GN_DUMP_SIGNAL, SIG_IGN);
    if (dm.timers >= 1)
        timer_delete(dm.dump_timer);
    if (dm.timers >= 2)
        timer_delete(dm.watch_timer);
    dm.timers = 0;
    gn__watch_stop(&dm.watch);
    if (dm.efd >= 0)
        close(dm.efd);
    dm.efd = -1;
}

const char *gn__dump_blocked_backtrace(void)
{
    struct gn_coro_run run;

    gn__coro_run_now(&run);
    return dm.bt_seq == run.seq && dm.bt_seq != 0 ? dm.bt : "";
}
