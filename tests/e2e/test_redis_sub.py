#!/usr/bin/env python3
"""The worker's Redis subscription (contrib/green/redis_sub.c) through
the sub_probe test plugin, against a real redis-server each test starts on
a port of its own: with 2 workers every worker receives every message
once, in the order Redis sent them; a Redis killed and started again (or
frozen, or dropping a subscriber too slow for it) costs one logged gap
per worker and no worker, and messages flow again; a Redis missing at
start-up is waited for; a stopping worker ends its subscription at once,
and so does gn_redis_sub_stop from a request or from on_message."""
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
import types
import unittest

import harness
from harness import ServerTestCase, test_plugin_path, wait_until
from test_redis import REDIS_SERVER, RedisServer

PROBE = test_plugin_path("sub_probe")
WAIT = 30  # seconds for anything to happen: generous on a loaded machine


def resp(port, *args, timeout=5.0):
    """One command to the Redis on PORT: its reply, arrays as lists,
    errors as RuntimeError instances."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(out)
        return _read_reply(s.makefile("rb"))


def _read_reply(f):
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("Redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        return RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:n]
    if kind == b"*":
        return [_read_reply(f) for _ in range(int(rest))]
    raise AssertionError("unexpected reply %r" % line)


class RedisConn:
    """A connection of our own to the Redis on PORT, for many commands."""

    def __init__(self, port, timeout=WAIT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.sock.makefile("rb")

    def command(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return _read_reply(self.f)

    def close(self):
        self.f.close()
        self.sock.close()


def numsub(redis, channel):
    """How many connections are subscribed to CHANNEL (0 while Redis is
    down)."""
    try:
        return resp(redis.port, "PUBSUB", "NUMSUB", channel, timeout=2)[1]
    except OSError:
        return 0


class Worker:
    """A keep-alive connection that reaches one worker."""

    def __init__(self, pid, conn):
        self.pid = pid
        self.conn = conn
        self.seen = []  # [(channel, data)] in the order received

    def request(self, method, target, body=None):
        self.conn.request(method, target, body=body)
        r = self.conn.getresponse()
        data = r.read()
        if int(r.getheader("X-Worker-Pid")) != self.pid:
            raise AssertionError("connection moved to another worker")
        return r.status, data

    def state(self):
        status, body = self.request("GET", "/state")
        assert status == 200, (status, body)
        words = body.decode().split()
        return dict(zip(words[::2], (int(w) for w in words[1::2])))

    def poll(self, wait, raw=False):
        """The messages after those seen, waiting up to WAIT s for one;
        RAW: their data as bytes (sent in hex), else as text."""
        status, body = self.request(
            "GET", "/messages?after=%d&wait=%g%s"
            % (len(self.seen), wait, "&hex=1" if raw else ""))
        assert status == 200, (status, body)
        new = []
        for line in body.decode().splitlines():
            seq, channel, data = line.split(" ", 2)
            assert int(seq) == len(self.seen) + len(new) + 1, (seq, body)
            new.append((channel, bytes.fromhex(data) if raw else data))
        self.seen += new
        return new

    def collect(self, total, timeout=WAIT, raw=False):
        """Poll until TOTAL messages were seen in all."""
        deadline = time.monotonic() + timeout
        while len(self.seen) < total:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("worker %d received %d of %d messages"
                                     % (self.pid, len(self.seen), total))
            self.poll(min(left, 5), raw)
        return self.seen


@unittest.skipUnless(REDIS_SERVER and os.path.exists(PROBE),
                     "needs redis-server and build/tests/plugins/sub_probe.so")
class RedisSubTest(ServerTestCase):

    def start_redis(self, port=None, start=True):
        redis = RedisServer(port)
        self.addCleanup(redis.close)
        return redis.start() if start else redis

    def start_probe(self, redis, workers=2, args=None, extra=None):
        settings = {
            "app.args": dict({"port": redis.port, "channels": "news,chat"},
                             **(args or {})),
            # Each worker its own socket: the kernel spreads connections,
            # so the test can hold one to each.
            "server": {"reuse_port": "on"},
            "workers": {"keepalive": 120, "graceful_timeout": 30},
        }
        for section, keys in (extra or {}).items():
            settings.setdefault(section, {}).update(keys)
        srv = self.start_server(app=PROBE, workers=workers, settings=settings)
        srv.wait_workers(workers, timeout=WAIT)
        return srv

    def workers(self, srv, n=2):
        """A Worker for each of the N workers."""
        found = {}
        spare = []
        self.addCleanup(lambda: [c.close() for c in spare])
        deadline = time.monotonic() + WAIT
        while len(found) < n and time.monotonic() < deadline:
            conn = srv.http(timeout=WAIT)
            conn.request("GET", "/state")
            r = conn.getresponse()
            r.read()
            pid = int(r.getheader("X-Worker-Pid"))
            if pid in found:
                spare.append(conn)
            else:
                found[pid] = Worker(pid, conn)
                self.addCleanup(conn.close)
        self.assertEqual(len(found), n, "reached only workers %s" % list(found))
        return sorted(found.values(), key=lambda w: w.pid)

    def wait_subscribed(self, redis, n=2, channel="chat"):
        wait_until(lambda: numsub(redis, channel) == n, WAIT, interval=0.05,
                   what="%d subscribers on %s" % (n, channel))

    def publish(self, srv, data, channel="chat"):
        conn = srv.http(timeout=WAIT)
        try:
            conn.request("POST", "/publish?channel=" + channel, body=data)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def lines(self, srv, regex):
        """The log lines matching REGEX, by worker pid."""
        found = {}
        for m in re.finditer(r"^\[[^]]*\] \[(\d+)\] .*%s.*$" % regex, srv.log(), re.M):
            found.setdefault(int(m.group(1)), []).append(m.group(0))
        return found

    def test_every_worker_gets_every_message_once_in_redis_order(self):
        redis = self.start_redis()
        srv = self.start_probe(redis)
        workers = self.workers(srv)
        self.wait_subscribed(redis)
        # 4 senders at once, 60 messages each on two channels: Redis picks
        # the order; every worker must see that one order, each message
        # once, and each sender's messages in the order it sent them.
        receivers = []
        errors = []

        def sender(k):
            try:
                for i in range(60):
                    channel = ("news", "chat")[i % 2]
                    status, body = self.publish(srv, "s%d-%d" % (k, i), channel)
                    receivers.append((status, body))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=sender, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(2 * WAIT)
        self.assertEqual(errors, [])
        # PUBLISH counted both workers' subscriptions each time.
        self.assertEqual(receivers, [(200, b"2\n")] * 240)
        first = workers[0].collect(240)
        second = workers[1].collect(240)
        self.assertEqual(first, second)
        self.assertEqual(sorted(d for _c, d in first),
                         sorted("s%d-%d" % (k, i) for k in range(4) for i in range(60)))
        for k in range(4):
            mine = [(c, d) for c, d in first if d.startswith("s%d-" % k)]
            self.assertEqual(mine, [(("news", "chat")[i % 2], "s%d-%d" % (k, i))
                                    for i in range(60)])
        # Nothing more comes: no message twice.
        for w in workers:
            self.assertEqual(w.poll(0.5), [])
            self.assertEqual(w.state(), {"up": 1, "messages": 240, "losses": 0, "stopped": 0})
        self.assertNotIn("[ERROR]", srv.log())
        self.assertEqual(srv.warnings(), [])

    def test_a_thousand_messages_from_ten_publishers(self):
        # Straight to Redis, 10 connections at once, 100 messages each.
        redis = self.start_redis()
        srv = self.start_probe(redis)
        workers = self.workers(srv)
        self.wait_subscribed(redis)
        replies = []

        def sender(k):
            conn = RedisConn(redis.port)
            try:
                for i in range(100):
                    replies.append(conn.command("PUBLISH", "news", "p%d-%d" % (k, i)))
            finally:
                conn.close()

        threads = [threading.Thread(target=sender, args=(k,)) for k in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(2 * WAIT)
        self.assertEqual(replies, [2] * 1000)
        first, second = (w.collect(1000) for w in workers)
        self.assertEqual(first, second)
        self.assertEqual(len(set(first)), 1000)
        for k in range(10):
            self.assertEqual([d for _c, d in first if d.startswith("p%d-" % k)],
                             ["p%d-%d" % (k, i) for i in range(100)])
        for w in workers:
            self.assertEqual(w.poll(0.3), [])

    def test_bytes_arrive_as_they_were_published(self):
        redis = self.start_redis()
        srv = self.start_probe(redis)
        workers = self.workers(srv)
        self.wait_subscribed(redis)
        payloads = [b"", b"a\x00b\nc\r\n\xff", bytes(range(256)) * 1024]
        for data in payloads:
            self.assertEqual(self.publish(srv, data), (200, b"2\n"))
        for w in workers:
            self.assertEqual(w.collect(3, raw=True), [("chat", d) for d in payloads])

    def test_stopping_from_a_request_and_from_on_message(self):
        redis = self.start_redis()
        srv = self.start_probe(redis)
        pids = sorted(srv.worker_pids())
        a, b = self.workers(srv)
        self.wait_subscribed(redis)
        # A request stops worker a's subscription (kill and join).
        self.assertEqual(a.request("POST", "/stop"), (200, b"stopped\n"))
        self.wait_subscribed(redis, 1)
        self.assertEqual(a.state(), {"up": 0, "messages": 0, "losses": 0, "stopped": 1})
        self.assertEqual(self.publish(srv, "one"), (200, b"1\n"))
        self.assertEqual(b.collect(1), [("chat", "one")])
        self.assertEqual(a.poll(0.3), [])
        # Worker b's on_message stops its own subscription.
        self.assertEqual(self.publish(srv, "probe:stop"), (200, b"1\n"))
        self.wait_subscribed(redis, 0)
        self.assertEqual(b.collect(2)[1], ("chat", "probe:stop"))
        self.assertEqual(b.state(), {"up": 0, "messages": 2, "losses": 0, "stopped": 1})
        self.assertEqual(self.publish(srv, "nobody"), (200, b"0\n"))
        self.assertEqual(b.poll(0.3), [])
        self.assertEqual(sorted(srv.worker_pids()), pids)
        self.assertEqual(srv.stop(), 0)
        self.assertNotIn("[ERROR]", srv.log())
        stopped = self.lines(srv, r"\[INFO\] sub_probe: subscription stopped")
        self.assertEqual(sorted(stopped), pids)

    def test_a_redis_restart_is_one_logged_gap_per_worker(self):
        redis = self.start_redis()
        srv = self.start_probe(redis)
        pids = sorted(srv.worker_pids())
        workers = self.workers(srv)
        self.wait_subscribed(redis)
        self.assertEqual(self.publish(srv, "before"), (200, b"2\n"))
        for w in workers:
            self.assertEqual(w.collect(1), [("chat", "before")])

        redis.proc.kill()  # gone at once, no goodbye
        redis.proc.wait(10)
        redis.proc = None
        lost = r"sub_probe: redis subscription to 127\.0\.0\.1:%d lost: " % redis.port
        wait_until(lambda: sorted(self.lines(srv, lost)) == pids, WAIT,
                   what="each worker to log the loss")
        for w in workers:
            self.assertEqual(w.state()["up"], 0)
        # Down a while: several attempts fail (backoff 0.1, 0.2, 0.4...).
        time.sleep(2)
        status, body = self.publish(srv, "lost")
        self.assertEqual(status, 503)
        self.assertIn(b"Connection refused", body)

        redis.start()  # the same port
        self.wait_subscribed(redis)
        for w in workers:
            wait_until(lambda: w.state()["up"] == 1, WAIT, what="up again")
        for i in range(50):
            self.assertEqual(self.publish(srv, "after-%d" % i), (200, b"2\n"))
        for w in workers:
            self.assertEqual(w.collect(51)[1:], [("chat", "after-%d" % i) for i in range(50)])
            self.assertEqual(w.poll(0.3), [])
            self.assertEqual(w.state(), {"up": 1, "messages": 51, "losses": 1, "stopped": 0})

        # One line when the gap began and one when it ended, per worker,
        # however many attempts failed in between.
        back = (r"sub_probe: redis subscription to 127\.0\.0\.1:%d back after "
                r"(\d+\.\d) s \(messages published meanwhile were not received\)"
                % redis.port)
        lost_lines, back_lines = self.lines(srv, lost), self.lines(srv, back)
        self.assertEqual(sorted(lost_lines), pids)
        self.assertEqual(sorted(back_lines), pids)
        for pid in pids:
            self.assertEqual(len(lost_lines[pid]), 1, lost_lines[pid])
            self.assertIn("[WARNING]", lost_lines[pid][0])
            self.assertRegex(lost_lines[pid][0],
                             r"lost: Server closed the connection; reconnecting$")
            self.assertEqual(len(back_lines[pid]), 1, back_lines[pid])
            self.assertIn("[INFO]", back_lines[pid][0])
            took = float(re.search(back, back_lines[pid][0]).group(1))
            self.assertGreaterEqual(took, 1.9)
            self.assertLess(took, WAIT)
        self.assertEqual(sorted(srv.worker_pids()), pids)
        self.assertNotIn("[ERROR]", srv.log())

    def test_a_consumer_too_slow_for_redis_is_dropped_and_comes_back(self):
        # on_message sleeps 6 s on the first message while 24 MB are
        # published: Redis's pubsub output limit (1 MB here) drops the
        # subscriber. The worker serves requests meanwhile, then drains
        # what reached it, logs the loss, and subscribes again.
        redis = self.start_redis()
        self.assertEqual(resp(redis.port, "CONFIG", "SET", "client-output-buffer-limit",
                              "pubsub 1mb 0 0"), b"OK")
        srv = self.start_probe(redis, workers=1, args={"slow_first": 6})
        (w,) = self.workers(srv, 1)
        self.wait_subscribed(redis, 1)
        conn = RedisConn(redis.port)
        self.addCleanup(conn.close)
        self.assertEqual(conn.command("PUBLISH", "chat", "first"), 1)
        big = b"x" * (512 * 1024)
        started = time.monotonic()
        for _ in range(48):
            conn.command("PUBLISH", "chat", big)
        self.assertLess(time.monotonic() - started, 5, "published too slowly to test")
        served = time.monotonic()
        self.assertEqual(w.state()["up"], 1)  # parked in on_message
        self.assertLess(time.monotonic() - served, 1)
        lost = (r"\[WARNING\] sub_probe: redis subscription to 127\.0\.0\.1:%d lost: "
                r"Server closed the connection; reconnecting" % redis.port)
        srv.wait_for_log(lost, timeout=WAIT)
        self.wait_subscribed(redis, 1)
        wait_until(lambda: w.state()["up"] == 1, WAIT, what="up again")
        self.assertEqual(conn.command("PUBLISH", "chat", "after"), 1)
        deadline = time.monotonic() + WAIT
        while not w.seen or w.seen[-1] != ("chat", "after"):
            self.assertLess(time.monotonic(), deadline, "'after' never came")
            w.poll(2)
        got = len(w.seen) - 2  # the big ones that reached the worker
        self.assertLess(got, 48)  # Redis dropped the rest
        self.assertEqual(w.seen[0], ("chat", "first"))
        self.assertTrue(all(m == ("chat", big.decode()) for m in w.seen[1:-1]))
        self.assertEqual(w.state()["losses"], 1)

    def test_a_redis_that_drops_every_subscriber_at_once_is_backed_off(self):
        # A "Redis" that confirms the SUBSCRIBE and hangs up straight away:
        # each attempt succeeds for an instant, which must not reset the
        # backoff (0.1, 0.2 ... 2 s), or the worker would knock (and log)
        # ten times a second.
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(64)
        self.addCleanup(lsock.close)
        accepted = []

        def serve():
            while True:
                try:
                    c, _addr = lsock.accept()
                except OSError:
                    return
                accepted.append(time.monotonic())
                with c:
                    c.settimeout(5)
                    try:
                        c.recv(4096)  # the SUBSCRIBE
                        c.sendall(b"*3\r\n$9\r\nsubscribe\r\n$4\r\nchat\r\n:1\r\n")
                    except OSError:
                        pass

        threading.Thread(target=serve, daemon=True).start()
        fake = types.SimpleNamespace(port=lsock.getsockname()[1])
        srv = self.start_probe(fake, workers=1, args={"channels": "chat"})
        wait_until(lambda: accepted, WAIT, what="a first attempt")
        time.sleep(4)
        window = [t for t in accepted if t - accepted[0] <= 4]
        # 0.1 + 0.2 + 0.4 + 0.8 + 1.6 (less up to 25% each) fit in 4 s:
        # 6 attempts, 7 at most with scheduling; 40 without the backoff.
        self.assertLessEqual(len(window), 7, window)
        self.assertGreaterEqual(len(window), 4, window)
        lost = self.lines(srv, "sub_probe: redis subscription to .* lost: Server "
                               "closed the connection")
        self.assertLessEqual(sum(len(v) for v in lost.values()), 8)
        self.assertNotIn("[ERROR]", srv.log())

    def test_a_frozen_redis_is_noticed_by_its_ping(self):
        # SIGSTOP: the connection stays open and silent; only the PING
        # (every 0.5 s of silence, answered within 1 s) tells.
        redis = self.start_redis()
        srv = self.start_probe(redis, args={"ping_interval": 0.5, "timeout": 1})
        pids = sorted(srv.worker_pids())
        workers = self.workers(srv)
        self.wait_subscribed(redis)
        # A live Redis answers every PING: a few intervals lose nothing.
        time.sleep(2)
        for w in workers:
            self.assertEqual(w.state(), {"up": 1, "messages": 0, "losses": 0, "stopped": 0})
        self.assertNotIn("lost", srv.log())
        os.kill(redis.proc.pid, signal.SIGSTOP)
        try:
            lost = (r"sub_probe: redis subscription to 127\.0\.0\.1:%d lost: "
                    r"no answer to PING within 1 s; reconnecting" % redis.port)
            wait_until(lambda: sorted(self.lines(srv, lost)) == pids, WAIT,
                       what="each worker to notice")
        finally:
            os.kill(redis.proc.pid, signal.SIGCONT)
        for w in workers:
            wait_until(lambda: w.state()["up"] == 1, WAIT, what="up again")
        self.assertEqual(self.publish(srv, "thawed"), (200, b"2\n"))
        for w in workers:
            self.assertEqual(w.collect(1), [("chat", "thawed")])
        self.assertEqual(sorted(srv.worker_pids()), pids)

    def test_a_redis_missing_at_start_up_is_waited_for(self):
        redis = self.start_redis(start=False)
        srv = self.start_probe(redis)
        pids = sorted(srv.worker_pids())
        missing = (r"\[WARNING\] sub_probe: redis subscription to 127\.0\.0\.1:%d "
                   r"not established: Connection refused; retrying" % redis.port)
        wait_until(lambda: sorted(self.lines(srv, missing)) == pids, WAIT,
                   what="each worker to say Redis is not there")
        redis.start()
        self.wait_subscribed(redis)
        established = (r"\[INFO\] sub_probe: redis subscription to 127\.0\.0\.1:%d "
                       r"established after \d+\.\d s$" % redis.port)
        wait_until(lambda: sorted(self.lines(srv, established)) == pids, WAIT,
                   what="each worker to say it is subscribed")
        workers = self.workers(srv)
        self.assertEqual(self.publish(srv, "hello"), (200, b"2\n"))
        for w in workers:
            self.assertEqual(w.collect(1), [("chat", "hello")])
            self.assertEqual(w.state()["losses"], 0)
        for pid in pids:
            self.assertEqual(len(self.lines(srv, missing)[pid]), 1)

    def test_a_stopping_worker_ends_its_subscription_at_once(self):
        # graceful_timeout is 30 s: a subscription that held its worker up
        # would show.
        redis = self.start_redis()
        srv = self.start_probe(redis)
        workers = self.workers(srv)
        self.wait_subscribed(redis)
        self.assertEqual(self.publish(srv, "one"), (200, b"2\n"))
        victim = workers[0].pid
        self.assertEqual(workers[0].collect(1), [("chat", "one")])
        for w in workers:
            w.conn.close()  # no connection of ours holds a worker up
        started = time.monotonic()
        os.kill(victim, signal.SIGTERM)
        wait_until(lambda: victim not in srv.worker_pids(), WAIT, interval=0.05,
                   what="worker %d to exit" % victim)
        took = time.monotonic() - started
        self.assertLess(took, 10, "a worker took %.1f s to stop" % took)
        stopped = self.lines(srv, r"\[INFO\] sub_probe: subscription stopped "
                                  r"after 1 message\(s\)$")
        self.assertIn(victim, stopped)
        # Its replacement subscribes; the whole server stops as fast.
        srv.wait_workers(2, timeout=WAIT)
        self.wait_subscribed(redis)
        started = time.monotonic()
        self.assertEqual(srv.stop(), 0)
        self.assertLess(time.monotonic() - started, 10)
        wait_until(lambda: numsub(redis, "chat") == 0, WAIT, what="no subscriber left")
        self.assertNotIn("[ERROR]", srv.log())

    def test_preload_app_cannot_start_a_subscription(self):
        # init runs in the arbiter there: no worker loop, no green thread.
        tmp = tempfile.mkdtemp(prefix="greenicorn-redis-sub-")
        self.addCleanup(shutil.rmtree, tmp, True)
        config = os.path.join(tmp, "greenicorn.conf")
        with open(config, "w") as f:
            f.write(harness.render_config({
                "server": {"bind": "127.0.0.1:%d" % harness.free_port()},
                "workers": {"preload_app": "on"},
                "app": {"module": PROBE},
                "app.args": {"port": harness.free_port()}}))
        rc, _out, err = harness.run_until_exit(["-c", config], timeout=WAIT)
        self.assertEqual(rc, 3, err)
        self.assertIn("sub_probe: cannot start the subscription: "
                      "Resource temporarily unavailable", err)


if __name__ == "__main__":
    unittest.main()
