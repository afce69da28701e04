/*
 * What a Socket.IO event's JSON costs to parse and write back with each
 * JSON library of Debian 12 (jansson, json-c, cJSON), and what each does
 * with the inputs a client may send that are not plain JSON: the figures
 * behind socketio/packet.h's choice of jansson. Not built by meson (json-c
 * and cJSON are no dependency); compiled once per library, by hand:
 *
 *     apt-get install libjansson-dev libjson-c-dev libcjson-dev
 *     for lib in jansson json-c cjson; do
 *         cc -O2 -DLIB_$(echo $lib | tr a-z- A-Z_) -o /tmp/pd-$lib \
 *             bench/json/parse_dump.c -l$lib && /tmp/pd-$lib
 *     done
 *
 * Each prints the CPU time of 1e6 parse + compact dump + free of EVENT
 * (CPU time, not wall: the bench machine is shared), then its answer to
 * each probe: the text it writes back, or why it refused the input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(LIB_JANSSON)
#include <jansson.h>
#define NAME "jansson (REJECT_DUPLICATES)"
#elif defined(LIB_JSON_C)
#include <json-c/json.h>
#define NAME "json-c (STRICT | VALIDATE_UTF8)"
#elif defined(LIB_CJSON)
#include <cjson/cJSON.h>
#define NAME "cJSON"
#else
#error "define LIB_JANSSON, LIB_JSON_C or LIB_CJSON"
#endif

#define ROUNDS 1000000

/* A typical event's arguments (the text after "42"). */
static const char EVENT[] =
    "[\"say\",{\"room\":\"lobby\",\"text\":\"hello, world \\u00e9\\u4e16\","
    "\"n\":42,\"ok\":true,\"tags\":[\"a\",\"b\",null],\"ratio\":0.125}]";

static const char *const PROBES[] = {
    "[\"\xff\xfe\"]",           /* invalid UTF-8 */
    "[\"\xed\xa0\x80\"]",       /* a surrogate, UTF-8 encoded (CESU) */
    "{\"a\":1,\"a\":2}",        /* a duplicate key */
    "[9223372036854775807]",    /* INT64_MAX */
    "[9223372036854775808]",    /* INT64_MAX + 1 */
    "[100000000000000000000]",  /* JSON.stringify(1e20) */
    "[9007199254740993]",       /* 2^53 + 1 */
    "[1e400]",                  /* past a double */
    "[\"a\\u0000b\"]",          /* a NUL in a string */
    "[\"\\ud800\"]",            /* a lone surrogate, escaped */
    "[1,]", "[01]", "[NaN]",    /* not JSON */
    "[\"x\"] junk",             /* trailing bytes */
};

/* Parse P[0, N) and dump it compactly: a malloc'd string, or NULL with
 * *WHY saying why. */
static char *parse_dump(const char *p, size_t n, const char **why)
{
#if defined(LIB_JANSSON)
    static json_error_t e;
    json_t *v = json_loadb(p, n, JSON_REJECT_DUPLICATES, &e);
    char *s;

    if (v == NULL)
        return *why = e.text, NULL;
    s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return s;
#elif defined(LIB_JSON_C)
    struct json_tokener *tok = json_tokener_new();
    json_object *v;
    char *s = NULL;

    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    v = json_tokener_parse_ex(tok, p, (int)n);
    if (v == NULL)
        *why = json_tokener_error_desc(json_tokener_get_error(tok));
    else if (json_tokener_get_parse_end(tok) != n)
        *why = "trailing bytes";
    else
        s = strdup(json_object_to_json_string_ext(
            v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(v);
    json_tokener_free(tok);
    return s;
#else
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(p, n, &end, 0);
    char *s;

    if (v == NULL)
        return *why = "refused", NULL;
    while (end < p + n && *end == ' ')
        end++;
    if (end != p + n) {
        cJSON_Delete(v);
        return *why = "trailing bytes", NULL;
    }
    s = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    return s;
#endif
}

static double cpu_seconds(void)
{
    struct timespec t;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(void)
{
    const char *why = NULL;
    size_t out = 0;
    double t0 = cpu_seconds(), t;

    for (int i = 0; i < ROUNDS; i++) {
        char *s = parse_dump(EVENT, sizeof(EVENT) - 1, &why);

        if (s == NULL)
            return fprintf(stderr, "EVENT refused: %s\n", why), 1;
        out += strlen(s);
        free(s);
    }
    t = cpu_seconds() - t0;
    printf("%s: %.0f ns per parse + dump (%d rounds, %.2f s CPU, %zu bytes out)\n",
           NAME, t * 1e9 / ROUNDS, ROUNDS, t, out / ROUNDS);
    for (size_t i = 0; i < sizeof(PROBES) / sizeof(PROBES[0]); i++) {
        char *s = parse_dump(PROBES[i], strlen(PROBES[i]), &why);

        printf("  %-26s -> %s\n", PROBES[i], s ? s : why);
        free(s);
    }
    return 0;
}
