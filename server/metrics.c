/*
 * Rendering the Prometheus text format: a HELP and a TYPE line per metric
 * family, then its samples, names prefixed greenicorn_. Counters sum the
 * live workers' pages and the totals of the dead; gauges are per worker
 * (labelled worker="ID" and pid, since during a reload two workers share
 * an id). See metrics.h.
 */
#include "server/metrics.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* A growing string; a failed allocation leaves it failed (NULL). */
struct text {
    char *s;
    size_t len, cap;
    int failed;
};

static void put(struct text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        char *grown = realloc(t->s, t->cap * 2 + (size_t)n);
        if (grown == NULL) {
            t->failed = 1;
            return;
        }
        t->s = grown;
        t->cap = t->cap * 2 + (size_t)n;
    }
}

static void family(struct text *t, const char *name, const char *type,
                   const char *help)
{
    put(t, "# HELP greenicorn_%s %s\n# TYPE greenicorn_%s %s\n", name, help,
        name, type);
}

/* S as a label value: backslash, double quote and newline escaped. */
static void put_label(struct text *t, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            put(t, "\\%c", *s);
        else if (*s == '\n')
            put(t, "\\n");
        else
            put(t, "%c", *s);
    }
}

void gn__metrics_add(struct gn_metrics_totals *t,
                     const struct gn_worker_stats *st)
{
    t->requests += st->requests;
    t->accepted += st->accepted;
    for (size_t i = 0; i < 6; i++)
        t->status[i] += st->status[i];
    for (size_t i = 0; i <= GN_STATS_BUCKETS; i++)
        t->duration_bucket[i] += st->duration_bucket[i];
    t->duration_us += st->duration_us;
    for (size_t i = 0; i < GN_STATS_APPS && st->app_names[i][0]; i++) {
        size_t j = 0;

        while (j < t->napps && strncmp(t->apps[j].name, st->app_names[i],
                                       GN_STATS_APP_NAME) != 0)
            j++;
        if (j == t->napps) {
            if (t->napps == GN_METRICS_APPS)
                continue; /* more app names than ever configured at once */
            memcpy(t->apps[j].name, st->app_names[i], GN_STATS_APP_NAME);
            t->apps[j].name[GN_STATS_APP_NAME - 1] = '\0';
            t->napps++;
        }
        t->apps[j].n += st->app_requests[i];
    }
}

static void requests(struct text *t, const struct gn_metrics_totals *all)
{
    static const char *const cls[6] = {"other", "1xx", "2xx",
                                       "3xx",   "4xx", "5xx"};

    family(t, "requests_total", "counter",
           "Responses sent, by status class (499: the client left).");
    for (size_t i = 1; i <= 6; i++)
        put(t, "greenicorn_requests_total{status=\"%s\"} %llu\n", cls[i % 6],
            (unsigned long long)all->status[i % 6]);
    family(t, "app_requests_total", "counter", "Responses sent, by app.");
    for (size_t i = 0; i < all->napps; i++) {
        put(t, "greenicorn_app_requests_total{app=\"");
        put_label(t, all->apps[i].name);
        put(t, "\"} %llu\n", (unsigned long long)all->apps[i].n);
    }
    family(t, "worker_requests_total", "counter",
           "Requests served and stream connections handled "
           "(max_requests' count), all workers.");
    put(t, "greenicorn_worker_requests_total %llu\n",
        (unsigned long long)all->requests);
    family(t, "accepted_connections_total", "counter",
           "Connections accepted, all workers.");
    put(t, "greenicorn_accepted_connections_total %llu\n",
        (unsigned long long)all->accepted);
}

static void histogram(struct text *t, const struct gn_metrics_totals *all)
{
    uint64_t cum = 0;

    family(t, "request_duration_seconds", "histogram",
           "Time from a request's head to its response's end.");
    for (size_t i = 0; i < GN_STATS_BUCKETS; i++) {
        cum += all->duration_bucket[i];
        put(t, "greenicorn_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
            (double)gn__stats_buckets_us[i] / 1e6, (unsigned long long)cum);
    }
    cum += all->duration_bucket[GN_STATS_BUCKETS];
    put(t, "greenicorn_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
        (unsigned long long)cum);
    put(t, "greenicorn_request_duration_seconds_sum %.6f\n",
        (double)all->duration_us / 1e6);
    put(t, "greenicorn_request_duration_seconds_count %llu\n",
        (unsigned long long)cum);
}

/* One gauge family of the live workers, FIELD picked by WHICH. */
static void per_worker(struct text *t, const struct gn_metrics_worker *w,
                       size_t nw, const char *name, const char *help, int which)
{
    family(t, name, "gauge", help);
    for (size_t i = 0; i < nw; i++) {
        const struct gn_worker_stats *st = &w[i].hb->stats;
        long long v = which == 0   ? st->conns
                      : which == 1 ? st->websockets
                      : which == 2 ? st->coroutines
                                   : (long long)st->rss_kb * 1024;

        if (which == 3 && st->rss_kb < 0)
            continue;
        put(t, "greenicorn_%s{worker=\"%d\",pid=\"%d\"} %lld\n", name, w[i].id,
            (int)w[i].pid, v);
    }
}

static void workers(struct text *t, const struct gn_metrics_worker *w,
                    size_t nw, int wanted, const struct gn_metrics_totals *all)
{
    static const char *const why[GN_RESTART_COUNT] = {"watchdog", "crash",
                                                      "max_requests", "memory"};

    family(t, "workers", "gauge",
           "Worker processes serving (not counting retiring ones).");
    put(t, "greenicorn_workers %d\n", wanted);
    family(t, "worker_restarts_total", "counter",
           "Workers replaced, by reason.");
    for (size_t i = 0; i < GN_RESTART_COUNT; i++)
        put(t, "greenicorn_worker_restarts_total{reason=\"%s\"} %llu\n", why[i],
            (unsigned long long)all->restarts[i]);
    per_worker(t, w, nw, "connections", "Connections open.", 0);
    per_worker(t, w, nw, "websockets", "WebSockets open.", 1);
    per_worker(t, w, nw, "coroutines",
               "Coroutines live (requests being served, green threads).", 2);
    per_worker(t, w, nw, "worker_resident_memory_bytes",
               "Resident set size, sampled each second.", 3);
}

/* The accept queue of each listening TCP socket, where the kernel tells
 * it: for a socket in LISTEN, TCP_INFO's tcpi_unacked is the connections
 * waiting for accept() (MAX 0) or tcpi_sacked the backlog (MAX 1). */
static void queue(struct text *t, const struct gn_listener *ls, size_t nls,
                  int max)
{
    const char *name = max ? "listen_queue_max" : "listen_queue";
    int header = 0;

    for (size_t i = 0; i < nls; i++) {
        struct tcp_info ti;
        socklen_t len = sizeof(ti);

        if (ls[i].kind == GN_BIND_UNIX || ls[i].fd < 0 ||
            getsockopt(ls[i].fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
            ti.tcpi_state != 10 /* TCP_LISTEN */)
            continue;
        if (!header++)
            family(t, name, "gauge",
                   max ? "The accept queue's length (the backlog)."
                       : "Connections waiting in a listening socket's "
                         "accept queue.");
        put(t, "greenicorn_%s{listener=\"", name);
        put_label(t, ls[i].name);
        put(t, "\"} %u\n", max ? ti.tcpi_sacked : ti.tcpi_unacked);
    }
}

char *gn__metrics_render(const struct gn_metrics_totals *t,
                         const struct gn_metrics_worker *w, size_t nw,
                         int wanted, const struct gn_listener *ls, size_t nls,
                         size_t *len)
{
    struct gn_metrics_totals *all = malloc(sizeof(*all));
    struct text out = {.cap = 8192};

    out.s = malloc(out.cap);
    if (all == NULL || out.s == NULL) {
        free(all);
        free(out.s);
        return NULL;
    }
    *all = *t;
    for (size_t i = 0; i < nw; i++)
        gn__metrics_add(all, &w[i].hb->stats);
    requests(&out, all);
    histogram(&out, all);
    workers(&out, w, nw, wanted, all);
    queue(&out, ls, nls, 0);
    queue(&out, ls, nls, 1);
    free(all);
    if (out.failed) {
        free(out.s);
        return NULL;
    }
    *len = out.len;
    return out.s;
}
