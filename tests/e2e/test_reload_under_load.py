#!/usr/bin/env python3
"""Issue #4's first acceptance test: under load (50 busy keep-alive
clients and 2,000 more connections held idle), HUP three times, then
USR2 and TERM to the old arbiter: no request fails, and the pids show the
workers really were replaced."""
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import harness
from harness import ServerTestCase, pid_alive, wait_until

BUSY = 50
IDLE = 2000


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read() or 0)
    except FileNotFoundError:
        return 0


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


if __name__ == "__main__":
    unittest.main()
