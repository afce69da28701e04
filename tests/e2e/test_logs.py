#!/usr/bin/env python3
"""The logs and the dates the server writes: times without the app's
locale, rotation by logrotate with workers running as another user, a
full disk, and running out of file descriptors (memory after a burst
is test_memory.py)."""
import email.utils
import gzip
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import harness
from harness import ServerTestCase, app_path, test_plugin_path, wait_until

IMF_FIXDATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
                         r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                         r"\d{4} \d\d:\d\d:\d\d GMT$")
CLF_TIME = re.compile(r" \[\d\d/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/"
                      r"\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] ")


def make_locale(name, source, charmap, into):
    """Compile the locale NAME from Debian's `locales` sources into the
    folder INTO (for LOCPATH), so the test needs no system-wide locale."""
    r = subprocess.run(["localedef", "-i", source, "-f", charmap,
                        os.path.join(into, name)],
                       capture_output=True, text=True, timeout=120)
    # localedef exits 1 on warnings with the locale written anyway.
    path = os.path.join(into, name, "LC_TIME")
    if not os.path.exists(path):
        raise AssertionError("localedef %s failed (%d): %s"
                             % (name, r.returncode, r.stderr))


class LocaleTest(ServerTestCase):
    """Item 9: an app's setlocale must not reach the Date header or the
    log times (they were strftime's %a and %b)."""

    @classmethod
    def setUpClass(cls):
        cls.locpath = tempfile.mkdtemp(prefix="gn-locale-")
        cls.addClassCleanup(shutil.rmtree, cls.locpath, True)
        make_locale("de_DE.UTF-8", "de_DE", "UTF-8", cls.locpath)

    def test_date_and_access_log_ignore_the_apps_locale(self):
        srv = self.start_server(
            app=test_plugin_path("locale_app"), accesslog=True,
            settings={"process": {"raw_env": ["LOCPATH=%s" % self.locpath]},
                      "app.args": {"locale": "de_DE.UTF-8"}})
        status, headers, body = srv.get("/x")
        self.assertEqual(status, 200)
        # The app's locale is in force in the worker...
        self.assertEqual(body.decode(), "Sa Dez")
        # ...and the server's Date is an IMF-fixdate all the same.
        self.assertRegex(headers["Date"], IMF_FIXDATE)
        when = email.utils.parsedate_to_datetime(headers["Date"]).timestamp()
        self.assertLess(abs(when - time.time()), 120)
        line = wait_until(lambda: srv.access_log().strip(), 5,
                          what="the access log line")
        self.assertRegex(line, CLF_TIME)
        self.assertIn('"GET /x HTTP/1.1" 200', line)


class UniqueLoad:
    """CLIENTS threads, each sending keep-alive GETs for /tN/SEQ (a path no
    other request has) until stop() or MAX_EACH requests; every answer must
    be a 200. stop() returns the paths that were answered."""

    def __init__(self, srv, clients=2, max_each=20000):
        self.srv = srv
        self.max_each = max_each
        self.stopped = threading.Event()
        self.done = [[] for _ in range(clients)]
        self.errors = []
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True)
                        for i in range(clients)]
        for t in self.threads:
            t.start()

    def _client(self, i):
        conn = self.srv.http(timeout=10)
        try:
            for seq in range(self.max_each):
                if self.stopped.is_set():
                    break
                path = "/t%d/%d" % (i, seq)
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    self.errors.append((path, r.status))
                self.done[i].append(path)
        except Exception as e:  # any failure fails the test
            self.errors.append(repr(e))
        finally:
            conn.close()

    def count(self):
        return sum(len(d) for d in self.done)

    def stop(self):
        self.stopped.set()
        for t in self.threads:
            t.join(30)
        assert not any(t.is_alive() for t in self.threads), "a load client hangs"
        return [p for d in self.done for p in d]


def read_text(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def path_lines(text):
    """The paths of the complete lines ("PATH end") of an access log in the
    format "%(U)s end"."""
    return re.findall(r"^(/\S*) end$", text, re.M)


@unittest.skipUnless(os.geteuid() == 0, "running workers as nobody needs root")
class LogrotateTest(ServerTestCase):
    """Item 6 and acceptance 3: the shipped logrotate recipe with the real
    logrotate and `user = nobody`, under load. The arbiter recreates the
    logs on USR1 as root; unless it gives them to nobody the workers cannot
    reopen them and write into the rotated file for good."""

    RECIPE = os.path.join(harness.REPO, "contrib", "deploy", "logrotate", "greenicorn")

    def setUp(self):
        self.assertIsNotNone(shutil.which("logrotate"), "logrotate is not installed "
                             "(scripts/install-deps --test)")
        # A folder nobody can enter (the test's own temp dirs are 0700) but
        # not write: logrotate refuses to rotate in a folder others can.
        self.dir = tempfile.mkdtemp(prefix="gn-logrotate-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        os.chmod(self.dir, 0o755)
        self.logs = os.path.join(self.dir, "log")
        os.mkdir(self.logs, 0o755)
        self.pidfile = os.path.join(self.dir, "greenicorn.pid")
        self.module = shutil.copy(app_path("hello"), self.dir)

    def rotate(self):
        """Run the shipped recipe, its paths moved into the test's folder,
        with its own state file, forced."""
        with open(self.RECIPE) as f:
            recipe = f.read()
        recipe = recipe.replace("/var/log/greenicorn/", self.logs + "/")
        recipe = recipe.replace("/run/greenicorn/greenicorn.pid", self.pidfile)
        self.assertIn(self.pidfile, recipe)
        conf = os.path.join(self.dir, "logrotate.conf")
        with open(conf, "w") as f:
            f.write(recipe)
        os.chmod(conf, 0o644)
        r = subprocess.run(["logrotate", "-f", "-s", os.path.join(self.dir, "state"),
                            conf], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, "logrotate: %s%s" % (r.stdout, r.stderr))

    def test_rotation_under_load_keeps_every_line_once(self):
        nobody = pwd.getpwnam("nobody")
        access = os.path.join(self.logs, "access.log")
        errors = os.path.join(self.logs, "error.log")
        srv = self.start_server(app=None, workers=2, settings={
            "process": {"user": "nobody", "pidfile": self.pidfile},
            "app": {"module": self.module},
            "logging": {"accesslog": access, "errorlog": errors,
                        "access_log_format": "%(U)s end"}})
        srv.wait_workers(2)
        load = UniqueLoad(srv)
        self.addCleanup(load.stop)
        wait_until(lambda: load.count() > 200, 30, what="requests before the rotation")
        self.rotate()
        self.assertTrue(os.path.exists(access + ".1"), os.listdir(self.logs))
        # The workers reopen what the arbiter recreated: new requests land
        # in the new file.
        seen = wait_until(lambda: path_lines(read_text(access)) if os.path.exists(access)
                          else None, 20, what="lines in the new access log")
        wait_until(lambda: load.count() > 400, 30, what="requests after the rotation")
        sent = load.stop()
        self.assertEqual(load.errors, [])
        self.assertTrue(seen)
        self.assertEqual(os.stat(access).st_uid, nobody.pw_uid)
        self.assertEqual(os.stat(errors).st_uid, nobody.pw_uid)
        srv.stop()
        rotated = path_lines(read_text(access + ".1"))
        current = path_lines(read_text(access))
        self.assertGreater(len(rotated), 0)
        self.assertGreater(len(current), 0)
        logged = rotated + current
        self.assertEqual(len(logged), len(set(logged)), "a request logged twice")
        self.assertEqual(sorted(logged), sorted(sent),
                         "requests missing from both logs: %d of %d"
                         % (len(set(sent) - set(logged)), len(sent)))
        log = srv.log()
        self.assertNotIn("Permission denied", log)
        self.assertNotIn("keeping the old file", log)


@unittest.skipUnless(os.geteuid() == 0, "mounting a small tmpfs needs root")
class FullDiskTest(ServerTestCase):
    """Item 7: with the access log on a full 64 KiB tmpfs, lost lines are
    counted and reported (with the errno), the server keeps answering, and
    writing resumes once there is room again; USR1 reports at once."""

    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="gn-full-")
        self.addCleanup(shutil.rmtree, self.mnt, True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", self.mnt],
                       check=True, timeout=30)
        # Lazy: whatever still holds a file open, the mount goes.
        self.addCleanup(subprocess.run, ["umount", "-l", self.mnt], timeout=30)
        self.access = os.path.join(self.mnt, "access.log")
        self.filler = os.path.join(self.mnt, "filler")

    def fill(self, leave):
        """Fill the tmpfs up, then free LEAVE bytes of it."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        size = os.path.getsize(self.filler)
        os.truncate(self.filler, max(0, size - leave))

    def get_all(self, srv, paths):
        conn = srv.http()
        try:
            for path in paths:
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 200, path)
        finally:
            conn.close()

    def reported(self, srv, what=""):
        """The sum of the counts in the lost-lines reports so far."""
        pat = (r"access log %s: (\d+) lines? could not be written "
               r"\(No space left on device\)%s" % (re.escape(self.access), what))
        return sum(int(n) for n in re.findall(pat, srv.log()))

    def test_lost_lines_are_counted_reported_and_writing_resumes(self):
        srv = self.start_server(workers=1, settings={"logging": {
            "accesslog": self.access, "access_log_format": "%(U)s end"}})
        srv.wait_workers(1)
        self.fill(leave=8192)
        first = ["/a/%d" % i for i in range(1500)]
        self.get_all(srv, first)
        srv.wait_for_log(r"access log .*: 1 line could not be written \(No space "
                         r"left on device\); more are counted, reported at most every")
        logged = path_lines(read_text(self.access))
        self.assertGreater(len(logged), 100)
        self.assertLess(len(logged), len(first))
        # Room again: the same file takes lines, and the rest of the count
        # is reported as writing resumes.
        os.unlink(self.filler)
        second = ["/b/%d" % i for i in range(50)]
        self.get_all(srv, second)
        srv.wait_for_log(r"writing again")
        logged = path_lines(read_text(self.access))
        self.assertEqual(logged[-50:], second)
        self.assertEqual(self.reported(srv), len(first) - (len(logged) - 50))
        # Full again, within the report interval: counted quietly until
        # USR1, which reports the count and reopens.
        self.fill(leave=0)
        third = ["/c/%d" % i for i in range(1500)]  # past the last page
        self.get_all(srv, third)
        before = self.reported(srv)
        srv.signal(signal.SIGUSR1)
        srv.wait_for_log(r"could not be written \(No space left on device\); "
                         r"reopening the file")
        os.unlink(self.filler)
        self.get_all(srv, ["/d/0"])
        wait_until(lambda: path_lines(read_text(self.access))[-1:] == ["/d/0"], 5,
                   what="a line after USR1")
        logged = path_lines(read_text(self.access))
        missing = len(first) + len(second) + len(third) + 1 - len(logged)
        self.assertEqual(self.reported(srv), missing)
        self.assertGreater(self.reported(srv) - before, 0)


class OutOfDescriptorsTest(ServerTestCase):
    """Accept failing with EMFILE is logged once when it starts and once,
    with the count, when it ends, not about every second."""

    def test_emfile_logged_once_per_episode_with_a_count(self):
        srv = self.start_server(workers=1)
        (worker,) = srv.wait_workers(1)
        nfds = len(os.listdir("/proc/%d/fd" % worker))
        subprocess.run(["prlimit", "--pid", str(worker), "--nofile=%d:%d"
                        % (nfds + 4, nfds + 4)], check=True, timeout=10)
        conns = []
        try:
            for _ in range(12):  # more than the worker can take
                c = srv.raw()
                conns.append(c)
            srv.wait_for_log(r"accept: Too many open files .*pausing accept")
            time.sleep(3.5)  # ticks that try again and fail again
            self.assertEqual(len(re.findall(r"accept: Too many open files", srv.log())),
                             1, srv.log())
        finally:
            for c in conns:
                c.close()
        m = srv.wait_for_log(r"accept: descriptors available again after "
                             r"(\d+) failed accepts?", timeout=10)
        self.assertGreaterEqual(int(m.group(1)), 3)
        self.assertEqual(srv.get("/")[0], 200)
        self.assertEqual(len(re.findall(r"accept: Too many open files", srv.log())), 1,
                         srv.log())


if __name__ == "__main__":
    unittest.main()
