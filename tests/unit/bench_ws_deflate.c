/*
 * Speed and memory of permessage-deflate (websocket/deflate.c) on
 * JSON-ish messages of about 1 KB and 64 KB: MB/s of message bytes
 * compressed and inflated per CPU second, with and without context
 * takeover, the compressed size, the bytes a connection holds idle and
 * after a message (counted, and as RSS over many connections), and zlib's levels 1/6/9 on the same messages (the
 * reason for LEVEL in deflate.c). Built beside the unit tests, not run by
 * them:
 *
 *     build-gcc/tests/unit/bench_ws_deflate [seconds per figure, default 1]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "websocket/deflate.h"

#define NMSG 32

static uint64_t rng = 88172645463325252ull;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* A JSON array of event records, about SIZE bytes. */
static size_t json(char *buf, size_t size)
{
    static const char *const words[] = {
        "alpha", "update", "user", "order", "shipped", "pending", "red",
        "blue", "green", "price", "lorem", "ipsum", "dolor", "sit", "amet",
        "session", "click", "view", "cart", "checkout",
    };
    size_t n = 0;

    n += (size_t)snprintf(buf + n, size - n, "[");
    while (n + 200 < size) {
        n += (size_t)snprintf(buf + n, size - n,
            "%s{\"id\":%u,\"user\":\"user%u\",\"event\":\"%s\",\"ts\":%u.%03u,"
            "\"score\":0.%04u,\"tags\":[\"%s\",\"%s\"],\"text\":\"%s %s %s\"}",
            n > 1 ? "," : "", rnd(1000000), rnd(10000), words[rnd(20)],
            1733390000u + rnd(100000), rnd(1000), rnd(10000), words[rnd(20)],
            words[rnd(20)], words[rnd(20)], words[rnd(20)], words[rnd(20)]);
    }
    n += (size_t)snprintf(buf + n, size - n, "]");
    return n;
}

static double cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct set {
    char *msg[NMSG];
    size_t len[NMSG];
    struct gn_ws_zbuf z[NMSG]; /* compressed, in order */
    size_t zbytes;
};

static struct gn_ws_deflate *conn(bool takeover)
{
    struct gn_ws_deflate_params p = {!takeover, !takeover, 15, 15};

    return gn__ws_deflate_new(&p);
}

static void die(const char *what)
{
    fprintf(stderr, "bench_ws_deflate: %s failed\n", what);
    exit(1);
}

/* Compress the set in order with one connection; MB/s of input. */
static double bench_compress(struct set *s, bool takeover, double secs)
{
    double t0 = cpu_now(), t;
    size_t bytes = 0;
    struct gn_ws_zbuf out = {0};
    struct gn_ws_deflate *d = conn(takeover);

    do {
        for (int i = 0; i < NMSG; i++) {
            out.len = 0;
            if (gn__ws_deflate_compress(d, s->msg[i], s->len[i], &out) < 0)
                die("compress");
            bytes += s->len[i];
        }
    } while ((t = cpu_now() - t0) < secs);
    gn__ws_deflate_free(d);
    free(out.data);
    return (double)bytes / t / 1e6;
}

/* Inflate the set's payloads in order (a new connection per round, as
 * takeover needs); MB/s of output. */
static double bench_inflate(struct set *s, bool takeover, double secs)
{
    double t0 = cpu_now(), t;
    size_t bytes = 0;
    struct gn_ws_zbuf out = {0};

    do {
        struct gn_ws_deflate *d = conn(takeover);

        for (int i = 0; i < NMSG; i++) {
            out.len = 0;
            if (gn__ws_deflate_decompress(d, s->z[i].data, s->z[i].len, true,
                                          1 << 24, &out) < 0 ||
                out.len != s->len[i] || memcmp(out.data, s->msg[i], out.len))
                die("inflate");
            bytes += out.len;
        }
        gn__ws_deflate_free(d);
    } while ((t = cpu_now() - t0) < secs);
    free(out.data);
    return (double)bytes / t / 1e6;
}

static void prepare(struct set *s, size_t size, bool takeover)
{
    struct gn_ws_deflate *d = conn(takeover);

    s->zbytes = 0;
    for (int i = 0; i < NMSG; i++) {
        s->z[i].len = 0;
        if (gn__ws_deflate_compress(d, s->msg[i], s->len[i], &s->z[i]) < 0)
            die("compress");
        s->zbytes += s->z[i].len;
    }
    gn__ws_deflate_free(d);
    (void)size;
}

/* zlib alone at LEVEL, no context: MB/s and the compressed share. */
static void bench_level(struct set *s, int level, double secs)
{
    z_stream z = {0};
    unsigned char *out = malloc(deflateBound(&z, 1 << 17) + 64);
    double t0, t;
    size_t bytes = 0, zbytes = 0;

    if (out == NULL || deflateInit2(&z, level, Z_DEFLATED, -15, 8,
                                    Z_DEFAULT_STRATEGY) != Z_OK)
        die("deflateInit2");
    t0 = cpu_now();
    do {
        for (int i = 0; i < NMSG; i++) {
            deflateReset(&z);
            z.next_in = (Bytef *)s->msg[i];
            z.avail_in = (uInt)s->len[i];
            z.next_out = out;
            z.avail_out = (uInt)deflateBound(&z, s->len[i]) + 64;
            deflate(&z, Z_SYNC_FLUSH);
            bytes += s->len[i];
            zbytes += z.total_out - 4;
        }
    } while ((t = cpu_now() - t0) < secs);
    printf("| zlib level %d, no context | %.1f | | %.1f%% |\n", level,
           (double)bytes / t / 1e6, 100.0 * (double)zbytes / (double)bytes);
    deflateEnd(&z);
    free(out);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;

    if (f == NULL || fscanf(f, "%ld %ld", &pages, &rss) != 2)
        die("/proc/self/statm");
    fclose(f);
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* RSS per connection, malloc's overhead included: N connections that
 * each sent and received one message (no takeover: then idle). */
static void rss_figures(struct set *s)
{
    for (int takeover = 0; takeover <= 1; takeover++) {
        size_t n = takeover ? 1000 : 10000;
        struct gn_ws_deflate **c = calloc(n, sizeof(*c));
        struct gn_ws_zbuf z = {0}, out = {0};
        long before;

        if (c == NULL)
            die("calloc");
        /* The shared streams and the buffers exist before the count. */
        gn__ws_deflate_compress(c[0] = conn(takeover), s->msg[0], s->len[0], &z);
        gn__ws_deflate_free(c[0]);
        before = rss_kb();
        for (size_t i = 0; i < n; i++) {
            c[i] = conn(takeover);
            z.len = 0;
            out.len = 0;
            if (c[i] == NULL ||
                gn__ws_deflate_compress(c[i], s->msg[i % NMSG], s->len[i % NMSG], &z) < 0 ||
                gn__ws_deflate_decompress(c[i], z.data, z.len, true, 1 << 24, &out) < 0)
                die("message");
        }
        printf("| %s | %zu | %.2f KB |\n",
               takeover ? "context takeover" : "no context takeover (default)",
               n, (double)(rss_kb() - before) / (double)n);
        for (size_t i = 0; i < n; i++)
            gn__ws_deflate_free(c[i]);
        free(c);
        free(z.data);
        free(out.data);
    }
}

static void memory_figures(struct set *s)
{
    struct gn_ws_zbuf z = {0}, out = {0};

    for (int takeover = 0; takeover <= 1; takeover++) {
        struct gn_ws_deflate *tx = conn(takeover), *rx = conn(takeover);
        size_t idle = gn__ws_deflate_memory(rx);

        z.len = 0;
        if (gn__ws_deflate_compress(tx, s->msg[0], s->len[0], &z) < 0 ||
            gn__ws_deflate_decompress(rx, z.data, z.len, true, 1 << 24, &out) < 0)
            die("inflate");
        printf("| %s | %zu | %zu (compressor) + %zu (inflater) |\n",
               takeover ? "context takeover" : "no context takeover (default)",
               idle, gn__ws_deflate_memory(tx) - idle,
               gn__ws_deflate_memory(rx) - idle);
        gn__ws_deflate_free(tx);
        gn__ws_deflate_free(rx);
        out.len = 0;
    }
    printf("\nshared by the thread (once per worker): %zu bytes\n",
           gn__ws_deflate_shared_memory());
    free(z.data);
    free(out.data);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    static const size_t sizes[] = {1024, 65536};
    static struct set s;

    printf("zlib %s, %.1f s of CPU per figure, %d different messages each\n\n",
           zlibVersion(), secs, NMSG);
    for (size_t k = 0; k < 2; k++) {
        for (int i = 0; i < NMSG; i++) {
            free(s.msg[i]);
            s.msg[i] = malloc(sizes[k] + 1);
            if (s.msg[i] == NULL)
                die("malloc");
            s.len[i] = json(s.msg[i], sizes[k] + 1);
        }
        printf("### %zu-byte messages (%zu bytes each)\n\n", sizes[k], s.len[0]);
        printf("| mode | compress MB/s | inflate MB/s | compressed |\n|---|---|---|---|\n");
        for (int takeover = 0; takeover <= 1; takeover++) {
            double c = bench_compress(&s, takeover, secs), d;
            size_t total = 0;

            prepare(&s, sizes[k], takeover);
            d = bench_inflate(&s, takeover, secs);
            for (int i = 0; i < NMSG; i++)
                total += s.len[i];
            printf("| %s | %.1f | %.1f | %.1f%% |\n",
                   takeover ? "context takeover" : "no context takeover",
                   c, d, 100.0 * (double)s.zbytes / (double)total);
        }
        for (int level = 1; level <= 9; level += level == 1 ? 5 : 3)
            bench_level(&s, level, secs);
        printf("\n");
        if (k == 0) {
            printf("### Bytes a connection holds (gn__ws_deflate_memory)\n\n");
            printf("| policy | idle | after a message |\n|---|---|---|\n");
            memory_figures(&s);
            printf("\n| policy | connections | RSS per connection after a message |\n|---|---|---|\n");
            rss_figures(&s);
            printf("\n");
        }
    }
    for (int i = 0; i < NMSG; i++) {
        free(s.msg[i]);
        free(s.z[i].data);
    }
    gn__ws_deflate_shared_free();
    return 0;
}
