/*
 * Fuzz target: the config loader (config/config.c and the value parsers of
 * config/settings.c) on arbitrary text, then --print-config of whatever
 * loaded.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gn_config *cfg = gn__config_new();
    char err[GN_ERR_LEN];
    FILE *sink = fopen("/dev/null", "w");

    if (cfg == NULL || sink == NULL)
        abort();
    /* The bytes as a file holds them, NUL bytes and all (refused with
     * FILE:LINE). The checks after loading too (mounts, [app:NAME]
     * completeness); their messages have no file to name when none was
     * read. */
    if (gn__config_load_buffer(cfg, "fuzz.conf", (const char *)data, size,
                               err) == 0 &&
        gn__config_check(cfg, err) != -ENOMEM)
        gn__config_print(cfg, sink);
    else if (strncmp(err, "fuzz.conf", 9) != 0)
        abort(); /* every error names the file */
    fclose(sink);
    gn__config_free(cfg);
    return 0;
}
