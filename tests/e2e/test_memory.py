#!/usr/bin/env python3
"""A worker gives memory back after a burst. Not registered in sanitizer
builds (tests/e2e/meson.build): ASan's allocator and shadow memory keep
what glibc's gives back, so RSS says nothing there."""
import http.client
import os
import resource
import socket
import sys
import time
import unittest
import zlib

import harness
from harness import ServerTestCase, wait_until


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


class MemoryAfterBurstTest(ServerTestCase):
    """After a burst of large uploads the worker gives the memory back:
    idle coroutine stacks and glibc's free heap pages (1 MB bodies land in
    the heap once its mmap threshold has risen)."""

    UPLOADS = 400
    SIZE = 1 << 20
    BOUND_KB = 6 * 1024  # above the worker's RSS before the burst (+11-16 MB unfixed)

    def upload_burst(self, srv):
        socks = []
        try:
            for _ in range(self.UPLOADS):
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
                socks.append(s)
                s.sendall(b"POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                          % self.SIZE)
            piece = b"x" * (64 * 1024)
            for _ in range(self.SIZE // len(piece)):  # all in flight at once
                for s in socks:
                    s.sendall(piece)
            for s in socks:  # echo answers with the body: read it whole
                r = http.client.HTTPResponse(s)
                r.begin()
                self.assertEqual(r.status, 200)
                self.assertIn(b"body-length: %d" % self.SIZE, r.read())
        finally:
            for s in socks:
                s.close()

    def test_rss_returns_after_a_burst_of_large_uploads(self):
        srv = self.start_server(app="echo", workers=1)
        (worker,) = srv.wait_workers(1)
        self.assertEqual(srv.get("/")[0], 200)
        before = rss_kb(worker)
        self.upload_burst(srv)
        try:
            wait_until(lambda: rss_kb(worker) < before + self.BOUND_KB, 15,
                       what="the worker's RSS back under %d KB" % (before + self.BOUND_KB))
        except AssertionError as e:
            raise AssertionError("%s: %d KB before the burst, %d KB after"
                                 % (e, before, rss_kb(worker))) from None
        self.assertEqual(srv.get("/")[0], 200)


def minflt(pid):
    """The minor page faults PID has taken (/proc/PID/stat, field 10)."""
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


class BackToBackBurstsTest(ServerTestCase):
    """A client that closes its connections and opens as many again a
    moment later (a benchmark's warm-up, then its run) finds the worker as
    the first burst left it: the trim waits until a burst has been over
    for a while, and the read buffers and responses of requests that
    waited together are kept, not freed in a batch that lets glibc shrink
    its heap. Either way the next burst paid a page fault per stack and
    per buffer page (tens of microseconds each on a virtual machine)."""

    CONNS = 300
    FAULTS_EACH = 0.5  # per request of the second burst (2.4-3 before)

    def burst(self, srv):
        """CONNS requests that each sleep 1 s in the handler, all in
        flight at once, then their connections closed."""
        socks = []
        try:
            for _ in range(self.CONNS):
                socks.append(socket.create_connection(("127.0.0.1", srv.port), timeout=30))
            for s in socks:  # all connected first: the requests overlap
                s.sendall(b"GET /?sleep=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            for s in socks:
                r = http.client.HTTPResponse(s)
                r.begin()
                self.assertEqual(r.status, 200)
                r.read()
        finally:
            for s in socks:
                s.close()

    def test_a_burst_right_after_another_takes_no_page_faults(self):
        srv = self.start_server(app="echo", workers=1, settings={
            "workers": {"worker_connections": 2 * self.CONNS}})
        (worker,) = srv.wait_workers(1)
        self.assertEqual(srv.get("/")[0], 200)
        self.burst(srv)
        time.sleep(1.3)  # the worker's tick (once a second) has seen it end
        before = minflt(worker)
        self.burst(srv)
        per = (minflt(worker) - before) / self.CONNS
        self.assertLess(per, self.FAULTS_EACH,
                        "%.2f page faults per request of the second burst" % per)


class WaitingRequestsTest(ServerTestCase):
    """Requests whose handlers wait hold no read buffer once more than 64
    connections hold one (net/conn.h, GN_CONN_RBUF_CROWD): their heads
    move into the request's own storage and the buffer's 4 KB go back;
    and a response takes its 1.5 KB of inline storage only when its
    handler first writes (http/response.h). 2,000 requests asleep in
    echo's handler cost 5.0-5.1 KB each, most of it the coroutine's stack
    page (6.6 when each response took its storage at once, 10.5 when each
    request kept its buffer too), and each handler still sees its own
    request line and headers."""

    REQUESTS = 2000
    BOUND_KB = 6  # per sleeping request
    ENGINE = "io_uring"

    def test_waiting_requests_give_their_read_buffers_back(self):
        srv = self.start_server(app="echo", workers=1, settings={
            "workers": {"worker_connections": self.REQUESTS + 100,
                        "io_engine": self.ENGINE},
            "server": {"backlog": 4096}})
        (worker,) = srv.wait_workers(1)
        self.assertEqual(srv.get("/")[0], 200)
        before = rss_kb(worker)
        socks = []
        try:
            for i in range(self.REQUESTS):
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
                socks.append(s)
                s.sendall(b"GET /r/%d?sleep=4 HTTP/1.1\r\nHost: x\r\n"
                          b"X-Which: request-%d\r\nAccept: */*\r\n\r\n" % (i, i))
            # All asleep: the last one is in its handler once the server
            # has read it (its listing would say; the sleep leaves ~2.5 s).
            time.sleep(1.5)
            per = (rss_kb(worker) - before) / self.REQUESTS
            for i, s in enumerate(socks):  # each saw its own head
                r = http.client.HTTPResponse(s)
                r.begin()
                body = r.read()
                self.assertEqual(r.status, 200)
                self.assertIn(b"\ntarget: /r/%d?sleep=4\n" % i, body)
                self.assertIn(b"\nheader: X-Which: request-%d\n" % i, body)
        finally:
            for s in socks:
                s.close()
        self.assertLess(per, self.BOUND_KB,
                        "%.2f KB of worker RSS per sleeping request" % per)
        # The connections stay usable: a pipelined pair on a new one is
        # served in order (the second is read behind the first's head).
        with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
            s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        self.assertLess(data.index(b"\ntarget: /a\n"), data.index(b"\ntarget: /b\n"))


class WaitingRequestsEpollTest(WaitingRequestsTest):
    ENGINE = "epoll"


class PreallocatedStacksTest(ServerTestCase):
    """stack_prealloc: a worker readies that many requests at boot, each a
    coroutine stack's top 8 KB, a 4 KB read buffer, a 1.7 KB response and
    a 0.5 KB send copy (io_uring), all touched (about 14 KB of RSS each),
    and keeps them when the trim after a burst gives the rest back."""

    STACKS = 1000
    KB_EACH = 11  # of the 14 KB touched: a bound a loaded machine keeps

    def burst_then_idle(self, srv, worker):
        socks = [socket.create_connection(("127.0.0.1", srv.port), timeout=30)
                 for _ in range(50)]
        for s in socks:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        for s in socks:
            r = http.client.HTTPResponse(s)
            r.begin()
            self.assertEqual(r.status, 200)
            r.read()
            s.close()
        time.sleep(3.5)  # the tick's trim (once a second) has run since
        return rss_kb(worker)

    def worker_rss(self, prealloc):
        srv = self.start_server(app="echo", workers=1, settings={
            "workers": {"stack_prealloc": prealloc, "worker_connections": 2000}})
        (worker,) = srv.wait_workers(1)
        self.assertEqual(srv.get("/")[0], 200)
        return rss_kb(worker), self.burst_then_idle(srv, worker)

    def test_requests_readied_at_boot_and_kept_past_a_burst(self):
        boot0, after0 = self.worker_rss(0)
        boot, after = self.worker_rss(self.STACKS)
        bound = self.STACKS * self.KB_EACH
        self.assertGreater(boot - boot0, bound,
                           "RSS at boot %d KB with %d stacks preallocated, %d KB without"
                           % (boot, self.STACKS, boot0))
        self.assertGreater(after - after0, bound,
                           "RSS after a burst %d KB with %d stacks preallocated, %d KB "
                           "without" % (after, self.STACKS, after0))


class IdleStreamMemoryTest(ServerTestCase):
    """A stream handler parked in a read holds no read buffer: 2,000 idle
    streams of tests/plugins/stream_probe.so cost about 4.7 KB each (the
    connection and the touched page of the coroutine's stack; 8.8 KB
    when the buffer stayed)."""

    STREAMS = 2000
    BOUND_KB = 6.5  # per idle stream

    def test_idle_stream_handlers_hold_no_read_buffer(self):
        from harness import free_port, test_plugin_path
        port = free_port()
        srv = self.start_server(app="hello", workers=1, settings={
            "stream:probe": {"bind": "127.0.0.1:%d" % port,
                             "module": test_plugin_path("stream_probe")},
            "workers": {"worker_connections": self.STREAMS + 100},
            "server": {"backlog": 4096}})
        (worker,) = srv.wait_workers(1)
        srv.wait_for_log(r"listening at: 127\.0\.0\.1:%d for" % port)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"warm\n")
            self.assertEqual(s.recv(10), b"warm\n")
        before = rss_kb(worker)
        socks = []
        try:
            for _ in range(self.STREAMS):
                s = socket.create_connection(("127.0.0.1", port), timeout=30)
                socks.append(s)
                s.sendall(b"hi\n")
            for s in socks:  # each handler answered, and waits for more
                self.assertEqual(s.recv(10), b"hi\n")
            per = (rss_kb(worker) - before) / self.STREAMS
            self.assertLess(per, self.BOUND_KB,
                            "%.2f KB of worker RSS per idle stream" % per)
        finally:
            for s in socks:
                s.close()


class IdleWebSocketTest(ServerTestCase):
    """An idle WebSocket (its handler parked in gn_ws_recv) costs no more
    than Node's ws does here (8.4 KB each, measured with 5,000 sockets):
    its struct, its WebSocket state, its response, and one page of stack;
    no read buffer and no message buffer while it waits."""

    # GN_WS_IDLE_SOCKETS=5000 measures as the issue did (the figure is
    # printed); 3000 keep the test quick.
    SOCKETS = int(os.environ.get("GN_WS_IDLE_SOCKETS", "3000"))
    BOUND_KB = 8.4  # per socket (9.0 with the response on the stack)
    ENGINE = None  # the default io_engine

    # What each socket sends after its handshake: "hi" in a masked frame.
    HEADERS = b""
    FIRST = b"\x81\x82abcd" + bytes(a ^ b for a, b in zip(b"hi", b"ab"))
    SETTINGS = {}

    def test_idle_websockets_cost_at_most_node_ws(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, self.SOCKETS + 500)), hard))
        settings = {"workers": {"worker_connections": self.SOCKETS + 100}}
        if self.ENGINE is not None:
            settings["workers"]["io_engine"] = self.ENGINE
        settings.update(self.SETTINGS)
        srv = self.start_server(app="ws_echo", workers=1, settings=settings)
        (worker,) = srv.wait_workers(1)
        # None: the default engine, io_uring.
        self.assertEqual(harness.io_uring_rings(worker),
                         0 if self.ENGINE == "epoll" else 1, srv.log())
        request = (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                   b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   b"Sec-WebSocket-Version: 13\r\n" + self.HEADERS + b"\r\n"
                   + self.FIRST)

        def open_many(n):
            socks = []
            for _ in range(n):
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
                s.sendall(request)
                socks.append(s)
            for s in socks:  # the 101 and the echo: the handler is parked
                buf = b""
                while not buf.endswith(b"\x81\x02hi"):
                    chunk = s.recv(4096)
                    self.assertTrue(chunk, "closed before the echo")
                    buf += chunk
                self.assertEqual(self.HEADERS.replace(b"Sec-WebSocket-Extensions: ", b"")
                                 .startswith(b"permessage-deflate"),
                                 b"\r\nSec-WebSocket-Extensions: permessage-deflate" in buf)
            return socks

        socks = open_many(50)
        try:
            time.sleep(1.5)  # the first 50's burst settles
            before = rss_kb(worker)
            socks += open_many(self.SOCKETS)
            time.sleep(3)  # the worker's tick gives back what the burst took
            per = (rss_kb(worker) - before) / self.SOCKETS
            sys.stderr.write("\n%.2f KB per idle WebSocket (%d sockets, worker RSS "
                             "%d KB before them)\n" % (per, self.SOCKETS, before))
            self.assertLessEqual(per, self.BOUND_KB,
                                 "%.2f KB per idle WebSocket" % per)
        finally:
            for s in socks:
                s.close()



class IdleEpollWebSocketTest(IdleWebSocketTest):
    """The same on epoll (the default, io_uring, costs what epoll does,
    6.5 KB each here: no send copy kept once it went, no second page of
    stack touched by the 101's send, and only the ring's buffers that
    receives needed touched; 12.0 KB each before)."""

    ENGINE = "epoll"


class IdleKeepAliveTest(ServerTestCase):
    """An idle keep-alive connection (one request answered, the next not
    come) costs its struct and little else, on either engine (issue #18:
    <= 0.5 KB, nginx 0.54 KB): epoll 0.42 KB each here, io_uring the same
    plus its transport's few bytes (1.4 KB each before: the ring's 4 MB of
    buffers all touched in turn, and each connection's send copy kept)."""

    CONNS = 5000
    BOUND_KB = 0.6  # per connection

    def idle_kb_each(self, engine):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, self.CONNS + 500)), hard))
        srv = self.start_server(app="hello", workers=1, settings={
            "workers": {"worker_connections": self.CONNS + 100, "keepalive": 120,
                        "io_engine": engine},
            "server": {"backlog": 4096}})
        (worker,) = srv.wait_workers(1)
        self.assertEqual(harness.io_uring_rings(worker), 1 if engine == "io_uring" else 0, srv.log())

        def open_many(n):
            socks = []
            for _ in range(n):
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                socks.append(s)
            for s in socks:  # answered: each waits idle for its next request
                r = http.client.HTTPResponse(s)
                r.begin()
                self.assertEqual(r.status, 200)
                r.read()
            return socks

        socks = open_many(50)
        try:
            time.sleep(1.5)  # the first 50's burst settles
            before = rss_kb(worker)
            socks += open_many(self.CONNS)
            time.sleep(3)  # the worker's tick gives back what the burst took
            per = (rss_kb(worker) - before) / self.CONNS
            sys.stderr.write("\n%s: %.2f KB per idle keep-alive connection\n" % (engine, per))
            return per
        finally:
            for s in socks:
                s.close()

    def test_idle_keepalive_connection_on_epoll(self):
        per = self.idle_kb_each("epoll")
        self.assertLessEqual(per, self.BOUND_KB, "%.2f KB per idle connection" % per)

    def test_idle_keepalive_connection_on_io_uring(self):
        per = self.idle_kb_each("io_uring")
        self.assertLessEqual(per, self.BOUND_KB, "%.2f KB per idle connection" % per)


def _deflated_hi():
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    payload = (z.compress(b"hi") + z.flush(zlib.Z_SYNC_FLUSH))[:-4]
    return (bytes([0xC1, 0x80 | len(payload)]) + b"abcd"
            + bytes(c ^ b"abcd"[i % 4] for i, c in enumerate(payload)))


class IdleCompressedWebSocketTest(IdleWebSocketTest):
    """The same with permessage-deflate agreed and the first message
    compressed (inflated with the worker's shared stream): without context
    takeover an idle socket keeps no zlib state, only its few bytes of
    permessage-deflate parameters."""

    HEADERS = b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    FIRST = _deflated_hi()
    SETTINGS = {"websocket": {"websocket_compression": "on"}}


class IdleBrowserWebSocketTest(IdleWebSocketTest):
    """The same with the head a browser sends (about 900 bytes: its user
    agent, languages, cookies, origin, extensions offered): the request
    kept for the handler's life must not cost a 4 KiB arena block."""

    HEADERS = (
        b"Origin: http://x\r\n"
        b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
        b"(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n"
        b"Accept-Encoding: gzip, deflate, br\r\n"
        b"Accept-Language: en-GB,en-US;q=0.9,en;q=0.8,fr;q=0.7\r\n"
        b"Cache-Control: no-cache\r\nPragma: no-cache\r\n"
        b"Cookie: session=" + b"s" * 200 + b"; theme=dark; _ga=" + b"g" * 120 + b"\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")


if __name__ == "__main__":
    unittest.main()
