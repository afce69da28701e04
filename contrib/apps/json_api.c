/*
 * json_api: a small JSON REST API with routing: how an app with per-worker
 * state, several routes and a request body is written. It keeps a list of
 * to-do items in memory:
 *
 *     GET    /items          200 and every item as a JSON array, oldest
 *                            first: [{"id":1,"title":"milk"}]
 *     POST   /items          creates an item from {"title":"milk"} (sent as
 *                            Content-Type: application/json): 201 with
 *                            Location: MOUNT/items/ID and the item
 *     GET    /items/ID       200 and the item, or 404
 *     DELETE /items/ID       204, or 404
 *     GET    /health         200 {"status":"ok","pid":1234}
 *
 * The paths are PATH_INFO, under the app's mount. HEAD works wherever GET
 * does. Another method on one of these paths is 405 with an Allow header;
 * any other path is 404. Every error has a JSON body, {"error":"..."}:
 * 400 for a body that is not a JSON object with one string field "title",
 * 413 for a body over 64 KiB, 415 for one that is not application/json,
 * and 507 when the store is full.
 *
 *     [app:api]
 *     module = build/contrib/apps/json_api.so
 *     mount = /api
 *
 *     [app:api.args]
 *     max_items = 1000         how many items the store holds (the
 *                              default); creating one more answers 507
 *                              Insufficient Storage until one is deleted
 *                              (not 409: the request is fine, the server
 *                              is out of room, as with a full disk)
 *
 * The store is per worker process (init's state): each worker has its own
 * list, gone when the worker exits. Run it with workers = 1 to see one
 * consistent list; a real app keeps its data in a database.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <greenicorn.h>

#define MAX_BODY (64 * 1024) /* a POST body over this is 413 */
#define DEFAULT_MAX_ITEMS 1000
#define LIMIT_MAX_ITEMS 10000000

struct item {
    uint64_t id;
    char *title; /* malloc'd, valid UTF-8 without NUL */
};

/* The items in increasing id order (ids only grow, and deleting keeps the
 * order), so a lookup is a binary search. */
struct store {
    struct item *items;
    size_t len, cap, max;
    uint64_t next_id;
};

/* ---- the store -------------------------------------------------------- */

static struct item *store_find(struct store *st, uint64_t id)
{
    size_t lo = 0, hi = st->len;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (st->items[mid].id == id)
            return &st->items[mid];
        if (st->items[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Add an item with a copy of TITLE: it, or NULL with *ERR set to -ENOSPC
 * when the store is full or -ENOMEM. */
static struct item *store_add(struct store *st, const char *title, int *err)
{
    struct item *it;

    if (st->len == st->max) {
        *err = -ENOSPC;
        return NULL;
    }
    if (st->len == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 16;
        struct item *grown;

        cap = cap < st->max ? cap : st->max;
        if ((grown = realloc(st->items, cap * sizeof(*grown))) == NULL)
            goto fail_nomem;
        st->items = grown;
        st->cap = cap;
    }
    it = &st->items[st->len];
    if ((it->title = strdup(title)) == NULL)
        goto fail_nomem;
    it->id = st->next_id++;
    st->len++;
    return it;

fail_nomem:
    *err = -ENOMEM;
    return NULL;
}

static void store_remove(struct store *st, struct item *it)
{
    size_t i = (size_t)(it - st->items);

    free(it->title);
    memmove(it, it + 1, (st->len - i - 1) * sizeof(*it));
    st->len--;
}

/* ---- JSON out --------------------------------------------------------- */

/* S as a JSON string. Quotes, backslashes and control characters are
 * escaped; the rest is valid UTF-8 (the parser saw to it) and goes as is. */
static int write_json_string(gn_response_t *res, const char *s)
{
    const char *run = s;
    char esc[8];
    int rc = gn_response_write(res, "\"", 1);

    for (; rc == 0 && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc = gn_response_write(res, run, (size_t)(s - run));
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof(esc), "\\%c", c);
        else
            snprintf(esc, sizeof(esc), "\\u%04x", c);
        if (rc == 0)
            rc = gn_response_write(res, esc, strlen(esc));
        run = s + 1;
    }
    if (rc == 0)
        rc = gn_response_write(res, run, (size_t)(s - run));
    return rc ? rc : gn_response_write(res, "\"", 1);
}

static void json_head(gn_response_t *res, int status)
{
    gn_response_status(res, status, NULL);
    gn_response_header(res, "Content-Type", "application/json");
}

/* {"error":"MSG"} with STATUS. */
static int reply_error(gn_response_t *res, int status, const char *msg)
{
    int rc;

    json_head(res, status);
    rc = gn_response_write(res, "{\"error\":", 9);
    if (rc == 0)
        rc = write_json_string(res, msg);
    return rc ? rc : gn_response_write(res, "}\n", 2);
}

static int write_item(gn_response_t *res, const struct item *it)
{
    int rc = gn_response_printf(res, "{\"id\":%" PRIu64 ",\"title\":", it->id);

    if (rc == 0)
        rc = write_json_string(res, it->title);
    return rc ? rc : gn_response_write(res, "}", 1);
}

/* ---- JSON in ---------------------------------------------------------- */

/*
 * A strict parser for the one shape this API accepts: a flat JSON object
 * whose values are strings. It never reads at or past END. Strings are
 * decoded into OUT, which the caller sized as the input plus one: a string
 * that decodes to N bytes took at least N + 2 input bytes (escapes only
 * shrink, and there are the quotes) and takes N + 1 (its NUL), so OUT
 * cannot overflow.
 */
struct json {
    const char *start, *p, *end;
    char *out;       /* next free byte for decoded strings */
    const char *err; /* the first error, for the 400 */
    size_t err_at;   /* its byte offset */
};

static int fail(struct json *j, const char *why)
{
    if (j->err == NULL) {
        j->err = why;
        j->err_at = (size_t)(j->p - j->start);
    }
    return -1;
}

static void skip_ws(struct json *j)
{
    while (j->p < j->end &&
           (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* Consume C (after whitespace) if it is next. */
static int eat(struct json *j, char c)
{
    skip_ws(j);
    if (j->p == j->end || *j->p != c)
        return 0;
    j->p++;
    return 1;
}

static int hex4(struct json *j, uint32_t *cp)
{
    if (j->end - j->p < 4)
        return fail(j, "truncated \\u escape");
    *cp = 0;
    for (int i = 0; i < 4; i++, j->p++) {
        char c = *j->p;
        uint32_t v;

        if (c >= '0' && c <= '9')
            v = (uint32_t)(c - '0');
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            v = (uint32_t)((c | 0x20) - 'a' + 10);
        else
            return fail(j, "bad hex digit in a \\u escape");
        *cp = *cp << 4 | v;
    }
    return 0;
}

static void put_utf8(struct json *j, uint32_t cp)
{
    unsigned char *o = (unsigned char *)j->out;

    if (cp < 0x80) {
        *o++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *o++ = (unsigned char)(0xc0 | cp >> 6);
        *o++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (unsigned char)(0xe0 | cp >> 12);
        *o++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        *o++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (unsigned char)(0xf0 | cp >> 18);
        *o++ = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
        *o++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        *o++ = (unsigned char)(0x80 | (cp & 0x3f));
    }
    j->out = (char *)o;
}

/* After "\u": one code point, or a UTF-16 surrogate pair as JSON spells
 * characters past U+FFFF. A lone surrogate is not a character: refused. */
static int unicode_escape(struct json *j)
{
    uint32_t cp, lo;

    if (hex4(j, &cp) != 0)
        return -1;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return fail(j, "lone low surrogate");
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
            return fail(j, "high surrogate without its low half");
        j->p += 2;
        if (hex4(j, &lo) != 0)
            return -1;
        if (lo < 0xdc00 || lo > 0xdfff)
            return fail(j, "high surrogate without its low half");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    /* Titles are C strings. */
    if (cp == 0)
        return fail(j, "\\u0000 is not allowed");
    put_utf8(j, cp);
    return 0;
}

/* After a backslash. */
static int escape(struct json *j)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit;

    if (j->p == j->end)
        return fail(j, "unterminated string");
    if (*j->p == 'u') {
        j->p++;
        return unicode_escape(j);
    }
    /* memchr, not strchr: a NUL byte must not match the terminator. */
    if ((hit = memchr(from, *j->p, sizeof(from) - 1)) == NULL)
        return fail(j, "bad escape");
    *j->out++ = to[hit - from];
    j->p++;
    return 0;
}

/* Copy one raw UTF-8 sequence (a lead byte >= 0x80 at P) if well-formed:
 * no overlong forms, no surrogates, nothing past U+10FFFF. */
static int utf8_sequence(struct json *j)
{
    const unsigned char *s = (const unsigned char *)j->p;
    uint32_t cp, min;
    size_t n;

    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
        cp = s[0] & 0x1f;
        min = 0x80;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        cp = s[0] & 0x0f;
        min = 0x800;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        cp = s[0] & 0x07;
        min = 0x10000;
    } else {
        return fail(j, "invalid UTF-8");
    }
    if ((size_t)(j->end - j->p) < n)
        return fail(j, "invalid UTF-8");
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return fail(j, "invalid UTF-8");
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return fail(j, "invalid UTF-8");
    memcpy(j->out, j->p, n);
    j->out += n;
    j->p += n;
    return 0;
}

/* A string (after whitespace), decoded and NUL-terminated in OUT. */
static char *string(struct json *j)
{
    char *s = j->out;
    int rc = 0;

    if (!eat(j, '"')) {
        fail(j, "expected a string");
        return NULL;
    }
    while (rc == 0 && j->p < j->end) {
        unsigned char c = (unsigned char)*j->p;

        if (c == '"') {
            j->p++;
            *j->out++ = '\0';
            return s;
        }
        if (c == '\\') {
            j->p++;
            rc = escape(j);
        } else if (c < 0x20) {
            rc = fail(j, "control character in a string");
        } else if (c < 0x80) {
            *j->out++ = (char)c;
            j->p++;
        } else {
            rc = utf8_sequence(j);
        }
    }
    if (rc == 0)
        fail(j, "unterminated string");
    return NULL;
}

/* One "name": "value" member; only "title", once. */
static int member(struct json *j, const char **title)
{
    const char *name, *value;

    if ((name = string(j)) == NULL)
        return -1;
    if (!eat(j, ':'))
        return fail(j, "expected ':'");
    if ((value = string(j)) == NULL)
        return -1;
    if (strcmp(name, "title") != 0)
        return fail(j, "unknown field (an item has only \"title\")");
    if (*title != NULL)
        return fail(j, "duplicate \"title\"");
    *title = value;
    return 0;
}

/* The whole input: one object, nothing after it. */
static int parse_item(struct json *j, const char **title)
{
    *title = NULL;
    if (!eat(j, '{'))
        return fail(j, "expected '{'");
    if (!eat(j, '}')) {
        do {
            if (member(j, title) != 0)
                return -1;
        } while (eat(j, ','));
        if (!eat(j, '}'))
            return fail(j, "expected ',' or '}'");
    }
    skip_ws(j);
    if (j->p != j->end)
        return fail(j, "data after the object");
    return *title == NULL ? fail(j, "missing \"title\"") : 0;
}

/* ---- requests --------------------------------------------------------- */

/* What a route's handler gets. */
struct call {
    gn_request_t *req;
    gn_response_t *res;
    struct store *st;
    uint64_t id; /* the ID of /items/ID */
};

/* Read the whole body into the request's arena, in the pieces it arrives
 * in: its length, -EFBIG past MAX_BODY, or the read's negative errno. */
static ssize_t read_body(gn_request_t *req, char **out)
{
    int64_t declared = gn_request_content_length(req);
    size_t cap = MAX_BODY, len = 0;
    ssize_t n;
    char *buf;

    if (declared > MAX_BODY)
        return -EFBIG;
    if (declared >= 0)
        cap = (size_t)declared;
    /* One byte more than allowed: filling it means the body is too big. */
    if ((buf = gn_request_alloc(req, cap + 1)) == NULL)
        return -ENOMEM;
    while (len <= cap) {
        n = gn_request_read(req, buf + len, cap + 1 - len);
        if (n < 0)
            return n;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > cap)
        return -EFBIG;
    *out = buf;
    return (ssize_t)len;
}

/* "application/json", with parameters or not. */
static int is_json(const char *type)
{
    static const char json[] = "application/json";
    size_t n = sizeof(json) - 1;

    return type != NULL && strncasecmp(type, json, n) == 0 &&
           (type[n] == '\0' || type[n] == ';' || type[n] == ' ');
}

/* The title from a POST body (in the request's arena), or NULL once the
 * error was answered (*RC is then what handle returns). */
static const char *read_title(struct call *c, int *rc)
{
    struct json j = {0};
    const char *title;
    char *body, why[128];
    ssize_t len;

    if (!is_json(gn_request_header(c->req, "Content-Type"))) {
        *rc = reply_error(c->res, 415, "expected application/json");
        return NULL;
    }
    if ((len = read_body(c->req, &body)) < 0) {
        *rc = len == -EFBIG ? reply_error(c->res, 413, "body over 64 KiB")
                            : (int)len;
        return NULL;
    }
    j.start = j.p = body;
    j.end = body + len;
    if ((j.out = gn_request_alloc(c->req, (size_t)len + 1)) == NULL) {
        *rc = -ENOMEM;
        return NULL;
    }
    if (parse_item(&j, &title) != 0) {
        snprintf(why, sizeof(why), "bad JSON at byte %zu: %s", j.err_at, j.err);
        *rc = reply_error(c->res, 400, why);
        return NULL;
    }
    return title;
}

static int create_item(struct call *c)
{
    const char *title, *script = gn_request_script_name(c->req);
    struct item *it;
    char *location;
    size_t size = strlen(script) + sizeof("/items/") + 20;
    int rc = 0;

    if ((title = read_title(c, &rc)) == NULL)
        return rc;
    if ((it = store_add(c->st, title, &rc)) == NULL)
        return rc == -ENOSPC ? reply_error(c->res, 507, "the store is full")
                             : rc;
    if ((location = gn_request_alloc(c->req, size)) == NULL)
        return -ENOMEM;
    snprintf(location, size, "%s/items/%" PRIu64, script, it->id);
    json_head(c->res, 201);
    gn_response_header(c->res, "Location", location);
    rc = write_item(c->res, it);
    return rc ? rc : gn_response_write(c->res, "\n", 1);
}

static int list_items(struct call *c)
{
    int rc;

    json_head(c->res, 200);
    rc = gn_response_write(c->res, "[", 1);
    for (size_t i = 0; rc == 0 && i < c->st->len; i++) {
        if (i > 0)
            rc = gn_response_write(c->res, ",", 1);
        if (rc == 0)
            rc = write_item(c->res, &c->st->items[i]);
    }
    return rc ? rc : gn_response_write(c->res, "]\n", 2);
}

static int get_item(struct call *c)
{
    struct item *it = store_find(c->st, c->id);
    int rc;

    if (it == NULL)
        return reply_error(c->res, 404, "no such item");
    json_head(c->res, 200);
    rc = write_item(c->res, it);
    return rc ? rc : gn_response_write(c->res, "\n", 1);
}

static int delete_item(struct call *c)
{
    struct item *it = store_find(c->st, c->id);

    if (it == NULL)
        return reply_error(c->res, 404, "no such item");
    store_remove(c->st, it);
    return gn_response_status(c->res, 204, NULL);
}

static int health(struct call *c)
{
    json_head(c->res, 200);
    return gn_response_printf(c->res, "{\"status\":\"ok\",\"pid\":%ld}\n",
                              (long)getpid());
}

/* ---- routing ---------------------------------------------------------- */

enum route { ROUTE_NONE, ROUTE_HEALTH, ROUTE_ITEMS, ROUTE_ITEM };

static const struct endpoint {
    enum route route;
    const char *method;
    int (*fn)(struct call *c);
} endpoints[] = {
    {.route = ROUTE_HEALTH, .method = "GET", .fn = health},
    {.route = ROUTE_ITEMS, .method = "GET", .fn = list_items},
    {.route = ROUTE_ITEMS, .method = "POST", .fn = create_item},
    {.route = ROUTE_ITEM, .method = "GET", .fn = get_item},
    {.route = ROUTE_ITEM, .method = "DELETE", .fn = delete_item},
};

/* The Allow header of each route, for the 405. */
static const char *const allowed[] = {
    [ROUTE_HEALTH] = "GET, HEAD",
    [ROUTE_ITEMS] = "GET, HEAD, POST",
    [ROUTE_ITEM] = "GET, HEAD, DELETE",
};

/* An id as its canonical decimal: digits, no leading zero, and at most 19
 * of them so it cannot overflow. */
static int parse_id(const char *s, uint64_t *id)
{
    size_t n = strspn(s, "0123456789");

    if (n == 0 || n > 19 || s[n] != '\0' || s[0] == '0')
        return 0;
    *id = strtoull(s, NULL, 10);
    return 1;
}

static enum route route(const char *path, uint64_t *id)
{
    if (strcmp(path, "/health") == 0)
        return ROUTE_HEALTH;
    if (strcmp(path, "/items") == 0)
        return ROUTE_ITEMS;
    if (strncmp(path, "/items/", 7) == 0 && parse_id(path + 7, id))
        return ROUTE_ITEM;
    return ROUTE_NONE;
}

static int json_api_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    struct call c = {.req = req, .res = res, .st = state};
    const char *method = gn_request_method(req);
    enum route r = route(gn_request_path_info(req), &c.id);

    if (r == ROUTE_NONE)
        return reply_error(res, 404, "no such route");
    /* The server sends a HEAD the head of the GET. */
    if (strcmp(method, "HEAD") == 0)
        method = "GET";
    for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++)
        if (endpoints[i].route == r && strcmp(endpoints[i].method, method) == 0)
            return endpoints[i].fn(&c);
    gn_response_header(res, "Allow", allowed[r]);
    return reply_error(res, 405, "method not allowed");
}

/* ---- life cycle ------------------------------------------------------- */

static int parse_max_items(const char *value, size_t *max)
{
    char *end;
    unsigned long long n;

    if (value[0] < '0' || value[0] > '9')
        return -EINVAL;
    n = strtoull(value, &end, 10);
    if (*end != '\0' || n < 1 || n > LIMIT_MAX_ITEMS)
        return -EINVAL;
    *max = (size_t)n;
    return 0;
}

static int json_api_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct store *st = calloc(1, sizeof(*st));

    if (st == NULL)
        return -ENOMEM;
    st->max = DEFAULT_MAX_ITEMS;
    st->next_id = 1;
    for (size_t i = 0; i < nargs; i++) {
        if (strcmp(args[i].name, "max_items") != 0) {
            gn_log(GN_LOG_ERROR, "json_api: unknown argument '%s' (max_items)",
                   args[i].name);
            goto fail_args;
        }
        if (parse_max_items(args[i].value, &st->max) != 0) {
            gn_log(GN_LOG_ERROR,
                   "json_api: max_items '%s' is not a number from 1 to %d",
                   args[i].value, LIMIT_MAX_ITEMS);
            goto fail_args;
        }
    }
    *state = st;
    return 0;

fail_args:
    free(st);
    return -EINVAL;
}

static void json_api_fini(void *state)
{
    struct store *st = state;

    for (size_t i = 0; i < st->len; i++)
        free(st->items[i].title);
    free(st->items);
    free(st);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,         .name = "json_api",
    .init = json_api_init, .handle = json_api_handle,
    .fini = json_api_fini,
};
