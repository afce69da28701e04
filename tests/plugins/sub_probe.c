/*
 * sub_probe: the worker's Redis subscription (contrib/green/redis_sub.h)
 * made visible over HTTP, for tests/e2e/test_redis_sub.py. init starts the
 * subscription; each message it delivers is kept, numbered from 1, in the
 * worker's memory:
 *
 *     GET  /messages?after=N&wait=S   the messages numbered above N, one
 *                                     "NUMBER CHANNEL DATA" line each,
 *                                     waiting up to S seconds (default 0)
 *                                     for the first when there is none
 *     GET  /messages?...&hex=1        the same with DATA in hex (bytes)
 *     GET  /state                     "up 1 messages 12 losses 0
 *                                     stopped 0"
 *     POST /publish?channel=C         PUBLISH the body on C (default: the
 *                                     first channel): "RECEIVERS\n", or
 *                                     503 with why
 *     POST /stop                      gn_redis_sub_stop from a request
 *
 * A message whose data is "probe:stop" makes on_message stop the
 * subscription itself (it is kept first).
 *
 * Every answer carries X-Worker-Pid, so a test holding one keep-alive
 * connection per worker reads each worker's own messages.
 *
 *     [app.args]
 *     host = 127.0.0.1
 *     port = 6379
 *     channels = a,b        the channels subscribed (comma-separated)
 *     timeout = 2           the subscription's and PUBLISH's timeout
 *     ping_interval = 5
 *     slow_first = 0        seconds on_message sleeps (green) after
 *                           keeping the first message: a slow consumer
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <greenicorn.h>

#include <greenicorn/redis.h>
#include <greenicorn/redis_sub.h>

#define MAX_CHANNELS 8
#define MAX_MESSAGES 1000000
#define MAX_BODY (1 << 20)

struct message {
    char *channel;
    char *data;
    size_t len;
};

struct probe {
    const char *host;
    int port;
    char *channels[MAX_CHANNELS];
    size_t nchannels;
    gn_redis_sub_opts_t opts;
    gn_redis_sub_t *sub;
    gn_redis_pool_t *pool;
    struct message *msgs; /* the first at [0] */
    size_t n, cap;
    gn_event_t *arrived; /* set and cleared at each message */
    double slow_first;
};

/* ---- what the subscription delivers ------------------------------------- */

static void on_message(const char *channel, const void *data, size_t len,
                       void *arg)
{
    struct probe *p = arg;
    struct message *grown, *m;

    if (p->n == MAX_MESSAGES) {
        gn_log(GN_LOG_ERROR, "sub_probe: more than %d messages", MAX_MESSAGES);
        return;
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        if ((grown = realloc(p->msgs, p->cap * sizeof(*grown))) == NULL)
            abort();
        p->msgs = grown;
    }
    m = &p->msgs[p->n++];
    m->channel = strdup(channel);
    m->data = malloc(len + 1);
    if (m->channel == NULL || m->data == NULL)
        abort();
    memcpy(m->data, data, len + 1); /* the NUL after it too */
    m->len = len;
    if (len == 10 && memcmp(data, "probe:stop", 10) == 0) {
        gn_redis_sub_stop(p->sub); /* from the subscription's own thread */
        p->sub = NULL;
    }
    /* Wake every long poll waiting now; later ones wait for the next. */
    gn_event_set(p->arrived);
    gn_event_clear(p->arrived);
    if (p->n == 1 && p->slow_first > 0)
        gn_sleep(p->slow_first); /* -ECANCELED when the worker stops */
}

static void on_state(int up, void *arg)
{
    (void)arg;
    gn_log(GN_LOG_DEBUG, "sub_probe: subscription %s", up ? "up" : "down");
}

/* ---- requests ----------------------------------------------------------- */

/* The value of NAME in QUERY ("a=1&b=2"), undecoded, into BUF; NULL when
 * absent. */
static const char *param(const char *query, const char *name, char *buf,
                         size_t len)
{
    size_t n = strlen(name);

    for (const char *q = query; q != NULL && *q != '\0';) {
        const char *end = strchr(q, '&');
        size_t vlen;

        if (end == NULL)
            end = q + strlen(q);
        if (strncmp(q, name, n) == 0 && q[n] == '=') {
            vlen = (size_t)(end - (q + n + 1));
            if (vlen >= len)
                vlen = len - 1;
            memcpy(buf, q + n + 1, vlen);
            buf[vlen] = '\0';
            return buf;
        }
        q = *end == '&' ? end + 1 : NULL;
    }
    return NULL;
}

static int plain(gn_response_t *res, int status)
{
    char pid[24];

    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    gn_response_status(res, status, NULL);
    gn_response_header(res, "Content-Type", "text/plain");
    return gn_response_header(res, "X-Worker-Pid", pid);
}

/* Message I as "NUMBER CHANNEL DATA\n", DATA in hex when HEX. */
static int write_message(gn_response_t *res, const struct probe *p, size_t i,
                         int hex)
{
    const struct message *m = &p->msgs[i];
    int rc = gn_response_printf(res, "%zu %s ", i + 1, m->channel);

    if (rc == 0 && !hex)
        rc = gn_response_write(res, m->data, m->len);
    for (size_t k = 0; rc == 0 && hex && k < m->len; k++)
        rc = gn_response_printf(res, "%02x", (unsigned char)m->data[k]);
    return rc != 0 ? rc : gn_response_write(res, "\n", 1);
}

static int get_messages(struct probe *p, gn_request_t *req, gn_response_t *res)
{
    char buf[32];
    const char *q = gn_request_query(req);
    size_t after = 0;
    double wait = 0;
    int hex = param(q, "hex", buf, sizeof(buf)) != NULL, rc;

    if (param(q, "after", buf, sizeof(buf)))
        after = strtoul(buf, NULL, 10);
    if (param(q, "wait", buf, sizeof(buf)))
        wait = strtod(buf, NULL);
    if (!(wait >= 0) || wait > 60)
        wait = 0;
    if (p->n <= after && wait > 0) {
        /* Each wake is a message: wait again until one is ours or time is
         * up (the event's waits each get what is left). */
        double left = wait;
        struct timespec t0, t1;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (p->n <= after && left > 0) {
            rc = gn_event_wait(p->arrived, left);
            if (rc == -ECANCELED)
                return rc;
            clock_gettime(CLOCK_MONOTONIC, &t1);
            left = wait - ((double)(t1.tv_sec - t0.tv_sec) +
                           (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
        }
    }
    plain(res, 200);
    for (size_t i = after; i < p->n; i++)
        if ((rc = write_message(res, p, i, hex)) != 0)
            return rc;
    return 0;
}

static int publish(struct probe *p, gn_request_t *req, gn_response_t *res)
{
    char channel[128], err[256];
    char *body = gn_request_alloc(req, MAX_BODY);
    size_t len = 0;
    ssize_t n = 0;
    int rc;

    if (body == NULL)
        return -ENOMEM;
    while (len < MAX_BODY &&
           (n = gn_request_read(req, body + len, MAX_BODY - len)) > 0)
        len += (size_t)n;
    if (n < 0)
        return (int)n;
    if (len == MAX_BODY) {
        plain(res, 413);
        return gn_response_printf(res, "under %d bytes only\n", MAX_BODY);
    }
    if (!param(gn_request_query(req), "channel", channel, sizeof(channel)))
        snprintf(channel, sizeof(channel), "%s", p->channels[0]);
    rc = gn_redis_publish(p->pool, channel, body, len, p->opts.timeout, err,
                          sizeof(err));
    if (rc == -ECANCELED)
        return rc;
    if (rc < 0) {
        plain(res, 503);
        return gn_response_printf(res, "%s\n", err);
    }
    plain(res, 200);
    return gn_response_printf(res, "%d\n", rc);
}

static int probe_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    struct probe *p = state;
    const char *path = gn_request_path(req);
    const char *method = gn_request_method(req);

    if (strcmp(path, "/messages") == 0 && strcmp(method, "GET") == 0)
        return get_messages(p, req, res);
    if (strcmp(path, "/publish") == 0 && strcmp(method, "POST") == 0)
        return publish(p, req, res);
    if (strcmp(path, "/stop") == 0 && strcmp(method, "POST") == 0) {
        gn_redis_sub_stop(p->sub); /* kills and joins it, from a request */
        p->sub = NULL;
        plain(res, 200);
        return gn_response_printf(res, "stopped\n");
    }
    if (strcmp(path, "/state") == 0) {
        plain(res, 200);
        if (p->sub == NULL)
            return gn_response_printf(res,
                                      "up 0 messages %zu losses 0 "
                                      "stopped 1\n",
                                      p->n);
        return gn_response_printf(res,
                                  "up %d messages %llu losses %u "
                                  "stopped 0\n",
                                  gn_redis_sub_up(p->sub),
                                  gn_redis_sub_messages(p->sub),
                                  gn_redis_sub_losses(p->sub));
    }
    plain(res, 404);
    return gn_response_printf(res, "not here\n");
}

/* ---- the worker --------------------------------------------------------- */

static int take_channels(struct probe *p, const char *list)
{
    char *copy = strdup(list), *save = NULL;

    if (copy == NULL)
        return -ENOMEM;
    for (char *c = strtok_r(copy, ",", &save); c != NULL;
         c = strtok_r(NULL, ",", &save)) {
        if (p->nchannels == MAX_CHANNELS)
            break;
        if ((p->channels[p->nchannels] = strdup(c)) == NULL)
            break;
        p->nchannels++;
    }
    free(copy);
    return p->nchannels > 0 ? 0 : -EINVAL;
}

static int parse_arg(struct probe *p, const gn_app_arg_t *a)
{
    char *end;

    if (strcmp(a->name, "host") == 0)
        p->host = a->value;
    else if (strcmp(a->name, "port") == 0)
        p->port = (int)strtol(a->value, &end, 10);
    else if (strcmp(a->name, "channels") == 0)
        return take_channels(p, a->value);
    else if (strcmp(a->name, "timeout") == 0)
        p->opts.timeout = strtod(a->value, &end);
    else if (strcmp(a->name, "ping_interval") == 0)
        p->opts.ping_interval = strtod(a->value, &end);
    else if (strcmp(a->name, "slow_first") == 0)
        p->slow_first = strtod(a->value, &end);
    else
        return -EINVAL;
    return 0;
}

static void free_probe(struct probe *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->msgs[i].channel);
        free(p->msgs[i].data);
    }
    free(p->msgs);
    for (size_t i = 0; i < p->nchannels; i++)
        free(p->channels[i]);
    gn_redis_pool_free(p->pool);
    gn_event_free(p->arrived);
    free(p);
}

static int probe_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct probe *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return -ENOMEM;
    p->host = "127.0.0.1";
    p->port = 6379;
    p->opts = (gn_redis_sub_opts_t){
        .name = "sub_probe", .timeout = 2, .on_state = on_state};
    for (size_t i = 0; i < nargs; i++) {
        if (parse_arg(p, &args[i]) != 0) {
            gn_log(GN_LOG_ERROR, "sub_probe: bad argument %s = '%s'",
                   args[i].name, args[i].value);
            free_probe(p);
            return -EINVAL;
        }
    }
    if (p->nchannels == 0 && take_channels(p, "probe") != 0)
        goto fail;
    p->arrived = gn_event_new();
    p->pool = gn_redis_pool_new(p->host, p->port, 4);
    if (p->arrived == NULL || p->pool == NULL)
        goto fail;
    p->sub =
        gn_redis_sub_start(p->host, p->port, (const char *const *)p->channels,
                           p->nchannels, on_message, p, &p->opts);
    if (p->sub == NULL) {
        gn_log(GN_LOG_ERROR, "sub_probe: cannot start the subscription: %s",
               strerror(errno));
        goto fail;
    }
    *state = p;
    return 0;

fail:
    free_probe(p);
    return -ENOMEM;
}

static void probe_fini(void *state)
{
    struct probe *p = state;
    size_t n = p->n;

    gn_redis_sub_stop(p->sub);
    gn_log(GN_LOG_INFO, "sub_probe: subscription stopped after %zu message(s)",
           n);
    free_probe(p);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,          .name = "sub_probe", .init = probe_init,
    .handle = probe_handle, .fini = probe_fini,
};
