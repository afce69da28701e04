/*
 * The ssl family: OpenSSL's error queue kept per coroutine. OpenSSL keeps
 * one queue per thread, and a worker's coroutines take turns on one
 * thread, so an error one request left (a failed handshake, a bad
 * certificate) would show up in another's SSL_get_error() or
 * ERR_get_error() after a park. (OpenSSL's reads and writes need nothing
 * here: its socket BIO calls read and write, which the socket family
 * parks.)
 *
 * So when a patched coroutine stops running (gn__coro_switch_hook's OUT),
 * the errors pending on the thread are moved into storage of that
 * coroutine's own (ERR_get_error_all: code, file, line, function, and the
 * data when its flags say it is text); when it runs again (IN) the thread's
 * queue is cleared and its errors are pushed back (ERR_new, ERR_set_debug,
 * ERR_set_error), in the same order. A coroutine that ends takes its errors
 * with it. Marks (ERR_set_mark) do not survive a park; OpenSSL 1.1, which lacks
 * ERR_get_error_all, is not supported (the queue is then the thread's).
 *
 * The hook runs only once a loaded object other than OpenSSL's own needs
 * libssl or libcrypto (its DT_NEEDED says so): an app or a library it
 * links. greenicorn's server links OpenSSL for TLS too, but keeps its own
 * queue clean (net/tls_*.c clear it around every call), so the worker says
 * its executable does not count (gn__patch_ssl_executable_is_clean):
 * without it, every switch would ask OpenSSL about its queue, and hello
 * with patch_all cost 4.8 % more instructions than without.
 *
 * The ERR_ functions are not linked here: they are looked up in
 * the loaded libcrypto (dlsym on it) once it is there, which the loader's
 * count of objects loaded says (looked at on the first switch, then once
 * in 4,096 until libcrypto is found; until then the hook is a decrement).
 */
#include "patch/ssl.h"

#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "green/coro.h"

/* OpenSSL 3's error codes and data flags (openssl/err.h), which ours
 * must agree with to take a code apart and put it back. */
#define ERR_SYSTEM_FLAG 0x80000000UL
#define ERR_LIB_SYS 2
#define ERR_LIB_OFFSET 23
#define ERR_LIB_MASK 0xFF
#define ERR_REASON_MASK 0x7FFFFF
#define ERR_TXT_STRING 0x02
#define ERR_NUM_ERRORS 16 /* the most a thread's queue holds */

static struct {
    unsigned long (*get_error_all)(const char **file, int *line,
                                   const char **func, const char **data,
                                   int *flags);
    unsigned long (*peek_error)(void);
    void (*clear_error)(void);
    void (*new_error)(void);
    void (*set_debug)(const char *file, int line, const char *func);
    void (*set_error)(int lib, int reason, const char *fmt, ...);
    int found;
    unsigned long long adds; /* objects loaded when last looked */
    unsigned countdown;      /* switches until the next look */
} err = {.countdown = 1};

/* One error as ERR_get_error_all gave it. The strings are our copies:
 * OpenSSL 3 keeps its own copies in the queue's slot, reused next. */
struct saved_error {
    unsigned long code;
    char *file, *func, *data; /* each may be NULL */
    int line;
};

/* A suspended coroutine's errors, oldest first. */
struct saved {
    int n;
    struct saved_error e[ERR_NUM_ERRORS];
};

static int count_adds(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    *(unsigned long long *)arg = info->dlpi_adds;
    return 1; /* the first object tells: the count is global */
}

/* The first loaded object whose file is libcrypto's, into ARG. */
static int find_libcrypto(struct dl_phdr_info *info, size_t size, void *arg)
{
    const char *slash = strrchr(info->dlpi_name, '/');
    const char *base = slash ? slash + 1 : info->dlpi_name;

    (void)size;
    if (strncmp(base, "libcrypto.so", 12) != 0)
        return 0;
    *(const char **)arg = info->dlpi_name;
    return 1;
}

static int executable_is_clean;

void gn__patch_ssl_executable_is_clean(void)
{
    executable_is_clean = 1;
}

/* Whether NAME (a file name or path) is libssl's or libcrypto's. */
static int is_openssl(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;

    return strncmp(base, "libcrypto.so", 12) == 0 ||
           strncmp(base, "libssl.so", 9) == 0;
}

/* Whether the object INFO describes needs libssl or libcrypto: its
 * dynamic section's DT_NEEDED names, in its DT_STRTAB (an address the
 * loader has relocated on most machines, an offset on some). */
static int needs_openssl(const struct dl_phdr_info *info)
{
    const ElfW(Dyn) *dyn = NULL;
    const char *strtab = NULL;

    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr +
                                      info->dlpi_phdr[i].p_vaddr);
    if (dyn == NULL)
        return 0;
    for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++)
        if (d->d_tag == DT_STRTAB)
            strtab = (const char *)(d->d_un.d_ptr < info->dlpi_addr
                                        ? info->dlpi_addr + d->d_un.d_ptr
                                        : d->d_un.d_ptr);
    if (strtab == NULL)
        return 0;
    for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++)
        if (d->d_tag == DT_NEEDED && is_openssl(strtab + d->d_un.d_val))
            return 1;
    return 0;
}

/* dl_iterate_phdr: stop (1) at the first object that uses OpenSSL, not
 * counting OpenSSL's own, the vDSO, and the executable when it said it
 * keeps its queue clean. */
static int find_user(struct dl_phdr_info *info, size_t size, void *arg)
{
    int main_program = info->dlpi_name[0] == '\0';

    (void)size;
    (void)arg;
    if ((main_program && executable_is_clean) ||
        (!main_program && is_openssl(info->dlpi_name)))
        return 0;
    return needs_openssl(info);
}

/* FIELD from libcrypto's symbol NAME; 0 when there is none. */
#define FIND(field, name)                                                      \
    (fn = dlsym(lib, name)) != NULL &&                                         \
        (memcpy(&err.field, &fn, sizeof(err.field)), 1)

/* libcrypto's error functions, when it is loaded. A plugin's libcrypto
 * comes with the plugin's RTLD_LOCAL, out of the global scope: it is
 * found by its file name and opened again (RTLD_NOLOAD: only if there),
 * which also keeps it loaded while its functions are known. */
static int find_crypto(void)
{
    const char *path = NULL;
    void *lib, *fn;

    dl_iterate_phdr(find_libcrypto, &path);
    if (path == NULL || (lib = dlopen(path, RTLD_LAZY | RTLD_NOLOAD)) == NULL)
        return 0;
    if (FIND(get_error_all, "ERR_get_error_all") &&
        FIND(peek_error, "ERR_peek_error") &&
        FIND(clear_error, "ERR_clear_error") && FIND(new_error, "ERR_new") &&
        FIND(set_debug, "ERR_set_debug") && FIND(set_error, "ERR_set_error"))
        return 1;
    dlclose(lib); /* OpenSSL 1.1: no ERR_get_error_all */
    return 0;
}

/* Whether libcrypto's error functions are known, looking again when
 * objects were loaded since the last look. */
static int crypto_loaded(void)
{
    unsigned long long adds = 0;

    if (err.found)
        return 1;
    dl_iterate_phdr(count_adds, &adds);
    if (adds == err.adds)
        return 0;
    err.adds = adds;
    err.found = dl_iterate_phdr(find_user, NULL) != 0 && find_crypto();
    return err.found;
}

static void forget(struct saved *st)
{
    for (int i = 0; i < st->n; i++) {
        free(st->e[i].file);
        free(st->e[i].func);
        free(st->e[i].data);
    }
    free(st);
}

/* Move the thread's pending errors into CO's storage. */
static void save(struct gn_coro *co)
{
    struct saved *st;
    const char *file, *func, *data;
    unsigned long code;
    int line, flags;

    if (err.peek_error() == 0)
        return;
    if ((st = calloc(1, sizeof(*st))) == NULL) {
        err.clear_error(); /* lost rather than shown to another */
        return;
    }
    while (st->n < ERR_NUM_ERRORS &&
           (code = err.get_error_all(&file, &line, &func, &data, &flags)) !=
               0) {
        struct saved_error *e = &st->e[st->n++];

        e->code = code;
        e->line = line;
        e->file = file ? strdup(file) : NULL;
        e->func = func ? strdup(func) : NULL;
        e->data = data && (flags & ERR_TXT_STRING) ? strdup(data) : NULL;
    }
    gn__coro_set_patch_state(co, st);
}

/* Put CO's saved errors back on the thread's (cleared) queue. */
static void restore(struct gn_coro *co, struct saved *st)
{
    gn__coro_set_patch_state(co, NULL);
    err.clear_error();
    for (int i = 0; i < st->n; i++) {
        const struct saved_error *e = &st->e[i];
        int system = (e->code & ERR_SYSTEM_FLAG) != 0;
        int lib = system ? ERR_LIB_SYS
                         : (int)((e->code >> ERR_LIB_OFFSET) & ERR_LIB_MASK);
        int reason = (int)(system ? e->code & ~ERR_SYSTEM_FLAG
                                  : e->code & ERR_REASON_MASK);

        err.new_error();
        err.set_debug(e->file, e->line, e->func);
        if (e->data != NULL)
            err.set_error(lib, reason, "%s", e->data);
        else
            err.set_error(lib, reason, NULL);
    }
    forget(st);
}

static void on_switch(struct gn_coro *co, enum gn_coro_switch what)
{
    struct saved *st = gn__coro_patch_state(co);

    switch (what) {
    case GN_CORO_IN:
        if (st != NULL)
            restore(co, st);
        break;
    case GN_CORO_OUT: save(co); break;
    case GN_CORO_DONE: /* its errors end with it */
        if (err.peek_error() != 0)
            err.clear_error();
        /* fall through */
    case GN_CORO_GONE:
        if (st != NULL) {
            gn__coro_set_patch_state(co, NULL);
            forget(st);
        }
        break;
    }
}

/* The hook until libcrypto is found: a look at the first switch (the
 * apps and the libraries they link are loaded by then), then once in 4,096
 * switches (a libcrypto dlopen'ed later), a decrement otherwise. Looking
 * costs a walk of the loaded objects: every switch would make hello
 * 1.5 % dearer in instructions. */
static void probe(struct gn_coro *co, enum gn_coro_switch what)
{
    if (--err.countdown != 0)
        return;
    err.countdown = 4096;
    if (!crypto_loaded())
        return;
    gn__coro_switch_hook = on_switch;
    on_switch(co, what);
}

void gn__patch_ssl_enable(int on)
{
    gn__coro_switch_hook = !on ? NULL : err.found ? on_switch : probe;
}
