/*
 * Unit tests of the settings table and its value parsers
 * (config/settings.c), through gn__config_set as the command line uses it.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "run_suite.h"
#include "config/config.h"
#include "config/settings.h"

static struct gn_config *cfg;
static char err[GN_ERR_LEN];

static void setup(void)
{
    cfg = gn__config_new();
    ck_assert_ptr_nonnull(cfg);
    err[0] = '\0';
}

static void teardown(void)
{
    gn__config_free(cfg);
}

static int set(const char *name, const char *value)
{
    return gn__config_set(cfg, name, value, "--test", err);
}

START_TEST(settings_defaults_are_gunicorns)
{
    ck_assert_uint_eq(cfg->nbinds, 1);
    ck_assert_str_eq(cfg->binds[0].host, "127.0.0.1");
    ck_assert_int_eq(cfg->binds[0].port, 8000);
    ck_assert_int_eq(cfg->backlog, 2048);
    ck_assert_int_eq(cfg->workers, 1);
    ck_assert_int_eq(cfg->worker_connections, 1000);
    ck_assert_int_eq(cfg->timeout, 30);
    ck_assert_int_eq(cfg->graceful_timeout, 30);
    ck_assert_int_eq(cfg->keepalive, 2);
    ck_assert_int_eq(cfg->max_requests, 0);
    ck_assert_ptr_null(cfg->accesslog);
    ck_assert_str_eq(cfg->errorlog, "-");
    ck_assert_int_eq(cfg->loglevel, GN_LOG_INFO);
    ck_assert_ptr_null(cfg->app.spec);
}
END_TEST

START_TEST(settings_every_default_parses)
{
    for (size_t i = 0; i < gn__settings_count; i++) {
        const struct gn_setting *s = &gn__settings[i];

        ck_assert_msg(s->parse(cfg, s, s->defval, err, sizeof(err)) == 0,
                      "default of %s: %s", s->name, err);
        ck_assert_msg(gn__section_known(s->section), "%s", s->section);
    }
}
END_TEST

START_TEST(settings_integers_strict)
{
    ck_assert_int_eq(set("workers", "4"), 0);
    ck_assert_int_eq(cfg->workers, 4);
    ck_assert_int_lt(set("workers", "0"), 0);
    ck_assert_str_eq(err, "--test: 0 is out of range (must be 1..1024)");
    ck_assert_int_lt(set("workers", "-1"), 0);
    ck_assert_int_lt(set("workers", "4x"), 0);
    ck_assert_str_eq(err, "--test: '4x' is not an integer");
    ck_assert_int_lt(set("workers", ""), 0);
    ck_assert_int_lt(set("workers", "+4"), 0);
    ck_assert_int_lt(set("workers", "99999999999999999999"), 0);
    ck_assert_int_eq(set("timeout", "0"), 0);
    ck_assert_int_lt(set("backlog", "0"), 0);
    ck_assert_str_eq(err, "--test: 0 is out of range (must be >= 1)");
    ck_assert_int_eq(cfg->workers, 4); /* failures leave the value */
}
END_TEST

START_TEST(settings_bind_forms)
{
    ck_assert_int_eq(set("bind", "0.0.0.0:80"), 0);
    ck_assert_int_eq(set("bind", "[::1]:8080"), 0);
    ck_assert_int_eq(set("bind", "unix:/tmp/gn.sock"), 0);
    ck_assert_int_eq(set("bind", "localhost"), 0);
    ck_assert_int_eq(set("bind", ":9000"), 0);
    ck_assert_uint_eq(cfg->nbinds, 5);
    ck_assert_str_eq(cfg->binds[0].host, "0.0.0.0");
    ck_assert_int_eq(cfg->binds[0].port, 80);
    ck_assert_str_eq(cfg->binds[1].host, "::1");
    ck_assert_int_eq(cfg->binds[1].port, 8080);
    ck_assert_int_eq(cfg->binds[2].kind, GN_BIND_UNIX);
    ck_assert_str_eq(cfg->binds[2].path, "/tmp/gn.sock");
    ck_assert_int_eq(cfg->binds[3].port, 8000);
    ck_assert_str_eq(cfg->binds[4].host, "");
    ck_assert_int_eq(cfg->binds[4].port, 9000);
}
END_TEST

START_TEST(settings_bind_list_in_one_value)
{
    ck_assert_int_eq(set("bind", "127.0.0.1:1 127.0.0.1:2,unix:/x"), 0);
    ck_assert_uint_eq(cfg->nbinds, 3);
    ck_assert_str_eq(cfg->binds[2].spec, "unix:/x");
}
END_TEST

START_TEST(settings_bind_errors)
{
    ck_assert_int_lt(set("bind", "::1:80"), 0);
    ck_assert_ptr_nonnull(strstr(err, "brackets"));
    ck_assert_int_lt(set("bind", "host:99999"), 0);
    ck_assert_ptr_nonnull(strstr(err, "port must be 0..65535"));
    ck_assert_int_lt(set("bind", "host:"), 0);
    ck_assert_int_lt(set("bind", "[::1"), 0);
    ck_assert_int_lt(set("bind", "unix:"), 0);
    ck_assert_int_lt(set("bind", ""), 0);
    ck_assert_int_lt(set("bind", "unix:/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
                     0);
}
END_TEST

START_TEST(settings_tls_binds)
{
    size_t n;
    struct gn_bind *all;

    ck_assert_int_eq(set("bind", "tls://0.0.0.0:8443 127.0.0.1:8000"), 0);
    ck_assert_int_eq(set("bind", "tls://[::1]:443 tls://unix:/tmp/s"), 0);
    ck_assert_uint_eq(cfg->nbinds, 4);
    ck_assert_int_eq(cfg->binds[0].tls, 1);
    ck_assert_str_eq(cfg->binds[0].host, "0.0.0.0");
    ck_assert_int_eq(cfg->binds[0].port, 8443);
    ck_assert_str_eq(cfg->binds[0].spec, "tls://0.0.0.0:8443");
    ck_assert_int_eq(cfg->binds[1].tls, 0);
    ck_assert_int_eq(cfg->binds[2].tls, 1);
    ck_assert_str_eq(cfg->binds[2].host, "::1");
    ck_assert_int_eq(cfg->binds[3].kind, GN_BIND_UNIX);
    ck_assert_int_eq(cfg->binds[3].tls, 1);
    ck_assert_str_eq(cfg->binds[3].path, "/tmp/s");
    ck_assert_int_lt(set("bind", "tls://"), 0);
    ck_assert_ptr_nonnull(strstr(err, "tls:// takes one address"));
    ck_assert_int_lt(set("bind", "tls://tls://x:1"), 0);
    ck_assert_int_lt(set("bind", "tls://host:99999"), 0);
    ck_assert_ptr_nonnull(strstr(err, "port must be 0..65535"));
    /* A marked bind and a certfile: only the marked one is TLS. */
    ck_assert_int_eq(set("certfile", "/x.pem"), 0);
    ck_assert_int_eq(gn__config_tls_everywhere(cfg), 0);
    all = gn__config_listen_binds(cfg, &n);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(all[0].tls, 1);
    ck_assert_int_eq(all[1].tls, 0);
    free(all);
}
END_TEST

START_TEST(settings_tls_certfile_alone_is_gunicorns)
{
    size_t n;
    struct gn_bind *all;

    ck_assert_int_eq(set("bind", "127.0.0.1:1 unix:/tmp/p"), 0);
    all = gn__config_listen_binds(cfg, &n);
    ck_assert_int_eq(all[0].tls + all[1].tls, 0);
    free(all);
    ck_assert_int_eq(set("certfile", "/x.pem"), 0);
    ck_assert_int_eq(gn__config_tls_everywhere(cfg), 1);
    all = gn__config_listen_binds(cfg, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(all[0].tls, 1);
    ck_assert_int_eq(all[1].tls, 1);
    free(all);
    ck_assert_int_eq(cfg->binds[0].tls, 0); /* the config is not changed */
    ck_assert_int_eq(set("proxy_protocol", "on"), 0);
    /* The PROXY header is read before the handshake: they mix. */
    ck_assert_int_eq(gn__config_check(cfg, err), 0);
}
END_TEST

START_TEST(settings_tls_values)
{
    ck_assert_int_eq(cfg->cert_reqs, GN_CERT_NONE);
    ck_assert_int_eq(cfg->tls_min_version, 0x0303);
    ck_assert_int_eq(cfg->handshake_timeout, 10);
    ck_assert_ptr_null(cfg->certfile);
    ck_assert_ptr_nonnull(strstr(cfg->ciphers, "ECDHE-ECDSA-AES128-GCM"));
    ck_assert_ptr_null(strstr(cfg->ciphers, "CBC"));
    ck_assert_int_eq(set("cert_reqs", "required"), 0);
    ck_assert_int_eq(cfg->cert_reqs, GN_CERT_REQUIRED);
    ck_assert_int_eq(set("cert_reqs", "Optional"), 0);
    ck_assert_int_eq(cfg->cert_reqs, GN_CERT_OPTIONAL);
    ck_assert_int_eq(set("cert_reqs", "0"), 0); /* ssl.CERT_NONE */
    ck_assert_int_eq(cfg->cert_reqs, GN_CERT_NONE);
    ck_assert_int_eq(set("cert_reqs", "2"), 0);
    ck_assert_int_eq(cfg->cert_reqs, GN_CERT_REQUIRED);
    ck_assert_int_lt(set("cert_reqs", "3"), 0);
    ck_assert_str_eq(err, "--test: '3' is not none, optional or required "
                          "(0, 1, 2)");
    ck_assert_int_lt(set("cert_reqs", "maybe"), 0);
    ck_assert_int_lt(set("cert_reqs", ""), 0);
    ck_assert_int_eq(set("tls_min_version", "1.3"), 0);
    ck_assert_int_eq(cfg->tls_min_version, 0x0304);
    ck_assert_int_eq(set("tls_min_version", "TLSv1.2"), 0);
    ck_assert_int_eq(cfg->tls_min_version, 0x0303);
    ck_assert_int_eq(set("tls_min_version", "tlsv1.3"), 0);
    ck_assert_int_eq(cfg->tls_min_version, 0x0304);
    ck_assert_int_lt(set("tls_min_version", "1.1"), 0);
    ck_assert_str_eq(err, "--test: '1.1' is not a TLS version greenicorn "
                          "offers (1.2 or 1.3)");
    ck_assert_int_lt(set("tls_min_version", "1.2x"), 0);
    ck_assert_int_lt(set("tls_min_version", "TLSv1"), 0);
    ck_assert_int_lt(set("tls_min_version", ""), 0);
    ck_assert_int_eq(cfg->tls_min_version, 0x0304); /* left as it was */
    ck_assert_int_lt(set("handshake_timeout", "0"), 0);
    ck_assert_int_eq(set("handshake_timeout", "3"), 0);
    ck_assert_int_eq(cfg->handshake_timeout, 3);
    ck_assert_int_lt(set("ciphers", "A\x01B"), 0);
    ck_assert_int_eq(set("ciphers", "HIGH:!aNULL"), 0);
    ck_assert_str_eq(cfg->ciphers, "HIGH:!aNULL");
    ck_assert_int_eq(set("tls_ciphersuites", ""), 0);
    ck_assert_ptr_null(cfg->tls_ciphersuites);
}
END_TEST

START_TEST(settings_tls_checks)
{
    ck_assert_int_eq(set("bind", "tls://127.0.0.1:1"), 0);
    ck_assert_int_lt(gn__config_check(cfg, err), 0);
    ck_assert_str_eq(err, "bind tls://127.0.0.1:1: TLS needs a certfile");
    ck_assert_int_eq(set("certfile", "/c.pem"), 0);
    ck_assert_int_eq(gn__config_check(cfg, err), 0);
    ck_assert_int_eq(set("cert_reqs", "optional"), 0);
    ck_assert_int_lt(gn__config_check(cfg, err), 0);
    ck_assert_str_eq(err, "cert_reqs = optional needs ca_certs (the CAs "
                          "client certificates are checked against)");
    ck_assert_int_eq(set("ca_certs", "/ca.pem"), 0);
    ck_assert_int_eq(gn__config_check(cfg, err), 0);
    ck_assert_int_eq(set("proxy_protocol", "on"), 0);
    ck_assert_int_eq(gn__config_check(cfg, err), 0);
    ck_assert_int_eq(set("proxy_protocol", "off"), 0);
    ck_assert_int_eq(set("certfile", ""), 0);
    ck_assert_int_lt(gn__config_check(cfg, err), 0);
    ck_assert_str_eq(err, "bind tls://127.0.0.1:1: TLS needs a certfile");
    gn__binds_clear(cfg);
    ck_assert_int_eq(set("bind", "127.0.0.1:1"), 0);
    ck_assert_int_lt(gn__config_check(cfg, err), 0);
    ck_assert_str_eq(err, "ca_certs is set but certfile is not");
}
END_TEST

START_TEST(settings_paths_and_levels)
{
    ck_assert_int_eq(set("accesslog", "/var/log/a.log"), 0);
    ck_assert_str_eq(cfg->accesslog, "/var/log/a.log");
    ck_assert_int_eq(set("accesslog", ""), 0);
    ck_assert_ptr_null(cfg->accesslog);
    ck_assert_int_lt(set("errorlog", ""), 0);
    ck_assert_int_eq(set("loglevel", "DEBUG"), 0);
    ck_assert_int_eq(cfg->loglevel, GN_LOG_DEBUG);
    ck_assert_int_lt(set("loglevel", "verbose"), 0);
    ck_assert_ptr_nonnull(strstr(err, "'verbose' is not a level"));
}
END_TEST

START_TEST(settings_health_check_path)
{
    ck_assert_ptr_null(cfg->health_check_path); /* off by default */
    ck_assert_int_eq(set("health_check_path", "/healthz"), 0);
    ck_assert_str_eq(cfg->health_check_path, "/healthz");
    ck_assert_int_lt(set("health_check_path", "healthz"), 0);
    ck_assert_ptr_nonnull(strstr(err, "must start with /"));
    ck_assert_int_lt(set("health_check_path", "/a b"), 0);
    ck_assert_int_lt(set("health_check_path", "/h?x=1"), 0);
    ck_assert_str_eq(cfg->health_check_path, "/healthz"); /* kept */
    ck_assert_int_eq(set("health_check_path", ""), 0);
    ck_assert_ptr_null(cfg->health_check_path);
}
END_TEST

START_TEST(settings_app_spec)
{
    ck_assert_int_eq(gn__config_set_app(cfg, "./a.so", "APP", err), 0);
    ck_assert_str_eq(cfg->app.path, "./a.so");
    ck_assert_str_eq(cfg->app.symbol, GN_APP_SYMBOL);
    ck_assert_int_eq(gn__config_set_app(cfg, "lib/a.so:my_app", "APP", err), 0);
    ck_assert_str_eq(cfg->app.path, "lib/a.so");
    ck_assert_str_eq(cfg->app.symbol, "my_app");
    /* A ':' in a directory name is not a symbol separator. */
    ck_assert_int_eq(gn__config_set_app(cfg, "/opt/v1:2/a.so", "APP", err), 0);
    ck_assert_str_eq(cfg->app.path, "/opt/v1:2/a.so");
    ck_assert_int_lt(gn__config_set_app(cfg, "a.so:", "APP", err), 0);
    ck_assert_int_lt(gn__config_set_app(cfg, ":sym", "APP", err), 0);
}
END_TEST

START_TEST(settings_suggest)
{
    ck_assert_str_eq(gn__setting_suggest("wokers"), "workers");
    ck_assert_str_eq(gn__setting_suggest("keep_alive"), "keepalive");
    ck_assert_ptr_null(gn__setting_suggest("completely_else"));
}
END_TEST

START_TEST(settings_unknown_name)
{
    ck_assert_int_eq(set("nope", "1"), -ENOENT);
}
END_TEST

static Suite *settings_suite(void)
{
    Suite *s = suite_create("config/settings");
    TCase *tc = tcase_create("values");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, settings_defaults_are_gunicorns);
    tcase_add_test(tc, settings_every_default_parses);
    tcase_add_test(tc, settings_integers_strict);
    tcase_add_test(tc, settings_bind_forms);
    tcase_add_test(tc, settings_bind_list_in_one_value);
    tcase_add_test(tc, settings_bind_errors);
    tcase_add_test(tc, settings_tls_binds);
    tcase_add_test(tc, settings_tls_certfile_alone_is_gunicorns);
    tcase_add_test(tc, settings_tls_values);
    tcase_add_test(tc, settings_tls_checks);
    tcase_add_test(tc, settings_paths_and_levels);
    tcase_add_test(tc, settings_health_check_path);
    tcase_add_test(tc, settings_app_spec);
    tcase_add_test(tc, settings_suggest);
    tcase_add_test(tc, settings_unknown_name);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return gn_test_run_suite(settings_suite());
}
