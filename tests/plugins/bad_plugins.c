/*
 * Plugins greenicorn must refuse at start-up, each a symbol of this one
 * .so, named as PATH.so:SYMBOL by the e2e tests:
 *
 *     future_app      an app built for plugin ABI 2.0
 *     past_app        an app built for plugin ABI 0.9
 *     no_handler_app  an app without a handle function
 *     tiny_app        a header saying the descriptor is 8 bytes: not an
 *                     app descriptor at all
 *     future_hook     a hook built for plugin ABI 2.0
 */
#include <greenicorn.h>

static int handle(gn_request_t *req, gn_response_t *res, void *state)
{
    (void)req;
    (void)state;
    return gn_response_write(res, "unreachable", 11);
}

static int hook(const gn_hook_args_t *args)
{
    (void)args;
    return 0;
}

GN_EXPORT const gn_app_t future_app = {
    .abi_version = (2 << 16) | 0,
    .struct_size = sizeof(gn_app_t),
    .name = "future",
    .handle = handle,
};

GN_EXPORT const gn_app_t past_app = {
    .abi_version = (0 << 16) | 9,
    .struct_size = sizeof(gn_app_t),
    .name = "past",
    .handle = handle,
};

GN_EXPORT const gn_app_t no_handler_app = {
    GN_APP_HEADER,
    .name = "no-handler",
};

GN_EXPORT const struct {
    uint32_t abi_version, struct_size;
} tiny_app = {GN_ABI_VERSION, 8};

GN_EXPORT const gn_hook_t future_hook = {
    .abi_version = (2 << 16) | 1,
    .struct_size = sizeof(gn_hook_t),
    .hook = "post_fork",
    .call = hook,
};
