/*
 * locale_app: an app that switches its worker to another locale, as an app
 * calling setlocale(LC_ALL, "") under LANG=de_DE.UTF-8 does, for the e2e
 * test that the server's Date header and log times ignore it.
 *
 *     [app.args]
 *     locale = de_DE.UTF-8
 *
 * init fails when the locale cannot be set (a test must not pass in "C").
 * Each answer is the day and month of 2026-12-05 as strftime writes them
 * in that locale ("Sa Dez"), proof the locale is in force in the worker.
 */
#include <errno.h>
#include <locale.h>
#include <string.h>
#include <time.h>

#include <greenicorn.h>

static int locale_init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    (void)state;
    for (size_t i = 0; i < nargs; i++) {
        if (strcmp(args[i].name, "locale") != 0)
            continue;
        if (setlocale(LC_ALL, args[i].value) == NULL) {
            gn_log(GN_LOG_ERROR, "locale_app: cannot set the locale %s",
                   args[i].value);
            return -ENOENT;
        }
        return 0;
    }
    gn_log(GN_LOG_ERROR, "locale_app: no locale in [app.args]");
    return -EINVAL;
}

static int locale_handle(gn_request_t *req, gn_response_t *res, void *state)
{
    struct tm tm = {.tm_year = 126, .tm_mon = 11, .tm_mday = 5, .tm_wday = 6};
    char text[64];
    size_t n = strftime(text, sizeof(text), "%a %b", &tm);

    (void)req;
    (void)state;
    gn_response_header(res, "Content-Type", "text/plain; charset=utf-8");
    return gn_response_write(res, text, n);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER,
    .name = "locale",
    .init = locale_init,
    .handle = locale_handle,
};
