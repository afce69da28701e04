#!/usr/bin/env python3
"""The Debian package (issue #17, acceptance 6): `dpkg-buildpackage -us -uc
-b` on a copy of the source tree builds greenicorn and libgreenicorn-dev,
lintian finds neither an error nor a warning in them, and once installed on
this machine the packaged service configuration serves `Hello, World!`.

The copy is made out of the source tree, since dpkg-buildpackage writes
the packages into the parent directory of the tree it builds. The build
runs with DEB_BUILD_OPTIONS=nocheck (debian/rules then builds no test
program and runs none: this suite is what tests greenicorn).

systemd is not PID 1 here, so the test does what it would: the socket
unit's ListenStream (its port changed to a free one) is bound by
systemd-socket-activate, which passes it to the service unit's ExecStart
command line, run as the unit's User and Group with the packaged config,
after making the RuntimeDirectory. The package's own postinst made that
user.

It installs into this machine (with apt, which waits for the dpkg lock and
resolves the packages' dependencies), so it needs root, and it refuses to
run where greenicorn is installed already; it purges both packages at the
end, whatever happened, and removes the user if it made it.

    python3 tests/e2e/test_debian_package.py -v     # as root
"""
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import harness
from harness import wait_until

PACKAGES = ("greenicorn", "libgreenicorn-dev")
TOOLS = ("dpkg-buildpackage", "dh", "lintian", "apt-get", "setpriv", "systemd-analyze",
         "systemd-socket-activate")
MISSING = [t for t in TOOLS if shutil.which(t) is None]
APT = ["apt-get", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=600"]
BUILD_TIMEOUT = 1200


def run(cmd, timeout, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def installed(package):
    r = run(["dpkg-query", "-W", "-f", "${Status}", package], 30)
    return r.returncode == 0 and "install ok installed" in r.stdout


def copy_source(dest):
    """The files of the source tree (git's, when it is a checkout: no
    build directory, nothing ignored) into DEST."""
    git = shutil.which("git")
    if git and os.path.exists(os.path.join(harness.REPO, ".git")):
        r = run([git, "-C", harness.REPO, "ls-files", "-z", "--cached", "--others",
                 "--exclude-standard"], 60)
        if r.returncode != 0:
            raise AssertionError("git ls-files: %s" % r.stderr)
        for rel in filter(None, r.stdout.split("\0")):
            src = os.path.join(harness.REPO, rel)
            if not os.path.lexists(src):  # deleted, not yet committed
                continue
            os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
            shutil.copy2(src, os.path.join(dest, rel), follow_symlinks=False)
    else:
        shutil.copytree(harness.REPO, dest, symlinks=True, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".git", "build*", "obj-*",
                                                      "__pycache__"))


def unit_values(text, key):
    return re.findall(r"^%s=(.*)$" % re.escape(key), text, re.M)


@unittest.skipIf(MISSING, "needs %s (scripts/install-deps --test)" % ", ".join(MISSING))
@unittest.skipUnless(os.geteuid() == 0, "installs the package: needs root")
class DebianPackageTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        for p in PACKAGES:
            if installed(p):
                raise AssertionError(
                    "%s is installed on this machine already: the test would purge it "
                    "(dpkg --purge %s, then run the test again)" % (p, " ".join(PACKAGES)))
        cls.tmp = tempfile.mkdtemp(prefix="greenicorn-e2e-deb-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        tree = os.path.join(cls.tmp, "greenicorn")
        copy_source(tree)
        env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck", DEB_BUILD_PROFILES="nocheck")
        for var in ("GREENICORN", "MAKEFLAGS", "MFLAGS", "CC", "CXX", "CFLAGS", "LDFLAGS"):
            env.pop(var, None)
        started = time.monotonic()
        r = run(["dpkg-buildpackage", "-us", "-uc", "-b"], BUILD_TIMEOUT, cwd=tree, env=env)
        cls.build_seconds = time.monotonic() - started
        if r.returncode != 0:
            raise AssertionError("dpkg-buildpackage failed (%d):\n%s%s"
                                 % (r.returncode, r.stdout[-6000:], r.stderr[-6000:]))
        print("\npackage build: %.0f s" % cls.build_seconds, flush=True)
        cls.debs = {}
        for p in PACKAGES:
            found = glob.glob(os.path.join(cls.tmp, "%s_*.deb" % p))
            if len(found) != 1:
                raise AssertionError("%s: expected one .deb, found %s" % (p, found))
            cls.debs[p] = found[0]
        found = glob.glob(os.path.join(cls.tmp, "greenicorn_*.changes"))
        if len(found) != 1:
            raise AssertionError("expected one .changes, found %s" % found)
        cls.changes = found[0]

    def contents(self, package):
        r = run(["dpkg-deb", "--contents", self.debs[package]], 60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return {line.split()[-1].lstrip(".") for line in r.stdout.splitlines()}

    def test_lintian_reports_no_error_and_no_warning(self):
        # --fail-on: error and warning tags fail it; overrides (each with its
        # reason in debian/*.lintian-overrides) and info tags do not.
        r = run(["lintian", "--fail-on", "error,warning", self.changes], 600)
        tags = [l for l in r.stdout.splitlines() if re.match(r"^[EW]: ", l)]
        self.assertEqual((r.returncode, tags), (0, []), r.stdout + r.stderr)

    def test_packages_hold_what_the_issue_lists(self):
        server = self.contents("greenicorn")
        for path in ("/usr/bin/greenicorn", "/usr/share/man/man1/greenicorn.1.gz",
                     "/etc/greenicorn/greenicorn.conf", "/etc/logrotate.d/greenicorn",
                     "/lib/systemd/system/greenicorn.service",
                     "/lib/systemd/system/greenicorn.socket"):
            self.assertIn(path, server)
        self.assertTrue([p for p in server if p.endswith("/greenicorn/apps/hello.so")])
        self.assertTrue([p for p in server if re.search(r"/greenicorn/green/libgn_\w+\.so$", p)])
        r = run(["sh", "-c", "dpkg-deb --ctrl-tarfile \"$0\" | tar -xO ./conffiles",
                 self.debs["greenicorn"]], 60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(r.stdout.split()),
                         ["/etc/greenicorn/greenicorn.conf", "/etc/logrotate.d/greenicorn"])
        dev = self.contents("libgreenicorn-dev")
        for path in ("/usr/include/greenicorn.h", "/usr/include/greenicorn/version.h",
                     "/usr/include/greenicorn/pq.h", "/usr/include/greenicorn/redis.h"):
            self.assertIn(path, dev)
        self.assertTrue([p for p in dev if p.endswith("/pkgconfig/greenicorn.pc")])
        self.assertTrue([p for p in dev if p.endswith("/pkgconfig/greenicorn-pq.pc")])

    def install(self):
        """Both packages installed; purged (and the user they made removed)
        at the end of the test, whatever happens."""
        user_existed = subprocess.run(["getent", "passwd", "greenicorn"],
                                      capture_output=True).returncode == 0
        self.addCleanup(self.purge, user_existed)
        r = run(APT + ["install"] + [self.debs[p] for p in PACKAGES], 900,
                env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr[-4000:])
        for p in PACKAGES:
            self.assertTrue(installed(p), p)

    def purge(self, user_existed):
        r = run(APT + ["purge"] + list(PACKAGES), 900,
                env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr[-4000:])
        for p in PACKAGES:
            self.assertFalse(installed(p), p)
        self.assertFalse(os.path.exists("/etc/greenicorn/greenicorn.conf"))
        self.assertFalse(os.path.exists("/usr/bin/greenicorn"))
        if not user_existed:
            subprocess.run(["deluser", "--quiet", "--system", "greenicorn"],
                           capture_output=True, timeout=60)
            if subprocess.run(["getent", "group", "greenicorn"],
                              capture_output=True).returncode == 0:
                subprocess.run(["delgroup", "--quiet", "--system", "greenicorn"],
                               capture_output=True, timeout=60)

    def test_installed_service_serves_hello(self):
        self.install()
        with open("/lib/systemd/system/greenicorn.service") as f:
            service = f.read()
        with open("/lib/systemd/system/greenicorn.socket") as f:
            sock_unit = f.read()
        # The user postinst made, a system one, as the unit names it.
        (user,), (group,) = unit_values(service, "User"), unit_values(service, "Group")
        self.assertEqual(unit_values(service, "DynamicUser"), ["no"])
        pw = pwd.getpwnam(user)
        self.assertLess(pw.pw_uid, 1000, "not a system user: %r" % (pw,))
        (exec_start,) = unit_values(service, "ExecStart")
        argv = exec_start.split()
        self.assertEqual(argv[:3], ["/usr/bin/greenicorn", "-c",
                                    "/etc/greenicorn/greenicorn.conf"])
        with open("/etc/greenicorn/greenicorn.conf") as f:
            self.assertRegex(f.read(), r"\nmodule = /usr/lib/[^/\n]+/greenicorn/apps/hello\.so\n")
        # systemd accepts the installed units as they are: ExecStart's
        # binary exists, and so does the man page Documentation= names.
        r = run(["systemd-analyze", "verify", "/lib/systemd/system/greenicorn.socket",
                 "/lib/systemd/system/greenicorn.service"], 60)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))
        # What systemd makes before ExecStart: RuntimeDirectory (the pid
        # file's), owned by the user.
        (runtime,) = unit_values(service, "RuntimeDirectory")
        run_dir = os.path.join("/run", runtime)
        self.assertFalse(os.path.exists(run_dir), "%s exists: something else runs" % run_dir)
        os.mkdir(run_dir, 0o755)
        self.addCleanup(shutil.rmtree, run_dir, True)
        os.chown(run_dir, pw.pw_uid, pw.pw_gid)
        (listen,) = unit_values(sock_unit, "ListenStream")
        self.assertEqual(listen, "127.0.0.1:8000")
        port = harness.free_port()
        listen = "127.0.0.1:%d" % port
        # READY=1 from the service (Type=notify), to a socket the user may
        # write to.
        notify_dir = tempfile.mkdtemp(prefix="greenicorn-e2e-deb-notify-")
        self.addCleanup(shutil.rmtree, notify_dir, True)
        os.chmod(notify_dir, 0o755)
        notify_path = os.path.join(notify_dir, "notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(notify.close)
        notify.bind(notify_path)
        os.chmod(notify_path, 0o666)
        notify.settimeout(30)
        log_path = os.path.join(self.tmp, "service.log")
        log = open(log_path, "w")
        self.addCleanup(log.close)
        proc = subprocess.Popen(
            harness.PDEATHSIG + ["setpriv", "--reuid", user, "--regid", group,
                                 "--init-groups", "--",
                                 "systemd-socket-activate", "-l", listen,
                                 "-E", "NOTIFY_SOCKET=" + notify_path] + argv,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd="/")

        def stop():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(45)  # the unit's TimeoutStopSec
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, 9)
                    proc.wait(5)
        self.addCleanup(stop)

        def service_log():
            with open(log_path) as f:
                return f.read()

        def first_connection():
            self.assertIsNone(proc.poll(), service_log())
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return True
            except OSError:
                return False
        wait_until(first_connection, 30, what="systemd-socket-activate listening")
        try:
            self.assertIn("READY=1", notify.recv(4096).decode())
        except socket.timeout:
            self.fail("no READY=1 within 30 s:\n" + service_log())
        reply = harness.raw_exchange(
            port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 200 "), reply)
        self.assertTrue(reply.endswith(b"\r\n\r\nHello, World!"), reply)
        # The arbiter (the exec'ed process) and its workers run as the user.
        with open(os.path.join(run_dir, "greenicorn.pid")) as f:
            self.assertEqual(int(f.read()), proc.pid)
        pids = [proc.pid] + harness.children_of(proc.pid)
        self.assertGreaterEqual(len(pids), 3, "arbiter and 2 workers: %s" % pids)
        for pid in pids:
            self.assertEqual(os.stat("/proc/%d" % pid).st_uid, pw.pw_uid, pid)
        stop()
        self.assertEqual(proc.returncode, 0, service_log())


if __name__ == "__main__":
    unittest.main()
