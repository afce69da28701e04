#!/usr/bin/env python3
"""What `meson install` gives a plugin author: the binary, greenicorn.h
and its parts (greenicorn/*.h), greenicorn.pc, the example config and the
man page in the prefix, and apps built out of tree with nothing but
`pkg-config greenicorn` and `#include <greenicorn.h>` (in C, and in C++)
that the installed server loads and serves.

The build dir is the one $GREENICORN lives in; it is installed under a
temporary DESTDIR, and pkg-config finds it there through
PKG_CONFIG_SYSROOT_DIR, as a cross-compiling packager would.

Apps on the cooperative database clients (contrib/green) are built out of
tree the same way with `pkg-config greenicorn-redis` / `greenicorn-pq` /
`greenicorn-maria`, as docs/plugins.md section 9 does: the Redis example
serves requests against a redis-server of the test's own, the PostgreSQL
and MariaDB ones load and answer 503 without a database. Their Libs carry
a run path to the installed clients, which only exists once the files are
where the prefix says: pkg-config reads them from copies of the installed
.pc files with the prefix moved into DESTDIR, as if greenicorn had been
configured with --prefix=DESTDIR/PREFIX."""
import glob
import os
import re
import shutil
import subprocess
import tempfile
import textwrap
import unittest
from unittest import mock

import harness
from harness import RawConn, Server, ServerTestCase
from test_redis import REDIS_SERVER, RedisServer

BUILD_DIR = os.path.dirname(os.path.abspath(harness.GREENICORN))
HAVE_TOOLS = all(shutil.which(t) for t in ("meson", "cc", "pkg-config"))


@unittest.skipUnless(HAVE_TOOLS, "needs meson, cc and pkg-config")
class InstallTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        cls.dest = tempfile.mkdtemp(prefix="gn-destdir-")
        cls.addClassCleanup(shutil.rmtree, cls.dest, True)
        r = subprocess.run(["meson", "install", "-C", BUILD_DIR, "--no-rebuild",
                            "--quiet", "--destdir", cls.dest],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise AssertionError("meson install failed:\n%s%s" % (r.stdout, r.stderr))

    def installed(self, pattern):
        found = glob.glob(os.path.join(self.dest, "**", pattern), recursive=True)
        self.assertTrue(found, "nothing installed matches %s" % pattern)
        return found[0]

    def pkg_config(self, *args):
        pc_dir = os.path.dirname(self.installed("greenicorn.pc"))
        env = dict(os.environ, PKG_CONFIG_PATH=pc_dir, PKG_CONFIG_LIBDIR=pc_dir,
                   PKG_CONFIG_SYSROOT_DIR=self.dest)
        r = subprocess.run(["pkg-config"] + list(args) + ["greenicorn"], env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.split()

    def relocated_pc_dir(self):
        """A directory of greenicorn's installed .pc files with their prefix
        moved into DESTDIR: what `meson setup --prefix=DESTDIR/PREFIX` would
        have installed. (PKG_CONFIG_SYSROOT_DIR would move libpq's and
        hiredis's paths into DESTDIR too, and --define-variable=prefix
        applies to every package.)"""
        if getattr(self, "_pc_dir", None):
            return self._pc_dir
        installed = os.path.dirname(self.installed("greenicorn.pc"))
        self._pc_dir = tempfile.mkdtemp(prefix="gn-pc-")
        self.addCleanup(shutil.rmtree, self._pc_dir, True)
        for name in os.listdir(installed):
            if not name.startswith("greenicorn"):
                continue
            with open(os.path.join(installed, name)) as f:
                text = f.read()
            prefix = re.findall(r"^prefix=(/.*)$", text, re.M)
            self.assertEqual(len(prefix), 1, "%s: %s" % (name, text))
            text = text.replace("prefix=" + prefix[0], "prefix=" + self.dest + prefix[0], 1)
            with open(os.path.join(self._pc_dir, name), "w") as f:
                f.write(text)
        return self._pc_dir

    def pkg_config_relocated(self, package, *args):
        """pkg-config ARGS PACKAGE, with the relocated .pc files."""
        env = dict(os.environ, PKG_CONFIG_PATH=self.relocated_pc_dir())
        env.pop("PKG_CONFIG_SYSROOT_DIR", None)
        r = subprocess.run(["pkg-config"] + list(args) + [package], env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.split()

    def build_example(self, source, package, text=None):
        """contrib/apps/SOURCE (or TEXT, when given) alone in an empty folder,
        built with `cc $(pkg-config --cflags --libs PACKAGE)`: the .so's
        path."""
        work = tempfile.mkdtemp(prefix="gn-plugin-")
        self.addCleanup(shutil.rmtree, work, True)
        if text is None:
            shutil.copy(os.path.join(harness.REPO, "contrib", "apps", source), work)
        else:
            with open(os.path.join(work, source), "w") as f:
                f.write(text)
        flags = self.pkg_config_relocated(package, "--cflags", "--libs")
        green = os.path.dirname(self.installed("libgn_*.so"))
        self.assertTrue(green.startswith(self.dest), green)
        self.assertIn("-Wl,-rpath," + green, flags)
        out = os.path.join(work, os.path.splitext(source)[0] + ".so")
        r = subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", out,
                            source] + flags, cwd=work,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, "cc %s: %s" % (" ".join(flags), r.stderr))
        return out

    def use_installed_binary(self):
        """Start servers from the installed binary, in the environment a
        user has: without the LD_LIBRARY_PATH `meson test` sets to the
        build tree (whose libgn_*.so would then be loaded instead)."""
        binary = self.installed("bin/greenicorn")
        old = harness.GREENICORN
        harness.GREENICORN = binary
        self.addCleanup(setattr, harness, "GREENICORN", old)
        env = mock.patch.dict(os.environ)
        env.start()
        self.addCleanup(env.stop)
        os.environ.pop("LD_LIBRARY_PATH", None)

    def mapped_client(self, srv, name):
        """The path of the library NAME a worker of SRV has mapped."""
        pid = srv.worker_pids()[0]
        with open("/proc/%d/maps" % pid) as f:
            paths = {line.split()[-1] for line in f if line.rstrip().endswith("/" + name)}
        self.assertEqual(len(paths), 1, "worker %d maps %s" % (pid, paths))
        return paths.pop()

    def test_the_prefix_holds_everything(self):
        for pattern in ["bin/greenicorn", "include/greenicorn.h", "greenicorn.pc",
                        "man1/greenicorn.1", "greenicorn.conf.example",
                        "greenicorn/apps/hello.so", "greenicorn/hooks/log_hooks.so",
                        # the database clients, for apps built out of tree
                        "greenicorn-redis.pc", "greenicorn-pq.pc", "include/greenicorn/redis.h",
                        "include/greenicorn/pq.h", "include/greenicorn/wait.h",
                        "include/greenicorn/redis_sub.h",
                        "greenicorn/green/libgn_redis.so", "greenicorn/green/libgn_pq.so",
                        "greenicorn-maria.pc", "include/greenicorn/maria.h",
                        "greenicorn/green/libgn_maria.so"]:
            with self.subTest(pattern=pattern):
                self.installed(pattern)

    def test_an_app_built_out_of_tree_serves(self):
        # An empty folder with only the example's source in it.
        work = tempfile.mkdtemp(prefix="gn-plugin-")
        self.addCleanup(shutil.rmtree, work, True)
        shutil.copy(os.path.join(harness.REPO, "contrib", "apps", "hello.c"), work)
        cflags = self.pkg_config("--cflags")
        self.assertTrue(any(f.startswith("-I" + self.dest) for f in cflags), cflags)
        self.assertEqual(self.pkg_config("--libs"), [])  # plugins link nothing
        with open(os.path.join(harness.REPO, "include", "greenicorn", "version.h")) as f:
            header = f.read()
        abi = "%s.%s" % tuple(re.search(r"#define GN_ABI_VERSION_%s (\d+)" % part, header).group(1)
                              for part in ("MAJOR", "MINOR"))
        self.assertEqual(self.pkg_config("--variable=abi_version"), [abi])
        r = subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-Werror"] + cflags +
                           ["-o", "hello.so", "hello.c"], cwd=work,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

        binary = self.installed("bin/greenicorn")
        old = harness.GREENICORN
        harness.GREENICORN = binary
        self.addCleanup(setattr, harness, "GREENICORN", old)
        srv = self.start_server(app=os.path.join(work, "hello.so"))
        status, _headers, body = srv.get("/")
        self.assertEqual((status, body), (200, b"Hello, World!"))

    def test_the_header_is_installed_with_its_parts(self):
        # greenicorn.h and each part it includes, as they are in the tree,
        # and in the parts' directory only them and contrib/green's client
        # headers: no name is installed twice.
        include = os.path.dirname(self.installed("include/greenicorn.h"))
        source = os.path.join(harness.REPO, "include")
        parts = sorted(os.path.basename(p)
                       for p in glob.glob(os.path.join(source, "greenicorn", "*.h")))
        self.assertIn("version.h", parts)
        self.assertEqual(sorted(os.listdir(os.path.join(include, "greenicorn"))),
                         sorted(parts + ["pq.h", "redis.h", "redis_sub.h", "sio_redis.h", "wait.h",
                                         "zeromq.h", "maria.h"]))
        for rel in ["greenicorn.h"] + ["greenicorn/" + p for p in parts]:
            with self.subTest(header=rel):
                with open(os.path.join(source, rel), "rb") as a, \
                        open(os.path.join(include, rel), "rb") as b:
                    self.assertEqual(a.read(), b.read())

    def build_with_cflags(self, compiler, source, text, std):
        """TEXT as SOURCE alone in an empty folder, built with COMPILER
        -std=STD and `pkg-config --cflags greenicorn`, warnings as errors:
        the .so's path."""
        work = tempfile.mkdtemp(prefix="gn-plugin-")
        self.addCleanup(shutil.rmtree, work, True)
        with open(os.path.join(work, source), "w") as f:
            f.write(text)
        out = os.path.join(work, os.path.splitext(source)[0] + ".so")
        cmd = ([compiler, "-shared", "-fPIC", "-O2", "-std=" + std, "-pedantic",
                "-Wall", "-Wextra", "-Werror"] + self.pkg_config("--cflags") +
               ["-o", out, source])
        r = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, "%s: %s" % (" ".join(cmd), r.stderr))
        return out

    def test_a_plugin_using_every_part_through_the_umbrella_serves(self):
        # One name of each part of the header, with only <greenicorn.h>
        # included: an app (http.h) answering with the versions
        # (version.h) after a green sleep (green.h), and a post_fork hook
        # (hooks.h) that logs (log.h), in one .so.
        source = textwrap.dedent("""\
            #include <greenicorn.h>

            static int handle(gn_request_t *req, gn_response_t *res, void *state)
            {
                (void)req;
                (void)state;
                int rc = gn_sleep(0);
                if (rc < 0)
                    return rc;
                return gn_response_printf(res, "%s %d.%d\\n", gn_version(),
                                          GN_ABI_VERSION_MAJOR, GN_ABI_VERSION_MINOR);
            }

            static int log_fork(const gn_hook_args_t *args)
            {
                gn_log(GN_LOG_INFO, "every_part: %s in worker %d", args->hook,
                       args->worker_id);
                return 0;
            }

            GN_EXPORT const gn_app_t greenicorn_app = {
                GN_APP_HEADER, .name = "every_part", .handle = handle};
            GN_HOOK(post_fork, log_fork);
            """)
        plugin = self.build_with_cflags("cc", "every_part.c", source, "c11")
        with open(os.path.join(harness.REPO, "include", "greenicorn", "version.h")) as f:
            header = f.read()
        numbers = {m.group(1): m.group(2) for m in
                   re.finditer(r"#define GN_(\w+_(?:MAJOR|MINOR|PATCH)) (\d+)", header)}
        expected = "%s.%s.%s %s.%s\n" % tuple(numbers[k] for k in (
            "VERSION_MAJOR", "VERSION_MINOR", "VERSION_PATCH",
            "ABI_VERSION_MAJOR", "ABI_VERSION_MINOR"))
        self.use_installed_binary()
        srv = self.start_server(app=plugin, settings={"hooks": {"post_fork": plugin}})
        srv.wait_workers(1)
        status, _headers, body = srv.get("/")
        self.assertEqual((status, body.decode()), (200, expected), srv.log())
        harness.wait_until(lambda: "every_part: post_fork in worker 1" in srv.log(), 10,
                           what="the post_fork hook's line")

    @unittest.skipUnless(shutil.which("c++"), "needs a C++ compiler")
    def test_a_cpp_app_built_out_of_tree_serves(self):
        # contrib/apps/hello_cpp.cc, which includes only <greenicorn.h>, as
        # C++17 (the language plugins in C++ are written in here).
        with open(os.path.join(harness.REPO, "contrib", "apps", "hello_cpp.cc")) as f:
            source = f.read()
        self.assertIn("#include <greenicorn.h>\n", source)
        self.assertEqual(re.findall(r"#include <greenicorn\S*>", source),
                         ["#include <greenicorn.h>"])
        plugin = self.build_with_cflags("c++", "hello_cpp.cc", source, "c++17")
        self.use_installed_binary()
        srv = self.start_server(app=plugin)
        status, _headers, body = srv.get("/")
        self.assertEqual((status, body), (200, b"Hello, World!"), srv.log())

    @unittest.skipUnless(REDIS_SERVER, "needs redis-server")
    def test_a_redis_app_built_out_of_tree_serves(self):
        # docs/plugins.md section 9: redis_counter.c alone in an empty
        # folder, `pkg-config --cflags --libs greenicorn-redis`, and the
        # installed server with the installed green_db hook.
        flags = self.pkg_config_relocated("greenicorn-redis", "--cflags", "--libs")
        for flag in ("-lgn_redis", "-lhiredis"):
            self.assertIn(flag, flags)
        self.assertTrue(any(f.startswith("-I" + self.dest) for f in flags), flags)
        app = self.build_example("redis_counter.c", "greenicorn-redis")
        redis = RedisServer()
        self.addCleanup(redis.close)
        redis.start()
        self.use_installed_binary()
        srv = self.start_server(app=app, settings={
            "app.args": {"port": redis.port, "key": "gn:install"},
            "hooks": {"post_fork": self.installed("greenicorn/hooks/green_db.so")}})
        srv.wait_workers(1)
        for n in (1, 2, 3):
            status, headers, body = srv.get("/")
            self.assertEqual((status, body), (200, b"%d\n" % n), srv.log())
        self.assertEqual(redis.get("gn:install"), b"3")
        # The client the app runs is the installed one, found through the
        # run path pkg-config gave it (not the build tree's).
        self.assertEqual(self.mapped_client(srv, "libgn_redis.so"),
                         self.installed("libgn_redis.so"))
        self.assertNotIn("[ERROR]", srv.log())

    @unittest.skipUnless(REDIS_SERVER, "needs redis-server")
    def test_the_redis_app_of_the_docs_serves(self):
        # docs/plugins.md section 9 "A Redis app from an empty folder":
        # its visits.c and its cc line, as written there.
        with open(os.path.join(harness.REPO, "docs", "plugins.md")) as f:
            doc = f.read()
        section = doc.split("### A Redis app from an empty folder", 1)[1]
        m = re.search(r"```c\n(/\* visits\.c \*/\n.*?)```", section, re.S)
        self.assertIsNotNone(m, "no visits.c in docs/plugins.md section 9")
        self.assertIn("    cc -shared -fPIC -o visits.so visits.c "
                      "$(pkg-config --cflags --libs greenicorn-redis)\n", section)
        app = self.build_example("visits.c", "greenicorn-redis", text=m.group(1))
        redis = RedisServer()
        self.addCleanup(redis.close)
        redis.start()
        self.use_installed_binary()
        srv = self.start_server(app=app, workers=2, settings={
            "app.args": {"port": redis.port},
            "hooks": {"post_fork": self.installed("greenicorn/hooks/green_db.so")}})
        srv.wait_workers(2)
        for n in (1, 2, 3):
            status, _headers, body = srv.get("/home")
            self.assertEqual((status, body), (200, b"/home: visit %d\n" % n), srv.log())
        self.assertEqual(srv.get("/about")[::2], (200, b"/about: visit 1\n"))
        self.assertEqual(redis.get("visits:/home"), b"3")
        # Redis gone: 503 and a line saying why, and the worker serves on.
        redis.stop()
        self.assertEqual(srv.get("/home")[::2], (503, b"redis unavailable\n"))
        harness.wait_until(lambda: "visits: " in srv.log(), 5, what="the error line")
        self.assertEqual(self.mapped_client(srv, "libgn_redis.so"),
                         self.installed("libgn_redis.so"))

    def test_a_postgres_app_built_out_of_tree_loads(self):
        flags = self.pkg_config_relocated("greenicorn-pq", "--cflags", "--libs")
        self.assertIn("-lgn_pq", flags)
        self.assertIn("-lpq", flags)
        app = self.build_example("pgcount.c", "greenicorn-pq")
        self.use_installed_binary()
        # Nothing listens on the port: the app is loaded and answers 503.
        port = harness.refused_port(self)
        srv = self.start_server(app=app, settings={
            "app.args": {"conninfo": "host=127.0.0.1 port=%d connect_timeout=5" % port,
                         "timeout": 5}})
        srv.wait_workers(1)
        status, _headers, body = srv.get("/")
        self.assertEqual((status, body), (503, b"database unavailable\n"), srv.log())
        self.assertIn("pgcount: ", srv.log())
        self.assertEqual(self.mapped_client(srv, "libgn_pq.so"),
                         self.installed("libgn_pq.so"))

    def test_a_zeromq_app_built_out_of_tree_loads(self):
        flags = self.pkg_config_relocated("greenicorn-zmq", "--cflags", "--libs")
        self.assertIn("-lgn_zmq", flags)
        self.assertIn("-lzmq", flags)
        app = self.build_example("zmq_jobs.c", "greenicorn-zmq")
        self.use_installed_binary()
        # No backend listens: the app is loaded and answers 503.
        port = harness.refused_port(self)
        srv = self.start_server(app=app, settings={
            "app.args": {"jobs": "tcp://127.0.0.1:%d" % port,
                         "timeout": 0.5}})
        srv.wait_workers(1)
        status, _headers, body = srv.get("/?job")
        self.assertEqual((status, body),
                         (503, b"no backend took the job within 0.5 s\n"), srv.log())
        self.assertEqual(self.mapped_client(srv, "libgn_zmq.so"),
                         self.installed("libgn_zmq.so"))

    def test_a_mariadb_app_built_out_of_tree_loads(self):
        flags = self.pkg_config_relocated("greenicorn-maria", "--cflags", "--libs")
        self.assertIn("-lgn_maria", flags)
        self.assertIn("-lmariadb", flags)
        app = self.build_example("mycount.c", "greenicorn-maria")
        self.use_installed_binary()
        # Nothing listens on the port: the app is loaded and answers 503.
        port = harness.refused_port(self)
        srv = self.start_server(app=app, settings={
            "app.args": {"host": "127.0.0.1", "port": port, "timeout": 5}})
        srv.wait_workers(1)
        status, _headers, body = srv.get("/")
        self.assertEqual((status, body), (503, b"database unavailable\n"), srv.log())
        self.assertIn("mycount: connection to MariaDB at 127.0.0.1:", srv.log())
        self.assertEqual(self.mapped_client(srv, "libgn_maria.so"),
                         self.installed("libgn_maria.so"))


if __name__ == "__main__":
    unittest.main()
