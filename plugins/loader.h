/*
 * The plugin loader, one for apps and hooks: dlopen a PATH.so, find the
 * descriptor SYMBOL names in it, and check that it is the descriptor the
 * configuration says it is (our ABI major version, a size some 1.x minor
 * defines, the functions it must carry). Its messages name the file and
 * the reason; what a loaded plugin is then used for is plugins/appset.c's
 * and plugins/hooks.c's.
 */
#ifndef GN_PLUGINS_LOADER_H
#define GN_PLUGINS_LOADER_H

#include <stddef.h>

#include "greenicorn.h"

/*
 * Load the app PATH (as configured: "x.so" means ./x.so, not a file on the
 * library path) and check its gn_app_t SYMBOL: our major version, at least
 * ABI 1.0's size, a handle function. 0 with *DL the dlopen handle (the
 * caller's, until gn__plugin_close) and DESC a copy of the descriptor (the
 * fields an older plugin lacks zeroed); or a negative errno with nothing
 * loaded and WHY (LEN bytes) saying which file and why: dlerror(), the
 * missing symbol, or the plugin's ABI version and ours.
 */
int gn__plugin_open_app(void **dl, gn_app_t *desc, const char *path,
                        const char *symbol, char *why, size_t len);

/*
 * The same for a hook configured as HOOK ("post_fork"): a gn_hook_t with a
 * call, written for HOOK or for any hook.
 */
int gn__plugin_open_hook(void **dl, gn_hook_t *desc, const char *path,
                         const char *symbol, const char *hook, char *why,
                         size_t len);

/*
 * The same for a stream app ([stream:NAME]): a gn_stream_app_t of our
 * major version, at least ABI 1.4's size, with a handle function.
 */
int gn__plugin_open_stream(void **dl, gn_stream_app_t *desc, const char *path,
                           const char *symbol, char *why, size_t len);

/* dlclose DL (a handle from gn__plugin_open_*, or NULL). */
void gn__plugin_close(void *dl);

#endif /* GN_PLUGINS_LOADER_H */
