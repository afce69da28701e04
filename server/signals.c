/*
 * Signal handling for the arbiter through a self-pipe (the classic trick,
 * as nginx and Gunicorn do): async-signal-safe, and the main loop sees each
 * signal in the order it came.
 */
#include "server/signals.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int pipe_fds[2] = {-1, -1};

static const int handled[] = {SIGHUP,  SIGCHLD, SIGTERM,  SIGINT,
                              SIGQUIT, SIGTTIN, SIGTTOU,  SIGUSR1,
                              SIGUSR2, SIGWINCH, SIGPWR};
#define NHANDLED (sizeof(handled) / sizeof(handled[0]))

static void on_signal(int signo)
{
    unsigned char b = (unsigned char)signo;
    int saved = errno;

    /* A full pipe drops the byte: the loop is far behind already, and a
     * second identical signal would be merged by the kernel anyway. */
    (void)!write(pipe_fds[1], &b, 1);
    errno = saved;
}

int gn__signals_install(void)
{
    struct sigaction sa;

    if (pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC) != 0)
        return -errno;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NHANDLED; i++)
        if (sigaction(handled[i], &sa, NULL) != 0)
            return -errno;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int gn__signals_fd(void)
{
    return pipe_fds[0];
}

int gn__signals_next(void)
{
    unsigned char b;
    ssize_t n;

    do {
        n = read(pipe_fds[0], &b, 1);
    } while (n < 0 && errno == EINTR);
    return n == 1 ? b : 0;
}

/* In the child: default handlers, and the pipe closed. SIGPWR's default
 * would kill it: a worker takes it as its dump request once booted, and
 * ignores it until then. */
static void forget(void)
{
    for (size_t i = 0; i < NHANDLED; i++)
        signal(handled[i], handled[i] == SIGPWR ? SIG_IGN : SIG_DFL);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    pipe_fds[0] = pipe_fds[1] = -1;
}

/* The handlers stay blocked across fork until the child has dropped
 * them: a child forked with our handler and our pipe would, if signalled
 * before its first instructions (a roll-back TERMs a new worker at once),
 * write that signal into the arbiter's pipe, and the arbiter would act on
 * it as its own (a TERM stopped the whole server). Held back, the signal
 * stays pending and meets the child's default disposition. */
pid_t gn__signals_fork(void)
{
    sigset_t held, old;
    pid_t pid;
    int saved;

    sigemptyset(&held);
    for (size_t i = 0; i < NHANDLED; i++)
        sigaddset(&held, handled[i]);
    sigprocmask(SIG_BLOCK, &held, &old);
    pid = fork();
    saved = errno;
    if (pid == 0)
        forget();
    sigprocmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return pid;
}

const char *gn__signal_name(int signo)
{
    const char *abbrev = sigabbrev_np(signo);
    static __thread char name[16];

    if (abbrev == NULL)
        return "an unknown signal";
    strcpy(name, "SIG");
    strncat(name, abbrev, sizeof(name) - 4);
    return name;
}
