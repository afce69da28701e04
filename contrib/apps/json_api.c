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
 * 400 for a body that is not JSON ("bad JSON at byte N: ...") or not an
 * object with a string "title" (other members are ignored, a name twice
 * is refused, nesting past 64 levels is refused), 413 for a body over
 * 64 KiB, 415 for one that is not application/json, and 507 when the
 * store is full.
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
 *
 * It also shows how an app links a library of the distribution: JSON is
 * read and written by jansson (Debian libjansson-dev), linked like in any
 * program. Only the gn_* calls come from the server, at dlopen time:
 *
 *     cc -shared -fPIC $(pkg-config --cflags greenicorn jansson) \
 *         -o json_api.so json_api.c $(pkg-config --libs jansson)
 *
 * jansson allocates with malloc and recurses on the coroutine's stack, so
 * what it returns is released with json_decref and the depth it may reach
 * is bounded before it parses (too_deep).
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
#include <jansson.h>

#define MAX_BODY (64 * 1024) /* a POST body over this is 413 */
#define MAX_DEPTH 64         /* JSON nested deeper is 400 */
#define DEFAULT_MAX_ITEMS 1000
#define LIMIT_MAX_ITEMS 10000000

struct item {
    uint64_t id;
    json_t *json; /* {"id":ID,"title":"..."}: one reference, the store's */
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

/* Add an item whose title is the JSON string TITLE (the item takes a
 * reference of its own): it, or NULL with *ERR set to -ENOSPC when the
 * store is full or -ENOMEM. */
static struct item *store_add(struct store *st, json_t *title, int *err)
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
    /* "O" takes a new reference to TITLE; jansson keeps the keys in the
     * order they were set, so the item is written as {"id":..,"title":..}. */
    it->json =
        json_pack("{s:I,s:O}", "id", (json_int_t)st->next_id, "title", title);
    if (it->json == NULL)
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

    json_decref(it->json);
    memmove(it, it + 1, (st->len - i - 1) * sizeof(*it));
    st->len--;
}

/* ---- JSON out --------------------------------------------------------- */

/* Where jansson's dump callback writes, and the first error. */
struct sink {
    gn_response_t *res;
    int rc;
};

/* Each piece jansson writes goes into the response as it comes. */
static int write_piece(const char *buf, size_t len, void *data)
{
    struct sink *out = data;

    out->rc = gn_response_write(out->res, buf, len);
    return out->rc == 0 ? 0 : -1;
}

/* DOC as compact JSON (jansson escapes what JSON requires and leaves the
 * rest of the UTF-8 as is), then END: 0, or a negative errno. */
static int write_json(gn_response_t *res, const json_t *doc, const char *end)
{
    struct sink out = {.res = res};

    if (json_dump_callback(doc, write_piece, &out, JSON_COMPACT) != 0)
        return out.rc != 0 ? out.rc : -ENOMEM;
    return gn_response_write(res, end, strlen(end));
}

static void json_head(gn_response_t *res, int status)
{
    gn_response_status(res, status, NULL);
    gn_response_header(res, "Content-Type", "application/json");
}

/* DOC, which this call takes (a NULL from a failed json_pack is -ENOMEM),
 * as the body of a STATUS answer. */
static int reply(gn_response_t *res, int status, json_t *doc)
{
    int rc;

    if (doc == NULL)
        return -ENOMEM;
    json_head(res, status);
    rc = write_json(res, doc, "\n");
    json_decref(doc);
    return rc;
}

/* {"error":"MSG"} with STATUS. */
static int reply_error(gn_response_t *res, int status, const char *msg)
{
    return reply(res, status, json_pack("{s:s}", "error", msg));
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

/*
 * Where BODY nests arrays and objects deeper than MAX_DEPTH (a byte
 * offset), or -1. jansson's parser recurses once per level, about 100
 * bytes of the coroutine's stack each (measured: 512 levels fit in 64 KiB,
 * 1024 do not), up to its own limit of 2048: a 5 KB body could overflow a
 * small stack_size and kill the worker. Brackets outside strings are
 * counted first; for valid JSON the count is exact, and invalid JSON is
 * refused either way.
 */
static ssize_t too_deep(const char *body, size_t len)
{
    int depth = 0, in_string = 0;

    for (size_t i = 0; i < len; i++) {
        char c = body[i];

        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if ((c == '[' || c == '{') && ++depth > MAX_DEPTH) {
            return (ssize_t)i;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return -1;
}

/* Why DOC, valid JSON, is not an item; TITLE is its "title" or NULL. */
static const char *shape_error(const json_t *doc, const json_t *title)
{
    if (!json_is_object(doc))
        return "expected a JSON object";
    return title == NULL ? "missing \"title\"" : "\"title\" must be a string";
}

/* The "title" of a POST body, a JSON string (a new reference, which the
 * caller drops), or NULL once the error was answered (*RC is then what
 * handle returns). The body may be any JSON text: members other than
 * "title" are ignored, so a client may send more than this API keeps. */
static json_t *read_title(struct call *c, int *rc)
{
    json_error_t err;
    json_t *doc, *title;
    char *body, why[JSON_ERROR_TEXT_LENGTH + 32];
    ssize_t len, deep;

    if (!is_json(gn_request_header(c->req, "Content-Type"))) {
        *rc = reply_error(c->res, 415, "expected application/json");
        return NULL;
    }
    if ((len = read_body(c->req, &body)) < 0) {
        *rc = len == -EFBIG ? reply_error(c->res, 413, "body over 64 KiB")
                            : (int)len;
        return NULL;
    }
    if ((deep = too_deep(body, (size_t)len)) >= 0) {
        snprintf(why, sizeof(why),
                 "bad JSON at byte %zd: nested deeper than %d", deep,
                 MAX_DEPTH);
        *rc = reply_error(c->res, 400, why);
        return NULL;
    }
    /* Any JSON text (RFC 8259), \u0000 in strings included; a name twice
     * in one object is refused, as parsers disagree on which one counts. */
    doc = json_loadb(body, (size_t)len,
                     JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL |
                         JSON_DECODE_INT_AS_REAL,
                     &err);
    if (doc == NULL) {
        snprintf(why, sizeof(why), "bad JSON at byte %d: %s", err.position,
                 err.text);
        *rc = reply_error(c->res, 400, why);
        return NULL;
    }
    /* The title outlives the document: a reference of its own. */
    title = json_object_get(doc, "title");
    if (json_is_string(title)) {
        json_incref(title);
    } else {
        *rc = reply_error(c->res, 400, shape_error(doc, title));
        title = NULL;
    }
    json_decref(doc);
    return title;
}

static int create_item(struct call *c)
{
    const char *script = gn_request_script_name(c->req);
    json_t *title;
    struct item *it;
    char *location;
    size_t size = strlen(script) + sizeof("/items/") + 20;
    int rc = 0;

    if ((title = read_title(c, &rc)) == NULL)
        return rc;
    it = store_add(c->st, title, &rc);
    json_decref(title);
    if (it == NULL)
        return rc == -ENOSPC ? reply_error(c->res, 507, "the store is full")
                             : rc;
    if ((location = gn_request_alloc(c->req, size)) == NULL)
        return -ENOMEM;
    snprintf(location, size, "%s/items/%" PRIu64, script, it->id);
    json_head(c->res, 201);
    gn_response_header(c->res, "Location", location);
    return write_json(c->res, it->json, "\n");
}

/* The array is written an item at a time, not built: a list of
 * max_items would otherwise be copied once more per GET. */
static int list_items(struct call *c)
{
    int rc;

    json_head(c->res, 200);
    rc = gn_response_write(c->res, "[", 1);
    for (size_t i = 0; rc == 0 && i < c->st->len; i++)
        rc = write_json(c->res, c->st->items[i].json,
                        i + 1 < c->st->len ? "," : "");
    return rc ? rc : gn_response_write(c->res, "]\n", 2);
}

static int get_item(struct call *c)
{
    struct item *it = store_find(c->st, c->id);

    if (it == NULL)
        return reply_error(c->res, 404, "no such item");
    json_head(c->res, 200);
    return write_json(c->res, it->json, "\n");
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
    return reply(
        c->res, 200,
        json_pack("{s:s,s:I}", "status", "ok", "pid", (json_int_t)getpid()));
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
        json_decref(st->items[i].json);
    free(st->items);
    free(st);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,         .name = "json_api",
    .init = json_api_init, .handle = json_api_handle,
    .fini = json_api_fini,
};
