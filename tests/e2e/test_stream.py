#!/usr/bin/env python3
"""Stream apps ([stream:NAME], gevent's StreamServer): whoami.so and
line_echo.so served beside HTTP, under load, through graceful stops,
reloads, upgrades and max_requests, and the config errors that name
FILE:LINE."""
import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Server, app_path, free_port, run_cli, wait_until

IO = 30.0  # seconds for any one exchange: generous, on a loaded machine


def stream_settings(**streams):
    """{section: keys} for [stream:NAME] sections: NAME=(app, port, args)."""
    out = {}
    for name, (app, port, args) in streams.items():
        out["stream:" + name] = {"bind": "127.0.0.1:%d" % port,
                                 "module": app_path(app)}
        if args:
            out["stream:%s.args" % name] = args
    return out


def recv_all(sock, timeout=IO):
    """Everything SOCK receives until the peer closes."""
    sock.settimeout(timeout)
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def read_line(sock, timeout=IO):
    """One line (up to b"\\n") from SOCK, byte by byte (tests only)."""
    sock.settimeout(timeout)
    out = b""
    while not out.endswith(b"\n"):
        b = sock.recv(1)
        if not b:
            return out
        out += b
    return out


def worker_connections_served(log):
    """{worker pid: connections} from the workers' exit lines."""
    return {int(m.group(1)): int(m.group(2)) for m in re.finditer(
        r"\[(\d+)\] \[INFO\] worker \d+ \(pid \d+\) exiting: \d+ requests on "
        r"(\d+) connections", log)}


class StreamServer(Server):
    """A Server with stream listeners; waits until each accepts too."""

    def __init__(self, streams, **kw):
        self.streams = streams
        settings = kw.pop("settings", {})
        merged = stream_settings(**streams)
        for section, keys in settings.items():
            merged.setdefault(section, {}).update(keys)
        merged.setdefault("server", {}).setdefault("backlog", 1024)
        super().__init__(settings=merged, **kw)

    def _wait_accepting(self):
        super()._wait_accepting()
        for name in self.streams:
            self.wait_for_log(r"listening at: 127\.0\.0\.1:%d for \[stream:%s\]"
                              % (self.streams[name][1], name), timeout=10)


class WhoamiTest(unittest.TestCase):
    """Acceptance 1: nc and Python against whoami.so."""

    def test_python_client_gets_its_address(self):
        port = free_port()
        with StreamServer({"whoami": ("whoami", port, None)}, workers=2) as srv:
            for _ in range(5):
                with socket.create_connection(("127.0.0.1", port), timeout=IO) as s:
                    self.assertEqual(recv_all(s), b"Your address is 127.0.0.1\n")
            # HTTP still answers beside it.
            conn = srv.http()
            conn.request("GET", "/")
            self.assertEqual(conn.getresponse().status, 200)
            conn.close()

    def test_netcat_shows_it(self):
        nc = shutil.which("nc")
        self.assertIsNotNone(nc, "netcat-openbsd (nc) is needed: scripts/install-deps --test")
        port = free_port()
        with StreamServer({"whoami": ("whoami", port, None)}):
            out = subprocess.run([nc, "-N", "127.0.0.1", str(port)], capture_output=True,
                                 stdin=subprocess.DEVNULL, timeout=IO)
            self.assertEqual(out.stdout, b"Your address is 127.0.0.1\n", out.stderr)

    def test_stream_only_config_serves_no_http(self):
        """No [app], only a stream: nothing listens on HTTP's bind."""
        port = free_port()
        http_port = free_port()
        tmp = tempfile.mkdtemp(prefix="greenicorn-e2e-")
        self.addCleanup(shutil.rmtree, tmp, True)
        conf = os.path.join(tmp, "g.conf")
        with open(conf, "w") as f:
            f.write(harness.render_config({
                "server": {"bind": "127.0.0.1:%d" % http_port},
                "logging": {"errorlog": "-"},
                **stream_settings(whoami=("whoami", port, None))}))
        proc = harness.spawn_logged([harness.GREENICORN, "-c", conf], tmp)
        try:
            def answered():
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                        return recv_all(s)
                except OSError:
                    return None
            self.assertEqual(wait_until(answered, 10, what="whoami"),
                             b"Your address is 127.0.0.1\n")
            with self.assertRaises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", http_port), timeout=2).close()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)


class LineEchoLoadTest(unittest.TestCase):
    """Acceptance 1: 10,000 lines from 500 concurrent clients on 2
    workers, every one echoed, in order, on its own connection."""

    CLIENTS = 500
    LINES = 20  # each: 500 x 20 = 10,000

    async def client(self, port, n, barrier_ev):
        for attempt in range(5):  # a SYN dropped on a full backlog: retry
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), IO)
                break
            except (OSError, asyncio.TimeoutError):
                if attempt == 4:
                    raise
                await asyncio.sleep(0.5)
        await barrier_ev.wait()  # all connected: 500 at once
        got = []
        for i in range(self.LINES):
            line = b"client %d line %d %s\n" % (n, i, b"x" * (n % 50))
            writer.write(line)
            await writer.drain()
            echo = await asyncio.wait_for(reader.readline(), IO * 2)
            got.append(echo == line)
        writer.write_eof()
        rest = await asyncio.wait_for(reader.read(), IO)
        writer.close()
        return sum(got), rest

    async def run_clients(self, port):
        ev = asyncio.Event()
        tasks = [asyncio.ensure_future(self.client(port, n, ev))
                 for n in range(self.CLIENTS)]
        await asyncio.sleep(0.1)
        ev.set()
        return await asyncio.gather(*tasks)

    def test_500_clients_10000_lines(self):
        port = free_port()
        with StreamServer({"echo": ("line_echo", port, None)}, workers=2,
                          settings={"workers": {"worker_connections": 1000}}) as srv:
            results = asyncio.run(self.run_clients(port))
            self.assertEqual(sum(r[0] for r in results), self.CLIENTS * self.LINES)
            self.assertTrue(all(r[1] == b"" for r in results))
            srv.stop()
            served = worker_connections_served(srv.log())
        # Both workers took some (the harness's own probe of the HTTP port
        # counts too).
        self.assertEqual(len(served), 2, served)
        self.assertTrue(all(n > 0 for n in served.values()), served)
        self.assertGreaterEqual(sum(served.values()), self.CLIENTS)


if __name__ == "__main__":
    unittest.main()
