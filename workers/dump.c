/*
 * The minimal dump: when the arbiter asks (dump_asked moved past
 * dump_done on the heartbeat page), write "worker ID pid PID: N
 * connections, M requests" to the file it named, then publish dump_done;
 * when nobody asked (a `kill -PWR` by hand), log the same line.
 */
#include "workers/dump.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "workers/worker.h"

static struct gn_watch watch;

static void write_listing(const struct gn_worker *w, const char *path)
{
    char line[160];
    int len = snprintf(line, sizeof(line),
                       "worker %d pid %d: %zu connections, %llu requests\n",
                       w->id, (int)w->pid, w->net.n,
                       (unsigned long long)w->nrequests);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0 || write(fd, line, (size_t)len) != len)
        gn_log_error("worker %d (pid %d): dump: cannot write %s: %s", w->id,
                     (int)w->pid, path, strerror(errno));
    if (fd >= 0)
        close(fd);
}

static void on_dump(int signo, short what, void *arg)
{
    struct gn_worker *w = arg;
    struct gn_heartbeat *hb = w->heartbeat;
    uint32_t asked;
    char path[sizeof(hb->dump_path)];

    (void)signo;
    (void)what;
    asked = hb ? __atomic_load_n(&hb->dump_asked, __ATOMIC_ACQUIRE) : 0;
    if (hb == NULL || asked == hb->dump_done) {
        gn_log_info("worker %d pid %d: %zu connections, %llu requests",
                    w->id, (int)w->pid, w->net.n,
                    (unsigned long long)w->nrequests);
        return;
    }
    memcpy(path, hb->dump_path, sizeof(path));
    path[sizeof(path) - 1] = '\0';
    write_listing(w, path);
    __atomic_store_n(&hb->dump_done, asked, __ATOMIC_RELEASE);
}

int gn__dump_watch(struct gn_worker *w)
{
    return gn__watch_signal(&watch, w->loop, GN_DUMP_SIGNAL, on_dump, w);
}

void gn__dump_unwatch(void)
{
    gn__watch_stop(&watch);
    signal(GN_DUMP_SIGNAL, SIG_IGN);
}
