/*
 * Switching patch_all on and naming what is on. The interposed functions
 * live beside this file, one family each; what they share is the flag word
 * green/coro.c keeps per switch (gn__patch_now), set from here.
 */
#include "patch/patch.h"

#include <stdio.h>
#include <string.h>

#include "patch/ssl.h"

static const char *const family_names[] = {"socket", "dns", "time", "select",
                                           "ssl"};

void gn__patch_enable(unsigned families)
{
    gn__coro_patch_families = families & GN_PATCH_ALL;
    gn__patch_ssl_enable((families & GN_PATCH_SSL) != 0);
}

const char *gn__patch_describe(char *buf, size_t len)
{
    size_t used = 0;

    if (len == 0)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(family_names) / sizeof(*family_names); i++) {
        if (!(gn__coro_patch_families & (1u << i)))
            continue;
        int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
                         family_names[i]);
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
    if (used == 0)
        snprintf(buf, len, "off");
    return buf;
}
