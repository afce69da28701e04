/*
 * The driver of the data-driven config tests: loads tests/unit/data/X.ini
 * and compares the outcome with X.expect, which holds either the error
 * message (with the file name written as FILE) or the --print-config output
 * without its first comment line.
 *
 *     config_case X.ini X.expect
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    int c;

    if (f == NULL || out == NULL) {
        perror(path);
        exit(2);
    }
    while ((c = fgetc(f)) != EOF)
        fputc(c, out);
    fclose(f);
    fclose(out);
    return text;
}

/* The outcome as text: "error: MESSAGE\n" with the path made FILE, or the
 * printed config without its first line. */
static char *outcome(const char *ini)
{
    struct gn_config *cfg = gn__config_new();
    char err[GN_ERR_LEN], *text = NULL, *p;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    if (gn__config_load(cfg, ini, err) != 0 ||
        gn__config_check(cfg, err) != 0) {
        p = strstr(err, ini);
        if (p == err)
            fprintf(out, "error: FILE%s\n", err + strlen(ini));
        else
            fprintf(out, "error: %s\n", err);
    } else {
        gn__config_print(cfg, out);
    }
    fclose(out);
    gn__config_free(cfg);
    if (strncmp(text, "error: ", 7) != 0 && (p = strchr(text, '\n')))
        memmove(text, p + 1, strlen(p + 1) + 1);
    return text;
}

int main(int argc, char **argv)
{
    char *got, *want;
    int same;

    if (argc != 3) {
        fprintf(stderr, "usage: config_case X.ini X.expect\n");
        return 2;
    }
    got = outcome(argv[1]);
    want = slurp(argv[2]);
    same = strcmp(got, want) == 0;
    if (!same)
        fprintf(stderr, "%s\n--- expected ---\n%s--- got ---\n%s", argv[1],
                want, got);
    free(got);
    free(want);
    return same ? 0 : 1;
}
