/*
 * The command line, Gunicorn-style: `greenicorn [OPTIONS] [APP]`. Every
 * setting has a long flag named as Gunicorn's (from the settings table),
 * and flags override the config file.
 */
#ifndef GN_SERVER_CLI_H
#define GN_SERVER_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "config/config.h"

/* One setting given on the command line, applied after the file. */
struct gn_cli_override {
    const char *name; /* the setting (INI key) */
    const char *value;
    char flag[48]; /* "--workers", for messages */
};

struct gn_cli {
    const char *config; /* -c FILE, or NULL */
    const char *app;    /* the APP argument, or NULL */
    int check_config;
    int print_config;
    int help, version;
    struct gn_cli_override *overrides;
    size_t noverrides;
};

/*
 * Parse ARGV into CLI (which borrows ARGV's strings). 0, or -EINVAL with
 * ERR saying what is wrong (the caller prints it with the usage hint and
 * exits 2).
 */
int gn__cli_parse(int argc, char **argv, struct gn_cli *cli,
                  char err[GN_ERR_LEN]);

/* Free what gn__cli_parse allocated. */
void gn__cli_free(struct gn_cli *cli);

/* Print --help. */
void gn__cli_usage(FILE *out);

#endif /* GN_SERVER_CLI_H */
