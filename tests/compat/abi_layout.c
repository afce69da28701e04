/*
 * abi_layout: checks that include/greenicorn.h (the header of this tree,
 * however it is split) still speaks the ABI of the frozen 1.3 header in
 * tests/compat/abi-1.3/greenicorn.h, which plugins built before the
 * reshaping were compiled against.
 *
 * Both headers go into this one translation unit. The current one comes
 * first; its macros are saved and undefined, and the pinned one follows
 * with its public struct and enum names renamed (gn_app_t -> gn13_app_t)
 * so the two layouts can be compared side by side. What is left unrenamed
 * is checked by the compiler itself:
 *
 *   - every function prototype of ABI 1.3 is declared again by the pinned
 *     header: a changed parameter or return type is a "conflicting types"
 *     error (a function that vanished is caught by the e2e test instead,
 *     whose plugin then fails to load);
 *   - the opaque handles (gn_request_t...) are declared twice, which C11
 *     allows only when they name the same struct.
 *
 * At run time it compares, and reports every difference before exiting 1:
 * the ABI major (equal) and minor (not below 1.3); the offset, size and
 * type of every field of gn_app_arg_t, gn_app_t, gn_hook_args_t and
 * gn_hook_t, and each struct's size (equal while the minor is 1.3, since
 * a minor version may only append fields) and alignment; what
 * GN_APP_HEADER and GN_HOOK_HEADER put in a descriptor; the symbol names;
 * the log levels and gn_wait_fd's flags.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <greenicorn.h> /* include/: this tree's header */

/* ---- the current header, saved before the pinned one redefines it ---- */

typedef gn_app_arg_t cur_app_arg_t;
typedef gn_app_t cur_app_t;
typedef gn_hook_args_t cur_hook_args_t;
typedef gn_hook_t cur_hook_t;

static const long cur_abi_major = GN_ABI_VERSION_MAJOR;
static const long cur_abi_minor = GN_ABI_VERSION_MINOR;
static const long cur_abi_version = GN_ABI_VERSION;
static const cur_app_t cur_app_header = {GN_APP_HEADER};
static const cur_hook_t cur_hook_header = {GN_HOOK_HEADER};
static const char cur_app_symbol[] = GN_APP_SYMBOL;
static const char cur_hook_prefix[] = GN_HOOK_SYMBOL_PREFIX;
static const int cur_wait[] = {GN_WAIT_READ, GN_WAIT_WRITE};
static const int cur_levels[] = {GN_LOG_DEBUG, GN_LOG_INFO, GN_LOG_WARNING,
                                 GN_LOG_ERROR, GN_LOG_CRITICAL};

/* Every macro the pinned header defines. */
#undef GREENICORN_H
#undef GN_API
#undef GN_EXPORT
#undef GN_VERSION_MAJOR
#undef GN_VERSION_MINOR
#undef GN_VERSION_PATCH
#undef GN_ABI_VERSION_MAJOR
#undef GN_ABI_VERSION_MINOR
#undef GN_ABI_VERSION
#undef GN_APP_HEADER
#undef GN_APP_SYMBOL
#undef GN_HOOK_ARGS_HAS
#undef GN_HOOK_HEADER
#undef GN_HOOK
#undef GN_HOOK_SYMBOL_PREFIX
#undef GN_WAIT_READ
#undef GN_WAIT_WRITE

/* The pinned header's own structs and enum, under other names. */
#define gn_app_arg gn13_app_arg
#define gn_app_arg_t gn13_app_arg_t
#define gn_app gn13_app
#define gn_app_t gn13_app_t
#define gn_hook_args gn13_hook_args
#define gn_hook_args_t gn13_hook_args_t
#define gn_hook gn13_hook
#define gn_hook_t gn13_hook_t
#define gn_log_level gn13_log_level
#define GN_LOG_DEBUG GN13_LOG_DEBUG
#define GN_LOG_INFO GN13_LOG_INFO
#define GN_LOG_WARNING GN13_LOG_WARNING
#define GN_LOG_ERROR GN13_LOG_ERROR
#define GN_LOG_CRITICAL GN13_LOG_CRITICAL

#include "abi-1.3/greenicorn.h" /* frozen: never edit it */

static const gn13_app_t old_app_header = {GN_APP_HEADER};
static const gn13_hook_t old_hook_header = {GN_HOOK_HEADER};
static const int old_wait[] = {GN_WAIT_READ, GN_WAIT_WRITE};
static const int old_levels[] = {GN13_LOG_DEBUG, GN13_LOG_INFO,
                                 GN13_LOG_WARNING, GN13_LOG_ERROR,
                                 GN13_LOG_CRITICAL};

/* ---- the comparisons ----------------------------------------------------- */

static int checks, failures;

static void expect(int ok, const char *what, long now, long then)
{
    checks++;
    if (ok)
        return;
    failures++;
    fprintf(stderr, "ABI 1.3 broken: %s: include/ has %ld, ABI 1.3 has %ld\n",
            what, now, then);
}

static void same(const char *what, long now, long then)
{
    expect(now == then, what, now, then);
}

/* A field of TYPE at the same offset, of the same size, and (SAME_TYPE,
 * a compile-time answer) of the same type in both headers. */
#define FIELD(type, field, same_type)                                          \
    do {                                                                       \
        same(#type "." #field " offset", (long)offsetof(cur_##type, field),    \
             (long)offsetof(gn13_##type, field));                              \
        same(#type "." #field " size",                                         \
             (long)sizeof(((cur_##type *)0)->field),                           \
             (long)sizeof(((gn13_##type *)0)->field));                         \
        same(#type "." #field " type", (same_type), 1);                        \
    } while (0)

#define TYPE_OF(type, field) __typeof__(((type *)0)->field)
#define SAME_FIELD_TYPE(type, field)                                           \
    __builtin_types_compatible_p(TYPE_OF(cur_##type, field),                   \
                                 TYPE_OF(gn13_##type, field))
#define PLAIN_FIELD(type, field) FIELD(type, field, SAME_FIELD_TYPE(type, field))

/* A field whose type names a renamed struct: compared with the ABI 1.3
 * declaration spelled out for each side. */
#define FIELD_AS(type, field, cur_decl, old_decl)                              \
    FIELD(type, field,                                                         \
          __builtin_types_compatible_p(TYPE_OF(cur_##type, field), cur_decl) &&\
              __builtin_types_compatible_p(TYPE_OF(gn13_##type, field),        \
                                           old_decl))

/* A struct no smaller than in 1.3, and of the same size while the minor
 * version is still 1.3 (a field appended must bump it), alike aligned. */
#define STRUCT_SIZE(type)                                                      \
    do {                                                                       \
        long now_ = (long)sizeof(cur_##type), then_ = (long)sizeof(gn13_##type);\
        expect(cur_abi_minor == GN_ABI_VERSION_MINOR ? now_ == then_           \
                                                     : now_ >= then_,          \
               #type " size", now_, then_);                                    \
        same(#type " alignment", (long)_Alignof(cur_##type),                   \
             (long)_Alignof(gn13_##type));                                     \
    } while (0)

static void check_versions(void)
{
    same("GN_ABI_VERSION_MAJOR", cur_abi_major, GN_ABI_VERSION_MAJOR);
    expect(cur_abi_minor >= GN_ABI_VERSION_MINOR, "GN_ABI_VERSION_MINOR",
           cur_abi_minor, GN_ABI_VERSION_MINOR);
    same("GN_ABI_VERSION", cur_abi_version,
         (cur_abi_major << 16) | cur_abi_minor);
}

static void check_app(void)
{
    PLAIN_FIELD(app_arg_t, name);
    PLAIN_FIELD(app_arg_t, value);
    STRUCT_SIZE(app_arg_t);
    PLAIN_FIELD(app_t, abi_version);
    PLAIN_FIELD(app_t, struct_size);
    PLAIN_FIELD(app_t, name);
    FIELD_AS(app_t, init, int (*)(const cur_app_arg_t *, size_t, void **),
             int (*)(const gn13_app_arg_t *, size_t, void **));
    PLAIN_FIELD(app_t, handle);
    PLAIN_FIELD(app_t, fini);
    STRUCT_SIZE(app_t);
}

static void check_hooks(void)
{
    PLAIN_FIELD(hook_args_t, struct_size);
    PLAIN_FIELD(hook_args_t, hook);
    PLAIN_FIELD(hook_args_t, pid);
    PLAIN_FIELD(hook_args_t, arbiter_pid);
    PLAIN_FIELD(hook_args_t, config_file);
    PLAIN_FIELD(hook_args_t, workers);
    PLAIN_FIELD(hook_args_t, old_workers);
    PLAIN_FIELD(hook_args_t, worker_id);
    PLAIN_FIELD(hook_args_t, worker_age);
    PLAIN_FIELD(hook_args_t, worker_pid);
    PLAIN_FIELD(hook_args_t, status);
    PLAIN_FIELD(hook_args_t, req);
    PLAIN_FIELD(hook_args_t, res);
    STRUCT_SIZE(hook_args_t);
    PLAIN_FIELD(hook_t, abi_version);
    PLAIN_FIELD(hook_t, struct_size);
    PLAIN_FIELD(hook_t, hook);
    FIELD_AS(hook_t, call, int (*)(const cur_hook_args_t *),
             int (*)(const gn13_hook_args_t *));
    STRUCT_SIZE(hook_t);
}

/* What the descriptor macros write: the ABI in the first field, the
 * struct's own size in the second. */
static void check_headers(void)
{
    same("GN_APP_HEADER abi major", (long)(cur_app_header.abi_version >> 16),
         (long)(old_app_header.abi_version >> 16));
    same("GN_APP_HEADER struct_size", (long)cur_app_header.struct_size,
         (long)sizeof(cur_app_t));
    same("GN_HOOK_HEADER abi major", (long)(cur_hook_header.abi_version >> 16),
         (long)(old_hook_header.abi_version >> 16));
    same("GN_HOOK_HEADER struct_size", (long)cur_hook_header.struct_size,
         (long)sizeof(cur_hook_t));
}

static void check_names(void)
{
    same("GN_APP_SYMBOL differs (strcmp)",
         (long)strcmp(cur_app_symbol, GN_APP_SYMBOL), 0);
    same("GN_HOOK_SYMBOL_PREFIX differs (strcmp)",
         (long)strcmp(cur_hook_prefix, GN_HOOK_SYMBOL_PREFIX), 0);
    for (size_t i = 0; i < sizeof(old_wait) / sizeof(old_wait[0]); i++)
        same("GN_WAIT_* flag", cur_wait[i], old_wait[i]);
    for (size_t i = 0; i < sizeof(old_levels) / sizeof(old_levels[0]); i++)
        same("GN_LOG_* level", cur_levels[i], old_levels[i]);
}

int main(void)
{
    check_versions();
    check_app();
    check_hooks();
    check_headers();
    check_names();
    printf("%d checks of include/greenicorn.h against ABI 1.3: %d failed\n",
           checks, failures);
    return failures == 0 ? 0 : 1;
}
