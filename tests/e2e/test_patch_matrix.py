#!/usr/bin/env python3
"""The patch_all acceptance matrix (issue #14, "one matrix, real servers"):
for each client library an app that calls its ORDINARY BLOCKING API,
unmodified (tests/plugins/block_*.c), on ONE worker, with N = 50 concurrent
requests that each wait ~100 ms on the server side:

- patch_all on: the 50 finish together (the acceptance says within 0.3 s;
  asserted under ON_BOUND on a loaded machine, the time measured printed)
  and /hello, a second mount on the same worker, keeps answering meanwhile
  (p50 and max printed, max asserted under HELLO_BOUND);
- patch_all off: they serialise (>= N x 100 ms) and the blocked-loop
  warning (max_blocking_ms) names the requests;
- patch_all on with one family left out (patch_exclude): a row whose
  waits go through that family serialises, any other does not. So the
  matrix says which family each library needs (Row.needs).

The rows and their 100 ms:

    hiredis sync API     redis-server        BLPOP with a 0.1 s timeout
    libpq sync API       PostgreSQL          SELECT pg_sleep(0.1)
    libmariadb sync API  MariaDB             SELECT SLEEP(0.1)
    libcurl easy API     greenicorn's echo   GET ?sleep=0.1 (another port),
                                             by address and by name
    libmemcached         memcached           a get while it is SIGSTOPped

Every server is started here on a free port of 127.0.0.1 and stopped at
the end (PostgreSQL, Redis and MariaDB through test_postgres's,
test_redis's and mariadb_server's classes). The serialising cases take
>= 5 s each, so they run side by side: one test for patching off, one
for the families left out.

The harness -- burst(), HelloProbe, MatrixCase.run_on/run_off and Row --
is meant for more rows, here or in another module: a Row names its plugin
(tests/plugins), its mount, a regex each 200 answer matches, a peer whose
args() are the plugin's app arguments (and missing(): why it cannot run,
or None), and the families its waits need. Another module starts its own
peers and calls

    from test_patch_matrix import MatrixCase, Row
    class MyRows(MatrixCase):
        def test_on(self):  self.run_on(MY_ROW)
        def test_off(self): self.run_off([MY_ROW])
        def test_families(self): self.run_excluded([MY_ROW], ["socket", "select"])
"""
import os
import re
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import harness
from harness import ServerTestCase, app_path, free_port, test_plugin_path, wait_until
import mariadb_server
from test_postgres import PG_BIN, Postgres
from test_redis import REDIS_SERVER, RedisServer

N = 50                # concurrent requests per burst
WAIT = 0.1            # seconds each waits on the server side
ON_BOUND = 1.5        # s for N with patch_all on (the acceptance's 0.3 s,
                      # on a loaded 2-core machine)
HELLO_BOUND = 0.1     # s for the slowest /hello meanwhile (acceptance: 10 ms)
OFF_BOUND = N * WAIT  # s at least with patch_all off: they serialise
MAX_BLOCKING_MS = 50  # the blocked-loop warning's threshold
BURST_TIMEOUT = 60.0  # s for a burst to be answered at all
PROBE_INTERVAL = 0.01 # s between two /hello probes
MEMCACHED = shutil.which("memcached")

# What each row measured, printed at the end of the module.
REPORT = []


def report(line):
    REPORT.append(line)
    sys.stderr.write("matrix: %s\n" % line)
    sys.stderr.flush()


# ---------------------------------------------------------------------------
# The load: N requests at once, /hello meanwhile
# ---------------------------------------------------------------------------

def burst(port, path, n=N, timeout=BURST_TIMEOUT):
    """N GETs of PATH?n=I (I from 0: each request can be told apart in the
    log) sent at once, each on its own connection: (seconds from the first
    send to the last answer, [(status, body bytes)] in I's order)."""
    sel = selectors.DefaultSelector()
    socks, bufs = [], []
    try:
        for _ in range(n):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
            bufs.append(bytearray())
        start = time.monotonic()
        for i, s in enumerate(socks):
            s.sendall(b"GET %s?n=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Connection: close\r\n\r\n" % (path.encode(), i))
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
        left, deadline = n, start + timeout
        while left:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise AssertionError("%d of %d answers to %s missing after %.0f s"
                                     % (left, n, path, timeout))
            for key, _ in sel.select(wait):
                try:
                    data = key.fileobj.recv(65536)
                except ConnectionResetError:
                    data = b""
                if data:
                    bufs[key.data].extend(data)
                else:
                    sel.unregister(key.fileobj)
                    left -= 1
        wall = time.monotonic() - start
    finally:
        sel.close()
        for s in socks:
            s.close()
    return wall, [parse_answer(bytes(b)) for b in bufs]


def log_tail(srv, size=3000):
    """The end of SRV's log, without the blocked-loop warnings (counted)."""
    lines = srv.log().splitlines()
    kept = [l for l in lines if "held the event loop" not in l]
    return ("(%d blocked-loop warnings left out)\n" % (len(lines) - len(kept))
            + "\n".join(kept)[-size:])


def parse_answer(raw):
    """(status, body) of a whole HTTP/1.1 answer; (0, RAW) if it is not
    one (the connection closed early)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", head)
    if not sep or not m:
        return 0, raw
    return int(m.group(1)), body


# The prober's loop, in a process of its own: in the test's process it
# would share the GIL with the burst, the relay and the other rows' loads,
# and time Python as much as the worker. The first answer (connecting)
# is not timed.
PROBE = r"""
import http.client, sys, time
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
first = True
while True:
    started = time.monotonic()
    conn.request("GET", "/hello")
    r = conn.getresponse()
    body = r.read()
    if r.status != 200 or body != b"Hello, World!":
        print("bad %d %r" % (r.status, body), flush=True)
        sys.exit(1)
    print("ready" if first else "%.6f" % (time.monotonic() - started), flush=True)
    first = False
    time.sleep(float(sys.argv[2]))
"""


class HelloProbe:
    """GET /hello on one keep-alive connection every PROBE_INTERVAL, each
    answer timed, from begin() until finish(), from a process of its own."""

    def __init__(self, port):
        self.port = port
        self.proc = None
        self.lines = []
        self.ready = threading.Event()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.strip())
            self.ready.set()
        self.ready.set()

    def begin(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PROBE, str(self.port), str(PROBE_INTERVAL)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if not self.ready.wait(10) or self.lines[:1] != ["ready"]:
            self.finish()
            raise AssertionError("/hello did not answer: %s" % self.lines)

    def finish(self):
        """(count, p50, max) of the times in seconds, once the probe in
        flight at the burst's end (it may have waited behind all of it)
        has answered too."""
        seen = len(self.lines)
        deadline = time.monotonic() + BURST_TIMEOUT
        while (len(self.lines) == seen and self.proc.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.01)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.reader.join(10)
        self.proc.stdout.close()
        lines = self.lines[1:]
        bad = [l for l in lines if not re.match(r"^\d+\.\d+$", l)]
        if bad or self.proc.returncode != -signal.SIGKILL:
            raise AssertionError("/hello probe failed (exit %s): %s"
                                 % (self.proc.returncode, bad or lines[-5:]))
        times = [float(l) for l in lines]
        if not times:
            raise AssertionError("no /hello probe ran during the burst")
        return len(times), statistics.median(times), max(times)


# ---------------------------------------------------------------------------
# The servers
# ---------------------------------------------------------------------------

class RedisPeer:
    """redis-server: BLPOP on a list nobody pushes to times out in 0.1 s."""
    name = "redis-server"

    def __init__(self):
        self.server = None

    def missing(self):
        return None if REDIS_SERVER else "redis-server is not installed"

    def start(self):
        self.server = RedisServer().start()

    def stop(self):
        if self.server:
            self.server.close()

    def args(self):
        return {"port": self.server.port, "key": "matrix:nobody-pushes",
                "wait": str(WAIT)}


class PostgresPeer:
    """PostgreSQL: SELECT pg_sleep(0.1)."""
    name = "PostgreSQL"

    def __init__(self):
        self.pg = None

    def missing(self):
        if not os.access(os.path.join(PG_BIN, "initdb"), os.X_OK):
            return "PostgreSQL 15 is not installed (%s/initdb)" % PG_BIN
        return None

    def start(self):
        self.pg = Postgres()
        self.pg.initdb()
        self.pg.start()

    def stop(self):
        if self.pg:
            self.pg.destroy()

    def args(self):
        return {"conninfo": self.pg.conninfo("connect_timeout=10"),
                "query": "SELECT pg_sleep(%s)" % WAIT}


class MariaDBPeer:
    """MariaDB (mariadb_server.py's, as e2e/mariadb starts it):
    SELECT SLEEP(0.1)."""
    name = "MariaDB"

    def __init__(self):
        self.db = None

    def missing(self):
        return mariadb_server.skip_reason()

    def start(self):
        self.db = mariadb_server.MariaDB()
        self.db.install()
        self.db.start()

    def stop(self):
        if self.db:
            self.db.destroy()

    def args(self):
        return self.db.app_args(query="SELECT SLEEP(%s)" % WAIT, pool="yes")


class EchoPeer:
    """A second greenicorn with the echo app: ?sleep=0.1 answers after a
    green sleep of 0.1 s (any number of them at once, on one worker)."""
    name = "greenicorn echo"

    def __init__(self):
        self.server = None

    def missing(self):
        return None

    def start(self):
        self.server = harness.Server(app="echo", workers=1)
        self.server.__enter__()

    def stop(self):
        if self.server:
            self.server.__exit__(None, None, None)

    def args(self):
        # An address, not "localhost": libcurl's threaded resolver would
        # look a name up on a thread of its own.
        return {"url": "http://127.0.0.1:%d/?sleep=%s" % (self.server.port, WAIT),
                "timeout": "30"}


class EchoByNamePeer:
    """The same echo server, by the name "localhost": libcurl's threaded
    resolver looks it up on a thread of its own, and the transfer waits
    for it in poll on the resolver's socketpair. A new easy handle per
    request (pool = no), so that every request looks the name up again
    and connects."""
    name = "greenicorn echo, by name"

    def __init__(self, echo):
        self.echo = echo

    def missing(self):
        return self.echo.missing()

    def start(self):
        pass  # the EchoPeer's row starts it

    def stop(self):
        pass

    def args(self):
        args = self.echo.args()
        args["url"] = args["url"].replace("//127.0.0.1:", "//localhost:")
        args["pool"] = "no"
        return args


class StoppingRelay(threading.Thread):
    """A TCP relay in front of a memcached that is stopped (SIGSTOP) for
    WAIT seconds whenever a request reaches it: the relay stops memcached
    BEFORE it passes the request on, so the request waits on a stopped
    server however fast the client sends its next one, and continues it
    (SIGCONT) WAIT seconds later. Requests that come during a stop wait
    for the same continue. The relay only times the stops; memcached
    answers everything itself."""

    def __init__(self, pid, port):
        super().__init__(daemon=True)
        self.pid, self.backend = pid, port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listener, selectors.EVENT_READ, None)
        self.stopped_until = None  # monotonic time of the next SIGCONT
        self.stops = 0
        self.done = False
        self.wake_r, self.wake_w = socket.socketpair()
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")

    def run(self):
        try:
            while not self.done:
                wait = None if self.stopped_until is None else \
                    max(0.0, self.stopped_until - time.monotonic())
                for key, _ in self.sel.select(wait):
                    self.ready(key)
                if self.stopped_until is not None and time.monotonic() >= self.stopped_until:
                    os.kill(self.pid, signal.SIGCONT)
                    self.stopped_until = None
        finally:
            if self.stopped_until is not None:
                os.kill(self.pid, signal.SIGCONT)
            for key in list(self.sel.get_map().values()):
                key.fileobj.close()
            self.sel.close()

    def ready(self, key):
        if key.data == "wake" or key.fileobj.fileno() == -1:
            return  # woken to end, or closed with its peer just now
        if key.data is None:
            client, _ = self.listener.accept()
            server = socket.create_connection(("127.0.0.1", self.backend), timeout=10)
            client.settimeout(10)
            self.sel.register(client, selectors.EVENT_READ, (server, True))
            self.sel.register(server, selectors.EVENT_READ, (client, False))
            return
        peer, from_client = key.data
        try:
            data = key.fileobj.recv(65536)
        except OSError:
            data = b""
        if not data:
            for s in (key.fileobj, peer):
                self.sel.unregister(s)
                s.close()
            return
        if from_client and self.stopped_until is None:
            self.stop_backend()
            self.stopped_until = time.monotonic() + WAIT
        peer.sendall(data)

    def stop_backend(self):
        """SIGSTOP memcached and wait until every thread of it has stopped:
        the signal is only queued when kill() returns, and a memcached
        running on the other core would answer the request first."""
        os.kill(self.pid, signal.SIGSTOP)
        self.stops += 1
        tasks = "/proc/%d/task" % self.pid

        def stopped():
            for tid in os.listdir(tasks):
                with open(os.path.join(tasks, tid, "stat")) as f:
                    # The state follows the command name in parentheses.
                    if f.read().rpartition(")")[2].split()[0] not in "tT":
                        return False
            return True
        wait_until(stopped, 5, interval=0.0002, what="memcached to stop")

    def close(self):
        self.done = True
        self.wake_w.send(b"x")
        self.join(10)
        self.wake_w.close()


class Memcached:
    """One memcached, with a key to get, behind a StoppingRelay of its
    own: each get sent to the relay finds memcached stopped for 100 ms."""
    KEY, VALUE = "matrix", "cooperative"

    def __init__(self):
        self.proc = self.relay = None
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="greenicorn-memcached-")

    def start(self):
        cmd = [MEMCACHED, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0",
               "-t", "1", "-c", "1024"]
        if os.geteuid() == 0:
            cmd += ["-u", "nobody"]  # it refuses root otherwise
        self.proc = harness.spawn_logged(cmd, self.tmp)
        wait_until(self.answers, 10, interval=0.05, what="memcached to answer")
        reply = self.command(b"set %s 0 0 %d\r\n%s\r\n"
                             % (self.KEY.encode(), len(self.VALUE), self.VALUE.encode()))
        if reply != b"STORED\r\n":
            raise AssertionError("memcached set answered %r" % reply)
        self.relay = StoppingRelay(self.proc.pid, self.port)
        self.relay.start()
        return self

    def command(self, line):
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(line)
            return s.recv(4096)

    def answers(self):
        if self.proc.poll() is not None:
            raise AssertionError("memcached exited with %s" % self.proc.returncode)
        try:
            return self.command(b"version\r\n").startswith(b"VERSION ")
        except OSError:
            return False

    def stop(self):
        if self.relay:
            self.relay.close()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.tmp, ignore_errors=True)


class MemcachedPeer:
    """A memcached of its own for each server of the row (args()): the
    stops are the whole process's, so two servers sharing one would
    shorten each other's waits."""
    name = "memcached"

    def __init__(self):
        self.servers = []

    def missing(self):
        return None if MEMCACHED else "memcached is not installed"

    def start(self):
        pass  # one per args()

    def stop(self):
        while self.servers:
            self.servers.pop().stop()

    def args(self):
        mc = Memcached()
        self.servers.append(mc)
        mc.start()
        return {"port": mc.relay.port, "key": mc.KEY}


class Row:
    """One library of the matrix: its plugin (tests/plugins), the mount
    it is served on, a regex every 200 answer matches, its peer, and the
    bound for the slowest /hello (HELLO_BOUND unless the row's own
    requests do more work on the worker)."""

    def __init__(self, name, plugin, mount, expect, peer, needs,
                 hello_bound=HELLO_BOUND):
        self.name, self.plugin, self.mount = name, plugin, mount
        self.expect, self.peer = expect, peer
        self.needs = needs  # the families whose calls wait for the server
        self.hello_bound = hello_bound

    def missing(self):
        """Why the row cannot run here, or None."""
        if not os.path.exists(test_plugin_path(self.plugin)):
            return "%s was not built (its -dev package missing?)" % test_plugin_path(self.plugin)
        return self.peer.missing()


ECHO = EchoPeer()
ROWS = [
    # hiredis reads a blocking socket; the others read non-blocking ones
    # and wait in poll.
    Row("hiredis", "block_redis", "/redis", r"^nil\n$", RedisPeer(), {"socket"}),
    Row("libpq", "block_pq", "/pq", r"^rows 1 \n$", PostgresPeer(), {"select"}),
    Row("libmariadb", "block_mariadb", "/mariadb", r"^0\n$", MariaDBPeer(),
        {"select"}),
    Row("libcurl", "block_curl", "/curl",
        r"^status 200\n(.|\n)*query: sleep=0\.1\n", ECHO, {"select"}),
    # Each of its requests makes and frees an easy handle and starts a
    # resolver thread on the worker, 50 at once: up to 78 ms of /hello
    # waiting for that CPU was seen under ASan on the loaded machine.
    Row("libcurl-name", "block_curl", "/curl-name",
        r"^status 200\n(.|\n)*query: sleep=0\.1\n", EchoByNamePeer(ECHO),
        {"select"}, hello_bound=2 * HELLO_BOUND),
    Row("libmemcached", "block_memcached", "/memcached",
        r"^value %s\n$" % Memcached.VALUE, MemcachedPeer(), {"select"}),
]
BY_NAME = {row.name: row for row in ROWS}


def setUpModule():
    for row in ROWS:
        # Registered first: it runs even if a start fails.
        unittest.addModuleCleanup(row.peer.stop)
        if row.missing() is None:
            row.peer.start()


def tearDownModule():
    sys.stderr.write("\n---- the patch_all matrix (N = %d, %d ms each) ----\n"
                     % (N, WAIT * 1000))
    for line in REPORT:
        sys.stderr.write("  %s\n" % line)


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------

class MatrixCase(ServerTestCase):
    """Runs rows: a server with the row's plugin and hello on one worker."""

    def row_server(self, row, patch_all, exclude="none"):
        return self.start_server(app=None, workers=1, settings={
            "app:lib": {"module": test_plugin_path(row.plugin), "mount": row.mount},
            "app:lib.args": row.peer.args(),
            "app:hello": {"module": app_path("hello"), "mount": "/hello"},
            "green": {"patch_all": "on" if patch_all else "off",
                      "patch_exclude": exclude},
            # The probe keeps one connection: an unpatched row holds the
            # loop for seconds, and a keep-alive timer that expired
            # meanwhile could close it just as the next probe is sent
            # (the race every keep-alive client must retry, which the
            # probe does not).
            "workers": {"max_blocking_ms": MAX_BLOCKING_MS, "keepalive": 60},
        })

    def need(self, row):
        why = row.missing()
        if why:
            self.skipTest("%s: %s" % (row.name, why))

    def check_answers(self, row, answers):
        bad = [(i, a) for i, a in enumerate(answers)
               if a[0] != 200 or not re.search(row.expect, a[1].decode("utf-8", "replace"))]
        self.assertEqual(bad, [], "%s: answers that are not 200 matching %r"
                         % (row.name, row.expect))

    def loaded(self, row, srv):
        """A burst against the row with /hello probed meanwhile: (wall,
        answers, (probes, p50, max))."""
        probe = HelloProbe(srv.port)
        probe.begin()
        try:
            wall, answers = burst(srv.port, row.mount)
        finally:
            try:
                stats = probe.finish()
            except AssertionError as e:  # what the server made of it
                raise AssertionError("%s: %s\n%s" % (row.name, e, log_tail(srv))) from None
        return wall, answers, stats

    def run_on(self, row):
        """patch_all on: N at once take about one wait, /hello answers."""
        self.need(row)
        srv = self.row_server(row, patch_all=True)
        srv.wait_for_log(r"patch_all: socket, dns, time, select, ssl")
        # The first burst opens the connections the plugin keeps.
        cold, answers = burst(srv.port, row.mount)
        self.check_answers(row, answers)
        wall, answers, (probes, p50, worst) = self.loaded(row, srv)
        blocked = len(re.findall(r"held the event loop", srv.log()))
        report("%-12s patch_all=on : %d in %.3f s (first burst, connecting: "
               "%.3f s); /hello p50 %.1f ms, max %.1f ms (%d probes); "
               "%d blocked-loop warnings"
               % (row.name, N, wall, cold, p50 * 1000, worst * 1000, probes, blocked))
        self.check_answers(row, answers)
        self.assertLess(wall, ON_BOUND, "%s: %d requests with patch_all on took "
                        "%.3f s\n%s" % (row.name, N, wall, log_tail(srv)))
        self.assertLess(worst, row.hello_bound, "%s: /hello took %.1f ms meanwhile"
                        % (row.name, worst * 1000))

    def side_by_side(self, jobs):
        """JOBS, [(row, server, warm)], loaded at once, each from a thread
        of its own (a warm one after a first burst that opens its
        connections): [{"row", "srv", "result": loaded()'s}], in order."""
        runs = [{"row": row, "srv": srv, "warm": warm} for row, srv, warm in jobs]

        def load(run):
            try:
                if run["warm"]:
                    burst(run["srv"].port, run["row"].mount)
                run["result"] = self.loaded(run["row"], run["srv"])
            except BaseException as e:  # noqa: BLE001 - raised below
                run["error"] = e
        threads = [threading.Thread(target=load, args=(run,)) for run in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(2 * BURST_TIMEOUT + 30)
        for run in runs:
            if "error" in run:
                raise run["error"]
            self.assertIn("result", run, "%s: the load still runs" % run["row"].name)
        return runs

    def check_serialised(self, run, label):
        """RUN's N took N waits, the warning named them, /hello waited."""
        row, srv = run["row"], run["srv"]
        wall, answers, (probes, p50, worst) = run["result"]
        named = set(re.findall(r'"GET %s\?n=(\d+)" held the event loop for \d+ ms'
                               % re.escape(row.mount), srv.log()))
        report("%-12s %s: %d in %.3f s; /hello p50 %.1f ms, max %.1f ms "
               "(%d probes); %d requests named by the blocked-loop warning"
               % (row.name, label, N, wall, p50 * 1000, worst * 1000, probes,
                  len(named)))
        self.check_answers(row, answers)
        self.assertGreaterEqual(wall, OFF_BOUND, "%s: %d requests with %s took "
                                "only %.3f s" % (row.name, N, label, wall))
        # Each request held the loop for its whole wait.
        self.assertGreaterEqual(len(named), N * 9 // 10, log_tail(srv))
        # And /hello waited behind one at least.
        self.assertGreaterEqual(worst, WAIT / 2)

    def check_together(self, run, label):
        """RUN's N took about one wait (/hello reported, not asserted: the
        rows of run_excluded run twelve servers at once, and a worker
        waits for the CPU)."""
        row, srv = run["row"], run["srv"]
        wall, answers, (probes, p50, worst) = run["result"]
        report("%-12s %s: %d in %.3f s; /hello p50 %.1f ms, max %.1f ms "
               "(%d probes)" % (row.name, label, N, wall, p50 * 1000,
                                worst * 1000, probes))
        self.check_answers(row, answers)
        self.assertLess(wall, ON_BOUND, "%s: %d requests with %s took %.3f s\n%s"
                        % (row.name, N, label, wall, log_tail(srv)))

    def run_off(self, rows):
        """patch_all off, all ROWS side by side (each on its own server):
        each row's N serialise, and the warning names their requests."""
        jobs = [(row, self.row_server(row, patch_all=False), False)
                for row in rows if row.missing() is None]
        for run in self.side_by_side(jobs):
            with self.subTest(row=run["row"].name):
                self.assertNotIn("patch_all: ", run["srv"].log())
                self.check_serialised(run, "patch_all=off")
        for row in rows:
            with self.subTest(row=row.name):
                self.need(row)

    def run_excluded(self, rows, families):
        """patch_all on with each of FAMILIES left out in turn, for every
        row at once: a row whose blocking calls need the family left out
        serialises as with patching off, any other row does not."""
        jobs, labels = [], []
        for family in families:
            for row in rows:
                if row.missing() is None:
                    jobs.append((row, self.row_server(row, patch_all=True,
                                                      exclude=family),
                                 family not in row.needs))
                    labels.append(family)
        for run, family in zip(self.side_by_side(jobs), labels):
            row, label = run["row"], "exclude=%-6s" % family
            with self.subTest(row=row.name, exclude=family):
                if family in row.needs:
                    self.check_serialised(run, label)
                else:
                    self.check_together(run, label)
        for row in rows:
            with self.subTest(row=row.name):
                self.need(row)


class PatchAllOn(MatrixCase):
    def test_hiredis(self):
        self.run_on(BY_NAME["hiredis"])

    def test_libpq(self):
        self.run_on(BY_NAME["libpq"])

    def test_libmariadb(self):
        self.run_on(BY_NAME["libmariadb"])

    def test_libcurl(self):
        self.run_on(BY_NAME["libcurl"])

    def test_libcurl_by_name(self):
        self.run_on(BY_NAME["libcurl-name"])

    def test_libmemcached(self):
        self.run_on(BY_NAME["libmemcached"])


class PatchAllOff(MatrixCase):
    def test_rows_serialise(self):
        self.run_off(ROWS)


class PatchExclude(MatrixCase):
    def test_each_row_needs_its_families(self):
        self.run_excluded(ROWS, ["socket", "select"])


if __name__ == "__main__":
    unittest.main()
