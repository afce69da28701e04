/*
 * leak_app: an app that leaks, and answers what a metrics test asks for.
 *
 *     GET /leak        allocates 1 MiB, touches every page of it, and
 *                      keeps it until the worker exits: the worker's RSS
 *                      grows 1 MiB per request (max_worker_memory must
 *                      replace it)
 *     GET /status/NNN  answers NNN (a statsd or /metrics status count)
 *     GET /fail        the handler fails (-EIO): the server answers 500
 *                      and logs it as an app's failure (log.exception)
 *     anything else    200 "ok"
 *
 * The body of each answer is the worker's pid, so a test can tell which
 * worker served it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <greenicorn.h>

#define LEAK_BYTES (1024 * 1024)

/* Reachable from here, so a leak checker calls it what it is: kept. */
static void **kept;
static size_t nkept, capkept;

static int leak(void)
{
    char *block = malloc(LEAK_BYTES);

    if (block == NULL)
        return -ENOMEM;
    memset(block, 0xa5, LEAK_BYTES); /* resident, not only reserved */
    if (nkept == capkept) {
        size_t cap = capkept ? capkept * 2 : 64;
        void **grown = realloc(kept, cap * sizeof(*grown));

        if (grown == NULL) {
            free(block);
            return -ENOMEM;
        }
        kept = grown;
        capkept = cap;
    }
    kept[nkept++] = block;
    return 0;
}

/* A graceful exit gives it all back (a leak checker then has nothing to
 * say: the memory was held, as a cache that never evicts holds it). */
static void leak_fini(void *state)
{
    (void)state;
    for (size_t i = 0; i < nkept; i++)
        free(kept[i]);
    free(kept);
    kept = NULL;
    nkept = capkept = 0;
}

static int leak_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    const char *path = gn_request_path(req);
    char body[32];
    int n, rc;

    (void)state;
    if (strcmp(path, "/fail") == 0)
        return -EIO;
    if (strcmp(path, "/leak") == 0 && (rc = leak()) != 0)
        return rc;
    if (strncmp(path, "/status/", 8) == 0)
        gn_response_status(res, atoi(path + 8), NULL);
    n = snprintf(body, sizeof(body), "%d", (int)getpid());
    gn_response_header(res, "Content-Type", "text/plain");
    return gn_response_write(res, body, (size_t)n);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,
    .name = "leak",
    .handle = leak_handle,
    .fini = leak_fini,
};
