#!/usr/bin/python3
"""Operating metrics: statsd lines a UDP listener of the test receives
under load, Prometheus's /metrics (parsed with prometheus_client's own text
parser, Debian's python3-prometheus-client: run with /usr/bin/python3),
its totals across a worker's death, and max_worker_memory recycling a
leaking worker with no request failed.

The app is tests/plugins/leak_app.so: /leak leaks 1 MiB, /status/NNN
answers NNN, /fail fails (500, logged as log.exception)."""
import os
import re
import signal
import socket
import threading
import time
import unittest
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from harness import (KeepAliveLoad, ServerTestCase, free_port, run_cli,
                     test_plugin_path, wait_until)

LEAK_APP = test_plugin_path("leak_app")


class StatsdListener:
    """A UDP socket on 127.0.0.1 (or a unix datagram socket at PATH)
    collecting every datagram it gets, from a thread of its own."""

    def __init__(self, path=None):
        if path is None:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.datagrams = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped.is_set():
            try:
                self.datagrams.append(self.sock.recv(65536))
            except socket.timeout:
                continue

    def lines(self):
        return [line for d in list(self.datagrams)
                for line in d.decode().split("\n")]

    def close(self):
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()


LINE = re.compile(r"^svc\.greenicorn\.([a-z0-9_.]+):(-?[0-9.]+)\|(c|ms|g)"
                  r"\|#env:e2e,team$")


def sums(lines):
    """{(name, type): [values]} of the statsd LINES; fails on a line not
    in the documented form."""
    out = {}
    for line in lines:
        m = LINE.match(line)
        if m is None:
            raise AssertionError("not a documented statsd line: %r" % line)
        out.setdefault((m.group(1), m.group(3)), []).append(float(m.group(2)))
    return out


def get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                    timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def load(port, paths, threads=4):
    """GET each of PATHS from THREADS threads; the statuses."""
    todo = list(paths)
    got = []
    lock = threading.Lock()

    def client():
        while True:
            with lock:
                if not todo:
                    return
                path = todo.pop()
            status = get(port, path)
            with lock:
                got.append(status)
    ts = [threading.Thread(target=client) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    return got


class StatsdTest(ServerTestCase):

    def setUp(self):
        self.udp = StatsdListener()
        self.addCleanup(self.udp.close)

    def test_documented_lines_under_load(self):
        srv = self.start_server(app=LEAK_APP, workers=2, settings={"logging": {
            "statsd_host": "127.0.0.1:%d" % self.udp.port,
            "statsd_prefix": "svc.", "dogstatsd_tags": "env:e2e,team"}})
        srv.wait_workers(2)
        paths = ["/"] * 150 + ["/status/404"] * 40 + ["/status/503"] * 9 + ["/fail"]
        statuses = load(srv.port, paths, threads=6)
        self.assertEqual(sorted(statuses), sorted([200] * 150 + [404] * 40 + [503] * 9 + [500]))

        def complete():
            s = sums(self.udp.lines())
            return s if len(s.get(("requests", "c"), [])) >= 200 else None
        s = wait_until(complete, 10, what="200 requests counted by statsd")
        self.assertEqual(sum(s[("requests", "c")]), 200)
        self.assertEqual(len(s[("request.duration", "ms")]), 200)
        self.assertTrue(all(v >= 0 for v in s[("request.duration", "ms")]))
        self.assertEqual(sum(s[("request.status.200", "c")]), 150)
        self.assertEqual(sum(s[("request.status.404", "c")]), 40)
        self.assertEqual(sum(s[("request.status.503", "c")]), 9)
        self.assertEqual(sum(s[("request.status.500", "c")]), 1)
        # The handler's failure is an app's exception, as Gunicorn counts it.
        self.assertEqual(sum(s[("log.exception", "c")]), 1)
        # The arbiter's gauge, at least each second.
        wait_until(lambda: ("workers", "g") in sums(self.udp.lines()), 5,
                   what="the workers gauge")
        self.assertEqual(set(sums(self.udp.lines())[("workers", "g")]), {2.0})
        # Batched per turn of the loop: a request's three lines share a
        # datagram, and none passes the MTU.
        sizes = [len(d) for d in self.udp.datagrams]
        self.assertLessEqual(max(sizes), 1432)
        self.assertGreaterEqual(max(d.count(b"\n") for d in self.udp.datagrams), 2)

    def test_unix_socket_and_patch_all(self):
        """statsd_host unix:PATH (a datagram socket, as Gunicorn takes),
        with patch_all on: the worker's sends go through the patched
        send(), which must not park on the non-blocking socket."""
        import tempfile
        d = tempfile.mkdtemp(prefix="gn-statsd-")
        path = os.path.join(d, "statsd.sock")
        u = StatsdListener(path)
        self.addCleanup(lambda: (u.close(), os.unlink(path), os.rmdir(d)))
        srv = self.start_server(app=LEAK_APP, workers=1, settings={
            "logging": {"statsd_host": "unix://" + path, "statsd_prefix": "svc",
                        "dogstatsd_tags": "env:e2e,team"},
            "green": {"patch_all": "on"}})
        # Had a send parked, requests would hang here.
        self.assertEqual(load(srv.port, ["/"] * 20), [200] * 20)

        def counted():
            return sums(u.lines()).get(("requests", "c"), [])
        # A unix datagram socket holds 10 datagrams (net.unix.max_dgram_qlen)
        # until its reader takes them; past that the worker's send fails
        # (EAGAIN) and that turn's lines are dropped, never waited for, as
        # over UDP. So some of the 20 may be lost: whatever came is right.
        wait_until(lambda: len(counted()) > 0, 10,
                   what="requests counted over unix:PATH")
        time.sleep(0.5)
        got = sums(u.lines())
        self.assertLessEqual(sum(got[("requests", "c")]), 20)
        self.assertEqual(sum(got[("request.status.200", "c")]),
                         sum(got[("requests", "c")]))

    def test_log_counters(self):
        """The log counters: a worker killed by SIGKILL is an error line
        of the arbiter's, counted as log.error."""
        srv = self.start_server(app=LEAK_APP, workers=1, settings={"logging": {
            "statsd_host": "127.0.0.1:%d" % self.udp.port,
            "statsd_prefix": "svc", "dogstatsd_tags": "env:e2e,team"}})
        pid = srv.wait_workers(1)[0]
        os.kill(pid, signal.SIGKILL)
        srv.wait_for_log(r"exited on signal 9")
        wait_until(lambda: ("log.error", "c") in sums(self.udp.lines()), 5,
                   what="log.error counted")

    def test_unreachable_host_costs_no_request(self):
        """A closed port (ICMP port unreachable: each send may fail, is
        counted, not retried) and a name that does not resolve (statsd is
        off, said once): every request is answered."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        for host in ("127.0.0.1:%d" % closed, "statsd.invalid:8125"):
            with self.subTest(host=host):
                srv = self.start_server(app=LEAK_APP, workers=1, settings={
                    "logging": {"statsd_host": host}})
                statuses = load(srv.port, ["/"] * 300, threads=4)
                self.assertEqual(statuses, [200] * 300)
                if host.startswith("statsd.invalid"):
                    srv.wait_for_log(r"statsd_host statsd\.invalid:8125: .*statsd is off")


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        text = r.read().decode()
        ctype = r.headers["Content-Type"]
    assert ctype.startswith("text/plain; version=0.0.4"), ctype
    samples = {}
    types = {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, types, text


def value(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


def scrape_when_counted(port, n):
    """A scrape once N responses are counted: a worker counts a response
    just after its last byte went out, so the client may be a little
    ahead of the counters (then they must catch up within seconds)."""
    def counted():
        got = scrape(port)
        return got if value(got[0], "greenicorn_request_duration_seconds_count") >= n else None
    return wait_until(counted, 5, interval=0.05, what="%d responses counted" % n)


class PrometheusTest(ServerTestCase):

    def start(self, **kw):
        self.mport = free_port()
        settings = {"server": {"metrics_bind": "127.0.0.1:%d" % self.mport}}
        for k, v in kw.pop("settings", {}).items():
            settings.setdefault(k, {}).update(v)
        return self.start_server(app=LEAK_APP, settings=settings, **kw)

    def test_counters_match_and_survive_a_worker_restart(self):
        srv = self.start(workers=2)
        srv.wait_workers(2)
        statuses = load(srv.port, ["/"] * 30 + ["/status/404"] * 7 + ["/status/503"] * 3)
        self.assertEqual(len(statuses), 40)
        samples, types, text = scrape_when_counted(self.mport, 40)
        self.assertIn("# HELP greenicorn_requests_total", text)
        self.assertEqual(types["greenicorn_requests"], "counter")
        self.assertEqual(types["greenicorn_request_duration_seconds"], "histogram")
        self.assertEqual(types["greenicorn_workers"], "gauge")
        self.assertEqual(value(samples, "greenicorn_requests_total", status="2xx"), 30)
        self.assertEqual(value(samples, "greenicorn_requests_total", status="4xx"), 7)
        self.assertEqual(value(samples, "greenicorn_requests_total", status="5xx"), 3)
        self.assertEqual(value(samples, "greenicorn_app_requests_total", app="leak"), 40)
        self.assertEqual(value(samples, "greenicorn_request_duration_seconds_count"), 40)
        self.assertEqual(value(samples, "greenicorn_request_duration_seconds_bucket",
                               le="+Inf"), 40)
        self.assertEqual(value(samples, "greenicorn_workers"), 2)
        self.assertEqual(value(samples, "greenicorn_worker_restarts_total",
                               reason="crash"), 0)
        pids = srv.wait_workers(2)
        for pid in pids:
            wid = [l for (n, l) in samples if n == "greenicorn_connections"
                   and dict(l)["pid"] == str(pid)]
            self.assertEqual(len(wid), 1, (pid, samples.keys()))
        wait_until(lambda: all(v > 0 for (n, _), v in scrape(self.mport)[0].items()
                               if n == "greenicorn_worker_resident_memory_bytes"),
                   5, what="RSS of each worker")
        # The backlog of the listening socket (TCP_INFO's tcpi_sacked).
        self.assertEqual(value(samples, "greenicorn_listen_queue_max",
                               listener="127.0.0.1:%d" % srv.port), 128)

        # kill -9 a worker: what it counted stays in the totals.
        os.kill(pids[0], signal.SIGKILL)
        srv.wait_for_log(r"worker \d+ \(pid %d\) exited on signal 9" % pids[0])
        new = wait_until(lambda: (lambda p: p if len(p) == 2 and pids[0] not in p
                                  else None)(srv.wait_workers(2, timeout=10)),
                         10, what="the replacement")
        samples, _, _ = scrape(self.mport)
        self.assertEqual(value(samples, "greenicorn_requests_total", status="2xx"), 30)
        self.assertEqual(value(samples, "greenicorn_app_requests_total", app="leak"), 40)
        self.assertEqual(value(samples, "greenicorn_request_duration_seconds_count"), 40)
        self.assertEqual(value(samples, "greenicorn_worker_restarts_total",
                               reason="crash"), 1)
        self.assertNotIn(str(pids[0]), [dict(l).get("pid") for (_, l) in samples])
        load(srv.port, ["/"] * 10)
        samples, _, _ = scrape_when_counted(self.mport, 50)
        self.assertEqual(value(samples, "greenicorn_requests_total", status="2xx"), 40)
        self.assertEqual(value(samples, "greenicorn_app_requests_total", app="leak"), 50)
        self.assertEqual(sorted(new), sorted(srv.wait_workers(2)))

    def test_max_requests_restarts_keep_the_totals(self):
        srv = self.start(workers=1, settings={"workers": {"max_requests": 15}})
        srv.wait_workers(1)
        self.assertEqual(load(srv.port, ["/"] * 50, threads=2), [200] * 50)

        def settled():
            s = scrape(self.mport)[0]
            return s if (value(s, "greenicorn_worker_restarts_total",
                               reason="max_requests") >= 3 and
                         value(s, "greenicorn_request_duration_seconds_count") >= 50) else None
        s = wait_until(settled, 20, interval=0.2, what="3 max_requests restarts")
        self.assertEqual(value(s, "greenicorn_requests_total", status="2xx"), 50)
        self.assertEqual(value(s, "greenicorn_worker_requests_total"), 50)
        self.assertEqual(value(s, "greenicorn_worker_restarts_total", reason="crash"), 0)
        self.assertEqual(value(s, "greenicorn_worker_restarts_total", reason="memory"), 0)

    def test_a_slow_scraper_does_not_stop_the_arbiter(self):
        """Scrapers that connect and say nothing, or ask and never read,
        hold nothing: other scrapes are answered, a worker killed is
        replaced meanwhile, and a wrong path is 404."""
        srv = self.start(workers=1)
        pid = srv.wait_workers(1)[0]
        silent = [socket.create_connection(("127.0.0.1", self.mport)) for _ in range(3)]
        self.addCleanup(lambda: [s.close() for s in silent])
        for s in silent[:1]:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")  # never read
        samples, _, _ = scrape(self.mport)
        self.assertEqual(value(samples, "greenicorn_workers"), 1)
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: (lambda p: p and pid not in p)(srv.worker_pids()), 10,
                   what="the replacement")
        self.assertEqual(get(self.mport, "/other"), 404)
        self.assertEqual(get(srv.port, "/"), 200)


class SettingsTest(unittest.TestCase):
    """The addresses the settings take, and refuse, at start."""

    def test_addresses(self):
        for flag, value in (("--metrics-bind", "127.0.0.1:9101"),
                            ("--metrics-bind", ":9101"),
                            ("--metrics-bind", "[::1]:9101"),
                            ("--statsd-host", "localhost"),
                            ("--statsd-host", "[::1]:8125"),
                            ("--statsd-host", "unix:/run/statsd.sock"),
                            ("--statsd-host", "unix:///run/statsd.sock"),
                            ("--max-worker-memory", "512")):
            with self.subTest(flag=flag, value=value):
                r = run_cli([flag, value, "--print-config", LEAK_APP])
                self.assertEqual(r.returncode, 0, r.stderr)
                key = flag[2:].replace("-", "_")
                self.assertIn("%s = %s\n" % (key, value), r.stdout)
        for flag, value in (("--metrics-bind", "localhost"),
                            ("--metrics-bind", "127.0.0.1:0"),
                            ("--metrics-bind", "::1:9101"),
                            ("--statsd-host", "host:port"),
                            ("--statsd-host", "unix:"),
                            ("--dogstatsd-tags", "a|b"),
                            ("--max-worker-memory", "-1")):
            with self.subTest(flag=flag, value=value):
                r = run_cli([flag, value, "--print-config", LEAK_APP])
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(flag, r.stderr)


class MemoryRecyclingTest(ServerTestCase):

    def baseline_mib(self):
        """A fresh worker's RSS in MiB (more under sanitizers)."""
        srv = self.start_server(app=LEAK_APP, workers=1)
        pid = srv.wait_workers(1)[0]
        srv.get("/")
        with open("/proc/%d/statm" % pid) as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // (1 << 20)

    def test_leaking_worker_is_recycled_with_no_failed_request(self):
        limit = self.baseline_mib() + 24
        mport = free_port()
        srv = self.start_server(app=LEAK_APP, workers=2, settings={
            "workers": {"max_worker_memory": limit},
            "server": {"metrics_bind": "127.0.0.1:%d" % mport}})
        srv.wait_workers(2)

        class PacedLoad(KeepAliveLoad):
            # About 25 requests/s per client: a worker leaks tens of MiB
            # a second at most, between two samples of its RSS.
            def _request(self, conn):
                time.sleep(0.04)
                return KeepAliveLoad._request(self, conn)

        load = PacedLoad(srv, clients=3, target="/leak")
        try:
            def recycled():
                s = scrape(mport)[0]
                return value(s, "greenicorn_worker_restarts_total", reason="memory") >= 3
            wait_until(recycled, 90, interval=0.5, what="3 workers recycled")
        finally:
            stats = load.stop()
        self.assertEqual(stats["failed"], [])
        self.assertGreater(stats["ok"], 3 * 24)
        m = srv.wait_for_log(r"worker \d+ \(pid \d+\) uses (\d+\.\d) MiB of memory "
                             r"\(RSS\), past max_worker_memory \((\d+) MiB\)")
        self.assertGreater(float(m.group(1)), limit)
        self.assertEqual(int(m.group(2)), limit)
        srv.wait_for_log(r"past max_worker_memory \(%d MiB\): starting its "
                         r"replacement" % limit)
        s = scrape(mport)[0]
        self.assertEqual(value(s, "greenicorn_worker_restarts_total", reason="crash"), 0)
        self.assertEqual(value(s, "greenicorn_worker_restarts_total",
                               reason="max_requests"), 0)
        srv.wait_workers(2, timeout=15)


if __name__ == "__main__":
    unittest.main()
