/*
 * Unit tests of the plugin loader (plugins/loader.c) against real plugins:
 * the contrib app hello.so and hook log_hooks.so it must load, and the
 * symbols of tests/plugins/bad_plugins.so it must refuse. Their folders
 * come as the e2e tests get them: GN_APPS, GN_HOOKS, GN_TEST_PLUGINS.
 *
 * Each refusal is checked to the letter: users and the e2e tests match
 * these messages, and each names the file and the reason.
 */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "plugins/loader.h"
#include "run_suite.h"

enum plugin_file { BAD_PLUGINS, HELLO, LOG_HOOKS, WHOAMI };

/* Where FILE was built: the folder its variable names, and the file. The
 * test fails when the variable is not set or the file is not there. */
static const char *plugin_path(enum plugin_file file)
{
    static const char *const vars[] = {"GN_TEST_PLUGINS", "GN_APPS",
                                       "GN_HOOKS", "GN_APPS"};
    static const char *const names[] = {"bad_plugins.so", "hello.so",
                                        "log_hooks.so", "whoami.so"};
    static char paths[4][4096];
    const char *dir = getenv(vars[file]);

    ck_assert_msg(dir != NULL, "%s is not set (see tests/unit/meson.build)",
                  vars[file]);
    snprintf(paths[file], sizeof(paths[file]), "%s/%s", dir, names[file]);
    ck_assert_msg(access(paths[file], R_OK) == 0, "%s: not built", paths[file]);
    return paths[file];
}

/* Whether PATH is mapped in this process (a refusal must unload it). */
static int is_loaded(const char *path)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_NOLOAD);

    if (dl == NULL)
        return 0;
    dlclose(dl);
    return 1;
}

/* Open SYMBOL of PATH as an app (HOOK NULL) or as the hook HOOK. */
static int open_as(void **dl, const char *path, const char *symbol,
                   const char *hook, char why[GN_ERR_LEN])
{
    gn_app_t app;
    gn_hook_t h;

    if (hook == NULL)
        return gn__plugin_open_app(dl, &app, path, symbol, why, GN_ERR_LEN);
    return gn__plugin_open_hook(dl, &h, path, symbol, hook, why, GN_ERR_LEN);
}

START_TEST(loads_an_app)
{
    const char *path = plugin_path(HELLO);
    char why[GN_ERR_LEN] = "";
    gn_app_t desc;
    void *dl = NULL;

    ck_assert_msg(gn__plugin_open_app(&dl, &desc, path, GN_APP_SYMBOL, why,
                                      sizeof(why)) == 0,
                  "%s", why);
    ck_assert_ptr_nonnull(dl);
    ck_assert_str_eq(desc.name, "hello");
    ck_assert(desc.handle != NULL); /* a function: no _ptr_ under ISO C */
    ck_assert_uint_eq(desc.abi_version >> 16, GN_ABI_VERSION_MAJOR);
    ck_assert_uint_eq(desc.struct_size, sizeof(gn_app_t));
    ck_assert(is_loaded(path));
    gn__plugin_close(dl);
    ck_assert(!is_loaded(path));
}
END_TEST

START_TEST(loads_a_hook)
{
    const char *path = plugin_path(LOG_HOOKS);
    char why[GN_ERR_LEN] = "";
    gn_hook_t desc;
    void *dl = NULL;

    ck_assert_msg(gn__plugin_open_hook(&dl, &desc, path, "greenicorn_post_fork",
                                       "post_fork", why, sizeof(why)) == 0,
                  "%s", why);
    ck_assert_ptr_nonnull(dl);
    ck_assert_str_eq(desc.hook, "post_fork");
    ck_assert(desc.call != NULL);
    ck_assert(is_loaded(path));
    gn__plugin_close(dl);
    ck_assert(!is_loaded(path));
}
END_TEST

#define STR_(x) #x
#define STR(x) STR_(x)
#define OTHER_ABI(symbol, version)                                             \
    symbol " was built for plugin ABI " version                                \
           ", this greenicorn speaks " STR(GN_ABI_VERSION_MAJOR) "." STR(      \
               GN_ABI_VERSION_MINOR) ": rebuild it against this greenicorn.h"

/* What the loader must refuse, and the message it must give after
 * "PATH: ". */
static const struct refusal {
    enum plugin_file file;
    const char *symbol;
    const char *hook; /* the hook it is configured as; NULL for an app */
    int rc;
    const char *why;
} refusals[] = {
    {BAD_PLUGINS, "future_app", NULL, -EPROTO, OTHER_ABI("future_app", "2.0")},
    {BAD_PLUGINS, "past_app", NULL, -EPROTO, OTHER_ABI("past_app", "0.9")},
    {BAD_PLUGINS, "future_hook", "post_fork", -EPROTO,
     OTHER_ABI("future_hook", "2.1")},
    {BAD_PLUGINS, "tiny_app", NULL, -EPROTO,
     "tiny_app is 8 bytes, smaller than any gn_app_t: is it an app "
     "descriptor?"},
    {BAD_PLUGINS, "tiny_app", "post_fork", -EPROTO,
     "tiny_app is not a gn_hook_t (define it with GN_HOOK)"},
    {BAD_PLUGINS, "no_handler_app", NULL, -EPROTO,
     "no_handler_app has no handle function"},
    {LOG_HOOKS, "greenicorn_post_fork", "pre_fork", -EPROTO,
     "greenicorn_post_fork is written for the post_fork hook, not pre_fork"},
    {BAD_PLUGINS, "nope", NULL, -ENOENT,
     "no symbol 'nope' (export a gn_app_t named nope, or name it as "
     "PATH.so:SYMBOL)"},
    {BAD_PLUGINS, "greenicorn_pre_fork", "pre_fork", -ENOENT,
     "no symbol 'greenicorn_pre_fork' (export it with GN_HOOK(pre_fork, fn), "
     "or name it as PATH.so:SYMBOL)"},
};

START_TEST(refuses)
{
    const struct refusal *r = &refusals[_i];
    const char *path = plugin_path(r->file);
    char why[GN_ERR_LEN] = "", want[GN_ERR_LEN];
    void *dl = why; /* anything but NULL: a refusal sets it to NULL */

    snprintf(want, sizeof(want), "%s: %s", path, r->why);
    ck_assert_int_eq(open_as(&dl, path, r->symbol, r->hook, why), r->rc);
    ck_assert_ptr_null(dl);
    ck_assert_str_eq(why, want);
    ck_assert_msg(!is_loaded(path), "%s stayed loaded", path);
}
END_TEST

START_TEST(loads_a_stream_app)
{
    const char *path = plugin_path(WHOAMI);
    char why[GN_ERR_LEN] = "";
    gn_stream_app_t desc;
    void *dl = NULL;

    ck_assert_msg(gn__plugin_open_stream(&dl, &desc, path,
                                         GN_STREAM_APP_SYMBOL, why,
                                         sizeof(why)) == 0,
                  "%s", why);
    ck_assert_ptr_nonnull(dl);
    ck_assert_str_eq(desc.name, "whoami");
    ck_assert(desc.handle != NULL);
    ck_assert_uint_eq(desc.struct_size, sizeof(gn_stream_app_t));
    gn__plugin_close(dl);
    ck_assert(!is_loaded(path));
}
END_TEST

/* What the loader must refuse as a stream app, after "PATH: ". */
static const struct refusal stream_refusals[] = {
    {BAD_PLUGINS, "future_app", NULL, -EPROTO, OTHER_ABI("future_app", "2.0")},
    {BAD_PLUGINS, "tiny_app", NULL, -EPROTO,
     "tiny_app is 8 bytes, smaller than any gn_stream_app_t: is it a "
     "stream app descriptor?"},
    {BAD_PLUGINS, "no_handler_app", NULL, -EPROTO,
     "no_handler_app has no handle function"},
    {HELLO, GN_STREAM_APP_SYMBOL, NULL, -ENOENT,
     "no symbol 'greenicorn_stream_app' (export a gn_stream_app_t named "
     "greenicorn_stream_app, or name it as PATH.so:SYMBOL)"},
};

START_TEST(refuses_as_a_stream_app)
{
    const struct refusal *r = &stream_refusals[_i];
    const char *path = plugin_path(r->file);
    char why[GN_ERR_LEN] = "", want[GN_ERR_LEN];
    gn_stream_app_t desc;
    void *dl = why;

    snprintf(want, sizeof(want), "%s: %s", path, r->why);
    ck_assert_int_eq(gn__plugin_open_stream(&dl, &desc, path, r->symbol, why,
                                            sizeof(why)),
                     r->rc);
    ck_assert_ptr_null(dl);
    ck_assert_str_eq(why, want);
    ck_assert_msg(!is_loaded(path), "%s stayed loaded", path);
}
END_TEST

/* FILE opened as an app and as a hook: refused with ours, then dlerror()'s
 * message, which names the file dlopen was given, DLOPENED, and says why. */
static void check_cannot_load(const char *file, const char *dlopened)
{
    static const char *const hooks[] = {NULL, "post_fork"};

    for (size_t i = 0; i < 2; i++) {
        char why[GN_ERR_LEN] = "", prefix[GN_ERR_LEN];
        void *dl = why;

        snprintf(prefix, sizeof(prefix),
                 "cannot load the %s: %s: ", hooks[i] ? "hook" : "app",
                 dlopened);
        ck_assert_int_eq(open_as(&dl, file, "greenicorn_x", hooks[i], why),
                         -ENOENT);
        ck_assert_ptr_null(dl);
        ck_assert_msg(strncmp(why, prefix, strlen(prefix)) == 0 &&
                          strlen(why) > strlen(prefix),
                      "'%s' does not start with '%s' and a reason", why,
                      prefix);
    }
}

START_TEST(refuses_a_file_that_is_no_shared_object)
{
    char path[] = "/tmp/gn_not_a_plugin_XXXXXX.so";
    int fd = mkstemps(path, 3);

    ck_assert_int_ge(fd, 0);
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(write(fd, "not an ELF file\n", 16), 16);
    close(fd);
    check_cannot_load(path, path);
    unlink(path);
}
END_TEST

/* "x.so" is the file in the current directory, as users mean it, not one
 * the dynamic linker finds on its library path: from /, libc.so.6 is no
 * file, though the linker knows a libc.so.6. */
START_TEST(a_bare_name_is_in_the_current_directory)
{
    ck_assert_int_eq(chdir("/"), 0);
    ck_assert_int_ne(access("libc.so.6", F_OK), 0);
    check_cannot_load("libc.so.6", "./libc.so.6");
}
END_TEST

static Suite *loader_suite(void)
{
    Suite *s = suite_create("plugins/loader");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, loads_an_app);
    tcase_add_test(tc, loads_a_hook);
    tcase_add_loop_test(tc, refuses, 0, sizeof(refusals) / sizeof(refusals[0]));
    tcase_add_test(tc, loads_a_stream_app);
    tcase_add_loop_test(tc, refuses_as_a_stream_app, 0,
                        sizeof(stream_refusals) / sizeof(stream_refusals[0]));
    tcase_add_test(tc, refuses_a_file_that_is_no_shared_object);
    tcase_add_test(tc, a_bare_name_is_in_the_current_directory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return gn_test_run_suite(loader_suite());
}
