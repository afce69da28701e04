/*
 * block_curl: one request, one transfer through libcurl's ordinary easy
 * API (curl_easy_perform), unmodified: the patch_all matrix's libcurl row
 * (tests/e2e/test_patch_matrix.py). With patch_all on, libcurl's connect,
 * poll, send and recv park the request; off, they block the worker for as
 * long as the transfer takes.
 *
 *     [app:curl]
 *     module = build/tests/plugins/block_curl.so
 *     mount = /curl
 *
 *     [app:curl.args]
 *     url = http://127.0.0.1:8001/?sleep=0.1     required
 *     timeout = 5                                 seconds (default 5)
 *     pool = no       a new easy handle (and connection, and name lookup)
 *                     for every request (default yes: kept per worker)
 *
 * A host name in the URL is looked up by libcurl's threaded resolver, on a
 * thread of its own, which patch_all leaves alone: the lookup blocks no
 * coroutine, and the transfer's coroutine waits for it in poll(2) on the
 * resolver's socketpair, which parks it.
 *
 * Each request answers 200 text/plain "status N\n" followed by the body
 * the URL answered (at most 64 KiB of it); 502 with libcurl's error when
 * the transfer failed. Easy handles are kept per worker (unless pool = no),
 * and with them their connections.
 */
#include <errno.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "block.h"

#define BODY_MAX 65536

struct block_curl {
    const char *url;
    long timeout_ms;
    int keep; /* pool = yes */
    struct block_pool pool;
};

/* What a transfer answered: the first BODY_MAX bytes. */
struct body {
    char data[BODY_MAX];
    size_t len;
};

static size_t keep_body(char *ptr, size_t size, size_t n, void *arg)
{
    struct body *b = arg;
    size_t len = size * n, room = BODY_MAX - b->len;

    memcpy(b->data + b->len, ptr, len < room ? len : room);
    b->len += len < room ? len : room;
    return len;
}

static void close_easy(void *easy)
{
    curl_easy_cleanup(easy);
}

static int curl_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    struct block_curl *bc = state;
    CURL *easy = block_pool_take(&bc->pool);
    struct body *b = malloc(sizeof(*b));
    CURLcode code;
    long status = 0;
    int rc;

    (void)req;
    if (easy == NULL)
        easy = curl_easy_init();
    if (easy == NULL || b == NULL) {
        free(b);
        if (easy != NULL)
            curl_easy_cleanup(easy);
        return -ENOMEM;
    }
    b->len = 0;
    curl_easy_setopt(easy, CURLOPT_URL, bc->url);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, bc->timeout_ms);
    /* No SIGALRM for timeouts: the worker owns its signals. */
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, keep_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, b);
    code = curl_easy_perform(easy);
    if (code != CURLE_OK) {
        rc = block_fail(res, 502, "block_curl", "%s: %s", bc->url,
                        curl_easy_strerror(code));
        curl_easy_cleanup(easy);
        free(b);
        return rc;
    }
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    gn_response_header(res, "Content-Type", "text/plain");
    gn_response_printf(res, "status %ld\n", status);
    rc = gn_response_write(res, b->data, b->len);
    free(b);
    if (bc->keep)
        block_pool_give(&bc->pool, easy);
    else
        curl_easy_cleanup(easy);
    return rc;
}

static int curl_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct block_curl *bc = calloc(1, sizeof(*bc));
    const char *timeout = block_arg(args, nargs, "timeout", "5");
    const char *pool = block_arg(args, nargs, "pool", "yes");

    if (bc == NULL)
        return -ENOMEM;
    bc->url = block_arg(args, nargs, "url", NULL);
    bc->timeout_ms = (long)(atof(timeout) * 1000);
    bc->keep = strcmp(pool, "yes") == 0;
    if (bc->url == NULL || bc->timeout_ms <= 0 ||
        (!bc->keep && strcmp(pool, "no") != 0)) {
        gn_log(GN_LOG_ERROR, "block_curl: the url argument is required, "
                             "the timeout a positive number of seconds and "
                             "pool yes or no");
        free(bc);
        return -EINVAL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        gn_log(GN_LOG_ERROR, "block_curl: curl_global_init failed");
        free(bc);
        return -EIO;
    }
    bc->pool.close = close_easy;
    *state = bc;
    return 0;
}

static void curl_fini(void *state)
{
    struct block_curl *bc = state;

    block_pool_drain(&bc->pool);
    curl_global_cleanup();
    free(bc);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,
    .name = "block_curl",
    .init = curl_init,
    .handle = curl_handle,
    .fini = curl_fini,
};
