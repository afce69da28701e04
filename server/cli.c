/*
 * Command-line parsing with getopt_long. The option table is built from the
 * settings table at run time, so a new setting gets its flag for free.
 * Gunicorn's command lines are what users bring: its worker class flag is
 * accepted for the one class greenicorn is, and its options greenicorn
 * lacks are named as such, with what to do instead, not as typos.
 */
#include "server/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "config/settings.h"

/* Options that are not settings; their values are above any setting's
 * index. */
enum {
    OPT_CONFIG = 'c',
    OPT_HELP = 'h',
    OPT_VERSION = 'v',
    OPT_WORKER_CLASS = 'k',
    OPT_CHECK = 1000,
    OPT_PRINT,
    OPT_LOG_FILE,
    OPT_SETTING_BASE = 2000,     /* + index in gn__settings */
    OPT_UNSUPPORTED_BASE = 3000, /* + index in unsupported[] */
};

static const struct option fixed_options[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"check-config", no_argument, NULL, OPT_CHECK},
    {"print-config", no_argument, NULL, OPT_PRINT},
    {"log-file", required_argument, NULL, OPT_LOG_FILE},
    {"worker-class", required_argument, NULL, OPT_WORKER_CLASS},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, OPT_HELP},
};
#define NFIXED (sizeof(fixed_options) / sizeof(fixed_options[0]))

/* Gunicorn's spellings of the one worker class greenicorn has. */
static const char *const gevent_names[] = {
    "gevent", "gunicorn.workers.ggevent.GeventWorker", "egg:gunicorn#gevent",
    NULL};

/* Gunicorn options users bring that greenicorn lacks, and what to do
 * instead. Their value is optional, so "--certfile=x" and "--certfile x"
 * both land here rather than at "unrecognized option". */
static const struct {
    const char *name;
    const char *instead;
} unsupported[] = {
    {"ssl-version", "use --tls-min-version (1.2 or 1.3)"},
    {"do-handshake-on-connect",
     "the TLS handshake always runs first, green, within "
     "--handshake-timeout"},
    {"suppress-ragged-eofs",
     "a TLS client's close without close_notify is always taken as its end"},
    {"threads", "each worker serves --worker-connections requests at once "
                "on coroutines; raise that, or -w"},
    {"log-config", "use --error-logfile, --access-logfile and --log-syslog"},
    {"log-config-dict",
     "use --error-logfile, --access-logfile and --log-syslog"},
    {"log-config-json",
     "use --error-logfile, --access-logfile and --log-syslog"},
    {"logger-class", "use --error-logfile, --access-logfile and --log-syslog"},
    {"capture-output", "an app's standard error goes to the error log's "
                       "stream; point --error-logfile at a file"},
    {"enable-stdio-inheritance", "standard streams are inherited already"},
    {"paste", "greenicorn serves C plugins (APP is PATH.so[:SYMBOL]), not "
              "WSGI apps"},
    {"pythonpath", "greenicorn serves C plugins (APP is PATH.so[:SYMBOL]), "
                   "not Python modules"},
    {"tmp-upload-dir", "an app reads a request body as it arrives"},
    {"initgroups", "-u/-g set the user and its group"},
};
#define NUNSUPPORTED (sizeof(unsupported) / sizeof(unsupported[0]))

/* The long options, and the short option string ("c:hvb:w:t:"). */
static struct option *build_options(char *shorts, size_t room)
{
    struct option *opts = calloc(NFIXED + NUNSUPPORTED + gn__settings_count + 1,
                                 sizeof(*opts));
    size_t n = NFIXED;

    if (opts == NULL)
        return NULL;
    memcpy(opts, fixed_options, sizeof(fixed_options));
    for (size_t i = 0; i < NUNSUPPORTED; i++)
        opts[n++] = (struct option){unsupported[i].name, optional_argument,
                                    NULL, OPT_UNSUPPORTED_BASE + (int)i};
    /* '+': stop at APP; ':': report a missing value apart from an
     * unknown option. */
    snprintf(shorts, room, "+:c:hvk:");
    for (size_t i = 0; i < gn__settings_count; i++) {
        const struct gn_setting *s = &gn__settings[i];

        if (s->flag == NULL)
            continue;
        opts[n++] = (struct option){
            s->flag, s->is_switch ? no_argument : required_argument, NULL,
            OPT_SETTING_BASE + (int)i};
        if (s->short_flag)
            snprintf(shorts + strlen(shorts), room - strlen(shorts),
                     s->is_switch ? "%c" : "%c:", s->short_flag);
    }
    return opts;
}

static int add_override(struct gn_cli *cli, const struct gn_setting *s,
                        const char *value)
{
    struct gn_cli_override *grown =
        realloc(cli->overrides, (cli->noverrides + 1) * sizeof(*grown));

    if (grown == NULL)
        return -ENOMEM;
    cli->overrides = grown;
    grown += cli->noverrides++;
    grown->name = s->name;
    grown->value = value;
    snprintf(grown->flag, sizeof(grown->flag), "--%s", s->flag);
    return 0;
}

static const struct gn_setting *setting_for_short(int c)
{
    for (size_t i = 0; i < gn__settings_count; i++)
        if (gn__settings[i].short_flag == c)
            return &gn__settings[i];
    return NULL;
}

/* The option getopt just refused, as the user wrote it. */
static void name_bad_option(char **argv, char *err, const char *what)
{
    const char *arg = argv[optind - 1];

    /* A long option is its word; a short one may sit in a cluster ("-xw"):
     * name its letter. */
    if (strncmp(arg, "--", 2) == 0)
        snprintf(err, GN_ERR_LEN, "%s: '%.*s'", what, (int)strcspn(arg, "="),
                 arg);
    else
        snprintf(err, GN_ERR_LEN, "%s: '-%c'", what, optopt);
}

/* -k/--worker-class: greenicorn's workers are what Gunicorn calls gevent
 * workers, so that class is accepted (and changes nothing); any other is
 * refused rather than silently served differently. */
static int take_worker_class(const char *value, char *err)
{
    for (const char *const *name = gevent_names; *name; name++)
        if (strcmp(value, *name) == 0)
            return 0;
    snprintf(err, GN_ERR_LEN,
             "--worker-class: '%s': greenicorn has one worker class, "
             "green workers (coroutines on libevent) as Gunicorn's gevent; "
             "give gevent or leave the flag out",
             value);
    return -EINVAL;
}

static int refuse_unsupported(int i, char *err)
{
    snprintf(err, GN_ERR_LEN,
             "'--%s': this Gunicorn option is not supported yet: %s (see "
             "the README's Deployment section)",
             unsupported[i].name, unsupported[i].instead);
    return -EINVAL;
}

/* Apply one option getopt returned. 0, or -EINVAL. */
static int take_option(struct gn_cli *cli, int c, char **argv, char *err)
{
    const struct gn_setting *s = NULL;

    if (c >= OPT_UNSUPPORTED_BASE)
        return refuse_unsupported(c - OPT_UNSUPPORTED_BASE, err);
    switch (c) {
    case OPT_CONFIG: cli->config = optarg; return 0;
    case OPT_CHECK: cli->check_config = 1; return 0;
    case OPT_PRINT: cli->print_config = 1; return 0;
    case OPT_HELP: cli->help = 1; return 0;
    case OPT_VERSION: cli->version = 1; return 0;
    case OPT_WORKER_CLASS: return take_worker_class(optarg, err);
    case OPT_LOG_FILE: s = gn__setting_find("errorlog"); break;
    case '?': name_bad_option(argv, err, "unrecognized option"); return -EINVAL;
    case ':':
        name_bad_option(argv, err, "option needs a value");
        return -EINVAL;
    default:
        s = c >= OPT_SETTING_BASE ? &gn__settings[c - OPT_SETTING_BASE]
                                  : setting_for_short(c);
    }
    if (s == NULL) {
        snprintf(err, GN_ERR_LEN, "unknown option");
        return -EINVAL;
    }
    if (add_override(cli, s, s->is_switch ? "on" : optarg) != 0)
        return -ENOMEM;
    return 0;
}

/* Each flag's value (and APP) checked now, before the config file is
 * read: a bad one is a bad command line (exit 2), whatever the file
 * holds. */
static int check_values(const struct gn_cli *cli, char *err)
{
    struct gn_config *scratch = gn__config_new();
    int rc = 0;

    if (scratch == NULL) {
        snprintf(err, GN_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < cli->noverrides && rc == 0; i++)
        rc = gn__config_set(scratch, cli->overrides[i].name,
                            cli->overrides[i].value, cli->overrides[i].flag,
                            err);
    if (rc == 0 && cli->app != NULL)
        rc = gn__config_set_app(scratch, cli->app, "APP", err);
    gn__config_free(scratch);
    return rc;
}

int gn__cli_parse(int argc, char **argv, struct gn_cli *cli,
                  char err[GN_ERR_LEN])
{
    char shorts[96];
    struct option *opts = build_options(shorts, sizeof(shorts));
    int c, rc = 0;

    memset(cli, 0, sizeof(*cli));
    if (opts == NULL) {
        snprintf(err, GN_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    optind = 1;
    opterr = 0; /* we name the bad option ourselves */
    while (rc == 0 && (c = getopt_long(argc, argv, shorts, opts, NULL)) != -1)
        rc = take_option(cli, c, argv, err);
    free(opts);
    if (rc == 0 && optind < argc)
        cli->app = argv[optind++];
    if (rc == 0 && optind < argc) {
        snprintf(err, GN_ERR_LEN, "unexpected argument '%s' (one APP only)",
                 argv[optind]);
        rc = -EINVAL;
    }
    return rc == 0 ? check_values(cli, err) : rc;
}

void gn__cli_free(struct gn_cli *cli)
{
    free(cli->overrides);
    cli->overrides = NULL;
    cli->noverrides = 0;
}

void gn__cli_usage(FILE *out)
{
    fprintf(out,
            "usage: greenicorn [OPTIONS] [APP]\n"
            "       greenicorn ctl -s SOCKET COMMAND [ARGS] [--json]\n\n"
            "Serve the app plugin APP (PATH.so[:SYMBOL]) over HTTP/1.1 from "
            "forked green workers.\n\n"
            "  -c, --config FILE        the INI config file (default: "
            "./greenicorn.conf if present)\n"
            "  -k, --worker-class CLASS gevent only, for Gunicorn command "
            "lines: the workers are green\n"
            "      --check-config       validate the configuration, load the "
            "apps and hooks,\n"
            "                           run each app's init and fini in a "
            "throw-away child\n"
            "                           process, then exit\n"
            "      --print-config       print the effective configuration "
            "and exit\n"
            "  -v, --version            print the version and exit\n"
            "  -h, --help               print this help and exit\n\n"
            "Settings (flags override the config file):\n");
    for (size_t i = 0; i < gn__settings_count; i++) {
        const struct gn_setting *s = &gn__settings[i];
        char left[64];

        if (s->flag == NULL)
            continue;
        /* A switch takes no value on the command line. */
        if (s->short_flag)
            snprintf(left, sizeof(left), "-%c, --%s%s%s", s->short_flag,
                     s->flag, s->is_switch ? "" : " ",
                     s->is_switch ? "" : s->metavar);
        else if (s->is_switch)
            snprintf(left, sizeof(left), "    --%s", s->flag);
        else
            snprintf(left, sizeof(left), "    --%s %s", s->flag, s->metavar);
        if (strstr(s->help, "(default:") != NULL) /* says it better */
            fprintf(out, "  %-35s %s\n", left, s->help);
        else
            fprintf(out, "  %-35s %s (default: %s)\n", left, s->help,
                    *s->defval ? s->defval : "none");
    }
    fprintf(
        out,
        "      --log-file FILE                 the same as "
        "--error-logfile\n\n"
        "Signals: TERM graceful stop, INT/QUIT quick stop, HUP reload, USR2 "
        "upgrade the binary, TTIN/TTOU "
        "one worker more/fewer, USR1 reopen logs.\n"
        "With --control-socket, `greenicorn ctl -s SOCKET help` lists the "
        "commands\n(status, workers, reload, upgrade, add, remove, ...).\n");
}
