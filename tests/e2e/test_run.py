#!/usr/bin/env python3
"""Running greenicorn: serving hello to curl, the worker count, the
informational flags, and a positional APP with flags over the file."""
import shutil
import socket
import subprocess
import unittest

import harness
from harness import ServerTestCase, app_path, run_cli


def curl(*args, timeout=15):
    assert shutil.which("curl"), "curl is not installed (scripts/install-deps --test)"
    return subprocess.run(["curl", "--max-time", "10"] + list(args),
                          capture_output=True, timeout=timeout)


class RunTest(ServerTestCase):

    def test_hello_answers_curl(self):
        srv = self.start_server(app="hello")
        r = curl("-s", "http://127.0.0.1:%d/" % srv.port)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"Hello, World!")

    def test_hello_headers_to_curl(self):
        srv = self.start_server(app="hello")
        r = curl("-s", "-i", "http://127.0.0.1:%d/any/path?x=1" % srv.port)
        self.assertEqual(r.returncode, 0, r.stderr)
        head, _, body = r.stdout.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"), head)
        self.assertIn(b"\r\nContent-Type: text/plain", head)
        self.assertIn(b"\r\nContent-Length: 13", head)
        self.assertRegex(head, rb"\r\nDate: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT")
        self.assertEqual(body, b"Hello, World!")

    def test_three_workers_are_children_of_the_arbiter(self):
        srv = self.start_server(app="hello", workers=3)
        pids = srv.wait_workers(3)
        # The same count as ps sees it, as the issue states it.
        self.assertEqual(harness.ps_children(srv.pid), sorted(pids))
        for pid in pids:
            with open("/proc/%d/stat" % pid) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            self.assertEqual(ppid, srv.pid)
        srv.wait_for_log(r"using 3 worker\(s\)")
        self.assertEqual(srv.get("/")[0], 200)

    def test_version(self):
        r = run_cli(["--version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^greenicorn \d+\.\d+\.\d+")
        r = run_cli(["-v"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^greenicorn \d+\.\d+\.\d+")

    def test_help(self):
        for flag in ("--help", "-h"):
            r = run_cli([flag])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("usage: greenicorn", r.stdout)
            for opt in ("--config", "--bind", "--workers", "--check-config", "--print-config"):
                self.assertIn(opt, r.stdout)

    def test_positional_app_without_config(self):
        srv = self.start_server(app=None, use_config=False,
                                args=["-b", "127.0.0.1:{port}", "-w", "2", app_path("hello")])
        srv.wait_workers(2)
        status, _, body = srv.get("/")
        self.assertEqual((status, body), (200, b"Hello, World!"))

    def test_positional_app_and_flags_override_the_file(self):
        # The file says hello, 3 workers, on another port; the command line
        # says echo, 2 workers, on srv.port.
        other = harness.free_port()
        srv = self.start_server(
            app="hello", workers=3,
            settings={"server": {"bind": "127.0.0.1:%d" % other}},
            args=["-b", "127.0.0.1:{port}", "-w", "2", app_path("echo")])
        srv.wait_for_log(r"listening at: http://127\.0\.0\.1:%d \(" % srv.port)
        pids = srv.wait_workers(2)
        status, _, body = srv.get("/over?ride=1")
        self.assertEqual(status, 200)
        self.assertIn(b"target: /over?ride=1\n", body)
        self.assertNotRegex(srv.log(), r"listening at: \S+:%d\b" % other)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", other), timeout=2).close()
        self.assertEqual(sorted(srv.worker_pids()), sorted(pids))

    def test_app_symbol_suffix(self):
        # PATH.so:SYMBOL names the descriptor explicitly.
        srv = self.start_server(app=None, use_config=False,
                                args=["-b", "127.0.0.1:{port}",
                                      app_path("hello") + ":greenicorn_app"])
        self.assertEqual(srv.get("/")[2], b"Hello, World!")


if __name__ == "__main__":
    unittest.main()
