/*
 * `greenicorn ctl -s SOCKET COMMAND [ARGS] [--json]`: connect to the
 * arbiter's control socket, send the command as one line, read the one
 * JSON line it answers, and print it for a person (tables) or for a
 * script (--json, the answer as it came). Gunicorn 26's `gunicornc` is
 * the model; the commands are ours (server/arbiter.c's control_command).
 */
#include "server/ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "core/clock.h"
#include "server/control.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define ANSWER_MS 60000 /* a reload runs the apps' checks first */

struct ctl_args {
    const char *socket;
    int json;
    char line[GN_CONTROL_LINE + 1];
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: greenicorn ctl -s SOCKET COMMAND [ARGS] [--json]\n\n"
            "Send COMMAND to the server listening at SOCKET (its "
            "control_socket).\n\n"
            "  -s, --socket PATH  the control socket\n"
            "  -j, --json         print the answer as JSON, for scripts\n"
            "  -h, --help         print this help and exit\n\n"
            "Commands:\n"
            "  status       the arbiter: pid, version, uptime, workers, "
            "listeners\n"
            "  workers      each worker: pid, age, requests, connections, "
            "RSS, state\n"
            "  stats        totals since the start\n"
            "  reload       reload the configuration (as HUP)\n"
            "  upgrade      start a new arbiter from the binary (as USR2)\n"
            "  add [N]      N more workers (as TTIN N times)\n"
            "  remove [N]   N fewer workers (as TTOU N times)\n"
            "  reopen-logs  reopen the log files (as USR1)\n"
            "  dump         each worker's listing of its coroutines\n"
            "  help         the commands the server knows\n");
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "greenicorn ctl: %s%s%s\n", msg, arg ? ": " : "",
            arg ? arg : "");
    fprintf(stderr, "Try 'greenicorn ctl --help'.\n");
    return EXIT_USAGE;
}

/* Options anywhere (the brief's `COMMAND --json` too); the rest, joined
 * by spaces, is the command line. 0, 1 for --help, or EXIT_USAGE. */
static int parse(int argc, char **argv, struct ctl_args *o)
{
    size_t len = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "-j") == 0 || strcmp(a, "--json") == 0)
            o->json = 1;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return 1;
        else if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0) {
            if (++i == argc)
                return usage_error("option needs a value", a);
            o->socket = argv[i];
        } else if (strncmp(a, "--socket=", 9) == 0)
            o->socket = a + 9;
        else if (a[0] == '-' && len == 0)
            return usage_error("unrecognized option", a);
        else if (len + strlen(a) + 2 > sizeof(o->line) - 1)
            return usage_error("command too long", NULL);
        else
            len += (size_t)snprintf(o->line + len, sizeof(o->line) - len,
                                    "%s%s", len ? " " : "", a);
    }
    if (o->socket == NULL)
        return usage_error("no control socket: give -s SOCKET", NULL);
    if (len == 0)
        return usage_error("no command", NULL);
    o->line[len] = '\n';
    return 0;
}

/* ---- the exchange ----------------------------------------------------- */

static int connect_to(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "greenicorn ctl: %s: path too long\n", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        return fd;
    if (errno == ENOENT)
        fprintf(stderr, "greenicorn ctl: %s: no such socket (is the server "
                "running with control_socket = %s?)\n", path, path);
    else if (errno == ECONNREFUSED)
        fprintf(stderr, "greenicorn ctl: %s: connection refused (the server "
                "is gone: a stale socket)\n", path);
    else if (errno == EACCES || errno == EPERM)
        fprintf(stderr, "greenicorn ctl: %s: permission denied (only the "
                "server's user and root may use it)\n", path);
    else
        fprintf(stderr, "greenicorn ctl: %s: %s\n", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

/* Read FD's answer up to its newline (or its end). A malloc'd string, or
 * NULL (with the reason said when SAY). */
static char *read_answer(int fd, int say)
{
    size_t cap = 4096, got = 0;
    char *buf = malloc(cap);
    int64_t deadline = gn__monotonic_ms() + ANSWER_MS;
    ssize_t n = 1;

    while (buf != NULL && n > 0 && memchr(buf, '\n', got) == NULL) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - gn__monotonic_ms();

        if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
            fprintf(stderr, "greenicorn ctl: no answer within %d s\n",
                    ANSWER_MS / 1000);
            free(buf);
            return NULL;
        }
        if (got + 1 == cap) {
            char *grown = realloc(buf, cap *= 2);

            if (grown == NULL)
                break;
            buf = grown;
        }
        n = read(fd, buf + got, cap - 1 - got);
        got += n > 0 ? (size_t)n : 0;
    }
    if (buf == NULL || got == 0) {
        if (say)
            fprintf(stderr, "greenicorn ctl: the server closed the "
                    "connection without an answer\n");
        free(buf);
        return NULL;
    }
    buf[got] = '\0';
    return buf;
}

static char *exchange(const struct ctl_args *o)
{
    size_t len = strlen(o->line);
    char *answer;
    int fd = connect_to(o->socket), sent;

    if (fd < 0)
        return NULL;
    /* A server that refuses us answers and closes at once, maybe before
     * we send: its answer is still ours to read. */
    sent = send(fd, o->line, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : errno;
    answer = read_answer(fd, sent == 0);
    if (answer == NULL && sent != 0)
        fprintf(stderr, "greenicorn ctl: %s: cannot send: %s\n", o->socket,
                strerror(sent));
    close(fd);
    return answer;
}

/* ---- printing for people ---------------------------------------------- */

static json_int_t num(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s ? s : "";
}

/* "3d04h", "2h05m", "4m07s", "12s" */
static const char *duration(double secs, char *out, size_t len)
{
    long s = (long)secs;

    if (s >= 86400)
        snprintf(out, len, "%ldd%02ldh", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        snprintf(out, len, "%ldh%02ldm", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(out, len, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(out, len, "%lds", s);
    return out;
}

static double real(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static void print_status(const json_t *d)
{
    const json_t *w = json_object_get(d, "workers"), *l;
    char up[32];
    size_t i;

    printf("arbiter     pid %d, greenicorn %s, up %s\n", (int)num(d, "pid"),
           str(d, "version"), duration(real(d, "uptime"), up, sizeof(up)));
    printf("workers     %d wanted, %d alive, %d booted\n",
           (int)num(w, "wanted"), (int)num(w, "alive"), (int)num(w, "booted"));
    printf("generation  %d\n", (int)num(d, "generation"));
    printf("listeners  ");
    json_array_foreach(json_object_get(d, "listeners"), i, l)
        printf("%s %s", i ? "," : "", json_string_value(l));
    printf("\n");
    if (json_is_string(json_object_get(d, "config")))
        printf("config      %s\n", str(d, "config"));
    if (num(d, "new_arbiter") != 0)
        printf("upgrading   new arbiter pid %d\n", (int)num(d, "new_arbiter"));
}

static void print_workers(const json_t *d)
{
    const json_t *w;
    char age[32];
    size_t i;

    printf("%4s %8s %8s %10s %6s %10s  %s\n", "ID", "PID", "AGE", "REQUESTS",
           "CONNS", "RSS(KiB)", "STATE");
    json_array_foreach(json_object_get(d, "workers"), i, w)
        printf("%4d %8d %8s %10lld %6d %10lld  %s\n", (int)num(w, "id"),
               (int)num(w, "pid"), duration(real(w, "age"), age, sizeof(age)),
               (long long)num(w, "requests"), (int)num(w, "connections"),
               (long long)num(w, "rss_kb"), str(w, "state"));
    printf("%zu worker(s)\n", json_array_size(json_object_get(d, "workers")));
}

static void print_stats(const json_t *d)
{
    char up[32];

    printf("requests        %lld\n", (long long)num(d, "requests"));
    printf("accepted        %lld\n", (long long)num(d, "accepted"));
    printf("connections     %lld\n", (long long)num(d, "connections"));
    printf("rss_kb          %lld\n", (long long)num(d, "rss_kb"));
    printf("workers_forked  %lld\n", (long long)num(d, "workers_forked"));
    printf("workers_exited  %lld\n", (long long)num(d, "workers_exited"));
    printf("reloads         %lld\n", (long long)num(d, "reloads"));
    printf("uptime          %s\n", duration(real(d, "uptime"), up, sizeof(up)));
}

static void print_dump(const json_t *d)
{
    const json_t *w;
    size_t i;

    json_array_foreach(json_object_get(d, "workers"), i, w) {
        if (json_is_true(json_object_get(w, "answered"))) {
            const char *text = str(w, "listing");
            size_t len = strlen(text);

            printf("== worker %d (pid %d)\n%s%s", (int)num(w, "id"),
                   (int)num(w, "pid"), text,
                   len && text[len - 1] != '\n' ? "\n" : "");
        } else {
            printf("== worker %d (pid %d): no listing: %s\n", (int)num(w, "id"),
                   (int)num(w, "pid"), str(w, "error"));
        }
    }
}

static void print_help(const json_t *d)
{
    const char *key;
    const json_t *v;

    json_object_foreach((json_t *)json_object_get(d, "commands"), key, v)
        printf("  %-12s %s\n", key, json_string_value(v));
}

/* The answer DATA to COMMAND (its first word), for a person. */
static void print_human(const char *cmd, const json_t *d)
{
    if (strcmp(cmd, "status") == 0)
        print_status(d);
    else if (strcmp(cmd, "workers") == 0)
        print_workers(d);
    else if (strcmp(cmd, "stats") == 0)
        print_stats(d);
    else if (strcmp(cmd, "dump") == 0)
        print_dump(d);
    else if (strcmp(cmd, "help") == 0)
        print_help(d);
    else if (strcmp(cmd, "reload") == 0)
        printf("reloading: generation %d starting\n",
               (int)num(d, "generation"));
    else if (strcmp(cmd, "upgrade") == 0)
        printf("new arbiter pid %d started; this one (pid %d) serves until "
               "it gets TERM\n",
               (int)num(d, "new_pid"), (int)num(d, "old_pid"));
    else if (strcmp(cmd, "add") == 0 || strcmp(cmd, "remove") == 0)
        printf("workers: %d -> %d\n", (int)num(d, "previous"),
               (int)num(d, "workers"));
    else if (strcmp(cmd, "reopen-logs") == 0)
        printf("log files reopened\n");
    else {
        char *text = json_dumps(d, JSON_INDENT(2));

        printf("%s\n", text ? text : "");
        free(text);
    }
}

/* ---- the command ------------------------------------------------------ */

static int show(const struct ctl_args *o, const char *answer)
{
    json_error_t jerr;
    json_t *doc = json_loads(answer, JSON_DISABLE_EOF_CHECK, &jerr);
    const json_t *ok = json_object_get(doc, "ok");
    char cmd[GN_CONTROL_LINE];
    int status = EXIT_FAILED;

    if (!json_is_boolean(ok)) {
        fprintf(stderr, "greenicorn ctl: not an answer from a greenicorn "
                "control socket: %.80s\n", answer);
    } else if (json_is_false(ok)) {
        fprintf(stderr, "greenicorn ctl: %s\n", str(doc, "error"));
        if (o->json)
            printf("%s", answer);
    } else {
        status = 0;
        snprintf(cmd, sizeof(cmd), "%.*s", (int)strcspn(o->line, " \n"),
                 o->line);
        if (o->json)
            printf("%s", answer);
        else
            print_human(cmd, json_object_get(doc, "data"));
    }
    json_decref(doc);
    return status;
}

int gn__ctl_main(int argc, char **argv)
{
    struct ctl_args o = {0};
    char *answer;
    int rc = parse(argc, argv, &o);

    if (rc == 1) {
        usage(stdout);
        return 0;
    }
    if (rc != 0)
        return rc;
    answer = exchange(&o);
    if (answer == NULL)
        return EXIT_FAILED;
    rc = show(&o, answer);
    free(answer);
    if (fflush(stdout) != 0)
        rc = EXIT_FAILED;
    return rc;
}
