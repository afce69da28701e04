#!/usr/bin/env python3
"""bench/wsload against a small WebSocket server that can misbehave on demand.

    python3 bench/test_wsload.py -v        # WSLOAD=build/bench/wsload by default

wsload's figures are only worth something if a broken server cannot look
fast: each fault below (a changed byte, a wrong opcode, a masked frame, a
wrong accept key, a broadcast missing or doubled, a socket closed while
held, in sio mode an ack changed, an ack for another id, a namespace
refused) must make it fail, and a correct server must pass every mode. The
server is asyncio from the standard library, in a thread of this process,
on a free 127.0.0.1 port; every run is bounded by a timeout.
"""
import asyncio
import base64
import hashlib
import json
import os
import struct
import subprocess
import sys
import threading
import unittest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WSLOAD = os.environ.get("WSLOAD") or os.path.join(REPO, "build", "bench", "wsload")
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Server:
    """Echo + broadcast (the protocol of bench/README.md) with one FAULT:
    None, "corrupt", "binary", "masked", "accept", "skip-one", "twice",
    "close-idle". With SIO it speaks Socket.IO 5 over Engine.IO 4's
    WebSocket transport instead (wsload sio): an "echo" event acked with its
    arguments; faults "corrupt", "wrong-id", "refuse"."""

    def __init__(self, fault=None, sio=False):
        self.fault = fault
        self.sio = sio
        self.paths = []  # each handshake's request target
        self.pongs = 0   # Engine.IO pongs ("3") received
        self.clients = []
        self.payloads = []  # what each broadcast asked to send
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
            for w in list(self.clients):
                w.close()
        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def frame(self, opcode, payload):
        head = bytes([0x80 | opcode])
        n = len(payload)
        if self.fault == "masked":
            key = b"\x01\x02\x03\x04"
            body = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
            return head + bytes([0x80 | n]) + key + body
        if n < 126:
            return head + bytes([n]) + payload
        return head + bytes([126]) + struct.pack("!H", n) + payload

    async def handle(self, reader, writer):
        try:
            await self.serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if writer in self.clients:
                self.clients.remove(writer)
            writer.close()

    async def serve(self, reader, writer):
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        self.paths.append(head.split(" ")[1])
        key = [line.split(":", 1)[1].strip() for line in head.split("\r\n")
               if line.lower().startswith("sec-websocket-key:")][0]
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        if self.fault == "accept":
            accept = accept[::-1]
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                      % accept).encode())
        self.clients.append(writer)
        if self.sio:
            # The OPEN packet, and a ping at once: wsload must answer it.
            writer.write(self.frame(1, b'0{"sid":"e1","upgrades":[],"pingInterval":'
                                    b'25000,"pingTimeout":20000,"maxPayload":1000000}'))
            writer.write(self.frame(1, b"2"))
        messages = 0
        while True:
            b0, b1 = await reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await reader.readexactly(2))[0]
            key = await reader.readexactly(4)
            data = bytes(b ^ key[i & 3] for i, b in enumerate(await reader.readexactly(n)))
            opcode = b0 & 0x0F
            messages += 1
            if opcode == 8:
                return
            if self.sio:
                self.sio_packet(writer, data)
            elif opcode == 1 and data.startswith(b"broadcast:"):
                self.broadcast(data[len(b"broadcast:"):])
            elif self.fault == "close-idle" and messages == 2:
                return  # the second message (wsload's "check") finds it gone
            else:
                self.echo(writer, opcode, data)
            await writer.drain()

    def sio_packet(self, writer, data):
        if data == b"3":
            self.pongs += 1
        elif data == b"40":
            writer.write(self.frame(1, b'44{"message":"not authorized"}'
                                    if self.fault == "refuse" else b'40{"sid":"s1"}'))
        elif data.startswith(b"42"):
            body = data[2:].decode()
            digits = len(body) - len(body.lstrip("0123456789"))
            ack_id, args = int(body[:digits]), json.loads(body[digits:])
            assert args[0] == "echo", args
            reply = args[1:]
            if self.fault == "corrupt":
                reply = [reply[0][:5] + chr(ord(reply[0][5]) ^ 1) + reply[0][6:]]
            if self.fault == "wrong-id":
                ack_id += 1
            writer.write(self.frame(1, ("43%d%s" % (ack_id, json.dumps(reply))).encode()))

    def echo(self, writer, opcode, data):
        if self.fault == "corrupt" and len(data) > 5:
            data = data[:5] + bytes([data[5] ^ 1]) + data[6:]
        if self.fault == "binary":
            opcode = 2
        writer.write(self.frame(opcode, data))

    def broadcast(self, payload):
        self.payloads.append(payload)
        for i, w in enumerate(self.clients):
            if self.fault == "skip-one" and i == len(self.clients) // 2:
                continue
            w.write(self.frame(1, payload))
            if self.fault == "twice" and i == 0:
                w.write(self.frame(1, payload))


def wsload(port, *args, stdin=None, timeout=60):
    return subprocess.run([WSLOAD] + list(args[:1]) + ["-p", str(port)]
                          + [str(a) for a in args[1:]],
                          input=stdin, capture_output=True, text=True, timeout=timeout)


def results(out):
    return {w[1]: float(w[2]) for w in (line.split() for line in out.splitlines())
            if w and w[0] == "result"}


class WsloadTest(unittest.TestCase):
    def run_against(self, fault, *args, stdin=None, sio=False):
        server = self.server = Server(fault, sio)
        try:
            return wsload(server.port, *args, stdin=stdin)
        finally:
            server.stop()

    def assert_fails(self, fault, message, *args, stdin=None, sio=False):
        r = self.run_against(fault, *args, stdin=stdin, sio=sio)
        self.assertEqual(r.returncode, 1, "wsload passed a server with fault %s:\n%s"
                         % (fault, r.stdout))
        self.assertIn(message, r.stderr)

    def test_echo_reports_round_trips(self):
        r = self.run_against(None, "echo", "-c", 5, "-d", 1, "-w", 0.2)
        self.assertEqual(r.returncode, 0, r.stderr)
        res = results(r.stdout)
        self.assertGreater(res["messages"], 50)
        self.assertAlmostEqual(res["rps"], res["messages"] / res["seconds"],
                               delta=res["rps"] * 0.001 + 1)  # seconds: 3 decimals
        self.assertGreater(res["p50_ms"], 0)
        self.assertGreaterEqual(res["p99_ms"], res["p50_ms"])
        self.assertGreater(res["client_cpu_us"], 0)
        phases = [line for line in r.stdout.splitlines() if line.startswith("phase")]
        self.assertEqual(phases, ["phase open 5 " + phases[0].split()[3],
                                  "phase measure", "phase end"])

    def test_echo_fails_on_a_changed_byte(self):
        self.assert_fails("corrupt", "the echo differs", "echo", "-c", 3, "-d", 1)

    def test_echo_fails_on_a_wrong_opcode(self):
        self.assert_fails("binary", "the echo differs", "echo", "-c", 3, "-d", 1)

    def test_fails_on_a_masked_server_frame(self):
        self.assert_fails("masked", "masked a frame", "echo", "-c", 3, "-d", 1)

    def test_fails_on_a_wrong_accept_key(self):
        self.assert_fails("accept", "wrong Sec-WebSocket-Accept", "echo", "-c", 3, "-d", 1)

    def test_sio_acks_round_trips(self):
        r = self.run_against(None, "sio", "-c", 5, "-d", 1, "-w", 0.2, sio=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        res = results(r.stdout)
        self.assertGreater(res["messages"], 50)
        self.assertGreater(res["p50_ms"], 0)
        self.assertEqual(self.server.paths, ["/socket.io/?EIO=4&transport=websocket"] * 5)
        self.assertEqual(self.server.pongs, 5)  # every socket answered its ping

    def test_sio_fails_on_a_changed_ack(self):
        self.assert_fails("corrupt", "the echo differs", "sio", "-c", 3, "-d", 1, sio=True)

    def test_sio_fails_on_an_ack_for_another_id(self):
        self.assert_fails("wrong-id", "the echo differs", "sio", "-c", 3, "-d", 1, sio=True)

    def test_sio_fails_when_the_namespace_refuses(self):
        self.assert_fails("refuse", "CONNECT refused", "sio", "-c", 3, "-d", 1, sio=True)

    def test_sio_fails_against_a_plain_websocket(self):
        # It sends no OPEN packet: no socket counts as open.
        self.assert_fails(None, "0 of 2 WebSockets opened", "sio", "-c", 2, "-d", 1,
                          "-t", 2)

    def test_broadcast_times_every_round(self):
        r = self.run_against(None, "broadcast", "-c", 40, "-r", 3)
        self.assertEqual(r.returncode, 0, r.stderr)
        res = results(r.stdout)
        self.assertEqual(res["rounds"], 3)
        self.assertGreater(res["last_ms"], 0)
        self.assertLessEqual(res["first_ms"], res["last_ms"])
        self.assertLessEqual(res["last_ms_min"], res["last_ms"])
        self.assertLessEqual(res["last_ms"], res["last_ms_max"])
        rounds = [line for line in r.stdout.splitlines() if line.startswith("phase round")]
        self.assertEqual(len(rounds), 3)
        # A warm-up round and 3 measured, each a new 32-byte text payload.
        self.assertEqual(len(self.server.payloads), 4)
        self.assertEqual(len(set(self.server.payloads)), 4)
        self.assertEqual({len(p) for p in self.server.payloads}, {32})

    def test_broadcast_fails_when_a_socket_misses_it(self):
        self.assert_fails("skip-one", "got the broadcast", "broadcast", "-c", 10,
                          "-r", 1, "-t", 2)

    def test_broadcast_fails_on_a_second_copy(self):
        self.assert_fails("twice", "too many", "broadcast", "-c", 10, "-r", 2, "-t", 5)

    def test_idle_holds_and_checks_every_socket(self):
        r = self.run_against(None, "idle", "-c", 60, stdin="check\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("phase ready 60", r.stdout)
        self.assertIn("phase checked 60", r.stdout)

    def test_idle_handshake_only_holds_without_a_message(self):
        r = self.run_against("close-idle", "idle", "-c", 20, "-n", stdin="check\n")
        # close-idle drops a socket at its second message: with -n the
        # check is the first, so every socket answers it.
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("phase ready 20", r.stdout)
        self.assertIn("phase checked 20", r.stdout)

    def test_idle_fails_when_the_server_drops_a_socket(self):
        self.assert_fails("close-idle", "closed the connection", "idle", "-c", 5,
                          stdin="check\n")


if __name__ == "__main__":
    if not os.access(WSLOAD, os.X_OK):
        sys.exit("test_wsload: no %s (build it, or set WSLOAD)" % WSLOAD)
    unittest.main()
