#!/usr/bin/env python3
"""Configuration as the operator meets it: errors that name FILE:LINE: key,
--check-config, --print-config round trips, usage errors, start-up
failures (busy port, missing app) and flags over the file."""
import os
import re
import shutil
import signal
import socket
import tempfile
import unittest

import harness
from harness import ServerTestCase, app_path, run_cli, run_until_exit, wait_until


class ConfigTest(ServerTestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="greenicorn-e2e-config-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write(self, text, name="greenicorn.conf"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def good_config(self):
        """A complete, valid config text (port 1: never bound by the
        --check-config / --print-config tests)."""
        return ("; a good file\n[server]\nbind = 127.0.0.1:1\n\n[workers]\nworkers = 2\n"
                "keepalive = 3\n\n[logging]\nloglevel = warning\n\n"
                "[app]\nmodule = %s\n" % app_path("hello"))

    def check(self, text):
        path = self.write(text)
        return path, run_cli(["--check-config", "-c", path])

    def assertConfigError(self, text, line, key, status=1):
        """--check-config on TEXT fails with STATUS and FILE:LINE: KEY:."""
        path, r = self.check(text)
        self.assertEqual(r.returncode, status, "stdout=%r stderr=%r" % (r.stdout, r.stderr))
        self.assertIn("%s:%d: %s:" % (path, line, key), r.stderr)
        self.assertTrue(r.stderr.startswith("greenicorn: "), r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        return r

    # -- errors naming the line -----------------------------------------

    def test_typo_in_key(self):
        r = self.assertConfigError(
            "[server]\nbind = 127.0.0.1:1\n[workers]\nwokers = 2\n[app]\nmodule = %s\n"
            % app_path("hello"), 4, "wokers")
        self.assertIn("workers", r.stderr.split("wokers:", 1)[1], "no suggestion")

    def test_negative_workers(self):
        self.assertConfigError("[app]\nmodule = %s\n\n[workers]\nworkers = -1\n"
                               % app_path("hello"), 5, "workers")

    def test_bad_values(self):
        cases = [
            ("[workers]\nworkers = 0\n", 2, "workers"),
            ("[workers]\nworkers = 2x\n", 2, "workers"),
            ("[workers]\nworkers = 1025\n", 2, "workers"),
            ("[workers]\ntimeout = -5\n", 2, "timeout"),
            ("[workers]\nkeepalive = soon\n", 2, "keepalive"),
            ("[logging]\nloglevel = loud\n", 2, "loglevel"),
            ("[server]\nbacklog = many\n", 2, "backlog"),
            ("[server]\nbind = 127.0.0.1:99999\n", 2, "bind"),
            ("[workers]\nworkers = 2\nworkers = 3\n", 3, "workers"),
        ]
        for text, line, key in cases:
            with self.subTest(text=text):
                self.assertConfigError(text + "[app]\nmodule = %s\n" % app_path("hello"),
                                       line, key)

    def test_unknown_section(self):
        path, r = self.check("[server]\nbind = 127.0.0.1:1\n[bogus]\nx = 1\n")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("%s:3:" % path, r.stderr)
        self.assertIn("bogus", r.stderr)

    def test_key_outside_sections(self):
        self.assertConfigError("workers = 2\n[workers]\n", 1, "workers")

    def test_syntax_error_line(self):
        path, r = self.check("[workers]\nworkers = 2\nthis is not ini\n")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("%s:3:" % path, r.stderr)
        path, r = self.check("[workers\nworkers = 2\n")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("%s:1:" % path, r.stderr)

    def test_missing_file(self):
        path = os.path.join(self.dir, "nope.conf")
        r = run_cli(["--check-config", "-c", path])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(path, r.stderr)
        # Also when starting, not only when checking.
        rc, _, err = run_until_exit(["-c", path])
        self.assertEqual(rc, 1, err)
        self.assertIn(path, err)

    # -- a config path that is not a readable text file ------------------

    def assertUnreadable(self, path, why, check_only=False, timeout=10.0):
        """Starting (or --check-config) with -c PATH exits 1 promptly,
        names PATH and WHY, and binds nothing."""
        r = run_cli(["--check-config", "-c", path, app_path("hello")], timeout=timeout)
        self.assertEqual(r.returncode, 1, "stdout=%r stderr=%r" % (r.stdout, r.stderr))
        self.assertNotIn("OK", r.stdout)
        self.assertIn("greenicorn: %s: " % path, r.stderr)
        self.assertRegex(r.stderr, why)
        if check_only:
            return
        port = harness.free_port()
        rc, _, err = run_until_exit(["-c", path, "-b", "127.0.0.1:%d" % port,
                                     app_path("hello")], timeout=timeout)
        self.assertEqual(rc, 1, err)
        self.assertIn("greenicorn: %s: " % path, err)
        self.assertRegex(err, why)
        self.assertNotIn("listening at", err)
        self.assertNotIn("booting worker", err)

    def test_config_path_is_a_directory(self):
        self.assertUnreadable(self.dir, r"is a directory")

    def test_config_path_is_dev_zero(self):
        # Was an endless read of NUL bytes; now refused at once.
        self.assertUnreadable("/dev/zero", r"not a regular file.*character device",
                              timeout=5.0)

    def test_config_path_is_a_fifo(self):
        fifo = os.path.join(self.dir, "fifo.conf")
        os.mkfifo(fifo)
        self.assertUnreadable(fifo, r"not a regular file.*FIFO", timeout=5.0)

    def test_config_read_error(self):
        # /proc/self/mem is a regular file whose first read fails (EIO):
        # was taken as an empty file and "OK".
        self.assertUnreadable("/proc/self/mem", r"cannot read.*Input/output error",
                              check_only=True)

    def test_config_file_too_large(self):
        path = self.write("; padding\n" * 200000)
        self.assertUnreadable(path, r"larger than")

    def test_config_error_stops_a_real_start(self):
        port = harness.free_port()
        path = self.write("[server]\nbind = 127.0.0.1:%d\n[workers]\nwokers = 2\n"
                          "[app]\nmodule = %s\n" % (port, app_path("hello")))
        rc, _, err = run_until_exit(["-c", path])
        self.assertEqual(rc, 1, err)
        self.assertIn("%s:4: wokers:" % path, err)
        self.assertNotIn("booting worker", err)

    # -- check and print ------------------------------------------------

    def test_check_config_good_file(self):
        path, r = self.check(self.good_config())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("OK", r.stdout + r.stderr)
        self.assertNotIn("error", (r.stdout + r.stderr).lower())

    def test_print_config_round_trip(self):
        text = self.good_config() + "\n[app.args]\ngreeting = hi there\ngreeting = twice\n"
        path = self.write(text)
        r1 = run_cli(["--print-config", "-c", path])
        self.assertEqual(r1.returncode, 0, r1.stderr)
        self.assertRegex(r1.stdout, r"(?m)^workers = 2$")
        self.assertRegex(r1.stdout, r"(?m)^keepalive = 3$")
        self.assertRegex(r1.stdout, r"(?m)^loglevel = warning$")
        self.assertRegex(r1.stdout, r"(?m)^greeting = hi there\ngreeting = twice$")
        printed = self.write(r1.stdout, "printed.conf")
        r2 = run_cli(["--check-config", "-c", printed])
        self.assertEqual(r2.returncode, 0, r2.stderr)
        r3 = run_cli(["--print-config", "-c", printed])
        self.assertEqual(r3.returncode, 0, r3.stderr)
        first1, _, rest1 = r1.stdout.partition("\n")
        first3, _, rest3 = r3.stdout.partition("\n")
        self.assertTrue(first1.startswith(";") and first3.startswith(";"), (first1, first3))
        self.assertEqual(rest1, rest3)

    def test_print_config_shows_flags(self):
        path = self.write(self.good_config())
        r = run_cli(["--print-config", "-c", path, "-w", "5", "--keep-alive", "9",
                     "-b", "127.0.0.1:7001", "-b", "127.0.0.1:7002"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"(?m)^workers = 5$")
        self.assertRegex(r.stdout, r"(?m)^keepalive = 9$")
        bind = re.search(r"(?m)^bind = (.*)$", r.stdout).group(1)
        self.assertEqual(bind.split(), ["127.0.0.1:7001", "127.0.0.1:7002"])

    # -- the shipped example --------------------------------------------

    def example(self):
        path = os.path.join(harness.REPO, "greenicorn.conf.example")
        self.assertTrue(os.path.exists(path), "no %s" % path)
        return path

    def test_example_config_checks_ok(self):
        # Its module is relative to the repo root, where a default build
        # dir puts hello.so; point it at $GN_APPS instead.
        with open(self.example()) as f:
            text = re.sub(r"(?m)^module = .*$", "module = " + app_path("hello"), f.read())
        path, r = self.check(text)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_example_config_states_the_defaults(self):
        # Its header says every key is set to its default except those its
        # comments mark "example:": --print-config of it must equal the
        # built-in defaults but for exactly those keys.
        defaults = run_cli(["--print-config"], cwd=self.dir)
        example = run_cli(["--print-config", "-c", self.example()], cwd=self.dir)
        self.assertEqual(defaults.returncode, 0, defaults.stderr)
        self.assertEqual(example.returncode, 0, example.stderr)
        with open(self.example()) as f:
            marked = {"workers", "accesslog", "module"}
            text = f.read()
            self.assertEqual(text.count("example:"), len(marked) + 1, text)

        def settings(text):
            return [line for line in text.splitlines()[1:]
                    if line.split(" = ")[0] not in marked]
        self.assertEqual(settings(example.stdout), settings(defaults.stdout))
        self.assertNotEqual(example.stdout, defaults.stdout)
        # And it documents every key: each is written out, value and all.
        keys = {line.split(" = ")[0] for line in defaults.stdout.splitlines()
                if " = " in line}
        for key in keys:
            self.assertRegex(text, r"(?m)^%s =" % re.escape(key))

    # -- the man page ---------------------------------------------------

    def man_page(self):
        with open(os.path.join(harness.REPO, "docs", "greenicorn.1")) as f:
            return f.read().replace("\\-", "-")

    def test_man_page_documents_every_flag_and_key(self):
        # The settings table feeds --help and --print-config; the man page
        # is written by hand, so check it against both.
        man = self.man_page()
        options = man.split(".SH OPTIONS", 1)[1].split(".SH ", 1)[0]
        config = man.split(".SH CONFIGURATION", 1)[1].split(".SH ", 1)[0]
        usage = run_cli(["--help"])
        self.assertEqual(usage.returncode, 0, usage.stderr)
        flags = set(re.findall(r"(?m)^\s+(?:-\w, )?(--[a-z][\w-]*)", usage.stdout))
        self.assertIn("--bind", flags)
        self.assertIn("--stack-size", flags)
        missing = [flag for flag in sorted(flags)
                   if not re.search(r"(?m)^\.B[IR]? .*%s\b" % re.escape(flag), options)]
        self.assertEqual(missing, [], "in --help, not in the man page's OPTIONS")
        with open(os.path.join(harness.REPO, "README.md")) as f:
            readme = f.read()
        missing = [flag for flag in sorted(flags - {"--help", "--version"})
                   if not re.search(r"[`/]%s\b" % re.escape(flag), readme)]
        self.assertEqual(missing, [], "in --help, not in the README's list of flags")
        printed = run_cli(["--print-config"], cwd=self.dir)
        self.assertEqual(printed.returncode, 0, printed.stderr)
        keys = set(re.findall(r"(?m)^(\w+) =", printed.stdout))
        self.assertIn("stack_size", keys)
        missing = [key for key in sorted(keys) if not re.search(r"\b%s\b" % key, config)]
        self.assertEqual(missing, [], "keys not in the man page's CONFIGURATION")

    def test_man_page_hooks_section_points_at_the_guide(self):
        man = self.man_page()
        hooks = man.split(".SH HOOKS", 1)[1].split(".SH ", 1)[0]
        m = re.search(r"docs/plugins\.md\s+section (\d+)", hooks)
        self.assertIsNotNone(m, hooks)
        with open(os.path.join(harness.REPO, "docs", "plugins.md")) as f:
            guide = f.read()
        self.assertTrue(re.search(r"(?m)^## %s\. Server hooks$" % m.group(1), guide),
                        "the man page's HOOKS points at section %s of docs/plugins.md, "
                        "which is not 'Server hooks'" % m.group(1))

    # -- usage errors ---------------------------------------------------

    def test_unknown_flag_exits_2(self):
        r = run_cli(["--bogus-flag"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("bogus-flag", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_missing_flag_argument_exits_2(self):
        r = run_cli(["-w"])
        self.assertEqual(r.returncode, 2, r.stderr)

    def test_bad_flag_value_names_the_flag(self):
        # A bad command line exits 2, as the man page says; the file is
        # not even read (it would fail with 1).
        path = self.write("[workers]\nwokers = 2\n")
        for args, flag in [(["-w", "-1"], "--workers"), (["-w", "many"], "--workers"),
                           (["--workers=many"], "--workers"), (["-t", "soon"], "--timeout"),
                           (["-b", "127.0.0.1:99999"], "--bind"),
                           (["--log-level", "loud"], "--log-level"),
                           (["--keep-alive", "-3"], "--keep-alive"),
                           (["--limit-request-body", "lots"], "--limit-request-body"),
                           (["-m", "999"], "--umask")]:
            for mode in (["--check-config"], []):
                with self.subTest(args=args, mode=mode):
                    rc, _, err = run_until_exit(mode + ["-c", path] + args + [app_path("hello")])
                    self.assertEqual(rc, 2, err)
                    self.assertTrue(err.startswith("greenicorn: %s: " % flag), err)
                    self.assertIn("Try 'greenicorn --help'", err)
                    self.assertNotIn("wokers", err)
        # A bad APP argument too.
        r = run_cli(["--check-config", app_path("hello") + ":"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertTrue(r.stderr.startswith("greenicorn: APP: "), r.stderr)

    def test_worker_class_gevent_is_accepted(self):
        path = self.write(self.good_config())
        for args in (["-k", "gevent"], ["--worker-class", "gevent"],
                     ["--worker-class=gevent"],
                     ["-k", "gunicorn.workers.ggevent.GeventWorker"],
                     ["-k", "egg:gunicorn#gevent"]):
            with self.subTest(args=args):
                r = run_cli(["--check-config", "-c", path] + args)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("OK", r.stdout)
        srv = self.start_server(app="hello", workers=1, args=["-k", "gevent"])
        self.assertEqual(srv.get("/")[0], 200)

    def test_other_worker_classes_are_refused(self):
        path = self.write(self.good_config())
        for cls in ("sync", "gthread", "eventlet", "tornado",
                    "uvicorn.workers.UvicornWorker", ""):
            with self.subTest(cls=cls):
                r = run_cli(["--check-config", "-c", path, "-k", cls])
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("--worker-class", r.stderr)
                self.assertIn("'%s'" % cls, r.stderr)
                self.assertIn("gevent", r.stderr)
                self.assertIn("Try 'greenicorn --help'", r.stderr)

    def test_gunicorn_options_not_supported_yet(self):
        path = self.write(self.good_config())
        for args in (["--do-handshake-on-connect"], ["--suppress-ragged-eofs=true"],
                     ["--log-config-dict", "{}"], ["--threads", "4"],
                     ["--paste", "x.ini"], ["--ssl-version", "TLSv1_2"],
                     ["--log-config", "log.ini"], ["--capture-output"]):
            with self.subTest(args=args):
                r = run_cli(["--check-config", "-c", path] + args)
                self.assertEqual(r.returncode, 2, r.stderr)
                opt = args[0].split("=")[0]
                self.assertIn("'%s'" % opt, r.stderr)
                self.assertIn("not supported yet", r.stderr)
                self.assertIn("README", r.stderr)
                self.assertIn("Deployment", r.stderr)
                self.assertNotIn("unrecognized option", r.stderr)
        # A real typo still says so.
        r = run_cli(["--check-config", "-c", path, "--certfilez", "x"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("unrecognized option", r.stderr)
        r = run_cli(["--check-config", "-c", path, "--statsd-hostz", "x"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("unrecognized option", r.stderr)

    # -- start-up failures ----------------------------------------------

    def test_busy_port(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            rc, _, err = run_until_exit(["-b", "127.0.0.1:%d" % port, "-w", "2",
                                         app_path("hello")])
        self.assertNotEqual(rc, 0, err)
        self.assertEqual(rc, 1, err)
        self.assertIn("127.0.0.1:%d" % port, err)
        self.assertNotIn("booting worker", err)

    def busy_port(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind(("127.0.0.1", 0))
        s.listen()
        return s.getsockname()[1]

    def test_busy_port_names_the_line(self):
        port, free = self.busy_port(), harness.free_port()
        path = self.write("[server]\nbind = 127.0.0.1:%d\nbind = 127.0.0.1:%d\n"
                          "[app]\nmodule = %s\n" % (free, port, app_path("hello")))
        rc, _, err = run_until_exit(["-c", path])
        self.assertEqual(rc, 1, err)
        self.assertIn("%s:3: bind: cannot bind 127.0.0.1:%d: Address already in use"
                      % (path, port), err)
        self.assertNotIn("booting worker", err)

    def test_busy_port_from_the_command_line_says_so(self):
        port = self.busy_port()
        rc, _, err = run_until_exit(["-b", "127.0.0.1:%d" % port, app_path("hello")])
        self.assertEqual(rc, 1, err)
        self.assertIn("--bind (command line): cannot bind 127.0.0.1:%d: "
                      "Address already in use" % port, err)

    def test_missing_app(self):
        missing = os.path.join(self.dir, "no-such-app.so")
        path, r = self.check("[app]\nmodule = %s\n" % missing)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(missing, r.stderr)
        port = harness.free_port()
        rc, _, err = run_until_exit(["-b", "127.0.0.1:%d" % port, missing])
        self.assertEqual(rc, 1, err)
        self.assertIn(missing, err)
        self.assertNotIn("booting worker", err)

    def test_app_missing_symbol(self):
        path, r = self.check("[app]\nmodule = %s:no_such_symbol\n" % app_path("hello"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("no_such_symbol", r.stderr)

    def test_no_app_is_a_usage_error(self):
        path, r = self.check("[workers]\nworkers = 2\n")
        self.assertEqual(r.returncode, 2, r.stderr)

    # -- reloads ----------------------------------------------------------

    def test_hup_when_the_config_became_a_directory_keeps_it(self):
        # Was: the directory read as an empty file, so the HUP reloaded the
        # defaults: 127.0.0.1:8000 bound, the configured port dropped,
        # workers 2 -> 1.
        srv = self.start_server(app="hello", workers=2)
        old = set(srv.wait_workers(2))
        os.rename(srv.config_path, srv.config_path + ".saved")
        os.mkdir(srv.config_path)
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(r"reload failed, keeping the running configuration: "
                         r"%s: .*is a directory" % re.escape(srv.config_path),
                         timeout=10)
        self.assertEqual(srv.get("/")[0], 200)
        self.assertEqual(set(srv.worker_pids()), old)
        log = srv.log()
        self.assertNotIn("reload: starting", log)
        self.assertNotIn("127.0.0.1:8000", log)
        # The next HUP, with the file back, reloads it.
        os.rmdir(srv.config_path)
        os.rename(srv.config_path + ".saved", srv.config_path)
        with open(srv.config_path) as f:
            text = f.read().replace("workers = 2", "workers = 3")
        with open(srv.config_path, "w") as f:
            f.write(text)
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(r"reload: 3 new worker\(s\) up", timeout=10)
        wait_until(lambda: len(srv.worker_pids()) == 3, 10, what="3 workers")
        self.assertEqual(srv.get("/")[0], 200)

    def test_hup_when_the_config_cannot_be_read_keeps_it(self):
        # A FIFO used to block the arbiter in fopen() for good; a read error
        # (EIO) read as an empty file.
        srv = self.start_server(app="hello", workers=2)
        old = set(srv.wait_workers(2))
        os.rename(srv.config_path, srv.config_path + ".saved")
        for target, why in [(None, r"not a regular file \(it is a FIFO\)"),
                            ("/proc/self/mem", r"Input/output error")]:
            with self.subTest(target=target):
                if target is None:
                    os.mkfifo(srv.config_path)
                else:
                    os.symlink(target, srv.config_path)
                try:
                    srv.signal(signal.SIGHUP)
                    srv.wait_for_log(r"reload failed, keeping the running configuration: "
                                     r"%s: cannot read the config file: %s"
                                     % (re.escape(srv.config_path), why), timeout=10)
                finally:
                    os.unlink(srv.config_path)
                self.assertEqual(srv.get("/")[0], 200)
                self.assertEqual(set(srv.worker_pids()), old)
        self.assertNotIn("reload: starting", srv.log())

    def test_hup_bind_error_names_the_line(self):
        srv = self.start_server(app="hello", workers=1)
        old = set(srv.wait_workers(1))
        port = self.busy_port()
        with open(srv.config_path) as f:
            lines = f.read().splitlines()
        at = lines.index("bind = 127.0.0.1:%d" % srv.port)
        lines.insert(at + 1, "bind = 127.0.0.1:%d" % port)
        with open(srv.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(r"reload failed, keeping the running configuration: "
                         r"%s:%d: bind: cannot bind 127.0.0.1:%d: Address already in use"
                         % (re.escape(srv.config_path), at + 2, port), timeout=10)
        self.assertEqual(srv.get("/")[0], 200)
        self.assertEqual(set(srv.worker_pids()), old)

    # -- flags over the file --------------------------------------------

    def test_workers_flag_overrides_file(self):
        srv = self.start_server(app="hello", workers=3, args=["--workers", "1"])
        srv.wait_for_log(r"using 1 worker\(s\)")
        pids = srv.wait_workers(1)
        self.assertEqual(srv.get("/")[0], 200)
        self.assertEqual(srv.worker_pids(), pids)
        self.assertEqual(len(re.findall(r"booting worker", srv.log())), 1, srv.log())


if __name__ == "__main__":
    unittest.main()
