#!/usr/bin/env python3
"""The arbiter: respawning killed workers, TERM (graceful) and INT (quick)
stops, TTIN/TTOU, and replacing a worker after max_requests."""
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import harness
from harness import (IDLE_WORKER_SOCKETS, ServerTestCase, pid_alive, read_pid,
                     socket_fds, wait_until)


def settled_sockets(pids):
    """The workers' socket count once only their listeners are open: the
    harness's start-up probe connection may still be closing."""
    return wait_until(lambda: (sum(socket_fds(p) for p in pids)
                               == IDLE_WORKER_SOCKETS * len(pids)
                               and IDLE_WORKER_SOCKETS * len(pids)), 3,
                      what="idle workers")


def session_members(sid):
    """The live processes of session SID."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(name))
    return found


class ArbiterTest(ServerTestCase):

    def test_killed_worker_is_replaced_within_1s(self):
        srv = self.start_server(app="hello", workers=2)
        pids = srv.wait_workers(2)
        victim = pids[0]
        # A worker dying younger than 1 s counts as a crash loop and its
        # respawn is delayed on purpose: let it grow up first.
        wait_until(lambda: harness.process_age(victim) > 1.1, 3, what="worker older than 1 s")
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()

        def replaced():
            now = srv.worker_pids()
            new = set(now) - set(pids)
            return new if len(now) == 2 and victim not in now and new else None
        new = wait_until(replaced, 1.0, interval=0.01, what="a new worker pid")
        status, _, body = srv.get("/", timeout=1)
        elapsed = time.monotonic() - killed_at
        self.assertEqual((status, body), (200, b"Hello, World!"))
        self.assertLess(elapsed, 1.0)
        # Every worker answers, the new one included: one connection per
        # worker is not controllable, so hit it several times.
        for _ in range(5):
            self.assertEqual(srv.get("/")[0], 200)
        srv.wait_for_log(r"worker \d+ \(pid %d\) exited on signal 9 \(SIGKILL\): killed "
                         r"from outside \(the kernel's OOM killer, or kill -9\), respawning"
                         % victim)
        srv.wait_for_log(r"booting worker \d+ with pid %d\b" % new.pop())

    def test_term_lets_inflight_request_finish(self):
        srv = self.start_server(app="echo", workers=1, settings={"workers": {"graceful_timeout": 10}})
        (worker,) = srv.wait_workers(1)
        baseline = settled_sockets([worker])
        result = {}

        def client():
            try:
                with harness.RawConn(srv.port, timeout=15) as c:
                    c.send(b"GET /slow?sleep=2 HTTP/1.1\r\nHost: x\r\n\r\n")
                    r = c.read_response()
                    result["response"] = r
                    result["closed"] = c.closed_by_peer(5)
            except Exception as e:  # reported by the main thread
                result["error"] = e
        t = threading.Thread(target=client, daemon=True)
        t.start()
        self.addCleanup(t.join, 20)
        # The worker holds the connection once it accepted it.
        wait_until(lambda: socket_fds(worker) > baseline, 3, what="the worker to accept")
        sent_at = time.monotonic()
        srv.signal(signal.SIGTERM)
        srv.wait_for_log(r"SIGTERM: graceful stop")
        rc = srv.wait_exit(12)
        t.join(5)
        self.assertNotIn("error", result, result.get("error"))
        r = result["response"]
        self.assertEqual(r.status, 200, r.raw)
        self.assertIn(b"target: /slow?sleep=2\n", r.body)
        self.assertEqual(r.header("Connection"), "close")
        self.assertTrue(result["closed"])
        self.assertEqual(rc, 0, srv.log())
        self.assertLess(time.monotonic() - sent_at, 10, "waited for graceful_timeout")
        self.assertFalse(pid_alive(worker), "worker %d outlived the arbiter" % worker)
        self.assertNotIn("killing", srv.log())

    def test_term_closes_idle_connections_and_finishes_uploads(self):
        srv = self.start_server(app="echo", workers=1,
                                settings={"workers": {"keepalive": 30, "graceful_timeout": 20}})
        (worker,) = srv.wait_workers(1)
        baseline = settled_sockets([worker])
        idle = srv.raw()
        self.addCleanup(idle.close)
        idle.send(b"GET /idle HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(idle.read_response().status, 200)
        upload = srv.raw()
        self.addCleanup(upload.close)
        upload.send(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        wait_until(lambda: socket_fds(worker) >= baseline + 2, 3, what="both connections accepted")
        sent_at = time.monotonic()
        srv.signal(signal.SIGTERM)
        # The idle one is closed within a second (its last chance to send
        # a request), not after keepalive (30 s).
        self.assertTrue(idle.closed_by_peer(5), "idle keep-alive connection kept open")
        srv.wait_for_log(r"stopping: SIGTERM")
        upload.send(b"world")
        r = upload.read_response()
        self.assertEqual((r.status, r.echo_body()), (200, b"helloworld"))
        self.assertEqual(r.header("Connection"), "close")
        self.assertEqual(srv.wait_exit(15), 0)
        self.assertLess(time.monotonic() - sent_at, 15, "waited for graceful_timeout")

    def test_term_idle_exits_0_and_workers_gone(self):
        srv = self.start_server(app="hello", workers=3)
        pids = srv.wait_workers(3)
        srv.signal(signal.SIGTERM)
        self.assertEqual(srv.wait_exit(10), 0, srv.log())
        for pid in pids:
            self.assertFalse(pid_alive(pid), "worker %d left behind" % pid)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()

    def test_int_is_a_quick_stop(self):
        srv = self.start_server(app="echo", workers=2,
                                settings={"workers": {"graceful_timeout": 30}})
        pids = srv.wait_workers(2)
        baseline = settled_sockets(pids)
        # Requests that would hold a graceful stop for 20 s.
        conns = [harness.RawConn(srv.port, timeout=15) for _ in range(2)]
        for c in conns:
            self.addCleanup(c.close)
            c.send(b"GET /?sleep=20 HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: sum(socket_fds(p) for p in pids) >= baseline + 2,
                   3, what="the workers to accept")
        sent_at = time.monotonic()
        srv.signal(signal.SIGINT)
        rc = srv.wait_exit(5)
        self.assertEqual(rc, 0, srv.log())
        self.assertLess(time.monotonic() - sent_at, 5)
        for pid in pids:
            self.assertFalse(pid_alive(pid))
        srv.wait_for_log(r"SIGINT: quick stop")
        for c in conns:  # dropped, not left hanging
            c.read_until_close(5)

    def test_quit_is_a_quick_stop(self):
        srv = self.start_server(app="hello", workers=2)
        srv.wait_workers(2)
        srv.signal(signal.SIGQUIT)
        self.assertEqual(srv.wait_exit(5), 0, srv.log())

    def test_workers_exit_when_the_arbiter_is_killed(self):
        srv = self.start_server(app="hello", workers=2)
        pids = srv.wait_workers(2)
        os.kill(srv.pid, signal.SIGKILL)
        srv.proc.wait(5)
        # Orphaned workers notice their parent is gone and leave.
        wait_until(lambda: not any(pid_alive(p) for p in pids), 10,
                   what="orphaned workers %s to exit" % pids)

    def test_workers_forked_just_before_the_arbiter_dies_exit(self):
        # A worker forked as the arbiter is SIGKILLed must not take init
        # for its arbiter. TTINs make the arbiter fork; the kill lands in
        # the middle of those forks. Every process of the server's session
        # (the arbiter made it: start_new_session) must end.
        survivors = []
        for attempt in range(6):
            srv = self.start_server(app="hello", workers=1)
            srv.wait_workers(1)
            for _ in range(6):
                srv.signal(signal.SIGTTIN)
            time.sleep(0.002 * attempt)
            os.kill(srv.pid, signal.SIGKILL)
            srv.proc.wait(5)
            session = srv.pid
            try:
                wait_until(lambda: not session_members(session), 10,
                           what="every worker of arbiter %d to exit" % session)
            except AssertionError:
                survivors += session_members(session)
                for pid in session_members(session):
                    os.kill(pid, signal.SIGKILL)
        self.assertEqual(survivors, [], "workers outlived their arbiter")

    def test_ttin_ttou(self):
        srv = self.start_server(app="hello", workers=2)
        two = srv.wait_workers(2)
        srv.signal(signal.SIGTTIN)
        srv.wait_for_log(r"SIGTTIN: 3 workers")
        srv.signal(signal.SIGTTIN)
        srv.wait_for_log(r"SIGTTIN: 4 workers")
        four = srv.wait_workers(4)
        self.assertTrue(set(two) < set(four), (two, four))
        srv.signal(signal.SIGTTOU)
        srv.wait_for_log(r"SIGTTOU: 3 workers")
        three = srv.wait_workers(3)
        self.assertTrue(set(three) < set(four), (four, three))
        srv.signal(signal.SIGTTOU)
        srv.wait_for_log(r"SIGTTOU: 2 workers")
        after = srv.wait_workers(2)
        self.assertTrue(set(after) < set(three), (three, after))
        srv.signal(signal.SIGTTOU)
        srv.wait_for_log(r"SIGTTOU: 1 workers")
        (last,) = srv.wait_workers(1)
        # Not below one.
        srv.signal(signal.SIGTTOU)
        srv.wait_for_log(r"(?s)SIGTTOU: 1 workers.*SIGTTOU: 1 workers")
        self.assertEqual(srv.get("/")[0], 200)
        self.assertEqual(srv.worker_pids(), [last])
        # The retired workers exited without being replaced.
        for pid in set(three) - {last}:
            self.assertFalse(pid_alive(pid))
        self.assertNotRegex(srv.log(), r"exited.*respawning")

    def test_max_requests_replaces_worker_without_failures(self):
        srv = self.start_server(app="hello", workers=1,
                                settings={"workers": {"max_requests": 10,
                                                      "max_requests_jitter": 0}})
        (first,) = srv.wait_workers(1)
        conn = srv.http()
        self.addCleanup(conn.close)
        closes = []
        sock = None
        for i in range(10):
            conn.request("GET", "/%d" % i)
            r = conn.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"Hello, World!"), "request %d" % i)
            closes.append(r.getheader("Connection"))
            if i == 0:
                sock = conn.sock
            elif i < 9:
                self.assertIs(conn.sock, sock, "reconnected before the 10th request")
        # Keep-alive up to the 10th, which says it closes.
        self.assertEqual(closes, [None] * 9 + ["close"])
        srv.wait_for_log(r"worker 1 \(pid %d\) reached max_requests: starting its replacement" % first)
        second = wait_until(lambda: [p for p in srv.worker_pids() if p != first],
                            5, what="the replacement worker")
        # More requests, each on a fresh connection, none fails, until the
        # second worker is replaced in turn (the first serves on, closing
        # each connection, until its replacement is up: a few more).
        asked = r"worker 1 \(pid %d\) reached max_requests: starting its replacement"
        for i in range(60):
            status, _, body = srv.get("/again/%d" % i)
            self.assertEqual((status, body), (200, b"Hello, World!"), "request %d" % i)
            if re.search(asked % second[0], srv.log()):
                break
        srv.wait_for_log(r"worker 1 \(pid %d\) exited" % first)
        srv.wait_for_log(asked % second[0])
        wait_until(lambda: [p for p in srv.worker_pids() if p not in (first, second[0])],
                   5, what="a third worker")
        self.assertFalse(pid_alive(first))
        self.assertNotRegex(srv.log(), r"signal|status [1-9]|ERROR")

    def listening_pids(self, port):
        """The pids holding a LISTEN socket on PORT (ss -ltnp)."""
        out = subprocess.run(["ss", "-ltnpH", "sport = :%d" % port],
                             capture_output=True, text=True).stdout
        return sorted(int(p) for p in re.findall(r"pid=(\d+)", out))

    def test_reuse_port_gives_each_worker_its_own_socket(self):
        srv = self.start_server(app="hello", workers=2, accesslog=True, settings={
            "server": {"reuse_port": "on"},
            "logging": {"access_log_format": "%(p)s"}})
        workers = srv.wait_workers(2)
        # Only the workers listen; the arbiter holds the address unlistened.
        self.assertEqual(self.listening_pids(srv.port), sorted(workers))
        # What a stopping worker's socket loses is said once, where the
        # kernel would not move it.
        try:
            with open("/proc/sys/net/ipv4/tcp_migrate_req") as f:
                migrates = f.read().strip() != "0"
        except FileNotFoundError:
            migrates = False
        warned = "net.ipv4.tcp_migrate_req = 1" in srv.log()
        self.assertEqual(warned, not migrates, srv.log()[-2000:])
        for i in range(200):
            self.assertEqual(srv.get("/%d" % i)[0], 200)
        served_by = wait_until(lambda: (lambda ls: ls if len(ls) == 200 else None)(
            srv.access_log().split()), 5, what="200 log lines")
        # The kernel spreads connections over both sockets.
        self.assertEqual({"<%d>" % p for p in workers}, set(served_by))
        # A reload keeps the setup; changing reuse_port needs a restart.
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(r"new worker\(s\) up")
        new = wait_until(lambda: (lambda p: p if len(p) == 2 and not set(p) & set(workers)
                                  else None)(srv.worker_pids()), 10, what="new workers")
        wait_until(lambda: self.listening_pids(srv.port) == sorted(new), 10,
                   what="the new workers' sockets")
        self.rewrite_config(srv, server={"reuse_port": "off"})
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(r"reload failed, keeping the running configuration: "
                         r"reuse_port cannot change while 127.0.0.1:\d+ is bound")
        self.assertEqual(srv.get("/still")[0], 200)

    @staticmethod
    def cpus_of(pid):
        """The CPUs PID may run on (its main thread: the loop's)."""
        return sorted(os.sched_getaffinity(pid))

    def connect_from(self, srv, cpu, n):
        """N connections to SRV made from CPU: the SYN's packets are
        handled there, on loopback in the connecting thread."""
        saved = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {cpu})
        try:
            return [socket.create_connection(("127.0.0.1", srv.port), timeout=10)
                    for _ in range(n)]
        finally:
            os.sched_setaffinity(0, saved)

    def test_worker_cpu_affinity_gives_each_worker_a_cpu_and_its_connections(self):
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            self.skipTest("one CPU here")
        srv = self.start_server(app="echo", workers=2, settings={
            "server": {"reuse_port": "on"},
            "workers": {"worker_cpu_affinity": "auto"}})
        workers = srv.wait_workers(2)
        # Worker 1 on the first CPU the server may use, worker 2 on the next.
        self.assertEqual(sorted(self.cpus_of(p) for p in workers), [[cpus[0]], [cpus[1]]])
        on = {self.cpus_of(p)[0]: p for p in workers}
        for pid, cpu in ((p, self.cpus_of(p)[0]) for p in workers):
            srv.wait_for_log(r"worker \d \(pid %d\) runs on CPU %d" % (pid, cpu))
        # Each worker's own socket asks for what its CPU receives (Linux
        # 6.1+): 20 connections made from a CPU all go to its worker.
        release = tuple(int(x) for x in re.findall(r"\d+", os.uname().release)[:2])
        for cpu in (cpus[:2] if release >= (6, 1) else ()):
            conns = self.connect_from(srv, cpu, 20)
            try:
                pids = self.serving_pids(srv, conns)
            finally:
                for c in conns:
                    c.close()
            self.assertEqual(set(pids), {on[cpu]}, "connections made on CPU %d" % cpu)
        # A replacement takes the CPU of the worker it replaces.
        os.kill(on[cpus[1]], signal.SIGKILL)
        fresh = wait_until(lambda: (lambda p: p if len(p) == 2 and on[cpus[1]] not in p
                                    else None)(srv.worker_pids()), 10, what="the replacement")
        new = [p for p in fresh if p != on[cpus[0]]][0]
        wait_until(lambda: self.cpus_of(new) == [cpus[1]], 5, what="the replacement pinned")
        # The arbiter itself keeps every CPU (test_threadpool.py: and the
        # workers' thread pools).
        self.assertEqual(self.cpus_of(srv.pid), cpus)

    def serving_pids(self, srv, conns):
        """Ask once on each of CONNS (open keep-alive connections to SRV,
        echo's app) which worker serves it: their pids, in order. The
        requests all go out before any answer is read."""
        for c in conns:
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        pids = []
        for c in conns:
            data = b""
            while not re.search(rb"\ninit-pid: \d+\n", data):
                chunk = c.recv(65536)
                self.assertTrue(chunk, "connection closed before its answer")
                data += chunk
            pids.append(int(re.search(rb"\npid: (\d+)\n", data).group(1)))
        return pids

    def open_answered(self, srv, n):
        """Open N keep-alive connections to SRV (echo's app) one after the
        other, each answered before the next opens: the connections, for
        the caller to close, and the pids that served them."""
        conns, pids = [], []
        try:
            for _ in range(n):
                conns.append(socket.create_connection(("127.0.0.1", srv.port),
                                                      timeout=10))
                pids += self.serving_pids(srv, conns[-1:])
        except BaseException:
            for c in conns:
                c.close()
            raise
        return conns, pids

    def test_a_burst_of_connections_is_shared_by_the_workers(self):
        # 100 keep-alive connections opened one after the other: without
        # the balance board (workers/balance.h) one worker took 76-100 of
        # them in 36 runs of 40, on either engine, on two cores or on one
        # (here: taskset), and this test failed 11 subtests of 12. The
        # answers go out only after all are open, so each connection's
        # worker is the one that accepted it.
        for engine in ("io_uring", "epoll"):
            for pinned in (False, True):
                with self.subTest(engine=engine, pinned=pinned):
                    srv = self.start_server(
                        app="echo", workers=2,
                        wrapper=["taskset", "-c", "0"] if pinned else [],
                        settings={"workers": {"io_engine": engine}})
                    workers = srv.wait_workers(2)
                    conns = [socket.create_connection(("127.0.0.1", srv.port), timeout=10)
                             for _ in range(100)]
                    try:
                        pids = self.serving_pids(srv, conns)
                    finally:
                        for c in conns:
                            c.close()
                    counts = sorted(pids.count(p) for p in workers)
                    # The board keeps them within 1 and a sixteenth (48/52);
                    # 40 leaves room for a connection counted late.
                    self.assertGreaterEqual(counts[0], 40, counts)
                    srv.stop()

    def test_a_worker_that_holds_its_loop_does_not_hold_up_accepts(self):
        # One worker spins for 3 s on echo's ?spin=3 with one connection;
        # the other, once it holds a few more, leaves new connections to
        # it, sees it take none, and accepts regardless: 40 keep-alive
        # connections opened meanwhile are all answered by the other long
        # before the spin ends.
        srv = self.start_server(app="echo", workers=2)
        workers = srv.wait_workers(2)
        spin = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        self.addCleanup(spin.close)
        spin.sendall(b"GET /?spin=3 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)  # its worker is spinning now
        started = time.monotonic()
        conns, _ = self.open_answered(srv, 40)
        try:
            took = time.monotonic() - started
            pids = self.serving_pids(srv, conns)
        finally:
            for c in conns:
                c.close()
        self.assertEqual(len(set(pids)), 1, pids)
        self.assertIn(pids[0], workers)
        self.assertLess(took, 1.5)

    def test_a_booting_worker_does_not_hold_up_accepts(self):
        # A worker still in its app's init takes no connection: the board
        # must not count it as accepting, or the others hold back for it
        # (3 ms each time, then 20 ms of taking regardless, over and over
        # for as long as the init lasts). Worker 2 is killed and its
        # replacement spends 2.5 s in echo's init; 12 keep-alive
        # connections opened meanwhile all go to the other, which must
        # not have held back once (its exit line counts it). With the
        # listeners watched before the init, it held back.
        srv = self.start_server(app="echo", workers=2,
                                settings={"app.args": {"slow_init": 2500}})
        first, second = srv.wait_workers(2, timeout=10)
        os.kill(second, signal.SIGKILL)
        wait_until(lambda: (lambda p: len(p) == 2 and second not in p)(srv.worker_pids()),
                   5, what="the replacement forked")
        started = time.monotonic()
        conns, pids = self.open_answered(srv, 12)
        for c in conns:
            c.close()
        self.assertEqual(pids, [first] * 12)
        # All of it while the replacement was still in its init.
        self.assertLess(time.monotonic() - started, 2.0)
        srv.stop()
        held = re.search(r"worker \d+ \(pid %d\) exiting: .*; held back (\d+) times"
                         % first, srv.log())
        self.assertIsNotNone(held, srv.log())
        self.assertEqual(int(held.group(1)), 0, srv.log())

    def defer_accept_of(self, pid, port):
        """TCP_DEFER_ACCEPT of the listening socket on PORT that PID holds
        (a copy of its descriptor through pidfd_getfd(2)), or None."""
        libc = ctypes.CDLL(None, use_errno=True)
        pidfd = os.pidfd_open(pid)
        try:
            for name in os.listdir("/proc/%d/fd" % pid):
                try:
                    if not os.readlink("/proc/%d/fd/%s" % (pid, name)).startswith("socket:"):
                        continue
                except OSError:
                    continue
                fd = libc.syscall(438, pidfd, int(name), 0)  # SYS_pidfd_getfd
                if fd < 0:
                    continue
                with socket.socket(fileno=fd) as s:
                    if (s.family in (socket.AF_INET, socket.AF_INET6)
                            and s.type == socket.SOCK_STREAM
                            and s.getsockname()[1] == port
                            and s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)):
                        return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT)
            return None
        finally:
            os.close(pidfd)

    def test_defer_accept_on_http_addresses_only(self):
        stream_port = harness.free_port()
        srv = self.start_server(app="hello", settings={
            "stream:echo": {"bind": "127.0.0.1:%d" % stream_port,
                            "module": harness.app_path("line_echo")}})
        srv.wait_for_log(r"listening at: 127\.0\.0\.1:%d for \[stream:echo\]"
                         % stream_port)
        # On by default, for HTTP; a stream app may greet first: never.
        self.assertGreater(self.defer_accept_of(srv.pid, srv.port), 0)
        self.assertEqual(self.defer_accept_of(srv.pid, stream_port), 0)
        # A client that waits before it speaks is served once it does.
        with harness.RawConn(srv.port) as c:
            time.sleep(0.3)
            c.send(b"GET /late HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = c.read_until_close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data[:80])
        # One that stays silent is handed over all the same after about a
        # second (the first SYN-ACK retransmission): a worker then holds
        # it, and its request timeout applies.
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            def held():
                out = subprocess.run(["ss", "-tnpH", "state", "established",
                                      "sport = :%d" % srv.port],
                                     capture_output=True, text=True).stdout
                return set(int(p) for p in re.findall(r"pid=(\d+)", out)) & set(srv.worker_pids())
            self.assertFalse(held())
            wait_until(held, 5, what="a worker holding the silent connection")
        # A reload turns it off (and on again); so does the flag.
        self.rewrite_config(srv, server={"defer_accept": "off"})
        srv.signal(signal.SIGHUP)
        wait_until(lambda: self.defer_accept_of(srv.pid, srv.port) == 0, 10,
                   what="defer_accept off after HUP")
        self.assertEqual(srv.get("/after")[0], 200)

    def test_defer_accept_on_each_workers_own_socket(self):
        srv = self.start_server(app="hello", workers=2, settings={
            "server": {"reuse_port": "on"}})
        for pid in srv.wait_workers(2):
            self.assertGreater(self.defer_accept_of(pid, srv.port), 0)
        srv2 = self.start_server(app="hello", args=["--defer-accept", "off"])
        self.assertEqual(self.defer_accept_of(srv2.pid, srv2.port), 0)

    def test_max_requests_with_jitter_over_1000_requests(self):
        srv = self.start_server(app="hello", workers=2,
                                settings={"workers": {"max_requests": 100,
                                                      "max_requests_jitter": 10}})
        first = set(srv.wait_workers(2))
        stop, stats, threads = self.load(srv, clients=2)
        wait_until(lambda: stats["ok"] >= 1000 and not (first & set(srv.worker_pids())),
                   30, what="1,000 requests and both first workers replaced")
        stop.set()
        for t in threads:
            t.join(10)
        self.assertEqual(stats["failed"], [])
        # Replacements are staggered: one worker at a time is replaced,
        # each after its successor booted, so two never stop together.
        log = srv.log()
        asked = re.findall(r"worker \d+ \(pid (\d+)\) reached max_requests: "
                           r"starting its replacement", log)
        self.assertTrue(first <= {int(p) for p in asked}, log)
        wait_until(lambda: len(srv.worker_pids()) == 2, 10, what="2 workers again")

    def test_an_app_whose_init_fails_stops_with_status_3(self):
        conf = os.path.join(tempfile.mkdtemp(prefix="gn-boot-"), "g.conf")
        self.addCleanup(subprocess.run, ["rm", "-rf", os.path.dirname(conf)])
        with open(conf, "w") as f:
            f.write(harness.render_config({
                "server": {"bind": "127.0.0.1:%d" % harness.free_port()},
                "workers": {"workers": 2},
                "app": {"module": harness.app_path("echo")},
                "app.args": {"fail_init": "the database is unreachable"}}))
        started = time.monotonic()
        rc, _, err = harness.run_until_exit(["-c", conf], timeout=10)
        self.assertEqual(rc, 3, err)
        self.assertLess(time.monotonic() - started, 5)
        self.assertIn("echo: init fails as asked: the database is unreachable", err)
        self.assertRegex(err, r"worker \d+ \(pid \d+\) failed to boot: app echo "
                              r"\(\S+echo.so\): init failed: Invalid argument")
        # Not respawned in a loop: each worker booted once at most.
        self.assertLessEqual(err.count("failed to boot"), 2 * 2)

    def test_check_config_runs_each_apps_init_and_fini_in_a_child(self):
        tmp = tempfile.mkdtemp(prefix="gn-check-")
        self.addCleanup(subprocess.run, ["rm", "-rf", tmp])
        conf = os.path.join(tmp, "g.conf")
        sections = {"server": {"bind": "127.0.0.1:%d" % harness.free_port()},
                    "app": {"module": harness.app_path("echo")},
                    "app.args": {"fail_init": "the database is unreachable"}}
        with open(conf, "w") as f:
            f.write(harness.render_config(sections))
        r = harness.run_cli(["--check-config", "-c", conf])
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertNotIn("OK", r.stdout)
        self.assertIn("echo: init fails as asked: the database is unreachable", r.stderr)
        self.assertRegex(r.stderr, r"greenicorn: app echo \(\S+echo.so\): init "
                                   r"failed: Invalid argument")
        # A crash in init is caught too, and reported.
        sections["app.args"] = {"crash_init": "yes"}
        with open(conf, "w") as f:
            f.write(harness.render_config(sections))
        env_asan = os.environ.get("ASAN_OPTIONS")
        os.environ["ASAN_OPTIONS"] = (env_asan + ":" if env_asan else "") + "handle_segv=0"
        try:
            r = harness.run_cli(["--check-config", "-c", conf])
        finally:
            if env_asan is None:
                del os.environ["ASAN_OPTIONS"]
            else:
                os.environ["ASAN_OPTIONS"] = env_asan
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("signal 11 (SIGSEGV)", r.stderr)
        # A good app: init and fini ran, in a child that is gone.
        del sections["app.args"]
        with open(conf, "w") as f:
            f.write(harness.render_config(sections))
        r = harness.run_cli(["--check-config", "-c", conf])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration %s OK" % conf, r.stdout)
        self.assertIn("init and fini", harness.run_cli(["--help"]).stdout)

    def test_a_crash_loop_at_start_backs_off(self):
        saved = os.environ.get("ASAN_OPTIONS")
        os.environ["ASAN_OPTIONS"] = (saved + ":" if saved else "") + "handle_segv=0"
        self.addCleanup(lambda: os.environ.__setitem__("ASAN_OPTIONS", saved)
                        if saved is not None else os.environ.pop("ASAN_OPTIONS"))
        conf = os.path.join(tempfile.mkdtemp(prefix="gn-crash-"), "g.conf")
        self.addCleanup(subprocess.run, ["rm", "-rf", os.path.dirname(conf)])
        port = harness.free_port()
        with open(conf, "w") as f:
            f.write(harness.render_config({
                "server": {"bind": "127.0.0.1:%d" % port},
                "workers": {"workers": 1},
                "app": {"module": harness.app_path("echo")},
                "app.args": {"crash_init": "yes"}}))
        log = os.path.join(os.path.dirname(conf), "err.log")
        with open(log, "wb") as err:
            proc = subprocess.Popen(harness.PDEATHSIG + [harness.GREENICORN, "-c", conf],
                                    stderr=err, stdout=subprocess.DEVNULL)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        time.sleep(4.5)
        text = open(log).read()
        crashes = text.count("exited on signal 11 (SIGSEGV)")
        # Starts at 0, ~1, ~3 s (waits of 1 s, 2 s, 4 s...): three or four
        # in 4.5 s, not hundreds.
        self.assertGreaterEqual(crashes, 2, text)
        self.assertLessEqual(crashes, 4, text)
        self.assertIn("workers keep crashing at start (2 in a row): next start "
                      "in 2000 ms", text)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)

    def test_usr1_and_winch_are_logged(self):
        srv = self.start_server(app="hello", workers=1)
        workers = srv.wait_workers(1)
        srv.signal(signal.SIGUSR1)
        srv.wait_for_log(r"\[%d\] \[INFO\] SIGUSR1: reopening the log files" % srv.pid)
        srv.signal(signal.SIGWINCH)
        srv.wait_for_log(r"\[%d\] \[INFO\] SIGWINCH ignored: not daemonized" % srv.pid)
        # Not daemonized: the workers stay.
        self.assertEqual(srv.worker_pids(), workers)
        self.assertEqual(srv.get("/")[0], 200)

    def test_usr1_reopens_the_access_log(self):
        srv = self.start_server(app="hello", workers=2, accesslog=True)
        srv.wait_workers(2)
        self.assertEqual(srv.get("/before")[0], 200)
        wait_until(lambda: "/before" in srv.access_log(), 5, what="the first access line")
        os.rename(srv.access_log_path, srv.access_log_path + ".1")
        srv.signal(signal.SIGUSR1)
        # The workers reopen when they get to it: poll with requests until
        # one lands in the new file.
        def reopened():
            srv.get("/after")
            return os.path.exists(srv.access_log_path) and "/after" in srv.access_log()
        wait_until(reopened, 5, interval=0.05, what="a new access log")
        with open(srv.access_log_path + ".1") as f:
            self.assertIn("/before", f.read())
        self.assertNotIn("/before", srv.access_log())

    def test_usr1_under_load_loses_no_log_line(self):
        # logrotate's way: move both logs, USR1, while requests flow.
        errlog = os.path.join(tempfile.mkdtemp(prefix="gn-logs-"), "error.log")
        self.addCleanup(subprocess.run, ["rm", "-rf", os.path.dirname(errlog)])
        srv = self.start_server(app="hello", workers=2, accesslog=True,
                                settings={"logging": {"errorlog": errlog}})
        srv.wait_workers(2)
        stop, stats, threads = self.load(srv, clients=3)
        time.sleep(0.5)
        for n in (1, 2):
            os.rename(srv.access_log_path, "%s.%d" % (srv.access_log_path, n))
            os.rename(errlog, "%s.%d" % (errlog, n))
            srv.signal(signal.SIGUSR1)
            wait_until(lambda: os.path.exists(srv.access_log_path) and
                       os.path.exists(errlog), 5, what="the logs reopened")
            time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(10)
        self.assertEqual(stats["failed"], [])
        # Every request is in exactly one of the three access logs, and
        # all three got some.
        counts = []
        for suffix in (".1", ".2", ""):
            with open(srv.access_log_path + suffix) as f:
                counts.append(len(f.read().splitlines()))
        self.assertEqual(sum(counts), stats["ok"], counts)
        self.assertTrue(all(counts), counts)
        # New error log lines go to the new file.
        srv.signal(signal.SIGTTIN)
        wait_until(lambda: "SIGTTIN" in open(errlog).read(), 5,
                   what="a new error log line in the new file")
        self.assertNotIn("SIGTTIN", open(errlog + ".2").read())

    def rewrite_config(self, srv, **changes):
        """Write SRV's config file again with CHANGES ({section: {key:
        value}}) on top of what it started with."""
        sections = srv.config_sections()
        for section, keys in changes.items():
            sections.setdefault(section, {}).update(keys)
        with open(srv.config_path, "w") as f:
            f.write(harness.render_config(sections))

    def test_hup_reloads_config_app_and_binds(self):
        srv = self.start_server(app="hello", workers=2)
        old = set(srv.wait_workers(2))
        extra = harness.free_port()
        self.rewrite_config(srv, workers={"workers": 3},
                            server={"bind": ["127.0.0.1:%d" % srv.port,
                                             "127.0.0.1:%d" % extra]},
                            app={"module": harness.app_path("echo")})
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(r"reload: 3 new worker\(s\) up, stopping 2 old one\(s\)")
        new = set(wait_until(lambda: (lambda p: p if len(p) == 3 and not set(p) & old
                                      else None)(srv.worker_pids()), 5,
                             what="3 workers, none of the old"))
        self.assertFalse(new & old)
        for pid in old:
            wait_until(lambda: not pid_alive(pid), 5, what="old worker %d gone" % pid)
        # The new app on the old and the new address.
        status, _, body = srv.get("/after")
        self.assertEqual(status, 200)
        self.assertIn(b"target: /after\n", body)
        conn = harness.http.client.HTTPConnection("127.0.0.1", extra, timeout=5)
        conn.request("GET", "/extra")
        self.assertIn(b"target: /extra\n", conn.getresponse().read())
        conn.close()
        self.assertIsNone(srv.proc.poll())

    def test_hup_whose_new_workers_crash_in_init_keeps_the_old_ones(self):
        saved = os.environ.get("ASAN_OPTIONS")
        os.environ["ASAN_OPTIONS"] = (saved + ":" if saved else "") + "handle_segv=0"
        self.addCleanup(lambda: os.environ.__setitem__("ASAN_OPTIONS", saved)
                        if saved is not None else os.environ.pop("ASAN_OPTIONS"))
        srv = self.start_server(app="echo", workers=2)
        old = set(srv.wait_workers(2))
        self.rewrite_config(srv, **{"app.args": {"crash_init": "yes"}})
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(r"reload failed: worker \d+ of the new configuration cannot "
                         r"boot \(it died on signal 11 \(SIGSEGV\) while booting\); "
                         r"the previous workers keep serving", timeout=10)
        time.sleep(1.5)  # no crash loop of new workers, the old ones stay
        self.assertEqual(set(srv.worker_pids()), old)
        self.assertEqual(srv.get("/")[0], 200)
        self.assertLessEqual(srv.log().count("SIGSEGV"), 2 * 2)
        # The next HUP, fixed, reloads.
        self.rewrite_config(srv)
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(r"reload: 2 new worker\(s\) up, stopping 2 old one\(s\)",
                         timeout=10)

    def test_hup_with_a_bad_config_keeps_running(self):
        srv = self.start_server(app="hello", workers=2)
        old = set(srv.wait_workers(2))
        self.rewrite_config(srv, workers={"workers": -1})
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(r"reload failed, keeping the running configuration: "
                         r"\S*greenicorn.conf:\d+: workers: -1 is out of range")
        self.assertEqual(srv.get("/")[0], 200)
        self.assertEqual(set(srv.worker_pids()), old)
        # A missing app is refused the same way.
        self.rewrite_config(srv, app={"module": "/nonexistent/app.so"})
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(r"reload failed.*module: cannot load the app")
        self.assertEqual(set(srv.worker_pids()), old)
        self.assertEqual(srv.get("/")[0], 200)

    def load(self, srv, clients=4):
        """Keep-alive GETs from CLIENTS threads until stopped: see
        harness.KeepAliveLoad."""
        load = harness.KeepAliveLoad(srv, clients)
        self.addCleanup(load.stop)
        return load.stopped, load.stats, load.threads

    def test_usr2_upgrades_the_binary_without_failing_a_request(self):
        pidfile = os.path.join(tempfile.mkdtemp(prefix="gn-usr2-"), "g.pid")
        self.addCleanup(subprocess.run, ["rm", "-rf", os.path.dirname(pidfile)])
        srv = self.start_server(app="echo", workers=2,
                                settings={"process": {"pidfile": pidfile}})
        old_workers = set(srv.wait_workers(2))
        old = srv.pid
        stop, stats, threads = self.load(srv)
        time.sleep(0.5)
        srv.signal(signal.SIGUSR2)
        new = wait_until(lambda: (lambda p: p if p and p != old else None)(
            read_pid(pidfile)), 10, what="the new arbiter's pidfile")
        self.addCleanup(lambda: pid_alive(new) and os.kill(new, signal.SIGKILL))
        self.assertEqual(read_pid(pidfile + ".oldbin"), old)
        srv.wait_for_log(r"\[%d\] \[INFO\] sockets inherited from the old arbiter" % new)
        new_workers = wait_until(lambda: (lambda p: p if len(p) == 2 else None)(
            harness.children_of(new)), 10, what="the new arbiter's 2 workers")
        srv.wait_for_log(r"booting worker \d+ with pid %d\b" % new_workers[-1])
        time.sleep(0.5)   # both generations serve side by side
        srv.signal(signal.SIGTERM)
        self.assertEqual(srv.wait_exit(15), 0)
        for pid in old_workers:
            self.assertFalse(pid_alive(pid))
        self.assertFalse(os.path.exists(pidfile + ".oldbin"))
        time.sleep(0.5)   # the new one alone
        stop.set()
        for t in threads:
            t.join(10)
        sys.stderr.write("usr2 under load: %(ok)d requests, %(retried)d retried "
                         "after an idle close\n" % stats)
        self.assertEqual(stats["failed"], [])
        self.assertGreater(stats["ok"], 100)
        self.assertEqual(srv.get("/after")[0], 200)
        os.kill(new, signal.SIGTERM)
        wait_until(lambda: not pid_alive(new), 15, what="the new arbiter to stop")
        wait_until(lambda: not os.path.exists(pidfile), 5, what="the pidfile removed")

    def test_usr2_with_a_new_arbiter_that_fails_keeps_the_old(self):
        pidfile = os.path.join(tempfile.mkdtemp(prefix="gn-usr2-"), "g.pid")
        self.addCleanup(subprocess.run, ["rm", "-rf", os.path.dirname(pidfile)])
        srv = self.start_server(app="hello", workers=1,
                                settings={"process": {"pidfile": pidfile}})
        workers = srv.wait_workers(1)
        # The new arbiter reads the config file again: make it fail.
        self.rewrite_config(srv, workers={"workers": 0})
        srv.signal(signal.SIGUSR2)
        srv.wait_for_log(r"the new arbiter \(pid \d+\) exited \(status 1\); "
                         r"this one \(pid %d\) keeps serving" % srv.pid)
        wait_until(lambda: read_pid(pidfile) == srv.pid, 5, what="the pidfile back")
        self.assertFalse(os.path.exists(pidfile + ".oldbin"))
        self.assertEqual(srv.worker_pids(), workers)
        self.assertEqual(srv.get("/")[0], 200)

    def test_a_pidfile_naming_a_killed_arbiter_not_yet_reaped_is_replaced(self):
        # An arbiter SIGKILLed whose parent has not reaped it (an arbiter
        # orphaned by USR2, under a PID 1 slow to reap) is a zombie: it
        # still answers kill(pid, 0), but runs nothing. Restarting on its
        # pidfile must work (contrib/deploy/fleet brings a killed host back).
        pidfile = os.path.join(tempfile.mkdtemp(prefix="gn-zombie-"), "g.pid")
        self.addCleanup(subprocess.run, ["rm", "-rf", os.path.dirname(pidfile)])
        first = self.start_server(app="hello", workers=1,
                                  settings={"process": {"pidfile": pidfile}})
        worker = first.wait_workers(1)[0]
        os.kill(first.pid, signal.SIGKILL)   # not waited for: a zombie
        wait_until(lambda: not pid_alive(first.pid) and not pid_alive(worker), 10,
                   what="the arbiter a zombie, its worker gone")
        self.assertEqual(read_pid(pidfile), first.pid)
        with open("/proc/%d/stat" % first.pid) as f:
            self.assertEqual(f.read().rsplit(")", 1)[1].split()[0], "Z")
        second = self.start_server(app="hello", workers=1,
                                   settings={"process": {"pidfile": pidfile}})
        second.wait_workers(1)
        self.assertEqual(read_pid(pidfile), second.pid)
        self.assertEqual(second.get("/")[0], 200)

    def test_hup_three_times_under_load_fails_no_request(self):
        srv = self.start_server(app="echo", workers=2)
        srv.wait_workers(2)
        stop, stats, threads = self.load(srv)
        for n in range(3):
            time.sleep(0.5)
            before = set(srv.worker_pids())
            srv.signal(signal.SIGHUP)
            wait_until(lambda: srv.log().count("new worker(s) up") == n + 1, 10,
                       what="reload %d" % (n + 1))
            wait_until(lambda: not (set(srv.worker_pids()) & before), 10,
                       what="the old workers gone after reload %d" % (n + 1))
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(10)
        sys.stderr.write("hup x3 under load: %(ok)d requests, %(retried)d retried "
                         "after an idle close\n" % stats)
        self.assertEqual(stats["failed"], [])
        self.assertGreater(stats["ok"], 100)

    def test_reload_setting_restarts_workers_when_the_app_or_config_changes(self):
        appdir = tempfile.mkdtemp(prefix="gn-reload-")
        self.addCleanup(subprocess.run, ["rm", "-rf", appdir])
        app = os.path.join(appdir, "app.so")
        shutil.copyfile(harness.app_path("hello"), app)
        srv = self.start_server(app=app, workers=2, args=["--reload"])
        old = set(srv.wait_workers(2))
        self.assertEqual(srv.get("/")[2], b"Hello, World!")
        # A new build replaces the file (as install or a linker does).
        shutil.copyfile(harness.app_path("echo"), app + ".new")
        os.replace(app + ".new", app)
        srv.wait_for_log(r"reload: %s changed" % re.escape(app))
        srv.wait_for_log(r"reload: 2 new worker\(s\) up, stopping 2 old one\(s\)",
                         timeout=10)
        new = set(wait_until(lambda: (lambda p: p if len(p) == 2 and not set(p) & old
                                      else None)(srv.worker_pids()), 10,
                             what="2 new workers"))
        status, _, body = srv.get("/changed")
        self.assertEqual(status, 200)
        self.assertIn(b"target: /changed\n", body)
        # The config file is watched too.
        self.rewrite_config(srv, workers={"workers": 3},
                            app={"module": app})
        srv.wait_for_log(r"reload: %s changed" % re.escape(os.path.realpath(srv.config_path)))
        srv.wait_for_log(r"reload: 3 new worker\(s\) up, stopping 2 old one\(s\)",
                         timeout=10)
        wait_until(lambda: (lambda p: len(p) == 3 and not set(p) & new)(
            srv.worker_pids()), 10, what="3 new workers")
        self.assertIsNone(srv.proc.poll())
        # A setting like any other.
        r = harness.run_cli(["--print-config", "--reload", app])
        self.assertIn("reload = on\n", r.stdout)

    def test_code_that_blocks_the_loop_is_named(self):
        srv = self.start_server(app="echo", workers=1,
                                settings={"workers": {"max_blocking_ms": 100}})
        srv.wait_workers(1)
        self.assertEqual(srv.get("/spinning?spin=0.3")[0], 200)
        self.assertEqual(srv.get("/sleeping?sleep=0.3")[0], 200)  # yields
        srv.wait_for_log(r"\"GET /spinning\?spin=0\.3\" held the event loop for "
                         r"[23]\d\d ms without yielding \(max_blocking_ms = 100\)")
        self.assertNotIn("/sleeping", "\n".join(
            l for l in srv.log().splitlines() if "held the event loop" in l))

    def test_timeout_watchdog_replaces_a_hung_worker(self):
        # echo's ?spin=30 holds the worker's loop for 30 s without
        # yielding: its heartbeat stops, and after `timeout` (2 s) the
        # arbiter aborts it and starts another.
        srv = self.start_server(app="echo", workers=2,
                                settings={"workers": {"timeout": 2}})
        workers = srv.wait_workers(2)
        stalled = threading.Thread(target=lambda: self.swallow(srv, "/?spin=30"),
                                   daemon=True)
        started = time.monotonic()
        stalled.start()
        m = srv.wait_for_log(r"worker \d+ \(pid (\d+)\) silent for \d+ ms \(timeout 2 s\) "
                             r"while serving \"GET /\?spin=30\": aborting it", timeout=8)
        hung = int(m.group(1))
        self.assertIn(hung, workers)
        # The other worker serves meanwhile.
        statuses = [srv.get("/meanwhile")[0] for _ in range(5)]
        self.assertEqual(statuses, [200] * 5)
        srv.wait_for_log(r"worker \d+ \(pid %d\) exited on signal (6 \(SIGABRT\)|9 "
                         r"\(SIGKILL\)): the watchdog aborted it \(timeout\) while "
                         r"serving \"GET /\?spin=30\", respawning" % hung, timeout=8)
        after = srv.wait_workers(2, timeout=5)
        self.assertNotIn(hung, after)
        # Aborted and replaced within timeout + 2 s (the spin lasts 30).
        self.assertLess(time.monotonic() - started, 2 + 2 + 1)
        self.assertEqual(srv.get("/")[0], 200)
        stalled.join(5)

    @staticmethod
    def swallow(srv, target):
        """A request whose worker is killed under it: any outcome."""
        try:
            srv.get(target, timeout=20)
        except OSError:
            pass


if __name__ == "__main__":
    unittest.main()
