#!/usr/bin/env python3
"""io_engine = io_uring (net/uring.c), the default: the worker holds a
ring and its connections stay off epoll, answers keep their order (also
with the ring's batching wait, io_uring_batch_wait), closes leave no
descriptor, more held receives than the ring has buffers, and a kernel
that refuses io_uring (a seccomp filter here, as in a container) gets a
worker on epoll that says so once and serves. Every other e2e module
runs on the default engine too; test_epoll.py reruns their essentials
on epoll."""
import os
import resource
import socket
import sys
import threading
import time
import unittest

import harness
import proc_net
import wsclient
from harness import ServerTestCase

NO_IO_URING = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "no_io_uring.py")]
_plain_sections = harness.Server.config_sections


def _uring_sections(self):
    """Every server of this module on io_uring, unless a test says (the
    default today, written out so that these tests keep testing the ring
    if the default changes)."""
    sections = _plain_sections(self)
    sections["workers"].setdefault("io_engine", "io_uring")
    return sections


harness.Server.config_sections = _uring_sections


def socket_fds(pid):
    """The descriptors of process PID that are sockets."""
    fds = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:"):
                fds.append(int(fd))
        except OSError:
            pass  # closed meanwhile
    return fds


def epoll_entries(pid):
    """How many descriptors the epoll instances of process PID watch."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) != "anon_inode:[eventpoll]":
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                n += sum(1 for line in f if line.startswith("tfd:"))
        except OSError:
            pass  # closed meanwhile
    return n


class EngineTest(ServerTestCase):
    def test_worker_holds_a_ring_with_io_uring_only(self):
        srv = self.start_server(app="echo")
        (pid,) = srv.wait_workers(1)
        self.assertEqual(srv.get("/x")[0], 200)
        self.assertEqual(harness.io_uring_rings(pid), 1, srv.log())
        self.assertNotIn("using epoll", srv.log())
        plain = self.start_server(app="echo",
                                  settings={"workers": {"io_engine": "epoll"}})
        (ppid,) = plain.wait_workers(1)
        self.assertEqual(plain.get("/x")[0], 200)
        self.assertEqual(harness.io_uring_rings(ppid), 0)

    def test_connections_on_the_ring_stay_off_epoll(self):
        """A connection the ring serves is never registered with the
        worker's epoll (its receives are its read edges): 20 open
        keep-alive connections add no epoll entry."""
        srv = self.start_server(app="echo")
        (pid,) = srv.wait_workers(1)
        self.assertEqual(srv.get("/warm")[0], 200)
        before = epoll_entries(pid)
        conns = [harness.RawConn(srv.port) for _ in range(20)]
        try:
            for c in conns:
                c.send(b"GET /k HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertEqual(c.read_response().status, 200)
            self.assertGreaterEqual(len(socket_fds(pid)), 20)
            self.assertEqual(epoll_entries(pid), before)
        finally:
            for c in conns:
                c.close()

    def test_closed_connections_leave_no_descriptor(self):
        """A connection that ends with its answer (Connection: close) is
        closed by the ring after that answer went: the client reads it
        whole, then the end; the worker holds no descriptor for it."""
        srv = self.start_server(app="echo")
        (pid,) = srv.wait_workers(1)
        self.assertEqual(srv.get("/warm")[0], 200)
        before = len(socket_fds(pid))
        for i in range(50):
            with harness.RawConn(srv.port) as c:
                c.send(b"GET /c%d HTTP/1.1\r\nHost: x\r\n"
                       b"Connection: close\r\n\r\n" % i)
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.echo_fields()["target"], "/c%d" % i)
                self.assertTrue(c.closed_by_peer())
        # (BEFORE may still count the first connection, closing.)
        deadline = time.monotonic() + 10
        while len(socket_fds(pid)) > before and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertLessEqual(len(socket_fds(pid)), before)

    def test_many_requests_on_many_connections_answered_in_order(self):
        """Interleaved keep-alive connections, each one's answers in its
        own order (the ring completes them in any order)."""
        self.interleave(self.start_server(app="echo"))

    def test_a_batching_wait_answers_as_without(self):
        """io_uring_batch_wait = 20: the same interleaved connections, each
        answer in its order, while turns wait for more completions; on a
        kernel whose ring the worker does not sleep in (before 6.17) each
        worker says once that the setting is ignored, and serves."""
        srv = self.start_server(app="echo", workers=2, settings={
            "workers": {"io_uring_batch_wait": 20}})
        srv.wait_workers(2)
        self.interleave(srv)
        said = [line for line in srv.log().splitlines()
                if "io_uring_batch_wait = 20: this kernel's ring cannot" in line]
        if kernel_at_least(6, 17):  # the ring's best setup, which the loop waits in
            self.assertEqual(said, [], srv.log())
        else:  # once per worker at most
            self.assertLessEqual(len(said), 2, srv.log())

    def interleave(self, srv):
        """20 keep-alive connections to SRV's echo app, 20 rounds of one
        request each, bodies growing to about 5 KB: each answer echoes its own
        request, in each connection's order."""
        conns = [harness.RawConn(srv.port) for _ in range(20)]
        try:
            for round_ in range(20):
                for i, c in enumerate(conns):
                    body = b"%d-%d" % (i, round_) * (1 + round_ * 50)
                    c.send(b"POST /e HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                for i, c in enumerate(conns):
                    r = c.read_response("POST")
                    self.assertEqual(r.status, 200)
                    self.assertIn(b"%d-%d" % (i, round_), r.body)
        finally:
            for c in conns:
                c.close()

    def test_more_held_receives_than_ring_buffers(self):
        """1,200 connections each with a request waiting behind a sleeping
        one: each waiting request holds one of the ring's 1,024 buffers
        until its handler finishes, so the last ones find none (ENOBUFS)
        and get their receive back as buffers return. Every answer
        comes."""
        n = 1200
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < n + 200:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 500), hard))
        srv = self.start_server(app="echo", settings={
            "workers": {"worker_connections": 4000, "keepalive": 30}})
        conns = []
        try:
            for _ in range(n):
                conns.append(harness.RawConn(srv.port, timeout=60))
            for c in conns:
                c.send(b"GET /s?sleep=1.5 HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.3)  # the first requests are being served
            for i, c in enumerate(conns):
                c.send(b"GET /n%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            for i, c in enumerate(conns):
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.echo_fields()["target"], "/s?sleep=1.5")
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.echo_fields()["target"], "/n%d" % i)
        finally:
            for c in conns:
                c.close()

    def test_a_kernel_that_refuses_io_uring_gets_epoll(self):
        """io_uring_setup(2) refused (EPERM, by a seccomp filter as a
        container's profile would): each worker says so once, holds no
        ring, and serves on epoll, keep-alive and WebSocket included."""
        srv = self.start_server(app="ws_echo", workers=2, wrapper=NO_IO_URING)
        pids = srv.wait_workers(2)
        with harness.RawConn(srv.port) as c:
            for i in range(3):
                c.send(b"GET /plain%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
                self.assertEqual(c.read_response().status, 426)
        with wsclient.WsClient(srv.port, "/echo") as ws:
            ws.send_frame(wsclient.OP_TEXT, b"over epoll")
            self.assertEqual(ws.recv_message(), (wsclient.OP_TEXT, b"over epoll"))
        for pid in pids:
            self.assertEqual(harness.io_uring_rings(pid), 0, srv.log())
        log = srv.log()
        said = [line for line in log.splitlines()
                if "io_engine = io_uring: Operation not permitted; using epoll" in line]
        self.assertEqual(len(said), 2, log)


class BufferStarvationTest(ServerTestCase):
    def test_a_burst_past_the_offered_buffers_is_all_served(self):
        """The ring offers the kernel 64 to 128 receive buffers: 400
        requests that arrive while the worker spins complete at once, most
        of them without a buffer (ENOBUFS); each of those is read from its
        socket with recv(2), and every request is answered (in the second
        burst, with the offer at its largest, they once waited for the
        keep-alive timeout)."""
        n = 400
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < n + 200:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 500), hard))
        srv = self.start_server(app="echo", workers=1, settings={
            "workers": {"worker_connections": n + 100, "keepalive": 60}})
        conns = []
        try:
            for i in range(n):  # each on the ring, its receive armed
                c = harness.RawConn(srv.port, timeout=20)
                conns.append(c)
                c.send(b"GET /w%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
                self.assertEqual(c.read_response().status, 200)
            spinner = harness.RawConn(srv.port, timeout=20)
            conns.append(spinner)
            # Twice: the second burst finds the offer at its largest.
            for burst in range(2):
                spinner.send(b"GET /?spin=1 HTTP/1.1\r\nHost: x\r\n\r\n")
                time.sleep(0.3)  # the worker spins: nothing is received meanwhile
                for i, c in enumerate(conns[:n]):
                    c.send(b"GET /b%d.%d HTTP/1.1\r\nHost: x\r\n\r\n" % (burst, i))
                self.assertEqual(spinner.read_response().status, 200)
                for i, c in enumerate(conns[:n]):
                    r = c.read_response()
                    self.assertEqual(r.status, 200)
                    self.assertEqual(r.echo_fields()["target"], "/b%d.%d" % (burst, i))
        finally:
            for c in conns:
                c.close()


def kernel_at_least(major, minor):
    release = os.uname().release.split("-")[0].split(".")
    return (int(release[0]), int(release[1])) >= (major, minor)


def tcp_queues():
    """{(local port, remote port): (send queue, receive queue)} of every
    IPv4 TCP socket."""
    return {(s.local_port, s.remote_port): (s.tx_queue, s.rx_queue)
            for s in proc_net.sockets()}


class BackpressureTest(ServerTestCase):
    """A handler that does not read its body leaves it in the kernel: the
    ring takes one buffer at a time as bytes stream in, and a multishot
    receive (armed while a keep-alive connection waits for its next
    request) is cancelled once the reader falls behind. What the worker
    took off the socket while the handler sleeps is measured: the bytes
    the client wrote, less what waits in its send queue and in the
    server's receive queue."""

    BODY = 16 << 20
    # A multishot receive ends by itself after 64 KiB (net/uring.c's
    # MSHOT_TOTAL; its last buffer may hold up to 4 KiB more) on kernels
    # that take the limit (6.17+). Before, the kernel fills what it was
    # offered before the cancellation reaches it: at most 128 buffers of
    # 4 KiB (FILL_MAX).
    MOST = (16 + 1) * 4096 if kernel_at_least(6, 17) else 128 * 4096

    def taken_while_sleeping(self, srv, keep_alive_first):
        with harness.RawConn(srv.port, timeout=20) as c:
            if keep_alive_first:
                c.send(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertEqual(c.read_response().status, 200)
                time.sleep(0.2)  # the worker waits for the next request
            c.send(b"POST /?sleep=3 HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Length: %d\r\n\r\n" % self.BODY)
            c.sock.setblocking(False)
            written, chunk, start = 0, b"b" * 65536, time.monotonic()
            while time.monotonic() - start < 1.0:
                try:
                    written += c.sock.send(chunk[:self.BODY - written])
                except BlockingIOError:
                    time.sleep(0.01)
            me = c.local_port()
            queues = tcp_queues()
            taken = written - queues[(me, srv.port)][0] - queues[(srv.port, me)][1]
            # The rest of the body, then the whole answer, intact.
            c.sock.settimeout(20)
            sender = threading.Thread(target=c.sock.sendall,
                                      args=(b"b" * (self.BODY - written),))
            sender.start()
            r = c.read_response()
            sender.join()
            self.assertEqual(r.status, 200)
            body = r.echo_body()
            self.assertEqual((len(body), body.count(b"b")), (self.BODY, self.BODY))
            return written, taken

    def test_a_handler_that_does_not_read_leaves_the_body_in_the_kernel(self):
        srv = self.start_server(app="echo", workers=1)
        for keep_alive_first in (False, True):
            written, taken = self.taken_while_sleeping(srv, keep_alive_first)
            sys.stderr.write("backpressure (keep-alive first: %s): wrote %d, the worker "
                             "took %d\n" % (keep_alive_first, written, taken))
            self.assertGreater(written, 2 * self.MOST)  # the test's premise
            self.assertLessEqual(taken, self.MOST)


if __name__ == "__main__":
    unittest.main()
