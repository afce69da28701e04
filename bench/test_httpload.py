#!/usr/bin/env python3
"""bench/httpload against a small HTTP/1.1 server that can misbehave on demand.

    python3 bench/test_httpload.py -v     # HTTPLOAD=build/bench/httpload by default

httpload's figures are only worth something if a broken server cannot look
fast: each fault below (a status other than 200, a changed body byte, a
body cut short, bytes after the answer, an answer with no length, a
connection closed, Connection: close, a bad chunk) must make it fail, and
a correct server must pass with Content-Length and with chunked bodies,
and with latencies that match the delay it was given. The server is
asyncio from the standard library, in a thread of this process, on a free
127.0.0.1 port; every run is bounded by a timeout.
"""
import asyncio
import os
import subprocess
import sys
import threading
import unittest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
HTTPLOAD = os.environ.get("HTTPLOAD") or os.path.join(REPO, "build", "bench", "httpload")
BODY = b"Hello, World!"


class Server:
    """Answers every GET with BODY after DELAY seconds, or with one FAULT:
    None, "chunked", "empty" (Content-Length: 0), "status", "corrupt", "short", "extra", "no-length",
    "close" (the 20th request on each connection is dropped),
    "connection-close", "bad-chunk", "serial-first" (each connection's
    first request waits its turn, DELAY after the one before: a server
    slower than the burst)."""

    def __init__(self, fault=None, delay=0.0):
        self.fault = fault
        self.delay = delay
        self.requests = 0
        self.targets = set()
        self.connections = 0
        self.first_at = []  # each connection's first request, loop time
        self.turn = None  # serial-first: the first requests' lock
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("test server did not start")

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self.handle, "127.0.0.1", 0, backlog=1024))
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    def stop(self):
        async def shut():
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def answer(self):
        f = self.fault
        if f == "chunked":
            # Two chunks (one with an extension) and a trailer.
            return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5\r\nHello\r\n8;x=y\r\n, World!\r\n0\r\nX-T: 1\r\n\r\n")
        if f == "bad-chunk":
            return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5\r\nHello!!\r\n0\r\n\r\n")
        status = b"500 Internal Server Error" if f == "status" else b"200 OK"
        body = b"" if f == "empty" else BODY
        if f == "corrupt":
            body = b"Hello, World?"
        head = b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\n"
        if f == "short":
            body = b"Hello"
        if f == "connection-close":
            head += b"Connection: close\r\n"
        if f != "no-length":
            head += b"Content-Length: %d\r\n" % len(body)
        out = head + b"\r\n" + body
        if f == "extra":
            out += b"HTTP/1.1 200 OK\r\n"
        return out

    async def handle(self, reader, writer):
        self.connections += 1
        n = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.targets.add(head.split(b" ")[1].decode())
                if n == 0:
                    self.first_at.append(self.loop.time())
                n += 1
                self.requests += 1
                if self.fault == "close" and n == 20:
                    return
                if self.fault == "serial-first" and n == 1:
                    self.turn = self.turn or asyncio.Lock()
                    async with self.turn:
                        await asyncio.sleep(self.delay)
                elif self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(self.answer())
                if self.fault in ("no-length", "connection-close"):
                    await writer.drain()
                    return
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def httpload(port, *args, timeout=60):
    return subprocess.run([HTTPLOAD, "-p", str(port)] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout)


def results(out):
    return {w[1]: float(w[2]) for w in (line.split() for line in out.splitlines())
            if w and w[0] == "result"}


class HttploadTest(unittest.TestCase):
    def run_against(self, fault, *args, delay=0.0):
        server = self.server = Server(fault, delay)
        try:
            return httpload(server.port, *args)
        finally:
            server.stop()

    def assert_fails(self, fault, message, *args):
        r = self.run_against(fault, "-c", 3, "-d", 1, "-w", 0, "-t", 5,
                             "--expect-body", BODY.decode(), *args)
        self.assertEqual(r.returncode, 1, "httpload passed a server with fault %s:\n%s"
                         % (fault, r.stdout))
        self.assertIn(message, r.stderr)

    def assert_passes(self, fault, *args, delay=0.0):
        r = self.run_against(fault, *args, delay=delay)
        self.assertEqual(r.returncode, 0, r.stderr)
        return results(r.stdout), r.stdout

    def test_reports_requests_and_latency(self):
        res, out = self.assert_passes(None, "-c", 20, "-d", 1, "-w", 0.3,
                                      "--path", "/sleep", "--expect-body", BODY.decode(),
                                      delay=0.02)
        # 20 connections each waiting 20 ms: at most 1,000 answers a second.
        self.assertGreater(res["requests"], 200)
        self.assertLessEqual(res["rps"], 1000 * 1.05)
        self.assertAlmostEqual(res["rps"], res["requests"] / res["seconds"],
                               delta=res["rps"] * 0.001 + 1)
        self.assertGreaterEqual(res["p50_ms"], 20)
        self.assertLess(res["p50_ms"], 200)
        self.assertLessEqual(res["p50_ms"], res["p75_ms"])
        self.assertLessEqual(res["p75_ms"], res["p90_ms"])
        self.assertLessEqual(res["p90_ms"], res["p99_ms"])
        self.assertLessEqual(res["p99_ms"], res["max_ms"])
        # The first answers, in the warm-up: each waited its 20 ms too.
        self.assertGreaterEqual(res["first_p50_ms"], 20)
        self.assertLessEqual(res["first_p50_ms"], res["first_p99_ms"])
        self.assertLessEqual(res["first_p99_ms"], res["first_max_ms"])
        self.assertLess(res["first_max_ms"], 1000)
        self.assertEqual(res["errors"], 0)
        self.assertGreater(res["client_cpu_us"], 0)
        self.assertEqual(self.server.targets, {"/sleep"})
        self.assertEqual(self.server.connections, 20)
        phases = [line.split()[1] for line in out.splitlines() if line.startswith("phase")]
        self.assertEqual(phases, ["open", "warm", "measure", "end"])
        self.assertIn("phase open 20 ", out)

    def test_cold_run_has_no_warm_up(self):
        res, out = self.assert_passes(None, "-c", 5, "-d", 0.5, "-w", 0)
        phases = [line.split()[1] for line in out.splitlines() if line.startswith("phase")]
        self.assertEqual(phases, ["open", "measure", "end"])
        self.assertGreater(res["requests"], 10)
        self.assertEqual(self.server.targets, {"/"})

    def test_ramp_spreads_the_first_requests(self):
        res, _ = self.assert_passes(None, "-c", 10, "-d", 1, "-w", 0, "--ramp", 0.5)
        self.assertGreater(res["requests"], 100)
        spread = max(self.server.first_at) - min(self.server.first_at)
        self.assertGreater(spread, 0.35)  # the 10th at 0.45 s
        self.assertLess(spread, 0.7)
        res, _ = self.assert_passes(None, "-c", 10, "-d", 0.3, "-w", 0)
        self.assertLess(max(self.server.first_at) - min(self.server.first_at), 0.2)

    def test_first_round_spans(self):
        # A server that keeps up: the first answers come over the span the
        # requests went over (a ramp of 0.3 s), each 20 ms after its own.
        res, _ = self.assert_passes(None, "-c", 10, "-d", 0.5, "-w", 0, "--ramp", 0.3,
                                    delay=0.02)
        self.assertGreater(res["first_sent_ms"], 220)  # the 10th at 0.27 s
        self.assertLess(res["first_sent_ms"], 400)
        self.assertLess(abs(res["first_answered_ms"] - res["first_sent_ms"]), 60)
        # One that serves the burst's first requests one at a time, 30 ms
        # each: sent at once, answered over at least 9 turns.
        res, _ = self.assert_passes("serial-first", "-c", 10, "-d", 0.5, "-w", 0,
                                    delay=0.03)
        self.assertLess(res["first_sent_ms"], 100)
        self.assertGreater(res["first_answered_ms"], 260)
        self.assertLess(res["first_answered_ms"], 1000)

    def test_chunked_bodies_are_parsed(self):
        res, _ = self.assert_passes("chunked", "-c", 5, "-d", 0.5, "-w", 0,
                                    "--expect-body", BODY.decode())
        self.assertGreater(res["requests"], 10)

    def test_an_empty_body_ends_the_answer(self):
        res, _ = self.assert_passes("empty", "-c", 3, "-d", 0.3, "-w", 0)
        self.assertGreater(res["requests"], 10)

    def test_no_expected_body_takes_any_body(self):
        res, _ = self.assert_passes("corrupt", "-c", 2, "-d", 0.3, "-w", 0)
        self.assertGreater(res["requests"], 10)

    def test_fails_on_a_status_other_than_200(self):
        self.assert_fails("status", 'not "HTTP/1.1 200"')

    def test_fails_on_a_changed_body(self):
        self.assert_fails("corrupt", "body differs")

    def test_fails_on_a_short_body(self):
        self.assert_fails("short", "a 5-byte body")

    def test_fails_on_bytes_after_the_answer(self):
        self.assert_fails("extra", "after the answer")

    def test_fails_on_an_answer_without_a_length(self):
        self.assert_fails("no-length", "neither Content-Length nor chunked")

    def test_fails_when_the_server_closes(self):
        self.assert_fails("close", "closed the connection")

    def test_fails_on_connection_close(self):
        self.assert_fails("connection-close", "closes a keep-alive connection")

    def test_fails_on_a_bad_chunk(self):
        self.assert_fails("bad-chunk", "CRLF after a chunk")

    def test_fails_when_nobody_listens(self):
        server = Server()
        port = server.port
        server.stop()
        r = httpload(port, "-c", 2, "-d", 1, "-t", 1)
        self.assertEqual(r.returncode, 1)
        self.assertIn("0 of 2 connections opened", r.stderr)

    def test_fails_on_an_answer_too_slow(self):
        r = self.run_against(None, "-c", 2, "-d", 3, "-w", 0, "-t", 1, delay=2.5)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("no whole answer in 1 s", r.stderr)


if __name__ == "__main__":
    if not os.access(HTTPLOAD, os.X_OK):
        sys.exit("test_httpload: no %s (build it, or set HTTPLOAD)" % HTTPLOAD)
    unittest.main()
