#!/usr/bin/env python3
"""Issue #4's first acceptance test: under load (50 busy keep-alive
clients and 2,000 more connections held idle), HUP three times, then
USR2 and TERM to the old arbiter: no request fails, and the pids show the
workers really were replaced.

Issue #11's: a HUP that cannot succeed (the new workers' app init fails,
the config file cannot be read, the config path became a directory)
leaves the old workers serving on their port under wrk's load with no
failed request, and the log says why."""
import os
import re
import shutil
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import harness
from harness import ServerTestCase, pid_alive, read_pid, wait_until

BUSY = 50
IDLE = 2000


class ReloadUnderLoadTest(ServerTestCase):

    def hold_idle(self, srv, n):
        """N keep-alive connections that each got one answer, then idle."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < n + 500:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000), hard))
        held = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.sendall(b"GET /idle HTTP/1.1\r\nHost: x\r\n\r\n")
            held.append(s)
        for s in held:  # answers came while we opened the others
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(4096)
            self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:100])
        self.addCleanup(lambda: [s.close() for s in held])
        return held

    def wait_reload(self, srv, n, before):
        wait_until(lambda: srv.log().count("new worker(s) up") == n, 20,
                   what="reload %d" % n)
        wait_until(lambda: not (set(srv.worker_pids()) & before), 20,
                   what="the old workers gone after reload %d" % n)

    def test_hup_x3_and_usr2_under_load_fail_no_request(self):
        pidfile = os.path.join(tempfile.mkdtemp(prefix="gn-load-"), "g.pid")
        self.addCleanup(subprocess.run, ["rm", "-rf", os.path.dirname(pidfile)])
        srv = self.start_server(app="echo", workers=2, settings={
            "workers": {"worker_connections": IDLE + BUSY + 500, "keepalive": 60},
            "process": {"pidfile": pidfile}})
        generations = [set(srv.wait_workers(2))]
        self.hold_idle(srv, IDLE)
        load = harness.KeepAliveLoad(srv, BUSY)
        self.addCleanup(load.stop)
        time.sleep(1)
        for n in (1, 2, 3):
            srv.signal(signal.SIGHUP)
            self.wait_reload(srv, n, generations[-1])
            generations.append(set(srv.worker_pids()))
            time.sleep(1)

        old = srv.pid
        srv.signal(signal.SIGUSR2)
        new = wait_until(lambda: (lambda p: p if p and p != old else None)(
            read_pid(pidfile)), 20, what="the new arbiter")
        self.addCleanup(lambda: pid_alive(new) and os.kill(new, signal.SIGKILL))
        wait_until(lambda: len(harness.children_of(new)) == 2, 20,
                   what="the new arbiter's workers")
        srv.wait_for_log(r"\[%d\] \[INFO\] booting worker \d+ with pid %d"
                         % (harness.children_of(new)[-1], harness.children_of(new)[-1]))
        time.sleep(1)
        srv.signal(signal.SIGTERM)
        self.assertEqual(srv.wait_exit(30), 0, srv.log())
        generations.append(set(harness.children_of(new)))
        time.sleep(1)
        stats = load.stop()

        sys.stderr.write("HUP x3 + USR2 under %d busy and %d idle connections: "
                         "%d requests, %d retried after an idle close, "
                         "%d failed\n" % (BUSY, IDLE, stats["ok"], stats["retried"],
                                          len(stats["failed"])))
        self.assertEqual(stats["failed"], [])
        self.assertGreater(stats["ok"], 1000)
        # Five generations of workers, no pid shared between any two.
        for i, a in enumerate(generations):
            for b in generations[i + 1:]:
                self.assertFalse(a & b, generations)
        for pid in set().union(*generations[:-1]):
            self.assertFalse(pid_alive(pid))
        os.kill(new, signal.SIGTERM)
        wait_until(lambda: not pid_alive(new), 30, what="the new arbiter to stop")


WRK_SECONDS = 4


def run_wrk(port):
    """wrk against PORT for WRK_SECONDS, started now (a Popen)."""
    return subprocess.Popen(
        ["wrk", "-t", "2", "-c", "16", "-d", "%ds" % WRK_SECONDS,
         "--timeout", "3s", "http://127.0.0.1:%d/wrk" % port],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wrk_result(proc):
    """(requests, failed, output) of a finished wrk: failed counts the
    non-2xx/3xx answers and every socket error (connect, read, write,
    timeout)."""
    out, _ = proc.communicate(timeout=WRK_SECONDS + 30)
    assert proc.returncode == 0, out
    done = re.search(r"(\d+) requests in", out)
    assert done, out
    failed = 0
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), "
                       r"write (\d+), timeout (\d+)", out)
    if errors:
        failed += sum(int(x) for x in errors.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        failed += int(non2xx.group(1))
    return int(done.group(1)), failed, out


class FailedHupUnderWrkTest(ServerTestCase):
    """Each case: wrk runs, the config is broken, HUP; the old workers go
    on serving on the configured port and the log names the reason."""

    def hup_under_wrk(self, srv, break_config, reason):
        old = set(srv.wait_workers(2))
        wrk = run_wrk(srv.port)
        self.addCleanup(lambda: wrk.poll() is None and wrk.kill())
        time.sleep(1)
        break_config()
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(reason, timeout=10)
        requests, failed, out = wrk_result(wrk)
        sys.stderr.write("failed HUP under wrk: %d requests, %d failed\n"
                         % (requests, failed))
        self.assertEqual(failed, 0, out + srv.log())
        self.assertGreater(requests, 100, out)
        # The same workers, still on the configured port.
        self.assertEqual(set(srv.worker_pids()), old, srv.log())
        status, _, body = srv.get("/after")
        self.assertEqual(status, 200)
        self.assertIn(b"target: /after\n", body)
        self.assertIsNone(srv.proc.poll())
        self.assertNotIn("stopping", srv.log().split("SIGHUP")[-1])
        return old

    def rewrite(self, srv, **changes):
        sections = srv.config_sections()
        for section, keys in changes.items():
            sections.setdefault(section, {}).update(keys)
        with open(srv.config_path, "w") as f:
            f.write(harness.render_config(sections))

    def test_hup_whose_app_init_fails_keeps_the_old_workers(self):
        srv = self.start_server(app="echo", workers=2)
        old = self.hup_under_wrk(
            srv, lambda: self.rewrite(srv, **{"app.args": {"fail_init": "typo"}}),
            r"reload failed: worker \d+ of the new configuration cannot boot "
            r"\(app echo \(\S+echo.so\): init failed: Invalid argument\); "
            r"the previous workers keep serving")
        self.assertIn("echo: init fails as asked: typo", srv.log())
        # The next HUP, with the config fixed, reloads.
        self.rewrite(srv)
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(r"reload: 2 new worker\(s\) up, stopping 2 old one\(s\)",
                         timeout=10)
        wait_until(lambda: (lambda p: len(p) == 2 and not set(p) & old)(
            srv.worker_pids()), 10, what="2 new workers")
        self.assertEqual(srv.get("/fixed")[0], 200)

    def test_hup_with_an_unreadable_config_keeps_the_old_workers(self):
        srv = self.start_server(app="echo", workers=2)

        def unreadable():
            # Root reads a mode 000 file: a file whose read fails instead.
            os.unlink(srv.config_path)
            os.symlink("/proc/self/mem", srv.config_path)
        self.hup_under_wrk(
            srv, unreadable,
            r"reload failed, keeping the running configuration: "
            r"\S*greenicorn.conf\b")

    def test_hup_with_the_config_path_now_a_directory_keeps_the_old_workers(self):
        srv = self.start_server(app="echo", workers=2)

        def directory():
            os.unlink(srv.config_path)
            os.mkdir(srv.config_path)
        self.addCleanup(shutil.rmtree, srv.config_path, True)
        self.hup_under_wrk(
            srv, directory,
            r"reload failed, keeping the running configuration: "
            r"\S*greenicorn.conf\b")


if __name__ == "__main__":
    unittest.main()
