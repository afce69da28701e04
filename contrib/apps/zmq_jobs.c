/*
 * zmq-jobs: the seed's "scaling with messaging". Each request is a job
 * handed over ZeroMQ to a pool of backend workers; the handler parks
 * until its answer comes back and answers 200 text/plain with it. While
 * it waits, its worker serves everything else, so one worker holds as
 * many jobs in flight as it holds connections.
 *
 * The job is the request's query string (GET /?resize=42), or its body
 * (POST, 64 KiB at most: 413 beyond).
 *
 * Two ways to talk to the backends ([app.args] mode):
 *
 *   mode = push (the default): a PUSH socket per worker, connected to
 *       every endpoint of `jobs`, deals the jobs out (ZeroMQ round-robins
 *       among the backends connected); each job is three frames
 *       [reply-to, job id, payload]. The answers come back on one socket
 *       per worker, read by one green thread of the worker's own that
 *       hands each to the request waiting for its job id:
 *         - a PULL the worker binds at `reply_bind` (default
 *           tcp://127.0.0.1:*, a port of the system's choosing); reply-to
 *           is the endpoint it got, and the backend PUSHes [job id,
 *           answer] there;
 *         - or, with `reply_sub` set, a SUB connected to the backends'
 *           PUB there, subscribed to a topic of this worker's own, which
 *           is then reply-to; the backend publishes [topic, job id,
 *           answer]. Pub/sub is at most once: an answer published before
 *           the subscription reached the backend (just after the worker
 *           started) is lost, and its request waits out its timeout.
 *
 *   mode = req: a pool of REQ sockets per worker, each connected to every
 *       endpoint of `jobs` (a ROUTER or REP): a request takes one, sends
 *       the payload and reads the answer on it. A socket whose answer did
 *       not come in time is closed (a REQ cannot send again before it got
 *       its answer): the "lazy pirate" of the ZeroMQ guide.
 *
 *     [app]
 *     module = build/contrib/apps/zmq-jobs.so
 *
 *     [app.args]
 *     mode = push
 *     jobs = tcp://127.0.0.1:5557      the backends (several: separated
 *                                      by spaces)
 *     reply_bind = tcp://127.0.0.1:*   push: where answers are PULLed
 *     reply_sub = tcp://127.0.0.1:5558 push: PUB to take answers from
 *     timeout = 5                      seconds a request waits for its
 *                                      answer (504 past it; 503 when no
 *                                      backend took the job in that time)
 *     pool = 64                        req: sockets per worker, at most
 *
 * Every worker makes its context and sockets in init (contexts are made
 * after fork; see zeromq.h), so preload_app is refused with a clear
 * message. init runs in the worker, and there it makes the ZeroMQ layer
 * wait with gn_wait_fd (what green_db's post_fork hook would do): the app
 * needs no hook. A worker that stops cancels the answers' thread; the
 * requests still waiting run into their timeouts.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <greenicorn.h>

#include <greenicorn/zeromq.h>

#define MAX_JOB (64 * 1024) /* bytes of a POSTed job */
#define BUCKETS 1024        /* of the waiting jobs' table */

/* A request waiting for its answer, on its handler's stack. */
struct job {
    uint64_t id;
    gn_event_t *done; /* set once ANSWER is there */
    char *answer;     /* malloc'ed by the answers' thread */
    size_t len;
    struct job *next; /* in its bucket */
};

struct jobs {
    int req_mode;
    const char *endpoints; /* the args' strings live as long as the worker */
    const char *reply_bind;
    const char *reply_sub;
    double timeout;
    int pool_size;
    /* push mode */
    gn_zmq_t *push;
    gn_zmq_t *answers;   /* PULL or SUB */
    char reply_to[256];  /* the PULL's endpoint, or the SUB's topic */
    gn_thread_t *reader; /* hands the answers out */
    int reading;         /* the reader has not returned */
    uint64_t next_id;
    struct job *waiting[BUCKETS];
    unsigned long long strays; /* answers nobody waited for (any more) */
    /* req mode */
    gn_sem_t *slots;
    gn_zmq_t **idle;
    int nidle;
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the waiting jobs --------------------------------------------------- */

static struct job **bucket(struct jobs *st, uint64_t id)
{
    return &st->waiting[id % BUCKETS];
}

static void enlist(struct jobs *st, struct job *j)
{
    struct job **b = bucket(st, j->id);

    j->next = *b;
    *b = j;
}

static struct job *delist(struct jobs *st, uint64_t id)
{
    struct job **p, *j;

    for (p = bucket(st, id); (j = *p) != NULL; p = &j->next) {
        if (j->id == id) {
            *p = j->next;
            return j;
        }
    }
    return NULL;
}

/* ---- the answers' thread (push mode) ------------------------------------ */

/* A job id sent as decimal text: 0 (never an id) when FRAME is not one. */
static uint64_t parse_id(zmq_msg_t *frame)
{
    char text[24];
    size_t len = zmq_msg_size(frame);
    char *end;
    uint64_t id;

    if (len == 0 || len >= sizeof(text))
        return 0;
    memcpy(text, zmq_msg_data(frame), len);
    text[len] = '\0';
    id = strtoull(text, &end, 10);
    return *end == '\0' ? id : 0;
}

/* One answer: [job id, answer], after the topic on a SUB. */
static void hand_out(struct jobs *st, zmq_msg_t *parts, int n)
{
    int first = st->reply_sub != NULL;
    struct job *j;

    if (n != first + 2 || (j = delist(st, parse_id(&parts[first]))) == NULL) {
        st->strays++;
        return;
    }
    j->len = zmq_msg_size(&parts[first + 1]);
    if ((j->answer = malloc(j->len + 1)) != NULL)
        memcpy(j->answer, zmq_msg_data(&parts[first + 1]), j->len);
    gn_event_set(j->done);
}

static int read_answers(void *arg)
{
    struct jobs *st = arg;
    zmq_msg_t parts[3];
    int n;

    for (;;) {
        for (int i = 0; i < 3; i++)
            zmq_msg_init(&parts[i]);
        /* Each call takes what the socket holds before it parks: the
         * queue is drained until libzmq says EAGAIN. */
        n = gn_zmq_recv_parts(st->answers, parts, 3, -1);
        if (n > 0 || n == -EMSGSIZE)
            hand_out(st, parts, n > 0 ? n : 4);
        for (int i = 0; i < 3; i++)
            zmq_msg_close(&parts[i]);
        if (n == -ECANCELED || n == -ETERM)
            break;
        if (n < 0 && n != -EMSGSIZE) {
            gn_log(GN_LOG_ERROR, "zmq-jobs: receiving answers: %s",
                   zmq_strerror(-n));
            if (gn_sleep(0.1) != 0)
                break;
        }
    }
    st->reading = 0;
    return 0;
}

/* ---- handling a request ------------------------------------------------- */

static int answer(gn_response_t *res, int status, const char *text)
{
    gn_response_status(res, status, NULL);
    gn_response_header(res, "Content-Type", "text/plain");
    return gn_response_printf(res, "%s\n", text);
}

/* The body of a POST (MAX_JOB bytes at most) in *JOB, in the request's
 * arena: its length, or a negative errno (-EMSGSIZE: too long). */
static ssize_t read_body(gn_request_t *req, char **job)
{
    char *buf = gn_request_alloc(req, MAX_JOB + 1);
    size_t len = 0;
    ssize_t n;

    if ((*job = buf) == NULL)
        return -ENOMEM;
    /* One byte more than a job takes tells a body too long. */
    while (len <= MAX_JOB &&
           (n = gn_request_read(req, buf + len, MAX_JOB + 1 - len)) > 0)
        len += (size_t)n;
    if (len > MAX_JOB)
        return -EMSGSIZE;
    return n < 0 ? n : (ssize_t)len;
}

/* The answer of a job that came back, or why none did. */
static int finish(gn_response_t *res, const struct jobs *st, int rc,
                  const char *data, size_t len)
{
    char why[80];

    if (rc == -ECANCELED)
        return rc;
    if (rc == -ETIMEDOUT) {
        snprintf(why, sizeof(why), "no answer within %g s", st->timeout);
        return answer(res, 504, why);
    }
    if (rc < 0) {
        gn_log(GN_LOG_ERROR, "zmq-jobs: %s", zmq_strerror(-rc));
        return answer(res, 502, "the backends failed");
    }
    if (data == NULL)
        return answer(res, 500, "out of memory");
    gn_response_header(res, "Content-Type", "text/plain");
    return gn_response_write(res, data, len);
}

/* A job sent on the PUSH socket could not go: no backend connected, or
 * all of them full, for the whole timeout. */
static int not_taken(gn_response_t *res, const struct jobs *st, int rc)
{
    char why[80];

    if (rc == -ECANCELED)
        return rc;
    if (rc != -ETIMEDOUT)
        gn_log(GN_LOG_ERROR, "zmq-jobs: sending a job: %s", zmq_strerror(-rc));
    snprintf(why, sizeof(why), "no backend took the job within %g s",
             st->timeout);
    return answer(res, 503, why);
}

static int push_job(struct jobs *st, gn_response_t *res, const char *payload,
                    size_t len)
{
    double end = now() + st->timeout;
    struct job j = {.id = ++st->next_id};
    char id[24];
    struct iovec parts[3];
    int rc;

    if ((j.done = gn_event_new()) == NULL)
        return answer(res, 500, "out of memory");
    parts[0] = (struct iovec){st->reply_to, strlen(st->reply_to)};
    parts[1] =
        (struct iovec){id, (size_t)snprintf(id, sizeof(id), "%" PRIu64, j.id)};
    parts[2] = (struct iovec){(void *)payload, len};
    /* Waiting before the job goes: its answer may come back before the
     * send returns. */
    enlist(st, &j);
    rc = gn_zmq_send_parts(st->push, parts, 3, st->timeout);
    if (rc < 0) {
        delist(st, j.id);
        gn_event_free(j.done);
        return not_taken(res, st, rc);
    }
    rc = gn_event_wait(j.done, fmax(end - now(), 0));
    if (rc < 0)
        delist(st, j.id); /* (no answer came: nothing to free) */
    gn_event_free(j.done);
    rc = finish(res, st, rc, j.answer, j.len);
    free(j.answer);
    return rc;
}

/* ---- req mode: a pool of REQ sockets ------------------------------------ */

/* Connect S to every endpoint of the space-separated LIST: 0 or -errno.
 * Messages go only to the backends connected (ZMQ_IMMEDIATE): with none,
 * a send waits, and the request is answered 503 when none came. */
static int connect_all(gn_zmq_t *s, const char *list)
{
    int immediate = 1;
    char ep[256];
    size_t n;

    if (zmq_setsockopt(gn_zmq_handle(s), ZMQ_IMMEDIATE, &immediate,
                       sizeof(immediate)) != 0)
        return -errno;
    for (const char *p = list; *p != '\0'; p += n) {
        p += strspn(p, " \t");
        if ((n = strcspn(p, " \t")) == 0)
            break;
        if (n >= sizeof(ep))
            return -ENAMETOOLONG;
        memcpy(ep, p, n);
        ep[n] = '\0';
        if (zmq_connect(gn_zmq_handle(s), ep) != 0)
            return -errno;
    }
    return 0;
}

/* A REQ socket, idle or new, within TIMEOUT: NULL with errno. */
static gn_zmq_t *req_get(struct jobs *st, double timeout)
{
    gn_zmq_t *s;
    int rc;

    if ((rc = gn_sem_acquire(st->slots, timeout)) != 0) {
        errno = -rc;
        return NULL;
    }
    if (st->nidle > 0)
        return st->idle[--st->nidle];
    if ((s = gn_zmq_socket(NULL, ZMQ_REQ)) != NULL &&
        (rc = connect_all(s, st->endpoints)) != 0) {
        gn_zmq_close(s);
        s = NULL;
        errno = -rc;
    }
    if (s == NULL) {
        rc = errno;
        gn_sem_release(st->slots);
        errno = rc;
    }
    return s;
}

/* S back to the pool; BROKEN (no answer read) closes it instead. */
static void req_put(struct jobs *st, gn_zmq_t *s, int broken)
{
    if (broken)
        gn_zmq_close(s);
    else
        st->idle[st->nidle++] = s;
    gn_sem_release(st->slots);
}

static int req_job(struct jobs *st, gn_response_t *res, const char *payload,
                   size_t len)
{
    double end = now() + st->timeout;
    zmq_msg_t reply;
    gn_zmq_t *s;
    int rc;

    if ((s = req_get(st, st->timeout)) == NULL)
        return not_taken(res, st, -errno);
    rc = gn_zmq_send(s, payload, len, 0, fmax(end - now(), 0));
    if (rc < 0) {
        req_put(st, s, 1);
        return not_taken(res, st, rc);
    }
    zmq_msg_init(&reply);
    rc = gn_zmq_recv_parts(s, &reply, 1, fmax(end - now(), 0));
    req_put(st, s, rc < 0);
    rc = finish(res, st, rc, zmq_msg_data(&reply), zmq_msg_size(&reply));
    zmq_msg_close(&reply);
    return rc;
}

static int jobs_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    struct jobs *st = state;
    const char *m = gn_request_method(req);
    char *payload = (char *)gn_request_query(req);
    ssize_t len;

    if (strcmp(m, "POST") == 0) {
        if ((len = read_body(req, &payload)) == -EMSGSIZE)
            return answer(res, 413, "a job has 64 KiB at most");
        if (len == -ENOMEM)
            return answer(res, 500, "out of memory");
        if (len < 0)
            return (int)len; /* the client left, or sent a broken body */
    } else if (strcmp(m, "GET") == 0) {
        len = payload != NULL ? (ssize_t)strlen(payload) : 0;
    } else {
        gn_response_header(res, "Allow", "GET, POST");
        return answer(res, 405, "GET /?JOB or POST the job");
    }
    if (st->req_mode)
        return req_job(st, res, payload, (size_t)len);
    return push_job(st, res, payload, (size_t)len);
}

/* ---- init and fini ------------------------------------------------------ */

static int parse_arg(struct jobs *st, const gn_app_arg_t *a)
{
    char *end;
    long v;

    if (strcmp(a->name, "mode") == 0 && strcmp(a->value, "push") == 0) {
        st->req_mode = 0;
    } else if (strcmp(a->name, "mode") == 0 && strcmp(a->value, "req") == 0) {
        st->req_mode = 1;
    } else if (strcmp(a->name, "jobs") == 0 && *a->value != '\0') {
        st->endpoints = a->value;
    } else if (strcmp(a->name, "reply_bind") == 0 && *a->value != '\0') {
        st->reply_bind = a->value;
    } else if (strcmp(a->name, "reply_sub") == 0 && *a->value != '\0') {
        st->reply_sub = a->value;
    } else if (strcmp(a->name, "timeout") == 0) {
        st->timeout = strtod(a->value, &end);
        if (end == a->value || *end != '\0' || !(st->timeout > 0) ||
            st->timeout > 3600)
            return -EINVAL;
    } else if (strcmp(a->name, "pool") == 0) {
        errno = 0;
        v = strtol(a->value, &end, 10);
        if (errno != 0 || end == a->value || *end != '\0' || v < 1 ||
            v > 100000)
            return -EINVAL;
        st->pool_size = (int)v;
    } else {
        return -EINVAL;
    }
    return 0;
}

static void jobs_fini(void *state)
{
    struct jobs *st = state;

    if (st == NULL)
        return;
    if (st->strays > 0)
        gn_log(GN_LOG_INFO,
               "zmq-jobs: %llu answer(s) came after their request gave up",
               st->strays);
    /* The worker cancelled the reader as it began to stop: it has
     * returned. Were it still waiting, its sockets would be left to the
     * process's exit rather than closed under it. */
    if (!st->reading) {
        gn_zmq_close(st->answers);
        gn_zmq_close(st->push);
    }
    while (st->nidle > 0)
        gn_zmq_close(st->idle[--st->nidle]);
    free(st->idle);
    gn_sem_free(st->slots);
    free(st);
}

/* The answers' socket, bound or connected and subscribed: 0 or -errno. */
static int open_answers(struct jobs *st)
{
    void *h;
    size_t len = sizeof(st->reply_to);

    st->answers = gn_zmq_socket(NULL, st->reply_sub ? ZMQ_SUB : ZMQ_PULL);
    if (st->answers == NULL)
        return -errno;
    h = gn_zmq_handle(st->answers);
    if (st->reply_sub != NULL) {
        /* A topic no other worker's is a prefix of: the pid, ended. */
        snprintf(st->reply_to, sizeof(st->reply_to), "gn-%ld.", (long)getpid());
        if (zmq_setsockopt(h, ZMQ_SUBSCRIBE, st->reply_to,
                           strlen(st->reply_to)) != 0 ||
            zmq_connect(h, st->reply_sub) != 0)
            return -errno;
        return 0;
    }
    if (zmq_bind(h, st->reply_bind) != 0 ||
        zmq_getsockopt(h, ZMQ_LAST_ENDPOINT, st->reply_to, &len) != 0)
        return -errno;
    return 0;
}

static int open_push(struct jobs *st)
{
    int rc;

    if ((st->push = gn_zmq_socket(NULL, ZMQ_PUSH)) == NULL)
        return -errno;
    if ((rc = connect_all(st->push, st->endpoints)) != 0)
        return rc;
    if ((rc = open_answers(st)) != 0)
        return rc;
    if ((st->reader = gn_spawn(read_answers, st)) == NULL)
        return -EAGAIN;
    st->reading = 1;
    return 0;
}

static int open_pool(struct jobs *st)
{
    gn_zmq_t *probe;

    st->idle = calloc((size_t)st->pool_size, sizeof(*st->idle));
    st->slots = gn_sem_new((unsigned)st->pool_size);
    if (st->idle == NULL || st->slots == NULL)
        return -ENOMEM;
    /* The sockets come with the requests; one now checks the endpoints. */
    if ((probe = gn_zmq_socket(NULL, ZMQ_REQ)) == NULL)
        return -errno;
    st->idle[st->nidle++] = probe;
    return connect_all(probe, st->endpoints);
}

/* A green thread that returns at once: whether this init runs in a
 * worker (in the arbiter, with preload_app, none can start). The worker
 * frees it once it returned. */
static int nothing(void *arg)
{
    (void)arg;
    return 0;
}

static int jobs_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct jobs *st = calloc(1, sizeof(*st));
    int rc;

    if (st == NULL)
        return -ENOMEM;
    *st = (struct jobs){.endpoints = "tcp://127.0.0.1:5557",
                        .reply_bind = "tcp://127.0.0.1:*",
                        .timeout = 5,
                        .pool_size = 64};
    for (size_t i = 0; i < nargs; i++) {
        if (parse_arg(st, &args[i]) != 0) {
            gn_log(GN_LOG_ERROR, "zmq-jobs: bad argument %s = '%s'",
                   args[i].name, args[i].value);
            free(st);
            return -EINVAL;
        }
    }
    /* No context in the arbiter: it would not survive the fork. */
    if (gn_spawn(nothing, NULL) == NULL)
        rc = -EAGAIN;
    else
        rc = st->req_mode ? open_pool(st) : open_push(st);
    if (rc != 0) {
        gn_log(GN_LOG_ERROR, "zmq-jobs: cannot start: %s%s", zmq_strerror(-rc),
               rc == -EAGAIN ? " (preload_app is not for this app: each "
                               "worker makes its sockets in its init)"
                             : "");
        jobs_fini(st);
        return rc;
    }
    /* In a worker (gn_spawn proved it): wait green from now on. */
    gn_zmq_set_wait(gn_wait_fd);
    *state = st;
    return 0;
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,         .name = "zmq-jobs", .init = jobs_init,
    .handle = jobs_handle, .fini = jobs_fini,
};
