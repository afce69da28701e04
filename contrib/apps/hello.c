/*
 * hello: the smallest greenicorn app. Answers every request with
 * "Hello, World!" as text/plain.
 *
 *     greenicorn build/contrib/apps/hello.so
 */
#include <greenicorn.h>

static int hello_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    static const char body[] = "Hello, World!";

    (void)req;
    (void)state;
    gn_response_header(res, "Content-Type", "text/plain");
    return gn_response_write(res, body, sizeof(body) - 1);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,
    .name = "hello",
    .handle = hello_handle,
};
