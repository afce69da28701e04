/*
 * Unit tests of loading config files (config/config.c): line numbers in
 * errors, the reader's handling of sections and indentation, keys given
 * twice, [app.args], and command-line overrides on top of a file.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "run_suite.h"
#include "config/config.h"

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

static int load(const char *text)
{
    return gn__config_load_string(cfg, "t.conf", text, err);
}

START_TEST(config_loads_sections)
{
    ck_assert_int_eq(load("[server]\nbind = 0.0.0.0:9000\n"
                          "[workers]\nworkers = 3\nkeepalive = 5\n"
                          "[logging]\nloglevel = debug\n"
                          "[app]\nmodule = x.so:sym\n"),
                     0);
    ck_assert_int_eq(cfg->workers, 3);
    ck_assert_int_eq(cfg->keepalive, 5);
    ck_assert_int_eq(cfg->binds[0].port, 9000);
    ck_assert_uint_eq(cfg->nbinds, 1);
    ck_assert_str_eq(cfg->app.symbol, "sym");
}
END_TEST

START_TEST(config_error_names_line_and_key)
{
    ck_assert_int_eq(load("[workers]\n\n; comment\nworkers = -1\n"), -EINVAL);
    ck_assert_str_eq(err, "t.conf:4: workers: -1 is out of range "
                          "(must be 1..1024)");
}
END_TEST

START_TEST(config_stops_at_first_error)
{
    ck_assert_int_eq(load("[workers]\nworkers = x\nwokers = 2\n"), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "t.conf:2: workers:"));
}
END_TEST

START_TEST(config_syntax_error_before_key_error)
{
    ck_assert_int_eq(load("[workers]\nthis is not ini\nwokers = 2\n"), -EINVAL);
    ck_assert_str_eq(err, "t.conf:2: syntax error: expected 'key = value' "
                          "or '[section]'");
}
END_TEST

START_TEST(config_indented_keys_are_keys)
{
    ck_assert_int_eq(load("[workers]\n  workers = 2\n  timeout = 9\n"), 0);
    ck_assert_int_eq(cfg->workers, 2);
    ck_assert_int_eq(cfg->timeout, 9);
}
END_TEST

START_TEST(config_duplicate_key)
{
    ck_assert_int_eq(load("[workers]\nworkers = 2\n\nworkers = 3\n"), -EINVAL);
    ck_assert_str_eq(err, "t.conf:4: workers: set twice (first on line 2)");
}
END_TEST

START_TEST(config_repeated_bind_adds)
{
    ck_assert_int_eq(load("[server]\nbind = 127.0.0.1:1\n"
                          "bind = unix:/tmp/x.sock 127.0.0.1:2\n"),
                     0);
    ck_assert_uint_eq(cfg->nbinds, 3);
    ck_assert_int_eq(cfg->binds[0].port, 1);
}
END_TEST

START_TEST(config_app_args_in_order)
{
    ck_assert_int_eq(load("[app.args]\nb = 2\na = one two\nb = 3\n"), 0);
    ck_assert_uint_eq(cfg->app.nargs, 3);
    ck_assert_str_eq(cfg->app.args[0].name, "b");
    ck_assert_str_eq(cfg->app.args[1].value, "one two");
    ck_assert_str_eq(cfg->app.args[2].value, "3");
}
END_TEST

START_TEST(config_flags_override_file)
{
    ck_assert_int_eq(load("[server]\nbind = 127.0.0.1:1 127.0.0.1:2\n"
                          "[workers]\nworkers = 3\n"),
                     0);
    ck_assert_int_eq(gn__config_set(cfg, "workers", "1", "--workers", err), 0);
    ck_assert_int_eq(cfg->workers, 1);
    /* The first -b replaces the file's list, later ones add. */
    ck_assert_int_eq(gn__config_set(cfg, "bind", "unix:/a", "--bind", err), 0);
    ck_assert_int_eq(gn__config_set(cfg, "bind", "unix:/b", "--bind", err), 0);
    ck_assert_uint_eq(cfg->nbinds, 2);
    ck_assert_str_eq(cfg->binds[0].path, "/a");
    ck_assert_int_lt(gn__config_set(cfg, "workers", "0", "--workers", err), 0);
    ck_assert_str_eq(err, "--workers: 0 is out of range (must be 1..1024)");
}
END_TEST

START_TEST(config_missing_file)
{
    ck_assert_int_eq(gn__config_load(cfg, "/nonexistent/g.conf", err), -ENOENT);
    ck_assert_str_eq(err, "/nonexistent/g.conf: cannot read the config "
                          "file: No such file or directory");
}
END_TEST

START_TEST(config_print_loads_back)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    struct gn_config *again = gn__config_new();

    ck_assert_int_eq(load("[server]\nbind = [::1]:81 unix:/tmp/s\n"
                          "[workers]\nworkers = 7\n[logging]\n"
                          "accesslog = -\nloglevel = error\n"
                          "[app]\nmodule = a.so:b\n[app.args]\nk = v\n"),
                     0);
    gn__config_print(cfg, out);
    fclose(out);
    ck_assert_int_eq(gn__config_load_string(again, "printed", text, err), 0);
    ck_assert_int_eq(again->workers, 7);
    ck_assert_uint_eq(again->nbinds, 2);
    ck_assert_str_eq(again->binds[1].spec, "unix:/tmp/s");
    ck_assert_int_eq(again->loglevel, GN_LOG_ERROR);
    ck_assert_str_eq(again->accesslog, "-");
    ck_assert_str_eq(again->app.spec, "a.so:b");
    ck_assert_uint_eq(again->app.nargs, 1);
    gn__config_free(again);
    free(text);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config/config");
    TCase *tc = tcase_create("loading");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, config_loads_sections);
    tcase_add_test(tc, config_error_names_line_and_key);
    tcase_add_test(tc, config_stops_at_first_error);
    tcase_add_test(tc, config_syntax_error_before_key_error);
    tcase_add_test(tc, config_indented_keys_are_keys);
    tcase_add_test(tc, config_duplicate_key);
    tcase_add_test(tc, config_repeated_bind_adds);
    tcase_add_test(tc, config_app_args_in_order);
    tcase_add_test(tc, config_flags_override_file);
    tcase_add_test(tc, config_missing_file);
    tcase_add_test(tc, config_print_loads_back);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return gn_test_run_suite(config_suite());
}
