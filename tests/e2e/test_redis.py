#!/usr/bin/env python3
"""The cooperative Redis client (contrib/green/redis.c) through the
redis-counter app, against a real redis-server each test starts on a port
of its own: exact counts under concurrency on one worker, a Redis that
does not answer holding up only its own request (with the green_db hook),
503 and a clear log line while Redis is down and recovery once it is back,
and the blocking fallback without the hook."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import harness
from harness import ServerTestCase, app_path, free_port, hook_path, wait_until

REDIS_SERVER = shutil.which("redis-server")
COUNTER = app_path("redis-counter")


def resp_command(port, *args, timeout=2.0):
    """Send one command to the Redis on PORT in RESP and return its reply:
    an int, bytes (None for a nil), or an exception instance for an error
    reply."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(out)
        f = s.makefile("rb")
        line = f.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else f.read(n + 2)[:n]
        raise AssertionError("unexpected reply %r" % line)


class RedisServer:
    """A redis-server of our own on 127.0.0.1:PORT, in a temp dir, saving
    nothing. stop() ends it (TERM, then KILL); start() again reuses the
    port."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.tmp = tempfile.mkdtemp(prefix="greenicorn-redis-")
        self.proc = None

    def start(self, timeout=10.0):
        self.proc = harness.spawn_logged(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--daemonize", "no",
             "--dir", self.tmp], self.tmp)

        def answers():
            if self.proc.poll() is not None:
                raise AssertionError("redis-server exited with %s:\n%s"
                                     % (self.proc.returncode, self.log()))
            try:
                return resp_command(self.port, "PING", timeout=0.5) == b"PONG"
            except OSError:
                return False
        wait_until(answers, timeout, interval=0.05, what="redis-server to answer PING")
        return self

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log(self):
        with open(os.path.join(self.tmp, "stdout.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def get(self, key):
        return resp_command(self.port, "GET", key)

    def connected_clients(self):
        info = resp_command(self.port, "INFO", "clients").decode()
        return int(re.search(r"connected_clients:(\d+)", info).group(1))


def silent_listener():
    """A socket listening on 127.0.0.1 that never accepts: connecting to
    it works (the kernel completes the handshake), a command sent is
    never answered. (socket, port)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s, s.getsockname()[1]


class SilentPeer:
    """A "Redis" on 127.0.0.1:PORT that accepts, reads every command and
    never answers, noting for each connection what it received and when
    the client closed it."""

    def __init__(self):
        self.sock, self.port = silent_listener()
        self.conns = []  # [{"data": bytes, "closed": bool}]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _addr = self.sock.accept()
            except OSError:
                return
            rec = {"data": b"", "closed": False}
            self.conns.append(rec)
            threading.Thread(target=self._drain, args=(c, rec), daemon=True).start()

    def _drain(self, c, rec):
        with c:
            while True:
                try:
                    data = c.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    rec["closed"] = True
                    return
                rec["data"] += data

    def close(self):
        self.sock.close()


@unittest.skipUnless(REDIS_SERVER and os.path.exists(COUNTER),
                     "needs redis-server and build/contrib/apps/redis-counter.so")
class RedisCounterTest(ServerTestCase):

    def start_redis(self, port=None):
        redis = RedisServer(port)
        self.addCleanup(redis.close)
        return redis.start()

    def start_counter(self, redis, hook=True, args=None, extra=None, workers=1):
        settings = {"app.args": dict({"port": redis.port}, **(args or {})),
                    "server": {"backlog": 512}}
        if hook:
            settings["hooks"] = {"post_fork": hook_path("green_db")}
        settings.update(extra or {})
        srv = self.start_server(app=COUNTER, workers=workers, settings=settings)
        srv.wait_workers(workers)
        return srv

    def test_concurrent_increments_on_one_worker_are_exact(self):
        redis = self.start_redis()
        srv = self.start_counter(redis, args={"pool": 8, "timeout": 10})
        n = 200
        results = []
        gate = threading.Barrier(n, timeout=20)

        def one():
            gate.wait()
            results.append(srv.get("/hit", timeout=20))

        threads = [threading.Thread(target=one) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(len(results), n)
        self.assertEqual([r[0] for r in results], [200] * n, srv.log())
        self.assertEqual(results[0][1]["Content-Type"], "text/plain")
        values = sorted(int(r[2]) for r in results)
        self.assertEqual(values, list(range(1, n + 1)))
        self.assertEqual(redis.get("greenicorn:counter"), b"200")
        # 200 requests shared at most 8 connections (the pool), plus ours.
        self.assertLessEqual(redis.connected_clients(), 8 + 1)
        self.assertNotIn("[ERROR]", srv.log())

    def test_a_silent_redis_holds_up_only_its_own_request(self):
        redis = self.start_redis()
        silent, silent_port = silent_listener()
        self.addCleanup(silent.close)
        srv = self.start_counter(redis, extra={
            "app:stuck": {"module": COUNTER, "mount": "/stuck"},
            "app:stuck.args": {"port": silent_port, "timeout": 1.5},
            "app:echo": {"module": app_path("echo"), "mount": "/echo"},
        })
        stuck = {}

        def wait_stuck():
            started = time.monotonic()
            stuck["status"] = srv.get("/stuck", timeout=10)[0]
            stuck["took"] = time.monotonic() - started

        t = threading.Thread(target=wait_stuck)
        t.start()
        time.sleep(0.2)  # /stuck has sent INCR and waits for the reply
        served = []
        while t.is_alive() and len(served) < 5:
            started = time.monotonic()
            served.append((srv.get("/")[0], srv.get("/echo")[0],
                           time.monotonic() - started))
        t.join(10)
        self.assertEqual(stuck["status"], 503)
        self.assertGreaterEqual(stuck["took"], 1.4)
        self.assertLess(stuck["took"], 5)
        # Others were served while /stuck waited, each pair at once.
        self.assertEqual(len(served), 5, served)
        for counter_status, echo_status, took in served:
            self.assertEqual((counter_status, echo_status), (200, 200))
            self.assertLess(took, 0.5)
        # The reply gets what is left of the request's 1.5 s once a
        # connection is had: 1.5, or 1.49 on a slow (sanitized) build.
        srv.wait_for_log(r"\[ERROR\] redis-counter: 127\.0\.0\.1:%d: timed out "
                         r"after 1\.(5|4\d) s waiting for a reply" % silent_port)

    def test_without_the_hook_a_silent_redis_blocks_the_worker(self):
        # The contrast to the test above: poll(2) holds the whole worker.
        redis = self.start_redis()
        silent, silent_port = silent_listener()
        self.addCleanup(silent.close)
        srv = self.start_counter(redis, hook=False, extra={
            "app:stuck": {"module": COUNTER, "mount": "/stuck"},
            "app:stuck.args": {"port": silent_port, "timeout": 1},
            "app:echo": {"module": app_path("echo"), "mount": "/echo"},
        })
        t = threading.Thread(target=lambda: srv.get("/stuck", timeout=10))
        t.start()
        time.sleep(0.2)
        started = time.monotonic()
        self.assertEqual(srv.get("/echo")[0], 200)
        self.assertGreater(time.monotonic() - started, 0.5)
        t.join(10)

    def test_request_timeout_cancels_a_wait_for_redis_with_504(self):
        # Cancelled, the wait returns at once; the server answers 504 and
        # the app logs nothing of its own. The connection, its reply still
        # due, is closed and its slot freed: the next request on the pool
        # of 1 connects anew.
        redis = self.start_redis()
        peer = SilentPeer()
        self.addCleanup(peer.close)
        srv = self.start_counter(redis, extra={
            "http": {"request_timeout": 1},
            "app:stuck": {"module": COUNTER, "mount": "/stuck"},
            "app:stuck.args": {"port": peer.port, "timeout": 30, "pool": 1},
        })
        for n in (1, 2):
            started = time.monotonic()
            self.assertEqual(srv.get("/stuck")[0], 504)
            self.assertLess(time.monotonic() - started, 5)
            wait_until(lambda: len(peer.conns) == n and peer.conns[-1]["closed"],
                       5, what="connection %d closed" % n)
            self.assertIn(b"INCR", peer.conns[-1]["data"])
        srv.wait_for_log(r"request_timeout \(1 s\) passed: cancelling \"GET /stuck\"")
        self.assertNotIn("[ERROR] redis-counter", srv.log())
        self.assertEqual(srv.get("/")[:3:2], (200, b"1\n"))

    def test_redis_down_answers_503_and_recovers_when_it_is_back(self):
        redis = self.start_redis()
        srv = self.start_counter(redis, args={"timeout": 1}, extra={
            "app:echo": {"module": app_path("echo"), "mount": "/echo"},
        })
        pid = srv.wait_workers(1)[0]
        self.assertEqual(srv.get("/")[:3:2], (200, b"1\n"))
        self.assertEqual(srv.get("/")[:3:2], (200, b"2\n"))

        redis.stop()
        for _ in range(3):
            status, headers, body = srv.get("/")
            self.assertEqual(status, 503)
            self.assertEqual(headers["Content-Type"], "text/plain")
            self.assertEqual(body, b"redis unavailable\n")
            self.assertEqual(srv.get("/echo/still-here")[0], 200)
        errors = re.findall(r"\[ERROR\] redis-counter: .*", srv.log())
        self.assertEqual(errors, ["[ERROR] redis-counter: 127.0.0.1:%d: "
                                  "Connection refused" % redis.port] * 3)

        redis.start()  # the same port, an empty database
        self.assertEqual(srv.get("/")[:3:2], (200, b"1\n"))
        self.assertEqual(srv.get("/")[:3:2], (200, b"2\n"))
        self.assertEqual(redis.get("greenicorn:counter"), b"2")
        self.assertEqual(srv.worker_pids(), [pid])

    def test_a_restart_between_requests_costs_no_request(self):
        # Idle pooled connections the old server closed are dropped, not
        # handed out: the first request after the restart succeeds.
        redis = self.start_redis()
        srv = self.start_counter(redis)
        self.assertEqual(srv.get("/")[0], 200)
        redis.stop()
        redis.start()
        self.assertEqual(srv.get("/")[:3:2], (200, b"1\n"))
        self.assertNotIn("[ERROR]", srv.log())

    def test_redis_error_replies_are_503_too(self):
        redis = self.start_redis()
        resp_command(redis.port, "SET", "greenicorn:counter", "not a number")
        srv = self.start_counter(redis)
        self.assertEqual(srv.get("/")[0], 503)
        srv.wait_for_log(r"\[ERROR\] redis-counter: 127\.0\.0\.1:%d: INCR "
                         r"greenicorn:counter: ERR value is not an integer"
                         % redis.port)
        resp_command(redis.port, "DEL", "greenicorn:counter")
        self.assertEqual(srv.get("/")[:3:2], (200, b"1\n"))

    def test_without_the_hook_it_still_works(self):
        redis = self.start_redis()
        srv = self.start_counter(redis, hook=False, args={"key": "k"})
        self.assertEqual(srv.get("/")[:3:2], (200, b"1\n"))
        self.assertEqual(redis.get("k"), b"1")

    def test_other_methods_are_405(self):
        redis = self.start_redis()
        srv = self.start_counter(redis)
        conn = srv.http()
        conn.request("DELETE", "/")
        r = conn.getresponse()
        r.read()
        conn.close()
        self.assertEqual(r.status, 405)
        self.assertEqual(r.getheader("Allow"), "GET, POST")
        self.assertIsNone(redis.get("greenicorn:counter"))

    def test_a_bad_argument_stops_start_up(self):
        tmp = tempfile.mkdtemp(prefix="greenicorn-redis-")
        self.addCleanup(shutil.rmtree, tmp, True)
        config = os.path.join(tmp, "greenicorn.conf")
        with open(config, "w") as f:
            f.write(harness.render_config({
                "server": {"bind": "127.0.0.1:%d" % free_port()},
                "app": {"module": COUNTER},
                "app.args": {"pool": 0}}))
        rc, _out, err = harness.run_until_exit(["-c", config])
        self.assertEqual(rc, 3, err)
        self.assertIn("redis-counter: bad argument pool = '0'", err)


if __name__ == "__main__":
    unittest.main()
