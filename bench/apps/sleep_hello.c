/*
 * sleep_hello: greenicorn's side of bench/'s sleep scenarios, the same app
 * as the Gunicorn + gevent peer's (bench/bench.py, app): GET /sleep waits
 * 100 ms (a green sleep: the worker serves others meanwhile), then, as
 * every other path at once, answers "Hello, World!" as text/plain.
 *
 *     greenicorn build/bench/sleep_hello.so
 *
 * The scenarios measure the server holding thousands of sleeping requests,
 * not an app's formatting: the echo app (contrib/apps/echo.c) would spend
 * half the worker's user-space instructions writing its echo.
 */
#include <string.h>

#include <greenicorn.h>

static int sleep_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    static const char body[] = "Hello, World!";

    (void)state;
    if (strcmp(gn_request_path(req), "/sleep") == 0 && gn_sleep(0.1) != 0)
        return -1; /* cancelled: the client left, or the worker stops */
    gn_response_header(res, "Content-Type", "text/plain");
    return gn_response_write(res, body, sizeof(body) - 1);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,
    .name = "sleep_hello",
    .handle = sleep_handle,
};
