#!/usr/bin/env python3
"""What `meson install` gives a plugin author: the binary, greenicorn.h,
greenicorn.pc, the example config and the man page in the prefix, and an
app built out of tree with nothing but `pkg-config greenicorn` that the
installed server loads and serves.

The build dir is the one $GREENICORN lives in; it is installed under a
temporary DESTDIR, and pkg-config finds it there through
PKG_CONFIG_SYSROOT_DIR, as a cross-compiling packager would."""
import glob
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import harness
from harness import RawConn, Server, ServerTestCase

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

    def test_the_prefix_holds_everything(self):
        for pattern in ["bin/greenicorn", "include/greenicorn.h", "greenicorn.pc",
                        "man1/greenicorn.1", "greenicorn.conf.example",
                        "greenicorn/apps/hello.so", "greenicorn/hooks/log_hooks.so"]:
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
        with open(os.path.join(harness.REPO, "include", "greenicorn.h")) as f:
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


if __name__ == "__main__":
    unittest.main()
