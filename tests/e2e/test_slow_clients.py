#!/usr/bin/env python3
"""Clients that hold a worker's resources without finishing (issue #3):
slowloris heads, silent connections, stalled bodies, readers that never
read, idle keep-alive connections, and thousands of open connections at
once. Each test starts a server with short [http] timeouts and checks the
client is cut off within the timeout plus a generous margin, by polling;
the lower bounds only catch a timeout that fires far too early.

    python3 tests/e2e/test_slow_clients.py -v
"""
import os
import resource
import select
import socket
import time
import unittest

from harness import IDLE_WORKER_SOCKETS, ServerTestCase, socket_fds, wait_until

MARGIN = 3.0    # seconds a timeout may fire late


def echo_get(target="/", extra=b""):
    return b"GET " + target.encode() + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"


def time_to_close(c, timeout):
    """Seconds until the server closes C (nothing may arrive first), or
    fail after TIMEOUT."""
    start = time.monotonic()
    if not c.closed_by_peer(timeout):
        raise AssertionError("connection still open after %.1f s" % timeout)
    return time.monotonic() - start


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


class TimeoutsTest(ServerTestCase):
    """One server per test, each with the timeout under test short and the
    others long, so the one that fires is the one meant."""

    def server(self, http, keepalive=30, app="echo"):
        srv = self.start_server(app=app, workers=1,
                                settings={"http": http, "workers": {"keepalive": keepalive}})
        srv.wait_workers(1)
        return srv

    def assert_still_serves(self, srv):
        self.assertEqual(srv.get("/still-serving")[0], 200)

    # -- request_timeout --------------------------------------------------

    def test_request_timeout_cancels_a_slow_handler_with_504(self):
        srv = self.server({"request_timeout": 1})
        start = time.monotonic()
        with srv.raw() as c:
            c.send(echo_get("/?sleep=30"))
            r = c.read_response()
            elapsed = time.monotonic() - start
            self.assertEqual(r.status, 504, r.raw)
            self.assertEqual(r.header("Connection"), "close")
            self.assertTrue(c.closed_by_peer(5))
        self.assertLess(elapsed, 1 + MARGIN)
        self.assertGreaterEqual(elapsed, 0.9)
        srv.wait_for_log(r"request_timeout \(1 s\) passed: cancelling "
                         r"\"GET /\?sleep=30\" from 127\.0\.0\.1")
        # A request within the limit is untouched, on the same worker.
        status, _, body = srv.get("/?sleep=0.2")
        self.assertEqual(status, 200)
        self.assert_still_serves(srv)

    # -- header_timeout ---------------------------------------------------

    def test_slowloris_is_cut_off_by_header_timeout(self):
        # One byte a second of a head that never ends: 408 about
        # header_timeout after the first byte, never another answer.
        srv = self.server({"header_timeout": 3, "first_byte_timeout": 30})
        data = b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 60
        with srv.raw() as c:
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            start, answered = time.monotonic(), False
            for i in range(len(data)):
                try:
                    c.send(data[i:i + 1])
                except (BrokenPipeError, ConnectionResetError):
                    answered = True
                    break
                if select.select([c.sock], [], [], 1.0)[0]:
                    answered = True   # an answer or the close
                    break
                if time.monotonic() - start > 3 + MARGIN:
                    break
            elapsed = time.monotonic() - start
            self.assertTrue(answered, "still reading the head after %.1f s" % elapsed)
            try:
                got = c.read_until_close(5)
            except ConnectionResetError:
                got = c.buf
        self.assertGreaterEqual(elapsed, 2.0, "cut off before header_timeout: %r" % got)
        self.assertLessEqual(elapsed, 3 + MARGIN)
        # A silent close is no pass: the client is told why.
        self.assertTrue(got.startswith(b"HTTP/1.1 408 "), got[:200])
        self.assertIn(b"\r\nConnection: close\r\n", got)
        self.assert_still_serves(srv)

    def test_part_of_a_head_then_silence_gets_408_at_header_timeout(self):
        # The case header_timeout is for: a head begun, then nothing. No
        # other limit can end it (first_byte_timeout is past, the head is
        # short), so only the header timer answers 408 and closes.
        srv = self.server({"header_timeout": 2, "first_byte_timeout": 30})
        with srv.raw() as c:
            c.send(b"GET /half HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n")
            start = time.monotonic()
            c.sock.settimeout(2 + MARGIN + 2)
            try:
                r = c.read_response()
            except socket.timeout:
                self.fail("no answer %.1f s into a half-sent head"
                          % (time.monotonic() - start))
            elapsed = time.monotonic() - start
            self.assertEqual(r.status, 408, r.raw)
            self.assertEqual(r.header("Connection"), "close")
            self.assertTrue(c.closed_by_peer(5), "left open after 408")
        self.assertGreaterEqual(elapsed, 1.5, "408 before header_timeout")
        self.assertLessEqual(elapsed, 2 + MARGIN)
        self.assert_still_serves(srv)

    def test_slow_but_complete_head_is_served(self):
        srv = self.server({"header_timeout": 3, "first_byte_timeout": 30})
        data = echo_get("/slow-ok", b"X-A: 1\r\n")
        with srv.raw() as c:
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(0, len(data), 10):
                c.send(data[i:i + 10])
                time.sleep(0.3)   # about 1.5 s in all, well inside 3 s
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.echo_fields()["path"], "/slow-ok")

    # -- first_byte_timeout -----------------------------------------------

    def test_silent_connection_closed_after_first_byte_timeout(self):
        srv = self.server({"first_byte_timeout": 2, "header_timeout": 30}, keepalive=30)
        with srv.raw() as c:
            elapsed = time_to_close(c, 2 + MARGIN + 2)  # no response bytes allowed
        self.assertGreaterEqual(elapsed, 1.5, "closed before first_byte_timeout")
        self.assertLessEqual(elapsed, 2 + MARGIN)
        self.assert_still_serves(srv)

    def test_first_byte_inside_first_byte_timeout_is_served(self):
        srv = self.server({"first_byte_timeout": 2, "header_timeout": 30})
        with srv.raw() as c:
            time.sleep(1.0)
            c.send(echo_get("/late"))
            self.assertEqual(c.read_response().status, 200)

    # -- body_timeout -----------------------------------------------------

    def assert_body_stall_gets_408(self, srv, head_and_part):
        with srv.raw() as c:
            c.send(head_and_part)
            start = time.monotonic()
            c.sock.settimeout(2 + MARGIN + 2)
            try:
                r = c.read_response()
            except socket.timeout:
                self.fail("no answer %.1f s into a stalled body" % (time.monotonic() - start))
            elapsed = time.monotonic() - start
            self.assertEqual(r.status, 408, r.raw)
            self.assertEqual(r.header("Connection"), "close")
            self.assertTrue(c.closed_by_peer(5), "left open after 408")
        self.assertGreaterEqual(elapsed, 1.5, "408 before body_timeout")
        self.assertLessEqual(elapsed, 2 + MARGIN)
        self.assert_still_serves(srv)

    def test_stalled_body_gets_408_after_body_timeout(self):
        srv = self.server({"body_timeout": 2, "header_timeout": 30})
        self.assert_body_stall_gets_408(
            srv, b"POST /stall HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")

    def test_stalled_chunked_body_gets_408_after_body_timeout(self):
        srv = self.server({"body_timeout": 2, "header_timeout": 30})
        self.assert_body_stall_gets_408(
            srv, b"POST /stall HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"5\r\nhello\r\n10\r\nabc")

    def test_slow_body_with_short_pauses_is_served(self):
        # body_timeout bounds each pause, not the whole body: 4 pauses of
        # 1 s with body_timeout = 2.
        srv = self.server({"body_timeout": 2, "header_timeout": 30})
        with srv.raw() as c:
            c.send(b"POST /slow-body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
            for b in b"hell":
                time.sleep(1.0)
                c.send(bytes([b]))
            time.sleep(1.0)
            c.send(b"o")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.echo_body(), b"hello")

    # -- write_timeout ----------------------------------------------------

    def test_reader_that_never_reads_is_cut_off_by_write_timeout(self):
        # 100 MB asked for and never read: the server must give up about
        # write_timeout after its buffers filled, and not have kept the
        # answer in memory.
        size = 100 * 1024 * 1024
        srv = self.server({"write_timeout": 3, "header_timeout": 30, "body_timeout": 30},
                          keepalive=60)
        worker = srv.worker_pids()[0]
        self.assertEqual(srv.get("/warm-up")[0], 200)
        # Only the listener (and the peer channel) once the warm-up (and
        # the harness's start-up probe) connections are closed.
        idle_sockets = wait_until(lambda: socket_fds(worker) == IDLE_WORKER_SOCKETS
                                  and IDLE_WORKER_SOCKETS, 5,
                                  what="the worker to close earlier connections")
        base_rss = vm_rss_kb(worker)

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", srv.port))
        self.addCleanup(sock.close)
        sock.sendall(echo_get("/?size=%d" % size))
        start = time.monotonic()
        wait_until(lambda: socket_fds(worker) > idle_sockets, 5,
                   what="the worker to hold the connection")
        try:
            wait_until(lambda: socket_fds(worker) == idle_sockets, 3 + MARGIN + 6,
                       interval=0.1, what="the worker to drop the connection (write_timeout = 3)")
        except AssertionError as e:
            sock.settimeout(1)
            try:
                got = sock.recv(1 << 16)
            except (socket.timeout, OSError):
                got = b""
            raise AssertionError("%s; the client had %d bytes waiting, starting %r"
                                 % (e, len(got), got[:300])) from None
        elapsed = time.monotonic() - start
        self.assertLessEqual(elapsed, 3 + MARGIN + 3)
        self.assertGreaterEqual(elapsed, 2.0, "dropped before write_timeout")

        # What the client gets is a cut-off 200, not the 100 MB.
        got, reset = b"", False
        try:
            while True:
                data = sock.recv(1 << 20)
                if not data:
                    break
                got += data
        except ConnectionResetError:
            reset = True
        except socket.timeout:
            self.fail("the client's connection is still open (%d bytes read)" % len(got))
        self.assertTrue(reset or got.startswith(b"HTTP/1.1 200 "), got[:200])
        self.assertLess(len(got), size, "the whole answer was sent")

        rss = wait_until(lambda: (lambda r: r if r <= base_rss + 8192 else None)(
            vm_rss_kb(worker)), 10, interval=0.2,
            what="the worker's RSS to return to %d kB + 8 MB" % base_rss)
        self.assertLessEqual(rss, base_rss + 8192)
        self.assert_still_serves(srv)

    # -- keepalive --------------------------------------------------------

    def test_idle_keepalive_connection_closed_after_keepalive(self):
        srv = self.server({"first_byte_timeout": 30, "header_timeout": 30}, keepalive=1)
        with srv.raw() as c:
            c.send(echo_get("/idle"))
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertNotEqual(r.header("Connection"), "close")
            elapsed = time_to_close(c, 1 + MARGIN + 2)   # silently: no bytes
        self.assertGreaterEqual(elapsed, 0.5, "closed before keepalive")
        self.assertLessEqual(elapsed, 1 + MARGIN)

    def test_request_inside_keepalive_is_served(self):
        srv = self.server({"first_byte_timeout": 30}, keepalive=2)
        with srv.raw() as c:
            for i in range(3):
                c.send(echo_get("/ka/%d" % i))
                self.assertEqual(c.read_response().echo_fields()["path"], "/ka/%d" % i)
                time.sleep(1.0)


class ManyConnectionsTest(ServerTestCase):
    """2,000 connections held open, some with half a request line, do not
    stop one worker serving a new request at once."""

    HELD = 2000

    @classmethod
    def setUpClass(cls):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = cls.HELD * 2 + 256   # ours, and the server's (it inherits it)
        if soft != resource.RLIM_INFINITY and soft < want:
            if hard != resource.RLIM_INFINITY and hard < want:
                raise unittest.SkipTest("ulimit -n hard limit %d is below %d" % (hard, want))
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            cls.addClassCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))

    def test_2000_held_connections_do_not_block_a_new_request(self):
        srv = self.start_server(app="echo", workers=1,
                                settings={"workers": {"worker_connections": 4000},
                                          "server": {"backlog": 4096}})
        srv.wait_workers(1)
        held = []
        self.addCleanup(lambda: [c.close() for c in held])
        for i in range(self.HELD):
            held.append(srv.raw())
            if i % 3 == 0:
                held[-1].send(b"GET /partial-%d HT" % i)
        worker = srv.worker_pids()[0]
        wait_until(lambda: socket_fds(worker) >= self.HELD, 10, interval=0.1,
                   what="the worker to accept %d connections" % self.HELD)

        start = time.monotonic()
        status, _, body = srv.get("/fresh", timeout=10)
        elapsed = time.monotonic() - start
        self.assertEqual(status, 200)
        self.assertIn(b"path: /fresh\n", body)
        self.assertLess(elapsed, 2.0, "a new request waited %.1f s" % elapsed)

        # The held ones are still open and one of them can finish its request.
        held[0].send(b"TP/1.1\r\nHost: x\r\n\r\n")
        r = held[0].read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.echo_fields()["path"], "/partial-0")


if __name__ == "__main__":
    unittest.main()
