#!/usr/bin/env python3
"""The seed's chat (contrib/apps/chat.c) against a real redis-server each
test starts on a port of its own, with many WebSocket clients at once
(asyncio over raw sockets, so 200 of them cost one thread): clients on
both workers receive every message once, in one order, the order Redis
delivered them; a Redis restart keeps them connected and what is
published after the subscriptions are back arrives once; a client that
stops reading while the chat floods is closed at its queue limit and the
others get everything (their delivery latency p99 is printed). The page
and its script in a real browser: test_chat_browser.py."""
import asyncio
import os
import re
import shutil
import struct
import sys
import tempfile
import time
import unittest

import harness
from harness import ServerTestCase, app_path, wait_until
from test_redis import REDIS_SERVER, RedisServer
from test_redis_sub import numsub
from wsclient import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, accept_for, frame, handshake_request

CHAT = app_path("chat")
WAIT = 90  # seconds for anything to happen: generous on a loaded machine
CHANNEL = "greenicorn:chat"
NOTICE = re.compile(r"^\[chat: .*\]$")


class Client:
    """One WebSocket client of the chat on asyncio streams; everything it
    receives is kept with the time it arrived."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.got = []  # [(monotonic time, text)]
        self.nchat = 0  # chat messages among them (not notices)
        self.buf = bytearray()  # received, not yet parsed
        self.close_code = None
        self.eof = False  # the server closed TCP

    @classmethod
    async def connect(cls, port, path="/ws", timeout=WAIT, rcvbuf=None, name="-"):
        import socket
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect: it sets the window
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), timeout)
        reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 22)
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        writer.write(handshake_request(path, key=key, port=port,
                                       headers={"X-Client": name}))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        lines = head.decode("latin-1").split("\r\n")
        if lines[0].split()[1] != "101":
            writer.close()
            raise AssertionError("handshake answered %r" % head)
        fields = {k.strip().lower(): v.strip()
                  for k, v in (line.split(":", 1) for line in lines[1:] if line)}
        assert fields["sec-websocket-accept"] == accept_for(key), fields
        return cls(reader, writer)

    def send(self, text):
        self.writer.write(frame(OP_TEXT, text.encode()))

    def _frames(self):
        """The whole frames at the head of self.buf, as (opcode, payload),
        taken off it (the server's are unmasked, and the chat sends no
        fragments)."""
        buf, at, out = self.buf, 0, []
        while len(buf) - at >= 2:
            b0, b1 = buf[at], buf[at + 1]
            assert b0 & 0x80 and not b1 & 0x80, (b0, b1)
            n, head = b1 & 0x7F, 2
            if n == 126:
                if len(buf) - at < 4:
                    break
                n, head = struct.unpack_from("!H", buf, at + 2)[0], 4
            elif n == 127:
                if len(buf) - at < 10:
                    break
                n, head = struct.unpack_from("!Q", buf, at + 2)[0], 10
            if len(buf) - at < head + n:
                break
            out.append((b0 & 0x0F, bytes(buf[at + head:at + head + n])))
            at += head + n
        del buf[:at]
        return out

    async def receive(self, done, timeout=WAIT, eof=False):
        """Keep what comes until DONE(self) or the server's close (its
        code in close_code), or with EOF the end of the connection; at
        most TIMEOUT seconds. Reads in bulk: one client loop serves
        hundreds of these."""
        try:
            async with asyncio.timeout(timeout):
                while not done(self) and self.close_code is None:
                    chunk = await self.reader.read(1 << 16)
                    if not chunk and eof:
                        self.eof = True
                        return
                    if not chunk:
                        raise AssertionError("connection closed without a close frame")
                    self.buf += chunk
                    now = time.monotonic()
                    for op, data in self._frames():
                        self._take(now, op, data)
        except TimeoutError:
            raise AssertionError("timed out with %d message(s), the last: %r"
                                 % (len(self.got), self.texts()[-3:])) from None

    def _take(self, now, op, data):
        if self.close_code is not None:
            raise AssertionError("a frame after the close")
        if op == OP_TEXT:
            text = data.decode()
            self.got.append((now, text))
            self.nchat += not NOTICE.match(text)
        elif op == OP_PING:
            self.writer.write(frame(OP_PONG, data))
        elif op == OP_CLOSE:
            self.close_code = struct.unpack("!H", data[:2])[0] if data else 1005
        else:
            raise AssertionError("unexpected opcode %d" % op)

    def texts(self):
        return [t for _at, t in self.got]

    def chat(self):
        """The chat messages received (the server's notices left out)."""
        return [t for t in self.texts() if not NOTICE.match(t)]

    async def close(self):
        """The closing handshake: 1000 and the server's echo, reading out
        what is still on the way."""
        try:
            self.writer.write(frame(OP_CLOSE, struct.pack("!H", 1000)))
            await self.receive(lambda c: False, timeout=WAIT)
        finally:
            self.writer.close()


def message(sender, i, pad=0):
    """A chat message naming its sender, its number and when it was sent
    (for the delivery latency)."""
    return "s%d-%d-%.6f%s" % (sender, i, time.monotonic(), " " + "x" * pad if pad else "")


def ident(text):
    """(sender, number) of a message()."""
    s, i, _t = text.split(" ")[0].split("-")
    return int(s[1:]), int(i)


def latencies(clients):
    """Seconds from send to receipt, of every chat message every client
    got."""
    out = []
    for c in clients:
        for at, text in c.got:
            if not NOTICE.match(text):
                out.append(at - float(text.split(" ")[0].split("-")[2]))
    return out


def p99(values):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.99))]


async def paced(client, sender, count, interval, pad=0):
    """COUNT message()s from CLIENT, one every INTERVAL seconds."""
    start = time.monotonic()
    for i in range(count):
        client.send(message(sender, i, pad))
        await client.writer.drain()
        await asyncio.sleep(max(0, start + (i + 1) * interval - time.monotonic()))


async def connect_all(port, n, batch=25):
    """N clients, connecting BATCH at a time."""
    clients = []
    for k in range(0, n, batch):
        clients += await asyncio.gather(*(Client.connect(port)
                                          for _ in range(min(batch, n - k))))
    return clients


def run(coro, timeout):
    """Run CORO, at most TIMEOUT seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


@unittest.skipUnless(REDIS_SERVER and os.path.exists(CHAT),
                     "needs redis-server and build/contrib/apps/chat.so")
class ChatTest(ServerTestCase):

    def start_redis(self):
        redis = RedisServer()
        self.addCleanup(redis.close)
        return redis.start()

    def start_chat(self, redis, workers=2, websocket=None, extra=None):
        settings = {
            "app.args": {"port": redis.port, "channel": CHANNEL},
            # Each worker its own listening socket: the kernel spreads the
            # clients over both.
            "server": {"reuse_port": "on", "backlog": 1024},
            "workers": {"graceful_timeout": 10},
            # The worker's pid in each access log line: who served whom.
            "logging": {"access_log_format": "%(p)s %({x-client}i)s %(r)s %(s)s"},
        }
        if websocket:
            settings["websocket"] = websocket
        for section, keys in (extra or {}).items():
            settings.setdefault(section, {}).update(keys)
        srv = self.start_server(app=CHAT, workers=workers, settings=settings,
                                accesslog=True)
        srv.wait_workers(workers, timeout=WAIT)
        wait_until(lambda: numsub(redis, CHANNEL) == workers, WAIT, interval=0.05,
                   what="%d subscriptions" % workers)
        return srv

    def websocket_lines(self, srv, n):
        """The access log lines of N ended WebSockets (waiting for them):
        [(worker pid, messages sent out, close code sent)]."""
        pattern = (r"^<(\d+)> \S+ GET /ws HTTP/1\.1 101 websocket in=\d+/\d+ "
                   r"out=(\d+)/\d+ close=\d+/(\d+) time=")

        def lines():
            return re.findall(pattern, srv.access_log(), re.M)

        wait_until(lambda: len(lines()) >= n, WAIT,
                   what="%d WebSocket lines in the access log" % n)
        return [(int(p), int(o), int(c)) for p, o, c in lines()]

    def assert_delivered(self, clients, senders, count):
        """Every client got every message of SENDERS x COUNT once, in one
        order that keeps each sender's."""
        first = clients[0].chat()
        self.assertEqual(len(first), len(senders) * count)
        self.assertEqual(sorted(ident(t) for t in first),
                         sorted((s, i) for s in senders for i in range(count)))
        for s in senders:
            self.assertEqual([i for k, i in map(ident, first) if k == s],
                             list(range(count)), "sender %d out of order" % s)
        for c in clients[1:]:
            self.assertEqual(c.chat(), first)

    def test_the_page_and_the_plain_requests(self):
        redis = self.start_redis()
        srv = self.start_chat(redis, workers=1)
        status, headers, body = srv.get("/")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/html; charset=utf-8")
        self.assertIn(b'new WebSocket(scheme + location.host + "/ws")', body)
        self.assertEqual(srv.get("/nothing")[0], 404)
        # /ws without the handshake: the WebSocket layer's 426.
        status, headers, _body = srv.get("/ws")
        self.assertEqual(status, 426)
        self.assertEqual(headers["Sec-WebSocket-Version"], "13")

    def test_two_hundred_clients_on_two_workers_get_every_message_once(self):
        # Acceptance 4: 10 of the 200 send 100 messages each, all at once.
        redis = self.start_redis()
        srv = self.start_chat(redis)
        nclients, senders, count = 200, range(10), 100
        started = time.monotonic()

        async def scenario():
            clients = await connect_all(srv.port, nclients)
            total = len(senders) * count
            # Each sender a message every 50 ms (200 a second in all):
            # the latency is then the chat's, not a backlog's.
            await asyncio.gather(*(paced(clients[s], s, count, 0.05) for s in senders),
                                 *(c.receive(lambda c: c.nchat >= total)
                                   for c in clients))
            # Nothing more comes: none twice.
            await asyncio.sleep(0.5)
            await asyncio.gather(*(c.close() for c in clients))
            return clients

        clients = run(scenario(), 4 * WAIT)
        took = time.monotonic() - started
        self.assertEqual([c.close_code for c in clients], [1000] * nclients)
        self.assert_delivered(clients, senders, count)
        for c in clients:
            self.assertEqual(c.texts(), c.chat())  # no notice either
        lines = self.websocket_lines(srv, nclients)
        per_worker = {}
        for pid, out, _code in lines:
            per_worker[pid] = per_worker.get(pid, 0) + 1
            self.assertEqual(out, 1000)  # the server's count agrees
        self.assertEqual(sorted(per_worker), sorted(srv.worker_pids()))
        lat = latencies(clients)
        sys.stderr.write("chat: %d clients per worker %s; %d deliveries in %.1f s, "
                         "latency p50 %.1f ms p99 %.1f ms\n"
                         % (nclients, sorted(per_worker.values()), len(lat), took,
                            sorted(lat)[len(lat) // 2] * 1e3, p99(lat) * 1e3))
        self.assertNotIn("[ERROR]", srv.log())
        self.assertEqual(srv.warnings(), [])

    def test_clients_coming_and_going_during_the_fan_out(self):
        # 150 steady clients, and the fan-out yielding after every send
        # (yield_every = 1) while others connect and vanish (reset, no
        # close frame): some leave while a walk is suspended just before
        # them (the cursor's case). The steady ones get everything; no
        # worker dies (under ASan, no use after free).
        redis = self.start_redis()
        srv = self.start_chat(redis, extra={"app.args": {"yield_every": 1}})
        pids = sorted(srv.worker_pids())
        nclients, senders, count = 150, range(3), 200

        async def churn(stop):
            n = 0
            while not stop.is_set():
                c = await Client.connect(srv.port)
                await asyncio.sleep(0.001 * (n % 7))
                c.writer.transport.abort()
                n += 1
            return n

        async def scenario():
            clients = await connect_all(srv.port, nclients)
            stop = asyncio.Event()
            churners = [asyncio.ensure_future(churn(stop)) for _ in range(4)]
            await asyncio.gather(*(paced(clients[s], s, count, 0.01) for s in senders),
                                 *(c.receive(lambda c: c.nchat >= len(senders) * count)
                                   for c in clients))
            stop.set()
            churned = sum(await asyncio.gather(*churners))
            await asyncio.sleep(0.3)
            await asyncio.gather(*(c.close() for c in clients))
            return clients, churned

        clients, churned = run(scenario(), 4 * WAIT)
        self.assertGreater(churned, 20)
        self.assert_delivered(clients, senders, count)
        self.assertEqual(sorted(srv.worker_pids()), pids)
        self.assertNotIn("[ERROR]", srv.log())
        sys.stderr.write("chat churn: %d clients came and went\n" % churned)

    def test_clients_stay_connected_across_a_redis_restart(self):
        redis = self.start_redis()
        srv = self.start_chat(redis)
        pids = sorted(srv.worker_pids())
        back = (r"\[(\d+)\] \[INFO\] chat: redis subscription to 127\.0\.0\.1:%d "
                r"back after" % redis.port)
        lost_notice = "[chat: lost the connection to Redis; reconnecting]"
        back_notice = "[chat: reconnected; messages sent meanwhile were not received]"
        nclients, senders = 40, range(4)

        async def scenario():
            loop = asyncio.get_running_loop()
            clients = await connect_all(srv.port, nclients)
            for s in senders:
                clients[s].send(message(s, 0))
            await asyncio.gather(*(c.receive(lambda c: c.nchat >= 4)
                                   for c in clients))

            redis.proc.kill()  # gone at once, no goodbye
            await loop.run_in_executor(None, redis.proc.wait, 10)
            redis.proc = None
            await asyncio.sleep(1)
            # Started from this (the main) thread: a process started from
            # an executor's thread gets its parent-death signal when that
            # thread ends, and this Redis went down again as the scenario
            # ended (a second "lost" per worker, seen in CI).
            redis.start()  # the same port
            await loop.run_in_executor(None, lambda: wait_until(
                lambda: sorted(int(p) for p in re.findall(back, srv.log())) == pids,
                WAIT, what="each worker's subscription back"))
            # Both notices reached every client, and the sockets are open.
            await asyncio.gather(*(c.receive(lambda c: back_notice in c.texts())
                                   for c in clients))
            for i in range(1, 51):
                for s in senders:
                    clients[s].send(message(s, i))
            await asyncio.gather(*(c.receive(lambda c: c.nchat >= 4 + 200)
                                   for c in clients))
            await asyncio.sleep(0.5)
            await asyncio.gather(*(c.close() for c in clients))
            return clients

        clients = run(scenario(), 4 * WAIT)
        # The restarted Redis outlives the scenario's threads: a loss now
        # would be counted below.
        time.sleep(0.5)
        self.assertIsNone(redis.proc.poll(), "the restarted redis-server ended")
        self.assertEqual([c.close_code for c in clients], [1000] * nclients)
        for c in clients:
            self.assertEqual([t for t in c.texts() if NOTICE.match(t)],
                             [lost_notice, back_notice])
        # The message before and the 50 after of each sender, once each,
        # in one order.
        self.assert_delivered(clients, senders, 51)
        self.assertEqual(sorted(srv.worker_pids()), pids)
        lost = re.findall(r"\[(\d+)\] \[WARNING\] chat: redis subscription to "
                          r"127\.0\.0\.1:%d lost: " % redis.port, srv.log())
        self.assertEqual(sorted(int(p) for p in lost), pids,
                         "\n".join(l for l in srv.log().splitlines() if "redis" in l))
        self.assertNotIn("[ERROR]", srv.log())

    def test_a_message_while_redis_is_down_is_refused_to_its_sender(self):
        redis = self.start_redis()
        srv = self.start_chat(redis, workers=1)

        async def scenario():
            a, b = await connect_all(srv.port, 2)
            redis.stop()
            await asyncio.gather(*(c.receive(lambda c: c.texts()) for c in (a, b)))
            a.send("anyone?")
            await a.receive(lambda c: len(c.texts()) >= 2)
            a.send("x" * 5000)  # longer than max_length: never published
            await a.receive(lambda c: len(c.texts()) >= 3)
            await asyncio.sleep(0.3)
            await asyncio.gather(a.close(), b.close())
            return a, b

        a, b = run(scenario(), 2 * WAIT)
        self.assertEqual(a.texts(), [
            "[chat: lost the connection to Redis; reconnecting]",
            "[not sent: the chat is unavailable; retry soon]",
            "[not sent: longer than the chat takes]"])
        self.assertEqual(b.texts(), a.texts()[:1])
        self.assertRegex(srv.log(), r"\[WARNING\] chat: cannot publish to "
                                    r"127\.0\.0\.1:%d: Connection refused" % redis.port)

    def test_a_client_that_stops_reading_is_closed_at_its_queue_limit(self):
        # Acceptance 5: 5 senders push 4 MB through the chat (1,000
        # messages of 4 KB); one client reads nothing (a small receive
        # window, so the kernel holds little for it). It is closed with
        # 1013 once its queue passes 256 KiB; the 30 others get
        # everything.
        redis = self.start_redis()
        srv = self.start_chat(redis, websocket={"websocket_max_queue": 262144})
        nclients, senders, count, pad = 30, range(5), 200, 4000
        stalled_log = (r"\[WARNING\] WebSocket from 127\.0\.0\.1: outgoing queue "
                       r"above websocket_max_queue \(262144 bytes\): closing with 1013")

        async def scenario():
            stalled = await Client.connect(srv.port, rcvbuf=4096, name="stalled")
            stalled.writer.transport.pause_reading()  # reads nothing from now on
            clients = await connect_all(srv.port, nclients)
            # Each sender a message every 20 ms: 1 MB/s in all, to each
            # client.
            await asyncio.gather(*(paced(clients[s], s, count, 0.02, pad) for s in senders),
                                 *(c.receive(lambda c: c.nchat >= len(senders) * count)
                                   for c in clients))
            # The server gives up on the one that reads nothing (and
            # sends nothing) when the closing handshake's 5 s are over: it
            # closes the connection.
            started = time.monotonic()
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: wait_until(lambda: re.search(r" close=\d+/1013 ", srv.access_log()), 30,
                                         interval=0.2, what="the stalled WebSocket to end"))
            gave_up.append(time.monotonic() - started)
            # Its peer code: 1006, no close came from it.
            self.assertRegex(srv.access_log(), r"stalled GET /ws .* close=1006/1013 ")
            # What reached it before, then the end (its close frame was
            # still queued behind what it never read).
            stalled.writer.transport.resume_reading()
            await stalled.receive(lambda c: False, eof=True)
            await asyncio.sleep(0.3)
            await asyncio.gather(*(c.close() for c in clients))
            stalled.writer.close()
            return stalled, clients

        gave_up = []
        stalled, clients = run(scenario(), 4 * WAIT)
        self.assertTrue(stalled.eof)
        self.assertIn(stalled.close_code, (None, 1013))
        self.assertLess(len(stalled.chat()), len(senders) * count)
        self.assertEqual(stalled.chat(), clients[0].chat()[:len(stalled.chat())])
        self.assertLess(gave_up[0], 30)
        self.assertEqual([c.close_code for c in clients], [1000] * nclients)
        self.assert_delivered(clients, senders, count)
        # Said once, of that one only (the access log names it by its
        # port: the only WebSocket the server closed with 1013).
        self.assertEqual(len(re.findall(stalled_log, srv.log())), 1, srv.log())
        lines = self.websocket_lines(srv, nclients + 1)
        self.assertEqual([code for _pid, _out, code in lines].count(1013), 1)
        self.assertEqual(re.findall(r"^<\d+> (\S+) GET /ws .* close=\d+/1013 ",
                                    srv.access_log(), re.M), ["stalled"])
        lat = latencies(clients)
        sys.stderr.write("chat flood: %d readers got %d messages of %d bytes each; "
                         "the stalled one %d, closed %.1f s after; latency p50 %.1f ms "
                         "p99 %.1f ms\n"
                         % (nclients, len(senders) * count, len(clients[0].got[0][1]),
                            len(stalled.chat()), gave_up[0], sorted(lat)[len(lat) // 2] * 1e3,
                            p99(lat) * 1e3))
        self.assertLess(p99(lat), WAIT)  # a sanity bound, not a target

    def test_the_example_config_runs_the_chat(self):
        # contrib/apps/chat.conf as shipped, but for the paths and ports.
        here = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(here, "..", "..", "contrib", "apps", "chat.conf")) as f:
            text = f.read()
        redis = self.start_redis()
        for old, new in (("module = build/contrib/apps/chat.so", "module = " + CHAT),
                         ("port = 6379", "port = %d" % redis.port)):
            self.assertIn(old, text)
            text = text.replace(old, new)
        tmp = tempfile.mkdtemp(prefix="greenicorn-chat-conf-")
        self.addCleanup(shutil.rmtree, tmp, True)
        config = os.path.join(tmp, "chat.conf")
        with open(config, "w") as f:
            f.write(text)
        srv = self.start_server(app=None, use_config=False,
                                args=["-c", config, "-b", "127.0.0.1:{port}"])
        srv.wait_workers(2, timeout=WAIT)
        wait_until(lambda: numsub(redis, CHANNEL) == 2, WAIT, interval=0.05,
                   what="2 subscriptions")
        self.assertEqual(srv.get("/")[0], 200)

        async def scenario():
            a, b = await connect_all(srv.port, 2)
            a.send("hello")
            await asyncio.gather(*(c.receive(lambda c: c.texts()) for c in (a, b)))
            # Past websocket_max_message (64 KiB there): 1009, unread.
            b.send("x" * 70000)
            await b.receive(lambda c: False)
            b.writer.close()
            await a.close()
            return a, b

        a, b = run(scenario(), 2 * WAIT)
        self.assertEqual((a.texts(), b.texts()), (["hello"], ["hello"]))
        self.assertEqual(b.close_code, 1009)

    def test_check_config_accepts_the_example_config(self):
        # --check-config runs init and fini in a child as a worker would:
        # the chat's init starts a green thread (its subscription), which
        # only a worker's green runtime can do. No Redis is needed: the
        # thread would connect once the loop ran, and it never runs there.
        here = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(here, "..", "..", "contrib", "apps", "chat.conf")) as f:
            text = f.read().replace("module = build/contrib/apps/chat.so",
                                    "module = " + CHAT)
        tmp = tempfile.mkdtemp(prefix="greenicorn-chat-check-")
        self.addCleanup(shutil.rmtree, tmp, True)
        config = os.path.join(tmp, "chat.conf")
        with open(config, "w") as f:
            f.write(text)
        r = harness.run_cli(["--check-config", "-c", config])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_preload_app_is_refused(self):
        redis = self.start_redis()
        with self.assertRaises(AssertionError) as cm:
            self.start_server(app=CHAT, workers=1, start_retries=1, settings={
                "app.args": {"port": redis.port},
                "workers": {"preload_app": "on"}})
        self.assertIn("preload_app is not for this app", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
