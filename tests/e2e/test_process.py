#!/usr/bin/env python3
"""The [process] settings: daemon and pidfile, user, chdir, umask, raw_env
and proc_name, on the real binary."""
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import unittest

import harness
from harness import (GREENICORN, ServerTestCase, app_path, free_port,
                     pid_alive, read_pid, wait_until)


def build_has(macro):
    """Whether the binary under test was built with MACRO set to 1 in its
    config.h (GN_BUILD_ROOT, as meson sets it, else ./build)."""
    root = os.environ.get("GN_BUILD_ROOT") or os.path.join(harness.REPO, "build")
    with open(os.path.join(root, "config.h")) as f:
        defines = re.findall(r"^#define (\w+) (\d+)$", f.read(), re.M)
    values = dict(defines)
    assert macro in values, "%s not in %s/config.h" % (macro, root)
    return values[macro] == "1"


# Full titles need libbsd; without it only the 15-byte command name is set.
HAVE_LIBBSD = build_has("GN_HAVE_LIBBSD")


def comm(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().rstrip("\n")


def shown(pid):
    """What ps shows as the process's name: its title, or its command name
    in a build without libbsd."""
    return title(pid) if HAVE_LIBBSD else comm(pid)


def as_shown(role, name):
    """The title of ROLE with proc_name NAME as shown(pid) returns it."""
    t = "%s [%s]" % (role, name)
    return "greenicorn: " + t if HAVE_LIBBSD else t[:15]


def title(pid):
    """The process title: the text up to the first NUL, trimmed (what
    follows is checked by test_the_process_title_is_what_the_build_can_set)."""
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().split(b"\0")[0].decode().rstrip()


def cmdline(pid):
    """/proc/PID/cmdline as it is, NULs and all."""
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read()


def uid_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return None


class DaemonTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="greenicorn-e2e-")
        self.pidfile = os.path.join(self.tmp, "g.pid")
        self.addCleanup(self.kill_daemon)

    def kill_daemon(self):
        try:
            with open(self.pidfile) as f:
                pid = int(f.read())
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass
        subprocess.run(["rm", "-rf", self.tmp])

    def start(self, *extra):
        port = free_port()
        r = subprocess.run([
            harness.GREENICORN, "--daemon", "--pid", self.pidfile,
            "-b", "127.0.0.1:%d" % port, "-w", "2",
            "--error-logfile", os.path.join(self.tmp, "error.log")] + list(extra)
            + [app_path("echo")], capture_output=True, timeout=10)
        return port, r

    def test_daemon_returns_writes_pidfile_and_term_removes_it(self):
        started = time.monotonic()
        port, r = self.start("-n", "e2e-daemon")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess(time.monotonic() - started, 5)
        pid = wait_until(lambda: os.path.exists(self.pidfile) and
                         int(open(self.pidfile).read()), 5, what="the pidfile")
        self.assertTrue(pid_alive(pid))
        # The pidfile is written before the title is set: wait for both.
        want = as_shown("master", "e2e-daemon")
        wait_until(lambda: shown(pid) == want, 5,
                   what="the title %r" % want)
        workers = wait_until(lambda: (lambda p: p if len(p) == 2 else None)(
            harness.children_of(pid)), 5, what="2 workers")
        for w in workers:  # set as the worker boots, just after fork
            wait_until(lambda: shown(w) == as_shown("worker", "e2e-daemon"), 5,
                       what="the worker's title")
        self.assertEqual(harness.raw_exchange(
            port, b"GET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[:15],
            b"HTTP/1.1 200 OK")
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not pid_alive(pid), 10, what="the daemon to exit")
        self.assertFalse(os.path.exists(self.pidfile), "pidfile left behind")

    def test_a_live_pidfile_refuses_a_second_server(self):
        port, r = self.start()
        self.assertEqual(r.returncode, 0, r.stderr)
        pid = wait_until(lambda: os.path.exists(self.pidfile) and
                         int(open(self.pidfile).read()), 5, what="the pidfile")
        rc, _, err = harness.run_until_exit(
            ["--pid", self.pidfile, "-b", "127.0.0.1:%d" % free_port(),
             app_path("hello")])
        self.assertEqual(rc, 1, err)
        self.assertIn("another server is running as pid %d" % pid, err)
        self.assertIn("a live greenicorn", err)
        self.assertEqual(int(open(self.pidfile).read()), pid)

    def test_a_pidfile_naming_a_live_process_that_is_no_greenicorn_is_stale(self):
        with open(self.pidfile, "w") as f:
            f.write("1\n")  # init: alive, but not a greenicorn
        port, r = self.start()
        self.assertEqual(r.returncode, 0, r.stderr)
        pid = wait_until(lambda: (lambda v: v if v != 1 else None)(
            read_pid(self.pidfile)), 5, what="our pid in the pidfile")
        self.assertTrue(pid_alive(pid))
        log = wait_until(lambda: open(os.path.join(self.tmp, "error.log")).read(),
                         5, what="the error log")
        self.assertRegex(log, r"\[WARNING\] pidfile %s: pid 1 is not a greenicorn "
                              r"\(it is '[^']+'\): replacing the stale pidfile"
                         % re.escape(self.pidfile))

    def test_a_stale_pidfile_is_replaced(self):
        with open(self.pidfile, "w") as f:
            f.write("999999\n")  # above pid_max: nobody
        port, r = self.start()
        self.assertEqual(r.returncode, 0, r.stderr)
        pid = wait_until(lambda: (lambda v: v if v != 999999 else None)(
            int(open(self.pidfile).read())), 5, what="our pid in the pidfile")
        self.assertTrue(pid_alive(pid))


class DaemonUpgradeTest(unittest.TestCase):
    """USR2 with daemon = on, with and without a pidfile: the new arbiter
    serves, the old one is told TERM, and no request fails."""

    class Target:
        """What harness.KeepAliveLoad needs of a server."""

        def __init__(self, port):
            self.port = port

        def http(self, timeout=10):
            return harness.http.client.HTTPConnection("127.0.0.1", self.port,
                                                      timeout=timeout)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="greenicorn-e2e-")
        self.addCleanup(subprocess.run, ["rm", "-rf", self.tmp])
        self.errlog = os.path.join(self.tmp, "error.log")
        self.pids = []
        self.addCleanup(self.kill_arbiters)

    def kill_arbiters(self):
        for pid in self.pids:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)

    def log(self):
        with open(self.errlog) as f:
            return f.read()

    def arbiters(self, port):
        """The pids that logged listening on PORT, in order."""
        return [int(p) for p in re.findall(
            r"listening at: http://127\.0\.0\.1:%d \((\d+)\)" % port, self.log())]

    def upgrade(self, pidfile):
        port = free_port()
        r = subprocess.run([harness.GREENICORN, "--daemon", "-b",
                            "127.0.0.1:%d" % port, "-w", "2", "--error-logfile",
                            self.errlog] + (["--pid", pidfile] if pidfile else [])
                           + [app_path("echo")], capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        (old,) = wait_until(lambda: self.arbiters(port), 5, what="the daemon")
        self.pids.append(old)
        wait_until(lambda: len(harness.children_of(old)) == 2, 5, what="2 workers")
        load = harness.KeepAliveLoad(self.Target(port), 4)
        self.addCleanup(load.stop)
        time.sleep(0.5)
        os.kill(old, signal.SIGUSR2)
        new = wait_until(lambda: (lambda a: a[1] if len(a) > 1 else None)(
            self.arbiters(port)), 10, what="the new arbiter\n" + self.log())
        self.pids.append(new)
        if pidfile:
            wait_until(lambda: read_pid(pidfile) == new, 5, what="the new pidfile")
            self.assertEqual(read_pid(pidfile + ".oldbin"), old)
        workers = wait_until(lambda: (lambda p: p if len(p) == 2 else None)(
            harness.children_of(new)), 10, what="the new arbiter's 2 workers")
        for w in workers:
            wait_until(lambda: re.search(r"booting worker \d+ with pid %d\b" % w, self.log()),
                       10, what="worker %d booted" % w)
        time.sleep(0.5)  # both generations serve
        self.assertTrue(pid_alive(old) and pid_alive(new), self.log())
        # The old arbiter still knows its successor (a detached one would
        # look to it as if it had exited).
        self.assertNotRegex(self.log(), r"the new arbiter \(pid \d+\) exited")
        self.assertIn("SIGUSR2: new arbiter started (pid %d)" % new, self.log())
        os.kill(old, signal.SIGTERM)
        wait_until(lambda: not pid_alive(old), 15, what="the old arbiter to stop")
        time.sleep(0.5)  # the new one alone
        stats = load.stop()
        self.assertEqual(stats["failed"], [], self.log())
        self.assertGreater(stats["ok"], 50)
        self.assertTrue(pid_alive(new), self.log())
        self.assertEqual(harness.raw_exchange(
            port, b"GET /new HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[:15],
            b"HTTP/1.1 200 OK")
        if pidfile:
            self.assertEqual(read_pid(pidfile), new)
            self.assertFalse(os.path.exists(pidfile + ".oldbin"))
        os.kill(new, signal.SIGTERM)
        wait_until(lambda: not pid_alive(new), 15, what="the new arbiter to stop")
        if pidfile:
            self.assertFalse(os.path.exists(pidfile))

    def test_usr2_when_daemonized_with_a_pidfile(self):
        self.upgrade(os.path.join(self.tmp, "g.pid"))

    def test_usr2_when_daemonized_without_a_pidfile(self):
        self.upgrade(None)


class ProcessSettingsTest(ServerTestCase):

    @unittest.skipUnless(os.geteuid() == 0, "dropping privileges needs root")
    def test_workers_run_as_user_arbiter_stays(self):
        nobody = pwd.getpwnam("nobody")
        # The worker loads the app as nobody: from a directory nobody may
        # enter (a checkout under a 0700 mktemp -d is not one).
        appdir = tempfile.mkdtemp(prefix="gn-nobody-")
        self.addCleanup(shutil.rmtree, appdir, True)
        os.chmod(appdir, 0o755)
        module = shutil.copy(app_path("hello"), appdir)
        srv = self.start_server(app=None, workers=1,
                                settings={"process": {"user": "nobody"},
                                          "app": {"module": module}})
        (worker,) = srv.wait_workers(1)
        self.assertEqual(uid_of(worker), nobody.pw_uid)
        self.assertEqual(uid_of(srv.pid), 0)
        self.assertEqual(srv.get("/")[0], 200)

    def test_the_process_title_is_what_the_build_can_set(self):
        """Full titles with libbsd; the kernel's command name without it.
        One test, not two skips: a skip fails scripts/test, and each build
        has exactly one of the two to check."""
        srv = self.start_server(app="hello", workers=1, args=["-n", "e2e-title"])
        if HAVE_LIBBSD:
            self.check_full_title(srv, "e2e-title")
        else:
            self.check_command_name(srv)

    def test_a_title_as_long_as_the_command_has_no_trailing_space(self):
        """libbsd puts a space where argv[0]'s NUL was when a title ends
        exactly there: the master's title, sized to the path it was run
        by, must still read as itself (a fresh clone at a path of that
        length once showed "greenicorn: master [NAME] "). The binary runs
        through a symlink long enough for a name, whatever the build
        folder's path (named greenicorn: the title begins with that name)."""
        links = tempfile.mkdtemp(prefix="greenicorn-e2e-title-")
        self.addCleanup(shutil.rmtree, links)
        os.mkdir(os.path.join(links, "l" * 24))
        binary = os.path.join(links, "l" * 24, "greenicorn")
        os.symlink(GREENICORN, binary)
        name = "x" * (len(binary) - len("greenicorn: master []"))
        self.assertGreater(len(name), 0)
        srv = self.start_server(app="hello", workers=1, args=["-n", name],
                                binary=binary)
        if HAVE_LIBBSD:
            self.check_full_title(srv, name)
        else:
            srv.wait_workers(1)
            self.assertEqual(comm(srv.pid), as_shown("master", name))

    def check_full_title(self, srv, name):
        (worker,) = srv.wait_workers(1)
        for pid, role in ((srv.pid, "master"), (worker, "worker")):
            want = "greenicorn: %s [%s]" % (role, name)
            wait_until(lambda: title(pid) == want, 5, what="the title of %d" % pid)
            wait_until(lambda: cmdline(pid) in (want.encode(), want.encode() + b"\0"),
                       5, what="the argument area of %d to hold the title "
                       "alone" % pid)
            ps = subprocess.run(["ps", "-o", "args=", "-p", str(pid)],
                                capture_output=True, text=True, timeout=10).stdout
            self.assertEqual(ps, want + "\n")
        self.assertNotIn("full titles need", srv.log())

    def check_command_name(self, srv):
        (worker,) = srv.wait_workers(1)
        for pid, role in ((srv.pid, "master"), (worker, "worker")):
            want = as_shown(role, "e2e-title")
            wait_until(lambda: comm(pid) == want, 5, what="the name of %d" % pid)
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                self.assertEqual(f.read().split(b"\0")[0], harness.GREENICORN.encode())
        # Said once, by the arbiter (its workers inherit that it was said).
        self.assertEqual(srv.log().count(
            "process titles: the command name only (\"master [e2e-tit\"); "
            "full titles need a build with libbsd"), 1, srv.log())

    def test_chdir_before_loading_the_app_and_raw_env(self):
        srv = self.start_server(app=None, workers=1, accesslog=True, settings={
            "process": {"chdir": harness.APPS, "raw_env": ["GN_A=one", "GN_B=two=2"]},
            "app": {"module": "echo.so"},   # relative to chdir
            "logging": {"access_log_format": "%({GN_A}e)s %({GN_B}e)s"}})
        srv.wait_workers(1)
        status, _, body = srv.get("/c")
        self.assertEqual(status, 200)
        self.assertIn(b"target: /c\n", body)
        lines = wait_until(lambda: srv.access_log().splitlines(), 5, what="a line")
        self.assertEqual(lines[0], "one two=2")

    def test_umask_applies_to_the_unix_socket(self):
        path = os.path.join(tempfile.mkdtemp(prefix="gn-umask-"), "g.sock")
        self.addCleanup(subprocess.run, ["rm", "-rf", os.path.dirname(path)])
        srv = self.start_server(app="hello", workers=1,
                                args=["-b", "127.0.0.1:{port}", "-b", "unix:" + path],
                                settings={"process": {"umask": "077"}})
        srv.wait_workers(1)
        mode = stat.S_IMODE(os.stat(path).st_mode)
        self.assertEqual(mode & 0o077, 0, oct(mode))

    def test_syslog_gets_both_logs(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(5)
        self.addCleanup(listener.close)
        srv = self.start_server(app="hello", workers=1, settings={"logging": {
            "syslog": "on",
            "syslog_addr": "udp://127.0.0.1:%d" % listener.getsockname()[1],
            "syslog_prefix": "e2e", "syslog_facility": "local3"}})
        srv.wait_workers(1)
        self.assertEqual(srv.get("/via-syslog")[0], 200)
        messages = []
        while not any(b"/via-syslog" in m for m in messages):
            messages.append(listener.recv(4096))
        text = b"\n".join(messages).decode()
        # <PRI> is local3 (19 * 8) + info (6); the program is the prefix.
        self.assertRegex(text, r"<158>\w{3} [ \d]\d \d\d:\d\d:\d\d e2e\[\d+\]: "
                               r"\[\d+\] \[INFO\] listening at: http://127.0.0.1:%d"
                               % srv.port)
        self.assertRegex(text, r'<158>.* e2e\[\d+\]: 127\.0\.0\.1 - - \[.*\] '
                               r'"GET /via-syslog HTTP/1\.1" 200 13')
        # The error log still gets its lines too.
        self.assertIn("listening at: http://127.0.0.1:%d" % srv.port, srv.log())

    def test_worker_tmp_dir_holds_the_heartbeat_files(self):
        tmpdir = tempfile.mkdtemp(prefix="gn-tmp-")
        self.addCleanup(subprocess.run, ["rm", "-rf", tmpdir])
        srv = self.start_server(app="echo", workers=2, settings={
            "process": {"worker_tmp_dir": tmpdir},
            "workers": {"timeout": 2}})
        workers = srv.wait_workers(2)
        # Each worker maps an unlinked file from there; the watchdog works.
        for pid in workers:
            with open("/proc/%d/maps" % pid) as f:
                self.assertIn(tmpdir + "/greenicorn-heartbeat-", f.read())
        self.assertEqual(os.listdir(tmpdir), [])
        time.sleep(3)  # longer than timeout: beats must arrive
        self.assertEqual(set(srv.worker_pids()), set(workers), srv.log())

    def test_bad_process_settings_are_config_errors(self):
        for flag, value, why in [("--user", "no-such-user-e2e", "no such user"),
                                 ("--group", "no-such-group-e2e", "no such group"),
                                 ("--umask", "999", "not an octal mask"),
                                 ("--chdir", "/nonexistent/dir", "is not a directory"),
                                 ("--env", "NOEQUALS", "is not KEY=VALUE"),
                                 ("--log-syslog-to", "tcp://x:1", "is not udp://"),
                                 ("--log-syslog-facility", "nope", "is not a facility")]:
            # A value refused on the command line is a usage error.
            r = harness.run_cli(["--check-config", flag, value, app_path("hello")])
            self.assertEqual(r.returncode, 2, (flag, r.stderr))
            self.assertIn(why, r.stderr)


if __name__ == "__main__":
    unittest.main()
