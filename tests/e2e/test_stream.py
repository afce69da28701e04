#!/usr/bin/env python3
"""Stream apps ([stream:NAME], gevent's StreamServer): whoami.so and
line_echo.so served beside HTTP, under load, through graceful stops,
reloads, upgrades and max_requests, and the config errors that name
FILE:LINE."""
import asyncio
import errno
import sys
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
import proc_net
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

    def test_preload_app_inits_the_stream_app_in_the_arbiter(self):
        port = free_port()
        with StreamServer({"echo": ("line_echo", port, {"max_line": 4})}, workers=2,
                          settings={"workers": {"preload_app": "on"}}) as srv:
            # max_line = 4 came through init: a longer line in pieces.
            with socket.create_connection(("127.0.0.1", port), timeout=IO) as s:
                s.sendall(b"abcdefgh\n")
                s.shutdown(socket.SHUT_WR)
                self.assertEqual(recv_all(s), b"abcdefgh\n")
            srv.stop()
            self.assertEqual(srv.returncode, 0)

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

    def test_last_line_and_end_of_input_in_one_packet(self):
        """The client's end arrives with its last bytes: the handler
        sees it (no edge follows to wake a read that waits)."""
        port = free_port()
        with StreamServer({"echo": ("line_echo", port, None)}):
            for data in (b"one\n", b"one\ntwo\n", b"no newline", b"one\nno newline"):
                with socket.create_connection(("127.0.0.1", port), timeout=IO) as s:
                    s.sendall(data)
                    s.shutdown(socket.SHUT_WR)
                    start = time.monotonic()
                    self.assertEqual(recv_all(s, timeout=10), data)
                    self.assertLess(time.monotonic() - start, 5)

    def test_500_clients_10000_lines(self):
        port = free_port()
        with StreamServer({"echo": ("line_echo", port, None)}, workers=2,
                          settings={"workers": {"worker_connections": 1000}}) as srv:
            # The harness returns once one worker accepts; the clients
            # connect within 0.1 s, so a second worker still booting (a
            # busy machine) would see none of them.
            srv.wait_workers(2, timeout=30)
            results = asyncio.run(self.run_clients(port))
            self.assertEqual(sum(r[0] for r in results), self.CLIENTS * self.LINES)
            self.assertTrue(all(r[1] == b"" for r in results))
            srv.stop()
            served = worker_connections_served(srv.log())
        # Both workers took some (the harness's own probe of the HTTP port
        # counts too).
        self.assertEqual(len(served), 2, served)
        sys.stderr.write("line_echo: connections per worker: %s\n" % served)
        self.assertTrue(all(n > 0 for n in served.values()), served)
        self.assertGreaterEqual(sum(served.values()), self.CLIENTS)


def probe_path():
    return harness.test_plugin_path("stream_probe")


class Probe:
    """A client of tests/plugins/stream_probe.c: one command per line."""

    def __init__(self, port, timeout=IO):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def ask(self, cmd):
        self.sock.sendall(cmd.encode() + b"\n")
        return read_line(self.sock).decode().strip()

    def pid(self):
        return int(self.ask("pid").split("=")[1])

    def send(self, cmd):
        self.sock.sendall(cmd.encode() + b"\n")

    def wait_closed(self, timeout):
        """Seconds until the server closed the connection (EOF or reset)."""
        start = time.monotonic()
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(4096):
                pass
        except ConnectionResetError:
            pass
        return time.monotonic() - start

    def close(self):
        self.sock.close()


def listen_inode(port):
    """The inode of the socket listening on 127.0.0.1:PORT, or None."""
    return next((s.inode for s in proc_net.sockets()
                 if (s.local_addr, s.local_port) == ("127.0.0.1", port)
                 and s.state == proc_net.LISTEN), None)


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except (ConnectionRefusedError, ConnectionResetError):
        return True


class LifecycleTest(unittest.TestCase):
    """Graceful stops, reloads, upgrades and max_requests with a stream
    handler running: as for HTTP, and -ECANCELED near graceful_timeout."""

    def server(self, graceful=4, workers=1, extra=None, app="hello"):
        self.port = free_port()
        settings = {"stream:probe": {"bind": "127.0.0.1:%d" % self.port,
                                     "module": probe_path()},
                    "workers": {"graceful_timeout": graceful}}
        for section, keys in (extra or {}).items():
            settings.setdefault(section, {}).update(keys)
        srv = Server(app=app, workers=workers, settings=settings)
        srv.__enter__()
        self.addCleanup(srv.__exit__, None, None, None)
        srv.wait_for_log(r"listening at: 127\.0\.0\.1:%d for \[stream:probe\]" % self.port)
        srv.wait_workers(workers, timeout=10)
        return srv

    def probe(self):
        p = Probe(self.port)
        self.addCleanup(p.close)
        return p

    def test_term_lets_the_handler_run_then_cancels_it_before_the_kill(self):
        srv = self.server(graceful=4)
        p = self.probe()
        worker = p.pid()
        self.assertEqual(p.ask("stopping"), "stopping=0")
        srv.signal(signal.SIGTERM)
        srv.wait_for_log(r"worker \d+ \(pid %d\) stopping: SIGTERM" % worker)
        # Still served, and told; new connections are refused.
        self.assertEqual(p.ask("stopping"), "stopping=1")
        self.assertEqual(p.ask("hello"), "hello")
        self.assertTrue(wait_until(lambda: refused(self.port), 5, what="refusal"))
        p.send("park")
        took = p.wait_closed(15)
        self.assertEqual(srv.wait_exit(15), 0)
        log = srv.log()
        self.assertIn("stream_probe: parked read returned -125 (Operation canceled)", log)
        self.assertIn("cancelling 1 connection still being served", log)
        self.assertNotIn("still running after graceful_timeout", log)
        self.assertNotIn("killing", log)
        # Cancelled about a second before graceful_timeout (4 s after TERM).
        self.assertLess(took, 4.0, log)

    def test_handler_that_ends_by_itself_ends_the_stop_early(self):
        srv = self.server(graceful=20)
        p = self.probe()
        p.pid()
        start = time.monotonic()
        srv.signal(signal.SIGTERM)
        self.assertEqual(p.ask("sleep 1"), "slept")
        p.close()
        self.assertEqual(srv.wait_exit(15), 0)
        self.assertLess(time.monotonic() - start, 10)
        self.assertNotIn("cancelling", srv.log())

    def test_ttou_retires_a_worker_whose_handler_runs_on(self):
        # Two connections fill a worker, so the accept race cannot give
        # every probe to one of them.
        srv = self.server(graceful=30, workers=2,
                          extra={"workers": {"worker_connections": 2}})
        probes = []
        pids = set()
        for _ in range(4):  # until both workers hold one
            p = self.probe()
            probes.append(p)
            pids.add(p.pid())
            if len(pids) == 2:
                break
        self.assertEqual(len(pids), 2)
        srv.signal(signal.SIGTTOU)
        m = srv.wait_for_log(r"worker \d+ \(pid (\d+)\) stopping: SIGTERM", 10)
        retired = int(m.group(1))
        self.assertIn(retired, pids)
        for p in probes:  # every handler still answers
            if p.pid() == retired:
                self.assertEqual(p.ask("stopping"), "stopping=1")
        self.assertTrue(harness.pid_alive(retired))
        for p in probes:
            p.close()
        wait_until(lambda: not harness.pid_alive(retired), 10, what="the retired worker")
        self.assertEqual(len(srv.worker_pids()), 1)

    def test_busy_http_handler_is_cancelled_before_the_kill_too(self):
        srv = self.server(graceful=3, app="echo")
        conn = srv.http(timeout=IO)
        conn.request("GET", "/?sleep=60")
        time.sleep(0.5)
        srv.signal(signal.SIGTERM)
        status = conn.getresponse().status
        conn.close()
        self.assertEqual(srv.wait_exit(15), 0)
        self.assertIn(status, (500, 503, 504))
        self.assertNotIn("killing", srv.log())

    def test_reload_setting_watches_the_stream_apps_module(self):
        tmp = tempfile.mkdtemp(prefix="gn-reload-")
        self.addCleanup(shutil.rmtree, tmp, True)
        mod = os.path.join(tmp, "s.so")
        shutil.copyfile(app_path("whoami"), mod)
        port = free_port()
        with Server(app="hello", workers=1, args=["--reload"], settings={
                "stream:s": {"bind": "127.0.0.1:%d" % port, "module": mod}}) as srv:
            srv.wait_workers(1, timeout=10)
            with socket.create_connection(("127.0.0.1", port), timeout=IO) as s:
                self.assertEqual(recv_all(s), b"Your address is 127.0.0.1\n")
            shutil.copyfile(app_path("line_echo"), mod + ".new")
            os.rename(mod + ".new", mod)  # as install and mv replace it
            srv.wait_for_log(r"reload: %s changed" % re.escape(mod), 10)
            srv.wait_for_log(r"new worker\(s\) up", 15)

            def echoed():
                # Until the old worker has closed its listener it may still
                # take a connection: whoami answers and closes without
                # reading our line, so the kernel resets. Not yet, then.
                try:
                    with socket.create_connection(("127.0.0.1", port),
                                                  timeout=IO) as s:
                        s.sendall(b"ping\n")
                        s.shutdown(socket.SHUT_WR)
                        return recv_all(s) == b"ping\n"
                except ConnectionResetError:
                    return False
            wait_until(echoed, 10, what="line_echo served after the reload")

    def test_stream_connections_count_toward_worker_connections(self):
        srv = self.server(extra={"workers": {"worker_connections": 2}})
        first, second = self.probe(), self.probe()
        self.assertEqual(first.ask("a"), "a")
        self.assertEqual(second.ask("b"), "b")
        third = self.probe()  # queued in the backlog, not accepted
        third.send("pid")
        third.sock.settimeout(1.5)
        with self.assertRaises(socket.timeout):
            third.sock.recv(100)
        first.close()  # room again: the worker accepts it
        third.sock.settimeout(IO)
        self.assertTrue(read_line(third.sock).startswith(b"pid="))

    def test_a_handler_that_holds_the_loop_is_named(self):
        srv = self.server(extra={"workers": {"max_blocking_ms": 100}})
        p = self.probe()
        self.assertEqual(p.ask("spin 0.4"), "spun")
        srv.wait_for_log(r'"\[stream:probe\]" held the event loop for \d+ ms', 10)

    def test_hup_keeps_the_running_handler_and_new_connections_go_to_new_workers(self):
        srv = self.server(graceful=30)
        p = self.probe()
        old = p.pid()
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(r"new worker\(s\) up", timeout=15)
        new = wait_until(lambda: [w for w in srv.worker_pids() if w != old], 10,
                         what="a new worker")
        # The old worker still serves its stream, and knows it is stopping.
        srv.wait_for_log(r"worker \d+ \(pid %d\) stopping: SIGTERM" % old, 15)
        self.assertEqual(p.ask("stopping"), "stopping=1")
        self.assertEqual(p.pid(), old)
        for _ in range(3):
            q = Probe(self.port)
            self.assertIn(q.pid(), new)
            self.assertEqual(q.ask("stopping"), "stopping=0")
            q.close()
        # Once its client leaves, the old worker exits: no wait for the
        # timeout.
        p.close()
        wait_until(lambda: not harness.pid_alive(old), 10, what="the old worker to exit")

    def test_hup_adds_removes_and_keeps_stream_binds(self):
        srv = self.server(graceful=5)
        keep, drop, add = self.port, free_port(), free_port()
        kept_inode = listen_inode(keep)
        self.assertIsNotNone(kept_inode)
        sections = srv.config_sections()
        sections["stream:drop"] = {"bind": "127.0.0.1:%d" % drop,
                                   "module": app_path("whoami")}
        with open(srv.config_path, "w") as f:
            f.write(harness.render_config(sections))
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(r"listening at: 127\.0\.0\.1:%d for \[stream:drop\]" % drop, 15)
        with socket.create_connection(("127.0.0.1", drop), timeout=IO) as s:
            self.assertEqual(recv_all(s), b"Your address is 127.0.0.1\n")
        del sections["stream:drop"]
        sections["stream:add"] = {"bind": "127.0.0.1:%d" % add,
                                  "module": app_path("whoami")}
        with open(srv.config_path, "w") as f:
            f.write(harness.render_config(sections))
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(r"listening at: 127\.0\.0\.1:%d for \[stream:add\]" % add, 15)
        self.assertTrue(wait_until(lambda: refused(drop), 10, what="drop's socket closed"))
        with socket.create_connection(("127.0.0.1", add), timeout=IO) as s:
            self.assertEqual(recv_all(s), b"Your address is 127.0.0.1\n")
        q = Probe(keep)
        self.assertEqual(q.ask("x"), "x")
        q.close()
        # The kept stream's socket is the one bound at start.
        self.assertEqual(listen_inode(keep), kept_inode)

    def test_usr2_hands_the_stream_socket_to_the_new_arbiter(self):
        tmp = tempfile.mkdtemp(prefix="gn-usr2-")
        self.addCleanup(shutil.rmtree, tmp, True)
        pidfile = os.path.join(tmp, "g.pid")
        srv = self.server(graceful=4, extra={"process": {"pidfile": pidfile}})
        p = self.probe()
        old_worker = p.pid()
        old = srv.pid
        srv.signal(signal.SIGUSR2)
        new = wait_until(lambda: (lambda x: x if x and x != old else None)(
            harness.read_pid(pidfile)), 15, what="the new arbiter's pidfile")
        self.addCleanup(lambda: harness.pid_alive(new) and os.kill(new, signal.SIGKILL))
        srv.wait_for_log(r"\[%d\] \[INFO\] sockets inherited from the old arbiter "
                         r"\(USR2\): \[stream:probe\] on fd://\d+" % new, 10)
        srv.wait_for_log(r"\[%d\] \[INFO\] listening at: 127\.0\.0\.1:%d for "
                         r"\[stream:probe\]" % (new, self.port), 10)
        new_workers = wait_until(lambda: harness.children_of(new), 15,
                                 what="the new arbiter's worker")
        srv.wait_for_log(r"booting worker \d+ with pid %d\b" % new_workers[-1], 10)
        # The old generation goes; its handler runs on until cancelled.
        srv.signal(signal.SIGTERM)
        srv.wait_for_log(r"worker \d+ \(pid %d\) stopping: SIGTERM" % old_worker)
        self.assertEqual(p.ask("stopping"), "stopping=1")
        self.assertEqual(p.pid(), old_worker)
        for _ in range(3):
            q = Probe(self.port)
            self.assertIn(q.pid(), new_workers)
            q.close()
        p.send("park")
        self.assertLess(p.wait_closed(15), 4.0)
        self.assertEqual(srv.wait_exit(15), 0)
        self.assertIn("parked read returned -125", srv.log())
        q = Probe(self.port)
        self.assertIn(q.pid(), new_workers)
        q.close()
        os.kill(new, signal.SIGTERM)
        wait_until(lambda: not harness.pid_alive(new), 15, what="the new arbiter to stop")

    def test_usr2_to_a_config_without_the_stream_closes_its_socket(self):
        tmp = tempfile.mkdtemp(prefix="gn-usr2-")
        self.addCleanup(shutil.rmtree, tmp, True)
        pidfile = os.path.join(tmp, "g.pid")
        srv = self.server(graceful=4, extra={"process": {"pidfile": pidfile}})
        sections = srv.config_sections()
        del sections["stream:probe"]
        with open(srv.config_path, "w") as f:
            f.write(harness.render_config(sections))
        old = srv.pid
        srv.signal(signal.SIGUSR2)
        new = wait_until(lambda: (lambda x: x if x and x != old else None)(
            harness.read_pid(pidfile)), 15, what="the new arbiter's pidfile")
        self.addCleanup(lambda: harness.pid_alive(new) and os.kill(new, signal.SIGKILL))
        srv.wait_for_log(r"\[%d\] \[WARNING\] the old arbiter's socket fd://\d+ of "
                         r"\[stream:probe\] is closed: the configuration has no "
                         r"\[stream:probe\]" % new, 10)
        new_workers = wait_until(lambda: harness.children_of(new), 15,
                                 what="the new arbiter's worker")
        srv.wait_for_log(r"booting worker \d+ with pid %d\b" % new_workers[-1], 10)
        srv.signal(signal.SIGTERM)
        self.assertEqual(srv.wait_exit(15), 0)
        self.assertTrue(refused(self.port))
        self.assertEqual(harness.raw_exchange(
            srv.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[:15],
            b"HTTP/1.1 200 OK")
        os.kill(new, signal.SIGTERM)
        wait_until(lambda: not harness.pid_alive(new), 15, what="the new arbiter to stop")

    def test_max_requests_counts_stream_connections(self):
        srv = self.server(extra={"workers": {"max_requests": 3,
                                             "max_requests_jitter": 0}})
        pids = []
        for n in range(2):
            q = Probe(self.port)
            pids.append(q.pid())
            q.close()
            wait_until(lambda: srv.log().count("stream_probe: handle returns") == n + 1,
                       10, what="handler %d done" % n)
        self.assertNotIn("reached max_requests", srv.log())
        q = Probe(self.port)
        pids.append(q.pid())
        q.close()
        srv.wait_for_log(r"worker \d+ \(pid %d\) reached max_requests \(3\)" % pids[0], 10)
        wait_until(lambda: not harness.pid_alive(pids[0]), 15, what="the worker to retire")
        self.assertEqual(len(set(pids)), 1)
        q = Probe(self.port)
        self.assertNotEqual(q.pid(), pids[0])
        q.close()


class SystemdActivationTest(unittest.TestCase):
    """A socket systemd passes with FileDescriptorName= a stream's NAME
    serves that stream; the others serve HTTP (both binds ignored)."""

    def test_named_socket_serves_the_stream(self):
        tmp = tempfile.mkdtemp(prefix="greenicorn-e2e-")
        self.addCleanup(shutil.rmtree, tmp, True)
        web, stream = socket.socket(), socket.socket()
        for s in (web, stream):
            s.bind(("127.0.0.1", 0))
            s.listen(64)
        busy = []  # what the config names is taken: never bound
        for _ in range(2):
            b = socket.socket()
            b.bind(("127.0.0.1", 0))
            b.listen(1)
            self.addCleanup(b.close)
            busy.append(b.getsockname()[1])
        conf = os.path.join(tmp, "g.conf")
        with open(conf, "w") as f:
            f.write(harness.render_config({
                "server": {"bind": "127.0.0.1:%d" % busy[0]},
                "logging": {"errorlog": os.path.join(tmp, "error.log")},
                "app": {"module": app_path("hello")},
                "stream:probe": {"bind": "127.0.0.1:%d" % busy[1],
                                 "module": probe_path()}}))
        cmd = harness.PDEATHSIG + [
            "sh", "-c", 'exec 3<&%d 4<&%d; LISTEN_PID=$$ LISTEN_FDS=2 '
            'LISTEN_FDNAMES=web.socket:probe exec "$@"' % (web.fileno(), stream.fileno()),
            "sh", harness.GREENICORN, "-c", conf]
        proc = subprocess.Popen(cmd, pass_fds=(web.fileno(), stream.fileno()),
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        web_port, stream_port = web.getsockname()[1], stream.getsockname()[1]
        web.close()
        stream.close()

        def log():
            try:
                with open(os.path.join(tmp, "error.log")) as f:
                    return f.read()
            except FileNotFoundError:
                return ""
        wait_until(lambda: "booting worker" in log(), 10, what="a worker\n" + log())
        self.assertIn("[stream:probe] on fd://4", log())
        p = Probe(stream_port)
        self.assertEqual(p.ask("hello"), "hello")
        p.close()
        reply = harness.raw_exchange(
            web_port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 200 OK"), reply[:200])
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(15), 0)


class ConfigErrorTest(unittest.TestCase):
    """Stream config mistakes name FILE:LINE, at start and --check-config."""

    def check(self, text, *args):
        tmp = tempfile.mkdtemp(prefix="greenicorn-e2e-")
        self.addCleanup(shutil.rmtree, tmp, True)
        conf = os.path.join(tmp, "g.conf")
        with open(conf, "w") as f:
            f.write(text)
        return conf, run_cli(["--check-config", "-c", conf] + list(args))

    def test_bad_section_name(self):
        conf, r = self.check("[stream:a b]\nbind = 127.0.0.1:1\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:1: [stream:a b]: a stream's NAME is letters" % conf, r.stderr)

    def test_missing_module(self):
        conf, r = self.check("[app]\nmodule = %s\n\n[stream:w]\nbind = 127.0.0.1:1\n"
                             % app_path("hello"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:4: [stream:w]: no module" % conf, r.stderr)

    def test_duplicate_bind(self):
        port = free_port()
        conf, r = self.check(
            "[app]\nmodule = %s\n[server]\nbind = 127.0.0.1:%d\n"
            "[stream:w]\nmodule = %s\nbind = 127.0.0.1:%d\n"
            % (app_path("hello"), port, app_path("whoami"), port))
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:7: bind: '127.0.0.1:%d' is already an HTTP bind (line 4: bind)"
                      % (conf, port), r.stderr)

    def test_bad_module(self):
        conf, r = self.check("[stream:w]\nbind = 127.0.0.1:%d\nmodule = %s\n"
                             % (free_port(), app_path("hello")))
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:3: [stream:w] module: %s: no symbol 'greenicorn_stream_app' "
                      "(export a gn_stream_app_t" % (conf, app_path("hello")), r.stderr)
        conf, r = self.check("[stream:w]\nbind = 127.0.0.1:%d\nmodule = /nonexistent.so\n"
                             % free_port())
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:3: [stream:w] module: cannot load the stream app" % conf, r.stderr)

    def test_check_config_runs_the_stream_apps_init(self):
        conf, r = self.check("[stream:e]\nbind = 127.0.0.1:%d\nmodule = %s\n"
                             "[stream:e.args]\nmax_line = 0\n"
                             % (free_port(), app_path("line_echo")))
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("[stream:e] (%s): init failed: Invalid argument"
                      % app_path("line_echo"), r.stderr)
        conf, r = self.check("[stream:e]\nbind = 127.0.0.1:%d\nmodule = %s\n"
                             % (free_port(), app_path("line_echo")))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration %s OK" % conf, r.stdout)

    def test_print_config_shows_streams(self):
        port = free_port()
        conf, _ = self.check("[stream:w]\nbind = 127.0.0.1:%d\nmodule = %s\n"
                             "[stream:w.args]\nk = v\n" % (port, app_path("whoami")))
        r = run_cli(["--print-config", "-c", conf])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("\n[stream:w]\nbind = 127.0.0.1:%d\nmodule = %s\n\n[stream:w.args]\n"
                      "k = v\n" % (port, app_path("whoami")), r.stdout)


def upgrade_probe_path():
    return harness.test_plugin_path("upgrade_probe")


def read_response_head(sock, timeout=IO):
    """(status, [(name lowercased, value)], bytes after the head) of the
    response SOCK receives; the header list keeps repeated names."""
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("closed before a response head: %r" % buf)
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = [(n.strip().lower(), v.strip()) for n, v in
               (line.split(":", 1) for line in lines[1:])]
    return status, headers, rest


def values(headers, name):
    return [v for n, v in headers if n == name]


UPGRADE_REQUEST = ("GET /chat?x=1 HTTP/1.1\r\nHost: probe.test\r\n"
                   "Connection: keep-alive, Upgrade\r\nUpgrade: other/2, GN-Line\r\n"
                   "%s\r\n")


class UpgradeTest(unittest.TestCase):
    """gn_response_upgrade: an HTTP handler takes its connection over to a
    made-up line protocol (tests/plugins/upgrade_probe.c) after a 101,
    and talks to it with the gn_stream_* calls."""

    def server(self, graceful=30, http=None, **kw):
        srv = Server(app=upgrade_probe_path(),
                     settings={"workers": {"graceful_timeout": graceful},
                               "http": http or {}}, **kw)
        srv.__enter__()
        self.addCleanup(srv.__exit__, None, None, None)
        return srv

    def connect(self, srv, request):
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=IO)
        self.addCleanup(sock.close)
        sock.sendall(request.encode())
        return sock

    def upgrade(self, srv, extra_headers="", pipelined=""):
        sock = self.connect(srv, UPGRADE_REQUEST % extra_headers + pipelined)
        status, headers, rest = read_response_head(sock)
        self.assertEqual(status, 101, headers)
        return sock, headers, rest

    def test_101_then_the_protocol_with_the_bytes_sent_after_the_head(self):
        srv = self.server(accesslog=True)
        sock, headers, rest = self.upgrade(srv, pipelined="whoami\nhello\n")
        self.assertEqual(values(headers, "connection"), ["Upgrade"])
        self.assertEqual(values(headers, "upgrade"), ["gn-line"])
        self.assertEqual(values(headers, "x-probe"), ["yes"])
        self.assertEqual(len(values(headers, "date")), 1)
        self.assertEqual(values(headers, "content-length"), [])
        self.assertEqual(values(headers, "transfer-encoding"), [])
        # The request's accessors still work; the pipelined lines came first.
        want = b"GET /chat probe.test gn-line\nhello\n"
        while len(rest) < len(want):
            rest += read_line(sock)
        self.assertEqual(rest, want)
        sock.sendall(b"addr\n")
        self.assertEqual(read_line(sock).decode(), "peer=127.0.0.1:%d local=127.0.0.1:%d\n"
                         % (sock.getsockname()[1], srv.port))
        sock.sendall(b"response\n")  # the response takes nothing more
        self.assertEqual(read_line(sock), b"write=-%d header=-%d\n"
                         % (errno.EALREADY, errno.EALREADY))
        big = b"".join(b"line %d\n" % i for i in range(5000))
        sock.sendall(big)
        got = b""
        while len(got) < len(big):
            got += read_line(sock)
        self.assertEqual(got, big)
        sent = len(want) + len("peer=127.0.0.1:%d local=127.0.0.1:%d\n" % (
            sock.getsockname()[1], srv.port)) + len(
            b"write=-%d header=-%d\n" % (errno.EALREADY, errno.EALREADY)) + len(big) + 5
        # A half-close is the protocol's end of input, not a lost client:
        # the handler reads it, returns, and the server closes.
        sock.sendall(b"last\n")
        sock.shutdown(socket.SHUT_WR)
        self.assertEqual(recv_all(sock), b"last\n")
        def access_log():
            with open(srv.access_log_path) as f:
                return f.read()
        try:
            wait_until(lambda: re.search(
                r'"GET /chat\?x=1 HTTP/1\.1" 101 %d .* gn-line$' % sent,
                access_log(), re.M), 10, what="the access log line")
        except AssertionError:
            self.fail(access_log())
        # The worker serves HTTP on other connections all along.
        status, headers, _ = read_response_head(self.connect(
            srv, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        self.assertEqual(status, 426)

    def test_half_close_is_read_even_with_cancel_on_disconnect(self):
        # HTTP's "the client left" (cancel the handler) is not the upgraded
        # protocol's: there a half-close is its end of input.
        srv = self.server(http={"cancel_on_disconnect": "on"})
        sock, _, rest = self.upgrade(srv)
        sock.sendall(b"one\n")
        self.assertEqual(read_line(sock), b"one\n")
        sock.sendall(b"sleep 1\ntwo\n")
        time.sleep(0.3)
        sock.shutdown(socket.SHUT_WR)  # while the handler sleeps
        self.assertEqual(recv_all(sock), b"slept\ntwo\n")
        self.assertNotIn("cancelling", srv.log())

    def test_connection_and_upgrade_on_the_101_are_the_servers(self):
        srv = self.server()
        sock, headers, _ = self.upgrade(srv, "X-Try-Connection: 1\r\nX-Try-Upgrade: 1\r\n")
        self.assertEqual(values(headers, "x-connection-rc"), ["-%d" % errno.EPERM])
        self.assertEqual(values(headers, "x-upgrade-rc"), ["0"])  # kept for a 426...
        self.assertEqual(values(headers, "connection"), ["Upgrade"])
        self.assertEqual(values(headers, "upgrade"), ["gn-line"])  # ...not on the 101
        sock.sendall(b"ping\n")
        self.assertEqual(read_line(sock), b"ping\n")

    def refused(self, srv, request):
        sock = self.connect(srv, request)
        status, headers, rest = read_response_head(sock)
        self.assertEqual((status, values(headers, "upgrade")), (426, ["gn-line"]))
        n = int(values(headers, "content-length")[0])
        while len(rest) < n:
            rest += sock.recv(4096)
        return rest.decode().strip()

    def test_refused_unless_the_client_asked_for_it(self):
        srv = self.server()
        cases = {
            "no Upgrade": "GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n\r\n",
            "another protocol": "GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n"
                                "Upgrade: gn-line/2\r\n\r\n",
            "Connection without upgrade": "GET / HTTP/1.1\r\nHost: x\r\n"
                                          "Connection: keep-alive\r\nUpgrade: gn-line\r\n\r\n",
            "HTTP/1.0": "GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: gn-line\r\n\r\n",
        }
        for what, request in cases.items():
            with self.subTest(what):
                self.assertEqual(self.refused(srv, request), "refused: EPROTO")

    def test_a_body_must_be_read_first(self):
        srv = self.server()
        post = ("POST /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                "Upgrade: gn-line\r\nContent-Length: 5\r\n%s\r\nbody!")
        self.assertEqual(self.refused(srv, post % "X-Leave-Body: 1\r\n"), "refused: EBUSY")
        # Read to its end, the bytes after it are the new protocol's.
        sock = self.connect(srv, post % "" + "whoami\n")
        status, headers, rest = read_response_head(sock)
        self.assertEqual(status, 101, headers)
        self.assertEqual(rest or read_line(sock), b"POST /up x gn-line\n")

    def test_graceful_stop_tells_the_handler_then_cancels_it_in_time(self):
        srv = self.server(graceful=4)
        sock, _, _ = self.upgrade(srv)
        sock.sendall(b"hi\n")
        self.assertEqual(read_line(sock), b"hi\n")
        (worker,) = srv.wait_workers(1)
        srv.signal(signal.SIGTERM)
        t0 = time.monotonic()
        self.assertEqual(read_line(sock, timeout=3), b"stopping\n")  # unasked
        sock.sendall(b"still\n")  # served on while graceful_timeout runs
        self.assertEqual(read_line(sock), b"still\n")
        sock.sendall(b"park\n")
        sock.settimeout(15)
        try:
            self.assertEqual(sock.recv(4096), b"")
        except ConnectionResetError:
            pass
        took = time.monotonic() - t0
        self.assertEqual(srv.wait_exit(15), 0)
        log = srv.log()
        self.assertIn("upgrade_probe: parked read returned -125 (Operation canceled)", log)
        self.assertIn("cancelling 1 connection still being served", log)
        self.assertNotIn("killing", log)
        self.assertLess(took, 4.0, log)  # cancelled before graceful_timeout
        self.assertGreater(took, 2.0, log)  # ... not at once


if __name__ == "__main__":
    unittest.main()
