#!/usr/bin/env python3
"""The green worker as a handler author meets it: a stack overflow is
reported as one (with the setting to raise), a client that leaves is
logged 499 and its handler runs to its end (or is cancelled, with
cancel_on_disconnect), and waits overlap."""
import errno
import os
import socket
import threading
import time
import unittest

from harness import RawConn, ServerTestCase, test_plugin_path, wait_until


class StackOverflowTest(ServerTestCase):

    def setUp(self):
        # Under ASan, let the fault reach our handler and kill the worker
        # as it would without ASan.
        saved = os.environ.get("ASAN_OPTIONS")
        os.environ["ASAN_OPTIONS"] = (saved + ":" if saved else "") + "handle_segv=0"
        self.addCleanup(lambda: os.environ.__setitem__("ASAN_OPTIONS", saved)
                        if saved is not None else os.environ.pop("ASAN_OPTIONS"))

    def test_an_overflow_is_named_with_the_setting_to_raise(self):
        srv = self.start_server(app="echo", workers=1,
                                settings={"workers": {"stack_size": 64}})
        pid = srv.wait_workers(1)[0]
        self.assertEqual(srv.get("/?recurse=10")[0], 200)
        with RawConn(srv.port) as c:
            c.send(b"GET /deep?recurse=500 HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertTrue(c.closed_by_peer(5))
        srv.wait_for_log(r"worker 1 \(pid %d\) exited on signal 11 \(SIGSEGV\): a "
                         r"coroutine overflowed its stack \(stack_size = 64 KiB: raise "
                         r"it, or move large buffers to the heap\) while serving "
                         r"\"GET /deep\?recurse=500\", respawning" % pid)
        srv.wait_workers(1)
        self.assertEqual(srv.get("/after")[0], 200)

    def test_a_larger_stack_takes_the_same_recursion(self):
        srv = self.start_server(app="echo", workers=1,
                                settings={"workers": {"stack_size": 2048}})
        status, _h, body = srv.get("/?recurse=500")
        self.assertEqual(status, 200)
        self.assertIn(b"recursed: ", body)

    def test_other_crashes_are_not_called_overflows(self):
        srv = self.start_server(app="echo", workers=1)
        with RawConn(srv.port) as c:
            c.send(b"GET /?crash=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            c.closed_by_peer(5)
        srv.wait_for_log(r"exited on signal 11 \(SIGSEGV\): it crashed")
        self.assertNotIn("overflowed", srv.log())


class CancellationTest(ServerTestCase):
    """A client that leaves mid-handler is logged 499 (as nginx logs it);
    its handler runs to its end with its writes failing, unless
    cancel_on_disconnect is on."""

    def leave_during(self, srv, target, wait=0.3):
        with RawConn(srv.port) as c:
            c.send(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target.encode())
            time.sleep(wait)

    def wait_for_access(self, srv, target, status):
        line = '"GET %s HTTP/1.1" %d ' % (target, status)
        wait_until(lambda: line in srv.access_log(), 5,
                   what="access log line %s\n%s" % (line, srv.access_log()))

    def test_a_client_that_leaves_lets_its_handler_finish(self):
        srv = self.start_server(app=test_plugin_path("contract"), workers=1,
                                accesslog=True)
        self.leave_during(srv, "/finish?sleep=1.5")
        # Not cancelled: the sleep ran out, then the writes failed quietly.
        srv.wait_for_log(r"contract: finished \(sleep 0, write %d, flush %d\)"
                         % (-errno.EPIPE, -errno.EPIPE), timeout=10)
        self.wait_for_access(srv, "/finish?sleep=1.5", 499)
        self.assertNotIn(" 500 ", srv.access_log())
        self.assertNotIn("failed on", srv.log())
        self.assertEqual(srv.get("/status?code=200")[0], 200)

    def test_an_echo_client_that_leaves_is_logged_499(self):
        srv = self.start_server(app="echo", workers=1, accesslog=True)
        self.leave_during(srv, "/long?sleep=1")
        self.wait_for_access(srv, "/long?sleep=1", 499)
        self.assertNotIn("app echo failed", srv.log())

    def test_cancel_on_disconnect_cancels_its_waits(self):
        srv = self.start_server(app=test_plugin_path("contract"), workers=1,
                                accesslog=True,
                                settings={"http": {"cancel_on_disconnect": "on"}})
        self.leave_during(srv, "/finish?sleep=30")
        started = time.monotonic()
        srv.wait_for_log(r"contract: finished \(sleep %d, write %d, flush %d\)"
                         % (-errno.ECANCELED, -errno.EPIPE, -errno.EPIPE), timeout=5)
        self.assertLess(time.monotonic() - started, 3)
        self.wait_for_access(srv, "/finish?sleep=30", 499)

    def test_a_client_that_leaves_cancels_its_handler(self):
        srv = self.start_server(app="echo", workers=1, accesslog=True,
                                settings={"logging": {"loglevel": "debug"},
                                          "http": {"cancel_on_disconnect": "on"}})
        with RawConn(srv.port) as c:
            c.send(b"GET /long?sleep=30 HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.3)
        started = time.monotonic()
        srv.wait_for_log(r"127\.0\.0\.1 went away: cancelling \"GET /long\?sleep=30\"",
                         timeout=3)
        self.assertLess(time.monotonic() - started, 2)
        self.assertEqual(srv.get("/after")[0], 200)
        self.assertNotIn("app echo failed", srv.log())
        self.wait_for_access(srv, "/long?sleep=30", 499)

    def test_a_client_that_stays_is_served(self):
        srv = self.start_server(app="echo", workers=1)
        status, _h, body = srv.get("/?sleep=0.3")
        self.assertEqual(status, 200)


class OverlapTest(ServerTestCase):

    def test_one_worker_overlaps_many_waits(self):
        srv = self.start_server(app="echo", workers=1)
        results = []

        def one():
            results.append(srv.get("/?sleep=0.5", timeout=10)[0])

        threads = [threading.Thread(target=one) for _ in range(100)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        elapsed = time.monotonic() - started
        self.assertEqual(results, [200] * 100)
        # 100 half-second waits, one after another, would take 50 s.
        self.assertLess(elapsed, 5)


if __name__ == "__main__":
    unittest.main()
