#!/usr/bin/env python3
"""bench/sleepmin, the sleep rows' minimal server, checked by itself.

    python3 bench/test_sleepmin.py -v     # SLEEPMIN=build/bench/sleepmin by default

Its row in a sleep table is only a reference if it does what the servers
do: answer each request with the sleep app's 200 and body, no sooner
than its sleep, on a keep-alive connection, requests of several
connections in the order they came; and if it drops what it does not
handle (a second request before the answer, a head with no end) instead
of answering it wrongly. It runs on a free 127.0.0.1 port, with a short
sleep, and every wait is bounded.
"""
import os
import socket
import subprocess
import time
import unittest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SLEEPMIN = os.environ.get("SLEEPMIN") or os.path.join(REPO, "build", "bench", "sleepmin")
ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n"
          b"Hello, World!")
REQUEST = b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n"
SLEEP_MS = 50
WAIT = 5  # seconds any answer may take on a loaded machine


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SleepMinTest(unittest.TestCase):

    def setUp(self):
        self.port = free_port()
        self.proc = subprocess.Popen([SLEEPMIN, "-p", str(self.port), "-s", str(SLEEP_MS)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(self.stop)
        deadline = time.monotonic() + WAIT
        while True:
            # Up once it answers (a bare connect is not accepted before
            # its first bytes: TCP_DEFER_ACCEPT).
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=WAIT) as s:
                    s.sendall(REQUEST)
                    self.assertEqual(self.read_answer(s), ANSWER)
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.02)

    def stop(self):
        self.proc.kill()
        self.proc.wait(WAIT)
        self.proc.stderr.close()

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=WAIT)
        self.addCleanup(s.close)
        return s

    def read_answer(self, s):
        got = b""
        while len(got) < len(ANSWER):
            chunk = s.recv(len(ANSWER) - len(got))
            if not chunk:
                break
            got += chunk
        return got

    def assert_dropped(self, s):
        """S closed by the server with no answer: an end of file, or a
        reset where the close left bytes unread."""
        try:
            self.assertEqual(s.recv(4096), b"")
        except ConnectionResetError:
            pass

    def test_answers_after_its_sleep_on_a_kept_connection(self):
        s = self.connect()
        for _ in range(3):
            t0 = time.monotonic()
            s.sendall(REQUEST)
            self.assertEqual(self.read_answer(s), ANSWER)
            self.assertGreaterEqual(time.monotonic() - t0, SLEEP_MS / 1000)

    def test_a_head_in_pieces_is_one_request(self):
        s = self.connect()
        for part in (REQUEST[:5], REQUEST[5:20], REQUEST[20:]):
            s.sendall(part)
            time.sleep(0.01)
        self.assertEqual(self.read_answer(s), ANSWER)

    def test_connections_are_answered_in_the_order_their_requests_came(self):
        conns = [self.connect() for _ in range(20)]
        for s in conns:
            s.sendall(REQUEST)
            time.sleep(0.002)
        done = []
        for i, s in enumerate(conns):
            self.assertEqual(self.read_answer(s), ANSWER)
            done.append((time.monotonic(), i))
        self.assertEqual([i for _, i in sorted(done)], list(range(20)))

    def test_what_it_does_not_handle_is_dropped_not_answered(self):
        s = self.connect()
        s.sendall(REQUEST + REQUEST)  # a second request before the answer
        self.assert_dropped(s)
        s = self.connect()
        s.sendall(b"GET / HTTP/1.1\r\n" + b"X: " + b"y" * 2000)  # no end of head
        self.assert_dropped(s)
        # It goes on serving.
        s = self.connect()
        s.sendall(REQUEST)
        self.assertEqual(self.read_answer(s), ANSWER)

    def test_a_closed_connection_does_not_get_a_later_ones_answer(self):
        # A client leaves while its request waits; the next connection
        # takes the same descriptor, and must wait its own full sleep.
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=WAIT)
            s.sendall(REQUEST)
            s.close()
            time.sleep(SLEEP_MS / 4000)
            with socket.create_connection(("127.0.0.1", self.port), timeout=WAIT) as t:
                t0 = time.monotonic()
                t.sendall(REQUEST)
                self.assertEqual(self.read_answer(t), ANSWER)
                self.assertGreaterEqual(time.monotonic() - t0, SLEEP_MS / 1000)

    def test_usage(self):
        out = subprocess.run([SLEEPMIN], capture_output=True, timeout=WAIT)
        self.assertEqual(out.returncode, 2)
        self.assertIn(b"usage: sleepmin -p PORT", out.stderr)


if __name__ == "__main__":
    unittest.main()
