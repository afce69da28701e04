/*
 * block_memcached: one request, one get through libmemcached's ordinary
 * API (memcached_create, memcached_server_add, memcached_get),
 * unmodified: the patch_all matrix's libmemcached row
 * (tests/e2e/test_patch_matrix.py). libmemcached sets its sockets
 * non-blocking and waits in poll(2) with its own timeout; with patch_all
 * on that poll parks the request, off it blocks the worker for as long as
 * memcached takes to answer.
 *
 *     [app:mc]
 *     module = build/tests/plugins/block_memcached.so
 *     mount = /memcached
 *
 *     [app:mc.args]
 *     port = 11211             required
 *     host = 127.0.0.1         an address (default 127.0.0.1)
 *     key = matrix             the key to get (default)
 *
 * Each request answers 200 text/plain "value VALUE\n", 404 "not found\n"
 * for a miss, or 503 with libmemcached's error (the handle is then freed,
 * not reused).
 */
#include <errno.h>
#include <stdlib.h>

#include <libmemcached/memcached.h>

#include "block.h"

/* libmemcached's own defaults (5 s, 4 s), said out loud: every wait of
 * the matrix has a timeout. */
#define POLL_TIMEOUT_MS 5000
#define CONNECT_TIMEOUT_MS 4000

struct block_mc {
    const char *host, *key;
    int port;
    struct block_pool pool;
};

static void free_handle(void *mc)
{
    memcached_free(mc);
}

/* An idle handle, or a new one (it connects on first use); NULL with the
 * reason in ERR. */
static memcached_st *get_handle(struct block_mc *bm, char *err, size_t len)
{
    memcached_st *mc = block_pool_take(&bm->pool);
    memcached_return_t rc;

    if (mc != NULL)
        return mc;
    if ((mc = memcached_create(NULL)) == NULL) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT,
                           POLL_TIMEOUT_MS);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT,
                           CONNECT_TIMEOUT_MS);
    rc = memcached_server_add(mc, bm->host, (in_port_t)bm->port);
    if (rc == MEMCACHED_SUCCESS)
        return mc;
    snprintf(err, len, "server %s:%d: %s", bm->host, bm->port,
             memcached_strerror(mc, rc));
    memcached_free(mc);
    return NULL;
}

static int mc_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    struct block_mc *bm = state;
    char err[256], *value;
    size_t len = 0;
    uint32_t flags = 0;
    memcached_return_t rc;
    memcached_st *mc;
    int sent;

    (void)req;
    if ((mc = get_handle(bm, err, sizeof(err))) == NULL)
        return block_fail(res, 503, "block_memcached", "%s", err);
    value = memcached_get(mc, bm->key, strlen(bm->key), &len, &flags, &rc);
    if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_NOTFOUND) {
        sent = block_fail(res, 503, "block_memcached", "get %s: %s", bm->key,
                          memcached_last_error_message(mc));
        free(value);
        memcached_free(mc);
        return sent;
    }
    gn_response_header(res, "Content-Type", "text/plain");
    if (rc == MEMCACHED_NOTFOUND) {
        gn_response_status(res, 404, NULL);
        sent = gn_response_write(res, "not found\n", 10);
    } else {
        sent = gn_response_printf(res, "value %.*s\n", (int)len, value);
    }
    free(value);
    block_pool_give(&bm->pool, mc);
    return sent;
}

static int mc_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    struct block_mc *bm = calloc(1, sizeof(*bm));
    const char *port = block_arg(args, nargs, "port", NULL);

    if (bm == NULL)
        return -ENOMEM;
    if (port == NULL || (bm->port = atoi(port)) <= 0 || bm->port > 65535) {
        gn_log(GN_LOG_ERROR, "block_memcached: the port argument is "
                             "required (1 to 65535)");
        free(bm);
        return -EINVAL;
    }
    bm->host = block_arg(args, nargs, "host", "127.0.0.1");
    bm->key = block_arg(args, nargs, "key", "matrix");
    bm->pool.close = free_handle;
    *state = bm;
    return 0;
}

static void mc_fini(void *state)
{
    struct block_mc *bm = state;

    block_pool_drain(&bm->pool);
    free(bm);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,
    .name = "block_memcached",
    .init = mc_init,
    .handle = mc_handle,
    .fini = mc_fini,
};
