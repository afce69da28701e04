#!/usr/bin/env python3
"""HTTP/1.1 as clients see it: keep-alive, pipelining, big and chunked
bodies both ways, HTTP/1.0, HEAD, 100-continue, bad requests, and the
access log. Driven against the echo app with http.client, raw sockets and
curl."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import harness
from harness import ServerTestCase, chunked, wait_until


def echo_request(method, target, headers=(), body=b"", version="HTTP/1.1"):
    """The bytes of one request; Host is added for HTTP/1.1 unless given."""
    lines = ["%s %s %s" % (method, target, version)]
    names = [h[0].lower() for h in headers]
    if version == "HTTP/1.1" and "host" not in names:
        lines.append("Host: e2e")
    lines += ["%s: %s" % h for h in headers]
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class HttpTest(ServerTestCase):
    """Tests that share one echo server: none changes its state."""

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(app="echo", workers=2,
                                         settings={"workers": {"keepalive": 5}})
        cls.port = cls.srv.port

    # -- keep-alive and pipelining --------------------------------------

    def test_100_keepalive_requests_on_one_connection(self):
        conn = self.srv.http()
        self.addCleanup(conn.close)
        sock = local_port = None
        for i in range(100):
            conn.request("GET", "/ka/%d" % i)
            r = conn.getresponse()
            body = r.read()
            self.assertEqual(r.status, 200)
            self.assertIsNone(r.getheader("Connection"), "request %d" % i)
            if sock is None:
                sock, local_port = conn.sock, conn.sock.getsockname()[1]
            # http.client reopens silently when the server closes: the same
            # socket object, and the same client port seen by the server.
            self.assertIs(conn.sock, sock, "socket reopened at request %d" % i)
            self.assertEqual(conn.sock.getsockname()[1], local_port)
            fields = harness.Response("", 200, "", [], body, b"").echo_fields()
            self.assertEqual(fields["target"], "/ka/%d" % i)
            self.assertEqual(fields["remote"], "127.0.0.1:%d" % local_port)

    def test_pipelined_requests_answered_in_order(self):
        # The first is the slowest (it sleeps), the second has a body: the
        # answers must still come back in request order.
        reqs = (echo_request("GET", "/first?sleep=0.2")
                + echo_request("POST", "/second", body=b"abc")
                + echo_request("GET", "/third"))
        with self.srv.raw() as c:
            c.send(reqs)
            rs = c.read_responses(3)
            self.assertEqual([r.status for r in rs], [200, 200, 200])
            self.assertEqual([r.echo_fields()["target"] for r in rs],
                             ["/first?sleep=0.2", "/second", "/third"])
            self.assertEqual(rs[1].echo_body(), b"abc")
            self.assertEqual(rs[1].echo_fields()["body-length"], "3")
            # Still open for a fourth.
            c.send(echo_request("GET", "/fourth"))
            self.assertEqual(c.read_response().echo_fields()["target"], "/fourth")

    def test_100_pipelined_requests_in_one_send(self):
        reqs = b"".join(echo_request("GET", "/p/%d" % i) for i in range(100))
        with self.srv.raw() as c:
            c.send(reqs)
            rs = c.read_responses(100)
            self.assertEqual([r.echo_fields()["target"] for r in rs],
                             ["/p/%d" % i for i in range(100)])

    # Answers to pipelined requests are held back to go out in one write;
    # none may wait for anything but the handlers before it.

    def test_held_answer_does_not_wait_for_a_slow_handler(self):
        with self.srv.raw() as c:
            start = time.monotonic()
            c.send(echo_request("GET", "/fast") + echo_request("GET", "/slow?sleep=1.5"))
            first = c.read_response()
            took = time.monotonic() - start
            self.assertEqual(first.echo_fields()["target"], "/fast")
            self.assertLess(took, 1.0, "the first answer waited for the second handler")
            self.assertEqual(c.read_response().echo_fields()["target"], "/slow?sleep=1.5")

    def test_held_answers_go_out_before_waiting_for_the_rest_of_a_request(self):
        with self.srv.raw() as c:
            partial = echo_request("GET", "/4")
            c.send(b"".join(echo_request("GET", "/%d" % i) for i in range(1, 4))
                   + partial[:10])
            rs = c.read_responses(3)  # the fourth is not complete yet
            self.assertEqual([r.echo_fields()["target"] for r in rs], ["/1", "/2", "/3"])
            c.send(partial[10:])
            self.assertEqual(c.read_response().echo_fields()["target"], "/4")

    def test_held_answers_keep_their_order_around_streams_and_close(self):
        with self.srv.raw() as c:
            c.send(echo_request("GET", "/a")
                   + echo_request("GET", "/b?stream=3")
                   + echo_request("GET", "/c", [("Connection", "close")])
                   + echo_request("GET", "/never"))
            rs = c.read_responses(3)
            self.assertEqual([r.status for r in rs], [200, 200, 200])
            self.assertEqual(rs[0].echo_fields()["target"], "/a")
            self.assertEqual(rs[1].header("Transfer-Encoding"), "chunked")
            self.assertEqual(rs[2].echo_fields()["target"], "/c")
            self.assertTrue(c.closed_by_peer(), "the connection stays open after close")

    def test_request_sent_byte_by_byte(self):
        data = echo_request("POST", "/slowly?x=1", [("X-Split", "yes")], body=b"tiny body")
        with self.srv.raw() as c:
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(len(data)):
                c.send(data[i:i + 1])
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.echo_fields()["target"], "/slowly?x=1")
            self.assertIn("X-Split: yes", r.echo_fields()["header"])
            self.assertEqual(r.echo_body(), b"tiny body")

    # -- bodies ---------------------------------------------------------

    def test_1mb_post_is_echoed(self):
        data = os.urandom(1 << 20)
        conn = self.srv.http(timeout=30)
        self.addCleanup(conn.close)
        conn.request("POST", "/upload", body=data,
                     headers={"Content-Type": "application/octet-stream"})
        r = conn.getresponse()
        body = r.read()
        self.assertEqual(r.status, 200)
        resp = harness.Response("", 200, "", [], body, b"")
        self.assertEqual(resp.echo_fields()["body-length"], "1048576")
        self.assertEqual(len(resp.echo_body()), len(data))
        self.assertTrue(resp.echo_body() == data, "echoed body differs")

    def test_streamed_response_is_chunked_http_client(self):
        data = bytes(range(256)) * 40
        conn = self.srv.http()
        self.addCleanup(conn.close)
        conn.request("POST", "/s?stream=5", body=data)
        r = conn.getresponse()
        body = r.read()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        self.assertIsNone(r.getheader("Content-Length"))
        resp = harness.Response("", 200, "", [], body, b"")
        self.assertEqual(resp.echo_fields()["body-length"], str(len(data)))
        self.assertEqual(resp.echo_body(), data)
        # The connection stays usable after a chunked response.
        conn.request("GET", "/after")
        self.assertIn(b"target: /after\n", conn.getresponse().read())

    def test_streamed_response_chunk_framing_raw(self):
        data = b"0123456789" * 100
        with self.srv.raw() as c:
            c.send(echo_request("POST", "/s?stream=5", body=data))
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("Transfer-Encoding"), "chunked")
            self.assertIsNone(r.header("Content-Length"))
            self.assertGreater(len(r.chunks), 1, "streamed answer came in one chunk")
            self.assertTrue(all(r.chunks), "an empty chunk before the last one")
            self.assertEqual(r.echo_body(), data)
            self.assertTrue(r.raw.endswith(b"\r\n0\r\n\r\n"), r.raw[-20:])
            # Nothing after the terminating chunk; the next request works.
            c.send(echo_request("GET", "/next"))
            self.assertEqual(c.read_response().echo_fields()["target"], "/next")

    def test_chunked_request_body_http_client(self):
        pieces = [b"hello ", b"chunked ", b"world" * 1000]
        conn = self.srv.http()
        self.addCleanup(conn.close)
        conn.request("POST", "/c", body=iter(pieces), encode_chunked=True)
        r = conn.getresponse()
        resp = harness.Response("", 200, "", [], r.read(), b"")
        self.assertEqual(r.status, 200)
        self.assertIn("Transfer-Encoding: chunked", resp.echo_fields()["header"])
        self.assertEqual(resp.echo_fields()["body-length"], str(len(b"".join(pieces))))
        self.assertEqual(resp.echo_body(), b"".join(pieces))

    def test_chunked_request_body_with_extensions_and_trailers(self):
        body = (b"5;name=value\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n"
                b"0\r\nX-Trailer: t\r\n\r\n")
        with self.srv.raw() as c:
            c.send(echo_request("POST", "/t", [("Transfer-Encoding", "chunked")], body)
                   + echo_request("GET", "/after-trailers"))
            r1, r2 = c.read_responses(2)
            self.assertEqual(r1.status, 200)
            self.assertEqual(r1.echo_body(), b"hello world")
            self.assertEqual(r2.echo_fields()["target"], "/after-trailers")

    # -- HTTP/1.0, HEAD, Connection -------------------------------------

    def test_http10_closes_after_response(self):
        with self.srv.raw() as c:
            c.send(b"GET /ten HTTP/1.0\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.echo_fields()["version"], "HTTP/1.0")
            self.assertIsNotNone(r.header("Content-Length"))
            self.assertTrue(c.closed_by_peer(5), "HTTP/1.0 connection left open")

    def test_http10_streamed_response_is_close_delimited(self):
        data = b"x" * 3000
        with self.srv.raw() as c:
            c.send(echo_request("POST", "/s?stream=3", body=data, version="HTTP/1.0"))
            r = c.read_response()   # no length, no chunks: read until close
            self.assertEqual(r.status, 200)
            self.assertIsNone(r.header("Transfer-Encoding"))
            self.assertIsNone(r.header("Content-Length"))
            self.assertEqual(r.echo_body(), data)

    def test_http10_keepalive_stays_open(self):
        with self.srv.raw() as c:
            c.send(b"GET /one HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual((r.header("Connection") or "").lower(), "keep-alive")
            self.assertIsNotNone(r.header("Content-Length"))
            self.assertFalse(c.closed_by_peer(0.3), "closed a keep-alive HTTP/1.0 connection")
            c.send(b"GET /two HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            self.assertEqual(c.read_response().echo_fields()["target"], "/two")
            # And without the header the next one closes.
            c.send(b"GET /three HTTP/1.0\r\n\r\n")
            self.assertEqual(c.read_response().status, 200)
            self.assertTrue(c.closed_by_peer(5))

    def test_head_has_length_but_no_body(self):
        with self.srv.raw() as c:
            c.send(echo_request("GET", "/h"))
            get = c.read_response()
            c.send(echo_request("HEAD", "/h") + echo_request("GET", "/after-head"))
            head = c.read_response("HEAD")
            self.assertEqual(head.status, 200)
            # echo's answer to HEAD is one byte longer ("HEAD" vs "GET").
            self.assertEqual(int(head.header("Content-Length")), len(get.body) + 1)
            self.assertEqual(head.body, b"")
            # If HEAD had carried a body, this would parse it as a response.
            after = c.read_response()
            self.assertEqual(after.status, 200)
            self.assertEqual(after.echo_fields()["target"], "/after-head")

    def test_head_of_streamed_response_has_no_chunks(self):
        with self.srv.raw() as c:
            c.send(echo_request("HEAD", "/?stream=3") + echo_request("GET", "/after"))
            head = c.read_response("HEAD")
            self.assertEqual(head.status, 200)
            self.assertEqual(head.body, b"")
            after = c.read_response()
            self.assertEqual(after.echo_fields()["target"], "/after")

    def test_connection_close_is_honoured(self):
        with self.srv.raw() as c:
            c.send(echo_request("GET", "/bye", [("Connection", "close")])
                   + echo_request("GET", "/never"))
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.echo_fields()["target"], "/bye")
            self.assertEqual(r.header("Connection"), "close")
            self.assertTrue(c.closed_by_peer(5), "connection left open after Connection: close")

    def test_connection_close_http_client(self):
        conn = self.srv.http()
        self.addCleanup(conn.close)
        conn.request("GET", "/c1", headers={"Connection": "close"})
        r = conn.getresponse()
        r.read()
        self.assertEqual(r.getheader("Connection"), "close")
        self.assertTrue(r.will_close)

    # -- 100-continue ---------------------------------------------------

    def test_expect_100_continue(self):
        with self.srv.raw() as c:
            c.send(echo_request("POST", "/e", [("Expect", "100-continue"),
                                               ("Content-Length", "5")]))
            interim = c.read_response(allow_interim=True)
            self.assertEqual(interim.status, 100)
            self.assertEqual(interim.raw.split(b"\r\n")[0], b"HTTP/1.1 100 Continue")
            c.send(b"hello")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.echo_body(), b"hello")
            # The exchange completed: the connection goes on.
            c.send(echo_request("GET", "/after-continue"))
            self.assertEqual(c.read_response().echo_fields()["target"], "/after-continue")

    def test_expect_100_continue_curl(self):
        self.assertTrue(shutil.which("curl"), "curl is not installed (scripts/install-deps --test)")
        with tempfile.NamedTemporaryFile() as f:
            data = os.urandom(200000)
            f.write(data)
            f.flush()
            r = subprocess.run(["curl", "-s", "-v", "--max-time", "10",
                                "-H", "Expect: 100-continue", "--expect100-timeout", "5",
                                "--data-binary", "@" + f.name,
                                "http://127.0.0.1:%d/curl-upload" % self.port],
                               capture_output=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"< HTTP/1.1 100 Continue", r.stderr)
        resp = harness.Response("", 200, "", [], r.stdout, b"")
        self.assertEqual(resp.echo_body(), data)

    # -- bad requests ---------------------------------------------------

    def test_malformed_requests_get_400_and_close(self):
        bad = {
            "CL and TE": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n",
            "two Content-Lengths": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                                   b"Content-Length: 2\r\n\r\nab",
            "negative Content-Length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
            "bad header token (paren)": b"GET / HTTP/1.1\r\nHost: x\r\n(bad): y\r\n\r\n",
            "bad header token (space)": b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
            "space before colon": b"GET / HTTP/1.1\r\nHost: x\r\nX-A : y\r\n\r\n",
            "control char in name": b"GET / HTTP/1.1\r\nHost: x\r\nX\x01A: y\r\n\r\n",
            "header without colon": b"GET / HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n",
            "obs-fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
            "bare CR": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
            "bad method token": b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
            "bad version": b"GET / HTTP/1.x\r\nHost: x\r\n\r\n",
            "garbage line": b"GARBAGE\r\n\r\n",
        }
        self.assertAllRejected(bad)

    def test_design_smuggling_vectors_get_400_and_close(self):
        # DESIGN.md, HTTP/1.1: "missing or duplicate Host on HTTP/1.1" and
        # "TE other than a final chunked" are rejected with 400; a body
        # that is not valid chunked framing is the client's fault (400),
        # not the app's (500).
        bad = {
            "missing Host on HTTP/1.1": b"GET / HTTP/1.1\r\n\r\n",
            "two Hosts": b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            "TE not ending in chunked": b"POST / HTTP/1.1\r\nHost: x\r\n"
                                        b"Transfer-Encoding: gzip\r\n\r\n",
            "bad chunk size": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                              b"\r\nzz\r\nab\r\n0\r\n\r\n",
        }
        self.assertAllRejected(bad)

    def assertAllRejected(self, bad):
        """Each request of BAD gets 400 with Connection: close, and the
        connection closes; a good request pipelined behind is not served."""
        follow = echo_request("GET", "/must-not-be-served")
        for name, data in bad.items():
            with self.subTest(name):
                with self.srv.raw() as c:
                    c.send(data + follow)
                    try:
                        r = c.read_response()
                    except harness.ConnectionClosed as e:
                        self.fail("no response: %s" % e)
                    self.assertEqual(r.status, 400, "%s answered\n%r" % (name, r.raw))
                    self.assertEqual(r.header("Connection"), "close")
                    self.assertNotIn(b"must-not-be-served", c.buf)
                    self.assertTrue(c.closed_by_peer(5), "left open after 400")

    def test_unsupported_transfer_coding_is_rejected(self):
        # "chunked, gzip": chunked is not last. 400 (RFC 9112 6.3) or 501
        # (an unknown coding, RFC 9112 6.1) are both fair; 2xx is not.
        with self.srv.raw() as c:
            c.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n")
            r = c.read_response()
            self.assertIn(r.status, (400, 501), r.raw)
            self.assertTrue(c.closed_by_peer(5))


class TargetTest(ServerTestCase):
    """What the app sees of the request target."""

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(app="echo")

    def fields(self, target):
        with self.srv.raw() as c:
            c.send(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 200, r.raw)
            return r.echo_fields()

    def test_path_is_decoded_query_is_not(self):
        f = self.fields(b"/a%20b/c?x=%20&y=2")
        self.assertEqual((f["target"], f["path"], f["query"]),
                         ("/a%20b/c?x=%20&y=2", "/a b/c", "x=%20&y=2"))

    def test_absolute_form(self):
        f = self.fields(b"http://example.com/p/q?r=1")
        self.assertEqual((f["path"], f["query"]), ("/p/q", "r=1"))

    def test_headers_in_order_with_repeats(self):
        with self.srv.raw() as c:
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-B: 1\r\nX-A: 2\r\nX-B: 3\r\n\r\n")
            f = c.read_response().echo_fields()
        self.assertEqual(f["header"], ["Host: x", "X-B: 1", "X-A: 2", "X-B: 3"])


class LimitsAndTimeoutsTest(ServerTestCase):

    def test_long_request_line_gets_414(self):
        srv = self.start_server(app="echo")
        with srv.raw() as c:
            c.send(b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 414, r.raw)
            self.assertTrue(c.closed_by_peer(5))

    def test_huge_header_gets_431(self):
        srv = self.start_server(app="echo")
        for name, head in [("one huge", b"X-Big: " + b"a" * 100000 + b"\r\n"),
                           ("too many", b"".join(b"X-%d: a\r\n" % i for i in range(500)))]:
            with self.subTest(name), srv.raw() as c:
                c.send(b"GET / HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n")
                r = c.read_response()
                self.assertEqual(r.status, 431, r.raw)
                self.assertTrue(c.closed_by_peer(5))

    def test_idle_keepalive_connection_is_closed(self):
        srv = self.start_server(app="echo", settings={"workers": {"keepalive": 1}})
        with srv.raw() as c:
            c.send(echo_request("GET", "/idle"))
            self.assertEqual(c.read_response().status, 200)
            self.assertTrue(c.closed_by_peer(6), "idle connection kept past keepalive")

    def test_keepalive_0_closes_after_each_response(self):
        srv = self.start_server(app="echo", settings={"workers": {"keepalive": 0}})
        with srv.raw() as c:
            c.send(echo_request("GET", "/once"))
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("Connection"), "close")
            self.assertTrue(c.closed_by_peer(5))

    def test_one_worker_serves_sleeping_requests_concurrently(self):
        # 40 requests that each sleep 0.5 s: one after the other, 20 s; a
        # green worker overlaps them. The bound is loose on purpose.
        srv = self.start_server(app="echo", workers=1)
        srv.wait_workers(1)
        start = time.monotonic()
        with ThreadPoolExecutor(40) as ex:
            statuses = list(ex.map(lambda i: srv.get("/?sleep=0.5", timeout=30)[0], range(40)))
        self.assertEqual(statuses, [200] * 40)
        self.assertLess(time.monotonic() - start, 10)

    def test_worker_connections_cap_queues_not_drops(self):
        srv = self.start_server(app="echo", workers=1,
                                settings={"workers": {"worker_connections": 2}})
        srv.wait_workers(1)
        with ThreadPoolExecutor(6) as ex:
            statuses = list(ex.map(lambda i: srv.get("/?sleep=0.2", timeout=30)[0], range(6)))
        self.assertEqual(statuses, [200] * 6)


class ErrorPageTest(ServerTestCase):
    """error_page: the server's own error answers (404 without a mount,
    413, 414, 431, 400 ...) with the operator's body and content type per
    status, read at start-up and on HUP; other statuses keep the short
    text/plain answer."""

    NOT_FOUND = b'{"error": "not found"}\n'
    TOO_BIG = b'{"type": "about:blank", "title": "too big"}\n'
    BAD = b"bad request, see the docs\n"

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="gn-error-pages-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        for name, body in [("404.json", cls.NOT_FOUND), ("big.json", cls.TOO_BIG),
                           ("400.txt", cls.BAD)]:
            with open(os.path.join(cls.dir, name), "wb") as f:
                f.write(body)
        cls.srv = cls.start_class_server(app=None, workers=1, settings={
            "http": {"limit_request_body": 10, "limit_request_line": 200,
                     "limit_request_fields": 5, "header_timeout": 1,
                     "error_page": [
                         "404 %s/404.json" % cls.dir,
                         "413 414 431 %s/big.json application/problem+json" % cls.dir,
                         "400 %s/400.txt" % cls.dir]},
            "app:api": {"module": harness.app_path("echo"), "mount": "/api"}})

    def answer(self, data, method="GET"):
        with self.srv.raw() as c:
            c.send(data)
            r = c.read_response(method)
            closed = c.closed_by_peer(5)
        return r, closed

    def test_404_without_a_mount_is_the_page_and_keeps_the_connection(self):
        with self.srv.raw() as c:
            c.send(echo_request("GET", "/nothing") + echo_request("GET", "/api/x"))
            r = c.read_response()
            self.assertEqual(r.status, 404, r.raw)
            self.assertEqual(r.header("Content-Type"), "application/json")
            self.assertEqual(r.body, self.NOT_FOUND)
            self.assertEqual(c.read_response().status, 200)

    def test_a_head_request_gets_the_pages_length_and_no_body(self):
        r, _ = self.answer(echo_request("HEAD", "/nothing"), method="HEAD")
        self.assertEqual(r.status, 404, r.raw)
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(r.header("Content-Length"), str(len(self.NOT_FOUND)))
        self.assertEqual(r.body, b"")

    def test_413_414_431_share_a_page_with_the_type_named(self):
        long_line = b"GET /api/" + b"a" * 300 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        many = echo_request("GET", "/api/x", [("X-%d" % i, "a") for i in range(10)])
        for name, data, status in [
                ("body", echo_request("POST", "/api/x", body=b"b" * 11), 413),
                ("chunked", echo_request("POST", "/api/x",
                                         [("Transfer-Encoding", "chunked")],
                                         chunked([b"b" * 11])), 413),
                ("line", long_line, 414), ("fields", many, 431)]:
            with self.subTest(name):
                r, closed = self.answer(data)
                self.assertEqual(r.status, status, r.raw)
                self.assertEqual(r.header("Content-Type"), "application/problem+json")
                self.assertEqual(r.body, self.TOO_BIG)
                self.assertEqual(r.header("Connection"), "close")
                self.assertTrue(closed)

    def test_400_has_its_page_and_others_stay_text(self):
        r, closed = self.answer(b"GET /api/x HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Length: abc\r\n\r\n")
        self.assertEqual(r.status, 400, r.raw)
        self.assertEqual(r.header("Content-Type"), "text/plain; charset=utf-8")
        self.assertEqual(r.body, self.BAD)
        self.assertTrue(closed)
        # 408 (header_timeout) has no page: the server's short text answer.
        r, _ = self.answer(b"GET /api/x HTTP/1.1\r\nHost: x\r\n")
        self.assertEqual(r.status, 408, r.raw)
        self.assertEqual(r.header("Content-Type"), "text/plain", r.raw)
        self.assertEqual(r.body, b"408 Request Timeout\n")


class ErrorPageReloadTest(ServerTestCase):
    """The pages are read again on HUP; one that cannot be read then is a
    configuration error naming the file, line and key, and the running
    configuration (and its pages) goes on serving."""

    def test_hup_rereads_the_pages_and_keeps_them_on_error(self):
        tmp = tempfile.mkdtemp(prefix="gn-error-pages-")
        self.addCleanup(shutil.rmtree, tmp, True)
        page = os.path.join(tmp, "404.json")
        with open(page, "w") as f:
            f.write('{"v": 1}')
        srv = self.start_server(app=None, workers=1, settings={
            "http": {"error_page": "404 %s" % page},
            "app:api": {"module": harness.app_path("echo"), "mount": "/api"}})
        self.assertEqual(srv.get("/x")[2], b'{"v": 1}')
        with open(page, "w") as f:
            f.write('{"v": 2}')
        self.assertEqual(srv.get("/x")[2], b'{"v": 1}', "read at start-up only")
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(r"reload: 1 new worker\(s\) up", timeout=10)
        wait_until(lambda: srv.get("/x")[2] == b'{"v": 2}', 10, what="the new page")
        # A page that is gone: the reload fails and says where and why.
        with open(srv.config_path) as f:
            lines = f.read().splitlines()
        at = lines.index("error_page = 404 %s" % page)
        lines[at] = "error_page = 404 %s/gone.json" % tmp
        with open(srv.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(r"reload failed, keeping the running configuration: "
                         r"%s:%d: error_page: cannot read '%s/gone.json': "
                         r"No such file or directory"
                         % (re.escape(srv.config_path), at + 1, re.escape(tmp)),
                         timeout=10)
        status, headers, body = srv.get("/x")[:3]
        self.assertEqual((status, body), (404, b'{"v": 2}'))


class PeerAddressTest(ServerTestCase):
    """An IPv6 client prints as [addr]:port, as in a URI, so its port is
    never read as a part of its address (#18). The clients are named by a
    PROXY header and by X-Forwarded-For: traffic stays on 127.0.0.1."""

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(app="echo", settings={"proxy": {"proxy_protocol": "on"}})

    def remote(self, proxy_header, headers=()):
        with self.srv.raw() as c:
            c.send(proxy_header + echo_request("GET", "/peer", headers))
            r = c.read_response()
        self.assertEqual(r.status, 200, r.raw)
        return r.echo_fields()

    def test_ipv6_client_of_a_proxy_header_in_brackets(self):
        f = self.remote(b"PROXY TCP6 2001:db8::1 ::1 5555 8080\r\n")
        self.assertEqual(f["remote"], "[2001:db8::1]:5555")
        self.assertEqual(f["server"], "127.0.0.1:%d" % self.srv.port)

    def test_ipv4_client_of_a_proxy_header_without_brackets(self):
        f = self.remote(b"PROXY TCP4 198.51.100.2 127.0.0.1 5151 8080\r\n")
        self.assertEqual(f["remote"], "198.51.100.2:5151")

    def test_ipv6_client_of_x_forwarded_for_in_brackets(self):
        # A proxy does not say the port: 0, still unambiguous.
        f = self.remote(b"PROXY TCP4 127.0.0.1 127.0.0.1 4000 8080\r\n",
                        [("X-Forwarded-For", "2001:db8::7")])
        self.assertEqual(f["remote"], "[2001:db8::7]:0")


class UnreadBodyTest(ServerTestCase):
    """hello never reads the request body: the server must skip it."""

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(app="hello")

    def test_unread_bodies_are_skipped_between_pipelined_requests(self):
        with self.srv.raw() as c:
            c.send(echo_request("POST", "/1", body=b"x" * 5000)
                   + echo_request("POST", "/2", [("Transfer-Encoding", "chunked")],
                                  chunked([b"abc", b"defg"]))
                   + echo_request("GET", "/3"))
            rs = c.read_responses(3)
            self.assertEqual([(r.status, r.body) for r in rs], [(200, b"Hello, World!")] * 3)

    def test_expect_100_continue_not_sent_when_body_is_not_read(self):
        with self.srv.raw() as c:
            c.send(echo_request("POST", "/", [("Expect", "100-continue"),
                                              ("Content-Length", "5")]))
            r = c.read_response(allow_interim=True)
            self.assertEqual(r.status, 200, "sent %r first" % r.raw)
            self.assertEqual(r.body, b"Hello, World!")
            # The client may or may not send the body now, so what follows
            # cannot be told from it: the server says so and closes.
            self.assertEqual(r.header("Connection"), "close", r.raw)
            self.assertTrue(c.closed_by_peer(5), "left open after an unread 100-continue body")


class AccessLogTest(ServerTestCase):

    COMBINED = re.compile(
        r'^(?P<host>\S+) - (?P<user>\S+) \[(?P<time>\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] '
        r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+|-) '
        r'"(?P<referer>[^"]*)" "(?P<agent>[^"]*)"$')

    def test_one_combined_line_per_request(self):
        srv = self.start_server(app="echo", accesslog=True)
        conn = srv.http()
        self.addCleanup(conn.close)
        sizes = []
        for i in range(3):
            conn.request("GET", "/log/%d?q=%d" % (i, i),
                         headers={"Referer": "http://ref.example/%d" % i,
                                  "User-Agent": "e2e-agent/%d" % i})
            r = conn.getresponse()
            sizes.append(len(r.read()))
        conn.request("POST", "/log/post", body=b"12345")
        r = conn.getresponse()
        sizes.append(len(r.read()))
        with srv.raw() as c:   # a rejected request is logged too
            c.send(b"GARBAGE\r\n\r\n")
            self.assertEqual(c.read_response().status, 400)

        lines = harness.wait_until(
            lambda: (lambda ls: ls if len(ls) >= 5 else None)(srv.access_log().splitlines()),
            5, what="5 access log lines")
        self.assertEqual(len(lines), 5, lines)
        parsed = []
        for line in lines:
            m = self.COMBINED.match(line)
            self.assertIsNotNone(m, "not combined format: %r" % line)
            parsed.append(m)
        for i in range(3):
            m = parsed[i]
            self.assertEqual(m["host"], "127.0.0.1")
            self.assertEqual(m["request"], "GET /log/%d?q=%d HTTP/1.1" % (i, i))
            self.assertEqual(m["status"], "200")
            self.assertEqual(m["bytes"], str(sizes[i]))
            self.assertEqual(m["referer"], "http://ref.example/%d" % i)
            self.assertEqual(m["agent"], "e2e-agent/%d" % i)
        self.assertEqual(parsed[3]["request"], "POST /log/post HTTP/1.1")
        self.assertEqual(parsed[3]["bytes"], str(sizes[3]))
        self.assertEqual(parsed[4]["status"], "400")

    def test_access_log_format_atoms(self):
        fmt = ('%(h)s|%(u)s|%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(B)s|%(b)s|%(D)s|'
               '%(L)s|%(p)s|%({x-trace}i)s|%({content-type}o)s|%({GN_E2E}e)s|%%')
        os.environ["GN_E2E"] = "env-value"  # inherited by the server
        self.addCleanup(os.environ.pop, "GN_E2E", None)
        srv = self.start_server(app="echo", accesslog=True,
                                settings={"logging": {"access_log_format": fmt}})
        conn = srv.http()
        self.addCleanup(conn.close)
        conn.request("GET", "/a%20b?x=1", headers={
            "Authorization": "Basic YWxpY2U6c2VjcmV0",  # alice:secret
            "X-Trace": 'has "quotes"\tand a tab'})
        r = conn.getresponse()
        size = len(r.read())
        conn.request("HEAD", "/h")
        conn.getresponse().read()
        lines = harness.wait_until(
            lambda: (lambda ls: ls if len(ls) >= 2 else None)(srv.access_log().splitlines()),
            5, what="2 access log lines")
        f = lines[0].split("|")
        self.assertEqual(f[:9], ["127.0.0.1", "alice", "GET", "/a b", "x=1", "HTTP/1.1",
                                 "200", str(size), str(size)])
        self.assertRegex(f[9], r"^\d+$")                    # D: microseconds
        self.assertRegex(f[10], r"^\d+\.\d{6}$")            # L: seconds
        self.assertEqual(f[11], "<%d>" % srv.worker_pids()[0])
        self.assertEqual(f[12], 'has \\"quotes\\"\\x09and a tab')  # escaped
        self.assertEqual(f[13:], ["text/plain", "env-value", "%"])
        h = lines[1].split("|")
        self.assertEqual((h[1], h[2], h[7], h[8]), ("-", "HEAD", "0", "-"))

    def test_bad_access_log_format_is_a_config_error(self):
        # From the command line it is a bad command line: exit 2.
        r = harness.run_cli(["--check-config", "--access-logformat", "%(h)s %(nope)s",
                             harness.app_path("hello")])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--access-logformat: unknown atom %(nope)s", r.stderr)


class CurlTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        assert shutil.which("curl"), "curl is not installed (scripts/install-deps --test)"
        cls.srv = cls.start_class_server(app="echo")

    def curl(self, *args):
        return subprocess.run(["curl", "-s", "--max-time", "10"] + list(args),
                              capture_output=True, timeout=20)

    def test_curl_reuses_the_connection(self):
        url = "http://127.0.0.1:%d/r" % self.srv.port
        r = self.curl("-w", "[connects=%{num_connects}]\n", url + "1", url + "2", url + "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(re.findall(rb"\[connects=(\d+)\]", r.stdout), [b"1", b"0", b"0"])

    def test_curl_chunked_upload(self):
        with tempfile.NamedTemporaryFile() as f:
            data = os.urandom(70000)
            f.write(data)
            f.flush()
            r = self.curl("-H", "Transfer-Encoding: chunked", "--data-binary", "@" + f.name,
                          "http://127.0.0.1:%d/up" % self.srv.port)
        self.assertEqual(r.returncode, 0, r.stderr)
        resp = harness.Response("", 200, "", [], r.stdout, b"")
        self.assertIn("Transfer-Encoding: chunked", resp.echo_fields()["header"])
        self.assertEqual(resp.echo_body(), data)

    def test_curl_streamed_download(self):
        r = self.curl("-i", "--data-binary", "abcdefghij" * 50,
                      "http://127.0.0.1:%d/s?stream=4" % self.srv.port)
        self.assertEqual(r.returncode, 0, r.stderr)
        head, _, body = r.stdout.partition(b"\r\n\r\n")
        self.assertIn(b"\r\nTransfer-Encoding: chunked", head)
        self.assertTrue(body.endswith(b"\n\n" + b"abcdefghij" * 50), body[-80:])

    def test_curl_http10(self):
        r = self.curl("-0", "http://127.0.0.1:%d/ten" % self.srv.port)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"version: HTTP/1.0\n", r.stdout)


if __name__ == "__main__":
    unittest.main()
